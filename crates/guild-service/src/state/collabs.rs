//! Collaborations: each one's state machine ([`CollabState`]: members, closes, its log's order),
//! which log entry belongs to which collaboration, the collaborations we are a member of, and
//! invitations to us waiting for an answer (by inviter, and by when they are swept).
//!
//! A collaboration is held in full while it can still change anything here; once it is closed
//! and is none of ours (we are no member and hold no invitation to it) it is *settled*: only a
//! [`Settled`] summary stays (its members, who closed, its entries' ids), which is all that
//! attestations citing it need. Most collaborations a node holds are other members' closed ones,
//! kept as proof behind their attestations, and never touched again: at 5·10^4 held, their full
//! states took 96 MB. The service rebuilds a settled one from the store when an entry for it
//! arrives, or when a call needs its whole log (see `collab.rs`).
//!
//! Invariants kept here: every entry of a held collaboration's log maps back to it, and goes
//! with it; `mine` holds exactly the held collaborations we are a member of, and its epoch moves
//! whenever it or the membership of one of them changes; an invitation to us is due to be swept
//! at one time, and an inviter's set of waiting invitations is pruned to those still waiting
//! whenever it grows.

use super::slab::IdSlab;
use super::small::{SmallMap, SmallSet};
use super::HashMap;
use guild_core::{CollabEntry, Collaboration, EntryKind, PublicKey, RecordId, Signed, UnixTime};
use smallvec::SmallVec;
use std::collections::BTreeSet;

/// Order of a log entry: Lamport clock (causal), then time, author and sequence.
pub(crate) type EntryKey = (u64, UnixTime, PublicKey, u64);

/// The order key of an entry.
pub(crate) fn entry_key(e: &Signed<CollabEntry>) -> EntryKey {
    (e.body.clock, e.body.issued_at, e.signer, e.body.seq)
}

/// A collaboration: its members, whether it is closed, and its log's order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct CollabState {
    /// The asker who opened it (the only one whose accepts and releases count).
    pub issuer: PublicKey,
    /// The need it is for.
    pub need: RecordId,
    /// The offers the record accepted: (offerer, offer).
    pub founding: Vec<(PublicKey, RecordId)>,
    /// Accept entries: (order, author, offerer, offer).
    pub accepts: Vec<(EntryKey, PublicKey, PublicKey, RecordId)>,
    /// Release entries: (order, author, offer).
    pub releases: Vec<(EntryKey, PublicKey, RecordId)>,
    /// The team by accepted offer, releases applied: (offerer, offer), in acceptance order.
    pub team: Vec<(PublicKey, RecordId)>,
    /// Accepted offers the asker released (their roles reopened).
    pub released: Vec<RecordId>,
    /// The asker, the team (accepted offerers not released), then everyone who joined on a
    /// member's invitation.
    pub members: Vec<PublicKey>,
    /// Whether a member closed it: no more posts, invitations or joins after the first close
    /// (in log order); other members may still sign their own close.
    pub closed: bool,
    /// Order of the first close by a member.
    pub first_close: Option<EntryKey>,
    /// Members who signed a close for their part, in log order.
    pub closed_by: Vec<PublicKey>,
    /// The log, in order. Small sorted collections (see `small`): most logs are a few
    /// entries (a `BTreeMap` node here is about 1 KB), and entries arrive nearly in order, so
    /// an insert lands at or near the end even in a long log.
    pub log: SmallMap<EntryKey, RecordId>,
    /// Highest sequence number per author (the next one we write is one more).
    pub max_seq: SmallMap<PublicKey, u64>,
    /// Every (author, sequence) in the log: a number is used once.
    pub seqs: SmallSet<(PublicKey, u64)>,
    /// Highest Lamport clock seen.
    pub max_clock: u64,
    /// Invitations: entry id → (order, inviter, invitee).
    pub invites: HashMap<RecordId, (EntryKey, PublicKey, PublicKey)>,
    /// Joins: (order, joiner, invitation answered).
    pub joins: Vec<(EntryKey, PublicKey, RecordId)>,
    /// Close entries: (order, author), in log order.
    pub closes: Vec<(EntryKey, PublicKey)>,
    /// When the record expires.
    pub expires_at: UnixTime,
    /// When it was opened.
    pub opened_at: UnixTime,
}

