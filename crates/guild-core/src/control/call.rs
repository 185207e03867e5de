//! The methods: one [`Call`] variant per method, with typed params.
//!
//! To add a method, add one line to the `calls!` invocation below (name, variant, params type),
//! a params struct implementing [`Params`] if it takes any, a result type in `types.rs` with its
//! [`super::Reply`] variant, a section in `docs/control-socket.md` (a test checks the docs list
//! exactly [`METHODS`]), its place in `route.rs`'s table (the service or the daemon), and the
//! arm that serves it there.

use super::event::EventFilter;
use super::profile::{ResourceInput, SkillInput};
use crate::keys::PublicKey;
use crate::skill::SkillTag;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

/// Params of a method: JSON-decoded, then checked and normalised (tags) by [`Params::normalise`].
/// Unknown fields are refused (every params struct is `deny_unknown_fields`), so a typo is an
/// error rather than a silently ignored option.
pub trait Params: Serialize + DeserializeOwned {
    /// Normalises user input in place (skill tags) and checks what serde cannot. The message
    /// names the field.
    fn normalise(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// Why a method and its params do not make a [`Call`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallParseError {
    /// No method by that name.
    #[error("unknown method `{0}`; known methods: {known}", known = METHODS.join(", "))]
    UnknownMethod(String),
    /// The params do not fit the method.
    #[error("invalid params for `{method}`: {message}")]
    InvalidParams {
        /// The method.
        method: &'static str,
        /// What is wrong, naming the field.
        message: String,
    },
}

fn decode<P: Params>(method: &'static str, params: Option<Value>) -> Result<P, CallParseError> {
    let invalid = |message: String| CallParseError::InvalidParams { method, message };
    // Missing params decode like `{}`, so methods whose params are all optional need none.
    let value = params.unwrap_or_else(|| Value::Object(Default::default()));
    let mut p: P = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    p.normalise().map_err(invalid)?;
    Ok(p)
}

fn no_params(method: &'static str, params: Option<Value>) -> Result<(), CallParseError> {
    match params {
        Some(Value::Object(map)) if !map.is_empty() => Err(CallParseError::InvalidParams {
            method,
            message: format!("`{method}` takes no params"),
        }),
        _ => Ok(()),
    }
}

macro_rules! calls {
    ($( $(#[$doc:meta])* $name:literal => $variant:ident $(($params:ty))?, )*) => {
        /// A request to the daemon: one variant per method of the control protocol.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Call {
            $( $(#[$doc])* $variant $(($params))?, )*
        }

        /// Every method name, in the order `docs/control-socket.md` documents them.
        pub const METHODS: &[&str] = &[$($name),*];

        impl Call {
            /// The method name on the wire.
            pub fn method(&self) -> &'static str {
                match self {
                    $( calls!(@pat $variant $($params)?) => $name, )*
                }
            }

            /// The params as JSON (`None` for methods that take none).
            pub fn params(&self) -> Result<Option<Value>, serde_json::Error> {
                match self {
                    $( calls!(@bind $variant p $($params)?) => calls!(@value p $($params)?), )*
                }
            }

            /// Builds a call from a method name and its params, telling an unknown method from
            /// wrong params.
            pub fn from_parts(method: &str, params: Option<Value>) -> Result<Call, CallParseError> {
                match method {
                    $( $name => calls!(@parse $name $variant params $($params)?), )*
                    other => Err(CallParseError::UnknownMethod(other.to_string())),
                }
            }
        }
    };
    (@pat $variant:ident) => { Call::$variant };
    (@pat $variant:ident $params:ty) => { Call::$variant(_) };
    (@bind $variant:ident $p:ident) => { Call::$variant };
    (@bind $variant:ident $p:ident $params:ty) => { Call::$variant($p) };
    (@value $p:ident) => { Ok(None) };
    (@value $p:ident $params:ty) => { serde_json::to_value($p).map(Some) };
    (@parse $name:literal $variant:ident $v:ident) => {
        no_params($name, $v).map(|()| Call::$variant)
    };
    (@parse $name:literal $variant:ident $v:ident $params:ty) => {
        decode::<$params>($name, $v).map(Call::$variant)
    };
}

calls! {
    /// `status`: the node's identity, addresses, peers, index sizes, uptime. Result:
    /// [`super::Status`].
    "status" => Status,
    /// `peers`: connected peers. Result: [`super::Peers`].
    "peers" => Peers,
    /// `profile.get`: this node's signed profile, or an indexed peer's. Result: a signed
    /// profile or null.
    "profile.get" => ProfileGet(ProfileGetParams),
    /// `profile.set`: replaces this node's whole profile, signs and publishes it. Result: the
    /// signed profile.
    "profile.set" => ProfileSet(ProfileSetParams),
    /// `profile.update`: changes parts of this node's profile (name, bio, links; adds or removes
    /// skills and resources) in one step. Result: the signed profile.
    "profile.update" => ProfileUpdate(ProfileUpdateParams),
    /// `find`: members by skill, resource and text, ranked. Result: [`super::FindResults`].
    "find" => Find(FindParams),
    /// `connect`: dials a multiaddr. Result: [`super::Connected`].
    "connect" => Connect(ConnectParams),
    /// `subscribe`: turns the connection into an event stream. Result (first line):
    /// [`super::Subscribed`], then one [`super::Event`] per line.
    "subscribe" => Subscribe(SubscribeParams),
    /// `ask`: posts a signed, expiring need. Result: [`super::pull::Asked`].
    "ask" => Ask(super::pull::AskParams),
    /// `needs`: open needs (all, mine, or matching my skills). Result: [`super::pull::Needs`].
    "needs" => Needs(super::pull::NeedsParams),
    /// `need.withdraw`: withdraws one of my needs (a signed withdrawal every node honours).
    /// Result: null.
    "need.withdraw" => NeedWithdraw(super::pull::WithdrawParams),
    /// `offer`: sends a signed offer to a need's asker. Result: [`super::pull::Delivery`].
    "offer" => Offer(super::pull::OfferParams),
    /// `offers`: offers received on my needs and offers I made. Result: [`super::pull::Offers`].
    "offers" => Offers(super::pull::OffersParams),
    /// `offer.withdraw`: withdraws an offer this node made and that was not accepted (a signed
    /// withdrawal delivered to the asker). Result: [`super::pull::Delivery`].
    "offer.withdraw" => OfferWithdraw(super::pull::OfferWithdrawParams),
    /// `accept`: accepts an offer, opening a collaboration. Result: [`super::pull::CollabView`].
    "accept" => Accept(super::pull::AcceptParams),
    /// `team`: a need's staffing board (asker only): roles open or filled, members, offers.
    /// Result: [`super::pull::TeamBoard`].
    "team" => Team(super::pull::TeamParams),
    /// `team.release`: takes an accepted member off the team before they wrote anything,
    /// reopening their role. Result: [`super::pull::TeamBoard`].
    "team.release" => TeamRelease(super::pull::ReleaseParams),
    /// `team.stop`: stops staffing a need early (no more offers; a signed withdrawal every node
    /// honours). Result: [`super::pull::TeamBoard`].
    "team.stop" => TeamStop(super::pull::TeamParams),
    /// `team.suggest`: for each role of one of my needs, the best candidates, and why.
    /// Result: [`super::pull::TeamSuggestions`].
    "team.suggest" => TeamSuggest(super::pull::TeamParams),
    /// `collab.list`: my collaborations and invitations. Result: [`super::pull::Collabs`].
    "collab.list" => CollabList,
    /// `collab.show`: one collaboration with its log (members only). Result:
    /// [`super::pull::CollabView`].
    "collab.show" => CollabShow(super::pull::CollabParams),
    /// `collab.post`: posts to a collaboration's log. Result: [`super::pull::EntryView`].
    "collab.post" => CollabPost(super::pull::CollabPostParams),
    /// `collab.invite`: invites a member. Result: [`super::pull::EntryView`].
    "collab.invite" => CollabInvite(super::pull::CollabInviteParams),
    /// `collab.join`: accepts an invitation. Result: [`super::pull::EntryView`].
    "collab.join" => CollabJoin(super::pull::CollabParams),
    /// `collab.close`: closes a collaboration. Result: [`super::pull::EntryView`].
    "collab.close" => CollabClose(super::pull::CollabCloseParams),
    /// `msg`: sends a direct message. Result: [`super::pull::Delivery`].
    "msg" => Msg(super::pull::MsgParams),
    /// `inbox`: direct messages received. Result: [`super::pull::Inbox`].
    "inbox" => Inbox(super::pull::InboxParams),
    /// `vouch`: issues a signed attestation about a member of a collaboration both closed their
    /// parts of. Result:
    /// [`super::reputation::AttestationView`].
    "vouch" => Vouch(super::reputation::VouchParams),
    /// `revoke`: revokes one of my attestations. Result: null.
    "revoke" => Revoke(super::reputation::RevokeParams),
    /// `attestations`: attestations known, with whether each counts. Result:
    /// [`super::reputation::Attestations`].
    "attestations" => Attestations(super::reputation::AttestationsParams),
    /// `trust`: this node's trust in a member, per skill, and why. Result:
    /// [`super::reputation::TrustView`].
    "trust" => Trust(super::reputation::TrustParams),
    /// `trust.add`: adds one of this node's own trust roots (local, never published). Result:
    /// [`super::reputation::TrustRoots`].
    "trust.add" => TrustAdd(super::reputation::TrustAddParams),
    /// `trust.remove`: removes a member's trust roots. Result: [`super::reputation::TrustRoots`].
    "trust.remove" => TrustRemove(super::reputation::TrustRemoveParams),
    /// `trust.roots`: this node's trust roots. Result: [`super::reputation::TrustRoots`].
    "trust.roots" => TrustRoots,
    /// `pulse`: the community's pulse per tag over a period, from public records, small counts
    /// hidden. Result: [`super::reflect::Pulse`].
    "pulse" => Pulse(super::reflect::PulseParams),
    /// `growth`: a member's growth (attestations, declared levels, collaborations). Result:
    /// [`super::reflect::Growth`].
    "growth" => Growth(super::reflect::GrowthParams),
    /// `web.login`: a fresh one-time login link for the web dashboard (it works once, within
    /// [`super::types::WEB_LOGIN_TTL_SECS`]). Result: [`super::types::WebLogin`].
    "web.login" => WebLogin,
    /// `shutdown`: stops the daemon. Result: null.
    "shutdown" => Shutdown,
    /// `intro.introducers`: members you trust who could introduce you to a member, best first,
    /// with why. Result: [`super::intro::Introducers`].
    "intro.introducers" => IntroIntroducers(super::intro::IntroducersParams),
    /// `intro.request`: asks a member to introduce you to another. Result:
    /// [`super::intro::IntroView`].
    "intro.request" => IntroRequest(super::intro::IntroRequestParams),
    /// `intro.list`: introductions to relay, to answer, asked for, and made. Result:
    /// [`super::intro::Introductions`].
    "intro.list" => IntroList,
    /// `intro.answer`: accepts or declines an introduction (as introducer or as the member
    /// introduced). Result: [`super::intro::IntroView`].
    "intro.answer" => IntroAnswer(super::intro::IntroAnswerParams),
    /// `invite.create`: a signed invitation code for a newcomer. Result:
    /// [`super::invite::InviteView`].
    "invite.create" => InviteCreate(super::invite::InviteCreateParams),
    /// `invite.list`: the codes this node issued, with their uses. Result:
    /// [`super::invite::Invites`].
    "invite.list" => InviteList,
    /// `invite.revoke`: cancels a code. Result: [`super::invite::InviteView`].
    "invite.revoke" => InviteRevoke(super::invite::InviteRevokeParams),
    /// `join`: joins the community of an invitation code (fresh home). Result:
    /// [`super::invite::Joined`].
    "join" => Join(super::invite::JoinParams),
}

/// Params of `profile.get`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileGetParams {
    /// Whose profile: absent means this node's own; a peer id means that member's profile from
    /// the local index (error `not_found` if none is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<PublicKey>,
}
impl Params for ProfileGetParams {}

/// Params of `profile.set`: the whole profile. Missing fields are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileSetParams {
    /// Display name.
    pub name: String,
    /// Free text about the member.
    pub bio: String,
    /// Skills; a missing level means [`super::DEFAULT_LEVEL`].
    pub skills: Vec<SkillInput>,
    /// Resources; missing description or availability mean empty.
    pub resources: Vec<ResourceInput>,
    /// Links (web site, repositories).
    pub links: Vec<String>,
}

impl Params for ProfileSetParams {
    fn normalise(&mut self) -> Result<(), String> {
        normalise_inputs("skills", &mut self.skills, "resources", &mut self.resources)
    }
}

/// Params of `profile.update`: every field is optional; what is absent stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileUpdateParams {
    /// New display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New bio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    /// New links (replacing the old list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    /// Skills to add, or to change the level of if present (a missing level keeps the present
    /// level, or is [`super::DEFAULT_LEVEL`] for a new skill).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add_skills: Vec<SkillInput>,
    /// Skills to remove; a tag the profile does not have is a `not_found` error and nothing
    /// changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove_skills: Vec<SkillTag>,
    /// Resources to add, or to update if present (missing fields keep their present value).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add_resources: Vec<ResourceInput>,
    /// Resources to remove; like `remove_skills`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove_resources: Vec<SkillTag>,
}

