//! The admission policy: what one peer or one signer may make this node accept, store, compute
//! or send, per inbound path — one table, in one place, scaled by this node's own trust.
//!
//! Every input is admitted against the sender's [`Tier`]:
//!
//! - a **stranger** (no trust path from us, no shared collaboration, not a trust root) gets a
//!   small constant budget: a fresh key buys nothing;
//! - a **member** — someone our personalised trust reaches (a positive score) — gets about ten
//!   times as much;
//! - our **circle** (us, our collaborators, our trust roots and the members we trust most, at
//!   least half the top score) gets the most.
//!
//! Budgets are token buckets ([`RateLimiter`]) for rates, and [`Quota`]s of records and bytes
//! stored per signer and kind. What all strangers together may have stored per kind is bounded
//! too ([`STRANGER_POOL`]): past it the oldest stranger's record of that kind goes first; our own
//! records, our collaborators' and members' are never evicted by a stranger's. The table is
//! written out in `docs/protocol.md` ("Admission budgets").

use super::io::Millis;
use super::Service;
use crate::state::{HashMap, HashSet};
use crate::Storage;
use crate::{LocalDuration, LocalTime};
use guild_core::{PublicKey, RecordId, RecordKind, UnixTime};
use std::collections::BTreeSet;
use std::sync::Arc;

/// How much this node trusts a signer, for budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// No trust path from us, no shared collaboration.
    Stranger = 0,
    /// Our personalised trust reaches them (positive score).
    Member = 1,
    /// Us, our collaborators, our trust roots and the members we trust most.
    Circle = 2,
}

impl Tier {
    /// Lower-case name, for messages and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Tier::Stranger => "stranger",
            Tier::Member => "member",
            Tier::Circle => "circle",
        }
    }
}

/// One budget per tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiered<T> {
    /// For strangers.
    pub stranger: T,
    /// For members our trust reaches.
    pub member: T,
    /// For our circle.
    pub circle: T,
}

impl<T: Copy> Tiered<T> {
    /// The budget of one tier.
    pub const fn of(&self, tier: Tier) -> T {
        match tier {
            Tier::Stranger => self.stranger,
            Tier::Member => self.member,
            Tier::Circle => self.circle,
        }
    }
}

const fn tiered<T: Copy>(stranger: T, member: T, circle: T) -> Tiered<T> {
    Tiered {
        stranger,
        member,
        circle,
    }
}

/// Records and bytes one signer may have stored here of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Records.
    pub count: u32,
    /// Encoded bytes.
    pub bytes: u64,
}

const fn quota(count: u32, kib: u64) -> Quota {
    Quota {
        count,
        bytes: kib * 1024,
    }
}

// ---- Rates (token buckets: the count per window, in a burst of up to the same) ----

/// Direct messages per sender per hour.
pub const MESSAGES_PER_HOUR: Tiered<u32> = tiered(20, 200, 2_000);
/// Needs per signer per day (gossip and sync).
pub const NEEDS_PER_DAY: Tiered<u32> = tiered(4, 48, 480);
/// Profile versions per signer per hour. A daemon republishes twice a day, but a newcomer
/// setting up their profile makes a burst of edits (name, then one skill at a time): a stranger
/// may make two dozen at once. A version past the budget is not lost: the next sync fetches
/// the newest once the bucket refills. Each version replaces the last, so storage does not grow.
pub const PROFILES_PER_HOUR: Tiered<u32> = tiered(24, 60, 240);
/// Peer exchanges (a `Peers` question or an `Elsewhere` hint) per peer per minute. A member
/// below its watermark asks every 15 s at most; a pruning member tells once per prune.
pub const EXCHANGES_PER_MINUTE: Tiered<u32> = tiered(6, 12, 30);
/// Peer exchanges from all strangers together per minute: minted keys each within their own
/// budget cannot add up to more; members' exchanges are not counted here.
pub const STRANGER_EXCHANGES_PER_MINUTE: u32 = 60;
/// Attestations per issuer per minute.
pub const ATTESTATIONS_PER_MINUTE: Tiered<u32> = tiered(10, 60, 600);
/// Collaboration log entries per author per hour (authors are members of a collaboration with
/// us, so usually in our circle).
pub const ENTRIES_PER_HOUR: Tiered<u32> = tiered(60, 600, 3_600);
/// `need.matched` events raised per hour for needs by strangers, all strangers together (the
/// needs are still stored and listed; only the alert is spared). Shared fairly: see
/// [`crate::alerts`] for the share of one source and of one signer.
pub const STRANGER_MATCHED_PER_HOUR: u32 = 6;
/// Sync requests per peer per minute.
pub const SYNC_REQUESTS_PER_MINUTE: Tiered<u32> = tiered(60, 120, 600);
/// Keys a peer's sync requests may make us walk per minute (a request's ranges must be sorted
/// and disjoint, so one request walks each key at most once).
pub const SYNC_KEYS_PER_MINUTE: Tiered<u32> = tiered(200_000, 1_000_000, 10_000_000);
/// Ids a peer may fetch per minute.
pub const FETCH_IDS_PER_MINUTE: Tiered<u32> = tiered(4_096, 16_384, 131_072);
/// `Proof` requests per peer per minute.
pub const PROOFS_PER_MINUTE: Tiered<u32> = tiered(20, 120, 600);

// ---- Counts held at once ----

/// Offers one sender may make on one need.
pub const OFFERS_PER_NEED: Tiered<usize> = tiered(3, 8, 32);
/// Offers on one of our needs from all strangers together (each also within
/// [`OFFERS_PER_NEED`]).
pub const STRANGER_OFFERS_PER_NEED: usize = 12;
/// Invitations one inviter may have waiting for our answer.
pub const PENDING_INVITATIONS: Tiered<usize> = tiered(1, 16, 64);
/// Invitations from strangers waiting for our answer, all strangers together (each at most
/// `MAX_INVITE_LOG_BYTES` of log: 1 MiB in all).
pub const STRANGER_INVITATIONS_WAITING: usize = 8;
/// Days an invitation waits for our answer before it is swept.
pub const INVITATION_DAYS: u64 = 30;

// ---- Storage quotas per signer and kind ----

