//! Invitations (the inviter's record of its codes, join answers) and sponsored newcomers in a
//! flood of minted identities.

use super::*;
use crate::invite::PER_SPONSOR;
use guild_core::control::invite::{InviteCreateParams, InviteRevokeParams, Joined};
use guild_core::invite::SignedInvitation;
use guild_core::wire::JoinRefusal;
use guild_core::Sponsorship;

fn sponsorship(sponsor: &Identity, newcomer: &Identity, at: UnixTime) -> AnyRecord {
    AnyRecord::Sponsorship(sign(
        Sponsorship {
            version: guild_core::record::RECORD_VERSION,
            issuer: sponsor.public(),
            newcomer: newcomer.public(),
            invite: [1; 16],
            issued_at: at,
            expires_at: at + 90 * 86_400,
        },
        sponsor,
    ))
}

fn message(from: &Identity, to: &Identity, i: u64) -> AnyRecord {
    AnyRecord::Message(sign(
        Message {
            version: guild_core::record::RECORD_VERSION,
            issuer: from.public(),
            to: to.public(),
            issued_at: T0,
            expires_at: T0 + 86_400,
            nonce: i,
            text: format!("hello {i}"),
        },
        from,
    ))
}

fn create(v: &mut Harness, uses: u32, secs: u64) -> SignedInvitation {
    let view = v
        .svc
        .create_invite(
            InviteCreateParams {
                expires_secs: Some(secs),
                uses: Some(uses),
                note: "welcome".into(),
            },
            "main",
            vec!["/ip4/127.0.0.1/tcp/4001".into()],
            T0,
        )
        .unwrap();
    SignedInvitation::parse(&view.code).unwrap()
}

/// The newcomer `n` presents `code` to the inviter `v`; returns the newcomer's call result.
fn join(
    n: &mut Harness,
    v: &mut Harness,
    code: SignedInvitation,
    now: Millis,
) -> Result<Reply, CallError> {
    n.next_call += 1;
    let call = CallId(n.next_call);
    n.svc.join(call, code, now);
    let (id, to, req) = n.requests().pop().expect("a join request");
    assert_eq!(to, v.me.public());
    let bytes = guild_core::codec::encode(&req).unwrap();
    let resp = v.svc.received_request(n.me.public(), &bytes, now);
    n.svc.received_response(id, Ok(resp), now);
    n.reply(call).expect("answered")
}

fn refused(r: Result<Reply, CallError>, why: JoinRefusal) {
    let e = r.expect_err("refused");
    assert_eq!(e, guild_core::control::invite::join_refused(why));
}

