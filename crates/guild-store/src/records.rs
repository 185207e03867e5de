//! Profiles and other signed records: profiles by signer, the others in a log in (kind, time,
//! id) order with an index from id to that key.

use crate::{decode, Store, StoreError};
use guild_core::limits::{MAX_ANY_RECORD_BYTES, MAX_PROFILE_BYTES};
use guild_core::{
    AnyRecord, Profile, PublicKey, RecordBody, RecordId, RecordKind, Signed, UnixTime,
};

/// Upper bound for a stored `AnyRecord` (the largest record kind plus the enum tag).
const MAX_RECORD_BYTES: usize = MAX_ANY_RECORD_BYTES;

pub use guild_core::storage::{ProfilePut, StoredRecord};

/// Sync-index key: kind ‖ issued_at (big endian, so keys sort by time) ‖ id.
pub fn time_key(kind: RecordKind, issued_at: UnixTime, id: &RecordId) -> [u8; 41] {
    let mut k = [0u8; 41];
    k[0] = kind_byte(kind);
    k[1..9].copy_from_slice(&issued_at.to_be_bytes());
    k[9..].copy_from_slice(&id.0);
    k
}

/// The byte a kind is indexed under.
pub fn kind_byte(kind: RecordKind) -> u8 {
    match kind {
        RecordKind::Profile => 1,
        RecordKind::Need => 2,
        RecordKind::Offer => 3,
        RecordKind::Attestation => 4,
        RecordKind::Revocation => 5,
        RecordKind::Collaboration => 6,
        RecordKind::CollabEntry => 7,
        RecordKind::Message => 8,
        // Never stored as a record (introductions keep their own bounded state); a byte of its
        // own all the same, far from the kinds that are.
        RecordKind::Introduction => 0x40,
        // Not 9: kinds added in parallel branches take the next bytes; this one keeps clear.
        RecordKind::Sponsorship => 16,
    }
}

impl Store {
    /// Stores a profile unless an equal or newer one (by `issued_at`, then id) is already stored.
    /// The caller has validated it.
    pub fn put_profile(&self, profile: &Signed<Profile>) -> Result<ProfilePut, StoreError> {
        let key = profile.signer.0;
        let old = match self.profiles.get(key)? {
            Some(bytes) => {
                decode::<Signed<Profile>>("profiles", &key, &bytes, MAX_PROFILE_BYTES).ok()
            }
            None => None,
        };
        if let Some(old) = &old {
            if (old.body.issued_at, old.id()) >= (profile.body.issued_at, profile.id()) {
                return Ok(ProfilePut::Stale);
            }
        }
        let bytes = profile
            .encode()
            .map_err(|e| StoreError::Encode(e.to_string()))?;
        let new_key = time_key(RecordKind::Profile, profile.body.issued_at, &profile.id());
        let old_key = old
            .as_ref()
            .map(|o| time_key(RecordKind::Profile, o.body.issued_at, &o.id()));
        // No sled transaction (see `put_record`): the new index entry first, then the profile,
        // then the old entry goes. A crash in between leaves at most an index entry without
        // its profile, which nothing reads as a profile.
        self.by_time.insert(&new_key[..], &[][..])?;
        self.profiles.insert(&key[..], bytes.as_slice())?;
        if let Some(k) = &old_key {
            self.by_time.remove(&k[..])?;
        }
        Ok(if old.is_some() {
            ProfilePut::Replaced
        } else {
            ProfilePut::Inserted
        })
    }

    /// The stored profile of a member.
    pub fn get_profile(&self, who: &PublicKey) -> Result<Option<Signed<Profile>>, StoreError> {
        match self.profiles.get(who.0)? {
            None => Ok(None),
            Some(b) => decode("profiles", &who.0, &b, MAX_PROFILE_BYTES).map(Some),
        }
    }

    /// Removes a member's profile (expiry, eviction).
    pub fn remove_profile(&self, who: &PublicKey) -> Result<(), StoreError> {
        if let Some(old) = self.profiles.remove(who.0)? {
            if let Ok(p) = decode::<Signed<Profile>>("profiles", &who.0, &old, MAX_PROFILE_BYTES) {
                self.by_time
                    .remove(time_key(RecordKind::Profile, p.body.issued_at, &p.id()))?;
            }
        }
        Ok(())
    }

