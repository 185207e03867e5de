//! A mesh that stays open, with real daemons in one process (TCP on 127.0.0.1 port 0, mDNS off,
//! every wait bounded): a full member points newcomers elsewhere, a refused member says so and
//! gets in once a slot frees, and a crowd bootstrapped from one member spreads out.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{options, within, TestNode};
use guild_core::control::MeshState;
use guild_net::Multiaddr;
use guild_node::node::{NodeOptions, Snapshot};
use std::time::Duration;

fn mesh_options(bootstrap: &[Multiaddr], low: usize, high: usize) -> NodeOptions {
    let mut o = options("main", bootstrap);
    o.low_water = low;
    o.high_water = high;
    o.mesh_grace = Duration::from_millis(1_500);
    o
}

/// Waits (on published snapshots, no polling) until `cond` holds for the node's snapshot.
async fn until(node: &TestNode, what: &str, cond: impl Fn(&Snapshot) -> bool) {
    let mut rx = node.node.watch_snapshot();
    within(what, async {
        loop {
            if cond(&rx.borrow_and_update()) {
                return;
            }
            rx.changed().await.unwrap();
        }
    })
    .await;
}

fn connected_to(s: &Snapshot, n: &TestNode) -> bool {
    let id = n.node.peer_id();
    s.peers.iter().any(|(p, _, _)| *p == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_member_prunes_a_newcomer_with_addresses_of_other_members() {
    // B keeps one connection; A is its settled peer; C joins through B alone.
    let b = TestNode::start(60, mesh_options(&[], 1, 1)).await;
    let b_addr = b.addr().await;
    let a = TestNode::start(61, mesh_options(std::slice::from_ref(&b_addr), 1, 4)).await;
    until(&b, "b connected to a", |s| connected_to(s, &a)).await;
    let c = TestNode::start(62, mesh_options(&[b_addr], 1, 4)).await;
    // C learns A's address from B before B lets it go, dials A, and stays connected.
    until(
        &c,
        "c connected to a, whom only b could tell it about",
        |s| connected_to(s, &a),
    )
    .await;
    until(&b, "b back within its high watermark", |s| {
        s.peers.len() <= 1
    })
    .await;
    assert!(b.node.stats().mesh_pruned.get() >= 1, "b pruned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_member_says_why_and_gets_in_once_a_slot_frees() {
    // B accepts a single inbound connection (the network layer's hard limit), held by A.
    let mut opts = mesh_options(&[], 1, 4);
    opts.net.max_incoming = 1;
    opts.net.reserved_incoming = 0;
    let b = TestNode::start(70, opts).await;
    let b_addr = b.addr().await;
    let a = TestNode::start(71, mesh_options(std::slice::from_ref(&b_addr), 1, 4)).await;
    until(&b, "b connected to a", |s| connected_to(s, &a)).await;
    let c = TestNode::start(72, mesh_options(&[b_addr], 1, 4)).await;
    until(&c, "c says it is not connected to the community", |s| {
        s.mesh.as_ref().is_some_and(|m| m.state == MeshState::Alone)
    })
    .await;
    let m = c.node.snapshot().mesh.unwrap();
    let reason = m.reason.unwrap();
    assert!(
        reason.contains("could be reached") && reason.contains("retrying"),
        "{reason}"
    );
    assert_eq!(m.peers, 0);
    // A leaves: B has a free slot, and C's next retry gets in.
    a.stop().await;
    until(&c, "c connected to b", |s| connected_to(s, &b)).await;
    // Once the link has lasted, C no longer says it is alone.
    until(&c, "c's status says it is connected", |s| {
        s.mesh.as_ref().is_some_and(|m| {
            matches!(m.state, MeshState::Connected | MeshState::Thin) && m.reason.is_none()
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_bootstrapped_from_one_member_spreads_out() {
    let first = TestNode::start(80, mesh_options(&[], 2, 3)).await;
    let boot = first.addr().await;
    let mut crowd = Vec::new();
    for i in 0..9u8 {
        crowd.push(TestNode::start(81 + i, mesh_options(std::slice::from_ref(&boot), 2, 3)).await);
    }
    // Nobody is left alone, and the first member sheds the crowd down to its watermarks.
    for n in &crowd {
        until(n, "every member has a peer other than the first", |s| {
            s.peers.iter().any(|(p, _, _)| *p != first.node.peer_id())
        })
        .await;
    }
    until(
        &first,
        "the first member back within its high watermark",
        |s| s.peers.len() <= 3,
    )
    .await;
    assert!(first.node.stats().mesh_pruned.get() >= 1);
}
