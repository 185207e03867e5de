//! The service's in-memory indexes over the records in the store: loaded once at start, then kept
//! up to date by every change, so the work for one input is a few map lookups plus the records it
//! changes — never a scan of the store.
//!
//! The store (sled) stays the durable copy of every record; these maps hold only what the rules
//! need to decide (who issued what, which sequence, which target, which members).

use guild_core::wire::SyncKey;
use guild_core::{
    CollabEntry, Collaboration, EntryKind, PublicKey, RecordId, RecordKind, Signed, SkillTag,
    UnixTime,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What is remembered of every stored record (profiles included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    /// Its kind.
    pub kind: RecordKind,
    /// Who signed it.
    pub signer: PublicKey,
    /// When it was issued.
    pub issued_at: UnixTime,
    /// When it expires (and is swept).
    pub expires_at: UnixTime,
}

/// The fields of an attestation its status depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttInfo {
    pub issuer: PublicKey,
    pub subject: PublicKey,
    pub skill: SkillTag,
    pub score: i8,
    pub collab: RecordId,
    pub seq: u64,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
}

/// A need as matching and listing see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NeedInfo {
    pub asker: PublicKey,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
}

/// An offer as listing and acceptance see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OfferInfo {
    pub need: RecordId,
    pub from: PublicKey,
    pub to: PublicKey,
    pub issued_at: UnixTime,
}

/// Order of a log entry: Lamport clock (causal), then time, author and sequence.
pub(crate) type EntryKey = (u64, UnixTime, PublicKey, u64);

/// The order key of an entry.
pub(crate) fn entry_key(e: &Signed<CollabEntry>) -> EntryKey {
    (e.body.clock, e.body.issued_at, e.signer, e.body.seq)
}

