//! Baselines the engine is compared against: personalised PageRank and EigenTrust.
//!
//! Both are computed exactly by power iteration on the whole graph, restarting at the ego, with the
//! same restart probability α as the engine's transitivity decay so that the comparison isolates the
//! mechanisms rather than the constants.
//!
//! * **Personalised PageRank** (Page, Brin, Motwani, Winograd 1999; Haveliwala 2002) — "plain":
//!   the unweighted graph of pairs with at least one positive attestation; no time decay, no
//!   negatives. A dangling node sends its mass back to the ego.
//! * **EigenTrust** (Kamvar, Schlosser, Garcia-Molina, WWW 2003) with the ego as the only
//!   pre-trusted peer: local trust `s_ij = max(0, Σ positive − Σ |negative|)` over `i`'s attestations of
//!   `j` (normalised, half-life-decayed), normalised per row `c_ij = s_ij / Σ_j s_ij`; a peer with no
//!   local trust defers to the pre-trusted distribution; `t ← (1-a) Cᵀ t + a p` with `a = α`.
//!
//! Scores are stationary probabilities; the ego's own entry is not reported.

use std::collections::HashMap;

use crate::graph::{NodeKey, TrustGraph};
use crate::TrustModel;

/// Power iteration stops when the L1 change falls below this…
pub const TOLERANCE: f64 = 1e-10;
/// …or after this many iterations (0.85^150 ≈ 3e-11, so the tolerance is reached first).
pub const MAX_ITERATIONS: u32 = 150;

/// A row-stochastic sparse matrix in CSR form.
struct Transitions {
    start: Vec<usize>,
    to: Vec<u32>,
    p: Vec<f64>,
}

impl Transitions {
    fn build<K: NodeKey>(
        g: &TrustGraph<K>,
        mut weight: impl FnMut(u32, &crate::graph::Pair) -> f64,
    ) -> Self {
        let n = g.len();
        let mut t = Transitions {
            start: Vec::with_capacity(n + 1),
            to: Vec::new(),
            p: Vec::new(),
        };
        t.start.push(0);
        for u in 0..n as u32 {
            let row_start = t.to.len();
            for pair in &g.node(u).out {
                let w = weight(u, pair);
                if w > 0.0 && w.is_finite() {
                    t.to.push(pair.to);
                    t.p.push(w);
                }
            }
            let sum: f64 = t.p[row_start..].iter().sum();
            for x in &mut t.p[row_start..] {
                *x /= sum;
            }
            t.start.push(t.to.len());
        }
        t
    }

    /// Stationary distribution of the walk that restarts at `ego` with probability `alpha`.
    fn personalised(&self, ego: u32, alpha: f64) -> Vec<f64> {
        let n = self.start.len() - 1;
        let mut t = vec![0.0; n];
        let mut next = vec![0.0; n];
        if (ego as usize) >= n {
            return t;
        }
        t[ego as usize] = 1.0;
        for _ in 0..MAX_ITERATIONS {
            next.iter_mut().for_each(|x| *x = 0.0);
            let mut dangling = 0.0;
            for (u, &mass) in t.iter().enumerate() {
                if mass == 0.0 {
                    continue;
                }
                let (a, b) = (self.start[u], self.start[u + 1]);
                if a == b {
                    dangling += mass;
                    continue;
                }
                for (&v, &p) in self.to[a..b].iter().zip(&self.p[a..b]) {
                    next[v as usize] += (1.0 - alpha) * mass * p;
                }
            }
            next[ego as usize] += alpha + (1.0 - alpha) * dangling;
            let diff: f64 = t.iter().zip(&next).map(|(a, b)| (a - b).abs()).sum();
            std::mem::swap(&mut t, &mut next);
            if diff < TOLERANCE {
                break;
            }
        }
        t
    }
}

fn to_map<K: NodeKey>(g: &TrustGraph<K>, ego: u32, v: Vec<f64>) -> HashMap<K, f64> {
    v.into_iter()
        .enumerate()
        .filter(|&(u, x)| x > 0.0 && u as u32 != ego)
        .map(|(u, x)| (g.key(u as u32), x))
        .collect()
}

