//! The load's progress, as a daemon reports it while it starts.

use super::*;

#[test]
fn the_load_reports_each_phase_in_order_and_every_record_read() {
    let mut v = harness(1);
    let (a, b) = (identity(2), identity(3));
    counted_attestation(&mut v, &a, &b, MS);
    let p = sign(fixtures::profile(&a, "ada", &["kicad"], T0), &a);
    v.gossip(&a, AnyRecord::Profile(p), MS).unwrap();
    // A profile, the attestation, its collaboration and the two closes.
    let stored = 5;
    let mut steps = Vec::new();
    let again = Service::new_with_progress(
        identity(1),
        v.svc.store().clone(),
        ServiceConfig::default(),
        1,
        MS + 1000,
        &mut |s| steps.push(s),
    )
    .unwrap();
    let phases: Vec<&str> = steps.iter().map(|s| s.phase).collect();
    assert_eq!(
        phases,
        [
            "profiles",
            "needs",
            "offers",
            "collaborations",
            "collaboration entries",
            "messages",
            "attestations",
            "sponsorships",
            "revocations",
            "trust",
            "accounting"
        ]
    );
    assert!(steps.windows(2).all(|w| w[0].records <= w[1].records));
    assert_eq!(steps.last().map(|s| s.records), Some(stored));
    assert_eq!(again.counts().profiles, 1);
}

/// The load decides what counts and accounts every record once, at its end, with trust built:
/// a restarted node ends where the node that took the records in one by one was — the same
/// attestations counted, the same members reached by trust, the same usage per signer, the same strangers' pools
/// record by record.
#[test]
fn a_restart_counts_and_accounts_what_the_running_node_did() {
    let mut v = harness(1);
    let (bea, cai, dan, eve) = (identity(2), identity(3), fresh(4), fresh(5));
    trust_root(&mut v, &bea);
    counted_attestation(&mut v, &bea, &cai, MS);
    // Strangers to us: their records sit in the strangers' pools.
    counted_attestation(&mut v, &dan, &eve, MS + 1000);
    for (who, at) in [(&bea, T0), (&dan, T0 + 1), (&eve, T0 + 2)] {
        v.gossip(who, AnyRecord::Need(a_need(who, at)), MS + 2000)
            .unwrap();
    }
    let me = v.me.public();
    let picture = |s: &mut Service| {
        let t = T0 + 10;
        // Who trust reaches (the scores themselves come from random walks, which a graph
        // built in another order walks differently: not compared).
        let mut scores: Vec<PublicKey> = s
            .trust
            .scores(me, None, t)
            .into_iter()
            .filter(|(_, x)| *x > 0.0)
            .map(|(k, _)| k)
            .collect();
        scores.sort();
        let mut accounting: Vec<_> = s
            .state
            .attestations
            .ids()
            .chain(s.state.pull.needs().map(|(id, _)| id))
            .map(|id| (*id, s.state.records.accounting(id)))
            .collect();
        accounting.sort_by_key(|(id, _)| *id);
        let mut usage = Vec::new();
        for who in [&bea, &cai, &dan, &eve] {
            for kind in [RecordKind::Need, RecordKind::Attestation] {
                usage.push(s.usage_of(&who.public(), kind));
            }
        }
        let pools: Vec<_> = [RecordKind::Need, RecordKind::Attestation]
            .into_iter()
            .map(|k| s.stranger_usage(k))
            .collect();
        let counted: Vec<bool> = {
            let mut ids: Vec<RecordId> = s.state.attestations.ids().copied().collect();
            ids.sort();
            ids.iter()
                .map(|id| s.state.attestations.is_counted(id))
                .collect()
        };
        (scores, accounting, usage, pools, counted)
    };
    let before = picture(&mut v.svc);
    assert!(before.3[0].count >= 2, "the strangers' needs are pooled");
    assert_eq!(before.4, vec![true, true], "both attestations count");
    let mut again = Service::new(
        identity(1),
        v.svc.store().clone(),
        ServiceConfig::default(),
        1,
        // At the time the root was added: it is stamped with the time it is put in the
        // engine, and the scores below are read at one instant.
        MS,
    )
    .unwrap();
    assert_eq!(picture(&mut again), before);
}
