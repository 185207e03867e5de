//! The find index over stored profiles: who declares which skill or resource, and which words
//! their names and bios use; the query language people type; and ranking with its explanation.
//!
//! **Query.** Every word of a query is matched against skill tags, resource tags and the words
//! of names and bios (two adjacent words also as one tag: `pcb design` → `pcb-design`). A word
//! matches a tag exactly, as a prefix (`pcb` → `pcb-design`), or within a small edit distance
//! (`kikad` → `kicad`: one edit for words of 4–7 characters, two from 8), found with a
//! Levenshtein automaton over the tag vocabulary (the `fst` crate, rebuilt when the vocabulary
//! changes); and a name or bio word exactly or as a prefix. Typed filters (`skills`,
//! `resources`, `text`) are requirements every result meets.
//!
//! **Ranking.** *Fit* is the mean over query words of the best way each matched (exact 1.0 >
//! prefix 0.75 > typo 0.55 > name/bio word 0.45 > word prefix 0.35). Results are ordered by fit;
//! within equal fit, members this node has a trust path to come before strangers; then by trust
//! (bucketed, so that a self-declared level only orders members of similar trust), then level,
//! availability and freshness. Strangers are reported without a trust value, never as "0.5".
//!
//! The maps are persistent (`imbl`): cloning the index for a reader snapshot is O(1), and an
//! update costs O(log n) plus the tags and words of the profile it touches.

use arc_swap::ArcSwapOption;
use fst::automaton::Levenshtein;
use fst::{IntoStreamer, Streamer};
use guild_core::{Level, Profile, PublicKey, RecordId, SkillTag, UnixTime};
use imbl::{HashMap as PHashMap, OrdMap, OrdSet, Vector};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Freshness half-life: a profile issued this long ago counts half as much as a new one.
pub const FRESHNESS_HALF_LIFE: u64 = 7 * 86_400;
/// Most near-miss suggestions returned per unmatched word.
pub const MAX_SUGGESTIONS: usize = 5;
/// Most tags one word can expand to by prefix or typo (the closest are kept).
pub const MAX_EXPANSIONS: usize = 16;
/// Most words of one query.
pub const MAX_QUERY_WORDS: usize = 12;
/// Most name and bio words indexed per member.
pub const MAX_WORDS_PER_PROFILE: usize = 256;

/// Fit of each way a word can match.
pub mod weight {
    /// The word is the tag.
    pub const EXACT: f64 = 1.0;
    /// The word starts the tag.
    pub const PREFIX: f64 = 0.75;
    /// The word is a small edit away from the tag.
    pub const TYPO: f64 = 0.55;
    /// The word is in the member's name or bio.
    pub const WORD: f64 = 0.45;
    /// The word starts a word of the name or bio.
    pub const WORD_PREFIX: f64 = 0.35;
}

/// What the index keeps per member.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Display name.
    pub name: String,
    /// Bio.
    pub bio: String,
    /// Skills and levels.
    pub skills: Vec<(SkillTag, Level)>,
    /// Resource tags with descriptions and availability.
    pub resources: Vec<(SkillTag, String, String)>,
    /// When the profile was issued.
    pub issued_at: UnixTime,
    /// When it expires.
    pub expires_at: UnixTime,
    /// The profile's record id.
    pub id: RecordId,
    /// Lowercased words of the name, bio and resource descriptions.
    words: BTreeSet<String>,
    /// The member.
    key: PublicKey,
    /// The member's peer id as shown (base58), encoded once here rather than in every answer.
    peer_id: PeerIdText,
    /// The member's ordinal in the index (see [`Index`]).
    ord: u32,
    /// No skill tag appears twice (as in every valid profile): a match can then be scored from
    /// the postings alone.
    plain: bool,
}

impl Entry {
    fn from_profile(key: PublicKey, ord: u32, id: RecordId, p: &Profile) -> Entry {
        let mut words = BTreeSet::new();
        let texts = std::iter::once(p.name.as_str())
            .chain(std::iter::once(p.bio.as_str()))
            .chain(p.resources.iter().map(|r| r.description.as_str()));
        for t in texts {
            for w in tokens(t) {
                if words.len() >= MAX_WORDS_PER_PROFILE {
                    break;
                }
                words.insert(w);
            }
        }
        Entry {
            id,
            name: p.name.clone(),
            bio: p.bio.clone(),
            skills: p.skills.iter().map(|s| (s.tag.clone(), s.level)).collect(),
            resources: p
                .resources
                .iter()
                .map(|r| (r.tag.clone(), r.description.clone(), r.availability.clone()))
                .collect(),
            issued_at: p.issued_at,
            expires_at: p.expires_at,
            words,
            key,
            peer_id: PeerIdText::new(&key.to_string()),
            ord,
            plain: p
                .skills
                .iter()
                .enumerate()
                .all(|(i, s)| p.skills[..i].iter().all(|o| o.tag != s.tag)),
        }
    }
}

/// A peer id as shown (base58), held inline: copying it into a result writes to no memory that
/// other threads share (a clone of an `Arc<str>` would, to its count, on every result of every
/// query). A peer id of an ed25519 key is 52 characters; longer text is cut at 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PeerIdText {
    len: u8,
    bytes: [u8; 64],
}

impl PeerIdText {
    /// Holds `text` (its first 64 bytes, cut at a character boundary).
    pub fn new(text: &str) -> PeerIdText {
        let mut len = text.len().min(64);
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0u8; 64];
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        PeerIdText {
            len: len as u8,
            bytes,
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Always valid: `new` copies whole characters.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::ops::Deref for PeerIdText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for PeerIdText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for PeerIdText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for PeerIdText {
    fn from(text: &str) -> PeerIdText {
        PeerIdText::new(text)
    }
}

impl From<String> for PeerIdText {
    fn from(text: String) -> PeerIdText {
        PeerIdText::new(&text)
    }
}

/// Lowercased alphanumeric words of a text (keeping `-`, `+` and `#` inside words, so `c++`,
/// `c#` and `3d-printer` survive).
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '+' || c == '#'))
        .map(|w| w.trim_matches('-').to_lowercase())
        .filter(|w| w.chars().count() >= 2)
}

/// Corroboration: how many more places than one (skill, resource, text) each query word was
/// found in, summed over the words.
fn corroboration<'a>(
    terms: &[(String, usize, usize)],
    entries: impl Iterator<Item = &'a (usize, Field, String, How)>,
) -> usize {
    // Per word position, a bit per place.
    let mut places = [0u8; MAX_QUERY_WORDS];
    for (ti, field, _, _) in entries {
        let (_, a, _) = &terms[*ti];
        if let Some(p) = places.get_mut(*a) {
            *p |= match field {
                Field::Skill => 1,
                Field::Resource => 2,
                Field::Text => 4,
            };
        }
    }
    places
        .iter()
        .map(|p| (p.count_ones() as usize).saturating_sub(1))
        .sum()
}

/// Freshness of a profile at `now`, in `(0, 1]`.
fn freshness(issued_at: UnixTime, now: UnixTime) -> f64 {
    let age = now.saturating_sub(issued_at) as f64;
    0.5f64.powf(age / FRESHNESS_HALF_LIFE as f64)
}

/// The overall score: fit strictly first, then a trust path, trust, and the small factors.
fn score(
    fit: f64,
    t: Option<f64>,
    support: f64,
    level: f64,
    availability: f64,
    freshness: f64,
) -> f64 {
    let tv = t.unwrap_or(0.0).clamp(0.0, 1.0);
    100.0 * fit
        + if t.is_some() { 10.0 } else { 0.0 }
        + 5.0 * (tv * 10.0).round() / 10.0
        + 0.5 * support
        + 0.3 * level
        + 0.1 * availability
        + 0.1 * freshness
}

/// Whether two tags name closely related things: they share a leading part of at least five
/// characters covering most of the shorter one (`3d-printer` / `3d-printing`, `laser-cutter` /
/// `laser-cutting`).
fn related_tags(a: &str, b: &str) -> bool {
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let shorter = a.chars().count().min(b.chars().count());
    common >= 5 && common * 10 >= shorter * 7
}

