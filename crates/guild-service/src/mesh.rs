//! A mesh that stays open: the connection manager.
//!
//! Every daemon keeps a *target number* of connections, between a low and a high watermark,
//! instead of connecting to every member it hears of (design.md, "A mesh that stays open"):
//!
//! - **Above the high watermark** it prunes down to the low one, least useful first: strangers
//!   before members our trust reaches, peers that sent nothing useful lately before those that
//!   did. Never pruned: our circle (collaborators, trust roots), a peer we are in the middle of
//!   a request with, and any connection younger than the grace period (a newcomer must have time
//!   to ask us where else to go). Like kubo's connection manager (low/high water, grace period).
//! - **Connections opened for something else are let go.** A connection we opened for a DHT
//!   query or one request (not a mesh dial) is a link of the mesh only while we are below the
//!   low watermark; above it, it is closed after [`TRANSIENT_GRACE`] unless something keeps it
//!   (a request in flight, our circle). Kademlia alone reaches most members a restarting node
//!   meets; held for the full grace period, those connections would take every member's
//!   inbound room at once.
//! - **Room for newcomers.** Inbound connections from one address group (an IP, an IPv6 /64)
//!   are kept a few below the network layer's hard per-address limit, so a newcomer from a
//!   crowded address is let in, told where else to go, and pruned after its grace period rather
//!   than refused before its handshake with nothing to go on.
//! - **A full member points elsewhere.** Whoever we prune first gets the addresses of other
//!   members (peer exchange, as gossipsub v1.1's PRUNE carries), so that joining through any
//!   one member works; and a member below its low watermark asks its peers for more.
//! - **Below the low watermark** it dials members from its address book (bootstrap peers,
//!   peers remembered from earlier runs, peers seen, peers heard of by exchange), a few per
//!   round, each address with its own exponential backoff and jitter.
//! - **Never silently alone.** With no connection, [`Mesh::status`] says why (nothing known to
//!   dial, or what the last dial failed with) and what to do, and the service warns in its log.
//!
//! This module owns its maps and keeps them in step in one place; it decides, the service turns
//! its decisions into effects ([`crate::Io::Dial`], [`crate::Io::Prune`], requests).

use crate::{LocalDuration, LocalTime};
use guild_core::control::{MeshState, MeshStatus};
use guild_core::wire::{PeerAddrs, MAX_EXCHANGE_ADDRS, MAX_EXCHANGE_ADDR_LEN, MAX_EXCHANGE_PEERS};
use guild_core::PublicKey;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Default low watermark: below it the node dials more members. Enough for a gossip mesh of
/// degree 6–12 on each topic with room to spare, and for sync with several peers.
pub const DEFAULT_LOW: usize = 16;
/// Default high watermark: above it the node prunes down to [`DEFAULT_LOW`]. Far below the
/// network layer's hard limits (256 in total, 192 inbound), which stay a flood's backstop;
/// at 10^4 members a degree of 16–32 keeps gossip within four or five hops.
pub const DEFAULT_HIGH: usize = 32;
/// How long a new connection is never pruned: time for a newcomer to ask where else to go,
/// and for a first sync.
pub const GRACE: LocalDuration = LocalDuration::from_millis(20_000);
/// The grace period of a connection we opened for something other than the mesh (a DHT
/// query, one request to a member we are not connected to): long enough for the query or
/// request it was opened for, after which, above the low watermark, it is closed.
pub const TRANSIENT_GRACE: LocalDuration = LocalDuration::from_millis(10_000);
/// How often the mesh is looked after (dials below the low mark, trims above the high one).
pub const ROUND: LocalDuration = LocalDuration::from_millis(5_000);
/// Least time between two rounds brought forward by connections over the high mark: a flood
/// of new connections is looked at a batch at a time, not one round per connection.
pub const MIN_ROUND_GAP: LocalDuration = LocalDuration::from_millis(100);
/// How soon the mesh is looked after when a connection crowds its address group.
pub const CROWDED_ROUND: LocalDuration = LocalDuration::from_millis(500);
/// First wait before an address that failed is dialled again; doubled per failure.
pub const FIRST_BACKOFF: LocalDuration = LocalDuration::from_millis(2_000);
/// Longest wait between two dials of one address: a lone node keeps trying its bootstrap
/// peers at least this often.
pub const MAX_BACKOFF: LocalDuration = LocalDuration::from_millis(60_000);
/// How long a member that pruned us is not dialled again (gossipsub v1.1's prune backoff is a
/// minute): it is full, and it told us where else to go.
pub const PRUNE_BACKOFF: LocalDuration = LocalDuration::from_millis(2 * 60_000);
/// Members dialled per round at most (so a node below its mark does not burst).
pub const DIALS_PER_ROUND: usize = 4;
/// Dials in flight at most.
pub const MAX_DIALING: usize = 8;
/// Least time between two peer-exchange requests of ours.
pub const EXCHANGE_INTERVAL: LocalDuration = LocalDuration::from_millis(15_000);
/// Members in the address book at most.
pub const MAX_BOOK: usize = 2048;
/// Entries heard of by exchange at most (the rest of the book is what we saw ourselves).
pub const MAX_EXCHANGED: usize = MAX_BOOK / 2;
/// Entries heard of from strangers at most: the rest of [`MAX_EXCHANGED`] stays for what
/// members tell us, however many keys strangers mint.
pub const MAX_EXCHANGED_FROM_STRANGERS: usize = MAX_EXCHANGED / 2;
/// Entries one peer's exchanges may hold in our book at once.
pub const MAX_EXCHANGED_PER_PEER: usize = 4 * MAX_EXCHANGE_PEERS;
/// Failures after which an address heard of by exchange is forgotten.
pub const MAX_EXCHANGE_FAILURES: u32 = 4;
/// A connection shorter than this counts as a refusal (a full member that accepts the
/// handshake and closes at once) rather than as being connected.
pub const SETTLE: LocalDuration = LocalDuration::from_millis(3_000);
/// How long a node may be alone before it warns (start-up dials need a moment).
pub const ALONE_WARN_AFTER: LocalDuration = LocalDuration::from_millis(10_000);
/// Least time between two warnings while alone.
pub const ALONE_WARN_EVERY: LocalDuration = LocalDuration::from_millis(60_000);

