//! Messages of Guild's direct request-response protocol (`/guild/<community>/direct/1.0.0`),
//! encoded with [`crate::codec`].
//!
//! ## Catch-up sync: range-based set reconciliation
//!
//! Gossip is lossy for nodes that were offline, so a node periodically asks a peer for records it
//! lacks. Records of one kind are ordered by `(issued_at, id)`. The requester sends fingerprints
//! (count and XOR of ids) of key ranges; the responder compares each with its own and answers per
//! range: equal, its ids (when the range holds at most [`SYNC_LEAF_IDS`]), or the range split into
//! [`SYNC_FANOUT`] sub-ranges with its fingerprints. The requester recurses into the sub-ranges
//! that differ and finally fetches the ids it lacks. Two nodes with 10^4 records differing in a
//! handful exchange a few hundred fingerprints and a handful of records (Meyer, "Range-Based Set
//! Reconciliation", 2023).

use crate::record::{AnyRecord, RecordId, RecordKind};
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// Sub-ranges a differing range is split into.
pub const SYNC_FANOUT: usize = 16;
/// A range with at most this many items is answered with its ids.
pub const SYNC_LEAF_IDS: usize = 32;
/// Most ranges in one sync request.
pub const MAX_SYNC_RANGES: usize = 256;
/// Most ids in one fetch request.
pub const MAX_FETCH_IDS: usize = 256;
/// Most bytes of records in one fetch response (kept under [`MAX_RESPONSE_BYTES`]).
pub const MAX_FETCH_BYTES: usize = 768 * 1024;
/// Largest encoded direct request (the network layer is configured with this cap).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Largest encoded direct response (the network layer is configured with this cap).
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Most bytes of log entries sent with an invitation (the newest are dropped beyond it; the
/// invitee sees them as members deliver new entries).
pub const MAX_INVITE_LOG_BYTES: usize = 128 * 1024;

/// A position in the `(issued_at, id)` order of one record kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SyncKey {
    /// Issue time.
    pub time: UnixTime,
    /// Record id.
    pub id: RecordId,
}

impl SyncKey {
    /// The smallest key.
    pub const MIN: SyncKey = SyncKey {
        time: 0,
        id: RecordId([0; 32]),
    };
    /// The largest key (inclusive upper bounds use it).
    pub const MAX: SyncKey = SyncKey {
        time: u64::MAX,
        id: RecordId([0xff; 32]),
    };
}

/// Summary of the items in `[lo, hi)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Lower bound (inclusive).
    pub lo: SyncKey,
    /// Upper bound (exclusive; `SyncKey::MAX` is treated as inclusive).
    pub hi: SyncKey,
    /// Items in range.
    pub count: u32,
    /// XOR of the ids in range.
    pub xor: [u8; 32],
}

/// The responder's answer for one range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeReply {
    /// Same content.
    Equal,
    /// Different; here are all the responder's ids in the range.
    Ids {
        /// Range lower bound.
        lo: SyncKey,
        /// Range upper bound.
        hi: SyncKey,
        /// The responder's ids.
        ids: Vec<RecordId>,
    },
    /// Different and large: fingerprints of sub-ranges to recurse into.
    Split(Vec<Fingerprint>),
}

