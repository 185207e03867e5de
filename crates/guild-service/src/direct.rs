//! Guild's direct protocol inside the service: answering peers' requests (profile, sync, fetch,
//! deliveries, proofs, invitations) and the requests we make — deliveries with bounded retries,
//! proof fetches, and catch-up sync sessions — each an [`Io::Request`] whose response comes back
//! through [`Service::received_response`].

use super::admission;
use super::io::{secs, Millis, RequestFailure, RequestId, Via};
use super::{sync, CallId, Io, Refusal, Service, PUBLIC_KINDS};
use crate::Storage;
use crate::{LocalDuration, LocalTime};
use guild_core::codec;
use guild_core::control::pull::{Delivery, EntryView};
use guild_core::control::{CallError, Event};
use guild_core::wire::{
    DirectRequest, DirectResponse, Fingerprint, RangeReply, RefusalReason, SyncKey,
    MAX_EXCHANGE_PEERS, MAX_FETCH_BYTES, MAX_FETCH_IDS, MAX_REQUEST_BYTES, MAX_SYNC_RANGES,
};
use guild_core::{AnyRecord, PublicKey, RecordId, RecordKind};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Delivery attempts in total (the first plus retries).
pub const DELIVERY_ATTEMPTS: u32 = 5;
/// Delay before the first retry, milliseconds; doubled each time (2, 4, 8, 16 s).
pub const FIRST_RETRY_DELAY_MS: Millis = 2_000;
/// Most reconciliation rounds per kind in one sync (log16 of 10^9 records is under 8).
const MAX_SYNC_ROUNDS: usize = 12;
/// Most records fetched from one peer in one sync, per kind.
const MAX_SYNC_FETCH: usize = 4096;
/// Most syncs running at once; strangers hold at most
/// [`MAX_STRANGER_SYNCS`](crate::offload::MAX_STRANGER_SYNCS) of them.
pub const MAX_CONCURRENT_SYNCS: usize = 6;
/// Delay before a failed proof fetch is tried again, milliseconds; doubled each time.
pub const PROOF_RETRY_FIRST_MS: Millis = 30_000;
/// Proof fetch rounds per collaboration before giving up (until a new attestation cites it).
pub const MAX_PROOF_ATTEMPTS: u32 = 6;
/// Most collaborations waiting for a proof retry.
const MAX_PROOF_RETRIES: usize = 4096;
/// Most deliveries waiting for a retry; past it the oldest give up.
const MAX_PENDING_DELIVERIES: usize = 4096;

/// How a call waiting on a delivery is answered.
#[derive(Debug, Clone)]
pub(crate) enum ReplyAs {
    /// With a [`Delivery`] (offers, messages).
    Delivery,
    /// With the invitation's entry, or an error saying why it did not arrive.
    Invite(EntryView),
    /// With the introduction as it stands, or an error saying why it did not arrive (a refused
    /// request of ours is dropped).
    Intro(Box<guild_core::control::intro::IntroView>),
}

#[derive(Debug)]
struct PendingDelivery {
    to: PublicKey,
    request: DirectRequest,
    record: RecordId,
    kind: &'static str,
    attempts: u32,
    reply: Option<(CallId, ReplyAs)>,
    last_error: String,
}

#[derive(Debug)]
struct SyncSession {
    peer: PublicKey,
    /// Index into [`PUBLIC_KINDS`].
    kind: usize,
    ranges: Vec<Fingerprint>,
    /// The ranges of the request in flight, to check the replies against.
    asked: Vec<Fingerprint>,
    fetch: Vec<RecordId>,
    rounds: usize,
    learned: usize,
}

#[derive(Debug)]
enum Pending {
    Delivery(u64),
    Proof {
        collab: RecordId,
        rest: Vec<PublicKey>,
    },
    SyncRound(SyncSession),
    SyncFetch {
        session: SyncSession,
        asked: HashSet<RecordId>,
    },
    /// A peer exchange we asked for (the mesh is below its low watermark).
    Peers,
    /// Our join request to an inviter; the call waits for the answer.
    Join(CallId),
}

/// Requests in flight and work waiting on the clock.
#[derive(Debug, Default)]
pub(crate) struct Outstanding {
    next_request: u64,
    next_delivery: u64,
    requests: HashMap<RequestId, Pending>,
    /// Who each request in flight went to: the connection manager keeps these peers.
    peer_of: HashMap<RequestId, PublicKey>,
    deliveries: HashMap<u64, PendingDelivery>,
    /// (due, delivery) of deliveries waiting for a retry.
    retries: BTreeSet<(LocalTime, u64)>,
    syncing: HashSet<PublicKey>,
    proofs: HashSet<RecordId>,
    /// (due, collaboration) of proof fetches to try again, and rounds tried so far.
    proof_retries: BTreeSet<(LocalTime, RecordId)>,
    proof_attempts: HashMap<RecordId, u32>,
}

impl<S: Storage> Service<S> {
    fn send(&mut self, to: PublicKey, request: DirectRequest, pending: Pending) {
        self.net.next_request += 1;
        let id = RequestId(self.net.next_request);
        self.net.requests.insert(id, pending);
        self.net.peer_of.insert(id, to);
        self.outbox.push(Io::Request { id, to, request });
    }

