//! Sybil attack experiments.
//!
//! **Threat model.** An *attacker* is an honest-looking node the ego's trust already reaches. It
//! creates a Sybil region of `S` fresh identities `s_0 … s_{S-1}` whose internal attestations form a
//! chain (`s_i ↔ s_{i+1}`), a star (`s_0 ↔ s_i`) or a clique (`s_i → s_j` for all `i ≠ j`); every
//! Sybil also attests the attacker. An **attack edge** is a positive attestation from the attacker
//! into the region: the attacker issues `g` of them, to `s_0 … s_{g'-1}` with `g' = min(g, S)`. All
//! attack and Sybil attestations carry the maximum score and are issued at `now` (the freshest, hence
//! heaviest, attestations in the graph).
//!
//! **Gain** = (score(attacker) + Σ score(Sybils)) after the attack / score(attacker) before, from
//! the ego's point of view, computed separately for each model on that model's own scores.
//!
//! **Attackers** are drawn per ego from the nodes every model gives a positive score, in two strata:
//! `uniform` (uniformly among them — mostly peripheral nodes the ego barely trusts) and `trusted`
//! (uniformly among the 100 the engine trusts most — attackers the ego's walks really pass through,
//! the hard case for a walk-based defence).

use std::collections::HashMap;

use guild_trust::{
    EigenTrust, PersonalizedPageRank, Rng, TrustConfig, TrustEngine, TrustGraph, TrustModel,
};
use serde_json::{json, Value};

use crate::stats::{median, quantile};

/// Region shapes.
pub const TOPOLOGIES: [&str; 3] = ["chain", "star", "clique"];
/// Region sizes.
pub const SIZES: [u64; 3] = [10, 100, 1000];
/// Attack-edge counts.
pub const ATTACK_EDGES: [u64; 3] = [1, 5, 25];
/// Models reported, in order.
pub const MODELS: [&str; 4] = [
    "meritrank",
    "meritrank_no_connectivity_decay",
    "ppr",
    "eigentrust",
];

fn region_edges(topology: &str, sybils: &[u64]) -> Vec<(u64, u64)> {
    let mut e = Vec::new();
    match topology {
        "chain" => {
            for w in sybils.windows(2) {
                e.push((w[0], w[1]));
                e.push((w[1], w[0]));
            }
        }
        "star" => {
            for &s in &sybils[1..] {
                e.push((sybils[0], s));
                e.push((s, sybils[0]));
            }
        }
        _ => {
            for &a in sybils {
                for &b in sybils {
                    if a != b {
                        e.push((a, b));
                    }
                }
            }
        }
    }
    e
}

fn gain(
    before: &HashMap<u64, f64>,
    after: &HashMap<u64, f64>,
    attacker: u64,
    sybils: &[u64],
) -> f64 {
    let get = |m: &HashMap<u64, f64>, k: &u64| m.get(k).copied().unwrap_or(0.0);
    let num = get(after, &attacker) + sybils.iter().map(|s| get(after, s)).sum::<f64>();
    num / get(before, &attacker)
}

