//! Guild's domain: signed records, their validation, the codec, skill tags, identities and the
//! control-socket protocol shared by the daemon, the `guild` CLI and scripts.
//!
//! Every rule that other implementations depend on (record encoding, signature domains, record ids,
//! skill-tag normalisation, the skill DHT key) lives here, once. See `docs/protocol.md`.

pub mod codec;
pub mod control;
#[cfg(any(test, feature = "test-helpers"))]
#[allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
pub mod fixtures;
pub mod invite;
pub mod keyfile;
pub mod keys;
pub mod limits;
pub mod record;
pub mod skill;
pub mod storage;
pub mod time;
pub mod wire;

pub use keys::{Identity, PublicKey, SignatureBytes};
pub use record::{
    Accepted, AnyRecord, Attestation, CollabEntry, Collaboration, EntryKind, Level, Message, Need,
    Offer, Place, Profile, Project, RecordBody, RecordError, RecordId, RecordKind, Resource,
    Revocation, Reward, RewardKind, Role, Signed, Skill, Sponsorship,
};
pub use skill::{skill_key, SkillError, SkillTag};
pub use time::UnixTime;
