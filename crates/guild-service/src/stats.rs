//! Guild's own counters, exported with the libp2p metrics on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of record counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecordLabels {
    /// Record kind.
    pub kind: String,
    /// How it arrived: gossip, sync, direct, local.
    pub via: String,
}

/// Labels of refusals.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// Record kind.
    pub kind: String,
    /// Why (see `Refusal::label`).
    pub reason: String,
}

/// The node's counters. Cheap to update from any task.
#[derive(Clone, Default)]
pub struct Stats {
    /// Records received, by kind and path.
    pub received: Family<RecordLabels, Counter>,
    /// Records accepted (stored), by kind and path.
    pub accepted: Family<RecordLabels, Counter>,
    /// Records refused, by kind and reason.
    pub rejected: Family<RefusalLabels, Counter>,
    /// Records refused, all reasons together.
    pub rejected_total: Counter,
    /// Connected peers.
    pub peers: Gauge,
    /// Indexed profiles.
    pub profiles: Gauge,
    /// Control-socket requests served.
    pub socket_requests: Counter,
    /// Connections the connection manager pruned (above the high watermark, or a crowded
    /// address group).
    pub mesh_pruned: Counter,
    /// Members the connection manager dialled (below the low watermark).
    pub mesh_dials: Counter,
    /// Of those, dials that failed.
    pub mesh_dial_failures: Counter,
    /// Network events dropped because the node fell behind.
    pub dropped_net_events: Counter,
    /// Records refused because their signer's storage quota was full, by kind and tier.
    pub quota_refused: Family<QuotaLabels, Counter>,
    /// Strangers' records dropped to make room for newer strangers' records, by kind.
    pub evicted: Family<RecordLabels, Counter>,
    /// Peers disconnected and kept away for repeated invalid input.
    pub penalised_peers: Counter,
    /// Gossip verdicts never handed to the network layer because its command channel stayed
    /// full: those messages are neither forwarded nor penalised, and gossipsub forgets them.
    pub verdicts_dropped: Counter,
    /// Needs held, not expired, not accepted.
    pub needs_open: Gauge,
    /// Needs held and accepted (a collaboration record held).
    pub needs_accepted: Gauge,
    /// Needs that expired with no offer or collaboration known here, since start.
    pub needs_expired_unanswered: Gauge,
}

/// Labels of quota refusals.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QuotaLabels {
    /// Record kind.
    pub kind: String,
    /// The signer's tier: stranger, member, circle.
    pub tier: String,
}

impl Stats {
    /// Registers the counters under the `guild` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("guild");
        r.register(
            "records_received",
            "Records received",
            self.received.clone(),
        );
        r.register(
            "records_accepted",
            "Records accepted and stored",
            self.accepted.clone(),
        );
        r.register(
            "records_rejected",
            "Records refused, by reason",
            self.rejected.clone(),
        );
        r.register("peers", "Connected peers", self.peers.clone());
        r.register(
            "indexed_profiles",
            "Profiles in the skill index",
            self.profiles.clone(),
        );
        r.register(
            "socket_requests",
            "Control socket requests",
            self.socket_requests.clone(),
        );
        r.register(
            "mesh_pruned",
            "Connections pruned by the connection manager",
            self.mesh_pruned.clone(),
        );
        r.register(
            "mesh_dials",
            "Members dialled by the connection manager",
            self.mesh_dials.clone(),
        );
        r.register(
            "mesh_dial_failures",
            "Dials of the connection manager that failed",
            self.mesh_dial_failures.clone(),
        );
        r.register(
            "dropped_network_events",
            "Network events dropped because the node fell behind",
            self.dropped_net_events.clone(),
        );
        r.register(
            "quota_refused",
            "Records refused because their signer's storage quota was full",
            self.quota_refused.clone(),
        );
        r.register(
            "records_evicted",
            "Strangers' records dropped to make room for newer ones",
            self.evicted.clone(),
        );
        r.register(
            "penalised_peers",
            "Peers disconnected for repeated invalid input",
            self.penalised_peers.clone(),
        );
        r.register(
            "gossip_verdicts_dropped",
            "Gossip verdicts dropped because the network layer was too busy to take them",
            self.verdicts_dropped.clone(),
        );
        r.register(
            "needs_open",
            "Needs held, not expired and not accepted",
            self.needs_open.clone(),
        );
        r.register(
            "needs_accepted",
            "Needs held that a collaboration accepted",
            self.needs_accepted.clone(),
        );
        r.register(
            "needs_expired_unanswered",
            "Needs expired with no offer or collaboration known here, since start",
            self.needs_expired_unanswered.clone(),
        );
    }

    /// Counts a quota refusal.
    pub fn refused_quota(&self, kind: guild_core::RecordKind, tier: crate::admission::Tier) {
        self.quota_refused
            .get_or_create(&QuotaLabels {
                kind: crate::intake::kind_label(kind).into(),
                tier: tier.label().into(),
            })
            .inc();
    }

    /// Counts a stranger's record evicted from its kind's pool.
    pub fn evicted(&self, kind: guild_core::RecordKind) {
        self.evicted
            .get_or_create(&RecordLabels {
                kind: crate::intake::kind_label(kind).into(),
                via: "pool".into(),
            })
            .inc();
    }

    /// Counts a record received on a path.
    pub fn received(&self, kind: &str, via: &str) {
        self.received
            .get_or_create(&RecordLabels {
                kind: kind.into(),
                via: via.into(),
            })
            .inc();
    }

    /// Counts a record accepted from a path.
    pub fn accepted(&self, kind: &str, via: &str) {
        self.accepted
            .get_or_create(&RecordLabels {
                kind: kind.into(),
                via: via.into(),
            })
            .inc();
    }

    /// Counts a refusal, by reason.
    pub fn rejected(&self, kind: &str, reason: &str) {
        self.rejected_total.inc();
        self.rejected
            .get_or_create(&RefusalLabels {
                kind: kind.into(),
                reason: reason.into(),
            })
            .inc();
    }
}