/// Plain personalised PageRank over positive attestations (unweighted).
#[derive(Debug, Clone, Copy)]
pub struct PersonalizedPageRank<'g, K> {
    graph: &'g TrustGraph<K>,
    alpha: f64,
}

impl<'g, K: NodeKey> PersonalizedPageRank<'g, K> {
    /// PPR over `graph` with restart probability `alpha`.
    pub fn new(graph: &'g TrustGraph<K>, alpha: f64) -> Self {
        PersonalizedPageRank { graph, alpha }
    }
}

impl<K: NodeKey> TrustModel<K> for PersonalizedPageRank<'_, K> {
    fn name(&self) -> &'static str {
        "ppr"
    }

    fn scores(&mut self, ego: K, _now: u64) -> HashMap<K, f64> {
        let Some(e) = self.graph.id(&ego) else {
            return HashMap::new();
        };
        let t = Transitions::build(self.graph, |_, pair| {
            if pair.pos_log2 > f64::NEG_INFINITY {
                1.0
            } else {
                0.0
            }
        });
        to_map(self.graph, e, t.personalised(e, self.alpha))
    }
}

/// EigenTrust with the ego as the single pre-trusted peer.
#[derive(Debug, Clone, Copy)]
pub struct EigenTrust<'g, K> {
    graph: &'g TrustGraph<K>,
    alpha: f64,
}

impl<'g, K: NodeKey> EigenTrust<'g, K> {
    /// EigenTrust over `graph` with pre-trust weight `alpha`.
    pub fn new(graph: &'g TrustGraph<K>, alpha: f64) -> Self {
        EigenTrust { graph, alpha }
    }
}

impl<K: NodeKey> TrustModel<K> for EigenTrust<'_, K> {
    fn name(&self) -> &'static str {
        "eigentrust"
    }

    fn scores(&mut self, ego: K, now: u64) -> HashMap<K, f64> {
        let Some(e) = self.graph.id(&ego) else {
            return HashMap::new();
        };
        let g = self.graph;
        let t = Transitions::build(g, |_, pair| {
            pair.atts()
                .map(|a| g.abs_weight(a, now))
                .sum::<f64>()
                .max(0.0)
        });
        to_map(g, e, t.personalised(e, self.alpha))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::TrustConfig;

    fn graph(edges: &[(u64, u64, i32)]) -> TrustGraph<u64> {
        let mut g = TrustGraph::new(&TrustConfig::default());
        for &(a, b, s) in edges {
            g.upsert(a, b, "", s, 100);
        }
        g
    }

    #[test]
    fn ppr_matches_closed_form_on_a_chain() {
        // 0 -> 1 -> 2 (dangling): mass at 1 is (1-a)·p0, at 2 (1-a)·p1.
        let g = graph(&[(0, 1, 5), (1, 2, 5)]);
        let s = PersonalizedPageRank::new(&g, 0.15).scores(0, 100);
        let (p1, p2) = (s[&1], s[&2]);
        assert!((p1 / p2 - 1.0 / 0.85).abs() < 1e-6, "{p1} {p2}");
        let total: f64 = s.values().sum();
        assert!(total < 1.0);
    }

    #[test]
    fn eigentrust_ignores_net_negative_pairs_and_ppr_ignores_weights() {
        let mut g = graph(&[(0, 1, 5), (0, 2, 1), (0, 3, -5)]);
        g.upsert(0, 2, "rust", -5, 100); // pair 0->2 nets negative
        let et = EigenTrust::new(&g, 0.15).scores(0, 100);
        assert!(et.contains_key(&1));
        assert!(!et.contains_key(&2) && !et.contains_key(&3));
        let ppr = PersonalizedPageRank::new(&g, 0.15).scores(0, 100);
        assert!((ppr[&1] - ppr[&2]).abs() < 1e-12); // 0->2 has a positive attestation
        assert!(!ppr.contains_key(&3));
    }
}
