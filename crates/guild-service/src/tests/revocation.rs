//! Revocations (who may revoke what, in which order), vouches and their sequence numbers, equivocation.

use super::*;

#[test]
fn a_strangers_withdrawal_before_the_need_changes_nothing() {
    let mut v = harness(1);
    let asker = identity(2);
    let stranger = identity(3);
    let n = a_need(&asker, T0);
    let fake = revocation(&stranger, n.id(), RecordKind::Need, T0);
    assert_eq!(
        v.gossip(&stranger, AnyRecord::Revocation(fake), MS)
            .unwrap(),
        Intake::Pending,
        "kept until the target arrives, not forwarded"
    );
    v.gossip(&asker, AnyRecord::Need(n.clone()), MS).unwrap();
    assert_eq!(v.need_status(&n.id(), T0), NeedStatus::Open);
    assert_eq!(
        v.svc.pending_revocations(),
        0,
        "dropped when the target showed its issuer"
    );
    // The asker's own withdrawal still works, in either order.
    let real = revocation(&asker, n.id(), RecordKind::Need, T0 + 1);
    v.gossip(&asker, AnyRecord::Revocation(real), MS + 1000)
        .unwrap();
    assert_eq!(v.need_status(&n.id(), T0 + 1), NeedStatus::Withdrawn);
}

#[test]
fn the_issuers_withdrawal_before_the_need_is_applied_when_it_arrives() {
    let mut v = harness(1);
    let asker = identity(2);
    let n = a_need(&asker, T0);
    let real = revocation(&asker, n.id(), RecordKind::Need, T0);
    v.gossip(&asker, AnyRecord::Revocation(real), MS).unwrap();
    v.gossip(&asker, AnyRecord::Need(n.clone()), MS).unwrap();
    assert_eq!(v.need_status(&n.id(), T0), NeedStatus::Withdrawn);
    assert!(
        !v.events()
            .iter()
            .any(|e| matches!(e, Event::NeedMatched { .. })),
        "a withdrawn need matches nobody"
    );
}

#[test]
fn a_strangers_revocation_after_the_target_is_refused_and_cannot_undo() {
    let mut v = harness(1);
    let asker = identity(2);
    let stranger = identity(3);
    let n = a_need(&asker, T0);
    v.gossip(&asker, AnyRecord::Need(n.clone()), MS).unwrap();
    let fake = revocation(&stranger, n.id(), RecordKind::Need, T0);
    let r = v
        .gossip(&stranger, AnyRecord::Revocation(fake), MS)
        .unwrap_err();
    assert_eq!(r.reason, RefusalReason::Unauthorised);
    assert_eq!(v.need_status(&n.id(), T0), NeedStatus::Open);
    let real = revocation(&asker, n.id(), RecordKind::Need, T0 + 1);
    v.gossip(&asker, AnyRecord::Revocation(real), MS + 1000)
        .unwrap();
    assert_eq!(v.need_status(&n.id(), T0 + 1), NeedStatus::Withdrawn);
    // A later one, dated ahead, from anyone: nothing to undo.
    let later = revocation(&stranger, n.id(), RecordKind::Need, T0 + 290);
    assert!(v
        .gossip(&stranger, AnyRecord::Revocation(later), MS + 2000)
        .is_err());
    assert_eq!(v.need_status(&n.id(), T0 + 2), NeedStatus::Withdrawn);
}

