//! A community with realistic traffic, driven through the members' control calls, run until it
//! converges.
//!
//! Script (all times virtual, all choices from the seed):
//! 1. every member publishes a profile with [`CommunityConfig::skills_per_member`] skills drawn
//!    (skewed towards the popular ones) from [`VOCABULARY`], at a random time within
//!    [`CommunityConfig::profile_window_ms`];
//! 2. a fraction of members ([`CommunityConfig::need_fraction`]) ask for one or two skills at a
//!    random time within the following [`CommunityConfig::need_window_ms`]; a fraction
//!    ([`CommunityConfig::team_fraction`]) of those needs are small projects instead: 2–5 roles,
//!    each one or two skills for one or two people (a version 2 need);
//! 3. each member whose node raises `need.matched` offers with probability
//!    [`CommunityConfig::offer_probability`] (on a project, on one of the roles it was matched
//!    on);
//! 4. an asker accepts the first offer that reaches it (on a project: one offer per open seat,
//!    first come, all into the need's one collaboration), and posts in the collaboration; each
//!    offerer posts back when the collaboration reaches it;
//! 5. [`CommunityConfig::collab_ms`] after accepting (on a project: after the last seat is
//!    filled, or at [`CommunityConfig::team_staffing_ms`] after asking if some seat is still
//!    open), the asker closes its part of the collaboration; when that close reaches an offerer,
//!    the offerer closes its own part and vouches for the asker; when an offerer's close reaches
//!    the asker, the asker vouches for that offerer (an attestation counts only when both sides
//!    closed).
//!
//! **Convergence** is the first check (every [`CommunityConfig::check_every_ms`]) at which
//! (a) the whole script has been issued — every profile and need, and both attestations of every
//! collaboration opened — and (b) every online node holds every public record an honest service
//! published (the newest profile of every member, every need, every attestation) and (c) counts
//! every published attestation in its trust (it fetched and verified the proof).

use crate::{GossipStats, NodeId, Sim, SimConfig, Traffic, START_MS};
use guild_core::control::pull::{
    AcceptParams, AskParams, Asked, CollabCloseParams, CollabPostParams, CollabView, OfferParams,
    RoleInput,
};
use guild_core::control::reputation::VouchParams;
use guild_core::control::{Event, ProfileDraft, ServiceCall};
use guild_core::{Level, PublicKey, RecordId, RecordKind, Skill, SkillTag};
use guild_service::Millis;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;

/// Skills members have and ask for: a mix of trades, crafts, care and software.
pub const VOCABULARY: [&str; 60] = [
    "rust",
    "python",
    "javascript",
    "kicad",
    "soldering",
    "3d-printing",
    "woodworking",
    "bike-repair",
    "plumbing",
    "electrical",
    "sewing",
    "cooking",
    "baking",
    "gardening",
    "photography",
    "video-editing",
    "graphic-design",
    "web-design",
    "translation",
    "german",
    "spanish",
    "french",
    "accounting",
    "tax-advice",
    "legal-advice",
    "tutoring",
    "math",
    "physics",
    "first-aid",
    "childcare",
    "elder-care",
    "dog-training",
    "moving-help",
    "car-repair",
    "painting",
    "tiling",
    "masonry",
    "roofing",
    "welding",
    "carpentry",
    "linux",
    "networking",
    "databases",
    "machine-learning",
    "data-analysis",
    "spreadsheets",
    "copywriting",
    "illustration",
    "ux-design",
    "typescript",
    "go",
    "pcb-design",
    "cad",
    "knitting",
    "beekeeping",
    "permaculture",
    "sound-engineering",
    "chemistry",
    "bookkeeping",
    "nursing",
];