/// A query.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// What the person typed: each word is matched against tags, names and bios.
    pub words: Option<String>,
    /// Skills every result must have (exact tags).
    pub skills: Vec<SkillTag>,
    /// Resources every result must list (exact tags).
    pub resources: Vec<SkillTag>,
    /// Words every result's name, bio or resource descriptions must contain.
    pub text: Option<String>,
    /// Most results.
    pub limit: usize,
}

/// Where a query word matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// A skill tag.
    Skill,
    /// A resource tag.
    Resource,
    /// A word of the name, bio or a resource description.
    Text,
}

/// How a query word matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// The same tag.
    Exact,
    /// The word starts the tag.
    Prefix,
    /// A small edit away.
    Typo,
    /// The same word.
    Word,
    /// The word starts a word of the text.
    WordPrefix,
    /// A skill closely related to a matched resource (shown, not weighted as fit).
    Related,
}

impl How {
    const fn weight(self) -> f64 {
        match self {
            How::Exact => weight::EXACT,
            How::Prefix => weight::PREFIX,
            How::Typo => weight::TYPO,
            How::Word => weight::WORD,
            How::WordPrefix => weight::WORD_PREFIX,
            How::Related => 0.0,
        }
    }

    /// A small code ordered as the weights are (0: no match), indexing [`CODE_WEIGHT`].
    const fn code(self) -> u8 {
        match self {
            How::Exact => 5,
            How::Prefix => 4,
            How::Typo => 3,
            How::Word => 2,
            How::WordPrefix => 1,
            How::Related => 0,
        }
    }
}

/// The weight of each [`How::code`].
const CODE_WEIGHT: [f64; 6] = [
    0.0,
    How::WordPrefix.weight(),
    How::Word.weight(),
    How::Typo.weight(),
    How::Prefix.weight(),
    How::Exact.weight(),
];

thread_local! {
    /// The buffers of [`Index::search`] on this thread, kept from query to query.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Working memory of one search: candidates and their hits, found through a dense table by
/// profile ordinal. Reused, so a query allocates nothing per candidate. The table is never
/// cleared: an entry is believed only when the candidate it points to has that ordinal (a
/// sparse set).
#[derive(Default)]
struct Scratch {
    /// Per profile ordinal: its candidate index, if `cands` agrees.
    mark: Vec<u32>,
    /// Per candidate: ordinal, and the best [`How::code`] per query word position.
    cands: Vec<(u32, [u8; MAX_QUERY_WORDS])>,
    /// (candidate, dictionary entry, level of a skill), one block per dictionary entry (blocks
    /// need not come in dictionary order: see `blocks`).
    pairs: Vec<(u32, u32, SkillAt)>,
    /// Per dictionary entry: where its block of `pairs` starts and ends.
    blocks: Vec<(u32, u32)>,
    /// Dictionary entries hit, grouped by candidate (ascending within each).
    hit_ids: Vec<u32>,
    /// The level and profile position of each hit in `hit_ids` (read for skill hits only).
    hit_levels: Vec<SkillAt>,
    /// Where each candidate's hits start in `hit_ids` (one more entry than candidates).
    starts: Vec<u32>,
    /// Fit per candidate.
    fits: Vec<f64>,
}

impl Scratch {
    /// Readies the buffers for a query over ordinals below `ordinals`.
    fn start(&mut self, ordinals: usize) {
        if self.mark.len() < ordinals {
            self.mark.resize(ordinals, 0);
        }
        self.cands.clear();
        self.pairs.clear();
        self.blocks.clear();
        self.hit_ids.clear();
        self.hit_levels.clear();
        self.starts.clear();
        self.fits.clear();
    }

    /// The candidate index of a profile ordinal, if it is one.
    fn existing(&self, ord: u32) -> Option<u32> {
        let c = *self.mark.get(ord as usize)?;
        self.cands
            .get(c as usize)
            .is_some_and(|(o, _)| *o == ord)
            .then_some(c)
    }

    /// The candidate index of a profile ordinal, added if new.
    fn candidate(&mut self, ord: u32) -> u32 {
        let i = ord as usize;
        if i >= self.mark.len() {
            self.mark.resize(i + 1, 0);
        }
        let c = self.mark[i];
        if self.cands.get(c as usize).is_some_and(|(o, _)| *o == ord) {
            return c;
        }
        let c = self.cands.len() as u32;
        self.mark[i] = c;
        self.cands.push((ord, [0; MAX_QUERY_WORDS]));
        c
    }

    /// Groups `pairs` by candidate into `hit_ids`/`starts` (a counting sort over the blocks in
    /// dictionary order: stable, so each candidate's hits are in dictionary order).
    fn group_hits(&mut self) {
        let n = self.cands.len();
        self.starts.resize(n + 1, 0);
        for (c, _, _) in &self.pairs {
            self.starts[*c as usize] += 1;
        }
        let mut sum = 0u32;
        for s in self.starts.iter_mut().take(n) {
            sum += *s;
            *s = sum; // the end of this candidate's hits, for now
        }
        self.starts[n] = sum;
        self.hit_ids.resize(self.pairs.len(), 0);
        self.hit_levels
            .resize(self.pairs.len(), (Level::Beginner, 0));
        for &(from, to) in self.blocks.iter().rev() {
            for (c, di, level) in self.pairs[from as usize..to as usize].iter().rev() {
                let s = &mut self.starts[*c as usize];
                *s -= 1;
                self.hit_ids[*s as usize] = *di;
                self.hit_levels[*s as usize] = *level;
            }
        }
    }

    /// The level (and profile position) of each of a candidate's hits.
    fn hit_levels(&self, c: u32) -> &[SkillAt] {
        let c = c as usize;
        &self.hit_levels[self.starts[c] as usize..self.starts[c + 1] as usize]
    }

    /// The dictionary entries a candidate hit.
    fn hits(&self, c: u32) -> &[u32] {
        let c = c as usize;
        &self.hit_ids[self.starts[c] as usize..self.starts[c + 1] as usize]
    }
}

/// One query word matched one term of a member's profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matched {
    /// The word (or two words) as typed.
    pub word: String,
    /// Where it matched.
    pub field: Field,
    /// The tag or word it matched.
    pub term: String,
    /// How.
    pub how: How,
}

/// One ranked match.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Match {
    /// The member.
    pub peer: PublicKey,
    /// `peer` as shown (base58 peer id; the index keeps it, so answers need not encode it).
    #[serde(skip)]
    pub peer_id: PeerIdText,
    /// Display name.
    pub name: String,
    /// Overall score (higher is better; the order is fit, then trust path, then trust).
    pub score: f64,
    /// How well the profile matches the words, in `[0, 1]`.
    pub fit: f64,
    /// This node's trust in the member for the matched skills (general trust when no skill
    /// matched), normalised to `[0, 1]`; `None` for a stranger (no trust path).
    pub trust: Option<f64>,
    /// Freshness in `(0, 1]`.
    pub freshness: f64,
    /// Availability of the matched resources in `[0.8, 1]` (1 when a matched resource says
    /// when it is available, or when no resource matched).
    pub availability: f64,
    /// The declared level of the best matched skill, as a weight in `[0.25, 1]` (0 when no
    /// skill matched).
    pub level: f64,
    /// What matched and how.
    pub matched: Vec<Matched>,
    /// Matched skills with their declared levels.
    pub matched_skills: Vec<(SkillTag, Level)>,
    /// Matched resources.
    pub matched_resources: Vec<SkillTag>,
    /// When the profile was issued.
    pub issued_at: UnixTime,
}

/// The ranking factors of one candidate, and what of its profile the query matched.
struct Factors<'a> {
    entry: &'a Entry,
    q: &'a Query,
    dict: &'a [(usize, Field, String, How)],
    hits: &'a [u32],
    /// Whether any resource of the profile matched (if not, no skill can be "related").
    any_resource: bool,
    fit: f64,
    trust: Option<f64>,
    level: f64,
    availability: f64,
    freshness: f64,
    score: f64,
}

