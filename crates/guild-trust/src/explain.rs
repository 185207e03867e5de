//! Explanations: why an ego trusts a target as much as it does.
//!
//! An [`Explanation`] decomposes a score into the evidence behind it, in the engine's own terms:
//!
//! * `paths` — the strongest routes by which the ego's walks reached the target. Each walk that hits
//!   the target contributes its loop-erased prefix (ego … target); identical paths are aggregated and
//!   the top ones reported with the share of all walks that took them. For a skill score (and for a
//!   target the walks never reached, whose score is extrapolated one hop) the paths lead to the
//!   issuers of the attestations and end with the hop into the target.
//! * `direct` — every attestation *into* the target, with its decayed weight, the ego's trust in its
//!   issuer, and the expected walk flow it carried (`reach(issuer) · (1-α) · weight / W(issuer)`,
//!   with the issuer's decayed trust instead of its reach for extrapolated targets).
//! * `negative` — negative attestations and the penalty each one applied (capped by issuer trust).
//! * `connectivity` — the target's bridge (the node most of its walks passed through) and the
//!   MeritRank connectivity-decay factor that was applied (including the part inherited from the
//!   bridge's own decay), and the collusion bound: the nearest *set* of bridges that carries most of
//!   the target's walks, and how much each member's capacity cap scaled the target down.

use serde::Serialize;

use crate::graph::NodeKey;
use crate::rng::FxHashMap;
use crate::score::{Scorer, Source};
use crate::walks::{first_visit, loop_erased, NO_NODE};

/// How many paths an explanation lists.
pub const TOP_PATHS: usize = 5;
/// How many direct contributors (and negative ones) an explanation lists.
pub const TOP_CONTRIBUTORS: usize = 10;

/// The decomposition of one trust score. Serialisable as JSON for `guild trust <peer>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation<K> {
    /// Whose point of view.
    pub ego: K,
    /// Who is being explained.
    pub target: K,
    /// The skill the score is restricted to, if any.
    pub skill: Option<String>,
    /// The final score (`walk_trust × connectivity.factor − negative_total`).
    pub score: f64,
    /// Before penalties: share of walks reaching the target (general) or expected skill last-hop flow.
    pub walk_trust: f64,
    /// Number of walks the estimate is based on.
    pub walks: u32,
    /// The connectivity-decay penalty applied.
    pub connectivity: Connectivity<K>,
    /// Sum of all negative penalties.
    pub negative_total: f64,
    /// Strongest supporting paths, best first.
    pub paths: Vec<PathContribution<K>>,
    /// Attestations into the target with their weight and their issuer's standing, strongest first.
    pub direct: Vec<Contributor<K>>,
    /// Negative attestations into the target and the penalty each applied, largest first.
    pub negative: Vec<Contributor<K>>,
}

/// The connectivity-decay part of an explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Connectivity<K> {
    /// The node most of the target's walks passed through first, if any.
    pub bridge: Option<K>,
    /// Share of the target's walks that passed through `bridge`.
    pub bridge_share: f64,
    /// Multiplier applied to the walk trust (1 = no penalty), `inherited_factor` included.
    pub factor: f64,
    /// Part of `factor` inherited from the nodes the target's walks passed: the bridge's own
    /// factor when bridge sets are off (1 if not bridged); with bridge sets, the relay discount
    /// (each walk counts the smallest factor of the nodes it passed).
    pub inherited_factor: f64,
    /// Score removed by the penalty.
    pub penalty: f64,
    /// The nearest small set of nodes that together carry most of the target's walks (the
    /// colluders, for a Sybil region), strongest first; empty if there is none.
    pub bridge_set: Vec<SetBridge<K>>,
    /// Part of `factor` due to the bridge set's capacity caps (1 = not capped).
    pub bridge_set_factor: f64,
    /// Set when `bridge_set` carries enough of the target's walks only without the walks
    /// *routed* to it through a region — each relaying less than `(1 − β)²` of the target's mean
    /// walk weight, after passing a node closed behind the target or hanging off its partner
    /// (for a colluder: its partners' Sybils): how many walks were left out. `bridge_set` shares
    /// are then of the other walks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_set_ignored_walks: Option<u32>,
    /// Set when `bridge_set` is a near miss's *partial* set (its shares add up to more than one
    /// half but at most the set threshold): how much the target hangs off it, from 0 at one half
    /// to 1 at the threshold; `bridge_set_factor` is the members' cap raised to this power.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_set_weight: Option<f64>,
}

/// One member of a target's bridge set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetBridge<K> {
    /// The member.
    pub node: K,
    /// Share of the target's walks it carries (first covered by it, in the greedy order).
    pub share: f64,
    /// Scale its capacity applied to every node hanging off it (1 = within capacity).
    pub scale: f64,
}

