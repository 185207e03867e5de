//! The find index alone, deterministically: the socket benchmark's 10^4 profiles and query mix,
//! searched on one thread by `Index::search` with no trust (every member a stranger), a fixed
//! number of queries. Prints the time per query; run under `valgrind --tool=callgrind` it gives
//! instruction counts, which unlike times do not depend on what else the machine is doing (the
//! figure in BENCHMARKS.md is the difference between `GUILD_BENCH_QUERIES=2000` and `=0`, over
//! 2000).
//!
//! `cargo bench -p guild-node --bench find_index`; `GUILD_BENCH_QUERIES` sets the number of
//! queries (default 20,000).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod fixture;

/// The daemon binary's allocator (`crates/guild/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use fixture::{find_words, profiles, vocabulary, Rng, SEED};
use guild_core::RecordId;
use guild_service::index::{Index, Query};
use std::time::Instant;

fn main() {
    let queries: usize = std::env::var("GUILD_BENCH_QUERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let vocab = vocabulary();
    // A fixed clock: freshness, and so every score, is the same on every run.
    let now = 1_800_000_000;
    let mut index = Index::default();
    for (i, (id, body)) in profiles(&vocab, &mut Rng(SEED), now).iter().enumerate() {
        let mut rid = [0u8; 32];
        rid[..8].copy_from_slice(&(i as u64).to_le_bytes());
        index.insert(id.public(), RecordId(rid), body);
    }
    index.refresh_vocabulary();
    let mut rng = Rng(7);
    let (mut results, mut checksum) = (0usize, 0u64);
    let started = Instant::now();
    for _ in 0..queries {
        let q = Query {
            words: Some(find_words(&mut rng, &vocab)),
            limit: guild_core::control::DEFAULT_FIND_LIMIT as usize,
            ..Query::default()
        };
        let (found, _) = index.search(&q, now, |_, _| None);
        results += found.len();
        checksum = found.iter().fold(checksum, |h, m| {
            h.rotate_left(7) ^ u64::from(m.peer.0[0]) ^ m.score.to_bits()
        });
    }
    let elapsed = started.elapsed();
    println!(
        "find index: {} profiles, {queries} queries, {:.1} results each, {:.1} µs per query \
         (checksum {checksum:016x})",
        index.len(),
        results as f64 / queries.max(1) as f64,
        elapsed.as_secs_f64() * 1e6 / queries.max(1) as f64,
    );
}
