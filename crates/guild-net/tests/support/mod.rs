//! Helpers for the network tests: nodes on loopback TCP, waiting on events (never sleeping).

#![allow(dead_code)] // each test binary uses a different subset

use std::{collections::HashSet, future::Future, time::Duration};

use guild_net::{
    identity::Keypair, multiaddr::Protocol, spawn, Client, Multiaddr, NetConfig, NetEvent, PeerId,
    Topic, Verdict,
};
use tokio::{sync::mpsc, task::JoinHandle};

/// Bound on any single wait in a test.
pub const STEP: Duration = Duration::from_secs(20);

/// Bound on a whole test.
pub const TEST: Duration = Duration::from_secs(60);

/// Runs a test body under the whole-test bound.
pub async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST, body)
        .await
        .expect("test exceeded its time bound");
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A running node and the receiving end of its events.
pub struct TestNode {
    pub client: Client,
    pub events: mpsc::Receiver<NetEvent>,
    pub peer: PeerId,
    /// First listen address, with `/p2p/<peer>` (None for nodes that do not listen).
    pub addr: Option<Multiaddr>,
    pub task: JoinHandle<()>,
}

impl TestNode {
    /// Starts a node; if it listens, waits until its first address is known.
    pub async fn start(config: NetConfig) -> TestNode {
        let listens = !config.listen.is_empty();
        let (client, events, task) = spawn(Keypair::generate_ed25519(), config, None)
            .await
            .expect("node starts");
        let peer = client.local_peer_id();
        let mut node = TestNode {
            client,
            events,
            peer,
            addr: None,
            task,
        };
        if listens {
            let addr = node
                .wait_for(|e| match e {
                    NetEvent::Listening(addr) => Some(addr.clone()),
                    _ => None,
                })
                .await;
            node.addr = Some(addr.with_p2p(peer).expect("no /p2p yet"));
        }
        node
    }

    /// The listen address with `/p2p/<peer>`.
    pub fn addr(&self) -> Multiaddr {
        self.addr.clone().expect("node listens")
    }

    /// Waits for the first event `f` picks, discarding the others.
    pub async fn wait_for<T>(&mut self, mut f: impl FnMut(&NetEvent) -> Option<T>) -> T {
        let wait = async {
            loop {
                let event = self.events.recv().await.expect("event loop running");
                if let Some(found) = f(&event) {
                    return found;
                }
            }
        };
        tokio::time::timeout(STEP, wait)
            .await
            .expect("timed out waiting for an event")
    }

    /// Waits until every peer in `peers` has subscribed to `topic`.
    pub async fn wait_subscribed(&mut self, peers: &[PeerId], topic: Topic) {
        let mut missing: HashSet<PeerId> = peers.iter().copied().collect();
        while !missing.is_empty() {
            let peer = self
                .wait_for(|e| match e {
                    NetEvent::PeerSubscribed { peer, topic: t } if *t == topic => Some(*peer),
                    _ => None,
                })
                .await;
            missing.remove(&peer);
        }
    }

    /// Waits until `peer` is connected.
    pub async fn wait_connected(&mut self, peer: PeerId) {
        self.wait_for(|e| match e {
            NetEvent::PeerConnected { peer: p, .. } if *p == peer => Some(()),
            _ => None,
        })
        .await
    }

    /// Waits until `peer` has disconnected.
    pub async fn wait_disconnected(&mut self, peer: PeerId) {
        self.wait_for(|e| match e {
            NetEvent::PeerDisconnected { peer: p } if *p == peer => Some(()),
            _ => None,
        })
        .await
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.client.shutdown();
    }
}

/// Whether an address goes through a relay.
pub fn is_circuit(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// A configuration for tests on loopback, optionally bootstrapped from `bootstrap`.
pub fn config(community: &str, bootstrap: &[&TestNode]) -> NetConfig {
    let mut config = NetConfig::local(community);
    config.bootstrap = bootstrap.iter().map(|n| n.addr()).collect();
    config
}

/// Consumes a node's events in the background: accepts all gossip and answers every request
/// with `b"echo:" ‖ request`. Returns the client side of the node.
pub fn serve_echo(node: TestNode) -> (Client, PeerId, JoinHandle<()>) {
    let TestNode {
        ref client, peer, ..
    } = node;
    let client = client.clone();
    let responder = client.clone();
    let mut node = node;
    let mut events = std::mem::replace(&mut node.events, mpsc::channel(1).1);
    let handle = tokio::spawn(async move {
        let _node = node; // keep the node (and its shutdown-on-drop) alive with the task
        while let Some(event) = events.recv().await {
            match event {
                NetEvent::InboundRequest { data, channel, .. } => {
                    let mut answer = b"echo:".to_vec();
                    answer.extend_from_slice(&data);
                    let _ = responder.respond(channel, answer).await;
                }
                NetEvent::Gossip {
                    message_id,
                    propagation_source,
                    ..
                } => {
                    let _ = responder
                        .report_validation(message_id, propagation_source, Verdict::Accept)
                        .await;
                }
                _ => {}
            }
        }
    });
    (client, peer, handle)
}

pub mod flood;
