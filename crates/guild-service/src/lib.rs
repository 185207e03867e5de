//! The node's domain logic as a sans-IO state machine: the [`Service`].
//!
//! The service owns the node's state — the store and the indexes over it, needs and offers,
//! collaborations and their logs, the status of every attestation, the trust engine, equivocation
//! proofs and per-peer accounting — and every rule that decides over it. It performs no I/O and
//! reads no clock: its inputs are method calls (a gossip message, a direct request or response, a
//! control call, a connection change, a tick), each with `now` passed in; its outputs are the
//! answers those methods return and an outbox of [`Io`] effects (publish, send a request, reply
//! to a call, emit an event, announce a DHT key, dial, and when to wake it next) that the daemon
//! loop performs. Time is a type ([`LocalTime`], [`LocalDuration`]): each input's `now` sets the
//! service's clock in one place, and instead of being polled the service asks to be ticked with
//! [`Io::Wakeup`] (its mesh round, retries, republish, sweep, sync, a queued profile version). The same
//! inputs give the same outputs, which is what lets the unit tests and the simulator run it
//! without sockets (the shape is Radicle heartwood's `Service` and iroh-gossip's `proto`).
//!
//! A service starts by loading every index from the store ([`Service::new`]), or by reading
//! back the derived state it saved at a clean stop ([`Service::save_state`],
//! [`Service::restore`]: the daemon does so while the store is unchanged since, see `saved.rs`).
//!
//! One owner: the daemon loop (`guild_node::node`; in tests and the simulator, the test) is the only caller, so state changes happen in
//! the order inputs arrive — sequence numbers are allocated by the single owner, and no update
//! can be lost between two tasks.
//!
//! ```text
//!  control calls ──┐    ┌────────────── Service ───────────────┐
//!  gossip, requests ┼──▶ │ indexes (state) · rules (intake,     │──▶ outbox: Publish, Request,
//!  responses, ticks ┘    │ authority, reputation, pull, collab) │    Reply, Emit, Provide, Dial
//!                        └──────────────┬───────────────────────┘
//!                                       ▼ store (sled): the durable copy
//! ```

pub mod admission;
pub mod alerts;
mod authority;
mod collab;
mod direct;
pub mod index;
pub mod intake;
pub mod intro;
pub mod invite;
mod io;
pub mod mesh;
pub mod offload;
mod own;
mod pull;
pub mod pulse;
mod refusal;
mod reputation;
mod saved;
mod state;
pub mod stats;
pub mod sync;
mod team;
mod time;
mod view;

pub use intake::{Gossip, Intake};
pub use saved::{fingerprint as saved_state_fingerprint, SavedStateError};
pub use view::FindView;

#[cfg(test)]
mod tests;

pub use authority::{MAX_PENDING_PER_SIGNER, MAX_PENDING_TOTAL};
pub use direct::{DELIVERY_ATTEMPTS, FIRST_RETRY_DELAY_MS};
pub use io::{secs, CallId, Io, Millis, RequestFailure, RequestId, Topic, Verdict, Via};
pub use mesh::{Link, MeshConfig};
pub use offload::{Answered, InFlight, JobId, SignatureJob};
pub use refusal::Refusal;
pub use time::{LocalDuration, LocalTime};

use crate::stats::Stats;
use guild_core::control::{CallError, Event, Reply, ServiceCall};
pub use guild_core::storage::{MemoryStorage, ProfilePut, Standing, Storage, StorageError};
use guild_core::{AnyRecord, Identity, PublicKey, RecordKind};
use guild_trust::{TrustConfig, TrustEngine};
use rand::rngs::StdRng;
use rand::SeedableRng;
use state::State;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// `meta` key of the node's own signed profile.
pub const OWN_PROFILE_KEY: &str = "own_profile";

/// Kinds that spread publicly (gossip and sync). Offers, messages and collaboration logs travel
/// only directly between the people concerned.
pub const PUBLIC_KINDS: [RecordKind; 5] = [
    RecordKind::Profile,
    RecordKind::Need,
    RecordKind::Revocation,
    RecordKind::Attestation,
    RecordKind::Sponsorship,
];

