//! Strangers' needs pooled, sync work budgeted, hostile peers penalised, trust reaching gossip scores.

use super::*;

#[test]
fn strangers_needs_are_budgeted_per_signer_and_pooled_and_never_push_out_a_members() {
    let mut v = harness(1);
    let friend = identity(2);
    trust_root(&mut v, &friend);
    let friends: Vec<Signed<Need>> = (0..3u64)
        .map(|i| {
            sign(
                Need {
                    nonce: i,
                    project: None,
                    ..fixtures::need(&friend, "friend", &["kicad"], T0 - 600)
                },
                &friend,
            )
        })
        .collect();
    for n in &friends {
        v.gossip(&friend, AnyRecord::Need(n.clone()), MS).unwrap();
    }
    // One stranger: a few needs a day.
    let s = fresh(0);
    let mut ok = 0;
    for i in 0..10u64 {
        let n = sign(
            Need {
                nonce: i,
                project: None,
                ..fixtures::need(&s, "spam", &["kicad"], T0)
            },
            &s,
        );
        match v.gossip(&s, AnyRecord::Need(n), MS) {
            Ok(_) => ok += 1,
            Err(r) => assert_eq!(r.reason, RefusalReason::RateLimited),
        }
    }
    assert_eq!(ok, admission::NEEDS_PER_DAY.stranger);
    // Many strangers: their pool holds at most its cap; the oldest go first, a member's never.
    let cap = admission::stranger_pool(RecordKind::Need).unwrap();
    let total = cap.count + 100;
    for i in 1..=total {
        let s = fresh(i);
        let n = sign(
            fixtures::need(&s, "spam", &["kicad"], T0 - 3_600 + u64::from(i)),
            &s,
        );
        v.gossip(&s, AnyRecord::Need(n), MS).unwrap();
    }
    let pool = v.svc.admission.pool_usage(RecordKind::Need);
    assert!(
        pool.count <= cap.count && pool.bytes <= cap.bytes,
        "{pool:?}"
    );
    for n in &friends {
        assert!(
            v.svc.state.pull.need(&n.id()).is_some(),
            "a member's need stays"
        );
    }
    let oldest = sign(
        fixtures::need(&fresh(1), "spam", &["kicad"], T0 - 3_599),
        &fresh(1),
    );
    assert!(
        v.svc.state.pull.need(&oldest.id()).is_none(),
        "the oldest stranger's need went first"
    );
    // need.matched is raised for strangers' needs only a few times an hour in all.
    let mine = fixtures::profile(&v.me, "me", &["kicad"], T0);
    v.svc.set_profile(
        CallId(900),
        guild_core::control::ProfileDraft::from_profile(&mine),
        MS,
    );
    let _ = v.events();
    for i in 0..20u32 {
        let s = fresh(10_000 + i);
        let n = sign(fixtures::need(&s, "please", &["kicad"], T0), &s);
        v.gossip(&s, AnyRecord::Need(n), MS).unwrap();
    }
    let alerts = v
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::NeedMatched { .. }))
        .count();
    assert!(
        alerts as u32 <= admission::STRANGER_MATCHED_PER_HOUR,
        "{alerts} alerts"
    );
    let n = sign(
        Need {
            nonce: 99,
            project: None,
            ..fixtures::need(&friend, "friend again", &["kicad"], T0)
        },
        &friend,
    );
    v.gossip(&friend, AnyRecord::Need(n), MS).unwrap();
    assert!(
        v.events()
            .iter()
            .any(|e| matches!(e, Event::NeedMatched { asker, .. } if *asker == friend.public())),
        "a member's matching need still raises its alert"
    );
}

#[test]
fn sync_requests_are_proportional_and_budgeted() {
    let mut v = harness(1);
    // 5,000 sync keys (only their envelopes matter to reconciliation).
    for i in 0..5_000u32 {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&i.to_le_bytes());
        v.svc.state.records.insert(
            RecordId(id),
            state::Meta {
                kind: RecordKind::Need,
                signer: fresh(i).public(),
                issued_at: T0 - u64::from(i),
                expires_at: T0 + 86_400,
            },
        );
    }
    let ask = |v: &mut Harness, from: &Identity, ranges: Vec<guild_core::wire::Fingerprint>| {
        let req = DirectRequest::Sync {
            kind: RecordKind::Need,
            ranges,
        };
        let bytes = guild_core::codec::encode(&req).unwrap();
        v.svc.received_request(from.public(), &bytes, MS)
    };
    let peer = identity(50);
    let whole = |count| guild_core::wire::Fingerprint {
        lo: guild_core::wire::SyncKey::MIN,
        hi: guild_core::wire::SyncKey::MAX,
        count,
        xor: [0; 32],
    };
    // 256 copies of one full-range fingerprint: refused, not answered 256 times.
    assert_eq!(
        refusal(ask(&mut v, &peer, vec![whole(1); 256])),
        RefusalReason::Malformed
    );
    // Nothing differs: the whole-range answer costs no walk.
    let ours = sync::initial(v.svc.state.records.sync_keys(RecordKind::Need));
    match ask(&mut v, &identity(51), ours) {
        DirectResponse::Sync(r) => assert_eq!(r, vec![guild_core::wire::RangeReply::Equal]),
        other => panic!("{other:?}"),
    }
    // A stranger asking for differing whole ranges again and again spends its work budget.
    let stranger = identity(52);
    let mut answered = 0u32;
    let mut refused = None;
    for _ in 0..admission::SYNC_REQUESTS_PER_MINUTE.stranger {
        match ask(&mut v, &stranger, vec![whole(1)]) {
            DirectResponse::Sync(_) => answered += 1,
            other => {
                refused = Some(refusal(other));
                break;
            }
        }
    }
    assert_eq!(refused, Some(RefusalReason::RateLimited));
    let budget = admission::SYNC_KEYS_PER_MINUTE.stranger;
    assert_eq!(
        answered,
        budget.div_ceil(5_000),
        "whole-range walks of 5,000 keys on a budget of {budget} keys a minute"
    );
}

