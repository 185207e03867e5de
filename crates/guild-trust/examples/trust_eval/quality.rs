//! Honest-node coverage and held-out sign prediction (AUC).

use std::collections::{BTreeMap, HashMap};

use guild_trust::snap::SnapEdge;
use guild_trust::{
    EigenTrust, PersonalizedPageRank, Rng, TrustConfig, TrustEngine, TrustGraph, TrustModel,
};
use serde_json::{json, Value};

use crate::cost::build_graph;
use crate::stats::{auc, mean, median, quantile, spearman};

/// For each ego: which honest nodes keep a score.
///
/// The reference set is the nodes plain PPR reaches (PPR > 0, i.e. reachable from the ego over
/// positive attestations); the sampled egos are honest members of the real graph.
/// * `nonzero` — share of them with a non-zero engine score (the target's definition);
/// * `positive` — share with a positive engine score (negative attestations from trusted raters can
///   turn a node's score negative: non-zero but not trusted);
/// * `ppr_mass` — share of PPR's trust mass on nodes with a positive engine score;
/// * `spearman_vs_ppr` — rank correlation of engine and PPR scores over the reached nodes.
pub fn coverage(g: &TrustGraph<u64>, cfg: &TrustConfig, egos: &[u64], now: u64) -> Value {
    let (mut nonzero, mut positive, mut mass, mut rho, mut reach_ppr) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let Ok(mut engine) = TrustEngine::with_graph(cfg.clone(), g.clone()) else {
        return json!({ "error": "invalid config" });
    };
    for &ego in egos {
        let ppr = PersonalizedPageRank::new(g, cfg.alpha).scores(ego, now);
        if ppr.is_empty() {
            continue;
        }
        let mr = engine.scores(ego, None, now);
        engine.untrack(ego);
        let count = |pred: &dyn Fn(f64) -> bool| {
            ppr.keys()
                .filter(|k| mr.get(k).is_some_and(|&v| pred(v)))
                .count() as f64
        };
        nonzero.push(count(&|v| v != 0.0) / ppr.len() as f64);
        positive.push(count(&|v| v > 0.0) / ppr.len() as f64);
        let total: f64 = ppr.values().sum();
        let covered: f64 = ppr
            .iter()
            .filter(|(k, _)| mr.get(k).is_some_and(|&v| v > 0.0))
            .map(|(_, v)| v)
            .sum();
        mass.push(covered / total);
        let keys: Vec<&u64> = ppr.keys().collect();
        let a: Vec<f64> = keys.iter().map(|k| ppr[k]).collect();
        let b: Vec<f64> = keys
            .iter()
            .map(|k| mr.get(k).copied().unwrap_or(0.0))
            .collect();
        rho.push(spearman(&a, &b));
        reach_ppr.push(ppr.len() as f64);
    }
    let s = |v: &[f64]| json!({ "mean": mean(v), "median": median(v), "min": quantile(v, 0.0) });
    json!({
        "egos": nonzero.len(),
        "ppr_reached_nodes_mean": mean(&reach_ppr),
        "nonzero": s(&nonzero),
        "positive": s(&positive),
        "ppr_mass": s(&mass),
        "spearman_vs_ppr": s(&rho),
    })
}

/// Hold out a random `fraction` of the edges; for each held-out `u → v`, score = `u`'s trust in `v` on
/// the remaining graph; label = sign of the rating. AUC per model (ties count one half).
pub fn held_out_auc(
    edges: &[SnapEdge],
    cfg: &TrustConfig,
    fraction: f64,
    max_egos: usize,
    now: u64,
    rng: &mut Rng,
) -> Value {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for e in edges {
        if rng.chance(fraction) && e.rating != 0 {
            test.push(*e);
        } else {
            train.push(*e);
        }
    }
    let g = build_graph(&train, cfg);
    // Group held-out edges by ego; optionally limit the number of egos (chosen at random).
    let mut by_ego: BTreeMap<u64, Vec<SnapEdge>> = BTreeMap::new();
    for e in &test {
        by_ego.entry(e.source).or_default().push(*e);
    }
    let mut egos: Vec<u64> = by_ego.keys().copied().collect();
    while egos.len() > max_egos {
        egos.swap_remove(rng.below(egos.len() as u64) as usize);
    }
    egos.sort_unstable();
    let no_cd = TrustConfig {
        connectivity_decay: 0.0,
        max_bridge_set: 0,
        ..cfg.clone()
    };
    let single = TrustConfig {
        max_bridge_set: 0,
        ..cfg.clone()
    };
    let (Ok(mut mr), Ok(mut mr0), Ok(mut mr1)) = (
        TrustEngine::with_graph(cfg.clone(), g.clone()),
        TrustEngine::with_graph(no_cd, g.clone()),
        TrustEngine::with_graph(single, g.clone()),
    ) else {
        return json!({ "error": "invalid config" });
    };
    let names = [
        "meritrank",
        "meritrank_no_connectivity_decay",
        "ppr",
        "eigentrust",
        "meritrank_single_bridge",
    ];
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut labels = Vec::new();
    for &ego in &egos {
        let maps: [HashMap<u64, f64>; 5] = [
            TrustEngine::scores(&mut mr, ego, None, now),
            TrustEngine::scores(&mut mr0, ego, None, now),
            PersonalizedPageRank::new(&g, cfg.alpha).scores(ego, now),
            EigenTrust::new(&g, cfg.alpha).scores(ego, now),
            TrustEngine::scores(&mut mr1, ego, None, now),
        ];
        mr.untrack(ego);
        mr0.untrack(ego);
        mr1.untrack(ego);
        for e in &by_ego[&ego] {
            labels.push(e.rating > 0);
            for (m, map) in maps.iter().enumerate() {
                scores[m].push(map.get(&e.target).copied().unwrap_or(0.0));
            }
        }
    }
    let mut out = serde_json::Map::new();
    for (m, name) in names.iter().enumerate() {
        let zero =
            scores[m].iter().filter(|&&x| x == 0.0).count() as f64 / labels.len().max(1) as f64;
        out.insert(
            (*name).to_owned(),
            json!({ "auc": auc(&scores[m], &labels), "share_scored_zero": zero }),
        );
    }
    json!({
        "held_out_edges": labels.len(),
        "positive": labels.iter().filter(|&&l| l).count(),
        "negative": labels.iter().filter(|&&l| !l).count(),
        "egos": egos.len(),
        "models": out,
    })
}
