//! The accept loop and one task per connection.

use super::bind::ControlListener;
use super::subscriber;
use super::{Answer, Handle};
use futures::FutureExt as _;
use guild_core::control::framing::{FrameRef, LineReader};
use guild_core::control::{
    parse_request, Call, CallError, ErrorCode, Request, Response, Route, METHODS,
};
use serde_json::Value;
use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Largest response buffer a connection keeps between responses.
const MAX_KEPT_BUFFER: usize = 256 * 1024;

/// Bounds on what control clients can make the daemon hold.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Most simultaneous connections; one more gets a `busy` error and is closed.
    pub max_connections: usize,
    /// Largest request line in bytes; a longer one gets `request_too_large` and is skipped.
    pub max_request_bytes: usize,
    /// Events queued per subscriber; beyond it events are dropped and counted.
    pub subscriber_queue: usize,
    /// After cancellation, how long in-flight requests may still run, and how long a final write
    /// may take, before they are failed with `shutting_down` or abandoned.
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: guild_core::control::DEFAULT_MAX_CONNECTIONS,
            max_request_bytes: guild_core::control::DEFAULT_MAX_REQUEST_BYTES,
            subscriber_queue: guild_core::control::DEFAULT_SUBSCRIBER_QUEUE,
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

impl ServerLimits {
    /// The limits of the `[control]` config section.
    pub fn from_config(section: &crate::config::ControlSection) -> ServerLimits {
        ServerLimits {
            max_connections: section.max_connections.max(1),
            max_request_bytes: section.max_request_bytes.max(1),
            subscriber_queue: section.subscriber_queue.max(1),
            ..ServerLimits::default()
        }
    }
}

/// Counters of the control server, readable while it runs (for `/metrics`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServerStats(Arc<StatsInner>);

#[derive(Debug)]
struct StatsInner {
    requests: AtomicU64,
    errors: AtomicU64,
    by_method: Vec<AtomicU64>,
    accepted: AtomicU64,
    refused: AtomicU64,
    open: AtomicU64,
    subscribers: AtomicU64,
    events_dropped: AtomicU64,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats(Arc::new(StatsInner {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            by_method: METHODS.iter().map(|_| AtomicU64::new(0)).collect(),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            open: AtomicU64::new(0),
            subscribers: AtomicU64::new(0),
            events_dropped: AtomicU64::new(0),
        }))
    }
}

