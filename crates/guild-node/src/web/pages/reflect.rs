//! The community's pulse, and a member's growth, in numbers and charts (drawn by [`super::chart`]).

use super::chart::{self, HBar, Series};
use super::{duration, failure, layout, num, relative};
use crate::control::Handle;
use crate::web::auth::Session;
use crate::web::routes::App;
use guild_core::control::reflect::{civil, Figure, Growth, Pulse, TagKind, WEEK_SECS};
use guild_core::control::{CallError, Status};
use guild_core::PublicKey;
use maud::{html, Markup};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// Rows of the scarcity and first-offer charts.
const CHART_ROWS: usize = 10;
/// Periods offered on the page, in weeks.
const PERIODS: [u64; 4] = [1, 5, 13, 52];

fn short_date(t: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, m, d) = civil(t);
    format!("{} {d}", MONTHS[(m as usize).saturating_sub(1) % 12])
}

fn trend(now: Figure, before: Figure) -> Markup {
    match (now.shown(), before.shown()) {
        (Some(a), Some(b)) if a > b => html! { span.up { "↑ from " (b) } },
        (Some(a), Some(b)) if a < b => html! { span.down { "↓ from " (b) } },
        (Some(_), Some(_)) => html! { "same as before" },
        _ => html! { "was " (before) },
    }
}

/// The Pulse page: totals with trends, the scarcest skills, needs and offers per week, time to a
/// first offer per tag, and what the community lacks, with links to find and to invite.
pub async fn pulse<H: Handle>(
    app: &App<H>,
    session: &Session,
    q: &HashMap<String, String>,
) -> Markup {
    let weeks = q
        .get("weeks")
        .and_then(|w| w.parse::<u64>().ok())
        .filter(|w| PERIODS.contains(w))
        .unwrap_or(5);
    let pulse = app
        .call::<Pulse>("pulse", json!({ "since_secs": weeks * WEEK_SECS }))
        .await;
    let status = app.call::<Status>("status", json!({})).await;
    let body = match &pulse {
        Err(e) => failure(e),
        Ok(p) => pulse_body(p, weeks, &status),
    };
    layout("Pulse", "/pulse", session, body)
}

