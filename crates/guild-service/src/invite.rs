//! Invitations and sponsorships inside the service.
//!
//! **Inviter.** `invite.create` signs an [`Invitation`] and keeps a record of it in the store's
//! meta space ([`INVITES_KEY`]): uses so far, who joined, revoked or not. A newcomer presents the
//! code in a [`DirectRequest::Join`]; we check it against that record (ours, not revoked, not
//! expired, uses left), count the use durably, and answer with a signed [`Sponsorship`] naming
//! the newcomer (stored and published like other public records), or a typed [`JoinRefusal`].
//!
//! **Newcomer.** [`Service::join`] sends the request and, on a sponsorship that names us and is
//! signed by the inviter, stores it and answers the waiting call; any refusal changes nothing.
//!
//! **Everyone.** A sponsorship lifts its newcomer out of the stranger tier (to member budgets,
//! never trust) when our trust reaches its sponsor; each sponsor counts for at most
//! [`SPONSORSHIPS_PER_SPONSOR`] newcomers here (see `state/sponsors.rs` and `admission.rs`).

use super::io::{secs, Millis, RequestFailure, Topic};
use super::state::sponsors::{Insert, SponsorInfo, SPONSORSHIPS_PER_SPONSOR};
use super::{CallId, Refusal, Service};
use crate::Storage;
use guild_core::control::invite::{
    join_refused, InviteCreateParams, InviteView, Invites, Joined, DEFAULT_INVITE_SECS,
    MAX_INVITES_KEPT,
};
use guild_core::control::{CallError, Event, Reply};
use guild_core::invite::{Invitation, SignedInvitation, INVITE_VERSION};
use guild_core::record::MAX_SPONSORSHIP_LIFETIME;
use guild_core::wire::{DirectRequest, DirectResponse, JoinRefusal};
use guild_core::{AnyRecord, PublicKey, RecordId, Signed, Sponsorship, UnixTime};
use serde::{Deserialize, Serialize};

/// `meta` key of the inviter's record of its codes.
pub const INVITES_KEY: &str = "invites";
/// Lifetime of the sponsorships we issue: 90 days.
pub const SPONSORSHIP_SECS: u64 = MAX_SPONSORSHIP_LIFETIME;
/// Join requests answered per minute, all peers together (each costs a signature check and a
/// store write; honest newcomers come one at a time).
pub const JOINS_PER_MINUTE: u32 = 30;

/// The inviter's record of one code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct IssuedInvite {
    signed: SignedInvitation,
    uses: u32,
    revoked: bool,
    joined: Vec<PublicKey>,
}

impl IssuedInvite {
    fn view(&self) -> InviteView {
        let b = &self.signed.body;
        InviteView {
            id: self.signed.id_hex(),
            code: self.signed.to_code(),
            link: self.signed.to_link(),
            note: b.note.clone(),
            issued_at: b.issued_at,
            expires_at: b.expires_at,
            max_uses: b.max_uses,
            uses: self.uses,
            revoked: self.revoked,
            joined: self.joined.clone(),
        }
    }
}

/// Join requests counted in the current minute (window start, count).
#[derive(Debug, Default)]
pub(crate) struct JoinBudget {
    window: Millis,
    count: u32,
}

impl JoinBudget {
    fn allow(&mut self, now: Millis) -> bool {
        if now >= self.window + 60_000 {
            self.window = now;
            self.count = 0;
        }
        self.count += 1;
        self.count <= JOINS_PER_MINUTE
    }
}

impl<S: Storage> Service<S> {
    fn invites(&self) -> Result<Vec<IssuedInvite>, CallError> {
        Ok(self
            .store
            .get_meta::<Vec<IssuedInvite>>(INVITES_KEY)
            .map_err(CallError::internal)?
            .unwrap_or_default())
    }

    fn save_invites(&self, invites: &[IssuedInvite]) -> Result<(), CallError> {
        self.store
            .put_meta(INVITES_KEY, &invites)
            .map_err(CallError::internal)
    }

