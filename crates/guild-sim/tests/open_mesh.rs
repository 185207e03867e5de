//! The connection manager, simulated: a community that grows by newcomers who know only one of
//! three early members. Every service runs the daemon's connection manager (watermarks, pruning
//! with peer exchange, backoff); the simulator refuses dials past a node's connection limit.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::control::ProfileDraft;
use guild_core::{Level, Skill, SkillTag};
use guild_sim::{NodeId, Sim, SimConfig};

const SECOND: u64 = 1_000;

fn draft(i: NodeId) -> ProfileDraft {
    ProfileDraft {
        name: format!("member {i}"),
        bio: "joined through an early member".into(),
        skills: vec![Skill {
            tag: SkillTag::parse(&format!("skill-{}", i % 20)).unwrap(),
            level: Level::Advanced,
        }],
        resources: vec![],
        links: vec![],
    }
}

#[test]
fn newcomers_who_know_one_early_member_all_get_in_and_the_early_members_stay_open() {
    let mut cfg = SimConfig::new(11);
    // Early members fill up quickly: past this, dials are refused outright.
    cfg.max_connections = 20;
    let (low, high) = (cfg.service.mesh.low, cfg.service.mesh.high);
    let mut sim = Sim::new(cfg, 3);
    for i in 0..3 {
        sim.set_profile(i, draft(i));
    }
    let joiners = 150;
    for k in 0..joiners {
        let i = sim.join_via(&[k % 3]);
        sim.set_profile(i, draft(i));
        sim.run_for(SECOND / 2);
    }
    let n = sim.len();
    // Everyone in, holding every profile, within two minutes of the last arrival.
    let deadline = sim.now() + 120 * SECOND;
    let settled = sim.run_until_true(deadline, SECOND, |s| {
        (0..s.len()).all(|i| !s.neighbours(i).is_empty()) && s.converged()
    });
    let degrees: Vec<usize> = (0..n).map(|i| sim.neighbours(i).len()).collect();
    let missing: Vec<usize> = (0..n).map(|i| sim.missing(i)).collect();
    assert!(settled, "degrees {degrees:?}, missing {missing:?}");
    // After the grace periods pass, each node is within its watermarks: nobody needs the
    // early members, and nobody is connected to everyone.
    sim.run_for(60 * SECOND);
    let degrees: Vec<usize> = (0..n).map(|i| sim.neighbours(i).len()).collect();
    let below = degrees.iter().filter(|d| **d < low).count();
    let above = degrees.iter().filter(|d| **d > high).count();
    assert_eq!(above, 0, "above {high}: {degrees:?}");
    assert_eq!(below, 0, "below {low}: {degrees:?}");
    let pruned: u64 = (0..n).map(|i| sim.refusals_and_prunes(i).1).sum();
    assert!(pruned > 0, "the early members made room");
}
