//! Collaborations: membership, closing, what backs an attestation, proofs.

use super::*;

#[test]
fn a_collaboration_makes_a_member_only_of_who_offered() {
    let mut b = harness(3);
    let a = identity(2);
    let n = a_need(&a, T0);
    let mine = sign(fixtures::offer(&b.me, &n, T0), &b.me);
    b.svc
        .store_record(&AnyRecord::Offer(mine.clone()), T0)
        .unwrap();
    // An offer id b never made.
    let forged = |offer: RecordId| {
        let mut body = fixtures::collaboration(&a, n.clone(), vec![mine.clone()], T0);
        body.offers[0].offer = offer;
        sign(body, &a)
    };
    assert_eq!(
        refusal(b.deliver(&a, AnyRecord::Collaboration(forged(n.id())), MS)),
        RefusalReason::Unauthorised
    );
    // b's offer on another need.
    let other = sign(fixtures::need(&a, "other", &["rust"], T0), &a);
    let elsewhere = sign(fixtures::offer(&b.me, &other, T0), &b.me);
    b.svc
        .store_record(&AnyRecord::Offer(elsewhere.clone()), T0)
        .unwrap();
    assert_eq!(
        refusal(b.deliver(&a, AnyRecord::Collaboration(forged(elsewhere.id())), MS)),
        RefusalReason::Unauthorised
    );
    // A collaboration not naming b at all.
    let c2 = identity(4);
    let theirs = sign(fixtures::offer(&c2, &n, T0), &c2);
    let not_b = sign(fixtures::collaboration(&a, n.clone(), vec![theirs], T0), &a);
    assert_eq!(
        refusal(b.deliver(&a, AnyRecord::Collaboration(not_b), MS)),
        RefusalReason::NotAddressedHere
    );
    // The real one, with the need's text as its purpose (the record carries none).
    let real = sign(fixtures::collaboration(&a, n.clone(), vec![mine], T0), &a);
    assert_eq!(
        b.deliver(&a, AnyRecord::Collaboration(real.clone()), MS),
        DirectResponse::Ack
    );
    assert!(b.events().iter().any(|e| matches!(e,
        Event::CollabOpened { collab, purpose: None, .. } if *collab == real.id())));
    b.svc.store_record(&AnyRecord::Need(n.clone()), T0).unwrap();
    let view = b.svc.collab_show(&real.id()).unwrap();
    assert_eq!(view.purpose.as_deref(), Some(n.body.text.as_str()));
}

#[test]
fn every_member_closes_their_part_and_nothing_else_comes_after_the_first_close() {
    let mut b = harness(3);
    let a = identity(2);
    let c = offerer_in_collab(&mut b, &a);
    // a's summary and close, the close delivered first.
    let summary = entry(
        &a,
        c.id(),
        1,
        1,
        EntryKind::Post {
            text: "done".into(),
        },
        T0,
    );
    let close_a = entry(&a, c.id(), 2, 2, EntryKind::Close, T0);
    assert_eq!(
        b.deliver(&a, AnyRecord::CollabEntry(close_a), MS),
        DirectResponse::Ack
    );
    assert_eq!(
        b.deliver(&a, AnyRecord::CollabEntry(summary), MS),
        DirectResponse::Ack,
        "written before the close: still taken"
    );
    let late = entry(&a, c.id(), 3, 3, EntryKind::Post { text: "ps".into() }, T0);
    assert_eq!(
        refusal(b.deliver(&a, AnyRecord::CollabEntry(late), MS)),
        RefusalReason::Closed
    );
    let again = entry(&a, c.id(), 4, 4, EntryKind::Close, T0);
    assert_eq!(
        refusal(b.deliver(&a, AnyRecord::CollabEntry(again), MS)),
        RefusalReason::Duplicate
    );
    // b may not post any more, nor close with a summary, but closes its own part.
    let close = |summary: &str| {
        ServiceCall::CollabClose(CollabCloseParams {
            collab: c.id(),
            summary: summary.into(),
        })
    };
    assert!(b.call(close("late words"), MS).is_err());
    let view: EntryView = TryFrom::try_from(b.call(close(""), MS).unwrap()).unwrap();
    assert_eq!(view.kind, "close");
    assert!(b.call(close(""), MS).is_err(), "one close per member");
    let shown = b.svc.collab_show(&c.id()).unwrap();
    assert_eq!(shown.closed_by, vec![a.public(), b.me.public()]);
    let kinds: Vec<&str> = shown.entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["post", "close", "close"]);
}

