//! Settled collaborations: a closed one that is none of ours keeps only a summary, which still
//! backs the attestations citing it; the store gives its log back when it is needed.

use super::*;
use crate::state::collabs::Settled;
use crate::state::CollabState;

/// The ids of a proof's records, sorted.
fn ids(records: &[AnyRecord]) -> Vec<RecordId> {
    let mut ids: Vec<RecordId> = records.iter().map(AnyRecord::id).collect();
    ids.sort();
    ids
}

/// What a node that never settled the collaboration would hold, from its record and entries.
fn reference(c: &Signed<Collaboration>, entries: &[&Signed<CollabEntry>]) -> Settled {
    let mut state = CollabState::new(c);
    for e in entries {
        state.add_entry(e);
    }
    Settled::of(&state)
}

#[test]
fn a_closed_collaboration_of_others_settles_still_backs_its_attestation_and_serves_its_proof() {
    let mut v = harness(1);
    let (a, b) = (identity(2), identity(3));
    let att = counted_attestation(&mut v, &a, &b, MS);
    let cid = att.body.collaboration;
    let (c, proof) = closed_collab(&a, &b, secs(MS));
    assert_eq!(c.id(), cid);
    assert_eq!(v.svc.state.collabs.sizes(), (0, 1), "settled");
    let closes: Vec<&Signed<CollabEntry>> = proof
        .iter()
        .filter_map(|r| match r {
            AnyRecord::CollabEntry(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(
        v.svc.state.collabs.settled(&cid),
        Some(&reference(&c, &closes)),
        "the summary is what the full state says"
    );
    assert!(v.svc.state.attestations.is_counted(&att.id()));
    let view = v.svc.status_of(&att.id(), secs(MS)).map(|s| s.0);
    assert_eq!(view, Some(AttestationStatus::Counted));

    // Someone asks us for the proof: the record and both closes, read back from the store.
    let bytes = guild_core::codec::encode(&DirectRequest::Proof { collaboration: cid }).unwrap();
    match v
        .svc
        .received_request(identity(4).public(), &bytes, MS + 1000)
    {
        DirectResponse::Records(served) => assert_eq!(ids(&served), ids(&proof)),
        other => panic!("not served: {other:?}"),
    }

    // A restart loads it settled again, backing the same attestation.
    let store = v.svc.store().clone();
    let again = Service::new(identity(1), store, ServiceConfig::default(), 1, MS + 2000).unwrap();
    assert_eq!(again.state.collabs.sizes(), (0, 1));
    assert_eq!(
        again.state.collabs.settled(&cid),
        v.svc.state.collabs.settled(&cid)
    );
    assert!(again.state.attestations.is_counted(&att.id()));
}

#[test]
fn a_late_entry_for_a_settled_collaboration_is_taken_as_by_a_node_that_never_settled_it() {
    let mut v = harness(1);
    let (a, b) = (identity(2), identity(3));
    let att = counted_attestation(&mut v, &a, &b, MS);
    let cid = att.body.collaboration;
    let (c, proof) = closed_collab(&a, &b, secs(MS));
    // A's closing summary, overtaken by the close (an earlier clock), arrives last.
    let post = entry(
        &a,
        cid,
        2,
        0,
        EntryKind::Post {
            text: "done: the board works".into(),
        },
        secs(MS),
    );
    v.svc
        .store_record(&AnyRecord::CollabEntry(post.clone()), secs(MS))
        .unwrap();
    let mut all: Vec<&Signed<CollabEntry>> = proof
        .iter()
        .filter_map(|r| match r {
            AnyRecord::CollabEntry(e) => Some(e),
            _ => None,
        })
        .collect();
    all.push(&post);
    let settled = v.svc.state.collabs.settled(&cid).expect("settled again");
    assert_eq!(settled, &reference(&c, &all));
    assert_eq!(settled.entries.len(), 3);
    assert_eq!(settled.entries[0], post.id(), "in log order");
    assert!(v.svc.state.attestations.is_counted(&att.id()));
}

/// A restart settles a collaboration as soon as both members' closes are loaded; an entry
/// loaded after them (a later time, an earlier clock) holds it whole again from the store and it
/// settles with the whole log, as the running node's.
#[test]
fn a_restart_settles_at_the_last_close_and_takes_an_entry_loaded_after_it() {
    let mut v = harness(1);
    let (a, b) = (identity(2), identity(3));
    let att = counted_attestation(&mut v, &a, &b, MS);
    let cid = att.body.collaboration;
    let post = entry(
        &a,
        cid,
        2,
        0,
        EntryKind::Post {
            text: "done: the board works".into(),
        },
        secs(MS) + 10,
    );
    v.svc
        .store_record(&AnyRecord::CollabEntry(post.clone()), secs(MS) + 10)
        .unwrap();
    let running = v.svc.state.collabs.settled(&cid).cloned().expect("settled");
    assert_eq!(running.entries.len(), 3);
    let store = v.svc.store().clone();
    let again = Service::new(identity(1), store, ServiceConfig::default(), 1, MS + 2000).unwrap();
    assert_eq!(again.state.collabs.sizes(), (0, 1));
    assert_eq!(again.state.collabs.settled(&cid), Some(&running));
    assert!(again.state.attestations.is_counted(&att.id()));
}

#[test]
fn ours_stay_whole_and_an_expiring_entry_holds_its_collaboration_whole_again() {
    let mut v = harness(1);
    let (a, b) = (identity(2), identity(3));
    // Ours: we are a member of a closed collaboration.
    let me = Identity::from_secret(v.me.secret_bytes());
    let (_, ours) = closed_collab(&me, &b, T0);
    for r in &ours {
        v.svc.store_record(r, T0).unwrap();
    }
    assert_eq!(v.svc.state.collabs.sizes(), (1, 0), "ours is held whole");
    // Someone else's, settled.
    let att = counted_attestation(&mut v, &a, &b, MS);
    let cid = att.body.collaboration;
    assert_eq!(v.svc.state.collabs.sizes(), (1, 1));
    let before = v.svc.state.collabs.settled(&cid).cloned().unwrap();

    // The entries expire (a year) before their collaboration (two): held whole again before
    // they leave the store, with their places kept in the log, as a node that never settled it.
    let later = MS + 366 * 86_400 * 1000;
    v.svc.tick(later);
    let (_, proof) = closed_collab(&a, &b, secs(MS));
    for r in &proof[1..] {
        assert!(
            v.svc.store().get_record(&r.id()).unwrap().is_none(),
            "swept"
        );
    }
    assert!(v.svc.state.collabs.settled(&cid).is_none());
    let full = v.svc.state.collabs.get(&cid).expect("held whole");
    assert_eq!(Settled::of(full), before);
    assert!(
        !v.svc.settle_collab(&cid),
        "its log can no longer be read back"
    );
}
