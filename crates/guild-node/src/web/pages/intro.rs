//! Introductions: the inbox (requests to relay, introductions to me, my requests), and the
//! member page's "introduced by" and "Ask for an introduction".

use super::{failure, form_status, layout, num, relative, Names};
use crate::control::Handle;
use crate::web::auth::Session;
use crate::web::routes::App;
use guild_core::control::intro::{IntroState, IntroView, Introducers, Introductions};
use guild_core::PublicKey;
use maud::{html, Markup};
use serde_json::json;

fn state(v: &IntroView) -> &'static str {
    match v.state {
        IntroState::AwaitingIntroducer => "waiting for the introducer",
        IntroState::Forwarded => "passed on; waiting for the member",
        IntroState::AwaitingMe => "waiting for you",
        IntroState::Accepted => "accepted",
    }
}

/// Accept and decline forms for one introduction waiting for this node's answer.
fn answer_forms(v: &IntroView, accept_label: &str, prefix: &str) -> Markup {
    let id = v.id.to_string();
    html! {
        form data-call="intro.answer" {
            input type="hidden" name="id" value=(id);
            input type="checkbox" name="accept" checked hidden;
            label for={ (prefix) "-yes-" (id) } { "Note (optional)" }
            input id={ (prefix) "-yes-" (id) } name="note" type="text";
            button type="submit" { (accept_label) }
            (form_status())
        }
        form data-call="intro.answer" data-confirm="Decline this introduction? Nothing is kept, and it cannot be asked again for a day." {
            input type="hidden" name="id" value=(id);
            input type="checkbox" name="accept" hidden;
            label for={ (prefix) "-no-" (id) } { "Why not (optional)" }
            input id={ (prefix) "-no-" (id) } name="note" type="text";
            button type="submit" { "Decline" }
            (form_status())
        }
    }
}

/// The Introductions page.
pub async fn intros<H: Handle>(app: &App<H>, session: &Session) -> Markup {
    let list = app.call::<Introductions>("intro.list", json!({})).await;
    let keys: Vec<PublicKey> = list
        .iter()
        .flat_map(|l| {
            l.to_relay
                .iter()
                .chain(&l.to_me)
                .chain(&l.mine)
                .chain(&l.relayed)
                .flat_map(|v| [v.requester, v.introducer, v.target])
                .chain(l.introduced.iter().flat_map(|i| [i.peer, i.by]))
                .collect::<Vec<_>>()
        })
        .collect();
    let names = Names::resolve(app, keys).await;
    let body = html! {
        section #intros data-live aria-label="Introductions" {
            @match &list {
                Err(e) => (failure(e)),
                Ok(l) => {
                    h2 { "Asked to introduce" }
                    @if l.to_relay.is_empty() { p { "Nobody asked you to introduce them." } }
                    ol.cards {
                        @for v in &l.to_relay {
                            li.card.intro {
                                p.meta { (names.link(&v.requester)) " asks you to introduce them to "
                                    (names.link(&v.target)) " · expires " (relative(v.expires_at)) }
                                p { (v.note) }
                                (answer_forms(v, "Introduce them", "relay"))
                            }
                        }
                    }
                    h2 { "Introductions to you" }
                    @if l.to_me.is_empty() { p { "Nobody introduced anyone to you." } }
                    ol.cards {
                        @for v in &l.to_me {
                            li.card.intro {
                                p.meta { (names.link(&v.introducer)) " introduces "
                                    (names.link(&v.requester)) " · expires " (relative(v.expires_at)) }
                                @if let Some(n) = v.introducer_note.as_ref().filter(|n| !n.is_empty()) {
                                    p { (names.label(&v.introducer)) ": " (n) }
                                }
                                p { (names.label(&v.requester)) ": " (v.note) }
                                (answer_forms(v, "Meet them", "meet"))
                            }
                        }
                    }
                    h2 { "Your requests" }
                    @if l.mine.is_empty() && l.relayed.is_empty() { p { "No requests in flight." } }
                    ul {
                        @for v in &l.mine {
                            li { "To " (names.link(&v.target)) " via " (names.link(&v.introducer))
                                ": " (state(v)) " · expires " (relative(v.expires_at)) }
                        }
                        @for v in &l.relayed {
                            li { "You introduced " (names.link(&v.requester)) " to " (names.link(&v.target))
                                ": " (state(v)) }
                        }
                    }
                    h2 { "Introduced" }
                    @if l.introduced.is_empty() { p { "No introductions made yet." } }
                    ul #introduced {
                        @for i in &l.introduced {
                            li { (names.link(&i.peer)) ", introduced by " (names.link(&i.by)) " " (relative(i.at)) }
                        }
                    }
                }
            }
        }
    };
    layout("Introductions", "/intros", session, body)
}

/// The member page's part: who introduced you, or who could, with a form to ask.
pub async fn member_section<H: Handle>(app: &App<H>, key: &PublicKey, title: &str) -> Markup {
    let list = app.call::<Introductions>("intro.list", json!({})).await;
    let by = list
        .as_ref()
        .ok()
        .and_then(|l| l.introduced.iter().find(|i| i.peer == *key).cloned());
    let proposed = if by.is_none() {
        Some(
            app.call::<Introducers>("intro.introducers", json!({ "peer": key.to_string() }))
                .await,
        )
    } else {
        None
    };
    let mut keys: Vec<PublicKey> = by.iter().map(|i| i.by).collect();
    if let Some(Ok(p)) = &proposed {
        keys.extend(p.introducers.iter().map(|i| i.peer));
    }
    let names = Names::resolve(app, keys).await;
    html! {
        section #member-intro data-live aria-labelledby="m-intro" {
            h2 #m-intro { "Introduction" }
            @if let Some(i) = &by {
                p.context { (title) " was introduced to you by " (names.link(&i.by)) " " (relative(i.at)) "." }
                p.hint { "An introduction is context, not trust: it lets you reach each other as known members." }
            }
            @match &proposed {
                None => {},
                Some(Err(e)) => (failure(e)),
                Some(Ok(p)) if p.introducers.is_empty() => p {
                    "Nobody you trust has vouched for " (title) " or been vouched for by them."
                },
                Some(Ok(p)) => {
                    p { "Ask for an introduction: people you trust who know " (title) ", best first." }
                    form data-call="intro.request" {
                        input type="hidden" name="peer" value=(key);
                        fieldset {
                            legend { "Introducer" }
                            @for (i, c) in p.introducers.iter().enumerate() {
                                label.choice {
                                    input type="radio" name="via" value=(c.peer) checked[i == 0];
                                    " " (names.label(&c.peer)) " (trust " (num(c.trust)) ")"
                                    @if c.connected { " · connected" }
                                    " — " (c.reasons.join("; "))
                                }
                            }
                        }
                        label for="m-intro-note" { "Why you want to meet " (title) }
                        textarea #m-intro-note name="note" rows="2" required {}
                        button type="submit" { "Ask for an introduction" }
                        (form_status())
                    }
                }
            }
        }
    }
}
