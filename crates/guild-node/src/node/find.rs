//! `find`: the local index first, completed by a DHT provider lookup when it is thin, so a
//! newcomer who has heard no gossip still finds people.

use super::events::Via;
use super::{lock, Node};
use crate::service::index::{Match, Query};
use guild_core::wire::{DirectRequest, DirectResponse};
use guild_core::{AnyRecord, PublicKey};
use guild_net::PeerId;
use std::collections::{BTreeSet, HashSet};

/// Most tags looked up on the DHT in one `find`.
const MAX_DHT_TAGS: usize = 8;
/// Most profiles fetched from providers in one `find`.
const MAX_DHT_FETCHES: usize = 32;

/// What `find` found.
#[derive(Debug, Clone)]
pub struct FindOutcome {
    /// Ranked matches.
    pub matches: Vec<Match>,
    /// Members whose profile came from the DHT lookup in this call.
    pub from_dht: BTreeSet<PublicKey>,
    /// Asked tags nobody has, with near misses.
    pub suggestions: Vec<(guild_core::SkillTag, Vec<guild_core::SkillTag>)>,
    /// Whether the DHT was queried.
    pub dht_queried: bool,
}

impl Node {
    fn local_matches(&self, q: &Query) -> Vec<Match> {
        let now = guild_core::time::now();
        let me = self.inner.me;
        let mut q = q.clone();
        q.limit += 1; // we may be among the matches
        let trust = self.trust_factors();
        let mut out = lock(&self.inner.index).find(&q, now, |k| trust.factor(k));
        out.retain(|m| m.peer != me);
        out.truncate(q.limit - 1);
        out
    }

    /// Runs a query. With `local_only` false, a short local answer is completed from the DHT.
    pub async fn find(&self, q: Query, local_only: bool) -> FindOutcome {
        let mut matches = self.local_matches(&q);
        let mut from_dht = BTreeSet::new();
        let tags: Vec<_> = q
            .skills
            .iter()
            .chain(q.resources.iter())
            .take(MAX_DHT_TAGS)
            .cloned()
            .collect();
        let dht_queried = !local_only && matches.len() < q.limit && !tags.is_empty();
        if dht_queried {
            let lookups = tags.iter().map(|t| {
                let net = self.inner.net.clone();
                let key = t.dht_key().to_vec();
                async move { net.get_providers(key).await }
            });
            let lookups = futures::future::join_all(lookups);
            let providers: HashSet<PeerId> =
                match tokio::time::timeout(self.inner.opts.find_timeout, lookups).await {
                    Ok(results) => results
                        .into_iter()
                        .filter_map(|r| r.ok())
                        .flatten()
                        .collect(),
                    Err(_) => HashSet::new(),
                };
            let unknown: Vec<(PeerId, PublicKey)> = providers
                .into_iter()
                .filter(|p| *p != self.inner.peer_id)
                .filter_map(|p| PublicKey::from_peer_id(&p).ok().map(|k| (p, k)))
                .filter(|(_, k)| !self.knows(k))
                .take(MAX_DHT_FETCHES)
                .collect();
            let fetches = unknown.into_iter().map(|(peer, key)| async move {
                let resp = self.direct(peer, &DirectRequest::GetProfile).await;
                match resp {
                    Ok(DirectResponse::Profile(Some(record))) => match *record {
                        // The provider must answer with its own profile.
                        AnyRecord::Profile(p) if p.signer == key => self
                            .ingest(AnyRecord::Profile(p), Some(peer), Via::Dht)
                            .ok()
                            .map(|_| key),
                        _ => None,
                    },
                    _ => None,
                }
            });
            let fetched = tokio::time::timeout(
                self.inner.opts.find_timeout,
                futures::future::join_all(fetches),
            )
            .await
            .unwrap_or_default();
            from_dht.extend(fetched.into_iter().flatten());
            matches = self.local_matches(&q);
        }
        let suggestions = {
            let idx = lock(&self.inner.index);
            tags.iter()
                .filter(|t| {
                    !matches.iter().any(|m| {
                        m.matched_skills.iter().any(|(s, _)| s == *t)
                            || m.matched_resources.contains(t)
                    })
                })
                .map(|t| (t.clone(), idx.suggestions(t)))
                .filter(|(_, s)| !s.is_empty())
                .collect()
        };
        FindOutcome {
            matches,
            from_dht,
            suggestions,
            dht_queried,
        }
    }
}
