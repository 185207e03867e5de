//! Who may hold our inbound connections: per-address limits, room reserved for known members,
//! a fair share for strangers, bans, and penalties on the address a banned peer came from. A
//! small `NetworkBehaviour` that denies connections before any other behaviour sets up state
//! for them.
//!
//! * **Per IP.** Inbound connections (in their handshake or established) from one IP address
//!   are capped at [`NetConfig::max_incoming_per_ip`](crate::NetConfig::max_incoming_per_ip),
//!   members and strangers alike (the peer is not known before the handshake); IPv6 addresses
//!   count by their /64 prefix (one host commonly holds a whole /64). The connection past the
//!   cap is refused before its handshake, with [`IpLimitExceeded`]. Relayed connections are not
//!   counted here (their address is the relay's; the relay limits them). Our own dials are
//!   never counted: one host flooding us cannot stop us dialling out.
//! * **Handshakes per IP.** Each IP key may start
//!   [`NetConfig::handshake_burst_per_ip`](crate::NetConfig::handshake_burst_per_ip) inbound
//!   handshakes at once after a quiet spell and
//!   [`NetConfig::handshakes_per_ip_per_minute`](crate::NetConfig::handshakes_per_ip_per_minute)
//!   sustained (a token bucket). A handshake (Noise, then identify and the other protocols'
//!   set-up) costs about a millisecond of CPU; the connection past the rate is refused before
//!   it, with [`HandshakeRateExceeded`], which costs the node a TCP accept. Per address and not
//!   per range: a range is shared by unrelated people, and one flooding address must not keep
//!   its neighbours out. At most [`MAX_HANDSHAKE_BUCKETS`] addresses are tracked; full buckets
//!   are forgotten first, and while more than half the table is still refilling, new
//!   addresses are not tracked (their connections still count against the per-IP limit).
//! * **Reserved room.** Established inbound connections are capped at
//!   [`NetConfig::max_incoming`](crate::NetConfig::max_incoming). The network layer cannot know
//!   trust at handshake time, so the node tells it who its *known members* are
//!   ([`Client::set_known_peers`](crate::Client::set_known_peers): members its trust reaches,
//!   collaborators, trust roots, sponsored newcomers; at most [`MAX_KNOWN_PEERS`]). Everyone
//!   else is a *stranger*. Strangers share at most `max_incoming − reserved` slots, where
//!   `reserved` is [`NetConfig::reserved_incoming`](crate::NetConfig::reserved_incoming) (at
//!   most a quarter of `max_incoming`); strangers of one address range (IPv4 /24, IPv6 /48)
//!   hold at most [`NetConfig::max_incoming_per_range`](crate::NetConfig::max_incoming_per_range)
//!   of them. A known member is admitted while any inbound slot is free; when none is, the
//!   stranger idle longest (no request or gossip from it for longest) in the most crowded
//!   range and address makes way for it.
//! * **Fair among strangers.** When the strangers' room (or a range's share of it) is full, a
//!   stranger from a less crowded range or address takes the place of the idlest stranger of
//!   the most crowded one (max-min fairness: 13 addresses flooding 15 connections each cannot
//!   keep a newcomer from a fourteenth out); one from the most crowded group is refused, with
//!   [`InboundRefused::StrangerRoomFull`]. Choosing whom to evict looks at the connections
//!   held (at most `max_incoming`), and only when room is short.
//! * **One connection per peer.** When two members dial each other at once, each ends with
//!   two direct connections to the other, and each holds one of the other's per-IP inbound
//!   slots: behind one address (a NAT, or every daemon on 127.0.0.1) that halves the room for
//!   newcomers where the connection manager, counting peers, sees none of it. Both sides keep
//!   the connection dialled by the lower peer id and close the other (`duplicates_closed`).
//! * **Bans.** [`Client::disconnect_peer`](crate::Client::disconnect_peer) closes a peer's
//!   connections and refuses its new ones, inbound and outbound, with [`PeerBanned`], until the
//!   ban expires. At most [`MAX_BANNED_PEERS`] bans are kept; past it the one ending soonest is
//!   dropped.
//! * **Bans reach the address.** A banned stranger's address is penalised for
//!   `address_penalty` ([`ADDRESS_PENALTY`] by default): for its first `address_cooldown`
//!   ([`ADDRESS_COOLDOWN`]) no stranger from that address is admitted (a fresh key is not back
//!   in milliseconds), and after it at most one stranger connection at a time, refused with
//!   [`InboundRefused::AddressPenalised`]. An address range with `range_bans` ([`RANGE_BANS`])
//!   banned addresses within the penalty is held to `penalised_range_strangers`
//!   ([`PENALISED_RANGE_STRANGERS`]) stranger connections (all four are
//!   [`NetConfig`](crate::NetConfig) fields). Known members behind the same address
//!   are never affected. At most [`MAX_PENALISED_ADDRESSES`] addresses and ranges are
//!   remembered; past it the oldest penalty is dropped.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    convert::Infallible,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use crate::pace::{ReadLimit, ReadLimits};
use crate::share::SharedReads;
use libp2p::{
    core::{transport::PortUse, Endpoint},
    multiaddr::Protocol,
    swarm::{
        dummy, CloseConnection, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm,
        ListenFailure, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};

/// Bans remembered at once. Bans are decided by the node (a peer past its budgets), so this
/// only bounds a runaway caller.
pub const MAX_BANNED_PEERS: usize = 4096;

/// Known members remembered (see [`Client::set_known_peers`](crate::Client::set_known_peers)):
/// far more than the members a daemon's trust reaches; past it the rest count as strangers.
pub const MAX_KNOWN_PEERS: usize = 4096;

/// How long a banned stranger's address stays penalised: the service's penalty window.
/// Default of [`NetConfig::address_penalty`](crate::NetConfig::address_penalty).
pub const ADDRESS_PENALTY: Duration = Duration::from_secs(10 * 60);

/// For this long after a ban, no stranger from the banned peer's address is admitted.
/// Default of [`NetConfig::address_cooldown`](crate::NetConfig::address_cooldown).
pub const ADDRESS_COOLDOWN: Duration = Duration::from_secs(60);

/// Banned addresses within one range (IPv4 /24, IPv6 /48) that penalise the whole range.
/// Default of [`NetConfig::range_bans`](crate::NetConfig::range_bans).
pub const RANGE_BANS: u32 = 3;

/// Stranger connections a penalised range may hold at once. Default of
/// [`NetConfig::penalised_range_strangers`](crate::NetConfig::penalised_range_strangers).
pub const PENALISED_RANGE_STRANGERS: u32 = 4;

/// Penalised addresses (and ranges) remembered at once.
pub const MAX_PENALISED_ADDRESSES: usize = 1024;

/// Addresses whose handshake rate is tracked at once. Past it, addresses whose bucket has
/// refilled are forgotten (they would start full again anyway); if every tracked address is
/// still short of tokens, a new address is admitted untracked until some refill (its
/// connections still count against the per-IP limit).
pub const MAX_HANDSHAKE_BUCKETS: usize = 4096;

/// The error inside the `ConnectionDenied` of an inbound connection refused because its IP
/// started too many handshakes lately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRateExceeded {
    /// The address (IPv6: the /64 prefix) the rate applies to.
    pub ip: IpAddr,
    /// The configured burst.
    pub burst: u32,
    /// The configured rate.
    pub per_minute: u32,
}

