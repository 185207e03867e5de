//! Server-rendered pages (maud escapes every interpolated value). Each page asks the node
//! through [`App::call`], exactly as the CLI would, and shows a failed call as a message in its
//! section rather than failing the page.
//!
//! Forms are `<form data-call="<method>">`: the script (`assets/app.js`) posts their fields as
//! the method's JSON params to `/call/<method>`. Regions marked `data-live` are refreshed when an
//! event arrives on `/events`.

mod chart;
mod intro;
mod invite;
mod peers;
mod people;
mod project;
mod reflect;
mod trust;
mod work;

pub use intro::intros;
pub use invite::invite;
pub use peers::peers;
pub use project::project;

pub use people::{find, member, profile};
pub use reflect::pulse;
pub use trust::trust;
pub use work::{collab, collabs, inbox, needs};

use super::auth::Session;
use super::routes::App;
use crate::control::{CallError, Event, Handle};
// Numbers as the CLI writes them: three significant digits (`0.512`, `12.3`).
use guild_core::control::explanation::num;
use guild_core::control::{MemberNames, Peers, ProfileResult, Status, WebState};
use guild_core::PublicKey;
use maud::{html, Markup, DOCTYPE};
use serde_json::json;

/// Most profiles looked up to name the members a page shows.
const MAX_NAME_LOOKUPS: usize = 32;

/// The navigation: path and label.
const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/peers", "Peers"),
    ("/profile", "Profile"),
    ("/find", "Find"),
    ("/needs", "Needs"),
    ("/collabs", "Collaborations"),
    ("/trust", "Trust"),
    ("/pulse", "Pulse"),
    ("/inbox", "Inbox"),
    ("/intros", "Introductions"),
    ("/invite", "Invite"),
];

/// The frame around every page.
fn layout(title: &str, current: &str, session: &Session, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="guild-csrf" content=(session.csrf);
                title { (title) " · Guild" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    span.brand { "Guild" }
                    nav aria-label="Main" {
                        ul {
                            @for (path, label) in NAV {
                                li {
                                    @if *path == current {
                                        a href=(path) aria-current="page" { (label) }
                                    } @else {
                                        a href=(path) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    span #live-state role="status" aria-live="polite" { "" }
                    button #logout.link type="button" data-logout { "Log out" }
                }
                div #session-ended hidden role="alert" {
                    "Your session has ended (the daemon restarted, or you logged out). Run "
                    code { "guild web --open" } " to log in again."
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// Where a refusal page sends the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// How to get a login link.
    Login,
    /// Back to the overview (the session is fine; the request was not).
    Overview,
    /// Nowhere: the request did not come through this machine's own address.
    None,
}

/// A page for refused requests: styled, no script, no form, and a way on.
pub fn refusal(title: &str, message: &str, way: Way) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Guild" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body.refusal {
                header { span.brand { "Guild" } }
                main #main {
                    h1 { (title) }
                    p.refusal-message role="alert" { (message) }
                    @match way {
                        Way::Login => {
                            p {
                                "To log in, run " code { "guild web --open" }
                                " on this machine (or " code { "guild web" }
                                " and open the link it prints). Each link works once, for five minutes."
                            }
                        }
                        Way::Overview => {
                            p { a href="/" { "Back to the overview" } }
                        }
                        Way::None => {}
                    }
                }
            }
        }
    }
}

/// A failed call, shown where its result would have been.
fn failure(e: &CallError) -> Markup {
    html! { p.error role="alert" { (e.message) } }
}

/// Where a form says how its call went.
fn form_status() -> Markup {
    html! { p.form-status role="status" aria-live="polite" {} }
}

/// A peer id shortened for tables (the full id is in the link's title), as the CLI shortens it.
use guild_core::control::names::short_peer as short;

/// Display names of members, looked up with `profile.get` and labelled as the CLI labels them
/// ([`MemberNames`]: a name two members share is shown with a short id).
#[derive(Debug, Default)]
pub struct Names(MemberNames);

