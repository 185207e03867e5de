//! Work a peer can make us do that need not hold up the daemon loop, and the order it is done
//! in: members before strangers.
//!
//! - **Signatures of an invitation's log** (up to [`guild_core::wire::MAX_INVITE_LOG`] entries,
//!   the largest batch of signatures one request carries). With
//!   [`Service::received_request_offloaded`], an invitation that passes every cheap check
//!   (shape, addressing, counts, bytes, the sender's budget, the membership its log claims)
//!   comes back as a [`SignatureJob`] instead of an answer; the daemon checks the signatures
//!   on a worker thread and hands the verdicts to [`Service::verified`], which finishes the
//!   invitation and gives the answer. [`Service::received_request`] runs the same job inline,
//!   so the service stays deterministic (the simulator and the unit tests use it). Waiting
//!   jobs are bounded: [`MAX_VERIFYING`] in all, [`MAX_STRANGERS_VERIFYING`] for strangers (so
//!   members always have room), one per peer; past that the request is refused `Busy` before
//!   any signature.
//! - **Syncs with strangers who just connected.** A member's sync starts at once; a stranger's
//!   waits in a queue ([`MAX_QUEUED_STRANGER_SYNCS`]) started at [`STRANGER_SYNCS_PER_SECOND`]
//!   (in a burst of [`STRANGER_SYNC_BURST`]), and strangers hold at most
//!   [`MAX_STRANGER_SYNCS`] of the syncs running at once: a flood of new connections costs a
//!   few syncs a second, and a member arriving during it is synced at once. A newcomer alone
//!   is synced at once too (the bucket is full when nothing floods).

use crate::admission::{RateLimiter, Tier};
use crate::io::Millis;
use crate::state::CollabState;
use crate::Service;
use crate::{LocalDuration, LocalTime};
use guild_core::record::SignatureCheck;
use guild_core::wire::DirectResponse;
use guild_core::{CollabEntry, Collaboration, PublicKey, RecordId, Signed, UnixTime};
use std::collections::{HashMap, HashSet, VecDeque};

/// Most signature jobs waiting for their verdicts. Each holds an invitation (at most
/// `MAX_INVITE_LOG_BYTES` of log), so this bounds their memory to about 1 MiB.
pub const MAX_VERIFYING: usize = 8;
/// Most of those from strangers: the rest is kept for members.
pub const MAX_STRANGERS_VERIFYING: usize = 4;
/// Syncs with strangers started per second, after a new connection (all strangers together).
pub const STRANGER_SYNCS_PER_SECOND: u32 = 4;
/// The burst of stranger syncs allowed at once (a node starting up, or a newcomer's first
/// peers).
pub const STRANGER_SYNC_BURST: u32 = 8;
/// Most of the syncs running at once that strangers hold (the rest of
/// [`crate::direct::MAX_CONCURRENT_SYNCS`] is kept for members).
pub const MAX_STRANGER_SYNCS: usize = 4;
/// Most strangers waiting for their sync on connect; past it a newly connected stranger is
/// synced by the round robin instead (`sync_interval`).
pub const MAX_QUEUED_STRANGER_SYNCS: usize = 64;
/// How often a queue of stranger syncs is looked at again.
const STRANGER_SYNC_RETRY: LocalDuration = LocalDuration::from_millis(250);

/// Identifies one [`SignatureJob`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// Signatures to check before a request can be answered (see the module docs).
#[derive(Debug)]
pub struct SignatureJob {
    /// Give it back with the verdicts ([`Service::verified`]).
    pub id: JobId,
    /// The peer whose request this is.
    pub from: PublicKey,
    /// The checks, for [`guild_core::record::verify_all`].
    pub checks: Vec<SignatureCheck>,
}

/// The answer to an inbound request, now or after its signatures are checked.
#[derive(Debug)]
pub enum Answered {
    /// Answered.
    Now(DirectResponse),
    /// To be answered by [`Service::verified`] once the job's signatures are checked.
    Later(SignatureJob),
}

/// Work a node still has to do for its peers ([`Service::work_in_flight`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InFlight {
    /// Signature jobs out on a worker.
    pub signature_jobs: usize,
    /// Syncs running.
    pub syncs: usize,
    /// Strangers waiting for their sync on connect.
    pub syncs_queued: usize,
}

/// An invitation whose cheap checks passed, waiting for its signatures.
#[derive(Debug)]
pub(crate) struct PendingInvite {
    pub from: PublicKey,
    pub collab: Signed<Collaboration>,
    pub invite: Signed<CollabEntry>,
    /// The log with the invite, in log order.
    pub entries: Vec<Signed<CollabEntry>>,
    /// The log replayed: who is a member.
    pub scratch: CollabState,
    /// The offer of ours an `Accept` names (`None` for an `Invite`).
    pub accepted: Option<RecordId>,
    pub now: UnixTime,
}

/// Signature jobs out, and strangers waiting for their sync on connect.
#[derive(Debug)]
pub(crate) struct Offload {
    next_job: u64,
    /// Jobs out: the work they continue, and whether the peer was a stranger.
    jobs: HashMap<JobId, (PendingInvite, bool)>,
    /// Peers with a job out.
    verifying: HashSet<PublicKey>,
    strangers_verifying: usize,
    /// Strangers waiting for their sync on connect, in arrival order.
    stranger_syncs: VecDeque<PublicKey>,
    queued: HashSet<PublicKey>,
    /// Stranger syncs started (one key: all strangers together).
    sync_bucket: RateLimiter,
}