#[test]
fn an_inviter_sponsors_each_use_of_its_code_once_and_refuses_the_rest() {
    let mut v = harness(1);
    let code = create(&mut v, 1, 86_400);
    let mut n = harness(2);
    let joined: Joined = match join(&mut n, &mut v, code.clone(), MS).unwrap() {
        Reply::Joined(j) => j,
        other => panic!("{other:?}"),
    };
    assert_eq!(joined.inviter, v.me.public());
    assert_eq!(joined.sponsored_until, T0 + 90 * 86_400);
    // Both hold the sponsorship; the inviter was told who joined.
    assert_eq!(n.svc.sponsors_of(&n.me.public()), vec![v.me.public()]);
    assert_eq!(v.svc.sponsors_of(&n.me.public()), vec![v.me.public()]);
    assert!(v.events().iter().any(|e| matches!(
        e,
        Event::InviteJoined { peer, uses: 1, .. } if *peer == n.me.public()
    )));
    let list = match v.call(ServiceCall::InviteList, MS).unwrap() {
        Reply::Invites(l) => l,
        other => panic!("{other:?}"),
    };
    assert_eq!(list.invites[0].uses, 1);
    assert_eq!(list.invites[0].joined, vec![n.me.public()]);
    // The same newcomer asking again is answered (not a second use); another is refused.
    assert!(join(&mut n, &mut v, code.clone(), MS).is_ok());
    let mut other = harness(3);
    refused(
        join(&mut other, &mut v, code.clone(), MS),
        JoinRefusal::UsedUp,
    );
    assert!(other.svc.sponsors_of(&other.me.public()).is_empty());
    // Revoked, expired and unknown codes.
    let code2 = create(&mut v, 3, 3_600);
    v.call(
        ServiceCall::InviteRevoke(InviteRevokeParams {
            id: code2.id_hex(),
            sponsorships: false,
        }),
        MS,
    )
    .unwrap();
    refused(join(&mut other, &mut v, code2, MS), JoinRefusal::Revoked);
    let code3 = create(&mut v, 3, 3_600);
    refused(
        join(&mut other, &mut v, code3.clone(), MS + 3_601_000),
        JoinRefusal::Expired,
    );
    let mut stranger_v = harness(4);
    let foreign = create(&mut stranger_v, 1, 3_600);
    let mut forged = foreign.clone();
    forged.body.inviter = v.me.public();
    refused(join(&mut other, &mut v, forged, MS), JoinRefusal::Unknown);
    // A code with a changed field under the same id is refused as invalid.
    let mut changed = code3.clone();
    changed.body.max_uses = 8;
    refused(join(&mut other, &mut v, changed, MS), JoinRefusal::Invalid);
    // Uses are counted durably: a restarted inviter still refuses the used-up code.
    let store = v.svc.store().clone();
    let mut v2 = Harness {
        svc: Service::new(identity(1), store, ServiceConfig::default(), 9, MS).unwrap(),
        me: identity(1),
        next_call: 0,
    };
    refused(join(&mut other, &mut v2, code, MS), JoinRefusal::UsedUp);
    assert_eq!(v2.svc.sponsors_of(&n.me.public()), vec![v.me.public()]);
}

#[test]
fn sponsorships_count_only_from_members_we_reach_and_only_the_newest_per_sponsor() {
    let mut v = harness(1);
    let friend = identity(2);
    trust_root(&mut v, &friend);
    let stranger = identity(3);
    let newcomer = identity(4);
    // A stranger's sponsorship is refused before its signature is checked, and lifts no one.
    let r = v.gossip(&friend, sponsorship(&stranger, &newcomer, T0), MS);
    assert_eq!(r.unwrap_err().reason, RefusalReason::Unknown);
    assert_eq!(v.svc.tier_of(&newcomer.public()), admission::Tier::Stranger);
    // A friend's lifts the newcomer to member budgets, without trust.
    v.gossip(&friend, sponsorship(&friend, &newcomer, T0), MS)
        .unwrap();
    assert_eq!(v.svc.tier_of(&newcomer.public()), admission::Tier::Member);
    assert!(v.svc.is_sponsored(&newcomer.public()));
    assert_eq!(v.svc.standing().trust(&newcomer.public()), 0.0);
    // A sponsored newcomer sponsors no one in turn.
    let second = identity(5);
    let r = v.gossip(&friend, sponsorship(&newcomer, &second, T0), MS);
    assert!(r.is_err());
    assert_eq!(v.svc.tier_of(&second.public()), admission::Tier::Stranger);
    // Minted newcomers: the friend's sponsorships beyond the bound push out the oldest.
    let minted: Vec<Identity> = (0..20).map(fresh).collect();
    for (i, m) in minted.iter().enumerate() {
        let _ = v.gossip(&friend, sponsorship(&friend, m, T0 + 1 + i as u64), MS);
    }
    let lifted = minted
        .iter()
        .filter(|m| v.svc.tier_of(&m.public()) == admission::Tier::Member)
        .count();
    assert_eq!(lifted, PER_SPONSOR);
    assert_eq!(v.svc.tier_of(&newcomer.public()), admission::Tier::Stranger);
    assert!(v
        .svc
        .known_members(64)
        .contains(&minted[minted.len() - 1].public()));
}

