//! The one intake path for public records (gossip, sync, DHT): budgets, validation, storage,
//! indexing and the events they raise; plus the per-peer token buckets and strikes behind it.

use super::io::{secs, Millis, Topic, Verdict, Via};
use super::state::{Meta, NeedInfo};
use super::{Refusal, Service, PUBLIC_KINDS};
use guild_core::control::Event;
use guild_core::wire::RefusalReason;
use guild_core::{AnyRecord, Profile, PublicKey, RecordKind, Signed, UnixTime};
use guild_store::ProfilePut;
use std::collections::HashMap;

/// Attestations one issuer may have accepted per minute (burst of the same size).
pub const ATTESTATIONS_PER_ISSUER_PER_MINUTE: u32 = 10;
/// Sync requests a peer may make per minute.
pub const SYNC_REQUESTS_PER_MINUTE: u32 = 120;
/// Least time between two rebuilds of the set of members whose profiles are never evicted when
/// only trust changed.
pub const PROTECTED_REFRESH_SECS: u64 = 10;
/// Direct messages a sender with no trust path from us (and no shared collaboration) may have
/// accepted per hour.
pub const STRANGER_MESSAGES_PER_HOUR: u32 = 20;
/// Direct messages a known member (collaborator, trust root, in our counted attestations) may
/// have accepted per hour.
pub const KNOWN_MESSAGES_PER_HOUR: u32 = 200;
/// Offers one sender may make on one need.
pub const MAX_OFFERS_PER_SENDER_PER_NEED: usize = 3;
/// Invalid records a peer may send before its requests are refused for [`PENALTY_WINDOW_MS`].
pub const MAX_STRIKES: u32 = 8;
/// How long strikes are remembered, milliseconds.
pub const PENALTY_WINDOW_MS: Millis = 600_000;
/// Most peers with strikes remembered.
const MAX_PENALISED_PEERS: usize = 4096;

/// Budgets and penalties: per peer (records, sync requests, strikes) and per signer
/// (attestations).
#[derive(Debug)]
pub struct Limits {
    /// Records accepted per peer.
    pub records: RateLimiter,
    /// Sync requests per peer.
    pub sync: RateLimiter,
    /// Attestations per issuer.
    pub attestations: RateLimiter,
    /// Direct messages per sender we have no trust path to.
    pub stranger_messages: RateLimiter,
    /// Direct messages per known sender.
    pub known_messages: RateLimiter,
    /// Invalid inputs per peer, since when.
    strikes: HashMap<PublicKey, (u32, Millis)>,
}

impl Limits {
    /// Budgets with `records_per_minute` records per peer.
    pub fn new(records_per_minute: u32) -> Limits {
        Limits {
            records: RateLimiter::new(records_per_minute),
            sync: RateLimiter::new(SYNC_REQUESTS_PER_MINUTE),
            attestations: RateLimiter::new(ATTESTATIONS_PER_ISSUER_PER_MINUTE),
            stranger_messages: RateLimiter::with_window(STRANGER_MESSAGES_PER_HOUR, 3600),
            known_messages: RateLimiter::with_window(KNOWN_MESSAGES_PER_HOUR, 3600),
            strikes: HashMap::new(),
        }
    }

    /// Counts an invalid input from `peer`.
    pub fn strike(&mut self, peer: PublicKey, now: Millis) {
        if self.strikes.len() >= MAX_PENALISED_PEERS && !self.strikes.contains_key(&peer) {
            self.strikes
                .retain(|_, (_, since)| now.saturating_sub(*since) < PENALTY_WINDOW_MS);
            if self.strikes.len() >= MAX_PENALISED_PEERS {
                return; // full of fresh offenders; this one is caught next time
            }
        }
        let e = self.strikes.entry(peer).or_insert((0, now));
        if now.saturating_sub(e.1) >= PENALTY_WINDOW_MS {
            *e = (0, now);
        }
        e.0 += 1;
    }

