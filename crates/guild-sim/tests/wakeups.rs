//! Nodes are ticked when their services ask to be woken, not on a fixed poll.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::control::ProfileDraft;
use guild_sim::{Sim, SimConfig};

const MINUTE: u64 = 60_000;

#[test]
fn an_idle_node_sleeps_between_its_timers_and_still_does_what_is_due() {
    let mut sim = Sim::new(SimConfig::new(7), 4);
    sim.run_for(MINUTE);
    let before = sim.ticks(0);
    sim.run_for(MINUTE);
    let idle = sim.ticks(0) - before;
    // A 250 ms poll would be 240 ticks a minute; the services ask for their mesh rounds (every
    // 5 s), their sync round and little else.
    assert!(idle >= 12, "woken for every mesh round: {idle}");
    assert!(idle <= 40, "not polled: {idle} ticks in an idle minute");

    // A second profile version within the same second waits for the next second: the service
    // asks to be woken for it, and nothing else has to happen for it to be signed.
    let draft = |name: &str| ProfileDraft {
        name: name.into(),
        ..Default::default()
    };
    let first = sim.set_profile(0, draft("first"));
    assert!(sim.reply(0, first).is_some(), "signed at once");
    let second = sim.set_profile(0, draft("second"));
    assert!(sim.reply(0, second).is_none(), "waits for the next second");
    sim.run_for(1_000);
    assert!(
        matches!(sim.reply(0, second), Some(Ok(_))),
        "signed at the wake-up"
    );
}