impl Names {
    /// Looks up this node's key and the names of `keys`, best effort.
    async fn resolve<H: Handle>(app: &App<H>, keys: impl IntoIterator<Item = PublicKey>) -> Names {
        let me = app
            .call::<Status>("status", json!({}))
            .await
            .ok()
            .and_then(|s| s.peer_id.parse::<PublicKey>().ok());
        let mut names = Vec::new();
        let mut wanted: Vec<PublicKey> = keys.into_iter().filter(|k| Some(*k) != me).collect();
        wanted.sort_by_key(|k| k.to_string());
        wanted.dedup();
        for key in wanted.into_iter().take(MAX_NAME_LOOKUPS) {
            let params = json!({ "peer": key.to_string() });
            if let Ok(Some(p)) = app.call::<ProfileResult>("profile.get", params).await {
                names.push((key, p.body.name));
            }
        }
        Names(MemberNames::new(me, names))
    }

    /// This node, when known.
    fn me(&self) -> Option<PublicKey> {
        self.0.me()
    }

    /// Whether `key` is this node.
    fn is_me(&self, key: &PublicKey) -> bool {
        self.0.is_me(key)
    }

    /// Sets this node when `status` did not tell it.
    fn or_me(&mut self, me: Option<PublicKey>) {
        self.0.or_me(me);
    }

    /// "me", the member's name (with a short id when another member shown has it too), or a
    /// short id.
    fn label(&self, key: &PublicKey) -> String {
        self.0.label(key)
    }

    /// A link to the member's page.
    fn link(&self, key: &PublicKey) -> Markup {
        html! {
            a href={ "/member/" (key) } title=(key) { (self.label(key)) }
        }
    }
}

/// `5m ago` or `in 3d` for a Unix time.
fn relative(at: u64) -> String {
    let now = guild_core::time::now();
    if at <= now {
        format!("{} ago", duration(now - at))
    } else {
        format!("in {}", duration(at - now))
    }
}