impl fmt::Display for HandshakeRateExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} started more than {} inbound handshakes at once or {} a minute (the per-IP handshake rate)",
            self.ip, self.burst, self.per_minute
        )
    }
}

impl std::error::Error for HandshakeRateExceeded {}

/// The error inside the `ConnectionDenied` of an inbound connection refused because its IP
/// already has the maximum number of connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpLimitExceeded {
    /// The address (IPv6: the /64 prefix) the limit applies to.
    pub ip: IpAddr,
    /// The configured limit.
    pub limit: u32,
}

impl fmt::Display for IpLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} already has {} inbound connections (the per-IP limit)",
            self.ip, self.limit
        )
    }
}

impl std::error::Error for IpLimitExceeded {}

/// The error inside the `ConnectionDenied` of a connection to or from a banned peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerBanned {
    /// The peer.
    pub peer: PeerId,
}

impl fmt::Display for PeerBanned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer {} is banned for a while", self.peer)
    }
}

impl std::error::Error for PeerBanned {}

/// The error inside the `ConnectionDenied` of an established inbound connection refused by the
/// reserved room, the strangers' fair share or an address penalty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundRefused {
    /// Every inbound slot is held by known members.
    #[error("every inbound slot is held by known members")]
    Full,
    /// The strangers' room (or its range's share) is full and this stranger's range and
    /// address already hold their fair share.
    #[error("the room for strangers is full and {range:?} holds its share")]
    StrangerRoomFull {
        /// The connection's address range (IPv4 /24, IPv6 /48).
        range: Option<IpAddr>,
    },
    /// A peer from this address (or range) was banned lately.
    #[error("{ip} is penalised for a while after a ban")]
    AddressPenalised {
        /// The address (IPv6: the /64).
        ip: IpAddr,
    },
}

/// Counters of the guard, since the node started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Inbound connections refused by the per-IP limit.
    pub denied_per_ip: u64,
    /// Inbound connections refused by the per-IP handshake rate.
    pub denied_handshake_rate: u64,
    /// Connections (either direction) refused because the peer is banned.
    pub denied_banned: u64,
    /// Peers banned right now (expired bans are dropped lazily).
    pub banned: usize,
    /// Inbound connections refused because the strangers' room was full
    /// ([`InboundRefused::StrangerRoomFull`], [`InboundRefused::Full`]).
    pub denied_room: u64,
    /// Inbound connections refused because their address was penalised.
    pub denied_penalised: u64,
    /// Strangers' connections closed to make room for a known member or a fairer share.
    pub evicted: u64,
    /// Established inbound connections admitted.
    pub admitted: u64,
    /// Established inbound connections now.
    pub inbound: u32,
    /// Of which strangers'.
    pub inbound_strangers: u32,
    /// Addresses penalised now (expired penalties are dropped lazily).
    pub penalised_addresses: usize,
    /// Known members the node told us of.
    pub known: usize,
    /// Direct connections closed because the peer was also connected the other way (both
    /// sides dialled at once): see [`Guard`]'s "One connection per peer".
    pub duplicates_closed: u64,
    /// Times the listeners were held back because inbound connections came faster than
    /// [`NetConfig::accepts_per_second`](crate::NetConfig::accepts_per_second) allows (after
    /// the burst); the connections waited in the accept queue, none was refused for it.
    pub accept_pauses: u64,
    /// Times a stranger's connection waited for its turn at the total of strangers' reads
    /// ([`NetConfig::strangers_total_read_rate`](crate::NetConfig::strangers_total_read_rate)).
    pub stranger_read_waits: u64,
}

/// Limits of the guard (from [`crate::NetConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GuardLimits {
    pub(crate) max_per_ip: u32,
    pub(crate) handshake_burst: u32,
    pub(crate) handshakes_per_minute: u32,
    pub(crate) max_incoming: u32,
    pub(crate) reserved: u32,
    pub(crate) max_per_range: u32,
    pub(crate) address_penalty: Duration,
    pub(crate) address_cooldown: Duration,
    pub(crate) range_bans: u32,
    pub(crate) penalised_range_strangers: u32,
    /// A stranger's accepted connection: bytes read a second, and at once.
    pub(crate) stranger_read_rate: u32,
    pub(crate) stranger_read_burst: u32,
    /// All strangers' accepted connections together: bytes read a second, and at once.
    pub(crate) strangers_total_read_rate: u32,
    pub(crate) strangers_total_read_burst: u32,
}

impl GuardLimits {
    /// Slots strangers may hold: `max_incoming` less the reserved room (at most a quarter:
    /// checked by [`NetConfig::validate`](crate::NetConfig::validate); the `min` only keeps a
    /// hand-built `GuardLimits` from underflowing).
    fn stranger_room(&self) -> u32 {
        self.max_incoming - self.reserved.min(self.max_incoming)
    }
}

/// An address's handshake tokens: `tokens` as of `at`, refilled at the configured rate up to
/// the burst.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// The tokens at `now`.
    fn level(&self, now: Instant, limits: &GuardLimits) -> f64 {
        let refill = now.saturating_duration_since(self.at).as_secs_f64()
            * f64::from(limits.handshakes_per_minute)
            / 60.0;
        (self.tokens + refill).min(f64::from(limits.handshake_burst))
    }
}

/// One established connection.
#[derive(Debug)]
struct Conn {
    peer: PeerId,
    /// Its IP key ([`ip_key`]); `None` when relayed.
    ip: Option<IpAddr>,
    /// Counted as an inbound connection (until closed or evicted).
    inbound: bool,
    /// Counted as a stranger's inbound connection.
    stranger: bool,
    /// We dialled it (kept when an eviction uncounts `inbound`).
    dialled_by_us: bool,
    /// Its stream's read limit (accepted TCP connections; see [`crate::pace`]).
    read: Option<Arc<ReadLimit>>,
}

