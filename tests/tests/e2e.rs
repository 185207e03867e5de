//! End to end: the real `guild` binary, real daemons with temp homes on loopback (mDNS off),
//! driven only through the CLI and the control socket.
//!
//! - two daemons: the second, bootstrapped from the first, finds it by skill;
//! - events reach a subscriber in the order the changes were made;
//! - bad requests get error answers and leave the connection usable; usage errors exit 2;
//! - one daemon per home: a second is refused on the socket (exit 7) or on the store lock;
//! - a stale socket left by a killed daemon is recovered, also when two daemons race for it;
//! - the socket is 0600 in a 0700 directory, wherever `--socket` puts it;
//! - SIGTERM, SIGINT and `guild shutdown` stop the daemon cleanly (a request in flight fails
//!   with `shutting_down`, subscribers are told), and a restart shows what was acknowledged;
//! - a start-up failure (metrics port taken) leaves no socket or pid file behind.
//!
//! Every wait is bounded; waits on the mesh wake on the event stream rather than sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bounded, parts, TestDaemon, TestHome, WAIT};
use guild_core::control::{ClientError, ErrorCode, Event, FindResults, Peers, Subscription};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::os::unix::fs::FileTypeExt;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Exit codes documented in `guild --help`.
const USAGE: i32 = 2;
const NOT_RUNNING: i32 = 3;
const NOT_FOUND: i32 = 4;
const ALREADY_RUNNING: i32 = 7;

/// Longest a daemon may take to stop after SIGTERM or `shutdown` (the daemon's own bound is
/// 10 s; the rest is slack for a loaded machine).
const STOP_WITHIN: Duration = Duration::from_secs(15);

/// The next event on a subscription, failing the test at `deadline` or if the stream ends.
async fn next_event(sub: &mut Subscription, deadline: Instant, waiting_for: &str) -> Event {
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, sub.next()).await {
        Ok(Ok(Some(event))) => event,
        Ok(Ok(None)) => panic!("the event stream ended while waiting for {waiting_for}"),
        Ok(Err(e)) => panic!("the event stream failed while waiting for {waiting_for}: {e}"),
        Err(_) => panic!("no event in {WAIT:?} while waiting for {waiting_for}"),
    }
}

/// A skill list as a set of tags.
fn tags(skills: &[guild_core::Skill]) -> BTreeSet<String> {
    skills.iter().map(|s| s.tag.to_string()).collect()
}

