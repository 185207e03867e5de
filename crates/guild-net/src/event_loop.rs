//! The task that owns the swarm: it carries out [`Command`]s from [`Client`](crate::Client)s
//! and turns swarm events into [`NetEvent`]s.
//!
//! One `tokio::select!` (biased: shutdown, then local commands, then network events, then
//! timers) drives everything. Every operation awaiting a network outcome is parked in a map
//! keyed by the libp2p id of that operation (connection, query, request) and resolved by the
//! event that ends it; each such outcome is bounded in time by a libp2p timeout (dial,
//! Kademlia query, request), so no reply waits forever.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use libp2p::{
    core::transport::ListenerId,
    kad::QueryId,
    metrics::{Metrics, Recorder},
    multiaddr::Protocol,
    request_response::{InboundRequestId, OutboundRequestId, ResponseChannel},
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        ConnectionId, DialError as SwarmDialError,
    },
    Multiaddr, PeerId, StreamProtocol, Swarm,
};
use tokio::{
    sync::{mpsc, oneshot},
    time::{interval_at, Instant, Interval, MissedTickBehavior},
};
use tokio_util::sync::CancellationToken;

use crate::{
    behaviour::Behaviour,
    client::Command,
    config::{peer_id_of, NetConfig},
    error::{DhtError, DialError, RequestError},
    event::NetEvent,
    topics::CommunityTopics,
};

/// Inbound requests waiting for the node's answer. Each holds an open stream; the request
/// timeout frees them, and this cap bounds how many the node can be asked to hold at once.
pub const MAX_PENDING_INBOUND_REQUESTS: usize = 256;

/// A `get_providers` lookup resolves early once it has found this many providers: enough
/// candidates for a `guild find`, and Kademlia's replication factor (no single node stores
/// more for one key).
pub const PROVIDERS_ENOUGH: usize = 20;

/// Addresses taken from one identify message into Kademlia. Bounds what one peer can make us
/// store and advertise on its behalf.
pub const MAX_ADDRS_PER_PEER: usize = 16;

/// Interval of housekeeping: re-dialling relays we lost, forgetting inbound requests whose
/// requester gave up. Short enough to restore relay reachability quickly, long enough to be free.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(30);

/// How long a peer being disconnected ([`Client::disconnect_peer`](crate::Client::disconnect_peer))
/// keeps its connection after its last pending answer was written: time for it to read that
/// answer (closing at once can drop it in flight) while it is refused anything new.
pub const ANSWER_LINGER: Duration = Duration::from_millis(500);

/// Peers whose standing ([`Client::set_peer_standing`](crate::Client::set_peer_standing)) is
/// remembered to be re-applied when they connect. Past it, new non-zero standings are ignored
/// (the node sets standings for the members it trusts, far fewer than this).
pub const MAX_PEER_STANDINGS: usize = 4096;

/// What we track about a connected peer.
#[derive(Debug, Default)]
pub(crate) struct PeerState {
    pub(crate) connections: HashMap<ConnectionId, Multiaddr>,
    pub(crate) agent: Option<String>,
    pub(crate) protocol_version: Option<String>,
    pub(crate) protocols: Vec<String>,
}

/// The event loop. Created by [`crate::spawn`].
pub(crate) struct EventLoop {
    pub(crate) swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    cancel: CancellationToken,
    pub(crate) metrics: Option<Metrics>,
    pub(crate) topics: CommunityTopics,
    pub(crate) community: String,
    pub(crate) kad_protocol: StreamProtocol,
    pub(crate) max_message_size: usize,
    pub(crate) max_response_size: usize,
    random_walk: Option<Interval>,
    /// Events dropped since the last `DroppedEvents` report.
    dropped_events: u64,
    pub(crate) peers: HashMap<PeerId, PeerState>,
    /// Configured relays and their (direct) addresses.
    pub(crate) relays: HashMap<PeerId, Multiaddr>,
    /// Our circuit listeners: listener → (relay, circuit address).
    pub(crate) relay_listeners: HashMap<ListenerId, (PeerId, Multiaddr)>,
    /// `dial(addr)` calls, by the connection they started.
    pub(crate) pending_dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId, DialError>>>,
    /// `dial(addr)` calls for circuit addresses, waiting for a direct connection to the relay
    /// (the relay client cannot dial a circuit while its relay is still being dialled).
    pub(crate) circuit_dials: HashMap<PeerId, Vec<CircuitDial>>,
    /// `dial_peer(peer)` calls, resolved by any connection to that peer.
    pub(crate) peer_waiters: HashMap<PeerId, Vec<oneshot::Sender<Result<(), DialError>>>>,
    /// DHT lookups of a peer's addresses for `dial_peer`.
    pub(crate) peer_lookups: HashMap<QueryId, PeerId>,
    pub(crate) pending_providing: HashMap<QueryId, oneshot::Sender<Result<(), DhtError>>>,
    pub(crate) pending_providers: HashMap<QueryId, PendingProviders>,
    pub(crate) pending_requests:
        HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, RequestError>>>,
    pub(crate) pending_responses: HashMap<InboundRequestId, (PeerId, ResponseChannel<Vec<u8>>)>,
    /// Peers being disconnected once their pending answers are sent, and until when at most.
    pub(crate) closing: HashMap<PeerId, std::time::Instant>,
    /// Answers handed to the swarm and not yet written (at most one per inbound request, so
    /// bounded like `pending_responses`; forgotten when written, failed or the peer is gone).
    pub(crate) responding: HashMap<InboundRequestId, PeerId>,
    /// The direct protocol's request timeout (the longest a pending answer can wait).
    pub(crate) request_timeout: Duration,
    /// Standings set by the node, re-applied to gossipsub when the peer connects.
    pub(crate) standings: HashMap<PeerId, f64>,
}