/// The behaviour (see the module docs).
pub(crate) struct Guard {
    limits: GuardLimits,
    /// This node's peer id, which decides which of two crossed connections stays.
    local: Option<PeerId>,
    /// Inbound connections by IP key (pending and established).
    per_ip: HashMap<IpAddr, u32>,
    /// Handshake tokens by IP key (at most [`MAX_HANDSHAKE_BUCKETS`]).
    handshakes: HashMap<IpAddr, Bucket>,
    /// While the bucket table is full of recent addresses: until when new ones go untracked.
    untracked_until: Option<Instant>,
    /// Which IP key each counted inbound connection belongs to.
    inbound: HashMap<ConnectionId, IpAddr>,
    /// Established connections, both directions.
    conns: HashMap<ConnectionId, Conn>,
    /// Connections of each peer, and when it last sent us something.
    peers: HashMap<PeerId, (Vec<ConnectionId>, Instant)>,
    /// Established inbound connections counted, and strangers' among them.
    inbound_total: u32,
    strangers: u32,
    /// Strangers' inbound connections per range and per address (`None`: relayed).
    stranger_ranges: HashMap<Option<IpAddr>, u32>,
    stranger_addrs: HashMap<Option<IpAddr>, u32>,
    known: HashSet<PeerId>,
    banned: HashMap<PeerId, Instant>,
    /// Penalised addresses: when the penalty started.
    penalised: HashMap<IpAddr, Instant>,
    /// Bans per range within the penalty: (count, last).
    range_bans: HashMap<IpAddr, (u32, Instant)>,
    /// Connections to close (evicted), handed to the swarm by `poll`.
    to_close: VecDeque<(PeerId, ConnectionId)>,
    waker: Option<Waker>,
    stats: GuardStats,
    /// Counted by the paced transport (`crate::pace`), reported with the stats.
    accept_pauses: Arc<AtomicU64>,
    /// Accepted connections' read limits, registered by the paced transport.
    reads: Arc<ReadLimits>,
}

impl Guard {
    pub(crate) fn new(limits: GuardLimits) -> Self {
        Self {
            limits,
            local: None,
            per_ip: HashMap::new(),
            handshakes: HashMap::new(),
            untracked_until: None,
            inbound: HashMap::new(),
            conns: HashMap::new(),
            peers: HashMap::new(),
            inbound_total: 0,
            strangers: 0,
            stranger_ranges: HashMap::new(),
            stranger_addrs: HashMap::new(),
            known: HashSet::new(),
            banned: HashMap::new(),
            penalised: HashMap::new(),
            range_bans: HashMap::new(),
            to_close: VecDeque::new(),
            waker: None,
            stats: GuardStats::default(),
            accept_pauses: Arc::default(),
            reads: Arc::new(ReadLimits::with_total(Arc::new(SharedReads::new(
                limits.strangers_total_read_rate,
                limits.strangers_total_read_burst,
            )))),
        }
    }

    /// The table the paced transport registers accepted connections' read limits in.
    pub(crate) fn read_limits(&self) -> Arc<ReadLimits> {
        self.reads.clone()
    }

    /// The counter the paced transport adds its pauses to.
    pub(crate) fn accept_pauses(&self) -> Arc<AtomicU64> {
        self.accept_pauses.clone()
    }

    /// Takes a handshake token of `ip`, or refuses the connection (see the module docs).
    fn take_handshake(&mut self, ip: IpAddr) -> Result<(), ConnectionDenied> {
        let now = Instant::now();
        let limits = self.limits;
        let burst = f64::from(limits.handshake_burst);
        if self.handshakes.len() >= MAX_HANDSHAKE_BUCKETS && !self.handshakes.contains_key(&ip) {
            if self.untracked_until.is_some_and(|t| now < t) {
                return Ok(()); // untracked for now; the per-IP limit still holds
            }
            // Full buckets carry no information: drop them. If more than half stay, every
            // bucket is full again within one refill, so new addresses go untracked until
            // then instead of scanning the table again for each (one pass per refill).
            self.handshakes.retain(|_, b| b.level(now, &limits) < burst);
            if self.handshakes.len() > MAX_HANDSHAKE_BUCKETS / 2 {
                let refill = f64::from(limits.handshake_burst) * 60.0
                    / f64::from(limits.handshakes_per_minute.max(1));
                self.untracked_until = Some(now + Duration::from_secs_f64(refill));
                return Ok(());
            }
            self.untracked_until = None;
        }
        let bucket = self.handshakes.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let level = bucket.level(now, &limits);
        if level < 1.0 {
            self.stats.denied_handshake_rate += 1;
            tracing::debug!(%ip, "inbound handshake over the per-IP rate");
            return Err(ConnectionDenied::new(HandshakeRateExceeded {
                ip,
                burst: limits.handshake_burst,
                per_minute: limits.handshakes_per_minute,
            }));
        }
        *bucket = Bucket {
            tokens: level - 1.0,
            at: now,
        };
        Ok(())
    }

    /// Refuses `peer`'s connections until `until`; a stranger's address is penalised too.
    pub(crate) fn ban(&mut self, peer: PeerId, until: Instant) {
        let now = Instant::now();
        if self.banned.len() >= MAX_BANNED_PEERS && !self.banned.contains_key(&peer) {
            self.banned.retain(|_, t| *t > now);
            if self.banned.len() >= MAX_BANNED_PEERS {
                if let Some(soonest) = self.banned.iter().min_by_key(|(_, t)| **t).map(|(p, _)| *p)
                {
                    self.banned.remove(&soonest);
                }
            }
        }
        let entry = self.banned.entry(peer).or_insert(until);
        *entry = (*entry).max(until);
        if self.known.contains(&peer) {
            return;
        }
        let ips: HashSet<IpAddr> = self
            .peers
            .get(&peer)
            .into_iter()
            .flat_map(|(conns, _)| conns.iter())
            .filter_map(|c| self.conns.get(c)?.ip)
            .collect();
        for ip in ips {
            self.penalise(ip, now);
        }
    }

