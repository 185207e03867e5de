//! The pull workflow, first half: needs (post, match, withdraw, list) and offers (send, receive,
//! list, accept into a collaboration).

use super::deliver::{DeliverError, REPLAY_PREFIX};
use super::Node;
use guild_core::control::pull::*;
use guild_core::control::Event;
use guild_core::wire::DirectRequest;
use guild_core::{
    AnyRecord, Collaboration, Need, Offer, PublicKey, RecordId, RecordKind, Revocation, Signed,
    SkillTag, UnixTime,
};
use guild_net::{PeerId, PublishError, Topic};
use std::collections::HashMap;

/// Why a pull-workflow request failed; the control socket maps each to an error code.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The id names nothing this node knows.
    #[error("{0}")]
    NotFound(String),
    /// The request breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The other side could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// Storage or encoding failed.
    #[error("{0}")]
    Internal(String),
}

impl From<guild_store::StoreError> for PullError {
    fn from(e: guild_store::StoreError) -> Self {
        PullError::Internal(e.to_string())
    }
}

impl From<guild_core::RecordError> for PullError {
    fn from(e: guild_core::RecordError) -> Self {
        PullError::Invalid(e.to_string())
    }
}

pub(crate) fn sign<T: guild_core::RecordBody>(
    node: &Node,
    body: T,
) -> Result<Signed<T>, PullError> {
    let signed =
        Signed::sign(body, &node.inner.identity).map_err(|e| PullError::Internal(e.to_string()))?;
    signed.validate(guild_core::time::now())?;
    Ok(signed)
}

impl Node {
    /// Tags of a need that this node's owner has.
    pub(crate) fn matched_tags(&self, need: &Need) -> Vec<SkillTag> {
        let Ok(Some(draft)) = self.own_draft() else {
            return vec![];
        };
        need.skills
            .iter()
            .filter(|t| draft.skills.iter().any(|s| &s.tag == *t))
            .chain(
                need.resources
                    .iter()
                    .filter(|t| draft.resources.iter().any(|r| &r.tag == *t)),
            )
            .cloned()
            .collect()
    }

    /// Targets of stored revocations, with who revoked them.
    fn revocations(&self) -> HashMap<RecordId, PublicKey> {
        self.inner
            .store
            .records_of_kind(RecordKind::Revocation)
            .filter_map(|r| r.ok())
            .filter_map(|r| match r {
                AnyRecord::Revocation(r) => Some((r.body.target, r.signer)),
                _ => None,
            })
            .collect()
    }

    fn need_status(
        need: &Signed<Need>,
        revoked: &HashMap<RecordId, PublicKey>,
        now: UnixTime,
    ) -> NeedStatus {
        if revoked.get(&need.id()) == Some(&need.signer) {
            NeedStatus::Withdrawn
        } else if need.body.expires_at <= now {
            NeedStatus::Expired
        } else {
            NeedStatus::Open
        }
    }

    fn need_view(
        &self,
        need: &Signed<Need>,
        revoked: &HashMap<RecordId, PublicKey>,
        offers: usize,
    ) -> NeedView {
        let now = guild_core::time::now();
        NeedView {
            id: need.id(),
            asker: need.signer,
            asker_name: self.profile_name(&need.signer),
            text: need.body.text.clone(),
            skills: need.body.skills.clone(),
            resources: need.body.resources.clone(),
            issued_at: need.body.issued_at,
            expires_at: need.body.expires_at,
            status: Self::need_status(need, revoked, now),
            mine: need.signer == self.inner.me,
            matched: if need.signer == self.inner.me {
                vec![]
            } else {
                self.matched_tags(&need.body)
            },
            offers,
        }
    }

    fn stored_needs(&self) -> Vec<Signed<Need>> {
        self.inner
            .store
            .records_of_kind(RecordKind::Need)
            .filter_map(|r| r.ok())
            .filter_map(|r| Signed::<Need>::try_from(r).ok())
            .collect()
    }

    fn stored_offers(&self) -> Vec<Signed<Offer>> {
        self.inner
            .store
            .records_of_kind(RecordKind::Offer)
            .filter_map(|r| r.ok())
            .filter_map(|r| Signed::<Offer>::try_from(r).ok())
            .collect()
    }

