#![allow(clippy::unwrap_used)]

use super::*;
use crate::fixtures::*;
use crate::limits::*;
use crate::skill::SkillTag;
use crate::time::DAY;

const NOW: UnixTime = T0 + 60;

#[test]
fn every_kind_round_trips_and_validates() {
    for record in one_of_each() {
        record
            .validate(NOW)
            .unwrap_or_else(|e| panic!("{:?}: {e}", record.kind()));
        let bytes = record.encode().unwrap();
        let back = AnyRecord::decode(&bytes).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.id(), record.id());
        // JSON (control socket) round trip too.
        let json = serde_json::to_string(&record).unwrap();
        let from_json: AnyRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(from_json, record, "{json}");
    }
}

#[test]
fn ids_are_distinct_and_ignore_the_signature() {
    let records = one_of_each();
    let ids: std::collections::BTreeSet<_> = records.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), records.len());
    // The same body in another envelope (e.g. a malleated signature) keeps its id.
    let a = identity(1);
    let p = sign(profile(&a, "Ada", &["rust"], T0), &a);
    let mut tampered = p.clone();
    tampered.signature.0[63] ^= 0x10;
    assert_eq!(tampered.id(), p.id());
    assert_eq!(
        tampered.validate(NOW),
        Err(RecordError::BadSignature {
            kind: RecordKind::Profile
        })
    );
    // Domains separate kinds: the same bytes signed as another kind never verify.
    assert_ne!(Profile::DOMAIN, Need::DOMAIN);
}

#[test]
fn bad_signatures_and_signers() {
    let a = identity(1);
    let b = identity(2);
    // Signed by b while claiming to be a.
    let forged = sign(profile(&a, "Ada", &["rust"], T0), &b);
    assert!(matches!(
        forged.validate(NOW),
        Err(RecordError::SignerMismatch { .. })
    ));
    // Envelope signer rewritten to a: the signature no longer verifies.
    let mut forged2 = forged.clone();
    forged2.signer = a.public();
    assert!(matches!(
        forged2.validate(NOW),
        Err(RecordError::BadSignature { .. })
    ));
    // Content changed after signing.
    let mut edited = sign(profile(&a, "Ada", &["rust"], T0), &a);
    edited.body.name = "Eve".into();
    assert!(matches!(
        edited.validate(NOW),
        Err(RecordError::BadSignature { .. })
    ));
    // An issuer key that is not a curve point.
    let mut body = profile(&a, "Ada", &["rust"], T0);
    body.issuer = PublicKey([0xff; 32]);
    let mut bogus = sign(body, &a);
    bogus.signer = PublicKey([0xff; 32]);
    assert!(matches!(
        bogus.validate(NOW),
        Err(RecordError::BadKey { .. } | RecordError::BadSignature { .. })
    ));
}

#[test]
fn time_rules() {
    let a = identity(1);
    let ok = sign(profile(&a, "Ada", &["rust"], T0), &a);
    assert!(
        ok.validate(T0 - MAX_CLOCK_SKEW_SECS).is_ok(),
        "skew tolerated"
    );
    assert!(matches!(
        ok.validate(T0 - MAX_CLOCK_SKEW_SECS - 1),
        Err(RecordError::FromTheFuture { .. })
    ));
    assert!(matches!(
        ok.validate(T0 + 7 * DAY),
        Err(RecordError::Expired { ago: 0, .. })
    ));
    let mut body = profile(&a, "Ada", &["rust"], T0);
    body.expires_at = T0 + MAX_PROFILE_LIFETIME + 1;
    assert!(matches!(
        sign(body, &a).validate(NOW),
        Err(RecordError::Lifetime { .. })
    ));
    let mut body = need(&a, "x", &["rust"], T0);
    body.expires_at = T0;
    assert!(matches!(
        sign(body, &a).validate(T0 - 1),
        Err(RecordError::Lifetime { .. })
    ));
}