impl CollabState {
    /// The state of a newly stored collaboration record.
    pub fn new(c: &Signed<Collaboration>) -> CollabState {
        let founders = c.body.members();
        let founding: Vec<(PublicKey, RecordId)> =
            c.body.offers.iter().map(|a| (a.offerer, a.offer)).collect();
        CollabState {
            issuer: c.body.issuer,
            need: c.body.need,
            members: founders,
            team: founding.clone(),
            founding,
            accepts: Vec::new(),
            releases: Vec::new(),
            released: Vec::new(),
            closed: false,
            first_close: None,
            closed_by: Vec::new(),
            log: SmallMap::default(),
            max_seq: SmallMap::default(),
            seqs: SmallSet::default(),
            max_clock: 0,
            invites: HashMap::default(),
            joins: Vec::new(),
            closes: Vec::new(),
            expires_at: c.body.expires_at,
            opened_at: c.body.issued_at,
        }
    }

    /// Adds an entry to the log and recomputes membership when it can change it. Work is
    /// proportional to the collaboration's invitations and joins, which are bounded by its
    /// membership.
    pub fn add_entry(&mut self, e: &Signed<CollabEntry>) {
        self.add_entry_as(e.id(), e)
    }

    /// [`CollabState::add_entry`] for an entry whose id the caller has (computing one costs an
    /// encoding and a SHA-256).
    pub fn add_entry_as(&mut self, id: RecordId, e: &Signed<CollabEntry>) {
        let key = entry_key(e);
        self.log.insert(key, id);
        self.seqs.insert((e.signer, e.body.seq));
        match self.max_seq.get_mut(&e.signer) {
            Some(s) => *s = (*s).max(e.body.seq),
            None => {
                self.max_seq.insert(e.signer, e.body.seq);
            }
        }
        self.max_clock = self.max_clock.max(e.body.clock);
        match &e.body.entry {
            EntryKind::Invite { member } => {
                self.invites.insert(id, (key, e.signer, *member));
                self.recompute();
            }
            EntryKind::Join { invite } => {
                self.joins.push((key, e.signer, *invite));
                self.joins.sort();
                self.recompute();
            }
            EntryKind::Close => {
                // Exactly as many as there are (a push into an empty `Vec` reserves four:
                // 352 bytes here, for the two closes most collaborations end with).
                self.closes.reserve_exact(1);
                self.closes.push((key, e.signer));
                self.closes.sort();
                self.recompute();
            }
            EntryKind::Accept { offerer, offer } => {
                self.accepts.push((key, e.signer, *offerer, *offer));
                self.accepts.sort();
                self.recompute();
            }
            EntryKind::Release { offer } => {
                self.releases.push((key, e.signer, *offer));
                self.releases.sort();
                self.recompute();
            }
            EntryKind::Post { .. } => {
                // A post can make an earlier-ordered release void (the member had started).
                if !self.releases.is_empty() {
                    self.recompute();
                }
            }
        }
    }

    /// The team: the record's offers, then each offer the asker accepted in the log, less those
    /// the asker released before their offerer wrote anything (in log order). One place for
    /// every node, so all agree on who is a member.
    fn recompute_team(&mut self) {
        let mut accepted: Vec<(Option<EntryKey>, PublicKey, RecordId)> = self
            .founding
            .iter()
            .map(|(who, offer)| (None, *who, *offer))
            .collect();
        for (key, author, offerer, offer) in &self.accepts {
            if *author == self.issuer && !accepted.iter().any(|a| a.1 == *offerer) {
                accepted.push((Some(*key), *offerer, *offer));
            }
        }
        let mut released = Vec::new();
        for (key, author, offer) in &self.releases {
            if *author != self.issuer || released.contains(offer) {
                continue;
            }
            let Some((_, who, _)) = accepted.iter().find(|a| a.2 == *offer && a.0 < Some(*key))
            else {
                continue;
            };
            let started = self.log.keys().any(|k| k.2 == *who && k < key);
            if !started {
                released.push(*offer);
            }
        }
        self.team = accepted
            .into_iter()
            .filter(|a| !released.contains(&a.2))
            .map(|(_, who, offer)| (who, offer))
            .collect();
        self.team.shrink_to_fit();
        self.released = released;
    }

