//! Warm introductions (Briar's introduction protocol: both introducees consent, the introducer
//! relays, a failure aborts cleanly on both sides). See `guild_core::record::introduction` for
//! the three signed steps.
//!
//! - The **requester** A proposes introducers from its trust paths ([`Service::introducers`]:
//!   members A trusts who vouched for the target, or whom the target vouched for, from the
//!   attestation indexes) and sends one of them a signed request.
//! - The **introducer** B holds the request until its owner accepts (B relays it to C and tells A)
//!   or declines (B tells A; nothing stays).
//! - The **target** C holds the relay until its owner accepts or declines and tells both B and A
//!   (B passes C's answer on to A too, so either path suffices).
//! - On acceptance A and C each record "introduced by B" for the other: it puts the other in the
//!   **member** tier for budgets and connection room (see [`crate::admission`]), and shows as
//!   context in `find` and on the member page. It is never a trust edge and changes no score.
//!
//! Bounds: requests and relays are rate-limited per sender by tier; pending ones are held
//! within a count and byte budget per signer and in total (strangers together have a smaller
//! total); everything lapses at the request's expiry (at most 7 days). A declined request
//! leaves nothing but a cooldown on the pair (requester, target) for [`INTRO_COOLDOWN_SECS`],
//! so it cannot be repeated at once.
//!
//! Durability: accepted introductions are kept in the store's meta under [`INTRODUCED_KEY`];
//! every pending step (ours, waiting for our answer, relayed by us) under its own meta key
//! (`introductions.pending.<slot>.<id>`, listed under [`PENDING_INDEX_KEY`]), and the
//! cooldowns and settled ids under [`SETTLED_KEY`]. Each is written in the call or request
//! that changed it — before the request is acknowledged, so a restart loses nothing that was
//! acknowledged — and read back at start. A step received and not written is refused.

use super::admission::{Tier, Tiered, TieredLimiter};
use super::direct::ReplyAs;
use super::{CallId, Io, Refusal, Service};
use crate::Storage;
use guild_core::control::intro::{
    IntroAnswerParams, IntroPart, IntroRequestParams, IntroState, IntroView, Introduced,
    Introducer, Introducers, Introductions, DEFAULT_INTRO_LIFETIME, MAX_PROPOSED_INTRODUCERS,
};
use guild_core::control::{CallError, Event};
use guild_core::record::{
    IntroAnswer, IntroMessage, IntroRelay, IntroRequest, IntroRole, RECORD_VERSION,
};
use guild_core::wire::{DirectRequest, RefusalReason};
use guild_core::{PublicKey, RecordId, Signed, UnixTime};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

mod persist;
mod receive;
mod state;

pub(crate) use persist::Slot;
pub(crate) use state::Intros;
use state::{Mine, Waiting};

/// The delivery label of introduction steps (`delivery.outcome` events).
pub(crate) const KIND: &str = "introduction";
/// `meta` key of the accepted introductions (a list of [`Introduced`]).
pub const INTRODUCED_KEY: &str = "introductions";
/// `meta` key of the list of pending steps kept (each under its own key).
pub const PENDING_INDEX_KEY: &str = "introductions.pending";
/// `meta` key of the cooldowns and settled ids.
pub const SETTLED_KEY: &str = "introductions.settled";
/// Cooldowns written to the store (the ones that end last; the rest lapse at a restart). Keeps
/// [`SETTLED_KEY`] within the store's meta value limit.
const MAX_KEPT_COOLDOWNS: usize = 2048;
/// How long a declined (requester, target) pair cannot be asked again, seconds: one day.
pub const INTRO_COOLDOWN_SECS: u64 = 86_400;
/// Introduction requests one requester may send us per day, by tier.
pub const INTRO_REQUESTS_PER_DAY: Tiered<u32> = Tiered {
    stranger: 2,
    member: 10,
    circle: 40,
};
/// Introductions one introducer may relay to us per day, by tier.
pub const INTRO_RELAYS_PER_DAY: Tiered<u32> = Tiered {
    stranger: 2,
    member: 10,
    circle: 40,
};
/// Requests or relays from one signer waiting for our answer at once, by tier.
pub const PENDING_INTROS_PER_SIGNER: Tiered<usize> = Tiered {
    stranger: 1,
    member: 4,
    circle: 16,
};
/// Bytes of requests or relays from one signer waiting for our answer.
pub const PENDING_INTRO_BYTES_PER_SIGNER: usize = 32 * 1024;
/// Requests and relays from strangers waiting for our answer, all strangers together.
pub const STRANGER_INTROS_WAITING: usize = 8;
/// Requests and relays waiting for our answer, everyone together.
pub const MAX_INTROS_WAITING: usize = 256;
/// Bytes of requests and relays waiting for our answer, everyone together.
pub const MAX_INTRO_WAITING_BYTES: usize = 512 * 1024;
/// Our own requests (and relays we made) in flight at once.
pub const MAX_MY_INTROS: usize = 64;
/// Accepted introductions remembered (the oldest is forgotten past it).
pub const MAX_INTRODUCED: usize = 4096;
/// Finished requests whose late duplicates are still recognised (and not counted as unknown).
const MAX_FINISHED: usize = 1024;
/// Cooldowns held at once (the soonest to end goes first past it).
const MAX_COOLDOWNS: usize = 4096;

