//! A member's profile: who they are, what they can do, what they can lend.

use super::{FieldCheck, RecordBody, RecordError, RecordKind};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::skill::SkillTag;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// A self-declared skill level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Learning it.
    Beginner,
    /// Can do real work with help.
    Intermediate,
    /// Can do real work alone.
    Advanced,
    /// Can teach it.
    Expert,
}

impl Level {
    /// A weight in `0.25..=1.0` for ranking.
    pub fn weight(self) -> f64 {
        match self {
            Level::Beginner => 0.25,
            Level::Intermediate => 0.5,
            Level::Advanced => 0.75,
            Level::Expert => 1.0,
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "beginner" | "1" => Ok(Level::Beginner),
            "intermediate" | "2" => Ok(Level::Intermediate),
            "advanced" | "3" => Ok(Level::Advanced),
            "expert" | "4" => Ok(Level::Expert),
            other => Err(format!(
                "unknown level `{other}`; use beginner, intermediate, advanced or expert"
            )),
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Level::Beginner => "beginner",
            Level::Intermediate => "intermediate",
            Level::Advanced => "advanced",
            Level::Expert => "expert",
        };
        f.write_str(s)
    }
}

/// A skill with its self-declared level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skill {
    /// Normalised tag.
    pub tag: SkillTag,
    /// Declared level.
    pub level: Level,
}

/// A resource the member can make available (a 3D printer, GPU hours, a workshop).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Normalised tag, e.g. `3d-printer`.
    pub tag: SkillTag,
    /// What it is.
    pub description: String,
    /// When or how it is available.
    pub availability: String,
}

/// A member's signed profile. A newer profile (later `issued_at`) of the same issuer replaces an
/// older one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Format version ([`super::RECORD_VERSION`]).
    pub version: u16,
    /// The member.
    pub issuer: PublicKey,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry (at most [`MAX_PROFILE_LIFETIME`] after issue; daemons republish before).
    pub expires_at: UnixTime,
    /// Display name.
    pub name: String,
    /// Free text about the member.
    pub bio: String,
    /// Skills with levels.
    pub skills: Vec<Skill>,
    /// Resources.
    pub resources: Vec<Resource>,
    /// Links (web site, repositories).
    pub links: Vec<String>,
}

impl RecordBody for Profile {
    const DOMAIN: &'static [u8] = b"guild/profile/v1\0";
    const KIND: RecordKind = RecordKind::Profile;
    const MAX_BYTES: usize = MAX_PROFILE_BYTES;
    const MAX_LIFETIME: u64 = MAX_PROFILE_LIFETIME;

    envelope_fields!();

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.text("name", &self.name, MAX_NAME_BYTES)?;
        c.text("bio", &self.bio, MAX_BIO_BYTES)?;
        c.count("skills", self.skills.len(), MAX_SKILLS)?;
        c.tags("skills", self.skills.iter().map(|s| &s.tag))?;
        c.count("resources", self.resources.len(), MAX_RESOURCES)?;
        c.tags("resources", self.resources.iter().map(|r| &r.tag))?;
        for r in &self.resources {
            c.text(
                "resources.description",
                &r.description,
                MAX_RESOURCE_DESCRIPTION_BYTES,
            )?;
            c.text(
                "resources.availability",
                &r.availability,
                MAX_AVAILABILITY_BYTES,
            )?;
        }
        c.count("links", self.links.len(), MAX_LINKS)?;
        for l in &self.links {
            c.nonempty_text("links", l, MAX_LINK_BYTES)?;
        }
        Ok(())
    }
}

impl Profile {
    /// Whether the profile declares this skill; returns its level.
    pub fn skill_level(&self, tag: &SkillTag) -> Option<Level> {
        self.skills.iter().find(|s| &s.tag == tag).map(|s| s.level)
    }

    /// Whether the profile lists this resource.
    pub fn has_resource(&self, tag: &SkillTag) -> bool {
        self.resources.iter().any(|r| &r.tag == tag)
    }
}
