//! The node loop: network events, timers, and the one intake path every record from a peer goes
//! through (gossip, sync, DHT fetch).

use super::{lock, Node, PeerState};
use crate::service::intake::Refusal;
use guild_core::control::Event;
use guild_core::{AnyRecord, Profile, RecordError, RecordKind, Signed};
use guild_net::{NetEvent, PeerId, Topic, Verdict};
use guild_store::ProfilePut;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long shutdown waits for the node's own tasks to end.
const SHUTDOWN_TASKS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where a record came from (metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Gossip,
    Sync,
    Dht,
}

impl Via {
    fn label(self) -> &'static str {
        match self {
            Via::Gossip => "gossip",
            Via::Sync => "sync",
            Via::Dht => "dht",
        }
    }
}

/// Kinds that spread publicly (gossip and sync). Offers, messages and collaboration logs travel
/// only directly between the people concerned.
pub(crate) const PUBLIC_KINDS: [RecordKind; 4] = [
    RecordKind::Profile,
    RecordKind::Need,
    RecordKind::Revocation,
    RecordKind::Attestation,
];

fn refusal_of(e: &RecordError) -> Refusal {
    match e {
        RecordError::Codec { .. } => Refusal::Malformed,
        _ => Refusal::Invalid,
    }
}

impl Node {
    pub(crate) async fn run(
        self,
        mut net_events: mpsc::Receiver<NetEvent>,
        net_task: JoinHandle<()>,
    ) {
        let opts = &self.inner.opts;
        let mut republish = tokio::time::interval(opts.republish_interval);
        let mut sweep = tokio::time::interval(opts.sweep_interval);
        let mut sync_tick = tokio::time::interval(opts.sync_interval);
        for t in [&mut republish, &mut sweep, &mut sync_tick] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        // Intervals fire at once; every timer's first run waits a full period (we published and
        // will sync on connect already).
        republish.tick().await;
        sweep.tick().await;
        sync_tick.tick().await;
        let mut round_robin = 0usize;
        loop {
            tokio::select! {
                biased;
                _ = self.inner.cancel.cancelled() => break,
                ev = net_events.recv() => match ev {
                    Some(ev) => self.on_net_event(ev).await,
                    None => {
                        tracing::warn!("the network layer stopped");
                        break;
                    }
                },
                _ = republish.tick() => self.publish_own().await,
                _ = sweep.tick() => self.sweep(),
                _ = sync_tick.tick() => {
                    let peers: Vec<PeerId> = lock(&self.inner.peers).keys().copied().collect();
                    if !peers.is_empty() {
                        round_robin = round_robin.wrapping_add(1);
                        self.spawn_sync(peers[round_robin % peers.len()]);
                    }
                }
            }
        }
        self.inner.cancel.cancel();
        self.inner.net.shutdown();
        let _ = net_task.await;
        // Tasks waiting on the network fail fast now that it has stopped.
        self.inner.tasks.close();
        if tokio::time::timeout(SHUTDOWN_TASKS_TIMEOUT, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "{} node tasks still running at shutdown",
                self.inner.tasks.len()
            );
        }
        if let Err(e) = self.inner.store.flush_async().await {
            tracing::error!("flushing the store at shutdown failed: {e}");
        }
        tracing::info!("node stopped");
    }

    async fn on_net_event(&self, ev: NetEvent) {
        match ev {
            NetEvent::Listening(addr) => {
                tracing::info!("listening on {addr}");
                lock(&self.inner.listen).push(addr);
                self.inner.listening.notify_waiters();
            }
            NetEvent::PeerConnected { peer, addr } => {
                let now = guild_core::time::now();
                lock(&self.inner.peers).insert(
                    peer,
                    PeerState {
                        addr: Some(addr.clone()),
                        since: now,
                    },
                );
                self.inner
                    .stats
                    .peers
                    .set(lock(&self.inner.peers).len() as i64);
                self.emit(Event::PeerConnected {
                    peer: peer.to_string(),
                    address: Some(addr.to_string()),
                    direction: None,
                });
                // Catch up with every new peer: gossip only carries what is published while we
                // are connected.
                if self.inner.opts.sync_on_connect {
                    self.spawn_sync(peer);
                }
            }
            NetEvent::PeerDisconnected { peer } => {
                lock(&self.inner.peers).remove(&peer);
                self.inner
                    .stats
                    .peers
                    .set(lock(&self.inner.peers).len() as i64);
                self.emit(Event::PeerDisconnected {
                    peer: peer.to_string(),
                });
            }
            NetEvent::PeerIdentified {
                peer, listen_addrs, ..
            } => {
                // guild-net has already disconnected peers of other communities.
                let addrs: Vec<String> = listen_addrs.iter().map(|a| a.to_string()).collect();
                let now = guild_core::time::now();
                if let Err(e) = self
                    .inner
                    .store
                    .remember_peer(&peer.to_bytes(), &addrs, now)
                {
                    tracing::warn!(%peer, "cannot remember peer addresses: {e}");
                }
            }
            NetEvent::Gossip {
                topic,
                message_id,
                propagation_source,
                data,
                ..
            } => {
                let verdict = self.on_gossip(topic, &data, propagation_source);
                let _ = self
                    .inner
                    .net
                    .report_validation(message_id, propagation_source, verdict)
                    .await;
            }
            NetEvent::InboundRequest {
                peer,
                data,
                channel,
            } => self.spawn_inbound(peer, data, channel),
            NetEvent::DroppedEvents { count } => {
                tracing::warn!("the node fell behind the network: {count} events dropped");
                self.inner.stats.dropped_net_events.inc_by(count);
            }
            NetEvent::RelayReservation { relay, addr } => {
                tracing::info!(%relay, "reachable through relay at {addr}");
            }
            NetEvent::HolePunch { peer, ok } => {
                tracing::debug!(%peer, ok, "hole punch finished");
            }
            _ => {}
        }
    }

    /// Decides on a gossip message: decode per topic, then the common intake.
    fn on_gossip(&self, topic: Topic, data: &[u8], from: PeerId) -> Verdict {
        let record = match topic {
            Topic::Profiles => Signed::<Profile>::decode(data).map(AnyRecord::Profile),
            _ => AnyRecord::decode(data).map_err(|source| RecordError::Codec {
                kind: RecordKind::Need,
                source,
            }),
        };
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%from, "malformed gossip on {topic:?}: {e}");
                self.inner
                    .stats
                    .rejected(topic.kind(), Refusal::Malformed.label());
                return Verdict::Reject;
            }
        };
        let allowed = match topic {
            Topic::Profiles => record.kind() == RecordKind::Profile,
            Topic::Needs => matches!(record.kind(), RecordKind::Need | RecordKind::Revocation),
            Topic::Attestations => {
                matches!(
                    record.kind(),
                    RecordKind::Attestation | RecordKind::Revocation
                )
            }
        };
        if !allowed {
            self.inner
                .stats
                .rejected(topic.kind(), Refusal::Unwanted.label());
            return Verdict::Reject;
        }
        match self.ingest(record, Some(from), Via::Gossip) {
            Ok(()) => Verdict::Accept,
            Err(Refusal::Malformed | Refusal::Invalid | Refusal::Unwanted) => Verdict::Reject,
            Err(Refusal::Duplicate | Refusal::RateLimited) => Verdict::Ignore,
        }
    }

    /// The one intake path for records from peers: rate budget, validation, storage, index,
    /// events. Returns why a record was not taken.
    pub(crate) fn ingest(
        &self,
        record: AnyRecord,
        from: Option<PeerId>,
        via: Via,
    ) -> Result<(), Refusal> {
        let kind = record.kind();
        let label = kind_label(kind);
        self.inner.stats.received(label, via.label());
        let result = self.ingest_inner(record, from);
        match result {
            Ok(()) => self.inner.stats.accepted(label, via.label()),
            Err(r) => self.inner.stats.rejected(label, r.label()),
        }
        result
    }

    fn ingest_inner(&self, record: AnyRecord, from: Option<PeerId>) -> Result<(), Refusal> {
        if let Some(peer) = from {
            let now = self.inner.started.elapsed().as_secs_f64();
            if !lock(&self.inner.limiter).allow(&peer.to_bytes(), now) {
                return Err(Refusal::RateLimited);
            }
        }
        if !PUBLIC_KINDS.contains(&record.kind()) {
            return Err(Refusal::Unwanted);
        }
        let now = guild_core::time::now();
        if let Err(e) = record.validate(now) {
            tracing::debug!(?from, "refused {}: {e}", record.kind());
            return Err(refusal_of(&e));
        }
        if let AnyRecord::Attestation(a) = &record {
            if !self.attestation_budget(&a.body.issuer) {
                return Err(Refusal::RateLimited);
            }
        }
        match record {
            AnyRecord::Profile(p) => self.accept_profile(p),
            other => match self.inner.store.put_record(&other) {
                Ok(true) => {
                    self.after_public_record(&other);
                    self.after_reputation_record(&other, from);
                    Ok(())
                }
                Ok(false) => Err(Refusal::Duplicate),
                Err(e) => {
                    tracing::error!("cannot store a {}: {e}", other.kind());
                    Err(Refusal::Duplicate)
                }
            },
        }
    }

    /// Stores and indexes a validated profile; a newer one replaces the older.
    pub(crate) fn accept_profile(&self, p: Signed<Profile>) -> Result<(), Refusal> {
        match self.inner.store.put_profile(&p) {
            Ok(ProfilePut::Stale) => Err(Refusal::Duplicate),
            Ok(_) => {
                let now = guild_core::time::now();
                let evict = {
                    let mut idx = lock(&self.inner.index);
                    idx.insert(p.signer, p.id(), &p.body);
                    let evict = idx.eviction_candidates(self.inner.opts.max_profiles, now);
                    for who in &evict {
                        idx.remove(who);
                    }
                    self.inner.stats.profiles.set(idx.len() as i64);
                    evict
                };
                for who in evict {
                    if let Err(e) = self.inner.store.remove_profile(&who) {
                        tracing::warn!("cannot evict a profile: {e}");
                    }
                }
                if p.signer != self.inner.me {
                    self.emit(Event::ProfileLearned {
                        peer: p.signer,
                        name: p.body.name.clone(),
                        skills: p.body.skills.clone(),
                    });
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!("cannot store a profile: {e}");
                Err(Refusal::Duplicate)
            }
        }
    }

    /// Drops expired profiles and records.
    fn sweep(&self) {
        let now = guild_core::time::now();
        let expired = lock(&self.inner.index).expired(now);
        for who in expired {
            lock(&self.inner.index).remove(&who);
            if let Err(e) = self.inner.store.remove_profile(&who) {
                tracing::warn!("cannot remove an expired profile: {e}");
            }
        }
        for kind in [
            RecordKind::Need,
            RecordKind::Revocation,
            RecordKind::Attestation,
        ] {
            let stale: Vec<_> = self
                .inner
                .store
                .records_of_kind(kind)
                .filter_map(|r| r.ok())
                .filter(|r| r.expires_at() <= now)
                .map(|r| r.id())
                .collect();
            for id in stale {
                if let Err(e) = self.inner.store.remove_record(&id) {
                    tracing::warn!("cannot remove an expired record: {e}");
                }
            }
        }
        self.inner
            .stats
            .profiles
            .set(lock(&self.inner.index).len() as i64);
    }
}

pub(crate) fn kind_label(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Profile => "profile",
        RecordKind::Need => "need",
        RecordKind::Offer => "offer",
        RecordKind::Attestation => "attestation",
        RecordKind::Revocation => "revocation",
        RecordKind::Collaboration => "collaboration",
        RecordKind::CollabEntry => "collab_entry",
        RecordKind::Message => "message",
    }
}

pub(crate) fn short(peer: &PeerId) -> String {
    let s = peer.to_base58();
    s[s.len().saturating_sub(8)..].to_string()
}
