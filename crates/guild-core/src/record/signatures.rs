//! Signature checks, one at a time or many together, with `verify_strict`'s verdicts.
//!
//! A node takes in gossip by the loop turn, so the signatures of one turn's records are checked
//! together: `ed25519_dalek::verify_batch` costs about 40 % of a `verify_strict` per signature
//! (one multiscalar multiplication for the whole batch; see BENCHMARKS.md). A batch with one
//! bad signature fails as a whole, and then its signatures are checked one by one with
//! `verify_strict`, so each record still gets its own verdict and a bad one its precise refusal.
//!
//! `verify_batch` is not strict, so what `verify_strict` refuses by the form of a key or a
//! signature is refused here first, cheaply, from the bytes: a small-order key (checked on the
//! decompressed key, which is cached per thread), a non-canonical or small-order `R` (a
//! comparison with the five `y` coordinates of the eight small-order points) and an `s` that
//! may not be reduced (sent to `verify_strict`, never seen from honest signers). What is left
//! is a torsion component in a key or in `R` that is not small order itself (mixed order):
//! `verify_strict` refuses such a signature while a batch accepts it when the torsion terms
//! cancel, which depends on the batch's random coefficients (probability at most 1/2 for one
//! such signature). Only the key's owner can make one (it takes the secret key of the
//! prime-order part), no ed25519 implementation produces one, and what it gains is its own
//! record being held here while a strict verifier refuses it — never a record in anyone
//! else's name. Excluding it exactly would cost a scalar multiplication per signature, about
//! what the batch saves.

use super::{RecordError, RecordKind};
use crate::keys::{PublicKey, SignatureBytes};
use ed25519_dalek::{Signature, VerifyingKey};

/// Most signatures checked in one batch equation. Bounds the work one bad signature makes
/// redo one by one, and is where the per-signature cost stops falling (measured: 64 is within
/// a few per cent of 1024).
pub const MAX_BATCH: usize = 64;

/// One record's signature, still to check: what `verify_strict` would be given.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    /// The kind of record signed (for the refusal).
    pub kind: RecordKind,
    /// The signer's key, decompressed (the signer is the body's issuer: checked before).
    key: VerifyingKey,
    /// Whether `key` is of small order (`VerifyingKey::is_weak`), remembered with the key.
    weak: bool,
    /// The signed message: `DOMAIN ‖ bincode(body)`.
    pub message: Vec<u8>,
    /// The signature.
    pub signature: SignatureBytes,
}

impl SignatureCheck {
    /// Builds the check for a signer's key: [`RecordError::BadKey`] if it is no curve point.
    pub fn new(
        kind: RecordKind,
        signer: &PublicKey,
        message: Vec<u8>,
        signature: SignatureBytes,
    ) -> Result<SignatureCheck, RecordError> {
        let (key, weak) = signer
            .verifying_key_weak()
            .ok_or(RecordError::BadKey { kind })?;
        Ok(SignatureCheck {
            kind,
            key,
            weak,
            message,
            signature,
        })
    }

    /// The signer's key, decompressed.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Checks this signature alone, with `verify_strict`.
    pub fn verify(&self) -> Result<(), RecordError> {
        let sig = Signature::from_bytes(&self.signature.0);
        self.key
            .verify_strict(&self.message, &sig)
            .map_err(|_| RecordError::BadSignature { kind: self.kind })
    }

    /// How this signature can be checked, from its bytes alone.
    fn route(&self) -> Route {
        if self.weak {
            return Route::Refused;
        }
        let r: &[u8; 32] = self.signature.0[..32].try_into().unwrap_or(&[0; 32]);
        if !canonical_y(r) || small_order_y(r) {
            return Route::Refused;
        }
        // s < 2^252 is reduced (l > 2^252); between 2^252 and l honest signatures almost
        // never fall (odds about 2^-127), so those go to `verify_strict`, which decides.
        if self.signature.0[63] & 0xf0 != 0 {
            return Route::Alone;
        }
        Route::Batch
    }
}

