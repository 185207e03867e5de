//! Guild's Kademlia record store: our own provider keys apart, known members' records apart,
//! and strangers' provider records bounded in total, per address range, per provider and per
//! key, shared fairly rather than first come, first served.
//!
//! libp2p's `MemoryStore` keeps every provider record in one budget filled first come, first
//! served: 92 fresh identities × 48 keys fill its table and a newcomer's new skill is never
//! stored; twenty fake providers own a key for good. [`GuildStore`] wraps a `MemoryStore` for
//! value records and keeps provider records itself, in three kinds of room:
//!
//! | whose records                | room                                             | past it                 |
//! |------------------------------|--------------------------------------------------|-------------------------|
//! | ours                         | [`MAX_OWN_PROVIDED_KEYS`] keys, never shared      | `start_providing` fails |
//! | known members' (the node's member set, [`crate::Client::set_known_peers`]) | [`MAX_MEMBER_PROVIDER_RECORDS`] | ignored, counted |
//! | strangers', on keys the community uses | [`MAX_COMMUNITY_STRANGER_RECORDS`]     | fair eviction, or ignored |
//! | strangers', on other keys    | [`MAX_STRANGER_PROVIDER_RECORDS`]                 | fair eviction, or ignored |
//!
//! and, for everyone: [`MAX_KEYS_PER_PROVIDER`] keys per provider, [`PROVIDER_BURST`] then one
//! `ADD_PROVIDER` per [`PROVIDER_REFILL`] per peer, [`crate::KAD_MAX_PROVIDERS_PER_KEY`]
//! providers per key, keys of at most [`MAX_PROVIDER_KEY_BYTES`], and at most
//! [`MAX_PROVIDER_ADDRS`] addresses of at most [`MAX_PROVIDER_ADDR_BYTES`] per record.
//! Strangers' records of one address range (IPv4 /24, IPv6 /48, the range of the connection
//! the announcement came over) hold at most [`MAX_STRANGER_RECORDS_PER_RANGE`] of each room.
//!
//! A key *the community uses* is one we provide, one we looked up
//! ([`MAX_LOOKED_UP_KEYS`] remembered), or one a known member provides. The flag is kept until
//! the key has no provider left.
//!
//! Kademlia only accepts an `ADD_PROVIDER` whose provider is the peer that sent it
//! (libp2p-kad checks `provider.node_id == source`), so "per provider" is "per sending peer",
//! and the sender is connected: its address range is the one of its connection.
//!
//! **Fair eviction.** When a stranger's room (or its range's share of it) is full, a new record
//! takes the place of one record of the provider holding most in the most crowded range, if
//! that range and provider hold more than the newcomer's would after it is added (max-min
//! fairness: 92 identities holding 48 keys each give way to a newcomer with one). The evicted
//! record is that provider's least recently announced one.
//!
//! **Replacement within a key.** When a key already has its `k` providers, a new announcement
//! takes the place of:
//! 1. a *stale* entry, anyone's: not refreshed for at least half the record TTL (an honest
//!    provider re-announces every [`crate::config::DEFAULT_PROVIDER_PUBLICATION_INTERVAL`], a
//!    quarter of the TTL), the one expiring soonest; else
//! 2. a stranger's entry (a known member's never gives way to a stranger): the worst by
//!    (records of its address range in this key, records of its address in this key, without
//!    addresses, least recently announced), if it is worse than the newcomer would be. So an
//!    announcement from a range less represented in the key wins, a reachable one beats one
//!    without addresses, and within one group the newer wins. Known members' announcements
//!    replace any stranger's entry.
//!
//! **Addresses.** A record is served with the addresses it came with (at most
//! [`MAX_PROVIDER_ADDRS`]). libp2p-kad 0.49 sends its own `ADD_PROVIDER` with only its
//! *confirmed external* addresses, so on a LAN or loopback records come with none; such a
//! record is filled in with the listen addresses the provider told us by identify (kept for
//! connected peers only), and otherwise libp2p serves it with the addresses its routing table
//! has, or omits it. A record without any address is "unreachable" for the replacement rule.
//!
//! Every operation on an inbound record is O(log n) or O(k + m) (k = providers of one key,
//! m = [`MAX_KEYS_PER_PROVIDER`]); expired records are purged in one pass at most every
//! [`PURGE_INTERVAL`].

use std::{
    borrow::Cow,
    collections::{hash_map, BTreeSet, HashMap, HashSet, VecDeque},
    iter,
    net::IpAddr,
    time::{Duration, Instant},
};

use libp2p::{
    kad::{
        store::{Error, MemoryStore, MemoryStoreConfig, RecordStore, Result},
        ProviderRecord, Record, RecordKey,
    },
    Multiaddr, PeerId,
};

use crate::guard::range_of;

/// Keys we provide ourselves, kept apart from everyone else's records. A profile announces at
/// most 48 skill and resource tags (`guild_core::limits`: 32 skills + 16 resources); 1024 leaves
/// room for any future kind of key while bounding a runaway caller.
pub const MAX_OWN_PROVIDED_KEYS: usize = 1024;

/// Keys one remote provider may hold in our store. A Guild profile announces at most
/// `MAX_SKILLS + MAX_RESOURCES` = 32 + 16 = 48 tags (`guild_core::limits`), so an honest
/// member with a full profile fits exactly; a peer announcing more is not an honest Guild node.
pub const MAX_KEYS_PER_PROVIDER: usize = 48;

/// `ADD_PROVIDER`s one peer may send at once (a token bucket of this size): one full
/// profile announcement plus a few changes.
pub const PROVIDER_BURST: u32 = 64;

/// One more `ADD_PROVIDER` is allowed per this interval (120 per hour). Honest nodes
/// re-announce each key every few hours, so this only slows down churn and floods.
pub const PROVIDER_REFILL: Duration = Duration::from_secs(30);

/// Known members' provider records in total: 170 members with full profiles, far more than a
/// daemon's trust reaches in practice. About 1.2 KiB each at most: 10 MiB worst case.
pub const MAX_MEMBER_PROVIDER_RECORDS: usize = 8 * 1024;

/// Strangers' provider records on keys the community does not use (yet). The table that 92
/// fresh identities filled in issue 20; now it is shared fairly, so it no longer locks.
pub const MAX_STRANGER_PROVIDER_RECORDS: usize = 4096;

