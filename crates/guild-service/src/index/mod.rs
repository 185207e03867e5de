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
use imbl::shared_ptr::DefaultSharedPtr;
use imbl::vector::Focus;
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Lowercased words of the name, bio and resource descriptions, sorted, each once,
    /// separated by a space (one allocation per member; a `BTreeSet<String>` took a node of
    /// 11 keys and an allocation per word). Words never hold a space (see [`tokens`]).
    words: Box<str>,
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
        let words = words
            .into_iter()
            .collect::<Vec<_>>()
            .join(" ")
            .into_boxed_str();
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

    /// The lowercased words of the name, bio and resource descriptions, in order, each once.
    fn words(&self) -> impl Iterator<Item = &str> {
        self.words.split(' ').filter(|w| !w.is_empty())
    }

    /// Whether `word` is one of [`Entry::words`].
    fn has_word(&self, word: &str) -> bool {
        self.words().any(|w| w == word)
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

mod best;
mod search;
mod suggest;
#[cfg(test)]
mod tests;

use best::{Best, Ranked};
use search::{Scratch, SCRATCH};

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

/// A skill as a posting holds it: the declared level, and the skill's position in the profile
/// (255 past the 255th), so that matched skills can be listed in profile order without the
/// profile.
type SkillAt = (Level, u8);

/// What scoring reads of an entry (see `Index::hot`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
///
/// A term held by one member (most words of names and bios) keeps that holder inline, without
/// a map: a map of one entry took a node of 16.
#[derive(Debug)]
struct Posting<V: Clone> {
    holding: Holding<V>,
    flat: ArcSwapOption<Vec<(u32, V)>>,
}

/// A posting's holders: one inline, or a map (empty when none).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Holding<V: Clone> {
    One(u32, V),
    Many(OrdMap<u32, V>),
}

impl<V: Clone> Default for Posting<V> {
    fn default() -> Self {
        Posting {
            holding: Holding::Many(OrdMap::new()),
            flat: ArcSwapOption::empty(),
        }
    }
}

impl<V: Clone> Clone for Posting<V> {
    fn clone(&self) -> Self {
        Posting {
            holding: self.holding.clone(),
            flat: ArcSwapOption::new(self.flat.load_full()),
        }
    }
}

impl<V: Clone> Posting<V> {
    fn insert(&mut self, ord: u32, value: V) {
        let next = match &mut self.holding {
            Holding::One(o, v) if *o == ord => {
                *v = value;
                None
            }
            Holding::One(o, v) => {
                let mut map = OrdMap::new();
                map.insert(*o, v.clone());
                map.insert(ord, value);
                Some(Holding::Many(map))
            }
            Holding::Many(map) if map.is_empty() => Some(Holding::One(ord, value)),
            Holding::Many(map) => {
                map.insert(ord, value);
                None
            }
        };
        if let Some(next) = next {
            self.holding = next;
        }
        self.flat = ArcSwapOption::empty();
    }

    fn remove(&mut self, ord: &u32) {
        let removed = match &mut self.holding {
            Holding::One(o, _) if o == ord => {
                self.holding = Holding::Many(OrdMap::new());
                true
            }
            Holding::One(..) => false,
            Holding::Many(map) => map.remove(ord).is_some(),
        };
        if removed {
            self.flat = ArcSwapOption::empty();
        }
    }

