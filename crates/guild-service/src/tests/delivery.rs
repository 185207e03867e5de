//! Collaboration posts and entries, direct deliveries and their retries, fetch and sync between two services.

use super::*;

#[test]
fn posts_get_consecutive_sequence_numbers_and_reach_every_member() {
    let mut a = harness(2);
    let b = identity(3);
    let n = a_need(&a.me, T0);
    let o = sign(fixtures::offer(&b, &n, T0), &b);
    let c = sign(fixtures::collaboration(&a.me, n, vec![o], T0), &a.me);
    a.svc
        .store_record(&AnyRecord::Collaboration(c.clone()), T0)
        .unwrap();
    let post = |text: &str| {
        ServiceCall::CollabPost(CollabPostParams {
            collab: c.id(),
            text: text.into(),
        })
    };
    let e1: EntryView = TryFrom::try_from(a.call(post("one"), MS).unwrap()).unwrap();
    let e2: EntryView = TryFrom::try_from(a.call(post("two"), MS).unwrap()).unwrap();
    assert_eq!((e1.seq, e2.seq), (1, 2));
    let sent: Vec<_> = a.requests();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|(_, to, _)| *to == b.public()));
}

#[test]
fn entries_by_non_members_and_replays_are_refused() {
    let mut b = harness(3);
    let a = identity(2);
    let outsider = identity(5);
    let n = a_need(&a, T0);
    let o = sign(fixtures::offer(&b.me, &n, T0), &b.me);
    b.svc
        .store_record(&AnyRecord::Offer(o.clone()), T0)
        .unwrap();
    let c = sign(fixtures::collaboration(&a, n, vec![o], T0), &a);
    assert_eq!(
        b.deliver(&a, AnyRecord::Collaboration(c.clone()), MS),
        DirectResponse::Ack
    );
    let post = entry(&a, c.id(), 1, 1, EntryKind::Post { text: "hi".into() }, T0);
    assert_eq!(
        b.deliver(&a, AnyRecord::CollabEntry(post.clone()), MS),
        DirectResponse::Ack
    );
    assert_eq!(
        refusal(b.deliver(&a, AnyRecord::CollabEntry(post), MS)),
        RefusalReason::Duplicate
    );
    let intrusion = entry(
        &outsider,
        c.id(),
        1,
        2,
        EntryKind::Post {
            text: "me too".into(),
        },
        T0,
    );
    assert_eq!(
        refusal(b.deliver(&outsider, AnyRecord::CollabEntry(intrusion), MS)),
        RefusalReason::Unauthorised
    );
}

#[test]
fn an_unreachable_offer_is_retried_and_its_outcome_reported() {
    let mut b = harness(3);
    let a = identity(2);
    let n = a_need(&a, T0);
    b.gossip(&a, AnyRecord::Need(n.clone()), MS).unwrap();
    b.svc.call(
        CallId(7),
        ServiceCall::Offer(OfferParams {
            need: n.id(),
            text: "I can".into(),
            role: None,
        }),
        MS,
    );
    let (id, to, _) = b.requests().pop().unwrap();
    assert_eq!(to, a.public());
    b.svc
        .received_response(id, Err(RequestFailure::Unreachable("down".into())), MS + 10);
    let d: Delivery = TryFrom::try_from(b.reply(CallId(7)).unwrap().unwrap()).unwrap();
    assert!(!d.delivered && d.retrying);
    b.svc.tick(MS + 1_000);
    assert!(b.requests().is_empty(), "not before the backoff");
    b.svc.tick(MS + 2_100);
    let (id, _, _) = b.requests().pop().expect("retried");
    b.svc
        .received_response(id, Ok(DirectResponse::Ack), MS + 2_200);
    assert!(b.events().iter().any(|e| matches!(
        e,
        Event::DeliveryOutcome {
            delivered: true,
            attempts: 2,
            ..
        }
    )));
}

#[test]
fn a_duplicate_delivery_counts_as_delivered() {
    let mut b = harness(3);
    let a = identity(2);
    b.svc.call(
        CallId(1),
        ServiceCall::Msg(MsgParams {
            peer: a.public(),
            text: "hello".into(),
        }),
        MS,
    );
    let (id, _, _) = b.requests().pop().unwrap();
    b.svc.received_response(
        id,
        Ok(DirectResponse::Error {
            reason: RefusalReason::Duplicate,
            message: "already".into(),
        }),
        MS,
    );
    let d: Delivery = TryFrom::try_from(b.reply(CallId(1)).unwrap().unwrap()).unwrap();
    assert!(d.delivered);
}

#[test]
fn fetch_answers_each_id_once() {
    let mut v = harness(1);
    let asker = identity(2);
    let n = a_need(&asker, T0);
    v.gossip(&asker, AnyRecord::Need(n.clone()), MS).unwrap();
    let req = DirectRequest::Fetch {
        ids: vec![n.id(); 200],
    };
    let bytes = guild_core::codec::encode(&req).unwrap();
    match v.svc.received_request(identity(7).public(), &bytes, MS) {
        DirectResponse::Records(r) => assert_eq!(r.len(), 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn two_services_sync_what_they_lack() {
    let mut a = harness(1);
    let mut b = harness(2);
    let mut want = vec![];
    for i in 0..50u64 {
        // 25 askers with two needs each: within a stranger's daily need budget.
        let asker = identity(10 + (i % 25) as u8);
        let n = sign(
            Need {
                nonce: i,
                project: None,
                ..fixtures::need(&asker, "n", &["rust"], T0)
            },
            &asker,
        );
        if i % 2 == 0 {
            a.gossip(&asker, AnyRecord::Need(n.clone()), MS).unwrap();
        }
        b.gossip(&asker, AnyRecord::Need(n.clone()), MS).unwrap();
        want.push(n.id());
    }
    a.svc.start_sync(b.me.public(), MS);
    // Pump requests from a to b until the session ends.
    for _ in 0..100 {
        let reqs = a.requests();
        if reqs.is_empty() {
            break;
        }
        for (id, to, req) in reqs {
            assert_eq!(to, b.me.public());
            let bytes = guild_core::codec::encode(&req).unwrap();
            let resp = b.svc.received_request(a.me.public(), &bytes, MS);
            a.svc.received_response(id, Ok(resp), MS);
        }
    }
    for id in want {
        assert!(a.svc.state.pull.need(&id).is_some());
    }
}
