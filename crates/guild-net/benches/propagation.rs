//! Propagation benchmark: in-process meshes on loopback TCP (mDNS off).
//!
//! For meshes of 10 and 50 nodes (each bootstrapped from a couple of earlier nodes) it
//! publishes profile-sized messages (2 KiB) from random nodes, has every receiver validate
//! them (`Accept`, as the node service would), and reports per-delivery latency percentiles and
//! the delivery ratio; then it measures cold DHT `get_providers` lookups of keys provided by
//! one random node, from another random node.
//!
//! Run with `cargo bench -p guild-net --bench propagation`. Plain `main`, not criterion: the
//! figures are latencies of a distributed system, not of a function.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use guild_net::{identity::Keypair, spawn, Client, NetConfig, NetEvent, PeerId, Topic, Verdict};

/// Size of a published message: a signed profile is about this big.
const MESSAGE_SIZE: usize = 2048;
/// Publication patterns: (label, messages, pause between publications). The burst loads the
/// mesh (every receiver verifies every copy it gets); the steady rate is closer to a
/// community's real traffic and shows propagation without CPU queueing.
const PATTERNS: [(&str, usize, Duration); 2] = [
    ("burst", 200, Duration::from_millis(10)),
    ("steady", 50, Duration::from_millis(100)),
];
/// How long to wait for stragglers after the last publication.
const DRAIN: Duration = Duration::from_secs(10);
/// DHT lookups per mesh size.
const LOOKUPS: usize = 20;
/// Pause between announcing a key and looking it up. Kademlia reports an announcement done
/// once its messages are queued, not delivered; a real seeker comes much later.
const PROVIDE_SETTLE: Duration = Duration::from_millis(250);

/// Receive instants per message sequence number, per receiving node.
type Deliveries = Arc<Mutex<HashMap<u64, Vec<Instant>>>>;

/// A deterministic xorshift generator: reproducible choices without a dependency.
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

struct Node {
    client: Client,
    peer: PeerId,
}

/// Starts `n` nodes; node `i` bootstraps from node `i - 1` and one random earlier node.
/// Returns once every node has heard at least `min(n - 1, 4)` peers subscribe to profiles.
async fn mesh(n: usize, rng: &mut Rng, deliveries: &Deliveries) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::with_capacity(n);
    let mut addrs: Vec<guild_net::Multiaddr> = Vec::with_capacity(n);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(n);
    let wanted = (n - 1).min(4);
    for i in 0..n {
        let mut config = NetConfig::local("bench");
        // The production heartbeat: forwarding is immediate, the heartbeat only paces mesh
        // repair and IHAVE gossip.
        config.heartbeat_interval = guild_net::config::DEFAULT_HEARTBEAT_INTERVAL;
        if i > 0 {
            config.bootstrap.push(addrs[i - 1].clone());
            let other = rng.below(i);
            if other != i - 1 {
                config.bootstrap.push(addrs[other].clone());
            }
        }
        let (client, mut events, _task) = spawn(Keypair::generate_ed25519(), config, None)
            .await
            .expect("node starts");
        let peer = client.local_peer_id();
        let addr = loop {
            match events.recv().await.expect("running") {
                NetEvent::Listening(addr) => break addr.with_p2p(peer).unwrap(),
                _ => continue,
            }
        };
        addrs.push(addr);
        tokio::spawn(consume(
            client.clone(),
            events,
            deliveries.clone(),
            wanted,
            ready_tx.clone(),
        ));
        nodes.push(Node { client, peer });
    }
    for _ in 0..n {
        ready_rx.recv().await.expect("consumers running");
    }
    settle(&nodes).await;
    nodes
}

/// Waits until discovery has settled: Kademlia bootstraps make every node dial the others,
/// which keeps the CPU busy for several seconds on a 50-node mesh. Settled means the number of
/// connections did not change for three one-second samples and the process used less than a
/// third of a core meanwhile (bounded: at most a minute).
async fn settle(nodes: &[Node]) {
    let mut last = usize::MAX;
    let mut stable = 0;
    for _ in 0..60 {
        let cpu = cpu_share(Duration::from_secs(1)).await;
        let mut connections = 0;
        for node in nodes {
            connections += node.client.connected_peers().await.unwrap().len();
        }
        stable = if connections == last && cpu < 0.33 {
            stable + 1
        } else {
            0
        };
        last = connections;
        if stable == 3 {
            return;
        }
    }
    eprintln!("the mesh did not settle within a minute; measuring anyway");
}