impl Factors<'_> {
    fn hit(&self, field: Field, term: &str) -> bool {
        self.hits.iter().any(|di| {
            self.dict
                .get(*di as usize)
                .is_some_and(|(_, f, t, _)| *f == field && t == term)
        })
    }

    /// Whether a skill of the profile was matched (by a word or a filter).
    fn skill_matched(&self, s: &SkillTag) -> bool {
        self.q.skills.contains(s) || self.hit(Field::Skill, s.as_str())
    }

    /// Whether a resource of the profile was matched.
    fn resource_matched(&self, r: &SkillTag) -> bool {
        self.q.resources.contains(r) || self.hit(Field::Resource, r.as_str())
    }

    /// Whether an unmatched skill is closely related to a matched resource (`3d-printing` for
    /// `3d-printer`): the person behind the machine.
    fn related(&self, s: &SkillTag) -> bool {
        self.any_resource
            && !self.skill_matched(s)
            && self
                .entry
                .resources
                .iter()
                .any(|(r, _, _)| self.resource_matched(r) && related_tags(r.as_str(), s.as_str()))
    }
}

/// A skill as a posting holds it: the declared level, and the skill's position in the profile
/// (255 past the 255th), so that matched skills can be listed in profile order without the
/// profile.
type SkillAt = (Level, u8);

/// What scoring reads of an entry (see `Index::hot`).
#[derive(Debug, Clone)]
struct Hot {
    key: PublicKey,
    issued_at: UnixTime,
    /// 0 for a free ordinal.
    expires_at: UnixTime,
    plain: bool,
}

impl Default for Hot {
    /// A free ordinal.
    fn default() -> Hot {
        Hot {
            key: PublicKey([0; 32]),
            issued_at: 0,
            expires_at: 0,
            plain: false,
        }
    }
}

/// The members (ordinals) holding a term, each with a value (the level of a skill).
///
/// The persistent map is what updates change (O(log n), shared with snapshots); queries read a
/// flat copy instead, built by the first query that reads the posting after a change (O(its
/// holders), what that query reads anyway) and kept with the snapshot: walking the map costs a
/// cache miss per node of 16, the copy is read in order. Building is lock-free: two queries
/// racing to build store equal copies.
#[derive(Debug)]
struct Posting<V: Clone> {
    map: OrdMap<u32, V>,
    flat: ArcSwapOption<Vec<(u32, V)>>,
}

impl<V: Clone> Default for Posting<V> {
    fn default() -> Self {
        Posting {
            map: OrdMap::new(),
            flat: ArcSwapOption::empty(),
        }
    }
}

impl<V: Clone> Clone for Posting<V> {
    fn clone(&self) -> Self {
        Posting {
            map: self.map.clone(),
            flat: ArcSwapOption::new(self.flat.load_full()),
        }
    }
}

impl<V: Clone> Posting<V> {
    fn insert(&mut self, ord: u32, value: V) {
        self.map.insert(ord, value);
        self.flat = ArcSwapOption::empty();
    }

