//! The running node: the daemon loop that owns the [`Service`] and performs its effects, and
//! [`Node`], the cheap handle everything else uses to reach it.
//!
//! One task (the loop, [`runtime`]) owns the service: control calls, network events and
//! responses to our requests reach it over bounded channels, control calls with one-shot
//! replies (the shape of `guild-net`'s own `Client` and event loop). Nothing else touches the
//! node's domain state, so there is no lock around it. Work that waits on the network — a
//! request to a peer, a DHT lookup inside `find`, a flush before an acknowledgement — runs on
//! spawned tasks (each carrying the node's tracing span) that hand their results back to the
//! loop as inputs.

mod find;
mod runtime;
#[cfg(test)]
mod runtime_tests;
mod startup;

pub use find::FindOutcome;
pub use startup::{LoadProgress, Startup};

/// A peer id shortened as the node's tracing span names it.
pub(crate) fn short_id(peer: &PeerId) -> String {
    runtime::short(peer)
}

use crate::config::Config;
use guild_service::index::Query;
use guild_service::{ServiceConfig, ServiceError};

/// The node core as the daemon runs it: over the sled store.
pub type NodeService = guild_service::Service<guild_store::Store>;
use guild_core::control::pull::*;
use guild_core::control::reputation::*;
use guild_core::control::{
    CallError, ErrorCode, Event, ProfileDraft, ProfileResult, Reply, ServiceCall, UnexpectedReply,
};
use guild_core::{Identity, Profile, PublicKey, RecordId, Signed};
use guild_net::{Multiaddr, NetConfig, PeerId};
use guild_service::stats::Stats;
use guild_store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Events buffered for subscribers; a subscriber further behind than this is told how many it
/// missed (the control server turns that into `events.dropped`).
pub const EVENT_BUFFER: usize = 1024;
/// Control calls queued for the loop; callers wait for room beyond it.
pub const COMMAND_BUFFER: usize = 256;
/// Results of network work queued for the loop.
pub const INPUT_BUFFER: usize = 1024;
/// Most outbound requests in flight; past it new ones fail at once as "busy".
pub const MAX_INFLIGHT_REQUESTS: usize = 256;
/// Most known peers redialled at start.
pub const MAX_REDIAL: usize = 32;
/// Time bound of one outbound request (dial included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest the loop sleeps between two ticks of the service. The service asks to be woken
/// for its own timers (`Io::Wakeup`: mesh rounds every 5 s, retries, queued profile versions,
/// republish, sweep, sync); this only bounds a wake-up asked for later.
pub const TICK: Duration = Duration::from_secs(5);

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
    /// How often we sync with a connected peer (one peer each time, round robin).
    pub sync_interval: Duration,
    /// How often expired records are swept.
    pub sweep_interval: Duration,
    /// Time bound of a DHT lookup inside `find`.
    pub find_timeout: Duration,
    /// Sync with every peer as soon as it connects (tests turn it off to isolate other paths).
    pub sync_on_connect: bool,
    /// The longest the loop sleeps between two ticks of the service (it is woken sooner when
    /// the service asks).
    pub tick: Duration,
    /// Connections kept: below `low` the node dials more members, above `high` it prunes
    /// down to `low` (the connection manager, `guild_service::mesh`).
    pub low_water: usize,
    /// See `low_water`.
    pub high_water: usize,
    /// How long a new connection is never pruned (tests shorten it).
    pub mesh_grace: Duration,
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
            max_incoming: n.max_incoming,
            max_outgoing: n.max_outgoing,
            max_incoming_per_ip: n.max_incoming_per_ip,
            handshake_burst_per_ip: n.handshake_burst_per_ip,
            handshakes_per_ip_per_minute: n.handshakes_per_ip_per_minute,
            reserved_incoming: n.reserved_incoming,
            max_incoming_per_range: n.max_incoming_per_range,
            max_pending_incoming: n.max_pending_incoming,
            accept_burst: n.accept_burst,
            accepts_per_second: n.accepts_per_second,
            stranger_read_burst: n.stranger_read_burst,
            stranger_read_rate: n.stranger_read_rate,
            strangers_total_read_burst: n.strangers_total_read_burst,
            strangers_total_read_rate: n.strangers_total_read_rate,
            address_penalty: n.address_penalty.duration(),
            address_cooldown: n.address_cooldown.duration(),
            range_bans: n.range_bans,
            penalised_range_strangers: n.penalised_range_strangers,
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
            tick: TICK,
            low_water: n.low_water,
            high_water: n.high_water,
            mesh_grace: guild_service::mesh::GRACE.into(),
        })
    }

    /// The service's share of the options.
    pub fn service_config(&self) -> ServiceConfig {
        ServiceConfig {
            profile_lifetime: self.profile_lifetime,
            republish_interval: self.republish_interval.into(),
            max_profiles: self.max_profiles,
            records_per_peer_per_minute: self.records_per_peer_per_minute,
            sync_interval: self.sync_interval.into(),
            sweep_interval: self.sweep_interval.into(),
            sync_on_connect: self.sync_on_connect,
            mesh: guild_service::MeshConfig {
                grace: self.mesh_grace.into(),
                ..guild_service::MeshConfig::with_per_address_limit(
                    self.low_water,
                    self.high_water,
                    self.net.max_incoming_per_ip,
                )
            },
        }
    }

    /// The configured bootstrap peers as (member, addresses without `/p2p/…`), for the
    /// connection manager's address book: it redials them when the node is alone.
    pub fn bootstrap_peers(&self) -> Vec<(PublicKey, Vec<String>)> {
        self.net
            .bootstrap
            .iter()
            .filter_map(|addr| {
                let peer = guild_net::config::peer_id_of(addr).ok()?;
                let key = PublicKey::from_peer_id(&peer).ok()?;
                let bare: Multiaddr = addr
                    .iter()
                    .filter(|p| !matches!(p, guild_net::multiaddr::Protocol::P2p(_)))
                    .collect();
                Some((key, vec![bare.to_string()]))
            })
            .collect()
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
            tick: TICK,
            low_water: guild_service::mesh::DEFAULT_LOW,
            high_water: guild_service::mesh::DEFAULT_HIGH,
            mesh_grace: guild_service::mesh::GRACE.into(),
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
    /// The service could not load.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The thread loading the store stopped (it panicked).
    #[error("loading the store: {0}")]
    Load(String),
}

