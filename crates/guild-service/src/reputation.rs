//! Reputation: attestations (issue, receive, revoke, list), whether each counts, and this node's
//! personalised trust computed by `guild-trust` from the ones that do.
//!
//! An attestation counts only when its collaboration is verifiable here — the collaboration
//! record, the log entries proving both issuer and subject were members, and a close entry
//! signed by each of them (both sides took part: the asker alone cannot open a collaboration
//! from someone's offer, close it and rate them) — when it does not outlive its collaboration, is
//! not revoked (by its issuer: see [`super::authority`]), not superseded by a later one of the
//! same issuer about the same member and collaboration, not expired, and its issuer never
//! equivocated. The proof travels by the direct `Proof` request and holds no text: the record
//! (ids only) and the invite, join and close entries.
//!
//! Every status change is incremental: an attestation's status is a handful of map lookups, and
//! each input re-evaluates only the attestations it can affect (its own, the one it supersedes,
//! those citing a collaboration whose membership changed, an equivocator's). The trust engine
//! holds one edge per (issuer, subject, skill): the newest counted attestation.

use super::intake::Encoded;
use super::io::{secs, Millis, Topic};
use super::state::AttInfo;
use super::{Io, Refusal, Service};
use crate::Storage;
use guild_core::control::reputation::*;
use guild_core::control::Event;
use guild_core::wire::RefusalReason;
use guild_core::{
    AnyRecord, Attestation, EntryKind, PublicKey, RecordId, RecordKind, Revocation, Signed,
    UnixTime,
};
use std::collections::{BTreeMap, HashMap};

/// A proof whose cheap checks are done and whose signatures are still to check (see
/// [`Service::prepare_proof`]).
pub(crate) struct PreparedProof {
    collab: RecordId,
    /// The records that passed, each with its id.
    kept: Vec<(RecordId, AnyRecord)>,
    /// Their signatures, in the same order.
    pub checks: Vec<guild_core::record::SignatureCheck>,
}

impl PreparedProof {
    /// The collaboration it proves.
    pub(crate) fn collab(&self) -> RecordId {
        self.collab
    }

    /// How many of its records are left to check (one signature each).
    pub(crate) fn kept_len(&self) -> usize {
        self.kept.len()
    }
}

/// `meta` key holding equivocation proofs: issuer → the two attestations with one sequence.
pub(crate) const EQUIVOCATORS_KEY: &str = "equivocation_proofs";
/// `meta` key holding the last sequence number we signed, so numbers are never reused even after
/// our old attestations expire.
const OWN_SEQ_KEY: &str = "own_attestation_seq";

impl<S: Storage> Service<S> {
    /// Indexes a stored attestation.
    pub(crate) fn index_attestation(&mut self, id: RecordId, a: &Signed<Attestation>) {
        let b = &a.body;
        let superseded = self.state.attestations.insert(
            id,
            AttInfo {
                issuer: b.issuer,
                subject: b.subject,
                skill: b.skill.clone(),
                score: b.score,
                collab: b.collaboration,
                seq: b.seq,
                issued_at: b.issued_at,
                expires_at: b.expires_at,
            },
        );
        if b.issuer == self.me {
            self.own.last_attestation = self.own.last_attestation.max(Some((b.seq, id)));
        }
        if self.loading {
            // Whether it counts is decided once for every loaded attestation at the end of the
            // load (`count_loaded`), on the whole state: deciding it here too did the work
            // twice (a status and a trust edge per attestation, a tenth of a start).
            return;
        }
        let now = self.now.as_secs();
        self.refresh_attestation(&id, now);
        if let Some(pid) = superseded {
            self.refresh_attestation(&pid, now);
        }
    }

    /// Removes an attestation from every index (expiry).
    pub(crate) fn unindex_attestation(&mut self, id: &RecordId, now: UnixTime) {
        let Some(removed) = self.state.attestations.remove(id) else {
            return;
        };
        if let Some(edge) = removed.edge {
            self.sync_edge(&edge);
        }
        if let Some(next) = removed.next_latest {
            self.refresh_attestation(&next, now);
        }
    }

    /// The status of a held attestation, and why it does not count when it does not.
    pub(crate) fn status_of(
        &self,
        id: &RecordId,
        now: UnixTime,
    ) -> Option<(AttestationStatus, Option<String>)> {
        self.status_why(id, now)
            .map(|(status, why)| (status, why.map(|w| w.reason())))
    }