/// A direct request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectRequest {
    /// "Send me your current profile" (used after a DHT lookup found you).
    GetProfile,
    /// Compare ranges of one record kind.
    Sync {
        /// The record kind.
        kind: RecordKind,
        /// Ranges with the requester's fingerprints.
        ranges: Vec<Fingerprint>,
    },
    /// Send these records.
    Fetch {
        /// Ids wanted.
        ids: Vec<RecordId>,
    },
    /// Deliver a record addressed to the responder (an offer, a message, a collaboration entry).
    Deliver(Box<AnyRecord>),
    /// Send the proof behind attestations about a collaboration: the collaboration record and the
    /// log entries that show membership and closing (invitations, joins, close). Served by any
    /// node holding an attestation that refers to it.
    Proof {
        /// The collaboration.
        collaboration: RecordId,
    },
    /// Invite the responder into a collaboration: the collaboration record, the signed
    /// invitation naming the responder, and the log so far (at most [`MAX_INVITE_LOG`] entries).
    Invite {
        /// The collaboration record.
        collaboration: Box<AnyRecord>,
        /// The invitation entry.
        invite: Box<AnyRecord>,
        /// The log so far.
        log: Vec<AnyRecord>,
    },
    /// "Tell me other members to connect to" (peer exchange): asked by a member below its
    /// target number of connections. Answered with [`DirectResponse::Peers`].
    Peers,
    /// "I am full; try these members instead": sent by a member just before it prunes the
    /// connection (gossipsub v1.1's PRUNE with peer exchange). Answered with
    /// [`DirectResponse::Ack`]; the addresses are hints, never trusted beyond dialling them.
    Elsewhere {
        /// Other members and where they listen, at most [`MAX_EXCHANGE_PEERS`].
        peers: Vec<PeerAddrs>,
    },
    /// One step of a warm introduction (see `record::introduction`), answered with
    /// [`DirectResponse::Ack`] or a typed refusal.
    Intro(Box<crate::record::IntroMessage>),
    /// "I was invited with this code; sponsor me" (the newcomer to the inviter, right after
    /// connecting). Answered with [`DirectResponse::Sponsored`] or
    /// [`DirectResponse::JoinRefused`].
    Join(Box<crate::invite::SignedInvitation>),
}

/// Why an inviter refuses a join request (the code itself checked out locally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JoinRefusal {
    /// The inviter has no record of this code (not its code, or forgotten).
    Unknown,
    /// The inviter revoked the code.
    Revoked,
    /// The code expired.
    Expired,
    /// Every use of the code is spent.
    UsedUp,
    /// The code does not check (signature, fields, not signed by the responder).
    Invalid,
    /// Too many join attempts; try again later.
    Busy,
}

impl JoinRefusal {
    /// A short label (JSON, logs).
    pub fn label(self) -> &'static str {
        match self {
            JoinRefusal::Unknown => "unknown",
            JoinRefusal::Revoked => "revoked",
            JoinRefusal::Expired => "expired",
            JoinRefusal::UsedUp => "used_up",
            JoinRefusal::Invalid => "invalid",
            JoinRefusal::Busy => "busy",
        }
    }
}

/// Members handed in one peer exchange at most.
pub const MAX_EXCHANGE_PEERS: usize = 8;
/// Addresses per member in a peer exchange at most (more are ignored).
pub const MAX_EXCHANGE_ADDRS: usize = 4;
/// Length of one exchanged address (multiaddr text) at most (longer ones are ignored).
pub const MAX_EXCHANGE_ADDR_LEN: usize = 256;

/// A member and the addresses it said it listens on (multiaddr text, without `/p2p/…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAddrs {
    /// The member.
    pub peer: crate::keys::PublicKey,
    /// Where to dial it.
    pub addrs: Vec<String>,
}

/// Most log entries sent with an invitation.
pub const MAX_INVITE_LOG: usize = 256;

/// A direct response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectResponse {
    /// The responder's profile, if it has one.
    Profile(Option<Box<AnyRecord>>),
    /// Per-range replies, in request order.
    Sync(Vec<RangeReply>),
    /// Records found (unknown ids are skipped; the list may be cut at the byte budget).
    Records(Vec<AnyRecord>),
    /// The delivered record was accepted.
    Ack,
    /// Members to connect to (the answer to [`DirectRequest::Peers`]).
    Peers(Vec<PeerAddrs>),
    /// The request was refused.
    Error {
        /// Why, as a code a program can act on.
        reason: RefusalReason,
        /// Why, in words for logs and users.
        message: String,
    },
    /// The answer to a [`DirectRequest::Join`]: the sponsorship record naming the newcomer.
    Sponsored(Box<AnyRecord>),
    /// The inviter refused the join request.
    JoinRefused(JoinRefusal),
}

