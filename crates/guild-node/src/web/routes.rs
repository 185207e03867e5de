//! The HTTP surface: the guard every request passes, the pages, `/call/<method>`, the event
//! stream and the embedded assets.

use super::auth::{self, Refusal, Session, Sessions};
use super::pages;
use super::{LoginTickets, WebContext};
use crate::control::{Call, CallError, ErrorCode, Event, Handle, Reply, Route};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::StreamExt as _;
use guild_core::control::UnexpectedReply;
use include_dir::{include_dir, Dir};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The CSS and the script, embedded at build time.
static ASSETS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/src/web/assets");

/// Events kept for the overview's "last events" panel and the activity pages.
pub const RECENT_EVENTS: usize = 200;
/// Largest `/call` body accepted, in bytes (the control socket's default line limit).
pub const MAX_CALL_BYTES: usize = guild_core::control::DEFAULT_MAX_REQUEST_BYTES;

/// Most event streams open at once (a few tabs of a few browsers); more get 503, so a runaway
/// page cannot hold an unbounded number of subscriptions.
pub const MAX_EVENT_STREAMS: usize = 32;

/// Everything a request handler needs.
pub struct App<H> {
    /// The node, as the control socket sees it.
    pub handle: H,
    tickets: LoginTickets,
    sessions: Sessions,
    /// Settings the pages show.
    pub context: WebContext,
    cancel: CancellationToken,
    /// The last [`RECENT_EVENTS`] events, newest last.
    recent: Arc<Mutex<VecDeque<(u64, Event)>>>,
    /// One permit per open event stream.
    streams: Arc<tokio::sync::Semaphore>,
}

impl<H: Handle> App<H> {
    /// Calls a method by name with JSON params, exactly as the control socket would decode
    /// them, and gives its typed result.
    pub async fn call<T: TryFrom<Reply, Error = UnexpectedReply>>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, CallError> {
        let reply = self.call_reply(method, Some(params)).await?;
        Ok(T::try_from(reply)?)
    }

    async fn call_reply(&self, method: &str, params: Option<Value>) -> Result<Reply, CallError> {
        let call = Call::from_parts(method, params).map_err(|e| match e {
            guild_core::control::CallParseError::UnknownMethod(_) => {
                CallError::new(ErrorCode::MethodNotFound, e.to_string())
            }
            other => CallError::invalid_params(other.to_string()),
        })?;
        match call.route() {
            Route::Unary(call) => self.handle.call(call).await,
            // The page has its own event stream.
            Route::Stream(_) => Err(CallError::new(
                ErrorCode::MethodNotFound,
                format!("`{method}` is not available here; the page streams events from /events"),
            )),
        }
    }

    /// The last events with when each arrived (Unix seconds), oldest first.
    pub fn recent_events(&self) -> Vec<(u64, Event)> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().cloned().collect()
    }
}

type Shared<H> = Arc<App<H>>;

/// The dashboard's routes behind the guard.
pub fn router<H: Handle>(
    handle: H,
    tickets: LoginTickets,
    context: WebContext,
    cancel: CancellationToken,
) -> Router {
    let recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT_EVENTS)));
    tokio::spawn(keep_recent(
        handle.subscribe(),
        recent.clone(),
        cancel.clone(),
    ));
    let app = Arc::new(App {
        handle,
        tickets,
        sessions: Sessions::default(),
        context,
        cancel,
        recent,
        streams: Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_STREAMS)),
    });
    Router::new()
        .route("/", get(overview::<H>))
        .route("/peers", get(peers::<H>))
        .route("/activity", get(activity::<H>))
        .route("/profile", get(profile::<H>))
        .route("/find", get(find::<H>))
        .route("/member/{peer}", get(member::<H>))
        .route("/needs", get(needs::<H>))
        .route("/needs/{id}", get(project::<H>))
        .route("/collabs", get(collabs::<H>))
        .route("/collabs/{id}", get(collab::<H>))
        .route("/trust", get(trust::<H>))
        .route("/pulse", get(pulse::<H>))
        .route("/inbox", get(inbox::<H>))
        .route("/intros", get(intros::<H>))
        .route("/invite", get(invite::<H>))
        .route("/events", get(events::<H>))
        .route("/call/{method}", post(call::<H>))
        .route("/login", get(login::<H>))
        .route("/logout", post(logout::<H>))
        .route("/session", get(session))
        .route("/assets/{*path}", get(asset))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), guard::<H>))
        .with_state(app)
}

