//! A file beside the store holding the node's derived state (written by the daemon at a clean
//! stop, see `guild_service::Service::save_state`), usable only while the store is exactly as it
//! was when the file was written.
//!
//! The rule: nothing may have written to the store since the state was saved. The file appears
//! (`<store>.state`) only once the store's last write is flushed and the file itself is whole:
//! it is written under a temporary name, synced, renamed, and the directory synced. And
//! [`Store::open`], which holds the store's lock, takes it away before anyone can write: it is
//! renamed to `<store>.state.taken` (the directory synced), where only that opening can read it
//! ([`Store::take_saved_state`]) and from where it goes once read, or at the next opening. So
//! whoever opens the store — the daemon, a tool, a test, a daemon that then crashes — leaves no
//! saved state behind for a later start, unless it stops cleanly and saves again. The store
//! itself is never written for this (no mark in its trees: a write there changed the next
//! load's memory, see BENCHMARKS.md).
//!
//! Code of store schema 1 knows nothing of this and would change the store while leaving the
//! file in place; schema 2 is what keeps it away (`SCHEMA_VERSION`).

use crate::{Store, StoreError};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

/// What [`Store::take_saved_state`] hands over: the saved state's file, to read from its start.
#[derive(Debug)]
pub struct SavedState {
    file: std::fs::File,
    path: PathBuf,
}

impl SavedState {
    /// Where it is read from.
    pub fn path(&self) -> &Path {
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
    /// Read or not, it matches the store no longer once an opening has taken it; it goes (it
    /// is as large as the node's indexes).
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `<store><suffix>`, beside the store's directory.
fn beside(store: &Path, suffix: &str) -> Option<PathBuf> {
    let mut name = store.file_name()?.to_os_string();
    name.push(suffix);
    Some(store.with_file_name(name))
}

/// Syncs the directory holding `path`, so a rename or removal in it is durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

impl Store {
    /// Where the saved state of this store is written: beside its directory (`<store>.state`).
    /// `None` for a temporary store.
    pub fn saved_state_path(&self) -> Option<PathBuf> {
        self.open_mark.as_ref()?;
        beside(&self.path, ".state")
    }

    fn taken_path(&self) -> Option<PathBuf> {
        self.open_mark.as_ref()?;
        beside(&self.path, ".state.taken")
    }

    /// Called by [`Store::open`], holding the store's lock and before anything can write: takes
    /// the saved state away from where a later opening would find it (see the module docs). A
    /// state an earlier opening took and never read goes.
    pub(crate) fn take_at_open(&self) -> Result<(), StoreError> {
        let (Some(state), Some(taken)) = (self.saved_state_path(), self.taken_path()) else {
            return Ok(());
        };
        let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", state.display()));
        match std::fs::rename(&state, &taken) {
            Ok(()) => {
                sync_dir(&taken).map_err(io)?;
                *self.lock_saved() = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match std::fs::remove_file(&taken) {
                    Ok(()) => sync_dir(&taken).map_err(io)?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(e)),
                }
            }
            Err(e) => return Err(io(e)),
        }
        Ok(())
    }

    fn lock_saved(&self) -> std::sync::MutexGuard<'_, bool> {
        self.saved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state saved at the store's last clean stop, if this opening took one (at most once
    /// per opening). It is removed when the result is dropped.
    pub fn take_saved_state(&self) -> Result<Option<SavedState>, StoreError> {
        let Some(path) = self.taken_path() else {
            return Ok(None);
        };
        if !std::mem::take(&mut *self.lock_saved()) {
            return Ok(None);
        }
        match std::fs::File::open(&path) {
            Ok(file) => Ok(Some(SavedState { file, path })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(StoreError::Io(format!("{}: {e}", path.display())))
            }
        }
    }

    /// Saves the node's state beside the store with `write` (given the new file), where the
    /// next opening takes it (see the module docs). Call only when nothing will write to the
    /// store any more, after its last flush. A temporary store saves nothing.
    pub fn save_state<E: std::fmt::Display>(
        &self,
        write: impl FnOnce(&mut std::fs::File) -> Result<(), E>,
    ) -> Result<(), StoreError> {
        let (Some(path), Some(tmp)) = (self.saved_state_path(), beside(&self.path, ".state.tmp"))
        else {
            return Ok(());
        };
        let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", tmp.display()));
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        if let Err(e) = write(&mut file) {
            drop(file);
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError::Io(format!("saving the node's state: {e}")));
        }
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io)?;
        sync_dir(&path).map_err(io)
    }
}
