//! Reconnecting after a restart: two daemons that keep their listen ports are both restarted and
//! one connects to the other at once, 20 times in a row (TCP on 127.0.0.1, mDNS off, every wait
//! bounded).
//!
//! With TCP port reuse on outgoing dials (libp2p's default), the dial leaves from the dialler's
//! listen port, so it reuses the four-tuple of the connection the restart just closed; that
//! four-tuple sits in `TIME_WAIT` and the dial fails with "Address already in use (os error
//! 98)". Guild's dials take a fresh local port (`guild-net`'s `allocate_new_port`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{options, within, TestNode};
use guild_net::Multiaddr;
use guild_node::node::NodeOptions;
use std::path::Path;

/// The node's own dials stay off (no bootstrap peers, a low watermark of 0), so the only dial
/// is the one the test makes, as `guild connect` does.
fn at(listen: Multiaddr) -> NodeOptions {
    let mut o = options("main", &[]);
    o.net.listen = vec![listen];
    o.low_water = 0;
    o.high_water = 4;
    o
}

async fn start(seed: u8, path: &Path, listen: Multiaddr) -> TestNode {
    TestNode::start_at(seed, path, at(listen)).await
}

fn tcp_port(addr: &Multiaddr) -> u16 {
    addr.iter()
        .find_map(|p| match p {
            guild_net::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{addr} has no TCP port"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_daemons_restart_and_reconnect_at_once_twenty_times() {
    let dir = tempfile::tempdir().unwrap();
    let (a_path, b_path) = (dir.path().join("a"), dir.path().join("b"));
    let any: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
    let mut a = start(70, &a_path, any.clone()).await;
    let mut b = start(71, &b_path, any).await;
    // From now on each keeps the port it was given, as a configured daemon does.
    let a_listen = a.node.wait_listening().await[0].clone();
    let b_listen = b.node.wait_listening().await[0].clone();
    let a_id = a.node.peer_id();
    let b_id = b.node.peer_id();
    for round in 1..=20 {
        let a_addr = a.addr().await;
        let peer = within(
            &format!("round {round}: b connects to a"),
            b.node.net().dial(a_addr),
        )
        .await
        .unwrap_or_else(|e| panic!("round {round}: connecting b to a failed: {e}"));
        assert_eq!(peer, a_id, "round {round}");
        // The cause, checked directly: a sees b come from a port of its own, not b's listen port.
        let seen = within(&format!("round {round}: a sees b"), async {
            let mut rx = a.node.watch_snapshot();
            let s = rx
                .wait_for(|s| s.peers.iter().any(|(p, _, _)| *p == b_id))
                .await
                .unwrap();
            s.peers
                .iter()
                .find(|(p, _, _)| *p == b_id)
                .unwrap()
                .1
                .clone()
        })
        .await
        .expect("a knows the address b connected from");
        assert_ne!(
            tcp_port(&seen),
            tcp_port(&b_listen),
            "round {round}: b dialled from its listen port ({seen})"
        );
        // Stop both (b first, so b's side of the connection is the one left in TIME_WAIT on the
        // tuple b would reuse), and start both again on the same ports, at once.
        b.stop().await;
        a.stop().await;
        a = start(70, &a_path, a_listen.clone()).await;
        b = start(71, &b_path, b_listen.clone()).await;
        assert_eq!(a.node.wait_listening().await, vec![a_listen.clone()]);
        assert_eq!(b.node.wait_listening().await, vec![b_listen.clone()]);
    }
    let peer = within("after the last restart", b.node.net().dial(a.addr().await))
        .await
        .expect("connecting b to a after the last restart");
    assert_eq!(peer, a_id);
}
