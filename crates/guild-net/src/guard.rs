//! Per-address connection limits and a ban list with expiry: a small `NetworkBehaviour` that
//! denies connections before any other behaviour sets up state for them.
//!
//! * **Per IP.** Inbound connections (in their handshake or established) from one IP address
//!   are capped at [`NetConfig::max_incoming_per_ip`](crate::NetConfig::max_incoming_per_ip);
//!   IPv6 addresses count by their /64 prefix (one host commonly holds a whole /64). The
//!   connection past the cap is refused before its handshake, with [`IpLimitExceeded`]. Relayed
//!   connections are not counted here (their address is the relay's; the relay limits them).
//!   Our own dials are never counted: one host flooding us cannot stop us dialling out.
//! * **Bans.** [`Client::disconnect_peer`](crate::Client::disconnect_peer) closes a peer's
//!   connections and refuses its new ones, inbound and outbound, with [`PeerBanned`], until the
//!   ban expires. At most [`MAX_BANNED_PEERS`] bans are kept; past it the one ending soonest is
//!   dropped.

use std::{
    collections::HashMap,
    convert::Infallible,
    fmt,
    net::{IpAddr, Ipv6Addr},
    task::{Context, Poll},
    time::Instant,
};

use libp2p::{
    core::{transport::PortUse, Endpoint},
    multiaddr::Protocol,
    swarm::{
        dummy, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, ListenFailure,
        NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};

/// Bans remembered at once. Bans are decided by the node (a peer past its budgets), so this
/// only bounds a runaway caller.
pub const MAX_BANNED_PEERS: usize = 4096;

/// The error inside the `ConnectionDenied` of an inbound connection refused because its IP
/// already has the maximum number of connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpLimitExceeded {
    /// The address (IPv6: the /64 prefix) the limit applies to.
    pub ip: IpAddr,
    /// The configured limit.
    pub limit: u32,
}

impl fmt::Display for IpLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} already has {} inbound connections (the per-IP limit)",
            self.ip, self.limit
        )
    }
}

impl std::error::Error for IpLimitExceeded {}

/// The error inside the `ConnectionDenied` of a connection to or from a banned peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerBanned {
    /// The peer.
    pub peer: PeerId,
}

impl fmt::Display for PeerBanned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer {} is banned for a while", self.peer)
    }
}

impl std::error::Error for PeerBanned {}

/// Counters of the guard, since the node started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Inbound connections refused by the per-IP limit.
    pub denied_per_ip: u64,
    /// Connections (either direction) refused because the peer is banned.
    pub denied_banned: u64,
    /// Peers banned right now (expired bans are dropped lazily).
    pub banned: usize,
}

/// The behaviour (see the module docs).
pub(crate) struct Guard {
    max_per_ip: u32,
    /// Inbound connections by IP key (pending and established).
    per_ip: HashMap<IpAddr, u32>,
    /// Which IP key each counted inbound connection belongs to.
    inbound: HashMap<ConnectionId, IpAddr>,
    banned: HashMap<PeerId, Instant>,
    stats: GuardStats,
}

impl Guard {
    pub(crate) fn new(max_per_ip: u32) -> Self {
        Self {
            max_per_ip,
            per_ip: HashMap::new(),
            inbound: HashMap::new(),
            banned: HashMap::new(),
            stats: GuardStats::default(),
        }
    }

