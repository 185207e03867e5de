//! The attestation graph: who vouched for whom, for which skill, how strongly, and when.
//!
//! Keys of any type `K` are interned to dense `u32` indexes so the walks and baselines work on small
//! integers. Each (issuer, subject, skill) has at most one live attestation; a newer one replaces it.
//!
//! **Weights.** An attestation's strength is its score normalised by `max_score` (clamped to `[-1, 1]`)
//! times the half-life decay `0.5^(age / half_life)`. A random walk at `u` picks one of `u`'s *positive*
//! attestations with probability proportional to that strength and moves to its subject. Because every
//! out-edge of `u` decays by the same factor as time passes, these transition probabilities depend only
//! on the attestations' *relative* ages: they are computed in log space relative to `u`'s newest edge,
//! never need a clock, and never go stale. Absolute strengths (for negative attestations, explanations
//! and the EigenTrust baseline) take the query time `now`.

use std::fmt::Debug;
use std::hash::Hash;

use crate::rng::{FxHashMap, FxHashSet, Rng};
use crate::TrustConfig;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a node key must support. `[u8; 32]` (public keys) and `u64` (SNAP ids) both qualify.
pub trait NodeKey: Copy + Eq + Hash + Ord + Debug {}
impl<T: Copy + Eq + Hash + Ord + Debug> NodeKey for T {}

/// One live attestation, stored under its (issuer, subject) pair.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Att {
    pub skill: u32,
    pub score: i32,
    pub issued_at: u64,
}

/// All live attestations from one issuer to one subject (usually one; one per skill).
///
/// 40 bytes: the attestations past the first (rare: one per further skill) sit behind one
/// pointer, `None` when there are none (a `Vec` took 24 bytes in every pair).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pair {
    pub to: u32,
    first: Att,
    #[allow(clippy::box_collection)] // one pointer in every pair, where a `Vec` takes three
    rest: Option<Box<Vec<Att>>>,
    /// log2 of the summed strength of the positive attestations, in units where an attestation of
    /// score `max_score` issued at time `t` has log-strength `t / half_life`; `-inf` when none.
    pub pos_log2: f64,
    /// Whether any of the attestations is negative.
    pub has_neg: bool,
}

impl Pair {
    pub fn atts(&self) -> impl Iterator<Item = &Att> {
        std::iter::once(&self.first).chain(self.rest().iter())
    }

    fn len(&self) -> usize {
        1 + self.rest().len()
    }

    /// The attestations past the first.
    fn rest(&self) -> &[Att] {
        self.rest.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Removes the attestation at `i` of [`Self::rest`] (as `Vec::swap_remove`); `None` if
    /// there is none there.
    fn swap_remove_rest(&mut self, i: usize) -> Option<Att> {
        let rest = self.rest.as_mut().filter(|r| i < r.len())?;
        let a = rest.swap_remove(i);
        if rest.is_empty() {
            self.rest = None;
        }
        Some(a)
    }
}

/// Per-node walk sampler over the positive out-attestations, aggregated per subject.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sampler {
    /// Subjects with positive weight, ascending.
    pub to: Vec<u32>,
    /// Cumulative weights, relative to `reference` (the heaviest pair has weight 1).
    pub cum: Vec<f64>,
    /// log2-strength the weights are relative to.
    pub reference: f64,
    /// Walker's alias table (Vose's construction): slot `i` yields its first node with probability
    /// `keep`, else its alias — O(1) sampling, one cache line touched, however many edges a hub has.
    alias: Vec<AliasSlot>,
    valid: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct AliasSlot {
    keep: f64,
    node: u32,
    alias: u32,
}

impl Sampler {
    pub fn total(&self) -> f64 {
        self.cum.last().copied().unwrap_or(0.0)
    }

    pub fn is_empty(&self) -> bool {
        self.to.is_empty()
    }

    fn weight_at(&self, i: usize) -> f64 {
        let lo = if i > 0 { self.cum[i - 1] } else { 0.0 };
        self.cum[i] - lo
    }