/// The watermarks and the room kept for newcomers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshConfig {
    /// Below this many connections, dial more.
    pub low: usize,
    /// Above this many, prune down to `low`.
    pub high: usize,
    /// New connections are never pruned for this long.
    pub grace: LocalDuration,
    /// Inbound connections kept from one address group; the network layer refuses past its
    /// hard per-address limit, so this keeps room under it for newcomers.
    pub inbound_per_group: usize,
}

impl Default for MeshConfig {
    fn default() -> MeshConfig {
        MeshConfig::with_per_address_limit(DEFAULT_LOW, DEFAULT_HIGH, 16)
    }
}

impl MeshConfig {
    /// Watermarks, keeping a quarter of the network layer's per-address limit (at least 2)
    /// free for newcomers.
    pub fn with_per_address_limit(low: usize, high: usize, per_address: u32) -> MeshConfig {
        let per_address = per_address as usize;
        let room = (per_address / 4).max(2);
        MeshConfig {
            low,
            high: high.max(low),
            grace: GRACE,
            inbound_per_group: per_address.saturating_sub(room).max(1),
        }
    }
}

/// How a connection reached us, as the network layer saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    /// They dialled us.
    pub inbound: bool,
    /// The address group it counts under (IP, IPv6 /64); `None` for relayed connections.
    pub group: Option<String>,
}

/// Where an address book entry came from. Ordered by how much it is worth keeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Another peer told us (peer exchange).
    Exchange,
    /// The peer told us itself (identify) while connected.
    Identified,
    /// Remembered from an earlier run.
    Remembered,
    /// Configured bootstrap peer: always kept.
    Bootstrap,
}

#[derive(Debug)]
struct Known {
    addrs: Vec<String>,
    source: Source,
    /// Who told us, for entries heard of by exchange.
    from: Option<PublicKey>,
    learned: LocalTime,
    failures: u32,
    next_try: LocalTime,
}

#[derive(Debug)]
struct Conn {
    since: LocalTime,
    /// We dialled it for the mesh (a refusal then backs the address off).
    ours: bool,
    /// To a configured bootstrap peer.
    bootstrap: bool,
    link: Link,
    /// When it last sent us a record we took.
    useful: LocalTime,
}

impl Conn {
    /// Opened by us for something other than the mesh: a DHT query, a request to a member we
    /// were not connected to. Such a connection is a link of the mesh only while we are below
    /// the low watermark; above it, it is closed once its (shorter) grace period is over.
    fn transient(&self) -> bool {
        !self.ours && !self.bootstrap && !self.link.inbound
    }
}

