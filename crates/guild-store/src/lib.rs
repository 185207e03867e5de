//! Guild's node store: typed trees over one sled database, opened by the daemon alone.
//!
//! | tree            | key                                   | value                        |
//! |-----------------|---------------------------------------|------------------------------|
//! | `meta`          | name (UTF-8)                          | bincode of a typed value     |
//! | `profiles`      | issuer public key (32)                | `Signed<Profile>`            |
//! | `records`       | record id (32)                        | `AnyRecord` (not profiles)   |
//! | `by_time`       | kind (1) ‖ issued_at (8, BE) ‖ id (32) | empty — the sync index      |
//! | `att_by_issuer` | issuer (32) ‖ attestation id (32)     | empty (no longer written)    |
//! | `att_by_subject`| subject (32) ‖ attestation id (32)    | empty (no longer written)    |
//! | `peers`         | peer id bytes                         | [`KnownPeer`]                |
//!
//! Every value goes through `guild_core::codec`; a value that does not decode is reported as
//! [`StoreError::Corrupt`] naming its tree and key, never a panic. Writes a user is told about are
//! flushed first ([`Store::flush`]).

mod error;
mod open;
mod peers;
mod records;
mod saved;
mod storage;

pub use error::StoreError;
pub use peers::{
    KnownPeer, KnownPeers, PeerRank, Standing, ESTABLISHED_SESSIONS, MAX_KNOWN_PEERS,
    MAX_NEWCOMERS, SESSION_GAP,
};
pub use records::{
    load_readers, ProfilePut, ReadAhead, LOAD_CHUNK, LOAD_READERS, READ_AHEAD_BATCH,
    READ_AHEAD_BATCHES,
};
pub use saved::SavedState;

use guild_core::codec;
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

/// The schema version this code reads and writes. Bumped on incompatible layout changes.
///
/// 2: the same trees as 1, with a promise older code cannot keep: every opening takes the saved
/// state away (`saved.rs`) before it writes. Code of schema 1 would leave it in place while
/// changing the store, and the next start of this code would read back a state that no longer
/// matches, so a store of schema 2 is refused by it ("written by another version").
/// A store of schema 1 is taken as it is and marked 2 when opened ([`OLDEST_SCHEMA`]).
pub const SCHEMA_VERSION: u32 = 2;
/// The oldest schema this code opens (and upgrades to [`SCHEMA_VERSION`] in place).
pub const OLDEST_SCHEMA: u32 = 1;
const SCHEMA_KEY: &[u8] = b"schema_version";
/// Page cache of a store opened with [`Store::open`], bytes. sled 0.34 keeps about half as much
/// again resident; the node keeps its own indexes in memory and reads the store for single
/// records (a profile, a proof, a collaboration's log), so the cache mostly holds what the
/// start-up load passed through. Measured on a daemon holding 2.6·10^5 records (BENCHMARKS.md,
/// "The loaded daemon, third round"): 64 MiB → 16 MiB took 56 MiB off the resident set for no
/// measurable start-up cost; 8 and 4 MiB saved 11 and 17 MiB more for 10–30 % more CPU then.
/// Measured again once the envelopes shrank ("The loaded daemon, sixth round"): 16 → 8 MiB
/// took 5–12 MiB off the resident set for the same start-up CPU (2.8–3.1 s either way); 4 MiB
/// saved nothing more.
pub const CACHE_BYTES: u64 = 8 << 20;
/// Page cache of a store opened with [`Store::open_temporary`], bytes.
pub const TEMPORARY_CACHE_BYTES: u64 = 1 << 20;
/// What [`Store::path`] reports for a store opened with [`Store::open_temporary`].
pub const TEMPORARY_PATH: &str = "<temporary>";
/// Largest value read from the `meta` tree.
/// How long [`Store::open`] waits for sled to release a store this process closed.
pub const LOCK_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
const MAX_META_BYTES: usize = 256 * 1024;

/// The node store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    meta: sled::Tree,
    profiles: sled::Tree,
    records: sled::Tree,
    by_time: sled::Tree,
    att_by_issuer: sled::Tree,
    att_by_subject: sled::Tree,
    peers: sled::Tree,
    /// In-memory index of `peers` by segment and rank (see `peers`), built on first use.
    peer_index: std::sync::Arc<std::sync::Mutex<Option<peers::PeerIndex>>>,
    /// Held while a flush runs (see [`Store::flush_async`]).
    flushing: std::sync::Arc<std::sync::Mutex<()>>,
    /// Marks the path as open in this process while any handle lives (not for temporary
    /// stores).
    open_mark: Option<std::sync::Arc<open::Mark>>,
    /// Whether this opening took a saved state, until it is read (see `saved.rs`).
    saved: std::sync::Arc<std::sync::Mutex<bool>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

