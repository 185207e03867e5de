//! A need: "I am looking for someone who can …", signed and expiring.

use super::{FieldCheck, RecordBody, RecordError, RecordKind};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::skill::SkillTag;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// A posted need. Daemons whose owner has a matching skill or resource raise `need.matched`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    /// Format version.
    pub version: u16,
    /// The asker.
    pub issuer: PublicKey,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry (default 7 days, at most [`MAX_NEED_LIFETIME`]).
    pub expires_at: UnixTime,
    /// What is needed, in the asker's words.
    pub text: String,
    /// Skills asked for.
    pub skills: Vec<SkillTag>,
    /// Resources asked for.
    pub resources: Vec<SkillTag>,
    /// Random value so two identical needs posted in the same second have different ids.
    pub nonce: u64,
}

impl RecordBody for Need {
    const DOMAIN: &'static [u8] = b"guild/need/v1\0";
    const KIND: RecordKind = RecordKind::Need;
    const MAX_BYTES: usize = MAX_NEED_BYTES;
    const MAX_LIFETIME: u64 = MAX_NEED_LIFETIME;

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
        c.count("skills", self.skills.len(), MAX_NEED_TAGS)?;
        c.tags("skills", &self.skills)?;
        c.count("resources", self.resources.len(), MAX_NEED_TAGS)?;
        c.tags("resources", &self.resources)?;
        c.ensure(
            !self.skills.is_empty() || !self.resources.is_empty(),
            "skills",
            "a need must ask for at least one skill or resource",
        )
    }
}