#[test]
fn a_strangers_revocation_of_my_need_does_not_block_my_withdrawal_or_offers() {
    let mut a = harness(2);
    let stranger = identity(3);
    let offerer = identity(4);
    let asked: Asked = TryFrom::try_from({
        a.svc.call(
            CallId(99),
            ServiceCall::Ask(AskParams {
                text: "review my layout".into(),
                skills: vec![tag("kicad")],
                resources: vec![],
                expires_secs: None,
                ..Default::default()
            }),
            MS,
        );
        a.svc.published(CallId(99), false);
        a.reply(CallId(99)).unwrap().unwrap()
    })
    .unwrap();
    let nid = asked.need.id;
    let fake = revocation(&stranger, nid, RecordKind::Need, T0);
    assert!(a
        .gossip(&stranger, AnyRecord::Revocation(fake), MS)
        .is_err());
    // Offers are still delivered.
    let n: Signed<Need> = a.svc.store.get_typed(&nid).unwrap().unwrap();
    let o = sign(fixtures::offer(&offerer, &n, T0), &offerer);
    assert_eq!(
        a.deliver(&offerer, AnyRecord::Offer(o), MS),
        DirectResponse::Ack
    );
    // And the asker's own withdrawal works.
    a.call(
        ServiceCall::NeedWithdraw(WithdrawParams {
            need: nid,
            reason: String::new(),
        }),
        MS + 1000,
    )
    .unwrap();
    assert_eq!(a.need_status(&nid, T0 + 1), NeedStatus::Withdrawn);
}

#[test]
fn a_strangers_revocation_of_an_attestation_changes_no_trust() {
    let mut v = harness(1);
    let a = identity(2);
    let b = identity(3);
    let stranger = identity(4);
    let att = counted_attestation(&mut v, &a, &b, MS);
    // Before the target: a stranger's revocation of an attestation v does not hold yet is
    // pending and dropped; after: refused.
    let fake = revocation(&stranger, att.id(), RecordKind::Attestation, T0 + 290);
    let r = v
        .gossip(&stranger, AnyRecord::Revocation(fake), MS + 1000)
        .unwrap_err();
    assert_eq!(r.reason, RefusalReason::Unauthorised);
    assert!(
        v.svc.state.attestations.is_counted(&att.id()),
        "still counts"
    );
    // The issuer's revocation works.
    let real = revocation(&a, att.id(), RecordKind::Attestation, T0 + 2);
    v.gossip(&a, AnyRecord::Revocation(real), MS + 2000)
        .unwrap();
    assert!(!v.svc.state.attestations.is_counted(&att.id()));
    assert_eq!(
        v.svc.status_of(&att.id(), T0 + 2).unwrap().0,
        AttestationStatus::Revoked
    );
}

#[test]
fn a_revocation_of_the_wrong_kind_is_refused() {
    let mut v = harness(1);
    let asker = identity(2);
    let n = a_need(&asker, T0);
    v.gossip(&asker, AnyRecord::Need(n.clone()), MS).unwrap();
    let wrong = revocation(&asker, n.id(), RecordKind::Attestation, T0);
    assert!(v.gossip(&asker, AnyRecord::Revocation(wrong), MS).is_err());
    assert_eq!(v.need_status(&n.id(), T0), NeedStatus::Open);
}

#[test]
fn pending_revocations_are_bounded_per_signer_and_expire() {
    let mut v = harness(1);
    let stranger = identity(3);
    let mut refused = 0;
    for i in 0..40u8 {
        let r = revocation(&stranger, RecordId([i; 32]), RecordKind::Need, T0);
        if v.gossip(&stranger, AnyRecord::Revocation(r), MS).is_err() {
            refused += 1;
        }
    }
    assert_eq!(
        v.svc.pending_revocations(),
        authority::MAX_PENDING_PER_SIGNER
    );
    assert_eq!(refused, 40 - authority::MAX_PENDING_PER_SIGNER);
    assert_eq!(v.svc.store.record_count(), 0, "none stored");
    v.svc.tick(MS + (authority::PENDING_TTL_SECS + 61) * 1000);
    assert_eq!(v.svc.pending_revocations(), 0, "expired");
}

