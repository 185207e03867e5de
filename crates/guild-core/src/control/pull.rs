//! Params and results of the pull workflow: needs, offers, collaborations, direct messages.

use super::call::Params;
use crate::keys::PublicKey;
use crate::limits::{MAX_NEED_LIFETIME, MAX_TEXT_BYTES};
use crate::record::RecordId;
use crate::skill::SkillTag;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// Default lifetime of a need: 7 days.
pub const DEFAULT_NEED_LIFETIME: u64 = 7 * 86_400;

fn text_field(field: &str, text: &mut String) -> Result<(), String> {
    *text = text.trim().to_string();
    if text.is_empty() {
        return Err(format!("`{field}` must not be empty"));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "`{field}` is {} bytes; the limit is {MAX_TEXT_BYTES}",
            text.len()
        ));
    }
    Ok(())
}

fn tags(field: &str, list: &mut [SkillTag]) -> Result<(), String> {
    for t in list.iter_mut() {
        *t = SkillTag::parse(t.as_str()).map_err(|e| format!("`{field}`: {e}"))?;
    }
    Ok(())
}

/// Params of `ask`: post a need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AskParams {
    /// What is needed.
    pub text: String,
    /// Skills asked for.
    pub skills: Vec<SkillTag>,
    /// Resources asked for.
    pub resources: Vec<SkillTag>,
    /// Lifetime in seconds (default 7 days, at most 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_secs: Option<u64>,
}

impl Params for AskParams {
    fn normalise(&mut self) -> Result<(), String> {
        text_field("text", &mut self.text)?;
        tags("skills", &mut self.skills)?;
        tags("resources", &mut self.resources)?;
        if self.skills.is_empty() && self.resources.is_empty() {
            return Err("give at least one skill or resource".into());
        }
        match self.expires_secs {
            Some(0) => Err("`expires_secs` must be positive".into()),
            Some(s) if s > MAX_NEED_LIFETIME => Err(format!(
                "`expires_secs` {s} exceeds the maximum of {MAX_NEED_LIFETIME} (30 days)"
            )),
            _ => Ok(()),
        }
    }
}

/// Which needs `needs` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NeedFilter {
    /// Every open need known.
    #[default]
    All,
    /// Needs this node posted.
    Mine,
    /// Needs matching this node's skills or resources.
    Matching,
}

/// Params of `needs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NeedsParams {
    /// Which needs.
    pub filter: NeedFilter,
    /// Include withdrawn and expired needs too.
    pub include_closed: bool,
}
impl Params for NeedsParams {}

/// Params of `need.withdraw`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawParams {
    /// The need.
    pub need: RecordId,
    /// Why (optional).
    #[serde(default)]
    pub reason: String,
}
impl Params for WithdrawParams {}

/// Params of `offer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferParams {
    /// The need answered.
    pub need: RecordId,
    /// What is offered.
    pub text: String,
}

impl Params for OfferParams {
    fn normalise(&mut self) -> Result<(), String> {
        text_field("text", &mut self.text)
    }
}

/// Params of `offers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OffersParams {
    /// Only offers on this need.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need: Option<RecordId>,
}
impl Params for OffersParams {}

/// Params of `accept`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptParams {
    /// The offer accepted.
    pub offer: RecordId,
}
impl Params for AcceptParams {}

/// Params naming a collaboration (`collab.show`, `collab.join`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollabParams {
    /// The collaboration.
    pub collab: RecordId,
}
impl Params for CollabParams {}

/// Params of `collab.post`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollabPostParams {
    /// The collaboration.
    pub collab: RecordId,
    /// The message.
    pub text: String,
}

impl Params for CollabPostParams {
    fn normalise(&mut self) -> Result<(), String> {
        text_field("text", &mut self.text)
    }
}

/// Params of `collab.invite`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollabInviteParams {
    /// The collaboration.
    pub collab: RecordId,
    /// Who to invite.
    pub peer: PublicKey,
}
impl Params for CollabInviteParams {}

/// Params of `collab.close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollabCloseParams {
    /// The collaboration.
    pub collab: RecordId,
    /// An optional closing summary: posted as a `post` entry just before the close (a close
    /// entry carries no text). Empty: no post.
    #[serde(default)]
    pub summary: String,
}
impl Params for CollabCloseParams {}

/// Params of `msg`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsgParams {
    /// The recipient.
    pub peer: PublicKey,
    /// The message.
    pub text: String,
}

