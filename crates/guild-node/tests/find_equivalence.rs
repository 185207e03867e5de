//! `find`'s results, unchanged by work on its speed: 600 queries (typos, word pairs, typed filters,
//! expired profiles, per-skill trust, removals and re-inserts, limits 1–25) over 3,000 generated
//! profiles, rendered (scores to 9 decimals, so that a last-bit difference of the platform's `powf`
//! does not count) and digested; the digest is the rendering of the results as they were when the
//! test was written. A change meant to alter ranking updates `EXPECTED`; any other change must
//! keep it. `FIND_EQUIV_OUT=path` writes the rendering, to diff two versions.
#![allow(clippy::unwrap_used, missing_docs)]
use guild_core::fixtures::{profile, tag, T0};
use guild_core::{Identity, Level, RecordId, Resource, Skill, SkillTag};
use guild_service::index::{Index, Query};
use std::fmt::Write;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn tag(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u) * n as f64) as usize
    }
}

#[test]
fn results_are_unchanged() {
    let stems = [
        "rust",
        "python",
        "kicad",
        "pcb-design",
        "embedded",
        "welding",
        "3d-printing",
        "3d-printer",
        "cnc",
        "woodwork",
        "react",
        "go",
        "laser-cutter",
        "laser-cutting",
        "soldering",
        "sewing",
    ];
    let vocab: Vec<String> = (0..120)
        .map(|i| {
            let s = stems[i % stems.len()];
            match i / stems.len() {
                0 => s.to_string(),
                n => format!("{s}-{n}"),
            }
        })
        .collect();
    let bio_words = [
        "firmware", "boards", "bicycles", "rust", "pcb", "layout", "printer", "wood", "react",
        "teaching", "python", "design",
    ];
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut idx = Index::default();
    let mut keys = vec![];
    let levels = [
        Level::Beginner,
        Level::Intermediate,
        Level::Advanced,
        Level::Expert,
    ];
    for i in 0..3000u64 {
        let mut secret = [0x33; 32];
        secret[..8].copy_from_slice(&(i + 1).to_le_bytes());
        let id = Identity::from_secret(secret);
        let mut p = profile(&id, &format!("member {i}"), &[], T0 - (i % 13) * 3600 * 7);
        if i % 50 == 0 {
            p.expires_at = T0 - 1;
        }
        let n = 1 + (rng.next() % 6) as usize;
        let mut picked: Vec<usize> = (0..n).map(|_| rng.tag(vocab.len())).collect();
        picked.sort_unstable();
        picked.dedup();
        p.skills = picked
            .into_iter()
            .map(|t| Skill {
                tag: tag(&vocab[t]),
                level: levels[(rng.next() % 4) as usize],
            })
            .collect();
        let nb = rng.next() % 4;
        p.bio = (0..nb)
            .map(|_| bio_words[(rng.next() % bio_words.len() as u64) as usize])
            .collect::<Vec<_>>()
            .join(" ");
        if rng.next().is_multiple_of(5) {
            let r = rng.tag(vocab.len());
            p.resources = vec![Resource {
                tag: tag(&vocab[r]),
                description: format!("a {} machine", bio_words[(rng.next() % 12) as usize]),
                availability: if rng.next().is_multiple_of(2) {
                    "weekends".into()
                } else {
                    String::new()
                },
            }];
        }
        idx.insert(id.public(), RecordId([(i % 251) as u8; 32]), &p);
        keys.push(id.public());
    }
    // Some removals and re-inserts (churn).
    for i in (0..3000).step_by(37) {
        idx.remove(&keys[i]);
    }
    for i in (0..3000).step_by(74) {
        let mut secret = [0x33; 32];
        secret[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        let id = Identity::from_secret(secret);
        let p = profile(&id, &format!("again {i}"), &["rust", "kicad"], T0 - 100);
        idx.insert(id.public(), RecordId([7; 32]), &p);
    }
    idx.refresh_vocabulary();
    let trusted: std::collections::HashSet<_> = keys.iter().step_by(11).copied().collect();
    let trust = |who: &guild_core::PublicKey, s: Option<&SkillTag>| {
        if !trusted.contains(who) {
            return None;
        }
        let b = who.0[0] as f64 / 255.0;
        match s {
            None => Some(b),
            Some(t) if t.as_str().len() % 2 == 0 => Some((b * 1.7) % 1.0),
            Some(_) => None,
        }
    };
    let extra = [
        "kikad",
        "pyhton",
        "pcb design",
        "3d printer",
        "laser",
        "bicycles",
        "firm",
        "woodwerking",
        "zzzz",
        "rust python",
        "rust kicad embedded",
        "pcb",
        "re",
        "go",
        "3d",
        "member",
        "lay",
    ];
    let mut out = String::new();
    for qi in 0..600 {
        let q = if qi < extra.len() * 2 {
            Query {
                words: Some(extra[qi % extra.len()].into()),
                limit: if qi < extra.len() { 20 } else { 5 },
                ..Query::default()
            }
        } else {
            let n = 1 + rng.next() % 3;
            let words: Vec<String> = (0..n)
                .map(|_| vocab[rng.tag(vocab.len())].clone())
                .collect();
            let mut q = Query {
                words: Some(words.join(" ")),
                limit: 1 + (rng.next() % 25) as usize,
                ..Query::default()
            };
            match rng.next() % 10 {
                0 => q.skills = vec![tag(&vocab[rng.tag(vocab.len())])],
                1 => {
                    q.words = None;
                    q.skills = vec![tag(&vocab[rng.tag(vocab.len())])];
                }
                2 => q.text = Some("firmware".into()),
                3 => {
                    q.words = None;
                    q.text = Some("boards pcb".into());
                }
                4 => {
                    q.words = None;
                    q.resources = vec![tag(&vocab[rng.tag(vocab.len())])];
                }
                _ => {}
            }
            q
        };
        let (r, un) = idx.search(&q, T0, trust);
        let _ = writeln!(
            out,
            "Q{qi} {:?} {:?} {:?} {:?} n={} un={un:?}",
            q.words,
            q.skills,
            q.resources,
            q.text,
            r.len()
        );
        for m in &r {
            let _ = writeln!(
                out,
                "  {} {} {} {:.9} {:.9} {:?} {:.9} {:.9} {:.9} {:?} {:?} {:?} {}",
                m.peer,
                m.peer_id,
                m.name,
                m.score,
                m.fit,
                m.trust.map(|t| format!("{t:.9}")),
                m.freshness,
                m.availability,
                m.level,
                m.matched,
                m.matched_skills,
                m.matched_resources,
                m.issued_at
            );
        }
        let _ = writeln!(out, "  suggest {:?}", idx.unmatched_words(&q));
    }
    if let Ok(path) = std::env::var("FIND_EQUIV_OUT") {
        std::fs::write(path, &out).unwrap();
    }
    // FNV-1a, 64 bits.
    let digest = out.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    assert_eq!(
        format!("{digest:016x} {}", out.lines().count()),
        EXPECTED,
        "find's results changed (FIND_EQUIV_OUT=path writes them, to diff with the previous version)"
    );
}

/// The digest and line count of the rendering.
const EXPECTED: &str = "164a44f45613bbc3 7955";
