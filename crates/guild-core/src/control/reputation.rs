//! Params and results of reputation: attestations and trust.

use super::call::Params;
pub use super::explanation::{
    Connectivity, Contributor, Explanation, SetBridge, TrustExplanation, TrustPath,
};
use crate::keys::PublicKey;
use crate::limits::{MAX_ATTESTATION_LIFETIME, MAX_NOTE_BYTES, MAX_SCORE};
use crate::record::RecordId;
use crate::skill::SkillTag;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// Default lifetime of an attestation: 180 days.
pub const DEFAULT_ATTESTATION_LIFETIME: u64 = 180 * 86_400;

/// Params of `vouch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VouchParams {
    /// About whom.
    pub peer: PublicKey,
    /// For which skill.
    pub skill: SkillTag,
    /// From -5 to +5, not 0.
    pub score: i8,
    /// The collaboration both took part in (closed).
    pub collab: RecordId,
    /// A note.
    #[serde(default)]
    pub note: String,
    /// Lifetime in seconds (default 180 days, at most a year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_secs: Option<u64>,
}

impl Params for VouchParams {
    fn normalise(&mut self) -> Result<(), String> {
        self.skill = SkillTag::parse(self.skill.as_str()).map_err(|e| format!("`skill`: {e}"))?;
        if self.score == 0 || self.score.unsigned_abs() > MAX_SCORE.unsigned_abs() {
            return Err(format!(
                "`score` must be between -{MAX_SCORE} and {MAX_SCORE}, not 0"
            ));
        }
        if self.note.len() > MAX_NOTE_BYTES {
            return Err(format!(
                "`note` is {} bytes; the limit is {MAX_NOTE_BYTES}",
                self.note.len()
            ));
        }
        match self.expires_secs {
            Some(0) => Err("`expires_secs` must be positive".into()),
            Some(s) if s > MAX_ATTESTATION_LIFETIME => Err(format!(
                "`expires_secs` {s} exceeds the maximum of {MAX_ATTESTATION_LIFETIME}"
            )),
            _ => Ok(()),
        }
    }
}

/// Params of `revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeParams {
    /// The attestation (one of ours).
    pub attestation: RecordId,
    /// Why.
    #[serde(default)]
    pub reason: String,
}
impl Params for RevokeParams {}

/// Params of `attestations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttestationsParams {
    /// Only attestations about this member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<PublicKey>,
    /// Only attestations by this member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<PublicKey>,
}
impl Params for AttestationsParams {}

/// Params of `trust`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustParams {
    /// Whose trustworthiness.
    pub peer: PublicKey,
    /// Restrict to one skill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<SkillTag>,
}

impl Params for TrustParams {
    fn normalise(&mut self) -> Result<(), String> {
        if let Some(s) = &self.skill {
            self.skill = Some(SkillTag::parse(s.as_str()).map_err(|e| format!("`skill`: {e}"))?);
        }
        Ok(())
    }
}

/// Longest note on a trust root, in bytes.
pub const MAX_ROOT_NOTE_BYTES: usize = 512;
/// Most trust roots one node keeps.
pub const MAX_TRUST_ROOTS: usize = 256;

/// Params of `trust.add`: one of this node's own starting points for trust — someone the owner
/// met in person, a community founder. Local and private: never published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustAddParams {
    /// The member.
    pub peer: PublicKey,
    /// Trust them for this skill only (default: in general).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<SkillTag>,
    /// Why (for the owner's own memory).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Params for TrustAddParams {
    fn normalise(&mut self) -> Result<(), String> {
        if let Some(s) = &self.skill {
            self.skill = Some(SkillTag::parse(s.as_str()).map_err(|e| format!("`skill`: {e}"))?);
        }
        if self.note.len() > MAX_ROOT_NOTE_BYTES {
            return Err(format!("`note` is longer than {MAX_ROOT_NOTE_BYTES} bytes"));
        }
        Ok(())
    }
}

/// Params of `trust.remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRemoveParams {
    /// The member whose roots (every skill) are removed.
    pub peer: PublicKey,
}
impl Params for TrustRemoveParams {}

/// One trust root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustRoot {
    /// The member.
    pub peer: PublicKey,
    /// Their display name, if their profile is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The skill, or none for general trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<SkillTag>,
    /// The owner's note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// When it was added (Unix seconds).
    pub added_at: UnixTime,
}

/// Result of `trust.roots`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustRoots {
    /// Every root, oldest first.
    pub roots: Vec<TrustRoot>,
}

/// Whether an attestation counts in trust, and if not why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationStatus {
    /// Backed by a verifiable collaboration of both members, each of whom closed their part: it
    /// counts.
    Counted,
    /// Its collaboration is unknown, does not include both members, one of them has not closed
    /// their part, or it would outlive the collaboration.
    Unbacked,
    /// Revoked by its issuer.
    Revoked,
    /// Its issuer equivocated (two attestations with one sequence number): none of theirs count.
    Equivocated,
    /// A later attestation by the same issuer about the same member and collaboration replaces it.
    Superseded,
    /// Past its expiry.
    Expired,
}

/// An attestation as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationView {
    /// Record id.
    pub id: RecordId,
    /// Who vouches.
    pub issuer: PublicKey,
    /// About whom.
    pub subject: PublicKey,
    /// Skill.
    pub skill: SkillTag,
    /// Score.
    pub score: i8,
    /// Note.
    pub note: String,
    /// The collaboration.
    pub collab: RecordId,
    /// Issued at.
    pub issued_at: UnixTime,
    /// Expires at.
    pub expires_at: UnixTime,
    /// Issuer's sequence number.
    pub seq: u64,
    /// Whether it counts.
    pub status: AttestationStatus,
    /// Why it does not count, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Result of `attestations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestations {
    /// Newest first.
    pub attestations: Vec<AttestationView>,
}

/// Result of `trust`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustView {
    /// Whose trustworthiness.
    pub peer: PublicKey,
    /// The skill, if restricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<SkillTag>,
    /// This node's trust score (walk share after penalties; 0 = no support).
    pub score: f64,
    /// The factor `find` uses, in `0..=1` (0.5 = neutral).
    pub factor: f64,
    /// Why: the strongest paths, direct contributors, penalties (see `TRUST.md`).
    pub explanation: Explanation,
}
