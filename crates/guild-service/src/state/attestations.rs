//! Attestations and authority: every held attestation with its indexes (by sequence, subject,
//! issuer, cited collaboration, and the latest per issuer, subject and collaboration), the set
//! that counts now and the trust edges built from it, issuers caught equivocating, and applied
//! revocations.
//!
//! Invariants kept here: an attestation is in every index of its own fields exactly while it is
//! held; `latest` names, per (issuer, subject, collaboration), the held attestation with the
//! highest (sequence, id); a counted attestation is held and sits on exactly one edge, under its
//! (issued at, id); an applied revocation and its target name each other.
//!
//! Whether an attestation *should* count depends on its collaboration (another sub-state), so
//! the service decides and tells this one with [`Attestations::set_counted`]; what changes in the
//! trust engine comes back as the edge to re-read.

use super::interner::Interner;
use super::slab::IdSlab;
use super::HashMap;
use guild_core::{PublicKey, RecordId, SkillTag, UnixTime};
use std::collections::{BTreeMap, BTreeSet};

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

/// A trust edge: (issuer, subject, skill).
pub(crate) type EdgeKey = (PublicKey, PublicKey, SkillTag);

/// Proof of equivocation: the two attestations signed with one sequence number.
pub(crate) type Proof = (RecordId, RecordId);

/// What removing an attestation leaves to do outside this sub-state.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Removed {
    /// The edge it counted on (re-read it into the trust engine).
    pub edge: Option<EdgeKey>,
    /// The attestation that became the latest in its place (re-evaluate it).
    pub next_latest: Option<RecordId>,
}

/// No attestation (the end of an edge's list).
const NONE: u32 = u32::MAX;

/// Attestations, what counts, edges, equivocators and revocations.
///
/// Every held attestation sits in a slab slot named by a 4-byte handle (`state/slab.rs`), and
/// every index names it by that handle; members (issuers and subjects), skills and cited
/// collaborations are interned as 4-byte slots (`state/interner.rs`). Orders that break ties by
/// id still do: the id is read back through the handle (at insertion for `latest` and the
/// edges, when answering for the per-key lists, which are sorted then). With 32-byte ids in
/// every index these took 56 MB at 10^5 attestations (BENCHMARKS.md, sixth round).
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Attestations {
    /// Attestations by id, each with whether it counts now.
    atts: IdSlab<Held>,
    /// Issuers and subjects.
    members: Interner<PublicKey>,
    /// Skills attested.
    skills: Interner<SkillTag>,
    /// Collaborations cited.
    collabs: Interner<RecordId>,
    /// The latest attestation (handle) per (issuer, subject, collaboration) slots: the highest
    /// (sequence, id).
    latest: HashMap<(u32, u32, u32), u32>,
    /// (collaboration slot, handle): the attestations citing a collaboration.
    by_collab: BTreeSet<(u32, u32)>,
    /// (subject slot, handle): the attestations about a member.
    by_subject: BTreeSet<(u32, u32)>,
    /// (issuer slot, sequence, handle): an issuer's attestations by sequence; two under one
    /// sequence are an equivocation.
    by_issuer: BTreeSet<(u32, u64, u32)>,
    /// Per trust edge (issuer, subject, skill slots), its newest counted attestation (handle);
    /// the edge's other counted attestations follow it through [`Held::next_on_edge`], newest
    /// (issued at, id) first. (Usually one per edge; an edge with none is not here.)
    edges: HashMap<(u32, u32, u32), u32>,
    /// How many attestations count now.
    counted: usize,
    /// Issuers caught signing two attestations with one sequence number, with the proof.
    equivocators: BTreeMap<PublicKey, Proof>,
    /// Applied revocations: target → the revocation (always signed by the target's issuer).
    revoked: HashMap<RecordId, RecordId>,
    /// Revocation → its target.
    revocation_of: HashMap<RecordId, RecordId>,
}

/// A held attestation, its keys by slot, and whether it counts now (48 bytes).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Held {
    issuer: u32,
    subject: u32,
    skill: u32,
    collab: u32,
    /// The next older counted attestation on its edge ([`NONE`]: the last, or not counted).
    next_on_edge: u32,
    seq: u64,
    issued_at: UnixTime,
    expires_at: UnixTime,
    score: i8,
    counted: bool,
}

impl Held {
    fn latest_key(&self) -> (u32, u32, u32) {
        (self.issuer, self.subject, self.collab)
    }

