//! Pages about members: my profile, finding members, one member.

use super::{failure, form_status, layout, num, relative, short, Names};
use crate::control::Handle;
use crate::web::auth::Session;
use crate::web::routes::App;
use guild_core::control::reputation::Attestations;
use guild_core::control::{FindResults, ProfileResult};
use guild_core::{Level, PublicKey};
use maud::{html, Markup};
use serde_json::json;
use std::collections::HashMap;

const LEVELS: [Level; 4] = [
    Level::Beginner,
    Level::Intermediate,
    Level::Advanced,
    Level::Expert,
];

/// Profile: edit name and bio, skills with levels, resources with availability.
pub async fn profile<H: Handle>(app: &App<H>, session: &Session) -> Markup {
    let own = app.call::<ProfileResult>("profile.get", json!({})).await;
    let body = match own {
        Err(e) => failure(&e),
        Ok(p) => {
            let p = p.map(|s| s.body);
            let name = p.as_ref().map(|p| p.name.clone()).unwrap_or_default();
            let bio = p.as_ref().map(|p| p.bio.clone()).unwrap_or_default();
            let skills = p.as_ref().map(|p| p.skills.clone()).unwrap_or_default();
            let resources = p.as_ref().map(|p| p.resources.clone()).unwrap_or_default();
            let issued = p.as_ref().map(|p| p.issued_at);
            html! {
                section #profile-summary data-live aria-label="Your signed profile" {
                    @match issued {
                        None => p { "You have no profile yet: say who you are below." },
                        Some(at) => p.meta { "Signed and published " (relative(at)) ": "
                            strong { (name) } @for s in &skills { " · " (s.tag) " (" (s.level) ")" } },
                    }
                }
                section aria-labelledby="about" {
                    h2 #about { "About you" }
                    form data-call="profile.update" {
                        label for="name" { "Name" }
                        input #name name="name" type="text" value=(name) data-keep-empty required;
                        label for="bio" { "Bio" }
                        textarea #bio name="bio" rows="3" data-keep-empty { (bio) }
                        button type="submit" { "Save" }
                        (form_status())
                    }
                }
                section aria-labelledby="skills" {
                    h2 #skills { "Skills" }
                    div #skill-list data-live {
                    @if skills.is_empty() { p { "No skills yet." } }
                    ul.items {
                        @for s in &skills {
                            li {
                                span { (s.tag) " — " (s.level) }
                                form.inline data-call="profile.update" {
                                    input type="hidden" name="remove_skills" data-list value=(s.tag);
                                    button type="submit" aria-label={ "Remove skill " (s.tag) } { "Remove" }
                                    (form_status())
                                }
                            }
                        }
                    }
                    }
                    form data-call="profile.update" {
                        label for="skill-tag" { "Skill" }
                        input #skill-tag name="add_skills[].tag" type="text" placeholder="kicad" required;
                        label for="skill-level" { "Level" }
                        select #skill-level name="add_skills[].level" {
                            @for l in LEVELS { option value=(l) selected[l == Level::Intermediate] { (l) } }
                        }
                        button type="submit" { "Add or change skill" }
                        (form_status())
                    }
                }
                section aria-labelledby="resources" {
                    h2 #resources { "Resources" }
                    div #resource-list data-live {
                    @if resources.is_empty() { p { "No resources yet." } }
                    ul.items {
                        @for r in &resources {
                            li {
                                span { (r.tag) " — " (r.description) " (" (r.availability) ")" }
                                form.inline data-call="profile.update" {
                                    input type="hidden" name="remove_resources" data-list value=(r.tag);
                                    button type="submit" aria-label={ "Remove resource " (r.tag) } { "Remove" }
                                    (form_status())
                                }
                            }
                        }
                    }
                    }
                    form data-call="profile.update" {
                        label for="res-tag" { "Resource" }
                        input #res-tag name="add_resources[].tag" type="text" placeholder="3d-printer" required;
                        label for="res-desc" { "Description" }
                        input #res-desc name="add_resources[].description" type="text" placeholder="Prusa MK4";
                        label for="res-avail" { "Availability" }
                        input #res-avail name="add_resources[].availability" type="text" placeholder="weekends";
                        button type="submit" { "Add or change resource" }
                        (form_status())
                    }
                }
            }
        }
    };
    layout("Profile", "/profile", session, body)
}