    /// Every stored profile; a value that does not decode yields an error item for its key.
    /// Read and decoded ahead of the caller, as [`Store::records_of_kind_keyed`].
    pub fn profiles(&self) -> ReadAhead<Signed<Profile>> {
        ReadAhead::start(self.profiles.clone(), None, read_profile)
    }

    /// Number of stored profiles.
    pub fn profile_count(&self) -> usize {
        self.profiles.len()
    }

    /// Stores a non-profile record by id (profiles go through [`Store::put_profile`]). Returns
    /// false when it was already stored. The caller has validated it.
    pub fn put_record(&self, record: &AnyRecord) -> Result<bool, StoreError> {
        if let AnyRecord::Profile(p) = record {
            return Ok(self.put_profile(p)? != ProfilePut::Stale);
        }
        let bytes = record
            .encode()
            .map_err(|e| StoreError::Encode(e.to_string()))?;
        self.put_record_encoded(&record.id(), record, &bytes)
    }

    /// [`Store::put_record`] for a caller that has the record's id (`record.id()`) and its
    /// encoding (`record.encode()`) already: neither is computed again.
    pub fn put_record_encoded(
        &self,
        id: &RecordId,
        record: &AnyRecord,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        if let AnyRecord::Profile(p) = record {
            return Ok(self.put_profile(p)? != ProfilePut::Stale);
        }
        let tkey = time_key(record.kind(), record.issued_at(), id);
        // The log decides whether it is stored: a key entry alone (a crash between the two
        // writes below) does not count, so the record is stored when it arrives again.
        if self.record_log.contains_key(&tkey[..])? {
            return Ok(false);
        }
        // The node keeps its other indexes in memory (loaded from the log at start).
        //
        // No sled transaction or batch, not even one per loop turn. In sled 0.34.7 both take
        // `concurrency_control::write()`, a process-wide parking_lot `RwLock` that every tree
        // operation, iterator step and flush takes the read side of once any write guard has
        // ever been asked for (the `RW_REQUIRED_BIT` stays set). A flush holds a read guard while
        // `make_stable` waits for other threads to write the log up to its sequence number; the
        // log flusher thread, one of them, takes its own read guard on every pass; a batch
        // waiting for the write side queues every new reader behind it (the lock is fair to
        // writers): the flush can wait for the flusher, the flusher for the batch, the batch for
        // the flush. And a batch saves
        // nothing: `apply_batch` is the same per-key insert as `insert`, under that lock, and
        // measured more CPU per record than single inserts (BENCHMARKS.md, "Store writes per
        // loop turn"). What is batched per turn is the flush before acknowledging.
        // The id's entry is written first and the record second: a crash in between leaves a
        // key entry without a record, which every read treats as absent (and removes).
        self.record_keys.insert(&id.0[..], &tkey[..9])?;
        self.record_log.insert(&tkey[..], bytes)?;
        Ok(true)
    }

    /// Where the log keeps a record: its key there, from the id's entry in `record_keys`.
    fn log_key(&self, id: &RecordId) -> Result<Option<[u8; 41]>, StoreError> {
        let Some(head) = self.record_keys.get(id.0)? else {
            return Ok(None);
        };
        if head.len() != 9 {
            return Err(StoreError::Corrupt {
                tree: "record_keys",
                key: hex::encode(id.0),
                reason: format!("a key entry of {} bytes, not 9", head.len()),
            });
        }
        let mut k = [0u8; 41];
        k[..9].copy_from_slice(&head);
        k[9..].copy_from_slice(&id.0);
        Ok(Some(k))
    }

    /// A stored record by id.
    pub fn get_record(&self, id: &RecordId) -> Result<Option<AnyRecord>, StoreError> {
        let Some(key) = self.log_key(id)? else {
            return Ok(None);
        };
        match self.record_log.get(key)? {
            Some(b) => decode("record_log", &key, &b, MAX_RECORD_BYTES).map(Some),
            None => {
                // Left by a crash between the two writes of `put_record`.
                self.record_keys.remove(id.0)?;
                Ok(None)
            }
        }
    }