/// A collaboration: its members, whether it is closed, and its log's order.
#[derive(Debug, Clone, Default)]
pub(crate) struct CollabState {
    /// The members named in the record (asker and offerers).
    pub founders: Vec<PublicKey>,
    /// Founders plus everyone who joined on a member's invitation.
    pub members: Vec<PublicKey>,
    /// Whether a member closed it: no more posts, invitations or joins after the first close
    /// (in log order); other members may still sign their own close.
    pub closed: bool,
    /// Order of the first close by a member.
    pub first_close: Option<EntryKey>,
    /// Members who signed a close for their part, in log order.
    pub closed_by: Vec<PublicKey>,
    /// The log, in order.
    pub log: BTreeMap<EntryKey, RecordId>,
    /// Highest sequence number per author (the next one we write is one more).
    pub max_seq: HashMap<PublicKey, u64>,
    /// Every (author, sequence) in the log: a number is used once.
    pub seqs: std::collections::HashSet<(PublicKey, u64)>,
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
        CollabState {
            members: founders.clone(),
            founders,
            expires_at: c.body.expires_at,
            opened_at: c.body.issued_at,
            ..CollabState::default()
        }
    }

    /// Adds an entry to the log and recomputes membership when it can change it. Work is
    /// proportional to the collaboration's invitations and joins, which are bounded by its
    /// membership.
    pub fn add_entry(&mut self, e: &Signed<CollabEntry>) {
        let key = entry_key(e);
        self.log.insert(key, e.id());
        self.seqs.insert((e.signer, e.body.seq));
        let s = self.max_seq.entry(e.signer).or_insert(0);
        *s = (*s).max(e.body.seq);
        self.max_clock = self.max_clock.max(e.body.clock);
        match &e.body.entry {
            EntryKind::Invite { member } => {
                self.invites.insert(e.id(), (key, e.signer, *member));
                self.recompute();
            }
            EntryKind::Join { invite } => {
                self.joins.push((key, e.signer, *invite));
                self.joins.sort();
                self.recompute();
            }
            EntryKind::Close => {
                self.closes.push((key, e.signer));
                self.closes.sort();
                self.recompute();
            }
            EntryKind::Post { .. } => {}
        }
    }

    /// Members: founders, then (in log order) each joiner whose join answers an invitation for
    /// them written by someone already a member. Closed: a member wrote a close entry.
    /// Closed by: the members who wrote one, in log order.
    fn recompute(&mut self) {
        let mut members = self.founders.clone();
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
        self.members = members;
        self.closed_by.clear();
        self.first_close = None;
        for (key, who) in &self.closes {
            if self.members.contains(who) && !self.closed_by.contains(who) {
                self.first_close = self.first_close.or(Some(*key));
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

/// Every index the service keeps.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Every stored record by id (profiles too, under their record id).
    pub meta: HashMap<RecordId, Meta>,
    /// Expiry order, for the sweep.
    pub by_expiry: BTreeSet<(UnixTime, RecordId)>,
    /// Attestations by id.
    pub atts: HashMap<RecordId, AttInfo>,
    /// Attestation ids by (issuer, sequence): two entries are an equivocation.
    pub att_by_seq: HashMap<(PublicKey, u64), BTreeSet<RecordId>>,
    /// The latest attestation per (issuer, subject, collaboration).
    pub att_latest: HashMap<(PublicKey, PublicKey, RecordId), (u64, RecordId)>,
    /// Attestation ids by the collaboration they cite.
    pub att_by_collab: HashMap<RecordId, BTreeSet<RecordId>>,
    /// Attestation ids by subject.
    pub att_by_subject: HashMap<PublicKey, BTreeSet<RecordId>>,
    /// Attestation ids by issuer.
    pub att_by_issuer: HashMap<PublicKey, BTreeSet<RecordId>>,
    /// Counted attestations per trust edge (issuer, subject, skill), by (issued_at, id): the
    /// newest is the edge the trust engine holds.
    pub edges: HashMap<(PublicKey, PublicKey, SkillTag), BTreeSet<(UnixTime, RecordId)>>,
    /// Attestations that count now.
    pub counted: BTreeSet<RecordId>,
    /// Issuers caught signing two attestations with one sequence number, with the proof.
    pub equivocators: BTreeMap<PublicKey, (RecordId, RecordId)>,
    /// Applied revocations: target → the revocation (always signed by the target's issuer).
    pub revoked: HashMap<RecordId, RecordId>,
    /// Revocation → its target.
    pub revocation_of: HashMap<RecordId, RecordId>,
    /// Needs by id.
    pub needs: HashMap<RecordId, NeedInfo>,
    /// Offers by id.
    pub offers: HashMap<RecordId, OfferInfo>,
    /// Offer ids by need.
    pub offers_by_need: HashMap<RecordId, BTreeSet<RecordId>>,
    /// Offer → the collaboration that accepted it.
    pub accepted: HashMap<RecordId, RecordId>,
    /// Collaborations by id.
    pub collabs: HashMap<RecordId, CollabState>,
    /// Entry → its collaboration.
    pub entry_of: HashMap<RecordId, RecordId>,
    /// Messages: (issued_at, id) → (from, to).
    pub messages: BTreeMap<(UnixTime, RecordId), (PublicKey, PublicKey)>,
    /// Profile record id → signer (to find a profile by the id sync uses).
    pub profile_ids: HashMap<RecordId, PublicKey>,
    /// This node's own trust roots: (member, skill or general) → (note, added at). Local and
    /// private; they act as the owner's own out-edges in the trust engine.
    pub roots: BTreeMap<(PublicKey, Option<SkillTag>), (String, UnixTime)>,
    /// Collaborations whose invitation to us each inviter sent and we have not answered.
    pub invites_from: HashMap<PublicKey, BTreeSet<RecordId>>,
    /// The collaborations we are a member of (kept as membership changes, so "who are our
    /// collaborators" never walks every collaboration held).
    pub my_collabs: BTreeSet<RecordId>,
    /// Bumped whenever `my_collabs` or the membership of one of them changes.
    pub my_collabs_epoch: u64,
    /// Invitations waiting for our answer, by the time they are swept.
    pub invitations_due: BTreeSet<(UnixTime, RecordId)>,
    /// Sync keys of each public kind, in `(issued_at, id)` order (what sync reconciles).
    pub sync: HashMap<RecordKind, BTreeSet<SyncKey>>,
    /// Count and XOR of every sync key per kind, kept up to date, so a whole-range fingerprint
    /// (every sync starts with one) costs nothing to answer when nothing differs.
    pub sync_total: HashMap<RecordKind, SyncTotal>,
}

impl State {
    /// Remembers a stored record's envelope.
    pub fn add_meta(&mut self, id: RecordId, meta: Meta) {
        if self.meta.contains_key(&id) {
            // Re-indexing the same record: forget the old envelope first.
            self.remove_meta(&id);
        }
        self.by_expiry.insert((meta.expires_at, id));
        if super::PUBLIC_KINDS.contains(&meta.kind)
            && self.sync.entry(meta.kind).or_default().insert(SyncKey {
                time: meta.issued_at,
                id,
            })
        {
            self.sync_total.entry(meta.kind).or_default().toggle(&id);
        }
        self.meta.insert(id, meta);
    }

    /// Forgets a record's envelope.
    pub fn remove_meta(&mut self, id: &RecordId) -> Option<Meta> {
        let m = self.meta.remove(id)?;
        self.by_expiry.remove(&(m.expires_at, *id));
        if let Some(set) = self.sync.get_mut(&m.kind) {
            if set.remove(&SyncKey {
                time: m.issued_at,
                id: *id,
            }) {
                if let Some(t) = self.sync_total.get_mut(&m.kind) {
                    t.untoggle(id);
                }
            }
        }
        Some(m)
    }

    /// Records expired at `now`, oldest first, at most `max`.
    pub fn expired(&self, now: UnixTime, max: usize) -> Vec<RecordId> {
        self.by_expiry
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(max)
            .map(|(_, id)| *id)
            .collect()
    }
}

/// Count and XOR of a set of ids, updated one id at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SyncTotal {
    pub count: u32,
    pub xor: [u8; 32],
}

impl SyncTotal {
    fn toggle(&mut self, id: &RecordId) {
        self.count += 1;
        self.flip(id);
    }

    fn untoggle(&mut self, id: &RecordId) {
        self.count = self.count.saturating_sub(1);
        self.flip(id);
    }

    fn flip(&mut self, id: &RecordId) {
        for (x, b) in self.xor.iter_mut().zip(id.0.iter()) {
            *x ^= b;
        }
    }
}