    /// Whether `peer` sent too many invalid inputs lately.
    pub fn is_penalised(&self, peer: &PublicKey, now: Millis) -> bool {
        self.strikes.get(peer).is_some_and(|(n, since)| {
            *n >= MAX_STRIKES && now.saturating_sub(*since) < PENALTY_WINDOW_MS
        })
    }
}

/// Seconds as the rate limiters count them.
pub(crate) fn limiter_time(now: Millis) -> f64 {
    now as f64 / 1000.0
}

impl Service {
    /// Decides on a gossip message: decode per topic, then the common intake.
    pub fn received_gossip(
        &mut self,
        from: PublicKey,
        topic: Topic,
        data: &[u8],
        now: Millis,
    ) -> Verdict {
        self.clock = secs(now);
        let record = match topic {
            Topic::Profiles => Signed::<Profile>::decode(data)
                .map(AnyRecord::Profile)
                .map_err(Refusal::from),
            _ => AnyRecord::decode(data).map_err(|e| {
                Refusal::new(RefusalReason::Malformed, format!("malformed record: {e}"))
            }),
        };
        let record = match record {
            Ok(r) => r,
            Err(refusal) => {
                tracing::debug!(%from, "malformed gossip on {topic:?}: {refusal}");
                self.stats.rejected("unknown", refusal.reason.label());
                return Verdict::Reject;
            }
        };
        let allowed = match topic {
            Topic::Profiles => record.kind() == RecordKind::Profile,
            Topic::Needs => matches!(record.kind(), RecordKind::Need | RecordKind::Revocation),
            Topic::Attestations => matches!(
                record.kind(),
                RecordKind::Attestation | RecordKind::Revocation
            ),
        };
        if !allowed {
            self.stats
                .rejected(kind_label(record.kind()), "not_addressed_here");
            return Verdict::Reject;
        }
        match self.received_record(Some(from), record, Via::Gossip, now) {
            Ok(Intake::Stored) => Verdict::Accept,
            // Held until its target arrives, but not forwarded: nobody can check it yet.
            Ok(Intake::Pending) => Verdict::Ignore,
            Err(r) if r.reason.is_fault() => Verdict::Reject,
            Err(_) => Verdict::Ignore,
        }
    }

    /// The one intake path for public records from peers (gossip, sync, DHT): budget,
    /// validation, authority, storage, indexes, events.
    pub fn received_record(
        &mut self,
        from: Option<PublicKey>,
        record: AnyRecord,
        via: Via,
        now: Millis,
    ) -> Result<Intake, Refusal> {
        self.clock = secs(now);
        let label = kind_label(record.kind());
        self.stats.received(label, via.label());
        let result = self.intake(from, record, now);
        match &result {
            Ok(_) => self.stats.accepted(label, via.label()),
            Err(r) => self.stats.rejected(label, r.reason.label()),
        }
        result
    }

    fn intake(
        &mut self,
        from: Option<PublicKey>,
        record: AnyRecord,
        now: Millis,
    ) -> Result<Intake, Refusal> {
        if let Some(peer) = from {
            if !self.limits.records.allow(&peer.0, limiter_time(now)) {
                return Err(Refusal::rate_limited("over this peer's record budget"));
            }
        }
        if !PUBLIC_KINDS.contains(&record.kind()) {
            return Err(Refusal::not_here(format!(
                "{} records do not travel by gossip or sync",
                record.kind()
            )));
        }
        let t = secs(now);
        let id = record.id();
        // Cheap before costly: a record we hold needs no signature check.
        if self.state.meta.contains_key(&id) {
            return Err(Refusal::duplicate(format!(
                "{} {id} is already held",
                record.kind()
            )));
        }
        record.validate(t)?;
        match record {
            AnyRecord::Profile(p) => self.accept_profile(p, t).map(|()| Intake::Stored),
            AnyRecord::Revocation(r) => self.receive_revocation(r, from, t),
            AnyRecord::Attestation(a) => {
                if !self
                    .limits
                    .attestations
                    .allow(&a.body.issuer.0, limiter_time(now))
                {
                    return Err(Refusal::rate_limited(
                        "over this issuer's attestation budget",
                    ));
                }
                self.receive_attestation(a, from, now)
                    .map(|()| Intake::Stored)
            }
            AnyRecord::Need(n) => {
                let record = AnyRecord::Need(n);
                self.store_record(&record, t)?;
                if let AnyRecord::Need(n) = &record {
                    self.need_arrived(n);
                }
                Ok(Intake::Stored)
            }
            other => Err(Refusal::not_here(format!(
                "{} records do not travel by gossip or sync",
                other.kind()
            ))),
        }
    }