/// Two units at most: `1h 2m`.
fn duration(secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = vec![];
    let mut rest = secs;
    for (size, unit) in UNITS {
        if rest >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    parts.join(" ")
}

/// The member a peer id names (every Guild peer's is an ed25519 key).
fn key_of_peer(peer: &str) -> Option<PublicKey> {
    let id: guild_net::PeerId = peer.parse().ok()?;
    PublicKey::from_peer_id(&id).ok()
}

/// The members an event names, to look their names up once for a list of events.
fn event_keys(event: &Event) -> Vec<PublicKey> {
    match event {
        Event::PeerConnected { peer, .. } | Event::PeerDisconnected { peer } => {
            key_of_peer(peer).into_iter().collect()
        }
        Event::NeedMatched { asker, .. } | Event::NeedWithdrawn { asker, .. } => vec![*asker],
        Event::OfferReceived { from, .. }
        | Event::OfferWithdrawn { from, .. }
        | Event::MessageReceived { from, .. } => vec![*from],
        Event::CollabInvited { by, .. } => vec![*by],
        Event::CollabEntryAdded { author, .. } => vec![*author],
        Event::AttestationReceived {
            issuer, subject, ..
        } => vec![*issuer, *subject],
        Event::AttestationEquivocation { issuer, .. } => vec![*issuer],
        Event::IntroRequested { from, target, .. } => vec![*from, *target],
        Event::IntroReceived { from, by, .. } => vec![*from, *by],
        Event::IntroAnswered { by, .. } => vec![*by],
        _ => vec![],
    }
}

/// A peer id as a member's label when it is one.
fn peer_label(peer: &str, names: &Names) -> String {
    key_of_peer(peer)
        .map(|k| names.label(&k))
        .unwrap_or_else(|| peer.to_string())
}

/// One line describing an event and when it happened, for the overview's list and the
/// activity pages.
fn describe(at: u64, event: &Event, names: &Names) -> Markup {
    let text = match event {
        Event::PeerConnected { peer, .. } => format!("connected to {}", peer_label(peer, names)),
        Event::PeerDisconnected { peer } => {
            format!("disconnected from {}", peer_label(peer, names))
        }
        Event::ProfileLearned { peer, name, .. } => {
            format!("learned the profile of {name} ({})", short(peer))
        }
        Event::NeedMatched { asker, text, .. } => {
            format!("{} needs: {text}", names.label(asker))
        }
        Event::NeedWithdrawn { asker, .. } => format!("{} withdrew a need", names.label(asker)),
        Event::OfferReceived { from, text, .. } => {
            format!("offer from {}: {text}", names.label(from))
        }
        Event::OfferWithdrawn { from, .. } => {
            format!("{} withdrew an offer", names.label(from))
        }
        Event::DeliveryOutcome {
            kind, delivered, ..
        } => format!(
            "{kind} {}",
            if *delivered {
                "delivered"
            } else {
                "not delivered"
            }
        ),
        Event::CollabOpened { purpose, .. } => match purpose {
            Some(p) => format!("collaboration opened: {p}"),
            None => "collaboration opened".into(),
        },
        Event::CollabInvited { by, purpose, .. } => match purpose {
            Some(p) => format!("{} invited you to: {p}", names.label(by)),
            None => format!("{} invited you to a collaboration", names.label(by)),
        },
        Event::CollabEntryAdded { author, kind, .. } => {
            format!("{} added a {kind} to a collaboration", names.label(author))
        }
        Event::MessageReceived { from, text, .. } => {
            format!("message from {}: {text}", names.label(from))
        }
        Event::AttestationReceived {
            issuer,
            subject,
            skill,
            score,
            ..
        } => format!(
            "{} vouched for {} in {skill} ({score:+})",
            names.label(issuer),
            names.label(subject)
        ),
        Event::AttestationEquivocation { issuer, .. } => {
            format!(
                "{} equivocated: their attestations no longer count",
                names.label(issuer)
            )
        }
        Event::TrustChanged { .. } => "trust recomputed".into(),
        Event::EventsDropped { count } => format!("{count} events dropped"),
        Event::IntroRequested { from, target, .. } => format!(
            "{} asks you to introduce them to {}",
            names.label(from),
            names.label(target)
        ),
        Event::IntroReceived { from, by, .. } => format!(
            "{} introduces {} to you",
            names.label(by),
            names.label(from)
        ),
        Event::IntroAnswered {
            by, accepted, role, ..
        } => format!(
            "{} {} {}",
            names.label(by),
            if *accepted { "accepted" } else { "declined" },
            match role {
                guild_core::record::IntroRole::Introducer => "to introduce you",
                guild_core::record::IntroRole::Target => "the introduction",
            }
        ),
        Event::InviteJoined { peer, name, .. } => format!(
            "{} joined with your invitation",
            name.clone().unwrap_or_else(|| names.label(peer))
        ),
    };
    html! {
        li {
            time.when datetime=(iso8601(at)) title=(iso8601(at)) { (relative(at)) }
            " " span.kind { (event.kind()) } " " (text)
        }
    }
}

/// A Unix time as `2026-12-06T17:53:01Z`.
fn iso8601(at: u64) -> String {
    let days = at / 86_400;
    let secs = at % 86_400;
    // Civil from days (Howard Hinnant's algorithm), for dates after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// Events per page on `/activity`.
pub const EVENTS_PER_PAGE: usize = 25;
/// Events the overview shows.
const OVERVIEW_EVENTS: usize = 10;

/// `/activity?page=N`: the events kept since the daemon started, newest first, a page at a time.
pub async fn activity<H: Handle>(app: &App<H>, session: &Session, page: usize) -> Markup {
    let recent = app.recent_events();
    let pages = recent.len().div_ceil(EVENTS_PER_PAGE).max(1);
    let page = page.clamp(1, pages);
    let shown: Vec<&(u64, Event)> = recent
        .iter()
        .rev()
        .skip((page - 1) * EVENTS_PER_PAGE)
        .take(EVENTS_PER_PAGE)
        .collect();
    let names = Names::resolve(app, shown.iter().flat_map(|(_, e)| event_keys(e))).await;
    let body = html! {
        section #activity data-live aria-labelledby="activity-h" {
            h2 #activity-h { "Recent events" }
            p.meta { "The last " (recent.len()) " events since the daemon started (at most "
                (crate::web::routes::RECENT_EVENTS) "), newest first." }
            @if shown.is_empty() { p { "None since the daemon started." } }
            ol.events {
                @for (at, e) in &shown { (describe(*at, e, &names)) }
            }
            (pager("/activity", page, pages))
        }
    };
    layout("Activity", "/", session, body)
}

/// "Newer" and "Older" links for page `page` of `pages`.
fn pager(path: &str, page: usize, pages: usize) -> Markup {
    html! {
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 { a rel="prev" href={ (path) "?page=" (page - 1) } { "← Newer" } }
                span { "Page " (page) " of " (pages) }
                @if page < pages { a rel="next" href={ (path) "?page=" (page + 1) } { "Older →" } }
            }
        }
    }
}