/// A `dial` through a relay, waiting for the connection to the relay.
pub(crate) type CircuitDial = (Multiaddr, oneshot::Sender<Result<PeerId, DialError>>);

/// A `get_providers` lookup in progress.
pub(crate) struct PendingProviders {
    pub(crate) found: HashSet<PeerId>,
    pub(crate) reply: oneshot::Sender<Result<HashSet<PeerId>, DhtError>>,
}

impl EventLoop {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        config: &NetConfig,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetEvent>,
        cancel: CancellationToken,
        metrics: Option<Metrics>,
        kad_protocol: StreamProtocol,
    ) -> Self {
        let random_walk = config.random_walk_interval.map(delayed_interval);
        Self {
            swarm,
            commands,
            events,
            cancel,
            metrics,
            topics: CommunityTopics::new(&config.community),
            community: config.community.clone(),
            kad_protocol,
            max_message_size: config.max_message_size,
            max_response_size: config.max_response_size,
            random_walk,
            dropped_events: 0,
            peers: HashMap::new(),
            relays: HashMap::new(),
            relay_listeners: HashMap::new(),
            pending_dials: HashMap::new(),
            circuit_dials: HashMap::new(),
            peer_waiters: HashMap::new(),
            peer_lookups: HashMap::new(),
            pending_providing: HashMap::new(),
            pending_providers: HashMap::new(),
            pending_requests: HashMap::new(),
            pending_responses: HashMap::new(),
            closing: HashMap::new(),
            responding: HashMap::new(),
            request_timeout: config.request_timeout,
            standings: HashMap::new(),
        }
    }

    /// Announces configured external addresses, dials bootstrap peers and relays, and starts
    /// the Kademlia bootstrap.
    pub(crate) fn start(&mut self, config: &NetConfig) {
        for addr in &config.external_addrs {
            self.swarm.add_external_address(addr.clone());
        }
        for addr in &config.bootstrap {
            let Ok(peer) = peer_id_of(addr) else {
                continue; // validated before; unreachable
            };
            self.swarm.add_peer_address(peer, addr.clone());
            self.swarm
                .behaviour_mut()
                .kad
                .add_address(&peer, addr.clone());
            let _ = self.dial_known(peer, vec![addr.clone()]);
        }
        if !config.bootstrap.is_empty() {
            if let Err(e) = self.swarm.behaviour_mut().kad.bootstrap() {
                tracing::warn!("cannot bootstrap Kademlia: {e}");
            }
        }
        for addr in &config.relays {
            let Ok(peer) = peer_id_of(addr) else {
                continue;
            };
            self.relays.insert(peer, addr.clone());
            self.swarm.add_peer_address(peer, addr.clone());
            let _ = self.dial_known(peer, vec![addr.clone()]);
        }
    }

    /// Runs until cancelled or until every client is dropped.
    pub(crate) async fn run(mut self) {
        let mut housekeeping = delayed_interval(HOUSEKEEPING_INTERVAL);
        loop {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break,
                command = self.commands.recv() => match command {
                    Some(command) => self.handle_command(command),
                    None => break,
                },
                event = futures::StreamExt::select_next_some(&mut self.swarm) => {
                    self.handle_swarm_event(event);
                }
                _ = tick(&mut self.random_walk) => self.random_walk(),
                _ = next_close(&self.closing) => self.close_due(),
                _ = housekeeping.tick() => self.housekeeping(),
            }
        }
        tracing::debug!("network event loop stopped");
    }

    /// Sends an event to the node without ever waiting. On a full (or closed) channel the
    /// event is counted and handed back so the caller can release what it holds.
    #[must_use = "an undelivered event may hold something to release"]
    pub(crate) fn emit(&mut self, event: NetEvent) -> Option<NetEvent> {
        if self.dropped_events > 0 {
            let report = NetEvent::DroppedEvents {
                count: self.dropped_events,
            };
            if self.events.try_send(report).is_err() {
                self.dropped_events += 1;
                return Some(event);
            }
            self.dropped_events = 0;
        }
        match self.events.try_send(event) {
            Ok(()) => None,
            Err(
                mpsc::error::TrySendError::Full(event) | mpsc::error::TrySendError::Closed(event),
            ) => {
                self.dropped_events += 1;
                tracing::debug!(
                    dropped = self.dropped_events,
                    "event consumer too slow; dropping"
                );
                Some(event)
            }
        }
    }

    /// Records an event in the metrics, if enabled.
    pub(crate) fn record<E>(&self, event: &E)
    where
        Metrics: Recorder<E>,
    {
        if let Some(metrics) = &self.metrics {
            metrics.record(event);
        }
    }

    /// Dials a peer at the given addresses unless already connected or dialling. An error
    /// means no dial is under way (and none will report back).
    ///
    /// Every dial of ours takes a fresh local port rather than our listening one (libp2p's
    /// default "port reuse"): with reuse, every retry towards one member uses the same TCP
    /// four-tuple, and while the member's side of the last attempt sits in `TIME_WAIT` (a
    /// minute, after it refused or pruned us) each retry is reset — seen as members locked out
    /// of a full bootstrap peer for minutes, and as "Address already in use" after restarts.
    /// Hole punching (DCUtR) still reuses the port: it sets that on its own dials.
    pub(crate) fn dial_known(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), String> {
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .allocate_new_port()
            .build();
        match self.swarm.dial(opts) {
            Ok(()) | Err(SwarmDialError::DialPeerConditionFalse(_)) => Ok(()),
            Err(e) => {
                tracing::debug!(%peer, "cannot dial: {e}");
                Err(e.to_string())
            }
        }
    }

    /// Handles peers found on the local network (by mDNS, or injected by tests).
    pub(crate) fn on_local_peers_discovered(&mut self, peers: Vec<(PeerId, Multiaddr)>) {
        let local = *self.swarm.local_peer_id();
        let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
        for (peer, addr) in peers {
            if peer != local {
                by_peer.entry(peer).or_default().push(addr);
            }
        }
        for (peer, addrs) in by_peer {
            tracing::debug!(%peer, ?addrs, "discovered on the local network");
            for addr in addrs.iter().take(MAX_ADDRS_PER_PEER) {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
            let _ = self.dial_known(peer, addrs);
        }
    }

    fn random_walk(&mut self) {
        let kad = &mut self.swarm.behaviour_mut().kad;
        if kad.kbuckets().any(|bucket| bucket.num_entries() > 0) {
            kad.get_closest_peers(PeerId::random());
        }
    }

    fn housekeeping(&mut self) {
        self.pending_responses
            .retain(|_, (_, channel)| channel.is_open());
        self.close_due();
        let relays: Vec<_> = self
            .relays
            .iter()
            .filter(|(relay, _)| !self.relay_listeners.values().any(|(r, _)| r == *relay))
            .map(|(relay, addr)| (*relay, addr.clone()))
            .collect();
        for (relay, addr) in relays {
            if self.swarm.is_connected(&relay) {
                self.listen_via_relay(relay);
            } else {
                let _ = self.dial_known(relay, vec![addr]);
            }
        }
    }

    /// Reserves a circuit on a configured relay we are directly connected to.
    pub(crate) fn listen_via_relay(&mut self, relay: PeerId) {
        let Some(addr) = self.relays.get(&relay) else {
            return;
        };
        if self.relay_listeners.values().any(|(r, _)| *r == relay) {
            return;
        }
        let circuit = addr.clone().with(Protocol::P2pCircuit);
        match self.swarm.listen_on(circuit.clone()) {
            Ok(id) => {
                tracing::debug!(%relay, "reserving a circuit");
                self.relay_listeners.insert(id, (relay, circuit));
            }
            Err(e) => tracing::warn!(%relay, "cannot listen through relay: {e}"),
        }
    }
}

/// An interval whose first tick is one period from now and which, when the loop falls behind,
/// skips missed ticks instead of bursting.
fn delayed_interval(period: Duration) -> Interval {
    let mut interval = interval_at(Instant::now() + period, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// Waits until the first peer in `closing` is due (forever if there is none).
async fn next_close(closing: &HashMap<PeerId, std::time::Instant>) {
    match closing.values().min() {
        Some(due) => tokio::time::sleep_until(Instant::from_std(*due)).await,
        None => std::future::pending().await,
    }
}

/// Waits for the next tick of an optional interval (forever if there is none).
async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
