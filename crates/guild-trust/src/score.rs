//! Scores from one ego's walks: walk trust, connectivity decay, extrapolation, negatives, skills.
//!
//! See the `meritrank` module for the model; this module evaluates it. Every query goes through a
//! [`Scorer`], a read-only view over the graph and one ego's walks. [`Scorer::all`] computes every
//! node's score in one pass over the attestations leaving the ego and the sampled nodes;
//! [`Scorer::score`] computes one node's from its in-attestations; both give identical values.

use crate::graph::{NodeKey, TrustGraph};
use crate::rng::FxHashMap;
use crate::walks::{Bridge, EgoWalks, NO_NODE, PARTIAL_FLOOR};
use crate::TrustConfig;

/// Connectivity-decay multipliers of all sampled nodes.
///
/// A node whose bridge share exceeds θ is decayed by `connectivity_factor(share)` *and* inherits its
/// bridge's multiplier: whatever hangs off a bridge is discounted relative to the bridge's own
/// (possibly already discounted) trust. Without this a Sybil region behind an attacker that is itself
/// bridged would be decayed by the same saturated factor as the attacker and gain as much, relative
/// to the attacker, as with no connectivity decay at all. Bridges form no cycles when θ ≥ 0.5 (two
/// nodes cannot each be visited first by a majority of the other's walks); a guard handles θ < 0.5.
fn compound_factors(n: usize, walks: &EgoWalks, cfg: &TrustConfig) -> Vec<f64> {
    compound(n, walks, cfg, |u| walks.bridge(u).share, |_| 1.0)
}

/// [`compound_factors`] with the bridge share and an extra own multiplier given per node.
fn compound(
    n: usize,
    walks: &EgoWalks,
    cfg: &TrustConfig,
    share: impl Fn(u32) -> f64,
    extra: impl Fn(u32) -> f64,
) -> Vec<f64> {
    const UNSET: f64 = -1.0;
    const BUSY: f64 = -2.0;
    let mut f = vec![UNSET; n];
    let mut chain: Vec<u32> = Vec::new();
    for start in walks.hit_list().iter().copied() {
        let mut u = start;
        // Follow bridges until a node with a known multiplier (or an unbridged one).
        let base = loop {
            let cur = f.get(u as usize).copied().unwrap_or(1.0);
            if cur >= 0.0 {
                break cur;
            }
            if cur == BUSY {
                break 1.0; // a cycle: only possible when θ < 0.5
            }
            f[u as usize] = BUSY;
            chain.push(u);
            let b = walks.bridge(u);
            if share(u) <= cfg.bridge_threshold || b.node == NO_NODE || b.node == walks.ego {
                break 1.0;
            }
            u = b.node;
        };
        let mut inherited = base;
        while let Some(v) = chain.pop() {
            let (b, sh) = (walks.bridge(v), share(v));
            let own = cfg.connectivity_factor(sh) * extra(v);
            let bridged = sh > cfg.bridge_threshold && b.node != NO_NODE;
            let value = if bridged { own * inherited } else { own };
            f[v as usize] = value;
            inherited = value;
        }
    }
    for x in &mut f {
        if *x < 0.0 {
            *x = 1.0;
        }
    }
    f
}

