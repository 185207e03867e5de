//! Sorted sets and maps for the many tiny collections the indexes keep per key: most hold one
//! to a few entries (the attestations of one (issuer, sequence) slot, of one collaboration, on
//! one trust edge; the entries of one collaboration's log), where a `BTreeSet` allocates a node
//! of eleven slots (368 bytes for 32-byte ids) for the first entry and a `HashSet` a table of
//! four buckets. These keep up to `N` entries inline and spill to the heap past that
//! (`smallvec`); lookups are binary searches, inserts and removals move the entries after
//! them. Use them only where the collection stays small; large ones stay `BTreeSet`s.
//!
//! Iteration is in order, as with the `BTree` collections they replace.

use smallvec::SmallVec;

/// A sorted set keeping up to one entry inline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SmallSet<T: Ord>(SmallVec<[T; 1]>);

impl<T: Ord> Default for SmallSet<T> {
    fn default() -> SmallSet<T> {
        SmallSet(SmallVec::new())
    }
}

impl<T: Ord> SmallSet<T> {
    /// Adds a value; false when it was there.
    pub fn insert(&mut self, v: T) -> bool {
        match self.0.binary_search(&v) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, v);
                true
            }
        }
    }

    /// Removes a value; false when it was not there.
    #[cfg(test)]
    pub fn remove(&mut self, v: &T) -> bool {
        match self.0.binary_search(v) {
            Ok(at) => {
                self.0.remove(at);
                if self.0.spilled() && self.0.len() <= 1 {
                    self.0.shrink_to_fit();
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Whether a value is there.
    pub fn contains(&self, v: &T) -> bool {
        self.0.binary_search(v).is_ok()
    }

    /// The greatest value.
    #[cfg(test)]
    pub fn last(&self) -> Option<&T> {
        self.0.last()
    }
}

impl<'a, T: Ord> IntoIterator for &'a SmallSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A map sorted by key keeping up to two entries inline (a collaboration's log: usually the
/// two members' closes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SmallMap<K: Ord, V>(SmallVec<[(K, V); 2]>);

impl<K: Ord, V> Default for SmallMap<K, V> {
    fn default() -> SmallMap<K, V> {
        SmallMap(SmallVec::new())
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    /// Sets the value of a key; returns the value it replaced.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.0.binary_search_by(|(x, _)| x.cmp(&k)) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, v)),
            Err(at) => {
                self.0.insert(at, (k, v));
                None
            }
        }
    }

    /// The value of a key.
    pub fn get(&self, k: &K) -> Option<&V> {
        self.0
            .binary_search_by(|(x, _)| x.cmp(k))
            .ok()
            .map(|at| &self.0[at].1)
    }

    /// The value of a key, to change.
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        match self.0.binary_search_by(|(x, _)| x.cmp(k)) {
            Ok(at) => Some(&mut self.0[at].1),
            Err(_) => None,
        }
    }

    /// Number of entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + '_ {
        self.0.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + '_ {
        self.0.iter().map(|(_, v)| v)
    }
}

/// Rebuilds a B-tree set with its nodes full, in place, without a second copy of its keys.
///
/// Keys inserted one at a time, in ascending order (a load in time order) or at random, leave
/// the nodes of a `BTreeSet` a half to two thirds full (a node splits in two when an insert finds
/// it full, and the left half is never filled again by later, greater keys). `append` of a
/// non-empty set to another rebuilds the tree from the two sorted sequences by pushing each key
/// onto the right edge, filling every node (the right border keeps its minimum); its iterators
/// free the old nodes as they pass them, so the old tree's memory is released while the new one
/// grows, in the same size class, and never held twice. Costs O(n); for the end of a load.
pub(crate) fn compact<T: Ord>(set: &mut std::collections::BTreeSet<T>) {
    if let Some(last) = set.pop_last() {
        let mut one = std::collections::BTreeSet::new();
        one.insert(last);
        set.append(&mut one);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// The same operations on a `BTreeSet` and a `SmallSet` give the same answers and order.
    #[test]
    fn a_small_set_behaves_as_a_btree_set() {
        let mut a = BTreeSet::new();
        let mut b = SmallSet::default();
        let mut x: u64 = 7;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = x % 16;
            if x.is_multiple_of(3) {
                assert_eq!(a.remove(&v), b.remove(&v));
            } else {
                assert_eq!(a.insert(v), b.insert(v));
            }
            assert_eq!(a.contains(&5), b.contains(&5));
            assert_eq!(a.last(), b.last());
            assert!(a.iter().eq(&b));
        }
    }

    #[test]
    fn a_small_map_behaves_as_a_btree_map() {
        let mut a = BTreeMap::new();
        let mut b = SmallMap::default();
        let mut x: u64 = 11;
        for i in 0..2000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = x % 16;
            assert_eq!(a.insert(k, i), b.insert(k, i));
            if let Some(v) = b.get_mut(&(i % 16)) {
                *v += 1;
                *a.get_mut(&(i % 16)).unwrap_or(&mut 0) += 1;
            }
            assert_eq!(a.get(&3), b.get(&3));
            assert!(a.keys().eq(b.keys()));
            assert!(a.keys().rev().eq(b.keys().rev()));
            assert!(a.values().eq(b.values()));
            assert_eq!(a.len(), b.len());
        }
    }

    #[test]
    fn a_compacted_set_keeps_every_key_in_order() {
        let mut a: BTreeSet<(u64, u32)> = BTreeSet::new();
        let mut x: u64 = 5;
        for i in 0..5000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            a.insert((x % 1000, i));
        }
        let before: Vec<(u64, u32)> = a.iter().copied().collect();
        compact(&mut a);
        assert!(a.iter().copied().eq(before.iter().copied()));
        assert_eq!(a.len(), before.len());
        assert!(a.remove(&before[17]) && a.insert((1001, 0)));
        assert_eq!(a.last(), Some(&(1001, 0)));
        let mut empty: BTreeSet<u8> = BTreeSet::new();
        compact(&mut empty);
        assert!(empty.is_empty());
        let mut one = BTreeSet::from([3u8]);
        compact(&mut one);
        assert_eq!(one.into_iter().collect::<Vec<_>>(), vec![3]);
    }
}
