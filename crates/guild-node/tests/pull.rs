//! The pull workflow in one process: needs, matching, offers, collaborations, messages, and every
//! hostile delivery refused with its reason. Real TCP on 127.0.0.1, mDNS off, bounded waits.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{next_event, options, poll_until_async, Rogue, TestNode};
use guild_core::codec;
use guild_core::control::pull::*;
use guild_core::control::Event;
use guild_core::fixtures::{identity, need, offer, sign, tag, T0};
use guild_core::limits::MAX_TEXT_BYTES;
use guild_core::wire::{DirectRequest, DirectResponse, RefusalReason, MAX_RESPONSE_BYTES};
use guild_core::{CollabEntry, EntryKind, Message, RecordId, RecordKind, Signed};
use guild_node::node::PullError;

fn ask(text: &str, skills: &[&str]) -> AskParams {
    AskParams {
        text: text.into(),
        skills: skills.iter().map(|s| tag(s)).collect(),
        resources: vec![],
        expires_secs: None,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_match_offer_accept_collaborate_close() {
    let mut a = TestNode::start(80, options("main", &[])).await;
    a.set_skills("ada", &["rust"]).await;
    let boot = vec![a.addr().await];
    let mut b = TestNode::start(81, options("main", &boot)).await;
    b.set_skills("bea", &["kicad", "pcb-design"]).await;
    let mut c = TestNode::start(82, options("main", &boot)).await;
    c.set_skills("cal", &["kicad"]).await;
    let mut d = TestNode::start(83, options("main", &boot)).await;
    d.set_skills("dan", &["woodwork"]).await;
    for n in [&mut b, &mut c, &mut d] {
        let ka = a.key();
        n.until("joined the mesh", move |x| x.knows(&ka)).await;
    }
    let ka = a.key();
    let kb = b.key();
    let kc = c.key();
    let kd = d.key();
    a.until("a knows everyone", move |x| {
        [kb, kc, kd].iter().all(|k| x.knows(k))
    })
    .await;

    let asked = a
        .node
        .ask(ask("review my KiCad layout", &["kicad", "pcb-design"]))
        .await
        .unwrap();
    let nid = asked.need.id;
    for (n, want) in [(&mut b, 2usize), (&mut c, 1)] {
        let e = next_event(n, "need.matched", |e| {
            matches!(e, Event::NeedMatched { .. })
        })
        .await;
        let Event::NeedMatched {
            need,
            matched,
            asker,
            ..
        } = e
        else {
            unreachable!()
        };
        assert_eq!((need, asker, matched.len()), (nid, ka, want));
    }
    // d stores the need (it spreads to everyone) but is not told: no matching skill.
    // Storing a need that matches nothing raises no event on d, so poll its store.
    let dn = d.node.clone();
    poll_until_async("d stored the need", || {
        let dn = dn.clone();
        async move {
            dn.needs(NeedsParams::default())
                .await
                .unwrap()
                .needs
                .iter()
                .any(|n| n.id == nid)
        }
    })
    .await;
    assert!(d
        .node
        .needs(NeedsParams {
            filter: NeedFilter::Matching,
            include_closed: false
        })
        .await
        .unwrap()
        .needs
        .is_empty());
    while let Ok(e) = d.events.try_recv() {
        assert!(!matches!(e, Event::NeedMatched { .. }), "d got {e:?}");
    }

    let ob = b
        .node
        .offer(OfferParams {
            need: nid,
            text: "I do this daily".into(),
            role: None,
        })
        .await
        .unwrap();
    assert!(ob.delivered, "{:?}", ob.error);
    let oc = c
        .node
        .offer(OfferParams {
            need: nid,
            text: "me too".into(),
            role: None,
        })
        .await
        .unwrap();
    assert!(oc.delivered);
    let mut from = vec![];
    for _ in 0..2 {
        let Event::OfferReceived { from: f, need, .. } =
            next_event(&mut a, "offer.received", |e| {
                matches!(e, Event::OfferReceived { .. })
            })
            .await
        else {
            unreachable!()
        };
        assert_eq!(need, nid);
        from.push(f);
    }
    from.sort();
    let mut want = vec![kb, kc];
    want.sort();
    assert_eq!(from, want);
    // Offering on one's own need, or on an unknown one, is refused with the reason.
    assert!(
        matches!(a.node.offer(OfferParams { need: nid, text: "x".into(), role: None }).await, Err(PullError::Invalid(m)) if m.contains("own need"))
    );
    assert!(matches!(
        b.node
            .offer(OfferParams {
                need: RecordId([9; 32]),
                text: "x".into(),
                role: None,
            })
            .await,
        Err(PullError::NotFound(_))
    ));

    let collab = a.node.accept(AcceptParams { offer: ob.id }).await.unwrap();
    assert_eq!(collab.members, vec![ka, kb]);
    let cid = collab.id;
    next_event(
        &mut b,
        "collab.opened",
        |e| matches!(e, Event::CollabOpened { collab, .. } if *collab == cid),
    )
    .await;
    assert!(
        matches!(a.node.accept(AcceptParams { offer: ob.id }).await, Err(PullError::Invalid(m)) if m.contains("already accepted"))
    );
    // c takes its offer back: a is told and can no longer accept it.
    let w = c
        .node
        .withdraw_offer(OfferWithdrawParams {
            offer: oc.id,
            reason: "b has it".into(),
        })
        .await
        .unwrap();
    assert!(w.delivered, "{:?}", w.error);
    next_event(
        &mut a,
        "offer.withdrawn",
        |e| matches!(e, Event::OfferWithdrawn { offer, from, .. } if *offer == oc.id && *from == kc),
    )
    .await;
    assert!(
        matches!(a.node.accept(AcceptParams { offer: oc.id }).await, Err(PullError::Invalid(m)) if m.contains("withdrawn"))
    );
    // b's offer was accepted: b cannot take it back.
    assert!(
        matches!(b.node.withdraw_offer(OfferWithdrawParams { offer: ob.id, reason: String::new() }).await, Err(PullError::Invalid(m)) if m.contains("accepted"))
    );

    a.node
        .collab_post(&cid, "here is the layout".into())
        .await
        .unwrap();
    next_event(
        &mut b,
        "a's post",
        |e| matches!(e, Event::CollabEntryAdded { author, .. } if *author == ka),
    )
    .await;
    b.node
        .collab_post(&cid, "looks good; two notes".into())
        .await
        .unwrap();
    next_event(
        &mut a,
        "b's post",
        |e| matches!(e, Event::CollabEntryAdded { author, .. } if *author == kb),
    )
    .await;
    let shown = a.node.collab_show(&cid).await.unwrap();
    assert_eq!(
        shown.entries.iter().map(|e| e.author).collect::<Vec<_>>(),
        vec![ka, kb]
    );

    // c is not a member: it never received the collaboration, can neither read nor post.
    assert!(matches!(
        c.node.collab_show(&cid).await,
        Err(PullError::NotFound(_))
    ));
    assert!(c.node.collab_post(&cid, "let me in".into()).await.is_err());

    a.node
        .collab_close(&cid, "done, thanks".into())
        .await
        .unwrap();
    // The summary post and the close are two deliveries: they may reach b in either order.
    let (mut post, mut close) = (false, false);
    while !(post && close) {
        if let Event::CollabEntryAdded { kind, .. } = next_event(
            &mut b,
            "a's summary and close",
            |e| matches!(e, Event::CollabEntryAdded { author, kind, .. } if *author == ka && (kind == "close" || kind == "post")),
        )
        .await
        {
            post |= kind == "post";
            close |= kind == "close";
        }
    }
    let at_b = b.node.collab_show(&cid).await.unwrap();
    assert!(at_b.closed);
    assert_eq!(at_b.closed_by, vec![ka], "a closed its part");
    // The summary went in as a post just before a's close, which carries no text.
    let tail: Vec<(&str, Option<&str>)> = at_b
        .entries
        .iter()
        .rev()
        .take(2)
        .map(|e| (e.kind.as_str(), e.text.as_deref()))
        .collect();
    assert_eq!(tail, [("close", None), ("post", Some("done, thanks"))]);
    assert!(
        matches!(b.node.collab_post(&cid, "late".into()).await, Err(PullError::Invalid(m)) if m.contains("closed"))
    );
    // b closes its own part; a sees it.
    b.node.collab_close(&cid, String::new()).await.unwrap();
    next_event(
        &mut a,
        "b's close",
        |e| matches!(e, Event::CollabEntryAdded { kind, author, .. } if kind == "close" && *author == kb),
    )
    .await;
    assert_eq!(
        a.node.collab_show(&cid).await.unwrap().closed_by,
        vec![ka, kb]
    );

    // Withdrawal: every node honours it.
    a.node
        .withdraw_need(WithdrawParams {
            need: nid,
            reason: "found help".into(),
        })
        .await
        .unwrap();
    next_event(
        &mut d,
        "need.withdrawn",
        |e| matches!(e, Event::NeedWithdrawn { need, .. } if *need == nid),
    )
    .await;
    assert!(
        d.node
            .needs(NeedsParams::default())
            .await
            .unwrap()
            .needs
            .is_empty(),
        "withdrawn needs are not open"
    );
    next_event(
        &mut c,
        "c saw the withdrawal",
        |e| matches!(e, Event::NeedWithdrawn { need, .. } if *need == nid),
    )
    .await;
    assert!(
        matches!(c.node.offer(OfferParams { need: nid, text: "again".into(), role: None }).await, Err(PullError::Invalid(m)) if m.contains("withdrawn"))
    );

    // Direct messages with acknowledgement.
    let m = d
        .node
        .msg(MsgParams {
            peer: ka,
            text: "hello from dan".into(),
        })
        .await
        .unwrap();
    assert!(m.delivered);
    next_event(
        &mut a,
        "message",
        |e| matches!(e, Event::MessageReceived { from, .. } if *from == kd),
    )
    .await;
    let inbox = a.node.inbox(InboxParams::default()).await.unwrap();
    assert_eq!(inbox.messages[0].text, "hello from dan");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_deliveries_are_refused_with_reasons_and_penalised() {
    let mut a = TestNode::start(90, options("main", &[])).await;
    a.set_skills("ada", &["rust"]).await;
    let ida = identity(90);
    let rogue_id = identity(91);
    let rogue = Rogue::start(91, &a).await;
    let other = identity(92);
    let now = guild_core::time::now();

    // A real need of a's, so offers have something to aim at.
    let asked = a.node.ask(ask("need a reviewer", &["rust"])).await.unwrap();
    let nid = asked.need.id;
    let a_need: Signed<guild_core::Need> = a.node.store().get_typed(&nid).unwrap().unwrap();
    let records_before = a.node.store().record_count();

    // A valid offer is accepted once; the replay is refused as such.
    let good = sign(offer(&rogue_id, &a_need, now), &rogue_id);
    let bytes = codec::encode(&DirectRequest::Deliver(Box::new(good.clone().into()))).unwrap();
    assert_eq!(rogue.send_bytes(bytes.clone()).await, DirectResponse::Ack);
    let (reason, replay) = rogue.refusal(good.into()).await;
    assert_eq!(reason, RefusalReason::Duplicate, "{replay}");
    let _ = next_event(&mut a, "offer", |e| {
        matches!(e, Event::OfferReceived { .. })
    })
    .await;

    let records_before = records_before + 1;
    assert_eq!(a.node.store().record_count(), records_before);
    let mut reasons = vec![];
    // Malformed bytes.
    match rogue.send_bytes(vec![0xff, 0x00, 0x13]).await {
        DirectResponse::Error { message, .. } => reasons.push(("malformed", message)),
        other => panic!("{other:?}"),
    }
    // Offer on an unknown need.
    let mut o = offer(&rogue_id, &a_need, now);
    o.need = RecordId([3; 32]);
    reasons.push((
        "unknown need",
        rogue.deliver(sign(o, &rogue_id).into()).await,
    ));
    // An offer addressed to someone else.
    let elsewhere = sign(need(&other, "elsewhere", &["rust"], now), &other);
    reasons.push((
        "someone else",
        rogue
            .deliver(sign(offer(&rogue_id, &elsewhere, now), &rogue_id).into())
            .await,
    ));
    // Expired offer.
    let mut o = offer(&rogue_id, &a_need, now - 40 * 86_400);
    o.expires_at = now - 86_400;
    reasons.push(("expired", rogue.deliver(sign(o, &rogue_id).into()).await));
    // Forged signature: content changed after signing.
    let mut forged = sign(offer(&rogue_id, &a_need, now), &rogue_id);
    forged.body.text = "changed".into();
    reasons.push(("signature", rogue.deliver(forged.into()).await));
    // Oversized message.
    let big = Message {
        version: 1,
        issuer: rogue_id.public(),
        to: ida.public(),
        issued_at: now,
        expires_at: now + 3600,
        nonce: 1,
        text: "x".repeat(MAX_TEXT_BYTES + 1),
    };
    reasons.push(("text", rogue.deliver(sign(big, &rogue_id).into()).await));
    // Someone else's offer relayed by the rogue.
    reasons.push((
        "delivered by",
        rogue
            .deliver(sign(offer(&other, &a_need, now), &other).into())
            .await,
    ));
    // A collaboration entry for a collaboration a has never heard of / is not part of.
    let entry = CollabEntry {
        version: 1,
        issuer: rogue_id.public(),
        collaboration: RecordId([7; 32]),
        issued_at: now,
        expires_at: now + 3600,
        seq: 1,
        clock: 1,
        entry: EntryKind::Post {
            text: "let me in".into(),
        },
    };
    reasons.push((
        "unknown collaboration",
        rogue.deliver(sign(entry, &rogue_id).into()).await,
    ));

    for (want, got) in &reasons {
        assert!(got.contains(want), "expected `{want}` in `{got}`");
    }
    assert_eq!(
        a.node.store().record_count(),
        records_before,
        "nothing stored"
    );

    // Eight invalid deliveries: the next request, even with valid input, is refused and the
    // peer disconnected and kept away for the penalty window.
    let fresh = sign(offer(&rogue_id, &a_need, now + 2), &rogue_id);
    let bytes = codec::encode(&DirectRequest::Deliver(Box::new(fresh.into()))).unwrap();
    match rogue.client.request(rogue.target, bytes).await {
        // The answer may or may not get out before the connection closes.
        Ok(answer) => match codec::decode(&answer, MAX_RESPONSE_BYTES).unwrap() {
            DirectResponse::Error { message, .. } => {
                assert!(message.contains("too many invalid"), "{message}")
            }
            other => panic!("{other:?}"),
        },
        Err(e) => tracing::debug!("the ninth request was cut: {e}"),
    }
    let rogue_peer = rogue_id.public().to_peer_id().to_string();
    next_event(
        &mut a,
        "the rogue was disconnected",
        |e| matches!(e, Event::PeerDisconnected { peer } if *peer == rogue_peer),
    )
    .await;
    let fresh = sign(offer(&rogue_id, &a_need, now + 1), &rogue_id);
    let bytes = codec::encode(&DirectRequest::Deliver(Box::new(fresh.into()))).unwrap();
    let answer = rogue.client.request(rogue.target, bytes).await;
    assert!(answer.is_err(), "a banned peer gets no answer: {answer:?}");
    assert_eq!(
        a.node.store().record_count(),
        records_before,
        "nothing stored"
    );
    let _ = (RecordKind::Offer, T0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_post_and_entries_cannot_be_replayed() {
    let mut a = TestNode::start(100, options("main", &[])).await;
    a.set_skills("ada", &["rust"]).await;
    let nid = a.node.ask(ask("pcb", &["kicad"])).await.unwrap().need.id;
    let a_need: Signed<guild_core::Need> = a.node.store().get_typed(&nid).unwrap().unwrap();

    // A raw peer offers and is accepted, so it is a member writing its own entries.
    let member_id = identity(101);
    let member = Rogue::start(101, &a).await;
    let now = guild_core::time::now();
    let o = sign(offer(&member_id, &a_need, now), &member_id);
    let bytes = codec::encode(&DirectRequest::Deliver(Box::new(o.clone().into()))).unwrap();
    assert_eq!(member.send_bytes(bytes).await, DirectResponse::Ack);
    let cid = a
        .node
        .accept(AcceptParams { offer: o.id() })
        .await
        .unwrap()
        .id;

    let entry = |seq: u64, text: &str| CollabEntry {
        version: 1,
        issuer: member_id.public(),
        collaboration: cid,
        issued_at: now,
        expires_at: now + 3600,
        seq,
        clock: seq,
        entry: EntryKind::Post { text: text.into() },
    };
    let first = sign(entry(1, "first"), &member_id);
    let b = codec::encode(&DirectRequest::Deliver(Box::new(first.clone().into()))).unwrap();
    assert_eq!(member.send_bytes(b).await, DirectResponse::Ack);
    next_event(&mut a, "first post", |e| {
        matches!(e, Event::CollabEntryAdded { .. })
    })
    .await;
    // The same entry again: a replay.
    let (reason, why) = member.refusal(first.into()).await;
    assert_eq!(reason, RefusalReason::Duplicate, "{why}");
    // A different entry reusing sequence 1: replayed or out of order.
    let why = member
        .deliver(sign(entry(1, "rewritten"), &member_id).into())
        .await;
    assert!(why.contains("out-of-order"), "{why}");
    assert_eq!(
        a.node.collab_show(&cid).await.unwrap().entries.len(),
        1,
        "nothing more stored"
    );

    // A stranger who learned the collaboration id cannot post.
    let stranger_id = identity(102);
    let stranger = Rogue::start(102, &a).await;
    let post = CollabEntry {
        issuer: stranger_id.public(),
        ..entry(1, "let me in")
    };
    let why = stranger.deliver(sign(post, &stranger_id).into()).await;
    assert!(why.contains("not a member"), "{why}");
    assert_eq!(a.node.collab_show(&cid).await.unwrap().entries.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invited_member_joins_reads_the_log_and_posts() {
    let mut a = TestNode::start(110, options("main", &[])).await;
    a.set_skills("ada", &["rust"]).await;
    let boot = vec![a.addr().await];
    let mut b = TestNode::start(111, options("main", &boot)).await;
    b.set_skills("bea", &["kicad"]).await;
    let mut c = TestNode::start(112, options("main", &boot)).await;
    c.set_skills("cal", &["firmware"]).await;
    let (ka, kb, kc) = (a.key(), b.key(), c.key());
    b.until("b knows a", move |x| x.knows(&ka)).await;
    c.until("c knows a", move |x| x.knows(&ka)).await;

    let nid = a
        .node
        .ask(ask("board bring-up", &["kicad"]))
        .await
        .unwrap()
        .need
        .id;
    next_event(&mut b, "matched", |e| {
        matches!(e, Event::NeedMatched { .. })
    })
    .await;
    let ob = b
        .node
        .offer(OfferParams {
            need: nid,
            text: "on it".into(),
            role: None,
        })
        .await
        .unwrap();
    next_event(&mut a, "offer", |e| {
        matches!(e, Event::OfferReceived { .. })
    })
    .await;
    let cid = a
        .node
        .accept(AcceptParams { offer: ob.id })
        .await
        .unwrap()
        .id;
    next_event(&mut b, "opened", |e| {
        matches!(e, Event::CollabOpened { .. })
    })
    .await;
    a.node
        .collab_post(&cid, "schematic attached".into())
        .await
        .unwrap();
    next_event(&mut b, "post", |e| {
        matches!(e, Event::CollabEntryAdded { .. })
    })
    .await;

    a.node.collab_invite(&cid, kc).await.unwrap();
    next_event(
        &mut c,
        "invited",
        |e| matches!(e, Event::CollabInvited { collab, by, .. } if *collab == cid && *by == ka),
    )
    .await;
    assert!(
        matches!(c.node.collab_show(&cid).await, Err(PullError::Invalid(m)) if m.contains("join")),
        "an invitee reads nothing before joining"
    );
    c.node.collab_join(&cid).await.unwrap();
    next_event(&mut a, "join", |e| matches!(e, Event::CollabEntryAdded { kind, author, .. } if kind == "join" && *author == kc)).await;
    let shown = c.node.collab_show(&cid).await.unwrap();
    assert_eq!(shown.members, vec![ka, kb, kc]);
    assert!(
        shown
            .entries
            .iter()
            .any(|e| e.text.as_deref() == Some("schematic attached")),
        "the log came with the invitation"
    );

    c.node
        .collab_post(&cid, "firmware side is ready".into())
        .await
        .unwrap();
    for n in [&mut a, &mut b] {
        next_event(n, "c's post", |e| matches!(e, Event::CollabEntryAdded { author, kind, .. } if *author == kc && kind == "post")).await;
    }
}
