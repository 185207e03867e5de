//! Pages about work: the needs board, collaborations, the inbox.

use super::{failure, form_status, layout, relative, Names};
use crate::control::Handle;
use crate::web::auth::Session;
use crate::web::routes::App;
use guild_core::control::pull::{
    CollabView, Collabs, Inbox, NeedStatus, NeedView, Needs, OfferView, Offers,
};
use guild_core::control::reputation::Attestations;
use guild_core::control::CallError;
use guild_core::RecordId;
use maud::{html, Markup};
use serde_json::json;

/// Lifetimes offered when asking: label and seconds.
const EXPIRIES: [(&str, u64); 4] = [
    ("1 day", 86_400),
    ("3 days", 3 * 86_400),
    ("7 days", 7 * 86_400),
    ("30 days", 30 * 86_400),
];

fn status_word(s: NeedStatus) -> &'static str {
    match s {
        NeedStatus::Open => "open",
        NeedStatus::Withdrawn => "withdrawn",
        NeedStatus::Expired => "expired",
    }
}

fn need_line(n: &NeedView, names: &Names) -> Markup {
    html! {
        p.need-text { (n.text) }
        p.meta {
            (names.link(&n.asker)) " asks for "
            @for t in n.skills.iter().chain(&n.resources) { span.tag { (t) } " " }
            "· " (status_word(n.status)) ", expires " (relative(n.expires_at))
            @if !n.matched.is_empty() { " · you have " @for t in &n.matched { span.tag { (t) } " " } }
        }
    }
}

/// Closed needs matching my skills shown on the board (newest first).
const CLOSED_SHOWN: usize = 20;
/// My needs shown on the board, open and closed (newest first).
const MINE_SHOWN: usize = 50;

/// The offers I made on one need.
fn my_offers_on<'a>(offers: &'a Result<Offers, CallError>, need: &RecordId) -> Vec<&'a OfferView> {
    offers
        .iter()
        .flat_map(|o| &o.offers)
        .filter(|o| o.mine && o.need == *need)
        .collect()
}

/// What became of an offer I made, and a way to withdraw it while it waits.
fn my_offer_line(o: &OfferView) -> Markup {
    let role = o.role_label.as_ref().map(|r| format!(" for the role {r}"));
    html! {
        div.meta.my-offer data-offer=(o.id) {
            "You offered" (role.unwrap_or_default()) " · "
            @match (&o.accepted_in, o.withdrawn, o.need_status) {
                (Some(c), _, _) => { span.state { "accepted" } " · " a href={ "/collabs/" (c) } { "open the collaboration" } },
                (None, true, _) => span.state { "withdrawn" },
                (None, false, Some(NeedStatus::Withdrawn)) => span.state { "the need was withdrawn" },
                (None, false, Some(NeedStatus::Expired)) => span.state { "the need expired" },
                (None, false, _) => {
                    span.state { "waiting for an answer" }
                    form.inline data-call="offer.withdraw" data-confirm="Withdraw this offer? The asker is told and can no longer accept it." {
                        input type="hidden" name="offer" value=(o.id);
                        button.secondary type="submit" { "Withdraw offer" }
                        (form_status())
                    }
                },
            }
        }
    }
}

/// The offer form on an open need (a role select when it has several).
fn offer_form(need: &NeedView) -> Markup {
    html! {
        form data-call="offer" {
            input type="hidden" name="need" value=(need.id);
            @if need.roles.len() > 1 {
                label for={ "offer-role-" (need.id) } { "For the role" }
                select id={ "offer-role-" (need.id) } name="role" {
                    @for r in &need.roles {
                        option value=(r.label) selected[need.matched_roles.first() == Some(&r.label)] {
                            (r.label) @if need.matched_roles.contains(&r.label) { " (fits you)" }
                        }
                    }
                }
            }
            label for={ "offer-" (need.id) } { "Your offer" }
            textarea id={ "offer-" (need.id) } name="text" rows="2" required {}
            button type="submit" { "Offer" }
            (form_status())
        }
    }
}

