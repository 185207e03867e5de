//! Identities: one ed25519 secret is both the libp2p identity and the record signer, so a
//! `PeerId` names a signer and a signer names a peer.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use libp2p_identity::PeerId;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An ed25519 public key: the issuer of a record and, as a [`PeerId`], a node on the network.
///
/// Encoded as 32 raw bytes in bincode; shown as the base58 PeerId in JSON and on screen.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a PeerId.
    #[error("`{0}` is not a valid peer id")]
    InvalidPeerId(String),
    /// A PeerId of a key type other than ed25519.
    #[error("peer id {0} is not an ed25519 key; Guild members use ed25519 identities")]
    NotEd25519(String),
}

impl PublicKey {
    /// The libp2p PeerId of this key.
    ///
    /// Built directly from the bytes (identity multihash of the protobuf-encoded key, exactly what
    /// libp2p derives), so it is total: even bytes that are not a valid curve point get a stable id
    /// to show in errors.
    pub fn to_peer_id(&self) -> PeerId {
        let mut bytes = Vec::with_capacity(38);
        bytes.extend_from_slice(&[0x00, 36, 0x08, 0x01, 0x12, 0x20]);
        bytes.extend_from_slice(&self.0);
        PeerId::from_bytes(&bytes).unwrap_or_else(|_| PeerId::random())
    }

    /// Recovers the ed25519 key from a PeerId (ed25519 PeerIds embed the key itself: the identity
    /// multihash of the protobuf encoding `08 01 12 20 ‖ key`). The key is taken as bytes, without
    /// decompressing the curve point: that costs ~20 µs and happens anyway when a signature by the
    /// key is verified.
    pub fn from_peer_id(peer: &PeerId) -> Result<PublicKey, KeyError> {
        const PREFIX: [u8; 6] = [0x00, 36, 0x08, 0x01, 0x12, 0x20];
        let bytes = peer.to_bytes();
        if bytes.len() != 38 || bytes[..6] != PREFIX {
            return Err(KeyError::NotEd25519(peer.to_string()));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[6..]);
        Ok(PublicKey(key))
    }

    /// The ed25519-dalek verifying key, if these bytes are a valid curve point.
    ///
    /// Decompressing the point is about a third of a signature check, and the same few keys
    /// sign most records a node sees, so each thread keeps the last [`KEY_CACHE`] keys it
    /// decompressed (cleared when full, so a flood of fresh keys costs no more than before).
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        self.verifying_key_weak().map(|(k, _)| k)
    }

    /// [`PublicKey::verifying_key`], and whether the key is of small order
    /// (`VerifyingKey::is_weak`, three doublings: a twentieth of a batched signature check),
    /// remembered with it.
    pub(crate) fn verifying_key_weak(&self) -> Option<(VerifyingKey, bool)> {
        KEYS.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(k) = cache.get(&self.0) {
                return *k;
            }
            let k = VerifyingKey::from_bytes(&self.0)
                .ok()
                .map(|k| (k, k.is_weak()));
            if cache.len() >= KEY_CACHE {
                cache.clear();
            }
            cache.insert(self.0, k);
            k
        })
    }
}

/// Most decompressed keys remembered per thread (about 1 MiB).
pub const KEY_CACHE: usize = 4096;

/// Decompressed keys by their bytes, with whether each is weak (`None`: no curve point).
type KeyCache = std::collections::HashMap<[u8; 32], Option<(VerifyingKey, bool)>>;

thread_local! {
    static KEYS: std::cell::RefCell<KeyCache> = std::cell::RefCell::new(KeyCache::new());
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_peer_id())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_peer_id())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let peer =
            PeerId::from_str(s.trim()).map_err(|_| KeyError::InvalidPeerId(s.to_string()))?;
        PublicKey::from_peer_id(&peer)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            PublicKey::from_str(&s).map_err(de::Error::custom)
        } else {
            Ok(PublicKey(<[u8; 32]>::deserialize(d)?))
        }
    }
}

