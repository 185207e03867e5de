//! Signed records: one generic envelope `{ body, signer, signature }` for every record type.
//!
//! `signature = ed25519(sk, DOMAIN ‖ bincode(body))` with a per-type ASCII domain tag such as
//! `guild/attestation/v1\0`, verified with `verify_strict`. A record's id is
//! `SHA-256(DOMAIN ‖ bincode(body))`: it does not cover the signature, so a malleated signature never
//! yields a new id.
//!
//! Each record type has exactly one validation function ([`RecordBody::validate_body`], wrapped by
//! [`Signed::validate`]) used by gossip, sync, direct requests and the control socket alike.

/// The four envelope accessors of a [`RecordBody`] whose fields carry the same names
/// (`version`, `issuer`, `issued_at`, `expires_at`): every record kind's.
macro_rules! envelope_fields {
    () => {
        fn version(&self) -> u16 {
            self.version
        }
        fn issuer(&self) -> PublicKey {
            self.issuer
        }
        fn issued_at(&self) -> UnixTime {
            self.issued_at
        }
        fn expires_at(&self) -> UnixTime {
            self.expires_at
        }
    };
}

mod attestation;
mod collaboration;
mod introduction;
mod message;
mod need;
mod offer;
mod profile;
mod revocation;
mod signatures;
mod sponsorship;
mod validate;

pub use attestation::Attestation;
pub use collaboration::{entry_version, Accepted, CollabEntry, Collaboration, EntryKind};
pub use introduction::{
    IntroAnswer, IntroMessage, IntroRelay, IntroRequest, IntroRole, MAX_INTRO_ADDRS,
    MAX_INTRO_ADDR_BYTES, MAX_INTRO_BYTES, MAX_INTRO_LIFETIME, MAX_INTRO_NOTE_BYTES,
};
pub use message::Message;
pub use need::{Need, Place, Project, Reward, RewardKind, Role, DEFAULT_ROLE_LABEL};
pub use offer::Offer;
pub use profile::{Level, Profile, Resource, Skill};
pub use revocation::Revocation;
pub use signatures::{verify_all, SignatureCheck, MAX_BATCH};
pub use sponsorship::{Sponsorship, MAX_SPONSORSHIP_BYTES, MAX_SPONSORSHIP_LIFETIME};
pub use validate::FieldCheck;

use crate::codec::{self, CodecError};
use crate::keys::{Identity, PublicKey, SignatureBytes};
use crate::limits::MAX_CLOCK_SKEW_SECS;
use crate::time::UnixTime;
use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The record format version this implementation writes and accepts.
pub const RECORD_VERSION: u16 = 1;

/// The kinds of signed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A member's profile.
    Profile,
    /// A posted need.
    Need,
    /// An offer answering a need.
    Offer,
    /// A reputation attestation.
    Attestation,
    /// A revocation (of an attestation) or withdrawal (of a need).
    Revocation,
    /// A collaboration opened by accepting offers.
    Collaboration,
    /// An entry in a collaboration log.
    CollabEntry,
    /// A direct message.
    Message,
    /// A sponsorship of a newcomer who joined by invitation.
    Sponsorship,
    /// A step of a warm introduction (request, relay, answer): travels only directly between
    /// the three members concerned and is never stored as a public record.
    Introduction,
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            RecordKind::Profile => "profile",
            RecordKind::Need => "need",
            RecordKind::Offer => "offer",
            RecordKind::Attestation => "attestation",
            RecordKind::Revocation => "revocation",
            RecordKind::Collaboration => "collaboration",
            RecordKind::CollabEntry => "collaboration entry",
            RecordKind::Message => "message",
            RecordKind::Introduction => "introduction",
            RecordKind::Sponsorship => "sponsorship",
        };
        f.write_str(s)
    }
}

/// A record id: SHA-256 of `DOMAIN ‖ bincode(body)`. Hex in JSON and on screen.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(pub [u8; 32]);

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", hex::encode(&self.0[..8]))
    }
}

impl FromStr for RecordId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bytes =
            hex::decode(s).map_err(|_| format!("`{s}` is not a record id (64 hex digits)"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("`{s}` is not a record id (64 hex digits)"))?;
        Ok(RecordId(arr))
    }
}