/// Needs stored per signer.
pub const NEED_QUOTA: Tiered<Quota> = tiered(quota(8, 64), quota(64, 512), quota(512, 4_096));
/// Attestations stored per issuer.
pub const ATTESTATION_QUOTA: Tiered<Quota> =
    tiered(quota(64, 256), quota(1_024, 4_096), quota(8_192, 32_768));
/// Offers stored per sender (to our needs).
pub const OFFER_QUOTA: Tiered<Quota> = tiered(quota(16, 64), quota(128, 512), quota(1_024, 4_096));
/// Messages stored per sender (to us).
pub const MESSAGE_QUOTA: Tiered<Quota> =
    tiered(quota(8, 16), quota(256, 1_024), quota(4_096, 16_384));

/// The quota of one kind, or `None` for kinds bounded otherwise (profiles: one per signer and
/// the profile cap; revocations: one per record of the same signer; collaborations and entries:
/// members only, invitations and entry rates).
pub fn quota_of(kind: RecordKind, tier: Tier) -> Option<Quota> {
    match kind {
        RecordKind::Need => Some(NEED_QUOTA.of(tier)),
        RecordKind::Attestation => Some(ATTESTATION_QUOTA.of(tier)),
        RecordKind::Offer => Some(OFFER_QUOTA.of(tier)),
        RecordKind::Message => Some(MESSAGE_QUOTA.of(tier)),
        _ => None,
    }
}

/// What all strangers together may have stored of one kind; past it their oldest record of that
/// kind is dropped to make room.
pub fn stranger_pool(kind: RecordKind) -> Option<Quota> {
    match kind {
        RecordKind::Need => Some(quota(1_024, 4_096)),
        // A trust network: a newcomer with no roots yet still holds a community of tens of
        // thousands of attestations (bitcoin-otc: 35,592), to compute trust the moment it adds one.
        RecordKind::Attestation => Some(quota(65_536, 65_536)),
        RecordKind::Offer => Some(quota(512, 2_048)),
        RecordKind::Message => Some(quota(512, 2_048)),
        _ => None,
    }
}

/// Invalid inputs a peer may send before its requests are refused and it is disconnected.
pub const MAX_STRIKES: u32 = 8;
/// How long strikes are remembered, and how long a penalised peer is kept away.
pub const PENALTY_WINDOW: LocalDuration = LocalDuration::from_secs(600);
/// [`PENALTY_WINDOW`] in milliseconds (what [`crate::Io::Disconnect`] carries).
pub const PENALTY_WINDOW_MS: Millis = PENALTY_WINDOW.as_millis();
/// Most peers with strikes remembered.
const MAX_PENALISED_PEERS: usize = 4096;
/// Bytes of requests a peer may send within [`PENALTY_WINDOW`] that are refused from their
/// first bytes because its budget for them is spent (messages, collaboration entries,
/// invitations: see the protocol's "Budgets"). An honest sender reads `RateLimited` and waits;
/// a retrying one sends a few kilobytes more (a delivery is tried at most
/// [`crate::DELIVERY_ATTEMPTS`] times). Past it the peer is treated like one past its
/// strikes: its next request is answered `Busy` and it is disconnected for the window, so a
/// flood of large requests over budget costs us their transport only until then.
pub const REFUSED_BYTES_PER_WINDOW: u64 = 8 << 20;
/// Least time between two rebuilds of the standing sets when only trust changed, seconds.
pub const STANDING_REFRESH_SECS: u64 = 10;
/// Normalised trust (share of the top score) from which a member is in our circle.
pub const CIRCLE_TRUST: f64 = 0.5;

/// What one signer has stored of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// Records.
    pub count: u32,
    /// Encoded bytes.
    pub bytes: u64,
}

/// The records strangers stored of one kind, and their bytes, kept so that the pool is shared
/// fairly among signers: when it is full, the signer holding the most of it loses its oldest
/// record (of signers holding as many, the one whose oldest record is oldest). A flood of keys
/// that each store a few records then evicts itself before it evicts a newcomer's one.
///
/// A record is found by its signer (a record's id fixes its signer and time, and every caller
/// knows the signer): no table from id to signer (64 bytes a record, in a table at most
/// half full past a doubling) is kept beside the signers' lists.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Pool {
    /// Each signer's records, oldest first (ties by id): a sorted vector, grown one record at
    /// a time (a stranger holds few; a `BTreeSet` took a node of 11 keys for each).
    by_signer: HashMap<PublicKey, Vec<(UnixTime, RecordId)>>,
    /// Signers by (records held, oldest first reversed): the last is evicted from first.
    order: BTreeSet<(usize, std::cmp::Reverse<UnixTime>, PublicKey)>,
    /// Records held.
    len: usize,
    bytes: u64,
}

impl Pool {
    fn key(&self, signer: &PublicKey) -> Option<(usize, std::cmp::Reverse<UnixTime>, PublicKey)> {
        let set = self.by_signer.get(signer)?;
        let (oldest, _) = set.first()?;
        Some((set.len(), std::cmp::Reverse(*oldest), *signer))
    }

    fn insert(&mut self, at: UnixTime, id: RecordId, signer: PublicKey) {
        let place = match self.by_signer.get(&signer) {
            Some(set) => match set.binary_search(&(at, id)) {
                Ok(_) => return,
                Err(i) => i,
            },
            None => 0,
        };
        if let Some(k) = self.key(&signer) {
            self.order.remove(&k);
        }
        let set = self.by_signer.entry(signer).or_default();
        if set.len() == set.capacity() {
            set.reserve_exact(1);
        }
        set.insert(place, (at, id));
        self.len += 1;
        if let Some(k) = self.key(&signer) {
            self.order.insert(k);
        }
    }

    /// Takes `signer`'s record out; false if it was not in the pool.
    fn remove(&mut self, at: UnixTime, id: &RecordId, signer: &PublicKey) -> bool {
        let Some(place) = self
            .by_signer
            .get(signer)
            .and_then(|set| set.binary_search(&(at, *id)).ok())
        else {
            return false;
        };
        if let Some(k) = self.key(signer) {
            self.order.remove(&k);
        }
        if let Some(set) = self.by_signer.get_mut(signer) {
            set.remove(place);
            if set.is_empty() {
                self.by_signer.remove(signer);
            } else if set.capacity() >= 2 * set.len() + 4 {
                set.shrink_to_fit();
            }
        }
        self.len -= 1;
        if let Some(k) = self.key(signer) {
            self.order.insert(k);
        }
        true
    }