#[test]
fn version_and_size_limits() {
    let a = identity(1);
    let mut body = profile(&a, "Ada", &["rust"], T0);
    body.version = 2;
    assert!(matches!(
        sign(body, &a).validate(NOW),
        Err(RecordError::UnsupportedVersion { version: 2, .. })
    ));
    let mut body = profile(&a, "Ada", &["rust"], T0);
    body.bio = "x".repeat(MAX_BIO_BYTES + 1);
    let err = sign(body, &a).validate(NOW).unwrap_err();
    assert!(err.to_string().contains("bio"), "{err}");
    // Oversized encodings are refused before decoding.
    let huge = vec![0u8; MAX_PROFILE_BYTES + 1];
    assert!(matches!(
        Signed::<Profile>::decode(&huge),
        Err(RecordError::Codec {
            source: crate::codec::CodecError::TooLarge { .. },
            ..
        })
    ));
    // Many fields each within limits but together too big for the record.
    let mut body = profile(&a, "Ada", &["rust"], T0);
    body.resources = (0..MAX_RESOURCES)
        .map(|i| Resource {
            tag: tag(&format!("thing-{i}")),
            description: "d".repeat(MAX_RESOURCE_DESCRIPTION_BYTES),
            availability: "a".repeat(MAX_AVAILABILITY_BYTES),
        })
        .collect();
    body.bio = "b".repeat(MAX_BIO_BYTES);
    body.links = vec!["l".repeat(MAX_LINK_BYTES); MAX_LINKS];
    let err = sign(body, &a).validate(NOW).unwrap_err();
    assert!(matches!(err, RecordError::Codec { .. }), "{err}");
}

#[test]
fn field_rules() {
    let a = identity(1);
    let b = identity(2);
    let mut body = profile(&a, "Ada", &["rust"], T0);
    body.skills.push(Skill {
        tag: SkillTag::new_unchecked("Rust"),
        level: Level::Expert,
    });
    let err = sign(body, &a).validate(NOW).unwrap_err();
    assert!(err.to_string().contains("not normalised"), "{err}");
    let mut body = profile(&a, "Ada", &["rust", "rust"], T0);
    body.links.clear();
    assert!(sign(body, &a)
        .validate(NOW)
        .unwrap_err()
        .to_string()
        .contains("twice"));
    let mut body = profile(&a, "Ada\u{0000}", &["rust"], T0);
    body.links.clear();
    assert!(sign(body, &a).validate(NOW).is_err());

    let n = sign(need(&a, "help", &["kicad"], T0), &a);
    let mut empty = need(&a, "  ", &["kicad"], T0);
    assert!(sign(empty.clone(), &a).validate(NOW).is_err());
    empty.text = "help".into();
    empty.skills.clear();
    assert!(
        sign(empty, &a).validate(NOW).is_err(),
        "a need asks for something"
    );

    for bad in [0i8, 6, -6, i8::MIN] {
        let att = sign(attestation(&a, &b, n.id(), bad, T0), &a);
        assert!(att.validate(NOW).is_err(), "score {bad}");
    }
    let self_vouch = sign(attestation(&a, &a, n.id(), 3, T0), &a);
    assert!(self_vouch.validate(NOW).is_err());
    let mut seq = attestation(&a, &b, n.id(), 3, T0);
    seq.seq = 2;
    assert!(sign(seq, &a)
        .validate(NOW)
        .unwrap_err()
        .to_string()
        .contains("prev"));

    // An offer on one's own need.
    let own = sign(offer(&a, &n, T0), &a);
    assert!(own.validate(NOW).is_err());
}

