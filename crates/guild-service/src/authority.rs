//! Authority: only a record's issuer can revoke, withdraw or supersede it, whatever the order in
//! which records arrive.
//!
//! A revocation whose target is held is checked at once: its signer must be the target's signer
//! and it must name the target's kind; otherwise it is refused as unauthorised and changes
//! nothing. A revocation whose target is not held yet is kept in a small pending pool — bounded
//! per signer and in total, expiring within hours, never stored or synced on — and applied only
//! if, when the target arrives, its signer turns out to be the target's issuer. Applied
//! revocations are final: a later one (anyone's) finds the target already revoked.

use super::intake::{Encoded, Intake};
use super::{Refusal, Service};
use crate::Storage;
use guild_core::control::Event;
use guild_core::{AnyRecord, PublicKey, RecordId, RecordKind, Revocation, Signed, UnixTime};
use std::collections::{BTreeSet, HashMap};

/// Most pending revocations one signer may have waiting for their targets.
pub const MAX_PENDING_PER_SIGNER: usize = 16;
/// Most pending revocations in all.
pub const MAX_PENDING_TOTAL: usize = 4096;
/// How long a pending revocation waits for its target, seconds.
pub const PENDING_TTL_SECS: u64 = 6 * 3600;

/// Revocations waiting for their targets.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PendingRevocations {
    by_target: HashMap<RecordId, Vec<(Signed<Revocation>, UnixTime)>>,
    per_signer: HashMap<PublicKey, usize>,
    by_deadline: BTreeSet<(UnixTime, RecordId, RecordId)>,
    total: usize,
}

impl PendingRevocations {
    /// Keeps `r` until its target arrives or `until`. Refused past the signer's or the pool's
    /// bound, or when the same revocation is already waiting.
    fn add(&mut self, r: Signed<Revocation>, until: UnixTime) -> Result<(), Refusal> {
        let id = r.id();
        let list = self.by_target.entry(r.body.target).or_default();
        if list.iter().any(|(x, _)| x.id() == id) {
            return Err(Refusal::duplicate(
                "this revocation is already waiting for its target",
            ));
        }
        let n = self.per_signer.get(&r.signer).copied().unwrap_or(0);
        if n >= MAX_PENDING_PER_SIGNER {
            if list.is_empty() {
                self.by_target.remove(&r.body.target);
            }
            return Err(Refusal::rate_limited(format!(
                "this signer already has {MAX_PENDING_PER_SIGNER} revocations waiting for targets this node does not hold"
            )));
        }
        if self.total >= MAX_PENDING_TOTAL {
            if list.is_empty() {
                self.by_target.remove(&r.body.target);
            }
            return Err(Refusal::rate_limited(
                "too many revocations are waiting for unknown targets",
            ));
        }
        self.by_deadline.insert((until, r.body.target, id));
        *self.per_signer.entry(r.signer).or_insert(0) += 1;
        self.total += 1;
        list.push((r, until));
        Ok(())
    }

    /// Takes every revocation waiting for `target`.
    fn take(&mut self, target: &RecordId) -> Vec<Signed<Revocation>> {
        let Some(list) = self.by_target.remove(target) else {
            return vec![];
        };
        list.into_iter()
            .map(|(r, until)| {
                self.forget(&r, until);
                r
            })
            .collect()
    }

    fn forget(&mut self, r: &Signed<Revocation>, until: UnixTime) {
        self.by_deadline.remove(&(until, r.body.target, r.id()));
        if let Some(n) = self.per_signer.get_mut(&r.signer) {
            *n -= 1;
            if *n == 0 {
                self.per_signer.remove(&r.signer);
            }
        }
        self.total -= 1;
    }

    /// Drops what waited too long.
    fn expire(&mut self, now: UnixTime) {
        while let Some(&(until, target, id)) = self.by_deadline.first() {
            if until > now {
                break;
            }
            self.by_deadline.pop_first();
            let mut gone = None;
            if let Some(list) = self.by_target.get_mut(&target) {
                if let Some(i) = list.iter().position(|(r, _)| r.id() == id) {
                    gone = Some(list.swap_remove(i).0);
                }
                if list.is_empty() {
                    self.by_target.remove(&target);
                }
            }
            if let Some(r) = gone {
                self.forget(&r, until);
            }
        }
    }

    /// Revocations waiting.
    pub fn len(&self) -> usize {
        self.total
    }
}

