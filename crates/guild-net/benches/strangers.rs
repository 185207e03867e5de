//! Floods from strangers, round two (issue 20): what the network layer's admission costs and
//! what an honest peer sees during a flood.
//!
//! 1. **DHT store.** 92 fresh identities send 48 `ADD_PROVIDER` each (4,416) into a
//!    [`GuildStore`], from 4 addresses of one /24 and, separately, from 92 different /24s; then
//!    a newcomer announces a new skill. Per-call time (median, p90, max), what is held, and
//!    whether the newcomer is served.
//! 2. **Connection flood.** A victim with production inbound limits; a newcomer dials it and
//!    sends one direct request (echoed), 20 times while quiet and 20 times while 195
//!    connections from 13 loopback addresses (127.0.0.2–14) hold what they can. Dial + request
//!    round trip (median, p90, max).
//!
//! Run with `cargo bench -p guild-net --bench strangers`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/flood.rs"]
#[allow(dead_code)]
mod flood;

use std::time::{Duration, Instant};

use guild_net::{
    dht_store::{DhtStoreConfig, GuildStore, MAX_KEYS_PER_PROVIDER},
    identity::Keypair,
    spawn, Client, NetConfig, NetEvent, PeerId,
};
use libp2p::kad::{store::RecordStore, ProviderRecord, RecordKey};

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9), v[v.len() - 1])
}

fn dht(label: &str, addr_of: impl Fn(usize) -> String) {
    let mut store = GuildStore::new(PeerId::random(), DhtStoreConfig::default());
    let mut times = Vec::with_capacity(92 * MAX_KEYS_PER_PROVIDER);
    let mut i = 0u64;
    for f in 0..92 {
        let peer = PeerId::random();
        store.peer_connected(peer, Some(addr_of(f).parse().unwrap()));
        for _ in 0..MAX_KEYS_PER_PROVIDER {
            let record = ProviderRecord::new(RecordKey::new(&i.to_be_bytes()), peer, vec![]);
            let t = Instant::now();
            store.add_provider(record).unwrap();
            times.push(t.elapsed());
            i += 1;
        }
    }
    let newcomer = PeerId::random();
    store.peer_connected(newcomer, Some("198.51.100.9".parse().unwrap()));
    let skill = RecordKey::new(&"a new skill");
    store
        .add_provider(ProviderRecord::new(skill.clone(), newcomer, vec![]))
        .unwrap();
    let served = store
        .providers(&skill)
        .iter()
        .any(|p| p.provider == newcomer);
    let s = store.stats();
    let (p50, p90, max) = percentiles(times);
    println!(
        "| {label} | {} | {:.1} µs | {:.1} µs | {:.1} µs | {} | {} | {} |",
        92 * MAX_KEYS_PER_PROVIDER,
        p50.as_secs_f64() * 1e6,
        p90.as_secs_f64() * 1e6,
        max.as_secs_f64() * 1e6,
        s.stranger_records,
        s.evicted,
        if served { "yes" } else { "NO" },
    );
}

/// Starts a node that echoes direct requests.
async fn node(config: NetConfig) -> (Client, libp2p::Multiaddr) {
    let (client, mut events, _task) = spawn(Keypair::generate_ed25519(), config, None)
        .await
        .unwrap();
    let peer = client.local_peer_id();
    let addr = loop {
        if let Some(NetEvent::Listening(a)) = events.recv().await {
            break a.with_p2p(peer).unwrap();
        }
    };
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetEvent::InboundRequest { data, channel, .. } = event {
                let _ = responder.respond(channel, data).await;
            }
        }
    });
    (client, addr)
}

/// A fresh newcomer dials the victim and sends one request: the round trip of both.
async fn newcomer_round_trip(victim: &libp2p::Multiaddr, victim_peer: PeerId) -> Duration {
    let mut c = NetConfig::local("strangers-bench");
    c.listen.clear();
    let (client, _events, _task) = spawn(Keypair::generate_ed25519(), c, None).await.unwrap();
    let t = Instant::now();
    client.dial(victim.clone()).await.unwrap();
    client
        .request(victim_peer, b"hello".to_vec())
        .await
        .unwrap();
    let elapsed = t.elapsed();
    client.shutdown();
    elapsed
}

async fn connections() {
    let defaults = NetConfig::default();
    let mut config = NetConfig::local("strangers-bench");
    config.max_incoming_per_ip = defaults.max_incoming_per_ip;
    config.max_incoming_per_range = defaults.max_incoming_per_range;
    let (victim, addr) = node(config).await;
    let peer = victim.local_peer_id();
    let mut quiet = Vec::new();
    for _ in 0..20 {
        quiet.push(newcomer_round_trip(&addr, peer).await);
    }
    let t = Instant::now();
    let mut flooders = Vec::new();
    for a in 2..=14 {
        for _ in 0..15 {
            flooders.push(flood::connect_from(&format!("127.0.0.{a}"), &addr, None).await);
        }
    }
    let flood_time = t.elapsed();
    let mut during = Vec::new();
    for _ in 0..20 {
        during.push(newcomer_round_trip(&addr, peer).await);
    }
    let stats = victim.admission_stats().await.unwrap().connections;
    for (label, v) in [("quiet", quiet), ("during the flood", during)] {
        let (p50, p90, max) = percentiles(v);
        println!(
            "| {label} | {:.1} ms | {:.1} ms | {:.1} ms |",
            p50.as_secs_f64() * 1e3,
            p90.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
    println!(
        "flood of 195 connections sent in {:.2} s; guard: {stats:?}",
        flood_time.as_secs_f64()
    );
    drop(flooders);
}

fn main() {
    println!("| DHT flood | ADD_PROVIDER | median | p90 | max | strangers' records held | evicted | newcomer served |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    dht("92 identities, 4 addresses of one /24", |f| {
        format!("203.0.113.{}", f % 4)
    });
    dht("92 identities, 92 /24s", |f| format!("10.{f}.0.1"));
    println!();
    println!("| newcomer: dial + one request | median | p90 | max |");
    println!("|---|---:|---:|---:|");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(connections());
}