impl Params for ProfileUpdateParams {
    fn normalise(&mut self) -> Result<(), String> {
        normalise_inputs(
            "add_skills",
            &mut self.add_skills,
            "add_resources",
            &mut self.add_resources,
        )?;
        normalise_tags("remove_skills", &mut self.remove_skills)?;
        normalise_tags("remove_resources", &mut self.remove_resources)?;
        if *self == ProfileUpdateParams::default() {
            return Err("nothing to change: give at least one field".into());
        }
        Ok(())
    }
}

/// Default number of `find` results.
pub const DEFAULT_FIND_LIMIT: u32 = 20;
/// Longest `find` query, in bytes.
pub const MAX_QUERY_BYTES: usize = 512;
/// Most `find` results one request may ask for.
pub const MAX_FIND_LIMIT: u32 = 500;

/// Params of `find`. At least one of `query`, `skills`, `resources`, `text` must be given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FindParams {
    /// What the person typed: every word is matched against skill tags, resource tags and the
    /// words of names and bios, exactly, by prefix or with a typo; members matching more words
    /// better rank higher.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Skills every result must have (exact tags).
    pub skills: Vec<SkillTag>,
    /// Resources every result must list (exact tags).
    pub resources: Vec<SkillTag>,
    /// Words every result's name, bio or resource descriptions must contain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Most results (default [`DEFAULT_FIND_LIMIT`], at most [`MAX_FIND_LIMIT`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Answer from the local index only, without a DHT lookup.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub local_only: bool,
}

