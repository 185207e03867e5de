//! The mesh, end to end in one process: real TCP on 127.0.0.1 port 0, mDNS off, every wait bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{options, poll_until, within, TestNode};
use guild_core::fixtures::{identity, profile, sign, tag, T0};
use guild_core::limits::MAX_BIO_BYTES;
use guild_core::{Profile, PublicKey, Signed};
use guild_net::{NetConfig, NetEvent, Topic};
use guild_service::index::Query;
use std::time::Duration;

fn query(skill: &str) -> Query {
    Query {
        skills: vec![tag(skill)],
        limit: 10,
        ..Query::default()
    }
}

/// 1. Ten nodes in a chain, each bootstrapped only from its predecessor: every node learns every
/// profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_of_ten_learns_every_profile() {
    let mut nodes: Vec<TestNode> = Vec::new();
    for i in 0..10u8 {
        let boot = match nodes.last() {
            Some(prev) => vec![prev.addr().await],
            None => vec![],
        };
        let n = TestNode::start(10 + i, options("main", &boot)).await;
        n.set_skills(&format!("member-{i}"), &[&format!("skill-{i}"), "common"])
            .await;
        nodes.push(n);
    }
    let keys: Vec<PublicKey> = nodes.iter().map(|n| n.key()).collect();
    for n in nodes.iter_mut() {
        let keys = keys.clone();
        n.until("it knows all ten profiles", move |node| {
            keys.iter().all(|k| node.knows(k))
        })
        .await;
    }
    // And each can find the far end of the chain by skill from its local index.
    let found = nodes[0].node.find(query("skill-9"), true).await;
    assert_eq!(found.matches.len(), 1);
    assert_eq!(found.matches[0].peer, keys[9]);
}

/// 2. A node joining late finds a skill via the DHT before it has received any gossip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_finds_a_skill_through_the_dht() {
    let a = TestNode::start(30, options("main", &[])).await;
    a.set_skills("ada", &["kicad"]).await;
    let b = TestNode::start(31, options("main", &[a.addr().await])).await;
    // b must be connected to a so a's provider record can be stored on b.
    let mut b = b;
    let ka = a.key();
    b.until("b knows a", move |n| n.knows(&ka)).await;
    // No re-announce: a fresh gossip message could reach the late node through gossipsub's
    // IHAVE/IWANT catch-up. The lookup walks b's routing table to a, which provides the key.

    let mut opts = options("main", &[b.addr().await]);
    opts.sync_on_connect = false;
    opts.sync_interval = Duration::from_secs(3600);
    let mut late = TestNode::start(32, opts).await;
    late.until("late is connected", |n| !n.connected().is_empty())
        .await;
    assert!(
        !late.node.knows(&a.key()),
        "no gossip or sync reached the late node yet"
    );
    // Provider records travel asynchronously; a real user would retry, so does this test.
    let outcome = within("DHT find", async {
        loop {
            let o = late.node.find(query("kicad"), false).await;
            if !o.matches.is_empty() {
                return o;
            }
            late.events.recv().await.ok();
        }
    })
    .await;
    assert_eq!(outcome.matches[0].peer, a.key());
    assert!(outcome.dht_queried);
    assert!(
        outcome.from_dht.contains(&a.key()),
        "the profile came from the provider, fetched directly"
    );
}

