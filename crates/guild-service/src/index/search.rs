//! Search: the working memory of one query, its plan, the candidates and their fit (pass 1),
//! ranking on every factor and the explanation of the results shown (pass 2).

use super::*;

thread_local! {
    /// The buffers of [`Index::search`] on this thread, kept from query to query.
    pub(super) static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Working memory of one search: candidates and their hits, found through a dense table by
/// profile ordinal. Reused, so a query allocates nothing per candidate. The table is never
/// cleared: an entry is believed only when the candidate it points to has that ordinal (a
/// sparse set).
#[derive(Default)]
pub(super) struct Scratch {
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

impl Index {
    /// The query's words, and adjacent pairs joined as tags (`pcb design` → `pcb-design`).
    pub(super) fn query_terms(words: &str) -> Vec<(String, usize, usize)> {
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
    pub(super) fn term_entries(&self, term: &str, pair: bool) -> Vec<(Field, String, How)> {
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

    /// One search in named steps: [`Plan`] the query, gather candidates, score fit (pass 1),
    /// rank the best fit groups on every factor, explain the results shown (pass 2).
    pub(super) fn search_with(
        &self,
        s: &mut Scratch,
        q: &Query,
        now: UnixTime,
        trust: &impl Fn(&PublicKey, Option<&SkillTag>) -> Option<f64>,
    ) -> (Vec<Match>, Vec<String>) {
        let plan = self.plan(q);
        s.start(self.slots.len());
        self.gather(s, &plan, q, now);
        s.group_hits();
        plan.fit_pass(s);
        let search = Search {
            index: self,
            s,
            p: &plan,
            q,
            now,
            trust,
        };
        let out = search
            .rank()
            .into_sorted()
            .into_iter()
            .filter_map(|r| search.explain(r))
            .collect();
        (out, plan.unmatched)
    }

    /// What a query asks, worked out once: its terms, the dictionary of profile terms they
    /// match, the words that matched nothing, and the typed filters.
    fn plan(&self, q: &Query) -> Plan {
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
        // Whether any profile can have corroboration: some word matched in two places.
        let corroborable = corroboration(&terms, dict.iter()) > 0;
        Plan {
            n_words,
            unmatched,
            filtered,
            filter_words,
            dict_tags,
            dict_first,
            // The fast path needs no typed filter (their tags are matched from the profile).
            plain_query: q.skills.is_empty() && q.resources.is_empty(),
            corroborable,
            limit: q.limit.max(1),
            terms,
            dict,
        }
    }

    /// Candidates: every member a dictionary entry names (with the best way each word position
    /// matched, and its hits), or without words the holders of the first filter.
    fn gather(&self, s: &mut Scratch, p: &Plan, q: &Query, now: UnixTime) {
        if p.n_words == 0 {
            if let Some(t) = q.skills.first() {
                self.each_holder(Field::Skill, t.as_str(), |ord, _| {
                    s.candidate(ord);
                });
            } else if let Some(t) = q.resources.first() {
                self.each_holder(Field::Resource, t.as_str(), |ord, _| {
                    s.candidate(ord);
                });
            } else if let Some(w) = p.filter_words.first() {
                self.each_holder(Field::Text, w, |ord, _| {
                    s.candidate(ord);
                });
            }
            return;
        }
        s.blocks.resize(p.dict.len(), (0, 0));
        // Exact entries first. If `limit` valid members they name already have a fit that no
        // member reached only by weaker entries can have (fit is first in the ranking order and
        // only grows with more hits), the weaker entries add hits to those candidates but no new
        // ones: the results, and what is evaluated, are the same.
        let mut only_existing = false;
        for exact in [true, false] {
            if !exact && !p.filtered {
                only_existing = self.exact_fill(s, &p.dict, &p.terms, p.n_words, p.limit, now);
            }
            for (di, (ti, field, t, how)) in p.dict.iter().enumerate() {
                if (*how == How::Exact) != exact {
                    continue;
                }
                let (_, a, b) = p.terms[*ti];
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
}

/// What a query asks, worked out once before any candidate is looked at.
struct Plan {
    /// Query terms: (term, first word position, last word position); a pair of adjacent words
    /// spans two positions.
    terms: Vec<(String, usize, usize)>,
    /// Query words (terms spanning one position).
    n_words: usize,
    /// The dictionary of matched terms: (query term index, field, profile term, how).
    dict: Vec<(usize, Field, String, How)>,
    /// Query words that matched nothing.
    unmatched: Vec<String>,
    /// Whether the query has a typed filter.
    filtered: bool,
    /// The words of the `text` filter.
    filter_words: Vec<String>,
    /// Per dictionary entry: the skill it names (for trust).
    dict_tags: Vec<Option<SkillTag>>,
    /// Per dictionary entry: the first entry naming the same field and term.
    dict_first: Vec<u32>,
    /// No skill or resource filter: the fast path may score from hits alone.
    plain_query: bool,
    /// Whether any profile can have corroboration: some word matched in two places.
    corroborable: bool,
    /// Results wanted (at least one).
    limit: usize,
}

impl Plan {
    /// Pass 1: fit alone, from the hits. Fit orders results first, so only the best fit groups
    /// that can fill `limit` need their other factors.
    fn fit_pass(&self, s: &mut Scratch) {
        let n_words = self.n_words;
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
    }
}

/// One search after pass 1: the index, its working memory, the plan and the query.
struct Search<'a, T> {
    index: &'a Index,
    s: &'a Scratch,
    p: &'a Plan,
    q: &'a Query,
    now: UnixTime,
    trust: &'a T,
}

impl<T: Fn(&PublicKey, Option<&SkillTag>) -> Option<f64>> Search<'_, T> {
    /// Pass 2: all factors, group by group of equal fit (best first), until `limit` results are
    /// found. The next group is found by a scan below the last one's fit: a query rarely needs
    /// more than a couple of groups; past a few, the rest are sorted once.
    fn rank(&self) -> Best {
        let (s, limit) = (self.s, self.p.limit);
        let mut best = Best::new(limit);
        // Candidates come nearly in ordinal order: a focus keeps the leaf of `hot` last read,
        // so most lookups are not a walk from the root.
        let mut focus = self.index.hot.focus();
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
                        self.evaluate(&mut focus, rest[i].1, group_fit, &mut best);
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
                    self.evaluate(&mut focus, c as u32, group_fit, &mut best);
                }
            }
            above = group_fit;
        }
        best
    }

    /// Scores one candidate of fit `fit` and offers it to `best`.
    fn evaluate(
        &self,
        focus: &mut Focus<'_, Hot, DefaultSharedPtr>,
        c: u32,
        fit: f64,
        best: &mut Best,
    ) {
        let (s, p, q, now) = (self.s, self.p, self.q, self.now);
        let ord = s.cands[c as usize].0;
        let Some(hot) = focus.get(ord as usize) else {
            return;
        };
        // A free ordinal has expired at 0.
        if hot.expires_at <= now {
            return;
        }
        let h = s.hits(c);
        if p.plain_query && hot.plain && !p.filtered {
            if let Some((t, support, level)) = Index::quick_parts(
                &hot.key,
                &p.terms,
                &p.dict,
                &p.dict_tags,
                &p.dict_first,
                h,
                s.hit_levels(c),
                p.corroborable,
                self.trust,
            ) {
                // The score with the best freshness first: freshness (a power) is worked out
                // only for a candidate that would not be dropped even so.
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
        let Some(Some(e)) = self.index.slots.get(ord as usize) else {
            return;
        };
        if p.filtered
            && !(q
                .skills
                .iter()
                .all(|t| e.skills.iter().any(|(s, _)| s == t))
                && q.resources
                    .iter()
                    .all(|t| e.resources.iter().any(|(r, _, _)| r == t))
                && p.filter_words.iter().all(|w| e.has_word(w)))
        {
            return;
        }
        let score = if p.plain_query && e.plain {
            Index::quick_score(
                hot,
                &p.terms,
                fit,
                &p.dict,
                &p.dict_tags,
                &p.dict_first,
                h,
                s.hit_levels(c),
                p.corroborable,
                self.trust,
                now,
            )
        } else {
            None
        };
        let score = score.unwrap_or_else(|| {
            self.index
                .factors(e, q, &p.terms, fit, &p.dict, h, self.trust, now)
                .score
        });
        best.offer(fit, score, &e.key, c);
    }

    /// What matched and how: the hits, and the typed filters' tags.
    fn matched(&self, h: &[u32]) -> Vec<Matched> {
        let (p, q) = (self.p, self.q);
        let mut matched: Vec<Matched> = h
            .iter()
            .filter_map(|di| p.dict.get(*di as usize))
            .map(|(ti, field, t, how)| Matched {
                word: p.terms[*ti].0.clone(),
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
    }

    /// Pass 2's explanation of one result shown.
    fn explain(&self, Ranked { fit, c, .. }: Ranked) -> Option<Match> {
        let ord = self.s.cands[c as usize].0;
        let e = self.index.slots.get(ord as usize)?.as_ref()?;
        if self.p.plain_query && !self.p.filtered && e.plain {
            if let Some(m) = self.explain_plain(e, c, fit) {
                return Some(m);
            }
        }
        let h = self.s.hits(c);
        let f = self.index.factors(
            e,
            self.q,
            &self.p.terms,
            fit,
            &self.p.dict,
            h,
            self.trust,
            self.now,
        );
        let mut matched = self.matched(h);
        for (s, _) in e.skills.iter().filter(|(s, _)| f.related(s)) {
            matched.push(Matched {
                word: s.to_string(),
                field: Field::Skill,
                term: s.to_string(),
                how: How::Related,
            });
        }
        Some(Match {
            peer: e.key,
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
    }

    /// As in pass 1, a plain profile matched by words alone (no resource) is explained from its
    /// hits: what `factors` and the walks over the profile's skills give, without them.
    fn explain_plain(&self, e: &Entry, c: u32, fit: f64) -> Option<Match> {
        let (s, p) = (self.s, self.p);
        let h = s.hits(c);
        let levels = s.hit_levels(c);
        let (t, support, level) = Index::quick_parts(
            &e.key,
            &p.terms,
            &p.dict,
            &p.dict_tags,
            &p.dict_first,
            h,
            levels,
            p.corroborable,
            self.trust,
        )?;
        let freshness = freshness(e.issued_at, self.now);
        // Each matched skill once, in profile order, as the walk gives them.
        let mut skills: Vec<(u8, SkillTag, Level)> = Vec::new();
        for (di, (level, pos)) in h.iter().zip(levels) {
            if let Some(Some(tag)) = p.dict_tags.get(*di as usize) {
                if !skills.iter().any(|(p, _, _)| p == pos) {
                    skills.push((*pos, tag.clone(), *level));
                }
            }
        }
        skills.sort_by_key(|(pos, _, _)| *pos);
        Some(Match {
            peer: e.key,
            peer_id: e.peer_id,
            name: e.name.clone(),
            score: score(fit, t, support, level, 1.0, freshness),
            fit,
            trust: t.map(|v| v.clamp(0.0, 1.0)),
            freshness,
            availability: 1.0,
            level,
            matched: self.matched(h),
            matched_skills: skills.into_iter().map(|(_, t, l)| (t, l)).collect(),
            matched_resources: Vec::new(),
            issued_at: e.issued_at,
        })
    }
}