enum Route {
    /// `verify_strict` refuses it by its form alone.
    Refused,
    /// Checked with `verify_strict`.
    Alone,
    /// Checked in a batch.
    Batch,
}

/// Checks signatures with `verify_strict`'s verdicts (see the module docs for the one
/// difference), in batches of at most [`MAX_BATCH`]; one result per check, in order.
pub fn verify_all(checks: &[SignatureCheck]) -> Vec<Result<(), RecordError>> {
    let mut out: Vec<Result<(), RecordError>> = Vec::with_capacity(checks.len());
    let mut batch = Vec::with_capacity(checks.len().min(MAX_BATCH));
    for (i, c) in checks.iter().enumerate() {
        out.push(match c.route() {
            Route::Refused => Err(RecordError::BadSignature { kind: c.kind }),
            Route::Alone => c.verify(),
            Route::Batch => {
                batch.push(i);
                Ok(())
            }
        });
    }
    for chunk in batch.chunks(MAX_BATCH) {
        // A batch of one costs more than a single check.
        if chunk.len() > 1 && verify_batch(checks, chunk) {
            continue;
        }
        for &i in chunk {
            out[i] = checks[i].verify();
        }
    }
    out
}

fn verify_batch(checks: &[SignatureCheck], chunk: &[usize]) -> bool {
    let messages: Vec<&[u8]> = chunk.iter().map(|&i| &checks[i].message[..]).collect();
    let signatures: Vec<Signature> = chunk
        .iter()
        .map(|&i| Signature::from_bytes(&checks[i].signature.0))
        .collect();
    let keys: Vec<VerifyingKey> = chunk.iter().map(|&i| checks[i].key).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

/// The `y` coordinates (little endian, sign bit clear) of the eight points of small order:
/// 1 (the identity), p − 1 (order 2), 0 (order 4, both signs of x), and the two `y` of the
/// four points of order 8. Any encoding with one of these `y` and either sign bit decodes to
/// a small-order point or to nothing. Checked in the tests against the curve itself.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [
        0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [0; 32],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
];

/// Whether a point encoding's `y` (sign bit aside) names a small-order point.
fn small_order_y(enc: &[u8; 32]) -> bool {
    let mut y = *enc;
    y[31] &= 0x7f;
    SMALL_ORDER_Y.contains(&y)
}

