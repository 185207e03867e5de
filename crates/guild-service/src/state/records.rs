//! Records and expiry: the envelope of every stored record, the expiry order the sweep walks, the
//! record id of each member's current profile, and the sync keys of the public kinds with their
//! running count and XOR.
//!
//! Invariants kept here: every envelope is in the expiry order once, under its expiry; a public
//! kind's envelope has exactly one sync key and is counted once in its kind's total; a profile id
//! is held only while its envelope is.

use super::slab::IdSlab;
use super::HashMap;
use guild_core::wire::SyncKey;
use guild_core::{PublicKey, RecordId, RecordKind, UnixTime};
use std::collections::BTreeSet;

/// What is remembered of every stored record (profiles included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Count and XOR of a set of ids, updated one id at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// An envelope as held: the signer by its slot in [`Signers`], and admission's accounting of
/// the record (its stored size and whether it sits in a strangers' pool) beside it. 32 bytes
/// where [`Meta`] is 56; admission kept the accounting in a table of its own by id before
/// (40 bytes a slot, a second copy of every accounted id: 19–21 MB at 10^5 attestations).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Held {
    signer: u32,
    /// The stored size admission accounted (meaningful when `accounted`).
    size: u32,
    issued_at: UnixTime,
    expires_at: UnixTime,
    kind: RecordKind,
    /// Whether admission accounted it against its signer's quota.
    accounted: bool,
    /// Whether it sits in a strangers' pool (only when `accounted`).
    pooled: bool,
}

/// Admission's accounting of one held record: its stored size and whether it is pooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Accounting {
    pub size: u32,
    pub pooled: bool,
}

/// Signers interned: each key once, with how many held envelopes name it; a slot whose count
/// falls to zero is freed and reused.
type Signers = super::interner::Interner<PublicKey>;

/// Every held envelope in a slot of a dense vector (64 bytes each, freed slots reused), found
/// by id through a table of 4-byte slot numbers ([`IdSlab`]). A `HashMap<RecordId, Held>` kept
/// the 64-byte entries in the table's own buckets: 2^19 of them at 2.6·10^5 records, just past
/// a doubling (34 MB, half of it empty); here the empty buckets cost 5 bytes each, and the slots
/// grow by a chunk at a time, not by doubling (BENCHMARKS.md, "The loaded daemon", sixth and
/// seventh rounds).
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Envelopes {
    slab: IdSlab<Held>,
}

impl Envelopes {
    fn slot_of(&self, id: &RecordId) -> Option<u32> {
        self.slab.handle(id)
    }

    fn get(&self, id: &RecordId) -> Option<&Held> {
        self.slab.get(self.slab.handle(id)?)
    }

    fn get_mut(&mut self, id: &RecordId) -> Option<&mut Held> {
        let s = self.slab.handle(id)?;
        self.slab.get_mut(s)
    }

    /// The id held in a slot (`None`: the slot is free).
    fn id(&self, s: u32) -> Option<RecordId> {
        self.slab.id(s).copied()
    }

    /// Holds a new envelope (the id is not held) and gives its slot.
    fn insert(&mut self, id: RecordId, held: Held) -> u32 {
        self.slab.insert(id, held)
    }

    /// Lets go of an envelope: its slot and what it held.
    fn remove(&mut self, id: &RecordId) -> Option<(u32, Held)> {
        self.slab.remove(id)
    }

    fn len(&self) -> usize {
        self.slab.len()
    }

    fn iter(&self) -> impl Iterator<Item = (&RecordId, &Held)> + '_ {
        self.slab.iter()
    }
}

/// Every stored record's envelope and the orders kept over them.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Records {
    /// Every stored record (profiles too, under their record id).
    meta: Envelopes,
    /// The signers the envelopes name.
    signers: Signers,
    /// Expiry order, for the sweep: (expiry, the envelope's slot), 16 bytes a key where
    /// `(expiry, id)` took 40 (ties fall in slot order: the sweep takes any of them first).
    by_expiry: BTreeSet<(UnixTime, u32)>,
    /// Current profile record id → signer (to find a profile by the id sync uses).
    profile_ids: HashMap<RecordId, PublicKey>,
    /// Sync keys of each public kind, in `(issued_at, id)` order (what sync reconciles).
    sync: HashMap<RecordKind, BTreeSet<SyncKey>>,
    /// Count and XOR of every sync key per kind, kept up to date, so a whole-range fingerprint
    /// (every sync starts with one) costs nothing to answer when nothing differs.
    sync_total: HashMap<RecordKind, SyncTotal>,
}