#[test]
fn a_hostile_sync_responder_is_stopped_and_penalised() {
    let mut a = harness(1);
    let hostile = identity(9);
    // 5,000 sub-ranges for the one range asked.
    let parts: Vec<_> = (0..5_000u64)
        .map(|i| guild_core::wire::Fingerprint {
            lo: guild_core::wire::SyncKey {
                time: i,
                id: RecordId([0; 32]),
            },
            hi: guild_core::wire::SyncKey {
                time: i + 1,
                id: RecordId([0; 32]),
            },
            count: 1,
            xor: [1; 32],
        })
        .collect();
    for _ in 0..admission::MAX_STRIKES {
        a.svc.start_sync(hostile.public(), MS);
        let (id, _, req) = a.requests().pop().expect("a sync request");
        let DirectRequest::Sync { ranges, .. } = req else {
            panic!("{req:?}")
        };
        assert_eq!(ranges.len(), 1);
        a.svc.received_response(
            id,
            Ok(DirectResponse::Sync(vec![
                guild_core::wire::RangeReply::Split(parts.clone()),
            ])),
            MS,
        );
        assert!(a.requests().is_empty(), "no further round with that peer");
    }
    assert!(a.svc.admission.is_penalised(&hostile.public(), MS));
    assert!(a
        .svc
        .take_outbox()
        .iter()
        .any(|io| matches!(io, Io::Disconnect { peer, .. } if *peer == hostile.public())));
}

#[test]
fn repeated_invalid_requests_disconnect_the_peer_once() {
    let mut v = harness(1);
    let bad = identity(9);
    v.svc.connected(bad.public(), None, Link::default(), MS);
    let _ = v.svc.take_outbox();
    // Each invalid request is answered with its reason...
    for _ in 0..admission::MAX_STRIKES {
        let r = v.svc.received_request(bad.public(), b"\xff\xff\xff", MS);
        assert_eq!(refusal(r), RefusalReason::Malformed);
    }
    assert!(!v
        .svc
        .take_outbox()
        .iter()
        .any(|io| matches!(io, Io::Disconnect { .. })));
    // ...and the next request after the last strike disconnects the peer.
    let r = v.svc.received_request(bad.public(), b"\xff\xff\xff", MS);
    assert_eq!(refusal(r), RefusalReason::Busy);
    let disconnects: Vec<Io> = v
        .svc
        .take_outbox()
        .into_iter()
        .filter(|io| matches!(io, Io::Disconnect { peer, .. } if *peer == bad.public()))
        .collect();
    assert_eq!(disconnects.len(), 1, "told to disconnect once");
    assert!(v.svc.admission.is_penalised(&bad.public(), MS));
    // Coming back within the window: sent away again.
    v.svc.disconnected(bad.public(), MS);
    v.svc
        .connected(bad.public(), None, Link::default(), MS + 1_000);
    assert!(v
        .svc
        .take_outbox()
        .iter()
        .any(|io| matches!(io, Io::Disconnect { peer, .. } if *peer == bad.public())));
    // Another peer is unaffected.
    let good = identity(10);
    let req = guild_core::codec::encode(&DirectRequest::GetProfile).unwrap();
    assert!(matches!(
        v.svc.received_request(good.public(), &req, MS),
        DirectResponse::Profile(_)
    ));
}

#[test]
fn trust_reaches_the_gossip_score_of_connected_peers() {
    let mut v = harness(1);
    let friend = identity(2);
    let stranger = identity(3);
    v.svc
        .connected(stranger.public(), None, Link::default(), MS);
    v.svc.connected(friend.public(), None, Link::default(), MS);
    trust_root(&mut v, &friend);
    v.svc.tick(MS + 1_000);
    let told: Vec<(PublicKey, f64)> = v
        .svc
        .take_outbox()
        .into_iter()
        .filter_map(|io| match io {
            Io::Standing { peer, trust } => Some((peer, trust)),
            _ => None,
        })
        .collect();
    assert!(
        told.iter().any(|(p, t)| *p == friend.public() && *t > 0.0),
        "{told:?}"
    );
    assert!(
        !told.iter().any(|(p, _)| *p == stranger.public()),
        "{told:?}"
    );
}

