//! Guild's Kademlia record store: our own provider keys apart, and strangers' provider records
//! bounded per provider, per key, in total and in rate.
//!
//! libp2p's `MemoryStore` keeps the keys we provide in the same budget as everyone's provider
//! records, and fills the provider slots of a key first come, first served: a few thousand junk
//! `ADD_PROVIDER`s stop a node announcing a new skill, and twenty fake providers own a key for
//! good. [`GuildStore`] wraps a `MemoryStore` for value records and keeps provider records itself:
//!
//! | what                         | budget                                    | past it                 |
//! |------------------------------|-------------------------------------------|-------------------------|
//! | keys we provide              | [`MAX_OWN_PROVIDED_KEYS`], never shared   | `start_providing` fails |
//! | keys one remote provider has | [`MAX_KEYS_PER_PROVIDER`]                 | ignored, counted        |
//! | ADD_PROVIDER from one peer   | [`PROVIDER_BURST`], then one per [`PROVIDER_REFILL`] | ignored, counted |
//! | providers per key            | [`crate::KAD_MAX_PROVIDERS_PER_KEY`]      | replace a stale one, or ignored |
//! | distinct remote keys         | [`crate::KAD_MAX_PROVIDER_KEYS`]          | ignored, counted        |
//! | remote provider records      | [`MAX_REMOTE_PROVIDER_RECORDS`]           | ignored, counted        |
//! | key length                   | [`MAX_PROVIDER_KEY_BYTES`]                | ignored, counted        |
//! | addresses per record         | [`MAX_PROVIDER_ADDRS`] of at most [`MAX_PROVIDER_ADDR_BYTES`] | extra dropped |
//!
//! Kademlia only accepts an `ADD_PROVIDER` whose provider is the peer that sent it
//! (libp2p-kad checks `provider.node_id == source`), so "per provider" is "per sending peer".
//!
//! **Replacement rule.** When a key already has its `k` providers, a new provider takes the
//! place of the entry that expires soonest, and only if that entry is *stale*: not refreshed for
//! at least half the record TTL (an honest provider re-announces every
//! [`crate::config::DEFAULT_PROVIDER_PUBLICATION_INTERVAL`], a quarter of the TTL; libp2p's
//! defaults re-announce every 12 h of a 48 h TTL). A flood of new providers therefore cannot push
//! out providers that keep announcing, but takes the slots of those that left. The replacing
//! provider must itself be within its per-provider budget.
//!
//! **Records without addresses are kept.** libp2p-kad 0.49 (libp2p 0.57) sends its own
//! `ADD_PROVIDER` with only its *confirmed external* addresses, so every node on a LAN or on
//! loopback (no AutoNAT confirmation) announces with none. When serving such a record
//! (`Behaviour::provider_peers`) libp2p fills in the addresses the routing table has for that
//! provider, and omits the record if the provider is not in the routing table. They are useful
//! whenever the provider is a routing-table neighbour, which is the common case in a small
//! community, so they are stored (and counted in [`DhtStoreStats::without_addresses`]).
//!
//! Every operation on an inbound record is O(1) or O(k) (k = providers of one key); expired
//! records are purged in one pass at most every [`PURGE_INTERVAL`].

use std::{
    borrow::Cow,
    collections::{hash_map, HashMap},
    iter,
    time::{Duration, Instant},
};

use libp2p::{
    kad::{
        store::{Error, MemoryStore, MemoryStoreConfig, RecordStore, Result},
        ProviderRecord, Record, RecordKey,
    },
    PeerId,
};

/// Keys we provide ourselves, kept apart from everyone else's records. A profile announces at
/// most 48 skill and resource tags (`guild_core::limits`: 32 skills + 16 resources); 1024 leaves
/// room for any future kind of key while bounding a runaway caller.
pub const MAX_OWN_PROVIDED_KEYS: usize = 1024;

/// Keys one remote provider may hold in our store. A Guild profile announces at most
/// `MAX_SKILLS + MAX_RESOURCES` = 32 + 16 = 48 tags (`guild_core::limits`), so an honest
/// member with a full profile fits exactly; a peer announcing more is not an honest Guild node.
/// With this budget, filling the [`crate::KAD_MAX_PROVIDER_KEYS`] key table takes 86 distinct
/// peer identities, each of which also pays the rate budget below.
pub const MAX_KEYS_PER_PROVIDER: usize = 48;