/// Connectivity decay with bridge-set capacity caps (the collusion bound).
///
/// Returns `(factor, cap, scale)` per node. Every sampled node `j` with a nearest bridge set `B_j`
/// (see `EgoWalks::cut`) *hangs off* each member `b` in proportion to the share `w_jb` of its walks
/// that `b` carries. The *load* on `b` is `Σ_j reach(j) · w_jb / Σ_b' w_jb'`, in walk mass
/// (issue 23: weighted by single-bridge factors, an attacker that diverted its walks from the
/// honest nodes hanging off its own set members into its Sybils lowered the members' load and
/// raised its own cap — the honest nodes had counted at a single-bridge factor near 1, the Sybils
/// that took their walks at 0.02 — by 154× for one attacker of the synthetic community; in walk
/// mass the diverted walks count the same wherever they land). When it exceeds `c × trust(b)`,
/// every share hanging off
/// `b` is scaled by `scale(b) = c·trust(b)/load(b)`, so that together they keep at most
/// `c × trust(b)`. `j`'s cap is `cap(j) = Σ_b w_jb·scale(b) / Σ_b w_jb`, and its factor
///
/// `factor(j) = connectivity_factor(bridge share) × factor(bridge) × cap(j)`,
///
/// i.e. single-bridge decay compounds along bridges as before, but what a node inherits from its
/// bridge now includes the bridge's own cap (a Sybil region behind a capped attacker is measured
/// against the attacker's capped trust). `trust(b) = reach(b) × factor(b)`, so nested regions are
/// bounded geometrically. Set members are reached by more walks than the nodes hanging off them
/// and bridges form no cycles for θ ≥ 0.5, so a depth-first pass computes every factor after those
/// it depends on (a guard treats a cycle, possible only for θ < 0.5, as no inheritance).
fn set_factors<'c>(
    n: usize,
    walks: &EgoWalks,
    cfg: &TrustConfig,
    single: &[f64],
    cut: impl Fn(u32) -> (&'c [(u32, f32)], f64),
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    const UNSET: u8 = 0;
    const BUSY: u8 = 1;
    const DONE: u8 = 2;
    let mut cap = vec![1.0; n];
    let mut scale = vec![1.0; n];
    if cfg.max_bridge_set == 0 {
        return (single.to_vec(), cap, scale);
    }
    let total = walks.walks.len().max(1) as f64;
    let reach = |u: u32| walks.hits(u) as f64 / total;
    // A node hangs off its set as a whole, in proportion to the shares the members carry: the
    // walks the set does not carry are the ones that cross other members of the same region (a
    // set need only carry a majority), so they must not escape the cap.
    // A partial set (a near miss) holds the node in proportion `t` (see `set_weight`).
    let carried = |j: u32| cut(j).0.iter().map(|&(_, w)| f64::from(w)).sum::<f64>();
    let mut load = vec![0.0; n];
    for j in walks.hit_list().iter().copied() {
        let all = carried(j);
        if all <= 0.0 {
            continue;
        }
        let (members, t) = cut(j);
        let base = reach(j) * t;
        for &(b, w) in members {
            load[b as usize] += base * f64::from(w) / all;
        }
    }
    let bridge_of = |j: u32| {
        let b = walks.bridge(j);
        (b.share > cfg.bridge_threshold && b.node != NO_NODE && b.node != walks.ego)
            .then_some(b.node)
    };
    let mut factor = vec![1.0; n];
    let mut state = vec![UNSET; n];
    let mut stack: Vec<u32> = Vec::new();
    for start in walks.hit_list().iter().copied() {
        if state[start as usize] != UNSET {
            continue;
        }
        stack.push(start);
        while let Some(&u) = stack.last() {
            let ui = u as usize;
            match state[ui] {
                UNSET => {
                    state[ui] = BUSY;
                    let deps = bridge_of(u)
                        .into_iter()
                        .chain(cut(u).0.iter().map(|&(b, _)| b));
                    for d in deps {
                        if state[d as usize] == UNSET {
                            stack.push(d);
                        }
                    }
                }
                BUSY => {
                    stack.pop();
                    // Dependencies still BUSY are ancestors on the stack: a cycle, no inheritance.
                    let done = |d: u32| state[d as usize] == DONE;
                    let inherited = bridge_of(u)
                        .filter(|&d| done(d))
                        .map_or(1.0, |d| factor[d as usize]);
                    let all = carried(u);
                    if all > 0.0 {
                        let (members, t) = cut(u);
                        let kept: f64 = members
                            .iter()
                            .map(|&(b, w)| {
                                let s = if done(b) { scale[b as usize] } else { 1.0 };
                                f64::from(w) * s
                            })
                            .sum();
                        // Interpolated in log space: a cap of 0.01 at t = 1 is 0.1 at t = ½.
                        let full = (kept / all).min(1.0);
                        cap[ui] = if t >= 1.0 { full } else { full.powf(t) };
                    }
                    let own = cfg.connectivity_factor(walks.bridge(u).share);
                    factor[ui] = own * inherited * cap[ui];
                    let allowed = cfg.bridge_set_capacity * reach(u) * factor[ui];
                    if load[ui] > allowed {
                        scale[ui] = allowed / load[ui];
                    }
                    state[ui] = DONE;
                }
                _ => {
                    stack.pop();
                }
            }
        }
    }
    (factor, cap, scale)
}

/// Effective multipliers with *relay discount*: what a walk carries past a node is capped by that
/// node's own (structural) factor.
///
/// Each walk reaching `j` counts `m` = the `min` of the structural factors of the nodes it passed
/// before its first visit of `j` (1 if none), instead of 1; `j`'s multiplier is then that weighted
/// share of its hits times its own decay (`connectivity_factor(bridge share) × cap(j)`), the
/// inherited part now coming from the walks themselves. Why: colluders route walks through their
/// Sybil region into *each other* (every Sybil attests every colluder), raising each other's
/// hitting probability although those walks only passed heavily discounted nodes; with the relay
/// discount such walks count no more than the Sybils' own trust.
///
/// Two rules keep this bound per ego, not only in the median (issue 23):
///
/// * **Relay-weighted bridge share.** The bridge share that sets `j`'s own decay is measured with
///   the same weights: `Σ m over walks that passed bridge(j) before j / Σ m over all walks to j`
///   (never below the plain share). Otherwise a colluder reached by two walks, both through one
///   bridge (share 1, decayed 50×), gets a third walk routed back through the region, its share
///   falls to 2/3 and its own decay almost vanishes — a 30× gain although the new walk carries
///   next to nothing.
/// * **Bridge walks relay the bridge's final factor.** The walks that passed `j`'s bridge `b`
///   before `j` count at most `final(b)` each (in total `min(Σ m, n · final(b))`), with `b`'s
///   *final* factor, so whatever hangs off a node is measured against what the ego really gives
///   that node. The relay discount alone uses structural factors, which can be far above a node's
///   final one when its walks came through discounted relays; a Sybil then kept half of its
///   attacker's score (a single attacker's gain of 1.5×, where the bound is ~1.1×). Only the
///   walks through `b` are capped — not the whole node — so the rule has no cliff at θ: a node
///   whose bridge carries just over half its walks keeps the rest.
///
/// **Relays are weighed by relay-weighted shares** (issue 23, cause 3). The weights `m` are
/// computed twice: first from the structural factors, then from factors compounded the same way
/// (own decay × cap × the bridge's factor) but from the first pass's relay-weighted bridge
/// shares. Structural factors use plain shares, which an attacker partly controls upstream of
/// itself: walks that passed it (through its Sybils, or its own attestations) reach a node `x`
/// that one of its walks passed before reaching it, halve `x`'s plain share, and the walks `x`
/// relays into the attacker then count in full — the attacker's weighted share falls and its own
/// decay vanishes (13.7× on the synthetic community). A weighted share is a ratio of weights, to
/// which walks carrying next to nothing add next to nothing. (The first pass's *final* factors
/// were tried instead: a final factor is the mean weight of a node's walks, which the same
/// worthless walks dilute — one trusted attacker rose 3.1× that way.)
///
/// **Walks routed through a region do not count in the set test** (issue 23, cause 4). A node
/// whose nearest-set search missed narrowly (no set, but its best set of at most
/// `max_bridge_set` members carried more than half of its walks, see `EgoWalks::near_miss`) is
/// searched again without its *routed* walks (see `RelaySteps::routed_back`): light walks — their
/// first-pass relay weight below `(1 − β)²` of the node's mean — that passed a node closed behind
/// it or hanging off its partner. Why: a colluder reached by a few dozen walks from many
/// directions holds a set of exactly K members; walks routed into it through its partners'
/// Sybils need an eleventh, so by count the set is lost and the colluder's cap jumps to 1 (16×
/// for one trusted colluder of the synthetic community), although those walks carry next to
/// nothing. A set found this way replaces the node's cached one and the caps are computed again;
/// a near miss without one hangs off its partial set in part (see `set_weight`).
fn relay_factors(
    walks: &EgoWalks,
    cfg: &TrustConfig,
    single: &[f64],
    structural: Vec<f64>,
    caps: Vec<f64>,
    scales: Vec<f64>,
) -> Relayed {
    let n = structural.len();
    let mut steps = RelaySteps::new(walks, n);
    let first = steps.factors(walks, cfg, &structural, &structural, &caps, false);
    let mut sets: FxHashMap<u32, ReducedSet> = FxHashMap::default();
    for (j, skip) in steps.routed_back(walks, cfg, &first.factor) {
        let members = walks.reduced_cut(
            j,
            &skip,
            cfg.max_bridge_set as usize,
            cfg.bridge_set_threshold,
        );
        if !members.is_empty() {
            let ignored = skip.len() as u32;
            sets.insert(j, ReducedSet { members, ignored });
        }
    }
    let (structural, caps, scales) = if sets.is_empty() {
        (structural, caps, scales)
    } else {
        let cut = |u: u32| {
            sets.get(&u).map_or_else(
                || cached_set(walks, cfg, u),
                |s| (s.members.as_slice(), 1.0),
            )
        };
        set_factors(n, walks, cfg, single, cut)
    };
    let caps_of = |u: u32| caps.get(u as usize).copied().unwrap_or(1.0);
    let share_of = |u: u32| first.share.get(u as usize).copied().unwrap_or(0.0);
    let relay = compound(n, walks, cfg, share_of, caps_of);
    let second = steps.factors(walks, cfg, &structural, &relay, &caps, true);
    Relayed {
        factors: second.factor,
        shares: second.share,
        caps,
        scales,
        sets,
        heavier: second.heavier,
    }
}