    /// A stored record of a known type by id; `Ok(None)` if absent or of another kind.
    pub fn get_typed<T: RecordBody>(&self, id: &RecordId) -> Result<Option<Signed<T>>, StoreError>
    where
        Signed<T>: TryFrom<AnyRecord>,
    {
        Ok(self
            .get_record(id)?
            .and_then(|r| Signed::<T>::try_from(r).ok()))
    }

    /// Whether a non-profile record is stored.
    pub fn has_record(&self, id: &RecordId) -> Result<bool, StoreError> {
        match self.log_key(id)? {
            Some(key) => Ok(self.record_log.contains_key(key)?),
            None => Ok(false),
        }
    }

    /// Removes a record: from the log first, then its id's entry (a crash in between leaves
    /// the key entry alone, which reads treat as absent).
    pub fn remove_record(&self, id: &RecordId) -> Result<(), StoreError> {
        if let Some(key) = self.log_key(id)? {
            self.record_log.remove(key)?;
            self.record_keys.remove(id.0)?;
        }
        Ok(())
    }

    /// Every stored record of one kind (not profiles), oldest first.
    pub fn records_of_kind(
        &self,
        kind: RecordKind,
    ) -> impl Iterator<Item = Result<AnyRecord, StoreError>> + '_ {
        self.records_of_kind_keyed(kind)
            .map(|item| item.map(|stored| stored.record))
    }

    /// [`Store::records_of_kind`] with each record's id, read from its key in the log, and its
    /// size, the stored value's length: the start-up load hashes and encodes nothing again.
    ///
    /// One pass over the kind's part of the log, which is kept in exactly this order (kind,
    /// time, id): each page of the store is read once, in order. (Schema 1 kept records by id
    /// and the order in a separate index, so a load in time order read the records' pages at
    /// random: 1.8 s of a 2.6 s start with 2.6·10^5 records, BENCHMARKS.md.)
    ///
    /// The log is read and decoded ahead of the caller on a thread of its own (see
    /// [`ReadAhead`]): at start the node indexes one record while the next are read, so a
    /// start takes the longer of the two instead of their sum.
    pub fn records_of_kind_keyed(&self, kind: RecordKind) -> ReadAhead<StoredRecord> {
        ReadAhead::start(self.record_log.clone(), Some(kind_byte(kind)), read_entry)
    }

    /// The sync index for one kind within `[from, to)` issue times: `(issued_at, id)` in order.
    pub fn index_range(
        &self,
        kind: RecordKind,
        from: UnixTime,
        to: UnixTime,
    ) -> Result<Vec<(UnixTime, RecordId)>, StoreError> {
        let start = time_key(kind, from, &RecordId([0; 32]));
        let tree = if kind == RecordKind::Profile {
            &self.by_time
        } else {
            &self.record_log
        };
        let mut out = Vec::new();
        for item in tree.range(start..) {
            let (k, _) = item?;
            if k.len() != 41 || k[0] != kind_byte(kind) {
                break;
            }
            let mut t = [0u8; 8];
            t.copy_from_slice(&k[1..9]);
            let t = u64::from_be_bytes(t);
            if t >= to {
                break;
            }
            let mut id = [0u8; 32];
            id.copy_from_slice(&k[9..]);
            out.push((t, RecordId(id)));
        }
        Ok(out)
    }

    /// Number of non-profile records stored (counts the log: sled counts by iterating).
    pub fn record_count(&self) -> usize {
        self.record_log.len()
    }
}

/// Records decoded per message from the reading thread to the caller of
/// [`Store::records_of_kind_keyed`].
pub const READ_AHEAD_BATCH: usize = 256;
/// Batches the reading thread may be ahead of its caller: with [`READ_AHEAD_BATCH`], at most
/// 1,024 decoded records (about half a megabyte) wait at any time.
pub const READ_AHEAD_BATCHES: usize = 4;

/// One entry of the log as the load reads it.
fn read_entry(item: sled::Result<(sled::IVec, sled::IVec)>) -> Result<StoredRecord, StoreError> {
    let (k, v) = item?;
    let id =
        <[u8; 32]>::try_from(k.get(9..).unwrap_or_default()).map_err(|_| StoreError::Corrupt {
            tree: "record_log",
            key: hex::encode(&k),
            reason: format!("a key of {} bytes, not 41", k.len()),
        })?;
    Ok(StoredRecord {
        id: RecordId(id),
        size: u32::try_from(v.len()).unwrap_or(u32::MAX),
        record: decode("record_log", &k, &v, MAX_RECORD_BYTES)?,
    })
}

