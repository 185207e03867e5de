//! The web dashboard: pages served by the daemon on loopback, for members who will not script
//! the control socket.
//!
//! It calls the node through the same [`Handle`] as the control socket, so the page, the CLI and
//! scripts share one set of methods, params, errors and events: pages are rendered from
//! `handle.call(…)` results, every form posts to `/call/<method>` with the method's JSON params
//! (decoded and checked by [`Call::from_parts`], as the socket does), and live updates are the
//! node's events, streamed as server-sent events from `handle.subscribe()`.
//!
//! ```text
//! let (status, listener) = web::bind(&config.web).await;    // never fails the daemon's start
//! let tickets = web::LoginTickets::default();                // `web.login` issues, `/login` redeems
//! tokio::spawn(web::serve(listener, handle, tickets, cancel));
//! ```
//!
//! Security (see [`auth`]): loopback only; every request's `Host` must be loopback or
//! `localhost` (DNS rebinding); a session cookie (HttpOnly, SameSite=Strict) is obtained only with
//! a one-time login link; state-changing requests must be JSON with a same-origin `Origin` and the
//! session's CSRF header, which neither a cross-site form nor a `text/plain` post can send; no
//! CORS headers are ever sent.
//!
//! Crates: `axum` (HTTP server on hyper, with built-in SSE), `maud` (compile-time HTML templates
//! that escape every interpolated value), `include_dir` (the CSS and the one script, embedded in
//! the binary).

pub mod auth;
mod pages;
mod routes;

#[cfg(test)]
mod tests;

pub use auth::{LoginTickets, TicketRefusal, TOKEN_FILE_NAME};

use crate::config::WebSection;
#[cfg(doc)]
use crate::control::Call;
use crate::control::Handle;
use guild_core::control::{WebState, WebStatus};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why the dashboard could not be served.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// `web.listen` is not an address.
    #[error("web.listen `{0}` is not an address")]
    BadAddress(String),
    /// `web.listen` is not a loopback address.
    #[error("web.listen {0} is not a loopback address; the dashboard is only served locally")]
    NotLoopback(SocketAddr),
}

/// The dashboard's listener and the address it was asked for.
#[derive(Debug)]
pub struct WebListener {
    listener: TcpListener,
}

impl WebListener {
    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// The URL of a dashboard served at `addr`.
pub fn url_for(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}

/// Checks a `web.listen` value: an address, and a loopback one.
pub fn check_listen(listen: &str) -> Result<SocketAddr, WebError> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| WebError::BadAddress(listen.to_string()))?;
    if !addr.ip().is_loopback() {
        return Err(WebError::NotLoopback(addr));
    }
    Ok(addr)
}

/// Binds the dashboard's listener as the config asks. Never fails the daemon: if the port is
/// taken, it binds a free port on the same loopback address (state [`WebState::Moved`]); if that
/// fails too, the page is [`WebState::Unavailable`]. The status says which, for `guild status`.
pub async fn bind(section: &WebSection) -> (WebStatus, Option<WebListener>) {
    let status = |state, url: Option<String>, note: Option<String>| WebStatus {
        state,
        requested: section.listen.clone(),
        url,
        note,
    };
    if !section.enabled {
        return (status(WebState::Disabled, None, None), None);
    }
    let addr = match check_listen(&section.listen) {
        Ok(a) => a,
        Err(e) => {
            return (
                status(WebState::Unavailable, None, Some(e.to_string())),
                None,
            )
        }
    };
    let first = match TcpListener::bind(addr).await {
        Ok(l) => return served(l, WebState::Serving, None, status),
        Err(e) => e,
    };
    if first.kind() != std::io::ErrorKind::AddrInUse || addr.port() == 0 {
        let note = format!("cannot listen on {addr}: {first}");
        return (status(WebState::Unavailable, None, Some(note)), None);
    }
    let fallback = SocketAddr::new(addr.ip(), 0);
    match TcpListener::bind(fallback).await {
        Ok(l) => {
            let note = format!("{addr} is taken (another daemon or program); using a free port");
            served(l, WebState::Moved, Some(note), status)
        }
        Err(e) => {
            let note = format!("{addr} is taken, and no free port on {}: {e}", addr.ip());
            (status(WebState::Unavailable, None, Some(note)), None)
        }
    }
}

fn served(
    listener: TcpListener,
    state: WebState,
    note: Option<String>,
    status: impl Fn(WebState, Option<String>, Option<String>) -> WebStatus,
) -> (WebStatus, Option<WebListener>) {
    match listener.local_addr() {
        Ok(bound) => (
            status(state, Some(url_for(bound)), note),
            Some(WebListener { listener }),
        ),
        Err(e) => (
            status(
                WebState::Unavailable,
                None,
                Some(format!("the listener has no address: {e}")),
            ),
            None,
        ),
    }
}

/// What the pages show beyond the handle's answers: settings the control protocol does not
/// carry.
#[derive(Debug, Clone, Default)]
pub struct WebContext {
    /// Relays from the config (`network.relays`), for the health panel.
    pub relays: Vec<String>,
}

/// Serves the dashboard until `cancel` is cancelled; live event streams end then too.
pub async fn serve<H: Handle>(
    listener: WebListener,
    handle: H,
    tickets: LoginTickets,
    context: WebContext,
    cancel: CancellationToken,
) {
    let addr = listener.local_addr().ok();
    let app = routes::router(handle, tickets, context, cancel.clone());
    let result = axum::serve(listener.listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await;
    if let Err(e) = result {
        tracing::warn!(?addr, "the web dashboard stopped: {e}");
    }
}
