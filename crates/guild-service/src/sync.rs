//! Range-based set reconciliation over the `(issued_at, id)` order of one record kind — the pure
//! half of catch-up sync (see `guild_core::wire` for the protocol). No I/O: both sides hand in a
//! sorted slice of their keys.

use guild_core::wire::{Fingerprint, RangeReply, SyncKey, SYNC_FANOUT, SYNC_LEAF_IDS};
use guild_core::RecordId;
use std::collections::BTreeSet;

/// The keys of `items` within `[lo, hi)` (`hi == MAX` is inclusive).
fn in_range(items: &BTreeSet<SyncKey>, lo: SyncKey, hi: SyncKey) -> Vec<SyncKey> {
    if lo > hi {
        return vec![];
    }
    if hi == SyncKey::MAX {
        items.range(lo..).copied().collect()
    } else {
        items.range(lo..hi).copied().collect()
    }
}

fn fingerprint_of(slice: &[SyncKey], lo: SyncKey, hi: SyncKey) -> Fingerprint {
    let mut xor = [0u8; 32];
    for k in slice {
        for (x, b) in xor.iter_mut().zip(k.id.0.iter()) {
            *x ^= b;
        }
    }
    Fingerprint {
        lo,
        hi,
        count: u32::try_from(slice.len()).unwrap_or(u32::MAX),
        xor,
    }
}

/// The fingerprint of `[lo, hi)` over `items`.
pub fn fingerprint(items: &BTreeSet<SyncKey>, lo: SyncKey, hi: SyncKey) -> Fingerprint {
    fingerprint_of(&in_range(items, lo, hi), lo, hi)
}

/// The responder's answer to one range fingerprint.
pub fn reply(items: &BTreeSet<SyncKey>, theirs: &Fingerprint) -> RangeReply {
    reply_counted(items, theirs).0
}

/// The responder's answer to one range fingerprint, and how many keys it walked.
pub fn reply_counted(items: &BTreeSet<SyncKey>, theirs: &Fingerprint) -> (RangeReply, usize) {
    let slice = in_range(items, theirs.lo, theirs.hi);
    let walked = slice.len();
    (reply_to(slice, theirs), walked)
}

/// Checks that a request's ranges are each ordered, sorted and disjoint, so answering them walks
/// each key at most once.
pub fn check_request(ranges: &[Fingerprint]) -> Result<(), String> {
    for (i, f) in ranges.iter().enumerate() {
        if f.lo > f.hi {
            return Err(format!("range {i} ends before it starts"));
        }
        if i > 0 {
            let prev = &ranges[i - 1];
            if prev.hi == SyncKey::MAX || prev.hi > f.lo {
                return Err(format!("range {i} overlaps or precedes range {}", i - 1));
            }
        }
    }
    Ok(())
}

