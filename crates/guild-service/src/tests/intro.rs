//! Warm introductions between three services wired by a test pump: the happy path, declines
//! that leave nothing behind, budgets, expiry, bad signatures, someone else's introduction and
//! unknown ids.

use super::*;
use crate::admission::Tier;
use crate::intro::{INTRODUCED_KEY, INTRO_REQUESTS_PER_DAY, PENDING_INTROS_PER_SIGNER};
use guild_core::control::intro::*;
use guild_core::record::{IntroAnswer, IntroMessage, IntroRelay, IntroRequest, IntroRole};

/// Delivers every request in the outboxes to its recipient and the answers back, until quiet.
/// Requests to a member outside `hs` fail as unreachable.
fn pump(hs: &mut [&mut Harness], now: Millis) {
    for _ in 0..32 {
        let mut moved = false;
        for i in 0..hs.len() {
            let reqs = hs[i].requests();
            for (id, to, req) in reqs {
                moved = true;
                let bytes = guild_core::codec::encode(&req).unwrap();
                let from = hs[i].me.public();
                let answer = match hs.iter_mut().position(|h| h.me.public() == to) {
                    Some(j) => Ok(hs[j].svc.received_request(from, &bytes, now)),
                    None => Err(RequestFailure::Unreachable("not in the test".into())),
                };
                hs[i].svc.received_response(id, answer, now);
            }
        }
        if !moved {
            return;
        }
    }
    panic!("the pump did not settle");
}

fn ask(a: &mut Harness, c: &Identity, via: &Identity, now: Millis) -> CallId {
    a.next_call += 1;
    let id = CallId(a.next_call);
    a.svc.call(
        id,
        ServiceCall::IntroRequest(IntroRequestParams {
            peer: c.public(),
            via: via.public(),
            note: "I need a hand with sled".into(),
            need: None,
            expires_in: None,
        }),
        now,
    );
    id
}

fn answer(h: &mut Harness, id: RecordId, accept: bool, now: Millis) -> CallId {
    h.next_call += 1;
    let call = CallId(h.next_call);
    h.svc.call(
        call,
        ServiceCall::IntroAnswer(IntroAnswerParams {
            id,
            accept,
            note: "good person".into(),
        }),
        now,
    );
    call
}

fn list(h: &mut Harness, now: Millis) -> Introductions {
    match h.call(ServiceCall::IntroList, now).unwrap() {
        Reply::Introductions(l) => l,
        other => panic!("{other:?}"),
    }
}

fn three() -> (Harness, Harness, Harness) {
    let mut a = harness(61);
    let b = harness(62);
    let c = harness(63);
    a.svc.listening("/ip4/127.0.0.1/tcp/4001".into());
    (a, b, c)
}