/// `ADD_PROVIDER`s one peer may send at once (a token bucket of this size): one full
/// profile announcement plus a few changes.
pub const PROVIDER_BURST: u32 = 64;

/// One more `ADD_PROVIDER` is allowed per this interval (120 per hour). Honest nodes
/// re-announce each key every few hours, so this only slows down churn and floods.
pub const PROVIDER_REFILL: Duration = Duration::from_secs(30);

/// Remote provider records in total (all keys, all providers). With at most
/// [`MAX_PROVIDER_ADDRS`] short addresses each, a record costs at most about 1.2 KiB: this is
/// a 20 MiB worst case, and a few hundred KiB in a real community.
pub const MAX_REMOTE_PROVIDER_RECORDS: usize = 16 * 1024;

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
pub const MAX_TRACKED_PROVIDERS: usize = 2 * MAX_REMOTE_PROVIDER_RECORDS;

/// Least time between two passes removing expired provider records.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// Limits of a [`GuildStore`]; [`DhtStoreConfig::default`] gives the documented constants.
#[derive(Debug, Clone)]
pub struct DhtStoreConfig {
    /// See [`MAX_OWN_PROVIDED_KEYS`].
    pub max_own_keys: usize,
    /// Distinct keys with remote providers ([`crate::KAD_MAX_PROVIDER_KEYS`]).
    pub max_remote_keys: usize,
    /// See [`MAX_REMOTE_PROVIDER_RECORDS`].
    pub max_remote_records: usize,
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
            max_remote_keys: crate::behaviour::KAD_MAX_PROVIDER_KEYS,
            max_remote_records: MAX_REMOTE_PROVIDER_RECORDS,
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
    /// Remote provider records stored (new or refreshed).
    pub accepted: u64,
    /// Stored records that came without any address.
    pub without_addresses: u64,
    /// Entries replaced because they were stale and their key was full.
    pub replaced: u64,
    /// `ADD_PROVIDER`s ignored: the peer was over its rate budget.
    pub rate_limited: u64,
    /// Ignored: the provider already holds [`MAX_KEYS_PER_PROVIDER`] keys.
    pub over_provider_budget: u64,
    /// Ignored: the key had its `k` providers and none was stale.
    pub key_full: u64,
    /// Ignored: the store holds its maximum of remote keys or records.
    pub store_full: u64,
    /// Ignored: the key is longer than [`MAX_PROVIDER_KEY_BYTES`].
    pub key_too_long: u64,
    /// Addresses dropped from records (beyond [`MAX_PROVIDER_ADDRS`] or too long).
    pub addresses_dropped: u64,
    /// Expired remote records removed.
    pub expired: u64,
}