    /// The record to evict first: the largest holder's oldest, and its signer.
    fn next_victim(&self) -> Option<(UnixTime, RecordId, PublicKey)> {
        let (_, _, signer) = self.order.last()?;
        let (at, id) = self.by_signer.get(signer)?.first().copied()?;
        Some((at, id, *signer))
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Every record held, with its signer.
    fn items(&self) -> impl Iterator<Item = (UnixTime, RecordId, PublicKey)> + '_ {
        self.by_signer
            .iter()
            .flat_map(|(s, set)| set.iter().map(move |(at, id)| (*at, *id, *s)))
    }
}

/// Who is in which tier, computed at most every [`STANDING_REFRESH_SECS`] when only trust
/// changed (at once when collaborations or roots change).
#[derive(Debug, Default)]
pub(crate) struct Standing {
    circle: HashSet<PublicKey>,
    member: HashSet<PublicKey>,
    /// Newcomers sponsored by someone in `circle` or `member` (see `invite.rs`): member
    /// budgets, no trust, and they sponsor no one in turn.
    sponsored: HashSet<PublicKey>,
    /// Normalised trust of members, for the gossip score.
    trust: HashMap<PublicKey, f64>,
}

impl Standing {
    pub(crate) fn tier(&self, who: &PublicKey) -> Tier {
        if self.circle.contains(who) {
            Tier::Circle
        } else if self.member.contains(who) || self.sponsored.contains(who) {
            Tier::Member
        } else {
            Tier::Stranger
        }
    }

    /// Whether our trust reaches this member (circle or member, not merely sponsored): whose
    /// sponsorships count.
    pub(crate) fn reached(&self, who: &PublicKey) -> bool {
        self.circle.contains(who) || self.member.contains(who)
    }

    /// Whether this member is sponsored here (and not reached by trust).
    pub(crate) fn is_sponsored(&self, who: &PublicKey) -> bool {
        self.sponsored.contains(who)
    }

    /// Normalised trust in `0..=1` (0 for strangers).
    pub(crate) fn trust(&self, who: &PublicKey) -> f64 {
        self.trust.get(who).copied().unwrap_or(0.0)
    }
}

/// The standing sets with the (trust epoch, our collaborations' epoch, roots) and time they were built at.
pub(crate) type StandingCache = ((u64, usize, usize), UnixTime, Arc<Standing>);

/// A token-bucket limiter per tier.
#[derive(Debug)]
pub struct TieredLimiter {
    by_tier: [RateLimiter; 3],
}

impl TieredLimiter {
    /// `budget` per `window_secs` for each tier.
    pub fn new(budget: Tiered<u32>, window_secs: u32) -> TieredLimiter {
        TieredLimiter {
            by_tier: [
                RateLimiter::with_window(budget.stranger, window_secs),
                RateLimiter::with_window(budget.member, window_secs),
                RateLimiter::with_window(budget.circle, window_secs),
            ],
        }
    }

    /// Takes one token for `key` in `tier`'s bucket.
    pub fn allow(&mut self, tier: Tier, key: &[u8], now: impl Into<LocalTime>) -> bool {
        self.by_tier[tier as usize].take(key, 1.0, now)
    }

    /// Whether `key` has any credit left (work charged afterwards may overdraw it).
    pub fn has_credit(&mut self, tier: Tier, key: &[u8], now: impl Into<LocalTime>) -> bool {
        self.by_tier[tier as usize].credit(key, now) > 0.0
    }

    /// Whether `key` holds the whole token [`TieredLimiter::allow`] would take, without
    /// taking it.
    pub fn has_whole(&mut self, tier: Tier, key: &[u8], now: impl Into<LocalTime>) -> bool {
        self.by_tier[tier as usize].credit(key, now) >= 1.0
    }

    /// Charges `n` units of work done for `key`, overdrawing if need be: the key waits until the
    /// bucket refills.
    pub fn charge(&mut self, tier: Tier, key: &[u8], n: f64, now: impl Into<LocalTime>) {
        self.by_tier[tier as usize].overdraw(key, n, now);
    }
}

/// Every budget and penalty the node keeps, and what each signer has stored.
#[derive(Debug)]
pub struct Admission {
    /// Records accepted per forwarding peer (gossip and sync).
    pub records: RateLimiter,
    pub(crate) sync: TieredLimiter,
    pub(crate) sync_keys: TieredLimiter,
    pub(crate) fetch_ids: TieredLimiter,
    pub(crate) proofs: TieredLimiter,
    pub(crate) attestations: TieredLimiter,
    pub(crate) needs: TieredLimiter,
    pub(crate) profiles: TieredLimiter,
    pub(crate) messages: TieredLimiter,
    pub(crate) entries: TieredLimiter,
    pub(crate) exchanges: TieredLimiter,
    /// Peer exchanges from all strangers together (one key).
    pub(crate) stranger_exchanges: RateLimiter,
    /// `need.matched` alerts for strangers' needs: a total, a share per source and per signer,
    /// and the alerts waiting for room.
    pub(crate) stranger_alerts: crate::alerts::StrangerAlerts,
    /// Invalid inputs per peer, since when.
    strikes: HashMap<PublicKey, (u32, LocalTime)>,
    /// Peers that crossed [`MAX_STRIKES`] and were told to go, until when.
    banned: HashMap<PublicKey, LocalTime>,
    /// Bytes of requests refused for a spent budget per peer, since when.
    refused_bytes: HashMap<PublicKey, (u64, LocalTime)>,
    /// When `refused_bytes` was last swept for ended windows.
    refused_swept: Option<LocalTime>,
    /// Peers the network layer was told to disconnect, until when.
    disconnected: HashMap<PublicKey, LocalTime>,
    /// Stored records and bytes per (signer, kind), every signer but us.
    usage: HashMap<(PublicKey, RecordKind), Usage>,
    /// Records that strangers stored, per kind (kinds with a [`stranger_pool`]).
    pools: HashMap<RecordKind, Pool>,
    /// The standing sets, and the (trust epoch, our collaborations' epoch, roots) and time they were built.
    standing: Option<StandingCache>,
    /// The trust last told to the network layer for each connected peer.
    told_standing: HashMap<PublicKey, f64>,
}

