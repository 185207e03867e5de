//! Deterministic tests of the service: records and requests go in with a virtual clock, effects
//! come out of the outbox. No socket, no runtime, no wall clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use guild_core::control::pull::*;
use guild_core::control::reputation::*;
use guild_core::fixtures::{self, identity, sign, tag, T0};
use guild_core::wire::{DirectRequest, DirectResponse, RefusalReason};
use guild_core::{
    Attestation, CollabEntry, Collaboration, EntryKind, Message, Need, RecordId, Revocation,
    Signed, UnixTime,
};

const MS: Millis = T0 * 1000;

type Service = super::Service<MemoryStorage>;

struct Harness {
    svc: Service,
    me: Identity,
    next_call: u64,
}

fn harness(seed: u8) -> Harness {
    let store = MemoryStorage::new();
    let me = identity(seed);
    let svc = Service::new(
        Identity::from_secret(me.secret_bytes()),
        store,
        ServiceConfig::default(),
        u64::from(seed),
        MS,
    )
    .unwrap();
    Harness {
        svc,
        me,
        next_call: 0,
    }
}

impl Harness {
    /// Serves a call and returns its immediate reply.
    fn call(&mut self, call: ServiceCall, now: Millis) -> Result<Reply, CallError> {
        self.next_call += 1;
        let id = CallId(self.next_call);
        self.svc.call(id, call, now);
        self.reply(id).expect("answered at once")
    }

    fn reply(&mut self, id: CallId) -> Option<Result<Reply, CallError>> {
        let mut found = None;
        let rest: Vec<Io> = self
            .svc
            .take_outbox()
            .into_iter()
            .filter_map(|io| match io {
                Io::Reply { call, result, .. } if call == id => {
                    found = Some(result);
                    None
                }
                other => Some(other),
            })
            .collect();
        self.svc.outbox.extend(rest);
        found
    }

    fn gossip(
        &mut self,
        from: &Identity,
        record: AnyRecord,
        now: Millis,
    ) -> Result<Intake, Refusal> {
        self.svc
            .received_record(Some(from.public()), record, Via::Gossip, now)
    }

    fn deliver(&mut self, from: &Identity, record: AnyRecord, now: Millis) -> DirectResponse {
        let bytes = guild_core::codec::encode(&DirectRequest::Deliver(Box::new(record))).unwrap();
        self.svc.received_request(from.public(), &bytes, now)
    }