impl Records {
    /// Remembers a stored record's envelope (again: the old envelope is forgotten first; its
    /// accounting, which belongs to the record and not to the envelope, is kept).
    pub fn insert(&mut self, id: RecordId, meta: Meta) {
        let mut kept = None;
        if let Some(h) = self.meta.get(&id) {
            kept = h.accounted.then_some((h.size, h.pooled));
            self.forget(&id);
        }
        if crate::PUBLIC_KINDS.contains(&meta.kind)
            && self.sync.entry(meta.kind).or_default().insert(SyncKey {
                time: meta.issued_at,
                id,
            })
        {
            self.sync_total.entry(meta.kind).or_default().toggle(&id);
        }
        let held = Held {
            signer: self.signers.acquire(&meta.signer),
            size: kept.map_or(0, |(size, _)| size),
            issued_at: meta.issued_at,
            expires_at: meta.expires_at,
            kind: meta.kind,
            accounted: kept.is_some(),
            pooled: kept.is_some_and(|(_, pooled)| pooled),
        };
        let slot = self.meta.insert(id, held);
        self.by_expiry.insert((meta.expires_at, slot));
    }

    /// Marks a held record as accounted by admission, with its size and whether it is pooled.
    /// Returns false (and changes nothing) when it is not held or already accounted.
    pub fn account(&mut self, id: &RecordId, size: u32, pooled: bool) -> bool {
        match self.meta.get_mut(id) {
            Some(h) if !h.accounted => {
                h.accounted = true;
                h.size = size;
                h.pooled = pooled;
                true
            }
            _ => false,
        }
    }

    /// Notes a held record's stored size before admission accounts it (the start-up load
    /// accounts every record once trust is built: [`Records::unaccounted`]).
    pub fn note_size(&mut self, id: &RecordId, size: u32) {
        if let Some(h) = self.meta.get_mut(id).filter(|h| !h.accounted) {
            h.size = size;
        }
    }

