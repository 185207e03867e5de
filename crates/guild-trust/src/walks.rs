//! One ego's Monte-Carlo random walks, their index, and their incremental repair.
//!
//! A walk starts at the ego. At every node it stops with probability α (transitivity decay);
//! otherwise it moves along one of the node's positive attestations, chosen proportionally to weight.
//! It also ends at a node with no positive attestation ("dangling") and when it comes back to the ego
//! (a return would only restart it). Every walk is stored, and `through[u]` indexes the walks that
//! visit `u`, so the hit count of `u` — the number of walks that reach it at least once — is an
//! O(1) lookup, and each walk remembers its position in those lists so that unlinking is O(1) too.
//!
//! **Incremental repair.** When the out-distribution of node `u` changes from `P` to `Q`, only steps
//! taken *out of* `u` are affected: every walk prefix up to its first visit of `u` was drawn from
//! unchanged distributions. Rather than regenerating every walk from its first visit of `u` onwards
//! (which is correct but touches every walk through a hub), each departure from `u` is kept with
//! probability `min(1, Q(x)/P(x))` for its recorded next node `x`, and otherwise redrawn from the
//! residual `(Q - P)+` — the standard maximal coupling, which leaves each repaired step distributed
//! exactly as `Q`. The first departure that is redrawn regenerates the rest of that walk. For a
//! single edge `u → v` whose weight rises, departures elsewhere move to `v` with probability
//! `1 - (1-Q(v))/(1-P(v))`; when it falls, only departures to `v` move. So the work is proportional
//! to the probability mass that actually changed, not to the popularity of `u`.

use crate::graph::{NodeKey, TrustGraph};
use crate::rng::{FxHashMap, FxHashSet, Rng};

/// Marker for "no node".
pub(crate) const NO_NODE: u32 = u32::MAX;

/// Why a walk ended. Only `Dangling` depends on the graph at its last node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The α coin (or the length cap) stopped it.
    Stopped,
    /// The α coin said go on, but the last node had no positive attestation.
    Dangling,
    /// It stepped back to the ego, which is recorded as its last node.
    Ego,
}

/// One walk: where its nodes lie in the ego's arena ([`EgoWalks::nodes`]; the first is the ego).
///
/// Every walk's nodes are stored one after another in one flat array (and, beside them in the
/// same order, their slots in the `through` lists), not in a heap allocation per walk: a full
/// compute made 20 000 allocations (and as many frees) per ego for the walks alone, and every
/// scan of a walk followed a pointer to a separate block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walk {
    /// Offsets are `usize`: many long walks (or many repairs between compactions) could pass
    /// `u32::MAX` entries; a walk's own length is bounded by `max_walk_len` (a `u32`).
    start: usize,
    len: u32,
    pub end: End,
}

const NO_SLOT: u32 = u32::MAX;

/// The node that most of a node's walks passed through before reaching it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Bridge {
    /// Share of the walks reaching the node that had visited `node` first.
    pub share: f64,
    /// The bridge, or `NO_NODE`.
    pub node: u32,
}

impl Default for Bridge {
    fn default() -> Self {
        Bridge {
            share: 0.0,
            node: NO_NODE,
        }
    }
}

/// A change of one node's out-distribution, described by what the coupling needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutChange {
    pub node: u32,
    /// The subject whose weight changed (`NO_NODE` when all edges went away).
    pub target: u32,
    pub p_old: f64,
    pub p_new: f64,
    pub has_edges: bool,
}

/// The walks of one ego.
#[derive(Clone, Debug)]
pub(crate) struct EgoWalks {
    pub ego: u32,
    rng: Rng,
    alpha: f64,
    max_hops: usize,
    pub walks: Vec<Walk>,
    /// The walks' nodes, each walk's contiguous (see [`Walk`]).
    path: Vec<u32>,
    /// Beside each entry of `path`: at the first visit of a node, the walk's index in that node's
    /// `through` list, so that unlinking it is O(1) however many walks visit the node (`NO_SLOT`
    /// elsewhere).
    slot: Vec<u32>,
    /// Entries of `path` no walk uses any more (the old copies of rewritten walks).
    stale: usize,
    /// Ids of the walks visiting each node, indexed by node (the ego's list stays empty).
    through: Vec<Vec<u32>>,
    /// The length of each node's `through` list (its hit count) in a dense array: the scorer
    /// reads it for scattered nodes several times per reached node, where each read of a
    /// list's length loaded a 24-byte `Vec` header.
    hit_count: Vec<u32>,
    /// Cached connectivity statistics, indexed by node; valid for nodes not marked dirty.
    bridges: Vec<Bridge>,
    /// Per node, same validity: where its cached nearest bridge *set* (see [`Self::cut`]) and,
    /// when its set search found a set carrying more than [`PARTIAL_FLOOR`] but not more than
    /// the threshold of its walks, that set (see [`Self::partial_cut`]) lie in `sets`.
    set_at: Vec<SetSpan>,
    /// Every node's cached sets, one after another (a node's set as a `Vec` of its own cost a
    /// heap allocation and a free per reached node and full compute, and a pointer to follow
    /// per read). A node whose sets are recomputed gets fresh entries at the end.
    sets: SetShares,
    /// Entries of `sets` no node uses any more.
    sets_stale: usize,
    /// The ego's direct peers as of the last refresh (excluded from bridge sets).
    first_hop: Vec<bool>,
    /// The nodes reached by at least one walk, ascending, as of the last refresh (see
    /// [`Self::hit_list`]).
    hit: Vec<u32>,
    dirty: Vec<u32>,
    is_dirty: Vec<bool>,
    all_dirty: bool,
    mark: FxHashSet<u32>,
}