/// Words split on commas and white space.
fn words(s: Option<&String>) -> Vec<String> {
    s.map(|s| {
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// Find: a search box, then ranked results with trust, freshness and the reason for each rank.
pub async fn find<H: Handle>(
    app: &App<H>,
    session: &Session,
    q: &HashMap<String, String>,
) -> Markup {
    let query = q.get("q").map(|t| t.trim()).filter(|t| !t.is_empty());
    let skills = words(q.get("skills"));
    let resources = words(q.get("resources"));
    let text = q.get("text").map(|t| t.trim()).filter(|t| !t.is_empty());
    let asked = query.is_some() || !skills.is_empty() || !resources.is_empty() || text.is_some();
    let results = if asked {
        let mut params = json!({ "skills": skills, "resources": resources });
        if let Some(t) = text {
            params["text"] = json!(t);
        }
        if let Some(w) = query {
            params["query"] = json!(w);
        }
        Some(app.call::<FindResults>("find", params).await)
    } else {
        None
    };
    let value = |k: &str| q.get(k).cloned().unwrap_or_default();
    let body = html! {
        form.search method="get" action="/find" role="search" {
            label for="find-q" { "What are you looking for?" }
            input #find-q name="q" type="search" value=(value("q")) placeholder="pcb design, 3d printer, kicad…";
            details {
                summary { "Only members with…" }
                label for="find-skills" { "Exact skills" }
                input #find-skills name="skills" type="text" value=(value("skills")) placeholder="kicad pcb-design";
                label for="find-resources" { "Exact resources" }
                input #find-resources name="resources" type="text" value=(value("resources")) placeholder="3d-printer";
                label for="find-text" { "Words in name or bio" }
                input #find-text name="text" type="text" value=(value("text"));
            }
            button type="submit" { "Find" }
        }
        @match &results {
            None => p { "Search by skill (and resource, and words); the best matches come first." },
            Some(Err(e)) => (failure(e)),
            Some(Ok(r)) => {
                @for s in &r.suggestions {
                    p.hint { "Nothing matched “" (s.tag) "”; did you mean "
                        @for (i, d) in s.did_you_mean.iter().enumerate() {
                            @if i > 0 { ", " } a href={ "/find?q=" (d) } { (d) }
                        } "?" }
                }
                @if r.results.is_empty() { p { "No members match." } }
                @else {
                    table #results {
                        caption { (r.results.len()) " members, best first" @if r.dht_queried { " (local index and DHT)" } }
                        thead { tr {
                            th scope="col" { "#" } th scope="col" { "Member" } th scope="col" { "Matched" }
                            th scope="col" { "Trust" } th scope="col" { "Fresh" } th scope="col" { "Score" } th scope="col" { "Why this rank" }
                        } }
                        tbody {
                            @for (i, m) in r.results.iter().enumerate() {
                                tr {
                                    td { (i + 1) }
                                    td { a.member href={ "/member/" (m.peer) } title=(m.peer) {
                                        @if m.name.is_empty() { (short(&m.peer)) } @else { (m.name) } } }
                                    td { @for s in &m.skills { (s.tag) " (" (s.level) ") " } @for r in &m.resources { (r) " " } }
                                    td { (m.trust.map(num).unwrap_or_else(|| "stranger".into()))
                                        @if let Some(by) = &m.introduced_by {
                                            br; span.context { "introduced by " a href={ "/member/" (by) } { (short(by)) } }
                                        } }
                                    td { (m.last_seen.map(relative).unwrap_or_else(|| "—".into())) }
                                    td { (num(m.score)) }
                                    td { (reason(m)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Find", "/find", session, body)
}

/// Why a result ranks where it does: skill fit × trust × freshness, in words.
fn reason(m: &guild_core::control::FindMatch) -> String {
    let level = |term: &str| {
        m.skills
            .iter()
            .find(|s| s.tag.as_str() == term)
            .map(|s| format!(" at {}", s.level))
            .unwrap_or_default()
    };
    let mut fit: Vec<String> = m
        .matched
        .iter()
        .map(|x| match (x.field.as_str(), x.how.as_str()) {
            ("skill", "exact") => format!("{}{}", x.term, level(&x.term)),
            ("skill", "related") => format!("related skill {}{}", x.term, level(&x.term)),
            (_, "exact") => format!("{} {}", x.field, x.term),
            (_, "word") => format!("“{}” in their profile", x.term),
            (field, how) => format!(
                "{field} {}{} ({how} of “{}”)",
                x.term,
                level(&x.term),
                x.word
            ),
        })
        .collect();
    if fit.is_empty() {
        fit = m
            .skills
            .iter()
            .map(|s| format!("{} at {}", s.tag, s.level))
            .chain(m.resources.iter().map(|r| format!("has {r}")))
            .collect();
    }
    let mut parts = vec![if fit.is_empty() {
        "matches your words".to_string()
    } else {
        fit.join(", ")
    }];
    match m.trust {
        Some(t) => parts.push(format!("your trust {}", num(t))),
        None => parts.push("a stranger to you (no trust path)".into()),
    }
    if let Some(by) = &m.introduced_by {
        parts.push(format!("introduced to you by {}", short(by)));
    }
    if let Some(seen) = m.last_seen {
        parts.push(format!("profile from {}", relative(seen)));
    }
    parts.push(format!(
        "found in the {}",
        match m.source {
            guild_core::control::Source::Dht => "DHT",
            _ => "local index",
        }
    ));
    parts.join("; ")
}

/// One member: their profile, the attestations about them, and your trust in them explained.
pub async fn member<H: Handle>(app: &App<H>, session: &Session, peer: &str) -> Markup {
    let Ok(key) = peer.parse::<PublicKey>() else {
        let body = html! { p.error role="alert" { "`" (peer) "` is not a peer id." } };
        return layout("Member", "/find", session, body);
    };
    let profile = app
        .call::<ProfileResult>("profile.get", json!({ "peer": key.to_string() }))
        .await;
    let attestations = app
        .call::<Attestations>("attestations", json!({ "about": key.to_string() }))
        .await;
    let mut keys = vec![key];
    if let Ok(a) = &attestations {
        keys.extend(a.attestations.iter().map(|a| a.issuer));
    }
    let names = Names::resolve(app, keys).await;
    let title = match &profile {
        Ok(Some(p)) if !p.body.name.is_empty() => p.body.name.clone(),
        _ => names.label(&key),
    };
    let trust = super::trust::explanation(app, &key, None).await;
    let growth = super::reflect::growth_section(app, &key, &title).await;
    let intro = super::intro::member_section(app, &key, &title).await;
    let body = html! {
        p { code.peer-id { (key) } }
        @match &profile {
            Err(e) => (failure(e)),
            Ok(None) => p { "No profile known." },
            Ok(Some(p)) => {
                @let p = &p.body;
                @if !p.bio.is_empty() { p.bio { (p.bio) } }
                section aria-labelledby="m-skills" {
                    h2 #m-skills { "Skills and resources" }
                    ul {
                        @for s in &p.skills { li { (s.tag) " — " (s.level) } }
                        @for r in &p.resources { li { (r.tag) " — " (r.description) " (" (r.availability) ")" } }
                    }
                    @if !p.links.is_empty() { ul { @for l in &p.links { li { (l) } } } }
                    p { "Profile issued " (relative(p.issued_at)) ", expires " (relative(p.expires_at)) "." }
                }
            }
        }
        section #member-attestations data-live aria-labelledby="m-att" {
            h2 #m-att { "Attestations about " (title) }
            (super::trust::attestation_table(&attestations, &names))
        }
        (growth)
        section aria-labelledby="m-trust" {
            h2 #m-trust { "Your trust in " (title) }
            (trust)
            p { a href={ "/trust?peer=" (key) } { "Explain per skill" } }
            form data-call="trust.add" {
                input type="hidden" name="peer" value=(key);
                label for="m-root-skill" { "Skill (empty: in general)" }
                input #m-root-skill name="skill" type="text" placeholder="kicad";
                label for="m-root-note" { "Why you trust them" }
                input #m-root-note name="note" type="text" placeholder="met at the makerspace";
                button type="submit" { "Add as a trust root" }
                p.hint { "A starting point for your own trust: private, never published. Trust flows from them through the attestations at once." }
                (form_status())
            }
        }
        (intro)
        section aria-labelledby="m-msg" {
            h2 #m-msg { "Message" }
            form data-call="msg" {
                input type="hidden" name="peer" value=(key);
                label for="m-text" { "Message to " (title) }
                textarea #m-text name="text" rows="2" required {}
                button type="submit" { "Send" }
                (form_status())
            }
        }
    };
    layout(&title, "/find", session, body)
}