    /// Peers we are in the middle of a request with (the connection manager keeps them).
    pub(crate) fn busy_peers(&self) -> HashSet<PublicKey> {
        let mut busy: HashSet<PublicKey> = self.net.peer_of.values().copied().collect();
        busy.extend(self.net.syncing.iter().copied());
        busy
    }

    /// Sends a join request to an inviter (see `invite.rs`).
    pub(crate) fn send_join(&mut self, call: CallId, inviter: PublicKey, request: DirectRequest) {
        self.send(inviter, request, Pending::Join(call));
    }

    /// Asks a connected peer for other members to connect to.
    pub(crate) fn ask_for_peers(&mut self, peer: PublicKey) {
        self.send(peer, DirectRequest::Peers, Pending::Peers);
    }

    /// When the next delivery or proof retry is due.
    pub(crate) fn next_retry(&self) -> Option<LocalTime> {
        let delivery = self.net.retries.first().map(|(t, _)| *t);
        let proof = self.net.proof_retries.first().map(|(t, _)| *t);
        delivery.into_iter().chain(proof).min()
    }

    /// Delivers a record to a member; retries with backoff while unreachable and reports the
    /// final outcome as a `delivery.outcome` event. A waiting call is answered after the first
    /// attempt.
    pub(crate) fn deliver(
        &mut self,
        to: PublicKey,
        request: DirectRequest,
        record: RecordId,
        kind: &'static str,
        reply: Option<(CallId, ReplyAs)>,
    ) {
        if self.net.deliveries.len() >= MAX_PENDING_DELIVERIES {
            if let Some((_, oldest)) = self.net.retries.pop_first() {
                self.finish_delivery(oldest, false, "too many deliveries pending".into());
            }
        }
        self.net.next_delivery += 1;
        let d = self.net.next_delivery;
        self.net.deliveries.insert(
            d,
            PendingDelivery {
                to,
                request: request.clone(),
                record,
                kind,
                attempts: 1,
                reply,
                last_error: String::new(),
            },
        );
        self.send(to, request, Pending::Delivery(d));
    }

    /// Schedules another round of proof fetching for a collaboration whose proof no source gave.
    fn proof_failed(&mut self, collab: RecordId, now: Millis) {
        let n = self.net.proof_attempts.entry(collab).or_insert(0);
        *n += 1;
        if *n >= MAX_PROOF_ATTEMPTS || self.net.proof_retries.len() >= MAX_PROOF_RETRIES {
            self.net.proof_attempts.remove(&collab);
            return;
        }
        let delay = LocalDuration::from_millis(PROOF_RETRY_FIRST_MS << (*n - 1));
        self.net
            .proof_retries
            .insert((LocalTime::from(now) + delay, collab));
    }

    /// Asks again for proofs whose retry is due, if an attestation still waits for one.
    fn retry_proofs(&mut self, now: Millis) {
        while let Some(&(due, collab)) = self.net.proof_retries.first() {
            if due > LocalTime::from(now) {
                break;
            }
            self.net.proof_retries.pop_first();
            let t = secs(now);
            let waiting: Vec<PublicKey> = self
                .state
                .attestations
                .citing(&collab)
                .filter(|id| {
                    matches!(
                        self.status_of(id, t),
                        Some((
                            guild_core::control::reputation::AttestationStatus::Unbacked,
                            _
                        ))
                    )
                })
                .filter_map(|id| self.state.attestations.get(id).map(|a| a.issuer))
                .collect();
            if waiting.is_empty() {
                self.net.proof_attempts.remove(&collab);
                continue;
            }
            let mut sources: Vec<PublicKey> = Vec::new();
            for w in waiting {
                if !sources.contains(&w) && w != self.me {
                    sources.push(w);
                }
            }
            self.request_proof(collab, sources);
        }
    }

    /// Resends deliveries whose retry is due.
    pub(crate) fn retry_due(&mut self, now: Millis) {
        self.retry_proofs(now);
        while let Some(&(due, d)) = self.net.retries.first() {
            if due > LocalTime::from(now) {
                break;
            }
            self.net.retries.pop_first();
            let Some(p) = self.net.deliveries.get_mut(&d) else {
                continue;
            };
            p.attempts += 1;
            let (to, request) = (p.to, p.request.clone());
            self.send(to, request, Pending::Delivery(d));
        }
    }

    fn delivery_answered(
        &mut self,
        d: u64,
        result: Result<DirectResponse, RequestFailure>,
        now: Millis,
    ) {
        let outcome = match result {
            Ok(DirectResponse::Ack) => Ok(()),
            // The recipient already holds it: delivered.
            Ok(DirectResponse::Error {
                reason: RefusalReason::Duplicate,
                ..
            }) => Ok(()),
            Ok(DirectResponse::Error { reason, message })
                if !matches!(reason, RefusalReason::Busy | RefusalReason::RateLimited) =>
            {
                Err((true, format!("refused by the recipient: {message}")))
            }
            Ok(DirectResponse::Error { message, .. }) => {
                Err((false, format!("recipient busy: {message}")))
            }
            Ok(_) => Err((false, "unexpected answer".to_string())),
            Err(f) => Err((false, f.to_string())),
        };
        let Some(p) = self.net.deliveries.get_mut(&d) else {
            return;
        };
        let reply = p.reply.take();
        let record = p.record;
        let attempts = p.attempts;
        match outcome {
            Ok(()) => {
                if let Some((call, as_)) = reply {
                    self.answer_delivery_call(call, as_, record, Ok(()));
                }
                self.finish_delivery(d, true, String::new());
            }
            Err((true, refused)) => {
                if let Some((call, as_)) = reply {
                    self.answer_delivery_call(call, as_, record, Err((false, refused.clone())));
                }
                self.finish_delivery(d, false, refused);
            }
            Err((false, unreachable)) => {
                p.last_error = unreachable.clone();
                if let Some((call, as_)) = reply {
                    self.answer_delivery_call(call, as_, record, Err((true, unreachable.clone())));
                }
                if attempts >= DELIVERY_ATTEMPTS {
                    self.finish_delivery(d, false, unreachable);
                } else {
                    let delay = LocalDuration::from_millis(FIRST_RETRY_DELAY_MS << (attempts - 1));
                    self.net.retries.insert((LocalTime::from(now) + delay, d));
                }
            }
        }
    }