/// What one round decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Members to dial, with their addresses.
    pub dial: Vec<(PublicKey, Vec<String>)>,
    /// Connections to prune (told where else to go first).
    pub prune: Vec<PublicKey>,
    /// A peer to ask for more addresses.
    pub ask: Option<PublicKey>,
    /// A warning for the log, when alone for a while.
    pub warn: Option<String>,
    /// The node was alone and now has a lasting connection: what it published meanwhile
    /// reached nobody.
    pub rejoined: bool,
}

/// The connection manager's state. See the module docs.
#[derive(Debug)]
pub(crate) struct Mesh {
    cfg: MeshConfig,
    conns: BTreeMap<PublicKey, Conn>,
    /// `(since + SETTLE, peer)` of every connection (kept in step with `conns`): when each
    /// settles, in order, so the next wake-up is found without walking the connections.
    settling: BTreeSet<(LocalTime, PublicKey)>,
    /// Inbound connections per address group (kept in step with `conns`).
    inbound: HashMap<String, usize>,
    book: HashMap<PublicKey, Known>,
    /// `(next_try, peer)` of every book entry: the dial candidates in order.
    due: BTreeSet<(LocalTime, PublicKey)>,
    /// `(source, learned, peer)` of every book entry: the eviction order.
    evict: BTreeSet<(Source, LocalTime, PublicKey)>,
    /// Book entries heard of by exchange, in total and per peer that told us.
    exchanged: usize,
    exchanged_from: HashMap<PublicKey, usize>,
    /// Of those, the entries strangers told us.
    from_strangers: std::collections::HashSet<PublicKey>,
    /// Dials in flight, since when.
    dialing: HashMap<PublicKey, LocalTime>,
    pub(crate) next_round: LocalTime,
    /// When the last round ran.
    last_round: Option<LocalTime>,
    next_ask: LocalTime,
    alone_since: Option<LocalTime>,
    warned_at: Option<LocalTime>,
    last_failure: Option<String>,
}

impl Mesh {
    pub(crate) fn new(cfg: MeshConfig, now: LocalTime) -> Mesh {
        Mesh {
            cfg,
            conns: BTreeMap::new(),
            settling: BTreeSet::new(),
            inbound: HashMap::new(),
            book: HashMap::new(),
            due: BTreeSet::new(),
            evict: BTreeSet::new(),
            exchanged: 0,
            exchanged_from: HashMap::new(),
            from_strangers: std::collections::HashSet::new(),
            dialing: HashMap::new(),
            next_round: now,
            last_round: None,
            next_ask: now,
            alone_since: Some(now),
            warned_at: None,
            last_failure: None,
        }
    }

    /// When the mesh next needs a tick: its next round, or sooner a connection settling (which
    /// changes the status shown by `status` and the dashboard without any input).
    pub(crate) fn next_due(&self, now: LocalTime) -> LocalTime {
        use std::ops::Bound::{Excluded, Unbounded};
        self.settling
            .range((Excluded((now, PublicKey([0xff; 32]))), Unbounded))
            .next()
            .map_or(self.next_round, |(t, _)| self.next_round.min(*t))
    }

    /// The soonest a round may run after a connection took the mesh over its high mark: now,
    /// or [`MIN_ROUND_GAP`] after the last round.
    pub(crate) fn soonest_round(&self, now: LocalTime) -> LocalTime {
        self.last_round
            .map_or(now, |last| now.max(last + MIN_ROUND_GAP))
    }

    pub(crate) fn config(&self) -> &MeshConfig {
        &self.cfg
    }

    /// Connected peers.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    // --- the address book --------------------------------------------------------------------

    /// Learns where a member can be dialled. Addresses are checked for shape and size only
    /// (the network layer parses them when dialling). Exchanged entries are bounded in total
    /// and per peer that told us; anything else pushes out the least worth keeping when full.
    pub(crate) fn learn(
        &mut self,
        peer: PublicKey,
        addrs: &[String],
        source: Source,
        from: Option<PublicKey>,
        now: LocalTime,
    ) -> bool {
        self.learn_from(peer, addrs, source, from, false, now)
    }