    /// Refuses `peer`'s connections until `until`.
    pub(crate) fn ban(&mut self, peer: PeerId, until: Instant) {
        let now = Instant::now();
        if self.banned.len() >= MAX_BANNED_PEERS && !self.banned.contains_key(&peer) {
            self.banned.retain(|_, t| *t > now);
            if self.banned.len() >= MAX_BANNED_PEERS {
                if let Some(soonest) = self.banned.iter().min_by_key(|(_, t)| **t).map(|(p, _)| *p)
                {
                    self.banned.remove(&soonest);
                }
            }
        }
        let entry = self.banned.entry(peer).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Lifts a ban early.
    pub(crate) fn unban(&mut self, peer: &PeerId) {
        self.banned.remove(peer);
    }

    pub(crate) fn stats(&self) -> GuardStats {
        let now = Instant::now();
        GuardStats {
            banned: self.banned.values().filter(|t| **t > now).count(),
            ..self.stats
        }
    }

    fn check_banned(&mut self, peer: PeerId) -> Result<(), ConnectionDenied> {
        match self.banned.get(&peer) {
            Some(until) if *until > Instant::now() => {
                self.stats.denied_banned += 1;
                Err(ConnectionDenied::new(PeerBanned { peer }))
            }
            Some(_) => {
                self.banned.remove(&peer);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn release(&mut self, connection: &ConnectionId) {
        let Some(ip) = self.inbound.remove(connection) else {
            return;
        };
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

/// The key an inbound connection counts under: its IP (IPv6: the /64), or `None` for relayed
/// connections and addresses without an IP.
pub(crate) fn ip_key(addr: &Multiaddr) -> Option<IpAddr> {
    let mut ip = None;
    for protocol in addr.iter() {
        match protocol {
            Protocol::P2pCircuit => return None,
            Protocol::Ip4(v4) if ip.is_none() => ip = Some(IpAddr::V4(v4)),
            Protocol::Ip6(v6) if ip.is_none() => {
                ip = Some(match v6.to_ipv4_mapped() {
                    Some(v4) => IpAddr::V4(v4),
                    None => {
                        let s = v6.segments();
                        IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                    }
                })
            }
            _ => {}
        }
    }
    ip
}

impl NetworkBehaviour for Guard {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_key(remote_addr) else {
            return Ok(());
        };
        let count = self.per_ip.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            self.stats.denied_per_ip += 1;
            tracing::debug!(%ip, limit = self.max_per_ip, "inbound connection over the per-IP limit");
            return Err(ConnectionDenied::new(IpLimitExceeded {
                ip,
                limit: self.max_per_ip,
            }));
        }
        *count += 1;
        self.inbound.insert(connection_id, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // Denied here, the swarm reports a `ListenFailure`, which releases the IP slot.
        self.check_banned(peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let Some(peer) = maybe_peer {
            self.check_banned(peer)?;
        }
        Ok(vec![])
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check_banned(peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. })
            | FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.release(&connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        libp2p::core::util::unreachable(event)
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn ip_keys() {
        assert_eq!(
            ip_key(&addr("/ip4/10.1.2.3/tcp/5")),
            Some(IpAddr::from([10, 1, 2, 3]))
        );
        // One /64 is one key.
        assert_eq!(
            ip_key(&addr("/ip6/2001:db8:1:2:aaaa::1/tcp/5")),
            ip_key(&addr("/ip6/2001:db8:1:2:bbbb::9/udp/5/quic-v1"))
        );
        assert_ne!(
            ip_key(&addr("/ip6/2001:db8:1:2::1/tcp/5")),
            ip_key(&addr("/ip6/2001:db8:1:3::1/tcp/5"))
        );
        assert_eq!(
            ip_key(&addr("/ip6/::ffff:10.1.2.3/tcp/5")),
            Some(IpAddr::from([10, 1, 2, 3]))
        );
        assert_eq!(
            ip_key(&addr(
                "/ip4/10.1.2.3/tcp/5/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"
            )),
            None
        );
        assert_eq!(ip_key(&addr("/memory/5")), None);
    }

    #[test]
    fn inbound_slots_are_counted_and_released() {
        let mut guard = Guard::new(2);
        let local = addr("/ip4/127.0.0.1/tcp/1");
        let from = addr("/ip4/10.0.0.1/tcp/9");
        let (a, b, c) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
            ConnectionId::new_unchecked(3),
        );
        guard
            .handle_pending_inbound_connection(a, &local, &from)
            .unwrap();
        guard
            .handle_pending_inbound_connection(b, &local, &from)
            .unwrap();
        let denied = guard
            .handle_pending_inbound_connection(c, &local, &from)
            .unwrap_err();
        let cause = denied.downcast::<IpLimitExceeded>().unwrap();
        assert_eq!(cause.limit, 2);
        // Another address is not affected.
        guard
            .handle_pending_inbound_connection(c, &local, &addr("/ip4/10.0.0.2/tcp/9"))
            .unwrap();
        assert_eq!(guard.stats().denied_per_ip, 1);
        guard.release(&a);
        guard
            .handle_pending_inbound_connection(ConnectionId::new_unchecked(4), &local, &from)
            .unwrap();
    }

    #[test]
    fn bans_expire() {
        let mut guard = Guard::new(2);
        let peer = PeerId::random();
        guard.ban(peer, Instant::now() + std::time::Duration::from_secs(60));
        assert!(guard.check_banned(peer).is_err());
        guard.ban(peer, Instant::now());
        assert!(
            guard.check_banned(peer).is_err(),
            "a ban is never shortened"
        );
        guard.unban(&peer);
        assert!(guard.check_banned(peer).is_ok());
        guard.ban(peer, Instant::now());
        assert!(guard.check_banned(peer).is_ok(), "expired");
        assert_eq!(guard.stats().banned, 0);
    }
}
