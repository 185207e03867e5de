//! The in-memory skill index over stored profiles: who declares which skill or resource, and
//! ranking for `find`.
//!
//! Ranking combines *skill fit* (share of asked tags the member has, weighted by declared level),
//! the asker's *trust* in the member (a factor in `[0, 1]`, 0.5 = neutral/unknown) and *freshness*
//! (profiles halve in weight every [`FRESHNESS_HALF_LIFE`] since issue). Each result says why.

use guild_core::{Level, Profile, PublicKey, RecordId, SkillTag, UnixTime};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// Freshness half-life: a profile issued this long ago counts half as much as a new one.
pub const FRESHNESS_HALF_LIFE: u64 = 7 * 86_400;
/// Most near-miss suggestions returned per asked tag.
pub const MAX_SUGGESTIONS: usize = 5;

/// What the index keeps per member.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Display name.
    pub name: String,
    /// Bio (searched by `--text`).
    pub bio: String,
    /// Skills and levels.
    pub skills: Vec<(SkillTag, Level)>,
    /// Resource tags with descriptions.
    pub resources: Vec<(SkillTag, String)>,
    /// When the profile was issued.
    pub issued_at: UnixTime,
    /// When it expires.
    pub expires_at: UnixTime,
    /// The profile's record id.
    pub id: RecordId,
}

impl Entry {
    fn from_profile(id: RecordId, p: &Profile) -> Entry {
        Entry {
            id,
            name: p.name.clone(),
            bio: p.bio.clone(),
            skills: p.skills.iter().map(|s| (s.tag.clone(), s.level)).collect(),
            resources: p
                .resources
                .iter()
                .map(|r| (r.tag.clone(), r.description.clone()))
                .collect(),
            issued_at: p.issued_at,
            expires_at: p.expires_at,
        }
    }
}

/// A query.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Skills asked for.
    pub skills: Vec<SkillTag>,
    /// Resources asked for.
    pub resources: Vec<SkillTag>,
    /// Words that must appear in the name, bio or resource descriptions (case-insensitive).
    pub text: Option<String>,
    /// Most results.
    pub limit: usize,
}

/// One ranked match.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Match {
    /// The member.
    pub peer: PublicKey,
    /// Display name.
    pub name: String,
    /// Overall score (higher is better).
    pub score: f64,
    /// Skill fit in `[0, 1]`.
    pub fit: f64,
    /// Trust factor in `[0, 1]` (0.5 when unknown).
    pub trust: f64,
    /// Freshness in `(0, 1]`.
    pub freshness: f64,
    /// Asked skills the member has, with levels.
    pub matched_skills: Vec<(SkillTag, Level)>,
    /// Asked resources the member has.
    pub matched_resources: Vec<SkillTag>,
    /// When the profile was issued.
    pub issued_at: UnixTime,
}

/// The index.
#[derive(Debug, Default)]
pub struct Index {
    entries: HashMap<PublicKey, Entry>,
    by_skill: HashMap<SkillTag, BTreeSet<PublicKey>>,
    by_resource: HashMap<SkillTag, BTreeSet<PublicKey>>,
    by_id: HashMap<RecordId, PublicKey>,
    /// Issue order, for eviction without a scan.
    by_issue: BTreeSet<(UnixTime, PublicKey)>,
}

impl Index {
    /// Number of indexed members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nobody is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of distinct skill tags.
    pub fn skill_count(&self) -> usize {
        self.by_skill.len()
    }

    /// The entry of a member.
    pub fn get(&self, who: &PublicKey) -> Option<&Entry> {
        self.entries.get(who)
    }

    /// The member whose current profile has this record id.
    pub fn by_id(&self, id: &RecordId) -> Option<PublicKey> {
        self.by_id.get(id).copied()
    }

    /// Indexes (or re-indexes) a member's profile, given its record id.
    pub fn insert(&mut self, who: PublicKey, id: RecordId, profile: &Profile) {
        self.remove(&who);
        self.by_id.insert(id, who);
        self.by_issue.insert((profile.issued_at, who));
        let entry = Entry::from_profile(id, profile);
        for (t, _) in &entry.skills {
            self.by_skill.entry(t.clone()).or_default().insert(who);
        }
        for (t, _) in &entry.resources {
            self.by_resource.entry(t.clone()).or_default().insert(who);
        }
        self.entries.insert(who, entry);
    }

    /// Removes a member.
    pub fn remove(&mut self, who: &PublicKey) {
        if let Some(old) = self.entries.remove(who) {
            self.by_id.remove(&old.id);
            self.by_issue.remove(&(old.issued_at, *who));
            for (t, _) in &old.skills {
                drop_from(&mut self.by_skill, t, who);
            }
            for (t, _) in &old.resources {
                drop_from(&mut self.by_resource, t, who);
            }
        }
    }

    /// Members whose profile has expired at `now`.
    pub fn expired(&self, now: UnixTime) -> Vec<PublicKey> {
        self.entries
            .iter()
            .filter(|(_, e)| e.expires_at <= now)
            .map(|(k, _)| *k)
            .collect()
    }

