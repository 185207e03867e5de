//! What the node service needs of a store: the [`Storage`] trait, its error, and
//! [`MemoryStorage`], an implementation in memory for unit tests and the simulator.
//!
//! The daemon's store (`guild-store`, over sled) implements the same trait, so the service is
//! written once against this interface and never names the database it runs on (heartwood's
//! `Service<D, S, G>` is generic over its stores in the same way).
//!
//! The contract, which both implementations keep and the service relies on:
//! - A write either happens or returns an error; an error leaves the stored copy as it was
//!   before the call (the service then leaves its indexes as they were, too).
//! - Profiles are keyed by signer and only a newer one (by `issued_at`, then id) replaces the
//!   stored one ([`ProfilePut`]); other records are keyed by id and never replaced.
//! - [`Storage::records_of_kind`] yields one kind's records oldest first.
//! - Durability is the implementation's business: the daemon flushes its sled store before it
//!   acknowledges a write to anyone (see `guild_store::Store::flush_async`).

mod memory;

pub use memory::MemoryStorage;

use crate::codec;
use crate::{AnyRecord, Profile, PublicKey, RecordBody, RecordId, RecordKind, Signed};
use serde::{de::DeserializeOwned, Serialize};

/// Largest value read back from the `meta` space.
pub const MAX_META_BYTES: usize = 256 * 1024;

/// What a failed storage operation reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// A stored value does not decode.
    #[error("corrupt value in `{space}` at key {key}: {reason}")]
    Corrupt {
        /// Which space (tree) holds it.
        space: &'static str,
        /// The key, hex.
        key: String,
        /// The decoder's error.
        reason: String,
    },
    /// A value could not be encoded.
    #[error("cannot encode value: {0}")]
    Encode(String),
    /// The backend failed (I/O, a full disk, a database error, an injected failure in tests).
    #[error("store error: {0}")]
    Backend(String),
}

/// What [`Storage::put_profile`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfilePut {
    /// First profile of this member.
    Inserted,
    /// Replaced an older profile.
    Replaced,
    /// Ignored: the stored profile is the same or newer.
    Stale,
}

/// How much the node trusts a peer: what decides, with sessions and age, which remembered
/// peers survive when the daemon's peer book is full, and which connections it keeps. Ordered:
/// `Stranger < Known < Trusted < Collaborator`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum Standing {
    /// Nothing known beyond the connection (the default).
    #[default]
    Stranger,
    /// A member whose profile or attestations we hold.
    Known,
    /// A member the owner's trust graph reaches.
    Trusted,
    /// Someone we collaborate with, or one of our trust roots.
    Collaborator,
}

/// Items of the start-up iterators: a record, or the error of one entry that did not read.
pub type Loaded<'a, T> = Box<dyn Iterator<Item = Result<T, StorageError>> + 'a>;

/// A record as the start-up load reads it: with its id (the key the store keeps it under) and
/// its encoded size (the stored value's length), so a start computes neither again.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// The record id: SHA-256 of its signed bytes, as it was stored under.
    pub id: RecordId,
    /// Bytes of its encoding as an [`AnyRecord`].
    pub size: u32,
    /// The record.
    pub record: AnyRecord,
}

/// The durable copy of the service's records. See the module docs for the contract.
///
/// A handle: clones are cheap and share the same contents (the service reads the store while
/// it changes its own indexes at start).
pub trait Storage: Clone {
    /// Stores a validated profile unless an equal or newer one of the same member is stored.
    fn put_profile(&self, profile: &Signed<Profile>) -> Result<ProfilePut, StorageError>;
    /// The stored profile of a member.
    fn get_profile(&self, who: &PublicKey) -> Result<Option<Signed<Profile>>, StorageError>;
    /// Removes a member's profile (expiry, eviction); removing an absent one is not an error.
    fn remove_profile(&self, who: &PublicKey) -> Result<(), StorageError>;
    /// Every stored profile (read once, at start).
    fn profiles(&self) -> Loaded<'_, Signed<Profile>>;

    /// Stores a validated non-profile record by id (a profile goes to
    /// [`Storage::put_profile`]). `false` when it was already stored.
    fn put_record(&self, record: &AnyRecord) -> Result<bool, StorageError>;
    /// [`Storage::put_record`] for a caller that has the record's id and its encoding already
    /// (the service's intake needs both before it stores: to index it and to count its size),
    /// so neither is computed again. `id` must be `record.id()` and `bytes` `record.encode()`.
    /// The default ignores both and calls `put_record`.
    fn put_record_encoded(
        &self,
        id: &RecordId,
        record: &AnyRecord,
        bytes: &[u8],
    ) -> Result<bool, StorageError> {
        let _ = (id, bytes);
        self.put_record(record)
    }
    /// A stored record by id.
    fn get_record(&self, id: &RecordId) -> Result<Option<AnyRecord>, StorageError>;
    /// Whether a non-profile record is stored.
    fn has_record(&self, id: &RecordId) -> Result<bool, StorageError>;
    /// Removes a record; removing an absent one is not an error.
    fn remove_record(&self, id: &RecordId) -> Result<(), StorageError>;
    /// Every stored record of one kind (not profiles), oldest first (read once, at start).
    fn records_of_kind(&self, kind: RecordKind) -> Loaded<'_, AnyRecord>;
    /// Number of non-profile records stored.
    fn record_count(&self) -> usize;
    /// [`Storage::records_of_kind`] with each record's id and size as stored (read once, at
    /// start). The default computes them; a store that keeps records by id reads the id from
    /// its key and the size from the stored value instead of encoding and hashing again.
    fn records_of_kind_keyed(&self, kind: RecordKind) -> Loaded<'_, StoredRecord> {
        Box::new(self.records_of_kind(kind).map(|item| {
            item.map(|record| StoredRecord {
                id: record.id(),
                size: record
                    .encode()
                    .map_or(u32::MAX, |b| u32::try_from(b.len()).unwrap_or(u32::MAX)),
                record,
            })
        }))
    }

    /// The bytes stored under a name in the `meta` space (the node's own settings and
    /// counters: its profile draft, its sequence number, its trust roots).
    fn get_meta_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Writes bytes under a name in the `meta` space.
    fn put_meta_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<(), StorageError>;
    /// Removes a name from the `meta` space.
    fn remove_meta(&self, name: &str) -> Result<(), StorageError>;

    /// A stored record of a known type by id; `Ok(None)` if absent or of another kind.
    fn get_typed<T: RecordBody>(&self, id: &RecordId) -> Result<Option<Signed<T>>, StorageError>
    where
        Signed<T>: TryFrom<AnyRecord>,
        Self: Sized,
    {
        Ok(self
            .get_record(id)?
            .and_then(|r| Signed::<T>::try_from(r).ok()))
    }

    /// Reads a typed value from the `meta` space.
    fn get_meta<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StorageError>
    where
        Self: Sized,
    {
        match self.get_meta_bytes(name)? {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes, MAX_META_BYTES)
                .map(Some)
                .map_err(|e| StorageError::Corrupt {
                    space: "meta",
                    key: hex::encode(name.as_bytes()),
                    reason: e.to_string(),
                }),
        }
    }

    /// Writes a typed value to the `meta` space.
    fn put_meta<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StorageError>
    where
        Self: Sized,
    {
        let bytes = codec::encode(value).map_err(|e| StorageError::Encode(e.to_string()))?;
        self.put_meta_bytes(name, bytes)
    }
}
