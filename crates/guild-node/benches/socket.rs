//! Control-socket throughput and latency: `status` and `find` against a node whose index holds
//! 10^4 signed profiles, with 1 and 16 concurrent clients.
//!
//! Everything runs in this process on one multi-threaded runtime: a real node (loopback,
//! mDNS off, no peers), the real control server on a temp Unix socket, and N client tasks, each
//! with its own connection, sending one request at a time (the protocol answers in order, so
//! concurrency comes from connections). `find` is `local_only`, so it measures the index and the
//! socket, not the DHT. Clients and server share the machine's cores, so the figures are a
//! floor for what a separate client process would see. `find` results are counted from the raw
//! JSON, not decoded into `Value`s (see the comment in `client`).
//!
//! Each row also reports the process's CPU time per request (server and clients together, from
//! `/proc/self/stat`), which unlike the rate does not depend on the core count or on other
//! load on the machine. After the socket rows, `find` is also measured in-process on one thread:
//! the CPU time per query of `Node::find` alone (the index), and of the daemon's whole answer
//! (the call through the control handle and its JSON line), without the socket and the clients;
//! and what a bench client spends reading one such line, the clients' share of the socket rows
//! (and what a full decode into `Value`s would cost instead).
//!
//! `cargo bench -p guild-node --bench socket`; `GUILD_BENCH_SECS` sets the time per row (default
//! 3), `GUILD_BENCH_ONLY=find` (or `status`) runs one method's rows, e.g. under `perf record`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

/// The daemon binary's allocator (`crates/guild/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod fixture;

use fixture::{find_words, vocabulary, Rng, PROFILES, VOCABULARY};
use guild_core::control::{Call, Client, DaemonCall, FindParams, Response};
use guild_core::fixtures::sign;
use guild_core::Identity;
use guild_node::api::NodeHandle;
use guild_node::control::{self, Handle, ServerLimits, ServerStats};
use guild_node::node::{Node, NodeOptions};
use guild_service::index::Query;
use guild_store::Store;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Concurrent clients per row.
const CLIENTS: &[usize] = &[1, 16];
/// Unmeasured warm-up before each row.
const WARMUP: Duration = Duration::from_millis(300);

/// Fills a store with the fixture's signed profiles.
fn fill(store: &Store, vocab: &[String], rng: &mut Rng) {
    let now = guild_core::time::now();
    for (id, body) in fixture::profiles(vocab, rng, now) {
        store.put_profile(&sign(body, &id)).unwrap();
    }
    store.flush().unwrap();
}

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Status,
    Find,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Status => "status",
            Method::Find => "find",
        }
    }
}

/// One client: requests back to back until `end`; latencies of those started after `measure`.
async fn client(
    socket: &Path,
    method: Method,
    vocab: &[String],
    seed: u64,
    measure: Instant,
    end: Instant,
) -> (Vec<Duration>, usize, usize) {
    let mut client = Client::connect(socket).await.unwrap();
    let mut rng = Rng(seed | 1);
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut matches = 0usize;
    let mut requests = 0usize;
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        match method {
            Method::Status => {
                client.status().await.unwrap();
            }
            Method::Find => {
                let call = Call::Find(FindParams {
                    query: Some(find_words(&mut rng, vocab)),
                    local_only: true,
                    ..FindParams::default()
                });
                // Decoded as a load generator should: the whole answer is parsed and checked
                // (its envelope, id and JSON syntax), its results counted, nothing kept. A
                // full decode into `Value`s, as `Client::call` does, is measured apart below
                // (the last in-process row): it would otherwise be counted as the daemon's
                // latency, on the same two cores.
                let found: Counted = client.call_decode(&call).await.unwrap();
                matches += found.results.len();
            }
        }
        requests += 1;
        if started >= measure {
            latencies.push(started.elapsed());
        }
    }
    (latencies, matches, requests)
}

/// A `find` result as the bench clients read it: every result parsed, none kept.
#[derive(serde::Deserialize)]
struct Counted {
    results: Vec<serde::de::IgnoredAny>,
}

