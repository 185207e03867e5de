//! The dashboard's router in-process, over a fake node: the page's calls are the control
//! socket's calls (same decoding, same errors), and events reach `/events`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::routes::router;
use super::{LoginTickets, WebContext};
use crate::control::{Call, CallError, Event, Handle, Reply, Unary};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use futures::StreamExt as _;
use guild_core::control::pull::{NeedStatus, NeedView, Needs, OfferView};
use guild_core::control::{IndexSizes, Peers, Status};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const HOST: &str = "127.0.0.1:7878";
const ALONE: &str = "none of the 1 known members could be reached (last error: the member closed the connection at once (it may be full)); retrying, next in 12 s";

#[derive(Clone)]
struct Fake {
    calls: Arc<Mutex<Vec<Call>>>,
    events: broadcast::Sender<Event>,
}

/// A fake's typed answer.
fn reply<T: Into<Reply>>(v: T) -> Result<Reply, CallError> {
    Ok(v.into())
}

impl Handle for Fake {
    async fn call(&self, call: Unary) -> Result<Reply, CallError> {
        let call = Call::from(call);
        self.calls.lock().unwrap().push(call.clone());
        match call {
            Call::Status => reply(Status {
                peer_id: "12D3KooWNW98jY6oC8EEaFFbYCc24HPRaNAJaEY7eiAvspiAgFak".into(),
                version: "0".into(),
                community: "main".into(),
                pid: 1,
                listen_addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
                external_addrs: vec![],
                connected_peers: 0,
                index: IndexSizes::default(),
                uptime_secs: 1,
                web: None,
                // A node whose bootstrap peer refuses it.
                mesh: Some(guild_core::control::MeshStatus {
                    state: guild_core::control::MeshState::Alone,
                    peers: 0,
                    settling: 0,
                    low: 16,
                    high: 32,
                    known: 1,
                    reason: Some(ALONE.into()),
                }),
            }),
            Call::Peers => reply(Peers {
                peers: vec![],
                remembered: vec![],
            }),
            Call::Ask(_) => Err(CallError::unavailable("the network is not ready")),
            Call::ProfileGet(_) => Ok(Reply::Profile(None)),
            Call::Trust(p) => reply(penalised(p.peer)),
            Call::Pulse(_) => reply(a_pulse()),
            Call::Inbox(_) => reply(guild_core::control::pull::Inbox {
                messages: (0..60u8)
                    .rev()
                    .map(|i| guild_core::control::pull::MessageView {
                        id: guild_core::RecordId([i; 32]),
                        from: guild_core::Identity::from_secret([9; 32]).public(),
                        to: guild_core::Identity::from_secret([8; 32]).public(),
                        text: format!("message number {i}"),
                        at: 1_700_000_000 + u64::from(i),
                    })
                    .collect(),
            }),
            Call::Needs(p) => reply(board_needs(p.filter)),
            Call::Offers(_) => reply(guild_core::control::pull::Offers {
                offers: vec![my_offer(1, false), my_offer(2, false), my_offer(4, true)],
            }),
            Call::TrustRoots => reply(guild_core::control::reputation::TrustRoots {
                roots: vec![guild_core::control::reputation::TrustRoot {
                    peer: guild_core::Identity::from_secret([9; 32]).public(),
                    name: Some("Grace".into()),
                    skill: None,
                    note: "met at the makerspace".into(),
                    added_at: 1_700_000_000,
                }],
            }),
            _ => Ok(Reply::Done),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

struct Harness {
    app: Router,
    fake: Fake,
    cookie: String,
    csrf: String,
    tickets: LoginTickets,
    _cancel: tokio_util::sync::DropGuard,
}

async fn harness() -> Harness {
    let tickets = LoginTickets::default();
    let token = tickets.issue(std::time::Instant::now());
    let fake = Fake {
        calls: Arc::default(),
        events: broadcast::channel(16).0,
    };
    let cancel = CancellationToken::new();
    let app = router(
        fake.clone(),
        tickets.clone(),
        WebContext::default(),
        cancel.clone(),
    );
    let login = Request::get(format!("/login?token={token}"))
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap();
    let r = app.clone().oneshot(login).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("guild_session_7878="), "{cookie}");
    let page = Request::get("/")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let r = app.clone().oneshot(page).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    let html = String::from_utf8(html.to_vec()).unwrap();
    let csrf = html
        .split("name=\"guild-csrf\" content=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    Harness {
        app,
        fake,
        cookie,
        csrf,
        tickets,
        _cancel: cancel.drop_guard(),
    }
}

impl Harness {
    async fn call(&self, method: &str, body: &str) -> (StatusCode, Value) {
        let req = Request::post(format!("/call/{method}"))
            .header(header::HOST, HOST)
            .header(header::COOKIE, &self.cookie)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-guild-csrf", &self.csrf)
            .body(Body::from(body.to_string()))
            .unwrap();
        let r = self.app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }
}

#[tokio::test]
async fn calls_are_decoded_as_the_control_socket_decodes_them() {
    let h = harness().await;
    let (status, v) = h
        .call("find", r#"{"skills":["  KiCad "],"text":" pcb "}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let last = h.fake.calls.lock().unwrap().last().cloned().unwrap();
    let expected = Call::from_parts(
        "find",
        Some(serde_json::json!({"skills":["kicad"],"text":"pcb"})),
    )
    .unwrap();
    assert_eq!(last, expected);

    // The socket's errors, with fitting HTTP statuses.
    let (status, v) = h.call("find", r#"{"skils":["kicad"]}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let (status, v) = h.call("nonsense", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], -32601, "{v}");
    let (status, v) = h.call("subscribe", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v) = h.call("ask", r#"{"text":"x","skills":["kicad"]}"#).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["error"]["message"], "the network is not ready");
    let (status, v) = h.call("status", "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], -32700, "{v}");
}

#[tokio::test]
async fn events_are_streamed_as_server_sent_events() {
    let h = harness().await;
    let req = Request::get("/events")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &h.cookie)
        .body(Body::empty())
        .unwrap();
    let r = h.app.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = r.into_body().into_data_stream();
    h.fake
        .events
        .send(Event::PeerDisconnected {
            peer: "12D3KooWNW98jY6oC8EEaFFbYCc24HPRaNAJaEY7eiAvspiAgFak".into(),
        })
        .unwrap();
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), body.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8(chunk.to_vec()).unwrap();
    assert!(text.contains("event: peer.disconnected"), "{text}");
    assert!(
        text.contains(r#"data: {"event":"peer.disconnected","peer":"12D3KooW"#),
        "{text}"
    );
}

#[tokio::test]
async fn every_page_renders_against_a_node_with_nothing_in_it() {
    let h = harness().await;
    for path in [
        "/",
        "/profile",
        "/find",
        "/find?skills=kicad",
        "/needs",
        "/collabs",
        "/trust",
        "/pulse",
        "/inbox",
        "/assets/app.js",
        "/assets/app.css",
    ] {
        let req = Request::get(path)
            .header(header::HOST, HOST)
            .header(header::COOKIE, &h.cookie)
            .body(Body::empty())
            .unwrap();
        let r = h.app.clone().oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("default-src 'none'"),
            "{path}"
        );
    }
}

fn key(seed: u8) -> guild_core::PublicKey {
    guild_core::Identity::from_secret([seed; 32]).public()
}

/// The node (the `status` above) trusts `peer` through a bridge, with an inherited discount and
/// a bridge set over its capacity: every part of the penalty has something to say.
fn penalised(peer: guild_core::PublicKey) -> guild_core::control::reputation::TrustView {
    use guild_core::control::reputation::*;
    let me: guild_core::PublicKey = "12D3KooWNW98jY6oC8EEaFFbYCc24HPRaNAJaEY7eiAvspiAgFak"
        .parse()
        .unwrap();
    let bridge = key(9);
    TrustView {
        peer,
        skill: None,
        score: 0.05,
        factor: 0.56,
        explanation: TrustExplanation {
            ego: me,
            target: peer,
            skill: None,
            score: 0.05,
            walk_trust: 0.2,
            walks: 10_000,
            connectivity: Connectivity {
                bridge: Some(bridge),
                bridge_share: 0.9,
                factor: 0.5,
                inherited_factor: 0.8,
                penalty: 0.1,
                bridge_set: vec![SetBridge {
                    node: bridge,
                    share: 0.9,
                    scale: 0.5,
                }],
                bridge_set_factor: 0.8,
                bridge_set_ignored_walks: None,
                bridge_set_weight: None,
            },
            negative_total: 0.0,
            paths: vec![TrustPath {
                nodes: vec![me, bridge, peer],
                share: 0.2,
                contribution: 0.1,
            }],
            direct: vec![],
            negative: vec![],
        }
        .into(),
    }
}

#[tokio::test]
async fn the_overview_says_when_the_node_is_not_connected_to_the_community_and_why() {
    let h = harness().await;
    let (status, html) = h.get("/", Some(&h.cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("not connected to the community"), "{html}");
    assert!(
        html.contains("the member closed the connection at once (it may be full)"),
        "{html}"
    );
}

/// The trust page says what `guild trust` says about the penalty: the same sentence, each part
/// of it (the page once left out what was inherited, and both the bridge set's cap).
#[tokio::test]
async fn the_trust_page_states_every_part_of_the_penalty_as_the_cli_does() {
    let h = harness().await;
    let peer = key(7);
    let req = Request::get(format!("/trust?peer={peer}"))
        .header(header::HOST, HOST)
        .header(header::COOKIE, &h.cookie)
        .body(Body::empty())
        .unwrap();
    let r = h.app.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    let html = String::from_utf8(html.to_vec()).unwrap();
    let view = penalised(peer);
    let names = guild_core::control::MemberNames::new(None, []);
    let expected = view
        .explanation
        .known()
        .unwrap()
        .connectivity_text(&|k| names.label(k));
    assert!(
        expected.contains("inherited") && expected.contains("capped"),
        "{expected}"
    );
    assert!(html.contains(&expected), "{expected:?} in\n{html}");
}

impl Harness {
    async fn get(&self, path: &str, cookie: Option<&str>) -> (StatusCode, String) {
        let mut req = Request::get(path).header(header::HOST, HOST);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        let r = self
            .app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }
}

/// A pulse with a shown and a hidden figure in each chart, and a lack.
fn a_pulse() -> guild_core::control::reflect::Pulse {
    use guild_core::control::reflect::*;
    let f = Figure::of;
    let tag = |t: &str| guild_core::SkillTag::parse(t).unwrap();
    let t = |name: &str, asks, members, scarcity, median| TagPulse {
        tag: tag(name),
        kind: TagKind::Skill,
        asks: f(asks),
        asks_previous: f(0),
        members: f(members),
        offers: f(0),
        accepted: f(0),
        expired_unanswered: f(0),
        expired_share: None,
        median_first_offer_secs: median,
        scarcity,
    };
    Pulse {
        from: 1_767_571_200,
        until: 1_767_700_000,
        weeks: 2,
        tags: vec![
            t("welding", 7, 0, None, None),
            t("kicad", 12, 6, Some(2.0), Some(5431)),
            t("rust", 2, 9, None, None),
        ],
        lacks: vec![Lack {
            tag: tag("welding"),
            kind: TagKind::Skill,
            asks: f(7),
        }],
        series: vec![
            WeekPulse {
                start: 1_767_571_200,
                needs: f(14),
                offers: f(3),
                members_seen: f(20),
                members_active: f(9),
            },
            WeekPulse {
                start: 1_768_176_000,
                needs: f(7),
                offers: f(6),
                members_seen: f(21),
                members_active: f(8),
            },
        ],
        totals: PulseTotals {
            needs: f(21),
            needs_previous: f(15),
            offers: f(9),
            accepted: f(2),
            expired_unanswered: f(5),
            members_seen: f(21),
            members_active: f(12),
            members_active_previous: f(10),
        },
        needs_now: NeedGauges::default(),
    }
}

#[tokio::test]
async fn a_login_link_works_once_and_a_reused_one_says_so() {
    let h = harness().await;
    let token = h.tickets.issue(std::time::Instant::now());
    let link = format!("/login?token={token}");
    let (status, _) = h.get(&link, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, page) = h.get(&link, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("already been used"), "{page}");
    assert!(page.contains("guild web --open"), "{page}");
    assert!(page.contains("/assets/app.css"), "styled: {page}");
    let (status, page) = h.get("/login?token=0000", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("not valid here"), "{page}");
    let (status, page) = h.get("/login", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("Open the login link"), "{page}");
}

#[tokio::test]
async fn logging_out_ends_the_session_and_the_page_can_tell() {
    let h = harness().await;
    let cookie = h.cookie.clone();
    assert_eq!(
        h.get("/session", Some(&cookie)).await.0,
        StatusCode::NO_CONTENT
    );
    // Log-out is a change: without the CSRF header it is refused and the session stays.
    let bare = Request::post("/logout")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, format!("http://{HOST}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(
        h.app.clone().oneshot(bare).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.get("/session", Some(&cookie)).await.0,
        StatusCode::NO_CONTENT
    );
    let out = Request::post("/logout")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, format!("http://{HOST}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-guild-csrf", &h.csrf)
        .body(Body::from("{}"))
        .unwrap();
    let r = h.app.clone().oneshot(out).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cleared = r.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (status, page) = h.get("/session", Some(&cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("guild web --open"), "{page}");
    assert_eq!(h.get("/", Some(&cookie)).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refusal_pages_are_styled_and_lead_somewhere() {
    let h = harness().await;
    // Assets need no session, so refusal pages can use the stylesheet.
    let (status, css) = h.get("/assets/app.css", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!css.is_empty());
    let (status, page) = h.get("/no/such/page", Some(&h.cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("href=\"/\"") && page.contains("Back to the overview"),
        "{page}"
    );
    // A logged-in page has a log-out button and the hidden "session ended" notice.
    let (_, page) = h.get("/", Some(&h.cookie)).await;
    assert!(
        page.contains("data-logout") && page.contains("id=\"session-ended\""),
        "{page}"
    );
}

#[tokio::test]
async fn the_peers_page_has_a_connect_form_that_calls_connect() {
    let h = harness().await;
    let (status, page) = h.get("/peers", Some(&h.cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-call=\"connect\""), "{page}");
    assert!(page.contains("No peers connected."), "{page}");
    assert!(page.contains("aria-current=\"page\">Peers<"), "{page}");
}

#[tokio::test]
async fn recent_events_show_when_and_page_through() {
    let h = harness().await;
    // Wait until the event keeper has subscribed, then send more events than a page holds.
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while h.fake.events.receiver_count() < 1 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the event keeper subscribes");
    // In two rounds the size of the test's event channel, each waited for.
    let mut seen = (StatusCode::OK, String::new());
    for round in [1..=15u64, 16..=30u64] {
        let last = *round.end();
        for count in round {
            h.fake
                .events
                .send(guild_core::control::Event::EventsDropped { count })
                .unwrap();
        }
        let wait = async {
            loop {
                let (status, page) = h.get("/activity", Some(&h.cookie)).await;
                if page.contains(&format!("</span> {last} events dropped<")) {
                    return (status, page);
                }
                tokio::task::yield_now().await;
            }
        };
        seen = tokio::time::timeout(std::time::Duration::from_secs(60), wait)
            .await
            .expect("the events reach the activity page");
    }
    let (status, page) = seen;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<time"), "{page}");
    assert!(
        page.contains("Page 1 of 2") && page.contains("?page=2"),
        "{page}"
    );
    assert!(!page.contains("</span> 5 events dropped<"), "{page}");
    let (_, second) = h.get("/activity?page=2", Some(&h.cookie)).await;
    assert!(
        second.contains("5 events dropped") && second.contains("Page 2 of 2"),
        "{second}"
    );
    let (_, bad) = h.get("/activity?page=zz", Some(&h.cookie)).await;
    assert!(bad.contains("Page 1 of 2"), "{bad}");
    let (_, overview) = h.get("/", Some(&h.cookie)).await;
    assert!(overview.contains("All recent events (30)"), "{overview}");
}

#[tokio::test]
async fn the_pulse_page_draws_its_charts_as_svg_with_no_inline_style() {
    let h = harness().await;
    let (status, html) = h.get("/pulse?weeks=13", Some(&h.cookie)).await;
    assert_eq!(status, StatusCode::OK);
    // The period asked for reached the node in whole weeks.
    let asked = h.fake.calls.lock().unwrap().iter().any(|c| {
        matches!(c, Call::Pulse(p) if p.since_secs == Some(13 * guild_core::control::reflect::WEEK_SECS))
    });
    assert!(asked, "pulse called with 13 weeks");
    // Three charts: scarcity (kicad 2 per member, rust hidden), weekly, time to first offer.
    assert_eq!(html.matches("<svg").count(), 3, "{html}");
    assert!(html.contains("2 per member"), "{html}");
    assert!(html.contains("&lt; 5 asks, 9 members"), "{html}");
    assert!(html.contains("≥ 1h 30m"), "{html}");
    // The week with 3 offers is a hidden stub, not a bar.
    assert!(html.contains("<rect class=\"hidden\""), "{html}");
    assert!(html.contains("Jan 5: &lt; 5 offers"), "{html}");
    // The lacks list links to find and to invite.
    assert!(html.contains("href=\"/find?q=welding\""), "{html}");
    assert!(
        html.contains("guild daemon --bootstrap /ip4/127.0.0.1/tcp/4001/p2p/"),
        "{html}"
    );
    // The content policy refuses inline styles: none is written.
    assert!(!html.contains("style="), "{html}");
    assert!(html.contains("↑ from 15"), "{html}");
}

#[tokio::test]
async fn the_trust_page_lists_the_roots_each_with_a_remove_that_asks_first() {
    let h = harness().await;
    let (status, page) = h.get("/trust", Some(&h.cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Grace") && page.contains("met at the makerspace"),
        "{page}"
    );
    assert!(page.contains("data-call=\"trust.remove\""), "{page}");
    assert!(page.contains("data-confirm="), "{page}");
    let grace = guild_core::Identity::from_secret([9; 32])
        .public()
        .to_string();
    assert!(
        page.contains(&format!("name=\"peer\" value=\"{grace}\"")),
        "{page}"
    );
    // Removing posts trust.remove with that member.
    let (status, _) = h
        .call("trust.remove", &format!("{{\"peer\":\"{grace}\"}}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        matches!(h.fake.calls.lock().unwrap().last(), Some(Call::TrustRemove(p)) if p.peer.to_string() == grace)
    );
}

#[tokio::test]
async fn the_inbox_pages_through_its_messages_newest_first() {
    let h = harness().await;
    let (status, first) = h.get("/inbox", Some(&h.cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        first.contains("message number 59<") && first.contains("message number 35<"),
        "{first}"
    );
    assert!(!first.contains("message number 34<"), "{first}");
    assert!(
        first.contains("Page 1 of 3") && first.contains("/inbox?page=2"),
        "{first}"
    );
    let (_, last) = h.get("/inbox?page=3", Some(&h.cookie)).await;
    assert!(
        last.contains("message number 0<") && last.contains("Page 3 of 3"),
        "{last}"
    );
    let (_, beyond) = h.get("/inbox?page=99", Some(&h.cookie)).await;
    assert!(beyond.contains("Page 3 of 3"), "{beyond}");
}

/// A need on the fake's board: `n` is its id byte.
fn board_need(n: u8, status: NeedStatus, mine: bool) -> NeedView {
    NeedView {
        id: guild_core::RecordId([n; 32]),
        asker: if mine { key(1) } else { key(9) },
        asker_name: None,
        text: format!("need number {n}"),
        skills: vec!["kicad".parse().unwrap()],
        resources: vec![],
        issued_at: 1_700_000_000 + u64::from(n),
        expires_at: 1_700_000_000 + 86_400,
        status,
        mine,
        matched: if mine {
            vec![]
        } else {
            vec!["kicad".parse().unwrap()]
        },
        offers: 0,
        roles: vec![],
        matched_roles: vec![],
        project: None,
    }
}

/// The board: need 1 open (I offered, waiting), 2 expired (I offered), 3 open (no offer yet),
/// 4 open (my offer withdrawn, so I may offer again); mine: 5 withdrawn.
fn board_needs(filter: guild_core::control::pull::NeedFilter) -> Needs {
    use guild_core::control::pull::NeedFilter;
    let needs = match filter {
        NeedFilter::Mine => vec![board_need(5, NeedStatus::Withdrawn, true)],
        _ => vec![
            board_need(1, NeedStatus::Open, false),
            board_need(2, NeedStatus::Expired, false),
            board_need(3, NeedStatus::Open, false),
            board_need(4, NeedStatus::Open, false),
        ],
    };
    Needs { needs }
}

/// My offer on need `n`.
fn my_offer(n: u8, withdrawn: bool) -> OfferView {
    OfferView {
        id: guild_core::RecordId([100 + n; 32]),
        need: guild_core::RecordId([n; 32]),
        from: key(1),
        to: key(9),
        text: format!("my offer on {n}"),
        issued_at: 1_700_000_100,
        mine: true,
        accepted_in: None,
        role: 0,
        role_label: None,
        withdrawn,
        need_status: Some(if n == 2 {
            NeedStatus::Expired
        } else {
            NeedStatus::Open
        }),
    }
}

/// The part of a page about one need card (from its `data-need` to the next card).
fn card(page: &str, n: u8) -> &str {
    let id = guild_core::RecordId([n; 32]).to_string();
    let at = page
        .find(&format!("data-need=\"{id}\""))
        .unwrap_or_else(|| panic!("no card for need {n}: {page}"));
    let rest = &page[at..];
    let end = rest[1..].find("data-need=").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

#[tokio::test]
async fn the_needs_board_shows_my_offers_their_fate_and_closed_needs_as_closed() {
    let h = harness().await;
    let (status, page) = h.get("/needs", Some(&h.cookie)).await;
    assert_eq!(status, StatusCode::OK);
    // Need 1: I offered and wait; a withdraw that asks first, no second offer form.
    let one = card(&page, 1);
    assert!(one.contains("waiting for an answer"), "{one}");
    assert!(one.contains("data-call=\"offer.withdraw\""), "{one}");
    assert!(one.contains("data-confirm="), "{one}");
    assert!(!one.contains("data-call=\"offer\""), "{one}");
    // Need 2 expired: listed among the closed ones, reading "expired", never "open".
    let two = card(&page, 2);
    assert!(two.contains("expired, expires"), "{two}");
    assert!(!two.contains("open, expires"), "{two}");
    assert!(two.contains("the need expired"), "{two}");
    assert!(!two.contains("data-call="), "{two}");
    let closed_at = page
        .find("Closed: withdrawn or expired")
        .expect("a closed section");
    assert!(
        page.find(&guild_core::RecordId([2; 32]).to_string())
            .unwrap()
            > closed_at
    );
    // Need 3: no offer yet, so the offer form; need 4: my offer was withdrawn, offer again.
    assert!(card(&page, 3).contains("data-call=\"offer\""));
    let four = card(&page, 4);
    assert!(
        four.contains(">withdrawn<") && four.contains("data-call=\"offer\""),
        "{four}"
    );
    // My withdrawn need stays visible as such, with no withdraw button.
    let five = card(&page, 5);
    assert!(five.contains("withdrawn, expires"), "{five}");
    let five_id = guild_core::RecordId([5; 32]).to_string();
    assert!(page.contains(&format!("class=\"card closed\" data-need=\"{five_id}\"")));
    assert!(!five.contains("need.withdraw"), "{five}");
    // Withdrawing posts offer.withdraw with that offer.
    let offer = guild_core::RecordId([101; 32]).to_string();
    let (status, _) = h
        .call("offer.withdraw", &format!("{{\"offer\":\"{offer}\"}}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        matches!(h.fake.calls.lock().unwrap().last(), Some(Call::OfferWithdraw(p)) if p.offer.to_string() == offer)
    );
}
/// The page refreshes its live regions on every event kind the node streams (named SSE events
/// reach the script only through a listener per kind).
#[test]
fn the_script_listens_to_every_event_kind() {
    let js = include_str!("assets/app.js");
    for kind in guild_core::control::EVENT_KINDS {
        assert!(
            js.contains(&format!("\"{kind}\"")),
            "app.js does not listen to `{kind}`"
        );
    }
}
