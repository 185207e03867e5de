//! Tuning constants of the trust engine, with the reasoning behind each default.

use serde::{Deserialize, Serialize};

/// Why a [`TrustConfig`] was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A parameter lies outside the range the algorithm is defined for.
    #[error("trust config: `{name}` = {value} is out of range ({expected})")]
    OutOfRange {
        /// Field name.
        name: &'static str,
        /// Offending value.
        value: f64,
        /// The accepted range, in words.
        expected: &'static str,
    },
}

/// Every tuning constant of the trust engine and its baselines.
///
/// The defaults are derived from first principles (see `TRUST.md`), not fitted to a data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrustConfig {
    /// Transitivity decay α: probability that a walk stops at each node it reaches (the ego included).
    /// Bounds how far trust propagates: a node `d` hops away gets at most `(1-α)^d`. Default 0.15, the
    /// classic PageRank restart probability (mean walk length 5.7 hops, about a social graph's diameter).
    pub alpha: f64,
    /// Monte-Carlo walks kept per ego. Scores have a resolution of `1/walks` and a standard error of
    /// about `sqrt(p/walks)`. Default 10 000: 1 % relative error at p = 0.01, within the 20 ms budget.
    pub walks_per_ego: u32,
    /// Hard cap on the number of hops of one walk; a safety bound only (with α = 0.15 a walk of 200
    /// hops has probability 1e-14). Default 200.
    pub max_walk_len: u32,
    /// Connectivity decay threshold θ: the penalty starts when more than this share of the walks that
    /// reach a node passed through one single other node (its *bridge*). Default 0.5: a node keeps its
    /// full score as long as no single intermediary carries a majority of its support.
    pub bridge_threshold: f64,
    /// Connectivity decay β: the fraction of a node's score removed when *all* its walks come through
    /// one bridge (linear ramp from θ). Default 0.98, chosen so that a region reachable only through one
    /// bridge can add at most `(1-β)(1-α)/α ≈ 0.11` of the bridge's own score (MeritRank's bound).
    pub connectivity_decay: f64,
    /// Largest *bridge set* considered (collusion bound): the engine looks for the nearest set of at
    /// most this many nodes that carries more than `bridge_set_threshold` of a node's walks (see
    /// `TRUST.md`, "Colluding attackers"). 0 disables the bound. Default 10: a Sybil region attached
    /// by up to 10 colluders is measured against those colluders; larger coalitions are only bounded
    /// by connectivity decay of single bridges and by transitivity decay.
    pub max_bridge_set: u32,
    /// Share of a node's walks a bridge set must carry before the node counts as hanging off it.
    /// Default 0.9: only nodes nearly all of whose support passes a few nodes are capped (a Sybil
    /// region's passes its colluders entirely); an honest node with a tenth of its support from
    /// elsewhere is left alone.
    pub bridge_set_threshold: f64,
    /// Capacity c of a bridge set: all nodes hanging off a node `b` (through the sets they hang off,
    /// in proportion to the walks `b` carries for them) together keep at most `c × trust(b)`; above
    /// that their shares are scaled down. A Sybil region behind colluders `A` therefore adds at most
    /// `c/(1−c) × Σ trust(A)` (nested regions included). Default 0.1, about MeritRank's bound for
    /// one bridge, `(1−β)(1−α)/α ≈ 0.11`: a region behind a few colluders adds about what a region
    /// behind one bridge adds.
    pub bridge_set_capacity: f64,
    /// Negative-edge cap: a negative attestation removes at most `negative_cap × trust(rater)` from its
    /// subject (scaled by its normalised, decayed strength). Default 1.0: a rater cannot take away more
    /// than the trust the ego itself places in that rater, so a stranger (trust 0) cannot slander.
    pub negative_cap: f64,
    /// Half-life of an attestation, in seconds: weight = 0.5^(age / half_life). Default one year: skills
    /// and working relationships drift on that scale, and a 5-year-old rating still counts 1/32.
    pub half_life_secs: u64,
    /// Largest absolute score an attestation can carry; scores are divided by it (and clamped) to
    /// normalise them into `[-1, 1]`. Guild uses 5; SNAP files use 10.
    pub max_score: u32,
    /// Seed of every random choice; each ego's walks use a sub-seed derived from this and the ego key.
    pub seed: u64,
}