impl Admission {
    /// Budgets with `records_per_minute` records per forwarding peer.
    pub fn new(records_per_minute: u32) -> Admission {
        Admission {
            records: RateLimiter::new(records_per_minute),
            sync: TieredLimiter::new(SYNC_REQUESTS_PER_MINUTE, 60),
            sync_keys: TieredLimiter::new(SYNC_KEYS_PER_MINUTE, 60),
            fetch_ids: TieredLimiter::new(FETCH_IDS_PER_MINUTE, 60),
            proofs: TieredLimiter::new(PROOFS_PER_MINUTE, 60),
            exchanges: TieredLimiter::new(EXCHANGES_PER_MINUTE, 60),
            stranger_exchanges: RateLimiter::new(STRANGER_EXCHANGES_PER_MINUTE),
            attestations: TieredLimiter::new(ATTESTATIONS_PER_MINUTE, 60),
            needs: TieredLimiter::new(NEEDS_PER_DAY, 86_400),
            profiles: TieredLimiter::new(PROFILES_PER_HOUR, 3_600),
            messages: TieredLimiter::new(MESSAGES_PER_HOUR, 3_600),
            entries: TieredLimiter::new(ENTRIES_PER_HOUR, 3_600),
            stranger_alerts: crate::alerts::StrangerAlerts::default(),
            strikes: HashMap::default(),
            banned: HashMap::default(),
            refused_bytes: HashMap::default(),
            refused_swept: None,
            disconnected: HashMap::default(),
            usage: HashMap::default(),
            pools: HashMap::default(),
            standing: None,
            told_standing: HashMap::default(),
        }
    }

    /// Counts an invalid input from `peer`. Returns true when this strike crossed the limit (the
    /// peer is to be disconnected and kept away for [`PENALTY_WINDOW`]).
    pub fn strike(&mut self, peer: PublicKey, now: impl Into<LocalTime>) -> bool {
        let now = now.into();
        if self.strikes.len() >= MAX_PENALISED_PEERS && !self.strikes.contains_key(&peer) {
            self.strikes
                .retain(|_, (_, since)| now.since(*since) < PENALTY_WINDOW);
            if self.strikes.len() >= MAX_PENALISED_PEERS {
                return false; // full of fresh offenders; this one is caught next time
            }
        }
        let e = self.strikes.entry(peer).or_insert((0, now));
        if now.since(e.1) >= PENALTY_WINDOW {
            *e = (0, now);
        }
        e.0 += 1;
        let crossed = e.0 == MAX_STRIKES;
        if crossed {
            if self.banned.len() >= MAX_PENALISED_PEERS {
                self.banned.retain(|_, until| *until > now);
            }
            if self.banned.len() < MAX_PENALISED_PEERS {
                self.banned.insert(peer, now + PENALTY_WINDOW);
            }
        }
        crossed
    }

    /// Counts `bytes` of a request from `peer` refused because its budget is spent. Returns
    /// true when this crossed [`REFUSED_BYTES_PER_WINDOW`]: the peer is now penalised as if
    /// past its strikes (see [`Admission::is_penalised`]).
    pub fn refused_over_budget(
        &mut self,
        peer: PublicKey,
        bytes: usize,
        now: impl Into<LocalTime>,
    ) -> bool {
        let now = now.into();
        if self.refused_bytes.len() >= MAX_PENALISED_PEERS
            && !self.refused_bytes.contains_key(&peer)
        {
            // Full: drop the entries whose window ended, at most one pass a minute (not one
            // per new sender while the table stays full of fresh ones).
            if self
                .refused_swept
                .is_none_or(|at| now.since(at) >= LocalDuration::from_secs(60))
            {
                self.refused_swept = Some(now);
                self.refused_bytes
                    .retain(|_, (_, since)| now.since(*since) < PENALTY_WINDOW);
            }
            if self.refused_bytes.len() >= MAX_PENALISED_PEERS {
                return false; // full of fresh senders; this one is counted once there is room
            }
        }
        let e = self.refused_bytes.entry(peer).or_insert((0, now));
        if now.since(e.1) >= PENALTY_WINDOW {
            *e = (0, now);
        }
        let before = e.0;
        e.0 = e.0.saturating_add(bytes as u64);
        let crossed = before < REFUSED_BYTES_PER_WINDOW && e.0 >= REFUSED_BYTES_PER_WINDOW;
        if crossed {
            if self.strikes.len() >= MAX_PENALISED_PEERS && !self.strikes.contains_key(&peer) {
                self.strikes
                    .retain(|_, (_, at)| now.since(*at) < PENALTY_WINDOW);
            }
            if self.strikes.len() < MAX_PENALISED_PEERS || self.strikes.contains_key(&peer) {
                self.strikes.insert(peer, (MAX_STRIKES, now));
            }
            if self.banned.len() >= MAX_PENALISED_PEERS {
                self.banned.retain(|_, until| *until > now);
            }
            if self.banned.len() < MAX_PENALISED_PEERS {
                self.banned.insert(peer, now + PENALTY_WINDOW);
            }
        }
        crossed
    }

    /// How long `peer` stays sent away, if it crossed the strike limit within the penalty
    /// window; a ban that ran out is forgotten.
    pub fn banned_for(
        &mut self,
        peer: &PublicKey,
        now: impl Into<LocalTime>,
    ) -> Option<LocalDuration> {
        let now = now.into();
        let until = self.banned.get(peer).copied()?;
        if until > now {
            return Some(until.since(now));
        }
        self.banned.remove(peer);
        None
    }

    /// Forgets what was told to the network layer about a peer (it disconnected).
    pub fn forget_told(&mut self, peer: &PublicKey) {
        self.told_standing.remove(peer);
    }

    /// What every signer has stored, by kind (saved with the node's state).
    pub(crate) fn usage_all(&self) -> &HashMap<(PublicKey, RecordKind), Usage> {
        &self.usage
    }

    /// The strangers' pools by kind (saved with the node's state).
    pub(crate) fn pools_all(&self) -> &HashMap<RecordKind, Pool> {
        &self.pools
    }

    /// Takes back the accounting of a saved state.
    pub(crate) fn restore_accounting(
        &mut self,
        usage: HashMap<(PublicKey, RecordKind), Usage>,
        pools: HashMap<RecordKind, Pool>,
    ) {
        self.usage = usage;
        self.pools = pools;
    }

    /// Drops the cached standing sets: the next use rebuilds them.
    pub fn invalidate_standing(&mut self) {
        self.standing = None;
    }

