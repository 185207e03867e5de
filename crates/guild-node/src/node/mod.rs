//! The running node: the domain service wired to the network layer and the store.
//!
//! One task (the node loop, [`events`]) consumes network events and timers; control-socket calls
//! run on their own tasks and share the node's state through [`Node`] (cheap to clone). The libp2p
//! swarm is owned by `guild-net`'s event loop alone; the node talks to it through its `Client`.
//! State shared here (the skill index, peer table, rate limiters) sits behind short-lived
//! `std::sync::Mutex` locks that are never held across an `.await`.

mod collab;
mod deliver;
mod direct;
mod events;
mod find;
mod messages;
mod own;
mod pull;
mod stats;
mod trust;

pub use collab::members;
pub use find::FindOutcome;
pub use own::OwnProfileError;
pub use pull::PullError;
pub use stats::Stats;

use crate::config::Config;
use crate::service::index::Index;
use crate::service::intake::RateLimiter;
use guild_core::control::Event;
use guild_core::{Identity, PublicKey};
use guild_net::{Multiaddr, NetConfig, PeerId};
use guild_store::Store;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Events buffered for subscribers; a subscriber further behind than this is told how many it
/// missed (the control server turns that into `events.dropped`).
pub const EVENT_BUFFER: usize = 1024;
/// Most inbound direct requests handled at once; beyond it peers get a "busy" answer.
pub const MAX_INBOUND_HANDLERS: usize = 32;
/// Most outbound syncs at once.
pub const MAX_CONCURRENT_SYNCS: usize = 4;
/// Most known peers redialled at start.
pub const MAX_REDIAL: usize = 32;
/// Sync requests a peer may make per minute.
pub const SYNC_REQUESTS_PER_MINUTE: u32 = 120;

/// Tuning of a node, from the config file and flags.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The network layer's configuration.
    pub net: NetConfig,
    /// Lifetime of our published profile, seconds.
    pub profile_lifetime: u64,
    /// How often we re-sign and republish our profile.
    pub republish_interval: Duration,
    /// Most profiles indexed.
    pub max_profiles: usize,
    /// Records accepted from one peer per minute.
    pub records_per_peer_per_minute: u32,
    /// How often we sync with a connected peer (one peer per tick, round robin).
    pub sync_interval: Duration,
    /// How often expired records are swept.
    pub sweep_interval: Duration,
    /// Time bound of a DHT lookup inside `find`.
    pub find_timeout: Duration,
    /// Sync with every peer as soon as it connects (tests turn it off to isolate other paths).
    pub sync_on_connect: bool,
}

impl NodeOptions {
    /// Options from a validated config.
    pub fn from_config(config: &Config) -> Result<NodeOptions, String> {
        let n = &config.network;
        let parse = |list: &[String], need_p2p: bool| -> Result<Vec<Multiaddr>, String> {
            list.iter()
                .map(|a| crate::config::check_multiaddr(a, need_p2p))
                .collect()
        };
        let net = NetConfig {
            community: n.community.clone(),
            listen: parse(&n.listen, false)?,
            bootstrap: parse(&n.bootstrap, true)?,
            relays: parse(&n.relays, true)?,
            external_addrs: parse(&n.external_addrs, false)?,
            mdns: n.mdns,
            kad_server: n.kad_server,
            relay_server: n.relay_server,
            autonat: n.autonat,
            dcutr: n.dcutr,
            max_connections: n.max_connections,
            max_connections_per_peer: n.max_connections_per_peer,
            random_walk_interval: Some(n.random_walk_interval.duration()),
            max_message_size: guild_core::wire::MAX_REQUEST_BYTES,
            max_response_size: guild_core::wire::MAX_RESPONSE_BYTES,
            ..NetConfig::default()
        };
        Ok(NodeOptions {
            net,
            profile_lifetime: config.profile.lifetime.0,
            republish_interval: config.profile.republish_interval.duration(),
            max_profiles: config.limits.max_profiles,
            records_per_peer_per_minute: config.limits.records_per_peer_per_minute,
            sync_interval: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(60),
            find_timeout: Duration::from_secs(15),
            sync_on_connect: true,
        })
    }