    /// Stores a validated record and indexes it, then applies any revocation that was waiting
    /// for it (only its issuer's).
    pub(crate) fn store_record(
        &mut self,
        record: &AnyRecord,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        if !self.store.put_record(record)? {
            return Err(Refusal::duplicate(format!(
                "{} {} is already held",
                record.kind(),
                record.id()
            )));
        }
        self.index_record(record);
        self.target_arrived(record.id(), record.signer(), record.kind(), now);
        Ok(())
    }

    /// Adds a stored record to the indexes (start-up load and intake alike).
    pub(crate) fn index_record(&mut self, record: &AnyRecord) {
        let id = record.id();
        self.state.add_meta(
            id,
            Meta {
                kind: record.kind(),
                signer: record.signer(),
                issued_at: record.issued_at(),
                expires_at: record.expires_at(),
            },
        );
        match record {
            AnyRecord::Profile(_) => {}
            AnyRecord::Need(n) => {
                self.state.needs.insert(
                    id,
                    NeedInfo {
                        asker: n.signer,
                        issued_at: n.body.issued_at,
                        expires_at: n.body.expires_at,
                    },
                );
            }
            AnyRecord::Offer(o) => self.index_offer(o),
            AnyRecord::Attestation(a) => self.index_attestation(a),
            AnyRecord::Revocation(r) => self.index_revocation(r),
            AnyRecord::Collaboration(c) => self.index_collaboration(c),
            AnyRecord::CollabEntry(e) => self.index_entry(e),
            AnyRecord::Message(m) => {
                self.state
                    .messages
                    .insert((m.body.issued_at, id), (m.signer, m.body.to));
            }
        }
    }

    /// Removes a record from the store and every index (expiry).
    fn drop_record(&mut self, id: &guild_core::RecordId, now: UnixTime) {
        let Some(meta) = self.state.remove_meta(id) else {
            return;
        };
        match meta.kind {
            RecordKind::Profile => {
                // Only if this is still the member's current profile.
                if self.state.profile_ids.remove(id).is_some() {
                    self.profiles.remove(&meta.signer);
                    self.index_epoch += 1;
                    if let Err(e) = self.store.remove_profile(&meta.signer) {
                        tracing::warn!("cannot remove an expired profile: {e}");
                    }
                }
                return;
            }
            RecordKind::Need => {
                self.state.needs.remove(id);
            }
            RecordKind::Offer => {
                if let Some(o) = self.state.offers.remove(id) {
                    if let Some(set) = self.state.offers_by_need.get_mut(&o.need) {
                        set.remove(id);
                        if set.is_empty() {
                            self.state.offers_by_need.remove(&o.need);
                        }
                    }
                }
                self.state.accepted.remove(id);
            }
            RecordKind::Attestation => self.unindex_attestation(id, now),
            RecordKind::Revocation => {
                if let Some(target) = self.state.revocation_of.remove(id) {
                    self.state.revoked.remove(&target);
                }
            }
            RecordKind::Collaboration => {
                if let Some(c) = self.state.collabs.remove(id) {
                    for eid in c.log.values() {
                        self.state.entry_of.remove(eid);
                    }
                }
                self.forget_purpose(id);
                // Attestations citing it are unbacked from now on.
                self.refresh_collab_attestations(id, now);
            }
            RecordKind::CollabEntry => {
                self.state.entry_of.remove(id);
            }
            RecordKind::Message => {
                self.state.messages.remove(&(meta.issued_at, *id));
            }
        }
        if let Err(e) = self.store.remove_record(id) {
            tracing::warn!("cannot remove an expired record: {e}");
        }
    }