#[test]
fn closing_with_a_summary_posts_it_just_before_the_close() {
    let mut a = harness(2);
    let b = identity(3);
    let n = a_need(&a.me, T0);
    let o = sign(fixtures::offer(&b, &n, T0), &b);
    let c = sign(fixtures::collaboration(&a.me, n, vec![o], T0), &a.me);
    a.svc
        .store_record(&AnyRecord::Collaboration(c.clone()), T0)
        .unwrap();
    a.call(
        ServiceCall::CollabClose(CollabCloseParams {
            collab: c.id(),
            summary: "shipped v2".into(),
        }),
        MS,
    )
    .unwrap();
    let shown = a.svc.collab_show(&c.id()).unwrap();
    let got: Vec<(&str, Option<&str>)> = shown
        .entries
        .iter()
        .map(|e| (e.kind.as_str(), e.text.as_deref()))
        .collect();
    assert_eq!(got, [("post", Some("shipped v2")), ("close", None)]);
    assert!(shown.closed);
    // Both go to b, the post first.
    let sent: Vec<_> = a.requests();
    assert_eq!(sent.len(), 2);
}

#[test]
fn the_asker_alone_cannot_back_an_attestation_about_an_offerer() {
    let mut a = harness(2);
    let b = identity(3);
    let n = a_need(&a.me, T0);
    let o = sign(fixtures::offer(&b, &n, T0), &b);
    let c = sign(fixtures::collaboration(&a.me, n, vec![o], T0), &a.me);
    a.svc
        .store_record(&AnyRecord::Collaboration(c.clone()), T0)
        .unwrap();
    let vouch = |score| {
        ServiceCall::Vouch(VouchParams {
            peer: b.public(),
            skill: tag("kicad"),
            score,
            collab: c.id(),
            note: String::new(),
            expires_secs: None,
        })
    };
    let err = a.call(vouch(-5), MS).unwrap_err();
    assert!(
        err.message.contains("you have not closed your part"),
        "{err:?}"
    );
    a.call(
        ServiceCall::CollabClose(CollabCloseParams {
            collab: c.id(),
            summary: String::new(),
        }),
        MS,
    )
    .unwrap();
    let err = a.call(vouch(-5), MS).unwrap_err();
    assert!(
        err.message
            .contains(&format!("{} has not closed their part yet", b.public())),
        "{err:?}"
    );
    // A third party given the asker's own attestation and the asker-only proof: not counted.
    let mut v = harness(1);
    let att = sign(fixtures::attestation(&a.me, &b, c.id(), -5, T0), &a.me);
    v.gossip(&a.me, AnyRecord::Attestation(att.clone()), MS)
        .unwrap();
    let (id, _, _) = v.requests().pop().expect("a proof request");
    let proof = a.svc.proof_for(&c.id());
    assert!(proof.is_err(), "no attestation here cites it yet");
    a.svc
        .store_record(&AnyRecord::Attestation(att.clone()), T0)
        .unwrap();
    let proof = a.svc.proof_for(&c.id()).unwrap();
    assert_eq!(proof.len(), 2, "the record and a's close");
    v.svc
        .received_response(id, Ok(DirectResponse::Records(proof)), MS);
    let (status, reason) = v.svc.status_of(&att.id(), T0).unwrap();
    assert_eq!(status, AttestationStatus::Unbacked);
    assert!(
        reason
            .unwrap()
            .contains("the subject has not closed their part"),
        "the offerer never took part"
    );
    // Once b signs its own close, the attestation counts and a may vouch.
    let close_b = entry(&b, c.id(), 1, 5, EntryKind::Close, T0);
    assert_eq!(
        a.deliver(&b, AnyRecord::CollabEntry(close_b.clone()), MS),
        DirectResponse::Ack
    );
    a.call(vouch(4), MS).unwrap();
    v.svc
        .accept_proof(c.id(), vec![AnyRecord::CollabEntry(close_b)], T0);
    assert_eq!(
        v.svc.status_of(&att.id(), T0).unwrap().0,
        AttestationStatus::Counted
    );
}

