//! The service's in-memory indexes over the records in the store: loaded once at start, then kept
//! up to date by every change, so the work for one input is a few map lookups plus the records it
//! changes — never a scan of the store.
//!
//! The store stays the durable copy of every record; these maps hold only what the rules need to
//! decide (who issued what, which sequence, which target, which members).
//!
//! [`State`] is a composition of small sub-states (the shape of iroh-gossip's `proto/state.rs`),
//! each its own module owning private maps behind an API in which insert and remove sit side by
//! side and keep that sub-state's invariants:
//!
//! - [`records::Records`]: every stored record's envelope, the expiry order, the current profile
//!   ids and the sync keys;
//! - [`attestations::Attestations`]: attestations and their indexes, which ones count, the trust
//!   edges, equivocators and applied revocations;
//! - [`pull::Pull`]: needs, offers, accepted offers and messages;
//! - [`collabs::Collabs`]: collaborations, their logs, ours, and invitations waiting for us.
//!
//! Admission (budgets and pools) is its own state in [`crate::admission`]. The rules that cross
//! sub-states (an attestation counts when its collaboration backs it) live in the service's
//! modules and read each sub-state through its API.

pub(crate) mod attestations;
pub(crate) mod collabs;
pub(crate) mod interner;
pub(crate) mod pull;
pub(crate) mod records;
pub(crate) mod slab;
pub(crate) mod small;
pub(crate) mod sponsors;

pub(crate) use attestations::{AttInfo, Attestations};
pub(crate) use collabs::{entry_key, CollabState, Collabs};
pub(crate) use pull::{NeedInfo, OfferInfo, Pull};
pub(crate) use records::{Meta, Records};

use guild_core::{PublicKey, SkillTag, UnixTime};
use std::collections::BTreeMap;

/// The hash tables of the indexes. Their keys are record ids and public keys, which peers
/// choose (an id by grinding record contents, a key outright), so the hasher must be keyed per
/// process against collision flooding: foldhash's `fast::RandomState` is, with a random seed per
/// process and per table, at a fraction of SipHash's cost on 32-byte keys (std's default hashed
/// ids for 9 % of a start-up's CPU). An unkeyed hasher (FxHash, `nohash`) would let a peer
/// choose keys that collide.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A set hashed as [`HashMap`] is.
pub(crate) type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Every index the service keeps.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Envelopes, expiry, profiles' record ids, sync keys.
    pub records: Records,
    /// Attestations, what counts, edges, equivocators, revocations.
    pub attestations: Attestations,
    /// Needs, offers, acceptances, messages.
    pub pull: Pull,
    /// Collaborations, ours, invitations waiting for us.
    pub collabs: Collabs,
    /// Sponsorships of newcomers, bounded per sponsor.
    pub sponsors: sponsors::Sponsors,
    /// Join requests answered this minute (see `invite.rs`).
    pub join_budget: crate::invite::JoinBudget,
    /// This node's own trust roots: (member, skill or general) → (note, added at). Local and
    /// private; they act as the owner's own out-edges in the trust engine. A single map with no
    /// index over it, so it needs no sub-state of its own.
    pub roots: BTreeMap<(PublicKey, Option<SkillTag>), (String, UnixTime)>,
}
