//! The composed libp2p behaviour and the swarm that drives it.
//!
//! Transports: TCP (listeners paced, `crate::pace`) + Noise + Yamux, QUIC v1, DNS, and the circuit-relay client transport.
//! Protocols: connection limits, identify, ping, Kademlia, gossipsub (signed, validated,
//! scored), the direct request-response protocol, and optionally mDNS, AutoNAT, relay server
//! and DCUtR.

use std::{collections::HashSet, time::Duration};

use libp2p::{
    autonat, connection_limits,
    core::{upgrade, Transport as _},
    dcutr,
    gossipsub::{
        self, MessageAuthenticity, MessageId, ValidationMode, WhitelistSubscriptionFilter,
    },
    identify,
    identity::Keypair,
    kad, mdns, metrics, noise, ping, quic, relay,
    request_response::{self, ProtocolSupport},
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
    tcp, yamux, StreamProtocol, Swarm, SwarmBuilder,
};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};

use crate::{
    codec::DirectCodec,
    config::NetConfig,
    dht_store::{DhtStoreConfig, GuildStore},
    error::NetError,
    guard::{Guard, GuardLimits},
    pace::{PaceLimits, Paced},
    scoring,
    topics::{self, Topic},
};

/// Room for gossipsub's envelope (signature, public key, topic, sequence number, protobuf
/// framing) on top of the payload, so a payload of exactly `max_message_size` still fits in a
/// frame under gossipsub's `max_transmit_size`.
pub const GOSSIP_FRAME_OVERHEAD: usize = 2 * 1024;

/// Largest Kademlia message. libp2p's 16 KiB default can be exceeded by a provider response
/// carrying 20 providers with many addresses each; 64 KiB fits that with room to spare while
/// keeping one DHT message cheap to buffer.
pub const KAD_MAX_PACKET_SIZE: usize = 64 * 1024;

/// Value records the DHT store keeps for others. Guild only uses provider records, so this is
/// small: strangers cannot use our daemon as free key-value storage.
pub const KAD_MAX_RECORDS: usize = 64;

/// Largest value record stored for others, in bytes (see [`KAD_MAX_RECORDS`]).
pub const KAD_MAX_VALUE_BYTES: usize = 1024;

/// Providers kept per key: Kademlia's replication factor `k`. A further provider takes the place
/// of a stale entry or of a stranger's that is worse by the rule of [`crate::dht_store`].
pub const KAD_MAX_PROVIDERS_PER_KEY: usize = 20;

/// Peers whose identify information is cached (for address lookups when dialling).
pub const IDENTIFY_CACHE_SIZE: usize = 256;

/// Concurrent direct-protocol streams per connection (inbound + outbound). Bounds how much
/// parallel work one peer can ask of us.
pub const DIRECT_MAX_CONCURRENT_STREAMS: usize = 32;

/// Longest circuit we relay for others. Circuits are a bridge until DCUtR upgrades the
/// connection (or for a short exchange); libp2p's default is 2 minutes.
pub const RELAY_MAX_CIRCUIT_DURATION: Duration = Duration::from_secs(5 * 60);

/// Bytes relayed per circuit. libp2p's 128 KiB default is too small for one sync response;
/// 4 MiB allows a few, while a volunteer relay cannot be used for bulk transfer.
pub const RELAY_MAX_CIRCUIT_BYTES: u64 = 4 * 1024 * 1024;

/// The network behaviour of a Guild node.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// First, so it can deny connections (per-IP limit, bans, the inbound room: it enforces
    /// `max_incoming` itself, so that a known member can take an idle stranger's place) before
    /// other behaviours set up state for them.
    pub(crate) guard: Guard,
    /// Global, outbound, pending and per-peer connection limits (inbound: the guard).
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) kad: kad::Behaviour<GuildStore>,
    pub(crate) gossipsub:
        gossipsub::Behaviour<gossipsub::IdentityTransform, WhitelistSubscriptionFilter>,
    pub(crate) direct: request_response::Behaviour<DirectCodec>,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(crate) autonat: Toggle<autonat::Behaviour>,
    pub(crate) relay_client: Toggle<relay::client::Behaviour>,
    pub(crate) relay_server: Toggle<relay::Behaviour>,
    pub(crate) dcutr: Toggle<dcutr::Behaviour>,
}