    fn answer_delivery_call(
        &mut self,
        call: CallId,
        as_: ReplyAs,
        record: RecordId,
        result: Result<(), (bool, String)>,
    ) {
        let answer = match (as_, result) {
            (ReplyAs::Delivery, r) => Ok(guild_core::control::Reply::Delivery(match r {
                Ok(()) => Delivery {
                    id: record,
                    delivered: true,
                    error: None,
                    retrying: false,
                },
                Err((retrying, e)) => Delivery {
                    id: record,
                    delivered: false,
                    error: Some(if retrying {
                        format!("recipient unreachable ({e}); the daemon keeps retrying and reports the outcome as a delivery.outcome event")
                    } else {
                        e
                    }),
                    retrying,
                },
            })),
            (ReplyAs::Invite(view), Ok(())) => Ok(guild_core::control::Reply::Entry(view)),
            (ReplyAs::Invite(_), Err((false, e))) => {
                Err(CallError::invalid_params(format!("the invitation was {e}")))
            }
            (ReplyAs::Invite(_), Err((true, e))) => Err(CallError::peer_unreachable(format!(
                "invitation stored but not delivered yet ({e}); the daemon keeps retrying"
            ))),
            (ReplyAs::Intro(view), Ok(())) => Ok(guild_core::control::Reply::Intro(*view)),
            (ReplyAs::Intro(_), Err((false, e))) => {
                Err(CallError::invalid_params(format!("the introduction was {e}")))
            }
            (ReplyAs::Intro(_), Err((true, e))) => Err(CallError::peer_unreachable(format!(
                "not delivered yet ({e}); the daemon keeps retrying and reports the outcome as a delivery.outcome event"
            ))),
        };
        self.reply(call, answer, true);
    }

    fn finish_delivery(&mut self, d: u64, delivered: bool, error: String) {
        let Some(p) = self.net.deliveries.remove(&d) else {
            return;
        };
        if p.kind == super::intro::KIND {
            self.intro_delivered(p.record, delivered, &error);
        }
        if let Some((call, as_)) = p.reply {
            let r = if delivered {
                Ok(())
            } else {
                Err((false, error.clone()))
            };
            self.answer_delivery_call(call, as_, p.record, r);
        }
        // Only deliveries that needed retries report an outcome: the first attempt's result
        // went to the caller.
        if p.attempts > 1 || (!delivered && p.attempts >= DELIVERY_ATTEMPTS) {
            self.emit(Event::DeliveryOutcome {
                record: p.record,
                kind: p.kind.to_string(),
                to: p.to,
                delivered,
                attempts: p.attempts,
                error: (!delivered).then_some(error),
            });
        }
    }

    /// Fetches the proof behind an attestation: from each source in turn until one answers.
    pub(crate) fn request_proof(&mut self, collab: RecordId, mut sources: Vec<PublicKey>) {
        if sources.is_empty() || !self.net.proofs.insert(collab) {
            return;
        }
        let first = sources.remove(0);
        self.send(
            first,
            DirectRequest::Proof {
                collaboration: collab,
            },
            Pending::Proof {
                collab,
                rest: sources,
            },
        );
    }

    /// Starts a sync with `peer` unless one is running with it or too many are (for a
    /// stranger: too many with strangers).
    pub(crate) fn start_sync(&mut self, peer: PublicKey, _now: Millis) {
        if self.net.syncing.len() >= MAX_CONCURRENT_SYNCS || self.net.syncing.contains(&peer) {
            return;
        }
        if self.tier_of(&peer) == admission::Tier::Stranger
            && self.strangers_syncing() >= crate::offload::MAX_STRANGER_SYNCS
        {
            return;
        }
        self.net.syncing.insert(peer);
        let session = SyncSession {
            peer,
            kind: 0,
            ranges: vec![],
            asked: vec![],
            fetch: vec![],
            rounds: 0,
            learned: 0,
        };
        self.sync_kind(session);
    }

    /// Syncs running with strangers (at most [`MAX_CONCURRENT_SYNCS`] to look at).
    pub(crate) fn strangers_syncing(&mut self) -> usize {
        let standing = self.standing();
        self.net
            .syncing
            .iter()
            .filter(|p| standing.tier(p) == admission::Tier::Stranger)
            .count()
    }