/// Most records removed by one sweep (the rest wait for the next tick), so a tick stays short.
pub const MAX_SWEEP_PER_TICK: usize = 4096;

/// The service's tuning, from the config file (the daemon fills it from its config file).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Lifetime of our published profile, seconds.
    pub profile_lifetime: u64,
    /// How often we re-sign and republish our profile.
    pub republish_interval: LocalDuration,
    /// Most profiles indexed.
    pub max_profiles: usize,
    /// Records accepted from one peer per minute.
    pub records_per_peer_per_minute: u32,
    /// How often we start a sync with one connected peer (round robin).
    pub sync_interval: LocalDuration,
    /// How often expired records are swept.
    pub sweep_interval: LocalDuration,
    /// Sync with every peer as soon as it connects.
    pub sync_on_connect: bool,
    /// The connection manager's watermarks.
    pub mesh: MeshConfig,
}

impl Default for ServiceConfig {
    fn default() -> ServiceConfig {
        ServiceConfig {
            profile_lifetime: 7 * 86_400,
            republish_interval: LocalDuration::from_secs(12 * 3600),
            max_profiles: 100_000,
            records_per_peer_per_minute: 600,
            sync_interval: LocalDuration::from_secs(60),
            sweep_interval: LocalDuration::from_secs(60),
            sync_on_connect: true,
            mesh: MeshConfig::default(),
        }
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store failed while loading the indexes.
    #[error(transparent)]
    Store(#[from] StorageError),
    /// The trust engine's configuration is invalid.
    #[error("trust engine: {0}")]
    Trust(String),
}

/// How far [`Service::new_with_progress`] has got loading the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadStep {
    /// What it is loading: `"profiles"`, a record kind's name, `"trust"` (the pass that
    /// evaluates every attestation and builds the trust engine, after the records) or
    /// `"accounting"` (every record charged to its signer's budget, last).
    pub phase: &'static str,
    /// Stored records read so far (profiles included).
    pub records: u64,
}

/// How often (in records read) the load reports its progress.
pub const LOAD_PROGRESS_EVERY: u64 = 4096;

/// A connected peer.
#[derive(Debug, Clone)]
pub struct PeerState {
    /// The address of the connection.
    pub addr: Option<String>,
    /// When it connected (Unix seconds).
    pub since: guild_core::UnixTime,
}

/// What the protected-members cache was computed at: (trust epoch, our collaborations' epoch, roots).
type ProtectedKey = (u64, usize, usize);

/// Counts for `status` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Indexed profiles (ours included).
    pub profiles: usize,
    /// Other stored records.
    pub records: usize,
    /// Connected peers.
    pub peers: usize,
}

/// The node's domain state machine. See the module docs.
pub struct Service<S> {
    identity: Identity,
    me: PublicKey,
    cfg: ServiceConfig,
    store: S,
    rng: StdRng,
    /// The skill index over profiles.
    profiles: index::Index,
    /// Indexes over every other record.
    state: State,
    /// The community's pulse and members' growth (see `pulse.rs`).
    pulse: pulse::PulseState,
    /// Personalised trust from the attestations that count.
    trust: TrustEngine<PublicKey>,
    /// Budgets, quotas and penalties per peer and per signer, scaled by trust.
    admission: admission::Admission,
    /// Revocations waiting for their targets.
    pending: authority::PendingRevocations,
    /// The time of the input being handled: set once per input, by [`Service::enter`].
    now: LocalTime,
    /// The wake-up last requested ([`Io::Wakeup`]), and whether a tick consumed it since.
    wake: Option<LocalTime>,
    ticked: bool,
    /// Bumped whenever the profile index changes (readers' snapshots compare it).
    index_epoch: u64,
    /// Bumped whenever the trust engine's edges change.
    trust_epoch: u64,
    /// Members whose profiles are never evicted, and the (trust epoch, our collaborations' epoch, roots)
    /// they were computed at.
    protected: Option<(ProtectedKey, guild_core::UnixTime, Arc<HashSet<PublicKey>>)>,
    /// Connected peers.
    peers: BTreeMap<PublicKey, PeerState>,
    /// Outstanding requests, deliveries and syncs.
    net: direct::Outstanding,
    /// The connection manager: watermarks, address book, dials, prunes.
    mesh: mesh::Mesh,
    /// Our own profile: draft, pending versions, announced keys.
    own: own::Own,
    /// Warm introductions we take part in (see `intro.rs`).
    intros: intro::Intros,
    /// Effects waiting for the loop.
    outbox: Vec<Io>,
    /// Counters.
    stats: Stats,
    /// Signature checks out on a worker, and strangers waiting for their sync (`offload.rs`).
    offload: offload::Offload,
    /// Set while [`Service::new`] loads the store (collaborations settle once, at its end).
    loading: bool,
    /// Set while a proof's records are stored (`accept_proof`): its collaboration settles once,
    /// after the last of them, instead of at its first close and again after each later entry
    /// (each time rebuilt from the store).
    storing_proof: bool,
    /// Timers (milliseconds).
    next_republish: LocalTime,
    next_sweep: LocalTime,
    next_sync: LocalTime,
    sync_round: usize,
}