#[test]
fn an_accepted_introduction_gives_both_the_member_tier_and_no_trust() {
    let (mut a, mut b, mut c) = three();
    let (ai, ci) = (a.me.public(), c.me.public());
    c.svc.listening("/ip4/127.0.0.1/tcp/4003".into());
    assert_eq!(a.svc.tier_of(&ci), Tier::Stranger);
    assert_eq!(c.svc.tier_of(&ai), Tier::Stranger);
    let trust_before = (a.svc.trust_epoch, c.svc.trust_epoch);
    let scores_before = a.svc.trust.scores(ai, None, T0);

    let call = ask(&mut a, &c.me, &b.me, MS);
    pump(&mut [&mut a, &mut b, &mut c], MS);
    let v: IntroView = a.reply(call).unwrap().unwrap().try_into().unwrap();
    assert_eq!(v.state, IntroState::AwaitingIntroducer);
    let id = v.id;
    // B sees it (event and list); C knows nothing yet.
    assert!(b.events().iter().any(
        |e| matches!(e, Event::IntroRequested { id: x, from, .. } if *x == id && *from == ai)
    ));
    assert_eq!(list(&mut b, MS).to_relay.len(), 1);
    assert!(list(&mut c, MS).to_me.is_empty());

    let call = answer(&mut b, id, true, MS);
    pump(&mut [&mut a, &mut b, &mut c], MS);
    let v: IntroView = b.reply(call).unwrap().unwrap().try_into().unwrap();
    assert_eq!(v.state, IntroState::Forwarded);
    assert_eq!(list(&mut a, MS).mine[0].state, IntroState::Forwarded);
    let to_me = list(&mut c, MS).to_me;
    assert_eq!(to_me.len(), 1);
    assert_eq!(to_me[0].introducer_note.as_deref(), Some("good person"));
    assert!(c.events().iter().any(
        |e| matches!(e, Event::IntroReceived { from, by, .. } if *from == ai && *by == b.me.public())
    ));

    let call = answer(&mut c, id, true, MS);
    pump(&mut [&mut a, &mut b, &mut c], MS);
    let v: IntroView = c.reply(call).unwrap().unwrap().try_into().unwrap();
    assert_eq!(v.state, IntroState::Accepted);
    // Both recorded "introduced by B"; nothing is pending anywhere.
    for (h, other) in [(&mut a, ci), (&mut c, ai)] {
        let l = list(h, MS);
        assert_eq!(l.introduced.len(), 1);
        assert_eq!(l.introduced[0].peer, other);
        assert_eq!(l.introduced[0].by, b.me.public());
        assert_eq!(h.svc.pending_intros(), (0, 0, 0, 0));
        assert_eq!(h.svc.introduced_by(&other), Some(b.me.public()));
    }
    assert_eq!(b.svc.pending_intros(), (0, 0, 0, 0));
    // Member budgets, never trust.
    assert_eq!(a.svc.tier_of(&ci), Tier::Member);
    assert_eq!(c.svc.tier_of(&ai), Tier::Member);
    assert_eq!((a.svc.trust_epoch, c.svc.trust_epoch), trust_before);
    assert_eq!(a.svc.trust.scores(ai, None, T0), scores_before);
    assert_eq!(a.svc.standing().trust(&ci), 0.0);
    // C dialled A where A said it listens.
    let dials: Vec<Io> = c
        .svc
        .take_outbox()
        .into_iter()
        .filter(|io| matches!(io, Io::Dial { .. }))
        .collect();
    assert!(dials.iter().any(
        |io| matches!(io, Io::Dial { peer, addrs } if *peer == ai && addrs[0].ends_with("4001"))
    ));
    // A's messages to C pass with the member budget: more than a stranger's quota.
    for i in 0..30 {
        let m = sign(
            Message {
                version: 1,
                issuer: ai,
                to: ci,
                issued_at: T0,
                expires_at: T0 + 86_400,
                nonce: i,
                text: format!("hello {i}"),
            },
            &a.me,
        );
        assert_eq!(
            c.deliver(&a.me, AnyRecord::Message(m), MS),
            DirectResponse::Ack,
            "message {i}"
        );
    }
    // The introduction survives a restart (kept in the store's meta).
    let reopened = Service::new(
        Identity::from_secret(c.me.secret_bytes()),
        c.svc.store().clone(),
        ServiceConfig::default(),
        1,
        MS,
    )
    .unwrap();
    assert_eq!(reopened.introduced_by(&ai), Some(b.me.public()));
}

#[test]
fn a_declined_introduction_leaves_nothing_and_cannot_be_repeated_at_once() {
    for decliner in ["introducer", "target"] {
        let (mut a, mut b, mut c) = three();
        let call = ask(&mut a, &c.me, &b.me, MS);
        pump(&mut [&mut a, &mut b, &mut c], MS);
        let v: IntroView = a.reply(call).unwrap().unwrap().try_into().unwrap();
        if decliner == "introducer" {
            answer(&mut b, v.id, false, MS);
        } else {
            answer(&mut b, v.id, true, MS);
            pump(&mut [&mut a, &mut b, &mut c], MS);
            answer(&mut c, v.id, false, MS);
        }
        pump(&mut [&mut a, &mut b, &mut c], MS);
        assert!(a
            .events()
            .iter()
            .any(|e| matches!(e, Event::IntroAnswered { accepted: false, id, .. } if *id == v.id)));
        for h in [&mut a, &mut b, &mut c] {
            assert_eq!(list(h, MS), Introductions::default(), "{decliner}");
            assert_eq!(h.svc.pending_intros(), (0, 0, 0, 0));
            assert!(h
                .svc
                .store()
                .get_meta_bytes(INTRODUCED_KEY)
                .unwrap()
                .is_none());
            assert_eq!(h.svc.store().record_count(), 0);
        }
        // Asking again at once is refused, here and (for a forged retry) at B.
        a.next_call += 1;
        let again = a.call(
            ServiceCall::IntroRequest(IntroRequestParams {
                peer: c.me.public(),
                via: b.me.public(),
                note: "please".into(),
                need: None,
                expires_in: None,
            }),
            MS + 1000,
        );
        assert_eq!(
            again.unwrap_err().code,
            guild_core::control::ErrorCode::Unavailable
        );
        let retry = request(&a.me, &identity(62), &c.me, T0 + 1, 9);
        assert_eq!(
            refusal(send(&mut b, &a.me, IntroMessage::Request(retry), MS + 1000)),
            RefusalReason::RateLimited
        );
    }
}

