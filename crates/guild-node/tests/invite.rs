//! Joining by invitation with real nodes on 127.0.0.1 (mDNS off), through the control calls
//! (`invite.create`, `invite.revoke`, `join`) the socket and the dashboard serve: a newcomer on a
//! fresh node with no other configuration joins A's community with `--trust`, finds A's members
//! and ranks the one A vouched for above a stranger; tampered, expired, used-up, revoked and
//! other-community codes are refused with their own codes and change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::work::collaborate;
use common::{next_event, options, poll_until_async, TestNode};
use guild_core::control::invite::{
    codes, InviteCreateParams, InviteRevokeParams, InviteView, JoinParams, Joined,
};
use guild_core::control::reputation::*;
use guild_core::control::{CallError, DaemonCall, ErrorCode, Event, Reply, ServiceCall, Unary};
use guild_core::fixtures::tag;
use guild_core::invite::{Invitation, SignedInvitation, INVITE_VERSION};
use guild_core::Identity;
use guild_node::api::NodeHandle;
use guild_node::control::Handle;
use guild_service::index::Query;
use tokio_util::sync::CancellationToken;

fn handle(n: &TestNode) -> NodeHandle {
    NodeHandle::new(n.node.clone(), CancellationToken::new())
}

async fn create(h: &NodeHandle, uses: u32) -> InviteView {
    match h
        .call(Unary::Daemon(DaemonCall::InviteCreate(
            InviteCreateParams {
                expires_secs: None,
                uses: Some(uses),
                note: "welcome to the mesh".into(),
            },
        )))
        .await
        .unwrap()
    {
        Reply::Invite(v) => v,
        other => panic!("{other:?}"),
    }
}

async fn join(h: &NodeHandle, code: &str, trust: bool) -> Result<Joined, CallError> {
    h.call(Unary::Daemon(DaemonCall::Join(JoinParams {
        code: code.to_string(),
        trust,
    })))
    .await
    .map(|r| match r {
        Reply::Joined(j) => j,
        other => panic!("{other:?}"),
    })
}

async fn roots(n: &TestNode) -> usize {
    match n.node.call(ServiceCall::TrustRoots).await.unwrap() {
        Reply::TrustRoots(r) => r.roots.len(),
        other => panic!("{other:?}"),
    }
}

