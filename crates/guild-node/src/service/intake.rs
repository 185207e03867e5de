//! Rules for records arriving from peers: a per-peer rate budget, and the reasons records are
//! refused (counted for metrics).

use std::collections::HashMap;

/// Most peers tracked by the rate limiter; beyond it the longest-idle are forgotten.
pub const MAX_TRACKED_PEERS: usize = 4096;

/// A token bucket per peer: `per_minute` records, refilled continuously, bursts up to the same.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: f64,
    buckets: HashMap<Vec<u8>, (f64, f64)>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` records per peer.
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute: f64::from(per_minute.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `peer` at time `now_secs` (fractional seconds, monotonic). Returns
    /// false when the peer is over budget.
    pub fn allow(&mut self, peer: &[u8], now_secs: f64) -> bool {
        if self.buckets.len() >= MAX_TRACKED_PEERS && !self.buckets.contains_key(peer) {
            self.forget_idle(now_secs);
        }
        let cap = self.per_minute;
        let (tokens, last) = self.buckets.entry(peer.to_vec()).or_insert((cap, now_secs));
        *tokens = (*tokens + (now_secs - *last).max(0.0) * cap / 60.0).min(cap);
        *last = now_secs;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn forget_idle(&mut self, now_secs: f64) {
        // Full buckets carry no information; drop those first, then the oldest half.
        let cap = self.per_minute;
        self.buckets
            .retain(|_, (t, last)| (*t + (now_secs - *last) * cap / 60.0) < cap);
        if self.buckets.len() >= MAX_TRACKED_PEERS {
            let mut lasts: Vec<f64> = self.buckets.values().map(|(_, l)| *l).collect();
            lasts.sort_by(f64::total_cmp);
            let cut = lasts[lasts.len() / 2];
            self.buckets.retain(|_, (_, l)| *l > cut);
        }
    }
}

/// Why a record from a peer was not taken, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// Did not decode.
    Malformed,
    /// Failed validation (signature, times, fields).
    Invalid,
    /// Over the peer's rate budget.
    RateLimited,
    /// Already known or older than what we have.
    Duplicate,
    /// Valid but not for us (wrong community topic contents, unexpected kind).
    Unwanted,
}

impl Refusal {
    /// A short label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Invalid => "invalid",
            Refusal::RateLimited => "rate_limited",
            Refusal::Duplicate => "duplicate",
            Refusal::Unwanted => "unwanted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refills_over_time() {
        let mut r = RateLimiter::new(60);
        for _ in 0..60 {
            assert!(r.allow(b"p", 0.0));
        }
        assert!(!r.allow(b"p", 0.0), "burst exhausted");
        assert!(r.allow(b"q", 0.0), "other peers unaffected");
        assert!(r.allow(b"p", 1.0), "one token per second refills");
        assert!(!r.allow(b"p", 1.0));
    }

    #[test]
    fn tracked_peers_are_bounded() {
        let mut r = RateLimiter::new(10);
        for i in 0..(MAX_TRACKED_PEERS as u32 * 2) {
            r.allow(&i.to_le_bytes(), f64::from(i));
        }
        assert!(r.buckets.len() <= MAX_TRACKED_PEERS);
    }
}
