//! Trust roots, proof fetches and the profile cap's protected members.

use super::*;

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
    assert!(v.svc.state.attestations.is_counted(&att.id()));
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

/// A turn's proof responses taken together (their signatures in one batch) end exactly as the
/// same responses taken one at a time: good proofs count their attestations, a proof with one
/// forged signature stores the rest and counts nothing, a failed fetch is tried again, a
/// response to nothing is ignored — whatever their order among the others.
#[test]
fn a_turns_proofs_checked_together_end_as_each_checked_alone() {
    // Five attestations, each by its own issuer about its own subject; each node asks the
    // issuers for the five proofs.
    let pairs: Vec<(Identity, Identity)> = (0..5u8)
        .map(|i| (identity(10 + 2 * i), identity(11 + 2 * i)))
        .collect();
    let collabs: Vec<(Signed<Collaboration>, Vec<AnyRecord>)> =
        pairs.iter().map(|(a, b)| closed_collab(a, b, T0)).collect();
    let atts: Vec<Signed<Attestation>> = pairs
        .iter()
        .zip(&collabs)
        .map(|((a, b), (c, _))| sign(fixtures::attestation(a, b, c.id(), 5, T0), a))
        .collect();
    let run = |together: bool| {
        let mut v = harness(1);
        for ((a, _), att) in pairs.iter().zip(&atts) {
            v.gossip(a, AnyRecord::Attestation(att.clone()), MS)
                .unwrap();
        }
        let mut asked: std::collections::HashMap<RecordId, RequestId> = Default::default();
        for (id, _, req) in v.requests() {
            if let DirectRequest::Proof { collaboration } = req {
                asked.insert(collaboration, id);
            }
        }
        assert_eq!(asked.len(), 5, "a proof asked for each attestation");
        let mut responses = Vec::new();
        for (i, (c, proof)) in collabs.iter().enumerate() {
            let id = asked[&c.id()];
            let result = match i {
                // The second close's signature is forged (another record's).
                1 => {
                    let mut proof = proof.clone();
                    let AnyRecord::CollabEntry(e) = &mut proof[2] else {
                        unreachable!()
                    };
                    let AnyRecord::CollabEntry(other) = &collabs[0].1[2] else {
                        unreachable!()
                    };
                    e.signature = other.signature;
                    Ok(DirectResponse::Records(proof))
                }
                3 => Err(RequestFailure::Unreachable("down".into())),
                _ => Ok(DirectResponse::Records(proof.clone())),
            };
            responses.push((id, result));
        }
        // An answer to a request nobody made, among them.
        responses.insert(
            2,
            (RequestId(u64::MAX), Ok(DirectResponse::Records(Vec::new()))),
        );
        let now = MS + 1000;
        if together {
            v.svc.received_responses(responses, now);
        } else {
            for (id, result) in responses {
                v.svc.received_response(id, result, now);
            }
        }
        let counted: Vec<bool> = atts
            .iter()
            .map(|a| v.svc.state.attestations.is_counted(&a.id()))
            .collect();
        let held: Vec<Vec<bool>> = collabs
            .iter()
            .map(|(_, proof)| {
                proof
                    .iter()
                    .map(|r| v.svc.state.records.contains(&r.id()))
                    .collect()
            })
            .collect();
        let events = v.events();
        v.svc.tick(now + direct::PROOF_RETRY_FIRST_MS + 1);
        let retried: Vec<DirectRequest> = v.requests().into_iter().map(|(_, _, r)| r).collect();
        (counted, held, events, retried)
    };
    let (alone, together) = (run(false), run(true));
    assert_eq!(alone, together);
    let (counted, held, _, retried) = together;
    assert_eq!(counted, [true, false, true, false, true]);
    assert_eq!(held[1], [true, true, false], "all but the forged close");
    assert_eq!(held[3], [false, false, false]);
    assert_eq!(
        retried,
        [DirectRequest::Proof {
            collaboration: collabs[3].0.id()
        }],
        "the failed fetch, and only it, is tried again"
    );
}