    /// Syncs running.
    pub(crate) fn syncs_running(&self) -> usize {
        self.net.syncing.len()
    }

    /// Begins reconciling the session's current kind (or ends the session).
    fn sync_kind(&mut self, mut session: SyncSession) {
        let Some(kind) = PUBLIC_KINDS.get(session.kind).copied() else {
            self.net.syncing.remove(&session.peer);
            if session.learned > 0 {
                tracing::info!(peer = %session.peer, "sync: learned {} records", session.learned);
            }
            return;
        };
        session.ranges = sync::initial(self.state.records.sync_keys(kind));
        session.fetch.clear();
        session.rounds = 0;
        self.sync_round(session, kind);
    }

    fn sync_round(&mut self, mut session: SyncSession, kind: RecordKind) {
        if session.ranges.is_empty()
            || session.rounds >= MAX_SYNC_ROUNDS
            || session.fetch.len() >= MAX_SYNC_FETCH
        {
            self.sync_fetch(session);
            return;
        }
        session.rounds += 1;
        let n = session.ranges.len().min(MAX_SYNC_RANGES);
        let batch: Vec<Fingerprint> = session.ranges.drain(..n).collect();
        session.asked = batch.clone();
        let peer = session.peer;
        self.send(
            peer,
            DirectRequest::Sync {
                kind,
                ranges: batch,
            },
            Pending::SyncRound(session),
        );
    }

    fn sync_fetch(&mut self, mut session: SyncSession) {
        session.fetch.truncate(MAX_SYNC_FETCH);
        if session.fetch.is_empty() {
            session.kind += 1;
            self.sync_kind(session);
            return;
        }
        let n = session.fetch.len().min(MAX_FETCH_IDS);
        let ids: Vec<RecordId> = session.fetch.drain(..n).collect();
        let asked = ids.iter().copied().collect();
        let peer = session.peer;
        self.send(
            peer,
            DirectRequest::Fetch { ids },
            Pending::SyncFetch { session, asked },
        );
    }

    /// The responses (or failures) of several requests we sent, taken in one loop turn: each
    /// as [`Service::received_response`] would take it, in order, except that the signatures
    /// of every proof among them are checked together. A proof is a collaboration record and
    /// a few entries, so alone its three or so signatures make a batch too small to gain
    /// much; a turn's proofs together make one (see BENCHMARKS.md, "Ingestion per
    /// CPU-second, ninth round"). A proof's checks before its signatures only read the state
    /// to skip records already held, and storing checks that again, so preparing the turn's
    /// proofs first changes no outcome.
    pub fn received_responses(
        &mut self,
        responses: Vec<(RequestId, Result<DirectResponse, RequestFailure>)>,
        now: impl Into<crate::LocalTime>,
    ) {
        let now = self.enter(now);
        let t = secs(now.as_millis());
        enum Taken {
            Proof(RequestId, crate::reputation::PreparedProof),
            Other(RequestId, Result<DirectResponse, RequestFailure>),
        }
        let mut taken = Vec::with_capacity(responses.len());
        let mut checks = Vec::new();
        for (id, result) in responses {
            match (self.net.requests.get(&id), result) {
                (Some(Pending::Proof { collab, .. }), Ok(DirectResponse::Records(records))) => {
                    let mut proof = self.prepare_proof(*collab, records, t);
                    checks.append(&mut proof.checks);
                    taken.push(Taken::Proof(id, proof));
                }
                (_, result) => taken.push(Taken::Other(id, result)),
            }
        }
        let verdicts = guild_core::record::verify_all(&checks);
        let (mut checks, mut verdicts) = (checks.into_iter(), verdicts.into_iter());
        for item in taken {
            match item {
                Taken::Other(id, result) => self.received_response(id, result, now),
                Taken::Proof(id, mut proof) => {
                    let n = proof.kept_len();
                    proof.checks = checks.by_ref().take(n).collect();
                    let signatures = verdicts.by_ref().take(n).collect();
                    self.proof_answered(id, proof, signatures, now.as_millis());
                }
            }
        }
    }

    /// A proof whose signatures were checked (by [`Service::received_responses`]): what
    /// [`Service::received_response`] does with a proof.
    fn proof_answered(
        &mut self,
        id: RequestId,
        proof: crate::reputation::PreparedProof,
        signatures: Vec<Result<(), guild_core::RecordError>>,
        now: Millis,
    ) {
        let collab = proof.collab();
        match self.net.requests.remove(&id) {
            Some(Pending::Proof { collab: asked, .. }) if asked == collab => {}
            // Request ids are never reused, and an answered request leaves the table for good:
            // nothing else answers it.
            Some(other) => {
                self.net.requests.insert(id, other);
                return;
            }
            None => return,
        }
        self.net.peer_of.remove(&id);
        self.net.proofs.remove(&collab);
        self.net.proof_attempts.remove(&collab);
        if self.apply_proof(proof, signatures, secs(now)) {
            self.emit(Event::TrustChanged { collab });
        }
    }

