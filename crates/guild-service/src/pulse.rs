//! Reflection: the community's pulse per tag and each member's growth, kept up to date as
//! records arrive and expire, so a `pulse` call costs the tags × weeks it reports and never a scan
//! of the records.
//!
//! [`PulseState`] owns its maps and is tested alone. It counts *cohorts*: everything about a need
//! (its asks, the offers on it, its acceptance, its expiry unanswered, the time to its first
//! offer) is filed under the week the need was posted, per tag it asks for. These counters are
//! history — a need that expires leaves its counts behind — while "members with the tag" and the
//! gauges describe what is held now. History lives in memory: a restarted node rebuilds it from the
//! records it still holds.
//!
//! The time to a first offer is kept as a histogram per (tag, week) whose bins grow by √2 from one
//! minute ([`DELAY_BINS`] bins reach 5 years), so a median over any period merges a fixed number
//! of bins; it is exact to within a factor √2 and reported as the lower edge of its bin.
//!
//! Privacy (small counts hidden, no figure recoverable by subtraction) is applied when a report
//! is built: see [`guild_core::control::reflect`].

use crate::state::interner::Interner;
use crate::state::slab::IdSlab;
use crate::state::{HashMap, HashSet};
use guild_core::control::reflect::{
    month_of, protect_parts, week_of, week_start, CoWorker, CollabMonth, Figure, Growth, Lack,
    LevelVersion, NeedGauges, Pulse, PulseTotals, SkillMonth, TagKind, TagPulse, WeekPulse,
    MAX_LACKS, MAX_LEVEL_VERSIONS, MAX_PULSE_TAGS, MIN_SHOWN,
};
use guild_core::{Level, PublicKey, RecordId, SkillTag, UnixTime};
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Bins of the time-to-first-offer histogram: bin 0 is under a minute, bin `b ≥ 1` starts at
/// `60 · √2^(b−1)` seconds; the last holds everything longer.
pub const DELAY_BINS: usize = 48;
/// Weeks of history kept (two years and a margin: the longest period and the one before it).
pub const KEEP_WEEKS: u64 = 110;

/// The bin of a delay in seconds.
pub fn delay_bin(secs: u64) -> usize {
    if secs < 60 {
        return 0;
    }
    let b = 1 + (2.0 * (secs as f64 / 60.0).log2()).floor() as usize;
    b.min(DELAY_BINS - 1)
}

/// The lower edge of a bin, seconds.
pub fn bin_floor(bin: usize) -> u64 {
    if bin == 0 {
        return 0;
    }
    (60.0 * 2f64.powf((bin as f64 - 1.0) / 2.0)).ceil() as u64
}

/// A tag with its kind.
type Tag = (TagKind, SkillTag);

/// A need held here, as the pulse sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct NeedMark {
    week: u64,
    issued_at: UnixTime,
    tags: Vec<Tag>,
    offers: u32,
    first_offer: Option<UnixTime>,
    accepted: bool,
    /// Its asker withdrew it: no longer open, and its expiry says nothing about an answer.
    withdrawn: bool,
}

/// Counters of one tag in one week (the cohort of needs posted that week).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct TagWeek {
    asks: u64,
    offers: u64,
    accepted: u64,
    expired: u64,
    expired_unanswered: u64,
    #[serde(with = "delays_serde")]
    delays: Option<Box<[u32; DELAY_BINS]>>,
}

/// One tag: its weeks, and the members declaring it now.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct TagState {
    members: u64,
    weeks: BTreeMap<u64, TagWeek>,
}

/// The community in one week.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct WeekState {
    needs: u64,
    offers: u64,
    accepted: u64,
    expired_unanswered: u64,
    /// Ordinals (see `PulseState::first_seen`) of the members active that week.
    active: HashSet<u32>,
}

/// A member's current profile, as far as the pulse needs it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct ProfileMark {
    id: RecordId,
    tags: Vec<Tag>,
}

/// What a record brings to the pulse (built by the caller from the record, so this module
/// depends on no record plumbing).
#[derive(Debug, Clone)]
pub enum Arrival<'a> {
    /// A profile: the member's declared skills and resources.
    Profile {
        /// The profile's record id.
        id: RecordId,
        /// When it was issued.
        issued_at: UnixTime,
        /// Declared skills and levels.
        skills: Vec<(SkillTag, Level)>,
        /// Declared resource tags.
        resources: Vec<SkillTag>,
    },
    /// A need and the tags it asks for.
    Need {
        /// When it was posted.
        issued_at: UnixTime,
        /// Skills asked for.
        skills: &'a [SkillTag],
        /// Resources asked for.
        resources: &'a [SkillTag],
    },
    /// An offer on a need.
    Offer {
        /// The need answered.
        need: RecordId,
        /// When it was made.
        issued_at: UnixTime,
    },
    /// A collaboration opened on a need, with its founding members.
    Collaboration {
        /// The need it accepts offers on.
        need: RecordId,
        /// When it was opened.
        opened_at: UnixTime,
        /// Its founding members.
        members: Vec<PublicKey>,
    },
    /// Its asker withdrew a need (an authorised revocation).
    Withdrawal {
        /// The need.
        need: RecordId,
    },
    /// An attestation (counts as activity of its issuer).
    Attestation {
        /// When it was issued.
        issued_at: UnixTime,
    },
}