/// A bridge set found without a node's negligible walks (see [`relay_factors`]).
#[derive(Clone, Debug)]
pub(crate) struct ReducedSet {
    /// `(member, share of the remaining walks first covered by it)`.
    pub members: Vec<(u32, f32)>,
    /// How many of the node's walks were left out.
    pub ignored: u32,
}

/// How much a node hangs off its bridge set: 1 for a set carrying more than θ_s of its walks;
/// for a near miss's partial set carrying a share `c` (see `EgoWalks::partial_cut`), a linear
/// ramp from 0 at [`PARTIAL_FLOOR`] to 1 at θ_s (issue 23, cause 4). Without the ramp a set is
/// all or nothing at θ_s: a colluder whose set carried 92 % of its walks lost it to two walks
/// routed in through its partner's region, and its cap jumped from 0.05 to 1.
pub(crate) fn set_weight(cfg: &TrustConfig, members: &[(u32, f32)], full: bool) -> f64 {
    if full {
        return 1.0;
    }
    let c: f64 = members.iter().map(|&(_, w)| f64::from(w)).sum();
    let floor = PARTIAL_FLOOR.min(cfg.bridge_set_threshold);
    let span = cfg.bridge_set_threshold - floor;
    if span <= 0.0 {
        return f64::from(u8::from(c > floor));
    }
    ((c - floor) / span).clamp(0.0, 1.0)
}

/// The bridge set a node hangs off and how much (see [`set_weight`]): its cached set, else its
/// partial set.
fn cached_set<'w>(walks: &'w EgoWalks, cfg: &TrustConfig, u: u32) -> (&'w [(u32, f32)], f64) {
    let cut = walks.cut(u);
    if cut.is_empty() {
        let p = walks.partial_cut(u);
        (p, set_weight(cfg, p, false))
    } else {
        (cut, 1.0)
    }
}

/// The share of a node's walks its bridge (or bridge set) must carry for the node to count as
/// *closed* behind it: a Sybil region's nodes are reached only through their colluders, while
/// an honest node hanging off `j` is usually also reached some other way.
const CLOSED: f64 = 0.99;

/// What [`relay_factors`] returns.
struct Relayed {
    factors: Vec<f64>,
    shares: Vec<f64>,
    caps: Vec<f64>,
    scales: Vec<f64>,
    sets: FxHashMap<u32, ReducedSet>,
    heavier: Heavier,
}

/// Per node: the bridge whose relay-weighted share set its decay when it is heavier than the
/// plain one (see [`heavier_bridges`]) and that share; `(NO_NODE, 0.0)` elsewhere.
type Heavier = Vec<(u32, f64)>;

/// One first visit of a walk (see [`RelaySteps`]).
#[derive(Clone, Copy)]
struct Step {
    node: u32,
    /// Whether the walk had passed the node's bridge before.
    bridged: bool,
    /// The current relay pass's weight of the walk at this step (see [`RelaySteps::factors`]),
    /// beside the step: the heavier-bridge scan reads a step and its weight together.
    m: f64,
}

/// Every walk's first visits in order, each flagged when the walk had passed the node's bridge
/// before: all the relay passes need, in one contiguous array (each walk ends with `NO_NODE`).
struct RelaySteps {
    steps: Vec<Step>,
    /// Per walk id, the index in `steps` of its first step (`starts[id]..starts[id + 1]` are its
    /// first visits and its end marker): the heavier-bridge scan finds a node's step in each of
    /// its walks' few first visits (a per-node index of those steps, written at random per
    /// step, cost more to build than the scan saved).
    starts: Vec<u32>,
}

