//! Remembered peers, so a restarted node rejoins without any bootstrap entry — and rejoins
//! through the peers that earned it, not through whoever flooded it last.
//!
//! Peers are kept in two segments:
//!
//! * **Newcomers** (at most [`MAX_NEWCOMERS`]): peers met in only one session and whose
//!   standing is [`Standing::Stranger`]. A new peer always enters here; when the segment is full
//!   the least recently seen newcomer is forgotten. A flood of fresh identities therefore only
//!   ever replaces other newcomers.
//! * **Established** (at most [`MAX_KNOWN_PEERS`] − [`MAX_NEWCOMERS`]): peers met in
//!   [`ESTABLISHED_SESSIONS`] separate sessions, or given a standing above stranger by the node.
//!   They are ordered by [`PeerRank`] (standing, then sessions, then how long we have known
//!   them, then how recently seen); when the segment is full a peer is only promoted if it ranks
//!   above the lowest established peer, which is then forgotten. Otherwise it stays a newcomer.
//!
//! A *session* is a contact after at least [`SESSION_GAP`] without one (the node calls
//! [`Store::remember_peer`] each time identify succeeds with a peer of our community, which
//! also repeats every few minutes on a long connection).
//!
//! The segments are indexed in memory (built from the tree in one pass on first use), so an
//! insertion costs O(log n), not a scan.

use crate::{decode, Store, StoreError};
use guild_core::codec;
use guild_core::UnixTime;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

/// Most addresses remembered per peer (newest first).
pub const MAX_ADDRS_PER_PEER: usize = 8;
/// Most peers remembered in all.
pub const MAX_KNOWN_PEERS: usize = 1024;
/// Most newcomers remembered (see the module docs); the rest of [`MAX_KNOWN_PEERS`] is for
/// established peers.
pub const MAX_NEWCOMERS: usize = 256;
/// Sessions after which a stranger is an established peer.
pub const ESTABLISHED_SESSIONS: u32 = 2;
/// Least silence, in seconds, between two contacts counted as separate sessions (10 minutes:
/// longer than identify's periodic re-identification, so one long connection is one session).
pub const SESSION_GAP: UnixTime = 600;
const MAX_PEER_BYTES: usize = 8 * 1024;
const DAY: UnixTime = 86_400;

/// Remembered peers (peer id bytes, what we know), and entries that did not decode.
pub type KnownPeers = (Vec<(Vec<u8>, KnownPeer)>, Vec<StoreError>);

pub use guild_core::storage::Standing;

/// What we remember about a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPeer {
    /// Multiaddrs (text), most recent first.
    pub addrs: Vec<String>,
    /// When we last had a connection.
    pub last_seen: UnixTime,
    /// When we first had one.
    pub first_seen: UnixTime,
    /// Separate sessions with it (contacts at least [`SESSION_GAP`] apart).
    pub sessions: u32,
    /// The node's trust in it.
    pub standing: Standing,
}

/// The layout before standings and sessions (still read; rewritten on the next contact).
#[derive(Deserialize)]
struct LegacyKnownPeer {
    addrs: Vec<String>,
    last_seen: UnixTime,
}

/// The order of established peers: the lowest is forgotten first.
pub type PeerRank = (Standing, u32, u32, UnixTime);

impl KnownPeer {
    /// Whether it belongs to the established segment.
    pub fn is_established(&self) -> bool {
        self.standing > Standing::Stranger || self.sessions >= ESTABLISHED_SESSIONS
    }

    /// Its rank among established peers: standing, then sessions (log₂, so a chatty peer does
    /// not outrank an older one for ever), then how long we have known it (log₂ of days between
    /// first and last contact), then the last contact.
    pub fn rank(&self) -> PeerRank {
        let days = self.last_seen.saturating_sub(self.first_seen) / DAY;
        (
            self.standing,
            self.sessions.max(1).ilog2(),
            (days + 1).ilog2(),
            self.last_seen,
        )
    }
}

/// Where a peer sits in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Newcomer(UnixTime),
    Established(PeerRank),
}

impl Slot {
    fn of(peer: &KnownPeer) -> Slot {
        if peer.is_established() {
            Slot::Established(peer.rank())
        } else {
            Slot::Newcomer(peer.last_seen)
        }
    }
}

/// The in-memory index of the `peers` tree.
#[derive(Debug, Default)]
pub(crate) struct PeerIndex {
    newcomers: BTreeSet<(UnixTime, Vec<u8>)>,
    established: BTreeSet<(PeerRank, Vec<u8>)>,
    slots: HashMap<Vec<u8>, Slot>,
}

