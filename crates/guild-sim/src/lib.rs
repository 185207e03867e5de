//! A deterministic simulator for Guild: many node [`Service`]s over one simulated network, in
//! virtual time, reproducible from a seed.
//!
//! The node's domain logic is a sans-IO state machine ([`guild_service`]): it takes inputs
//! with `now` passed in and answers with an outbox of [`Io`] effects. The daemon loop
//! (`guild_node::node::runtime`) performs those effects over libp2p; this crate performs them over
//! a simulated network instead, the way heartwood's `radicle-node/src/test/simulator.rs` drives
//! its `Service`s and iroh-gossip's `proto/sim.rs` drives hundreds of `proto::State`s in one
//! test. Nothing here opens a socket, starts a runtime or reads the wall clock.
//!
//! # The model
//!
//! - **Virtual time.** A priority queue of timed messages, ordered by `(time, insertion number)`;
//!   [`Sim::run_until`] pops them in order and sets the clock. Each node's [`Service::tick`]
//!   runs when its service asked to be woken ([`Io::Wakeup`]), as the daemon loop does, and at
//!   the latest [`SimConfig::max_sleep_ms`] after its last tick (online or not: an offline node
//!   is a running process whose network is down, so its retries fail).
//! - **Seed.** One seeded RNG ([`rand::rngs::StdRng`]) draws the topology, latencies and losses;
//!   each service gets its own seed derived from it. Same seed and same scenario ⇒ same trace:
//!   [`Sim::trace_hash`] folds every handled message (time, kind, ends, size, outcome) into a
//!   SHA-256, and [`Sim::state_hash`] hashes every node's stored records.
//! - **Links.** Every ordered pair of nodes has a base latency drawn uniformly from
//!   [`Latency::min_ms`]..=[`Latency::max_ms`] (a hash of the seed and the pair, symmetric), plus
//!   a per-message jitter up to [`Latency::jitter_ms`]; messages on one directed link arrive in the
//!   order sent (a connection). Each message is lost with probability [`SimConfig::loss`].
//! - **Gossip** (like gossipsub): each node has a bounded set of mesh neighbours — a ring plus
//!   random links up to [`SimConfig::degree`] — fixed by the seed. A published message goes to the
//!   publisher's reachable neighbours; `published(call, ok)` reports whether there was any (the
//!   daemon's `InsufficientPeers`). A receiver drops what it has seen (message id = SHA-256 of topic
//!   and data, as gossipsub's duplicate cache does before validation), calls
//!   [`Service::received_gossip`], and only when the verdict is [`Verdict::Accept`] forwards it to
//!   its own neighbours except the one it came from. There is no IHAVE/IWANT and no peer scoring
//!   (a rejected message is simply not forwarded; its sender is not pruned from the mesh): what
//!   gossip misses (loss, rate limits, partitions, churn) comes back through the service's own
//!   catch-up sync.
//! - **Direct requests.** [`Io::Request`] goes to any reachable node (the daemon dials if needed),
//!   arrives after the link's latency at [`Service::received_request`], and the encoded response
//!   travels back to [`Service::received_response`]. When the target is offline, unknown,
//!   partitioned away, or the request or its response is lost, the requester gets
//!   [`RequestFailure::Unreachable`] after [`SimConfig::request_timeout_ms`] (the daemon's 10 s).
//!   Requests and responses are encoded and decoded with the wire codec and its size bounds, as
//!   the daemon does.
//! - **Other effects.** [`Io::Reply`] lands in the node's map of answered calls
//!   ([`Sim::reply`]); `durable` is moot (the stores are temporary). [`Io::Emit`] events are kept
//!   per node, bounded ([`SimConfig::max_events_per_node`]), and counted by kind.
//!   [`Io::Provide`]/[`Io::StopProviding`] update the node's set of announced keys: there is no
//!   DHT in the simulation (search uses the gossiped index).
//! - **Connections.** `connected`/`disconnected` are issued for mesh links, both ends, whenever a
//!   link comes up or goes down: at start, when a node goes offline or comes back
//!   ([`Sim::set_online`]), when a partition cuts links or heals ([`Sim::partition`],
//!   [`Sim::heal`]), and when a node joins ([`Sim::add_node`], [`Sim::join_via`]). Each side
//!   hears the direction and is told where the other listens (`identified`). The service syncs
//!   on connect, so a node that comes back catches up by itself.
//! - **The connection manager** runs in every service as in the daemon, with watermarks scaled
//!   to the simulated degree ([`SimConfig::new`]). [`Io::Dial`] reaches its target after the
//!   link's latency and brings a link up, or is refused (`dial_failed`) when the target is
//!   offline, cut off, or at [`SimConfig::max_connections`]. [`Io::Prune`] delivers its
//!   `Elsewhere` hint as a direct request, then takes the link down on both ends.
//! - **Partitions** put nodes in numbered groups; nodes of different groups cannot reach each
//!   other by gossip or request until healed.
//! - **Hostile members** are ordinary nodes whose keys scenario code uses to sign forged or
//!   unauthorised records, pushed with [`Sim::inject_gossip`] and [`Sim::inject_request`],
//!   bypassing their own service (see [`hostile`]).
//! - **Storage.** Each service owns a [`MemoryStorage`]: the same `Storage` contract as the
//!   daemon's sled store, in memory (no files, no background threads).
//!
//! [`community`] builds a whole community with realistic traffic on top of this, for tests and
//! the 1000-member benchmark (`benches/community.rs`).