/// Keeps the last events for the overview, until cancelled.
async fn keep_recent(
    mut events: broadcast::Receiver<Event>,
    recent: Arc<Mutex<VecDeque<(u64, Event)>>>,
    cancel: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => return,
            e = events.recv() => e,
        };
        match event {
            Ok(e) => {
                let mut r = recent.lock().unwrap_or_else(|p| p.into_inner());
                if r.len() == RECENT_EVENTS {
                    r.pop_front();
                }
                r.push_back((guild_core::time::now(), e));
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Checks `Host`, the session and (for changes) JSON + `Origin` + CSRF; adds the security
/// headers to every answer.
async fn guard<H: Handle>(State(app): State<Shared<H>>, mut req: Request, next: Next) -> Response {
    let mut response = match admit(&app, &mut req) {
        Ok(()) => next.run(req).await,
        Err(refusal) => refuse(refusal),
    };
    let h = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn admit<H>(app: &App<H>, req: &mut Request) -> Result<(), Refusal> {
    let host = auth::check_host(req.headers())?.to_string();
    // The login page and the static assets (so that refusal pages are styled) need no session.
    let path = req.uri().path();
    if path == "/login" || path.starts_with("/assets/") {
        return Ok(());
    }
    let session = auth::cookie(req.headers(), &auth::cookie_name(port_of(&host)))
        .and_then(|id| app.sessions.get(id))
        .ok_or(Refusal::NoSession)?;
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        auth::check_change(req.method(), req.headers(), &host, &session)?;
    }
    req.extensions_mut().insert(session);
    Ok(())
}

/// The port in a `Host` value (80 when none is given).
fn port_of(host: &str) -> u16 {
    host.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(80)
}

fn refuse(refusal: Refusal) -> Response {
    let status = match refusal {
        Refusal::NoSession => StatusCode::UNAUTHORIZED,
        Refusal::Host => StatusCode::MISDIRECTED_REQUEST,
        Refusal::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Refusal::Method => StatusCode::METHOD_NOT_ALLOWED,
        Refusal::Origin | Refusal::Csrf => StatusCode::FORBIDDEN,
    };
    let page = match refusal {
        Refusal::NoSession => pages::refusal(
            "Log in",
            "You are not logged in to this dashboard, or your session ended (you logged out, \
             or the daemon restarted).",
            pages::Way::Login,
        ),
        Refusal::Host => pages::refusal("Wrong address", &refusal.to_string(), pages::Way::None),
        _ => pages::refusal(
            "Request refused",
            &refusal.to_string(),
            pages::Way::Overview,
        ),
    };
    (status, page).into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    token: String,
}

/// Exchanges the login token for a session cookie, then goes to the overview (dropping the
/// token from the address bar and the history).
async fn login<H: Handle>(
    State(app): State<Shared<H>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if let Err(why) = app.tickets.redeem(&q.token, std::time::Instant::now()) {
        let (title, way) = if q.token.is_empty() {
            ("Log in", pages::Way::Login)
        } else {
            ("This link does not work", pages::Way::Login)
        };
        let text = if q.token.is_empty() {
            "Open the login link that `guild web` prints.".to_string()
        } else {
            why.to_string()
        };
        return (StatusCode::UNAUTHORIZED, pages::refusal(title, &text, way)).into_response();
    }
    let port = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(port_of)
        .unwrap_or(80);
    let id = app.sessions.open();
    let mut response = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::set_cookie(port, &id)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// `POST /logout`: ends this browser's session (a state change: JSON, same origin, CSRF).
async fn logout<H: Handle>(State(app): State<Shared<H>>, headers: HeaderMap) -> Response {
    let port = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(port_of)
        .unwrap_or(80);
    let name = auth::cookie_name(port);
    if let Some(id) = auth::cookie(&headers, &name) {
        app.sessions.close(id);
    }
    let mut response = Json(serde_json::json!({ "logged_out": true })).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// `GET /session`: 204 while the session is open (the guard answers 401 otherwise); the page
/// asks this when its event stream fails, to tell a restarted daemon from one that is away.
async fn session() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `POST /call/<method>`: the method's params as a JSON body; answers the result, or
/// `{"error": {"code", "message"}}` with an HTTP status that fits.
async fn call<H: Handle>(
    State(app): State<Shared<H>>,
    Path(method): Path<String>,
    body: Bytes,
) -> Response {
    if body.len() > MAX_CALL_BYTES {
        return call_error(CallError::new(
            ErrorCode::RequestTooLarge,
            format!("the request exceeds {MAX_CALL_BYTES} bytes"),
        ));
    }
    let params = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                return call_error(CallError::new(
                    ErrorCode::ParseError,
                    format!("the body is not JSON: {e}"),
                ))
            }
        }
    };
    // The same JSON the control socket writes for this reply.
    match app
        .call_reply(&method, params)
        .await
        .and_then(|r| r.to_json())
    {
        Ok(v) => Json(v).into_response(),
        Err(e) => call_error(e),
    }
}

fn call_error(e: CallError) -> Response {
    let status = match e.code {
        ErrorCode::ParseError | ErrorCode::InvalidRequest | ErrorCode::InvalidParams => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::MethodNotFound | ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PeerUnreachable => StatusCode::BAD_GATEWAY,
        ErrorCode::Unavailable | ErrorCode::ShuttingDown | ErrorCode::Busy | ErrorCode::Loading => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Internal | ErrorCode::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(serde_json::json!({ "error": e }))).into_response()
}

/// `GET /events`: the node's events as server-sent events (one JSON object per `data:`), until
/// the browser goes away or the daemon stops. A subscriber that falls behind is told how many
/// events it missed, as on the control socket.
async fn events<H: Handle>(State(app): State<Shared<H>>) -> Response {
    let Ok(permit) = app.streams.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            pages::refusal(
                "Too many live pages",
                "Too many open event streams: close a tab.",
                pages::Way::Overview,
            ),
        )
            .into_response();
    };
    let rx = app.handle.subscribe();
    // The permit lives as long as the stream.
    let stream = futures::stream::unfold((rx, permit), |(mut rx, permit)| async move {
        let event = match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => Event::EventsDropped { count: n },
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((event, (rx, permit)))
    })
    .map(|event| {
        let sse = sse::Event::default().event(event.kind());
        Ok::<_, Infallible>(
            sse.json_data(&event)
                .unwrap_or_else(|_| sse::Event::default()),
        )
    })
    .take_until(app.cancel.clone().cancelled_owned());
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn asset(Path(path): Path<String>) -> Response {
    let Some(file) = ASSETS.get_file(&path) else {
        return not_found().await;
    };
    let mime = match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    ([(header::CONTENT_TYPE, mime)], file.contents()).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        pages::refusal(
            "No such page",
            "There is no page at this address.",
            pages::Way::Overview,
        ),
    )
        .into_response()
}