    /// Penalises an address (and counts a ban against its range).
    fn penalise(&mut self, ip: IpAddr, now: Instant) {
        let penalty = self.limits.address_penalty;
        let active = |since: &Instant| now.saturating_duration_since(*since) < penalty;
        if self.penalised.len() >= MAX_PENALISED_ADDRESSES && !self.penalised.contains_key(&ip) {
            self.penalised.retain(|_, since| active(since));
            if self.penalised.len() >= MAX_PENALISED_ADDRESSES {
                if let Some(oldest) = self
                    .penalised
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(a, _)| *a)
                {
                    self.penalised.remove(&oldest);
                }
            }
        }
        let fresh = self.penalised.get(&ip).is_none_or(|since| !active(since));
        self.penalised.insert(ip, now);
        if !fresh {
            return; // one address counts once per penalty against its range
        }
        let range = range_of(ip);
        if self.range_bans.len() >= MAX_PENALISED_ADDRESSES && !self.range_bans.contains_key(&range)
        {
            self.range_bans.retain(|_, (_, last)| active(last));
            if self.range_bans.len() >= MAX_PENALISED_ADDRESSES {
                if let Some(oldest) = self
                    .range_bans
                    .iter()
                    .min_by_key(|(_, (_, t))| *t)
                    .map(|(a, _)| *a)
                {
                    self.range_bans.remove(&oldest);
                }
            }
        }
        let e = self.range_bans.entry(range).or_insert((0, now));
        if !active(&e.1) {
            *e = (0, now);
        }
        e.0 += 1;
        e.1 = now;
    }

    /// Lifts a ban early (the address penalty stays).
    pub(crate) fn unban(&mut self, peer: &PeerId) {
        self.banned.remove(peer);
    }

    /// The node's known members (bounded by [`MAX_KNOWN_PEERS`]); their inbound connections
    /// already established are counted as members' from now on.
    pub(crate) fn set_known(&mut self, known: HashSet<PeerId>) {
        self.known = known;
        let now_known: Vec<ConnectionId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.stranger && self.known.contains(&c.peer))
            .map(|(id, _)| *id)
            .collect();
        for id in now_known {
            self.uncount_stranger(&id);
        }
    }

    /// `peer` sent us something (a request, a gossip message): it is not idle.
    pub(crate) fn touch(&mut self, peer: &PeerId) {
        if let Some((_, last)) = self.peers.get_mut(peer) {
            *last = Instant::now();
        }
    }

    pub(crate) fn stats(&self) -> GuardStats {
        let now = Instant::now();
        let penalty = self.limits.address_penalty;
        GuardStats {
            banned: self.banned.values().filter(|t| **t > now).count(),
            inbound: self.inbound_total,
            inbound_strangers: self.strangers,
            known: self.known.len(),
            accept_pauses: self.accept_pauses.load(Ordering::Relaxed),
            stranger_read_waits: self.reads.shared().map_or(0, |s| s.waits()),
            penalised_addresses: self
                .penalised
                .values()
                .filter(|since| now.saturating_duration_since(**since) < penalty)
                .count(),
            ..self.stats
        }
    }

    fn check_banned(&mut self, peer: PeerId) -> Result<(), ConnectionDenied> {
        match self.banned.get(&peer) {
            Some(until) if *until > Instant::now() => {
                self.stats.denied_banned += 1;
                Err(ConnectionDenied::new(PeerBanned { peer }))
            }
            Some(_) => {
                self.banned.remove(&peer);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Closes crossed duplicates (see the module docs) as this node, `local`.
    pub(crate) fn with_local_peer(mut self, local: PeerId) -> Self {
        self.local = Some(local);
        self
    }

    /// Two direct connections to one peer, one dialled by each side (both dialled at once),
    /// hold an inbound slot of each side's per-IP limit where one connection is enough: a
    /// member behind a crowded address then refuses newcomers while it is not crowded in its
    /// own count. Both sides keep the one the lower peer id dialled and close the other, so
    /// they close the same one. Relayed connections are left alone (DCUtR upgrades them).
    fn close_crossed(&mut self, peer: PeerId) {
        let Some(local) = self.local else {
            return;
        };
        let Some((conns, _)) = self.peers.get(&peer) else {
            return;
        };
        if conns.len() < 2 {
            return;
        }
        let keep_ours = local < peer;
        let direct = |c: &ConnectionId| self.conns.get(c).filter(|k| k.ip.is_some());
        if !conns
            .iter()
            .filter_map(direct)
            .any(|k| k.dialled_by_us == keep_ours)
        {
            return;
        }
        let crossed: Vec<ConnectionId> = conns
            .iter()
            .copied()
            .filter(|c| direct(c).is_some_and(|k| k.dialled_by_us != keep_ours))
            .collect();
        for c in crossed {
            if self.to_close.iter().any(|(_, queued)| *queued == c) {
                continue;
            }
            self.stats.duplicates_closed += 1;
            tracing::debug!(%peer, connection = ?c, "closing the crossed duplicate of a connection");
            self.to_close.push_back((peer, c));
        }
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    fn release(&mut self, connection: &ConnectionId) {
        if let Some(ip) = self.inbound.remove(connection) {
            if let Some(n) = self.per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                tracing::trace!(?connection, %ip, held = *n, "inbound slot released");
                if *n == 0 {
                    self.per_ip.remove(&ip);
                }
            }
        }
        self.uncount_stranger(connection);
        let Some(conn) = self.conns.remove(connection) else {
            return;
        };
        if conn.inbound {
            self.inbound_total = self.inbound_total.saturating_sub(1);
        }
        if let Some((conns, _)) = self.peers.get_mut(&conn.peer) {
            conns.retain(|c| c != connection);
            if conns.is_empty() {
                self.peers.remove(&conn.peer);
            }
        }
    }

    /// Stops counting a connection as a stranger's.
    fn uncount_stranger(&mut self, connection: &ConnectionId) {
        let Some(conn) = self.conns.get_mut(connection).filter(|c| c.stranger) else {
            return;
        };
        conn.stranger = false;
        if let Some(read) = &conn.read {
            read.open();
        }
        let (ip, range) = (conn.ip, conn.ip.map(range_of));
        self.strangers = self.strangers.saturating_sub(1);
        for (map, key) in [
            (&mut self.stranger_addrs, ip),
            (&mut self.stranger_ranges, range),
        ] {
            if let Some(n) = map.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
    }

    /// Closes a stranger's connection to make room: uncounted at once, closed by the swarm.
    fn evict(&mut self, connection: ConnectionId) {
        self.uncount_stranger(&connection);
        let Some(conn) = self.conns.get_mut(&connection) else {
            return;
        };
        if conn.inbound {
            conn.inbound = false;
            self.inbound_total = self.inbound_total.saturating_sub(1);
        }
        self.stats.evicted += 1;
        tracing::debug!(peer = %conn.peer, ip = ?conn.ip, "closing a stranger's connection to make room");
        self.to_close.push_back((conn.peer, connection));
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// The idlest stranger connection of the most crowded address in `range`.
    fn idlest_in_range(
        &self,
        range: Option<IpAddr>,
    ) -> Option<(Option<IpAddr>, u32, ConnectionId)> {
        let (addr, held) = self
            .stranger_addrs
            .iter()
            .filter(|(a, _)| a.map(range_of) == range)
            .max_by_key(|(_, n)| **n)
            .map(|(a, n)| (*a, *n))?;
        let idlest = self
            .conns
            .iter()
            .filter(|(_, c)| c.stranger && c.ip == addr)
            .min_by_key(|(_, c)| self.peers.get(&c.peer).map(|(_, t)| *t))
            .map(|(id, _)| *id)?;
        Some((addr, held, idlest))
    }

    /// Decides an established inbound connection (see the module docs).
    fn admit_inbound(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        ip: Option<IpAddr>,
    ) -> Result<(), ConnectionDenied> {
        self.check_banned(peer)?;
        let range = ip.map(range_of);
        let known = self.known.contains(&peer);
        if known {
            if self.inbound_total >= self.limits.max_incoming {
                let top = self
                    .stranger_ranges
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(r, _)| *r);
                match top.and_then(|r| self.idlest_in_range(r)) {
                    Some((_, _, victim)) => self.evict(victim),
                    None => {
                        self.stats.denied_room += 1;
                        return Err(ConnectionDenied::new(InboundRefused::Full));
                    }
                }
            }
        } else {
            self.check_penalty(ip, range)?;
            self.make_stranger_room(ip, range)?;
        }
        self.inbound_total += 1;
        self.stats.admitted += 1;
        if !known {
            self.strangers += 1;
            *self.stranger_addrs.entry(ip).or_insert(0) += 1;
            *self.stranger_ranges.entry(range).or_insert(0) += 1;
        }
        self.conns.insert(
            connection,
            Conn {
                peer,
                ip,
                inbound: true,
                stranger: !known,
                dialled_by_us: false,
                read: None,
            },
        );
        self.peers
            .entry(peer)
            .or_insert_with(|| (Vec::new(), Instant::now()))
            .0
            .push(connection);
        Ok(())
    }

    /// Refuses a stranger from a penalised address or range.
    fn check_penalty(
        &mut self,
        ip: Option<IpAddr>,
        range: Option<IpAddr>,
    ) -> Result<(), ConnectionDenied> {
        let (Some(ip), Some(range)) = (ip, range) else {
            return Ok(());
        };
        let now = Instant::now();
        let refuse = |stats: &mut GuardStats| {
            stats.denied_penalised += 1;
            tracing::debug!(%ip, "stranger from a penalised address refused");
            Err(ConnectionDenied::new(InboundRefused::AddressPenalised {
                ip,
            }))
        };
        if let Some(since) = self.penalised.get(&ip).copied() {
            let age = now.saturating_duration_since(since);
            if age < self.limits.address_penalty {
                let held = self.stranger_addrs.get(&Some(ip)).copied().unwrap_or(0);
                if age < self.limits.address_cooldown || held >= 1 {
                    return refuse(&mut self.stats);
                }
            } else {
                self.penalised.remove(&ip);
            }
        }
        if let Some((bans, last)) = self.range_bans.get(&range).copied() {
            if now.saturating_duration_since(last) >= self.limits.address_penalty {
                self.range_bans.remove(&range);
            } else if bans >= self.limits.range_bans {
                let held = self.stranger_ranges.get(&Some(range)).copied().unwrap_or(0);
                if held >= self.limits.penalised_range_strangers {
                    return refuse(&mut self.stats);
                }
            }
        }
        Ok(())
    }

    /// Makes room for one more stranger from `ip` (evicting fairly), or refuses it.
    fn make_stranger_room(
        &mut self,
        ip: Option<IpAddr>,
        range: Option<IpAddr>,
    ) -> Result<(), ConnectionDenied> {
        let in_range = self.stranger_ranges.get(&range).copied().unwrap_or(0);
        let at_addr = self.stranger_addrs.get(&ip).copied().unwrap_or(0);
        let total_full = self.inbound_total >= self.limits.max_incoming
            || self.strangers >= self.limits.stranger_room();
        let range_full = range.is_some() && in_range >= self.limits.max_per_range;
        if !total_full && !range_full {
            return Ok(());
        }
        // The range to take a slot from: our own if its share is full, else the most crowded.
        let victim_range = if range_full {
            Some(range)
        } else {
            self.stranger_ranges
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(r, n)| (*r, *n))
                .filter(|(r, n)| *r == range || *n > in_range + 1)
                .map(|(r, _)| r)
        };
        let victim =
            victim_range
                .and_then(|r| self.idlest_in_range(r))
                .filter(|(addr, held, _)| {
                    // Within our own range: only from an address holding more than ours would.
                    victim_range != Some(range) || (*addr != ip && *held > at_addr + 1)
                });
        match victim {
            Some((_, _, connection)) => {
                self.evict(connection);
                Ok(())
            }
            None => {
                self.stats.denied_room += 1;
                tracing::debug!(?ip, "the room for strangers is full");
                Err(ConnectionDenied::new(InboundRefused::StrangerRoomFull {
                    range,
                }))
            }
        }
    }
}

/// The key an inbound connection counts under: its IP (IPv6: the /64), or `None` for relayed
/// connections and addresses without an IP.
pub(crate) fn ip_key(addr: &Multiaddr) -> Option<IpAddr> {
    let mut ip = None;
    for protocol in addr.iter() {
        match protocol {
            Protocol::P2pCircuit => return None,
            Protocol::Ip4(v4) if ip.is_none() => ip = Some(IpAddr::V4(v4)),
            Protocol::Ip6(v6) if ip.is_none() => {
                ip = Some(match v6.to_ipv4_mapped() {
                    Some(v4) => IpAddr::V4(v4),
                    None => {
                        let s = v6.segments();
                        IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                    }
                })
            }
            _ => {}
        }
    }
    ip
}

/// The address range an IP key belongs to: IPv4 /24, IPv6 /48.
pub fn range_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], 0))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
    }
}