impl<S: Storage> Service<S> {
    /// Opens the service over a store: loads every index once (the only pass over the store),
    /// drops what expired or what no rule lets stand (a stranger's revocation of someone else's
    /// record stored by an earlier version), and builds the trust engine.
    pub fn new(
        identity: Identity,
        store: S,
        cfg: ServiceConfig,
        seed: u64,
        now: impl Into<LocalTime>,
    ) -> Result<Service<S>, ServiceError> {
        Service::new_with_progress(identity, store, cfg, seed, now, &mut |_| {})
    }

    /// [`Service::new`], telling `progress` how far the load has got: at each phase, and every
    /// [`LOAD_PROGRESS_EVERY`] records within one (so a daemon can say so while it starts).
    pub fn new_with_progress(
        identity: Identity,
        store: S,
        cfg: ServiceConfig,
        seed: u64,
        now: impl Into<LocalTime>,
        progress: &mut dyn FnMut(LoadStep),
    ) -> Result<Service<S>, ServiceError> {
        let now = now.into();
        let mut s = Service::empty(identity, store, cfg, seed, now)?;
        s.load(secs(now.as_millis()), progress)?;
        Ok(s)
    }

    /// A service holding nothing yet: [`Service::new`] before its load, or before a saved
    /// state is restored (`saved.rs`).
    fn empty(
        identity: Identity,
        store: S,
        cfg: ServiceConfig,
        seed: u64,
        now_t: LocalTime,
    ) -> Result<Service<S>, ServiceError> {
        let now = now_t.as_millis();
        let trust = TrustEngine::new(TrustConfig::default())
            .map_err(|e| ServiceError::Trust(e.to_string()))?;
        let me = identity.public();
        let mesh_cfg = cfg.mesh.clone();
        let cfg_intervals = (
            cfg.republish_interval,
            cfg.sweep_interval,
            cfg.sync_interval,
        );
        Ok(Service {
            me,
            admission: admission::Admission::new(cfg.records_per_peer_per_minute),
            pending: authority::PendingRevocations::default(),
            now: now_t,
            wake: None,
            ticked: false,
            index_epoch: 0,
            trust_epoch: 0,
            protected: None,
            cfg,
            identity,
            store,
            rng: StdRng::seed_from_u64(seed),
            profiles: index::Index::default(),
            state: State::default(),
            pulse: pulse::PulseState::default(),
            trust,
            peers: BTreeMap::new(),
            net: direct::Outstanding::default(),
            mesh: mesh::Mesh::new(mesh_cfg, now.into()),
            own: own::Own::default(),
            intros: intro::Intros::default(),
            outbox: Vec::new(),
            stats: Stats::default(),
            offload: offload::Offload::default(),
            loading: true,
            storing_proof: false,
            next_republish: now_t + cfg_intervals.0,
            next_sweep: now_t + cfg_intervals.1,
            next_sync: now_t + cfg_intervals.2,
            sync_round: 0,
        })
    }

