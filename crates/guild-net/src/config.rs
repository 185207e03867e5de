//! Network configuration: every knob of the network layer, with the limits that bound it.
//!
//! Each default is a named constant whose doc comment says what it bounds and why it has
//! the value it has. [`NetConfig::validate`] rejects configurations the event loop could
//! not honour (a bootstrap address without `/p2p/<id>`, a community name that cannot be
//! part of a protocol id, a zero limit).

use std::time::Duration;

use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};

use crate::error::ConfigError;

/// Community joined when none is configured.
pub const DEFAULT_COMMUNITY: &str = "main";

/// Longest community name, in bytes. The name is embedded in every protocol id and topic
/// name; multistream-select limits a protocol id to 140 bytes, and the longest one we build
/// (`/guild/<community>/direct/1.0.0`) adds 21 bytes to the name.
pub const MAX_COMMUNITY_LEN: usize = 64;

/// Total established connections. Bounds memory and file descriptors: a member's daemon
/// needs a gossip mesh (~12 peers per topic), a Kademlia routing table it dials lazily, and
/// a few direct exchanges; 256 leaves room for a relay or bootstrap node without letting a
/// connection flood exhaust the process.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 256;

/// Established inbound connections. Below [`DEFAULT_MAX_CONNECTIONS`] so that our own dials
/// keep a quarter of the capacity (64) however many peers connect to us.
pub const DEFAULT_MAX_INCOMING: u32 = 192;

/// Established outbound connections: what our own dials (Kademlia lookups, the gossip mesh,
/// direct requests) may use. Half the total, leaving inbound peers room as well.
pub const DEFAULT_MAX_OUTGOING: u32 = 128;

/// Inbound connections (in their handshake or established) from one IP address (IPv6: one
/// /64). A household or a hackerspace behind one NAT runs a few daemons, which matches gossipsub's
/// colocation threshold ([`crate::scoring::IP_COLOCATION_THRESHOLD`] = 10) with some slack; one
/// host opening hundreds of connections is cut here, before its handshakes cost us anything.
pub const DEFAULT_MAX_INCOMING_PER_IP: u32 = 16;

/// Inbound slots kept for known members (strangers cannot take them): a quarter of
/// [`DEFAULT_MAX_INCOMING`]. Never more than a quarter of `max_incoming` (see [`crate::guard`]).
pub const DEFAULT_RESERVED_INCOMING: u32 = 48;

/// Strangers' inbound connections from one address range (IPv4 /24, IPv6 /48): a third of the
/// strangers' room (144 by default), so a dozen addresses of one network cannot take it all.
pub const DEFAULT_MAX_INCOMING_PER_RANGE: u32 = 48;

/// Inbound handshakes one address (IPv6: one /64) may start at once after a quiet spell. A
/// connection's handshake (Noise, then identify and the gossip and request protocols) costs the
/// node one to two milliseconds of CPU: a daemon dials a peer once and keeps the connection,
/// and a burst of a few is what a household restarting its daemons needs; a host opening
/// connections as fast as it can is held to [`DEFAULT_HANDSHAKES_PER_IP_PER_MINUTE`] after it,
/// refused before the handshake. (Measured in `benches/attacks.rs` of `guild-node`: 13
/// addresses opening 15 connections each cost the victim 150–190 ms of CPU with a burst of 8,
/// 80–100 ms with 4, 60–70 ms with 2, and an uninvolved member's requests 2.2–2.8× their quiet
/// latency with 4, 1.9–2.0× with 2; but with 2, 100 daemons behind one address took 114 s
/// instead of about 37 s to all connect, newcomers losing the early members' tokens to the
/// community's own DHT dials. BENCHMARKS.md, issue 20, round four.)
pub const DEFAULT_HANDSHAKE_BURST_PER_IP: u32 = 4;

/// Inbound handshakes one address may start per minute, sustained (the burst refills at this
/// rate): two a second.
pub const DEFAULT_HANDSHAKES_PER_IP_PER_MINUTE: u32 = 120;