/// Continues the walk whose nodes are `path[start..]` (at least one) to its end.
fn extend<K: NodeKey>(
    path: &mut Vec<u32>,
    start: usize,
    g: &TrustGraph<K>,
    ego: u32,
    alpha: f64,
    max_hops: usize,
    rng: &mut Rng,
) -> End {
    loop {
        if path.len() - start > max_hops || rng.next_f64() < alpha {
            return End::Stopped;
        }
        let Some(&u) = path[start..].last() else {
            return End::Stopped;
        };
        match g.node(u).sampler.sample(rng) {
            None => return End::Dangling,
            Some(v) => {
                path.push(v);
                if v == ego {
                    return End::Ego;
                }
            }
        }
    }
}

impl EgoWalks {
    /// Generates `count` walks from `ego`. The graph's samplers must be fresh.
    pub fn generate<K: NodeKey>(
        g: &TrustGraph<K>,
        ego: u32,
        count: u32,
        alpha: f64,
        max_hops: u32,
        seed: u64,
    ) -> Self {
        debug_assert!(g.is_fresh());
        let n = g.len();
        let mut me = EgoWalks {
            ego,
            rng: Rng::from_seed(seed),
            alpha,
            max_hops: max_hops as usize,
            walks: Vec::with_capacity(count as usize),
            path: Vec::new(),
            slot: Vec::new(),
            stale: 0,
            through: vec![Vec::new(); n],
            hit_count: Vec::new(),
            bridges: vec![Bridge::default(); n],
            set_at: vec![SetSpan::default(); n],
            sets: Vec::new(),
            sets_stale: 0,
            first_hop: Vec::new(),
            hit: Vec::new(),
            dirty: Vec::new(),
            is_dirty: vec![false; n],
            all_dirty: true,
            mark: FxHashSet::default(),
        };
        for _ in 0..count {
            let start = me.path.len();
            me.path.push(ego);
            let end = extend(&mut me.path, start, g, ego, alpha, me.max_hops, &mut me.rng);
            let len = (me.path.len() - start) as u32;
            me.walks.push(Walk { start, len, end });
        }
        // Index the walks under the nodes they visit. A first pass gives each first visit its
        // slot (how many earlier walks visited the node), so each node's list is allocated once
        // at its final size instead of growing by doubling; same lists, same order.
        me.slot = vec![NO_SLOT; me.path.len()];
        // stamp[n] == id + 1 once walk `id` has been counted under node n.
        let mut stamp = vec![0u32; n];
        let mut size = vec![0u32; n];
        for (id, w) in me.walks.iter().enumerate() {
            let id = id as u32;
            let at = w.start;
            for q in at + 1..at + w.len as usize {
                let vi = me.path[q] as usize;
                if vi != ego as usize && stamp[vi] != id + 1 {
                    stamp[vi] = id + 1;
                    me.slot[q] = size[vi];
                    size[vi] += 1;
                }
            }
        }
        for (list, &k) in me.through.iter_mut().zip(&size) {
            if k > 0 {
                *list = vec![0; k as usize];
            }
        }
        me.hit_count = size;
        for (id, w) in me.walks.iter().enumerate() {
            let at = w.start;
            for q in at + 1..at + w.len as usize {
                let s = me.slot[q];
                if s != NO_SLOT {
                    me.through[me.path[q] as usize][s as usize] = id as u32;
                }
            }
        }
        me
    }

    /// The nodes of walk `id`, the ego first.
    pub fn nodes(&self, id: u32) -> &[u32] {
        let w = &self.walks[id as usize];
        &self.path[w.start..w.start + w.len as usize]
    }

    /// Copies the walks into a fresh arena without the stale entries once those are the majority
    /// (rewritten walks leave their old copy behind).
    fn compact(&mut self) {
        if self.stale <= self.path.len() / 2 {
            return;
        }
        let live = self.path.len() - self.stale;
        let (mut path, mut slot) = (Vec::with_capacity(live), Vec::with_capacity(live));
        for w in &mut self.walks {
            let r = w.start..w.start + w.len as usize;
            w.start = path.len();
            path.extend_from_slice(&self.path[r.clone()]);
            slot.extend_from_slice(&self.slot[r]);
        }
        self.path = path;
        self.slot = slot;
        self.stale = 0;
    }

    /// Grows the per-node arrays after the graph gained nodes.
    fn ensure(&mut self, n: usize) {
        if self.through.len() < n {
            self.through.resize_with(n, Vec::new);
            self.hit_count.resize(n, 0);
            self.bridges.resize(n, Bridge::default());
            self.set_at.resize(n, SetSpan::default());
            self.is_dirty.resize(n, false);
        }
    }

    fn set_dirty(&mut self, v: u32) {
        let d = &mut self.is_dirty[v as usize];
        if !*d {
            *d = true;
            self.dirty.push(v);
        }
    }

    /// Walk ids visiting `u` (empty for the ego).
    pub fn through(&self, u: u32) -> &[u32] {
        self.through.get(u as usize).map_or(&[], Vec::as_slice)
    }

