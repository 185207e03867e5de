//! The node's derived state saved whole, so that a start after a clean stop reads it back
//! instead of rebuilding every index from the store.
//!
//! What is saved: the profile index, the envelopes of every held record and the sub-states
//! over them (attestations, pull, collaborations, sponsorships), the pulse, the trust graph and
//! the per-signer accounting — everything [`Service::new`] derives from the store's records.
//! What is not: what the store keeps apart and a start reads anyway (our own profile, trust
//! roots, introductions), what lives only while the node runs (connections, requests, rate
//! limiters, strikes, revocations waiting for their targets) and caches (the trust engine's
//! walks, the find view's flat postings, the tag automaton), which are drawn again on first
//! use.
//!
//! A saved state is only as good as its match with the store: the daemon saves it after its
//! loop has stopped and the store is flushed, and the store hands it only to the first opening
//! after that (`guild_store::SavedState`: every opening takes the file away before it can
//! write); a state that does not decode, fails its checksum, was written by other code
//! ([`fingerprint`]) or by a node with another key is refused with a [`SavedStateError`], and
//! the start loads the store as if there were none.
//!
//! Layout: `GUILD-STATE\0` (12 bytes), the format (u32, little endian), the fingerprint (u64),
//! the payload's length (u64) and CRC-32 (u32), then the payload: the bincode encoding of
//! [`Saved`].

use crate::admission::{Pool, Usage};
use crate::state::{Attestations, Collabs, Pull, Records};
use crate::{index, pulse, Service, ServiceConfig, ServiceError};
use guild_core::{Identity, PublicKey, RecordKind, UnixTime};
use guild_trust::TrustEngine;
use std::io::{Read, Write};

/// The file's first bytes.
pub const MAGIC: &[u8; 12] = b"GUILD-STATE\0";
/// The layout version of the header.
pub const FORMAT: u32 = 1;
/// Largest payload read back (a node holding 10^5 attestations saves about a tenth of this).
pub const MAX_PAYLOAD: u64 = 4 << 30;

/// A fingerprint of the code that encodes the saved state: a hash of the sources of this crate,
/// `guild-trust` and `guild-core`, computed when the crate is built (`build.rs`). A state saved
/// by any other build is refused (the layout of what it encodes may have changed without
/// anyone bumping a version), and the start rebuilds from the store: once per upgrade.
pub fn fingerprint() -> u64 {
    env!("GUILD_STATE_FINGERPRINT").parse().unwrap_or(0)
}

