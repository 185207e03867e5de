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
use super::small::SmallSet;
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

/// Attestations, what counts, edges, equivocators and revocations.
///
/// Members (issuers and subjects), skills and cited collaborations are interned as 4-byte
/// slots (`state/interner.rs`): the table by id and the keys of `latest`, `by_collab` and
/// `edges` name them by slot. (With 32-byte keys these four took 66 MB at 10^5 attestations.)
#[derive(Debug, Default)]
pub(crate) struct Attestations {
    /// Attestations by id, each with whether it counts now (a flag in the padding: a set of
    /// the counted ids took 10 MB at 10^5 attestations).
    atts: HashMap<RecordId, Held>,
    /// Issuers and subjects.
    members: Interner<PublicKey>,
    /// Skills attested.
    skills: Interner<SkillTag>,
    /// Collaborations cited.
    collabs: Interner<RecordId>,
    /// The latest attestation per (issuer, subject, collaboration) slots.
    latest: HashMap<(u32, u32, u32), (u64, RecordId)>,
    /// Attestation ids by the collaboration (slot) they cite.
    /// (A collaboration's attestations are a few per member: a small set.)
    by_collab: HashMap<u32, SmallSet<RecordId>>,
    /// Attestation ids by subject.
    by_subject: HashMap<PublicKey, BTreeSet<RecordId>>,
    /// Attestation ids by issuer, in (sequence, id) order: two under one sequence are an
    /// equivocation. (A table by (issuer, sequence) besides it took 11.7 MB at 10^5
    /// attestations; a range of this set answers the same question.)
    by_issuer: HashMap<PublicKey, BTreeSet<(u64, RecordId)>>,
    /// Counted attestations per trust edge (issuer, subject, skill slots), by (issued_at,
    /// id): the newest is the edge the trust engine holds. (Usually one per edge: a small
    /// set; an edge whose set empties is forgotten at once.)
    edges: HashMap<(u32, u32, u32), SmallSet<(UnixTime, RecordId)>>,
    /// How many attestations count now.
    counted: usize,
    /// Issuers caught signing two attestations with one sequence number, with the proof.
    equivocators: BTreeMap<PublicKey, Proof>,
    /// Applied revocations: target → the revocation (always signed by the target's issuer).
    revoked: HashMap<RecordId, RecordId>,
    /// Revocation → its target.
    revocation_of: HashMap<RecordId, RecordId>,
}