impl Default for TrustConfig {
    fn default() -> Self {
        TrustConfig {
            alpha: 0.15,
            walks_per_ego: 10_000,
            max_walk_len: 200,
            bridge_threshold: 0.5,
            connectivity_decay: 0.98,
            max_bridge_set: 10,
            bridge_set_threshold: 0.9,
            bridge_set_capacity: 0.1,
            negative_cap: 1.0,
            half_life_secs: 365 * 24 * 3600,
            max_score: 5,
            seed: 0x6775_696c_645f_7472, // "guild_tr"
        }
    }
}

impl TrustConfig {
    /// The default configuration with another `max_score` (e.g. 10 for SNAP files).
    pub fn with_max_score(max_score: u32) -> Self {
        TrustConfig {
            max_score,
            ..TrustConfig::default()
        }
    }

    /// Checks every parameter lies in the range the algorithms are defined for.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn check(
            name: &'static str,
            value: f64,
            ok: bool,
            expected: &'static str,
        ) -> Result<(), ConfigError> {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange {
                    name,
                    value,
                    expected,
                })
            }
        }
        check(
            "alpha",
            self.alpha,
            self.alpha > 0.0 && self.alpha <= 1.0,
            "0 < alpha <= 1",
        )?;
        check(
            "walks_per_ego",
            f64::from(self.walks_per_ego),
            self.walks_per_ego >= 1,
            ">= 1",
        )?;
        check(
            "max_walk_len",
            f64::from(self.max_walk_len),
            self.max_walk_len >= 1,
            ">= 1",
        )?;
        check(
            "bridge_threshold",
            self.bridge_threshold,
            (0.0..1.0).contains(&self.bridge_threshold),
            "0 <= threshold < 1",
        )?;
        check(
            "connectivity_decay",
            self.connectivity_decay,
            (0.0..=1.0).contains(&self.connectivity_decay),
            "0 <= beta <= 1",
        )?;
        check(
            "bridge_set_threshold",
            self.bridge_set_threshold,
            (0.0..1.0).contains(&self.bridge_set_threshold),
            "0 <= threshold < 1",
        )?;
        check(
            "bridge_set_capacity",
            self.bridge_set_capacity,
            self.bridge_set_capacity > 0.0 && self.bridge_set_capacity.is_finite(),
            "> 0",
        )?;
        check(
            "negative_cap",
            self.negative_cap,
            self.negative_cap >= 0.0 && self.negative_cap.is_finite(),
            ">= 0",
        )?;
        check(
            "half_life_secs",
            self.half_life_secs as f64,
            self.half_life_secs >= 1,
            ">= 1",
        )?;
        check(
            "max_score",
            f64::from(self.max_score),
            self.max_score >= 1,
            ">= 1",
        )?;
        Ok(())
    }

    /// The multiplier MeritRank's connectivity decay applies to a node whose largest bridge carries
    /// `share` of its walks: 1 up to θ, then a linear ramp down to `1 - β` at share 1.
    pub fn connectivity_factor(&self, share: f64) -> f64 {
        let span = (1.0 - self.bridge_threshold).max(f64::EPSILON);
        let excess = ((share - self.bridge_threshold) / span).clamp(0.0, 1.0);
        1.0 - self.connectivity_decay * excess
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_ramp_is_monotone() {
        let c = TrustConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.connectivity_factor(0.3), 1.0);
        assert_eq!(c.connectivity_factor(0.5), 1.0);
        assert!((c.connectivity_factor(1.0) - 0.02).abs() < 1e-12);
        assert!(c.connectivity_factor(0.75) > c.connectivity_factor(0.9));
    }

    #[test]
    fn bad_values_are_rejected() {
        let c = TrustConfig {
            alpha: 0.0,
            ..TrustConfig::default()
        };
        assert!(c.validate().is_err());
        let c = TrustConfig {
            bridge_threshold: 1.0,
            ..TrustConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
