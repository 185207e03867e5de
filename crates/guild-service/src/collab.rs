//! Collaborations: a message log replicated only among members, over direct requests (never on
//! gossip). Entries are signed, ordered by (Lamport clock, time, author, seq), deduplicated by
//! id; an author's sequence numbers only go up (allocated here, by the single owner), so a
//! replayed entry is refused.
//!
//! Closing: every member closes their own part with a `Close` entry (no text; a summary is a post
//! written just before it). The first close ends the collaboration — entries sorting after it are
//! refused, except the other members' own closes — and an attestation between two members counts
//! only when both signed a close (see `TRUST.md`, "Collaboration integrity").

use super::direct::ReplyAs;
use super::offload::PendingInvite;
use super::state::{entry_key, CollabState};
use super::{CallId, Refusal, Service};
use crate::Storage;
use guild_core::control::pull::{CollabView, Collabs, EntryView};
use guild_core::control::Event;
use guild_core::limits::MAX_COLLAB_MEMBERS;
use guild_core::record::SignatureCheck;
use guild_core::wire::{DirectRequest, RefusalReason, MAX_INVITE_LOG, MAX_INVITE_LOG_BYTES};
use guild_core::{
    AnyRecord, CollabEntry, Collaboration, EntryKind, Need, PublicKey, RecordId, Signed, UnixTime,
};
use std::borrow::Cow;

fn entry_kind(e: &EntryKind) -> (&'static str, Option<String>, Option<PublicKey>) {
    match e {
        EntryKind::Post { text } => ("post", Some(text.clone()), None),
        EntryKind::Invite { member } => ("invite", None, Some(*member)),
        EntryKind::Join { .. } => ("join", None, None),
        EntryKind::Close => ("close", None, None),
        EntryKind::Accept { offerer, .. } => ("accept", None, Some(*offerer)),
        EntryKind::Release { .. } => ("release", None, None),
    }
}

/// `meta` key of our private copy of a collaboration's purpose.
fn purpose_key(collab: &RecordId) -> String {
    format!("collab_purpose/{collab}")
}

fn entry_view(e: &Signed<CollabEntry>) -> EntryView {
    let (kind, text, member) = entry_kind(&e.body.entry);
    EntryView {
        id: e.id(),
        author: e.signer,
        at: e.body.issued_at,
        seq: e.body.seq,
        kind: kind.into(),
        text,
        member,
    }
}

fn invalid(m: impl Into<String>) -> Refusal {
    Refusal::new(RefusalReason::Malformed, m)
}

impl<S: Storage> Service<S> {
    /// Indexes a stored collaboration record.
    pub(crate) fn index_collaboration(&mut self, id: RecordId, c: &Signed<Collaboration>) {
        self.state.collabs.insert(id, c, &self.me);
        for a in &c.body.offers {
            // Only an offer held here that this offerer made to this asker on this need: a record
            // naming someone else's offer id marks nothing as accepted.
            self.state
                .pull
                .accept(a.offer, id, a.offerer, c.body.issuer, c.body.need);
        }
        let now = self.now.as_secs();
        self.refresh_collab_attestations(&id, now);
    }

