//! `guild invite` and `guild join` / `guild daemon --init --join` with real daemons on 127.0.0.1:
//! what they print, the exit code of each refused code, and what a join keeps across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{parts, TestDaemon};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_invites_joins_on_first_start_and_refuses_bad_codes_with_their_exit_codes() {
    let a = TestDaemon::start(&[]).await;
    let set = a.guild(&["profile", "set", "--name", "Ada"]).await;
    assert_eq!(parts(&set).0, 0, "{}", parts(&set).2);
    let out = a.guild(&["invite", "--uses", "2", "--note", "hi"]).await;
    let (code, text, err) = parts(&out);
    assert_eq!(code, 0, "{err}");
    let invite = text
        .lines()
        .find(|l| l.starts_with("guild1-"))
        .expect("the code on a line of its own")
        .to_string();
    assert!(text.contains("guild://join/guild1-"), "{text}");

    // A second daemon on a fresh home: a tampered code and an unknown one are refused with
    // their exit codes, and change nothing.
    let b = TestDaemon::start(&[]).await;
    let config_before = std::fs::read_to_string(b.home.join("config.toml")).unwrap();
    let mut flipped = invite.clone();
    flipped.truncate(invite.len() - 6);
    let r = b.guild(&["join", &flipped, "--trust"]).await;
    let (code, _, err) = parts(&r);
    assert_eq!(code, 10, "{err}");
    assert!(err.contains("not a valid Guild invitation code"), "{err}");
    let revoke_id = a.guild_json(&["invite", "--list", "--json"]).await["invites"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a.guild(&["invite", "--revoke", &revoke_id]).await;
    assert_eq!(parts(&r).0, 0, "{}", parts(&r).2);
    let r = b.guild(&["join", &invite, "--trust"]).await;
    let (code, _, err) = parts(&r);
    assert_eq!(code, 14, "{err}");
    assert!(err.contains("revoked"), "{err}");
    assert_eq!(
        std::fs::read_to_string(b.home.join("config.toml")).unwrap(),
        config_before
    );

    // A fresh home joins on its first start with `guild daemon --init --join CODE --trust`.
    let fresh = a.guild_json(&["invite", "--json"]).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newcomer");
    let mut c = TestDaemon::spawn(&path, &["--init", "--join", &fresh, "--trust"]);
    c.wait_ready().await;
    let a_id = a.status().await.peer_id;
    let roots = c.guild_json(&["trust", "roots", "--json"]).await;
    assert_eq!(roots["roots"][0]["peer"], a_id.as_str(), "{roots}");
    let config = std::fs::read_to_string(path.join("config.toml")).unwrap();
    assert!(config.contains(&format!("/p2p/{a_id}")), "{config}");
    let listed = a.guild_json(&["invite", "--list", "--json"]).await;
    // Codes made within one second list in id order: find this one by its code.
    let used = listed["invites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == fresh.as_str())
        .unwrap_or_else(|| panic!("the code is listed: {listed}"));
    assert_eq!(used["uses"], 1, "{listed}");

    // Restarted with no flags, the newcomer is back in the inviter's community: the config
    // keeps the inviter as a bootstrap peer.
    c.signal("TERM");
    c.wait_exit(common::WAIT).await;
    let mut c = TestDaemon::spawn(&path, &[]);
    c.wait_ready().await;
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let peers = c.guild_json(&["peers", "--json"]).await;
        let connected = peers["peers"]
            .as_array()
            .is_some_and(|l| l.iter().any(|p| p["peer_id"] == a_id.as_str()));
        if connected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not reconnected to the inviter after a restart: {peers}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // The inviter's list names who joined once their profile arrived (named at listing time:
    // the newcomer had no name yet when it joined).
    let r = c.guild(&["profile", "set", "--name", "Cyrus"]).await;
    assert_eq!(parts(&r).0, 0, "{}", parts(&r).2);
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let (code, text, err) = parts(&a.guild(&["invite", "--list"]).await);
        assert_eq!(code, 0, "{err}");
        if text.contains("joined: Cyrus") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the newcomer is not named in the list: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A home started with the default config (the README's first command) joins a community with
/// another name: the running daemon cannot speak to it (the community is in every protocol
/// id), so `guild join` says how, and `guild daemon --join` moves the home. A home that joined a
/// community keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_that_joined_no_one_moves_to_the_inviters_community_and_one_that_joined_does_not() {
    let a = TestDaemon::start(&["--community", "garden"]).await;
    let invite = a.guild_json(&["invite", "--json"]).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let a_id = a.status().await.peer_id;

    let home = common::TestHome::init();
    let config_path = home.path.join("config.toml");
    let mut b = TestDaemon::start_on(&home, &[]).await;
    let config_before = std::fs::read_to_string(&config_path).unwrap_or_default();
    let r = b.guild(&["join", &invite, "--trust"]).await;
    let (code, _, err) = parts(&r);
    assert_eq!(code, 16, "{err}");
    assert!(err.contains("`garden`") && err.contains("`main`"), "{err}");
    assert!(err.contains("guild daemon --join <code> --trust"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&config_path).unwrap_or_default(),
        config_before,
        "a refused join changes nothing"
    );

    // Stopped and started with the code, the same home (same identity) moves to `garden`.
    let b_id = b.status().await.peer_id;
    b.signal("TERM");
    b.wait_exit(common::WAIT).await;
    let mut b = TestDaemon::spawn(&home.path, &["--join", &invite, "--trust"]);
    let status = b.wait_ready().await;
    assert_eq!(status.peer_id, b_id);
    let roots = b.guild_json(&["trust", "roots", "--json"]).await;
    assert_eq!(roots["roots"][0]["peer"], a_id.as_str(), "{roots}");
    let config = std::fs::read_to_string(&config_path).unwrap();
    assert!(config.contains("community = \"garden\""), "{config}");
    assert!(config.contains(&format!("/p2p/{a_id}")), "{config}");

    // Now it belongs to `garden`: a code of a third community is refused at start, with the
    // reason, and the config is left as it was.
    let c = TestDaemon::start(&["--community", "orchard"]).await;
    let other = c.guild_json(&["invite", "--json"]).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let r = b.guild(&["join", &other]).await;
    let (code, _, err) = parts(&r);
    assert_eq!(code, 16, "{err}");
    assert!(err.contains("use a fresh home"), "{err}");
    b.signal("TERM");
    b.wait_exit(common::WAIT).await;
    let mut refused = TestDaemon::spawn(&home.path, &["--join", &other]);
    let (status, _) = refused.wait_exit(common::WAIT).await;
    assert!(!status.success());
    let log = refused.log_text();
    assert!(
        log.contains(
            "this invitation is for community `orchard`, but this home belongs to `garden`"
        ),
        "{log}"
    );
    assert_eq!(std::fs::read_to_string(&config_path).unwrap(), config);
}
