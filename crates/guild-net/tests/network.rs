//! End-to-end tests of the network layer: real TCP on loopback, mDNS off, every wait bounded
//! and driven by events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use guild_net::{DialError, NetEvent, PublishError, RequestError, Topic, Verdict};
use support::{bounded, config, init_tracing, is_circuit, serve_echo, TestNode};

/// A chain A — B — C in which nobody can discover a shortcut: Kademlia runs in client mode
/// (nobody answers DHT queries, so C cannot learn A's address from B) and peer exchange is off.
async fn chain(community: &str) -> (TestNode, TestNode, TestNode) {
    let mut a_config = config(community, &[]);
    a_config.kad_server = false;
    let mut a = TestNode::start(a_config).await;
    let mut b_config = config(community, &[&a]);
    b_config.kad_server = false;
    let mut b = TestNode::start(b_config).await;
    let mut c_config = config(community, &[&b]);
    c_config.kad_server = false;
    let mut c = TestNode::start(c_config).await;

    // Gossip flows once each side knows the other is subscribed.
    a.wait_subscribed(&[b.peer], Topic::Profiles).await;
    b.wait_subscribed(&[a.peer, c.peer], Topic::Profiles).await;
    c.wait_subscribed(&[b.peer], Topic::Profiles).await;
    (a, b, c)
}

/// Waits on `node` for a gossip message carrying `data`, panicking if `forbidden` shows up.
async fn next_gossip(
    node: &mut TestNode,
    data: &[u8],
    forbidden: Option<&[u8]>,
) -> (
    guild_net::MessageId,
    guild_net::PeerId,
    Option<guild_net::PeerId>,
) {
    node.wait_for(|e| match e {
        NetEvent::Gossip {
            data: d,
            message_id,
            propagation_source,
            source,
            topic,
        } => {
            assert_ne!(
                Some(d.as_slice()),
                forbidden,
                "a rejected message was forwarded"
            );
            (d.as_slice() == data && *topic == Topic::Profiles)
                .then(|| (message_id.clone(), *propagation_source, *source))
        }
        _ => None,
    })
    .await
}

#[tokio::test]
async fn gossip_crosses_a_chain_after_validation() {
    init_tracing();
    bounded(async {
        let (a, mut b, mut c) = chain("gossip").await;
        let profile = vec![0xAB; 2048];
        a.client
            .publish(Topic::Profiles, profile.clone())
            .await
            .unwrap();

        let (id, from, source) = next_gossip(&mut b, &profile, None).await;
        assert_eq!(from, a.peer);
        assert_eq!(source, Some(a.peer));
        assert!(b
            .client
            .report_validation(id, from, Verdict::Accept)
            .await
            .unwrap());

        let (_, from, source) = next_gossip(&mut c, &profile, None).await;
        assert_eq!(from, b.peer, "C hears it from B");
        assert_eq!(source, Some(a.peer), "signed by A");

        let c_peers = c.client.connected_peers().await.unwrap();
        assert!(c_peers.iter().all(|p| p.peer != a.peer), "C never met A");
    })
    .await;
}

#[tokio::test]
async fn rejected_gossip_stops_and_lowers_the_score() {
    init_tracing();
    bounded(async {
        let (a, mut b, mut c) = chain("reject").await;
        let before = b.client.peer_score(a.peer).await.unwrap().expect("scored");

        let forged = b"forged record".to_vec();
        a.client
            .publish(Topic::Profiles, forged.clone())
            .await
            .unwrap();
        let (id, from, _) = next_gossip(&mut b, &forged, None).await;
        assert!(b
            .client
            .report_validation(id, from, Verdict::Reject)
            .await
            .unwrap());
        let after = b.client.peer_score(a.peer).await.unwrap().expect("scored");
        assert!(after < before, "score {after} not below {before}");

        // A valid message sent after the forged one reaches C; the forged one never does.
        let valid = b"valid record".to_vec();
        a.client
            .publish(Topic::Profiles, valid.clone())
            .await
            .unwrap();
        let (id, from, _) = next_gossip(&mut b, &valid, Some(&forged)).await;
        b.client
            .report_validation(id, from, Verdict::Accept)
            .await
            .unwrap();
        next_gossip(&mut c, &valid, Some(&forged)).await;
    })
    .await;
}

