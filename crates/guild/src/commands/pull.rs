//! `ask`, `needs`, `withdraw`, `offer`, `offers`, `accept`: needs and the offers answering them.

use super::collab;
use super::Ctx;
use crate::cli::{AskArgs, NeedsArgs};
use crate::exit::Undelivered;
use crate::output;
use guild_core::control::pull::{
    AcceptParams, AskParams, Asked, CollabView, Delivery, NeedFilter, NeedStatus, NeedView, Needs,
    NeedsParams, OfferParams, OfferView, OfferWithdrawParams, Offers, OffersParams, ReleaseParams,
    Staffing, TeamBoard, TeamParams, TeamSuggestions, WithdrawParams,
};
use guild_core::control::Call;
use guild_core::RecordId;

/// A refusal in [`Delivery::error`] starts with this; anything else means unreachable.
const REFUSED_PREFIX: &str = "refused by the recipient";

/// Prefix of an id shown where it only points at something (the full id is in `--json`).
pub fn short(id: &RecordId) -> String {
    let hex = id.to_string();
    format!("{}…", &hex[..12])
}

/// `guild ask`.
pub async fn ask(ctx: &Ctx, args: AskArgs) -> anyhow::Result<()> {
    let params = AskParams {
        text: args.text,
        skills: args.skills,
        resources: args.resources,
        expires_secs: args.expires,
        roles: args.roles,
        due: args.due.map(|d| guild_core::time::now() + d),
        place: args.place,
        reward: args.reward,
    };
    let asked: Asked = ctx.client().await?.call_as(&Call::Ask(params)).await?;
    if ctx.json {
        return output::json(&asked);
    }
    let need = &asked.need;
    output::line(&format!("Posted need {}", need.id))?;
    let mut fields = vec![
        ("asks for", tags_of(need, false)),
        ("expires", output::relative(need.expires_at)),
    ];
    if need.project.is_some() {
        fields.push(("roles", roles_of(need)));
    }
    output::fields(&fields)?;
    if asked.published {
        output::line(
            "Members with these skills are notified; offers arrive as `offer.received` events \
             (`guild offers` lists them).",
        )?;
    } else {
        output::line(
            "No peer is connected yet: the need is saved and spreads to the mesh when peers connect.",
        )?;
    }
    Ok(())
}

/// `guild needs`.
pub async fn needs(ctx: &Ctx, args: NeedsArgs) -> anyhow::Result<()> {
    let filter = if args.mine {
        NeedFilter::Mine
    } else if args.matching {
        NeedFilter::Matching
    } else {
        NeedFilter::All
    };
    let params = NeedsParams {
        filter,
        include_closed: args.closed,
    };
    let needs: Needs = ctx.client().await?.call_as(&Call::Needs(params)).await?;
    if ctx.json {
        return output::json(&needs);
    }
    if needs.needs.is_empty() {
        output::line(match filter {
            NeedFilter::Mine => "You have no open needs; post one with `guild ask`.",
            NeedFilter::Matching => "No open needs ask for your skills or resources.",
            NeedFilter::All => "No open needs known.",
        })?;
        return Ok(());
    }
    let mut header = vec!["ID", "ASKER", "ASKS FOR", "EXPIRES", "OFFERS"];
    if args.closed {
        header.push("STATUS");
    }
    header.push("TEXT");
    let rows: Vec<Vec<String>> = needs
        .needs
        .iter()
        .map(|n| {
            let mut row = vec![
                n.id.to_string(),
                if n.mine {
                    "you".to_string()
                } else {
                    n.asker_name
                        .clone()
                        .filter(|name| !name.is_empty())
                        .unwrap_or_else(|| n.asker.to_string())
                },
                tags_of(n, true),
                output::relative(n.expires_at),
                n.offers.to_string(),
            ];
            if args.closed {
                row.push(status(n.status).to_string());
            }
            row.push(one_line(&n.text));
            row
        })
        .collect();
    output::table(&header, &rows)?;
    if needs.needs.iter().any(|n| !n.matched.is_empty()) {
        output::line("* a skill or resource you have; answer with `guild offer <id> \"…\"`")?;
    }
    Ok(())
}

/// The asked skills and resources; with `mark`, those this node's owner has get a `*`.
fn tags_of(need: &NeedView, mark: bool) -> String {
    let star = |t: &guild_core::SkillTag| {
        if mark && need.matched.contains(t) {
            "*"
        } else {
            ""
        }
    };
    need.skills
        .iter()
        .map(|t| format!("{t}{}", star(t)))
        .chain(
            need.resources
                .iter()
                .map(|t| format!("{t}{} (resource)", star(t))),
        )
        .collect::<Vec<_>>()
        .join(", ")
}

