//! Typed results of the methods.
//!
//! Fields added later carry `#[serde(default)]`, so a client built against an older version still
//! reads a newer daemon's answers and the other way round.

use crate::keys::PublicKey;
use crate::record::{Profile, Signed, Skill};
use crate::skill::SkillTag;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// Result of `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// This node's PeerId (also the signer of its records).
    pub peer_id: String,
    /// The daemon's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The community this node belongs to.
    pub community: String,
    /// The daemon's process id.
    pub pid: u32,
    /// Addresses the node listens on.
    pub listen_addrs: Vec<String>,
    /// Addresses other peers observed or confirmed for this node.
    #[serde(default)]
    pub external_addrs: Vec<String>,
    /// Peers with an established connection.
    pub connected_peers: usize,
    /// Sizes of the local index.
    pub index: IndexSizes,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// The web dashboard: where it is served, or why not (absent from daemons without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<WebStatus>,
    /// How this node stands with its community's mesh (absent from older daemons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh: Option<MeshStatus>,
}

/// How a node stands with its community's mesh: its connections against its watermarks, and,
/// when it has none, why and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshStatus {
    /// In one word.
    pub state: MeshState,
    /// Connected peers.
    pub peers: usize,
    /// Of those, connections still in their grace period (newcomers and fresh dials): never
    /// pruned yet, and not counted against `high`.
    #[serde(default)]
    pub settling: usize,
    /// Below this many connections the node dials more members.
    pub low: usize,
    /// Above this many it prunes down to `low`.
    pub high: usize,
    /// Members in its address book (what it can dial).
    pub known: usize,
    /// Why it is not connected, and what to do (only when it has no connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The state in [`MeshStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeshState {
    /// No connection yet, dialling (just started, or just lost its last peer).
    Connecting,
    /// No connection for a while: not connected to the community (see the reason).
    Alone,
    /// Connected, below the low watermark; dialling more.
    Thin,
    /// Connected, at or above the low watermark.
    Connected,
}

/// Where the daemon serves its web dashboard, or why it does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebStatus {
    /// Whether the page is served.
    pub state: WebState,
    /// The address asked for in the config (`web.listen`).
    pub requested: String,
    /// The page's URL (without the login token) when it is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Why the page is served elsewhere than asked, or not at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How long a login link from `web.login` stays valid, in seconds (it also works only once).
pub const WEB_LOGIN_TTL_SECS: u64 = 300;

/// Result of `web.login`: a one-time login link for the web dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebLogin {
    /// The page's URL, without a login token.
    pub url: String,
    /// The URL that logs a browser in: it works once, for [`WebLogin::expires_in_secs`].
    pub login_url: String,
    /// Seconds until the link stops working if unused.
    pub expires_in_secs: u64,
}

/// The state of the web dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebState {
    /// Served at the address asked for.
    Serving,
    /// The address asked for was taken: served on another loopback port.
    Moved,
    /// Could not be served (the reason is in `note`).
    Unavailable,
    /// Turned off in the config (`web.enabled = false`).
    Disabled,
}

/// Sizes of the node's local index. Later issues add counters here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexSizes {
    /// Live profiles known (including this node's own).
    pub profiles: u64,
    /// Signed records stored, of every kind.
    pub records: u64,
}

/// Result of `peers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peers {
    /// Connected peers.
    pub peers: Vec<PeerInfo>,
    /// Peers remembered from earlier connections and not connected now, best first (the order
    /// in which a restarted node dials them), at most [`MAX_REMEMBERED_SHOWN`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remembered: Vec<RememberedPeer>,
}

/// Most remembered peers `peers` lists.
pub const MAX_REMEMBERED_SHOWN: usize = 100;

