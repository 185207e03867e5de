//! Evaluation harness for the Guild trust engine on any SNAP signed network.
//!
//! ```text
//! cargo run --release -p guild-trust --example trust_eval -- <path.csv | synthetic:community[:N]> [options]
//!   synthetic:community[:N]  instead of a file: a generated community of N core members
//!                            (default 5000; see `synth::community`), seeded by --seed
//!   --seed N               seed of every random choice (default 1)
//!   --egos N               egos for the Sybil experiments (default 10)
//!   --cost-egos N          egos timed for the full-compute cost (default 20)
//!   --attackers N          attackers sampled per ego (default 3)
//!   --coverage-egos N      egos for the coverage measurement (default 50)
//!   --auc-egos N           at most this many egos for the held-out AUC (default: all)
//!   --updates N            single-edge updates timed per graph (default 2000)
//!   --synthetic-edges N    size of the synthetic graph for cost (default 100000)
//!   --max-score N          normalisation (default: the file's largest |rating|)
//!   --walks N              walks per ego (default: TrustConfig's)
//!   --skip-sybil           skip the (slowest) Sybil experiments
//!   --collusion-egos N     egos for the colluding-attackers experiments (default 10)
//!   --skip-collusion       skip the colluding-attackers experiments
//!   --skip-cost            skip the cost measurements
//!   --skip-quality         skip coverage and AUC
//!   --max-bridge-set N     override TrustConfig::max_bridge_set (0 = no collusion bound)
//!   --bridge-set-capacity X  override TrustConfig::bridge_set_capacity
//!   --bridge-set-threshold X override TrustConfig::bridge_set_threshold
//!   --write-graph PATH     also write the input graph (e.g. a generated one) as a SNAP file
//!   --digest               cost stage: also print a digest of every timed ego's scores and
//!                          explanations (equal digests = bit-identical results)
//! ```
//!
//! Prints one JSON document on stdout; progress and malformed-line reports go to stderr.

mod collusion;
mod cost;
mod quality;
mod stats;
mod sybil;
mod synth;

use std::process::ExitCode;
use std::time::Instant;

use guild_trust::{snap, Rng, TrustConfig};
use serde_json::json;

