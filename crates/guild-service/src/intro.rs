//! Warm introductions (Briar's introduction protocol: both introducees consent, the introducer
//! relays, a failure aborts cleanly on both sides). See `guild_core::record::introduction` for
//! the three signed steps.
//!
//! - The **requester** A proposes introducers from its trust paths ([`Service::introducers`]:
//!   members A trusts who vouched for the target, or whom the target vouched for, from the
//!   attestation indexes) and sends one of them a signed request.
//! - The **introducer** B holds the request until its owner accepts (B relays it to C and tells A)
//!   or declines (B tells A; nothing stays).
//! - The **target** C holds the relay until its owner accepts or declines and tells both B and A
//!   (B passes C's answer on to A too, so either path suffices).
//! - On acceptance A and C each record "introduced by B" for the other: it puts the other in the
//!   **member** tier for budgets and connection room (see [`crate::admission`]), and shows as
//!   context in `find` and on the member page. It is never a trust edge and changes no score.
//!
//! Bounds: requests and relays are rate-limited per sender by tier; pending ones are held
//! within a count and byte budget per signer and in total (strangers together have a smaller
//! total); everything lapses at the request's expiry (at most 7 days). A declined request
//! leaves nothing but a cooldown on the pair (requester, target) for [`INTRO_COOLDOWN_SECS`],
//! so it cannot be repeated at once.
//!
//! Durability: accepted introductions are kept in the store's meta under [`INTRODUCED_KEY`];
//! every pending step (ours, waiting for our answer, relayed by us) under its own meta key
//! (`introductions.pending.<slot>.<id>`, listed under [`PENDING_INDEX_KEY`]), and the
//! cooldowns and settled ids under [`SETTLED_KEY`]. Each is written in the call or request
//! that changed it — before the request is acknowledged, so a restart loses nothing that was
//! acknowledged — and read back at start. A step received and not written is refused.

use super::admission::{Tier, Tiered, TieredLimiter};
use super::direct::ReplyAs;
use super::{CallId, Io, Refusal, Service};
use crate::Storage;
use guild_core::control::intro::{
    IntroAnswerParams, IntroPart, IntroRequestParams, IntroState, IntroView, Introduced,
    Introducer, Introducers, Introductions, DEFAULT_INTRO_LIFETIME, MAX_PROPOSED_INTRODUCERS,
};
use guild_core::control::{CallError, Event};
use guild_core::record::{
    IntroAnswer, IntroMessage, IntroRelay, IntroRequest, IntroRole, RECORD_VERSION,
};
use guild_core::wire::{DirectRequest, RefusalReason};
use guild_core::{PublicKey, RecordId, Signed, UnixTime};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The delivery label of introduction steps (`delivery.outcome` events).
pub(crate) const KIND: &str = "introduction";
/// `meta` key of the accepted introductions (a list of [`Introduced`]).
pub const INTRODUCED_KEY: &str = "introductions";
/// `meta` key of the list of pending steps kept (each under its own key).
pub const PENDING_INDEX_KEY: &str = "introductions.pending";
/// `meta` key of the cooldowns and settled ids.
pub const SETTLED_KEY: &str = "introductions.settled";
/// Cooldowns written to the store (the ones that end last; the rest lapse at a restart). Keeps
/// [`SETTLED_KEY`] within the store's meta value limit.
const MAX_KEPT_COOLDOWNS: usize = 2048;
/// How long a declined (requester, target) pair cannot be asked again, seconds: one day.
pub const INTRO_COOLDOWN_SECS: u64 = 86_400;
/// Introduction requests one requester may send us per day, by tier.
pub const INTRO_REQUESTS_PER_DAY: Tiered<u32> = Tiered {
    stranger: 2,
    member: 10,
    circle: 40,
};
/// Introductions one introducer may relay to us per day, by tier.
pub const INTRO_RELAYS_PER_DAY: Tiered<u32> = Tiered {
    stranger: 2,
    member: 10,
    circle: 40,
};
/// Requests or relays from one signer waiting for our answer at once, by tier.
pub const PENDING_INTROS_PER_SIGNER: Tiered<usize> = Tiered {
    stranger: 1,
    member: 4,
    circle: 16,
};
/// Bytes of requests or relays from one signer waiting for our answer.
pub const PENDING_INTRO_BYTES_PER_SIGNER: usize = 32 * 1024;
/// Requests and relays from strangers waiting for our answer, all strangers together.
pub const STRANGER_INTROS_WAITING: usize = 8;
/// Requests and relays waiting for our answer, everyone together.
pub const MAX_INTROS_WAITING: usize = 256;
/// Bytes of requests and relays waiting for our answer, everyone together.
pub const MAX_INTRO_WAITING_BYTES: usize = 512 * 1024;
/// Our own requests (and relays we made) in flight at once.
pub const MAX_MY_INTROS: usize = 64;
/// Accepted introductions remembered (the oldest is forgotten past it).
pub const MAX_INTRODUCED: usize = 4096;
/// Finished requests whose late duplicates are still recognised (and not counted as unknown).
const MAX_FINISHED: usize = 1024;
/// Cooldowns held at once (the soonest to end goes first past it).
const MAX_COOLDOWNS: usize = 4096;

/// A request of ours.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Mine {
    request: Signed<IntroRequest>,
    state: IntroState,
    introducer_note: Option<String>,
}

/// Something a peer signed that waits for our answer, and who is accounted for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Waiting<T> {
    step: T,
    signer: PublicKey,
    bytes: usize,
    stranger: bool,
}

/// Which pending map a step is kept in (and part of its store key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Slot {
    Mine,
    ToRelay,
    ToMe,
    Relayed,
}

impl Slot {
    fn key(self, id: &RecordId) -> String {
        let slot = match self {
            Slot::Mine => "mine",
            Slot::ToRelay => "to_relay",
            Slot::ToMe => "to_me",
            Slot::Relayed => "relayed",
        };
        format!("{PENDING_INDEX_KEY}.{slot}.{id}")
    }
}

