//! Warm introductions between three real daemons on 127.0.0.1 (issue 19, "Done when" bullet 2):
//! A, with no trust link to C, asks B for an introduction; B accepts, C accepts; A's messages to
//! C then pass with the known-member budget, find on A says "introduced by B", and no trust
//! score moved. A declined introduction leaves nothing behind on any of the three, and asking
//! again at once is refused. Every wait is on an event or bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{next_event, options, TestNode};
use guild_core::control::intro::{
    IntroAnswerParams, IntroRequestParams, IntroState, IntroView, Introductions,
};
use guild_core::control::pull::{Delivery, MsgParams};
use guild_core::control::reputation::{TrustAddParams, TrustParams, TrustView};
use guild_core::control::{ErrorCode, Event, ServiceCall};
use guild_core::storage::Storage;
use guild_core::{PublicKey, RecordId};
use guild_service::admission::{MESSAGES_PER_HOUR, MESSAGE_QUOTA};
use guild_service::index::Query;
use guild_service::intro::INTRODUCED_KEY;

/// A, B and C, with A and C bootstrapped from B only, and A trusting B (a trust root).
async fn three(seed: u8) -> (TestNode, TestNode, TestNode) {
    let b = TestNode::start(seed + 1, options("main", &[])).await;
    let b_addr = b.addr().await;
    let a = TestNode::start(seed, options("main", std::slice::from_ref(&b_addr))).await;
    let c = TestNode::start(seed + 2, options("main", std::slice::from_ref(&b_addr))).await;
    a.node
        .call(ServiceCall::TrustAdd(TrustAddParams {
            peer: b.key(),
            skill: None,
            note: "we built a keyboard together".into(),
        }))
        .await
        .unwrap();
    (a, b, c)
}

async fn list(n: &TestNode) -> Introductions {
    n.node
        .call(ServiceCall::IntroList)
        .await
        .unwrap()
        .try_into()
        .unwrap()
}

async fn ask(a: &TestNode, b: PublicKey, c: PublicKey) -> Result<IntroView, ErrorCode> {
    a.node
        .call(ServiceCall::IntroRequest(IntroRequestParams {
            peer: c,
            via: b,
            note: "I need a hand with a KiCad footprint".into(),
            need: None,
            expires_in: None,
        }))
        .await
        .map(|r| r.try_into().unwrap())
        .map_err(|e| e.code)
}

async fn answer(n: &TestNode, id: RecordId, accept: bool) -> IntroView {
    n.node
        .call(ServiceCall::IntroAnswer(IntroAnswerParams {
            id,
            accept,
            note: if accept { "gladly" } else { "not now" }.into(),
        }))
        .await
        .unwrap()
        .try_into()
        .unwrap()
}

async fn trust(n: &TestNode, peer: PublicKey) -> f64 {
    let v: TrustView = n
        .node
        .call(ServiceCall::Trust(TrustParams { peer, skill: None }))
        .await
        .unwrap()
        .try_into()
        .unwrap();
    v.score
}