/// Needs board: ask; needs matching my skills with an offer form; my needs with the offers on
/// them (accept, withdraw); the offers I made. Refreshed live by events.
pub async fn needs<H: Handle>(app: &App<H>, session: &Session) -> Markup {
    let matching = app
        .call::<Needs>(
            "needs",
            json!({ "filter": "matching", "include_closed": true }),
        )
        .await;
    let mine = app
        .call::<Needs>("needs", json!({ "filter": "mine", "include_closed": true }))
        .await;
    let offers = app.call::<Offers>("offers", json!({})).await;
    let mut keys = vec![];
    for n in matching.iter().chain(mine.iter()).flat_map(|n| &n.needs) {
        keys.push(n.asker);
    }
    for o in offers.iter().flat_map(|o| &o.offers) {
        keys.push(o.from);
        keys.push(o.to);
    }
    let names = Names::resolve(app, keys).await;
    let body = html! {
        section aria-labelledby="ask-h" {
            h2 #ask-h { "Ask" }
            form #ask data-call="ask" {
                label for="ask-text" { "What do you need?" }
                textarea #ask-text name="text" rows="2" required {}
                label for="ask-skills" { "Skills (comma or space separated)" }
                input #ask-skills name="skills" type="text" data-list placeholder="kicad, pcb-design";
                label for="ask-resources" { "Resources" }
                input #ask-resources name="resources" type="text" data-list placeholder="3d-printer";
                details {
                    summary { "A team: several roles instead of skills" }
                    label for="ask-roles" { "Roles, one per line: label: tags [: how many people]" }
                    textarea #ask-roles name="roles" rows="3" data-roles
                        placeholder="layout: kicad, pcb-design: 2\nfirmware: embedded-rust\nenclosure: 3d-printer" {}
                    p.hint { "With roles, leave skills and resources empty. Each accepted offer joins the one team of this need." }
                }
                label for="ask-expires" { "Expires in" }
                select #ask-expires name="expires_secs" data-number {
                    @for (label, secs) in EXPIRIES { option value=(secs) selected[secs == 7 * 86_400] { (label) } }
                }
                button type="submit" { "Ask" }
                (form_status())
            }
        }
        section #matching data-live aria-labelledby="matching-h" {
            h2 #matching-h { "Needs matching your skills" }
            @match &matching {
                Err(e) => (failure(e)),
                Ok(n) => {
                    @let (open, closed): (Vec<&NeedView>, Vec<&NeedView>) =
                        n.needs.iter().partition(|n| n.status == NeedStatus::Open);
                    @if open.is_empty() { p { "None open right now. New ones appear here as they arrive." } }
                    ul.cards {
                        @for need in &open {
                            li.card data-need=(need.id) {
                                (need_line(need, &names))
                                @let made = my_offers_on(&offers, &need.id);
                                @for o in &made { (my_offer_line(o)) }
                                @if made.iter().all(|o| o.withdrawn) { (offer_form(need)) }
                            }
                        }
                    }
                    @if !closed.is_empty() {
                        details.closed-needs {
                            summary { "Closed: withdrawn or expired (" (closed.len().min(CLOSED_SHOWN)) ")" }
                            ul.cards {
                                @for need in closed.iter().take(CLOSED_SHOWN) {
                                    li.card.closed data-need=(need.id) {
                                        (need_line(need, &names))
                                        @for o in my_offers_on(&offers, &need.id) { (my_offer_line(o)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section #my-needs data-live aria-labelledby="mine-h" {
            h2 #mine-h { "My needs and the offers on them" }
            @match &mine {
                Err(e) => (failure(e)),
                Ok(n) if n.needs.is_empty() => p { "You have not asked for anything yet." },
                Ok(n) => ul.cards {
                    @for need in n.needs.iter().take(MINE_SHOWN) {
                        li.card.closed[need.status != NeedStatus::Open] data-need=(need.id) {
                            (need_line(need, &names))
                            p { a.project-link href={ "/needs/" (need.id) } {
                                @if need.roles.len() > 1 { "The team board: roles, offers, suggestions" } @else { "The board: offers and suggestions" }
                            } }
                            @let on_it: Vec<_> = offers.iter().flat_map(|o| &o.offers).filter(|o| o.need == need.id && !o.mine).collect();
                            @if on_it.is_empty() { p.meta { "No offers yet." } }
                            ul.offers {
                                @for o in on_it {
                                    li.offer data-offer=(o.id) {
                                        span { (names.link(&o.from)) ": " (o.text) }
                                        @match &o.accepted_in {
                                            Some(c) => { " — accepted: " a href={ "/collabs/" (c) } { "open the collaboration" } },
                                            None if o.withdrawn => { " — withdrawn by " (names.label(&o.from)) },
                                            None if need.status != NeedStatus::Open => {},
                                            None => form.inline data-call="accept" data-next="/collabs/{id}" {
                                                input type="hidden" name="offer" value=(o.id);
                                                button type="submit" { "Accept" }
                                                (form_status())
                                            },
                                        }
                                    }
                                }
                            }
                            @if need.status == NeedStatus::Open {
                                form.inline data-call="need.withdraw" data-confirm="Withdraw this need? Members stop seeing it, and it cannot be reopened." {
                                    input type="hidden" name="need" value=(need.id);
                                    button.secondary type="submit" { "Withdraw this need" }
                                    (form_status())
                                }
                            }
                        }
                    }
                },
            }
        }
        section #my-offers data-live aria-labelledby="made-h" {
            h2 #made-h { "Offers I made" }
            @match &offers {
                Err(e) => (failure(e)),
                Ok(o) => {
                    @let made: Vec<_> = o.offers.iter().filter(|o| o.mine).collect();
                    @if made.is_empty() { p { "None yet." } }
                    ul {
                        @for o in made {
                            li.offer data-offer=(o.id) {
                                "To " (names.link(&o.to)) ": " (o.text)
                                (my_offer_line(o))
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Needs", "/needs", session, body)
}

/// Collaborations: mine and the invitations.
pub async fn collabs<H: Handle>(app: &App<H>, session: &Session) -> Markup {
    let list = app.call::<Collabs>("collab.list", json!({})).await;
    let keys: Vec<_> = list
        .iter()
        .flat_map(|l| &l.collabs)
        .flat_map(|c| c.members.clone())
        .collect();
    let names = Names::resolve(app, keys).await;
    let body = html! {
        section #collab-list data-live aria-label="Collaborations" {
            @match &list {
                Err(e) => (failure(e)),
                Ok(l) if l.collabs.is_empty() => p { "None yet: accepting an offer on one of your needs opens one." },
                Ok(l) => ul.cards {
                    @for c in &l.collabs {
                        li.card {
                            a.collab href={ "/collabs/" (c.id) } { (c.title()) }
                            p.meta {
                                @if c.closed { "closed" } @else { "open" } " · opened " (relative(c.opened_at)) " · with "
                                @for (i, m) in c.members.iter().enumerate() { @if i > 0 { ", " } (names.label(m)) }
                            }
                            @if !c.member {
                                form.inline data-call="collab.join" {
                                    input type="hidden" name="collab" value=(c.id);
                                    button type="submit" { "Join (you are invited)" }
                                    (form_status())
                                }
                            }
                        }
                    }
                },
            }
        }
    };
    layout("Collaborations", "/collabs", session, body)
}

/// One collaboration: members, log, post, invite, close our part (with a summary), vouch for the
/// members who closed theirs once we closed ours.
pub async fn collab<H: Handle>(app: &App<H>, session: &Session, id: &str) -> Markup {
    let Ok(id) = id.parse::<RecordId>() else {
        let body = html! { p.error role="alert" { "`" (id) "` is not a collaboration id." } };
        return layout("Collaboration", "/collabs", session, body);
    };
    let view = app
        .call::<CollabView>("collab.show", json!({ "collab": id.to_string() }))
        .await;
    let keys: Vec<_> = view
        .iter()
        .flat_map(|c| c.members.clone())
        .chain(view.iter().flat_map(|c| c.entries.iter().map(|e| e.author)))
        .collect();
    let names = Names::resolve(app, keys).await;
    let given = match &names.me() {
        Some(me) => app
            .call::<Attestations>("attestations", json!({ "by": me.to_string() }))
            .await
            .ok(),
        None => None,
    };
    let title = view
        .as_ref()
        .map(|c| c.title())
        .unwrap_or_else(|_| "Collaboration".into());
    let body = match &view {
        Err(e) => failure(e),
        Ok(c) => {
            let i_closed = names.me().is_some_and(|me| c.closed_by.contains(&me));
            html! {
            div #collab data-live {
            p.meta { @if c.closed { "Closed" } @else { "Open" } " · opened " (relative(c.opened_at)) }
            section aria-labelledby="members-h" {
                h2 #members-h { "Members" }
                ul { @for m in &c.members {
                    li { (names.link(m)) @if c.closed_by.contains(m) { " · closed their part" } }
                } }
            }
            section #log aria-labelledby="log-h" {
                h2 #log-h { "Log" }
                ol.log {
                    @for e in &c.entries {
                        li.entry data-kind=(e.kind) {
                            span.meta { (names.label(&e.author)) " · " (e.kind) " · " (relative(e.at)) }
                            @if let Some(t) = &e.text { p { (t) } }
                            @if let Some(m) = &e.member { p { (names.link(m)) } }
                        }
                    }
                }
                @if c.closed { p #closed-note { "This collaboration is closed: every member closes their own part, and an attestation counts only between two members who both did." } }
            }
            @if !c.closed && c.member {
                section aria-labelledby="post-h" {
                    h2 #post-h { "Post" }
                    form data-call="collab.post" {
                        input type="hidden" name="collab" value=(c.id);
                        label for="post-text" { "Message to the members" }
                        textarea #post-text name="text" rows="2" required {}
                        button type="submit" { "Post" }
                        (form_status())
                    }
                }
                section aria-labelledby="invite-h" {
                    h2 #invite-h { "Invite" }
                    form data-call="collab.invite" {
                        input type="hidden" name="collab" value=(c.id);
                        label for="invite-peer" { "Peer id" }
                        input #invite-peer name="peer" type="text" required;
                        button type="submit" { "Invite" }
                        (form_status())
                    }
                }
                section aria-labelledby="close-h" {
                    h2 #close-h { "Close" }
                    form data-call="collab.close" data-confirm="Close this collaboration? Nobody can post to it afterwards." {
                        input type="hidden" name="collab" value=(c.id);
                        label for="close-summary" { "Summary (optional, posted before the close)" }
                        textarea #close-summary name="summary" rows="2" {}
                        button type="submit" { "Close the collaboration" }
                        (form_status())
                    }
                }
            }
            @if c.closed && c.member && !i_closed {
                section #close-part aria-labelledby="close-part-h" {
                    h2 #close-part-h { "Close your part" }
                    p { "Another member closed the collaboration. Close your part too: attestations between you and the others count only when both sides closed." }
                    form data-call="collab.close" data-confirm="Close your part? You cannot post to it afterwards." {
                        input type="hidden" name="collab" value=(c.id);
                        button type="submit" { "Close my part" }
                        (form_status())
                    }
                }
            }
            @if c.closed && c.member && i_closed {
                section #vouch aria-labelledby="vouch-h" {
                    h2 #vouch-h { "Vouch" }
                    p { "Say what each member did well (or not): your attestation counts in everyone's trust, because this collaboration, which you both closed, backs it." }
                    @for m in c.members.iter().filter(|m| Some(**m) != names.me()) {
                        @let mine: Vec<_> = given.iter().flat_map(|a| &a.attestations).filter(|a| a.subject == *m && a.collab == c.id).collect();
                        h3 { (names.label(m)) }
                        @for a in &mine { p.attested { "You vouched: " (a.skill) " " (format!("{:+}", a.score)) @if !a.note.is_empty() { " — " (a.note) } } }
                        @if !c.closed_by.contains(m) {
                            p.waiting { (names.label(m)) " has not closed their part yet; you can vouch once they do." }
                        } @else {
                        form data-call="vouch" {
                            input type="hidden" name="peer" value=(m);
                            input type="hidden" name="collab" value=(c.id);
                            label for={ "v-skill-" (m) } { "Skill" }
                            input id={ "v-skill-" (m) } name="skill" type="text" required;
                            label for={ "v-score-" (m) } { "Score (−5 to 5, not 0)" }
                            input id={ "v-score-" (m) } name="score" type="number" min="-5" max="5" value="5" required;
                            label for={ "v-note-" (m) } { "Note" }
                            input id={ "v-note-" (m) } name="note" type="text";
                            button type="submit" { "Vouch for " (names.label(m)) }
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
    layout(&title, "/collabs", session, body)
}

/// Messages per page of the inbox.
pub const MESSAGES_PER_PAGE: usize = 25;

/// The inbox, a page at a time (newest first), with a reply form per message and a new message.
pub async fn inbox<H: Handle>(app: &App<H>, session: &Session, page: usize) -> Markup {
    let inbox = app
        .call::<Inbox>("inbox", json!({ "include_sent": true }))
        .await;
    // A page at a time, newest first: the node keeps hundreds of messages.
    let total = inbox.as_ref().map_or(0, |i| i.messages.len());
    let pages = total.div_ceil(MESSAGES_PER_PAGE).max(1);
    let page = page.clamp(1, pages);
    let inbox = inbox.map(|mut i| {
        i.messages = i
            .messages
            .into_iter()
            .skip((page - 1) * MESSAGES_PER_PAGE)
            .take(MESSAGES_PER_PAGE)
            .collect();
        i
    });
    let keys: Vec<_> = inbox
        .iter()
        .flat_map(|i| &i.messages)
        .flat_map(|m| [m.from, m.to])
        .collect();
    let names = Names::resolve(app, keys).await;
    let body = html! {
        section #messages data-live aria-label="Messages" {
            @match &inbox {
                Err(e) => (failure(e)),
                Ok(i) if i.messages.is_empty() => p { "No messages." },
                Ok(i) => ol.cards {
                    @for m in &i.messages {
                        li.card.message {
                            p.meta { (names.link(&m.from)) " → " (names.link(&m.to)) " · " (relative(m.at)) }
                            p { (m.text) }
                            @if Some(m.from) != names.me() {
                                form data-call="msg" {
                                    input type="hidden" name="peer" value=(m.from);
                                    label for={ "reply-" (m.id) } { "Reply to " (names.label(&m.from)) }
                                    input id={ "reply-" (m.id) } name="text" type="text" required;
                                    button type="submit" { "Reply" }
                                    (form_status())
                                }
                            }
                        }
                    }
                },
            }
            (super::pager("/inbox", page, pages))
        }
        section aria-labelledby="new-h" {
            h2 #new-h { "New message" }
            form data-call="msg" {
                label for="new-peer" { "Peer id" }
                input #new-peer name="peer" type="text" required;
                label for="new-text" { "Message" }
                textarea #new-text name="text" rows="2" required {}
                button type="submit" { "Send" }
                (form_status())
            }
        }
    };
    layout("Inbox", "/inbox", session, body)
}
