//! [`Reply`]: a call's typed result, as it leaves the node. The daemon's in-process callers (the
//! dashboard, tests, benchmarks) read it as it is; it becomes JSON only at the edge — the
//! control socket and the dashboard's `/call` — through [`Reply::to_json`].

use super::pull::{
    Asked, CollabView, Collabs, Delivery, EntryView, Inbox, Needs, Offers, TeamBoard,
    TeamSuggestions,
};
use super::reflect::{Growth, Pulse};
use super::reputation::{AttestationView, Attestations, TrustRoots, TrustView};
use super::types::{Connected, FindResults, Peers, ProfileResult, Status, WebLogin};
use super::wire::CallError;
use serde::{Serialize, Serializer};

/// A reply of a different kind than the caller expected: a bug on one side.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expected {expected} from the node, got {got}")]
pub struct UnexpectedReply {
    /// The result type the caller wanted.
    pub expected: &'static str,
    /// What the node answered.
    pub got: &'static str,
}

impl From<UnexpectedReply> for CallError {
    fn from(e: UnexpectedReply) -> CallError {
        CallError::internal(e)
    }
}

macro_rules! replies {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty), )*) => {
        /// A call's typed result: one variant per result type (several methods share one: the
        /// three `profile.*` give [`Reply::Profile`]). Its JSON is the inner value's, `null` for
        /// [`Reply::Done`].
        #[derive(Debug, Clone, PartialEq)]
        pub enum Reply {
            $( $(#[$doc])* $variant($ty), )*
            /// `null`: `need.withdraw`, `revoke`, `shutdown`.
            Done,
        }

        impl Reply {
            /// The result type's name, for errors.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( Reply::$variant(_) => stringify!($ty), )*
                    Reply::Done => "null",
                }
            }
        }

        impl Serialize for Reply {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Reply::$variant(v) => v.serialize(s), )*
                    Reply::Done => s.serialize_unit(),
                }
            }
        }

        $(
            impl From<$ty> for Reply {
                fn from(v: $ty) -> Reply {
                    Reply::$variant(v)
                }
            }

            impl TryFrom<Reply> for $ty {
                type Error = UnexpectedReply;
                fn try_from(r: Reply) -> Result<$ty, UnexpectedReply> {
                    match r {
                        Reply::$variant(v) => Ok(v),
                        other => Err(UnexpectedReply { expected: stringify!($ty), got: other.kind() }),
                    }
                }
            }
        )*
    };
}

replies! {
    /// `status`.
    Status(Status),
    /// `peers`.
    Peers(Peers),
    /// `profile.get` (null when none), `profile.set`, `profile.update`.
    Profile(ProfileResult),
    /// `find`.
    Find(FindResults),
    /// `connect`.
    Connected(Connected),
    /// `web.login`.
    WebLogin(WebLogin),
    /// `ask`.
    Asked(Asked),
    /// `needs`.
    Needs(Needs),
    /// `offer`, `msg`.
    Delivery(Delivery),
    /// `offers`.
    Offers(Offers),
    /// `accept`, `collab.show`.
    Collab(CollabView),
    /// `collab.list`.
    Collabs(Collabs),
    /// `team`, `team.release`, `team.stop` (boxed: the largest result).
    Team(Box<TeamBoard>),
    /// `team.suggest`.
    Suggestions(TeamSuggestions),
    /// `collab.post`, `collab.invite`, `collab.join`, `collab.close`.
    Entry(EntryView),
    /// `inbox`.
    Inbox(Inbox),
    /// `vouch`.
    Attestation(AttestationView),
    /// `attestations`.
    Attestations(Attestations),
    /// `trust`.
    Trust(TrustView),
    /// `trust.add`, `trust.remove`, `trust.roots`.
    TrustRoots(TrustRoots),
    /// `pulse`.
    Pulse(Pulse),
    /// `growth`.
    Growth(Growth),
    /// `intro.introducers`.
    Introducers(super::intro::Introducers),
    /// `intro.request`, `intro.answer`.
    Intro(super::intro::IntroView),
    /// `intro.list`.
    Introductions(super::intro::Introductions),
    /// `invite.create`, `invite.revoke`.
    Invite(super::invite::InviteView),
    /// `invite.list`.
    Invites(super::invite::Invites),
    /// `join`.
    Joined(super::invite::Joined),
}

impl From<()> for Reply {
    fn from((): ()) -> Reply {
        Reply::Done
    }
}

impl TryFrom<Reply> for () {
    type Error = UnexpectedReply;
    fn try_from(r: Reply) -> Result<(), UnexpectedReply> {
        match r {
            Reply::Done => Ok(()),
            other => Err(UnexpectedReply {
                expected: "null",
                got: other.kind(),
            }),
        }
    }
}

impl Reply {
    /// The `result` of a response, as the socket has always written it: through a
    /// `serde_json::Value`, whose objects keep their members in alphabetical order — so the
    /// bytes a client sees do not depend on the order of the fields in these types.
    pub fn to_json(&self) -> Result<serde_json::Value, CallError> {
        serde_json::to_value(self).map_err(CallError::internal)
    }
}