    /// Members: founders, then (in log order) each joiner whose join answers an invitation for
    /// them written by someone already a member. Closed: a member wrote a close entry.
    /// Closed by: the members who wrote one, in log order.
    fn recompute(&mut self) {
        self.recompute_team();
        // Sized to what it can hold and no more (this runs for every entry of every
        // collaboration at start: a `Vec` grown by pushes keeps room for four).
        let mut members = Vec::with_capacity(1 + self.team.len() + self.joins.len());
        members.push(self.issuer);
        members.extend(self.team.iter().map(|(who, _)| *who));
        for (_, joiner, invite) in &self.joins {
            let ok = self
                .invites
                .get(invite)
                .is_some_and(|(_, inviter, invitee)| {
                    invitee == joiner && members.contains(inviter)
                });
            if ok && !members.contains(joiner) {
                members.push(*joiner);
            }
        }
        members.shrink_to_fit();
        self.members = members;
        self.closed_by.clear();
        self.first_close = None;
        for (key, who) in &self.closes {
            if self.members.contains(who) && !self.closed_by.contains(who) {
                self.first_close = self.first_close.or(Some(*key));
                self.closed_by.reserve_exact(1);
                self.closed_by.push(*who);
            }
        }
        self.closed = self.first_close.is_some();
    }

    /// Whether `who` holds an invitation from a member and has not joined.
    pub fn invitation_for(&self, who: &PublicKey) -> Option<RecordId> {
        if self.members.contains(who) {
            return None;
        }
        let mut found: Vec<(&EntryKey, &RecordId)> = self
            .invites
            .iter()
            .filter(|(_, (_, inviter, invitee))| invitee == who && self.members.contains(inviter))
            .map(|(id, (k, _, _))| (k, id))
            .collect();
        found.sort();
        found.first().map(|(_, id)| **id)
    }
}

/// Days an invitation to us waits for an answer before it is swept.
fn invitation_due(e: &Signed<CollabEntry>) -> UnixTime {
    e.body.issued_at + crate::admission::INVITATION_DAYS * 86_400
}

/// What is kept of a settled collaboration: closed, none of ours, every entry of its log stored
/// for at least as long as it is. Enough to decide whether an attestation citing it counts; the
/// rest is rebuilt from the store (the record and these entries) on the rare occasion it is
/// needed.
///
/// 104 bytes, held in its slot of the settled table (no box of its own): the members once, and
/// who closed as their places among them (up to four inline). The asker is not kept apart: it is
/// always the first member. (With the asker, a boxed slice of closers' keys and a box of its
/// own, a summary took 128 bytes, 64 more for its closers and 52 for its table slot.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Settled {
    /// The need it is for.
    pub need: RecordId,
    /// Its members, as [`CollabState::members`] (the asker first).
    members: Box<[PublicKey]>,
    /// The places in `members` of those who signed a close, in log order, as
    /// [`CollabState::closed_by`] (a member closes at most once; closers are members).
    closed: SmallVec<[u16; 4]>,
    /// Its log's entries, in log order.
    pub entries: Box<[RecordId]>,
    /// When the record expires.
    pub expires_at: UnixTime,
    /// When it was opened.
    pub opened_at: UnixTime,
}

impl Settled {
    /// The summary of a closed collaboration; `None` when it cannot be summarised (a closer not
    /// among the members, or more members than places: never, by [`CollabState`]'s rules; such
    /// a collaboration stays whole).
    pub fn try_of(c: &CollabState) -> Option<Settled> {
        debug_assert!(c.closed, "only a closed collaboration settles");
        if c.members.len() > usize::from(u16::MAX) {
            return None;
        }
        let closed = c
            .closed_by
            .iter()
            .map(|who| c.members.iter().position(|m| m == who).map(|i| i as u16))
            .collect::<Option<SmallVec<[u16; 4]>>>()?;
        Some(Settled {
            need: c.need,
            members: c.members.as_slice().into(),
            closed,
            entries: c.log.values().copied().collect(),
            expires_at: c.expires_at,
            opened_at: c.opened_at,
        })
    }

    /// [`Settled::try_of`] for a collaboration known to settle.
    #[cfg(test)]
    #[allow(clippy::expect_used)]
    pub fn of(c: &CollabState) -> Settled {
        Settled::try_of(c).expect("closers are members")
    }

    /// Its members (the asker first).
    pub fn members(&self) -> &[PublicKey] {
        &self.members
    }

    /// Members who signed a close, in log order.
    pub fn closed_by(&self) -> impl Iterator<Item = &PublicKey> + '_ {
        self.closed.iter().map(|&i| &self.members[usize::from(i)])
    }
}

