//! Who may use the dashboard, and how a request proves it.
//!
//! - The **login token** is 32 random bytes (hex), written 0600 to [`TOKEN_FILE_NAME`] in the
//!   Guild home at every start; `guild web` reads it and prints the login URL. Anyone who can
//!   read the home already holds the member's secret key, so the file adds no new secret.
//! - `GET /login?token=…` exchanges it for a **session**: a random id in an HttpOnly,
//!   SameSite=Strict cookie named after the port (two daemons on one machine share a cookie jar,
//!   since cookies ignore ports), and a CSRF token the page echoes in a header.
//! - Every request's **`Host`** must be `localhost` or a loopback address: a DNS-rebinding page
//!   that resolves `evil.example` to 127.0.0.1 still sends `Host: evil.example`.
//! - Every state-changing request must be `Content-Type: application/json`, carry an `Origin`
//!   equal to the page's own, and the session's CSRF token in [`CSRF_HEADER`]. A cross-site HTML
//!   form can only send urlencoded, multipart or `text/plain` bodies, and a cross-site `fetch`
//!   with JSON or a custom header needs a CORS preflight, which this server never grants.

use axum::http::{header, HeaderMap, Method};
use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// File name of the login token in the Guild home.
pub const TOKEN_FILE_NAME: &str = "web-token";
/// Header carrying the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-guild-csrf";
/// Most sessions kept; logging in once more evicts the oldest (bounds memory if a script logs
/// in in a loop).
pub const MAX_SESSIONS: usize = 64;

/// Why the login token could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Writing the token file failed.
    #[error("cannot write the web login token {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Reading the token file failed.
    #[error("cannot read the web login token {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The secret that `guild web` puts in the login URL.
#[derive(Clone)]
pub struct LoginToken(Arc<str>);

impl std::fmt::Debug for LoginToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginToken(…)")
    }
}

impl LoginToken {
    /// A fresh random token, written (mode 0600, replacing any old one) to the home.
    pub fn create(home: &Path) -> Result<LoginToken, TokenError> {
        let token = random_hex();
        let path = token_path(home);
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)?;
            // An existing file keeps its mode on open: make sure it is 0600.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.write_all(format!("{token}\n").as_bytes())?;
            file.sync_all()
        };
        write().map_err(|source| TokenError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(LoginToken(token.into()))
    }

    /// The token written by the running daemon.
    pub fn read(home: &Path) -> Result<LoginToken, TokenError> {
        let path = token_path(home);
        let text =
            std::fs::read_to_string(&path).map_err(|source| TokenError::Read { path, source })?;
        Ok(LoginToken(text.trim().into()))
    }

    /// The token's text, for the login URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in constant time (for equal lengths), so timing does not reveal a prefix.
    pub fn matches(&self, candidate: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate.as_bytes())
    }
}

/// Where the token lives in a home.
pub fn token_path(home: &Path) -> PathBuf {
    home.join(TOKEN_FILE_NAME)
}

/// The login URL for a dashboard served at `url` (as in the status).
pub fn login_url(url: &str, token: &LoginToken) -> String {
    format!("{}login?token={}", url, token.as_str())
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Echoed by the page in [`CSRF_HEADER`].
    pub csrf: String,
}

/// The sessions opened with the login token, bounded by [`MAX_SESSIONS`].
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<SessionTable>>,
}

#[derive(Debug, Default)]
struct SessionTable {
    by_id: HashMap<String, (u64, Session)>,
    next: u64,
}

impl Sessions {
    /// Opens a session; returns its id (the cookie value).
    pub fn open(&self) -> String {
        let id = random_hex();
        let session = Session { csrf: random_hex() };
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if t.by_id.len() >= MAX_SESSIONS {
            let oldest = t
                .by_id
                .iter()
                .min_by_key(|(_, (n, _))| *n)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                t.by_id.remove(&k);
            }
        }
        t.next += 1;
        let n = t.next;
        t.by_id.insert(id.clone(), (n, session));
        id
    }

    /// The session with this id, if open.
    pub fn get(&self, id: &str) -> Option<Session> {
        let t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        t.by_id
            .iter()
            .find(|(k, _)| constant_time_eq(k.as_bytes(), id.as_bytes()))
            .map(|(_, (_, s))| s.clone())
    }
}

/// The session cookie's name for a dashboard on `port`.
pub fn cookie_name(port: u16) -> String {
    format!("guild_session_{port}")
}