/// Checks a responder's replies against the ranges we asked about: one reply per range, at
/// most [`SYNC_LEAF_IDS`] ids in a leaf, at most [`SYNC_FANOUT`] contiguous sub-ranges covering
/// exactly the range asked. A hostile responder cannot make us fingerprint more than we asked.
pub fn check_replies(asked: &[Fingerprint], replies: &[RangeReply]) -> Result<(), String> {
    if asked.len() != replies.len() {
        return Err(format!(
            "{} replies to {} ranges",
            replies.len(),
            asked.len()
        ));
    }
    for (i, (a, r)) in asked.iter().zip(replies).enumerate() {
        match r {
            RangeReply::Equal => {}
            RangeReply::Ids { lo, hi, ids } => {
                if (*lo, *hi) != (a.lo, a.hi) {
                    return Err(format!("reply {i} names another range"));
                }
                if ids.len() > SYNC_LEAF_IDS {
                    return Err(format!(
                        "reply {i} lists {} ids (at most {SYNC_LEAF_IDS})",
                        ids.len()
                    ));
                }
            }
            RangeReply::Split(parts) => {
                if parts.is_empty() || parts.len() > SYNC_FANOUT {
                    return Err(format!(
                        "reply {i} splits into {} parts (1 to {SYNC_FANOUT})",
                        parts.len()
                    ));
                }
                let contiguous = parts.windows(2).all(|w| w[0].hi == w[1].lo);
                let ordered = parts.iter().all(|p| p.lo <= p.hi);
                let first = parts.first().map(|p| p.lo);
                let last = parts.last().map(|p| p.hi);
                if !contiguous || !ordered || first != Some(a.lo) || last != Some(a.hi) {
                    return Err(format!(
                        "reply {i}'s parts do not cover exactly the range asked"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn reply_to(slice: Vec<SyncKey>, theirs: &Fingerprint) -> RangeReply {
    let ours = fingerprint_of(&slice, theirs.lo, theirs.hi);
    if ours.count == theirs.count && ours.xor == theirs.xor {
        return RangeReply::Equal;
    }
    if slice.len() <= SYNC_LEAF_IDS {
        return RangeReply::Ids {
            lo: theirs.lo,
            hi: theirs.hi,
            ids: slice.iter().map(|k| k.id).collect(),
        };
    }
    // Split at our own items so each part holds about the same number of our keys.
    let chunk = slice.len().div_ceil(SYNC_FANOUT);
    let mut bounds = vec![theirs.lo];
    bounds.extend(slice.iter().step_by(chunk).skip(1).copied());
    bounds.push(theirs.hi);
    let parts = bounds
        .windows(2)
        .map(|w| {
            let start = slice.partition_point(|k| *k < w[0]);
            let end = if w[1] == theirs.hi && theirs.hi == SyncKey::MAX {
                slice.len()
            } else {
                slice.partition_point(|k| *k < w[1])
            };
            fingerprint_of(&slice[start..end.max(start)], w[0], w[1])
        })
        .collect();
    RangeReply::Split(parts)
}

/// What the requester does with a reply: sub-ranges to ask about next, and ids to fetch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NextStep {
    /// Ranges that still differ (with our fingerprints), for the next request.
    pub ranges: Vec<Fingerprint>,
    /// Ids the responder has and we lack.
    pub fetch: Vec<RecordId>,
}

/// Folds the responder's replies into the next step, given our own sorted keys.
pub fn next_step(items: &BTreeSet<SyncKey>, replies: &[RangeReply]) -> NextStep {
    let mut step = NextStep::default();
    for r in replies {
        match r {
            RangeReply::Equal => {}
            RangeReply::Ids { lo, hi, ids } => {
                let ours: std::collections::HashSet<RecordId> =
                    in_range(items, *lo, *hi).iter().map(|k| k.id).collect();
                step.fetch
                    .extend(ids.iter().filter(|id| !ours.contains(id)));
            }
            RangeReply::Split(parts) => {
                for theirs in parts {
                    let ours = fingerprint(items, theirs.lo, theirs.hi);
                    if ours.count != theirs.count || ours.xor != theirs.xor {
                        if theirs.count == 0 {
                            continue; // they have nothing there that we lack
                        }
                        step.ranges.push(ours);
                    }
                }
            }
        }
    }
    step
}

/// The first request: the whole key space.
pub fn initial(items: &BTreeSet<SyncKey>) -> Vec<Fingerprint> {
    vec![fingerprint(items, SyncKey::MIN, SyncKey::MAX)]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use guild_core::wire::MAX_SYNC_RANGES;

    fn key(i: u64) -> SyncKey {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        id[8..16].copy_from_slice(&i.to_le_bytes());
        SyncKey {
            time: 1_000 + i / 3,
            id: RecordId(id),
        }
    }

    /// Runs the protocol to the end; returns (ids fetched, rounds, ranges sent, ids received).
    fn run(a: &[SyncKey], b: &[SyncKey]) -> (Vec<RecordId>, usize, usize, usize) {
        let a: BTreeSet<SyncKey> = a.iter().copied().collect();
        let b: BTreeSet<SyncKey> = b.iter().copied().collect();
        let (a, b) = (&a, &b);
        let mut ranges = initial(a);
        let (mut fetched, mut rounds, mut sent, mut ids_seen) = (vec![], 0, 0, 0);
        while !ranges.is_empty() {
            rounds += 1;
            assert!(rounds < 20, "terminates");
            for batch in ranges.chunks(MAX_SYNC_RANGES) {
                sent += batch.len();
            }
            let replies: Vec<RangeReply> = ranges.iter().map(|f| reply(b, f)).collect();
            ids_seen += replies
                .iter()
                .map(|r| match r {
                    RangeReply::Ids { ids, .. } => ids.len(),
                    _ => 0,
                })
                .sum::<usize>();
            let step = next_step(a, &replies);
            fetched.extend(step.fetch);
            ranges = step.ranges;
        }
        (fetched, rounds, sent, ids_seen)
    }

    #[test]
    fn identical_sets_take_one_round_and_no_records() {
        let items: Vec<SyncKey> = (0..10_000).map(key).collect();
        let (fetched, rounds, _, _) = run(&items, &items);
        assert!(fetched.is_empty());
        assert_eq!(rounds, 1);
    }

    #[test]
    fn ten_thousand_records_differing_in_a_handful_exchange_a_handful() {
        let common: Vec<SyncKey> = (0..10_000).map(key).collect();
        let mut a = common.clone();
        let mut b = common.clone();
        // b has 5 records a lacks; a has 3 records b lacks.
        let extra_b: Vec<SyncKey> = (20_000..20_005).map(key).collect();
        b.extend(&extra_b);
        a.extend((30_000..30_003).map(key));
        a.sort();
        b.sort();
        let (mut fetched, rounds, ranges, ids) = run(&a, &b);
        fetched.sort();
        let mut want: Vec<RecordId> = extra_b.iter().map(|k| k.id).collect();
        want.sort();
        assert_eq!(fetched, want, "exactly the missing records are fetched");
        assert!(rounds <= 5, "{rounds} rounds");
        assert!(ranges < 400, "{ranges} fingerprints sent");
        assert!(ids < 400, "{ids} ids listed");
    }

    #[test]
    fn empty_requester_fetches_everything_and_empty_responder_nothing() {
        let b: Vec<SyncKey> = (0..1_000).map(key).collect();
        let (fetched, _, _, _) = run(&[], &b);
        assert_eq!(fetched.len(), 1_000);
        let (fetched, _, _, _) = run(&b, &[]);
        assert!(fetched.is_empty());
    }
}
