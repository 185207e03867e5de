//! The one intake path for public records (gossip, sync, DHT): budgets (see `admission`),
//! validation, storage, indexing and the events they raise.

use super::admission::Tier;
use super::io::{secs, Millis, Topic, Verdict, Via};
use super::state::{Meta, NeedInfo};
use super::{Refusal, Service, PUBLIC_KINDS};
use crate::ProfilePut;
use crate::Storage;
use guild_core::control::Event;
use guild_core::wire::RefusalReason;
use guild_core::{AnyRecord, Profile, PublicKey, RecordId, RecordKind, Signed, UnixTime};

impl<S: Storage> Service<S> {
    /// Decides on a gossip message: decode per topic, then the common intake. The same as
    /// [`Service::received_gossip_batch`] with one message.
    pub fn received_gossip(
        &mut self,
        from: PublicKey,
        topic: Topic,
        data: &[u8],
        now: impl Into<crate::LocalTime>,
    ) -> Verdict {
        self.received_gossip_batch(&[Gossip { from, topic, data }], now)[0]
    }

    /// Decides on the gossip messages that arrived together (one loop turn), in order: each is
    /// decoded and given the cheap checks and budgets first, then the signatures of those left
    /// are checked together ([`guild_core::record::verify_all`]), then each is admitted in
    /// arrival order. One verdict per message, in order; the same verdicts as one message at a
    /// time, but for budgets that a record earlier in the same batch changes.
    pub fn received_gossip_batch(
        &mut self,
        messages: &[Gossip<'_>],
        now: impl Into<crate::LocalTime>,
    ) -> Vec<Verdict> {
        let now = self.enter(now).as_millis();
        let mut verdicts = vec![Verdict::Ignore; messages.len()];
        let mut records = Vec::with_capacity(messages.len());
        let mut positions = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            match self.decode_gossip(m, now) {
                Ok(record) => {
                    records.push((Some(m.from), record));
                    positions.push(i);
                }
                Err(()) => verdicts[i] = Verdict::Reject,
            }
        }
        let results = self.received_records(records, Via::Gossip, now);
        for (i, result) in positions.into_iter().zip(results) {
            verdicts[i] = match result {
                Ok(Intake::Stored) => Verdict::Accept,
                // Held until its target arrives, but not forwarded: nobody can check it yet.
                Ok(Intake::Pending) => Verdict::Ignore,
                Err(r) if r.reason.is_fault() => {
                    // Honest peers validate before forwarding: relaying invalid records is the
                    // forwarder's fault (gossipsub lowers its score; eight strikes disconnect
                    // it).
                    self.strike(messages[i].from, now);
                    Verdict::Reject
                }
                Err(_) => Verdict::Ignore,
            };
        }
        verdicts
    }

    /// Decodes a gossip message as its topic's records; a malformed or misplaced one strikes
    /// its forwarder.
    fn decode_gossip(&mut self, m: &Gossip<'_>, now: Millis) -> Result<AnyRecord, ()> {
        let (from, topic) = (m.from, m.topic);
        let record = match topic {
            Topic::Profiles => Signed::<Profile>::decode(m.data)
                .map(AnyRecord::Profile)
                .map_err(Refusal::from),
            _ => AnyRecord::decode(m.data).map_err(|e| {
                Refusal::new(RefusalReason::Malformed, format!("malformed record: {e}"))
            }),
        };
        let record = match record {
            Ok(r) => r,
            Err(refusal) => {
                tracing::debug!(%from, "malformed gossip on {topic:?}: {refusal}");
                self.stats.rejected("unknown", refusal.reason.label());
                self.strike(from, now);
                return Err(());
            }
        };
        let allowed = match topic {
            Topic::Profiles => record.kind() == RecordKind::Profile,
            Topic::Needs => matches!(record.kind(), RecordKind::Need | RecordKind::Revocation),
            Topic::Attestations => matches!(
                record.kind(),
                RecordKind::Attestation | RecordKind::Revocation | RecordKind::Sponsorship
            ),
        };
        if !allowed {
            self.stats
                .rejected(kind_label(record.kind()), "not_addressed_here");
            self.strike(from, now);
            return Err(());
        }
        Ok(record)
    }