    fn edge_key(&self) -> (u32, u32, u32) {
        (self.issuer, self.subject, self.skill)
    }
}

/// The handles of a range of a B-tree index, ordered by their ids (the order the indexes
/// of 32-byte ids gave).
fn sorted_by_id(atts: &IdSlab<Held>, mut handles: Vec<u32>) -> impl Iterator<Item = &RecordId> {
    handles.sort_unstable_by_key(|&h| atts.id_of(h));
    handles.into_iter().map(move |h| atts.id_of(h))
}

impl Attestations {
    /// (sequence, id) of a held attestation, the order of `latest`.
    fn seq_order(&self, h: u32) -> (u64, &RecordId) {
        (self.atts.get(h).map_or(0, |x| x.seq), self.atts.id_of(h))
    }

    /// (issued at, id) of a held attestation, the order on an edge.
    fn edge_order(&self, h: u32) -> (UnixTime, &RecordId) {
        (
            self.atts.get(h).map_or(0, |x| x.issued_at),
            self.atts.id_of(h),
        )
    }

    fn next_on_edge(&self, h: u32) -> u32 {
        self.atts.get(h).map_or(NONE, |x| x.next_on_edge)
    }

    fn set_next_on_edge(&mut self, h: u32, next: u32) {
        if let Some(x) = self.atts.get_mut(h) {
            x.next_on_edge = next;
        }
    }

    /// Indexes a held attestation. Returns the attestation that was the latest for its
    /// (issuer, subject, collaboration) before, when there was another one: re-evaluate it
    /// (the new one may supersede it).
    pub fn insert(&mut self, id: RecordId, a: AttInfo) -> Option<RecordId> {
        if let Some(h) = self.atts.handle(&id) {
            // The same record again (an id is its content's): every index has it already.
            let key = self.atts.get(h)?.latest_key();
            let previous = self.latest.get(&key).map(|&l| *self.atts.id_of(l));
            return previous.filter(|pid| *pid != id);
        }
        let held = Held {
            issuer: self.members.acquire(&a.issuer),
            subject: self.members.acquire(&a.subject),
            skill: self.skills.acquire(&a.skill),
            collab: self.collabs.acquire(&a.collab),
            next_on_edge: NONE,
            seq: a.seq,
            issued_at: a.issued_at,
            expires_at: a.expires_at,
            score: a.score,
            counted: false,
        };
        let h = self.atts.insert(id, held);
        let key = held.latest_key();
        let previous = self.latest.get(&key).copied();
        if previous.is_none_or(|p| (a.seq, &id) > self.seq_order(p)) {
            self.latest.insert(key, h);
        }
        self.by_collab.insert((held.collab, h));
        self.by_subject.insert((held.subject, h));
        self.by_issuer.insert((held.issuer, held.seq, h));
        previous.map(|p| *self.atts.id_of(p))
    }

    fn release(&mut self, h: &Held) {
        self.members.release(h.issuer);
        self.members.release(h.subject);
        self.skills.release(h.skill);
        self.collabs.release(h.collab);
    }

    /// Forgets an attestation everywhere (uncounting it first). `None` when it was not held.
    pub fn remove(&mut self, id: &RecordId) -> Option<Removed> {
        let edge = self.set_counted(id, false);
        let h = self.atts.handle(id)?;
        let held = *self.atts.get(h)?;
        self.by_collab.remove(&(held.collab, h));
        self.by_subject.remove(&(held.subject, h));
        self.by_issuer.remove(&(held.issuer, held.seq, h));
        let key = held.latest_key();
        let mut next_latest = None;
        if self.latest.get(&key) == Some(&h) {
            // The next latest among the issuer's remaining attestations about that pair.
            let next = self
                .by_issuer
                .range((held.issuer, 0, 0)..=(held.issuer, u64::MAX, u32::MAX))
                .map(|&(_, _, x)| x)
                .filter(|&x| self.atts.get(x).is_some_and(|o| o.latest_key() == key))
                .max_by(|&x, &y| self.seq_order(x).cmp(&self.seq_order(y)));
            match next {
                Some(n) => {
                    self.latest.insert(key, n);
                    next_latest = Some(*self.atts.id_of(n));
                }
                None => {
                    self.latest.remove(&key);
                }
            }
        }
        // Only now is the handle free for another attestation: no index names it any more.
        self.atts.remove(id);
        self.release(&held);
        Some(Removed { edge, next_latest })
    }

