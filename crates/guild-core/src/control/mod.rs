//! The control protocol: newline-delimited JSON over the daemon's Unix socket, shared by the
//! daemon, the `guild` CLI, tests and scripts. `docs/control-socket.md` is the reference for
//! people; this module is the reference for code.
//!
//! - [`wire`]: the envelope (`{"id", "method", "params"}` → `{"id", "result"}` or
//!   `{"id", "error": {"code", "message"}}`), [`ErrorCode`]s and [`parse_request`].
//! - [`Call`]: one variant per method with typed params; [`METHODS`] lists the method names.
//!   [`Call::route`] says where each is served ([`ServiceCall`], [`DaemonCall`], or the
//!   `subscribe` stream); [`Reply`] is a call's typed result, JSON only at the edge.
//! - [`types`]: typed results ([`Status`], [`Peers`], [`FindResults`], …); [`explanation`]: the
//!   trust explanation both the CLI and the dashboard render; [`names`]: members named for people.
//! - [`Event`]: what `subscribe` streams; [`EVENT_KINDS`] and [`EventFilter`].
//! - [`Client`]: a tokio client; [`framing::LineReader`]: bounded line reading for both sides.
//!
//! Adding a method or an event kind is adding a variant: see `call.rs` and `event.rs`.

mod call;
#[cfg(feature = "client")]
mod client;
mod event;
pub mod explanation;
#[cfg(feature = "client")]
pub mod framing;
pub mod intro;
pub mod invite;
pub mod names;
mod profile;
pub mod pull;
pub mod reflect;
mod reply;
pub mod reputation;
mod route;
pub mod types;
pub mod wire;

#[cfg(test)]
mod tests;

pub use call::{
    Call, CallParseError, ConnectParams, FindParams, Params, ProfileGetParams, ProfileSetParams,
    ProfileUpdateParams, SubscribeParams, DEFAULT_FIND_LIMIT, MAX_FIND_LIMIT, METHODS,
};
#[cfg(feature = "client")]
pub use client::{is_not_running, Client, ClientError, Subscription, MAX_RESPONSE_BYTES};
pub use event::{Event, EventFilter, EVENT_KINDS};
pub use names::MemberNames;
pub use profile::{ProfileDraft, ResourceInput, SkillInput, DEFAULT_LEVEL};
pub use reply::{Reply, UnexpectedReply};
pub use route::{DaemonCall, Route, ServiceCall, Unary};
pub use types::{
    Connected, Direction, FindMatch, FindResults, IndexSizes, MatchedTerm, MeshState, MeshStatus,
    PeerInfo, Peers, ProfileResult, RankFactors, RememberedPeer, Source, Status, Subscribed,
    TagSuggestion, WebLogin, WebState, WebStatus, MAX_REMEMBERED_SHOWN, WEB_LOGIN_TTL_SECS,
};
pub use wire::{parse_request, to_result, CallError, ErrorCode, Request, Response};

/// Default largest request line the daemon reads, in bytes (`control.max_request_bytes`).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1 << 20;
/// Default number of simultaneous control connections (`control.max_connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// Default events queued per subscriber before events are dropped (`control.subscriber_queue`).
pub const DEFAULT_SUBSCRIBER_QUEUE: usize = 1024;
/// File name of the socket inside the Guild home.
pub const SOCKET_FILE_NAME: &str = "guild.sock";