    /// Drops what expired: a walk over the expiry index, bounded per tick.
    pub(crate) fn sweep(&mut self, now: UnixTime) {
        for id in self.state.expired(now, super::MAX_SWEEP_PER_TICK) {
            self.drop_record(&id, now);
        }
        self.sweep_pending(now);
        self.stats.profiles.set(self.profiles.len() as i64);
    }

    /// Indexes a profile (start-up load and intake).
    pub(crate) fn index_profile(&mut self, p: &Signed<Profile>) {
        let id = p.id();
        if let Some(old) = self.profiles.get(&p.signer).map(|e| e.id) {
            self.state.profile_ids.remove(&old);
            self.state.remove_meta(&old);
        }
        self.profiles.insert(p.signer, id, &p.body);
        self.index_epoch += 1;
        self.state.profile_ids.insert(id, p.signer);
        self.state.add_meta(
            id,
            Meta {
                kind: RecordKind::Profile,
                signer: p.signer,
                issued_at: p.body.issued_at,
                expires_at: p.body.expires_at,
            },
        );
    }

    /// Stores and indexes a validated profile; a newer one replaces the older. Over the cap, the
    /// oldest profiles go, never ours.
    pub(crate) fn accept_profile(
        &mut self,
        p: Signed<Profile>,
        _now: UnixTime,
    ) -> Result<(), Refusal> {
        if let Some(e) = self.profiles.get(&p.signer) {
            if (e.issued_at, e.id) >= (p.body.issued_at, p.id()) {
                return Err(Refusal::duplicate("an equal or newer profile is held"));
            }
        }
        match self.store.put_profile(&p)? {
            ProfilePut::Stale => {
                return Err(Refusal::duplicate("an equal or newer profile is held"))
            }
            ProfilePut::Inserted | ProfilePut::Replaced => {}
        }
        self.index_profile(&p);
        let evict = if self.profiles.len() > self.cfg.max_profiles {
            let protected = self.protected_members();
            self.profiles
                .eviction_candidates(self.cfg.max_profiles, |k| protected.contains(k))
        } else {
            vec![]
        };
        for who in evict {
            if let Some(id) = self.profiles.get(&who).map(|e| e.id) {
                self.state.profile_ids.remove(&id);
                self.state.remove_meta(&id);
            }
            self.profiles.remove(&who);
            self.index_epoch += 1;
            if let Err(e) = self.store.remove_profile(&who) {
                tracing::warn!("cannot evict a profile: {e}");
            }
        }
        self.stats.profiles.set(self.profiles.len() as i64);
        if p.signer != self.me {
            self.emit(Event::ProfileLearned {
                peer: p.signer,
                name: p.body.name.clone(),
                skills: p.body.skills.clone(),
            });
        }
        Ok(())
    }
}

