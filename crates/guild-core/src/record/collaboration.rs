//! Collaborations: the record that proves who worked together, and the entries of its log.
//!
//! A collaboration is opened by the asker of a need accepting one or more offers. The record embeds
//! the asker's signed need and each offerer's signed offer, and is itself signed by the asker, so
//! every member has signed something naming this work: any node can verify that these members
//! really agreed to work together, months later, without asking anyone. This is the proof that
//! attestations refer to.
//!
//! The log (posts, invitations, joins, close) is a sequence of [`CollabEntry`] records replicated
//! among members only.

use super::{FieldCheck, Need, Offer, RecordBody, RecordError, RecordId, RecordKind, Signed};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// A collaboration, signed by the asker over the need and the accepted offers.
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
    /// The need this collaboration is for (signed by the asker).
    pub need: Signed<Need>,
    /// The accepted offers (each signed by its offerer, naming the need).
    pub offers: Vec<Signed<Offer>>,
    /// A short purpose line (defaults to the need's text).
    pub purpose: String,
}

impl Collaboration {
    /// The founding members: the asker, then each accepted offerer.
    pub fn members(&self) -> Vec<PublicKey> {
        let mut m = vec![self.issuer];
        m.extend(self.offers.iter().map(|o| o.signer));
        m
    }

    /// Whether `who` is a founding member.
    pub fn is_member(&self, who: &PublicKey) -> bool {
        self.issuer == *who || self.offers.iter().any(|o| o.signer == *who)
    }
}

/// Checks an embedded record's signature and fields, but not its expiry: the need and offers of a
/// collaboration legitimately expire while the collaboration goes on.
fn check_embedded<T: RecordBody>(
    field: &'static str,
    record: &Signed<T>,
    now: UnixTime,
) -> Result<(), RecordError> {
    let wrap = |e: RecordError| RecordError::Field {
        kind: RecordKind::Collaboration,
        field,
        reason: e.to_string(),
    };
    record.verify().map_err(wrap)?;
    record.body.validate_body(now).map_err(wrap)
}

impl RecordBody for Collaboration {
    const DOMAIN: &'static [u8] = b"guild/collaboration/v1\0";
    const KIND: RecordKind = RecordKind::Collaboration;
    const MAX_BYTES: usize = MAX_COLLABORATION_BYTES;
    const MAX_LIFETIME: u64 = MAX_COLLABORATION_LIFETIME;

    fn version(&self) -> u16 {
        self.version
    }
    fn issuer(&self) -> PublicKey {
        self.issuer
    }
    fn issued_at(&self) -> UnixTime {
        self.issued_at
    }
    fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    fn validate_body(&self, now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.text("purpose", &self.purpose, MAX_TEXT_BYTES)?;
        check_embedded("need", &self.need, now)?;
        c.ensure(
            self.need.signer == self.issuer,
            "need",
            "only the need's asker can open a collaboration for it",
        )?;
        c.ensure(
            !self.offers.is_empty(),
            "offers",
            "a collaboration accepts at least one offer",
        )?;
        c.count("offers", self.offers.len(), MAX_COLLAB_OFFERS)?;
        let need_id = self.need.id();
        let mut seen = std::collections::BTreeSet::new();
        for offer in &self.offers {
            check_embedded("offers", offer, now)?;
            c.ensure(
                offer.body.need == need_id,
                "offers",
                "an offer answers another need",
            )?;
            c.ensure(
                offer.body.asker == self.issuer,
                "offers",
                "an offer is addressed to someone else",
            )?;
            c.ensure(
                seen.insert(offer.signer),
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
    /// A member closes the collaboration: the work is done. Attestations about it count after this.
    Close {
        /// A closing summary.
        summary: String,
    },
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

    fn version(&self) -> u16 {
        self.version
    }
    fn issuer(&self) -> PublicKey {
        self.issuer
    }
    fn issued_at(&self) -> UnixTime {
        self.issued_at
    }
    fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.ensure(self.seq >= 1, "seq", "sequence numbers start at 1")?;
        c.ensure(self.clock >= 1, "clock", "clocks start at 1")?;
        match &self.entry {
            EntryKind::Post { text } => c.nonempty_text("text", text, MAX_TEXT_BYTES),
            EntryKind::Close { summary } => c.text("summary", summary, MAX_TEXT_BYTES),
            EntryKind::Invite { member } => c.ensure(
                *member != self.issuer,
                "member",
                "a member cannot invite themselves",
            ),
            EntryKind::Join { .. } => Ok(()),
        }
    }
}
