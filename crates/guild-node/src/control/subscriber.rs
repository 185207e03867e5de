//! A subscribed connection: node events, filtered, through a bounded per-subscriber queue.
//!
//! A forwarder task moves events from the node's broadcast channel into the subscriber's queue
//! with `try_send`, so the node and the other subscribers never wait for this one. When the queue
//! is full the event is dropped and counted; the count becomes an `events.dropped` event placed
//! exactly where the events went missing: the forwarder sends it before the next event it queues,
//! or the writer sends it when it has emptied the queue, whichever comes first.

use super::server::Shared;
use super::Handle;
use guild_core::control::framing::{Frame, LineReader};
use guild_core::control::{to_result, CallError, Event, EventFilter, Response, Subscribed};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, mpsc};

/// A `subscribe` request that was accepted.
pub(super) struct Subscriber {
    /// The request id, echoed in the acknowledgement.
    pub(super) id: Value,
    /// The kinds as asked, echoed in the acknowledgement.
    pub(super) kinds: Vec<String>,
    /// What passes.
    pub(super) filter: EventFilter,
}

/// Aborts the forwarder when the subscription ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Subscriber {
    /// Acknowledges, then streams events until the client leaves, the node stops publishing or
    /// the server shuts down.
    pub(super) async fn run<H: Handle>(
        self,
        shared: &Shared<H>,
        mut lines: LineReader<BufReader<OwnedReadHalf>>,
        write: OwnedWriteHalf,
    ) {
        let _gauge = shared.stats.subscriber_guard();
        // Subscribe before acknowledging: every event after the acknowledgement is delivered.
        let events = shared.handle.subscribe();
        let mut out = BufWriter::new(write);
        let ack = match to_result(&Subscribed { kinds: self.kinds }) {
            Ok(value) => Response::result(self.id, value),
            Err(e) => Response::error(self.id, e),
        };
        if shared.respond(&mut out, &ack).await.is_err() || out.flush().await.is_err() {
            return;
        }
        let (tx, mut queue) = mpsc::channel(shared.limits.subscriber_queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let _forwarder = AbortOnDrop(tokio::spawn(tracing::Instrument::instrument(
            forward(
                events,
                self.filter,
                tx,
                dropped.clone(),
                shared.stats.clone(),
            ),
            tracing::Span::current(),
        )));
        loop {
            let event = tokio::select! {
                biased;
                () = shared.cancel.cancelled() => {
                    let bye = Response::error(Value::Null, CallError::shutting_down());
                    let _ = shared.respond(&mut out, &bye).await;
                    let _ = out.flush().await;
                    return;
                }
                event = queue.recv() => event,
                input = lines.next() => match input {
                    // Input after `subscribe` is ignored; end of input ends the subscription.
                    Ok(Frame::Line(_) | Frame::TooLong(_)) => continue,
                    Ok(Frame::Eof) | Err(_) => return,
                },
            };
            let Some(event) = event else {
                // The node dropped its sender: it is going away.
                let _ = write_dropped(shared, &mut out, &dropped).await;
                let _ = out.flush().await;
                return;
            };
            if write_event(shared, &mut out, &event).await.is_err() {
                return;
            }
            if queue.is_empty() {
                // Caught up: tell about drops now, then push everything out.
                if write_dropped(shared, &mut out, &dropped).await.is_err()
                    || out.flush().await.is_err()
                {
                    return;
                }
            }
        }
    }
}

async fn write_event<H>(
    shared: &Shared<H>,
    out: &mut BufWriter<OwnedWriteHalf>,
    event: &Event,
) -> std::io::Result<()> {
    let mut line = serde_json::to_string(event).map_err(std::io::Error::other)?;
    line.push('\n');
    shared.write(out, line.as_bytes()).await
}

async fn write_dropped<H>(
    shared: &Shared<H>,
    out: &mut BufWriter<OwnedWriteHalf>,
    dropped: &AtomicU64,
) -> std::io::Result<()> {
    match dropped.swap(0, Ordering::AcqRel) {
        0 => Ok(()),
        count => write_event(shared, out, &Event::EventsDropped { count }).await,
    }
}

/// Moves matching events into the subscriber's queue without ever waiting for it.
async fn forward(
    mut events: broadcast::Receiver<Event>,
    filter: EventFilter,
    queue: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
    stats: super::ServerStats,
) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // The node's channel overran this forwarder (it was not scheduled in time).
                dropped.fetch_add(n, Ordering::AcqRel);
                stats.add_dropped(n);
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if !filter.matches(&event) {
            continue;
        }
        let pending = dropped.swap(0, Ordering::AcqRel);
        if pending > 0 {
            match queue.try_send(Event::EventsDropped { count: pending }) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped.fetch_add(pending + 1, Ordering::AcqRel);
                    stats.add_dropped(1);
                    continue;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        match queue.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                dropped.fetch_add(1, Ordering::AcqRel);
                stats.add_dropped(1);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}
