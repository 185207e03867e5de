//! The node behind the control socket: maps each control call onto the node.

use crate::control::{Call, CallError, Event, Handle};
use crate::node::Node;
use crate::service::index::Query;
use guild_core::control::types::{
    Connected, FindMatch, FindResults, IndexSizes, PeerInfo, Peers, Source, Status, TagSuggestion,
};
use guild_core::control::{to_result, ProfileDraft};
use guild_core::{Profile, Signed, Skill};
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
        Status {
            peer_id: n.peer_id().to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            community: n.community().to_string(),
            pid: std::process::id(),
            listen_addrs: n.listen_addrs().iter().map(|a| a.to_string()).collect(),
            external_addrs: vec![],
            connected_peers: n.connected().len(),
            index: IndexSizes {
                profiles: n.indexed_profiles() as u64,
                records: n.store().record_count() as u64,
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
                    .and_then(|k| self.node.profile_name(&k)),
            })
            .collect();
        peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        Peers { peers }
    }

    async fn set_profile(&self, draft: ProfileDraft) -> Result<Signed<Profile>, CallError> {
        self.node.set_own_profile(draft).await.map_err(|e| match e {
            crate::node::OwnProfileError::Invalid(e) => CallError::invalid_params(e.to_string()),
            other => CallError::internal(other),
        })
    }

    async fn find(&self, p: guild_core::control::FindParams) -> FindResults {
        let limit = p.limit();
        let q = Query {
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
                    trust: Some(m.trust),
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

impl Handle for NodeHandle {
    async fn call(&self, call: Call) -> Result<Value, CallError> {
        self.node.stats().socket_requests.inc();
        match call {
            Call::Status => to_result(&self.status()),
            Call::Peers => to_result(&self.peers()),
            Call::ProfileGet(p) => {
                let profile = match p.peer {
                    None => self.node.own_profile().map_err(CallError::internal)?,
                    Some(who) => Some(
                        self.node
                            .store()
                            .get_profile(&who)
                            .map_err(CallError::internal)?
                            .ok_or_else(|| {
                                CallError::not_found(format!("no profile of {who} is known"))
                            })?,
                    ),
                };
                to_result(&profile)
            }
            Call::ProfileSet(p) => to_result(&self.set_profile(p.into_draft()).await?),
            Call::ProfileUpdate(p) => {
                let draft = self
                    .node
                    .own_draft()
                    .map_err(CallError::internal)?
                    .unwrap_or_default();
                let draft = p.apply(&draft)?;
                to_result(&self.set_profile(draft).await?)
            }
            Call::Find(p) => to_result(&self.find(p).await),
            Call::Connect(p) => {
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
            Call::Ask(p) => to_result(&self.node.ask(p).await.map_err(pull_error)?),
            Call::Needs(p) => to_result(&self.node.needs(p).map_err(pull_error)?),
            Call::NeedWithdraw(p) => {
                self.node.withdraw_need(p).await.map_err(pull_error)?;
                Ok(Value::Null)
            }
            Call::Offer(p) => to_result(&self.node.offer(p).await.map_err(pull_error)?),
            Call::Offers(p) => to_result(&self.node.offers(p).map_err(pull_error)?),
            Call::Accept(p) => to_result(&self.node.accept(p).await.map_err(pull_error)?),
            Call::CollabList => to_result(&self.node.collab_list().map_err(pull_error)?),
            Call::CollabShow(p) => {
                to_result(&self.node.collab_show(&p.collab).map_err(pull_error)?)
            }
            Call::CollabPost(p) => to_result(
                &self
                    .node
                    .collab_post(&p.collab, p.text)
                    .await
                    .map_err(pull_error)?,
            ),
            Call::CollabInvite(p) => to_result(
                &self
                    .node
                    .collab_invite(&p.collab, p.peer)
                    .await
                    .map_err(pull_error)?,
            ),
            Call::CollabJoin(p) => {
                to_result(&self.node.collab_join(&p.collab).await.map_err(pull_error)?)
            }
            Call::CollabClose(p) => to_result(
                &self
                    .node
                    .collab_close(&p.collab, p.summary)
                    .await
                    .map_err(pull_error)?,
            ),
            Call::Msg(p) => to_result(&self.node.msg(p).await.map_err(pull_error)?),
            Call::Inbox(p) => to_result(&self.node.inbox(p).map_err(pull_error)?),
            Call::Vouch(p) => to_result(&self.node.vouch(p).await.map_err(pull_error)?),
            Call::Revoke(p) => {
                self.node.revoke(p).await.map_err(pull_error)?;
                Ok(Value::Null)
            }
            Call::Attestations(p) => to_result(&self.node.attestations(p)),
            Call::Trust(p) => to_result(&self.node.trust(p)),
            Call::Shutdown => {
                self.shutdown.cancel();
                Ok(Value::Null)
            }
            // The server answers `subscribe` itself.
            Call::Subscribe(_) => Err(CallError::internal(
                "subscribe is served by the control server",
            )),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.node.subscribe()
    }
}

fn pull_error(e: crate::node::PullError) -> CallError {
    use crate::node::PullError;
    match e {
        PullError::NotFound(m) => CallError::not_found(m),
        PullError::Invalid(m) => CallError::invalid_params(m),
        PullError::Unreachable(m) => CallError::peer_unreachable(m),
        PullError::Internal(m) => CallError::internal(m),
    }
}
