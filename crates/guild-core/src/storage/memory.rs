//! [`MemoryStorage`]: the [`Storage`] contract in memory, with injectable write failures.

use super::{Loaded, ProfilePut, Storage, StorageError};
use crate::{AnyRecord, Profile, PublicKey, RecordId, RecordKind, Signed, UnixTime};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A store in memory: for the service's unit tests and the simulator, which runs a thousand
/// services in one process and needs no disk.
///
/// Clones share the same contents, so a test can drop a service and open a new one over a
/// clone to model a restart. [`MemoryStorage::fail_writes`] makes every later write fail
/// (without changing anything), to check that a failed write leaves the service consistent;
/// [`MemoryStorage::fail_writes_after`] lets a few writes through first (a disk that fills up
/// in the middle of a loop turn's batch).
#[derive(Clone)]
pub struct MemoryStorage {
    inner: Arc<Mutex<Inner>>,
    /// Writes that may still succeed (`usize::MAX`: no limit).
    writes_left: Arc<AtomicUsize>,
}

impl Default for MemoryStorage {
    fn default() -> MemoryStorage {
        MemoryStorage {
            inner: Arc::default(),
            writes_left: Arc::new(AtomicUsize::new(usize::MAX)),
        }
    }
}

#[derive(Default, Clone)]
struct Inner {
    /// In key order, as sled iterates: the same contents load in the same order.
    profiles: BTreeMap<PublicKey, Signed<Profile>>,
    records: HashMap<RecordId, AnyRecord>,
    /// Per kind, `(issued_at, id)` in order: what `records_of_kind` walks.
    by_time: HashMap<RecordKind, BTreeSet<(UnixTime, RecordId)>>,
    meta: HashMap<String, Vec<u8>>,
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        write!(
            f,
            "MemoryStorage({} profiles, {} records)",
            inner.profiles.len(),
            inner.records.len()
        )
    }
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    /// An independent copy of what is stored now (clones share one store; this does not), with
    /// writes working: another node's disk, as this one's is.
    pub fn copy(&self) -> MemoryStorage {
        MemoryStorage {
            inner: Arc::new(Mutex::new(self.lock().clone())),
            writes_left: Arc::new(AtomicUsize::new(usize::MAX)),
        }
    }

    /// From now on every write fails with [`StorageError::Backend`] and changes nothing
    /// (`true`), or writes work again (`false`). Shared by every clone.
    pub fn fail_writes(&self, failing: bool) {
        let left = if failing { 0 } else { usize::MAX };
        self.writes_left.store(left, Ordering::SeqCst);
    }

    /// The next `writes` writes succeed, every later one fails as with
    /// [`MemoryStorage::fail_writes`] (until `fail_writes(false)`). Shared by every clone.
    pub fn fail_writes_after(&self, writes: usize) {
        self.writes_left.store(writes, Ordering::SeqCst);
    }

    /// Number of stored profiles.
    pub fn profile_count(&self) -> usize {
        self.lock().profiles.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-written: every method
        // checks before it changes anything, and each change is one map operation.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn writable(&self) -> Result<(), StorageError> {
        let taken = self
            .writes_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| match left {
                0 => None,
                usize::MAX => Some(usize::MAX),
                n => Some(n - 1),
            });
        match taken {
            Ok(_) => Ok(()),
            Err(_) => Err(StorageError::Backend("injected write failure".into())),
        }
    }
}

impl Storage for MemoryStorage {
    fn put_profile(&self, profile: &Signed<Profile>) -> Result<ProfilePut, StorageError> {
        self.writable()?;
        let mut inner = self.lock();
        let put = match inner.profiles.get(&profile.signer) {
            Some(old)
                if (old.body.issued_at, old.id()) >= (profile.body.issued_at, profile.id()) =>
            {
                return Ok(ProfilePut::Stale)
            }
            Some(_) => ProfilePut::Replaced,
            None => ProfilePut::Inserted,
        };
        inner.profiles.insert(profile.signer, profile.clone());
        Ok(put)
    }

    fn get_profile(&self, who: &PublicKey) -> Result<Option<Signed<Profile>>, StorageError> {
        Ok(self.lock().profiles.get(who).cloned())
    }

    fn remove_profile(&self, who: &PublicKey) -> Result<(), StorageError> {
        self.writable()?;
        self.lock().profiles.remove(who);
        Ok(())
    }