    fn events(&mut self) -> Vec<Event> {
        let (events, rest): (Vec<Io>, Vec<Io>) = self
            .svc
            .take_outbox()
            .into_iter()
            .partition(|io| matches!(io, Io::Emit(_)));
        self.svc.outbox.extend(rest);
        events
            .into_iter()
            .filter_map(|io| match io {
                Io::Emit(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn requests(&mut self) -> Vec<(RequestId, PublicKey, DirectRequest)> {
        let (reqs, rest): (Vec<Io>, Vec<Io>) = self
            .svc
            .take_outbox()
            .into_iter()
            .partition(|io| matches!(io, Io::Request { .. }));
        self.svc.outbox.extend(rest);
        reqs.into_iter()
            .filter_map(|io| match io {
                Io::Request { id, to, request } => Some((id, to, request)),
                _ => None,
            })
            .collect()
    }

    fn need_status(&self, id: &RecordId, now: UnixTime) -> NeedStatus {
        let n = &self.svc.state.needs[id];
        self.svc.need_status(id, n.expires_at, now)
    }
}

use super::intake::Intake;

/// The reason of a refusal (panics on anything else: test code).
fn refusal(r: DirectResponse) -> RefusalReason {
    match r {
        DirectResponse::Error { reason, .. } => reason,
        other => panic!("not refused: {other:?}"),
    }
}

fn revocation(
    by: &Identity,
    target: RecordId,
    kind: RecordKind,
    at: UnixTime,
) -> Signed<Revocation> {
    sign(
        Revocation {
            version: guild_core::record::RECORD_VERSION,
            issuer: by.public(),
            issued_at: at,
            expires_at: at + 30 * 86_400,
            target,
            target_kind: kind,
            reason: String::new(),
        },
        by,
    )
}

fn a_need(asker: &Identity, at: UnixTime) -> Signed<Need> {
    sign(
        fixtures::need(asker, "review my layout", &["kicad"], at),
        asker,
    )
}

fn entry(
    by: &Identity,
    collab: RecordId,
    seq: u64,
    clock: u64,
    e: EntryKind,
    at: UnixTime,
) -> Signed<CollabEntry> {
    sign(
        CollabEntry {
            version: guild_core::record::RECORD_VERSION,
            issuer: by.public(),
            collaboration: collab,
            issued_at: at,
            expires_at: at + 365 * 86_400,
            seq,
            clock,
            entry: e,
        },
        by,
    )
}

/// A collaboration between `a` (asker) and `b` (offerer) that both closed their parts of, with
/// its proof records (the record, then `a`'s close, then `b`'s).
fn closed_collab(
    a: &Identity,
    b: &Identity,
    at: UnixTime,
) -> (Signed<Collaboration>, Vec<AnyRecord>) {
    let n = a_need(a, at);
    let o = sign(fixtures::offer(b, &n, at), b);
    let c = sign(fixtures::collaboration(a, n, vec![o], at), a);
    let close_a = entry(a, c.id(), 1, 1, EntryKind::Close, at);
    let close_b = entry(b, c.id(), 1, 2, EntryKind::Close, at);
    let proof = vec![
        AnyRecord::Collaboration(c.clone()),
        AnyRecord::CollabEntry(close_a),
        AnyRecord::CollabEntry(close_b),
    ];
    (c, proof)
}

/// `v` receives `a`'s attestation about `b` by gossip, asks `a` for the proof and gets it.
fn counted_attestation(
    v: &mut Harness,
    a: &Identity,
    b: &Identity,
    now: Millis,
) -> Signed<Attestation> {
    let t = secs(now);
    let (c, proof) = closed_collab(a, b, t);
    let att = sign(fixtures::attestation(a, b, c.id(), 5, t), a);
    v.gossip(a, AnyRecord::Attestation(att.clone()), now)
        .unwrap();
    let reqs = v.requests();
    let (id, to, req) = reqs
        .into_iter()
        .find(|(_, _, r)| matches!(r, DirectRequest::Proof { .. }))
        .expect("a proof request");
    assert_eq!(to, a.public(), "the proof is asked of the issuer");
    assert_eq!(
        req,
        DirectRequest::Proof {
            collaboration: c.id()
        }
    );
    v.svc
        .received_response(id, Ok(DirectResponse::Records(proof)), now);
    assert!(
        v.svc.state.counted.contains(&att.id()),
        "backed and counted"
    );
    att
}

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
    assert!(v.svc.state.counted.contains(&att.id()), "still counts");
    // The issuer's revocation works.
    let real = revocation(&a, att.id(), RecordKind::Attestation, T0 + 2);
    v.gossip(&a, AnyRecord::Revocation(real), MS + 2000)
        .unwrap();
    assert!(!v.svc.state.counted.contains(&att.id()));
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
    assert!(!svc.state.revoked.contains_key(&n.id()));
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
    assert!(a.svc.state.collabs[&c.id()].closed);
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

#[test]
fn posts_get_consecutive_sequence_numbers_and_reach_every_member() {
    let mut a = harness(2);
    let b = identity(3);
    let n = a_need(&a.me, T0);
    let o = sign(fixtures::offer(&b, &n, T0), &b);
    let c = sign(fixtures::collaboration(&a.me, n, vec![o], T0), &a.me);
    a.svc
        .store_record(&AnyRecord::Collaboration(c.clone()), T0)
        .unwrap();
    let post = |text: &str| {
        ServiceCall::CollabPost(CollabPostParams {
            collab: c.id(),
            text: text.into(),
        })
    };
    let e1: EntryView = TryFrom::try_from(a.call(post("one"), MS).unwrap()).unwrap();
    let e2: EntryView = TryFrom::try_from(a.call(post("two"), MS).unwrap()).unwrap();
    assert_eq!((e1.seq, e2.seq), (1, 2));
    let sent: Vec<_> = a.requests();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|(_, to, _)| *to == b.public()));
}

#[test]
fn entries_by_non_members_and_replays_are_refused() {
    let mut b = harness(3);
    let a = identity(2);
    let outsider = identity(5);
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
    let post = entry(&a, c.id(), 1, 1, EntryKind::Post { text: "hi".into() }, T0);
    assert_eq!(
        b.deliver(&a, AnyRecord::CollabEntry(post.clone()), MS),
        DirectResponse::Ack
    );
    assert_eq!(
        refusal(b.deliver(&a, AnyRecord::CollabEntry(post), MS)),
        RefusalReason::Duplicate
    );
    let intrusion = entry(
        &outsider,
        c.id(),
        1,
        2,
        EntryKind::Post {
            text: "me too".into(),
        },
        T0,
    );
    assert_eq!(
        refusal(b.deliver(&outsider, AnyRecord::CollabEntry(intrusion), MS)),
        RefusalReason::Unauthorised
    );
}

#[test]
fn an_unreachable_offer_is_retried_and_its_outcome_reported() {
    let mut b = harness(3);
    let a = identity(2);
    let n = a_need(&a, T0);
    b.gossip(&a, AnyRecord::Need(n.clone()), MS).unwrap();
    b.svc.call(
        CallId(7),
        ServiceCall::Offer(OfferParams {
            need: n.id(),
            text: "I can".into(),
        }),
        MS,
    );
    let (id, to, _) = b.requests().pop().unwrap();
    assert_eq!(to, a.public());
    b.svc
        .received_response(id, Err(RequestFailure::Unreachable("down".into())), MS + 10);
    let d: Delivery = TryFrom::try_from(b.reply(CallId(7)).unwrap().unwrap()).unwrap();
    assert!(!d.delivered && d.retrying);
    b.svc.tick(MS + 1_000);
    assert!(b.requests().is_empty(), "not before the backoff");
    b.svc.tick(MS + 2_100);
    let (id, _, _) = b.requests().pop().expect("retried");
    b.svc
        .received_response(id, Ok(DirectResponse::Ack), MS + 2_200);
    assert!(b.events().iter().any(|e| matches!(
        e,
        Event::DeliveryOutcome {
            delivered: true,
            attempts: 2,
            ..
        }
    )));
}

#[test]
fn a_duplicate_delivery_counts_as_delivered() {
    let mut b = harness(3);
    let a = identity(2);
    b.svc.call(
        CallId(1),
        ServiceCall::Msg(MsgParams {
            peer: a.public(),
            text: "hello".into(),
        }),
        MS,
    );
    let (id, _, _) = b.requests().pop().unwrap();
    b.svc.received_response(
        id,
        Ok(DirectResponse::Error {
            reason: RefusalReason::Duplicate,
            message: "already".into(),
        }),
        MS,
    );
    let d: Delivery = TryFrom::try_from(b.reply(CallId(1)).unwrap().unwrap()).unwrap();
    assert!(d.delivered);
}

#[test]
fn fetch_answers_each_id_once() {
    let mut v = harness(1);
    let asker = identity(2);
    let n = a_need(&asker, T0);
    v.gossip(&asker, AnyRecord::Need(n.clone()), MS).unwrap();
    let req = DirectRequest::Fetch {
        ids: vec![n.id(); 200],
    };
    let bytes = guild_core::codec::encode(&req).unwrap();
    match v.svc.received_request(identity(7).public(), &bytes, MS) {
        DirectResponse::Records(r) => assert_eq!(r.len(), 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn two_services_sync_what_they_lack() {
    let mut a = harness(1);
    let mut b = harness(2);
    let mut want = vec![];
    for i in 0..50u64 {
        // 25 askers with two needs each: within a stranger's daily need budget.
        let asker = identity(10 + (i % 25) as u8);
        let n = sign(
            Need {
                nonce: i,
                ..fixtures::need(&asker, "n", &["rust"], T0)
            },
            &asker,
        );
        if i % 2 == 0 {
            a.gossip(&asker, AnyRecord::Need(n.clone()), MS).unwrap();
        }
        b.gossip(&asker, AnyRecord::Need(n.clone()), MS).unwrap();
        want.push(n.id());
    }
    a.svc.start_sync(b.me.public(), MS);
    // Pump requests from a to b until the session ends.
    for _ in 0..100 {
        let reqs = a.requests();
        if reqs.is_empty() {
            break;
        }
        for (id, to, req) in reqs {
            assert_eq!(to, b.me.public());
            let bytes = guild_core::codec::encode(&req).unwrap();
            let resp = b.svc.received_request(a.me.public(), &bytes, MS);
            a.svc.received_response(id, Ok(resp), MS);
        }
    }
    for id in want {
        assert!(a.svc.state.needs.contains_key(&id));
    }
}

#[test]
fn a_trust_root_lets_trust_flow_at_once_and_its_removal_takes_it_back() {
    let mut v = harness(1);
    let root = identity(2);
    let b = identity(3);
    // A newcomer: no collaboration of its own. The root vouched for b after working together.
    counted_attestation(&mut v, &root, &b, MS);
    let trust_in_b = |v: &mut Harness| -> TrustView {
        TryFrom::try_from(
            v.call(
                ServiceCall::Trust(TrustParams {
                    peer: b.public(),
                    skill: Some(tag("kicad")),
                }),
                MS + 1000,
            )
            .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(trust_in_b(&mut v).score, 0.0, "no starting point yet");
    let roots: TrustRoots = TryFrom::try_from(
        v.call(
            ServiceCall::TrustAdd(TrustAddParams {
                peer: root.public(),
                skill: None,
                note: "met at the makerspace".into(),
            }),
            MS + 1000,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(roots.roots.len(), 1);
    let t = trust_in_b(&mut v);
    assert!(t.score > 0.0, "trust flows from the root: {t:?}");
    assert!(
        t.explanation
            .known()
            .is_some_and(|e| e.paths.iter().any(|p| p.nodes.contains(&root.public()))),
        "the explanation names the root: {:?}",
        t.explanation
    );
    // Nothing was published: roots are private.
    assert!(!v
        .svc
        .take_outbox()
        .iter()
        .any(|io| matches!(io, Io::Publish { .. })));
    v.call(
        ServiceCall::TrustRemove(TrustRemoveParams {
            peer: root.public(),
        }),
        MS + 2000,
    )
    .unwrap();
    assert_eq!(trust_in_b(&mut v).score, 0.0, "taken back");
    let err = v
        .call(
            ServiceCall::TrustRemove(TrustRemoveParams { peer: b.public() }),
            MS + 2000,
        )
        .unwrap_err();
    assert_eq!(err.code, guild_core::control::ErrorCode::NotFound);
}

#[test]
fn trust_roots_survive_a_restart() {
    // Clones of a memory store share its contents: a new service over a clone is a restart.
    let disk = MemoryStorage::new();
    let root = identity(2);
    {
        let mut v =
            Service::new(identity(1), disk.clone(), ServiceConfig::default(), 1, MS).unwrap();
        v.call(
            CallId(1),
            ServiceCall::TrustAdd(TrustAddParams {
                peer: root.public(),
                skill: Some(tag("kicad")),
                note: String::new(),
            }),
            MS,
        );
    }
    let mut v = Service::new(identity(1), disk.clone(), ServiceConfig::default(), 1, MS).unwrap();
    let roots = v.trust_roots().roots;
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].skill, Some(tag("kicad")));
    let t = v.trust_view(
        TrustParams {
            peer: root.public(),
            skill: Some(tag("kicad")),
        },
        T0,
    );
    assert!(
        t.score > 0.0,
        "the root itself is trusted for its skill: {t:?}"
    );
}

#[test]
fn a_failed_proof_fetch_is_tried_again_with_backoff() {
    let mut v = harness(1);
    let a = identity(2);
    let b = identity(3);
    let (c, proof) = closed_collab(&a, &b, T0);
    let att = sign(fixtures::attestation(&a, &b, c.id(), 5, T0), &a);
    v.gossip(&a, AnyRecord::Attestation(att.clone()), MS)
        .unwrap();
    let (id, _, _) = v.requests().pop().expect("a proof request");
    v.svc
        .received_response(id, Err(RequestFailure::Unreachable("down".into())), MS);
    v.svc.tick(MS + 10_000);
    assert!(v.requests().is_empty(), "not before the backoff");
    v.svc.tick(MS + direct::PROOF_RETRY_FIRST_MS + 1);
    let (id, to, req) = v.requests().pop().expect("asked again");
    assert_eq!(to, a.public());
    assert_eq!(
        req,
        DirectRequest::Proof {
            collaboration: c.id()
        }
    );
    v.svc.received_response(
        id,
        Ok(DirectResponse::Records(proof)),
        MS + direct::PROOF_RETRY_FIRST_MS + 2,
    );
    assert!(v.svc.state.counted.contains(&att.id()));
}

#[test]
fn at_the_profile_cap_strangers_never_push_out_our_own_or_our_collaborators_profiles() {
    let store = MemoryStorage::new();
    let me = identity(2);
    let cfg = ServiceConfig {
        max_profiles: 3,
        ..ServiceConfig::default()
    };
    let mut a = Service::new(Identity::from_secret(me.secret_bytes()), store, cfg, 1, MS).unwrap();
    // Our own profile, and a collaborator's (a collaboration with b).
    a.set_profile(
        CallId(1),
        guild_core::control::ProfileDraft {
            name: "me".into(),
            ..Default::default()
        },
        MS,
    );
    let b = identity(3);
    let n = a_need(&me, T0);
    let o = sign(fixtures::offer(&b, &n, T0), &b);
    let c = sign(fixtures::collaboration(&me, n, vec![o], T0), &me);
    a.store_record(&AnyRecord::Collaboration(c), T0).unwrap();
    let pb = sign(fixtures::profile(&b, "bo", &["kicad"], T0 - 3600), &b);
    a.received_record(Some(b.public()), AnyRecord::Profile(pb), Via::Gossip, MS)
        .unwrap();
    // Eleven strangers, dated as far ahead as the clock skew allows.
    for i in 0..11u8 {
        let s = identity(100 + i);
        let p = sign(fixtures::profile(&s, "fake", &["kicad"], T0 + 290), &s);
        let _ = a.received_record(Some(s.public()), AnyRecord::Profile(p), Via::Gossip, MS);
    }
    assert!(a.knows(&me.public()), "our own profile stays");
    assert!(a.knows(&b.public()), "a collaborator's profile stays");
    assert_eq!(a.counts().profiles, 3, "the cap holds");
}

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

/// The `i`-th of many fresh identities (beyond the 256 `identity` gives).
fn fresh(i: u32) -> Identity {
    let mut secret = [0xA5u8; 32];
    secret[..4].copy_from_slice(&i.to_le_bytes());
    Identity::from_secret(secret)
}

fn trust_root(v: &mut Harness, who: &Identity) {
    v.call(
        ServiceCall::TrustAdd(TrustAddParams {
            peer: who.public(),
            skill: None,
            note: String::new(),
        }),
        MS,
    )
    .unwrap();
}

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
            v.svc.state.needs.contains_key(&n.id()),
            "a member's need stays"
        );
    }
    let oldest = sign(
        fixtures::need(&fresh(1), "spam", &["kicad"], T0 - 3_599),
        &fresh(1),
    );
    assert!(
        !v.svc.state.needs.contains_key(&oldest.id()),
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
        v.svc.state.add_meta(
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
    let ours = sync::initial(v.svc.state.sync_keys(RecordKind::Need));
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

/// `b`'s node holding a collaboration `a` opened on `b`'s offer (delivered by `a`).
fn offerer_in_collab(b: &mut Harness, a: &Identity) -> Signed<Collaboration> {
    let n = a_need(a, T0);
    b.svc.store_record(&AnyRecord::Need(n.clone()), T0).unwrap();
    let o = sign(fixtures::offer(&b.me, &n, T0), &b.me);
    b.svc
        .store_record(&AnyRecord::Offer(o.clone()), T0)
        .unwrap();
    let c = sign(fixtures::collaboration(a, n, vec![o], T0), a);
    assert_eq!(
        b.deliver(a, AnyRecord::Collaboration(c.clone()), MS),
        DirectResponse::Ack
    );
    c
}

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
    assert!(!a.svc.state.needs.contains_key(&n.id()), "swept");
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

/// What a failed write could leave behind: every count and index the records below touch.
fn footprint(v: &Harness, who: &PublicKey) -> impl PartialEq + std::fmt::Debug {
    (
        v.svc.counts(),
        v.svc.state.meta.len(),
        v.svc.state.needs.len(),
        v.svc.state.att_by_seq.len(),
        v.svc.knows(who),
        v.svc.usage_of(who, RecordKind::Need),
        v.svc.usage_of(who, RecordKind::Attestation),
        v.svc.store().record_count(),
    )
}

#[test]
fn a_failing_write_is_refused_and_leaves_every_index_as_it_was() {
    let mut v = harness(1);
    let disk = v.svc.store().clone();
    let (bea, cai) = (identity(2), identity(3));
    let profile = sign(fixtures::profile(&bea, "Bea", &["kicad"], T0), &bea);
    let need = a_need(&bea, T0);
    let (c, _) = closed_collab(&bea, &cai, T0);
    let attestation = sign(fixtures::attestation(&bea, &cai, c.id(), 5, T0), &bea);
    let kicad = index::Query {
        words: Some("kicad".into()),
        limit: 10,
        ..index::Query::default()
    };
    let before = footprint(&v, &bea.public());

    disk.fail_writes(true);
    for record in [
        AnyRecord::Profile(profile.clone()),
        AnyRecord::Need(need.clone()),
        AnyRecord::Attestation(attestation.clone()),
    ] {
        let kind = record.kind();
        let refusal = v.gossip(&bea, record, MS).unwrap_err();
        assert_eq!(
            refusal.reason,
            RefusalReason::StoreFailure,
            "{kind}: {refusal}"
        );
    }
    // Our own writes fail as calls, and nothing is published or emitted.
    let asked = v.call(
        ServiceCall::Ask(AskParams {
            text: "an enclosure".into(),
            skills: vec![tag("3d-printing")],
            resources: vec![],
            expires_secs: None,
        }),
        MS,
    );
    assert!(asked.is_err(), "{asked:?}");
    let effects = v.svc.take_outbox();
    assert!(
        !effects
            .iter()
            .any(|io| matches!(io, Io::Publish { .. } | Io::Emit(_))),
        "{effects:?}"
    );
    assert_eq!(footprint(&v, &bea.public()), before, "nothing indexed");
    let (found, _) = v.svc.find(&kicad, MS);
    assert!(
        found.is_empty(),
        "a profile that was not stored is not found"
    );

    // The disk works again: the same records are taken (nothing half-written made them
    // duplicates), and the indexes follow.
    disk.fail_writes(false);
    v.gossip(&bea, AnyRecord::Profile(profile), MS).unwrap();
    v.gossip(&bea, AnyRecord::Need(need.clone()), MS).unwrap();
    v.gossip(&bea, AnyRecord::Attestation(attestation), MS)
        .unwrap();
    assert!(v.svc.knows(&bea.public()));
    assert!(v.svc.state.needs.contains_key(&need.id()));
    let (found, _) = v.svc.find(&kicad, MS);
    assert_eq!(found.len(), 1);
    assert_ne!(footprint(&v, &bea.public()), before);
}

/// A turn's gossip judged together gets the verdicts each message gets alone: a forged
/// signature among valid records is found and refused precisely (a rejection: its forwarder
/// is struck), a
/// malformed message and a misplaced record are rejected before any signature is checked, and
/// a copy of a record earlier in the same batch is ignored as a duplicate.
#[test]
fn a_gossip_batch_gets_each_message_its_own_verdict() {
    let mut h = harness(1);
    let forwarder = identity(2);
    let members: Vec<Identity> = (10..80).map(identity).collect();
    let needs: Vec<AnyRecord> = members
        .iter()
        .map(|m| AnyRecord::Need(sign(fixtures::need(m, "help", &["rust"], T0), m)))
        .collect();
    let mut data: Vec<(Topic, Vec<u8>)> = needs
        .iter()
        .map(|n| (Topic::Needs, n.encode().unwrap()))
        .collect();
    // Message 5: member 5's need with member 6's signature on it.
    let mut forged = sign(
        fixtures::need(&members[5], "help", &["go"], T0),
        &members[6],
    );
    forged.signer = members[5].public();
    data[5] = (Topic::Needs, AnyRecord::Need(forged).encode().unwrap());
    data[9] = (Topic::Needs, b"not a record".to_vec());
    data[12] = (Topic::Profiles, needs[12].encode().unwrap());
    data[40] = data[30].clone();
    let messages: Vec<Gossip<'_>> = data
        .iter()
        .map(|(topic, data)| Gossip {
            from: forwarder.public(),
            topic: *topic,
            data,
        })
        .collect();
    let verdicts = h.svc.received_gossip_batch(&messages, MS);
    for (i, v) in verdicts.iter().enumerate() {
        let expected = match i {
            5 | 9 | 12 => Verdict::Reject,
            40 => Verdict::Ignore,
            _ => Verdict::Accept,
        };
        assert_eq!(*v, expected, "message {i}");
    }
    // The same messages one at a time, on a fresh node, get the same verdicts.
    let mut alone = harness(1);
    let one_by_one: Vec<Verdict> = messages
        .iter()
        .map(|m| alone.svc.received_gossip(m.from, m.topic, m.data, MS))
        .collect();
    assert_eq!(one_by_one, verdicts);
    assert_eq!(alone.svc.counts(), h.svc.counts());
}

mod pulse;
