//! Guild's direct protocol: answering peers' requests (profile, sync, fetch) and running
//! catch-up sync against a peer.

use super::events::{Via, PUBLIC_KINDS};
use super::{lock, Node};
use crate::service::sync;
use guild_core::codec;
use guild_core::wire::{
    DirectRequest, DirectResponse, SyncKey, MAX_FETCH_BYTES, MAX_FETCH_IDS, MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES, MAX_SYNC_RANGES,
};
use guild_core::{AnyRecord, RecordKind};
use guild_net::{PeerId, RequestError, ResponseHandle};

/// Most reconciliation rounds per kind in one sync (log16 of 10^9 records is under 8).
const MAX_SYNC_ROUNDS: usize = 12;
/// Most records fetched from one peer in one sync, per kind.
const MAX_SYNC_FETCH: usize = 4096;

/// Why a request to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// The transport failed.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The peer answered something that does not decode.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The peer refused.
    #[error("the peer refused: {0}")]
    Refused(String),
    /// The peer answered with the wrong kind of response.
    #[error("unexpected response")]
    Unexpected,
}

impl Node {
    /// Sends a direct request and decodes the answer.
    pub(crate) async fn direct(
        &self,
        peer: PeerId,
        req: &DirectRequest,
    ) -> Result<DirectResponse, DirectError> {
        let bytes = codec::encode(req).map_err(|e| DirectError::Malformed(e.to_string()))?;
        let answer = self.inner.net.request(peer, bytes).await?;
        let resp: DirectResponse = codec::decode(&answer, MAX_RESPONSE_BYTES)
            .map_err(|e| DirectError::Malformed(e.to_string()))?;
        if let DirectResponse::Error { message } = resp {
            return Err(DirectError::Refused(message));
        }
        Ok(resp)
    }

    /// Handles an inbound request on its own task, bounded by [`super::MAX_INBOUND_HANDLERS`].
    pub(crate) fn spawn_inbound(&self, peer: PeerId, data: Vec<u8>, channel: ResponseHandle) {
        let node = self.clone();
        let permit = self.inner.inbound_slots.clone().try_acquire_owned();
        self.inner.tasks.spawn(async move {
            let resp = match permit {
                Ok(_permit) => node.answer(peer, &data),
                Err(_) => DirectResponse::Error {
                    message: "busy, try again later".into(),
                },
            };
            match codec::encode(&resp) {
                Ok(bytes) => {
                    if let Err(e) = node.inner.net.respond(channel, bytes).await {
                        tracing::debug!(%peer, "cannot answer: {e}");
                    }
                }
                Err(e) => tracing::error!("cannot encode a response: {e}"),
            }
        });
    }

    fn answer(&self, peer: PeerId, data: &[u8]) -> DirectResponse {
        let refuse = |message: String| DirectResponse::Error { message };
        if self.is_penalised(&peer) {
            return refuse(
                "refused: too many invalid records from this peer; try again later".into(),
            );
        }
        let req: DirectRequest = match codec::decode(data, MAX_REQUEST_BYTES) {
            Ok(r) => r,
            Err(e) => {
                self.strike(peer);
                return refuse(format!("malformed request: {e}"));
            }
        };
        match req {
            DirectRequest::GetProfile => match self.inner.store.get_profile(&self.inner.me) {
                Ok(p) => DirectResponse::Profile(p.map(|p| Box::new(AnyRecord::Profile(p)))),
                Err(e) => refuse(format!("store error: {e}")),
            },
            DirectRequest::Sync { kind, ranges } => {
                let now = self.inner.started.elapsed().as_secs_f64();
                if !lock(&self.inner.sync_limiter).allow(&peer.to_bytes(), now) {
                    return refuse("too many sync requests; slow down".into());
                }
                if ranges.len() > MAX_SYNC_RANGES {
                    return refuse(format!("at most {MAX_SYNC_RANGES} ranges per request"));
                }
                if !PUBLIC_KINDS.contains(&kind) {
                    return refuse(format!("{kind} records are not synced"));
                }
                match self.sync_keys(kind) {
                    Ok(items) => DirectResponse::Sync(
                        ranges.iter().map(|f| sync::reply(&items, f)).collect(),
                    ),
                    Err(e) => refuse(e),
                }
            }
            DirectRequest::Fetch { ids } => {
                if ids.len() > MAX_FETCH_IDS {
                    return refuse(format!("at most {MAX_FETCH_IDS} ids per fetch"));
                }
                let mut out = Vec::new();
                let mut bytes = 0usize;
                for id in ids {
                    let who = lock(&self.inner.index).by_id(&id);
                    let record = match who {
                        Some(who) => self
                            .inner
                            .store
                            .get_profile(&who)
                            .ok()
                            .flatten()
                            .map(AnyRecord::Profile),
                        None => self.inner.store.get_record(&id).ok().flatten(),
                    };
                    let Some(record) = record.filter(|r| PUBLIC_KINDS.contains(&r.kind())) else {
                        continue;
                    };
                    bytes += record.encode().map(|b| b.len()).unwrap_or(0);
                    if bytes > MAX_FETCH_BYTES {
                        break;
                    }
                    out.push(record);
                }
                DirectResponse::Records(out)
            }
            DirectRequest::Deliver(record) => self.answer_delivery(peer, *record),
            DirectRequest::Proof { collaboration } => match self.proof_for(&collaboration) {
                Ok(records) => DirectResponse::Records(records),
                Err(reason) => refuse(reason),
            },
            DirectRequest::Invite {
                collaboration,
                invite,
                log,
            } => match self.receive_invite(peer, *collaboration, *invite, log) {
                Ok(()) => DirectResponse::Ack,
                Err(reason) => {
                    self.strike(peer);
                    refuse(reason)
                }
            },
        }
    }