/// What of an introduction a node holds: its list, the stored introductions, its records.
async fn held(n: &TestNode) -> (Introductions, bool, usize) {
    let store = n.node.store();
    (
        list(n).await,
        store.get_meta_bytes(INTRODUCED_KEY).unwrap().is_some(),
        store.record_count(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_introduction_through_b_lets_a_reach_c_as_a_member_without_trust() {
    let (mut a, mut b, mut c) = three(180).await;
    c.set_skills("Cleo", &["kicad"]).await;
    let (ka, kb, kc) = (a.key(), b.key(), c.key());
    a.until("A knows C's profile", move |n| n.knows(&kc)).await;
    let scores = (
        trust(&a, kb).await,
        trust(&a, kc).await,
        trust(&c, ka).await,
    );
    assert_eq!(scores.1, 0.0, "no trust path from A to C");

    let asked = ask(&a, kb, kc).await.unwrap();
    assert_eq!(asked.state, IntroState::AwaitingIntroducer);
    next_event(
        &mut b,
        "B is asked",
        |e| matches!(e, Event::IntroRequested { id, from, .. } if *id == asked.id && *from == ka),
    )
    .await;
    assert_eq!(list(&b).await.to_relay.len(), 1);

    let relayed = answer(&b, asked.id, true).await;
    assert_eq!(relayed.state, IntroState::Forwarded);
    next_event(
        &mut c,
        "C gets the introduction",
        |e| matches!(e, Event::IntroReceived { id, by, .. } if *id == asked.id && *by == kb),
    )
    .await;
    let made = answer(&c, asked.id, true).await;
    assert_eq!(made.state, IntroState::Accepted);
    next_event(&mut a, "A learns C accepted", |e| {
        matches!(e, Event::IntroAnswered { id, accepted: true, by, .. } if *id == asked.id && *by == kc)
    })
    .await;

    for (n, other) in [(&a, kc), (&c, ka)] {
        let l = list(n).await;
        assert_eq!(l.introduced.len(), 1);
        assert_eq!((l.introduced[0].peer, l.introduced[0].by), (other, kb));
        assert!(l.mine.is_empty() && l.to_me.is_empty() && l.to_relay.is_empty());
    }
    assert!(list(&b).await.relayed.is_empty());

    // More messages than a stranger's budget allows (its stored quota and hourly rate) pass.
    let n = MESSAGE_QUOTA.stranger.count.max(MESSAGES_PER_HOUR.stranger) as usize + 5;
    for i in 0..n {
        let d: Delivery = a
            .node
            .call(ServiceCall::Msg(MsgParams {
                peer: kc,
                text: format!("hello {i}"),
            }))
            .await
            .unwrap()
            .try_into()
            .unwrap();
        assert!(d.delivered, "message {i} of {n}: {:?}", d.error);
    }

    // Find on A shows "introduced by B".
    let out = a
        .node
        .find(
            Query {
                words: Some("kicad".into()),
                skills: vec![],
                resources: vec![],
                text: None,
                limit: 10,
            },
            true,
        )
        .await;
    assert!(out.matches.iter().any(|m| m.peer == kc));
    assert_eq!(out.introduced_by.get(&kc), Some(&kb));

    // Never a trust edge: no score moved.
    assert_eq!(
        (
            trust(&a, kb).await,
            trust(&a, kc).await,
            trust(&c, ka).await
        ),
        scores
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_introduction_leaves_nothing_behind_and_cannot_be_repeated_at_once() {
    let (mut a, mut b, mut c) = three(190).await;
    let (kb, kc) = (b.key(), c.key());
    let before = (held(&a).await, held(&b).await, held(&c).await);
    assert_eq!(before.0 .0, Introductions::default());

    // C declines.
    let asked = ask(&a, kb, kc).await.unwrap();
    next_event(&mut b, "B is asked", |e| {
        matches!(e, Event::IntroRequested { .. })
    })
    .await;
    answer(&b, asked.id, true).await;
    next_event(&mut c, "C gets it", |e| {
        matches!(e, Event::IntroReceived { .. })
    })
    .await;
    answer(&c, asked.id, false).await;
    next_event(
        &mut a,
        "A is told",
        |e| matches!(e, Event::IntroAnswered { accepted: false, by, .. } if *by == kc),
    )
    .await;
    next_event(
        &mut b,
        "B is told",
        |e| matches!(e, Event::IntroAnswered { accepted: false, by, .. } if *by == kc),
    )
    .await;
    assert_eq!(
        (held(&a).await, held(&b).await, held(&c).await),
        before,
        "nothing left on any of the three"
    );
    // Asking again at once is refused.
    assert_eq!(ask(&a, kb, kc).await.unwrap_err(), ErrorCode::Unavailable);

    // B declines (another pair: C asks B for an introduction to A).
    let ka = a.key();
    let asked = ask(&c, kb, ka).await.unwrap();
    next_event(
        &mut b,
        "B is asked",
        |e| matches!(e, Event::IntroRequested { from, .. } if *from == kc),
    )
    .await;
    answer(&b, asked.id, false).await;
    next_event(
        &mut c,
        "C is told",
        |e| matches!(e, Event::IntroAnswered { accepted: false, by, .. } if *by == kb),
    )
    .await;
    assert_eq!(
        (held(&a).await, held(&b).await, held(&c).await),
        before,
        "nothing left on any of the three"
    );
    assert_eq!(ask(&c, kb, ka).await.unwrap_err(), ErrorCode::Unavailable);
}