    /// Whom to evict to get down to `max` entries: the oldest profiles, never one that `keep`
    /// protects. Expired profiles are removed by the sweep before they get here. Walks only as
    /// far as it must (protected entries are skipped, so `keep` must protect few).
    pub fn eviction_candidates(
        &self,
        max: usize,
        keep: impl Fn(&PublicKey) -> bool,
    ) -> Vec<PublicKey> {
        let excess = self.entries.len().saturating_sub(max);
        self.by_issue
            .iter()
            .map(|(_, k)| *k)
            .filter(|k| !keep(k))
            .take(excess)
            .collect()
    }

    /// Ranked local matches. `trust` gives the asker's trust factor for a member.
    pub fn find(&self, q: &Query, now: UnixTime, trust: impl Fn(&PublicKey) -> f64) -> Vec<Match> {
        let mut candidates: BTreeSet<PublicKey> = BTreeSet::new();
        for t in &q.skills {
            if let Some(s) = self.by_skill.get(t) {
                candidates.extend(s);
            }
        }
        for t in &q.resources {
            if let Some(s) = self.by_resource.get(t) {
                candidates.extend(s);
            }
        }
        if q.skills.is_empty() && q.resources.is_empty() && q.text.is_some() {
            candidates.extend(self.entries.keys());
        }
        let words: Vec<String> = q
            .text
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let asked = (q.skills.len() + q.resources.len()).max(1) as f64;
        let no_tags = q.skills.is_empty() && q.resources.is_empty();
        // Score every candidate without allocating; build full matches for the best only.
        let mut scored: Vec<(f64, PublicKey, f64, f64, f64)> = candidates
            .into_iter()
            .filter_map(|who| {
                let e = self.entries.get(&who)?;
                if e.expires_at <= now || !text_matches(e, &words) {
                    return None;
                }
                let fit = if no_tags {
                    1.0
                } else {
                    let skills: f64 = q
                        .skills
                        .iter()
                        .filter_map(|t| {
                            e.skills
                                .iter()
                                .find(|(s, _)| s == t)
                                .map(|(_, l)| l.weight())
                        })
                        .sum();
                    let resources = q
                        .resources
                        .iter()
                        .filter(|t| e.resources.iter().any(|(r, _)| r == *t))
                        .count() as f64;
                    (skills + resources) / asked
                };
                let age = now.saturating_sub(e.issued_at) as f64;
                let freshness = 0.5f64.powf(age / FRESHNESS_HALF_LIFE as f64);
                let trust = trust(&who).clamp(0.0, 1.0);
                // Trust and freshness modulate fit but never zero it out: an unknown member with
                // the exact skills still shows up.
                let score = fit * (0.5 + trust) * (0.5 + 0.5 * freshness);
                Some((score, who, fit, trust, freshness))
            })
            .collect();
        let order = |a: &(f64, PublicKey, f64, f64, f64), b: &(f64, PublicKey, f64, f64, f64)| {
            b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
        };
        let limit = q.limit.max(1);
        if scored.len() > limit {
            scored.select_nth_unstable_by(limit - 1, order);
            scored.truncate(limit);
        }
        scored.sort_by(order);
        scored
            .into_iter()
            .filter_map(|(score, who, fit, trust, freshness)| {
                let e = self.entries.get(&who)?;
                Some(Match {
                    peer: who,
                    name: e.name.clone(),
                    score,
                    fit,
                    trust,
                    freshness,
                    matched_skills: q
                        .skills
                        .iter()
                        .filter_map(|t| e.skills.iter().find(|(s, _)| s == t).cloned())
                        .collect(),
                    matched_resources: q
                        .resources
                        .iter()
                        .filter(|t| e.resources.iter().any(|(r, _)| r == *t))
                        .cloned()
                        .collect(),
                    issued_at: e.issued_at,
                })
            })
            .collect()
    }

    /// Known tags close to `tag` (edit distance ≤ 2, or one a prefix of the other), most common
    /// first. Offered as suggestions, never mixed into results.
    pub fn suggestions(&self, tag: &SkillTag) -> Vec<SkillTag> {
        let t = tag.as_str();
        let mut near: Vec<(usize, usize, &SkillTag)> = self
            .by_skill
            .iter()
            .chain(self.by_resource.iter())
            .filter(|(k, _)| k.as_str() != t)
            .filter_map(|(k, who)| {
                let s = k.as_str();
                let d = edit_distance(s, t);
                let prefix = t.len() >= 2 && (s.starts_with(t) || t.starts_with(s));
                (d <= 2 || prefix).then_some((d, usize::MAX - who.len(), k))
            })
            .collect();
        near.sort();
        near.dedup_by(|a, b| a.2 == b.2);
        near.into_iter()
            .take(MAX_SUGGESTIONS)
            .map(|(_, _, k)| k.clone())
            .collect()
    }
}

