//! A team assembled for one piece of work, end to end with real daemons: a need with three
//! roles, each member matched on their own role only, one collaboration for the whole team,
//! an offer on a filled role refused, and an attestation between two teammates that counts on a
//! fifth node. Real TCP on 127.0.0.1, mDNS off.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{next_event, options, poll_until_async, TestNode};
use guild_core::control::pull::*;
use guild_core::control::reputation::*;
use guild_core::control::{Event, Reply, ServiceCall};
use guild_core::fixtures::tag;
use guild_core::RecordId;

fn role(label: &str, skill: &str) -> RoleInput {
    RoleInput {
        label: tag(label),
        skills: vec![tag(skill)],
        resources: vec![],
        count: 1,
        effort: None,
        note: String::new(),
    }
}

/// Waits until `n` sees the need `nid` matched and returns the roles it was told fit.
async fn matched_roles(n: &mut TestNode, nid: RecordId) -> Vec<String> {
    let Event::NeedMatched { roles, .. } = next_event(
        n,
        "need.matched",
        |e| matches!(e, Event::NeedMatched { need, .. } if *need == nid),
    )
    .await
    else {
        unreachable!()
    };
    roles.iter().map(|r| r.to_string()).collect()
}

async fn offer(n: &TestNode, nid: RecordId, label: &str) -> Delivery {
    n.node
        .offer(OfferParams {
            need: nid,
            text: format!("I can take {label}"),
            role: Some(tag(label)),
        })
        .await
        .unwrap()
}