/// One pending step as the store keeps it (built one at a time to be written or read, never
/// held in a collection, so the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Kept {
    Mine(Mine),
    ToRelay(Waiting<Signed<IntroRequest>>),
    ToMe(Waiting<Signed<IntroRelay>>),
    Relayed(Signed<IntroRelay>, Option<Signed<IntroAnswer>>),
}

/// The cooldowns and settled ids as the store keeps them.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Settled {
    cooldown: Vec<(PublicKey, PublicKey, UnixTime)>,
    finished: Vec<(RecordId, UnixTime)>,
}

/// The introductions this node takes part in.
#[derive(Debug)]
pub(crate) struct Intros {
    mine: BTreeMap<RecordId, Mine>,
    to_relay: BTreeMap<RecordId, Waiting<Signed<IntroRequest>>>,
    to_me: BTreeMap<RecordId, Waiting<Signed<IntroRelay>>>,
    /// Relays we made, until the target answers (to pass its answer on), with the "forwarded"
    /// notice for the requester until the target acknowledged the relay.
    relayed: BTreeMap<RecordId, (Signed<IntroRelay>, Option<Signed<IntroAnswer>>)>,
    /// Members introduced to us: peer → introduction.
    introduced: BTreeMap<PublicKey, Introduced>,
    /// The same as peer → introducer, shared with the find views (rebuilt only when
    /// `introduced` changes, never per view).
    introducers: Arc<HashMap<PublicKey, PublicKey>>,
    /// (requester, target) → until when it may not be asked again.
    cooldown: HashMap<(PublicKey, PublicKey), UnixTime>,
    /// Finished requests → their expiry (late duplicates are answered as duplicates).
    finished: HashMap<RecordId, UnixTime>,
    /// Held per signer: (count, bytes).
    held: HashMap<PublicKey, (usize, usize)>,
    /// Held in total: (count, bytes, strangers' count).
    total: (usize, usize, usize),
    requests: TieredLimiter,
    relays: TieredLimiter,
    /// Where we listen, told to the members we are introduced to.
    pub(crate) listen: Vec<String>,
    /// Pending steps changed since they were last written to the store.
    dirty: BTreeSet<(Slot, RecordId)>,
    /// Cooldowns or settled ids changed since they were last written.
    settled_dirty: bool,
}

impl Default for Intros {
    fn default() -> Intros {
        Intros {
            mine: BTreeMap::new(),
            to_relay: BTreeMap::new(),
            to_me: BTreeMap::new(),
            relayed: BTreeMap::new(),
            introduced: BTreeMap::new(),
            introducers: Arc::default(),
            cooldown: HashMap::new(),
            finished: HashMap::new(),
            held: HashMap::new(),
            total: (0, 0, 0),
            requests: TieredLimiter::new(INTRO_REQUESTS_PER_DAY, 86_400),
            relays: TieredLimiter::new(INTRO_RELAYS_PER_DAY, 86_400),
            dirty: BTreeSet::new(),
            settled_dirty: false,
            listen: Vec::new(),
        }
    }
}

impl Intros {
    /// Who introduced us to `peer`, if anyone.
    pub(crate) fn introduced_by(&self, peer: &PublicKey) -> Option<PublicKey> {
        self.introduced.get(peer).map(|i| i.by)
    }

    /// Members introduced to us.
    pub(crate) fn introduced_peers(&self) -> impl Iterator<Item = &PublicKey> {
        self.introduced.keys()
    }

    /// Peer → introducer, for the find views (shared, not copied).
    pub(crate) fn introducers_map(&self) -> Arc<HashMap<PublicKey, PublicKey>> {
        self.introducers.clone()
    }

    fn introduced_changed(&mut self) {
        self.introducers = Arc::new(self.introduced.iter().map(|(p, i)| (*p, i.by)).collect());
    }

    fn cooling(&self, requester: &PublicKey, target: &PublicKey, now: UnixTime) -> bool {
        self.cooldown
            .get(&(*requester, *target))
            .is_some_and(|until| *until > now)
    }

    fn cool(&mut self, requester: PublicKey, target: PublicKey, now: UnixTime) {
        if self.cooldown.len() >= MAX_COOLDOWNS {
            self.cooldown.retain(|_, until| *until > now);
            if self.cooldown.len() >= MAX_COOLDOWNS {
                if let Some(k) = self
                    .cooldown
                    .iter()
                    .min_by_key(|(k, until)| (**until, **k))
                    .map(|(k, _)| *k)
                {
                    self.cooldown.remove(&k);
                }
            }
        }
        self.cooldown
            .insert((requester, target), now + INTRO_COOLDOWN_SECS);
        self.settled_dirty = true;
    }

    fn finish(&mut self, id: RecordId, expires_at: UnixTime, now: UnixTime) {
        if self.finished.len() >= MAX_FINISHED {
            self.finished.retain(|_, e| *e > now);
            if self.finished.len() >= MAX_FINISHED {
                if let Some(k) = self
                    .finished
                    .iter()
                    .min_by_key(|(k, e)| (**e, **k))
                    .map(|(k, _)| *k)
                {
                    self.finished.remove(&k);
                }
            }
        }
        self.finished.insert(id, expires_at);
        self.settled_dirty = true;
    }

    /// Marks a pending step as changed (written to the store by [`Service::save_intros`]).
    fn touch(&mut self, slot: Slot, id: RecordId) {
        self.dirty.insert((slot, id));
    }

    /// A pending step as the store keeps it; `None` when it is no longer pending.
    fn kept(&self, slot: Slot, id: &RecordId) -> Option<Kept> {
        match slot {
            Slot::Mine => self.mine.get(id).cloned().map(Kept::Mine),
            Slot::ToRelay => self.to_relay.get(id).cloned().map(Kept::ToRelay),
            Slot::ToMe => self.to_me.get(id).cloned().map(Kept::ToMe),
            Slot::Relayed => self
                .relayed
                .get(id)
                .cloned()
                .map(|(r, n)| Kept::Relayed(r, n)),
        }
    }

