//! Warm introductions (Briar's introduction protocol, adapted): a requester A asks an introducer
//! B, whom A trusts, to introduce A to a member C. Every step is signed by its author:
//!
//! 1. A → B: an [`IntroRequest`] (target C, A's note and addresses, an optional need, expiry at
//!    most [`MAX_INTRO_LIFETIME`]).
//! 2. B accepts: B → C an [`IntroRelay`] carrying A's signed request and B's note, and B → A an
//!    [`IntroAnswer`] saying it was forwarded. Or B declines: B → A an [`IntroAnswer`] with
//!    `accept: false`.
//! 3. C accepts or declines: C → A and C → B an [`IntroAnswer`] (B passes it on to A too, so
//!    either path suffices when one side is briefly offline).
//!
//! These records travel only directly between the three ([`IntroMessage`] inside
//! `DirectRequest::Intro`); they are never gossiped, synced or stored as public records. The
//! result of an accepted introduction is context ("introduced by B"), never a trust edge.

use super::{FieldCheck, RecordBody, RecordError, RecordId, RecordKind, Signed};
use crate::keys::PublicKey;
use crate::time::{UnixTime, DAY};
use serde::{Deserialize, Serialize};

/// Longest lifetime of an introduction request (and so of every step of it): 7 days.
pub const MAX_INTRO_LIFETIME: u64 = 7 * DAY;
/// Longest note (the requester's, the introducer's, an answer's), in bytes.
pub const MAX_INTRO_NOTE_BYTES: usize = 1024;
/// Most addresses a requester or target hands over.
pub const MAX_INTRO_ADDRS: usize = 4;
/// Longest address (multiaddr text), in bytes.
pub const MAX_INTRO_ADDR_BYTES: usize = 256;
/// Largest encoded request, relay or answer, in bytes (a relay holds a request).
pub const MAX_INTRO_BYTES: usize = 8 * 1024;

/// Step 1: A asks B to introduce A to C. Signed by A.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntroRequest {
    /// Format version.
    pub version: u16,
    /// The requester (A).
    pub issuer: PublicKey,
    /// The introducer asked (B).
    pub introducer: PublicKey,
    /// Whom A wants to meet (C).
    pub target: PublicKey,
    /// When asked.
    pub issued_at: UnixTime,
    /// The request and everything that follows from it lapse then (at most 7 days).
    pub expires_at: UnixTime,
    /// Random value so two equal requests have distinct ids.
    pub nonce: u64,
    /// Why A wants to meet C, in A's words.
    pub note: String,
    /// The need this is about, if any.
    pub need: Option<RecordId>,
    /// Where A can be reached (multiaddr text), so C can answer A directly.
    pub addrs: Vec<String>,
}

impl RecordBody for IntroRequest {
    const DOMAIN: &'static [u8] = b"guild/intro-request/v1\0";
    const KIND: RecordKind = RecordKind::Introduction;
    const MAX_BYTES: usize = MAX_INTRO_BYTES / 2;
    const MAX_LIFETIME: u64 = MAX_INTRO_LIFETIME;

    envelope_fields!();

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.nonempty_text("note", &self.note, MAX_INTRO_NOTE_BYTES)?;
        check_addrs(&c, &self.addrs)?;
        c.ensure(
            self.introducer != self.issuer,
            "introducer",
            "a member cannot introduce themselves",
        )?;
        c.ensure(
            self.target != self.issuer,
            "target",
            "a member cannot ask to be introduced to themselves",
        )?;
        c.ensure(
            self.target != self.introducer,
            "target",
            "the introducer cannot be the one introduced",
        )
    }
}

/// Step 2: B passes A's request on to C, with B's own note. Signed by B.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntroRelay {
    /// Format version.
    pub version: u16,
    /// The introducer (B): must be the request's introducer.
    pub issuer: PublicKey,
    /// When relayed.
    pub issued_at: UnixTime,
    /// Lapses with the request (not after it).
    pub expires_at: UnixTime,
    /// A's signed request.
    pub request: Signed<IntroRequest>,
    /// What B says about A.
    pub note: String,
}

impl RecordBody for IntroRelay {
    const DOMAIN: &'static [u8] = b"guild/intro-relay/v1\0";
    const KIND: RecordKind = RecordKind::Introduction;
    const MAX_BYTES: usize = MAX_INTRO_BYTES;
    const MAX_LIFETIME: u64 = MAX_INTRO_LIFETIME;

    envelope_fields!();

    fn validate_body(&self, now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.text("note", &self.note, MAX_INTRO_NOTE_BYTES)?;
        c.ensure(
            self.request.body.introducer == self.issuer,
            "request",
            "relayed by someone other than the introducer it names",
        )?;
        c.ensure(
            self.expires_at <= self.request.body.expires_at,
            "expires_at",
            "a relay cannot outlive the request",
        )?;
        // The one validation function of the request, signature included.
        self.request.validate(now)
    }
}

/// Who answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntroRole {
    /// The introducer (B): accepted means forwarded to C.
    Introducer,
    /// The member introduced (C): accepted means the introduction is made.
    Target,
}