fn pulse_body(p: &Pulse, weeks: u64, status: &Result<Status, CallError>) -> Markup {
    let t = &p.totals;
    let scarce: Vec<HBar> = p
        .tags
        .iter()
        .filter(|t| t.asks.shown() != Some(0))
        .filter(|t| t.members.shown() != Some(0))
        .take(CHART_ROWS)
        .map(|t| HBar {
            label: t.tag.to_string(),
            value: t.scarcity,
            text: match t.scarcity {
                Some(s) => format!("{} per member", num(s)),
                None => format!("{} asks, {} members", t.asks, t.members),
            },
        })
        .collect();
    let mut timed: Vec<_> = p
        .tags
        .iter()
        .filter_map(|t| t.median_first_offer_secs.map(|s| (s, t)))
        .collect();
    timed.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.tag.cmp(&b.1.tag)));
    let first_offer: Vec<HBar> = timed
        .iter()
        .take(CHART_ROWS)
        .map(|(s, t)| HBar {
            label: t.tag.to_string(),
            value: Some(*s as f64),
            text: format!("≥ {}", duration(*s)),
        })
        .collect();
    let categories: Vec<String> = p.series.iter().map(|w| short_date(w.start)).collect();
    let series = [
        Series {
            name: "needs",
            class: "a",
            values: p.series.iter().map(|w| w.needs.shown()).collect(),
        },
        Series {
            name: "offers",
            class: "b",
            values: p.series.iter().map(|w| w.offers.shown()).collect(),
        },
    ];
    let invite = status.as_ref().ok().and_then(|s| {
        s.listen_addrs
            .iter()
            .find(|a| !a.contains("/ip4/127.") && !a.contains("/ip6/::1/"))
            .or(s.listen_addrs.first())
            .map(|a| format!("{a}/p2p/{}", s.peer_id))
    });
    let me = status
        .as_ref()
        .ok()
        .and_then(|s| s.peer_id.parse::<PublicKey>().ok());
    html! {
        nav.periods aria-label="Period" {
            "Period: "
            @for w in PERIODS {
                @if w == weeks { strong { (period_label(w)) } } @else { a href={ "/pulse?weeks=" (w) } { (period_label(w)) } }
                " "
            }
        }
        p.hint { "From the public records this node holds, week by week (weeks start on Monday, UTC). Counts of 1 to 4 show as “< 5”, and a figure that would let one be worked out by subtraction is hidden too." }
        section aria-labelledby="p-totals" {
            h2 #p-totals { "Since " (short_date(p.from)) }
            dl.figures {
                dt { "Needs posted" } dd { strong { (t.needs) } " " (trend(t.needs, t.needs_previous)) }
                dt { "Offers on them" } dd { (t.offers) }
                dt { "Accepted" } dd { (t.accepted) }
                dt { "Expired unanswered" } dd { (t.expired_unanswered) }
                dt { "Members seen" } dd { (t.members_seen) }
                dt { "Members active" } dd { (t.members_active) " " (trend(t.members_active, t.members_active_previous)) }
                dt { "Needs held now" } dd { (p.needs_now.open) " open, " (p.needs_now.accepted) " accepted" }
            }
            @if let Some(me) = me { p { a href={ "/member/" (me) "#growth" } { "Your own growth" } } }
        }
        section #scarce aria-labelledby="p-scarce" {
            h2 #p-scarce { "Scarcest skills" }
            @if scarce.is_empty() { p { "No needs for skills that members have in this period." } }
            @else {
                figure.chart-box {
                    (chart::hbars("scarce-chart", "Asks per member who has the skill", &scarce))
                    figcaption { "Needs asking for a skill, per member whose profile declares it." }
                }
            }
        }
        section #weekly aria-labelledby="p-weekly" {
            h2 #p-weekly { "Needs and offers per week" }
            figure.chart-box {
                (chart::columns("weekly-chart", "Needs and offers per week", &categories, &series))
                figcaption { "Needs posted each week, and the offers this node holds on them. An outlined stub is a hidden count (< 5)." }
            }
        }
        section #first-offer aria-labelledby="p-first" {
            h2 #p-first { "Time to a first offer" }
            @if first_offer.is_empty() { p { "Fewer than 5 needs with an offer per tag in this period." } }
            @else {
                figure.chart-box {
                    (chart::hbars("first-offer-chart", "Median time to a first offer per tag", &first_offer))
                    figcaption { "Median time from a need to its first offer, slowest first (to within a factor √2)." }
                }
            }
        }
        section #lacks aria-labelledby="p-lacks" {
            h2 #p-lacks { "What the community lacks" }
            @if p.lacks.is_empty() { p { "Every tag asked for has a member who declares it." } }
            @else {
                ul.items {
                    @for l in &p.lacks {
                        li {
                            span { strong { (l.tag) } @if l.kind == TagKind::Resource { " (resource)" } " — " (l.asks) " asks" }
                            " " a href={ "/find?q=" (l.tag) } { "Find" }
                            " · " a href="#invite" { "Invite" }
                        }
                    }
                }
                div #invite {
                    h3 { "Invite someone who has it" }
                    @match &invite {
                        Some(addr) => p { "They install Guild and join through this node: " code { "guild daemon --bootstrap " (addr) } },
                        None => p { "Start listening on an address others can reach, then share it." },
                    }
                }
            }
        }
        section aria-labelledby="p-table" {
            h2 #p-table { "Every tag" }
            table #pulse-table {
                thead { tr {
                    th scope="col" { "Tag" } th scope="col" { "Asks" } th scope="col" { "Trend" } th scope="col" { "Members" }
                    th scope="col" { "Offers" } th scope="col" { "Accepted" } th scope="col" { "First offer" } th scope="col" { "Expired unanswered" }
                } }
                tbody {
                    @for t in &p.tags {
                        tr {
                            td { a href={ "/find?q=" (t.tag) } { (t.tag) } @if t.kind == TagKind::Resource { " (resource)" } }
                            td { (t.asks) } td { (trend(t.asks, t.asks_previous)) } td { (t.members) }
                            td { (t.offers) } td { (t.accepted) }
                            td { (t.median_first_offer_secs.map(duration).unwrap_or_else(|| "–".into())) }
                            td { (t.expired_unanswered) @if let Some(s) = t.expired_share { " (" (format!("{:.0}%", s * 100.0)) ")" } }
                        }
                    }
                }
            }
        }
    }
}