/// Runs a command that must succeed and returns its stdout.
async fn ok(d: &TestDaemon, args: &[&str]) -> String {
    let (code, out, err) = parts(&d.guild(args).await);
    assert_eq!(code, 0, "`guild {}`: {err}", args.join(" "));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_finds_the_first_by_skill() {
    let a = TestDaemon::start(&[]).await;
    let set = a
        .guild_json(&[
            "profile",
            "set",
            "--name",
            "Ada",
            "--bio",
            "Embedded Rust, KiCad",
            "--json",
        ])
        .await;
    assert_eq!(set["body"]["name"], "Ada");
    let set = a
        .guild_json(&[
            "profile",
            "skill",
            "add",
            "rust",
            "PCB Design",
            "--level",
            "expert",
            "--json",
        ])
        .await;
    assert_eq!(
        set["body"]["skills"],
        json!([{"tag": "rust", "level": "expert"}, {"tag": "pcb-design", "level": "expert"}])
    );
    let a_id = a.status().await.peer_id;

    let b = TestDaemon::start(&["--bootstrap", &a.dial_addr().await]).await;
    // Subscribe before the first look, so a profile learned after it wakes the loop below and
    // one learned before it is already in the index.
    let mut learned = b
        .client()
        .await
        .subscribe(vec!["profile.learned".into()])
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let mut looks = 0;
    let found = loop {
        looks += 1;
        let found: FindResults =
            serde_json::from_value(b.guild_json(&["find", "pcb design", "--json"]).await).unwrap();
        if let Some(m) = found.results.iter().find(|m| m.peer.to_string() == a_id) {
            eprintln!("found A at look {looks}, via {}", m.source);
            break m.clone();
        }
        // Not yet: wait until B learns a profile, then look again.
        next_event(&mut learned, deadline, "B to learn A's profile").await;
    };
    assert_eq!(found.name, "Ada");
    assert_eq!(
        serde_json::to_value(&found.skills).unwrap(),
        json!([{"tag": "pcb-design", "level": "expert"}]),
        "looked {looks} times"
    );

    // Once known, A is in B's local index: found without the DHT, by either skill, and shown.
    let local: FindResults = serde_json::from_value(
        b.guild_json(&["find", "rust", "pcb-design", "--local", "--json"])
            .await,
    )
    .unwrap();
    assert!(!local.dht_queried);
    assert_eq!(local.results.len(), 1, "{local:?}");
    assert_eq!(local.results[0].peer.to_string(), a_id);
    assert_eq!(tags(&local.results[0].skills).len(), 2);
    let table = ok(&b, &["find", "rust"]).await;
    assert!(table.contains("Ada") && table.contains(&a_id), "{table}");
    let shown = b.guild_json(&["profile", "show", &a_id, "--json"]).await;
    assert_eq!(shown["body"]["bio"], "Embedded Rust, KiCad");
    let peers: Peers = serde_json::from_value(b.guild_json(&["peers", "--json"]).await).unwrap();
    assert!(
        peers
            .peers
            .iter()
            .any(|p| p.peer_id == a_id && p.name.as_deref() == Some("Ada")),
        "{peers:?}"
    );
    // Nobody has this skill.
    let none: FindResults =
        serde_json::from_value(b.guild_json(&["find", "cobol", "--local", "--json"]).await)
            .unwrap();
    assert!(none.results.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_in_the_order_of_the_changes() {
    let a = TestDaemon::start(&[]).await;
    ok(&a, &["profile", "set", "--name", "Ada 0"]).await;
    ok(&a, &["profile", "skill", "add", "rust"]).await;
    let a_id = a.status().await.peer_id;
    let b = TestDaemon::start(&[]).await;
    let mut events = b
        .client()
        .await
        .subscribe(vec!["peer.connected".into(), "profile.learned".into()])
        .await
        .unwrap();
    assert_eq!(events.kinds(), ["peer.connected", "profile.learned"]);

    let connected = b
        .guild_json(&["connect", &a.dial_addr().await, "--json"])
        .await;
    assert_eq!(connected["peer_id"], a_id.as_str());

    // First A connects, then B learns A's profile (by sync on connect).
    let deadline = Instant::now() + WAIT;
    let mut saw_connect = false;
    loop {
        match next_event(&mut events, deadline, "A's first profile").await {
            Event::PeerConnected { peer, .. } if peer == a_id => saw_connect = true,
            Event::ProfileLearned { peer, name, skills } if peer.to_string() == a_id => {
                assert!(saw_connect, "profile.learned before peer.connected");
                assert_eq!(name, "Ada 0");
                assert_eq!(tags(&skills), BTreeSet::from(["rust".to_string()]));
                break;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    // A's changes and the profile after each.
    let changes: &[(&[&str], &str, &[&str])] = &[
        (&["profile", "set", "--name", "Ada 1"], "Ada 1", &["rust"]),
        (
            &["profile", "skill", "add", "kicad"],
            "Ada 1",
            &["kicad", "rust"],
        ),
        (
            &["profile", "set", "--name", "Ada 2"],
            "Ada 2",
            &["kicad", "rust"],
        ),
        (
            &["profile", "skill", "add", "pcb-design"],
            "Ada 2",
            &["kicad", "pcb-design", "rust"],
        ),
        (
            &["profile", "skill", "rm", "rust"],
            "Ada 2",
            &["kicad", "pcb-design"],
        ),
        (
            &["profile", "set", "--name", "Ada 3"],
            "Ada 3",
            &["kicad", "pcb-design"],
        ),
    ];
    let states: Vec<(String, BTreeSet<String>)> = changes
        .iter()
        .map(|(_, name, skills)| {
            (
                name.to_string(),
                skills.iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect();
    // The change an event reports; `None` for a reconnection, which may happen at any time.
    let state_of = |event: Event| -> Option<usize> {
        let (peer, name, skills) = match event {
            Event::ProfileLearned { peer, name, skills } => (peer, name, skills),
            Event::PeerConnected { peer, .. } if peer == a_id => return None,
            other => panic!("unexpected event {other:?}"),
        };
        assert_eq!(peer.to_string(), a_id);
        let state = (name, tags(&skills));
        let i = states
            .iter()
            .position(|s| *s == state)
            .unwrap_or_else(|| panic!("B learned a profile A never had: {state:?}"));
        Some(i)
    };

    // The first change reaches B before the rest are made, so the gossip path is known to be
    // live; the others then follow one another as fast as the CLI acknowledges them.
    ok(&a, changes[0].0).await;
    let deadline = Instant::now() + WAIT;
    let first = loop {
        if let Some(i) = state_of(next_event(&mut events, deadline, "change 1").await) {
            break i;
        }
    };
    assert_eq!(first, 0);
    for (args, _, _) in &changes[1..] {
        ok(&a, args).await;
    }
    // Each learned profile is newer than the one before (gossip may skip a version that a
    // newer one overtook, never reorder), and the last change arrives.
    let mut seen = vec![0];
    let deadline = Instant::now() + WAIT;
    while *seen.last().unwrap() != states.len() - 1 {
        let Some(i) = state_of(next_event(&mut events, deadline, "the last change").await) else {
            continue;
        };
        // The content of the version before, signed again: A republishes when it rejoins after
        // being alone (`guild_service::mesh`), whenever its mesh round sees that — not a reorder.
        if i == *seen.last().unwrap() {
            continue;
        }
        assert!(
            i > *seen.last().unwrap(),
            "B learned change {} after change {} (order {seen:?})",
            i + 1,
            seen.last().unwrap() + 1
        );
        seen.push(i);
    }
    eprintln!(
        "B learned {} of A's {} changes, in order: {seen:?}",
        seen.len(),
        changes.len()
    );
    let shown = b.guild_json(&["profile", "show", &a_id, "--json"]).await;
    assert_eq!(shown["body"]["name"], "Ada 3");
}

/// A raw connection to a control socket, one JSON line at a time.
struct Raw {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Raw {
    async fn connect(socket: &std::path::Path) -> Raw {
        let (read, writer) = UnixStream::connect(socket).await.unwrap().into_split();
        Raw {
            reader: BufReader::new(read),
            writer,
        }
    }

    /// Sends bytes (a newline is added) and reads one answer line.
    async fn ask(&mut self, line: &[u8]) -> Value {
        bounded("a control answer", async {
            self.writer.write_all(line).await.unwrap();
            self.writer.write_all(b"\n").await.unwrap();
            let mut answer = Vec::new();
            let n = self.reader.read_until(b'\n', &mut answer).await.unwrap();
            assert!(n > 0, "the daemon closed the connection");
            serde_json::from_slice(&answer).unwrap()
        })
        .await
    }

    /// Sends a request that must fail with `code`; returns the error message.
    async fn error(&mut self, line: &[u8], id: Value, code: i64) -> String {
        let answer = self.ask(line).await;
        assert_eq!(answer["id"], id, "{answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert!(answer.get("result").is_none(), "{answer}");
        answer["error"]["message"].as_str().unwrap().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_errors_and_the_connection_stays_usable() {
    let d = TestDaemon::start(&[]).await;
    let mut raw = Raw::connect(&d.socket()).await;

    raw.error(b"{not json", Value::Null, -32700).await;
    raw.error(b"\xff\xfe{}", Value::Null, -32700).await;
    raw.error(br#"{"id":1}"#, json!(1), -32600).await;
    raw.error(
        br#"{"id":2,"method":"status","params":[1]}"#,
        json!(2),
        -32600,
    )
    .await;
    let m = raw
        .error(br#"{"id":3,"method":"frobnicate"}"#, json!(3), -32601)
        .await;
    assert!(m.contains("frobnicate") && m.contains("status"), "{m}");
    let m = raw
        .error(
            br#"{"id":"x","method":"find","params":{"skills":["rust"],"bogus":1}}"#,
            json!("x"),
            -32602,
        )
        .await;
    assert!(m.contains("bogus"), "{m}");
    raw.error(br#"{"id":4,"method":"find","params":{}}"#, json!(4), -32602)
        .await;
    raw.error(
        br#"{"id":5,"method":"find","params":{"skills":["rust"],"limit":0}}"#,
        json!(5),
        -32602,
    )
    .await;
    raw.error(
        br#"{"id":6,"method":"status","params":{"verbose":true}}"#,
        json!(6),
        -32602,
    )
    .await;
    // Well-formed, but the profile rules refuse it (the name is too long).
    let long = format!(
        r#"{{"id":7,"method":"profile.set","params":{{"name":"{}"}}}}"#,
        "n".repeat(1000)
    );
    raw.error(long.as_bytes(), json!(7), -32602).await;
    raw.error(
        br#"{"id":8,"method":"connect","params":{"addr":"not a multiaddr"}}"#,
        json!(8),
        -32602,
    )
    .await;
    // A line of exactly the documented limit is read (and refused for its params); one byte
    // more is skipped up to its newline and answered with id null.
    let limit = guild_core::control::DEFAULT_MAX_REQUEST_BYTES;
    let padded = |id: u32, len: usize| {
        let mut line = format!(r#"{{"id":{id},"method":"status","params":{{"pad":""#).into_bytes();
        line.resize(len - 3, b'a');
        line.extend_from_slice(br#""}}"#);
        assert_eq!(line.len(), len);
        line
    };
    let m = raw.error(&padded(9, limit), json!(9), -32602).await;
    assert!(m.contains("takes no params"), "{m}");
    let m = raw.error(&padded(10, limit + 1), Value::Null, -32001).await;
    assert!(m.contains(&limit.to_string()), "{m}");
    // Empty lines are ignored; after all that, the same connection still serves requests.
    let answer = raw.ask(b"\n{\"id\":\"last\",\"method\":\"status\"}").await;
    assert_eq!(answer["id"], "last");
    assert_eq!(answer["result"]["pid"], d.pid());
    // A request without an id is answered with id null.
    let answer = raw.ask(br#"{"method":"peers"}"#).await;
    assert_eq!(answer, json!({"id": null, "result": {"peers": []}}));

    // The CLI: usage errors exit 2 (also when the daemon is the one refusing), a missing thing 4.
    let name = "n".repeat(100);
    let unknown_peer = guild_core::Identity::from_secret([7; 32])
        .peer_id()
        .to_string();
    let cases: &[(&[&str], i32)] = &[
        (&["frobnicate"], USAGE),
        (&["profile", "set"], USAGE),
        (&["find", "rust", "--limit", "0"], USAGE),
        (
            &["profile", "skill", "add", "rust", "--level", "guru"],
            USAGE,
        ),
        (&["profile", "set", "--name", &name], USAGE),
        (&["connect", "not-a-multiaddr"], USAGE),
        (&["profile", "skill", "rm", "cobol"], NOT_FOUND),
        (&["profile", "show", &unknown_peer], NOT_FOUND),
    ];
    for (args, expected) in cases {
        let (code, out, err) = parts(&d.guild(args).await);
        assert_eq!(code, *expected, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(!err.is_empty(), "{args:?}: no message");
    }
    // `guild … --json | head -0`: stdout closed before the answer arrives is not an error.
    for args in [&["status", "--json"][..], &["status"]] {
        let mut cmd = tokio::process::Command::from(common::guild(&d.home));
        cmd.args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take());
        let (code, _, err) = parts(
            &bounded("guild status", child.wait_with_output())
                .await
                .unwrap(),
        );
        assert_eq!((code, err.as_str()), (0, ""), "{args:?}");
    }
    // None of it hurt the daemon.
    assert_eq!(d.status().await.pid, d.pid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_home_is_refused() {
    let first = TestDaemon::start(&[]).await;
    let home = first.home.clone();
    let pid_file = std::fs::read_to_string(home.join("daemon.pid")).unwrap();
    assert_eq!(pid_file.trim(), first.pid().to_string());

    let (code, out, err) = parts(&first.guild(common::DAEMON_ARGS).await);
    assert_eq!(code, ALREADY_RUNNING, "{err}");
    assert!(out.is_empty(), "{out}");
    let expected = format!(
        "error: a guild daemon is already running (pid {}, socket {})",
        first.pid(),
        first.socket().display()
    );
    assert!(err.contains(&expected), "expected {expected:?} in {err:?}");

    // The first daemon is untouched: its socket, its pid file, its answers.
    assert_eq!(first.status().await.pid, first.pid());
    assert_eq!(
        std::fs::read_to_string(home.join("daemon.pid")).unwrap(),
        pid_file
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_lock_names_the_daemon_holding_it() {
    let first = TestDaemon::start(&[]).await;
    // Another socket gets past the socket check; the store is what is taken.
    let other = first.home.with_file_name("other.sock");
    let other_arg = other.to_str().unwrap();
    let mut args = vec!["--socket", other_arg];
    args.extend_from_slice(common::DAEMON_ARGS);
    let (code, out, err) = parts(&first.guild(&args).await);
    assert_ne!(code, 0, "{err}");
    assert_ne!(code, ALREADY_RUNNING, "{err}");
    assert!(out.is_empty(), "{out}");
    let store = first.home.join("store");
    let expected = format!(
        "error: the store at {} is in use by another process (pid {}): \
         is a guild daemon already running with this home?",
        store.display(),
        first.pid()
    );
    assert!(err.contains(&expected), "expected {expected:?} in {err:?}");
    // The refused daemon cleaned up its socket and left the first one's pid file alone.
    assert!(!other.exists(), "{} left behind", other.display());
    assert_eq!(
        std::fs::read_to_string(first.home.join("daemon.pid"))
            .unwrap()
            .trim(),
        first.pid().to_string()
    );
    assert_eq!(first.status().await.pid, first.pid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_is_recovered() {
    let home = TestHome::init();
    let mut killed = TestDaemon::start_on(&home, &[]).await;
    ok(&killed, &["profile", "set", "--name", "Ada"]).await;
    killed.signal("KILL");
    let (status, _) = killed.wait_exit(WAIT).await;
    assert!(!status.success());
    drop(killed);

    // A dead daemon leaves its socket behind; nobody answers on it.
    let meta = std::fs::symlink_metadata(home.socket()).unwrap();
    assert!(meta.file_type().is_socket());
    let (code, _, err) = parts(&home.guild(&["status"]).await);
    assert_eq!(code, NOT_RUNNING, "{err}");
    assert!(err.contains("no guild daemon is running"), "{err}");

    let mut again = TestDaemon::start_on(&home, &[]).await;
    assert_eq!(again.status().await.pid, again.pid());
    assert!(
        again.log_text().contains("removing stale control socket"),
        "{}",
        again.log_text()
    );
    let shown = again.guild_json(&["profile", "show", "--json"]).await;
    assert_eq!(shown["body"]["name"], "Ada");
    // It runs normally and stops normally.
    again.signal("TERM");
    let (status, _) = again.wait_exit(STOP_WITHIN).await;
    assert!(status.success(), "{status}");
    assert!(!home.socket().exists());
}

/// Whatever `profile show --json` says, minus the signature and times (a restart re-signs).
fn content(profile: &Value) -> Value {
    let b = &profile["body"];
    json!({
        "issuer": b["issuer"],
        "name": b["name"],
        "bio": b["bio"],
        "skills": b["skills"],
        "resources": b["resources"],
        "links": b["links"],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_keeps_what_was_acknowledged() {
    let home = TestHome::init();
    let mut d = TestDaemon::start_on(&home, &[]).await;
    d.guild_json(&[
        "profile",
        "set",
        "--name",
        "Grace",
        "--bio",
        "compilers",
        "--link",
        "https://grace.example",
        "--json",
    ])
    .await;
    d.guild_json(&[
        "profile", "skill", "add", "cobol", "rust", "--level", "expert", "--json",
    ])
    .await;
    let acked = d
        .guild_json(&[
            "profile",
            "resource",
            "add",
            "3d-printer",
            "--description",
            "Prusa MK4",
            "--availability",
            "weekends",
            "--json",
        ])
        .await;
    assert_eq!(acked["body"]["resources"][0]["tag"], "3d-printer");
    // A subscriber is told the daemon is going away, not left hanging.
    let mut events = d.client().await.subscribe(vec![]).await.unwrap();

    d.signal("TERM");
    let (status, took) = d.wait_exit(STOP_WITHIN).await;
    assert_eq!(status.code(), Some(0), "{status}; log:\n{}", d.log_text());
    let end = bounded("the event stream to end", async {
        loop {
            match events.next().await {
                Ok(Some(_)) => continue,
                other => break other,
            }
        }
    })
    .await;
    assert!(
        matches!(&end, Err(ClientError::Call(e)) if e.code == ErrorCode::ShuttingDown),
        "the stream should end with `shutting_down`: {end:?}"
    );
    assert!(!home.socket().exists(), "the socket is left behind");
    assert!(!home.pid_file().exists(), "the pid file is left behind");
    let log = d.log_text();
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");
    eprintln!("stopped {took:?} after SIGTERM");
    drop(d);

    let (code, _, _) = parts(&home.guild(&["status"]).await);
    assert_eq!(code, NOT_RUNNING);
    let again = TestDaemon::start_on(&home, &[]).await;
    let shown = again.guild_json(&["profile", "show", "--json"]).await;
    assert_eq!(content(&shown), content(&acked));
    assert_eq!(
        content(&shown)["skills"],
        json!([{"tag": "cobol", "level": "expert"}, {"tag": "rust", "level": "expert"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guild_shutdown_stops_the_daemon() {
    let home = TestHome::init();
    let mut d = TestDaemon::start_on(&home, &[]).await;
    let out = ok(&d, &["shutdown"]).await;
    assert!(out.contains("shutting down"), "{out}");
    let (status, _) = d.wait_exit(STOP_WITHIN).await;
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(!home.socket().exists());
    assert!(!home.pid_file().exists());
    let (code, out, err) = parts(&home.guild(&["shutdown"]).await);
    assert_eq!(code, NOT_RUNNING, "{err}");
    assert!(out.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_a_request_in_flight_and_still_exits_promptly() {
    let mut d = TestDaemon::start(&[]).await;
    // A TCP listener that accepts but never speaks: a dial to it hangs in the protocol
    // handshake until libp2p's upgrade timeout (10 s), so `connect` stays in flight.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut connect = tokio::process::Command::from(common::guild(&d.home));
    connect
        .args(["connect", &format!("/ip4/127.0.0.1/tcp/{port}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let connect = connect.spawn().unwrap();
    // The daemon dialling us proves the request reached the node.
    let (_held, _) = bounded("the daemon to dial", silent.accept())
        .await
        .unwrap();

    let signalled = Instant::now();
    d.signal("TERM");
    let output = bounded("`guild connect` to be answered", connect.wait_with_output())
        .await
        .unwrap();
    let (code, _, err) = parts(&output);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("shutting down"), "{err}");
    let (status, _) = d.wait_exit(STOP_WITHIN).await;
    assert_eq!(status.code(), Some(0), "{status}");
    // Failed after the grace period, not after the dial timed out.
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(8), "stopping took {took:?}");
    assert!(!d.socket().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_cleanly_too() {
    let home = TestHome::init();
    let mut d = TestDaemon::start_on(&home, &[]).await;
    d.signal("INT");
    let (status, _) = d.wait_exit(STOP_WITHIN).await;
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(d.log_text().contains("SIGINT received"));
    assert!(!home.socket().exists());
    assert!(!home.pid_file().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_fails_the_start_and_leaves_nothing_behind() {
    let home = TestHome::init();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = home.path.join("config.toml");
    // The default config has the section with `enabled = false` and the default port.
    let text = std::fs::read_to_string(&config).unwrap();
    let (off, port) = ("enabled = false\n", "listen = \"127.0.0.1:9464\"\n");
    assert!(
        text.matches(off).count() == 1 && text.contains(port),
        "{text}"
    );
    let enabled = text
        .replace(off, "enabled = true\n")
        .replace(port, &format!("listen = \"{addr}\"\n"));
    std::fs::write(&config, enabled).unwrap();

    let (code, out, err) = parts(&home.guild(common::DAEMON_ARGS).await);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!("error: binding the metrics endpoint on {addr}")),
        "{err}"
    );
    // It failed before the network started, and cleaned up.
    assert!(!err.contains("guild daemon started"), "{err}");
    assert!(!home.socket().exists());
    assert!(!home.pid_file().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_is_private_and_can_live_elsewhere() {
    use std::os::unix::fs::PermissionsExt;
    let home = TestHome::init();
    let run_dir = home.dir.path().join("run").join("guild");
    let socket = run_dir.join("g.sock");
    let socket_arg = socket.to_str().unwrap();
    let mut d = TestDaemon::start_with_socket(&home, &socket, &[]).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(&run_dir), 0o700);
    // Clients find it with the same flag, and only with it.
    let (code, out, err) = parts(
        &home
            .guild(&["--socket", socket_arg, "status", "--json"])
            .await,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("\"pid\": {}", d.pid())), "{out}");
    let (code, _, err) = parts(&home.guild(&["status"]).await);
    assert_eq!(code, NOT_RUNNING, "{err}");
    d.signal("TERM");
    let (status, _) = d.wait_exit(STOP_WITHIN).await;
    assert!(status.success());
    assert!(!socket.exists());
}

/// Rounds of the race below: it is a race, so a few tries make a regression likely to show.
const ROUNDS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_racing_for_a_stale_socket_leave_one_reachable() {
    let home = TestHome::init();
    for round in 0..ROUNDS {
        // A stale socket, as a crash leaves it.
        let mut killed = TestDaemon::start_on(&home, &[]).await;
        killed.signal("KILL");
        killed.wait_exit(WAIT).await;
        drop(killed);
        assert!(home.socket().exists());

        // Two daemons of the home start at once: one is refused, the other must keep its socket
        // (a loser removing the stale socket after the winner bound a fresh one would strand it).
        let mut one = TestDaemon::spawn(&home.path, &[]);
        let mut two = TestDaemon::spawn(&home.path, &[]);
        let (loser, mut winner) = bounded("one of two racing daemons to give up", async {
            tokio::select! {
                status = one.child.wait() => (status.unwrap(), two),
                status = two.child.wait() => (status.unwrap(), one),
            }
        })
        .await;
        assert!(!loser.success(), "round {round}: both started?");
        let status = winner.wait_ready().await;
        assert_eq!(status.pid, winner.pid(), "round {round}");
        winner.signal("KILL");
        winner.wait_exit(WAIT).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_need_from_the_command_line_shows_its_board() {
    let d = TestDaemon::start(&[]).await;
    let asked = d
        .guild_json(&[
            "ask",
            "A hardware prototype",
            "--role",
            "layout:kicad,pcb-design:2",
            "--role",
            "firmware:embedded-rust",
            "--place",
            "Lyon",
            "--reward",
            "paid:€40/h",
            "--json",
        ])
        .await;
    let need = asked["need"]["id"].as_str().unwrap().to_string();
    let roles = &asked["need"]["roles"];
    assert_eq!(roles[0]["label"], "layout");
    assert_eq!(roles[0]["skills"], json!(["kicad", "pcb-design"]));
    assert_eq!(roles[0]["count"], 2);
    assert_eq!(roles[1]["label"], "firmware");
    assert_eq!(roles[1]["count"], 1);
    assert_eq!(asked["need"]["project"]["place"], json!({"named": "Lyon"}));
    assert_eq!(asked["need"]["project"]["reward"]["kind"], "paid");

    let board = d.guild_json(&["team", &need, "--json"]).await;
    assert_eq!(board["status"], "staffing");
    assert_eq!(board["roles"].as_array().unwrap().len(), 2);
    assert_eq!(board["roles"][0]["filled"], false);
    let text = ok(&d, &["team", &need]).await;
    assert!(text.contains("layout") && text.contains("0 of 2"), "{text}");
    let suggested = d.guild_json(&["team", "suggest", &need, "--json"]).await;
    assert_eq!(suggested["roles"].as_array().unwrap().len(), 2);

    // `--skill` keeps working: one role of one person.
    let one = d
        .guild_json(&["ask", "Review my layout", "--skill", "kicad", "--json"])
        .await;
    assert_eq!(one["need"]["roles"][0]["label"], "helper");
    assert!(one["need"].get("project").is_none());
    let stopped = d.guild_json(&["team", &need, "--stop", "--json"]).await;
    assert_eq!(stopped["status"], "staffed");
}