    /// [`Mesh::learn`], saying whether the teller (`from`) is a stranger: hearsay from
    /// strangers is bounded in total as well ([`MAX_EXCHANGED_FROM_STRANGERS`]).
    pub(crate) fn learn_from(
        &mut self,
        peer: PublicKey,
        addrs: &[String],
        source: Source,
        from: Option<PublicKey>,
        stranger: bool,
        now: LocalTime,
    ) -> bool {
        let addrs: Vec<String> = addrs
            .iter()
            .filter(|a| a.starts_with('/') && a.len() <= MAX_EXCHANGE_ADDR_LEN)
            .take(MAX_EXCHANGE_ADDRS)
            .cloned()
            .collect();
        if addrs.is_empty() {
            return false;
        }
        if let Some(k) = self.book.get_mut(&peer) {
            if source >= k.source {
                k.addrs = addrs;
                if source > k.source {
                    self.evict.remove(&(k.source, k.learned, peer));
                    if k.source == Source::Exchange {
                        Self::unexchange(&mut self.exchanged, &mut self.exchanged_from, k.from);
                        self.from_strangers.remove(&peer);
                    }
                    k.source = source;
                    k.from = None;
                    self.evict.insert((k.source, k.learned, peer));
                }
            }
            return true;
        }
        if source == Source::Exchange {
            let Some(teller) = from else {
                return false;
            };
            let told = self.exchanged_from.get(&teller).copied().unwrap_or(0);
            if self.exchanged >= MAX_EXCHANGED
                || told >= MAX_EXCHANGED_PER_PEER
                || (stranger && self.from_strangers.len() >= MAX_EXCHANGED_FROM_STRANGERS)
            {
                return false;
            }
        }
        if self.book.len() >= MAX_BOOK {
            let Some(&(worst, _, victim)) = self.evict.iter().next() else {
                return false;
            };
            if worst > source || worst == Source::Bootstrap {
                return false;
            }
            self.forget(&victim);
        }
        let from = if source == Source::Exchange {
            from
        } else {
            None
        };
        if let Some(teller) = from {
            self.exchanged += 1;
            *self.exchanged_from.entry(teller).or_default() += 1;
            if stranger {
                self.from_strangers.insert(peer);
            }
        }
        self.due.insert((now, peer));
        self.evict.insert((source, now, peer));
        self.book.insert(
            peer,
            Known {
                addrs,
                source,
                from,
                learned: now,
                failures: 0,
                next_try: now,
            },
        );
        true
    }

    fn unexchange(
        exchanged: &mut usize,
        exchanged_from: &mut HashMap<PublicKey, usize>,
        from: Option<PublicKey>,
    ) {
        if let Some(teller) = from {
            *exchanged = exchanged.saturating_sub(1);
            if let Some(n) = exchanged_from.get_mut(&teller) {
                *n -= 1;
                if *n == 0 {
                    exchanged_from.remove(&teller);
                }
            }
        }
    }

    /// Removes a book entry and its index entries.
    fn forget(&mut self, peer: &PublicKey) {
        if let Some(k) = self.book.remove(peer) {
            self.due.remove(&(k.next_try, *peer));
            self.evict.remove(&(k.source, k.learned, *peer));
            if k.source == Source::Exchange {
                Self::unexchange(&mut self.exchanged, &mut self.exchanged_from, k.from);
                self.from_strangers.remove(peer);
            }
        }
    }

    /// Up to [`MAX_EXCHANGE_PEERS`] members to hand `to`: connected peers first (they are up),
    /// then others from the book, in an order `salt` scrambles so that not every newcomer is
    /// sent to the same members.
    pub(crate) fn exchange(&self, to: &PublicKey, salt: u64) -> Vec<PeerAddrs> {
        let pick = |peer: &PublicKey| -> Option<PeerAddrs> {
            if peer == to {
                return None;
            }
            let k = self.book.get(peer)?;
            (k.source != Source::Exchange || self.conns.contains_key(peer)).then(|| PeerAddrs {
                peer: *peer,
                addrs: k.addrs.clone(),
            })
        };
        let mut connected: Vec<PeerAddrs> = self.conns.keys().filter_map(pick).collect();
        connected.sort_by_key(|p| scramble(&p.peer, salt));
        connected.truncate(MAX_EXCHANGE_PEERS);
        if connected.len() < MAX_EXCHANGE_PEERS {
            let mut others: Vec<PeerAddrs> = self
                .evict
                .iter()
                .rev()
                .take(4 * MAX_EXCHANGE_PEERS)
                .filter(|(_, _, p)| !self.conns.contains_key(p))
                .filter_map(|(_, _, p)| pick(p))
                .collect();
            others.sort_by_key(|p| scramble(&p.peer, salt));
            let room = MAX_EXCHANGE_PEERS - connected.len();
            connected.extend(others.into_iter().take(room));
        }
        connected
    }

