//! Values held by record id in the slots of a dense vector, each named by a stable 4-byte
//! handle while it is held (freed handles are reused), found by id through a table of handles.
//!
//! Secondary indexes then name a record by its handle (4 bytes) instead of its id (32), and read
//! the id back from the slab when they need it (to break ties by id, or to answer with it). The
//! pattern of the envelopes' table (`records.rs`), for the sub-states' own records.
//!
//! A handle is only meaningful while its record is held: whoever indexes a handle must drop it
//! from their indexes when the record is removed, before the handle can be given to another.

use guild_core::RecordId;

/// Slots added at least when the vector is full (then an eighth of its length).
const MIN_GROWTH: usize = 256;

/// Values by record id, each in a slot named by a `u32` handle.
#[derive(Debug)]
pub(crate) struct IdSlab<T> {
    /// The handle of every held id, hashed by the id it holds.
    index: hashbrown::HashTable<u32>,
    /// Keyed per process and per table: ids are chosen by peers (see [`super::HashMap`]).
    hasher: foldhash::fast::RandomState,
    /// By handle (`None`: free).
    slots: Vec<Option<(RecordId, T)>>,
    /// Free handles, reused before the vector grows.
    free: Vec<u32>,
}

impl<T> Default for IdSlab<T> {
    fn default() -> IdSlab<T> {
        IdSlab {
            index: hashbrown::HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
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
                slots[s as usize].as_ref().is_some_and(|x| x.0 == *id)
            })
            .copied()
    }

    /// The value held under a handle.
    pub fn get(&self, h: u32) -> Option<&T> {
        self.slots.get(h as usize)?.as_ref().map(|x| &x.1)
    }

    /// The value held under a handle, to change.
    pub fn get_mut(&mut self, h: u32) -> Option<&mut T> {
        self.slots.get_mut(h as usize)?.as_mut().map(|x| &mut x.1)
    }

    /// The id held under a handle.
    pub fn id(&self, h: u32) -> Option<&RecordId> {
        self.slots.get(h as usize)?.as_ref().map(|x| &x.0)
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
        let slot = Some((id, value));
        let h = match self.free.pop() {
            Some(h) => {
                self.slots[h as usize] = slot;
                h
            }
            None => {
                if self.slots.len() == self.slots.capacity() {
                    self.slots
                        .reserve_exact((self.slots.len() / 8).max(MIN_GROWTH));
                }
                self.slots.push(slot);
                // Handles are at most the records held, far fewer than 2^32.
                (self.slots.len() - 1) as u32
            }
        };
        let hash = self.hash(&id);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, h, |&t| {
            slots[t as usize]
                .as_ref()
                .map_or(0, |x| std::hash::BuildHasher::hash_one(hasher, x.0))
        });
        h
    }

    /// Lets go of a held id: its handle (free for reuse from now on) and its value.
    pub fn remove(&mut self, id: &RecordId) -> Option<(u32, T)> {
        let hash = self.hash(id);
        let slots = &self.slots;
        let entry = self
            .index
            .find_entry(hash, |&s| {
                slots[s as usize].as_ref().is_some_and(|x| x.0 == *id)
            })
            .ok()?;
        let (h, _) = entry.remove();
        let (_, value) = self.slots[h as usize].take()?;
        self.free.push(h);
        Some((h, value))
    }

    /// How many ids are held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Every held id, in handle order.
    pub fn ids(&self) -> impl Iterator<Item = &RecordId> + '_ {
        self.slots.iter().flatten().map(|x| &x.0)
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
}