/// A held collaboration, in full or settled: what both can answer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Held<'a> {
    /// Held in full.
    Full(&'a CollabState),
    /// Settled: closed, none of ours.
    Settled(&'a Settled),
}

impl<'a> Held<'a> {
    /// Its members.
    pub fn members(&self) -> &'a [PublicKey] {
        match self {
            Held::Full(c) => &c.members,
            Held::Settled(s) => s.members(),
        }
    }

    /// Members who signed a close, in log order.
    pub fn closed_by(&self) -> Vec<PublicKey> {
        match self {
            Held::Full(c) => c.closed_by.clone(),
            Held::Settled(s) => s.closed_by().copied().collect(),
        }
    }

    /// Whether a member signed a close.
    pub fn has_closed(&self, who: &PublicKey) -> bool {
        match self {
            Held::Full(c) => c.closed_by.contains(who),
            Held::Settled(s) => s.closed_by().any(|m| m == who),
        }
    }

    /// Whether a member closed it.
    pub fn closed(&self) -> bool {
        match self {
            Held::Full(c) => c.closed,
            Held::Settled(_) => true,
        }
    }

    /// The need it is for.
    pub fn need(&self) -> RecordId {
        match self {
            Held::Full(c) => c.need,
            Held::Settled(s) => s.need,
        }
    }

    /// When the record expires.
    pub fn expires_at(&self) -> UnixTime {
        match self {
            Held::Full(c) => c.expires_at,
            Held::Settled(s) => s.expires_at,
        }
    }

    /// When it was opened.
    pub fn opened_at(&self) -> UnixTime {
        match self {
            Held::Full(c) => c.opened_at,
            Held::Settled(s) => s.opened_at,
        }
    }

    /// Its log's entries, in log order.
    pub fn entry_ids(&self) -> Vec<RecordId> {
        match self {
            Held::Full(c) => c.log.values().copied().collect(),
            Held::Settled(s) => s.entries.to_vec(),
        }
    }
}

/// Collaborations held, ours, and invitations waiting for us.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Collabs {
    /// Collaborations held in full, by id. Boxed: a `CollabState` is about 740 bytes, and a
    /// hash table keeps an eighth or more of its slots empty (up to half, just after it grows):
    /// 10 MB of the 50 MB this table took at 5·10^4 collaborations held were empty slots.
    collabs: HashMap<RecordId, Box<CollabState>>,
    /// Settled collaborations (never also in `collabs`), by id, each in a slot of its own.
    settled: IdSlab<Settled>,
    /// Entry → its collaboration, for the entries of collaborations held in full.
    entry_of: HashMap<RecordId, RecordId>,
    /// Collaborations whose invitation to us each inviter sent and we have not answered.
    invites_from: HashMap<PublicKey, BTreeSet<RecordId>>,
    /// The collaborations we are a member of (kept as membership changes, so "who are our
    /// collaborators" never walks every collaboration held).
    mine: BTreeSet<RecordId>,
    /// Bumped whenever `mine` or the membership of one of them changes.
    mine_epoch: u64,
    /// Invitations waiting for our answer, by the time they are swept.
    due: BTreeSet<(UnixTime, RecordId)>,
}

/// What adding a log entry changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryAdded {
    /// Its collaboration's membership or closes changed (re-evaluate what cites it).
    pub changed: bool,
}

impl Collabs {
    /// Indexes a held collaboration record; `me` is this node.
    pub fn insert(&mut self, id: RecordId, c: &Signed<Collaboration>, me: &PublicKey) {
        let state = CollabState::new(c);
        if state.members.contains(me) && self.mine.insert(id) {
            self.mine_epoch += 1;
        }
        self.collabs.insert(id, Box::new(state));
    }

    /// Forgets a collaboration (held in full or settled) and which entries were its own.
    /// Returns its state when it was held in full.
    pub fn remove(&mut self, id: &RecordId) -> Option<CollabState> {
        if self.mine.remove(id) {
            self.mine_epoch += 1;
        }
        if self.settled.remove(id).is_some() {
            return None;
        }
        let c = self.collabs.remove(id)?;
        for eid in c.log.values() {
            self.entry_of.remove(eid);
        }
        Some(*c)
    }

    /// Adds a held entry to its collaboration's log (`None` when the collaboration is not held
    /// in full: a settled one is restored first, see [`Collabs::restore`]).
    /// An invitation for us that waits for our answer is remembered under its inviter and its
    /// due time.
    #[cfg(test)]
    pub fn add_entry(&mut self, e: &Signed<CollabEntry>, me: &PublicKey) -> Option<EntryAdded> {
        self.add_entry_as(e.id(), e, me)
    }