/// The community's size and behaviour.
#[derive(Debug, Clone)]
pub struct CommunityConfig {
    /// Members (one node each).
    pub members: usize,
    /// The simulated network.
    pub sim: SimConfig,
    /// Skills per profile.
    pub skills_per_member: usize,
    /// Profiles are published within this window from the start, ms.
    pub profile_window_ms: Millis,
    /// Fraction of members who post a need.
    pub need_fraction: f64,
    /// Needs are posted within this window after the profile window, ms.
    pub need_window_ms: Millis,
    /// Probability that a matched member offers.
    pub offer_probability: f64,
    /// Fraction of needs that are small projects (2–5 roles).
    pub team_fraction: f64,
    /// From asking for a project to closing its collaboration if some seat is still open, ms.
    pub team_staffing_ms: Millis,
    /// From accepting an offer to closing the collaboration, ms.
    pub collab_ms: Millis,
    /// How often convergence is checked, ms.
    pub check_every_ms: Millis,
    /// Give up after this much virtual time, ms.
    pub deadline_ms: Millis,
    /// Whether convergence also requires every node to count every attestation (condition (c)
    /// of the module docs). Off for lossy runs: the service does not retry a failed proof fetch
    /// (see the crate's report), so under loss some attestations stay unbacked on some nodes.
    pub require_counted: bool,
}

impl CommunityConfig {
    /// Defaults for `members` members over `sim`: 3 skills each, profiles within 2 minutes, 10 %
    /// of members asking within the next 2 minutes (10 % of those needs projects, staffed for at
    /// most 10 minutes), 6 % of matched members offering, collaborations closed after 30 s,
    /// checks every second, a 1-hour deadline.
    pub fn new(members: usize, sim: SimConfig) -> CommunityConfig {
        CommunityConfig {
            members,
            sim,
            skills_per_member: 3,
            profile_window_ms: 120_000,
            need_fraction: 0.1,
            need_window_ms: 120_000,
            offer_probability: 0.06,
            team_fraction: 0.1,
            team_staffing_ms: 600_000,
            collab_ms: 30_000,
            check_every_ms: 1_000,
            deadline_ms: 3_600_000,
            require_counted: true,
        }
    }
}

/// The node of a member (members are nodes `0..members`).
pub fn member(i: usize) -> NodeId {
    i
}

/// What a community run did and how long it took.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Members.
    pub members: usize,
    /// Profiles published.
    pub profiles: usize,
    /// Needs posted.
    pub needs: usize,
    /// `need.matched` events raised, all nodes together.
    pub matched: u64,
    /// Offers made.
    pub offers: usize,
    /// Collaborations opened (one per need with an accepted offer).
    pub collaborations: usize,
    /// Offers accepted (one-role needs: one per collaboration; projects: one per seat filled).
    pub accepted: usize,
    /// Needs that are projects (2–5 roles).
    pub team_needs: usize,
    /// Projects whose every seat was filled.
    pub teams_staffed: usize,
    /// For each staffed project, virtual time from the ask to the last seat filled, ms (sorted).
    pub staff_ms: Vec<Millis>,
    /// For each one-role need with an accepted offer, virtual time from the ask to the accept,
    /// ms (sorted).
    pub one_role_staff_ms: Vec<Millis>,
    /// Collaborations closed.
    pub closed: usize,
    /// Attestations published.
    pub attestations: usize,
    /// Public records published in all.
    pub published: usize,
    /// Whether the community converged before the deadline.
    pub converged: bool,
    /// Virtual time from the start to convergence (or to the deadline), ms.
    pub convergence_ms: Millis,
    /// Virtual time of the last public record published, from the start, ms.
    pub last_publish_ms: Millis,
    /// Traffic of every node together.
    pub traffic: Traffic,
    /// What happened to gossip.
    pub gossip: GossipStats,
    /// Messages handled by the simulator.
    pub trace_len: u64,
    /// The trace hash (same seed ⇒ same hash).
    pub trace_hash: [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Profile(NodeId),
    Ask(NodeId),
    Close(RecordId),
    /// The staffing window of a project ended.
    StaffingEnds(RecordId),
}

/// One accepted offerer in a collaboration.
#[derive(Debug, Clone)]
struct Seat {
    node: NodeId,
    /// The skill vouched for (both ways).
    skill: SkillTag,
    asker_vouched: bool,
    offerer_vouched: bool,
}