impl Default for Offload {
    fn default() -> Offload {
        Offload {
            next_job: 0,
            jobs: HashMap::new(),
            verifying: HashSet::new(),
            strangers_verifying: 0,
            stranger_syncs: VecDeque::new(),
            queued: HashSet::new(),
            // A bucket of the burst that refills at the rate.
            sync_bucket: RateLimiter::with_window(
                STRANGER_SYNC_BURST,
                STRANGER_SYNC_BURST / STRANGER_SYNCS_PER_SECOND,
            ),
        }
    }
}

/// Why a signature job could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// This peer already has one out.
    Peer,
    /// Strangers' jobs, or all jobs, are at their bound.
    Full,
}

impl Offload {
    /// Takes a job for `pending` if there is room.
    pub fn take(
        &mut self,
        pending: PendingInvite,
        checks: Vec<SignatureCheck>,
        tier: Tier,
    ) -> Result<SignatureJob, NoRoom> {
        let from = pending.from;
        if self.verifying.contains(&from) {
            return Err(NoRoom::Peer);
        }
        let stranger = tier == Tier::Stranger;
        if self.jobs.len() >= MAX_VERIFYING
            || (stranger && self.strangers_verifying >= MAX_STRANGERS_VERIFYING)
        {
            return Err(NoRoom::Full);
        }
        self.next_job += 1;
        let id = JobId(self.next_job);
        self.verifying.insert(from);
        self.strangers_verifying += usize::from(stranger);
        self.jobs.insert(id, (pending, stranger));
        Ok(SignatureJob { id, from, checks })
    }

    /// The work a job continues (`None` for an unknown or finished job).
    pub fn finish(&mut self, id: JobId) -> Option<PendingInvite> {
        let (pending, stranger) = self.jobs.remove(&id)?;
        self.verifying.remove(&pending.from);
        self.strangers_verifying -= usize::from(stranger);
        Some(pending)
    }

    /// Signature jobs out.
    pub fn jobs_out(&self) -> usize {
        self.jobs.len()
    }

    /// Queues a stranger's sync on connect; false if the queue is full (or it is queued).
    pub fn queue_sync(&mut self, peer: PublicKey) -> bool {
        if self.stranger_syncs.len() >= MAX_QUEUED_STRANGER_SYNCS || !self.queued.insert(peer) {
            return false;
        }
        self.stranger_syncs.push_back(peer);
        true
    }

    /// The next queued stranger to sync with, if the rate allows one now.
    pub fn next_sync(&mut self, now: Millis) -> Option<PublicKey> {
        if self.stranger_syncs.is_empty() || !self.sync_bucket.allow(b"strangers", now) {
            return None;
        }
        let peer = self.stranger_syncs.pop_front()?;
        self.queued.remove(&peer);
        Some(peer)
    }

    /// Forgets a queued stranger (it disconnected).
    pub fn unqueue_sync(&mut self, peer: &PublicKey) {
        if self.queued.remove(peer) {
            self.stranger_syncs.retain(|p| p != peer);
        }
    }

    /// Strangers waiting for their sync.
    pub fn queued_syncs(&self) -> usize {
        self.stranger_syncs.len()
    }

    /// When the queue of stranger syncs should be looked at again (`None` when empty).
    pub fn next_due(&self, now: LocalTime) -> Option<LocalTime> {
        if self.stranger_syncs.is_empty() {
            return None;
        }
        let wait = self
            .sync_bucket
            .ready_in(b"strangers", now)
            .max(LocalDuration::from_millis(1));
        Some(now + wait.min(STRANGER_SYNC_RETRY))
    }
}

impl<S: crate::Storage> Service<S> {
    /// The verdicts of a [`SignatureJob`]'s checks, in order (`guild_core::record::verify_all`):
    /// the request it came from is finished and answered. An unknown job (answered already)
    /// gets a refusal.
    pub fn verified(
        &mut self,
        job: JobId,
        verdicts: Vec<Result<(), guild_core::RecordError>>,
        now: impl Into<LocalTime>,
    ) -> DirectResponse {
        let now = self.enter(now).as_millis();
        let Some(pending) = self.offload.finish(job) else {
            return crate::Refusal::new(
                guild_core::wire::RefusalReason::Busy,
                "this request is no longer being checked",
            )
            .to_response();
        };
        let from = pending.from;
        let label = crate::intake::kind_label(guild_core::RecordKind::CollabEntry);
        let result = self
            .finish_invite(pending, &verdicts)
            .map(|()| DirectResponse::Ack);
        if let Err(e) = &result {
            self.stats.rejected(label, e.reason.label());
        }
        self.answered(from, result, false, now)
    }

    /// What a node still has to do for its peers: all zero once it has settled.
    pub fn work_in_flight(&self) -> InFlight {
        InFlight {
            signature_jobs: self.offload.jobs_out(),
            syncs: self.syncs_running(),
            syncs_queued: self.offload.queued_syncs(),
        }
    }

    /// Syncs with a peer that just connected: a member at once, a stranger when the strangers'
    /// rate allows (see the module docs).
    pub(crate) fn sync_on_connect(&mut self, peer: PublicKey, now: Millis) {
        if self.tier_of(&peer) != Tier::Stranger {
            self.start_sync(peer, now);
            return;
        }
        self.offload.queue_sync(peer);
        self.start_stranger_syncs(now);
    }

    /// Starts the queued strangers' syncs the rate and the strangers' share of syncs allow.
    pub(crate) fn start_stranger_syncs(&mut self, now: Millis) {
        while self.offload.queued_syncs() > 0
            && self.strangers_syncing() < MAX_STRANGER_SYNCS
            && self.syncs_running() < crate::direct::MAX_CONCURRENT_SYNCS
        {
            let Some(peer) = self.offload.next_sync(now) else {
                return;
            };
            if self.peers.contains_key(&peer) {
                self.start_sync(peer, now);
            }
        }
    }
}