/// The pulse and growth indexes. Insert ([`PulseState::arrived`]) and remove
/// ([`PulseState::dropped`]) are side by side for each kind; public so the benchmark can drive it
/// alone, as `find_index` drives the find index.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PulseState {
    needs: HashMap<RecordId, NeedMark>,
    offers: HashMap<RecordId, RecordId>,
    tags: HashMap<Tag, TagState>,
    weeks: BTreeMap<u64, WeekState>,
    /// Per member seen: an ordinal (so the active members of many weeks are united in a
    /// bitmap, not a hash set) and the earliest record's time.
    first_seen: HashMap<PublicKey, (u32, UnixTime)>,
    first_seen_weeks: BTreeMap<u64, u64>,
    profiles: HashMap<PublicKey, ProfileMark>,
    levels: HashMap<PublicKey, VecDeque<LevelVersion>>,
    /// Collaborations held, each named by a handle: when opened and its founding members by
    /// slot in `collab_members` (two inline, the usual founding team, without an allocation).
    /// By id with 32-byte keys and boxed member lists these took 7 MB at 5·10^4.
    collabs: IdSlab<(UnixTime, SmallVec<[u32; 2]>)>,
    /// The members named by `collabs`.
    collab_members: Interner<PublicKey>,
    /// (member slot, opened at, collaboration handle): a member's collaborations. One B-tree
    /// of 16-byte keys, where a B-tree of (opened at, id) per member took 40 bytes a key.
    collabs_by_member: BTreeSet<(u32, UnixTime, u32)>,
    gauges: NeedGauges,
    pruned_week: u64,
}

