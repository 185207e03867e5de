//! Floods from strangers against a real daemon (issue 10): a raw libp2p peer delivers and
//! publishes as much as it likes; the victim's budgets and quotas hold and honest members still
//! get through. Real TCP on 127.0.0.1 port 0, mDNS off, every wait bounded by an event or a
//! counter with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{next_event, options, poll_until, within, Rogue, TestNode};
use guild_core::control::pull::{AskParams, MsgParams};
use guild_core::control::reputation::TrustAddParams;
use guild_core::control::{Event, ServiceCall};
use guild_core::fixtures::{identity, need, profile, sign, tag};
use guild_core::wire::{DirectResponse, RefusalReason};
use guild_core::{AnyRecord, Identity, Message, Need, PublicKey, RecordKind};
use guild_net::Topic;
use guild_service::admission::{MESSAGE_QUOTA, NEEDS_PER_DAY, STRANGER_MATCHED_PER_HOUR};
use guild_service::index::Query;
use guild_service::stats::RecordLabels;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::broadcast;

/// How long an honest member's need or message may take to get through a flood.
const PROMPT: Duration = Duration::from_secs(10);

/// The `i`-th fresh identity (a new key costs the attacker nothing).
fn fresh(i: u32) -> Identity {
    let mut secret = [0xC3u8; 32];
    secret[..4].copy_from_slice(&i.to_le_bytes());
    Identity::from_secret(secret)
}

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

/// Records of `kind` in the victim's store signed by each signer: (count, encoded bytes).
fn stored_by_signer(node: &TestNode, kind: RecordKind) -> HashMap<PublicKey, (u32, u64)> {
    let mut out: HashMap<PublicKey, (u32, u64)> = HashMap::new();
    for r in node.node.store().records_of_kind(kind) {
        let r = r.unwrap();
        let e = out.entry(r.signer()).or_default();
        e.0 += 1;
        e.1 += r.encode().unwrap().len() as u64;
    }
    out
}

/// Records of `kind` the node received by gossip so far (its own counter).
fn gossip_received(node: &guild_node::node::Node, kind: &str) -> u64 {
    node.stats()
        .received
        .get_or_create(&RecordLabels {
            kind: kind.into(),
            via: "gossip".into(),
        })
        .get()
}

/// Waits for `pick` on the victim's events within [`PROMPT`].
async fn promptly(n: &mut TestNode, what: &str, pick: impl FnMut(&Event) -> bool) {
    let r = tokio::time::timeout(PROMPT, next_event(n, what, pick)).await;
    assert!(r.is_ok(), "not within {PROMPT:?}: {what}");
}

/// 1. A stranger delivers 500 direct messages of 3 KB: past its budget and quota it is told
/// `RateLimited`, what it stored stays within the stranger's message quota, and a trust root's
/// messages are delivered during the flood and after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_message_flood_is_capped_and_a_friend_still_gets_through() {
    let mut victim = TestNode::start(120, options("main", &[])).await;
    victim.set_skills("vic", &["kicad"]).await;
    let friend = TestNode::start(121, options("main", &[victim.addr().await])).await;
    friend.set_skills("friend", &["rust"]).await;
    let kf = friend.key();
    victim
        .until("the victim knows its friend", move |n| n.knows(&kf))
        .await;
    trust_root(&victim, kf).await;
    let rogue_id = identity(122);
    let rogue = Rogue::start(122, &victim).await;

    let now = guild_core::time::now();
    let to = victim.key();
    let flood: Vec<AnyRecord> = (0..500u64)
        .map(|i| {
            AnyRecord::Message(sign(
                Message {
                    version: guild_core::record::RECORD_VERSION,
                    issuer: rogue_id.public(),
                    to,
                    issued_at: now,
                    expires_at: now + 86_400,
                    nonce: i,
                    text: format!("{i:04} {}", "x".repeat(3_000)),
                },
                &rogue_id,
            ))
        })
        .collect();
    let flooding = tokio::spawn(async move {
        let mut acked = 0u32;
        for m in flood {
            match rogue.send(m).await {
                DirectResponse::Ack => acked += 1,
                DirectResponse::Error { reason, message } => {
                    assert_eq!(reason, RefusalReason::RateLimited, "{message}")
                }
                other => panic!("{other:?}"),
            }
        }
        acked
    });
    // During the flood.
    let sent = friend
        .node
        .msg(MsgParams {
            peer: to,
            text: "during".into(),
        })
        .await
        .unwrap();
    assert!(sent.delivered, "{sent:?}");
    promptly(&mut victim, "the friend's message during the flood", |e| {
        matches!(e, Event::MessageReceived { from, text, .. } if *from == kf && text == "during")
    })
    .await;
    let acked = within("the flood ends", flooding).await.unwrap();
    assert!(
        (1..=MESSAGE_QUOTA.stranger.count).contains(&acked),
        "{acked} messages acknowledged"
    );
    // What the stranger stored: within its quota, and exactly what was acknowledged.
    let stored = stored_by_signer(&victim, RecordKind::Message);
    let (count, bytes) = stored[&rogue_id.public()];
    assert_eq!(count, acked);
    assert!(
        bytes <= MESSAGE_QUOTA.stranger.bytes,
        "{bytes} bytes stored from the stranger"
    );
    // After the flood.
    let sent = friend
        .node
        .msg(MsgParams {
            peer: to,
            text: "after".into(),
        })
        .await
        .unwrap();
    assert!(sent.delivered, "{sent:?}");
    promptly(&mut victim, "the friend's message after the flood", |e| {
        matches!(e, Event::MessageReceived { from, text, .. } if *from == kf && text == "after")
    })
    .await;
    assert_eq!(stored_by_signer(&victim, RecordKind::Message)[&kf].0, 2);
}

