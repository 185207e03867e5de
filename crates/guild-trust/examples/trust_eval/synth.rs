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