    /// Starts the node's activity: puts the members remembered from earlier runs and the
    /// configured bootstrap peers in the address book (the first mesh round, at once, dials
    /// them) and (re)publishes our profile.
    pub fn start(
        &mut self,
        now: impl Into<LocalTime>,
        remembered: Vec<(PublicKey, Vec<String>)>,
        bootstrap: Vec<(PublicKey, Vec<String>)>,
    ) {
        let now = self.enter(now).as_millis();
        for (peer, addrs, source) in remembered
            .into_iter()
            .map(|(p, a)| (p, a, mesh::Source::Remembered))
            .chain(
                bootstrap
                    .into_iter()
                    .map(|(p, a)| (p, a, mesh::Source::Bootstrap)),
            )
        {
            if peer != self.me {
                self.mesh.learn(peer, &addrs, source, None, now.into());
            }
        }
        self.mesh.next_round = now.into();
        self.republish(now);
    }

    /// Our public key.
    pub fn public_key(&self) -> PublicKey {
        self.me
    }

    /// The store (read-only use by the loop: flushing, tests).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Counters (shared with `/metrics`).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Replaces the counters with ones registered elsewhere (the daemon's `/metrics`).
    pub fn set_stats(&mut self, stats: Stats) {
        self.stats = stats;
    }

    /// Takes the effects accumulated so far, in order. Ends with an [`Io::Wakeup`] when the
    /// service's next deadline moved since the last one it asked for, or a tick consumed that
    /// one: the caller keeps the latest wake-up and calls [`Service::tick`] then.
    pub fn take_outbox(&mut self) -> Vec<Io> {
        let next = self.next_wakeup();
        if self.ticked || self.wake != Some(next) {
            self.ticked = false;
            self.wake = Some(next);
            self.outbox.push(Io::Wakeup(next.since(self.now)));
        }
        std::mem::take(&mut self.outbox)
    }

    /// Sets the clock to an input's time: the one place the service's "now" changes.
    fn enter(&mut self, now: impl Into<LocalTime>) -> LocalTime {
        self.now = now.into();
        self.now
    }

    /// When the service next needs [`Service::tick`]: the earliest of its timers (mesh round,
    /// republish, sweep, sync round, delivery and proof retries, a queued profile version, a
    /// standing refresh, a stranger's need waiting for an alert), never later than the next
    /// mesh round.
    pub fn next_wakeup(&self) -> LocalTime {
        let mut next = self
            .mesh
            .next_due(self.now)
            .min(self.next_republish)
            .min(self.next_sweep)
            .min(self.next_sync);
        if let Some(t) = self.next_retry() {
            next = next.min(t);
        }
        if let Some(t) = self.own_due() {
            next = next.min(t);
        }
        if let Some(t) = self.standing_due() {
            next = next.min(t);
        }
        if let Some(t) = self.admission.stranger_alerts.next_due(self.now) {
            next = next.min(t);
        }
        if let Some(t) = self.offload.next_due(self.now) {
            next = next.min(t);
        }
        next
    }

    /// Counts for `status`.
    pub fn counts(&self) -> Counts {
        Counts {
            profiles: self.profiles.len(),
            records: self.state.records.len().saturating_sub(self.profiles.len()),
            peers: self.peers.len(),
        }
    }

    /// Connected peers.
    pub fn connected_peers(&self) -> &BTreeMap<PublicKey, PeerState> {
        &self.peers
    }

    /// Whether a member's profile is indexed.
    pub fn knows(&self, who: &PublicKey) -> bool {
        self.profiles.get(who).is_some()
    }

    /// The display name of an indexed member.
    pub fn profile_name(&self, who: &PublicKey) -> Option<String> {
        self.profiles.get(who).map(|e| e.name.clone())
    }

    /// Replaces our profile with a draft (in-process callers); answered like `profile.set`.
    pub fn set_profile(
        &mut self,
        id: CallId,
        draft: guild_core::control::ProfileDraft,
        now: impl Into<LocalTime>,
    ) {
        let now = self.enter(now).as_millis();
        if let Answer::Now(result, durable) = self.profile_set(id, draft, now) {
            self.reply(id, result, durable);
        }
    }