    // --- connections -------------------------------------------------------------------------

    pub(crate) fn connected(&mut self, peer: PublicKey, link: Link, now: LocalTime) {
        let ours = self.dialing.remove(&peer).is_some();
        // A configured bootstrap peer we reached is a link of the mesh whoever dialled it (the
        // network layer dials them at start, before the first round); only a refusal by it
        // within `SETTLE` of a mesh dial backs it off, as before.
        let bootstrap = self
            .book
            .get(&peer)
            .is_some_and(|k| k.source == Source::Bootstrap);
        tracing::debug!(
            %peer,
            inbound = link.inbound,
            ours,
            peers = self.conns.len() + 1,
            "connection opened"
        );
        if let Some(old) = self.conns.remove(&peer) {
            self.settling.remove(&(old.since + SETTLE, peer));
            self.uncount(&old.link);
        }
        if link.inbound {
            if let Some(g) = &link.group {
                let n = self.inbound.entry(g.clone()).or_default();
                *n += 1;
                if *n > self.cfg.inbound_per_group {
                    // Hand the newcomer on soon (after the sync it starts, which keeps it).
                    self.next_round = self.next_round.min(now + CROWDED_ROUND);
                }
            }
        }
        self.settling.insert((now + SETTLE, peer));
        self.conns.insert(
            peer,
            Conn {
                since: now,
                ours,
                bootstrap,
                link,
                useful: LocalTime::default(),
            },
        );
    }

    /// A connection closed. One that closed before it settled is a refusal: when we dialled
    /// it for the mesh, the address backs off as after a failed dial (`jitter`, a random value,
    /// spreads the retries); other dials (the DHT's) only leave the reason for the status.
    pub(crate) fn disconnected(&mut self, peer: &PublicKey, jitter: u64, now: LocalTime) {
        if let Some(old) = self.conns.remove(peer) {
            self.settling.remove(&(old.since + SETTLE, *peer));
            self.uncount(&old.link);
            if now < old.since + SETTLE {
                let why = "the member closed the connection at once (it may be full)";
                if old.ours {
                    self.dial_failed(peer, why, jitter, now);
                } else {
                    self.last_failure = Some(why.to_string());
                }
            }
        }
        if self.conns.is_empty() && self.alone_since.is_none() {
            self.alone_since = Some(now);
        }
        // Lost a connection below the mark: look after the mesh soon.
        if self.conns.len() < self.cfg.low {
            self.next_round = self.next_round.min(now + LocalDuration::from_secs(1));
        }
    }

    fn uncount(&mut self, link: &Link) {
        if !link.inbound {
            return;
        }
        if let Some(g) = &link.group {
            if let Some(n) = self.inbound.get_mut(g) {
                *n -= 1;
                if *n == 0 {
                    self.inbound.remove(g);
                }
            }
        }
    }

    /// The address group of a connected peer's connection (IP, IPv6 /64), if known.
    pub(crate) fn group_of(&self, peer: &PublicKey) -> Option<&str> {
        self.conns.get(peer)?.link.group.as_deref()
    }

    /// A connected peer sent a record we took.
    pub(crate) fn useful(&mut self, peer: &PublicKey, now: LocalTime) {
        if let Some(c) = self.conns.get_mut(peer) {
            c.useful = now;
        }
    }

    /// A dial we asked for failed.
    pub(crate) fn dial_failed(
        &mut self,
        peer: &PublicKey,
        reason: &str,
        jitter: u64,
        now: LocalTime,
    ) {
        self.dialing.remove(peer);
        self.last_failure = Some(reason.to_string());
        let Some(k) = self.book.get_mut(peer) else {
            return;
        };
        k.failures += 1;
        if k.source == Source::Exchange && k.failures >= MAX_EXCHANGE_FAILURES {
            self.forget(peer);
            return;
        }
        let wait = backoff(k.failures, jitter);
        self.due.remove(&(k.next_try, *peer));
        k.next_try = now + wait;
        self.due.insert((k.next_try, *peer));
    }

    /// A member told us it is full (`Elsewhere`) before pruning us: not dialled again for
    /// [`PRUNE_BACKOFF`].
    pub(crate) fn pruned_by(&mut self, peer: &PublicKey, now: LocalTime) {
        if let Some(k) = self.book.get_mut(peer) {
            self.due.remove(&(k.next_try, *peer));
            k.next_try = k.next_try.max(now + PRUNE_BACKOFF);
            self.due.insert((k.next_try, *peer));
        }
    }