impl Serialize for RecordId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            RecordId::from_str(&s).map_err(serde::de::Error::custom)
        } else {
            Ok(RecordId(<[u8; 32]>::deserialize(d)?))
        }
    }
}

/// Why a record was refused. Every variant is precise enough to show to a user or log against a
/// peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The bytes do not decode.
    #[error("malformed {kind}: {source}")]
    Codec {
        /// Expected kind.
        kind: RecordKind,
        /// Decoder error.
        source: CodecError,
    },
    /// The signature does not verify (with `verify_strict`).
    #[error("{kind} signature does not verify")]
    BadSignature {
        /// Record kind.
        kind: RecordKind,
    },
    /// The envelope's signer is not the body's issuer.
    #[error("{kind} is signed by {signer} but issued by {issuer}")]
    SignerMismatch {
        /// Record kind.
        kind: RecordKind,
        /// Envelope signer.
        signer: PublicKey,
        /// Body issuer.
        issuer: PublicKey,
    },
    /// The issuer's key is not a valid ed25519 point.
    #[error("{kind} signer key is not a valid ed25519 key")]
    BadKey {
        /// Record kind.
        kind: RecordKind,
    },
    /// A version this node does not understand.
    #[error(
        "{kind} version {version} is not supported (this node speaks version {RECORD_VERSION})"
    )]
    UnsupportedVersion {
        /// Record kind.
        kind: RecordKind,
        /// Version found.
        version: u16,
    },
    /// Issued more than the allowed clock skew in the future.
    #[error("{kind} is issued {ahead}s in the future (more than {MAX_CLOCK_SKEW_SECS}s); check the clocks")]
    FromTheFuture {
        /// Record kind.
        kind: RecordKind,
        /// Seconds ahead of our clock.
        ahead: u64,
    },
    /// Expired.
    #[error("{kind} expired {ago}s ago")]
    Expired {
        /// Record kind.
        kind: RecordKind,
        /// Seconds since expiry.
        ago: u64,
    },
    /// `expires_at` not after `issued_at`, or the lifetime is longer than the type allows.
    #[error("{kind} lifetime is invalid: {reason}")]
    Lifetime {
        /// Record kind.
        kind: RecordKind,
        /// What is wrong.
        reason: String,
    },
    /// A field breaks a limit or a rule.
    #[error("{kind} field `{field}`: {reason}")]
    Field {
        /// Record kind.
        kind: RecordKind,
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A record body: what gets signed.
pub trait RecordBody: Serialize + DeserializeOwned + Clone + PartialEq + fmt::Debug {
    /// Signature domain tag, ending in a NUL byte.
    const DOMAIN: &'static [u8];
    /// The kind of record.
    const KIND: RecordKind;
    /// Largest encoded signed record of this kind.
    const MAX_BYTES: usize;
    /// Longest allowed lifetime.
    const MAX_LIFETIME: u64;

    /// Record format version.
    fn version(&self) -> u16;
    /// Whether this node reads and writes version `v` of this kind (default: only
    /// [`RECORD_VERSION`]).
    fn supports_version(v: u16) -> bool {
        v == RECORD_VERSION
    }
    /// Who issued (and must have signed) it.
    fn issuer(&self) -> PublicKey;
    /// When it was issued.
    fn issued_at(&self) -> UnixTime;
    /// When it stops being valid.
    fn expires_at(&self) -> UnixTime;
    /// Type-specific field checks (sizes, tags normalised, internal consistency).
    fn validate_body(&self, now: UnixTime) -> Result<(), RecordError>;
}

/// Computes the signed message `DOMAIN ‖ bincode(body)`.
fn signing_bytes<T: RecordBody>(body: &T) -> Result<Vec<u8>, CodecError> {
    let mut msg = T::DOMAIN.to_vec();
    msg.extend_from_slice(&codec::encode(body)?);
    Ok(msg)
}

/// A signed record: `{ body, signer, signature }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "T: RecordBody")]
pub struct Signed<T: RecordBody> {
    /// The record content.
    pub body: T,
    /// The signer's public key (must equal `body.issuer()`).
    pub signer: PublicKey,
    /// ed25519 over `DOMAIN ‖ bincode(body)`.
    pub signature: SignatureBytes,
}

impl<T: RecordBody> Signed<T> {
    /// Signs a body. The identity must be the body's issuer for the record to validate.
    pub fn sign(body: T, identity: &Identity) -> Result<Signed<T>, CodecError> {
        let msg = signing_bytes(&body)?;
        Ok(Signed {
            signature: identity.sign(&msg),
            signer: identity.public(),
            body,
        })
    }

    /// The record id: SHA-256 of `DOMAIN ‖ bincode(body)`.
    pub fn id(&self) -> RecordId {
        let msg = signing_bytes(&self.body).unwrap_or_default();
        RecordId::of_message(&msg)
    }

    /// The signed message `DOMAIN ‖ bincode(body)`: what the id hashes
    /// ([`RecordId::of_message`]) and the signature covers. Computed once on the way in, it
    /// gives the id, the signature check ([`Signed::check_unsigned_with`]) and the stored
    /// encoding ([`AnyRecord::encode_with`]) without encoding the body again.
    pub fn signing_message(&self) -> Result<Vec<u8>, CodecError> {
        signing_bytes(&self.body)
    }

    /// Encodes the whole envelope for the wire or the store.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self)
    }

    /// Decodes an envelope, refusing more than `T::MAX_BYTES`. Does *not* validate: call
    /// [`Signed::validate`] (or use [`Signed::decode_valid`]).
    pub fn decode(bytes: &[u8]) -> Result<Signed<T>, RecordError> {
        codec::decode(bytes, T::MAX_BYTES).map_err(|source| RecordError::Codec {
            kind: T::KIND,
            source,
        })
    }

    /// Decodes and validates in one step: the entry point for bytes from peers.
    pub fn decode_valid(bytes: &[u8], now: UnixTime) -> Result<Signed<T>, RecordError> {
        let record = Self::decode(bytes)?;
        record.validate(now)?;
        Ok(record)
    }

    /// Checks the signature with `verify_strict` and that the signer is the issuer.
    pub fn verify(&self) -> Result<(), RecordError> {
        self.signature_check()?.verify()
    }

    /// What checking the signature takes, once the signer is known to be the issuer and a
    /// curve point: for [`verify_all`], which checks many together.
    pub fn signature_check(&self) -> Result<SignatureCheck, RecordError> {
        let kind = T::KIND;
        let msg =
            signing_bytes(&self.body).map_err(|source| RecordError::Codec { kind, source })?;
        self.signature_check_of(msg)
    }

    fn signature_check_of(&self, msg: Vec<u8>) -> Result<SignatureCheck, RecordError> {
        let kind = T::KIND;
        if self.signer != self.body.issuer() {
            return Err(RecordError::SignerMismatch {
                kind,
                signer: self.signer,
                issuer: self.body.issuer(),
            });
        }
        SignatureCheck::new(kind, &self.signer, msg, self.signature)
    }

    /// The single validation function for this record type: size, version, times, fields,
    /// signature. Cheap checks run first so garbage costs little.
    pub fn validate(&self, now: UnixTime) -> Result<(), RecordError> {
        self.check_unsigned(now)?.verify()
    }

    /// Every check of [`Signed::validate`] but the signature itself, in the same order; returns
    /// the signature check left, for [`verify_all`] to do with others.
    pub fn check_unsigned(&self, now: UnixTime) -> Result<SignatureCheck, RecordError> {
        let kind = T::KIND;
        let msg =
            signing_bytes(&self.body).map_err(|source| RecordError::Codec { kind, source })?;
        self.check_unsigned_with(msg, now)
    }

    /// [`Signed::check_unsigned`] given the record's [`Signed::signing_message`] (the caller
    /// has it already: it is not computed again). `msg` must be that message.
    pub fn check_unsigned_with(
        &self,
        msg: Vec<u8>,
        now: UnixTime,
    ) -> Result<SignatureCheck, RecordError> {
        let kind = T::KIND;
        debug_assert!(
            signing_bytes(&self.body).is_ok_and(|m| m == msg),
            "not this record's signing message"
        );
        // The envelope is the body then the 32 key bytes and the 64 signature bytes (fixed
        // arrays carry no length in bincode), so its size needs no second encoding.
        let size = msg.len() - T::DOMAIN.len() + ENVELOPE_OVERHEAD;
        if size > T::MAX_BYTES {
            return Err(RecordError::Codec {
                kind,
                source: CodecError::TooLarge {
                    size,
                    max: T::MAX_BYTES,
                },
            });
        }
        if !T::supports_version(self.body.version()) {
            return Err(RecordError::UnsupportedVersion {
                kind,
                version: self.body.version(),
            });
        }
        validate_times::<T>(self.body.issued_at(), self.body.expires_at(), now)?;
        self.body.validate_body(now)?;
        self.signature_check_of(msg)
    }
}

