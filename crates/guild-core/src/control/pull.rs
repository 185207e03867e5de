//! Params and results of the pull workflow: needs, offers, collaborations, direct messages.

use super::call::Params;
use crate::keys::PublicKey;
use crate::limits::{MAX_NEED_LIFETIME, MAX_TEXT_BYTES};
use crate::record::{Place, RecordId, Reward, RewardKind, Role};
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
    /// Roles (a project): each a label, tags, a head count. Not together with `skills` or
    /// `resources`. With none of `roles`, `due`, `place`, `reward` the need is version 1, as
    /// before; with any of them it is version 2 (one role `helper` when `roles` is empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleInput>,
    /// When the work should be done (Unix seconds), after now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<UnixTime>,
    /// Where: `remote` (the default for a project) or a place name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// What is offered in return (default: volunteer work, no text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward: Option<RewardInput>,
}

/// One role of an `ask`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    /// Label, normalised like a tag (`layout`).
    pub label: SkillTag,
    /// Skills (matched against members' skills and resources alike).
    #[serde(default)]
    pub skills: Vec<SkillTag>,
    /// Resources.
    #[serde(default)]
    pub resources: Vec<SkillTag>,
    /// How many people (default 1, at most 10).
    #[serde(default = "one")]
    pub count: u8,
    /// Effort estimate ("2 days").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// A note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

fn one() -> u8 {
    1
}

/// What a need offers in return, as asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardInput {
    /// `paid`, `exchange`, `volunteer` or `gift`.
    pub kind: RewardKind,
    /// Details.
    #[serde(default)]
    pub text: String,
}

impl AskParams {
    /// Whether this asks for a project (a version 2 need).
    pub fn is_project(&self) -> bool {
        !self.roles.is_empty()
            || self.due.is_some()
            || self.place.is_some()
            || self.reward.is_some()
    }

    /// The roles of the need: those given, or one role `helper` of one person with the tags.
    pub fn project_roles(&self) -> Vec<Role> {
        if self.roles.is_empty() {
            return vec![Role {
                label: SkillTag::new_unchecked(crate::record::DEFAULT_ROLE_LABEL),
                skills: self.skills.clone(),
                resources: self.resources.clone(),
                count: 1,
                effort: None,
                note: String::new(),
            }];
        }
        self.roles
            .iter()
            .map(|r| Role {
                label: r.label.clone(),
                skills: r.skills.clone(),
                resources: r.resources.clone(),
                count: r.count,
                effort: r.effort.clone(),
                note: r.note.clone(),
            })
            .collect()
    }

    /// Where the work happens.
    pub fn project_place(&self) -> Place {
        match self.place.as_deref() {
            None => Place::Remote,
            Some(p) if p.eq_ignore_ascii_case("remote") => Place::Remote,
            Some(p) => Place::Named(p.to_string()),
        }
    }

    /// What is offered in return.
    pub fn project_reward(&self) -> Reward {
        self.reward.as_ref().map_or(
            Reward {
                kind: RewardKind::Volunteer,
                text: String::new(),
            },
            |r| Reward {
                kind: r.kind,
                text: r.text.clone(),
            },
        )
    }
}

impl Params for AskParams {
    fn normalise(&mut self) -> Result<(), String> {
        use crate::limits::{MAX_ROLES, MAX_ROLE_COUNT};
        text_field("text", &mut self.text)?;
        tags("skills", &mut self.skills)?;
        tags("resources", &mut self.resources)?;
        let has_tags = !self.skills.is_empty() || !self.resources.is_empty();
        if !self.roles.is_empty() && has_tags {
            return Err("give either `roles` or `skills`/`resources`, not both".into());
        }
        if self.roles.len() > MAX_ROLES {
            return Err(format!(
                "{} roles; a need has at most {MAX_ROLES}",
                self.roles.len()
            ));
        }
        for (i, r) in self.roles.iter_mut().enumerate() {
            r.label = SkillTag::parse(r.label.as_str())
                .map_err(|e| format!("`roles[{i}].label`: {e}"))?;
            tags("roles.skills", &mut r.skills)?;
            tags("roles.resources", &mut r.resources)?;
            if r.skills.is_empty() && r.resources.is_empty() {
                return Err(format!(
                    "role `{}` needs at least one skill or resource",
                    r.label
                ));
            }
            if !(1..=MAX_ROLE_COUNT).contains(&r.count) {
                return Err(format!(
                    "role `{}`: a role needs 1 to {MAX_ROLE_COUNT} people, not {}",
                    r.label, r.count
                ));
            }
        }
        if let Some(p) = &mut self.place {
            *p = p.trim().to_string();
            if p.is_empty() {
                return Err("`place` must be `remote` or a place name".into());
            }
        }
        if self.roles.is_empty() && self.skills.is_empty() && self.resources.is_empty() {
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

/// Params of `offer.withdraw`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferWithdrawParams {
    /// The offer (one this node made, not yet accepted).
    pub offer: RecordId,
    /// Why (optional).
    #[serde(default)]
    pub reason: String,
}
impl Params for OfferWithdrawParams {}

/// Params of `offer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferParams {
    /// The need answered.
    pub need: RecordId,
    /// What is offered.
    pub text: String,
    /// The role offered for, by label; may be left out when the need has one role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<SkillTag>,
}

impl Params for OfferParams {
    fn normalise(&mut self) -> Result<(), String> {
        if let Some(r) = &mut self.role {
            *r = SkillTag::parse(r.as_str()).map_err(|e| format!("`role`: {e}"))?;
        }
        text_field("text", &mut self.text)
    }
}

/// Params naming a need (`team`, `team.stop`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamParams {
    /// The need (one of this node's).
    pub need: RecordId,
}
impl Params for TeamParams {}

