//! The pulse and growth through the service: records arrive by gossip and proofs, expire on the
//! sweep, and the calls and gauges report them.

use super::*;
use guild_core::control::reflect::{
    CoWorker, CollabMonth, Figure, Growth, GrowthParams, Pulse, PulseParams, SkillMonth,
};

const DAY: u64 = 86_400;

#[test]
fn growth_counts_attestations_and_collaborations_per_month_and_coworkers() {
    let mut v = harness(1);
    let (ann, bo, cat) = (identity(2), identity(3), identity(4));
    // Ann vouches for Bo in January (2026-01-01), Cat in February (2026-02-10), each after a
    // collaboration with him whose proof reaches this node.
    counted_attestation(&mut v, &ann, &bo, MS);
    counted_attestation(&mut v, &cat, &bo, MS + 40 * DAY * 1000);
    let g: Growth = TryFrom::try_from(
        v.call(
            ServiceCall::Growth(GrowthParams {
                peer: Some(bo.public()),
            }),
            MS + 41 * DAY * 1000,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        g.attestations,
        vec![
            SkillMonth {
                skill: tag("kicad"),
                month: "2026-01".into(),
                positive: 1,
                negative: 0
            },
            SkillMonth {
                skill: tag("kicad"),
                month: "2026-02".into(),
                positive: 1,
                negative: 0
            },
        ]
    );
    assert_eq!(
        g.collaborations,
        vec![
            CollabMonth {
                month: "2026-01".into(),
                count: 1
            },
            CollabMonth {
                month: "2026-02".into(),
                count: 1
            },
        ]
    );
    let mut with = vec![
        CoWorker {
            peer: ann.public(),
            name: None,
            collaborations: 1,
        },
        CoWorker {
            peer: cat.public(),
            name: None,
            collaborations: 1,
        },
    ];
    with.sort_by_key(|a| a.peer);
    assert_eq!(g.worked_with, with);
    // No profile held: no declared levels; and no growth for someone unknown.
    assert!(g.levels.is_empty());
    let nobody: Growth = TryFrom::try_from(
        v.call(
            ServiceCall::Growth(GrowthParams {
                peer: Some(identity(9).public()),
            }),
            MS,
        )
        .unwrap(),
    )
    .unwrap();
    assert!(nobody.attestations.is_empty() && nobody.worked_with.is_empty());
}

#[test]
fn needs_that_expire_unanswered_are_counted_by_the_sweep_and_on_the_gauges() {
    let mut v = harness(1);
    // Six members each ask for `welding` on 2026-01-01; nobody offers.
    for seed in 2..8u8 {
        let asker = identity(seed);
        let n = sign(
            fixtures::need(&asker, "weld a bracket", &["welding"], T0),
            &asker,
        );
        v.gossip(&asker, AnyRecord::Need(n), MS).unwrap();
    }
    assert_eq!(v.svc.stats().needs_open.get(), 6);
    // A week and a day later the sweep drops them: expired unanswered.
    let later = MS + 8 * DAY * 1000;
    v.svc.tick(later);
    assert_eq!(v.svc.stats().needs_open.get(), 0);
    assert_eq!(v.svc.stats().needs_expired_unanswered.get(), 6);
    let p: Pulse = TryFrom::try_from(
        v.call(
            ServiceCall::Pulse(PulseParams {
                since_secs: Some(14 * DAY),
            }),
            later,
        )
        .unwrap(),
    )
    .unwrap();
    let w = p.tags.iter().find(|t| t.tag == tag("welding")).unwrap();
    assert_eq!(w.asks, Figure::Shown(6));
    assert_eq!(w.members, Figure::Shown(0));
    assert_eq!(w.expired_unanswered, Figure::Shown(6));
    assert_eq!(w.expired_share, Some(1.0));
    assert_eq!(p.lacks.len(), 1);
    assert_eq!(p.needs_now.expired_unanswered, 6);
    assert_eq!(p.totals.members_active, Figure::Shown(6));
}