impl Service {
    /// Members whose profiles are never evicted: us, our collaborators, our trust roots and
    /// everyone our counted attestations involve. Cached until trust or collaborations change,
    /// so a flood of strangers' profiles at the cap costs no scan per profile.
    pub(crate) fn protected_members(
        &mut self,
    ) -> std::sync::Arc<std::collections::HashSet<PublicKey>> {
        let key = (
            self.trust_epoch,
            self.state.collabs.len(),
            self.state.roots.len(),
        );
        if let Some((k, at, set)) = &self.protected {
            // Trust changes with every counted attestation: follow it at most every few
            // seconds, so a stream of attestations and messages costs no rebuild per message.
            // New collaborations and roots count at once.
            let fresh_enough = k.1 == key.1
                && k.2 == key.2
                && (k.0 == key.0 || self.clock < at + PROTECTED_REFRESH_SECS);
            if fresh_enough {
                return set.clone();
            }
        }
        let mut set = std::collections::HashSet::new();
        set.insert(self.me);
        for c in self.state.collabs.values() {
            if c.members.contains(&self.me) {
                set.extend(c.members.iter().copied());
            }
        }
        for (peer, _) in self.state.roots.keys() {
            set.insert(*peer);
        }
        for (issuer, subject, _) in self.state.edges.keys() {
            set.insert(*issuer);
            set.insert(*subject);
        }
        let set = std::sync::Arc::new(set);
        self.protected = Some((key, self.clock, set.clone()));
        set
    }
}

/// What the intake did with a record it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// Stored and indexed (forward it).
    Stored,
    /// A revocation whose target is not held: kept in the bounded pending pool until the target
    /// arrives (do not forward it: nobody can check it yet).
    Pending,
}

/// The metrics label of a kind.
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

/// Most peers tracked by the rate limiter; beyond it the longest-idle are forgotten.
pub const MAX_TRACKED_PEERS: usize = 4096;

/// A token bucket per peer: `per_minute` records, refilled continuously, bursts up to the same.
#[derive(Debug)]
pub struct RateLimiter {
    /// Bucket size: the burst allowed.
    cap: f64,
    /// Seconds to refill a whole bucket.
    window: f64,
    buckets: HashMap<Vec<u8>, (f64, f64)>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` records per peer.
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter::with_window(per_minute, 60)
    }

    /// A limiter allowing `count` per `window_secs` per key, in a burst of up to `count`.
    pub fn with_window(count: u32, window_secs: u32) -> RateLimiter {
        RateLimiter {
            cap: f64::from(count.max(1)),
            window: f64::from(window_secs.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `peer` at time `now_secs` (fractional seconds, monotonic). Returns
    /// false when the peer is over budget.
    pub fn allow(&mut self, peer: &[u8], now_secs: f64) -> bool {
        if self.buckets.len() >= MAX_TRACKED_PEERS && !self.buckets.contains_key(peer) {
            self.forget_idle(now_secs);
        }
        let (cap, window) = (self.cap, self.window);
        let (tokens, last) = self.buckets.entry(peer.to_vec()).or_insert((cap, now_secs));
        *tokens = (*tokens + (now_secs - *last).max(0.0) * cap / window).min(cap);
        *last = now_secs;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn forget_idle(&mut self, now_secs: f64) {
        // Full buckets carry no information; drop those first, then the oldest half.
        let (cap, window) = (self.cap, self.window);
        self.buckets
            .retain(|_, (t, last)| (*t + (now_secs - *last) * cap / window) < cap);
        if self.buckets.len() >= MAX_TRACKED_PEERS {
            let mut lasts: Vec<f64> = self.buckets.values().map(|(_, l)| *l).collect();
            lasts.sort_by(f64::total_cmp);
            let cut = lasts[lasts.len() / 2];
            self.buckets.retain(|_, (_, l)| *l > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refills_over_time() {
        let mut r = RateLimiter::new(60);
        for _ in 0..60 {
            assert!(r.allow(b"p", 0.0));
        }
        assert!(!r.allow(b"p", 0.0), "burst exhausted");
        assert!(r.allow(b"q", 0.0), "other peers unaffected");
        assert!(r.allow(b"p", 1.0), "one token per second refills");
        assert!(!r.allow(b"p", 1.0));
    }

    #[test]
    fn tracked_peers_are_bounded() {
        let mut r = RateLimiter::new(10);
        for i in 0..(MAX_TRACKED_PEERS as u32 * 2) {
            r.allow(&i.to_le_bytes(), f64::from(i));
        }
        assert!(r.buckets.len() <= MAX_TRACKED_PEERS);
    }
}
