//! Ingestion into one node's service of 10^5 mixed signed records — profiles, needs,
//! attestations (each backed by a closed collaboration whose proof is fetched and checked),
//! revocations by the records' issuers, strangers' revocations of others' records and of records
//! not held — including signature verification, validation, store and index updates and trust
//! maintenance. Prints the rate and the per-record cost over the first and the last 10 % of the
//! run: with indexes instead of scans the two stay close however much is stored.
//!
//! The records are signed before the clock starts (signing is the senders' work). The service is
//! driven directly, as the daemon loop drives it, with a virtual clock advancing 10 ms per record
//! so per-peer and per-issuer budgets refill as they would over the run's virtual 17 minutes;
//! proof requests are answered at once from the prepared proofs.
//!
//! Records are taken in by loop turns of 64 (`Service::received_records`, as the daemon takes
//! a turn's gossip: cheap checks, then the turn's signatures in one batch, then admission);
//! each turn's proof requests are answered before the next turn.
//!
//! `cargo bench -p guild-node --bench ingest` (`GUILD_BENCH_RECORDS` sets the total, default
//! 100000; `GUILD_BENCH_BATCH` the records per turn, default 64, 1 for one at a time;
//! `GUILD_BENCH_PROOFS=each` hands the service the turn's proofs one at a time instead of
//! together, as the daemon did before it took a turn's responses together).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::fixtures::{self, sign, tag, T0};
use guild_core::wire::{DirectRequest, DirectResponse};
use guild_core::{
    AnyRecord, Attestation, CollabEntry, EntryKind, Identity, Need, RecordId, RecordKind,
    Revocation,
};
use guild_service::{Io, Service, ServiceConfig, Via};
use guild_store::Store;
use std::collections::HashMap;
use std::time::Instant;

/// The daemon binary's allocator (`crates/guild/src/main.rs`): measured under glibc's malloc a
/// sixth of the intake's CPU went to allocating and freeing (sled's copied nodes, encodings).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Records taken in per loop turn, as the daemon does (its `MAX_NET_EVENTS_PER_TURN`).
const TURN: usize = 64;

/// Members who sign records.
const MEMBERS: usize = 2_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn revocation(by: &Identity, target: RecordId, kind: RecordKind, at: u64) -> AnyRecord {
    AnyRecord::Revocation(sign(
        Revocation {
            version: guild_core::record::RECORD_VERSION,
            issuer: by.public(),
            issued_at: at,
            expires_at: at + 30 * 86_400,
            target,
            target_kind: kind,
            reason: String::new(),
        },
        by,
    ))
}