    /// [`Service::status_of`] with the reason still unwritten: re-evaluating an attestation
    /// (on every collaboration change) needs only the status, and writing the reason formatted
    /// a member's key (a base-58 encoding) for every attestation still waiting for its proof.
    fn status_why(&self, id: &RecordId, now: UnixTime) -> Option<(AttestationStatus, Option<Why>)> {
        let a = self.state.attestations.get(id)?;
        Some(
            if self.state.attestations.equivocation(&a.issuer).is_some() {
                (AttestationStatus::Equivocated, Some(Why::Equivocated))
            } else if self.state.attestations.is_revoked(id) {
                (AttestationStatus::Revoked, None)
            } else if a.expires_at <= now {
                (AttestationStatus::Expired, None)
            } else if !self.state.attestations.is_latest(id, &a) {
                (AttestationStatus::Superseded, Some(Why::Superseded))
            } else if let Some(r) = self.unbacked_reason(&a) {
                (AttestationStatus::Unbacked, Some(r))
            } else {
                (AttestationStatus::Counted, None)
            },
        )
    }

    /// Why an attestation is not backed by its collaboration, or `None` when it is.
    fn unbacked_reason(&self, a: &AttInfo) -> Option<Why> {
        let Some(c) = self.state.collabs.held(&a.collab) else {
            return Some(Why::NoCollaboration);
        };
        if !c.members().contains(&a.issuer) {
            return Some(Why::NotMember("issuer"));
        }
        if !c.members().contains(&a.subject) {
            return Some(Why::NotMember("subject"));
        }
        for (who, role) in [(&a.issuer, "issuer"), (&a.subject, "subject")] {
            if !c.has_closed(who) {
                return Some(Why::NotClosed(role, *who));
            }
        }
        if a.expires_at > c.expires_at() {
            return Some(Why::Outlives);
        }
        None
    }

    /// Re-evaluates one attestation and updates the counted set, the edges and the engine.
    /// Returns whether whether it counts changed.
    pub(crate) fn refresh_attestation(&mut self, id: &RecordId, now: UnixTime) -> bool {
        let counts = matches!(
            self.status_why(id, now),
            Some((AttestationStatus::Counted, _))
        );
        let counted = self.state.attestations.is_counted(id);
        if counts == counted {
            return false;
        }
        if let Some(edge) = self.state.attestations.set_counted(id, counts) {
            self.sync_edge(&edge);
        }
        true
    }

    /// Puts the newest counted attestation of an edge into the engine (or removes the edge).
    /// Our own trust root for the same member and skill takes precedence over our attestations.
    fn sync_edge(&mut self, key: &(PublicKey, PublicKey, guild_core::SkillTag)) {
        if key.0 == self.me && self.state.roots.contains_key(&(key.1, Some(key.2.clone()))) {
            self.trust_epoch += 1;
            self.trust.upsert(
                key.0,
                key.1,
                key.2.as_str(),
                i32::from(guild_core::limits::MAX_SCORE),
                self.now.as_secs(),
            );
            return;
        }
        match self.state.attestations.newest_on(key) {
            Some((at, score)) => {
                self.trust_epoch += 1;
                self.trust
                    .upsert(key.0, key.1, key.2.as_str(), i32::from(score), at);
            }
            None => {
                self.trust_epoch += 1;
                self.trust.remove(key.0, key.1, key.2.as_str());
            }
        }
    }

    /// Re-evaluates every attestation citing a collaboration (its membership or closing
    /// changed). Returns whether any changed.
    pub(crate) fn refresh_collab_attestations(&mut self, collab: &RecordId, now: UnixTime) -> bool {
        let ids: Vec<RecordId> = self.state.attestations.citing(collab).copied().collect();
        let mut changed = false;
        for id in ids {
            changed |= self.refresh_attestation(&id, now);
        }
        changed
    }

    /// Evaluates every attestation once (start-up), in the order given (the load's: oldest
    /// first, so the trust engine takes its edges in the order a first pass gave them), then
    /// any held attestation the list missed.
    pub(crate) fn count_loaded(&mut self, loaded: &[RecordId], now: UnixTime) {
        for id in loaded {
            self.refresh_attestation(id, now);
        }
        if loaded.len() != self.state.attestations.len() {
            let ids: Vec<RecordId> = self.state.attestations.ids().copied().collect();
            for id in ids {
                self.refresh_attestation(&id, now);
            }
        }
    }