fn encoded_len<T: guild_core::RecordBody>(s: &Signed<T>) -> usize {
    s.encode().map_or(usize::MAX / 4, |b| b.len())
}

fn view(
    r: &Signed<IntroRequest>,
    state: IntroState,
    role: IntroPart,
    introducer_note: Option<String>,
) -> IntroView {
    IntroView {
        id: r.id(),
        requester: r.body.issuer,
        introducer: r.body.introducer,
        target: r.body.target,
        note: r.body.note.clone(),
        introducer_note,
        need: r.body.need,
        state,
        role,
        issued_at: r.body.issued_at,
        expires_at: r.body.expires_at,
    }
}

fn invalid(m: impl Into<String>) -> CallError {
    CallError::invalid_params(m)
}

impl<S: Storage> Service<S> {
    /// The network layer listens on a new address (told to members we are introduced to).
    pub fn listening(&mut self, addr: String) {
        let l = &mut self.intros.listen;
        if !l.contains(&addr) && l.len() < guild_core::record::MAX_INTRO_ADDRS {
            l.push(addr);
        }
    }

    /// Who introduced us to `peer`, if anyone (context for the member page and `find`).
    pub fn introduced_by(&self, peer: &PublicKey) -> Option<PublicKey> {
        self.intros.introduced_by(peer)
    }

    /// Counts of pending introductions held in memory: (mine, to relay, to me, relayed).
    pub fn pending_intros(&self) -> (usize, usize, usize, usize) {
        self.intros.pending_counts()
    }

    fn save_introduced(&mut self) -> Result<(), Refusal> {
        let all: Vec<&Introduced> = self.intros.introduced.values().collect();
        self.store.put_meta(INTRODUCED_KEY, &all)?;
        Ok(())
    }

    /// Records "introduced by `by`" for `peer`: the member tier from now on, never trust.
    fn record_introduced(
        &mut self,
        peer: PublicKey,
        by: PublicKey,
        request: RecordId,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        if self.intros.introduced.len() >= MAX_INTRODUCED
            && !self.intros.introduced.contains_key(&peer)
        {
            if let Some(oldest) = self
                .intros
                .introduced
                .values()
                .min_by_key(|i| (i.at, i.peer))
                .map(|i| i.peer)
            {
                self.intros.introduced.remove(&oldest);
            }
        }
        self.intros.introduced.insert(
            peer,
            Introduced {
                peer,
                by,
                at: now,
                request,
            },
        );
        self.intros.introduced_changed();
        // A new find view carries it.
        self.index_epoch += 1;
        self.admission.invalidate_standing();
        self.save_introduced()
    }