    /// Whether the network layer should be told to disconnect `peer` now: once per penalty
    /// window, however many requests it still sends.
    pub fn disconnect_once(&mut self, peer: PublicKey, now: impl Into<LocalTime>) -> bool {
        let now = now.into();
        match self.disconnected.get(&peer) {
            Some(until) if *until > now => false,
            _ => {
                if self.disconnected.len() >= MAX_PENALISED_PEERS {
                    self.disconnected.retain(|_, until| *until > now);
                }
                if self.disconnected.len() < MAX_PENALISED_PEERS {
                    self.disconnected.insert(peer, now + PENALTY_WINDOW);
                }
                true
            }
        }
    }

    /// Whether `peer` sent too many invalid inputs lately.
    pub fn is_penalised(&self, peer: &PublicKey, now: impl Into<LocalTime>) -> bool {
        let now = now.into();
        self.strikes
            .get(peer)
            .is_some_and(|(n, since)| *n >= MAX_STRIKES && now.since(*since) < PENALTY_WINDOW)
    }

    /// What `signer` has stored of `kind`.
    pub fn usage(&self, signer: &PublicKey, kind: RecordKind) -> Usage {
        self.usage
            .get(&(*signer, kind))
            .copied()
            .unwrap_or_default()
    }

    /// What strangers have stored of `kind` (records, bytes).
    pub fn pool_usage(&self, kind: RecordKind) -> Usage {
        self.pools.get(&kind).map_or(Usage::default(), |p| Usage {
            count: u32::try_from(p.len()).unwrap_or(u32::MAX),
            bytes: p.bytes,
        })
    }

    /// Accounts a stored record (at start-up and at intake), once: its size and pool membership
    /// are kept in its envelope in `records` (which must hold it already).
    #[allow(clippy::too_many_arguments)] // the record's fields, as `unaccount` takes them
    pub(crate) fn account(
        &mut self,
        records: &mut crate::state::Records,
        id: RecordId,
        signer: PublicKey,
        kind: RecordKind,
        issued_at: UnixTime,
        size: u32,
        stranger: bool,
    ) {
        let pooled = stranger && stranger_pool(kind).is_some();
        if !records.account(&id, size, pooled) {
            return;
        }
        let u = self.usage.entry((signer, kind)).or_default();
        u.count += 1;
        u.bytes += u64::from(size);
        if pooled {
            let p = self.pools.entry(kind).or_default();
            p.insert(issued_at, id, signer);
            p.bytes += u64::from(size);
        }
    }

    /// Forgets a record that left the store, with the accounting its envelope held (`None`:
    /// it was never accounted).
    pub(crate) fn unaccount(
        &mut self,
        id: &RecordId,
        signer: PublicKey,
        kind: RecordKind,
        issued_at: UnixTime,
        accounting: Option<crate::state::records::Accounting>,
    ) {
        let Some(crate::state::records::Accounting { size, pooled }) = accounting else {
            return;
        };
        if let Some(u) = self.usage.get_mut(&(signer, kind)) {
            u.count = u.count.saturating_sub(1);
            u.bytes = u.bytes.saturating_sub(u64::from(size));
            if u.count == 0 {
                self.usage.remove(&(signer, kind));
            }
        }
        if pooled {
            if let Some(p) = self.pools.get_mut(&kind) {
                if p.remove(issued_at, id, &signer) {
                    p.bytes = p.bytes.saturating_sub(u64::from(size));
                }
            }
        }
    }

    /// Takes `signer`'s record out of the strangers' pool without dropping it (its signer is no
    /// longer a stranger).
    fn unpool(
        &mut self,
        records: &mut crate::state::Records,
        kind: RecordKind,
        (issued_at, id, signer): (UnixTime, &RecordId, &PublicKey),
    ) {
        let size = records.unpool(id).map_or(0, u64::from);
        // Out of the pool in any case, so that eviction can never pick it again.
        if let Some(p) = self.pools.get_mut(&kind) {
            if p.remove(issued_at, id, signer) {
                p.bytes = p.bytes.saturating_sub(size);
            }
        }
    }
}

/// Records accounted per pass of [`Service::account_loaded`] (a few in tests, so that every
/// restart test takes several passes).
const ACCOUNT_PASS: usize = if cfg!(test) { 2 } else { 1 << 14 };

/// A record's encoded size, as stored.
pub(crate) fn record_size(record: &guild_core::AnyRecord) -> u32 {
    record
        .encode()
        .map_or(u32::MAX, |b| u32::try_from(b.len()).unwrap_or(u32::MAX))
}

impl<S: Storage> Service<S> {
    /// Who is in which tier (cached; see [`Standing`]).
    pub(crate) fn standing(&mut self) -> Arc<Standing> {
        let key = self.standing_key();
        if let Some((k, at, s)) = &self.admission.standing {
            let fresh_enough = k.1 == key.1
                && k.2 == key.2
                && (k.0 == key.0 || self.now.as_secs() < at + STANDING_REFRESH_SECS);
            if fresh_enough {
                return s.clone();
            }
        }
        let mut s = Standing::default();
        s.circle.insert(self.me);
        s.circle.extend(self.state.collabs.collaborators().copied());
        for (peer, _) in self.state.roots.keys() {
            s.circle.insert(*peer);
        }
        let scores = self.trust.scores(self.me, None, self.now.as_secs());
        let max = scores.values().fold(0.0f64, |m, v| m.max(*v));
        if max > 0.0 {
            for (who, score) in scores {
                if score <= 0.0 || who == self.me {
                    continue;
                }
                let t = score / max;
                s.trust.insert(who, t);
                if t >= CIRCLE_TRUST {
                    s.circle.insert(who);
                } else {
                    s.member.insert(who);
                }
            }
        }
        for who in &s.circle {
            s.trust.entry(*who).or_insert(1.0);
        }
        // Members introduced to us get the member tier's budgets and connection room — never
        // trust: their gossip score stays as it was (see `intro.rs`).
        for who in self.intros.introduced_peers() {
            if !s.circle.contains(who) {
                s.member.insert(*who);
            }
        }
        let lifted = self.sponsored_by(|sponsor| s.reached(sponsor));
        s.sponsored = lifted.into_iter().filter(|n| !s.reached(n)).collect();
        let s = Arc::new(s);
        self.admission.standing = Some((key, self.now.as_secs(), s.clone()));
        let peers: Vec<PublicKey> = self.peers.keys().copied().collect();
        for peer in peers {
            self.tell_standing(peer);
        }
        s
    }

