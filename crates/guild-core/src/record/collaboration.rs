//! Collaborations: the record naming who agreed to work together, and the entries of its log.
//!
//! A collaboration is opened by the asker of a need accepting one or more offers. The record
//! commits to ids only — the need's id and, per accepted offerer, the id of their offer — and is
//! signed by the asker. It carries no text: the need and offer texts stay with the members (who
//! hold them), so a proof shown to a third party reveals who was a member and who closed, nothing
//! of what the work was.
//!
//! The record alone proves only what the asker claims. What proves that a member took part is the
//! member's own signature on the log: every member signs a `Close` entry for their part, and an
//! attestation counts only when both its issuer and its subject signed one (see `TRUST.md`,
//! "Collaboration integrity").
//!
//! The log (posts, invitations, joins, closes) is a sequence of [`CollabEntry`] records replicated
//! among members only.

use super::{FieldCheck, RecordBody, RecordError, RecordId, RecordKind};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// One accepted offer: who offered, and the id of their signed offer on the collaboration's need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// The offerer (a founding member).
    pub offerer: PublicKey,
    /// The id of the offerer's `Offer` record.
    pub offer: RecordId,
}

/// A collaboration, signed by the asker: the need it is for and the accepted offers, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collaboration {
    /// Format version.
    pub version: u16,
    /// The asker who accepted (the need's issuer).
    pub issuer: PublicKey,
    /// Opening time.
    pub issued_at: UnixTime,
    /// Expiry of the record (at most two years).
    pub expires_at: UnixTime,
    /// The id of the need this collaboration is for.
    pub need: RecordId,
    /// The accepted offers.
    pub offers: Vec<Accepted>,
}

impl Collaboration {
    /// The founding members: the asker, then each accepted offerer.
    pub fn members(&self) -> Vec<PublicKey> {
        let mut m = vec![self.issuer];
        m.extend(self.offers.iter().map(|o| o.offerer));
        m
    }

    /// Whether `who` is a founding member.
    pub fn is_member(&self, who: &PublicKey) -> bool {
        self.issuer == *who || self.offers.iter().any(|o| o.offerer == *who)
    }

    /// The offer of `who` this collaboration accepted, if any.
    pub fn offer_of(&self, who: &PublicKey) -> Option<RecordId> {
        self.offers
            .iter()
            .find(|o| o.offerer == *who)
            .map(|o| o.offer)
    }
}

impl RecordBody for Collaboration {
    const DOMAIN: &'static [u8] = b"guild/collaboration/v1\0";
    const KIND: RecordKind = RecordKind::Collaboration;
    const MAX_BYTES: usize = MAX_COLLABORATION_BYTES;
    const MAX_LIFETIME: u64 = MAX_COLLABORATION_LIFETIME;

    envelope_fields!();

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.ensure(
            !self.offers.is_empty(),
            "offers",
            "a collaboration accepts at least one offer",
        )?;
        c.count("offers", self.offers.len(), MAX_COLLAB_OFFERS)?;
        let mut seen = std::collections::BTreeSet::new();
        for a in &self.offers {
            c.ensure(
                a.offerer != self.issuer,
                "offers",
                "the asker cannot accept their own offer",
            )?;
            c.ensure(
                seen.insert(a.offerer),
                "offers",
                "two offers from one member",
            )?;
        }
        Ok(())
    }
}

/// What a collaboration log entry does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A message to the other members.
    Post {
        /// The message.
        text: String,
    },
    /// A member invites someone new (who joins by signing a `Join`).
    Invite {
        /// Who is invited.
        member: PublicKey,
    },
    /// The invited member accepts an invitation.
    Join {
        /// The invitation entry's id.
        invite: RecordId,
    },
    /// A member closes their part: the work is done for them. The first close ends the
    /// collaboration (no more posts, invitations or joins); every other member may still sign
    /// their own close after it. Carries no text: a summary is posted as a `Post` just before.
    /// An attestation counts only when both its issuer and its subject signed one.
    Close,
    /// The asker (the collaboration's issuer) accepts one more offer on the need: its offerer
    /// joins the team (version 2 entries only). Ids, no text.
    Accept {
        /// Who offered.
        offerer: PublicKey,
        /// Their offer's id.
        offer: RecordId,
    },
    /// The asker releases an accepted offerer before that member wrote anything, reopening
    /// their role (version 2 entries only).
    Release {
        /// The accepted offer's id.
        offer: RecordId,
    },
}

/// The version of a log entry written with this kind: accepts and releases are version 2 (a
/// node that reads only version 1 cannot decode them), everything else version 1.
pub fn entry_version(e: &EntryKind) -> u16 {
    match e {
        EntryKind::Accept { .. } | EntryKind::Release { .. } => 2,
        _ => 1,
    }
}

/// A signed entry in a collaboration's log. Entries are ordered by their Lamport `clock` (then
/// `issued_at`, issuer, `seq`), so a reply always sorts after what it answers; they are
/// deduplicated by id, and a replayed entry has a known id and is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollabEntry {
    /// Format version.
    pub version: u16,
    /// The member writing.
    pub issuer: PublicKey,
    /// The collaboration.
    pub collaboration: RecordId,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry (the collaboration's lifetime at most).
    pub expires_at: UnixTime,
    /// Per-issuer, per-collaboration sequence number, starting at 1.
    pub seq: u64,
    /// Lamport clock: one more than the highest clock of the entries the author had seen.
    pub clock: u64,
    /// What the entry does.
    pub entry: EntryKind,
}

impl RecordBody for CollabEntry {
    const DOMAIN: &'static [u8] = b"guild/collab-entry/v1\0";
    const KIND: RecordKind = RecordKind::CollabEntry;
    const MAX_BYTES: usize = MAX_ENTRY_BYTES;
    const MAX_LIFETIME: u64 = MAX_COLLABORATION_LIFETIME;

    envelope_fields!();
    fn supports_version(v: u16) -> bool {
        v == 1 || v == 2
    }

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.ensure(
            self.version == entry_version(&self.entry),
            "version",
            format!(
                "this kind of entry is version {}",
                entry_version(&self.entry)
            ),
        )?;
        c.ensure(self.seq >= 1, "seq", "sequence numbers start at 1")?;
        c.ensure(self.clock >= 1, "clock", "clocks start at 1")?;
        match &self.entry {
            EntryKind::Post { text } => c.nonempty_text("text", text, MAX_TEXT_BYTES),
            EntryKind::Close => Ok(()),
            EntryKind::Invite { member } => c.ensure(
                *member != self.issuer,
                "member",
                "a member cannot invite themselves",
            ),
            EntryKind::Join { .. } => Ok(()),
            EntryKind::Accept { offerer, .. } => c.ensure(
                *offerer != self.issuer,
                "offerer",
                "the asker cannot accept their own offer",
            ),
            EntryKind::Release { .. } => Ok(()),
        }
    }
}
