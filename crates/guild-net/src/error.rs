//! Errors of the network layer, one enum per kind of operation.
//!
//! Every operation a [`Client`](crate::Client) performs can also fail because the event loop
//! has stopped (shut down or crashed); each enum has a `Stopped` variant for that.

use libp2p::{Multiaddr, PeerId};

/// A configuration the network layer cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The community name cannot be embedded in protocol ids.
    #[error(
        "invalid community name {name:?}: use 1 to {max} ASCII letters, digits, '-', '_' or '.'"
    )]
    InvalidCommunity {
        /// The rejected name.
        name: String,
        /// Longest accepted name, in bytes.
        max: usize,
    },
    /// A bootstrap address does not name the peer expected there.
    #[error(
        "bootstrap address {addr} must end in /p2p/<peer id> so the peer can be authenticated"
    )]
    BootstrapWithoutPeerId {
        /// The rejected address.
        addr: Multiaddr,
    },
    /// A relay address does not name the relay peer.
    #[error("relay address {addr} must end in /p2p/<peer id> of the relay")]
    RelayWithoutPeerId {
        /// The rejected address.
        addr: Multiaddr,
    },
    /// Relays are configured but the relay client is disabled.
    #[error("relays are configured but relay_client is off: enable relay_client or remove relays")]
    RelaysNeedRelayClient,
    /// A connection limit is zero, which would make the node unusable.
    #[error("{name} must be at least 1")]
    ZeroLimit {
        /// Name of the configuration field.
        name: &'static str,
    },
    /// A size limit is zero or above the hard ceiling.
    #[error("{name} is {value} bytes; it must be between 1 and {max}")]
    SizeOutOfRange {
        /// Name of the configuration field.
        name: &'static str,
        /// The configured value.
        value: usize,
        /// The hard ceiling.
        max: usize,
    },
    /// A duration is zero.
    #[error("{name} must be longer than zero")]
    ZeroDuration {
        /// Name of the configuration field.
        name: &'static str,
    },
    /// Provider records would expire before being republished.
    #[error("provider_publication_interval must be shorter than provider_record_ttl")]
    RepublishNotBeforeExpiry,
    /// More inbound slots reserved for known members than a quarter of `max_incoming`.
    #[error(
        "reserved_incoming is {reserved}; it must be at most a quarter of max_incoming: {max}"
    )]
    ReservedTooLarge {
        /// The configured value.
        reserved: u32,
        /// The largest accepted value.
        max: u32,
    },
    /// The cool-down after a ban outlasts the penalty it is part of.
    #[error("address_cooldown must not be longer than address_penalty")]
    CooldownLongerThanPenalty,
}

/// Failure to start the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The transport (TCP, QUIC, DNS, relay) could not be built.
    #[error("cannot build the transport: {0}")]
    Transport(String),
    /// A protocol behaviour could not be built.
    #[error("cannot build the {protocol} behaviour: {reason}")]
    Behaviour {
        /// Which behaviour failed.
        protocol: &'static str,
        /// Why.
        reason: String,
    },
    /// A listen address was refused.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
}

/// The event loop is no longer running, so a command could not be carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the network event loop has stopped")]
pub struct Stopped;

/// Failure to connect to a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// The event loop has stopped.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// No address is known for the peer and the DHT lookup did not find one.
    #[error("no address known for peer {0}, and the DHT lookup did not find it")]
    PeerNotFound(PeerId),
    /// Dialling failed (unreachable, handshake failed, wrong peer, limit reached…).
    #[error("dial failed: {0}")]
    Failed(String),
}

/// An error with its chain of causes, `outer: inner: …` (libp2p's dial errors name only
/// themselves, e.g. "Dial error", and keep the reason, e.g. a ban, as their source).
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Failure to publish a gossip message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The event loop has stopped.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// No connected peer is subscribed to the topic yet: nothing was sent. The caller keeps
    /// the record locally; it spreads later (republish, or sync when peers connect).
    #[error("no peer subscribed to the topic yet; the message was not sent")]
    InsufficientPeers,
    /// The same bytes were published or received recently (message ids are content hashes).
    #[error("the same message was already published recently")]
    Duplicate,
    /// The message is larger than the configured maximum.
    #[error("message of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Size of the message.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Every subscribed peer's send queue is full (they are too slow or we publish too fast).
    #[error("the send queues of all {0} subscribed peers are full")]
    QueuesFull(usize),
    /// Signing or encoding the message failed.
    #[error("publishing failed: {0}")]
    Failed(String),
}

/// Failure of a DHT (Kademlia) operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhtError {
    /// The event loop has stopped.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// The routing table is empty: there is nobody to ask.
    #[error("no known DHT peers: configure bootstrap peers or wait for discovery")]
    NoKnownPeers,
    /// The local record store refused the record (its limits are reached).
    #[error("the local DHT store refused the record: {0}")]
    Store(String),
    /// The query did not complete in time. For `start_providing` the record is still stored
    /// locally and will be re-announced periodically.
    #[error("the DHT query timed out")]
    Timeout,
}

/// Failure of a direct request or of answering one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The event loop has stopped.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// The payload exceeds the configured maximum; nothing was sent.
    #[error("payload of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Size of the payload.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The peer could not be reached.
    #[error("cannot reach the peer: {0}")]
    DialFailure(String),
    /// No response within the request timeout.
    #[error("the request timed out")]
    Timeout,
    /// The connection closed before the response arrived.
    #[error("the connection closed before the response arrived")]
    ConnectionClosed,
    /// The peer does not speak Guild's direct protocol (or another community's).
    #[error("the peer does not support this community's direct protocol")]
    UnsupportedProtocol,
    /// The exchange failed on the wire, e.g. the peer rejected an oversized request.
    #[error("the exchange failed: {0}")]
    Io(String),
    /// The inbound request was already answered, timed out, or its requester left.
    #[error("the request can no longer be answered")]
    UnknownRequest,
}
