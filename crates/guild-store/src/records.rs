//! Profiles and other signed records, with the sync index (kind, time, id).

use crate::{decode, Store, StoreError};
use guild_core::limits::{MAX_ANY_RECORD_BYTES, MAX_PROFILE_BYTES};
use guild_core::{
    AnyRecord, Profile, PublicKey, RecordBody, RecordId, RecordKind, Signed, UnixTime,
};

/// Upper bound for a stored `AnyRecord` (the largest record kind plus the enum tag).
const MAX_RECORD_BYTES: usize = MAX_ANY_RECORD_BYTES;

pub use guild_core::storage::{ProfilePut, StoredRecord};

/// How many index keys [`Store::records_of_kind_keyed`] reads the records of at a time, in id
/// order (their values and decoded records are held meanwhile: under 1 MB at this size, and
/// with [`load_readers`] threads at most two chunks each are in flight). At 2^15 a chunk held
/// 24 MB of decoded records, freed at the end of the load but kept resident by the allocator
/// (BENCHMARKS.md, "The loaded daemon, seventh round"); the order within a chunk saved little
/// CPU at any size (sixth round); with two readers, 2^12 measured 226–237 MiB and 2^10 226–228
/// (eighth round).
pub const LOAD_CHUNK: usize = 1 << 10;

/// Most threads reading a kind's records at start, each taking every n-th chunk: a read by
/// id is the load's largest cost (sled descends the tree and nearly always pulls the leaf
/// from its log: 7 µs a record against 2 µs to index it), and reads of separate chunks share
/// nothing, so with cores to spare the reads of a start take a fraction as long. A start uses
/// as many as the machine has cores, at least one and at most this many (the loading thread
/// indexes meanwhile, and past four the indexing is the longer part).
pub const LOAD_READERS: usize = 4;

/// How many threads read a kind's records at start: the cores the process may use, within
/// `1..=LOAD_READERS`.
pub fn load_readers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, LOAD_READERS)
}

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