/// Strangers' provider records on keys the community uses: room a flood on other keys
/// cannot take (a newcomer announcing a skill members have or look for).
pub const MAX_COMMUNITY_STRANGER_RECORDS: usize = 1024;

/// Strangers' records one address range (IPv4 /24, IPv6 /48) may hold, in each stranger room:
/// a quarter of it, so four ranges at least share the room.
pub const MAX_STRANGER_RECORDS_PER_RANGE: usize = MAX_STRANGER_PROVIDER_RECORDS / 4;

/// Keys we looked up that count as used by the community (the most recent ones).
pub const MAX_LOOKED_UP_KEYS: usize = 1024;

/// Longest key accepted in a remote provider record. Guild keys are 34-byte multihashes
/// (`0x12 0x20 ‖ SHA-256(tag)`); a Kademlia packet could otherwise carry a 64 KiB key.
pub const MAX_PROVIDER_KEY_BYTES: usize = 64;

/// Addresses kept per remote provider record (the first ones sent).
pub const MAX_PROVIDER_ADDRS: usize = 4;

/// Longest address kept in a remote provider record, in bytes (a relayed address with two
/// peer ids is about 90 bytes).
pub const MAX_PROVIDER_ADDR_BYTES: usize = 256;

/// Peers whose rate budget is remembered. Providers holding records are always remembered;
/// the others are forgotten in one pass when this many are tracked.
pub const MAX_TRACKED_PROVIDERS: usize = 4
    * (MAX_MEMBER_PROVIDER_RECORDS
        + MAX_STRANGER_PROVIDER_RECORDS
        + MAX_COMMUNITY_STRANGER_RECORDS);

/// Least time between two passes removing expired provider records.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// Limits of a [`GuildStore`]; [`DhtStoreConfig::default`] gives the documented constants.
#[derive(Debug, Clone)]
pub struct DhtStoreConfig {
    /// See [`MAX_OWN_PROVIDED_KEYS`].
    pub max_own_keys: usize,
    /// See [`MAX_MEMBER_PROVIDER_RECORDS`].
    pub max_member_records: usize,
    /// See [`MAX_STRANGER_PROVIDER_RECORDS`].
    pub max_stranger_records: usize,
    /// See [`MAX_COMMUNITY_STRANGER_RECORDS`].
    pub max_community_stranger_records: usize,
    /// See [`MAX_STRANGER_RECORDS_PER_RANGE`] (applies to each stranger room, and never more
    /// than that room).
    pub max_stranger_records_per_range: usize,
    /// Providers per key ([`crate::KAD_MAX_PROVIDERS_PER_KEY`]).
    pub max_providers_per_key: usize,
    /// See [`MAX_KEYS_PER_PROVIDER`].
    pub max_keys_per_provider: usize,
    /// See [`PROVIDER_BURST`].
    pub burst: u32,
    /// See [`PROVIDER_REFILL`].
    pub refill: Duration,
    /// The provider record TTL: an entry not refreshed for half of it is stale and may be
    /// replaced when its key is full. `None`: records never expire and are never stale.
    pub record_ttl: Option<Duration>,
    /// Value records (`MemoryStore`'s `max_records`).
    pub max_records: usize,
    /// Largest value record (`MemoryStore`'s `max_value_bytes`).
    pub max_value_bytes: usize,
}

impl Default for DhtStoreConfig {
    fn default() -> Self {
        Self {
            max_own_keys: MAX_OWN_PROVIDED_KEYS,
            max_member_records: MAX_MEMBER_PROVIDER_RECORDS,
            max_stranger_records: MAX_STRANGER_PROVIDER_RECORDS,
            max_community_stranger_records: MAX_COMMUNITY_STRANGER_RECORDS,
            max_stranger_records_per_range: MAX_STRANGER_RECORDS_PER_RANGE,
            max_providers_per_key: crate::behaviour::KAD_MAX_PROVIDERS_PER_KEY,
            max_keys_per_provider: MAX_KEYS_PER_PROVIDER,
            burst: PROVIDER_BURST,
            refill: PROVIDER_REFILL,
            record_ttl: Some(crate::config::DEFAULT_PROVIDER_RECORD_TTL),
            max_records: crate::behaviour::KAD_MAX_RECORDS,
            max_value_bytes: crate::behaviour::KAD_MAX_VALUE_BYTES,
        }
    }
}

/// What the DHT store holds and what it refused, since the node started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DhtStoreStats {
    /// Keys we provide.
    pub own_keys: usize,
    /// Distinct keys with remote providers.
    pub remote_keys: usize,
    /// Remote provider records.
    pub remote_records: usize,
    /// Known members' provider records.
    pub member_records: usize,
    /// Strangers' provider records on keys the community does not use.
    pub stranger_records: usize,
    /// Strangers' provider records on keys the community uses.
    pub community_stranger_records: usize,
    /// Remote provider records stored (new or refreshed).
    pub accepted: u64,
    /// Stored records that came without any address.
    pub without_addresses: u64,
    /// Records that came without addresses and were given the provider's identify addresses.
    pub addresses_filled: u64,
    /// Entries of a full key replaced by a newer announcement (stale, or a stranger's).
    pub replaced: u64,
    /// Strangers' records evicted to share a full room fairly.
    pub evicted: u64,
    /// `ADD_PROVIDER`s ignored: the peer was over its rate budget.
    pub rate_limited: u64,
    /// Ignored: the provider already holds [`MAX_KEYS_PER_PROVIDER`] keys.
    pub over_provider_budget: u64,
    /// Ignored: the key had its `k` providers and none could be replaced.
    pub key_full: u64,
    /// Ignored: the room (or the range's share of it) was full and the newcomer already had
    /// its fair share.
    pub store_full: u64,
    /// Ignored: the key is longer than [`MAX_PROVIDER_KEY_BYTES`].
    pub key_too_long: u64,
    /// Addresses dropped from records (beyond [`MAX_PROVIDER_ADDRS`] or too long).
    pub addresses_dropped: u64,
    /// Expired remote records removed.
    pub expired: u64,
}

/// Which room a remote record is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Room {
    Member,
    Stranger,
    CommunityStranger,
}

/// Address group of a provider: (range, address), `None` when unknown (relayed or not
/// connected when it announced).
type Group = Option<(IpAddr, IpAddr)>;

/// One stored remote provider record.
#[derive(Debug, Clone)]
struct Entry {
    record: ProviderRecord,
    /// When it was last announced.
    refreshed: Instant,
    room: Room,
    group: Group,
}

