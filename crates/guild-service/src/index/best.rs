//! The best `limit` scored candidates of one search.

use super::*;

/// A scored candidate.
#[derive(Clone, Copy)]
pub(super) struct Ranked {
    pub(super) fit: f64,
    score: f64,
    /// The key's first 8 bytes, big-endian: orders as the key does, unless equal.
    prefix: u64,
    key: PublicKey,
    /// Candidate index.
    pub(super) c: u32,
}

/// The ranking order: fit strictly first (a better match always ranks higher), then score, then
/// the key (a total order: every result list is reproducible).
fn rank_order(a: &Ranked, b: &Ranked) -> std::cmp::Ordering {
    b.fit
        .total_cmp(&a.fit)
        .then(b.score.total_cmp(&a.score))
        .then(a.prefix.cmp(&b.prefix))
        .then_with(|| a.key.cmp(&b.key))
}

/// The best `limit` scored candidates, kept as they come: once `limit` are known, one ranking
/// after the `limit`-th best seen is dropped at once, so a big group of equal fit costs no
/// selection (or key comparisons) over all of it.
pub(super) struct Best {
    limit: usize,
    kept: Vec<Ranked>,
    /// The worst of the best `limit` at the last selection.
    floor: Option<Ranked>,
    /// Candidates offered (all valid results, kept or not).
    pub(super) valid: usize,
}

impl Best {
    pub(super) fn new(limit: usize) -> Best {
        Best {
            limit,
            kept: Vec::with_capacity((2 * limit).max(64)),
            floor: None,
            valid: 0,
        }
    }

    pub(super) fn offer(&mut self, fit: f64, score: f64, key: &PublicKey, c: u32) {
        self.valid += 1;
        if let Some(floor) = &self.floor {
            // Worse by fit, or by score at equal fit: dropped without looking at the key.
            if fit < floor.fit || (fit == floor.fit && score < floor.score) {
                return;
            }
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&key.0[..8]);
        let r = Ranked {
            fit,
            score,
            prefix: u64::from_be_bytes(first),
            key: *key,
            c,
        };
        if let Some(floor) = &self.floor {
            if rank_order(&r, floor) == std::cmp::Ordering::Greater {
                return;
            }
        }
        self.kept.push(r);
        if self.kept.len() >= (2 * self.limit).max(64) {
            self.select();
            self.floor = self.kept.last().copied();
        }
    }

    /// [`Best::offer`] of the score `exact` gives, knowing it is at most `upper`: `exact` is
    /// not called when even `upper` would be dropped (then so would the exact score).
    pub(super) fn offer_lazy(
        &mut self,
        fit: f64,
        upper: f64,
        key: &PublicKey,
        c: u32,
        exact: impl FnOnce() -> f64,
    ) {
        if let Some(floor) = &self.floor {
            // Worse by fit, or by score at equal fit: dropped without looking at the key.
            if fit < floor.fit || (fit == floor.fit && upper < floor.score) {
                self.valid += 1;
                return;
            }
            let mut first = [0u8; 8];
            first.copy_from_slice(&key.0[..8]);
            let r = Ranked {
                fit,
                score: upper,
                prefix: u64::from_be_bytes(first),
                key: *key,
                c,
            };
            if rank_order(&r, floor) == std::cmp::Ordering::Greater {
                self.valid += 1;
                return;
            }
        }
        self.offer(fit, exact(), key, c);
    }

    /// Keeps the best `limit` (the worst of them last).
    fn select(&mut self) {
        if self.kept.len() > self.limit {
            self.kept.select_nth_unstable_by(self.limit - 1, rank_order);
            self.kept.truncate(self.limit);
        }
    }

    pub(super) fn into_sorted(mut self) -> Vec<Ranked> {
        self.select();
        self.kept.sort_by(rank_order);
        self.kept
    }
}
