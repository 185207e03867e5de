//! Teams: a need's roles filled by accepted offers, all in the need's one collaboration.
//!
//! The first accepted offer opens the collaboration (its record names that offer); every later
//! one is an `Accept` entry the asker writes into the log, delivered to the new member with the
//! collaboration and its log. The asker may `Release` a member who has written nothing yet,
//! reopening the role. When every role is filled, or the asker stops early, staffing closes: a
//! signed withdrawal of the need every node honours (no more offers, no more `need.matched`),
//! remembered here so the asker can still refill a released role from offers in hand.

use super::{Refusal, Service};
use crate::Storage;
use guild_core::control::pull::{
    CollabView, NeedStatus, RoleBoard, RoleSuggestions, Staffing, Suggestion, TeamBoard,
    TeamSuggestions, WithdrawParams,
};
use guild_core::wire::RefusalReason;
use guild_core::{EntryKind, Need, Offer, PublicKey, RecordId, Signed, UnixTime};

/// Most candidates suggested per role.
pub const MAX_SUGGESTIONS: usize = 5;

/// `meta` key marking a need of ours whose staffing closed (filled, or stopped early).
fn staffing_key(need: &RecordId) -> String {
    format!("staffing_closed/{need}")
}

/// Accepted members per role: (offerer, offer).
type ByRole = Vec<Vec<(PublicKey, RecordId)>>;

impl<S: Storage> Service<S> {
    /// Whether staffing of our need closed (every role filled, or stopped early).
    pub(crate) fn staffing_closed(&self, need: &RecordId) -> bool {
        self.store
            .get_meta::<bool>(&staffing_key(need))
            .ok()
            .flatten()
            .unwrap_or(false)
    }

    /// The team of a need and its members per role (releases applied). An accepted offer no
    /// longer held counts for role 0.
    fn team_by_role(&self, need: &RecordId, roles: usize) -> (Option<RecordId>, ByRole) {
        let mut by_role: ByRole = vec![Vec::new(); roles];
        let team = self.state.pull.team_of(need);
        if let Some(c) = team.and_then(|id| self.state.collabs.get(&id)) {
            for (who, offer) in &c.team {
                let role = self
                    .state
                    .pull
                    .offer(offer)
                    .map_or(0, |o| usize::from(o.role));
                if let Some(slot) = by_role.get_mut(role) {
                    slot.push((*who, *offer));
                }
            }
        }
        (team, by_role)
    }

    /// Refuses an offer (or its acceptance) on a role the need does not have, or one filled.
    pub(crate) fn check_role_open(&self, need_id: &RecordId, role: u8) -> Result<(), Refusal> {
        let Some(need) = self.store.get_typed::<Need>(need_id)? else {
            return Err(Refusal::unknown(format!("unknown need {need_id}")));
        };
        let roles = need.body.roles();
        let Some(r) = roles.get(usize::from(role)) else {
            return Err(Refusal::new(
                RefusalReason::Malformed,
                format!(
                    "need {need_id} has {} role(s); there is no role {role}",
                    roles.len()
                ),
            ));
        };
        let (_, by_role) = self.team_by_role(need_id, roles.len());
        let filled = by_role.get(usize::from(role)).map_or(0, Vec::len);
        if filled >= usize::from(r.count) {
            return Err(Refusal::closed(format!(
                "role `{}` of need {need_id} is filled ({filled} of {})",
                r.label, r.count
            )));
        }
        Ok(())
    }

    /// A later accept: the offerer joins the need's collaboration by an `Accept` entry.
    pub(crate) fn accept_into_team(
        &mut self,
        cid: &RecordId,
        need: &Signed<Need>,
        offer: &Signed<Offer>,
        now: UnixTime,
    ) -> Result<CollabView, Refusal> {
        let c = self.state.collabs.get(cid).ok_or_else(|| {
            Refusal::unknown(format!("the team's collaboration {cid} is not held"))
        })?;
        if c.members.contains(&offer.signer) {
            return Err(Refusal::duplicate(format!(
                "{} is already on the team of need {}",
                offer.signer,
                need.id()
            )));
        }
        if c.released.contains(&offer.id()) {
            return Err(Refusal::closed(format!(
                "offer {} was released from the team",
                offer.id()
            )));
        }
        if c.closed {
            return Err(Refusal::closed(format!(
                "the team's collaboration {cid} is closed"
            )));
        }
        self.write_entry(
            None,
            cid,
            EntryKind::Accept {
                offerer: offer.signer,
                offer: offer.id(),
            },
            now,
        )?;
        self.after_accept(need, now);
        self.collab_view(cid, false)
    }