#[test]
fn collaboration_names_members_by_offer_id() {
    let a = identity(1);
    let b = identity(2);
    let c = identity(3);
    let n = sign(need(&a, "review", &["kicad"], T0), &a);
    let ob = sign(offer(&b, &n, T0), &b);
    let collab = sign(collaboration(&a, n.clone(), vec![ob.clone()], T0), &a);
    collab.validate(NOW).unwrap();
    assert_eq!(collab.body.members(), vec![a.public(), b.public()]);
    assert!(!collab.body.is_member(&c.public()));
    assert_eq!(collab.body.offer_of(&b.public()), Some(ob.id()));
    assert_eq!(collab.body.need, n.id());
    // No text of the need or the offer is in the record.
    let bytes = collab.encode().unwrap();
    for text in [n.body.text.as_bytes(), ob.body.text.as_bytes()] {
        assert!(!bytes.windows(text.len()).any(|w| w == text));
    }

    let refused = |body: Collaboration, what: &str| {
        let e = sign(body, &a).validate(NOW).unwrap_err().to_string();
        assert!(e.contains("offers"), "{what}: {e}");
    };
    // At least one offer.
    let mut empty = collab.body.clone();
    empty.offers.clear();
    refused(empty, "no offer");
    // One offer per offerer.
    let mut twice = collab.body.clone();
    twice.offers.push(Accepted {
        offerer: b.public(),
        offer: n.id(),
    });
    refused(twice, "two offers of one member");
    // The asker cannot be their own offerer.
    let mut own = collab.body.clone();
    own.offers.push(Accepted {
        offerer: a.public(),
        offer: n.id(),
    });
    refused(own, "the asker as offerer");
    // At most MAX_COLLAB_OFFERS.
    let mut many = collab.body.clone();
    many.offers = (0..=crate::limits::MAX_COLLAB_OFFERS as u8)
        .map(|i| Accepted {
            offerer: identity(10 + i).public(),
            offer: n.id(),
        })
        .collect();
    refused(many, "too many offers");
    // The collaboration stays valid after the need and offer expire.
    assert!(collab.validate(T0 + 30 * DAY).is_ok());
}

#[test]
fn close_entries_carry_no_text() {
    let a = identity(1);
    let e = sign(
        CollabEntry {
            version: RECORD_VERSION,
            issuer: a.public(),
            collaboration: RecordId([7; 32]),
            issued_at: T0,
            expires_at: T0 + DAY,
            seq: 1,
            clock: 1,
            entry: EntryKind::Close,
        },
        &a,
    );
    e.validate(NOW).unwrap();
    // Variant order is part of the format: Post 0, Invite 1, Join 2, Close 3.
    let body = crate::codec::encode(&e.body).unwrap();
    assert_eq!(body.last(), Some(&3));
}

#[test]
fn batch_verification_agrees() {
    let a = identity(1);
    let records: Vec<Signed<Profile>> = (0..16)
        .map(|i| sign(profile(&a, &format!("n{i}"), &["rust"], T0 + i), &a))
        .collect();
    let msgs: Vec<Vec<u8>> = records
        .iter()
        .map(|r| signing_bytes(&r.body).unwrap())
        .collect();
    let msg_refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
    let sigs: Vec<_> = records
        .iter()
        .map(|r| ed25519_dalek::Signature::from_bytes(&r.signature.0))
        .collect();
    let keys: Vec<_> = records
        .iter()
        .map(|r| r.signer.verifying_key().unwrap())
        .collect();
    assert!(ed25519_dalek::verify_batch(&msg_refs, &sigs, &keys).is_ok());
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for len in 0..300usize {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let _ = AnyRecord::decode(&bytes);
        let _ = Signed::<Profile>::decode_valid(&bytes, NOW);
        let _ = Signed::<Collaboration>::decode_valid(&bytes, NOW);
    }
    // Valid record bytes, truncated at every point.
    for record in one_of_each() {
        let bytes = record.encode().unwrap();
        for cut in 0..bytes.len() {
            assert!(AnyRecord::decode(&bytes[..cut]).is_err());
        }
    }
}