    /// Whether the peer was dialled by us and the dial is still in flight.
    pub(crate) fn is_dialing(&self, peer: &PublicKey) -> bool {
        self.dialing.contains_key(peer)
    }

    // --- the round ---------------------------------------------------------------------------

    /// Looks after the mesh: which members to dial, which connections to prune, whom to ask
    /// for more addresses. `rank` orders connections by worth (higher is kept longer);
    /// `keep` says which must never be pruned (our circle, peers mid-request).
    pub(crate) fn round(
        &mut self,
        now: LocalTime,
        salt: u64,
        rank: impl Fn(&PublicKey) -> u8,
        keep: impl Fn(&PublicKey) -> bool,
    ) -> Plan {
        self.next_round = now + ROUND;
        self.last_round = Some(now);
        // Dials that never reported back (the network layer bounds them) are forgotten.
        self.dialing
            .retain(|_, since| *since + LocalDuration::from_secs(60) > now);
        // Links that lasted clear their addresses' failures, and end being alone.
        let mut rejoined = false;
        for (peer, c) in &self.conns {
            if now >= c.since + SETTLE {
                if let Some(k) = self.book.get_mut(peer) {
                    k.failures = 0;
                }
                rejoined |= self.alone_since.take().is_some();
                self.warned_at = None;
            }
        }
        let mut plan = Plan {
            prune: self.prunable(now, &rank, &keep),
            rejoined,
            ..Plan::default()
        };
        let have = self.conns.len().saturating_sub(plan.prune.len());
        if have < self.cfg.low {
            let want = (self.cfg.low - have)
                .min(DIALS_PER_ROUND)
                .min(MAX_DIALING.saturating_sub(self.dialing.len()));
            plan.dial = self.candidates(now, want, salt);
            for (peer, _) in &plan.dial {
                self.dialing.insert(*peer, now);
                // Not a candidate again until it reports or the backoff passes.
                if let Some(k) = self.book.get_mut(peer) {
                    self.due.remove(&(k.next_try, *peer));
                    k.next_try = now + backoff(k.failures.max(1), 0);
                    self.due.insert((k.next_try, *peer));
                }
            }
            if plan.dial.len() < want && !self.conns.is_empty() && now >= self.next_ask {
                let i = (salt as usize) % self.conns.len();
                plan.ask = self.conns.keys().nth(i).copied();
                self.next_ask = now + EXCHANGE_INTERVAL;
            }
        }
        if let Some(since) = self.alone_since {
            let due = self
                .warned_at
                .map_or(now >= since + ALONE_WARN_AFTER, |at| {
                    now >= at + ALONE_WARN_EVERY
                });
            if due {
                self.warned_at = Some(now);
                plan.warn = self.status(now).reason;
            }
        }
        plan
    }

    /// Connections to prune now: above the high watermark down to the low one, and inbound
    /// connections of a crowded address group down to its share; least worth first.
    fn prunable(
        &self,
        now: LocalTime,
        rank: &impl Fn(&PublicKey) -> u8,
        keep: &impl Fn(&PublicKey) -> bool,
    ) -> Vec<PublicKey> {
        // Above the high mark, connections in their grace period neither count nor go: a burst
        // of newcomers never pushes out settled links, and each newcomer, once settled, is the
        // newest and moves on first (with the addresses we hand it) if we are still full.
        let settled = |c: &Conn| now >= c.since + self.grace_of(c);
        let settled_count = self.conns.values().filter(|c| settled(c)).count();
        let over_high = settled_count > self.cfg.high;
        let crowded: Vec<&String> = self
            .inbound
            .iter()
            .filter(|(_, n)| **n > self.cfg.inbound_per_group)
            .map(|(g, _)| g)
            .collect();
        // Connections opened for a DHT query or one request, settled, while more than the low
        // mark have settled: the mesh does not need them, and each holds one of the other
        // member's inbound slots (a newcomer's way in). Kademlia alone opens one to most
        // members a restarting node meets (about 200 in its first minute in a community of
        // 100). Newcomers in their grace period do not count, as above.
        let transient = settled_count > self.cfg.low
            && self.conns.values().any(|c| c.transient() && settled(c));
        if !over_high && crowded.is_empty() && !transient {
            return vec![];
        }
        // Least worth first: lowest tier, then nothing useful for longest, then the newest.
        let mut candidates: Vec<(u8, LocalTime, std::cmp::Reverse<LocalTime>, PublicKey)> = self
            .conns
            .iter()
            .filter(|(p, _)| !keep(p))
            .map(|(p, c)| (rank(p), c.useful, std::cmp::Reverse(c.since), *p))
            .collect();
        candidates.sort();
        let mut out = Vec::new();
        // A crowded address group is relieved at once, grace or not: the room kept under the
        // network layer's per-address limit is for handing newcomers on, and the newest,
        // having sent nothing yet, is the one handed on (with the addresses we give it).
        let mut group_excess: HashMap<&String, usize> = crowded
            .iter()
            .map(|g| (*g, self.inbound[*g] - self.cfg.inbound_per_group))
            .collect();
        for (_, _, _, p) in &candidates {
            let c = &self.conns[p];
            let Some(g) = c.link.group.as_ref().filter(|_| c.link.inbound) else {
                continue;
            };
            if let Some(n) = group_excess.get_mut(g).filter(|n| **n > 0) {
                *n -= 1;
                out.push(*p);
            }
        }
        if over_high {
            let excess = settled_count - self.cfg.low;
            for (_, _, _, p) in &candidates {
                if out.len() >= excess {
                    break;
                }
                if settled(&self.conns[p]) && !out.contains(p) {
                    out.push(*p);
                }
            }
        }
        if transient {
            let excess = settled_count - self.cfg.low;
            for (_, _, _, p) in &candidates {
                if out.len() >= excess {
                    break;
                }
                let c = &self.conns[p];
                if c.transient() && settled(c) && !out.contains(p) {
                    out.push(*p);
                }
            }
        }
        out
    }