    /// Probability that a (non-stopping) walk at this node moves to `v`.
    pub fn prob(&self, v: u32) -> f64 {
        let total = self.total();
        match self.to.binary_search(&v) {
            Ok(i) if total > 0.0 => self.weight_at(i) / total,
            _ => 0.0,
        }
    }

    fn pick(&self, r: f64) -> usize {
        self.cum
            .partition_point(|&c| c <= r)
            .min(self.cum.len().saturating_sub(1))
    }

    /// Draws the next node of a walk; `None` for a node without positive out-attestations.
    pub fn sample(&self, rng: &mut Rng) -> Option<u32> {
        let slot = self
            .alias
            .get(rng.below(self.alias.len() as u64) as usize)?;
        Some(if rng.next_f64() < slot.keep {
            slot.node
        } else {
            slot.alias
        })
    }

    /// Builds the alias table from `cum` (Vose, "A linear algorithm for generating random numbers
    /// with a given distribution", IEEE TSE 1991).
    fn build_alias(&mut self) {
        let n = self.to.len();
        let total = self.total();
        // A new table, filled below to exactly `n` (a cleared one kept its old capacity).
        self.alias = Vec::new();
        if n == 0 || total <= 0.0 {
            return;
        }
        let mut keep: Vec<f64> = Vec::with_capacity(n);
        let mut lo = 0.0;
        for &c in &self.cum {
            keep.push((c - lo) * n as f64 / total);
            lo = c;
        }
        let mut alias: Vec<usize> = (0..n).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| keep[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s] = l;
            keep[l] -= 1.0 - keep[s];
            if keep[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers are 1 up to rounding.
        for i in small.into_iter().chain(large) {
            keep[i] = 1.0;
        }
        self.alias.extend((0..n).map(|i| AliasSlot {
            keep: keep[i],
            node: self.to[i],
            alias: self.to[alias[i]],
        }));
    }

    /// Draws from the distribution conditioned on not choosing `v`.
    pub fn sample_excluding(&self, v: u32, rng: &mut Rng) -> Option<u32> {
        let Ok(iv) = self.to.binary_search(&v) else {
            return self.sample(rng);
        };
        let lo = if iv > 0 { self.cum[iv - 1] } else { 0.0 };
        let wv = self.weight_at(iv);
        let rest = self.total() - wv;
        if self.to.len() < 2 || rest <= 0.0 {
            return None;
        }
        let mut r = rng.next_f64() * rest;
        if r >= lo {
            r += wv;
        }
        let mut i = self.pick(r);
        if i == iv {
            // Only reachable through rounding at an interval boundary.
            i = if iv + 1 < self.to.len() {
                iv + 1
            } else {
                iv - 1
            };
        }
        self.to.get(i).copied()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeAdj {
    /// Out-pairs sorted by subject.
    pub out: Vec<Pair>,
    /// Issuers of pairs into this node (unordered).
    pub inn: Vec<u32>,
    /// Copies of this node's negative attestations as (subject, attestation), those of one subject
    /// adjacent, so scoring visits negatives without searching or scanning every pair.
    pub negatives: Vec<(u32, Att)>,
    pub sampler: Sampler,
}

/// What a mutation did to the graph.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Change {
    /// The set of live attestations changed.
    pub changed: bool,
    /// The issuer's positive weight towards the subject changed, so walks may need repair.
    pub walk_weight_changed: bool,
}

/// Signed attestations between nodes of type `K`, with derived walk weights.
///
/// Serialized whole (a node's saved state, see `guild-service`'s snapshot): what it decodes to
/// equals what was encoded (`PartialEq`), nothing is derived again.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize",
    deserialize = "K: Deserialize<'de> + Eq + Hash"
))]
pub struct TrustGraph<K> {
    keys: Vec<K>,
    ids: FxHashMap<K, u32>,
    skills: Vec<String>,
    skill_ids: FxHashMap<String, u32>,
    nodes: Chunked<NodeAdj>,
    banned: FxHashSet<u32>,
    attestations: usize,
    pairs: usize,
    max_score: f64,
    half_life: f64,
    stale: Vec<u32>,
}

