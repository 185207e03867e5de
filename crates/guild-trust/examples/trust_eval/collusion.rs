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
//!
//! **What a user sees** (per model, on its own scores after the attack):
//! * `sybil_percentile`: the best Sybil's percentile among the ego's honest members — the share of
//!   honest nodes with a positive score (neither attackers nor Sybils) that score below the best
//!   Sybil (ties count one half). Below 0.5 means the best Sybil ranks below the honest median.
//! * `attack_share`: the share of the ego's total positive trust held by attackers plus Sybils.
//!
//! Every figure is reported per cell as median, p90 and max over the egos; `flags` lists each cell
//! whose engine max exceeds the single-bridge engine's max or PPR's.

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

/// `(best Sybil's percentile among honest members, attackers' + Sybils' share of positive trust)`.
///
/// Sybils are the keys `>= first_sybil`; honest members are the other positively scored keys
/// that are not attackers.
fn user_view(m: &HashMap<u64, f64>, attackers: &[u64], first_sybil: u64) -> (f64, f64) {
    let (mut best, mut attack, mut all) = (0.0f64, 0.0, 0.0);
    let mut honest = Vec::new();
    for (&k, &v) in m {
        if v <= 0.0 {
            continue;
        }
        all += v;
        if k >= first_sybil {
            best = best.max(v);
            attack += v;
        } else if attackers.contains(&k) {
            attack += v;
        } else {
            honest.push(v);
        }
    }
    let pct = if honest.is_empty() || best <= 0.0 {
        0.0
    } else {
        let below = honest.iter().filter(|&&h| h < best).count() as f64;
        let tied = honest.iter().filter(|&&h| h == best).count() as f64;
        (below + tied / 2.0) / honest.len() as f64
    };
    let share = if all > 0.0 { attack / all } else { 0.0 };
    (pct, share)
}

fn tail(xs: &[f64]) -> Value {
    json!({ "median": median(xs), "p90": quantile(xs, 0.9), "max": quantile(xs, 1.0) })
}

/// Per model: gains, best-Sybil percentiles, attack shares (one entry per ego).
#[derive(Default)]
struct Samples {
    gain: [Vec<f64>; 5],
    pct: [Vec<f64>; 5],
    share: [Vec<f64>; 5],
    /// `(ego, attackers)` of each entry, to trace outliers.
    who: Vec<(u64, Vec<u64>)>,
}

type Cell = (&'static str, usize, u64, &'static str, &'static str);

/// Runs every (stratum, k, S, topology, variant) cell for the given egos. Long (the cells'
/// loops, each model scored on the same attacked graph, then the per-cell summaries) on purpose.
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
    let mut gains: HashMap<Cell, Samples> = HashMap::new();
    let mut samples = Vec::new();
    let mut skipped = Vec::new();
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
        // The pool leaves out the engine under test (`before[0]`), so that a change to it does
        // not change which attackers are drawn; a draw it scores ≤ 0 is skipped (`skipped`).
        let mut pool: Vec<(u64, f64)> = before[1]
            .iter()
            .filter(|&(k, &v)| {
                v > 0.0
                    && before[1..]
                        .iter()
                        .all(|m| m.get(k).is_some_and(|&x| x > 0.0))
            })
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
                if total(&before[0], &attackers) <= 0.0 {
                    skipped.push(
                        json!({ "ego": ego, "stratum": stratum, "k": k, "attackers": attackers }),
                    );
                    continue;
                }
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
                                cell.gain[m].push(num / total(&before[m], &attackers));
                                let (pct, share) = user_view(&after[m], &attackers, first_sybil);
                                cell.pct[m].push(pct);
                                cell.share[m].push(share);
                            }
                            cell.who.push((ego, attackers.clone()));
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
    let mut flags = Vec::new();
    // Per (stratum, k): the worst cell's median, p90 and max gain per model.
    type Tails = [(f64, f64, f64); 5];
    let mut worst: HashMap<(&str, usize), Tails> = HashMap::new();
    // Per k: (cells, cells whose engine median best-Sybil percentile < 0.5), and the same per
    // sample (ego × cell).
    let mut below_median: HashMap<usize, (usize, usize, usize, usize)> = HashMap::new();
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
                            let g = &cell.gain[m];
                            let (med, p90, max) = (median(g), quantile(g, 0.9), quantile(g, 1.0));
                            w[m].0 = w[m].0.max(med);
                            w[m].1 = w[m].1.max(p90);
                            w[m].2 = w[m].2.max(max);
                            models.insert(
                                (*name).to_owned(),
                                json!({
                                    "gain": tail(g),
                                    "sybil_percentile": tail(&cell.pct[m]),
                                    "attack_share": tail(&cell.share[m]),
                                }),
                            );
                        }
                        let max = |m: usize| quantile(&cell.gain[m], 1.0);
                        let (e, sb, ppr) = (max(0), max(1), max(3));
                        if e > sb || e > ppr {
                            flags.push(json!({
                                "stratum": stratum, "colluders": k, "sybils": size,
                                "topology": topo, "variant": variant, "engine_max": e,
                                "single_bridge_max": sb, "ppr_max": ppr,
                                "above": if e > sb && e > ppr { "single_bridge,ppr" }
                                    else if e > sb { "single_bridge" } else { "ppr" },
                            }));
                        }
                        let b = below_median.entry(k).or_default();
                        b.0 += 1;
                        b.1 += usize::from(median(&cell.pct[0]) < 0.5);
                        b.2 += cell.pct[0].len();
                        b.3 += cell.pct[0].iter().filter(|&&p| p < 0.5).count();
                        // The engine's worst sample, to trace outliers.
                        let arg = (0..cell.gain[0].len())
                            .max_by(|&a, &b| cell.gain[0][a].total_cmp(&cell.gain[0][b]));
                        let worst_sample = arg.map(|i| {
                            json!({ "ego": cell.who[i].0, "attackers": cell.who[i].1,
                                    "gain": cell.gain[0][i],
                                    "single_bridge_gain": cell.gain[1][i] })
                        });
                        cells.push(json!({
                            "stratum": stratum, "colluders": k, "sybils": size, "topology": topo,
                            "variant": variant, "samples": cell.gain[0].len(), "models": models,
                            "engine_gains": cell.gain[0], "engine_worst_sample": worst_sample,
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
                    .map(|(n, (m, p, x))| {
                        ((*n).to_owned(), json!({ "median": m, "p90": p, "max": x }))
                    })
                    .collect();
                worst_out.push(json!({ "stratum": stratum, "colluders": k, "worst_cell": models }));
            }
        }
    }
    let mut below: Vec<Value> = below_median
        .into_iter()
        .map(|(k, (c, cb, s, sb))| {
            json!({ "colluders": k, "cells": c, "cells_median_below": cb,
                    "samples": s, "samples_below": sb })
        })
        .collect();
    below.sort_by_key(|v| v["colluders"].as_u64());
    json!({
        "egos": egos.len(),
        "attack_edges_per_attacker": ATTACK_EDGES,
        "worst": worst_out,
        "flags": flags,
        "engine_best_sybil_below_honest_median": below,
        "cells": cells,
        "samples": samples, "skipped_engine_not_positive": skipped,
    })
}

