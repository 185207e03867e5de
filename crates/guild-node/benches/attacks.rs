//! Issue 20's attacks against real daemons on 127.0.0.1, each measured from the side of an
//! *uninvolved* peer: a member U of the victim V (a trust root of V, connected before the
//! attack) that keeps asking V for its profile (`GetProfile`) while the attack runs. For each
//! attack: U's request latency quiet and during the attack (median, p90, max, n), and how much
//! the victim's store grew (encoded records) against the documented bound.
//!
//! - **connections**: 195 connections from 13 addresses of 127.0.0.0/24 (15 each), held; a
//!   victim with production inbound limits. Then as many again, all at once, from another /24,
//!   with a newcomer dialling behind them (its handshake time: what accept pacing costs it).
//! - **needs**: 900 needs from 300 fresh keys published on gossip, all matching V's skill.
//! - **messages**: one stranger delivers 2,000 messages of 3 KB.
//! - **offers**: 100 fresh keys × 3 offers on V's need (one connection each), all 300 sent at
//!   once (the attack at full speed: its worst case).
//! - **crowd**: the same 100 keys × 20 messages of 3 KB, all at once (6 MB, every message
//!   within its sender's rate).
//! - **invitations**: 40 fresh inviters each send an invitation with a 120 KiB log, and one
//!   stranger sends 300 invitations whose log breaks the 128 KiB limit, 4 at a time.
//! - **DHT providers**: 92 fresh identities announce 48 skill keys each (4,416
//!   `ADD_PROVIDER`), all at once.
//! - **bans**: 20 fresh keys in turn send malformed requests until banned; each is replaced by
//!   a fresh key from the same address.
//!
//! The victim runs on a runtime of its own (2 worker threads, as the daemon process would on
//! this machine) and U on another (1 thread): the attackers' tasks never run on their threads.
//! On a machine with two or more cores the bench also keeps them apart on the cores, as if the
//! attackers were another host: the victim's and U's threads run on one core, the attackers'
//! on another (`sched_setaffinity`; loopback traffic is processed by the sending thread, so
//! the attackers' sends are charged to their core). `GUILD_BENCH_PIN=0` lets every thread run
//! anywhere, as before, where the attackers' work competes with the victim's for the same cores. Each quiet baseline is taken once the victim has settled — no signature job
//! or sync running or queued, as its status says (`Snapshot::work`) — after the previous
//! attack's requests were all answered.
//!
//! `cargo bench -p guild-node --bench attacks` (release; `GUILD_BENCH_QUICK=1` shrinks the sizes,
//! `GUILD_BENCH_ONLY=connections,oversized` runs only the attacks named, see [`only`];
//! `GUILD_BENCH_HANDSHAKE_BURST=2` gives the first victim another handshake burst per address,
//! `GUILD_BENCH_VICTIM_THREADS=1` another number of worker threads,
//! `GUILD_BENCH_ACCEPT_PACING=off` lifts the first victim's accept pacing,
//! `GUILD_BENCH_STRANGER_READS=off` the second victim's limits on strangers' reads,
//! `GUILD_BENCH_STRANGERS_TOTAL=off` only the total of all strangers' reads).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "../../guild-net/tests/support/flood.rs"]
mod flood;

use common::{options, Rogue, TestNode};
use guild_core::control::pull::AskParams;
use guild_core::control::reputation::TrustAddParams;
use guild_core::control::ServiceCall;
use guild_core::fixtures::{self, sign, tag};
use guild_core::wire::{DirectRequest, MAX_INVITE_LOG_BYTES};
use guild_core::{
    codec, AnyRecord, CollabEntry, EntryKind, Identity, Message, Need, PublicKey, RecordId,
    RecordKind, Signed, UnixTime,
};
use guild_net::{NetConfig, Topic};
use guild_node::node::NodeOptions;
use guild_service::admission;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn quick() -> bool {
    std::env::var_os("GUILD_BENCH_QUICK").is_some()
}

/// Whether to run the attack named `row`: every attack, or those `GUILD_BENCH_ONLY` lists
/// (comma-separated: connections, needs, messages, offers, crowd, invitations, dht, oversized,
/// bans),
/// to profile one attack alone.
fn only(row: &str) -> bool {
    std::env::var("GUILD_BENCH_ONLY").map_or(true, |list| list.split(',').any(|r| r.trim() == row))
}

/// The `i`-th fresh identity of attack `tag` (a new key costs the attacker nothing).
fn fresh(tag: u8, i: u32) -> Identity {
    let mut secret = [tag; 32];
    secret[..4].copy_from_slice(&i.to_le_bytes());
    secret[4] = 0x7e;
    Identity::from_secret(secret)
}

async fn trust_root(victim: &TestNode, who: PublicKey) {
    victim
        .node
        .call(ServiceCall::TrustAdd(TrustAddParams {
            peer: who,
            skill: None,
            note: "uninvolved member".into(),
        }))
        .await
        .unwrap();
}

/// Encoded bytes of the records V holds of the kinds a stranger can make it store.
fn stored_bytes(v: &TestNode) -> u64 {
    let mut total = 0;
    for kind in [
        RecordKind::Need,
        RecordKind::Offer,
        RecordKind::Message,
        RecordKind::Collaboration,
        RecordKind::CollabEntry,
        RecordKind::Attestation,
        RecordKind::Revocation,
    ] {
        for r in v.node.store().records_of_kind(kind) {
            total += r.unwrap().encode().unwrap().len() as u64;
        }
    }
    total
}

