//! The control socket's handle while the daemon starts.
//!
//! The daemon binds its socket and serves it through a [`Gate`] before it loads its store: a
//! client that connects during a start of several seconds gets an answer at once instead of a
//! connection that hangs. `status` answers [`ErrorCode::Loading`] with how far the load has got
//! (so whoever polls `status` until it succeeds, as scripts and `guild status` do, still sees
//! its first success only once the node is ready, with its listen addresses); every other call
//! waits for the node, at most [`LOADING_WAIT`], and is then served by it or answered
//! `loading`. Once the daemon [`Gate::open`]s it, every call goes straight to the node's handle.

use super::{Answer, Handle};
use crate::node::LoadProgress;
use guild_core::control::{CallError, DaemonCall, ErrorCode, Event, Reply, Unary};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Longest a call other than `status` waits for the node to be ready before it is answered
/// `loading`: longer than a loaded store's start (a few seconds at 2.6·10^5 records), short
/// enough that a client is never left hanging.
pub const LOADING_WAIT: Duration = Duration::from_secs(10);

/// A handle that answers while the node starts, then hands every call to the node's. Clones
/// share it.
#[derive(Clone)]
pub struct Gate<H> {
    ready: watch::Receiver<Option<H>>,
    open: Arc<watch::Sender<Option<H>>>,
    progress: LoadProgress,
    events: broadcast::Sender<Event>,
    /// How long a call waits for the node ([`LOADING_WAIT`]).
    wait: Duration,
}

impl<H: Handle> Gate<H> {
    /// A closed gate: it reports `progress`, and early subscribers listen on `events` (the
    /// node's own channel, so they miss nothing).
    pub fn new(progress: LoadProgress, events: broadcast::Sender<Event>) -> Gate<H> {
        let (open, ready) = watch::channel(None);
        Gate {
            ready,
            open: Arc::new(open),
            progress,
            events,
            wait: LOADING_WAIT,
        }
    }

    /// The gate with calls waiting at most `wait` for the node instead of [`LOADING_WAIT`].
    pub fn with_wait(mut self, wait: Duration) -> Gate<H> {
        self.wait = wait;
        self
    }

    /// The node is ready: every call from now on goes to `handle` (waiting ones too).
    pub fn open(&self, handle: H) {
        self.open.send_replace(Some(handle));
    }

    fn current(&self) -> Option<H> {
        self.ready.borrow().clone()
    }

    fn loading(&self) -> CallError {
        CallError::new(ErrorCode::Loading, self.progress.describe())
    }

    /// The node's handle for this call: at once when ready; `status` is answered `loading`
    /// until then, other calls wait for it (bounded).
    async fn route(&self, call: &Unary) -> Result<H, CallError> {
        if let Some(h) = self.current() {
            return Ok(h);
        }
        if matches!(call, Unary::Daemon(DaemonCall::Status)) {
            return Err(self.loading());
        }
        let mut ready = self.ready.clone();
        let waited = tokio::time::timeout(self.wait, async move {
            ready
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|h| h.clone())
        })
        .await;
        match waited {
            Ok(Some(h)) => Ok(h),
            _ => Err(self.loading()),
        }
    }
}

impl<H: Handle> Handle for Gate<H> {
    async fn call(&self, call: Unary) -> Result<Reply, CallError> {
        let handle = self.route(&call).await?;
        handle.call(call).await
    }

    async fn call_encoded(&self, call: Unary) -> Result<Answer, CallError> {
        let handle = self.route(&call).await?;
        handle.call_encoded(call).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        match self.current() {
            Some(h) => h.subscribe(),
            None => self.events.subscribe(),
        }
    }
}
