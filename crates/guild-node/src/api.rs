//! The node behind the control socket: maps each control call onto the node.

use crate::control::{Answer, CallError, DaemonCall, Event, Handle, Json, Reply, Unary};
use crate::node::FindOutcome;
use crate::node::Node;
use guild_core::control::types::{
    Connected, Direction, FindMatch, FindResults, IndexSizes, PeerInfo, Peers, RememberedPeer,
    Source, Status, TagSuggestion,
};
use guild_core::Skill;
use guild_net::Multiaddr;
use guild_service::index::Query;
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
    /// The dashboard's one-time login links (`web.login`), when it is served.
    web_tickets: Option<crate::web::LoginTickets>,
    /// The home's config file, which `join` updates (community, bootstrap peer).
    config_file: Option<std::path::PathBuf>,
}

impl NodeHandle {
    /// Wraps a node; `shutdown` is cancelled when a client calls `shutdown`.
    pub fn new(node: Node, shutdown: CancellationToken) -> NodeHandle {
        NodeHandle {
            node,
            shutdown,
            web: None,
            web_tickets: None,
            config_file: None,
        }
    }

    /// Lets `join` record the community and the inviter in this config file.
    pub fn with_config_file(mut self, path: std::path::PathBuf) -> NodeHandle {
        self.config_file = Some(path);
        self
    }

    /// Reports the web dashboard's state in `status`, and issues its login links (`web.login`)
    /// when it is served.
    pub fn with_web(
        mut self,
        web: guild_core::control::WebStatus,
        tickets: Option<crate::web::LoginTickets>,
    ) -> NodeHandle {
        self.web = Some(web);
        self.web_tickets = tickets;
        self
    }

    /// `web.login`: a fresh one-time login link, or why there is none.
    fn web_login(&self) -> Result<Reply, CallError> {
        let url = self.web.as_ref().and_then(|w| w.url.clone());
        match (&self.web_tickets, url) {
            (Some(tickets), Some(url)) => {
                let token = tickets.issue(std::time::Instant::now());
                Ok(Reply::WebLogin(guild_core::control::WebLogin {
                    login_url: crate::web::auth::login_url(&url, &token),
                    url,
                    expires_in_secs: guild_core::control::WEB_LOGIN_TTL_SECS,
                }))
            }
            _ => Err(CallError::unavailable(match &self.web {
                Some(w) => format!(
                    "the web dashboard is not served ({}): {}",
                    serde_json::to_value(w.state)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    w.note.as_deref().unwrap_or("see `guild status`")
                ),
                None => "this daemon serves no web dashboard".to_string(),
            })),
        }
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
            mesh: snap.mesh.clone(),
        }
    }

    fn peers(&self) -> Peers {
        let name = |peer: &guild_net::PeerId| {
            guild_core::PublicKey::from_peer_id(peer)
                .ok()
                .and_then(|k| self.node.store().get_profile(&k).ok().flatten())
                .map(|p| p.body.name)
        };
        let links = self.node.links();
        let connected: std::collections::HashSet<guild_net::PeerId> =
            links.iter().map(|(p, ..)| *p).collect();
        let mut peers: Vec<PeerInfo> = links
            .into_iter()
            .map(|(peer, addr, since, link)| PeerInfo {
                peer_id: peer.to_string(),
                addresses: addr.map(|a| vec![a.to_string()]).unwrap_or_default(),
                direction: link.map(|l| {
                    if l.inbound {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    }
                }),
                connected_since: Some(since),
                latency_ms: link.and_then(|l| l.rtt_ms),
                name: name(&peer),
            })
            .collect();
        peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        // The peer book holds at most 1024 entries, already in the order a restart dials them.
        let remembered = match self.node.store().known_peers() {
            Ok((known, _undecodable)) => known
                .into_iter()
                .filter_map(|(id, p)| {
                    let peer = guild_net::PeerId::from_bytes(&id).ok()?;
                    (!connected.contains(&peer)).then(|| RememberedPeer {
                        peer_id: peer.to_string(),
                        name: name(&peer),
                        addresses: p.addrs,
                        last_seen: p.last_seen,
                        sessions: p.sessions,
                    })
                })
                .take(guild_core::control::MAX_REMEMBERED_SHOWN)
                .collect(),
            Err(e) => {
                tracing::warn!("cannot read remembered peers: {e}");
                Vec::new()
            }
        };
        Peers { peers, remembered }
    }

    async fn find(&self, p: guild_core::control::FindParams) -> FindOutcome {
        let limit = p.limit();
        let q = Query {
            words: p.query,
            skills: p.skills,
            resources: p.resources,
            text: p.text,
            limit,
        };
        self.node.find(q, p.local_only).await
    }
}