    /// Serves a control call. The answer leaves as [`Io::Reply`] — at once for most calls, later
    /// for those that wait on the network (a delivery's first attempt) or on the clock (a profile
    /// version within the same second as the previous one).
    pub fn call(&mut self, id: CallId, call: ServiceCall, now: impl Into<LocalTime>) {
        let now = self.enter(now).as_millis();
        let result = self.dispatch(id, call, now);
        match result {
            Answer::Now(result, durable) => self.reply(id, result, durable),
            Answer::Later => {}
        }
    }

    fn dispatch(&mut self, id: CallId, call: ServiceCall, now: Millis) -> Answer {
        let t = secs(now);
        // A read answers at once; a write's answer waits for the store to be flushed.
        fn read<T: Into<Reply>>(r: Result<T, CallError>) -> Answer {
            Answer::Now(r.map(Into::into), false)
        }
        fn write<T: Into<Reply>>(r: Result<T, Refusal>) -> Answer {
            Answer::Now(r.map(Into::into).map_err(|e| e.to_call_error()), true)
        }
        // Calls answered once the network has spoken (a publish, a delivery's first attempt).
        let later = |r: Result<(), Refusal>| match r {
            Ok(()) => Answer::Later,
            Err(e) => Answer::Now(Err(e.to_call_error()), false),
        };
        match call {
            ServiceCall::ProfileGet(p) => read(self.profile_get(p.peer)),
            ServiceCall::ProfileSet(p) => self.profile_set(id, p.into_draft(), now),
            ServiceCall::ProfileUpdate(p) => {
                let base = self.own.draft.clone().unwrap_or_default();
                match p.apply(&base) {
                    Ok(draft) => self.profile_set(id, draft, now),
                    Err(e) => Answer::Now(Err(e), false),
                }
            }
            ServiceCall::Ask(p) => {
                let asked = self.ask(p, t).map(|(asked, data)| {
                    self.own.pending_asks.insert(id, asked);
                    self.outbox.push(Io::Publish {
                        topic: Topic::Needs,
                        data,
                        report: Some(id),
                    });
                });
                later(asked)
            }
            ServiceCall::Needs(p) => read(Ok(self.needs(p, t))),
            ServiceCall::NeedWithdraw(p) => write(self.withdraw_need(p, t)),
            ServiceCall::Offer(p) => later(self.offer(id, p, t)),
            ServiceCall::Offers(p) => read(Ok(self.offers(p, t))),
            ServiceCall::OfferWithdraw(p) => later(self.withdraw_offer(id, p, t)),
            ServiceCall::Accept(p) => write(self.accept(p, t)),
            ServiceCall::Team(p) => {
                read(self.team_board(&p.need, t).map_err(|e| e.to_call_error()))
            }
            ServiceCall::TeamRelease(p) => write(self.team_release(&p.offer, t)),
            ServiceCall::TeamStop(p) => write(self.team_stop(&p.need, t)),
            ServiceCall::TeamSuggest(p) => read(
                self.team_suggest(&p.need, now)
                    .map_err(|e| e.to_call_error()),
            ),
            ServiceCall::CollabList => read(Ok(self.collab_list())),
            ServiceCall::CollabShow(p) => {
                read(self.collab_show(&p.collab).map_err(|e| e.to_call_error()))
            }
            ServiceCall::CollabPost(p) => write(self.write_entry(
                None,
                &p.collab,
                guild_core::EntryKind::Post { text: p.text },
                t,
            )),
            ServiceCall::CollabInvite(p) => later(self.collab_invite(id, &p.collab, p.peer, t)),
            ServiceCall::CollabJoin(p) => write(self.collab_join(&p.collab, t)),
            ServiceCall::CollabClose(p) => write(self.collab_close(&p.collab, p.summary, t)),
            ServiceCall::Msg(p) => later(self.msg(id, p, t)),
            ServiceCall::Inbox(p) => read(Ok(self.inbox(p))),
            ServiceCall::Vouch(p) => write(self.vouch(p, t)),
            ServiceCall::Revoke(p) => write(self.revoke(p, t)),
            ServiceCall::Attestations(p) => read(Ok(self.attestations(p, t))),
            ServiceCall::Trust(p) => read(Ok(self.trust_view(p, t))),
            ServiceCall::TrustAdd(p) => write(self.trust_add(p, t)),
            ServiceCall::TrustRemove(p) => write(self.trust_remove(p)),
            ServiceCall::TrustRoots => read(Ok(self.trust_roots())),
            ServiceCall::Pulse(p) => read(Ok(self.pulse_report(&p, t))),
            ServiceCall::Growth(p) => read(Ok(self.growth_report(p.peer))),
            ServiceCall::IntroIntroducers(p) => read(Ok(self.introducers(p.peer))),
            ServiceCall::IntroRequest(p) => match self.intro_request(id, p, t) {
                Ok(()) => Answer::Later,
                Err(e) => Answer::Now(Err(e), false),
            },
            ServiceCall::IntroList => read(Ok(self.intro_list(t))),
            ServiceCall::IntroAnswer(p) => match self.intro_answer(id, p, t) {
                Ok(()) => Answer::Later,
                Err(e) => Answer::Now(Err(e), false),
            },
            ServiceCall::InviteList => read(self.invite_list()),
            ServiceCall::InviteRevoke(p) => Answer::Now(
                self.invite_revoke(&p.id, p.sponsorships, t).map(Into::into),
                true,
            ),
        }
    }