fn request(
    a: &Identity,
    b: &Identity,
    c: &Identity,
    at: UnixTime,
    nonce: u64,
) -> Signed<IntroRequest> {
    sign(
        IntroRequest {
            version: 1,
            issuer: a.public(),
            introducer: b.public(),
            target: c.public(),
            issued_at: at,
            expires_at: at + 86_400,
            nonce,
            note: "hi".into(),
            need: None,
            addrs: vec![],
        },
        a,
    )
}

fn send(to: &mut Harness, from: &Identity, msg: IntroMessage, now: Millis) -> DirectResponse {
    let bytes = guild_core::codec::encode(&DirectRequest::Intro(Box::new(msg))).unwrap();
    to.svc.received_request(from.public(), &bytes, now)
}

#[test]
fn requests_are_budgeted_per_requester_and_for_strangers_together() {
    let mut b = harness(62);
    let c = identity(63);
    // A stranger may have one request waiting.
    let a = identity(61);
    assert_eq!(
        send(
            &mut b,
            &a,
            IntroMessage::Request(request(&a, &identity(62), &c, T0, 1)),
            MS
        ),
        DirectResponse::Ack
    );
    assert_eq!(
        refusal(send(
            &mut b,
            &a,
            IntroMessage::Request(request(&a, &identity(62), &identity(64), T0, 2)),
            MS
        )),
        RefusalReason::RateLimited
    );
    assert_eq!(PENDING_INTROS_PER_SIGNER.stranger, 1);
    // Strangers together: at most eight wait.
    let mut refused = 0;
    for i in 0..20u32 {
        let s = fresh(1000 + i);
        let r = send(
            &mut b,
            &s,
            IntroMessage::Request(request(&s, &identity(62), &c, T0, 3)),
            MS,
        );
        if r != DirectResponse::Ack {
            assert_eq!(refusal(r), RefusalReason::Busy);
            refused += 1;
        }
    }
    assert_eq!(refused, 20 - 7);
    assert_eq!(list(&mut b, MS).to_relay.len(), 8);
    // A member (one of B's trust roots) gets more room, and a daily rate.
    let mut b2 = harness(62);
    let m = identity(70);
    trust_root(&mut b2, &m);
    let mut acks = 0;
    for i in 0..50u64 {
        let target = identity(100 + i as u8);
        let r = send(
            &mut b2,
            &m,
            IntroMessage::Request(request(&m, &identity(62), &target, T0, i)),
            MS,
        );
        if r == DirectResponse::Ack {
            acks += 1;
            // Answer at once so the pending cap does not bind: the rate does.
            let id = request(&m, &identity(62), &target, T0, i).id();
            answer(&mut b2, id, false, MS);
            b2.svc.take_outbox();
        } else {
            assert_eq!(refusal(r), RefusalReason::RateLimited);
        }
    }
    assert_eq!(acks, INTRO_REQUESTS_PER_DAY.circle as usize);
}

