//! The open mesh at community scale: `members` newcomers join one by one (two a second of
//! virtual time), each knowing only one of three early members, and each publishes a profile.
//! Every service runs the daemon's connection manager (watermarks scaled to the simulated
//! degree, 6-12); a node refuses dials past 64 links. Prints when every member was in and held
//! every profile, the degrees (min, p50, p90, max), refusals, prunes, CPU time and peak memory.
//!
//! ```sh
//! cargo bench -p guild-sim --bench open_mesh -- [members] [seed]
//! ```
//!
//! A benchmark, not a test: nothing is asserted about the figures (the test
//! `tests/open_mesh.rs` asserts the behaviour at 150 members).

use guild_core::control::ProfileDraft;
use guild_core::{Level, Skill, SkillTag};
use guild_sim::{NodeId, Sim, SimConfig};
use std::time::Instant;

/// User + system CPU time of this process, seconds, from `/proc/self/stat` (USER_HZ = 100).
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak RSS (`VmHWM`) in MiB.
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn draft(i: NodeId) -> Option<ProfileDraft> {
    Some(ProfileDraft {
        name: format!("member {i}"),
        bio: "joined through an early member".into(),
        skills: vec![Skill {
            tag: SkillTag::parse(&format!("skill-{}", i % 60)).ok()?,
            level: Level::Advanced,
        }],
        resources: vec![],
        links: vec![],
    })
}

fn pct(sorted: &[usize], q: f64) -> usize {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let members = args.first().copied().unwrap_or(1000) as usize;
    let seed = args.get(1).copied().unwrap_or(1);
    let cfg = SimConfig::new(seed);
    let (low, high) = (cfg.service.mesh.low, cfg.service.mesh.high);
    println!(
        "open mesh: {members} members joining through 3 early members, watermarks {low}-{high}, \
         at most {} links a node, seed {seed}",
        cfg.max_connections
    );
    let cpu0 = cpu_secs().unwrap_or(0.0);
    let wall = Instant::now();
    let mut sim = Sim::new(cfg, 3);
    for i in 0..3 {
        if let Some(d) = draft(i) {
            sim.set_profile(i, d);
        }
    }
    for k in 0..members.saturating_sub(3) {
        let i = sim.join_via(&[k % 3]);
        if let Some(d) = draft(i) {
            sim.set_profile(i, d);
        }
        sim.run_for(500);
    }
    let joined = sim.now();
    let deadline = joined + 30 * 60 * 1000;
    let ok = sim.run_until_true(deadline, 1000, |s| {
        (0..s.len()).all(|i| !s.neighbours(i).is_empty()) && s.converged()
    });
    let took = (sim.now() - joined) as f64 / 1000.0;
    println!(
        "converged: {ok}, {took:.0} s of virtual time after the last member joined ({:.0} s after the first)",
        (sim.now() - (joined - 500 * (members as u64 - 3))) as f64 / 1000.0
    );
    sim.run_for(60 * 1000);
    let mut degrees: Vec<usize> = (0..sim.len()).map(|i| sim.neighbours(i).len()).collect();
    degrees.sort_unstable();
    let (refused, pruned) = (0..sim.len())
        .map(|i| sim.refusals_and_prunes(i))
        .fold((0, 0), |(r, p), (a, b)| (r + a, p + b));
    println!(
        "degree a minute later: min {}, p50 {}, p90 {}, max {}; below {low}: {}; above {high}: {}",
        degrees[0],
        pct(&degrees, 0.5),
        pct(&degrees, 0.9),
        degrees[degrees.len() - 1],
        degrees.iter().filter(|d| **d < low).count(),
        degrees.iter().filter(|d| **d > high).count(),
    );
    let early: Vec<usize> = (0..3).map(|i| sim.neighbours(i).len()).collect();
    println!("early members' degrees: {early:?}; dials refused: {refused}; links pruned: {pruned}");
    println!(
        "CPU {:.1} s ({:.1} ms per member), wall {:.1} s, peak RSS {:.0} MiB ({:.2} MiB per member)",
        cpu_secs().unwrap_or(0.0) - cpu0,
        (cpu_secs().unwrap_or(0.0) - cpu0) * 1000.0 / members as f64,
        wall.elapsed().as_secs_f64(),
        peak_mib(),
        peak_mib() / members as f64
    );
}
