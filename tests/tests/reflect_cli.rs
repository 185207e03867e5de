//! `guild pulse` and `guild growth` against a real daemon: what they print, JSON that hides small
//! counts, and the usage errors of a period out of range.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{parts, TestDaemon};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulse_and_growth_print_what_the_node_holds_with_small_counts_hidden() {
    let d = TestDaemon::start(&[]).await;
    let set = d
        .guild(&["profile", "set", "--name", "Ada", "--json"])
        .await;
    assert_eq!(parts(&set).0, 0, "{}", parts(&set).2);
    let add = d
        .guild(&[
            "profile", "skill", "add", "kicad", "--level", "advanced", "--json",
        ])
        .await;
    assert_eq!(parts(&add).0, 0, "{}", parts(&add).2);

    // JSON: one member with kicad — a count of 1, so "< 5"; no needs, so 0 is shown.
    let p = d.guild_json(&["pulse", "--since", "14d", "--json"]).await;
    assert_eq!(p["weeks"], json!(2));
    let kicad = p["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "kicad")
        .expect("kicad listed")
        .clone();
    assert_eq!(kicad["members"], json!("< 5"));
    assert_eq!(kicad["asks"], json!(0));
    assert_eq!(kicad["scarcity"], json!(null));
    assert_eq!(p["totals"]["members_seen"], json!("< 5"));
    assert_eq!(p["needs_now"]["open"], json!(0));

    // Text: the totals and the table, with the hidden count as "< 5".
    let (code, out, err) = parts(&d.guild(&["pulse"]).await);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("over 5 weeks"), "{out}");
    assert!(out.contains("members seen"), "{out}");
    let row = out.lines().find(|l| l.starts_with("kicad")).expect(&out);
    assert!(row.contains("< 5"), "{row}");

    // A period out of range is a usage error naming the limit.
    let (code, _, err) = parts(&d.guild(&["pulse", "--since", "0d"]).await);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = parts(&d.guild(&["pulse", "--since", "60w"]).await);
    assert_eq!(code, 2);
    assert!(err.contains("52w"), "{err}");

    // Growth of yourself: the profile versions this node saw (a name first, then kicad).
    let g = d.guild_json(&["growth", "--json"]).await;
    let levels = g["levels"].as_array().unwrap();
    assert_eq!(
        levels.last().unwrap()["skills"],
        json!([["kicad", "advanced"]])
    );
    assert_eq!(g["name"], json!("Ada"));
    let (code, out, err) = parts(&d.guild(&["growth"]).await);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Growth of Ada"), "{out}");
    assert!(out.contains("kicad advanced"), "{out}");
}
