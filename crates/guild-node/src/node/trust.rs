//! Reputation: attestations (issue, receive, revoke, list), whether each counts, and this node's
//! personalised trust computed by `guild-trust` from the ones that do.
//!
//! An attestation counts only when its collaboration is verifiable here — the co-signed
//! collaboration record, the log entries proving both issuer and subject were members, and a close
//! entry by a member — when it is not revoked, not superseded by a later one of the same issuer
//! about the same member and collaboration, not expired, and its issuer never equivocated. The
//! proof travels by the direct `Proof` request from whoever sent the attestation.

use super::collab::members;
use super::pull::{sign, PullError};
use super::{lock, Node};
use guild_core::control::reputation::*;
use guild_core::control::Event;
use guild_core::wire::{DirectRequest, DirectResponse};
use guild_core::{
    AnyRecord, Attestation, CollabEntry, Collaboration, EntryKind, PublicKey, RecordId, RecordKind,
    Revocation, Signed,
};
use guild_net::{PeerId, Topic};
use guild_trust::{TrustConfig, TrustEngine};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Attestations one issuer may have accepted per minute (burst of the same size).
pub const ATTESTATIONS_PER_ISSUER_PER_MINUTE: u32 = 10;
/// `meta` key holding equivocating issuers.
const EQUIVOCATORS_KEY: &str = "equivocators";

/// A fresh engine with Guild's configuration.
pub(crate) fn new_engine() -> Result<TrustEngine<PublicKey>, guild_trust::ConfigError> {
    TrustEngine::new(TrustConfig::default())
}

impl Node {
    fn stored_attestations(&self) -> Vec<Signed<Attestation>> {
        self.inner
            .store
            .records_of_kind(RecordKind::Attestation)
            .filter_map(|r| r.ok())
            .filter_map(|r| Signed::<Attestation>::try_from(r).ok())
            .collect()
    }