/// One aggregated path from the ego to the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathContribution<K> {
    /// Ego first, target last.
    pub nodes: Vec<K>,
    /// Share of all walks that followed this path (for skills: expected flow along it).
    pub share: f64,
    /// Its part of the score after connectivity decay.
    pub contribution: f64,
}

/// One attestation into the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contributor<K> {
    /// Who issued it.
    pub issuer: K,
    /// Its skill tag.
    pub skill: String,
    /// Its raw score.
    pub score: i32,
    /// When it was issued (unix seconds).
    pub issued_at: u64,
    /// Normalised, half-life-decayed strength at the query time, in `[-1, 1]`.
    pub weight: f64,
    /// The ego's walk trust in the issuer (1 for the ego itself).
    pub issuer_trust: f64,
    /// Expected walk flow it carried (positive), or the penalty it applied (negative entries).
    pub contribution: f64,
}

impl<K> Explanation<K> {
    /// An explanation of a zero score.
    pub fn empty(ego: K, target: K, skill: Option<&str>) -> Self {
        Explanation {
            ego,
            target,
            skill: skill.map(str::to_owned),
            score: 0.0,
            walk_trust: 0.0,
            walks: 0,
            connectivity: Connectivity {
                bridge: None,
                bridge_share: 0.0,
                factor: 1.0,
                inherited_factor: 1.0,
                penalty: 0.0,
                bridge_set: Vec::new(),
                bridge_set_factor: 1.0,
                bridge_set_ignored_walks: None,
                bridge_set_weight: None,
            },
            negative_total: 0.0,
            paths: Vec::new(),
            direct: Vec::new(),
            negative: Vec::new(),
        }
    }

    /// The same explanation with every key converted (e.g. public keys to hex strings for display).
    pub fn map_keys<L>(self, mut f: impl FnMut(K) -> L) -> Explanation<L> {
        let contributor = |c: Contributor<K>, f: &mut dyn FnMut(K) -> L| Contributor {
            issuer: f(c.issuer),
            skill: c.skill,
            score: c.score,
            issued_at: c.issued_at,
            weight: c.weight,
            issuer_trust: c.issuer_trust,
            contribution: c.contribution,
        };
        Explanation {
            ego: f(self.ego),
            target: f(self.target),
            skill: self.skill,
            score: self.score,
            walk_trust: self.walk_trust,
            walks: self.walks,
            connectivity: Connectivity {
                bridge: self.connectivity.bridge.map(&mut f),
                bridge_share: self.connectivity.bridge_share,
                factor: self.connectivity.factor,
                inherited_factor: self.connectivity.inherited_factor,
                penalty: self.connectivity.penalty,
                bridge_set: self
                    .connectivity
                    .bridge_set
                    .into_iter()
                    .map(|b| SetBridge {
                        node: f(b.node),
                        share: b.share,
                        scale: b.scale,
                    })
                    .collect(),
                bridge_set_factor: self.connectivity.bridge_set_factor,
                bridge_set_ignored_walks: self.connectivity.bridge_set_ignored_walks,
                bridge_set_weight: self.connectivity.bridge_set_weight,
            },
            negative_total: self.negative_total,
            paths: self
                .paths
                .into_iter()
                .map(|p| PathContribution {
                    nodes: p.nodes.into_iter().map(&mut f).collect(),
                    share: p.share,
                    contribution: p.contribution,
                })
                .collect(),
            direct: self
                .direct
                .into_iter()
                .map(|c| contributor(c, &mut f))
                .collect(),
            negative: self
                .negative
                .into_iter()
                .map(|c| contributor(c, &mut f))
                .collect(),
        }
    }
}