/// Builds the swarm. With a registry, bandwidth, per-protocol and gossipsub metrics are
/// registered in it and the returned recorder must be fed the swarm's events.
pub(crate) fn build_swarm(
    keypair: Keypair,
    config: &NetConfig,
    registry: Option<&mut Registry>,
) -> Result<(Swarm<Behaviour>, Option<metrics::Metrics>), NetError> {
    let mut parts = Parts::new(&keypair, config)?;
    let idle = config.idle_connection_timeout;
    let pace = PaceLimits {
        burst: config.accept_burst,
        per_second: config.accepts_per_second,
    };
    let pauses = parts.guard.accept_pauses();
    let reads = parts.guard.read_limits();
    // TCP as `with_tcp` builds it, with the listeners paced (`crate::pace`); QUIC as
    // `with_quic` builds it.
    let builder = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|key| {
            let tcp = tcp::Config::default()
                .nodelay(true)
                .listen_backlog(pace.backlog());
            let tcp = tcp::tokio::Transport::new(tcp);
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                Paced::new(tcp, pace, pauses, reads)
                    .upgrade(upgrade::Version::V1Lazy)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default()),
            )
        })
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_other_transport(|key| quic::tokio::Transport::new(quic::Config::new(key)))
        .map_err(|e| NetError::Transport(format!("QUIC: {e}")))?
        .with_dns()
        .map_err(|e| NetError::Transport(format!("DNS: {e}")))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| NetError::Transport(format!("relay client: {e}")))?;
    let relay_client_on = config.relay_client;
    let (swarm, recorder) = match registry {
        Some(registry) => {
            parts.gossipsub = parts.gossipsub.with_metrics(
                registry.sub_registry_with_prefix("guild_gossipsub"),
                gossipsub::MetricsConfig::default(),
            );
            let recorder = metrics::Metrics::new(registry);
            let swarm = builder
                .with_bandwidth_metrics(registry)
                .with_behaviour(|_, relay_client| {
                    parts.finish(relay_client_on.then_some(relay_client))
                })
                .map_err(|e| NetError::Transport(e.to_string()))?
                .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
                .build();
            (swarm, Some(recorder))
        }
        None => {
            let swarm = builder
                .with_behaviour(|_, relay_client| {
                    parts.finish(relay_client_on.then_some(relay_client))
                })
                .map_err(|e| NetError::Transport(e.to_string()))?
                .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
                .build();
            (swarm, None)
        }
    };
    Ok((swarm, recorder))
}

/// Every behaviour but the relay client, which only the swarm builder can create.
struct Parts {
    guard: Guard,
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    kad: kad::Behaviour<GuildStore>,
    gossipsub: gossipsub::Behaviour<gossipsub::IdentityTransform, WhitelistSubscriptionFilter>,
    direct: request_response::Behaviour<DirectCodec>,
    mdns: Option<mdns::tokio::Behaviour>,
    autonat: Option<autonat::Behaviour>,
    relay_server: Option<relay::Behaviour>,
    dcutr: Option<dcutr::Behaviour>,
}

impl Parts {
    fn new(keypair: &Keypair, config: &NetConfig) -> Result<Self, NetError> {
        let peer_id = keypair.public().to_peer_id();
        let community = &config.community;

        let limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established(Some(config.max_connections))
                .with_max_established_outgoing(Some(config.max_outgoing))
                .with_max_established_per_peer(Some(config.max_connections_per_peer))
                .with_max_pending_incoming(Some(config.max_pending_incoming))
                .with_max_pending_outgoing(Some(config.max_pending_outgoing)),
        );

        let identify = identify::Behaviour::new(
            identify::Config::new(
                topics::identify_protocol_version(community),
                keypair.public(),
            )
            .with_agent_version(format!("guild/{}", env!("CARGO_PKG_VERSION")))
            .with_push_listen_addr_updates(true)
            .with_cache_size(IDENTIFY_CACHE_SIZE),
        );

        let mdns = if config.mdns {
            let mdns =
                mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id).map_err(|e| {
                    NetError::Behaviour {
                        protocol: "mdns",
                        reason: e.to_string(),
                    }
                })?;
            Some(mdns)
        } else {
            None
        };

        let relay_server = config.relay_server.then(|| {
            let mut server = relay::Behaviour::new(
                peer_id,
                relay::Config {
                    max_circuit_duration: RELAY_MAX_CIRCUIT_DURATION,
                    max_circuit_bytes: RELAY_MAX_CIRCUIT_BYTES,
                    ..relay::Config::default()
                },
            );
            // The relay would otherwise advertise itself only once it has a confirmed external
            // address; an explicitly configured relay serves at once (also on a LAN).
            server.set_status(Some(relay::Status::Enable));
            server
        });

        Ok(Self {
            guard: Guard::new(GuardLimits {
                max_per_ip: config.max_incoming_per_ip,
                handshake_burst: config.handshake_burst_per_ip,
                handshakes_per_minute: config.handshakes_per_ip_per_minute,
                max_incoming: config.max_incoming,
                reserved: config.reserved_incoming,
                max_per_range: config.max_incoming_per_range,
                address_penalty: config.address_penalty,
                address_cooldown: config.address_cooldown,
                range_bans: config.range_bans,
                penalised_range_strangers: config.penalised_range_strangers,
                stranger_read_rate: config.stranger_read_rate,
                stranger_read_burst: config.stranger_read_burst,
                strangers_total_read_rate: config.strangers_total_read_rate,
                strangers_total_read_burst: config.strangers_total_read_burst,
            })
            .with_local_peer(peer_id),
            limits,
            identify,
            kad: kademlia(peer_id, config)?,
            gossipsub: gossipsub(keypair, config)?,
            direct: direct(config)?,
            mdns,
            autonat: config
                .autonat
                .then(|| autonat::Behaviour::new(peer_id, autonat::Config::default())),
            relay_server,
            dcutr: config.dcutr.then(|| dcutr::Behaviour::new(peer_id)),
        })
    }

    fn finish(self, relay_client: Option<relay::client::Behaviour>) -> Behaviour {
        Behaviour {
            guard: self.guard,
            limits: self.limits,
            identify: self.identify,
            ping: ping::Behaviour::default(),
            kad: self.kad,
            gossipsub: self.gossipsub,
            direct: self.direct,
            mdns: self.mdns.into(),
            autonat: self.autonat.into(),
            relay_client: relay_client.into(),
            relay_server: self.relay_server.into(),
            dcutr: self.dcutr.into(),
        }
    }
}