    /// Every held record admission has not accounted, with its envelope and the size noted
    /// for it ([`Records::note_size`]; 0 when none was).
    pub fn unaccounted(&self) -> impl Iterator<Item = (RecordId, Meta, u32)> + '_ {
        self.meta
            .iter()
            .filter(|(_, h)| !h.accounted)
            .map(|(id, h)| (*id, self.meta_of(h), h.size))
    }

    /// Admission's accounting of a held record, if it accounted it.
    pub fn accounting(&self, id: &RecordId) -> Option<Accounting> {
        self.meta
            .get(id)
            .filter(|h| h.accounted)
            .map(|h| Accounting {
                size: h.size,
                pooled: h.pooled,
            })
    }

    /// Takes a held, accounted record out of its pool's accounting. Returns its size when it
    /// was pooled (and is no longer).
    pub fn unpool(&mut self, id: &RecordId) -> Option<u32> {
        let h = self.meta.get_mut(id).filter(|h| h.accounted && h.pooled)?;
        h.pooled = false;
        Some(h.size)
    }

    fn meta_of(&self, h: &Held) -> Meta {
        Meta {
            kind: h.kind,
            signer: *self.signers.key(h.signer),
            issued_at: h.issued_at,
            expires_at: h.expires_at,
        }
    }

    /// Remembers a member's current profile record.
    pub fn insert_profile(&mut self, id: RecordId, meta: Meta) {
        self.profile_ids.insert(id, meta.signer);
        self.insert(id, meta);
    }

    /// Forgets a record's envelope (and its profile id, if it is a current profile).
    pub fn remove(&mut self, id: &RecordId) -> Option<Meta> {
        self.profile_ids.remove(id);
        self.forget(id)
    }

    fn forget(&mut self, id: &RecordId) -> Option<Meta> {
        let (slot, h) = self.meta.remove(id)?;
        let m = self.meta_of(&h);
        self.signers.release(h.signer);
        self.by_expiry.remove(&(m.expires_at, slot));
        if let Some(set) = self.sync.get_mut(&m.kind) {
            let key = SyncKey {
                time: m.issued_at,
                id: *id,
            };
            if set.remove(&key) {
                if let Some(t) = self.sync_total.get_mut(&m.kind) {
                    t.untoggle(id);
                }
            }
        }
        Some(m)
    }

    /// Fills the nodes of the expiry and sync orders (after a load; see
    /// [`super::small::compact`]).
    pub fn compact(&mut self) {
        super::small::compact(&mut self.by_expiry);
        for set in self.sync.values_mut() {
            super::small::compact(set);
        }
    }

    /// A held record's envelope.
    pub fn get(&self, id: &RecordId) -> Option<Meta> {
        self.meta.get(id).map(|h| self.meta_of(h))
    }

    /// Whether a record is held.
    pub fn contains(&self, id: &RecordId) -> bool {
        self.meta.slot_of(id).is_some()
    }

    /// How many records are held (profiles included).
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// The signer of a current profile, by its record id.
    pub fn profile_signer(&self, id: &RecordId) -> Option<PublicKey> {
        self.profile_ids.get(id).copied()
    }

    /// Records expired at `now`, oldest first, at most `max`.
    pub fn expired(&self, now: UnixTime, max: usize) -> Vec<RecordId> {
        self.by_expiry
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(max)
            .filter_map(|&(_, slot)| self.meta.id(slot))
            .collect()
    }

    /// Our sync keys of one kind, in `(issued_at, id)` order.
    pub fn sync_keys(&self, kind: RecordKind) -> &BTreeSet<SyncKey> {
        static EMPTY: BTreeSet<SyncKey> = BTreeSet::new();
        self.sync.get(&kind).unwrap_or(&EMPTY)
    }

    /// Count and XOR of every sync key of one kind.
    pub fn sync_total(&self, kind: RecordKind) -> SyncTotal {
        self.sync_total.get(&kind).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use guild_core::fixtures::identity;

    fn meta(kind: RecordKind, issued_at: UnixTime, expires_at: UnixTime) -> Meta {
        Meta {
            kind,
            signer: identity(1).public(),
            issued_at,
            expires_at,
        }
    }

    fn total_of(r: &Records, kind: RecordKind) -> SyncTotal {
        let mut t = SyncTotal::default();
        for k in r.sync_keys(kind) {
            t.toggle(&k.id);
        }
        t
    }

    #[test]
    fn insert_and_remove_keep_expiry_sync_keys_and_totals_in_step() {
        let mut r = Records::default();
        let (a, b, c) = (RecordId([1; 32]), RecordId([2; 32]), RecordId([3; 32]));
        r.insert(a, meta(RecordKind::Need, 10, 100));
        r.insert(b, meta(RecordKind::Need, 20, 50));
        r.insert(c, meta(RecordKind::Offer, 30, 70));
        assert_eq!(r.len(), 3);
        assert_eq!(r.sync_keys(RecordKind::Need).len(), 2);
        assert!(
            r.sync_keys(RecordKind::Offer).is_empty(),
            "offers never sync"
        );
        assert_eq!(
            r.sync_total(RecordKind::Need),
            total_of(&r, RecordKind::Need)
        );
        assert_eq!(r.expired(70, 10), vec![b, c]);
        assert_eq!(r.expired(70, 1), vec![b]);

        assert_eq!(r.remove(&b).unwrap().expires_at, 50);
        assert!(r.remove(&b).is_none(), "removed once");
        assert_eq!(r.expired(1_000, 10), vec![c, a]);
        assert_eq!(r.sync_total(RecordKind::Need).count, 1);
        assert_eq!(
            r.sync_total(RecordKind::Need),
            total_of(&r, RecordKind::Need)
        );
        r.remove(&a);
        r.remove(&c);
        assert_eq!(r.sync_total(RecordKind::Need), SyncTotal::default());
        assert!(r.expired(u64::MAX, 10).is_empty());
    }

    #[test]
    fn a_signer_is_held_once_while_an_envelope_names_it_and_its_slot_is_reused() {
        let mut r = Records::default();
        let (a, b, c) = (RecordId([1; 32]), RecordId([2; 32]), RecordId([3; 32]));
        let other = Meta {
            signer: identity(2).public(),
            ..meta(RecordKind::Need, 10, 100)
        };
        r.insert(a, meta(RecordKind::Need, 10, 100));
        r.insert(b, meta(RecordKind::Offer, 10, 100));
        assert_eq!(r.signers.slot.len(), 1, "one signer, two envelopes");
        assert_eq!(r.get(&b), Some(meta(RecordKind::Offer, 10, 100)));
        r.remove(&a);
        assert_eq!(r.get(&b).map(|m| m.signer), Some(identity(1).public()));
        r.remove(&b);
        assert!(
            r.signers.slot.is_empty(),
            "forgotten with its last envelope"
        );
        r.insert(c, other);
        assert_eq!(r.signers.keys.len(), 1, "the freed slot is reused");
        assert_eq!(r.get(&c), Some(other));
        // Re-inserting an envelope moves its signer without leaking the old one.
        r.insert(c, meta(RecordKind::Need, 10, 100));
        assert_eq!(r.signers.slot.len(), 1);
        assert_eq!(r.get(&c).map(|m| m.signer), Some(identity(1).public()));
    }

    #[test]
    fn reinserting_a_record_replaces_its_envelope_everywhere() {
        let mut r = Records::default();
        let a = RecordId([7; 32]);
        r.insert(a, meta(RecordKind::Attestation, 10, 100));
        r.insert(a, meta(RecordKind::Attestation, 11, 200));
        assert_eq!(r.len(), 1);
        assert_eq!(
            r.expired(150, 10),
            Vec::<RecordId>::new(),
            "old expiry gone"
        );
        assert_eq!(r.sync_keys(RecordKind::Attestation).len(), 1);
        assert_eq!(r.sync_total(RecordKind::Attestation).count, 1);
    }

    #[test]
    fn admissions_accounting_lives_in_the_envelope_once_and_goes_with_it() {
        let mut r = Records::default();
        let (a, b) = (RecordId([1; 32]), RecordId([2; 32]));
        assert!(
            !r.account(&a, 300, true),
            "nothing to account before the envelope"
        );
        r.insert(a, meta(RecordKind::Attestation, 10, 100));
        assert_eq!(r.accounting(&a), None, "held, not accounted yet");
        assert!(r.account(&a, 300, true));
        assert!(!r.account(&a, 999, false), "accounted once");
        assert_eq!(
            r.accounting(&a),
            Some(Accounting {
                size: 300,
                pooled: true
            })
        );
        // Indexed again (same record): the accounting stays with it.
        r.insert(a, meta(RecordKind::Attestation, 10, 100));
        assert_eq!(r.accounting(&a).map(|x| x.size), Some(300));
        assert_eq!(r.unpool(&a), Some(300));
        assert_eq!(r.unpool(&a), None, "out of the pool once");
        assert_eq!(
            r.accounting(&a),
            Some(Accounting {
                size: 300,
                pooled: false
            })
        );
        r.insert(b, meta(RecordKind::Need, 10, 100));
        assert!(r.account(&b, 50, false));
        assert_eq!(r.unpool(&b), None, "never pooled");
        r.remove(&a);
        assert_eq!(r.accounting(&a), None, "gone with its envelope");
        r.insert(a, meta(RecordKind::Attestation, 10, 100));
        assert_eq!(r.accounting(&a), None, "a new envelope starts unaccounted");
        // A size noted before accounting (the load) is listed until accounted.
        r.note_size(&a, 77);
        assert_eq!(
            r.unaccounted()
                .map(|(id, _, size)| (id, size))
                .collect::<Vec<_>>(),
            vec![(a, 77)]
        );
        assert!(r.account(&a, 77, false));
        r.note_size(&a, 1);
        assert_eq!(
            r.accounting(&a).map(|x| x.size),
            Some(77),
            "accounted: kept"
        );
        assert_eq!(r.unaccounted().count(), 0);
    }

    #[test]
    fn envelopes_reuse_freed_slots_and_keep_expiry_by_slot_in_step() {
        let mut r = Records::default();
        let ids: Vec<RecordId> = (0..=255u8).map(|i| RecordId([i; 32])).collect();
        for (i, id) in ids.iter().enumerate() {
            r.insert(*id, meta(RecordKind::Need, 10, 100 + i as u64 % 7));
        }
        assert_eq!(r.len(), 256);
        assert_eq!(r.meta.slab.slots(), 256);
        // Every other one goes; their slots are reused by new ids, not appended.
        for id in ids.iter().step_by(2) {
            assert!(r.remove(id).is_some());
        }
        assert_eq!(r.len(), 128);
        let fresh: Vec<RecordId> = (0..128u8)
            .map(|i| {
                let mut b = [i; 32];
                b[0] = 0xEE;
                RecordId(b)
            })
            .collect();
        for id in &fresh {
            r.insert(*id, meta(RecordKind::Offer, 20, 50));
        }
        assert_eq!(r.meta.slab.slots(), 256, "freed slots were reused");
        assert_eq!(r.len(), 256);
        for id in ids.iter().skip(1).step_by(2).chain(&fresh) {
            assert!(r.contains(id));
        }
        for id in ids.iter().step_by(2) {
            assert!(!r.contains(id) && r.get(id).is_none());
        }
        // The expiry order names each held record once, by its own slot, oldest first.
        let expired = r.expired(u64::MAX, usize::MAX);
        assert_eq!(expired.len(), 256);
        assert!(expired[..128].iter().all(|id| fresh.contains(id)));
        let mut seen: Vec<_> = expired.clone();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 256);
        let times: Vec<u64> = expired
            .iter()
            .map(|id| r.get(id).unwrap().expires_at)
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn an_envelope_slot_is_no_larger_than_the_table_slot_it_replaced() {
        assert_eq!(std::mem::size_of::<super::super::slab::Slot<Held>>(), 64);
    }

    #[test]
    fn a_profile_id_lives_as_long_as_its_envelope() {
        let mut r = Records::default();
        let p = RecordId([9; 32]);
        r.insert_profile(p, meta(RecordKind::Profile, 10, 100));
        assert_eq!(r.profile_signer(&p), Some(identity(1).public()));
        r.remove(&p);
        assert_eq!(r.profile_signer(&p), None);
        assert!(!r.contains(&p));
    }
}