    /// A validated attestation from a peer.
    /// `record` is the attestation, `encoded` its id and encoding.
    pub(crate) fn receive_attestation(
        &mut self,
        record: AnyRecord,
        encoded: Encoded,
        from: Option<PublicKey>,
        now: Millis,
    ) -> Result<(), Refusal> {
        let t = secs(now);
        let AnyRecord::Attestation(a) = &record else {
            return Err(Refusal::not_here("not an attestation"));
        };
        let issuer = a.body.issuer;
        if self.state.attestations.equivocation(&issuer).is_some() {
            return Err(Refusal::unauthorised(
                "its issuer equivocated; its attestations no longer count here",
            ));
        }
        if let Some(c) = self.state.collabs.held(&a.body.collaboration) {
            if a.body.expires_at > c.expires_at() {
                return Err(Refusal::unauthorised(format!(
                    "the attestation expires after its collaboration {} (it could not be verified then)",
                    a.body.collaboration
                )));
            }
        }
        let id = encoded.id;
        let twin = self
            .state
            .attestations
            .with_seq(&issuer, a.body.seq)
            .find(|x| **x != id)
            .copied();
        let seq = a.body.seq;
        let (subject, skill, score, collab) = (
            a.body.subject,
            a.body.skill.clone(),
            a.body.score,
            a.body.collaboration,
        );
        // Kept either way: as an attestation, or as half of an equivocation proof.
        self.store_encoded(&record, encoded, t)?;
        if let Some(twin) = twin {
            self.mark_equivocator(issuer, seq, twin, id, t);
            return Ok(());
        }
        let counted = self.state.attestations.is_counted(&id);
        let waiting_for_proof = !counted
            && matches!(
                self.status_why(&id, t),
                Some((AttestationStatus::Unbacked, _))
            );
        if waiting_for_proof {
            // The issuer always holds the proof; whoever sent it may too.
            let mut sources = vec![issuer];
            sources.extend(from.filter(|p| *p != issuer && *p != self.me));
            self.request_proof(collab, sources);
        }
        self.emit(Event::AttestationReceived {
            attestation: id,
            issuer,
            subject,
            skill,
            score,
            counted,
        });
        Ok(())
    }

    fn mark_equivocator(
        &mut self,
        issuer: PublicKey,
        seq: u64,
        a: RecordId,
        b: RecordId,
        now: UnixTime,
    ) {
        self.state.attestations.mark_equivocator(issuer, (a, b));
        if let Err(e) = self
            .store
            .put_meta(EQUIVOCATORS_KEY, self.state.attestations.equivocators())
        {
            tracing::error!("cannot store an equivocation proof: {e}");
        }
        let ids: Vec<RecordId> = self.state.attestations.by(&issuer).copied().collect();
        for id in ids {
            self.refresh_attestation(&id, now);
        }
        self.trust_epoch += 1;
        self.trust.remove_issuer(issuer);
        self.emit(Event::AttestationEquivocation {
            issuer,
            seq,
            attestations: vec![a, b],
        });
    }

    /// Stores a proof (the collaboration record and its invite, join and close entries) after
    /// validating each record; posts are never taken from a proof. Returns whether any
    /// attestation's status changed.
    pub(crate) fn accept_proof(
        &mut self,
        collab: RecordId,
        records: Vec<AnyRecord>,
        now: UnixTime,
    ) -> bool {
        let proof = self.prepare_proof(collab, records, now);
        let signatures = guild_core::record::verify_all(&proof.checks);
        self.apply_proof(proof, signatures, now)
    }