/// 2. A stranger publishes on gossip 300 needs signed by 100 fresh keys, all matching the
/// victim's skill (ten keys sign twelve each, the others two): at most the stranger's daily need
/// budget is stored per key, at most `STRANGER_MATCHED_PER_HOUR` alerts are raised for them, and
/// a trust root's need published afterwards still raises its alert promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_need_flood_from_fresh_keys_is_budgeted_and_a_friends_need_still_matches() {
    let mut victim = TestNode::start(130, options("main", &[])).await;
    victim.set_skills("vic", &["kicad"]).await;
    let friend = TestNode::start(131, options("main", &[victim.addr().await])).await;
    friend.set_skills("friend", &["rust"]).await;
    let kf = friend.key();
    victim
        .until("the victim knows its friend", move |n| n.knows(&kf))
        .await;
    trust_root(&victim, kf).await;
    let rogue = Rogue::start(132, &victim).await;

    let now = guild_core::time::now();
    let keys: Vec<Identity> = (0..100).map(fresh).collect();
    let strangers: HashSet<PublicKey> = keys.iter().map(|k| k.public()).collect();
    let mut flood = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let n = if i < 10 { 12 } else { 2 };
        for nonce in 0..n {
            let need = sign(
                Need {
                    nonce,
                    project: None,
                    ..need(k, "help me now", &["kicad"], now)
                },
                k,
            );
            flood.push(AnyRecord::Need(need).encode().unwrap());
        }
    }
    assert_eq!(flood.len(), 300);
    let before = gossip_received(&victim.node, "need");
    let mut events = victim.node.subscribe();
    for data in flood {
        rogue.publish(Topic::Needs, data).await;
    }
    // No event announces a refused need: the victim's own counter, bounded by a deadline.
    let v = victim.node.clone();
    poll_until("the victim saw the 300 needs", || {
        gossip_received(&v, "need") >= before + 300
    })
    .await;
    let stored = stored_by_signer(&victim, RecordKind::Need);
    for k in &keys {
        let (count, _) = stored.get(&k.public()).copied().unwrap_or_default();
        assert!(
            count <= NEEDS_PER_DAY.stranger,
            "{count} needs stored for one fresh key"
        );
    }
    assert!(
        stored.keys().filter(|k| strangers.contains(k)).count() == 100,
        "each key's first needs are stored"
    );
    // Alerts raised so far for the strangers' needs.
    let mut alerts = 0;
    loop {
        match events.try_recv() {
            Ok(Event::NeedMatched { asker, .. }) if strangers.contains(&asker) => alerts += 1,
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    assert!(
        (1..=STRANGER_MATCHED_PER_HOUR).contains(&alerts),
        "{alerts} need.matched alerts for strangers' needs"
    );
    // A friend's need, published afterwards.
    friend
        .node
        .ask(AskParams {
            text: "review my board".into(),
            skills: vec![tag("kicad")],
            resources: vec![],
            expires_secs: None,
            ..Default::default()
        })
        .await
        .unwrap();
    promptly(
        &mut victim,
        "the friend's need raises need.matched",
        |e| matches!(e, Event::NeedMatched { asker, .. } if *asker == kf),
    )
    .await;
}

/// 3. A stranger publishes 100 fresh-key profiles claiming the skill the victim searches for, past
/// the victim's profile cap: the victim's own profile and its trust root's stay, and `find`
/// ranks the trust root first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_flood_never_evicts_our_own_or_a_trust_roots_profile() {
    let mut opts = options("main", &[]);
    opts.max_profiles = 20;
    let mut victim = TestNode::start(140, opts).await;
    victim.set_skills("vic", &["kicad"]).await;
    let friend = TestNode::start(141, options("main", &[victim.addr().await])).await;
    friend.set_skills("friend", &["kicad"]).await;
    let kf = friend.key();
    victim
        .until("the victim knows its friend", move |n| n.knows(&kf))
        .await;
    trust_root(&victim, kf).await;
    let rogue = Rogue::start(142, &victim).await;

    let now = guild_core::time::now();
    let before = gossip_received(&victim.node, "profile");
    for i in 0..100 {
        let k = fresh(1_000 + i);
        let mut p = profile(&k, &format!("kicad pro {i}"), &["kicad", "pcb-design"], now);
        p.bio = "the best kicad designer, hire me".into();
        rogue
            .publish(Topic::Profiles, sign(p, &k).encode().unwrap())
            .await;
    }
    let v = victim.node.clone();
    poll_until("the victim saw the 100 profiles", || {
        gossip_received(&v, "profile") >= before + 100
    })
    .await;
    let me = victim.key();
    assert!(victim.node.knows(&me), "our own profile stays");
    assert!(victim.node.knows(&kf), "the trust root's profile stays");
    assert!(victim.node.indexed_profiles() <= 20, "the cap holds");
    let found = victim
        .node
        .find(
            Query {
                skills: vec![tag("kicad")],
                limit: 10,
                ..Query::default()
            },
            true,
        )
        .await
        .matches;
    assert_eq!(
        found.first().map(|m| m.peer),
        Some(kf),
        "the trust root ranks first: {:?}",
        found.iter().map(|m| &m.name).collect::<Vec<_>>()
    );
}