    pub(crate) fn reply(&mut self, call: CallId, result: Result<Reply, CallError>, durable: bool) {
        self.outbox.push(Io::Reply {
            call,
            result,
            durable,
        });
    }

    pub(crate) fn emit(&mut self, event: Event) {
        self.outbox.push(Io::Emit(event));
    }

    /// The loop reports whether a publish that a call waits on reached any peer.
    pub fn published(&mut self, call: CallId, ok: bool) {
        if let Some(mut asked) = self.own.pending_asks.remove(&call) {
            asked.published = ok;
            self.reply(call, Ok(Reply::Asked(asked)), true);
        }
    }

    /// A peer connected (its first connection), as `link` says.
    pub fn connected(
        &mut self,
        peer: PublicKey,
        addr: Option<String>,
        link: Link,
        now: impl Into<LocalTime>,
    ) {
        let now = self.enter(now).as_millis();
        if peer == self.me {
            return;
        }
        // A peer we sent away comes back within its penalty window: sent away again.
        if let Some(left) = self.admission.banned_for(&peer, now) {
            self.outbox.push(Io::Disconnect {
                peer,
                for_ms: left.as_millis(),
            });
            return;
        }
        self.mesh.connected(peer, link, now.into());
        if self.mesh.len() > self.mesh.config().high {
            // Soon, not at once: a flood of connections is pruned a batch per round.
            let soon = self.mesh.soonest_round(now.into());
            self.mesh.next_round = self.mesh.next_round.min(soon);
        }
        self.peers.insert(
            peer,
            PeerState {
                addr: addr.clone(),
                since: secs(now),
            },
        );
        self.stats.peers.set(self.peers.len() as i64);
        self.tell_standing(peer);
        self.emit(Event::PeerConnected {
            peer: peer.to_peer_id().to_string(),
            address: addr,
            direction: None,
        });
        // Gossip only carries what is published while we are connected: catch up at once.
        if self.cfg.sync_on_connect {
            self.sync_on_connect(peer, now);
        }
    }

    /// A peer disconnected.
    pub fn disconnected(&mut self, peer: PublicKey, now: impl Into<LocalTime>) {
        let now = self.enter(now).as_millis();
        self.admission.forget_told(&peer);
        self.offload.unqueue_sync(&peer);
        let jitter = self.random_u64();
        self.mesh.disconnected(&peer, jitter, now.into());
        if self.peers.remove(&peer).is_some() {
            self.stats.peers.set(self.peers.len() as i64);
            self.emit(Event::PeerDisconnected {
                peer: peer.to_peer_id().to_string(),
            });
        }
    }