/// One relay pass's sums for one node: `Σ m` over the walks reaching it, over those that passed
/// its bridge before it, and how many of those there are; and the node's `relay` factor. One
/// record, because each step of the pass reads and adds to all of them for a scattered node
/// (three separate arrays and the factors cost up to four cache lines per step).
#[derive(Clone, Copy, Default)]
struct NodeSums {
    weighted: f64,
    through: f64,
    relay: f64,
    through_n: u32,
}

/// One relay pass's results, per node.
struct RelayPass {
    factor: Vec<f64>,
    share: Vec<f64>,
    /// Per node, the heavier bridge that set its decay, if any (see [`heavier_bridges`]).
    heavier: Heavier,
}

impl RelaySteps {
    fn new(walks: &EgoWalks, n: usize) -> Self {
        let mut steps = Vec::with_capacity(walks.walks.len() * 6);
        let mut starts = Vec::with_capacity(walks.walks.len() + 1);
        let mut seen = vec![u32::MAX; n];
        for id in 0..walks.walks.len() as u32 {
            starts.push(steps.len() as u32);
            for &v in walks.nodes(id).iter().skip(1) {
                if v == walks.ego {
                    break;
                }
                let vi = v as usize;
                if seen[vi] != id {
                    seen[vi] = id;
                    let b = walks.bridge(v).node;
                    let through = b != NO_NODE && seen.get(b as usize) == Some(&id);
                    steps.push(Step {
                        node: v,
                        bridged: through,
                        m: 0.0,
                    });
                }
            }
            steps.push(Step {
                node: NO_NODE,
                bridged: false,
                m: 0.0,
            });
        }
        starts.push(steps.len() as u32);
        RelaySteps { steps, starts }
    }

    /// One relay pass: each walk into `j` weighs `m` = the smallest `relay` factor of the nodes
    /// it passed before `j`. `routed`: also look for heavier bridges where most walks are light
    /// (see [`heavier_bridges`]; the second pass only).
    fn factors(
        &mut self,
        walks: &EgoWalks,
        cfg: &TrustConfig,
        structural: &[f64],
        relay: &[f64],
        caps: &[f64],
        routed: bool,
    ) -> RelayPass {
        let n = structural.len();
        let mut sums = vec![NodeSums::default(); n];
        // Every step's node is a reached one (the walks stop at the ego).
        for &v in walks.hit_list() {
            sums[v as usize].relay = relay[v as usize];
        }
        // Each step's weight `m`, for the heavier-bridge scan.
        let mut m = 1.0f64;
        for step in &mut self.steps {
            let (v, bridged) = (step.node, step.bridged);
            if v == NO_NODE {
                step.m = 0.0;
                m = 1.0;
                continue;
            }
            step.m = m;
            let t = &mut sums[v as usize];
            t.weighted += m;
            if bridged {
                t.through += m;
                t.through_n += 1;
            }
            m = m.min(t.relay);
        }
        let light = if routed {
            light_walks(walks, cfg, &self.steps, &sums)
        } else {
            Vec::new()
        };
        let heavier = heavier_bridges(walks, self, &sums, &light);
        let (factor, share) = final_factors(walks, cfg, structural, caps, &sums, &heavier);
        RelayPass {
            factor,
            share,
            heavier,
        }
    }

    /// For every node `j` whose set search missed narrowly, the ids (ascending) of its walks
    /// *routed* to it through a region: walks that are light — their weight, the smallest
    /// `relay` factor of the nodes passed before `j`, is below `(1 − β)²` of `j`'s mean, less
    /// than what passes two full bridges (with `1 − β` one honest walk in ten of a trusted
    /// attacker counted as light, and whitewashing removed what made it so: 1.71×) — and that
    /// passed, before `j`, a node closed behind `j` (whose bridge carries at least [`CLOSED`] of
    /// its walks, or whose bridge set includes `j` and carries that much) or hanging off `j`'s
    /// bridge `b`, when `b` is a near miss reached by no more walks than `j` (so it cannot be a
    /// member of `j`'s set: the partner colluder of a whitewashing one). Nodes without such
    /// walks are left out.
    fn routed_back(
        &self,
        walks: &EgoWalks,
        cfg: &TrustConfig,
        relay: &[f64],
    ) -> FxHashMap<u32, Vec<u32>> {
        let mut out: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        // Per node `x`: the near misses it hangs off, each flagged when (nearly) all of its
        // walks passed them: `deps[at[x].0..at[x].1]`.
        let n = relay.len();
        // Only reached nodes have sets (the others' are empty).
        let mut near = vec![false; n];
        for &u in walks.hit_list() {
            near[u as usize] = walks.near_miss(u);
        }
        let mut deps: Vec<(u32, bool)> = Vec::new();
        let mut at = vec![(0u32, 0u32); n];
        for x in walks.hit_list().iter().copied() {
            let b = walks.bridge(x);
            let bridged = (b.share > cfg.bridge_threshold && b.node != NO_NODE)
                .then_some((b.node, b.share >= CLOSED));
            let cut = walks.cut(x);
            let covered = cut.iter().map(|&(_, w)| f64::from(w)).sum::<f64>() >= CLOSED;
            let first = deps.len();
            for (y, full) in bridged
                .into_iter()
                .chain(cut.iter().map(|&(k, _)| (k, covered)))
            {
                if near.get(y as usize).copied().unwrap_or(false) {
                    match deps[first..].iter_mut().find(|e| e.0 == y) {
                        Some(e) => e.1 |= full,
                        None => deps.push((y, full)),
                    }
                }
            }
            at[x as usize] = (first as u32, deps.len() as u32);
        }
        if deps.is_empty() {
            return out;
        }
        // Each near miss's mean walk weight (the smallest `relay` factor passed before it).
        let mut mean = vec![0.0f64; relay.len()];
        let mut m = 1.0f64;
        for &Step { node: v, .. } in &self.steps {
            if v == NO_NODE {
                m = 1.0;
                continue;
            }
            if near[v as usize] {
                mean[v as usize] += m / walks.hits(v).max(1) as f64;
            }
            m = m.min(relay[v as usize]);
        }
        let light = (1.0 - cfg.connectivity_decay).powi(2);
        // The near misses the nodes passed so far in the current walk hang off.
        let mut owed: Vec<(u32, bool)> = Vec::new();
        let (mut id, mut m) = (0u32, 1.0f64);
        for &Step { node: v, .. } in &self.steps {
            if v == NO_NODE {
                owed.clear();
                id += 1;
                m = 1.0;
                continue;
            }
            if !owed.is_empty() && m < light * mean[v as usize] {
                let b = walks.bridge(v).node;
                let partner = b != NO_NODE && b != walks.ego && walks.hits(b) <= walks.hits(v);
                if owed.contains(&(v, true)) || (partner && owed.iter().any(|e| e.0 == b)) {
                    out.entry(v).or_default().push(id);
                }
            }
            let (a, b) = at[v as usize];
            owed.extend_from_slice(&deps[a as usize..b as usize]);
            m = m.min(relay[v as usize]);
        }
        out
    }
}

