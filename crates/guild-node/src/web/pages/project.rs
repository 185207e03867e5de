//! A project: one of my needs as a team to staff — each role open or filled (n of m), the
//! offers on each role with Accept, the members with Release, suggestions per role with why and
//! an invitation to offer, and Stop staffing. Refreshed live as offers arrive.

use super::{failure, form_status, layout, relative, Names};
use crate::control::Handle;
use crate::web::auth::Session;
use crate::web::routes::App;
use guild_core::control::pull::{Offers, Staffing, TeamBoard, TeamSuggestions};
use guild_core::{Place, RecordId, RewardKind};
use maud::{html, Markup};
use serde_json::json;

fn staffing_word(s: Staffing) -> &'static str {
    match s {
        Staffing::Staffing => "staffing: taking offers",
        Staffing::Staffed => "staffed: no more offers",
        Staffing::Closed => "closed",
    }
}

fn reward_word(k: RewardKind) -> &'static str {
    match k {
        RewardKind::Paid => "paid",
        RewardKind::Exchange => "an exchange",
        RewardKind::Volunteer => "volunteer work",
        RewardKind::Gift => "a gift",
    }
}

/// `/needs/<id>`: the staffing board of one of my needs.
pub async fn project<H: Handle>(app: &App<H>, session: &Session, need: &str) -> Markup {
    let Ok(id) = need.parse::<RecordId>() else {
        let body = html! { p.error role="alert" { "`" (need) "` is not a need id." } };
        return layout("Project", "/needs", session, body);
    };
    let board = app
        .call::<Box<TeamBoard>>("team", json!({ "need": id }))
        .await;
    let board = match board {
        Ok(b) => b,
        Err(e) => return layout("Project", "/needs", session, failure(&e)),
    };
    let offers = app
        .call::<Offers>("offers", json!({ "need": id }))
        .await
        .map(|o| o.offers)
        .unwrap_or_default();
    let suggestions = if board.status == Staffing::Staffing {
        app.call::<TeamSuggestions>("team.suggest", json!({ "need": id }))
            .await
            .ok()
    } else {
        None
    };
    let keys = offers
        .iter()
        .map(|o| o.from)
        .chain(board.roles.iter().flat_map(|r| r.members.iter().copied()));
    let names = Names::resolve(app, keys.collect::<Vec<_>>()).await;
    let filled: usize = board.roles.iter().map(|r| r.members.len()).sum();
    let seats: usize = board.roles.iter().map(|r| usize::from(r.role.count)).sum();
    let body = html! {
        section #project-terms data-live aria-label="The project" {
            p.need-text { (board.text) }
            p.meta {
                span #staffing-status { (staffing_word(board.status)) } " · "
                (filled) " of " (seats) " seats filled"
                @if let Some(due) = board.due { " · due " (relative(due)) }
                @match &board.place { Some(Place::Remote) => { " · remote" }, Some(Place::Named(p)) => { " · at " (p) }, None => {} }
                @if let Some(r) = &board.reward {
                    " · in return: " (reward_word(r.kind)) @if !r.text.is_empty() { " (" (r.text) ")" }
                }
            }
            @if let Some(c) = &board.collab {
                p { a href={ "/collabs/" (c) } { "Open the team's collaboration" } }
            }
        }
        section #roles data-live aria-labelledby="roles-h" {
            h2 #roles-h { "Roles" }
            ul.cards {
                @for role in &board.roles {
                    li.card.role data-role=(role.role.label) {
                        h3 { (role.role.label) " "
                            span.badge { @if role.filled { "filled" } @else { "open" } " (" (role.members.len()) " of " (role.role.count) ")" }
                        }
                        p.meta {
                            @for t in role.role.skills.iter().chain(&role.role.resources) { span.tag { (t) } " " }
                            @if let Some(e) = &role.role.effort { "· about " (e) " " }
                            @if !role.role.note.is_empty() { "· " (role.role.note) }
                        }
                        @let accepted: Vec<_> = offers.iter().filter(|o| o.role == role.index && o.accepted_in.is_some()).collect();
                        @if !accepted.is_empty() {
                            ul.members {
                                @for o in &accepted {
                                    li {
                                        (names.link(&o.from))
                                        @if board.status == Staffing::Staffing {
                                            " "
                                            form.inline data-call="team.release"
                                                data-confirm="Release this member? Their seat opens again (only before they wrote anything)." {
                                                input type="hidden" name="offer" value=(o.id);
                                                button.secondary type="submit" { "Release" }
                                                (form_status())
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        @let waiting: Vec<_> = offers.iter().filter(|o| o.role == role.index && o.accepted_in.is_none() && !o.mine).collect();
                        @if waiting.is_empty() {
                            @if !role.filled { p.meta { "No offers on this role yet." } }
                        } @else {
                            ul.offers {
                                @for o in &waiting {
                                    li.offer data-offer=(o.id) {
                                        span { (names.link(&o.from)) ": " (o.text) }
                                        @if !role.filled && board.status == Staffing::Staffing {
                                            " "
                                            form.inline data-call="accept" {
                                                input type="hidden" name="offer" value=(o.id);
                                                button type="submit" { "Accept for " (role.role.label) }
                                                (form_status())
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if board.status == Staffing::Staffing {
                form.inline data-call="team.stop" data-confirm="Stop staffing? No more offers are taken; the open seats stay open." {
                    input type="hidden" name="need" value=(board.need);
                    button.secondary type="submit" { "Stop staffing" }
                    (form_status())
                }
            }
        }
        @if let Some(s) = &suggestions {
            section #suggestions data-live aria-labelledby="suggest-h" {
                h2 #suggest-h { "Suggested for the open roles" }
                p.meta { "From the profiles this node holds: fit, your trust in them for the role's skills, availability, and who already worked well with someone on the team." }
                @for role in s.roles.iter().filter(|r| r.open) {
                    h3 { (role.label) }
                    @if role.candidates.is_empty() { p.meta { "Nobody known here fits this role yet." } }
                    ul.cards {
                        @for c in &role.candidates {
                            li.card.suggestion {
                                p { a href={ "/member/" (c.peer) } { (c.name) }
                                    @if c.offered { " · already offered" } }
                                ul.why { @for w in &c.why { li { (w) } } }
                                @if !c.offered {
                                    form.inline data-call="msg" {
                                        input type="hidden" name="peer" value=(c.peer);
                                        input type="hidden" name="text" value={
                                            "You look right for the role \"" (role.label) "\" of my project: "
                                            (board.text) " — if you are interested, offer on need " (board.need) "."
                                        };
                                        button.secondary type="submit" { "Invite to offer" }
                                        (form_status())
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Project", "/needs", session, body)
}
