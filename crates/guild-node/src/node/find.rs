//! `find`: the local index first (in the loop), completed by a DHT provider lookup when it is
//! thin — run on the caller's task, so the loop never waits on the network — so a newcomer who
//! has heard no gossip still finds people.

use super::NodeService;
use super::{Command, Node};
use guild_core::codec;
use guild_core::wire::{DirectRequest, DirectResponse, MAX_RESPONSE_BYTES};
use guild_core::{AnyRecord, PublicKey, SkillTag};
use guild_net::PeerId;
use guild_service::index::{Match, Query};
use guild_service::Millis;
use std::collections::{BTreeSet, HashSet};
use tokio::sync::oneshot;

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
    pub suggestions: Vec<(String, Vec<SkillTag>)>,
    /// Whether the DHT was queried.
    pub dht_queried: bool,
    /// Who introduced us to each matched member we were introduced to (context, never trust).
    pub introduced_by: std::collections::HashMap<PublicKey, PublicKey>,
}

/// The loop's answer: local matches and near misses for unmatched tags.
#[derive(Debug, Clone, Default)]
pub(crate) struct Local {
    pub matches: Vec<Match>,
    pub suggestions: Vec<(String, Vec<SkillTag>)>,
}

/// Runs the local half inside the loop.
pub(crate) fn local(service: &mut NodeService, q: &Query, now: Millis) -> Local {
    let (matches, suggestions) = service.find(q, now);
    Local {
        matches,
        suggestions,
    }
}

impl Node {
    /// The local half of `find`, on the caller's task against the loop's latest snapshot: many
    /// callers search at once and none waits for the loop, except once per skill whose trust the
    /// snapshot does not carry yet.
    async fn find_local(&self, q: &Query) -> Local {
        for _ in 0..2 {
            let result = {
                // A guard, not a clone: concurrent finds never write to the view's shared count.
                let view = self.view.load();
                let current = self.trust_epoch.load(std::sync::atomic::Ordering::Acquire);
                if view.trust_epoch == current {
                    view.find(q, super::runtime::now_ms())
                } else {
                    // Trust changed since this snapshot: have the loop recompute it first.
                    Err(vec![])
                }
            };
            match result {
                Ok((matches, suggestions)) => {
                    return Local {
                        matches,
                        suggestions,
                    }
                }
                Err(skills) => {
                    let (reply, rx) = oneshot::channel();
                    if self
                        .command(Command::TrustFor { skills, reply })
                        .await
                        .is_err()
                    {
                        return Local::default();
                    }
                    let _ = rx.await;
                }
            }
        }
        // Still missing (the skills changed under us): the loop answers this one itself.
        let (reply, rx) = oneshot::channel();
        if self
            .command(Command::FindLocal {
                q: q.clone(),
                reply,
            })
            .await
            .is_err()
        {
            return Local::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Runs a query. With `local_only` false, a short local answer is completed from the DHT.
    pub async fn find(&self, q: Query, local_only: bool) -> FindOutcome {
        let mut local = self.find_local(&q).await;
        let mut from_dht = BTreeSet::new();
        // Typed tags, and each typed word that is a valid tag (a provider record names a tag
        // exactly, so only exact words can be looked up); only worked out when the DHT may be
        // asked.
        let tags = if !local_only && local.matches.len() < q.limit {
            let words = q
                .words
                .as_deref()
                .unwrap_or("")
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter_map(|w| SkillTag::parse(w).ok());
            let mut tags: Vec<SkillTag> = q
                .skills
                .iter()
                .chain(q.resources.iter())
                .cloned()
                .chain(words)
                .collect();
            tags.dedup();
            tags.truncate(MAX_DHT_TAGS);
            tags
        } else {
            Vec::new()
        };
        let dht_queried = !tags.is_empty();
        if dht_queried {
            let lookups = tags.iter().map(|t| {
                let net = self.net.clone();
                let key = t.dht_key().to_vec();
                async move { net.get_providers(key).await }
            });
            let lookups = futures::future::join_all(lookups);
            let providers: HashSet<PeerId> =
                match tokio::time::timeout(self.find_timeout, lookups).await {
                    Ok(results) => results
                        .into_iter()
                        .filter_map(|r| r.ok())
                        .flatten()
                        .collect(),
                    Err(_) => HashSet::new(),
                };
            let unknown: Vec<(PeerId, PublicKey)> = providers
                .into_iter()
                .filter(|p| *p != self.peer_id)
                .filter_map(|p| PublicKey::from_peer_id(&p).ok().map(|k| (p, k)))
                .filter(|(_, k)| !self.knows(k))
                .take(MAX_DHT_FETCHES)
                .collect();
            let fetches = unknown.into_iter().map(|(peer, key)| {
                let net = self.net.clone();
                async move {
                    let bytes = codec::encode(&DirectRequest::GetProfile).ok()?;
                    let answer = net.request(peer, bytes).await.ok()?;
                    match codec::decode::<DirectResponse>(&answer, MAX_RESPONSE_BYTES).ok()? {
                        // The provider must answer with its own profile.
                        DirectResponse::Profile(Some(record)) => match *record {
                            AnyRecord::Profile(p) if p.signer == key => {
                                Some((key, AnyRecord::Profile(p)))
                            }
                            _ => None,
                        },
                        _ => None,
                    }
                }
            });
            let fetched: Vec<(PublicKey, AnyRecord)> =
                tokio::time::timeout(self.find_timeout, futures::future::join_all(fetches))
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .flatten()
                    .collect();
            if !fetched.is_empty() {
                let (reply, rx) = oneshot::channel();
                if self
                    .command(Command::Ingest {
                        records: fetched,
                        reply,
                    })
                    .await
                    .is_ok()
                {
                    from_dht.extend(rx.await.unwrap_or_default());
                }
            }
            local = self.find_local(&q).await;
        }
        let view = self.view.load();
        let introduced_by = local
            .matches
            .iter()
            .filter_map(|m| view.introduced_by(&m.peer).map(|by| (m.peer, by)))
            .collect();
        FindOutcome {
            matches: local.matches,
            from_dht,
            suggestions: local.suggestions,
            dht_queried,
            introduced_by,
        }
    }
}