    /// Nodes reached by at least one walk.
    pub fn hit_nodes(&self) -> impl Iterator<Item = u32> + '_ {
        self.hit_count
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(u, _)| u as u32)
    }

    /// [`Self::hit_nodes`] as of the last [`Self::refresh_bridges`] (the scorer, which always
    /// runs right after it, walks this list about ten times per score map: a flat array instead
    /// of a pass over every node's walk list each time).
    pub fn hit_list(&self) -> &[u32] {
        &self.hit
    }

    /// Number of walks that reach `u` (all of them for the ego).
    pub fn hits(&self, u: u32) -> usize {
        if u == self.ego {
            return self.walks.len();
        }
        self.hit_count.get(u as usize).map_or(0, |&c| c as usize)
    }

    /// Applies an out-distribution change at `ch.node` to every walk departing from it.
    /// Returns the number of walks whose tail was regenerated.
    pub fn repair<K: NodeKey>(&mut self, g: &TrustGraph<K>, ch: &OutChange) -> usize {
        debug_assert!(g.is_fresh());
        self.ensure(g.len());
        let u = ch.node;
        let ids: Vec<u32> = if u == self.ego {
            (0..self.walks.len() as u32).collect()
        } else {
            self.through(u).to_vec()
        };
        let sampler = &g.node(u).sampler;
        let mut rerouted = 0;
        for id in ids {
            let mut from = 0;
            loop {
                let end = self.walks[id as usize].end;
                let nodes = self.nodes(id);
                let Some(p) = nodes[from..].iter().position(|&n| n == u).map(|i| i + from) else {
                    break;
                };
                if u == self.ego && p > 0 {
                    break; // the ego only departs at position 0
                }
                if p + 1 == nodes.len() {
                    if end == End::Dangling && ch.has_edges {
                        let y = sampler.sample(&mut self.rng);
                        self.rewrite(g, id, p, y);
                        rerouted += 1;
                    }
                    break;
                }
                if !ch.has_edges {
                    self.rewrite(g, id, p, None);
                    rerouted += 1;
                    break;
                }
                let x = nodes[p + 1];
                let redraw = if x == ch.target {
                    let keep = if ch.p_old > 0.0 {
                        ch.p_new / ch.p_old
                    } else {
                        1.0
                    };
                    (keep < 1.0 && !self.rng.chance(keep))
                        .then(|| sampler.sample_excluding(ch.target, &mut self.rng))
                } else {
                    let keep = if ch.p_old < 1.0 {
                        (1.0 - ch.p_new) / (1.0 - ch.p_old)
                    } else {
                        1.0
                    };
                    (keep < 1.0 && !self.rng.chance(keep)).then_some(Some(ch.target))
                };
                match redraw {
                    Some(y) => {
                        self.rewrite(g, id, p, y);
                        rerouted += 1;
                        break;
                    }
                    None => from = p + 1,
                }
            }
        }
        self.compact();
        rerouted
    }

    /// Replaces the tail of walk `id` after position `p` by a step to `first` (or a dangling end when
    /// `None`) followed by a fresh continuation, and updates the index.
    fn rewrite<K: NodeKey>(&mut self, g: &TrustGraph<K>, id: u32, p: usize, first: Option<u32>) {
        let ego = self.ego;
        let w = self.walks[id as usize];
        let (s, len) = (w.start, w.len as usize);
        let old_tail = self.path[s + p + 1..s + len].to_vec();
        let old_slots = self.slot[s + p + 1..s + len].to_vec();
        // The last walk of the arena is cut in place; any other is copied to the end (its old
        // copy goes stale until the next compaction).
        let at = if s + len == self.path.len() {
            self.path.truncate(s + p + 1);
            self.slot.truncate(s + p + 1);
            s
        } else {
            let at = self.path.len();
            self.path.extend_from_within(s..s + p + 1);
            self.slot.extend_from_within(s..s + p + 1);
            self.stale += len;
            at
        };
        let end = match first {
            None => End::Dangling,
            Some(y) => {
                self.path.push(y);
                if y == ego {
                    End::Ego
                } else {
                    extend(
                        &mut self.path,
                        at,
                        g,
                        ego,
                        self.alpha,
                        self.max_hops,
                        &mut self.rng,
                    )
                }
            }
        };
        self.slot.resize(self.path.len(), NO_SLOT);
        self.walks[id as usize] = Walk {
            start: at,
            len: (self.path.len() - at) as u32,
            end,
        };
        // Nodes first visited in the old tail lose this walk; those of the new tail gain it.
        let nodes = &self.path[at..];
        let mark = &mut self.mark;
        mark.clear();
        mark.extend(nodes[..=p].iter().copied());
        let unlink: Vec<(u32, u32)> = old_tail
            .into_iter()
            .zip(old_slots)
            .filter(|&(n, _)| n != ego && mark.insert(n))
            .collect();
        mark.clear();
        mark.extend(nodes[..=p].iter().copied());
        let link: Vec<(u32, usize)> = (p + 1..nodes.len())
            .map(|q| (nodes[q], q))
            .filter(|&(n, _)| n != ego && mark.insert(n))
            .collect();
        for &(n, slot) in &unlink {
            self.unlink(n, id, slot);
            self.set_dirty(n);
        }
        for (n, q) in link {
            let list = &mut self.through[n as usize];
            self.slot[at + q] = list.len() as u32;
            list.push(id);
            self.hit_count[n as usize] += 1;
            self.set_dirty(n);
        }
    }

    /// Removes walk `id` (stored at `slot`) from `n`'s list, fixing the slot of the walk moved into
    /// its place.
    fn unlink(&mut self, n: u32, id: u32, slot: u32) {
        let list = &mut self.through[n as usize];
        let i = match list.get(slot as usize) {
            Some(&w) if w == id => slot as usize,
            // Defensive: a stale slot would be a bug; fall back to a scan rather than corrupt.
            _ => match list.iter().position(|&w| w == id) {
                Some(i) => i,
                None => return,
            },
        };
        list.swap_remove(i);
        self.hit_count[n as usize] -= 1;
        if let Some(&moved) = list.get(i) {
            let at = self.walks[moved as usize].start;
            if let Some(q) = first_visit(self.nodes(moved), n) {
                self.slot[at + q] = i as u32;
            }
        }
    }

    /// Recomputes the connectivity statistics of every node whose walks changed since the last call.
    ///
    /// For node `j`, the bridge share is `max_k |walks that visit k before their first visit of j| /
    /// |walks that visit j|` over nodes `k` other than the ego and `j` (Nasrulin et al., 2022); the
    /// maximising `k` nearest to `j` is recorded as its bridge.
    ///
    /// It also recomputes each such node's nearest bridge set (see [`Self::cut`]) with at most
    /// `max_set` members that must carry more than `set_threshold` of the node's walks.
    ///
    /// Long (about 155 lines) on purpose: one pass over each changed node's walks fills the
    /// counters both the bridge share and the set search read; split, the walks would be read
    /// twice on the engine's hottest path.
    pub fn refresh_bridges(&mut self, node_count: usize, max_set: usize, set_threshold: f64) {
        self.ensure(node_count);
        let n = self.through.len();
        // The ego's direct peers (the first hop of its walks) are never bridge-set members; if
        // they changed, every node's set may have changed.
        let mut first_hop = vec![false; n];
        for w in &self.walks {
            if w.len > 1 {
                first_hop[self.path[w.start + 1] as usize] = true;
            }
        }
        if first_hop != self.first_hop {
            self.first_hop = first_hop;
            self.all_dirty = true;
        }
        let targets: Vec<u32> = if self.all_dirty {
            self.hit_nodes().collect()
        } else {
            self.dirty.clone()
        };
        for v in self.dirty.drain(..) {
            self.is_dirty[v as usize] = false;
        }
        let mut hit = std::mem::take(&mut self.hit);
        hit.clear();
        hit.extend(self.hit_nodes());
        self.hit = hit;
        if self.all_dirty {
            self.bridges.iter_mut().for_each(|b| *b = Bridge::default());
            self.set_at.fill(SetSpan::default());
            self.sets.clear();
            self.sets_stale = 0;
        }
        self.all_dirty = false;
        if targets.is_empty() {
            return;
        }
        let (mut cand_end, mut covered_by, mut cut_touched, mut top, mut occ) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut cand, mut cand_at) = (Vec::new(), Vec::new());
        let (mut members, mut found, mut partial) = (Vec::new(), Vec::new(), Vec::new());
        let (mut start, mut end, mut cnt) = (Vec::new(), Vec::new(), Vec::new());
        // Everything the scan reads and writes per node in one 16-byte record (one cache line
        // per node passed, where four separate arrays cost up to four).
        let mut tally: Vec<Tally> = (0..n)
            .map(|k| Tally {
                rank: if max_set == 0 || self.first_hop.get(k).copied().unwrap_or(false) {
                    0
                } else {
                    self.hit_count[k]
                },
                ..Tally::default()
            })
            .collect();

        let mut touched: Vec<u32> = Vec::new();
        let mut tick = 0u32;
        for j in targets {
            let ids = &self.through[j as usize];
            if ids.is_empty() {
                self.bridges[j as usize] = Bridge::default();
                self.store_sets(j, &[], &[]);
                continue;
            }
            // Scan each prefix backwards so that, among equally frequent nodes (e.g. several nodes
            // every walk passes), the one nearest to `j` — its immediate bridge — wins the tie.
            //
            // The same pass prepares the bridge-set search (see `nearest_cut`): each walk's
            // eligible candidates, the walks through each, and how many walks pass any.
            let mut best = (0u32, NO_NODE);
            let sets = max_set > 0;
            let m = ids.len();
            let mut coverable = 0usize;
            cand.clear();
            cand_at.clear();
            cand_at.push(0);
            for &w in ids {
                tick += 1;
                let nodes = self.nodes(w);
                let end = first_visit(nodes, j).unwrap_or(0);
                let mut any = false;
                for &k in nodes[1..end.max(1)].iter().rev() {
                    let ku = k as usize;
                    let t = &mut tally[ku];
                    if t.stamp != tick {
                        t.stamp = tick;
                        if t.count == 0 {
                            touched.push(k);
                        }
                        t.count += 1;
                        if t.count > best.0 {
                            best = (t.count, k);
                        }
                        if sets && eligible(t, m) {
                            if t.ecount == 0 {
                                cut_touched.push(k);
                            }
                            t.ecount += 1;
                            cand.push(k);
                            any = true;
                        }
                    }
                }
                coverable += usize::from(any);
                if sets {
                    cand_at.push(cand.len() as u32);
                }
            }
            for k in touched.drain(..) {
                tally[k as usize].count = 0;
            }
            let share = f64::from(best.0) / ids.len() as f64;
            self.bridges[j as usize] = Bridge {
                share,
                node: best.1,
            };
            let floor = PARTIAL_FLOOR.min(set_threshold) * m as f64;
            found.clear();
            partial.clear();
            if !sets || (coverable as f64) <= floor {
                // Not even all walks passing an eligible node would carry enough.
                for k in cut_touched.drain(..) {
                    tally[k as usize].ecount = 0;
                }
            } else if m == 1 {
                // One walk: the greedy search picks its nearest eligible node (`cand[0]`, met
                // first scanning back from `j`) and finds nothing after it.
                for k in cut_touched.drain(..) {
                    tally[k as usize].ecount = 0;
                }
                if 1.0 > set_threshold {
                    found.push((cand[0], 1.0));
                } else {
                    partial.push((cand[0], 1.0));
                }
            } else {
                let mut scratch = CutScratch {
                    cand_end: &mut cand_end,
                    covered_by: &mut covered_by,
                    touched: &mut cut_touched,
                    top: &mut top,
                    cand: &mut cand,
                    cand_at: &mut cand_at,
                    occ: &mut occ,
                    start: &mut start,
                    end: &mut end,
                    cnt: &mut cnt,
                    tally: &mut tally,
                    tick: &mut tick,
                    members: &mut members,
                    found: &mut found,
                    partial: &mut partial,
                };
                nearest_cut(m, max_set, set_threshold, coverable, &mut scratch);
            }
            self.store_sets(j, &found, &partial);
        }
        self.compact_sets();
    }

    /// Records `j`'s nearest set and partial set (see [`Self::refresh_bridges`]).
    fn store_sets(&mut self, j: u32, found: &[(u32, f32)], partial: &[(u32, f32)]) {
        let old = self.set_at[j as usize];
        self.sets_stale += (old.cut_len + old.partial_len) as usize;
        let at = self.sets.len();
        self.sets.extend_from_slice(found);
        self.sets.extend_from_slice(partial);
        self.set_at[j as usize] = SetSpan {
            at,
            cut_len: found.len() as u32,
            partial_len: partial.len() as u32,
        };
    }

    /// Copies the cached sets into a fresh array without the stale entries once those are the
    /// majority.
    fn compact_sets(&mut self) {
        if self.sets_stale <= self.sets.len() / 2 {
            return;
        }
        let mut sets = Vec::with_capacity(self.sets.len() - self.sets_stale);
        for span in &mut self.set_at {
            let a = span.at;
            let b = a + (span.cut_len + span.partial_len) as usize;
            span.at = sets.len();
            sets.extend_from_slice(&self.sets[a..b]);
        }
        self.sets = sets;
        self.sets_stale = 0;
    }

    /// Whether `u`'s set search missed narrowly: no set was found, but the best set of at most
    /// `max_set` members carried more than [`PARTIAL_FLOOR`] of its walks (by count). The scorer
    /// then searches again without the walks routed in through a region (see
    /// [`Self::reduced_cut`]), and otherwise lets `u` hang off that set in part.
    pub fn near_miss(&self, u: u32) -> bool {
        !self.partial_cut(u).is_empty()
    }

    /// The best set of a near miss (see [`Self::near_miss`]): `(member, share of u's walks first
    /// covered by it)`, the shares adding up to more than [`PARTIAL_FLOOR`] but at most the
    /// threshold; empty for other nodes.
    pub fn partial_cut(&self, u: u32) -> &[(u32, f32)] {
        self.set_at.get(u as usize).map_or(&[], |s| {
            let a = s.at + s.cut_len as usize;
            &self.sets[a..a + s.partial_len as usize]
        })
    }

    /// `j`'s nearest bridge set (as [`Self::refresh_bridges`] finds it) among the walks reaching
    /// `j` except those in `skip` (sorted walk ids): at most `max_set` eligible members carrying
    /// more than `threshold` of the remaining walks, found by the same greedy coverage repeated
    /// inside each covered walk's part after the set. Returns `(member, share of the remaining
    /// walks first covered by it)`, empty if there is none. Only for the few nodes that need it
    /// (it allocates; the batch search in `refresh_bridges` shares its scratch space).
    pub fn reduced_cut(
        &self,
        j: u32,
        skip: &[u32],
        max_set: usize,
        threshold: f64,
    ) -> Vec<(u32, f32)> {
        let ids = self.through(j);
        let m = ids.len();
        let kept: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|w| skip.binary_search(w).is_err())
            .collect();
        let need = threshold * kept.len() as f64;
        let eligible = |k: u32| {
            k != j && !self.first_hop.get(k as usize).copied().unwrap_or(false) && self.hits(k) > m
        };
        let mut span: Vec<(usize, usize)> = kept
            .iter()
            .map(|&w| {
                let nodes = self.nodes(w);
                (1, first_visit(nodes, j).unwrap_or(0).max(1))
            })
            .collect();
        let mut found: Vec<(u32, f32)> = Vec::new();
        loop {
            // Each walk's eligible candidates (deduplicated, nearest first) and, per candidate in
            // the order met, the walks containing it.
            let mut cands: Vec<Vec<u32>> = Vec::with_capacity(kept.len());
            let mut order: Vec<u32> = Vec::new();
            let mut occ: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
            for (i, &w) in kept.iter().enumerate() {
                let (a, b) = span[i];
                let nodes = self.nodes(w);
                let mut mine: Vec<u32> = Vec::new();
                for &k in nodes[a..b].iter().rev() {
                    if eligible(k) && !mine.contains(&k) {
                        mine.push(k);
                        let list = occ.entry(k).or_default();
                        if list.is_empty() {
                            order.push(k);
                        }
                        list.push(i as u32);
                    }
                }
                cands.push(mine);
            }
            let mut count: FxHashMap<u32, u32> =
                occ.iter().map(|(&k, l)| (k, l.len() as u32)).collect();
            let mut covered = vec![false; kept.len()];
            let (mut n_cov, mut members) = (0usize, Vec::new());
            while members.len() < max_set && (n_cov as f64) <= need {
                let mut best = (0u32, NO_NODE);
                for &k in &order {
                    let c = count.get(&k).copied().unwrap_or(0);
                    if c > best.0 {
                        best = (c, k);
                    }
                }
                let left = (max_set - members.len()) as f64;
                if best.0 == 0 || n_cov as f64 + left * f64::from(best.0) <= need {
                    break;
                }
                members.push(best);
                for &i in occ.get(&best.1).map_or(&[][..], Vec::as_slice) {
                    let i = i as usize;
                    if covered[i] {
                        continue;
                    }
                    covered[i] = true;
                    n_cov += 1;
                    for k in &cands[i] {
                        if let Some(c) = count.get_mut(k) {
                            *c -= 1;
                        }
                    }
                }
            }
            if (n_cov as f64) <= need || members.is_empty() {
                return found;
            }
            let total = kept.len() as f32;
            found = members
                .iter()
                .map(|&(c, b)| (b, c as f32 / total))
                .collect();
            for (i, &w) in kept.iter().enumerate() {
                if !covered[i] {
                    continue;
                }
                let (lo, hi) = span[i];
                let nodes = self.nodes(w);
                let last = (lo..hi)
                    .rev()
                    .find(|&q| members.iter().any(|&(_, b)| b == nodes[q]))
                    .unwrap_or(lo);
                span[i] = (last + 1, hi);
            }
        }
    }

    /// The cached nearest bridge set of `u`: `(member, share of u's walks it carries)`, empty when
    /// no small set carries more than the threshold (call [`Self::refresh_bridges`] first).
    pub fn cut(&self, u: u32) -> &[(u32, f32)] {
        self.set_at.get(u as usize).map_or(&[], |s| {
            let a = s.at;
            &self.sets[a..a + s.cut_len as usize]
        })
    }

    /// The cached bridge of `u` (call [`Self::refresh_bridges`] first).
    pub fn bridge(&self, u: u32) -> Bridge {
        self.bridges.get(u as usize).copied().unwrap_or_default()
    }

    /// Rough heap footprint in bytes.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let mut b = self.walks.capacity() * size_of::<Walk>();
        b += (self.path.capacity() + self.slot.capacity()) * 4;
        b += self.through.capacity() * size_of::<Vec<u32>>();
        b += self.through.iter().map(|s| s.capacity() * 4).sum::<usize>();
        b += self.bridges.capacity() * size_of::<Bridge>() + self.is_dirty.capacity();
        b += self.set_at.capacity() * size_of::<SetSpan>() + self.sets.capacity() * 8;
        b + self.dirty.capacity() * 4 + self.hit.capacity() * 4
    }

    /// Checks that every walk is a valid walk in the current graph and that the index matches a
    /// recount. Used by tests to prove incremental repair leaves no stale state behind.
    pub fn verify<K: NodeKey>(&self, g: &TrustGraph<K>) -> Result<(), String> {
        let mut recount: Vec<Vec<u32>> = vec![Vec::new(); self.through.len().max(g.len())];
        let live: usize = self.walks.iter().map(|w| w.len as usize).sum();
        if live + self.stale != self.path.len() || self.slot.len() != self.path.len() {
            return Err("walk arena: live and stale entries do not add up".into());
        }
        for (id, w) in self.walks.iter().enumerate() {
            let nodes = self.nodes(id as u32);
            if nodes.first() != Some(&self.ego) {
                return Err(format!("walk {id} does not start at the ego"));
            }
            for (i, pair) in nodes.windows(2).enumerate() {
                if g.node(pair[0]).sampler.prob(pair[1]) <= 0.0 {
                    return Err(format!(
                        "walk {id} step {i}: {} -> {} is not a positive edge",
                        pair[0], pair[1]
                    ));
                }
                if pair[0] == self.ego && i > 0 {
                    return Err(format!("walk {id} continues after returning to the ego"));
                }
            }
            let last = nodes.last().copied().unwrap_or(self.ego);
            match w.end {
                End::Dangling if !g.node(last).sampler.is_empty() => {
                    return Err(format!("walk {id} ends dangling at a node with edges"));
                }
                End::Ego if last != self.ego || nodes.len() < 2 => {
                    return Err(format!("walk {id} ends at ego without returning"));
                }
                _ => {}
            }
            for &n in &nodes[1..] {
                let list = &mut recount[n as usize];
                if n != self.ego && list.last() != Some(&(id as u32)) {
                    list.push(id as u32);
                }
            }
        }
        for (n, list) in self.through.iter().enumerate() {
            if self.hit_count.get(n).map_or(0, |&c| c as usize) != list.len() {
                return Err(format!("node {n}: hit count differs from its walk list"));
            }
            for (i, &w) in list.iter().enumerate() {
                let at = self.walks[w as usize].start;
                let q =
                    first_visit(self.nodes(w), n as u32).ok_or("indexed walk misses the node")?;
                if self.slot[at + q] != i as u32 {
                    return Err(format!("walk {w}: stale slot for node {n}"));
                }
            }
        }
        let mut mine = self.through.clone();
        mine.resize_with(recount.len(), Vec::new);
        for (a, b) in mine.iter_mut().zip(recount.iter_mut()) {
            a.sort_unstable();
            b.sort_unstable();
            b.dedup();
        }
        if recount != mine {
            return Err("walk index differs from a recount".into());
        }
        Ok(())
    }
}

