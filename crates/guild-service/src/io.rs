//! What the service asks the world to do: the outbox of effects the daemon loop (or the
//! simulator) performs, and the tokens that tie answers back to questions.

use guild_core::control::{CallError, Event, Reply};
use guild_core::wire::DirectRequest;
use guild_core::PublicKey;

/// Milliseconds since the Unix epoch, as a bare number: what callers pass for `now` (it
/// converts into [`crate::LocalTime`]) and what the modules not yet moved to [`crate::LocalTime`]
/// (the mesh, deliveries' bookkeeping) still count in.
pub type Millis = u64;

/// Whole seconds of a [`Millis`] (record times are in seconds); [`crate::LocalTime::as_secs`]
/// for a typed instant.
pub fn secs(now: Millis) -> guild_core::UnixTime {
    now / 1000
}

/// Names a control call awaiting its answer ([`Io::Reply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Names an outbound direct request awaiting its response
/// ([`crate::Service::received_response`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// The community's gossip topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Signed profiles.
    Profiles,
    /// Needs and their withdrawals.
    Needs,
    /// Attestations and their revocations.
    Attestations,
}

/// The service's decision on a gossip message (gossipsub application validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: store and forward.
    Accept,
    /// Invalid: drop and penalise the forwarding peer.
    Reject,
    /// Valid but not forwarded (duplicate, over budget): drop without penalty.
    Ignore,
}

/// Where a record came from (metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Gossip.
    Gossip,
    /// Catch-up sync.
    Sync,
    /// A DHT lookup inside `find`.
    Dht,
    /// A direct delivery or request.
    Direct,
}

impl Via {
    /// A short label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Via::Gossip => "gossip",
            Via::Sync => "sync",
            Via::Dht => "dht",
            Via::Direct => "direct",
        }
    }
}

/// Why an outbound request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestFailure {
    /// The peer could not be reached, timed out or closed the stream.
    Unreachable(String),
    /// The response did not decode.
    Malformed(String),
}

impl std::fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestFailure::Unreachable(r) => write!(f, "unreachable: {r}"),
            RequestFailure::Malformed(r) => write!(f, "malformed response: {r}"),
        }
    }
}

/// One effect for the daemon loop to perform, in order.
#[derive(Debug, Clone)]
pub enum Io {
    /// Publish on a gossip topic. With `report`, the loop tells the service whether any peer got
    /// it ([`crate::Service::published`]).
    Publish {
        /// Topic.
        topic: Topic,
        /// Encoded record.
        data: Vec<u8>,
        /// The call waiting to learn whether it was published.
        report: Option<CallId>,
    },
    /// Send a direct request to a member (dialling if needed); the answer comes back with `id`.
    Request {
        /// Correlates the response.
        id: RequestId,
        /// Recipient.
        to: PublicKey,
        /// The request.
        request: DirectRequest,
    },
    /// Answer a control call. Replies that acknowledge a write are sent only after the store is
    /// flushed (`durable`).
    Reply {
        /// The call.
        call: CallId,
        /// Its typed result (JSON only at the socket and the dashboard).
        result: Result<Reply, CallError>,
        /// Whether the store must be flushed before the answer leaves.
        durable: bool,
    },
    /// Raise an event for subscribers.
    Emit(Event),
    /// Announce a DHT provider key.
    Provide(Vec<u8>),
    /// Stop announcing a DHT provider key.
    StopProviding(Vec<u8>),
    /// Close every connection to a peer and refuse its new ones for a while (repeated invalid
    /// input).
    Disconnect {
        /// Who.
        peer: PublicKey,
        /// For how long, milliseconds.
        for_ms: Millis,
    },
    /// This node's standing for a connected peer changed: its normalised trust in `0..=1`
    /// (0 for strangers) feeds gossipsub's application-specific peer score.
    Standing {
        /// Who.
        peer: PublicKey,
        /// Normalised trust.
        trust: f64,
    },
    /// Remember where a peer listens, with our standing for it, in the daemon's peer book
    /// (redialled after a restart; the book keeps the best-standing peers when full).
    RememberPeer {
        /// Who.
        peer: PublicKey,
        /// Its listen addresses (multiaddr text), as it told us.
        addrs: Vec<String>,
        /// Our standing for it now.
        standing: guild_core::storage::Standing,
    },
    /// Prune a connection (the mesh is above its high watermark, or the peer's address group
    /// is crowded): tell the peer where else to go ([`guild_core::wire::DirectRequest::Elsewhere`],
    /// unless `elsewhere` is empty), then close the connection without any ban.
    Prune {
        /// Who.
        peer: PublicKey,
        /// Other members to try instead.
        elsewhere: Vec<guild_core::wire::PeerAddrs>,
    },
    /// Call [`crate::Service::tick`] after this long (or sooner): the service's next timer.
    /// Only the latest wake-up counts; it comes at the end of a [`crate::Service::take_outbox`]
    /// whenever the deadline moved or a tick consumed the previous one.
    Wakeup(crate::LocalDuration),
    /// Dial a member at these addresses (the mesh is below its low watermark). A failure comes
    /// back through [`crate::Service::dial_failed`].
    Dial {
        /// Who.
        peer: PublicKey,
        /// Where they were last seen.
        addrs: Vec<String>,
    },
}
