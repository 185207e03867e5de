//! Guild's network layer: a libp2p swarm owned by one task, reached through a [`Client`].
//!
//! The layer is a *transport for opaque bytes*. It gossips what it is given, delivers what it
//! receives, answers what the node tells it to, and enforces sizes, connection limits and
//! peer scores; it never decodes a Guild record. Every gossip message waits for the node's
//! verdict ([`Client::report_validation`]) before it is forwarded, so validation lives in one
//! place above this crate.
//!
//! ```text
//!  node service ── Client (cloneable) ── commands (bounded mpsc, one-shot replies) ──┐
//!        ▲                                                                           ▼
//!        └──────────── NetEvent (bounded mpsc, never blocks the loop) ──── EventLoop ── Swarm
//! ```
//!
//! Names carry the community (`/guild/<community>/…` protocol ids, `guild/<community>/…`
//! topics); identify reports a peer's community and peers of another community are
//! disconnected, so two communities never mix even on one LAN.
//!
//! Admission of strangers: [`guard`] (per-IP connection limits, room reserved for known
//! members, a fair share for strangers, bans reaching the address), [`dht_store`] (DHT
//! provider rooms and budgets), [`scoring`] (gossipsub scores, with the node's trust as P5).
//!
//! Files: [`config`] (knobs and limits), [`topics`] (names), `behaviour` (the composed
//! libp2p behaviour and transports), `codec` (direct protocol framing), [`scoring`] (gossipsub
//! peer scoring), `event_loop` + `commands` + `swarm_events` (the task), [`client`] (the handle),
//! [`event`] (what the node hears), [`error`].

pub mod client;
mod codec;
pub mod config;
pub mod dht_store;
pub mod error;
pub mod event;
pub mod guard;
pub mod scoring;
pub mod topics;

mod behaviour;
mod commands;
mod event_loop;
mod pace;
mod share;
mod swarm_events;

use libp2p::{identity::Keypair, StreamProtocol};
use prometheus_client::registry::Registry;
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use behaviour::{
    DIRECT_MAX_CONCURRENT_STREAMS, GOSSIP_FRAME_OVERHEAD, IDENTIFY_CACHE_SIZE, KAD_MAX_PACKET_SIZE,
    KAD_MAX_PROVIDERS_PER_KEY, KAD_MAX_RECORDS, KAD_MAX_VALUE_BYTES, RELAY_MAX_CIRCUIT_BYTES,
    RELAY_MAX_CIRCUIT_DURATION,
};
pub use client::{Client, TryReportError, ValidationReport};
pub use config::NetConfig;
pub use dht_store::{DhtStoreStats, MAX_KEYS_PER_PROVIDER};
pub use error::{ConfigError, DhtError, DialError, NetError, PublishError, RequestError, Stopped};
pub use event::{AdmissionStats, NetEvent, PeerInfo, ResponseHandle, Verdict};
pub use event_loop::{
    ANSWER_LINGER, HOUSEKEEPING_INTERVAL, MAX_ADDRS_PER_PEER, MAX_PEER_STANDINGS,
    MAX_PENDING_INBOUND_REQUESTS, PROVIDERS_ENOUGH,
};
pub use guard::{
    GuardStats, HandshakeRateExceeded, InboundRefused, IpLimitExceeded, PeerBanned, MAX_KNOWN_PEERS,
};
pub use libp2p::{gossipsub::MessageId, identity, multiaddr, Multiaddr, PeerId};
pub use topics::Topic;

/// Commands queued for the event loop. Callers wait (backpressure) when it is full; the loop
/// handles a command in microseconds, so 256 only fills if the loop itself is stuck.
pub const COMMAND_CHANNEL_CAPACITY: usize = 256;

/// Events queued for the node. The loop never waits on this channel: when it is full, events
/// are dropped and counted ([`NetEvent::DroppedEvents`]), dropped gossip is reported `Ignore`
/// (no penalty for the sender) and dropped requests go unanswered. 1024 absorbs a burst of a
/// full gossip mesh (12 peers × 3 topics × a few messages) while the node catches up.
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;

/// Starts the network layer: builds the swarm, starts listening, subscribes to the
/// community's topics, dials bootstrap peers and relays, and spawns the event loop.
///
/// Returns the client, the event stream, and the loop's task, which ends when every client is
/// dropped or on [`Client::shutdown`]. With a registry, libp2p metrics (bandwidth, per
/// protocol, gossipsub) are registered in it. Must be called within a tokio runtime.
pub async fn spawn(
    keypair: Keypair,
    config: NetConfig,
    metrics: Option<&mut Registry>,
) -> Result<(Client, mpsc::Receiver<NetEvent>, JoinHandle<()>), NetError> {
    config.validate()?;
    let local_peer_id = keypair.public().to_peer_id();
    let (mut swarm, recorder) = behaviour::build_swarm(keypair, &config, metrics)?;

    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
    }
    for topic in Topic::ALL {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic.ident(&config.community))
            .map_err(|e| NetError::Behaviour {
                protocol: "gossipsub",
                reason: e.to_string(),
            })?;
    }
    let kad_protocol = StreamProtocol::try_from_owned(topics::kad_protocol(&config.community))
        .map_err(|e| NetError::Behaviour {
            protocol: "kademlia",
            reason: e.to_string(),
        })?;

    let (command_tx, command_rx) = mpsc::channel(COMMAND_CHANNEL_CAPACITY);
    let (event_tx, event_rx) = mpsc::channel(EVENT_CHANNEL_CAPACITY);
    let cancel = CancellationToken::new();
    let mut event_loop = event_loop::EventLoop::new(
        swarm,
        &config,
        command_rx,
        event_tx,
        cancel.clone(),
        recorder,
        kad_protocol,
    );
    event_loop.start(&config);

    let id = local_peer_id.to_base58();
    let short = &id[id.len().saturating_sub(8)..];
    let span = tracing::info_span!("net", peer = %short);
    let task = tokio::spawn(event_loop.run().instrument(span));

    let client = Client::new(
        command_tx,
        cancel,
        local_peer_id,
        config.max_message_size,
        config.max_response_size,
    );
    Ok((client, event_rx, task))
}
