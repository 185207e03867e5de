//! Sponsorships held: who sponsored whom, newest first per sponsor, bounded per sponsor.
//!
//! A sponsor keeps at most [`SPONSORSHIPS_PER_SPONSOR`] live sponsorships here: a newer one
//! pushes its oldest out (the caller drops that record), an older one is refused. So whatever
//! a sponsor signs, it lifts at most that many newcomers out of the stranger tier on this node.

use super::HashMap;
use guild_core::{PublicKey, RecordId, UnixTime};
use std::collections::BTreeSet;

/// Live sponsorships kept per sponsor (the newest).
pub const SPONSORSHIPS_PER_SPONSOR: usize = 8;

/// Where one sponsorship stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SponsorInfo {
    pub sponsor: PublicKey,
    pub newcomer: PublicKey,
    pub issued_at: UnixTime,
    /// The invitation code's id it was issued for.
    pub invite: [u8; 16],
}

/// What inserting a sponsorship did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Insert {
    /// Kept; `evicted` is the sponsor's oldest, now over the bound (drop it).
    Kept { evicted: Option<RecordId> },
    /// Older than every one the sponsor already has at the bound: not kept.
    Full,
}

/// The sponsorship indexes. Insert and remove keep the three maps in step.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Sponsors {
    records: HashMap<RecordId, SponsorInfo>,
    /// Per sponsor: (issued, id), oldest first.
    by_sponsor: HashMap<PublicKey, BTreeSet<(UnixTime, RecordId)>>,
    /// Per newcomer: the sponsorships naming them.
    by_newcomer: HashMap<PublicKey, BTreeSet<RecordId>>,
    /// Bumped on every change (the standing sets are rebuilt).
    epoch: u64,
}

impl Sponsors {
    /// Bumped on every change.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether one more of this sponsor's, issued then, would be kept.
    pub fn fits(&self, sponsor: &PublicKey, issued_at: UnixTime, id: &RecordId) -> bool {
        match self.by_sponsor.get(sponsor) {
            Some(held) if held.len() >= SPONSORSHIPS_PER_SPONSOR => {
                held.first().is_some_and(|first| *first < (issued_at, *id))
            }
            _ => true,
        }
    }

    /// Adds one, within the per-sponsor bound.
    pub fn insert(&mut self, id: RecordId, info: SponsorInfo) -> Insert {
        if self.records.contains_key(&id) {
            return Insert::Kept { evicted: None };
        }
        let held = self.by_sponsor.entry(info.sponsor).or_default();
        let mut evicted = None;
        if held.len() >= SPONSORSHIPS_PER_SPONSOR {
            match held.first() {
                Some(&(oldest_at, oldest)) if (oldest_at, oldest) < (info.issued_at, id) => {
                    evicted = Some(oldest);
                }
                _ => return Insert::Full,
            }
        }
        held.insert((info.issued_at, id));
        self.by_newcomer
            .entry(info.newcomer)
            .or_default()
            .insert(id);
        self.records.insert(id, info);
        self.epoch += 1;
        if let Some(old) = evicted {
            self.remove(&old);
        }
        Insert::Kept { evicted }
    }

    /// Removes one (expiry, eviction, revocation).
    pub fn remove(&mut self, id: &RecordId) -> Option<SponsorInfo> {
        let info = self.records.remove(id)?;
        if let Some(held) = self.by_sponsor.get_mut(&info.sponsor) {
            held.remove(&(info.issued_at, *id));
            if held.is_empty() {
                self.by_sponsor.remove(&info.sponsor);
            }
        }
        if let Some(ids) = self.by_newcomer.get_mut(&info.newcomer) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_newcomer.remove(&info.newcomer);
            }
        }
        self.epoch += 1;
        Some(info)
    }

    /// The sponsors of a newcomer.
    pub fn sponsors_of(&self, newcomer: &PublicKey) -> impl Iterator<Item = PublicKey> + '_ {
        self.by_newcomer
            .get(newcomer)
            .into_iter()
            .flatten()
            .filter_map(|id| self.records.get(id).map(|i| i.sponsor))
    }

    /// Every (sponsor, newcomer) pair held.
    pub fn pairs(&self) -> impl Iterator<Item = (PublicKey, PublicKey)> + '_ {
        self.records.values().map(|i| (i.sponsor, i.newcomer))
    }

    /// The ids of one sponsor's sponsorships issued for one code.
    pub fn of_invite(&self, sponsor: &PublicKey, invite: &[u8; 16]) -> Vec<RecordId> {
        self.by_sponsor
            .get(sponsor)
            .into_iter()
            .flatten()
            .filter(|(_, id)| self.records.get(id).is_some_and(|i| &i.invite == invite))
            .map(|(_, id)| *id)
            .collect()
    }

    /// How many a sponsor has here.
    #[cfg(test)]
    pub fn count_of(&self, sponsor: &PublicKey) -> usize {
        self.by_sponsor.get(sponsor).map_or(0, BTreeSet::len)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        PublicKey([n; 32])
    }

    #[test]
    fn a_sponsor_keeps_only_its_newest_sponsorships() {
        let mut s = Sponsors::default();
        let sponsor = key(1);
        for i in 0..SPONSORSHIPS_PER_SPONSOR as u8 {
            let info = SponsorInfo {
                sponsor,
                newcomer: key(10 + i),
                issued_at: 100 + u64::from(i),
                invite: [0; 16],
            };
            assert_eq!(
                s.insert(RecordId([i; 32]), info),
                Insert::Kept { evicted: None }
            );
        }
        // An older one is refused; a newer one pushes out the oldest.
        let older = SponsorInfo {
            sponsor,
            newcomer: key(50),
            issued_at: 1,
            invite: [0; 16],
        };
        assert_eq!(s.insert(RecordId([200; 32]), older), Insert::Full);
        let newer = SponsorInfo {
            sponsor,
            newcomer: key(51),
            issued_at: 1_000,
            invite: [0; 16],
        };
        assert_eq!(
            s.insert(RecordId([201; 32]), newer),
            Insert::Kept {
                evicted: Some(RecordId([0; 32]))
            }
        );
        assert_eq!(s.count_of(&sponsor), SPONSORSHIPS_PER_SPONSOR);
        assert_eq!(s.sponsors_of(&key(10)).count(), 0);
        assert_eq!(s.sponsors_of(&key(51)).collect::<Vec<_>>(), vec![sponsor]);
        s.remove(&RecordId([201; 32]));
        assert_eq!(s.sponsors_of(&key(51)).count(), 0);
        assert_eq!(s.count_of(&sponsor), SPONSORSHIPS_PER_SPONSOR - 1);
    }
}
