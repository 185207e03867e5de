//! Committed test vectors for every record type, so another implementation can check its encoding,
//! signatures and ids against Guild's.
//!
//! `tests/vectors/records.json` holds, per record: the secret key, the body as JSON, the bincode
//! encoding of the body, the signing domain, the signature and the record id (all hex). This test
//! rebuilds each from the JSON body and checks every byte. To regenerate after a deliberate format
//! change: `GUILD_REGEN_VECTORS=1 cargo test -p guild-core --test vectors`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::codec;
use guild_core::fixtures::{identity, one_of_each, project_records, T0};
use guild_core::record::*;
use guild_core::skill::SkillTag;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Serialize, Deserialize, Debug)]
struct Vector {
    kind: RecordKind,
    secret_key: String,
    domain: String,
    body: serde_json::Value,
    body_bincode: String,
    envelope_bincode: String,
    signature: String,
    id: String,
}

#[derive(Serialize, Deserialize, Debug)]
struct Vectors {
    note: String,
    valid_at: u64,
    skill_keys: Vec<(String, String, String)>,
    records: Vec<Vector>,
}

fn signer_secret(record: &AnyRecord) -> [u8; 32] {
    for seed in 1..=3u8 {
        if identity(seed).public() == record.signer() {
            return [seed; 32];
        }
    }
    panic!("unknown fixture signer");
}

fn check<T: RecordBody>(v: &Vector) -> AnyRecord
where
    AnyRecord: From<Signed<T>>,
{
    let body: T = serde_json::from_value(v.body.clone()).expect("body JSON");
    let secret: [u8; 32] = hex::decode(&v.secret_key).unwrap().try_into().unwrap();
    let id = guild_core::Identity::from_secret(secret);
    let body_bytes = codec::encode(&body).unwrap();
    assert_eq!(
        hex::encode(&body_bytes),
        v.body_bincode,
        "{:?} body encoding",
        v.kind
    );
    assert_eq!(T::DOMAIN, v.domain.as_bytes(), "{:?} domain", v.kind);
    let signed = Signed::sign(body, &id).unwrap();
    assert_eq!(
        hex::encode(signed.signature.0),
        v.signature,
        "{:?} signature",
        v.kind
    );
    let mut msg = T::DOMAIN.to_vec();
    msg.extend_from_slice(&body_bytes);
    assert_eq!(hex::encode(Sha256::digest(&msg)), v.id, "{:?} id", v.kind);
    assert_eq!(signed.id().to_string(), v.id);
    assert_eq!(hex::encode(signed.encode().unwrap()), v.envelope_bincode);
    let decoded = Signed::<T>::decode(&hex::decode(&v.envelope_bincode).unwrap()).unwrap();
    assert_eq!(decoded, signed);
    signed.into()
}

/// A sponsorship (a kind added after the first vectors, so it comes last): Ada sponsors Bram.
fn sponsorship_record() -> AnyRecord {
    let (ada, bram) = (identity(1), identity(2));
    AnyRecord::Sponsorship(
        Signed::sign(
            Sponsorship {
                version: RECORD_VERSION,
                issuer: ada.public(),
                newcomer: bram.public(),
                invite: [7; 16],
                issued_at: T0,
                expires_at: T0 + 90 * 86_400,
            },
            &ada,
        )
        .unwrap(),
    )
}

