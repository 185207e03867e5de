//! Gossipsub v1.1 peer scoring parameters for Guild's topics.
//!
//! Peer scoring (Vyzovitis et al., *GossipSub: Attack-Resilient Message Propagation in the
//! Filecoin and ETH2.0 Networks*, 2020) gives every peer a score from its behaviour on each
//! topic plus global penalties; peers whose score falls below the thresholds stop receiving
//! gossip, then our own publications, then are ignored altogether.
//!
//! Guild's traffic differs from the blockchain meshes those defaults were tuned for: a member
//! publishes a profile every few hours and a need now and then. So:
//!
//! * **Invalid messages weigh heavily** (P4). Every gossip message waits for the node's
//!   verdict; a `Reject` (bad signature, expired record, malformed body) counts against the
//!   peer that forwarded it. The penalty is `-10 × count²` per topic and decays over an hour:
//!   one bad record brings a peer to the gossip threshold (a buggy but honest peer recovers),
//!   two push it well below, three graylist it.
//! * **Good behaviour earns little** (P1, P2: at most +3 per topic, +9 in all, and never more
//!   than [`TOPIC_SCORE_CAP`]), so a long-lived peer cannot bank credit and then spend it on a
//!   burst of forgeries: even with full credit, two bad records cost it gossip and three get
//!   it graylisted.
//! * **No delivery-rate expectations** (P3, P3b off): quiet topics are normal here, and
//!   expecting a minimum number of deliveries would penalise honest peers in a quiet mesh.
//! * **IP colocation** (P6) is tolerated up to [`IP_COLOCATION_THRESHOLD`] peers per address
//!   (a hackerspace behind one NAT), and loopback is exempt (local tests, several daemons on
//!   one machine).

use std::{net::IpAddr, time::Duration};

use libp2p::gossipsub::{
    score_parameter_decay, PeerScoreParams, PeerScoreThresholds, TopicHash, TopicScoreParams,
};

/// Cap on the positive part of the topic scores: the most credit good behaviour can earn.
pub const TOPIC_SCORE_CAP: f64 = 10.0;

/// Penalty weight of invalid messages (P4), applied to the square of their decaying count.
pub const INVALID_MESSAGE_WEIGHT: f64 = -10.0;

/// Time for the invalid-message count to decay to a tenth.
pub const INVALID_MESSAGE_DECAY: Duration = Duration::from_secs(60 * 60);

/// Weight of the application-specific score (P5), which carries the node's trust in a peer
/// ([`Client::set_peer_standing`](crate::Client::set_peer_standing), a standing in `[-1, 1]`).
/// A stranger stands at 0 and gets nothing; a fully trusted member gets +3, which:
/// * reaches the opportunistic-graft threshold (3) on its own, so trusted members are the ones
///   grafted into a weak mesh;
/// * with full earned credit (+9) still does not cover two invalid records (-40): two bad
///   records cost even a trusted member our gossip, and four get it graylisted (three for a
///   stranger) — trust buys a little patience, not impunity.
pub const APP_SPECIFIC_WEIGHT: f64 = 3.0;

/// The longest ban [`Client::disconnect_peer`](crate::Client::disconnect_peer) sets when asked
/// for a duration the clock cannot represent.
pub const LONGEST_BAN: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 60 * 60);

/// Peers sharing one IP address before the colocation penalty (P6) applies.
pub const IP_COLOCATION_THRESHOLD: f64 = 10.0;

/// Below this score we neither send gossip (IHAVE) to a peer nor accept it from it.
pub const GOSSIP_THRESHOLD: f64 = -10.0;

/// Below this score we do not publish our own messages to a peer.
pub const PUBLISH_THRESHOLD: f64 = -50.0;

/// Below this score every message from a peer is ignored (graylisting).
pub const GRAYLIST_THRESHOLD: f64 = -80.0;

