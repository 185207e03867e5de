//! The personalised, Sybil-tolerant trust engine: MeritRank over incrementally maintained walks.
//!
//! Implements the reputation model of Nasrulin, Ishmaev and Pouwelse, "MeritRank: Sybil Tolerant
//! Reputation for Merit-based Tokenomics" (BRAINS 2022):
//!
//! * **Walk trust.** The ego's trust in `j` starts as the share of the ego's walks that reach `j` at
//!   least once (a hitting probability). Counting each walk once, rather than counting visits, means
//!   nobody can raise their own score by routing walks back to themselves in a loop: an attacker's
//!   own score does not depend on its out-attestations at all.
//! * **Transitivity decay** α: each walk stops with probability α at every node, so trust fades
//!   geometrically with distance and a region behind one node can absorb at most `(1-α)/α` expected
//!   hops of each walk that enters it.
//! * **Connectivity decay** β: if more than θ of the walks reaching `j` first went through one single
//!   other node `k` (its *bridge*), `j`'s score is scaled down linearly, to `1-β` when every walk did,
//!   and additionally by `k`'s own multiplier (the decay compounds along chains of bridges). A Sybil
//!   region hangs off its attacker by construction, so each Sybil is fully bridged, and the whole
//!   region can add at most `(1-β)(1-α)/α` of the attacker's own score, however the attacker itself
//!   is connected.
//! * **Colluders** (an extension): a node nearly all of whose walks passed a small *set* of nodes
//!   (its nearest bridge set, at most `max_bridge_set` members) hangs off that set; everything
//!   hanging off a member keeps at most `bridge_set_capacity ×` that member's trust (a capacity
//!   cap), and each walk relays at most the smallest factor of the nodes it passed (relay
//!   discount). A region attached by `k ≤ max_bridge_set` colluders then adds about
//!   `c(2-α)/(1-c) ≈ 0.2` of their trust in expectation (see `score` and `TRUST.md`). So that
//!   the bound holds per ego, not only in the median (issue 23), a node whose best set narrowly
//!   misses hangs off it in part, walks routed in through a region do not count in the set test,
//!   and a node's decay is set by its heaviest bridge by relay weight.
//! * **Beyond the sample**, a node no walk reached but that a sampled node attests is given its
//!   expected share `Σ_u trust(u)·(1-α)·P(u → j)` (decayed again), instead of 0 (see `score`).
//! * **Negative attestations** subtract `negative_cap × trust(rater) × strength` from their subject,
//!   where `trust(rater)` is the rater's own (connectivity-decayed) walk trust and `strength ∈ [0, 1]`
//!   is the normalised, half-life-decayed score. A rater the ego does not trust removes nothing.
//! * **Per skill**, the last hop is restricted to attestations of that skill: the score is the
//!   expected share of walks whose hop into `j` follows a positive attestation of that skill,
//!   `Σ_u reach(u) · (1-α) · w_skill(u→j) / W(u)`, where `W(u)` is `u`'s total positive weight;
//!   the earlier hops are the ordinary (all-skill) walks.
//!
//! Scores lie in `[-Σ penalties, 1]`: positive values are trust (1 would mean every walk reaches
//! `j`), negative values mean net distrust. The ego's score for itself is not reported.

use std::collections::HashMap;

use crate::explain::{self, Explanation};
use crate::graph::{NodeKey, TrustGraph};
use crate::rng::{stable_hash, FxHashMap};
use crate::score::Scorer;
use crate::walks::{EgoWalks, OutChange, NO_NODE};
use crate::{ConfigError, TrustConfig, TrustModel};

/// Personalised trust for one or more egos over a [`TrustGraph`], kept up to date incrementally.
///
/// Serialized as its configuration and graph: the egos' walks are a cache, drawn again (from
/// the configured seed) when an ego is first asked about, as after [`TrustEngine::with_graph`].
/// Two engines are equal when their configurations and graphs are.
#[derive(Clone, Debug)]
pub struct TrustEngine<K> {
    config: TrustConfig,
    graph: TrustGraph<K>,
    egos: FxHashMap<u32, EgoWalks>,
}

impl<K: NodeKey> TrustEngine<K> {
    /// An engine over an empty graph.
    pub fn new(config: TrustConfig) -> Result<Self, ConfigError> {
        let graph = TrustGraph::new(&config);
        Self::with_graph(config, graph)
    }