    /// Marks a held attestation as counting or not. Returns the edge whose newest attestation
    /// may have changed when the mark did change (re-read it with [`Attestations::newest_on`]).
    pub fn set_counted(&mut self, id: &RecordId, counts: bool) -> Option<EdgeKey> {
        let h = self.atts.handle(id)?;
        let held = self.atts.get_mut(h)?;
        if held.counted == counts {
            return None;
        }
        held.counted = counts;
        let x = *held;
        if counts {
            self.counted += 1;
            self.link_on_edge(h, x.edge_key());
        } else {
            self.counted -= 1;
            self.unlink_from_edge(h, x.edge_key());
        }
        Some((
            *self.members.key(x.issuer),
            *self.members.key(x.subject),
            self.skills.key(x.skill).clone(),
        ))
    }

    /// Puts a newly counted attestation on its edge's list, in (issued at, id) order, newest
    /// first. The walk is over the edge's own counted attestations (usually none or one).
    fn link_on_edge(&mut self, h: u32, key: (u32, u32, u32)) {
        let head = self.edges.get(&key).copied().unwrap_or(NONE);
        let (mut prev, mut cur) = (NONE, head);
        while cur != NONE && self.edge_order(cur) > self.edge_order(h) {
            prev = cur;
            cur = self.next_on_edge(cur);
        }
        self.set_next_on_edge(h, cur);
        if prev == NONE {
            self.edges.insert(key, h);
        } else {
            self.set_next_on_edge(prev, h);
        }
    }

    /// Takes an attestation off its edge's list; an edge left with none is forgotten.
    fn unlink_from_edge(&mut self, h: u32, key: (u32, u32, u32)) {
        let Some(&head) = self.edges.get(&key) else {
            return;
        };
        let next = self.next_on_edge(h);
        self.set_next_on_edge(h, NONE);
        if head == h {
            if next == NONE {
                self.edges.remove(&key);
            } else {
                self.edges.insert(key, next);
            }
            return;
        }
        let mut prev = head;
        while prev != NONE {
            let cur = self.next_on_edge(prev);
            if cur == h {
                self.set_next_on_edge(prev, next);
                return;
            }
            prev = cur;
        }
    }

    /// The slots of an edge's keys, when all are held.
    fn edge_slots(&self, key: &EdgeKey) -> Option<(u32, u32, u32)> {
        Some((
            self.members.find(&key.0)?,
            self.members.find(&key.1)?,
            self.skills.find(&key.2)?,
        ))
    }

    /// The newest counted attestation on an edge, as (issued at, score); `None` when the edge
    /// has none.
    pub fn newest_on(&mut self, key: &EdgeKey) -> Option<(UnixTime, i8)> {
        let slots = self.edge_slots(key)?;
        let h = *self.edges.get(&slots)?;
        self.atts.get(h).map(|x| (x.issued_at, x.score))
    }

    /// A held attestation.
    pub fn get(&self, id: &RecordId) -> Option<AttInfo> {
        let h = self.atts.get(self.atts.handle(id)?)?;
        Some(AttInfo {
            issuer: *self.members.key(h.issuer),
            subject: *self.members.key(h.subject),
            skill: self.skills.key(h.skill).clone(),
            score: h.score,
            collab: *self.collabs.key(h.collab),
            seq: h.seq,
            issued_at: h.issued_at,
            expires_at: h.expires_at,
        })
    }

    /// How many attestations are held.
    pub fn len(&self) -> usize {
        self.atts.len()
    }

    /// Every held attestation's id.
    pub fn ids(&self) -> impl Iterator<Item = &RecordId> {
        self.atts.ids()
    }

    /// Whether an attestation counts now.
    pub fn is_counted(&self, id: &RecordId) -> bool {
        self.atts
            .handle(id)
            .and_then(|h| self.atts.get(h))
            .is_some_and(|h| h.counted)
    }

    /// How many attestations count now.
    pub fn counted_len(&self) -> usize {
        self.counted
    }

    /// Whether `id` is the latest of its issuer about its subject in its collaboration.
    pub fn is_latest(&self, id: &RecordId, a: &AttInfo) -> bool {
        let key = (|| {
            Some((
                self.members.find(&a.issuer)?,
                self.members.find(&a.subject)?,
                self.collabs.find(&a.collab)?,
            ))
        })();
        key.and_then(|k| self.latest.get(&k))
            .is_some_and(|&l| self.atts.id(l) == Some(id))
    }