#[derive(Debug, Clone)]
struct Collab {
    asker: NodeId,
    seats: Vec<Seat>,
    /// Whether the asker's close is scheduled or done.
    closing: bool,
}

/// One role of a project as the scenario tracks it.
#[derive(Debug, Clone)]
struct RoleTrack {
    label: SkillTag,
    skills: Vec<SkillTag>,
    count: u8,
    filled: u8,
}

/// A need the scenario posted.
#[derive(Debug, Clone)]
struct NeedTrack {
    asker: NodeId,
    /// The first skill asked (one-role needs).
    skill: SkillTag,
    /// The roles of a project; empty for a one-role need.
    roles: Vec<RoleTrack>,
    asked_at: Millis,
    /// The need's collaboration, once an offer was accepted.
    collab: Option<RecordId>,
    /// Whether the asker still accepts offers.
    open: bool,
}

/// How a project ended up, for tests and reports.
#[derive(Debug, Clone)]
pub struct TeamOutcome {
    /// The need.
    pub need: RecordId,
    /// The asker.
    pub asker: NodeId,
    /// Members accepted, by role index.
    pub members: Vec<(usize, NodeId)>,
    /// The collaboration (once an offer was accepted).
    pub collab: Option<RecordId>,
    /// Whether every seat was filled.
    pub staffed: bool,
    /// Seats in all (sum of the roles' counts).
    pub seats: usize,
}

/// A community on a simulator, with its script and bookkeeping.
pub struct Community {
    /// The simulation (scenario code may inspect or perturb it between steps).
    pub sim: Sim,
    cfg: CommunityConfig,
    rng: StdRng,
    vocabulary: Vec<SkillTag>,
    actions: BTreeMap<(Millis, u64), Action>,
    action_seq: u64,
    /// Project choices, from their own stream so that a run without projects draws the same
    /// numbers from `rng` as before projects existed.
    team_rng: StdRng,
    needs: BTreeMap<RecordId, NeedTrack>,
    /// (need, offerer) → role index offered on (projects only).
    offered: BTreeMap<(RecordId, NodeId), usize>,
    collabs: BTreeMap<RecordId, Collab>,
    report: Report,
}

fn tag(s: &str) -> SkillTag {
    SkillTag::parse(s).unwrap_or_else(|e| panic!("vocabulary tag {s}: {e}"))
}

impl Community {
    /// Builds the simulation and schedules the profiles and needs.
    pub fn new(cfg: CommunityConfig) -> Community {
        let sim = Sim::new(cfg.sim.clone(), cfg.members);
        let mut c = Community {
            sim,
            rng: StdRng::seed_from_u64(cfg.sim.seed ^ 0xc0ff_ee00_d15e_a5e5),
            team_rng: StdRng::seed_from_u64(cfg.sim.seed ^ 0x7ea3_5eed_0f0b_1e00),
            vocabulary: VOCABULARY.iter().map(|s| tag(s)).collect(),
            actions: BTreeMap::new(),
            action_seq: 0,
            needs: BTreeMap::new(),
            offered: BTreeMap::new(),
            collabs: BTreeMap::new(),
            report: Report {
                members: cfg.members,
                ..Report::default()
            },
            cfg,
        };
        for i in 0..c.cfg.members {
            let at = START_MS + c.rng.random_range(0..c.cfg.profile_window_ms.max(1));
            c.at(at, Action::Profile(i));
        }
        for i in 0..c.cfg.members {
            if c.rng.random_bool(c.cfg.need_fraction.clamp(0.0, 1.0)) {
                let at = START_MS
                    + c.cfg.profile_window_ms
                    + c.rng.random_range(0..c.cfg.need_window_ms.max(1));
                c.at(at, Action::Ask(i));
            }
        }
        c
    }

    fn at(&mut self, t: Millis, a: Action) {
        self.action_seq += 1;
        self.actions.insert((t, self.action_seq), a);
    }

    /// A skill, skewed towards the start of the vocabulary (popular skills).
    fn skill(&mut self) -> SkillTag {
        let u: f64 = self.rng.random();
        let i = ((u * u) * self.vocabulary.len() as f64) as usize;
        self.vocabulary[i.min(self.vocabulary.len() - 1)].clone()
    }