#[test]
fn records_of_every_allowed_size_decode_as_any_record() {
    // A need, an offer and a message with the longest text allowed are valid, so they must also
    // decode through `AnyRecord` (gossip, the store) and not only through their own type.
    let id = identity(1);
    let helper = identity(2);
    let text = "x".repeat(MAX_TEXT_BYTES);
    let need = sign(
        Need {
            text: text.clone(),
            ..need(&id, "n", &["rust"], T0)
        },
        &id,
    );
    let offer = sign(
        Offer {
            text: text.clone(),
            ..offer(&helper, &need, T0)
        },
        &helper,
    );
    let message = sign(
        Message {
            version: RECORD_VERSION,
            issuer: id.public(),
            to: helper.public(),
            issued_at: T0,
            expires_at: T0 + DAY,
            nonce: 1,
            text,
        },
        &id,
    );
    for record in [
        AnyRecord::Need(need),
        AnyRecord::Offer(offer),
        AnyRecord::Message(message),
    ] {
        record.validate(NOW).unwrap();
        let bytes = record.encode().unwrap();
        assert!(bytes.len() <= MAX_ANY_RECORD_BYTES);
        assert_eq!(
            AnyRecord::decode(&bytes).unwrap(),
            record,
            "{:?}",
            record.kind()
        );
    }
    for max in [
        MAX_PROFILE_BYTES,
        MAX_NEED_BYTES,
        MAX_OFFER_BYTES,
        MAX_ATTESTATION_BYTES,
        MAX_REVOCATION_BYTES,
        MAX_COLLABORATION_BYTES,
        MAX_ENTRY_BYTES,
    ] {
        assert!(max < MAX_ANY_RECORD_BYTES);
    }
}

#[test]
fn version_2_records_round_trip_and_version_1_bytes_are_unchanged() {
    for record in project_records() {
        record
            .validate(NOW)
            .unwrap_or_else(|e| panic!("{:?}: {e}", record.kind()));
        let bytes = record.encode().unwrap();
        let back = AnyRecord::decode(&bytes).unwrap();
        assert_eq!(back, record);
        let json = serde_json::to_string(&record).unwrap();
        let from_json: AnyRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(from_json, record, "{json}");
    }
    // A version 1 need is its eight fields, nothing more; it reads as one role of one person.
    let a = identity(1);
    let v1 = need(&a, "a board", &["kicad"], T0);
    let mut fields = crate::codec::encode(&(
        v1.version,
        v1.issuer,
        v1.issued_at,
        v1.expires_at,
        v1.text.clone(),
        v1.skills.clone(),
        v1.resources.clone(),
    ))
    .unwrap();
    fields.extend(crate::codec::encode(&v1.nonce).unwrap());
    assert_eq!(crate::codec::encode(&v1).unwrap(), fields);
    let roles = v1.roles();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].label.as_str(), DEFAULT_ROLE_LABEL);
    assert_eq!(roles[0].count, 1);
    assert_eq!(roles[0].skills, vec![tag("kicad")]);
    // A version 2 body cut after the version 1 fields is refused, not read as version 1.
    let v2 = project_need(&a, "x", vec![role("layout", &["kicad"], 1)], T0);
    let mut short = v2.clone();
    short.project = None;
    assert!(
        crate::codec::encode(&short).is_err(),
        "version 2 needs a project"
    );
    let mut cut = v2.clone();
    cut.version = 1;
    let cut_bytes = crate::codec::encode(&Need {
        project: None,
        ..cut
    })
    .unwrap();
    let mut as_v2 = cut_bytes.clone();
    as_v2[0] = 2;
    assert!(crate::codec::decode::<Need>(&as_v2, 8192).is_err());
    let mut v3 = cut_bytes;
    v3[0] = 3;
    let err = crate::codec::decode::<Need>(&v3, 8192).unwrap_err();
    assert!(err.to_string().contains("version 3"), "{err}");
}

