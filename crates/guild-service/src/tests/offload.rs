//! What a peer's requests make the node do off its loop, and in which order: an invitation's
//! signatures are handed out as a job (the request answered when the verdicts come back), a
//! delivery over its sender's budget is refused from its first bytes, and strangers who just
//! connected are synced at a bounded rate while a member is synced at once.

use super::*;
use crate::offload::{
    MAX_STRANGERS_VERIFYING, MAX_STRANGER_SYNCS, STRANGER_SYNCS_PER_SECOND, STRANGER_SYNC_BURST,
};
use crate::{Answered, Link};

/// `inviter`'s invitation of `to` to a collaboration of its own, with `posts` posts in its log,
/// encoded as a request.
fn invitation_request(inviter: &Identity, to: &Identity, posts: u64, job: &str) -> Vec<u8> {
    let helper = identity(66);
    let mut n = fixtures::need(inviter, job, &["kicad"], T0);
    n.text = job.into();
    let n = sign(n, inviter);
    let o = sign(fixtures::offer(&helper, &n, T0), &helper);
    let c = sign(fixtures::collaboration(inviter, n, vec![o], T0), inviter);
    let inv = entry(
        inviter,
        c.id(),
        1,
        1,
        EntryKind::Invite {
            member: to.public(),
        },
        T0,
    );
    let log = (0..posts)
        .map(|k| {
            AnyRecord::CollabEntry(entry(
                inviter,
                c.id(),
                2 + k,
                2 + k,
                EntryKind::Post {
                    text: format!("post {k}"),
                },
                T0,
            ))
        })
        .collect();
    guild_core::codec::encode(&DirectRequest::Invite {
        collaboration: Box::new(AnyRecord::Collaboration(c)),
        invite: Box::new(AnyRecord::CollabEntry(inv)),
        log,
    })
    .unwrap()
}

fn job(a: Answered) -> SignatureJob {
    match a {
        Answered::Later(job) => job,
        Answered::Now(r) => panic!("answered at once: {r:?}"),
    }
}

fn now(a: Answered) -> DirectResponse {
    match a {
        Answered::Now(r) => r,
        Answered::Later(job) => panic!("handed out as job {:?}", job.id),
    }
}

#[test]
fn an_invitations_signatures_are_checked_by_a_job_and_the_request_answered_after() {
    let mut v = harness(1);
    let inviter = identity(5);
    let req = invitation_request(&inviter, &v.me, 40, "board review");
    let job = job(v.svc.received_request_offloaded(inviter.public(), &req, MS));
    // The collaboration, the invite and 40 posts: every signature is in the job, none was
    // checked by the service, and nothing is stored until the verdicts come back.
    assert_eq!(job.checks.len(), 42);
    assert_eq!(job.from, inviter.public());
    assert!(v.svc.collab_list().collabs.is_empty());
    assert_eq!(v.svc.work_in_flight().signature_jobs, 1);
    let verdicts = guild_core::record::verify_all(&job.checks);
    assert_eq!(v.svc.verified(job.id, verdicts, MS), DirectResponse::Ack);
    assert_eq!(v.svc.collab_list().collabs.len(), 1);
    assert_eq!(v.svc.work_in_flight(), InFlight::default());
    // Answered once: the same job again is refused, without a strike.
    assert_eq!(
        refusal(v.svc.verified(job.id, vec![], MS)),
        RefusalReason::Busy
    );
}

#[test]
fn a_bad_signature_found_by_the_job_refuses_the_invitation_and_stores_nothing() {
    let mut v = harness(1);
    let inviter = identity(5);
    let req = invitation_request(&inviter, &v.me, 10, "forged");
    let job = job(v.svc.received_request_offloaded(inviter.public(), &req, MS));
    let mut verdicts = guild_core::record::verify_all(&job.checks);
    verdicts[7] = Err(guild_core::RecordError::BadSignature {
        kind: RecordKind::CollabEntry,
    });
    assert_eq!(
        refusal(v.svc.verified(job.id, verdicts, MS)),
        RefusalReason::BadSignature
    );
    assert!(v.svc.collab_list().collabs.is_empty());
}