impl ServerStats {
    /// Request lines read (valid or not).
    pub fn requests(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }
    /// Error responses sent.
    pub fn errors(&self) -> u64 {
        self.0.errors.load(Ordering::Relaxed)
    }
    /// Valid requests per method, in [`METHODS`] order.
    pub fn requests_by_method(&self) -> Vec<(&'static str, u64)> {
        METHODS
            .iter()
            .zip(&self.0.by_method)
            .map(|(m, n)| (*m, n.load(Ordering::Relaxed)))
            .collect()
    }
    /// Connections accepted.
    pub fn accepted(&self) -> u64 {
        self.0.accepted.load(Ordering::Relaxed)
    }
    /// Connections refused (over the limit, or another uid).
    pub fn refused(&self) -> u64 {
        self.0.refused.load(Ordering::Relaxed)
    }
    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.0.open.load(Ordering::Relaxed)
    }
    /// Subscribers now.
    pub fn subscribers(&self) -> u64 {
        self.0.subscribers.load(Ordering::Relaxed)
    }
    /// Events dropped because subscribers were too slow.
    pub fn events_dropped(&self) -> u64 {
        self.0.events_dropped.load(Ordering::Relaxed)
    }

    fn count_method(&self, call: &Call) {
        if let Some(i) = METHODS.iter().position(|m| *m == call.method()) {
            self.0.by_method[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    pub(super) fn add_dropped(&self, n: u64) {
        self.0.events_dropped.fetch_add(n, Ordering::Relaxed);
    }
    pub(super) fn subscriber_guard(&self) -> Gauge {
        Gauge::new(self.clone(), |s| &s.0.subscribers)
    }
}

/// Increments a gauge for as long as it lives.
pub(super) struct Gauge {
    stats: ServerStats,
    field: fn(&ServerStats) -> &AtomicU64,
}

impl Gauge {
    fn new(stats: ServerStats, field: fn(&ServerStats) -> &AtomicU64) -> Gauge {
        field(&stats).fetch_add(1, Ordering::Relaxed);
        Gauge { stats, field }
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        (self.field)(&self.stats).fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every connection task needs.
#[derive(Clone)]
pub(super) struct Shared<H> {
    pub(super) handle: H,
    pub(super) limits: ServerLimits,
    pub(super) stats: ServerStats,
    pub(super) cancel: CancellationToken,
}

impl<H> Shared<H> {
    /// Resolves after cancellation plus the grace period.
    pub(super) async fn grace_over(&self) {
        self.cancel.cancelled().await;
        tokio::time::sleep(self.limits.shutdown_grace).await;
    }

    /// Writes all of `bytes`, giving up once the grace period after cancellation is over (a
    /// client that stops reading cannot hold up shutdown).
    pub(super) async fn write<W: AsyncWrite + Unpin>(
        &self,
        w: &mut W,
        bytes: &[u8],
    ) -> io::Result<()> {
        tokio::select! {
            r = w.write_all(bytes) => r,
            () = self.grace_over() => Err(io::ErrorKind::TimedOut.into()),
        }
    }

    /// Writes a response line, counting errors.
    pub(super) async fn respond<W: AsyncWrite + Unpin>(
        &self,
        w: &mut W,
        response: &Response,
    ) -> io::Result<()> {
        if response.outcome.is_err() {
            self.stats.0.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.write(w, response.to_line().as_bytes()).await
    }

    /// [`Shared::respond`] for an answer of [`Handle::call_encoded`], encoding into `buf`, a
    /// connection's buffer kept from response to response (no allocation, no regrowth per
    /// response once it has grown to their size).
    async fn respond_with<W: AsyncWrite + Unpin>(
        &self,
        w: &mut W,
        id: Value,
        outcome: Result<Answer, CallError>,
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        if outcome.is_err() {
            self.stats.0.errors.fetch_add(1, Ordering::Relaxed);
        }
        encode_response(id, outcome, buf);
        let written = self.write(w, buf).await;
        // One huge answer should not stay allocated for the life of the connection.
        if buf.capacity() > MAX_KEPT_BUFFER {
            *buf = Vec::new();
        }
        written
    }

    /// Runs a call; after cancellation it has the grace period to finish.
    async fn run<T, F: Future<Output = Result<T, CallError>>>(
        &self,
        call: F,
    ) -> Result<T, CallError> {
        // A panic in the node's handler fails this request, not the connection.
        let call = AssertUnwindSafe(call).catch_unwind();
        tokio::select! {
            biased;
            r = call => r.unwrap_or_else(|_panic| {
                Err(CallError::internal(
                    "the daemon failed while serving this request (a bug); see its log",
                ))
            }),
            () = self.grace_over() => Err(CallError::shutting_down()),
        }
    }
}

/// Replaces `buf` with the response line (newline included) answering request `id` with
/// `outcome`: the bytes [`Response::to_line`] gives for the same result as a value.
pub fn encode_response(id: Value, outcome: Result<Answer, CallError>, buf: &mut Vec<u8>) {
    buf.clear();
    let response = match outcome {
        Ok(Answer::Json(json)) => {
            // `{"id":…,"result":…}`, as `serde_json` writes the envelope's map.
            buf.extend_from_slice(b"{\"id\":");
            if serde_json::to_writer(&mut *buf, &id).is_ok() {
                buf.extend_from_slice(b",\"result\":");
                buf.extend_from_slice(json.as_str().as_bytes());
                buf.extend_from_slice(b"}\n");
                return;
            }
            // An id is null, a string or a number: this cannot fail.
            buf.clear();
            Response::error(id, CallError::internal("the request id cannot be encoded"))
        }
        Ok(Answer::Reply(reply)) => match reply.to_json() {
            Ok(result) => Response::result(id, result),
            Err(error) => Response::error(id, error),
        },
        Err(error) => Response::error(id, error),
    };
    if serde_json::to_writer(&mut *buf, &response).is_ok() {
        buf.push(b'\n');
    } else {
        // What `to_line` answers when a response cannot be encoded.
        buf.clear();
        buf.extend_from_slice(response.to_line().as_bytes());
    }
}

/// Serves control connections until `cancel` fires, then stops accepting, removes the socket,
/// gives in-flight requests [`ServerLimits::shutdown_grace`] to finish (failing the rest with
/// `shutting_down`), ends subscriptions and returns.
pub async fn serve<H: Handle>(
    listener: ControlListener,
    handle: H,
    limits: ServerLimits,
    stats: ServerStats,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let tracker = TaskTracker::new();
    let shared = Shared {
        handle,
        limits,
        stats,
        cancel,
    };
    let mut next_conn = 0u64;
    tracing::info!(socket = %listener.path().display(), "control socket listening");
    loop {
        let accepted = tokio::select! {
            biased;
            () = shared.cancel.cancelled() => break,
            accepted = listener.listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("control socket accept failed: {e}");
                tokio::select! {
                    () = shared.cancel.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == listener.uid => {}
            Ok(cred) => {
                refuse(
                    &shared.stats,
                    &stream,
                    ErrorCode::Forbidden,
                    &format!(
                        "this guild daemon belongs to uid {}; uid {} may not use it",
                        listener.uid,
                        cred.uid()
                    ),
                );
                continue;
            }
            Err(e) => {
                let message = format!("cannot check the client's credentials: {e}");
                refuse(&shared.stats, &stream, ErrorCode::Forbidden, &message);
                continue;
            }
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            let message = format!(
                "too many control connections (limit {}); close some or retry later",
                shared.limits.max_connections
            );
            refuse(&shared.stats, &stream, ErrorCode::Busy, &message);
            continue;
        };
        shared.stats.0.accepted.fetch_add(1, Ordering::Relaxed);
        next_conn += 1;
        let span = tracing::debug_span!("control", conn = next_conn);
        tracker.spawn(connection(stream, shared.clone(), permit).instrument(span));
    }
    // Stop accepting: new clients now see "not running" instead of hanging.
    drop(listener);
    tracker.close();
    let bound = shared.limits.shutdown_grace * 2 + Duration::from_millis(500);
    if tokio::time::timeout(bound, tracker.wait()).await.is_err() {
        tracing::warn!("some control connections did not close in time");
    }
    tracing::debug!("control server stopped");
}

/// Answers a refused connection with one error line, without waiting: a fresh socket's buffer
/// has room for it, and a client that cannot take it loses nothing it was owed.
fn refuse(stats: &ServerStats, stream: &UnixStream, code: ErrorCode, message: &str) {
    stats.0.refused.fetch_add(1, Ordering::Relaxed);
    tracing::debug!("refusing control connection: {message}");
    let line = Response::error(Value::Null, CallError::new(code, message)).to_line();
    let _ = stream.try_write(line.as_bytes());
}

async fn connection<H: Handle>(
    stream: UnixStream,
    shared: Shared<H>,
    _permit: OwnedSemaphorePermit,
) {
    let _open = Gauge::new(shared.stats.clone(), |s| &s.0.open);
    let (read, mut write) = stream.into_split();
    let mut lines = LineReader::new(BufReader::new(read), shared.limits.max_request_bytes);
    let mut out = Vec::new();
    loop {
        let frame = tokio::select! {
            biased;
            () = shared.cancel.cancelled() => return,
            frame = lines.next_ref() => frame,
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                tracing::debug!("control connection read failed: {e}");
                return;
            }
        };
        let (id, outcome) = match frame {
            FrameRef::Eof => return,
            FrameRef::Line(line) if line.iter().all(u8::is_ascii_whitespace) => continue,
            FrameRef::TooLong(len) => {
                shared.stats.0.requests.fetch_add(1, Ordering::Relaxed);
                let message = format!(
                    "request of {len} bytes exceeds the limit of {} bytes (control.max_request_bytes)",
                    shared.limits.max_request_bytes
                );
                (
                    Value::Null,
                    Err(CallError::new(ErrorCode::RequestTooLarge, message)),
                )
            }
            FrameRef::Line(line) => {
                shared.stats.0.requests.fetch_add(1, Ordering::Relaxed);
                match parse_request(line) {
                    Err((id, error)) => (id, Err(error)),
                    Ok(Request { id, call }) => {
                        shared.stats.count_method(&call);
                        match call.route() {
                            Route::Stream(params) => match params.filter() {
                                Ok(filter) => {
                                    let sub = subscriber::Subscriber {
                                        id,
                                        kinds: params.kinds,
                                        filter,
                                    };
                                    sub.run(&shared, lines, write).await;
                                    return;
                                }
                                Err(message) => (id, Err(CallError::invalid_params(message))),
                            },
                            Route::Unary(call) => {
                                (id, shared.run(shared.handle.call_encoded(call)).await)
                            }
                        }
                    }
                }
            }
        };
        if let Err(e) = shared.respond_with(&mut write, id, outcome, &mut out).await {
            tracing::debug!("control connection write failed: {e}");
            return;
        }
    }
}