    /// A peer told us where it listens (identify): remembered for redialling after a restart,
    /// ranked by our standing with it so a flood of new peers cannot push out those we know.
    pub fn identified(&mut self, peer: PublicKey, addrs: Vec<String>, now: impl Into<LocalTime>) {
        let now = self.enter(now).as_millis();
        let standing = match self.tier_of(&peer) {
            admission::Tier::Circle => Standing::Collaborator,
            admission::Tier::Member => Standing::Trusted,
            admission::Tier::Stranger if self.profiles.get(&peer).is_some() => Standing::Known,
            admission::Tier::Stranger => Standing::Stranger,
        };
        self.mesh
            .learn(peer, &addrs, mesh::Source::Identified, None, now.into());
        self.outbox.push(Io::RememberPeer {
            peer,
            addrs,
            standing,
        });
    }

    /// Time passes: republish, sweep, sync round robin, delivery retries, queued profile
    /// versions. Cheap when nothing is due.
    pub fn tick(&mut self, now: impl Into<LocalTime>) {
        let now_t = self.enter(now);
        let now = now_t.as_millis();
        self.ticked = true;
        // Follows trust changes into the peers' gossip scores (cheap while nothing changed).
        self.standing();
        self.stranger_alerts_due(now_t);
        self.own_tick(now);
        self.retry_due(now);
        self.start_stranger_syncs(now);
        if now_t >= self.mesh.next_round {
            self.mesh_round(now_t);
        }
        if now_t >= self.next_republish {
            self.next_republish = now_t + self.cfg.republish_interval;
            self.republish(now);
        }
        if now_t >= self.next_sweep {
            self.next_sweep = now_t + self.cfg.sweep_interval;
            self.sweep(now_t.as_secs());
        }
        if now_t >= self.next_sync {
            self.next_sync = now_t + self.cfg.sync_interval;
            if !self.peers.is_empty() {
                self.sync_round = self.sync_round.wrapping_add(1);
                let i = self.sync_round % self.peers.len();
                if let Some(peer) = self.peers.keys().nth(i).copied() {
                    self.start_sync(peer, now);
                }
            }
        }
    }

    /// Signs a body with our key after checking it with the validation every peer applies.
    pub(crate) fn sign<T: guild_core::RecordBody>(
        &self,
        body: T,
        now: guild_core::UnixTime,
    ) -> Result<guild_core::Signed<T>, Refusal> {
        let signed = guild_core::Signed::sign(body, &self.identity)
            .map_err(|e| Refusal::store(format!("cannot encode: {e}")))?;
        signed.validate(now)?;
        Ok(signed)
    }

    /// 16 random bytes from the service's seeded generator.
    pub(crate) fn random_salt(&mut self) -> [u8; 16] {
        rand::RngExt::random(&mut self.rng)
    }

    /// A random 64-bit nonce from the service's seeded generator.
    pub(crate) fn random_u64(&mut self) -> u64 {
        rand::RngExt::random(&mut self.rng)
    }