/// A 64-byte ed25519 signature (hex in JSON, raw bytes in bincode).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignatureBytes(pub [u8; 64]);

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

impl Serialize for SignatureBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(self.0))
        } else {
            use serde::ser::SerializeTuple;
            let mut t = s.serialize_tuple(64)?;
            for b in &self.0 {
                t.serialize_element(b)?;
            }
            t.end()
        }
    }
}

impl<'de> Deserialize<'de> for SignatureBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            let v = hex::decode(&s).map_err(de::Error::custom)?;
            let arr: [u8; 64] = v
                .try_into()
                .map_err(|_| de::Error::custom("a signature is 64 bytes"))?;
            Ok(SignatureBytes(arr))
        } else {
            struct V;
            impl<'de> de::Visitor<'de> for V {
                type Value = SignatureBytes;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("64 signature bytes")
                }
                fn visit_seq<A: de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Self::Value, A::Error> {
                    let mut out = [0u8; 64];
                    for (i, slot) in out.iter_mut().enumerate() {
                        *slot = seq
                            .next_element()?
                            .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                    }
                    Ok(SignatureBytes(out))
                }
            }
            d.deserialize_tuple(64, V)
        }
    }
}

/// The node's own identity: the ed25519 secret that signs records and authenticates libp2p.
pub struct Identity {
    secret: [u8; 32],
    signing: SigningKey,
}

impl Identity {
    /// Builds an identity from a 32-byte ed25519 secret.
    pub fn from_secret(secret: [u8; 32]) -> Identity {
        Identity {
            signing: SigningKey::from_bytes(&secret),
            secret,
        }
    }

    /// A fresh random identity.
    pub fn generate() -> Identity {
        Identity::from_secret(rand::random())
    }

    /// The 32 secret bytes (to write the key file).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// The PeerId of this identity.
    pub fn peer_id(&self) -> PeerId {
        self.public().to_peer_id()
    }

    /// The libp2p keypair made from the same secret. (libp2p zeroizes the buffer it is given, so it
    /// gets a copy.)
    pub fn keypair(&self) -> libp2p_identity::Keypair {
        let mut copy = self.secret;
        match libp2p_identity::Keypair::ed25519_from_bytes(&mut copy) {
            Ok(kp) => kp,
            // Any 32 bytes are a valid ed25519 secret; this branch cannot be taken.
            Err(_) => libp2p_identity::Keypair::generate_ed25519(),
        }
    }

    /// Signs a message.
    pub fn sign(&self, msg: &[u8]) -> SignatureBytes {
        SignatureBytes(self.signing.sign(msg).to_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.peer_id())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_key_is_the_dalek_verifying_key() {
        let id = Identity::from_secret([7u8; 32]);
        let dalek = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        let kp = id.keypair();
        let peer = kp.public().to_peer_id();
        assert_eq!(peer, id.peer_id());
        let from_peer = PublicKey::from_peer_id(&peer).unwrap();
        assert_eq!(from_peer.0, dalek.to_bytes());
        assert_eq!(from_peer.verifying_key().unwrap(), dalek);
        // The libp2p signature verifies with dalek's verify_strict and vice versa.
        let msg = b"guild";
        let sig = kp.sign(msg).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&sig.try_into().unwrap());
        assert!(dalek.verify_strict(msg, &sig).is_ok());
        let ours = id.sign(msg);
        assert!(kp.public().verify(msg, &ours.0));
    }

    #[test]
    fn peer_id_text_round_trip() {
        let id = Identity::from_secret([9u8; 32]);
        let s = id.public().to_string();
        assert_eq!(PublicKey::from_str(&s).unwrap(), id.public());
        assert!(matches!(
            PublicKey::from_str("not-a-peer"),
            Err(KeyError::InvalidPeerId(_))
        ));
        // A secp256k1/RSA style peer id (sha256 multihash) is refused.
        let hashed = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
        assert!(matches!(
            PublicKey::from_str(hashed),
            Err(KeyError::NotEd25519(_))
        ));
    }
}