#[test]
fn jobs_are_bounded_per_peer_and_for_strangers_and_a_member_keeps_room() {
    let mut v = harness(1);
    let first = identity(5);
    let req = invitation_request(&first, &v.me, 4, "one");
    let _held = job(v.svc.received_request_offloaded(first.public(), &req, MS));
    // The same peer again while its job is out: refused before any signature.
    let again = invitation_request(&first, &v.me, 4, "two");
    assert_eq!(
        refusal(now(v.svc.received_request_offloaded(
            first.public(),
            &again,
            MS
        ))),
        RefusalReason::RateLimited
    );
    // Strangers fill their share; the next is refused `Busy`.
    for i in 1..MAX_STRANGERS_VERIFYING as u8 {
        let s = identity(40 + i);
        let req = invitation_request(&s, &v.me, 4, &format!("job {i}"));
        job(v.svc.received_request_offloaded(s.public(), &req, MS));
    }
    let late = identity(90);
    let req = invitation_request(&late, &v.me, 4, "late");
    assert_eq!(
        refusal(now(v.svc.received_request_offloaded(
            late.public(),
            &req,
            MS
        ))),
        RefusalReason::Busy
    );
    // A trusted member still gets its job.
    let member = identity(20);
    trust_root(&mut v, &member);
    let req = invitation_request(&member, &v.me, 4, "member's");
    let job = job(v.svc.received_request_offloaded(member.public(), &req, MS));
    let verdicts = guild_core::record::verify_all(&job.checks);
    assert_eq!(v.svc.verified(job.id, verdicts, MS), DirectResponse::Ack);
}

#[test]
fn a_delivery_over_its_senders_budget_is_refused_before_it_is_decoded() {
    let mut v = harness(1);
    let stranger = identity(5);
    let mut refused = 0;
    for i in 0..2 * admission::MESSAGES_PER_HOUR.stranger {
        let m = sign(
            Message {
                version: guild_core::record::RECORD_VERSION,
                issuer: stranger.public(),
                to: v.me.public(),
                issued_at: T0,
                expires_at: T0 + 3600,
                nonce: u64::from(i),
                text: format!("hello {i}"),
            },
            &stranger,
        );
        if v.deliver(&stranger, AnyRecord::Message(m), MS) != DirectResponse::Ack {
            refused += 1;
        }
    }
    assert!(refused > 0, "the budget was spent");
    // A message whose body would not even decode: refused by the budget from its first two
    // bytes (`Deliver`, `Message`), not as malformed — and the sender is not struck for it.
    let mut junk = vec![3u8, 7];
    junk.extend([0xff; 64]);
    for _ in 0..2 * admission::MAX_STRIKES {
        assert_eq!(
            refusal(v.svc.received_request(stranger.public(), &junk, MS)),
            RefusalReason::RateLimited
        );
    }
    assert!(!v.svc.admission.is_penalised(&stranger.public(), MS));
    // Another sender's junk is decoded, and refused as malformed.
    assert_eq!(
        refusal(v.svc.received_request(identity(6).public(), &junk, MS)),
        RefusalReason::Malformed
    );
}

#[test]
fn strangers_connecting_at_once_are_synced_at_a_bounded_rate_and_a_member_at_once() {
    let mut v = harness(1);
    let member = identity(20);
    trust_root(&mut v, &member);
    let _ = v.svc.take_outbox();
    let link = || Link {
        inbound: true,
        group: Some("10.0.0.5".into()),
    };
    let syncs = |reqs: Vec<(RequestId, PublicKey, DirectRequest)>| {
        reqs.into_iter()
            .filter(|(_, _, r)| matches!(r, DirectRequest::Sync { .. }))
            .map(|(_, to, _)| to)
            .collect::<Vec<_>>()
    };
    for i in 0..60 {
        v.svc.connected(fresh(1_000 + i).public(), None, link(), MS);
    }
    let reqs = v.requests();
    let started_ids: Vec<RequestId> = reqs
        .iter()
        .filter(|(_, _, r)| matches!(r, DirectRequest::Sync { .. }))
        .map(|(id, _, _)| *id)
        .collect();
    let started = syncs(reqs);
    assert_eq!(started.len(), MAX_STRANGER_SYNCS);
    assert_eq!(v.svc.work_in_flight().syncs_queued, 60 - MAX_STRANGER_SYNCS);
    // A member arriving during the flood is synced at once.
    v.svc.connected(member.public(), None, link(), MS);
    assert_eq!(syncs(v.requests()), vec![member.public()]);
    // As the strangers' syncs end (here: failed), the queue is started at the strangers'
    // rate, never more than their share at once.
    let sync_ids = |reqs: Vec<(RequestId, PublicKey, DirectRequest)>| {
        reqs.into_iter()
            .filter(|(_, _, r)| matches!(r, DirectRequest::Sync { .. }))
            .map(|(id, _, _)| id)
            .collect::<Vec<_>>()
    };
    let mut t = MS;
    let mut total = started.len();
    let mut inflight = started_ids;
    for _ in 0..20 {
        t += 250;
        for id in inflight.drain(..) {
            v.svc
                .received_response(id, Err(RequestFailure::Unreachable("gone".into())), t);
        }
        v.svc.tick(t);
        inflight = sync_ids(v.requests());
        assert!(v.svc.strangers_syncing() <= MAX_STRANGER_SYNCS);
        total += inflight.len();
    }
    // 5 s of virtual time: the burst and the rate, not 60.
    let most = (STRANGER_SYNC_BURST + 5 * STRANGER_SYNCS_PER_SECOND) as usize + 1;
    assert!(
        total <= most,
        "{total} stranger syncs started, at most {most}"
    );
    assert!(total >= 5 * STRANGER_SYNCS_PER_SECOND as usize, "{total}");
}