impl Entry {
    fn range(&self) -> Option<IpAddr> {
        self.group.map(|g| g.0)
    }
    fn addr(&self) -> Option<IpAddr> {
        self.group.map(|g| g.1)
    }
    fn unreachable(&self) -> bool {
        self.record.addresses.is_empty()
    }
}

/// The providers of one key.
#[derive(Debug, Default)]
struct KeyEntry {
    providers: Vec<Entry>,
    /// The community uses this key (sticky until the key has no provider).
    community: bool,
}

/// Strangers' records of one room, with the counts fair eviction needs.
#[derive(Debug, Default)]
struct StrangerRoom {
    records: usize,
    /// Records per range.
    by_range: HashMap<Option<IpAddr>, usize>,
    /// (records, range), to find the most crowded range.
    ranges: BTreeSet<(usize, Option<IpAddr>)>,
    /// Per range, (records, provider), to find the range's provider holding most.
    providers: HashMap<Option<IpAddr>, BTreeSet<(usize, PeerId)>>,
    /// Records per (range, provider) in this room.
    by_provider: HashMap<(Option<IpAddr>, PeerId), usize>,
}

impl StrangerRoom {
    fn range_count(&self, range: Option<IpAddr>) -> usize {
        self.by_range.get(&range).copied().unwrap_or(0)
    }

    fn provider_count(&self, range: Option<IpAddr>, peer: PeerId) -> usize {
        self.by_provider.get(&(range, peer)).copied().unwrap_or(0)
    }

    /// One more (`up`) or one less record of `peer` in `range`.
    fn adjust(&mut self, peer: PeerId, range: Option<IpAddr>, up: bool) {
        let r = self.range_count(range);
        let p = self.provider_count(range, peer);
        let (r2, p2) = if up {
            (r + 1, p + 1)
        } else {
            (r.saturating_sub(1), p.saturating_sub(1))
        };
        self.ranges.remove(&(r, range));
        let of_range = self.providers.entry(range).or_default();
        of_range.remove(&(p, peer));
        if p2 > 0 {
            of_range.insert((p2, peer));
        } else if of_range.is_empty() {
            self.providers.remove(&range);
        }
        if r2 > 0 {
            self.ranges.insert((r2, range));
            self.by_range.insert(range, r2);
        } else {
            self.by_range.remove(&range);
        }
        if p2 > 0 {
            self.by_provider.insert((range, peer), p2);
        } else {
            self.by_provider.remove(&(range, peer));
        }
        if up {
            self.records += 1;
        } else {
            self.records = self.records.saturating_sub(1);
        }
    }

    /// The provider holding most records in `range`, and how many.
    fn top_of_range(&self, range: Option<IpAddr>) -> Option<(PeerId, usize)> {
        self.providers.get(&range)?.last().map(|(n, p)| (*p, *n))
    }

    /// The most crowded range.
    fn top_range(&self) -> Option<(Option<IpAddr>, usize)> {
        self.ranges.last().map(|(n, r)| (*r, *n))
    }
}

/// What we remember about one remote provider.
#[derive(Debug)]
struct ProviderState {
    /// Keys it holds in the store (at most [`MAX_KEYS_PER_PROVIDER`]).
    keys: Vec<RecordKey>,
    /// Rate budget: tokens left as of `refilled`.
    tokens: f64,
    refilled: Instant,
}

/// The Kademlia record store of a Guild node (see the module docs for its budgets).
pub struct GuildStore {
    local: PeerId,
    config: DhtStoreConfig,
    values: MemoryStore,
    own: HashMap<RecordKey, ProviderRecord>,
    remote: HashMap<RecordKey, KeyEntry>,
    providers: HashMap<PeerId, ProviderState>,
    member_records: usize,
    strangers: StrangerRoom,
    community_strangers: StrangerRoom,
    /// Known members (set by the node).
    known: HashSet<PeerId>,
    /// Keys we looked up, most recent last.
    looked_up: VecDeque<RecordKey>,
    looked_up_set: HashSet<RecordKey>,
    /// Connected peers: the address group of their connection and their identify addresses.
    connected: HashMap<PeerId, (Group, Vec<Multiaddr>)>,
    next_purge: Instant,
    stats: DhtStoreStats,
}

impl GuildStore {
    /// A store for the node `local` with the given limits.
    pub fn new(local: PeerId, config: DhtStoreConfig) -> Self {
        let values = MemoryStore::with_config(
            local,
            MemoryStoreConfig {
                max_records: config.max_records,
                max_value_bytes: config.max_value_bytes,
                // Provider records never reach the inner store.
                max_provided_keys: 0,
                max_providers_per_key: 0,
            },
        );
        Self {
            local,
            config,
            values,
            own: HashMap::new(),
            remote: HashMap::new(),
            providers: HashMap::new(),
            member_records: 0,
            strangers: StrangerRoom::default(),
            community_strangers: StrangerRoom::default(),
            known: HashSet::new(),
            looked_up: VecDeque::new(),
            looked_up_set: HashSet::new(),
            connected: HashMap::new(),
            next_purge: Instant::now() + PURGE_INTERVAL,
            stats: DhtStoreStats::default(),
        }
    }

    /// Current sizes and counters.
    pub fn stats(&self) -> DhtStoreStats {
        DhtStoreStats {
            own_keys: self.own.len(),
            remote_keys: self.remote.len(),
            remote_records: self.member_records
                + self.strangers.records
                + self.community_strangers.records,
            member_records: self.member_records,
            stranger_records: self.strangers.records,
            community_stranger_records: self.community_strangers.records,
            ..self.stats
        }
    }

    /// Keys `provider` holds in the store.
    pub fn keys_of(&self, provider: &PeerId) -> usize {
        self.providers.get(provider).map_or(0, |p| p.keys.len())
    }

    /// The node's known members: their records go to the members' room. Records stored before
    /// a peer became known move when it announces again. (The event loop calls this and the
    /// three below; they are public for benchmarks and tests of the store alone.)
    pub fn set_known(&mut self, known: HashSet<PeerId>) {
        self.known = known;
    }

    /// We looked `key` up: the community uses it.
    pub fn note_lookup(&mut self, key: &RecordKey) {
        if self.looked_up_set.insert(key.clone()) {
            self.looked_up.push_back(key.clone());
            if self.looked_up.len() > MAX_LOOKED_UP_KEYS {
                if let Some(old) = self.looked_up.pop_front() {
                    self.looked_up_set.remove(&old);
                }
            }
        }
        self.mark_community(key);
    }

