//! Store errors, with messages a user can act on.

use std::path::{Path, PathBuf};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store's lock.
    #[error("the store at {path} is in use by another process{holder}: is a guild daemon already running with this home?")]
    Locked {
        /// The store directory.
        path: PathBuf,
        /// " (pid N)" when known, else empty.
        holder: String,
    },
    /// Written by an incompatible version.
    #[error("the store at {path} has schema version {found:?}, this guild expects {expected}; it was written by another version of guild", expected = crate::SCHEMA_VERSION)]
    Schema {
        /// The store directory.
        path: PathBuf,
        /// What was found (`None` when missing or unreadable).
        found: Option<u32>,
    },
    /// A stored value does not decode.
    #[error("corrupt value in tree `{tree}` at key {key}: {reason}")]
    Corrupt {
        /// Tree name.
        tree: &'static str,
        /// Key, hex.
        key: String,
        /// Decoder error.
        reason: String,
    },
    /// A value could not be encoded.
    #[error("cannot encode value: {0}")]
    Encode(String),
    /// An error from sled (I/O, corruption of the database files).
    #[error("store error: {0}")]
    Sled(String),
    /// A file beside the store (the saved node state) could not be read or written.
    #[error("saved state: {0}")]
    Io(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Sled(e.to_string())
    }
}

impl StoreError {
    pub(crate) fn open(path: &Path, e: sled::Error) -> StoreError {
        let text = e.to_string();
        let locked = match &e {
            sled::Error::Io(io) => {
                io.kind() == std::io::ErrorKind::WouldBlock || text.contains("lock")
            }
            _ => text.contains("lock"),
        };
        if locked {
            StoreError::Locked {
                path: path.to_path_buf(),
                holder: lock_holder(path)
                    .map(|pid| format!(" (pid {pid})"))
                    .unwrap_or_default(),
            }
        } else {
            StoreError::Sled(format!("opening {}: {text}", path.display()))
        }
    }
}

/// Finds the process holding sled's lock on `path/db` by matching the file's inode in
/// `/proc/locks` (Linux). `None` when it cannot be known.
pub(crate) fn lock_holder(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path.join("db")).ok()?;
    let inode = meta.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    for line in locks.lines() {
        // e.g. "1: POSIX  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF"
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (pid, dev_inode) = match fields.get(1) {
            Some(&"->") => (fields.get(5)?, fields.get(6)?),
            _ => (fields.get(4)?, fields.get(5)?),
        };
        if dev_inode.rsplit(':').next()?.parse::<u64>().ok()? == inode {
            return pid.parse().ok();
        }
    }
    None
}