#[test]
fn a_proof_holds_ids_membership_and_closes_only_and_only_for_a_live_attestation() {
    let mut a = harness(2);
    let b = identity(3);
    let d = identity(4);
    let e = identity(5);
    let n = a_need(&a.me, T0);
    let o = sign(fixtures::offer(&b, &n, T0), &b);
    let c = sign(fixtures::collaboration(&a.me, n, vec![o], T0), &a.me);
    let cid = c.id();
    // a invites d, who joins; b invites e, who never answers; b posts; a, b and d close.
    let invite_d = entry(
        &a.me,
        cid,
        1,
        1,
        EntryKind::Invite { member: d.public() },
        T0,
    );
    let join_d = entry(
        &d,
        cid,
        1,
        2,
        EntryKind::Join {
            invite: invite_d.id(),
        },
        T0,
    );
    let invite_e = entry(&b, cid, 1, 2, EntryKind::Invite { member: e.public() }, T0);
    let post = entry(
        &b,
        cid,
        2,
        3,
        EntryKind::Post {
            text: "secret plans".into(),
        },
        T0,
    );
    let closes = [(&a.me, 2), (&b, 3), (&d, 2)]
        .map(|(who, seq)| entry(who, cid, seq, 4, EntryKind::Close, T0));
    let mut log = vec![invite_d.clone(), join_d.clone(), invite_e.clone(), post];
    log.extend(closes.iter().cloned());
    a.svc
        .store_record(&AnyRecord::Collaboration(c.clone()), T0)
        .unwrap();
    for x in &log {
        a.svc
            .store_record(&AnyRecord::CollabEntry(x.clone()), T0)
            .unwrap();
    }
    let att = sign(fixtures::attestation(&b, &d, cid, 5, T0), &b);
    a.gossip(&b, AnyRecord::Attestation(att.clone()), MS)
        .unwrap();
    let answer = a.svc.proof_for(&cid).unwrap();
    let mut want: Vec<RecordId> = vec![cid, invite_d.id(), join_d.id()];
    want.extend(closes.iter().map(|x| x.id()));
    let mut got: Vec<RecordId> = answer.iter().map(|r| r.id()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "no post, no unanswered invitation");
    for r in &answer {
        let bytes = r.encode().unwrap();
        for text in [&b"secret plans"[..], &b"review my layout"[..]] {
            assert!(!bytes.windows(text.len()).any(|w| w == text));
        }
    }
    // It is enough for a third node: d joined and closed, so b's attestation about d counts.
    let mut v = harness(1);
    v.gossip(&b, AnyRecord::Attestation(att.clone()), MS)
        .unwrap();
    v.svc.accept_proof(cid, answer, T0);
    assert_eq!(
        v.svc.status_of(&att.id(), T0).unwrap().0,
        AttestationStatus::Counted
    );
    // Revoked by its issuer: no legitimate interest left.
    let rev = revocation(&b, att.id(), RecordKind::Attestation, T0);
    a.gossip(&b, AnyRecord::Revocation(rev), MS).unwrap();
    assert_eq!(
        a.svc.proof_for(&cid).unwrap_err().reason,
        RefusalReason::Unknown
    );
}

