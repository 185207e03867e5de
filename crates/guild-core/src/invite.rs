//! Invitation codes: what a member hands a newcomer to join its community.
//!
//! A code is a signed [`Invitation`] — community, inviter, where the inviter can be reached,
//! expiry, use count, a random id and a note — encoded as `guild1-` followed by the unpadded
//! lower-case RFC 4648 base32 of `bincode(SignedInvitation)` (base32 survives chats, e-mail and
//! QR codes' alphanumeric mode, and is case-insensitive when typed). The link form is
//! `guild://join/<code>`. The signature is `ed25519(inviter, "guild/invite/v1\0" ‖
//! bincode(invitation))`, checked with `verify_strict`.
//!
//! A code is checked twice: locally by the newcomer ([`SignedInvitation::check`]: size,
//! version, fields, times, signature, community) and by the inviter, against its own record of
//! the codes it issued (exists, not revoked, not expired, uses left).

use crate::codec::{self, CodecError};
use crate::keys::{Identity, PublicKey, SignatureBytes};
use crate::limits::MAX_CLOCK_SKEW_SECS;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// The text prefix of a code: names the format version.
pub const CODE_PREFIX: &str = "guild1-";
/// The prefix of the link form.
pub const LINK_PREFIX: &str = "guild://join/";
/// Signature domain of invitations.
pub const INVITE_DOMAIN: &[u8] = b"guild/invite/v1\0";
/// Invitation format version.
pub const INVITE_VERSION: u16 = 1;
/// Largest decoded invitation, bytes (a code is at most about 1.6 times this in text).
pub const MAX_INVITE_BYTES: usize = 1024;
/// Longest code text accepted (base32 of [`MAX_INVITE_BYTES`] plus the prefix).
pub const MAX_CODE_CHARS: usize = CODE_PREFIX.len() + MAX_INVITE_BYTES.div_ceil(5) * 8;
/// Most addresses in a code.
pub const MAX_INVITE_ADDRS: usize = 6;
/// Longest address (multiaddr text).
pub const MAX_INVITE_ADDR_LEN: usize = 96;
/// Longest note, bytes.
pub const MAX_INVITE_NOTE_BYTES: usize = 140;
/// Longest lifetime of a code: 30 days.
pub const MAX_INVITE_LIFETIME: u64 = 30 * 86_400;
/// Most uses of one code.
pub const MAX_INVITE_USES: u32 = 8;

/// What an invitation says (what gets signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// Format version ([`INVITE_VERSION`]).
    pub version: u16,
    /// The community joined (as in the protocol ids).
    pub community: String,
    /// The inviter: signs the code and answers the join request.
    pub inviter: PublicKey,
    /// Where the inviter can be reached (multiaddr text without `/p2p/…`).
    pub addrs: Vec<String>,
    /// When it was made.
    pub issued_at: UnixTime,
    /// When it stops working.
    pub expires_at: UnixTime,
    /// How many newcomers may join with it.
    pub max_uses: u32,
    /// Random id: the inviter's key to its record of the code.
    pub id: [u8; 16],
    /// A few words from the inviter ("for the garden group").
    pub note: String,
}

/// An invitation and the inviter's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInvitation {
    /// The invitation.
    pub body: Invitation,
    /// ed25519 over `INVITE_DOMAIN ‖ bincode(body)` by `body.inviter`.
    pub signature: SignatureBytes,
}

/// Why a code is refused. Each is a distinct case for the user (and a distinct exit code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    /// Not a Guild code, or damaged (bad prefix, characters, length, encoding).
    #[error("this is not a valid Guild invitation code: {0}")]
    Malformed(String),
    /// The signature does not verify: the code was altered.
    #[error("this invitation code was altered (its signature does not verify); ask the inviter for a new one")]
    Tampered,
    /// Past its expiry.
    #[error("this invitation expired {ago}s ago; ask the inviter for a new one")]
    Expired {
        /// Seconds since expiry.
        ago: u64,
    },
    /// For another community than the one this home chose.
    #[error("this invitation is for community `{code}`, but this home belongs to `{home}`; use a fresh home (`--home`) to join `{code}`")]
    OtherCommunity {
        /// The code's community.
        code: String,
        /// This home's community.
        home: String,
    },
    /// A field breaks a rule (dates, counts, sizes).
    #[error("this invitation code is invalid: {0}")]
    Invalid(String),
}

impl Invitation {
    fn signing_bytes(&self) -> Result<Vec<u8>, CodecError> {
        let mut msg = INVITE_DOMAIN.to_vec();
        msg.extend_from_slice(&codec::encode(self)?);
        Ok(msg)
    }