#[tokio::test]
async fn providers_are_found_through_another_node() {
    init_tracing();
    bounded(async {
        let hub = TestNode::start(config("dht", &[])).await;
        let provider = TestNode::start(config("dht", &[&hub])).await;
        let seeker = TestNode::start(config("dht", &[&hub])).await;

        let key = [&[0x12u8, 0x20][..], &[7u8; 32]].concat();
        provider.client.start_providing(key.clone()).await.unwrap();
        // Kademlia reports the announcement done once its messages are queued, so the hub may
        // not have stored it yet: look again until found (each lookup is a real query; the
        // whole wait is bounded).
        let found = async {
            loop {
                let providers = seeker.client.get_providers(key.clone()).await.unwrap();
                if providers.contains(&provider.peer) {
                    return;
                }
            }
        };
        tokio::time::timeout(support::STEP, found)
            .await
            .expect("provider found");
        let unknown = seeker.client.get_providers(vec![1, 2, 3]).await.unwrap();
        assert!(unknown.is_empty());
    })
    .await;
}

#[tokio::test]
async fn direct_requests_round_trip_and_oversize_is_an_error() {
    init_tracing();
    bounded(async {
        let server = TestNode::start(config("direct", &[])).await;
        let server_addr = server.addr();
        let max = guild_net::config::DEFAULT_MAX_MESSAGE_SIZE;
        let (_server_client, server_peer, _task) = serve_echo(server);

        let client = TestNode::start(config("direct", &[])).await;
        assert_eq!(
            client.client.dial(server_addr.clone()).await.unwrap(),
            server_peer
        );
        let answer = client
            .client
            .request(server_peer, b"hi".to_vec())
            .await
            .unwrap();
        assert_eq!(answer, b"echo:hi");

        // Refused locally, before anything is sent.
        let err = client
            .client
            .request(server_peer, vec![0; max + 1])
            .await
            .unwrap_err();
        assert_eq!(err, RequestError::TooLarge { size: max + 1, max });

        // A peer with a larger limit sends it anyway: the server's codec refuses it.
        let mut big_config = config("direct", &[]);
        big_config.max_message_size = 4 * max;
        let big = TestNode::start(big_config).await;
        big.client.dial(server_addr).await.unwrap();
        let err = big
            .client
            .request(server_peer, vec![0; 2 * max])
            .await
            .unwrap_err();
        assert!(
            matches!(err, RequestError::Io(_) | RequestError::ConnectionClosed),
            "unexpected {err:?}"
        );
        // The connection is still usable.
        let answer = big
            .client
            .request(server_peer, b"again".to_vec())
            .await
            .unwrap();
        assert_eq!(answer, b"echo:again");
        let peers = big.client.connected_peers().await.unwrap();
        assert!(peers.iter().any(|p| p.peer == server_peer));
    })
    .await;
}