/// What we remember about one remote provider.
#[derive(Debug)]
struct ProviderState {
    /// Keys it holds in the store.
    keys: usize,
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
    remote: HashMap<RecordKey, Vec<ProviderRecord>>,
    providers: HashMap<PeerId, ProviderState>,
    remote_records: usize,
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
            remote_records: 0,
            next_purge: Instant::now() + PURGE_INTERVAL,
            stats: DhtStoreStats::default(),
        }
    }

    /// Current sizes and counters.
    pub fn stats(&self) -> DhtStoreStats {
        DhtStoreStats {
            own_keys: self.own.len(),
            remote_keys: self.remote.len(),
            remote_records: self.remote_records,
            ..self.stats
        }
    }

    /// Keys `provider` holds in the store.
    pub fn keys_of(&self, provider: &PeerId) -> usize {
        self.providers.get(provider).map_or(0, |p| p.keys)
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
        let no_addresses = record.addresses.is_empty();

        let provider = record.provider;
        let provider_keys = self.keys_of(&provider);
        let num_keys = self.remote.len();
        let entry = match self.remote.entry(record.key.clone()) {
            hash_map::Entry::Occupied(e) => e.into_mut(),
            hash_map::Entry::Vacant(e) => {
                if num_keys >= self.config.max_remote_keys
                    || self.remote_records >= self.config.max_remote_records
                {
                    self.stats.store_full += 1;
                    return;
                }
                if provider_keys >= self.config.max_keys_per_provider {
                    self.stats.over_provider_budget += 1;
                    return;
                }
                e.insert(Vec::new())
            }
        };
        if let Some(existing) = entry.iter_mut().find(|p| p.provider == provider) {
            *existing = record;
            self.stats.accepted += 1;
            self.stats.without_addresses += u64::from(no_addresses);
            return;
        }
        let drop_empty = |remote: &mut HashMap<RecordKey, Vec<ProviderRecord>>, key: &RecordKey| {
            if remote.get(key).is_some_and(Vec::is_empty) {
                remote.remove(key);
            }
        };
        if provider_keys >= self.config.max_keys_per_provider {
            self.stats.over_provider_budget += 1;
            drop_empty(&mut self.remote, &record.key);
            return;
        }
        if entry.len() >= self.config.max_providers_per_key {
            let stale = self.config.record_ttl.and_then(|ttl| {
                let fresh_until = now + ttl / 2;
                entry
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.expires.is_some_and(|e| e <= fresh_until))
                    .min_by_key(|(_, p)| p.expires)
                    .map(|(i, _)| i)
            });
            let Some(i) = stale else {
                self.stats.key_full += 1;
                return;
            };
            let old = std::mem::replace(&mut entry[i], record);
            self.stats.replaced += 1;
            self.stats.accepted += 1;
            self.stats.without_addresses += u64::from(no_addresses);
            self.release(&old.provider);
            self.providers
                .entry(provider)
                .or_insert_with(|| full(now, self.config.burst))
                .keys += 1;
            return;
        }
        if self.remote_records >= self.config.max_remote_records {
            self.stats.store_full += 1;
            drop_empty(&mut self.remote, &record.key);
            return;
        }
        entry.push(record);
        self.remote_records += 1;
        self.stats.accepted += 1;
        self.stats.without_addresses += u64::from(no_addresses);
        self.providers
            .entry(provider)
            .or_insert_with(|| full(now, self.config.burst))
            .keys += 1;
    }

    /// Takes one token from `peer`'s rate budget; false if it has none.
    fn take_token(&mut self, peer: PeerId, now: Instant) -> bool {
        if !self.providers.contains_key(&peer) && self.providers.len() >= MAX_TRACKED_PROVIDERS {
            // Forget peers holding no record: at most `max_remote_records` hold one, so this
            // frees at least half the map and runs at most once per that many new peers.
            self.providers.retain(|_, p| p.keys > 0);
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

    /// One record of `provider` left the store.
    fn release(&mut self, provider: &PeerId) {
        if let Some(state) = self.providers.get_mut(provider) {
            state.keys = state.keys.saturating_sub(1);
        }
    }

    /// Removes every expired remote record (one pass over the store).
    fn purge_expired(&mut self, now: Instant) {
        self.next_purge = now + PURGE_INTERVAL;
        let mut released = Vec::new();
        self.remote.retain(|_, providers| {
            providers.retain(|p| {
                let expired = p.is_expired(now);
                if expired {
                    released.push(p.provider);
                }
                !expired
            });
            !providers.is_empty()
        });
        self.remote_records = self.remote_records.saturating_sub(released.len());
        self.stats.expired += released.len() as u64;
        for provider in released {
            self.release(&provider);
        }
    }
}

fn full(now: Instant, burst: u32) -> ProviderState {
    ProviderState {
        keys: 0,
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
            return Ok(());
        }
        self.add_remote(record, Instant::now());
        Ok(())
    }

    /// Our own record first (if we provide the key), then the remote ones.
    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        self.own
            .get(key)
            .into_iter()
            .chain(self.remote.get(key).into_iter().flatten())
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
        if let hash_map::Entry::Occupied(mut e) = self.remote.entry(key.clone()) {
            let providers = e.get_mut();
            if let Some(i) = providers.iter().position(|p| p.provider == *provider) {
                providers.swap_remove(i);
                self.remote_records = self.remote_records.saturating_sub(1);
                if providers.is_empty() {
                    e.remove();
                }
                self.release(provider);
            }
        }
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
        assert_eq!(stats.remote_keys, crate::behaviour::KAD_MAX_PROVIDER_KEYS);
        assert!(stats.store_full > 0);
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
        // A flood of new providers while the honest ones are fresh: nobody is displaced.
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
        add(&mut store, remote(k.clone(), PeerId::random(), TTL, t1), t1);
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

        let mut bare = remote(key(2), peer, TTL, now);
        bare.addresses.clear();
        add(&mut store, bare, now);
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