    fn remove(&mut self, ord: &u32) {
        if self.map.remove(ord).is_some() {
            self.flat = ArcSwapOption::empty();
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Calls `each` for every holder, in ordinal order.
    fn for_each(&self, mut each: impl FnMut(u32, &V)) {
        // A guard, not a clone of the `Arc`: readers on several cores then never write to the
        // shared count of a popular posting.
        if let Some(flat) = self.flat.load().as_ref() {
            flat.iter().for_each(|(o, v)| each(*o, v));
            return;
        }
        let flat: Arc<Vec<(u32, V)>> =
            Arc::new(self.map.iter().map(|(o, v)| (*o, v.clone())).collect());
        self.flat.store(Some(flat.clone()));
        flat.iter().for_each(|(o, v)| each(*o, v));
    }
}

/// A scored candidate.
#[derive(Clone, Copy)]
struct Ranked {
    fit: f64,
    score: f64,
    /// The key's first 8 bytes, big-endian: orders as the key does, unless equal.
    prefix: u64,
    key: PublicKey,
    /// Candidate index.
    c: u32,
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
struct Best {
    limit: usize,
    kept: Vec<Ranked>,
    /// The worst of the best `limit` at the last selection.
    floor: Option<Ranked>,
    /// Candidates offered (all valid results, kept or not).
    valid: usize,
}

impl Best {
    fn new(limit: usize) -> Best {
        Best {
            limit,
            kept: Vec::with_capacity((2 * limit).max(64)),
            floor: None,
            valid: 0,
        }
    }

    fn offer(&mut self, fit: f64, score: f64, key: &PublicKey, c: u32) {
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
    fn offer_lazy(
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

    fn into_sorted(mut self) -> Vec<Ranked> {
        self.select();
        self.kept.sort_by(rank_order);
        self.kept
    }
}

/// Who holds a tag, as a skill (with the declared level) and as a resource (profile ordinals).
#[derive(Debug, Clone, Default)]
struct Holders {
    skill: Posting<SkillAt>,
    resource: Posting<()>,
}

impl Holders {
    fn len(&self) -> usize {
        self.skill.len() + self.resource.len()
    }
}

/// The index. Clone is O(1).
///
/// Every indexed member has an *ordinal*, a small integer that the tag and word postings hold
/// instead of the 32-byte key: a query groups its hits by ordinal in a dense per-thread table
/// (no hashing, no sorting of keys), and finds the profile by ordinal in `slots`. A member keeps
/// its ordinal while re-indexed; the ordinals of removed members are reused.
#[derive(Debug, Clone, Default)]
pub struct Index {
    entries: PHashMap<PublicKey, Arc<Entry>>,
    /// Entries by ordinal (`None`: a free ordinal).
    slots: Vector<Option<Arc<Entry>>>,
    /// What scoring reads of each entry, by ordinal, packed together: a query's candidates
    /// come in ordinal order, so this is read nearly in order instead of one profile each.
    hot: Vector<Hot>,
    /// Free ordinals.
    free: Vector<u32>,
    tags: OrdMap<String, Holders>,
    words: OrdMap<String, Posting<()>>,
    by_id: PHashMap<RecordId, PublicKey>,
    /// Issue order, for eviction without a scan.
    by_issue: OrdSet<(UnixTime, PublicKey)>,
    /// The tag vocabulary as an automaton-searchable set; rebuilt when `vocab_dirty`.
    vocab: Option<Arc<fst::Set<Vec<u8>>>>,
    vocab_dirty: bool,
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

    /// Number of distinct tags (skills and resources).
    pub fn skill_count(&self) -> usize {
        self.tags.len()
    }

    /// The entry of a member.
    pub fn get(&self, who: &PublicKey) -> Option<&Entry> {
        self.entries.get(who).map(|e| e.as_ref())
    }

    /// The member whose current profile has this record id.
    pub fn by_id(&self, id: &RecordId) -> Option<PublicKey> {
        self.by_id.get(id).copied()
    }

    /// Indexes (or re-indexes) a member's profile, given its record id.
    pub fn insert(&mut self, who: PublicKey, id: RecordId, profile: &Profile) {
        // A re-indexed member frees its ordinal here and takes it back below.
        self.remove(&who);
        self.by_id.insert(id, who);
        self.by_issue.insert((profile.issued_at, who));
        let ord = match self.free.pop_back() {
            Some(ord) => ord,
            None => {
                self.slots.push_back(None);
                self.hot.push_back(Hot::default());
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let entry = Arc::new(Entry::from_profile(who, ord, id, profile));
        for (i, (t, level)) in entry.skills.iter().enumerate() {
            let h = self.tags.entry(t.as_str().to_string()).or_insert_with(|| {
                self.vocab_dirty = true;
                Holders::default()
            });
            h.skill
                .insert(ord, (*level, u8::try_from(i).unwrap_or(u8::MAX)));
        }
        for (t, _, _) in &entry.resources {
            let h = self.tags.entry(t.as_str().to_string()).or_insert_with(|| {
                self.vocab_dirty = true;
                Holders::default()
            });
            h.resource.insert(ord, ());
        }
        for w in &entry.words {
            self.words.entry(w.clone()).or_default().insert(ord, ());
        }
        self.slots.set(ord as usize, Some(entry.clone()));
        self.hot.set(
            ord as usize,
            Hot {
                key: who,
                issued_at: entry.issued_at,
                expires_at: entry.expires_at,
                plain: entry.plain,
            },
        );
        self.entries.insert(who, entry);
    }

    /// Removes a member.
    pub fn remove(&mut self, who: &PublicKey) {
        let Some(old) = self.entries.remove(who) else {
            return;
        };
        let ord = old.ord;
        self.slots.set(ord as usize, None);
        self.hot.set(ord as usize, Hot::default());
        self.free.push_back(ord);
        self.by_id.remove(&old.id);
        self.by_issue.remove(&(old.issued_at, *who));
        let tags = old
            .skills
            .iter()
            .map(|(t, _)| t)
            .chain(old.resources.iter().map(|(t, _, _)| t));
        for t in tags {
            let key = t.as_str();
            let empty = match self.tags.get_mut(key) {
                Some(h) => {
                    h.skill.remove(&ord);
                    h.resource.remove(&ord);
                    h.len() == 0
                }
                None => false,
            };
            if empty {
                self.tags.remove(key);
                self.vocab_dirty = true;
            }
        }
        for w in &old.words {
            let empty = match self.words.get_mut(w) {
                Some(s) => {
                    s.remove(&ord);
                    s.is_empty()
                }
                None => false,
            };
            if empty {
                self.words.remove(w);
            }
        }
    }

    /// Members whose profile has expired at `now` (tests; the service sweeps by expiry index).
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

    /// Rebuilds the typo automaton's vocabulary if tags came or went. O(vocabulary); called
    /// before a snapshot is published, not per query.
    pub fn refresh_vocabulary(&mut self) {
        if !self.vocab_dirty && self.vocab.is_some() {
            return;
        }
        self.vocab_dirty = false;
        // OrdMap iterates in key order, which is what fst needs.
        match fst::Set::from_iter(self.tags.keys().map(|k| k.as_bytes().to_vec())) {
            Ok(set) => self.vocab = Some(Arc::new(set)),
            Err(e) => {
                tracing::warn!("cannot build the tag vocabulary: {e}");
                self.vocab = None;
            }
        }
    }

    /// Tags within a small edit distance of `word` (one edit for 4–7 characters, two from 8).
    fn typo_tags(&self, word: &str) -> Vec<String> {
        let n = word.chars().count();
        let distance = match n {
            0..=3 => return vec![],
            4..=7 => 1,
            _ => 2,
        };
        let Some(vocab) = &self.vocab else {
            return vec![];
        };
        let Ok(lev) = Levenshtein::new(word, distance) else {
            return vec![];
        };
        let mut stream = vocab.search(lev).into_stream();
        // Two swapped neighbours (`pyhton`) are one slip of the fingers but two Levenshtein
        // edits: look the swaps up directly (Damerau's transposition).
        let chars: Vec<char> = word.chars().collect();
        let mut out: Vec<String> = (1..chars.len())
            .filter(|&i| chars[i - 1] != chars[i])
            .map(|i| {
                let mut c = chars.clone();
                c.swap(i - 1, i);
                c.into_iter().collect::<String>()
            })
            .filter(|w| self.tags.contains_key(w))
            .collect();
        while let Some(k) = stream.next() {
            if let Ok(s) = std::str::from_utf8(k) {
                if s != word && !out.iter().any(|o| o == s) {
                    out.push(s.to_string());
                }
            }
            if out.len() >= MAX_EXPANSIONS {
                break;
            }
        }
        out
    }

    /// Tags starting with `word`, the most held first.
    fn prefix_tags(&self, word: &str) -> Vec<String> {
        if word.chars().count() < 2 {
            return vec![];
        }
        let mut found: Vec<(usize, String)> = self
            .tags
            .range(word.to_string()..)
            .take_while(|(k, _)| k.starts_with(word))
            .filter(|(k, _)| k.as_str() != word)
            .take(4 * MAX_EXPANSIONS)
            .map(|(k, h)| (h.len(), k.clone()))
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        found
            .into_iter()
            .take(MAX_EXPANSIONS)
            .map(|(_, k)| k)
            .collect()
    }

    /// The query's words, and adjacent pairs joined as tags (`pcb design` → `pcb-design`).
    fn query_terms(words: &str) -> Vec<(String, usize, usize)> {
        let ws: Vec<String> = words
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .take(MAX_QUERY_WORDS)
            .map(|w| match SkillTag::parse(w) {
                Ok(t) => t.as_str().to_string(),
                Err(_) => w.to_lowercase(),
            })
            .collect();
        let mut out: Vec<(String, usize, usize)> = ws
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i, i))
            .collect();
        for i in 1..ws.len() {
            out.push((format!("{}-{}", ws[i - 1], ws[i]), i - 1, i));
        }
        out
    }

    /// The terms of the profiles that a query term matches, and how: tags exactly, by prefix or
    /// (when nothing else matched a tag) by typo; name and bio words exactly or by prefix.
    fn term_entries(&self, term: &str, pair: bool) -> Vec<(Field, String, How)> {
        let mut tags: Vec<(String, How)> = Vec::new();
        if self.tags.contains_key(term) {
            tags.push((term.to_string(), How::Exact));
        }
        tags.extend(self.prefix_tags(term).into_iter().map(|t| (t, How::Prefix)));
        // Typos only for single words where nothing matched exactly or by prefix: cheap queries
        // stay cheap (a Levenshtein automaton is built per word).
        if tags.is_empty() && !pair {
            tags.extend(self.typo_tags(term).into_iter().map(|t| (t, How::Typo)));
        }
        if pair {
            // Two words joined are only ever a tag.
            let mut out = Vec::new();
            for (t, how) in tags {
                if let Some(h) = self.tags.get(&t) {
                    if !h.skill.is_empty() {
                        out.push((Field::Skill, t.clone(), how));
                    }
                    if !h.resource.is_empty() {
                        out.push((Field::Resource, t, how));
                    }
                }
            }
            return out;
        }
        let mut out: Vec<(Field, String, How)> = Vec::new();
        for (t, how) in tags {
            if let Some(h) = self.tags.get(&t) {
                if !h.skill.is_empty() {
                    out.push((Field::Skill, t.clone(), how));
                }
                if !h.resource.is_empty() {
                    out.push((Field::Resource, t, how));
                }
            }
        }
        if self.words.contains_key(term) {
            out.push((Field::Text, term.to_string(), How::Word));
        }
        if term.chars().count() >= 3 {
            out.extend(
                self.words
                    .range(term.to_string()..)
                    .take_while(|(w, _)| w.starts_with(term))
                    .filter(|(w, _)| w.as_str() != term)
                    .take(MAX_EXPANSIONS)
                    .map(|(w, _)| (Field::Text, w.clone(), How::WordPrefix)),
            );
        }
        out
    }

    /// Calls `each` with the ordinal of every member holding a term, and the level declared
    /// for a skill (`Level::Beginner` for other fields, where it is not read).
    fn each_holder(&self, field: Field, term: &str, mut each: impl FnMut(u32, SkillAt)) {
        match field {
            Field::Skill => {
                if let Some(h) = self.tags.get(term) {
                    h.skill.for_each(|o, l| each(o, *l));
                }
            }
            Field::Resource => {
                if let Some(h) = self.tags.get(term) {
                    h.resource.for_each(|o, ()| each(o, (Level::Beginner, 0)));
                }
            }
            Field::Text => {
                if let Some(set) = self.words.get(term) {
                    set.for_each(|o, ()| each(o, (Level::Beginner, 0)));
                }
            }
        }
    }

    /// Ranked local matches. `trust(member, skill)` gives this node's trust in a member for a
    /// skill (`None` = general), normalised to `[0, 1]`, or `None` when there is no trust path.
    ///
    /// Two passes: every candidate is scored by fit from its hits alone (no profile lookup, no
    /// allocation per candidate); only the best fit groups that can fill `limit` get their other
    /// factors, and only the best `limit` are then explained in full.
    pub fn find(
        &self,
        q: &Query,
        now: UnixTime,
        trust: impl Fn(&PublicKey, Option<&SkillTag>) -> Option<f64>,
    ) -> Vec<Match> {
        self.search(q, now, trust).0
    }

    /// [`Index::find`], and the query words that matched nothing.
    pub fn search(
        &self,
        q: &Query,
        now: UnixTime,
        trust: impl Fn(&PublicKey, Option<&SkillTag>) -> Option<f64>,
    ) -> (Vec<Match>, Vec<String>) {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.search_with(&mut scratch, q, now, &trust),
            // Only if a trust callback searched again on this thread.
            Err(_) => self.search_with(&mut Scratch::default(), q, now, &trust),
        })
    }

    fn search_with(
        &self,
        s: &mut Scratch,
        q: &Query,
        now: UnixTime,
        trust: &impl Fn(&PublicKey, Option<&SkillTag>) -> Option<f64>,
    ) -> (Vec<Match>, Vec<String>) {
        let terms = q
            .words
            .as_deref()
            .map(Self::query_terms)
            .unwrap_or_default();
        let n_words = terms.iter().filter(|(_, a, b)| a == b).count();
        // The dictionary of matched terms: (query term index, field, profile term, how).
        let mut dict: Vec<(usize, Field, String, How)> = Vec::new();
        for (ti, (term, a, b)) in terms.iter().enumerate() {
            for (field, t, how) in self.term_entries(term, a != b) {
                dict.push((ti, field, t, how));
            }
        }
        let mut covered = vec![false; n_words];
        for (ti, _, _, _) in &dict {
            let (_, a, b) = &terms[*ti];
            for c in covered.iter_mut().take(*b + 1).skip(*a) {
                *c = true;
            }
        }
        let unmatched: Vec<String> = terms
            .iter()
            .filter(|(_, a, b)| a == b && !covered[*a])
            .map(|(t, _, _)| t.clone())
            .collect();
        let filtered = !q.skills.is_empty() || !q.resources.is_empty() || q.text.is_some();
        let filter_words: Vec<String> = q
            .text
            .as_deref()
            .map(|t| tokens(t).collect())
            .unwrap_or_default();
        // Candidates: every member a dictionary entry names (with the best way each word
        // position matched, and its hits), or without words the holders of the first filter.
        s.start(self.slots.len());
        let limit = q.limit.max(1);
        if n_words > 0 {
            s.blocks.resize(dict.len(), (0, 0));
            // Exact entries first. If `limit` valid members they name already have a fit that
            // no member reached only by weaker entries can have (fit is first in the ranking
            // order and only grows with more hits), the weaker entries add hits to those
            // candidates but no new ones: the results, and what is evaluated, are the same.
            let mut only_existing = false;
            for exact in [true, false] {
                if !exact && !filtered {
                    only_existing = self.exact_fill(s, &dict, &terms, n_words, limit, now);
                }
                for (di, (ti, field, t, how)) in dict.iter().enumerate() {
                    if (*how == How::Exact) != exact {
                        continue;
                    }
                    let (_, a, b) = terms[*ti];
                    let code = how.code();
                    let from = s.pairs.len() as u32;
                    self.each_holder(*field, t, |ord, level| {
                        let c = if only_existing {
                            match s.existing(ord) {
                                Some(c) => c,
                                None => return,
                            }
                        } else {
                            s.candidate(ord)
                        };
                        let best = &mut s.cands[c as usize].1;
                        for slot in best.iter_mut().take(b + 1).skip(a) {
                            *slot = (*slot).max(code);
                        }
                        s.pairs.push((c, di as u32, level));
                    });
                    s.blocks[di] = (from, s.pairs.len() as u32);
                }
            }
        } else if let Some(t) = q.skills.first() {
            self.each_holder(Field::Skill, t.as_str(), |ord, _| {
                s.candidate(ord);
            });
        } else if let Some(t) = q.resources.first() {
            self.each_holder(Field::Resource, t.as_str(), |ord, _| {
                s.candidate(ord);
            });
        } else if let Some(w) = filter_words.first() {
            self.each_holder(Field::Text, w, |ord, _| {
                s.candidate(ord);
            });
        }
        // Per dictionary entry: the skill it names (for trust), and the first entry naming the
        // same field and term (a term two query words reach is one matched skill).
        let dict_tags: Vec<Option<SkillTag>> = dict
            .iter()
            .map(|(_, field, t, _)| {
                (*field == Field::Skill).then(|| SkillTag::new_unchecked(t.clone()))
            })
            .collect();
        let dict_first: Vec<u32> = dict
            .iter()
            .enumerate()
            .map(|(i, (_, field, t, _))| {
                dict[..i]
                    .iter()
                    .position(|(_, f, u, _)| f == field && u == t)
                    .unwrap_or(i) as u32
            })
            .collect();
        // The fast path needs no typed filter (their tags are matched from the profile).
        let plain_query = q.skills.is_empty() && q.resources.is_empty();
        // Whether any profile can have corroboration: some word matched in two places.
        let corroborable = corroboration(&terms, dict.iter()) > 0;
        s.group_hits();
        // Pass 1: fit alone, from the hits. Fit orders results first, so only the best fit
        // groups that can fill `limit` need their other factors.
        s.fits.extend(s.cands.iter().map(|(_, best)| {
            if n_words == 0 {
                1.0
            } else {
                best.iter()
                    .take(n_words)
                    .map(|c| CODE_WEIGHT[*c as usize])
                    .sum::<f64>()
                    / n_words as f64
            }
        }));
        // Pass 2: all factors, group by group of equal fit (best first), until `limit` results
        // are found.
        let mut best = Best::new(limit);
        // Candidates come nearly in ordinal order: a focus keeps the leaf of `hot` last read,
        // so most lookups are not a walk from the root.
        let mut hot_focus = self.hot.focus();
        let mut evaluate = |c: u32, fit: f64, best: &mut Best| {
            let ord = s.cands[c as usize].0;
            let Some(hot) = hot_focus.get(ord as usize) else {
                return;
            };
            // A free ordinal has expired at 0.
            if hot.expires_at <= now {
                return;
            }
            let h = s.hits(c);
            if plain_query && hot.plain && !filtered {
                if let Some((t, support, level)) = Self::quick_parts(
                    &hot.key,
                    &terms,
                    &dict,
                    &dict_tags,
                    &dict_first,
                    h,
                    s.hit_levels(c),
                    corroborable,
                    trust,
                ) {
                    // The score with the best freshness first: freshness (a power) is worked
                    // out only for a candidate that would not be dropped even so.
                    best.offer_lazy(
                        fit,
                        score(fit, t, support, level, 1.0, 1.0),
                        &hot.key,
                        c,
                        || score(fit, t, support, level, 1.0, freshness(hot.issued_at, now)),
                    );
                    return;
                }
            }
            let Some(Some(e)) = self.slots.get(ord as usize) else {
                return;
            };
            if filtered
                && !(q
                    .skills
                    .iter()
                    .all(|t| e.skills.iter().any(|(s, _)| s == t))
                    && q.resources
                        .iter()
                        .all(|t| e.resources.iter().any(|(r, _, _)| r == t))
                    && filter_words.iter().all(|w| e.words.contains(w)))
            {
                return;
            }
            let score = if plain_query && e.plain {
                Self::quick_score(
                    hot,
                    &terms,
                    fit,
                    &dict,
                    &dict_tags,
                    &dict_first,
                    h,
                    s.hit_levels(c),
                    corroborable,
                    trust,
                    now,
                )
            } else {
                None
            };
            let score = score
                .unwrap_or_else(|| self.factors(e, q, &terms, fit, &dict, h, trust, now).score);
            best.offer(fit, score, &e.key, c);
        };
        // The next group is found by a scan below the last one's fit: a query rarely needs more
        // than a couple of groups; past a few, the rest are sorted once.
        let mut above = f64::INFINITY;
        let mut rounds = 0;
        while best.valid < limit {
            if rounds == 4 {
                let mut rest: Vec<(f64, u32)> = s
                    .fits
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| **f < above)
                    .map(|(c, f)| (*f, c as u32))
                    .collect();
                rest.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                let mut i = 0;
                while i < rest.len() && best.valid < limit {
                    let group_fit = rest[i].0;
                    while i < rest.len() && rest[i].0 == group_fit {
                        evaluate(rest[i].1, group_fit, &mut best);
                        i += 1;
                    }
                }
                break;
            }
            rounds += 1;
            let group_fit = s
                .fits
                .iter()
                .copied()
                .filter(|f| *f < above)
                .fold(f64::NEG_INFINITY, f64::max);
            if group_fit == f64::NEG_INFINITY {
                break;
            }
            for c in 0..s.fits.len() {
                if s.fits[c] == group_fit {
                    evaluate(c as u32, group_fit, &mut best);
                }
            }
            above = group_fit;
        }
        // Pass 2: the explanation, for the results shown.
        let out = best
            .into_sorted()
            .into_iter()
            .filter_map(|Ranked { fit, c, .. }| {
                let ord = s.cands[c as usize].0;
                let e = self.slots.get(ord as usize)?.as_ref()?;
                let who = e.key;
                let h = s.hits(c);
                // What matched and how: the hits, and the typed filters' tags.
                let matched_of = |h: &[u32]| {
                    let mut matched: Vec<Matched> = h
                        .iter()
                        .filter_map(|di| dict.get(*di as usize))
                        .map(|(ti, field, t, how)| Matched {
                            word: terms[*ti].0.clone(),
                            field: *field,
                            term: t.clone(),
                            how: *how,
                        })
                        .chain(q.skills.iter().map(|t| Matched {
                            word: t.to_string(),
                            field: Field::Skill,
                            term: t.to_string(),
                            how: How::Exact,
                        }))
                        .chain(q.resources.iter().map(|t| Matched {
                            word: t.to_string(),
                            field: Field::Resource,
                            term: t.to_string(),
                            how: How::Exact,
                        }))
                        .collect();
                    matched.sort_by(|a, b| a.how.cmp(&b.how).then(a.term.cmp(&b.term)));
                    matched.dedup_by(|a, b| a.field == b.field && a.term == b.term);
                    matched
                };
                // As in pass 1, a plain profile matched by words alone (no resource) is
                // explained from its hits: what `factors` and the walks over the profile's
                // skills below give, without them.
                if plain_query && !filtered && e.plain {
                    let levels = s.hit_levels(c);
                    if let Some((t, support, level)) = Self::quick_parts(
                        &who,
                        &terms,
                        &dict,
                        &dict_tags,
                        &dict_first,
                        h,
                        levels,
                        corroborable,
                        trust,
                    ) {
                        let freshness = freshness(e.issued_at, now);
                        // Each matched skill once, in profile order, as the walk gives them.
                        let mut skills: Vec<(u8, SkillTag, Level)> = Vec::new();
                        for (di, (level, pos)) in h.iter().zip(levels) {
                            if let Some(Some(tag)) = dict_tags.get(*di as usize) {
                                if !skills.iter().any(|(p, _, _)| p == pos) {
                                    skills.push((*pos, tag.clone(), *level));
                                }
                            }
                        }
                        skills.sort_by_key(|(pos, _, _)| *pos);
                        return Some(Match {
                            peer: who,
                            peer_id: e.peer_id,
                            name: e.name.clone(),
                            score: score(fit, t, support, level, 1.0, freshness),
                            fit,
                            trust: t.map(|v| v.clamp(0.0, 1.0)),
                            freshness,
                            availability: 1.0,
                            level,
                            matched: matched_of(h),
                            matched_skills: skills.into_iter().map(|(_, t, l)| (t, l)).collect(),
                            matched_resources: Vec::new(),
                            issued_at: e.issued_at,
                        });
                    }
                }
                let f = self.factors(e, q, &terms, fit, &dict, h, trust, now);
                let mut matched = matched_of(h);
                for (s, _) in e.skills.iter().filter(|(s, _)| f.related(s)) {
                    matched.push(Matched {
                        word: s.to_string(),
                        field: Field::Skill,
                        term: s.to_string(),
                        how: How::Related,
                    });
                }
                Some(Match {
                    peer: who,
                    peer_id: e.peer_id,
                    name: e.name.clone(),
                    score: f.score,
                    fit: f.fit,
                    trust: f.trust,
                    freshness: f.freshness,
                    availability: f.availability,
                    level: f.level,
                    matched,
                    matched_skills: e
                        .skills
                        .iter()
                        .filter(|(s, _)| f.skill_matched(s))
                        .cloned()
                        .collect(),
                    matched_resources: e
                        .resources
                        .iter()
                        .filter(|(r, _, _)| f.resource_matched(r))
                        .map(|(r, _, _)| r.clone())
                        .collect(),
                    issued_at: e.issued_at,
                })
            })
            .collect();
        (out, unmatched)
    }

    /// Whether at least `limit` unexpired candidates found so far (by the exact entries of
    /// `dict`) have a fit above any that a member the exact entries do not name can reach (the
    /// best weaker entry of each word position). Their fit only grows with more hits.
    fn exact_fill(
        &self,
        s: &Scratch,
        dict: &[(usize, Field, String, How)],
        terms: &[(String, usize, usize)],
        n_words: usize,
        limit: usize,
        now: UnixTime,
    ) -> bool {
        if s.cands.len() < limit {
            return false;
        }
        let mut weak = [0u8; MAX_QUERY_WORDS];
        for (ti, _, _, how) in dict {
            if *how == How::Exact {
                continue;
            }
            let (_, a, b) = terms[*ti];
            for slot in weak.iter_mut().take(b + 1).skip(a) {
                *slot = (*slot).max(how.code());
            }
        }
        let fit = |codes: &[u8; MAX_QUERY_WORDS]| {
            codes
                .iter()
                .take(n_words)
                .map(|c| CODE_WEIGHT[*c as usize])
                .sum::<f64>()
                / n_words as f64
        };
        let reach = fit(&weak);
        let mut above = 0;
        let mut hot = self.hot.focus();
        for (ord, codes) in &s.cands {
            // A free ordinal's `hot` has expired at 0.
            if fit(codes) > reach && hot.get(*ord as usize).is_some_and(|h| h.expires_at > now) {
                above += 1;
                if above >= limit {
                    return true;
                }
            }
        }
        false
    }

    /// The score [`Index::factors`] gives a candidate whose profile is `plain`, for a query
    /// without typed filters, from its hits and the levels the postings carry (no walk over the
    /// profile's tags); `None` when a resource matched (then the profile's resources and related
    /// skills count: ask `factors`).
    #[allow(clippy::too_many_arguments)]
    fn quick_score(
        e: &Hot,
        terms: &[(String, usize, usize)],
        fit: f64,
        dict: &[(usize, Field, String, How)],
        dict_tags: &[Option<SkillTag>],
        dict_first: &[u32],
        hits: &[u32],
        levels: &[SkillAt],
        corroborable: bool,
        trust: &impl Fn(&PublicKey, Option<&SkillTag>) -> Option<f64>,
        now: UnixTime,
    ) -> Option<f64> {
        let (t, support, level) = Self::quick_parts(
            &e.key,
            terms,
            dict,
            dict_tags,
            dict_first,
            hits,
            levels,
            corroborable,
            trust,
        )?;
        Some(score(
            fit,
            t,
            support,
            level,
            1.0,
            freshness(e.issued_at, now),
        ))
    }

    /// [`Index::quick_score`]'s trust, support and level (availability is 1).
    #[allow(clippy::too_many_arguments)]
    fn quick_parts(
        key: &PublicKey,
        terms: &[(String, usize, usize)],
        dict: &[(usize, Field, String, How)],
        dict_tags: &[Option<SkillTag>],
        dict_first: &[u32],
        hits: &[u32],
        levels: &[SkillAt],
        corroborable: bool,
        trust: &impl Fn(&PublicKey, Option<&SkillTag>) -> Option<f64>,
    ) -> Option<(Option<f64>, f64, f64)> {
        let field = |di: u32| dict.get(di as usize).map(|(_, f, _, _)| *f);
        if hits.iter().any(|di| field(*di) == Some(Field::Resource)) {
            return None;
        }
        // Each matched skill once, as `factors` walks them (the order does not matter: trust
        // takes the best, and level weights are quarters, summed exactly in any order).
        let mut t: Option<f64> = None;
        let mut sum = 0.0;
        let mut n_levels = 0usize;
        for (k, (di, (level, _))) in hits.iter().zip(levels).enumerate() {
            if field(*di) != Some(Field::Skill) {
                continue;
            }
            let first = dict_first.get(*di as usize);
            if hits[..k]
                .iter()
                .any(|o| field(*o) == Some(Field::Skill) && dict_first.get(*o as usize) == first)
            {
                continue;
            }
            let tag = dict_tags.get(*di as usize).and_then(Option::as_ref);
            if let Some(v) = tag.and_then(|tag| trust(key, Some(tag))) {
                t = Some(t.map_or(v, |a: f64| a.max(v)));
            }
            sum += level.weight();
            n_levels += 1;
        }
        let t = t.or_else(|| trust(key, None));
        let level = if n_levels > 0 {
            sum / n_levels as f64
        } else {
            0.0
        };
        // Only when some word matched in two places in the whole dictionary can it have for one
        // profile (with words matching tags only, the usual case, it cannot).
        let support = if corroborable {
            let entries = hits.iter().filter_map(|di| dict.get(*di as usize));
            (corroboration(terms, entries) as f64).min(2.0)
        } else {
            0.0
        };
        Some((t, support, level))
    }

    /// The ranking factors of one candidate.
    #[allow(clippy::too_many_arguments)]
    fn factors<'a>(
        &self,
        e: &'a Entry,
        q: &'a Query,
        terms: &[(String, usize, usize)],
        fit: f64,
        dict: &'a [(usize, Field, String, How)],
        hits: &'a [u32],
        trust: &impl Fn(&PublicKey, Option<&SkillTag>) -> Option<f64>,
        now: UnixTime,
    ) -> Factors<'a> {
        let who = &e.key;
        let entries = || hits.iter().filter_map(|di| dict.get(*di as usize));
        let mut f0 = Factors {
            entry: e,
            q,
            dict,
            hits,
            any_resource: false,
            fit,
            trust: None,
            level: 0.0,
            availability: 1.0,
            freshness: 1.0,
            score: 0.0,
        };
        f0.any_resource = e.resources.iter().any(|(r, _, _)| f0.resource_matched(r));
        // Trust for the matched skills (the best of them), else general trust.
        let mut t: Option<f64> = None;
        let mut levels = 0.0;
        let mut n_levels = 0usize;
        for (s, l) in &e.skills {
            if f0.skill_matched(s) {
                if let Some(v) = trust(who, Some(s)) {
                    t = Some(t.map_or(v, |a: f64| a.max(v)));
                }
                levels += l.weight();
                n_levels += 1;
            } else if f0.related(s) {
                levels += l.weight();
                n_levels += 1;
            }
        }
        let t = t.or_else(|| trust(who, None));
        let level = if n_levels > 0 {
            levels / n_levels as f64
        } else {
            0.0
        };
        let availability = if !f0.any_resource
            || e.resources
                .iter()
                .any(|(r, _, avail)| !avail.trim().is_empty() && f0.resource_matched(r))
        {
            1.0
        } else {
            0.8
        };
        // Corroboration: the same word found in more than one place of the profile (a tag and
        // the bio), or a skill related to a matched resource.
        let extra = corroboration(terms, entries());
        let related = f0.any_resource && e.skills.iter().any(|(s, _)| f0.related(s));
        let support = (extra as f64 + f64::from(u8::from(related))).min(2.0);
        let freshness = freshness(e.issued_at, now);
        let score = score(fit, t, support, level, availability, freshness);
        Factors {
            trust: t.map(|v| v.clamp(0.0, 1.0)),
            level,
            availability,
            freshness,
            score,
            ..f0
        }
    }

