//! Test nodes: temp store, deterministic identity, loopback TCP on port 0, mDNS off.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod work;

use guild_core::codec;
use guild_core::control::{Event, ProfileDraft};
use guild_core::fixtures::{identity, tag};
use guild_core::wire::{DirectRequest, DirectResponse, RefusalReason, MAX_RESPONSE_BYTES};
use guild_core::{AnyRecord, Identity, Level, PublicKey, Skill};
use guild_net::{Multiaddr, NetConfig, NetEvent, Topic};
use guild_node::node::{Node, NodeOptions};
use guild_store::Store;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// Bound on any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(60);

pub struct TestNode {
    pub node: Node,
    pub task: Option<JoinHandle<()>>,
    pub seed: u8,
    pub store_path: PathBuf,
    pub events: broadcast::Receiver<Event>,
    _dir: Option<tempfile::TempDir>,
}

pub fn options(community: &str, bootstrap: &[Multiaddr]) -> NodeOptions {
    let mut o = NodeOptions::local(community);
    o.net.bootstrap = bootstrap.to_vec();
    o
}

impl TestNode {
    pub async fn start(seed: u8, opts: NodeOptions) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let mut n = TestNode::start_at(seed, &path, opts).await;
        n._dir = Some(dir);
        n
    }

    pub async fn start_at(seed: u8, path: &Path, opts: NodeOptions) -> TestNode {
        let store = Store::open(path).unwrap();
        let identity = Identity::from_secret([seed; 32]);
        let (node, task) = Node::start(identity, store, opts, None).await.unwrap();
        let events = node.subscribe();
        TestNode {
            node,
            task: Some(task),
            seed,
            store_path: path.to_path_buf(),
            events,
            _dir: None,
        }
    }

    pub fn key(&self) -> PublicKey {
        self.node.public_key()
    }

    pub async fn addr(&self) -> Multiaddr {
        self.node.dial_addr().await
    }

    pub async fn set_skills(&self, name: &str, skills: &[&str]) {
        let draft = ProfileDraft {
            name: name.into(),
            bio: format!("{name} on a test mesh"),
            skills: skills
                .iter()
                .map(|s| Skill {
                    tag: tag(s),
                    level: Level::Advanced,
                })
                .collect(),
            resources: vec![],
            links: vec![],
        };
        self.node.set_own_profile(draft).await.unwrap();
    }

    /// Waits (on node events, no polling sleeps) until `cond` holds.
    pub async fn until(&mut self, what: &str, mut cond: impl FnMut(&Node) -> bool) {
        let node = self.node.clone();
        let events = &mut self.events;
        let r = tokio::time::timeout(WAIT, async {
            loop {
                if cond(&node) {
                    return;
                }
                match events.recv().await {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => panic!("node stopped"),
                }
            }
        })
        .await;
        assert!(r.is_ok(), "timed out waiting until {what}");
    }

    /// Stops the node and waits until its store is released.
    pub async fn stop(mut self) -> PathBuf {
        self.node.shutdown();
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        self.store_path.clone()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.node.shutdown();
    }
}

/// Awaits a future with the test bound.
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Polls `cond` every 20 ms (for conditions no event announces), bounded by [`WAIT`].
pub async fn poll_until(what: &str, mut cond: impl FnMut() -> bool) {
    let r = tokio::time::timeout(WAIT, async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        while !cond() {
            tick.tick().await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting until {what}");
}

/// Waits for the first event `pick` accepts, bounded by [`WAIT`].
pub async fn next_event(
    n: &mut TestNode,
    what: &str,
    mut pick: impl FnMut(&Event) -> bool,
) -> Event {
    within(what, async {
        loop {
            match n.events.recv().await {
                Ok(e) if pick(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{what}: {e}"),
            }
        }
    })
    .await
}

/// Polls an async `cond` every 20 ms (for conditions read through the node loop), bounded by
/// [`WAIT`].
pub async fn poll_until_async<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let r = tokio::time::timeout(WAIT, async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        while !cond().await {
            tick.tick().await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting until {what}");
}

/// A raw libp2p peer (no Guild service behind it) that sends whatever it wants to `target`:
/// direct requests, and gossip on the topics `target` subscribed to.
pub struct Rogue {
    pub client: guild_net::Client,
    pub target: guild_net::PeerId,
    /// The topics `target` told us it subscribed to.
    topics: watch::Receiver<Vec<Topic>>,
}

impl Rogue {
    pub async fn start(seed: u8, target: &TestNode) -> Rogue {
        let mut cfg = NetConfig::local(target.node.community());
        cfg.bootstrap = vec![target.addr().await];
        let (client, mut events, _task) = guild_net::spawn(identity(seed).keypair(), cfg, None)
            .await
            .unwrap();
        let target = target.node.peer_id();
        let (topics_tx, topics) = watch::channel(Vec::new());
        // Acknowledge whatever is delivered to us, like a cooperating member would, and note
        // which topics the target joined.
        let responder = client.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    NetEvent::InboundRequest { channel, .. } => {
                        let ack = codec::encode(&DirectResponse::Ack).unwrap();
                        let _ = responder.respond(channel, ack).await;
                    }
                    NetEvent::PeerSubscribed { peer, topic } if peer == target => {
                        topics_tx.send_modify(|t| t.push(topic));
                    }
                    _ => {}
                }
            }
        });
        Rogue {
            client,
            target,
            topics,
        }
    }

    pub async fn send_bytes(&self, bytes: Vec<u8>) -> DirectResponse {
        let answer = self.client.request(self.target, bytes).await.unwrap();
        codec::decode(&answer, MAX_RESPONSE_BYTES).unwrap()
    }

    /// Delivers a record and returns the answer, whatever it is.
    pub async fn send(&self, r: AnyRecord) -> DirectResponse {
        self.send_bytes(codec::encode(&DirectRequest::Deliver(Box::new(r))).unwrap())
            .await
    }

    pub async fn deliver(&self, r: AnyRecord) -> String {
        self.refusal(r).await.1
    }

    /// Delivers and returns the typed refusal.
    pub async fn refusal(&self, r: AnyRecord) -> (RefusalReason, String) {
        match self.send(r).await {
            DirectResponse::Error { reason, message } => (reason, message),
            other => panic!("accepted: {other:?}"),
        }
    }

    /// Waits until the target has joined `topic` (so what we publish on it reaches the target).
    pub async fn joined(&self, topic: Topic) {
        let mut topics = self.topics.clone();
        within(
            "the target joins the topic",
            topics.wait_for(|t| t.contains(&topic)),
        )
        .await
        .unwrap();
    }

    /// Publishes on a gossip topic the target joined.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) {
        self.joined(topic).await;
        self.client.publish(topic, data).await.unwrap();
    }
}