/// `find`'s typed result.
fn find_results(out: FindOutcome) -> FindResults {
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
                introduced_by: out.introduced_by.get(&m.peer).copied(),
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

/// `find`'s result encoded straight from the matches, in the bytes `Reply::to_json` gives
/// encodes to (checked by a test): without building the typed result and a `Value` first, and
/// with each peer id as the index keeps it instead of base58-encoding it again.
fn find_json(out: &FindOutcome) -> Result<Json, CallError> {
    // About 430 bytes a result (8.5 KB for 20): one allocation, no regrowth.
    Json::encode_sized(&wire::Results::new(out), 256 + 512 * out.matches.len())
}

/// Borrowed mirrors of [`FindResults`] and its parts. Members are in alphabetical order: the
/// order of a `serde_json::Value` object, which is what [`Reply::to_json`] encodes through.
mod wire {
    use super::FindOutcome;
    use guild_core::control::Source;
    use guild_core::{Level, SkillTag, UnixTime};
    use guild_service::index::{Field, How, Match};
    use serde::Serialize;

    #[derive(Serialize)]
    pub(super) struct Results<'a> {
        dht_queried: bool,
        results: Vec<Found<'a>>,
        suggestions: Vec<Suggestion<'a>>,
    }

    impl<'a> Results<'a> {
        pub(super) fn new(out: &'a FindOutcome) -> Results<'a> {
            Results {
                dht_queried: out.dht_queried,
                results: out
                    .matches
                    .iter()
                    .map(|m| {
                        Found::new(
                            m,
                            out.from_dht.contains(&m.peer),
                            out.introduced_by.get(&m.peer).map(|k| k.to_string()),
                        )
                    })
                    .collect(),
                suggestions: out
                    .suggestions
                    .iter()
                    .map(|(tag, did_you_mean)| Suggestion { did_you_mean, tag })
                    .collect(),
            }
        }
    }

    #[derive(Serialize)]
    struct Found<'a> {
        factors: Factors,
        #[serde(skip_serializing_if = "Option::is_none")]
        introduced_by: Option<String>,
        last_seen: UnixTime,
        matched: Vec<Term<'a>>,
        name: &'a str,
        peer: &'a str,
        resources: &'a [SkillTag],
        score: f64,
        skills: Vec<SkillLevel<'a>>,
        source: Source,
        stranger: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        trust: Option<f64>,
    }

    impl<'a> Found<'a> {
        fn new(m: &'a Match, from_dht: bool, introduced_by: Option<String>) -> Found<'a> {
            Found {
                introduced_by,
                factors: Factors {
                    availability: m.availability,
                    fit: m.fit,
                    freshness: m.freshness,
                    level: m.level,
                    trust: m.trust,
                },
                last_seen: m.issued_at,
                matched: m
                    .matched
                    .iter()
                    .map(|x| Term {
                        field: x.field,
                        how: x.how,
                        term: &x.term,
                        word: &x.word,
                    })
                    .collect(),
                name: &m.name,
                peer: m.peer_id.as_str(),
                resources: &m.matched_resources,
                score: m.score,
                skills: m
                    .matched_skills
                    .iter()
                    .map(|(tag, level)| SkillLevel { level: *level, tag })
                    .collect(),
                source: if from_dht { Source::Dht } else { Source::Local },
                stranger: m.trust.is_none(),
                trust: m.trust,
            }
        }
    }

    #[derive(Serialize)]
    struct Factors {
        availability: f64,
        fit: f64,
        freshness: f64,
        level: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        trust: Option<f64>,
    }

    #[derive(Serialize)]
    struct Term<'a> {
        field: Field,
        how: How,
        term: &'a str,
        word: &'a str,
    }

    #[derive(Serialize)]
    struct SkillLevel<'a> {
        level: Level,
        tag: &'a SkillTag,
    }

    #[derive(Serialize)]
    struct Suggestion<'a> {
        did_you_mean: &'a [SkillTag],
        tag: &'a str,
    }
}

/// The serialised name of a unit enum value (`"exact"`, `"skill"` …).
fn label<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