fn generate() -> Vectors {
    let mut records = Vec::new();
    for record in one_of_each()
        .into_iter()
        .chain(project_records())
        .chain([sponsorship_record()])
    {
        let secret = signer_secret(&record);
        let json = serde_json::to_value(&record).unwrap();
        let inner = json
            .as_object()
            .and_then(|o| o.values().next())
            .unwrap()
            .clone();
        let body = inner["body"].clone();
        let (domain, body_bytes) = match &record {
            AnyRecord::Profile(r) => (Profile::DOMAIN, codec::encode(&r.body)),
            AnyRecord::Need(r) => (Need::DOMAIN, codec::encode(&r.body)),
            AnyRecord::Offer(r) => (Offer::DOMAIN, codec::encode(&r.body)),
            AnyRecord::Attestation(r) => (Attestation::DOMAIN, codec::encode(&r.body)),
            AnyRecord::Revocation(r) => (Revocation::DOMAIN, codec::encode(&r.body)),
            AnyRecord::Collaboration(r) => (Collaboration::DOMAIN, codec::encode(&r.body)),
            AnyRecord::CollabEntry(r) => (CollabEntry::DOMAIN, codec::encode(&r.body)),
            AnyRecord::Message(r) => (Message::DOMAIN, codec::encode(&r.body)),
            AnyRecord::Sponsorship(r) => (Sponsorship::DOMAIN, codec::encode(&r.body)),
        };
        let sig = inner["signature"].as_str().unwrap().to_string();
        let envelope = match &record {
            AnyRecord::Profile(r) => r.encode(),
            AnyRecord::Need(r) => r.encode(),
            AnyRecord::Offer(r) => r.encode(),
            AnyRecord::Attestation(r) => r.encode(),
            AnyRecord::Revocation(r) => r.encode(),
            AnyRecord::Collaboration(r) => r.encode(),
            AnyRecord::CollabEntry(r) => r.encode(),
            AnyRecord::Message(r) => r.encode(),
            AnyRecord::Sponsorship(r) => r.encode(),
        };
        records.push(Vector {
            kind: record.kind(),
            secret_key: hex::encode(secret),
            domain: String::from_utf8(domain.to_vec()).unwrap(),
            body,
            body_bincode: hex::encode(body_bytes.unwrap()),
            envelope_bincode: hex::encode(envelope.unwrap()),
            signature: sig,
            id: record.id().to_string(),
        });
    }
    let skill_keys = ["kicad", "  PCB Design ", "ＲＵＳＴ", "Café"]
        .iter()
        .map(|raw| {
            let tag = SkillTag::parse(raw).unwrap();
            (raw.to_string(), tag.to_string(), hex::encode(tag.dht_key()))
        })
        .collect();
    Vectors {
        note:
            "Guild record test vectors: body_bincode = bincode 2 standard config (varint, little \
               endian) of the body; signature = ed25519(secret_key, domain || body_bincode); id = \
               sha256(domain || body_bincode). skill_keys: (input, normalised tag, DHT key). \
               The first eight records are version 1, one per kind; then a version 2 need \
               (roles), a version 2 offer (role 1), version 2 log entries accept and release, \
               and a sponsorship (the ninth kind, version 1)."
                .into(),
        valid_at: T0,
        skill_keys,
        records,
    }
}

#[test]
fn vectors_match() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/records.json");
    if std::env::var_os("GUILD_REGEN_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&generate()).unwrap();
        std::fs::write(&path, text + "\n").unwrap();
    }
    let text = std::fs::read_to_string(&path).expect("committed vectors file");
    let vectors: Vectors = serde_json::from_str(&text).unwrap();
    assert_eq!(
        vectors.records.len(),
        13,
        "one vector per record type, then the version 2 need, offer, accept and release, then a \
         sponsorship"
    );
    for v in &vectors.records {
        let record = match v.kind {
            RecordKind::Profile => check::<Profile>(v),
            RecordKind::Need => check::<Need>(v),
            RecordKind::Offer => check::<Offer>(v),
            RecordKind::Attestation => check::<Attestation>(v),
            RecordKind::Revocation => check::<Revocation>(v),
            RecordKind::Collaboration => check::<Collaboration>(v),
            RecordKind::CollabEntry => check::<CollabEntry>(v),
            RecordKind::Message => check::<Message>(v),
            RecordKind::Introduction => panic!("introductions have no test vectors"),
            RecordKind::Sponsorship => check::<Sponsorship>(v),
        };
        record.validate(vectors.valid_at + 1).unwrap();
    }
    for (raw, normal, key) in &vectors.skill_keys {
        let tag = SkillTag::parse(raw).unwrap();
        assert_eq!(tag.as_str(), normal);
        assert_eq!(&hex::encode(tag.dht_key()), key);
    }
}