/// The overview: identity, addresses, peers, index, last events, health.
pub async fn overview<H: Handle>(app: &App<H>, session: &Session) -> Markup {
    let status = app.call::<Status>("status", json!({})).await;
    let peers = app.call::<Peers>("peers", json!({})).await;
    let own = app.call::<ProfileResult>("profile.get", json!({})).await;
    let recent = app.recent_events();
    let latest: Vec<&(u64, Event)> = recent.iter().rev().take(OVERVIEW_EVENTS).collect();
    let names = Names::resolve(app, latest.iter().flat_map(|(_, e)| event_keys(e))).await;
    let body = html! {
        @match &status {
            Err(e) => (failure(e)),
            Ok(s) => div.grid {
                section aria-labelledby="identity" {
                    h2 #identity { "Identity" }
                    dl {
                        dt { "Name" }
                        dd { @match &own {
                            Ok(Some(p)) if !p.body.name.is_empty() => (p.body.name),
                            _ => { "(not set) — " a href="/profile" { "set your profile" } }
                        } }
                        dt { "Peer id" } dd { code.peer-id { (s.peer_id) } }
                        dt { "Community" } dd { (s.community) }
                        dt { "Version" } dd { (s.version) " (pid " (s.pid) "), up " (duration(s.uptime_secs)) }
                    }
                }
                section aria-labelledby="addresses" {
                    h2 #addresses { "Addresses" }
                    ul {
                        @for a in &s.listen_addrs { li { code { (a) } } }
                        @for a in &s.external_addrs { li { code { (a) } " (external)" } }
                    }
                }
                section #index-counts data-live aria-labelledby="index" {
                    h2 #index { "Index" }
                    p { (s.index.profiles) " profiles, " (s.index.records) " records" }
                }
                section aria-labelledby="health" {
                    h2 #health { "Health" }
                    dl {
                        dt { "Store" } dd { "ok (" (s.index.records) " records)" }
                        dt { "Network" } dd {
                            @if s.listen_addrs.is_empty() { "not listening yet" }
                            @else if let Some(why) = s.mesh.as_ref().filter(|m| m.state == guild_core::control::MeshState::Alone).and_then(|m| m.reason.as_ref()) {
                                strong { "not connected to the community: " } (why)
                            }
                            @else if s.connected_peers == 0 { "listening; no peers connected yet" }
                            @else if s.connected_peers == 1 { "ok: 1 peer connected" }
                            @else { "ok: " (s.connected_peers) " peers connected" }
                        }
                        dt { "Relays" } dd {
                            @if app.context.relays.is_empty() { "none configured" }
                            @else { (app.context.relays.join(", ")) }
                        }
                        dt { "Dashboard" } dd {
                            @match &s.web {
                                Some(w) if w.state == WebState::Moved => {
                                    (w.note.clone().unwrap_or_default())
                                }
                                _ => "ok",
                            }
                        }
                    }
                }
            }
        }
        section #peers data-live aria-labelledby="peers-h" {
            h2 #peers-h { "Connected peers" }
            @match &peers {
                Err(e) => (failure(e)),
                Ok(p) if p.peers.is_empty() => p { "None yet." },
                Ok(p) => table {
                    thead { tr { th scope="col" { "Peer" } th scope="col" { "Name" } th scope="col" { "Address" } th scope="col" { "Since" } } }
                    tbody {
                        @for peer in &p.peers {
                            tr {
                                td { code { (peer.peer_id) } }
                                td { (peer.name.clone().unwrap_or_default()) }
                                td { (peer.addresses.join(" ")) }
                                td { (peer.connected_since.map(relative).unwrap_or_default()) }
                            }
                        }
                    }
                },
            }
        }
        section #events data-live aria-labelledby="events-h" {
            h2 #events-h { "Last events" }
            @if recent.is_empty() { p { "None since the daemon started." } }
            ol.events {
                @for (at, e) in &latest { (describe(*at, e, &names)) }
            }
            @if recent.len() > OVERVIEW_EVENTS {
                p { a href="/activity" { "All recent events (" (recent.len()) ")" } }
            }
        }
    };
    layout("Overview", "/", session, body)
}
