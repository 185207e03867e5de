//! Floods from strangers, round two (issue 20), against real daemons: a daemon started during a
//! connection flood from many loopback addresses still connects and gets peers, and a peer past
//! eight strikes sees `Busy`, is cut off, and its address with it — but not a member behind that
//! address. Real TCP on 127.x addresses (all of 127/8 is loopback), mDNS off, every wait bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

#[path = "../../guild-net/tests/support/flood.rs"]
#[allow(dead_code)]
mod flood;

use common::{options, poll_until_async, within, Rogue, TestNode};
use guild_core::control::reputation::TrustAddParams;
use guild_core::control::ServiceCall;
use guild_core::fixtures::tag;
use guild_core::wire::{DirectResponse, RefusalReason};
use guild_core::PublicKey;
use guild_net::{GuardStats, NetConfig, PeerId};
use guild_node::node::NodeOptions;
use guild_service::index::Query;

async fn trust_root(victim: &TestNode, who: PublicKey) {
    victim
        .node
        .call(ServiceCall::TrustAdd(TrustAddParams {
            peer: who,
            skill: None,
            note: "a friend".into(),
        }))
        .await
        .unwrap();
}

/// Production inbound limits (16 per address, 48 strangers per /24, 4 handshakes per address
/// at once and 2 a second after) on a loopback daemon.
fn production_limits(mut o: NodeOptions) -> NodeOptions {
    let defaults = NetConfig::default();
    o.net.max_incoming_per_ip = defaults.max_incoming_per_ip;
    o.net.max_incoming_per_range = defaults.max_incoming_per_range;
    o.net.handshake_burst_per_ip = defaults.handshake_burst_per_ip;
    o.net.handshakes_per_ip_per_minute = defaults.handshakes_per_ip_per_minute;
    o
}

async fn guard(n: &TestNode) -> GuardStats {
    n.node.net().admission_stats().await.unwrap().connections
}

async fn is_connected(n: &TestNode, peer: PeerId) -> bool {
    n.node
        .net()
        .connected_peers()
        .await
        .unwrap()
        .iter()
        .any(|p| p.peer == peer)
}

/// Issue 20, attack 1 with a real daemon: 195 connections from 13 addresses of 127.0.0.0/24
/// (15 each, under the per-address limit), then a daemon D bootstrapped from the victim V:
/// D connects, gets V's records (a member's profile), announces a skill and is found by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_started_during_a_connection_flood_connects_and_gets_peers() {
    let mut victim = TestNode::start(160, production_limits(options("main", &[]))).await;
    victim.set_skills("vic", &["kicad"]).await;
    let v_addr = victim.addr().await;
    let member = TestNode::start(161, options("main", std::slice::from_ref(&v_addr))).await;
    member.set_skills("member", &["pcb-design"]).await;
    let km = member.key();
    victim
        .until("the victim knows the member", move |n| n.knows(&km))
        .await;

    let decided =
        |g: GuardStats| g.admitted + g.denied_room + g.denied_per_ip + g.denied_handshake_rate;
    let at_start = guard(&victim).await;
    let before = decided(at_start);
    let started = std::time::Instant::now();
    let mut flooders = Vec::new();
    for a in 2..=14 {
        for _ in 0..15 {
            flooders.push(flood::connect_from(&format!("127.0.0.{a}"), &v_addr, None).await);
        }
    }
    let v = &victim;
    poll_until_async("the victim decided on the flood", || async move {
        decided(guard(v).await) >= before + 195
    })
    .await;
    let during = guard(&victim).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        during.inbound_strangers <= NetConfig::default().max_incoming_per_range,
        "{during:?}"
    );
    // Each address got at most its burst and what refilled meanwhile through the handshake;
    // the rest was closed before it.
    let d = NetConfig::default();
    let per_address = f64::from(d.handshake_burst_per_ip)
        + f64::from(d.handshakes_per_ip_per_minute) / 60.0 * elapsed;
    let handshaken =
        (during.admitted + during.denied_room) - (at_start.admitted + at_start.denied_room);
    assert!(
        handshaken as f64 <= 13.0 * per_address.ceil(),
        "{handshaken} handshakes in {elapsed:.1} s: {during:?}"
    );
    // The flood was cut: before its handshakes (the rate) or after them (the room).
    assert!(
        during.denied_room + during.denied_handshake_rate > 0,
        "{during:?}"
    );

    // D starts during the flood.
    let mut d = TestNode::start(162, options("main", std::slice::from_ref(&v_addr))).await;
    d.until("d got the member's profile through the victim", move |n| {
        n.knows(&km)
    })
    .await;
    d.set_skills("dee", &["rust"]).await;
    let kd = d.key();
    victim
        .until("the victim knows d's profile", move |n| n.knows(&kd))
        .await;
    let found = victim
        .node
        .find(
            Query {
                skills: vec![tag("rust")],
                limit: 5,
                ..Query::default()
            },
            true,
        )
        .await
        .matches;
    assert!(
        found.iter().any(|m| m.peer == kd),
        "d is found by its skill"
    );
    assert!(is_connected(&victim, d.node.peer_id()).await);
    // D got in either way: past the strangers' room of the range (the flood's handshakes
    // filled it) a flooder made way for it; below it (a burst of 2 leaves the 13 addresses
    // 26 handshakes and what refilled, under the room of 48) there was room.
    let after = guard(&victim).await;
    if during.inbound_strangers >= NetConfig::default().max_incoming_per_range {
        assert!(after.evicted >= 1, "{after:?}: a flooder made way for d");
    } else {
        assert_eq!(
            after.denied_room, at_start.denied_room,
            "{after:?}: d found room"
        );
    }
    drop(flooders);
}