/// One suggested candidate for a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The member.
    pub peer: PublicKey,
    /// Display name.
    pub name: String,
    /// How well the profile fits the role's tags, in `[0, 1]` (as `find`).
    pub fit: f64,
    /// This node's trust in them for the role's skills, `None` for a stranger (as `find`).
    pub trust: Option<f64>,
    /// Availability of the matched resources, in `[0.8, 1]` (as `find`).
    pub availability: f64,
    /// `find`'s overall score.
    pub score: f64,
    /// Team members (the asker included) they worked well with: a counted, positive
    /// attestation between them, which only follows a collaboration both closed.
    pub worked_with: Vec<PublicKey>,
    /// Whether they already offered on this need.
    pub offered: bool,
    /// Why they are suggested, in words.
    pub why: Vec<String>,
}

/// Suggestions for one role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleSuggestions {
    /// Index in the need's roles.
    pub index: u8,
    /// The role's label.
    pub label: SkillTag,
    /// Whether it still has room.
    pub open: bool,
    /// Best first.
    pub candidates: Vec<Suggestion>,
}

/// Result of `team.suggest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamSuggestions {
    /// The need.
    pub need: RecordId,
    /// Per role, in the need's order.
    pub roles: Vec<RoleSuggestions>,
}

/// Params of `team.release`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseParams {
    /// The accepted offer whose offerer leaves the team.
    pub offer: RecordId,
}
impl Params for ReleaseParams {}

/// Where a need stands in staffing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Staffing {
    /// Some role is open and the need takes offers.
    Staffing,
    /// Every role is filled, or the asker stopped staffing: no more offers.
    Staffed,
    /// The team closed its collaboration, or the need ended unstaffed (withdrawn, expired).
    Closed,
}

/// One role on a team board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleBoard {
    /// Index in the need's roles (what offers name).
    pub index: u8,
    /// The role as asked.
    pub role: Role,
    /// Accepted members (releases applied).
    pub members: Vec<PublicKey>,
    /// Offers on this role not accepted (nor released).
    pub offers: Vec<RecordId>,
    /// Whether the role is filled (`members` reached `role.count`).
    pub filled: bool,
}

/// Result of `team`, `team.release`, `team.stop`: a need's staffing board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamBoard {
    /// The need.
    pub need: RecordId,
    /// What is needed.
    pub text: String,
    /// Where it stands.
    pub status: Staffing,
    /// The team's collaboration, once the first offer is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collab: Option<RecordId>,
    /// When the work should be done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<UnixTime>,
    /// Where (absent for a version 1 need).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
    /// What is offered in return (absent for a version 1 need).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<Reward>,
    /// The roles, in the need's order.
    pub roles: Vec<RoleBoard>,
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
    /// The roles (a version 1 need: one role `helper` of one person).
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Labels of the roles this node's owner fits (a tag of the role among the owner's skills
    /// or resources).
    #[serde(default)]
    pub matched_roles: Vec<SkillTag>,
    /// A project's terms (version 2 needs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Box<ProjectTerms>>,
}

/// When, where and for what return a project's work is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectTerms {
    /// When the work should be done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<UnixTime>,
    /// Where.
    pub place: Place,
    /// What is offered in return.
    pub reward: Reward,
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
    /// The role offered for (index into the need's roles).
    #[serde(default)]
    pub role: u8,
    /// Its label, when the need is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_label: Option<SkillTag>,
    /// Withdrawn by the member who made it.
    #[serde(default)]
    pub withdrawn: bool,
    /// The need's state, when the need is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need_status: Option<NeedStatus>,
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
