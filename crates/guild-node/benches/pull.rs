//! The pull workflow's two latencies (issue 5):
//!
//! 1. **ask → need.matched** in a 20-node mesh: real nodes in this process, each with its own
//!    libp2p swarm on loopback TCP (mDNS off) and its own sled store, node *i* bootstrapped from
//!    nodes *i−1, i−2, i−3*. Five nodes have the asked skill. Fifty asks, from the non-matching
//!    nodes in turn, one at a time; for each, the time from calling `ask` on the asker to
//!    `need.matched` on each matching node (so 250 pairs). Gossip relays over several hops: the
//!    asker reaches its direct peers by flood publishing, the rest through the gossipsub mesh.
//! 2. **find** on a node whose index holds 10^4 signed profiles (loaded from its store at
//!    start), `local_only`, for a few query shapes: the index and ranking, no network.
//!
//! `cargo bench -p guild-node --bench pull` (release). Prints tables; nothing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::control::pull::AskParams;
use guild_core::control::{Event, ProfileDraft};
use guild_core::fixtures::{profile, sign, tag};
use guild_core::{AnyRecord, Identity, Level, RecordId, Skill};
use guild_net::Multiaddr;
use guild_node::node::{Node, NodeOptions};
use guild_service::index::Query;
use guild_store::Store;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};

/// Nodes in the mesh.
const NODES: usize = 20;
/// Each node bootstraps from this many earlier nodes.
const BOOTSTRAP_FROM: usize = 3;
/// Every this-many-th node (from the last) has the asked skill: 5 of 20.
const MATCH_EVERY: usize = 4;
/// Measured asks.
const ASKS: usize = 50;
/// Unmeasured asks first, while gossipsub meshes settle.
const WARMUP_ASKS: usize = 5;
/// Longest wait for one need to reach every matching node.
const MATCH_TIMEOUT: Duration = Duration::from_secs(15);
/// Profiles in the `find` index.
const PROFILES: usize = 10_000;
/// Distinct skill tags across those profiles.
const VOCABULARY: usize = 300;
/// `find` calls per query shape.
const FINDS: usize = 2_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // `GUILD_BENCH_PART=mesh` or `=find` runs one part only.
    let part = std::env::var("GUILD_BENCH_PART").unwrap_or_default();
    runtime.block_on(async {
        if part.is_empty() || part == "mesh" {
            ask_to_matched().await;
        }
        if part.is_empty() || part == "find" {
            find_latency().await;
        }
    });
}

/// Awaits `f`, panicking with `what` if it takes longer than a minute: a benchmark that hangs
/// should say where.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("{what} took over a minute"))
}

/// Percentiles of a set of durations.
struct Summary {
    n: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

impl Summary {
    fn of(mut samples: Vec<Duration>) -> Summary {
        assert!(!samples.is_empty(), "no samples");
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Summary {
            n: samples.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: *samples.last().unwrap(),
        }
    }

    fn row(&self, what: &str) {
        println!(
            "| {what} | {} | {} | {} | {} | {} |",
            self.n,
            fmt(self.p50),
            fmt(self.p90),
            fmt(self.p99),
            fmt(self.max)
        );
    }
}

fn header(title: &str) {
    println!("\n{title}\n");
    println!("| measure | n | p50 | p90 | p99 | max |");
    println!("|---------|---|-----|-----|-----|-----|");
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1_000.0)
    }
}

struct MeshNode {
    node: Node,
    _dir: tempfile::TempDir,
}

async fn start_node(seed: u64, bootstrap: Vec<Multiaddr>) -> MeshNode {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut opts = NodeOptions::local("bench");
    opts.net.bootstrap = bootstrap;
    let (node, _task) = Node::start(identity(seed), store, opts, None)
        .await
        .unwrap();
    MeshNode { node, _dir: dir }
}

fn identity(n: u64) -> Identity {
    let mut secret = [0x5a; 32];
    secret[..8].copy_from_slice(&n.to_le_bytes());
    Identity::from_secret(secret)
}