pub mod community;
pub mod hostile;
mod io;
mod links;

use guild_core::codec;
use guild_core::control::{CallError, Event, ProfileDraft, Reply, ServiceCall, UnexpectedReply};
use guild_core::wire::{DirectRequest, DirectResponse, MAX_RESPONSE_BYTES};
use guild_core::{AnyRecord, Identity, Profile, PublicKey, RecordId, RecordKind, Signed};
use guild_service::Storage;
use guild_service::{
    CallId, Io, Link, MemoryStorage, MeshConfig, Millis, RequestFailure, RequestId, ServiceConfig,
    Topic, Verdict,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::Rc;

/// A simulated node's core: the service over an in-memory store.
pub type Service = guild_service::Service<MemoryStorage>;

/// Index of a node in the simulation.
pub type NodeId = usize;

/// Where virtual time starts: 2026-01-01T00:00:00Z, in milliseconds.
pub const START_MS: Millis = 1_767_225_600_000;

/// Request ids at or above this are raw requests injected by scenario code.
const RAW_REQUEST_BASE: u64 = 1 << 62;

/// Per-link latency: a base per link, uniform in `min_ms..=max_ms`, plus jitter per message.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Smallest base latency of a link, ms.
    pub min_ms: Millis,
    /// Largest base latency of a link, ms.
    pub max_ms: Millis,
    /// Most jitter added to one message, ms.
    pub jitter_ms: Millis,
}

impl Default for Latency {
    fn default() -> Latency {
        Latency {
            min_ms: 10,
            max_ms: 120,
            jitter_ms: 20,
        }
    }
}

/// The simulation's parameters.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Mesh degree: each node is linked to about this many neighbours.
    pub degree: usize,
    /// Link latencies.
    pub latency: Latency,
    /// Probability that one message (gossip, request or response) is lost.
    pub loss: f64,
    /// The step of drivers that look at the simulation between runs ([`community`]), ms.
    pub tick_ms: Millis,
    /// The longest a node sleeps between two ticks when its service asks to be woken no
    /// sooner, ms (the daemon loop's bound; the service asks for its next mesh round anyway).
    pub max_sleep_ms: Millis,
    /// How long a request to an unreachable node takes to fail, ms.
    pub request_timeout_ms: Millis,
    /// The services' configuration.
    pub service: ServiceConfig,
    /// Events kept per node (older ones are dropped; counts by kind are kept in full).
    pub max_events_per_node: usize,
    /// Connections a node accepts at most (the network layer's hard limit): a dial to a node
    /// with this many links is refused.
    pub max_connections: usize,
}

