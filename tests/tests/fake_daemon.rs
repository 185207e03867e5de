//! The `guild` binary against the real control server backed by a fake node: what the CLI sends,
//! how it prints results, and which exit code each daemon error gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use guild_core::control::{
    Call, CallError, Direction, Event, FindMatch, FindResults, IndexSizes, PeerInfo, Peers,
    ProfileDraft, SkillInput, Source, Status, TagSuggestion,
};
use guild_core::control::{Reply, Unary};
use guild_core::{Identity, Level, Signed, SkillTag};
use guild_node::control::Handle;
use serde_json::Value;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone)]
struct Fake {
    calls: Arc<Mutex<Vec<Call>>>,
    events: broadcast::Sender<Event>,
    cancel: CancellationToken,
}

fn ada() -> Identity {
    Identity::from_secret([0xA1; 32])
}

fn tag(s: &str) -> SkillTag {
    SkillTag::parse(s).unwrap()
}

/// A fake's typed answer.
fn reply<T: Into<Reply>>(v: T) -> Result<Reply, CallError> {
    Ok(v.into())
}

impl Handle for Fake {
    async fn call(&self, call: Unary) -> Result<Reply, CallError> {
        let call = Call::from(call);
        self.calls.lock().unwrap().push(call.clone());
        match call {
            Call::Status => reply(Status {
                peer_id: ada().peer_id().to_string(),
                version: "9.9.9".into(),
                community: "makers".into(),
                pid: 4242,
                listen_addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
                external_addrs: vec![],
                connected_peers: 2,
                index: IndexSizes {
                    profiles: 57,
                    records: 212,
                },
                uptime_secs: 3725,
                web: None,
                mesh: None,
            }),
            Call::Peers => reply(Peers {
                peers: vec![PeerInfo {
                    peer_id: "12D3KooWpeer".into(),
                    addresses: vec!["/ip4/192.0.2.7/tcp/4001".into()],
                    direction: Some(Direction::Inbound),
                    connected_since: None,
                    latency_ms: Some(12),
                    name: Some("Grace".into()),
                }],
                remembered: vec![guild_core::control::RememberedPeer {
                    peer_id: "12D3KooWgone".into(),
                    addresses: vec!["/ip4/192.0.2.8/tcp/4001".into()],
                    last_seen: 1_700_000_000,
                    sessions: 3,
                    name: Some("Hedy".into()),
                }],
            }),
            Call::ProfileGet(p) if p.peer.is_some() => {
                Err(CallError::not_found("no profile known"))
            }
            Call::ProfileGet(_) => Ok(Reply::Profile(None)),
            Call::ProfileUpdate(update) => {
                let draft = update.apply(&ProfileDraft::default())?;
                let body = draft.into_profile(ada().public(), 1, 2);
                reply(Some(
                    Signed::sign(body, &ada()).map_err(CallError::internal)?,
                ))
            }
            Call::Find(_) => reply(FindResults {
                results: vec![FindMatch {
                    peer: ada().public(),
                    name: "Ada".into(),
                    skills: vec![guild_core::Skill {
                        tag: tag("rust"),
                        level: Level::Expert,
                    }],
                    resources: vec![],
                    score: 0.875,
                    trust: None,
                    stranger: true,
                    matched: vec![guild_core::control::MatchedTerm {
                        word: "rust".into(),
                        field: "skill".into(),
                        term: "rust".into(),
                        how: "exact".into(),
                    }],
                    factors: None,
                    last_seen: None,
                    introduced_by: None,
                    source: Source::Local,
                }],
                suggestions: vec![TagSuggestion {
                    tag: "embeded".into(),
                    did_you_mean: vec![tag("embedded")],
                }],
                dht_queried: false,
            }),
            Call::Connect(p) if p.addr == "/bad" => {
                Err(CallError::invalid_params("`/bad` is not a multiaddr"))
            }
            Call::Connect(p) => Err(CallError::peer_unreachable(format!(
                "cannot reach {}",
                p.addr
            ))),
            Call::Shutdown => {
                self.cancel.cancel();
                Ok(Reply::Done)
            }
            other => Err(CallError::unavailable(format!(
                "{} is not faked",
                other.method()
            ))),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        let rx = self.events.subscribe();
        // Queued before the acknowledgement is written, so they follow it.
        for i in 0..3 {
            let _ = self.events.send(Event::PeerConnected {
                peer: format!("p{i}"),
                address: None,
                direction: None,
            });
        }
        let _ = self
            .events
            .send(Event::PeerDisconnected { peer: "p0".into() });
        rx
    }
}

type Daemon = common::FakeDaemon<Fake>;

async fn start() -> Daemon {
    let fake = Fake {
        calls: Arc::default(),
        events: broadcast::channel(64).0,
        cancel: CancellationToken::new(),
    };
    Daemon::start(fake.clone(), fake.calls.clone(), fake.cancel.clone()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_peers_print_tables_or_json() {
    let d = start().await;
    let (code, out, err) = d.run(&["status"]).await;
    assert_eq!(code, 0, "{err}");
    for needle in [
        "community  makers",
        "9.9.9 (pid 4242)",
        "1h 2m",
        "57 profiles, 212 records",
    ] {
        assert!(out.contains(needle), "{needle:?} in\n{out}");
    }
    let (code, out, _) = d.run(&["status", "--json"]).await;
    assert_eq!(code, 0);
    let status: Status = serde_json::from_str(&out).unwrap();
    assert_eq!(status.pid, 4242);

    let (code, out, _) = d.run(&["peers"]).await;
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("PEER"), "{out}");
    let row = lines.next().unwrap();
    assert!(
        row.contains("12D3KooWpeer")
            && row.contains("Grace")
            && row.contains("inbound")
            && row.contains("12 ms"),
        "{out}"
    );
    assert!(
        out.contains("Remembered, not connected (1;")
            && out
                .lines()
                .any(|l| l.contains("12D3KooWgone") && l.contains("Hedy")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_edits_are_one_update_call() {
    let d = start().await;
    let (code, out, err) = d
        .run(&[
            "profile",
            "skill",
            "add",
            "PCB Design",
            "rust",
            "--level",
            "expert",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pcb-design (expert)"), "{out}");
    let Call::ProfileUpdate(update) = d.last_call() else {
        panic!("not an update")
    };
    let expert = |t: &str| SkillInput {
        tag: tag(t),
        level: Some(Level::Expert),
    };
    assert_eq!(
        update.add_skills,
        vec![expert("pcb-design"), expert("rust")]
    );

    let (code, out, _) = d
        .run(&[
            "profile",
            "set",
            "--name",
            "Ada",
            "--link",
            "https://a.example",
            "--json",
        ])
        .await;
    assert_eq!(code, 0);
    let profile: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(profile["body"]["name"], "Ada");
    assert_eq!(profile["body"]["links"][0], "https://a.example");

    // Removing what is not there is the daemon's not_found: exit 4.
    let (code, _, err) = d.run(&["profile", "skill", "rm", "haskell"]).await;
    assert_eq!(code, 4, "{err}");
    assert_eq!(err.trim(), "error: skill `haskell` is not in your profile");

    let (code, out, _) = d.run(&["profile", "show"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("no profile yet"), "{out}");
    let (code, _, _) = d
        .run(&["profile", "show", &ada().peer_id().to_string()])
        .await;
    assert_eq!(code, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_shows_matches_and_suggestions() {
    let d = start().await;
    let (code, out, err) = d
        .run(&["find", "Rust", "embeded", "--limit", "5", "--local"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("0.88") && out.contains("Ada") && out.contains("rust (exact, expert)"),
        "{out}"
    );
    assert!(
        out.contains("stranger"),
        "no trust path is shown as such: {out}"
    );
    assert!(
        out.contains("`embeded` matched nobody: did you mean embedded?"),
        "{out}"
    );
    let Call::Find(params) = d.last_call() else {
        panic!("not find")
    };
    assert_eq!(params.query.as_deref(), Some("Rust embeded"));
    assert!(params.skills.is_empty());
    assert_eq!((params.limit, params.local_only), (Some(5), true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_errors_map_to_exit_codes() {
    let mut d = start().await;
    let (code, _, err) = d.run(&["connect", "/ip4/192.0.2.1/tcp/1"]).await;
    assert_eq!(code, 5, "{err}");
    assert_eq!(err.trim(), "error: cannot reach /ip4/192.0.2.1/tcp/1");
    let (code, _, err) = d.run(&["connect", "/bad"]).await;
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = d.run(&["events", "--kind", "nope"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown event kind `nope`"), "{err}");
    let (code, out, err) = d.run(&["shutdown"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("shutting down"), "{out}");
    tokio::time::timeout(WAIT, d.task.take().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!d.socket.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_as_json_lines_until_the_daemon_stops() {
    let d = start().await;
    let mut child = d
        .command(&["events", "--json", "--kind", "peer.connected"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for i in 0..3 {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["event"], "peer.connected");
        assert_eq!(event["peer"], format!("p{i}"));
    }
    d.fake.cancel.cancel();
    assert_eq!(
        tokio::time::timeout(WAIT, lines.next_line())
            .await
            .unwrap()
            .unwrap(),
        None
    );
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.status.code(), Some(6));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("shutting down"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_read_well_without_json() {
    let d = start().await;
    let seen = d.event_lines(&[], 4).await;
    assert!(
        seen[0].starts_with("peer.connected") && seen[0].ends_with("p0"),
        "{seen:?}"
    );
    assert!(
        seen[3].starts_with("peer.disconnected") && seen[3].ends_with("p0"),
        "{seen:?}"
    );
}