    /// What the standing sets depend on besides trust: (trust epoch, our collaborations' and
    /// the sponsorships' epochs, roots). The middle one changes when either changes.
    fn standing_key(&self) -> (u64, usize, usize) {
        (
            self.trust_epoch,
            (self.state.collabs.mine_epoch() as usize)
                .wrapping_add(self.state.sponsors.epoch() as usize),
            self.state.roots.len(),
        )
    }

    /// When the standing sets are due to be rebuilt (and the peers' gossip scores told): at
    /// once when our collaborations or roots changed, after [`STANDING_REFRESH_SECS`] when only
    /// trust did; `None` while they are current.
    pub(crate) fn standing_due(&self) -> Option<crate::LocalTime> {
        let key = self.standing_key();
        match &self.admission.standing {
            None => Some(self.now),
            Some((k, _, _)) if *k == key => None,
            Some((k, at, _)) if k.1 == key.1 && k.2 == key.2 => {
                Some(crate::LocalTime::from_secs(at + STANDING_REFRESH_SECS).max(self.now))
            }
            Some(_) => Some(self.now),
        }
    }

    /// Tells the network layer our trust in a connected peer if it changed (gossipsub's
    /// application-specific score).
    pub(crate) fn tell_standing(&mut self, peer: PublicKey) {
        let trust = self
            .admission
            .standing
            .as_ref()
            .map_or(0.0, |(_, _, s)| s.trust(&peer));
        let told = self.admission.told_standing.get(&peer).copied();
        if told.is_none_or(|t| (t - trust).abs() > 1e-6) {
            self.admission.told_standing.insert(peer, trust);
            if told.is_some() || trust > 0.0 {
                self.outbox.push(super::Io::Standing { peer, trust });
            }
        }
    }

    /// The members this node knows — its circle and the members its trust reaches, not itself —
    /// most trusted first, at most `limit`: whom the network layer keeps connection and DHT
    /// room for (`guild_net::Client::set_known_peers`).
    pub fn known_members(&mut self, limit: usize) -> Vec<PublicKey> {
        let s = self.standing();
        let mut known: Vec<(f64, PublicKey)> = s
            .circle
            .iter()
            .chain(&s.member)
            .chain(&s.sponsored)
            .filter(|p| **p != self.me)
            .map(|p| (s.trust(p), *p))
            .collect();
        known.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        known.truncate(limit);
        known.into_iter().map(|(_, p)| p).collect()
    }

    /// The tier of one signer or peer.
    pub(crate) fn tier_of(&mut self, who: &PublicKey) -> Tier {
        self.standing().tier(who)
    }

    /// Checks a signer's storage quota for one more record of `kind` of `size` bytes. Strangers
    /// also share a pool per kind: when it is full, the largest holder's oldest record of that
    /// kind is dropped to make room (never anyone else's; see [`Pool`]).
    pub(crate) fn admit_storage(
        &mut self,
        signer: PublicKey,
        kind: RecordKind,
        size: u32,
        now: UnixTime,
    ) -> Result<Tier, super::Refusal> {
        if signer == self.me {
            return Ok(Tier::Circle);
        }
        let tier = self.tier_of(&signer);
        let Some(q) = quota_of(kind, tier) else {
            return Ok(tier);
        };
        let u = self.admission.usage(&signer, kind);
        if u.count >= q.count || u.bytes + u64::from(size) > q.bytes {
            self.stats.refused_quota(kind, tier);
            return Err(super::Refusal::rate_limited(format!(
                "this signer's {kind} quota here is full ({} records or {} KiB for a {}); older ones must expire first",
                q.count,
                q.bytes / 1024,
                tier.label()
            )));
        }
        if tier == Tier::Stranger {
            self.make_room(kind, size, now);
        }
        Ok(tier)
    }

    /// Drops strangers' records of `kind`, the largest holder's oldest first, until one of `size`
    /// more bytes fits the pool.
    fn make_room(&mut self, kind: RecordKind, size: u32, now: UnixTime) {
        let Some(cap) = stranger_pool(kind) else {
            return;
        };
        let standing = self.standing();
        loop {
            let Some(pool) = self.admission.pools.get(&kind) else {
                return;
            };
            let fits = (pool.len() as u64) < u64::from(cap.count)
                && pool.bytes + u64::from(size) <= cap.bytes;
            if fits {
                return;
            }
            let Some((at, id, pooled_by)) = pool.next_victim() else {
                return;
            };
            let signer = self.state.records.get(&id).map(|m| m.signer);
            // A stranger's need we offered on is part of our own work: it stays.
            let ours = kind == RecordKind::Need && self.state.pull.offer_count(&id) > 0;
            match signer {
                // Its signer has earned standing since: it leaves the pool, and stays.
                Some(s) if ours || standing.tier(&s) != Tier::Stranger => {
                    self.admission
                        .unpool(&mut self.state.records, kind, (at, &id, &pooled_by));
                }
                Some(_) => {
                    self.stats.evicted(kind);
                    self.drop_record(&id, now);
                    // drop_record unaccounts it; make sure it left the pool either way.
                    self.admission
                        .unpool(&mut self.state.records, kind, (at, &id, &pooled_by));
                }
                None => self
                    .admission
                    .unpool(&mut self.state.records, kind, (at, &id, &pooled_by)),
            }
        }
    }

    /// Accounts a stored record against its signer's quota.
    pub(crate) fn account_record(
        &mut self,
        id: RecordId,
        record: &guild_core::AnyRecord,
        size: Option<u32>,
    ) {
        let kind = record.kind();
        if quota_of(kind, Tier::Stranger).is_none() || record.signer() == self.me {
            return;
        }
        let size = size.unwrap_or_else(|| record_size(record));
        let stranger = self.tier_of(&record.signer()) == Tier::Stranger;
        self.admission.account(
            &mut self.state.records,
            id,
            record.signer(),
            kind,
            record.issued_at(),
            size,
            stranger,
        );
    }