fn is_matching(i: usize) -> bool {
    i % MATCH_EVERY == MATCH_EVERY - 1
}

/// Waits until every node has at least its bootstrap connections (edges to earlier nodes and
/// from later ones).
async fn wait_connected(nodes: &[MeshNode]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let short = (0..nodes.len()).find(|&i| {
            let expected =
                i.min(BOOTSTRAP_FROM) + (i + 1..nodes.len().min(i + 1 + BOOTSTRAP_FROM)).count();
            nodes[i].node.connected().len() < expected
        });
        match short {
            None => return,
            Some(i) if Instant::now() > deadline => panic!("node {i} did not connect"),
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn ask_to_matched() {
    let setup = Instant::now();
    let mut nodes: Vec<MeshNode> = Vec::with_capacity(NODES);
    let mut addrs: Vec<Multiaddr> = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let bootstrap = addrs[i.saturating_sub(BOOTSTRAP_FROM)..i].to_vec();
        let n = within("a mesh node to start", start_node(i as u64, bootstrap)).await;
        addrs.push(within("a listen address", n.node.dial_addr()).await);
        nodes.push(n);
    }
    wait_connected(&nodes).await;

    // Matching nodes say they have the skill; each forwards its need.matched events, stamped on
    // arrival, to one channel.
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, RecordId, Instant)>();
    let mut matching = vec![];
    for (i, n) in nodes.iter().enumerate() {
        if !is_matching(i) {
            continue;
        }
        matching.push(i);
        n.node
            .set_own_profile(ProfileDraft {
                name: format!("node {i}"),
                skills: vec![Skill {
                    tag: tag("kicad"),
                    level: Level::Advanced,
                }],
                ..Default::default()
            })
            .await
            .unwrap();
        let mut events = n.node.subscribe();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Event::NeedMatched { need, .. }) => {
                        let _ = tx.send((i, need, Instant::now()));
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
    let askers: Vec<usize> = (0..NODES).filter(|i| !is_matching(*i)).collect();
    let setup = setup.elapsed();

    let mut latencies = vec![];
    let mut ask_calls = vec![];
    let mut first = vec![];
    let mut last = vec![];
    let mut missed = 0;
    let mut early: HashMap<RecordId, Vec<(usize, Instant)>> = HashMap::new();
    for k in 0..WARMUP_ASKS + ASKS {
        let asker = &nodes[askers[k % askers.len()]].node;
        let started = Instant::now();
        let asked = within(
            "ask",
            asker.ask(AskParams {
                text: format!("review my KiCad layout #{k}"),
                skills: vec![tag("kicad"), tag("pcb-design")],
                resources: vec![],
                expires_secs: Some(3_600),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
        let returned = started.elapsed();
        let need = asked.need.id;
        let mut arrivals: Vec<(usize, Instant)> = early.remove(&need).unwrap_or_default();
        let deadline = tokio::time::Instant::now() + MATCH_TIMEOUT;
        while arrivals.len() < matching.len() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((node, id, at))) if id == need => arrivals.push((node, at)),
                // A late arrival of an earlier need (after its timeout): not this one.
                Ok(Some((node, id, at))) => early.entry(id).or_default().push((node, at)),
                Ok(None) | Err(_) => break,
            }
        }
        if k < WARMUP_ASKS {
            continue;
        }
        ask_calls.push(returned);
        missed += matching.len() - arrivals.len();
        let times: Vec<Duration> = arrivals.iter().map(|(_, at)| *at - started).collect();
        if let (Some(min), Some(max)) = (times.iter().min(), times.iter().max()) {
            first.push(*min);
            last.push(*max);
        }
        latencies.extend(times);
    }

    header(&format!(
        "ask → need.matched: {NODES} nodes, each bootstrapped from {BOOTSTRAP_FROM} earlier ones, \
         {} matching, {ASKS} asks (set-up {:.1} s)",
        matching.len(),
        setup.as_secs_f64()
    ));
    Summary::of(ask_calls).row("`ask` call returns (sign, store, flush, publish)");
    Summary::of(latencies).row("ask → need.matched, every (ask, matching node) pair");
    Summary::of(first).row("ask → first matching node told");
    Summary::of(last).row("ask → last matching node told");
    println!(
        "\nmissed: {missed} of {} pairs not told within {MATCH_TIMEOUT:?}",
        ASKS * matching.len()
    );
    for n in &nodes {
        n.node.shutdown();
    }
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A tag index skewed towards the popular end, as real skill vocabularies are.
    fn tag(&mut self) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u) * VOCABULARY as f64) as usize
    }
}

