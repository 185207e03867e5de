//! A file beside the store holding the node's derived state (written by the daemon at a clean
//! stop, see `guild_service::Service::save_state`), and the mark in the store that says it
//! matches the store.
//!
//! The rule: a saved state may be used only if nothing changed the store since it was saved.
//! The mark is what says so, and [`Store::open`] takes it away (removed and flushed) before
//! anyone can write: whoever opens the store — the daemon, a tool, a test — invalidates the
//! saved state, and only the opener that takes the mark ([`Store::take_saved_state`]) may read
//! it. The daemon then saves again when it stops cleanly ([`Store::save_state`]): the file is
//! written beside the store under a temporary name, synced, renamed over the old one, the
//! directory synced, and only then is the mark written and flushed. A crash at any point
//! leaves either no mark (the next start loads the store) or a mark and the whole file; a
//! start after a crash while running finds no mark (it was removed when that run opened the
//! store). The mark holds a random generation also written at the head of the file, so a file
//! and a mark that were not written together never pair up.

use crate::{Store, StoreError};
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

/// The `meta` key of the mark.
pub(crate) const SAVED_MARK: &str = "saved_state";

/// What [`Store::take_saved_state`] hands over: the file, positioned after the store's own
/// header (the saved state's bytes start there).
#[derive(Debug)]
pub struct SavedState {
    file: std::fs::File,
    path: PathBuf,
}

impl SavedState {
    /// Where it was read from.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Read for SavedState {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for SavedState {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}

impl Drop for SavedState {
    /// Read or not, it no longer matches the store once a start has taken it: it goes (it is
    /// as large as the node's indexes).
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Store {
    /// Where the saved state of this store lives: beside its directory (`<store>.state`).
    /// `None` for a temporary store.
    pub fn saved_state_path(&self) -> Option<PathBuf> {
        self.open_mark.as_ref()?;
        let mut name = self.path.file_name()?.to_os_string();
        name.push(".state");
        Some(self.path.with_file_name(name))
    }

    /// Called by [`Store::open`]: takes the mark away (removed and flushed) and remembers its
    /// generation for [`Store::take_saved_state`].
    pub(crate) fn take_mark(&self) -> Result<(), StoreError> {
        let Some(bytes) = self.meta_bytes(SAVED_MARK)? else {
            return Ok(());
        };
        self.remove_meta(SAVED_MARK)?;
        self.flush()?;
        let generation = <[u8; 8]>::try_from(bytes.as_slice()).map(u64::from_le_bytes);
        match generation {
            Ok(g) => *self.lock_saved() = Some(g),
            Err(_) => tracing::warn!("ignoring a malformed saved-state mark"),
        }
        Ok(())
    }

    fn lock_saved(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.saved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The saved state, if the store was marked as matching it when opened (at most once per
    /// opening). `Ok(None)`: none, or it does not match; an error: it should match but cannot
    /// be read. Whatever the answer, the file is removed when the result is dropped.
    pub fn take_saved_state(&self) -> Result<Option<SavedState>, StoreError> {
        let Some(path) = self.saved_state_path() else {
            return Ok(None);
        };
        let Some(generation) = self.lock_saved().take() else {
            let _ = std::fs::remove_file(&path);
            return Ok(None);
        };
        let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", path.display()));
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let mut saved = SavedState {
            file,
            path: path.clone(),
        };
        let mut head = [0u8; 8];
        saved.read_exact(&mut head).map_err(io)?;
        if u64::from_le_bytes(head) != generation {
            tracing::warn!(
                "{} was not written with this store's mark; not used",
                path.display()
            );
            return Ok(None);
        }
        Ok(Some(saved))
    }

    /// Saves the node's state beside the store with `write` (given the file, positioned where
    /// the state starts), then marks the store as matching it (see the module docs). Call only
    /// when nothing will write to the store any more, after its last flush. A temporary store
    /// saves nothing.
    pub fn save_state<E: std::fmt::Display>(
        &self,
        write: impl FnOnce(&mut std::fs::File) -> Result<(), E>,
    ) -> Result<(), StoreError> {
        let Some(path) = self.saved_state_path() else {
            return Ok(());
        };
        let mut tmp_name = path.as_os_str().to_os_string();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", tmp.display()));
        // Never paired with an older file or mark: a fresh random generation each time.
        let generation = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&generation.to_le_bytes()).map_err(io)?;
        if let Err(e) = write(&mut file) {
            drop(file);
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError::Io(format!("saving the node's state: {e}")));
        }
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io)?;
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            };
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        self.put_raw_meta(SAVED_MARK, generation.to_le_bytes().to_vec())?;
        self.flush()
    }
}