    /// A peer connected: the address group of its connection (`ip` from
    /// [`crate::guard::ip_key`]).
    pub fn peer_connected(&mut self, peer: PeerId, ip: Option<IpAddr>) {
        let group = ip.map(|ip| (range_of(ip), ip));
        self.connected
            .entry(peer)
            .and_modify(|e| {
                if e.0.is_none() {
                    e.0 = group;
                }
            })
            .or_insert((group, Vec::new()));
    }

    /// A connected peer told us its listen addresses (identify).
    pub fn peer_identified(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        if let Some(e) = self.connected.get_mut(&peer) {
            e.1 = addrs
                .iter()
                .filter(|a| a.as_ref().len() <= MAX_PROVIDER_ADDR_BYTES)
                .take(MAX_PROVIDER_ADDRS)
                .cloned()
                .collect();
        }
    }

    /// A peer's last connection closed.
    pub fn peer_disconnected(&mut self, peer: &PeerId) {
        self.connected.remove(peer);
    }

    fn mark_community(&mut self, key: &RecordKey) {
        let Some(entry) = self.remote.get_mut(key) else {
            return;
        };
        if entry.community {
            return;
        }
        entry.community = true;
        for e in &mut entry.providers {
            if e.room == Room::Stranger {
                e.room = Room::CommunityStranger;
                self.strangers.adjust(e.record.provider, e.range(), false);
                self.community_strangers
                    .adjust(e.record.provider, e.range(), true);
            }
        }
    }

    fn room_mut(&mut self, room: Room) -> Option<&mut StrangerRoom> {
        match room {
            Room::Member => None,
            Room::Stranger => Some(&mut self.strangers),
            Room::CommunityStranger => Some(&mut self.community_strangers),
        }
    }

    /// Counts a stored entry in its room and its provider.
    fn account(&mut self, key: &RecordKey, e: &Entry, now: Instant) {
        match self.room_mut(e.room) {
            Some(room) => room.adjust(e.record.provider, e.range(), true),
            None => self.member_records += 1,
        }
        let burst = self.config.burst;
        self.providers
            .entry(e.record.provider)
            .or_insert_with(|| full(now, burst))
            .keys
            .push(key.clone());
    }

    /// Forgets a removed entry from its room and its provider.
    fn unaccount(&mut self, key: &RecordKey, e: &Entry) {
        match self.room_mut(e.room) {
            Some(room) => room.adjust(e.record.provider, e.range(), false),
            None => self.member_records = self.member_records.saturating_sub(1),
        }
        if let Some(state) = self.providers.get_mut(&e.record.provider) {
            if let Some(i) = state.keys.iter().position(|k| k == key) {
                state.keys.swap_remove(i);
            }
        }
    }

    /// Removes `provider`'s entry for `key`, if any, and returns it.
    fn take_entry(&mut self, key: &RecordKey, provider: &PeerId) -> Option<Entry> {
        let hash_map::Entry::Occupied(mut slot) = self.remote.entry(key.clone()) else {
            return None;
        };
        let providers = &mut slot.get_mut().providers;
        let i = providers
            .iter()
            .position(|p| p.record.provider == *provider)?;
        let e = providers.swap_remove(i);
        if providers.is_empty() {
            slot.remove();
        }
        self.unaccount(key, &e);
        Some(e)
    }

    /// Adds or refreshes a remote provider record, at time `now`. Ignored records are counted,
    /// never an error: the sender learns nothing about our budgets.
    fn add_remote(&mut self, mut record: ProviderRecord, now: Instant) {
        if now >= self.next_purge {
            self.purge_expired(now);
        }
        if !self.take_token(record.provider, now) {
            self.stats.rate_limited += 1;
            return;
        }
        if record.key.as_ref().len() > MAX_PROVIDER_KEY_BYTES {
            self.stats.key_too_long += 1;
            return;
        }
        let before = record.addresses.len();
        record
            .addresses
            .retain(|a| a.as_ref().len() <= MAX_PROVIDER_ADDR_BYTES);
        record.addresses.truncate(MAX_PROVIDER_ADDRS);
        self.stats.addresses_dropped += (before - record.addresses.len()) as u64;
        let provider = record.provider;
        let (group, listen) = self.connected.get(&provider).cloned().unwrap_or_default();
        if record.addresses.is_empty() {
            self.stats.without_addresses += 1;
            if !listen.is_empty() {
                record.addresses = listen;
                self.stats.addresses_filled += 1;
            }
        }
        let member = self.known.contains(&provider);
        let key = record.key.clone();
        let community = member
            || self.own.contains_key(&key)
            || self.looked_up_set.contains(&key)
            || self.remote.get(&key).is_some_and(|k| k.community);
        let room = match (member, community) {
            (true, _) => Room::Member,
            (false, true) => Room::CommunityStranger,
            (false, false) => Room::Stranger,
        };
        let entry = Entry {
            record,
            refreshed: now,
            room,
            group,
        };

        // A refresh: the old entry goes, the new one is admitted as if new but with its own
        // slot and budget already counted as free.
        let refreshing = self.take_entry(&key, &provider).is_some();
        if !refreshing && self.keys_of(&provider) >= self.config.max_keys_per_provider {
            self.stats.over_provider_budget += 1;
            return;
        }
        if member && !refreshing && self.member_records >= self.config.max_member_records {
            self.stats.store_full += 1;
            return;
        }
        // Room in the key.
        let providers = self.remote.get(&key).map_or(0, |k| k.providers.len());
        if providers >= self.config.max_providers_per_key {
            let Some(victim) = self.victim_in_key(&key, &entry, now) else {
                self.stats.key_full += 1;
                return;
            };
            // Room in the stranger room too, before anything is replaced.
            if !self.stranger_room_for(&entry, Some(&victim)) {
                self.stats.store_full += 1;
                return;
            }
            self.take_entry(&key, &victim);
            self.stats.replaced += 1;
        } else if !self.stranger_room_for(&entry, None) {
            self.stats.store_full += 1;
            return;
        }
        if member {
            self.mark_community(&key);
        }
        let slot = self.remote.entry(key.clone()).or_default();
        slot.community |= community;
        slot.providers.push(entry.clone());
        self.account(&key, &entry, now);
        self.stats.accepted += 1;
    }

