//! Budgets for strangers' offers, messages, invitations and entries.

use super::*;

#[test]
fn a_strangers_messages_and_offers_are_budgeted_a_collaborators_are_not_starved() {
    let mut a = harness(2);
    let stranger = identity(5);
    let msg = |from: &Identity, i: u64| {
        AnyRecord::Message(sign(
            Message {
                version: guild_core::record::RECORD_VERSION,
                issuer: from.public(),
                to: identity(2).public(),
                issued_at: T0,
                expires_at: T0 + 86_400,
                nonce: i,
                text: format!("hello {i}"),
            },
            from,
        ))
    };
    let mut accepted = 0;
    for i in 0..25 {
        match a.deliver(&stranger, msg(&stranger, i), MS) {
            DirectResponse::Ack => accepted += 1,
            other => assert_eq!(refusal(other), RefusalReason::RateLimited),
        }
    }
    // Whichever is smaller: the hourly budget, or the messages a stranger may have stored.
    let stranger_cap = admission::MESSAGES_PER_HOUR
        .stranger
        .min(admission::MESSAGE_QUOTA.stranger.count);
    assert_eq!(accepted, stranger_cap);
    assert!(
        a.svc
            .admission
            .usage(&stranger.public(), RecordKind::Message)
            .bytes
            <= admission::MESSAGE_QUOTA.stranger.bytes
    );
    // A collaborator gets the larger budget.
    let b = identity(3);
    let n = a_need(&a.me, T0);
    let o = sign(fixtures::offer(&b, &n, T0), &b);
    let c = sign(
        fixtures::collaboration(&a.me, n.clone(), vec![o], T0),
        &a.me,
    );
    a.svc
        .store_record(&AnyRecord::Collaboration(c), T0)
        .unwrap();
    for i in 0..25 {
        assert_eq!(a.deliver(&b, msg(&b, i), MS), DirectResponse::Ack);
    }
    // Offers: a few per member on one need.
    a.svc.store_record(&AnyRecord::Need(n.clone()), T0).ok();
    let mut ok = 0;
    for i in 0..5u64 {
        let mut body = fixtures::offer(&stranger, &n, T0);
        body.text = format!("offer {i}");
        match a.deliver(&stranger, AnyRecord::Offer(sign(body, &stranger)), MS) {
            DirectResponse::Ack => ok += 1,
            other => assert_eq!(refusal(other), RefusalReason::RateLimited),
        }
    }
    assert_eq!(ok, admission::OFFERS_PER_NEED.stranger);
}

#[test]
fn a_stranger_may_have_one_invitation_waiting() {
    let mut v = harness(1);
    let stranger = identity(5);
    let helper = identity(6);
    let invite_at = |v: &mut Harness, text: &str, t0: UnixTime| {
        let mut n = fixtures::need(&stranger, text, &["kicad"], t0);
        n.text = text.into();
        let n = sign(n, &stranger);
        let o = sign(fixtures::offer(&helper, &n, t0), &helper);
        let c = sign(
            fixtures::collaboration(&stranger, n, vec![o], t0),
            &stranger,
        );
        let inv = entry(
            &stranger,
            c.id(),
            1,
            1,
            EntryKind::Invite {
                member: identity(1).public(),
            },
            t0,
        );
        let req = DirectRequest::Invite {
            collaboration: Box::new(AnyRecord::Collaboration(c)),
            invite: Box::new(AnyRecord::CollabEntry(inv)),
            log: vec![],
        };
        let bytes = guild_core::codec::encode(&req).unwrap();
        v.svc.received_request(stranger.public(), &bytes, t0 * 1000)
    };
    let invite = |v: &mut Harness, text: &str| invite_at(v, text, T0);
    assert_eq!(invite(&mut v, "first"), DirectResponse::Ack);
    assert_eq!(
        refusal(invite(&mut v, "second")),
        RefusalReason::RateLimited
    );
    let list = v.svc.collab_list();
    assert_eq!(list.collabs.len(), 1, "one pending invitation");
    assert!(!list.collabs[0].member, "kept apart until the owner joins");
    let records = v.svc.counts().records;
    // Unanswered, it is swept with its log after a while; the stranger may invite again.
    let later = T0 + admission::INVITATION_DAYS * 86_400 + 60;
    v.svc.tick(later * 1000);
    assert!(v.svc.collab_list().collabs.is_empty(), "swept");
    assert!(
        v.svc.counts().records < records,
        "its records left the store"
    );
    assert_eq!(invite_at(&mut v, "third", later), DirectResponse::Ack);
}

#[test]
fn an_authors_entries_may_arrive_out_of_order_but_a_number_is_used_once() {
    let mut b = harness(3);
    let a = identity(2);
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
    let post = |seq: u64, text: &str| {
        AnyRecord::CollabEntry(entry(
            &a,
            c.id(),
            seq,
            seq,
            EntryKind::Post { text: text.into() },
            T0,
        ))
    };
    // Two concurrent posts: the second delivery overtakes the first.
    assert_eq!(b.deliver(&a, post(2, "two"), MS), DirectResponse::Ack);
    assert_eq!(b.deliver(&a, post(1, "one"), MS), DirectResponse::Ack);
    assert_eq!(b.svc.collab_show(&c.id()).unwrap().entries.len(), 2);
    assert_eq!(
        refusal(b.deliver(&a, post(1, "rewritten"), MS)),
        RefusalReason::Malformed
    );
}