    /// The attestations citing a collaboration, in id order.
    pub fn citing(&self, collab: &RecordId) -> impl Iterator<Item = &RecordId> {
        let handles = match self.collabs.find(collab) {
            Some(c) => self
                .by_collab
                .range((c, 0)..=(c, u32::MAX))
                .map(|&(_, h)| h)
                .collect(),
            None => Vec::new(),
        };
        sorted_by_id(&self.atts, handles)
    }

    /// The attestations about a member, in id order.
    pub fn about(&self, subject: &PublicKey) -> impl Iterator<Item = &RecordId> {
        let handles = match self.members.find(subject) {
            Some(s) => self
                .by_subject
                .range((s, 0)..=(s, u32::MAX))
                .map(|&(_, h)| h)
                .collect(),
            None => Vec::new(),
        };
        sorted_by_id(&self.atts, handles)
    }

    /// An issuer's attestations with a sequence in `seqs`, in (sequence, id) order.
    fn issued(
        &self,
        issuer: &PublicKey,
        seqs: std::ops::RangeInclusive<u64>,
    ) -> impl Iterator<Item = &RecordId> {
        let mut handles: Vec<(u64, u32)> = match self.members.find(issuer) {
            Some(i) => self
                .by_issuer
                .range((i, *seqs.start(), 0)..=(i, *seqs.end(), u32::MAX))
                .map(|&(_, seq, h)| (seq, h))
                .collect(),
            None => Vec::new(),
        };
        // Already in sequence order: only ties within one sequence (an equivocation) move.
        handles.sort_by_key(|&(seq, h)| (seq, self.atts.id_of(h)));
        handles.into_iter().map(|(_, h)| self.atts.id_of(h))
    }

    /// The attestations a member issued, in (sequence, id) order.
    pub fn by(&self, issuer: &PublicKey) -> impl Iterator<Item = &RecordId> {
        self.issued(issuer, 0..=u64::MAX)
    }

    /// The attestations an issuer signed with one sequence number.
    pub fn with_seq(&self, issuer: &PublicKey, seq: u64) -> impl Iterator<Item = &RecordId> {
        self.issued(issuer, seq..=seq)
    }

    /// How many (issuer, sequence) slots are held.
    #[cfg(test)]
    pub fn seq_slots(&self) -> usize {
        let mut slots: Vec<(u32, u64)> = self.by_issuer.iter().map(|&(i, s, _)| (i, s)).collect();
        slots.dedup();
        slots.len()
    }

    /// Every member on a trust edge from counted attestations (issuer and subject).
    pub fn edge_members(&self) -> impl Iterator<Item = &PublicKey> {
        self.edges
            .keys()
            .flat_map(|(i, s, _)| [self.members.key(*i), self.members.key(*s)])
    }

    /// Every skill some trust edge from counted attestations carries.
    pub fn edge_skills(&self) -> impl Iterator<Item = &SkillTag> {
        self.edges.keys().map(|(_, _, s)| self.skills.key(*s))
    }

    /// Fills the nodes of the B-tree indexes (after a load; see [`super::small::compact`]).
    pub fn compact(&mut self) {
        super::small::compact(&mut self.by_collab);
        super::small::compact(&mut self.by_subject);
        super::small::compact(&mut self.by_issuer);
    }

    /// The proof against an issuer who equivocated.
    pub fn equivocation(&self, issuer: &PublicKey) -> Option<&Proof> {
        self.equivocators.get(issuer)
    }

    /// Every equivocator with its proof.
    pub fn equivocators(&self) -> &BTreeMap<PublicKey, Proof> {
        &self.equivocators
    }

    /// Records an equivocation. Returns whether the issuer is newly caught.
    pub fn mark_equivocator(&mut self, issuer: PublicKey, proof: Proof) -> bool {
        self.equivocators.insert(issuer, proof).is_none()
    }

    /// Replaces the equivocators (start-up, from the store).
    pub fn set_equivocators(&mut self, all: BTreeMap<PublicKey, Proof>) {
        self.equivocators = all;
    }

    /// Applies a revocation of `target`.
    pub fn revoke(&mut self, target: RecordId, revocation: RecordId) {
        self.revoked.insert(target, revocation);
        self.revocation_of.insert(revocation, target);
    }