/// [`NetConfig::local`]'s per-IP limit: every test node is on 127.0.0.1, so the limit is raised
/// for multi-node tests; tests of the limit itself set their own.
pub const LOCAL_MAX_INCOMING_PER_IP: u32 = 256;

/// Established connections per peer. One is the norm; two allows a simultaneous dial and a
/// relayed connection being upgraded by DCUtR to coexist for a moment.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: u32 = 2;

/// Default of [`NetConfig::accept_burst`]: inbound connections taken off the listeners at once
/// after a quiet spell.
pub const DEFAULT_ACCEPT_BURST: u32 = 32;

/// Default of [`NetConfig::stranger_read_burst`]: bytes a stranger's connection may deliver at
/// once (four of the largest requests).
pub const DEFAULT_STRANGER_READ_BURST: u32 = 1024 * 1024;

/// Default of [`NetConfig::stranger_read_rate`]: bytes a second a stranger's connection may
/// deliver, sustained (one of the largest requests a second).
pub const DEFAULT_STRANGER_READ_RATE: u32 = 256 * 1024;

/// Default of [`NetConfig::strangers_total_read_burst`]: bytes all strangers' connections
/// together may deliver at once (`docs/protocol.md`, "Strangers' reads").
pub const DEFAULT_STRANGERS_TOTAL_READ_BURST: u32 = 64 * 1024;

/// Default of [`NetConfig::strangers_total_read_rate`]: bytes a second all strangers'
/// connections together may deliver, sustained. A stream of small requests costs the node about
/// 0.75 µs a byte before any budget refuses them (`BENCHMARKS.md`), so this keeps what
/// strangers together can make it do under a fifth of a core.
pub const DEFAULT_STRANGERS_TOTAL_READ_RATE: u32 = 256 * 1024;

/// Default of [`NetConfig::accepts_per_second`]: inbound connections taken per second,
/// sustained. At about 1 ms of CPU for a handshake and 0.2 ms for a refusal, a flood from any
/// number of addresses costs the node at most a few percent of a core.
pub const DEFAULT_ACCEPTS_PER_SECOND: u32 = 64;

/// Incoming connections still in their handshake (Noise + Yamux). Handshakes cost CPU
/// (a Diffie-Hellman each), so this bounds what an unauthenticated flood can make us spend.
pub const DEFAULT_MAX_PENDING_INCOMING: u32 = 32;

/// Outgoing dials in progress. Kademlia lookups dial up to `alpha` peers per step; a cap keeps
/// a burst of lookups from opening hundreds of sockets at once.
pub const DEFAULT_MAX_PENDING_OUTGOING: u32 = 64;

/// How long a connection with no protocol needing it stays open. libp2p's 10 s default makes
/// connections to non-mesh peers churn between sparse Guild exchanges; two minutes keeps a
/// peer found through the DHT reachable for the follow-up request without keeping idle
/// sockets forever (gossip mesh connections are kept alive by gossipsub regardless).
pub const DEFAULT_IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);

/// Interval between Kademlia random walks (`get_closest_peers` of a random id), which keep the
/// routing table populated beyond the bootstrap peers. Five minutes matches Kademlia's own
/// bootstrap period: cheap (a handful of messages) yet quick to heal a partition.
pub const DEFAULT_RANDOM_WALK_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Time bound of one Kademlia query (lookup, provider announcement or search). libp2p's 60 s
/// default is long for an interactive `guild find`; a community DHT is small, so 30 s is ample.
pub const DEFAULT_KAD_QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Gossipsub heartbeat: mesh maintenance and IHAVE gossip happen once per heartbeat. One
/// second is the gossipsub default; tests lower it to converge faster.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// Largest gossip message and largest direct request, in bytes. A signed profile is ~2 KiB;
/// 64 KiB leaves room for rich profiles and attestation bundles while bounding what one
/// message can make every member download, store and verify.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Largest direct response, in bytes. Responses carry sync batches (many records at once),
/// so they are allowed to be larger than a single message; 1 MiB is ~500 profiles.
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 1024 * 1024;

