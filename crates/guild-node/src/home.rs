//! The Guild home: where a node keeps its identity, configuration, store and control socket.
//!
//! Resolution order: `--home`, then `GUILD_HOME`, then `$XDG_DATA_HOME/guild`, then
//! `~/.local/share/guild`. Layout:
//!
//! ```text
//! $GUILD_HOME/            0700
//!   secret.key            0600  ed25519 secret (libp2p identity and record signer)
//!   config.toml                 copied from configs/default.toml by `guild init`
//!   store/                      sled database (only the daemon opens it)
//!   guild.sock            0600  control socket while the daemon runs
//!   daemon.pid                  pid of the running daemon
//! ```

use crate::config::{Config, ConfigError, DEFAULT_CONFIG};
use guild_core::keyfile::{self, KeyFileError, KEY_FILE_NAME};
use guild_core::Identity;
use std::path::{Path, PathBuf};

/// Environment variable naming the Guild home.
pub const ENV_HOME: &str = "GUILD_HOME";
/// Environment variable naming the control socket.
pub const ENV_SOCKET: &str = "GUILD_SOCKET";
/// Environment variable with the log filter (takes precedence over `RUST_LOG`).
pub const ENV_LOG: &str = "GUILD_LOG";

/// Paths inside a Guild home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// The home directory.
    pub dir: PathBuf,
}

/// Problems with the home.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// No home could be determined.
    #[error("cannot determine the Guild home: set GUILD_HOME or pass --home")]
    NoHome,
    /// The key file.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The config file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store.
    #[error(transparent)]
    Store(#[from] guild_store::StoreError),
    /// Other I/O.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Path.
        path: PathBuf,
        /// Error.
        source: std::io::Error,
    },
}

impl Home {
    /// Resolves the home from an explicit flag, the environment, or XDG defaults.
    pub fn resolve(flag: Option<&Path>) -> Result<Home, HomeError> {
        if let Some(dir) = flag {
            return Ok(Home { dir: absolute(dir) });
        }
        if let Some(dir) = std::env::var_os(ENV_HOME).filter(|v| !v.is_empty()) {
            return Ok(Home {
                dir: absolute(Path::new(&dir)),
            });
        }
        if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return Ok(Home {
                dir: PathBuf::from(xdg).join("guild"),
            });
        }
        let home = std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .ok_or(HomeError::NoHome)?;
        Ok(Home {
            dir: PathBuf::from(home).join(".local/share/guild"),
        })
    }

    /// The secret key file.
    pub fn key_file(&self) -> PathBuf {
        self.dir.join(KEY_FILE_NAME)
    }
    /// The config file.
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// The store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("store")
    }
    /// The pid file of a running daemon.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("daemon.pid")
    }

    /// The control socket: `flag`, else `GUILD_SOCKET`, else the config's `control.socket`, else
    /// `$GUILD_HOME/guild.sock`.
    pub fn socket(&self, flag: Option<&Path>, config: Option<&Config>) -> PathBuf {
        if let Some(p) = flag {
            return absolute(p);
        }
        if let Some(p) = std::env::var_os(ENV_SOCKET).filter(|v| !v.is_empty()) {
            return absolute(Path::new(&p));
        }
        if let Some(c) = config.filter(|c| !c.control.socket.is_empty()) {
            return absolute(Path::new(&c.control.socket));
        }
        self.dir.join("guild.sock")
    }

    /// Whether an identity exists here.
    pub fn is_initialised(&self) -> bool {
        self.key_file().exists()
    }

    /// Loads the identity.
    pub fn identity(&self) -> Result<Identity, HomeError> {
        Ok(keyfile::load(&self.key_file())?)
    }

    /// Loads the config (defaults when the file is absent) and its warnings.
    pub fn config(&self) -> Result<(Config, Vec<String>), HomeError> {
        let path = self.config_file();
        if !path.exists() {
            return Ok((Config::default(), vec![]));
        }
        Ok(Config::load(&path)?)
    }
}

/// What `guild init` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InitReport {
    /// The home directory.
    pub home: PathBuf,
    /// The new PeerId.
    pub peer_id: String,
    /// The config file (written unless one existed).
    pub config: PathBuf,
    /// Whether an existing config file was kept.
    pub kept_config: bool,
    /// The store directory.
    pub store: PathBuf,
}

/// Creates a Guild home: the identity (refusing to replace one unless `force`), the config file
/// (kept if present), and the store.
pub fn init(home: &Home, force: bool) -> Result<InitReport, HomeError> {
    keyfile::ensure_private_dir(&home.dir).map_err(|source| HomeError::Io {
        what: "creating",
        path: home.dir.clone(),
        source,
    })?;
    if home.key_file().exists() && !force {
        return Err(KeyFileError::Exists(home.key_file()).into());
    }
    // Open the store first: if a daemon holds it, fail before touching the identity.
    let store = guild_store::Store::open(&home.store_dir())?;
    let identity = Identity::generate();
    keyfile::create(&home.key_file(), &identity, force)?;
    let config = home.config_file();
    let kept_config = config.exists();
    if !kept_config {
        std::fs::write(&config, DEFAULT_CONFIG).map_err(|source| HomeError::Io {
            what: "writing",
            path: config.clone(),
            source,
        })?;
    }
    if force {
        // A new identity makes the old own-profile and counters meaningless.
        store.remove_meta(guild_service::OWN_PROFILE_KEY)?;
    }
    store.flush()?;
    Ok(InitReport {
        home: home.dir.clone(),
        peer_id: identity.peer_id().to_string(),
        config,
        kept_config,
        store: home.store_dir(),
    })
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn init_creates_a_private_home_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home {
            dir: dir.path().join("g"),
        };
        let report = init(&home, false).unwrap();
        assert_eq!(
            std::fs::metadata(&home.dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            std::fs::metadata(home.key_file())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read_to_string(home.config_file()).unwrap(),
            DEFAULT_CONFIG
        );
        assert!(home.store_dir().exists());
        assert_eq!(
            home.identity().unwrap().peer_id().to_string(),
            report.peer_id
        );
        let err = init(&home, false).unwrap_err().to_string();
        assert!(
            err.contains("refusing to overwrite") && err.contains("--force"),
            "{err}"
        );
        assert_eq!(
            home.identity().unwrap().peer_id().to_string(),
            report.peer_id
        );
        let again = init(&home, true).unwrap();
        assert_ne!(again.peer_id, report.peer_id);
        assert!(again.kept_config);
    }
}