/// A node's consumer: accepts every gossip message (recording when it arrived) and signals
/// readiness once `wanted` peers subscribed to profiles.
async fn consume(
    client: Client,
    mut events: tokio::sync::mpsc::Receiver<NetEvent>,
    deliveries: Deliveries,
    wanted: usize,
    ready: tokio::sync::mpsc::Sender<()>,
) {
    let mut subscribed = 0;
    let mut dropped = 0;
    while let Some(event) = events.recv().await {
        match event {
            NetEvent::Gossip {
                message_id,
                propagation_source,
                data,
                ..
            } => {
                let now = Instant::now();
                let seq = u64::from_be_bytes(data[..8].try_into().unwrap());
                deliveries.lock().unwrap().entry(seq).or_default().push(now);
                let _ = client
                    .report_validation(message_id, propagation_source, Verdict::Accept)
                    .await;
            }
            NetEvent::PeerSubscribed {
                topic: Topic::Profiles,
                ..
            } => {
                subscribed += 1;
                if subscribed == wanted {
                    let _ = ready.send(()).await;
                }
            }
            NetEvent::DroppedEvents { count } => {
                dropped += count;
                eprintln!("consumer dropped {dropped} events");
            }
            _ => {}
        }
    }
}

struct GossipFigures {
    nodes: usize,
    pattern: &'static str,
    spacing: Duration,
    messages: usize,
    expected: usize,
    delivered: usize,
    latencies: Vec<Duration>,
}