    /// The response (or failure) of a request we sent.
    pub fn received_response(
        &mut self,
        id: RequestId,
        result: Result<DirectResponse, RequestFailure>,
        now: impl Into<crate::LocalTime>,
    ) {
        let now = self.enter(now).as_millis();
        let Some(pending) = self.net.requests.remove(&id) else {
            return;
        };
        let peer = self.net.peer_of.remove(&id);
        match pending {
            Pending::Peers => match (result, peer) {
                (Ok(DirectResponse::Peers(peers)), Some(from)) => {
                    self.suggested(from, peers, now.into());
                }
                (other, _) => tracing::debug!("no peer exchange: {other:?}"),
            },
            Pending::Delivery(d) => self.delivery_answered(d, result, now),
            Pending::Join(call) => match peer {
                Some(inviter) => self.join_answered(call, inviter, result, now),
                None => self.reply(
                    call,
                    Err(CallError::internal("a join answer from nobody")),
                    false,
                ),
            },
            Pending::Proof { collab, rest } => {
                self.net.proofs.remove(&collab);
                match result {
                    Ok(DirectResponse::Records(records)) => {
                        self.net.proof_attempts.remove(&collab);
                        if self.accept_proof(collab, records, secs(now)) {
                            self.emit(Event::TrustChanged { collab });
                        }
                    }
                    other => {
                        tracing::debug!("no proof for collaboration {collab}: {other:?}");
                        if rest.is_empty() {
                            self.proof_failed(collab, now);
                        } else {
                            self.request_proof(collab, rest);
                        }
                    }
                }
            }
            Pending::SyncRound(mut session) => {
                let kind = PUBLIC_KINDS[session.kind];
                match result {
                    Ok(DirectResponse::Sync(replies))
                        if sync::check_replies(&session.asked, &replies).is_ok() =>
                    {
                        let step = sync::next_step(self.state.records.sync_keys(kind), &replies);
                        session.fetch.extend(step.fetch);
                        // A hostile responder cannot make us fingerprint without bound.
                        let room = (MAX_SYNC_RANGES * MAX_SYNC_ROUNDS)
                            .saturating_sub(session.ranges.len());
                        session.ranges.extend(step.ranges.into_iter().take(room));
                        self.sync_round(session, kind);
                    }
                    Ok(DirectResponse::Sync(replies)) => {
                        let why = sync::check_replies(&session.asked, &replies)
                            .err()
                            .unwrap_or_default();
                        tracing::debug!(peer = %session.peer, "sync stopped: bad reply: {why}");
                        self.strike(session.peer, now);
                        self.net.syncing.remove(&session.peer);
                    }
                    other => {
                        tracing::debug!(peer = %session.peer, "sync stopped: {other:?}");
                        self.net.syncing.remove(&session.peer);
                    }
                }
            }
            Pending::SyncFetch { mut session, asked } => match result {
                Ok(DirectResponse::Records(records)) => {
                    let kind = PUBLIC_KINDS[session.kind];
                    let peer = session.peer;
                    // Only what we asked for: a peer cannot push unrelated records this way.
                    let wanted: Vec<_> = records
                        .into_iter()
                        .filter(|r| asked.contains(&r.id()) && r.kind() == kind)
                        .map(|r| (Some(peer), r))
                        .collect();
                    let results = self.received_records(wanted, Via::Sync, now);
                    session.learned += results.iter().filter(|r| r.is_ok()).count();
                    self.sync_fetch(session);
                }
                other => {
                    tracing::debug!(peer = %session.peer, "sync fetch failed: {other:?}");
                    self.net.syncing.remove(&session.peer);
                }
            },
        }
    }

    /// Counts an invalid input against a peer; the strike that crosses the limit disconnects it
    /// and keeps it away for the penalty window.
    pub(crate) fn strike(&mut self, peer: PublicKey, now: Millis) {
        if self.admission.strike(peer, now) && self.admission.disconnect_once(peer, now) {
            tracing::info!(%peer, "disconnecting a peer after repeated invalid input");
            self.stats.penalised_peers.inc();
            self.outbox.push(Io::Disconnect {
                peer,
                for_ms: admission::PENALTY_WINDOW_MS,
            });
        }
    }

    /// Answers an inbound direct request. Malformed or invalid input counts against the peer;
    /// a penalised peer is refused until its strikes age out. An invitation's signatures are
    /// checked here, inline (see [`Service::received_request_offloaded`] for the daemon's way).
    pub fn received_request(
        &mut self,
        from: PublicKey,
        data: &[u8],
        now: impl Into<crate::LocalTime>,
    ) -> DirectResponse {
        let now = self.enter(now);
        match self.take_request(from, data, now.as_millis(), true) {
            crate::Answered::Now(resp) => resp,
            crate::Answered::Later(job) => {
                let verdicts = guild_core::record::verify_all(&job.checks);
                self.verified(job.id, verdicts, now)
            }
        }
    }

    /// [`Service::received_request`], except that an invitation whose cheap checks pass comes
    /// back as a [`crate::SignatureJob`] for a worker, answered by [`Service::verified`] (see
    /// `offload.rs`).
    pub fn received_request_offloaded(
        &mut self,
        from: PublicKey,
        data: &[u8],
        now: impl Into<crate::LocalTime>,
    ) -> crate::Answered {
        let now = self.enter(now).as_millis();
        self.take_request(from, data, now, false)
    }