/// 3. A node restarted with the same home rejoins from its stored peers and is found again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_rejoins_from_stored_peers() {
    let hub = TestNode::start(40, options("main", &[])).await;
    hub.set_skills("hub", &["hosting"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let mut r = TestNode::start_at(41, &path, options("main", &[hub.addr().await])).await;
    r.set_skills("rita", &["woodwork"]).await;
    let kh = hub.key();
    r.until("r knows the hub", move |n| n.knows(&kh)).await;
    // Identify has run once the hub's profile arrived by sync; its addresses are remembered.
    within("addresses remembered", async {
        loop {
            let (known, _) = r.node.store().known_peers().unwrap();
            if !known.is_empty() {
                break;
            }
            r.events.recv().await.ok();
        }
    })
    .await;
    let rk = r.key();
    let path = r.stop().await;

    // Restart with no bootstrap entry at all.
    let mut r2 = TestNode::start_at(41, &path, options("main", &[])).await;
    assert_eq!(r2.key(), rk, "same home, same identity");
    let hub_peer = hub.node.peer_id();
    r2.until("r redialled the hub", move |n| {
        n.connected().iter().any(|(p, _, _)| *p == hub_peer)
    })
    .await;
    // A newcomer that only knows the hub finds r by skill.
    let mut c = TestNode::start(42, options("main", &[hub.addr().await])).await;
    c.until("c knows r", move |n| n.knows(&rk)).await;
    let found = c.node.find(query("woodwork"), true).await;
    assert_eq!(found.matches[0].peer, rk);
    drop(r2);
}

/// 4. Bad profiles (bad signature, expired, oversized) are neither stored nor forwarded, and the
/// sender's gossip score drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_profiles_are_dropped_and_penalised() {
    let honest = TestNode::start(50, options("main", &[])).await;
    honest.set_skills("honest", &["rust"]).await;
    let mut third = TestNode::start(51, options("main", &[honest.addr().await])).await;
    let kh = honest.key();
    third
        .until("third knows honest", move |n| n.knows(&kh))
        .await;

    // A rogue speaking raw libp2p, publishing whatever it wants.
    let rogue_id = identity(52);
    let mut cfg = NetConfig::local("main");
    cfg.bootstrap = vec![honest.addr().await];
    let (rogue, mut rogue_events, _task) = guild_net::spawn(rogue_id.keypair(), cfg, None)
        .await
        .unwrap();
    within("rogue joins the profiles topic mesh", async {
        while let Some(ev) = rogue_events.recv().await {
            if let NetEvent::PeerSubscribed {
                topic: Topic::Profiles,
                ..
            } = ev
            {
                break;
            }
        }
    })
    .await;
    let now = guild_core::time::now();
    let victim = identity(53);
    let mut bad_sig = sign(profile(&victim, "victim", &["kicad"], now), &victim);
    bad_sig.body.name = "forged".into();
    let old = identity(54);
    let expired = sign(
        profile(&old, "old", &["kicad"], now - 40 * 86_400 + 60),
        &old,
    );
    assert!(expired.body.expires_at < now);
    let big = identity(55);
    let mut body = profile(&big, "big", &["kicad"], now);
    body.bio = "x".repeat(MAX_BIO_BYTES * 4);
    let oversized = sign(body, &big);
    let bad: Vec<(PublicKey, Signed<Profile>)> = vec![
        (victim.public(), bad_sig),
        (old.public(), expired),
        (big.public(), oversized),
    ];
    let rogue_peer = rogue.local_peer_id();
    let score_before = honest
        .node
        .net()
        .peer_score(rogue_peer)
        .await
        .unwrap()
        .unwrap_or(0.0);
    let rejected_before = honest.node.stats().rejected_total.get();
    for (_, p) in &bad {
        rogue
            .publish(Topic::Profiles, p.encode().unwrap())
            .await
            .unwrap();
    }
    let stats = honest.node.stats().clone();
    poll_until("honest rejected all three", || {
        stats.rejected_total.get() >= rejected_before + 3
    })
    .await;
    for (who, _) in &bad {
        assert!(!honest.node.knows(who));
        assert!(
            honest.node.store().get_profile(who).unwrap().is_none(),
            "not stored"
        );
    }
    // Penalised: its gossip score drops (scores are recomputed at each heartbeat).
    let net = honest.node.net().clone();
    let score_after = within("score drops", async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            let s = net.peer_score(rogue_peer).await.unwrap().unwrap_or(0.0);
            if s < score_before {
                return s;
            }
            tick.tick().await;
        }
    })
    .await;
    assert!(score_after < score_before, "{score_after} < {score_before}");
    // Not forwarded: the third node, which hears gossip only through honest, never stored them.
    // A valid profile published by honest afterwards reaches it, showing the path works.
    honest.set_skills("honest", &["rust", "go"]).await;
    third
        .until("third got honest's update", move |n| {
            n.store()
                .get_profile(&kh)
                .unwrap()
                .map(|p| p.body.skills.len())
                == Some(2)
        })
        .await;
    for (who, _) in &bad {
        assert!(
            third.node.store().get_profile(who).unwrap().is_none(),
            "not forwarded"
        );
    }
}

/// 5. Two nodes partitioned while each learned different profiles converge through sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_nodes_converge_through_sync() {
    let mut a = TestNode::start(60, options("main", &[])).await;
    let mut b = TestNode::start(61, options("main", &[])).await;
    let a1 = TestNode::start(62, options("main", &[a.addr().await])).await;
    let b1 = TestNode::start(63, options("main", &[b.addr().await])).await;
    a1.set_skills("a-one", &["welding"]).await;
    b1.set_skills("b-one", &["sewing"]).await;
    let (ka1, kb1) = (a1.key(), b1.key());
    a.until("a knows a1", move |n| n.knows(&ka1)).await;
    b.until("b knows b1", move |n| n.knows(&kb1)).await;
    // The partition ends after the authors left: only sync can carry their profiles now.
    a1.stop().await;
    b1.stop().await;
    assert!(!a.node.knows(&kb1) && !b.node.knows(&ka1));
    a.node.net().dial(b.addr().await).await.unwrap();
    a.until("a learned b1 by sync", move |n| n.knows(&kb1))
        .await;
    b.until("b learned a1 by sync", move |n| n.knows(&ka1))
        .await;
}

/// 6. Nodes of two communities on one machine never see each other's records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn communities_do_not_mix() {
    let x = TestNode::start(70, options("alpha", &[])).await;
    x.set_skills("xavier", &["pottery"]).await;
    let y = TestNode::start(71, options("beta", &[x.addr().await])).await;
    y.set_skills("yara", &["pottery"]).await;
    let mut z = TestNode::start(72, options("alpha", &[x.addr().await])).await;
    let kx = x.key();
    // Proof that x's profile spreads in its own community...
    z.until("z (alpha) knows x", move |n| n.knows(&kx)).await;
    let ky = y.key();
    let mut x = x;
    x.until("x dropped y", move |n| {
        n.connected()
            .iter()
            .all(|(p, _, _)| PublicKey::from_peer_id(p).ok() != Some(ky))
    })
    .await;
    // ...and never crosses into the other one.
    assert!(!y.node.knows(&kx), "beta never sees alpha's profile");
    assert!(!x.node.knows(&ky), "alpha never sees beta's profile");
    assert!(y
        .node
        .find(query("pottery"), false)
        .await
        .matches
        .is_empty());
    let _ = T0;
}