/// Why a peer refused a request or a record: the typed half of [`DirectResponse::Error`]. The
/// same reasons label refusals in metrics and on the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RefusalReason {
    /// The bytes do not decode, or a field breaks a format rule.
    Malformed,
    /// The signature does not verify, or the signer is not the issuer.
    BadSignature,
    /// Past its expiry.
    Expired,
    /// Dated beyond the allowed clock skew.
    FromTheFuture,
    /// Larger than the protocol allows.
    Oversized,
    /// Signed by someone with no authority over what it acts on (a revocation of another
    /// member's record, an entry by a non-member, an offer delivered by someone else).
    Unauthorised,
    /// Already held (for a delivery: the recipient has it, so it counts as delivered).
    Duplicate,
    /// Addressed to another member, or a kind this path does not carry.
    NotAddressedHere,
    /// It refers to something the receiver does not know (a need, a collaboration).
    Unknown,
    /// It refers to something closed: a withdrawn or expired need, a closed collaboration.
    Closed,
    /// Over the sender's or the signer's budget; try again later.
    RateLimited,
    /// The receiver is busy or the peer is penalised; try again later.
    Busy,
    /// The receiver could not store it.
    StoreFailure,
}

impl RefusalReason {
    /// A short label (metrics, logs, JSON).
    pub fn label(self) -> &'static str {
        match self {
            RefusalReason::Malformed => "malformed",
            RefusalReason::BadSignature => "bad_signature",
            RefusalReason::Expired => "expired",
            RefusalReason::FromTheFuture => "from_the_future",
            RefusalReason::Oversized => "oversized",
            RefusalReason::Unauthorised => "unauthorised",
            RefusalReason::Duplicate => "duplicate",
            RefusalReason::NotAddressedHere => "not_addressed_here",
            RefusalReason::Unknown => "unknown",
            RefusalReason::Closed => "closed",
            RefusalReason::RateLimited => "rate_limited",
            RefusalReason::Busy => "busy",
            RefusalReason::StoreFailure => "store_failure",
        }
    }

    /// Whether the sender is at fault (counts as a strike against the peer).
    pub fn is_fault(self) -> bool {
        matches!(
            self,
            RefusalReason::Malformed
                | RefusalReason::BadSignature
                | RefusalReason::Expired
                | RefusalReason::FromTheFuture
                | RefusalReason::Oversized
                | RefusalReason::Unauthorised
                | RefusalReason::NotAddressedHere
        )
    }
}

/// The collaboration and the invite entry of a [`DirectRequest::Invite`], decoded without its
/// log (`None` for any other request, or if the head does not decode): the sender's budget
/// for invitations can refuse one before its log — up to [`MAX_INVITE_LOG_BYTES`] — is
/// decoded.
pub fn invite_head(data: &[u8]) -> Option<(AnyRecord, AnyRecord)> {
    /// `DirectRequest::Invite`'s variant index (a one-byte varint).
    const INVITE: u8 = 5;
    // A struct variant's fields follow its index in order: the head is a tuple of the first two.
    match data {
        [INVITE, rest @ ..] => crate::codec::decode_head::<(AnyRecord, AnyRecord)>(rest).ok(),
        _ => None,
    }
}

