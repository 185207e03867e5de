//! Members named for people, the same way in the CLI and the dashboard: "me", a display name, or
//! a short peer id — and a name two members share is never shown alone, since anyone can call
//! themselves after someone the owner trusts.

use crate::keys::PublicKey;
use std::collections::{BTreeSet, HashMap};

/// Display names of the members a page or a command shows, resolved by the caller (with
/// `profile.get`) and labelled here.
#[derive(Debug, Clone, Default)]
pub struct MemberNames {
    me: Option<PublicKey>,
    names: HashMap<PublicKey, String>,
    /// Names (lowercased) held by more than one of the members named.
    ambiguous: BTreeSet<String>,
}

impl MemberNames {
    /// Labels for `names`; `me` is this node. Names are put on one line; empty ones are dropped.
    pub fn new(
        me: Option<PublicKey>,
        names: impl IntoIterator<Item = (PublicKey, String)>,
    ) -> MemberNames {
        let names: HashMap<PublicKey, String> = names
            .into_iter()
            .map(|(k, n)| (k, n.split_whitespace().collect::<Vec<_>>().join(" ")))
            .filter(|(k, n)| !n.is_empty() && Some(*k) != me)
            .collect();
        let mut seen = BTreeSet::new();
        let mut ambiguous = BTreeSet::new();
        for name in names.values() {
            if !seen.insert(name.to_lowercase()) {
                ambiguous.insert(name.to_lowercase());
            }
        }
        MemberNames {
            me,
            names,
            ambiguous,
        }
    }

    /// This node, when known.
    pub fn me(&self) -> Option<PublicKey> {
        self.me
    }

    /// Sets this node when it was not known (e.g. `status` failed but an explanation names it).
    pub fn or_me(&mut self, me: Option<PublicKey>) {
        if self.me.is_none() {
            self.me = me;
            if let Some(me) = me {
                self.names.remove(&me);
            }
        }
    }

    /// Whether `key` is this node.
    pub fn is_me(&self, key: &PublicKey) -> bool {
        self.me == Some(*key)
    }

    /// "me", a name (with a short id when another member shown has the same name), or a short
    /// peer id.
    pub fn label(&self, key: &PublicKey) -> String {
        if self.is_me(key) {
            return "me".into();
        }
        match self.names.get(key) {
            Some(name) if self.ambiguous.contains(&name.to_lowercase()) => {
                format!("{name} ({})", short_peer(key))
            }
            Some(name) => name.clone(),
            None => short_peer(key),
        }
    }
}

/// The last 8 characters of a peer id (the first ones are the same for every ed25519 key).
pub fn short_peer(key: &PublicKey) -> String {
    let id = key.to_string();
    let tail: String = id
        .chars()
        .skip(id.chars().count().saturating_sub(8))
        .collect();
    format!("…{tail}")
}