/// Runs every (S, topology, g) cell for the given egos, `attackers` per ego.
pub fn run(
    base: &TrustGraph<u64>,
    cfg: &TrustConfig,
    egos: &[u64],
    attackers: usize,
    now: u64,
    rng: &mut Rng,
) -> Value {
    let max_id = base.keys().max().unwrap_or(0);
    let first_sybil = max_id + 1;
    let max_score = i32::try_from(cfg.max_score).unwrap_or(i32::MAX);
    let no_cd = TrustConfig {
        connectivity_decay: 0.0,
        max_bridge_set: 0,
        ..cfg.clone()
    };
    // gains[(stratum, s, topo, g)][model] = samples
    let mut gains: HashMap<(&str, u64, &str, u64), [Vec<f64>; 4]> = HashMap::new();
    let mut pairs = Vec::new();
    for &ego in egos {
        let (Ok(mut mr), Ok(mut mr0)) = (
            TrustEngine::with_graph(cfg.clone(), base.clone()),
            TrustEngine::with_graph(no_cd.clone(), base.clone()),
        ) else {
            continue;
        };
        let before = [
            TrustEngine::scores(&mut mr, ego, None, now),
            TrustEngine::scores(&mut mr0, ego, None, now),
            PersonalizedPageRank::new(base, cfg.alpha).scores(ego, now),
            EigenTrust::new(base, cfg.alpha).scores(ego, now),
        ];
        let mut pool: Vec<(u64, f64)> = before[0]
            .iter()
            .filter(|&(k, &v)| v > 0.0 && before.iter().all(|m| m.get(k).is_some_and(|&x| x > 0.0)))
            .map(|(&k, &v)| (k, v))
            .collect();
        pool.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut top: Vec<u64> = pool.iter().take(100).map(|p| p.0).collect();
        let mut all: Vec<u64> = pool.iter().map(|p| p.0).collect();
        all.sort_unstable();
        let mut chosen: Vec<(&str, u64)> = Vec::new();
        for _ in 0..attackers {
            if !top.is_empty() {
                let a = top.swap_remove(rng.below(top.len() as u64) as usize);
                all.retain(|&x| x != a);
                chosen.push(("trusted", a));
            }
            if !all.is_empty() {
                let a = all.swap_remove(rng.below(all.len() as u64) as usize);
                top.retain(|&x| x != a);
                chosen.push(("uniform", a));
            }
        }
        for (stratum, attacker) in chosen {
            pairs.push(json!({ "ego": ego, "attacker": attacker, "stratum": stratum }));
            for &size in &SIZES {
                let sybils: Vec<u64> = (first_sybil..first_sybil + size).collect();
                for topo in TOPOLOGIES {
                    let (mut a, mut a0) = (mr.clone(), mr0.clone());
                    for (s, t) in region_edges(topo, &sybils) {
                        a.upsert(s, t, "", max_score, now);
                        a0.upsert(s, t, "", max_score, now);
                    }
                    for &s in &sybils {
                        a.upsert(s, attacker, "", max_score, now);
                        a0.upsert(s, attacker, "", max_score, now);
                    }
                    let mut issued = 0;
                    for &g in &ATTACK_EDGES {
                        while issued < g.min(size) {
                            let s = sybils[issued as usize];
                            a.upsert(attacker, s, "", max_score, now);
                            a0.upsert(attacker, s, "", max_score, now);
                            issued += 1;
                        }
                        let after = [
                            TrustEngine::scores(&mut a, ego, None, now),
                            TrustEngine::scores(&mut a0, ego, None, now),
                            PersonalizedPageRank::new(a.graph(), cfg.alpha).scores(ego, now),
                            EigenTrust::new(a.graph(), cfg.alpha).scores(ego, now),
                        ];
                        let cell = gains.entry((stratum, size, topo, g)).or_default();
                        for m in 0..4 {
                            cell[m].push(gain(&before[m], &after[m], attacker, &sybils));
                        }
                    }
                }
            }
        }
    }
    let mut out = serde_json::Map::new();
    for stratum in ["trusted", "uniform"] {
        let mut cells = Vec::new();
        let mut worst = [0.0f64; 4];
        for &size in &SIZES {
            for topo in TOPOLOGIES {
                for &g in &ATTACK_EDGES {
                    let Some(cell) = gains.get(&(stratum, size, topo, g)) else {
                        continue;
                    };
                    let mut models = serde_json::Map::new();
                    for (m, name) in MODELS.iter().enumerate() {
                        let med = median(&cell[m]);
                        if g <= 5 {
                            worst[m] = worst[m].max(med);
                        }
                        models.insert(
                            (*name).to_owned(),
                            json!({ "median": med, "p90": quantile(&cell[m], 0.9), "max": quantile(&cell[m], 1.0) }),
                        );
                    }
                    cells.push(json!({ "sybils": size, "topology": topo, "attack_edges": g, "samples": cell[0].len(), "gain": models }));
                }
            }
        }
        let worst: serde_json::Map<String, Value> = MODELS
            .iter()
            .zip(worst)
            .map(|(n, w)| ((*n).to_owned(), json!(w)))
            .collect();
        out.insert(
            stratum.to_owned(),
            json!({ "worst_cell_median_gain_s_le_1000_g_le_5": worst, "cells": cells }),
        );
    }
    json!({
        "egos": egos.len(),
        "ego_attacker_pairs": pairs,
        "strata": out,
    })
}
