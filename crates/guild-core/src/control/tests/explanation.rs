//! The trust explanation: its JSON is the trust engine's, field for field; a shape this build
//! does not know is kept; and the sentences both the CLI and the dashboard show.

use crate::control::explanation::*;
use crate::control::MemberNames;
use crate::Identity;
use serde_json::{json, Value};

fn key(seed: u8) -> crate::PublicKey {
    Identity::from_secret([seed; 32]).public()
}

/// What `guild_trust::Explanation<PublicKey>` serialises to (every member written, `null`s
/// included).
fn engine_json() -> Value {
    json!({
        "ego": key(1), "target": key(2), "skill": null,
        "score": 0.05, "walk_trust": 0.2, "walks": 10000,
        "connectivity": {"bridge": key(3), "bridge_share": 0.9, "factor": 0.5,
                         "inherited_factor": 0.8, "penalty": 0.1,
                         "bridge_set": [{"node": key(3), "share": 0.7, "scale": 0.9},
                                        {"node": key(4), "share": 0.25, "scale": 1.0}],
                         "bridge_set_factor": 0.75},
        "negative_total": 0.05,
        "paths": [{"nodes": [key(1), key(3), key(2)], "share": 0.2, "contribution": 0.1}],
        "direct": [{"issuer": key(3), "skill": "welding", "score": 5, "issued_at": 1_767_233_100u64,
                    "weight": 1.0, "issuer_trust": 0.3, "contribution": 0.2},
                   {"issuer": key(1), "skill": "", "score": 5, "issued_at": 1_767_233_100u64,
                    "weight": 1.0, "issuer_trust": 1.0, "contribution": 0.1}],
        "negative": [{"issuer": key(4), "skill": "welding", "score": -3, "issued_at": 1_767_233_100u64,
                      "weight": -0.6, "issuer_trust": 0.15, "contribution": 0.05}]
    })
}

#[test]
fn the_json_is_the_engines_field_for_field() {
    let e: Explanation = serde_json::from_value(engine_json()).unwrap();
    let known = e.known().expect("known");
    assert_eq!(known.connectivity.bridge_set.len(), 2);
    assert_eq!(known.direct[1].skill_label(), "(all skills)");
    assert_eq!(serde_json::to_value(&e).unwrap(), engine_json());
}

#[test]
fn an_older_daemons_connectivity_still_reads() {
    let mut v = engine_json();
    let c = v["connectivity"].as_object_mut().unwrap();
    for k in ["bridge_set", "bridge_set_factor", "inherited_factor"] {
        c.remove(k);
    }
    let e: Explanation = serde_json::from_value(v).unwrap();
    let c = &e.known().unwrap().connectivity;
    assert_eq!((c.inherited_factor, c.bridge_set_factor), (1.0, 1.0));
    assert!(c.bridge_set.is_empty());
}

#[test]
fn a_shape_this_build_does_not_know_is_kept_as_it_came() {
    for odd in [
        json!({"version": 2, "reasons": ["something new"]}),
        json!(null),
        json!("text"),
        json!({"ego": "not a peer id", "target": 3}),
    ] {
        let e: Explanation = serde_json::from_value(odd.clone()).unwrap();
        assert_eq!(e, Explanation::Unreadable(odd.clone()));
        assert_eq!(serde_json::to_value(&e).unwrap(), odd);
    }
}

#[test]
fn the_connectivity_row_names_every_part_of_the_penalty() {
    let e: Explanation = serde_json::from_value(engine_json()).unwrap();
    let e = e.known().unwrap();
    let names = MemberNames::new(
        Some(key(1)),
        [(key(3), "Dan".to_string()), (key(4), "Cy".to_string())],
    );
    let label = |k: &crate::PublicKey| names.label(k);
    assert_eq!(
        e.connectivity_text(&label),
        "−0.1 (×0.5): 90% of the walks pass through the bridge Dan, ×0.8 of it inherited from \
         the members its walks passed, ×0.75 of it capped: Dan carries 70% of its walks, more \
         than their capacity allows"
    );
    assert_eq!(e.walk_text(), "0.2 (10000 walks)");
    assert_eq!(e.negative_text(), "−0.05");

    let mut plain = e.clone();
    plain.connectivity = Connectivity {
        bridge: None,
        bridge_share: 0.0,
        factor: 1.0,
        inherited_factor: 1.0,
        penalty: 0.0,
        bridge_set: vec![],
        bridge_set_factor: 1.0,
        bridge_set_ignored_walks: None,
        bridge_set_weight: None,
    };
    assert_eq!(plain.connectivity_text(&label), "no penalty (×1)");
    plain.connectivity.bridge = Some(key(4));
    plain.connectivity.bridge_share = 0.248;
    assert_eq!(
        plain.connectivity_text(&label),
        "no penalty (×1); the bridge Cy carries 25% of the walks"
    );

    // A partial set, with walks routed through the region left out: both named.
    let mut partial = e.clone();
    partial.connectivity.bridge_set_weight = Some(0.4);
    partial.connectivity.bridge_set_ignored_walks = Some(3);
    assert!(
        partial.connectivity_text(&label).ends_with(
            "×0.75 of it capped: Dan carries 70% of its walks, more than their capacity allows \
             (they carry only part of its walks, so it hangs off them by 40%; 3 walks routed to \
             it through their region not counted)"
        ),
        "{}",
        partial.connectivity_text(&label)
    );
    // Older daemons' JSON (without the two fields) still reads.
    let mut old = serde_json::to_value(e).unwrap();
    let c = old["connectivity"].as_object_mut().unwrap();
    assert!(!c.contains_key("bridge_set_weight"));
    c.remove("bridge_set_ignored_walks");
    let back: TrustExplanation = serde_json::from_value(old).unwrap();
    assert_eq!(back.connectivity.bridge_set_weight, None);
}

#[test]
fn a_name_two_members_share_is_told_apart() {
    let names = MemberNames::new(
        Some(key(1)),
        [
            (key(2), "Bea".to_string()),
            (key(3), " bea\n".to_string()),
            (key(4), "Cy".to_string()),
            (key(1), "Me myself".to_string()),
        ],
    );
    assert_eq!(names.label(&key(1)), "me");
    assert_eq!(names.label(&key(4)), "Cy");
    assert!(names.label(&key(2)).starts_with("Bea (…"));
    assert!(names.label(&key(3)).starts_with("bea (…"));
    assert_ne!(names.label(&key(2)), names.label(&key(3)));
    assert!(names.label(&key(5)).starts_with('…'));
}

#[test]
fn numbers_read_well() {
    assert_eq!(num(0.0), "0");
    assert_eq!(num(0.412), "0.412");
    assert_eq!(num(0.5), "0.5");
    assert_eq!(num(1.0), "1");
    assert_eq!(num(0.000_123_4), "0.000123");
    assert_eq!(num(-0.25), "-0.25");
    assert_eq!(num(12.345), "12.3");
    assert_eq!(trust_title(None, None), "Your trust in yourself");
    assert_eq!(
        trust_title(Some("Bea"), Some("kicad")),
        "Your trust in Bea for kicad"
    );
}
