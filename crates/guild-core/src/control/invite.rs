//! Params and results of invitations: `invite.create`, `invite.list`, `invite.revoke`, `join`.

use super::call::Params;
use super::wire::{CallError, ErrorCode};
use crate::invite::{InviteError, MAX_INVITE_LIFETIME, MAX_INVITE_NOTE_BYTES, MAX_INVITE_USES};
use crate::keys::PublicKey;
use crate::time::UnixTime;
use crate::wire::JoinRefusal;
use serde::{Deserialize, Serialize};

/// Default lifetime of a code: 7 days.
pub const DEFAULT_INVITE_SECS: u64 = 7 * 86_400;
/// Codes an inviter keeps a record of at most (live and spent; the oldest spent or expired
/// ones are forgotten first, and past it `invite.create` is refused until some expire).
pub const MAX_INVITES_KEPT: usize = 64;

/// Error codes of refused codes: one per case, so a program (and the CLI's exit code) can tell
/// them apart.
pub mod codes {
    /// Not a code, or damaged.
    pub const MALFORMED: i64 = -32020;
    /// Altered: the signature does not verify.
    pub const TAMPERED: i64 = -32021;
    /// Expired.
    pub const EXPIRED: i64 = -32022;
    /// Every use spent.
    pub const USED_UP: i64 = -32023;
    /// Revoked by the inviter.
    pub const REVOKED: i64 = -32024;
    /// The inviter does not know it.
    pub const UNKNOWN: i64 = -32025;
    /// For another community than this home's.
    pub const OTHER_COMMUNITY: i64 = -32026;
}

/// The call error for a code refused locally.
pub fn invite_error(e: &InviteError) -> CallError {
    let code = match e {
        InviteError::Malformed(_) | InviteError::Invalid(_) => codes::MALFORMED,
        InviteError::Tampered => codes::TAMPERED,
        InviteError::Expired { .. } => codes::EXPIRED,
        InviteError::OtherCommunity { .. } => codes::OTHER_COMMUNITY,
    };
    CallError::new(ErrorCode::Other(code), e.to_string())
}

/// The call error for a code the inviter refused.
pub fn join_refused(r: JoinRefusal) -> CallError {
    let (code, message) = match r {
        JoinRefusal::Unknown => (
            codes::UNKNOWN,
            "the inviter does not know this invitation code; ask them for a new one",
        ),
        JoinRefusal::Revoked => (
            codes::REVOKED,
            "the inviter revoked this invitation code; ask them for a new one",
        ),
        JoinRefusal::Expired => (
            codes::EXPIRED,
            "this invitation expired; ask the inviter for a new one",
        ),
        JoinRefusal::UsedUp => (
            codes::USED_UP,
            "this invitation code has been used as many times as it allows; ask the inviter for a new one",
        ),
        JoinRefusal::Invalid => (
            codes::TAMPERED,
            "the inviter refused this code as invalid (altered, or not theirs)",
        ),
        JoinRefusal::Busy => {
            return CallError::new(
                ErrorCode::Busy,
                "the inviter is busy with other join requests; try again in a minute",
            )
        }
    };
    CallError::new(ErrorCode::Other(code), message)
}

/// Params of `invite.create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InviteCreateParams {
    /// Lifetime in seconds (default [`DEFAULT_INVITE_SECS`], at most 30 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_secs: Option<u64>,
    /// How many newcomers may use it (default 1, at most 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses: Option<u32>,
    /// A few words for the newcomer.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Params for InviteCreateParams {
    fn normalise(&mut self) -> Result<(), String> {
        if let Some(s) = self.expires_secs {
            if s == 0 || s > MAX_INVITE_LIFETIME {
                return Err("`expires_secs` must be 1 second to 30 days".into());
            }
        }
        if let Some(u) = self.uses {
            if u == 0 || u > MAX_INVITE_USES {
                return Err(format!("`uses` must be 1 to {MAX_INVITE_USES}"));
            }
        }
        self.note = self.note.trim().to_string();
        if self.note.len() > MAX_INVITE_NOTE_BYTES {
            return Err(format!(
                "`note` is longer than {MAX_INVITE_NOTE_BYTES} bytes"
            ));
        }
        Ok(())
    }
}

/// Params of `invite.revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRevokeParams {
    /// The code's id (hex, as `invite.list` shows it).
    pub id: String,
    /// Also revoke the sponsorships already issued with it (signed revocations every node
    /// honours: the newcomers who joined with it are strangers again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sponsorships: bool,
}
impl Params for InviteRevokeParams {}

/// Params of `join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinParams {
    /// The code (or its link form).
    pub code: String,
    /// Make the inviter a trust root (explicit consent).
    #[serde(default)]
    pub trust: bool,
}
impl Params for JoinParams {}

/// One invitation code, as its inviter sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteView {
    /// The code's id (hex).
    pub id: String,
    /// The code to paste.
    pub code: String,
    /// Its link form.
    pub link: String,
    /// The note.
    pub note: String,
    /// When it was made.
    pub issued_at: UnixTime,
    /// When it stops working.
    pub expires_at: UnixTime,
    /// Uses allowed.
    pub max_uses: u32,
    /// Uses so far.
    pub uses: u32,
    /// Revoked by the inviter.
    pub revoked: bool,
    /// Who joined with it.
    pub joined: Vec<PublicKey>,
}

/// `invite.list`: the codes this node issued, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invites {
    /// The codes.
    pub invites: Vec<InviteView>,
}

/// `join`: what joining did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// The community joined.
    pub community: String,
    /// The inviter, now a bootstrap peer.
    pub inviter: PublicKey,
    /// The inviter's name, when its profile is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inviter_name: Option<String>,
    /// Whether the inviter became a trust root.
    pub trusted: bool,
    /// The address the inviter was reached at.
    pub address: String,
    /// When the sponsorship lapses.
    pub sponsored_until: UnixTime,
}
