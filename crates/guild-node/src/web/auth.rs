//! Who may use the dashboard, and how a request proves it.
//!
//! - A **login link** carries 32 random bytes (hex) that the daemon issues on the control
//!   socket's `web.login` (which only the owner can reach); `guild web` prints it. It works once
//!   and for [`TICKET_TTL`], so a link left in a browser's history or pasted somewhere is
//!   worthless ([`LoginTickets`]).
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
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// File name of the login token that earlier versions wrote to the Guild home; a daemon removes
/// it at start (login links now come from the daemon, one at a time).
pub const TOKEN_FILE_NAME: &str = "web-token";
/// Header carrying the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-guild-csrf";
/// Most sessions kept; logging in once more evicts the oldest (bounds memory if a script logs
/// in in a loop).
pub const MAX_SESSIONS: usize = 64;
/// Most unused login links outstanding; issuing one more retires the oldest.
pub const MAX_TICKETS: usize = 16;
/// Used and expired links remembered, so that opening one again says why it fails.
pub const MAX_SPENT: usize = 64;
/// How long an unused login link works.
pub const TICKET_TTL: Duration = Duration::from_secs(guild_core::control::WEB_LOGIN_TTL_SECS);

/// Why a login link does not log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketRefusal {
    /// Never issued by this daemon (or by an earlier run of it, or retired unused).
    #[error("this login link is not valid here (a restarted daemon forgets its links): run `guild web` for a new one")]
    Unknown,
    /// Already used once.
    #[error("this login link has already been used (each link works once): run `guild web` for a new one")]
    Used,
    /// Not used in time.
    #[error(
        "this login link has expired (links work for five minutes): run `guild web` for a new one"
    )]
    Expired,
}

/// One-time login links: `web.login` issues one; `GET /login?token=…` redeems it once, within
/// [`TICKET_TTL`]. Bounded by [`MAX_TICKETS`] outstanding and [`MAX_SPENT`] remembered.
#[derive(Debug, Clone, Default)]
pub struct LoginTickets {
    inner: Arc<Mutex<TicketTable>>,
}

#[derive(Debug, Default)]
struct TicketTable {
    /// Unused links, oldest first, with when each stops working.
    open: VecDeque<(String, Instant)>,
    /// Links used or expired, newest last, and which.
    spent: VecDeque<(String, TicketRefusal)>,
}

impl TicketTable {
    fn spend(&mut self, token: String, why: TicketRefusal) {
        if self.spent.len() == MAX_SPENT {
            self.spent.pop_front();
        }
        self.spent.push_back((token, why));
    }

    fn expire(&mut self, now: Instant) {
        while let Some((_, until)) = self.open.front() {
            if *until > now {
                break;
            }
            if let Some((token, _)) = self.open.pop_front() {
                self.spend(token, TicketRefusal::Expired);
            }
        }
    }
}

impl LoginTickets {
    /// A fresh link's token, valid once until `now + TICKET_TTL`.
    pub fn issue(&self, now: Instant) -> String {
        let token = random_hex();
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        t.expire(now);
        if t.open.len() == MAX_TICKETS {
            // Retired unused: it was superseded, not used or expired, so it is simply unknown.
            t.open.pop_front();
        }
        t.open.push_back((token.clone(), now + TICKET_TTL));
        token
    }

    /// Redeems `candidate` (once). Compares in constant time against each outstanding link.
    pub fn redeem(&self, candidate: &str, now: Instant) -> Result<(), TicketRefusal> {
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        t.expire(now);
        let found = t
            .open
            .iter()
            .position(|(token, _)| constant_time_eq(token.as_bytes(), candidate.as_bytes()));
        if let Some(i) = found {
            if let Some((token, _)) = t.open.remove(i) {
                t.spend(token, TicketRefusal::Used);
            }
            return Ok(());
        }
        let why = t
            .spent
            .iter()
            .rev()
            .find(|(token, _)| constant_time_eq(token.as_bytes(), candidate.as_bytes()))
            .map(|(_, why)| *why);
        Err(why.unwrap_or(TicketRefusal::Unknown))
    }
}

/// Removes a login token file an earlier version left in the home (a secret nobody reads now).
pub fn remove_old_token_file(home: &Path) {
    let path = home.join(TOKEN_FILE_NAME);
    match std::fs::remove_file(&path) {
        Ok(()) => tracing::info!(
            "removed {} (login links now come from `guild web`)",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
    }
}

/// The login URL for a dashboard served at `url` (as in the status).
pub fn login_url(url: &str, token: &str) -> String {
    format!("{url}login?token={token}")
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

    /// Ends the session with this id (log-out); false if it was not open.
    pub fn close(&self, id: &str) -> bool {
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let found = t
            .by_id
            .keys()
            .find(|k| constant_time_eq(k.as_bytes(), id.as_bytes()))
            .cloned();
        found.is_some_and(|k| t.by_id.remove(&k).is_some())
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
    fn a_login_link_works_once_and_only_for_a_while() {
        let t = LoginTickets::default();
        let now = Instant::now();
        let a = t.issue(now);
        assert_eq!(a.len(), 64);
        assert_eq!(t.redeem("nope", now), Err(TicketRefusal::Unknown));
        assert_eq!(t.redeem(&a, now), Ok(()));
        assert_eq!(t.redeem(&a, now), Err(TicketRefusal::Used));
        let b = t.issue(now);
        assert_eq!(t.redeem(&b, now + TICKET_TTL), Err(TicketRefusal::Expired));
        assert_eq!(t.redeem(&b, now + TICKET_TTL), Err(TicketRefusal::Expired));
        let c = t.issue(now);
        assert_eq!(
            t.redeem(&c, now + TICKET_TTL - Duration::from_secs(1)),
            Ok(())
        );
    }

    #[test]
    fn outstanding_and_remembered_links_are_bounded() {
        let t = LoginTickets::default();
        let now = Instant::now();
        let first = t.issue(now);
        let rest: Vec<String> = (0..MAX_TICKETS).map(|_| t.issue(now)).collect();
        // The oldest unused link was retired by the newest.
        assert_eq!(t.redeem(&first, now), Err(TicketRefusal::Unknown));
        for r in &rest {
            assert_eq!(t.redeem(r, now), Ok(()));
        }
        for _ in 0..2 * MAX_SPENT {
            let x = t.issue(now);
            t.redeem(&x, now).unwrap();
        }
        let inner = t.inner.lock().unwrap();
        assert!(inner.open.is_empty());
        assert_eq!(inner.spent.len(), MAX_SPENT);
    }

    #[test]
    fn a_closed_session_is_gone() {
        let s = Sessions::default();
        let id = s.open();
        assert!(s.get(&id).is_some());
        assert!(s.close(&id));
        assert!(s.get(&id).is_none());
        assert!(!s.close(&id));
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