impl SimConfig {
    /// Defaults with this seed: degree 6, 10–120 ms links, no loss, 250 ms driver steps; the
    /// services' connection managers keep between `degree` and twice as many links (the
    /// daemon's 16–32, scaled to the simulated mesh), and a node accepts at most 64.
    pub fn new(seed: u64) -> SimConfig {
        let degree = 6;
        SimConfig {
            seed,
            degree,
            latency: Latency::default(),
            loss: 0.0,
            tick_ms: 250,
            max_sleep_ms: 5_000,
            request_timeout_ms: 10_000,
            service: ServiceConfig {
                mesh: MeshConfig {
                    // Each simulated node is a host of its own: no crowded address groups.
                    inbound_per_group: usize::MAX,
                    ..MeshConfig::with_per_address_limit(degree, 2 * degree, 16)
                },
                ..ServiceConfig::default()
            },
            max_events_per_node: 4096,
            max_connections: 64,
        }
    }
}

/// What one node sent over the simulated network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Gossip messages sent (one per link: publishes and forwards).
    pub gossip_msgs: u64,
    /// Bytes of those.
    pub gossip_bytes: u64,
    /// Direct requests sent.
    pub request_msgs: u64,
    /// Bytes of those.
    pub request_bytes: u64,
    /// Direct responses sent.
    pub response_msgs: u64,
    /// Bytes of those.
    pub response_bytes: u64,
}

impl Traffic {
    fn add(&mut self, o: &Traffic) {
        self.gossip_msgs += o.gossip_msgs;
        self.gossip_bytes += o.gossip_bytes;
        self.request_msgs += o.request_msgs;
        self.request_bytes += o.request_bytes;
        self.response_msgs += o.response_msgs;
        self.response_bytes += o.response_bytes;
    }

    /// Direct messages (requests and responses).
    pub fn direct_msgs(&self) -> u64 {
        self.request_msgs + self.response_msgs
    }

    /// Direct bytes (requests and responses).
    pub fn direct_bytes(&self) -> u64 {
        self.request_bytes + self.response_bytes
    }
}

/// Counts of what happened to gossip across the simulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GossipStats {
    /// Accepted by the receiver's service (and forwarded).
    pub accepted: u64,
    /// Rejected by the receiver's service.
    pub rejected: u64,
    /// Ignored by the receiver's service (duplicate record, over budget, pending).
    pub ignored: u64,
    /// Dropped before validation as already seen.
    pub duplicates: u64,
    /// Lost on the link (loss, or the link went down in flight).
    pub lost: u64,
}

/// A public record an honest service published (what convergence is measured on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Its kind.
    pub kind: RecordKind,
    /// Its id.
    pub id: RecordId,
    /// Its signer.
    pub signer: PublicKey,
    /// Its `issued_at` (seconds).
    pub issued_at: u64,
    /// When it was published (virtual ms).
    pub at: Millis,
    /// Its gossip message number (see [`Sim::gossip_reach`]).
    pub msg: u32,
}

/// A response to a request injected with [`Sim::inject_request`].
pub type RawResponse = Result<DirectResponse, RequestFailure>;

/// One simulated node: a service, its place in the network, and what it produced.
pub struct Node {
    identity: Identity,
    key: PublicKey,
    service: Service,
    online: bool,
    group: u32,
    neighbours: BTreeSet<NodeId>,
    seen: HashSet<u32>,
    replies: BTreeMap<CallId, Result<Reply, CallError>>,
    events: VecDeque<Event>,
    event_counts: BTreeMap<&'static str, u64>,
    provided: BTreeSet<Vec<u8>>,
    dials: u64,
    /// Of its dials, those refused by their target.
    refused: u64,
    /// Links it pruned.
    prunes: u64,
    /// Peers this node disconnected for repeated invalid input.
    disconnected: BTreeSet<PublicKey>,
    next_call: u64,
    traffic: Traffic,
    raw_responses: Vec<(u64, RawResponse)>,
    /// Published records this node is not yet known to hold (indices into `published`).
    outstanding: Vec<usize>,
    /// How far into `published` `outstanding` has been filled.
    cursor: usize,
    /// When the node's service is to be ticked next (its latest wake-up).
    wake_at: Millis,
    /// Ticks its service got.
    ticks: u64,
}

