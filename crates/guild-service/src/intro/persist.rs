//! The pending steps, cooldowns and settled ids in the store: written in the call or request that
//! changed them, read back at start (see the module docs of [`super`]).

use super::*;

/// Which pending map a step is kept in (and part of its store key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Slot {
    Mine,
    ToRelay,
    ToMe,
    Relayed,
}

impl Slot {
    pub(super) fn key(self, id: &RecordId) -> String {
        let slot = match self {
            Slot::Mine => "mine",
            Slot::ToRelay => "to_relay",
            Slot::ToMe => "to_me",
            Slot::Relayed => "relayed",
        };
        format!("{PENDING_INDEX_KEY}.{slot}.{id}")
    }
}

/// One pending step as the store keeps it (built one at a time to be written or read, never
/// held in a collection, so the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum Kept {
    Mine(Mine),
    ToRelay(Waiting<Signed<IntroRequest>>),
    ToMe(Waiting<Signed<IntroRelay>>),
    Relayed(Signed<IntroRelay>, Option<Signed<IntroAnswer>>),
}

/// The cooldowns and settled ids as the store keeps them.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Settled {
    pub(super) cooldown: Vec<(PublicKey, PublicKey, UnixTime)>,
    pub(super) finished: Vec<(RecordId, UnixTime)>,
}

pub(super) fn kept_slot(k: &Kept) -> Slot {
    match k {
        Kept::Mine(_) => Slot::Mine,
        Kept::ToRelay(_) => Slot::ToRelay,
        Kept::ToMe(_) => Slot::ToMe,
        Kept::Relayed(..) => Slot::Relayed,
    }
}

impl Intros {
    /// Marks a pending step as changed (written to the store by [`Service::save_intros`]).
    pub(super) fn touch(&mut self, slot: Slot, id: RecordId) {
        self.dirty.insert((slot, id));
    }

    /// A pending step as the store keeps it; `None` when it is no longer pending.
    pub(super) fn kept(&self, slot: Slot, id: &RecordId) -> Option<Kept> {
        match slot {
            Slot::Mine => self.mine.get(id).cloned().map(Kept::Mine),
            Slot::ToRelay => self.to_relay.get(id).cloned().map(Kept::ToRelay),
            Slot::ToMe => self.to_me.get(id).cloned().map(Kept::ToMe),
            Slot::Relayed => self
                .relayed
                .get(id)
                .cloned()
                .map(|(r, n)| Kept::Relayed(r, n)),
        }
    }

    /// Every pending step, by slot (the store's list of them).
    pub(super) fn pending_index(&self) -> Vec<(Slot, RecordId)> {
        let ids = |slot: Slot, ids: Vec<RecordId>| ids.into_iter().map(move |id| (slot, id));
        ids(Slot::Mine, self.mine.keys().copied().collect())
            .chain(ids(Slot::ToRelay, self.to_relay.keys().copied().collect()))
            .chain(ids(Slot::ToMe, self.to_me.keys().copied().collect()))
            .chain(ids(Slot::Relayed, self.relayed.keys().copied().collect()))
            .collect()
    }

    /// The cooldowns (those that end last, within [`MAX_KEPT_COOLDOWNS`]) and settled ids.
    pub(super) fn settled(&self) -> Settled {
        let mut cooldown: Vec<(PublicKey, PublicKey, UnixTime)> = self
            .cooldown
            .iter()
            .map(|((a, b), until)| (*a, *b, *until))
            .collect();
        cooldown.sort_unstable_by(|x, y| y.2.cmp(&x.2).then((x.0, x.1).cmp(&(y.0, y.1))));
        cooldown.truncate(MAX_KEPT_COOLDOWNS);
        let mut finished: Vec<(RecordId, UnixTime)> =
            self.finished.iter().map(|(id, e)| (*id, *e)).collect();
        finished.sort_unstable();
        Settled { cooldown, finished }
    }

    /// Puts a step read from the store back in its map (start).
    pub(super) fn restore(&mut self, id: RecordId, kept: Kept) {
        match kept {
            Kept::Mine(m) => {
                self.mine.insert(id, m);
            }
            Kept::ToRelay(w) => {
                if let Some(old) = self.to_relay.insert(id, w.clone()) {
                    self.release(old.signer, old.bytes, old.stranger);
                }
                self.hold(w.signer, w.bytes, w.stranger);
            }
            Kept::ToMe(w) => {
                if let Some(old) = self.to_me.insert(id, w.clone()) {
                    self.release(old.signer, old.bytes, old.stranger);
                }
                self.hold(w.signer, w.bytes, w.stranger);
            }
            Kept::Relayed(r, n) => {
                self.relayed.insert(id, (r, n));
            }
        }
    }
}