    /// Known tags close to `word` — a small edit away, or starting with it — the most held
    /// first. Offered when a word matched nothing, never mixed into results.
    pub fn suggestions(&self, word: &str) -> Vec<SkillTag> {
        let mut near: Vec<(usize, String)> = self
            .typo_tags(word)
            .into_iter()
            .chain(self.prefix_tags(word))
            .chain(
                // A word with its last letters wrong or missing: its first letters.
                if word.chars().count() > 4 {
                    let cut: String = word.chars().take(word.chars().count() - 2).collect();
                    self.prefix_tags(&cut)
                } else {
                    vec![]
                },
            )
            .filter_map(|t| self.tags.get(&t).map(|h| (h.len(), t)))
            .collect();
        near.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        near.dedup_by(|a, b| a.1 == b.1);
        near.into_iter()
            .take(MAX_SUGGESTIONS)
            .map(|(_, t)| SkillTag::new_unchecked(t))
            .collect()
    }

    /// Suggestions for words that matched nothing (as [`Index::search`] reports them) and for
    /// asked filter tags nobody has.
    pub fn suggest(&self, q: &Query, unmatched: &[String]) -> Vec<(String, Vec<SkillTag>)> {
        unmatched
            .iter()
            .map(|w| (w.clone(), self.suggestions(w)))
            .chain(
                q.skills
                    .iter()
                    .chain(q.resources.iter())
                    .filter(|t| !self.tags.contains_key(t.as_str()))
                    .map(|t| (t.to_string(), self.suggestions(t.as_str()))),
            )
            .collect()
    }