/// A code signed by `inviter` with chosen fields (for expired and other-community codes).
fn forged(inviter: &Identity, community: &str, issued_at: u64, expires_at: u64) -> String {
    Invitation {
        version: INVITE_VERSION,
        community: community.into(),
        inviter: inviter.public(),
        addrs: vec!["/ip4/127.0.0.1/tcp/9".into()],
        issued_at,
        expires_at,
        max_uses: 1,
        id: [9; 16],
        note: String::new(),
    }
    .sign(inviter)
    .unwrap()
    .to_code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_joins_by_invitation_and_ranks_the_inviters_vouched_members_first() {
    // A's small community: A vouched for M's kicad after working together; S also lists kicad
    // but nobody vouched for S.
    let mut a = TestNode::start(170, options("main", &[])).await;
    a.set_skills("ada", &["rust"]).await;
    let boot = [a.addr().await];
    let mut m = TestNode::start(171, options("main", &boot)).await;
    m.set_skills("mia", &["kicad"]).await;
    let s = TestNode::start(172, options("main", &boot)).await;
    s.set_skills("sam", &["kicad"]).await;
    let (km, ks) = (m.key(), s.key());
    a.until("a knows m and s", move |x| x.knows(&km) && x.knows(&ks))
        .await;
    let cid = collaborate(&mut a, &mut m, "kicad").await;
    let aid = a
        .node
        .vouch(VouchParams {
            peer: km,
            skill: tag("kicad"),
            score: 5,
            collab: cid,
            note: "great layout".into(),
            expires_secs: None,
        })
        .await
        .unwrap()
        .id;
    let ha = handle(&a);

    // B: a fresh node with no bootstrap peers, its config the shipped default.
    let mut b = TestNode::start(173, options("main", &[])).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, guild_node::config::DEFAULT_CONFIG).unwrap();
    let hb = handle(&b).with_config_file(config.clone());
    let unchanged = |what: &str| {
        let text = std::fs::read_to_string(&config).unwrap();
        assert_eq!(
            text,
            guild_node::config::DEFAULT_CONFIG,
            "{what} changed the config"
        );
    };
    let refused = |r: Result<Joined, CallError>, code: i64, words: &str| {
        let e = r.expect_err("refused");
        assert_eq!(e.code, ErrorCode::Other(code), "{e:?}");
        assert!(e.message.contains(words), "{:?} lacks {words:?}", e.message);
    };

    // Tampered: a field changed after signing.
    let good = create(&ha, 2).await;
    let mut t = SignedInvitation::parse(&good.code).unwrap();
    t.body.max_uses = 8;
    refused(
        join(&hb, &t.to_code(), true).await,
        codes::TAMPERED,
        "altered",
    );
    unchanged("a tampered code");
    // Damaged text.
    refused(
        join(&hb, &good.code[..good.code.len() - 7], true).await,
        codes::MALFORMED,
        "not a valid",
    );
    // Expired, and for another community (signed by A, so only those rules refuse them).
    let ida = Identity::from_secret([170; 32]);
    let now = guild_core::time::now();
    refused(
        join(&hb, &forged(&ida, "main", now - 7_200, now - 3_600), true).await,
        codes::EXPIRED,
        "expired",
    );
    refused(
        join(&hb, &forged(&ida, "garden", now, now + 3_600), true).await,
        codes::OTHER_COMMUNITY,
        "garden",
    );
    // Revoked by A.
    let revoked = create(&ha, 1).await;
    ha.call(Unary::Service(ServiceCall::InviteRevoke(
        InviteRevokeParams {
            id: revoked.id.clone(),
            sponsorships: false,
        },
    )))
    .await
    .unwrap();
    refused(
        join(&hb, &revoked.code, true).await,
        codes::REVOKED,
        "revoked",
    );
    // Used up: C takes the only use first.
    let once = create(&ha, 1).await;
    let c = TestNode::start(174, options("main", &[])).await;
    join(&handle(&c), &once.code, false).await.unwrap();
    refused(join(&hb, &once.code, true).await, codes::USED_UP, "used");
    unchanged("refused codes");
    assert_eq!(roots(&b).await, 0, "no trust root after refusals");

    // The good code: B joins and trusts A.
    let joined = join(&hb, &good.code, true).await.unwrap();
    assert_eq!(joined.inviter, a.key());
    assert!(joined.trusted);
    assert_eq!(joined.inviter_name.as_deref(), Some("ada"));
    let text = std::fs::read_to_string(&config).unwrap();
    let (cfg, _) = guild_node::config::Config::load(&config).unwrap();
    assert_eq!(cfg.network.community, "main");
    assert_eq!(
        cfg.network.bootstrap,
        vec![format!("{}/p2p/{}", joined.address, a.key())]
    );
    assert!(
        text.contains("# The community this node belongs to"),
        "comments kept"
    );
    assert_eq!(roots(&b).await, 1);
    let kb = b.key();
    next_event(
        &mut a,
        "a hears that b joined",
        |e| matches!(e, Event::InviteJoined { peer, .. } if *peer == kb),
    )
    .await;
    let list = match ha
        .call(Unary::Service(ServiceCall::InviteList))
        .await
        .unwrap()
    {
        Reply::Invites(l) => l,
        other => panic!("{other:?}"),
    };
    let used = list.invites.iter().find(|i| i.id == good.id).unwrap();
    assert_eq!((used.uses, used.joined.clone()), (1, vec![kb]));

    // B finds A's community and ranks M (vouched for by A, whom B trusts) above S.
    let nb = b.node.clone();
    poll_until_async("b knows m and s and counts a's attestation", || {
        let nb = nb.clone();
        async move {
            nb.knows(&km)
                && nb.knows(&ks)
                && nb
                    .attestations(AttestationsParams::default())
                    .await
                    .unwrap()
                    .attestations
                    .iter()
                    .any(|x| x.id == aid && x.status == AttestationStatus::Counted)
        }
    })
    .await;
    let q = Query {
        skills: vec![tag("kicad")],
        limit: 10,
        ..Query::default()
    };
    let found = b.node.find(q, true).await.matches;
    let pos = |k| found.iter().position(|x| x.peer == k).unwrap();
    assert!(pos(km) < pos(ks), "m ranks above the stranger s: {found:?}");
    assert!(found[pos(km)].trust.is_some());
    b.until("b stays connected to a", |x| !x.connected().is_empty())
        .await;
}