/// A bridge set: `(member, share of the node's walks first covered by it)`.
type SetShares = Vec<(u32, f32)>;

/// Where one node's cached sets lie in [`EgoWalks`]'s `sets`: its nearest set at `at`, then its
/// partial set (one 16-byte record, so that reading both costs one cache line).
#[derive(Clone, Copy, Debug, Default)]
struct SetSpan {
    at: usize,
    cut_len: u32,
    partial_len: u32,
}

/// The least share of a node's walks (by count) that a partial bridge set must carry to be kept
/// for the relay-weighted test. Below it the uncovered walks would have to be nearly all Sybil
/// walks for the set to pass, and keeping sets that cannot pass only costs search time.
pub(crate) const PARTIAL_FLOOR: f64 = 0.5;

/// The single-bridge scan's and the set search's counters for one node (see
/// [`EgoWalks::refresh_bridges`]): all zero between uses except `rank`, stamps below the tick.
#[derive(Clone, Copy, Default)]
struct Tally {
    /// The last walk (tick) that counted this node.
    stamp: u32,
    /// Walks of the current target that passed this node (its bridge candidates). During the
    /// set search (where it is otherwise unused) a candidate's index in the search's dense
    /// count array (see [`nearest_cut`]).
    count: u32,
    /// The same, counting only while the node is eligible as a set member (the set search's
    /// candidate count, see [`nearest_cut`]).
    ecount: u32,
    /// Its hit count, or 0 for the ego's direct peers (see [`eligible`]).
    rank: u32,
}