#[test]
fn expired_forged_misaddressed_and_unknown_steps_are_refused() {
    let mut b = harness(62);
    let (a, c, x) = (identity(61), identity(63), identity(65));
    // Expired.
    let old = request(&a, &identity(62), &c, T0 - 2 * 86_400, 1);
    assert_eq!(
        refusal(send(&mut b, &a, IntroMessage::Request(old), MS)),
        RefusalReason::Expired
    );
    // A bad signature.
    let mut forged = request(&a, &identity(62), &c, T0, 2);
    forged.body.note = "changed after signing".into();
    assert_eq!(
        refusal(send(&mut b, &a, IntroMessage::Request(forged), MS)),
        RefusalReason::BadSignature
    );
    // Someone else's request, sent by a third party.
    let theirs = request(&a, &identity(62), &c, T0, 3);
    assert_eq!(
        refusal(send(&mut b, &x, IntroMessage::Request(theirs), MS)),
        RefusalReason::Unauthorised
    );
    // A request asking someone else to introduce.
    let elsewhere = request(&a, &x, &c, T0, 4);
    assert_eq!(
        refusal(send(&mut b, &a, IntroMessage::Request(elsewhere), MS)),
        RefusalReason::NotAddressedHere
    );
    // A relay of an introduction meant for someone else, and one relayed by a non-introducer.
    let r = request(&a, &x, &c, T0, 5);
    let relay = |by: &Identity, r: Signed<IntroRequest>| {
        sign(
            IntroRelay {
                version: 1,
                issuer: by.public(),
                issued_at: T0,
                expires_at: r.body.expires_at,
                request: r,
                note: String::new(),
            },
            by,
        )
    };
    assert_eq!(
        refusal(send(&mut b, &x, IntroMessage::Relay(relay(&x, r)), MS)),
        RefusalReason::NotAddressedHere
    );
    let for_b = request(&a, &x, &b.me, T0, 6);
    assert_eq!(
        refusal(send(
            &mut b,
            &c,
            IntroMessage::Relay(relay(&c, for_b.clone())),
            MS
        )),
        RefusalReason::Unauthorised
    );
    // An answer to an unknown request.
    let unknown = sign(
        IntroAnswer {
            version: 1,
            issuer: x.public(),
            issued_at: T0,
            expires_at: T0 + 60,
            request: RecordId([7; 32]),
            requester: b.me.public(),
            introducer: x.public(),
            target: c.public(),
            role: IntroRole::Introducer,
            accept: true,
            note: String::new(),
            addrs: vec![],
        },
        &x,
    );
    assert_eq!(
        refusal(send(&mut b, &x, IntroMessage::Answer(unknown), MS)),
        RefusalReason::Unknown
    );
    // Answering an unknown id locally.
    let call = answer(&mut b, RecordId([9; 32]), true, MS);
    let err = b.reply(call).unwrap().unwrap_err();
    assert_eq!(err.code, guild_core::control::ErrorCode::NotFound);
    assert_eq!(b.svc.pending_intros(), (0, 0, 0, 0));
}

#[test]
fn a_pending_request_lapses_at_its_expiry() {
    let (mut a, mut b, mut c) = three();
    a.next_call += 1;
    let call = CallId(a.next_call);
    a.svc.call(
        call,
        ServiceCall::IntroRequest(IntroRequestParams {
            peer: c.me.public(),
            via: b.me.public(),
            note: "soon".into(),
            need: None,
            expires_in: Some(60),
        }),
        MS,
    );
    pump(&mut [&mut a, &mut b, &mut c], MS);
    assert_eq!(list(&mut b, MS).to_relay.len(), 1);
    let later = MS + 61_000;
    assert!(list(&mut a, later).mine.is_empty());
    assert!(list(&mut b, later).to_relay.is_empty());
    let id = a
        .reply(call)
        .unwrap()
        .map(|r| IntroView::try_from(r).unwrap().id)
        .unwrap();
    let call = answer(&mut b, id, true, later);
    assert_eq!(
        b.reply(call).unwrap().unwrap_err().code,
        guild_core::control::ErrorCode::NotFound
    );
}

#[test]
fn introducers_are_trusted_members_who_vouched_for_the_target_or_were_vouched_for() {
    let mut a = harness(61);
    let (b, c, d, e) = (identity(62), identity(63), identity(64), identity(66));
    trust_root(&mut a, &b);
    trust_root(&mut a, &d);
    // b vouched for c; c vouched for d; e (not trusted) vouched for c.
    counted_attestation(&mut a, &b, &c, MS);
    counted_attestation(&mut a, &c, &d, MS);
    counted_attestation(&mut a, &e, &c, MS);
    let got = match a
        .call(
            ServiceCall::IntroIntroducers(IntroducersParams { peer: c.public() }),
            MS,
        )
        .unwrap()
    {
        Reply::Introducers(i) => i,
        other => panic!("{other:?}"),
    };
    let peers: Vec<PublicKey> = got.introducers.iter().map(|i| i.peer).collect();
    assert!(peers.contains(&b.public()) && peers.contains(&d.public()));
    assert!(!peers.contains(&e.public()), "not trusted: not proposed");
    let for_b = got
        .introducers
        .iter()
        .find(|i| i.peer == b.public())
        .unwrap();
    assert_eq!(for_b.reasons[0], "one of your trust roots");
    assert!(for_b.reasons[1].starts_with("vouched for them"));
    let for_d = got
        .introducers
        .iter()
        .find(|i| i.peer == d.public())
        .unwrap();
    assert!(for_d.reasons[1].starts_with("they vouched for them"));
}

