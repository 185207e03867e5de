//! Moving a schema-1 store to schema 2 (records in a log in load order, see the crate docs).
//!
//! Crash-safe by order: the new trees are filled from the old ones and flushed, then the schema
//! key says 2 and is flushed, then the old trees are dropped. A crash before the schema key is
//! written leaves a schema-1 store whose new trees are discarded and filled again on the next
//! open; a crash after it leaves old trees that no schema-2 code reads and that the next open
//! finishes dropping ([`finish_v1_cleanup`]).

use crate::records::{kind_byte, time_key};
use crate::{Store, StoreError, SCHEMA_KEY, SCHEMA_VERSION};
use guild_core::{RecordId, RecordKind};

/// Trees of schema 1 that schema 2 no longer has.
const V1_TREES: [&str; 3] = ["records", "att_by_issuer", "att_by_subject"];

/// Moves every record of a schema-1 store into the log, then marks the store schema 2.
pub(crate) fn from_v1(store: &Store) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let old = store.db.open_tree("records")?;
    // What an interrupted migration wrote: start again from the old trees, which it left whole.
    store.record_log.clear()?;
    store.record_keys.clear()?;
    let profile = kind_byte(RecordKind::Profile);
    let (mut moved, mut dangling) = (0u64, 0u64);
    for item in store.by_time.iter() {
        let (k, _) = item?;
        if k.len() != 41 || k[0] == profile {
            continue;
        }
        match old.get(&k[9..])? {
            Some(v) => {
                store.record_keys.insert(&k[9..], &k[..9])?;
                store.record_log.insert(&k, v)?;
                moved += 1;
            }
            // An index entry schema 1 left without its record (a crash between its writes).
            None => dangling += 1,
        }
    }
    // A record without its time index entry cannot be: schema 1 wrote the entry first. One
    // found all the same (a damaged store) keeps its place: its time is in its own bytes.
    let mut orphans = 0u64;
    for item in old.iter() {
        let (id, v) = item?;
        let Ok(id) = <[u8; 32]>::try_from(id.as_ref()) else {
            continue;
        };
        let id = RecordId(id);
        if store.record_keys.contains_key(id.0)? {
            continue;
        }
        if let Ok(record) = crate::decode::<guild_core::AnyRecord>(
            "records",
            &id.0,
            &v,
            guild_core::limits::MAX_ANY_RECORD_BYTES,
        ) {
            let k = time_key(record.kind(), record.issued_at(), &id);
            store.record_keys.insert(&id.0[..], &k[..9])?;
            store.record_log.insert(&k[..], v)?;
            orphans += 1;
        }
    }
    store.db.flush()?;
    store.db.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
    store.db.flush()?;
    tracing::info!(
        "moved the store at {} to schema {SCHEMA_VERSION}: {moved} records into the log in load order ({dangling} index entries without a record dropped, {orphans} records without one kept) in {} ms",
        store.path.display(),
        started.elapsed().as_millis()
    );
    finish_v1_cleanup(store)
}

/// Drops what schema 1 kept and schema 2 does not (cheap when there is nothing left: a look at
/// the tree names and at one range of `by_time`).
pub(crate) fn finish_v1_cleanup(store: &Store) -> Result<(), StoreError> {
    let names = store.db.tree_names();
    let mut changed = false;
    for name in V1_TREES {
        if names.iter().any(|n| n.as_ref() == name.as_bytes()) {
            store.db.drop_tree(name)?;
            changed = true;
        }
    }
    // `by_time` keeps profiles' entries only.
    let profile = kind_byte(RecordKind::Profile);
    let stale: Vec<sled::IVec> = store
        .by_time
        .range(..[profile])
        .keys()
        .chain(store.by_time.range([profile + 1]..).keys())
        .collect::<Result<_, _>>()?;
    for k in &stale {
        store.by_time.remove(k)?;
        changed = true;
    }
    if changed {
        store.db.flush()?;
    }
    Ok(())
}