/// **The bridge by weight** (issue 23, cause 4b). A node's bridge is the node most of its walks
/// passed *by count*; walks routed into it through a partner colluder's region (after
/// whitewashing, all of the partner's walks go there) can make that partner the bridge by count,
/// although those walks carry next to nothing, and the node's real bridge — which still carries
/// nearly all of its weight — no longer sets its decay (a colluder's share fell from 0.999 to
/// 0.5 and its score rose 100× on the synthetic community). So where the walks through the plain
/// bridge weigh less than their count says (`weighted share < plain share`), the node's walks are
/// scanned again with the pass's weights `m`, and the relay-weighted share of the heaviest node
/// passed (never the ego or the node itself) is taken if it is larger. (Rescanning only where
/// they weigh less than half left a cliff: one attacker's share fell back from its weighted 0.74
/// to its plain 0.69 when the attack made its bridge walks a little heavier, 1.29×.)
///
/// The scan also runs where most of the node's walks (by count) are *light* (see
/// [`light_walks`]): walks routed in through a region then decide which node is the bridge by
/// count, and whether that bridge's walks weigh more or less than their count says no longer
/// tells whether the real bridge was lost (issue 23, cause 5: after whitewashing, 21 of a
/// colluder's 33 walks came through its partners' region; its bridge by count became a hub whose
/// walks weighed *more* than their count, 0.55 against 0.36, so the scan did not run and its
/// real bridge by weight, 0.999, was never looked for: 97× for that colluder, 10.4× for its
/// region). A single attacker cannot trigger it for itself — its own Sybils are reached only
/// through it, so they route no walks into it — and more light walks only make the scan run.
/// This test runs in the second relay pass only (`light` empty in the first), the pass whose
/// shares set the scores: in both it costs about twice as much (+6.6 % of a full compute's
/// instructions against +3.8 %) and changed no collusion cell beyond the second decimal.
/// (Triggering the scan where the weighted share through the plain bridge is below θ_s, or
/// where any walk is light, also fixed cause 5 but ran for ordinary honest nodes too and lowered
/// some single attackers' pre-attack scores more than the attack could move them: k = 1 gains
/// of 1.28× and 1.46× on the synthetic community.) Returns those nodes with that bridge and
/// share.
fn heavier_bridges(
    walks: &EgoWalks,
    steps: &RelaySteps,
    sums: &[NodeSums],
    light: &[u32],
) -> Heavier {
    let n = sums.len();
    let mut out: Heavier = Vec::new();
    let (mut sum, mut touched) = (Vec::new(), Vec::<u32>::new());
    for j in walks.hit_list().iter().copied() {
        let ji = j as usize;
        let b = walks.bridge(j);
        let NodeSums {
            weighted, through, ..
        } = sums[ji];
        if b.node == NO_NODE || weighted <= 0.0 || walks.hits(j) < 2 {
            continue;
        }
        let routed = light
            .get(ji)
            .is_some_and(|&l| 2 * l as usize > walks.hits(j));
        if through / weighted >= b.share && !routed {
            continue;
        }
        if sum.is_empty() {
            sum = vec![0.0f64; n];
            out = vec![(NO_NODE, 0.0); n];
        }
        let mut total = 0.0;
        for &id in walks.through(j) {
            // The walk's first visits before `j`'s: the distinct nodes it passed before `j`, in
            // order, and its weight at `j` (the smallest `relay` factor among them).
            let id = id as usize;
            let (a, e) = (steps.starts[id] as usize, steps.starts[id + 1] as usize);
            let Some(s) = steps.steps[a..e].iter().position(|st| st.node == j) else {
                continue;
            };
            let s = a + s;
            let m = steps.steps[s].m;
            // Every node this walk passed relays the walk's weight.
            for &Step { node: k, .. } in &steps.steps[a..s] {
                let ku = k as usize;
                if sum[ku] == 0.0 {
                    touched.push(k);
                }
                sum[ku] += m;
            }
            total += m;
        }
        let mut best = (0.0f64, NO_NODE);
        for k in touched.drain(..) {
            let ku = k as usize;
            if k != walks.ego && sum[ku] > best.0 {
                best = (sum[ku], k);
            }
            sum[ku] = 0.0;
        }
        if total > 0.0 && best.1 != NO_NODE && best.0 / total > b.share {
            out[ji] = (best.1, best.0 / total);
        }
    }
    out
}

