//! Intake: a failing write leaves every index as it was; a gossip batch gets each message its own verdict.

use super::*;

/// What a failed write could leave behind: every count and index the records below touch.
fn footprint(v: &Harness, who: &PublicKey) -> impl PartialEq + std::fmt::Debug {
    (
        v.svc.counts(),
        v.svc.state.records.len(),
        v.svc.state.pull.needs_len(),
        v.svc.state.attestations.seq_slots(),
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
            ..Default::default()
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
    assert!(v.svc.state.pull.need(&need.id()).is_some());
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

/// A disk that fails in the middle of a loop turn's batch: the records written before the
/// failure are taken, every one after it is refused as a store failure (not the forwarder's
/// fault: ignored, where a fault is rejected and struck), and the indexes hold exactly what the store holds. Once the
/// disk works again the refused records are taken and the node ends where a node that never
/// failed ends.
#[test]
fn a_write_failing_within_a_batch_refuses_the_rest_and_keeps_the_indexes_with_the_store() {
    let mut h = harness(1);
    let disk = h.svc.store().clone();
    let forwarder = identity(2);
    let members: Vec<Identity> = (10..22).map(identity).collect();
    // Profiles and needs in turn, each from its own member: one store write each.
    let records: Vec<AnyRecord> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i.is_multiple_of(2) {
                AnyRecord::Profile(sign(fixtures::profile(m, "M", &["kicad"], T0), m))
            } else {
                AnyRecord::Need(sign(fixtures::need(m, "help", &["rust"], T0), m))
            }
        })
        .collect();
    let data: Vec<(Topic, Vec<u8>)> = records
        .iter()
        .map(|r| match r {
            // The profiles topic carries the profile itself, not the record enum.
            AnyRecord::Profile(p) => (Topic::Profiles, p.encode().unwrap()),
            _ => (Topic::Needs, r.encode().unwrap()),
        })
        .collect();
    let messages: Vec<Gossip<'_>> = data
        .iter()
        .map(|(topic, data)| Gossip {
            from: forwarder.public(),
            topic: *topic,
            data,
        })
        .collect();
    let held_before = h.svc.state.records.len();
    let stored_before = disk.record_count() + disk.profile_count();

    const WRITTEN: usize = 5;
    disk.fail_writes_after(WRITTEN);
    let verdicts = h.svc.received_gossip_batch(&messages, MS);
    for (i, v) in verdicts.iter().enumerate() {
        let expected = if i < WRITTEN {
            Verdict::Accept
        } else {
            Verdict::Ignore
        };
        assert_eq!(*v, expected, "message {i}");
    }
    // Every index agrees with the store, record by record.
    for (i, r) in records.iter().enumerate() {
        let id = r.id();
        let on_disk = match r {
            AnyRecord::Profile(p) => disk.get_profile(&p.signer).unwrap().is_some(),
            _ => disk.has_record(&id).unwrap(),
        };
        assert_eq!(on_disk, i < WRITTEN, "record {i} on disk");
        assert_eq!(
            h.svc.state.records.contains(&id),
            on_disk,
            "record {i} held"
        );
        match r {
            AnyRecord::Profile(p) => assert_eq!(h.svc.knows(&p.signer), on_disk, "profile {i}"),
            _ => assert_eq!(
                h.svc.state.pull.need(&id).is_some(),
                on_disk,
                "need {i} indexed"
            ),
        }
    }
    assert_eq!(h.svc.state.records.len(), held_before + WRITTEN);
    assert_eq!(
        disk.record_count() + disk.profile_count(),
        stored_before + WRITTEN
    );

    // The disk works again: the same batch again takes exactly the refused ones.
    disk.fail_writes(false);
    let again = h.svc.received_gossip_batch(&messages, MS);
    for (i, v) in again.iter().enumerate() {
        let expected = if i < WRITTEN {
            Verdict::Ignore
        } else {
            Verdict::Accept
        };
        assert_eq!(*v, expected, "message {i} again");
    }
    let mut never_failed = harness(1);
    never_failed.svc.received_gossip_batch(&messages, MS);
    assert_eq!(h.svc.counts(), never_failed.svc.counts());
    assert_eq!(
        h.svc.state.records.len(),
        never_failed.svc.state.records.len()
    );
}