impl<S: Storage> Service<S> {
    /// Loads the accepted introductions, the pending steps, the cooldowns and the settled ids
    /// (start). A pending step or the settled list that does not read is dropped with a warning
    /// (and its key removed at the next write), never a reason not to start.
    pub(crate) fn load_intros(&mut self, now: UnixTime) -> Result<(), crate::StorageError> {
        let stored: Vec<Introduced> = self.store.get_meta(INTRODUCED_KEY)?.unwrap_or_default();
        for i in stored.into_iter().take(MAX_INTRODUCED) {
            self.intros.introduced.insert(i.peer, i);
        }
        self.intros.introduced_changed();
        let index: Vec<(Slot, RecordId)> = match self.store.get_meta(PENDING_INDEX_KEY) {
            Ok(index) => index.unwrap_or_default(),
            Err(e) => {
                tracing::warn!("pending introductions do not read, dropped: {e}");
                Vec::new()
            }
        };
        for (slot, id) in index {
            match self.store.get_meta::<Kept>(&slot.key(&id)) {
                Ok(Some(kept)) if kept_slot(&kept) == slot => self.intros.restore(id, kept),
                Ok(_) => self.intros.touch(slot, id),
                Err(e) => {
                    tracing::warn!("pending introduction {id} does not read, dropped: {e}");
                    self.intros.touch(slot, id);
                }
            }
        }
        match self.store.get_meta::<Settled>(SETTLED_KEY) {
            Ok(settled) => {
                let settled = settled.unwrap_or_default();
                let i = &mut self.intros;
                for (a, b, until) in settled.cooldown.into_iter().take(MAX_COOLDOWNS) {
                    i.cooldown.insert((a, b), until);
                }
                for (id, e) in settled.finished.into_iter().take(MAX_FINISHED) {
                    i.finished.insert(id, e);
                }
            }
            Err(e) => tracing::warn!("introduction cooldowns do not read, dropped: {e}"),
        }
        // Lapsed while we were down: dropped now, and the store follows.
        self.sweep_intros(now);
        if let Err(e) = self.save_intros() {
            tracing::warn!("cannot tidy the pending introductions: {e}");
        }
        // Relays the target had not acknowledged when we stopped are delivered again (a target
        // that holds one answers `Duplicate`, which counts as delivered); one that still cannot
        // be delivered aborts as before.
        let unconfirmed: Vec<Signed<IntroRelay>> = self
            .intros
            .relayed
            .values()
            .filter(|(_, notice)| notice.is_some())
            .map(|(relay, _)| relay.clone())
            .collect();
        for relay in unconfirmed {
            let (to, rid) = (relay.body.request.body.target, relay.id());
            self.deliver(
                to,
                DirectRequest::Intro(Box::new(IntroMessage::Relay(relay))),
                rid,
                KIND,
                None,
            );
        }
        Ok(())
    }

    /// Writes the pending steps, cooldowns and settled ids changed since the last write. On a
    /// failure the changes stay marked and are written by the next call.
    pub(crate) fn save_intros(&mut self) -> Result<(), crate::StorageError> {
        if self.intros.dirty.is_empty() && !self.intros.settled_dirty {
            return Ok(());
        }
        let dirty = std::mem::take(&mut self.intros.dirty);
        let written = self.write_intros(&dirty);
        if written.is_err() {
            self.intros.dirty.extend(dirty);
        }
        written
    }

    pub(super) fn write_intros(
        &mut self,
        dirty: &BTreeSet<(Slot, RecordId)>,
    ) -> Result<(), crate::StorageError> {
        for (slot, id) in dirty {
            match self.intros.kept(*slot, id) {
                Some(kept) => self.store.put_meta(&slot.key(id), &kept)?,
                None => self.store.remove_meta(&slot.key(id))?,
            }
        }
        if !dirty.is_empty() {
            self.store
                .put_meta(PENDING_INDEX_KEY, &self.intros.pending_index())?;
        }
        if self.intros.settled_dirty {
            self.store.put_meta(SETTLED_KEY, &self.intros.settled())?;
            self.intros.settled_dirty = false;
        }
        Ok(())
    }

    /// [`Service::save_intros`] where the change is already answered for (a failure is logged
    /// and retried at the next write).
    pub(super) fn save_intros_or_warn(&mut self) {
        if let Err(e) = self.save_intros() {
            tracing::warn!("cannot write pending introductions (retried later): {e}");
        }
    }
}
