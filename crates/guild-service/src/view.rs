//! A read-only snapshot of what `find` needs — the profile index and this node's trust per
//! skill — published by the single owner after each change, so any number of reader tasks can
//! search at once without waiting for the loop or holding a lock.
//!
//! The index's maps are persistent (`imbl`), so a snapshot costs O(1) to take; trust scores
//! are computed by the engine once per change and per skill asked for (a reader asking for a
//! skill the snapshot lacks asks the loop once, and every later query is served from the new
//! snapshot).

use super::index::{Index, Match, Query};
use super::reputation::TrustFactors;
use super::Service;
use crate::Storage;
use guild_core::{PublicKey, SkillTag};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Most skills whose trust a snapshot carries (the most recently asked).
pub const MAX_SNAPSHOT_SKILLS: usize = 64;
/// Most skills one `find` remembers the trust lookup of (the scan stays short).
const MAX_MEMO_SKILLS: usize = 32;

/// What `find` reads.
pub struct FindView {
    me: PublicKey,
    index: Index,
    trust: HashMap<Option<SkillTag>, Arc<TrustFactors>>,
    /// Skills some counted attestation (or trust root) names: only these can have per-skill
    /// trust; for any other skill the answer is "none" without asking the engine.
    attested: Arc<std::collections::HashSet<SkillTag>>,
    /// Members introduced to us → who introduced them (context, never trust).
    introduced: Arc<HashMap<PublicKey, PublicKey>>,
    /// The service's index epoch this view was taken at.
    pub index_epoch: u64,
    /// The service's trust epoch this view was taken at.
    pub trust_epoch: u64,
}

/// The result of a search on a view.
pub type Found = (Vec<Match>, Vec<(String, Vec<SkillTag>)>);

impl FindView {
    /// An empty view (before the loop publishes the first one).
    pub fn empty(me: PublicKey) -> FindView {
        FindView {
            me,
            index: Index::default(),
            trust: HashMap::new(),
            attested: Arc::default(),
            introduced: Arc::default(),
            index_epoch: u64::MAX,
            trust_epoch: u64::MAX,
        }
    }

    /// Whether a member's profile is in this view.
    pub fn knows(&self, who: &PublicKey) -> bool {
        self.index.get(who).is_some()
    }

    /// Who introduced us to `peer`, if anyone.
    pub fn introduced_by(&self, peer: &PublicKey) -> Option<PublicKey> {
        self.introduced.get(peer).copied()
    }

    /// Profiles in this view.
    pub fn profiles(&self) -> usize {
        self.index.len()
    }

    /// The skills whose trust this view carries.
    pub fn skills(&self) -> Vec<Option<SkillTag>> {
        self.trust.keys().cloned().collect()
    }

