//! The pull workflow: needs (post, match, withdraw, list), offers (send, receive, list, accept
//! into a collaboration) and direct messages.

use super::direct::ReplyAs;
use super::io::Topic;
use super::state::OfferInfo;
use super::{CallId, Refusal, Service};
use crate::alerts::{range_of, AlertDecision};
use crate::Storage;
use guild_core::control::pull::*;
use guild_core::control::Event;
use guild_core::wire::{DirectRequest, RefusalReason};
use guild_core::{
    AnyRecord, Collaboration, Message, Need, Offer, PublicKey, RecordId, RecordKind, Revocation,
    Signed, SkillTag, UnixTime,
};

/// Lifetime of a direct message; it is swept after it.
pub const MESSAGE_LIFETIME: u64 = 7 * 86_400;
/// Lifetime of a collaboration we open (and of its log entries): the longest allowed, two years,
/// so it outlives every attestation citing it (at most 366 days, and never past it).
pub const COLLABORATION_LIFETIME: u64 = guild_core::limits::MAX_COLLABORATION_LIFETIME;

fn invalid(m: impl Into<String>) -> Refusal {
    Refusal::new(RefusalReason::Malformed, m)
}

impl<S: Storage> Service<S> {
    /// Tags of a need that this node's owner has.
    pub(crate) fn matched_tags(&self, need: &Need) -> Vec<SkillTag> {
        let Some(draft) = &self.own.draft else {
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

    /// Labels of a need's roles this node's owner fits: a tag of the role (skill or resource)
    /// among the owner's skills or resources.
    pub(crate) fn matched_roles(&self, need: &Need) -> Vec<SkillTag> {
        let Some(draft) = &self.own.draft else {
            return vec![];
        };
        let has = |t: &SkillTag| {
            draft.skills.iter().any(|s| &s.tag == t) || draft.resources.iter().any(|r| &r.tag == t)
        };
        need.roles()
            .into_iter()
            .filter(|r| r.skills.iter().chain(&r.resources).any(has))
            .map(|r| r.label)
            .collect()
    }

    /// A need from a peer was stored (it came through `from`): raise `need.matched` when it
    /// matches our skills. A stranger's need shares the strangers' alert budget fairly (see
    /// [`crate::alerts`]): it may wait for room, or be listed only.
    pub(crate) fn need_arrived(
        &mut self,
        n: &Signed<Need>,
        tier: super::admission::Tier,
        from: Option<PublicKey>,
        now: super::io::Millis,
    ) {
        if n.signer == self.me || self.state.attestations.is_revoked(&n.id()) {
            return;
        }
        if !self.matches_us(&n.body) {
            return;
        }
        if tier == super::admission::Tier::Stranger {
            let source = self.alert_source(from, &n.signer);
            let decision = self.admission.stranger_alerts.arrived(
                n.id(),
                n.signer,
                &source,
                crate::LocalTime::from_millis(now),
            );
            match decision {
                AlertDecision::Now => {}
                AlertDecision::Waiting => {
                    tracing::debug!(need = %n.id(), "a stranger's matching need waits for room to alert");
                    return;
                }
                AlertDecision::Spared(why) => {
                    tracing::debug!(need = %n.id(), ?why, "a stranger's matching need raised no alert");
                    return;
                }
            }
        }
        self.alert_need(n);
    }

    fn matches_us(&self, need: &Need) -> bool {
        !self.matched_tags(need).is_empty() || !self.matched_roles(need).is_empty()
    }

    fn alert_need(&mut self, n: &Signed<Need>) {
        self.emit(Event::NeedMatched {
            need: n.id(),
            asker: n.signer,
            text: n.body.text.clone(),
            matched: self.matched_tags(&n.body),
            roles: self.matched_roles(&n.body),
            expires_at: n.body.expires_at,
        });
    }

    /// The source a need is counted under for the strangers' alert shares: the address range
    /// of the peer it came through, that peer when its address is unknown, its signer when it
    /// came through no peer.
    fn alert_source(&self, from: Option<PublicKey>, signer: &PublicKey) -> Vec<u8> {
        match from {
            Some(peer) => match self.mesh.group_of(&peer).and_then(range_of) {
                Some(range) => [b"range:".as_slice(), range.as_bytes()].concat(),
                None => [b"peer:".as_slice(), &peer.0].concat(),
            },
            None => [b"signer:".as_slice(), &signer.0].concat(),
        }
    }

    /// Raises the alerts that waited for room and now have it (needs still open and matching).
    pub(crate) fn stranger_alerts_due(&mut self, now: crate::LocalTime) {
        if self.admission.stranger_alerts.waiting() == 0 {
            return;
        }
        let mut alerts = std::mem::take(&mut self.admission.stranger_alerts);
        let due = alerts.due(now, |id| {
            self.state.pull.need(id).is_some_and(|n| {
                self.need_status(id, n.expires_at, now.as_secs()) == NeedStatus::Open
            })
        });
        self.admission.stranger_alerts = alerts;
        for (id, _) in due {
            if let Ok(Some(n)) = self.store.get_typed::<Need>(&id) {
                if self.matches_us(&n.body) {
                    self.alert_need(&n);
                }
            }
        }
    }

    pub(crate) fn need_status(
        &self,
        id: &RecordId,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> NeedStatus {
        // `revoked` holds only revocations signed by the target's issuer.
        if self.state.attestations.is_revoked(id) {
            NeedStatus::Withdrawn
        } else if expires_at <= now {
            NeedStatus::Expired
        } else {
            NeedStatus::Open
        }
    }

    fn need_view(&self, need: &Signed<Need>, now: UnixTime) -> NeedView {
        let id = need.id();
        let mine = need.signer == self.me;
        let project = need.body.project.as_ref();
        NeedView {
            id,
            asker: need.signer,
            asker_name: self.profile_name(&need.signer),
            text: need.body.text.clone(),
            skills: need.body.skills.clone(),
            resources: need.body.resources.clone(),
            issued_at: need.body.issued_at,
            expires_at: need.body.expires_at,
            status: self.need_status(&id, need.body.expires_at, now),
            mine: need.signer == self.me,
            matched: if need.signer == self.me {
                vec![]
            } else {
                self.matched_tags(&need.body)
            },
            offers: self.state.pull.offer_count(&id),
            roles: need.body.roles(),
            matched_roles: if mine {
                vec![]
            } else {
                self.matched_roles(&need.body)
            },
            project: project.map(|p| {
                Box::new(ProjectTerms {
                    due: p.due,
                    place: p.place.clone(),
                    reward: p.reward.clone(),
                })
            }),
        }
    }

    /// Posts a need: signs and stores it; the caller publishes the returned bytes.
    pub(crate) fn ask(&mut self, p: AskParams, now: UnixTime) -> Result<(Asked, Vec<u8>), Refusal> {
        let (version, skills, resources, project) = if p.is_project() {
            let roles = p.project_roles();
            let (skills, resources) = Need::union_of(&roles);
            let project = guild_core::Project {
                roles,
                due: p.due,
                place: p.project_place(),
                reward: p.project_reward(),
            };
            (2, skills, resources, Some(project))
        } else {
            (
                guild_core::record::RECORD_VERSION,
                p.skills,
                p.resources,
                None,
            )
        };
        let body = Need {
            version,
            issuer: self.me,
            issued_at: now,
            expires_at: now + p.expires_secs.unwrap_or(DEFAULT_NEED_LIFETIME),
            text: p.text,
            skills,
            resources,
            nonce: self.random_u64(),
            project,
        };
        let need = self.sign(body, now)?;
        let record = AnyRecord::Need(need.clone());
        self.store_record(&record, now)?;
        let data = record
            .encode()
            .map_err(|e| Refusal::store(format!("cannot encode: {e}")))?;
        Ok((
            Asked {
                need: self.need_view(&need, now),
                published: false,
            },
            data,
        ))
    }

    /// Lists needs, newest first.
    pub(crate) fn needs(&self, p: NeedsParams, now: UnixTime) -> Needs {
        let mut needs: Vec<NeedView> = self
            .state
            .pull
            .needs()
            .filter(|(_, n)| match p.filter {
                NeedFilter::Mine => n.asker == self.me,
                NeedFilter::Matching => n.asker != self.me,
                NeedFilter::All => true,
            })
            .filter(|(id, n)| {
                p.include_closed || self.need_status(id, n.expires_at, now) == NeedStatus::Open
            })
            .filter_map(|(id, _)| self.store.get_typed::<Need>(id).ok().flatten())
            .map(|n| self.need_view(&n, now))
            .filter(|v| {
                p.filter != NeedFilter::Matching
                    || !v.matched.is_empty()
                    || !v.matched_roles.is_empty()
            })
            .collect();
        needs.sort_by(|a, b| b.issued_at.cmp(&a.issued_at).then(a.id.cmp(&b.id)));
        Needs { needs }
    }

    pub(crate) fn own_need(&self, id: &RecordId) -> Result<Signed<Need>, Refusal> {
        let need = self
            .store
            .get_typed::<Need>(id)?
            .ok_or_else(|| Refusal::unknown(format!("no need {id} is known here")))?;
        if need.signer != self.me {
            return Err(Refusal::unauthorised(format!(
                "need {id} was posted by {}, not by you",
                need.signer
            )));
        }
        Ok(need)
    }

    /// Withdraws one of our needs with a signed revocation every node honours.
    pub(crate) fn withdraw_need(
        &mut self,
        p: WithdrawParams,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let need = self.own_need(&p.need)?;
        if self.state.attestations.is_revoked(&p.need) {
            return Err(Refusal::duplicate(format!(
                "need {} is already withdrawn",
                p.need
            )));
        }
        let rev = self.sign(
            Revocation {
                version: guild_core::record::RECORD_VERSION,
                issuer: self.me,
                issued_at: now,
                expires_at: need.body.expires_at.max(now + 1) + 86_400,
                target: p.need,
                target_kind: RecordKind::Need,
                reason: p.reason,
            },
            now,
        )?;
        let record = AnyRecord::Revocation(rev.clone());
        self.store_revocation(rev, now)?;
        self.publish_record(Topic::Needs, &record);
        Ok(())
    }

    /// Sends an offer on someone's need, delivered directly to the asker. The call is answered
    /// after the first delivery attempt.
    pub(crate) fn offer(
        &mut self,
        call: CallId,
        p: OfferParams,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let need = self.store.get_typed::<Need>(&p.need)?.ok_or_else(|| {
            Refusal::unknown(format!(
                "no need {} is known here (it may not have reached this node yet; see `guild needs`)",
                p.need
            ))
        })?;
        if need.signer == self.me {
            return Err(invalid("you cannot offer on your own need"));
        }
        match self.need_status(&p.need, need.body.expires_at, now) {
            NeedStatus::Open => {}
            NeedStatus::Withdrawn => {
                return Err(Refusal::closed(format!("need {} was withdrawn", p.need)))
            }
            NeedStatus::Expired => {
                return Err(Refusal::closed(format!("need {} has expired", p.need)))
            }
        }
        let roles = need.body.roles();
        let labels = || {
            roles
                .iter()
                .map(|r| r.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let role = match &p.role {
            Some(label) => roles
                .iter()
                .position(|r| &r.label == label)
                .ok_or_else(|| {
                    invalid(format!(
                        "need {} has no role `{label}`; its roles: {}",
                        p.need,
                        labels()
                    ))
                })?,
            None if roles.len() == 1 => 0,
            None => {
                return Err(invalid(format!(
                    "need {} has {} roles ({}): name the one you offer for",
                    p.need,
                    roles.len(),
                    labels()
                )))
            }
        };
        let body = Offer {
            version: if need.body.version >= 2 { 2 } else { 1 },
            issuer: self.me,
            issued_at: now,
            expires_at: need
                .body
                .expires_at
                .min(now + guild_core::limits::MAX_OFFER_LIFETIME),
            need: p.need,
            asker: need.signer,
            text: p.text,
            role: u8::try_from(role).unwrap_or(u8::MAX),
        };
        let offer = self.sign(body, now)?;
        let id = offer.id();
        let record = AnyRecord::Offer(offer);
        self.store_record(&record, now)?;
        self.deliver(
            need.signer,
            DirectRequest::Deliver(Box::new(record)),
            id,
            "offer",
            Some((call, ReplyAs::Delivery)),
        );
        Ok(())
    }

    /// Withdraws an offer we made that was not accepted: a signed revocation, stored here and
    /// delivered to the asker (who then cannot accept it, and is told with `offer.withdrawn`).
    pub(crate) fn withdraw_offer(
        &mut self,
        call: CallId,
        p: OfferWithdrawParams,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let offer = self.store.get_typed::<Offer>(&p.offer)?.ok_or_else(|| {
            Refusal::unknown(format!(
                "no offer {} is known here (see `guild offers`)",
                p.offer
            ))
        })?;
        if offer.signer != self.me {
            return Err(Refusal::unauthorised(format!(
                "offer {} was made by {}, not by you",
                p.offer, offer.signer
            )));
        }
        if let Some(c) = self.state.pull.accepted_in(&p.offer) {
            return Err(Refusal::closed(format!(
                "offer {} was accepted into collaboration {c}: it can no longer be withdrawn",
                p.offer
            )));
        }
        if self.state.attestations.is_revoked(&p.offer) {
            return Err(Refusal::duplicate(format!(
                "offer {} is already withdrawn",
                p.offer
            )));
        }
        let rev = self.sign(
            Revocation {
                version: guild_core::record::RECORD_VERSION,
                issuer: self.me,
                issued_at: now,
                expires_at: offer.body.expires_at.max(now + 1) + 86_400,
                target: p.offer,
                target_kind: RecordKind::Offer,
                reason: p.reason,
            },
            now,
        )?;
        let id = rev.id();
        let record = AnyRecord::Revocation(rev.clone());
        self.store_revocation(rev, now)?;
        self.deliver(
            offer.body.asker,
            DirectRequest::Deliver(Box::new(record)),
            id,
            "offer_withdrawal",
            Some((call, ReplyAs::Delivery)),
        );
        Ok(())
    }

    /// The withdrawal of an offer made to us, delivered by the member who made it (checked
    /// before its signature: see `receive_delivery`).
    pub(crate) fn receive_offer_withdrawal(
        &mut self,
        r: Signed<Revocation>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        self.check_revocation_authority(&r)?;
        let target = r.body.target;
        if let Some(c) = self.state.pull.accepted_in(&target) {
            return Err(Refusal::closed(format!(
                "offer {target} was already accepted into collaboration {c}"
            )));
        }
        let need = self.state.pull.offer(&target).map(|o| o.need);
        let from = r.signer;
        self.store_revocation(r, now)?;
        if let Some(need) = need {
            self.emit(Event::OfferWithdrawn {
                offer: target,
                need,
                from,
            });
        }
        Ok(())
    }

    /// Indexes a stored offer.
    pub(crate) fn index_offer(&mut self, id: RecordId, o: &Signed<Offer>) {
        self.state.pull.insert_offer(
            id,
            OfferInfo {
                need: o.body.need,
                from: o.signer,
                to: o.body.asker,
                issued_at: o.body.issued_at,
                role: o.body.role,
            },
        );
    }

    /// An offer delivered to us.
    pub(crate) fn receive_offer(
        &mut self,
        from: PublicKey,
        offer: Signed<Offer>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        if offer.signer != from {
            return Err(Refusal::unauthorised(
                "an offer must be delivered by the member who made it",
            ));
        }
        if offer.body.asker != self.me {
            return Err(Refusal::not_here("this offer is addressed to someone else"));
        }
        let Some(need) = self.state.pull.need(&offer.body.need).cloned() else {
            return Err(Refusal::unknown(format!(
                "unknown need {}",
                offer.body.need
            )));
        };
        if need.asker != self.me {
            return Err(Refusal::not_here(format!(
                "need {} is not this member's need",
                offer.body.need
            )));
        }
        match self.need_status(&offer.body.need, need.expires_at, now) {
            NeedStatus::Open => {}
            NeedStatus::Withdrawn if self.staffing_closed(&offer.body.need) => {
                return Err(Refusal::closed(format!(
                    "need {} is staffed: it takes no more offers",
                    offer.body.need
                )))
            }
            NeedStatus::Withdrawn => {
                return Err(Refusal::closed(format!(
                    "need {} was withdrawn",
                    offer.body.need
                )))
            }
            NeedStatus::Expired => {
                return Err(Refusal::closed(format!(
                    "need {} has expired",
                    offer.body.need
                )))
            }
        }
        let tier = self.tier_of(&from);
        let per_need = super::admission::OFFERS_PER_NEED.of(tier);
        let from_them = self
            .state
            .pull
            .offers_on(&offer.body.need)
            .filter(|id| self.state.pull.offer(id).is_some_and(|o| o.from == from))
            .count();
        if from_them >= per_need {
            return Err(Refusal::rate_limited(format!(
                "at most {per_need} offers per {} on one need",
                tier.label()
            )));
        }
        if tier == super::admission::Tier::Stranger {
            // Fresh keys are cheap: strangers together get a bounded share of one need's
            // offers, so a flood of keys cannot bury the offers of people the asker knows.
            let senders: Vec<PublicKey> = self
                .state
                .pull
                .offers_on(&offer.body.need)
                .filter_map(|id| self.state.pull.offer(id).map(|o| o.from))
                .collect();
            let strangers = senders
                .iter()
                .filter(|s| self.tier_of(s) == super::admission::Tier::Stranger)
                .count();
            let cap = super::admission::STRANGER_OFFERS_PER_NEED;
            if strangers >= cap {
                return Err(Refusal::rate_limited(format!(
                    "this need already has {strangers} offers from strangers, the most it takes"
                )));
            }
        }
        self.check_role_open(&offer.body.need, offer.body.role)?;
        let size = super::admission::record_size(&AnyRecord::Offer(offer.clone()));
        self.admit_storage(from, RecordKind::Offer, size, now)?;
        let event = Event::OfferReceived {
            offer: offer.id(),
            need: offer.body.need,
            from: offer.signer,
            text: offer.body.text.clone(),
        };
        self.store_record(&AnyRecord::Offer(offer), now)?;
        self.emit(event);
        Ok(())
    }

    /// Offers on our needs and offers we made, newest first.
    pub(crate) fn offers(&self, p: OffersParams, now: UnixTime) -> Offers {
        let ids: Vec<RecordId> = match p.need {
            Some(n) => self.state.pull.offers_on(&n).copied().collect(),
            None => self.state.pull.offer_ids().copied().collect(),
        };
        let mut offers: Vec<OfferView> = ids
            .iter()
            .filter_map(|id| self.store.get_typed::<Offer>(id).ok().flatten())
            .map(|o| {
                let need = self.store.get_typed::<Need>(&o.body.need).ok().flatten();
                OfferView {
                    id: o.id(),
                    need: o.body.need,
                    from: o.signer,
                    to: o.body.asker,
                    text: o.body.text.clone(),
                    issued_at: o.body.issued_at,
                    mine: o.signer == self.me,
                    accepted_in: self.state.pull.accepted_in(&o.id()),
                    role: o.body.role,
                    role_label: need
                        .as_ref()
                        .and_then(|n| n.body.roles().get(usize::from(o.body.role)).cloned())
                        .map(|r| r.label),
                    withdrawn: self.state.attestations.is_revoked(&o.id()),
                    need_status: need
                        .as_ref()
                        .map(|n| self.need_status(&n.id(), n.body.expires_at, now)),
                }
            })
            .collect();
        offers.sort_by(|a, b| b.issued_at.cmp(&a.issued_at).then(a.id.cmp(&b.id)));
        Offers { offers }
    }

    /// Accepts an offer on one of our needs: opens a collaboration naming the need and the offer
    /// by id (no text), stores it and delivers it to the offerer.
    pub(crate) fn accept(&mut self, p: AcceptParams, now: UnixTime) -> Result<CollabView, Refusal> {
        let offer = self.store.get_typed::<Offer>(&p.offer)?.ok_or_else(|| {
            Refusal::unknown(format!(
                "no offer {} is known here (see `guild offers`)",
                p.offer
            ))
        })?;
        if offer.body.asker != self.me {
            return Err(Refusal::unauthorised("this offer was made to someone else"));
        }
        if let Some(c) = self.state.pull.accepted_in(&p.offer) {
            return Err(Refusal::duplicate(format!(
                "offer {} is already accepted in collaboration {c}",
                p.offer
            )));
        }
        if self.state.attestations.is_revoked(&p.offer) {
            return Err(Refusal::closed(format!("offer {} was withdrawn", p.offer)));
        }
        let need = self.own_need(&offer.body.need)?;
        if self.state.attestations.is_revoked(&need.id()) && !self.staffing_closed(&need.id()) {
            return Err(Refusal::closed(format!("need {} was withdrawn", need.id())));
        }
        // One team per need: the first accept opens its collaboration, later ones join it.
        self.check_role_open(&need.id(), offer.body.role)?;
        if let Some(cid) = self.state.pull.team_of(&need.id()) {
            return self.accept_into_team(&cid, &need, &offer, now);
        }
        let body = Collaboration {
            version: guild_core::record::RECORD_VERSION,
            issuer: self.me,
            issued_at: now,
            expires_at: now + COLLABORATION_LIFETIME,
            need: need.id(),
            offers: vec![guild_core::Accepted {
                offerer: offer.signer,
                offer: offer.id(),
            }],
        };
        let collab = self.sign(body, now)?;
        let id = collab.id();
        let record = AnyRecord::Collaboration(collab.clone());
        self.store_record(&record, now)?;
        self.remember_purpose(&id, &collab.body.need);
        self.emit(Event::CollabOpened {
            collab: id,
            purpose: Some(need.body.text.clone()),
            members: collab.body.members(),
        });
        self.deliver(
            offer.signer,
            DirectRequest::Deliver(Box::new(record)),
            id,
            "collaboration",
            None,
        );
        self.after_accept(&need, now);
        self.collab_view(&id, false)
    }

    /// Sends a direct message; answered after the first delivery attempt.
    pub(crate) fn msg(&mut self, call: CallId, p: MsgParams, now: UnixTime) -> Result<(), Refusal> {
        if p.peer == self.me {
            return Err(invalid("you cannot message yourself"));
        }
        let nonce = self.random_u64();
        let m = self.sign(
            Message {
                version: guild_core::record::RECORD_VERSION,
                issuer: self.me,
                to: p.peer,
                issued_at: now,
                expires_at: now + MESSAGE_LIFETIME,
                nonce,
                text: p.text,
            },
            now,
        )?;
        let id = m.id();
        let record = AnyRecord::Message(m);
        self.store_record(&record, now)?;
        self.deliver(
            p.peer,
            DirectRequest::Deliver(Box::new(record)),
            id,
            "message",
            Some((call, ReplyAs::Delivery)),
        );
        Ok(())
    }

    /// A message delivered to us.
    pub(crate) fn receive_message(
        &mut self,
        from: PublicKey,
        m: Signed<Message>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        if m.signer != from {
            return Err(Refusal::unauthorised(
                "a message must be delivered by its sender",
            ));
        }
        if m.body.to != self.me {
            return Err(Refusal::not_here(
                "this message is addressed to someone else",
            ));
        }
        // The hourly budget was checked on delivery, before the signature (see `admission`).
        let size = super::admission::record_size(&AnyRecord::Message(m.clone()));
        self.admit_storage(from, RecordKind::Message, size, now)?;
        let event = Event::MessageReceived {
            message: m.id(),
            from: m.signer,
            text: m.body.text.clone(),
        };
        self.store_record(&AnyRecord::Message(m), now)?;
        self.emit(event);
        Ok(())
    }

    /// Messages received (and sent, on request), newest first.
    pub(crate) fn inbox(&self, p: InboxParams) -> Inbox {
        let me = self.me;
        let messages = self
            .state
            .pull
            .messages_newest_first()
            .filter(|(_, from, to)| **to == me || (p.include_sent && **from == me))
            .filter_map(|(id, _, _)| self.store.get_typed::<Message>(id).ok().flatten())
            .map(|m| MessageView {
                id: m.id(),
                from: m.signer,
                to: m.body.to,
                text: m.body.text.clone(),
                at: m.body.issued_at,
            })
            .collect();
        Inbox { messages }
    }
}