    fn profiles(&self) -> Loaded<'_, Signed<Profile>> {
        let all: Vec<_> = self.lock().profiles.values().cloned().map(Ok).collect();
        Box::new(all.into_iter())
    }

    fn put_record(&self, record: &AnyRecord) -> Result<bool, StorageError> {
        if let AnyRecord::Profile(p) = record {
            return Ok(self.put_profile(p)? != ProfilePut::Stale);
        }
        self.writable()?;
        let id = record.id();
        let mut inner = self.lock();
        if inner.records.contains_key(&id) {
            return Ok(false);
        }
        inner
            .by_time
            .entry(record.kind())
            .or_default()
            .insert((record.issued_at(), id));
        inner.records.insert(id, record.clone());
        Ok(true)
    }

    fn get_record(&self, id: &RecordId) -> Result<Option<AnyRecord>, StorageError> {
        Ok(self.lock().records.get(id).cloned())
    }

    fn has_record(&self, id: &RecordId) -> Result<bool, StorageError> {
        Ok(self.lock().records.contains_key(id))
    }

    fn remove_record(&self, id: &RecordId) -> Result<(), StorageError> {
        self.writable()?;
        let mut inner = self.lock();
        if let Some(old) = inner.records.remove(id) {
            if let Some(set) = inner.by_time.get_mut(&old.kind()) {
                set.remove(&(old.issued_at(), *id));
            }
        }
        Ok(())
    }

    fn records_of_kind(&self, kind: RecordKind) -> Loaded<'_, AnyRecord> {
        let inner = self.lock();
        let all: Vec<_> = inner
            .by_time
            .get(&kind)
            .into_iter()
            .flatten()
            .filter_map(|(_, id)| inner.records.get(id).cloned())
            .map(Ok)
            .collect();
        Box::new(all.into_iter())
    }

    fn record_count(&self) -> usize {
        self.lock().records.len()
    }

    fn get_meta_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock().meta.get(name).cloned())
    }

    fn put_meta_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.writable()?;
        self.lock().meta.insert(name.to_string(), bytes);
        Ok(())
    }

    fn remove_meta(&self, name: &str) -> Result<(), StorageError> {
        self.writable()?;
        self.lock().meta.remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{identity, profile, sign, T0};

    #[test]
    fn a_newer_profile_replaces_an_older_one_and_not_the_reverse() {
        let s = MemoryStorage::new();
        let id = identity(1);
        let old = sign(profile(&id, "Ada", &["kicad"], T0), &id);
        let new = sign(profile(&id, "Ada", &["kicad"], T0 + 10), &id);
        assert_eq!(s.put_profile(&old), Ok(ProfilePut::Inserted));
        assert_eq!(s.put_profile(&new), Ok(ProfilePut::Replaced));
        assert_eq!(s.put_profile(&old), Ok(ProfilePut::Stale));
        assert_eq!(s.get_profile(&id.public()), Ok(Some(new)));
    }

    #[test]
    fn an_injected_failure_changes_nothing_and_clones_share_it() {
        let s = MemoryStorage::new();
        let id = identity(2);
        let p = sign(profile(&id, "Bea", &["pcb-design"], T0), &id);
        s.clone().fail_writes(true);
        assert!(matches!(s.put_profile(&p), Err(StorageError::Backend(_))));
        assert!(matches!(
            s.put_meta("x", &1u32),
            Err(StorageError::Backend(_))
        ));
        assert_eq!(s.profile_count(), 0);
        assert_eq!(s.get_meta::<u32>("x"), Ok(None));
        s.fail_writes(false);
        assert_eq!(s.put_profile(&p), Ok(ProfilePut::Inserted));
        s.put_meta("x", &7u32).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.get_meta::<u32>("x"), Ok(Some(7)));
    }

    #[test]
    fn failing_after_some_writes_lets_exactly_those_through() {
        let s = MemoryStorage::new();
        s.clone().fail_writes_after(2);
        assert_eq!(s.put_meta("a", &1u32), Ok(()));
        assert_eq!(s.put_meta("b", &2u32), Ok(()));
        assert!(matches!(
            s.put_meta("c", &3u32),
            Err(StorageError::Backend(_))
        ));
        assert_eq!(s.get_meta::<u32>("c"), Ok(None));
        s.fail_writes(false);
        assert_eq!(s.put_meta("c", &3u32), Ok(()));
        assert_eq!(s.get_meta::<u32>("c"), Ok(Some(3)));
    }
}