impl NodeHandle {
    /// Serves a call of the daemon's own (see [`DaemonCall`]).
    async fn daemon(&self, call: DaemonCall) -> Result<Reply, CallError> {
        self.node.stats().socket_requests.inc();
        match call {
            DaemonCall::Status => Ok(Reply::Status(self.status())),
            DaemonCall::Peers => Ok(Reply::Peers(self.peers())),
            DaemonCall::Find(p) => Ok(Reply::Find(find_results(self.find(p).await))),
            DaemonCall::Connect(p) => {
                let addr: Multiaddr = p.addr.parse().map_err(|e| {
                    CallError::invalid_params(format!("`{}` is not a multiaddr: {e}", p.addr))
                })?;
                let peer = self
                    .node
                    .net()
                    .dial(addr)
                    .await
                    .map_err(|e| CallError::peer_unreachable(e.to_string()))?;
                Ok(Reply::Connected(Connected {
                    peer_id: Some(peer.to_string()),
                }))
            }
            DaemonCall::WebLogin => self.web_login(),
            DaemonCall::InviteCreate(p) => {
                let addrs = crate::invite::reachable_addrs(&self.node);
                self.node.create_invite(p, addrs).await
            }
            DaemonCall::Join(p) => crate::invite::join(&self.node, self.config_file.as_deref(), p)
                .await
                .map(Reply::Joined),
            DaemonCall::Shutdown => {
                self.shutdown.cancel();
                Ok(Reply::Done)
            }
        }
    }
}

impl Handle for NodeHandle {
    async fn call(&self, call: Unary) -> Result<Reply, CallError> {
        match call {
            // Domain logic: the service, through the node loop.
            Unary::Service(call) => self.node.call(call).await,
            Unary::Daemon(call) => self.daemon(call).await,
        }
    }

    async fn call_encoded(&self, call: Unary) -> Result<Answer, CallError> {
        match call {
            // `find`'s JSON straight from the matches (its answers are large and frequent).
            Unary::Daemon(DaemonCall::Find(p)) => {
                self.node.stats().socket_requests.inc();
                find_json(&self.find(p).await).map(Answer::Json)
            }
            other => self.call(other).await.map(Answer::Reply),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.node.subscribe()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use guild_core::{Identity, Level, PublicKey, SkillTag};
    use guild_service::index::{Field, How, Match, Matched};

    fn tag(s: &str) -> SkillTag {
        SkillTag::parse(s).unwrap()
    }

    fn member(seed: u8, name: &str, trust: Option<f64>) -> Match {
        let peer: PublicKey = Identity::from_secret([seed; 32]).public();
        Match {
            peer,
            peer_id: peer.to_string().into(),
            name: name.to_string(),
            score: 1.234_567_890_123 * f64::from(seed),
            fit: 0.1 + 0.2,
            trust,
            freshness: 1e-7,
            availability: 0.8,
            level: 1.0,
            matched: vec![
                Matched {
                    word: "rust".into(),
                    field: Field::Skill,
                    term: "rust".into(),
                    how: How::Exact,
                },
                Matched {
                    word: "pcb désign".into(),
                    field: Field::Text,
                    term: "\"quoted\"\n".into(),
                    how: How::Typo,
                },
            ],
            matched_skills: vec![
                (tag("rust"), Level::Expert),
                (tag("kicad"), Level::Beginner),
            ],
            matched_resources: vec![tag("3d-printer")],
            issued_at: 1_767_225_600 + u64::from(seed),
        }
    }

    /// The fast path's bytes are those of the typed result through a `Value`, envelope included.
    #[test]
    fn find_json_is_to_result_bytes() {
        let dht = member(2, "Ада \\ <b>&</b> \u{1f980}", None);
        let out = FindOutcome {
            matches: vec![
                member(1, "Ann", Some(0.75)),
                dht.clone(),
                member(3, "", Some(0.0)),
            ],
            from_dht: [dht.peer].into_iter().collect(),
            suggestions: vec![
                ("rsut".into(), vec![tag("rust"), tag("rust-async")]),
                ("zzz".into(), vec![]),
            ],
            dht_queried: true,
            introduced_by: [(dht.peer, member(4, "Bo", None).peer)]
                .into_iter()
                .collect(),
        };
        let fast = find_json(&out).unwrap();
        assert!(fast.as_str().contains("introduced_by"));
        let typed = Reply::Find(find_results(out.clone())).to_json().unwrap();
        assert_eq!(fast.as_str(), serde_json::to_string(&typed).unwrap());
        for id in [Value::from(7), Value::from("a\"b"), Value::Null] {
            let mut line = Vec::new();
            crate::control::encode_response(id.clone(), Ok(Answer::Json(fast.clone())), &mut line);
            let slow = guild_core::control::Response::result(id, typed.clone()).to_line();
            assert_eq!(String::from_utf8(line).unwrap(), slow);
        }
        let empty = FindOutcome {
            matches: vec![],
            from_dht: Default::default(),
            suggestions: vec![],
            dht_queried: false,
            introduced_by: Default::default(),
        };
        assert_eq!(
            find_json(&empty).unwrap().as_str(),
            serde_json::to_string(&Reply::Find(find_results(empty)).to_json().unwrap()).unwrap()
        );
    }
}