    /// A proof's cheap checks (the part of [`Service::accept_proof`] before its signatures):
    /// what is left to check and store. Reads the state only to skip records already held,
    /// which [`Service::apply_proof`] checks again, so proofs prepared together and applied
    /// in turn end as if each had been accepted alone.
    pub(crate) fn prepare_proof(
        &self,
        collab: RecordId,
        records: Vec<AnyRecord>,
        now: UnixTime,
    ) -> PreparedProof {
        // The collaboration record first, so its entries have somewhere to go.
        let (mut head, entries): (Vec<AnyRecord>, Vec<AnyRecord>) = records
            .into_iter()
            .partition(|r| matches!(r, AnyRecord::Collaboration(_)));
        head.extend(entries);
        // Cheap checks of each record, then their signatures together.
        // Each record's body is encoded once: its signing message gives its id, its signature
        // check and the encoding it is stored as.
        let mut kept = Vec::with_capacity(head.len());
        let mut checks = Vec::with_capacity(head.len());
        for r in head {
            let Ok(message) = r.signing_message() else {
                continue;
            };
            let id = RecordId::of_message(&message);
            let ok = match &r {
                AnyRecord::Collaboration(_) => id == collab,
                AnyRecord::CollabEntry(e) => {
                    e.body.collaboration == collab && is_proof_entry(&e.body.entry)
                }
                _ => false,
            };
            if !ok || self.state.records.contains(&id) {
                continue;
            }
            if let Ok(check) = r.check_unsigned_with(message, now) {
                checks.push(check);
                kept.push((id, r));
            }
        }
        PreparedProof {
            collab,
            kept,
            checks,
        }
    }

    /// Stores a prepared proof's records whose signatures passed (`signatures`: one verdict
    /// per check, in order). Returns whether any attestation's status changed.
    pub(crate) fn apply_proof(
        &mut self,
        proof: PreparedProof,
        signatures: Vec<Result<(), guild_core::RecordError>>,
        now: UnixTime,
    ) -> bool {
        let PreparedProof {
            collab,
            kept,
            checks,
        } = proof;
        self.storing_proof = true;
        for (((id, r), signature), check) in kept.into_iter().zip(signatures).zip(checks) {
            // Entries need their collaboration held (stored just before, from this proof).
            let placed = match &r {
                AnyRecord::CollabEntry(_) => self.state.collabs.contains(&collab),
                _ => true,
            };
            if signature.is_err() || !placed || self.state.records.contains(&id) {
                continue;
            }
            let encoded = Encoded::with(&r, id, &check.message);
            if let Err(e) = self.store_encoded(&r, encoded, now) {
                tracing::debug!("a proof record for {collab} was not stored: {e}");
            }
        }
        self.storing_proof = false;
        self.settle_collab(&collab);
        // Indexing already re-evaluated the citing attestations; report whether any counts now.
        self.state
            .attestations
            .citing(&collab)
            .any(|id| self.state.attestations.is_counted(id))
    }

    /// Answers a `Proof` request: only for collaborations some held, non-revoked attestation
    /// cites (private collaborations are not handed to anyone who asks), and minimally: the
    /// collaboration record (ids, no text), for each member who joined the invite and join that
    /// made them one, and each member's first close — never posts, nor invitations nobody
    /// answered. At most three entries per member.
    pub(crate) fn proof_for(&self, collab: &RecordId) -> Result<Vec<AnyRecord>, Refusal> {
        let cited = self
            .state
            .attestations
            .citing(collab)
            .any(|id| !self.state.attestations.is_revoked(id));
        if !cited {
            return Err(Refusal::unknown(format!(
                "no attestation here refers to collaboration {collab}"
            )));
        }
        let Some(state) = self.collab_full(collab) else {
            return Err(Refusal::unknown(format!(
                "collaboration {collab} is not known here"
            )));
        };
        let mut out = Vec::new();
        if let Some(c) = self.store.get_record(collab)? {
            out.push(c);
        }
        // The asker's accepts and releases (ids only) make the team; then the same pass as
        // membership itself: the team, then each join answering an invitation for the joiner
        // by someone already a member, in log order.
        let mut keys: Vec<_> = state
            .accepts
            .iter()
            .filter(|a| a.1 == state.issuer)
            .map(|a| a.0)
            .chain(
                state
                    .releases
                    .iter()
                    .filter(|r| r.1 == state.issuer)
                    .map(|r| r.0),
            )
            .collect();
        let mut members = vec![state.issuer];
        members.extend(state.team.iter().map(|(who, _)| *who));
        for (join, joiner, invite) in &state.joins {
            let Some((invited, inviter, invitee)) = state.invites.get(invite) else {
                continue;
            };
            if invitee == joiner && members.contains(inviter) && !members.contains(joiner) {
                members.push(*joiner);
                keys.extend([*invited, *join]);
            }
        }
        let mut closed = Vec::new();
        for (key, who) in &state.closes {
            if state.members.contains(who) && !closed.contains(who) {
                closed.push(*who);
                keys.push(*key);
            }
        }
        keys.sort();
        for key in keys {
            let Some(id) = state.log.get(&key) else {
                continue;
            };
            if let Some(AnyRecord::CollabEntry(e)) = self.store.get_record(id)? {
                out.push(AnyRecord::CollabEntry(e));
            }
        }
        Ok(out)
    }

