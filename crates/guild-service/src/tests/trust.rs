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