/// A peer remembered from an earlier connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedPeer {
    /// Its PeerId.
    pub peer_id: String,
    /// Its addresses, most recent first.
    pub addresses: Vec<String>,
    /// When we last had a connection (Unix seconds).
    pub last_seen: UnixTime,
    /// Separate sessions we had with it.
    pub sessions: u32,
    /// Display name from its profile, when one is indexed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A connected peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Its PeerId.
    pub peer_id: String,
    /// Addresses of its established connections.
    pub addresses: Vec<String>,
    /// Who dialled, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// When the first current connection was established (Unix seconds), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_since: Option<UnixTime>,
    /// The last ping's round trip in milliseconds, once a ping has answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    /// Display name from its profile, when one is indexed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The peer dialled us.
    Inbound,
    /// We dialled the peer.
    Outbound,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        })
    }
}

/// Result of `profile.get`, `profile.set` and `profile.update`: a signed profile (null from
/// `profile.get` when this node has none yet).
pub type ProfileResult = Option<Signed<Profile>>;

/// Result of `find`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindResults {
    /// Matches, best first.
    pub results: Vec<FindMatch>,
    /// For asked tags that few or no members have: similar tags that exist.
    #[serde(default)]
    pub suggestions: Vec<TagSuggestion>,
    /// Whether the DHT was asked (the local index was thin and `local_only` was not set).
    #[serde(default)]
    pub dht_queried: bool,
}

/// One member found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindMatch {
    /// The member.
    pub peer: PublicKey,
    /// Display name (empty when only a DHT provider record is known).
    pub name: String,
    /// The asked skills the member has, with their declared levels.
    pub skills: Vec<Skill>,
    /// The asked resources the member lists.
    #[serde(default)]
    pub resources: Vec<SkillTag>,
    /// Ranking score, higher is better: fit first, then a trust path, then trust, level,
    /// availability and freshness (see [`FindMatch::factors`]).
    pub score: f64,
    /// This node's trust in the member for the matched skills, in `0.0..=1.0`; absent for a
    /// stranger (no trust path from this node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<f64>,
    /// No trust path leads from this node to the member.
    #[serde(default)]
    pub stranger: bool,
    /// What matched, and how: each query word with the field, term and kind of match.
    #[serde(default)]
    pub matched: Vec<MatchedTerm>,
    /// The ranking factors behind `score`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factors: Option<RankFactors>,
    /// When the member's profile was last issued or seen (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<UnixTime>,
    /// Where the match came from.
    pub source: Source,
    /// Who introduced this node to the member, if anyone (context, never trust).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced_by: Option<PublicKey>,
}

/// One query word matched one term of a member's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedTerm {
    /// The word (or two adjacent words joined by `-`) as typed.
    pub word: String,
    /// `skill`, `resource` or `text` (name, bio, resource description).
    pub field: String,
    /// The tag or word it matched.
    pub term: String,
    /// `exact`, `prefix`, `typo`, `word`, `wordprefix`, or `related` (a skill closely related to a
    /// matched resource).
    pub how: String,
}

/// The factors a `find` result was ranked by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankFactors {
    /// How well the profile matches the words, `0..=1` (exact 1, prefix 0.75, typo 0.55, name or
    /// bio word 0.45, averaged over the words).
    pub fit: f64,
    /// Trust for the matched skills, `0..=1`; absent for a stranger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<f64>,
    /// Declared level of the best matched skill as a weight (0.25 beginner … 1 expert).
    pub level: f64,
    /// Availability of matched resources, `0.8..=1`.
    pub availability: f64,
    /// Freshness of the profile, halving every week.
    pub freshness: f64,
}

/// Where a `find` result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The local index (profiles heard by gossip or sync).
    Local,
    /// A DHT provider lookup for a skill key.
    Dht,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Local => "local",
            Source::Dht => "dht",
        })
    }
}

/// Near-miss tags for a word (or asked tag) that matched nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSuggestion {
    /// The tag asked for.
    pub tag: String,
    /// Known tags close to it, most likely first.
    pub did_you_mean: Vec<SkillTag>,
}

/// Result of `connect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    /// The PeerId at that address, once the connection is established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
}

/// First line answering `subscribe`; events follow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The kinds subscribed to (as given; empty means all).
    pub kinds: Vec<String>,
}