    /// Signs it; the identity must be the inviter.
    pub fn sign(self, identity: &Identity) -> Result<SignedInvitation, CodecError> {
        let msg = self.signing_bytes()?;
        Ok(SignedInvitation {
            signature: identity.sign(&msg),
            body: self,
        })
    }

    /// Field rules (cheap; before the signature).
    fn check_fields(&self) -> Result<(), InviteError> {
        let bad = |m: String| Err(InviteError::Invalid(m));
        if self.version != INVITE_VERSION {
            return bad(format!("version {} is not supported", self.version));
        }
        if self.community.is_empty() || self.community.len() > 64 {
            return bad("the community name is empty or longer than 64 bytes".into());
        }
        if self.addrs.len() > MAX_INVITE_ADDRS
            || self.addrs.iter().any(|a| a.len() > MAX_INVITE_ADDR_LEN)
        {
            return bad(format!(
                "at most {MAX_INVITE_ADDRS} addresses of {MAX_INVITE_ADDR_LEN} bytes"
            ));
        }
        if self.note.len() > MAX_INVITE_NOTE_BYTES {
            return bad(format!(
                "the note is longer than {MAX_INVITE_NOTE_BYTES} bytes"
            ));
        }
        if self.max_uses == 0 || self.max_uses > MAX_INVITE_USES {
            return bad(format!("uses must be 1 to {MAX_INVITE_USES}"));
        }
        if self.expires_at <= self.issued_at
            || self.expires_at - self.issued_at > MAX_INVITE_LIFETIME
        {
            return bad("its lifetime is not within 30 days".into());
        }
        Ok(())
    }
}

impl SignedInvitation {
    /// The text code (`guild1-…`).
    pub fn to_code(&self) -> String {
        // Encoding a struct of bounded fields cannot fail; an empty code would be refused.
        let bytes = codec::encode(self).unwrap_or_default();
        let mut s = String::from(CODE_PREFIX);
        s.push_str(
            &data_encoding::BASE32_NOPAD
                .encode(&bytes)
                .to_ascii_lowercase(),
        );
        s
    }

    /// The link form of the code.
    pub fn to_link(&self) -> String {
        format!("{LINK_PREFIX}{}", self.to_code())
    }

    /// Parses a code or its link form (surrounding spaces and case are ignored). Bounded: text
    /// longer than [`MAX_CODE_CHARS`] is refused before decoding. Does not check the
    /// signature: see [`SignedInvitation::check`].
    pub fn parse(text: &str) -> Result<SignedInvitation, InviteError> {
        let text = text.trim();
        let text = text.strip_prefix(LINK_PREFIX).unwrap_or(text);
        if text.len() > MAX_CODE_CHARS {
            return Err(InviteError::Malformed(format!(
                "{} characters; a code has at most {MAX_CODE_CHARS}",
                text.len()
            )));
        }
        let lower = text.to_ascii_lowercase();
        let Some(b32) = lower.strip_prefix(CODE_PREFIX) else {
            return Err(InviteError::Malformed(format!(
                "a code starts with `{CODE_PREFIX}`"
            )));
        };
        let bytes = data_encoding::BASE32_NOPAD
            .decode(b32.to_ascii_uppercase().as_bytes())
            .map_err(|e| InviteError::Malformed(e.to_string()))?;
        codec::decode(&bytes, MAX_INVITE_BYTES).map_err(|e| InviteError::Malformed(e.to_string()))
    }