/// Why a call failed, for in-process callers (tests, benchmarks); the socket sees the
/// [`CallError`] itself.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The id names nothing this node knows.
    #[error("{0}")]
    NotFound(String),
    /// The request breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The other side could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// Storage, encoding or the node itself failed.
    #[error("{0}")]
    Internal(String),
}

impl From<CallError> for PullError {
    fn from(e: CallError) -> PullError {
        match e.code {
            ErrorCode::NotFound => PullError::NotFound(e.message),
            ErrorCode::InvalidParams => PullError::Invalid(e.message),
            ErrorCode::PeerUnreachable => PullError::Unreachable(e.message),
            _ => PullError::Internal(e.message),
        }
    }
}

/// What the loop is asked to do by a [`Node`] handle.
pub(crate) enum Command {
    /// A control call served by the service.
    Call {
        call: ServiceCall,
        reply: oneshot::Sender<Result<Reply, CallError>>,
    },
    /// Our profile, from a draft (in-process callers).
    SetProfile {
        draft: ProfileDraft,
        reply: oneshot::Sender<Result<Reply, CallError>>,
    },
    /// The local half of `find`.
    FindLocal {
        q: Query,
        reply: oneshot::Sender<find::Local>,
    },
    /// Publish a find snapshot that carries trust for these skills too.
    TrustFor {
        skills: Vec<Option<guild_core::SkillTag>>,
        reply: oneshot::Sender<()>,
    },
    /// Profiles fetched from DHT providers inside `find`.
    Ingest {
        records: Vec<(PublicKey, guild_core::AnyRecord)>,
        reply: oneshot::Sender<Vec<PublicKey>>,
    },
    /// `invite.create`, with the addresses the daemon knows for us.
    Invite {
        params: guild_core::control::invite::InviteCreateParams,
        community: String,
        addrs: Vec<String>,
        reply: oneshot::Sender<Result<Reply, CallError>>,
    },
    /// `join`: present a checked code to its inviter (connected already).
    Join {
        code: Box<guild_core::invite::SignedInvitation>,
        reply: oneshot::Sender<Result<Reply, CallError>>,
    },
}