/// Scratch arrays shared with the single-bridge scan (all zero between uses, stamps below `tick`).
struct CutScratch<'a> {
    /// Per node; the search reads and writes `ecount`, `count` and `stamp`.
    tally: &'a mut [Tally],
    tick: &'a mut u32,
    /// Reused per call (cleared on entry): the end of each walk's candidates still searched (see
    /// `cand`), the member covering it, candidates seen, their counts.
    cand_end: &'a mut Vec<u32>,
    covered_by: &'a mut Vec<u32>,
    touched: &'a mut Vec<u32>,
    top: &'a mut Vec<u32>,
    /// Each walk's eligible candidates, deduplicated, nearest to `j` first (each at its last pass
    /// before `j`): walk `i`'s are `cand[cand_at[i]..cand_at[i+1]]`, filled by the caller's scan.
    /// A later round searches the part of a covered walk after its last pass through the set
    /// found, whose candidates are exactly those listed before the first member: the rounds
    /// shorten `cand_end[i]` instead of rescanning the walk.
    cand: &'a mut Vec<u32>,
    cand_at: &'a mut Vec<u32>,
    /// Inverted index: `occ[start[p]..end[p]]` are the walks (indexes into the node's list) whose
    /// suffix contains candidate `touched[p]`.
    occ: &'a mut Vec<u32>,
    start: &'a mut Vec<u32>,
    end: &'a mut Vec<u32>,
    /// Per candidate, in `touched` order: the walks its pick would still cover.
    cnt: &'a mut Vec<u32>,
    /// The greedy picks of the current round `(member, walks)`, and the results: the nearest
    /// set and a near miss's partial set (see [`nearest_cut`]), empty if none.
    members: &'a mut Vec<(u32, u32)>,
    found: &'a mut SetShares,
    partial: &'a mut SetShares,
}

