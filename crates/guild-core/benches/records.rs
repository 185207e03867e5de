//! Record crypto and codec costs: sign, verify, verify_strict, verify_batch of 1024 records, and
//! encode/decode of a full-size profile.
//!
//! `cargo bench -p guild-core --features test-helpers --bench records`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use guild_core::fixtures::{identity, profile, sign, tag, T0};
use guild_core::limits::*;
use guild_core::{codec, Profile, RecordBody, Resource, Signed};

/// A profile with every field near its limit (about 15 KiB encoded).
fn full_profile() -> Signed<Profile> {
    let id = identity(1);
    let mut body = profile(&id, "Ada Lovelace", &[], T0);
    body.bio = "b".repeat(MAX_BIO_BYTES);
    body.skills = (0..MAX_SKILLS)
        .map(|i| guild_core::Skill {
            tag: tag(&format!("skill-number-{i}")),
            level: guild_core::Level::Expert,
        })
        .collect();
    body.resources = (0..MAX_RESOURCES)
        .map(|i| Resource {
            tag: tag(&format!("resource-{i}")),
            description: "d".repeat(400),
            availability: "a".repeat(200),
        })
        .collect();
    body.links = vec!["https://example.org/".repeat(4); MAX_LINKS];
    sign(body, &id)
}

fn signing_bytes(p: &Signed<Profile>) -> Vec<u8> {
    let mut m = Profile::DOMAIN.to_vec();
    m.extend_from_slice(&codec::encode(&p.body).unwrap());
    m
}

fn crypto(c: &mut Criterion) {
    let p = full_profile();
    let msg = signing_bytes(&p);
    let sk = SigningKey::from_bytes(&[1u8; 32]);
    let vk: VerifyingKey = sk.verifying_key();
    let sig: Signature = sk.sign(&msg);
    let mut g = c.benchmark_group("ed25519");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign", |b| b.iter(|| sk.sign(&msg)));
    g.bench_function("verify", |b| b.iter(|| vk.verify(&msg, &sig).unwrap()));
    g.bench_function("verify_strict", |b| {
        b.iter(|| vk.verify_strict(&msg, &sig).unwrap())
    });
    g.bench_function("record_validate", |b| {
        b.iter(|| p.validate(T0 + 1).unwrap())
    });

    // 1024 distinct small records from 32 signers.
    let records: Vec<Signed<Profile>> = (0..1024u64)
        .map(|i| {
            let id = identity((i % 32) as u8 + 1);
            sign(profile(&id, &format!("m{i}"), &["rust"], T0 + i), &id)
        })
        .collect();
    let msgs: Vec<Vec<u8>> = records.iter().map(signing_bytes).collect();
    let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
    let sigs: Vec<Signature> = records
        .iter()
        .map(|r| Signature::from_bytes(&r.signature.0))
        .collect();
    let keys: Vec<VerifyingKey> = records
        .iter()
        .map(|r| r.signer.verifying_key().unwrap())
        .collect();
    g.throughput(Throughput::Elements(1024));
    g.bench_function("verify_strict_x1024", |b| {
        b.iter(|| {
            for i in 0..1024 {
                keys[i].verify_strict(refs[i], &sigs[i]).unwrap();
            }
        })
    });
    g.bench_function("verify_batch_1024", |b| {
        b.iter(|| ed25519_dalek::verify_batch(&refs, &sigs, &keys).unwrap())
    });
    g.finish();
}

fn codec_bench(c: &mut Criterion) {
    let p = full_profile();
    let bytes = p.encode().unwrap();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("encode_full_profile", |b| b.iter(|| p.encode().unwrap()));
    g.bench_function("decode_full_profile", |b| {
        b.iter_batched(
            || bytes.clone(),
            |bytes| Signed::<Profile>::decode(&bytes).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("record_id", |b| b.iter(|| p.id()));
    g.finish();
    println!("full profile: {} bytes encoded", bytes.len());
}

criterion_group!(benches, crypto, codec_bench);
criterion_main!(benches);
