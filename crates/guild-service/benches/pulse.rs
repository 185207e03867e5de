//! `pulse` with 10^5 records held (issue 21): what one call costs.
//!
//! 1. **The service**: a store holding 10^5 signed records — 10^4 profiles (3 skills each from
//!    500 tags), 6·10^4 needs posted over the last 4 weeks (1–3 tags, one in ten asking for a tag
//!    nobody has), 2·10^4 offers, 10^4 collaborations — loaded by `Service::new` (the one pass at
//!    start), then `pulse` served by `Service::call` as the control socket serves it, for the
//!    default period (30 days) and a year.
//! 2. **A year of history**: the pulse sub-state alone, fed 10^5 records spread over 104 weeks
//!    with every need expiring (the weekly counters a year of sweeps leaves), then `report` for 5
//!    and 52 weeks.
//!
//! `cargo bench -p guild-service --bench pulse`. Prints median, p90 and max; nothing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::control::reflect::{PulseParams, WEEK_SECS};
use guild_core::control::ServiceCall;
use guild_core::fixtures::{sign, tag};
use guild_core::record::RECORD_VERSION;
use guild_core::{
    AnyRecord, Collaboration, Identity, Level, Need, Offer, Profile, PublicKey, RecordId, Skill,
    SkillTag,
};
use guild_service::pulse::{Arrival, PulseState};
use guild_service::{CallId, Io, MemoryStorage, Service, ServiceConfig, Storage};
use std::time::{Duration, Instant};

const NOW: u64 = 1_800_000_000;
const PROFILES: usize = 10_000;
const NEEDS: usize = 60_000;
const OFFERS: usize = 20_000;
const COLLABS: usize = 10_000;
const TAGS: usize = 500;
const CALLS: usize = 200;

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn identity(n: u64) -> Identity {
    let mut secret = [0x21; 32];
    secret[..8].copy_from_slice(&n.to_le_bytes());
    Identity::from_secret(secret)
}

fn vocab() -> Vec<SkillTag> {
    (0..TAGS).map(|i| tag(&format!("skill-{i}"))).collect()
}

fn need_tags(rng: &mut Rng, vocab: &[SkillTag]) -> Vec<SkillTag> {
    let mut tags: Vec<SkillTag> = (0..1 + rng.below(3))
        .map(|_| vocab[rng.below(vocab.len())].clone())
        .collect();
    if rng.below(10) == 0 {
        tags.push(tag(&format!("lacking-{}", rng.below(50))));
    }
    tags.sort();
    tags.dedup();
    tags
}

fn summary(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    println!(
        "| {what} | {} | {} | {} | {} |",
        samples.len(),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(*samples.last().unwrap())
    );
}

fn main() {
    println!("| measure | calls | median | p90 | max |");
    println!("|---------|------:|-------:|----:|----:|");
    service();
    history();
}