/// Loop-erased prefixes of the walks that reach `j`, aggregated: (path, number of walks).
fn paths_to<K: NodeKey>(sc: &Scorer<'_, K>, j: u32) -> Vec<(Vec<u32>, u32)> {
    if j == sc.walks.ego {
        return vec![(vec![j], sc.walk_count() as u32)];
    }
    let mut agg: FxHashMap<Vec<u32>, u32> = FxHashMap::default();
    for &w in sc.walks.through(j) {
        let nodes = sc.walks.nodes(w);
        if let Some(p) = first_visit(nodes, j) {
            *agg.entry(loop_erased(nodes, p)).or_default() += 1;
        }
    }
    let mut v: Vec<(Vec<u32>, u32)> = agg.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

pub(crate) fn explain<K: NodeKey>(
    sc: &Scorer<'_, K>,
    t: u32,
    skill: Option<&str>,
    now: u64,
) -> Explanation<K> {
    let g = sc.graph;
    let ego = sc.walks.ego;
    let mut ex = Explanation::empty(g.key(ego), g.key(t), skill);
    ex.walks = sc.walk_count() as u32;
    if t == ego {
        return ex;
    }
    let skill_id = match skill {
        Some(name) => match g.skill_id(name) {
            Some(s) => Some(s),
            None => return ex,
        },
        None => None,
    };
    // Sampled targets are explained by the walks themselves; others by the extrapolated hop.
    let src = if sc.sampled(t) {
        Source::Reach
    } else {
        Source::Trust
    };
    let mut direct = Vec::new();
    let mut negative = Vec::new();
    for &u in &g.node(t).inn {
        let Some(pair) = g.pair(u, t) else { continue };
        let sampler = &g.node(u).sampler;
        let trust = sc.rater_trust(u);
        let carried = match src {
            Source::Reach => sc.reach(u),
            Source::Trust => trust,
        };
        for a in pair
            .atts()
            .filter(|a| skill_id.is_none_or(|s| a.skill == s))
        {
            let mut c = Contributor {
                issuer: g.key(u),
                skill: g.skill_name(a.skill).to_owned(),
                score: a.score,
                issued_at: a.issued_at,
                weight: g.abs_weight(a, now),
                issuer_trust: trust,
                contribution: 0.0,
            };
            if a.score > 0 {
                if sampler.total() > 0.0 {
                    c.contribution =
                        carried * (1.0 - sc.cfg.alpha) * g.rel_weight(a, sampler.reference)
                            / sampler.total();
                }
                direct.push(c);
            } else if a.score < 0 {
                c.contribution = sc.cfg.negative_cap * trust * -c.weight;
                negative.push(c);
            }
        }
    }
    // A rater's penalty is its strongest negative attestation (per pair), as in the score.
    ex.negative_total = sc.negative(t, skill_id, now);
    let bridge = sc.bridge(t);
    let (walk_trust, factor) = sc.positive(t, skill_id);
    ex.walk_trust = walk_trust;
    ex.connectivity = Connectivity {
        bridge: (bridge.node != NO_NODE).then(|| g.key(bridge.node)),
        bridge_share: bridge.share,
        factor,
        inherited_factor: if src == Source::Reach {
            sc.inherited_factor(t)
        } else {
            1.0
        },
        penalty: walk_trust * (1.0 - factor),
        bridge_set: if src == Source::Reach {
            sc.bridge_set(t)
                .into_iter()
                .map(|(b, share, scale)| SetBridge {
                    node: g.key(b),
                    share,
                    scale,
                })
                .collect()
        } else {
            Vec::new()
        },
        bridge_set_factor: if src == Source::Reach { sc.cap(t) } else { 1.0 },
        bridge_set_ignored_walks: if src == Source::Reach {
            sc.ignored_walks(t)
        } else {
            None
        },
        bridge_set_weight: if src == Source::Reach {
            Some(sc.set_of(t).1).filter(|&w| w < 1.0 && !sc.set_of(t).0.is_empty())
        } else {
            None
        },
    };
    ex.score = walk_trust * factor - ex.negative_total;
    ex.paths = if skill_id.is_none() && src == Source::Reach {
        paths_to(sc, t)
            .into_iter()
            .take(TOP_PATHS)
            .map(|(nodes, count)| {
                let share = f64::from(count) / sc.walk_count();
                PathContribution {
                    nodes: nodes.into_iter().map(|n| g.key(n)).collect(),
                    share,
                    contribution: share * factor,
                }
            })
            .collect()
    } else {
        hop_paths(sc, t, skill_id, src, factor)
    };
    let by_contribution = |a: &Contributor<K>, b: &Contributor<K>| {
        b.contribution
            .total_cmp(&a.contribution)
            .then_with(|| a.issuer.cmp(&b.issuer))
            .then_with(|| a.skill.cmp(&b.skill))
    };
    direct.sort_by(by_contribution);
    direct.truncate(TOP_CONTRIBUTORS);
    negative.sort_by(by_contribution);
    negative.truncate(TOP_CONTRIBUTORS);
    ex.direct = direct;
    ex.negative = negative;
    ex
}

/// Paths made of the walks to each issuer of an attestation into `t`, then the hop into `t`
/// (for skill scores, and for targets the walks themselves never reached).
fn hop_paths<K: NodeKey>(
    sc: &Scorer<'_, K>,
    t: u32,
    skill: Option<u32>,
    src: Source,
    factor: f64,
) -> Vec<PathContribution<K>> {
    let g = sc.graph;
    let mut all: Vec<(Vec<u32>, f64)> = Vec::new();
    for &u in &g.node(t).inn {
        let flow = sc.flow_from(u, t, skill, src);
        let hits = sc.walks.hits(u) as f64;
        if flow <= 0.0 || hits <= 0.0 {
            continue;
        }
        for (mut path, count) in paths_to(sc, u).into_iter().take(TOP_PATHS) {
            path.push(t);
            all.push((path, flow * f64::from(count) / hits));
        }
    }
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.into_iter()
        .take(TOP_PATHS)
        .map(|(nodes, share)| PathContribution {
            nodes: nodes.into_iter().map(|n| g.key(n)).collect(),
            share,
            contribution: share * factor,
        })
        .collect()
}
