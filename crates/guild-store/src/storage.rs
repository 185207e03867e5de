//! The node service's [`Storage`] contract over sled: each method is the store's own.

use crate::{Store, StoreError};
use guild_core::storage::{Loaded, ProfilePut, Storage, StorageError, StoredRecord};
use guild_core::{AnyRecord, Profile, PublicKey, RecordId, RecordKind, Signed};

impl From<StoreError> for StorageError {
    fn from(e: StoreError) -> StorageError {
        match e {
            StoreError::Corrupt { tree, key, reason } => StorageError::Corrupt {
                space: tree,
                key,
                reason,
            },
            StoreError::Encode(e) => StorageError::Encode(e),
            other => StorageError::Backend(other.to_string()),
        }
    }
}

impl Storage for Store {
    fn put_profile(&self, profile: &Signed<Profile>) -> Result<ProfilePut, StorageError> {
        Ok(Store::put_profile(self, profile)?)
    }

    fn get_profile(&self, who: &PublicKey) -> Result<Option<Signed<Profile>>, StorageError> {
        Ok(Store::get_profile(self, who)?)
    }

    fn remove_profile(&self, who: &PublicKey) -> Result<(), StorageError> {
        Ok(Store::remove_profile(self, who)?)
    }

    fn profiles(&self) -> Loaded<'_, Signed<Profile>> {
        Box::new(Store::profiles(self).map(|r| r.map_err(StorageError::from)))
    }

    fn put_record(&self, record: &AnyRecord) -> Result<bool, StorageError> {
        Ok(Store::put_record(self, record)?)
    }

    fn put_record_encoded(
        &self,
        id: &RecordId,
        record: &AnyRecord,
        bytes: &[u8],
    ) -> Result<bool, StorageError> {
        Ok(Store::put_record_encoded(self, id, record, bytes)?)
    }

    fn get_record(&self, id: &RecordId) -> Result<Option<AnyRecord>, StorageError> {
        Ok(Store::get_record(self, id)?)
    }

    fn has_record(&self, id: &RecordId) -> Result<bool, StorageError> {
        Ok(Store::has_record(self, id)?)
    }

    fn remove_record(&self, id: &RecordId) -> Result<(), StorageError> {
        Ok(Store::remove_record(self, id)?)
    }

    fn records_of_kind(&self, kind: RecordKind) -> Loaded<'_, AnyRecord> {
        Box::new(Store::records_of_kind(self, kind).map(|r| r.map_err(StorageError::from)))
    }

    fn records_of_kind_keyed(&self, kind: RecordKind) -> Loaded<'_, StoredRecord> {
        Box::new(Store::records_of_kind_keyed(self, kind).map(|r| r.map_err(StorageError::from)))
    }

    fn record_count(&self) -> usize {
        Store::record_count(self)
    }

    fn get_meta_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.meta_bytes(name)?)
    }

    fn put_meta_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        Ok(self.put_raw_meta(name, bytes)?)
    }

    fn remove_meta(&self, name: &str) -> Result<(), StorageError> {
        Ok(Store::remove_meta(self, name)?)
    }
}