/// CPU time this process has used (all threads), from `/proc/self/stat`; `None` off Linux.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (USER_HZ, 100).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time the calling thread has used, from `/proc/thread-self/schedstat` (nanoseconds).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// The measurements in the order they print. Long (a script of phases) on purpose.
fn main() {
    let secs: f64 = std::env::var("GUILD_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let vocab = vocabulary();
        let mut rng = Rng(fixture::SEED);
        let store = Store::open(&dir.path().join("store")).unwrap();
        let filled = Instant::now();
        fill(&store, &vocab, &mut rng);
        let filled = filled.elapsed();

        let identity = Identity::from_secret([0xB0; 32]);
        let started = Instant::now();
        let (node, node_task) = Node::start(identity, store, NodeOptions::local("bench"), None)
            .await
            .unwrap();
        let started = started.elapsed();
        let socket = dir.path().join("guild.sock");
        let listener = control::bind(&socket).await.unwrap();
        let cancel = CancellationToken::new();
        let limits = ServerLimits {
            max_connections: 64,
            ..ServerLimits::default()
        };
        let server = tokio::spawn(control::serve(
            listener,
            NodeHandle::new(node.clone(), CancellationToken::new()),
            limits,
            ServerStats::default(),
            cancel.clone(),
        ));

        let indexed = Client::connect(&socket)
            .await
            .unwrap()
            .status()
            .await
            .unwrap()
            .index
            .profiles;
        assert_eq!(indexed, PROFILES as u64, "every profile is indexed");
        println!(
            "control socket: {PROFILES} indexed profiles over {VOCABULARY} skill tags \
             (signed and stored in {filled:.1?}, indexed at start in {started:.1?}); \
             {secs} s per row, {} cores",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        println!();
        println!("| method | clients | requests/s | p50 | p99 | mean results | CPU per request |");
        println!("|--------|--------:|-----------:|----:|----:|-------------:|----------------:|");
        let only = std::env::var("GUILD_BENCH_ONLY").ok();
        let methods = [Method::Status, Method::Find]
            .into_iter()
            .filter(|m| only.as_deref().is_none_or(|o| o == m.name()));
        for method in methods {
            for &n in CLIENTS {
                let measure = Instant::now() + WARMUP;
                let end = measure + Duration::from_secs_f64(secs);
                // The process's CPU time over the measured window, read by a task of its own.
                let cpu = tokio::spawn(async move {
                    tokio::time::sleep_until(measure.into()).await;
                    let a = process_cpu();
                    tokio::time::sleep_until(end.into()).await;
                    Some(process_cpu()?.saturating_sub(a?))
                });
                let tasks: Vec<_> = (0..n)
                    .map(|i| {
                        let socket = socket.clone();
                        let vocab = vocab.clone();
                        tokio::spawn(async move {
                            client(&socket, method, &vocab, 7 + i as u64 * 7919, measure, end).await
                        })
                    })
                    .collect();
                let mut all = Vec::new();
                let (mut matches, mut requests) = (0, 0);
                for t in tasks {
                    let (l, m, r) = t.await.unwrap();
                    all.extend(l);
                    matches += m;
                    requests += r;
                }
                all.sort_unstable();
                let cpu = match cpu.await.unwrap() {
                    Some(c) if !all.is_empty() => micros(c / all.len() as u32),
                    _ => "-".to_string(),
                };
                let rate = all.len() as f64 / secs;
                let mean_results = match method {
                    Method::Status => "-".to_string(),
                    Method::Find => format!("{:.1}", matches as f64 / requests.max(1) as f64),
                };
                println!(
                    "| {} | {n} | {rate:.0} | {} | {} | {mean_results} | {cpu} |",
                    method.name(),
                    micros(percentile(&all, 0.50)),
                    micros(percentile(&all, 0.99)),
                );
            }
        }
        if only.as_deref().is_none_or(|o| o == "find") {
            // In-process, on one blocking thread, timed by that thread's CPU clock.
            let handle = NodeHandle::new(node.clone(), CancellationToken::new());
            let (node2, vocab2) = (node.clone(), vocab.clone());
            let rows = tokio::task::spawn_blocking(move || {
                let rt = tokio::runtime::Handle::current();
                let run = |answer: bool| {
                    let mut rng = Rng(7);
                    let (mut n, mut bytes, mut results) = (0u32, 0usize, 0usize);
                    let mut line = Vec::new();
                    let warm = Instant::now() + WARMUP;
                    let end = warm + Duration::from_secs_f64(secs);
                    let mut start = None;
                    while Instant::now() < end {
                        if start.is_none() && Instant::now() >= warm {
                            start = thread_cpu();
                            (n, bytes, results) = (0, 0, 0);
                        }
                        let words = find_words(&mut rng, &vocab2);
                        if answer {
                            let call = DaemonCall::Find(FindParams {
                                query: Some(words),
                                local_only: true,
                                ..FindParams::default()
                            });
                            // What the server does: the handle's socket answer, encoded into
                            // a reused buffer.
                            let outcome = rt.block_on(handle.call_encoded(call.into()));
                            control::encode_response(1.into(), outcome, &mut line);
                            bytes += line.len();
                        } else {
                            let q = Query {
                                words: Some(words),
                                limit: guild_core::control::DEFAULT_FIND_LIMIT as usize,
                                ..Query::default()
                            };
                            results += rt.block_on(node2.find(q, true)).matches.len();
                        }
                        n += 1;
                    }
                    let cpu = match (start, thread_cpu()) {
                        (Some(a), Some(b)) if n > 0 => micros(b.saturating_sub(a) / n),
                        _ => "-".to_string(),
                    };
                    (
                        cpu,
                        results / n.max(1) as usize,
                        bytes / n.max(1) as usize,
                        line,
                    )
                };
                let (index, answer) = (run(false), run(true));
                // The bench client's share: reading one answer line as the bench clients do
                // (`Client::call_decode`, counting the results), and as `Client::call` does
                // (into `Value`s). The last answer above, a typical one.
                let last = &answer.3;
                let time = |decode: &dyn Fn()| {
                    let warm = Instant::now() + WARMUP;
                    let end = warm + Duration::from_secs_f64(secs);
                    let (mut n, mut start) = (0u32, None);
                    while Instant::now() < end {
                        if start.is_none() && Instant::now() >= warm {
                            start = thread_cpu();
                            n = 0;
                        }
                        decode();
                        n += 1;
                    }
                    match (start, thread_cpu()) {
                        (Some(a), Some(b)) if n > 0 => micros(b.saturating_sub(a) / n),
                        _ => "-".to_string(),
                    }
                };
                let light = time(&|| {
                    #[derive(serde::Deserialize)]
                    struct Envelope {
                        #[allow(dead_code)]
                        id: u64,
                        result: Counted,
                    }
                    let e: Envelope = serde_json::from_slice(last).unwrap();
                    std::hint::black_box(e.result.results.len());
                });
                let full = time(&|| {
                    let r: Response = serde_json::from_slice(last).unwrap();
                    std::hint::black_box(r);
                });
                let decode = (light, full);
                (index, answer, decode)
            })
            .await
            .unwrap();
            println!();
            println!("| find in-process, 1 thread | CPU per query |");
            println!("|---------------------------|--------------:|");
            println!(
                "| `Node::find` (index, {} results) | {} |",
                rows.0 .1, rows.0 .0
            );
            println!(
                "| control handle call + JSON line ({} bytes) | {} |",
                rows.1 .2, rows.1 .0
            );
            println!(
                "| bench client: reading one answer line (`Client::call_decode`, results counted) | {} |",
                rows.2 .0
            );
            println!(
                "| a full decode of the same line into `Value`s (`Client::call`) | {} |",
                rows.2 .1
            );
        }

        cancel.cancel();
        let _ = server.await;
        node.shutdown();
        let _ = node_task.await;
    });
}
