//! The daemon loop sleeps until the service asks to be woken (`Io::Wakeup`), and then does
//! what is due: no fixed poll keeps it going.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{options, within, TestNode};
use guild_core::control::ProfileDraft;
use std::time::Duration;

#[tokio::test]
async fn the_loop_is_woken_when_the_service_asks_and_signs_a_queued_profile_version() {
    let mut opts = options("wakeup", &[]);
    // Nothing but the service's own wake-ups can tick it within the test.
    opts.tick = Duration::from_secs(3_600);
    let n = TestNode::start(41, opts).await;
    let draft = |name: &str| ProfileDraft {
        name: name.into(),
        ..Default::default()
    };
    // Three versions in a row: at least one falls in the same second as the one before it and
    // waits for the next second, which only a wake-up the service asked for brings.
    for name in ["first", "second", "third"] {
        let signed = within(
            "a profile version signed",
            n.node.set_own_profile(draft(name)),
        )
        .await
        .unwrap();
        assert_eq!(signed.body.name, name);
    }
}
