//! Full compute only, for profiling (`perf record`, `perf stat -e instructions:u`): the cost
//! stage's synthetic graph at 10⁵ attestations (same construction and seed as `trust_eval`'s),
//! its first `--egos` egos computed `--runs` times each by one engine, nothing else.
//!
//! ```text
//! cargo run --release -p guild-trust --example trust_cost -- <path.csv> [--single] [--egos N] [--runs N] [--file] [--exact]
//! ```
//!
//! `--single`: the single-bridge engine (`max_bridge_set = 0`); `--file`: the input graph instead
//! of the synthetic one; `--egos 0` measures the setup alone (to subtract); `--exact`: exactly
//! `--runs` runs per ego (for instruction counts: without it an ego runs until it has used
//! 100 ms of CPU, which under `valgrind` depends on the machine's load). Prints the per-ego
//! CPU time (this thread's, `/proc/thread-self/schedstat`).

#[allow(dead_code)]
#[path = "trust_eval/cost.rs"]
mod cost;
#[allow(dead_code)]
#[path = "trust_eval/stats.rs"]
mod stats;
#[allow(dead_code)]
#[path = "trust_eval/synth.rs"]
mod synth;

use std::process::ExitCode;

use guild_trust::{snap, Rng, TrustConfig, TrustEngine};

fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns * 1e-9)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!(
            "usage: trust_cost <path.csv> [--single] [--egos N] [--runs N] [--file] [--exact]"
        );
        return ExitCode::from(2);
    };
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str, d: usize| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(d)
    };
    let (egos, runs) = (value("--egos", 20), value("--runs", 5));
    let cap = if flag("--exact") { runs } else { 400 };
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("trust_cost: cannot read {path}");
        return ExitCode::from(1);
    };
    let file = snap::parse(&text);
    let mut cfg = TrustConfig::with_max_score(file.max_abs_rating());
    cfg.seed = 1;
    if flag("--single") {
        cfg.max_bridge_set = 0;
    }
    let now = file.latest_time() + 1;
    let mut rng = Rng::from_seed(1);
    let edges = if flag("--file") {
        file.edges.clone()
    } else {
        synth::synthesize(&file.edges, 100_000, &mut rng)
    };
    let graph = cost::build_graph(&edges, &cfg);
    let list = cost::sample_egos(&graph, egos, 1, &mut rng);
    let Ok(mut engine) = TrustEngine::with_graph(cfg, graph) else {
        return ExitCode::from(2);
    };
    if let Some(&e) = list.first() {
        engine.track(e);
        engine.untrack(e);
    }
    let mut times = Vec::new();
    for &ego in &list {
        // At least `runs` runs and 100 ms of CPU (the clock advances in 4 ms ticks, see cost.rs).
        let t = thread_cpu();
        let mut done = 0;
        while done < runs || (done < cap && thread_cpu() - t < 0.1) {
            engine.full_recompute(ego);
            std::hint::black_box(engine.scores(ego, None, now).len());
            engine.untrack(ego);
            done += 1;
        }
        times.push((thread_cpu() - t) / done.max(1) as f64 * 1e3);
    }
    let line: Vec<String> = times.iter().map(|t| format!("{t:.2}")).collect();
    println!("{}", line.join(" "));
    ExitCode::SUCCESS
}
