//! Colluding attackers: one Sybil region attached by `k` attackers at once.
//!
//! **Threat model.** `k` colluding members the ego's trust already reaches (drawn, as in `sybil`,
//! from the nodes every model scores positively, in two strata: `trusted` = among the 100 the
//! single-bridge engine trusts most, `uniform` = among all of them) attach one region of `S` fresh Sybils, wired
//! as a `clique` (all ordered pairs) or a `chain` (`s_i ↔ s_{i+1}`). Every Sybil attests every
//! attacker; attacker `i` issues `ATTACK_EDGES` attack edges, to `s_{5i} … s_{5i+4}` (indexes mod
//! `S`), so each attacker has its own entry points. Every attack and Sybil attestation has the
//! maximum score and is dated `now`.
//!
//! **Variants.** `attach`: the attackers keep their honest attestations. `whitewash`: afterwards
//! every attacker also withdraws all its honest attestations, so all its walks go to the region.
//!
//! **Gain** = (Σ score(attackers) + Σ score(Sybils)) after / Σ score(attackers) before, each model
//! on its own scores.

use std::collections::HashMap;

use guild_trust::snap::SnapEdge;
use guild_trust::{
    EigenTrust, PersonalizedPageRank, Rng, TrustConfig, TrustEngine, TrustGraph, TrustModel,
};
use serde_json::{json, Value};

use crate::stats::{median, quantile};

/// Numbers of colluders.
pub const COLLUDERS: [usize; 4] = [1, 2, 5, 10];
/// Region sizes.
pub const SIZES: [u64; 2] = [100, 1000];
/// Region shapes.
pub const TOPOLOGIES: [&str; 2] = ["clique", "chain"];
/// Attack edges per attacker.
pub const ATTACK_EDGES: u64 = 5;
/// Variants.
pub const VARIANTS: [&str; 2] = ["attach", "whitewash"];
/// Models reported, in order.
pub const MODELS: [&str; 5] = [
    "meritrank",
    "meritrank_single_bridge",
    "meritrank_no_connectivity_decay",
    "ppr",
    "eigentrust",
];

fn region_edges(topology: &str, sybils: &[u64]) -> Vec<(u64, u64)> {
    let mut e = Vec::new();
    if topology == "chain" {
        for w in sybils.windows(2) {
            e.push((w[0], w[1]));
            e.push((w[1], w[0]));
        }
    } else {
        for &a in sybils {
            for &b in sybils {
                if a != b {
                    e.push((a, b));
                }
            }
        }
    }
    e
}

fn total(m: &HashMap<u64, f64>, keys: &[u64]) -> f64 {
    keys.iter().map(|k| m.get(k).copied().unwrap_or(0.0)).sum()
}