/// Step 2 or 3: B's or C's answer to A's request. Signed by whoever answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntroAnswer {
    /// Format version.
    pub version: u16,
    /// Who answers: the request's introducer or target, as `role` says.
    pub issuer: PublicKey,
    /// When answered.
    pub issued_at: UnixTime,
    /// Lapses with the request.
    pub expires_at: UnixTime,
    /// The request answered.
    pub request: RecordId,
    /// The requester (A).
    pub requester: PublicKey,
    /// The introducer (B).
    pub introducer: PublicKey,
    /// The member introduced (C).
    pub target: PublicKey,
    /// Whose answer.
    pub role: IntroRole,
    /// Yes or no.
    pub accept: bool,
    /// A note to A.
    pub note: String,
    /// Where the target can be reached (only C's acceptance carries them).
    pub addrs: Vec<String>,
}

impl RecordBody for IntroAnswer {
    const DOMAIN: &'static [u8] = b"guild/intro-answer/v1\0";
    const KIND: RecordKind = RecordKind::Introduction;
    const MAX_BYTES: usize = MAX_INTRO_BYTES / 2;
    const MAX_LIFETIME: u64 = MAX_INTRO_LIFETIME;

    envelope_fields!();

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.text("note", &self.note, MAX_INTRO_NOTE_BYTES)?;
        check_addrs(&c, &self.addrs)?;
        let answerer = match self.role {
            IntroRole::Introducer => self.introducer,
            IntroRole::Target => self.target,
        };
        c.ensure(
            self.issuer == answerer,
            "issuer",
            "only the request's introducer or target may answer it, each in their own role",
        )?;
        c.ensure(
            self.requester != self.introducer
                && self.requester != self.target
                && self.introducer != self.target,
            "requester",
            "requester, introducer and target must be three different members",
        )
    }
}

fn check_addrs(c: &FieldCheck, addrs: &[String]) -> Result<(), RecordError> {
    c.count("addrs", addrs.len(), MAX_INTRO_ADDRS)?;
    for a in addrs {
        c.nonempty_text("addrs", a, MAX_INTRO_ADDR_BYTES)?;
    }
    Ok(())
}

/// One step of an introduction, as carried by `DirectRequest::Intro`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntroMessage {
    /// A → B.
    Request(Signed<IntroRequest>),
    /// B → C.
    Relay(Signed<IntroRelay>),
    /// B → A, C → A, C → B, and B → A again passing C's answer on.
    Answer(Signed<IntroAnswer>),
}

impl IntroMessage {
    /// Validates the step with its type's validation function (signatures included).
    pub fn validate(&self, now: UnixTime) -> Result<(), RecordError> {
        match self {
            IntroMessage::Request(r) => r.validate(now),
            IntroMessage::Relay(r) => r.validate(now),
            IntroMessage::Answer(r) => r.validate(now),
        }
    }

    /// The signer of the step.
    pub fn signer(&self) -> PublicKey {
        match self {
            IntroMessage::Request(r) => r.signer,
            IntroMessage::Relay(r) => r.signer,
            IntroMessage::Answer(r) => r.signer,
        }
    }

    /// The id of the request this step belongs to.
    pub fn request_id(&self) -> RecordId {
        match self {
            IntroMessage::Request(r) => r.id(),
            IntroMessage::Relay(r) => r.body.request.id(),
            IntroMessage::Answer(r) => r.body.request,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::keys::Identity;

    fn req(a: &Identity, b: PublicKey, c: PublicKey, now: UnixTime) -> Signed<IntroRequest> {
        Signed::sign(
            IntroRequest {
                version: 1,
                issuer: a.public(),
                introducer: b,
                target: c,
                issued_at: now,
                expires_at: now + DAY,
                nonce: 7,
                note: "hello".into(),
                need: None,
                addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
            },
            a,
        )
        .unwrap()
    }

    #[test]
    fn a_relay_checks_the_request_inside_it() {
        let (a, b, c) = (
            Identity::from_secret([1; 32]),
            Identity::from_secret([2; 32]),
            Identity::from_secret([3; 32]),
        );
        let now = 1_000_000;
        let r = req(&a, b.public(), c.public(), now);
        let relay = |r: Signed<IntroRequest>, by: &Identity| {
            Signed::sign(
                IntroRelay {
                    version: 1,
                    issuer: by.public(),
                    issued_at: now,
                    expires_at: r.body.expires_at,
                    request: r,
                    note: String::new(),
                },
                by,
            )
            .unwrap()
        };
        relay(r.clone(), &b).validate(now).unwrap();
        // Someone else relaying B's request.
        assert!(matches!(
            relay(r.clone(), &c).validate(now),
            Err(RecordError::Field {
                field: "request",
                ..
            })
        ));
        // A tampered request inside a well-signed relay.
        let mut bad = r;
        bad.body.note = "changed".into();
        assert!(matches!(
            relay(bad, &b).validate(now),
            Err(RecordError::BadSignature { .. })
        ));
    }

    #[test]
    fn requests_are_bounded_and_for_three_members() {
        let a = Identity::from_secret([1; 32]);
        let b = Identity::from_secret([2; 32]).public();
        let now = 1_000_000;
        assert!(req(&a, b, a.public(), now).validate(now).is_err());
        let mut long = req(&a, b, Identity::from_secret([3; 32]).public(), now).body;
        long.expires_at = now + 8 * DAY;
        assert!(matches!(
            Signed::sign(long, &a).unwrap().validate(now),
            Err(RecordError::Lifetime { .. })
        ));
    }
}
