//! Collaborations: a message log replicated only among members, over direct requests (never on
//! gossip). Entries are signed, ordered by (time, author, seq), deduplicated by id; an author's
//! sequence numbers only go up, so a replayed entry is refused.

use super::deliver::REPLAY_PREFIX;
use super::pull::{sign, PullError};
use super::Node;
use guild_core::control::pull::{CollabView, Collabs, EntryView};
use guild_core::control::Event;
use guild_core::wire::{DirectRequest, MAX_INVITE_LOG, MAX_INVITE_LOG_BYTES};
use guild_core::{
    AnyRecord, CollabEntry, Collaboration, EntryKind, PublicKey, RecordId, RecordKind, Signed,
};
use guild_net::PeerId;

fn entry_kind(e: &EntryKind) -> (&'static str, Option<String>, Option<PublicKey>) {
    match e {
        EntryKind::Post { text } => ("post", Some(text.clone()), None),
        EntryKind::Invite { member } => ("invite", None, Some(*member)),
        EntryKind::Join { .. } => ("join", None, None),
        EntryKind::Close { summary } => ("close", Some(summary.clone()), None),
    }
}

/// Log order: Lamport clock (causal), then time, author and sequence as tie-breakers.
pub(crate) fn entry_order(a: &Signed<CollabEntry>, b: &Signed<CollabEntry>) -> std::cmp::Ordering {
    (a.body.clock, a.body.issued_at, a.signer, a.body.seq).cmp(&(
        b.body.clock,
        b.body.issued_at,
        b.signer,
        b.body.seq,
    ))
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

/// Members of a collaboration given its log (sorted): founders, then each invitee whose `Join`
/// answers an invitation written by someone already a member.
pub fn members(collab: &Collaboration, log: &[Signed<CollabEntry>]) -> Vec<PublicKey> {
    let mut members = collab.members();
    for e in log {
        if let EntryKind::Join { invite } = &e.body.entry {
            let ok = log.iter().any(|i| {
                i.id() == *invite
                    && matches!(i.body.entry, EntryKind::Invite { member } if member == e.signer)
                    && members.contains(&i.signer)
            });
            if ok && !members.contains(&e.signer) {
                members.push(e.signer);
            }
        }
    }
    members
}

impl Node {
    /// The log of a collaboration, in order.
    pub(crate) fn collab_log(&self, collab: &RecordId) -> Vec<Signed<CollabEntry>> {
        let mut log: Vec<Signed<CollabEntry>> = self
            .inner
            .store
            .records_of_kind(RecordKind::CollabEntry)
            .filter_map(|r| r.ok())
            .filter_map(|r| Signed::<CollabEntry>::try_from(r).ok())
            .filter(|e| e.body.collaboration == *collab)
            .collect();
        log.sort_by(entry_order);
        log
    }

    fn collab(&self, id: &RecordId) -> Result<Signed<Collaboration>, PullError> {
        self.inner
            .store
            .get_typed::<Collaboration>(id)?
            .ok_or_else(|| {
                PullError::NotFound(format!(
                    "no collaboration {id} is known here (see `guild collab list`)"
                ))
            })
    }

    pub(crate) fn collab_view(
        &self,
        c: &Signed<Collaboration>,
        with_log: bool,
    ) -> Result<CollabView, PullError> {
        let log = self.collab_log(&c.id());
        let members = members(&c.body, &log);
        Ok(CollabView {
            id: c.id(),
            purpose: c.body.purpose.clone(),
            need: c.body.need.id(),
            member: members.contains(&self.inner.me),
            members,
            opened_at: c.body.issued_at,
            closed: log
                .iter()
                .any(|e| matches!(e.body.entry, EntryKind::Close { .. })),
            entries: if with_log {
                log.iter().map(entry_view).collect()
            } else {
                vec![]
            },
        })
    }

    /// Our collaborations and pending invitations.
    pub fn collab_list(&self) -> Result<Collabs, PullError> {
        let me = self.inner.me;
        let mut collabs = Vec::new();
        for c in self.stored_collabs() {
            let view = self.collab_view(&c, false)?;
            // Collaborations held only as proof behind someone's attestation are not ours.
            let invited = || {
                self.collab_log(&c.id())
                    .iter()
                    .any(|e| matches!(e.body.entry, EntryKind::Invite { member } if member == me))
            };
            if view.member || invited() {
                collabs.push(view);
            }
        }
        collabs.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then(a.id.cmp(&b.id)));
        Ok(Collabs { collabs })
    }

    /// One collaboration with its log. Only members can read it.
    pub fn collab_show(&self, id: &RecordId) -> Result<CollabView, PullError> {
        let c = self.collab(id)?;
        let view = self.collab_view(&c, true)?;
        if !view.member {
            return Err(PullError::Invalid(format!(
                "you are not a member of collaboration {id}; accept the invitation with `guild collab join`"
            )));
        }
        Ok(view)
    }

    /// Writes an entry as a member and delivers it to every other member.
    async fn write_entry(
        &self,
        id: &RecordId,
        entry: EntryKind,
        must_be_member: bool,
    ) -> Result<EntryView, PullError> {
        let c = self.collab(id)?;
        let log = self.collab_log(id);
        let members = members(&c.body, &log);
        if must_be_member && !members.contains(&self.inner.me) {
            return Err(PullError::Invalid(format!(
                "you are not a member of collaboration {id}"
            )));
        }
        if log
            .iter()
            .any(|e| matches!(e.body.entry, EntryKind::Close { .. }))
        {
            return Err(PullError::Invalid(format!("collaboration {id} is closed")));
        }
        let seq = log
            .iter()
            .filter(|e| e.signer == self.inner.me)
            .map(|e| e.body.seq)
            .max()
            .unwrap_or(0)
            + 1;
        let now = guild_core::time::now();
        let body = CollabEntry {
            version: guild_core::record::RECORD_VERSION,
            issuer: self.inner.me,
            collaboration: *id,
            issued_at: now,
            expires_at: c.body.expires_at.max(now + 1),
            seq,
            clock: log.iter().map(|e| e.body.clock).max().unwrap_or(0) + 1,
            entry,
        };
        let e = sign(self, body)?;
        let record = AnyRecord::CollabEntry(e.clone());
        self.inner.store.put_record(&record)?;
        self.inner.store.flush_async().await?;
        let mut recipients: Vec<PublicKey> = members
            .into_iter()
            .filter(|m| *m != self.inner.me)
            .collect();
        if let EntryKind::Invite { member } = &e.body.entry {
            recipients.retain(|m| m != member);
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
                collaboration: Box::new(AnyRecord::Collaboration(c.clone())),
                invite: Box::new(record.clone()),
                log,
            };
            match self.deliver(*member, req, e.id(), "invitation").await {
                Ok(()) => {}
                Err(err @ super::deliver::DeliverError::Refused(_)) => {
                    return Err(PullError::Invalid(format!("the invitation was {err}")))
                }
                Err(err) => {
                    return Err(PullError::Unreachable(format!(
                        "invitation stored but not delivered yet ({err}); the daemon keeps retrying"
                    )))
                }
            }
        }
        for m in recipients {
            let node = self.clone();
            let req = DirectRequest::Deliver(Box::new(record.clone()));
            let eid = e.id();
            // Each member independently; failures are retried and reported as events.
            self.inner.tasks.spawn(async move {
                let _ = node.deliver(m, req, eid, "collab_entry").await;
            });
        }
        Ok(entry_view(&e))
    }

    /// Posts to a collaboration.
    pub async fn collab_post(&self, id: &RecordId, text: String) -> Result<EntryView, PullError> {
        self.write_entry(id, EntryKind::Post { text }, true).await
    }

    /// Invites someone.
    pub async fn collab_invite(
        &self,
        id: &RecordId,
        who: PublicKey,
    ) -> Result<EntryView, PullError> {
        let c = self.collab(id)?;
        if members(&c.body, &self.collab_log(id)).contains(&who) {
            return Err(PullError::Invalid(format!("{who} is already a member")));
        }
        self.write_entry(id, EntryKind::Invite { member: who }, true)
            .await
    }

    /// Accepts an invitation.
    pub async fn collab_join(&self, id: &RecordId) -> Result<EntryView, PullError> {
        let c = self.collab(id)?;
        let log = self.collab_log(id);
        let current = members(&c.body, &log);
        if current.contains(&self.inner.me) {
            return Err(PullError::Invalid(format!(
                "you are already a member of {id}"
            )));
        }
        let invite = log
            .iter()
            .find(|i| {
                matches!(i.body.entry, EntryKind::Invite { member } if member == self.inner.me)
                    && current.contains(&i.signer)
            })
            .ok_or_else(|| {
                PullError::NotFound(format!("no invitation to {id} for you is known"))
            })?;
        self.write_entry(
            id,
            EntryKind::Join {
                invite: invite.id(),
            },
            false,
        )
        .await
    }

    /// Closes a collaboration: the work is done.
    pub async fn collab_close(
        &self,
        id: &RecordId,
        summary: String,
    ) -> Result<EntryView, PullError> {
        self.write_entry(id, EntryKind::Close { summary }, true)
            .await
    }

    /// A collaboration record delivered to us (we are a founding member).
    pub(crate) fn receive_collaboration(
        &self,
        from: PeerId,
        c: Signed<Collaboration>,
    ) -> Result<(), String> {
        if !c.body.is_member(&self.inner.me) {
            return Err("you sent a collaboration this member is not part of".into());
        }
        if c.signer.to_peer_id() != from {
            return Err("a collaboration must be delivered by the member who opened it".into());
        }
        let id = c.id();
        let event = Event::CollabOpened {
            collab: id,
            purpose: c.body.purpose.clone(),
            members: c.body.members(),
        };
        match self.inner.store.put_record(&AnyRecord::Collaboration(c)) {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "{REPLAY_PREFIX} collaboration {id} is already known"
                ))
            }
            Err(e) => return Err(format!("store error: {e}")),
        }
        let _ = self.inner.store.flush();
        self.emit(event);
        Ok(())
    }

    /// A log entry delivered to us. Only members may write; replays are refused.
    pub(crate) fn receive_entry(&self, from: PeerId, e: Signed<CollabEntry>) -> Result<(), String> {
        if e.signer.to_peer_id() != from {
            return Err("an entry must be delivered by its author".into());
        }
        let id = e.body.collaboration;
        let c = match self.inner.store.get_typed::<Collaboration>(&id) {
            Ok(Some(c)) => c,
            _ => return Err(format!("unknown collaboration {id}")),
        };
        let log = self.collab_log(&id);
        let members = members(&c.body, &log);
        if !members.contains(&self.inner.me) {
            return Err(format!("this member is not part of collaboration {id}"));
        }
        let author_ok = match &e.body.entry {
            EntryKind::Join { invite } => log.iter().any(|i| {
                i.id() == *invite
                    && matches!(i.body.entry, EntryKind::Invite { member } if member == e.signer)
            }),
            _ => members.contains(&e.signer),
        };
        if !author_ok {
            return Err(format!(
                "{} is not a member of collaboration {id}",
                e.signer
            ));
        }
        if log.iter().any(|x| x.id() == e.id()) {
            return Err(format!(
                "{REPLAY_PREFIX} entry {} is already recorded",
                e.id()
            ));
        }
        if let Some(last) = log
            .iter()
            .filter(|x| x.signer == e.signer)
            .map(|x| x.body.seq)
            .max()
        {
            if e.body.seq <= last {
                return Err(format!(
                    "replayed or out-of-order entry: sequence {} is not after {last} for this author",
                    e.body.seq
                ));
            }
        }
        if log
            .iter()
            .any(|x| matches!(x.body.entry, EntryKind::Close { .. }))
        {
            return Err(format!("collaboration {id} is closed"));
        }
        self.store_entry(&e)
    }

    fn store_entry(&self, e: &Signed<CollabEntry>) -> Result<(), String> {
        match self
            .inner
            .store
            .put_record(&AnyRecord::CollabEntry(e.clone()))
        {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "{REPLAY_PREFIX} entry {} is already recorded",
                    e.id()
                ))
            }
            Err(err) => return Err(format!("store error: {err}")),
        }
        let _ = self.inner.store.flush();
        let (kind, text, _) = entry_kind(&e.body.entry);
        self.emit(Event::CollabEntryAdded {
            collab: e.body.collaboration,
            entry: e.id(),
            author: e.signer,
            kind: kind.into(),
            text,
        });
        Ok(())
    }

    /// An invitation delivered to us, with the collaboration and its log.
    pub(crate) fn receive_invite(
        &self,
        from: PeerId,
        collab: AnyRecord,
        invite: AnyRecord,
        log: Vec<AnyRecord>,
    ) -> Result<(), String> {
        let now = guild_core::time::now();
        let (AnyRecord::Collaboration(c), AnyRecord::CollabEntry(inv)) = (collab, invite) else {
            return Err("an invitation carries a collaboration and an invite entry".into());
        };
        c.validate(now).map_err(|e| e.to_string())?;
        inv.validate(now).map_err(|e| e.to_string())?;
        if inv.signer.to_peer_id() != from || inv.body.collaboration != c.id() {
            return Err("the invitation does not match its sender or collaboration".into());
        }
        if !matches!(inv.body.entry, EntryKind::Invite { member } if member == self.inner.me) {
            return Err("the invitation is for someone else".into());
        }
        if log.len() > MAX_INVITE_LOG {
            return Err(format!("at most {MAX_INVITE_LOG} log entries"));
        }
        let mut entries = Vec::new();
        for r in log {
            let AnyRecord::CollabEntry(e) = r else {
                return Err("the log holds only collaboration entries".into());
            };
            if e.body.collaboration != c.id() {
                return Err("a log entry belongs to another collaboration".into());
            }
            e.validate(now).map_err(|err| err.to_string())?;
            entries.push(e);
        }
        if !entries.iter().any(|e| e.id() == inv.id()) {
            entries.push(inv.clone());
        }
        entries.sort_by(entry_order);
        if !members(&c.body, &entries).contains(&inv.signer) {
            return Err("the inviter is not a member".into());
        }
        let cid = c.id();
        let purpose = c.body.purpose.clone();
        let _ = self.inner.store.put_record(&AnyRecord::Collaboration(c));
        for e in &entries {
            let _ = self
                .inner
                .store
                .put_record(&AnyRecord::CollabEntry(e.clone()));
        }
        let _ = self.inner.store.flush();
        self.emit(Event::CollabInvited {
            collab: cid,
            by: inv.signer,
            purpose,
        });
        Ok(())
    }
}
