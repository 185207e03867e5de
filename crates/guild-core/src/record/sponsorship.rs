//! A sponsorship: a member's signed word that a newcomer joined through its invitation.
//!
//! It makes the newcomer *sponsored* for nodes whose trust reaches the sponsor: not trusted
//! (never a trust edge, no score), but admitted with a member's budgets rather than a
//! stranger's, within per-sponsor bounds (see `docs/protocol.md`, "Sponsored newcomers").

use super::{FieldCheck, RecordBody, RecordError, RecordKind};
use crate::keys::PublicKey;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// Longest lifetime of a sponsorship: 90 days (by then the newcomer has collaborated and earned
/// attestations, or is a stranger again).
pub const MAX_SPONSORSHIP_LIFETIME: u64 = 90 * 86_400;
/// Largest encoded sponsorship record.
pub const MAX_SPONSORSHIP_BYTES: usize = 512;

/// The body of a signed sponsorship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sponsorship {
    /// Format version.
    pub version: u16,
    /// The sponsor (the inviter).
    pub issuer: PublicKey,
    /// The newcomer it sponsors.
    pub newcomer: PublicKey,
    /// The id of the invitation the newcomer used.
    pub invite: [u8; 16],
    /// When it was issued.
    pub issued_at: UnixTime,
    /// When it lapses (at most [`MAX_SPONSORSHIP_LIFETIME`] after issue).
    pub expires_at: UnixTime,
}

impl RecordBody for Sponsorship {
    const DOMAIN: &'static [u8] = b"guild/sponsorship/v1\0";
    const KIND: RecordKind = RecordKind::Sponsorship;
    const MAX_BYTES: usize = MAX_SPONSORSHIP_BYTES;
    const MAX_LIFETIME: u64 = MAX_SPONSORSHIP_LIFETIME;

    envelope_fields!();

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        FieldCheck(Self::KIND).ensure(
            self.newcomer != self.issuer,
            "newcomer",
            "a member cannot sponsor themselves",
        )
    }
}