    /// An engine over an existing graph (which should have been created with the same `config`).
    pub fn with_graph(config: TrustConfig, graph: TrustGraph<K>) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(TrustEngine {
            config,
            graph,
            egos: FxHashMap::default(),
        })
    }

    /// The attestation graph.
    pub fn graph(&self) -> &TrustGraph<K> {
        &self.graph
    }

    /// The configuration.
    pub fn config(&self) -> &TrustConfig {
        &self.config
    }

    /// Records an attestation (see [`TrustGraph::upsert`]) and repairs the walks of every tracked ego.
    pub fn upsert(
        &mut self,
        issuer: K,
        subject: K,
        skill: &str,
        score: i32,
        issued_at: u64,
    ) -> bool {
        let u = self.graph.intern(issuer);
        let v = self.graph.intern(subject);
        let s = self.graph.intern_skill(skill);
        self.mutate(u, v, |g| g.upsert_ids(u, v, s, score, issued_at))
    }

    /// Revokes an attestation (see [`TrustGraph::remove`]) and repairs the walks of every tracked ego.
    pub fn remove(&mut self, issuer: K, subject: K, skill: &str) -> bool {
        let (Some(u), Some(v), Some(s)) = (
            self.graph.id(&issuer),
            self.graph.id(&subject),
            self.graph.skill_id(skill),
        ) else {
            return false;
        };
        self.mutate(u, v, |g| g.remove_ids(u, v, s))
    }

    /// Drops all of `issuer`'s attestations, now and in future (equivocation), and repairs the walks.
    /// Returns the number of attestations removed.
    pub fn remove_issuer(&mut self, issuer: K) -> usize {
        let u = self.graph.intern(issuer);
        if !self.is_visited(u) {
            return self.graph.remove_issuer_id(u);
        }
        self.graph.refresh_all();
        let removed = self.graph.remove_issuer_id(u);
        self.graph.refresh(u);
        let ch = OutChange {
            node: u,
            target: NO_NODE,
            p_old: 0.0,
            p_new: 0.0,
            has_edges: false,
        };
        for walks in self.egos.values_mut() {
            walks.repair(&self.graph, &ch);
        }
        removed
    }

    fn is_visited(&self, u: u32) -> bool {
        self.egos.values().any(|w| w.ego == u || w.hits(u) > 0)
    }

    fn mutate(
        &mut self,
        u: u32,
        v: u32,
        edit: impl FnOnce(&mut TrustGraph<K>) -> crate::graph::Change,
    ) -> bool {
        if !self.is_visited(u) {
            // No walk departs from `u`: only its sampler needs rebuilding, lazily, before next use.
            return edit(&mut self.graph).changed;
        }
        self.graph.refresh_all();
        let before = &self.graph.node(u).sampler;
        let p_old = before.prob(v);
        let change = edit(&mut self.graph);
        if change.walk_weight_changed {
            self.graph.refresh(u);
            let after = &self.graph.node(u).sampler;
            let ch = OutChange {
                node: u,
                target: v,
                p_old,
                p_new: after.prob(v),
                has_edges: !after.is_empty(),
            };
            for walks in self.egos.values_mut() {
                walks.repair(&self.graph, &ch);
            }
        }
        change.changed
    }

    /// Generates `ego`'s walks now if they are not cached yet (queries do this lazily).
    pub fn track(&mut self, ego: K) {
        self.ego_id(ego);
    }

    /// Forgets `ego`'s cached walks. Returns whether they were cached.
    pub fn untrack(&mut self, ego: K) -> bool {
        self.graph
            .id(&ego)
            .is_some_and(|e| self.egos.remove(&e).is_some())
    }

    /// The egos whose walks are cached.
    pub fn tracked(&self) -> Vec<K> {
        let mut v: Vec<K> = self.egos.keys().map(|&e| self.graph.key(e)).collect();
        v.sort();
        v
    }

    /// Discards `ego`'s walks and regenerates them from scratch with the seed-derived generator
    /// (the result equals a fresh engine's on the same graph).
    pub fn full_recompute(&mut self, ego: K) {
        let e = self.graph.intern(ego);
        self.egos.remove(&e);
        self.ego_id(ego);
    }

    fn ego_id(&mut self, ego: K) -> u32 {
        let e = self.graph.intern(ego);
        self.ensure_walks(ego, e);
        e
    }

    /// Generates the walks of `ego` (interned as `e`) if needed and brings its bridges up to date.
    fn ensure_walks(&mut self, ego: K, e: u32) {
        self.graph.refresh_all();
        if !self.egos.contains_key(&e) {
            let seed = self.config.seed ^ stable_hash(&ego);
            let c = &self.config;
            let w = EgoWalks::generate(
                &self.graph,
                e,
                c.walks_per_ego,
                c.alpha,
                c.max_walk_len,
                seed,
            );
            self.egos.insert(e, w);
        }
        let n = self.graph.len();
        let (k, theta) = (
            self.config.max_bridge_set as usize,
            self.config.bridge_set_threshold,
        );
        if let Some(w) = self.egos.get_mut(&e) {
            w.refresh_bridges(n, k, theta);
        }
    }

    /// A scorer for `ego`; `None` (all scores 0) for a key the graph has never seen.
    fn scorer(&mut self, ego: K) -> Option<Scorer<'_, K>> {
        let e = self.graph.id(&ego)?;
        self.ensure_walks(ego, e);
        let walks = self.egos.get(&e)?;
        Some(Scorer::new(&self.graph, walks, &self.config))
    }

    /// `ego`'s trust in `target`, in general or for one skill, at time `now` (decays negatives).
    pub fn score(&mut self, ego: K, target: K, skill: Option<&str>, now: u64) -> f64 {
        let Some(t) = self.graph.id(&target) else {
            return 0.0;
        };
        let Some(sc) = self.scorer(ego) else {
            return 0.0;
        };
        if t == sc.walks.ego {
            return 0.0;
        }
        match skill {
            None => sc.score(t, None, now),
            Some(name) => match sc.graph.skill_id(name) {
                Some(s) => sc.score(t, Some(s), now),
                None => 0.0,
            },
        }
    }

    /// `ego`'s non-zero scores for every other node, in general or for one skill.
    pub fn scores(&mut self, ego: K, skill: Option<&str>, now: u64) -> HashMap<K, f64> {
        let Some(sc) = self.scorer(ego) else {
            return HashMap::new();
        };
        let raw = match skill {
            None => sc.all(None, now),
            Some(name) => match sc.graph.skill_id(name) {
                Some(s) => sc.all(Some(s), now),
                None => Vec::new(),
            },
        };
        raw.into_iter().map(|(u, v)| (sc.graph.key(u), v)).collect()
    }

    /// Why `ego` trusts `target` as it does: paths, direct attestations, negatives and penalties.
    pub fn explain(&mut self, ego: K, target: K, skill: Option<&str>, now: u64) -> Explanation<K> {
        let t = self.graph.id(&target);
        match (t, self.scorer(ego)) {
            (Some(t), Some(sc)) => explain::explain(&sc, t, skill, now),
            _ => Explanation::empty(ego, target, skill),
        }
    }

    /// Checks `ego`'s cached walks against the current graph (see `EgoWalks::verify`); for tests.
    pub fn verify_walks(&self, ego: K) -> Result<(), String> {
        let e = self.graph.id(&ego).ok_or("unknown ego")?;
        let w = self.egos.get(&e).ok_or("ego not tracked")?;
        if !self.graph.is_fresh() {
            let mut g = self.graph.clone();
            g.refresh_all();
            return w.verify(&g);
        }
        w.verify(&self.graph)
    }

    /// Rough heap footprint of the graph and every cached ego, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.graph.heap_bytes() + self.egos.values().map(EgoWalks::heap_bytes).sum::<usize>()
    }
}

impl<K: NodeKey> TrustModel<K> for TrustEngine<K> {
    fn name(&self) -> &'static str {
        "meritrank"
    }

    fn scores(&mut self, ego: K, now: u64) -> HashMap<K, f64> {
        TrustEngine::scores(self, ego, None, now)
    }
}

impl<K: NodeKey> PartialEq for TrustEngine<K> {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config && self.graph == other.graph
    }
}

impl<K: NodeKey + serde::Serialize> serde::Serialize for TrustEngine<K> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&(&self.config, &self.graph), serializer)
    }
}

impl<'de, K: NodeKey + serde::Deserialize<'de>> serde::Deserialize<'de> for TrustEngine<K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (config, graph): (TrustConfig, TrustGraph<K>) =
            serde::Deserialize::deserialize(deserializer)?;
        TrustEngine::with_graph(config, graph).map_err(serde::de::Error::custom)
    }
}