type Cell = (&'static str, usize, u64, &'static str, &'static str);

/// Runs every (stratum, k, S, topology, variant) cell for the given egos.
pub fn run(
    base: &TrustGraph<u64>,
    edges: &[SnapEdge],
    cfg: &TrustConfig,
    egos: &[u64],
    now: u64,
    rng: &mut Rng,
) -> Value {
    let first_sybil = base.keys().max().unwrap_or(0) + 1;
    let max_score = i32::try_from(cfg.max_score).unwrap_or(i32::MAX);
    let configs = [
        cfg.clone(),
        TrustConfig {
            max_bridge_set: 0,
            ..cfg.clone()
        },
        TrustConfig {
            connectivity_decay: 0.0,
            max_bridge_set: 0,
            ..cfg.clone()
        },
    ];
    // Honest out-attestations per node (what a whitewashing attacker withdraws).
    let mut out: HashMap<u64, Vec<u64>> = HashMap::new();
    for e in edges {
        out.entry(e.source).or_default().push(e.target);
    }
    let mut gains: HashMap<Cell, [Vec<f64>; 5]> = HashMap::new();
    let mut samples = Vec::new();
    for &ego in egos {
        let mut engines: Vec<TrustEngine<u64>> = configs
            .iter()
            .filter_map(|c| TrustEngine::with_graph(c.clone(), base.clone()).ok())
            .collect();
        if engines.len() != 3 {
            continue;
        }
        let mut before: Vec<HashMap<u64, f64>> = engines
            .iter_mut()
            .map(|e| TrustEngine::scores(e, ego, None, now))
            .collect();
        before.push(PersonalizedPageRank::new(base, cfg.alpha).scores(ego, now));
        before.push(EigenTrust::new(base, cfg.alpha).scores(ego, now));
        // Ranked by the single-bridge engine (today's), so every configuration of the engine
        // under test faces the same attackers.
        let mut pool: Vec<(u64, f64)> = before[1]
            .iter()
            .filter(|&(k, &v)| v > 0.0 && before.iter().all(|m| m.get(k).is_some_and(|&x| x > 0.0)))
            .map(|(&k, &v)| (k, v))
            .collect();
        pool.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: Vec<u64> = pool.iter().take(100).map(|p| p.0).collect();
        let mut all: Vec<u64> = pool.iter().map(|p| p.0).collect();
        all.sort_unstable();
        for (stratum, from) in [("trusted", &top), ("uniform", &all)] {
            for &k in &COLLUDERS {
                if from.len() < k {
                    continue;
                }
                let mut cands = from.clone();
                let mut attackers = Vec::new();
                for _ in 0..k {
                    attackers.push(cands.swap_remove(rng.below(cands.len() as u64) as usize));
                }
                attackers.sort_unstable();
                samples.push(
                    json!({ "ego": ego, "stratum": stratum, "k": k, "attackers": attackers }),
                );
                for &size in &SIZES {
                    let sybils: Vec<u64> = (first_sybil..first_sybil + size).collect();
                    for topo in TOPOLOGIES {
                        let mut attacked: Vec<TrustEngine<u64>> = engines.clone();
                        for e in &mut attacked {
                            for (s, t) in region_edges(topo, &sybils) {
                                e.upsert(s, t, "", max_score, now);
                            }
                            for &s in &sybils {
                                for &a in &attackers {
                                    e.upsert(s, a, "", max_score, now);
                                }
                            }
                            for (i, &a) in attackers.iter().enumerate() {
                                for t in 0..ATTACK_EDGES {
                                    let s = sybils[((i as u64 * ATTACK_EDGES + t) % size) as usize];
                                    e.upsert(a, s, "", max_score, now);
                                }
                            }
                        }
                        for variant in VARIANTS {
                            if variant == "whitewash" {
                                for e in &mut attacked {
                                    for &a in &attackers {
                                        for &t in out.get(&a).map_or(&[][..], Vec::as_slice) {
                                            e.remove(a, t, "");
                                        }
                                    }
                                }
                            }
                            let mut after: Vec<HashMap<u64, f64>> = attacked
                                .iter_mut()
                                .map(|e| TrustEngine::scores(e, ego, None, now))
                                .collect();
                            let g = attacked[0].graph();
                            after.push(PersonalizedPageRank::new(g, cfg.alpha).scores(ego, now));
                            after.push(EigenTrust::new(g, cfg.alpha).scores(ego, now));
                            let cell = gains.entry((stratum, k, size, topo, variant)).or_default();
                            // Order of `before`/`after`: engine, single bridge, no decay, PPR, EigenTrust.
                            for m in 0..5 {
                                let num = total(&after[m], &attackers) + total(&after[m], &sybils);
                                cell[m].push(num / total(&before[m], &attackers));
                            }
                        }
                    }
                }
            }
        }
        for e in &mut engines {
            e.untrack(ego);
        }
    }
    let mut cells = Vec::new();
    let mut worst: HashMap<(&str, usize), [(f64, f64); 5]> = HashMap::new();
    for stratum in ["trusted", "uniform"] {
        for &k in &COLLUDERS {
            for &size in &SIZES {
                for topo in TOPOLOGIES {
                    for variant in VARIANTS {
                        let Some(cell) = gains.get(&(stratum, k, size, topo, variant)) else {
                            continue;
                        };
                        let mut models = serde_json::Map::new();
                        let w = worst.entry((stratum, k)).or_default();
                        for (m, name) in MODELS.iter().enumerate() {
                            let (med, p90) = (median(&cell[m]), quantile(&cell[m], 0.9));
                            w[m].0 = w[m].0.max(med);
                            w[m].1 = w[m].1.max(p90);
                            models.insert(
                                (*name).to_owned(),
                                json!({ "median": med, "p90": p90, "max": quantile(&cell[m], 1.0) }),
                            );
                        }
                        // Per-sample gains of the engine, in ego order (to trace outliers).
                        cells.push(json!({
                            "stratum": stratum, "colluders": k, "sybils": size, "topology": topo,
                            "variant": variant, "samples": cell[0].len(), "gain": models,
                            "engine_gains": cell[0],
                        }));
                    }
                }
            }
        }
    }
    let mut worst_out = Vec::new();
    for stratum in ["trusted", "uniform"] {
        for &k in &COLLUDERS {
            if let Some(w) = worst.get(&(stratum, k)) {
                let models: serde_json::Map<String, Value> = MODELS
                    .iter()
                    .zip(w)
                    .map(|(n, (m, p))| ((*n).to_owned(), json!({ "median": m, "p90": p })))
                    .collect();
                worst_out.push(json!({ "stratum": stratum, "colluders": k, "worst_cell": models }));
            }
        }
    }
    json!({
        "egos": egos.len(),
        "attack_edges_per_attacker": ATTACK_EDGES,
        "worst": worst_out,
        "cells": cells,
        "samples": samples,
    })
}
