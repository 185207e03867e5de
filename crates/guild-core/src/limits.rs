//! Size and time limits that every path accepting records enforces. Other implementations must
//! respect them to be accepted by Guild nodes; they are documented in `docs/protocol.md`.

use crate::time::DAY;

/// How far in the future a record's `issued_at` may be (clock skew tolerance): 5 minutes.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// Longest length of a normalised skill or resource tag, in bytes.
pub const MAX_TAG_BYTES: usize = 64;
/// Longest display name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest profile bio, in bytes.
pub const MAX_BIO_BYTES: usize = 2048;
/// Most skills on one profile.
pub const MAX_SKILLS: usize = 32;
/// Most resources on one profile.
pub const MAX_RESOURCES: usize = 16;
/// Longest resource description, in bytes.
pub const MAX_RESOURCE_DESCRIPTION_BYTES: usize = 512;
/// Longest resource availability note, in bytes.
pub const MAX_AVAILABILITY_BYTES: usize = 256;
/// Most links on one profile.
pub const MAX_LINKS: usize = 8;
/// Longest link, in bytes.
pub const MAX_LINK_BYTES: usize = 256;
/// Longest text of a need, an offer or a direct message, in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Most skill or resource tags a need may ask for.
pub const MAX_NEED_TAGS: usize = 16;
/// Most roles of one need (version 2).
pub const MAX_ROLES: usize = 8;
/// Most people one role asks for.
pub const MAX_ROLE_COUNT: u8 = 10;
/// Longest effort estimate of a role, in bytes.
pub const MAX_EFFORT_BYTES: usize = 64;
/// Longest note of a role, in bytes.
pub const MAX_ROLE_NOTE_BYTES: usize = 512;
/// Longest place name of a need, in bytes.
pub const MAX_PLACE_BYTES: usize = 128;
/// Longest text of what a need offers in return, in bytes.
pub const MAX_REWARD_BYTES: usize = 512;
/// Furthest a need's due date may be after it is posted: two years.
pub const MAX_DUE_AHEAD: u64 = 2 * 366 * DAY;
/// Longest attestation note, in bytes.
pub const MAX_NOTE_BYTES: usize = 1024;
/// Longest revocation reason, in bytes.
pub const MAX_REASON_BYTES: usize = 512;
/// Most offers accepted into one collaboration record.
pub const MAX_COLLAB_OFFERS: usize = 8;
/// Most members of a collaboration (founders plus invited).
pub const MAX_COLLAB_MEMBERS: usize = 32;
/// Highest absolute attestation score (scores range over `-MAX_SCORE..=MAX_SCORE`).
pub const MAX_SCORE: i8 = 5;

/// Largest encoded signed profile, in bytes.
pub const MAX_PROFILE_BYTES: usize = 16 * 1024;
/// Largest encoded signed need, in bytes.
pub const MAX_NEED_BYTES: usize = 8 * 1024;
/// Largest encoded signed offer, in bytes.
pub const MAX_OFFER_BYTES: usize = 8 * 1024;
/// Largest encoded signed attestation, in bytes.
pub const MAX_ATTESTATION_BYTES: usize = 4 * 1024;
/// Largest encoded signed revocation, in bytes.
pub const MAX_REVOCATION_BYTES: usize = 2 * 1024;
/// Largest encoded signed collaboration, in bytes (it names the need and the accepted offers by
/// id: 8 offers take about 550 bytes).
pub const MAX_COLLABORATION_BYTES: usize = 2 * 1024;
/// Largest encoded signed collaboration log entry or direct message, in bytes.
pub const MAX_ENTRY_BYTES: usize = 8 * 1024;
/// Largest encoded record of any kind with its kind tag, in bytes: the bound for decoding an
/// `AnyRecord` (gossip, the store). The largest kind is the profile.
pub const MAX_ANY_RECORD_BYTES: usize = MAX_PROFILE_BYTES + 16;

/// Longest lifetime (`expires_at - issued_at`) of a profile: 30 days; daemons republish daily.
pub const MAX_PROFILE_LIFETIME: u64 = 30 * DAY;
/// Longest lifetime of a need: 30 days (default 7).
pub const MAX_NEED_LIFETIME: u64 = 30 * DAY;
/// Longest lifetime of an offer: 30 days.
pub const MAX_OFFER_LIFETIME: u64 = 30 * DAY;
/// Longest lifetime of an attestation: one year.
pub const MAX_ATTESTATION_LIFETIME: u64 = 366 * DAY;
/// Longest lifetime of a revocation (it must outlive what it revokes): a bit over a year.
pub const MAX_REVOCATION_LIFETIME: u64 = 400 * DAY;
/// Longest lifetime of a collaboration record and its entries: two years.
pub const MAX_COLLABORATION_LIFETIME: u64 = 2 * 366 * DAY;
