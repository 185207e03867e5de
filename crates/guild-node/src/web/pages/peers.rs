//! Peers: who this node is connected to (name, address, direction, latency), whom it remembers
//! from earlier runs, and a form to connect to an address.

use super::{failure, form_status, layout, relative, Names};
use crate::control::Handle;
use crate::web::auth::Session;
use crate::web::routes::App;
use guild_core::control::{Peers, Status};
use guild_core::PublicKey;
use maud::{html, Markup};
use serde_json::json;

/// The member behind a peer id, when it is an ed25519 key (every Guild peer's is).
fn key_of(peer_id: &str) -> Option<PublicKey> {
    let peer: guild_net::PeerId = peer_id.parse().ok()?;
    PublicKey::from_peer_id(&peer).ok()
}

/// A peer's name (linked to its member page) or its short id.
fn who(names: &Names, peer_id: &str, name: Option<&str>) -> Markup {
    match key_of(peer_id) {
        Some(key) => html! {
            a href={ "/member/" (key) } title=(peer_id) {
                @if let Some(n) = name.filter(|n| !n.is_empty()) { (n) } @else { (names.label(&key)) }
            }
        },
        None => html! { code { (peer_id) } },
    }
}

/// A remembered address with the peer's id at the end, so `connect` checks who answers.
fn dial_addr(addr: &str, peer_id: &str) -> String {
    if addr.contains("/p2p/") {
        addr.to_string()
    } else {
        format!("{addr}/p2p/{peer_id}")
    }
}

/// `/peers`.
pub async fn peers<H: Handle>(app: &App<H>, session: &Session) -> Markup {
    let peers = app.call::<Peers>("peers", json!({})).await;
    let status = app.call::<Status>("status", json!({})).await;
    let names = Names::resolve(app, std::iter::empty()).await;
    let body = html! {
        section aria-labelledby="connect-h" {
            h2 #connect-h { "Connect" }
            p.meta {
                "Paste a member's address, as " code { "guild status" } " prints it on their machine "
                "(for example " code { "/ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…" } ")."
            }
            form data-call="connect" {
                label for="connect-addr" { "Address" }
                input #connect-addr name="addr" type="text" required
                    placeholder="/ip4/…/tcp/…/p2p/12D3KooW…" autocomplete="off" spellcheck="false";
                button type="submit" { "Connect" }
                (form_status())
            }
            @if let Ok(s) = &status {
                @if let Some(m) = &s.mesh {
                    p.meta { "This node keeps " (m.low) "–" (m.high) " connections; it knows "
                        (m.known) " members to dial." }
                }
            }
        }
        section #peer-list data-live aria-labelledby="peers-h" {
            h2 #peers-h { "Connected" }
            @match &peers {
                Err(e) => (failure(e)),
                Ok(p) if p.peers.is_empty() => p { "No peers connected." },
                Ok(p) => {
                    p.meta { (p.peers.len()) " connected." }
                    div.scroll { table.peers {
                        thead { tr {
                            th scope="col" { "Member" } th scope="col" { "Address" }
                            th scope="col" { "Direction" } th scope="col" { "Latency" }
                            th scope="col" { "Since" }
                        } }
                        tbody {
                            @for peer in &p.peers {
                                tr {
                                    td { (who(&names, &peer.peer_id, peer.name.as_deref())) }
                                    td { @for a in &peer.addresses { code { (a) } " " } }
                                    td { (peer.direction.map(|d| d.to_string()).unwrap_or_default()) }
                                    td { @if let Some(ms) = peer.latency_ms { (ms) " ms" } @else { "–" } }
                                    td { (peer.connected_since.map(relative).unwrap_or_default()) }
                                }
                            }
                        }
                    } }
                }
            }
        }
        section #remembered data-live aria-labelledby="remembered-h" {
            h2 #remembered-h { "Remembered" }
            @match &peers {
                Err(_) => {},
                Ok(p) if p.remembered.is_empty() => p { "Nobody remembered who is not connected now." },
                Ok(p) => {
                    p.meta { "Members met before and not connected now, in the order a restart dials them." }
                    div.scroll { table.peers {
                        thead { tr {
                            th scope="col" { "Member" } th scope="col" { "Last seen" }
                            th scope="col" { "Sessions" } th scope="col" { "Address" }
                            th scope="col" { span.visually-hidden { "Connect" } }
                        } }
                        tbody {
                            @for peer in &p.remembered {
                                tr {
                                    td { (who(&names, &peer.peer_id, peer.name.as_deref())) }
                                    td { (relative(peer.last_seen)) }
                                    td { (peer.sessions) }
                                    td { @if let Some(a) = peer.addresses.first() { code { (a) } } }
                                    td { @if let Some(a) = peer.addresses.first() {
                                        form.inline data-call="connect" {
                                            input type="hidden" name="addr" value=(dial_addr(a, &peer.peer_id));
                                            button.secondary type="submit" { "Connect" }
                                            (form_status())
                                        }
                                    } }
                                }
                            }
                        }
                    } }
                }
            }
        }
    };
    layout("Peers", "/peers", session, body)
}