fn pair(a: &PublicKey, id: &RecordId) -> [u8; 64] {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(&a.0);
    k[32..].copy_from_slice(&id.0);
    k
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
        let tree = self.profiles.clone();
        ReadAhead::start(move || {
            Box::new(tree.iter().map(|item| {
                let (k, v) = item?;
                decode("profiles", &k, &v, MAX_PROFILE_BYTES)
            }))
        })
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
        let id = *id;
        if self.records.contains_key(id.0)? {
            return Ok(false);
        }
        let tkey = time_key(record.kind(), record.issued_at(), &id);
        // The node keeps its other indexes in memory (loaded from these two trees at start).
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
        // The index entry is written first and the record second: a crash in between
        // leaves an index entry without a record, which `records_of_kind` skips and removes,
        // and the record is stored again when it arrives again.
        self.by_time.insert(&tkey[..], &[][..])?;
        self.records.insert(&id.0[..], bytes)?;
        Ok(true)
    }

    /// A stored record by id.
    pub fn get_record(&self, id: &RecordId) -> Result<Option<AnyRecord>, StoreError> {
        match self.records.get(id.0)? {
            None => Ok(None),
            Some(b) => decode("records", &id.0, &b, MAX_RECORD_BYTES).map(Some),
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

    /// Whether a record (or a profile with this id) is stored.
    pub fn has_record(&self, id: &RecordId) -> Result<bool, StoreError> {
        Ok(self.records.contains_key(id.0)?)
    }

    /// Removes a record and its index entries.
    pub fn remove_record(&self, id: &RecordId) -> Result<(), StoreError> {
        if let Some(old) = self.records.remove(id.0)? {
            if let Ok(r) = decode::<AnyRecord>("records", &id.0, &old, MAX_RECORD_BYTES) {
                self.by_time.remove(time_key(r.kind(), r.issued_at(), id))?;
                // Entries written by versions that kept attestation indexes on disk.
                if let AnyRecord::Attestation(a) = &r {
                    self.att_by_issuer.remove(pair(&a.body.issuer, id))?;
                    self.att_by_subject.remove(pair(&a.body.subject, id))?;
                }
            }
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

    /// [`Store::records_of_kind`] with each record's id, read from the index key (the records
    /// tree is keyed by id, and `put_record` wrote both under the id it computed), and its
    /// size, the stored value's length: the start-up load hashes and encodes nothing again.
    ///
    /// Still oldest first, but read from the records tree in id order, [`LOAD_CHUNK`] index
    /// keys at a time: the tree is keyed by id (a hash), so reading it in time order visits
    /// its pages at random, and with the page cache far smaller than the store nearly every
    /// read took a page from the log, deserialized it and evicted another (a quarter of a
    /// loaded daemon's start-up CPU). In id order, each page is read once per chunk and then
    /// serves every record of the chunk it holds. A chunk's values are held until yielded.
    ///
    /// The reads and decoding happen ahead of the caller on a thread of their own (see
    /// [`ReadAhead`]): at start the node indexes one record while the next are read, so on a
    /// second core a start takes the longer of the two instead of their sum.
    pub fn records_of_kind_keyed(&self, kind: RecordKind) -> ReadAhead<StoredRecord> {
        self.records_of_kind_read_ahead(kind, LOAD_CHUNK, load_readers())
    }

    /// [`Store::records_of_kind_keyed`] with `chunk` index keys a chunk and `readers` threads
    /// (tests cross chunk boundaries with small chunks and try several readers).
    pub fn records_of_kind_read_ahead(
        &self,
        kind: RecordKind,
        chunk: usize,
        readers: usize,
    ) -> ReadAhead<StoredRecord> {
        let (chunk, readers) = (chunk.max(1), readers.max(1));
        let mut channels = Vec::with_capacity(readers);
        let mut threads = Vec::with_capacity(readers);
        for part in 0..readers {
            // One chunk waiting and one being read per reader: at most 2 × `readers` chunks
            // of records decoded ahead of the caller.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Batch<Raw>>(1);
            let store = self.clone();
            let spawned = std::thread::Builder::new()
                .name("guild-load".into())
                .spawn(move || store.read_part(kind, chunk, part, readers, tx));
            match spawned {
                Ok(t) => {
                    channels.push(rx);
                    threads.push(t);
                }
                Err(e) => {
                    tracing::warn!(
                        "reading the store on the loading thread: no thread for it ({e})"
                    );
                    // The readers already started stop when their channels go.
                    drop(channels);
                    for t in threads {
                        let _ = t.join();
                    }
                    return ReadAhead {
                        source: Source::Here(Box::new(self.records_of_kind_in_chunks(kind, chunk))),
                        ready: Vec::new().into_iter(),
                    };
                }
            }
        }
        ReadAhead {
            source: Source::Chunks {
                channels,
                threads: threads.into_iter().map(Some).collect(),
                next: 0,
                decode: decode_raw,
            },
            ready: Vec::new().into_iter(),
        }
    }

    /// One reader of [`Store::records_of_kind_read_ahead`]: the chunks `part`, `part +
    /// parts`, … of the kind's index keys, one message a chunk (empty if every key of it was
    /// left by a crash), so the caller can take the chunks in turn.
    fn read_part(
        &self,
        kind: RecordKind,
        chunk: usize,
        part: usize,
        parts: usize,
        tx: std::sync::mpsc::SyncSender<Batch<Raw>>,
    ) {
        let mut keys = self.by_time.scan_prefix([kind_byte(kind)]).keys();
        let mut index = 0usize;
        loop {
            let keys: Vec<_> = keys.by_ref().take(chunk).collect();
            if keys.is_empty() {
                return;
            }
            let mine = index % parts == part;
            index += 1;
            if !mine {
                continue;
            }
            let batch: Batch<Raw> = self
                .read_chunk_raw(keys)
                .into_iter()
                .filter_map(Result::transpose)
                .collect();
            if tx.send(batch).is_err() {
                return; // the caller stopped reading
            }
        }
    }

    /// [`Store::records_of_kind_keyed`] with `chunk` index keys read at a time, on the caller's
    /// thread (tests use small chunks to cross their boundaries).
    pub fn records_of_kind_in_chunks(
        &self,
        kind: RecordKind,
        chunk: usize,
    ) -> impl Iterator<Item = Result<StoredRecord, StoreError>> + Send + 'static {
        let chunk = chunk.max(1);
        let store = self.clone();
        let mut keys = self.by_time.scan_prefix([kind_byte(kind)]).keys();
        let mut ready = std::collections::VecDeque::new();
        std::iter::from_fn(move || loop {
            if let Some(item) = ready.pop_front() {
                return Some(item);
            }
            let keys: Vec<_> = keys.by_ref().take(chunk).collect();
            if keys.is_empty() {
                return None;
            }
            ready = store.read_chunk(keys).into();
        })
        .filter_map(Result::transpose)
    }

    /// One chunk of [`Store::records_of_kind_keyed`]: the records under these index keys, read
    /// in id order, given back in the keys' order (`None`: a key left by a crash between the
    /// two writes of `put_record`, removed now).
    #[allow(clippy::type_complexity)]
    fn read_chunk(
        &self,
        keys: Vec<Result<sled::IVec, sled::Error>>,
    ) -> Vec<Result<Option<StoredRecord>, StoreError>> {
        self.read_chunk_raw(keys)
            .into_iter()
            .map(|raw| raw.and_then(|raw| raw.map(decode_raw).transpose()))
            .collect()
    }

    /// [`Store::read_chunk`] without decoding: each record's id and stored bytes.
    #[allow(clippy::type_complexity)]
    fn read_chunk_raw(
        &self,
        keys: Vec<Result<sled::IVec, sled::Error>>,
    ) -> Vec<Result<Option<Raw>, StoreError>> {
        let ids: Vec<Result<(sled::IVec, RecordId), StoreError>> = keys
            .into_iter()
            .map(|k| {
                let k = k?;
                let id = <[u8; 32]>::try_from(k.get(9..).unwrap_or_default()).map_err(|_| {
                    StoreError::Corrupt {
                        tree: "by_time",
                        key: hex::encode(&k),
                        reason: "short key".into(),
                    }
                })?;
                Ok((k, RecordId(id)))
            })
            .collect();
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_unstable_by_key(|&i| ids[i].as_ref().ok().map(|(_, id)| *id));
        let mut values: Vec<Option<Result<Option<sled::IVec>, sled::Error>>> =
            (0..ids.len()).map(|_| None).collect();
        for i in order {
            if let Ok((_, id)) = &ids[i] {
                values[i] = Some(self.records.get(id.0));
            }
        }
        ids.into_iter()
            .zip(values)
            .map(|(key, value)| {
                let (k, id) = key?;
                match value.transpose()?.flatten() {
                    Some(bytes) => Ok(Some((id, bytes))),
                    None => {
                        // Left by a crash between the two writes of `put_record`.
                        self.by_time.remove(&k)?;
                        Ok(None)
                    }
                }
            })
            .collect()
    }

    /// The sync index for one kind within `[from, to)` issue times: `(issued_at, id)` in order.
    pub fn index_range(
        &self,
        kind: RecordKind,
        from: UnixTime,
        to: UnixTime,
    ) -> Result<Vec<(UnixTime, RecordId)>, StoreError> {
        let start = time_key(kind, from, &RecordId([0; 32]));
        let mut out = Vec::new();
        for item in self.by_time.range(start..) {
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

    /// Number of non-profile records stored.
    pub fn record_count(&self) -> usize {
        self.records.len()
    }
}

/// Records decoded per message from the reading thread to the caller of
/// [`Store::records_of_kind_keyed`].
pub const READ_AHEAD_BATCH: usize = 256;
/// Batches the reading thread may be ahead of its caller: with [`READ_AHEAD_BATCH`], at most
/// 1,024 decoded records (about half a megabyte) wait at any time.
pub const READ_AHEAD_BATCHES: usize = 4;

type Batch<T> = Vec<Result<T, StoreError>>;
/// A record as a reader hands it over: its id and its stored bytes, decoded by the caller.
type Raw = (RecordId, sled::IVec);

/// A read record decoded (on the loading thread: what a thread allocates is best freed by
/// that thread, and the loading thread is the one that drops the decoded records).
fn decode_raw((id, bytes): Raw) -> Result<StoredRecord, StoreError> {
    Ok(StoredRecord {
        id,
        size: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        record: decode("records", &id.0, &bytes, MAX_RECORD_BYTES)?,
    })
}
/// What the reading thread iterates.
type Reads<T> = Box<dyn Iterator<Item = Result<T, StoreError>> + Send>;

/// What the start-up load reads (one kind's records oldest first, or the profiles), read and decoded by a thread of its own at most [`READ_AHEAD_BATCHES`]
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
    /// Readers taking chunks in turn: the caller takes the next chunk from `channels[next]`.
    Chunks {
        channels: Vec<std::sync::mpsc::Receiver<Batch<Raw>>>,
        threads: Vec<Option<std::thread::JoinHandle<()>>>,
        next: usize,
        decode: fn(Raw) -> Result<T, StoreError>,
    },
    Here(Reads<T>),
    Done,
}

impl<T: Send + 'static> ReadAhead<T> {
    /// Reads what `reads` makes on a thread of its own (or here, if no thread starts).
    fn start(reads: impl Fn() -> Reads<T> + Send + Clone + 'static) -> ReadAhead<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch<T>>(READ_AHEAD_BATCHES);
        let on_thread = reads.clone();
        let spawned = std::thread::Builder::new()
            .name("guild-load".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(READ_AHEAD_BATCH);
                for item in on_thread() {
                    batch.push(item);
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
                Source::Here(reads())
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
                Source::Chunks {
                    channels,
                    next,
                    decode,
                    ..
                } => {
                    match channels.get(*next).and_then(|rx| rx.recv().ok()) {
                        Some(batch) => {
                            let decode = *decode;
                            self.ready = batch
                                .into_iter()
                                .map(|raw| raw.and_then(decode))
                                .collect::<Vec<_>>()
                                .into_iter();
                            *next = (*next + 1) % channels.len();
                        }
                        // The reader whose turn it is has no more chunks, so no reader has.
                        None => {
                            return self.stop().then(|| {
                                Err(StoreError::Sled(
                                    "a thread reading the store stopped before the end".into(),
                                ))
                            });
                        }
                    }
                }
                Source::Here(reads) => match reads.next() {
                    Some(item) => return Some(item),
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
        match &mut self.source {
            Source::Thread { batches, reader } => {
                batches.take();
                if let Some(reader) = reader.take() {
                    panicked = reader.join().is_err();
                }
            }
            Source::Chunks {
                channels, threads, ..
            } => {
                channels.clear();
                for t in threads.iter_mut().filter_map(Option::take) {
                    panicked |= t.join().is_err();
                }
            }
            Source::Here(_) | Source::Done => {}
        }
        if panicked {
            tracing::error!("a thread reading the store panicked");
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
