//! Records and expiry: the envelope of every stored record, the expiry order the sweep walks, the
//! record id of each member's current profile, and the sync keys of the public kinds with their
//! running count and XOR.
//!
//! Invariants kept here: every envelope is in the expiry order once, under its expiry; a public
//! kind's envelope has exactly one sync key and is counted once in its kind's total; a profile id
//! is held only while its envelope is.

use super::HashMap;
use guild_core::wire::SyncKey;
use guild_core::{PublicKey, RecordId, RecordKind, UnixTime};
use std::collections::BTreeSet;

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

/// Every stored record's envelope and the orders kept over them.
#[derive(Debug, Default)]
pub(crate) struct Records {
    /// Every stored record by id (profiles too, under their record id).
    meta: HashMap<RecordId, Meta>,
    /// Expiry order, for the sweep.
    by_expiry: BTreeSet<(UnixTime, RecordId)>,
    /// Current profile record id → signer (to find a profile by the id sync uses).
    profile_ids: HashMap<RecordId, PublicKey>,
    /// Sync keys of each public kind, in `(issued_at, id)` order (what sync reconciles).
    sync: HashMap<RecordKind, BTreeSet<SyncKey>>,
    /// Count and XOR of every sync key per kind, kept up to date, so a whole-range fingerprint
    /// (every sync starts with one) costs nothing to answer when nothing differs.
    sync_total: HashMap<RecordKind, SyncTotal>,
}

impl Records {
    /// Remembers a stored record's envelope (again: the old envelope is forgotten first).
    pub fn insert(&mut self, id: RecordId, meta: Meta) {
        if self.meta.contains_key(&id) {
            self.forget(&id);
        }
        self.by_expiry.insert((meta.expires_at, id));
        if crate::PUBLIC_KINDS.contains(&meta.kind)
            && self.sync.entry(meta.kind).or_default().insert(SyncKey {
                time: meta.issued_at,
                id,
            })
        {
            self.sync_total.entry(meta.kind).or_default().toggle(&id);
        }
        self.meta.insert(id, meta);
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
        let m = self.meta.remove(id)?;
        self.by_expiry.remove(&(m.expires_at, *id));
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

    /// A held record's envelope.
    pub fn get(&self, id: &RecordId) -> Option<&Meta> {
        self.meta.get(id)
    }

    /// Whether a record is held.
    pub fn contains(&self, id: &RecordId) -> bool {
        self.meta.contains_key(id)
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
            .map(|(_, id)| *id)
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
