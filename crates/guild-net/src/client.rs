//! The handle through which the rest of Guild talks to the network event loop.
//!
//! Each method sends one `Command` over a bounded channel and awaits its one-shot reply, as
//! in rust-libp2p's `file-sharing` example. Cloning a [`Client`] is cheap; the event loop stops
//! when every clone is dropped or on [`Client::shutdown`].

use std::{collections::HashSet, time::Duration};

use libp2p::{gossipsub::MessageId, Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::{
    error::{DhtError, DialError, PublishError, RequestError, Stopped},
    event::{AdmissionStats, PeerInfo, ResponseHandle, Verdict},
    topics::Topic,
};

/// A request to the event loop, carrying the sender for its reply.
#[derive(Debug)]
pub(crate) enum Command {
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    ExternalAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, DialError>>,
    },
    DialPeer {
        peer: PeerId,
        reply: oneshot::Sender<Result<(), DialError>>,
    },
    AddAddress {
        peer: PeerId,
        addr: Multiaddr,
        reply: oneshot::Sender<()>,
    },
    AddExternalAddress {
        addr: Multiaddr,
        reply: oneshot::Sender<()>,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    RoutingTablePeers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Publish {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<MessageId, PublishError>>,
    },
    ReportValidation {
        message_id: MessageId,
        propagation_source: PeerId,
        verdict: Verdict,
        reply: oneshot::Sender<bool>,
    },
    PeerScore {
        peer: PeerId,
        reply: oneshot::Sender<Option<f64>>,
    },
    StartProviding {
        key: Vec<u8>,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
    StopProviding {
        key: Vec<u8>,
        reply: oneshot::Sender<()>,
    },
    GetProviders {
        key: Vec<u8>,
        reply: oneshot::Sender<Result<HashSet<PeerId>, DhtError>>,
    },
    Bootstrap {
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
    Request {
        peer: PeerId,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, RequestError>>,
    },
    Respond {
        handle: ResponseHandle,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), RequestError>>,
    },
    MdnsDiscovered {
        peers: Vec<(PeerId, Multiaddr)>,
        reply: oneshot::Sender<()>,
    },
    SetPeerStanding {
        peer: PeerId,
        standing: f64,
        reply: oneshot::Sender<()>,
    },
    DisconnectPeer {
        peer: PeerId,
        ban: Duration,
        reply: oneshot::Sender<()>,
    },
    Unban {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    ClosePeer {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    AdmissionStats {
        reply: oneshot::Sender<AdmissionStats>,
    },
    SetKnownPeers {
        peers: Vec<PeerId>,
        reply: oneshot::Sender<()>,
    },
}

/// A verdict on one gossip message, for [`Client::try_report_validation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationReport {
    /// The message's id, from [`NetEvent::Gossip`](crate::NetEvent::Gossip).
    pub message_id: MessageId,
    /// The peer that forwarded it, from the same event.
    pub propagation_source: PeerId,
    /// The node's judgement.
    pub verdict: Verdict,
}

/// Why [`Client::try_report_validation`] did not queue a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TryReportError {
    /// The event loop's command channel is full; the report is handed back.
    #[error("the network event loop is busy")]
    Full(ValidationReport),
    /// The network layer has stopped.
    #[error("the network layer has stopped")]
    Stopped,
}

/// A cloneable handle to the network event loop.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    cancel: CancellationToken,
    local_peer_id: PeerId,
    max_message_size: usize,
    max_response_size: usize,
}

impl Client {
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        cancel: CancellationToken,
        local_peer_id: PeerId,
        max_message_size: usize,
        max_response_size: usize,
    ) -> Self {
        Self {
            commands,
            cancel,
            local_peer_id,
            max_message_size,
            max_response_size,
        }
    }

    /// Sends a command and waits for its reply.
    async fn call<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Stopped> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Our own peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The addresses we listen on (including relay circuit addresses).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, Stopped> {
        self.call(|reply| Command::ListenAddrs { reply }).await
    }

    /// Our confirmed external addresses (AutoNAT-confirmed or relay reservations).
    pub async fn external_addrs(&self) -> Result<Vec<Multiaddr>, Stopped> {
        self.call(|reply| Command::ExternalAddrs { reply }).await
    }

    /// Connects to an address and returns the peer found there. If the address ends in
    /// `/p2p/<id>` the remote must prove that identity. Relay circuits
    /// (`…/p2p/<relay>/p2p-circuit/p2p/<id>`) work when the relay client is on.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, DialError> {
        self.call(|reply| Command::Dial { addr, reply }).await?
    }

    /// Connects to a peer by id: through addresses we know, or else by asking the DHT for the
    /// peer's addresses first. Returns once connected (immediately if already connected).
    pub async fn dial_peer(&self, peer: PeerId) -> Result<(), DialError> {
        self.call(|reply| Command::DialPeer { peer, reply }).await?
    }

    /// Remembers an address for a peer (e.g. one persisted from a previous run) in the swarm
    /// and the Kademlia routing table. Does not dial.
    pub async fn add_address(&self, peer: PeerId, addr: Multiaddr) -> Result<(), Stopped> {
        self.call(|reply| Command::AddAddress { peer, addr, reply })
            .await
    }

    /// Announces an address as ours without waiting for AutoNAT to confirm it (an operator
    /// knows their public address, or a relay on a LAN). Relay reservations and identify
    /// carry it.
    pub async fn add_external_address(&self, addr: Multiaddr) -> Result<(), Stopped> {
        self.call(|reply| Command::AddExternalAddress { addr, reply })
            .await
    }

    /// The peers we are connected to.
    pub async fn connected_peers(&self) -> Result<Vec<PeerInfo>, Stopped> {
        self.call(|reply| Command::ConnectedPeers { reply }).await
    }

    /// The peers in our Kademlia routing table.
    pub async fn routing_table_peers(&self) -> Result<Vec<PeerId>, Stopped> {
        self.call(|reply| Command::RoutingTablePeers { reply })
            .await
    }

    /// Publishes a signed gossip message. [`PublishError::InsufficientPeers`] means nobody is
    /// subscribed yet: nothing was sent, keep the record and let it spread later.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<MessageId, PublishError> {
        if data.len() > self.max_message_size {
            return Err(PublishError::TooLarge {
                size: data.len(),
                max: self.max_message_size,
            });
        }
        self.call(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    /// Reports the node's verdict on a [`NetEvent::Gossip`](crate::NetEvent::Gossip) message:
    /// `Accept` forwards it, `Reject` drops it and lowers `propagation_source`'s score,
    /// `Ignore` drops it. Returns `false` if the message was no longer cached (reported too
    /// late, or already reported).
    pub async fn report_validation(
        &self,
        message_id: MessageId,
        propagation_source: PeerId,
        verdict: Verdict,
    ) -> Result<bool, Stopped> {
        self.call(|reply| Command::ReportValidation {
            message_id,
            propagation_source,
            verdict,
            reply,
        })
        .await
    }

    /// [`Client::report_validation`] without waiting: queues the verdict on the event loop's
    /// bounded command channel if there is room, and never waits for the loop to apply it
    /// (whether the message was still cached is not reported). A node validating a flood of
    /// gossip calls this so that its own loop never waits on the swarm's.
    ///
    /// When the channel is full the verdict comes back in [`TryReportError::Full`], for the
    /// caller to retry or drop; a message whose verdict never arrives is neither forwarded nor
    /// penalised, and gossipsub forgets it after a few heartbeats.
    pub fn try_report_validation(&self, report: ValidationReport) -> Result<(), TryReportError> {
        // Nobody awaits the loop's answer; it is sent into a dropped receiver and ignored.
        let (reply, _) = oneshot::channel();
        let ValidationReport {
            message_id,
            propagation_source,
            verdict,
        } = report;
        let command = Command::ReportValidation {
            message_id,
            propagation_source,
            verdict,
            reply,
        };
        match self.commands.try_send(command) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(Command::ReportValidation {
                message_id,
                propagation_source,
                verdict,
                ..
            })) => Err(TryReportError::Full(ValidationReport {
                message_id,
                propagation_source,
                verdict,
            })),
            Err(_) => Err(TryReportError::Stopped),
        }
    }

    /// A peer's current gossipsub score (`None` if scoring has no record of it).
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, Stopped> {
        self.call(|reply| Command::PeerScore { peer, reply }).await
    }

    /// Announces in the DHT that we provide `key` (e.g. a skill's multihash key), and keeps
    /// re-announcing it. Returns when the announcement query finishes. An `Ok` does not prove
    /// another node stored the record: Kademlia counts an announcement sent once it is queued
    /// to the closest peers (it may still be in flight), and with no peers it succeeds locally.
    pub async fn start_providing(&self, key: Vec<u8>) -> Result<(), DhtError> {
        self.call(|reply| Command::StartProviding { key, reply })
            .await?
    }

    /// Stops announcing `key`. Records already stored elsewhere expire with their TTL.
    pub async fn stop_providing(&self, key: Vec<u8>) -> Result<(), Stopped> {
        self.call(|reply| Command::StopProviding { key, reply })
            .await
    }

    /// Looks up the providers of `key` in the DHT. Resolves when the query finishes, when
    /// enough providers were found, or with what was found when the query times out.
    pub async fn get_providers(&self, key: Vec<u8>) -> Result<HashSet<PeerId>, DhtError> {
        self.call(|reply| Command::GetProviders { key, reply })
            .await?
    }

    /// Starts a Kademlia bootstrap (a lookup of our own id, then bucket refreshes).
    pub async fn bootstrap(&self) -> Result<(), DhtError> {
        self.call(|reply| Command::Bootstrap { reply }).await?
    }

    /// Sends a direct request and waits for the response (bounded by the request timeout).
    pub async fn request(&self, peer: PeerId, data: Vec<u8>) -> Result<Vec<u8>, RequestError> {
        if data.len() > self.max_message_size {
            return Err(RequestError::TooLarge {
                size: data.len(),
                max: self.max_message_size,
            });
        }
        self.call(|reply| Command::Request { peer, data, reply })
            .await?
    }

    /// Answers an inbound request.
    pub async fn respond(&self, handle: ResponseHandle, data: Vec<u8>) -> Result<(), RequestError> {
        if data.len() > self.max_response_size {
            return Err(RequestError::TooLarge {
                size: data.len(),
                max: self.max_response_size,
            });
        }
        self.call(|reply| Command::Respond {
            handle,
            data,
            reply,
        })
        .await?
    }

    /// Feeds peers discovered on the local network, exactly as an mDNS discovery would: each is
    /// added to Kademlia and dialled. Lets tests exercise discovery without multicasting.
    pub async fn inject_mdns_discovered(
        &self,
        peers: Vec<(PeerId, Multiaddr)>,
    ) -> Result<(), Stopped> {
        self.call(|reply| Command::MdnsDiscovered { peers, reply })
            .await
    }

    /// Sets how much the node trusts `peer`, folded into its gossipsub score (P5, the
    /// application-specific score). `standing` is clamped to `[-1, 1]` and weighted by
    /// [`crate::scoring::APP_SPECIFIC_WEIGHT`]: a stranger is 0 (the default, no effect), a
    /// fully trusted member 1 (+3: preferred in the mesh, and one bad record more is tolerated
    /// before graylisting), a peer the node distrusts below 0. The standing is kept for
    /// [`crate::MAX_PEER_STANDINGS`] peers (setting 0 forgets it) and re-applied whenever the
    /// peer connects, since gossipsub only scores connected (or recently connected) peers.
    pub async fn set_peer_standing(&self, peer: PeerId, standing: f64) -> Result<(), Stopped> {
        self.call(|reply| Command::SetPeerStanding {
            peer,
            standing,
            reply,
        })
        .await
    }

    /// Closes every connection to `peer` and refuses its new connections, inbound and outbound,
    /// for `ban` (a later, longer ban extends it; a shorter one does not shorten it). Refused
    /// connections fail with [`crate::PeerBanned`]. For repeat offenders: peers past their
    /// budgets or graylisted by gossipsub.
    ///
    /// Answers to the peer's requests still waiting (the node's last word, e.g. `Busy`) are
    /// sent first: the connections close [`crate::ANSWER_LINGER`] after the last one is
    /// written (within the request timeout at most); new requests from the peer are dropped
    /// meanwhile. Unless the peer is a known member, the
    /// address it came from is penalised too (see [`crate::guard`]).
    pub async fn disconnect_peer(&self, peer: PeerId, ban: Duration) -> Result<(), Stopped> {
        self.call(|reply| Command::DisconnectPeer { peer, ban, reply })
            .await
    }

    /// Closes every connection to a peer, without a ban: the connection manager pruning a
    /// connection it no longer needs. The peer may connect again at once.
    pub async fn close_peer(&self, peer: PeerId) -> Result<(), Stopped> {
        self.call(|reply| Command::ClosePeer { peer, reply }).await
    }

    /// Tells the network layer who the node's *known members* are: members its trust reaches,
    /// collaborators, trust roots, sponsored newcomers — everyone else is a stranger. Replaces
    /// the previous set; only the first [`crate::MAX_KNOWN_PEERS`] are kept (pass the most
    /// trusted first). Known members get the inbound connection room strangers cannot take
    /// ([`crate::guard`]), their DHT provider records the members' room ([`crate::dht_store`]),
    /// and a ban never penalises the address they come from.
    pub async fn set_known_peers(&self, peers: Vec<PeerId>) -> Result<(), Stopped> {
        self.call(|reply| Command::SetKnownPeers { peers, reply })
            .await
    }

    /// Lifts a ban set by [`Client::disconnect_peer`] before it expires.
    pub async fn unban_peer(&self, peer: PeerId) -> Result<(), Stopped> {
        self.call(|reply| Command::Unban { peer, reply }).await
    }

    /// What the admission limits hold and refused so far: the DHT store's budgets
    /// ([`crate::dht_store`]) and the connection guard's ([`crate::guard`]).
    pub async fn admission_stats(&self) -> Result<AdmissionStats, Stopped> {
        self.call(|reply| Command::AdmissionStats { reply }).await
    }

    /// Stops the event loop: connections close and every clone's later calls fail with
    /// [`Stopped`]. Await the `JoinHandle` from [`spawn`](crate::spawn) to know it finished.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}
