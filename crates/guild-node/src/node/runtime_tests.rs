//! The loop's fairness: the owner's calls are served ahead of a flood of strangers' gossip.
//!
//! The loop is driven directly, with the network events it reads coming from the test (a real
//! `guild-net` swarm on 127.0.0.1, mDNS off, takes the verdicts). The assertions are structural,
//! never a wall-clock bound: on a loaded two-core machine any time limit tight enough to mean
//! something would be flaky. Each test counts how much of the flood the service had taken in
//! when the call was served, read from the call's own answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::runtime::{now_ms, Published, Runtime, MAX_NET_EVENTS_PER_TURN};
use super::Command;
use guild_core::control::pull::{AskParams, Asked, NeedFilter, Needs, NeedsParams};
use guild_core::control::{Reply, ServiceCall, UnexpectedReply};
use guild_core::fixtures::{need, sign, tag};
use guild_core::{AnyRecord, Identity};
use guild_net::{MessageId, NetConfig, NetEvent, PeerId, Topic};
use guild_service::{Service, ServiceConfig};
use guild_store::Store;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Gossip messages in the flood: every one a valid need from a different stranger, so each
/// costs a real intake (signature check, store write, indexes). Below the strangers' need pool
/// (1024), so all of them are kept and the count a call sees measures progress exactly.
const FLOOD: usize = 1000;

struct Harness {
    commands: mpsc::Sender<Command>,
    snapshot: watch::Receiver<super::Snapshot>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    /// Kept open: the swarm's own events are not read by this loop.
    _swarm_events: mpsc::Receiver<NetEvent>,
}

