//! The daemon loop: the single owner of the [`Service`]. It turns network events, control calls
//! and timers into service inputs, and performs the service's [`Io`] effects.
//!
//! No fixed poll: the loop sleeps until the earliest of the wake-up the service last asked for
//! ([`Io::Wakeup`]: its mesh round, retries, republish, sweep, sync, a queued profile version),
//! its own timers (verdicts the network layer had no room for, a find view whose trust was
//! recomputed a moment ago), or an input; bounded below by [`MIN_WAKE`] and above by the node's
//! `tick` option.

use super::{
    find, Command, NodeService, Snapshot, INPUT_BUFFER, MAX_INFLIGHT_REQUESTS, REQUEST_TIMEOUT,
};
use guild_core::codec;
use guild_core::control::{CallError, Event, Reply};
use guild_core::wire::{DirectResponse, MAX_RESPONSE_BYTES};
use guild_core::PublicKey;
use guild_net::{
    MessageId, NetEvent, PeerId, PublishError, Topic, TryReportError, ValidationReport, Verdict,
};
use guild_service::{
    Answered, CallId, Io, JobId, Millis, RequestFailure, RequestId, SignatureJob,
    Topic as SvcTopic, Verdict as SvcVerdict,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

// The DHT keeps at most `MAX_KEYS_PER_PROVIDER` keys per remote provider: a full profile's
// skill and resource tags, which we announce, must fit in every other node's budget.
const _: () = assert!(
    guild_net::MAX_KEYS_PER_PROVIDER
        >= guild_core::limits::MAX_SKILLS + guild_core::limits::MAX_RESOURCES
);

/// Control commands served per loop turn: the owner's calls come first in every turn, and this
/// bounds how long a flood of local calls can hold back the network (they are the owner's, so
/// it is generous).
pub(crate) const MAX_COMMANDS_PER_TURN: usize = 64;
/// Results of our own requests handled per loop turn.
pub(crate) const MAX_INPUTS_PER_TURN: usize = 64;
/// Network events handled per loop turn. One turn's work is bounded by it, so a command that
/// arrives during a flood waits at most for this many events (a few milliseconds of intake);
/// gossip among them is validated together (one batch of signature checks).
pub(crate) const MAX_NET_EVENTS_PER_TURN: usize = 64;
/// Gossip verdicts waiting for room in the network layer's command channel. Past it verdicts
/// are dropped and counted: gossipsub then forgets those messages unforwarded and unpenalised.
pub(crate) const MAX_PENDING_VERDICTS: usize = 4096;

/// How long shutdown waits for the node's own tasks to end.
const SHUTDOWN_TASKS_TIMEOUT: Duration = Duration::from_secs(5);

/// The wall clock in milliseconds: read here, at the edge, and passed into the service.
pub(crate) fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The last 8 characters of a peer id, for log spans.
pub(crate) fn short(peer: &PeerId) -> String {
    let s = peer.to_base58();
    s[s.len().saturating_sub(8)..].to_string()
}

/// Results of network work, handed back to the loop.
enum Input {
    Response {
        id: RequestId,
        result: Result<DirectResponse, RequestFailure>,
    },
    /// A dial the connection manager asked for failed.
    DialFailed { peer: PublicKey, reason: String },
    /// The verdicts of a signature job checked on a worker.
    Verified {
        id: JobId,
        verdicts: Vec<Result<(), guild_core::RecordError>>,
    },
}

/// Signature jobs checked at once, each on a blocking worker thread (the rest wait their turn,
/// in order): one core for the loop, one for a stranger's batch of signatures, on the 2-core
/// machines Guild runs on. The service bounds how many wait
/// ([`guild_service::offload::MAX_VERIFYING`]).
pub(crate) const VERIFY_WORKERS: usize = 1;

/// How long a pruned peer has to take our `Elsewhere` hint before the connection closes.
const PRUNE_NOTICE_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) struct Runtime {
    service: NodeService,
    /// Configured bootstrap peers, for the connection manager's address book.
    bootstrap: Vec<(PublicKey, Vec<String>)>,
    net: guild_net::Client,
    events: broadcast::Sender<Event>,
    snapshot: watch::Sender<Snapshot>,
    cancel: CancellationToken,
    /// The longest the loop sleeps between two ticks of the service.
    tick: Duration,
    /// When the service asked to be ticked next ([`Io::Wakeup`]).
    service_wake: tokio::time::Instant,
    /// When the find view's deferred trust recomputation is due (see [`Runtime::publish_view`]).
    view_due: Option<tokio::time::Instant>,
    span: tracing::Span,
    tasks: TaskTracker,
    inflight: Arc<Semaphore>,
    inputs_tx: mpsc::Sender<Input>,
    inputs: Option<mpsc::Receiver<Input>>,
    calls: HashMap<CallId, oneshot::Sender<Result<Reply, CallError>>>,
    /// Gossip verdicts not yet taken by the network layer (see [`Runtime::send_verdicts`]).
    verdicts: VecDeque<ValidationReport>,
    next_call: u64,
    snapshot_dirty: bool,
    /// Acknowledgements of this turn's direct requests, sent together after one flush of the
    /// store (see [`Runtime::send_acks`]).
    acks: Vec<(PeerId, guild_net::ResponseHandle, DirectResponse)>,
    view: Arc<arc_swap::ArcSwap<guild_service::FindView>>,
    /// Mirrors the service's trust epoch for readers.
    trust_epoch: Arc<std::sync::atomic::AtomicU64>,
    /// When trust scores were last recomputed for the find view.
    trust_computed: std::time::Instant,
    /// The known members last told to the network layer, and when.
    known_told: (Vec<PublicKey>, Option<std::time::Instant>),
    /// The same members as peer ids: their network events are handled first in a turn.
    known_ids: HashSet<PeerId>,
    /// Requests waiting for their signature jobs, by job.
    awaiting: HashMap<JobId, (PeerId, guild_net::ResponseHandle)>,
    /// Workers for signature jobs ([`VERIFY_WORKERS`]).
    verify_workers: Arc<Semaphore>,
}

