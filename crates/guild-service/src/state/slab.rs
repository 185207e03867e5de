//! Values held by record id in the slots of a dense vector, each named by a stable 4-byte
//! handle while it is held (freed handles are reused), found by id through a table of handles.
//!
//! Secondary indexes then name a record by its handle (4 bytes) instead of its id (32), and read
//! the id back from the slab when they need it (to break ties by id, or to answer with it). The
//! envelopes' table (`records.rs`) and the sub-states' own records.
//!
//! A handle is only meaningful while its record is held: whoever indexes a handle must drop it
//! from their indexes when the record is removed, before the handle can be given to another.
//!
//! The slots sit in fixed chunks of [`CHUNK`], allocated as needed and never moved: a single
//! vector grown by reallocation copied the whole table at each growth and left the old copy
//! freed (the allocator keeps freed memory resident a while: at the end of a load, the
//! previous copies of every table).

use guild_core::RecordId;

/// Slots per chunk (a power of two).
const CHUNK: usize = 1024;
const CHUNK_BITS: u32 = CHUNK.trailing_zeros();

/// A vector in fixed chunks of [`CHUNK`] elements: it grows a chunk at a time and never moves
/// what it holds (no reallocation, no copy, no freed old copy).
#[derive(Debug)]
pub(crate) struct Chunks<T> {
    /// Each with room for exactly [`CHUNK`]; all but the last full.
    chunks: Vec<Vec<T>>,
}

impl<T> Default for Chunks<T> {
    fn default() -> Chunks<T> {
        Chunks { chunks: Vec::new() }
    }
}

impl<T> Chunks<T> {
    /// How many elements it holds.
    pub fn len(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * CHUNK + last.len())
    }

    /// Adds an element at the end.
    pub fn push(&mut self, v: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(v),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(v);
                self.chunks.push(chunk);
            }
        }
    }

    /// The element at `i`.
    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & (CHUNK - 1))
    }

    /// The element at `i`, to change.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks
            .get_mut(i >> CHUNK_BITS)?
            .get_mut(i & (CHUNK - 1))
    }

    /// Every element in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }
}

/// Out of range is a broken invariant of the caller's (a handle it did not get from here).
impl<T> std::ops::Index<usize> for Chunks<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

impl<T> std::ops::IndexMut<usize> for Chunks<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

pub(crate) type Slot<T> = Option<(RecordId, T)>;

/// Values by record id, each in a slot named by a `u32` handle.
#[derive(Debug)]
pub(crate) struct IdSlab<T> {
    /// The handle of every held id, hashed by the id it holds.
    index: hashbrown::HashTable<u32>,
    /// Keyed per process and per table: ids are chosen by peers (see [`super::HashMap`]).
    hasher: foldhash::fast::RandomState,
    /// By handle (`None`: free).
    slots: Chunks<Slot<T>>,
    /// Free handles, reused before the slots grow.
    free: Vec<u32>,
}

impl<T> Default for IdSlab<T> {
    fn default() -> IdSlab<T> {
        IdSlab {
            index: hashbrown::HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            slots: Chunks::default(),
            free: Vec::new(),
        }
    }
}

/// The held slot of a handle.
fn slot<T>(slots: &Chunks<Slot<T>>, h: u32) -> Option<&(RecordId, T)> {
    slots.get(h as usize)?.as_ref()
}

