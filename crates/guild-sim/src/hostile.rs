//! What a hostile member sends: unauthorised revocations of other people's records, records
//! forged in someone else's name, and junk. Each function returns wire bytes for
//! [`crate::Sim::inject_gossip`]; the honest services must refuse them (the typed refusals and
//! the pending pool of `guild_service::authority`).

use guild_core::record::RECORD_VERSION;
use guild_core::{
    AnyRecord, Identity, Profile, PublicKey, RecordId, RecordKind, Revocation, Signed, UnixTime,
};

/// A revocation of `target` (someone else's record) signed by `by`, dated `at`.
pub fn revocation(by: &Identity, target: RecordId, kind: RecordKind, at: UnixTime) -> Vec<u8> {
    let body = Revocation {
        version: RECORD_VERSION,
        issuer: by.public(),
        issued_at: at,
        expires_at: at + 30 * 86_400,
        target,
        target_kind: kind,
        reason: "revoked by a stranger".into(),
    };
    Signed::sign(body, by)
        .ok()
        .and_then(|s| AnyRecord::Revocation(s).encode().ok())
        .unwrap_or_default()
}

/// A profile claiming to be `victim`'s, signed by `forger` (the signature cannot match).
pub fn forged_profile(victim: PublicKey, forger: &Identity, at: UnixTime) -> Vec<u8> {
    let body = Profile {
        version: RECORD_VERSION,
        issuer: victim,
        issued_at: at,
        expires_at: at + 7 * 86_400,
        name: "definitely the real one".into(),
        bio: String::new(),
        skills: vec![],
        resources: vec![],
        links: vec![],
    };
    match Signed::sign(body, forger) {
        Ok(mut s) => {
            s.signer = victim;
            s.encode().unwrap_or_default()
        }
        Err(_) => vec![],
    }
}

/// `len` bytes that decode as nothing, varied by `n`.
pub fn junk(n: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (n.wrapping_mul(31).wrapping_add(i as u64 * 7) % 251) as u8)
        .collect()
}
