//! How the event loop reacts to swarm and protocol events.

use libp2p::{
    autonat, dcutr,
    gossipsub::{self, MessageAcceptance},
    identify,
    kad::{self, GetClosestPeersError, GetProvidersError, GetProvidersOk, QueryResult},
    mdns,
    multiaddr::Protocol,
    relay,
    request_response::{self, Message, OutboundFailure},
    swarm::SwarmEvent,
};

use crate::{
    behaviour::BehaviourEvent,
    error::{DhtError, DialError, RequestError},
    event::{NetEvent, ResponseHandle},
    event_loop::{EventLoop, MAX_ADDRS_PER_PEER, MAX_PENDING_INBOUND_REQUESTS, PROVIDERS_ENOUGH},
    topics::is_foreign_community,
};

impl EventLoop {
    pub(crate) fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.record(&event);
        match event {
            SwarmEvent::Behaviour(event) => self.handle_behaviour_event(event),
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                let _ = self.emit(NetEvent::Listening(address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                let addr = endpoint.get_remote_address().clone();
                let relayed = addr.iter().any(|p| p == Protocol::P2pCircuit);
                tracing::debug!(peer = %peer_id, %addr, "connected");
                self.swarm
                    .behaviour_mut()
                    .kad
                    .store_mut()
                    .peer_connected(peer_id, crate::guard::ip_key(&addr));
                self.peers
                    .entry(peer_id)
                    .or_default()
                    .connections
                    .insert(connection_id, addr.clone());
                if let Some(reply) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                self.resolve_peer_waiters(&peer_id, Ok(()));
                if !relayed {
                    if self.relays.contains_key(&peer_id) {
                        self.listen_via_relay(peer_id);
                    }
                    for (addr, reply) in self.circuit_dials.remove(&peer_id).unwrap_or_default() {
                        self.dial(addr, reply);
                    }
                }
                if num_established.get() == 1 {
                    if let Some(standing) = self.standings.get(&peer_id) {
                        self.swarm
                            .behaviour_mut()
                            .gossipsub
                            .set_application_score(&peer_id, *standing);
                    }
                    let _ = self.emit(NetEvent::PeerConnected {
                        peer: peer_id,
                        group: crate::guard::ip_key(&addr),
                        addr,
                        inbound: endpoint.is_listener(),
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                tracing::debug!(peer = %peer_id, ?cause, "connection closed");
                if let Some(state) = self.peers.get_mut(&peer_id) {
                    state.connections.remove(&connection_id);
                }
                if num_established == 0 {
                    self.peers.remove(&peer_id);
                    self.closing.remove(&peer_id);
                    self.responding.retain(|_, p| *p != peer_id);
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .store_mut()
                        .peer_disconnected(&peer_id);
                    let _ = self.emit(NetEvent::PeerDisconnected { peer: peer_id });
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                tracing::debug!(?peer_id, "dial failed: {error}");
                if let Some(reply) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(DialError::Failed(crate::error::with_causes(&error))));
                }
                if let Some(peer) = peer_id.filter(|p| !self.swarm.is_connected(p)) {
                    let failure = DialError::Failed(crate::error::with_causes(&error));
                    self.resolve_peer_waiters(&peer, Err(failure.clone()));
                    for (_, reply) in self.circuit_dials.remove(&peer).unwrap_or_default() {
                        let relay = DialError::Failed(format!("cannot reach the relay: {error}"));
                        let _ = reply.send(Err(relay));
                    }
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some((relay, _)) = self.relay_listeners.remove(&listener_id) {
                    // Housekeeping reconnects and reserves again.
                    tracing::info!(%relay, ?reason, "relay circuit listener closed");
                }
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                tracing::info!(%address, "external address confirmed");
            }
            SwarmEvent::ExternalAddrExpired { address } => {
                tracing::info!(%address, "external address expired");
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::debug!(%send_back_addr, "incoming connection failed: {error}");
            }
            _ => {}
        }
    }

    fn handle_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(event) => {
                self.record(&event);
                self.on_identify(event);
            }
            BehaviourEvent::Ping(event) => {
                self.record(&event);
                if let Ok(rtt) = event.result {
                    let _ = self.emit(NetEvent::PeerRtt {
                        peer: event.peer,
                        rtt,
                    });
                }
            }
            BehaviourEvent::Kad(event) => {
                self.record(&event);
                self.on_kad(event);
            }
            BehaviourEvent::Gossipsub(event) => {
                self.record(&event);
                self.on_gossipsub(event);
            }
            BehaviourEvent::Direct(event) => self.on_direct(event),
            BehaviourEvent::Mdns(mdns::Event::Discovered(peers)) => {
                self.on_local_peers_discovered(peers);
            }
            BehaviourEvent::Mdns(mdns::Event::Expired(_)) => {}
            BehaviourEvent::Autonat(event) => {
                if let autonat::Event::StatusChanged { old, new } = event {
                    tracing::info!(?old, ?new, "reachability changed");
                }
            }
            BehaviourEvent::RelayClient(event) => self.on_relay_client(event),
            BehaviourEvent::RelayServer(event) => {
                self.record(&event);
                tracing::debug!(?event, "relay server");
            }
            BehaviourEvent::Dcutr(event) => {
                self.record(&event);
                let dcutr::Event {
                    remote_peer_id,
                    result,
                } = event;
                tracing::debug!(peer = %remote_peer_id, ?result, "hole punch finished");
                let _ = self.emit(NetEvent::HolePunch {
                    peer: remote_peer_id,
                    ok: result.is_ok(),
                });
            }
            BehaviourEvent::Limits(never) => match never {},
        }
    }

    fn on_identify(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return;
        };
        if is_foreign_community(&info.protocol_version, &self.community) {
            tracing::info!(
                peer = %peer_id,
                protocol_version = %info.protocol_version,
                "disconnecting a peer of another community"
            );
            self.swarm.behaviour_mut().kad.remove_peer(&peer_id);
            let _ = self.swarm.disconnect_peer_id(peer_id);
            return;
        }
        let listen_addrs: Vec<_> = info
            .listen_addrs
            .into_iter()
            .take(MAX_ADDRS_PER_PEER)
            .collect();
        self.swarm
            .behaviour_mut()
            .kad
            .store_mut()
            .peer_identified(peer_id, &listen_addrs);
        if info.protocols.contains(&self.kad_protocol) {
            for addr in &listen_addrs {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer_id, addr.clone());
            }
        }
        if let Some(state) = self.peers.get_mut(&peer_id) {
            state.agent = Some(info.agent_version.clone());
            state.protocol_version = Some(info.protocol_version.clone());
            state.protocols = info.protocols.iter().map(ToString::to_string).collect();
        }
        let _ = self.emit(NetEvent::PeerIdentified {
            peer: peer_id,
            listen_addrs,
            agent: info.agent_version,
            protocol_version: info.protocol_version,
        });
    }

    fn on_gossipsub(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                self.swarm.behaviour_mut().guard.touch(&propagation_source);
                let Some(topic) = self.topics.topic_of(&message.topic) else {
                    self.ignore_message(&message_id, &propagation_source);
                    return;
                };
                let event = NetEvent::Gossip {
                    topic,
                    message_id: message_id.clone(),
                    propagation_source,
                    source: message.source,
                    data: message.data,
                };
                if self.emit(event).is_some() {
                    // Nobody will validate it: drop it without blaming the sender.
                    self.ignore_message(&message_id, &propagation_source);
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                if let Some(topic) = self.topics.topic_of(&topic) {
                    let _ = self.emit(NetEvent::PeerSubscribed {
                        peer: peer_id,
                        topic,
                    });
                }
            }
            gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            } => {
                tracing::debug!(peer = %peer_id, ?failed_messages, "slow gossip peer");
            }
            _ => {}
        }
    }

    fn ignore_message(&mut self, id: &gossipsub::MessageId, source: &libp2p::PeerId) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, MessageAcceptance::Ignore);
    }

    fn on_kad(&mut self, event: kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = event
        else {
            if let kad::Event::RoutingUpdated { peer, .. } = event {
                tracing::trace!(%peer, "routing table updated");
            }
            return;
        };
        match result {
            QueryResult::GetProviders(result) => {
                let Some(pending) = self.pending_providers.get_mut(&id) else {
                    return;
                };
                // `Some(timed_out)` once the lookup is over.
                let finished = match result {
                    Ok(GetProvidersOk::FoundProviders { providers, .. }) => {
                        pending.found.extend(providers);
                        (pending.found.len() >= PROVIDERS_ENOUGH || step.last).then_some(false)
                    }
                    Ok(GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) => Some(false),
                    Err(GetProvidersError::Timeout { .. }) => Some(true),
                };
                let Some(timed_out) = finished else {
                    return;
                };
                if let Some(pending) = self.pending_providers.remove(&id) {
                    // A timeout with partial results still answers the question.
                    let result = if timed_out && pending.found.is_empty() {
                        Err(DhtError::Timeout)
                    } else {
                        Ok(pending.found)
                    };
                    let _ = pending.reply.send(result);
                }
                if let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                    query.finish();
                }
            }
            QueryResult::StartProviding(result) => {
                if let Some(reply) = self.pending_providing.remove(&id) {
                    let _ = reply.send(result.map(|_| ()).map_err(|_| DhtError::Timeout));
                }
            }
            QueryResult::GetClosestPeers(result) => {
                let Some(target) = self.peer_lookups.remove(&id) else {
                    return; // a random walk
                };
                let peers = match result {
                    Ok(ok) => ok.peers,
                    Err(GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                let addrs = peers
                    .into_iter()
                    .find(|info| info.peer_id == target)
                    .map(|info| info.addrs)
                    .unwrap_or_default();
                if self.swarm.is_connected(&target) {
                    self.resolve_peer_waiters(&target, Ok(()));
                } else if addrs.is_empty() {
                    self.resolve_peer_waiters(&target, Err(DialError::PeerNotFound(target)));
                } else if let Err(e) = self.dial_known(target, addrs) {
                    self.resolve_peer_waiters(&target, Err(DialError::Failed(e)));
                }
            }
            QueryResult::Bootstrap(result) => {
                tracing::debug!(?result, "Kademlia bootstrap step");
            }
            other => tracing::trace!(?other, "Kademlia query progressed"),
        }
    }

    fn on_direct(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            } => {
                if self.closing.contains_key(&peer) {
                    return; // being disconnected: only its earlier requests are answered
                }
                self.swarm.behaviour_mut().guard.touch(&peer);
                if self.pending_responses.len() >= MAX_PENDING_INBOUND_REQUESTS {
                    tracing::debug!(%peer, "too many unanswered requests; dropping one");
                    return; // dropping the channel tells the requester
                }
                self.pending_responses.insert(request_id, (peer, channel));
                let event = NetEvent::InboundRequest {
                    peer,
                    data: request,
                    channel: ResponseHandle(request_id),
                };
                if self.emit(event).is_some() {
                    self.pending_responses.remove(&request_id);
                }
            }
            request_response::Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.pending_requests.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, "direct request failed: {error}");
                if let Some(reply) = self.pending_requests.remove(&request_id) {
                    let error = match error {
                        OutboundFailure::DialFailure => {
                            RequestError::DialFailure(format!("cannot connect to {peer}"))
                        }
                        OutboundFailure::Timeout => RequestError::Timeout,
                        OutboundFailure::ConnectionClosed => RequestError::ConnectionClosed,
                        OutboundFailure::UnsupportedProtocols => RequestError::UnsupportedProtocol,
                        OutboundFailure::Io(e) => RequestError::Io(e.to_string()),
                    };
                    let _ = reply.send(Err(error));
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, "inbound direct request failed: {error}");
                self.pending_responses.remove(&request_id);
                self.responding.remove(&request_id);
                self.close_if_answered(peer);
            }
            request_response::Event::ResponseSent {
                peer, request_id, ..
            } => {
                self.responding.remove(&request_id);
                self.close_if_answered(peer);
            }
        }
    }

    fn on_relay_client(&mut self, event: relay::client::Event) {
        match event {
            relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                ..
            } => {
                if renewal {
                    return;
                }
                let addr = self
                    .relay_listeners
                    .values()
                    .find(|(relay, _)| *relay == relay_peer_id)
                    .map(|(_, addr)| addr.clone());
                if let Some(addr) = addr {
                    tracing::info!(relay = %relay_peer_id, %addr, "relay reservation accepted");
                    let _ = self.emit(NetEvent::RelayReservation {
                        relay: relay_peer_id,
                        addr,
                    });
                }
            }
            other => tracing::debug!(?other, "relay client"),
        }
    }
}