/// How often the network layer's set of known members is brought up to date (the service's
/// tiers follow trust within `STANDING_REFRESH_SECS`, 10 s).
const KNOWN_PEERS_INTERVAL: Duration = Duration::from_secs(5);

/// Least time between two recomputations of the find view's trust scores (a burst of
/// attestations recomputes once; a timer catches up).
const TRUST_VIEW_INTERVAL: Duration = Duration::from_millis(200);
/// Shortest sleep between two ticks, whatever the service asks (no busy loop on a deadline that
/// is already due).
pub(crate) const MIN_WAKE: Duration = Duration::from_millis(5);
/// How soon verdicts the network layer had no room for are offered again.
const VERDICT_RETRY: Duration = Duration::from_millis(50);

fn svc_topic(t: SvcTopic) -> Topic {
    match t {
        SvcTopic::Profiles => Topic::Profiles,
        SvcTopic::Needs => Topic::Needs,
        SvcTopic::Attestations => Topic::Attestations,
    }
}

fn net_topic(t: Topic) -> SvcTopic {
    match t {
        Topic::Profiles => SvcTopic::Profiles,
        Topic::Needs => SvcTopic::Needs,
        Topic::Attestations => SvcTopic::Attestations,
    }
}

/// What the loop publishes for everyone else to read without asking it.
pub(crate) struct Published {
    /// Events for subscribers.
    pub events: broadcast::Sender<Event>,
    /// Addresses, peers and counts.
    pub snapshot: watch::Sender<Snapshot>,
    /// What `find` reads.
    pub view: Arc<arc_swap::ArcSwap<guild_service::FindView>>,
    /// The service's current trust epoch.
    pub trust_epoch: Arc<std::sync::atomic::AtomicU64>,
}

