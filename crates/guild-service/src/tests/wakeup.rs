//! Timers as an effect: the service asks to be woken ([`Io::Wakeup`]) instead of being polled.

use super::*;

/// The wake-ups in an outbox, in order.
fn wakeups(outbox: &[Io]) -> Vec<LocalDuration> {
    outbox
        .iter()
        .filter_map(|io| match io {
            Io::Wakeup(d) => Some(*d),
            _ => None,
        })
        .collect()
}

#[test]
fn a_service_asked_nothing_new_still_requests_its_next_wakeup() {
    let mut v = harness(1);
    v.svc.start(MS, vec![], vec![]);
    let first = wakeups(&v.svc.take_outbox());
    assert_eq!(first.len(), 1, "one wake-up per outbox: {first:?}");
    assert!(
        first[0] <= mesh::ROUND,
        "never later than the next mesh round"
    );
    assert!(
        v.svc.take_outbox().is_empty(),
        "nothing new: no repeated wake-up (a loop that drains until empty ends)"
    );
    // Woken when asked, with nothing else going on: it asks again, for a later time.
    let mut now = LocalTime::from(MS) + first[0];
    for _ in 0..5 {
        v.svc.tick(now);
        let ios = v.svc.take_outbox();
        let w = wakeups(&ios);
        assert_eq!(
            w.len(),
            1,
            "a tick always ends with the next wake-up: {ios:?}"
        );
        assert!(
            w[0] > LocalDuration::ZERO,
            "nothing is due at once after a tick"
        );
        assert!(w[0] <= mesh::ROUND);
        assert_eq!(now + w[0], v.svc.next_wakeup());
        now += w[0];
    }
}

#[test]
fn a_profile_version_queued_within_a_second_is_signed_when_the_service_asks_to_be_woken() {
    let mut v = harness(1);
    // Settled: the first tick ran the timers that were due at start.
    v.svc.tick(MS);
    let _ = v.svc.take_outbox();
    let draft = |name: &str| guild_core::control::ProfileDraft {
        name: name.into(),
        ..Default::default()
    };
    v.svc.set_profile(CallId(1), draft("first"), MS + 100);
    assert!(
        v.reply(CallId(1)).is_some(),
        "the first version is signed at once"
    );
    v.svc.set_profile(CallId(2), draft("second"), MS + 200);
    let ios = v.svc.take_outbox();
    assert!(
        !ios.iter()
            .any(|io| matches!(io, Io::Reply { call, .. } if *call == CallId(2))),
        "a second version within the same second waits"
    );
    let w = wakeups(&ios);
    assert_eq!(
        w.last().copied(),
        Some(LocalDuration::from_millis(800)),
        "woken at the next second: {ios:?}"
    );
    v.svc.tick(MS + 1_000);
    assert!(
        matches!(v.reply(CallId(2)), Some(Ok(_))),
        "answered at the wake-up"
    );
}

#[test]
fn a_delivery_retry_is_a_deadline_the_service_asks_to_be_woken_for() {
    let mut v = harness(2);
    let b = identity(3);
    let n = a_need(&b, T0);
    v.gossip(&b, AnyRecord::Need(n.clone()), MS).unwrap();
    v.svc.tick(MS);
    let _ = v.svc.take_outbox();
    v.svc.call(
        CallId(7),
        ServiceCall::Offer(OfferParams {
            need: n.id(),
            text: "I can".into(),
            role: None,
        }),
        MS,
    );
    let (id, _, _) = v.requests().pop().expect("the first attempt");
    v.svc.received_response(
        id,
        Err(RequestFailure::Unreachable("offline".into())),
        MS + 10,
    );
    let ios = v.svc.take_outbox();
    let w = *wakeups(&ios).last().expect("a wake-up");
    assert!(
        w <= LocalDuration::from_millis(FIRST_RETRY_DELAY_MS),
        "woken for the retry at the latest: {w}"
    );
    // Ticking at each requested wake-up reaches the retry.
    let mut now = LocalTime::from(MS + 10);
    let mut now_d = w;
    for _ in 0..10 {
        now += now_d;
        v.svc.tick(now);
        if !v.requests().is_empty() {
            return;
        }
        now_d = *wakeups(&v.svc.take_outbox()).last().expect("a wake-up");
    }
    panic!("the retry never went out");
}