/// The uninvolved member: a raw client on a runtime of its own (one thread), so that its
/// requests are timed apart from the attackers' tasks.
#[derive(Clone)]
struct Uninvolved {
    client: guild_net::Client,
    target: guild_net::PeerId,
    rt: tokio::runtime::Handle,
}

impl Uninvolved {
    /// Connects U (identity `seed`) to `v`, on `rt`. U acknowledges whatever V asks (its
    /// syncs), like a cooperating member.
    async fn start(rt: &tokio::runtime::Runtime, seed: u8, v: &TestNode) -> Uninvolved {
        let mut cfg = NetConfig::local(v.node.community());
        cfg.bootstrap = vec![v.addr().await];
        let target = v.node.peer_id();
        let kp = fixtures::identity(seed).keypair();
        let client = rt
            .spawn(async move {
                let (client, mut events, _task) = guild_net::spawn(kp, cfg, None).await.unwrap();
                let responder = client.clone();
                tokio::spawn(async move {
                    while let Some(ev) = events.recv().await {
                        if let guild_net::NetEvent::InboundRequest { channel, .. } = ev {
                            let ack =
                                codec::encode(&guild_core::wire::DirectResponse::Ack).unwrap();
                            let _ = responder.respond(channel, ack).await;
                        }
                    }
                });
                client
            })
            .await
            .unwrap();
        Uninvolved {
            client,
            target,
            rt: rt.handle().clone(),
        }
    }

    /// U's latencies (on its runtime) while `running` holds: at least `min`, at most `max`.
    async fn sample(&self, running: Arc<AtomicBool>, min: usize, max: usize) -> Vec<f64> {
        let (client, target) = (self.client.clone(), self.target);
        self.rt
            .spawn(async move {
                let mut out = Vec::new();
                while out.len() < max && (running.load(Ordering::Relaxed) || out.len() < min) {
                    out.push(one_request(&client, target).await);
                }
                out
            })
            .await
            .unwrap()
    }
}

/// One `GetProfile` from U to V, milliseconds.
async fn one_request(client: &guild_net::Client, target: guild_net::PeerId) -> f64 {
    let req = codec::encode(&DirectRequest::GetProfile).unwrap();
    let t = Instant::now();
    let _ = client.request(target, req).await;
    t.elapsed().as_secs_f64() * 1e3
}

/// A response, as a short label for the table.
fn answer<E>(r: Result<Vec<u8>, E>) -> String {
    use guild_core::wire::DirectResponse;
    match r.map(|b| codec::decode::<DirectResponse>(&b, 1 << 20)) {
        Ok(Ok(DirectResponse::Ack)) => "Ack".into(),
        Ok(Ok(DirectResponse::Error { reason, .. })) => format!("{reason:?}"),
        Ok(Ok(_)) => "other".into(),
        Ok(Err(_)) => "undecodable".into(),
        Err(_) => "no answer".into(),
    }
}

/// Sends every request at once, each to the victim over its rogue's client (`clients[k]`),
/// prints when they were answered (median / p90 / max after the start) and counts the answers.
async fn send_all(
    clients: &[(guild_net::Client, guild_net::PeerId)],
    requests: Vec<(usize, Vec<u8>)>,
    what: &str,
) -> std::collections::BTreeMap<String, u32> {
    let start = Instant::now();
    let sent = requests.into_iter().map(|(k, r)| {
        let (c, t) = clients[k].clone();
        async move { (c.request(t, r).await, start.elapsed()) }
    });
    let mut all = std::collections::BTreeMap::<String, u32>::new();
    let mut took = Vec::new();
    for (a, at) in futures::future::join_all(sent).await {
        *all.entry(answer(a)).or_default() += 1;
        took.push(at.as_secs_f64() * 1e3);
    }
    took.sort_by(f64::total_cmp);
    if let Some(last) = took.len().checked_sub(1) {
        let at = |q: f64| took[(last as f64 * q) as usize];
        eprintln!(
            "  {what} answered after {:.0} / {:.0} / {:.0} ms (median / p90 / max)",
            at(0.5),
            at(0.9),
            at(1.0)
        );
    }
    all
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return "– (n=0)".into();
    }
    let at = |q: f64| v[((n as f64 * q).ceil() as usize).clamp(1, n) - 1];
    format!(
        "{:.2} / {:.2} / {:.2} ms (n={n})",
        at(0.5),
        at(0.9),
        v[n - 1]
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

struct Row {
    attack: &'static str,
    quiet: Vec<f64>,
    during: Vec<f64>,
    grew: u64,
    bound: String,
    note: String,
}

fn header() {
    println!(
        "\nIssue 20's attacks, uninvolved member U's `GetProfile` latency at the victim \
         ({} build, real daemons on 127.0.0.1):\n",
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        }
    );
    println!("| attack | U quiet: median / p90 / max | U during: median / p90 / max | during/quiet (median) | store grew | bound | what happened |");
    println!("|---|---|---|---:|---:|---|---|");
}

