//! The node behind the control socket: maps each control call onto the node.

use crate::control::{Call, CallError, Event, Handle};
use crate::node::Node;
use crate::service::index::Query;
use guild_core::control::to_result;
use guild_core::control::types::{
    Connected, FindMatch, FindResults, IndexSizes, PeerInfo, Peers, Source, Status, TagSuggestion,
};
use guild_core::Skill;
use guild_net::Multiaddr;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The control socket's view of a running node.
#[derive(Clone)]
pub struct NodeHandle {
    node: Node,
    /// Cancelled by the `shutdown` method: the daemon stops.
    shutdown: CancellationToken,
    /// Where the web dashboard is served, reported by `status`.
    web: Option<guild_core::control::WebStatus>,
}

impl NodeHandle {
    /// Wraps a node; `shutdown` is cancelled when a client calls `shutdown`.
    pub fn new(node: Node, shutdown: CancellationToken) -> NodeHandle {
        NodeHandle {
            node,
            shutdown,
            web: None,
        }
    }

    /// Reports the web dashboard's state in `status`.
    pub fn with_web(mut self, web: guild_core::control::WebStatus) -> NodeHandle {
        self.web = Some(web);
        self
    }

    fn status(&self) -> Status {
        let n = &self.node;
        let snap = n.snapshot();
        Status {
            peer_id: n.peer_id().to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            community: n.community().to_string(),
            pid: std::process::id(),
            listen_addrs: snap.listen.iter().map(|a| a.to_string()).collect(),
            external_addrs: vec![],
            connected_peers: snap.peers.len(),
            index: IndexSizes {
                profiles: snap.profiles as u64,
                records: snap.records as u64,
            },
            uptime_secs: n.uptime().as_secs(),
            web: self.web.clone(),
        }
    }

    fn peers(&self) -> Peers {
        let mut peers: Vec<PeerInfo> = self
            .node
            .connected()
            .into_iter()
            .map(|(peer, addr, since)| PeerInfo {
                peer_id: peer.to_string(),
                addresses: addr.map(|a| vec![a.to_string()]).unwrap_or_default(),
                direction: None,
                connected_since: Some(since),
                name: guild_core::PublicKey::from_peer_id(&peer)
                    .ok()
                    .and_then(|k| self.node.store().get_profile(&k).ok().flatten())
                    .map(|p| p.body.name),
            })
            .collect();
        peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        Peers { peers }
    }

    async fn find(&self, p: guild_core::control::FindParams) -> FindResults {
        let limit = p.limit();
        let q = Query {
            words: p.query,
            skills: p.skills,
            resources: p.resources,
            text: p.text,
            limit,
        };
        let out = self.node.find(q, p.local_only).await;
        FindResults {
            results: out
                .matches
                .into_iter()
                .map(|m| FindMatch {
                    source: if out.from_dht.contains(&m.peer) {
                        Source::Dht
                    } else {
                        Source::Local
                    },
                    peer: m.peer,
                    name: m.name,
                    skills: m
                        .matched_skills
                        .into_iter()
                        .map(|(tag, level)| Skill { tag, level })
                        .collect(),
                    resources: m.matched_resources,
                    score: m.score,
                    trust: m.trust,
                    stranger: m.trust.is_none(),
                    matched: m
                        .matched
                        .iter()
                        .map(|x| guild_core::control::MatchedTerm {
                            word: x.word.clone(),
                            field: label(&x.field),
                            term: x.term.clone(),
                            how: label(&x.how),
                        })
                        .collect(),
                    factors: Some(guild_core::control::RankFactors {
                        fit: m.fit,
                        trust: m.trust,
                        level: m.level,
                        availability: m.availability,
                        freshness: m.freshness,
                    }),
                    last_seen: Some(m.issued_at),
                })
                .collect(),
            suggestions: out
                .suggestions
                .into_iter()
                .map(|(tag, did_you_mean)| TagSuggestion { tag, did_you_mean })
                .collect(),
            dht_queried: out.dht_queried,
        }
    }
}

/// The serialised name of a unit enum value (`"exact"`, `"skill"` …).
fn label<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

impl Handle for NodeHandle {
    async fn call(&self, call: Call) -> Result<Value, CallError> {
        match call {
            Call::Status => {
                self.node.stats().socket_requests.inc();
                to_result(&self.status())
            }
            Call::Peers => {
                self.node.stats().socket_requests.inc();
                to_result(&self.peers())
            }
            Call::Find(p) => {
                self.node.stats().socket_requests.inc();
                to_result(&self.find(p).await)
            }
            Call::Connect(p) => {
                self.node.stats().socket_requests.inc();
                let addr: Multiaddr = p.addr.parse().map_err(|e| {
                    CallError::invalid_params(format!("`{}` is not a multiaddr: {e}", p.addr))
                })?;
                let peer = self
                    .node
                    .net()
                    .dial(addr)
                    .await
                    .map_err(|e| CallError::peer_unreachable(e.to_string()))?;
                to_result(&Connected {
                    peer_id: Some(peer.to_string()),
                })
            }
            Call::Shutdown => {
                self.shutdown.cancel();
                Ok(Value::Null)
            }
            // The server answers `subscribe` itself.
            Call::Subscribe(_) => Err(CallError::internal(
                "subscribe is served by the control server",
            )),
            // Everything else is domain logic: the service, through the node loop.
            other => self.node.call(other).await,
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.node.subscribe()
    }
}