    fn profile(&mut self, i: NodeId) {
        let mut skills: Vec<Skill> = Vec::new();
        let mut tries = 0;
        while skills.len() < self.cfg.skills_per_member && tries < 100 {
            tries += 1;
            let t = self.skill();
            if !skills.iter().any(|s| s.tag == t) {
                let level = match self.rng.random_range(0..4u8) {
                    0 => Level::Beginner,
                    1 => Level::Intermediate,
                    2 => Level::Advanced,
                    _ => Level::Expert,
                };
                skills.push(Skill { tag: t, level });
            }
        }
        let draft = ProfileDraft {
            name: format!("member {i}"),
            bio: format!("Member {i} of the simulated community."),
            skills,
            resources: vec![],
            links: vec![],
        };
        self.sim.set_profile(i, draft);
        self.report.profiles += 1;
    }

    fn ask(&mut self, i: NodeId) {
        if self
            .team_rng
            .random_bool(self.cfg.team_fraction.clamp(0.0, 1.0))
        {
            return self.ask_project(i);
        }
        let mut skills = vec![self.skill()];
        if self.rng.random_bool(0.3) {
            let s = self.skill();
            if s != skills[0] {
                skills.push(s);
            }
        }
        let first = skills[0].clone();
        let asked: Result<Asked, _> = self.sim.call_now(
            i,
            ServiceCall::Ask(AskParams {
                text: format!("member {i} needs help with {first}"),
                skills,
                resources: vec![],
                expires_secs: None,
                ..Default::default()
            }),
        );
        if let Ok(a) = asked {
            let track = NeedTrack {
                asker: i,
                skill: first,
                roles: Vec::new(),
                asked_at: self.sim.now(),
                collab: None,
                open: true,
            };
            self.needs.insert(a.need.id, track);
            self.report.needs += 1;
        }
    }

    /// A skill drawn by the project stream, skewed like [`Community::skill`].
    fn team_skill(&mut self) -> SkillTag {
        let u: f64 = self.team_rng.random();
        let i = ((u * u) * self.vocabulary.len() as f64) as usize;
        self.vocabulary[i.min(self.vocabulary.len() - 1)].clone()
    }

    /// Posts a project: 2–5 roles, each one or two skills for one or two people.
    fn ask_project(&mut self, i: NodeId) {
        let n = self.team_rng.random_range(2..=5usize);
        let mut roles = Vec::with_capacity(n);
        for k in 0..n {
            let mut skills = vec![self.team_skill()];
            if self.team_rng.random_bool(0.5) {
                let s = self.team_skill();
                if s != skills[0] {
                    skills.push(s);
                }
            }
            roles.push(RoleTrack {
                label: tag(&format!("role-{}", k + 1)),
                skills,
                count: self.team_rng.random_range(1..=2u8),
                filled: 0,
            });
        }
        let asked: Result<Asked, _> = self.sim.call_now(
            i,
            ServiceCall::Ask(AskParams {
                text: format!("member {i} needs a team of {n} roles"),
                roles: roles
                    .iter()
                    .map(|r| RoleInput {
                        label: r.label.clone(),
                        skills: r.skills.clone(),
                        resources: vec![],
                        count: r.count,
                        effort: None,
                        note: String::new(),
                    })
                    .collect(),
                ..Default::default()
            }),
        );
        if let Ok(a) = asked {
            let track = NeedTrack {
                asker: i,
                skill: roles[0].skills[0].clone(),
                roles,
                asked_at: self.sim.now(),
                collab: None,
                open: true,
            };
            self.needs.insert(a.need.id, track);
            self.report.needs += 1;
            self.report.team_needs += 1;
            let at = self.sim.now() + self.cfg.team_staffing_ms;
            self.at(at, Action::StaffingEnds(a.need.id));
        }
    }