/// Per node, how many of its walks are *light* in this pass: their weight `m` (see
/// [`RelaySteps::factors`]) below `(1 − β)²` of the node's mean weight — less than what passes two
/// full bridges, rule 9's test (see [`RelaySteps::routed_back`]).
fn light_walks(walks: &EgoWalks, cfg: &TrustConfig, steps: &[Step], sums: &[NodeSums]) -> Vec<u32> {
    let light = (1.0 - cfg.connectivity_decay).powi(2);
    // Each node's bound once (the same expression, so the same value), not once per step.
    let mut bound = vec![0.0f64; sums.len()];
    for &v in walks.hit_list() {
        let vi = v as usize;
        bound[vi] = light * sums[vi].weighted / walks.hits(v).max(1) as f64;
    }
    let mut count = vec![0u32; sums.len()];
    for &Step { node: v, m, .. } in steps {
        if v == NO_NODE {
            continue;
        }
        let vi = v as usize;
        if m < bound[vi] {
            count[vi] += 1;
        }
    }
    count
}

/// `j`'s final factor from its relay-weighted walks (see [`relay_factors`]): the weighted share of
/// its hits, the walks through its bridge capped at the bridge's final factor, times its own decay.
fn final_factors(
    walks: &EgoWalks,
    cfg: &TrustConfig,
    structural: &[f64],
    caps: &[f64],
    sums: &[NodeSums],
    heavier: &Heavier,
) -> (Vec<f64>, Vec<f64>) {
    let n = structural.len();
    // Nodes no walk reached keep their plain share (0: no walk, no bridge) and structural
    // factor: only the reached ones (and their bridges, which walks passed) are computed.
    let mut share = vec![0.0f64; n];
    for j in walks.hit_list().iter().map(|&j| j as usize) {
        share[j] = walks.bridge(j as u32).share;
        let NodeSums {
            weighted, through, ..
        } = sums[j];
        if weighted > 0.0 {
            share[j] = share[j].max(through / weighted);
        }
        if let Some(&(k, s)) = heavier.get(j) {
            if k != NO_NODE {
                share[j] = share[j].max(s);
            }
        }
    }
    let own = |j: usize| cfg.connectivity_factor(share[j]) * caps[j];
    // Final factors, following bridges first (a guard treats a cycle as no cap).
    const UNSET: f64 = -1.0;
    const BUSY: f64 = -2.0;
    let bridge_of = |u: u32| {
        let b = walks.bridge(u).node;
        (b != NO_NODE && b != walks.ego && sums[u as usize].through_n > 0).then_some(b)
    };
    let value = |j: usize, fb: Option<f64>| -> f64 {
        let hits = walks.hits(j as u32);
        if hits == 0 {
            return structural[j];
        }
        let carried = match fb {
            Some(fb) => {
                let t = &sums[j];
                (t.weighted - t.through) + t.through.min(f64::from(t.through_n) * fb)
            }
            None => sums[j].weighted,
        };
        carried / hits as f64 * own(j)
    };
    let mut f = structural.to_vec();
    for &j in walks.hit_list() {
        f[j as usize] = UNSET;
    }
    let mut chain: Vec<u32> = Vec::new();
    for start in walks.hit_list().iter().copied() {
        let mut u = start;
        let mut base = None;
        loop {
            match f[u as usize] {
                x if x >= 0.0 => {
                    base = Some(x);
                    break;
                }
                BUSY => break,
                _ => {}
            }
            f[u as usize] = BUSY;
            chain.push(u);
            match bridge_of(u) {
                Some(b) => u = b,
                None => break,
            }
        }
        // `chain` runs from `start` to the first node with a known factor (`base`), without a
        // bridge, or closing a cycle; each entry's bridge is the entry after it.
        let mut inherited = base;
        while let Some(v) = chain.pop() {
            let vi = v as usize;
            let x = value(vi, bridge_of(v).and(inherited));
            f[vi] = x;
            inherited = Some(x);
        }
    }
    // The ego is no walk's step: no weight reaches it (its own trust is 1 wherever it is read).
    if let Some(x) = f.get_mut(walks.ego as usize) {
        *x = value(walks.ego as usize, None);
    }
    (f, share)
}

/// Whose weight a flow out of a node carries (see [`Scorer::flow_from`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The share of walks reaching the node (used for skill hops into sampled nodes).
    Reach,
    /// The node's connectivity-decayed trust (used to extrapolate beyond the sample).
    Trust,
}

/// Read-only view computing scores from one ego's walks.
///
/// A node the walks reach ("sampled") scores `reach × factor`, with `factor` from its bridge
/// statistics. A node they do not reach can still be one hop beyond a sampled node; rather than
/// report 0 — the sample's resolution is `1/walks` — its share is extrapolated as the expected flow
/// `Σ_u trust(u) · (1-α) · P(u → j)` from its sampled issuers. It uses their connectivity-decayed
/// trust, so a bridged region gains at most `(1-α)` times its own (already decayed) trust this way,
/// and connectivity decay is applied again with the largest single issuer's share of the flow as
/// the bridge share.
pub(crate) struct Scorer<'a, K> {
    pub graph: &'a TrustGraph<K>,
    pub walks: &'a EgoWalks,
    pub cfg: &'a TrustConfig,
    n: f64,
    /// Connectivity-decay multiplier of every sampled node (1 elsewhere): bridges compounded,
    /// bridge-set caps applied (see [`set_factors`]).
    factors: Vec<f64>,
    /// The bridge-set cap part of `factors`.
    caps: Vec<f64>,
    /// Per bridge-set member: the scale applied to the shares of the nodes hanging off it.
    scales: Vec<f64>,
    /// Per node: the relay-weighted bridge share (bridge sets on; empty otherwise).
    shares: Vec<f64>,
    /// Bridge sets found without the nodes' negligible walks (see [`relay_factors`]); they
    /// replace the cached ones.
    sets: FxHashMap<u32, ReducedSet>,
    /// Per node, the heavier bridge that set its decay, if any (see [`heavier_bridges`]).
    heavier: Heavier,
}