    /// After an accept: when every role of a project (a version 2 need) is filled, staffing
    /// closes. A version 1 need keeps today's behaviour on the network (no withdrawal is
    /// published); its one role of one person still takes no second member here.
    pub(crate) fn after_accept(&mut self, need: &Signed<Need>, now: UnixTime) {
        if need.body.project.is_none() {
            return;
        }
        let roles = need.body.roles();
        let (_, by_role) = self.team_by_role(&need.id(), roles.len());
        let full = roles
            .iter()
            .zip(&by_role)
            .all(|(r, m)| m.len() >= usize::from(r.count));
        if full && !self.staffing_closed(&need.id()) {
            if let Err(e) = self.close_staffing(&need.id(), "staffed: every role is filled", now) {
                tracing::warn!(need = %need.id(), "staffing did not close: {e}");
            }
        }
    }

    fn close_staffing(
        &mut self,
        need: &RecordId,
        reason: &str,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        self.store.put_meta(&staffing_key(need), &true)?;
        if self.state.attestations.is_revoked(need) {
            return Ok(());
        }
        self.withdraw_need(
            WithdrawParams {
                need: *need,
                reason: reason.into(),
            },
            now,
        )
    }

    /// `team`: the staffing board of one of our needs.
    pub(crate) fn team_board(
        &self,
        need_id: &RecordId,
        now: UnixTime,
    ) -> Result<Box<TeamBoard>, Refusal> {
        let need = self.own_need(need_id)?;
        let roles = need.body.roles();
        let (team, by_role) = self.team_by_role(need_id, roles.len());
        let collab = team.and_then(|id| self.state.collabs.get(&id));
        let released: &[RecordId] = collab.map_or(&[], |c| c.released.as_slice());
        let mut pending: ByRole = vec![Vec::new(); roles.len()];
        for id in self.state.pull.offers_on(need_id) {
            let accepted = by_role.iter().flatten().any(|(_, o)| o == id);
            if accepted || released.contains(id) || self.state.attestations.is_revoked(id) {
                continue;
            }
            if let Some(o) = self.state.pull.offer(id) {
                if let Some(slot) = pending.get_mut(usize::from(o.role)) {
                    slot.push((o.from, *id));
                }
            }
        }
        let all_filled = roles
            .iter()
            .zip(&by_role)
            .all(|(r, m)| m.len() >= usize::from(r.count));
        let status = if collab.is_some_and(|c| c.closed) {
            Staffing::Closed
        } else if all_filled || self.staffing_closed(need_id) {
            Staffing::Staffed
        } else if self.need_status(need_id, need.body.expires_at, now) != NeedStatus::Open {
            Staffing::Closed
        } else {
            Staffing::Staffing
        };
        let project = need.body.project.as_ref();
        Ok(Box::new(TeamBoard {
            need: *need_id,
            text: need.body.text.clone(),
            status,
            collab: team,
            due: project.and_then(|p| p.due),
            place: project.map(|p| p.place.clone()),
            reward: project.map(|p| p.reward.clone()),
            roles: roles
                .into_iter()
                .zip(by_role.into_iter().zip(pending))
                .enumerate()
                .map(|(i, (role, (members, offers)))| RoleBoard {
                    index: u8::try_from(i).unwrap_or(u8::MAX),
                    filled: members.len() >= usize::from(role.count),
                    members: members.into_iter().map(|(who, _)| who).collect(),
                    offers: offers.into_iter().map(|(_, id)| id).collect(),
                    role,
                })
                .collect(),
        }))
    }

    /// `team.release`: the asker takes a member who has written nothing yet off the team; the
    /// role reopens.
    pub(crate) fn team_release(
        &mut self,
        offer_id: &RecordId,
        now: UnixTime,
    ) -> Result<Box<TeamBoard>, Refusal> {
        let offer = self.store.get_typed::<Offer>(offer_id)?.ok_or_else(|| {
            Refusal::unknown(format!(
                "no offer {offer_id} is known here (see `guild offers`)"
            ))
        })?;
        if offer.body.asker != self.me {
            return Err(Refusal::unauthorised("this offer was made to someone else"));
        }
        let need = offer.body.need;
        let cid = self
            .state
            .pull
            .team_of(&need)
            .ok_or_else(|| Refusal::unknown(format!("need {need} has no team yet")))?;
        let c = self.state.collabs.get(&cid).ok_or_else(|| {
            Refusal::unknown(format!("the team's collaboration {cid} is not held"))
        })?;
        if !c.team.iter().any(|(_, o)| o == offer_id) {
            return Err(Refusal::unknown(format!(
                "offer {offer_id} is not on the team of need {need}"
            )));
        }
        if c.closed {
            return Err(Refusal::closed(format!("collaboration {cid} is closed")));
        }
        if c.log.keys().any(|k| k.2 == offer.signer) {
            return Err(Refusal::closed(format!(
                "{} has already written in collaboration {cid}: work has started, so they cannot be released",
                offer.signer
            )));
        }
        self.write_entry(None, &cid, EntryKind::Release { offer: *offer_id }, now)?;
        self.team_board(&need, now)
    }

    /// `team.stop`: stops staffing early.
    pub(crate) fn team_stop(
        &mut self,
        need: &RecordId,
        now: UnixTime,
    ) -> Result<Box<TeamBoard>, Refusal> {
        self.own_need(need)?;
        if self.staffing_closed(need) {
            return Err(Refusal::duplicate(format!(
                "staffing of need {need} is already closed"
            )));
        }
        self.close_staffing(need, "staffed: the asker stopped staffing", now)?;
        self.team_board(need, now)
    }
}