/// Why a saved state was not used.
#[derive(Debug, thiserror::Error)]
pub enum SavedStateError {
    /// Reading or writing it failed.
    #[error("reading or writing the saved state: {0}")]
    Io(#[from] std::io::Error),
    /// It is no saved state.
    #[error("not a saved state (bad magic)")]
    Magic,
    /// Saved in another layout.
    #[error("saved in format {found}; this build reads format {FORMAT}")]
    Format {
        /// The format found.
        found: u32,
    },
    /// Saved by another build.
    #[error("saved by another build of Guild (fingerprint {found:016x}, this build {ours:016x})")]
    Build {
        /// The fingerprint found.
        found: u64,
        /// Ours.
        ours: u64,
    },
    /// The payload is larger than any node saves.
    #[error("a payload of {0} bytes is larger than any saved state")]
    TooLarge(u64),
    /// The payload does not match its checksum (a torn or damaged file).
    #[error("the payload does not match its checksum (torn or damaged)")]
    Checksum,
    /// Saved by a node with another identity (the home's key was replaced).
    #[error("saved by the node {saved}, not by this one")]
    Identity {
        /// Whose it is.
        saved: PublicKey,
    },
    /// The payload does not decode.
    #[error("the payload does not decode: {0}")]
    Decode(String),
    /// It could not be encoded.
    #[error("encoding the state: {0}")]
    Encode(String),
    /// Building the service around it failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// What is saved, borrowed from a running service.
#[derive(serde::Serialize)]
struct SavedRef<'a> {
    /// Whose node it is: what is ours is told apart by it (our collaborations, our records
    /// outside the accounting).
    me: &'a PublicKey,
    profiles: &'a index::Index,
    records: &'a Records,
    attestations: &'a Attestations,
    pull: &'a Pull,
    collabs: &'a Collabs,
    sponsors: &'a crate::state::sponsors::Sponsors,
    pulse: &'a pulse::PulseState,
    trust: &'a TrustEngine<PublicKey>,
    usage: &'a crate::state::HashMap<(PublicKey, RecordKind), Usage>,
    pools: &'a crate::state::HashMap<RecordKind, Pool>,
}

/// What is saved, read back.
#[derive(serde::Deserialize)]
pub(crate) struct Saved {
    me: PublicKey,
    profiles: index::Index,
    records: Records,
    attestations: Attestations,
    pull: Pull,
    collabs: Collabs,
    sponsors: crate::state::sponsors::Sponsors,
    pulse: pulse::PulseState,
    trust: TrustEngine<PublicKey>,
    usage: crate::state::HashMap<(PublicKey, RecordKind), Usage>,
    pools: crate::state::HashMap<RecordKind, Pool>,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// A writer that counts and checksums what passes.
struct Summing<W> {
    inner: W,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for Summing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<S: crate::Storage> Service<S> {
    /// Writes the derived state to `out` (see the module docs). `out` must be seekable back to
    /// the header: its length and checksum are known only at the end.
    pub fn save_state<W: Write + std::io::Seek>(&self, out: &mut W) -> Result<(), SavedStateError> {
        let start = out.stream_position()?;
        write_header(out, 0, 0)?;
        let saved = SavedRef {
            me: &self.me,
            profiles: &self.profiles,
            records: &self.state.records,
            attestations: &self.state.attestations,
            pull: &self.state.pull,
            collabs: &self.state.collabs,
            sponsors: &self.state.sponsors,
            pulse: &self.pulse,
            trust: &self.trust,
            usage: self.admission.usage_all(),
            pools: self.admission.pools_all(),
        };
        // Buffered before it is summed: bincode writes a field at a time, and the checksum
        // runs fastest over large slices.
        let (len, crc) = {
            let mut buffered = std::io::BufWriter::with_capacity(
                1 << 20,
                Summing {
                    inner: &mut *out,
                    crc: crc32fast::Hasher::new(),
                    len: 0,
                },
            );
            bincode::serde::encode_into_std_write(&saved, &mut buffered, config())
                .map_err(|e| SavedStateError::Encode(e.to_string()))?;
            let Summing { crc, len, .. } = buffered.into_inner().map_err(|e| e.into_error())?;
            (len, crc.finalize())
        };
        let end = out.stream_position()?;
        out.seek(std::io::SeekFrom::Start(start))?;
        write_header(out, len, crc)?;
        out.seek(std::io::SeekFrom::Start(end))?;
        out.flush()?;
        Ok(())
    }

    /// [`Service::new`] from a saved state instead of the store's records (see the module
    /// docs). The store must be the one the state was saved with, unchanged since: the caller
    /// knows (the daemon takes it from the store's opening). Records that expired since are dropped, as a
    /// load drops them.
    pub fn restore<R: Read + std::io::Seek>(
        identity: Identity,
        store: S,
        cfg: ServiceConfig,
        seed: u64,
        now: impl Into<crate::LocalTime>,
        input: &mut R,
    ) -> Result<Service<S>, SavedStateError> {
        let saved = read_saved(input)?;
        if saved.me != identity.public() {
            return Err(SavedStateError::Identity { saved: saved.me });
        }
        let now = now.into();
        let mut s = Service::empty(identity, store, cfg, seed, now)?;
        s.restore_saved(saved, crate::secs(now.as_millis()))?;
        Ok(s)
    }

    fn restore_saved(&mut self, saved: Saved, now: UnixTime) -> Result<(), ServiceError> {
        self.own.load(&self.store)?;
        self.profiles = saved.profiles;
        self.state.records = saved.records;
        self.state.attestations = saved.attestations;
        self.state.pull = saved.pull;
        self.state.collabs = saved.collabs;
        self.state.sponsors = saved.sponsors;
        self.pulse = saved.pulse;
        self.pulse.restarted();
        self.trust = saved.trust;
        self.admission.restore_accounting(saved.usage, saved.pools);
        self.loading = false;
        self.read_roots()?;
        self.load_intros(now)?;
        // What expired while the node was stopped goes, as a load would not index it.
        for id in self.state.records.expired(now, usize::MAX) {
            self.drop_record(&id, now);
        }
        self.admission.invalidate_standing();
        self.index_epoch += 1;
        self.trust_epoch += 1;
        self.stats.profiles.set(self.profiles.len() as i64);
        Ok(())
    }

    /// Whether the derived state equals `other`'s (what a saved state must give back).
    #[cfg(test)]
    pub(crate) fn same_derived_state(&self, other: &Service<S>) -> Result<(), &'static str> {
        let checks: [(&'static str, bool); 11] = [
            ("profiles", self.profiles == other.profiles),
            ("records", self.state.records == other.state.records),
            (
                "attestations",
                self.state.attestations == other.state.attestations,
            ),
            ("pull", self.state.pull == other.state.pull),
            ("collabs", self.state.collabs == other.state.collabs),
            ("sponsors", self.state.sponsors == other.state.sponsors),
            ("roots", self.state.roots == other.state.roots),
            ("pulse", self.pulse == other.pulse),
            ("trust", self.trust == other.trust),
            (
                "usage",
                self.admission.usage_all() == other.admission.usage_all(),
            ),
            (
                "pools",
                self.admission.pools_all() == other.admission.pools_all(),
            ),
        ];
        match checks.iter().find(|(_, same)| !same) {
            Some((what, _)) => Err(what),
            None => Ok(()),
        }
    }
}

fn write_header<W: Write>(out: &mut W, len: u64, crc: u32) -> std::io::Result<()> {
    out.write_all(MAGIC)?;
    out.write_all(&FORMAT.to_le_bytes())?;
    out.write_all(&fingerprint().to_le_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&crc.to_le_bytes())
}

fn read_saved<R: Read + std::io::Seek>(input: &mut R) -> Result<Saved, SavedStateError> {
    let mut magic = [0u8; 12];
    input.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(SavedStateError::Magic);
    }
    let mut b4 = [0u8; 4];
    let mut b8 = [0u8; 8];
    input.read_exact(&mut b4)?;
    let found = u32::from_le_bytes(b4);
    if found != FORMAT {
        return Err(SavedStateError::Format { found });
    }
    input.read_exact(&mut b8)?;
    let (found, ours) = (u64::from_le_bytes(b8), fingerprint());
    if found != ours {
        return Err(SavedStateError::Build { found, ours });
    }
    input.read_exact(&mut b8)?;
    let len = u64::from_le_bytes(b8);
    if len > MAX_PAYLOAD {
        return Err(SavedStateError::TooLarge(len));
    }
    input.read_exact(&mut b4)?;
    let crc = u32::from_le_bytes(b4);
    // The checksum first, over the whole payload, so that nothing torn or damaged is decoded
    // (a damaged length could ask for any allocation); then the payload is decoded as it is
    // read, through a buffer bincode can look ahead in (`BufReader` is a bincode `Reader`):
    // read whole, the payload's buffer left 20 MiB more resident after the start (BENCHMARKS.md).
    let payload = input.stream_position()?;
    let size = input.seek(std::io::SeekFrom::End(0))?;
    if size.saturating_sub(payload) != len {
        return Err(SavedStateError::Checksum);
    }
    input.seek(std::io::SeekFrom::Start(payload))?;
    let mut sum = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        input.read_exact(&mut buf[..want])?;
        sum.update(&buf[..want]);
        left -= want as u64;
    }
    drop(buf);
    if sum.finalize() != crc {
        return Err(SavedStateError::Checksum);
    }
    input.seek(std::io::SeekFrom::Start(payload))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, input.take(len));
    let saved: Saved = bincode::serde::decode_from_reader(&mut reader, config())
        .map_err(|e| SavedStateError::Decode(e.to_string()))?;
    if !std::io::BufRead::fill_buf(&mut reader)?.is_empty() {
        return Err(SavedStateError::Decode(
            "bytes left over after the payload".into(),
        ));
    }
    Ok(saved)
}