impl<K: NodeKey> TrustGraph<K> {
    /// An empty graph normalising scores by `config.max_score` and decaying with `config.half_life_secs`.
    pub fn new(config: &TrustConfig) -> Self {
        TrustGraph {
            keys: Vec::new(),
            ids: FxHashMap::default(),
            skills: Vec::new(),
            skill_ids: FxHashMap::default(),
            nodes: Chunked::default(),
            banned: FxHashSet::default(),
            attestations: 0,
            pairs: 0,
            max_score: f64::from(config.max_score.max(1)),
            half_life: (config.half_life_secs.max(1)) as f64,
            stale: Vec::new(),
        }
    }

    /// Records `issuer`'s attestation of `subject` for `skill`, replacing the live one for the same
    /// (issuer, subject, skill) unless that one is strictly newer. Returns `true` if the graph changed.
    /// Self-attestations and attestations from issuers removed by [`Self::remove_issuer`] are ignored.
    pub fn upsert(
        &mut self,
        issuer: K,
        subject: K,
        skill: &str,
        score: i32,
        issued_at: u64,
    ) -> bool {
        let u = self.intern(issuer);
        let v = self.intern(subject);
        let s = self.intern_skill(skill);
        self.upsert_ids(u, v, s, score, issued_at).changed
    }

    /// Revokes `issuer`'s attestation of `subject` for `skill`. Returns `true` if one was live.
    pub fn remove(&mut self, issuer: K, subject: K, skill: &str) -> bool {
        match (self.id(&issuer), self.id(&subject), self.skill_id(skill)) {
            (Some(u), Some(v), Some(s)) => self.remove_ids(u, v, s).changed,
            _ => false,
        }
    }

    /// Drops every attestation `issuer` made and ignores its future ones (used on proof of
    /// equivocation). Returns the number of attestations removed.
    pub fn remove_issuer(&mut self, issuer: K) -> usize {
        let u = self.intern(issuer);
        self.remove_issuer_id(u)
    }

    /// Whether `key` was removed by [`Self::remove_issuer`].
    pub fn is_banned(&self, key: &K) -> bool {
        self.id(key).is_some_and(|u| self.banned.contains(&u))
    }

    /// Whether `key` has been seen (as issuer, subject or ego).
    pub fn contains(&self, key: &K) -> bool {
        self.ids.contains_key(key)
    }

    /// Number of distinct nodes seen.
    pub fn node_count(&self) -> usize {
        self.keys.len()
    }

    /// Number of live attestations.
    pub fn attestation_count(&self) -> usize {
        self.attestations
    }

    /// Number of (issuer, subject) pairs with at least one live attestation.
    pub fn pair_count(&self) -> usize {
        self.pairs
    }

