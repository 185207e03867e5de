//! This node's own profile: signing, storing, publishing on gossip, announcing skills on the DHT.

use super::{lock, Node};
use crate::OWN_PROFILE_KEY;
use guild_core::control::ProfileDraft;
use guild_core::{Profile, RecordError, Signed};
use guild_net::{PublishError, Topic};
use std::collections::BTreeSet;

/// Why our profile could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum OwnProfileError {
    /// The content breaks a record rule (too long, bad tag…).
    #[error("{0}")]
    Invalid(#[from] RecordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] guild_store::StoreError),
    /// Signing (encoding) failed.
    #[error("cannot sign the profile: {0}")]
    Sign(String),
}

impl Node {
    /// Our profile draft (unsigned content), if we have one.
    pub fn own_draft(&self) -> Result<Option<ProfileDraft>, guild_store::StoreError> {
        self.inner.store.get_meta(OWN_PROFILE_KEY)
    }

    /// Our current signed profile.
    pub fn own_profile(&self) -> Result<Option<Signed<Profile>>, guild_store::StoreError> {
        self.inner.store.get_profile(&self.inner.me)
    }

    /// Replaces our profile: signs it, validates it with the same function peers use, stores and
    /// flushes it, then publishes it and announces its tags. Returns the signed profile.
    pub async fn set_own_profile(
        &self,
        draft: ProfileDraft,
    ) -> Result<Signed<Profile>, OwnProfileError> {
        // One update at a time, so versions are issued in order.
        let _guard = self.inner.own_profile_lock.lock().await;
        // Each version must sort after the previous one (whole seconds). Rather than running ahead
        // of the clock on rapid edits, wait for the next second (at most two).
        if let Some(prev) = self.own_profile().ok().flatten().map(|p| p.body.issued_at) {
            let now = guild_core::time::now();
            if prev >= now && prev <= now + 1 {
                let wait = std::time::Duration::from_secs(prev + 1 - now);
                tokio::time::sleep(wait).await;
            }
        }
        let signed = self.sign_own(draft.clone())?;
        self.inner.store.put_meta(OWN_PROFILE_KEY, &draft)?;
        let _ = self.accept_profile(signed.clone());
        self.inner.store.flush_async().await?;
        self.spread_own(&signed).await;
        Ok(signed)
    }

    fn sign_own(&self, draft: ProfileDraft) -> Result<Signed<Profile>, OwnProfileError> {
        let now = guild_core::time::now();
        // Each new version must sort after the previous one, even within one second.
        let prev = self.own_profile().ok().flatten().map(|p| p.body.issued_at);
        let issued_at = prev.map_or(now, |p| now.max(p + 1));
        let body = draft.into_profile(
            self.inner.me,
            issued_at,
            issued_at + self.inner.opts.profile_lifetime,
        );
        let signed = Signed::sign(body, &self.inner.identity)
            .map_err(|e| OwnProfileError::Sign(e.to_string()))?;
        signed.validate(now)?;
        Ok(signed)
    }

    /// Re-signs and republishes our profile (at start and every republish interval).
    pub(crate) async fn publish_own(&self) {
        let draft = match self.own_draft() {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("cannot read our profile draft: {e}");
                return;
            }
        };
        match self.set_own_profile(draft).await {
            Ok(_) => tracing::debug!("republished our profile"),
            Err(e) => tracing::warn!("cannot republish our profile: {e}"),
        }
    }

    async fn spread_own(&self, signed: &Signed<Profile>) {
        match signed.encode() {
            Ok(bytes) => match self.inner.net.publish(Topic::Profiles, bytes).await {
                Ok(_) => {}
                // Stored locally; peers get it by sync when they connect.
                Err(PublishError::InsufficientPeers) => {
                    tracing::debug!("no gossip peers yet; profile will spread by sync")
                }
                Err(e) => tracing::warn!("cannot publish our profile: {e}"),
            },
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
        let (added, removed) = {
            let mut provided = lock(&self.inner.provided);
            let added: Vec<Vec<u8>> = keys.difference(&provided).cloned().collect();
            let removed: Vec<Vec<u8>> = provided.difference(&keys).cloned().collect();
            *provided = keys;
            (added, removed)
        };
        for key in removed {
            let _ = self.inner.net.stop_providing(key).await;
        }
        for key in added {
            let net = self.inner.net.clone();
            // Announcing can take a DHT round trip; do not hold up the caller.
            self.inner.tasks.spawn(async move {
                if let Err(e) = net.start_providing(key).await {
                    tracing::debug!("cannot announce a skill on the DHT yet: {e}");
                }
            });
        }
    }
}