    /// Every pending step, by slot (the store's list of them).
    fn pending_index(&self) -> Vec<(Slot, RecordId)> {
        let ids = |slot: Slot, ids: Vec<RecordId>| ids.into_iter().map(move |id| (slot, id));
        ids(Slot::Mine, self.mine.keys().copied().collect())
            .chain(ids(Slot::ToRelay, self.to_relay.keys().copied().collect()))
            .chain(ids(Slot::ToMe, self.to_me.keys().copied().collect()))
            .chain(ids(Slot::Relayed, self.relayed.keys().copied().collect()))
            .collect()
    }

    /// The cooldowns (those that end last, within [`MAX_KEPT_COOLDOWNS`]) and settled ids.
    fn settled(&self) -> Settled {
        let mut cooldown: Vec<(PublicKey, PublicKey, UnixTime)> = self
            .cooldown
            .iter()
            .map(|((a, b), until)| (*a, *b, *until))
            .collect();
        cooldown.sort_unstable_by(|x, y| y.2.cmp(&x.2).then((x.0, x.1).cmp(&(y.0, y.1))));
        cooldown.truncate(MAX_KEPT_COOLDOWNS);
        let mut finished: Vec<(RecordId, UnixTime)> =
            self.finished.iter().map(|(id, e)| (*id, *e)).collect();
        finished.sort_unstable();
        Settled { cooldown, finished }
    }

    /// Puts a step read from the store back in its map (start).
    fn restore(&mut self, id: RecordId, kept: Kept) {
        match kept {
            Kept::Mine(m) => {
                self.mine.insert(id, m);
            }
            Kept::ToRelay(w) => {
                if let Some(old) = self.to_relay.insert(id, w.clone()) {
                    self.release(old.signer, old.bytes, old.stranger);
                }
                self.hold(w.signer, w.bytes, w.stranger);
            }
            Kept::ToMe(w) => {
                if let Some(old) = self.to_me.insert(id, w.clone()) {
                    self.release(old.signer, old.bytes, old.stranger);
                }
                self.hold(w.signer, w.bytes, w.stranger);
            }
            Kept::Relayed(r, n) => {
                self.relayed.insert(id, (r, n));
            }
        }
    }

    /// Checks that one more step of `bytes` from `signer` fits, by tier.
    fn admit(&self, signer: &PublicKey, tier: Tier, bytes: usize) -> Result<(), Refusal> {
        let (count, held) = self.held.get(signer).copied().unwrap_or((0, 0));
        let per = PENDING_INTROS_PER_SIGNER.of(tier);
        if count >= per || held + bytes > PENDING_INTRO_BYTES_PER_SIGNER {
            return Err(Refusal::rate_limited(format!(
                "this member already has {count} introductions waiting here (at most {per} for a {}); wait for an answer",
                tier.label()
            )));
        }
        if tier == Tier::Stranger && self.total.2 >= STRANGER_INTROS_WAITING {
            return Err(Refusal::new(
                RefusalReason::Busy,
                format!(
                    "{STRANGER_INTROS_WAITING} introductions from strangers already wait here; try later"
                ),
            ));
        }
        if self.total.0 >= MAX_INTROS_WAITING || self.total.1 + bytes > MAX_INTRO_WAITING_BYTES {
            return Err(Refusal::new(
                RefusalReason::Busy,
                "too many introductions wait here; try later",
            ));
        }
        Ok(())
    }

    fn hold(&mut self, signer: PublicKey, bytes: usize, stranger: bool) {
        let e = self.held.entry(signer).or_insert((0, 0));
        e.0 += 1;
        e.1 += bytes;
        self.total.0 += 1;
        self.total.1 += bytes;
        self.total.2 += usize::from(stranger);
    }

    fn release(&mut self, signer: PublicKey, bytes: usize, stranger: bool) {
        if let Some(e) = self.held.get_mut(&signer) {
            e.0 = e.0.saturating_sub(1);
            e.1 = e.1.saturating_sub(bytes);
            if e.0 == 0 {
                self.held.remove(&signer);
            }
        }
        self.total.0 = self.total.0.saturating_sub(1);
        self.total.1 = self.total.1.saturating_sub(bytes);
        self.total.2 = self.total.2.saturating_sub(usize::from(stranger));
    }

    fn take_to_relay(&mut self, id: &RecordId) -> Option<Signed<IntroRequest>> {
        let w = self.to_relay.remove(id)?;
        self.touch(Slot::ToRelay, *id);
        self.release(w.signer, w.bytes, w.stranger);
        Some(w.step)
    }

    fn take_to_me(&mut self, id: &RecordId) -> Option<Signed<IntroRelay>> {
        let w = self.to_me.remove(id)?;
        self.touch(Slot::ToMe, *id);
        self.release(w.signer, w.bytes, w.stranger);
        Some(w.step)
    }

    /// Pending entries held (for tests and the store-contents checks): (mine, to relay, to
    /// me, relayed).
    pub(crate) fn pending_counts(&self) -> (usize, usize, usize, usize) {
        (
            self.mine.len(),
            self.to_relay.len(),
            self.to_me.len(),
            self.relayed.len(),
        )
    }
}

fn kept_slot(k: &Kept) -> Slot {
    match k {
        Kept::Mine(_) => Slot::Mine,
        Kept::ToRelay(_) => Slot::ToRelay,
        Kept::ToMe(_) => Slot::ToMe,
        Kept::Relayed(..) => Slot::Relayed,
    }
}

fn encoded_len<T: guild_core::RecordBody>(s: &Signed<T>) -> usize {
    s.encode().map_or(usize::MAX / 4, |b| b.len())
}