async fn overview<H: Handle>(State(app): State<Shared<H>>, s: Extension<Session>) -> Response {
    pages::overview(&app, &s).await.into_response()
}

async fn profile<H: Handle>(State(app): State<Shared<H>>, s: Extension<Session>) -> Response {
    pages::profile(&app, &s).await.into_response()
}

async fn find<H: Handle>(
    State(app): State<Shared<H>>,
    s: Extension<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    pages::find(&app, &s, &q).await.into_response()
}

async fn member<H: Handle>(
    State(app): State<Shared<H>>,
    s: Extension<Session>,
    Path(peer): Path<String>,
) -> Response {
    pages::member(&app, &s, &peer).await.into_response()
}

async fn intros<H: Handle>(State(app): State<Shared<H>>, s: Extension<Session>) -> Response {
    pages::intros(&app, &s).await.into_response()
}

async fn needs<H: Handle>(State(app): State<Shared<H>>, s: Extension<Session>) -> Response {
    pages::needs(&app, &s).await.into_response()
}

async fn collabs<H: Handle>(State(app): State<Shared<H>>, s: Extension<Session>) -> Response {
    pages::collabs(&app, &s).await.into_response()
}

async fn collab<H: Handle>(
    State(app): State<Shared<H>>,
    s: Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    pages::collab(&app, &s, &id).await.into_response()
}

async fn trust<H: Handle>(
    State(app): State<Shared<H>>,
    s: Extension<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    pages::trust(&app, &s, &q).await.into_response()
}

#[derive(Deserialize)]
struct PageQuery {
    /// Text, so that a bad number shows the first page rather than a bare 400.
    #[serde(default)]
    page: Option<String>,
}

async fn activity<H: Handle>(
    State(app): State<Shared<H>>,
    s: Extension<Session>,
    Query(q): Query<PageQuery>,
) -> Response {
    let page = q.page.and_then(|p| p.parse().ok()).unwrap_or(1);
    pages::activity(&app, &s, page).await.into_response()
}

async fn project<H: Handle>(
    State(app): State<Shared<H>>,
    s: Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    pages::project(&app, &s, &id).await.into_response()
}

async fn peers<H: Handle>(State(app): State<Shared<H>>, s: Extension<Session>) -> Response {
    pages::peers(&app, &s).await.into_response()
}

async fn pulse<H: Handle>(
    State(app): State<Shared<H>>,
    s: Extension<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    pages::pulse(&app, &s, &q).await.into_response()
}

async fn inbox<H: Handle>(
    State(app): State<Shared<H>>,
    s: Extension<Session>,
    Query(q): Query<PageQuery>,
) -> Response {
    let page = q.page.and_then(|p| p.parse().ok()).unwrap_or(1);
    pages::inbox(&app, &s, page).await.into_response()
}

async fn invite<H: Handle>(
    State(app): State<Shared<H>>,
    s: Extension<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    pages::invite(&app, &s, &q).await.into_response()
}
