//! The secret key file in the Guild home.
//!
//! Format: one line `guild-ed25519-secret-v1:<64 hex secret>:<8 hex check>\n`, where the check is
//! the first 4 bytes of SHA-256 of the secret, so a flipped byte is caught rather than silently
//! becoming another identity. The file is created mode 0600 in a 0700 directory and refused when
//! other users can read it.

use crate::keys::Identity;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Name of the key file inside the Guild home.
pub const KEY_FILE_NAME: &str = "secret.key";
const HEADER: &str = "guild-ed25519-secret-v1";
/// Bytes beyond which a file cannot be a Guild key file (guards against reading a huge file).
const MAX_KEY_FILE_BYTES: u64 = 1024;

/// Why the key file could not be used. Every message names the file and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// No key file.
    #[error("no identity at {0}: run `guild init` first")]
    Missing(PathBuf),
    /// Creating over an existing identity without `--force`.
    #[error("an identity already exists at {0}; refusing to overwrite it (use `guild init --force` to replace it — the old identity is lost)")]
    Exists(PathBuf),
    /// Other users can read or write the key.
    #[error(
        "key file {path} is accessible by other users (mode {mode:o}); fix with `chmod 600 {path}`"
    )]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The content is not a key file, or is damaged.
    #[error("key file {path} is corrupt ({reason}); restore it from a backup, or create a new identity with `guild init --force`")]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An I/O error.
    #[error("cannot access key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn checksum(secret: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(secret)[..4])
}

/// Encodes a secret in the key file format.
pub fn encode(secret: &[u8; 32]) -> String {
    format!("{HEADER}:{}:{}\n", hex::encode(secret), checksum(secret))
}

/// Parses key file content; `path` is only used in error messages.
pub fn parse(path: &Path, content: &[u8]) -> Result<Identity, KeyFileError> {
    let corrupt = |reason: &str| KeyFileError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let text = std::str::from_utf8(content).map_err(|_| corrupt("not text"))?;
    let line = text.trim_end_matches(['\n', '\r']);
    if line.is_empty() {
        return Err(corrupt("empty file"));
    }
    let mut parts = line.split(':');
    if parts.next() != Some(HEADER) {
        return Err(corrupt("missing the guild-ed25519-secret-v1 header"));
    }
    let hex_secret = parts
        .next()
        .ok_or_else(|| corrupt("truncated: no secret"))?;
    let check = parts
        .next()
        .ok_or_else(|| corrupt("truncated: no checksum"))?;
    if parts.next().is_some() {
        return Err(corrupt("unexpected extra fields"));
    }
    if hex_secret.len() != 64 {
        return Err(corrupt(&format!(
            "the secret has {} hex digits instead of 64 (truncated?)",
            hex_secret.len()
        )));
    }
    let bytes = hex::decode(hex_secret).map_err(|_| corrupt("the secret is not hex"))?;
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&bytes);
    if checksum(&secret) != check {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(Identity::from_secret(secret))
}

/// Loads the identity from `path`, checking permissions first.
pub fn load(path: &Path) -> Result<Identity, KeyFileError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyFileError::Missing(path.to_path_buf()))
        }
        Err(e) => return Err(io(path)(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if !meta.is_file() || meta.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyFileError::Corrupt {
            path: path.to_path_buf(),
            reason: "not a small regular file".into(),
        });
    }
    let content = fs::read(path).map_err(io(path))?;
    parse(path, &content)
}

/// Writes a new key file (mode 0600, parent directory created 0700). Refuses to replace an
/// existing one unless `force`. The file is written beside the target and renamed into place so a
/// crash never leaves half a key.
pub fn create(path: &Path, identity: &Identity, force: bool) -> Result<(), KeyFileError> {
    if path.exists() && !force {
        return Err(KeyFileError::Exists(path.to_path_buf()));
    }
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir).map_err(io(dir))?;
    }
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(encode(&identity.secret_bytes()).as_bytes())
        .map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

/// Creates `dir` (and parents) if needed and makes it mode 0700.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn create_load_round_trip_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let path = home.join(KEY_FILE_NAME);
        let id = Identity::generate();
        create(&path, &id, false).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&home).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(load(&path).unwrap().public(), id.public());
        // Refuses to overwrite.
        let err = create(&path, &Identity::generate(), false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(load(&path).unwrap().public(), id.public());
        // --force replaces.
        let other = Identity::generate();
        create(&path, &other, true).unwrap();
        assert_eq!(load(&path).unwrap().public(), other.public());
    }

    #[test]
    fn bad_key_files_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        let missing = load(&path).unwrap_err();
        assert!(missing.to_string().contains("guild init"), "{missing}");

        let good = encode(&[3u8; 32]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("truncated", good.as_bytes()[..40].to_vec()),
            ("binary", vec![0xff, 0xfe, 0x00, 0x01]),
            ("flipped", good.replacen("0303", "0304", 1).into_bytes()),
            ("no header", b"hello:world:x\n".to_vec()),
        ];
        for (what, content) in cases {
            fs::write(&path, &content).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let err = load(&path).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, KeyFileError::Corrupt { .. }), "{what}: {msg}");
            assert!(msg.contains(path.to_str().unwrap()), "{what}: {msg}");
            assert!(msg.contains("guild init --force"), "{what}: {msg}");
        }

        fs::write(&path, good).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&path).is_ok());
    }
}
