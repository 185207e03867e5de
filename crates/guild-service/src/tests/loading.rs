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
            "trust"
        ]
    );
    assert!(steps.windows(2).all(|w| w[0].records <= w[1].records));
    assert_eq!(steps.last().map(|s| s.records), Some(stored));
    assert_eq!(again.counts().profiles, 1);
}
