//! A reputation attestation: after working together, one member vouches for (or warns about)
//! another, for one skill, tied to the collaboration it is about.

use super::{FieldCheck, RecordBody, RecordError, RecordId, RecordKind};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::skill::SkillTag;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// A signed attestation. One live attestation per (issuer, subject, collaboration): the highest
/// `seq` wins. Two different attestations with the same (issuer, seq) prove equivocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// Format version.
    pub version: u16,
    /// Who vouches.
    pub issuer: PublicKey,
    /// About whom.
    pub subject: PublicKey,
    /// For which skill.
    pub skill: SkillTag,
    /// From `-MAX_SCORE` (do not work with) to `+MAX_SCORE`; 0 is not allowed (say nothing).
    pub score: i8,
    /// Free text.
    pub note: String,
    /// The collaboration both took part in.
    pub collaboration: RecordId,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Mandatory expiry (at most a year).
    pub expires_at: UnixTime,
    /// Per-issuer sequence number, starting at 1.
    pub seq: u64,
    /// Id of the issuer's previous attestation (`None` for the first).
    pub prev: Option<RecordId>,
    /// Random salt so equal contents get distinct ids.
    pub salt: [u8; 16],
}

impl RecordBody for Attestation {
    const DOMAIN: &'static [u8] = b"guild/attestation/v1\0";
    const KIND: RecordKind = RecordKind::Attestation;
    const MAX_BYTES: usize = MAX_ATTESTATION_BYTES;
    const MAX_LIFETIME: u64 = MAX_ATTESTATION_LIFETIME;

    envelope_fields!();

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.tag("skill", &self.skill)?;
        c.ensure(
            self.score != 0 && self.score.unsigned_abs() <= MAX_SCORE.unsigned_abs(),
            "score",
            format!(
                "{} is outside -{MAX_SCORE}..=-1 and 1..={MAX_SCORE}",
                self.score
            ),
        )?;
        c.text("note", &self.note, MAX_NOTE_BYTES)?;
        c.ensure(
            self.issuer != self.subject,
            "subject",
            "a member cannot vouch for themselves",
        )?;
        c.ensure(self.seq >= 1, "seq", "sequence numbers start at 1")?;
        c.ensure(
            (self.seq == 1) == self.prev.is_none(),
            "prev",
            "the first attestation (seq 1) has no previous one; later ones must name it",
        )
    }
}
