//! The daemon's footprint as a user sees it: the real `guild daemon` process, started, left
//! idle, measured from outside (`/proc/<pid>/status`, `/proc/<pid>/smaps_rollup`) and stopped,
//! several times over.
//!
//! - `idle`: a fresh home each run (an empty store).
//! - `loaded`: one home holding 10^4 profiles and 10^5 counted attestations (with the 5·10^4
//!   collaborations and 10^5 close entries they cite), built once through the node core's real
//!   intake (`Service::received_record`, proofs fetched and verified as from the issuers) over
//!   the daemon's own sled store, then the daemon restarted on it each run.
//!
//! Each run prints when the control socket first answered (a daemon that answers while it
//! loads its store says `loading`), the start-up time (process start to `status` succeeding:
//! the store loaded and the node listening), the CPU the daemon had used by then and the load
//! average, then, after `GUILD_BENCH_SETTLE` seconds idle (default 5), the resident set, its
//! peak, its anonymous and
//! huge-page parts and the thread count; the summary gives median, p90 and max.
//!
//! `cargo bench -p guild --bench daemon` (`GUILD_BENCH_PART=idle|loaded` runs one part,
//! `GUILD_BENCH_RUNS` sets the runs per part (default 7), `GUILD_BENCH_PROFILES` and
//! `GUILD_BENCH_ATTESTATIONS` the loaded home's size, `GUILD_BENCH_BIN` another `guild` binary to
//! measure). The loaded home is kept under
//! `target/guild-bench/` and rebuilt when its size changes or it is two days old (profiles live
//! at most 30 days, and the records are signed at the time of the build).
//!
//! The loaded part starts the daemon `2 × GUILD_BENCH_RUNS` times, alternately with no saved
//! state (the store is loaded) and from the state its last clean stop saved beside the store
//! (`<home>/store.state`), and summarises each kind of start apart.
//!
//! Daemons run on 127.0.0.1 with mDNS off and the dashboard on a free loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::control::{reputation::TrustAddParams, Call, Client, ClientError, ServiceCall};
use guild_core::fixtures::{self, sign, tag};
use guild_core::wire::{DirectRequest, DirectResponse};
use guild_core::{AnyRecord, Attestation, CollabEntry, EntryKind, Identity, RecordId};
use guild_service::{CallId, Io, Service, ServiceConfig, Via};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const GUILD: &str = env!("CARGO_BIN_EXE_guild");

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let part = std::env::var("GUILD_BENCH_PART").unwrap_or_default();
    let runs = env_num("GUILD_BENCH_RUNS", 7);
    let settle = Duration::from_secs(env_num("GUILD_BENCH_SETTLE", 5) as u64);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if part.is_empty() || part == "idle" {
        println!("## idle daemon, empty store ({runs} runs, {settle:?} idle before measuring)");
        let mut samples = Vec::new();
        for run in 0..runs {
            let dir = tempfile::tempdir().unwrap();
            let home = dir.path().join("home");
            init_home(&home);
            let s = rt.block_on(measure(&home, settle));
            println!("run {run}: {s}");
            samples.push(s);
        }
        summary(&samples);
    }
    if part.is_empty() || part == "loaded" {
        let profiles = env_num("GUILD_BENCH_PROFILES", 10_000);
        let attestations = env_num("GUILD_BENCH_ATTESTATIONS", 100_000);
        let home = loaded_home(profiles, attestations);
        println!(
            "## daemon restarted on {profiles} profiles and {attestations} attestations \
             ({runs} runs, {settle:?} idle before measuring)"
        );
        // Each run stops the daemon cleanly, which saves its state beside the store; runs
        // alternate between a start that reads it back and one that finds none (it is removed
        // first) and loads the store.
        let saved = home.join("store.state");
        let (mut from_store, mut restored) = (Vec::new(), Vec::new());
        for run in 0..2 * runs {
            let restore = run % 2 == 1 && saved.exists();
            if !restore {
                let _ = std::fs::remove_file(&saved);
            }
            let s = rt.block_on(measure(&home, settle));
            let how = if restore { "saved state" } else { "store" };
            println!("run {run} ({how}): {s}");
            if restore {
                restored.push(s);
            } else {
                from_store.push(s);
            }
        }
        println!("## started from the store (no saved state)");
        summary(&from_store);
        if !restored.is_empty() {
            println!("## started from the state saved at the last clean stop");
            summary(&restored);
        }
    }
}

/// The binary measured: this build's, or `GUILD_BENCH_BIN` (another build's, to run two in
/// alternation on the same home and load).
fn guild(home: &Path) -> Command {
    let bin =
        std::env::var_os("GUILD_BENCH_BIN").map_or_else(|| PathBuf::from(GUILD), PathBuf::from);
    let mut cmd = Command::new(bin);
    cmd.env_remove("GUILD_HOME")
        .env_remove("GUILD_SOCKET")
        .env_remove("GUILD_LOG")
        .env_remove("RUST_LOG")
        .arg("--home")
        .arg(home);
    cmd
}

