//! The steps of an introduction delivered to this node: requests (as introducer), relays (as
//! the member introduced) and answers (as requester or introducer).

use super::*;

impl<S: Storage> Service<S> {
    /// One step of an introduction delivered to us.
    pub(crate) fn receive_intro(
        &mut self,
        from: PublicKey,
        msg: IntroMessage,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let id = msg.request_id();
        if self.intros.finished.get(&id).is_some_and(|e| *e > now) {
            return Err(Refusal::duplicate(format!(
                "introduction {id} is already settled here"
            )));
        }
        let result = match msg {
            IntroMessage::Request(r) => self.receive_intro_request(from, r, now),
            IntroMessage::Relay(r) => self.receive_intro_relay(from, r, now),
            IntroMessage::Answer(a) => self.receive_intro_answer(from, a, now),
        };
        self.save_intros_or_warn();
        result
    }

    pub(super) fn receive_intro_request(
        &mut self,
        from: PublicKey,
        r: Signed<IntroRequest>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        // Cheap checks first: a flood costs no signature verification.
        if r.signer != from || r.body.issuer != from {
            return Err(Refusal::unauthorised(
                "an introduction request must be sent by its requester",
            ));
        }
        if r.body.introducer != self.me {
            return Err(Refusal::not_here(
                "this introduction request asks someone else to introduce",
            ));
        }
        let id = r.id();
        if self.intros.to_relay.contains_key(&id) {
            return Err(Refusal::duplicate(format!(
                "introduction request {id} is already here"
            )));
        }
        if self.intros.cooling(&r.body.issuer, &r.body.target, now) {
            return Err(Refusal::rate_limited(format!(
                "an introduction to this member was declined recently; ask again after {} hours",
                INTRO_COOLDOWN_SECS / 3600
            )));
        }
        let tier = self.tier_of(&from);
        let bytes = encoded_len(&r);
        self.intros.admit(&from, tier, bytes)?;
        if !self
            .intros
            .requests
            .allow(tier, &from.0, now.saturating_mul(1000))
        {
            return Err(Refusal::rate_limited(format!(
                "over this member's introduction request budget ({} a day for a {})",
                INTRO_REQUESTS_PER_DAY.of(tier),
                tier.label()
            )));
        }
        r.validate(now)?;
        let (target, note) = (r.body.target, r.body.note.clone());
        self.intros.hold(from, bytes, tier == Tier::Stranger);
        self.intros.to_relay.insert(
            id,
            Waiting {
                step: r,
                signer: from,
                bytes,
                stranger: tier == Tier::Stranger,
            },
        );
        self.intros.touch(Slot::ToRelay, id);
        // Kept before it is acknowledged: a request we cannot keep is refused.
        if let Err(e) = self.save_intros() {
            self.intros.take_to_relay(&id);
            return Err(e.into());
        }
        self.emit(Event::IntroRequested {
            id,
            from,
            target,
            note,
        });
        Ok(())
    }

    pub(super) fn receive_intro_relay(
        &mut self,
        from: PublicKey,
        r: Signed<IntroRelay>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let req = &r.body.request.body;
        if r.signer != from || r.body.issuer != from || req.introducer != from {
            return Err(Refusal::unauthorised(
                "an introduction must be relayed by the introducer its request names",
            ));
        }
        if req.target != self.me {
            return Err(Refusal::not_here("this introduction is for someone else"));
        }
        let id = r.body.request.id();
        if self.intros.to_me.contains_key(&id) {
            return Err(Refusal::duplicate(format!(
                "introduction {id} is already here"
            )));
        }
        if self.intros.cooling(&req.issuer, &req.target, now) {
            return Err(Refusal::rate_limited(format!(
                "an introduction from this member was declined recently; ask again after {} hours",
                INTRO_COOLDOWN_SECS / 3600
            )));
        }
        if self.intros.introduced.contains_key(&req.issuer) {
            return Err(Refusal::duplicate(
                "this member was already introduced here",
            ));
        }
        let tier = self.tier_of(&from);
        let bytes = encoded_len(&r);
        self.intros.admit(&from, tier, bytes)?;
        if !self
            .intros
            .relays
            .allow(tier, &from.0, now.saturating_mul(1000))
        {
            return Err(Refusal::rate_limited(format!(
                "over this introducer's budget ({} introductions a day for a {})",
                INTRO_RELAYS_PER_DAY.of(tier),
                tier.label()
            )));
        }
        // Both signatures: the relay's and the request inside it.
        r.validate(now)?;
        let event = Event::IntroReceived {
            id,
            from: req.issuer,
            by: from,
            note: req.note.clone(),
            introducer_note: r.body.note.clone(),
        };
        self.intros.hold(from, bytes, tier == Tier::Stranger);
        self.intros.to_me.insert(
            id,
            Waiting {
                step: r,
                signer: from,
                bytes,
                stranger: tier == Tier::Stranger,
            },
        );
        self.intros.touch(Slot::ToMe, id);
        // Kept before it is acknowledged: a relay we cannot keep is refused.
        if let Err(e) = self.save_intros() {
            self.intros.take_to_me(&id);
            return Err(e.into());
        }
        self.emit(event);
        Ok(())
    }