/// Prints one row as soon as its attack is over (a long run shows what it has so far).
fn print(r: Row) {
    let ratio = median(r.during.clone()) / median(r.quiet.clone()).max(1e-9);
    println!(
        "| {} | {} | {} | {:.2}× | {} B | {} | {} |",
        r.attack,
        stats(r.quiet),
        stats(r.during),
        ratio,
        r.grew,
        r.bound,
        r.note
    );
}

/// Runs `attack` while U samples; returns U's latencies during it.
async fn during<F>(u: &Uninvolved, min: usize, attack: F) -> (Vec<f64>, F::Output)
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let running = Arc::new(AtomicBool::new(true));
    let flag = running.clone();
    let cpu = Cpu::start();
    let task = tokio::spawn(async move {
        let out = attack.await;
        flag.store(false, Ordering::Relaxed);
        out
    });
    let samples = u.sample(running, min, 100_000).await;
    let out = task.await.unwrap();
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    eprintln!("  {} ({fds} open files)", cpu.report());
    (samples, out)
}

/// Answers whatever V asks a raw peer (its syncs on connect) with `Ack`, as a `Rogue` does, so
/// that V's syncs end at once rather than at the request timeout. Ends with the peer's node.
async fn acknowledge(
    client: guild_net::Client,
    mut events: tokio::sync::mpsc::Receiver<guild_net::NetEvent>,
) {
    while let Some(ev) = events.recv().await {
        if let guild_net::NetEvent::InboundRequest { channel, .. } = ev {
            let ack = codec::encode(&guild_core::wire::DirectResponse::Ack).unwrap();
            let _ = client.respond(channel, ack).await;
        }
    }
}

/// A raw stranger whose requests may be as large as the protocol allows (a `Rogue` keeps the
/// 64 KiB default), connected to V; its client and V's peer id.
async fn big_rogue(seed: u8, v: &TestNode) -> (guild_net::Client, guild_net::PeerId) {
    let mut cfg = NetConfig::local(v.node.community());
    cfg.bootstrap = vec![v.addr().await];
    cfg.max_message_size = guild_core::wire::MAX_REQUEST_BYTES;
    cfg.max_response_size = guild_core::wire::MAX_RESPONSE_BYTES;
    let (client, events, _task) = guild_net::spawn(fixtures::identity(seed).keypair(), cfg, None)
        .await
        .unwrap();
    tokio::spawn(acknowledge(client.clone(), events));
    let target = v.node.peer_id();
    // Connected once a first request is answered.
    let _ = client
        .request(target, codec::encode(&DirectRequest::GetProfile).unwrap())
        .await;
    (client, target)
}

/// A victim with a profile, started on `rt`, and U (on `urt`) connected and trusted.
async fn victim_and_u(
    rt: &tokio::runtime::Runtime,
    urt: &tokio::runtime::Runtime,
    seed: u8,
    opts: NodeOptions,
) -> (TestNode, Uninvolved) {
    let v = rt
        .spawn(TestNode::start(seed, opts))
        .await
        .expect("the victim starts");
    v.set_skills("vic", &["kicad"]).await;
    let u = Uninvolved::start(urt, seed + 1, &v).await;
    let ku = fixtures::identity(seed + 1).public();
    trust_root(&v, ku).await;
    let vr = &v;
    common::poll_until_async("the network layer counts U as known", || async move {
        vr.node
            .net()
            .admission_stats()
            .await
            .unwrap()
            .connections
            .known
            >= 1
    })
    .await;
    (v, u)
}

/// Waits until the victim has no work left for its peers: no signature job, no sync running
/// or queued (its status, not a sleep).
async fn settled(v: &TestNode) {
    let mut rx = v.node.watch_snapshot();
    let t = Instant::now();
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        rx.wait_for(|s| s.work == guild_service::InFlight::default()),
    )
    .await;
    let waited = t.elapsed().as_millis();
    match done {
        Ok(_) => eprintln!("(settled after {waited} ms)"),
        Err(_) => eprintln!(
            "(NOT settled after {waited} ms: {:?})",
            v.node.snapshot().work
        ),
    }
}

/// CPU time (user + system, ms) of this process's threads named `name` (the victim's runtime
/// threads are named "victim", the attackers' are tokio's default "tokio-rt-worker"), from
/// `/proc/self/task/*/stat` (10 ms ticks). Threads that ended are not counted.
fn cpu_ms(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut ticks = 0u64;
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state ...": fields after the closing parenthesis, utime and stime are
        // the 12th and 13th.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let rest: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let field = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        ticks += field(11) + field(12);
    }
    ticks * 10
}

/// CPU use over an attack window: (victim ms, attackers ms, wall ms).
struct Cpu {
    victim: u64,
    attackers: u64,
    at: Instant,
}

impl Cpu {
    fn start() -> Cpu {
        Cpu {
            victim: cpu_ms("victim"),
            attackers: cpu_ms("tokio-rt-worker"),
            at: Instant::now(),
        }
    }

    fn report(&self) -> String {
        let wall = self.at.elapsed().as_millis().max(1) as u64;
        let v = cpu_ms("victim").saturating_sub(self.victim);
        let a = cpu_ms("tokio-rt-worker").saturating_sub(self.attackers);
        format!(
            "CPU over {wall} ms: victim {v} ms ({}%), attackers {a} ms ({}%)",
            v * 100 / wall,
            a * 100 / wall
        )
    }
}