impl<S: Storage> Service<S> {
    /// Team members (of `team`) that `who` worked well with: a counted, positive attestation
    /// between them, either way (it only counts after a collaboration both closed). Work is
    /// proportional to the attestations about and by `who`.
    fn worked_well_with(&self, who: &PublicKey, team: &[PublicKey]) -> Vec<PublicKey> {
        let atts = &self.state.attestations;
        let mut out: Vec<PublicKey> = Vec::new();
        let positive = |id: &RecordId| {
            atts.is_counted(id) && !atts.is_revoked(id) && atts.get(id).is_some_and(|a| a.score > 0)
        };
        for id in atts.about(who).filter(|id| positive(id)) {
            if let Some(a) = atts.get(id) {
                if team.contains(&a.issuer) && !out.contains(&a.issuer) {
                    out.push(a.issuer);
                }
            }
        }
        for id in atts.by(who).filter(|id| positive(id)) {
            if let Some(a) = atts.get(id) {
                if team.contains(&a.subject) && !out.contains(&a.subject) {
                    out.push(a.subject);
                }
            }
        }
        out
    }

    /// `team.suggest`: per role, the best candidates from the index, and why.
    pub(crate) fn team_suggest(
        &mut self,
        need_id: &RecordId,
        now: super::io::Millis,
    ) -> Result<TeamSuggestions, Refusal> {
        let need = self.own_need(need_id)?;
        let roles = need.body.roles();
        let (_, by_role) = self.team_by_role(need_id, roles.len());
        let mut team = vec![self.me];
        team.extend(by_role.iter().flatten().map(|(who, _)| *who));
        let offered: Vec<PublicKey> = self
            .state
            .pull
            .offers_on(need_id)
            .filter_map(|id| self.state.pull.offer(id))
            .map(|o| o.from)
            .collect();
        let mut out = Vec::with_capacity(roles.len());
        for (i, (role, members)) in roles.iter().zip(&by_role).enumerate() {
            let words: Vec<&str> = role
                .skills
                .iter()
                .chain(&role.resources)
                .map(|t| t.as_str())
                .collect();
            let q = crate::index::Query {
                words: Some(words.join(" ")),
                limit: 4 * MAX_SUGGESTIONS + team.len(),
                ..Default::default()
            };
            let (matches, _) = self.find(&q, now);
            let mut candidates: Vec<Suggestion> = matches
                .into_iter()
                .filter(|m| !team.contains(&m.peer))
                .map(|m| {
                    let worked_with = self.worked_well_with(&m.peer, &team);
                    let mut why = Vec::new();
                    let has: Vec<String> = m
                        .matched_skills
                        .iter()
                        .map(|(t, level)| format!("{t} ({level})"))
                        .chain(
                            m.matched_resources
                                .iter()
                                .map(|t| format!("{t} (resource)")),
                        )
                        .collect();
                    if !has.is_empty() {
                        why.push(format!("has {}", has.join(", ")));
                    }
                    match m.trust {
                        Some(t) => {
                            why.push(format!("trusted {t:.2} for it: a trust path from you"))
                        }
                        None => why.push("a stranger to you: no trust path".into()),
                    }
                    if !worked_with.is_empty() {
                        let names: Vec<String> = worked_with
                            .iter()
                            .map(|k| {
                                if *k == self.me {
                                    "you".to_string()
                                } else {
                                    self.profile_name(k).unwrap_or_else(|| k.to_string())
                                }
                            })
                            .collect();
                        why.push(format!(
                            "worked well with {} on a past collaboration",
                            names.join(", ")
                        ));
                    }
                    if m.availability < 1.0 {
                        why.push("does not say when the resource is available".into());
                    }
                    let offered = offered.contains(&m.peer);
                    if offered {
                        why.push("already offered on this need".into());
                    }
                    Suggestion {
                        peer: m.peer,
                        name: m.name,
                        fit: m.fit,
                        trust: m.trust,
                        availability: m.availability,
                        score: m.score,
                        worked_with,
                        offered,
                        why,
                    }
                })
                .collect();
            // Fit first; among equal fit, people who worked well with the team, then `find`'s
            // order (a trust path before strangers).
            candidates.sort_by(|a, b| {
                let fit = |s: &Suggestion| (s.fit * 100.0).round() as i64;
                fit(b)
                    .cmp(&fit(a))
                    .then(a.worked_with.is_empty().cmp(&b.worked_with.is_empty()))
                    .then(b.score.total_cmp(&a.score))
            });
            candidates.truncate(MAX_SUGGESTIONS);
            out.push(RoleSuggestions {
                index: u8::try_from(i).unwrap_or(u8::MAX),
                label: role.label.clone(),
                open: members.len() < usize::from(role.count),
                candidates,
            });
        }
        Ok(TeamSuggestions {
            need: *need_id,
            roles: out,
        })
    }
}
