//! Gossip topics and the community-scoped protocol names.
//!
//! Every name carries the community, so members of two communities never exchange messages
//! or DHT queries even when connected: topics are `guild/<community>/<kind>` (sent verbatim
//! as the topic hash, as other libp2p implementations expect with `IdentTopic`) and protocol
//! ids are `/guild/<community>/…`.

use libp2p::gossipsub::{IdentTopic, TopicHash};

/// The gossip topics of a community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Signed member profiles (skills, resources).
    Profiles,
    /// Signed, expiring requests for help.
    Needs,
    /// Signed attestations issued after a collaboration.
    Attestations,
}

impl Topic {
    /// All topics; a node subscribes to all of them at start.
    pub const ALL: [Topic; 3] = [Topic::Profiles, Topic::Needs, Topic::Attestations];

    /// The last component of the topic name.
    pub fn kind(self) -> &'static str {
        match self {
            Topic::Profiles => "profiles",
            Topic::Needs => "needs",
            Topic::Attestations => "attestations",
        }
    }

    /// The topic name in a community: `guild/<community>/<kind>`.
    pub fn name(self, community: &str) -> String {
        format!("guild/{community}/{}", self.kind())
    }

    /// The gossipsub topic in a community.
    pub fn ident(self, community: &str) -> IdentTopic {
        IdentTopic::new(self.name(community))
    }
}

/// Maps topic hashes of one community back to [`Topic`]s.
#[derive(Debug, Clone)]
pub(crate) struct CommunityTopics {
    topics: [(Topic, IdentTopic); 3],
}

impl CommunityTopics {
    pub(crate) fn new(community: &str) -> Self {
        Self {
            topics: Topic::ALL.map(|t| (t, t.ident(community))),
        }
    }

    /// The gossipsub topic for `topic`.
    pub(crate) fn ident(&self, topic: Topic) -> &IdentTopic {
        // `topics` is built from `Topic::ALL`, so every topic is present; fall back to the
        // first entry rather than panic if that invariant were ever broken.
        self.topics
            .iter()
            .find(|(t, _)| *t == topic)
            .map_or(&self.topics[0].1, |(_, ident)| ident)
    }

    /// The topic with this hash, if it belongs to our community.
    pub(crate) fn topic_of(&self, hash: &TopicHash) -> Option<Topic> {
        self.topics
            .iter()
            .find(|(_, ident)| ident.hash() == *hash)
            .map(|(t, _)| *t)
    }
}

/// Identify protocol version: `/guild/<community>/1.0.0`.
pub(crate) fn identify_protocol_version(community: &str) -> String {
    format!("/guild/{community}/1.0.0")
}

/// Kademlia protocol id: `/guild/<community>/kad/1.0.0`.
pub(crate) fn kad_protocol(community: &str) -> String {
    format!("/guild/{community}/kad/1.0.0")
}

/// Direct request-response protocol id: `/guild/<community>/direct/1.0.0`.
pub(crate) fn direct_protocol(community: &str) -> String {
    format!("/guild/{community}/direct/1.0.0")
}

/// Whether an identify protocol version (`/guild/<community>/<version>`) names a *different*
/// Guild community. Peers that are not Guild nodes at all (another libp2p implementation
/// reading our topics) are not foreign, nor are other protocol versions of our community.
pub(crate) fn is_foreign_community(protocol_version: &str, community: &str) -> bool {
    match protocol_version.strip_prefix("/guild/") {
        Some(rest) => rest.split('/').next() != Some(community),
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_carry_the_community() {
        assert_eq!(Topic::Profiles.name("main"), "guild/main/profiles");
        assert_eq!(Topic::Needs.name("main"), "guild/main/needs");
        assert_eq!(Topic::Attestations.name("x"), "guild/x/attestations");
        // IdentTopic hashes are the name itself.
        assert_eq!(
            Topic::Profiles.ident("main").hash().as_str(),
            "guild/main/profiles"
        );
    }

    #[test]
    fn hashes_map_back_only_within_the_community() {
        let main = CommunityTopics::new("main");
        for topic in Topic::ALL {
            assert_eq!(main.topic_of(&topic.ident("main").hash()), Some(topic));
            assert_eq!(main.topic_of(&topic.ident("other").hash()), None);
            assert_eq!(main.ident(topic).hash(), topic.ident("main").hash());
        }
    }

    #[test]
    fn foreign_communities_are_recognised() {
        assert!(!is_foreign_community("/guild/main/1.0.0", "main"));
        assert!(is_foreign_community("/guild/other/1.0.0", "main"));
        assert!(is_foreign_community("/guild/mainx/1.0.0", "main"));
        assert!(!is_foreign_community("/guild/main/2.0.0", "main"));
        assert!(!is_foreign_community("ipfs/0.1.0", "main"));
        assert_eq!(kad_protocol("main"), "/guild/main/kad/1.0.0");
        assert_eq!(direct_protocol("main"), "/guild/main/direct/1.0.0");
    }
}