/// One node's explanation, in a line: what its score is made of.
fn brief(e: &mut TrustEngine<u64>, ego: u64, n: u64, now: u64) -> Value {
    let x = e.explain(ego, n, None, now);
    let c = &x.connectivity;
    json!({
        "node": n, "score": x.score, "walk_trust": x.walk_trust, "bridge": c.bridge,
        "bridge_share": c.bridge_share, "factor": c.factor, "inherited": c.inherited_factor,
        "set_factor": c.bridge_set_factor, "set_ignored": c.bridge_set_ignored_walks, "set_weight": c.bridge_set_weight,
        "set": c.bridge_set.iter().map(|s| json!([s.node, s.share, s.scale])).collect::<Vec<_>>(),
        "paths": x.paths.iter().map(|p| json!([p.nodes, p.share])).collect::<Vec<_>>(),
    })
}

/// Traces one sample (`--trace EGO:A1,A2,…`): for every cell, the engine's gain and, before and
/// after the attack, the explanation of each attacker, of its bridge and of its set members.
pub fn trace(
    base: &TrustGraph<u64>,
    edges: &[SnapEdge],
    cfg: &TrustConfig,
    ego: u64,
    attackers: &[u64],
    now: u64,
) -> Value {
    let first_sybil = base.keys().max().unwrap_or(0) + 1;
    let max_score = i32::try_from(cfg.max_score).unwrap_or(i32::MAX);
    let mut out: HashMap<u64, Vec<u64>> = HashMap::new();
    for e in edges {
        out.entry(e.source).or_default().push(e.target);
    }
    let Ok(mut engine) = TrustEngine::with_graph(cfg.clone(), base.clone()) else {
        return json!(null);
    };
    let before = engine.scores(ego, None, now);
    // The attackers and what their scores rest on (bridge, set members), before the attack.
    let mut watch: Vec<u64> = attackers.to_vec();
    for &a in attackers {
        let x = engine.explain(ego, a, None, now);
        watch.extend(x.connectivity.bridge);
        watch.extend(x.connectivity.bridge_set.iter().map(|s| s.node));
        for p in &x.paths {
            watch.extend(p.nodes.iter().copied().filter(|&n| n != ego));
        }
    }
    watch.sort_unstable();
    watch.dedup();
    let explain_all = |e: &mut TrustEngine<u64>| -> Vec<Value> {
        watch.iter().map(|&n| brief(e, ego, n, now)).collect()
    };
    let mut cells = Vec::new();
    let initial = explain_all(&mut engine);
    for &size in &SIZES {
        let sybils: Vec<u64> = (first_sybil..first_sybil + size).collect();
        for topo in TOPOLOGIES {
            let mut e = engine.clone();
            for (s, t) in region_edges(topo, &sybils) {
                e.upsert(s, t, "", max_score, now);
            }
            for &s in &sybils {
                for &a in attackers {
                    e.upsert(s, a, "", max_score, now);
                }
            }
            for (i, &a) in attackers.iter().enumerate() {
                for t in 0..ATTACK_EDGES {
                    let s = sybils[((i as u64 * ATTACK_EDGES + t) % size) as usize];
                    e.upsert(a, s, "", max_score, now);
                }
            }
            for variant in VARIANTS {
                if variant == "whitewash" {
                    for &a in attackers {
                        for &t in out.get(&a).map_or(&[][..], Vec::as_slice) {
                            e.remove(a, t, "");
                        }
                    }
                }
                let after = e.scores(ego, None, now);
                let gain =
                    (total(&after, attackers) + total(&after, &sybils)) / total(&before, attackers);
                let best = sybils
                    .iter()
                    .filter_map(|s| after.get(s).map(|&v| (*s, v)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                cells.push(json!({
                    "sybils": size, "topology": topo, "variant": variant, "gain": gain,
                    "attackers_after": total(&after, attackers),
                    "sybils_after": total(&after, &sybils),
                    "best_sybil": best.map(|(s, _)| brief(&mut e, ego, s, now)),
                    "after": explain_all(&mut e),
                }));
            }
        }
    }
    json!({ "ego": ego, "attackers": attackers, "attackers_before": total(&before, attackers),
            "before": initial, "cells": cells })
}