enum Msg {
    /// A node's requested wake-up (stale unless it is still the node's latest).
    Wake { node: NodeId, at: Millis },
    Gossip {
        from: NodeId,
        to: NodeId,
        topic: Topic,
        data: Rc<[u8]>,
        msg: u32,
    },
    Request {
        from: NodeId,
        to: NodeId,
        id: u64,
        bytes: Vec<u8>,
    },
    Response {
        from: Option<NodeId>,
        to: NodeId,
        id: u64,
        payload: Result<Vec<u8>, RequestFailure>,
    },
    /// A dial the connection manager asked for reaches its target.
    Connect { from: NodeId, to: NodeId },
    /// A pruning node's `Elsewhere` hint (encoded), then the link goes down.
    Prune {
        from: NodeId,
        to: NodeId,
        notice: Option<Vec<u8>>,
    },
}

/// Many services over one simulated network. See the crate docs for the model.
pub struct Sim {
    cfg: SimConfig,
    rng: StdRng,
    now: Millis,
    seq: u64,
    queue: BTreeMap<(Millis, u64), Msg>,
    nodes: Vec<Node>,
    by_key: HashMap<PublicKey, NodeId>,
    /// Message ids (interned: SHA-256 of topic and data → number).
    messages: HashMap<[u8; 32], u32>,
    /// Last arrival time per directed link (messages on a link stay in order).
    link_clock: HashMap<(NodeId, NodeId), Millis>,
    trace: Sha256,
    trace_len: u64,
    gossip: GossipStats,
    published: Vec<Published>,
    next_raw: u64,
    /// Per gossip message: nodes whose service holds it from gossip (the publisher included),
    /// and when the last of them accepted it.
    reach: Vec<(u32, Millis)>,
}

fn topic_byte(t: Topic) -> u8 {
    match t {
        Topic::Profiles => 0,
        Topic::Needs => 1,
        Topic::Attestations => 2,
    }
}