/// Issue 20, attack 5 and doc gap C: a peer sending malformed requests is told why eight
/// times, sees `Busy` on its next request, and is then disconnected and refused; a fresh key
/// from its address is refused too, while a trust root behind that same address reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_past_eight_strikes_sees_busy_then_goes_with_its_address() {
    let mut victim = TestNode::start(170, options("main", &[])).await;
    victim.set_skills("vic", &["kicad"]).await;
    let v_addr = victim.addr().await;
    let friend = TestNode::start(171, options("main", std::slice::from_ref(&v_addr))).await;
    friend.set_skills("friend", &["rust"]).await;
    let kf = friend.key();
    victim
        .until("the victim knows its friend", move |n| n.knows(&kf))
        .await;
    trust_root(&victim, kf).await;
    let v = &victim;
    poll_until_async("the network layer knows the friend", || async move {
        guard(v).await.known >= 1
    })
    .await;

    let rogue = Rogue::start(172, &victim).await;
    let garbage = vec![0xffu8; 16];
    for i in 0..guild_service::admission::MAX_STRIKES {
        match rogue.send_bytes(garbage.clone()).await {
            DirectResponse::Error { reason, .. } => {
                assert_eq!(reason, RefusalReason::Malformed, "request {i}")
            }
            other => panic!("{other:?}"),
        }
    }
    // The ninth request is answered `Busy` before the connection closes.
    match rogue.send_bytes(garbage.clone()).await {
        DirectResponse::Error { reason, .. } => assert_eq!(reason, RefusalReason::Busy),
        other => panic!("{other:?}"),
    }
    let rogue_peer = rogue.client.local_peer_id();
    poll_until_async("the rogue is disconnected", || async move {
        !is_connected(v, rogue_peer).await
    })
    .await;
    // It cannot come back …
    let before = guard(&victim).await;
    let _ = rogue.client.dial(v_addr.clone()).await;
    poll_until_async("the rogue is refused", || async move {
        guard(v).await.denied_banned > before.denied_banned
    })
    .await;
    // … nor can a fresh key from its address (127.0.0.1) …
    let fresh = Rogue::start(173, &victim).await;
    poll_until_async("the fresh key is refused", || async move {
        guard(v).await.denied_penalised > before.denied_penalised
    })
    .await;
    assert!(!is_connected(&victim, fresh.client.local_peer_id()).await);
    // … while the trust root behind the same address reconnects.
    let friend_peer = friend.node.peer_id();
    victim.node.net().close_peer(friend_peer).await.unwrap();
    poll_until_async("the friend was closed", || async move {
        !is_connected(v, friend_peer).await
    })
    .await;
    within("the friend redials", friend.node.net().dial(v_addr.clone()))
        .await
        .unwrap();
    poll_until_async("the friend is connected again", || async move {
        is_connected(v, friend_peer).await
    })
    .await;
}
