//! What this node holds of the introductions it takes part in, and the bounds on it.

use super::*;

/// A request of ours.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Mine {
    pub(super) request: Signed<IntroRequest>,
    pub(super) state: IntroState,
    pub(super) introducer_note: Option<String>,
}

/// Something a peer signed that waits for our answer, and who is accounted for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Waiting<T> {
    pub(super) step: T,
    pub(super) signer: PublicKey,
    pub(super) bytes: usize,
    pub(super) stranger: bool,
}

/// The introductions this node takes part in.
#[derive(Debug)]
pub(crate) struct Intros {
    pub(super) mine: BTreeMap<RecordId, Mine>,
    pub(super) to_relay: BTreeMap<RecordId, Waiting<Signed<IntroRequest>>>,
    pub(super) to_me: BTreeMap<RecordId, Waiting<Signed<IntroRelay>>>,
    /// Relays we made, until the target answers (to pass its answer on), with the "forwarded"
    /// notice for the requester until the target acknowledged the relay.
    pub(super) relayed: BTreeMap<RecordId, (Signed<IntroRelay>, Option<Signed<IntroAnswer>>)>,
    /// Members introduced to us: peer → introduction.
    pub(super) introduced: BTreeMap<PublicKey, Introduced>,
    /// The same as peer → introducer, shared with the find views (rebuilt only when
    /// `introduced` changes, never per view).
    pub(super) introducers: Arc<HashMap<PublicKey, PublicKey>>,
    /// (requester, target) → until when it may not be asked again.
    pub(super) cooldown: HashMap<(PublicKey, PublicKey), UnixTime>,
    /// Finished requests → their expiry (late duplicates are answered as duplicates).
    pub(super) finished: HashMap<RecordId, UnixTime>,
    /// Held per signer: (count, bytes).
    pub(super) held: HashMap<PublicKey, (usize, usize)>,
    /// Held in total: (count, bytes, strangers' count).
    pub(super) total: (usize, usize, usize),
    pub(super) requests: TieredLimiter,
    pub(super) relays: TieredLimiter,
    /// Where we listen, told to the members we are introduced to.
    pub(crate) listen: Vec<String>,
    /// Pending steps changed since they were last written to the store.
    pub(super) dirty: BTreeSet<(Slot, RecordId)>,
    /// Cooldowns or settled ids changed since they were last written.
    pub(super) settled_dirty: bool,
}

impl Default for Intros {
    fn default() -> Intros {
        Intros {
            mine: BTreeMap::new(),
            to_relay: BTreeMap::new(),
            to_me: BTreeMap::new(),
            relayed: BTreeMap::new(),
            introduced: BTreeMap::new(),
            introducers: Arc::default(),
            cooldown: HashMap::new(),
            finished: HashMap::new(),
            held: HashMap::new(),
            total: (0, 0, 0),
            requests: TieredLimiter::new(INTRO_REQUESTS_PER_DAY, 86_400),
            relays: TieredLimiter::new(INTRO_RELAYS_PER_DAY, 86_400),
            dirty: BTreeSet::new(),
            settled_dirty: false,
            listen: Vec::new(),
        }
    }
}

impl Intros {
    /// Who introduced us to `peer`, if anyone.
    pub(crate) fn introduced_by(&self, peer: &PublicKey) -> Option<PublicKey> {
        self.introduced.get(peer).map(|i| i.by)
    }

    /// Members introduced to us.
    pub(crate) fn introduced_peers(&self) -> impl Iterator<Item = &PublicKey> {
        self.introduced.keys()
    }

    /// Peer → introducer, for the find views (shared, not copied).
    pub(crate) fn introducers_map(&self) -> Arc<HashMap<PublicKey, PublicKey>> {
        self.introducers.clone()
    }

    pub(super) fn introduced_changed(&mut self) {
        self.introducers = Arc::new(self.introduced.iter().map(|(p, i)| (*p, i.by)).collect());
    }

    pub(super) fn cooling(&self, requester: &PublicKey, target: &PublicKey, now: UnixTime) -> bool {
        self.cooldown
            .get(&(*requester, *target))
            .is_some_and(|until| *until > now)
    }