/// Whether a point encoding's `y` is below p = 2^255 − 19. The decoder reduces larger ones,
/// so a second encoding of the same point would pass a batch; `verify_strict` compares bytes
/// and refuses it.
fn canonical_y(enc: &[u8; 32]) -> bool {
    let top = enc[31] & 0x7f == 0x7f;
    !(top && enc[1..31].iter().all(|b| *b == 0xff) && enc[0] >= 0xed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::keys::Identity;

    fn check(id: &Identity, msg: &[u8]) -> SignatureCheck {
        SignatureCheck::new(RecordKind::Need, &id.public(), msg.to_vec(), id.sign(msg)).unwrap()
    }

    #[test]
    fn the_small_order_table_is_the_eight_torsion_points() {
        // An order-8 point generates all eight: each multiple's y must be in the table, and
        // every table entry must decode (with either sign) only to small-order points.
        let p8 = VerifyingKey::from_bytes(&SMALL_ORDER_Y[3])
            .unwrap()
            .to_edwards();
        assert!(p8.is_small_order());
        let mut q = p8;
        let mut ys = std::collections::BTreeSet::new();
        for _ in 0..8 {
            let enc = q.compress().to_bytes();
            assert!(small_order_y(&enc), "{enc:02x?} missing");
            let mut y = enc;
            y[31] &= 0x7f;
            ys.insert(y);
            q += p8;
        }
        assert_eq!(ys.len(), 5);
        for y in SMALL_ORDER_Y {
            for sign in [0u8, 0x80] {
                let mut enc = y;
                enc[31] |= sign;
                if let Ok(k) = VerifyingKey::from_bytes(&enc) {
                    assert!(k.to_edwards().is_small_order());
                }
            }
        }
        // An ordinary point is not in it.
        let honest = Identity::from_secret([3; 32]).public().0;
        assert!(!small_order_y(&honest));
    }

    #[test]
    fn envelope_size_is_the_body_and_96_bytes() {
        use crate::fixtures::{attestation, identity, need, profile, sign, T0};
        use crate::{AnyRecord, RecordId};
        let (a, b) = (identity(1), identity(2));
        let records = [
            AnyRecord::Profile(sign(profile(&a, "Ada", &["rust", "kicad"], T0), &a)),
            AnyRecord::Need(sign(need(&a, "help", &["rust"], T0), &a)),
            AnyRecord::Attestation(sign(attestation(&a, &b, RecordId([1; 32]), 3, T0), &a)),
        ];
        for r in records {
            let check = r.check_unsigned(T0).unwrap();
            let envelope = match &r {
                AnyRecord::Profile(p) => p.encode().unwrap().len(),
                AnyRecord::Need(n) => n.encode().unwrap().len(),
                AnyRecord::Attestation(a) => a.encode().unwrap().len(),
                _ => unreachable!(),
            };
            let domain = check.message.iter().position(|b| *b == 0).unwrap() + 1;
            assert_eq!(
                envelope,
                check.message.len() - domain + 96,
                "{:?}",
                r.kind()
            );
        }
    }

    #[test]
    fn non_canonical_y_is_caught() {
        let mut p = [0xff; 32];
        p[31] = 0x7f;
        p[0] = 0xec; // p - 1: canonical
        assert!(canonical_y(&p));
        p[0] = 0xed; // p
        assert!(!canonical_y(&p));
        p[31] = 0xff; // sign bit does not matter
        assert!(!canonical_y(&p));
    }

    #[test]
    fn batches_give_each_signature_its_own_verdict() {
        let ids: Vec<Identity> = (0..150u8).map(|i| Identity::from_secret([i; 32])).collect();
        let mut checks: Vec<SignatureCheck> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| check(id, format!("record {i}").as_bytes()))
            .collect();
        assert!(verify_all(&checks).iter().all(Result::is_ok));
        // One forged signature in the second batch, one wrong message in the third.
        checks[70].signature = ids[71].sign(b"record 70");
        checks[140].message = b"something else".to_vec();
        let out = verify_all(&checks);
        for (i, r) in out.iter().enumerate() {
            assert_eq!(r.is_err(), i == 70 || i == 140, "record {i}: {r:?}");
        }
        assert_eq!(
            out[70],
            Err(RecordError::BadSignature {
                kind: RecordKind::Need
            })
        );
    }

    #[test]
    fn what_verify_strict_refuses_by_form_is_refused_before_the_batch() {
        let id = Identity::from_secret([9; 32]);
        let good = check(&id, b"m");
        // R replaced by the identity point (small order), and by a non-canonical encoding.
        let mut small_r = good.clone();
        small_r.signature.0[..32].copy_from_slice(&SMALL_ORDER_Y[0]);
        let mut big_y = good.clone();
        big_y.signature.0[..32].copy_from_slice(&[0xff; 32]);
        // A small-order key (the order-4 point y = 0).
        let weak = SignatureCheck::new(
            RecordKind::Need,
            &PublicKey([0; 32]),
            good.message.clone(),
            good.signature,
        )
        .unwrap();
        assert!(weak.key().is_weak() && weak.weak);
        // An unreduced s.
        let mut big_s = good.clone();
        big_s.signature.0[63] |= 0x20;
        let all = [good.clone(), small_r, big_y, weak, big_s, good];
        let out = verify_all(&all);
        assert!(out[0].is_ok() && out[5].is_ok());
        for r in &out[1..5] {
            assert!(r.is_err());
        }
        for c in &all {
            assert_eq!(
                verify_all(std::slice::from_ref(c))[0].is_ok(),
                c.verify().is_ok()
            );
        }
    }
}
