//! Reputation end to end in one process: attestations issued after closed collaborations travel
//! by gossip with their proof, change trust and `find` ranking; unbacked, forged, expired,
//! replayed, equivocating and revoked ones do not. Real TCP on 127.0.0.1, mDNS off.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::work::{ask_and_offer, both_close, collaborate, trust};
use common::{next_event, options, poll_until, poll_until_async, within, TestNode};
use guild_core::control::pull::*;
use guild_core::control::reputation::*;
use guild_core::control::Event;
use guild_core::fixtures::{attestation, identity, sign, tag};
use guild_core::{AnyRecord, RecordId};
use guild_net::{NetConfig, NetEvent, Topic};
use guild_service::index::Query;

/// Waits until `node` holds attestation `id` with `status`.
async fn until_status(
    node: &guild_node::node::Node,
    id: RecordId,
    status: AttestationStatus,
    what: &str,
) {
    poll_until_async(what, || {
        let node = node.clone();
        async move {
            node.attestations(AttestationsParams::default())
                .await
                .unwrap()
                .attestations
                .iter()
                .any(|x| x.id == id && x.status == status)
        }
    })
    .await;
}

fn vouch(peer: &TestNode, skill: &str, score: i8, collab: RecordId) -> VouchParams {
    VouchParams {
        peer: peer.key(),
        skill: tag(skill),
        score,
        collab,
        note: "worked well".into(),
        expires_secs: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestation_on_a_reaches_c_and_changes_trust_and_ranking() {
    let mut a = TestNode::start(120, options("main", &[])).await;
    a.set_skills("ada", &["rust"]).await;
    let boot = vec![a.addr().await];
    let mut b = TestNode::start(121, options("main", &boot)).await;
    b.set_skills("bea", &["kicad"]).await;
    let mut c = TestNode::start(122, options("main", &boot)).await;
    c.set_skills("cal", &["woodwork"]).await;
    let d = TestNode::start(123, options("main", &boot)).await;
    d.set_skills("dan", &["kicad"]).await;
    let (ka, kb, kd) = (a.key(), b.key(), d.key());
    c.until("c knows everyone", move |x| {
        [ka, kb, kd].iter().all(|k| x.knows(k))
    })
    .await;

    // c worked with a (c asked, a helped) and vouches for a: c now trusts a.
    let c1 = collaborate(&mut c, &mut a, "rust").await;
    let v = c.node.vouch(vouch(&a, "rust", 5, c1)).await.unwrap();
    assert_eq!(v.status, AttestationStatus::Counted);
    assert!(trust(&c, &a).await > 0.0);

    // Before: b and d look the same to c for kicad.
    assert_eq!(trust(&c, &b).await, 0.0);
    let q = Query {
        skills: vec![tag("kicad")],
        limit: 10,
        ..Query::default()
    };
    let before = c.node.find(q.clone(), true).await.matches;
    assert_eq!(before.len(), 2);
    assert_eq!(before[0].trust, before[1].trust, "no trust information yet");

    // a works with b and vouches for b's kicad; the attestation reaches c with its proof.
    let c2 = collaborate(&mut a, &mut b, "kicad").await;
    let att = a.node.vouch(vouch(&b, "kicad", 5, c2)).await.unwrap();
    assert_eq!(att.status, AttestationStatus::Counted);
    let aid = att.id;
    next_event(
        &mut c,
        "attestation reached c",
        |e| matches!(e, Event::AttestationReceived { attestation, .. } if *attestation == aid),
    )
    .await;
    let cn = c.node.clone();
    until_status(
        &cn,
        aid,
        AttestationStatus::Counted,
        "c counts it (proof fetched)",
    )
    .await;
    let t = c
        .node
        .trust(TrustParams {
            peer: kb,
            skill: Some(tag("kicad")),
        })
        .await
        .unwrap();
    assert!(t.score > 0.0, "c now trusts b for kicad: {t:?}");
    assert!(trust(&c, &b).await > 0.0);
    let expl = serde_json::to_string(&t.explanation).unwrap();
    assert!(
        expl.contains(&ka.to_string()),
        "the explanation names a, the path's middle: {expl}"
    );
    let after = c.node.find(q.clone(), true).await.matches;
    assert_eq!(after[0].peer, kb, "b now ranks first for c");
    assert!(after[0].trust > after[1].trust);

    // Revocation removes the effect everywhere.
    a.node
        .revoke(RevokeParams {
            attestation: aid,
            reason: "mistake".into(),
        })
        .await
        .unwrap();
    until_status(
        &cn,
        aid,
        AttestationStatus::Revoked,
        "c honours the revocation",
    )
    .await;
    assert_eq!(trust(&c, &b).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbacked_forged_expired_replayed_and_equivocating_attestations_do_not_count() {
    let mut c = TestNode::start(130, options("main", &[])).await;
    c.set_skills("cal", &["woodwork"]).await;
    let mut a = TestNode::start(131, options("main", &[c.addr().await])).await;
    a.set_skills("ada", &["rust"]).await;
    let ka = a.key();
    c.until("c knows a", move |x| x.knows(&ka)).await;
    let c1 = collaborate(&mut c, &mut a, "rust").await;
    c.node.vouch(vouch(&a, "rust", 4, c1)).await.unwrap();
    let base = trust(&c, &a).await;
    assert!(base > 0.0);

    // Vouching before both sides closed their parts is refused with the reason.
    let o = ask_and_offer(&mut c, &mut a, "rust").await;
    let open_collab = c
        .node
        .accept(AcceptParams { offer: o.id })
        .await
        .unwrap()
        .id;
    let err = c
        .node
        .vouch(vouch(&a, "rust", 5, open_collab))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not closed"), "{err}");

    // A rogue publishes attestations over raw gossip.
    let rogue_id = identity(132);
    let mut cfg = NetConfig::local("main");
    cfg.bootstrap = vec![c.addr().await];
    let (rogue, mut rogue_events, _task) = guild_net::spawn(rogue_id.keypair(), cfg, None)
        .await
        .unwrap();
    within("rogue subscribed", async {
        while let Some(ev) = rogue_events.recv().await {
            if let NetEvent::PeerSubscribed {
                topic: Topic::Attestations,
                ..
            } = ev
            {
                break;
            }
        }
    })
    .await;
    let now = guild_core::time::now();
    let publish = |r: AnyRecord| {
        let rogue = rogue.clone();
        async move {
            rogue
                .publish(Topic::Attestations, r.encode().unwrap())
                .await
        }
    };
    let stats = c.node.stats().clone();
    let rejected0 = stats.rejected_total.get();
    // Forged: changed after signing.
    let mut forged = sign(
        attestation(&rogue_id, &identity(131), c1, 5, now),
        &rogue_id,
    );
    forged.body.score = 1;
    publish(forged.into()).await.unwrap();
    // Expired.
    let mut old = attestation(&rogue_id, &identity(131), c1, 5, now - 400 * 86_400);
    old.expires_at = now - 86_400;
    publish(sign(old, &rogue_id).into()).await.unwrap();
    poll_until("both rejected", || {
        stats.rejected_total.get() >= rejected0 + 2
    })
    .await;

    // Unbacked: a valid attestation about a collaboration the rogue was never part of.
    let unbacked = sign(
        attestation(&rogue_id, &identity(131), c1, -5, now),
        &rogue_id,
    );
    let uid = unbacked.id();
    publish(unbacked.clone().into()).await.unwrap();
    let e = next_event(
        &mut c,
        "unbacked arrives",
        |e| matches!(e, Event::AttestationReceived { attestation, .. } if *attestation == uid),
    )
    .await;
    assert!(matches!(
        e,
        Event::AttestationReceived { counted: false, .. }
    ));
    let view = c
        .node
        .attestations(AttestationsParams {
            by: Some(rogue_id.public()),
            about: None,
        })
        .await
        .unwrap();
    assert_eq!(view.attestations[0].status, AttestationStatus::Unbacked);
    assert!(
        view.attestations[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("not a member"),
        "{view:?}"
    );
    assert_eq!(
        trust(&c, &a).await,
        base,
        "an unbacked attestation leaves trust unchanged"
    );

    // Replay: the same attestation again is a duplicate, nothing new stored.
    let count = c
        .node
        .attestations(AttestationsParams::default())
        .await
        .unwrap()
        .attestations
        .len();
    let again = c.node.store().put_record(&unbacked.clone().into()).unwrap();
    assert!(!again, "already stored: a replay stores nothing");
    assert_eq!(
        c.node
            .attestations(AttestationsParams::default())
            .await
            .unwrap()
            .attestations
            .len(),
        count
    );

    // Equivocation: a second, different attestation with the same sequence number.
    let mut twin = attestation(&rogue_id, &identity(131), c1, 3, now);
    twin.salt = [9; 16];
    let twin = sign(twin, &rogue_id);
    publish(twin.clone().into()).await.unwrap();
    let e = next_event(&mut c, "equivocation", |e| {
        matches!(e, Event::AttestationEquivocation { .. })
    })
    .await;
    let Event::AttestationEquivocation {
        issuer,
        seq,
        attestations,
    } = e
    else {
        unreachable!()
    };
    assert_eq!((issuer, seq), (rogue_id.public(), 1));
    assert!(
        attestations.contains(&uid) && attestations.contains(&twin.id()),
        "both kept as proof"
    );
    let statuses: Vec<_> = c
        .node
        .attestations(AttestationsParams {
            by: Some(rogue_id.public()),
            about: None,
        })
        .await
        .unwrap()
        .attestations
        .into_iter()
        .map(|v| v.status)
        .collect();
    assert!(
        statuses
            .iter()
            .all(|s| *s == AttestationStatus::Equivocated),
        "{statuses:?}"
    );
    assert_eq!(trust(&c, &a).await, base);
}

/// Serves `n`'s control socket (the real server and handle) in a temp dir.
async fn serve_socket(n: &TestNode) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guild.sock");
    let listener = guild_node::control::bind(&path).await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let handle = guild_node::api::NodeHandle::new(n.node.clone(), cancel.clone());
    tokio::spawn(guild_node::control::serve(
        listener,
        handle,
        guild_node::control::ServerLimits::default(),
        guild_node::control::ServerStats::default(),
        cancel,
    ));
    (dir, path)
}

/// Issue 9: two concurrent calls through the real socket server never sign the same sequence
/// number — collaboration posts and attestations alike — so no peer ever sees an equivocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_socket_calls_never_share_a_sequence_number() {
    use guild_core::control::{Call, Client};
    const N: usize = 8;
    let mut a = TestNode::start(140, options("main", &[])).await;
    a.set_skills("ada", &["rust"]).await;
    let mut b = TestNode::start(141, options("main", &[a.addr().await])).await;
    b.set_skills("bo", &["kicad"]).await;
    let kb = b.key();
    a.until("a knows b", move |x| x.knows(&kb)).await;
    let o = ask_and_offer(&mut a, &mut b, "kicad").await;
    let cid = a
        .node
        .accept(AcceptParams { offer: o.id })
        .await
        .unwrap()
        .id;
    next_event(
        &mut b,
        "collab opened",
        |e| matches!(e, Event::CollabOpened { collab, .. } if *collab == cid),
    )
    .await;
    let (_dir, path) = serve_socket(&a).await;
    let mut clients = Vec::new();
    for _ in 0..N {
        clients.push(Client::connect(&path).await.unwrap());
    }

    // N posts at once.
    let posts = futures::future::join_all(clients.iter_mut().enumerate().map(|(i, c)| {
        let call = Call::CollabPost(CollabPostParams {
            collab: cid,
            text: format!("post {i}"),
        });
        async move { c.call_as::<EntryView>(&call).await.unwrap() }
    }))
    .await;
    let mut seqs: Vec<u64> = posts.iter().map(|p| p.seq).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>(), "one number each");
    let mut seen = 0;
    while seen < N {
        next_event(
            &mut b,
            "every post reaches b",
            |e| matches!(e, Event::CollabEntryAdded { kind, .. } if kind == "post"),
        )
        .await;
        seen += 1;
    }
    both_close(&mut a, &mut b, cid).await;

    // N attestations at once.
    let skills = [
        "kicad",
        "pcb-design",
        "soldering",
        "rust",
        "review",
        "3d",
        "cad",
        "docs",
    ];
    let views = futures::future::join_all(clients.iter_mut().enumerate().map(|(i, c)| {
        let call = Call::Vouch(VouchParams {
            peer: kb,
            skill: tag(skills[i % skills.len()]),
            score: 5,
            collab: cid,
            note: String::new(),
            expires_secs: None,
        });
        async move { c.call_as::<AttestationView>(&call).await.unwrap() }
    }))
    .await;
    let mut seqs: Vec<u64> = views.iter().map(|v| v.seq).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>(), "one number each");
    let ka = a.key();
    let bn = b.node.clone();
    poll_until_async("b holds all of a's attestations", || {
        let bn = bn.clone();
        async move {
            bn.attestations(AttestationsParams {
                by: Some(ka),
                about: None,
            })
            .await
            .unwrap()
            .attestations
            .len()
                == N
        }
    })
    .await;
    let statuses = b
        .node
        .attestations(AttestationsParams {
            by: Some(ka),
            about: None,
        })
        .await
        .unwrap()
        .attestations;
    assert!(
        statuses
            .iter()
            .all(|v| v.status != AttestationStatus::Equivocated),
        "{statuses:?}"
    );
    while let Ok(e) = b.events.try_recv() {
        assert!(
            !matches!(e, Event::AttestationEquivocation { .. }),
            "b saw an equivocation: {e:?}"
        );
    }
}

/// Issue 9: a stranger's revocation of someone else's attestation or need changes nothing on
/// any node, before or after the real one; the issuer's own still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_revocations_change_nothing_on_any_node() {
    let mut a = TestNode::start(150, options("main", &[])).await;
    a.set_skills("ada", &["rust"]).await;
    let boot = [a.addr().await];
    let mut b = TestNode::start(151, options("main", &boot)).await;
    b.set_skills("bo", &["kicad"]).await;
    let mut c = TestNode::start(152, options("main", &boot)).await;
    c.set_skills("cy", &["kicad"]).await;
    let (kb, kc) = (b.key(), c.key());
    a.until("a knows b and c", move |x| x.knows(&kb) && x.knows(&kc))
        .await;
    // c trusts a (they worked together), so a's word about b moves c's trust in b.
    let ca = collaborate(&mut c, &mut a, "rust").await;
    c.node.vouch(vouch(&a, "rust", 5, ca)).await.unwrap();
    let cid = collaborate(&mut a, &mut b, "kicad").await;
    let aid = a.node.vouch(vouch(&b, "kicad", 5, cid)).await.unwrap().id;
    let cn = c.node.clone();
    until_status(
        &cn,
        aid,
        AttestationStatus::Counted,
        "c counts a's attestation",
    )
    .await;
    let before = trust(&c, &b).await;
    assert!(before > 0.0);

    // A stranger speaking raw gossip.
    let rogue_id = identity(153);
    let mut cfg = NetConfig::local("main");
    cfg.bootstrap = vec![c.addr().await];
    let (rogue, mut rogue_events, _task) = guild_net::spawn(rogue_id.keypair(), cfg, None)
        .await
        .unwrap();
    let mut subscribed = std::collections::HashSet::new();
    within("rogue joins both topics", async {
        while let Some(ev) = rogue_events.recv().await {
            if let NetEvent::PeerSubscribed { topic, .. } = ev {
                subscribed.insert(format!("{topic:?}"));
                if subscribed.len() >= 2
                    && subscribed.contains("Attestations")
                    && subscribed.contains("Needs")
                {
                    break;
                }
            }
        }
    })
    .await;
    let now = guild_core::time::now();
    let revoke_as_rogue = |target: RecordId, kind: guild_core::RecordKind, at: u64| {
        sign(
            guild_core::Revocation {
                version: guild_core::record::RECORD_VERSION,
                issuer: rogue_id.public(),
                issued_at: at,
                expires_at: at + 30 * 86_400,
                target,
                target_kind: kind,
                reason: "mine now".into(),
            },
            &rogue_id,
        )
    };
    let stats = c.node.stats().clone();
    let unauthorised = move || {
        stats
            .rejected
            .get_or_create(&guild_service::stats::RefusalLabels {
                kind: "revocation".into(),
                reason: "unauthorised".into(),
            })
            .get()
    };
    let rejected0 = unauthorised();
    let fake = revoke_as_rogue(aid, guild_core::RecordKind::Attestation, now + 290);
    rogue
        .publish(Topic::Attestations, AnyRecord::from(fake).encode().unwrap())
        .await
        .unwrap();
    poll_until("c refused it as unauthorised", || {
        unauthorised() > rejected0
    })
    .await;
    assert_eq!(trust(&c, &b).await, before, "trust unchanged");

    // A need of a's, "withdrawn" by the stranger first: a's own withdrawal still works and
    // reaches c.
    let nid = a
        .node
        .ask(AskParams {
            text: "kicad review".into(),
            skills: vec![tag("kicad")],
            resources: vec![],
            expires_secs: None,
            ..Default::default()
        })
        .await
        .unwrap()
        .need
        .id;
    next_event(
        &mut c,
        "c matched a's need",
        |e| matches!(e, Event::NeedMatched { need, .. } if *need == nid),
    )
    .await;
    let rejected1 = unauthorised();
    let fake_withdrawal = revoke_as_rogue(nid, guild_core::RecordKind::Need, now + 290);
    rogue
        .publish(
            Topic::Needs,
            AnyRecord::from(fake_withdrawal).encode().unwrap(),
        )
        .await
        .unwrap();
    poll_until("c refused the fake withdrawal as unauthorised", || {
        unauthorised() > rejected1
    })
    .await;
    let open = c
        .node
        .needs(NeedsParams::default())
        .await
        .unwrap()
        .needs
        .iter()
        .any(|n| n.id == nid);
    assert!(open, "the need is still open on c");
    a.node
        .withdraw_need(WithdrawParams {
            need: nid,
            reason: String::new(),
        })
        .await
        .unwrap();
    next_event(
        &mut c,
        "a's withdrawal reaches c",
        |e| matches!(e, Event::NeedWithdrawn { need, .. } if *need == nid),
    )
    .await;

    // a's own revocation works, and the stranger cannot undo it.
    a.node
        .revoke(RevokeParams {
            attestation: aid,
            reason: String::new(),
        })
        .await
        .unwrap();
    until_status(
        &cn,
        aid,
        AttestationStatus::Revoked,
        "c honours a's revocation",
    )
    .await;
    assert_eq!(trust(&c, &b).await, 0.0);
    let _ = kc;
}