#[tokio::test]
async fn communities_never_mix() {
    init_tracing();
    bounded(async {
        let mut a = TestNode::start(config("a", &[])).await;
        let mut b = TestNode::start(config("b", &[])).await;

        // They can connect at the transport level, but identify reveals the community and
        // the connection is closed.
        let _ = b.client.dial(a.addr()).await;
        b.wait_disconnected(a.peer).await;
        a.wait_disconnected(b.peer).await;

        // No gossip path: neither sees the other subscribed.
        assert_eq!(
            a.client.publish(Topic::Profiles, b"a".to_vec()).await,
            Err(PublishError::InsufficientPeers)
        );
        // No DHT path: neither has the other in its routing table, and a lookup from b does
        // not find what a provides.
        assert!(!a
            .client
            .routing_table_peers()
            .await
            .unwrap()
            .contains(&b.peer));
        assert!(!b
            .client
            .routing_table_peers()
            .await
            .unwrap()
            .contains(&a.peer));
        let key = b"guild/skill/v1/rust".to_vec();
        a.client.start_providing(key.clone()).await.unwrap();
        let found = b.client.get_providers(key).await.unwrap();
        assert!(!found.contains(&a.peer));
        // No direct path either: the protocols differ.
        b.client.add_address(a.peer, a.addr()).await.unwrap();
        let err = b
            .client
            .request(a.peer, b"hello".to_vec())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                RequestError::UnsupportedProtocol | RequestError::ConnectionClosed
            ),
            "unexpected {err:?}"
        );
        // Nothing gossiped arrived on either side.
        for node in [&mut a, &mut b] {
            while let Ok(event) = node.events.try_recv() {
                assert!(!matches!(event, NetEvent::Gossip { .. }), "{event:?}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn relayed_peers_exchange_requests_over_a_circuit() {
    init_tracing();
    bounded(async {
        let mut relay_config = config("relay", &[]);
        relay_config.relay_server = true;
        let relay = TestNode::start(relay_config).await;
        // Reservations carry the relay's external addresses; on loopback nothing confirms one.
        let mut relay_listen = relay.addr();
        relay_listen.pop(); // without /p2p/<relay>
        relay
            .client
            .add_external_address(relay_listen)
            .await
            .unwrap();

        // B and C do not listen at all: their only address is the circuit, as behind a NAT.
        let behind_nat = || {
            let mut c = config("relay", &[]);
            c.listen.clear();
            c.relays = vec![relay.addr()];
            c
        };
        let mut b = TestNode::start(behind_nat()).await;
        let circuit = b
            .wait_for(|e| match e {
                NetEvent::RelayReservation { relay: r, addr } if *r == relay.peer => {
                    Some(addr.clone())
                }
                _ => None,
            })
            .await;
        assert!(is_circuit(&circuit));
        let b_listen = b.client.listen_addrs().await.unwrap();
        assert!(b_listen.iter().all(is_circuit), "{b_listen:?}");
        let (_b_client, b_peer, _task) = serve_echo(b);

        let c = TestNode::start(behind_nat()).await;
        let via_relay = circuit.with_p2p(b_peer).unwrap();
        assert_eq!(c.client.dial(via_relay).await.unwrap(), b_peer);
        let answer = c
            .client
            .request(b_peer, b"over the relay".to_vec())
            .await
            .unwrap();
        assert_eq!(answer, b"echo:over the relay");

        let peers = c.client.connected_peers().await.unwrap();
        let b_info = peers.iter().find(|p| p.peer == b_peer).expect("connected");
        assert!(
            b_info.addrs.iter().all(is_circuit),
            "C knows B only through the relay: {:?}",
            b_info.addrs
        );
    })
    .await;
}

#[tokio::test]
async fn local_discovery_connects_and_fills_the_routing_table() {
    init_tracing();
    bounded(async {
        let mut x = TestNode::start(config("mdns", &[])).await;
        let y = TestNode::start(config("mdns", &[])).await;
        let y_addr = y.addr.clone().unwrap();
        x.client
            .inject_mdns_discovered(vec![(y.peer, y_addr)])
            .await
            .unwrap();
        x.wait_connected(y.peer).await;
        assert!(x
            .client
            .routing_table_peers()
            .await
            .unwrap()
            .contains(&y.peer));
    })
    .await;
}

#[tokio::test]
async fn dial_peer_finds_peers_through_the_dht() {
    init_tracing();
    bounded(async {
        let hub = TestNode::start(config("dialpeer", &[])).await;
        let target = TestNode::start(config("dialpeer", &[&hub])).await;
        let mut seeker = TestNode::start(config("dialpeer", &[&hub])).await;
        // Make sure the hub knows the target before the seeker asks.
        target.client.bootstrap().await.unwrap();
        seeker.wait_connected(hub.peer).await;
        seeker.client.dial_peer(target.peer).await.unwrap();
        let peers = seeker.client.connected_peers().await.unwrap();
        assert!(peers.iter().any(|p| p.peer == target.peer));

        let nobody = guild_net::PeerId::random();
        assert!(matches!(
            seeker.client.dial_peer(nobody).await,
            Err(DialError::PeerNotFound(p)) if p == nobody
        ));
    })
    .await;
}

#[tokio::test]
async fn metrics_are_registered() {
    init_tracing();
    bounded(async {
        let mut registry = prometheus_client::registry::Registry::default();
        let (client, _events, task) = guild_net::spawn(
            guild_net::identity::Keypair::generate_ed25519(),
            guild_net::NetConfig::local("metrics"),
            Some(&mut registry),
        )
        .await
        .unwrap();
        // Some traffic, so the per-connection families have samples.
        let other = TestNode::start(config("metrics", &[])).await;
        let other_addr = other.addr();
        let (_other_client, other_peer, _task) = serve_echo(other);
        client.dial(other_addr).await.unwrap();
        let answer = client.request(other_peer, b"x".to_vec()).await.unwrap();
        assert_eq!(answer, b"echo:x");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for family in [
            "libp2p_bandwidth",
            "libp2p_swarm",
            "libp2p_identify",
            "guild_gossipsub",
        ] {
            assert!(text.contains(family), "{family} missing from:\n{text}");
        }
        client.shutdown();
        task.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_loop_stops_on_shutdown_or_when_clients_are_gone() {
    init_tracing();
    bounded(async {
        let start = || {
            guild_net::spawn(
                guild_net::identity::Keypair::generate_ed25519(),
                guild_net::NetConfig::local("stop"),
                None,
            )
        };
        let (client, _events, task) = start().await.unwrap();
        let other = client.clone();
        client.shutdown();
        task.await.unwrap();
        assert_eq!(other.listen_addrs().await, Err(guild_net::Stopped));
        assert_eq!(
            other.request(other.local_peer_id(), vec![1]).await,
            Err(RequestError::Stopped(guild_net::Stopped))
        );

        let (client, _events, task) = start().await.unwrap();
        drop(client);
        task.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn invalid_configuration_is_refused() {
    let mut config = guild_net::NetConfig::local("bad");
    config.bootstrap = vec!["/ip4/127.0.0.1/tcp/1".parse().unwrap()];
    let result = guild_net::spawn(
        guild_net::identity::Keypair::generate_ed25519(),
        config,
        None,
    )
    .await;
    assert!(matches!(
        result,
        Err(guild_net::NetError::Config(
            guild_net::ConfigError::BootstrapWithoutPeerId { .. }
        ))
    ));
}

#[tokio::test]
async fn quic_and_dns_addresses_work() {
    init_tracing();
    bounded(async {
        let mut quic = config("transports", &[]);
        quic.listen = vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()];
        let server = TestNode::start(quic).await;
        let server_addr = server.addr();
        let (_server_client, server_peer, _task) = serve_echo(server);

        let client = TestNode::start(config("transports", &[])).await;
        assert_eq!(
            client.client.dial(server_addr.clone()).await.unwrap(),
            server_peer
        );
        let answer = client
            .client
            .request(server_peer, b"quic".to_vec())
            .await
            .unwrap();
        assert_eq!(answer, b"echo:quic");

        // The same server through a DNS name (resolved from /etc/hosts).
        let tcp_server = TestNode::start(config("transports", &[])).await;
        let port = tcp_server
            .addr()
            .iter()
            .find_map(|p| match p {
                guild_net::multiaddr::Protocol::Tcp(port) => Some(port),
                _ => None,
            })
            .unwrap();
        let by_name: guild_net::Multiaddr =
            format!("/dns4/localhost/tcp/{port}/p2p/{}", tcp_server.peer)
                .parse()
                .unwrap();
        assert_eq!(client.client.dial(by_name).await.unwrap(), tcp_server.peer);
    })
    .await;
}