/// Hard ceiling for either size limit: larger messages belong in a chunked transfer, not in
/// one allocation made on behalf of a remote peer.
pub const MAX_MESSAGE_SIZE_CEILING: usize = 16 * 1024 * 1024;

/// How long other nodes keep our provider records. Kademlia's 48 h default is meant for
/// content that rarely changes; a member who stops running a daemon should drop out of
/// skill lookups within a day.
pub const DEFAULT_PROVIDER_RECORD_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How often we re-announce the keys we provide. Must be well under the TTL so a record is
/// refreshed several times before it expires (here: four times per TTL).
pub const DEFAULT_PROVIDER_PUBLICATION_INTERVAL: Duration = Duration::from_secs(6 * 60 * 60);

/// Time bound of one direct request (sending it and receiving the response), which is also how
/// long an inbound request waits for the node's answer before the requester gives up.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Configuration of the network layer.
///
/// `Default` gives a daemon joining community `main` on all interfaces with OS-chosen ports,
/// mDNS on and Kademlia in server mode. Tests and benchmarks use [`NetConfig::local`].
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Community name: part of every protocol id and topic, so two communities never mix.
    pub community: String,
    /// Addresses to listen on. Port 0 lets the OS choose, so two daemons on one machine work.
    pub listen: Vec<Multiaddr>,
    /// Peers dialled and added to Kademlia at start. Each must end in `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// Relay servers to reserve a circuit on (each must end in `/p2p/<peer id>`), so peers behind
    /// NAT can be reached at `<relay>/p2p-circuit/p2p/<us>`. Needs `relay_client`.
    pub relays: Vec<Multiaddr>,
    /// Addresses announced as ours without confirmation, e.g. a public address behind a port
    /// forward. A relay server needs at least one external address (confirmed by AutoNAT or
    /// listed here): relay reservations carry the relay's addresses.
    pub external_addrs: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS. Multicasts on real interfaces: keep off in
    /// tests and benchmarks.
    pub mdns: bool,
    /// Answer Kademlia queries (server mode). Off: client mode until an external address is
    /// confirmed (libp2p's automatic mode).
    pub kad_server: bool,
    /// Act as a circuit relay (v2) for other members. Reservations are only granted once the
    /// node has an external address (see `external_addrs`).
    pub relay_server: bool,
    /// Use relays: reserve circuits on `relays` and dial `/p2p-circuit` addresses.
    pub relay_client: bool,
    /// Probe our reachability with AutoNAT (confirms external addresses).
    pub autonat: bool,
    /// Upgrade relayed connections to direct ones by hole punching (DCUtR).
    pub dcutr: bool,
    /// Maximum established connections in total.
    pub max_connections: u32,
    /// Maximum established inbound connections (keep it below `max_connections` so that our
    /// own dials always have room).
    pub max_incoming: u32,
    /// Maximum established outbound connections.
    pub max_outgoing: u32,
    /// Maximum inbound connections (pending or established) from one IP address (IPv6: one
    /// /64 prefix). Past it connections are refused before the handshake
    /// ([`crate::IpLimitExceeded`]). Relayed connections are not counted.
    pub max_incoming_per_ip: u32,
    /// Inbound handshakes one address (IPv6: one /64) may start at once after a quiet spell;
    /// past it, at most `handshakes_per_ip_per_minute` (a token bucket). Refused before the
    /// handshake ([`crate::HandshakeRateExceeded`]). Relayed connections are not counted.
    pub handshake_burst_per_ip: u32,
    /// Inbound handshakes one address may start per minute, sustained.
    pub handshakes_per_ip_per_minute: u32,
    /// Established inbound slots kept for known members. At most a quarter of `max_incoming`
    /// ([`ConfigError::ReservedTooLarge`] otherwise).
    pub reserved_incoming: u32,
    /// Strangers' established inbound connections from one address range (IPv4 /24, IPv6 /48).
    pub max_incoming_per_range: u32,
    /// How long a banned stranger's address stays penalised (see [`crate::guard`]).
    pub address_penalty: Duration,
    /// For this long after a ban, no stranger from the banned peer's address is admitted
    /// (at most `address_penalty`).
    pub address_cooldown: Duration,
    /// Banned addresses within one range (IPv4 /24, IPv6 /48) that penalise the whole range.
    pub range_bans: u32,
    /// Stranger connections a penalised range may hold at once.
    pub penalised_range_strangers: u32,
    /// Maximum established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Maximum incoming connections in their handshake.
    pub max_pending_incoming: u32,
    /// Inbound TCP connections taken off the listeners at once after a quiet spell; past it,
    /// `accepts_per_second`. The rest wait in the kernel's accept queue, in order; nothing is
    /// refused by the pacing (see [`crate::guard`]'s "Accept pacing").
    pub accept_burst: u32,
    /// Inbound TCP connections taken off the listeners per second, sustained.
    pub accepts_per_second: u32,
    /// Bytes a stranger's inbound TCP connection may deliver at once after a quiet spell; past
    /// it, `stranger_read_rate` a second (the rest waits in its sender's buffers). A known
    /// member's connections are not limited.
    pub stranger_read_burst: u32,
    /// Bytes a second a stranger's inbound TCP connection may deliver, sustained.
    pub stranger_read_rate: u32,
    /// Bytes all strangers' inbound TCP connections together may deliver at once; past it,
    /// `strangers_total_read_rate` a second, handed out in turns across address ranges and
    /// connections (`docs/protocol.md`, "Strangers' reads").
    pub strangers_total_read_burst: u32,
    /// Bytes a second all strangers' inbound TCP connections together may deliver, sustained.
    pub strangers_total_read_rate: u32,
    /// Maximum outgoing dials in progress.
    pub max_pending_outgoing: u32,
    /// How long an unused connection stays open.
    pub idle_connection_timeout: Duration,
    /// Interval between Kademlia random walks and bootstraps; `None` disables both periodic
    /// tasks (Kademlia still bootstraps by itself while its routing table is small).
    pub random_walk_interval: Option<Duration>,
    /// Time bound of one Kademlia query.
    pub kad_query_timeout: Duration,
    /// Gossipsub heartbeat interval (tests lower it).
    pub heartbeat_interval: Duration,
    /// Largest gossip message and largest direct request, in bytes.
    pub max_message_size: usize,
    /// Largest direct response, in bytes.
    pub max_response_size: usize,
    /// How long other nodes keep our provider records.
    pub provider_record_ttl: Duration,
    /// How often we re-announce the keys we provide.
    pub provider_publication_interval: Duration,
    /// Time bound of one direct request.
    pub request_timeout: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            community: DEFAULT_COMMUNITY.to_owned(),
            listen: vec![
                Multiaddr::empty()
                    .with(Protocol::Ip4([0, 0, 0, 0].into()))
                    .with(Protocol::Tcp(0)),
                Multiaddr::empty()
                    .with(Protocol::Ip4([0, 0, 0, 0].into()))
                    .with(Protocol::Udp(0))
                    .with(Protocol::QuicV1),
            ],
            bootstrap: Vec::new(),
            relays: Vec::new(),
            external_addrs: Vec::new(),
            mdns: true,
            kad_server: true,
            relay_server: false,
            relay_client: true,
            autonat: true,
            dcutr: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_incoming: DEFAULT_MAX_INCOMING,
            max_outgoing: DEFAULT_MAX_OUTGOING,
            max_incoming_per_ip: DEFAULT_MAX_INCOMING_PER_IP,
            handshake_burst_per_ip: DEFAULT_HANDSHAKE_BURST_PER_IP,
            handshakes_per_ip_per_minute: DEFAULT_HANDSHAKES_PER_IP_PER_MINUTE,
            reserved_incoming: DEFAULT_RESERVED_INCOMING,
            max_incoming_per_range: DEFAULT_MAX_INCOMING_PER_RANGE,
            address_penalty: crate::guard::ADDRESS_PENALTY,
            address_cooldown: crate::guard::ADDRESS_COOLDOWN,
            range_bans: crate::guard::RANGE_BANS,
            penalised_range_strangers: crate::guard::PENALISED_RANGE_STRANGERS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            max_pending_incoming: DEFAULT_MAX_PENDING_INCOMING,
            accept_burst: DEFAULT_ACCEPT_BURST,
            accepts_per_second: DEFAULT_ACCEPTS_PER_SECOND,
            stranger_read_burst: DEFAULT_STRANGER_READ_BURST,
            stranger_read_rate: DEFAULT_STRANGER_READ_RATE,
            strangers_total_read_burst: DEFAULT_STRANGERS_TOTAL_READ_BURST,
            strangers_total_read_rate: DEFAULT_STRANGERS_TOTAL_READ_RATE,
            max_pending_outgoing: DEFAULT_MAX_PENDING_OUTGOING,
            idle_connection_timeout: DEFAULT_IDLE_CONNECTION_TIMEOUT,
            random_walk_interval: Some(DEFAULT_RANDOM_WALK_INTERVAL),
            kad_query_timeout: DEFAULT_KAD_QUERY_TIMEOUT,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            provider_record_ttl: DEFAULT_PROVIDER_RECORD_TTL,
            provider_publication_interval: DEFAULT_PROVIDER_PUBLICATION_INTERVAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl NetConfig {
    /// A configuration for tests and benchmarks on one machine: TCP on `127.0.0.1` port 0,
    /// mDNS and AutoNAT off (both would probe real interfaces), Kademlia in server mode,
    /// a 100 ms gossip heartbeat, no periodic random walk, and per-IP and per-range limits of
    /// [`LOCAL_MAX_INCOMING_PER_IP`] (every local node shares 127.0.0.1), with as many
    /// handshakes per address at once and per second.
    pub fn local(community: &str) -> Self {
        Self {
            community: community.to_owned(),
            listen: vec![Multiaddr::empty()
                .with(Protocol::Ip4([127, 0, 0, 1].into()))
                .with(Protocol::Tcp(0))],
            mdns: false,
            autonat: false,
            heartbeat_interval: Duration::from_millis(100),
            random_walk_interval: None,
            max_incoming_per_ip: LOCAL_MAX_INCOMING_PER_IP,
            max_incoming_per_range: LOCAL_MAX_INCOMING_PER_IP,
            handshake_burst_per_ip: LOCAL_MAX_INCOMING_PER_IP,
            handshakes_per_ip_per_minute: LOCAL_MAX_INCOMING_PER_IP * 60,
            // Every local node is a stranger to most others; tests that need the production
            // limit set it.
            stranger_read_burst: u32::MAX,
            stranger_read_rate: u32::MAX,
            strangers_total_read_burst: u32::MAX,
            strangers_total_read_rate: u32::MAX,
            ..Self::default()
        }
    }

    /// Checks the configuration and returns the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_community(&self.community)?;
        for addr in &self.bootstrap {
            peer_id_of(addr).map_err(|addr| ConfigError::BootstrapWithoutPeerId { addr })?;
        }
        for addr in &self.relays {
            peer_id_of(addr).map_err(|addr| ConfigError::RelayWithoutPeerId { addr })?;
        }
        if !self.relays.is_empty() && !self.relay_client {
            return Err(ConfigError::RelaysNeedRelayClient);
        }
        let limits = [
            ("max_connections", self.max_connections),
            ("max_connections_per_peer", self.max_connections_per_peer),
            ("max_incoming", self.max_incoming),
            ("max_outgoing", self.max_outgoing),
            ("max_incoming_per_ip", self.max_incoming_per_ip),
            ("handshake_burst_per_ip", self.handshake_burst_per_ip),
            (
                "handshakes_per_ip_per_minute",
                self.handshakes_per_ip_per_minute,
            ),
            ("max_incoming_per_range", self.max_incoming_per_range),
            ("max_pending_incoming", self.max_pending_incoming),
            ("max_pending_outgoing", self.max_pending_outgoing),
            ("accept_burst", self.accept_burst),
            ("accepts_per_second", self.accepts_per_second),
            ("stranger_read_burst", self.stranger_read_burst),
            ("stranger_read_rate", self.stranger_read_rate),
            (
                "strangers_total_read_burst",
                self.strangers_total_read_burst,
            ),
            ("strangers_total_read_rate", self.strangers_total_read_rate),
            ("range_bans", self.range_bans),
            ("penalised_range_strangers", self.penalised_range_strangers),
        ];
        for (name, value) in limits {
            if value == 0 {
                return Err(ConfigError::ZeroLimit { name });
            }
        }
        let sizes = [
            ("max_message_size", self.max_message_size),
            ("max_response_size", self.max_response_size),
        ];
        for (name, value) in sizes {
            if value == 0 || value > MAX_MESSAGE_SIZE_CEILING {
                return Err(ConfigError::SizeOutOfRange {
                    name,
                    value,
                    max: MAX_MESSAGE_SIZE_CEILING,
                });
            }
        }
        let durations = [
            ("idle_connection_timeout", self.idle_connection_timeout),
            ("kad_query_timeout", self.kad_query_timeout),
            ("heartbeat_interval", self.heartbeat_interval),
            ("provider_record_ttl", self.provider_record_ttl),
            (
                "provider_publication_interval",
                self.provider_publication_interval,
            ),
            ("request_timeout", self.request_timeout),
            ("address_penalty", self.address_penalty),
        ];
        for (name, value) in durations {
            if value.is_zero() {
                return Err(ConfigError::ZeroDuration { name });
            }
        }
        if self.random_walk_interval.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::ZeroDuration {
                name: "random_walk_interval",
            });
        }
        if self.provider_publication_interval >= self.provider_record_ttl {
            return Err(ConfigError::RepublishNotBeforeExpiry);
        }
        if self.address_cooldown > self.address_penalty {
            return Err(ConfigError::CooldownLongerThanPenalty);
        }
        if self.reserved_incoming > self.max_incoming / 4 {
            return Err(ConfigError::ReservedTooLarge {
                reserved: self.reserved_incoming,
                max: self.max_incoming / 4,
            });
        }
        Ok(())
    }
}