    /// Refuses a request whose answer is decided before it is decoded (see
    /// [`Service::refuse_undecoded`]), or decodes and answers it; an invitation's signatures
    /// are checked `inline` or handed out as a job.
    fn take_request(
        &mut self,
        from: PublicKey,
        data: &[u8],
        now: Millis,
        inline: bool,
    ) -> crate::Answered {
        if let Some(refusal) = self.refuse_undecoded(from, data, now) {
            return crate::Answered::Now(refusal);
        }
        let req: DirectRequest = match codec::decode(data, MAX_REQUEST_BYTES) {
            Ok(r) => r,
            Err(e) => {
                self.admission.strike(from, now);
                return crate::Answered::Now(
                    Refusal::new(RefusalReason::Malformed, format!("malformed request: {e}"))
                        .to_response(),
                );
            }
        };
        // Asking for a proof we do not hold is an honest question (a forwarder of an attestation
        // is asked too), not a mistake.
        let question = matches!(req, DirectRequest::Proof { .. });
        let result = match req {
            DirectRequest::Invite {
                collaboration,
                invite,
                log,
            } if !inline => {
                let t = secs(now);
                match self.prepare_invite(from, *collaboration, *invite, log, t) {
                    Ok((pending, checks)) => {
                        let tier = self.tier_of(&from);
                        match self.offload.take(pending, checks, tier) {
                            Ok(job) => return crate::Answered::Later(job),
                            Err(crate::offload::NoRoom::Peer) => Err(Refusal::rate_limited(
                                "an invitation from this peer is still being checked",
                            )),
                            Err(crate::offload::NoRoom::Full) => Err(Refusal::new(
                                RefusalReason::Busy,
                                "too many invitations being checked; try again later",
                            )),
                        }
                    }
                    Err(refusal) => Err(refusal),
                }
            }
            req => self.answer(from, req, now),
        };
        crate::Answered::Now(self.answered(from, result, question, now))
    }

    /// Turns an answer into the response; a refusal counts against the peer unless it is a
    /// replay, an honest question, a budget or our own trouble.
    pub(crate) fn answered(
        &mut self,
        from: PublicKey,
        result: Result<DirectResponse, Refusal>,
        question: bool,
        now: Millis,
    ) -> DirectResponse {
        match result {
            Ok(resp) => resp,
            Err(refusal) => {
                // A direct request is aimed at us: anything but a replay or our own trouble is
                // the sender's mistake (a gossip forwarder, by contrast, is only blamed for
                // faults it could have checked: see `is_fault`).
                let honest_miss = question && refusal.reason == RefusalReason::Unknown;
                if !honest_miss
                    && !matches!(
                        refusal.reason,
                        RefusalReason::Duplicate
                            | RefusalReason::Busy
                            | RefusalReason::RateLimited
                            | RefusalReason::StoreFailure
                    )
                {
                    // Answered first; a request after the last strike disconnects it.
                    self.admission.strike(from, now);
                }
                refusal.to_response()
            }
        }
    }

    /// The answer to a request from a peer decided before decoding it: a penalised peer is
    /// refused (and sent away), a message or collaboration entry delivered when the sender's
    /// budget for it is spent is refused from the request's first bytes (its kind), and an
    /// invitation over the sender's budget from its head (before its log is decoded) — each
    /// before any signature is looked at.
    fn refuse_undecoded(
        &mut self,
        from: PublicKey,
        data: &[u8],
        now: Millis,
    ) -> Option<DirectResponse> {
        if self.admission.is_penalised(&from, now) {
            // It was told why eight times; now it goes, and is refused for the window (told to
            // the network layer once per window).
            if self.admission.disconnect_once(from, now) {
                self.outbox.push(Io::Disconnect {
                    peer: from,
                    for_ms: admission::PENALTY_WINDOW_MS,
                });
                self.stats.penalised_peers.inc();
            }
            return Some(
                Refusal::new(
                    RefusalReason::Busy,
                    "refused: too many invalid requests from this peer; try again later",
                )
                .to_response(),
            );
        }
        if let Some((collab, invite)) = guild_core::wire::invite_head(data) {
            let refused = self.refuse_invitation_early(from, &collab, &invite)?;
            self.count_refused_bytes(from, data.len(), now);
            return Some(refused.to_response());
        }
        let kind = guild_core::wire::delivered_kind(data)?;
        let tier = self.tier_of(&from);
        let (spent, budget, what) = match kind {
            RecordKind::Message => (
                !self.admission.messages.has_whole(tier, &from.0, now),
                admission::MESSAGES_PER_HOUR.of(tier),
                "message",
            ),
            RecordKind::CollabEntry => (
                !self.admission.entries.has_whole(tier, &from.0, now),
                admission::ENTRIES_PER_HOUR.of(tier),
                "entry",
            ),
            _ => return None,
        };
        if !spent {
            return None;
        }
        let label = super::intake::kind_label(kind);
        self.stats.received(label, Via::Direct.label());
        self.stats
            .rejected(label, RefusalReason::RateLimited.label());
        self.count_refused_bytes(from, data.len(), now);
        Some(
            Refusal::rate_limited(format!(
                "over this sender's {what} budget ({budget} an hour for a {})",
                tier.label()
            ))
            .to_response(),
        )
    }

    /// Counts a request refused from its first bytes for a spent budget against its sender
    /// (see [`admission::REFUSED_BYTES_PER_WINDOW`]).
    fn count_refused_bytes(&mut self, from: PublicKey, bytes: usize, now: Millis) {
        if self.admission.refused_over_budget(from, bytes, now) {
            tracing::debug!(peer = %from, "kept sending over its budget: sent away");
        }
    }