    /// Accounts every loaded record against its signer's quota (the end of the start-up load,
    /// once trust and roots are in): each in the tier its signer has now. Accounting while the
    /// store loaded put nearly every signer in a strangers' pool (trust was still being built)
    /// only to take them out again at the end.
    ///
    /// In passes of at most [`ACCOUNT_PASS`] records through one list: a list of every record
    /// to account (96 bytes each, 10^5 attestations: 12.6 MB with its doublings' 12.6 more)
    /// was freed at the very end of the load, when nothing allocates again to reuse it, and the
    /// allocator kept it resident. The order records are accounted in does not matter: usage
    /// adds up, and the pools are ordered by their own keys.
    pub(crate) fn account_loaded(&mut self) {
        let standing = self.standing();
        let me = self.me;
        let mut todo: Vec<(RecordId, crate::state::Meta, u32)> = Vec::new();
        // Each full pass accounts `ACCOUNT_PASS` records that the next pass skips, so there are
        // at most this many; the bound only guards against a pass that accounted nothing.
        for _ in 0..=self.state.records.len() / ACCOUNT_PASS {
            todo.clear();
            todo.extend(
                self.state
                    .records
                    .unaccounted()
                    .filter(|(_, m, _)| {
                        quota_of(m.kind, Tier::Stranger).is_some() && m.signer != me
                    })
                    .take(ACCOUNT_PASS),
            );
            let last = todo.len() < ACCOUNT_PASS;
            for (id, m, size) in todo.drain(..) {
                let stranger = standing.tier(&m.signer) == Tier::Stranger;
                self.admission.account(
                    &mut self.state.records,
                    id,
                    m.signer,
                    m.kind,
                    m.issued_at,
                    size,
                    stranger,
                );
            }
            if last {
                break;
            }
        }
    }

    /// What strangers have stored here of `kind` (records, bytes): at most [`stranger_pool`].
    pub fn stranger_usage(&self, kind: RecordKind) -> Usage {
        self.admission.pool_usage(kind)
    }

    /// What one signer has stored here of `kind`.
    pub fn usage_of(&self, signer: &PublicKey, kind: RecordKind) -> Usage {
        self.admission.usage(signer, kind)
    }

    /// Whether a peer is refused for repeated invalid input.
    pub fn is_penalised(&self, peer: &PublicKey, now: impl Into<LocalTime>) -> bool {
        self.admission.is_penalised(peer, now)
    }

    /// Takes the records of signers who are no longer strangers out of the strangers' pools
    /// (at start, once trust is built).
    pub(crate) fn reclassify_pools(&mut self) {
        let standing = self.standing();
        let mut leave = Vec::new();
        for (kind, pool) in &self.admission.pools {
            for (at, id, pooled_by) in pool.items() {
                let signer = self.state.records.get(&id).map(|m| m.signer);
                if signer.is_some_and(|s| standing.tier(&s) != Tier::Stranger) {
                    leave.push((*kind, at, id, pooled_by));
                }
            }
        }
        for (kind, at, id, pooled_by) in leave {
            self.admission
                .unpool(&mut self.state.records, kind, (at, &id, &pooled_by));
        }
    }
}

/// Most keys tracked by one rate limiter; beyond it the longest-idle are forgotten.
pub const MAX_TRACKED_PEERS: usize = 4096;