    /// `invite.create`: signs a code for `community`, reachable at `addrs`, and keeps a record of
    /// it. Past [`MAX_INVITES_KEPT`] codes, expired and revoked ones are forgotten first; if all
    /// are live the call is refused.
    pub fn create_invite(
        &mut self,
        p: InviteCreateParams,
        community: &str,
        addrs: Vec<String>,
        now: UnixTime,
    ) -> Result<InviteView, CallError> {
        let mut invites = self.invites()?;
        if invites.len() >= MAX_INVITES_KEPT {
            invites.retain(|i| !i.revoked && i.signed.body.expires_at > now);
        }
        if invites.len() >= MAX_INVITES_KEPT {
            return Err(CallError::new(
                guild_core::control::ErrorCode::Busy,
                format!("{MAX_INVITES_KEPT} codes are live already; revoke some first"),
            ));
        }
        let body = Invitation {
            version: INVITE_VERSION,
            community: community.to_string(),
            inviter: self.me,
            addrs: addrs
                .into_iter()
                .filter(|a| a.len() <= guild_core::invite::MAX_INVITE_ADDR_LEN)
                .take(guild_core::invite::MAX_INVITE_ADDRS)
                .collect(),
            issued_at: now,
            expires_at: now + p.expires_secs.unwrap_or(DEFAULT_INVITE_SECS),
            max_uses: p.uses.unwrap_or(1),
            id: self.random_salt(),
            note: p.note,
        };
        let signed = body.sign(&self.identity).map_err(CallError::internal)?;
        signed
            .check(now, Some(community))
            .map_err(|e| CallError::invalid_params(e.to_string()))?;
        let issued = IssuedInvite {
            signed,
            uses: 0,
            revoked: false,
            joined: vec![],
        };
        let view = issued.view();
        invites.push(issued);
        self.save_invites(&invites)?;
        Ok(view)
    }

    /// `invite.list`: our codes, newest first.
    pub(crate) fn invite_list(&self) -> Result<Invites, CallError> {
        let mut invites: Vec<InviteView> = self.invites()?.iter().map(IssuedInvite::view).collect();
        invites.sort_by(|a, b| b.issued_at.cmp(&a.issued_at).then(a.id.cmp(&b.id)));
        Ok(Invites { invites })
    }

    /// `invite.revoke`: no newcomer can use the code from now on; with `sponsorships`, the
    /// sponsorships already issued with it are revoked too (signed, published).
    pub(crate) fn invite_revoke(
        &mut self,
        id: &str,
        sponsorships: bool,
        now: UnixTime,
    ) -> Result<InviteView, CallError> {
        let mut invites = self.invites()?;
        let id = id.trim().to_ascii_lowercase();
        let Some(i) = invites.iter_mut().find(|i| i.signed.id_hex() == id) else {
            return Err(CallError::not_found(format!(
                "no invitation code with id `{id}` (see `guild invite --list`)"
            )));
        };
        i.revoked = true;
        let code_id = i.signed.body.id;
        let view = i.view();
        self.save_invites(&invites)?;
        if sponsorships {
            for target in self.state.sponsors.of_invite(&self.me, &code_id) {
                self.revoke_sponsorship(target, now)
                    .map_err(|e| e.to_call_error())?;
            }
        }
        Ok(view)
    }

    /// Signs, stores and publishes the revocation of one of our sponsorships.
    fn revoke_sponsorship(
        &mut self,
        target: guild_core::RecordId,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let expires = self
            .state
            .records
            .get(&target)
            .map_or(now + SPONSORSHIP_SECS, |m| m.expires_at);
        let r = self.sign(
            guild_core::Revocation {
                version: guild_core::record::RECORD_VERSION,
                issuer: self.me,
                issued_at: now,
                expires_at: expires.max(now + 1) + 86_400,
                target,
                target_kind: guild_core::RecordKind::Sponsorship,
                reason: "sponsorship withdrawn".into(),
            },
            now,
        )?;
        let record = AnyRecord::Revocation(r.clone());
        self.store_revocation(r, now)?;
        self.publish_record(Topic::Attestations, &record);
        Ok(())
    }

    /// Answers a newcomer's [`DirectRequest::Join`]: cheap checks first (budget, ours, our
    /// record of it), the signature last.
    pub(crate) fn answer_join(
        &mut self,
        from: PublicKey,
        code: SignedInvitation,
        now: Millis,
    ) -> DirectResponse {
        match self.sponsor(from, code, now) {
            Ok(record) => DirectResponse::Sponsored(Box::new(record)),
            Err(refusal) => DirectResponse::JoinRefused(refusal),
        }
    }