/// The machine's load average over the last minute.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// U's latencies with no attack running, once the victim has settled from what came before.
async fn quiet(u: &Uninvolved, v: &TestNode) -> Vec<f64> {
    settled(v).await;
    let idle = Arc::new(AtomicBool::new(false));
    u.sample(idle.clone(), 20, 20).await; // warm up
    u.sample(
        idle,
        if quick() { 50 } else { 300 },
        if quick() { 50 } else { 300 },
    )
    .await
}

fn entry(
    by: &Identity,
    collab: RecordId,
    seq: u64,
    e: EntryKind,
    at: UnixTime,
) -> Signed<CollabEntry> {
    sign(
        CollabEntry {
            version: guild_core::record::entry_version(&e),
            issuer: by.public(),
            collaboration: collab,
            issued_at: at,
            expires_at: at + 365 * 86_400,
            seq,
            clock: seq,
            entry: e,
        },
        by,
    )
}

/// An invitation of `to` by a fresh inviter, with `posts` posts of 800 bytes in its log.
fn invitation(inviter: &Identity, to: PublicKey, posts: usize, at: UnixTime, i: u32) -> Vec<u8> {
    let helper = fresh(0x99, i);
    let mut n = fixtures::need(inviter, &format!("job {i}"), &["kicad"], at);
    n.nonce = u64::from(i);
    let n = sign(n, inviter);
    let o = sign(fixtures::offer(&helper, &n, at), &helper);
    let c = sign(fixtures::collaboration(inviter, n, vec![o], at), inviter);
    let inv = entry(inviter, c.id(), 1, EntryKind::Invite { member: to }, at);
    let log: Vec<AnyRecord> = (0..posts)
        .map(|k| {
            AnyRecord::CollabEntry(entry(
                inviter,
                c.id(),
                2 + k as u64,
                EntryKind::Post {
                    text: format!("{k:04}{}", "p".repeat(796)),
                },
                at,
            ))
        })
        .collect();
    codec::encode(&DirectRequest::Invite {
        collaboration: Box::new(AnyRecord::Collaboration(c)),
        invite: Box::new(AnyRecord::CollabEntry(inv)),
        log,
    })
    .unwrap()
}

/// The attacks one after another, each with its quiet baseline. Long (a script of phases, in
/// the order the table prints them) on purpose.
/// Where the bench's threads run: `(victim and U, attackers)`, two distinct cores of those this
/// process may use, or `None` (`GUILD_BENCH_PIN=0`, or fewer than two cores).
fn placement() -> Option<(usize, usize)> {
    if std::env::var("GUILD_BENCH_PIN").is_ok_and(|v| v == "0") {
        return None;
    }
    let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok()?;
    let mut cores = (0..nix::sched::CpuSet::count()).filter(|&c| allowed.is_set(c) == Ok(true));
    Some((cores.next()?, cores.next()?))
}

