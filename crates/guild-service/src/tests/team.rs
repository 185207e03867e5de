//! Teams: roles filled by accepted offers in one collaboration, releases, staffing.

use super::*;
use guild_core::control::ServiceCall;

fn role_input(label: &str, skill: &str, count: u8) -> RoleInput {
    RoleInput {
        label: tag(label),
        skills: vec![tag(skill)],
        resources: vec![],
        count,
        effort: None,
        note: String::new(),
    }
}

/// The asker posts a need with roles layout (1 person) and firmware (1 person).
fn post_project(a: &mut Harness) -> Signed<Need> {
    let (asked, _published) = a
        .svc
        .ask(
            AskParams {
                text: "a prototype".into(),
                roles: vec![
                    role_input("layout", "kicad", 1),
                    role_input("firmware", "embedded-rust", 1),
                ],
                ..Default::default()
            },
            T0,
        )
        .unwrap();
    assert_eq!(asked.need.roles.len(), 2);
    a.svc
        .store
        .get_typed::<Need>(&asked.need.id)
        .unwrap()
        .unwrap()
}

fn offer_on(
    a: &mut Harness,
    who: &Identity,
    n: &Signed<Need>,
    role: u8,
) -> (Signed<guild_core::Offer>, DirectResponse) {
    let o = sign(fixtures::role_offer(who, n, role, T0), who);
    let r = a.deliver(who, AnyRecord::Offer(o.clone()), MS);
    (o, r)
}

fn board(a: &mut Harness, need: &RecordId) -> Box<TeamBoard> {
    match a
        .call(ServiceCall::Team(TeamParams { need: *need }), MS)
        .unwrap()
    {
        Reply::Team(b) => b,
        other => panic!("a board: {other:?}"),
    }
}

fn accept(a: &mut Harness, offer: &RecordId) -> Result<Reply, CallError> {
    a.call(ServiceCall::Accept(AcceptParams { offer: *offer }), MS)
}

#[test]
fn every_accept_joins_one_team_and_a_filled_role_takes_no_one_else() {
    let mut a = harness(1);
    let (b, c, d, e) = (identity(2), identity(3), identity(4), identity(5));
    let n = post_project(&mut a);
    let (ob, r) = offer_on(&mut a, &b, &n, 0);
    assert_eq!(r, DirectResponse::Ack);
    let (oc, r) = offer_on(&mut a, &c, &n, 0);
    assert_eq!(
        r,
        DirectResponse::Ack,
        "a second offer on an open role is held"
    );
    let (od, r) = offer_on(&mut a, &d, &n, 1);
    assert_eq!(r, DirectResponse::Ack);
    let (_, r) = offer_on(&mut a, &e, &n, 2);
    assert_eq!(refusal(r), RefusalReason::Malformed, "no role 2");

    let board0 = board(&mut a, &n.id());
    assert_eq!(board0.status, Staffing::Staffing);
    assert_eq!(board0.roles[0].offers.len(), 2);
    assert_eq!(board0.roles[1].offers, vec![od.id()]);

    // The first accept opens the collaboration.
    let Reply::Collab(first) = accept(&mut a, &ob.id()).unwrap() else {
        panic!("a collaboration");
    };
    assert_eq!(first.members, vec![a.me.public(), b.public()]);
    // A second offer on the filled one-person role never enters it.
    let err = accept(&mut a, &oc.id()).unwrap_err();
    assert!(
        err.message.contains("role `layout`") && err.message.contains("is filled (1 of 1)"),
        "{err:?}"
    );
    let (_, r) = offer_on(&mut a, &e, &n, 0);
    assert_eq!(
        refusal(r),
        RefusalReason::Closed,
        "an offer on a filled role is refused"
    );
    a.requests();

    // The second accept joins the same collaboration, by an accept entry.
    let Reply::Collab(second) = accept(&mut a, &od.id()).unwrap() else {
        panic!("a collaboration");
    };
    assert_eq!(second.id, first.id, "one team, one space");
    assert_eq!(second.members, vec![a.me.public(), b.public(), d.public()]);
    let requests = a.requests();
    assert!(requests.iter().any(|(_, to, req)| *to == d.public()
        && matches!(req, DirectRequest::Invite { invite, .. }
            if matches!(&**invite, AnyRecord::CollabEntry(e) if matches!(e.body.entry, EntryKind::Accept { offerer, .. } if offerer == d.public())))),
        "d gets the record, its log and the accept");
    assert!(requests.iter().any(|(_, to, req)| *to == b.public()
        && matches!(req, DirectRequest::Deliver(r) if matches!(&**r, AnyRecord::CollabEntry(_)))),
        "b learns of the new member");

    // Every role filled: staffed, and the need withdrawn for everyone (no more matches).
    let full = board(&mut a, &n.id());
    assert_eq!(full.status, Staffing::Staffed);
    assert!(full.roles.iter().all(|r| r.filled));
    assert_eq!(full.roles[0].members, vec![b.public()]);
    assert_eq!(full.roles[0].offers, vec![oc.id()]);
    assert!(a.svc.state.attestations.is_revoked(&n.id()));
    let (_, r) = offer_on(&mut a, &e, &n, 1);
    assert_eq!(refusal(r), RefusalReason::Closed);

    // Releasing d (who wrote nothing) reopens firmware; it can be refilled from offers in hand,
    // and a member who wrote cannot be released.
    let Reply::Team(after) = a
        .call(
            ServiceCall::TeamRelease(ReleaseParams { offer: od.id() }),
            MS,
        )
        .unwrap()
    else {
        panic!("a board");
    };
    assert!(!after.roles[1].filled);
    assert!(after.roles[1].members.is_empty());
    let view = a.svc.collab_view(&first.id, false).unwrap();
    assert_eq!(view.members, vec![a.me.public(), b.public()]);
    let err = accept(&mut a, &od.id()).unwrap_err();
    assert!(
        err.message.contains("already accepted") || err.message.contains("released"),
        "{err:?}"
    );
    let post = entry(
        &b,
        first.id,
        1,
        9,
        EntryKind::Post {
            text: "started".into(),
        },
        T0,
    );
    assert_eq!(
        a.deliver(&b, AnyRecord::CollabEntry(post), MS),
        DirectResponse::Ack
    );
    let err = a
        .call(
            ServiceCall::TeamRelease(ReleaseParams { offer: ob.id() }),
            MS,
        )
        .unwrap_err();
    assert!(err.message.contains("work has started"), "{err:?}");
}