/// What the loop shares for reads that need no round trip.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Addresses we listen on.
    pub listen: Vec<Multiaddr>,
    /// Connected peers: id, address, since (Unix seconds).
    pub peers: Vec<(PeerId, Option<Multiaddr>, u64)>,
    /// Indexed profiles.
    pub profiles: usize,
    /// Other stored records.
    pub records: usize,
    /// How the node stands with its community's mesh (set at the first tick).
    pub mesh: Option<guild_core::control::MeshStatus>,
    /// Who dialled, and the last ping's round trip, per connected peer.
    pub links: std::collections::HashMap<PeerId, LinkInfo>,
    /// Work the node still has for its peers (signature jobs, syncs): all zero once settled.
    pub work: guild_service::InFlight,
}

/// What the node knows of its connection to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// The peer dialled us.
    pub inbound: bool,
    /// The last ping's round trip, in milliseconds (none before the first ping answers).
    pub rtt_ms: Option<u32>,
}

/// A handle on the running node. Clones share the node.
#[derive(Clone)]
pub struct Node {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    snapshot: watch::Receiver<Snapshot>,
    peer_id: PeerId,
    me: PublicKey,
    store: Store,
    net: guild_net::Client,
    stats: Stats,
    community: String,
    /// Started in the default community with no bootstrap peer: see [`crate::invite::may_move`].
    may_move: bool,
    started: Instant,
    find_timeout: Duration,
    cancel: CancellationToken,
    span: tracing::Span,
    /// What `find` reads, published by the loop after each change (lock-free for readers).
    view: Arc<arc_swap::ArcSwap<guild_service::FindView>>,
    /// The service's current trust epoch: a snapshot behind it asks the loop for fresh trust
    /// (read-your-writes after `vouch`, `revoke`, `trust add`).
    trust_epoch: Arc<std::sync::atomic::AtomicU64>,
    /// Whether this start read back the state saved at the last clean stop (instead of
    /// loading the store).
    restored: bool,
}

impl Node {
    /// Whether this start read back the state saved at the last clean stop instead of
    /// loading the store (see `guild_store::SavedState`).
    pub fn restored(&self) -> bool {
        self.restored
    }

    /// Starts the network, loads the service from the store, redials known peers, publishes our
    /// profile and spawns the loop. The returned task ends after [`Node::shutdown`] once the
    /// network has stopped and the store is flushed.
    pub async fn start(
        identity: Identity,
        store: Store,
        opts: NodeOptions,
        registry: Option<&mut prometheus_client::registry::Registry>,
    ) -> Result<(Node, JoinHandle<()>), NodeError> {
        Node::start_with(identity, store, opts, registry, Startup::default()).await
    }

