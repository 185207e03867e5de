//! Synthetic graphs with the degree distribution of a real one, for cost measurements at scale.
//!
//! Method (a directed configuration model): each synthetic node copies the (out-degree, in-degree)
//! profile of a uniformly drawn real node, so the joint degree distribution — heavy tails and the
//! correlation between rating and being rated — is preserved. Out-stubs are matched to shuffled
//! in-stubs; self-loops and duplicate pairs are dropped and replaced by extra edges whose endpoints
//! are drawn from the stub lists (i.e. degree-proportionally) until the target count is reached.
//! Ratings and timestamps are resampled from the real file's empirical distributions.

use std::collections::{HashMap, HashSet};

use guild_trust::snap::SnapEdge;
use guild_trust::Rng;

/// A graph of exactly `target` distinct edges shaped like `real`.
pub fn synthesize(real: &[SnapEdge], target: usize, rng: &mut Rng) -> Vec<SnapEdge> {
    let mut deg: HashMap<u64, (usize, usize)> = HashMap::new();
    for e in real {
        deg.entry(e.source).or_default().0 += 1;
        deg.entry(e.target).or_default().1 += 1;
    }
    let mut profiles: Vec<(usize, usize)> = deg.into_values().collect();
    profiles.sort_unstable();
    if profiles.is_empty() || real.is_empty() {
        return Vec::new();
    }
    let n = ((profiles.len() as f64) * target as f64 / real.len() as f64)
        .ceil()
        .max(2.0) as u64;
    let (mut outs, mut ins) = (Vec::new(), Vec::new());
    for node in 0..n {
        let (o, i) = profiles[rng.below(profiles.len() as u64) as usize];
        outs.extend(std::iter::repeat_n(node, o));
        ins.extend(std::iter::repeat_n(node, i));
    }
    if outs.is_empty() || ins.is_empty() {
        return Vec::new();
    }
    for i in (1..ins.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        ins.swap(i, j);
    }
    let mut seen: HashSet<(u64, u64)> = HashSet::with_capacity(target);
    let mut edges = Vec::with_capacity(target);
    let mut push = |s: u64, t: u64, rng: &mut Rng, edges: &mut Vec<SnapEdge>| {
        if s != t && edges.len() < target && seen.insert((s, t)) {
            let like = real[rng.below(real.len() as u64) as usize];
            let time = real[rng.below(real.len() as u64) as usize].time;
            edges.push(SnapEdge {
                source: s,
                target: t,
                rating: like.rating,
                time,
            });
        }
    };
    for (&s, &t) in outs.iter().zip(&ins) {
        push(s, t, rng, &mut edges);
    }
    let mut guard = 0u64;
    while edges.len() < target && guard < 100 * target as u64 {
        let s = outs[rng.below(outs.len() as u64) as usize];
        let t = ins[rng.below(ins.len() as u64) as usize];
        push(s, t, rng, &mut edges);
        guard += 1;
    }
    edges
}

/// Shapes of the generated community (see [`community`]).
pub const COMMUNITY_SHAPES: &str = "preferential-attachment core with hubs (5 members attest and are attested by ~5 % of the core), \
    8 % bad members rated mostly negatively, 25 % of members issue at most 3 attestations (few out-edges), \
    and pendant chains of 2-5 members hanging off one core member each, whose members are reached by few walks";

/// A deterministic synthetic community in SNAP form, built to produce the shapes behind tail gains:
///
/// * **core**: `n` members join one by one and attest `m` established members chosen by
///   preferential attachment (80 %) or uniformly; the attested member attests back half the time;
/// * **hubs**: 5 members attest, and are attested by, a random 5 % of the core each;
/// * **few out-edges**: a quarter of the core issue at most 3 attestations (their own `m` capped);
/// * **pendant chains**: `n / 10` chains of 2–5 fresh members, each chain hanging off one core
///   member (`core → c_0 → c_1 → …`, every link attested back) and its last member also attesting
///   one random core member — members reached only through one path, by few walks;
/// * **signal**: 8 % of core members are *bad* and receive 80 % negative ratings (others 3 %), so
///   ranking quality (AUC) has something to find.
///
/// Ratings are −5..=5, times spread over three years. Same `seed`, same graph.
pub fn community(n: u64, seed: u64) -> Vec<SnapEdge> {
    const M: u64 = 6;
    const T0: u64 = 1_600_000_000;
    const SPAN: u64 = 3 * 365 * 86_400;
    let mut rng = Rng::from_seed(seed ^ 0x5eed_c0de);
    let n = n.max(20);
    let bad: Vec<bool> = (0..n).map(|_| rng.chance(0.08)).collect();
    let few: Vec<bool> = (0..n).map(|_| rng.chance(0.25)).collect();
    let rating = |rng: &mut Rng, t: u64, bad: &[bool]| -> i32 {
        let is_bad = bad.get(t as usize).copied().unwrap_or(false);
        if (is_bad && rng.chance(0.8)) || (!is_bad && rng.chance(0.03)) {
            -1 - rng.below(5) as i32
        } else {
            [1, 2, 3, 4, 5, 5][rng.below(6) as usize]
        }
    };
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut edges = Vec::new();
    let mut add = |s: u64, t: u64, r: i32, time: u64, edges: &mut Vec<SnapEdge>| {
        if s != t && seen.insert((s, t)) {
            edges.push(SnapEdge {
                source: s,
                target: t,
                rating: r,
                time,
            });
        }
    };
    let mut targets: Vec<u64> = vec![0, 1];
    for v in 2..n {
        let t = T0 + SPAN * v / n;
        let m = if few[v as usize] { 1 + rng.below(3) } else { M };
        for _ in 0..m.min(v) {
            let u = if rng.chance(0.8) {
                targets[rng.below(targets.len() as u64) as usize]
            } else {
                rng.below(v)
            };
            let r = rating(&mut rng, u, &bad);
            add(v, u, r, t + rng.below(86_400), &mut edges);
            if !few[u as usize] && rng.chance(0.5) {
                let r = rating(&mut rng, v, &bad);
                add(u, v, r, t + rng.below(30 * 86_400), &mut edges);
            }
            if !bad[u as usize] {
                targets.push(u);
            }
        }
        targets.push(v);
    }
    // Hubs.
    for h in 0..5u64 {
        let hub = rng.below(n);
        for _ in 0..n / 20 {
            let x = rng.below(n);
            let t = T0 + rng.below(SPAN);
            let r = rating(&mut rng, x, &bad);
            add(hub, x, r, t, &mut edges);
            let r = rating(&mut rng, hub, &bad);
            add(x, hub, r, t + h, &mut edges);
        }
    }
    // Pendant chains.
    let mut next = n;
    for _ in 0..n / 10 {
        let anchor = rng.below(n);
        let len = 2 + rng.below(4);
        let t = T0 + rng.below(SPAN);
        let mut prev = anchor;
        for i in 0..len {
            let c = next;
            next += 1;
            add(prev, c, 1 + rng.below(5) as i32, t + i * 86_400, &mut edges);
            add(
                c,
                prev,
                1 + rng.below(5) as i32,
                t + i * 86_400 + 3_600,
                &mut edges,
            );
            prev = c;
        }
        let back = rng.below(n);
        let r = rating(&mut rng, back, &bad);
        add(prev, back, r, t + len * 86_400, &mut edges);
    }
    edges
}