#[test]
fn in_a_flood_of_minted_identities_a_sponsored_newcomers_need_is_alerted_and_message_kept() {
    for sponsored in [true, false] {
        let mut v = harness(1);
        let friend = identity(2);
        trust_root(&mut v, &friend);
        let mine = fixtures::profile(&v.me, "me", &["kicad"], T0);
        v.svc.set_profile(
            CallId(900),
            guild_core::control::ProfileDraft::from_profile(&mine),
            MS,
        );
        let newcomer = identity(7);
        if sponsored {
            v.gossip(&friend, sponsorship(&friend, &newcomer, T0), MS)
                .unwrap();
        }
        // The newcomer writes first; then 600 minted identities flood needs and messages.
        let reply = v.deliver(&newcomer, message(&newcomer, &v.me, 0), MS);
        assert_eq!(reply, DirectResponse::Ack);
        let flood: Vec<Identity> = (0..600).map(|i| fresh(50_000 + i)).collect();
        for (i, s) in flood.iter().enumerate() {
            let n = sign(fixtures::need(s, "please", &["kicad"], T0), s);
            let _ = v.gossip(s, AnyRecord::Need(n), MS);
            let _ = v.deliver(s, message(s, &v.me, i as u64), MS);
        }
        let _ = v.events();
        let need = sign(
            fixtures::need(&newcomer, "first need", &["kicad"], T0),
            &newcomer,
        );
        let _ = v.gossip(&newcomer, AnyRecord::Need(need), MS);
        let alerted = v
            .events()
            .iter()
            .any(|e| matches!(e, Event::NeedMatched { asker, .. } if *asker == newcomer.public()));
        let inbox = match v
            .call(ServiceCall::Inbox(InboxParams::default()), MS)
            .unwrap()
        {
            Reply::Inbox(i) => i,
            other => panic!("{other:?}"),
        };
        let kept = inbox.messages.iter().any(|m| m.from == newcomer.public());
        if sponsored {
            assert!(alerted, "the sponsored newcomer's need is alerted");
            assert!(kept, "the sponsored newcomer's message is kept");
        } else {
            assert!(
                !alerted,
                "unsponsored, the need waits behind the flood's alerts (not alerted at once)"
            );
            assert!(
                !kept,
                "unsponsored, one message among 600 equal strangers' is evicted"
            );
        }
    }
}

#[test]
fn a_sponsor_withdraws_the_sponsorships_of_a_code_and_its_newcomers_are_strangers_again() {
    // The sponsor issues a sponsorship through a join; a node that trusts the sponsor lifts
    // the newcomer, until the sponsor revokes the code with its sponsorships.
    let mut sponsor = harness(1);
    let code = create(&mut sponsor, 2, 86_400);
    let mut n = harness(2);
    join(&mut n, &mut sponsor, code.clone(), MS).unwrap();
    let record = sponsor
        .svc
        .store()
        .records_of_kind(RecordKind::Sponsorship)
        .next()
        .unwrap()
        .unwrap();
    let mut v = harness(3);
    trust_root(&mut v, &sponsor.me);
    v.gossip(&sponsor.me, record, MS).unwrap();
    assert_eq!(v.svc.tier_of(&n.me.public()), admission::Tier::Member);
    let _ = sponsor.svc.take_outbox();
    sponsor
        .call(
            ServiceCall::InviteRevoke(InviteRevokeParams {
                id: code.id_hex(),
                sponsorships: true,
            }),
            MS,
        )
        .unwrap();
    assert!(sponsor.svc.sponsors_of(&n.me.public()).is_empty());
    let published: Vec<AnyRecord> = sponsor
        .svc
        .take_outbox()
        .into_iter()
        .filter_map(|io| match io {
            Io::Publish { data, .. } => AnyRecord::decode(&data).ok(),
            _ => None,
        })
        .collect();
    let revocation = published
        .into_iter()
        .find(|r| matches!(r, AnyRecord::Revocation(x) if x.body.target_kind == RecordKind::Sponsorship))
        .expect("the revocation is published");
    v.gossip(&sponsor.me, revocation, MS).unwrap();
    assert_eq!(v.svc.tier_of(&n.me.public()), admission::Tier::Stranger);
    // After a restart too.
    let store = v.svc.store().clone();
    let mut v2 = Service::new(identity(3), store, ServiceConfig::default(), 5, MS).unwrap();
    assert!(v2.sponsors_of(&n.me.public()).is_empty());
    assert_eq!(v2.tier_of(&n.me.public()), admission::Tier::Stranger);
}