/// Whether every word appears in the name, bio or a resource description (case-insensitive).
fn text_matches(e: &Entry, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    let hay = format!(
        "{} {} {}",
        e.name,
        e.bio,
        e.resources
            .iter()
            .map(|(_, d)| d.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    )
    .to_lowercase();
    words.iter().all(|w| hay.contains(w))
}

fn drop_from(map: &mut HashMap<SkillTag, BTreeSet<PublicKey>>, t: &SkillTag, who: &PublicKey) {
    if let Some(set) = map.get_mut(t) {
        set.remove(who);
        if set.is_empty() {
            map.remove(t);
        }
    }
}

/// Levenshtein distance over characters, bounded work for tags (≤ 64 bytes).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use guild_core::fixtures::{identity, profile, tag, T0};

    fn index() -> (Index, Vec<PublicKey>) {
        let mut idx = Index::default();
        let mut keys = vec![];
        for (i, (name, skills)) in [
            ("ada", vec!["kicad", "pcb-design"]),
            ("bob", vec!["kicad"]),
            ("cy", vec!["rust", "embedded"]),
        ]
        .into_iter()
        .enumerate()
        {
            let id = identity(i as u8 + 1);
            let mut p = profile(&id, name, &skills, T0);
            if name == "bob" {
                p.skills[0].level = Level::Beginner;
            }
            idx.insert(id.public(), RecordId([i as u8; 32]), &p);
            keys.push(id.public());
        }
        (idx, keys)
    }

    #[test]
    fn ranks_by_fit_and_level_and_explains() {
        let (idx, keys) = index();
        let q = Query {
            skills: vec![tag("kicad"), tag("pcb-design")],
            limit: 10,
            ..Query::default()
        };
        let r = idx.find(&q, T0, |_| 0.5);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].peer, keys[0], "ada has both skills");
        assert_eq!(r[0].matched_skills.len(), 2);
        assert_eq!(r[1].peer, keys[1]);
        assert!(r[0].score > r[1].score);
        // Trust reorders among equal fits.
        let q1 = Query {
            skills: vec![tag("kicad")],
            limit: 10,
            ..Query::default()
        };
        let trusted_bob = idx.find(&q1, T0, |k| if *k == keys[1] { 1.0 } else { 0.0 });
        assert_eq!(trusted_bob[0].peer, keys[1]);
        // Limit.
        assert_eq!(idx.find(&Query { limit: 1, ..q }, T0, |_| 0.5).len(), 1);
    }

    #[test]
    fn text_filter_resources_and_expiry() {
        let (idx, keys) = index();
        let q = Query {
            skills: vec![tag("kicad")],
            text: Some("ADA builds".into()),
            limit: 10,
            ..Query::default()
        };
        let r = idx.find(&q, T0, |_| 0.5);
        assert_eq!(r.iter().map(|m| m.peer).collect::<Vec<_>>(), vec![keys[0]]);
        let q = Query {
            resources: vec![tag("3d-printer")],
            limit: 10,
            ..Query::default()
        };
        assert_eq!(idx.find(&q, T0, |_| 0.5).len(), 3);
        assert!(
            idx.find(&q, T0 + 8 * 86_400, |_| 0.5).is_empty(),
            "expired profiles never match"
        );
        assert_eq!(idx.expired(T0 + 8 * 86_400).len(), 3);
    }

    #[test]
    fn suggestions_for_typos_and_prefixes_are_separate() {
        let (idx, _) = index();
        assert_eq!(idx.suggestions(&tag("kicda")), vec![tag("kicad")]);
        assert_eq!(idx.suggestions(&tag("embed")), vec![tag("embedded")]);
        assert!(idx.suggestions(&tag("woodwork")).is_empty());
        let q = Query {
            skills: vec![tag("kicda")],
            limit: 10,
            ..Query::default()
        };
        assert!(
            idx.find(&q, T0, |_| 0.5).is_empty(),
            "suggestions are not mixed in"
        );
    }

    #[test]
    fn eviction_takes_the_oldest_and_spares_the_protected() {
        let mut idx = Index::default();
        let a = identity(1);
        let b = identity(2);
        let c = identity(3);
        idx.insert(
            a.public(),
            RecordId([97; 32]),
            &profile(&a, "a", &["x"], T0 - 10 * 86_400),
        );
        idx.insert(
            b.public(),
            RecordId([98; 32]),
            &profile(&b, "b", &["x"], T0 - 86_400),
        );
        idx.insert(
            c.public(),
            RecordId([99; 32]),
            &profile(&c, "c", &["x"], T0 - 2 * 86_400),
        );
        assert_eq!(idx.eviction_candidates(2, |_| false), vec![a.public()]);
        assert_eq!(
            idx.eviction_candidates(1, |_| false),
            vec![a.public(), c.public()]
        );
        assert_eq!(
            idx.eviction_candidates(2, |k| *k == a.public()),
            vec![c.public()],
            "a protected profile is never evicted"
        );
        idx.remove(&a.public());
        assert_eq!(idx.len(), 2);
        assert!(idx.eviction_candidates(5, |_| false).is_empty());
    }
}