struct Args {
    path: String,
    seed: u64,
    egos: usize,
    cost_egos: usize,
    attackers: usize,
    coverage_egos: usize,
    auc_egos: usize,
    updates: usize,
    synthetic_edges: usize,
    max_score: Option<u32>,
    walks: Option<u32>,
    skip_sybil: bool,
    collusion_egos: usize,
    skip_collusion: bool,
    skip_cost: bool,
    skip_quality: bool,
    max_bridge_set: Option<u32>,
    bridge_set_capacity: Option<f64>,
    bridge_set_threshold: Option<f64>,
    write_graph: Option<String>,
    trace: Option<(u64, Vec<u64>)>,
    digest: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        path: String::new(),
        seed: 1,
        egos: 10,
        cost_egos: 20,
        attackers: 3,
        coverage_egos: 50,
        auc_egos: usize::MAX,
        updates: 2000,
        synthetic_edges: 100_000,
        max_score: None,
        walks: None,
        skip_sybil: false,
        collusion_egos: 10,
        skip_collusion: false,
        skip_cost: false,
        skip_quality: false,
        max_bridge_set: None,
        bridge_set_capacity: None,
        bridge_set_threshold: None,
        write_graph: None,
        trace: None,
        digest: false,
    };
    fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse()
            .map_err(|_| format!("{flag}: `{v}` is not a valid number"))
    }
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seed" => a.seed = num(&arg, it.next())?,
            "--egos" => a.egos = num(&arg, it.next())?,
            "--cost-egos" => a.cost_egos = num(&arg, it.next())?,
            "--attackers" => a.attackers = num(&arg, it.next())?,
            "--coverage-egos" => a.coverage_egos = num(&arg, it.next())?,
            "--auc-egos" => a.auc_egos = num(&arg, it.next())?,
            "--updates" => a.updates = num(&arg, it.next())?,
            "--synthetic-edges" => a.synthetic_edges = num(&arg, it.next())?,
            "--max-score" => a.max_score = Some(num(&arg, it.next())?),
            "--walks" => a.walks = Some(num(&arg, it.next())?),
            "--skip-sybil" => a.skip_sybil = true,
            "--collusion-egos" => a.collusion_egos = num(&arg, it.next())?,
            "--skip-collusion" => a.skip_collusion = true,
            "--skip-cost" => a.skip_cost = true,
            "--skip-quality" => a.skip_quality = true,
            "--digest" => a.digest = true,
            "--max-bridge-set" => a.max_bridge_set = Some(num(&arg, it.next())?),
            "--bridge-set-capacity" => a.bridge_set_capacity = Some(num(&arg, it.next())?),
            "--bridge-set-threshold" => a.bridge_set_threshold = Some(num(&arg, it.next())?),
            "--write-graph" => a.write_graph = Some(it.next().ok_or("--write-graph needs a path")?),
            "--trace" => {
                let v = it.next().ok_or("--trace needs EGO:ATTACKER,ATTACKER,…")?;
                let (ego, att) = v.split_once(':').ok_or("--trace: expected EGO:A1,A2,…")?;
                let ego = num("--trace", Some(ego.to_owned()))?;
                let att = att
                    .split(',')
                    .map(|x| num("--trace", Some(x.to_owned())))
                    .collect::<Result<Vec<u64>, _>>()?;
                a.trace = Some((ego, att));
            }
            "-h" | "--help" => return Err("usage: trust_eval <path.csv> [--seed N] [--egos N] [--cost-egos N] [--attackers N] [--coverage-egos N] [--auc-egos N] [--updates N] [--synthetic-edges N] [--max-score N] [--walks N] [--skip-sybil] [--collusion-egos N] [--skip-collusion] [--skip-cost] [--skip-quality] [--max-bridge-set N] [--bridge-set-capacity X] [--bridge-set-threshold X] [--write-graph PATH] [--trace EGO:A1,A2,…] [--digest]".into()),
            s if s.starts_with("--") => return Err(format!("unknown option {s} (try --help)")),
            s if a.path.is_empty() => a.path = s.to_owned(),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    if a.path.is_empty() {
        return Err("missing input file (try --help)".into());
    }
    Ok(a)
}

fn stage(name: &str, start: Instant) {
    eprintln!("[{:7.1}s] {name}", start.elapsed().as_secs_f64());
}

