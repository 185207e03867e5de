//! Known peer addresses, so a restarted node rejoins without any bootstrap entry.

use crate::{decode, Store, StoreError};
use guild_core::codec;
use guild_core::UnixTime;
use serde::{Deserialize, Serialize};

/// Most addresses remembered per peer (newest first).
pub const MAX_ADDRS_PER_PEER: usize = 8;
/// Most peers remembered; beyond it the least recently seen are forgotten.
pub const MAX_KNOWN_PEERS: usize = 1024;
const MAX_PEER_BYTES: usize = 8 * 1024;

/// Remembered peers (peer id bytes, what we know), and entries that did not decode.
pub type KnownPeers = (Vec<(Vec<u8>, KnownPeer)>, Vec<StoreError>);

/// What we remember about a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPeer {
    /// Multiaddrs (text), most recent first.
    pub addrs: Vec<String>,
    /// When we last had a connection.
    pub last_seen: UnixTime,
}

impl Store {
    /// Records addresses of a peer (by PeerId bytes), keeping the newest [`MAX_ADDRS_PER_PEER`].
    pub fn remember_peer(
        &self,
        peer: &[u8],
        addrs: &[String],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut known = match self.peers.get(peer)? {
            Some(b) => {
                decode::<KnownPeer>("peers", peer, &b, MAX_PEER_BYTES).unwrap_or(KnownPeer {
                    addrs: vec![],
                    last_seen: 0,
                })
            }
            None => {
                if self.peers.len() >= MAX_KNOWN_PEERS {
                    self.forget_oldest_peer()?;
                }
                KnownPeer {
                    addrs: vec![],
                    last_seen: 0,
                }
            }
        };
        for a in addrs.iter().rev() {
            known.addrs.retain(|x| x != a);
            known.addrs.insert(0, a.clone());
        }
        known.addrs.truncate(MAX_ADDRS_PER_PEER);
        known.last_seen = now;
        let bytes = codec::encode(&known).map_err(|e| StoreError::Encode(e.to_string()))?;
        self.peers.insert(peer, bytes)?;
        Ok(())
    }

    fn forget_oldest_peer(&self) -> Result<(), StoreError> {
        let mut oldest: Option<(UnixTime, sled::IVec)> = None;
        for item in self.peers.iter() {
            let (k, v) = item?;
            let seen = decode::<KnownPeer>("peers", &k, &v, MAX_PEER_BYTES)
                .map(|p| p.last_seen)
                .unwrap_or(0);
            if oldest.as_ref().is_none_or(|(t, _)| seen < *t) {
                oldest = Some((seen, k));
            }
        }
        if let Some((_, k)) = oldest {
            self.peers.remove(k)?;
        }
        Ok(())
    }

    /// Every remembered peer: `(peer id bytes, what we know)`, most recently seen first. Entries
    /// that do not decode are skipped and returned as errors in the second list.
    pub fn known_peers(&self) -> Result<KnownPeers, StoreError> {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for item in self.peers.iter() {
            let (k, v) = item?;
            match decode::<KnownPeer>("peers", &k, &v, MAX_PEER_BYTES) {
                Ok(p) => ok.push((k.to_vec(), p)),
                Err(e) => bad.push(e),
            }
        }
        ok.sort_by_key(|p| std::cmp::Reverse(p.1.last_seen));
        Ok((ok, bad))
    }

    /// Forgets a peer.
    pub fn forget_peer(&self, peer: &[u8]) -> Result<(), StoreError> {
        self.peers.remove(peer)?;
        Ok(())
    }
}