impl Store {
    /// Opens (or creates) the store at `path`, checking the schema version.
    ///
    /// A store this process closed a moment ago may still be locked: sled lets go of its lock
    /// when the last of its background threads drops the closed database, a little after the
    /// last handle. That is waited for (at most [`LOCK_RELEASE_WAIT`], checking every few
    /// milliseconds: sled signals nothing); a lock held by another process, or by a store still
    /// open in this one, fails at once with [`StoreError::Locked`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let deadline = std::time::Instant::now() + LOCK_RELEASE_WAIT;
        let db = loop {
            let opened = sled::Config::new()
                .path(path)
                .cache_capacity(CACHE_BYTES)
                // Ingestion of signed records is write-heavy; this mode measured about a third
                // more records per CPU-second than the space-saving default (see BENCHMARKS.md).
                .mode(sled::Mode::HighThroughput)
                .open()
                .map_err(|e| StoreError::open(path, e));
            match opened {
                Err(StoreError::Locked { .. })
                    if std::time::Instant::now() < deadline
                        && open::being_released(&absolute, path) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(e),
                Ok(db) => break db,
            }
        };
        let mut store = Store::from_db(db, path)?;
        store.open_mark = Some(std::sync::Arc::new(open::Mark::new(absolute)));
        // Opened: whatever happens next may change the store, so a saved state matches it no
        // longer, unless this opener takes it now (see `saved.rs`).
        store.take_at_open()?;
        Ok(store)
    }

    /// Opens a fresh, private store that is deleted when its last handle is dropped: for
    /// simulations and tests that run many services in one process (`guild-sim` runs 1000).
    ///
    /// Compared with [`Store::open`]: sled's `temporary` mode (its files live in `/dev/shm` on
    /// Linux and are removed on drop), a small page cache ([`TEMPORARY_CACHE_BYTES`]), and
    /// `flush_every_ms(None)`, so sled starts no "log flusher" thread for this database (in sled
    /// 0.34.7, `Db::start_inner` spawns that thread only when `flush_every_ms` is `Some`). Writes
    /// are not durable across processes; [`Store::flush`] still works. Never use it for a
    /// daemon's store.
    pub fn open_temporary() -> Result<Store, StoreError> {
        let path = Path::new(TEMPORARY_PATH);
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(TEMPORARY_CACHE_BYTES)
            .flush_every_ms(None)
            .open()
            .map_err(|e| StoreError::open(path, e))?;
        Store::from_db(db, path)
    }

    fn from_db(db: sled::Db, path: &Path) -> Result<Store, StoreError> {
        let tree = |name: &str| {
            db.open_tree(name)
                .map_err(|e| StoreError::Sled(format!("opening tree {name}: {e}")))
        };
        let store = Store {
            meta: tree("meta")?,
            profiles: tree("profiles")?,
            records: tree("records")?,
            by_time: tree("by_time")?,
            att_by_issuer: tree("att_by_issuer")?,
            att_by_subject: tree("att_by_subject")?,
            peers: tree("peers")?,
            peer_index: Default::default(),
            flushing: Default::default(),
            open_mark: None,
            saved: Default::default(),
            path: path.to_path_buf(),
            db,
        };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        match self.db.get(SCHEMA_KEY)? {
            None => {
                if !self.db.is_empty() || !self.profiles.is_empty() || !self.records.is_empty() {
                    return Err(StoreError::Schema {
                        path: self.path.clone(),
                        found: None,
                    });
                }
                self.db.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
                Ok(())
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref()).map(u32::from_be_bytes).ok();
                if found == Some(SCHEMA_VERSION) {
                    Ok(())
                } else if found.is_some_and(|f| (OLDEST_SCHEMA..SCHEMA_VERSION).contains(&f)) {
                    // Same trees; from now on only code that keeps schema 2's promise opens it.
                    self.db.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                    self.db.flush()?;
                    tracing::info!(
                        "store at {} upgraded from schema {} to {SCHEMA_VERSION}",
                        self.path.display(),
                        found.unwrap_or_default()
                    );
                    Ok(())
                } else {
                    Err(StoreError::Schema {
                        path: self.path.clone(),
                        found,
                    })
                }
            }
        }
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes every pending write to disk. Call before telling a user a write succeeded.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Flushes without blocking the async runtime: [`Store::flush`] on tokio's blocking pool,
    /// one flush at a time per store.
    ///
    /// Not sled's own `flush_async`: in sled 0.34.7 concurrent `flush_async` calls deadlock
    /// (sled issue #1308, fixed only after that release; reproduced here by
    /// `concurrent_writes_and_flushes_on_several_stores_finish`), and the daemon flushes before
    /// every acknowledgement, concurrently.
    pub async fn flush_async(&self) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let _one_at_a_time = store
                .flushing
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            store.flush()
        })
        .await
        .map_err(|e| StoreError::Sled(format!("the flush task failed: {e}")))?
    }

    /// Reads a typed value from the `meta` tree.
    pub fn get_meta<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.meta.get(name.as_bytes())? {
            None => Ok(None),
            Some(v) => decode("meta", name.as_bytes(), &v, MAX_META_BYTES).map(Some),
        }
    }

    /// Writes a typed value to the `meta` tree.
    pub fn put_meta<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        let bytes = codec::encode(value).map_err(|e| StoreError::Encode(e.to_string()))?;
        self.meta.insert(name.as_bytes(), bytes)?;
        Ok(())
    }

    /// The raw bytes under a name in the `meta` tree.
    pub fn meta_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(name.as_bytes())?.map(|v| v.to_vec()))
    }

    /// Writes raw bytes under a name in the `meta` tree.
    pub fn put_raw_meta(&self, name: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.meta.insert(name.as_bytes(), bytes)?;
        Ok(())
    }

    /// Removes a value from the `meta` tree.
    pub fn remove_meta(&self, name: &str) -> Result<(), StoreError> {
        self.meta.remove(name.as_bytes())?;
        Ok(())
    }
}

pub(crate) fn decode<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    bytes: &[u8],
    max: usize,
) -> Result<T, StoreError> {
    codec::decode(bytes, max).map_err(|e| StoreError::Corrupt {
        tree,
        key: hex::encode(key),
        reason: e.to_string(),
    })
}
