//! How the event loop carries out [`Command`]s from [`Client`](crate::Client)s.
//!
//! Commands answering from local state reply at once; the others start a network operation
//! and park their reply sender in one of the event loop's pending maps, to be resolved by the
//! swarm event that ends the operation (see `swarm_events`).

use std::{collections::HashSet, time::Instant};

use libp2p::{
    gossipsub::{MessageAcceptance, MessageId},
    kad,
    multiaddr::Protocol,
    request_response::InboundRequestId,
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        DialError as SwarmDialError,
    },
    Multiaddr, PeerId,
};
use tokio::sync::oneshot;

use crate::{
    client::Command,
    config::peer_id_of,
    error::{DhtError, DialError, PublishError, RequestError},
    event::AdmissionStats,
    event::{PeerInfo, Verdict},
    event_loop::{EventLoop, PendingProviders, ANSWER_LINGER, MAX_PEER_STANDINGS},
    guard::MAX_KNOWN_PEERS,
    scoring,
    topics::Topic,
};

impl EventLoop {
    /// Carries out one command from a [`crate::Client`].
    ///
    /// Long (about 190 lines) because it is one match arm per command, each a few lines of
    /// swarm calls; splitting it would only move the arms elsewhere.
    pub(crate) fn handle_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::ExternalAddrs { reply } => {
                let _ = reply.send(self.swarm.external_addresses().cloned().collect());
            }
            Command::Dial { addr, reply } => self.dial(addr, reply),
            Command::DialPeer { peer, reply } => self.dial_peer(peer, reply),
            Command::AddAddress { peer, addr, reply } => {
                self.swarm.add_peer_address(peer, addr.clone());
                self.swarm.behaviour_mut().kad.add_address(&peer, addr);
                let _ = reply.send(());
            }
            Command::AddExternalAddress { addr, reply } => {
                self.swarm.add_external_address(addr);
                let _ = reply.send(());
            }
            Command::ConnectedPeers { reply } => {
                let peers = self
                    .peers
                    .iter()
                    .map(|(peer, state)| PeerInfo {
                        peer: *peer,
                        addrs: state.connections.values().cloned().collect(),
                        agent: state.agent.clone(),
                        protocol_version: state.protocol_version.clone(),
                        protocols: state.protocols.clone(),
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::RoutingTablePeers { reply } => {
                let peers = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .kbuckets()
                    .flat_map(|bucket| {
                        bucket
                            .iter()
                            .map(|entry| *entry.node.key.preimage())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::Publish { topic, data, reply } => {
                let result = self.publish(topic, data);
                let _ = reply.send(result);
            }
            Command::ReportValidation {
                message_id,
                propagation_source,
                verdict,
                reply,
            } => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Reject => MessageAcceptance::Reject,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                };
                let found = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
                let _ = reply.send(found);
            }
            Command::PeerScore { peer, reply } => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::StartProviding { key, reply } => {
                match self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .start_providing(kad::RecordKey::new(&key))
                {
                    Ok(query) => {
                        self.pending_providing.insert(query, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(DhtError::Store(e.to_string())));
                    }
                }
            }
            Command::StopProviding { key, reply } => {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .stop_providing(&kad::RecordKey::new(&key));
                let _ = reply.send(());
            }
            Command::GetProviders { key, reply } => {
                let record_key = kad::RecordKey::new(&key);
                self.swarm
                    .behaviour_mut()
                    .kad
                    .store_mut()
                    .note_lookup(&record_key);
                let query = self.swarm.behaviour_mut().kad.get_providers(record_key);
                let pending = PendingProviders {
                    found: HashSet::new(),
                    reply,
                };
                self.pending_providers.insert(query, pending);
            }
            Command::Bootstrap { reply } => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .bootstrap()
                    .map(|_| ())
                    .map_err(|_| DhtError::NoKnownPeers);
                let _ = reply.send(result);
            }
            Command::Request { peer, data, reply } => {
                if data.len() > self.max_message_size {
                    let max = self.max_message_size;
                    let _ = reply.send(Err(RequestError::TooLarge {
                        size: data.len(),
                        max,
                    }));
                    return;
                }
                let id = self.swarm.behaviour_mut().direct.send_request(&peer, data);
                self.pending_requests.insert(id, reply);
            }
            Command::Respond {
                handle,
                data,
                reply,
            } => {
                let result = self.respond(handle.0, data);
                let _ = reply.send(result);
            }
            Command::MdnsDiscovered { peers, reply } => {
                self.on_local_peers_discovered(peers);
                let _ = reply.send(());
            }
            Command::SetPeerStanding {
                peer,
                standing,
                reply,
            } => {
                self.set_peer_standing(peer, standing);
                let _ = reply.send(());
            }
            Command::DisconnectPeer { peer, ban, reply } => {
                // A duration too long for the clock is a ban for as long as it can be.
                let until = Instant::now()
                    .checked_add(ban)
                    .unwrap_or_else(|| Instant::now() + scoring::LONGEST_BAN);
                self.swarm.behaviour_mut().guard.ban(peer, until);
                // Its pending answers go out first (see `Client::disconnect_peer`).
                self.closing
                    .insert(peer, Instant::now() + self.request_timeout);
                self.close_if_answered(peer);
                let _ = reply.send(());
            }
            Command::SetKnownPeers { peers, reply } => {
                let known: HashSet<PeerId> = peers.into_iter().take(MAX_KNOWN_PEERS).collect();
                let behaviour = self.swarm.behaviour_mut();
                behaviour.kad.store_mut().set_known(known.clone());
                behaviour.guard.set_known(known);
                let _ = reply.send(());
            }
            Command::ClosePeer { peer, reply } => {
                let _ = self.swarm.disconnect_peer_id(peer);
                let _ = reply.send(());
            }
            Command::Unban { peer, reply } => {
                self.swarm.behaviour_mut().guard.unban(&peer);
                let _ = reply.send(());
            }
            Command::AdmissionStats { reply } => {
                let behaviour = self.swarm.behaviour_mut();
                let stats = AdmissionStats {
                    dht: behaviour.kad.store_mut().stats(),
                    connections: behaviour.guard.stats(),
                };
                let _ = reply.send(stats);
            }
        }
    }

    fn set_peer_standing(&mut self, peer: PeerId, standing: f64) {
        let standing = if standing.is_nan() {
            0.0
        } else {
            standing.clamp(-1.0, 1.0)
        };
        if standing == 0.0 {
            self.standings.remove(&peer);
        } else if self.standings.len() < MAX_PEER_STANDINGS || self.standings.contains_key(&peer) {
            self.standings.insert(peer, standing);
        } else {
            tracing::debug!(%peer, "too many peer standings; not remembered");
        }
        // False when gossipsub has no record of the peer yet: applied when it connects.
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, standing);
    }