    /// For a full key: whose entry `new` may take the place of (see the module docs).
    fn victim_in_key(&self, key: &RecordKey, new: &Entry, now: Instant) -> Option<PeerId> {
        let providers = &self.remote.get(key)?.providers;
        if let Some(ttl) = self.config.record_ttl {
            let fresh_until = now + ttl / 2;
            let stale = providers
                .iter()
                .filter(|p| p.record.expires.is_some_and(|e| e <= fresh_until))
                .min_by_key(|p| p.record.expires);
            if let Some(p) = stale {
                return Some(p.record.provider);
            }
        }
        let count = |f: &dyn Fn(&Entry) -> bool| providers.iter().filter(|p| f(p)).count();
        let rank = |e: &Entry| {
            (
                count(&|p| p.range() == e.range()),
                count(&|p| p.addr() == e.addr()),
                e.unreachable(),
                std::cmp::Reverse(e.refreshed),
            )
        };
        let worst = providers
            .iter()
            .filter(|p| p.room != Room::Member)
            .max_by_key(|p| rank(p))?;
        if new.room == Room::Member {
            return Some(worst.record.provider);
        }
        // How the newcomer would rank once in the worst entry's place.
        let (wr, wa, _, _) = rank(worst);
        let same_range = worst.range() == new.range();
        let same_addr = worst.addr() == new.addr();
        let new_rank = (
            count(&|p| p.range() == new.range()) + usize::from(!same_range),
            count(&|p| p.addr() == new.addr()) + usize::from(!same_addr),
            new.unreachable(),
            std::cmp::Reverse(new.refreshed),
        );
        let adjusted_worst = (
            wr,
            wa,
            worst.unreachable(),
            std::cmp::Reverse(worst.refreshed),
        );
        (adjusted_worst > new_rank).then_some(worst.record.provider)
    }

    /// Whether `new` (a stranger's record) fits its room, evicting fairly if the room or its
    /// range's share is full. `replacing`: the entry it will replace in a full key (freeing
    /// its place if it is in the same room). Members' records always fit here.
    fn stranger_room_for(&mut self, new: &Entry, replacing: Option<&PeerId>) -> bool {
        let (cap, range_cap) = match new.room {
            Room::Member => return true,
            Room::Stranger => (
                self.config.max_stranger_records,
                self.config
                    .max_stranger_records_per_range
                    .min(self.config.max_stranger_records),
            ),
            Room::CommunityStranger => (
                self.config.max_community_stranger_records,
                self.config
                    .max_stranger_records_per_range
                    .min(self.config.max_community_stranger_records),
            ),
        };
        let key = &new.record.key;
        let freed = replacing
            .and_then(|p| {
                self.remote
                    .get(key)?
                    .providers
                    .iter()
                    .find(|e| e.record.provider == *p)
            })
            .filter(|e| e.room == new.room)
            .map(|e| e.range());
        let provider = new.record.provider;
        let range = new.range();
        let room = match new.room {
            Room::CommunityStranger => &self.community_strangers,
            _ => &self.strangers,
        };
        let total = room.records - usize::from(freed.is_some());
        let in_range = room.range_count(range) - usize::from(freed == Some(range));
        let mine = room.provider_count(range, provider);
        // Which scope is full: the range's share first, then the room.
        let victim_range = if in_range >= range_cap {
            Some(range)
        } else if total >= cap {
            room.top_range().map(|(r, _)| r)
        } else {
            return true;
        };
        let Some(victim_range) = victim_range else {
            return false;
        };
        let Some((victim, held)) = room.top_of_range(victim_range) else {
            return false;
        };
        let fair = if victim == provider {
            true // its own oldest record makes way for its newest
        } else if victim_range == range {
            held > mine + 1
        } else {
            (room.range_count(victim_range), held) > (in_range + 1, mine + 1)
        };
        if !fair {
            return false;
        }
        // The victim's least recently announced record in this room.
        let room_kind = new.room;
        let Some(state) = self.providers.get(&victim) else {
            return false;
        };
        let oldest = state
            .keys
            .iter()
            .filter(|k| *k != key)
            .filter_map(|k| {
                let e = self
                    .remote
                    .get(k)?
                    .providers
                    .iter()
                    .find(|e| e.record.provider == victim)?;
                (e.room == room_kind).then_some((e.refreshed, k.clone()))
            })
            .min_by_key(|(t, _)| *t)
            .map(|(_, k)| k);
        let Some(old_key) = oldest else {
            return false;
        };
        self.take_entry(&old_key, &victim);
        self.stats.evicted += 1;
        true
    }

    /// Takes one token from `peer`'s rate budget; false if it has none.
    fn take_token(&mut self, peer: PeerId, now: Instant) -> bool {
        if !self.providers.contains_key(&peer) && self.providers.len() >= MAX_TRACKED_PROVIDERS {
            // Forget peers holding no record: at most a quarter of the map holds one, so this
            // frees most of it and runs at most once per that many new peers.
            self.providers.retain(|_, p| !p.keys.is_empty());
        }
        let burst = f64::from(self.config.burst);
        let refill = self.config.refill.as_secs_f64().max(f64::MIN_POSITIVE);
        let state = self
            .providers
            .entry(peer)
            .or_insert_with(|| full(now, self.config.burst));
        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        state.tokens = (state.tokens + elapsed / refill).min(burst);
        state.refilled = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Removes every expired remote record (one pass over the store).
    fn purge_expired(&mut self, now: Instant) {
        self.next_purge = now + PURGE_INTERVAL;
        let expired: Vec<(RecordKey, PeerId)> = self
            .remote
            .iter()
            .flat_map(|(k, entry)| {
                entry
                    .providers
                    .iter()
                    .filter(|p| p.record.is_expired(now))
                    .map(move |p| (k.clone(), p.record.provider))
            })
            .collect();
        self.stats.expired += expired.len() as u64;
        for (key, provider) in expired {
            self.take_entry(&key, &provider);
        }
    }
}

fn full(now: Instant, burst: u32) -> ProviderState {
    ProviderState {
        keys: Vec::new(),
        tokens: f64::from(burst),
        refilled: now,
    }
}

impl RecordStore for GuildStore {
    type RecordsIter<'a> = <MemoryStore as RecordStore>::RecordsIter<'a>;
    type ProvidedIter<'a> = iter::Map<
        hash_map::Values<'a, RecordKey, ProviderRecord>,
        fn(&'a ProviderRecord) -> Cow<'a, ProviderRecord>,
    >;

    fn get(&self, k: &RecordKey) -> Option<Cow<'_, Record>> {
        self.values.get(k)
    }