    /// Issues an attestation about a fellow member of a collaboration both of us closed. The
    /// sequence number is allocated here, by the single owner: two calls never share one. The
    /// attestation never outlives its collaboration.
    pub(crate) fn vouch(
        &mut self,
        p: VouchParams,
        now: UnixTime,
    ) -> Result<AttestationView, Refusal> {
        let invalid = |m: String| Refusal::new(RefusalReason::Malformed, m);
        if p.peer == self.me {
            return Err(invalid("you cannot vouch for yourself".into()));
        }
        let c = self.state.collabs.held(&p.collab).ok_or_else(|| {
            Refusal::unknown(format!("no collaboration {} is known here", p.collab))
        })?;
        if !c.members().contains(&self.me) {
            return Err(invalid("you are not a member of that collaboration".into()));
        }
        if !c.members().contains(&p.peer) {
            return Err(invalid(format!(
                "{} is not a member of that collaboration",
                p.peer
            )));
        }
        if !c.has_closed(&self.me) {
            return Err(Refusal::unauthorised(
                "you have not closed your part yet: close it first (`guild collab close`); an attestation counts only when both sides closed",
            ));
        }
        if !c.has_closed(&p.peer) {
            return Err(Refusal::unauthorised(format!(
                "{} has not closed their part yet (no close of theirs is held here); an attestation counts only when both sides closed, so vouch after they do",
                p.peer
            )));
        }
        let collab_expires = c.expires_at();
        let stored_seq = self.store.get_meta::<u64>(OWN_SEQ_KEY)?.unwrap_or(0);
        let last = self.own.last_attestation;
        let seq = stored_seq.max(last.map_or(0, |(s, _)| s)) + 1;
        let body = Attestation {
            version: guild_core::record::RECORD_VERSION,
            issuer: self.me,
            subject: p.peer,
            skill: p.skill,
            score: p.score,
            note: p.note,
            collaboration: p.collab,
            issued_at: now,
            expires_at: (now + p.expires_secs.unwrap_or(DEFAULT_ATTESTATION_LIFETIME))
                .min(collab_expires),
            seq,
            prev: last.map(|(_, id)| id),
            salt: self.random_salt(),
        };
        let a = self.sign(body, now)?;
        // The number is spent before anything can fail after signing.
        self.store.put_meta(OWN_SEQ_KEY, &seq)?;
        let record = AnyRecord::Attestation(a.clone());
        self.store_record(&record, now)?;
        self.publish_record(Topic::Attestations, &record);
        Ok(self.attestation_view(&a, now))
    }

    /// Revokes one of our attestations.
    pub(crate) fn revoke(&mut self, p: RevokeParams, now: UnixTime) -> Result<(), Refusal> {
        let Some(info) = self.state.attestations.get(&p.attestation) else {
            return Err(Refusal::unknown(format!(
                "no attestation {} is known here",
                p.attestation
            )));
        };
        if info.issuer != self.me {
            return Err(Refusal::unauthorised(
                "only the issuer can revoke an attestation",
            ));
        }
        if self.state.attestations.is_revoked(&p.attestation) {
            return Err(Refusal::duplicate("already revoked"));
        }
        let r = self.sign(
            Revocation {
                version: guild_core::record::RECORD_VERSION,
                issuer: self.me,
                issued_at: now,
                expires_at: info.expires_at.max(now + 1) + 86_400,
                target: p.attestation,
                target_kind: RecordKind::Attestation,
                reason: p.reason,
            },
            now,
        )?;
        let record = AnyRecord::Revocation(r.clone());
        self.store_revocation(r, now)?;
        self.publish_record(Topic::Attestations, &record);
        Ok(())
    }