/// Options, then each stage in the order it reports. Long (a script of stages) on purpose.
fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("trust_eval: {e}");
            return ExitCode::from(2);
        }
    };
    let file = if let Some(spec) = args.path.strip_prefix("synthetic:community") {
        let n = match spec.strip_prefix(':').map(str::parse::<u64>) {
            None if spec.is_empty() => 5000,
            Some(Ok(n)) if n >= 20 => n,
            _ => {
                eprintln!(
                    "trust_eval: `{}`: expected synthetic:community[:N] with N ≥ 20",
                    args.path
                );
                return ExitCode::from(2);
            }
        };
        snap::SnapFile {
            edges: synth::community(n, args.seed),
            errors: Vec::new(),
        }
    } else {
        let text = match std::fs::read_to_string(&args.path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("trust_eval: cannot read {}: {e}", args.path);
                return ExitCode::from(1);
            }
        };
        snap::parse(&text)
    };
    for err in file.errors.iter().take(20) {
        eprintln!("trust_eval: {}: skipped malformed {err}", args.path);
    }
    if file.errors.len() > 20 {
        eprintln!(
            "trust_eval: … and {} more malformed lines",
            file.errors.len() - 20
        );
    }
    if file.edges.is_empty() {
        eprintln!(
            "trust_eval: {} contains no valid `source,target,rating,time` lines",
            args.path
        );
        return ExitCode::from(1);
    }
    if let Some(out) = &args.write_graph {
        let text: String = file
            .edges
            .iter()
            .map(|e| format!("{},{},{},{}\n", e.source, e.target, e.rating, e.time))
            .collect();
        if let Err(e) = std::fs::write(out, text) {
            eprintln!("trust_eval: cannot write {out}: {e}");
            return ExitCode::from(1);
        }
    }
    let start = Instant::now();
    let mut cfg =
        TrustConfig::with_max_score(args.max_score.unwrap_or_else(|| file.max_abs_rating()));
    if let Some(w) = args.walks {
        cfg.walks_per_ego = w;
    }
    cfg.seed = args.seed;
    if let Some(k) = args.max_bridge_set {
        cfg.max_bridge_set = k;
    }
    if let Some(c) = args.bridge_set_capacity {
        cfg.bridge_set_capacity = c;
    }
    if let Some(t) = args.bridge_set_threshold {
        cfg.bridge_set_threshold = t;
    }
    if let Err(e) = cfg.validate() {
        eprintln!("trust_eval: {e}");
        return ExitCode::from(2);
    }
    let now = file.latest_time() + 1;
    let mut rng = Rng::from_seed(args.seed);
    if let Some((ego, attackers)) = &args.trace {
        let graph = cost::build_graph(&file.edges, &cfg);
        let t = collusion::trace(&graph, &file.edges, &cfg, *ego, attackers, now);
        println!("{}", serde_json::to_string_pretty(&t).unwrap_or_default());
        return ExitCode::SUCCESS;
    }

    let (cost_file, cost_big) = if args.skip_cost {
        (json!(null), json!(null))
    } else {
        stage("cost at file size", start);
        let cost_file = cost::measure(
            &file.edges,
            &cfg,
            args.cost_egos,
            args.updates,
            now,
            &mut rng,
            args.digest,
        );
        stage("synthesising the large graph", start);
        let big = synth::synthesize(&file.edges, args.synthetic_edges, &mut rng);
        stage("cost at synthetic size", start);
        let cost_big = cost::measure(
            &big,
            &cfg,
            args.cost_egos,
            args.updates,
            now,
            &mut rng,
            args.digest,
        );
        (cost_file, cost_big)
    };

    let graph = cost::build_graph(&file.edges, &cfg);
    let sybil = if args.skip_sybil {
        json!(null)
    } else {
        stage("sybil experiments", start);
        let egos = cost::sample_egos(&graph, args.egos, 3, &mut rng);
        sybil::run(&graph, &cfg, &egos, args.attackers, now, &mut rng)
    };
    // Its own generator, so that the collusion cells do not depend on which other stages ran.
    let collusion = if args.skip_collusion {
        json!(null)
    } else {
        stage("collusion experiments", start);
        let mut crng = Rng::from_seed(args.seed ^ 0xc011_0de5);
        let egos = cost::sample_egos(&graph, args.collusion_egos, 3, &mut crng);
        collusion::run(&graph, &file.edges, &cfg, &egos, now, &mut crng)
    };
    let (coverage, auc) = if args.skip_quality {
        (json!(null), json!(null))
    } else {
        stage("honest coverage", start);
        let cov_egos = cost::sample_egos(&graph, args.coverage_egos, 1, &mut rng);
        let coverage = quality::coverage(&graph, &cfg, &cov_egos, now);
        stage("held-out AUC", start);
        let auc = quality::held_out_auc(&file.edges, &cfg, 0.1, args.auc_egos, now, &mut rng);
        (coverage, auc)
    };
    stage("done", start);

    let report = json!({
        "input": {
            "path": args.path,
            "generated": args.path.starts_with("synthetic:").then_some(synth::COMMUNITY_SHAPES),
            "edges": file.edges.len(),
            "nodes": file.node_count(),
            "malformed_lines": file.errors.len(),
            "now": now,
        },
        "config": cfg,
        "machine": { "threads_available": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) },
        "cost": {
            "file": cost_file,
            "synthetic": {
                "method": "directed configuration model: node (out, in)-degree profiles, ratings and times resampled from the input",
                "measured": cost_big,
            },
        },
        "sybil": sybil,
        "collusion": collusion,
        "coverage": coverage,
        "auc": auc,
        "elapsed_s": start.elapsed().as_secs_f64(),
    });
    match serde_json::to_string_pretty(&report) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trust_eval: cannot serialise the report: {e}");
            ExitCode::from(1)
        }
    }
}