    fn len(&self) -> usize {
        match &self.holding {
            Holding::One(..) => 1,
            Holding::Many(map) => map.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `each` for every holder, in ordinal order.
    fn for_each(&self, mut each: impl FnMut(u32, &V)) {
        let map = match &self.holding {
            Holding::One(o, v) => return each(*o, v),
            Holding::Many(map) => map,
        };
        // A guard, not a clone of the `Arc`: readers on several cores then never write to the
        // shared count of a popular posting.
        if let Some(flat) = self.flat.load().as_ref() {
            flat.iter().for_each(|(o, v)| each(*o, v));
            return;
        }
        let flat: Arc<Vec<(u32, V)>> = Arc::new(map.iter().map(|(o, v)| (*o, v.clone())).collect());
        self.flat.store(Some(flat.clone()));
        flat.iter().for_each(|(o, v)| each(*o, v));
    }
}

/// Who holds a tag, as a skill (with the declared level) and as a resource (profile ordinals).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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

    /// Indexes (or re-indexes) a member's profile, given its record id.
    pub fn insert(&mut self, who: PublicKey, id: RecordId, profile: &Profile) {
        // A re-indexed member frees its ordinal here and takes it back below.
        self.remove(&who);
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
        for w in entry.words() {
            match self.words.get_mut(w) {
                Some(p) => p.insert(ord, ()),
                None => {
                    let mut p = Posting::default();
                    p.insert(ord, ());
                    self.words.insert(w.to_string(), p);
                }
            }
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
        for w in old.words() {
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
}

/// A peer id's text is encoded as a string.
impl serde::Serialize for PeerIdText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for PeerIdText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PeerIdText, D::Error> {
        let text: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        Ok(PeerIdText::new(&text))
    }
}

impl<V: Clone + PartialEq> PartialEq for Posting<V> {
    /// The holders; the flat copy is a cache of them.
    fn eq(&self, other: &Self) -> bool {
        self.holding == other.holding
    }
}

/// Encoded as its holders; the flat copy is built again by the first query that reads it.
impl<V: Clone + serde::Serialize> serde::Serialize for Posting<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.holding.serialize(s)
    }
}

impl<'de, V: Clone + serde::Deserialize<'de>> serde::Deserialize<'de> for Posting<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Posting<V>, D::Error> {
        Ok(Posting {
            holding: serde::Deserialize::deserialize(d)?,
            flat: ArcSwapOption::empty(),
        })
    }
}

impl PartialEq for Index {
    /// Everything indexed; the tag vocabulary's automaton is a cache of `tags`.
    fn eq(&self, o: &Self) -> bool {
        self.entries == o.entries
            && self.slots == o.slots
            && self.hot == o.hot
            && self.free == o.free
            && self.tags == o.tags
            && self.words == o.words
            && self.by_issue == o.by_issue
    }
}

/// Encoded as its entries by ordinal and its postings. Decoded, each entry is shared again
/// between the map by member and the slots by ordinal, and the tag vocabulary's automaton is
/// built again when first searched.
impl serde::Serialize for Index {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let slots: Vec<Option<&Entry>> = self.slots.iter().map(|e| e.as_deref()).collect();
        (
            slots,
            &self.hot,
            &self.free,
            &self.tags,
            &self.words,
            &self.by_issue,
        )
            .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Index {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Index, D::Error> {
        use serde::de::Error;
        type Parts = (
            Vec<Option<Entry>>,
            Vector<Hot>,
            Vector<u32>,
            OrdMap<String, Holders>,
            OrdMap<String, Posting<()>>,
            OrdSet<(UnixTime, PublicKey)>,
        );
        let (slots, hot, free, tags, words, by_issue): Parts = serde::Deserialize::deserialize(d)?;
        let slots: Vector<Option<Arc<Entry>>> =
            slots.into_iter().map(|e| e.map(Arc::new)).collect();
        let mut entries = PHashMap::new();
        for (ord, e) in slots.iter().enumerate() {
            let Some(e) = e else { continue };
            if e.ord as usize != ord || entries.insert(e.key, e.clone()).is_some() {
                return Err(D::Error::custom(
                    "an index entry out of place or held twice",
                ));
            }
        }
        if hot.len() != slots.len() {
            return Err(D::Error::custom(
                "the index's packed entries do not match its slots",
            ));
        }
        Ok(Index {
            entries,
            slots,
            hot,
            free,
            tags,
            words,
            by_issue,
            vocab: None,
            vocab_dirty: true,
        })
    }
}