    /// Every node key, in interning order.
    pub fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.keys.iter().copied()
    }

    /// Number of subjects `key` has attested (positively or not).
    pub fn out_degree(&self, key: &K) -> usize {
        self.id(key).map_or(0, |u| self.nodes[u as usize].out.len())
    }

    /// Number of issuers that attested `key`.
    pub fn in_degree(&self, key: &K) -> usize {
        self.id(key).map_or(0, |u| self.nodes[u as usize].inn.len())
    }

    /// Strength of `issuer`'s attestation of `subject` for `skill` at time `now`: normalised score
    /// times `0.5^(age / half_life)`, in `[-1, 1]`; `None` if there is none.
    pub fn weight(&self, issuer: K, subject: K, skill: &str, now: u64) -> Option<f64> {
        let (u, v, s) = (self.id(&issuer)?, self.id(&subject)?, self.skill_id(skill)?);
        let att = self.pair(u, v)?.atts().find(|a| a.skill == s).copied()?;
        Some(self.abs_weight(&att, now))
    }

    /// Rough heap footprint in bytes, from the capacities of the underlying collections.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let mut b = self.keys.capacity() * size_of::<K>()
            + self.ids.capacity() * (size_of::<K>() + size_of::<u32>() + 1)
            + self.nodes.capacity() * size_of::<NodeAdj>()
            + self.banned.capacity() * 5
            + self.stale.capacity() * 4;
        for s in &self.skills {
            b += s.capacity() * 2 + size_of::<String>() * 2 + 5;
        }
        for n in self.nodes.iter() {
            b += n.out.capacity() * size_of::<Pair>()
                + n.inn.capacity() * 4
                + n.negatives.capacity() * size_of::<(u32, Att)>();
            b += n
                .out
                .iter()
                .map(|p| {
                    p.rest.as_ref().map_or(0, |r| {
                        size_of::<Vec<Att>>() + r.capacity() * size_of::<Att>()
                    })
                })
                .sum::<usize>();
            b += n.sampler.to.capacity() * 4 + n.sampler.cum.capacity() * 8;
            b += n.sampler.alias.capacity() * size_of::<AliasSlot>();
        }
        b
    }

    // ---- crate-internal interface -------------------------------------------------------------

    pub(crate) fn id(&self, key: &K) -> Option<u32> {
        self.ids.get(key).copied()
    }

    pub(crate) fn key(&self, id: u32) -> K {
        self.keys[id as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn node(&self, id: u32) -> &NodeAdj {
        &self.nodes[id as usize]
    }

    pub(crate) fn skill_id(&self, skill: &str) -> Option<u32> {
        self.skill_ids.get(skill).copied()
    }

    pub(crate) fn skill_name(&self, id: u32) -> &str {
        self.skills.get(id as usize).map_or("", String::as_str)
    }

    pub(crate) fn intern(&mut self, key: K) -> u32 {
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.keys.len() as u32;
        self.keys.push(key);
        self.ids.insert(key, id);
        self.nodes.push(NodeAdj::default());
        self.nodes[id as usize].sampler.valid = true;
        id
    }

    pub(crate) fn intern_skill(&mut self, skill: &str) -> u32 {
        if let Some(&id) = self.skill_ids.get(skill) {
            return id;
        }
        let id = self.skills.len() as u32;
        self.skills.push(skill.to_owned());
        self.skill_ids.insert(skill.to_owned(), id);
        id
    }

    pub(crate) fn pair(&self, u: u32, v: u32) -> Option<&Pair> {
        let out = &self.nodes[u as usize].out;
        out.binary_search_by_key(&v, |p| p.to).ok().map(|i| &out[i])
    }

    /// Normalised score in `[-1, 1]`.
    pub(crate) fn norm(&self, score: i32) -> f64 {
        (f64::from(score) / self.max_score).clamp(-1.0, 1.0)
    }

    /// Absolute strength at `now` (future-dated attestations count as fresh).
    pub(crate) fn abs_weight(&self, att: &Att, now: u64) -> f64 {
        let age = now.saturating_sub(att.issued_at) as f64;
        self.norm(att.score) * (-age / self.half_life).exp2()
    }

    /// Strength in the units of `u`'s sampler (relative to its heaviest pair).
    pub(crate) fn rel_weight(&self, att: &Att, reference: f64) -> f64 {
        self.norm(att.score) * (att.issued_at as f64 / self.half_life - reference).exp2()
    }

    pub(crate) fn upsert_ids(&mut self, u: u32, v: u32, skill: u32, score: i32, at: u64) -> Change {
        if u == v || self.banned.contains(&u) {
            return Change::default();
        }
        let att = Att {
            skill,
            score,
            issued_at: at,
        };
        let out = &mut self.nodes[u as usize].out;
        let idx = match out.binary_search_by_key(&v, |p| p.to) {
            Ok(i) => {
                let pair = &mut out[i];
                let slot = if pair.first.skill == skill {
                    Some(&mut pair.first)
                } else {
                    pair.rest
                        .as_deref_mut()
                        .and_then(|r| r.iter_mut().find(|a| a.skill == skill))
                };
                match slot {
                    Some(old) if old.issued_at > at || *old == att => return Change::default(),
                    Some(old) => *old = att,
                    None => {
                        pair.rest.get_or_insert_with(Box::default).push(att);
                        self.attestations += 1;
                    }
                }
                i
            }
            Err(i) => {
                // Grown one pair at a time, not doubled: the allocator's size classes leave
                // little room, where doubling left a third of every list empty on average.
                if out.len() == out.capacity() {
                    out.reserve_exact(1);
                }
                out.insert(
                    i,
                    Pair {
                        to: v,
                        first: att,
                        rest: None,
                        pos_log2: f64::NEG_INFINITY,
                        has_neg: false,
                    },
                );
                let inn = &mut self.nodes[v as usize].inn;
                if inn.len() == inn.capacity() {
                    inn.reserve_exact(1);
                }
                inn.push(u);
                self.attestations += 1;
                self.pairs += 1;
                i
            }
        };
        self.after_pair_change(u, idx)
    }

    pub(crate) fn remove_ids(&mut self, u: u32, v: u32, skill: u32) -> Change {
        let out = &mut self.nodes[u as usize].out;
        let Ok(i) = out.binary_search_by_key(&v, |p| p.to) else {
            return Change::default();
        };
        let pair = &mut out[i];
        if pair.first.skill == skill {
            if pair.rest.is_none() {
                let gone = out.remove(i);
                let old = gone.pos_log2;
                if gone.has_neg {
                    self.nodes[u as usize].negatives.retain(|(to, _)| *to != v);
                }
                self.attestations -= 1;
                self.pairs -= 1;
                let inn = &mut self.nodes[v as usize].inn;
                if let Some(p) = inn.iter().position(|&x| x == u) {
                    inn.swap_remove(p);
                }
                self.invalidate(u);
                return Change {
                    changed: true,
                    walk_weight_changed: old > f64::NEG_INFINITY,
                };
            }
            if let Some(next) = pair.swap_remove_rest(0) {
                pair.first = next;
            }
        } else if let Some(p) = pair.rest().iter().position(|a| a.skill == skill) {
            pair.swap_remove_rest(p);
        } else {
            return Change::default();
        }
        self.attestations -= 1;
        self.after_pair_change(u, i)
    }

    pub(crate) fn remove_issuer_id(&mut self, u: u32) -> usize {
        self.banned.insert(u);
        let out = std::mem::take(&mut self.nodes[u as usize].out);
        self.nodes[u as usize].negatives.clear();
        let mut removed = 0;
        for pair in &out {
            removed += pair.len();
            let inn = &mut self.nodes[pair.to as usize].inn;
            if let Some(p) = inn.iter().position(|&x| x == u) {
                inn.swap_remove(p);
            }
        }
        self.attestations -= removed;
        self.pairs -= out.len();
        self.invalidate(u);
        removed
    }

    fn after_pair_change(&mut self, u: u32, i: usize) -> Change {
        let (max_score, hl) = (self.max_score, self.half_life);
        let node = &mut self.nodes[u as usize];
        let pair = &mut node.out[i];
        let has_neg = pair.atts().any(|a| a.score < 0);
        if has_neg || pair.has_neg {
            let v = pair.to;
            node.negatives.retain(|(to, _)| *to != v);
            // Room for exactly these (pushed one by one, a first negative took room for four).
            let k = pair.atts().filter(|a| a.score < 0).count();
            node.negatives.reserve_exact(k);
            node.negatives
                .extend(pair.atts().filter(|a| a.score < 0).map(|a| (v, *a)));
        }
        pair.has_neg = has_neg;
        let pair = &mut node.out[i];
        let newest = pair.atts().map(|a| a.issued_at).max().unwrap_or(0) as f64 / hl;
        let sum: f64 = pair
            .atts()
            .filter(|a| a.score > 0)
            .map(|a| {
                (f64::from(a.score) / max_score).min(1.0)
                    * (a.issued_at as f64 / hl - newest).exp2()
            })
            .sum();
        let new = if sum > 0.0 {
            sum.log2() + newest
        } else {
            f64::NEG_INFINITY
        };
        let old = std::mem::replace(&mut pair.pos_log2, new);
        let walk_weight_changed = old != new;
        if walk_weight_changed {
            self.invalidate(u);
        }
        Change {
            changed: true,
            walk_weight_changed,
        }
    }

    fn invalidate(&mut self, u: u32) {
        let s = &mut self.nodes[u as usize].sampler;
        if s.valid {
            s.valid = false;
            self.stale.push(u);
        }
    }

    /// Rebuilds `u`'s sampler if an edit invalidated it.
    pub(crate) fn refresh(&mut self, u: u32) {
        let node = &mut self.nodes[u as usize];
        if node.sampler.valid {
            return;
        }
        let s = &mut node.sampler;
        // Exactly as long as needed (pushing one at a time left up to half of each empty).
        let n = node
            .out
            .iter()
            .filter(|p| p.pos_log2 > f64::NEG_INFINITY)
            .count();
        s.to = Vec::with_capacity(n);
        s.cum = Vec::with_capacity(n);
        s.reference = node
            .out
            .iter()
            .map(|p| p.pos_log2)
            .fold(f64::NEG_INFINITY, f64::max);
        let mut acc = 0.0;
        for p in node.out.iter().filter(|p| p.pos_log2 > f64::NEG_INFINITY) {
            acc += (p.pos_log2 - s.reference).exp2();
            s.to.push(p.to);
            s.cum.push(acc);
        }
        s.build_alias();
        s.valid = true;
    }

    /// Rebuilds every sampler invalidated since the last call.
    pub(crate) fn refresh_all(&mut self) {
        let stale = std::mem::take(&mut self.stale);
        for u in stale {
            self.refresh(u);
        }
    }

    /// Whether every sampler is up to date (walks may only be generated then).
    pub(crate) fn is_fresh(&self) -> bool {
        self.stale
            .iter()
            .all(|&u| self.nodes[u as usize].sampler.valid)
    }
}

/// Nodes per chunk of [`Chunked`].
const CHUNK: usize = 1 << 10;

/// A vector in fixed chunks of [`CHUNK`] items, never reallocated: a `Vec` of the graph's
/// nodes (160 bytes each) doubled as it grew, leaving up to half of the last doubling empty
/// and freeing every smaller copy on the way.
#[derive(Clone, Debug, Default, PartialEq)]
struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Chunked<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn capacity(&self) -> usize {
        self.chunks.len() * CHUNK
    }

    fn push(&mut self, item: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(item),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(item);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T> std::ops::IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// Encoded as the sequence of its items: decoded, they are pushed again, so the chunks keep
/// their fixed capacity.
impl<T: Serialize> Serialize for Chunked<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.len))?;
        for item in self.iter() {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Chunked<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Items<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Items<T> {
            type Value = Chunked<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence of nodes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Chunked<T>, A::Error> {
                let mut out = Chunked {
                    chunks: Vec::new(),
                    len: 0,
                };
                while let Some(item) = seq.next_element()? {
                    out.push(item);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(Items(std::marker::PhantomData))
    }
}

impl<K: NodeKey> PartialEq for TrustGraph<K> {
    fn eq(&self, o: &Self) -> bool {
        self.keys == o.keys
            && self.ids == o.ids
            && self.skills == o.skills
            && self.skill_ids == o.skill_ids
            && self.nodes == o.nodes
            && self.banned == o.banned
            && self.attestations == o.attestations
            && self.pairs == o.pairs
            && self.max_score == o.max_score
            && self.half_life == o.half_life
            && self.stale == o.stale
    }
}