fn init_home(home: &Path) {
    let out = guild(home).arg("init").output().unwrap();
    assert!(out.status.success(), "guild init: {out:?}");
}

/// What one run measured.
struct Sample {
    /// Process start to the socket's first answer of any kind (a daemon that answers while it
    /// loads says `loading` first; an older one answers only when ready).
    answered: Duration,
    /// Process start to `status` succeeding: the store loaded and the node listening.
    startup: Duration,
    /// CPU the daemon had used (all threads, user and system) when `status` first succeeded.
    cpu: Duration,
    /// The 1-minute load average when it did.
    load: f64,
    /// KiB, from /proc/<pid>/status and smaps_rollup.
    rss: u64,
    hwm: u64,
    anon: u64,
    anon_huge: u64,
    file: u64,
    threads: usize,
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "socket answers {:.0} ms; start-up {:.0} ms (CPU {:.2} s, load {:.1}); RSS {:.1} MiB \
             (peak {:.1}; anonymous {:.1}, of which huge pages {:.1}; file-backed {:.1}); {} \
             threads",
            self.answered.as_secs_f64() * 1e3,
            self.startup.as_secs_f64() * 1e3,
            self.cpu.as_secs_f64(),
            self.load,
            mib(self.rss),
            mib(self.hwm),
            mib(self.anon),
            mib(self.anon_huge),
            mib(self.file),
            self.threads
        )
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Starts the daemon on `home`, times it until the socket answers, lets it idle, reads its
/// memory and stops it.
async fn measure(home: &Path, settle: Duration) -> Sample {
    let socket = home.join("guild.sock");
    let log = std::fs::File::create(home.join("bench-daemon.log")).unwrap();
    let start = Instant::now();
    let mut child = guild(home)
        .args([
            "daemon",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--web-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut answered = None;
    let startup = loop {
        if let Ok(mut c) = Client::connect(&socket).await {
            match c.status().await {
                Ok(_) => break start.elapsed(),
                Err(ClientError::Call(_)) => {
                    answered.get_or_insert_with(|| start.elapsed());
                }
                Err(_) => {}
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the daemon exited with {status} while starting; see {}",
                home.join("bench-daemon.log").display()
            );
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no answer");
        // Every 2 ms until the socket answers; then every 10 ms, so a daemon that answers while
        // it loads does not spend the load serving this loop.
        let pause = if answered.is_some() { 10 } else { 2 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    };
    let pid = child.id();
    let cpu = cpu_time(pid);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0);
    tokio::time::sleep(settle).await;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    let sample = Sample {
        answered: answered.unwrap_or(startup),
        startup,
        cpu,
        load,
        rss: field(&status, "VmRSS:"),
        hwm: field(&status, "VmHWM:"),
        anon: field(&rollup, "Anonymous:"),
        anon_huge: field(&rollup, "AnonHugePages:"),
        file: field(&status, "RssFile:"),
        threads,
    };
    stop(&mut child, &socket).await;
    sample
}

async fn stop(child: &mut Child, socket: &Path) {
    if let Ok(mut c) = Client::connect(socket).await {
        let _ = c.call(&Call::Shutdown).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon did not stop");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// User and system CPU a process has used, all threads (`/proc/<pid>/stat`, fields 14 and 15,
/// in clock ticks of 1/100 s: `_SC_CLK_TCK` is 100 on Linux).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name's closing parenthesis: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// A `Name:  123 kB` line's number.
fn field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn summary(samples: &[Sample]) {
    let stat = |name: &str, unit: &str, mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        println!(
            "{name:<22} median {:>7.1} {unit}  p90 {:>7.1} {unit}  max {:>7.1} {unit}",
            at(0.5),
            at(0.9),
            v[v.len() - 1]
        );
    };
    stat(
        "socket answers",
        "ms",
        samples
            .iter()
            .map(|s| s.answered.as_secs_f64() * 1e3)
            .collect(),
    );
    stat(
        "start-up (loaded)",
        "ms",
        samples
            .iter()
            .map(|s| s.startup.as_secs_f64() * 1e3)
            .collect(),
    );
    stat(
        "CPU to loaded",
        "s",
        samples.iter().map(|s| s.cpu.as_secs_f64()).collect(),
    );
    stat("load average", "", samples.iter().map(|s| s.load).collect());
    stat("RSS", "MiB", samples.iter().map(|s| mib(s.rss)).collect());
    stat(
        "peak RSS (VmHWM)",
        "MiB",
        samples.iter().map(|s| mib(s.hwm)).collect(),
    );
    stat(
        "anonymous huge pages",
        "MiB",
        samples.iter().map(|s| mib(s.anon_huge)).collect(),
    );
}

/// The home with the loaded store, built if missing or stale.
fn loaded_home(profiles: usize, attestations: usize) -> PathBuf {
    let root = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // target/release/deps/<this bench> → target
            let exe = std::env::current_exe().unwrap();
            exe.ancestors().nth(3).unwrap().to_path_buf()
        })
        .join("guild-bench")
        .join(format!("daemon-v2-{profiles}-{attestations}"));
    let home = root.join("home");
    let stamp = root.join("built-at");
    let fresh = std::fs::read_to_string(&stamp)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .is_some_and(|built| unix_now().saturating_sub(built) < 2 * 86_400);
    if fresh {
        println!(
            "## loaded home: {} (kept from an earlier run)",
            home.display()
        );
        return home;
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    init_home(&home);
    build_store(&home, profiles, attestations);
    std::fs::write(&stamp, unix_now().to_string()).unwrap();
    home
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// xorshift64*: deterministic and dependency-free.
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

const SKILLS: [&str; 12] = [
    "rust",
    "kicad",
    "pcb-design",
    "3d-printing",
    "cad",
    "review",
    "go",
    "ml",
    "welding",
    "sewing",
    "audio",
    "ux",
];

/// Feeds the home's store through the node core as records would arrive by gossip: first every
/// member's profile, then for each collaboration (two members, both closed their parts) the two
/// attestations, each followed by the proof request the service sends its issuer and the
/// issuer's answer. The owner takes a few members as trust roots first (as `guild trust add`),
/// and collaborations arrive outward from them, so most issuers are members the owner's trust
/// reaches by the time their attestations arrive (strangers' attestations are capped at 65,536
/// in all). Long (the fixture's phases in the order the daemon would see them) on purpose.
fn build_store(home: &Path, profiles: usize, attestations: usize) {
    let t0 = Instant::now();
    let owner = guild_core::keyfile::load(&home.join(guild_core::keyfile::KEY_FILE_NAME)).unwrap();
    let members: Vec<Identity> = (0..profiles)
        .map(|i| {
            let mut s = [7u8; 32];
            s[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            Identity::from_secret(s)
        })
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Collaborations: pairs (asker, offerer), each member asking in turn, the offerer drawn
    // among all; then ordered by breadth-first distance from the trust roots.
    let collabs = attestations / 2;
    let mut pairs: Vec<(usize, usize)> = (0..collabs)
        .map(|k| {
            let a = k % profiles;
            let b = (a + 1 + rng.below(profiles - 1)) % profiles;
            (a, b)
        })
        .collect();
    const ROOTS: usize = 8;
    let mut adjacent: Vec<Vec<usize>> = vec![Vec::new(); profiles];
    for (a, b) in &pairs {
        adjacent[*a].push(*b);
        adjacent[*b].push(*a);
    }
    let mut rank = vec![usize::MAX; profiles];
    let mut queue: VecDeque<usize> = (0..ROOTS).collect();
    for (r, slot) in rank.iter_mut().enumerate().take(ROOTS) {
        *slot = r;
    }
    let mut next = ROOTS;
    while let Some(m) = queue.pop_front() {
        for &o in &adjacent[m] {
            if rank[o] == usize::MAX {
                rank[o] = next;
                next += 1;
                queue.push_back(o);
            }
        }
    }
    pairs.sort_by_key(|(a, b)| rank[*a].min(rank[*b]));

    let base = unix_now() - 3600;
    let store = guild_store::Store::open(&home.join("store")).unwrap();
    let mut svc = Service::new(
        Identity::from_secret(owner.secret_bytes()),
        store,
        ServiceConfig::default(),
        1,
        base * 1000,
    )
    .unwrap();
    let mut clock = base * 1000;
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for m in members.iter().take(ROOTS) {
        svc.call(
            CallId(0),
            ServiceCall::TrustAdd(TrustAddParams {
                peer: m.public(),
                skill: None,
                note: String::new(),
            }),
            clock,
        );
    }
    svc.take_outbox();
    for (i, m) in members.iter().enumerate() {
        let p = fixtures::profile(
            m,
            &format!("member {i}"),
            &[
                SKILLS[i % SKILLS.len()],
                SKILLS[(i + 1 + (i / SKILLS.len()) % (SKILLS.len() - 1)) % SKILLS.len()],
            ],
            base,
        );
        let p = AnyRecord::Profile(sign(
            guild_core::Profile {
                expires_at: base + 30 * 86_400,
                ..p
            },
            m,
        ));
        clock += 5;
        let r = svc.received_record(Some(m.public()), p, Via::Gossip, clock);
        count(&mut outcomes, "profile", &r);
        svc.take_outbox();
    }
    eprintln!("{profiles} profiles fed in {:.1?}", t0.elapsed());
    let mut seq = vec![0u64; profiles];
    let mut prev: Vec<Option<RecordId>> = vec![None; profiles];
    let mut later = Vec::new();
    for (k, (a, b)) in pairs.iter().enumerate() {
        let (ia, ib) = (&members[*a], &members[*b]);
        let mut n = fixtures::need(ia, "work", &[SKILLS[*a % SKILLS.len()]], base);
        n.nonce = rng.next();
        let n = sign(n, ia);
        let o = sign(fixtures::offer(ib, &n, base), ib);
        let c = sign(fixtures::collaboration(ia, n, vec![o], base), ia);
        let close = |by: &Identity, clock: u64| {
            AnyRecord::CollabEntry(sign(
                CollabEntry {
                    version: guild_core::record::RECORD_VERSION,
                    issuer: by.public(),
                    collaboration: c.id(),
                    issued_at: base,
                    expires_at: base + 300 * 86_400,
                    seq: 1,
                    clock,
                    entry: EntryKind::Close,
                },
                by,
            ))
        };
        let proof = vec![
            AnyRecord::Collaboration(c.clone()),
            close(ia, 1),
            close(ib, 2),
        ];
        for (who, subject) in [(*a, *b), (*b, *a)] {
            seq[who] += 1;
            let att = sign(
                Attestation {
                    skill: tag(SKILLS[rng.below(SKILLS.len())]),
                    seq: seq[who],
                    prev: prev[who],
                    score: if rng.below(8) == 0 {
                        -(1 + rng.below(3) as i8)
                    } else {
                        2 + rng.below(4) as i8
                    },
                    salt: rng.next().to_le_bytes().repeat(2).try_into().unwrap(),
                    ..fixtures::attestation(&members[who], &members[subject], c.id(), 5, base)
                },
                &members[who],
            );
            prev[who] = Some(att.id());
            // 20 ms apart: the budgets refill and the owner's view of who is a member is
            // refreshed (every 10 s) as it would be while records trickle in.
            clock += 20;
            let issuer = members[who].public();
            let r = svc.received_record(
                Some(issuer),
                AnyRecord::Attestation(att.clone()),
                Via::Gossip,
                clock,
            );
            if matches!(&r, Err(e) if e.reason.label() == "rate_limited") {
                // Over the issuer's budget for now: it comes again later (sync would fetch it).
                later.push((issuer, att, proof.clone()));
                continue;
            }
            count(&mut outcomes, "attestation", &r);
            answer_proofs(&mut svc, &proof, clock);
            if clock % 10_000 < 20 {
                svc.tick(clock);
                svc.take_outbox();
            }
        }
        if (k + 1) % 10_000 == 0 {
            eprintln!(
                "{} collaborations fed in {:.1?}; counted attestations {}",
                k + 1,
                t0.elapsed(),
                svc.counted_attestations()
            );
        }
    }
    // The attestations that came too fast, a few minutes later.
    while !later.is_empty() {
        clock += 180_000;
        for (issuer, att, proof) in std::mem::take(&mut later) {
            clock += 20;
            let r = svc.received_record(
                Some(issuer),
                AnyRecord::Attestation(att.clone()),
                Via::Gossip,
                clock,
            );
            if matches!(&r, Err(e) if e.reason.label() == "rate_limited") {
                later.push((issuer, att, proof));
                continue;
            }
            count(&mut outcomes, "attestation", &r);
            answer_proofs(&mut svc, &proof, clock);
        }
    }
    svc.store().flush().unwrap();
    let mut outcomes: Vec<_> = outcomes.into_iter().collect();
    outcomes.sort();
    println!(
        "## built the loaded home in {:.1?}: {:?}; held {:?}, counted attestations {}",
        t0.elapsed(),
        outcomes,
        svc.counts(),
        svc.counted_attestations()
    );
}

/// Answers the proof requests the service sent, as the issuer would.
fn answer_proofs(svc: &mut Service<guild_store::Store>, proof: &[AnyRecord], clock: u64) {
    for io in svc.take_outbox() {
        if let Io::Request {
            id,
            request: DirectRequest::Proof { .. },
            ..
        } = io
        {
            svc.received_response(id, Ok(DirectResponse::Records(proof.to_vec())), clock);
        }
    }
    svc.take_outbox();
}

fn count(
    outcomes: &mut HashMap<String, usize>,
    kind: &str,
    r: &Result<guild_service::intake::Intake, guild_service::Refusal>,
) {
    let what = match r {
        Ok(_) => "accepted".to_string(),
        Err(e) => e.reason.label().to_string(),
    };
    *outcomes.entry(format!("{kind} {what}")).or_default() += 1;
}