    /// A record addressed to us: validated with its type's validation function, then handled by
    /// kind. Invalid records count against the sender.
    fn answer_delivery(&self, peer: PeerId, record: AnyRecord) -> DirectResponse {
        let now = guild_core::time::now();
        if let Err(e) = record.validate(now) {
            self.strike(peer);
            self.inner
                .stats
                .rejected(super::events::kind_label(record.kind()), "invalid");
            return DirectResponse::Error {
                message: format!("invalid {}: {e}", record.kind()),
            };
        }
        let result = match record {
            AnyRecord::Offer(o) => self.receive_offer(peer, o),
            AnyRecord::Message(m) => self.receive_message(peer, m),
            AnyRecord::Collaboration(c) => self.receive_collaboration(peer, c),
            AnyRecord::CollabEntry(e) => self.receive_entry(peer, e),
            other => Err(format!(
                "{} records are not delivered directly",
                other.kind()
            )),
        };
        match result {
            Ok(()) => DirectResponse::Ack,
            Err(message) => {
                if !message.starts_with(super::deliver::REPLAY_PREFIX) {
                    self.strike(peer);
                }
                DirectResponse::Error { message }
            }
        }
    }

    /// Our keys of one kind in `(issued_at, id)` order.
    pub(crate) fn sync_keys(&self, kind: RecordKind) -> Result<Vec<SyncKey>, String> {
        self.inner
            .store
            .index_range(kind, 0, u64::MAX)
            .map(|v| {
                v.into_iter()
                    .map(|(time, id)| SyncKey { time, id })
                    .collect()
            })
            .map_err(|e| format!("store error: {e}"))
    }

    /// Starts a sync with `peer` unless one is running or too many are.
    pub(crate) fn spawn_sync(&self, peer: PeerId) {
        if !lock(&self.inner.syncing).insert(peer) {
            return;
        }
        let node = self.clone();
        self.inner.tasks.spawn(async move {
            if let Ok(_permit) = node.inner.sync_slots.acquire().await {
                match node.sync_with(peer).await {
                    Ok(n) if n > 0 => tracing::info!(%peer, "sync: learned {n} records"),
                    Ok(_) => tracing::debug!(%peer, "sync: nothing new"),
                    Err(e) => tracing::debug!(%peer, "sync failed: {e}"),
                }
            }
            lock(&node.inner.syncing).remove(&peer);
        });
    }

    /// Reconciles every public kind with `peer` and fetches what we lack. Returns how many
    /// records were accepted.
    pub async fn sync_with(&self, peer: PeerId) -> Result<usize, DirectError> {
        let mut accepted = 0;
        for kind in PUBLIC_KINDS {
            let mine = self.sync_keys(kind).map_err(DirectError::Refused)?;
            let mut pending = sync::initial(&mine);
            let mut fetch = Vec::new();
            for _ in 0..MAX_SYNC_ROUNDS {
                if pending.is_empty() || fetch.len() >= MAX_SYNC_FETCH {
                    break;
                }
                let batch: Vec<_> = pending
                    .drain(..pending.len().min(MAX_SYNC_RANGES))
                    .collect();
                let n = batch.len();
                let resp = self
                    .direct(
                        peer,
                        &DirectRequest::Sync {
                            kind,
                            ranges: batch,
                        },
                    )
                    .await?;
                let DirectResponse::Sync(replies) = resp else {
                    return Err(DirectError::Unexpected);
                };
                if replies.len() != n {
                    return Err(DirectError::Malformed(format!(
                        "{} replies to {n} ranges",
                        replies.len()
                    )));
                }
                let step = sync::next_step(&mine, &replies);
                fetch.extend(step.fetch);
                pending.extend(step.ranges);
            }
            fetch.truncate(MAX_SYNC_FETCH);
            for chunk in fetch.chunks(MAX_FETCH_IDS) {
                let resp = self
                    .direct(
                        peer,
                        &DirectRequest::Fetch {
                            ids: chunk.to_vec(),
                        },
                    )
                    .await?;
                let DirectResponse::Records(records) = resp else {
                    return Err(DirectError::Unexpected);
                };
                for r in records {
                    // Only what we asked for: a peer cannot push unrelated records this way.
                    if !chunk.contains(&r.id()) || r.kind() != kind {
                        continue;
                    }
                    if self.ingest(r, Some(peer), Via::Sync).is_ok() {
                        accepted += 1;
                    }
                }
            }
        }
        Ok(accepted)
    }
}
