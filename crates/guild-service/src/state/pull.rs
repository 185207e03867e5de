//! Pull: needs, the offers made on them, which offers a collaboration accepted, and messages.
//!
//! Invariants kept here: an offer is listed under its need exactly while it is held, and a need
//! with no offers held has no entry; an offer is marked accepted only by a collaboration that
//! names it with its own offerer, asker and need, and the mark goes with the offer.

use super::HashMap;
use guild_core::{PublicKey, RecordId, UnixTime};
use std::collections::{BTreeMap, BTreeSet};

/// A need as matching and listing see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct NeedInfo {
    pub asker: PublicKey,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
}

/// An offer as listing and acceptance see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct OfferInfo {
    pub need: RecordId,
    pub from: PublicKey,
    pub to: PublicKey,
    pub issued_at: UnixTime,
    /// The role offered for (index into the need's roles).
    pub role: u8,
}

/// Needs, offers, acceptances and messages.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Pull {
    /// Needs by id.
    needs: HashMap<RecordId, NeedInfo>,
    /// Offers by id.
    offers: HashMap<RecordId, OfferInfo>,
    /// Offer ids by need.
    offers_by_need: HashMap<RecordId, BTreeSet<RecordId>>,
    /// Offer → the collaboration that accepted it.
    accepted: HashMap<RecordId, RecordId>,
    /// Need → the one collaboration its accepted offers joined (its team).
    teams: HashMap<RecordId, RecordId>,
    /// Messages: (issued_at, id) → (from, to).
    messages: BTreeMap<(UnixTime, RecordId), (PublicKey, PublicKey)>,
}

impl Pull {
    /// Indexes a held need.
    pub fn insert_need(&mut self, id: RecordId, need: NeedInfo) {
        self.needs.insert(id, need);
    }

    /// Forgets a need.
    pub fn remove_need(&mut self, id: &RecordId) -> Option<NeedInfo> {
        self.needs.remove(id)
    }

    /// A held need.
    pub fn need(&self, id: &RecordId) -> Option<&NeedInfo> {
        self.needs.get(id)
    }

    /// Every held need.
    pub fn needs(&self) -> impl Iterator<Item = (&RecordId, &NeedInfo)> {
        self.needs.iter()
    }

    /// How many needs are held.
    #[cfg(test)]
    pub fn needs_len(&self) -> usize {
        self.needs.len()
    }

    /// Indexes a held offer under its need.
    pub fn insert_offer(&mut self, id: RecordId, offer: OfferInfo) {
        self.offers_by_need
            .entry(offer.need)
            .or_default()
            .insert(id);
        self.offers.insert(id, offer);
    }

    /// Forgets an offer, its place under its need and its acceptance.
    pub fn remove_offer(&mut self, id: &RecordId) -> Option<OfferInfo> {
        self.accepted.remove(id);
        let o = self.offers.remove(id)?;
        if let Some(set) = self.offers_by_need.get_mut(&o.need) {
            set.remove(id);
            if set.is_empty() {
                self.offers_by_need.remove(&o.need);
            }
        }
        Some(o)
    }

    /// A held offer.
    pub fn offer(&self, id: &RecordId) -> Option<&OfferInfo> {
        self.offers.get(id)
    }

    /// Every held offer's id.
    pub fn offer_ids(&self) -> impl Iterator<Item = &RecordId> {
        self.offers.keys()
    }

    /// The offers held on a need.
    pub fn offers_on(&self, need: &RecordId) -> impl Iterator<Item = &RecordId> {
        self.offers_by_need.get(need).into_iter().flatten()
    }

    /// How many offers are held on a need.
    pub fn offer_count(&self, need: &RecordId) -> usize {
        self.offers_by_need.get(need).map_or(0, |s| s.len())
    }

    /// Marks an offer accepted by a collaboration, if the offer is held and is the one the
    /// collaboration names: made by `offerer` to `asker` on `need`. Returns whether it was.
    pub fn accept(
        &mut self,
        offer: RecordId,
        collab: RecordId,
        offerer: PublicKey,
        asker: PublicKey,
        need: RecordId,
    ) -> bool {
        let named = self
            .offers
            .get(&offer)
            .is_some_and(|o| o.from == offerer && o.to == asker && o.need == need);
        if named {
            self.accepted.insert(offer, collab);
            self.teams.entry(need).or_insert(collab);
        }
        named
    }

