//! `pulse` and `growth`: the community's pulse and a member's growth.

use super::Ctx;
use crate::output;
use guild_core::control::reflect::{
    Figure, Growth, GrowthParams, Pulse, PulseParams, TagKind, TagPulse,
};
use guild_core::control::Call;
use guild_core::PublicKey;

/// Rows of the tag table printed (the JSON has them all).
const TABLE_ROWS: usize = 30;

/// `guild pulse`.
pub async fn pulse(ctx: &Ctx, since: Option<u64>) -> anyhow::Result<()> {
    let call = Call::Pulse(PulseParams { since_secs: since });
    let p: Pulse = ctx.client().await?.call_as(&call).await?;
    if ctx.json {
        return output::json(&p);
    }
    print_pulse(&p)?;
    Ok(())
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "–".into(), |v| v.to_string())
}

fn trend(now: Figure, before: Figure) -> String {
    match (now.shown(), before.shown()) {
        (Some(a), Some(b)) if a > b => format!("↑ from {b}"),
        (Some(a), Some(b)) if a < b => format!("↓ from {b}"),
        (Some(_), Some(_)) => "=".into(),
        _ => format!("was {before}"),
    }
}

fn tag_label(t: &TagPulse) -> String {
    match t.kind {
        TagKind::Skill => t.tag.to_string(),
        TagKind::Resource => format!("{} (resource)", t.tag),
    }
}

fn print_pulse(p: &Pulse) -> std::io::Result<()> {
    let t = &p.totals;
    output::line(&format!(
        "The community over {} week{} (since {}); counts of 1 to 4 show as \"< 5\".",
        p.weeks,
        if p.weeks == 1 { "" } else { "s" },
        output::relative(p.from)
    ))?;
    output::fields(&[
        (
            "needs",
            format!("{} ({})", t.needs, trend(t.needs, t.needs_previous)),
        ),
        ("offers", t.offers.to_string()),
        ("accepted", t.accepted.to_string()),
        ("expired unanswered", t.expired_unanswered.to_string()),
        ("members seen", t.members_seen.to_string()),
        (
            "members active",
            format!(
                "{} ({})",
                t.members_active,
                trend(t.members_active, t.members_active_previous)
            ),
        ),
        (
            "needs now",
            format!(
                "{} open, {} accepted, {} expired unanswered since start",
                p.needs_now.open, p.needs_now.accepted, p.needs_now.expired_unanswered
            ),
        ),
    ])?;
    if p.tags.is_empty() {
        output::line("No needs or profiles held yet.")?;
        return Ok(());
    }
    output::line("")?;
    let rows: Vec<Vec<String>> = p
        .tags
        .iter()
        .take(TABLE_ROWS)
        .map(|t| {
            vec![
                tag_label(t),
                t.asks.to_string(),
                trend(t.asks, t.asks_previous),
                t.members.to_string(),
                opt(t.scarcity),
                t.offers.to_string(),
                t.accepted.to_string(),
                t.median_first_offer_secs
                    .map_or_else(|| "–".into(), output::duration),
                t.expired_share
                    .map_or_else(|| "–".into(), |s| format!("{:.0}%", s * 100.0)),
            ]
        })
        .collect();
    output::table(
        &[
            "TAG",
            "ASKS",
            "TREND",
            "MEMBERS",
            "SCARCITY",
            "OFFERS",
            "ACCEPTED",
            "1ST OFFER",
            "EXPIRED",
        ],
        &rows,
    )?;
    if !p.lacks.is_empty() {
        output::line("")?;
        let list: Vec<String> = p
            .lacks
            .iter()
            .map(|l| format!("{} ({} asks)", l.tag, l.asks))
            .collect();
        output::line(&format!(
            "Asked for, and no member has it: {}",
            list.join(", ")
        ))?;
        output::line("Find someone with `guild find <tag>`, or invite them to the community.")?;
    }
    Ok(())
}

/// `guild growth`.
pub async fn growth(ctx: &Ctx, peer: Option<PublicKey>) -> anyhow::Result<()> {
    let call = Call::Growth(GrowthParams { peer });
    let g: Growth = ctx.client().await?.call_as(&call).await?;
    if ctx.json {
        return output::json(&g);
    }
    print_growth(&g)?;
    Ok(())
}

fn print_growth(g: &Growth) -> std::io::Result<()> {
    let who = g.name.clone().unwrap_or_else(|| g.peer.to_string());
    output::line(&format!("Growth of {who}"))?;
    if g.attestations.is_empty() && g.levels.is_empty() && g.collaborations.is_empty() {
        output::line(
            "Nothing held here yet: no counted attestations, profiles or collaborations.",
        )?;
        return Ok(());
    }
    if !g.attestations.is_empty() {
        output::line("")?;
        let rows: Vec<Vec<String>> = g
            .attestations
            .iter()
            .map(|a| {
                vec![
                    a.month.clone(),
                    a.skill.to_string(),
                    a.positive.to_string(),
                    a.negative.to_string(),
                ]
            })
            .collect();
        output::table(&["MONTH", "SKILL", "VOUCHED", "CRITICISED"], &rows)?;
    }
    if !g.levels.is_empty() {
        output::line("")?;
        let rows: Vec<Vec<String>> = g
            .levels
            .iter()
            .map(|v| {
                let skills: Vec<String> = v
                    .skills
                    .iter()
                    .map(|(s, l)| format!("{s} {}", format!("{l:?}").to_lowercase()))
                    .collect();
                vec![output::relative(v.at), skills.join(", ")]
            })
            .collect();
        output::table(&["DECLARED", "SKILLS"], &rows)?;
    }
    if !g.collaborations.is_empty() {
        output::line("")?;
        let months: Vec<String> = g
            .collaborations
            .iter()
            .map(|c| format!("{} {}", c.month, c.count))
            .collect();
        output::line(&format!("Collaborations per month: {}", months.join(", ")))?;
        let with: Vec<String> = g
            .worked_with
            .iter()
            .map(|c| {
                let name = c.name.clone().unwrap_or_else(|| c.peer.to_string());
                format!("{name} ({})", c.collaborations)
            })
            .collect();
        output::line(&format!("Worked with: {}", with.join(", ")))?;
    }
    Ok(())
}