/// Bytes the envelope adds to the encoded body: the signer key and the signature.
const ENVELOPE_OVERHEAD: usize = 32 + 64;

/// The encoding of `AnyRecord::<variant>(r)` (the variant's index, then the envelope: the body,
/// the 32 key bytes and the 64 signature bytes — fixed arrays carry no length in bincode) from
/// `msg`, the record's signing message, which holds the body's encoding after its domain.
fn encode_envelope<T: RecordBody>(variant: u8, r: &Signed<T>, msg: &[u8]) -> Vec<u8> {
    let body = msg.get(T::DOMAIN.len()..).unwrap_or_default();
    let mut out = Vec::with_capacity(1 + body.len() + ENVELOPE_OVERHEAD);
    out.push(variant);
    out.extend_from_slice(body);
    out.extend_from_slice(&r.signer.0);
    out.extend_from_slice(&r.signature.0);
    out
}

impl RecordId {
    /// The id of a record whose signing message ([`Signed::signing_message`]) this is.
    pub fn of_message(msg: &[u8]) -> RecordId {
        RecordId(Sha256::digest(msg).into())
    }
}

/// Common time rules: not from the future beyond skew, not expired, lifetime within the type's max.
fn validate_times<T: RecordBody>(
    issued_at: UnixTime,
    expires_at: UnixTime,
    now: UnixTime,
) -> Result<(), RecordError> {
    let kind = T::KIND;
    if issued_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(RecordError::FromTheFuture {
            kind,
            ahead: issued_at - now,
        });
    }
    if expires_at <= now {
        return Err(RecordError::Expired {
            kind,
            ago: now - expires_at,
        });
    }
    if expires_at <= issued_at {
        return Err(RecordError::Lifetime {
            kind,
            reason: format!("expires_at {expires_at} is not after issued_at {issued_at}"),
        });
    }
    if expires_at - issued_at > T::MAX_LIFETIME {
        return Err(RecordError::Lifetime {
            kind,
            reason: format!(
                "{}s is longer than the {}s allowed",
                expires_at - issued_at,
                T::MAX_LIFETIME
            ),
        });
    }
    Ok(())
}