    /// The collaboration of a need's team, once an offer on it was accepted.
    pub fn team_of(&self, need: &RecordId) -> Option<RecordId> {
        self.teams.get(need).copied()
    }

    /// Forgets that a need has a team (its collaboration went).
    pub fn forget_team(&mut self, collab: &RecordId) {
        self.teams.retain(|_, c| c != collab);
    }

    /// The collaboration that accepted an offer.
    pub fn accepted_in(&self, offer: &RecordId) -> Option<RecordId> {
        self.accepted.get(offer).copied()
    }

    /// Indexes a held message.
    pub fn insert_message(&mut self, id: RecordId, at: UnixTime, from: PublicKey, to: PublicKey) {
        self.messages.insert((at, id), (from, to));
    }

    /// Messages, newest first: (id, from, to).
    pub fn messages_newest_first(
        &self,
    ) -> impl Iterator<Item = (&RecordId, &PublicKey, &PublicKey)> {
        self.messages
            .iter()
            .rev()
            .map(|((_, id), (from, to))| (id, from, to))
    }

    /// Forgets a message.
    pub fn remove_message(&mut self, id: &RecordId, at: UnixTime) {
        self.messages.remove(&(at, *id));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use guild_core::fixtures::identity;

    fn offer(need: RecordId) -> OfferInfo {
        OfferInfo {
            role: 0,
            need,
            from: identity(2).public(),
            to: identity(1).public(),
            issued_at: 10,
        }
    }

    #[test]
    fn offers_are_listed_under_their_need_while_held() {
        let mut p = Pull::default();
        let (need, o1, o2) = (RecordId([1; 32]), RecordId([2; 32]), RecordId([3; 32]));
        p.insert_offer(o1, offer(need));
        p.insert_offer(o2, offer(need));
        assert_eq!(p.offer_count(&need), 2);
        assert_eq!(p.offers_on(&need).count(), 2);
        p.remove_offer(&o1).unwrap();
        assert!(p.remove_offer(&o1).is_none());
        assert_eq!(p.offers_on(&need).collect::<Vec<_>>(), vec![&o2]);
        p.remove_offer(&o2);
        assert_eq!(p.offer_count(&need), 0);
        assert!(p.offers_by_need.is_empty(), "no empty set is left behind");
    }

    #[test]
    fn only_the_offer_a_collaboration_names_is_accepted_and_the_mark_goes_with_it() {
        let mut p = Pull::default();
        let (need, o, c) = (RecordId([1; 32]), RecordId([2; 32]), RecordId([4; 32]));
        let (asker, offerer) = (identity(1).public(), identity(2).public());
        assert!(!p.accept(o, c, offerer, asker, need), "not held");
        p.insert_offer(o, offer(need));
        assert!(!p.accept(o, c, asker, asker, need), "someone else's offer");
        assert!(
            !p.accept(o, c, offerer, asker, RecordId([9; 32])),
            "another need"
        );
        assert!(p.accept(o, c, offerer, asker, need));
        assert_eq!(p.accepted_in(&o), Some(c));
        p.remove_offer(&o);
        assert_eq!(p.accepted_in(&o), None);
    }

    #[test]
    fn needs_and_messages_come_and_go() {
        let mut p = Pull::default();
        let n = RecordId([1; 32]);
        let info = NeedInfo {
            asker: identity(1).public(),
            issued_at: 1,
            expires_at: 2,
        };
        p.insert_need(n, info.clone());
        assert_eq!(p.need(&n), Some(&info));
        assert_eq!(p.remove_need(&n), Some(info));
        assert_eq!(p.needs_len(), 0);
        p.insert_message(n, 5, identity(1).public(), identity(2).public());
        p.remove_message(&n, 5);
        assert!(p.messages.is_empty());
    }
}