    fn answer(
        &mut self,
        from: PublicKey,
        req: DirectRequest,
        now: Millis,
    ) -> Result<DirectResponse, Refusal> {
        let t = secs(now);
        match req {
            DirectRequest::GetProfile => Ok(DirectResponse::Profile(
                self.store
                    .get_profile(&self.me)?
                    .map(|p| Box::new(AnyRecord::Profile(p))),
            )),
            DirectRequest::Sync { kind, ranges } => self.answer_sync(from, kind, ranges, now),
            DirectRequest::Fetch { ids } => self.answer_fetch(from, ids, now),
            DirectRequest::Deliver(record) => {
                let record = *record;
                let label = super::intake::kind_label(record.kind());
                self.stats.received(label, Via::Direct.label());
                let r = self.receive_delivery(from, record, t);
                match &r {
                    Ok(()) => self.stats.accepted(label, Via::Direct.label()),
                    Err(e) => self.stats.rejected(label, e.reason.label()),
                }
                r.map(|()| DirectResponse::Ack)
            }
            DirectRequest::Proof { collaboration } => {
                let tier = self.tier_of(&from);
                if !self.admission.proofs.allow(tier, &from.0, now) {
                    return Err(Refusal::rate_limited(format!(
                        "too many proof requests ({} a minute for a {})",
                        admission::PROOFS_PER_MINUTE.of(tier),
                        tier.label()
                    )));
                }
                self.proof_for(&collaboration).map(DirectResponse::Records)
            }
            DirectRequest::Invite {
                collaboration,
                invite,
                log,
            } => self
                .receive_invite(from, *collaboration, *invite, log, t)
                .map(|()| DirectResponse::Ack),
            DirectRequest::Peers => {
                self.allow_exchange(from, now)?;
                let salt = self.random_u64();
                Ok(DirectResponse::Peers(self.mesh.exchange(&from, salt)))
            }
            DirectRequest::Elsewhere { peers } => {
                if peers.len() > MAX_EXCHANGE_PEERS {
                    return Err(Refusal::new(
                        RefusalReason::Oversized,
                        format!(
                            "{} members suggested; at most {MAX_EXCHANGE_PEERS}",
                            peers.len()
                        ),
                    ));
                }
                self.allow_exchange(from, now)?;
                self.mesh.pruned_by(&from, now.into());
                self.suggested(from, peers, now.into());
                Ok(DirectResponse::Ack)
            }
            DirectRequest::Intro(msg) => {
                let label = super::intake::kind_label(RecordKind::Introduction);
                self.stats.received(label, Via::Direct.label());
                let r = self.receive_intro(from, *msg, t);
                match &r {
                    Ok(()) => self.stats.accepted(label, Via::Direct.label()),
                    Err(e) => self.stats.rejected(label, e.reason.label()),
                }
                r.map(|()| DirectResponse::Ack)
            }
            DirectRequest::Join(code) => Ok(self.answer_join(from, *code, now)),
        }
    }

    /// Answers a sync request: budgeted per peer by requests and by the keys walked.
    fn answer_sync(
        &mut self,
        from: PublicKey,
        kind: RecordKind,
        ranges: Vec<Fingerprint>,
        now: Millis,
    ) -> Result<DirectResponse, Refusal> {
        let tier = self.tier_of(&from);
        if !self.admission.sync.allow(tier, &from.0, now) {
            return Err(Refusal::rate_limited(format!(
                "too many sync requests ({} a minute for a {}); slow down",
                admission::SYNC_REQUESTS_PER_MINUTE.of(tier),
                tier.label()
            )));
        }
        if ranges.len() > MAX_SYNC_RANGES {
            return Err(Refusal::new(
                RefusalReason::Oversized,
                format!("at most {MAX_SYNC_RANGES} ranges per request"),
            ));
        }
        if !PUBLIC_KINDS.contains(&kind) {
            return Err(Refusal::not_here(format!("{kind} records are not synced")));
        }
        sync::check_request(&ranges).map_err(|m| Refusal::new(RefusalReason::Malformed, m))?;
        // Work is charged by the keys walked; a peer in debt waits for its refill.
        if !self.admission.sync_keys.has_credit(tier, &from.0, now) {
            return Err(Refusal::rate_limited(format!(
                "this peer's sync work budget is spent ({} keys a minute for a {})",
                admission::SYNC_KEYS_PER_MINUTE.of(tier),
                tier.label()
            )));
        }
        let total = self.state.records.sync_total(kind);
        let items = self.state.records.sync_keys(kind);
        let mut walked = 0usize;
        let replies = ranges
            .iter()
            .map(|f| {
                let whole = f.lo == SyncKey::MIN && f.hi == SyncKey::MAX;
                if whole && f.count == total.count && f.xor == total.xor {
                    return RangeReply::Equal;
                }
                let (r, n) = sync::reply_counted(items, f);
                walked += n;
                r
            })
            .collect();
        self.admission
            .sync_keys
            .charge(tier, &from.0, walked as f64, now);
        Ok(DirectResponse::Sync(replies))
    }