    /// How long a connection is never pruned: [`MeshConfig::grace`], or at most
    /// [`TRANSIENT_GRACE`] for one we opened for something other than the mesh.
    fn grace_of(&self, c: &Conn) -> LocalDuration {
        if c.transient() {
            self.cfg.grace.min(TRANSIENT_GRACE)
        } else {
            self.cfg.grace
        }
    }

    /// Up to `want` members to dial: due, not connected, not being dialled, in an order `salt`
    /// scrambles so that members spread over the community. Alone, configured bootstrap peers
    /// come first (they are how one gets in); once connected they come last, so that a
    /// community does not keep leaning on its first members, who would then have no room for
    /// newcomers. Members we saw ourselves come before those we only heard of (which strangers
    /// can make up).
    fn candidates(&self, now: LocalTime, want: usize, salt: u64) -> Vec<(PublicKey, Vec<String>)> {
        if want == 0 {
            return vec![];
        }
        let alone = self.conns.is_empty();
        let order = |s: Source| -> u8 {
            match s {
                Source::Bootstrap if alone => 0,
                Source::Bootstrap => 4,
                Source::Remembered => 1,
                Source::Identified => 2,
                Source::Exchange => 3,
            }
        };
        let mut seen: Vec<(&PublicKey, &Known)> = self
            .due
            .iter()
            .take_while(|(t, _)| *t <= now)
            .filter(|(_, p)| !self.conns.contains_key(p) && !self.dialing.contains_key(p))
            .filter_map(|(_, p)| self.book.get(p).map(|k| (p, k)))
            .take(64 * want)
            .collect();
        seen.sort_by_key(|(p, k)| (order(k.source), scramble(p, salt)));
        seen.into_iter()
            .take(want)
            .map(|(p, k)| (*p, k.addrs.clone()))
            .collect()
    }

    /// Where the node stands with its community, in words a user can act on.
    pub(crate) fn status(&self, now: LocalTime) -> MeshStatus {
        let peers = self.conns.len();
        let settled = self.conns.values().any(|c| now >= c.since + SETTLE);
        let (state, reason) = if !settled {
            let reason = if self.book.is_empty() {
                "no other member is known to dial: add a bootstrap peer (`network.bootstrap` in \
                 the config), or run `guild connect <multiaddr>` with a member's address"
                    .to_string()
            } else {
                let next = self
                    .due
                    .iter()
                    .next()
                    .map_or(0, |(t, _)| (*t - now).as_millis() / 1000);
                match &self.last_failure {
                    Some(e) => format!(
                        "none of the {} known members could be reached (last error: {e}); \
                         retrying, next in {next} s; check this machine's network, or ask a \
                         member for a fresh address",
                        self.book.len()
                    ),
                    None => format!(
                        "dialling the {} known members; next try in {next} s",
                        self.book.len()
                    ),
                }
            };
            let state = if self
                .alone_since
                .is_some_and(|s| now >= s + ALONE_WARN_AFTER)
            {
                MeshState::Alone
            } else {
                MeshState::Connecting
            };
            (state, Some(reason))
        } else if peers < self.cfg.low {
            (MeshState::Thin, None)
        } else {
            (MeshState::Connected, None)
        };
        MeshStatus {
            state,
            peers,
            settling: self
                .conns
                .values()
                .filter(|c| now < c.since + self.grace_of(c))
                .count(),
            low: self.cfg.low,
            high: self.cfg.high,
            known: self.book.len(),
            reason,
        }
    }
}