    /// Indexes a stored log entry (its collaboration is held).
    pub(crate) fn index_entry(&mut self, id: RecordId, e: &Signed<CollabEntry>) {
        let cid = e.body.collaboration;
        // A settled collaboration takes an entry (a late close, one overtaken in the log) only
        // held in full again, from the store.
        self.unsettle_collab(&cid);
        // An invitation for us waits for our answer a while, then it is swept (start-up load and
        // intake alike): the sub-state remembers it.
        let Some(added) = self.state.collabs.add_entry_as(id, e, &self.me) else {
            return;
        };
        if let EntryKind::Accept { offerer, offer } = &e.body.entry {
            if let Some(c) = self.state.collabs.get(&cid) {
                // Marks only an offer held here that this offerer made to this asker on this need.
                if e.signer == c.issuer {
                    let (issuer, need) = (c.issuer, c.need);
                    self.state.pull.accept(*offer, cid, *offerer, issuer, need);
                }
            }
        }
        if added.changed {
            let now = self.now.as_secs();
            self.refresh_collab_attestations(&cid, now);
        }
        // While loading, a collaboration settles once every member has closed (its log is then
        // nearly always whole: an entry after that rebuilds it from the store, as at run time),
        // and the rest once the whole log is in (`load`): settling at its first close would
        // rebuild it at its second. Settling as the entries come frees the full states during
        // the load, where the load's own allocations reuse their memory (held to the end, the
        // 5·10^4 full states took 38 MB, freed when the node then idles). A proof's records
        // (the collaboration and both closes, one after the other) likewise: it settles after
        // the last (`accept_proof`), not at the first close to be rebuilt from the store at the
        // second.
        let all_closed = self
            .state
            .collabs
            .get(&cid)
            .is_some_and(|c| c.closed_by.len() == c.members.len());
        if !(self.loading || self.storing_proof) || all_closed {
            self.settle_collab(&cid);
        }
    }

    /// Keeps only a summary of a collaboration that is closed and none of ours (see
    /// `state/collabs.rs`), when every entry of its log is still stored, so the store can give
    /// the log back. (Before one of them leaves the store, [`Service::entry_expires`] holds
    /// the collaboration in full again.)
    pub(crate) fn settle_collab(&mut self, id: &RecordId) -> bool {
        let records = &self.state.records;
        self.state
            .collabs
            .settle(id, &self.me, |eid| records.contains(eid))
    }

    /// An entry is about to leave the store (it expired): its collaboration, if settled, is
    /// held in full again first — the log keeps the entry's place, which the store could no
    /// longer give back. (One read of the entry, on the sweep's path, only for entries of
    /// collaborations not held in full.)
    pub(crate) fn entry_expires(&mut self, id: &RecordId) {
        if self.state.collabs.has_entry(id) {
            return;
        }
        if let Ok(Some(e)) = self.store.get_typed::<CollabEntry>(id) {
            self.unsettle_collab(&e.body.collaboration);
        }
    }

    /// Settles every collaboration that can be (the end of the load).
    pub(crate) fn settle_collabs(&mut self) {
        for id in self.state.collabs.full_ids() {
            self.settle_collab(&id);
        }
        self.state.collabs.shrink_to_fit();
    }