#[test]
fn a_relay_that_cannot_reach_the_target_aborts_cleanly_on_both_sides() {
    let (mut a, mut b, c) = three();
    let call = ask(&mut a, &c.me, &b.me, MS);
    pump(&mut [&mut a, &mut b], MS);
    let id = IntroView::try_from(a.reply(call).unwrap().unwrap())
        .unwrap()
        .id;
    answer(&mut b, id, true, MS);
    pump(&mut [&mut a, &mut b], MS);
    // Not acknowledged by the target: the requester is not told "forwarded" yet.
    assert_eq!(
        list(&mut a, MS).mine[0].state,
        IntroState::AwaitingIntroducer
    );
    assert_eq!(list(&mut b, MS).relayed.len(), 1);
    // The relay's retries run out (2 + 4 + 8 + 16 s).
    let mut now = MS;
    for _ in 0..crate::DELIVERY_ATTEMPTS {
        now += 20_000;
        b.svc.tick(now);
        pump(&mut [&mut a, &mut b], now);
    }
    assert!(a.events().iter().any(|e| matches!(
        e,
        Event::IntroAnswered { id: x, accepted: false, role: IntroRole::Introducer, .. } if *x == id
    )));
    assert_eq!(list(&mut a, now), Introductions::default());
    assert_eq!(list(&mut b, now), Introductions::default());
}

/// The same node started again over its store (clones of a memory store share its contents).
fn restarted(h: &Harness, now: Millis) -> Harness {
    Harness {
        svc: Service::new(
            Identity::from_secret(h.me.secret_bytes()),
            h.svc.store().clone(),
            ServiceConfig::default(),
            7,
            now,
        )
        .unwrap(),
        me: Identity::from_secret(h.me.secret_bytes()),
        next_call: 0,
    }
}

/// Pending steps listed in the store.
fn kept_steps(h: &Harness) -> usize {
    h.svc
        .store()
        .get_meta::<Vec<(crate::intro::Slot, RecordId)>>(crate::intro::PENDING_INDEX_KEY)
        .unwrap()
        .map_or(0, |v| v.len())
}

#[test]
fn pending_introductions_survive_a_restart_of_each_party() {
    let (mut a, mut b, mut c) = three();
    let (ai, bi, ci) = (a.me.public(), b.me.public(), c.me.public());
    let call = ask(&mut a, &c.me, &b.me, MS);
    pump(&mut [&mut a, &mut b, &mut c], MS);
    let id = IntroView::try_from(a.reply(call).unwrap().unwrap())
        .unwrap()
        .id;
    assert_eq!((kept_steps(&a), kept_steps(&b)), (1, 1));

    // The introducer restarts with the request waiting: it is still there, and accepting it
    // relays it to the target.
    let mut b = restarted(&b, MS);
    assert_eq!(b.svc.pending_intros(), (0, 1, 0, 0));
    assert_eq!(list(&mut b, MS).to_relay[0].id, id);
    answer(&mut b, id, true, MS);
    pump(&mut [&mut a, &mut b, &mut c], MS);
    assert_eq!(list(&mut c, MS).to_me.len(), 1);

    // The requester and the target restart: the request is still forwarded at A, and the
    // relay still waits for C's answer.
    let mut a = restarted(&a, MS + 1000);
    let mut c = restarted(&c, MS + 1000);
    assert_eq!(list(&mut a, MS + 1000).mine[0].state, IntroState::Forwarded);
    let to_me = list(&mut c, MS + 1000).to_me;
    assert_eq!(to_me.len(), 1);
    assert_eq!(to_me[0].introducer_note.as_deref(), Some("good person"));
    answer(&mut c, id, true, MS + 1000);
    pump(&mut [&mut a, &mut b, &mut c], MS + 1000);
    assert_eq!(a.svc.introduced_by(&ci), Some(bi));
    assert_eq!(c.svc.introduced_by(&ai), Some(bi));
    // Settled everywhere, and nothing pending is left in any store.
    for h in [&mut a, &mut b, &mut c] {
        assert_eq!(list(h, MS + 1000).mine.len(), 0);
        assert_eq!(h.svc.pending_intros(), (0, 0, 0, 0));
        assert_eq!(kept_steps(h), 0);
        let again = restarted(h, MS + 2000);
        assert_eq!(again.svc.pending_intros(), (0, 0, 0, 0));
    }
}