/// SplitMix64: a stateless hash of 64 bits, for per-link latencies independent of call order.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Sim {
    /// A simulation of `n` nodes, all online in one group, linked by a seeded mesh, connected
    /// and started at [`START_MS`].
    pub fn new(cfg: SimConfig, n: usize) -> Sim {
        let rng = StdRng::seed_from_u64(cfg.seed);
        let mut sim = Sim {
            cfg,
            rng,
            now: START_MS,
            seq: 0,
            queue: BTreeMap::new(),
            nodes: Vec::with_capacity(n),
            by_key: HashMap::new(),
            messages: HashMap::new(),
            link_clock: HashMap::new(),
            trace: Sha256::new(),
            trace_len: 0,
            gossip: GossipStats::default(),
            published: Vec::new(),
            next_raw: RAW_REQUEST_BASE,
            reach: Vec::new(),
        };
        for _ in 0..n {
            sim.create_node();
        }
        // A ring keeps the mesh connected; random links fill each node up to the degree.
        if n > 1 {
            for i in 0..n {
                sim.link(i, (i + 1) % n);
            }
            let degree = sim.cfg.degree.min(n - 1);
            for i in 0..n {
                let mut tries = 0;
                while sim.nodes[i].neighbours.len() < degree && tries < 8 * degree {
                    tries += 1;
                    let j = sim.rng.random_range(0..n);
                    if j != i && sim.nodes[j].neighbours.len() < 2 * degree {
                        sim.link(i, j);
                    }
                }
            }
        }
        for i in 0..n {
            sim.nodes[i].service.start(sim.now, vec![], vec![]);
            sim.perform(i);
        }
        for i in 0..n {
            let neighbours: Vec<NodeId> = sim.nodes[i].neighbours.iter().copied().collect();
            for j in neighbours {
                if i < j {
                    sim.link_up(i, j);
                }
            }
        }
        sim
    }

    fn create_node(&mut self) -> NodeId {
        let i = self.nodes.len();
        let secret: [u8; 32] = self.rng.random();
        let identity = Identity::from_secret(secret);
        let key = identity.public();
        let store = MemoryStorage::new();
        let seed = self.rng.random();
        let service = Service::new(
            Identity::from_secret(secret),
            store,
            self.cfg.service.clone(),
            seed,
            self.now,
        )
        .unwrap_or_else(|e| panic!("service: {e}"));
        self.by_key.insert(key, i);
        self.nodes.push(Node {
            identity,
            key,
            service,
            online: true,
            group: 0,
            neighbours: BTreeSet::new(),
            seen: HashSet::new(),
            replies: BTreeMap::new(),
            events: VecDeque::new(),
            event_counts: BTreeMap::new(),
            provided: BTreeSet::new(),
            dials: 0,
            refused: 0,
            prunes: 0,
            disconnected: BTreeSet::new(),
            next_call: 0,
            traffic: Traffic::default(),
            raw_responses: Vec::new(),
            outstanding: Vec::new(),
            cursor: 0,
            wake_at: Millis::MAX,
            ticks: 0,
        });
        i
    }

    fn link(&mut self, a: NodeId, b: NodeId) {
        if a != b {
            self.nodes[a].neighbours.insert(b);
            self.nodes[b].neighbours.insert(a);
        }
    }

    /// Adds a node that links to `degree` random online nodes and connects (it then catches up
    /// by sync on connect). Returns its id.
    pub fn add_node(&mut self) -> NodeId {
        let i = self.create_node();
        self.nodes[i].service.start(self.now, vec![], vec![]);
        self.perform(i);
        let online: Vec<NodeId> = (0..i).filter(|j| self.nodes[*j].online).collect();
        let want = self.cfg.degree.min(online.len());
        let mut tries = 0;
        while self.nodes[i].neighbours.len() < want && tries < 16 * want.max(1) {
            tries += 1;
            let j = online[self.rng.random_range(0..online.len())];
            self.link(i, j);
        }
        let neighbours: Vec<NodeId> = self.nodes[i].neighbours.iter().copied().collect();
        for j in neighbours {
            if self.reachable(i, j) {
                self.link_up(i, j);
            }
        }
        i
    }

    /// The current virtual time.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A node's public key.
    pub fn key(&self, i: NodeId) -> PublicKey {
        self.nodes[i].key
    }

    /// A node's identity (to sign records as it, e.g. for a hostile member).
    pub fn identity(&self, i: NodeId) -> &Identity {
        &self.nodes[i].identity
    }

    /// The node with this key.
    pub fn node_of(&self, key: &PublicKey) -> Option<NodeId> {
        self.by_key.get(key).copied()
    }

    /// A node's service (read).
    pub fn service(&self, i: NodeId) -> &Service {
        &self.nodes[i].service
    }

    /// A node's service, for inputs the simulator does not model (its effects are performed).
    pub fn with_service<R>(&mut self, i: NodeId, f: impl FnOnce(&mut Service, Millis) -> R) -> R {
        let now = self.now;
        let r = f(&mut self.nodes[i].service, now);
        self.perform(i);
        r
    }

    /// A node's mesh neighbours.
    pub fn neighbours(&self, i: NodeId) -> &BTreeSet<NodeId> {
        &self.nodes[i].neighbours
    }

    /// Whether a node is online.
    pub fn is_online(&self, i: NodeId) -> bool {
        self.nodes[i].online
    }

    /// The events a node emitted (the newest [`SimConfig::max_events_per_node`]).
    pub fn events(&self, i: NodeId) -> &VecDeque<Event> {
        &self.nodes[i].events
    }

    /// Takes the kept events of a node.
    pub fn take_events(&mut self, i: NodeId) -> Vec<Event> {
        self.nodes[i].events.drain(..).collect()
    }

    /// How many events of a kind (e.g. `need.matched`) a node emitted in all.
    pub fn event_count(&self, i: NodeId, kind: &str) -> u64 {
        self.nodes[i].event_counts.get(kind).copied().unwrap_or(0)
    }

    /// DHT keys a node announces.
    pub fn provided(&self, i: NodeId) -> &BTreeSet<Vec<u8>> {
        &self.nodes[i].provided
    }

    /// Dials a node asked for.
    pub fn dials(&self, i: NodeId) -> u64 {
        self.nodes[i].dials
    }

    /// How many of node `i`'s dials were refused, and how many links it pruned.
    pub fn refusals_and_prunes(&self, i: NodeId) -> (u64, u64) {
        (self.nodes[i].refused, self.nodes[i].prunes)
    }

    /// Adds a node that knows only `bootstrap` (as a daemon's config would list them): its
    /// connection manager dials them, and finds the rest of the community through them. Returns
    /// its id.
    pub fn join_via(&mut self, bootstrap: &[NodeId]) -> NodeId {
        let i = self.create_node();
        let boot = bootstrap
            .iter()
            .map(|&j| (self.nodes[j].key, vec![format!("/sim/{j}")]))
            .collect();
        self.nodes[i].service.start(self.now, vec![], boot);
        self.perform(i);
        i
    }

    /// Peers node `i` disconnected for repeated invalid input.
    pub fn penalised(&self, i: NodeId) -> &BTreeSet<PublicKey> {
        &self.nodes[i].disconnected
    }

    /// What a node sent.
    pub fn traffic(&self, i: NodeId) -> Traffic {
        self.nodes[i].traffic
    }

    /// What every node sent.
    pub fn total_traffic(&self) -> Traffic {
        let mut t = Traffic::default();
        for n in &self.nodes {
            t.add(&n.traffic);
        }
        t
    }

    /// What happened to gossip.
    pub fn gossip_stats(&self) -> GossipStats {
        self.gossip
    }

    /// Public records honest services published, in order.
    pub fn published(&self) -> &[Published] {
        &self.published
    }

    fn next_call(&mut self, i: NodeId) -> CallId {
        self.nodes[i].next_call += 1;
        CallId(self.nodes[i].next_call)
    }

    /// Serves a control call on a node; its answer lands in [`Sim::reply`] (at once for most
    /// calls, later for those waiting on the network).
    pub fn call(&mut self, i: NodeId, call: ServiceCall) -> CallId {
        let id = self.next_call(i);
        let now = self.now;
        self.nodes[i].service.call(id, call, now);
        self.perform(i);
        id
    }

    /// Serves a call that is answered at once and gives its typed result.
    pub fn call_now<T: TryFrom<Reply, Error = UnexpectedReply>>(
        &mut self,
        i: NodeId,
        call: ServiceCall,
    ) -> Result<T, CallError> {
        let id = self.call(i, call);
        let reply = self
            .take_reply(i, id)
            .ok_or_else(|| CallError::internal("the call was not answered at once"))??;
        Ok(T::try_from(reply)?)
    }

    /// Sets a node's profile (answered when signed: at once, or on the next second's tick).
    pub fn set_profile(&mut self, i: NodeId, draft: ProfileDraft) -> CallId {
        let id = self.next_call(i);
        let now = self.now;
        self.nodes[i].service.set_profile(id, draft, now);
        self.perform(i);
        id
    }

    /// How many times a node's service was ticked (each at a wake-up it asked for, or at the
    /// latest [`SimConfig::max_sleep_ms`] after the previous one).
    pub fn ticks(&self, i: NodeId) -> u64 {
        self.nodes[i].ticks
    }

    /// The answer to a call, if it came.
    pub fn reply(&self, i: NodeId, id: CallId) -> Option<&Result<Reply, CallError>> {
        self.nodes[i].replies.get(&id)
    }

    /// Takes the answer to a call, if it came.
    pub fn take_reply(&mut self, i: NodeId, id: CallId) -> Option<Result<Reply, CallError>> {
        self.nodes[i].replies.remove(&id)
    }

    /// Whether two nodes can reach each other now.
    pub fn reachable(&self, a: NodeId, b: NodeId) -> bool {
        let (x, y) = (&self.nodes[a], &self.nodes[b]);
        x.online && y.online && x.group == y.group
    }

    fn schedule(&mut self, at: Millis, msg: Msg) {
        self.seq += 1;
        self.queue.insert((at, self.seq), msg);
    }

    /// Runs every message due up to `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: Millis) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((at, _), msg) = entry.remove_entry();
            self.now = at;
            self.handle(msg);
        }
        self.now = self.now.max(until);
    }

    /// Runs for `ms` of virtual time.
    pub fn run_for(&mut self, ms: Millis) {
        self.run_until(self.now + ms);
    }

    /// Runs until `done` holds (checked every `every_ms`) or `deadline`; returns whether it held.
    pub fn run_until_true(
        &mut self,
        deadline: Millis,
        every_ms: Millis,
        mut done: impl FnMut(&mut Sim) -> bool,
    ) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if self.now >= deadline {
                return false;
            }
            let next = (self.now + every_ms.max(1)).min(deadline);
            self.run_until(next);
        }
    }

    /// Publishes raw bytes on a topic from node `i`, bypassing its service (a hostile member's
    /// junk, forgeries or unauthorised revocations). Returns whether any neighbour was reachable.
    pub fn inject_gossip(&mut self, i: NodeId, topic: Topic, data: Vec<u8>) -> bool {
        self.publish(i, topic, data.into())
    }

    /// Sends a raw direct request from node `i`, bypassing its service. The response is kept
    /// for [`Sim::raw_responses`]; returns the request's number.
    pub fn inject_request(&mut self, i: NodeId, to: PublicKey, request: &DirectRequest) -> u64 {
        self.next_raw += 1;
        let id = self.next_raw;
        let bytes = codec::encode(request).unwrap_or_default();
        self.send_request(i, id, to, bytes);
        id
    }

    /// Sends raw bytes as a direct request from node `i` (junk that decodes as nothing).
    pub fn inject_raw_request(&mut self, i: NodeId, to: PublicKey, bytes: Vec<u8>) -> u64 {
        self.next_raw += 1;
        let id = self.next_raw;
        self.send_request(i, id, to, bytes);
        id
    }

    /// Responses to requests injected from node `i`, by request number.
    pub fn raw_responses(&self, i: NodeId) -> &[(u64, RawResponse)] {
        &self.nodes[i].raw_responses
    }

    /// Whether node `i` holds a published record (for a profile: that version or a newer one).
    pub fn holds(&self, i: NodeId, p: &Published) -> bool {
        let store = self.nodes[i].service.store();
        if p.kind == RecordKind::Profile {
            return store
                .get_profile(&p.signer)
                .ok()
                .flatten()
                .is_some_and(|q| q.id() == p.id || q.body.issued_at > p.issued_at);
        }
        store.has_record(&p.id).unwrap_or(false)
    }

    /// How many published records node `i` does not hold yet. Incremental: a record found once
    /// is not looked up again.
    pub fn missing(&mut self, i: NodeId) -> usize {
        let total = self.published.len();
        let mut outstanding = std::mem::take(&mut self.nodes[i].outstanding);
        outstanding.extend(self.nodes[i].cursor..total);
        self.nodes[i].cursor = total;
        outstanding.retain(|&k| !self.holds(i, &self.published[k]));
        let n = outstanding.len();
        self.nodes[i].outstanding = outstanding;
        n
    }

    /// Whether every online node holds every published record.
    pub fn converged(&mut self) -> bool {
        (0..self.nodes.len()).all(|i| !self.nodes[i].online || self.missing(i) == 0)
    }

    /// A hash of every message handled so far (time, kind, ends, size, outcome), in order.
    pub fn trace_hash(&self) -> [u8; 32] {
        self.trace.clone().finalize().into()
    }

    /// Messages folded into [`Sim::trace_hash`].
    pub fn trace_len(&self) -> u64 {
        self.trace_len
    }

    /// A hash of every node's stored records (ids of profiles and other records, in store
    /// order), counts and trust state.
    pub fn state_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for n in &self.nodes {
            let store = n.service.store();
            for p in store.profiles().flatten() {
                h.update(p.id().0);
            }
            for kind in [
                RecordKind::Need,
                RecordKind::Offer,
                RecordKind::Collaboration,
                RecordKind::CollabEntry,
                RecordKind::Message,
                RecordKind::Attestation,
                RecordKind::Revocation,
            ] {
                for r in store.records_of_kind(kind).flatten() {
                    h.update(r.id().0);
                }
            }
            let c = n.service.counts();
            h.update((c.profiles as u64).to_le_bytes());
            h.update((c.records as u64).to_le_bytes());
            h.update((c.peers as u64).to_le_bytes());
            h.update((n.service.counted_attestations() as u64).to_le_bytes());
        }
        h.finalize().into()
    }
}