    pub(super) fn cool(&mut self, requester: PublicKey, target: PublicKey, now: UnixTime) {
        if self.cooldown.len() >= MAX_COOLDOWNS {
            self.cooldown.retain(|_, until| *until > now);
            if self.cooldown.len() >= MAX_COOLDOWNS {
                if let Some(k) = self
                    .cooldown
                    .iter()
                    .min_by_key(|(k, until)| (**until, **k))
                    .map(|(k, _)| *k)
                {
                    self.cooldown.remove(&k);
                }
            }
        }
        self.cooldown
            .insert((requester, target), now + INTRO_COOLDOWN_SECS);
        self.settled_dirty = true;
    }

    pub(super) fn finish(&mut self, id: RecordId, expires_at: UnixTime, now: UnixTime) {
        if self.finished.len() >= MAX_FINISHED {
            self.finished.retain(|_, e| *e > now);
            if self.finished.len() >= MAX_FINISHED {
                if let Some(k) = self
                    .finished
                    .iter()
                    .min_by_key(|(k, e)| (**e, **k))
                    .map(|(k, _)| *k)
                {
                    self.finished.remove(&k);
                }
            }
        }
        self.finished.insert(id, expires_at);
        self.settled_dirty = true;
    }

    /// Checks that one more step of `bytes` from `signer` fits, by tier.
    pub(super) fn admit(
        &self,
        signer: &PublicKey,
        tier: Tier,
        bytes: usize,
    ) -> Result<(), Refusal> {
        let (count, held) = self.held.get(signer).copied().unwrap_or((0, 0));
        let per = PENDING_INTROS_PER_SIGNER.of(tier);
        if count >= per || held + bytes > PENDING_INTRO_BYTES_PER_SIGNER {
            return Err(Refusal::rate_limited(format!(
                "this member already has {count} introductions waiting here (at most {per} for a {}); wait for an answer",
                tier.label()
            )));
        }
        if tier == Tier::Stranger && self.total.2 >= STRANGER_INTROS_WAITING {
            return Err(Refusal::new(
                RefusalReason::Busy,
                format!(
                    "{STRANGER_INTROS_WAITING} introductions from strangers already wait here; try later"
                ),
            ));
        }
        if self.total.0 >= MAX_INTROS_WAITING || self.total.1 + bytes > MAX_INTRO_WAITING_BYTES {
            return Err(Refusal::new(
                RefusalReason::Busy,
                "too many introductions wait here; try later",
            ));
        }
        Ok(())
    }

    pub(super) fn hold(&mut self, signer: PublicKey, bytes: usize, stranger: bool) {
        let e = self.held.entry(signer).or_insert((0, 0));
        e.0 += 1;
        e.1 += bytes;
        self.total.0 += 1;
        self.total.1 += bytes;
        self.total.2 += usize::from(stranger);
    }

    pub(super) fn release(&mut self, signer: PublicKey, bytes: usize, stranger: bool) {
        if let Some(e) = self.held.get_mut(&signer) {
            e.0 = e.0.saturating_sub(1);
            e.1 = e.1.saturating_sub(bytes);
            if e.0 == 0 {
                self.held.remove(&signer);
            }
        }
        self.total.0 = self.total.0.saturating_sub(1);
        self.total.1 = self.total.1.saturating_sub(bytes);
        self.total.2 = self.total.2.saturating_sub(usize::from(stranger));
    }

    pub(super) fn take_to_relay(&mut self, id: &RecordId) -> Option<Signed<IntroRequest>> {
        let w = self.to_relay.remove(id)?;
        self.touch(Slot::ToRelay, *id);
        self.release(w.signer, w.bytes, w.stranger);
        Some(w.step)
    }

    pub(super) fn take_to_me(&mut self, id: &RecordId) -> Option<Signed<IntroRelay>> {
        let w = self.to_me.remove(id)?;
        self.touch(Slot::ToMe, *id);
        self.release(w.signer, w.bytes, w.stranger);
        Some(w.step)
    }

    /// Pending entries held (for tests and the store-contents checks): (mine, to relay, to
    /// me, relayed).
    pub(crate) fn pending_counts(&self) -> (usize, usize, usize, usize) {
        (
            self.mine.len(),
            self.to_relay.len(),
            self.to_me.len(),
            self.relayed.len(),
        )
    }
}