fn status(s: NeedStatus) -> &'static str {
    match s {
        NeedStatus::Open => "open",
        NeedStatus::Withdrawn => "withdrawn",
        NeedStatus::Expired => "expired",
    }
}

/// Text on one table row: line breaks become spaces.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `guild withdraw`.
pub async fn withdraw(ctx: &Ctx, need: RecordId, reason: String) -> anyhow::Result<()> {
    let call = Call::NeedWithdraw(WithdrawParams { need, reason });
    let result = ctx.client().await?.call(&call).await?;
    if ctx.json {
        return output::json(&result);
    }
    output::line(&format!(
        "Withdrew need {need}; nodes that hear of it stop taking offers on it."
    ))?;
    Ok(())
}

/// A need's roles in one line: `layout (kicad, pcb-design) ×2, firmware (embedded-rust)`.
fn roles_of(need: &NeedView) -> String {
    need.roles
        .iter()
        .map(|r| {
            let tags: Vec<&str> = r
                .skills
                .iter()
                .chain(&r.resources)
                .map(|t| t.as_str())
                .collect();
            let count = if r.count > 1 {
                format!(" ×{}", r.count)
            } else {
                String::new()
            };
            format!("{} ({}){count}", r.label, tags.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `guild offer`.
pub async fn offer(
    ctx: &Ctx,
    need: RecordId,
    role: Option<guild_core::SkillTag>,
    text: String,
) -> anyhow::Result<()> {
    let call = Call::Offer(OfferParams { need, text, role });
    let delivery: Delivery = ctx.client().await?.call_as(&call).await?;
    report_delivery(ctx, &delivery, "offer", "the asker")
}

/// Prints a [`Delivery`]; one that did not arrive is an [`Undelivered`] error (exit 5 when the
/// recipient is unreachable and the daemon keeps retrying, 1 when it refused).
pub fn report_delivery(
    ctx: &Ctx,
    delivery: &Delivery,
    what: &str,
    recipient: &str,
) -> anyhow::Result<()> {
    if ctx.json {
        output::json(delivery)?;
    }
    if delivery.delivered {
        if !ctx.json {
            let mut what = what.to_string();
            if let Some(first) = what.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            output::line(&format!("{what} {} delivered to {recipient}.", delivery.id))?;
        }
        return Ok(());
    }
    let reason = delivery.error.clone().unwrap_or_default();
    let refused = (!delivery.retrying)
        .then(|| reason.strip_prefix(REFUSED_PREFIX))
        .flatten();
    if let Some(refusal) = refused {
        let refusal = refusal.trim_start_matches(':').trim();
        return Err(Undelivered {
            message: format!("{recipient} refused the {what} {}: {refusal}", delivery.id),
            unreachable: false,
        }
        .into());
    }
    // The daemon's reason may already say that it keeps retrying; say it once, in our words.
    let reason = reason
        .split("; the daemon keeps retrying")
        .next()
        .unwrap_or_default()
        .trim();
    // "recipient unreachable (why)": we say who is unreachable ourselves.
    let reason = reason
        .strip_prefix("recipient unreachable (")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(reason);
    let reason = if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    };
    Err(Undelivered {
        message: format!(
            "{recipient} is unreachable{reason}. The {what} {} is saved and the daemon keeps \
             retrying in the background; it reports the final outcome as a `delivery.outcome` \
             event (`guild events --kind delivery.outcome`)",
            delivery.id
        ),
        unreachable: true,
    }
    .into())
}

/// `guild offers`.
pub async fn offers(ctx: &Ctx, need: Option<RecordId>) -> anyhow::Result<()> {
    let call = Call::Offers(OffersParams { need });
    let offers: Offers = ctx.client().await?.call_as(&call).await?;
    if ctx.json {
        return output::json(&offers);
    }
    if offers.offers.is_empty() {
        output::line("No offers yet.")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = offers.offers.iter().map(offer_row).collect();
    output::table(&["ID", "NEED", "FROM", "SENT", "STATE", "TEXT"], &rows)?;
    if offers
        .offers
        .iter()
        .any(|o| !o.mine && o.accepted_in.is_none())
    {
        output::line("Accept an offer on your need with `guild accept <id>`.")?;
    }
    Ok(())
}

fn offer_row(o: &OfferView) -> Vec<String> {
    vec![
        o.id.to_string(),
        short(&o.need),
        if o.mine {
            "you".to_string()
        } else {
            o.from.to_string()
        },
        output::relative(o.issued_at),
        offer_state(o),
        one_line(&o.text),
    ]
}

/// What became of an offer, in a few words.
pub fn offer_state(o: &OfferView) -> String {
    if let Some(c) = &o.accepted_in {
        return format!("accepted ({})", short(c));
    }
    if o.withdrawn {
        return "withdrawn".into();
    }
    match o.need_status {
        Some(NeedStatus::Withdrawn) => "need withdrawn".into(),
        Some(NeedStatus::Expired) => "need expired".into(),
        _ => "waiting".into(),
    }
}

/// `guild withdraw-offer`.
pub async fn withdraw_offer(ctx: &Ctx, offer: RecordId, reason: String) -> anyhow::Result<()> {
    let call = Call::OfferWithdraw(OfferWithdrawParams { offer, reason });
    let delivery: Delivery = ctx.client().await?.call_as(&call).await?;
    report_delivery(ctx, &delivery, "withdrawal of the offer", "the asker")
}

/// `guild accept`.
pub async fn accept(ctx: &Ctx, offer: RecordId) -> anyhow::Result<()> {
    let call = Call::Accept(AcceptParams { offer });
    let view: CollabView = ctx.client().await?.call_as(&call).await?;
    if ctx.json {
        return output::json(&view);
    }
    if view.members.len() > 2 {
        output::line(&format!("Added to the team's collaboration {}", view.id))?;
    } else {
        output::line(&format!("Opened collaboration {}", view.id))?;
    }
    collab::summary(&view)?;
    output::line(&format!(
        "Post to it with `guild collab post {} \"…\"`.",
        view.id
    ))?;
    Ok(())
}

/// `guild team`: the staffing board of a need (after a release or a stop, when asked), or
/// `guild team suggest`.
pub async fn team(ctx: &Ctx, args: crate::cli::TeamArgs) -> anyhow::Result<()> {
    if let Some(crate::cli::TeamCommand::Suggest { need }) = args.command {
        return suggest(ctx, need).await;
    }
    let (Some(need), release, stop) = (args.need, args.release, args.stop) else {
        anyhow::bail!("give the need's id: `guild team <need>`");
    };
    let call = match release {
        Some(offer) => Call::TeamRelease(ReleaseParams { offer }),
        None if stop => Call::TeamStop(TeamParams { need }),
        None => Call::Team(TeamParams { need }),
    };
    let board: Box<TeamBoard> = ctx.client().await?.call_as(&call).await?;
    if ctx.json {
        return output::json(&board);
    }
    output::line(&format!(
        "{} — {}",
        one_line(&board.text),
        staffing(board.status)
    ))?;
    if let Some(c) = &board.collab {
        output::line(&format!("Team collaboration {c}"))?;
    }
    let rows: Vec<Vec<String>> = board
        .roles
        .iter()
        .map(|r| {
            let tags: Vec<&str> = r
                .role
                .skills
                .iter()
                .chain(&r.role.resources)
                .map(|t| t.as_str())
                .collect();
            vec![
                r.role.label.to_string(),
                tags.join(", "),
                format!(
                    "{} of {}{}",
                    r.members.len(),
                    r.role.count,
                    if r.filled { " (filled)" } else { "" }
                ),
                r.members
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                r.offers.iter().map(short).collect::<Vec<_>>().join(", "),
            ]
        })
        .collect();
    output::table(&["ROLE", "TAGS", "FILLED", "MEMBERS", "OFFERS"], &rows)?;
    if board.status == Staffing::Staffing && board.roles.iter().any(|r| !r.offers.is_empty()) {
        output::line("Fill a role with `guild accept <offer>` (`guild offers --need <need>`).")?;
    }
    Ok(())
}

fn staffing(s: Staffing) -> &'static str {
    match s {
        Staffing::Staffing => "staffing",
        Staffing::Staffed => "staffed",
        Staffing::Closed => "closed",
    }
}

/// `guild team suggest`.
async fn suggest(ctx: &Ctx, need: RecordId) -> anyhow::Result<()> {
    let call = Call::TeamSuggest(TeamParams { need });
    let s: TeamSuggestions = ctx.client().await?.call_as(&call).await?;
    if ctx.json {
        return output::json(&s);
    }
    for role in &s.roles {
        output::line(&format!(
            "{}{}",
            role.label,
            if role.open { "" } else { " (filled)" }
        ))?;
        if role.candidates.is_empty() {
            output::line("  nobody known fits it yet")?;
        }
        for c in &role.candidates {
            let name = if c.name.is_empty() {
                c.peer.to_string()
            } else {
                format!("{} ({})", c.name, c.peer)
            };
            output::line(&format!("  {name}"))?;
            for w in &c.why {
                output::line(&format!("    - {w}"))?;
            }
        }
    }
    output::line("Invite someone to offer with `guild msg <peer> \"…\"`.")?;
    Ok(())
}
