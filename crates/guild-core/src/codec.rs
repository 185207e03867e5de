//! The one place Guild encodes and decodes bytes: bincode 2 (`config::standard()`, varint integers,
//! little endian) through serde.
//!
//! Decoding always runs with a byte limit so a hostile length prefix cannot make us allocate
//! gigabytes, and rejects trailing bytes so one value has one encoding on the wire.

use bincode::config::{self, Configuration, LittleEndian, Varint};
use serde::{de::DeserializeOwned, Serialize};

/// Upper bound for any single decoded value, whatever its type (1 MiB). Per-type limits in
/// [`crate::limits`] are smaller and are checked before decoding.
pub const MAX_DECODE_BYTES: usize = 1 << 20;

type Standard = Configuration<LittleEndian, Varint, bincode::config::NoLimit>;
type Limited = Configuration<LittleEndian, Varint, bincode::config::Limit<MAX_DECODE_BYTES>>;

fn standard() -> Standard {
    config::standard()
}

fn limited() -> Limited {
    config::standard().with_limit::<MAX_DECODE_BYTES>()
}

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The value could not be encoded (this is a bug in the caller's type, not bad input).
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The bytes are not a valid encoding of the expected type.
    #[error("malformed encoding: {0}")]
    Decode(String),
    /// The input is larger than allowed for this type.
    #[error("{size} bytes exceed the limit of {max} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit that applies.
        max: usize,
    },
    /// The value decoded but bytes were left over.
    #[error("{0} unexpected trailing bytes")]
    TrailingBytes(usize),
}

/// Encodes a value with Guild's bincode configuration.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, standard()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes a value, refusing inputs above `max` bytes (and above [`MAX_DECODE_BYTES`]) and any
/// trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, CodecError> {
    let max = max.min(MAX_DECODE_BYTES);
    if bytes.len() > max {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(bytes, limited())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

/// Decodes a value from the start of `bytes`, leaving what follows unread: for reading the
/// head of a larger message before deciding whether to decode the rest (the whole is still
/// decoded with [`decode`], trailing bytes refused, if it is taken at all).
pub fn decode_head<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let bytes = &bytes[..bytes.len().min(MAX_DECODE_BYTES)];
    bincode::serde::decode_from_slice::<T, _>(bytes, limited())
        .map(|(value, _)| value)
        .map_err(|e| CodecError::Decode(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let v = (7u32, String::from("kicad"), vec![1u8, 2, 3]);
        let bytes = encode(&v).unwrap();
        let back: (u32, String, Vec<u8>) = decode(&bytes, 1024).unwrap();
        assert_eq!(back, v);
        assert!(matches!(
            decode::<(u32, String, Vec<u8>)>(&bytes, 3),
            Err(CodecError::TooLarge { .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode::<(u32, String, Vec<u8>)>(&longer, 1024),
            Err(CodecError::TrailingBytes(1))
        );
    }

    #[test]
    fn hostile_length_prefix_does_not_allocate() {
        // A Vec<u8> claiming u64::MAX elements: varint marker 253 then 8 bytes.
        let mut bytes = vec![253u8];
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode::<Vec<u8>>(&bytes, 1024),
            Err(CodecError::Decode(_))
        ));
        // Garbage never panics.
        for len in 0..64u8 {
            let junk: Vec<u8> = (0..len)
                .map(|i| i.wrapping_mul(37).wrapping_add(251))
                .collect();
            let _ = decode::<(String, Vec<String>, u64)>(&junk, 1024);
        }
    }
}