impl NetworkBehaviour for Guard {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_key(remote_addr) else {
            return Ok(());
        };
        if self.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.max_per_ip {
            self.stats.denied_per_ip += 1;
            tracing::debug!(%ip, limit = self.limits.max_per_ip, "inbound connection over the per-IP limit");
            return Err(ConnectionDenied::new(IpLimitExceeded {
                ip,
                limit: self.limits.max_per_ip,
            }));
        }
        self.take_handshake(ip)?;
        let held = self.per_ip.entry(ip).or_insert(0);
        *held += 1;
        tracing::trace!(connection = ?connection_id, %ip, held = *held, "inbound slot taken");
        self.inbound.insert(connection_id, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // Denied here, the swarm reports a `ListenFailure`, which releases the IP slot.
        self.admit_inbound(connection_id, peer, ip_key(remote_addr))?;
        // A stranger's reads are limited from now on; a known member's stay open.
        if let Some(read) = self.reads.claim(remote_addr) {
            if let Some(conn) = self.conns.get_mut(&connection_id) {
                if conn.stranger {
                    read.limit(
                        self.limits.stranger_read_rate,
                        self.limits.stranger_read_burst,
                    );
                }
                conn.read = Some(read);
            }
        }
        tracing::trace!(connection = ?connection_id, %peer, "inbound connection established");
        self.close_crossed(peer);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let Some(peer) = maybe_peer {
            self.check_banned(peer)?;
        }
        Ok(vec![])
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check_banned(peer)?;
        self.conns.insert(
            connection_id,
            Conn {
                peer,
                ip: ip_key(addr),
                inbound: false,
                stranger: false,
                // A hole punch dials from both sides; the one told to act as the listener
                // counts as dialled by the other, as the other counts it.
                dialled_by_us: role_override == Endpoint::Dialer,
                read: None,
            },
        );
        self.peers
            .entry(peer)
            .or_insert_with(|| (Vec::new(), Instant::now()))
            .0
            .push(connection_id);
        self.close_crossed(peer);
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. })
            | FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.release(&connection_id);
            }
            FromSwarm::DialFailure(libp2p::swarm::DialFailure { connection_id, .. }) => {
                self.release(&connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        libp2p::core::util::unreachable(event)
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some((peer_id, connection)) = self.to_close.pop_front() {
            return Poll::Ready(ToSwarm::CloseConnection {
                peer_id,
                connection: CloseConnection::One(connection),
            });
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    fn limits(max_per_ip: u32) -> GuardLimits {
        GuardLimits {
            max_per_ip,
            handshake_burst: 1024,
            handshakes_per_minute: 60 * 1024,
            max_incoming: 192,
            reserved: 48,
            max_per_range: 48,
            address_penalty: ADDRESS_PENALTY,
            address_cooldown: ADDRESS_COOLDOWN,
            range_bans: RANGE_BANS,
            penalised_range_strangers: PENALISED_RANGE_STRANGERS,
            stranger_read_rate: 1000,
            stranger_read_burst: 5000,
            strangers_total_read_rate: 10_000,
            strangers_total_read_burst: 20_000,
        }
    }

    /// Opens and establishes an inbound connection from `ip` for `peer`.
    fn connect(
        guard: &mut Guard,
        id: usize,
        peer: PeerId,
        ip: &str,
    ) -> Result<(), ConnectionDenied> {
        let local = addr("/ip4/127.0.0.1/tcp/1");
        let from = addr(&format!("/ip4/{ip}/tcp/9"));
        let c = ConnectionId::new_unchecked(id);
        guard.handle_pending_inbound_connection(c, &local, &from)?;
        match guard.handle_established_inbound_connection(c, peer, &local, &from) {
            Ok(_) => Ok(()),
            Err(e) => {
                guard.release(&c);
                Err(e)
            }
        }
    }

    fn evicted(guard: &mut Guard) -> Vec<ConnectionId> {
        let out = guard.to_close.iter().map(|(_, c)| *c).collect();
        for (_, c) in std::mem::take(&mut guard.to_close) {
            guard.release(&c);
        }
        out
    }

    #[test]
    fn a_strangers_reads_are_limited_a_members_not_and_a_stranger_who_becomes_known_is_opened() {
        let mut guard = Guard::new(limits(16));
        let reads = guard.read_limits();
        let local = addr("/ip4/127.0.0.1/tcp/1");
        let (stranger, member) = (PeerId::random(), PeerId::random());
        guard.set_known([member].into_iter().collect());
        let mut accept = |id: usize, peer: PeerId, from: &str| {
            let from = addr(from);
            // What the paced transport does when it takes the connection off the listener.
            let read = reads.register(from.clone());
            assert!(!read.is_limited(), "open during the handshake");
            let c = ConnectionId::new_unchecked(id);
            guard
                .handle_pending_inbound_connection(c, &local, &from)
                .unwrap();
            guard
                .handle_established_inbound_connection(c, peer, &local, &from)
                .unwrap();
            read
        };
        let s = accept(1, stranger, "/ip4/10.0.0.1/tcp/9");
        let m = accept(2, member, "/ip4/10.0.0.2/tcp/9");
        assert!(s.is_limited(), "a stranger's connection is limited");
        assert!(!m.is_limited(), "a known member's is not");
        guard.set_known([member, stranger].into_iter().collect());
        assert!(!s.is_limited(), "known now: opened");
    }

    #[test]
    fn ranges() {
        assert_eq!(
            range_of(IpAddr::from([10, 1, 2, 3])),
            IpAddr::from([10, 1, 2, 0])
        );
        let v6: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        assert_eq!(range_of(v6), "2001:db8:1::".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn strangers_share_their_room_fairly_and_members_keep_theirs() {
        // 13 addresses of one /24 flood 15 connections each (the attack of issue 20).
        let mut guard = Guard::new(limits(16));
        let mut id = 0;
        let mut admitted = 0;
        for a in 2..15 {
            for _ in 0..15 {
                id += 1;
                if connect(&mut guard, id, PeerId::random(), &format!("127.0.0.{a}")).is_ok() {
                    admitted += 1;
                }
                evicted(&mut guard);
            }
        }
        // The range holds its share at most, spread over its addresses.
        assert_eq!(guard.stats().inbound_strangers, 48);
        assert!(admitted >= 48);
        assert!(
            guard.stranger_addrs.values().all(|n| *n <= 5),
            "{:?}",
            guard.stranger_addrs
        );
        // A newcomer from a fourteenth address of the same /24 takes a flooder's place.
        id += 1;
        connect(&mut guard, id, PeerId::random(), "127.0.0.1").unwrap();
        assert_eq!(evicted(&mut guard).len(), 1);
        // Another range has its own share.
        for i in 0..40 {
            connect(
                &mut guard,
                1000 + i,
                PeerId::random(),
                &format!("10.0.{i}.1"),
            )
            .unwrap();
        }
        assert!(evicted(&mut guard).is_empty());
        // Strangers' room: 144 slots of 192.
        for i in 0..200 {
            let _ = connect(
                &mut guard,
                2000 + i,
                PeerId::random(),
                &format!("10.1.{i}.1"),
            );
            evicted(&mut guard);
        }
        let stats = guard.stats();
        assert_eq!(stats.inbound_strangers, 144);
        assert_eq!(stats.inbound, 144);
        // Known members take the reserved 48 …
        let members: Vec<PeerId> = (0..49).map(|_| PeerId::random()).collect();
        guard.set_known(members.iter().copied().collect());
        for (i, m) in members.iter().enumerate().take(48) {
            connect(&mut guard, 3000 + i, *m, &format!("10.9.{i}.9")).unwrap();
        }
        assert!(evicted(&mut guard).is_empty());
        assert_eq!(guard.stats().inbound, 192);
        // … and one more takes the place of the idlest stranger of the most crowded range.
        connect(&mut guard, 4000, members[48], "10.9.99.9").unwrap();
        let gone = evicted(&mut guard);
        assert_eq!(gone.len(), 1);
        assert_eq!(guard.stats().inbound, 192);
        assert_eq!(guard.stats().inbound_strangers, 143);
        // A stranger from a crowded group is refused now.
        let refused = connect(&mut guard, 4001, PeerId::random(), "10.0.0.1").unwrap_err();
        assert!(matches!(
            refused.downcast::<InboundRefused>().unwrap(),
            InboundRefused::StrangerRoomFull { .. }
        ));
    }

    #[test]
    fn the_idlest_stranger_goes_first() {
        let mut guard = Guard::new(GuardLimits {
            max_per_ip: 16,
            max_incoming: 4,
            reserved: 1,
            max_per_range: 4,
            ..limits(16)
        });
        let strangers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        for (i, p) in strangers.iter().enumerate() {
            connect(&mut guard, i, *p, "10.0.0.1").unwrap();
        }
        // The first and third are busy; the second idles.
        guard.touch(&strangers[0]);
        guard.touch(&strangers[2]);
        let member = PeerId::random();
        let late = PeerId::random();
        guard.set_known([member, late].into_iter().collect());
        connect(&mut guard, 10, member, "10.0.0.1").unwrap();
        assert!(evicted(&mut guard).is_empty(), "the reserved slot");
        connect(&mut guard, 11, late, "10.0.0.1").unwrap();
        assert_eq!(evicted(&mut guard), vec![ConnectionId::new_unchecked(1)]);
        assert_eq!(guard.stats().evicted, 1);
    }

    #[test]
    fn a_ban_penalises_a_strangers_address_but_not_members_behind_it() {
        let mut guard = Guard::new(limits(16));
        let rogue = PeerId::random();
        connect(&mut guard, 1, rogue, "192.0.2.7").unwrap();
        guard.ban(rogue, Instant::now() + Duration::from_secs(600));
        guard.release(&ConnectionId::new_unchecked(1));
        // A fresh key from the same address is refused …
        let refused = connect(&mut guard, 2, PeerId::random(), "192.0.2.7").unwrap_err();
        assert!(matches!(
            refused.downcast::<InboundRefused>().unwrap(),
            InboundRefused::AddressPenalised { .. }
        ));
        assert_eq!(guard.stats().denied_penalised, 1);
        assert_eq!(guard.stats().penalised_addresses, 1);
        // … but not a known member behind it, nor a stranger next door.
        let member = PeerId::random();
        guard.set_known([member].into_iter().collect());
        connect(&mut guard, 3, member, "192.0.2.7").unwrap();
        connect(&mut guard, 4, PeerId::random(), "192.0.2.8").unwrap();
        // After the cooldown, one stranger at a time from that address.
        guard.penalised.insert(
            "192.0.2.7".parse().unwrap(),
            Instant::now() - ADDRESS_COOLDOWN,
        );
        connect(&mut guard, 5, PeerId::random(), "192.0.2.7").unwrap();
        assert!(connect(&mut guard, 6, PeerId::random(), "192.0.2.7").is_err());
        // A member banned does not penalise its address.
        guard.ban(member, Instant::now() + Duration::from_secs(600));
        assert_eq!(guard.stats().penalised_addresses, 1);
    }

    #[test]
    fn a_range_with_several_bans_is_held_to_a_few_strangers() {
        let mut guard = Guard::new(limits(16));
        for i in 0..RANGE_BANS as usize {
            let rogue = PeerId::random();
            connect(&mut guard, i, rogue, &format!("198.51.100.{i}")).unwrap();
            guard.ban(rogue, Instant::now() + Duration::from_secs(600));
            guard.release(&ConnectionId::new_unchecked(i));
        }
        for i in 0..PENALISED_RANGE_STRANGERS as usize {
            connect(
                &mut guard,
                100 + i,
                PeerId::random(),
                &format!("198.51.100.{}", 50 + i),
            )
            .unwrap();
        }
        assert!(connect(&mut guard, 200, PeerId::random(), "198.51.100.99").is_err());
        connect(&mut guard, 201, PeerId::random(), "198.51.101.1").unwrap();
    }

    #[test]
    fn configured_ban_limits_take_effect() {
        // One ban penalises the range; it then holds one stranger; no cool-down.
        let mut guard = Guard::new(GuardLimits {
            range_bans: 1,
            penalised_range_strangers: 1,
            address_cooldown: Duration::ZERO,
            ..limits(16)
        });
        let rogue = PeerId::random();
        connect(&mut guard, 0, rogue, "203.0.113.1").unwrap();
        guard.ban(rogue, Instant::now() + Duration::from_secs(600));
        guard.release(&ConnectionId::new_unchecked(0));
        connect(&mut guard, 1, PeerId::random(), "203.0.113.1").unwrap();
        assert!(connect(&mut guard, 2, PeerId::random(), "203.0.113.9").is_err());
        connect(&mut guard, 3, PeerId::random(), "203.0.114.1").unwrap();
    }

    #[test]
    fn ip_keys() {
        assert_eq!(
            ip_key(&addr("/ip4/10.1.2.3/tcp/5")),
            Some(IpAddr::from([10, 1, 2, 3]))
        );
        // One /64 is one key.
        assert_eq!(
            ip_key(&addr("/ip6/2001:db8:1:2:aaaa::1/tcp/5")),
            ip_key(&addr("/ip6/2001:db8:1:2:bbbb::9/udp/5/quic-v1"))
        );
        assert_ne!(
            ip_key(&addr("/ip6/2001:db8:1:2::1/tcp/5")),
            ip_key(&addr("/ip6/2001:db8:1:3::1/tcp/5"))
        );
        assert_eq!(
            ip_key(&addr("/ip6/::ffff:10.1.2.3/tcp/5")),
            Some(IpAddr::from([10, 1, 2, 3]))
        );
        assert_eq!(
            ip_key(&addr(
                "/ip4/10.1.2.3/tcp/5/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"
            )),
            None
        );
        assert_eq!(ip_key(&addr("/memory/5")), None);
    }

    #[test]
    fn inbound_slots_are_counted_and_released() {
        let mut guard = Guard::new(limits(2));
        let local = addr("/ip4/127.0.0.1/tcp/1");
        let from = addr("/ip4/10.0.0.1/tcp/9");
        let (a, b, c) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
            ConnectionId::new_unchecked(3),
        );
        guard
            .handle_pending_inbound_connection(a, &local, &from)
            .unwrap();
        guard
            .handle_pending_inbound_connection(b, &local, &from)
            .unwrap();
        let denied = guard
            .handle_pending_inbound_connection(c, &local, &from)
            .unwrap_err();
        let cause = denied.downcast::<IpLimitExceeded>().unwrap();
        assert_eq!(cause.limit, 2);
        // Another address is not affected.
        guard
            .handle_pending_inbound_connection(c, &local, &addr("/ip4/10.0.0.2/tcp/9"))
            .unwrap();
        assert_eq!(guard.stats().denied_per_ip, 1);
        guard.release(&a);
        guard
            .handle_pending_inbound_connection(ConnectionId::new_unchecked(4), &local, &from)
            .unwrap();
    }

    /// Opens an inbound connection from `ip` and closes it again before its handshake ends:
    /// the per-IP count is back to zero, only the handshake token stays spent.
    fn handshake(guard: &mut Guard, id: usize, ip: &str) -> Result<(), ConnectionDenied> {
        let local = addr("/ip4/127.0.0.1/tcp/1");
        let c = ConnectionId::new_unchecked(id);
        let r =
            guard.handle_pending_inbound_connection(c, &local, &addr(&format!("/ip4/{ip}/tcp/9")));
        guard.release(&c);
        r
    }

    #[test]
    fn handshakes_per_address_are_a_token_bucket() {
        // One token every 10 s, so that the real time this test takes (seconds, on a loaded
        // machine) never adds a token the test does not expect.
        let mut guard = Guard::new(GuardLimits {
            handshake_burst: 3,
            handshakes_per_minute: 6,
            ..limits(16)
        });
        for i in 0..3 {
            handshake(&mut guard, i, "10.0.0.1").unwrap();
        }
        let denied = handshake(&mut guard, 3, "10.0.0.1").unwrap_err();
        let cause = denied.downcast::<HandshakeRateExceeded>().unwrap();
        assert_eq!(
            (cause.ip, cause.burst, cause.per_minute),
            ("10.0.0.1".parse().unwrap(), 3, 6)
        );
        // A neighbour in the same /24 has its own bucket.
        handshake(&mut guard, 4, "10.0.0.2").unwrap();
        assert_eq!(guard.stats().denied_handshake_rate, 1);
        assert_eq!(guard.stats().denied_per_ip, 0);
        // One token every 10 s comes back: 15 s later, one handshake and not two.
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let b = guard.handshakes.get_mut(&ip).unwrap();
        b.at = b.at.checked_sub(Duration::from_millis(15_000)).unwrap();
        handshake(&mut guard, 5, "10.0.0.1").unwrap();
        assert!(handshake(&mut guard, 6, "10.0.0.1").is_err());
        // Never more than the burst, however long the quiet spell.
        let b = guard.handshakes.get_mut(&ip).unwrap();
        b.at = b.at.checked_sub(Duration::from_secs(3_600)).unwrap();
        for i in 7..10 {
            handshake(&mut guard, i, "10.0.0.1").unwrap();
        }
        assert!(handshake(&mut guard, 10, "10.0.0.1").is_err());
        assert_eq!(guard.stats().denied_handshake_rate, 3);
    }

    #[test]
    fn the_handshake_table_is_bounded_and_never_rescanned_per_address() {
        // One token a minute: no bucket refills while the table is filled, however slowly
        // this runs (at one a second, a loaded machine let the first thousands refill).
        let mut guard = Guard::new(GuardLimits {
            handshake_burst: 2,
            handshakes_per_minute: 1,
            ..limits(16)
        });
        let ip = |n: usize| format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255);
        for n in 0..MAX_HANDSHAKE_BUCKETS {
            handshake(&mut guard, n, &ip(n)).unwrap();
        }
        assert_eq!(guard.handshakes.len(), MAX_HANDSHAKE_BUCKETS);
        // Every bucket is refilling: a new address is admitted untracked, and the next ones
        // too without another pass until the table could have refilled.
        handshake(&mut guard, 1 << 20, &ip(MAX_HANDSHAKE_BUCKETS)).unwrap();
        assert_eq!(guard.handshakes.len(), MAX_HANDSHAKE_BUCKETS);
        assert!(guard.untracked_until.is_some());
        // A tracked address keeps its bucket meanwhile.
        handshake(&mut guard, (1 << 20) + 1, &ip(0)).unwrap();
        assert!(handshake(&mut guard, (1 << 20) + 2, &ip(0)).is_err());
        // Once the buckets are full again, they are forgotten and new addresses tracked.
        for b in guard.handshakes.values_mut() {
            b.at = b.at.checked_sub(Duration::from_secs(120)).unwrap();
        }
        guard.untracked_until = Some(Instant::now());
        handshake(&mut guard, (1 << 20) + 3, &ip(MAX_HANDSHAKE_BUCKETS + 1)).unwrap();
        assert_eq!(guard.handshakes.len(), 1);
        assert!(guard.untracked_until.is_none());
    }

    #[test]
    fn bans_expire() {
        let mut guard = Guard::new(limits(2));
        let peer = PeerId::random();
        guard.ban(peer, Instant::now() + std::time::Duration::from_secs(60));
        assert!(guard.check_banned(peer).is_err());
        guard.ban(peer, Instant::now());
        assert!(
            guard.check_banned(peer).is_err(),
            "a ban is never shortened"
        );
        guard.unban(&peer);
        assert!(guard.check_banned(peer).is_ok());
        guard.ban(peer, Instant::now());
        assert!(guard.check_banned(peer).is_ok(), "expired");
        assert_eq!(guard.stats().banned, 0);
    }

    /// Establishes an outbound connection of ours to `peer` at `ip`.
    fn dial(guard: &mut Guard, id: usize, peer: PeerId, ip: &str) {
        let to = addr(&format!("/ip4/{ip}/tcp/9"));
        let c = ConnectionId::new_unchecked(id);
        guard
            .handle_established_outbound_connection(c, peer, &to, Endpoint::Dialer, PortUse::New)
            .unwrap();
    }

    #[test]
    fn of_two_crossed_connections_both_sides_close_the_one_the_higher_id_dialled() {
        let (x, y) = (PeerId::random(), PeerId::random());
        let (low, high) = if x < y { (x, y) } else { (y, x) };
        let mut at_low = Guard::new(limits(16)).with_local_peer(low);
        let mut at_high = Guard::new(limits(16)).with_local_peer(high);
        // The same two TCP connections seen from each side: `a` dialled by the lower id,
        // `b` by the higher (connection ids are each side's own).
        dial(&mut at_low, 1, high, "127.0.0.1"); // a, ours at `low`
        connect(&mut at_high, 11, low, "127.0.0.1").unwrap(); // a, inbound at `high`
        assert!(
            evicted(&mut at_low).is_empty(),
            "one connection: nothing to close"
        );
        assert!(evicted(&mut at_high).is_empty());
        connect(&mut at_low, 2, high, "127.0.0.1").unwrap(); // b, inbound at `low`
        dial(&mut at_high, 12, low, "127.0.0.1"); // b, ours at `high`
        assert_eq!(evicted(&mut at_low), vec![ConnectionId::new_unchecked(2)]);
        assert_eq!(evicted(&mut at_high), vec![ConnectionId::new_unchecked(12)]);
        assert_eq!(at_low.stats().duplicates_closed, 1);
        // Closed (`evicted` plays the swarm's `ConnectionClosed`), `b` gives its inbound slot
        // back at `low`; `a` keeps the one it holds at `high`.
        assert_eq!(at_low.per_ip.get(&"127.0.0.1".parse().unwrap()), None);
        assert_eq!(at_high.per_ip.get(&"127.0.0.1".parse().unwrap()), Some(&1));
    }

    #[test]
    fn the_crossed_connection_is_closed_whichever_is_established_first() {
        let (x, y) = (PeerId::random(), PeerId::random());
        let (low, high) = if x < y { (x, y) } else { (y, x) };
        // At `low`, the higher id's connection arrives first, ours second: still theirs goes.
        let mut at_low = Guard::new(limits(16)).with_local_peer(low);
        connect(&mut at_low, 2, high, "127.0.0.1").unwrap();
        dial(&mut at_low, 3, high, "127.0.0.1");
        assert_eq!(evicted(&mut at_low), vec![ConnectionId::new_unchecked(2)]);
        // Without a local id (no crossing rule), nothing is closed; relayed ones never are.
        let mut plain = Guard::new(limits(16));
        connect(&mut plain, 2, high, "127.0.0.1").unwrap();
        dial(&mut plain, 3, high, "127.0.0.1");
        assert!(evicted(&mut plain).is_empty());
        let mut relayed = Guard::new(limits(16)).with_local_peer(low);
        let c = ConnectionId::new_unchecked(4);
        let circuit = addr(&format!("/ip4/10.0.0.1/tcp/1/p2p/{low}/p2p-circuit"));
        relayed
            .handle_established_inbound_connection(c, high, &addr("/ip4/127.0.0.1/tcp/1"), &circuit)
            .unwrap();
        dial(&mut relayed, 5, high, "127.0.0.1");
        assert!(
            evicted(&mut relayed).is_empty(),
            "a relayed connection and a direct one"
        );
    }
}