    pub(crate) fn dial(
        &mut self,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, DialError>>,
    ) {
        if let Ok(peer) = peer_id_of(&addr) {
            if self.swarm.is_connected(&peer) {
                let _ = reply.send(Ok(peer));
                return;
            }
        }
        if let Some((relay, relay_addr)) = relay_of(&addr) {
            if !self.swarm.is_connected(&relay) {
                if let Err(e) = self.dial_known(relay, vec![relay_addr]) {
                    let _ = reply.send(Err(DialError::Failed(format!(
                        "cannot reach the relay: {e}"
                    ))));
                    return;
                }
                self.circuit_dials
                    .entry(relay)
                    .or_default()
                    .push((addr, reply));
                return;
            }
        }
        // A fresh local port for every dial (see `event_loop::dial_known`).
        let opts = DialOpts::unknown_peer_id()
            .address(addr)
            .allocate_new_port()
            .build();
        let connection = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.pending_dials.insert(connection, reply);
            }
            Err(e) => {
                let _ = reply.send(Err(DialError::Failed(crate::error::with_causes(&e))));
            }
        }
    }

    fn dial_peer(&mut self, peer: PeerId, reply: oneshot::Sender<Result<(), DialError>>) {
        if self.swarm.is_connected(&peer) {
            let _ = reply.send(Ok(()));
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .allocate_new_port()
            .build();
        match self.swarm.dial(opts) {
            // Dialling (now or already): the connection outcome resolves the waiter.
            Ok(()) | Err(SwarmDialError::DialPeerConditionFalse(_)) => {
                self.peer_waiters.entry(peer).or_default().push(reply);
            }
            Err(SwarmDialError::NoAddresses) => {
                tracing::debug!(%peer, "no known address; asking the DHT");
                let query = self.swarm.behaviour_mut().kad.get_closest_peers(peer);
                self.peer_lookups.insert(query, peer);
                self.peer_waiters.entry(peer).or_default().push(reply);
            }
            Err(e) => {
                let _ = reply.send(Err(DialError::Failed(crate::error::with_causes(&e))));
            }
        }
    }

    /// For a peer being disconnected: once no answer to it is pending or on its way, its
    /// connections close [`ANSWER_LINGER`] later (time for the last answer to be read), or at
    /// its deadline whatever is pending.
    pub(crate) fn close_if_answered(&mut self, peer: PeerId) {
        let Some(deadline) = self.closing.get(&peer).copied() else {
            return;
        };
        let waiting = self.pending_responses.values().any(|(p, _)| *p == peer)
            || self.responding.values().any(|p| *p == peer);
        let now = Instant::now();
        if !waiting {
            let linger = now + ANSWER_LINGER;
            if linger < deadline {
                self.closing.insert(peer, linger);
            }
        }
        if self.closing.get(&peer).is_some_and(|d| *d <= now) {
            self.closing.remove(&peer);
            self.responding.retain(|_, p| *p != peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Closes the peers whose time in `closing` is up.
    pub(crate) fn close_due(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .closing
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            self.closing.remove(&peer);
            self.responding.retain(|_, p| *p != peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Resolves every `dial_peer` waiting for `peer`.
    pub(crate) fn resolve_peer_waiters(&mut self, peer: &PeerId, result: Result<(), DialError>) {
        for waiter in self.peer_waiters.remove(peer).unwrap_or_default() {
            let _ = waiter.send(result.clone());
        }
    }

    fn publish(&mut self, topic: Topic, data: Vec<u8>) -> Result<MessageId, PublishError> {
        use libp2p::gossipsub::PublishError as E;
        if data.len() > self.max_message_size {
            let max = self.max_message_size;
            return Err(PublishError::TooLarge {
                size: data.len(),
                max,
            });
        }
        let size = data.len();
        let topic = self.topics.ident(topic).clone();
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, data)
            .map_err(|e| match e {
                E::NoPeersSubscribedToTopic => PublishError::InsufficientPeers,
                E::Duplicate => PublishError::Duplicate,
                E::MessageTooLarge => PublishError::TooLarge {
                    size,
                    max: self.max_message_size,
                },
                E::AllQueuesFull(peers) => PublishError::QueuesFull(peers),
                other => PublishError::Failed(other.to_string()),
            })
    }

    fn respond(&mut self, id: InboundRequestId, data: Vec<u8>) -> Result<(), RequestError> {
        if data.len() > self.max_response_size {
            let max = self.max_response_size;
            return Err(RequestError::TooLarge {
                size: data.len(),
                max,
            });
        }
        let (peer, channel) = self
            .pending_responses
            .remove(&id)
            .ok_or(RequestError::UnknownRequest)?;
        let sent = self
            .swarm
            .behaviour_mut()
            .direct
            .send_response(channel, data)
            .map_err(|_| RequestError::UnknownRequest);
        if sent.is_ok() {
            // Until written: a disconnect decided meanwhile waits for it.
            self.responding.insert(id, peer);
        }
        sent
    }
}

/// For a circuit address `<relay addr>/p2p/<relay>/p2p-circuit/…`, the relay and its address.
fn relay_of(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut relay_addr = Multiaddr::empty();
    let mut relay = None;
    for protocol in addr.iter() {
        match protocol {
            Protocol::P2pCircuit => return relay.map(|peer| (peer, relay_addr)),
            Protocol::P2p(peer) => {
                relay = Some(peer);
                relay_addr.push(protocol);
            }
            other => relay_addr.push(other),
        }
    }
    None
}