    fn sponsor(
        &mut self,
        from: PublicKey,
        code: SignedInvitation,
        now: Millis,
    ) -> Result<AnyRecord, JoinRefusal> {
        let t = secs(now);
        if !self.state.join_budget.allow(now) {
            return Err(JoinRefusal::Busy);
        }
        if code.body.inviter != self.me || from == self.me {
            return Err(JoinRefusal::Invalid);
        }
        let mut invites = self.invites().map_err(|_| JoinRefusal::Busy)?;
        let Some(pos) = invites
            .iter()
            .position(|i| i.signed.body.id == code.body.id)
        else {
            return Err(JoinRefusal::Unknown);
        };
        if invites[pos].signed != code {
            return Err(JoinRefusal::Invalid);
        }
        let issued = &invites[pos];
        let again = issued.joined.contains(&from);
        if issued.revoked {
            return Err(JoinRefusal::Revoked);
        }
        if issued.signed.body.expires_at <= t {
            return Err(JoinRefusal::Expired);
        }
        if !again && issued.uses >= issued.signed.body.max_uses {
            return Err(JoinRefusal::UsedUp);
        }
        if code.check(t, None).is_err() {
            return Err(JoinRefusal::Invalid);
        }
        let body = Sponsorship {
            version: guild_core::record::RECORD_VERSION,
            issuer: self.me,
            newcomer: from,
            invite: code.body.id,
            issued_at: t,
            expires_at: t + SPONSORSHIP_SECS,
        };
        let signed = self.sign(body, t).map_err(|_| JoinRefusal::Busy)?;
        let record = AnyRecord::Sponsorship(signed);
        // The use is counted durably before the answer leaves.
        let uses = if again {
            invites[pos].uses
        } else {
            invites[pos].uses += 1;
            invites[pos].joined.push(from);
            invites[pos].uses
        };
        self.save_invites(&invites).map_err(|_| JoinRefusal::Busy)?;
        match self.take_sponsorship(&record, t) {
            Ok(()) => self.publish_record(Topic::Attestations, &record),
            Err(e) => tracing::warn!("cannot keep our own sponsorship: {e}"),
        }
        self.emit(Event::InviteJoined {
            invite: code.id_hex(),
            peer: from,
            name: self.profile_name(&from),
            uses,
        });
        Ok(record)
    }

    /// Sends our join request to the inviter; the call is answered when it responds.
    pub fn join(&mut self, call: CallId, code: SignedInvitation, now: impl Into<crate::LocalTime>) {
        self.enter(now);
        let inviter = code.body.inviter;
        self.send_join(call, inviter, DirectRequest::Join(Box::new(code)));
    }

    /// The inviter answered our join request.
    pub(crate) fn join_answered(
        &mut self,
        call: CallId,
        inviter: PublicKey,
        result: Result<DirectResponse, RequestFailure>,
        now: Millis,
    ) {
        let t = secs(now);
        let answer = match result {
            Ok(DirectResponse::Sponsored(record)) => match *record {
                AnyRecord::Sponsorship(s) => self.accept_own_sponsorship(inviter, s, t),
                other => Err(CallError::internal(format!(
                    "the inviter answered with a {} instead of a sponsorship",
                    other.kind()
                ))),
            },
            Ok(DirectResponse::JoinRefused(r)) => Err(join_refused(r)),
            Ok(DirectResponse::Error { message, .. }) => Err(CallError::unavailable(format!(
                "the inviter refused the request: {message}"
            ))),
            Ok(other) => Err(CallError::internal(format!(
                "unexpected answer to a join request: {other:?}"
            ))),
            Err(e) => Err(CallError::peer_unreachable(format!(
                "the inviter could not be asked: {e:?}"
            ))),
        };
        self.reply(call, answer.map(Reply::Joined), true);
    }

    fn accept_own_sponsorship(
        &mut self,
        inviter: PublicKey,
        s: Signed<Sponsorship>,
        t: UnixTime,
    ) -> Result<Joined, CallError> {
        if s.body.issuer != inviter || s.body.newcomer != self.me {
            return Err(CallError::internal(
                "the inviter's sponsorship does not name us; nothing was changed",
            ));
        }
        s.validate(t).map_err(|e| {
            CallError::internal(format!("the inviter's sponsorship is invalid: {e}"))
        })?;
        let until = s.body.expires_at;
        let record = AnyRecord::Sponsorship(s);
        self.take_sponsorship(&record, t)
            .map_err(|e| e.to_call_error())?;
        Ok(Joined {
            community: String::new(),
            inviter,
            inviter_name: self.profile_name(&inviter),
            trusted: false,
            address: String::new(),
            sponsored_until: until,
        })
    }