impl<'a, K: NodeKey> Scorer<'a, K> {
    pub fn new(graph: &'a TrustGraph<K>, walks: &'a EgoWalks, cfg: &'a TrustConfig) -> Self {
        let n = walks.walks.len().max(1) as f64;
        let single = compound_factors(graph.len(), walks, cfg);
        let (structural, caps, scales) = set_factors(graph.len(), walks, cfg, &single, |u| {
            cached_set(walks, cfg, u)
        });
        if cfg.max_bridge_set == 0 {
            return Scorer {
                graph,
                walks,
                cfg,
                n,
                factors: structural,
                caps,
                scales,
                shares: Vec::new(),
                sets: FxHashMap::default(),
                heavier: Vec::new(),
            };
        }
        let r = relay_factors(walks, cfg, &single, structural, caps, scales);
        Scorer {
            graph,
            walks,
            cfg,
            n,
            factors: r.factors,
            caps: r.caps,
            scales: r.scales,
            shares: r.shares,
            sets: r.sets,
            heavier: r.heavier,
        }
    }

    pub fn walk_count(&self) -> f64 {
        self.n
    }

    pub fn sampled(&self, u: u32) -> bool {
        self.walks.hits(u) > 0
    }

    /// Share of walks reaching `u` (1 for the ego).
    pub fn reach(&self, u: u32) -> f64 {
        self.walks.hits(u) as f64 / self.n
    }

    /// `u`'s bridge and its share; with bridge sets on, the relay-weighted share (each walk
    /// weighted by the smallest factor of the nodes it passed before `u`, never below the plain
    /// share), which is what sets `u`'s own decay — and the node whose relay-weighted share that
    /// is, when a heavier bridge than the plain one set it (see `heavier_bridges`).
    pub fn bridge(&self, u: u32) -> Bridge {
        if u == self.walks.ego {
            return Bridge::default();
        }
        let mut b = self.walks.bridge(u);
        if let Some(&s) = self.shares.get(u as usize) {
            b.share = s;
        }
        // The bridge whose relay-weighted share set the decay, if not the plain one.
        if let Some(&(node, share)) = self.heavier.get(u as usize) {
            if node != NO_NODE && share >= b.share {
                b.node = node;
            }
        }
        b
    }

    /// Connectivity-decay multiplier of a sampled node `u` (its bridge's multiplier included).
    pub fn factor(&self, u: u32) -> f64 {
        self.factors.get(u as usize).copied().unwrap_or(1.0)
    }

    /// The part of `factor(u)` inherited from the nodes its walks passed (its bridge's factor when
    /// bridge sets are off; the relay discount otherwise).
    pub fn inherited_factor(&self, u: u32) -> f64 {
        let own = self.cfg.connectivity_factor(self.bridge(u).share) * self.cap(u);
        if own > 0.0 {
            self.factor(u) / own
        } else {
            1.0
        }
    }

    /// The bridge-set cap multiplier of `u` (1 if no small set carries most of its walks).
    pub fn cap(&self, u: u32) -> f64 {
        self.caps.get(u as usize).copied().unwrap_or(1.0)
    }

    /// `u`'s nearest bridge set: `(member, share of u's walks it carries, scale its capacity
    /// applied)`; empty for the ego and unsampled nodes.
    pub fn bridge_set(&self, u: u32) -> Vec<(u32, f64, f64)> {
        if u == self.walks.ego {
            return Vec::new();
        }
        let cut = self.set_of(u).0;
        cut.iter()
            .map(|&(b, w)| {
                let scale = self.scales.get(b as usize).copied().unwrap_or(1.0);
                (b, f64::from(w), scale)
            })
            .collect()
    }

    /// The bridge set `u` hangs off and how much (1 for a full set; see [`set_weight`]).
    pub fn set_of(&self, u: u32) -> (&[(u32, f32)], f64) {
        match self.sets.get(&u) {
            Some(s) => (s.members.as_slice(), 1.0),
            None => cached_set(self.walks, self.cfg, u),
        }
    }

    /// When `u`'s bridge set was found only without its negligible walks (see `relay_factors`):
    /// how many of its walks were left out.
    pub fn ignored_walks(&self, u: u32) -> Option<u32> {
        self.sets.get(&u).map(|s| s.ignored)
    }

    /// Positive walk trust of a sampled node after connectivity decay (1 for the ego).
    pub fn walk_trust(&self, u: u32) -> f64 {
        if u == self.walks.ego {
            return 1.0;
        }
        self.reach(u) * self.factor(u)
    }

    /// Share of `u`'s walk departures that go to `j` (through `skill` attestations only, if given).
    fn hop(&self, u: u32, j: u32, skill: Option<u32>) -> f64 {
        let sampler = &self.graph.node(u).sampler;
        let total = sampler.total();
        if total <= 0.0 {
            return 0.0;
        }
        match skill {
            None => sampler.prob(j),
            Some(s) => self.graph.pair(u, j).map_or(0.0, |pair| {
                pair.atts()
                    .filter(|a| a.skill == s && a.score > 0)
                    .map(|a| self.graph.rel_weight(a, sampler.reference))
                    .sum::<f64>()
                    / total
            }),
        }
    }

    /// Expected share of walks stepping from `u` into `j` (optionally along `skill` attestations).
    pub fn flow_from(&self, u: u32, j: u32, skill: Option<u32>, src: Source) -> f64 {
        let w = match src {
            Source::Reach => self.reach(u),
            Source::Trust if self.sampled(u) || u == self.walks.ego => self.walk_trust(u),
            Source::Trust => 0.0,
        };
        if w <= 0.0 {
            return 0.0;
        }
        w * (1.0 - self.cfg.alpha) * self.hop(u, j, skill)
    }