    /// Posts a need: signs, stores, publishes on the needs topic (sync spreads it later too).
    pub async fn ask(&self, p: AskParams) -> Result<Asked, PullError> {
        let now = guild_core::time::now();
        let body = Need {
            version: guild_core::record::RECORD_VERSION,
            issuer: self.inner.me,
            issued_at: now,
            expires_at: now + p.expires_secs.unwrap_or(DEFAULT_NEED_LIFETIME),
            text: p.text,
            skills: p.skills,
            resources: p.resources,
            nonce: rand::random(),
        };
        let need = sign(self, body)?;
        let record = AnyRecord::Need(need.clone());
        self.inner.store.put_record(&record)?;
        self.inner.store.flush_async().await?;
        let published = self.publish_record(Topic::Needs, &record).await;
        Ok(Asked {
            need: self.need_view(&need, &HashMap::new(), 0),
            published,
        })
    }

    /// Publishes a public record on a topic; false when no peer got it now.
    pub(crate) async fn publish_record(&self, topic: Topic, record: &AnyRecord) -> bool {
        let Ok(bytes) = record.encode() else {
            return false;
        };
        match self.inner.net.publish(topic, bytes).await {
            Ok(_) => true,
            Err(PublishError::InsufficientPeers) => false,
            Err(e) => {
                tracing::warn!("cannot publish a {}: {e}", record.kind());
                false
            }
        }
    }

    /// Lists needs.
    pub fn needs(&self, p: NeedsParams) -> Result<Needs, PullError> {
        let revoked = self.revocations();
        let mut counts: HashMap<RecordId, usize> = HashMap::new();
        for o in self.stored_offers() {
            *counts.entry(o.body.need).or_default() += 1;
        }
        let mut needs: Vec<NeedView> = self
            .stored_needs()
            .iter()
            .map(|n| self.need_view(n, &revoked, counts.get(&n.id()).copied().unwrap_or(0)))
            .filter(|v| p.include_closed || v.status == NeedStatus::Open)
            .filter(|v| match p.filter {
                NeedFilter::All => true,
                NeedFilter::Mine => v.mine,
                NeedFilter::Matching => !v.mine && !v.matched.is_empty(),
            })
            .collect();
        needs.sort_by(|a, b| b.issued_at.cmp(&a.issued_at).then(a.id.cmp(&b.id)));
        Ok(Needs { needs })
    }

    fn own_need(&self, id: &RecordId) -> Result<Signed<Need>, PullError> {
        let need = self
            .inner
            .store
            .get_typed::<Need>(id)?
            .ok_or_else(|| PullError::NotFound(format!("no need {id} is known here")))?;
        if need.signer != self.inner.me {
            return Err(PullError::Invalid(format!(
                "need {id} was posted by {}, not by you",
                need.signer
            )));
        }
        Ok(need)
    }

    /// Withdraws one of our needs with a signed revocation every node honours.
    pub async fn withdraw_need(&self, p: WithdrawParams) -> Result<(), PullError> {
        let need = self.own_need(&p.need)?;
        if self.revocations().contains_key(&p.need) {
            return Err(PullError::Invalid(format!(
                "need {} is already withdrawn",
                p.need
            )));
        }
        let now = guild_core::time::now();
        let rev = sign(
            self,
            Revocation {
                version: guild_core::record::RECORD_VERSION,
                issuer: self.inner.me,
                issued_at: now,
                expires_at: need.body.expires_at.max(now + 1) + 86_400,
                target: p.need,
                target_kind: RecordKind::Need,
                reason: p.reason,
            },
        )?;
        let record = AnyRecord::Revocation(rev);
        self.inner.store.put_record(&record)?;
        self.inner.store.flush_async().await?;
        self.publish_record(Topic::Needs, &record).await;
        Ok(())
    }

