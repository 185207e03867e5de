//! A revocation: the issuer of a record takes it back (an attestation revoked, a need withdrawn).

use super::{FieldCheck, RecordBody, RecordError, RecordId, RecordKind};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// A signed revocation of one of the issuer's own records. Every node honours it; only the target's
/// issuer can revoke it (checked when the target is known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Format version.
    pub version: u16,
    /// Who revokes (must be the target's issuer).
    pub issuer: PublicKey,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry: must outlive the target.
    pub expires_at: UnixTime,
    /// The record revoked.
    pub target: RecordId,
    /// Its kind (an attestation, or a need for a withdrawal).
    pub target_kind: RecordKind,
    /// Why.
    pub reason: String,
}

impl RecordBody for Revocation {
    const DOMAIN: &'static [u8] = b"guild/revocation/v1\0";
    const KIND: RecordKind = RecordKind::Revocation;
    const MAX_BYTES: usize = MAX_REVOCATION_BYTES;
    const MAX_LIFETIME: u64 = MAX_REVOCATION_LIFETIME;

    envelope_fields!();

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.text("reason", &self.reason, MAX_REASON_BYTES)?;
        c.ensure(
            matches!(
                self.target_kind,
                RecordKind::Attestation
                    | RecordKind::Need
                    | RecordKind::Offer
                    | RecordKind::Sponsorship
            ),
            "target_kind",
            format!("a {} cannot be revoked", self.target_kind),
        )
    }
}