    /// The staffing window of a project ended: no more accepts; a partly staffed team closes.
    fn staffing_ends(&mut self, need: RecordId) {
        let Some(t) = self.needs.get_mut(&need) else {
            return;
        };
        if !t.open {
            return;
        }
        t.open = false;
        if let Some(c) = t.collab {
            self.schedule_close(c);
        }
    }

    fn schedule_close(&mut self, collab: RecordId) {
        if let Some(c) = self.collabs.get_mut(&collab) {
            if !c.closing {
                c.closing = true;
                let at = self.sim.now() + self.cfg.collab_ms;
                self.at(at, Action::Close(collab));
            }
        }
    }

    /// Whether the asker takes an offer from `offerer` on `need`, and on which role.
    fn seat_for(&self, i: NodeId, need: &RecordId, offerer: NodeId) -> Option<Option<usize>> {
        let t = self.needs.get(need)?;
        if t.asker != i || !t.open {
            return None;
        }
        if t.roles.is_empty() {
            return Some(None);
        }
        let role = *self.offered.get(&(*need, offerer))?;
        let r = t.roles.get(role)?;
        (r.filled < r.count).then_some(Some(role))
    }

    /// The asker accepts an offer: opens the need's collaboration or joins the offerer to it.
    fn accept(&mut self, i: NodeId, need: RecordId, offer: RecordId, offerer: NodeId) {
        let Some(role) = self.seat_for(i, &need, offerer) else {
            return;
        };
        let view: Result<CollabView, _> = self
            .sim
            .call_now(i, ServiceCall::Accept(AcceptParams { offer }));
        let Ok(view) = view else {
            return;
        };
        let now = self.sim.now();
        let Some(t) = self.needs.get_mut(&need) else {
            return;
        };
        let skill = match role {
            Some(k) => t.roles[k].skills[0].clone(),
            None => t.skill.clone(),
        };
        let first = t.collab.is_none();
        t.collab = Some(view.id);
        let mut staffed = false;
        match role {
            None => {
                t.open = false;
                self.report.one_role_staff_ms.push(now - t.asked_at);
            }
            Some(k) => {
                t.roles[k].filled += 1;
                if t.roles.iter().all(|r| r.filled >= r.count) {
                    t.open = false;
                    staffed = true;
                    self.report.teams_staffed += 1;
                    self.report.staff_ms.push(now - t.asked_at);
                }
            }
        }
        let asker = t.asker;
        self.report.accepted += 1;
        let seat = Seat {
            node: offerer,
            skill,
            asker_vouched: false,
            offerer_vouched: false,
        };
        if first {
            self.report.collaborations += 1;
            self.collabs.insert(
                view.id,
                Collab {
                    asker,
                    seats: vec![seat],
                    closing: false,
                },
            );
            self.post(i, view.id, "welcome, here is what I need");
        } else if let Some(c) = self.collabs.get_mut(&view.id) {
            c.seats.push(seat);
        }
        if role.is_none() || staffed {
            self.schedule_close(view.id);
        }
    }

    fn close(&mut self, collab: RecordId) {
        let Some(c) = self.collabs.get(&collab).cloned() else {
            return;
        };
        let closed = self.sim.call(
            c.asker,
            ServiceCall::CollabClose(CollabCloseParams {
                collab,
                summary: "done, thanks".into(),
            }),
        );
        if matches!(self.sim.take_reply(c.asker, closed), Some(Ok(_))) {
            self.report.closed += 1;
        }
    }

    fn vouch(&mut self, i: NodeId, peer: PublicKey, skill: &SkillTag, collab: RecordId) -> bool {
        let score = if self.rng.random_bool(0.8) { 5 } else { 3 };
        let id = self.sim.call(
            i,
            ServiceCall::Vouch(VouchParams {
                peer,
                skill: skill.clone(),
                score,
                collab,
                note: "good work".into(),
                expires_secs: None,
            }),
        );
        let ok = matches!(self.sim.take_reply(i, id), Some(Ok(_)));
        if ok {
            self.report.attestations += 1;
        }
        ok
    }