/// A collaboration `asker` founded with `helper`, and `asker`'s invitation of `member` to it.
fn invitation(
    asker: &Identity,
    helper: &Identity,
    member: &Identity,
    text: &str,
) -> (Signed<Collaboration>, Signed<CollabEntry>) {
    let mut n = fixtures::need(asker, text, &["kicad"], T0);
    n.text = text.into();
    let n = sign(n, asker);
    let o = sign(fixtures::offer(helper, &n, T0), helper);
    let c = sign(fixtures::collaboration(asker, n, vec![o], T0), asker);
    let inv = entry(
        asker,
        c.id(),
        1,
        1,
        EntryKind::Invite {
            member: member.public(),
        },
        T0,
    );
    (c, inv)
}

fn send_invitation(
    v: &mut Harness,
    from: &Identity,
    c: Signed<Collaboration>,
    inv: Signed<CollabEntry>,
    log: Vec<Signed<CollabEntry>>,
) -> DirectResponse {
    let req = DirectRequest::Invite {
        collaboration: Box::new(AnyRecord::Collaboration(c)),
        invite: Box::new(AnyRecord::CollabEntry(inv)),
        log: log.into_iter().map(AnyRecord::CollabEntry).collect(),
    };
    let bytes = guild_core::codec::encode(&req).unwrap();
    v.svc.received_request(from.public(), &bytes, MS)
}

#[test]
fn strangers_together_leave_few_invitations_waiting() {
    let mut v = harness(1);
    let helper = identity(6);
    for i in 0..admission::STRANGER_INVITATIONS_WAITING as u8 {
        let stranger = identity(40 + i);
        let (c, inv) = invitation(&stranger, &helper, &v.me, &format!("job {i}"));
        assert_eq!(
            send_invitation(&mut v, &stranger, c, inv, vec![]),
            DirectResponse::Ack,
            "stranger {i}"
        );
    }
    let late = identity(90);
    let (c, inv) = invitation(&late, &helper, &v.me, "one more");
    assert_eq!(
        refusal(send_invitation(&mut v, &late, c, inv, vec![])),
        RefusalReason::RateLimited
    );
    assert_eq!(
        v.svc.collab_list().collabs.len(),
        admission::STRANGER_INVITATIONS_WAITING
    );
}

#[test]
fn a_refused_invitation_is_refused_before_its_signatures_are_checked() {
    let mut v = harness(1);
    let stranger = identity(5);
    let helper = identity(6);
    let (c, inv) = invitation(&stranger, &helper, &v.me, "first");
    assert_eq!(
        send_invitation(&mut v, &stranger, c, inv, vec![]),
        DirectResponse::Ack
    );
    // A second one while the first waits, its log full of entries whose signatures are bad:
    // the budget refuses it (RateLimited), which it could not if the signatures came first.
    let (c, inv) = invitation(&stranger, &helper, &v.me, "second");
    let mut log = Vec::new();
    for k in 0..200u64 {
        let mut e = entry(
            &stranger,
            c.id(),
            2 + k,
            2 + k,
            EntryKind::Post {
                text: format!("post {k}"),
            },
            T0,
        );
        e.signature = inv.signature;
        log.push(e);
    }
    assert_eq!(
        refusal(send_invitation(&mut v, &stranger, c, inv, log)),
        RefusalReason::RateLimited
    );
}

#[test]
fn an_invitation_whose_log_is_too_big_or_makes_too_many_members_is_refused() {
    let mut v = harness(1);
    let asker = identity(5);
    let helper = identity(6);
    // Posts of 800 bytes: 170 of them exceed the log's byte limit though not its count.
    let (c, inv) = invitation(&asker, &helper, &v.me, "long log");
    let log: Vec<_> = (0..170u64)
        .map(|k| {
            entry(
                &asker,
                c.id(),
                2 + k,
                2 + k,
                EntryKind::Post {
                    text: "x".repeat(800),
                },
                T0,
            )
        })
        .collect();
    match send_invitation(&mut v, &asker, c, inv, log) {
        DirectResponse::Error { reason, message } => {
            assert_eq!(reason, RefusalReason::Oversized);
            assert!(message.contains("bytes"), "{message}");
        }
        other => panic!("not refused: {other:?}"),
    }
    // Invitations and joins that make more members than a collaboration may have.
    let (c, inv) = invitation(&asker, &helper, &v.me, "crowd");
    let mut log = vec![];
    for k in 0..guild_core::limits::MAX_COLLAB_MEMBERS as u64 {
        let joiner = identity(100 + k as u8);
        let invite = entry(
            &asker,
            c.id(),
            2 + k,
            2 + 2 * k,
            EntryKind::Invite {
                member: joiner.public(),
            },
            T0,
        );
        let join = entry(
            &joiner,
            c.id(),
            1,
            3 + 2 * k,
            EntryKind::Join {
                invite: invite.id(),
            },
            T0,
        );
        log.push(invite);
        log.push(join);
    }
    match send_invitation(&mut v, &asker, c, inv, log) {
        DirectResponse::Error { reason, message } => {
            assert_eq!(reason, RefusalReason::Oversized);
            assert!(message.contains("at most 32"), "{message}");
        }
        other => panic!("not refused: {other:?}"),
    }
    assert!(v.svc.collab_list().collabs.is_empty(), "nothing kept");
}