    fn equivocators(&self) -> HashSet<PublicKey> {
        self.inner
            .store
            .get_meta::<Vec<PublicKey>>(EQUIVOCATORS_KEY)
            .ok()
            .flatten()
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    fn revoked_attestations(&self) -> HashMap<RecordId, PublicKey> {
        self.inner
            .store
            .records_of_kind(RecordKind::Revocation)
            .filter_map(|r| r.ok())
            .filter_map(|r| match r {
                AnyRecord::Revocation(r) if r.body.target_kind == RecordKind::Attestation => {
                    Some((r.body.target, r.signer))
                }
                _ => None,
            })
            .collect()
    }

    /// Membership and closing of every stored collaboration, from one pass over the logs.
    fn backing_context(&self) -> HashMap<RecordId, (Vec<PublicKey>, bool)> {
        let mut logs: HashMap<RecordId, Vec<Signed<CollabEntry>>> = HashMap::new();
        for e in self
            .inner
            .store
            .records_of_kind(RecordKind::CollabEntry)
            .filter_map(|r| r.ok())
            .filter_map(|r| Signed::<CollabEntry>::try_from(r).ok())
        {
            logs.entry(e.body.collaboration).or_default().push(e);
        }
        self.stored_collabs()
            .into_iter()
            .map(|c| {
                let mut log = logs.remove(&c.id()).unwrap_or_default();
                log.sort_by(super::collab::entry_order);
                (c.id(), membership(&c.body, &log))
            })
            .collect()
    }

    /// The backing of one collaboration (one log scan).
    fn backing_of(&self, collab: &RecordId) -> Option<(Vec<PublicKey>, bool)> {
        let c = self
            .inner
            .store
            .get_typed::<Collaboration>(collab)
            .ok()
            .flatten()?;
        Some(membership(&c.body, &self.collab_log(collab)))
    }

    /// The status of every stored attestation (one pass, so supersession is consistent).
    fn statuses(&self) -> Vec<(Signed<Attestation>, AttestationStatus, Option<String>)> {
        let ctx = self.backing_context();
        let all = self.stored_attestations();
        self.classify(all.clone(), &all, |c| ctx.get(c).cloned())
    }

    /// Classifies `these` among all of their issuers' attestations `all`.
    fn classify(
        &self,
        these: Vec<Signed<Attestation>>,
        all: &[Signed<Attestation>],
        backing: impl Fn(&RecordId) -> Option<(Vec<PublicKey>, bool)>,
    ) -> Vec<(Signed<Attestation>, AttestationStatus, Option<String>)> {
        let now = guild_core::time::now();
        let revoked = self.revoked_attestations();
        let equivocators = self.equivocators();
        // Latest sequence per (issuer, subject, collaboration).
        let mut latest: HashMap<(PublicKey, PublicKey, RecordId), u64> = HashMap::new();
        for a in all {
            let k = (a.body.issuer, a.body.subject, a.body.collaboration);
            let e = latest.entry(k).or_insert(0);
            *e = (*e).max(a.body.seq);
        }
        these
            .into_iter()
            .map(|a| {
                let k = (a.body.issuer, a.body.subject, a.body.collaboration);
                let (status, reason) = if equivocators.contains(&a.body.issuer) {
                    (
                        AttestationStatus::Equivocated,
                        Some("its issuer signed two attestations with one sequence number".into()),
                    )
                } else if revoked.get(&a.id()) == Some(&a.body.issuer) {
                    (AttestationStatus::Revoked, None)
                } else if a.body.expires_at <= now {
                    (AttestationStatus::Expired, None)
                } else if latest.get(&k) != Some(&a.body.seq) {
                    (
                        AttestationStatus::Superseded,
                        Some("a later attestation replaces it".into()),
                    )
                } else if let Some(r) = unbacked_reason(&a.body, backing(&a.body.collaboration)) {
                    (AttestationStatus::Unbacked, Some(r))
                } else {
                    (AttestationStatus::Counted, None)
                };
                (a, status, reason)
            })
            .collect()
    }

    /// Why an attestation does not count for lack of backing, if it does not.
    fn unbacked(&self, a: &Attestation) -> Option<String> {
        unbacked_reason(a, self.backing_of(&a.collaboration))
    }

    /// Rebuilds the trust engine from the attestations that count (at start, after a revocation
    /// or an equivocation; new attestations are added incrementally).
    pub(crate) fn rebuild_trust(&self) {
        let mut engine = match new_engine() {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("trust engine configuration: {e}");
                return;
            }
        };
        // Within one (issuer, subject, skill) the newest counted attestation wins.
        let mut edges: BTreeMap<(PublicKey, PublicKey, String), (u64, i8)> = BTreeMap::new();
        for (a, status, _) in self.statuses() {
            if status == AttestationStatus::Counted {
                let k = (a.body.issuer, a.body.subject, a.body.skill.to_string());
                let v = (a.body.issued_at, a.body.score);
                if edges.get(&k).is_none_or(|old| old.0 <= v.0) {
                    edges.insert(k, v);
                }
            }
        }
        for ((i, s, skill), (at, score)) in edges {
            engine.upsert(i, s, &skill, i32::from(score), at);
        }
        *lock(&self.inner.trust) = engine;
    }

    /// Trust factors in `0..=1` for `find`, computed once per query: 0.5 for members this node
    /// knows nothing about, up to 1.0 for the most trusted, down to 0.0 for the most distrusted.
    pub(crate) fn trust_factors(&self) -> TrustFactors {
        let now = guild_core::time::now();
        let scores = lock(&self.inner.trust).scores(self.inner.me, None, now);
        let max = scores.values().fold(0.0f64, |m, v| m.max(v.abs()));
        TrustFactors { scores, max }
    }