async fn find_latency() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let vocabulary: Vec<String> = (0..VOCABULARY).map(|i| format!("skill-{i:03}")).collect();
    let fill = Instant::now();
    let store = Store::open(&path).unwrap();
    {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let now = guild_core::time::now();
        for p in 0..PROFILES {
            let id = identity(1_000_000 + p as u64);
            let count = 2 + (rng.next() % 5) as usize;
            let mut skills: Vec<&str> =
                (0..count).map(|_| vocabulary[rng.tag()].as_str()).collect();
            skills.sort();
            skills.dedup();
            let body = profile(&id, &format!("member {p}"), &skills, now);
            store
                .put_record(&AnyRecord::Profile(sign(body, &id)))
                .unwrap();
        }
        store.flush().unwrap();
    }
    let fill = fill.elapsed();
    // The node loads its index from the store as it starts.
    let load = Instant::now();
    let (node, _task) = within(
        "the find node to start",
        Node::start(
            identity(0xF1D),
            store,
            NodeOptions::local("bench-find"),
            None,
        ),
    )
    .await
    .unwrap();
    let load = load.elapsed();
    assert!(
        node.indexed_profiles() >= PROFILES,
        "only {} profiles indexed",
        node.indexed_profiles()
    );

    let skills = |tags: &[&str]| tags.iter().map(|t| tag(t)).collect::<Vec<_>>();
    let shapes: Vec<(&str, Query)> = vec![
        (
            "1 popular skill (~1/6 of profiles)",
            Query {
                skills: skills(&["skill-000"]),
                limit: 20,
                ..Default::default()
            },
        ),
        (
            "2 skills, popular + rare",
            Query {
                skills: skills(&["skill-001", "skill-250"]),
                limit: 20,
                ..Default::default()
            },
        ),
        (
            "3 skills",
            Query {
                skills: skills(&["skill-002", "skill-040", "skill-120"]),
                limit: 20,
                ..Default::default()
            },
        ),
        (
            "1 rare skill",
            Query {
                skills: skills(&["skill-290"]),
                limit: 20,
                ..Default::default()
            },
        ),
        (
            "resource on every profile",
            Query {
                resources: skills(&["3d-printer"]),
                limit: 20,
                ..Default::default()
            },
        ),
        (
            "unknown tag (suggestions)",
            Query {
                skills: skills(&["skil-042"]),
                limit: 20,
                ..Default::default()
            },
        ),
    ];
    header(&format!(
        "find, local_only, limit 20: {} profiles indexed over {VOCABULARY} tags \
         (store filled in {:.1} s, node start with index load {:.2} s)",
        node.indexed_profiles(),
        fill.as_secs_f64(),
        load.as_secs_f64()
    ));
    for (what, q) in shapes {
        let mut results = 0;
        for _ in 0..FINDS / 10 {
            results = within("find", node.find(q.clone(), true))
                .await
                .matches
                .len();
        }
        let mut samples = Vec::with_capacity(FINDS);
        for _ in 0..FINDS {
            let started = Instant::now();
            let out = within("find", node.find(q.clone(), true)).await;
            samples.push(started.elapsed());
            std::hint::black_box(out);
        }
        Summary::of(samples).row(&format!("{what} → {results} results"));
    }
    node.shutdown();
}
