//! Warm introductions: what one step costs the node that receives it, and what proposing
//! introducers costs.
//!
//! 1. **Requests from minted keys**: 10^4 fresh keys each send one signed introduction request
//!    to the same introducer (signed before the clock starts: the attacker's work). The first
//!    eight wait (the strangers' total); the rest are refused `Busy` before any signature check.
//!    Per request: the time `received_request` takes.
//! 2. **A request from a member, accepted** (a trust root of the introducer; each answered at once
//!    so the pending cap does not bind, within the daily rate): decode, checks, signature, hold.
//! 3. **`intro.introducers`** for a member vouched for by 100 members the caller trusts (trust
//!    roots), in a store of 2,100 counted attestations (each with its collaboration, both sides
//!    closed), loaded by `Service::new`: read from the indexes by subject and issuer.
//!
//! `cargo bench -p guild-service --bench intro`. Prints median, p90 and max; nothing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::control::intro::{IntroAnswerParams, IntroducersParams};
use guild_core::control::reputation::TrustAddParams;
use guild_core::control::Reply;
use guild_core::control::ServiceCall;
use guild_core::fixtures::{self, sign, T0};
use guild_core::record::{entry_version, CollabEntry, EntryKind};
use guild_core::record::{IntroMessage, IntroRequest};
use guild_core::wire::{DirectRequest, DirectResponse};
use guild_core::{codec, AnyRecord, Identity, PublicKey};
use guild_service::{CallId, Io, MemoryStorage, Service, ServiceConfig, Storage};
use std::time::{Duration, Instant};

const MS: u64 = T0 * 1000;
const MINTED: u32 = 10_000;

fn fresh(i: u32) -> Identity {
    let mut secret = [0x3Cu8; 32];
    secret[..4].copy_from_slice(&i.to_le_bytes());
    Identity::from_secret(secret)
}

fn request(a: &Identity, b: PublicKey, c: PublicKey, nonce: u64) -> Vec<u8> {
    let r = sign(
        IntroRequest {
            version: 1,
            issuer: a.public(),
            introducer: b,
            target: c,
            issued_at: T0,
            expires_at: T0 + 86_400,
            nonce,
            note: "I would like to meet them about a KiCad footprint".into(),
            need: None,
            addrs: vec!["/ip4/192.0.2.7/tcp/4001".into()],
        },
        a,
    );
    codec::encode(&DirectRequest::Intro(Box::new(IntroMessage::Request(r)))).unwrap()
}

fn report(what: &str, mut t: Vec<Duration>) {
    t.sort();
    let q = |p: f64| t[((t.len() - 1) as f64 * p) as usize];
    println!(
        "{what:<58} n={:<6} median {:>8.2?}  p90 {:>8.2?}  max {:>8.2?}",
        t.len(),
        q(0.5),
        q(0.9),
        t[t.len() - 1]
    );
}

fn service(seed: u8) -> Service<MemoryStorage> {
    Service::new(
        Identity::from_secret([seed; 32]),
        MemoryStorage::new(),
        ServiceConfig::default(),
        1,
        MS,
    )
    .unwrap()
}

