//! Trust: a member's score explained, drawn as a graph of the supporting paths (issuers, skills,
//! weights) next to the table `guild trust` prints.

use super::{failure, layout, num, relative, Names};
use crate::control::{CallError, Handle};
use crate::web::auth::Session;
use crate::web::routes::App;
use guild_core::control::explanation::{
    factor_text, nothing_supports, trust_title, TrustExplanation, OWN_POINT_OF_VIEW,
};
use guild_core::control::reputation::{AttestationStatus, Attestations, TrustView};
use guild_core::PublicKey;
use maud::{html, Markup};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// The trust page: choose a member (and a skill), see the explanation.
pub async fn trust<H: Handle>(
    app: &App<H>,
    session: &Session,
    q: &HashMap<String, String>,
) -> Markup {
    let peer = q.get("peer").map(|p| p.trim()).filter(|p| !p.is_empty());
    let skill = q.get("skill").map(|s| s.trim()).filter(|s| !s.is_empty());
    let shown = match peer {
        None => html! { p { "Give a member's peer id (from Find, a need or a collaboration)." } },
        Some(p) => match p.parse::<PublicKey>() {
            Err(_) => html! { p.error role="alert" { "`" (p) "` is not a peer id." } },
            Ok(key) => explanation(app, &key, skill).await,
        },
    };
    let roots = app
        .call::<guild_core::control::reputation::TrustRoots>("trust.roots", json!({}))
        .await;
    let body = html! {
        section #trust-roots data-live aria-labelledby="roots-h" {
            h2 #roots-h { "Your trust roots" }
            @match &roots {
                Err(e) => (failure(e)),
                Ok(r) if r.roots.is_empty() => p {
                    "None yet. Add members you trust from their page (Find, then the member); "
                    "your trust in everyone else starts from them."
                },
                Ok(r) => {
                    p.meta { "Local to this node, never published. Removing a member removes all their roots." }
                    table {
                        thead { tr {
                            th scope="col" { "Member" } th scope="col" { "Skill" }
                            th scope="col" { "Note" } th scope="col" { "Added" }
                            th scope="col" { span.visually-hidden { "Remove" } }
                        } }
                        tbody {
                            @for root in &r.roots {
                                tr {
                                    td { a href={ "/member/" (root.peer) } title=(root.peer) {
                                        (root.name.clone().unwrap_or_else(|| guild_core::control::names::short_peer(&root.peer)))
                                    } }
                                    td { @if let Some(k) = &root.skill { (k) } @else { "any skill" } }
                                    td { (root.note) }
                                    td { (relative(root.added_at)) }
                                    td {
                                        form.inline data-call="trust.remove"
                                            data-confirm="Remove this member from your trust roots (every skill)?" {
                                            input type="hidden" name="peer" value=(root.peer);
                                            button.secondary type="submit" { "Remove" }
                                            (super::form_status())
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.search method="get" action="/trust" {
            label for="trust-peer" { "Member (peer id)" }
            input #trust-peer name="peer" type="text" value=(peer.unwrap_or_default()) required;
            label for="trust-skill" { "Skill (optional)" }
            input #trust-skill name="skill" type="text" value=(skill.unwrap_or_default());
            button type="submit" { "Explain" }
        }
        section #trust-explained data-live aria-label="Explanation" { (shown) }
    };
    layout("Trust", "/trust", session, body)
}

/// The explanation of this node's trust in `peer`: graph, then the table.
pub async fn explanation<H: Handle>(app: &App<H>, peer: &PublicKey, skill: Option<&str>) -> Markup {
    let mut params = json!({ "peer": peer.to_string() });
    if let Some(s) = skill {
        params["skill"] = json!(s);
    }
    let view = match app.call::<TrustView>("trust", params).await {
        Ok(v) => v,
        Err(e) => return failure(&e),
    };
    let why = view.explanation.known();
    let keys: Vec<PublicKey> = std::iter::once(*peer)
        .chain(why.iter().flat_map(|w| {
            let c = &w.connectivity;
            c.bridge
                .into_iter()
                .chain(c.bridge_set.iter().map(|b| b.node))
                .chain(w.paths.iter().flat_map(|p| p.nodes.iter().copied()))
                .chain(w.direct.iter().chain(&w.negative).map(|c| c.issuer))
        }))
        .collect();
    let mut names = Names::resolve(app, keys).await;
    names.or_me(why.map(|w| w.ego));
    let whom = names.label(peer);
    let title = trust_title(
        (!names.is_me(peer)).then_some(whom.as_str()),
        view.skill.as_ref().map(|s| s.as_str()),
    );
    html! {
        div.trust {
            p.score {
                (title) ": "
                strong.trust-score { (num(view.score)) }
                " (find factor " (factor_text(view.factor)) ")"
            }
            @match why {
                None => pre { (serde_json::to_string_pretty(&view.explanation).unwrap_or_default()) },
                Some(w) => {
                    @if names.is_me(peer) {
                        p { (OWN_POINT_OF_VIEW) }
                    } @else if !w.has_evidence() {
                        p.hint { (nothing_supports(&whom)) " "
                            a href={ "/member/" (peer) } { "See the attestations about " (whom) "." } }
                    } @else {
                        div.trust-layout {
                            figure.graph {
                                (graph(peer, w, &names))
                                figcaption { "Supporting paths from you to " (whom) "; line width is each path's share of the score. Dashed lines are attestations into " (whom) ", labelled skill and weight." }
                            }
                            (table(w, &names))
                        }
                    }
                }
            }
        }
    }
}

/// The numbers `guild trust` prints, as tables.
fn table(w: &TrustExplanation, names: &Names) -> Markup {
    let label = |k: &PublicKey| names.label(k);
    html! {
        div.trust-table {
            table {
                caption { "Score" }
                tbody {
                    tr { th scope="row" { "walk trust" } td { (w.walk_text()) } }
                    tr { th scope="row" { "connectivity" } td { (w.connectivity_text(&label)) } }
                    tr { th scope="row" { "negative" } td { (w.negative_text()) } }
                }
            }
            @if !w.paths.is_empty() {
                table.paths {
                    caption { "Strongest paths" }
                    thead { tr { th scope="col" { "Path" } th scope="col" { "Contribution" } } }
                    tbody { @for p in &w.paths { tr {
                        td { @for (i, k) in p.nodes.iter().enumerate() { @if i > 0 { " → " } (names.label(k)) } }
                        td { (num(p.contribution)) }
                    } } }
                }
            }
            @for (title, list) in [("Direct contributors", &w.direct), ("Negative attestations", &w.negative)] {
                @if !list.is_empty() {
                    table.contributors {
                        caption { (title) }
                        thead { tr {
                            th scope="col" { "Issuer" } th scope="col" { "Skill" } th scope="col" { "Score" } th scope="col" { "Issued" }
                            th scope="col" { "Weight" } th scope="col" { "Issuer trust" } th scope="col" { "Contribution" }
                        } }
                        tbody { @for d in list { tr {
                            td { (names.link(&d.issuer)) } td { (d.skill_label()) } td { (format!("{:+}", d.score)) }
                            td { (relative(d.issued_at)) } td { (num(d.weight)) } td { (num(d.issuer_trust)) } td { (num(d.contribution)) }
                        } } }
                    }
                }
            }
        }
    }
}

/// Graph geometry.
const COLUMN: f64 = 170.0;
const ROW: f64 = 70.0;
const MARGIN: f64 = 60.0;

/// The supporting paths as a layered graph: you on the left, the member on the right, each
/// node in the column of its shortest distance from you; attestations into the member as
/// dashed edges labelled with skill and weight.
fn graph(target: &PublicKey, w: &TrustExplanation, names: &Names) -> Markup {
    let mut layer: BTreeMap<String, (usize, PublicKey)> = BTreeMap::new();
    let depth = w
        .paths
        .iter()
        .map(|p| p.nodes.len())
        .max()
        .unwrap_or(2)
        .max(2)
        - 1;
    let mut place = |k: &PublicKey, d: usize| {
        let e = layer.entry(k.to_string()).or_insert((d, *k));
        e.0 = e.0.min(d);
    };
    for p in &w.paths {
        for (i, k) in p.nodes.iter().enumerate() {
            if k != target {
                place(k, i);
            }
        }
    }
    for c in w.direct.iter().chain(&w.negative) {
        if &c.issuer != target {
            place(&c.issuer, depth.saturating_sub(1));
        }
    }
    place(target, depth);
    if let Some(t) = layer.get_mut(&target.to_string()) {
        t.0 = depth;
    }
    let mut columns: BTreeMap<usize, Vec<PublicKey>> = BTreeMap::new();
    for (d, k) in layer.values() {
        columns.entry(*d).or_default().push(*k);
    }
    let tallest = columns.values().map(Vec::len).max().unwrap_or(1);
    let height = MARGIN * 2.0 + ROW * (tallest.saturating_sub(1)) as f64;
    let width = MARGIN * 2.0 + COLUMN * depth as f64;
    let mut pos: HashMap<PublicKey, (f64, f64)> = HashMap::new();
    for (d, keys) in &columns {
        let span = ROW * (keys.len().saturating_sub(1)) as f64;
        for (i, k) in keys.iter().enumerate() {
            let x = MARGIN + COLUMN * *d as f64;
            let y = height / 2.0 - span / 2.0 + ROW * i as f64;
            pos.insert(*k, (x, y));
        }
    }
    // Path edges, summed over the paths that use them.
    let mut edges: BTreeMap<(String, String), (PublicKey, PublicKey, f64)> = BTreeMap::new();
    for p in &w.paths {
        for pair in p.nodes.windows(2) {
            if let [a, b] = pair {
                let e = edges
                    .entry((a.to_string(), b.to_string()))
                    .or_insert((*a, *b, 0.0));
                e.2 += p.contribution;
            }
        }
    }
    let strongest = edges
        .values()
        .map(|e| e.2)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let label = |k: &PublicKey| names.label(k);
    html! {
        svg.trust-graph viewBox={ "0 0 " (width) " " (height) } role="img" aria-labelledby="graph-title" xmlns="http://www.w3.org/2000/svg" {
            title #graph-title { "Trust paths to " (label(target)) }
            @for (a, b, c) in edges.values() {
                @if let (Some((x1, y1)), Some((x2, y2))) = (pos.get(a), pos.get(b)) {
                    line.path-edge x1=(x1) y1=(y1) x2=(x2) y2=(y2) stroke-width=(format!("{:.1}", 1.5 + 6.0 * c / strongest)) {
                        title { (label(a)) " → " (label(b)) ": " (num(*c)) }
                    }
                }
            }
            @for c in w.direct.iter().chain(&w.negative) {
                @if let (Some((x1, y1)), Some((x2, y2))) = (pos.get(&c.issuer), pos.get(target)) {
                    line.attest-edge.negative[c.score < 0] x1=(x1) y1=(y1) x2=(x2) y2=(y2) {}
                    text.edge-label x=(format!("{:.0}", (x1 + x2) / 2.0)) y=(format!("{:.0}", (y1 + y2) / 2.0 - 6.0)) text-anchor="middle" {
                        (c.skill_label()) " " (format!("{:+}", c.score)) " · w " (num(c.weight))
                    }
                }
            }
            @for (k, (x, y)) in &pos {
                g.node.ego[names.is_me(k)].target[k == target] {
                    circle cx=(x) cy=(y) r="16" {}
                    text x=(x) y=(format!("{:.0}", y + 32.0)) text-anchor="middle" { (label(k)) }
                }
            }
        }
    }
}

/// Why an attestation does not count, in words, when the node gave no reason.
fn status_text(status: AttestationStatus) -> &'static str {
    match status {
        AttestationStatus::Counted => "counts",
        AttestationStatus::Unbacked => "not backed by a closed collaboration of both",
        AttestationStatus::Revoked => "revoked by its issuer",
        AttestationStatus::Equivocated => "its issuer equivocated",
        AttestationStatus::Superseded => "replaced by a later one",
        AttestationStatus::Expired => "expired",
    }
}

/// Attestations about a member, with whether each counts; ours can be revoked from here.
pub fn attestation_table(list: &Result<Attestations, CallError>, names: &Names) -> Markup {
    // Our own attestations, not already revoked, can be revoked from here.
    let revocable = |x: &guild_core::control::reputation::AttestationView| {
        names.is_me(&x.issuer) && x.status != AttestationStatus::Revoked
    };
    html! {
        @match list {
            Err(e) => (failure(e)),
            Ok(a) if a.attestations.is_empty() => p { "None known." },
            Ok(a) => table.attestations {
                thead { tr {
                    th scope="col" { "Issuer" } th scope="col" { "Skill" } th scope="col" { "Score" }
                    th scope="col" { "Note" } th scope="col" { "Issued" } th scope="col" { "Counts" }
                    @if a.attestations.iter().any(revocable) { th scope="col" { span.visually-hidden { "Revoke" } } }
                } }
                tbody { @for x in &a.attestations { tr.attestation {
                    td { (names.link(&x.issuer)) } td { (x.skill) } td { (format!("{:+}", x.score)) }
                    td { (x.note) } td { (relative(x.issued_at)) }
                    td { @if x.status == AttestationStatus::Counted { "yes" } @else {
                        "no: " @if let Some(r) = &x.reason { (r) } @else { (status_text(x.status)) }
                    } }
                    @if a.attestations.iter().any(revocable) {
                        td { @if revocable(x) {
                            form.inline.revoke data-call="revoke"
                                data-confirm="Revoke your attestation? It stops counting everywhere it reaches, and cannot be undone." {
                                input type="hidden" name="attestation" value=(x.id);
                                button.secondary type="submit" { "Revoke" }
                                (super::form_status())
                            }
                        } }
                    }
                } } }
            },
        }
    }
}