    /// [`Collabs::add_entry`] for an entry whose id the caller has.
    pub fn add_entry_as(
        &mut self,
        id: RecordId,
        e: &Signed<CollabEntry>,
        me: &PublicKey,
    ) -> Option<EntryAdded> {
        let cid = e.body.collaboration;
        debug_assert!(self.settled.handle(&cid).is_none(), "restore it first");
        let c = self.collabs.get_mut(&cid)?;
        let before = (c.members.len(), c.closed_by.len());
        c.add_entry_as(id, e);
        let after = (c.members.len(), c.closed_by.len());
        let waiting = c.invitation_for(me).is_some();
        if before.0 != after.0 && c.members.contains(me) {
            // We joined, or someone joined one of ours: our collaborators changed.
            self.mine.insert(cid);
            self.mine_epoch += 1;
        }
        self.entry_of.insert(id, cid);
        if let EntryKind::Invite { member } = &e.body.entry {
            if member == me && waiting {
                self.due.insert((invitation_due(e), cid));
                self.invites_from.entry(e.signer).or_default().insert(cid);
            }
        }
        Some(EntryAdded {
            changed: before != after,
        })
    }

    /// Forgets an entry's place (the entry expired; the log keeps its order).
    pub fn remove_entry(&mut self, id: &RecordId) {
        self.entry_of.remove(id);
    }

    /// Whether an entry belongs to a collaboration held in full.
    pub fn has_entry(&self, id: &RecordId) -> bool {
        self.entry_of.contains_key(id)
    }

    /// A collaboration held in full (ours, one we are invited to, or one not closed; a settled
    /// one is not: see [`Collabs::held`]).
    pub fn get(&self, id: &RecordId) -> Option<&CollabState> {
        self.collabs.get(id).map(|c| &**c)
    }