impl<T> IdSlab<T> {
    fn hash(&self, id: &RecordId) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, id)
    }

    /// The handle of a held id.
    pub fn handle(&self, id: &RecordId) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(self.hash(id), |&s| {
                slot(slots, s).is_some_and(|x| x.0 == *id)
            })
            .copied()
    }

    /// The value held under a handle.
    pub fn get(&self, h: u32) -> Option<&T> {
        slot(&self.slots, h).map(|x| &x.1)
    }

    /// The value held under a handle, to change.
    pub fn get_mut(&mut self, h: u32) -> Option<&mut T> {
        self.slots.get_mut(h as usize)?.as_mut().map(|x| &mut x.1)
    }

    /// The id held under a handle.
    pub fn id(&self, h: u32) -> Option<&RecordId> {
        slot(&self.slots, h).map(|x| &x.0)
    }

    /// The id under a handle its caller holds in an index kept in step with this slab. A
    /// handle that is not held would be a broken invariant; it reads as the zero id rather than
    /// panicking.
    pub fn id_of(&self, h: u32) -> &RecordId {
        static NONE: RecordId = RecordId([0; 32]);
        self.id(h).unwrap_or(&NONE)
    }

    /// Holds a value under an id that is not held yet and gives its handle.
    pub fn insert(&mut self, id: RecordId, value: T) -> u32 {
        let v = Some((id, value));
        let h = match self.free.pop() {
            Some(h) => {
                self.slots[h as usize] = v;
                h
            }
            None => {
                self.slots.push(v);
                // Handles are at most the records held, far fewer than 2^32.
                (self.slots.len() - 1) as u32
            }
        };
        let hash = self.hash(&id);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, h, |&t| {
            slot(slots, t).map_or(0, |x| std::hash::BuildHasher::hash_one(hasher, x.0))
        });
        h
    }

    /// Lets go of a held id: its handle (free for reuse from now on) and its value.
    pub fn remove(&mut self, id: &RecordId) -> Option<(u32, T)> {
        let hash = self.hash(id);
        let slots = &self.slots;
        let entry = self
            .index
            .find_entry(hash, |&s| slot(slots, s).is_some_and(|x| x.0 == *id))
            .ok()?;
        let (h, _) = entry.remove();
        let (_, value) = self.slots.get_mut(h as usize)?.take()?;
        self.free.push(h);
        Some((h, value))
    }

    /// How many ids are held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Slots allocated, held or free (for tests of reuse).
    #[cfg(test)]
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Every held id and its value, in handle order.
    pub fn iter(&self) -> impl Iterator<Item = (&RecordId, &T)> + '_ {
        self.slots.iter().flatten().map(|(id, v)| (id, v))
    }

    /// Every held id, in handle order.
    pub fn ids(&self) -> impl Iterator<Item = &RecordId> + '_ {
        self.slots.iter().flatten().map(|x| &x.0)
    }
}

