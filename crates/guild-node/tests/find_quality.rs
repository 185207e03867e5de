//! The quality of `find` on a hand-written fixture (`tests/fixtures/find_quality.json`, made by
//! `make_find_quality.py` beside it): 214 realistic profiles and 38 queries with the results a
//! person would expect — exact tags, prefixes, typos, bio words, resources and several words.
//!
//! Reports precision@5 (the share of the top five that a person would call a good answer, out of
//! at most five) and the share of queries whose expected first result ranks first, per kind and
//! overall, and keeps them from regressing. The index is searched as a newcomer would: no trust in
//! anyone. BENCHMARKS.md records the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::fixtures::identity;
use guild_core::{Level, Profile, RecordId, Resource, Skill, SkillTag};
use guild_service::index::{Index, Query};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Fixture {
    profiles: Vec<P>,
    queries: Vec<Q>,
}

#[derive(Deserialize)]
struct P {
    key: String,
    name: String,
    bio: String,
    skills: Vec<(String, Level)>,
    resources: Vec<R>,
}

#[derive(Deserialize)]
struct R {
    tag: String,
    description: String,
    availability: String,
}

#[derive(Deserialize)]
struct Q {
    query: String,
    kind: String,
    expect_first: String,
    relevant: Vec<String>,
}

/// Floors the measured figures must stay above (set a little under what was measured, so a
/// change that makes find worse fails here).
const MIN_PRECISION_AT_5: f64 = 0.95;
const MIN_FIRST_RIGHT: f64 = 0.82;

#[test]
fn find_quality_on_the_fixture() {
    let text = include_str!("fixtures/find_quality.json");
    let fx: Fixture = serde_json::from_str(text).unwrap();
    let mut idx = Index::default();
    let mut key_of = BTreeMap::new();
    let now = guild_core::fixtures::T0;
    for (i, p) in fx.profiles.iter().enumerate() {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        let id = guild_core::Identity::from_secret(seed);
        let body = Profile {
            version: guild_core::record::RECORD_VERSION,
            issuer: id.public(),
            issued_at: now - (i as u64 % 7) * 3600,
            expires_at: now + 7 * 86_400,
            name: p.name.clone(),
            bio: p.bio.clone(),
            skills: p
                .skills
                .iter()
                .map(|(t, l)| Skill {
                    tag: SkillTag::parse(t).unwrap(),
                    level: *l,
                })
                .collect(),
            resources: p
                .resources
                .iter()
                .map(|r| Resource {
                    tag: SkillTag::parse(&r.tag).unwrap(),
                    description: r.description.clone(),
                    availability: r.availability.clone(),
                })
                .collect(),
            links: vec![],
        };
        idx.insert(id.public(), RecordId([i as u8; 32]), &body);
        key_of.insert(id.public(), p.key.clone());
    }
    let _ = identity(1);
    idx.refresh_vocabulary();
    let mut per_kind: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
    let mut misses = vec![];
    for q in &fx.queries {
        let query = Query {
            words: Some(q.query.clone()),
            limit: 5,
            ..Query::default()
        };
        let got: Vec<String> = idx
            .find(&query, now, |_, _| None)
            .iter()
            .map(|m| key_of[&m.peer].clone())
            .collect();
        let good = got.iter().filter(|k| q.relevant.contains(k)).count() as f64;
        let p5 = good / q.relevant.len().clamp(1, 5) as f64;
        let first = got.first() == Some(&q.expect_first);
        if !first || p5 < 1.0 {
            misses.push(format!(
                "{:>9} {:<28} p@5 {p5:.2} first {first}: got {got:?}, want first {}",
                q.kind, q.query, q.expect_first
            ));
        }
        let e = per_kind.entry(q.kind.clone()).or_default();
        e.0 += p5;
        e.1 += f64::from(u8::from(first));
        e.2 += 1;
    }
    let (mut p_all, mut f_all, mut n_all) = (0.0, 0.0, 0);
    println!("kind        queries  precision@5  first right");
    for (kind, (p, f, n)) in &per_kind {
        println!(
            "{kind:<10} {n:>8} {:>12.2} {:>12.2}",
            p / *n as f64,
            f / *n as f64
        );
        p_all += p;
        f_all += f;
        n_all += n;
    }
    let (p_all, f_all) = (p_all / n_all as f64, f_all / n_all as f64);
    println!("{:<10} {n_all:>8} {p_all:>12.2} {f_all:>12.2}", "all");
    for m in &misses {
        println!("{m}");
    }
    assert!(
        p_all >= MIN_PRECISION_AT_5,
        "precision@5 {p_all:.2} fell below {MIN_PRECISION_AT_5}"
    );
    assert!(
        f_all >= MIN_FIRST_RIGHT,
        "first-right share {f_all:.2} fell below {MIN_FIRST_RIGHT}"
    );
}