    /// Called for each new public record stored from a peer: raises the matching events.
    pub(crate) fn after_public_record(&self, record: &AnyRecord) {
        match record {
            AnyRecord::Need(n) if n.signer != self.inner.me => {
                if self.revocations().get(&n.id()) == Some(&n.signer) {
                    return;
                }
                let matched = self.matched_tags(&n.body);
                if !matched.is_empty() {
                    self.emit(Event::NeedMatched {
                        need: n.id(),
                        asker: n.signer,
                        text: n.body.text.clone(),
                        matched,
                        expires_at: n.body.expires_at,
                    });
                }
            }
            AnyRecord::Revocation(r) if r.body.target_kind == RecordKind::Need => {
                if let Ok(Some(n)) = self.inner.store.get_typed::<Need>(&r.body.target) {
                    if n.signer == r.signer {
                        self.emit(Event::NeedWithdrawn {
                            need: n.id(),
                            asker: n.signer,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    /// Sends an offer on someone's need, delivered directly to the asker.
    pub async fn offer(&self, p: OfferParams) -> Result<Delivery, PullError> {
        let need = self.inner.store.get_typed::<Need>(&p.need)?.ok_or_else(|| {
            PullError::NotFound(format!(
                "no need {} is known here (it may not have reached this node yet; see `guild needs`)",
                p.need
            ))
        })?;
        if need.signer == self.inner.me {
            return Err(PullError::Invalid(
                "you cannot offer on your own need".into(),
            ));
        }
        let now = guild_core::time::now();
        match Self::need_status(&need, &self.revocations(), now) {
            NeedStatus::Open => {}
            NeedStatus::Withdrawn => {
                return Err(PullError::Invalid(format!("need {} was withdrawn", p.need)))
            }
            NeedStatus::Expired => {
                return Err(PullError::Invalid(format!("need {} has expired", p.need)))
            }
        }
        let body = Offer {
            version: guild_core::record::RECORD_VERSION,
            issuer: self.inner.me,
            issued_at: now,
            expires_at: need
                .body
                .expires_at
                .min(now + guild_core::limits::MAX_OFFER_LIFETIME),
            need: p.need,
            asker: need.signer,
            text: p.text,
        };
        let offer = sign(self, body)?;
        let id = offer.id();
        let record = AnyRecord::Offer(offer);
        self.inner.store.put_record(&record)?;
        self.inner.store.flush_async().await?;
        let result = self
            .deliver(
                need.signer,
                DirectRequest::Deliver(Box::new(record)),
                id,
                "offer",
            )
            .await;
        Ok(delivery(id, result))
    }

    /// An offer delivered to us.
    pub(crate) fn receive_offer(&self, from: PeerId, offer: Signed<Offer>) -> Result<(), String> {
        let now = guild_core::time::now();
        if offer.signer.to_peer_id() != from {
            return Err("an offer must be delivered by the member who made it".into());
        }
        if offer.body.asker != self.inner.me {
            return Err("this offer is addressed to someone else".into());
        }
        let need = match self.inner.store.get_typed::<Need>(&offer.body.need) {
            Ok(Some(n)) => n,
            _ => return Err(format!("unknown need {}", offer.body.need)),
        };
        if need.signer != self.inner.me {
            return Err(format!(
                "need {} is not this member's need",
                offer.body.need
            ));
        }
        match Self::need_status(&need, &self.revocations(), now) {
            NeedStatus::Open => {}
            NeedStatus::Withdrawn => return Err(format!("need {} was withdrawn", offer.body.need)),
            NeedStatus::Expired => return Err(format!("need {} has expired", offer.body.need)),
        }
        let id = offer.id();
        let event = Event::OfferReceived {
            offer: id,
            need: offer.body.need,
            from: offer.signer,
            text: offer.body.text.clone(),
        };
        match self.inner.store.put_record(&AnyRecord::Offer(offer)) {
            Ok(true) => {}
            Ok(false) => return Err(format!("{REPLAY_PREFIX} offer {id} was already received")),
            Err(e) => return Err(format!("store error: {e}")),
        }
        let _ = self.inner.store.flush();
        self.emit(event);
        Ok(())
    }

    /// Offers on our needs and offers we made.
    pub fn offers(&self, p: OffersParams) -> Result<Offers, PullError> {
        let accepted = self.accepted_offers();
        let mut offers: Vec<OfferView> = self
            .stored_offers()
            .into_iter()
            .filter(|o| p.need.is_none_or(|n| o.body.need == n))
            .map(|o| OfferView {
                id: o.id(),
                need: o.body.need,
                from: o.signer,
                to: o.body.asker,
                text: o.body.text.clone(),
                issued_at: o.body.issued_at,
                mine: o.signer == self.inner.me,
                accepted_in: accepted.get(&o.id()).copied(),
            })
            .collect();
        offers.sort_by(|a, b| b.issued_at.cmp(&a.issued_at).then(a.id.cmp(&b.id)));
        Ok(Offers { offers })
    }

    /// Offer id → the collaboration that accepted it.
    fn accepted_offers(&self) -> HashMap<RecordId, RecordId> {
        self.stored_collabs()
            .into_iter()
            .flat_map(|c| {
                let cid = c.id();
                c.body
                    .offers
                    .iter()
                    .map(move |o| (o.id(), cid))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub(crate) fn stored_collabs(&self) -> Vec<Signed<Collaboration>> {
        self.inner
            .store
            .records_of_kind(RecordKind::Collaboration)
            .filter_map(|r| r.ok())
            .filter_map(|r| Signed::<Collaboration>::try_from(r).ok())
            .collect()
    }

    /// Accepts an offer on one of our needs: opens a collaboration signed over the need and the
    /// offer, stores it and delivers it to the offerer.
    pub async fn accept(&self, p: AcceptParams) -> Result<CollabView, PullError> {
        let offer = self
            .inner
            .store
            .get_typed::<Offer>(&p.offer)?
            .ok_or_else(|| {
                PullError::NotFound(format!(
                    "no offer {} is known here (see `guild offers`)",
                    p.offer
                ))
            })?;
        if offer.body.asker != self.inner.me {
            return Err(PullError::Invalid(
                "this offer was made to someone else".into(),
            ));
        }
        if let Some(c) = self.accepted_offers().get(&p.offer) {
            return Err(PullError::Invalid(format!(
                "offer {} is already accepted in collaboration {c}",
                p.offer
            )));
        }
        let need = self.own_need(&offer.body.need)?;
        if self.revocations().get(&need.id()) == Some(&self.inner.me) {
            return Err(PullError::Invalid(format!(
                "need {} was withdrawn",
                need.id()
            )));
        }
        let now = guild_core::time::now();
        let body = Collaboration {
            version: guild_core::record::RECORD_VERSION,
            issuer: self.inner.me,
            issued_at: now,
            expires_at: now + 365 * 86_400,
            purpose: need.body.text.clone(),
            need,
            offers: vec![offer.clone()],
        };
        let collab = sign(self, body)?;
        let id = collab.id();
        self.inner
            .store
            .put_record(&AnyRecord::Collaboration(collab.clone()))?;
        self.inner.store.flush_async().await?;
        self.emit(Event::CollabOpened {
            collab: id,
            purpose: collab.body.purpose.clone(),
            members: collab.body.members(),
        });
        let req = DirectRequest::Deliver(Box::new(AnyRecord::Collaboration(collab.clone())));
        if let Err(e) = self.deliver(offer.signer, req, id, "collaboration").await {
            tracing::info!(
                "collaboration {id} not yet delivered to {}: {e}",
                offer.signer
            );
        }
        self.collab_view(&collab, false)
    }
}

/// The result of a delivery as shown to the caller.
pub(crate) fn delivery(id: RecordId, result: Result<(), DeliverError>) -> Delivery {
    match result {
        Ok(()) => Delivery {
            id,
            delivered: true,
            error: None,
            retrying: false,
        },
        Err(DeliverError::Unreachable(r)) => Delivery {
            id,
            delivered: false,
            error: Some(format!(
                "recipient unreachable ({r}); the daemon keeps retrying and reports the outcome as a delivery.outcome event"
            )),
            retrying: true,
        },
        Err(refused) => Delivery {
            id,
            delivered: false,
            error: Some(refused.to_string()),
            retrying: false,
        },
    }
}