/// The measurements in the order they print. Long (a script of phases) on purpose.
fn main() {
    let target = Identity::from_secret([9; 32]).public();

    // 1. Minted keys.
    let mut b = service(2);
    let me = b.public_key();
    let minted: Vec<(PublicKey, Vec<u8>)> = (0..MINTED)
        .map(|i| {
            let k = fresh(i);
            (k.public(), request(&k, me, target, 1))
        })
        .collect();
    let mut times = Vec::with_capacity(minted.len());
    let mut busy = 0;
    for (from, bytes) in &minted {
        let t = Instant::now();
        let r = b.received_request(*from, bytes, MS);
        times.push(t.elapsed());
        if matches!(r, DirectResponse::Error { .. }) {
            busy += 1;
        }
        b.take_outbox();
    }
    report(
        &format!("request from a minted key ({busy} of {MINTED} refused)"),
        times,
    );

    // 2. A member's requests, accepted (each declined at once to free its slot).
    let mut b = service(3);
    let me = b.public_key();
    let member = Identity::from_secret([4; 32]);
    b.call(
        CallId(1),
        ServiceCall::TrustAdd(TrustAddParams {
            peer: member.public(),
            skill: None,
            note: String::new(),
        }),
        MS,
    );
    b.take_outbox();
    let reqs: Vec<Vec<u8>> = (0..40)
        .map(|i| request(&member, me, fresh(100_000 + i).public(), u64::from(i)))
        .collect();
    let mut times = Vec::new();
    for (i, bytes) in reqs.iter().enumerate() {
        let t = Instant::now();
        let r = b.received_request(member.public(), bytes, MS);
        times.push(t.elapsed());
        assert_eq!(r, DirectResponse::Ack);
        let id = match codec::decode::<DirectRequest>(bytes, usize::MAX).unwrap() {
            DirectRequest::Intro(m) => m.request_id(),
            _ => unreachable!(),
        };
        b.call(
            CallId(10 + i as u64),
            ServiceCall::IntroAnswer(IntroAnswerParams {
                id,
                accept: false,
                note: String::new(),
            }),
            MS,
        );
        b.take_outbox();
    }
    report("request from a member, accepted and held", times);

    // 3. Proposing introducers.
    let store = MemoryStorage::new();
    let subject = fresh(300_000);
    let vouch = |x: &Identity, y: &Identity| -> Vec<AnyRecord> {
        let n = sign(fixtures::need(x, "a board", &["kicad"], T0), x);
        let o = sign(fixtures::offer(y, &n, T0), y);
        let c = sign(
            fixtures::collaboration(x, n.clone(), vec![o.clone()], T0),
            x,
        );
        let close = |by: &Identity, clock: u64| {
            sign(
                CollabEntry {
                    version: entry_version(&EntryKind::Close),
                    issuer: by.public(),
                    collaboration: c.id(),
                    issued_at: T0,
                    expires_at: T0 + 365 * 86_400,
                    seq: 1,
                    clock,
                    entry: EntryKind::Close,
                },
                by,
            )
        };
        let att = sign(fixtures::attestation(x, y, c.id(), 5, T0), x);
        vec![
            AnyRecord::Need(n),
            AnyRecord::Offer(o),
            AnyRecord::CollabEntry(close(x, 1)),
            AnyRecord::CollabEntry(close(y, 2)),
            AnyRecord::Attestation(att),
            AnyRecord::Collaboration(c),
        ]
    };
    let roots: Vec<Identity> = (0..100).map(|i| fresh(200_000 + i)).collect();
    for x in &roots {
        for r in vouch(x, &subject) {
            store.put_record(&r).unwrap();
        }
    }
    for i in 0..2_000u32 {
        for r in vouch(&fresh(400_000 + i), &fresh(500_000 + i % 500)) {
            store.put_record(&r).unwrap();
        }
    }
    let mut a = Service::new(
        Identity::from_secret([5; 32]),
        store,
        ServiceConfig::default(),
        1,
        MS,
    )
    .unwrap();
    for (i, x) in roots.iter().enumerate() {
        a.call(
            CallId(i as u64),
            ServiceCall::TrustAdd(TrustAddParams {
                peer: x.public(),
                skill: None,
                note: String::new(),
            }),
            MS,
        );
    }
    a.take_outbox();
    let mut times = Vec::new();
    let mut proposed = 0;
    for i in 0..200u64 {
        let t = Instant::now();
        a.call(
            CallId(1_000 + i),
            ServiceCall::IntroIntroducers(IntroducersParams {
                peer: subject.public(),
            }),
            MS,
        );
        times.push(t.elapsed());
        for io in a.take_outbox() {
            if let Io::Reply {
                result: Ok(Reply::Introducers(x)),
                ..
            } = io
            {
                proposed = x.introducers.len();
            }
        }
    }
    report(
        &format!("intro.introducers (100 vouched, {proposed} proposed: the best 8)"),
        times,
    );
}