#[test]
fn an_accept_makes_a_member_only_of_the_offerer_it_names() {
    let mut c = harness(3);
    let a = identity(1);
    let b = identity(2);
    let n = sign(
        fixtures::project_need(
            &a,
            "a prototype",
            vec![
                fixtures::role("layout", &["kicad"], 1),
                fixtures::role("firmware", &["rust"], 1),
            ],
            T0,
        ),
        &a,
    );
    c.svc.store_record(&AnyRecord::Need(n.clone()), T0).unwrap();
    let ob = sign(fixtures::role_offer(&b, &n, 0, T0), &b);
    let oc = sign(fixtures::role_offer(&c.me, &n, 1, T0), &c.me);
    c.svc
        .store_record(&AnyRecord::Offer(oc.clone()), T0)
        .unwrap();
    let collab = sign(
        fixtures::collaboration(&a, n.clone(), vec![ob.clone()], T0),
        &a,
    );
    let invite = |by: &Identity, offer: RecordId| {
        let e = entry(
            by,
            collab.id(),
            1,
            1,
            EntryKind::Accept {
                offerer: c.me.public(),
                offer,
            },
            T0,
        );
        let req = DirectRequest::Invite {
            collaboration: Box::new(AnyRecord::Collaboration(collab.clone())),
            invite: Box::new(AnyRecord::CollabEntry(e)),
            log: vec![],
        };
        guild_core::codec::encode(&req).unwrap()
    };
    // An accept naming an offer c never made, or signed by someone other than the asker.
    let forged = invite(&a, ob.id());
    assert_eq!(
        refusal(c.svc.received_request(a.public(), &forged, MS)),
        RefusalReason::Unauthorised
    );
    let by_b = invite(&b, oc.id());
    assert!(matches!(
        c.svc.received_request(b.public(), &by_b, MS),
        DirectResponse::Error { .. }
    ));
    assert!(c.svc.collab_show(&collab.id()).is_err(), "not a member");
    // The asker's accept of c's own offer: a member at once, no join needed.
    let real = invite(&a, oc.id());
    assert_eq!(
        c.svc.received_request(a.public(), &real, MS),
        DirectResponse::Ack
    );
    let view = c.svc.collab_show(&collab.id()).unwrap();
    assert_eq!(view.members, vec![a.public(), b.public(), c.me.public()]);
    assert!(c
        .events()
        .iter()
        .any(|e| matches!(e, Event::CollabOpened { collab: id, .. } if *id == collab.id())));
}