/// Waits until `n` holds collaboration `cid` with `members` members, each having written
/// `posts` posts and `closes` closes seen.
async fn until_collab(
    n: &TestNode,
    cid: RecordId,
    what: &str,
    check: impl Fn(&CollabView) -> bool + Clone,
) {
    let node = n.node.clone();
    poll_until_async(what, || {
        let node = node.clone();
        let check = check.clone();
        async move { node.collab_show(&cid).await.is_ok_and(|v| check(&v)) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_role_team_works_in_one_space_and_teammates_vouch_for_each_other() {
    let a = TestNode::start(150, options("main", &[])).await;
    a.set_skills("ada", &["project-management"]).await;
    let boot = vec![a.addr().await];
    let mut b = TestNode::start(151, options("main", &boot)).await;
    b.set_skills("bea", &["kicad"]).await;
    let mut c = TestNode::start(152, options("main", &boot)).await;
    c.set_skills("cal", &["firmware"]).await;
    let mut d = TestNode::start(153, options("main", &boot)).await;
    d.set_skills("dan", &["3d-printer"]).await;
    let mut e = TestNode::start(154, options("main", &boot)).await;
    e.set_skills("eve", &["woodwork"]).await;
    let keys = [a.key(), b.key(), c.key(), d.key(), e.key()];
    for n in [&mut b, &mut c, &mut d, &mut e] {
        n.until("it knows everyone", move |x| {
            keys.iter().all(|k| x.knows(k))
        })
        .await;
    }

    // A posts a need with three roles; B, C and D are each matched on their own role only.
    let asked = a
        .node
        .ask(AskParams {
            text: "A hardware prototype: board, firmware, enclosure".into(),
            roles: vec![
                role("layout", "kicad"),
                role("firmware", "firmware"),
                role("enclosure", "3d-printer"),
            ],
            place: Some("remote".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let nid = asked.need.id;
    assert_eq!(asked.need.roles.len(), 3);
    assert_eq!(matched_roles(&mut b, nid).await, vec!["layout"]);
    assert_eq!(matched_roles(&mut c, nid).await, vec!["firmware"]);
    assert_eq!(matched_roles(&mut d, nid).await, vec!["enclosure"]);
    let en = e.node.clone();
    poll_until_async("e holds the need", || {
        let en = en.clone();
        async move {
            en.needs(NeedsParams::default())
                .await
                .unwrap()
                .needs
                .iter()
                .any(|n| n.id == nid && n.matched_roles.is_empty())
        }
    })
    .await;

    // Each offers on their role; A accepts the three into one collaboration.
    let ob = offer(&b, nid, "layout").await;
    let oc = offer(&c, nid, "firmware").await;
    let od = offer(&d, nid, "enclosure").await;
    assert!(ob.delivered && oc.delivered && od.delivered);
    let cid = a
        .node
        .accept(AcceptParams { offer: ob.id })
        .await
        .unwrap()
        .id;
    next_event(
        &mut b,
        "b joins",
        |e| matches!(e, Event::CollabOpened { collab, .. } if *collab == cid),
    )
    .await;

    // An offer on the filled role is refused with a clear error, and never enters the team.
    let late = offer(&e, nid, "layout").await;
    assert!(!late.delivered && !late.retrying, "{late:?}");
    let why = late.error.unwrap_or_default();
    assert!(
        why.contains("role `layout`") && why.contains("is filled (1 of 1)"),
        "{why}"
    );

    let second = a.node.accept(AcceptParams { offer: oc.id }).await.unwrap();
    assert_eq!(second.id, cid, "one team, one space");
    next_event(
        &mut c,
        "c joins",
        |e| matches!(e, Event::CollabOpened { collab, .. } if *collab == cid),
    )
    .await;
    let third = a.node.accept(AcceptParams { offer: od.id }).await.unwrap();
    assert_eq!(third.id, cid);
    assert_eq!(third.members.len(), 4);
    next_event(
        &mut d,
        "d joins",
        |e| matches!(e, Event::CollabOpened { collab, .. } if *collab == cid),
    )
    .await;

    // The board: every role filled, the need staffed.
    let Reply::Team(board) = a
        .node
        .call(ServiceCall::Team(TeamParams { need: nid }))
        .await
        .unwrap()
    else {
        panic!("a board");
    };
    assert_eq!(board.status, Staffing::Staffed);
    assert_eq!(board.collab, Some(cid));
    let members: Vec<_> = board
        .roles
        .iter()
        .map(|r| (r.filled, r.members.clone()))
        .collect();
    assert_eq!(
        members,
        vec![
            (true, vec![b.key()]),
            (true, vec![c.key()]),
            (true, vec![d.key()])
        ]
    );

    // Every node sees one collaboration of four members.
    let four = |v: &CollabView| v.members.len() == 4 && v.member;
    for (n, what) in [(&a, "a"), (&b, "b"), (&c, "c"), (&d, "d")] {
        until_collab(n, cid, &format!("{what} sees four members"), four).await;
    }

    // Everyone posts, then everyone closes.
    for n in [&a, &b, &c, &d] {
        n.node
            .collab_post(&cid, "my part is done".into())
            .await
            .unwrap();
    }
    let posts = |v: &CollabView| v.entries.iter().filter(|e| e.kind == "post").count() == 4;
    for (n, what) in [(&a, "a"), (&b, "b"), (&c, "c"), (&d, "d")] {
        until_collab(n, cid, &format!("{what} sees every post"), posts).await;
    }
    for n in [&a, &b, &c, &d] {
        n.node.collab_close(&cid, String::new()).await.unwrap();
    }
    let all_closed = |v: &CollabView| v.closed_by.len() == 4;
    until_collab(&d, cid, "d sees every close", all_closed).await;

    // D vouches for B — teammates, not asker and offerer — and it counts on a fifth node.
    let v = d
        .node
        .vouch(VouchParams {
            peer: b.key(),
            skill: tag("kicad"),
            score: 5,
            collab: cid,
            note: "clean layout, fitted the enclosure".into(),
            expires_secs: None,
        })
        .await
        .unwrap();
    assert_eq!(v.status, AttestationStatus::Counted);
    let aid = v.id;
    poll_until_async("e counts d's attestation about b", || {
        let en = en.clone();
        async move {
            en.attestations(AttestationsParams::default())
                .await
                .unwrap()
                .attestations
                .iter()
                .any(|x| x.id == aid && x.status == AttestationStatus::Counted)
        }
    })
    .await;
}