fn need_tags(skills: &[SkillTag], resources: &[SkillTag]) -> Vec<Tag> {
    let mut tags: Vec<Tag> = skills
        .iter()
        .map(|s| (TagKind::Skill, s.clone()))
        .chain(resources.iter().map(|r| (TagKind::Resource, r.clone())))
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

impl PulseState {
    /// A saved state taken back at a start: the gauge counted "since this node started"
    /// starts again from zero.
    pub(crate) fn restarted(&mut self) {
        self.gauges.expired_unanswered = 0;
    }

    /// Needs held now.
    pub fn gauges(&self) -> NeedGauges {
        self.gauges
    }

    /// A record was stored (start-up load and intake alike). Idempotent per record id.
    pub fn arrived(&mut self, id: RecordId, signer: PublicKey, what: Arrival<'_>) {
        match what {
            Arrival::Profile {
                id: pid,
                issued_at,
                skills,
                resources,
            } => {
                self.active(signer, issued_at);
                self.profile_arrived(signer, pid, issued_at, skills, resources);
            }
            Arrival::Need {
                issued_at,
                skills,
                resources,
            } => {
                if self.needs.contains_key(&id) {
                    return;
                }
                self.active(signer, issued_at);
                let week = week_of(issued_at);
                let tags = need_tags(skills, resources);
                for t in &tags {
                    self.tag_week(t, week).asks += 1;
                }
                self.weeks.entry(week).or_default().needs += 1;
                self.gauges.open += 1;
                self.needs.insert(
                    id,
                    NeedMark {
                        week,
                        issued_at,
                        tags,
                        offers: 0,
                        first_offer: None,
                        accepted: false,
                        withdrawn: false,
                    },
                );
            }
            Arrival::Offer { need, issued_at } => {
                if self.offers.contains_key(&id) {
                    return;
                }
                let Some(mark) = self.needs.get_mut(&need) else {
                    return;
                };
                self.offers.insert(id, need);
                mark.offers += 1;
                let old = mark.first_offer;
                let first = old.map_or(issued_at, |f| f.min(issued_at));
                mark.first_offer = Some(first);
                let posted = mark.issued_at;
                let (week, tags) = (mark.week, mark.tags.clone());
                let old_bin = old.map(|f| delay_bin(f.saturating_sub(posted)));
                let new_bin = delay_bin(first.saturating_sub(posted));
                for t in &tags {
                    let tw = self.tag_week(t, week);
                    tw.offers += 1;
                    if old_bin != Some(new_bin) {
                        let h = tw.delays.get_or_insert_with(|| Box::new([0; DELAY_BINS]));
                        if let Some(b) = old_bin {
                            h[b] = h[b].saturating_sub(1);
                        }
                        h[new_bin] += 1;
                    }
                }
                self.weeks.entry(week).or_default().offers += 1;
            }
            Arrival::Collaboration {
                need,
                opened_at,
                members,
            } => {
                if self.collabs.handle(&id).is_some() {
                    return;
                }
                let slots: SmallVec<[u32; 2]> = members
                    .iter()
                    .map(|m| self.collab_members.acquire(m))
                    .collect();
                let h = self.collabs.insert(id, (opened_at, slots.clone()));
                for m in slots {
                    self.collabs_by_member.insert((m, opened_at, h));
                }
                let Some(mark) = self.needs.get_mut(&need) else {
                    return;
                };
                if mark.accepted {
                    return;
                }
                mark.accepted = true;
                let (week, tags, withdrawn) = (mark.week, mark.tags.clone(), mark.withdrawn);
                for t in &tags {
                    self.tag_week(t, week).accepted += 1;
                }
                self.weeks.entry(week).or_default().accepted += 1;
                if !withdrawn {
                    self.gauges.open = self.gauges.open.saturating_sub(1);
                }
                self.gauges.accepted += 1;
            }
            Arrival::Withdrawal { need } => {
                if let Some(mark) = self.needs.get_mut(&need) {
                    if !mark.withdrawn {
                        mark.withdrawn = true;
                        if !mark.accepted {
                            self.gauges.open = self.gauges.open.saturating_sub(1);
                        }
                    }
                }
            }
            Arrival::Attestation { issued_at } => self.active(signer, issued_at),
        }
    }

    /// A record left the store: `expired` when it was swept at or after its expiry (otherwise it
    /// was withdrawn or evicted, which says nothing about an answer). History stays.
    pub fn dropped(&mut self, id: &RecordId, signer: &PublicKey, expired: bool, now: UnixTime) {
        if let Some(mark) = self.needs.remove(id) {
            if mark.accepted {
                self.gauges.accepted = self.gauges.accepted.saturating_sub(1);
            } else if !mark.withdrawn {
                self.gauges.open = self.gauges.open.saturating_sub(1);
            }
            if expired && !mark.withdrawn {
                let unanswered = mark.offers == 0 && !mark.accepted;
                for t in &mark.tags {
                    let tw = self.tag_week(t, mark.week);
                    tw.expired += 1;
                    tw.expired_unanswered += u64::from(unanswered);
                }
                if unanswered {
                    self.weeks.entry(mark.week).or_default().expired_unanswered += 1;
                    self.gauges.expired_unanswered += 1;
                }
            }
        } else if self.offers.remove(id).is_some() {
        } else if let Some((h, (at, members))) = self.collabs.remove(id) {
            for m in members {
                self.collabs_by_member.remove(&(m, at, h));
                self.collab_members.release(m);
            }
        } else if self.profiles.get(signer).is_some_and(|p| p.id == *id) {
            if let Some(p) = self.profiles.remove(signer) {
                self.untag_member(&p.tags);
            }
            self.levels.remove(signer);
        }
        self.prune(now);
    }

    fn profile_arrived(
        &mut self,
        who: PublicKey,
        id: RecordId,
        issued_at: UnixTime,
        skills: Vec<(SkillTag, Level)>,
        resources: Vec<SkillTag>,
    ) {
        let names: Vec<SkillTag> = skills.iter().map(|(s, _)| s.clone()).collect();
        let tags = need_tags(&names, &resources);
        if let Some(old) = self.profiles.remove(&who) {
            self.untag_member(&old.tags);
        }
        for t in &tags {
            self.tags.entry(t.clone()).or_default().members += 1;
        }
        self.profiles.insert(who, ProfileMark { id, tags });
        let mut skills = skills;
        skills.sort();
        let versions = self.levels.entry(who).or_default();
        let newest = versions.back().map(|v| v.at);
        if versions.back().is_none_or(|v| v.skills != skills)
            && newest.is_none_or(|t| t < issued_at)
        {
            if versions.len() >= MAX_LEVEL_VERSIONS {
                versions.pop_front();
            }
            versions.push_back(LevelVersion {
                at: issued_at,
                skills,
            });
        }
    }

    fn untag_member(&mut self, tags: &[Tag]) {
        for t in tags {
            if let Some(s) = self.tags.get_mut(t) {
                s.members = s.members.saturating_sub(1);
                if s.members == 0 && s.weeks.is_empty() {
                    self.tags.remove(t);
                }
            }
        }
    }

    fn tag_week(&mut self, t: &Tag, week: u64) -> &mut TagWeek {
        self.tags
            .entry(t.clone())
            .or_default()
            .weeks
            .entry(week)
            .or_default()
    }

    /// A member issued a public record at `at`: active that week, and seen from then on.
    fn active(&mut self, who: PublicKey, at: UnixTime) {
        let next = self.first_seen.len() as u32;
        let (ord, first) = self.first_seen.entry(who).or_insert((next, UnixTime::MAX));
        self.weeks
            .entry(week_of(at))
            .or_default()
            .active
            .insert(*ord);
        if at < *first {
            if *first != UnixTime::MAX {
                let w = week_of(*first);
                if let Some(n) = self.first_seen_weeks.get_mut(&w) {
                    *n = n.saturating_sub(1);
                }
            }
            *first = at;
            *self.first_seen_weeks.entry(week_of(at)).or_default() += 1;
        }
    }

    /// Forgets weeks older than [`KEEP_WEEKS`], at most once a week (then it walks the tags).
    fn prune(&mut self, now: UnixTime) {
        let current = week_of(now);
        if current <= self.pruned_week {
            return;
        }
        self.pruned_week = current;
        let Some(oldest) = current.checked_sub(KEEP_WEEKS) else {
            return;
        };
        self.weeks = self.weeks.split_off(&oldest);
        self.tags.retain(|_, s| {
            s.weeks = s.weeks.split_off(&oldest);
            s.members > 0 || !s.weeks.is_empty()
        });
    }

    /// The pulse over the `weeks` whole weeks ending with the week of `now`.
    ///
    /// Long (about 180 lines) on purpose: sums per tag, the scarcity order, then the rules
    /// that hide small counts applied column by column, then the totals. Kept in one place so
    /// each privacy rule reads next to the figures it protects.
    pub fn report(&self, weeks: u64, now: UnixTime) -> Pulse {
        let last = week_of(now);
        let first = last + 1 - weeks.min(last + 1);
        let prev_first = first.saturating_sub(weeks);
        // Per tag: raw sums over the period and the previous one.
        struct Raw {
            tag: Tag,
            asks: u64,
            prev: u64,
            members: u64,
            offers: u64,
            accepted: u64,
            expired: u64,
            unanswered: u64,
            delays: [u64; DELAY_BINS],
        }
        let mut raws: Vec<Raw> = Vec::new();
        for (tag, s) in &self.tags {
            let mut r = Raw {
                tag: tag.clone(),
                asks: 0,
                prev: 0,
                members: s.members,
                offers: 0,
                accepted: 0,
                expired: 0,
                unanswered: 0,
                delays: [0; DELAY_BINS],
            };
            for (w, tw) in s.weeks.range(prev_first..=last) {
                if *w < first {
                    r.prev += tw.asks;
                    continue;
                }
                r.asks += tw.asks;
                r.offers += tw.offers;
                r.accepted += tw.accepted;
                r.expired += tw.expired;
                r.unanswered += tw.expired_unanswered;
                if let Some(h) = &tw.delays {
                    for (a, b) in r.delays.iter_mut().zip(h.iter()) {
                        *a += u64::from(*b);
                    }
                }
            }
            if r.asks > 0 || r.members > 0 {
                raws.push(r);
            }
        }
        // Scarcest first (asks per member, asks, tag); tags nobody declares go to `lacks`.
        let scarcity = |r: &Raw| r.asks as f64 / r.members.max(1) as f64;
        raws.sort_by(|a, b| {
            scarcity(b)
                .total_cmp(&scarcity(a))
                .then(b.asks.cmp(&a.asks))
                .then(a.tag.cmp(&b.tag))
        });
        let mut tags: Vec<TagPulse> = raws
            .iter()
            .map(|r| {
                let shown = |n: u64| Figure::of(n);
                let median = median_bin(&r.delays).map(bin_floor);
                TagPulse {
                    tag: r.tag.1.clone(),
                    kind: r.tag.0,
                    asks: shown(r.asks),
                    asks_previous: shown(r.prev),
                    members: shown(r.members),
                    offers: shown(r.offers),
                    accepted: shown(r.accepted),
                    expired_unanswered: shown(r.unanswered),
                    expired_share: (r.expired >= MIN_SHOWN)
                        .then(|| round3(r.unanswered as f64 / r.expired as f64)),
                    median_first_offer_secs: median,
                    scarcity: None,
                }
            })
            .collect();
        // Rule 2 within each column: the tags are parts of the period's totals.
        macro_rules! protect {
            ($raw:ident, $field:ident) => {{
                let raw: Vec<u64> = raws.iter().map(|r| r.$raw).collect();
                let mut col: Vec<Figure> = tags.iter().map(|t| t.$field).collect();
                protect_parts(&raw, &mut col);
                for (t, f) in tags.iter_mut().zip(col) {
                    t.$field = f;
                }
            }};
        }
        protect!(asks, asks);
        protect!(prev, asks_previous);
        protect!(offers, offers);
        protect!(accepted, accepted);
        protect!(unanswered, expired_unanswered);
        for t in &mut tags {
            t.scarcity = match (t.asks.shown(), t.members.shown()) {
                (Some(a), Some(m)) if m > 0 => Some(round3(a as f64 / m as f64)),
                _ => None,
            };
        }
        let mut lacks: Vec<Lack> = raws
            .iter()
            .zip(&tags)
            .filter(|(r, _)| r.members == 0 && r.asks > 0)
            .map(|(_, t)| Lack {
                tag: t.tag.clone(),
                kind: t.kind,
                asks: t.asks,
            })
            .collect();
        lacks.truncate(MAX_LACKS);
        tags.truncate(MAX_PULSE_TAGS);

        // The weekly series and the totals.
        let mut seen_before: u64 = self.first_seen_weeks.range(..first).map(|(_, n)| n).sum();
        let mut series = Vec::new();
        let (mut needs, mut offers, mut accepted, mut unanswered) = (0, 0, 0, 0);
        // Members active in a run of weeks: their ordinals united in a bitmap.
        let words = self.first_seen.len().div_ceil(64);
        let mut active_period = Bitmap::new(words);
        let (mut raw_needs, mut raw_offers) = (Vec::new(), Vec::new());
        for w in first..=last {
            seen_before += self.first_seen_weeks.get(&w).copied().unwrap_or(0);
            let s = self.weeks.get(&w);
            let n = s.map_or(0, |s| s.needs);
            let o = s.map_or(0, |s| s.offers);
            let active = s.map_or(0, |s| s.active.len() as u64);
            if let Some(s) = s {
                accepted += s.accepted;
                unanswered += s.expired_unanswered;
                active_period.extend(&s.active);
            }
            needs += n;
            offers += o;
            raw_needs.push(n);
            raw_offers.push(o);
            series.push(WeekPulse {
                start: week_start(w),
                needs: Figure::of(n),
                offers: Figure::of(o),
                members_seen: Figure::of(seen_before),
                members_active: part_of(active, seen_before),
            });
        }
        let mut col: Vec<Figure> = series.iter().map(|s| s.needs).collect();
        protect_parts(&raw_needs, &mut col);
        for (s, f) in series.iter_mut().zip(col) {
            s.needs = f;
        }
        let mut col: Vec<Figure> = series.iter().map(|s| s.offers).collect();
        protect_parts(&raw_offers, &mut col);
        for (s, f) in series.iter_mut().zip(col) {
            s.offers = f;
        }
        let mut prev_needs = 0;
        let mut active_prev = Bitmap::new(words);
        for (_, s) in self.weeks.range(prev_first..first) {
            prev_needs += s.needs;
            active_prev.extend(&s.active);
        }
        let totals = PulseTotals {
            needs: Figure::of(needs),
            needs_previous: Figure::of(prev_needs),
            offers: Figure::of(offers),
            accepted: Figure::of(accepted),
            expired_unanswered: Figure::of(unanswered),
            members_seen: Figure::of(seen_before),
            members_active: part_of(active_period.count, seen_before),
            members_active_previous: Figure::of(active_prev.count),
        };
        Pulse {
            from: week_start(first),
            until: now,
            weeks: last + 1 - first,
            tags,
            lacks,
            series,
            totals,
            needs_now: self.gauges,
        }
    }

    /// Fills the nodes of the B-tree of members' collaborations (after a load).
    pub(crate) fn compact(&mut self) {
        crate::state::small::compact(&mut self.collabs_by_member);
    }

    /// A member's declared levels and collaborations (attestations are the caller's: their
    /// status lives with the reputation indexes).
    pub fn growth_parts(
        &self,
        who: &PublicKey,
    ) -> (Vec<LevelVersion>, Vec<CollabMonth>, Vec<(PublicKey, u32)>) {
        let levels = self
            .levels
            .get(who)
            .map(|v| v.iter().cloned().collect())
            .unwrap_or_default();
        let mut months: BTreeMap<String, u32> = BTreeMap::new();
        let mut with: HashMap<PublicKey, u32> = HashMap::default();
        let theirs = self.collab_members.find(who).into_iter().flat_map(|w| {
            self.collabs_by_member
                .range((w, 0, 0)..=(w, UnixTime::MAX, u32::MAX))
        });
        for &(w, at, h) in theirs {
            *months.entry(month_of(at)).or_default() += 1;
            if let Some((_, members)) = self.collabs.get(h) {
                for &m in members.iter().filter(|&&m| m != w) {
                    *with.entry(*self.collab_members.key(m)).or_default() += 1;
                }
            }
        }
        let mut with: Vec<(PublicKey, u32)> = with.into_iter().collect();
        with.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let months = months
            .into_iter()
            .map(|(month, count)| CollabMonth { month, count })
            .collect();
        (levels, months, with)
    }
}

/// A set of member ordinals with its size.
struct Bitmap {
    words: Vec<u64>,
    count: u64,
}

impl Bitmap {
    fn new(words: usize) -> Bitmap {
        Bitmap {
            words: vec![0; words],
            count: 0,
        }
    }

    fn extend(&mut self, ords: &HashSet<u32>) {
        for o in ords {
            let (w, b) = ((*o / 64) as usize, 1u64 << (o % 64));
            if let Some(word) = self.words.get_mut(w) {
                if *word & b == 0 {
                    *word |= b;
                    self.count += 1;
                }
            }
        }
    }
}

/// A part of a shown whole: hidden under rule 1, and also when the rest is 1–4 (rule 2).
fn part_of(part: u64, whole: u64) -> Figure {
    let rest = whole.saturating_sub(part);
    if rest > 0 && rest < MIN_SHOWN {
        let mut f = Figure::of(part);
        f.hide();
        f
    } else {
        Figure::of(part)
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The bin of the (lower) median of a histogram, when it holds at least [`MIN_SHOWN`] values.
fn median_bin(h: &[u64; DELAY_BINS]) -> Option<usize> {
    let n: u64 = h.iter().sum();
    if n < MIN_SHOWN {
        return None;
    }
    let rank = (n - 1) / 2;
    let mut seen = 0;
    for (b, c) in h.iter().enumerate() {
        seen += c;
        if seen > rank {
            return Some(b);
        }
    }
    None
}

/// Builds a [`Growth`] from its parts (shared by the service and tests).
pub(crate) fn growth(
    peer: PublicKey,
    name: Option<String>,
    attestations: BTreeMap<(String, SkillTag), (u32, u32)>,
    parts: (Vec<LevelVersion>, Vec<CollabMonth>, Vec<(PublicKey, u32)>),
    name_of: impl Fn(&PublicKey) -> Option<String>,
) -> Growth {
    let (levels, collaborations, with) = parts;
    Growth {
        peer,
        name,
        attestations: attestations
            .into_iter()
            .map(|((month, skill), (positive, negative))| SkillMonth {
                skill,
                month,
                positive,
                negative,
            })
            .collect(),
        levels,
        collaborations,
        worked_with: with
            .into_iter()
            .map(|(peer, collaborations)| CoWorker {
                name: name_of(&peer),
                peer,
                collaborations,
            })
            .collect(),
    }
}

impl<S: crate::Storage> crate::Service<S> {
    /// Hook: a record was indexed (see `intake::index_record` and `index_profile`).
    pub(crate) fn pulse_arrived(&mut self, id: RecordId, record: &guild_core::AnyRecord) {
        use guild_core::AnyRecord as R;
        let what = match record {
            R::Profile(p) => return self.pulse_profile_as(id, p),
            R::Need(n) => Arrival::Need {
                issued_at: n.body.issued_at,
                skills: &n.body.skills,
                resources: &n.body.resources,
            },
            R::Offer(o) => Arrival::Offer {
                need: o.body.need,
                issued_at: o.body.issued_at,
            },
            R::Collaboration(c) => Arrival::Collaboration {
                need: c.body.need,
                opened_at: c.body.issued_at,
                members: c.body.members(),
            },
            R::Attestation(a) => Arrival::Attestation {
                issued_at: a.body.issued_at,
            },
            R::Revocation(r) if r.body.target_kind == guild_core::RecordKind::Need => {
                Arrival::Withdrawal {
                    need: r.body.target,
                }
            }
            R::Revocation(_) | R::CollabEntry(_) | R::Message(_) | R::Sponsorship(_) => return,
        };
        self.pulse.arrived(id, record.signer(), what);
        self.pulse_gauges();
    }

    /// Hook: a profile was indexed (see `intake::index_profile`).
    pub(crate) fn pulse_profile_as(
        &mut self,
        id: RecordId,
        p: &guild_core::Signed<guild_core::Profile>,
    ) {
        let what = Arrival::Profile {
            id,
            issued_at: p.body.issued_at,
            skills: p
                .body
                .skills
                .iter()
                .map(|s| (s.tag.clone(), s.level))
                .collect(),
            resources: p.body.resources.iter().map(|r| r.tag.clone()).collect(),
        };
        self.pulse.arrived(id, p.signer, what);
    }

    /// Hook: a record left the store (see `intake::drop_record`).
    pub(crate) fn pulse_dropped(
        &mut self,
        id: &RecordId,
        meta: &crate::state::Meta,
        now: UnixTime,
    ) {
        self.pulse
            .dropped(id, &meta.signer, now >= meta.expires_at, now);
        self.pulse_gauges();
    }

    fn pulse_gauges(&self) {
        let g = self.pulse.gauges();
        self.stats.needs_open.set(g.open as i64);
        self.stats.needs_accepted.set(g.accepted as i64);
        self.stats
            .needs_expired_unanswered
            .set(g.expired_unanswered as i64);
    }

    /// `pulse`.
    pub(crate) fn pulse_report(
        &self,
        p: &guild_core::control::reflect::PulseParams,
        now: UnixTime,
    ) -> Pulse {
        self.pulse.report(p.weeks(), now)
    }

    /// `growth`: work proportional to the member's attestations and collaborations.
    pub(crate) fn growth_report(&self, peer: Option<PublicKey>) -> Growth {
        let who = peer.unwrap_or(self.me);
        let mut atts: BTreeMap<(String, SkillTag), (u32, u32)> = BTreeMap::new();
        let atts_held = &self.state.attestations;
        for id in atts_held.about(&who) {
            let Some(a) = atts_held.get(id) else {
                continue;
            };
            if !atts_held.is_counted(id) {
                continue;
            }
            let e = atts
                .entry((month_of(a.issued_at), a.skill.clone()))
                .or_default();
            if a.score > 0 {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        let name_of = |k: &PublicKey| self.profiles.get(k).map(|e| e.name.clone());
        growth(
            who,
            name_of(&who),
            atts,
            self.pulse.growth_parts(&who),
            name_of,
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use guild_core::fixtures::{identity, tag};

    /// Monday 2026-01-05 00:00 UTC: week 0 of the fixture.
    const T0: UnixTime = 1_767_571_200;
    const DAY: u64 = 86_400;
    const WEEK: u64 = 7 * DAY;

    fn id(n: u32) -> RecordId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        RecordId(b)
    }

    fn profile(s: &mut PulseState, who: PublicKey, n: u32, at: UnixTime, skills: &[(&str, Level)]) {
        s.arrived(
            id(n),
            who,
            Arrival::Profile {
                id: id(n),
                issued_at: at,
                skills: skills.iter().map(|(t, l)| (tag(t), *l)).collect(),
                resources: vec![],
            },
        );
    }

    fn need(s: &mut PulseState, who: PublicKey, n: u32, at: UnixTime, skill: &str) {
        let skills = [tag(skill)];
        s.arrived(
            id(n),
            who,
            Arrival::Need {
                issued_at: at,
                skills: &skills,
                resources: &[],
            },
        );
    }

    /// Twelve members over ten weeks (January to March 2026): needs for `rust` (8 members have
    /// it), `kicad` (2) and `welding` (nobody), offers, two collaborations, expiries. Every
    /// expected figure below is worked out by hand from this story.
    #[test]
    fn a_fixture_community_gives_the_figures_worked_out_by_hand() {
        let k: Vec<PublicKey> = (1..=12).map(|i| identity(i).public()).collect();
        let mut s = PulseState::default();
        let mut n = 0u32;
        let mut next = || {
            n += 1;
            n
        };
        // Week 0: every member publishes a profile.
        for (i, who) in k.iter().enumerate() {
            let skills: &[(&str, Level)] = match i {
                0..=1 => &[("rust", Level::Intermediate), ("kicad", Level::Advanced)],
                2..=7 => &[("rust", Level::Advanced)],
                _ => &[("python", Level::Beginner)],
            };
            profile(&mut s, *who, next(), T0, skills);
        }
        // Week 6: five `rust` needs by k8..k11 (the previous period); they expire unanswered.
        let mut prev = vec![];
        for i in 0..5 {
            let nid = next();
            need(&mut s, k[8 + i % 4], nid, T0 + 6 * WEEK + DAY, "rust");
            prev.push(nid);
        }
        // Week 8: six `rust` needs (r0..r5) and two `kicad` needs, by k8..k11.
        let t8 = T0 + 8 * WEEK + DAY;
        let rust: Vec<u32> = (0..6)
            .map(|i| {
                let nid = next();
                need(&mut s, k[8 + i % 4], nid, t8, "rust");
                nid
            })
            .collect();
        let kicad: Vec<u32> = (0..2)
            .map(|i| {
                let nid = next();
                need(&mut s, k[10 + i], nid, t8, "kicad");
                nid
            })
            .collect();
        // First offers after 10 min, 30 min, 2 h, 5 h and 1 day on r0..r4; a second, later
        // offer on r0; none on r5. The same offer arriving twice counts once.
        for (i, delay) in [600, 1800, 7200, 18_000, 86_400].iter().enumerate() {
            let oid = next();
            let what = Arrival::Offer {
                need: id(rust[i]),
                issued_at: t8 + delay,
            };
            s.arrived(id(oid), k[2 + i], what.clone());
            s.arrived(id(oid), k[2 + i], what);
        }
        let late = next();
        let what = Arrival::Offer {
            need: id(rust[0]),
            issued_at: t8 + 2 * DAY,
        };
        s.arrived(id(late), k[7], what);
        // r0 and r1 accepted; k0 also worked with k9 in January (a collaboration on a need this
        // node never held: it counts for growth only).
        for (i, need) in [(0usize, rust[0]), (1, rust[1])] {
            let cid = next();
            s.arrived(
                id(cid),
                k[8 + i],
                Arrival::Collaboration {
                    need: id(need),
                    opened_at: t8 + DAY,
                    members: vec![k[8 + i], k[2 + i]],
                },
            );
        }
        let january = next();
        s.arrived(
            id(january),
            k[9],
            Arrival::Collaboration {
                need: id(9999),
                opened_at: T0 + 2 * DAY,
                members: vec![k[9], k[2]],
            },
        );
        assert_eq!(
            s.gauges(),
            NeedGauges {
                open: 11,
                accepted: 2,
                expired_unanswered: 0
            }
        );
        // Week 9: five `welding` needs by k2..k6, and k0 vouches for someone.
        let t9 = T0 + 9 * WEEK + DAY;
        for i in 0..5 {
            let nid = next();
            need(&mut s, k[2 + i], nid, t9, "welding");
        }
        let att = next();
        s.arrived(id(att), k[0], Arrival::Attestation { issued_at: t9 });
        // The needs of weeks 6 and 8 expire and are swept (default lifetime: 7 days).
        let now = T0 + 9 * WEEK + 2 * DAY;
        for nid in prev.iter().chain(&rust).chain(&kicad) {
            s.dropped(&id(*nid), &k[8], true, now);
        }
        assert_eq!(
            s.gauges(),
            NeedGauges {
                open: 5,
                accepted: 0,
                expired_unanswered: 5 + 1 + 2
            }
        );

        // The period: weeks 8 and 9; the previous one: weeks 6 and 7.
        let p = s.report(2, now);
        assert_eq!(p.from, T0 + 8 * WEEK);
        assert_eq!(p.weeks, 2);
        let by = |t: &str| p.tags.iter().find(|x| x.tag == tag(t)).unwrap().clone();
        let hidden = Figure::of(1);
        // Scarcest first: welding (5 asks, no member), kicad (2/2), rust (6/8), python (0/4).
        let order: Vec<&str> = p.tags.iter().map(|t| t.tag.as_str()).collect();
        assert_eq!(order, vec!["welding", "kicad", "rust", "python"]);
        let r = by("rust");
        assert_eq!(r.asks, Figure::Shown(6));
        assert_eq!(r.asks_previous, Figure::Shown(5));
        assert_eq!(r.members, Figure::Shown(8));
        assert_eq!(r.offers, Figure::Shown(6));
        assert_eq!(r.accepted, hidden, "2 accepted: fewer than 5");
        assert_eq!(r.expired_unanswered, hidden, "only r5 expired unanswered");
        assert_eq!(r.expired_share, Some(0.167), "1 of 6 expired");
        // Delays 600, 1800, 7200, 18000, 86400: the median is 7200 s, in the bin starting at
        // 60·√2^13 = 5430.6 s.
        assert_eq!(r.median_first_offer_secs, Some(5431));
        assert_eq!(r.scarcity, Some(0.75));
        let kc = by("kicad");
        assert_eq!((kc.asks, kc.members, kc.scarcity), (hidden, hidden, None));
        assert_eq!(kc.median_first_offer_secs, None);
        // Welding's 5 asks would be the only other non-zero ask: kicad's 2 = 13 − 6 − 5, so
        // welding's are hidden too (rule 2).
        let w = by("welding");
        assert_eq!((w.asks, w.members), (hidden, Figure::Shown(0)));
        assert_eq!(p.lacks.len(), 1);
        assert_eq!(p.lacks[0].tag, tag("welding"));
        assert_eq!(by("python").members, hidden);

        assert_eq!(p.totals.needs, Figure::Shown(13));
        assert_eq!(p.totals.needs_previous, Figure::Shown(5));
        assert_eq!(p.totals.offers, Figure::Shown(6));
        assert_eq!(p.totals.accepted, hidden);
        assert_eq!(p.totals.expired_unanswered, hidden, "r5 and two kicad: 3");
        assert_eq!(p.totals.members_seen, Figure::Shown(12));
        // Active in the period: k8..k11, k2..k6 and k0 = 10 of 12; 12 − 10 = 2 would single out
        // two members, so it is hidden.
        assert_eq!(p.totals.members_active, hidden);
        assert_eq!(p.totals.members_active_previous, hidden, "k8..k11: 4");
        assert_eq!(p.series.len(), 2);
        assert_eq!(p.series[0].needs, Figure::Shown(8));
        assert_eq!(p.series[0].offers, Figure::Shown(6));
        assert_eq!(p.series[0].members_active, hidden, "k8..k11: 4");
        assert_eq!(p.series[1].needs, Figure::Shown(5));
        assert_eq!(p.series[1].offers, Figure::Shown(0));
        assert_eq!(
            p.series[1].members_active,
            Figure::Shown(6),
            "k2..k6 and k0"
        );
        assert_eq!(p.series[1].members_seen, Figure::Shown(12));

        // Growth of k2: collaborations in January (with k9) and March (with k8).
        let (_, months, with) = s.growth_parts(&k[2]);
        assert_eq!(
            months,
            vec![
                CollabMonth {
                    month: "2026-01".into(),
                    count: 1
                },
                CollabMonth {
                    month: "2026-03".into(),
                    count: 1
                }
            ]
        );
        let mut expect = vec![(k[8], 1), (k[9], 1)];
        expect.sort_by_key(|a| a.0);
        assert_eq!(with, expect);
    }

    fn collab(s: &mut PulseState, n: u32, at: UnixTime, members: &[PublicKey]) {
        s.arrived(
            id(n),
            members[0],
            Arrival::Collaboration {
                need: id(0),
                opened_at: at,
                members: members.to_vec(),
            },
        );
    }

    /// A member's collaborations by month, and with whom.
    type MonthsAndWith = (Vec<(String, u32)>, Vec<(PublicKey, u32)>);

    fn months_and_with(s: &PulseState, who: &PublicKey) -> MonthsAndWith {
        let (_, months, with) = s.growth_parts(who);
        (
            months.into_iter().map(|m| (m.month, m.count)).collect(),
            with,
        )
    }

    #[test]
    fn a_members_collaborations_come_and_go_by_handle_and_a_reused_one_names_only_its_own() {
        let k: Vec<PublicKey> = (1..=6).map(|i| identity(i).public()).collect();
        let mut s = PulseState::default();
        collab(&mut s, 100, T0, &[k[0], k[1]]);
        collab(&mut s, 101, T0 + 40 * DAY, &[k[0], k[2], k[1]]);
        collab(&mut s, 101, T0 + 40 * DAY, &[k[0], k[2], k[1]]); // again: idempotent
        let mut with = vec![(k[1], 2), (k[2], 1)];
        with.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(
            months_and_with(&s, &k[0]),
            (vec![("2026-01".into(), 1), ("2026-02".into(), 1)], with)
        );
        // The first goes: its handle is free, and taken by a collaboration of others.
        s.dropped(&id(100), &k[0], true, T0 + 41 * DAY);
        collab(&mut s, 102, T0 + 42 * DAY, &[k[4], k[5]]);
        let mut with = vec![(k[1], 1), (k[2], 1)];
        with.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(
            months_and_with(&s, &k[0]),
            (vec![("2026-02".into(), 1)], with)
        );
        assert_eq!(
            months_and_with(&s, &k[4]),
            (vec![("2026-02".into(), 1)], vec![(k[5], 1)])
        );
        assert_eq!(months_and_with(&s, &k[3]), (vec![], vec![]), "never in one");
        s.dropped(&id(101), &k[0], true, T0 + 43 * DAY);
        s.dropped(&id(102), &k[4], true, T0 + 43 * DAY);
        for who in &k {
            assert_eq!(months_and_with(&s, who), (vec![], vec![]));
        }
        assert!(s.collabs_by_member.is_empty());
        assert_eq!((s.collabs.len(), s.collab_members.len()), (0, 0));
    }

    #[test]
    fn declared_levels_are_recorded_as_profile_versions_arrive_and_bounded() {
        let me = identity(1).public();
        let mut s = PulseState::default();
        profile(&mut s, me, 1, T0, &[("rust", Level::Intermediate)]);
        // The same skills re-signed: no new version.
        profile(&mut s, me, 2, T0 + DAY, &[("rust", Level::Intermediate)]);
        profile(&mut s, me, 3, T0 + 40 * DAY, &[("rust", Level::Advanced)]);
        let (levels, _, _) = s.growth_parts(&me);
        let shown: Vec<(UnixTime, Level)> = levels.iter().map(|v| (v.at, v.skills[0].1)).collect();
        assert_eq!(
            shown,
            vec![(T0, Level::Intermediate), (T0 + 40 * DAY, Level::Advanced)]
        );
        for i in 0..100u32 {
            let level = if i % 2 == 0 {
                Level::Expert
            } else {
                Level::Beginner
            };
            profile(
                &mut s,
                me,
                10 + i,
                T0 + 50 * DAY + u64::from(i),
                &[("rust", level)],
            );
        }
        assert_eq!(s.growth_parts(&me).0.len(), MAX_LEVEL_VERSIONS);
        // Members with the tag: one, however many versions.
        let p = s.report(1, T0 + 60 * DAY);
        assert_eq!(p.tags[0].members, Figure::of(1));
        // The profile expires: the member and the history go.
        s.dropped(&id(109), &me, true, T0 + 70 * DAY);
        assert!(s.growth_parts(&me).0.is_empty());
        assert!(s.report(1, T0 + 70 * DAY).tags.is_empty());
    }

    #[test]
    fn an_earlier_offer_arriving_later_moves_the_first_offer_delay() {
        let who = identity(1).public();
        let mut s = PulseState::default();
        for n in 0..5u32 {
            need(&mut s, who, n, T0, "rust");
            s.arrived(
                id(100 + n),
                who,
                Arrival::Offer {
                    need: id(n),
                    issued_at: T0 + 86_400,
                },
            );
        }
        let day_bin = bin_floor(delay_bin(86_400));
        assert_eq!(
            s.report(1, T0).tags[0].median_first_offer_secs,
            Some(day_bin)
        );
        for n in 0..3u32 {
            s.arrived(
                id(200 + n),
                who,
                Arrival::Offer {
                    need: id(n),
                    issued_at: T0 + 120,
                },
            );
        }
        // Three of five first offers now came after two minutes: 120 s is in the bin of
        // 60·√2^2 = 120 s.
        assert_eq!(s.report(1, T0).tags[0].median_first_offer_secs, Some(120));
        assert_eq!(s.report(1, T0).tags[0].offers, Figure::Shown(8));
    }

    #[test]
    fn a_withdrawn_need_is_not_open_and_its_expiry_is_not_unanswered() {
        let who = identity(1).public();
        let mut s = PulseState::default();
        for n in 0..6u32 {
            need(&mut s, who, n, T0, "rust");
        }
        s.arrived(id(100), who, Arrival::Withdrawal { need: id(0) });
        s.arrived(id(100), who, Arrival::Withdrawal { need: id(0) });
        assert_eq!(s.gauges().open, 5);
        for n in 0..6u32 {
            s.dropped(&id(n), &who, true, T0 + 8 * DAY);
        }
        assert_eq!(
            s.gauges(),
            NeedGauges {
                open: 0,
                accepted: 0,
                expired_unanswered: 5
            }
        );
        let p = s.report(2, T0 + 8 * DAY);
        assert_eq!(
            p.tags[0].asks,
            Figure::Shown(6),
            "it was asked all the same"
        );
        assert_eq!(p.tags[0].expired_unanswered, Figure::Shown(5));
        assert_eq!(
            p.tags[0].expired_share,
            Some(1.0),
            "5 of the 5 that expired"
        );
    }

    #[test]
    fn delay_bins_grow_by_the_square_root_of_two() {
        assert_eq!(delay_bin(0), 0);
        assert_eq!(delay_bin(59), 0);
        assert_eq!(delay_bin(60), 1);
        assert_eq!(bin_floor(1), 60);
        assert_eq!(bin_floor(3), 120);
        for b in 1..DELAY_BINS - 1 {
            assert_eq!(delay_bin(bin_floor(b)), b, "bin {b}");
            assert_eq!(delay_bin(bin_floor(b + 1) - 1), b, "bin {b}");
        }
        assert_eq!(delay_bin(u64::MAX), DELAY_BINS - 1);
    }
}

/// A tag's week of answer delays, encoded as a sequence (serde's arrays stop at 32).
mod delays_serde {
    use super::DELAY_BINS;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        v: &Option<Box<[u32; DELAY_BINS]>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.as_deref().map(|bins| &bins[..]).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Box<[u32; DELAY_BINS]>>, D::Error> {
        let v: Option<Vec<u32>> = Deserialize::deserialize(d)?;
        v.map(|bins| {
            <Box<[u32; DELAY_BINS]>>::try_from(bins.into_boxed_slice())
                .map_err(|b| serde::de::Error::invalid_length(b.len(), &"one count per delay bin"))
        })
        .transpose()
    }
}