/// The victim's worker threads: `GUILD_BENCH_VICTIM_THREADS`, else 2 (the daemon's runtime on
/// this two-core machine; pinned, both share the victim's core).
fn victim_threads() -> usize {
    std::env::var("GUILD_BENCH_VICTIM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(2)
}

/// Keeps the calling thread (and the threads it starts) on `core`.
fn pin(core: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(core).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

/// A multi-thread runtime named `name` whose threads run on `core` (when given).
fn runtime(name: &str, threads: usize, core: Option<usize>) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .on_thread_start(move || {
            if let Some(c) = core {
                pin(c);
            }
        })
        .enable_all()
        .build()
        .unwrap()
}

fn main() {
    let place = placement();
    // The attackers: this runtime's tasks (raw peers, flooders, fresh identities).
    let attackers = runtime("tokio-rt-worker", 2, place.map(|p| p.1));
    attackers.block_on(run(place));
}

async fn run(place: Option<(usize, usize)>) {
    header();
    eprintln!("load average at start: {}", load());
    match place {
        Some((v, a)) => eprintln!(
            "threads: victim and U on core {v}, attackers on core {a} (GUILD_BENCH_PIN=0: anywhere)"
        ),
        None => eprintln!("threads: anywhere (attackers compete with the victim for the cores)"),
    }
    let victims = runtime("victim", victim_threads(), place.map(|p| p.0));
    let uninvolved = runtime("uninvolved", 1, place.map(|p| p.0));

    // ---- 1. connection slots (production inbound limits) --------------------------------
    if only("connections") {
        let mut o = options("main", &[]);
        let d = NetConfig::default();
        o.net.max_incoming_per_ip = d.max_incoming_per_ip;
        o.net.max_incoming_per_range = d.max_incoming_per_range;
        o.net.handshake_burst_per_ip = std::env::var("GUILD_BENCH_HANDSHAKE_BURST")
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or(d.handshake_burst_per_ip);
        o.net.handshakes_per_ip_per_minute = d.handshakes_per_ip_per_minute;
        if std::env::var("GUILD_BENCH_ACCEPT_PACING").is_ok_and(|v| v == "off") {
            // As before accept pacing: every connection taken as it comes.
            o.net.accept_burst = 1 << 20;
            o.net.accepts_per_second = 1 << 20;
        }
        let (v, u) = victim_and_u(&victims, &uninvolved, 30, o).await;
        let q = quiet(&u, &v).await;
        let before = stored_bytes(&v);
        let addr = v.addr().await;
        let per = if quick() { 5 } else { 15 };
        let (samples, flooders) = during(&u, 50, async move {
            let mut f = Vec::new();
            for a in 2..=14 {
                for _ in 0..per {
                    f.push(flood::connect_from(&format!("127.0.0.{a}"), &addr, None).await);
                }
            }
            f
        })
        .await;
        // And while the flood is held.
        let held = quiet(&u, &v).await;
        let g = v.node.net().admission_stats().await.unwrap().connections;
        print(Row {
            attack: "connections: 13 addresses × 15, being opened",
            quiet: q.clone(),
            during: samples,
            grew: stored_bytes(&v) - before,
            bound: "0 (no records)".into(),
            note: format!(
                "{} strangers held, {} refused before the handshake (rate), {} for room, {} evicted",
                g.inbound_strangers, g.denied_handshake_rate, g.denied_room, g.evicted
            ),
        });
        print(Row {
            attack: "connections: the same, held",
            quiet: q,
            during: held,
            grew: stored_bytes(&v) - before,
            bound: "0".into(),
            note: "U is a known member: its slot is reserved".into(),
        });
        drop(flooders);

        // The same number of connections opened all at once, from 13 addresses of another
        // /24, and a newcomer dialling from 127.0.0.1 once the victim is pacing its listeners:
        // what pacing costs a newcomer (it waits in the accept queue behind the flood).
        let q = quiet(&u, &v).await;
        let net = v.node.net().clone();
        let decided = |g: guild_net::GuardStats| {
            g.admitted + g.denied_room + g.denied_per_ip + g.denied_handshake_rate
        };
        let at_start = net.admission_stats().await.unwrap().connections;
        let paused_before = at_start.accept_pauses;
        let burst = u64::from(NetConfig::default().accept_burst);
        let target = v.addr().await;
        let (samples, (flooders, newcomer)) = during(&u, 50, async move {
            let flood: Vec<_> = (2..=14)
                .flat_map(|a| (0..per).map(move |_| a))
                .map(|a| {
                    let target = target.clone();
                    tokio::spawn(async move {
                        flood::connect_from(&format!("127.0.1.{a}"), &target, None).await
                    })
                })
                .collect();
            // The newcomer dials once the victim has decided on a burst's worth of the flood
            // (or the flood is over), paced or not.
            let mut flood_done = false;
            while !flood_done {
                let g = net.admission_stats().await.unwrap().connections;
                flood_done = flood.iter().all(|f| f.is_finished());
                if decided(g) >= decided(at_start) + burst {
                    break;
                }
                tokio::task::yield_now().await;
            }
            let t = Instant::now();
            let n = flood::connect_from("127.0.0.1", &target, None).await;
            let newcomer = (t.elapsed().as_secs_f64() * 1e3, n.connected, flood_done, n);
            let mut held = Vec::new();
            for f in flood {
                held.push(f.await.unwrap());
            }
            (held, newcomer)
        })
        .await;
        let g = v.node.net().admission_stats().await.unwrap().connections;
        print(Row {
            attack: "connections: 13 addresses × 15, opened at once",
            quiet: q,
            during: samples,
            grew: stored_bytes(&v) - before,
            bound: "0 (no records)".into(),
            note: format!(
                "a newcomer's handshake behind them: {:.0} ms ({}{}); listeners paced {} times",
                newcomer.0,
                if newcomer.1 { "connected" } else { "failed" },
                if newcomer.2 {
                    ", dialled after the flood"
                } else {
                    ""
                },
                g.accept_pauses - paused_before
            ),
        });
        drop((flooders, newcomer));
    }

    // ---- 2-5 on one victim with loopback limits (every attacker is on 127.0.0.1) ----------
    // and production limits on what a stranger's connection may deliver.
    let mut o = options("main", &[]);
    if !std::env::var("GUILD_BENCH_STRANGER_READS").is_ok_and(|v| v == "off") {
        o.net.stranger_read_burst = NetConfig::default().stranger_read_burst;
        o.net.stranger_read_rate = NetConfig::default().stranger_read_rate;
        if !std::env::var("GUILD_BENCH_STRANGERS_TOTAL").is_ok_and(|v| v == "off") {
            o.net.strangers_total_read_burst = NetConfig::default().strangers_total_read_burst;
            o.net.strangers_total_read_rate = NetConfig::default().strangers_total_read_rate;
        }
    }
    let (v, u) = victim_and_u(&victims, &uninvolved, 40, o).await;
    let now = guild_core::time::now();
    let to = v.key();

    // Needs: 900 from 300 fresh keys, on gossip.
    if only("needs") {
        let q = quiet(&u, &v).await;
        let before = stored_bytes(&v);
        let rogue = Rogue::start(42, &v).await;
        rogue.joined(Topic::Needs).await;
        let keys = if quick() { 60 } else { 300 };
        let needs: Vec<Vec<u8>> = (0..keys)
            .flat_map(|k| {
                let s = fresh(0x11, k);
                (0..3u64).map(move |i| {
                    let mut n = fixtures::need(&s, "please", &["kicad"], now);
                    n.nonce = i;
                    n.project = None;
                    AnyRecord::Need(sign::<Need>(n, &s)).encode().unwrap()
                })
            })
            .collect();
        let sent = needs.len();
        let client = rogue.client.clone();
        let (samples, ()) = during(&u, 50, async move {
            for data in needs {
                let _ = client.publish(Topic::Needs, data).await;
            }
        })
        .await;
        let bound = admission::stranger_pool(RecordKind::Need).unwrap();
        print(Row {
            attack: "needs: 300 fresh keys × 3, gossip",
            quiet: q,
            during: samples,
            grew: stored_bytes(&v) - before,
            bound: format!("strangers' need pool {} KiB", bound.bytes / 1024),
            note: format!("{sent} published"),
        });
        rogue.client.shutdown();
    }

    // Messages: one stranger, 2,000 of 3 KB.
    if only("messages") {
        let q = quiet(&u, &v).await;
        let before = stored_bytes(&v);
        let id = fixtures::identity(43);
        let rogue = Rogue::start(43, &v).await;
        rogue.joined(Topic::Needs).await;
        let count = if quick() { 300 } else { 2_000 };
        let msgs: Vec<Vec<u8>> = (0..count)
            .map(|i| {
                let m = sign(
                    Message {
                        version: guild_core::record::RECORD_VERSION,
                        issuer: id.public(),
                        to,
                        issued_at: now,
                        expires_at: now + 86_400,
                        nonce: i,
                        text: format!("{i:04} {}", "x".repeat(3_000)),
                    },
                    &id,
                );
                codec::encode(&DirectRequest::Deliver(Box::new(AnyRecord::Message(m)))).unwrap()
            })
            .collect();
        let (client, target) = (rogue.client.clone(), rogue.target);
        let (samples, refused) = during(&u, 50, async move {
            let mut refused = 0u32;
            for m in msgs {
                let a = client.request(target, m).await.unwrap_or_default();
                if codec::decode::<guild_core::wire::DirectResponse>(&a, 1 << 20)
                    .is_ok_and(|r| r != guild_core::wire::DirectResponse::Ack)
                {
                    refused += 1;
                }
            }
            refused
        })
        .await;
        print(Row {
            attack: "messages: 1 stranger × 2,000 of 3 KB",
            quiet: q,
            during: samples,
            grew: stored_bytes(&v) - before,
            bound: format!(
                "a stranger's quota {} KiB",
                admission::MESSAGE_QUOTA.stranger.bytes / 1024
            ),
            note: format!("{refused} refused"),
        });
        rogue.client.shutdown();
    }

    // Offers: 100 fresh keys × 3 on V's need, each over its own connection.
    let rogues_before = if !only("offers") && !only("crowd") {
        Vec::new()
    } else {
        let asked = v
            .node
            .ask(AskParams {
                text: "review my board".into(),
                skills: vec![tag("kicad")],
                ..Default::default()
            })
            .await
            .unwrap();
        let need_id = asked.need.id;
        let kv = v.key();
        // The need as V signed it, for the offers to name.
        let stored: Signed<Need> = v
            .node
            .store()
            .records_of_kind(RecordKind::Need)
            .filter_map(Result::ok)
            .find_map(|r| match r {
                AnyRecord::Need(n) if n.id() == need_id && n.signer == kv => Some(n),
                _ => None,
            })
            .unwrap();
        let keys = if quick() { 20 } else { 100 };
        let mut rogues = Vec::new();
        for k in 0..keys {
            let r = Rogue::start(100 + (k % 100) as u8, &v).await;
            r.joined(Topic::Needs).await; // connected: the attack window holds the offers only
            rogues.push(r);
        }
        // Quiet with the offerers connected and idle, so that the row is the offers' cost.
        let q = quiet(&u, &v).await;
        let before = stored_bytes(&v);
        let offers: Vec<(usize, Vec<u8>)> = (0..keys)
            .flat_map(|k| {
                let s = fixtures::identity(100 + (k % 100) as u8);
                let stored = stored.clone();
                (0..3).map(move |i| {
                    let mut o = fixtures::offer(&s, &stored, now);
                    o.text = format!("offer {i}");
                    let r = AnyRecord::Offer(sign(o, &s));
                    (
                        k,
                        codec::encode(&DirectRequest::Deliver(Box::new(r))).unwrap(),
                    )
                })
            })
            .collect();
        let clients: Vec<_> = rogues
            .iter()
            .map(|r| (r.client.clone(), r.target))
            .collect();
        // How many offerers the victim still holds a connection to when the offers start
        // (above its high watermark it prunes idle peers, and a pruned offerer's request
        // redials first): the row's window depends on it.
        let connected = v.node.net().connected_peers().await.unwrap();
        let still = (0..keys)
            .map(|k| {
                fixtures::identity(100 + (k % 100) as u8)
                    .keypair()
                    .public()
                    .to_peer_id()
            })
            .filter(|peer| connected.iter().any(|p| p.peer == *peer))
            .count();
        let net = v.node.net().clone();
        let waits_before = net.admission_stats().await.unwrap().connections;
        let (samples, answers) =
            during(
                &u,
                50,
                async move { send_all(&clients, offers, "offers").await },
            )
            .await;
        let waits = net
            .admission_stats()
            .await
            .unwrap()
            .connections
            .stranger_read_waits
            - waits_before.stranger_read_waits;
        print(Row {
            attack: "offers: 100 fresh keys × 3 on one need",
            quiet: q,
            during: samples,
            grew: stored_bytes(&v) - before,
            bound: format!(
                "{} strangers' offers on one need",
                admission::STRANGER_OFFERS_PER_NEED
            ),
            note: format!(
                "{still} of {keys} offerers still connected at the start; {answers:?}; {} offers held on the need; {waits} waits for a turn at the strangers' total",
                v.node
                    .store()
                    .records_of_kind(RecordKind::Offer)
                    .filter_map(Result::ok)
                    .filter(|r| matches!(r, AnyRecord::Offer(o) if o.body.need == need_id))
                    .count()
            ),
        });
        // The same 100 strangers, each delivering 20 messages of 3 KB, all at once: every
        // message within its sender's rate, 6 MB that the victim must receive, decrypt, check
        // and store or refuse — what only the total of strangers' reads bounds.
        if only("crowd") {
            let q = quiet(&u, &v).await;
            let before = stored_bytes(&v);
            let per = if quick() { 5 } else { 20 };
            let msgs: Vec<(usize, Vec<u8>)> = (0..keys)
                .flat_map(|k| {
                    let s = fixtures::identity(100 + (k % 100) as u8);
                    (0..per).map(move |i| {
                        let m = sign(
                            Message {
                                version: guild_core::record::RECORD_VERSION,
                                issuer: s.public(),
                                to: kv,
                                issued_at: now,
                                expires_at: now + 86_400,
                                nonce: i,
                                text: format!("{i:04} {}", "x".repeat(3_000)),
                            },
                            &s,
                        );
                        let r = AnyRecord::Message(m);
                        (
                            k,
                            codec::encode(&DirectRequest::Deliver(Box::new(r))).unwrap(),
                        )
                    })
                })
                .collect();
            let clients: Vec<_> = rogues
                .iter()
                .map(|r| (r.client.clone(), r.target))
                .collect();
            let net = v.node.net().clone();
            let waits_before = net.admission_stats().await.unwrap().connections;
            let (samples, answers) =
                during(
                    &u,
                    50,
                    async move { send_all(&clients, msgs, "messages").await },
                )
                .await;
            let waits = net
                .admission_stats()
                .await
                .unwrap()
                .connections
                .stranger_read_waits
                - waits_before.stranger_read_waits;
            print(Row {
                attack: "messages: 100 strangers × 20 of 3 KB, at once",
                quiet: q,
                during: samples,
                grew: stored_bytes(&v) - before,
                bound: format!(
                    "strangers' message pool {} KiB",
                    admission::stranger_pool(RecordKind::Message).map_or(0, |p| p.bytes / 1024)
                ),
                note: format!("{answers:?}; {waits} waits for a turn at the strangers' total"),
            });
        }
        rogues
    };

    // Invitations: 40 inviters with a 120 KiB log each, then 300 oversized ones, 4 at a time.
    if only("invitations") {
        // A rogue's responder holds a client: its node runs until told to stop.
        for r in &rogues_before {
            r.client.shutdown();
        }
        drop(rogues_before);
        let inviters = if quick() { 10 } else { 40 };
        let mut rogues = Vec::new();
        for k in 0..inviters {
            rogues.push(big_rogue(200 + k as u8, &v).await);
        }
        let q = quiet(&u, &v).await;
        let before = stored_bytes(&v);
        let invites: Vec<Vec<u8>> = (0..inviters)
            .map(|k| invitation(&fixtures::identity(200 + k as u8), to, 110, now, k))
            .collect();
        let clients = rogues.clone();
        let (samples, answers) = during(&u, 50, async move {
            let mut answers = std::collections::BTreeMap::<String, u32>::new();
            for (k, inv) in invites.into_iter().enumerate() {
                let (c, t) = &clients[k];
                *answers.entry(answer(c.request(*t, inv).await)).or_default() += 1;
            }
            answers
        })
        .await;
        print(Row {
            attack: "invitations: 40 inviters × 110 posts of 800 B (~112 KiB of log)",
            quiet: q.clone(),
            during: samples,
            grew: stored_bytes(&v) - before,
            bound: format!(
                "{} waiting × {} KiB",
                admission::STRANGER_INVITATIONS_WAITING,
                MAX_INVITE_LOG_BYTES / 1024
            ),
            note: format!("{answers:?}"),
        });
        for (c, _) in &rogues {
            c.shutdown();
        }
        drop(rogues);
    }

    // DHT providers: 92 fresh identities announce 48 keys each, all at once.
    if only("dht") {
        let identities = if quick() { 23 } else { 92 };
        let per = guild_net::MAX_KEYS_PER_PROVIDER as u32;
        let addr = v.addr().await;
        let mut flooders = Vec::new();
        for k in 0..identities {
            let mut cfg = NetConfig::local("main");
            cfg.bootstrap = vec![addr.clone()];
            // Clients of the DHT: V is the only server they know, so every announcement goes
            // to V (servers would also learn of each other and send there).
            cfg.kad_server = false;
            let kp = fresh(0x77, k).keypair();
            let (client, events, _task) = guild_net::spawn(kp, cfg, None).await.unwrap();
            tokio::spawn(acknowledge(client.clone(), events));
            // Connected once a first request is answered.
            let _ = client
                .request(
                    v.node.peer_id(),
                    codec::encode(&DirectRequest::GetProfile).unwrap(),
                )
                .await;
            flooders.push(client);
        }
        let q = quiet(&u, &v).await;
        let before = stored_bytes(&v);
        let net = v.node.net().clone();
        let dht_before = net.admission_stats().await.unwrap().dht;
        let clients = flooders.clone();
        let (samples, failed) = during(&u, 50, async move {
            let mut tasks = tokio::task::JoinSet::new();
            for (k, client) in clients.into_iter().enumerate() {
                tasks.spawn(async move {
                    // All 48 at once, as fast as the flooder can send them.
                    let all = (0..per).map(|i| {
                        let key = guild_core::skill::skill_key(&tag(&format!("jam{k}x{i}")));
                        let client = client.clone();
                        async move { client.start_providing(key.to_vec()).await.is_err() }
                    });
                    futures::future::join_all(all)
                        .await
                        .into_iter()
                        .filter(|failed| *failed)
                        .count() as u32
                });
            }
            let mut failed = 0;
            while let Some(Ok(f)) = tasks.join_next().await {
                failed += f;
            }
            failed
        })
        .await;
        let dht = net.admission_stats().await.unwrap().dht;
        print(Row {
            attack: "DHT: 92 fresh identities × 48 ADD_PROVIDER, at once",
            quiet: q,
            during: samples,
            grew: stored_bytes(&v) - before,
            bound: format!(
                "{} strangers' provider records a /24 (in memory; strangers' records {} → {})",
                guild_net::dht_store::MAX_STRANGER_RECORDS_PER_RANGE,
                dht_before.stranger_records,
                dht.stranger_records
            ),
            note: format!(
                "{} accepted, {} evicted, {} over a provider's budget, {} rate-limited, {} announcements failed",
                dht.accepted - dht_before.accepted,
                dht.evicted - dht_before.evicted,
                dht.over_provider_budget - dht_before.over_provider_budget,
                dht.rate_limited - dht_before.rate_limited,
                failed
            ),
        });
        for c in &flooders {
            c.shutdown();
        }
        drop(flooders);
    }

    // 300 oversized invitations from one stranger, 4 at a time. After the DHT flood: their
    // sender is sent away, which penalises its address (127.0.0.1) for the strangers after.
    if only("oversized") {
        let big = Arc::new(invitation(&fixtures::identity(250), to, 256, now, 9_999));
        let (client, target) = big_rogue(250, &v).await;
        let q = quiet(&u, &v).await;
        let before = stored_bytes(&v);
        let count = if quick() { 60 } else { 300 };
        let (samples, answers) = during(&u, 50, async move {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..4 {
                let (client, big) = (client.clone(), big.clone());
                tasks.spawn(async move {
                    let mut answers = Vec::new();
                    for _ in 0..count / 4 {
                        answers.push(answer(client.request(target, big.to_vec()).await));
                    }
                    answers
                });
            }
            let mut all = std::collections::BTreeMap::<String, u32>::new();
            while let Some(Ok(a)) = tasks.join_next().await {
                for x in a {
                    *all.entry(x).or_default() += 1;
                }
            }
            all
        })
        .await;
        print(Row {
            attack: "invitations: 1 stranger × 300 with a 256-post log (205 KB), 4 at a time",
            quiet: q,
            during: samples,
            grew: stored_bytes(&v) - before,
            bound: "0 (refused on receipt, before signatures)".into(),
            note: format!("{answers:?}"),
        });
    }

    // Bans: fresh keys from one address, each sending junk until it is cut off.
    if only("bans") {
        let q = quiet(&u, &v).await;
        let before = stored_bytes(&v);
        let addr = v.addr().await;
        let keys = if quick() { 5 } else { 20 };
        let vic = v.node.peer_id();
        let (samples, refused) = during(&u, 50, async move {
            let mut refused = 0u32;
            for k in 0..keys {
                let mut cfg = NetConfig::local("main");
                cfg.bootstrap = vec![addr.clone()];
                let kp = fresh(0x55, k).keypair();
                let Ok((client, _events, _task)) = guild_net::spawn(kp, cfg, None).await else {
                    refused += 1;
                    continue;
                };
                for _ in 0..admission::MAX_STRIKES + 2 {
                    if client.request(vic, vec![0xff; 64]).await.is_err() {
                        refused += 1;
                        break;
                    }
                }
            }
            refused
        })
        .await;
        print(Row {
            attack: "bans: 20 fresh keys from one address, junk until cut off",
            quiet: q,
            during: samples,
            grew: stored_bytes(&v) - before,
            bound: "0".into(),
            note: format!("{refused} keys cut off or refused"),
        });
    }
    eprintln!("load average at the end: {}", load());
    drop((v, u));
    // A runtime is not dropped inside another's task: its threads are let go instead.
    victims.shutdown_background();
    uninvolved.shutdown_background();
}