    /// Issues an attestation about a fellow member of a closed collaboration.
    pub async fn vouch(&self, p: VouchParams) -> Result<AttestationView, PullError> {
        if p.peer == self.inner.me {
            return Err(PullError::Invalid("you cannot vouch for yourself".into()));
        }
        let c = self
            .inner
            .store
            .get_typed::<Collaboration>(&p.collab)?
            .ok_or_else(|| {
                PullError::NotFound(format!("no collaboration {} is known here", p.collab))
            })?;
        // The same membership and closing rules that decide whether the attestation counts.
        let (m, closed) = membership(&c.body, &self.collab_log(&p.collab));
        if !m.contains(&self.inner.me) {
            return Err(PullError::Invalid(
                "you are not a member of that collaboration".into(),
            ));
        }
        if !m.contains(&p.peer) {
            return Err(PullError::Invalid(format!(
                "{} is not a member of that collaboration",
                p.peer
            )));
        }
        if !closed {
            return Err(PullError::Invalid(
                "the collaboration is not closed yet; attestations count only after `guild collab close`".into(),
            ));
        }
        let mine: Vec<Signed<Attestation>> = self
            .stored_attestations()
            .into_iter()
            .filter(|a| a.body.issuer == self.inner.me)
            .collect();
        let prev = mine.iter().max_by_key(|a| a.body.seq);
        let now = guild_core::time::now();
        let body = Attestation {
            version: guild_core::record::RECORD_VERSION,
            issuer: self.inner.me,
            subject: p.peer,
            skill: p.skill,
            score: p.score,
            note: p.note,
            collaboration: p.collab,
            issued_at: now,
            expires_at: now + p.expires_secs.unwrap_or(DEFAULT_ATTESTATION_LIFETIME),
            seq: prev.map_or(1, |a| a.body.seq + 1),
            prev: prev.map(|a| a.id()),
            salt: rand::random(),
        };
        let a = sign(self, body)?;
        let record = AnyRecord::Attestation(a.clone());
        self.inner.store.put_record(&record)?;
        self.inner.store.flush_async().await?;
        self.rebuild_trust();
        self.publish_record(Topic::Attestations, &record).await;
        Ok(self.attestation_view(&a))
    }

    fn attestation_view(&self, a: &Signed<Attestation>) -> AttestationView {
        let (status, reason) = self.status_of(a);
        view(a, status, reason)
    }

    /// Revokes one of our attestations.
    pub async fn revoke(&self, p: RevokeParams) -> Result<(), PullError> {
        let a = self
            .inner
            .store
            .get_typed::<Attestation>(&p.attestation)?
            .ok_or_else(|| {
                PullError::NotFound(format!("no attestation {} is known here", p.attestation))
            })?;
        if a.signer != self.inner.me {
            return Err(PullError::Invalid(
                "only the issuer can revoke an attestation".into(),
            ));
        }
        if self.revoked_attestations().contains_key(&p.attestation) {
            return Err(PullError::Invalid("already revoked".into()));
        }
        let now = guild_core::time::now();
        let r = sign(
            self,
            Revocation {
                version: guild_core::record::RECORD_VERSION,
                issuer: self.inner.me,
                issued_at: now,
                expires_at: a.body.expires_at.max(now + 1) + 86_400,
                target: p.attestation,
                target_kind: RecordKind::Attestation,
                reason: p.reason,
            },
        )?;
        let record = AnyRecord::Revocation(r);
        self.inner.store.put_record(&record)?;
        self.inner.store.flush_async().await?;
        self.rebuild_trust();
        self.publish_record(Topic::Attestations, &record).await;
        Ok(())
    }

    /// Lists attestations with their status.
    pub fn attestations(&self, p: AttestationsParams) -> Attestations {
        let mut out: Vec<AttestationView> = self
            .statuses()
            .into_iter()
            .filter(|(a, _, _)| p.about.is_none_or(|w| a.body.subject == w))
            .filter(|(a, _, _)| p.by.is_none_or(|w| a.body.issuer == w))
            .map(|(a, s, r)| view(&a, s, r))
            .collect();
        out.sort_by(|a, b| b.issued_at.cmp(&a.issued_at).then(a.id.cmp(&b.id)));
        Attestations { attestations: out }
    }