/// Issue 12: a newcomer with no collaboration of its own adds one trust root; ranks change at
/// once and `trust` explains the path from the root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomers_first_trust_root_changes_ranks_at_once() {
    use guild_core::control::reputation::{TrustAddParams, TrustRoots};
    use guild_core::control::ServiceCall;
    let mut a = TestNode::start(160, options("main", &[])).await;
    a.set_skills("ada", &["rust"]).await;
    let boot = [a.addr().await];
    let mut b = TestNode::start(161, options("main", &boot)).await;
    b.set_skills("bo", &["kicad"]).await;
    let fake = TestNode::start(162, options("main", &boot)).await;
    fake.set_skills("fake", &["kicad"]).await;
    let (kb, kf) = (b.key(), fake.key());
    a.until("a knows b", move |x| x.knows(&kb)).await;
    let cid = collaborate(&mut a, &mut b, "kicad").await;
    let aid = a.node.vouch(vouch(&b, "kicad", 5, cid)).await.unwrap().id;

    let newcomer = TestNode::start(163, options("main", &boot)).await;
    let ka = a.key();
    let nn = newcomer.node.clone();
    poll_until_async("the newcomer counts a's attestation", || {
        let nn = nn.clone();
        async move {
            nn.knows(&kb)
                && nn.knows(&kf)
                && nn
                    .attestations(AttestationsParams::default())
                    .await
                    .unwrap()
                    .attestations
                    .iter()
                    .any(|x| x.id == aid && x.status == AttestationStatus::Counted)
        }
    })
    .await;
    let q = Query {
        words: Some("kicad".into()),
        limit: 10,
        ..Query::default()
    };
    let before = newcomer.node.find(q.clone(), true).await.matches;
    assert!(
        before.iter().all(|m| m.trust.is_none()),
        "everyone is a stranger to a newcomer: {before:?}"
    );

    let roots: TrustRoots = TryFrom::try_from(
        newcomer
            .node
            .call(ServiceCall::TrustAdd(TrustAddParams {
                peer: ka,
                skill: None,
                note: "met Ada at the makerspace".into(),
            }))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(roots.roots.len(), 1);
    let after = newcomer.node.find(q, true).await.matches;
    assert_eq!(
        after[0].peer, kb,
        "b, vouched for by the root, ranks first at once"
    );
    assert!(after[0].trust.is_some());
    let fake_row = after.iter().find(|m| m.peer == kf).unwrap();
    assert!(fake_row.trust.is_none(), "the fake is still a stranger");
    let t = newcomer
        .node
        .trust(TrustParams {
            peer: kb,
            skill: Some(tag("kicad")),
        })
        .await
        .unwrap();
    assert!(t.score > 0.0);
    assert!(
        t.explanation
            .known()
            .is_some_and(|e| e.paths.iter().any(|p| p.nodes.contains(&ka))),
        "the explanation shows the path through the root: {:?}",
        t.explanation
    );
}