impl Params for MsgParams {
    fn normalise(&mut self) -> Result<(), String> {
        text_field("text", &mut self.text)
    }
}

/// Params of `inbox`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboxParams {
    /// Include messages this node sent.
    pub include_sent: bool,
}
impl Params for InboxParams {}

/// The state of a need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NeedStatus {
    /// Accepting offers.
    Open,
    /// Withdrawn by its asker.
    Withdrawn,
    /// Past its expiry.
    Expired,
}

/// A need as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedView {
    /// Record id.
    pub id: RecordId,
    /// The asker.
    pub asker: PublicKey,
    /// The asker's display name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asker_name: Option<String>,
    /// What is needed.
    pub text: String,
    /// Skills asked for.
    pub skills: Vec<SkillTag>,
    /// Resources asked for.
    pub resources: Vec<SkillTag>,
    /// Posted at.
    pub issued_at: UnixTime,
    /// Expires at.
    pub expires_at: UnixTime,
    /// State.
    pub status: NeedStatus,
    /// Posted by this node.
    pub mine: bool,
    /// Asked tags this node's owner has.
    pub matched: Vec<SkillTag>,
    /// Offers this node knows of for it.
    pub offers: usize,
}

/// Result of `ask`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asked {
    /// The posted need.
    pub need: NeedView,
    /// Whether gossip reached at least one peer now (otherwise it spreads by sync later).
    pub published: bool,
}

/// Result of `needs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Needs {
    /// Needs, newest first.
    pub needs: Vec<NeedView>,
}

/// An offer as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferView {
    /// Record id.
    pub id: RecordId,
    /// The need answered.
    pub need: RecordId,
    /// Who offers.
    pub from: PublicKey,
    /// The asker.
    pub to: PublicKey,
    /// What is offered.
    pub text: String,
    /// Sent at.
    pub issued_at: UnixTime,
    /// Made by this node.
    pub mine: bool,
    /// The collaboration it was accepted into, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_in: Option<RecordId>,
}

/// Result of `offer` and `msg`: the record and whether it reached the recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Record id of what was sent.
    pub id: RecordId,
    /// Whether the recipient acknowledged it.
    pub delivered: bool,
    /// Why not, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The recipient was unreachable and the daemon keeps retrying in the background; the final
    /// outcome comes as a `delivery.outcome` event. False when delivered or refused (final).
    #[serde(default)]
    pub retrying: bool,
}

/// Result of `offers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offers {
    /// Offers, newest first.
    pub offers: Vec<OfferView>,
}

/// A collaboration log entry as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    /// Record id.
    pub id: RecordId,
    /// Who wrote it.
    pub author: PublicKey,
    /// When.
    pub at: UnixTime,
    /// Author's sequence number.
    pub seq: u64,
    /// `post`, `invite`, `join` or `close`.
    pub kind: String,
    /// Post text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Invited member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<PublicKey>,
}

/// A collaboration as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollabView {
    /// Record id.
    pub id: RecordId,
    /// Purpose line: the need's text, when this node holds the need (members do: the asker
    /// issued it, offerers offered on it). The record itself carries no text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The need it is for.
    pub need: RecordId,
    /// Members (founders, then those who joined).
    pub members: Vec<PublicKey>,
    /// Opened at.
    pub opened_at: UnixTime,
    /// Whether a member closed it (no more posts; other members may still close their part).
    pub closed: bool,
    /// Members who signed a close for their part, in log order. An attestation counts only when
    /// both its issuer and its subject are among them.
    #[serde(default)]
    pub closed_by: Vec<PublicKey>,
    /// Whether this node is a member (false for pending invitations).
    pub member: bool,
    /// The log, oldest first (only in `collab.show`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<EntryView>,
}

impl CollabView {
    /// A title for people: the purpose line, or the collaboration's id when the need is not held.
    pub fn title(&self) -> String {
        self.purpose
            .clone()
            .unwrap_or_else(|| format!("Collaboration {}", self.id))
    }
}

/// Result of `collab.list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collabs {
    /// Collaborations, newest first.
    pub collabs: Vec<CollabView>,
}

/// A direct message as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// Record id.
    pub id: RecordId,
    /// Sender.
    pub from: PublicKey,
    /// Recipient.
    pub to: PublicKey,
    /// Text.
    pub text: String,
    /// Sent at.
    pub at: UnixTime,
}

/// Result of `inbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    /// Messages, newest first.
    pub messages: Vec<MessageView>,
}