impl PeerIndex {
    fn insert(&mut self, key: &[u8], slot: Slot) {
        self.remove(key);
        match &slot {
            Slot::Newcomer(t) => self.newcomers.insert((*t, key.to_vec())),
            Slot::Established(r) => self.established.insert((*r, key.to_vec())),
        };
        self.slots.insert(key.to_vec(), slot);
    }

    fn remove(&mut self, key: &[u8]) -> Option<Slot> {
        let slot = self.slots.remove(key)?;
        match &slot {
            Slot::Newcomer(t) => self.newcomers.remove(&(*t, key.to_vec())),
            Slot::Established(r) => self.established.remove(&(*r, key.to_vec())),
        };
        Some(slot)
    }
}

/// Decodes a stored peer in either layout.
fn decode_peer(key: &[u8], bytes: &[u8]) -> Result<KnownPeer, StoreError> {
    decode::<KnownPeer>("peers", key, bytes, MAX_PEER_BYTES).or_else(|e| {
        decode::<LegacyKnownPeer>("peers", key, bytes, MAX_PEER_BYTES)
            .map(|old| KnownPeer {
                addrs: old.addrs,
                last_seen: old.last_seen,
                first_seen: old.last_seen,
                sessions: 1,
                standing: Standing::Stranger,
            })
            .map_err(|_| e)
    })
}

impl Store {
    /// Records a contact with a peer (by PeerId bytes) at `now`, keeping the newest
    /// [`MAX_ADDRS_PER_PEER`] addresses; its standing is kept (a new peer is a stranger).
    /// See the module docs for which peers are kept when the table is full.
    pub fn remember_peer(
        &self,
        peer: &[u8],
        addrs: &[String],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.remember(peer, addrs, now, None)
    }

    /// [`Store::remember_peer`], also setting the peer's standing (which may lower it).
    pub fn remember_peer_as(
        &self,
        peer: &[u8],
        addrs: &[String],
        now: UnixTime,
        standing: Standing,
    ) -> Result<(), StoreError> {
        self.remember(peer, addrs, now, Some(standing))
    }

    /// Sets the standing of a remembered peer without a contact. Returns false if the peer is
    /// not remembered.
    pub fn set_peer_standing(&self, peer: &[u8], standing: Standing) -> Result<bool, StoreError> {
        let mut guard = self.peer_index.lock().unwrap_or_else(|e| e.into_inner());
        let index = self.peer_index_of(&mut guard)?;
        let Some(bytes) = self.peers.get(peer)? else {
            return Ok(false);
        };
        let Ok(mut known) = decode_peer(peer, &bytes) else {
            return Ok(false);
        };
        known.standing = standing;
        self.place(index, peer, known)?;
        Ok(true)
    }

    fn remember(
        &self,
        peer: &[u8],
        addrs: &[String],
        now: UnixTime,
        standing: Option<Standing>,
    ) -> Result<(), StoreError> {
        let mut guard = self.peer_index.lock().unwrap_or_else(|e| e.into_inner());
        let index = self.peer_index_of(&mut guard)?;
        let existing = match self.peers.get(peer)? {
            Some(b) => decode_peer(peer, &b).ok(),
            None => None,
        };
        let mut known = match existing {
            Some(mut known) => {
                if now >= known.last_seen.saturating_add(SESSION_GAP) {
                    known.sessions = known.sessions.saturating_add(1);
                }
                known.last_seen = known.last_seen.max(now);
                known
            }
            None => KnownPeer {
                addrs: vec![],
                last_seen: now,
                first_seen: now,
                sessions: 1,
                standing: Standing::Stranger,
            },
        };
        if let Some(standing) = standing {
            known.standing = standing;
        }
        for a in addrs.iter().rev() {
            known.addrs.retain(|x| x != a);
            known.addrs.insert(0, a.clone());
        }
        known.addrs.truncate(MAX_ADDRS_PER_PEER);
        self.place(index, peer, known)
    }

    /// Writes `known` and files it in its segment, making room as the module docs say.
    fn place(
        &self,
        index: &mut PeerIndex,
        peer: &[u8],
        known: KnownPeer,
    ) -> Result<(), StoreError> {
        let mut slot = Slot::of(&known);
        let current = index.slots.get(peer).cloned();
        if let Slot::Established(rank) = &slot {
            let already = matches!(current, Some(Slot::Established(_)));
            if !already && index.established.len() >= MAX_KNOWN_PEERS - MAX_NEWCOMERS {
                match index.established.first().cloned() {
                    Some((lowest, key)) if lowest < *rank => self.forget(index, &key)?,
                    // Not better than any established peer: it stays a newcomer.
                    _ => slot = Slot::Newcomer(known.last_seen),
                }
            }
        }
        if let Slot::Newcomer(_) = &slot {
            let already = matches!(current, Some(Slot::Newcomer(_)));
            if !already && index.newcomers.len() >= MAX_NEWCOMERS {
                if let Some((_, key)) = index.newcomers.first().cloned() {
                    self.forget(index, &key)?;
                }
            }
        }
        let bytes = codec::encode(&known).map_err(|e| StoreError::Encode(e.to_string()))?;
        self.peers.insert(peer, bytes)?;
        index.insert(peer, slot);
        Ok(())
    }