/// The `Set-Cookie` value opening session `id`.
pub fn set_cookie(port: u16, id: &str) -> String {
    format!(
        "{}={id}; HttpOnly; SameSite=Strict; Path=/",
        cookie_name(port)
    )
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Why a request is refused before it reaches a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Host`, or one that is not loopback or `localhost`.
    #[error("the Host header must name this machine (localhost or a loopback address)")]
    Host,
    /// No valid session cookie.
    #[error("no session: run `guild web` and open the link it prints")]
    NoSession,
    /// A state-changing request that is not JSON.
    #[error("state-changing requests must be application/json")]
    ContentType,
    /// A state-changing request from another origin (or without one).
    #[error("the request's Origin is not this dashboard")]
    Origin,
    /// A state-changing request without the session's CSRF token.
    #[error("missing or wrong CSRF token")]
    Csrf,
    /// A method the dashboard does not take.
    #[error("method not allowed")]
    Method,
}

/// The request's `Host` if it names this machine.
pub fn check_host(headers: &HeaderMap) -> Result<&str, Refusal> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or(Refusal::Host)?;
    if host_is_local(host) {
        Ok(host)
    } else {
        Err(Refusal::Host)
    }
}

/// `localhost`, `127.x.y.z` or `[::1]`, with an optional port.
pub fn host_is_local(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, port)) if port.is_empty() || valid_port(port) => inner,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if valid_port(&format!(":{port}")) => name,
            Some(_) => return false,
            None => host,
        }
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn valid_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_ok())
}

/// Checks a state-changing request: JSON, same origin as `host`, and the session's CSRF token.
pub fn check_change(
    method: &Method,
    headers: &HeaderMap,
    host: &str,
    session: &Session,
) -> Result<(), Refusal> {
    if method != Method::POST {
        return Err(Refusal::Method);
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Refusal::ContentType);
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin != Some(format!("http://{host}").as_str()) {
        return Err(Refusal::Origin);
    }
    let csrf = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if !csrf.is_some_and(|c| constant_time_eq(c.as_bytes(), session.csrf.as_bytes())) {
        return Err(Refusal::Csrf);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_local_hosts_pass() {
        for ok in [
            "localhost",
            "localhost:7878",
            "LOCALHOST:1",
            "127.0.0.1",
            "127.0.0.1:7878",
            "127.9.9.9:80",
            "[::1]",
            "[::1]:7878",
        ] {
            assert!(host_is_local(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:7878",
            "localhost.evil.example",
            "192.168.1.2:7878",
            "0.0.0.0:7878",
            "127.0.0.1:99999",
            "127.0.0.1:",
            "[::1]x",
            "",
        ] {
            assert!(!host_is_local(bad), "{bad}");
        }
    }

    #[test]
    fn token_file_is_0600_and_readable_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(token_path(dir.path()), "old").unwrap();
        std::fs::set_permissions(
            token_path(dir.path()),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let token = LoginToken::create(dir.path()).unwrap();
        let mode = std::fs::metadata(token_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(token.as_str().len(), 64);
        assert!(LoginToken::read(dir.path())
            .unwrap()
            .matches(token.as_str()));
        assert!(!token.matches("nope"));
    }

    #[test]
    fn changes_need_json_origin_and_csrf() {
        let session = Session { csrf: "c".into() };
        let mut h = HeaderMap::new();
        let check = |h: &HeaderMap| check_change(&Method::POST, h, "127.0.0.1:1", &session);
        assert_eq!(check(&h), Err(Refusal::ContentType));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(check(&h), Err(Refusal::ContentType));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(check(&h), Err(Refusal::Origin));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert_eq!(check(&h), Err(Refusal::Origin));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:1"),
        );
        assert_eq!(check(&h), Err(Refusal::Csrf));
        h.insert(CSRF_HEADER, HeaderValue::from_static("c"));
        assert_eq!(check(&h), Ok(()));
        assert_eq!(
            check_change(&Method::PUT, &h, "127.0.0.1:1", &session),
            Err(Refusal::Method)
        );
    }

    #[test]
    fn sessions_are_bounded() {
        let s = Sessions::default();
        let first = s.open();
        for _ in 0..MAX_SESSIONS {
            s.open();
        }
        assert!(s.get(&first).is_none());
        let last = s.open();
        assert!(s.get(&last).is_some());
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; guild_session_80=xyz; b=2"),
        );
        assert_eq!(cookie(&h, "guild_session_80"), Some("xyz"));
        assert_eq!(cookie(&h, "guild_session_81"), None);
    }
}