#[test]
fn a_collaborations_purpose_outlives_its_need() {
    let mut a = harness(2);
    let b = identity(3);
    let n = a_need(&a.me, T0);
    a.svc.store_record(&AnyRecord::Need(n.clone()), T0).unwrap();
    let o = sign(fixtures::offer(&b, &n, T0), &b);
    a.deliver(&b, AnyRecord::Offer(o.clone()), MS);
    let view: CollabView = TryFrom::try_from(
        a.call(ServiceCall::Accept(AcceptParams { offer: o.id() }), MS)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(view.purpose.as_deref(), Some("review my layout"));
    // The need expires and is swept; the collaboration still shows what it was for.
    let later = n.body.expires_at + 1;
    a.svc.tick(later * 1000);
    assert!(a.svc.state.pull.need(&n.id()).is_none(), "swept");
    let shown = a.svc.collab_show(&view.id).unwrap();
    assert_eq!(shown.purpose.as_deref(), Some("review my layout"));
}

#[test]
fn an_attestation_never_outlives_its_collaboration() {
    let mut a = harness(2);
    let b = identity(3);
    let n = a_need(&a.me, T0);
    let o = sign(fixtures::offer(&b, &n, T0), &b);
    let mut body = fixtures::collaboration(&a.me, n, vec![o], T0);
    body.expires_at = T0 + 30 * 86_400;
    let c = sign(body, &a.me);
    a.svc
        .store_record(&AnyRecord::Collaboration(c.clone()), T0)
        .unwrap();
    for (who, clock) in [(&a.me, 1), (&b, 2)] {
        a.svc
            .store_record(
                &AnyRecord::CollabEntry(entry(who, c.id(), 1, clock, EntryKind::Close, T0)),
                T0,
            )
            .unwrap();
    }
    // vouch clamps the expiry.
    let v: AttestationView = TryFrom::try_from(
        a.call(
            ServiceCall::Vouch(VouchParams {
                peer: b.public(),
                skill: tag("kicad"),
                score: 4,
                collab: c.id(),
                note: String::new(),
                expires_secs: None,
            }),
            MS,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(v.expires_at, c.body.expires_at);
    assert_eq!(v.status, AttestationStatus::Counted);
    // Intake refuses one that would outlive it (fixture attestations live 180 days).
    let long = sign(fixtures::attestation(&b, &a.me, c.id(), 5, T0), &b);
    assert_eq!(
        a.gossip(&b, AnyRecord::Attestation(long), MS)
            .unwrap_err()
            .reason,
        RefusalReason::Unauthorised
    );
    // Our own collaborations live the longest allowed: longer than any attestation.
    const { assert!(pull::COLLABORATION_LIFETIME > guild_core::limits::MAX_ATTESTATION_LIFETIME) };
}

#[test]
fn proof_requests_are_budgeted_per_peer() {
    let mut v = harness(1);
    let ask = |v: &mut Harness, from: &Identity| {
        let req = DirectRequest::Proof {
            collaboration: RecordId([4; 32]),
        };
        let bytes = guild_core::codec::encode(&req).unwrap();
        refusal(v.svc.received_request(from.public(), &bytes, MS))
    };
    let stranger = identity(40);
    let budget = admission::PROOFS_PER_MINUTE.stranger;
    for _ in 0..budget {
        // Nothing here cites that collaboration: refused, an honest miss (no strike).
        assert_eq!(ask(&mut v, &stranger), RefusalReason::Unknown);
    }
    assert!(!v.svc.admission.is_penalised(&stranger.public(), MS));
    assert_eq!(ask(&mut v, &stranger), RefusalReason::RateLimited);
    assert_eq!(
        ask(&mut v, &identity(41)),
        RefusalReason::Unknown,
        "per peer"
    );
}