    /// Forgets a revocation (it expired). Returns the target it applied to.
    pub fn unrevoke(&mut self, revocation: &RecordId) -> Option<RecordId> {
        let target = self.revocation_of.remove(revocation)?;
        self.revoked.remove(&target);
        Some(target)
    }

    /// Whether a record (of any kind) is revoked.
    pub fn is_revoked(&self, target: &RecordId) -> bool {
        self.revoked.contains_key(target)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use guild_core::fixtures::{identity, tag};

    fn info(seq: u64, issued_at: UnixTime, score: i8) -> AttInfo {
        AttInfo {
            issuer: identity(1).public(),
            subject: identity(2).public(),
            skill: tag("kicad"),
            score,
            collab: RecordId([9; 32]),
            seq,
            issued_at,
            expires_at: issued_at + 100,
        }
    }

    fn edge() -> EdgeKey {
        (identity(1).public(), identity(2).public(), tag("kicad"))
    }

    #[test]
    fn a_later_sequence_becomes_latest_and_removal_hands_latest_back() {
        let mut s = Attestations::default();
        let (a, b) = (RecordId([1; 32]), RecordId([2; 32]));
        assert_eq!(s.insert(a, info(1, 10, 3)), None);
        assert_eq!(
            s.insert(b, info(2, 20, 5)),
            Some(a),
            "a is to be re-evaluated"
        );
        assert!(s.is_latest(&b, &info(2, 20, 5)));
        assert!(!s.is_latest(&a, &info(1, 10, 3)));
        assert_eq!(s.citing(&RecordId([9; 32])).count(), 2);
        let removed = s.remove(&b).unwrap();
        assert_eq!(removed.next_latest, Some(a));
        assert_eq!(removed.edge, None, "b never counted");
        assert!(s.is_latest(&a, &info(1, 10, 3)));
        s.remove(&a).unwrap();
        assert!(s.remove(&a).is_none());
        assert_eq!(s.citing(&RecordId([9; 32])).count(), 0);
        assert_eq!(s.about(&identity(2).public()).count(), 0);
        assert_eq!(s.by(&identity(1).public()).count(), 0);
        assert_eq!(s.seq_slots(), 0, "no empty sets are left behind");
    }

    #[test]
    fn counting_puts_the_newest_on_its_edge_and_uncounting_forgets_an_empty_edge() {
        let mut s = Attestations::default();
        let (a, b) = (RecordId([1; 32]), RecordId([2; 32]));
        s.insert(a, info(1, 10, 3));
        s.insert(b, info(2, 20, 5));
        assert_eq!(s.set_counted(&a, true), Some(edge()));
        assert_eq!(
            s.set_counted(&a, true),
            None,
            "no change, nothing to re-read"
        );
        assert_eq!(s.newest_on(&edge()), Some((10, 3)));
        s.set_counted(&b, true);
        assert_eq!(s.newest_on(&edge()), Some((20, 5)));
        assert_eq!(s.counted_len(), 2);
        assert_eq!(s.remove(&b).unwrap().edge, Some(edge()));
        assert_eq!(s.newest_on(&edge()), Some((10, 3)));
        s.set_counted(&a, false);
        assert_eq!(s.newest_on(&edge()), None);
        assert_eq!(s.edge_members().count(), 0, "the empty edge is forgotten");
        assert_eq!(s.set_counted(&RecordId([3; 32]), true), None, "not held");
    }

    #[test]
    fn an_issuers_attestations_answer_by_sequence_from_one_ordered_set() {
        let mut s = Attestations::default();
        let (a, b, c) = (RecordId([3; 32]), RecordId([2; 32]), RecordId([1; 32]));
        s.insert(a, info(1, 10, 3));
        s.insert(b, info(2, 11, 4));
        s.insert(c, info(2, 12, 5));
        let issuer = identity(1).public();
        assert_eq!(s.by(&issuer).copied().collect::<Vec<_>>(), vec![a, c, b]);
        assert_eq!(s.with_seq(&issuer, 1).copied().collect::<Vec<_>>(), vec![a]);
        assert_eq!(s.with_seq(&issuer, 2).count(), 2);
        assert_eq!(s.with_seq(&issuer, 3).count(), 0);
        assert_eq!(s.with_seq(&identity(2).public(), 1).count(), 0);
        assert_eq!(s.seq_slots(), 2);
        s.remove(&c).unwrap();
        assert_eq!(s.with_seq(&issuer, 2).copied().collect::<Vec<_>>(), vec![b]);
    }

    #[test]
    fn interned_keys_live_as_long_as_an_attestation_names_them() {
        let mut s = Attestations::default();
        let (a, b) = (RecordId([1; 32]), RecordId([2; 32]));
        s.insert(a, info(1, 10, 3));
        assert_eq!(s.insert(a, info(1, 10, 3)), None, "the same record again");
        let other = AttInfo {
            subject: identity(3).public(),
            skill: tag("rust"),
            collab: RecordId([8; 32]),
            ..info(2, 20, 4)
        };
        s.insert(b, other.clone());
        assert_eq!(
            (s.members.len(), s.skills.len(), s.collabs.len()),
            (3, 2, 2)
        );
        assert_eq!(s.get(&b), Some(other.clone()));
        assert_eq!(s.get(&a), Some(info(1, 10, 3)));
        s.set_counted(&b, true);
        s.remove(&a).unwrap();
        assert_eq!(
            (s.members.len(), s.skills.len(), s.collabs.len()),
            (2, 1, 1)
        );
        // The freed slots are reused by new keys; b's edge and indexes still name its own.
        let c = RecordId([3; 32]);
        let third = AttInfo {
            issuer: identity(4).public(),
            subject: identity(5).public(),
            skill: tag("zig"),
            collab: RecordId([7; 32]),
            ..info(1, 30, 2)
        };
        s.insert(c, third.clone());
        s.set_counted(&c, true);
        assert_eq!(s.get(&b), Some(other.clone()));
        assert_eq!(s.get(&c), Some(third));
        let edge_b = (other.issuer, other.subject, other.skill.clone());
        assert_eq!(s.newest_on(&edge_b), Some((20, 4)));
        assert!(s.newest_on(&edge()).is_none(), "a's edge is gone");
        let mut skills: Vec<_> = s.edge_skills().map(|t| t.to_string()).collect();
        skills.sort();
        assert_eq!(skills, ["rust", "zig"]);
        assert_eq!(s.citing(&RecordId([9; 32])).count(), 0);
        assert_eq!(
            s.citing(&RecordId([7; 32])).copied().collect::<Vec<_>>(),
            vec![c]
        );
        s.remove(&b).unwrap();
        s.remove(&c).unwrap();
        assert_eq!(
            (s.members.len(), s.skills.len(), s.collabs.len()),
            (0, 0, 0)
        );
        assert_eq!(s.edge_members().count(), 0);
    }

    #[test]
    fn a_revocation_and_its_target_come_and_go_together() {
        let mut s = Attestations::default();
        let (t, r) = (RecordId([1; 32]), RecordId([2; 32]));
        s.revoke(t, r);
        assert!(s.is_revoked(&t));
        assert_eq!(s.unrevoke(&t), None, "a target is not a revocation");
        assert_eq!(s.unrevoke(&r), Some(t));
        assert!(!s.is_revoked(&t));
    }

    #[test]
    fn one_sequence_twice_is_visible_and_an_equivocator_is_caught_once() {
        let mut s = Attestations::default();
        let (a, b) = (RecordId([1; 32]), RecordId([2; 32]));
        s.insert(a, info(1, 10, 3));
        s.insert(b, info(1, 11, 4));
        assert_eq!(s.with_seq(&identity(1).public(), 1).count(), 2);
        assert!(s.mark_equivocator(identity(1).public(), (a, b)));
        assert!(!s.mark_equivocator(identity(1).public(), (a, b)));
        assert_eq!(s.equivocation(&identity(1).public()), Some(&(a, b)));
    }

    /// Every index agrees with a plain recomputation from the held attestations.
    fn check_consistent(s: &Attestations, held: &[(RecordId, AttInfo)]) {
        assert_eq!(s.len(), held.len());
        for (id, a) in held {
            assert_eq!(s.get(id).as_ref(), Some(a));
            let latest = held
                .iter()
                .filter(|(_, o)| (o.issuer, o.subject, o.collab) == (a.issuer, a.subject, a.collab))
                .map(|(x, o)| (o.seq, *x))
                .max()
                .map(|(_, x)| x);
            assert_eq!(s.is_latest(id, a), latest == Some(*id), "latest of {id:?}");
            let mut citing: Vec<RecordId> = held
                .iter()
                .filter(|(_, o)| o.collab == a.collab)
                .map(|(x, _)| *x)
                .collect();
            citing.sort();
            assert_eq!(s.citing(&a.collab).copied().collect::<Vec<_>>(), citing);
            let mut about: Vec<RecordId> = held
                .iter()
                .filter(|(_, o)| o.subject == a.subject)
                .map(|(x, _)| *x)
                .collect();
            about.sort();
            assert_eq!(s.about(&a.subject).copied().collect::<Vec<_>>(), about);
            let mut by: Vec<(u64, RecordId)> = held
                .iter()
                .filter(|(_, o)| o.issuer == a.issuer)
                .map(|(x, o)| (o.seq, *x))
                .collect();
            by.sort();
            assert_eq!(
                s.by(&a.issuer).copied().collect::<Vec<_>>(),
                by.iter().map(|(_, x)| *x).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn ties_in_sequence_and_time_break_by_id_whatever_the_handles() {
        let mut s = Attestations::default();
        // Inserted greatest id first: the handles run opposite to the ids.
        let (hi, mid, lo) = (RecordId([9; 32]), RecordId([5; 32]), RecordId([1; 32]));
        s.insert(hi, info(4, 10, 1));
        s.insert(mid, info(4, 10, 2));
        s.insert(lo, info(4, 10, 3));
        assert!(
            s.is_latest(&hi, &info(4, 10, 1)),
            "(seq, id): the greatest id"
        );
        let issuer = identity(1).public();
        assert_eq!(
            s.with_seq(&issuer, 4).copied().collect::<Vec<_>>(),
            vec![lo, mid, hi]
        );
        assert_eq!(
            s.citing(&RecordId([9; 32])).copied().collect::<Vec<_>>(),
            vec![lo, mid, hi]
        );
        // On one edge, one issued-at: the greatest id is the newest, in any counting order.
        s.set_counted(&mid, true);
        s.set_counted(&hi, true);
        s.set_counted(&lo, true);
        assert_eq!(s.newest_on(&edge()), Some((10, 1)));
        s.set_counted(&hi, false);
        assert_eq!(s.newest_on(&edge()), Some((10, 2)));
        s.set_counted(&hi, true);
        s.set_counted(&mid, false);
        assert_eq!(s.newest_on(&edge()), Some((10, 1)));
        s.set_counted(&hi, false);
        assert_eq!(s.newest_on(&edge()), Some((10, 3)));
        let removed = s.remove(&hi).unwrap();
        assert_eq!(removed.next_latest, Some(mid), "the next (seq, id)");
        assert_eq!(removed.edge, None, "hi no longer counted");
        assert_eq!(s.remove(&lo).unwrap().edge, Some(edge()));
        assert_eq!(s.newest_on(&edge()), None);
    }

    #[test]
    fn an_edge_keeps_its_counted_attestations_newest_first_through_removals() {
        let mut s = Attestations::default();
        let ids: Vec<RecordId> = (1..=6).map(|i| RecordId([i; 32])).collect();
        let times = [30, 10, 50, 20, 40, 60];
        for (i, id) in ids.iter().enumerate() {
            s.insert(*id, info(i as u64, times[i], i as i8));
        }
        for i in [3, 0, 5, 1, 4, 2] {
            s.set_counted(&ids[i], true);
        }
        assert_eq!(s.counted_len(), 6);
        assert_eq!(s.newest_on(&edge()), Some((60, 5)));
        // Out of the middle, the head and the tail.
        s.set_counted(&ids[4], false);
        s.remove(&ids[5]).unwrap();
        assert_eq!(s.newest_on(&edge()), Some((50, 2)));
        s.set_counted(&ids[1], false);
        s.remove(&ids[2]).unwrap();
        assert_eq!(s.newest_on(&edge()), Some((30, 0)));
        s.set_counted(&ids[0], false);
        assert_eq!(s.newest_on(&edge()), Some((20, 3)));
        s.set_counted(&ids[3], false);
        assert_eq!(s.newest_on(&edge()), None);
        assert_eq!(s.counted_len(), 0);
        assert_eq!(s.edge_members().count(), 0);
    }

    #[test]
    fn a_reused_handle_brings_back_nothing_of_the_attestation_it_named() {
        let mut s = Attestations::default();
        let (a, b, c) = (RecordId([1; 32]), RecordId([2; 32]), RecordId([3; 32]));
        s.insert(a, info(1, 10, 3));
        s.insert(b, info(2, 20, 5));
        s.set_counted(&b, true);
        // b expires: its handle is freed and taken by c, about other members, skill and
        // collaboration, with b's own sequence.
        let removed = s.remove(&b).unwrap();
        assert_eq!(removed.edge, Some(edge()));
        assert_eq!(removed.next_latest, Some(a));
        let other = AttInfo {
            issuer: identity(3).public(),
            subject: identity(4).public(),
            skill: tag("rust"),
            collab: RecordId([7; 32]),
            ..info(2, 20, 5)
        };
        assert_eq!(s.insert(c, other.clone()), None, "nothing superseded");
        assert!(s.get(&b).is_none());
        assert!(!s.is_counted(&b) && !s.is_counted(&c));
        assert_eq!(s.newest_on(&edge()), None, "b's edge has no attestation");
        assert!(s.is_latest(&a, &info(1, 10, 3)));
        assert!(!s.is_latest(&b, &info(2, 20, 5)));
        assert_eq!(
            s.citing(&RecordId([9; 32])).copied().collect::<Vec<_>>(),
            vec![a]
        );
        assert_eq!(
            s.about(&identity(2).public()).copied().collect::<Vec<_>>(),
            vec![a]
        );
        assert_eq!(
            s.by(&identity(1).public()).copied().collect::<Vec<_>>(),
            vec![a]
        );
        assert_eq!(s.with_seq(&identity(1).public(), 2).count(), 0);
        assert_eq!(
            s.by(&identity(3).public()).copied().collect::<Vec<_>>(),
            vec![c]
        );
        s.set_counted(&c, true);
        let edge_c = (other.issuer, other.subject, other.skill.clone());
        assert_eq!(s.newest_on(&edge_c), Some((20, 5)));
        check_consistent(&s, &[(a, info(1, 10, 3)), (c, other)]);
    }

    /// Random adds, supersessions, counting and removals, checked against a recomputation
    /// after every step.
    #[test]
    fn random_operations_keep_every_index_in_step() {
        let mut s = Attestations::default();
        let mut held: Vec<(RecordId, AttInfo)> = Vec::new();
        let mut x: u64 = 0x9e37_79b9;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for step in 0..1500u32 {
            let r = next();
            if r % 5 < 3 || held.is_empty() {
                let mut idb = [0u8; 32];
                idb[..8].copy_from_slice(&next().to_le_bytes());
                let id = RecordId(idb);
                let a = AttInfo {
                    issuer: identity((r % 3) as u8 + 1).public(),
                    subject: identity((r / 3 % 3) as u8 + 4).public(),
                    skill: tag(["a", "b"][(r / 9 % 2) as usize]),
                    score: (r % 7) as i8,
                    collab: RecordId([(r / 18 % 3) as u8; 32]),
                    seq: r / 54 % 4,
                    issued_at: r / 216 % 5,
                    expires_at: 100,
                };
                s.insert(id, a.clone());
                held.push((id, a));
            } else if r % 5 == 3 {
                let (id, _) = held.swap_remove((next() as usize) % held.len());
                assert!(s.remove(&id).is_some());
            } else {
                let (id, _) = &held[(next() as usize) % held.len()];
                s.set_counted(id, next() % 2 == 0);
            }
            if step % 50 == 0 {
                check_consistent(&s, &held);
            }
            // Every edge's newest is the greatest (issued at, id) among its counted.
            let mut newest: BTreeMap<(PublicKey, PublicKey, String), (UnixTime, RecordId, i8)> =
                BTreeMap::new();
            for (id, a) in &held {
                if s.is_counted(id) {
                    let k = (a.issuer, a.subject, a.skill.to_string());
                    let v = (a.issued_at, *id, a.score);
                    if newest.get(&k).is_none_or(|o| (o.0, o.1) < (v.0, v.1)) {
                        newest.insert(k, v);
                    }
                }
            }
            assert_eq!(s.edge_members().count(), 2 * newest.len());
            for ((i, sub, skill), (at, _, score)) in newest {
                assert_eq!(s.newest_on(&(i, sub, tag(&skill))), Some((at, score)));
            }
        }
        check_consistent(&s, &held);
        for (id, _) in held.drain(..) {
            s.remove(&id).unwrap();
        }
        assert_eq!((s.len(), s.counted_len(), s.seq_slots()), (0, 0, 0));
        assert_eq!(
            (s.members.len(), s.skills.len(), s.collabs.len()),
            (0, 0, 0)
        );
    }
}