impl FindParams {
    /// The number of results to return.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_FIND_LIMIT) as usize
    }
}

impl Params for FindParams {
    fn normalise(&mut self) -> Result<(), String> {
        normalise_tags("skills", &mut self.skills)?;
        normalise_tags("resources", &mut self.resources)?;
        if let Some(text) = &self.text {
            let trimmed = text.trim();
            self.text = (!trimmed.is_empty()).then(|| trimmed.to_string());
        }
        if let Some(q) = &self.query {
            let trimmed = q.trim();
            if trimmed.len() > MAX_QUERY_BYTES {
                return Err(format!("`query` is longer than {MAX_QUERY_BYTES} bytes"));
            }
            self.query = (!trimmed.is_empty()).then(|| trimmed.to_string());
        }
        if self.query.is_none()
            && self.skills.is_empty()
            && self.resources.is_empty()
            && self.text.is_none()
        {
            return Err("give at least one word, skill, resource or text to look for".into());
        }
        match self.limit {
            Some(0) => Err("`limit` must be at least 1".into()),
            Some(n) if n > MAX_FIND_LIMIT => Err(format!(
                "`limit` {n} exceeds the maximum of {MAX_FIND_LIMIT}"
            )),
            _ => Ok(()),
        }
    }
}

/// Params of `connect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectParams {
    /// The multiaddr to dial, e.g. `/ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…`.
    pub addr: String,
}