#[test]
fn an_unauthorised_revocation_stored_by_an_older_version_is_dropped_at_start() {
    // Clones of a memory store share its contents: a new service over a clone is a restart.
    let disk = MemoryStorage::new();
    let asker = identity(2);
    let stranger = identity(3);
    let n = a_need(&asker, T0);
    let fake = revocation(&stranger, n.id(), RecordKind::Need, T0);
    {
        let store = disk.clone();
        store.put_record(&AnyRecord::Need(n.clone())).unwrap();
        store
            .put_record(&AnyRecord::Revocation(fake.clone()))
            .unwrap();
    }
    let store = disk.clone();
    let svc = Service::new(identity(1), store.clone(), ServiceConfig::default(), 1, MS).unwrap();
    assert!(!svc.state.attestations.is_revoked(&n.id()));
    assert!(
        !store.has_record(&fake.id()).unwrap(),
        "removed from the store"
    );
    assert!(store.has_record(&n.id()).unwrap());
}

#[test]
fn two_vouches_get_two_sequence_numbers_chained() {
    let mut a = harness(2);
    let b = identity(3);
    let t = T0;
    let (c, proof) = closed_collab(&a.me, &b, t);
    for r in proof {
        a.svc.store_record(&r, t).unwrap();
    }
    assert!(a.svc.state.collabs.get(&c.id()).unwrap().closed);
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
    let v1: AttestationView = TryFrom::try_from(a.call(vouch(4), MS).unwrap()).unwrap();
    let v2: AttestationView = TryFrom::try_from(a.call(vouch(5), MS).unwrap()).unwrap();
    assert_eq!((v1.seq, v2.seq), (1, 2));
    let second: Signed<Attestation> = a.svc.store.get_typed(&v2.id).unwrap().unwrap();
    assert_eq!(second.body.prev, Some(v1.id));
    assert_eq!(
        a.svc.status_of(&v1.id, t).unwrap().0,
        AttestationStatus::Superseded
    );
    assert_eq!(v2.status, AttestationStatus::Counted);
    assert!(a.svc.equivocators().is_empty());
}

#[test]
fn two_attestations_with_one_sequence_are_an_equivocation_kept_across_restart() {
    // Clones of a memory store share its contents: a new service over a clone is a restart.
    let disk = MemoryStorage::new();
    let a = identity(2);
    let b = identity(3);
    let (c, _) = closed_collab(&a, &b, T0);
    let first = sign(fixtures::attestation(&a, &b, c.id(), 5, T0), &a);
    let mut body = fixtures::attestation(&a, &b, c.id(), 4, T0);
    body.salt = [9; 16];
    let twin = sign(body, &a);
    {
        let store = disk.clone();
        let mut v = Service::new(identity(1), store, ServiceConfig::default(), 1, MS).unwrap();
        v.received_record(
            Some(a.public()),
            AnyRecord::Attestation(first.clone()),
            Via::Gossip,
            MS,
        )
        .unwrap();
        v.received_record(
            Some(b.public()),
            AnyRecord::Attestation(twin.clone()),
            Via::Gossip,
            MS,
        )
        .unwrap();
        assert!(v
            .take_outbox()
            .iter()
            .any(|io| matches!(io, Io::Emit(Event::AttestationEquivocation { seq: 1, .. }))));
        assert_eq!(
            v.status_of(&first.id(), T0).unwrap().0,
            AttestationStatus::Equivocated
        );
        let later = sign(
            Attestation {
                seq: 2,
                prev: Some(first.id()),
                ..fixtures::attestation(&a, &b, c.id(), 5, T0)
            },
            &a,
        );
        let r = v
            .received_record(
                Some(a.public()),
                AnyRecord::Attestation(later),
                Via::Gossip,
                MS,
            )
            .unwrap_err();
        assert_eq!(r.reason, RefusalReason::Unauthorised);
    }
    let store = disk.clone();
    let v = Service::new(identity(1), store, ServiceConfig::default(), 1, MS).unwrap();
    assert!(v.equivocators().contains_key(&a.public()));
    assert_eq!(
        v.status_of(&twin.id(), T0).unwrap().0,
        AttestationStatus::Equivocated
    );
}