    pub(super) fn receive_intro_answer(
        &mut self,
        from: PublicKey,
        a: Signed<IntroAnswer>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let id = a.body.request;
        // Ours: from the introducer (forwarded or declined) or the target (directly or passed
        // on by the introducer).
        if let Some(m) = self.intros.mine.get(&id) {
            let r = &m.request.body;
            let fits = a.body.requester == self.me
                && a.body.introducer == r.introducer
                && a.body.target == r.target;
            if !fits {
                return Err(Refusal::unauthorised(
                    "this answer does not match the introduction it names",
                ));
            }
            if a.body.role == IntroRole::Introducer && from != r.introducer {
                return Err(Refusal::unauthorised(
                    "the introducer's answer must come from the introducer",
                ));
            }
            a.validate(now)?;
            return self.settle_mine(a, now);
        }
        // Relayed by us: the target's answer, to pass on to the requester.
        if let Some((relay, _)) = self.intros.relayed.get(&id) {
            let r = &relay.body.request.body;
            if from != r.target
                || a.body.role != IntroRole::Target
                || a.body.requester != r.issuer
                || a.body.introducer != self.me
            {
                return Err(Refusal::unauthorised(
                    "only the member introduced answers an introduction relayed to them",
                ));
            }
            a.validate(now)?;
            let requester = r.issuer;
            let (target, expires) = (r.target, r.expires_at);
            self.intros.relayed.remove(&id);
            self.intros.touch(Slot::Relayed, id);
            self.intros.finish(id, expires, now);
            if !a.body.accept {
                self.intros.cool(requester, target, now);
            }
            self.emit(Event::IntroAnswered {
                id,
                by: from,
                role: IntroRole::Target,
                accepted: a.body.accept,
                note: a.body.note.clone(),
            });
            let answer_id = a.id();
            self.deliver(
                requester,
                DirectRequest::Intro(Box::new(IntroMessage::Answer(a))),
                answer_id,
                KIND,
                None,
            );
            return Ok(());
        }
        Err(Refusal::unknown(format!(
            "no introduction {id} is waiting here"
        )))
    }

    /// An answer to one of our requests.
    pub(super) fn settle_mine(
        &mut self,
        a: Signed<IntroAnswer>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let id = a.body.request;
        let Some(m) = self.intros.mine.get_mut(&id) else {
            return Err(Refusal::unknown(format!(
                "no introduction {id} is waiting here"
            )));
        };
        let (role, accept) = (a.body.role, a.body.accept);
        let (introducer, target, expires) = (
            m.request.body.introducer,
            m.request.body.target,
            m.request.body.expires_at,
        );
        match (role, accept) {
            (IntroRole::Introducer, true) => {
                if m.state == IntroState::Forwarded {
                    return Err(Refusal::duplicate("already known to be forwarded"));
                }
                m.state = IntroState::Forwarded;
                m.introducer_note = Some(a.body.note.clone());
                self.intros.touch(Slot::Mine, id);
            }
            (_, false) => {
                self.intros.mine.remove(&id);
                self.intros.touch(Slot::Mine, id);
                self.intros.cool(self.me, target, now);
                self.intros.finish(id, expires, now);
            }
            (IntroRole::Target, true) => {
                self.intros.mine.remove(&id);
                self.intros.touch(Slot::Mine, id);
                self.intros.finish(id, expires, now);
                self.record_introduced(target, introducer, id, now)?;
                if !a.body.addrs.is_empty() {
                    self.outbox.push(Io::Dial {
                        peer: target,
                        addrs: a.body.addrs.clone(),
                    });
                }
            }
        }
        self.emit(Event::IntroAnswered {
            id,
            by: a.signer,
            role,
            accepted: accept,
            note: a.body.note.clone(),
        });
        Ok(())
    }
}