#[test]
fn an_invitation_over_its_senders_budget_is_refused_before_its_log_is_decoded() {
    let mut v = harness(1);
    let stranger = identity(5);
    let first = invitation_request(&stranger, &v.me, 2, "first");
    assert_eq!(
        v.svc.received_request(stranger.public(), &first, MS),
        DirectResponse::Ack
    );
    // A second invitation while the first waits, its log replaced by bytes that do not
    // decode: refused by the budget (RateLimited), which it could not be if the whole request
    // were decoded first (Malformed), and without a strike.
    let second = invitation_request(&stranger, &v.me, 0, "second");
    // With an empty log the encoding ends with the log's length, 0: the head is the rest.
    let mut junk = second[..second.len() - 1].to_vec();
    junk.extend([0xfe; 32]);
    for _ in 0..2 * admission::MAX_STRIKES {
        assert_eq!(
            refusal(v.svc.received_request(stranger.public(), &junk, MS)),
            RefusalReason::RateLimited
        );
    }
    assert!(!v.svc.admission.is_penalised(&stranger.public(), MS));
    assert_eq!(
        refusal(v.svc.received_request(identity(6).public(), &junk, MS)),
        RefusalReason::Malformed
    );
}

#[test]
fn a_peer_that_keeps_sending_large_requests_over_its_budget_is_sent_away() {
    let mut v = harness(1);
    let stranger = identity(5);
    v.svc
        .connected(stranger.public(), None, Link::default(), MS);
    let first = invitation_request(&stranger, &v.me, 2, "first");
    assert_eq!(
        v.svc.received_request(stranger.public(), &first, MS),
        DirectResponse::Ack
    );
    // More invitations while the first waits, each padded to 200 KB (the log's bytes are
    // never looked at: the head refuses it).
    let second = invitation_request(&stranger, &v.me, 0, "second");
    let mut big = second[..second.len() - 1].to_vec();
    big.resize(200 * 1024, 0xfe);
    let before = admission::REFUSED_BYTES_PER_WINDOW / big.len() as u64;
    let _ = v.svc.take_outbox();
    for i in 0..before {
        assert_eq!(
            refusal(v.svc.received_request(stranger.public(), &big, MS)),
            RefusalReason::RateLimited,
            "request {i}"
        );
    }
    assert!(!v.svc.admission.is_penalised(&stranger.public(), MS));
    // The request that crosses the byte budget is still answered why …
    assert_eq!(
        refusal(v.svc.received_request(stranger.public(), &big, MS)),
        RefusalReason::RateLimited
    );
    assert!(v.svc.admission.is_penalised(&stranger.public(), MS));
    assert!(!v
        .svc
        .take_outbox()
        .iter()
        .any(|io| matches!(io, Io::Disconnect { .. })));
    // … and the next one is answered Busy and the peer sent away for the window.
    assert_eq!(
        refusal(v.svc.received_request(stranger.public(), &big, MS)),
        RefusalReason::Busy
    );
    assert!(v.svc.take_outbox().iter().any(
        |io| matches!(io, Io::Disconnect { peer, for_ms } if *peer == stranger.public() && *for_ms == admission::PENALTY_WINDOW_MS)
    ));
    // An honest sender's retries stay far from the budget: 5 attempts of a message record at
    // its 8 KiB limit, for each of 100 refused messages, is 4 MB.
    assert!(
        100 * u64::from(crate::DELIVERY_ATTEMPTS) * 8 * 1024 < admission::REFUSED_BYTES_PER_WINDOW
    );
    // Another peer is unaffected, and the count starts again after the window.
    let other = identity(6);
    assert!(!v.svc.admission.is_penalised(&other.public(), MS));
    let later = MS + admission::PENALTY_WINDOW.as_millis() + 1;
    assert!(!v.svc.admission.is_penalised(&stranger.public(), later));
}