#[test]
fn a_decline_still_cools_the_pair_after_a_restart() {
    let (mut a, mut b, mut c) = three();
    let call = ask(&mut a, &c.me, &b.me, MS);
    pump(&mut [&mut a, &mut b, &mut c], MS);
    let id = IntroView::try_from(a.reply(call).unwrap().unwrap())
        .unwrap()
        .id;
    answer(&mut b, id, false, MS);
    pump(&mut [&mut a, &mut b, &mut c], MS);
    let mut a = restarted(&a, MS + 1000);
    let mut b = restarted(&b, MS + 1000);
    let again = a.call(
        ServiceCall::IntroRequest(IntroRequestParams {
            peer: c.me.public(),
            via: b.me.public(),
            note: "please".into(),
            need: None,
            expires_in: None,
        }),
        MS + 1000,
    );
    assert_eq!(
        again.unwrap_err().code,
        guild_core::control::ErrorCode::Unavailable
    );
    let retry = request(&a.me, &b.me, &c.me, T0 + 1, 9);
    assert_eq!(
        refusal(send(&mut b, &a.me, IntroMessage::Request(retry), MS + 1000)),
        RefusalReason::RateLimited
    );
    // The cooldown ends on time after a restart as well.
    let day = MS + (crate::intro::INTRO_COOLDOWN_SECS + 2) * 1000;
    let mut b = restarted(&b, day);
    let retry = request(&a.me, &b.me, &c.me, day / 1000, 10);
    assert_eq!(
        send(&mut b, &a.me, IntroMessage::Request(retry), day),
        DirectResponse::Ack
    );
}

#[test]
fn a_request_the_store_cannot_keep_is_refused_and_leaves_nothing() {
    let (a, mut b, c) = three();
    b.svc.store().fail_writes(true);
    let r = request(&a.me, &b.me, &c.me, T0, 1);
    assert_eq!(
        refusal(send(&mut b, &a.me, IntroMessage::Request(r.clone()), MS)),
        RefusalReason::StoreFailure
    );
    assert_eq!(b.svc.pending_intros(), (0, 0, 0, 0));
    assert!(list(&mut b, MS).to_relay.is_empty());
    assert!(!b
        .events()
        .iter()
        .any(|e| matches!(e, Event::IntroRequested { .. })));
    // Once the store writes again, the same request is taken and kept (the refused attempt
    // spent one of the requester's two a day, as any refused request does).
    b.svc.store().fail_writes(false);
    assert_eq!(
        send(&mut b, &a.me, IntroMessage::Request(r), MS + 1000),
        DirectResponse::Ack
    );
    assert_eq!(kept_steps(&b), 1);
    assert_eq!(restarted(&b, MS + 2000).svc.pending_intros(), (0, 1, 0, 0));
}

#[test]
fn a_relay_not_yet_acknowledged_is_delivered_again_after_the_introducer_restarts() {
    let (mut a, mut b, mut c) = three();
    let call = ask(&mut a, &c.me, &b.me, MS);
    pump(&mut [&mut a, &mut b], MS);
    let id = IntroView::try_from(a.reply(call).unwrap().unwrap())
        .unwrap()
        .id;
    // B accepts while C is out of reach, and stops before the relay's retries run out.
    answer(&mut b, id, true, MS);
    pump(&mut [&mut a, &mut b], MS);
    assert_eq!(list(&mut b, MS).relayed.len(), 1);
    let mut b = restarted(&b, MS + 1000);
    pump(&mut [&mut a, &mut b, &mut c], MS + 1000);
    assert_eq!(list(&mut c, MS + 1000).to_me.len(), 1);
    assert_eq!(list(&mut a, MS + 1000).mine[0].state, IntroState::Forwarded);
    // Delivered twice (C held it already) changes nothing.
    let mut b = restarted(&b, MS + 2000);
    pump(&mut [&mut a, &mut b, &mut c], MS + 2000);
    assert_eq!(list(&mut c, MS + 2000).to_me.len(), 1);
    answer(&mut c, id, true, MS + 2000);
    pump(&mut [&mut a, &mut b, &mut c], MS + 2000);
    assert_eq!(a.svc.introduced_by(&c.me.public()), Some(b.me.public()));
    assert_eq!(b.svc.pending_intros(), (0, 0, 0, 0));
}