impl<S: crate::Storage> crate::Service<S> {
    /// One round of the connection manager (see the module docs), turned into effects.
    pub(crate) fn mesh_round(&mut self, now: LocalTime) {
        let standing = self.standing();
        let busy = self.busy_peers();
        let salt = self.random_u64();
        let plan = self.mesh.round(
            now,
            salt,
            |p| standing.tier(p) as u8,
            |p| standing.tier(p) == crate::admission::Tier::Circle || busy.contains(p),
        );
        for peer in plan.prune {
            let elsewhere = self.mesh.exchange(&peer, salt);
            tracing::debug!(%peer, "pruning a connection ({} members suggested)", elsewhere.len());
            self.stats.mesh_pruned.inc();
            self.outbox.push(crate::Io::Prune { peer, elsewhere });
        }
        for (peer, addrs) in plan.dial {
            tracing::debug!(%peer, peers = self.mesh.len(), "dialling a member");
            self.stats.mesh_dials.inc();
            self.outbox.push(crate::Io::Dial { peer, addrs });
        }
        if let Some(peer) = plan.ask {
            self.ask_for_peers(peer);
        }
        if let Some(why) = plan.warn {
            tracing::warn!("not connected to the community: {why}");
        }
        if plan.rejoined && self.own.unheard {
            // Our profile went out while we were alone (at start, say), so it reached our
            // first peers only by their sync pulls, and a record that arrives by sync is not
            // gossiped on: sign a new version, which gossip carries to everyone.
            self.republish(now.as_millis());
        }
    }

    /// A dial the mesh asked for failed (the network layer's reason, for the status).
    pub fn dial_failed(&mut self, peer: PublicKey, reason: &str, now: impl Into<crate::LocalTime>) {
        let now = self.enter(now);
        let jitter = self.random_u64();
        if self.mesh.is_dialing(&peer) {
            self.stats.mesh_dial_failures.inc();
        }
        self.mesh.dial_failed(&peer, reason, jitter, now);
    }

    /// How this node stands with its community's mesh (`status`, the dashboard).
    pub fn mesh_status(&self, now: impl Into<crate::LocalTime>) -> MeshStatus {
        self.mesh.status(now.into())
    }

    /// Members a peer suggested (an answer to our `Peers`, or its `Elsewhere` before pruning
    /// us): into the address book, bounded per peer; dialled soon if we are below our mark.
    pub(crate) fn suggested(&mut self, from: PublicKey, peers: Vec<PeerAddrs>, now: LocalTime) {
        let stranger = self.tier_of(&from) == crate::admission::Tier::Stranger;
        for p in peers.into_iter().take(MAX_EXCHANGE_PEERS) {
            if p.peer != self.me {
                self.mesh.learn_from(
                    p.peer,
                    &p.addrs,
                    Source::Exchange,
                    Some(from),
                    stranger,
                    now,
                );
            }
        }
        if self.mesh.len() < self.mesh.config().low {
            self.mesh.next_round = self.mesh.next_round.min(now);
        }
    }
}

/// The wait before dialling an address again after `failures` failures: doubling from
/// [`FIRST_BACKOFF`], at most [`MAX_BACKOFF`], plus up to a quarter of it as jitter (from
/// `jitter`, a random value), so that members refused together do not retry together.
pub(crate) fn backoff(failures: u32, jitter: u64) -> LocalDuration {
    let base = FIRST_BACKOFF
        .as_millis()
        .saturating_mul(1 << failures.saturating_sub(1).min(20))
        .min(MAX_BACKOFF.as_millis());
    LocalDuration::from_millis(base + jitter % (base / 4 + 1))
}

/// A per-round order of peers that differs between nodes and rounds.
fn scramble(peer: &PublicKey, salt: u64) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&peer.0[..8]);
    (u64::from_le_bytes(b) ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests;