async fn gossip(
    nodes: &[Node],
    rng: &mut Rng,
    deliveries: &Deliveries,
    (pattern, messages, spacing): (&'static str, usize, Duration),
    first_seq: u64,
) -> GossipFigures {
    let mut published = HashMap::new();
    let mut failed = 0;
    for seq in first_seq..first_seq + messages as u64 {
        let from = rng.below(nodes.len());
        let mut data = vec![0u8; MESSAGE_SIZE];
        data[..8].copy_from_slice(&seq.to_be_bytes());
        for byte in &mut data[8..16] {
            *byte = rng.next() as u8; // unique content, unique id
        }
        let at = Instant::now();
        match nodes[from].client.publish(Topic::Profiles, data).await {
            Ok(_) => {
                published.insert(seq, at);
            }
            Err(e) => {
                failed += 1;
                eprintln!("publish {seq} failed: {e}");
            }
        }
        tokio::time::sleep(spacing).await;
    }
    let expected = published.len() * (nodes.len() - 1);
    let deadline = Instant::now() + DRAIN;
    loop {
        let delivered: usize = {
            let deliveries = deliveries.lock().unwrap();
            published
                .keys()
                .map(|seq| deliveries.get(seq).map_or(0, Vec::len))
                .sum()
        };
        if delivered >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = deliveries.lock().unwrap();
    let mut latencies = Vec::with_capacity(expected);
    for (seq, at) in &published {
        for received in deliveries.get(seq).into_iter().flatten() {
            latencies.push(received.duration_since(*at));
        }
    }
    latencies.sort();
    if failed > 0 {
        eprintln!("{failed} publications failed");
    }
    GossipFigures {
        nodes: nodes.len(),
        pattern,
        spacing,
        messages: published.len(),
        expected,
        delivered: latencies.len(),
        latencies,
    }
}

struct DhtFigures {
    nodes: usize,
    lookups: usize,
    found: usize,
    latencies: Vec<Duration>,
}

async fn dht(nodes: &[Node], rng: &mut Rng) -> DhtFigures {
    let mut latencies = Vec::new();
    let mut found = 0;
    for trial in 0..LOOKUPS {
        let provider = rng.below(nodes.len());
        let mut seeker = rng.below(nodes.len());
        while seeker == provider {
            seeker = rng.below(nodes.len());
        }
        // A 34-byte sha2-256 multihash-shaped key, fresh for every trial (cold lookup).
        let mut key = vec![0x12, 0x20];
        key.extend((0..32).map(|i| (rng.next() as u8) ^ (trial as u8) ^ i));
        nodes[provider]
            .client
            .start_providing(key.clone())
            .await
            .expect("provide");
        tokio::time::sleep(PROVIDE_SETTLE).await;
        let at = Instant::now();
        let providers = nodes[seeker].client.get_providers(key).await;
        latencies.push(at.elapsed());
        if providers.is_ok_and(|p| p.contains(&nodes[provider].peer)) {
            found += 1;
        }
    }
    latencies.sort();
    DhtFigures {
        nodes: nodes.len(),
        lookups: LOOKUPS,
        found,
        latencies,
    }
}

/// The share of one core this process used over `period` (Linux; NaN elsewhere).
async fn cpu_share(period: Duration) -> f64 {
    fn cpu_ticks() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the command.
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    }
    const TICKS_PER_SECOND: f64 = 100.0;
    let before = cpu_ticks();
    tokio::time::sleep(period).await;
    match (before, cpu_ticks()) {
        (Some(a), Some(b)) => (b - a) as f64 / TICKS_PER_SECOND / period.as_secs_f64(),
        _ => f64::NAN,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut gossip_rows = Vec::new();
        let mut dht_rows = Vec::new();
        for n in [10, 50] {
            let deliveries = Deliveries::default();
            let started = Instant::now();
            let nodes = mesh(n, &mut rng, &deliveries).await;
            let mut connections = 0;
            for node in &nodes {
                connections += node.client.connected_peers().await.unwrap().len();
            }
            let idle_cpu = cpu_share(Duration::from_secs(2)).await;
            eprintln!(
                "mesh of {n} ready in {:.1} s: {:.1} connected peers per node, \
                 idle CPU {:.0}% of one core",
                started.elapsed().as_secs_f64(),
                connections as f64 / n as f64,
                idle_cpu * 100.0
            );
            for (i, pattern) in PATTERNS.into_iter().enumerate() {
                let first_seq = i as u64 * 1_000_000;
                gossip_rows.push(gossip(&nodes, &mut rng, &deliveries, pattern, first_seq).await);
            }
            dht_rows.push(dht(&nodes, &mut rng).await);
            for node in &nodes {
                node.client.shutdown();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        println!();
        if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
            println!(
                "load average at the end (other processes share the machine): {}",
                load.trim()
            );
        }
        println!(
            "gossip, {MESSAGE_SIZE}-byte messages from random nodes, validated (Accept) by every \
             receiver; latency = publish call to receiver's event"
        );
        println!(
            "{:>6} {:>8} {:>8} {:>9} {:>12} {:>8} {:>9} {:>9} {:>9}",
            "nodes",
            "pattern",
            "every",
            "messages",
            "deliveries",
            "ratio",
            "p50 ms",
            "p99 ms",
            "max ms"
        );
        for row in &gossip_rows {
            println!(
                "{:>6} {:>8} {:>6}ms {:>9} {:>12} {:>8.4} {:>9.2} {:>9.2} {:>9.2}",
                row.nodes,
                row.pattern,
                row.spacing.as_millis(),
                row.messages,
                format!("{}/{}", row.delivered, row.expected),
                row.delivered as f64 / row.expected.max(1) as f64,
                percentile(&row.latencies, 50.0),
                percentile(&row.latencies, 99.0),
                percentile(&row.latencies, 100.0),
            );
        }
        println!();
        println!(
            "cold DHT get_providers (fresh key provided by one random node, looked up from \
             another {} ms later); latency = until the query finished",
            PROVIDE_SETTLE.as_millis()
        );
        println!(
            "{:>6} {:>9} {:>8} {:>9} {:>9} {:>9}",
            "nodes", "lookups", "found", "p50 ms", "p99 ms", "max ms"
        );
        for row in &dht_rows {
            println!(
                "{:>6} {:>9} {:>8} {:>9.2} {:>9.2} {:>9.2}",
                row.nodes,
                row.lookups,
                row.found,
                percentile(&row.latencies, 50.0),
                percentile(&row.latencies, 99.0),
                percentile(&row.latencies, 100.0),
            );
        }
    });
}