    fn post(&mut self, i: NodeId, collab: RecordId, text: &str) {
        let id = self.sim.call(
            i,
            ServiceCall::CollabPost(CollabPostParams {
                collab,
                text: text.into(),
            }),
        );
        self.sim.take_reply(i, id);
    }

    /// Reacts to the events a node raised since the last step.
    fn react(&mut self, i: NodeId) {
        for event in self.sim.take_events(i) {
            match event {
                Event::NeedMatched { need, roles, .. }
                    if self
                        .rng
                        .random_bool(self.cfg.offer_probability.clamp(0.0, 1.0)) =>
                {
                    // On a project: one of the roles this member was matched on.
                    let role = match self.needs.get(&need) {
                        Some(t) if !t.roles.is_empty() => {
                            let fit: Vec<usize> = t
                                .roles
                                .iter()
                                .enumerate()
                                .filter(|(_, r)| roles.contains(&r.label))
                                .map(|(k, _)| k)
                                .collect();
                            if fit.is_empty() {
                                continue;
                            }
                            Some(fit[self.team_rng.random_range(0..fit.len())])
                        }
                        _ => None,
                    };
                    let label =
                        role.and_then(|k| self.needs.get(&need).map(|t| t.roles[k].label.clone()));
                    // Answered after the first delivery attempt; nothing to do with it.
                    self.sim.call(
                        i,
                        ServiceCall::Offer(OfferParams {
                            need,
                            text: format!("member {i} can help"),
                            role: label,
                        }),
                    );
                    if let Some(k) = role {
                        self.offered.insert((need, i), k);
                    }
                    self.report.offers += 1;
                }
                Event::OfferReceived {
                    offer, need, from, ..
                } => {
                    if let Some(offerer) = self.sim.node_of(&from) {
                        self.accept(i, need, offer, offerer);
                    }
                }
                Event::CollabOpened { collab, .. }
                    if self
                        .collabs
                        .get(&collab)
                        .is_some_and(|c| c.seats.iter().any(|s| s.node == i)) =>
                {
                    self.post(i, collab, "on it");
                }
                Event::CollabEntryAdded {
                    collab,
                    kind,
                    author,
                    ..
                } if kind == "close" => {
                    let Some(c) = self.collabs.get(&collab).cloned() else {
                        continue;
                    };
                    let asker = self.sim.key(c.asker);
                    for (k, seat) in c.seats.iter().enumerate() {
                        let offerer = self.sim.key(seat.node);
                        if seat.node == i && author == asker && !seat.offerer_vouched {
                            // The asker closed: the offerer closes its part, then vouches.
                            let closed = self.sim.call(
                                i,
                                ServiceCall::CollabClose(CollabCloseParams {
                                    collab,
                                    summary: String::new(),
                                }),
                            );
                            self.sim.take_reply(i, closed);
                            if self.vouch(i, asker, &seat.skill, collab) {
                                if let Some(c) = self.collabs.get_mut(&collab) {
                                    c.seats[k].offerer_vouched = true;
                                }
                            }
                        } else if c.asker == i && author == offerer && !seat.asker_vouched {
                            // Both closed: the asker vouches for the offerer.
                            if self.vouch(i, offerer, &seat.skill, collab) {
                                if let Some(c) = self.collabs.get_mut(&collab) {
                                    c.seats[k].asker_vouched = true;
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Sets [`CommunityConfig::require_counted`].
    pub fn set_require_counted(&mut self, on: bool) {
        self.cfg.require_counted = on;
    }

    /// Whether every scripted action was issued and every collaboration has both attestations.
    pub fn script_done(&self) -> bool {
        self.actions.is_empty()
            && self
                .collabs
                .values()
                .all(|c| c.seats.iter().all(|s| s.asker_vouched && s.offerer_vouched))
    }

    /// Members in a collaboration: (in a project's team, in a one-role collaboration), askers
    /// included, each once (a member in both kinds is in both lists).
    pub fn participants(&self) -> (Vec<NodeId>, Vec<NodeId>) {
        let (mut team, mut pair) = (Vec::new(), Vec::new());
        for t in self.needs.values() {
            let Some(c) = t.collab.and_then(|c| self.collabs.get(&c)) else {
                continue;
            };
            let into = if t.roles.is_empty() {
                &mut pair
            } else {
                &mut team
            };
            into.push(t.asker);
            into.extend(c.seats.iter().map(|s| s.node));
        }
        for v in [&mut team, &mut pair] {
            v.sort_unstable();
            v.dedup();
        }
        (team, pair)
    }

    /// How every project posted so far stands, in need order.
    pub fn teams(&self) -> Vec<TeamOutcome> {
        self.needs
            .iter()
            .filter(|(_, t)| !t.roles.is_empty())
            .map(|(need, t)| {
                let members = t
                    .collab
                    .and_then(|c| self.collabs.get(&c))
                    .map(|c| {
                        c.seats
                            .iter()
                            .map(|s| {
                                (
                                    self.offered.get(&(*need, s.node)).copied().unwrap_or(0),
                                    s.node,
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                TeamOutcome {
                    need: *need,
                    asker: t.asker,
                    members,
                    collab: t.collab,
                    staffed: t.roles.iter().all(|r| r.filled >= r.count),
                    seats: t.roles.iter().map(|r| usize::from(r.count)).sum(),
                }
            })
            .collect()
    }

    /// Whether every online node holds every published record and (with
    /// [`CommunityConfig::require_counted`]) counts every attestation.
    pub fn converged(&mut self) -> bool {
        if !self.sim.converged() {
            return false;
        }
        if !self.cfg.require_counted {
            return true;
        }
        let atts = self
            .sim
            .published()
            .iter()
            .filter(|p| p.kind == RecordKind::Attestation)
            .count();
        (0..self.sim.len())
            .filter(|&i| self.sim.is_online(i))
            .all(|i| self.sim.service(i).counted_attestations() == atts)
    }

    /// Advances one step: runs the network to the next due action or tick, performs due actions
    /// and reacts to events.
    pub fn step(&mut self, until: Millis) {
        let tick = self.sim.config().tick_ms.max(1);
        while self.sim.now() < until {
            let next = (self.sim.now() + tick).min(until);
            let due = self.actions.first_key_value().map(|((t, _), _)| *t);
            let stop = due.map_or(next, |d| d.clamp(self.sim.now(), next));
            self.sim.run_until(stop);
            while let Some(entry) = self.actions.first_entry() {
                if entry.key().0 > self.sim.now() {
                    break;
                }
                match entry.remove() {
                    Action::Profile(i) => self.profile(i),
                    Action::Ask(i) => self.ask(i),
                    Action::Close(c) => self.close(c),
                    Action::StaffingEnds(n) => self.staffing_ends(n),
                }
            }
            for i in 0..self.sim.len() {
                if !self.sim.events(i).is_empty() {
                    self.react(i);
                }
            }
        }
    }

    /// Runs the script to convergence or the deadline.
    pub fn run(&mut self) -> Report {
        let deadline = START_MS + self.cfg.deadline_ms;
        let mut converged = false;
        while self.sim.now() < deadline {
            let next = (self.sim.now() + self.cfg.check_every_ms).min(deadline);
            self.step(next);
            if self.script_done() && self.converged() {
                converged = true;
                break;
            }
        }
        self.report(converged)
    }

    fn report(&mut self, converged: bool) -> Report {
        let mut r = self.report.clone();
        r.converged = converged;
        r.convergence_ms = self.sim.now() - START_MS;
        r.published = self.sim.published().len();
        r.last_publish_ms = self
            .sim
            .published()
            .last()
            .map_or(0, |p| p.at.saturating_sub(START_MS));
        r.matched = (0..self.sim.len())
            .map(|i| self.sim.event_count(i, "need.matched"))
            .sum();
        r.traffic = self.sim.total_traffic();
        r.gossip = self.sim.gossip_stats();
        r.staff_ms.sort_unstable();
        r.one_role_staff_ms.sort_unstable();
        r.trace_len = self.sim.trace_len();
        r.trace_hash = self.sim.trace_hash();
        r
    }
}