/// The kind of record a [`DirectRequest::Deliver`] carries, read from the request's first two
/// bytes without decoding it (`None` for any other request): bincode writes an enum's variant
/// index first, as a one-byte varint below 251, so a node can refuse a delivery whose sender's
/// budget for that kind is spent before it decodes the body.
pub fn delivered_kind(data: &[u8]) -> Option<RecordKind> {
    /// `DirectRequest::Deliver`'s variant index.
    const DELIVER: u8 = 3;
    match data {
        [DELIVER, record, ..] => Some(match record {
            0 => RecordKind::Profile,
            1 => RecordKind::Need,
            2 => RecordKind::Offer,
            3 => RecordKind::Attestation,
            4 => RecordKind::Revocation,
            5 => RecordKind::Collaboration,
            6 => RecordKind::CollabEntry,
            7 => RecordKind::Message,
            8 => RecordKind::Sponsorship,
            _ => return None,
        }),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn requests_round_trip_and_are_bounded() {
        let req = DirectRequest::Sync {
            kind: RecordKind::Profile,
            ranges: vec![Fingerprint {
                lo: SyncKey::MIN,
                hi: SyncKey::MAX,
                count: 3,
                xor: [1; 32],
            }],
        };
        let bytes = codec::encode(&req).unwrap();
        assert_eq!(
            codec::decode::<DirectRequest>(&bytes, MAX_REQUEST_BYTES).unwrap(),
            req
        );
        assert!(codec::decode::<DirectRequest>(&[200, 1, 2], MAX_REQUEST_BYTES).is_err());
    }

    #[test]
    fn the_delivered_kind_is_read_from_the_first_two_bytes() {
        use crate::fixtures::{self, sign, T0};
        let (a, b) = (fixtures::identity(1), fixtures::identity(2));
        let need = sign(fixtures::need(&a, "help", &["rust"], T0), &a);
        let offer = sign(fixtures::offer(&b, &need, T0), &b);
        let collab = sign(
            fixtures::collaboration(&a, need.clone(), vec![offer.clone()], T0),
            &a,
        );
        let records = [
            AnyRecord::Profile(sign(fixtures::profile(&a, "Ada", &["rust"], T0), &a)),
            AnyRecord::Need(need),
            AnyRecord::Offer(offer),
            AnyRecord::Attestation(sign(
                fixtures::attestation(&a, &b, RecordId([1; 32]), 3, T0),
                &a,
            )),
            AnyRecord::Collaboration(collab),
        ];
        for r in records {
            let kind = r.kind();
            let bytes = codec::encode(&DirectRequest::Deliver(Box::new(r))).unwrap();
            assert_eq!(delivered_kind(&bytes), Some(kind));
        }
        let message = crate::Message {
            version: crate::record::RECORD_VERSION,
            issuer: a.public(),
            to: b.public(),
            issued_at: T0,
            expires_at: T0 + 3600,
            nonce: 1,
            text: "hello".into(),
        };
        let bytes = codec::encode(&DirectRequest::Deliver(Box::new(AnyRecord::Message(sign(
            message, &a,
        )))))
        .unwrap();
        assert_eq!(delivered_kind(&bytes), Some(RecordKind::Message));
        let get = codec::encode(&DirectRequest::GetProfile).unwrap();
        assert_eq!(delivered_kind(&get), None);
        assert_eq!(delivered_kind(&[3]), None);
        assert_eq!(delivered_kind(&[3, 9]), None);
    }

    #[test]
    fn an_invitations_head_is_read_without_its_log() {
        use crate::fixtures::{self, sign, T0};
        let (a, b) = (fixtures::identity(1), fixtures::identity(2));
        let need = sign(fixtures::need(&a, "help", &["rust"], T0), &a);
        let offer = sign(fixtures::offer(&b, &need, T0), &b);
        let collab = AnyRecord::Collaboration(sign(
            fixtures::collaboration(&a, need.clone(), vec![offer.clone()], T0),
            &a,
        ));
        let other = AnyRecord::Need(need);
        let req = DirectRequest::Invite {
            collaboration: Box::new(collab.clone()),
            invite: Box::new(other.clone()),
            log: vec![AnyRecord::Offer(offer); 3],
        };
        let mut bytes = codec::encode(&req).unwrap();
        assert_eq!(invite_head(&bytes), Some((collab.clone(), other.clone())));
        // The log is not read: junk in its place leaves the head readable.
        let head = codec::encode(&(collab.clone(), other.clone()))
            .unwrap()
            .len();
        bytes.truncate(1 + head);
        bytes.extend([0xff; 16]);
        assert_eq!(invite_head(&bytes), Some((collab, other)));
        assert_eq!(
            invite_head(&codec::encode(&DirectRequest::Peers).unwrap()),
            None
        );
        assert_eq!(invite_head(&[5, 0xff]), None);
    }
}