    /// Lists attestations with their status, newest first. Work is proportional to the
    /// attestations listed.
    pub(crate) fn attestations(&self, p: AttestationsParams, now: UnixTime) -> Attestations {
        let ids: Vec<RecordId> = match (p.about, p.by) {
            (Some(about), _) => self.state.attestations.about(&about).copied().collect(),
            (None, Some(by)) => self.state.attestations.by(&by).copied().collect(),
            (None, None) => self.state.attestations.ids().copied().collect(),
        };
        let mut out: Vec<AttestationView> = ids
            .iter()
            .filter(|id| {
                self.state
                    .attestations
                    .get(id)
                    .is_some_and(|a| p.by.is_none_or(|w| a.issuer == w))
            })
            .filter_map(|id| self.store.get_typed::<Attestation>(id).ok().flatten())
            .map(|a| self.attestation_view(&a, now))
            .collect();
        out.sort_by(|a, b| b.issued_at.cmp(&a.issued_at).then(a.id.cmp(&b.id)));
        Attestations { attestations: out }
    }

    fn attestation_view(&self, a: &Signed<Attestation>, now: UnixTime) -> AttestationView {
        let (status, reason) = self
            .status_of(&a.id(), now)
            .unwrap_or((AttestationStatus::Unbacked, None));
        AttestationView {
            id: a.id(),
            issuer: a.body.issuer,
            subject: a.body.subject,
            skill: a.body.skill.clone(),
            score: a.body.score,
            note: a.body.note.clone(),
            collab: a.body.collaboration,
            issued_at: a.body.issued_at,
            expires_at: a.body.expires_at,
            seq: a.body.seq,
            status,
            reason,
        }
    }

    /// This node's trust in a member, and why.
    pub(crate) fn trust_view(&mut self, p: TrustParams, now: UnixTime) -> TrustView {
        let skill = p.skill.as_ref().map(|s| s.as_str());
        let explanation = self.trust.explain(self.me, p.peer, skill, now);
        let factor = self.trust_factors(now).factor(&p.peer);
        TrustView {
            peer: p.peer,
            score: explanation.score,
            factor,
            explanation: explained(explanation).into(),
            skill: p.skill,
        }
    }

    /// Trust factors in `0..=1` for `find`, computed once per query.
    pub(crate) fn trust_factors(&mut self, now: UnixTime) -> TrustFactors {
        let scores = self.trust.scores(self.me, None, now);
        let max = scores.values().fold(0.0f64, |m, v| m.max(v.abs()));
        TrustFactors { scores, max }
    }

    /// Publishes one of our public records on its topic.
    pub(crate) fn publish_record(&mut self, topic: Topic, record: &AnyRecord) {
        match record.encode() {
            Ok(data) => self.outbox.push(Io::Publish {
                topic,
                data,
                report: None,
            }),
            Err(e) => tracing::error!("cannot encode a {}: {e}", record.kind()),
        }
    }

    /// Attestations that count now (for tests and metrics).
    pub fn counted_attestations(&self) -> usize {
        self.state.attestations.counted_len()
    }

    /// Equivocating issuers with their proofs.
    pub fn equivocators(&self) -> &BTreeMap<PublicKey, (RecordId, RecordId)> {
        self.state.attestations.equivocators()
    }
}

/// The engine's explanation in the control protocol's terms (the same members, field for field).
fn explained(e: guild_trust::Explanation<PublicKey>) -> TrustExplanation {
    let contributor = |c: guild_trust::Contributor<PublicKey>| Contributor {
        issuer: c.issuer,
        skill: c.skill,
        score: c.score,
        issued_at: c.issued_at,
        weight: c.weight,
        issuer_trust: c.issuer_trust,
        contribution: c.contribution,
    };
    let c = e.connectivity;
    TrustExplanation {
        ego: e.ego,
        target: e.target,
        skill: e.skill,
        score: e.score,
        walk_trust: e.walk_trust,
        walks: e.walks,
        connectivity: Connectivity {
            bridge: c.bridge,
            bridge_share: c.bridge_share,
            factor: c.factor,
            inherited_factor: c.inherited_factor,
            penalty: c.penalty,
            bridge_set: c
                .bridge_set
                .into_iter()
                .map(|b| SetBridge {
                    node: b.node,
                    share: b.share,
                    scale: b.scale,
                })
                .collect(),
            bridge_set_factor: c.bridge_set_factor,
            bridge_set_ignored_walks: c.bridge_set_ignored_walks,
            bridge_set_weight: c.bridge_set_weight,
        },
        negative_total: e.negative_total,
        paths: e
            .paths
            .into_iter()
            .map(|p| TrustPath {
                nodes: p.nodes,
                share: p.share,
                contribution: p.contribution,
            })
            .collect(),
        direct: e.direct.into_iter().map(contributor).collect(),
        negative: e.negative.into_iter().map(contributor).collect(),
    }
}