/// The peer score parameters for a community's topics.
///
/// Global parameters:
/// * `topic_score_cap` = [`TOPIC_SCORE_CAP`]: see the module docs.
/// * `app_specific_weight` = [`APP_SPECIFIC_WEIGHT`]: the node's trust in the peer, set with
///   [`Client::set_peer_standing`](crate::Client::set_peer_standing) (0 for strangers).
/// * `ip_colocation_factor_weight` = -1 with threshold [`IP_COLOCATION_THRESHOLD`] and loopback
///   whitelisted: 14 peers behind one address cost -16 each (below the gossip threshold),
///   19 cost -81 (graylisted); a Sybil swarm on one host does not get far.
/// * `behaviour_penalty_weight` = -10 above a threshold of 6, decaying over 10 minutes: protocol
///   violations (re-grafting during backoff, broken IWANT promises) are tolerated a few times,
///   then penalised quadratically.
/// * `decay_interval` 1 s, `decay_to_zero` 0.1, `retain_score` 1 h: a misbehaving peer that
///   reconnects finds its score where it left it.
pub fn peer_score_params(topics: impl IntoIterator<Item = TopicHash>) -> PeerScoreParams {
    let mut params = PeerScoreParams {
        topic_score_cap: TOPIC_SCORE_CAP,
        app_specific_weight: APP_SPECIFIC_WEIGHT,
        ip_colocation_factor_weight: -1.0,
        ip_colocation_factor_threshold: IP_COLOCATION_THRESHOLD,
        behaviour_penalty_weight: -10.0,
        behaviour_penalty_threshold: 6.0,
        behaviour_penalty_decay: score_parameter_decay(Duration::from_secs(10 * 60)),
        decay_interval: Duration::from_secs(1),
        decay_to_zero: 0.1,
        retain_score: Duration::from_secs(60 * 60),
        ..PeerScoreParams::default()
    };
    params.ip_colocation_factor_whitelist.extend([
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
    ]);
    for topic in topics {
        params.topics.insert(topic, topic_score_params());
    }
    params
}

/// The per-topic parameters, the same for profiles, needs and attestations.
///
/// * `topic_weight` 1.
/// * P1 time in mesh: +0.01 per second, capped at 100 s (+1): a small reward for staying.
/// * P2 first deliveries: +1 per valid message first delivered by the peer, capped at 2 and
///   decaying over an hour: rewards peers that actually relay records.
/// * P3/P3b mesh delivery rate: off (weight 0), see the module docs.
/// * P4 invalid messages: [`INVALID_MESSAGE_WEIGHT`] × count², the count decaying over
///   [`INVALID_MESSAGE_DECAY`].
pub fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: score_parameter_decay(Duration::from_secs(60 * 60)),
        first_message_deliveries_cap: 2.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: INVALID_MESSAGE_WEIGHT,
        invalid_message_deliveries_decay: score_parameter_decay(INVALID_MESSAGE_DECAY),
        ..TopicScoreParams::default()
    }
}

/// The score thresholds.
///
/// * `gossip_threshold` [`GOSSIP_THRESHOLD`]: reached by one invalid message from a peer
///   without credit, by two from any peer.
/// * `publish_threshold` [`PUBLISH_THRESHOLD`]: reached by three invalid messages.
/// * `graylist_threshold` [`GRAYLIST_THRESHOLD`]: reached by three from any peer.
/// * `accept_px_threshold` 10: peer exchange is off, but should it be enabled only peers with
///   the maximum earned credit could hand us other peers.
/// * `opportunistic_graft_threshold` 3: when the median mesh score falls below this, better
///   scoring peers are grafted in.
pub fn peer_score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: GOSSIP_THRESHOLD,
        publish_threshold: PUBLISH_THRESHOLD,
        graylist_threshold: GRAYLIST_THRESHOLD,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 3.0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::topics::Topic;

    #[test]
    fn parameters_are_accepted_by_gossipsub() {
        let params = peer_score_params(Topic::ALL.map(|t| t.ident("main").hash()));
        params.validate().unwrap();
        assert_eq!(params.topics.len(), 3);
        peer_score_thresholds().validate().unwrap();
        topic_score_params().validate().unwrap();
    }

    #[test]
    fn invalid_messages_cross_the_thresholds_in_order() {
        let topic = topic_score_params();
        let per_topic = topic.time_in_mesh_cap * topic.time_in_mesh_weight
            + topic.first_message_deliveries_cap * topic.first_message_deliveries_weight;
        let max_credit = (per_topic * Topic::ALL.len() as f64).min(TOPIC_SCORE_CAP);
        let penalty = |n: f64| INVALID_MESSAGE_WEIGHT * n * n;
        // One bad record from a peer with no credit reaches the gossip threshold …
        assert!(penalty(1.0) <= GOSSIP_THRESHOLD);
        // … but not the publish threshold.
        assert!(penalty(1.0) > PUBLISH_THRESHOLD);
        // Full credit cannot keep a peer with two bad records above the gossip threshold,
        assert!(max_credit + penalty(2.0) < GOSSIP_THRESHOLD);
        // and three get it graylisted.
        assert!(max_credit + penalty(3.0) < GRAYLIST_THRESHOLD);

        // A fully trusted member (standing 1) with full credit:
        let trusted = max_credit + APP_SPECIFIC_WEIGHT;
        assert!(APP_SPECIFIC_WEIGHT >= peer_score_thresholds().opportunistic_graft_threshold);
        assert!(
            trusted + penalty(1.0) > GOSSIP_THRESHOLD,
            "one bad record is forgiven"
        );
        assert!(
            trusted + penalty(2.0) < GOSSIP_THRESHOLD,
            "two cost it our gossip"
        );
        assert!(
            trusted + penalty(4.0) < GRAYLIST_THRESHOLD,
            "four graylist it"
        );
    }
}
