//! Delivering records addressed to someone (offers, messages, collaboration records and entries)
//! over the direct protocol, with bounded retries, and penalising peers that send invalid ones.

use super::{lock, Node};
use crate::node::direct::DirectError;
use guild_core::control::Event;
use guild_core::wire::{DirectRequest, DirectResponse};
use guild_core::{PublicKey, RecordId};
use guild_net::PeerId;
use std::time::{Duration, Instant};

/// Delivery attempts in total (the first, inline, plus background retries).
pub const DELIVERY_ATTEMPTS: u32 = 5;
/// Delay before the first retry; doubled each time (2, 4, 8, 16 s).
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(2);
/// Time bound of one delivery attempt.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Invalid records a peer may deliver before its requests are refused for [`PENALTY_WINDOW`].
pub const MAX_STRIKES: u32 = 8;
/// How long strikes are remembered.
pub const PENALTY_WINDOW: Duration = Duration::from_secs(600);
/// Most peers with strikes remembered.
const MAX_PENALISED_PEERS: usize = 4096;
/// A refusal starting with this means the recipient already has the record: delivered.
pub const REPLAY_PREFIX: &str = "replay:";

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliverError {
    /// The recipient refused it, with its reason (final: not retried).
    Refused(String),
    /// The recipient could not be reached (retried).
    Unreachable(String),
}

impl std::fmt::Display for DeliverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliverError::Refused(r) => write!(f, "refused by the recipient: {r}"),
            DeliverError::Unreachable(r) => write!(f, "recipient unreachable: {r}"),
        }
    }
}

impl Node {
    /// One delivery attempt: connect if needed (known addresses, else the DHT), send, read the
    /// acknowledgement.
    pub(crate) async fn deliver_once(
        &self,
        to: PublicKey,
        req: &DirectRequest,
    ) -> Result<(), DeliverError> {
        let peer = to.to_peer_id();
        let attempt = async {
            if !lock(&self.inner.peers).contains_key(&peer) {
                let _ = self.inner.net.dial_peer(peer).await;
            }
            self.direct(peer, req).await
        };
        match tokio::time::timeout(DELIVERY_TIMEOUT, attempt).await {
            Ok(Ok(DirectResponse::Ack)) => Ok(()),
            Ok(Ok(_)) => Err(DeliverError::Unreachable("unexpected answer".into())),
            Ok(Err(DirectError::Refused(r))) if r.starts_with(REPLAY_PREFIX) => Ok(()),
            Ok(Err(DirectError::Refused(r))) => Err(DeliverError::Refused(r)),
            Ok(Err(e)) => Err(DeliverError::Unreachable(e.to_string())),
            Err(_) => Err(DeliverError::Unreachable("timed out".into())),
        }
    }

    /// Delivers now; when the recipient is unreachable, keeps retrying in the background with
    /// backoff and reports the final outcome as a `delivery.outcome` event. Returns the first
    /// attempt's result.
    pub(crate) async fn deliver(
        &self,
        to: PublicKey,
        req: DirectRequest,
        record: RecordId,
        kind: &'static str,
    ) -> Result<(), DeliverError> {
        let first = self.deliver_once(to, &req).await;
        if let Err(DeliverError::Unreachable(e)) = &first {
            tracing::info!(%to, "{kind} not delivered yet ({e}); retrying in the background");
            let node = self.clone();
            let mut last = first_error_text(&first);
            self.inner.tasks.spawn(async move {
                let mut delay = FIRST_RETRY_DELAY;
                let mut attempts = 1;
                let mut delivered = false;
                while attempts < DELIVERY_ATTEMPTS {
                    tokio::select! {
                        _ = node.inner.cancel.cancelled() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    attempts += 1;
                    delay *= 2;
                    match node.deliver_once(to, &req).await {
                        Ok(()) => {
                            delivered = true;
                            break;
                        }
                        Err(DeliverError::Refused(r)) => {
                            last = format!("refused: {r}");
                            break;
                        }
                        Err(DeliverError::Unreachable(r)) => last = r,
                    }
                }
                node.emit(Event::DeliveryOutcome {
                    record,
                    kind: kind.to_string(),
                    to,
                    delivered,
                    attempts,
                    error: (!delivered).then_some(last),
                });
            });
        }
        first
    }

    /// Counts an invalid record delivered by `peer`.
    pub(crate) fn strike(&self, peer: PeerId) {
        let mut p = lock(&self.inner.penalties);
        let now = Instant::now();
        if p.len() >= MAX_PENALISED_PEERS {
            p.retain(|_, (_, since)| now.duration_since(*since) < PENALTY_WINDOW);
        }
        let e = p.entry(peer).or_insert((0, now));
        if now.duration_since(e.1) >= PENALTY_WINDOW {
            *e = (0, now);
        }
        e.0 += 1;
    }

    /// Whether `peer` has delivered too many invalid records lately.
    pub(crate) fn is_penalised(&self, peer: &PeerId) -> bool {
        lock(&self.inner.penalties)
            .get(peer)
            .is_some_and(|(n, since)| *n >= MAX_STRIKES && since.elapsed() < PENALTY_WINDOW)
    }
}

fn first_error_text(r: &Result<(), DeliverError>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(()) => String::new(),
    }
}
