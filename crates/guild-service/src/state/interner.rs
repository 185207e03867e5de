//! Keys interned as 4-byte slots: each distinct key once, with how many holders name it; a slot
//! whose count falls to zero is freed and reused. Indexes that repeat a 32-byte key (a member's
//! public key, a collaboration's id) in many entries hold its slot instead.

use std::hash::{BuildHasher, Hash};

/// Slots of interned keys.
///
/// Each key is held once, in its slot; the table from key to slot holds only slot numbers
/// (hashed by the key they name), not a second copy of the key: 4 bytes a bucket where a
/// `HashMap<K, u32>` took 36 for a 32-byte key.
#[derive(Debug)]
pub(crate) struct Interner<K> {
    /// The slot of every held key, hashed by its key.
    pub(super) slot: hashbrown::HashTable<u32>,
    /// Keyed per process and per table: keys are chosen by peers (see [`super::HashMap`]).
    hasher: foldhash::fast::RandomState,
    /// By slot: the key and how many holders name it (0: free).
    pub(super) keys: Vec<(K, u32)>,
    free: Vec<u32>,
}

impl<K> Default for Interner<K> {
    fn default() -> Interner<K> {
        Interner {
            slot: hashbrown::HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            keys: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Interner<K> {
    /// The key's slot, taken once more (interned if new).
    pub fn acquire(&mut self, key: &K) -> u32 {
        if let Some(s) = self.find(key) {
            self.keys[s as usize].1 += 1;
            return s;
        }
        let s = match self.free.pop() {
            Some(s) => {
                self.keys[s as usize] = (key.clone(), 1);
                s
            }
            None => {
                self.keys.push((key.clone(), 1));
                // Distinct keys are at most the records held, far fewer than 2^32.
                (self.keys.len() - 1) as u32
            }
        };
        let (keys, hasher) = (&self.keys, &self.hasher);
        self.slot.insert_unique(hasher.hash_one(key), s, |&t| {
            hasher.hash_one(&keys[t as usize].0)
        });
        s
    }

    /// Lets go of one holding of a slot; the last frees it.
    pub fn release(&mut self, s: u32) {
        let e = &mut self.keys[s as usize];
        e.1 -= 1;
        if e.1 == 0 {
            let hash = self.hasher.hash_one(&e.0);
            if let Ok(entry) = self.slot.find_entry(hash, |&t| t == s) {
                entry.remove();
            }
            self.free.push(s);
        }
    }

    /// The key of a held slot.
    pub fn key(&self, s: u32) -> &K {
        &self.keys[s as usize].0
    }

    /// The slot of a key, if it is held.
    pub fn find(&self, key: &K) -> Option<u32> {
        let keys = &self.keys;
        self.slot
            .find(self.hasher.hash_one(key), |&t| {
                let e = &keys[t as usize];
                e.1 > 0 && e.0 == *key
            })
            .copied()
    }

    /// How many distinct keys are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slot.len()
    }
}

/// Two interners are equal when every slot holds the same key and count and the same slots
/// are free.
impl<K: PartialEq> PartialEq for Interner<K> {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys && self.free == other.free
    }
}

/// Encoded as its slots (key and count) and its free slots; decoded, the table of slots by key
/// is built again (its hasher is this process's).
impl<K: serde::Serialize> serde::Serialize for Interner<K> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&(&self.keys, &self.free), serializer)
    }
}

impl<'de, K: serde::Deserialize<'de> + Hash + Eq> serde::Deserialize<'de> for Interner<K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (keys, free): (Vec<(K, u32)>, Vec<u32>) =
            serde::Deserialize::deserialize(deserializer)?;
        let held = keys.iter().filter(|(_, n)| *n > 0).count();
        let mut out = Interner {
            slot: hashbrown::HashTable::with_capacity(held),
            hasher: foldhash::fast::RandomState::default(),
            keys,
            free,
        };
        for (s, (key, n)) in out.keys.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let (keys, hasher) = (&out.keys, &out.hasher);
            let hash = hasher.hash_one(key);
            if out
                .slot
                .find(hash, |&t| keys[t as usize].0 == *key)
                .is_some()
            {
                return Err(D::Error::custom("a key interned twice"));
            }
            out.slot
                .insert_unique(hash, s as u32, |&t| hasher.hash_one(&keys[t as usize].0));
        }
        let free_ok = out.free.len() == out.keys.len() - held
            && out
                .free
                .iter()
                .all(|&s| out.keys.get(s as usize).is_some_and(|(_, n)| *n == 0));
        if !free_ok {
            return Err(D::Error::custom("free slots do not match the unheld keys"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_keeps_its_slot_while_held_and_a_freed_slot_is_reused() {
        let mut i = Interner::<[u8; 32]>::default();
        let (a, b, c) = ([1; 32], [2; 32], [3; 32]);
        let sa = i.acquire(&a);
        assert_eq!(i.acquire(&a), sa, "one slot per key");
        let sb = i.acquire(&b);
        assert_ne!(sa, sb);
        assert_eq!((i.key(sa), i.find(&b)), (&a, Some(sb)));
        i.release(sa);
        assert_eq!(i.find(&a), Some(sa), "still held once");
        i.release(sa);
        assert_eq!(i.find(&a), None, "freed with its last holder");
        assert_eq!(i.acquire(&c), sa, "the freed slot is reused");
        assert_eq!(i.key(sa), &c);
        assert_eq!(i.len(), 2);
    }
}