    /// `intro.introducers`: members we trust who vouched for `target` or whom `target` vouched
    /// for (counted attestations only: each rests on a collaboration both took part in), best
    /// first. From the attestation indexes by subject and by issuer: no scan.
    pub(crate) fn introducers(&mut self, target: PublicKey) -> Introducers {
        let s = self.standing();
        let mut found: BTreeMap<PublicKey, Vec<String>> = BTreeMap::new();
        let mut note = |who: PublicKey, why: String| {
            let reasons = found.entry(who).or_default();
            if reasons.len() < 4 && !reasons.contains(&why) {
                reasons.push(why);
            }
        };
        for id in self.state.attestations.about(&target) {
            if !self.state.attestations.is_counted(id) {
                continue;
            }
            if let Some(a) = self.state.attestations.get(id) {
                note(
                    a.issuer,
                    format!("vouched for them in {} ({:+})", a.skill, a.score),
                );
            }
        }
        for id in self.state.attestations.by(&target) {
            if !self.state.attestations.is_counted(id) {
                continue;
            }
            if let Some(a) = self.state.attestations.get(id) {
                note(
                    a.subject,
                    format!("they vouched for them in {} ({:+})", a.skill, a.score),
                );
            }
        }
        let roots: std::collections::HashSet<PublicKey> =
            self.state.roots.keys().map(|(p, _)| *p).collect();
        let mut out: Vec<Introducer> = found
            .into_iter()
            .filter(|(who, _)| *who != self.me && *who != target)
            .filter_map(|(who, mut reasons)| {
                let trust = s.trust(&who);
                if trust <= 0.0 {
                    return None;
                }
                let first = if roots.contains(&who) {
                    "one of your trust roots".to_string()
                } else {
                    format!("you trust them ({trust:.2})")
                };
                reasons.insert(0, first);
                Some(Introducer {
                    peer: who,
                    name: self.profile_name(&who),
                    trust,
                    connected: self.peers.contains_key(&who),
                    reasons,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.trust
                .total_cmp(&a.trust)
                .then(b.reasons.len().cmp(&a.reasons.len()))
                .then(a.peer.cmp(&b.peer))
        });
        out.truncate(MAX_PROPOSED_INTRODUCERS);
        Introducers {
            peer: target,
            introducers: out,
        }
    }

    /// `intro.request`: signs a request and sends it to the introducer; answered once the
    /// introducer acknowledged it (or why not).
    pub(crate) fn intro_request(
        &mut self,
        call: CallId,
        p: IntroRequestParams,
        now: UnixTime,
    ) -> Result<(), CallError> {
        if p.peer == self.me || p.via == self.me {
            return Err(invalid(
                "you cannot introduce yourself or be introduced to yourself",
            ));
        }
        if p.peer == p.via {
            return Err(invalid(
                "the introducer cannot be the member you want to meet",
            ));
        }
        if self.intros.introduced.contains_key(&p.peer) {
            return Err(invalid("you were already introduced to this member"));
        }
        if self.intros.cooling(&self.me, &p.peer, now) {
            return Err(CallError::unavailable(format!(
                "an introduction to this member was declined recently; ask again after {} hours",
                INTRO_COOLDOWN_SECS / 3600
            )));
        }
        if self
            .intros
            .mine
            .values()
            .any(|m| m.request.body.target == p.peer && m.request.body.expires_at > now)
        {
            return Err(invalid(
                "you already asked for an introduction to this member; wait for the answer",
            ));
        }
        if self.intros.mine.len() >= MAX_MY_INTROS {
            return Err(CallError::unavailable(format!(
                "{MAX_MY_INTROS} of your introduction requests are in flight; wait for answers"
            )));
        }
        let nonce = self.random_u64();
        let request = self
            .sign(
                IntroRequest {
                    version: RECORD_VERSION,
                    issuer: self.me,
                    introducer: p.via,
                    target: p.peer,
                    issued_at: now,
                    expires_at: now + p.expires_in.unwrap_or(DEFAULT_INTRO_LIFETIME),
                    nonce,
                    note: p.note,
                    need: p.need,
                    addrs: self.intros.listen.clone(),
                },
                now,
            )
            .map_err(|e| e.to_call_error())?;
        let id = request.id();
        let v = view(
            &request,
            IntroState::AwaitingIntroducer,
            IntroPart::Requester,
            None,
        );
        self.intros.mine.insert(
            id,
            Mine {
                request: request.clone(),
                state: IntroState::AwaitingIntroducer,
                introducer_note: None,
            },
        );
        self.intros.touch(Slot::Mine, id);
        if let Err(e) = self.save_intros() {
            self.intros.mine.remove(&id);
            self.save_intros_or_warn();
            return Err(CallError::internal(format!(
                "cannot keep the request, nothing was sent: {e}"
            )));
        }
        self.deliver(
            p.via,
            DirectRequest::Intro(Box::new(IntroMessage::Request(request))),
            id,
            KIND,
            Some((call, ReplyAs::Intro(Box::new(v)))),
        );
        Ok(())
    }

    /// The final outcome of delivering one of our steps. A request of ours that could not be
    /// delivered is dropped. A relay the target acknowledged lets the requester know it was
    /// forwarded; one that could not be delivered is dropped and the requester told so, signed
    /// like a decline: a failure aborts cleanly on every side.
    pub(crate) fn intro_delivered(&mut self, step: RecordId, delivered: bool, error: &str) {
        self.intro_step_delivered(step, delivered, error);
        self.save_intros_or_warn();
    }

    fn intro_step_delivered(&mut self, step: RecordId, delivered: bool, error: &str) {
        if !delivered && self.intros.mine.remove(&step).is_some() {
            self.intros.touch(Slot::Mine, step);
            return;
        }
        let Some(id) = self
            .intros
            .relayed
            .iter()
            .find(|(_, (relay, _))| relay.id() == step)
            .map(|(id, _)| *id)
        else {
            return;
        };
        let now = self.now.as_secs();
        if delivered {
            let notice = self.intros.relayed.get_mut(&id).and_then(|(_, n)| n.take());
            self.intros.touch(Slot::Relayed, id);
            if let Some(notice) = notice {
                let (to, nid) = (notice.body.requester, notice.id());
                self.deliver(
                    to,
                    DirectRequest::Intro(Box::new(IntroMessage::Answer(notice))),
                    nid,
                    KIND,
                    None,
                );
            }
            return;
        }
        let Some((relay, _)) = self.intros.relayed.remove(&id) else {
            return;
        };
        self.intros.touch(Slot::Relayed, id);
        let r = relay.body.request.body.clone();
        self.intros.finish(id, r.expires_at, now);
        let note = format!(
            "could not pass the introduction on: {}",
            error.chars().take(200).collect::<String>()
        );
        let body = self.answer_body(&r, id, IntroRole::Introducer, false, note, now);
        match self.sign(body, now) {
            Ok(decline) => {
                let did = decline.id();
                self.deliver(
                    r.issuer,
                    DirectRequest::Intro(Box::new(IntroMessage::Answer(decline))),
                    did,
                    KIND,
                    None,
                );
            }
            Err(e) => tracing::warn!("cannot sign an introduction's failure notice: {e}"),
        }
    }

    /// `intro.list`.
    pub(crate) fn intro_list(&mut self, now: UnixTime) -> Introductions {
        self.sweep_intros(now);
        let i = &self.intros;
        Introductions {
            to_relay: i
                .to_relay
                .values()
                .map(|w| view(&w.step, IntroState::AwaitingMe, IntroPart::Introducer, None))
                .collect(),
            to_me: i
                .to_me
                .values()
                .map(|w| {
                    view(
                        &w.step.body.request,
                        IntroState::AwaitingMe,
                        IntroPart::Target,
                        Some(w.step.body.note.clone()),
                    )
                })
                .collect(),
            mine: i
                .mine
                .values()
                .map(|m| {
                    view(
                        &m.request,
                        m.state,
                        IntroPart::Requester,
                        m.introducer_note.clone(),
                    )
                })
                .collect(),
            relayed: i
                .relayed
                .values()
                .map(|(r, _)| {
                    view(
                        &r.body.request,
                        IntroState::Forwarded,
                        IntroPart::Introducer,
                        Some(r.body.note.clone()),
                    )
                })
                .collect(),
            introduced: i.introduced.values().cloned().collect(),
        }
    }

    fn answer_body(
        &self,
        r: &IntroRequest,
        id: RecordId,
        role: IntroRole,
        accept: bool,
        note: String,
        now: UnixTime,
    ) -> IntroAnswer {
        IntroAnswer {
            version: RECORD_VERSION,
            issuer: self.me,
            issued_at: now,
            expires_at: r.expires_at,
            request: id,
            requester: r.issuer,
            introducer: r.introducer,
            target: r.target,
            role,
            accept,
            note,
            addrs: if accept && role == IntroRole::Target {
                self.intros.listen.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// `intro.answer`: as introducer, relay (accept) or decline a request; as the member
    /// introduced, accept or decline an introduction.
    pub(crate) fn intro_answer(
        &mut self,
        call: CallId,
        p: IntroAnswerParams,
        now: UnixTime,
    ) -> Result<(), CallError> {
        self.sweep_intros(now);
        let result = if let Some(request) = self.intros.take_to_relay(&p.id) {
            self.answer_as_introducer(call, request, p, now)
        } else if let Some(relay) = self.intros.take_to_me(&p.id) {
            self.answer_as_target(call, relay, p, now)
        } else {
            Err(CallError::not_found(format!(
                "no introduction {} waits for your answer (see `intro.list`)",
                p.id
            )))
        };
        self.save_intros_or_warn();
        result
    }

    fn answer_as_introducer(
        &mut self,
        call: CallId,
        request: Signed<IntroRequest>,
        p: IntroAnswerParams,
        now: UnixTime,
    ) -> Result<(), CallError> {
        let id = request.id();
        let r = request.body.clone();
        let answer = self
            .sign(
                self.answer_body(&r, id, IntroRole::Introducer, p.accept, p.note.clone(), now),
                now,
            )
            .map_err(|e| e.to_call_error())?;
        if !p.accept {
            let answer_id = answer.id();
            self.intros.cool(r.issuer, r.target, now);
            self.intros.finish(id, r.expires_at, now);
            let v = view(
                &request,
                IntroState::AwaitingMe,
                IntroPart::Introducer,
                None,
            );
            self.deliver(
                r.issuer,
                DirectRequest::Intro(Box::new(IntroMessage::Answer(answer))),
                answer_id,
                KIND,
                Some((call, ReplyAs::Intro(Box::new(v)))),
            );
            return Ok(());
        }
        let relay = self
            .sign(
                IntroRelay {
                    version: RECORD_VERSION,
                    issuer: self.me,
                    issued_at: now,
                    expires_at: r.expires_at,
                    request: request.clone(),
                    note: p.note.clone(),
                },
                now,
            )
            .map_err(|e| e.to_call_error())?;
        let relay_id = relay.id();
        // The requester hears "forwarded" once the target acknowledged the relay.
        self.intros
            .relayed
            .insert(id, (relay.clone(), Some(answer)));
        self.intros.touch(Slot::Relayed, id);
        let v = view(
            &request,
            IntroState::Forwarded,
            IntroPart::Introducer,
            Some(p.note),
        );
        self.deliver(
            r.target,
            DirectRequest::Intro(Box::new(IntroMessage::Relay(relay))),
            relay_id,
            KIND,
            Some((call, ReplyAs::Intro(Box::new(v)))),
        );
        Ok(())
    }

    fn answer_as_target(
        &mut self,
        call: CallId,
        relay: Signed<IntroRelay>,
        p: IntroAnswerParams,
        now: UnixTime,
    ) -> Result<(), CallError> {
        let request = relay.body.request.clone();
        let id = request.id();
        let r = request.body.clone();
        let answer = self
            .sign(
                self.answer_body(&r, id, IntroRole::Target, p.accept, p.note, now),
                now,
            )
            .map_err(|e| e.to_call_error())?;
        let answer_id = answer.id();
        let msg = DirectRequest::Intro(Box::new(IntroMessage::Answer(answer)));
        self.intros.finish(id, r.expires_at, now);
        let state = if p.accept {
            self.record_introduced(r.issuer, r.introducer, id, now)
                .map_err(|e| e.to_call_error())?;
            // Dial the requester where it said it listens, so the answer can go straight to it.
            if !r.addrs.is_empty() {
                self.outbox.push(Io::Dial {
                    peer: r.issuer,
                    addrs: r.addrs.clone(),
                });
            }
            IntroState::Accepted
        } else {
            self.intros.cool(r.issuer, r.target, now);
            IntroState::AwaitingMe
        };
        let v = view(&request, state, IntroPart::Target, Some(relay.body.note));
        // To the introducer (the call waits on it) and straight to the requester: either path
        // reaches the requester, as the introducer passes the answer on.
        self.deliver(
            r.introducer,
            msg.clone(),
            answer_id,
            KIND,
            Some((call, ReplyAs::Intro(Box::new(v)))),
        );
        self.deliver(r.issuer, msg, answer_id, KIND, None);
        Ok(())
    }

    /// Drops what lapsed, and cooldowns that ended (a few hundred entries at most: bounded).
    pub(crate) fn sweep_intros(&mut self, now: UnixTime) {
        let i = &mut self.intros;
        let lapsed: Vec<RecordId> = i
            .mine
            .iter()
            .filter(|(_, m)| m.request.body.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in lapsed {
            i.mine.remove(&id);
            i.touch(Slot::Mine, id);
        }
        let lapsed: Vec<RecordId> = i
            .to_relay
            .iter()
            .filter(|(_, w)| w.step.body.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in lapsed {
            i.take_to_relay(&id);
        }
        let lapsed: Vec<RecordId> = i
            .to_me
            .iter()
            .filter(|(_, w)| w.step.body.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in lapsed {
            i.take_to_me(&id);
        }
        let lapsed: Vec<RecordId> = i
            .relayed
            .iter()
            .filter(|(_, (r, _))| r.body.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in lapsed {
            i.relayed.remove(&id);
            i.touch(Slot::Relayed, id);
        }
        i.cooldown.retain(|_, until| *until > now);
        i.finished.retain(|_, e| *e > now);
        self.save_intros_or_warn();
    }
}
