//! An offer: "I can help with your need", delivered directly to the asker.

use super::{FieldCheck, RecordBody, RecordError, RecordId, RecordKind};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// A signed offer answering one need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// Format version.
    pub version: u16,
    /// The member offering.
    pub issuer: PublicKey,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry (at most [`MAX_OFFER_LIFETIME`]).
    pub expires_at: UnixTime,
    /// The need answered.
    pub need: RecordId,
    /// The need's issuer (the only node that accepts this offer).
    pub asker: PublicKey,
    /// What is offered.
    pub text: String,
}

impl RecordBody for Offer {
    const DOMAIN: &'static [u8] = b"guild/offer/v1\0";
    const KIND: RecordKind = RecordKind::Offer;
    const MAX_BYTES: usize = MAX_OFFER_BYTES;
    const MAX_LIFETIME: u64 = MAX_OFFER_LIFETIME;

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
        c.nonempty_text("text", &self.text, MAX_TEXT_BYTES)?;
        c.ensure(
            self.issuer != self.asker,
            "asker",
            "a member cannot offer on their own need",
        )
    }
}