    /// The query words that matched nothing, with suggestions for each (and asked filter tags
    /// nobody has).
    pub fn unmatched_words(&self, q: &Query) -> Vec<(String, Vec<SkillTag>)> {
        let terms = q
            .words
            .as_deref()
            .map(Self::query_terms)
            .unwrap_or_default();
        let mut covered = BTreeSet::new();
        for (term, a, b) in &terms {
            if !self.term_entries(term, a != b).is_empty() {
                covered.extend(*a..=*b);
            }
        }
        terms
            .iter()
            .filter(|(_, a, b)| a == b && !covered.contains(a))
            .map(|(t, _, _)| (t.clone(), self.suggestions(t)))
            .chain(
                q.skills
                    .iter()
                    .chain(q.resources.iter())
                    .filter(|t| !self.tags.contains_key(t.as_str()))
                    .map(|t| (t.to_string(), self.suggestions(t.as_str()))),
            )
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use guild_core::fixtures::{identity, profile, tag, T0};
    use guild_core::Resource;

    fn index() -> (Index, Vec<PublicKey>) {
        let mut idx = Index::default();
        let mut keys = vec![];
        for (i, (name, skills, bio)) in [
            ("ada", vec!["kicad", "pcb-design"], "Embedded boards"),
            ("bob", vec!["kicad"], "Hobbyist"),
            ("cy", vec!["rust", "embedded"], "Firmware for bicycles"),
            ("bea", vec!["woodworking"], "PCB layout, KiCad"),
        ]
        .into_iter()
        .enumerate()
        {
            let id = identity(i as u8 + 1);
            let mut p = profile(&id, name, &skills, T0);
            p.bio = bio.into();
            if name == "bob" {
                p.skills[0].level = Level::Beginner;
            }
            if name == "bea" {
                p.resources = vec![Resource {
                    tag: tag("3d-printer"),
                    description: "Prusa MK4".into(),
                    availability: "weekends".into(),
                }];
            } else {
                p.resources = vec![];
            }
            idx.insert(id.public(), RecordId([i as u8; 32]), &p);
            keys.push(id.public());
        }
        idx.refresh_vocabulary();
        (idx, keys)
    }

    fn words(w: &str) -> Query {
        Query {
            words: Some(w.into()),
            limit: 10,
            ..Query::default()
        }
    }

    fn stranger(_: &PublicKey, _: Option<&SkillTag>) -> Option<f64> {
        None
    }

    #[test]
    fn peer_id_text_holds_a_peer_id_whole_and_cuts_longer_text_at_a_character() {
        let key = identity(1).public();
        let text = key.to_string();
        assert_eq!(text.len(), 52);
        assert_eq!(PeerIdText::new(&text).as_str(), text);
        assert_eq!(format!("{}", PeerIdText::from(text.clone())), text);
        let long = "é".repeat(40); // 80 bytes
        let cut = PeerIdText::new(&long);
        assert_eq!(cut.as_str(), "é".repeat(32));
        assert_eq!(PeerIdText::new(&format!("a{long}")).as_str().len(), 63);
        assert_eq!(PeerIdText::new("").as_str(), "");
    }

    #[test]
    fn every_word_matches_tags_resources_and_bios() {
        let (idx, k) = index();
        let r = idx.find(&words("3d-printer"), T0, stranger);
        assert_eq!(r.iter().map(|m| m.peer).collect::<Vec<_>>(), vec![k[3]]);
        assert_eq!(r[0].matched[0].field, Field::Resource);
        let r = idx.find(&words("pcb"), T0, stranger);
        assert_eq!(r[0].peer, k[0], "prefix of a skill beats a bio word");
        assert_eq!(r[0].matched[0].how, How::Prefix);
        assert!(r.iter().any(|m| m.peer == k[3]), "bio word: {r:?}");
        let r = idx.find(&words("kikad"), T0, stranger);
        let found: BTreeSet<_> = r.iter().map(|m| m.peer).collect();
        assert!(
            found.contains(&k[0]) && found.contains(&k[1]),
            "typo: {r:?}"
        );
        assert!(r
            .iter()
            .any(|m| m.matched.iter().any(|x| x.how == How::Typo)));
        let r = idx.find(&words("bicycles"), T0, stranger);
        assert_eq!(r[0].peer, k[2]);
        assert_eq!(r[0].matched[0].how, How::Word);
    }

    #[test]
    fn two_words_can_be_one_tag_and_more_words_matched_rank_higher() {
        let (idx, k) = index();
        let r = idx.find(&words("pcb design"), T0, stranger);
        assert_eq!(r[0].peer, k[0]);
        assert_eq!(r[0].fit, 1.0, "both words covered by pcb-design: {r:?}");
        let r = idx.find(&words("kicad pcb-design"), T0, stranger);
        assert_eq!(r[0].peer, k[0], "ada has both");
        assert!(r[0].fit > r[1].fit);
    }

    #[test]
    fn a_trust_path_beats_any_stranger_with_the_same_match_and_level_only_orders_similar_trust() {
        let (idx, k) = index();
        // bob: beginner, but trusted; ada: expert-ish stranger.
        let trust = |who: &PublicKey, _: Option<&SkillTag>| (*who == k[1]).then_some(0.2);
        let r = idx.find(&words("kicad"), T0, trust);
        assert_eq!(r[0].peer, k[1], "trusted first: {r:?}");
        assert_eq!(r[1].trust, None, "strangers have no trust value");
        // Equal trust: the declared level orders them.
        let same = |_: &PublicKey, _: Option<&SkillTag>| Some(0.5);
        let r = idx.find(&words("kicad"), T0, same);
        assert_eq!(r[0].peer, k[0]);
    }

    #[test]
    fn typed_filters_are_requirements() {
        let (idx, k) = index();
        let q = Query {
            skills: vec![tag("kicad")],
            text: Some("embedded".into()),
            limit: 10,
            ..Query::default()
        };
        let r = idx.find(&q, T0, stranger);
        assert_eq!(r.iter().map(|m| m.peer).collect::<Vec<_>>(), vec![k[0]]);
        let q = Query {
            resources: vec![tag("3d-printer")],
            limit: 10,
            ..Query::default()
        };
        assert_eq!(idx.find(&q, T0, stranger).len(), 1);
        assert!(
            idx.find(&q, T0 + 40 * 86_400, stranger).is_empty(),
            "expired profiles never match"
        );
    }

    #[test]
    fn unmatched_words_get_suggestions() {
        let (idx, _) = index();
        // Two edits away: a typo match, not an unmatched word.
        assert!(idx.unmatched_words(&words("woodwerking")).is_empty());
        let q = words("woodwrk zzzz");
        let un = idx.unmatched_words(&q);
        assert_eq!(un.len(), 2, "{un:?}");
        assert_eq!(un[0].1, vec![tag("woodworking")]);
        assert!(un[1].1.is_empty());
    }

    #[test]
    fn removal_forgets_tags_and_words() {
        let (mut idx, k) = index();
        idx.remove(&k[3]);
        idx.refresh_vocabulary();
        assert!(idx.find(&words("3d-printer"), T0, stranger).is_empty());
        assert!(idx.find(&words("bicycles"), T0, stranger).len() == 1);
        assert_eq!(idx.len(), 3);
        assert!(idx.suggestions("woodwork").is_empty());
    }

    #[test]
    fn reused_ordinals_find_what_a_fresh_index_finds_in_the_order_of_the_explained_scores() {
        let all = [
            "kicad",
            "pcb-design",
            "rust",
            "embedded",
            "3d-printer",
            "3d-printing",
        ];
        let levels = [Level::Beginner, Level::Advanced, Level::Expert];
        let make = |i: u8, round: u8| {
            let id = identity(i);
            let n = (i + round) as usize;
            let skills: Vec<&str> = (0..1 + n % 3)
                .map(|k| all[(n + 2 * k) % all.len()])
                .collect();
            let mut p = profile(
                &id,
                &format!("m{i} r{round}"),
                &skills,
                T0 - u64::from(i) * 3600,
            );
            for (k, s) in p.skills.iter_mut().enumerate() {
                s.level = levels[(n + k) % levels.len()];
            }
            if i.is_multiple_of(4) {
                p.resources = vec![Resource {
                    tag: tag("3d-printer"),
                    description: "a printer".into(),
                    availability: String::new(),
                }];
            }
            (id.public(), p)
        };
        // Churn: everyone in, a third out, some back with new profiles, and newcomers.
        let mut churned = Index::default();
        for i in 1..=30 {
            let (k, p) = make(i, 0);
            churned.insert(k, RecordId([i; 32]), &p);
        }
        for i in (1..=30).step_by(3) {
            churned.remove(&identity(i).public());
        }
        let mut fresh = Index::default();
        for i in 1..=40u8 {
            if i <= 30 && i % 3 == 1 && i.is_multiple_of(2) {
                continue; // removed for good
            }
            let round = u8::from(i % 3 == 1 || i.is_multiple_of(5));
            let (k, p) = make(i, round);
            churned.insert(k, RecordId([i; 32]), &p);
            fresh.insert(k, RecordId([i; 32]), &p);
        }
        churned.refresh_vocabulary();
        fresh.refresh_vocabulary();
        assert_eq!(churned.len(), fresh.len());
        let trust = |who: &PublicKey, s: Option<&SkillTag>| match s {
            None => who.0[0].is_multiple_of(3).then_some(0.4),
            Some(t) => (who.0[1].is_multiple_of(2) && t.as_str() == "kicad").then_some(0.9),
        };
        for w in [
            "kicad",
            "pcb",
            "pcb design",
            "3d-printer",
            "rust embedded",
            "kikad",
            "m1",
        ] {
            for limit in [1, 3, 50] {
                let q = Query {
                    words: Some(w.into()),
                    limit,
                    ..Query::default()
                };
                let a = churned.find(&q, T0, trust);
                assert_eq!(a, fresh.find(&q, T0, trust), "{w} {limit}");
                assert!(!a.is_empty(), "{w}");
                for pair in a.windows(2) {
                    let (x, y) = (&pair[0], &pair[1]);
                    assert!(
                        x.fit > y.fit || (x.fit == y.fit && x.score >= y.score),
                        "{w}: {x:?} before {y:?}"
                    );
                }
            }
        }
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
    }
}