/// A held attestation, its keys by slot, and whether it counts now. 48 bytes where
/// [`AttInfo`] and the flag took 160 and a skill's string.
#[derive(Debug, Clone, Copy)]
struct Held {
    issuer: u32,
    subject: u32,
    skill: u32,
    collab: u32,
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

fn remove_from<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, BTreeSet<RecordId>>,
    key: &K,
    id: &RecordId,
) {
    if let Some(set) = map.get_mut(key) {
        set.remove(id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

fn ids<'a, K: std::hash::Hash + Eq>(
    map: &'a HashMap<K, BTreeSet<RecordId>>,
    key: &K,
) -> impl Iterator<Item = &'a RecordId> + 'a {
    map.get(key).into_iter().flatten()
}

impl Attestations {
    /// Indexes a held attestation. Returns the attestation that was the latest for its
    /// (issuer, subject, collaboration) before, when there was another one: re-evaluate it
    /// (the new one may supersede it).
    pub fn insert(&mut self, id: RecordId, a: AttInfo) -> Option<RecordId> {
        if let Some(h) = self.atts.get(&id) {
            // The same record again (an id is its content's): every index has it already.
            let previous = self.latest.get(&h.latest_key()).map(|(_, pid)| *pid);
            return previous.filter(|pid| *pid != id);
        }
        let held = Held {
            issuer: self.members.acquire(&a.issuer),
            subject: self.members.acquire(&a.subject),
            skill: self.skills.acquire(&a.skill),
            collab: self.collabs.acquire(&a.collab),
            seq: a.seq,
            issued_at: a.issued_at,
            expires_at: a.expires_at,
            score: a.score,
            counted: false,
        };
        let key = held.latest_key();
        let previous = self.latest.get(&key).copied();
        if previous.is_none_or(|(seq, pid)| (a.seq, id) > (seq, pid)) {
            self.latest.insert(key, (a.seq, id));
        }
        self.by_collab.entry(held.collab).or_default().insert(id);
        self.by_subject.entry(a.subject).or_default().insert(id);
        self.by_issuer
            .entry(a.issuer)
            .or_default()
            .insert((a.seq, id));
        self.atts.insert(id, held);
        previous.map(|(_, pid)| pid).filter(|pid| *pid != id)
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
        let h = self.atts.remove(id)?;
        let (issuer, subject) = (*self.members.key(h.issuer), *self.members.key(h.subject));
        if let Some(set) = self.by_collab.get_mut(&h.collab) {
            set.remove(id);
            if set.is_empty() {
                self.by_collab.remove(&h.collab);
            }
        }
        remove_from(&mut self.by_subject, &subject, id);
        if let Some(set) = self.by_issuer.get_mut(&issuer) {
            set.remove(&(h.seq, *id));
            if set.is_empty() {
                self.by_issuer.remove(&issuer);
            }
        }
        let key = h.latest_key();
        let mut next_latest = None;
        if self.latest.get(&key).map(|(_, l)| l) == Some(id) {
            // The next latest among the issuer's remaining attestations about that pair.
            let next = self
                .by(&issuer)
                .filter_map(|x| self.atts.get(x).map(|o| (x, o)))
                .filter(|(_, o)| o.latest_key() == key)
                .map(|(x, o)| (o.seq, *x))
                .max();
            match next {
                Some(n) => {
                    self.latest.insert(key, n);
                    next_latest = Some(n.1);
                }
                None => {
                    self.latest.remove(&key);
                }
            }
        }
        self.release(&h);
        Some(Removed { edge, next_latest })
    }

    /// Marks a held attestation as counting or not. Returns the edge whose newest attestation
    /// may have changed when the mark did change (re-read it with [`Attestations::newest_on`]).
    pub fn set_counted(&mut self, id: &RecordId, counts: bool) -> Option<EdgeKey> {
        let held = self.atts.get_mut(id)?;
        if held.counted == counts {
            return None;
        }
        held.counted = counts;
        let h = *held;
        let key = h.edge_key();
        if counts {
            self.counted += 1;
            self.edges
                .entry(key)
                .or_default()
                .insert((h.issued_at, *id));
        } else {
            self.counted -= 1;
            if let Some(set) = self.edges.get_mut(&key) {
                set.remove(&(h.issued_at, *id));
                if set.is_empty() {
                    self.edges.remove(&key);
                }
            }
        }
        Some((
            *self.members.key(h.issuer),
            *self.members.key(h.subject),
            self.skills.key(h.skill).clone(),
        ))
    }

    /// The slots of an edge's keys, when all are held.
    fn edge_slots(&self, key: &EdgeKey) -> Option<(u32, u32, u32)> {
        Some((
            self.members.find(&key.0)?,
            self.members.find(&key.1)?,
            self.skills.find(&key.2)?,
        ))
    }

    /// The newest counted attestation on an edge, as (issued at, score); an edge with none is
    /// forgotten.
    pub fn newest_on(&mut self, key: &EdgeKey) -> Option<(UnixTime, i8)> {
        let slots = self.edge_slots(key)?;
        let newest = self
            .edges
            .get(&slots)
            .and_then(|s| s.last().copied())
            .and_then(|(at, id)| self.atts.get(&id).map(|h| (at, h.score)));
        if newest.is_none() {
            self.edges.remove(&slots);
        }
        newest
    }

    /// A held attestation.
    pub fn get(&self, id: &RecordId) -> Option<AttInfo> {
        self.atts.get(id).map(|h| AttInfo {
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
        self.atts.keys()
    }

    /// Whether an attestation counts now.
    pub fn is_counted(&self, id: &RecordId) -> bool {
        self.atts.get(id).is_some_and(|h| h.counted)
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
        key.and_then(|k| self.latest.get(&k)).map(|(_, l)| l) == Some(id)
    }

    /// The attestations citing a collaboration.
    pub fn citing(&self, collab: &RecordId) -> impl Iterator<Item = &RecordId> {
        self.collabs
            .find(collab)
            .and_then(|c| self.by_collab.get(&c))
            .into_iter()
            .flatten()
    }

    /// The attestations about a member.
    pub fn about(&self, subject: &PublicKey) -> impl Iterator<Item = &RecordId> {
        ids(&self.by_subject, subject)
    }

    /// The attestations a member issued, in (sequence, id) order.
    pub fn by(&self, issuer: &PublicKey) -> impl Iterator<Item = &RecordId> {
        self.by_issuer
            .get(issuer)
            .into_iter()
            .flatten()
            .map(|(_, id)| id)
    }

    /// The attestations an issuer signed with one sequence number.
    pub fn with_seq(&self, issuer: &PublicKey, seq: u64) -> impl Iterator<Item = &RecordId> {
        let range = (seq, RecordId([0; 32]))..=(seq, RecordId([u8::MAX; 32]));
        self.by_issuer
            .get(issuer)
            .into_iter()
            .flat_map(move |set| set.range(range.clone()))
            .map(|(_, id)| id)
    }

    /// How many (issuer, sequence) slots are held.
    #[cfg(test)]
    pub fn seq_slots(&self) -> usize {
        self.by_issuer
            .values()
            .map(|set| {
                let mut seqs: Vec<u64> = set.iter().map(|(seq, _)| *seq).collect();
                seqs.dedup();
                seqs.len()
            })
            .sum()
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
}