    /// Options for tests and benchmarks on one machine: loopback, port 0, mDNS off, fast gossip.
    pub fn local(community: &str) -> NodeOptions {
        NodeOptions {
            net: NetConfig {
                max_message_size: guild_core::wire::MAX_REQUEST_BYTES,
                max_response_size: guild_core::wire::MAX_RESPONSE_BYTES,
                ..NetConfig::local(community)
            },
            profile_lifetime: 7 * 86_400,
            republish_interval: Duration::from_secs(12 * 3600),
            max_profiles: 100_000,
            records_per_peer_per_minute: 6000,
            sync_interval: Duration::from_secs(2),
            sweep_interval: Duration::from_secs(60),
            find_timeout: Duration::from_secs(10),
            sync_on_connect: true,
        }
    }
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The network layer refused to start.
    #[error("network: {0}")]
    Net(#[from] guild_net::NetError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] guild_store::StoreError),
    /// The trust engine's configuration is invalid.
    #[error("trust engine: {0}")]
    Trust(String),
}

/// A connected peer as the node sees it.
#[derive(Debug, Clone)]
pub(crate) struct PeerState {
    pub addr: Option<Multiaddr>,
    pub since: u64,
}

pub(crate) struct Inner {
    pub identity: Identity,
    pub me: PublicKey,
    pub peer_id: PeerId,
    pub opts: NodeOptions,
    pub store: Store,
    pub net: guild_net::Client,
    pub index: Mutex<Index>,
    pub limiter: Mutex<RateLimiter>,
    pub sync_limiter: Mutex<RateLimiter>,
    pub events: broadcast::Sender<Event>,
    pub peers: Mutex<HashMap<PeerId, PeerState>>,
    pub listen: Mutex<Vec<Multiaddr>>,
    pub listening: tokio::sync::Notify,
    pub provided: Mutex<BTreeSet<Vec<u8>>>,
    pub syncing: Mutex<HashSet<PeerId>>,
    /// Serialises changes to our own profile.
    pub own_profile_lock: tokio::sync::Mutex<()>,
    /// The trust engine, fed with the attestations that count.
    pub trust: Mutex<guild_trust::TrustEngine<PublicKey>>,
    /// Attestations accepted per issuer.
    pub attestation_limiter: Mutex<RateLimiter>,
    /// Invalid records delivered per peer, and since when.
    pub penalties: Mutex<HashMap<PeerId, (u32, Instant)>>,
    pub sync_slots: Semaphore,
    pub inbound_slots: Arc<Semaphore>,
    pub stats: Stats,
    pub started: Instant,
    pub cancel: CancellationToken,
    /// Every task the node spawns, so shutdown can wait for them (they hold the store).
    pub tasks: TaskTracker,
}

/// A handle on the running node. Clones share the node.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<Inner>,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the state stays usable:
/// every critical section leaves it consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    /// Starts the network, loads the index from the store, redials known peers, publishes our
    /// profile and spawns the node loop. The returned task ends after [`Node::shutdown`] once the
    /// network has stopped and the store is flushed.
    pub async fn start(
        identity: Identity,
        store: Store,
        opts: NodeOptions,
        registry: Option<&mut prometheus_client::registry::Registry>,
    ) -> Result<(Node, JoinHandle<()>), NodeError> {
        let stats = Stats::default();
        let mut registry = registry;
        if let Some(r) = registry.as_deref_mut() {
            stats.register(r);
        }
        let (net, net_events, net_task) =
            guild_net::spawn(identity.keypair(), opts.net.clone(), registry).await?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let me = identity.public();
        let inner = Inner {
            peer_id: identity.peer_id(),
            me,
            limiter: Mutex::new(RateLimiter::new(opts.records_per_peer_per_minute)),
            sync_limiter: Mutex::new(RateLimiter::new(SYNC_REQUESTS_PER_MINUTE)),
            identity,
            opts,
            store,
            net,
            index: Mutex::new(Index::default()),
            events,
            peers: Mutex::new(HashMap::new()),
            listen: Mutex::new(Vec::new()),
            listening: tokio::sync::Notify::new(),
            provided: Mutex::new(BTreeSet::new()),
            syncing: Mutex::new(HashSet::new()),
            penalties: Mutex::new(HashMap::new()),
            own_profile_lock: tokio::sync::Mutex::new(()),
            trust: Mutex::new(trust::new_engine().map_err(|e| NodeError::Trust(e.to_string()))?),
            attestation_limiter: Mutex::new(RateLimiter::new(
                trust::ATTESTATIONS_PER_ISSUER_PER_MINUTE,
            )),
            sync_slots: Semaphore::new(MAX_CONCURRENT_SYNCS),
            inbound_slots: Arc::new(Semaphore::new(MAX_INBOUND_HANDLERS)),
            stats,
            started: Instant::now(),
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let node = Node {
            inner: Arc::new(inner),
        };
        node.load_index();
        node.rebuild_trust();
        node.redial_known_peers().await;
        node.publish_own().await;
        // Everything the node loop logs carries the node's short id, so interleaved logs of
        // several nodes (tests, benchmarks) stay readable.
        let span = tracing::info_span!("node", peer = %events::short(&node.inner.peer_id));
        let task = tokio::spawn(tracing::Instrument::instrument(
            node.clone().run(net_events, net_task),
            span,
        ));
        Ok((node, task))
    }

    /// Asks the node to stop; the task returned by [`Node::start`] finishes the shutdown.
    pub fn shutdown(&self) {
        self.inner.cancel.cancel();
    }

    /// Resolves when the node has been asked to stop.
    pub async fn stopped(&self) {
        self.inner.cancel.cancelled().await
    }

    /// Our PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    /// Our public key.
    pub fn public_key(&self) -> PublicKey {
        self.inner.me
    }

    /// The store (for tests and the daemon's final flush).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The network client.
    pub fn net(&self) -> &guild_net::Client {
        &self.inner.net
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// A new subscription to node events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Addresses we listen on (as reported by the network layer).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        lock(&self.inner.listen).clone()
    }

    /// Waits until the node listens on at least one address and returns its addresses.
    pub async fn wait_listening(&self) -> Vec<Multiaddr> {
        loop {
            let notified = self.inner.listening.notified();
            let addrs = self.listen_addrs();
            if !addrs.is_empty() {
                return addrs;
            }
            notified.await;
        }
    }

    /// Our first listen address with `/p2p/<our id>` appended, for others to bootstrap from.
    pub async fn dial_addr(&self) -> Multiaddr {
        let addrs = self.wait_listening().await;
        let mut a = addrs.into_iter().next().unwrap_or_else(Multiaddr::empty);
        a.push(libp2p::multiaddr::Protocol::P2p(self.inner.peer_id));
        a
    }

    /// Connected peers with the address and time of connection.
    pub fn connected(&self) -> Vec<(PeerId, Option<Multiaddr>, u64)> {
        lock(&self.inner.peers)
            .iter()
            .map(|(p, s)| (*p, s.addr.clone(), s.since))
            .collect()
    }

    /// The community this node belongs to.
    pub fn community(&self) -> &str {
        &self.inner.opts.net.community
    }

    /// Time since the node started.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// The display name of an indexed member.
    pub fn profile_name(&self, who: &PublicKey) -> Option<String> {
        lock(&self.inner.index).get(who).map(|e| e.name.clone())
    }

    /// Number of indexed profiles (ours included).
    pub fn indexed_profiles(&self) -> usize {
        lock(&self.inner.index).len()
    }

    /// Whether a member's profile is indexed.
    pub fn knows(&self, who: &PublicKey) -> bool {
        lock(&self.inner.index).get(who).is_some()
    }

    pub(crate) fn emit(&self, event: Event) {
        // No subscribers is fine; lagging ones are told by the broadcast channel.
        let _ = self.inner.events.send(event);
    }

    fn load_index(&self) {
        let now = guild_core::time::now();
        let mut expired = Vec::new();
        let mut idx = lock(&self.inner.index);
        for item in self.inner.store.profiles() {
            match item {
                Ok(p) if p.body.expires_at > now => idx.insert(p.signer, p.id(), &p.body),
                Ok(p) => expired.push(p.signer),
                Err(e) => tracing::warn!("skipping a stored profile: {e}"),
            }
        }
        drop(idx);
        for who in expired {
            if let Err(e) = self.inner.store.remove_profile(&who) {
                tracing::warn!("cannot remove expired profile: {e}");
            }
        }
    }

    async fn redial_known_peers(&self) {
        let known = match self.inner.store.known_peers() {
            Ok((known, bad)) => {
                for e in bad {
                    tracing::warn!("skipping a remembered peer: {e}");
                }
                known
            }
            Err(e) => {
                tracing::warn!("cannot read remembered peers: {e}");
                return;
            }
        };
        for (bytes, kp) in known.into_iter().take(MAX_REDIAL) {
            let Ok(peer) = PeerId::from_bytes(&bytes) else {
                continue;
            };
            if peer == self.inner.peer_id {
                continue;
            }
            for a in &kp.addrs {
                if let Ok(addr) = a.parse::<Multiaddr>() {
                    let _ = self.inner.net.add_address(peer, addr).await;
                }
            }
            let net = self.inner.net.clone();
            self.inner.tasks.spawn(async move {
                if let Err(e) = net.dial_peer(peer).await {
                    tracing::debug!(%peer, "redial failed: {e}");
                }
            });
        }
    }
}