    /// Ranked matches (ourselves excluded) and suggestions; or, when the ranking needs trust
    /// for skills this view lacks, those skills (ask the loop for a view with them).
    pub fn find(
        &self,
        q: &Query,
        now: impl Into<crate::LocalTime>,
    ) -> Result<Found, Vec<Option<SkillTag>>> {
        let t = now.into().as_secs();
        let missing: RefCell<BTreeSet<Option<SkillTag>>> = RefCell::new(BTreeSet::new());
        let mut q1 = q.clone();
        q1.limit += 1;
        // Called once or more per candidate: general trust is looked up once per query, a
        // skill's only when someone attests it, and nobody's score when nobody is trusted.
        let general = self.trust.get(&None);
        let factor = |f: &TrustFactors, who: &PublicKey| {
            if f.max > 0.0 {
                let s = f.scores.get(who).copied().unwrap_or(0.0);
                (s > 0.0).then(|| s / f.max)
            } else {
                None
            }
        };
        // What each skill resolves to (`Err`: nobody attests it), looked up once per query: a
        // query names few skills, asked about once per candidate.
        type Resolved<'v> = Result<Option<&'v Arc<TrustFactors>>, ()>;
        let skills: RefCell<Vec<(SkillTag, Resolved<'_>)>> = RefCell::new(Vec::new());
        let resolve = |s: &SkillTag| -> Resolved<'_> {
            if self.attested.is_empty() {
                return Err(());
            }
            if let Some((_, r)) = skills.borrow().iter().find(|(k, _)| k == s) {
                return *r;
            }
            let r = if !self.attested.contains(s) {
                Err(())
            } else {
                Ok(self.trust.get(&Some(s.clone())))
            };
            let mut memo = skills.borrow_mut();
            if memo.len() < MAX_MEMO_SKILLS {
                memo.push((s.clone(), r));
            }
            r
        };
        let (mut out, unmatched) = self.index.search(&q1, t, |who, skill| {
            let found = match skill {
                None => general,
                Some(s) => match resolve(s) {
                    Ok(found) => found,
                    Err(()) => return None, // nobody attests it: general trust decides
                },
            };
            match found {
                Some(f) => factor(f, who),
                None => {
                    missing.borrow_mut().insert(skill.cloned());
                    None
                }
            }
        });
        let missing = missing.into_inner();
        if !missing.is_empty() {
            return Err(missing.into_iter().collect());
        }
        out.retain(|m| m.peer != self.me);
        out.truncate(q.limit);
        let suggestions = self
            .index
            .suggest(q, &unmatched)
            .into_iter()
            .filter(|(_, s)| !s.is_empty())
            .collect();
        Ok((out, suggestions))
    }
}

impl<S: Storage> Service<S> {
    /// The epochs of the profile index and of trust; a view taken at other epochs is stale.
    pub fn epochs(&self) -> (u64, u64) {
        (self.index_epoch, self.trust_epoch)
    }

    /// A snapshot with the current index and the trust scores of `prev` (when only profiles
    /// changed, or trust changed too recently to recompute).
    pub fn find_view_reusing_trust(&mut self, prev: &FindView) -> FindView {
        self.profiles.refresh_vocabulary();
        FindView {
            me: self.me,
            index: self.profiles.clone(),
            trust: prev.trust.clone(),
            attested: prev.attested.clone(),
            introduced: self.intros.introducers_map(),
            index_epoch: self.index_epoch,
            trust_epoch: prev.trust_epoch,
        }
    }

    /// Takes a snapshot for `find` carrying trust for `skills` (general trust always).
    pub fn find_view(
        &mut self,
        skills: &[Option<SkillTag>],
        now: impl Into<crate::LocalTime>,
    ) -> FindView {
        let t = now.into().as_secs();
        self.profiles.refresh_vocabulary();
        let mut keys: Vec<Option<SkillTag>> = vec![None];
        for s in skills {
            if !keys.contains(s) && keys.len() < MAX_SNAPSHOT_SKILLS {
                keys.push(s.clone());
            }
        }
        let trust = keys
            .into_iter()
            .map(|k| {
                let scores = self
                    .trust
                    .scores(self.me, k.as_ref().map(|s| s.as_str()), t);
                let max = scores.values().fold(0.0f64, |m, v| m.max(*v));
                (k, Arc::new(TrustFactors { scores, max }))
            })
            .collect();
        // Inserted one by one, each skill cloned once: collected, the set took room for every
        // edge's skill (10^5 of them, 3.3 MB, for a few distinct skills) and cloned each.
        let mut attested: std::collections::HashSet<SkillTag> = std::collections::HashSet::new();
        let named = self
            .state
            .attestations
            .edge_skills()
            .chain(self.state.roots.keys().filter_map(|(_, s)| s.as_ref()));
        for s in named {
            if !attested.contains(s) {
                attested.insert(s.clone());
            }
        }
        FindView {
            me: self.me,
            index: self.profiles.clone(),
            trust,
            attested: Arc::new(attested),
            introduced: self.intros.introducers_map(),
            index_epoch: self.index_epoch,
            trust_epoch: self.trust_epoch,
        }
    }
}