    fn forget(&self, index: &mut PeerIndex, key: &[u8]) -> Result<(), StoreError> {
        self.peers.remove(key)?;
        index.remove(key);
        Ok(())
    }

    /// The index, built from the tree on first use (entries that do not decode are left out;
    /// segments over their bound, e.g. after an upgrade, are trimmed).
    fn peer_index_of<'a>(
        &self,
        guard: &'a mut Option<PeerIndex>,
    ) -> Result<&'a mut PeerIndex, StoreError> {
        if guard.is_none() {
            let mut index = PeerIndex::default();
            for item in self.peers.iter() {
                let (k, v) = item?;
                if let Ok(known) = decode_peer(&k, &v) {
                    index.insert(&k, Slot::of(&known));
                }
            }
            while index.newcomers.len() > MAX_NEWCOMERS {
                let Some((_, key)) = index.newcomers.first().cloned() else {
                    break;
                };
                self.forget(&mut index, &key)?;
            }
            while index.established.len() > MAX_KNOWN_PEERS - MAX_NEWCOMERS {
                let Some((_, key)) = index.established.first().cloned() else {
                    break;
                };
                self.forget(&mut index, &key)?;
            }
            *guard = Some(index);
        }
        match guard {
            Some(index) => Ok(index),
            None => Err(StoreError::Sled("peer index not built".into())),
        }
    }

    /// Every remembered peer: `(peer id bytes, what we know)`, best first — established peers
    /// by rank, then newcomers, most recently seen first — so a restarted node redials the
    /// peers that earned it first. Entries that do not decode are skipped and returned as
    /// errors in the second list.
    pub fn known_peers(&self) -> Result<KnownPeers, StoreError> {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for item in self.peers.iter() {
            let (k, v) = item?;
            match decode_peer(&k, &v) {
                Ok(p) => ok.push((k.to_vec(), p)),
                Err(e) => bad.push(e),
            }
        }
        ok.sort_by_key(|(_, p)| match Slot::of(p) {
            Slot::Established(rank) => (Reverse(1u8), Reverse(rank), Reverse(0)),
            Slot::Newcomer(seen) => (
                Reverse(0),
                Reverse((Standing::Stranger, 0, 0, 0)),
                Reverse(seen),
            ),
        });
        Ok((ok, bad))
    }

    /// Forgets a peer.
    pub fn forget_peer(&self, peer: &[u8]) -> Result<(), StoreError> {
        let mut guard = self.peer_index.lock().unwrap_or_else(|e| e.into_inner());
        let index = self.peer_index_of(&mut guard)?;
        self.forget(index, peer)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn addr(i: usize) -> Vec<String> {
        vec![format!("/ip4/10.0.{}.{}/tcp/4001", i / 256, i % 256)]
    }

    fn key(prefix: &str, i: usize) -> Vec<u8> {
        format!("{prefix}-{i}").into_bytes()
    }

    const T0: UnixTime = 1_700_000_000;

    /// (established, newcomers) as filed in the index; checks the index matches the tree.
    fn counts(store: &Store) -> (usize, usize) {
        let (known, bad) = store.known_peers().unwrap();
        assert!(bad.is_empty());
        let mut guard = store.peer_index.lock().unwrap();
        let index = store.peer_index_of(&mut guard).unwrap();
        let (established, newcomers) = (index.established.len(), index.newcomers.len());
        assert_eq!(known.len(), established + newcomers);
        assert!(known.len() <= MAX_KNOWN_PEERS);
        (established, newcomers)
    }

    #[test]
    fn a_flood_of_newcomers_never_displaces_established_peers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        {
            let store = Store::open(&path).unwrap();
            for i in 0..200 {
                store.remember_peer(&key("old", i), &addr(i), T0).unwrap();
                store
                    .remember_peer(&key("old", i), &addr(i), T0 + SESSION_GAP)
                    .unwrap();
            }
            let now = T0 + DAY;
            for i in 0..5000 {
                store
                    .remember_peer(&key("flood", i), &addr(i), now + i as UnixTime)
                    .unwrap();
            }
            assert_eq!(counts(&store), (200, MAX_NEWCOMERS));
            let (known, _) = store.known_peers().unwrap();
            for i in 0..200 {
                assert!(
                    known.iter().any(|(k, _)| *k == key("old", i)),
                    "old-{i} kept"
                );
            }
            // The newcomers kept are the most recent ones.
            assert!(known.iter().any(|(k, _)| *k == key("flood", 4999)));
            assert!(!known.iter().any(|(k, _)| *k == key("flood", 0)));
            // Established peers come first in the redial order.
            assert!(known[..200].iter().all(|(_, p)| p.is_established()));
            store.flush().unwrap();
        }
        // Reopened (the index is rebuilt from the tree): all 200 are still there, and a new
        // flood still cannot touch them.
        let store = Store::open(&path).unwrap();
        assert_eq!(counts(&store), (200, MAX_NEWCOMERS));
        for i in 0..1000 {
            store
                .remember_peer(&key("flood2", i), &addr(i), T0 + 2 * DAY)
                .unwrap();
        }
        assert_eq!(counts(&store), (200, MAX_NEWCOMERS));
    }

    #[test]
    fn established_peers_are_replaced_only_by_better_ones() {
        let store = Store::open_temporary().unwrap();
        let room = MAX_KNOWN_PEERS - MAX_NEWCOMERS;
        for i in 0..room {
            store.remember_peer(&key("p", i), &addr(i), T0).unwrap();
            store
                .remember_peer(&key("p", i), &addr(i), T0 + SESSION_GAP)
                .unwrap();
        }
        assert_eq!(counts(&store), (room, 0));
        // One more two-session peer, seen later: it outranks the lowest (same tiers, older
        // last contact), which is forgotten.
        let later = T0 + 10 * SESSION_GAP;
        store.remember_peer(&key("q", 0), &addr(0), later).unwrap();
        store
            .remember_peer(&key("q", 0), &addr(0), later + SESSION_GAP)
            .unwrap();
        assert_eq!(counts(&store), (room, 0));
        // A trusted member always gets in, and a peer of no better rank stays a newcomer.
        assert!(store
            .set_peer_standing(&key("p", 5), Standing::Trusted)
            .unwrap());
        store
            .remember_peer_as(&key("t", 0), &addr(1), T0, Standing::Collaborator)
            .unwrap();
        store.remember_peer(&key("r", 0), &addr(2), T0).unwrap();
        store
            .remember_peer(&key("r", 0), &addr(2), T0 + SESSION_GAP)
            .unwrap();
        assert_eq!(counts(&store), (room, 1));
        let (known, _) = store.known_peers().unwrap();
        assert_eq!(known[0].0, key("t", 0), "collaborator first");
        assert_eq!(known[1].0, key("p", 5), "then trusted");
        assert!(
            known.iter().any(|(k, _)| *k == key("r", 0)),
            "kept as a newcomer"
        );
        assert!(!store.set_peer_standing(b"nobody", Standing::Known).unwrap());
    }

    #[test]
    fn sessions_are_separate_contacts() {
        let store = Store::open_temporary().unwrap();
        let p = b"peer";
        for t in [T0, T0 + 60, T0 + 300, T0 + 500] {
            store.remember_peer(p, &addr(1), t).unwrap();
        }
        let (known, _) = store.known_peers().unwrap();
        assert_eq!(
            known[0].1.sessions, 1,
            "identify repeats within one session"
        );
        store
            .remember_peer(p, &addr(2), T0 + 500 + SESSION_GAP)
            .unwrap();
        let (known, _) = store.known_peers().unwrap();
        assert_eq!(known[0].1.sessions, 2);
        assert_eq!(known[0].1.first_seen, T0);
        assert_eq!(known[0].1.addrs, [addr(2), addr(1)].concat());
        store.forget_peer(p).unwrap();
        assert_eq!(counts(&store), (0, 0));
    }

    #[test]
    fn the_previous_layout_is_still_read() {
        #[derive(Serialize)]
        struct Old {
            addrs: Vec<String>,
            last_seen: UnixTime,
        }
        let store = Store::open_temporary().unwrap();
        let old = codec::encode(&Old {
            addrs: addr(3),
            last_seen: T0,
        })
        .unwrap();
        store.peers.insert(b"legacy", old).unwrap();
        let (known, bad) = store.known_peers().unwrap();
        assert!(bad.is_empty());
        assert_eq!(known[0].1.sessions, 1);
        store
            .remember_peer(b"legacy", &addr(4), T0 + SESSION_GAP)
            .unwrap();
        let (known, _) = store.known_peers().unwrap();
        assert!(known[0].1.is_established());
    }
}