/// The records to ingest, in arrival order, and the proofs by collaboration.
fn prepare(total: usize) -> (Vec<AnyRecord>, HashMap<RecordId, Vec<AnyRecord>>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let members: Vec<Identity> = (0..MEMBERS)
        .map(|i| {
            let mut s = [0u8; 32];
            s[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            Identity::from_secret(s)
        })
        .collect();
    let strangers: Vec<Identity> = (0..200)
        .map(|i| {
            let mut s = [0xeeu8; 32];
            s[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Identity::from_secret(s)
        })
        .collect();
    let skills = [
        "rust",
        "kicad",
        "pcb-design",
        "3d-printing",
        "cad",
        "review",
        "go",
        "ml",
    ];
    let mut out = Vec::with_capacity(total);
    let mut proofs = HashMap::new();
    let mut needs: Vec<(usize, RecordId)> = vec![];
    let mut atts: Vec<(usize, RecordId)> = vec![];
    let mut seq: HashMap<usize, u64> = HashMap::new();
    let mut prev: HashMap<usize, RecordId> = HashMap::new();
    let mut profile_version: HashMap<usize, u64> = HashMap::new();
    while out.len() < total {
        let at = T0 + out.len() as u64 / 100;
        let roll = rng.below(100);
        let i = rng.below(MEMBERS);
        let who = &members[i];
        let rec = if roll < 20 {
            // A profile (new or a newer version).
            let v = profile_version.entry(i).or_insert(0);
            *v += 1;
            let mut p = fixtures::profile(
                who,
                &format!("member {i}"),
                &[
                    skills[i % skills.len()],
                    skills[(i + 1 + (i / 8) % 7) % skills.len()],
                ],
                at + *v,
            );
            p.expires_at = p.issued_at + 20 * 86_400;
            AnyRecord::Profile(sign(p, who))
        } else if roll < 50 {
            let mut n = fixtures::need(who, "help wanted", &[skills[rng.below(skills.len())]], at);
            n.nonce = rng.next();
            let n = sign(n, who);
            needs.push((i, n.id()));
            AnyRecord::Need(n)
        } else if roll < 80 {
            // An attestation by i about j after a collaboration both closed their parts of.
            let j = (i + 1 + rng.below(MEMBERS - 1)) % MEMBERS;
            let subject = &members[j];
            let mut n: Need = fixtures::need(who, "work", &["rust"], at);
            n.nonce = rng.next();
            let n = sign(n, who);
            let o = sign(fixtures::offer(subject, &n, at), subject);
            let c = sign(fixtures::collaboration(who, n, vec![o], at), who);
            // Both sides close their parts: only then does the attestation count.
            let close = |by: &Identity, clock: u64| {
                AnyRecord::CollabEntry(sign(
                    CollabEntry {
                        version: guild_core::record::RECORD_VERSION,
                        issuer: by.public(),
                        collaboration: c.id(),
                        issued_at: at,
                        expires_at: at + 300 * 86_400,
                        seq: 1,
                        clock,
                        entry: EntryKind::Close,
                    },
                    by,
                ))
            };
            let closes = [close(who, 1), close(subject, 2)];
            let s = seq.entry(i).or_insert(0);
            *s += 1;
            let a = sign(
                Attestation {
                    skill: tag(skills[rng.below(skills.len())]),
                    seq: *s,
                    prev: prev.get(&i).copied(),
                    // Mostly praise, some criticism; never 0 (not a valid score).
                    score: if rng.below(5) == 0 {
                        -(1 + rng.below(5) as i8)
                    } else {
                        1 + rng.below(5) as i8
                    },
                    salt: rng.next().to_le_bytes().repeat(2).try_into().unwrap(),
                    ..fixtures::attestation(who, subject, c.id(), 5, at)
                },
                who,
            );
            prev.insert(i, a.id());
            proofs.insert(
                c.id(),
                [vec![AnyRecord::Collaboration(c)], closes.to_vec()].concat(),
            );
            atts.push((i, a.id()));
            AnyRecord::Attestation(a)
        } else if roll < 90 {
            // The issuer revokes one of its attestations or withdraws one of its needs.
            if roll < 85 && !atts.is_empty() {
                let (k, id) = atts.swap_remove(rng.below(atts.len()));
                revocation(&members[k], id, RecordKind::Attestation, at)
            } else if !needs.is_empty() {
                let (k, id) = needs.swap_remove(rng.below(needs.len()));
                revocation(&members[k], id, RecordKind::Need, at)
            } else {
                continue;
            }
        } else {
            // A stranger "revokes" someone else's record, or one nobody holds.
            let s = &strangers[rng.below(strangers.len())];
            if roll < 95 && !atts.is_empty() {
                let (_, id) = atts[rng.below(atts.len())];
                revocation(s, id, RecordKind::Attestation, at)
            } else {
                let mut junk = [0u8; 32];
                junk[..8].copy_from_slice(&rng.next().to_le_bytes());
                revocation(s, RecordId(junk), RecordKind::Need, at)
            }
        };
        out.push(rec);
    }
    (out, proofs)
}

fn main() {
    let total: usize = std::env::var("GUILD_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let t0 = Instant::now();
    let (records, proofs) = prepare(total);
    eprintln!("prepared {} records in {:.1?}", records.len(), t0.elapsed());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let cfg = ServiceConfig {
        records_per_peer_per_minute: 100_000,
        ..ServiceConfig::default()
    };
    let mut svc = Service::new(Identity::from_secret([200; 32]), store, cfg, 1, T0 * 1000).unwrap();
    let peers: Vec<guild_core::PublicKey> = (0..32u8)
        .map(|i| Identity::from_secret([100 + i; 32]).public())
        .collect();
    let tenth = records.len() / 10;
    let proofs_each = std::env::var("GUILD_BENCH_PROOFS").is_ok_and(|v| v == "each");
    let turn = std::env::var("GUILD_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(TURN)
        .max(1);
    let mut per_turn = Vec::with_capacity(records.len() / turn + 1);
    let mut per_record = Vec::with_capacity(records.len());
    let mut decile_cpu = Vec::new();
    let mut last_cpu = cpu_secs();
    let mut last_done = 0;
    let mut outcomes: HashMap<(&'static str, &'static str), usize> = HashMap::new();
    let cpu0 = cpu_secs();
    let start = Instant::now();
    let mut records = records.into_iter().enumerate().peekable();
    while records.peek().is_some() {
        let batch: Vec<(usize, AnyRecord)> = records.by_ref().take(turn).collect();
        let first = batch[0].0;
        let now = T0 * 1000 + first as u64 * 10;
        let t = Instant::now();
        let kinds: Vec<&'static str> = batch
            .iter()
            .map(|(_, r)| match r.kind() {
                RecordKind::Profile => "profile",
                RecordKind::Need => "need",
                RecordKind::Attestation => "attestation",
                RecordKind::Revocation => "revocation",
                _ => "other",
            })
            .collect();
        let input = batch
            .into_iter()
            .map(|(n, r)| (Some(peers[n % peers.len()]), r))
            .collect();
        let results = svc.received_records(input, Via::Gossip, now);
        for (kind, ok) in kinds.into_iter().zip(&results) {
            if let Err(e) = ok {
                if e.reason.label() == "malformed" && std::env::var("GUILD_BENCH_DEBUG").is_ok() {
                    eprintln!("{kind}: {e}");
                }
            }
            *outcomes
                .entry((
                    kind,
                    match ok {
                        Ok(_) => "accepted",
                        Err(e) => e.reason.label(),
                    },
                ))
                .or_default() += 1;
        }
        // Perform the effects as the loop would: answer proof requests from the issuer, the
        // turn's answers handed over together (or one at a time: `GUILD_BENCH_PROOFS=each`).
        let mut answers = Vec::new();
        for io in svc.take_outbox() {
            if let Io::Request {
                id,
                request: DirectRequest::Proof { collaboration },
                ..
            } = io
            {
                let records = proofs.get(&collaboration).cloned().unwrap_or_default();
                answers.push((id, Ok(DirectResponse::Records(records))));
            }
        }
        if proofs_each {
            for (id, result) in answers {
                svc.received_response(id, result, now);
            }
        } else if !answers.is_empty() {
            svc.received_responses(answers, now);
        }
        svc.take_outbox();
        let took = t.elapsed();
        per_turn.push(took);
        let n = results.len();
        per_record.extend(std::iter::repeat_n(took / n as u32, n));
        let done = first + n;
        if done / tenth > first / tenth {
            let c = cpu_secs();
            decile_cpu.push((c - last_cpu) / (done - last_done) as f64 * 1e6);
            last_cpu = c;
            last_done = done;
        }
    }
    let elapsed = start.elapsed();
    let cpu = cpu_secs() - cpu0;
    let n = per_record.len();
    let mean = |s: &[std::time::Duration]| {
        s.iter().map(|d| d.as_secs_f64()).sum::<f64>() / s.len().max(1) as f64 * 1e6
    };
    let first = mean(&per_record[..tenth]);
    let last = mean(&per_record[n - tenth..]);
    let mut outcomes: Vec<_> = outcomes.into_iter().collect();
    outcomes.sort();
    println!("records ingested: {n} in {elapsed:.2?}");
    println!(
        "rate: {:.0} records/s wall; {:.0} records per CPU-second (all threads: the loop and sled's)",
        n as f64 / elapsed.as_secs_f64(),
        n as f64 / cpu
    );
    println!(
        "wall per record, first 10 %: {first:.1} µs; last 10 %: {last:.1} µs; ratio {:.2}",
        last / first
    );
    println!(
        "CPU per record by tenth of the run (µs): {:?}; last/first {:.2}",
        decile_cpu.iter().map(|v| v.round()).collect::<Vec<_>>(),
        decile_cpu.last().copied().unwrap_or(0.0) / decile_cpu.first().copied().unwrap_or(1.0)
    );
    let mut sorted = per_turn.clone();
    sorted.sort();
    let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p) as usize];
    println!(
        "turns of {turn} records: median {:.2?}, p90 {:.2?}, max {:.2?} (per record: median {:.1} µs)",
        pct(0.5),
        pct(0.9),
        sorted.last().copied().unwrap_or_default(),
        pct(0.5).as_secs_f64() * 1e6 / turn as f64
    );
    println!("outcomes: {outcomes:?}");
    println!(
        "held at the end: {:?}; counted attestations {}; pending revocations {}",
        svc.counts(),
        svc.counted_attestations(),
        svc.pending_revocations()
    );
}

/// CPU time of this process so far (user + system), from /proc/self/stat.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}