#[test]
fn need_matched_names_the_roles_that_fit() {
    let mut d = harness(4);
    d.call(
        ServiceCall::ProfileSet(guild_core::control::ProfileSetParams {
            name: "Dee".into(),
            resources: vec![guild_core::control::ResourceInput {
                tag: tag("3d-printer"),
                description: None,
                availability: None,
            }],
            ..Default::default()
        }),
        MS,
    )
    .unwrap();
    d.events();
    let a = identity(1);
    trust_root(&mut d, &a);
    let n = sign(
        fixtures::project_need(
            &a,
            "a prototype",
            vec![
                fixtures::role("layout", &["kicad"], 1),
                // Asked as a skill: a role's tags match resources too.
                fixtures::role("enclosure", &["3d-printer"], 1),
            ],
            T0,
        ),
        &a,
    );
    d.gossip(&a, AnyRecord::Need(n.clone()), MS).unwrap();
    let matched: Vec<Vec<guild_core::SkillTag>> = d
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::NeedMatched { roles, .. } => Some(roles),
            _ => None,
        })
        .collect();
    assert_eq!(matched, vec![vec![tag("enclosure")]]);
}

#[test]
fn suggestions_rank_a_vouched_member_who_worked_with_the_team_above_strangers_and_say_why() {
    let mut a = harness(1);
    let (r, b) = (identity(2), identity(3));
    let strangers = [identity(4), identity(5)];
    for (who, name, skills) in [
        (&r, "Rae", &["embedded-rust"][..]),
        (&b, "Bea", &["kicad"][..]),
        (&strangers[0], "Sam", &["kicad"][..]),
        (&strangers[1], "Sol", &["kicad"][..]),
    ] {
        let p = sign(fixtures::profile(who, name, skills, T0), who);
        a.gossip(who, AnyRecord::Profile(p), MS).unwrap();
    }
    // a trusts r; r worked with b and vouched for b's kicad (counted here, with its proof).
    trust_root(&mut a, &r);
    counted_attestation(&mut a, &r, &b, MS);
    // r is on the team: accepted for firmware.
    let n = post_project(&mut a);
    let (or, resp) = offer_on(&mut a, &r, &n, 1);
    assert_eq!(resp, DirectResponse::Ack);
    accept(&mut a, &or.id()).unwrap();

    let Reply::Suggestions(s) = a
        .call(ServiceCall::TeamSuggest(TeamParams { need: n.id() }), MS)
        .unwrap()
    else {
        panic!("suggestions");
    };
    let layout = &s.roles[0];
    assert_eq!(layout.label, tag("layout"));
    assert!(layout.open);
    let order: Vec<PublicKey> = layout.candidates.iter().map(|c| c.peer).collect();
    assert_eq!(order.len(), 3, "{order:?}");
    assert_eq!(
        order[0],
        b.public(),
        "the vouched member first: {:?}",
        layout.candidates
    );
    let best = &layout.candidates[0];
    assert!(best.trust.is_some_and(|t| t > 0.0));
    assert_eq!(best.worked_with, vec![r.public()]);
    let why = best.why.join("; ");
    assert!(why.contains("has kicad"), "{why}");
    assert!(why.contains("a trust path from you"), "{why}");
    assert!(why.contains("worked well with Rae"), "{why}");
    for c in &layout.candidates[1..] {
        assert!(c.trust.is_none() && c.worked_with.is_empty());
        assert!(
            c.why.iter().any(|w| w.contains("a stranger to you")),
            "{:?}",
            c.why
        );
    }
    // Members already on the team are not suggested; a filled role says so.
    let firmware = &s.roles[1];
    assert!(!firmware.open);
    assert!(firmware.candidates.iter().all(|c| c.peer != r.public()));
}
