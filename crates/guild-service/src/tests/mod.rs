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
        let n = &self.svc.state.pull.need(id).unwrap();
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
            version: guild_core::record::entry_version(&e),
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
        v.svc.state.attestations.is_counted(&att.id()),
        "backed and counted"
    );
    att
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

mod budgets;
mod collab;
mod delivery;
mod intake;
mod intro;
mod invite;
mod loading;
mod offers;
mod offload;
mod pulse;
mod quotas;
mod revocation;
mod saved;
mod settled;
mod team;
mod trust;
mod wakeup;