impl Params for ConnectParams {
    fn normalise(&mut self) -> Result<(), String> {
        self.addr = self.addr.trim().to_string();
        if self.addr.is_empty() {
            return Err("`addr` must be a multiaddr such as /ip4/192.0.2.7/tcp/4001".into());
        }
        Ok(())
    }
}

/// Params of `subscribe`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscribeParams {
    /// Event kinds wanted: exact kinds (`peer.connected`) or prefixes (`peer.*`); empty means
    /// all. `events.dropped` is always delivered.
    pub kinds: Vec<String>,
}

impl SubscribeParams {
    /// The filter these kinds describe.
    pub fn filter(&self) -> Result<EventFilter, String> {
        EventFilter::new(&self.kinds)
    }
}

impl Params for SubscribeParams {
    fn normalise(&mut self) -> Result<(), String> {
        self.filter().map(|_| ())
    }
}

/// Re-normalises tags that came from a client; the message names the field and the position.
pub(crate) fn normalise_tags(field: &str, tags: &mut [SkillTag]) -> Result<(), String> {
    for (i, tag) in tags.iter_mut().enumerate() {
        *tag = SkillTag::parse(tag.as_str()).map_err(|e| format!("{field}[{i}]: {e}"))?;
    }
    Ok(())
}

fn normalise_inputs(
    skills_field: &str,
    skills: &mut [SkillInput],
    resources_field: &str,
    resources: &mut [ResourceInput],
) -> Result<(), String> {
    for (i, s) in skills.iter_mut().enumerate() {
        s.tag =
            SkillTag::parse(s.tag.as_str()).map_err(|e| format!("{skills_field}[{i}].tag: {e}"))?;
    }
    for (i, r) in resources.iter_mut().enumerate() {
        r.tag = SkillTag::parse(r.tag.as_str())
            .map_err(|e| format!("{resources_field}[{i}].tag: {e}"))?;
    }
    Ok(())
}