/// Gossips one matching need signed by `signer` and forwarded by `via`; the alerts it raised.
fn matching_need(
    v: &mut Harness,
    signer: &Identity,
    via: &Identity,
    nonce: u64,
    now: Millis,
) -> Vec<PublicKey> {
    let n = sign(
        Need {
            nonce,
            project: None,
            ..fixtures::need(signer, "please help", &["kicad"], T0)
        },
        signer,
    );
    v.gossip(via, AnyRecord::Need(n), now).unwrap();
    need_alerts(v)
}

fn need_alerts(v: &mut Harness) -> Vec<PublicKey> {
    v.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::NeedMatched { asker, .. } => Some(asker),
            _ => None,
        })
        .collect()
}

#[test]
fn minted_signers_cannot_use_up_the_alerts_a_newcomer_needs() {
    let mut v = harness(1);
    let mine = fixtures::profile(&v.me, "me", &["kicad"], T0);
    v.svc.set_profile(
        CallId(900),
        guild_core::control::ProfileDraft::from_profile(&mine),
        MS,
    );
    let _ = v.events();
    // 300 minted signers, three matching needs each, all through one flooding peer (spread
    // over three minutes so that the per-peer record budget lets them in).
    let flooder = identity(60);
    let mut now = MS;
    let mut alerts = Vec::new();
    for k in 0..300u32 {
        let s = fresh(20_000 + k);
        for i in 0..3u64 {
            now += 200;
            alerts.extend(matching_need(&mut v, &s, &flooder, i, now));
        }
    }
    assert_eq!(
        alerts.len(),
        alerts::SOURCE_ALERTS_PER_HOUR as usize,
        "the flood's source takes its share of the alerts, no more"
    );
    assert!(v.svc.admission.stranger_alerts.waiting() <= alerts::WAITING_PER_SOURCE);
    // A newcomer whose need comes through another peer is alerted at once.
    let newcomer = identity(61);
    let friend = identity(62);
    let got = matching_need(&mut v, &newcomer, &friend, 0, now);
    assert_eq!(
        got,
        vec![newcomer.public()],
        "the newcomer's need is alerted"
    );
    // A second newcomer whose need comes through the flooder itself waits for that source's
    // next token, and is served before the flood's older needs.
    let second = identity(63);
    now += 1_000;
    assert!(matching_need(&mut v, &second, &flooder, 0, now).is_empty());
    let until = now + 3_600_000;
    let mut served_at = None;
    let mut later = Vec::new();
    while now < until {
        // Woken when the service asks (other timers too), a second apart at least.
        now = v.svc.next_wakeup().as_millis().max(now + 1_000);
        v.svc.tick(now);
        let got = need_alerts(&mut v);
        if served_at.is_none() && got.contains(&second.public()) {
            served_at = Some(now);
        }
        later.extend(got);
    }
    let delay =
        served_at.expect("the second newcomer is alerted within the hour") - (until - 3_600_000);
    assert!(
        delay <= 3_600_000 / u64::from(alerts::SOURCE_ALERTS_PER_HOUR) + 60_000,
        "alerted after {delay} ms"
    );
    // Over the whole run (flood and the hour after it) the strangers' total holds.
    let total = alerts.len() + 1 + later.len();
    assert!(
        total <= 2 * admission::STRANGER_MATCHED_PER_HOUR as usize,
        "{total} alerts for strangers in about an hour"
    );
}

#[test]
fn peers_of_one_address_range_share_one_alert_source() {
    let mut v = harness(1);
    let mine = fixtures::profile(&v.me, "me", &["kicad"], T0);
    v.svc.set_profile(
        CallId(900),
        guild_core::control::ProfileDraft::from_profile(&mine),
        MS,
    );
    let link = |ip: &str| Link {
        inbound: true,
        group: Some(ip.into()),
    };
    // Two flooding peers on two addresses of one /24, a friend on another /24.
    let (f1, f2, friend) = (identity(70), identity(71), identity(72));
    v.svc.connected(f1.public(), None, link("10.0.0.5"), MS);
    v.svc.connected(f2.public(), None, link("10.0.0.6"), MS);
    v.svc.connected(friend.public(), None, link("10.0.1.7"), MS);
    let _ = v.svc.take_outbox();
    let mut alerts = 0;
    let mut now = MS;
    for k in 0..40u32 {
        let via = if k % 2 == 0 { &f1 } else { &f2 };
        now += 200;
        alerts += matching_need(&mut v, &fresh(30_000 + k), via, 0, now).len();
    }
    assert_eq!(
        alerts,
        alerts::SOURCE_ALERTS_PER_HOUR as usize,
        "two addresses of one /24 share one source's alerts"
    );
    let newcomer = identity(73);
    assert_eq!(
        matching_need(&mut v, &newcomer, &friend, 0, now),
        vec![newcomer.public()],
        "a need through another /24 is alerted at once"
    );
}