impl<S: Storage> Service<S> {
    /// Whether a revocation may act on its (held) target.
    pub(crate) fn check_revocation_authority(&self, r: &Signed<Revocation>) -> Result<(), Refusal> {
        let target = r.body.target;
        let Some(meta) = self.state.records.get(&target) else {
            return Err(Refusal::unknown(format!(
                "the revoked record {target} is not held here"
            )));
        };
        if meta.signer != r.signer {
            return Err(Refusal::unauthorised(format!(
                "only the issuer of {target} can revoke it; this revocation is signed by {}",
                r.signer
            )));
        }
        if meta.kind != r.body.target_kind {
            return Err(Refusal::new(
                guild_core::wire::RefusalReason::Malformed,
                format!(
                    "the revocation names a {} but {target} is a {}",
                    r.body.target_kind, meta.kind
                ),
            ));
        }
        if self.state.attestations.is_revoked(&target) {
            return Err(Refusal::duplicate(format!("{target} is already revoked")));
        }
        Ok(())
    }

    /// A validated revocation from a peer.
    /// `signing` is its id and signing message, which it is stored from.
    pub(crate) fn receive_revocation(
        &mut self,
        r: Signed<Revocation>,
        signing: (RecordId, Vec<u8>),
        from: Option<PublicKey>,
        now: UnixTime,
    ) -> Result<Intake, Refusal> {
        if !self.state.records.contains(&r.body.target) {
            let until = (now + PENDING_TTL_SECS).min(r.body.expires_at);
            tracing::debug!(
                ?from,
                "keeping a revocation of {} until its target arrives",
                r.body.target
            );
            self.pending.add(r, until)?;
            return Ok(Intake::Pending);
        }
        self.check_revocation_authority(&r)?;
        self.store_revocation_as(r, Some(signing), now)?;
        Ok(Intake::Stored)
    }

    /// Stores an authorised revocation and applies it.
    pub(crate) fn store_revocation(
        &mut self,
        r: Signed<Revocation>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        self.store_revocation_as(r, None, now)
    }

    /// [`Service::store_revocation`], from its id and signing message when the caller has them.
    fn store_revocation_as(
        &mut self,
        r: Signed<Revocation>,
        signing: Option<(RecordId, Vec<u8>)>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let target = r.body.target;
        let kind = r.body.target_kind;
        let signer = r.signer;
        let record = AnyRecord::Revocation(r);
        let encoded = match signing {
            Some((id, message)) => Encoded::with(&record, id, &message),
            None => Encoded::of(&record)?,
        };
        self.store_encoded(&record, encoded, now)?;
        match kind {
            RecordKind::Need if signer != self.me => self.emit(Event::NeedWithdrawn {
                need: target,
                asker: signer,
            }),
            _ => {}
        }
        Ok(())
    }

    /// Indexes a stored (authorised) revocation and updates what it revokes.
    pub(crate) fn index_revocation(&mut self, id: RecordId, r: &Signed<Revocation>) {
        self.state.attestations.revoke(r.body.target, id);
        if r.body.target_kind == RecordKind::Attestation {
            let now = self.now.as_secs();
            self.refresh_attestation(&r.body.target, now);
        }
        if r.body.target_kind == RecordKind::Sponsorship {
            // A withdrawn sponsorship lifts no one (the record stays until it expires).
            self.state.sponsors.remove(&r.body.target);
        }
    }

    /// A record was just stored: apply the revocations that waited for it — only its issuer's.
    pub(crate) fn target_arrived(
        &mut self,
        id: RecordId,
        signer: PublicKey,
        kind: RecordKind,
        now: UnixTime,
    ) {
        for r in self.pending.take(&id) {
            if r.signer != signer || r.body.target_kind != kind {
                tracing::debug!(
                    "dropping a revocation of {id} by {}, who did not issue it",
                    r.signer
                );
                self.stats.rejected("revocation", "unauthorised");
                continue;
            }
            if let Err(e) = self.store_revocation(r, now) {
                tracing::debug!("a waiting revocation of {id} could not be applied: {e}");
            }
        }
    }

    /// Drops pending revocations that waited too long.
    pub(crate) fn sweep_pending(&mut self, now: UnixTime) {
        self.pending.expire(now);
    }

    /// Revocations waiting for their targets.
    pub fn pending_revocations(&self) -> usize {
        self.pending.len()
    }
}