impl Runtime {
    pub(crate) fn new(
        service: NodeService,
        bootstrap: Vec<(PublicKey, Vec<String>)>,
        net: guild_net::Client,
        published: Published,
        cancel: CancellationToken,
        tick: Duration,
        span: tracing::Span,
    ) -> Runtime {
        let Published {
            events,
            snapshot,
            view,
            trust_epoch,
        } = published;
        let (inputs_tx, inputs) = mpsc::channel(INPUT_BUFFER);
        Runtime {
            service,
            bootstrap,
            net,
            events,
            snapshot,
            cancel,
            tick,
            // Set by the service's first wake-up, right after `start`.
            service_wake: tokio::time::Instant::now() + tick,
            view_due: None,
            span,
            tasks: TaskTracker::new(),
            inflight: Arc::new(Semaphore::new(MAX_INFLIGHT_REQUESTS)),
            inputs_tx,
            inputs: Some(inputs),
            calls: HashMap::new(),
            verdicts: VecDeque::new(),
            next_call: 0,
            snapshot_dirty: true,
            acks: Vec::new(),
            view,
            trust_epoch,
            trust_computed: std::time::Instant::now() - TRUST_VIEW_INTERVAL,
            known_told: (Vec::new(), None),
            known_ids: HashSet::new(),
            awaiting: HashMap::new(),
            verify_workers: Arc::new(Semaphore::new(VERIFY_WORKERS)),
        }
    }

    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut net_events: mpsc::Receiver<NetEvent>,
        net_task: JoinHandle<()>,
    ) {
        let Some(mut inputs) = self.inputs.take() else {
            return;
        };
        let remembered = self.remembered_peers();
        let bootstrap = std::mem::take(&mut self.bootstrap);
        self.service.start(now_ms(), remembered, bootstrap);
        self.perform().await;
        let mut batch = Vec::with_capacity(MAX_NET_EVENTS_PER_TURN);
        let mut turn_inputs = Vec::with_capacity(MAX_INPUTS_PER_TURN);
        let mut net_open = true;
        // Sleeps until the earliest of the service's wake-up and the loop's own timers.
        let sleep = tokio::time::sleep_until(self.next_wake());
        tokio::pin!(sleep);
        // One turn: wait until anything is ready, then serve the owner's commands first, then
        // results of our own requests, then at most `MAX_NET_EVENTS_PER_TURN` network events,
        // then perform the effects. A command therefore waits at most for the turn in progress
        // (one bounded batch), however many strangers' messages are queued behind it.
        while net_open {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break,
                Some(cmd) = commands.recv() => self.on_command(cmd),
                Some(input) = inputs.recv() => turn_inputs.push(input),
                ev = net_events.recv() => match ev {
                    Some(ev) => batch.push(ev),
                    None => net_open = false,
                },
                _ = &mut sleep => {
                    // The wake-up is consumed; the tick ends with the service's next one.
                    self.service_wake = tokio::time::Instant::now() + self.tick;
                    let now = now_ms();
                    self.service.tick(now);
                    self.publish_mesh(now);
                    self.tell_known_peers().await;
                }
            }
            for _ in 0..MAX_COMMANDS_PER_TURN {
                match commands.try_recv() {
                    Ok(cmd) => self.on_command(cmd),
                    Err(_) => break,
                }
            }
            while turn_inputs.len() < MAX_INPUTS_PER_TURN {
                match inputs.try_recv() {
                    Ok(input) => turn_inputs.push(input),
                    Err(_) => break,
                }
            }
            self.on_inputs(&mut turn_inputs);
            // Requests finished by their signature jobs.
            self.send_acks();
            // The owner's replies leave before strangers' traffic is looked at.
            self.perform().await;
            while net_open && batch.len() < MAX_NET_EVENTS_PER_TURN {
                match net_events.try_recv() {
                    Ok(ev) => batch.push(ev),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => net_open = false,
                }
            }
            if !batch.is_empty() {
                self.on_net_events(&mut batch);
                self.perform().await;
                // Connections come and go with network events: the status follows at once.
                self.publish_mesh(now_ms());
                // During a flood every turn has work: let the tasks that share this thread
                // (control connections, flushes before acknowledgements) run between turns.
                tokio::task::yield_now().await;
            }
            // Also retries what did not fit last turn (a timer guarantees a next turn).
            self.send_verdicts();
            sleep.as_mut().reset(self.next_wake());
        }
        if !net_open {
            tracing::warn!("the network layer stopped");
        }
        self.cancel.cancel();
        // Calls still waiting get an answer rather than a dropped channel.
        for (_, reply) in self.calls.drain() {
            let _ = reply.send(Err(CallError::shutting_down()));
        }
        self.net.shutdown();
        let _ = net_task.await;
        // Tasks waiting on the network fail fast now that it has stopped.
        self.tasks.close();
        if tokio::time::timeout(SHUTDOWN_TASKS_TIMEOUT, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("{} node tasks still running at shutdown", self.tasks.len());
        }
        match self.service.store().flush_async().await {
            Err(e) => tracing::error!("flushing the store at shutdown failed: {e}"),
            // Everything is written: the derived state is saved beside the store, so that the
            // next start reads it back instead of indexing every record again.
            Ok(()) => {
                let service = self.service;
                let saved = tokio::task::spawn_blocking(move || {
                    let started = std::time::Instant::now();
                    let store = service.store().clone();
                    store
                        .save_state(|file| service.save_state(file))
                        .map(|()| started.elapsed())
                })
                .await;
                match saved {
                    Ok(Ok(took)) => tracing::info!("state saved in {} ms", took.as_millis()),
                    Ok(Err(e)) => tracing::warn!("the state was not saved: {e}"),
                    Err(e) => tracing::warn!("the state was not saved: {e}"),
                }
            }
        }
        tracing::info!("node stopped");
    }

    /// Publishes the connection manager's status for `status` and the dashboard, when changed.
    fn publish_mesh(&mut self, now: Millis) {
        let mesh = Some(self.service.mesh_status(now));
        if self.snapshot.borrow().mesh != mesh {
            self.snapshot.send_modify(|s| s.mesh = mesh);
        }
    }

    /// The members remembered from earlier runs, best first (the peer book's order), at most
    /// [`MAX_REDIAL`](super::MAX_REDIAL).
    fn remembered_peers(&self) -> Vec<(PublicKey, Vec<String>)> {
        let known = match self.service.store().known_peers() {
            Ok((known, bad)) => {
                for e in bad {
                    tracing::warn!("skipping a remembered peer: {e}");
                }
                known
            }
            Err(e) => {
                tracing::warn!("cannot read remembered peers: {e}");
                return vec![];
            }
        };
        known
            .into_iter()
            .filter_map(|(bytes, kp)| {
                let peer = PeerId::from_bytes(&bytes).ok()?;
                Some((PublicKey::from_peer_id(&peer).ok()?, kp.addrs))
            })
            .take(super::MAX_REDIAL)
            .collect()
    }

    fn spawn<F>(&self, f: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(f.instrument(self.span.clone()));
    }

    /// Handles one turn's inputs in order, emptying `inputs`: consecutive responses to our
    /// requests go to the service together, so the proofs among them have their signatures
    /// checked as one batch.
    fn on_inputs(&mut self, inputs: &mut Vec<Input>) {
        let mut responses = Vec::new();
        for input in inputs.drain(..) {
            match input {
                Input::Response { id, result } => responses.push((id, result)),
                other => {
                    if !responses.is_empty() {
                        let run = std::mem::take(&mut responses);
                        self.service.received_responses(run, now_ms());
                    }
                    self.on_input(other);
                }
            }
        }
        if !responses.is_empty() {
            self.service.received_responses(responses, now_ms());
        }
    }

    fn on_input(&mut self, input: Input) {
        match input {
            Input::Response { id, result } => {
                self.service.received_response(id, result, now_ms());
            }
            Input::DialFailed { peer, reason } => {
                self.service.dial_failed(peer, &reason, now_ms());
            }
            Input::Verified { id, verdicts } => {
                let resp = self.service.verified(id, verdicts, now_ms());
                if let Some((peer, channel)) = self.awaiting.remove(&id) {
                    self.answer(peer, channel, resp);
                }
            }
        }
    }

    /// Checks a job's signatures on a blocking worker, at most [`VERIFY_WORKERS`] at once; the
    /// verdicts come back as an input.
    fn verify(&self, job: SignatureJob) {
        let workers = self.verify_workers.clone();
        let tx = self.inputs_tx.clone();
        self.spawn(async move {
            let SignatureJob { id, checks, .. } = job;
            let Ok(_permit) = workers.acquire_owned().await else {
                return;
            };
            let checks = Arc::new(checks);
            let on_worker = checks.clone();
            let verdicts = match tokio::task::spawn_blocking(move || {
                guild_core::record::verify_all(&on_worker)
            })
            .await
            {
                Ok(v) => v,
                // The worker was cancelled (shutdown) or panicked: checked here instead.
                Err(_) => guild_core::record::verify_all(&checks),
            };
            let _ = tx.send(Input::Verified { id, verdicts }).await;
        });
    }

    /// Sends the answer to a request: an acknowledgement after this turn's flush, anything
    /// else at once.
    fn answer(&mut self, peer: PeerId, channel: guild_net::ResponseHandle, resp: DirectResponse) {
        if resp == DirectResponse::Ack {
            // An acknowledgement promises the record is stored: it waits for the one flush
            // that ends this turn's batch.
            self.acks.push((peer, channel, resp));
        } else {
            let net = self.net.clone();
            self.spawn(respond(net, peer, channel, resp));
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = now_ms();
        match cmd {
            Command::Call { call, reply } => {
                self.service.stats().socket_requests.inc();
                self.next_call += 1;
                let id = CallId(self.next_call);
                self.calls.insert(id, reply);
                self.service.call(id, call, now);
            }
            Command::SetProfile { draft, reply } => {
                self.next_call += 1;
                let id = CallId(self.next_call);
                self.calls.insert(id, reply);
                self.service.set_profile(id, draft, now);
            }
            Command::FindLocal { q, reply } => {
                let _ = reply.send(find::local(&mut self.service, &q, now));
            }
            Command::TrustFor { skills, reply } => {
                let mut all = self.view.load().skills();
                all.extend(skills);
                self.view.store(Arc::new(self.service.find_view(&all, now)));
                self.trust_computed = std::time::Instant::now();
                let _ = reply.send(());
            }
            Command::Ingest { records, reply } => {
                let signers: Vec<PublicKey> = records.iter().map(|(_, r)| r.signer()).collect();
                let records = records
                    .into_iter()
                    .map(|(from, r)| (Some(from), r))
                    .collect();
                let results = self
                    .service
                    .received_records(records, guild_service::Via::Dht, now);
                let learned = signers
                    .into_iter()
                    .zip(results)
                    .filter_map(|(who, r)| r.is_ok().then_some(who))
                    .collect();
                // The caller searches again next: let it see what it just brought in.
                self.publish_view();
                let _ = reply.send(learned);
            }
            Command::Invite {
                params,
                community,
                addrs,
                reply,
            } => {
                let r = self
                    .service
                    .create_invite(params, &community, addrs, now / 1000)
                    .map(Reply::Invite);
                let _ = reply.send(r);
            }
            Command::Join { code, reply } => {
                self.next_call += 1;
                let id = CallId(self.next_call);
                self.calls.insert(id, reply);
                self.service.join(id, *code, now);
            }
        }
        self.snapshot_dirty = true;
    }

    /// Handles one turn's network events, emptying `batch`: our known members' first, then
    /// everyone else's, each peer's in arrival order. Consecutive gossip messages are judged
    /// together, so their signatures are checked as one batch.
    fn on_net_events(&mut self, batch: &mut Vec<NetEvent>) {
        let mut gossip = Vec::with_capacity(batch.len());
        let (members, others): (Vec<NetEvent>, Vec<NetEvent>) = batch
            .drain(..)
            .partition(|ev| event_peer(ev).is_some_and(|p| self.known_ids.contains(p)));
        for ev in members.into_iter().chain(others) {
            match ev {
                NetEvent::Gossip {
                    topic,
                    message_id,
                    propagation_source,
                    data,
                    ..
                } => gossip.push((message_id, propagation_source, topic, data)),
                other => {
                    self.on_gossip(&mut gossip);
                    self.on_net_event(other);
                }
            }
        }
        self.on_gossip(&mut gossip);
        self.send_acks();
    }

    /// Flushes the store once for every acknowledgement of the turn, then sends them: the
    /// same promise as a flush per acknowledgement (every write they acknowledge was made
    /// before the flush starts), one disk sync instead of one per request. A failed flush
    /// sends none of them (the peers see the requests fail and send again).
    fn send_acks(&mut self) {
        if self.acks.is_empty() {
            return;
        }
        let acks = std::mem::take(&mut self.acks);
        let store = self.service.store().clone();
        let net = self.net.clone();
        self.spawn(async move {
            if let Err(e) = store.flush_async().await {
                tracing::error!(
                    "cannot flush before acknowledging {} requests: {e}",
                    acks.len()
                );
                return;
            }
            for (peer, channel, resp) in acks {
                respond(net.clone(), peer, channel, resp).await;
            }
        });
    }

    /// Judges gossip messages together and queues their verdicts, emptying `gossip`.
    fn on_gossip(&mut self, gossip: &mut Vec<(MessageId, PeerId, Topic, Vec<u8>)>) {
        if gossip.is_empty() {
            return;
        }
        // Guild peers are ed25519 keys; anything else forwarding to us is refused unread.
        let keys: Vec<Option<PublicKey>> = gossip
            .iter()
            .map(|(_, source, _, _)| PublicKey::from_peer_id(source).ok())
            .collect();
        let messages: Vec<guild_service::Gossip<'_>> = gossip
            .iter()
            .zip(&keys)
            .filter_map(|((_, _, topic, data), key)| {
                Some(guild_service::Gossip {
                    from: (*key)?,
                    topic: net_topic(*topic),
                    data,
                })
            })
            .collect();
        let mut verdicts = self
            .service
            .received_gossip_batch(&messages, now_ms())
            .into_iter();
        for ((message_id, source, _, _), key) in gossip.drain(..).zip(keys) {
            let verdict = match key.and_then(|_| verdicts.next()) {
                Some(SvcVerdict::Accept) => Verdict::Accept,
                Some(SvcVerdict::Ignore) => Verdict::Ignore,
                Some(SvcVerdict::Reject) | None => Verdict::Reject,
            };
            self.verdict(message_id, source, verdict);
        }
        self.snapshot_dirty = true;
    }

    /// Hands queued gossip verdicts to the network layer without waiting for it. What does not
    /// fit stays queued for the next turn, up to [`MAX_PENDING_VERDICTS`]; past that the
    /// newest are dropped and counted (gossipsub forgets those messages after a few
    /// heartbeats: not forwarded, nobody penalised).
    fn send_verdicts(&mut self) {
        while let Some(report) = self.verdicts.pop_front() {
            match self.net.try_report_validation(report) {
                Ok(()) => {}
                Err(TryReportError::Full(report)) => {
                    self.verdicts.push_front(report);
                    break;
                }
                Err(TryReportError::Stopped) => {
                    self.verdicts.clear();
                    break;
                }
            }
        }
    }

    /// When the loop next has to wake without any input: the service's requested wake-up, a
    /// verdict retry, a deferred find view; never later than `tick` from now.
    fn next_wake(&self) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let mut at = self.service_wake.min(now + self.tick);
        if !self.verdicts.is_empty() {
            at = at.min(now + VERDICT_RETRY);
        }
        if let Some(due) = self.view_due {
            at = at.min(due);
        }
        at.max(now + MIN_WAKE)
    }

    /// Queues a verdict for [`Runtime::send_verdicts`].
    fn verdict(&mut self, message_id: MessageId, propagation_source: PeerId, verdict: Verdict) {
        if self.verdicts.len() >= MAX_PENDING_VERDICTS {
            self.service.stats().verdicts_dropped.inc();
            return;
        }
        self.verdicts.push_back(ValidationReport {
            message_id,
            propagation_source,
            verdict,
        });
    }

    fn on_net_event(&mut self, ev: NetEvent) {
        let now = now_ms();
        match ev {
            NetEvent::Listening(addr) => {
                tracing::info!("listening on {addr}");
                self.service.listening(addr.to_string());
                self.snapshot.send_modify(|s| s.listen.push(addr));
            }
            NetEvent::PeerConnected {
                peer,
                addr,
                inbound,
                group,
            } => {
                if let Ok(key) = PublicKey::from_peer_id(&peer) {
                    let link = guild_service::Link {
                        inbound,
                        group: group.map(|g| g.to_string()),
                    };
                    self.service
                        .connected(key, Some(addr.to_string()), link, now);
                }
                let since = now / 1000;
                self.snapshot.send_modify(|s| {
                    s.peers.retain(|(p, _, _)| *p != peer);
                    s.peers.push((peer, Some(addr), since));
                    s.links.insert(
                        peer,
                        super::LinkInfo {
                            inbound,
                            rtt_ms: None,
                        },
                    );
                });
            }
            NetEvent::PeerDisconnected { peer } => {
                if let Ok(key) = PublicKey::from_peer_id(&peer) {
                    self.service.disconnected(key, now);
                }
                self.snapshot.send_modify(|s| {
                    s.peers.retain(|(p, _, _)| *p != peer);
                    s.links.remove(&peer);
                });
            }
            NetEvent::PeerIdentified {
                peer, listen_addrs, ..
            } => {
                // guild-net has already disconnected peers of other communities.
                if let Ok(key) = PublicKey::from_peer_id(&peer) {
                    let addrs = listen_addrs.iter().map(|a| a.to_string()).collect();
                    self.service.identified(key, addrs, now);
                }
            }
            NetEvent::InboundRequest {
                peer,
                data,
                channel,
            } => {
                let answered = match PublicKey::from_peer_id(&peer) {
                    Ok(from) => self.service.received_request_offloaded(from, &data, now),
                    Err(_) => Answered::Now(DirectResponse::Error {
                        reason: guild_core::wire::RefusalReason::NotAddressedHere,
                        message: "Guild peers use ed25519 keys".into(),
                    }),
                };
                match answered {
                    Answered::Now(resp) => self.answer(peer, channel, resp),
                    Answered::Later(job) => {
                        self.awaiting.insert(job.id, (peer, channel));
                        self.verify(job);
                    }
                }
                self.snapshot_dirty = true;
            }
            NetEvent::PeerRtt { peer, rtt } => {
                // Read on demand (`peers`): updated without waking the snapshot's watchers.
                self.snapshot.send_if_modified(|s| {
                    if let Some(link) = s.links.get_mut(&peer) {
                        link.rtt_ms = Some(u32::try_from(rtt.as_millis()).unwrap_or(u32::MAX));
                    }
                    false
                });
            }
            NetEvent::DroppedEvents { count } => {
                tracing::warn!("the node fell behind the network: {count} events dropped");
                self.service.stats().dropped_net_events.inc_by(count);
            }
            NetEvent::RelayReservation { relay, addr } => {
                tracing::info!(%relay, "reachable through relay at {addr}");
            }
            NetEvent::HolePunch { peer, ok } => {
                tracing::debug!(%peer, ok, "hole punch finished");
            }
            _ => {}
        }
    }

    /// Performs the service's effects, in order.
    async fn perform(&mut self) {
        // Readers see the new state before any reply about it leaves.
        self.publish_view();
        loop {
            let outbox = self.service.take_outbox();
            if outbox.is_empty() {
                break;
            }
            for io in outbox {
                self.perform_one(io).await;
            }
        }
        self.publish_view();
        let work = self.service.work_in_flight();
        self.snapshot.send_if_modified(|s| {
            let changed = s.work != work;
            s.work = work;
            changed
        });
        if self.snapshot_dirty {
            self.snapshot_dirty = false;
            let c = self.service.counts();
            self.snapshot.send_if_modified(|s| {
                let changed = s.profiles != c.profiles || s.records != c.records;
                s.profiles = c.profiles;
                s.records = c.records;
                changed
            });
        }
    }

    /// Tells the network layer who our known members are, when that changed (at most every
    /// [`KNOWN_PEERS_INTERVAL`]): they keep connection and DHT room strangers cannot take.
    async fn tell_known_peers(&mut self) {
        if self
            .known_told
            .1
            .is_some_and(|at| at.elapsed() < KNOWN_PEERS_INTERVAL)
        {
            return;
        }
        self.known_told.1 = Some(std::time::Instant::now());
        let known = self.service.known_members(guild_net::MAX_KNOWN_PEERS);
        if known != self.known_told.0 {
            let peers: Vec<PeerId> = known.iter().map(PublicKey::to_peer_id).collect();
            self.known_ids = peers.iter().copied().collect();
            let _ = self.net.set_known_peers(peers).await;
            self.known_told.0 = known;
        }
    }

    /// Publishes a new find snapshot if profiles or trust changed since the last one.
    fn publish_view(&mut self) {
        let (index_epoch, trust_epoch) = self.service.epochs();
        self.trust_epoch
            .store(trust_epoch, std::sync::atomic::Ordering::Release);
        let current = self.view.load();
        if current.index_epoch == index_epoch && current.trust_epoch == trust_epoch {
            self.view_due = None;
            return;
        }
        let fresh_trust = current.trust_epoch != trust_epoch
            && self.trust_computed.elapsed() >= TRUST_VIEW_INTERVAL;
        // Trust changed a moment ago: recomputed when the interval has passed.
        let deferred = tokio::time::Instant::from_std(self.trust_computed + TRUST_VIEW_INTERVAL);
        let next = if fresh_trust || current.index_epoch == u64::MAX {
            self.trust_computed = std::time::Instant::now();
            self.service.find_view(&current.skills(), now_ms())
        } else if current.index_epoch != index_epoch {
            self.service.find_view_reusing_trust(&current)
        } else {
            self.view_due = Some(deferred);
            return;
        };
        self.view_due = (next.trust_epoch != trust_epoch).then_some(deferred);
        self.view.store(Arc::new(next));
    }

    async fn perform_one(&mut self, io: Io) {
        match io {
            Io::Publish {
                topic,
                data,
                report,
            } => {
                let ok = match self.net.publish(svc_topic(topic), data).await {
                    Ok(_) => true,
                    // Stored locally; peers get it by sync when they connect.
                    Err(PublishError::InsufficientPeers) => false,
                    Err(e) => {
                        tracing::warn!("cannot publish on {topic:?}: {e}");
                        false
                    }
                };
                if let Some(call) = report {
                    self.service.published(call, ok);
                }
            }
            Io::Request { id, to, request } => self.request(id, to, request),
            Io::Reply {
                call,
                result,
                durable,
            } => {
                let Some(reply) = self.calls.remove(&call) else {
                    return;
                };
                if durable && result.is_ok() {
                    let store = self.service.store().clone();
                    self.spawn(async move {
                        let result = match store.flush_async().await {
                            Ok(_) => result,
                            Err(e) => Err(CallError::internal(format!(
                                "the store could not be flushed: {e}"
                            ))),
                        };
                        let _ = reply.send(result);
                    });
                } else {
                    let _ = reply.send(result);
                }
            }
            Io::Emit(event) => {
                // No subscribers is fine; lagging ones are told by the broadcast channel.
                let _ = self.events.send(event);
            }
            Io::Provide(key) => {
                let net = self.net.clone();
                // Announcing can take a DHT round trip; do not hold up the loop.
                self.spawn(async move {
                    if let Err(e) = net.start_providing(key).await {
                        tracing::debug!("cannot announce a skill on the DHT yet: {e}");
                    }
                });
            }
            Io::StopProviding(key) => {
                let _ = self.net.stop_providing(key).await;
            }
            Io::Disconnect { peer, for_ms } => {
                let peer = peer.to_peer_id();
                tracing::info!(peer = %short(&peer), for_ms, "disconnecting a penalised peer");
                let _ = self
                    .net
                    .disconnect_peer(peer, std::time::Duration::from_millis(for_ms))
                    .await;
            }
            Io::Wakeup(after) => {
                let after = Duration::from(after).clamp(MIN_WAKE, self.tick);
                self.service_wake = tokio::time::Instant::now() + after;
            }
            Io::Standing { peer, trust } => {
                let _ = self.net.set_peer_standing(peer.to_peer_id(), trust).await;
            }
            Io::RememberPeer {
                peer,
                addrs,
                standing,
            } => {
                let id = peer.to_peer_id().to_bytes();
                if let Err(e) =
                    self.service
                        .store()
                        .remember_peer_as(&id, &addrs, now_ms() / 1000, standing)
                {
                    tracing::warn!(%peer, "cannot remember peer addresses: {e}");
                }
            }
            Io::Dial { peer: key, addrs } => {
                let net = self.net.clone();
                let tx = self.inputs_tx.clone();
                let peer = key.to_peer_id();
                self.spawn(async move {
                    for a in addrs {
                        if let Ok(addr) = a.parse() {
                            let _ = net.add_address(peer, addr).await;
                        }
                    }
                    if let Err(e) = net.dial_peer(peer).await {
                        tracing::debug!(%peer, "dial failed: {e}");
                        let reason = e.to_string();
                        let _ = tx.send(Input::DialFailed { peer: key, reason }).await;
                    }
                });
            }
            Io::Prune { peer, elsewhere } => {
                let net = self.net.clone();
                let peer = peer.to_peer_id();
                self.spawn(async move {
                    if !elsewhere.is_empty() {
                        let notice =
                            guild_core::wire::DirectRequest::Elsewhere { peers: elsewhere };
                        if let Ok(bytes) = codec::encode(&notice) {
                            let _ = tokio::time::timeout(
                                PRUNE_NOTICE_TIMEOUT,
                                net.request(peer, bytes),
                            )
                            .await;
                        }
                    }
                    let _ = net.close_peer(peer).await;
                });
            }
        }
    }

    /// Sends a direct request on its own task; the result comes back as an input.
    fn request(&mut self, id: RequestId, to: PublicKey, request: guild_core::wire::DirectRequest) {
        let tx = self.inputs_tx.clone();
        let Ok(permit) = self.inflight.clone().try_acquire_owned() else {
            let result = Err(RequestFailure::Unreachable(
                "too many requests in flight; try again later".into(),
            ));
            self.service.received_response(id, result, now_ms());
            return;
        };
        let net = self.net.clone();
        let connected = self.service.connected_peers().contains_key(&to);
        self.spawn(async move {
            let _permit = permit;
            let peer = to.to_peer_id();
            let attempt = async {
                let bytes = codec::encode(&request)
                    .map_err(|e| RequestFailure::Malformed(e.to_string()))?;
                if !connected {
                    let _ = net.dial_peer(peer).await;
                }
                let answer = net
                    .request(peer, bytes)
                    .await
                    .map_err(|e| RequestFailure::Unreachable(e.to_string()))?;
                codec::decode::<DirectResponse>(&answer, MAX_RESPONSE_BYTES)
                    .map_err(|e| RequestFailure::Malformed(e.to_string()))
            };
            let result = match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await {
                Ok(r) => r,
                Err(_) => Err(RequestFailure::Unreachable("timed out".into())),
            };
            let _ = tx.send(Input::Response { id, result }).await;
        });
    }
}

/// The peer a network event is about (for gossip, the peer that forwarded it).
fn event_peer(ev: &NetEvent) -> Option<&PeerId> {
    match ev {
        NetEvent::PeerConnected { peer, .. }
        | NetEvent::PeerRtt { peer, .. }
        | NetEvent::PeerDisconnected { peer }
        | NetEvent::PeerIdentified { peer, .. }
        | NetEvent::PeerSubscribed { peer, .. }
        | NetEvent::InboundRequest { peer, .. }
        | NetEvent::HolePunch { peer, .. } => Some(peer),
        NetEvent::Gossip {
            propagation_source, ..
        } => Some(propagation_source),
        _ => None,
    }
}

/// Sends the answer to an inbound direct request.
async fn respond(
    net: guild_net::Client,
    peer: PeerId,
    channel: guild_net::ResponseHandle,
    resp: DirectResponse,
) {
    match codec::encode(&resp) {
        Ok(bytes) => {
            if let Err(e) = net.respond(channel, bytes).await {
                tracing::debug!(%peer, "cannot answer: {e}");
            }
        }
        Err(e) => tracing::error!("cannot encode a response: {e}"),
    }
}