/// Entries a proof holds: those establishing membership and closing, none with text.
fn is_proof_entry(e: &EntryKind) -> bool {
    matches!(
        e,
        EntryKind::Invite { .. }
            | EntryKind::Join { .. }
            | EntryKind::Close
            | EntryKind::Accept { .. }
            | EntryKind::Release { .. }
    )
}

/// The engine's skill name for a general trust root (no attestation can carry it: tags are
/// never empty).
const GENERAL_ROOT: &str = "";

/// How trust roots are kept in the store's `meta` tree.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredRoot {
    peer: PublicKey,
    skill: Option<guild_core::SkillTag>,
    note: String,
    added_at: UnixTime,
}

impl<S: Storage> Service<S> {
    /// Loads the trust roots and puts them into the engine (start-up).
    pub(crate) fn load_roots(&mut self) -> Result<(), crate::StorageError> {
        self.read_roots()?;
        let keys: Vec<(PublicKey, Option<guild_core::SkillTag>)> =
            self.state.roots.keys().cloned().collect();
        for (peer, skill) in keys {
            self.apply_root(peer, skill.as_ref());
        }
        Ok(())
    }

    /// Reads our trust roots from the store into the state, without putting them in the trust
    /// engine (a saved state's engine holds them already).
    pub(crate) fn read_roots(&mut self) -> Result<(), crate::StorageError> {
        let stored: Vec<StoredRoot> = self.store.get_meta(ROOTS_KEY)?.unwrap_or_default();
        for r in stored {
            self.state
                .roots
                .insert((r.peer, r.skill), (r.note, r.added_at));
        }
        Ok(())
    }

    fn apply_root(&mut self, peer: PublicKey, skill: Option<&guild_core::SkillTag>) {
        // Stamped now: a starting point the owner chose does not age like an attestation.
        self.trust_epoch += 1;
        self.trust.upsert(
            self.me,
            peer,
            skill.map_or(GENERAL_ROOT, |s| s.as_str()),
            i32::from(guild_core::limits::MAX_SCORE),
            self.now.as_secs(),
        );
    }

    fn store_roots(&self) -> Result<(), Refusal> {
        let stored: Vec<StoredRoot> = self
            .state
            .roots
            .iter()
            .map(|((peer, skill), (note, added_at))| StoredRoot {
                peer: *peer,
                skill: skill.clone(),
                note: note.clone(),
                added_at: *added_at,
            })
            .collect();
        self.store.put_meta(ROOTS_KEY, &stored)?;
        Ok(())
    }

    /// Adds one of the owner's trust roots: trust flows from it through the attestation graph
    /// at once. Never published.
    pub(crate) fn trust_add(
        &mut self,
        p: TrustAddParams,
        now: UnixTime,
    ) -> Result<TrustRoots, Refusal> {
        if p.peer == self.me {
            return Err(Refusal::new(
                RefusalReason::Malformed,
                "you are your own starting point already",
            ));
        }
        let key = (p.peer, p.skill.clone());
        if !self.state.roots.contains_key(&key) && self.state.roots.len() >= MAX_TRUST_ROOTS {
            return Err(Refusal::rate_limited(format!(
                "at most {MAX_TRUST_ROOTS} trust roots; remove one first"
            )));
        }
        self.state.roots.insert(key, (p.note, now));
        self.store_roots()?;
        self.apply_root(p.peer, p.skill.as_ref());
        Ok(self.trust_roots())
    }