    /// The one intake path for public records from peers (gossip, sync, DHT): budget,
    /// validation, authority, storage, indexes, events. The same as
    /// [`Service::received_records`] with one record.
    pub fn received_record(
        &mut self,
        from: Option<PublicKey>,
        record: AnyRecord,
        via: Via,
        now: impl Into<crate::LocalTime>,
    ) -> Result<Intake, Refusal> {
        self.received_records(vec![(from, record)], via, now)
            .pop()
            .unwrap_or_else(|| Err(Refusal::store("no result for a record")))
    }

    /// Takes in records that arrived together, each with the peer it came from, in three
    /// passes: the cheap checks and budgets of each (so a refusal costs microseconds and a
    /// stranger past its budget costs no signature check), the signatures of those left
    /// together, then admission of each in arrival order. One result per record, in order.
    pub fn received_records(
        &mut self,
        records: Vec<(Option<PublicKey>, AnyRecord)>,
        via: Via,
        now: impl Into<crate::LocalTime>,
    ) -> Vec<Result<Intake, Refusal>> {
        let now = self.enter(now).as_millis();
        let mut results: Vec<Option<Result<Intake, Refusal>>> = Vec::with_capacity(records.len());
        let mut checks = Vec::with_capacity(records.len());
        let mut waiting = Vec::with_capacity(records.len());
        // `received` is counted as each record's outcome is known (refused here, or admitted
        // below), so a reader who sees it counted sees the record stored or refused.
        for (from, record) in records {
            match self.intake_checks(from, &record, now) {
                Ok((id, check)) => {
                    checks.push(check);
                    waiting.push((results.len(), from, id, record));
                    results.push(None);
                }
                Err(e) => {
                    self.stats.received(kind_label(record.kind()), via.label());
                    self.stats
                        .rejected(kind_label(record.kind()), e.reason.label());
                    results.push(Some(Err(e)));
                }
            }
        }
        let signatures = guild_core::record::verify_all(&checks);
        // Each check's message is the record's body encoded once: what it is stored as.
        let messages = checks.into_iter().map(|c| c.message);
        for ((i, from, id, record), (signature, message)) in waiting
            .into_iter()
            .zip(signatures.into_iter().zip(messages))
        {
            let label = kind_label(record.kind());
            let result = self.intake_admit(from, id, record, message, signature, now);
            self.stats.received(label, via.label());
            match &result {
                Ok(_) => {
                    self.stats.accepted(label, via.label());
                    // What a peer sends that we take is what keeps it worth a connection.
                    if let Some(peer) = from {
                        self.mesh.useful(&peer, now.into());
                    }
                }
                Err(r) => self.stats.rejected(label, r.reason.label()),
            }
            results[i] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Refusal::store("no result for a record"))))
            .collect()
    }

    /// The checks before the signature, cheapest first: kind, already held, the forwarding
    /// peer's budget for strangers' records, then sizes, times and fields. Returns the record's
    /// id and the signature check left, both from one encoding of its body (the check's message,
    /// which the record is then stored from).
    fn intake_checks(
        &mut self,
        from: Option<PublicKey>,
        record: &AnyRecord,
        now: Millis,
    ) -> Result<(RecordId, guild_core::record::SignatureCheck), Refusal> {
        if !PUBLIC_KINDS.contains(&record.kind()) {
            return Err(Refusal::not_here(format!(
                "{} records do not travel by gossip or sync",
                record.kind()
            )));
        }
        let t = secs(now);
        // The signed message gives the id, the signature check and the stored encoding.
        let message = record.signing_message().ok();
        let id = message
            .as_deref()
            .map_or_else(|| record.id(), RecordId::of_message);
        // Cheap before costly: a record we hold needs no signature check.
        if self.state.records.contains(&id) {
            return Err(Refusal::duplicate(format!(
                "{} {id} is already held",
                record.kind()
            )));
        }
        // A forwarding peer's budget covers what strangers signed: records of members we trust
        // are bounded by their signers' own budgets, so a flood of strangers' records relayed
        // by honest peers never crowds out a member's need. Forging a member's signature to
        // pass costs a failed check, charged to the forwarder.
        let signed_by_stranger = self.tier_of(&record.signer()) == Tier::Stranger;
        if let Some(peer) = from {
            if signed_by_stranger && !self.admission.records.allow(&peer.0, now) {
                return Err(Refusal::rate_limited(
                    "over this peer's budget for strangers' records",
                ));
            }
        }
        // A sponsorship counts only when our trust reaches its sponsor: refused before any
        // signature check otherwise (see `invite.rs`).
        if let AnyRecord::Sponsorship(s) = record {
            let ours = s.body.newcomer == self.me || s.body.issuer == self.me;
            if !ours && !self.standing().reached(&s.body.issuer) {
                return Err(Refusal::unknown(
                    "a sponsorship counts here only when our trust reaches its sponsor",
                ));
            }
        }
        let check = match message {
            Some(message) => record.check_unsigned_with(message, t),
            None => record.check_unsigned(t),
        };
        match check {
            Ok(check) => Ok((id, check)),
            Err(e) => {
                self.charge_invalid(from, signed_by_stranger, now);
                Err(e.into())
            }
        }
    }

    /// An invalid record claiming a member's signature is charged to the peer that sent it,
    /// so forging members' records costs the forwarder's budget too (strangers' records were
    /// charged before their checks).
    fn charge_invalid(&mut self, from: Option<PublicKey>, signed_by_stranger: bool, now: Millis) {
        if let (Some(peer), false) = (from, signed_by_stranger) {
            self.admission.records.allow(&peer.0, now);
        }
    }

    /// Admits a record whose signature has been checked: per-signer budgets, authority,
    /// storage, indexes. `message` is its signing message (`id` its hash).
    fn intake_admit(
        &mut self,
        from: Option<PublicKey>,
        id: RecordId,
        record: AnyRecord,
        message: Vec<u8>,
        signature: Result<(), guild_core::RecordError>,
        now: Millis,
    ) -> Result<Intake, Refusal> {
        let t = secs(now);
        if let Err(e) = signature {
            let signed_by_stranger = self.tier_of(&record.signer()) == Tier::Stranger;
            self.charge_invalid(from, signed_by_stranger, now);
            return Err(e.into());
        }
        // A copy earlier in the same batch may have been stored since the first check.
        if self.state.records.contains(&id) {
            return Err(Refusal::duplicate(format!(
                "{} {id} is already held",
                record.kind()
            )));
        }
        match record {
            AnyRecord::Profile(p) => {
                let tier = self.tier_of(&p.signer);
                if p.signer != self.me && !self.admission.profiles.allow(tier, &p.signer.0, now) {
                    return Err(Refusal::rate_limited(format!(
                        "over this signer's profile budget ({} versions an hour for a {})",
                        super::admission::PROFILES_PER_HOUR.of(tier),
                        tier.label()
                    )));
                }
                self.accept_profile_as(id, p, t).map(|()| Intake::Stored)
            }
            AnyRecord::Revocation(r) => self.receive_revocation(r, (id, message), from, t),
            AnyRecord::Attestation(a) => {
                let tier = self.tier_of(&a.body.issuer);
                if !self
                    .admission
                    .attestations
                    .allow(tier, &a.body.issuer.0, now)
                {
                    return Err(Refusal::rate_limited(format!(
                        "over this issuer's attestation budget ({} a minute for a {})",
                        super::admission::ATTESTATIONS_PER_MINUTE.of(tier),
                        tier.label()
                    )));
                }
                let record = AnyRecord::Attestation(a);
                let encoded = Encoded::with(&record, id, &message);
                self.admit_storage(record.signer(), RecordKind::Attestation, encoded.size(), t)?;
                self.receive_attestation(record, encoded, from, now)
                    .map(|()| Intake::Stored)
            }
            AnyRecord::Need(n) => {
                let tier = self.tier_of(&n.signer);
                if n.signer != self.me && !self.admission.needs.allow(tier, &n.signer.0, now) {
                    return Err(Refusal::rate_limited(format!(
                        "over this signer's need budget ({} a day for a {})",
                        super::admission::NEEDS_PER_DAY.of(tier),
                        tier.label()
                    )));
                }
                let record = AnyRecord::Need(n);
                let encoded = Encoded::with(&record, id, &message);
                self.admit_storage(record.signer(), RecordKind::Need, encoded.size(), t)?;
                self.store_encoded(&record, encoded, t)?;
                if let AnyRecord::Need(n) = &record {
                    self.need_arrived(n, tier, from, now);
                }
                Ok(Intake::Stored)
            }
            AnyRecord::Sponsorship(s) => self.receive_sponsorship(s, t),
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
        self.store_encoded(record, Encoded::of(record)?, now)
    }

    /// [`Service::store_record`] with the record's id and encoding computed already.
    pub(crate) fn store_encoded(
        &mut self,
        record: &AnyRecord,
        encoded: Encoded,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        // One id and one encoding for the store, the indexes and the size accounting (each
        // computed its own before: three SHA-256s and two encodings per record).
        let Encoded { id, bytes } = encoded;
        if !self.store.put_record_encoded(&id, record, &bytes)? {
            return Err(Refusal::duplicate(format!(
                "{} {id} is already held",
                record.kind()
            )));
        }
        let size = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.index_record_as(id, Some(size), record);
        self.target_arrived(id, record.signer(), record.kind(), now);
        Ok(())
    }

    /// Adds a stored record to the indexes (start-up load and intake alike), under its id and
    /// with its encoded size when the caller has them: each costs an encoding (and the id a
    /// SHA-256) otherwise, and a record used to be encoded five times over to index it.
    pub(crate) fn index_record_as(
        &mut self,
        id: guild_core::RecordId,
        size: Option<u32>,
        record: &AnyRecord,
    ) {
        self.state.records.insert(
            id,
            Meta {
                kind: record.kind(),
                signer: record.signer(),
                issued_at: record.issued_at(),
                expires_at: record.expires_at(),
            },
        );
        // After the envelope: the accounting is kept in it. While loading, only the size is
        // noted: every record is accounted once trust is built (`account_loaded`), in the tier
        // its signer has then.
        if self.loading {
            let size = size.unwrap_or_else(|| crate::admission::record_size(record));
            self.state.records.note_size(&id, size);
        } else {
            self.account_record(id, record, size);
        }
        match record {
            AnyRecord::Profile(_) => {}
            AnyRecord::Need(n) => {
                self.state.pull.insert_need(
                    id,
                    NeedInfo {
                        asker: n.signer,
                        issued_at: n.body.issued_at,
                        expires_at: n.body.expires_at,
                    },
                );
            }
            AnyRecord::Offer(o) => self.index_offer(id, o),
            AnyRecord::Attestation(a) => self.index_attestation(id, a),
            AnyRecord::Revocation(r) => self.index_revocation(id, r),
            AnyRecord::Collaboration(c) => self.index_collaboration(id, c),
            AnyRecord::CollabEntry(e) => self.index_entry(id, e),
            AnyRecord::Message(m) => {
                self.state
                    .pull
                    .insert_message(id, m.body.issued_at, m.signer, m.body.to);
            }
            AnyRecord::Sponsorship(s) => self.index_sponsorship(id, s),
        }
        self.pulse_arrived(id, record);
    }

    /// Removes a record from the store and every index (expiry).
    pub(crate) fn drop_record(&mut self, id: &guild_core::RecordId, now: UnixTime) {
        let current_profile = self.state.records.profile_signer(id).is_some();
        let accounting = self.state.records.accounting(id);
        let Some(meta) = self.state.records.remove(id) else {
            return;
        };
        self.pulse_dropped(id, &meta, now);
        self.admission
            .unaccount(id, meta.signer, meta.kind, meta.issued_at, accounting);
        match meta.kind {
            RecordKind::Profile => {
                // Only if this is still the member's current profile.
                if current_profile {
                    self.profiles.remove(&meta.signer);
                    self.index_epoch += 1;
                    if let Err(e) = self.store.remove_profile(&meta.signer) {
                        tracing::warn!("cannot remove an expired profile: {e}");
                    }
                }
                return;
            }
            RecordKind::Need => {
                self.state.pull.remove_need(id);
            }
            RecordKind::Offer => {
                self.state.pull.remove_offer(id);
            }
            RecordKind::Attestation => self.unindex_attestation(id, now),
            RecordKind::Revocation => {
                self.state.attestations.unrevoke(id);
            }
            RecordKind::Collaboration => {
                self.state.collabs.remove(id);
                self.state.pull.forget_team(id);
                self.forget_purpose(id);
                // Attestations citing it are unbacked from now on.
                self.refresh_collab_attestations(id, now);
            }
            RecordKind::CollabEntry => {
                self.entry_expires(id);
                self.state.collabs.remove_entry(id);
            }
            RecordKind::Message => {
                self.state.pull.remove_message(id, meta.issued_at);
            }
            // Never indexed as a record.
            RecordKind::Introduction => {}
            RecordKind::Sponsorship => {
                self.state.sponsors.remove(id);
            }
        }
        if let Err(e) = self.store.remove_record(id) {
            tracing::warn!("cannot remove an expired record: {e}");
        }
    }

    /// Drops what expired: a walk over the expiry index, bounded per tick.
    pub(crate) fn sweep(&mut self, now: UnixTime) {
        for id in self.state.records.expired(now, super::MAX_SWEEP_PER_TICK) {
            self.drop_record(&id, now);
        }
        self.sweep_pending(now);
        self.sweep_invitations(now);
        self.sweep_intros(now);
        self.stats.profiles.set(self.profiles.len() as i64);
    }

    /// Indexes a profile (start-up load and intake).
    pub(crate) fn index_profile(&mut self, p: &Signed<Profile>) {
        self.index_profile_as(p.id(), p)
    }

    /// [`Service::index_profile`] under an id the caller has.
    pub(crate) fn index_profile_as(&mut self, id: guild_core::RecordId, p: &Signed<Profile>) {
        if let Some(old) = self.profiles.get(&p.signer).map(|e| e.id) {
            self.state.records.remove(&old);
        }
        self.profiles.insert(p.signer, id, &p.body);
        self.index_epoch += 1;
        self.state.records.insert_profile(
            id,
            Meta {
                kind: RecordKind::Profile,
                signer: p.signer,
                issued_at: p.body.issued_at,
                expires_at: p.body.expires_at,
            },
        );
        self.pulse_profile_as(id, p);
    }

    /// Stores and indexes a validated profile; a newer one replaces the older. Over the cap, the
    /// oldest profiles go, never ours.
    pub(crate) fn accept_profile(
        &mut self,
        p: Signed<Profile>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        self.accept_profile_as(p.id(), p, now)
    }

    /// [`Service::accept_profile`] under its id (`p.id()`), which the caller has.
    pub(crate) fn accept_profile_as(
        &mut self,
        id: RecordId,
        p: Signed<Profile>,
        _now: UnixTime,
    ) -> Result<(), Refusal> {
        if let Some(e) = self.profiles.get(&p.signer) {
            if (e.issued_at, e.id) >= (p.body.issued_at, id) {
                return Err(Refusal::duplicate("an equal or newer profile is held"));
            }
        }
        match self.store.put_profile(&p)? {
            ProfilePut::Stale => {
                return Err(Refusal::duplicate("an equal or newer profile is held"))
            }
            ProfilePut::Inserted | ProfilePut::Replaced => {}
        }
        self.index_profile_as(id, &p);
        let evict = if self.profiles.len() > self.cfg.max_profiles {
            let protected = self.protected_members();
            self.profiles
                .eviction_candidates(self.cfg.max_profiles, |k| protected.contains(k))
        } else {
            vec![]
        };
        for who in evict {
            if let Some(id) = self.profiles.get(&who).map(|e| e.id) {
                self.state.records.remove(&id);
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

impl<S: Storage> Service<S> {
    /// Members whose profiles are never evicted: us, our collaborators, our trust roots and
    /// everyone our counted attestations involve. Cached until trust or collaborations change,
    /// so a flood of strangers' profiles at the cap costs no scan per profile.
    pub(crate) fn protected_members(
        &mut self,
    ) -> std::sync::Arc<std::collections::HashSet<PublicKey>> {
        let key = (
            self.trust_epoch,
            self.state.collabs.mine_epoch() as usize,
            self.state.roots.len(),
        );
        if let Some((k, at, set)) = &self.protected {
            // Trust changes with every counted attestation: follow it at most every few
            // seconds, so a stream of attestations and messages costs no rebuild per message.
            // New collaborations and roots count at once.
            let fresh_enough = k.1 == key.1
                && k.2 == key.2
                && (k.0 == key.0
                    || self.now.as_secs() < at + super::admission::STANDING_REFRESH_SECS);
            if fresh_enough {
                return set.clone();
            }
        }
        let mut set = std::collections::HashSet::new();
        set.insert(self.me);
        set.extend(self.state.collabs.collaborators().copied());
        for (peer, _) in self.state.roots.keys() {
            set.insert(*peer);
        }
        set.extend(self.state.attestations.edge_members().copied());
        let set = std::sync::Arc::new(set);
        self.protected = Some((key, self.now.as_secs(), set.clone()));
        set
    }
}

/// A record's id and its encoding (`AnyRecord::encode`), computed once for the store, the
/// indexes and the size accounting.
pub(crate) struct Encoded {
    pub(crate) id: RecordId,
    pub(crate) bytes: Vec<u8>,
}

impl Encoded {
    /// Hashes and encodes a record.
    pub(crate) fn of(record: &AnyRecord) -> Result<Encoded, Refusal> {
        let message = record
            .signing_message()
            .map_err(|e| Refusal::store(format!("cannot encode: {e}")))?;
        let id = RecordId::of_message(&message);
        Ok(Encoded::with(record, id, &message))
    }

    /// From the record's signing message (`message`, whose hash is `id`): the body is not
    /// encoded again.
    pub(crate) fn with(record: &AnyRecord, id: RecordId, message: &[u8]) -> Encoded {
        Encoded {
            id,
            bytes: record.encode_with(message),
        }
    }

    /// The encoded size (what `admission::record_size` gives).
    pub(crate) fn size(&self) -> u32 {
        u32::try_from(self.bytes.len()).unwrap_or(u32::MAX)
    }
}

/// A gossip message for [`Service::received_gossip_batch`].
#[derive(Debug, Clone, Copy)]
pub struct Gossip<'a> {
    /// The peer that forwarded it (gossipsub's propagation source), charged for what it relays.
    pub from: PublicKey,
    /// The topic it arrived on.
    pub topic: Topic,
    /// The payload: one encoded record.
    pub data: &'a [u8],
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
        RecordKind::Introduction => "introduction",
        RecordKind::Sponsorship => "sponsorship",
    }
}
