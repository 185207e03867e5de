//! A direct message from one member to another, delivered over request-response with an
//! acknowledgement.

use super::{FieldCheck, RecordBody, RecordError, RecordKind};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// A signed direct message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Format version.
    pub version: u16,
    /// The sender.
    pub issuer: PublicKey,
    /// The recipient.
    pub to: PublicKey,
    /// Send time.
    pub issued_at: UnixTime,
    /// Expiry (undelivered messages are dropped after it; at most 30 days).
    pub expires_at: UnixTime,
    /// Random value so two equal messages have distinct ids.
    pub nonce: u64,
    /// The message.
    pub text: String,
}

impl RecordBody for Message {
    const DOMAIN: &'static [u8] = b"guild/message/v1\0";
    const KIND: RecordKind = RecordKind::Message;
    const MAX_BYTES: usize = MAX_ENTRY_BYTES;
    const MAX_LIFETIME: u64 = MAX_OFFER_LIFETIME;

    envelope_fields!();

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.nonempty_text("text", &self.text, MAX_TEXT_BYTES)?;
        c.ensure(
            self.to != self.issuer,
            "to",
            "a member cannot message themselves",
        )
    }
}