    fn put(&mut self, r: Record) -> Result<()> {
        self.values.put(r)
    }

    fn remove(&mut self, k: &RecordKey) {
        self.values.remove(k);
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        self.values.records()
    }

    /// Our own records go to their own table ([`MAX_OWN_PROVIDED_KEYS`], an error past it);
    /// remote ones are admitted under the budgets in the module docs (never an error).
    fn add_provider(&mut self, record: ProviderRecord) -> Result<()> {
        if record.provider == self.local {
            let num_keys = self.own.len();
            let key = record.key.clone();
            match self.own.entry(record.key.clone()) {
                hash_map::Entry::Occupied(mut e) => {
                    e.insert(record);
                }
                hash_map::Entry::Vacant(e) => {
                    if num_keys >= self.config.max_own_keys {
                        return Err(Error::MaxProvidedKeys);
                    }
                    e.insert(record);
                }
            }
            self.mark_community(&key);
            return Ok(());
        }
        self.add_remote(record, Instant::now());
        Ok(())
    }

    /// Our own record first (if we provide the key), then known members', then strangers'
    /// (libp2p hands out the first `k`).
    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        let remote = self
            .remote
            .get(key)
            .map(|k| &k.providers[..])
            .unwrap_or(&[]);
        let members = remote.iter().filter(|e| e.room == Room::Member);
        let strangers = remote.iter().filter(|e| e.room != Room::Member);
        self.own
            .get(key)
            .into_iter()
            .chain(members.chain(strangers).map(|e| &e.record))
            .cloned()
            .collect()
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.own.values().map(Cow::Borrowed)
    }

