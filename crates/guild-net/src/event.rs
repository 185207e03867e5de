//! What the network layer reports to the node above it.

use libp2p::{gossipsub::MessageId, request_response::InboundRequestId, Multiaddr, PeerId};

use crate::{dht_store::DhtStoreStats, guard::GuardStats, topics::Topic};

/// Counters of the network layer's admission limits
/// ([`Client::admission_stats`](crate::Client::admission_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// The DHT store: sizes, and provider records refused by each budget.
    pub dht: DhtStoreStats,
    /// Connections refused by the per-IP limit and the ban list.
    pub connections: GuardStats,
}

/// Something that happened on the network.
///
/// Events travel over a bounded channel. The event loop never waits for a slow consumer:
/// when the channel is full the event is dropped and counted, and a [`NetEvent::DroppedEvents`]
/// is delivered as soon as there is room again (see [`crate::EVENT_CHANNEL_CAPACITY`]).
#[derive(Debug)]
pub enum NetEvent {
    /// We listen on a new address.
    Listening(Multiaddr),
    /// The first connection to a peer is established.
    PeerConnected {
        /// The peer.
        peer: PeerId,
        /// The remote address of that connection.
        addr: Multiaddr,
        /// They dialled us.
        inbound: bool,
        /// The address group the connection counts under for per-address limits (its IP;
        /// IPv6: the /64), `None` when relayed.
        group: Option<std::net::IpAddr>,
    },
    /// A ping to a connected peer came back: the round-trip time of its connection (every
    /// ping interval, 15 s, per connection).
    PeerRtt {
        /// The peer.
        peer: PeerId,
        /// The round trip.
        rtt: std::time::Duration,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A peer told us who it is (identify). Worth persisting: `listen_addrs` are where it can be
    /// dialled next time.
    PeerIdentified {
        /// The peer.
        peer: PeerId,
        /// The addresses the peer says it listens on.
        listen_addrs: Vec<Multiaddr>,
        /// Its software name and version, e.g. `guild/0.1.0`.
        agent: String,
        /// Its protocol family, `/guild/<community>/1.0.0` for Guild nodes.
        protocol_version: String,
    },
    /// A connected peer subscribed to one of our topics: a good moment to publish to it.
    PeerSubscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: Topic,
    },
    /// A gossip message arrived. It is neither forwarded nor delivered elsewhere until the node
    /// calls [`Client::report_validation`](crate::Client::report_validation) with a verdict;
    /// unreported messages are forgotten after a few heartbeats.
    Gossip {
        /// The topic it was published on.
        topic: Topic,
        /// Its id (SHA-256 of `data`), to pass back with the verdict.
        message_id: MessageId,
        /// The peer that forwarded it to us, to pass back with the verdict.
        propagation_source: PeerId,
        /// The peer that signed and published it (always set: messages must be signed).
        source: Option<PeerId>,
        /// The opaque payload.
        data: Vec<u8>,
    },
    /// A peer sent a direct request; answer with
    /// [`Client::respond`](crate::Client::respond) before the request timeout.
    InboundRequest {
        /// The requesting peer.
        peer: PeerId,
        /// The opaque payload.
        data: Vec<u8>,
        /// Where the answer goes.
        channel: ResponseHandle,
    },
    /// A relay accepted our reservation: we are reachable at `addr` through it.
    RelayReservation {
        /// The relay.
        relay: PeerId,
        /// Our address through the relay (`…/p2p/<relay>/p2p-circuit`).
        addr: Multiaddr,
    },
    /// A hole punch (DCUtR) to upgrade a relayed connection finished.
    HolePunch {
        /// The remote peer.
        peer: PeerId,
        /// Whether a direct connection was established.
        ok: bool,
    },
    /// Events were dropped because the consumer did not keep up. Gossip messages among them
    /// were reported as `Ignore` and requests among them were left unanswered; peer state can
    /// be re-read with [`Client::connected_peers`](crate::Client::connected_peers).
    DroppedEvents {
        /// How many events were dropped since the last report.
        count: u64,
    },
}

/// Identifies an inbound request so the node can answer it. Answer each request at most once.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ResponseHandle(pub(crate) InboundRequestId);

/// The node's judgement of a gossip message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: deliver and forward it.
    Accept,
    /// Invalid (bad signature, malformed, expired): drop it and penalise the peer that sent it.
    Reject,
    /// Not invalid but unwanted (e.g. a stale duplicate): drop it without penalty.
    Ignore,
}

/// What we know about a connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer.
    pub peer: PeerId,
    /// Remote addresses of our connections to it.
    pub addrs: Vec<Multiaddr>,
    /// Software name and version, once identified.
    pub agent: Option<String>,
    /// Protocol family, once identified.
    pub protocol_version: Option<String>,
    /// Protocols it supports, once identified.
    pub protocols: Vec<String>,
}