fn view(
    r: &Signed<IntroRequest>,
    state: IntroState,
    role: IntroPart,
    introducer_note: Option<String>,
) -> IntroView {
    IntroView {
        id: r.id(),
        requester: r.body.issuer,
        introducer: r.body.introducer,
        target: r.body.target,
        note: r.body.note.clone(),
        introducer_note,
        need: r.body.need,
        state,
        role,
        issued_at: r.body.issued_at,
        expires_at: r.body.expires_at,
    }
}

fn invalid(m: impl Into<String>) -> CallError {
    CallError::invalid_params(m)
}

impl<S: Storage> Service<S> {
    /// The network layer listens on a new address (told to members we are introduced to).
    pub fn listening(&mut self, addr: String) {
        let l = &mut self.intros.listen;
        if !l.contains(&addr) && l.len() < guild_core::record::MAX_INTRO_ADDRS {
            l.push(addr);
        }
    }

    /// Who introduced us to `peer`, if anyone (context for the member page and `find`).
    pub fn introduced_by(&self, peer: &PublicKey) -> Option<PublicKey> {
        self.intros.introduced_by(peer)
    }

    /// Counts of pending introductions held in memory: (mine, to relay, to me, relayed).
    pub fn pending_intros(&self) -> (usize, usize, usize, usize) {
        self.intros.pending_counts()
    }

    /// Loads the accepted introductions, the pending steps, the cooldowns and the settled ids
    /// (start). A pending step or the settled list that does not read is dropped with a warning
    /// (and its key removed at the next write), never a reason not to start.
    pub(crate) fn load_intros(&mut self, now: UnixTime) -> Result<(), crate::StorageError> {
        let stored: Vec<Introduced> = self.store.get_meta(INTRODUCED_KEY)?.unwrap_or_default();
        for i in stored.into_iter().take(MAX_INTRODUCED) {
            self.intros.introduced.insert(i.peer, i);
        }
        self.intros.introduced_changed();
        let index: Vec<(Slot, RecordId)> = match self.store.get_meta(PENDING_INDEX_KEY) {
            Ok(index) => index.unwrap_or_default(),
            Err(e) => {
                tracing::warn!("pending introductions do not read, dropped: {e}");
                Vec::new()
            }
        };
        for (slot, id) in index {
            match self.store.get_meta::<Kept>(&slot.key(&id)) {
                Ok(Some(kept)) if kept_slot(&kept) == slot => self.intros.restore(id, kept),
                Ok(_) => self.intros.touch(slot, id),
                Err(e) => {
                    tracing::warn!("pending introduction {id} does not read, dropped: {e}");
                    self.intros.touch(slot, id);
                }
            }
        }
        match self.store.get_meta::<Settled>(SETTLED_KEY) {
            Ok(settled) => {
                let settled = settled.unwrap_or_default();
                let i = &mut self.intros;
                for (a, b, until) in settled.cooldown.into_iter().take(MAX_COOLDOWNS) {
                    i.cooldown.insert((a, b), until);
                }
                for (id, e) in settled.finished.into_iter().take(MAX_FINISHED) {
                    i.finished.insert(id, e);
                }
            }
            Err(e) => tracing::warn!("introduction cooldowns do not read, dropped: {e}"),
        }
        // Lapsed while we were down: dropped now, and the store follows.
        self.sweep_intros(now);
        if let Err(e) = self.save_intros() {
            tracing::warn!("cannot tidy the pending introductions: {e}");
        }
        // Relays the target had not acknowledged when we stopped are delivered again (a target
        // that holds one answers `Duplicate`, which counts as delivered); one that still cannot
        // be delivered aborts as before.
        let unconfirmed: Vec<Signed<IntroRelay>> = self
            .intros
            .relayed
            .values()
            .filter(|(_, notice)| notice.is_some())
            .map(|(relay, _)| relay.clone())
            .collect();
        for relay in unconfirmed {
            let (to, rid) = (relay.body.request.body.target, relay.id());
            self.deliver(
                to,
                DirectRequest::Intro(Box::new(IntroMessage::Relay(relay))),
                rid,
                KIND,
                None,
            );
        }
        Ok(())
    }

    /// Writes the pending steps, cooldowns and settled ids changed since the last write. On a
    /// failure the changes stay marked and are written by the next call.
    pub(crate) fn save_intros(&mut self) -> Result<(), crate::StorageError> {
        if self.intros.dirty.is_empty() && !self.intros.settled_dirty {
            return Ok(());
        }
        let dirty = std::mem::take(&mut self.intros.dirty);
        let written = self.write_intros(&dirty);
        if written.is_err() {
            self.intros.dirty.extend(dirty);
        }
        written
    }

    fn write_intros(
        &mut self,
        dirty: &BTreeSet<(Slot, RecordId)>,
    ) -> Result<(), crate::StorageError> {
        for (slot, id) in dirty {
            match self.intros.kept(*slot, id) {
                Some(kept) => self.store.put_meta(&slot.key(id), &kept)?,
                None => self.store.remove_meta(&slot.key(id))?,
            }
        }
        if !dirty.is_empty() {
            self.store
                .put_meta(PENDING_INDEX_KEY, &self.intros.pending_index())?;
        }
        if self.intros.settled_dirty {
            self.store.put_meta(SETTLED_KEY, &self.intros.settled())?;
            self.intros.settled_dirty = false;
        }
        Ok(())
    }

    /// [`Service::save_intros`] where the change is already answered for (a failure is logged
    /// and retried at the next write).
    fn save_intros_or_warn(&mut self) {
        if let Err(e) = self.save_intros() {
            tracing::warn!("cannot write pending introductions (retried later): {e}");
        }
    }

    fn save_introduced(&mut self) -> Result<(), Refusal> {
        let all: Vec<&Introduced> = self.intros.introduced.values().collect();
        self.store.put_meta(INTRODUCED_KEY, &all)?;
        Ok(())
    }