    /// This node's trust in a member, and why.
    pub fn trust(&self, p: TrustParams) -> TrustView {
        let now = guild_core::time::now();
        let skill = p.skill.as_ref().map(|s| s.as_str());
        let explanation = lock(&self.inner.trust).explain(self.inner.me, p.peer, skill, now);
        TrustView {
            peer: p.peer,
            score: explanation.score,
            factor: self.trust_factors().factor(&p.peer),
            explanation: serde_json::to_value(&explanation).unwrap_or_default(),
            skill: p.skill,
        }
    }

    /// After a new attestation or revocation was stored: equivocation check, trust update,
    /// proof fetch, event.
    pub(crate) fn after_reputation_record(&self, record: &AnyRecord, from: Option<PeerId>) {
        match record {
            AnyRecord::Attestation(a) => {
                let twin = self.stored_attestations().into_iter().find(|x| {
                    x.body.issuer == a.body.issuer && x.body.seq == a.body.seq && x.id() != a.id()
                });
                if let Some(twin) = twin {
                    let mut eq: Vec<PublicKey> = self.equivocators().into_iter().collect();
                    eq.push(a.body.issuer);
                    eq.sort();
                    eq.dedup();
                    let _ = self.inner.store.put_meta(EQUIVOCATORS_KEY, &eq);
                    let _ = self.inner.store.flush();
                    lock(&self.inner.trust).remove_issuer(a.body.issuer);
                    self.emit(Event::AttestationEquivocation {
                        issuer: a.body.issuer,
                        seq: a.body.seq,
                        attestations: vec![twin.id(), a.id()],
                    });
                    return;
                }
                let counted = self.count_if_backed(a);
                if !counted && self.unbacked(&a.body).is_some() {
                    // The issuer always holds the proof; whoever sent it may too.
                    let mut sources = vec![a.body.issuer.to_peer_id()];
                    sources.extend(from.filter(|p| *p != sources[0]));
                    self.spawn_proof_fetch(sources, a.body.collaboration);
                }
                self.emit(Event::AttestationReceived {
                    attestation: a.id(),
                    issuer: a.body.issuer,
                    subject: a.body.subject,
                    skill: a.body.skill.clone(),
                    score: a.body.score,
                    counted,
                });
            }
            AnyRecord::Revocation(r) if r.body.target_kind == RecordKind::Attestation => {
                self.rebuild_trust()
            }
            _ => {}
        }
    }

    /// The status of one attestation, looking only at its issuer's attestations and its own
    /// collaboration.
    fn status_of(&self, a: &Signed<Attestation>) -> (AttestationStatus, Option<String>) {
        let same_issuer: Vec<Signed<Attestation>> = self
            .inner
            .store
            .attestations_by_issuer(&a.body.issuer)
            .unwrap_or_default()
            .iter()
            .filter_map(|id| self.inner.store.get_typed::<Attestation>(id).ok().flatten())
            .collect();
        let backing = self.backing_of(&a.body.collaboration);
        self.classify(vec![a.clone()], &same_issuer, |_| backing.clone())
            .pop()
            .map(|(_, s, r)| (s, r))
            .unwrap_or((AttestationStatus::Unbacked, None))
    }

    /// Adds an attestation to the engine when it counts; returns whether it does.
    fn count_if_backed(&self, a: &Signed<Attestation>) -> bool {
        let counted = self.status_of(a).0 == AttestationStatus::Counted;
        if counted {
            lock(&self.inner.trust).upsert(
                a.body.issuer,
                a.body.subject,
                a.body.skill.as_str(),
                i32::from(a.body.score),
                a.body.issued_at,
            );
        }
        counted
    }

