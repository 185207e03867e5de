//! The node's derived state saved whole and read back (`saved.rs`).

use super::*;
use crate::saved::{SavedStateError, MAGIC};
use std::io::Cursor;

/// A node holding some of everything: counted attestations (ours through a root, strangers'
/// in the pools), profiles, needs, a revocation.
fn busy_node() -> Harness {
    let mut v = harness(1);
    let (bea, cai, dan, eve) = (identity(2), identity(3), fresh(4), fresh(5));
    trust_root(&mut v, &bea);
    counted_attestation(&mut v, &bea, &cai, MS);
    counted_attestation(&mut v, &dan, &eve, MS + 1000);
    for (i, who) in [&bea, &cai, &dan, &eve].into_iter().enumerate() {
        let p = sign(
            fixtures::profile(
                who,
                &format!("member {i}"),
                &["kicad", "rust"],
                T0 + i as u64,
            ),
            who,
        );
        v.gossip(who, AnyRecord::Profile(p), MS + 1500).unwrap();
    }
    let needs: Vec<Signed<Need>> = [(&bea, T0), (&dan, T0 + 1), (&eve, T0 + 2)]
        .into_iter()
        .map(|(who, at)| a_need(who, at))
        .collect();
    for n in &needs {
        let who = if n.signer == bea.public() {
            &bea
        } else if n.signer == dan.public() {
            &dan
        } else {
            &eve
        };
        v.gossip(who, AnyRecord::Need(n.clone()), MS + 2000)
            .unwrap();
    }
    let gone = revocation(&eve, needs[2].id(), RecordKind::Need, T0 + 4);
    v.gossip(&eve, AnyRecord::Revocation(gone), MS + 3000)
        .unwrap();
    v
}

fn save(s: &Service) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    s.save_state(&mut out).unwrap();
    out.into_inner()
}

/// `s`'s state restored from `bytes` over a copy of its store (as it is now).
fn restore(s: &Service, bytes: &[u8], now: Millis) -> Result<Service, SavedStateError> {
    Service::restore(
        identity(1),
        s.store().copy(),
        ServiceConfig::default(),
        1,
        now,
        &mut Cursor::new(bytes),
    )
}

#[test]
fn a_saved_state_gives_back_what_a_load_of_the_store_builds() {
    let v = busy_node();
    let loaded = Service::new(
        identity(1),
        v.svc.store().clone(),
        ServiceConfig::default(),
        1,
        MS + 4000,
    )
    .unwrap();
    let bytes = save(&loaded);
    let restored = restore(&loaded, &bytes, MS + 4000).unwrap();
    assert_eq!(restored.same_derived_state(&loaded), Ok(()));
    assert_eq!(restored.counts(), loaded.counts());
    assert!(restored.counts().records > 5 && restored.counts().profiles == 4);
    // Saved again, as many bytes (the hash maps' orders differ): nothing lost or added.
    assert_eq!(save(&restored).len(), bytes.len());
}

#[test]
fn a_running_nodes_saved_state_continues_it_and_answers_the_same() {
    let mut v = busy_node();
    let bytes = save(&v.svc);
    let mut restored = restore(&v.svc, &bytes, MS + 4000).unwrap();
    assert_eq!(restored.same_derived_state(&v.svc), Ok(()));
    let q = index::Query {
        skills: vec![tag("kicad")],
        limit: 10,
        ..Default::default()
    };
    let peers = |s: &mut Service| -> Vec<PublicKey> {
        s.find(&q, MS + 4000)
            .0
            .into_iter()
            .map(|m| m.peer)
            .collect()
    };
    let found = peers(&mut v.svc);
    assert_eq!(found.len(), 4);
    assert_eq!(peers(&mut restored), found);
    // It goes on taking records as the node it continues would.
    let fay = fresh(6);
    let n = a_need(&fay, T0 + 9);
    for s in [&mut v.svc, &mut restored] {
        let mut w = Harness {
            svc: std::mem::replace(s, harness(9).svc),
            me: identity(1),
            next_call: 1_000,
        };
        w.gossip(&fay, AnyRecord::Need(n.clone()), MS + 5000)
            .unwrap();
        *s = w.svc;
    }
    assert_eq!(restored.same_derived_state(&v.svc), Ok(()));
}

#[test]
fn records_that_expired_while_the_node_was_stopped_are_dropped_as_a_load_drops_them() {
    let v = busy_node();
    let bytes = save(&v.svc);
    // Needs live 30 days; profiles and attestations longer.
    let later = MS + 31 * 86_400_000;
    let restored = restore(&v.svc, &bytes, later).unwrap();
    let loaded = Service::new(
        identity(1),
        v.svc.store().clone(),
        ServiceConfig::default(),
        1,
        later,
    )
    .unwrap();
    assert_eq!(restored.counts(), loaded.counts());
    assert!(restored.counts().records < v.svc.counts().records);
    assert_eq!(restored.state.pull.needs().count(), 0);
    assert_eq!(loaded.state.pull.needs().count(), 0);
}

#[test]
fn a_damaged_torn_or_foreign_saved_state_is_refused_with_its_reason() {
    let v = busy_node();
    let bytes = save(&v.svc);
    let header = MAGIC.len() + 4 + 8 + 8 + 4;
    assert!(bytes.len() > header + 100);
    let refused = |b: Vec<u8>| restore(&v.svc, &b, MS + 4000).err().map(|e| e.to_string());

    let mut flipped = bytes.clone();
    flipped[header + 50] ^= 0x10;
    assert!(matches!(
        restore(&v.svc, &flipped, MS + 4000),
        Err(SavedStateError::Checksum)
    ));
    let torn = bytes[..bytes.len() - 7].to_vec();
    assert!(matches!(
        restore(&v.svc, &torn, MS + 4000),
        Err(SavedStateError::Checksum)
    ));
    let mut magic = bytes.clone();
    magic[0] = b'X';
    assert!(matches!(
        restore(&v.svc, &magic, MS + 4000),
        Err(SavedStateError::Magic)
    ));
    let mut format = bytes.clone();
    format[MAGIC.len()] = 99;
    assert!(matches!(
        restore(&v.svc, &format, MS + 4000),
        Err(SavedStateError::Format { found: 99 })
    ));
    let mut build = bytes.clone();
    build[MAGIC.len() + 4] ^= 1;
    let why = refused(build).unwrap();
    assert!(why.contains("another build"), "{why}");
    let mut huge = bytes.clone();
    huge[MAGIC.len() + 12..MAGIC.len() + 20].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        restore(&v.svc, &huge, MS + 4000),
        Err(SavedStateError::TooLarge(_))
    ));
    assert!(refused(Vec::new()).is_some(), "an empty file");
    // Another identity's node (the home's key replaced).
    let other = Service::restore(
        identity(7),
        v.svc.store().copy(),
        ServiceConfig::default(),
        1,
        MS + 4000,
        &mut Cursor::new(&bytes),
    );
    assert!(
        matches!(other, Err(SavedStateError::Identity { saved }) if saved == identity(1).public())
    );
    // The undamaged bytes are still good.
    assert!(restore(&v.svc, &bytes, MS + 4000).is_ok());
}