/// Encoded as the sequence of its elements; decoded, they are pushed again (fixed chunks).
impl<T: serde::Serialize> serde::Serialize for Chunks<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for item in self.iter() {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Chunks<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Items<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Items<T> {
            type Value = Chunks<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Chunks<T>, A::Error> {
                let mut out = Chunks::default();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(Items(std::marker::PhantomData))
    }
}

impl<T: PartialEq> PartialEq for Chunks<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// Two slabs are equal when every handle holds the same id and value and the same handles are
/// free (so the indexes naming handles mean the same in both).
impl<T: PartialEq> PartialEq for IdSlab<T> {
    fn eq(&self, other: &Self) -> bool {
        self.slots == other.slots && self.free == other.free
    }
}

/// Encoded as its slots (by handle) and its free handles; decoded, the table of handles by id
/// is built again (its hasher is this process's).
impl<T: serde::Serialize> serde::Serialize for IdSlab<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&(&self.slots, &self.free), serializer)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for IdSlab<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (slots, free): (Chunks<Slot<T>>, Vec<u32>) =
            serde::Deserialize::deserialize(deserializer)?;
        let held = slots.iter().filter(|s| s.is_some()).count();
        let mut out = IdSlab {
            index: hashbrown::HashTable::with_capacity(held),
            hasher: foldhash::fast::RandomState::default(),
            slots,
            free,
        };
        let mut free_slots = 0;
        for (h, s) in out.slots.iter().enumerate() {
            let Some((id, _)) = s else {
                free_slots += 1;
                continue;
            };
            let hash = std::hash::BuildHasher::hash_one(&out.hasher, id);
            let (slots, hasher) = (&out.slots, &out.hasher);
            if out
                .index
                .find(hash, |&t| slot(slots, t).is_some_and(|x| x.0 == *id))
                .is_some()
            {
                return Err(D::Error::custom(format!("record {id} held twice")));
            }
            out.index.insert_unique(hash, h as u32, |&t| {
                slot(slots, t).map_or(0, |x| std::hash::BuildHasher::hash_one(hasher, x.0))
            });
        }
        let free_ok = out.free.len() == free_slots
            && out
                .free
                .iter()
                .all(|&h| matches!(out.slots.get(h as usize), Some(None)));
        if !free_ok {
            return Err(D::Error::custom("free handles do not match the free slots"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_handle_names_its_id_while_held_and_a_freed_handle_is_reused() {
        let mut s = IdSlab::<u8>::default();
        let (a, b, c) = (RecordId([1; 32]), RecordId([2; 32]), RecordId([3; 32]));
        let ha = s.insert(a, 10);
        let hb = s.insert(b, 20);
        assert_ne!(ha, hb);
        assert_eq!((s.handle(&a), s.handle(&b)), (Some(ha), Some(hb)));
        assert_eq!((s.get(ha), s.id(hb)), (Some(&10), Some(&b)));
        *s.get_mut(hb).unwrap() = 21;
        assert_eq!(s.remove(&a), Some((ha, 10)));
        assert_eq!(s.remove(&a), None, "removed once");
        assert_eq!((s.handle(&a), s.get(ha), s.id(ha)), (None, None, None));
        assert_eq!(s.id_of(ha), &RecordId([0; 32]));
        assert_eq!(s.insert(c, 30), ha, "the freed handle is reused");
        assert_eq!(
            (s.id(ha), s.get(ha), s.handle(&c)),
            (Some(&c), Some(&30), Some(ha))
        );
        assert_eq!(
            s.handle(&a),
            None,
            "the old id does not come back with its handle"
        );
        assert_eq!(s.get(hb), Some(&21));
        assert_eq!(s.len(), 2);
        let mut ids: Vec<_> = s.ids().copied().collect();
        ids.sort();
        assert_eq!(ids, vec![b, c]);
    }

    #[test]
    fn many_ids_grow_and_free_without_losing_one() {
        let mut s = IdSlab::<u32>::default();
        let id = |i: u32| {
            let mut b = [0; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            RecordId(b)
        };
        for i in 0..5000 {
            s.insert(id(i), i);
        }
        for i in (0..5000).step_by(2) {
            assert_eq!(s.remove(&id(i)).map(|(_, v)| v), Some(i));
        }
        for i in 0..5000 {
            let h = s.handle(&id(i));
            assert_eq!(h.is_some(), i % 2 == 1);
            if let Some(h) = h {
                assert_eq!((s.get(h), s.id(h)), (Some(&i), Some(&id(i))));
            }
        }
        assert_eq!(s.len(), 2500);
    }

    #[test]
    fn chunks_grow_a_chunk_at_a_time_and_never_move_what_they_hold() {
        let mut c = Chunks::<u32>::default();
        assert_eq!((c.len(), c.get(0)), (0, None));
        c.push(0);
        let first: *const u32 = &c[0];
        for i in 1..(3 * CHUNK as u32 + 5) {
            c.push(i);
        }
        assert_eq!(c.len(), 3 * CHUNK + 5);
        assert!(std::ptr::eq(first, &c[0]), "the first chunk did not move");
        assert_eq!(c.chunks.len(), 4);
        assert!(c.chunks.iter().all(|k| k.capacity() == CHUNK));
        assert_eq!(
            (c[CHUNK], c.get(3 * CHUNK + 4)),
            (CHUNK as u32, Some(&(3 * CHUNK as u32 + 4)))
        );
        assert_eq!(c.get(3 * CHUNK + 5), None);
        c[7] = 70;
        *c.get_mut(CHUNK + 1).unwrap() = 11;
        assert!(c.iter().enumerate().all(|(i, v)| *v
            == match i {
                7 => 70,
                i if i == CHUNK + 1 => 11,
                i => i as u32,
            }));
    }
}
