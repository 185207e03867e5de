//! The control-socket server: newline-delimited JSON over a Unix socket (protocol types in
//! [`guild_core::control`], reference in `docs/control-socket.md`).
//!
//! The daemon wires it up in three steps:
//!
//! ```text
//! let listener = control::bind(&socket_path).await?;          // refuses if a daemon runs
//! let stats = control::ServerStats::default();                // read by /metrics
//! tokio::spawn(control::serve(listener, node_handle, limits, stats.clone(), cancel.clone()));
//! ```
//!
//! The node implements [`Handle`]. The server does the rest: framing and limits, the envelope
//! (parse errors, unknown methods and bad params never reach the node), routing each call once
//! ([`Call::route`]: `subscribe` streams here, everything else goes to the node), per-connection
//! ordering, subscriptions with bounded per-subscriber queues, peer-uid checks, graceful shutdown,
//! and the JSON of every reply.

mod bind;
mod gate;
mod server;
mod subscriber;

#[cfg(test)]
mod tests;

pub use bind::{
    bind, check_not_running, BindError, ControlListener, Existing, MAX_SOCKET_PATH_BYTES,
};
pub use gate::{Gate, LOADING_WAIT};
pub use guild_core::control::{
    Call, CallError, DaemonCall, ErrorCode, Event, Reply, Route, ServiceCall, Unary,
};
pub use server::{encode_response, serve, ServerLimits, ServerStats};

use std::future::Future;
use tokio::sync::broadcast;

/// What the control server (and the dashboard) need from the node. The node's in-process handle
/// implements it; cloned once per connection.
pub trait Handle: Clone + Send + Sync + 'static {
    /// Serves one call answered once — the service's calls and the daemon's
    /// ([`Call::route`] decided; `subscribe` never comes here: the server streams
    /// [`Handle::subscribe`]) — and returns its typed result.
    ///
    /// The params are already decoded and normalised (tags). On `shutdown`, answer
    /// [`Reply::Done`] and start stopping the daemon (cancel the token given to [`serve`]); the
    /// answer is still written. Return errors with the code that fits: `invalid_params` for
    /// input the domain rules refuse, `not_found`, `peer_unreachable`, `unavailable`, `internal`.
    fn call(&self, call: Unary) -> impl Future<Output = Result<Reply, CallError>> + Send;

    /// [`Handle::call`] for the socket: the server writes what this answers. A method whose
    /// result is large and hot (`find`) may answer it already encoded ([`Answer::Json`]), in the
    /// exact bytes [`Reply::to_json`] and the envelope would give, so it is encoded once,
    /// straight from the node's data. By default, [`Handle::call`]'s reply.
    fn call_encoded(&self, call: Unary) -> impl Future<Output = Result<Answer, CallError>> + Send {
        let answer = self.call(call);
        async move { answer.await.map(Answer::Reply) }
    }

    /// A new receiver of the node's events. The node publishes with `broadcast::Sender::send`,
    /// which never waits; each subscriber has its own bounded queue behind this receiver, so the
    /// channel's capacity only has to absorb scheduling delays (a few hundred is plenty).
    fn subscribe(&self) -> broadcast::Receiver<Event>;
}

/// A call's result, as [`Handle::call_encoded`] gives it to the server.
// One per call, moved straight into the response: a few hundred bytes moved beat an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A typed reply, encoded by the server.
    Reply(Reply),
    /// JSON already encoded, written as is.
    Json(Json),
}

/// One JSON text, compact (as `serde_json::to_string` writes it). Only made by encoding a value,
/// so it is always valid JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json(String);

impl Json {
    /// Encodes `value` compactly.
    pub fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Json, CallError> {
        Json::encode_sized(value, 0)
    }

    /// [`Json::encode`] into a buffer of `capacity` bytes to start with: an answer whose size
    /// can be guessed is written without growing (and copying) its buffer on the way.
    pub fn encode_sized<T: serde::Serialize + ?Sized>(
        value: &T,
        capacity: usize,
    ) -> Result<Json, CallError> {
        let mut out = Vec::with_capacity(capacity);
        serde_json::to_writer(&mut out, value).map_err(CallError::internal)?;
        // serde_json writes UTF-8 only.
        String::from_utf8(out)
            .map(Json)
            .map_err(CallError::internal)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
