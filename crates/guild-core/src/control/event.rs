//! Events streamed to subscribers: `{"event": "<kind>", …fields}`, one per line.
//!
//! To add a kind, add one entry to the `events!` invocation (kind, variant, fields) and a section
//! in `docs/control-socket.md`; [`EVENT_KINDS`], [`Event::kind`] and filtering follow.

use super::types::Direction;
use crate::keys::PublicKey;
use crate::record::{RecordId, Skill};
use crate::skill::SkillTag;
use serde::{Deserialize, Serialize};

macro_rules! events {
    ($(
        $(#[$doc:meta])*
        $kind:literal => $variant:ident { $( $(#[$fdoc:meta])* $field:ident : $ty:ty ),* $(,)? },
    )*) => {
        /// Something that happened in the node, as streamed to `subscribe`rs.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "event")]
        pub enum Event {
            $(
                $(#[$doc])*
                #[serde(rename = $kind)]
                $variant { $( $(#[$fdoc])* $field: $ty ),* },
            )*
        }

        /// Every event kind, in the order `docs/control-socket.md` documents them.
        pub const EVENT_KINDS: &[&str] = &[$($kind),*];

        impl Event {
            /// The kind, as in the `event` member.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( Event::$variant { .. } => $kind, )*
                }
            }
        }
    };
}

events! {
    /// A connection to a peer was established (the first one, if there are several).
    "peer.connected" => PeerConnected {
        /// Its PeerId.
        peer: String,
        /// The address of the connection, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// Who dialled, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        direction: Option<Direction>,
    },
    /// The last connection to a peer closed.
    "peer.disconnected" => PeerDisconnected {
        /// Its PeerId.
        peer: String,
    },
    /// A new or newer valid profile entered the index.
    "profile.learned" => ProfileLearned {
        /// The member.
        peer: PublicKey,
        /// Display name.
        name: String,
        /// Skills with levels.
        skills: Vec<Skill>,
    },
    /// A need matching this node's skills or resources arrived.
    "need.matched" => NeedMatched {
        /// The need's id.
        need: RecordId,
        /// The asker.
        asker: PublicKey,
        /// What is needed.
        text: String,
        /// Asked tags this node's owner has.
        matched: Vec<SkillTag>,
        /// Labels of the need's roles this node's owner fits (`helper` for a version 1 need).
        #[serde(default)]
        roles: Vec<SkillTag>,
        /// Expiry.
        expires_at: u64,
    },
    /// A need was withdrawn by its asker.
    "need.withdrawn" => NeedWithdrawn {
        /// The need's id.
        need: RecordId,
        /// The asker.
        asker: PublicKey,
    },
    /// An offer on one of this node's needs arrived.
    "offer.received" => OfferReceived {
        /// The offer's id.
        offer: RecordId,
        /// The need.
        need: RecordId,
        /// Who offers.
        from: PublicKey,
        /// What is offered.
        text: String,
    },
    /// An offer on one of this node's needs was withdrawn by the member who made it.
    "offer.withdrawn" => OfferWithdrawn {
        /// The offer's id.
        offer: RecordId,
        /// The need.
        need: RecordId,
        /// Who had offered.
        from: PublicKey,
    },
    /// The final outcome of delivering something this node sent (offer, message, entry) after
    /// retries.
    "delivery.outcome" => DeliveryOutcome {
        /// The record sent.
        record: RecordId,
        /// `offer`, `offer_withdrawal`, `message`, `collaboration`, `invitation` or `collab_entry`.
        kind: String,
        /// The recipient.
        to: PublicKey,
        /// Whether it was acknowledged.
        delivered: bool,
        /// Attempts made.
        attempts: u32,
        /// The last error, when not delivered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A collaboration this node is a founding member of was opened.
    "collab.opened" => CollabOpened {
        /// The collaboration.
        collab: RecordId,
        /// Purpose: the need's text, when held here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        purpose: Option<String>,
        /// Members.
        members: Vec<PublicKey>,
    },
    /// This node was invited to a collaboration.
    "collab.invited" => CollabInvited {
        /// The collaboration.
        collab: RecordId,
        /// Who invited.
        by: PublicKey,
        /// Purpose: the need's text, when held here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        purpose: Option<String>,
    },
    /// A new entry in a collaboration's log (post, invite, join, close).
    "collab.entry" => CollabEntryAdded {
        /// The collaboration.
        collab: RecordId,
        /// The entry.
        entry: RecordId,
        /// Its author.
        author: PublicKey,
        /// `post`, `invite`, `join` or `close`.
        kind: String,
        /// Post text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// A direct message arrived.
    "message.received" => MessageReceived {
        /// The message's id.
        message: RecordId,
        /// The sender.
        from: PublicKey,
        /// The text.
        text: String,
    },
    /// A new attestation arrived (`counted` says whether it is backed and counts in trust).
    "attestation.received" => AttestationReceived {
        /// The attestation.
        attestation: RecordId,
        /// Who vouches.
        issuer: PublicKey,
        /// About whom.
        subject: PublicKey,
        /// Skill.
        skill: SkillTag,
        /// Score.
        score: i8,
        /// Whether it counts.
        counted: bool,
    },
    /// A member signed two different attestations with one sequence number: none of their
    /// attestations count any more.
    "attestation.equivocation" => AttestationEquivocation {
        /// The equivocating member.
        issuer: PublicKey,
        /// The sequence number used twice.
        seq: u64,
        /// The two attestations (the proof).
        attestations: Vec<RecordId>,
    },
    /// The proof behind attestations about a collaboration arrived, so trust was recomputed.
    "trust.changed" => TrustChanged {
        /// The collaboration whose proof arrived.
        collab: RecordId,
    },
    /// This subscriber's queue overflowed: `count` events were dropped before the next one.
    /// Always delivered, whatever the filter.
    "events.dropped" => EventsDropped {
        /// How many.
        count: u64,
    },
    /// A member asks this node to introduce them to another (answer with `intro.answer`).
    "intro.requested" => IntroRequested {
        /// The request.
        id: RecordId,
        /// Who asks.
        from: PublicKey,
        /// Whom they want to meet.
        target: PublicKey,
        /// Why, in their words.
        note: String,
    },
    /// A member introduces someone to this node (answer with `intro.answer`).
    "intro.received" => IntroReceived {
        /// The request.
        id: RecordId,
        /// Who wants to meet this node.
        from: PublicKey,
        /// Who introduces them.
        by: PublicKey,
        /// Their note.
        note: String,
        /// The introducer's note.
        introducer_note: String,
    },
    /// An introduction this node asked for or relayed was answered. With `role: target` and
    /// `accepted: true` the two members were introduced.
    "intro.answered" => IntroAnswered {
        /// The request.
        id: RecordId,
        /// Who answered.
        by: PublicKey,
        /// `introducer` or `target`.
        role: crate::record::IntroRole,
        /// Yes or no.
        accepted: bool,
        /// Their note.
        note: String,
    },
    /// A newcomer joined with one of our invitation codes (we sponsored them).
    "invite.joined" => InviteJoined {
        /// The code's id (hex).
        invite: String,
        /// The newcomer.
        peer: PublicKey,
        /// The newcomer's name, when its profile is known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Uses of the code so far.
        uses: u32,
    },
}

/// Which kinds a subscriber wants: exact kinds, prefixes such as `peer.*`, or `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Exact kinds and prefixes (for `peer.*`, `peer.`); empty means everything.
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn matches(&self, kind: &str) -> bool {
        match self {
            Pattern::Exact(k) => k == kind,
            Pattern::Prefix(p) => kind.starts_with(p.as_str()),
        }
    }
}

impl EventFilter {
    /// Everything.
    pub fn all() -> EventFilter {
        EventFilter::default()
    }

    /// Parses kinds. Each must name a known kind or be a prefix pattern (`x.*`) matching at least
    /// one, so a typo is reported instead of silently subscribing to nothing.
    pub fn new<S: AsRef<str>>(kinds: &[S]) -> Result<EventFilter, String> {
        let mut patterns = Vec::with_capacity(kinds.len());
        for kind in kinds {
            let kind = kind.as_ref().trim();
            if kind == "*" {
                return Ok(EventFilter::all());
            }
            let pattern = match kind.strip_suffix('*') {
                Some(prefix) => Pattern::Prefix(prefix.to_string()),
                None => Pattern::Exact(kind.to_string()),
            };
            if !EVENT_KINDS.iter().any(|k| pattern.matches(k)) {
                return Err(format!(
                    "unknown event kind `{kind}`; known kinds: {} (a trailing `*` matches a prefix)",
                    EVENT_KINDS.join(", ")
                ));
            }
            patterns.push(pattern);
        }
        Ok(EventFilter { patterns })
    }

    /// Whether an event of this kind passes. `events.dropped` always passes.
    pub fn matches_kind(&self, kind: &str) -> bool {
        self.patterns.is_empty()
            || kind == "events.dropped"
            || self.patterns.iter().any(|p| p.matches(kind))
    }

    /// Whether the event passes.
    pub fn matches(&self, event: &Event) -> bool {
        self.matches_kind(event.kind())
    }
}
