//! Skill and resource tags, and the DHT key a skill is announced under.
//!
//! Normalisation (fixed by `design.md`, other implementations depend on it): Unicode NFKC, then
//! lowercase, then trim, then every run of whitespace becomes one `-`; the result must be 1 to 64
//! bytes and contain no control characters. Over-long tags are rejected, never truncated, so two
//! different long tags never collapse into one.
//!
//! The DHT key of a tag is the sha2-256 multihash of `"guild/skill/v1/" ‖ tag`: the 34 bytes
//! `0x12 0x20 ‖ SHA-256(…)`. It is what `start_providing` announces and `get_providers` looks up.

use crate::limits::MAX_TAG_BYTES;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

/// Prefix hashed in front of a tag to form its DHT key.
pub const SKILL_KEY_PREFIX: &[u8] = b"guild/skill/v1/";

/// A normalised skill or resource tag such as `rust`, `pcb-design` or `3d-printer`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SkillTag(String);

/// Why a tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkillError {
    /// Nothing left after trimming.
    #[error("a tag cannot be empty")]
    Empty,
    /// Longer than the limit after normalisation.
    #[error("tag `{tag}` is {len} bytes after normalisation; the limit is {MAX_TAG_BYTES}")]
    TooLong {
        /// The first characters of the normalised tag.
        tag: String,
        /// Its length in bytes.
        len: usize,
    },
    /// Contains a control character.
    #[error("tag {0:?} contains a control character")]
    Control(String),
    /// A tag received from elsewhere is not in normal form.
    #[error("tag {given:?} is not normalised (expected {expected:?})")]
    NotNormalised {
        /// The tag as received.
        given: String,
        /// What normalisation makes of it.
        expected: String,
    },
}

impl SkillTag {
    /// Normalises user input into a tag.
    pub fn parse(input: &str) -> Result<SkillTag, SkillError> {
        let nfkc: String = input.nfkc().collect();
        let lower = nfkc.to_lowercase();
        let mut out = String::with_capacity(lower.len());
        let mut in_space = false;
        for c in lower.trim().chars() {
            if c.is_whitespace() {
                in_space = true;
                continue;
            }
            if c.is_control() {
                return Err(SkillError::Control(input.to_string()));
            }
            if in_space {
                out.push('-');
                in_space = false;
            }
            out.push(c);
        }
        if out.is_empty() {
            return Err(SkillError::Empty);
        }
        if out.len() > MAX_TAG_BYTES {
            let len = out.len();
            let tag = out.chars().take(24).collect::<String>() + "…";
            return Err(SkillError::TooLong { tag, len });
        }
        Ok(SkillTag(out))
    }

    /// Checks that a tag received on the wire is already in normal form.
    pub fn check_normalised(&self) -> Result<(), SkillError> {
        let normal = SkillTag::parse(&self.0)?;
        if normal.0 != self.0 {
            return Err(SkillError::NotNormalised {
                given: self.0.clone(),
                expected: normal.0,
            });
        }
        Ok(())
    }

    /// The tag as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a string without normalising it; validation will reject it if it is not normal.
    /// Meant for decoding and for tests that build hostile records.
    pub fn new_unchecked(s: impl Into<String>) -> SkillTag {
        SkillTag(s.into())
    }

    /// This tag's DHT key (see [`skill_key`]).
    pub fn dht_key(&self) -> [u8; 34] {
        skill_key(self)
    }
}

impl std::fmt::Display for SkillTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SkillTag {
    type Err = SkillError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SkillTag::parse(s)
    }
}

/// The 34-byte sha2-256 multihash `0x12 0x20 ‖ SHA-256("guild/skill/v1/" ‖ tag)`.
pub fn skill_key(tag: &SkillTag) -> [u8; 34] {
    let mut hasher = Sha256::new();
    hasher.update(SKILL_KEY_PREFIX);
    hasher.update(tag.0.as_bytes());
    let digest = hasher.finalize();
    let mut key = [0u8; 34];
    key[0] = 0x12;
    key[1] = 0x20;
    key[2..].copy_from_slice(&digest);
    key
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tag(s: &str) -> String {
        SkillTag::parse(s).unwrap().0
    }

    #[test]
    fn case_and_whitespace() {
        assert_eq!(tag("Rust"), "rust");
        assert_eq!(tag("  PCB   Design\t"), "pcb-design");
        assert_eq!(tag("3D printing"), "3d-printing");
        assert_eq!(tag("a\u{00A0}b"), "a-b", "no-break space is whitespace");
        assert_eq!(
            tag("line\nbreak"),
            "line-break",
            "newline is whitespace, not kept"
        );
    }

    #[test]
    fn unicode_nfkc() {
        // Full-width letters fold to ASCII under NFKC.
        assert_eq!(tag("ＲＵＳＴ"), "rust");
        // The ligature ﬁ decomposes.
        assert_eq!(tag("ﬁrmware"), "firmware");
        // Composed and decomposed é give one tag.
        assert_eq!(tag("Caf\u{0065}\u{0301}"), tag("Café"));
        // Non-Latin scripts are kept.
        assert_eq!(tag("Ελληνικά"), "ελληνικά");
    }

    #[test]
    fn rejects_bad_tags() {
        assert_eq!(SkillTag::parse("   "), Err(SkillError::Empty));
        assert_eq!(SkillTag::parse(""), Err(SkillError::Empty));
        assert!(matches!(
            SkillTag::parse(&"x".repeat(65)),
            Err(SkillError::TooLong { len: 65, .. })
        ));
        assert_eq!(tag(&"x".repeat(64)).len(), 64);
        // 22 three-byte characters are 66 bytes: too long even though only 22 characters.
        assert!(matches!(
            SkillTag::parse(&"€".repeat(22)),
            Err(SkillError::TooLong { len: 66, .. })
        ));
        assert!(matches!(
            SkillTag::parse("a\u{0007}b"),
            Err(SkillError::Control(_))
        ));
    }

    #[test]
    fn wire_tags_must_be_normal() {
        assert!(SkillTag::new_unchecked("rust").check_normalised().is_ok());
        assert!(matches!(
            SkillTag::new_unchecked("Rust").check_normalised(),
            Err(SkillError::NotNormalised { .. })
        ));
    }

    #[test]
    fn dht_key_is_a_sha256_multihash() {
        let key = skill_key(&SkillTag::parse("kicad").unwrap());
        assert_eq!(key.len(), 34);
        assert_eq!(&key[..2], &[0x12, 0x20]);
        let expected = Sha256::digest(b"guild/skill/v1/kicad");
        assert_eq!(&key[2..], expected.as_slice());
        // Fixed vector so other implementations can check themselves.
        assert_eq!(
            hex::encode(key),
            "1220".to_string() + &hex::encode(Sha256::digest(b"guild/skill/v1/kicad"))
        );
    }
}
