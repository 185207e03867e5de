//! Warm introductions on the control socket: `intro.introducers`, `intro.request`, `intro.list`,
//! `intro.answer` (see `record::introduction` for the protocol between daemons).

use super::call::Params;
use crate::keys::PublicKey;
use crate::record::{RecordId, MAX_INTRO_LIFETIME, MAX_INTRO_NOTE_BYTES};
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// Default lifetime of an introduction request, seconds: 3 days.
pub const DEFAULT_INTRO_LIFETIME: u64 = 3 * 86_400;
/// Most introducers proposed by `intro.introducers`.
pub const MAX_PROPOSED_INTRODUCERS: usize = 8;

fn check_note(field: &str, note: &str, required: bool) -> Result<(), String> {
    if required && note.trim().is_empty() {
        return Err(format!("`{field}` must say why you want to meet them"));
    }
    if note.len() > MAX_INTRO_NOTE_BYTES {
        return Err(format!(
            "`{field}` is {} bytes; at most {MAX_INTRO_NOTE_BYTES}",
            note.len()
        ));
    }
    Ok(())
}

/// Params of `intro.introducers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntroducersParams {
    /// Whom to be introduced to.
    pub peer: PublicKey,
}
impl Params for IntroducersParams {}

/// Params of `intro.request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntroRequestParams {
    /// Whom to be introduced to (C).
    pub peer: PublicKey,
    /// Who should introduce (B).
    pub via: PublicKey,
    /// Why, in your words (shown to B and C).
    pub note: String,
    /// The need this is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need: Option<RecordId>,
    /// Lifetime in seconds (default [`DEFAULT_INTRO_LIFETIME`], at most 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

impl Params for IntroRequestParams {
    fn normalise(&mut self) -> Result<(), String> {
        self.note = self.note.trim().to_string();
        check_note("note", &self.note, true)?;
        match self.expires_in {
            Some(0) => Err("`expires_in` must be at least 1 second".into()),
            Some(s) if s > MAX_INTRO_LIFETIME => Err(format!(
                "`expires_in` {s}s is longer than the {MAX_INTRO_LIFETIME}s (7 days) allowed"
            )),
            _ => Ok(()),
        }
    }
}

/// Params of `intro.answer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntroAnswerParams {
    /// The request (its id, as `intro.list` shows it).
    pub id: RecordId,
    /// Accept (relay it, as introducer; meet them, as the member introduced) or decline.
    pub accept: bool,
    /// A note for the requester (and, as introducer, for the member introduced).
    #[serde(default)]
    pub note: String,
}

impl Params for IntroAnswerParams {
    fn normalise(&mut self) -> Result<(), String> {
        self.note = self.note.trim().to_string();
        check_note("note", &self.note, false)
    }
}

/// One proposed introducer, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Introducer {
    /// The member who could introduce you.
    pub peer: PublicKey,
    /// Their display name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Your trust in them, `0..=1` (1 for a trust root).
    pub trust: f64,
    /// Whether they are connected now.
    pub connected: bool,
    /// Why they are proposed, one reason a line (you trust them; they vouched for the member,
    /// or the member for them).
    pub reasons: Vec<String>,
}

/// Result of `intro.introducers`: best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Introducers {
    /// The member to be introduced to.
    pub peer: PublicKey,
    /// Proposed introducers, best first (at most [`MAX_PROPOSED_INTRODUCERS`]).
    pub introducers: Vec<Introducer>,
}

/// Where an introduction stands, seen from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntroState {
    /// Sent to the introducer; no answer yet.
    AwaitingIntroducer,
    /// The introducer passed it on; the member introduced has not answered yet.
    Forwarded,
    /// Waiting for this node's answer (as introducer or as the member introduced).
    AwaitingMe,
    /// Accepted by everyone: the two were introduced.
    Accepted,
}

/// One introduction request, as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntroView {
    /// The request's id.
    pub id: RecordId,
    /// Who asks (A).
    pub requester: PublicKey,
    /// Who introduces (B).
    pub introducer: PublicKey,
    /// Whom A wants to meet (C).
    pub target: PublicKey,
    /// A's note.
    pub note: String,
    /// B's note, once B relayed it (seen by C, and by A once answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introducer_note: Option<String>,
    /// The need it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need: Option<RecordId>,
    /// Where it stands.
    pub state: IntroState,
    /// This node's part in it.
    pub role: IntroPart,
    /// When asked.
    pub issued_at: UnixTime,
    /// When it lapses.
    pub expires_at: UnixTime,
}

/// This node's part in an introduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntroPart {
    /// This node asked (A).
    Requester,
    /// This node is asked to introduce (B).
    Introducer,
    /// This node is the member introduced (C).
    Target,
}

/// A member this node was introduced to (or who was introduced to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Introduced {
    /// The member.
    pub peer: PublicKey,
    /// Who introduced the two.
    pub by: PublicKey,
    /// When the introduction was made.
    pub at: UnixTime,
    /// The request that made it.
    pub request: RecordId,
}

/// Result of `intro.list`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Introductions {
    /// Requests waiting for this node to relay or decline them (as introducer).
    pub to_relay: Vec<IntroView>,
    /// Introductions to this node waiting for its answer (as the member introduced).
    pub to_me: Vec<IntroView>,
    /// This node's own requests and where they stand.
    pub mine: Vec<IntroView>,
    /// Requests this node relayed, until the member introduced answers.
    pub relayed: Vec<IntroView>,
    /// Members introduced to this node, and by whom.
    pub introduced: Vec<Introduced>,
}