    /// A collaboration's whole state: held in full, or rebuilt from the store (its record and
    /// its log's entries) when it is settled. `None` when it is not held, or the store failed.
    pub(crate) fn collab_full(&self, id: &RecordId) -> Option<Cow<'_, CollabState>> {
        if let Some(c) = self.state.collabs.get(id) {
            return Some(Cow::Borrowed(c));
        }
        let settled = self.state.collabs.settled(id)?;
        let record = match self.store.get_typed::<Collaboration>(id) {
            Ok(Some(c)) => c,
            Ok(None) => {
                tracing::warn!(collab = %id, "a settled collaboration's record is not stored");
                return None;
            }
            Err(e) => {
                tracing::warn!(collab = %id, "cannot read a settled collaboration: {e}");
                return None;
            }
        };
        let mut state = CollabState::new(&record);
        for eid in settled.entries.iter() {
            match self.store.get_typed::<CollabEntry>(eid) {
                Ok(Some(e)) => state.add_entry_as(*eid, &e),
                Ok(None) => {
                    tracing::warn!(entry = %eid, "a settled collaboration's entry is not stored")
                }
                Err(e) => {
                    tracing::warn!(entry = %eid, "cannot read a settled collaboration's entry: {e}")
                }
            }
        }
        Some(Cow::Owned(state))
    }

    /// Holds a settled collaboration in full again (an entry for it arrived).
    fn unsettle_collab(&mut self, id: &RecordId) {
        if self.state.collabs.settled(id).is_none() {
            return;
        }
        if let Some(state) = self.collab_full(id).map(Cow::into_owned) {
            self.state.collabs.restore(*id, state);
        }
    }

    fn collab_state(&self, id: &RecordId) -> Result<Cow<'_, CollabState>, Refusal> {
        self.collab_full(id).ok_or_else(|| {
            Refusal::unknown(format!(
                "no collaboration {id} is known here (see `guild collab list`)"
            ))
        })
    }

    /// The log of a collaboration, in order (read from the store: proportional to the log).
    fn collab_log(&self, id: &RecordId) -> Vec<Signed<CollabEntry>> {
        let Some(c) = self.state.collabs.held(id) else {
            return vec![];
        };
        c.entry_ids()
            .iter()
            .filter_map(|eid| self.store.get_typed::<CollabEntry>(eid).ok().flatten())
            .collect()
    }

    /// The text of a need held here: a collaboration's purpose line (the record carries no text;
    /// its members hold the need).
    pub(crate) fn need_text(&self, need: &RecordId) -> Option<String> {
        self.store
            .get_typed::<Need>(need)
            .ok()
            .flatten()
            .map(|n| n.body.text)
    }

    /// Keeps a private copy of the need's text for a collaboration we take part in: needs expire
    /// within 30 days, collaborations live two years. Only for our own collaborations (accepted,
    /// offered on or joined), so what strangers send never grows it; forgotten with the record.
    pub(crate) fn remember_purpose(&self, collab: &RecordId, need: &RecordId) {
        let Some(text) = self.need_text(need) else {
            return;
        };
        if let Err(e) = self.store.put_meta(&purpose_key(collab), &text) {
            tracing::warn!("cannot keep the purpose of collaboration {collab}: {e}");
        }
    }

    /// Forgets the private copy of a collaboration's purpose (the record expired).
    pub(crate) fn forget_purpose(&self, collab: &RecordId) {
        if let Err(e) = self.store.remove_meta(&purpose_key(collab)) {
            tracing::warn!("cannot forget the purpose of collaboration {collab}: {e}");
        }
    }

    /// A collaboration's purpose line: the need's text, from the need or our copy of it.
    fn purpose_of(&self, collab: &RecordId, need: &RecordId) -> Option<String> {
        self.need_text(need).or_else(|| {
            self.store
                .get_meta::<String>(&purpose_key(collab))
                .ok()
                .flatten()
        })
    }

    pub(crate) fn collab_view(&self, id: &RecordId, with_log: bool) -> Result<CollabView, Refusal> {
        let c = self.state.collabs.held(id).ok_or_else(|| {
            Refusal::unknown(format!(
                "no collaboration {id} is known here (see `guild collab list`)"
            ))
        })?;
        let rec = self
            .store
            .get_typed::<Collaboration>(id)?
            .ok_or_else(|| Refusal::unknown(format!("collaboration {id} is not stored")))?;
        Ok(CollabView {
            id: *id,
            purpose: self.purpose_of(id, &rec.body.need),
            need: rec.body.need,
            member: c.members().contains(&self.me),
            members: c.members().to_vec(),
            opened_at: c.opened_at(),
            closed: c.closed(),
            closed_by: c.closed_by(),
            entries: if with_log {
                self.collab_log(id).iter().map(entry_view).collect()
            } else {
                vec![]
            },
        })
    }

    /// Our collaborations and pending invitations, newest first.
    pub(crate) fn collab_list(&self) -> Collabs {
        let me = self.me;
        let mut collabs: Vec<CollabView> = self
            .state
            .collabs
            .iter()
            // Collaborations held only as proof behind someone's attestation are not ours.
            .filter(|(_, c)| c.members.contains(&me) || c.invitation_for(&me).is_some())
            .filter_map(|(id, _)| self.collab_view(id, false).ok())
            .collect();
        collabs.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then(a.id.cmp(&b.id)));
        Collabs { collabs }
    }

    /// One collaboration with its log. Only members can read it.
    pub(crate) fn collab_show(&self, id: &RecordId) -> Result<CollabView, Refusal> {
        let view = self.collab_view(id, true)?;
        if !view.member {
            return Err(Refusal::unauthorised(format!(
                "you are not a member of collaboration {id}; accept the invitation with `guild collab join`"
            )));
        }
        Ok(view)
    }

    /// Writes an entry as a member (or, for a join, as an invitee) and delivers it to every
    /// other member. The sequence number and clock are allocated here, by the single owner.
    pub(crate) fn write_entry(
        &mut self,
        reply: Option<CallId>,
        id: &RecordId,
        entry: EntryKind,
        now: UnixTime,
    ) -> Result<EntryView, Refusal> {
        let c = self.collab_state(id)?;
        let joining = matches!(entry, EntryKind::Join { .. });
        if !joining && !c.members.contains(&self.me) {
            return Err(Refusal::unauthorised(format!(
                "you are not a member of collaboration {id}"
            )));
        }
        let closing = matches!(entry, EntryKind::Close);
        if closing && c.closed_by.contains(&self.me) {
            return Err(Refusal::duplicate(format!(
                "you already closed your part of collaboration {id}"
            )));
        }
        if c.closed && !closing {
            return Err(Refusal::closed(format!("collaboration {id} is closed")));
        }
        let seq = c.max_seq.get(&self.me).copied().unwrap_or(0) + 1;
        let clock = c.max_clock + 1;
        let members = c.members.clone();
        let expires_at = c.expires_at.max(now + 1);
        let body = CollabEntry {
            version: guild_core::record::entry_version(&entry),
            issuer: self.me,
            collaboration: *id,
            issued_at: now,
            expires_at,
            seq,
            clock,
            entry,
        };
        let e = self.sign(body, now)?;
        let record = AnyRecord::CollabEntry(e.clone());
        self.store_record(&record, now)?;
        let view = entry_view(&e);
        let mut recipients: Vec<PublicKey> =
            members.into_iter().filter(|m| *m != self.me).collect();
        // A newcomer (invited, or an offerer the asker accepts) gets the record and the log.
        let newcomer = match &e.body.entry {
            EntryKind::Invite { member } => Some(*member),
            EntryKind::Accept { offerer, .. } => Some(*offerer),
            _ => None,
        };
        if let Some(member) = &newcomer {
            recipients.retain(|m| m != member);
            let collab = self
                .store
                .get_record(id)?
                .ok_or_else(|| Refusal::unknown(format!("collaboration {id} is not stored")))?;
            let mut log: Vec<AnyRecord> = Vec::new();
            let mut bytes = 0;
            for entry in self.collab_log(id).into_iter().take(MAX_INVITE_LOG) {
                let r = AnyRecord::CollabEntry(entry);
                bytes += r.encode().map(|b| b.len()).unwrap_or(0);
                if bytes > MAX_INVITE_LOG_BYTES {
                    break;
                }
                log.push(r);
            }
            let req = DirectRequest::Invite {
                collaboration: Box::new(collab),
                invite: Box::new(record.clone()),
                log,
            };
            self.deliver(
                *member,
                req,
                e.id(),
                "invitation",
                reply.map(|call| (call, ReplyAs::Invite(view.clone()))),
            );
        }
        // Each member independently; failures are retried and reported as events.
        for m in recipients {
            self.deliver(
                m,
                DirectRequest::Deliver(Box::new(record.clone())),
                e.id(),
                "collab_entry",
                None,
            );
        }
        Ok(view)
    }

    /// Closes our part of a collaboration: posts the summary, if any, then signs our `Close`.
    /// The first close ends the collaboration; the other members close their own parts after it
    /// (attestations between two members count once both closed).
    pub(crate) fn collab_close(
        &mut self,
        id: &RecordId,
        summary: String,
        now: UnixTime,
    ) -> Result<EntryView, Refusal> {
        let c = self.collab_state(id)?;
        if !c.members.contains(&self.me) {
            return Err(Refusal::unauthorised(format!(
                "you are not a member of collaboration {id}"
            )));
        }
        if c.closed_by.contains(&self.me) {
            return Err(Refusal::duplicate(format!(
                "you already closed your part of collaboration {id}"
            )));
        }
        if !summary.trim().is_empty() {
            if c.closed {
                return Err(Refusal::closed(format!(
                    "collaboration {id} is closed already, so no more posts: close your part without a summary"
                )));
            }
            self.write_entry(None, id, EntryKind::Post { text: summary }, now)?;
        }
        self.write_entry(None, id, EntryKind::Close, now)
    }

    /// Invites someone; answered after the invitation's first delivery attempt.
    pub(crate) fn collab_invite(
        &mut self,
        call: CallId,
        id: &RecordId,
        who: PublicKey,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        if self.collab_state(id)?.members.contains(&who) {
            return Err(invalid(format!("{who} is already a member")));
        }
        self.write_entry(Some(call), id, EntryKind::Invite { member: who }, now)
            .map(|_| ())
    }

    /// Accepts an invitation.
    pub(crate) fn collab_join(
        &mut self,
        id: &RecordId,
        now: UnixTime,
    ) -> Result<EntryView, Refusal> {
        let c = self.collab_state(id)?;
        if c.members.contains(&self.me) {
            return Err(Refusal::duplicate(format!(
                "you are already a member of {id}"
            )));
        }
        let invite = c
            .invitation_for(&self.me)
            .ok_or_else(|| Refusal::unknown(format!("no invitation to {id} for you is known")))?;
        let view = self.write_entry(None, id, EntryKind::Join { invite }, now)?;
        if let Some(c) = self.store.get_typed::<Collaboration>(id)? {
            self.remember_purpose(id, &c.body.need);
        }
        Ok(view)
    }

    /// A collaboration record delivered to us (we are a founding member).
    pub(crate) fn receive_collaboration(
        &mut self,
        from: PublicKey,
        c: Signed<Collaboration>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let Some(offer) = c.body.offer_of(&self.me) else {
            return Err(Refusal::not_here(
                "you sent a collaboration this member is not part of",
            ));
        };
        if c.signer != from {
            return Err(Refusal::unauthorised(
                "a collaboration must be delivered by the member who opened it",
            ));
        }
        // Nobody is made a member without having offered: the record must name one of our own
        // offers, on that need, to that asker.
        let ours =
            self.state.pull.offer(&offer).is_some_and(|o| {
                o.from == self.me && o.to == c.body.issuer && o.need == c.body.need
            });
        if !ours {
            return Err(Refusal::unauthorised(format!(
                "the collaboration names offer {offer}, which this member did not make to {from} on need {}",
                c.body.need
            )));
        }
        if self.state.attestations.is_revoked(&offer) {
            return Err(Refusal::closed(format!("offer {offer} was withdrawn")));
        }
        let event = Event::CollabOpened {
            collab: c.id(),
            purpose: self.need_text(&c.body.need),
            members: c.body.members(),
        };
        let (cid, need) = (c.id(), c.body.need);
        self.store_record(&AnyRecord::Collaboration(c), now)?;
        self.remember_purpose(&cid, &need);
        self.emit(event);
        Ok(())
    }

    /// A log entry delivered to us. Only members may write; replays are refused.
    pub(crate) fn receive_entry(
        &mut self,
        from: PublicKey,
        e: Signed<CollabEntry>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        if e.signer != from {
            return Err(Refusal::unauthorised(
                "an entry must be delivered by its author",
            ));
        }
        let id = e.body.collaboration;
        let c = self
            .collab_full(&id)
            .ok_or_else(|| Refusal::unknown(format!("unknown collaboration {id}")))?;
        if !c.members.contains(&self.me) {
            return Err(Refusal::not_here(format!(
                "this member is not part of collaboration {id}"
            )));
        }
        let author_ok = match &e.body.entry {
            EntryKind::Join { invite } => c
                .invites
                .get(invite)
                .is_some_and(|(_, _, invitee)| *invitee == e.signer),
            EntryKind::Accept { .. } | EntryKind::Release { .. } if e.signer != c.issuer => {
                return Err(Refusal::unauthorised(format!(
                    "only the asker who opened collaboration {id} accepts or releases members"
                )));
            }
            _ => c.members.contains(&e.signer),
        };
        if !author_ok {
            return Err(Refusal::unauthorised(format!(
                "{} is not a member of collaboration {id}",
                e.signer
            )));
        }
        if self.state.records.contains(&e.id()) {
            return Err(Refusal::duplicate(format!(
                "entry {} is already recorded",
                e.id()
            )));
        }
        // Entries of one author may arrive in any order (each member's deliveries run side by
        // side), but a sequence number is used once: another entry under a used number is a
        // replay or a rewrite, and refused.
        if c.seqs.contains(&(e.signer, e.body.seq)) {
            return Err(invalid(format!(
                "replayed or out-of-order entry: sequence {} was already used by this author",
                e.body.seq
            )));
        }
        // After the first close only the other members' own closes are taken; an entry written
        // before it (a closing summary overtaken by its close) still is.
        if matches!(e.body.entry, EntryKind::Close) {
            if c.closed_by.contains(&e.signer) {
                return Err(Refusal::duplicate(format!(
                    "{} already closed their part of collaboration {id}",
                    e.signer
                )));
            }
        } else if c.first_close.is_some_and(|first| entry_key(&e) > first) {
            return Err(Refusal::closed(format!("collaboration {id} is closed")));
        }
        let (kind, text, _) = entry_kind(&e.body.entry);
        let event = Event::CollabEntryAdded {
            collab: id,
            entry: e.id(),
            author: e.signer,
            kind: kind.into(),
            text,
        };
        self.store_record(&AnyRecord::CollabEntry(e), now)?;
        self.emit(event);
        Ok(())
    }

    /// An invitation delivered to us, with the collaboration and its log — or an asker's
    /// `Accept` of one of our offers, which makes us a member at once. Only entries written by
    /// members (as the log itself establishes them) are kept.
    ///
    /// Cheap checks run first — shape, addressing, counts and bytes, the sender's budget, the
    /// membership the log claims — and the signatures last, all in one batch: a refused
    /// invitation costs microseconds, whatever its log carries. The daemon checks the
    /// signatures on a worker instead ([`Service::prepare_invite`], then
    /// [`Service::finish_invite`]; see `offload.rs`).
    pub(crate) fn receive_invite(
        &mut self,
        from: PublicKey,
        collab: AnyRecord,
        invite: AnyRecord,
        log: Vec<AnyRecord>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let (pending, checks) = self.prepare_invite(from, collab, invite, log, now)?;
        let verdicts = guild_core::record::verify_all(&checks);
        self.finish_invite(pending, &verdicts)
    }

    /// Every check of an invitation but its signatures: what is left to do, and the
    /// signatures to check (the collaboration's, then each log entry's).
    pub(crate) fn prepare_invite(
        &mut self,
        from: PublicKey,
        collab: AnyRecord,
        invite: AnyRecord,
        log: Vec<AnyRecord>,
        now: UnixTime,
    ) -> Result<(PendingInvite, Vec<SignatureCheck>), Refusal> {
        let (AnyRecord::Collaboration(c), AnyRecord::CollabEntry(inv)) = (collab, invite) else {
            return Err(invalid(
                "an invitation carries a collaboration and an invite entry",
            ));
        };
        let cid = c.id();
        if inv.signer != from || inv.body.collaboration != cid {
            return Err(Refusal::unauthorised(
                "the invitation does not match its sender or collaboration",
            ));
        }
        // An `Accept` of one of our offers makes us a member at once; an `Invite` waits for
        // our `Join`.
        let accepted = match &inv.body.entry {
            EntryKind::Invite { member } if *member == self.me => None,
            EntryKind::Accept { offerer, offer } if *offerer == self.me => Some(*offer),
            _ => return Err(Refusal::not_here("the invitation is for someone else")),
        };
        if let Some(offer) = accepted {
            // Nobody is made a member without having offered: one of our own offers, on that
            // need, to that asker, accepted by the asker.
            if inv.signer != c.signer {
                return Err(Refusal::unauthorised(
                    "only the asker who opened the collaboration accepts offers into it",
                ));
            }
            let ours = self.state.pull.offer(&offer).is_some_and(|o| {
                o.from == self.me && o.to == c.body.issuer && o.need == c.body.need
            });
            if !ours {
                return Err(Refusal::unauthorised(format!(
                    "the accept names offer {offer}, which this member did not make to {from} on need {}",
                    c.body.need
                )));
            }
            if self.state.attestations.is_revoked(&offer) {
                return Err(Refusal::closed(format!("offer {offer} was withdrawn")));
            }
        }
        if log.len() > MAX_INVITE_LOG {
            return Err(Refusal::new(
                RefusalReason::Oversized,
                format!("at most {MAX_INVITE_LOG} log entries"),
            ));
        }
        if accepted.is_none() {
            self.allow_invitation_from(&from, &cid)?;
        }
        let mut entries = Vec::with_capacity(log.len() + 1);
        let mut bytes = 0;
        for r in log {
            let AnyRecord::CollabEntry(e) = r else {
                return Err(invalid("the log holds only collaboration entries"));
            };
            if e.body.collaboration != cid {
                return Err(invalid("a log entry belongs to another collaboration"));
            }
            bytes += guild_core::codec::encode(&e)
                .map(|b| b.len())
                .unwrap_or(usize::MAX / 2);
            if bytes > MAX_INVITE_LOG_BYTES {
                return Err(Refusal::new(
                    RefusalReason::Oversized,
                    format!("the log exceeds {MAX_INVITE_LOG_BYTES} bytes"),
                ));
            }
            entries.push(e);
        }
        if !entries.iter().any(|e| e.id() == inv.id()) {
            entries.push(inv.clone());
        }
        entries.sort_by_key(entry_key);
        // Replay the log on a scratch state to learn who is a member (no signature needed yet:
        // a forged entry is caught below before anything is kept).
        let mut scratch = CollabState::new(&c);
        for e in &entries {
            scratch.add_entry(e);
        }
        if !scratch.members.contains(&inv.signer) {
            return Err(Refusal::unauthorised("the inviter is not a member"));
        }
        if scratch.members.len() > MAX_COLLAB_MEMBERS {
            return Err(Refusal::new(
                RefusalReason::Oversized,
                format!(
                    "the log makes {} members; a collaboration has at most {MAX_COLLAB_MEMBERS}",
                    scratch.members.len()
                ),
            ));
        }
        // Everything else about the records, then every signature in one batch.
        let mut checks = Vec::with_capacity(entries.len() + 1);
        checks.push(c.check_unsigned(now)?);
        for e in &entries {
            checks.push(e.check_unsigned(now)?);
        }
        Ok((
            PendingInvite {
                from,
                collab: c,
                invite: inv,
                entries,
                scratch,
                accepted,
                now,
            },
            checks,
        ))
    }

    /// Finishes an invitation once its signatures are checked (`verdicts`, in the order of
    /// [`Service::prepare_invite`]'s checks): stores it, or refuses it for the first bad
    /// signature. The sender's budget is checked again (other invitations may have been
    /// stored while these signatures were checked).
    pub(crate) fn finish_invite(
        &mut self,
        pending: PendingInvite,
        verdicts: &[Result<(), guild_core::RecordError>],
    ) -> Result<(), Refusal> {
        let PendingInvite {
            from,
            collab: c,
            invite: inv,
            entries,
            scratch,
            accepted,
            now,
        } = pending;
        if let Some(Err(e)) = verdicts.iter().find(|r| r.is_err()) {
            return Err(e.clone().into());
        }
        let cid = c.id();
        if accepted.is_none() {
            self.allow_invitation_from(&from, &cid)?;
        }
        let purpose = self.need_text(&c.body.need);
        if !self.state.records.contains(&cid) {
            self.store_record(&AnyRecord::Collaboration(c), now)?;
        }
        for e in entries {
            if !scratch.members.contains(&e.signer) || self.state.records.contains(&e.id()) {
                continue;
            }
            if let Err(err) = self.store_record(&AnyRecord::CollabEntry(e), now) {
                tracing::debug!("an invitation's log entry was not stored: {err}");
            }
        }
        if accepted.is_some() {
            let (members, need) = match self.state.collabs.held(&cid) {
                Some(state) => (state.members().to_vec(), state.need()),
                None => (scratch.members.clone(), scratch.need),
            };
            self.remember_purpose(&cid, &need);
            self.emit(Event::CollabOpened {
                collab: cid,
                purpose,
                members,
            });
            return Ok(());
        }
        let me = self.me;
        self.state.collabs.note_invitation(from, cid, &me);
        self.emit(Event::CollabInvited {
            collab: cid,
            by: inv.signer,
            purpose,
        });
        Ok(())
    }

    /// The refusal an invitation gets from its head alone (its collaboration and invite entry,
    /// [`guild_core::wire::invite_head`]): an `Invite` of us, from its author, over the
    /// author's budget of invitations waiting. Anything else is left to
    /// [`Service::prepare_invite`], which reads the whole.
    pub(crate) fn refuse_invitation_early(
        &mut self,
        from: PublicKey,
        collab: &AnyRecord,
        invite: &AnyRecord,
    ) -> Option<Refusal> {
        let (AnyRecord::Collaboration(c), AnyRecord::CollabEntry(inv)) = (collab, invite) else {
            return None;
        };
        let cid = c.id();
        let to_us = matches!(inv.body.entry, EntryKind::Invite { member } if member == self.me);
        if inv.signer != from || inv.body.collaboration != cid || !to_us {
            return None;
        }
        self.allow_invitation_from(&from, &cid).err()
    }

    /// Whether `from` may leave one more invitation waiting for our answer: a stranger one at a
    /// time, members more ([`super::admission::PENDING_INVITATIONS`]), and all strangers
    /// together at most [`super::admission::STRANGER_INVITATIONS_WAITING`], so minted keys
    /// cannot grow what waits here (each carries at most `MAX_INVITE_LOG_BYTES` of log).
    fn allow_invitation_from(&mut self, from: &PublicKey, cid: &RecordId) -> Result<(), Refusal> {
        let tier = self.tier_of(from);
        let limit = super::admission::PENDING_INVITATIONS.of(tier);
        let me = self.me;
        let pending = self.state.collabs.waiting_from(from, cid, &me);
        if pending >= limit {
            return Err(Refusal::rate_limited(format!(
                "{from} already has {pending} invitation(s) waiting for an answer here"
            )));
        }
        if tier == super::admission::Tier::Stranger {
            // Inviters are few (each stranger holds one invitation at most): counting them
            // is bounded by this very limit plus the members' own.
            let others: Vec<PublicKey> = self
                .state
                .collabs
                .inviters()
                .filter(|k| *k != from && self.state.collabs.waiting_from(k, cid, &me) > 0)
                .copied()
                .collect();
            let strangers = others
                .iter()
                .filter(|k| self.tier_of(k) == super::admission::Tier::Stranger)
                .count();
            if strangers >= super::admission::STRANGER_INVITATIONS_WAITING {
                return Err(Refusal::rate_limited(format!(
                    "{strangers} invitations from strangers already wait for an answer here"
                )));
            }
        }
        Ok(())
    }
}

impl<S: Storage> Service<S> {
    /// Drops invitations nobody answered within [`super::admission::INVITATION_DAYS`]: the
    /// collaboration record and the log that came with it (a walk over the due index, bounded
    /// per sweep).
    pub(crate) fn sweep_invitations(&mut self, now: UnixTime) {
        let due = self.state.collabs.take_due(now, super::MAX_SWEEP_PER_TICK);
        for cid in due {
            let Some(c) = self.state.collabs.held(&cid) else {
                continue;
            };
            if c.members().contains(&self.me) {
                continue; // we joined
            }
            let entries: Vec<RecordId> = c.entry_ids();
            let inviters: Vec<PublicKey> = c.members().to_vec();
            for id in entries {
                self.drop_record(&id, now);
            }
            self.drop_record(&cid, now);
            self.state.collabs.forget_invitation(&cid, &inviters);
            tracing::debug!(collab = %cid, "an unanswered invitation was swept");
        }
    }
}