    /// Stores a validated sponsorship within the per-sponsor bound and indexes it.
    fn take_sponsorship(&mut self, record: &AnyRecord, t: UnixTime) -> Result<(), Refusal> {
        if self.state.records.contains(&record.id()) {
            return Ok(());
        }
        self.store_record(record, t)
    }

    /// Admission of a sponsorship from a peer (gossip, sync): kept only when our trust
    /// reaches its sponsor (or it names us), within the per-sponsor bound.
    pub(crate) fn receive_sponsorship(
        &mut self,
        s: Signed<Sponsorship>,
        t: UnixTime,
    ) -> Result<crate::Intake, Refusal> {
        let ours = s.body.newcomer == self.me || s.body.issuer == self.me;
        if !ours && !self.standing().reached(&s.body.issuer) {
            // Not a fault: the forwarder may trust the sponsor. Sync brings it again once our
            // trust reaches the sponsor.
            return Err(Refusal::unknown(
                "a sponsorship counts here only when our trust reaches its sponsor",
            ));
        }
        // A sponsor churning through newcomers spends its attestation rate (a sponsorship is
        // a word about someone, like an attestation).
        let tier = self.tier_of(&s.body.issuer);
        if !ours
            && !self
                .admission
                .attestations
                .allow(tier, &s.body.issuer.0, self.now.as_millis())
        {
            return Err(Refusal::rate_limited(format!(
                "over this sponsor's rate ({} attestations and sponsorships a minute for a {})",
                crate::admission::ATTESTATIONS_PER_MINUTE.of(tier),
                tier.label()
            )));
        }
        if !ours
            && !self
                .state
                .sponsors
                .fits(&s.body.issuer, s.body.issued_at, &s.id())
        {
            return Err(Refusal::rate_limited(format!(
                "this sponsor already has {SPONSORSHIPS_PER_SPONSOR} newer sponsorships here"
            )));
        }
        self.store_record(&AnyRecord::Sponsorship(s), t)
            .map(|()| crate::Intake::Stored)
    }

    /// Indexes a stored sponsorship (load and intake alike); a sponsor's oldest past
    /// [`SPONSORSHIPS_PER_SPONSOR`] is dropped from the store too. (One older than all of a
    /// full sponsor's, met only when loading, stays unindexed until it expires: it lifts no one.)
    pub(crate) fn index_sponsorship(&mut self, id: RecordId, s: &Signed<Sponsorship>) {
        // Revoked by its sponsor (the revocation may have been loaded first): it lifts no one.
        if self.state.attestations.is_revoked(&id) {
            return;
        }
        let info = SponsorInfo {
            sponsor: s.body.issuer,
            newcomer: s.body.newcomer,
            issued_at: s.body.issued_at,
            invite: s.body.invite,
        };
        if let Insert::Kept { evicted: Some(old) } = self.state.sponsors.insert(id, info) {
            let now = self.now.as_secs();
            self.drop_record(&old, now);
        }
    }

    /// Newcomers lifted to member budgets: those sponsored by someone in `lifts`.
    pub(crate) fn sponsored_by(&self, lifts: impl Fn(&PublicKey) -> bool) -> Vec<PublicKey> {
        self.state
            .sponsors
            .pairs()
            .filter(|(sponsor, _)| lifts(sponsor))
            .map(|(_, newcomer)| newcomer)
            .collect()
    }

    /// Whether this member is *sponsored* here: our trust does not reach them, but it reaches
    /// one of their sponsors.
    pub fn is_sponsored(&mut self, who: &PublicKey) -> bool {
        self.standing().is_sponsored(who)
    }

    /// The sponsors we hold a sponsorship of this member by.
    pub fn sponsors_of(&self, who: &PublicKey) -> Vec<PublicKey> {
        self.state.sponsors.sponsors_of(who).collect()
    }
}

/// Sponsorships one sponsor holds here at most.
pub const PER_SPONSOR: usize = SPONSORSHIPS_PER_SPONSOR;
