//! Guild's personalised, Sybil-tolerant trust engine.
//!
//! Every Guild node ranks peers from *its own* point of view, from attestations it has verified
//! (an issuer vouching for a subject's skill after a collaboration, with a score and a date). This
//! crate turns those attestations into trust scores. It is pure: no I/O, no clock (time is passed in
//! as `now`), no global randomness (every random choice derives from [`TrustConfig::seed`]).
//!
//! * [`TrustGraph`] stores the live attestations (one per issuer, subject and skill).
//! * [`TrustEngine`] implements MeritRank (Nasrulin, Ishmaev, Pouwelse, "MeritRank: Sybil Tolerant
//!   Reputation for Merit-based Tokenomics", 2022): personalised Monte-Carlo random walks from the ego
//!   with transitivity decay and connectivity decay (generalised to small *sets* of bridges, so that
//!   colluding attackers gain little too), negative attestations capped by the rater's own
//!   trust, half-life ageing, per-skill scores and [`Explanation`]s. Walks are kept and repaired
//!   incrementally when an attestation changes (see the `walks` module docs).
//! * [`PersonalizedPageRank`] and [`EigenTrust`] are the baselines; all three implement
//!   [`TrustModel`], so evaluations treat them alike.
//! * [`snap`] parses SNAP signed-network files used for evaluation.
//!
//! ```
//! use guild_trust::{TrustConfig, TrustEngine};
//! # fn main() -> Result<(), guild_trust::ConfigError> {
//! let mut engine = TrustEngine::<u64>::new(TrustConfig::default())?;
//! engine.upsert(1, 2, "rust", 5, 1_700_000_000); // 1 vouches for 2's Rust, full marks
//! engine.upsert(2, 3, "kicad", 4, 1_700_000_000);
//! let now = 1_700_000_100;
//! assert!(engine.score(1, 2, None, now) > engine.score(1, 3, None, now));
//! assert!(engine.score(1, 3, Some("kicad"), now) > 0.0);
//! assert_eq!(engine.score(1, 3, Some("rust"), now), 0.0);
//! # Ok(()) }
//! ```

mod baselines;
mod config;
mod explain;
mod graph;
mod meritrank;
mod rng;
mod score;
pub mod snap;
mod walks;

use std::collections::HashMap;

pub use baselines::{EigenTrust, PersonalizedPageRank};
pub use config::{ConfigError, TrustConfig};
pub use explain::{
    Connectivity, Contributor, Explanation, PathContribution, SetBridge, TOP_CONTRIBUTORS,
    TOP_PATHS,
};
pub use graph::{NodeKey, TrustGraph};
pub use meritrank::TrustEngine;
pub use rng::Rng;

/// A trust model answering "how much does `ego` trust each other node?" — the uniform interface the
/// evaluation uses to compare the engine with its baselines.
pub trait TrustModel<K> {
    /// Short name for reports.
    fn name(&self) -> &'static str;
    /// Every node with a non-zero score from `ego`'s point of view (the ego itself excluded), at `now`.
    fn scores(&mut self, ego: K, now: u64) -> HashMap<K, f64>;
}
