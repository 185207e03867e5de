//! This node's own profile: versions signed in order and never ahead of the clock, stored,
//! published on gossip, and its tags announced on the DHT.

use super::io::{secs, Millis, Topic};
use super::{Answer, CallId, Io, Service};
use crate::Storage;
use crate::OWN_PROFILE_KEY;
use guild_core::control::pull::Asked;
use guild_core::control::{CallError, ProfileDraft, ProfileResult, Reply};
use guild_core::{Profile, PublicKey, RecordId, Signed, UnixTime};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Most profile versions waiting for the clock to move on.
const MAX_QUEUED_VERSIONS: usize = 16;

/// Our own profile and our own sequence state.
#[derive(Debug, Default)]
pub(crate) struct Own {
    /// The unsigned content of our profile, if we have one.
    pub draft: Option<ProfileDraft>,
    /// Versions waiting to be signed (each needs a later second than the previous one).
    queue: VecDeque<(Option<CallId>, ProfileDraft)>,
    /// `issued_at` of our newest version.
    last_issued: UnixTime,
    /// DHT keys announced for our tags.
    provided: BTreeSet<Vec<u8>>,
    /// Our newest attestation (sequence, id).
    pub last_attestation: Option<(u64, RecordId)>,
    /// `ask` calls waiting to learn whether their need was published.
    pub pending_asks: HashMap<CallId, Asked>,
    /// Our newest version went out while we had no connection: gossip carried it to nobody.
    pub unheard: bool,
}

impl Own {
    /// Loads the draft.
    pub fn load<S: Storage>(&mut self, store: &S) -> Result<(), crate::StorageError> {
        self.draft = store.get_meta(OWN_PROFILE_KEY)?;
        Ok(())
    }
}

impl<S: Storage> Service<S> {
    pub(crate) fn profile_get(&self, who: Option<PublicKey>) -> Result<ProfileResult, CallError> {
        match who {
            None => self
                .store
                .get_profile(&self.me)
                .map_err(CallError::internal),
            Some(who) => {
                let p = self
                    .store
                    .get_profile(&who)
                    .map_err(CallError::internal)?
                    .ok_or_else(|| CallError::not_found(format!("no profile of {who} is known")))?;
                Ok(Some(p))
            }
        }
    }

    /// Queues a new version of our profile; it is signed at once unless the previous version
    /// was issued this very second, in which case it waits for the next tick of the clock.
    pub(crate) fn profile_set(&mut self, call: CallId, draft: ProfileDraft, now: Millis) -> Answer {
        let t = secs(now);
        // Refuse content no peer would accept before queueing it.
        let trial = draft
            .clone()
            .into_profile(self.me, t, t + self.cfg.profile_lifetime);
        if let Err(e) = Signed::sign(trial, &self.identity)
            .map_err(|e| e.to_string())
            .and_then(|s| s.validate(t).map_err(|e| e.to_string()))
        {
            return Answer::Now(Err(CallError::invalid_params(e)), false);
        }
        if self.own.queue.len() >= MAX_QUEUED_VERSIONS {
            return Answer::Now(
                Err(CallError::unavailable(
                    "too many profile changes in a row; try again in a second",
                )),
                false,
            );
        }
        self.own.draft = Some(draft.clone());
        self.own.queue.push_back((Some(call), draft));
        self.own_tick(now);
        Answer::Later
    }

    /// Re-signs and republishes our profile (at start and every republish interval).
    pub(crate) fn republish(&mut self, now: Millis) {
        if let Some(d) = self.own.draft.clone() {
            if self.own.queue.is_empty() {
                self.own.queue.push_back((None, d));
            }
            self.own_tick(now);
        }
    }

    /// When a queued version of our profile can be signed (the second after the previous one).
    pub(crate) fn own_due(&self) -> Option<crate::LocalTime> {
        if self.own.queue.is_empty() {
            return None;
        }
        Some(crate::LocalTime::from_secs(self.own.last_issued + 1))
    }

    /// Signs the queued version if the clock has moved past the previous one.
    pub(crate) fn own_tick(&mut self, now: Millis) {
        let t = secs(now);
        if self.own.last_issued == 0 {
            self.own.last_issued = self.profiles.get(&self.me).map_or(0, |e| e.issued_at);
        }
        if t <= self.own.last_issued {
            return;
        }
        let Some((call, draft)) = self.own.queue.pop_front() else {
            return;
        };
        let result = self.sign_own(draft, t);
        match (call, result) {
            (Some(call), Ok(p)) => self.reply(call, Ok(Reply::Profile(Some(p))), true),
            (Some(call), Err(e)) => self.reply(call, Err(e), false),
            (None, Ok(_)) => tracing::debug!("republished our profile"),
            (None, Err(e)) => tracing::warn!("cannot republish our profile: {e}"),
        }
    }

    fn sign_own(&mut self, draft: ProfileDraft, t: UnixTime) -> Result<Signed<Profile>, CallError> {
        let body = draft
            .clone()
            .into_profile(self.me, t, t + self.cfg.profile_lifetime);
        let signed = Signed::sign(body, &self.identity).map_err(CallError::internal)?;
        signed
            .validate(t)
            .map_err(|e| CallError::invalid_params(e.to_string()))?;
        self.store
            .put_meta(OWN_PROFILE_KEY, &draft)
            .map_err(CallError::internal)?;
        self.accept_profile(signed.clone(), t)
            .map_err(|e| CallError::internal(e.detail))?;
        self.own.last_issued = t;
        self.spread_own(&signed);
        Ok(signed)
    }

    fn spread_own(&mut self, signed: &Signed<Profile>) {
        self.own.unheard = self.mesh.len() == 0;
        match signed.encode() {
            Ok(data) => self.outbox.push(Io::Publish {
                topic: Topic::Profiles,
                data,
                report: None,
            }),
            Err(e) => tracing::error!("cannot encode our profile: {e}"),
        }
        let keys: BTreeSet<Vec<u8>> = signed
            .body
            .skills
            .iter()
            .map(|s| s.tag.dht_key().to_vec())
            .chain(
                signed
                    .body
                    .resources
                    .iter()
                    .map(|r| r.tag.dht_key().to_vec()),
            )
            .collect();
        for key in self.own.provided.difference(&keys) {
            self.outbox.push(Io::StopProviding(key.clone()));
        }
        for key in keys.difference(&self.own.provided) {
            self.outbox.push(Io::Provide(key.clone()));
        }
        self.own.provided = keys;
    }
}