/// One entry of the profiles tree as the load reads it.
fn read_profile(
    item: sled::Result<(sled::IVec, sled::IVec)>,
) -> Result<Signed<Profile>, StoreError> {
    let (k, v) = item?;
    decode("profiles", &k, &v, MAX_PROFILE_BYTES)
}

type Batch<T> = Vec<Result<T, StoreError>>;
type Entry = sled::Result<(sled::IVec, sled::IVec)>;

/// What the start-up load reads of one tree (a kind's part of the log, or the profiles), in
/// the tree's order, read and decoded by a thread of its own at most [`READ_AHEAD_BATCHES`]
/// batches ahead (a bounded channel: the reader waits for the caller). Dropping it early stops
/// the reader (its next send fails) and waits for it, so no thread outlives the iterator.
/// Where no thread can be started, the caller's thread reads.
pub struct ReadAhead<T: Send + 'static> {
    source: Source<T>,
    ready: std::vec::IntoIter<Result<T, StoreError>>,
}

enum Source<T> {
    Thread {
        batches: Option<std::sync::mpsc::Receiver<Batch<T>>>,
        reader: Option<std::thread::JoinHandle<()>>,
    },
    Here(Box<sled::Iter>, fn(Entry) -> Result<T, StoreError>),
    Done,
}

impl<T: Send + 'static> ReadAhead<T> {
    /// Reads `tree` from the first key with `prefix`, each entry through `read`.
    fn start(
        tree: sled::Tree,
        prefix: Option<u8>,
        read: fn(Entry) -> Result<T, StoreError>,
    ) -> ReadAhead<T> {
        let scan = move |tree: &sled::Tree| match prefix {
            Some(p) => tree.scan_prefix([p]),
            None => tree.iter(),
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch<T>>(READ_AHEAD_BATCHES);
        let reading = tree.clone();
        let spawned = std::thread::Builder::new()
            .name("guild-load".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(READ_AHEAD_BATCH);
                for item in scan(&reading) {
                    batch.push(read(item));
                    if batch.len() == READ_AHEAD_BATCH {
                        let full =
                            std::mem::replace(&mut batch, Vec::with_capacity(READ_AHEAD_BATCH));
                        if tx.send(full).is_err() {
                            return; // the caller stopped reading
                        }
                    }
                }
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
            });
        let source = match spawned {
            Ok(reader) => Source::Thread {
                batches: Some(rx),
                reader: Some(reader),
            },
            Err(e) => {
                tracing::warn!("reading the store on the loading thread: no thread for it ({e})");
                Source::Here(Box::new(scan(&tree)), read)
            }
        };
        ReadAhead {
            source,
            ready: Vec::new().into_iter(),
        }
    }
}

impl<T: Send + 'static> Iterator for ReadAhead<T> {
    type Item = Result<T, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.ready.next() {
                return Some(item);
            }
            match &mut self.source {
                Source::Thread { batches, .. } => {
                    match batches.as_ref().and_then(|rx| rx.recv().ok()) {
                        Some(batch) => self.ready = batch.into_iter(),
                        None => {
                            // The reader is done, or died: a load must not take a reader
                            // that stopped half-way for the end of the log.
                            return self.stop().then(|| {
                                Err(StoreError::Sled(
                                    "the thread reading the store stopped before the end".into(),
                                ))
                            });
                        }
                    }
                }
                Source::Here(iter, read) => match iter.next() {
                    Some(item) => return Some(read(item)),
                    None => {
                        self.source = Source::Done;
                        return None;
                    }
                },
                Source::Done => return None,
            }
        }
    }
}

impl<T: Send + 'static> ReadAhead<T> {
    /// Stops the reader (its next send fails once the receiver is gone) and waits for it;
    /// `true` if it panicked.
    fn stop(&mut self) -> bool {
        let mut panicked = false;
        if let Source::Thread { batches, reader } = &mut self.source {
            batches.take();
            if let Some(reader) = reader.take() {
                panicked = reader.join().is_err();
                if panicked {
                    tracing::error!("the thread reading the store panicked");
                }
            }
        }
        self.source = Source::Done;
        panicked
    }
}

impl<T: Send + 'static> Drop for ReadAhead<T> {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