    /// A held collaboration, in full or settled.
    pub fn held(&self, id: &RecordId) -> Option<Held<'_>> {
        match self.collabs.get(id) {
            Some(c) => Some(Held::Full(c)),
            None => self.settled(id).map(Held::Settled),
        }
    }

    /// A settled collaboration.
    pub fn settled(&self, id: &RecordId) -> Option<&Settled> {
        self.settled.get(self.settled.handle(id)?)
    }

    /// Whether a collaboration is held (in full or settled).
    pub fn contains(&self, id: &RecordId) -> bool {
        self.collabs.contains_key(id) || self.settled.handle(id).is_some()
    }

    /// How many collaborations are held in full, and how many settled.
    #[cfg(test)]
    pub fn sizes(&self) -> (usize, usize) {
        (self.collabs.len(), self.settled.len())
    }

    /// Keeps only a summary of a collaboration held in full that is closed and none of ours (we
    /// are no member and hold no invitation to it), when `stored` says every entry of its log is
    /// still stored (so the store can give the log back). Returns whether it settled.
    pub fn settle(
        &mut self,
        id: &RecordId,
        me: &PublicKey,
        stored: impl Fn(&RecordId) -> bool,
    ) -> bool {
        let Some(c) = self.collabs.get(id) else {
            return false;
        };
        let ours =
            c.members.contains(me) || c.invitation_for(me).is_some() || self.mine.contains(id);
        if !c.closed || ours || !c.log.values().all(stored) {
            return false;
        }
        let Some(summary) = Settled::try_of(c) else {
            return false;
        };
        let Some(c) = self.collabs.remove(id) else {
            return false;
        };
        for eid in c.log.values() {
            self.entry_of.remove(eid);
        }
        self.settled.insert(*id, summary);
        true
    }

    /// Gives back the room of the tables that settling emptied (at the end of the load: the
    /// full states and their entries' places, 11 MB at 5·10^4 collaborations, would otherwise
    /// stay reserved for good).
    pub fn shrink_to_fit(&mut self) {
        self.collabs.shrink_to_fit();
        self.entry_of.shrink_to_fit();
    }

    /// Every collaboration held in full (the candidates for [`Collabs::settle`]).
    pub fn full_ids(&self) -> Vec<RecordId> {
        self.collabs.keys().copied().collect()
    }

    /// Holds a settled collaboration in full again, from its state rebuilt from the store.
    pub fn restore(&mut self, id: RecordId, state: CollabState) {
        self.settled.remove(&id);
        for eid in state.log.values() {
            self.entry_of.insert(*eid, id);
        }
        self.collabs.insert(id, Box::new(state));
    }

    /// Every collaboration held in full (settled ones are none of ours).
    pub fn iter(&self) -> impl Iterator<Item = (&RecordId, &CollabState)> {
        self.collabs.iter().map(|(id, c)| (id, &**c))
    }

    /// The collaborations we are a member of.
    #[cfg(test)]
    pub fn mine(&self) -> impl Iterator<Item = &RecordId> {
        self.mine.iter()
    }

    /// Everyone in a collaboration with us (ourselves included).
    pub fn collaborators(&self) -> impl Iterator<Item = &PublicKey> {
        self.mine
            .iter()
            .filter_map(|id| self.collabs.get(id))
            .flat_map(|c| c.members.iter())
    }

    /// Moves whenever our collaborations or their membership change.
    pub fn mine_epoch(&self) -> u64 {
        self.mine_epoch
    }

    /// How many invitations from `from` wait for our answer, other than to `except`.
    pub fn waiting_from(&self, from: &PublicKey, except: &RecordId, me: &PublicKey) -> usize {
        self.invites_from.get(from).map_or(0, |set| {
            set.iter()
                .filter(|id| *id != except)
                .filter(|id| self.waits_for(id, me))
                .count()
        })
    }

    fn waits_for(&self, id: &RecordId, me: &PublicKey) -> bool {
        self.collabs
            .get(id)
            .is_some_and(|c| c.invitation_for(me).is_some())
    }

    /// Inviters with invitations remembered as waiting for our answer (some may have been
    /// answered since: [`Collabs::waiting_from`] says which still wait).
    pub fn inviters(&self) -> impl Iterator<Item = &PublicKey> {
        self.invites_from.keys()
    }

    /// Remembers an invitation from `from` to `cid`, and forgets that inviter's answered or
    /// vanished ones, so the set stays as small as what waits.
    pub fn note_invitation(&mut self, from: PublicKey, cid: RecordId, me: &PublicKey) {
        let mut set = self.invites_from.remove(&from).unwrap_or_default();
        set.insert(cid);
        set.retain(|id| self.waits_for(id, me));
        self.invites_from.insert(from, set);
    }

    /// Takes the invitations due to be swept at `now`, oldest first, at most `max`.
    pub fn take_due(&mut self, now: UnixTime, max: usize) -> Vec<RecordId> {
        let due: Vec<(UnixTime, RecordId)> = self
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(max)
            .copied()
            .collect();
        for d in &due {
            self.due.remove(d);
        }
        due.into_iter().map(|(_, id)| id).collect()
    }

    /// Forgets an invitation to `cid` under each of `inviters` (it was swept).
    pub fn forget_invitation(&mut self, cid: &RecordId, inviters: &[PublicKey]) {
        for who in inviters {
            if let Some(set) = self.invites_from.get_mut(who) {
                set.remove(cid);
                if set.is_empty() {
                    self.invites_from.remove(who);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use guild_core::fixtures::{self, identity, sign, T0};
    use guild_core::record::RECORD_VERSION;
    use guild_core::{CollabEntry, Identity};

    fn collab(asker: &Identity, offerer: &Identity) -> Signed<Collaboration> {
        let need = sign(fixtures::need(asker, "a board", &["kicad"], T0), asker);
        let offer = sign(fixtures::offer(offerer, &need, T0), offerer);
        sign(fixtures::collaboration(asker, need, vec![offer], T0), asker)
    }

    fn entry(
        by: &Identity,
        c: &Signed<Collaboration>,
        seq: u64,
        entry: EntryKind,
    ) -> Signed<CollabEntry> {
        sign(
            CollabEntry {
                version: RECORD_VERSION,
                issuer: by.public(),
                collaboration: c.id(),
                issued_at: T0 + seq,
                expires_at: c.body.expires_at,
                seq,
                clock: seq,
                entry,
            },
            by,
        )
    }

    #[test]
    fn a_settled_summary_answers_as_the_full_state_and_its_slot_is_reused() {
        let (a, b, me) = (identity(1), identity(2), identity(3));
        let mut s = Collabs::default();
        let c = collab(&a, &b);
        s.insert(c.id(), &c, &me.public());
        // B closes first, then A: the closers in log order, which is not the members' order.
        for e in [
            entry(&b, &c, 1, EntryKind::Close),
            entry(&a, &c, 2, EntryKind::Close),
        ] {
            s.add_entry(&e, &me.public()).unwrap();
        }
        let full = s.get(&c.id()).unwrap().clone();
        assert_eq!(full.closed_by, vec![b.public(), a.public()]);
        assert!(s.settle(&c.id(), &me.public(), |_| true));
        assert_eq!(s.sizes(), (0, 1));
        let held = s.held(&c.id()).unwrap();
        assert_eq!(held.members(), full.members.as_slice());
        assert_eq!(held.closed_by(), full.closed_by);
        assert!(held.has_closed(&a.public()) && held.has_closed(&b.public()));
        assert!(!held.has_closed(&me.public()));
        assert_eq!(
            held.entry_ids(),
            full.log.values().copied().collect::<Vec<_>>()
        );
        assert_eq!(
            (held.need(), held.expires_at(), held.opened_at()),
            (full.need, full.expires_at, full.opened_at)
        );
        // Another takes the slot the first leaves: the first's summary does not come back.
        s.remove(&c.id());
        assert!(s.held(&c.id()).is_none() && !s.contains(&c.id()));
        let (x, y) = (identity(4), identity(5));
        let d = collab(&x, &y);
        s.insert(d.id(), &d, &me.public());
        s.add_entry(&entry(&y, &d, 1, EntryKind::Close), &me.public());
        assert!(s.settle(&d.id(), &me.public(), |_| true));
        let held = s.held(&d.id()).unwrap();
        assert_eq!(held.closed_by(), vec![y.public()]);
        assert!(held.has_closed(&y.public()) && !held.has_closed(&b.public()));
        assert!(s.settled(&c.id()).is_none());
        assert!(std::mem::size_of::<Settled>() <= 104);
    }

    #[test]
    fn ours_and_its_epoch_follow_membership_and_go_with_the_record() {
        let (a, b, me) = (identity(1), identity(2), identity(3));
        let mut s = Collabs::default();
        let c = collab(&a, &b);
        s.insert(c.id(), &c, &me.public());
        assert_eq!(s.mine().count(), 0, "we are not a member");
        let invite = entry(
            &a,
            &c,
            1,
            EntryKind::Invite {
                member: me.public(),
            },
        );
        assert!(!s.add_entry(&invite, &me.public()).unwrap().changed);
        assert_eq!(
            s.waiting_from(&a.public(), &RecordId([0; 32]), &me.public()),
            1
        );
        let epoch = s.mine_epoch();
        let join = entry(
            &me,
            &c,
            2,
            EntryKind::Join {
                invite: invite.id(),
            },
        );
        assert!(s.add_entry(&join, &me.public()).unwrap().changed);
        assert!(s.mine_epoch() > epoch);
        assert_eq!(s.mine().collect::<Vec<_>>(), vec![&c.id()]);
        assert_eq!(s.collaborators().count(), 3);
        assert_eq!(
            s.waiting_from(&a.public(), &RecordId([0; 32]), &me.public()),
            0,
            "answered"
        );

        let epoch = s.mine_epoch();
        let removed = s.remove(&c.id()).unwrap();
        assert_eq!(removed.log.len(), 2);
        assert!(s.mine_epoch() > epoch);
        assert_eq!(s.mine().count(), 0);
        assert!(s.entry_of.is_empty(), "its entries went with it");
        assert!(s.add_entry(&invite, &me.public()).is_none(), "not held");
    }

    #[test]
    fn a_swept_invitation_is_taken_once_and_forgotten_under_its_inviter() {
        let (a, b, me) = (identity(1), identity(2), identity(3));
        let mut s = Collabs::default();
        let c = collab(&a, &b);
        s.insert(c.id(), &c, &me.public());
        let invite = entry(
            &a,
            &c,
            1,
            EntryKind::Invite {
                member: me.public(),
            },
        );
        s.add_entry(&invite, &me.public());
        s.note_invitation(a.public(), c.id(), &me.public());
        let due = invitation_due(&invite);
        assert!(s.take_due(due - 1, 10).is_empty());
        assert_eq!(s.take_due(due, 10), vec![c.id()]);
        assert!(s.take_due(due, 10).is_empty(), "taken once");
        s.forget_invitation(&c.id(), &[a.public(), b.public()]);
        assert!(s.invites_from.is_empty());
    }
}