    /// Records "introduced by `by`" for `peer`: the member tier from now on, never trust.
    fn record_introduced(
        &mut self,
        peer: PublicKey,
        by: PublicKey,
        request: RecordId,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        if self.intros.introduced.len() >= MAX_INTRODUCED
            && !self.intros.introduced.contains_key(&peer)
        {
            if let Some(oldest) = self
                .intros
                .introduced
                .values()
                .min_by_key(|i| (i.at, i.peer))
                .map(|i| i.peer)
            {
                self.intros.introduced.remove(&oldest);
            }
        }
        self.intros.introduced.insert(
            peer,
            Introduced {
                peer,
                by,
                at: now,
                request,
            },
        );
        self.intros.introduced_changed();
        // A new find view carries it.
        self.index_epoch += 1;
        self.admission.invalidate_standing();
        self.save_introduced()
    }

    /// `intro.introducers`: members we trust who vouched for `target` or whom `target` vouched
    /// for (counted attestations only: each rests on a collaboration both took part in), best
    /// first. From the attestation indexes by subject and by issuer: no scan.
    pub(crate) fn introducers(&mut self, target: PublicKey) -> Introducers {
        let s = self.standing();
        let mut found: BTreeMap<PublicKey, Vec<String>> = BTreeMap::new();
        let mut note = |who: PublicKey, why: String| {
            let reasons = found.entry(who).or_default();
            if reasons.len() < 4 && !reasons.contains(&why) {
                reasons.push(why);
            }
        };
        for id in self.state.attestations.about(&target) {
            if !self.state.attestations.is_counted(id) {
                continue;
            }
            if let Some(a) = self.state.attestations.get(id) {
                note(
                    a.issuer,
                    format!("vouched for them in {} ({:+})", a.skill, a.score),
                );
            }
        }
        for id in self.state.attestations.by(&target) {
            if !self.state.attestations.is_counted(id) {
                continue;
            }
            if let Some(a) = self.state.attestations.get(id) {
                note(
                    a.subject,
                    format!("they vouched for them in {} ({:+})", a.skill, a.score),
                );
            }
        }
        let roots: std::collections::HashSet<PublicKey> =
            self.state.roots.keys().map(|(p, _)| *p).collect();
        let mut out: Vec<Introducer> = found
            .into_iter()
            .filter(|(who, _)| *who != self.me && *who != target)
            .filter_map(|(who, mut reasons)| {
                let trust = s.trust(&who);
                if trust <= 0.0 {
                    return None;
                }
                let first = if roots.contains(&who) {
                    "one of your trust roots".to_string()
                } else {
                    format!("you trust them ({trust:.2})")
                };
                reasons.insert(0, first);
                Some(Introducer {
                    peer: who,
                    name: self.profile_name(&who),
                    trust,
                    connected: self.peers.contains_key(&who),
                    reasons,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.trust
                .total_cmp(&a.trust)
                .then(b.reasons.len().cmp(&a.reasons.len()))
                .then(a.peer.cmp(&b.peer))
        });
        out.truncate(MAX_PROPOSED_INTRODUCERS);
        Introducers {
            peer: target,
            introducers: out,
        }
    }

    /// `intro.request`: signs a request and sends it to the introducer; answered once the
    /// introducer acknowledged it (or why not).
    pub(crate) fn intro_request(
        &mut self,
        call: CallId,
        p: IntroRequestParams,
        now: UnixTime,
    ) -> Result<(), CallError> {
        if p.peer == self.me || p.via == self.me {
            return Err(invalid(
                "you cannot introduce yourself or be introduced to yourself",
            ));
        }
        if p.peer == p.via {
            return Err(invalid(
                "the introducer cannot be the member you want to meet",
            ));
        }
        if self.intros.introduced.contains_key(&p.peer) {
            return Err(invalid("you were already introduced to this member"));
        }
        if self.intros.cooling(&self.me, &p.peer, now) {
            return Err(CallError::unavailable(format!(
                "an introduction to this member was declined recently; ask again after {} hours",
                INTRO_COOLDOWN_SECS / 3600
            )));
        }
        if self
            .intros
            .mine
            .values()
            .any(|m| m.request.body.target == p.peer && m.request.body.expires_at > now)
        {
            return Err(invalid(
                "you already asked for an introduction to this member; wait for the answer",
            ));
        }
        if self.intros.mine.len() >= MAX_MY_INTROS {
            return Err(CallError::unavailable(format!(
                "{MAX_MY_INTROS} of your introduction requests are in flight; wait for answers"
            )));
        }
        let nonce = self.random_u64();
        let request = self
            .sign(
                IntroRequest {
                    version: RECORD_VERSION,
                    issuer: self.me,
                    introducer: p.via,
                    target: p.peer,
                    issued_at: now,
                    expires_at: now + p.expires_in.unwrap_or(DEFAULT_INTRO_LIFETIME),
                    nonce,
                    note: p.note,
                    need: p.need,
                    addrs: self.intros.listen.clone(),
                },
                now,
            )
            .map_err(|e| e.to_call_error())?;
        let id = request.id();
        let v = view(
            &request,
            IntroState::AwaitingIntroducer,
            IntroPart::Requester,
            None,
        );
        self.intros.mine.insert(
            id,
            Mine {
                request: request.clone(),
                state: IntroState::AwaitingIntroducer,
                introducer_note: None,
            },
        );
        self.intros.touch(Slot::Mine, id);
        if let Err(e) = self.save_intros() {
            self.intros.mine.remove(&id);
            self.save_intros_or_warn();
            return Err(CallError::internal(format!(
                "cannot keep the request, nothing was sent: {e}"
            )));
        }
        self.deliver(
            p.via,
            DirectRequest::Intro(Box::new(IntroMessage::Request(request))),
            id,
            KIND,
            Some((call, ReplyAs::Intro(Box::new(v)))),
        );
        Ok(())
    }

    /// The final outcome of delivering one of our steps. A request of ours that could not be
    /// delivered is dropped. A relay the target acknowledged lets the requester know it was
    /// forwarded; one that could not be delivered is dropped and the requester told so, signed
    /// like a decline: a failure aborts cleanly on every side.
    pub(crate) fn intro_delivered(&mut self, step: RecordId, delivered: bool, error: &str) {
        self.intro_step_delivered(step, delivered, error);
        self.save_intros_or_warn();
    }

    fn intro_step_delivered(&mut self, step: RecordId, delivered: bool, error: &str) {
        if !delivered && self.intros.mine.remove(&step).is_some() {
            self.intros.touch(Slot::Mine, step);
            return;
        }
        let Some(id) = self
            .intros
            .relayed
            .iter()
            .find(|(_, (relay, _))| relay.id() == step)
            .map(|(id, _)| *id)
        else {
            return;
        };
        let now = self.now.as_secs();
        if delivered {
            let notice = self.intros.relayed.get_mut(&id).and_then(|(_, n)| n.take());
            self.intros.touch(Slot::Relayed, id);
            if let Some(notice) = notice {
                let (to, nid) = (notice.body.requester, notice.id());
                self.deliver(
                    to,
                    DirectRequest::Intro(Box::new(IntroMessage::Answer(notice))),
                    nid,
                    KIND,
                    None,
                );
            }
            return;
        }
        let Some((relay, _)) = self.intros.relayed.remove(&id) else {
            return;
        };
        self.intros.touch(Slot::Relayed, id);
        let r = relay.body.request.body.clone();
        self.intros.finish(id, r.expires_at, now);
        let note = format!(
            "could not pass the introduction on: {}",
            error.chars().take(200).collect::<String>()
        );
        let body = self.answer_body(&r, id, IntroRole::Introducer, false, note, now);
        match self.sign(body, now) {
            Ok(decline) => {
                let did = decline.id();
                self.deliver(
                    r.issuer,
                    DirectRequest::Intro(Box::new(IntroMessage::Answer(decline))),
                    did,
                    KIND,
                    None,
                );
            }
            Err(e) => tracing::warn!("cannot sign an introduction's failure notice: {e}"),
        }
    }

    /// `intro.list`.
    pub(crate) fn intro_list(&mut self, now: UnixTime) -> Introductions {
        self.sweep_intros(now);
        let i = &self.intros;
        Introductions {
            to_relay: i
                .to_relay
                .values()
                .map(|w| view(&w.step, IntroState::AwaitingMe, IntroPart::Introducer, None))
                .collect(),
            to_me: i
                .to_me
                .values()
                .map(|w| {
                    view(
                        &w.step.body.request,
                        IntroState::AwaitingMe,
                        IntroPart::Target,
                        Some(w.step.body.note.clone()),
                    )
                })
                .collect(),
            mine: i
                .mine
                .values()
                .map(|m| {
                    view(
                        &m.request,
                        m.state,
                        IntroPart::Requester,
                        m.introducer_note.clone(),
                    )
                })
                .collect(),
            relayed: i
                .relayed
                .values()
                .map(|(r, _)| {
                    view(
                        &r.body.request,
                        IntroState::Forwarded,
                        IntroPart::Introducer,
                        Some(r.body.note.clone()),
                    )
                })
                .collect(),
            introduced: i.introduced.values().cloned().collect(),
        }
    }

    fn answer_body(
        &self,
        r: &IntroRequest,
        id: RecordId,
        role: IntroRole,
        accept: bool,
        note: String,
        now: UnixTime,
    ) -> IntroAnswer {
        IntroAnswer {
            version: RECORD_VERSION,
            issuer: self.me,
            issued_at: now,
            expires_at: r.expires_at,
            request: id,
            requester: r.issuer,
            introducer: r.introducer,
            target: r.target,
            role,
            accept,
            note,
            addrs: if accept && role == IntroRole::Target {
                self.intros.listen.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// `intro.answer`: as introducer, relay (accept) or decline a request; as the member
    /// introduced, accept or decline an introduction.
    pub(crate) fn intro_answer(
        &mut self,
        call: CallId,
        p: IntroAnswerParams,
        now: UnixTime,
    ) -> Result<(), CallError> {
        self.sweep_intros(now);
        let result = if let Some(request) = self.intros.take_to_relay(&p.id) {
            self.answer_as_introducer(call, request, p, now)
        } else if let Some(relay) = self.intros.take_to_me(&p.id) {
            self.answer_as_target(call, relay, p, now)
        } else {
            Err(CallError::not_found(format!(
                "no introduction {} waits for your answer (see `intro.list`)",
                p.id
            )))
        };
        self.save_intros_or_warn();
        result
    }

    fn answer_as_introducer(
        &mut self,
        call: CallId,
        request: Signed<IntroRequest>,
        p: IntroAnswerParams,
        now: UnixTime,
    ) -> Result<(), CallError> {
        let id = request.id();
        let r = request.body.clone();
        let answer = self
            .sign(
                self.answer_body(&r, id, IntroRole::Introducer, p.accept, p.note.clone(), now),
                now,
            )
            .map_err(|e| e.to_call_error())?;
        if !p.accept {
            let answer_id = answer.id();
            self.intros.cool(r.issuer, r.target, now);
            self.intros.finish(id, r.expires_at, now);
            let v = view(
                &request,
                IntroState::AwaitingMe,
                IntroPart::Introducer,
                None,
            );
            self.deliver(
                r.issuer,
                DirectRequest::Intro(Box::new(IntroMessage::Answer(answer))),
                answer_id,
                KIND,
                Some((call, ReplyAs::Intro(Box::new(v)))),
            );
            return Ok(());
        }
        let relay = self
            .sign(
                IntroRelay {
                    version: RECORD_VERSION,
                    issuer: self.me,
                    issued_at: now,
                    expires_at: r.expires_at,
                    request: request.clone(),
                    note: p.note.clone(),
                },
                now,
            )
            .map_err(|e| e.to_call_error())?;
        let relay_id = relay.id();
        // The requester hears "forwarded" once the target acknowledged the relay.
        self.intros
            .relayed
            .insert(id, (relay.clone(), Some(answer)));
        self.intros.touch(Slot::Relayed, id);
        let v = view(
            &request,
            IntroState::Forwarded,
            IntroPart::Introducer,
            Some(p.note),
        );
        self.deliver(
            r.target,
            DirectRequest::Intro(Box::new(IntroMessage::Relay(relay))),
            relay_id,
            KIND,
            Some((call, ReplyAs::Intro(Box::new(v)))),
        );
        Ok(())
    }

    fn answer_as_target(
        &mut self,
        call: CallId,
        relay: Signed<IntroRelay>,
        p: IntroAnswerParams,
        now: UnixTime,
    ) -> Result<(), CallError> {
        let request = relay.body.request.clone();
        let id = request.id();
        let r = request.body.clone();
        let answer = self
            .sign(
                self.answer_body(&r, id, IntroRole::Target, p.accept, p.note, now),
                now,
            )
            .map_err(|e| e.to_call_error())?;
        let answer_id = answer.id();
        let msg = DirectRequest::Intro(Box::new(IntroMessage::Answer(answer)));
        self.intros.finish(id, r.expires_at, now);
        let state = if p.accept {
            self.record_introduced(r.issuer, r.introducer, id, now)
                .map_err(|e| e.to_call_error())?;
            // Dial the requester where it said it listens, so the answer can go straight to it.
            if !r.addrs.is_empty() {
                self.outbox.push(Io::Dial {
                    peer: r.issuer,
                    addrs: r.addrs.clone(),
                });
            }
            IntroState::Accepted
        } else {
            self.intros.cool(r.issuer, r.target, now);
            IntroState::AwaitingMe
        };
        let v = view(&request, state, IntroPart::Target, Some(relay.body.note));
        // To the introducer (the call waits on it) and straight to the requester: either path
        // reaches the requester, as the introducer passes the answer on.
        self.deliver(
            r.introducer,
            msg.clone(),
            answer_id,
            KIND,
            Some((call, ReplyAs::Intro(Box::new(v)))),
        );
        self.deliver(r.issuer, msg, answer_id, KIND, None);
        Ok(())
    }

    /// One step of an introduction delivered to us.
    pub(crate) fn receive_intro(
        &mut self,
        from: PublicKey,
        msg: IntroMessage,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let id = msg.request_id();
        if self.intros.finished.get(&id).is_some_and(|e| *e > now) {
            return Err(Refusal::duplicate(format!(
                "introduction {id} is already settled here"
            )));
        }
        let result = match msg {
            IntroMessage::Request(r) => self.receive_intro_request(from, r, now),
            IntroMessage::Relay(r) => self.receive_intro_relay(from, r, now),
            IntroMessage::Answer(a) => self.receive_intro_answer(from, a, now),
        };
        self.save_intros_or_warn();
        result
    }

    fn receive_intro_request(
        &mut self,
        from: PublicKey,
        r: Signed<IntroRequest>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        // Cheap checks first: a flood costs no signature verification.
        if r.signer != from || r.body.issuer != from {
            return Err(Refusal::unauthorised(
                "an introduction request must be sent by its requester",
            ));
        }
        if r.body.introducer != self.me {
            return Err(Refusal::not_here(
                "this introduction request asks someone else to introduce",
            ));
        }
        let id = r.id();
        if self.intros.to_relay.contains_key(&id) {
            return Err(Refusal::duplicate(format!(
                "introduction request {id} is already here"
            )));
        }
        if self.intros.cooling(&r.body.issuer, &r.body.target, now) {
            return Err(Refusal::rate_limited(format!(
                "an introduction to this member was declined recently; ask again after {} hours",
                INTRO_COOLDOWN_SECS / 3600
            )));
        }
        let tier = self.tier_of(&from);
        let bytes = encoded_len(&r);
        self.intros.admit(&from, tier, bytes)?;
        if !self
            .intros
            .requests
            .allow(tier, &from.0, now.saturating_mul(1000))
        {
            return Err(Refusal::rate_limited(format!(
                "over this member's introduction request budget ({} a day for a {})",
                INTRO_REQUESTS_PER_DAY.of(tier),
                tier.label()
            )));
        }
        r.validate(now)?;
        let (target, note) = (r.body.target, r.body.note.clone());
        self.intros.hold(from, bytes, tier == Tier::Stranger);
        self.intros.to_relay.insert(
            id,
            Waiting {
                step: r,
                signer: from,
                bytes,
                stranger: tier == Tier::Stranger,
            },
        );
        self.intros.touch(Slot::ToRelay, id);
        // Kept before it is acknowledged: a request we cannot keep is refused.
        if let Err(e) = self.save_intros() {
            self.intros.take_to_relay(&id);
            return Err(e.into());
        }
        self.emit(Event::IntroRequested {
            id,
            from,
            target,
            note,
        });
        Ok(())
    }

    fn receive_intro_relay(
        &mut self,
        from: PublicKey,
        r: Signed<IntroRelay>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let req = &r.body.request.body;
        if r.signer != from || r.body.issuer != from || req.introducer != from {
            return Err(Refusal::unauthorised(
                "an introduction must be relayed by the introducer its request names",
            ));
        }
        if req.target != self.me {
            return Err(Refusal::not_here("this introduction is for someone else"));
        }
        let id = r.body.request.id();
        if self.intros.to_me.contains_key(&id) {
            return Err(Refusal::duplicate(format!(
                "introduction {id} is already here"
            )));
        }
        if self.intros.cooling(&req.issuer, &req.target, now) {
            return Err(Refusal::rate_limited(format!(
                "an introduction from this member was declined recently; ask again after {} hours",
                INTRO_COOLDOWN_SECS / 3600
            )));
        }
        if self.intros.introduced.contains_key(&req.issuer) {
            return Err(Refusal::duplicate(
                "this member was already introduced here",
            ));
        }
        let tier = self.tier_of(&from);
        let bytes = encoded_len(&r);
        self.intros.admit(&from, tier, bytes)?;
        if !self
            .intros
            .relays
            .allow(tier, &from.0, now.saturating_mul(1000))
        {
            return Err(Refusal::rate_limited(format!(
                "over this introducer's budget ({} introductions a day for a {})",
                INTRO_RELAYS_PER_DAY.of(tier),
                tier.label()
            )));
        }
        // Both signatures: the relay's and the request inside it.
        r.validate(now)?;
        let event = Event::IntroReceived {
            id,
            from: req.issuer,
            by: from,
            note: req.note.clone(),
            introducer_note: r.body.note.clone(),
        };
        self.intros.hold(from, bytes, tier == Tier::Stranger);
        self.intros.to_me.insert(
            id,
            Waiting {
                step: r,
                signer: from,
                bytes,
                stranger: tier == Tier::Stranger,
            },
        );
        self.intros.touch(Slot::ToMe, id);
        // Kept before it is acknowledged: a relay we cannot keep is refused.
        if let Err(e) = self.save_intros() {
            self.intros.take_to_me(&id);
            return Err(e.into());
        }
        self.emit(event);
        Ok(())
    }

    fn receive_intro_answer(
        &mut self,
        from: PublicKey,
        a: Signed<IntroAnswer>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let id = a.body.request;
        // Ours: from the introducer (forwarded or declined) or the target (directly or passed
        // on by the introducer).
        if let Some(m) = self.intros.mine.get(&id) {
            let r = &m.request.body;
            let fits = a.body.requester == self.me
                && a.body.introducer == r.introducer
                && a.body.target == r.target;
            if !fits {
                return Err(Refusal::unauthorised(
                    "this answer does not match the introduction it names",
                ));
            }
            if a.body.role == IntroRole::Introducer && from != r.introducer {
                return Err(Refusal::unauthorised(
                    "the introducer's answer must come from the introducer",
                ));
            }
            a.validate(now)?;
            return self.settle_mine(a, now);
        }
        // Relayed by us: the target's answer, to pass on to the requester.
        if let Some((relay, _)) = self.intros.relayed.get(&id) {
            let r = &relay.body.request.body;
            if from != r.target
                || a.body.role != IntroRole::Target
                || a.body.requester != r.issuer
                || a.body.introducer != self.me
            {
                return Err(Refusal::unauthorised(
                    "only the member introduced answers an introduction relayed to them",
                ));
            }
            a.validate(now)?;
            let requester = r.issuer;
            let (target, expires) = (r.target, r.expires_at);
            self.intros.relayed.remove(&id);
            self.intros.touch(Slot::Relayed, id);
            self.intros.finish(id, expires, now);
            if !a.body.accept {
                self.intros.cool(requester, target, now);
            }
            self.emit(Event::IntroAnswered {
                id,
                by: from,
                role: IntroRole::Target,
                accepted: a.body.accept,
                note: a.body.note.clone(),
            });
            let answer_id = a.id();
            self.deliver(
                requester,
                DirectRequest::Intro(Box::new(IntroMessage::Answer(a))),
                answer_id,
                KIND,
                None,
            );
            return Ok(());
        }
        Err(Refusal::unknown(format!(
            "no introduction {id} is waiting here"
        )))
    }

    /// An answer to one of our requests.
    fn settle_mine(&mut self, a: Signed<IntroAnswer>, now: UnixTime) -> Result<(), Refusal> {
        let id = a.body.request;
        let Some(m) = self.intros.mine.get_mut(&id) else {
            return Err(Refusal::unknown(format!(
                "no introduction {id} is waiting here"
            )));
        };
        let (role, accept) = (a.body.role, a.body.accept);
        let (introducer, target, expires) = (
            m.request.body.introducer,
            m.request.body.target,
            m.request.body.expires_at,
        );
        match (role, accept) {
            (IntroRole::Introducer, true) => {
                if m.state == IntroState::Forwarded {
                    return Err(Refusal::duplicate("already known to be forwarded"));
                }
                m.state = IntroState::Forwarded;
                m.introducer_note = Some(a.body.note.clone());
                self.intros.touch(Slot::Mine, id);
            }
            (_, false) => {
                self.intros.mine.remove(&id);
                self.intros.touch(Slot::Mine, id);
                self.intros.cool(self.me, target, now);
                self.intros.finish(id, expires, now);
            }
            (IntroRole::Target, true) => {
                self.intros.mine.remove(&id);
                self.intros.touch(Slot::Mine, id);
                self.intros.finish(id, expires, now);
                self.record_introduced(target, introducer, id, now)?;
                if !a.body.addrs.is_empty() {
                    self.outbox.push(Io::Dial {
                        peer: target,
                        addrs: a.body.addrs.clone(),
                    });
                }
            }
        }
        self.emit(Event::IntroAnswered {
            id,
            by: a.signer,
            role,
            accepted: accept,
            note: a.body.note.clone(),
        });
        Ok(())
    }

    /// Drops what lapsed, and cooldowns that ended (a few hundred entries at most: bounded).
    pub(crate) fn sweep_intros(&mut self, now: UnixTime) {
        let i = &mut self.intros;
        let lapsed: Vec<RecordId> = i
            .mine
            .iter()
            .filter(|(_, m)| m.request.body.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in lapsed {
            i.mine.remove(&id);
            i.touch(Slot::Mine, id);
        }
        let lapsed: Vec<RecordId> = i
            .to_relay
            .iter()
            .filter(|(_, w)| w.step.body.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in lapsed {
            i.take_to_relay(&id);
        }
        let lapsed: Vec<RecordId> = i
            .to_me
            .iter()
            .filter(|(_, w)| w.step.body.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in lapsed {
            i.take_to_me(&id);
        }
        let lapsed: Vec<RecordId> = i
            .relayed
            .iter()
            .filter(|(_, (r, _))| r.body.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in lapsed {
            i.relayed.remove(&id);
            i.touch(Slot::Relayed, id);
        }
        i.cooldown.retain(|_, until| *until > now);
        i.finished.retain(|_, e| *e > now);
        self.save_intros_or_warn();
    }
}
