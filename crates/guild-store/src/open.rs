//! Which stores this process has open, so that [`crate::Store::open`] can tell a lock sled is
//! still releasing (a store of ours closed a moment ago) from a lock held for real.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Absolute paths of the stores open in this process.
static OPEN: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Marks a path as open for as long as it lives.
#[derive(Debug)]
pub(crate) struct Mark(PathBuf);

impl Mark {
    pub(crate) fn new(path: PathBuf) -> Mark {
        if let Ok(mut open) = OPEN.lock() {
            open.insert(path.clone());
        }
        Mark(path)
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        if let Ok(mut open) = OPEN.lock() {
            open.remove(&self.0);
        }
    }
}

/// Whether the lock on the store at `path` (`absolute`) is one sled is releasing: no store of
/// this process has it open, and the lock is this process's own or already gone.
pub(crate) fn being_released(absolute: &Path, path: &Path) -> bool {
    let open_here = OPEN.lock().map_or(true, |open| open.contains(absolute));
    !open_here
        && match crate::error::lock_holder(path) {
            None => true,
            Some(pid) => pid == std::process::id(),
        }
}