#[test]
fn project_rules_name_the_field() {
    let a = identity(1);
    let check = |body: Need, field: &str, words: &str| {
        let err = sign(body, &a).validate(NOW).unwrap_err();
        match &err {
            RecordError::Field {
                field: f, reason, ..
            } => {
                assert_eq!(*f, field, "{err}");
                assert!(reason.contains(words), "{err}");
            }
            other => panic!("expected a field error, got {other}"),
        }
    };
    let ok = |roles: Vec<Role>| project_need(&a, "a prototype", roles, T0);
    check(ok(vec![]), "roles", "at least one role");
    check(
        ok((0..=MAX_ROLES)
            .map(|i| role(&format!("r{i}"), &["kicad"], 1))
            .collect()),
        "roles",
        "exceed the limit of 8",
    );
    check(
        ok(vec![
            role("layout", &["kicad"], 1),
            role("layout", &["rust"], 1),
        ]),
        "roles.label",
        "appears twice",
    );
    check(
        ok(vec![role("layout", &["kicad"], 0)]),
        "roles.count",
        "1 to 10",
    );
    check(
        ok(vec![role("layout", &["kicad"], 11)]),
        "roles.count",
        "1 to 10",
    );
    check(ok(vec![role("layout", &[], 1)]), "roles.skills", "no skill");
    let mut r = role("layout", &["kicad"], 1);
    r.note = "n".repeat(MAX_ROLE_NOTE_BYTES + 1);
    check(ok(vec![r]), "roles.note", "exceed");
    let mut r = role("layout", &["kicad"], 1);
    r.effort = Some("e".repeat(MAX_EFFORT_BYTES + 1));
    check(ok(vec![r]), "roles.effort", "exceed");
    let mut body = ok(vec![role("layout", &["kicad"], 1)]);
    body.skills.push(tag("rust"));
    check(body, "skills", "every role's skills");
    let mut body = ok(vec![role("layout", &["kicad"], 1)]);
    body.project.as_mut().unwrap().due = Some(T0);
    check(body, "due", "after the need is posted");
    let mut body = ok(vec![role("layout", &["kicad"], 1)]);
    body.project.as_mut().unwrap().place = Place::Named(" ".into());
    check(body, "place", "must not be empty");
    let mut body = ok(vec![role("layout", &["kicad"], 1)]);
    body.project.as_mut().unwrap().reward.text = "r".repeat(MAX_REWARD_BYTES + 1);
    check(body, "reward", "exceed");
    // An offer names a role by index; a version 1 offer is for role 0.
    let b = identity(2);
    let n = sign(ok(vec![role("layout", &["kicad"], 1)]), &a);
    let mut o = role_offer(&b, &n, MAX_ROLES as u8, T0);
    let err = sign(o.clone(), &b).validate(NOW).unwrap_err();
    assert!(err.to_string().contains("role"), "{err}");
    o.role = 1;
    o.version = 1;
    assert!(
        crate::codec::encode(&o).is_err(),
        "a version 1 offer is for role 0"
    );
    // Accept and release entries are version 2.
    let mut e = match &project_records()[2] {
        AnyRecord::CollabEntry(e) => e.body.clone(),
        _ => unreachable!(),
    };
    e.version = 1;
    let err = sign(e, &a).validate(NOW).unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");
}

#[test]
fn one_signing_message_gives_the_id_the_check_and_the_encoding() {
    let (a, b) = (identity(1), identity(2));
    let sponsorship = sign(
        Sponsorship {
            version: RECORD_VERSION,
            issuer: a.public(),
            newcomer: b.public(),
            invite: [7; 16],
            issued_at: T0,
            expires_at: T0 + DAY,
        },
        &a,
    );
    let mut records = one_of_each();
    records.extend(project_records());
    records.push(sponsorship.into());
    for record in records {
        let msg = record.signing_message().unwrap();
        assert_eq!(
            RecordId::of_message(&msg),
            record.id(),
            "{:?}",
            record.kind()
        );
        assert_eq!(
            record.encode_with(&msg),
            record.encode().unwrap(),
            "{:?}",
            record.kind()
        );
        let check = record.check_unsigned_with(msg, NOW).unwrap();
        let alone = record.check_unsigned(NOW).unwrap();
        assert_eq!(check.message, alone.message);
        assert!(check.verify().is_ok());
    }
}