    /// Total flow into `j` and the largest single non-ego issuer's part of it.
    pub fn flow_into(&self, j: u32, skill: Option<u32>, src: Source) -> (f64, f64) {
        let (mut flow, mut top) = (0.0, 0.0f64);
        for &u in &self.graph.node(j).inn {
            let f = self.flow_from(u, j, skill, src);
            flow += f;
            if u != self.walks.ego {
                top = top.max(f);
            }
        }
        (flow, top)
    }

    /// The positive part of `j`'s score before connectivity decay, and the decay multiplier.
    pub fn positive(&self, j: u32, skill: Option<u32>) -> (f64, f64) {
        if self.sampled(j) {
            let value = match skill {
                None => self.reach(j),
                Some(s) => self.flow_into(j, Some(s), Source::Reach).0,
            };
            return (value, self.factor(j));
        }
        let (flow, top) = self.flow_into(j, skill, Source::Trust);
        (flow, self.extrapolated_factor(flow, top))
    }

    fn extrapolated_factor(&self, flow: f64, top: f64) -> f64 {
        if flow > 0.0 {
            self.cfg.connectivity_factor(top / flow)
        } else {
            1.0
        }
    }

    /// Strength of the strongest negative attestation in `pair`, optionally for one skill.
    pub fn neg_strength(&self, pair: &crate::graph::Pair, skill: Option<u32>, now: u64) -> f64 {
        if !pair.has_neg {
            return 0.0;
        }
        pair.atts()
            .filter(|a| a.score < 0 && skill.is_none_or(|s| a.skill == s))
            .map(|a| -self.graph.abs_weight(a, now))
            .fold(0.0, f64::max)
    }

    /// Trust of `r` as a rater: its walk trust if sampled (1 for the ego), else 0.
    pub fn rater_trust(&self, r: u32) -> f64 {
        if r == self.walks.ego || self.sampled(r) {
            self.walk_trust(r)
        } else {
            0.0
        }
    }

    /// Total penalty on `j` from negative attestations.
    pub fn negative(&self, j: u32, skill: Option<u32>, now: u64) -> f64 {
        let mut total = 0.0;
        for &r in &self.graph.node(j).inn {
            let Some(pair) = self.graph.pair(r, j) else {
                continue;
            };
            let strength = self.neg_strength(pair, skill, now);
            if strength > 0.0 {
                total += self.cfg.negative_cap * self.rater_trust(r) * strength;
            }
        }
        total
    }

    /// `j`'s final score.
    pub fn score(&self, j: u32, skill: Option<u32>, now: u64) -> f64 {
        if j == self.walks.ego {
            return 0.0;
        }
        let (value, factor) = self.positive(j, skill);
        value * factor - self.negative(j, skill, now)
    }

    /// Every node's score at once (same values as [`Self::score`], in one pass over the edges
    /// leaving the ego and the sampled nodes).
    pub fn all(&self, skill: Option<u32>, now: u64) -> Vec<(u32, f64)> {
        let n = self.graph.len();
        let ego = self.walks.ego;
        let keep = 1.0 - self.cfg.alpha;
        let (mut raw, mut ext, mut top, mut neg) =
            (vec![0.0; n], vec![0.0; n], vec![0.0f64; n], vec![0.0; n]);
        // A compact bitmap: the loops below test it once per edge.
        let mut sampled = vec![false; n];
        for u in self.walks.hit_list().iter().copied() {
            sampled[u as usize] = true;
        }
        for u in std::iter::once(ego).chain(self.walks.hit_list().iter().copied()) {
            let (t, r) = (self.walk_trust(u), self.reach(u));
            let node = self.graph.node(u);
            let sampler = &node.sampler;
            let total = sampler.total();
            if total > 0.0 && skill.is_none() {
                let mut lo = 0.0;
                for (&v, &c) in sampler.to.iter().zip(&sampler.cum) {
                    let (vi, w) = (v as usize, c - lo);
                    lo = c;
                    if v != ego && !sampled[vi] {
                        let f = t * keep * w / total;
                        ext[vi] += f;
                        if u != ego {
                            top[vi] = top[vi].max(f);
                        }
                    }
                }
            } else if let (true, Some(s)) = (total > 0.0, skill) {
                for pair in &node.out {
                    let w: f64 = pair
                        .atts()
                        .filter(|a| a.skill == s && a.score > 0)
                        .map(|a| self.graph.rel_weight(a, sampler.reference))
                        .sum();
                    let vi = pair.to as usize;
                    if w <= 0.0 || pair.to == ego {
                        continue;
                    }
                    if sampled[vi] {
                        raw[vi] += r * keep * w / total;
                    } else {
                        let f = t * keep * w / total;
                        ext[vi] += f;
                        if u != ego {
                            top[vi] = top[vi].max(f);
                        }
                    }
                }
            }
            if t > 0.0 {
                // One penalty per (rater, subject): the strongest of its negative attestations.
                for run in node.negatives.chunk_by(|a, b| a.0 == b.0) {
                    let strength = run
                        .iter()
                        .filter(|(_, a)| skill.is_none_or(|s| a.skill == s))
                        .map(|(_, a)| -self.graph.abs_weight(a, now))
                        .fold(0.0, f64::max);
                    if let (true, Some(&(v, _))) = (strength > 0.0, run.first()) {
                        neg[v as usize] += self.cfg.negative_cap * t * strength;
                    }
                }
            }
        }
        let mut out = Vec::new();
        for j in 0..n as u32 {
            if j == ego {
                continue;
            }
            let ji = j as usize;
            let positive = if sampled[ji] {
                let value = if skill.is_none() {
                    self.reach(j)
                } else {
                    raw[ji]
                };
                value * self.factor(j)
            } else {
                ext[ji] * self.extrapolated_factor(ext[ji], top[ji])
            };
            let s = positive - neg[ji];
            if s != 0.0 {
                out.push((j, s));
            }
        }
        out
    }
}