/// Any signed record, for sync and storage by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnyRecord {
    /// A profile.
    Profile(Signed<Profile>),
    /// A need.
    Need(Signed<Need>),
    /// An offer.
    Offer(Signed<Offer>),
    /// An attestation.
    Attestation(Signed<Attestation>),
    /// A revocation or withdrawal.
    Revocation(Signed<Revocation>),
    /// A collaboration.
    Collaboration(Signed<Collaboration>),
    /// A collaboration log entry.
    CollabEntry(Signed<CollabEntry>),
    /// A direct message.
    Message(Signed<Message>),
    /// A sponsorship.
    Sponsorship(Signed<Sponsorship>),
}

macro_rules! any_record_dispatch {
    ($self:ident, $r:ident => $e:expr) => {
        match $self {
            AnyRecord::Profile($r) => $e,
            AnyRecord::Need($r) => $e,
            AnyRecord::Offer($r) => $e,
            AnyRecord::Attestation($r) => $e,
            AnyRecord::Revocation($r) => $e,
            AnyRecord::Collaboration($r) => $e,
            AnyRecord::CollabEntry($r) => $e,
            AnyRecord::Message($r) => $e,
            AnyRecord::Sponsorship($r) => $e,
        }
    };
}

impl AnyRecord {
    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            AnyRecord::Profile(_) => RecordKind::Profile,
            AnyRecord::Need(_) => RecordKind::Need,
            AnyRecord::Offer(_) => RecordKind::Offer,
            AnyRecord::Attestation(_) => RecordKind::Attestation,
            AnyRecord::Revocation(_) => RecordKind::Revocation,
            AnyRecord::Collaboration(_) => RecordKind::Collaboration,
            AnyRecord::CollabEntry(_) => RecordKind::CollabEntry,
            AnyRecord::Message(_) => RecordKind::Message,
            AnyRecord::Sponsorship(_) => RecordKind::Sponsorship,
        }
    }
    /// The record id.
    pub fn id(&self) -> RecordId {
        any_record_dispatch!(self, r => r.id())
    }
    /// The signer.
    pub fn signer(&self) -> PublicKey {
        any_record_dispatch!(self, r => r.signer)
    }
    /// When it was issued.
    pub fn issued_at(&self) -> UnixTime {
        any_record_dispatch!(self, r => r.body.issued_at())
    }
    /// When it expires.
    pub fn expires_at(&self) -> UnixTime {
        any_record_dispatch!(self, r => r.body.expires_at())
    }
    /// Validates with the record type's validation function.
    pub fn validate(&self, now: UnixTime) -> Result<(), RecordError> {
        any_record_dispatch!(self, r => r.validate(now))
    }
    /// Everything [`AnyRecord::validate`] checks but the signature; returns the signature
    /// check left (see [`Signed::check_unsigned`]).
    pub fn check_unsigned(&self, now: UnixTime) -> Result<SignatureCheck, RecordError> {
        any_record_dispatch!(self, r => r.check_unsigned(now))
    }
    /// The signed message `DOMAIN ‖ bincode(body)` (see [`Signed::signing_message`]).
    pub fn signing_message(&self) -> Result<Vec<u8>, CodecError> {
        any_record_dispatch!(self, r => r.signing_message())
    }
    /// [`AnyRecord::check_unsigned`] given the record's signing message (see
    /// [`Signed::check_unsigned_with`]).
    pub fn check_unsigned_with(
        &self,
        msg: Vec<u8>,
        now: UnixTime,
    ) -> Result<SignatureCheck, RecordError> {
        any_record_dispatch!(self, r => r.check_unsigned_with(msg, now))
    }
    /// Encodes for the wire or the store.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self)
    }
    /// The same bytes as [`AnyRecord::encode`], from the record's signing message
    /// ([`AnyRecord::signing_message`]), which holds the body's encoding already: no second
    /// encoding, one copy. `msg` must be that message.
    pub fn encode_with(&self, msg: &[u8]) -> Vec<u8> {
        // The variant's index, as serde numbers the variants (their order above), is one byte
        // in bincode's varint (below 251).
        let out = match self {
            AnyRecord::Profile(r) => encode_envelope(0, r, msg),
            AnyRecord::Need(r) => encode_envelope(1, r, msg),
            AnyRecord::Offer(r) => encode_envelope(2, r, msg),
            AnyRecord::Attestation(r) => encode_envelope(3, r, msg),
            AnyRecord::Revocation(r) => encode_envelope(4, r, msg),
            AnyRecord::Collaboration(r) => encode_envelope(5, r, msg),
            AnyRecord::CollabEntry(r) => encode_envelope(6, r, msg),
            AnyRecord::Message(r) => encode_envelope(7, r, msg),
            AnyRecord::Sponsorship(r) => encode_envelope(8, r, msg),
        };
        debug_assert!(
            self.encode().is_ok_and(|e| e == out),
            "not this record's signing message"
        );
        out
    }
    /// Decodes (without validating), bounded by the largest record size.
    pub fn decode(bytes: &[u8]) -> Result<AnyRecord, CodecError> {
        codec::decode(bytes, crate::limits::MAX_ANY_RECORD_BYTES)
    }
}

macro_rules! any_from {
    ($($t:ident),*) => {$(
        impl From<Signed<$t>> for AnyRecord {
            fn from(r: Signed<$t>) -> AnyRecord { AnyRecord::$t(r) }
        }
        impl TryFrom<AnyRecord> for Signed<$t> {
            type Error = AnyRecord;
            fn try_from(r: AnyRecord) -> Result<Self, AnyRecord> {
                match r {
                    AnyRecord::$t(x) => Ok(x),
                    other => Err(other),
                }
            }
        }
    )*};
}
any_from!(
    Profile,
    Need,
    Offer,
    Attestation,
    Revocation,
    Collaboration,
    CollabEntry,
    Message,
    Sponsorship
);

#[cfg(test)]
mod tests;