fn service() {
    let vocab = vocab();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let store = MemoryStorage::new();
    let members: Vec<Identity> = (0..PROFILES as u64).map(identity).collect();
    for (i, m) in members.iter().enumerate() {
        let skills = (0..3)
            .map(|_| Skill {
                tag: vocab[rng.below(TAGS)].clone(),
                level: Level::Advanced,
            })
            .collect::<Vec<_>>();
        let mut skills = skills;
        skills.sort_by(|a, b| a.tag.cmp(&b.tag));
        skills.dedup_by(|a, b| a.tag == b.tag);
        let p = Profile {
            version: RECORD_VERSION,
            issuer: m.public(),
            issued_at: NOW - 86_400,
            expires_at: NOW + 6 * 86_400,
            name: format!("member {i}"),
            bio: String::new(),
            skills,
            resources: vec![],
            links: vec![],
        };
        store.put_profile(&sign(p, m)).unwrap();
    }
    let mut needs = Vec::with_capacity(NEEDS);
    for i in 0..NEEDS {
        let asker = &members[rng.below(PROFILES)];
        let at = NOW - 1 - (rng.next() % (28 * 86_400));
        let n = sign(
            Need {
                version: RECORD_VERSION,
                issuer: asker.public(),
                issued_at: at,
                expires_at: at + 29 * 86_400,
                text: format!("need {i}"),
                skills: need_tags(&mut rng, &vocab),
                resources: vec![],
                nonce: i as u64,
                project: None,
            },
            asker,
        );
        store.put_record(&AnyRecord::Need(n.clone())).unwrap();
        needs.push(n);
    }
    let mut offers = Vec::with_capacity(OFFERS);
    for i in 0..OFFERS {
        let n = &needs[i * 3 % NEEDS];
        let by = &members[rng.below(PROFILES)];
        let o = sign(
            Offer {
                version: RECORD_VERSION,
                issuer: by.public(),
                issued_at: n.body.issued_at + 1 + rng.next() % 86_400,
                expires_at: n.body.expires_at,
                need: n.id(),
                asker: n.signer,
                text: "I can help".into(),
                role: 0,
            },
            by,
        );
        store.put_record(&AnyRecord::Offer(o.clone())).unwrap();
        offers.push((o, n.clone()));
    }
    for (o, n) in offers.iter().take(COLLABS) {
        let asker = members.iter().find(|m| m.public() == n.signer);
        let asker = asker.unwrap_or(&members[0]);
        let c = sign(
            Collaboration {
                version: RECORD_VERSION,
                issuer: n.signer,
                issued_at: o.body.issued_at + 60,
                expires_at: o.body.issued_at + 365 * 86_400,
                need: n.id(),
                offers: vec![guild_core::Accepted {
                    offerer: o.signer,
                    offer: o.id(),
                }],
            },
            asker,
        );
        store.put_record(&AnyRecord::Collaboration(c)).unwrap();
    }
    let started = Instant::now();
    let mut svc = Service::new(
        identity(u64::MAX),
        store,
        ServiceConfig::default(),
        1,
        NOW * 1000,
    )
    .unwrap();
    let counts = svc.counts();
    println!(
        "\n(service: {} profiles and {} other records held, loaded in {:.1} s)\n",
        counts.profiles,
        counts.records,
        started.elapsed().as_secs_f64()
    );
    for (label, weeks) in [
        ("service: pulse, 30 days", 5u64),
        ("service: pulse, 52 weeks", 52),
    ] {
        let mut samples = Vec::with_capacity(CALLS);
        for i in 0..CALLS {
            let call = ServiceCall::Pulse(PulseParams {
                since_secs: Some(weeks * WEEK_SECS),
            });
            let t = Instant::now();
            svc.call(CallId(i as u64), call, NOW * 1000);
            let out = svc.take_outbox();
            samples.push(t.elapsed());
            assert!(matches!(out.last(), Some(Io::Reply { result: Ok(_), .. })));
        }
        summary(label, samples);
    }
}

fn history() {
    let vocab = vocab();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut s = PulseState::default();
    let keys: Vec<PublicKey> = (0..PROFILES as u64).map(|i| identity(i).public()).collect();
    let id = |n: usize| {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&(n as u64).to_le_bytes());
        RecordId(b)
    };
    let mut n = 0;
    for k in &keys {
        n += 1;
        let skills = (0..3)
            .map(|_| (vocab[rng.below(TAGS)].clone(), Level::Advanced))
            .collect();
        s.arrived(
            id(n),
            *k,
            Arrival::Profile {
                id: id(n),
                issued_at: NOW - 86_400,
                skills,
                resources: vec![],
            },
        );
    }
    let span = 104 * WEEK_SECS;
    let mut held = vec![];
    for i in 0..NEEDS {
        n += 1;
        let at = NOW - rng.next() % span;
        let tags = need_tags(&mut rng, &vocab);
        s.arrived(
            id(n),
            keys[rng.below(PROFILES)],
            Arrival::Need {
                issued_at: at,
                skills: &tags,
                resources: &[],
            },
        );
        held.push((id(n), at));
        if i < OFFERS {
            let need = held[rng.below(held.len())];
            n += 1;
            s.arrived(
                id(n),
                keys[rng.below(PROFILES)],
                Arrival::Offer {
                    need: need.0,
                    issued_at: need.1 + rng.next() % 86_400,
                },
            );
        }
        if i < COLLABS {
            let need = held[rng.below(held.len())];
            n += 1;
            s.arrived(
                id(n),
                keys[rng.below(PROFILES)],
                Arrival::Collaboration {
                    need: need.0,
                    opened_at: need.1 + 3_600,
                    members: vec![keys[rng.below(PROFILES)], keys[rng.below(PROFILES)]],
                },
            );
        }
    }
    // A year of sweeps: every need posted more than a week ago has expired.
    for (nid, at) in &held {
        if *at + 7 * 86_400 < NOW {
            s.dropped(nid, &keys[0], true, NOW);
        }
    }
    println!("\n(history: {n} records over 104 weeks, needs older than a week expired)\n");
    for (label, weeks) in [
        ("history: report, 5 weeks", 5u64),
        ("history: report, 52 weeks", 52),
    ] {
        let mut samples = Vec::with_capacity(CALLS);
        let mut tags = 0;
        for _ in 0..CALLS {
            let t = Instant::now();
            let p = s.report(weeks, NOW);
            samples.push(t.elapsed());
            tags = p.tags.len() + p.lacks.len();
        }
        summary(&format!("{label} ({tags} tags listed)"), samples);
    }
}