    /// Loads every index from the store (the one pass at start).
    fn load(
        &mut self,
        now: guild_core::UnixTime,
        progress: &mut dyn FnMut(LoadStep),
    ) -> Result<(), ServiceError> {
        self.own.load(&self.store)?;
        let mut expired_profiles = Vec::new();
        let store = self.store.clone();
        let mut read = 0u64;
        let mut step = |phase: &'static str, read: u64, every: bool| {
            if !every || read.is_multiple_of(LOAD_PROGRESS_EVERY) {
                progress(LoadStep {
                    phase,
                    records: read,
                });
            }
        };
        step("profiles", read, false);
        for item in store.profiles() {
            read += 1;
            step("profiles", read, true);
            match item {
                Ok(p) if p.body.expires_at > now => self.index_profile(&p),
                Ok(p) => expired_profiles.push(p.signer),
                Err(e) => tracing::warn!("skipping a stored profile: {e}"),
            }
        }
        for who in expired_profiles {
            self.store.remove_profile(&who)?;
        }
        // Targets before what acts on them: collaborations before their entries and the
        // attestations citing them, revocations last so their authority can be checked.
        let order = [
            (RecordKind::Need, "needs"),
            (RecordKind::Offer, "offers"),
            (RecordKind::Collaboration, "collaborations"),
            (RecordKind::CollabEntry, "collaboration entries"),
            (RecordKind::Message, "messages"),
            (RecordKind::Attestation, "attestations"),
            (RecordKind::Sponsorship, "sponsorships"),
            (RecordKind::Revocation, "revocations"),
        ];
        let mut drop = Vec::new();
        let mut attestations = Vec::new();
        for (kind, phase) in order {
            step(phase, read, false);
            // Each with the id it is stored under and its stored size: no record is encoded
            // or hashed again to be indexed.
            for item in store.records_of_kind_keyed(kind) {
                read += 1;
                step(phase, read, true);
                let guild_core::storage::StoredRecord { id, size, record } = match item {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!("skipping a stored record: {e}");
                        continue;
                    }
                };
                if record.expires_at() <= now {
                    drop.push(id);
                    continue;
                }
                if let Err(refusal) = self.index_loaded(id, size, &record) {
                    tracing::info!(
                        "dropping a stored {} that no rule lets stand: {refusal}",
                        record.kind()
                    );
                    drop.push(id);
                } else if kind == RecordKind::Attestation {
                    attestations.push(id);
                }
            }
            if kind == RecordKind::CollabEntry {
                // Every log is in: closed collaborations that are none of ours keep only a
                // summary from now on (before the attestations citing them are indexed).
                self.settle_collabs();
            }
        }
        self.loading = false;
        for id in drop {
            self.store.remove_record(&id)?;
        }
        let equivocators = self
            .store
            .get_meta::<BTreeMap<PublicKey, (guild_core::RecordId, guild_core::RecordId)>>(
                reputation::EQUIVOCATORS_KEY,
            )?
            .unwrap_or_default();
        self.state.attestations.set_equivocators(equivocators);
        // Indexes built one key at a time leave their B-trees' nodes half full.
        self.state.records.compact();
        self.state.attestations.compact();
        self.pulse.compact();
        step("trust", read, false);
        self.count_loaded(&attestations, now);
        std::mem::drop(attestations);
        self.load_roots()?;
        self.load_intros(now)?;
        step("accounting", read, false);
        // Records are accounted once trust is built, each in its signer's tier now; the pools
        // are then checked as they always were (a no-op after a load, kept as the invariant's
        // one place).
        self.admission.invalidate_standing();
        self.account_loaded();
        self.reclassify_pools();
        self.stats.profiles.set(self.profiles.len() as i64);
        Ok(())
    }

    fn index_loaded(
        &mut self,
        id: guild_core::RecordId,
        size: u32,
        record: &AnyRecord,
    ) -> Result<(), Refusal> {
        if let AnyRecord::Revocation(r) = record {
            self.check_revocation_authority(r)?;
        }
        self.index_record_as(id, Some(size), record);
        Ok(())
    }
}

/// When a call is answered.
// Lives for one call, on the stack: boxing the reply would cost an allocation per call for
// nothing (it moves into `Io::Reply` next).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Answer {
    /// Now, with the result and whether it acknowledges a write.
    Now(Result<Reply, CallError>, bool),
    /// Later, by an [`Io::Reply`] the service pushes when it can.
    Later,
}

impl<S: Storage> Service<S> {
    /// Ranked local matches for a query (ourselves excluded), and suggestions for the words
    /// that matched nothing. Trust is this node's, per matched skill.
    pub fn find(
        &mut self,
        q: &index::Query,
        now: impl Into<LocalTime>,
    ) -> (Vec<index::Match>, Vec<(String, Vec<guild_core::SkillTag>)>) {
        let t = self.enter(now).as_secs();
        self.profiles.refresh_vocabulary();
        let me = self.me;
        let mut q1 = q.clone();
        q1.limit += 1; // we may be among the matches
        let trust = std::cell::RefCell::new(reputation::TrustCache::default());
        let engine = std::cell::RefCell::new(&mut self.trust);
        let mut out = self.profiles.find(&q1, t, |who, skill| {
            trust
                .borrow_mut()
                .get(&mut engine.borrow_mut(), me, who, skill, t)
        });
        out.retain(|m| m.peer != me);
        out.truncate(q.limit);
        let suggestions = self
            .profiles
            .unmatched_words(q)
            .into_iter()
            .filter(|(_, s)| !s.is_empty())
            .collect();
        (out, suggestions)
    }
}