    /// Removes every root of a member; their trust falls back to what attestations give.
    pub(crate) fn trust_remove(&mut self, p: TrustRemoveParams) -> Result<TrustRoots, Refusal> {
        let keys: Vec<(PublicKey, Option<guild_core::SkillTag>)> = self
            .state
            .roots
            .keys()
            .filter(|(peer, _)| *peer == p.peer)
            .cloned()
            .collect();
        if keys.is_empty() {
            return Err(Refusal::unknown(format!(
                "{} is not one of your trust roots",
                p.peer
            )));
        }
        for k in &keys {
            self.state.roots.remove(k);
        }
        self.store_roots()?;
        for (peer, skill) in keys {
            match skill {
                None => {
                    self.trust_epoch += 1;
                    self.trust.remove(self.me, peer, GENERAL_ROOT);
                }
                // Our own attestations about them for that skill count again.
                Some(s) => self.sync_edge(&(self.me, peer, s)),
            }
        }
        Ok(self.trust_roots())
    }

    /// The owner's trust roots, oldest first.
    pub(crate) fn trust_roots(&self) -> TrustRoots {
        let mut roots: Vec<TrustRoot> = self
            .state
            .roots
            .iter()
            .map(|((peer, skill), (note, added_at))| TrustRoot {
                peer: *peer,
                name: self.profile_name(peer),
                skill: skill.clone(),
                note: note.clone(),
                added_at: *added_at,
            })
            .collect();
        roots.sort_by(|a, b| a.added_at.cmp(&b.added_at).then(a.peer.cmp(&b.peer)));
        TrustRoots { roots }
    }
}

/// `meta` key holding the owner's trust roots.
const ROOTS_KEY: &str = "trust_roots";

/// Trust scores computed once per query and per skill, normalised by the largest.
#[derive(Default)]
pub(crate) struct TrustCache {
    by_skill: HashMap<Option<guild_core::SkillTag>, TrustFactors>,
}

impl TrustCache {
    /// This node's normalised trust in `who` for `skill` (general when `None`), or `None` when
    /// no positive trust path reaches them.
    pub(crate) fn get(
        &mut self,
        engine: &mut guild_trust::TrustEngine<PublicKey>,
        me: PublicKey,
        who: &PublicKey,
        skill: Option<&guild_core::SkillTag>,
        now: UnixTime,
    ) -> Option<f64> {
        let f = self.by_skill.entry(skill.cloned()).or_insert_with(|| {
            let scores = engine.scores(me, skill.map(|s| s.as_str()), now);
            let max = scores.values().fold(0.0f64, |m, v| m.max(*v));
            TrustFactors { scores, max }
        });
        let s = f.scores.get(who).copied().unwrap_or(0.0);
        (s > 0.0 && f.max > 0.0).then(|| s / f.max)
    }
}

/// This node's trust scores, normalised for ranking.
pub(crate) struct TrustFactors {
    pub(crate) scores: HashMap<PublicKey, f64>,
    pub(crate) max: f64,
}

impl TrustFactors {
    /// The factor for one member: 0.5 for members this node knows nothing about, up to 1.0 for
    /// the most trusted, down to 0.0 for the most distrusted.
    pub(crate) fn factor(&self, who: &PublicKey) -> f64 {
        let s = self.scores.get(who).copied().unwrap_or(0.0);
        if self.max <= 0.0 || s == 0.0 {
            0.5
        } else {
            (0.5 + 0.5 * (s / self.max)).clamp(0.0, 1.0)
        }
    }
}

/// Why an attestation does not count, before it is written out ([`Why::reason`]).
enum Why {
    Equivocated,
    Superseded,
    NoCollaboration,
    /// The issuer or the subject is not a member of the collaboration.
    NotMember(&'static str),
    /// The issuer or the subject (role, key) has not closed their part.
    NotClosed(&'static str, PublicKey),
    Outlives,
}

impl Why {
    fn reason(self) -> String {
        match self {
            Why::Equivocated => {
                "its issuer signed two attestations with one sequence number".into()
            }
            Why::Superseded => "a later attestation replaces it".into(),
            Why::NoCollaboration => "its collaboration is not known here (yet)".into(),
            Why::NotMember(role) => format!("the {role} is not a member of the collaboration"),
            Why::NotClosed(role, who) => format!(
                "the {role} has not closed their part of the collaboration (no close entry signed by {who} is held here)"
            ),
            Why::Outlives => "it would outlive its collaboration".into(),
        }
    }
}
