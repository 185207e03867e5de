#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use guild_core::control::{Client, ClientError, Direction, IndexSizes, Peers, Status};
use guild_core::control::{Reply, Unary};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;

/// Bound on every wait in these tests: generous, since CI machines are slow, but finite.
const WAIT: Duration = Duration::from_secs(20);

/// A node that answers from fixed data, hangs on `connect` to "hang", and stops on `shutdown`.
#[derive(Clone)]
struct Fake {
    events: broadcast::Sender<Event>,
    cancel: CancellationToken,
    /// Notified when a hanging call has started.
    hanging: Arc<tokio::sync::Notify>,
}

/// A fake's typed answer.
fn reply<T: Into<Reply>>(v: T) -> Result<Reply, CallError> {
    Ok(v.into())
}

impl Handle for Fake {
    async fn call(&self, call: Unary) -> Result<Reply, CallError> {
        let call = Call::from(call);
        match call {
            Call::Status => reply(Status {
                peer_id: "12D3KooWfake".into(),
                version: "test".into(),
                community: "main".into(),
                pid: std::process::id(),
                listen_addrs: vec![],
                external_addrs: vec![],
                connected_peers: 0,
                index: IndexSizes::default(),
                uptime_secs: 1,
                web: None,
                mesh: None,
            }),
            Call::Peers => reply(Peers::default()),
            Call::Connect(p) if p.addr == "hang" => {
                self.hanging.notify_one();
                std::future::pending().await
            }
            Call::Connect(p) => Err(CallError::peer_unreachable(format!(
                "cannot reach {}",
                p.addr
            ))),
            Call::Shutdown => {
                self.cancel.cancel();
                Ok(Reply::Done)
            }
            Call::ProfileGet(_) => panic!("a bug in the node"),
            other => Err(CallError::not_found(format!(
                "fake has no {}",
                other.method()
            ))),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

struct Server {
    _dir: tempfile::TempDir,
    path: PathBuf,
    fake: Fake,
    stats: ServerStats,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(limits: ServerLimits) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("guild.sock");
        let listener = bind(&path).await.unwrap();
        let fake = Fake {
            events: broadcast::channel(1 << 16).0,
            cancel: CancellationToken::new(),
            hanging: Arc::default(),
        };
        let stats = ServerStats::default();
        let task = tokio::spawn(serve(
            listener,
            fake.clone(),
            limits,
            stats.clone(),
            fake.cancel.clone(),
        ));
        Server {
            _dir: dir,
            path,
            fake,
            stats,
            task,
        }
    }

    async fn raw(&self) -> Raw {
        let (read, write) = UnixStream::connect(&self.path).await.unwrap().into_split();
        Raw {
            read: BufReader::new(read),
            write,
        }
    }

    /// Cancels and waits for `serve` to return.
    async fn stop(self) {
        self.fake.cancel.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .unwrap()
            .unwrap();
        assert!(!self.path.exists(), "socket removed");
    }
}

/// A connection driven line by line.
struct Raw {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Raw {
    async fn send(&mut self, line: &str) {
        self.write.write_all(line.as_bytes()).await.unwrap();
        self.write.write_all(b"\n").await.unwrap();
    }

    /// The next line as JSON, or `None` at end of stream.
    async fn recv(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.read.read_line(&mut line))
            .await
            .expect("no answer in time")
            .unwrap();
        (n > 0).then(|| serde_json::from_str(&line).unwrap())
    }

    async fn ask(&mut self, line: &str) -> Value {
        self.send(line).await;
        self.recv().await.expect("connection closed")
    }
}

fn code(response: &Value) -> i64 {
    response["error"]["code"].as_i64().unwrap_or(0)
}

fn peer_event(i: usize, padding: usize) -> Event {
    Event::PeerConnected {
        peer: format!("p{i}"),
        address: Some("x".repeat(padding)),
        direction: Some(Direction::Outbound),
    }
}

#[tokio::test]
async fn many_pipelined_requests_are_answered_in_order() {
    let server = Server::start(ServerLimits::default()).await;
    let mut conn = server.raw().await;
    let batch: String = (0..200)
        .map(|i| format!("{{\"id\":{i},\"method\":\"status\"}}\n"))
        .collect();
    conn.write.write_all(batch.as_bytes()).await.unwrap();
    for i in 0..200 {
        let r = conn.recv().await.unwrap();
        assert_eq!(r["id"], json!(i));
        assert_eq!(r["result"]["pid"], json!(std::process::id()));
    }
    assert_eq!(server.stats.requests(), 200);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_connections_are_served() {
    let server = Server::start(ServerLimits::default()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let path = server.path.clone();
        tasks.spawn(async move {
            let mut client = Client::connect(&path).await.unwrap();
            for _ in 0..25 {
                assert_eq!(client.status().await.unwrap().pid, std::process::id());
            }
        });
    }
    tokio::time::timeout(WAIT, async {
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    })
    .await
    .unwrap();
    assert_eq!(server.stats.requests(), 16 * 25);
    assert_eq!(server.stats.accepted(), 16);
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_errors_and_the_connection_stays_usable() {
    let server = Server::start(ServerLimits {
        max_request_bytes: 64,
        ..ServerLimits::default()
    })
    .await;
    let mut conn = server.raw().await;
    let cases = [
        ("{oops", ErrorCode::ParseError),
        ("[]", ErrorCode::InvalidRequest),
        (r#"{"id":1,"method":"nope"}"#, ErrorCode::MethodNotFound),
        (
            r#"{"id":2,"method":"find","params":{"skils":["x"]}}"#,
            ErrorCode::InvalidParams,
        ),
        (
            r#"{"id":3,"method":"connect","params":{"addr":"/ip4/1.2.3.4"}}"#,
            ErrorCode::PeerUnreachable,
        ),
    ];
    for (line, expected) in cases {
        let r = conn.ask(line).await;
        assert_eq!(code(&r), expected.code(), "{line} → {r}");
        assert_eq!(
            conn.ask(r#"{"id":"ok","method":"peers"}"#).await["result"],
            json!({"peers": []})
        );
    }
    let huge = format!(
        r#"{{"id":9,"method":"find","params":{{"text":"{}"}}}}"#,
        "a".repeat(10_000)
    );
    let r = conn.ask(&huge).await;
    assert_eq!(code(&r), ErrorCode::RequestTooLarge.code(), "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("64"),
        "{r}"
    );
    assert_eq!(
        conn.ask(r#"{"id":10,"method":"status"}"#).await["id"],
        json!(10)
    );
    // A panicking handler fails the request, not the connection.
    let r = conn.ask(r#"{"id":12,"method":"profile.get"}"#).await;
    assert_eq!(code(&r), ErrorCode::Internal.code(), "{r}");
    // Blank lines are not requests.
    conn.send("").await;
    assert_eq!(
        conn.ask(r#"{"id":11,"method":"status"}"#).await["id"],
        json!(11)
    );
    assert_eq!(server.stats.errors(), 7);
    server.stop().await;
}

#[tokio::test]
async fn subscribers_get_matching_events_in_order() {
    let server = Server::start(ServerLimits::default()).await;
    let mut peers_only = server.raw().await;
    let ack = peers_only
        .ask(r#"{"id":"s","method":"subscribe","params":{"kinds":["peer.*"]}}"#)
        .await;
    assert_eq!(ack, json!({"id": "s", "result": {"kinds": ["peer.*"]}}));
    let everything = Client::connect(&server.path).await.unwrap();
    let mut everything = everything.subscribe(vec![]).await.unwrap();
    assert_eq!(server.stats.subscribers(), 2);

    let other = guild_core::Identity::from_secret([3; 32]).public();
    for i in 0..100 {
        server.fake.events.send(peer_event(i, 0)).unwrap();
        let learned = Event::ProfileLearned {
            peer: other,
            name: format!("n{i}"),
            skills: vec![],
        };
        server.fake.events.send(learned).unwrap();
    }
    for i in 0..100 {
        let e = peers_only.recv().await.unwrap();
        assert_eq!(
            (e["event"].as_str(), e["peer"].as_str()),
            (Some("peer.connected"), Some(format!("p{i}").as_str()))
        );
        let next = |e: Option<Event>| e.unwrap();
        assert_eq!(next(everything.next().await.unwrap()), peer_event(i, 0));
        assert!(
            matches!(next(everything.next().await.unwrap()), Event::ProfileLearned { name, .. } if name == format!("n{i}"))
        );
    }
    server.stop().await;
    // The stream ends with a shutting-down line, then end of stream.
    let last = peers_only.recv().await.unwrap();
    assert_eq!(code(&last), ErrorCode::ShuttingDown.code(), "{last}");
    assert_eq!(peers_only.recv().await, None);
    assert!(
        matches!(everything.next().await, Err(ClientError::Call(e)) if e.code == ErrorCode::ShuttingDown)
    );
}

#[tokio::test]
async fn a_slow_subscriber_loses_events_is_told_and_never_blocks_the_node() {
    let server = Server::start(ServerLimits {
        subscriber_queue: 8,
        ..ServerLimits::default()
    })
    .await;
    let mut slow = server.raw().await;
    slow.ask(r#"{"id":1,"method":"subscribe"}"#).await;
    // ~20 MB of events: far more than the socket buffer and the queue hold.
    const N: usize = 20_000;
    for i in 0..N {
        // `send` never waits, whatever the subscriber does.
        server.fake.events.send(peer_event(i, 1000)).unwrap();
    }
    // The node still answers others while the subscriber reads nothing.
    let mut other = Client::connect(&server.path).await.unwrap();
    tokio::time::timeout(WAIT, other.status())
        .await
        .unwrap()
        .unwrap();

    let (mut received, mut dropped, mut notices, mut last) = (0, 0, 0, None);
    while received + dropped < N {
        let e = slow.recv().await.unwrap();
        match e["event"].as_str().unwrap() {
            "peer.connected" => {
                let i: usize = e["peer"].as_str().unwrap()[1..].parse().unwrap();
                assert!(last.is_none_or(|l| i > l), "in order: {i} after {last:?}");
                last = Some(i);
                received += 1;
            }
            "events.dropped" => {
                dropped += e["count"].as_u64().unwrap() as usize;
                notices += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(received + dropped, N);
    assert!(notices > 0 && dropped > 0, "the subscriber was told");
    assert_eq!(server.stats.events_dropped() as usize, dropped);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_fails_in_flight_requests_and_removes_the_socket() {
    let server = Server::start(ServerLimits {
        shutdown_grace: Duration::from_millis(200),
        ..ServerLimits::default()
    })
    .await;
    let mut busy = server.raw().await;
    busy.send(r#"{"id":"h","method":"connect","params":{"addr":"hang"}}"#)
        .await;
    tokio::time::timeout(WAIT, server.fake.hanging.notified())
        .await
        .unwrap();
    let mut idle = server.raw().await;
    assert_eq!(
        idle.ask(r#"{"id":1,"method":"status"}"#).await["id"],
        json!(1)
    );
    // `shutdown` is answered, then the node cancels the server.
    assert_eq!(
        idle.ask(r#"{"id":2,"method":"shutdown"}"#).await,
        json!({"id": 2, "result": null})
    );
    let r = busy.recv().await.unwrap();
    assert_eq!(
        (r["id"].clone(), code(&r)),
        (json!("h"), ErrorCode::ShuttingDown.code())
    );
    assert_eq!(idle.recv().await, None);
    let path = server.path.clone();
    server.stop().await;
    assert!(matches!(
        Client::connect(&path).await,
        Err(ClientError::NotRunning { .. })
    ));
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_with_busy() {
    let server = Server::start(ServerLimits {
        max_connections: 1,
        ..ServerLimits::default()
    })
    .await;
    let mut first = server.raw().await;
    assert_eq!(
        first.ask(r#"{"id":1,"method":"status"}"#).await["id"],
        json!(1)
    );
    let mut second = server.raw().await;
    let r = second.recv().await.unwrap();
    assert_eq!(code(&r), ErrorCode::Busy.code(), "{r}");
    assert_eq!(second.recv().await, None);
    assert_eq!(server.stats.refused(), 1);
    assert_eq!(
        first.ask(r#"{"id":2,"method":"status"}"#).await["id"],
        json!(2)
    );
    server.stop().await;
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn socket_is_private_and_a_live_daemon_is_not_replaced() {
    let server = Server::start(ServerLimits::default()).await;
    assert_eq!(mode(&server.path), 0o600);
    assert_eq!(mode(server.path.parent().unwrap()), 0o700);
    let err = bind(&server.path).await.unwrap_err();
    assert!(
        matches!(err, BindError::AlreadyRunning { pid: Some(p), .. } if p == std::process::id()),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with("a guild daemon is already running (pid "),
        "{message}"
    );
    assert!(
        message.contains(&server.path.display().to_string()),
        "{message}"
    );
    // The refused attempt left the live socket alone.
    Client::connect(&server.path)
        .await
        .unwrap()
        .status()
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_stale_socket_is_replaced_and_other_files_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guild.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let listener = bind(&path).await.unwrap();
    assert_eq!(mode(&path), 0o600);
    drop(listener);
    assert!(!path.exists(), "dropping the listener removes its socket");

    std::fs::write(&path, "precious").unwrap();
    let err = bind(&path).await.unwrap_err();
    assert!(matches!(err, BindError::NotASocket { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");

    let long = dir.path().join("x".repeat(120)).join("guild.sock");
    let err = bind(&long).await.unwrap_err();
    assert!(matches!(err, BindError::PathTooLong { .. }), "{err}");
    assert!(err.to_string().contains("--socket"), "{err}");
}

/// A daemon's socket while its node starts: served through a closed [`Gate`] over the fake.
async fn gated() -> (
    tempfile::TempDir,
    PathBuf,
    Gate<Fake>,
    crate::node::LoadProgress,
    Fake,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guild.sock");
    let listener = bind(&path).await.unwrap();
    let fake = Fake {
        events: broadcast::channel(64).0,
        cancel: CancellationToken::new(),
        hanging: Arc::default(),
    };
    let progress = crate::node::LoadProgress::default();
    let gate = Gate::new(progress.clone(), fake.events.clone());
    tokio::spawn(serve(
        listener,
        gate.clone(),
        ServerLimits::default(),
        ServerStats::default(),
        fake.cancel.clone(),
    ));
    (dir, path, gate, progress, fake)
}

#[tokio::test]
async fn while_the_node_starts_status_says_how_far_the_load_got_and_subscribers_miss_nothing() {
    let (_dir, path, gate, progress, fake) = gated().await;
    let mut client = Client::connect(&path).await.unwrap();
    let loading = |e: ClientError| match e {
        ClientError::Call(e) if e.code == ErrorCode::Loading => e.message,
        other => panic!("not `loading`: {other:?}"),
    };
    let said = loading(client.status().await.unwrap_err());
    assert!(said.contains("starting"), "{said}");
    progress.set(guild_service::LoadStep {
        phase: "attestations",
        records: 8192,
    });
    let said = loading(client.status().await.unwrap_err());
    assert!(said.contains("attestations: 8192 records"), "{said}");
    progress.loaded();
    let said = loading(client.status().await.unwrap_err());
    assert!(said.contains("loaded its store (8192 records)"), "{said}");
    assert_eq!(progress.records(), (8192, true));

    // A subscriber that comes before the node listens on the node's own channel.
    let mut sub = client.subscribe(vec![]).await.unwrap();
    gate.open(fake.clone());
    fake.events.send(peer_event(1, 0)).unwrap();
    let event = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.unwrap(), peer_event(1, 0));
    let mut client = Client::connect(&path).await.unwrap();
    assert_eq!(client.status().await.unwrap().peer_id, "12D3KooWfake");
}

#[tokio::test]
async fn while_the_node_starts_other_calls_wait_for_it_and_are_served_or_answered_loading() {
    let (_dir, _path, gate, _progress, fake) = gated().await;
    // Nobody opens the gate: answered `loading` once the wait is over.
    let gate = gate.with_wait(Duration::from_millis(50));
    let err = gate
        .call(Unary::Daemon(DaemonCall::Peers))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Loading);
    // A call waiting when the node becomes ready is served by it.
    let gate = gate.with_wait(WAIT);
    let waiting = tokio::spawn({
        let gate = gate.clone();
        async move { gate.call(Unary::Daemon(DaemonCall::Peers)).await }
    });
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished(), "it waits for the node");
    gate.open(fake);
    assert_eq!(
        waiting.await.unwrap().unwrap(),
        Reply::Peers(Peers::default())
    );
}