    /// [`Node::start`], reporting the load's progress and publishing events on the channel
    /// `startup` gives (a daemon's control socket answers while the node starts). The store
    /// is loaded on a blocking thread, so the runtime's other tasks (the socket) keep running;
    /// the network starts only once it is loaded, so nothing arrives from peers before.
    pub async fn start_with(
        identity: Identity,
        store: Store,
        opts: NodeOptions,
        registry: Option<&mut prometheus_client::registry::Registry>,
        startup: Startup,
    ) -> Result<(Node, JoinHandle<()>), NodeError> {
        let stats = Stats::default();
        let mut registry = registry;
        if let Some(r) = registry.as_deref_mut() {
            stats.register(r);
        }
        let peer_id = identity.peer_id();
        let me = identity.public();
        let now = runtime::now_ms();
        let load = {
            let (identity, store) = (
                Identity::from_secret(identity.secret_bytes()),
                store.clone(),
            );
            let (cfg, seed, progress) = (
                opts.service_config(),
                rand::random(),
                startup.progress.clone(),
            );
            let saved = store.take_saved_state();
            tokio::task::spawn_blocking(move || {
                let mut phases = PhaseTimes::default();
                // The state saved at the last clean stop, when the store still matches it; a
                // state that cannot be used is said why, and the store is loaded instead.
                match saved {
                    Ok(Some(mut saved)) => {
                        phases.at("restore");
                        let restored = guild_service::Service::restore(
                            Identity::from_secret(identity.secret_bytes()),
                            store.clone(),
                            cfg.clone(),
                            seed,
                            now,
                            &mut saved,
                        );
                        match restored {
                            Ok(service) => {
                                phases.at("done");
                                tracing::info!(
                                    "state restored from {}: {}",
                                    saved.path().display(),
                                    phases.describe()
                                );
                                return (Ok(service), true);
                            }
                            Err(e) => tracing::warn!(
                                "not using the saved state {}: {e}; loading the store",
                                saved.path().display()
                            ),
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!("cannot read the saved state: {e}; loading the store"),
                }
                let loaded = guild_service::Service::new_with_progress(
                    identity,
                    store,
                    cfg,
                    seed,
                    now,
                    &mut |s| {
                        phases.at(s.phase);
                        progress.set(s)
                    },
                );
                phases.at("done");
                tracing::info!("store loaded: {}", phases.describe());
                (loaded, false)
            })
        };
        let (loaded, restored) = load.await.map_err(|e| NodeError::Load(e.to_string()))?;
        let mut service = loaded?;
        startup.progress.loaded();
        service.set_stats(stats.clone());
        let (net, net_events, net_task) =
            guild_net::spawn(identity.keypair(), opts.net.clone(), registry).await?;
        let events = startup.events;
        let (commands, command_rx) = mpsc::channel(COMMAND_BUFFER);
        // What was loaded from the store is visible as soon as `start` returns.
        let counts = service.counts();
        let (snapshot_tx, snapshot) = watch::channel(Snapshot {
            profiles: counts.profiles,
            records: counts.records,
            ..Snapshot::default()
        });
        let cancel = CancellationToken::new();
        let trust_epoch = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let view = Arc::new(arc_swap::ArcSwap::from_pointee(
            service.find_view(&[], runtime::now_ms()),
        ));
        trust_epoch.store(service.epochs().1, std::sync::atomic::Ordering::Release);
        let mut node = Node {
            commands,
            events: events.clone(),
            snapshot,
            peer_id,
            me,
            store,
            net: net.clone(),
            stats,
            community: opts.net.community.clone(),
            may_move: crate::invite::may_move(&opts.net.community, opts.net.bootstrap.len()),
            started: Instant::now(),
            find_timeout: opts.find_timeout,
            cancel: cancel.clone(),
            span: tracing::Span::none(),
            view: view.clone(),
            trust_epoch: trust_epoch.clone(),
            restored,
        };
        // Everything the loop and its tasks log carries the node's short id, so interleaved
        // logs of several nodes (tests, benchmarks) stay readable.
        let span = tracing::info_span!("node", peer = %runtime::short(&peer_id));
        node.span = span.clone();
        let bootstrap = opts.bootstrap_peers();
        let rt = runtime::Runtime::new(
            service,
            bootstrap,
            net,
            runtime::Published {
                events,
                snapshot: snapshot_tx,
                view,
                trust_epoch,
            },
            cancel,
            opts.tick,
            span.clone(),
        );
        let task = tokio::spawn(tracing::Instrument::instrument(
            rt.run(command_rx, net_events, net_task),
            span,
        ));
        Ok((node, task))
    }

    /// The node's tracing span: every task of the node (and the daemon's servers) logs in it.
    pub fn span(&self) -> tracing::Span {
        self.span.clone()
    }

    /// Asks the node to stop; the task returned by [`Node::start`] finishes the shutdown.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// Resolves when the node has been asked to stop.
    pub async fn stopped(&self) {
        self.cancel.cancelled().await
    }

    /// Our PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Our public key.
    pub fn public_key(&self) -> PublicKey {
        self.me
    }

    /// The store, for reads (tests, the daemon's final flush). Only the loop writes to it.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The network client.
    pub fn net(&self) -> &guild_net::Client {
        &self.net
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// A new subscription to node events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// What the loop last published for lock-free reads.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }

    /// A receiver of every snapshot the loop publishes (await `changed()` to wait for one).
    pub fn watch_snapshot(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    /// Addresses we listen on (as reported by the network layer).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.snapshot.borrow().listen.clone()
    }

    /// Waits until the node listens on at least one address and returns its addresses.
    pub async fn wait_listening(&self) -> Vec<Multiaddr> {
        let mut rx = self.snapshot.clone();
        let listen = match rx.wait_for(|s| !s.listen.is_empty()).await {
            Ok(s) => s.listen.clone(),
            Err(_) => vec![],
        };
        listen
    }

    /// Our first listen address with `/p2p/<our id>` appended, for others to bootstrap from.
    pub async fn dial_addr(&self) -> Multiaddr {
        let addrs = self.wait_listening().await;
        let mut a = addrs.into_iter().next().unwrap_or_else(Multiaddr::empty);
        a.push(libp2p::multiaddr::Protocol::P2p(self.peer_id));
        a
    }

    /// Connected peers with the address and time of connection.
    pub fn connected(&self) -> Vec<(PeerId, Option<Multiaddr>, u64)> {
        self.snapshot.borrow().peers.clone()
    }

    /// Connected peers with the address, time of connection, direction and latency.
    pub fn links(&self) -> Vec<(PeerId, Option<Multiaddr>, u64, Option<LinkInfo>)> {
        let s = self.snapshot.borrow();
        s.peers
            .iter()
            .map(|(p, a, since)| (*p, a.clone(), *since, s.links.get(p).copied()))
            .collect()
    }

    /// The community this node belongs to.
    pub fn community(&self) -> &str {
        &self.community
    }

    /// Whether this node's home never joined anyone, so `guild daemon --join` may move it to
    /// another community (see [`crate::invite::may_move`]).
    pub fn may_move(&self) -> bool {
        self.may_move
    }

    /// Time since the node started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Number of indexed profiles (ours included), as of the loop's last snapshot.
    pub fn indexed_profiles(&self) -> usize {
        self.snapshot.borrow().profiles
    }

    /// Whether a member's profile is indexed, as `find` sees it (the loop's latest snapshot).
    pub fn knows(&self, who: &PublicKey) -> bool {
        self.view.load().knows(who)
    }

    async fn command(&self, c: Command) -> Result<(), CallError> {
        self.commands
            .send(c)
            .await
            .map_err(|_| CallError::shutting_down())
    }

    /// Signs an invitation code reachable at `addrs` (see `invite.create`).
    pub async fn create_invite(
        &self,
        params: guild_core::control::invite::InviteCreateParams,
        addrs: Vec<String>,
    ) -> Result<Reply, CallError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Invite {
            params,
            community: self.community.clone(),
            addrs,
            reply,
        })
        .await?;
        rx.await.map_err(|_| CallError::shutting_down())?
    }

    /// Presents a locally checked code to its inviter, to whom we are connected; answers with
    /// the sponsorship's [`Reply::Joined`] or the inviter's refusal.
    pub async fn present_invite(
        &self,
        code: guild_core::invite::SignedInvitation,
    ) -> Result<Reply, CallError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Join {
            code: Box::new(code),
            reply,
        })
        .await?;
        rx.await.map_err(|_| CallError::shutting_down())?
    }

    /// Serves a service call through the loop (the one path the socket, the dashboard and these
    /// methods share).
    pub async fn call(&self, call: ServiceCall) -> Result<Reply, CallError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Call { call, reply }).await?;
        rx.await.map_err(|_| CallError::shutting_down())?
    }

    async fn typed<T: TryFrom<Reply, Error = UnexpectedReply>>(
        &self,
        call: ServiceCall,
    ) -> Result<T, PullError> {
        let reply = self.call(call).await?;
        T::try_from(reply).map_err(|e| PullError::Internal(e.to_string()))
    }

    async fn unit(&self, call: ServiceCall) -> Result<(), PullError> {
        self.typed(call).await
    }

    /// Replaces our profile; returns the signed version.
    pub async fn set_own_profile(&self, draft: ProfileDraft) -> Result<Signed<Profile>, PullError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::SetProfile { draft, reply }).await?;
        let reply = rx.await.map_err(|_| CallError::shutting_down())??;
        match ProfileResult::try_from(reply) {
            Ok(Some(signed)) => Ok(signed),
            Ok(None) => Err(PullError::Internal("no profile was signed".into())),
            Err(e) => Err(PullError::Internal(e.to_string())),
        }
    }

    /// Posts a need.
    pub async fn ask(&self, p: AskParams) -> Result<Asked, PullError> {
        self.typed(ServiceCall::Ask(p)).await
    }

    /// Lists needs.
    pub async fn needs(&self, p: NeedsParams) -> Result<Needs, PullError> {
        self.typed(ServiceCall::Needs(p)).await
    }

    /// Withdraws one of our needs.
    pub async fn withdraw_need(&self, p: WithdrawParams) -> Result<(), PullError> {
        self.unit(ServiceCall::NeedWithdraw(p)).await
    }

    /// Offers on someone's need.
    pub async fn offer(&self, p: OfferParams) -> Result<Delivery, PullError> {
        self.typed(ServiceCall::Offer(p)).await
    }

    /// Withdraws an offer this node made that was not accepted.
    pub async fn withdraw_offer(&self, p: OfferWithdrawParams) -> Result<Delivery, PullError> {
        self.typed(ServiceCall::OfferWithdraw(p)).await
    }

    /// Lists offers.
    pub async fn offers(&self, p: OffersParams) -> Result<Offers, PullError> {
        self.typed(ServiceCall::Offers(p)).await
    }

    /// Accepts an offer on our need.
    pub async fn accept(&self, p: AcceptParams) -> Result<CollabView, PullError> {
        self.typed(ServiceCall::Accept(p)).await
    }

    /// Our collaborations and invitations.
    pub async fn collab_list(&self) -> Result<Collabs, PullError> {
        self.typed(ServiceCall::CollabList).await
    }

    /// One collaboration with its log.
    pub async fn collab_show(&self, collab: &RecordId) -> Result<CollabView, PullError> {
        self.typed(ServiceCall::CollabShow(CollabParams { collab: *collab }))
            .await
    }

    /// Posts to a collaboration.
    pub async fn collab_post(
        &self,
        collab: &RecordId,
        text: String,
    ) -> Result<EntryView, PullError> {
        self.typed(ServiceCall::CollabPost(CollabPostParams {
            collab: *collab,
            text,
        }))
        .await
    }

    /// Invites a member.
    pub async fn collab_invite(
        &self,
        collab: &RecordId,
        peer: PublicKey,
    ) -> Result<EntryView, PullError> {
        self.typed(ServiceCall::CollabInvite(CollabInviteParams {
            collab: *collab,
            peer,
        }))
        .await
    }

    /// Accepts an invitation.
    pub async fn collab_join(&self, collab: &RecordId) -> Result<EntryView, PullError> {
        self.typed(ServiceCall::CollabJoin(CollabParams { collab: *collab }))
            .await
    }

    /// Closes a collaboration.
    pub async fn collab_close(
        &self,
        collab: &RecordId,
        summary: String,
    ) -> Result<EntryView, PullError> {
        self.typed(ServiceCall::CollabClose(CollabCloseParams {
            collab: *collab,
            summary,
        }))
        .await
    }

    /// Sends a direct message.
    pub async fn msg(&self, p: MsgParams) -> Result<Delivery, PullError> {
        self.typed(ServiceCall::Msg(p)).await
    }

    /// Our inbox.
    pub async fn inbox(&self, p: InboxParams) -> Result<Inbox, PullError> {
        self.typed(ServiceCall::Inbox(p)).await
    }

    /// Issues an attestation.
    pub async fn vouch(&self, p: VouchParams) -> Result<AttestationView, PullError> {
        self.typed(ServiceCall::Vouch(p)).await
    }

    /// Revokes one of our attestations.
    pub async fn revoke(&self, p: RevokeParams) -> Result<(), PullError> {
        self.unit(ServiceCall::Revoke(p)).await
    }

    /// Lists attestations with their status.
    pub async fn attestations(&self, p: AttestationsParams) -> Result<Attestations, PullError> {
        self.typed(ServiceCall::Attestations(p)).await
    }

    /// This node's trust in a member, and why.
    pub async fn trust(&self, p: TrustParams) -> Result<TrustView, PullError> {
        self.typed(ServiceCall::Trust(p)).await
    }
}

/// Where a start's load spent its time, phase by phase (logged once it is loaded).
#[derive(Default)]
struct PhaseTimes {
    start: Option<std::time::Instant>,
    current: Option<(&'static str, std::time::Instant)>,
    done: Vec<(&'static str, std::time::Duration)>,
}

impl PhaseTimes {
    fn at(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        self.start.get_or_insert(now);
        match self.current {
            Some((p, _)) if p == phase => {}
            Some((p, since)) => {
                self.done.push((p, now - since));
                self.current = Some((phase, now));
            }
            None => self.current = Some((phase, now)),
        }
    }

    fn describe(&self) -> String {
        let total = match (self.start, self.current) {
            (Some(start), Some((_, at))) => at - start,
            _ => std::time::Duration::ZERO,
        };
        let parts: Vec<String> = self
            .done
            .iter()
            .map(|(p, d)| format!("{p} {} ms", d.as_millis()))
            .collect();
        format!("{} ms ({})", total.as_millis(), parts.join(", "))
    }
}