    /// Every check a newcomer can make alone: fields, times, the signature, and (when this
    /// home already belongs to one) the community.
    pub fn check(&self, now: UnixTime, community: Option<&str>) -> Result<(), InviteError> {
        let b = &self.body;
        b.check_fields()?;
        if b.issued_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(InviteError::Invalid(
                "it is dated in the future; check the clocks".into(),
            ));
        }
        if b.expires_at <= now {
            return Err(InviteError::Expired {
                ago: now - b.expires_at,
            });
        }
        let msg = b
            .signing_bytes()
            .map_err(|e| InviteError::Malformed(e.to_string()))?;
        let key = b.inviter.verifying_key().ok_or(InviteError::Tampered)?;
        let sig = ed25519_dalek::Signature::from_bytes(&self.signature.0);
        key.verify_strict(&msg, &sig)
            .map_err(|_| InviteError::Tampered)?;
        if let Some(home) = community {
            if home != b.community {
                return Err(InviteError::OtherCommunity {
                    code: b.community.clone(),
                    home: home.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The code's id in hex (how `invite.list` and `invite.revoke` name it).
    pub fn id_hex(&self) -> String {
        hex::encode(self.body.id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW: UnixTime = 1_800_000_000;

    fn invitation(id: &Identity) -> Invitation {
        Invitation {
            version: INVITE_VERSION,
            community: "garden".into(),
            inviter: id.public(),
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
            issued_at: NOW,
            expires_at: NOW + 7 * 86_400,
            max_uses: 1,
            id: [7; 16],
            note: "for the garden group".into(),
        }
    }

    #[test]
    fn a_code_round_trips_as_text_and_link_and_checks() {
        let id = Identity::from_secret([1; 32]);
        let signed = invitation(&id).sign(&id).unwrap();
        let code = signed.to_code();
        assert!(code.starts_with(CODE_PREFIX));
        assert!(code.len() < 300, "compact: {} chars", code.len());
        assert_eq!(SignedInvitation::parse(&code).unwrap(), signed);
        assert_eq!(
            SignedInvitation::parse(&format!("  {}\n", signed.to_link())).unwrap(),
            signed
        );
        assert_eq!(
            SignedInvitation::parse(&code.to_ascii_uppercase().replace("GUILD1-", "guild1-"))
                .unwrap(),
            signed
        );
        signed.check(NOW + 1, Some("garden")).unwrap();
        signed.check(NOW + 1, None).unwrap();
    }

    #[test]
    fn tampered_expired_and_other_community_codes_are_refused() {
        let id = Identity::from_secret([1; 32]);
        let signed = invitation(&id).sign(&id).unwrap();
        let mut changed = signed.clone();
        changed.body.max_uses = 8;
        let reparsed = SignedInvitation::parse(&changed.to_code()).unwrap();
        assert_eq!(reparsed.check(NOW, None), Err(InviteError::Tampered));
        // A flipped character in the text.
        let code = signed.to_code();
        let mut chars: Vec<char> = code.chars().collect();
        let i = chars.len() - 10;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        let flipped: String = chars.into_iter().collect();
        match SignedInvitation::parse(&flipped) {
            Ok(s) => assert!(s.check(NOW, None).is_err()),
            Err(InviteError::Malformed(_)) => {}
            Err(e) => panic!("unexpected {e}"),
        }
        assert!(matches!(
            signed.check(NOW + 8 * 86_400, None),
            Err(InviteError::Expired { .. })
        ));
        assert!(matches!(
            signed.check(NOW, Some("main")),
            Err(InviteError::OtherCommunity { .. })
        ));
    }

    #[test]
    fn garbage_and_oversized_codes_are_refused_without_panic() {
        for text in [
            "",
            "hello",
            "guild1-",
            "guild1-!!!!",
            "guild1-aaaaaaaa",
            "guild2-abc",
        ] {
            assert!(
                matches!(
                    SignedInvitation::parse(text),
                    Err(InviteError::Malformed(_))
                ),
                "{text:?}"
            );
        }
        let long = format!("{CODE_PREFIX}{}", "a".repeat(MAX_CODE_CHARS));
        assert!(matches!(
            SignedInvitation::parse(&long),
            Err(InviteError::Malformed(_))
        ));
    }

    #[test]
    fn field_bounds_are_enforced() {
        let id = Identity::from_secret([1; 32]);
        type Change = fn(&mut Invitation);
        let cases: [Change; 7] = [
            |i| i.max_uses = 0,
            |i| i.max_uses = MAX_INVITE_USES + 1,
            |i| i.expires_at = i.issued_at + MAX_INVITE_LIFETIME + 1,
            |i| i.note = "x".repeat(MAX_INVITE_NOTE_BYTES + 1),
            |i| i.addrs = vec!["/ip4/1.2.3.4/tcp/1".into(); MAX_INVITE_ADDRS + 1],
            |i| i.community = String::new(),
            |i| i.version = 2,
        ];
        for change in cases {
            let mut inv = invitation(&id);
            change(&mut inv);
            let signed = inv.sign(&id).unwrap();
            assert!(matches!(
                signed.check(NOW, None),
                Err(InviteError::Invalid(_))
            ));
        }
        // The largest valid code stays within the decode bound.
        let mut inv = invitation(&id);
        inv.note = "x".repeat(MAX_INVITE_NOTE_BYTES);
        inv.addrs = vec!["y".repeat(MAX_INVITE_ADDR_LEN); MAX_INVITE_ADDRS];
        inv.community = "z".repeat(64);
        let signed = inv.sign(&id).unwrap();
        assert_eq!(SignedInvitation::parse(&signed.to_code()).unwrap(), signed);
    }
}