    fn spawn_proof_fetch(&self, sources: Vec<PeerId>, collab: RecordId) {
        let node = self.clone();
        self.inner.tasks.spawn(async move {
            for peer in sources {
                match node
                    .direct(
                        peer,
                        &DirectRequest::Proof {
                            collaboration: collab,
                        },
                    )
                    .await
                {
                    Ok(DirectResponse::Records(records)) => {
                        if node.accept_proof(collab, records) {
                            node.rebuild_trust();
                            node.emit(Event::TrustChanged { collab });
                        }
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(%peer, "no proof for collaboration {collab}: {e}"),
                }
            }
        });
    }

    /// Stores a proof (collaboration record and membership/close entries) after validating each
    /// record. Returns whether anything new was stored.
    pub(crate) fn accept_proof(&self, collab: RecordId, records: Vec<AnyRecord>) -> bool {
        let now = guild_core::time::now();
        let mut stored = false;
        for r in records {
            let ok = match &r {
                AnyRecord::Collaboration(c) => c.id() == collab,
                AnyRecord::CollabEntry(e) => {
                    e.body.collaboration == collab
                        && !matches!(e.body.entry, EntryKind::Post { .. })
                }
                _ => false,
            };
            if !ok || r.validate(now).is_err() {
                continue;
            }
            stored |= self.inner.store.put_record(&r).unwrap_or(false);
        }
        stored
    }

    /// Answers a `Proof` request: only for collaborations some stored attestation refers to (we
    /// do not hand out private collaborations to anyone who asks), and never the posts.
    pub(crate) fn proof_for(&self, collab: &RecordId) -> Result<Vec<AnyRecord>, String> {
        if !self
            .stored_attestations()
            .iter()
            .any(|a| a.body.collaboration == *collab)
        {
            return Err(format!(
                "no attestation here refers to collaboration {collab}"
            ));
        }
        let c = match self.inner.store.get_typed::<Collaboration>(collab) {
            Ok(Some(c)) => c,
            _ => return Err(format!("collaboration {collab} is not known here")),
        };
        let mut out = vec![AnyRecord::Collaboration(c)];
        out.extend(
            self.collab_log(collab)
                .into_iter()
                .filter(|e: &Signed<CollabEntry>| !matches!(e.body.entry, EntryKind::Post { .. }))
                .map(AnyRecord::CollabEntry),
        );
        Ok(out)
    }

    /// The per-issuer budget for attestations.
    pub(crate) fn attestation_budget(&self, issuer: &PublicKey) -> bool {
        let now = self.inner.started.elapsed().as_secs_f64();
        lock(&self.inner.attestation_limiter).allow(&issuer.0, now)
    }
}

/// Members and whether a member closed it, for a collaboration and its sorted log.
fn membership(c: &Collaboration, log: &[Signed<CollabEntry>]) -> (Vec<PublicKey>, bool) {
    let m = members(c, log);
    let closed = log
        .iter()
        .any(|e| matches!(e.body.entry, EntryKind::Close { .. }) && m.contains(&e.signer));
    (m, closed)
}

/// Why an attestation is not backed by its collaboration (given that collaboration's members and
/// closing), or `None` when it is.
fn unbacked_reason(a: &Attestation, backing: Option<(Vec<PublicKey>, bool)>) -> Option<String> {
    let Some((members, closed)) = backing else {
        return Some("its collaboration is not known here (yet)".into());
    };
    if !members.contains(&a.issuer) {
        return Some("the issuer is not a member of the collaboration".into());
    }
    if !members.contains(&a.subject) {
        return Some("the subject is not a member of the collaboration".into());
    }
    if !closed {
        return Some("the collaboration is not closed".into());
    }
    None
}

/// This node's trust scores, normalised for ranking.
pub(crate) struct TrustFactors {
    scores: HashMap<PublicKey, f64>,
    max: f64,
}

impl TrustFactors {
    /// The factor for one member.
    pub(crate) fn factor(&self, who: &PublicKey) -> f64 {
        let s = self.scores.get(who).copied().unwrap_or(0.0);
        if self.max <= 0.0 || s == 0.0 {
            0.5
        } else {
            (0.5 + 0.5 * (s / self.max)).clamp(0.0, 1.0)
        }
    }
}

fn view(
    a: &Signed<Attestation>,
    status: AttestationStatus,
    reason: Option<String>,
) -> AttestationView {
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
