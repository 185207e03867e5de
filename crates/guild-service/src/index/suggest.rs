//! Near misses: tags a small edit away or starting with a word, offered when a word matched
//! nothing (never mixed into results).

use super::*;

impl Index {
    /// Tags within a small edit distance of `word` (one edit for 4–7 characters, two from 8).
    pub(super) fn typo_tags(&self, word: &str) -> Vec<String> {
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
    pub(super) fn prefix_tags(&self, word: &str) -> Vec<String> {
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