    fn remove_provider(&mut self, key: &RecordKey, provider: &PeerId) {
        if *provider == self.local {
            self.own.remove(key);
            return;
        }
        self.take_entry(key, provider);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use libp2p::Multiaddr;

    fn key(i: usize) -> RecordKey {
        RecordKey::new(&format!("key-{i}"))
    }

    fn remote(key: RecordKey, provider: PeerId, ttl: Duration, now: Instant) -> ProviderRecord {
        ProviderRecord {
            key,
            provider,
            expires: Some(now + ttl),
            addresses: vec!["/ip4/10.0.0.1/tcp/4001".parse().unwrap()],
        }
    }

    const TTL: Duration = Duration::from_secs(24 * 3600);

    fn store() -> (GuildStore, PeerId) {
        let local = PeerId::random();
        (GuildStore::new(local, DhtStoreConfig::default()), local)
    }

    /// Adds as if it arrived at `now`.
    fn add(store: &mut GuildStore, r: ProviderRecord, now: Instant) {
        store.add_remote(r, now);
    }

    #[test]
    fn own_keys_never_compete_with_remote_ones() {
        let (mut store, local) = store();
        let now = Instant::now();
        // 90 peers × 48 keys: more than the remote key table holds.
        let mut i = 0;
        for _ in 0..90 {
            let peer = PeerId::random();
            for _ in 0..MAX_KEYS_PER_PROVIDER {
                add(&mut store, remote(key(i), peer, TTL, now), now);
                i += 1;
            }
        }
        let stats = store.stats();
        // Peers never seen connected are one group of unknown address: one range's share.
        assert_eq!(stats.stranger_records, MAX_STRANGER_RECORDS_PER_RANGE);
        assert_eq!(stats.remote_keys, MAX_STRANGER_RECORDS_PER_RANGE);
        assert!(stats.evicted > 0);
        // Our own announcement still goes in, and is served first.
        let mine = RecordKey::new(&"my skill");
        store
            .add_provider(ProviderRecord::new(mine.clone(), local, vec![]))
            .unwrap();
        assert_eq!(store.provided().count(), 1);
        assert_eq!(store.providers(&mine)[0].provider, local);
        store.remove_provider(&mine, &local);
        assert_eq!(store.provided().count(), 0);
    }

    #[test]
    fn own_keys_have_their_own_bound() {
        let (mut store, local) = store();
        for i in 0..MAX_OWN_PROVIDED_KEYS {
            store
                .add_provider(ProviderRecord::new(key(i), local, vec![]))
                .unwrap();
        }
        // Refreshing an existing key is fine, a new one is refused.
        store
            .add_provider(ProviderRecord::new(key(0), local, vec![]))
            .unwrap();
        assert!(matches!(
            store.add_provider(ProviderRecord::new(key(usize::MAX), local, vec![])),
            Err(Error::MaxProvidedKeys)
        ));
    }

    #[test]
    fn one_provider_holds_at_most_its_budget() {
        let (mut store, _) = store();
        let now = Instant::now();
        let peer = PeerId::random();
        for i in 0..PROVIDER_BURST as usize {
            add(&mut store, remote(key(i), peer, TTL, now), now);
        }
        assert_eq!(store.keys_of(&peer), MAX_KEYS_PER_PROVIDER);
        let stats = store.stats();
        assert_eq!(stats.remote_records, MAX_KEYS_PER_PROVIDER);
        assert_eq!(
            stats.over_provider_budget,
            (PROVIDER_BURST as usize - MAX_KEYS_PER_PROVIDER) as u64
        );
        assert_eq!(
            stats.remote_keys, MAX_KEYS_PER_PROVIDER,
            "no empty keys left"
        );
        // Refreshing a key it holds is still allowed (within the rate).
        let later = now + PROVIDER_REFILL;
        add(&mut store, remote(key(0), peer, TTL, later), later);
        assert_eq!(store.stats().accepted, MAX_KEYS_PER_PROVIDER as u64 + 1);
    }

    #[test]
    fn the_rate_budget_refills_over_time() {
        let (mut store, _) = store();
        let now = Instant::now();
        let peer = PeerId::random();
        for _ in 0..PROVIDER_BURST + 10 {
            add(&mut store, remote(key(0), peer, TTL, now), now);
        }
        assert_eq!(store.stats().rate_limited, 10);
        assert_eq!(store.stats().accepted, u64::from(PROVIDER_BURST));
        let later = now + PROVIDER_REFILL * 2;
        for _ in 0..3 {
            add(&mut store, remote(key(0), peer, TTL, later), later);
        }
        assert_eq!(store.stats().accepted, u64::from(PROVIDER_BURST) + 2);
        assert_eq!(store.stats().rate_limited, 11);
    }

    /// Connects `peer` from `ip` with these listen addresses, as the event loop would.
    fn connect(store: &mut GuildStore, peer: PeerId, ip: &str, listen: &[&str]) {
        store.peer_connected(peer, Some(ip.parse().unwrap()));
        let addrs: Vec<Multiaddr> = listen.iter().map(|a| a.parse().unwrap()).collect();
        store.peer_identified(peer, &addrs);
    }

    fn bare(key: RecordKey, provider: PeerId, now: Instant) -> ProviderRecord {
        ProviderRecord {
            addresses: vec![],
            ..remote(key, provider, TTL, now)
        }
    }

    fn providers_of(store: &GuildStore, k: &RecordKey) -> Vec<PeerId> {
        store.providers(k).iter().map(|p| p.provider).collect()
    }

    #[test]
    fn a_provider_flood_from_fresh_identities_cannot_lock_the_table() {
        // Issue 20: 92 fresh identities, 48 keys each (4,416 ADD_PROVIDER), from a few
        // addresses of one /24, then a newcomer announces a new skill from elsewhere.
        let (mut store, _) = store();
        let now = Instant::now();
        let mut i = 0;
        for f in 0..92 {
            let peer = PeerId::random();
            connect(&mut store, peer, &format!("203.0.113.{}", f % 4), &[]);
            for _ in 0..MAX_KEYS_PER_PROVIDER {
                add(&mut store, bare(key(i), peer, now), now);
                i += 1;
            }
        }
        let stats = store.stats();
        assert!(
            stats.stranger_records <= MAX_STRANGER_RECORDS_PER_RANGE,
            "{stats:?}"
        );
        let newcomer = PeerId::random();
        connect(
            &mut store,
            newcomer,
            "198.51.100.9",
            &["/ip4/198.51.100.9/tcp/4001"],
        );
        let skill = RecordKey::new(&"a new skill");
        add(&mut store, bare(skill.clone(), newcomer, now), now);
        let served = store.providers(&skill);
        assert_eq!(served.len(), 1, "stored and handed out");
        assert_eq!(served[0].provider, newcomer);
        assert_eq!(served[0].addresses.len(), 1, "filled from identify");

        // The same flood from 92 different /24s fills the strangers' room; the newcomer still
        // takes the place of one record of an identity holding 48.
        let (mut store, _) = self::store();
        let mut i = 0;
        let flooder = PeerId::random();
        for f in 0..92 {
            let peer = if f == 0 { flooder } else { PeerId::random() };
            connect(&mut store, peer, &format!("10.{f}.0.1"), &[]);
            for _ in 0..MAX_KEYS_PER_PROVIDER {
                add(&mut store, bare(key(i), peer, now), now);
                i += 1;
            }
        }
        assert_eq!(
            store.stats().stranger_records,
            MAX_STRANGER_PROVIDER_RECORDS
        );
        connect(&mut store, newcomer, "198.51.100.9", &[]);
        add(&mut store, bare(skill.clone(), newcomer, now), now);
        assert_eq!(providers_of(&store, &skill), vec![newcomer]);
        assert_eq!(
            store.stats().stranger_records,
            MAX_STRANGER_PROVIDER_RECORDS
        );
        // A flooder's further key does not take the newcomer's place (it already has more).
        assert!(store.keys_of(&flooder) > 1);
        let later = now + PROVIDER_REFILL * 10;
        add(
            &mut store,
            bare(RecordKey::new(&"more"), flooder, later),
            later,
        );
        assert_eq!(providers_of(&store, &skill), vec![newcomer]);
    }

    #[test]
    fn jammers_without_addresses_give_way_to_a_newcomer() {
        // Issue 20: 25 identities announce one skill with no address; a newcomer's later
        // announcement is stored and handed out.
        let (mut store, _) = store();
        let now = Instant::now();
        let k = key(1);
        for _ in 0..25 {
            let jammer = PeerId::random();
            connect(&mut store, jammer, "127.0.0.1", &[]);
            add(&mut store, bare(k.clone(), jammer, now), now);
        }
        assert_eq!(
            store.providers(&k).len(),
            crate::behaviour::KAD_MAX_PROVIDERS_PER_KEY
        );
        let newcomer = PeerId::random();
        connect(
            &mut store,
            newcomer,
            "127.0.0.1",
            &["/ip4/127.0.0.1/tcp/4001"],
        );
        let t = now + Duration::from_secs(1);
        add(&mut store, bare(k.clone(), newcomer, t), t);
        assert!(providers_of(&store, &k).contains(&newcomer));
        // More jammers (unreachable, same address) replace each other, never the newcomer.
        for _ in 0..40 {
            let jammer = PeerId::random();
            connect(&mut store, jammer, "127.0.0.1", &[]);
            let t = t + Duration::from_secs(1);
            add(&mut store, bare(k.clone(), jammer, t), t);
        }
        assert!(providers_of(&store, &k).contains(&newcomer));
        // A newcomer from a range less represented in the key wins even without an address.
        let other = PeerId::random();
        connect(&mut store, other, "192.0.2.1", &[]);
        add(&mut store, bare(k.clone(), other, t), t);
        assert!(providers_of(&store, &k).contains(&other));
    }

    #[test]
    fn known_members_have_their_own_room_and_are_never_replaced_by_strangers() {
        let (mut store, _) = store();
        let now = Instant::now();
        let k = key(7);
        let members: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        store.set_known(members.iter().copied().collect());
        // A full key of strangers …
        for _ in 0..crate::behaviour::KAD_MAX_PROVIDERS_PER_KEY {
            let s = PeerId::random();
            connect(&mut store, s, "10.0.0.1", &[]);
            add(&mut store, bare(k.clone(), s, now), now);
        }
        // … takes a member: a stranger's entry makes way.
        connect(&mut store, members[0], "10.0.0.1", &[]);
        add(&mut store, remote(k.clone(), members[0], TTL, now), now);
        let served = providers_of(&store, &k);
        assert_eq!(served[0], members[0], "members are served first");
        assert_eq!(store.stats().member_records, 1);
        // The key is now used by the community; a member's entry never gives way to a stranger.
        for _ in 0..50 {
            let s = PeerId::random();
            connect(&mut store, s, "192.0.2.1", &["/ip4/192.0.2.1/tcp/1"]);
            add(&mut store, remote(k.clone(), s, TTL, now), now);
        }
        assert!(providers_of(&store, &k).contains(&members[0]));
        assert!(store.stats().community_stranger_records > 0);
        // The strangers' rooms full of a flood: a member's record still goes in.
        let mut i = 100;
        for f in 0..100 {
            let peer = PeerId::random();
            connect(&mut store, peer, &format!("10.{f}.1.1"), &[]);
            for _ in 0..MAX_KEYS_PER_PROVIDER {
                add(&mut store, bare(key(i), peer, now), now);
                i += 1;
            }
        }
        add(&mut store, remote(key(99), members[1], TTL, now), now);
        assert_eq!(providers_of(&store, &key(99)), vec![members[1]]);
    }

    #[test]
    fn keys_the_community_uses_keep_room_a_flood_elsewhere_cannot_take() {
        let (mut store, _) = store();
        let now = Instant::now();
        let used = RecordKey::new(&"kicad");
        store.note_lookup(&used);
        let mut i = 0;
        for f in 0..100 {
            let peer = PeerId::random();
            connect(&mut store, peer, &format!("10.{f}.1.1"), &[]);
            for _ in 0..MAX_KEYS_PER_PROVIDER {
                add(&mut store, bare(key(i), peer, now), now);
                i += 1;
            }
        }
        assert_eq!(
            store.stats().stranger_records,
            MAX_STRANGER_PROVIDER_RECORDS
        );
        let evicted = store.stats().evicted;
        let newcomer = PeerId::random();
        connect(&mut store, newcomer, "10.200.1.1", &[]);
        add(&mut store, bare(used.clone(), newcomer, now), now);
        assert_eq!(providers_of(&store, &used), vec![newcomer]);
        assert_eq!(store.stats().evicted, evicted, "no eviction was needed");
        assert_eq!(store.stats().community_stranger_records, 1);
    }

    #[test]
    fn a_full_key_is_only_taken_over_from_stale_providers() {
        let (mut store, _) = store();
        let t0 = Instant::now();
        let k = key(7);
        let honest: Vec<PeerId> = (0..crate::behaviour::KAD_MAX_PROVIDERS_PER_KEY)
            .map(|_| PeerId::random())
            .collect();
        for p in &honest {
            add(&mut store, remote(k.clone(), *p, TTL, t0), t0);
        }
        // A flood of new providers (as old as the honest ones, from the same group) while the
        // honest ones are fresh: nobody is displaced.
        for _ in 0..100 {
            add(&mut store, remote(k.clone(), PeerId::random(), TTL, t0), t0);
        }
        assert_eq!(store.stats().key_full, 100);
        let providers: Vec<_> = store.providers(&k).iter().map(|p| p.provider).collect();
        assert!(honest.iter().all(|p| providers.contains(p)));

        // Later, all but one honest provider re-announced; the silent one is stale and the next
        // newcomer takes its slot, but only that one.
        let t1 = t0 + TTL / 2 + Duration::from_secs(1);
        for p in &honest[1..] {
            add(&mut store, remote(k.clone(), *p, TTL, t1), t1);
        }
        let newcomer = PeerId::random();
        add(&mut store, remote(k.clone(), newcomer, TTL, t1), t1);
        // The next one, as recent as everyone, replaces nobody.
        add(&mut store, remote(k.clone(), PeerId::random(), TTL, t0), t0);
        let providers: Vec<_> = store.providers(&k).iter().map(|p| p.provider).collect();
        assert_eq!(providers.len(), crate::behaviour::KAD_MAX_PROVIDERS_PER_KEY);
        assert!(providers.contains(&newcomer));
        assert!(!providers.contains(&honest[0]));
        assert!(honest[1..].iter().all(|p| providers.contains(p)));
        assert_eq!(store.stats().replaced, 1);
        assert_eq!(store.keys_of(&honest[0]), 0);
        assert_eq!(store.keys_of(&newcomer), 1);
    }

    #[test]
    fn hostile_records_are_trimmed_or_refused() {
        let (mut store, _) = store();
        let now = Instant::now();
        let peer = PeerId::random();
        let long_key = RecordKey::new(&vec![7u8; 60 * 1024]);
        add(&mut store, remote(long_key, peer, TTL, now), now);
        assert_eq!(store.stats().key_too_long, 1);
        assert_eq!(store.stats().remote_records, 0);

        let mut many = remote(key(1), peer, TTL, now);
        let long: Multiaddr = format!("/dns4/{}/tcp/1", "a".repeat(300)).parse().unwrap();
        many.addresses = iter::repeat_n(many.addresses[0].clone(), 20)
            .chain([long])
            .collect();
        add(&mut store, many, now);
        assert_eq!(
            store.providers(&key(1))[0].addresses.len(),
            MAX_PROVIDER_ADDRS
        );
        assert_eq!(store.stats().addresses_dropped, 17);

        let mut no_addr = remote(key(2), peer, TTL, now);
        no_addr.addresses.clear();
        add(&mut store, no_addr, now);
        assert_eq!(store.stats().without_addresses, 1);
        assert_eq!(
            store.providers(&key(2)).len(),
            1,
            "kept: served from the routing table"
        );
    }

    #[test]
    fn expired_records_are_purged_and_free_their_budget() {
        let (mut store, _) = store();
        let now = Instant::now();
        let peer = PeerId::random();
        for i in 0..MAX_KEYS_PER_PROVIDER {
            add(
                &mut store,
                remote(key(i), peer, Duration::from_secs(10), now),
                now,
            );
        }
        assert_eq!(store.keys_of(&peer), MAX_KEYS_PER_PROVIDER);
        let later = now + PURGE_INTERVAL + Duration::from_secs(1);
        // The next insertion purges (the peer's tokens have refilled a little meanwhile).
        add(&mut store, remote(key(1000), peer, TTL, later), later);
        assert_eq!(store.stats().expired, MAX_KEYS_PER_PROVIDER as u64);
        assert_eq!(store.keys_of(&peer), 1);
        assert_eq!(store.stats().remote_records, 1);
        assert_eq!(store.stats().remote_keys, 1);
        // remove_provider releases the budget too.
        store.remove_provider(&key(1000), &peer);
        assert_eq!(store.keys_of(&peer), 0);
        assert_eq!(store.stats().remote_keys, 0);
    }
}