fn protocol(name: String, which: &'static str) -> Result<StreamProtocol, NetError> {
    StreamProtocol::try_from_owned(name).map_err(|e| NetError::Behaviour {
        protocol: which,
        reason: e.to_string(),
    })
}

fn kademlia(
    peer_id: libp2p::PeerId,
    config: &NetConfig,
) -> Result<kad::Behaviour<GuildStore>, NetError> {
    let mut kad_config = kad::Config::new(protocol(
        topics::kad_protocol(&config.community),
        "kademlia",
    )?);
    kad_config
        .set_query_timeout(config.kad_query_timeout)
        .set_provider_record_ttl(Some(config.provider_record_ttl))
        .set_provider_publication_interval(Some(config.provider_publication_interval))
        .set_max_packet_size(KAD_MAX_PACKET_SIZE)
        .set_periodic_bootstrap_interval(config.random_walk_interval);
    let store = GuildStore::new(
        peer_id,
        DhtStoreConfig {
            record_ttl: Some(config.provider_record_ttl),
            ..DhtStoreConfig::default()
        },
    );
    let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
    if config.kad_server {
        // Without this a node stays a client until an external address is confirmed, which
        // never happens on a LAN or loopback, and nobody could query it.
        kad.set_mode(Some(kad::Mode::Server));
    }
    Ok(kad)
}

/// Content-addressed message id: the SHA-256 of the payload, so the same record relayed by
/// several peers (or re-published) is recognised as one message.
pub(crate) fn message_id(data: &[u8]) -> MessageId {
    MessageId::new(Sha256::digest(data).as_slice())
}

fn gossipsub(
    keypair: &Keypair,
    config: &NetConfig,
) -> Result<gossipsub::Behaviour<gossipsub::IdentityTransform, WhitelistSubscriptionFilter>, NetError>
{
    let err = |reason: String| NetError::Behaviour {
        protocol: "gossipsub",
        reason,
    };
    let gossip_config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(config.heartbeat_interval)
        .heartbeat_initial_delay(config.heartbeat_interval)
        .validation_mode(ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(|message: &gossipsub::Message| message_id(&message.data))
        .max_transmit_size(config.max_message_size + GOSSIP_FRAME_OVERHEAD)
        .build()
        .map_err(|e| err(e.to_string()))?;
    let topic_hashes: HashSet<_> = Topic::ALL
        .iter()
        .map(|t| t.ident(&config.community).hash())
        .collect();
    let mut gossipsub = gossipsub::Behaviour::new_with_subscription_filter(
        MessageAuthenticity::Signed(keypair.clone()),
        gossip_config,
        // Only track subscriptions to our own topics: a peer announcing thousands of other
        // topics costs us nothing.
        WhitelistSubscriptionFilter(topic_hashes.clone()),
    )
    .map_err(|e| err(e.to_owned()))?;
    gossipsub
        .with_peer_score(
            scoring::peer_score_params(topic_hashes),
            scoring::peer_score_thresholds(),
        )
        .map_err(err)?;
    Ok(gossipsub)
}

fn direct(config: &NetConfig) -> Result<request_response::Behaviour<DirectCodec>, NetError> {
    Ok(request_response::Behaviour::with_codec(
        DirectCodec::new(config.max_message_size, config.max_response_size),
        [(
            protocol(topics::direct_protocol(&config.community), "direct")?,
            ProtocolSupport::Full,
        )],
        request_response::Config::default()
            .with_request_timeout(config.request_timeout)
            .with_max_concurrent_streams(DIRECT_MAX_CONCURRENT_STREAMS),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_content_hashes() {
        let id = message_id(b"hello");
        assert_eq!(id, message_id(b"hello"));
        assert_ne!(id, message_id(b"hello!"));
        assert_eq!(id.0.len(), 32);
    }
}
