//! Raw libp2p peers that only connect: a fresh identity dialling from a chosen loopback
//! address (127.0.0.x, or 127.x.y.z: all of 127/8 is loopback on Linux), the way a flood from
//! many hosts looks to the victim. Each peer speaks nothing but Noise and Yamux.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures::{future::BoxFuture, FutureExt, StreamExt};
use libp2p::{
    core::{
        transport::{DialOpts, ListenerId, TransportError, TransportEvent},
        upgrade::Version,
        Transport,
    },
    identity::Keypair,
    multiaddr::Protocol,
    noise,
    swarm::{dummy, SwarmEvent},
    yamux, Multiaddr, PeerId, SwarmBuilder,
};
use tokio::sync::oneshot;

/// TCP that binds each dial to `source` first, so the victim sees that address.
struct BoundTcp {
    source: IpAddr,
}

impl Transport for BoundTcp {
    type Output = libp2p::tcp::tokio::TcpStream;
    type Error = io::Error;
    type ListenerUpgrade = futures::future::Pending<Result<Self::Output, Self::Error>>;
    type Dial = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn listen_on(
        &mut self,
        _id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        Err(TransportError::MultiaddrNotSupported(addr))
    }

    fn remove_listener(&mut self, _id: ListenerId) -> bool {
        false
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let mut ip = None;
        let mut port = None;
        for p in addr.iter() {
            match p {
                Protocol::Ip4(v4) => ip = Some(IpAddr::V4(v4)),
                Protocol::Tcp(p) => port = Some(p),
                _ => {}
            }
        }
        let (Some(ip), Some(port)) = (ip, port) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let source = self.source;
        Ok(async move {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source, 0))?;
            let stream = socket.connect(SocketAddr::new(ip, port)).await?;
            stream.set_nodelay(true)?;
            Ok(libp2p::tcp::tokio::TcpStream(stream))
        }
        .boxed())
    }

    fn poll(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Poll::Pending
    }
}

/// A peer holding one connection to a victim. Dropping it closes the connection.
pub struct Flooder {
    pub peer: PeerId,
    /// Whether its handshake completed (the victim may still refuse or close the connection:
    /// read the victim's counters).
    pub connected: bool,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Flooder {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Connects a fresh identity (or `keypair`) from `source` to `target` (a `/ip4/…/tcp/…/p2p/…`
/// address). Resolves once the handshake is done or the dial failed.
pub async fn connect_from(source: &str, target: &Multiaddr, keypair: Option<Keypair>) -> Flooder {
    let source: IpAddr = source.parse().expect("an IP");
    let keypair = keypair.unwrap_or_else(Keypair::generate_ed25519);
    let peer = keypair.public().to_peer_id();
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|key| {
            BoundTcp { source }
                .upgrade(Version::V1)
                .authenticate(noise::Config::new(key).expect("noise"))
                .multiplex(yamux::Config::default())
        })
        .expect("transport")
        .with_behaviour(|_| dummy::Behaviour)
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    swarm.dial(target.clone()).expect("dial");
    let (settled_tx, settled) = oneshot::channel();
    let (stop, mut stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut settled_tx = Some(settled_tx);
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                event = swarm.select_next_some() => {
                    let outcome = match event {
                        SwarmEvent::ConnectionEstablished { .. } => Some(true),
                        SwarmEvent::OutgoingConnectionError { .. } => Some(false),
                        _ => None,
                    };
                    if let (Some(ok), Some(tx)) = (outcome, settled_tx.take()) {
                        let _ = tx.send(ok);
                    }
                }
            }
        }
    });
    let connected = settled.await.unwrap_or(false);
    Flooder {
        peer,
        connected,
        stop: Some(stop),
    }
}
