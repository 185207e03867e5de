//! Binding the control socket safely: refuse when another daemon answers, recover a stale socket,
//! create it `0600` (in a `0700` directory when we create the directory), and remove it on the way
//! out only if it is still ours.

use guild_core::control::Client;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};

/// Longest socket path, in bytes: `sun_path` holds 108 bytes on Linux, one of them the final NUL.
pub const MAX_SOCKET_PATH_BYTES: usize = 107;

/// How long to wait for a daemon found on an existing socket to accept and answer `status`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the control socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another daemon answers on the socket.
    #[error(
        "a guild daemon is already running (pid {}, socket {})",
        pid.map_or_else(|| "unknown".to_string(), |p| p.to_string()),
        socket.display()
    )]
    AlreadyRunning {
        /// Its process id, when it could be learnt (from `status` or `SO_PEERCRED`).
        pid: Option<u32>,
        /// The socket.
        socket: PathBuf,
    },
    /// The path does not fit in a Unix socket address.
    #[error(
        "control socket path {} is {len} bytes, but Unix socket paths are limited to \
         {MAX_SOCKET_PATH_BYTES}; pass a shorter path with `--socket` (or set GUILD_SOCKET)",
        path.display()
    )]
    PathTooLong {
        /// The path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// Something other than a socket is at the path; it is left alone.
    #[error(
        "{} exists and is not a socket; remove it or choose another path with `--socket`",
        path.display()
    )]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A file-system or socket operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// A bound control socket. Dropping it removes the socket file, if the file is still the one this
/// listener created (a newer daemon's socket at the same path is left alone).
#[derive(Debug)]
pub struct ControlListener {
    pub(super) listener: UnixListener,
    path: PathBuf,
    /// Device and inode of the socket file we created.
    file_id: (u64, u64),
    /// Owner of the socket file, i.e. this process's effective uid; clients must match it.
    pub(super) uid: u32,
}

impl ControlListener {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlListener {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == self.file_id {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), "cannot remove control socket: {e}");
                }
            }
        }
    }
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BindError + 'a {
    move |source| BindError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Binds the control socket at `path`.
///
/// Creates the parent directory with mode `0700` if it is missing (an existing directory is left
/// as it is), refuses with [`BindError::AlreadyRunning`] if a daemon accepts connections on an
/// existing socket, removes a socket file nobody listens on, binds, and sets mode `0600`.
pub async fn bind(path: &Path) -> Result<ControlListener, BindError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH_BYTES {
        return Err(BindError::PathTooLong {
            path: path.to_path_buf(),
            len,
        });
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io_err("creating directory", parent))?;
        }
    }
    if check_not_running(path).await? == Existing::Stale {
        tracing::info!(path = %path.display(), "removing stale control socket");
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("removing stale socket", path)(e)),
        }
    }
    let listener = UnixListener::bind(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            // Another daemon bound it between our probe and our bind.
            BindError::AlreadyRunning {
                pid: None,
                socket: path.to_path_buf(),
            }
        } else {
            io_err("binding control socket", path)(e)
        }
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io_err("setting permissions of", path))?;
    let meta = std::fs::symlink_metadata(path).map_err(io_err("inspecting", path))?;
    tracing::debug!(path = %path.display(), "control socket bound");
    Ok(ControlListener {
        listener,
        path: path.to_path_buf(),
        file_id: (meta.dev(), meta.ino()),
        uid: meta.uid(),
    })
}

/// What is at the socket path, when no daemon answers there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Nothing.
    Nothing,
    /// A socket file nobody listens on (left by a daemon that died).
    Stale,
}

/// Refuses with [`BindError::AlreadyRunning`] if a daemon answers on `path`, and with
/// [`BindError::NotASocket`] if something else is there; changes nothing.
///
/// The daemon calls it before taking the store's lock, so a second daemon is told about the
/// first by its socket; and binds (removing a stale socket) only once it holds that lock, so
/// two daemons of one home starting together cannot remove each other's fresh socket.
pub async fn check_not_running(path: &Path) -> Result<Existing, BindError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => probe(path).await,
        Ok(_) => Err(BindError::NotASocket {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Existing::Nothing),
        Err(e) => Err(io_err("inspecting", path)(e)),
    }
}

/// Whether a daemon is behind an existing socket file: an error naming it if so.
async fn probe(path: &Path) -> Result<Existing, BindError> {
    let running = |pid| BindError::AlreadyRunning {
        pid,
        socket: path.to_path_buf(),
    };
    let stream = match tokio::time::timeout(PROBE_TIMEOUT, UnixStream::connect(path)).await {
        // Accepting but not completing the handshake in time: someone is there.
        Err(_elapsed) => return Err(running(None)),
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => return Ok(Existing::Stale),
        Ok(Err(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Nothing),
        Ok(Err(e)) => return Err(io_err("probing existing socket", path)(e)),
    };
    let cred_pid = stream
        .peer_cred()
        .ok()
        .and_then(|c| c.pid())
        .and_then(|p| u32::try_from(p).ok());
    let mut client = Client::from_stream(stream, path.to_path_buf());
    let status_pid = match tokio::time::timeout(PROBE_TIMEOUT, client.status()).await {
        Ok(Ok(status)) => Some(status.pid),
        _ => None,
    };
    Err(running(status_pid.or(cred_pid)))
}