#[test]
fn a_flood_of_keys_sending_a_few_messages_each_evicts_itself_before_a_newcomers_message() {
    let mut a = harness(2);
    let msg = |from: &Identity, i: u64, at: UnixTime| {
        AnyRecord::Message(sign(
            Message {
                version: guild_core::record::RECORD_VERSION,
                issuer: from.public(),
                to: identity(2).public(),
                issued_at: at,
                expires_at: at + 86_400,
                nonce: i,
                text: format!("hello {i}"),
            },
            from,
        ))
    };
    let newcomer = identity(7);
    assert_eq!(
        a.deliver(&newcomer, msg(&newcomer, 0, T0), MS),
        DirectResponse::Ack
    );
    // 300 fresh keys, three messages each, all later than the newcomer's: far more than the
    // strangers' pool holds.
    let pool = admission::stranger_pool(RecordKind::Message).unwrap().count as usize;
    let mut acked = 0;
    for k in 0..300u32 {
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&k.to_be_bytes());
        secret[4] = 0xfe;
        let key = Identity::from_secret(secret);
        for i in 0..3 {
            if a.deliver(&key, msg(&key, i, T0 + 1 + u64::from(k)), MS) == DirectResponse::Ack {
                acked += 1;
            }
        }
    }
    assert!(
        acked > pool,
        "the flood overflowed the pool ({acked} stored)"
    );
    assert_eq!(
        a.svc.stranger_usage(RecordKind::Message).count as usize,
        pool,
        "the pool is full, not over"
    );
    let inbox = |a: &mut Harness| match a
        .call(
            ServiceCall::Inbox(InboxParams {
                include_sent: false,
            }),
            MS,
        )
        .unwrap()
    {
        Reply::Inbox(i) => i,
        other => panic!("{other:?}"),
    };
    assert!(
        inbox(&mut a)
            .messages
            .iter()
            .any(|m| m.from == newcomer.public()),
        "the newcomer's one message is still there"
    );
    // The second wave: 600 more from 200 more keys, each later still.
    for k in 300..500u32 {
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&k.to_be_bytes());
        secret[4] = 0xfe;
        let key = Identity::from_secret(secret);
        for i in 0..3 {
            a.deliver(&key, msg(&key, i, T0 + 1 + u64::from(k)), MS);
        }
    }
    let usage = a.svc.stranger_usage(RecordKind::Message);
    let bound = admission::stranger_pool(RecordKind::Message).unwrap();
    assert!(
        usage.count <= bound.count && usage.bytes <= bound.bytes,
        "{usage:?}"
    );
    assert!(
        inbox(&mut a)
            .messages
            .iter()
            .any(|m| m.from == newcomer.public()),
        "after 1,500 messages from 500 minted keys, the newcomer's message is still there"
    );
}

#[test]
fn strangers_together_get_a_bounded_share_of_one_needs_offers() {
    let mut a = harness(2);
    let n = a_need(&a.me, T0);
    a.svc.store_record(&AnyRecord::Need(n.clone()), T0).unwrap();
    let mut acked = 0;
    for k in 0..100u32 {
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&k.to_be_bytes());
        secret[4] = 0xfd;
        let key = Identity::from_secret(secret);
        for i in 0..3u64 {
            let mut body = fixtures::offer(&key, &n, T0);
            body.text = format!("offer {i}");
            match a.deliver(&key, AnyRecord::Offer(sign(body, &key)), MS) {
                DirectResponse::Ack => acked += 1,
                other => assert_eq!(refusal(other), RefusalReason::RateLimited),
            }
        }
    }
    assert_eq!(acked, admission::STRANGER_OFFERS_PER_NEED);
    // Someone the asker knows (a collaborator) still gets through.
    let b = identity(3);
    let other = a_need(&a.me, T0 + 1);
    let o = sign(fixtures::offer(&b, &other, T0), &b);
    let c = sign(
        fixtures::collaboration(&a.me, other.clone(), vec![o], T0),
        &a.me,
    );
    a.svc
        .store_record(&AnyRecord::Collaboration(c), T0)
        .unwrap();
    let mut body = fixtures::offer(&b, &n, T0);
    body.text = "I know this board".into();
    assert_eq!(
        a.deliver(&b, AnyRecord::Offer(sign(body, &b)), MS),
        DirectResponse::Ack
    );
}