/// Checks that a community name can be embedded in protocol ids and topic names.
fn validate_community(name: &str) -> Result<(), ConfigError> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > MAX_COMMUNITY_LEN || !name.chars().all(valid_char) {
        return Err(ConfigError::InvalidCommunity {
            name: name.to_owned(),
            max: MAX_COMMUNITY_LEN,
        });
    }
    Ok(())
}

/// The peer id an address ends with (`…/p2p/<id>`), or the address back if it has none.
pub fn peer_id_of(addr: &Multiaddr) -> Result<PeerId, Multiaddr> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Ok(peer),
        _ => Err(addr.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_are_valid() {
        NetConfig::default().validate().unwrap();
        NetConfig::local("test").validate().unwrap();
    }

    #[test]
    fn reserved_room_over_a_quarter_of_the_inbound_slots_is_an_error() {
        let mut c = NetConfig {
            max_incoming: 100,
            reserved_incoming: 26,
            ..NetConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::ReservedTooLarge {
                reserved: 26,
                max: 25
            })
        ));
        c.reserved_incoming = 25;
        c.validate().unwrap();
    }

    #[test]
    fn default_listens_on_port_zero() {
        let config = NetConfig::default();
        assert_eq!(config.listen.len(), 2);
        assert!(config
            .listen
            .iter()
            .any(|a| a.to_string() == "/ip4/0.0.0.0/tcp/0"));
        assert!(config
            .listen
            .iter()
            .any(|a| a.to_string() == "/ip4/0.0.0.0/udp/0/quic-v1"));
    }

    #[test]
    fn bootstrap_without_peer_id_is_rejected() {
        let mut config = NetConfig::local("test");
        config.bootstrap = vec![addr("/ip4/127.0.0.1/tcp/4001")];
        let err = config.validate().unwrap_err();
        assert!(
            matches!(&err, ConfigError::BootstrapWithoutPeerId { addr } if addr.to_string() == "/ip4/127.0.0.1/tcp/4001")
        );
        assert!(err.to_string().contains("/ip4/127.0.0.1/tcp/4001"));
        assert!(err.to_string().contains("/p2p/"));
    }

    #[test]
    fn bootstrap_with_peer_id_is_accepted() {
        let peer = PeerId::random();
        let mut config = NetConfig::local("test");
        config.bootstrap = vec![addr(&format!("/ip4/127.0.0.1/tcp/4001/p2p/{peer}"))];
        config.validate().unwrap();
        assert_eq!(peer_id_of(&config.bootstrap[0]), Ok(peer));
    }

    #[test]
    fn relay_without_peer_id_is_rejected() {
        let mut config = NetConfig::local("test");
        config.relays = vec![addr("/ip4/127.0.0.1/tcp/4001")];
        assert!(matches!(
            config.validate(),
            Err(ConfigError::RelayWithoutPeerId { .. })
        ));
    }

    #[test]
    fn relays_need_relay_client() {
        let mut config = NetConfig::local("test");
        config.relays = vec![addr(&format!(
            "/ip4/127.0.0.1/tcp/4001/p2p/{}",
            PeerId::random()
        ))];
        config.relay_client = false;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::RelaysNeedRelayClient)
        ));
    }

    #[test]
    fn community_names_are_checked() {
        for bad in ["", "a/b", "with space", "ünï", &"x".repeat(65)] {
            let config = NetConfig::local(bad);
            assert!(
                matches!(config.validate(), Err(ConfigError::InvalidCommunity { .. })),
                "{bad:?} accepted"
            );
        }
        for good in ["main", "hackspace-berlin", "a.b_c-1"] {
            NetConfig::local(good).validate().unwrap();
        }
    }

    #[test]
    fn guard_limits_are_checked() {
        let mut config = NetConfig::local("test");
        config.address_cooldown = config.address_penalty + Duration::from_secs(1);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::CooldownLongerThanPenalty)
        ));
        for name in ["range_bans", "penalised_range_strangers"] {
            let mut config = NetConfig::local("test");
            match name {
                "range_bans" => config.range_bans = 0,
                _ => config.penalised_range_strangers = 0,
            }
            assert!(
                matches!(config.validate(), Err(ConfigError::ZeroLimit { name: n }) if n == name),
                "{name}"
            );
        }
        let mut config = NetConfig::local("test");
        config.address_penalty = Duration::ZERO;
        config.address_cooldown = Duration::ZERO;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::ZeroDuration {
                name: "address_penalty"
            })
        ));
    }

    #[test]
    fn zero_limits_are_rejected() {
        let mut config = NetConfig::local("test");
        config.max_connections = 0;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::ZeroLimit {
                name: "max_connections"
            })
        ));
        let mut config = NetConfig::local("test");
        config.max_message_size = MAX_MESSAGE_SIZE_CEILING + 1;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::SizeOutOfRange { .. })
        ));
        let mut config = NetConfig::local("test");
        config.heartbeat_interval = Duration::ZERO;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::ZeroDuration { .. })
        ));
    }

    #[test]
    fn republish_must_precede_expiry() {
        let mut config = NetConfig::local("test");
        config.provider_publication_interval = config.provider_record_ttl;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::RepublishNotBeforeExpiry)
        ));
    }
}