/// The flood, already queued, and a loop over a fresh node to read it.
async fn start_flooded() -> (Harness, mpsc::Sender<NetEvent>) {
    let identity = Identity::from_secret([7; 32]);
    let cfg = ServiceConfig {
        // One forwarding peer relays the whole flood: its budget is not what is tested here.
        records_per_peer_per_minute: 1_000_000,
        ..ServiceConfig::default()
    };
    let mut service = Service::new(
        Identity::from_secret(identity.secret_bytes()),
        Store::open_temporary().unwrap(),
        cfg,
        1,
        now_ms(),
    )
    .unwrap();
    let (net, swarm_events, net_task) =
        guild_net::spawn(identity.keypair(), NetConfig::local("fairness"), None)
            .await
            .unwrap();
    let (events, _) = broadcast::channel(16);
    let (snapshot_tx, snapshot) = watch::channel(super::Snapshot::default());
    let view = Arc::new(arc_swap::ArcSwap::from_pointee(
        service.find_view(&[], now_ms()),
    ));
    let cancel = CancellationToken::new();
    let runtime = Runtime::new(
        service,
        vec![],
        net,
        Published {
            events,
            snapshot: snapshot_tx,
            view,
            trust_epoch: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        },
        cancel.clone(),
        super::TICK,
        tracing::Span::none(),
    );
    let (flood_tx, flood_rx) = mpsc::channel(FLOOD);
    let forwarder = Identity::from_secret([8; 32]).peer_id();
    let at = now_ms() / 1000;
    for i in 0..FLOOD {
        let mut secret = [0x55; 32];
        secret[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let stranger = Identity::from_secret(secret);
        let record = AnyRecord::Need(sign(need(&stranger, "help", &["rust"], at), &stranger));
        flood_tx
            .try_send(gossip(forwarder, i, record.encode().unwrap()))
            .unwrap();
    }
    let (commands, command_rx) = mpsc::channel(super::COMMAND_BUFFER);
    let task = tokio::spawn(runtime.run(command_rx, flood_rx, net_task));
    (
        Harness {
            commands,
            snapshot,
            cancel,
            task,
            _swarm_events: swarm_events,
        },
        flood_tx,
    )
}

fn gossip(from: PeerId, i: usize, data: Vec<u8>) -> NetEvent {
    NetEvent::Gossip {
        topic: Topic::Needs,
        message_id: MessageId::new(&(i as u64).to_be_bytes()),
        propagation_source: from,
        source: Some(from),
        data,
    }
}

/// Queues a call without waiting (the loop may be mid-flood); the receiver gets its answer.
fn send(
    h: &Harness,
    call: ServiceCall,
) -> oneshot::Receiver<Result<Reply, guild_core::control::CallError>> {
    let (reply, rx) = oneshot::channel();
    h.commands
        .try_send(Command::Call { call, reply })
        .unwrap_or_else(|_| panic!("the command channel is full"));
    rx
}

fn ask() -> ServiceCall {
    ServiceCall::Ask(AskParams {
        text: "review my layout".into(),
        skills: vec![tag("kicad")],
        resources: vec![],
        expires_secs: None,
        ..Default::default()
    })
}

fn all_needs() -> ServiceCall {
    ServiceCall::Needs(NeedsParams {
        filter: NeedFilter::All,
        include_closed: false,
    })
}

async fn answer<T: TryFrom<Reply, Error = UnexpectedReply>>(
    rx: oneshot::Receiver<Result<Reply, guild_core::control::CallError>>,
) -> T {
    T::try_from(rx.await.unwrap().unwrap()).unwrap()
}

async fn stop(h: Harness) {
    h.cancel.cancel();
    h.task.await.unwrap();
}

/// Calls queued behind the whole flood are served before any of it: the loop reads commands
/// first in every turn.
#[tokio::test(flavor = "current_thread")]
async fn calls_queued_behind_a_flood_are_served_first() {
    let (h, _flood) = start_flooded().await;
    let asked = send(&h, ask());
    let listed = send(&h, all_needs());
    let asked: Asked = answer(asked).await;
    let listed: Needs = answer(listed).await;
    let strangers = listed.needs.iter().filter(|n| !n.mine).count();
    assert!(listed.needs.iter().any(|n| n.id == asked.need.id));
    assert_eq!(
        strangers, 0,
        "`needs` was served after {strangers} gossip messages"
    );
    stop(h).await;
}

/// A call made while a flood is being taken in is served at the start of the next turn: after
/// at most one more batch of gossip, long before the flood ends. On the current-thread runtime
/// the loop yields after each turn with network work, so the test observes the progress made
/// (the published snapshot) exactly, sends its calls, and reads from the answer how much more
/// gossip was taken in before the calls were served.
#[tokio::test(flavor = "current_thread")]
async fn calls_made_during_a_flood_wait_at_most_one_batch() {
    let (h, flood) = start_flooded().await;
    let mut snapshot = h.snapshot.clone();
    // Three turns of flood in: the loop is busy with it, most of it still queued.
    let seen = snapshot
        .wait_for(|s| s.records >= 3 * MAX_NET_EVENTS_PER_TURN)
        .await
        .unwrap()
        .records;
    let queued = flood.max_capacity() - flood.capacity();
    let t = Instant::now();
    let asked = send(&h, ask());
    let listed = send(&h, all_needs());
    let listed: Needs = answer(listed).await;
    let needs_latency = t.elapsed();
    let asked: Asked = answer(asked).await;
    let ask_latency = t.elapsed();
    let strangers = listed.needs.iter().filter(|n| !n.mine).count();
    eprintln!(
        "calls sent with {seen} of {FLOOD} gossip needs stored and {queued} queued; \
         `needs` saw {strangers} after {needs_latency:?}, `ask` answered after {ask_latency:?}"
    );
    assert!(
        queued > MAX_NET_EVENTS_PER_TURN,
        "the flood was mostly taken in already"
    );
    assert!(
        listed.needs.iter().any(|n| n.id == asked.need.id),
        "`ask` was served before `needs`, which was queued after it"
    );
    assert!(
        strangers <= seen + MAX_NET_EVENTS_PER_TURN,
        "served after {strangers} gossip messages; {seen} were in when it was sent"
    );
    assert!(strangers < FLOOD, "served only after the whole flood");
    // Nothing of the flood is lost for having let the owner through.
    let all = snapshot
        .wait_for(|s| s.records == FLOOD + 1)
        .await
        .unwrap()
        .records;
    assert_eq!(all, FLOOD + 1);
    stop(h).await;
}