    /// Answers a fetch: public records by id, each once, within the fetch budget and size.
    fn answer_fetch(
        &mut self,
        from: PublicKey,
        ids: Vec<RecordId>,
        now: Millis,
    ) -> Result<DirectResponse, Refusal> {
        if ids.len() > MAX_FETCH_IDS {
            return Err(Refusal::new(
                RefusalReason::Oversized,
                format!("at most {MAX_FETCH_IDS} ids per fetch"),
            ));
        }
        let tier = self.tier_of(&from);
        if !self.admission.fetch_ids.has_credit(tier, &from.0, now) {
            return Err(Refusal::rate_limited(format!(
                "this peer's fetch budget is spent ({} ids a minute for a {})",
                admission::FETCH_IDS_PER_MINUTE.of(tier),
                tier.label()
            )));
        }
        // Each id is answered once, however often it is asked for.
        let mut seen = HashSet::new();
        let ids: Vec<RecordId> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
        self.admission
            .fetch_ids
            .charge(tier, &from.0, ids.len() as f64, now);
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for id in ids {
            let record = if let Some(who) = self.state.records.profile_signer(&id) {
                self.store.get_profile(&who)?.map(AnyRecord::Profile)
            } else if self
                .state
                .records
                .get(&id)
                .is_some_and(|m| PUBLIC_KINDS.contains(&m.kind))
            {
                self.store.get_record(&id)?
            } else {
                None
            };
            let Some(record) = record else { continue };
            bytes += record.encode().map(|b| b.len()).unwrap_or(0);
            if bytes > MAX_FETCH_BYTES {
                break;
            }
            out.push(record);
        }
        Ok(DirectResponse::Records(out))
    }

    /// Peer exchanges (asked or told) per peer, by its tier: cheap to answer, but each one
    /// told fills the address book and each answer costs a little.
    fn allow_exchange(&mut self, from: PublicKey, now: Millis) -> Result<(), Refusal> {
        let tier = self.tier_of(&from);
        if tier == admission::Tier::Stranger
            && !self.admission.stranger_exchanges.allow(b"strangers", now)
        {
            return Err(Refusal::rate_limited(format!(
                "over the peer-exchange budget of all strangers together ({} a minute)",
                admission::STRANGER_EXCHANGES_PER_MINUTE
            )));
        }
        if self.admission.exchanges.allow(tier, &from.0, now) {
            Ok(())
        } else {
            Err(Refusal::rate_limited(format!(
                "over this peer's peer-exchange budget ({} a minute for a {})",
                admission::EXCHANGES_PER_MINUTE.of(tier),
                tier.label()
            )))
        }
    }

    /// A record addressed to us: validated with its type's validation function, then handled by
    /// kind.
    fn receive_delivery(
        &mut self,
        from: PublicKey,
        record: AnyRecord,
        now: guild_core::UnixTime,
    ) -> Result<(), Refusal> {
        if self.state.records.contains(&record.id()) {
            return Err(Refusal::duplicate(format!(
                "{} {} was already received",
                record.kind(),
                record.id()
            )));
        }
        // Messages and entries are delivered by their authors: the peer is authenticated, so
        // its rate budget is checked before the signature and a flood costs no verification.
        if matches!(record, AnyRecord::Message(_) | AnyRecord::CollabEntry(_)) {
            if record.signer() != from {
                return Err(Refusal::unauthorised(format!(
                    "a {} must be delivered by its author",
                    record.kind()
                )));
            }
            let tier = self.tier_of(&from);
            let ms = now.saturating_mul(1000);
            let (allowed, budget, what) = if record.kind() == RecordKind::Message {
                (
                    self.admission.messages.allow(tier, &from.0, ms),
                    admission::MESSAGES_PER_HOUR.of(tier),
                    "message",
                )
            } else {
                (
                    self.admission.entries.allow(tier, &from.0, ms),
                    admission::ENTRIES_PER_HOUR.of(tier),
                    "entry",
                )
            };
            if !allowed {
                return Err(Refusal::rate_limited(format!(
                    "over this sender's {what} budget ({budget} an hour for a {})",
                    tier.label()
                )));
            }
        }
        // An offer's withdrawal comes from the member who made it, about an offer to us that we
        // hold: checked before the signature, so a stranger's stream of them costs a lookup.
        if let AnyRecord::Revocation(r) = &record {
            let target = r.body.target;
            let ours = self
                .state
                .pull
                .offer(&target)
                .is_some_and(|o| o.from == from && o.to == self.me);
            if r.body.target_kind != RecordKind::Offer || r.signer != from || !ours {
                return Err(Refusal::not_here(format!(
                    "only the withdrawal of an offer made to this member, delivered by the member \
                     who made it, is delivered directly ({} {target} is not one)",
                    r.body.target_kind
                )));
            }
        }
        record.validate(now)?;
        match record {
            AnyRecord::Revocation(r) => self.receive_offer_withdrawal(r, now),
            AnyRecord::Offer(o) => self.receive_offer(from, o, now),
            AnyRecord::Message(m) => self.receive_message(from, m, now),
            AnyRecord::Collaboration(c) => self.receive_collaboration(from, c, now),
            AnyRecord::CollabEntry(e) => self.receive_entry(from, e, now),
            other => Err(Refusal::not_here(format!(
                "{} records are not delivered directly",
                other.kind()
            ))),
        }
    }
}