fn period_label(weeks: u64) -> String {
    match weeks {
        1 => "1 week".into(),
        52 => "1 year".into(),
        w => format!("{w} weeks"),
    }
}

/// The growth section of a member page: a chart of counted attestations and collaborations per
/// month, declared levels over time, and whom they worked with.
pub async fn growth_section<H: Handle>(app: &App<H>, key: &PublicKey, title: &str) -> Markup {
    let growth = app
        .call::<Growth>("growth", json!({ "peer": key.to_string() }))
        .await;
    html! {
        section #growth aria-labelledby="m-growth" {
            h2 #m-growth { "Growth of " (title) }
            @match &growth {
                Err(e) => (failure(e)),
                Ok(g) => (growth_body(g)),
            }
        }
    }
}

fn growth_body(g: &Growth) -> Markup {
    let mut months: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for a in &g.attestations {
        months.entry(&a.month).or_default().0 += u64::from(a.positive);
    }
    for c in &g.collaborations {
        months.entry(&c.month).or_default().1 += u64::from(c.count);
    }
    let categories: Vec<String> = months.keys().map(|m| m.to_string()).collect();
    let series = [
        Series {
            name: "vouched",
            class: "a",
            values: months.values().map(|v| Some(v.0)).collect(),
        },
        Series {
            name: "collabs",
            class: "b",
            values: months.values().map(|v| Some(v.1)).collect(),
        },
    ];
    let mut skills: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for a in &g.attestations {
        let e = skills.entry(a.skill.as_str()).or_default();
        e.0 += a.positive;
        e.1 += a.negative;
    }
    html! {
        @if months.is_empty() && g.levels.is_empty() {
            p { "Nothing held here yet: no counted attestations, collaborations or profile versions." }
        }
        @if !months.is_empty() {
            figure.chart-box {
                (chart::columns("growth-chart", "Counted attestations and collaborations per month", &categories, &series))
                figcaption { "Counted positive attestations and collaborations per month, as this node holds them." }
            }
        }
        @if !skills.is_empty() {
            table #growth-skills {
                caption { "Counted attestations per skill" }
                thead { tr { th scope="col" { "Skill" } th scope="col" { "Vouched" } th scope="col" { "Criticised" } } }
                tbody { @for (s, (p, n)) in &skills { tr { td { (s) } td { (p) } td { (n) } } } }
            }
        }
        @if !g.levels.is_empty() {
            table #growth-levels {
                caption { "Declared levels, as profile versions arrived" }
                thead { tr { th scope="col" { "Profile of" } th scope="col" { "Skills" } } }
                tbody {
                    @for v in &g.levels {
                        tr { td { (relative(v.at)) } td { @if v.skills.is_empty() { "(no skills)" } @for (i, (s, l)) in v.skills.iter().enumerate() { @if i > 0 { ", " } (s) " " (l) } } }
                    }
                }
            }
        }
        @if !g.worked_with.is_empty() {
            p { "Worked with: "
                @for (i, c) in g.worked_with.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={ "/member/" (c.peer) } title=(c.peer) { (c.name.clone().unwrap_or_else(|| guild_core::control::names::short_peer(&c.peer))) }
                    " (" (c.collaborations) ")"
                }
            }
        }
    }
}