/// Whether `k` may be a member of the bridge set of a node reached by `m` walks.
///
/// Only nodes more walks reach than that node qualify: "hangs off" is then acyclic (a mutually
/// attesting region cannot hang off itself) and the caps follow one pass by reach. The ego's direct
/// peers do not qualify either: the ego attested them itself, and what hangs off them is its own
/// first-hand choice (still subject to single-bridge decay). Without this exemption every node of
/// an ego with few peers hangs off those peers, and the caps rescale whole egos' score maps, which
/// costs ranking quality (see TRUST.md).
fn eligible(t: &Tally, m: usize) -> bool {
    t.rank as usize > m
}

/// The *nearest bridge set* of `j`: a set of at most `max_set` eligible nodes (see [`eligible`])
/// that the walks reaching `j` passed through before their first visit of `j`, carrying more than
/// `threshold` of those walks — the nearest such set to `j`.
///
/// Why "nearest": a Sybil region attached by `k` colluders is carried entirely by the colluders,
/// but usually also by some honest node upstream of all of them. Measuring the region against that
/// upstream node would discount it no more than the colluders themselves. So the search repeats:
/// find a set by greedy maximum coverage over the walks' prefixes, then look again only in the part
/// of each covered walk *after* its last pass through that set, and keep the last set found. Greedy
/// coverage is within `1 − 1/e` of the best set of the same size; a set is accepted only if it
/// carries more than `threshold` of all walks.
///
/// The caller has prepared `sc.cand`/`sc.cand_at` (each walk's candidates), `ecount`/`sc.touched` (the
/// walks through each eligible candidate) and `coverable` (walks passing any) in its own pass.
/// Leaves in `sc.found` `(member, share of j's walks first covered by it)`, empty if no such set
/// exists, and in `sc.partial`, when none exists, the best set of the last round if it still carries more than
/// [`PARTIAL_FLOOR`] of the walks (a near miss, see [`EgoWalks::partial_cut`]). Why: a colluder
/// reached by a few dozen walks from many directions can hold a set of exactly `max_set`
/// members; walks routed into it through the region need one more member, the set is lost and
/// its cap jumps to 1 (16× for one trusted colluder of the synthetic community), although those
/// walks carry next to nothing. The scorer searches near misses again without such walks, and
/// otherwise lets them hang off their partial set in part.
///
/// Long (about 150 lines): the greedy rounds, their pruning and the near-miss bookkeeping share
/// the scratch counters, so they stay in one function.
fn nearest_cut(
    m: usize,
    max_set: usize,
    threshold: f64,
    coverable: usize,
    sc: &mut CutScratch<'_>,
) {
    let need = threshold * m as f64;
    let floor = PARTIAL_FLOOR.min(threshold) * m as f64;
    let found = &mut *sc.found;
    found.clear();
    sc.partial.clear();
    let members = &mut *sc.members;
    let touched = &mut *sc.touched;
    let covered_by = &mut *sc.covered_by;
    let (cand, cand_at, cand_end) = (&*sc.cand, &*sc.cand_at, &mut *sc.cand_end);
    cand_end.clear();
    cand_end.extend_from_slice(&cand_at[1..=m]);
    let mut primed = Some(coverable);
    // Each accepted set strictly shortens every walk it covers, so this ends within the longest prefix.
    loop {
        // Count, per candidate, the walks whose remaining part contains it (each walk once), and
        // the walks no eligible node can cover (the first round was counted by the caller). The
        // candidates of the walks' remaining parts, in the same order as a rescan of those parts
        // would meet them, are the first `cand_end[i] - cand_at[i]` of each walk's list.
        let coverable = match primed.take() {
            Some(c) => c,
            None => {
                let mut coverable = 0usize;
                for i in 0..m {
                    let mine = &cand[cand_at[i] as usize..cand_end[i] as usize];
                    for &k in mine {
                        let ku = k as usize;
                        if sc.tally[ku].ecount == 0 {
                            touched.push(k);
                        }
                        sc.tally[ku].ecount += 1;
                    }
                    coverable += usize::from(!mine.is_empty());
                }
                coverable
            }
        };
        // Cheap rejections: too many walks pass no eligible node, or even the `max_set` best
        // candidates together cannot carry enough.
        // After a set was found, only a round carrying more than `need` changes the result (a
        // partial set is kept only when none was found), so later rounds prune at `need`.
        let prune = if found.is_empty() { floor } else { need };
        let cnt = &mut *sc.cnt;
        let bound: u64 = if (coverable as f64) <= prune {
            0
        } else {
            // The greedy rounds read and update the counts in one dense array in `touched`
            // order (each candidate's index there kept in its `count`, unused during the
            // search): the picks scan it instead of each candidate's scattered record.
            cnt.clear();
            for (p, &k) in touched.iter().enumerate() {
                let t = &mut sc.tally[k as usize];
                t.count = p as u32;
                cnt.push(t.ecount);
            }
            let top = &mut *sc.top;
            top.clear();
            top.extend_from_slice(cnt);
            if top.len() > max_set {
                top.select_nth_unstable_by(max_set - 1, |a, b| b.cmp(a));
                top[..max_set].iter().map(|&c| u64::from(c)).sum()
            } else {
                top.iter().map(|&c| u64::from(c)).sum()
            }
        };
        members.clear();
        let mut covered = 0usize;
        if bound as f64 > prune {
            covered_by.clear();
            covered_by.resize(m, NO_NODE);
            // Inverted index (CSR): the walks whose remaining part contains each candidate, so
            // that each greedy pick only visits the walks it covers.
            let occ = &mut *sc.occ;
            let (start, end) = (&mut *sc.start, &mut *sc.end);
            start.clear();
            end.clear();
            let mut run = 0u32;
            for &c in cnt.iter() {
                start.push(run);
                end.push(run);
                run += c;
            }
            occ.clear();
            occ.resize(run as usize, 0);
            for i in 0..m {
                for &k in &cand[cand_at[i] as usize..cand_end[i] as usize] {
                    let p = sc.tally[k as usize].count as usize;
                    occ[end[p] as usize] = i as u32;
                    end[p] += 1;
                }
            }
            while members.len() < max_set && (covered as f64) <= need {
                // Ties go to the candidate met first scanning backwards from j (the nearer one).
                let mut best = (0u32, 0usize);
                for (p, &c) in cnt.iter().enumerate() {
                    if c > best.0 {
                        best = (c, p);
                    }
                }
                // Coverage is submodular: no later pick adds more than this one, so stop as soon
                // as the remaining picks cannot reach even a partial set's floor (or, after a
                // set was found, `need`) any more.
                let left = (max_set - members.len()) as f64;
                if best.0 == 0 || covered as f64 + left * f64::from(best.0) <= prune {
                    break;
                }
                let (b, bp) = (touched[best.1], best.1);
                members.push((b, best.0));
                for &i in &occ[start[bp] as usize..end[bp] as usize] {
                    let i = i as usize;
                    if covered_by[i] != NO_NODE {
                        continue;
                    }
                    covered_by[i] = b;
                    covered += 1;
                    for &k in &cand[cand_at[i] as usize..cand_end[i] as usize] {
                        cnt[sc.tally[k as usize].count as usize] -= 1;
                    }
                }
            }
        }
        for k in touched.drain(..) {
            let t = &mut sc.tally[k as usize];
            t.ecount = 0;
            t.count = 0;
        }
        if (covered as f64) <= need || members.is_empty() {
            if (covered as f64) > floor && found.is_empty() {
                sc.partial
                    .extend(members.iter().map(|&(b, c)| (b, c as f32 / m as f32)));
            }
            return;
        }
        found.clear();
        found.extend(members.iter().map(|&(b, c)| (b, c as f32 / m as f32)));
        // Search again after each covered walk's last pass through the set: keep the
        // candidates listed before its nearest member (a member is met there first).
        *sc.tick += 1;
        for &(b, _) in members.iter() {
            sc.tally[b as usize].stamp = *sc.tick;
        }
        for i in 0..m {
            if covered_by[i] == NO_NODE {
                continue;
            }
            let lo = cand_at[i] as usize;
            let mine = &cand[lo..cand_end[i] as usize];
            let cut = mine
                .iter()
                .position(|&k| sc.tally[k as usize].stamp == *sc.tick)
                .unwrap_or(0);
            cand_end[i] = (lo + cut) as u32;
        }
    }
}

/// Position of the first visit of `j` in `nodes`.
pub(crate) fn first_visit(nodes: &[u32], j: u32) -> Option<usize> {
    nodes.iter().position(|&n| n == j)
}

/// The loop-erased path `nodes[0] ..= nodes[end]` (cycles removed in order of appearance).
pub(crate) fn loop_erased(nodes: &[u32], end: usize) -> Vec<u32> {
    let mut path: Vec<u32> = Vec::with_capacity(end + 1);
    for &n in &nodes[..=end.min(nodes.len().saturating_sub(1))] {
        if let Some(i) = path.iter().position(|&x| x == n) {
            path.truncate(i + 1);
        } else {
            path.push(n);
        }
    }
    path
}
