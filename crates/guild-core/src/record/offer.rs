//! An offer: "I can help with your need", delivered directly to the asker.
//!
//! Version 2 adds the role offered for (an index into the need's roles); a version 1 offer is
//! for role 0, the only role of a version 1 need.

use super::{FieldCheck, RecordBody, RecordError, RecordId, RecordKind};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::time::UnixTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A signed offer answering one need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Format version.
    pub version: u16,
    /// The member offering.
    pub issuer: PublicKey,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry (at most [`MAX_OFFER_LIFETIME`]).
    pub expires_at: UnixTime,
    /// The need answered.
    pub need: RecordId,
    /// The need's issuer (the only node that accepts this offer).
    pub asker: PublicKey,
    /// What is offered.
    pub text: String,
    /// The role offered for: an index into the need's roles (version 1: always 0).
    pub role: u8,
}

impl RecordBody for Offer {
    const DOMAIN: &'static [u8] = b"guild/offer/v1\0";
    const KIND: RecordKind = RecordKind::Offer;
    const MAX_BYTES: usize = MAX_OFFER_BYTES;
    const MAX_LIFETIME: u64 = MAX_OFFER_LIFETIME;

    envelope_fields!();
    fn supports_version(v: u16) -> bool {
        v == 1 || v == 2
    }

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.nonempty_text("text", &self.text, MAX_TEXT_BYTES)?;
        c.ensure(
            self.version >= 2 || self.role == 0,
            "role",
            "a version 1 offer is for role 0",
        )?;
        c.ensure(
            usize::from(self.role) < MAX_ROLES,
            "role",
            format!(
                "role {} is beyond the {MAX_ROLES} roles a need may have",
                self.role
            ),
        )?;
        c.ensure(
            self.issuer != self.asker,
            "asker",
            "a member cannot offer on their own need",
        )
    }
}

/// The fields as a JSON object: `role` absent when 0.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Offer")]
struct OfferObject {
    version: u16,
    issuer: PublicKey,
    issued_at: UnixTime,
    expires_at: UnixTime,
    need: RecordId,
    asker: PublicKey,
    text: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    role: u8,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

impl Serialize for Offer {
    /// Binary: the version 1 fields in order, then (version 2) the role — so a version 1 offer
    /// encodes exactly as before.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeTuple};
        if s.is_human_readable() {
            return OfferObject {
                version: self.version,
                issuer: self.issuer,
                issued_at: self.issued_at,
                expires_at: self.expires_at,
                need: self.need,
                asker: self.asker,
                text: self.text.clone(),
                role: self.role,
            }
            .serialize(s);
        }
        let v2 = self.version >= 2;
        if !v2 && self.role != 0 {
            return Err(S::Error::custom("a version 1 offer is for role 0"));
        }
        let mut t = s.serialize_tuple(if v2 { 8 } else { 7 })?;
        t.serialize_element(&self.version)?;
        t.serialize_element(&self.issuer)?;
        t.serialize_element(&self.issued_at)?;
        t.serialize_element(&self.expires_at)?;
        t.serialize_element(&self.need)?;
        t.serialize_element(&self.asker)?;
        t.serialize_element(&self.text)?;
        if v2 {
            t.serialize_element(&self.role)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Offer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Offer, D::Error> {
        use serde::de::{Error, SeqAccess, Visitor};
        if d.is_human_readable() {
            let o = OfferObject::deserialize(d)?;
            return Ok(Offer {
                version: o.version,
                issuer: o.issuer,
                issued_at: o.issued_at,
                expires_at: o.expires_at,
                need: o.need,
                asker: o.asker,
                text: o.text,
                role: o.role,
            });
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Offer;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an offer (version 1 or 2)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Offer, A::Error> {
                let missing = || A::Error::custom("an offer ends early");
                let version: u16 = a.next_element()?.ok_or_else(missing)?;
                if !(1..=2).contains(&version) {
                    return Err(A::Error::custom(format!(
                        "offer version {version} is not supported (this node reads 1 and 2)"
                    )));
                }
                Ok(Offer {
                    version,
                    issuer: a.next_element()?.ok_or_else(missing)?,
                    issued_at: a.next_element()?.ok_or_else(missing)?,
                    expires_at: a.next_element()?.ok_or_else(missing)?,
                    need: a.next_element()?.ok_or_else(missing)?,
                    asker: a.next_element()?.ok_or_else(missing)?,
                    text: a.next_element()?.ok_or_else(missing)?,
                    role: if version >= 2 {
                        a.next_element()?.ok_or_else(missing)?
                    } else {
                        0
                    },
                })
            }
        }
        d.deserialize_tuple(8, V)
    }
}