/// A token bucket per key: `count` per window, refilled continuously, bursts up to `count`.
/// Time is the service's [`LocalTime`] (integer milliseconds); tokens are fractional, so a
/// bucket refills by the exact share of the window that passed.
#[derive(Debug)]
pub struct RateLimiter {
    /// Bucket size: the burst allowed.
    cap: f64,
    /// Time to refill a whole bucket.
    window: LocalDuration,
    /// Per key: tokens held, and when they were last counted.
    buckets: HashMap<Vec<u8>, (f64, LocalTime)>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` per key.
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter::with_window(per_minute, 60)
    }

    /// A limiter allowing `count` per `window_secs` per key, in a burst of up to `count`.
    pub fn with_window(count: u32, window_secs: u32) -> RateLimiter {
        RateLimiter {
            cap: f64::from(count.max(1)),
            window: LocalDuration::from_secs(u64::from(window_secs.max(1))),
            buckets: HashMap::default(),
        }
    }

    /// Takes one token for `key` at time `now`. Returns false when the key is over budget.
    pub fn allow(&mut self, key: &[u8], now: impl Into<LocalTime>) -> bool {
        self.take(key, 1.0, now)
    }

    /// Takes `n` tokens if the bucket holds them.
    pub fn take(&mut self, key: &[u8], n: f64, now: impl Into<LocalTime>) -> bool {
        let tokens = self.refill(key, now.into());
        if *tokens >= n {
            *tokens -= n;
            true
        } else {
            false
        }
    }

    /// The tokens `key` holds now (negative after an overdraw).
    pub fn credit(&mut self, key: &[u8], now: impl Into<LocalTime>) -> f64 {
        *self.refill(key, now.into())
    }

    /// The tokens `key` would hold at `now`, without counting them (for planning a wake-up).
    pub fn peek(&self, key: &[u8], now: LocalTime) -> f64 {
        self.buckets.get(key).map_or(self.cap, |(t, last)| {
            (*t + self.refilled(now.since(*last))).min(self.cap)
        })
    }

    /// How long until `key` holds one whole token again (zero if it holds one now).
    pub fn ready_in(&self, key: &[u8], now: LocalTime) -> LocalDuration {
        let missing = 1.0 - self.peek(key, now);
        if missing <= 0.0 {
            return LocalDuration::ZERO;
        }
        let ms = missing * self.window.as_millis() as f64 / self.cap;
        LocalDuration::from_millis(ms.ceil() as u64)
    }

    /// Takes `n` tokens even if that leaves the bucket negative.
    pub fn overdraw(&mut self, key: &[u8], n: f64, now: impl Into<LocalTime>) {
        let tokens = self.refill(key, now.into());
        *tokens -= n;
    }

    /// Tokens that `elapsed` adds to a bucket (before the cap).
    fn refilled(&self, elapsed: LocalDuration) -> f64 {
        elapsed.as_millis() as f64 * self.cap / self.window.as_millis() as f64
    }

    fn refill(&mut self, key: &[u8], now: LocalTime) -> &mut f64 {
        if self.buckets.len() >= MAX_TRACKED_PEERS && !self.buckets.contains_key(key) {
            self.forget_idle(now);
        }
        let cap = self.cap;
        let last = self.buckets.get(key).map_or(now, |(_, l)| *l);
        let gained = self.refilled(now.since(last));
        let (tokens, last) = self.buckets.entry(key.to_vec()).or_insert((cap, now));
        *tokens = (*tokens + gained).min(cap);
        *last = now;
        tokens
    }

    fn forget_idle(&mut self, now: LocalTime) {
        // Full buckets carry no information; drop those first, then the oldest half.
        let (cap, window) = (self.cap, self.window.as_millis() as f64);
        self.buckets
            .retain(|_, (t, last)| (*t + now.since(*last).as_millis() as f64 * cap / window) < cap);
        if self.buckets.len() >= MAX_TRACKED_PEERS {
            let mut lasts: Vec<LocalTime> = self.buckets.values().map(|(_, l)| *l).collect();
            lasts.sort();
            let cut = lasts[lasts.len() / 2];
            self.buckets.retain(|_, (_, l)| *l > cut);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refused_bytes_are_remembered_for_a_bounded_number_of_senders() {
        let mut a = Admission::new(600);
        let key = |n: usize| {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(n as u64).to_le_bytes());
            PublicKey(k)
        };
        let t0 = LocalTime::from_secs(1_000);
        for n in 0..MAX_PENALISED_PEERS {
            assert!(!a.refused_over_budget(key(n), 1, t0));
        }
        // Full of fresh senders: a new one is not counted, and the table does not grow.
        let late = key(MAX_PENALISED_PEERS);
        assert!(!a.refused_over_budget(late, REFUSED_BYTES_PER_WINDOW as usize, t0));
        assert_eq!(a.refused_bytes.len(), MAX_PENALISED_PEERS);
        assert!(!a.is_penalised(&late, t0));
        // A sender already counted still is, and crosses.
        assert!(a.refused_over_budget(key(0), REFUSED_BYTES_PER_WINDOW as usize, t0));
        assert!(a.is_penalised(&key(0), t0));
        // Once the windows ended, the sweep makes room.
        let later = t0 + PENALTY_WINDOW;
        assert!(a.refused_over_budget(late, REFUSED_BYTES_PER_WINDOW as usize, later));
        assert_eq!(a.refused_bytes.len(), 1);
    }

    #[test]
    fn strangers_pool_evicts_the_largest_holders_oldest_and_finds_records_by_signer() {
        let k = |n: u8| PublicKey([n; 32]);
        let id = |n: u8| RecordId([n; 32]);
        let mut p = Pool::default();
        p.insert(5, id(1), k(1));
        p.insert(3, id(2), k(1));
        p.insert(4, id(3), k(2));
        p.insert(3, id(2), k(1)); // held already: once
        assert_eq!(p.len(), 3);
        // Signer 1 holds the most: its oldest goes first.
        assert_eq!(p.next_victim(), Some((3, id(2), k(1))));
        assert!(!p.remove(3, &id(9), &k(1)), "not held");
        assert!(!p.remove(3, &id(2), &k(2)), "held, but by another signer");
        assert!(p.remove(3, &id(2), &k(1)));
        assert!(!p.remove(3, &id(2), &k(1)), "out once");
        // One each: the signer whose oldest is oldest.
        assert_eq!(p.next_victim(), Some((4, id(3), k(2))));
        // Ties in time break by id, within a signer.
        p.insert(4, id(0), k(2));
        assert_eq!(p.next_victim(), Some((4, id(0), k(2))));
        let mut items: Vec<_> = p.items().collect();
        items.sort();
        assert_eq!(
            items,
            vec![(4, id(0), k(2)), (4, id(3), k(2)), (5, id(1), k(1))]
        );
        for (at, i, s) in items {
            assert!(p.remove(at, &i, &s));
        }
        assert_eq!((p.len(), p.next_victim(), p.items().count()), (0, None, 0));
        assert!(p.by_signer.is_empty() && p.order.is_empty());
    }

    #[test]
    fn budget_refills_over_time() {
        let mut r = RateLimiter::new(60);
        for _ in 0..60 {
            assert!(r.allow(b"p", LocalTime::from_secs(0)));
        }
        assert!(!r.allow(b"p", LocalTime::from_secs(0)), "burst exhausted");
        assert!(
            r.allow(b"q", LocalTime::from_secs(0)),
            "other peers unaffected"
        );
        assert!(
            r.allow(b"p", LocalTime::from_secs(1)),
            "one token per second refills"
        );
        assert!(!r.allow(b"p", LocalTime::from_secs(1)));
    }

    #[test]
    fn overdrawn_bucket_waits_for_its_refill() {
        let mut r = RateLimiter::new(60);
        r.overdraw(b"p", 120.0, LocalTime::from_secs(0));
        assert!(r.credit(b"p", LocalTime::from_secs(0)) < 0.0);
        assert!(
            !r.allow(b"p", LocalTime::from_secs(30)),
            "still in debt after 30 s"
        );
        assert!(
            r.allow(b"p", LocalTime::from_secs(61)),
            "paid back after a minute and a bit"
        );
    }

    #[test]
    fn tracked_peers_are_bounded() {
        let mut r = RateLimiter::new(10);
        for i in 0..(MAX_TRACKED_PEERS as u32 * 2) {
            r.allow(&i.to_le_bytes(), LocalTime::from_secs(u64::from(i)));
        }
        assert!(r.buckets.len() <= MAX_TRACKED_PEERS);
    }

    #[test]
    fn tiers_grow_with_trust() {
        for (name, t) in [
            ("messages", MESSAGES_PER_HOUR),
            ("needs", NEEDS_PER_DAY),
            ("profiles", PROFILES_PER_HOUR),
            ("attestations", ATTESTATIONS_PER_MINUTE),
            ("sync", SYNC_REQUESTS_PER_MINUTE),
            ("proofs", PROOFS_PER_MINUTE),
        ] {
            assert!(t.stranger < t.member && t.member < t.circle, "{name}");
        }
        for kind in [
            RecordKind::Need,
            RecordKind::Attestation,
            RecordKind::Offer,
            RecordKind::Message,
        ] {
            let q = |t| quota_of(kind, t).unwrap();
            assert!(q(Tier::Stranger).bytes < q(Tier::Member).bytes);
            assert!(q(Tier::Member).bytes < q(Tier::Circle).bytes);
            let pool = stranger_pool(kind).unwrap();
            assert!(pool.bytes >= q(Tier::Stranger).bytes * 8, "{kind:?}");
        }
    }
}
