//! `guild intro <peer> [--via …]`, `guild intro list | accept | decline`: warm introductions.

use super::pull::one_line;
use super::Ctx;
use crate::cli::{IntroAction, IntroArgs};
use crate::output;
use guild_core::control::intro::{
    IntroAnswerParams, IntroPart, IntroRequestParams, IntroState, IntroView, Introducers,
    IntroducersParams, Introductions,
};
use guild_core::control::Call;

/// Runs `guild intro`.
pub async fn run(ctx: &Ctx, args: IntroArgs) -> anyhow::Result<()> {
    let mut client = ctx.client().await?;
    if let Some(action) = args.action {
        let (id, accept, note) = match action {
            IntroAction::List => {
                let list: Introductions = client.call_as(&Call::IntroList).await?;
                return show_list(ctx, &list);
            }
            IntroAction::Accept { id, note } => (id, true, note),
            IntroAction::Decline { id, note } => (id, false, note),
        };
        let view: IntroView = client
            .call_as(&Call::IntroAnswer(IntroAnswerParams { id, accept, note }))
            .await?;
        if ctx.json {
            return output::json(&view);
        }
        let line = match (view.role, view.state, accept) {
            (IntroPart::Introducer, _, true) => format!(
                "Passed on: {} will be asked whether to meet {}.",
                view.target, view.requester
            ),
            (IntroPart::Target, IntroState::Accepted, _) => format!(
                "Introduced: you and {} can now reach each other (introduced by {}).",
                view.requester, view.introducer
            ),
            _ => "Declined; nothing is kept.".to_string(),
        };
        output::line(&line)?;
        return Ok(());
    }
    let Some(peer) = args.peer else {
        anyhow::bail!("name the member you want to meet, or use `guild intro list`");
    };
    let Some(via) = args.via else {
        let found: Introducers = client
            .call_as(&Call::IntroIntroducers(IntroducersParams { peer }))
            .await?;
        if ctx.json {
            return output::json(&found);
        }
        if found.introducers.is_empty() {
            output::line(
                "Nobody you trust has vouched for this member or been vouched for by them.",
            )?;
            return Ok(());
        }
        let rows: Vec<Vec<String>> = found
            .introducers
            .iter()
            .map(|i| {
                vec![
                    i.peer.to_string(),
                    i.name.clone().unwrap_or_default(),
                    format!("{:.2}", i.trust),
                    if i.connected { "yes" } else { "no" }.into(),
                    i.reasons.join("; "),
                ]
            })
            .collect();
        output::table(&["INTRODUCER", "NAME", "TRUST", "CONNECTED", "WHY"], &rows)?;
        output::line(&format!(
            "Ask one with `guild intro {peer} --via <INTRODUCER> --note \"…\"`."
        ))?;
        return Ok(());
    };
    let Some(note) = args.note else {
        anyhow::bail!("say why you want to meet them with --note \"…\"");
    };
    let view: IntroView = client
        .call_as(&Call::IntroRequest(IntroRequestParams {
            peer,
            via,
            note,
            need: args.need,
            expires_in: args.expires,
        }))
        .await?;
    if ctx.json {
        return output::json(&view);
    }
    output::line(&format!(
        "Asked {via} to introduce you (request {}); you will see their answer in `guild intro list` and as an intro.answered event.",
        view.id
    ))?;
    Ok(())
}

fn state(v: &IntroView) -> &'static str {
    match v.state {
        IntroState::AwaitingIntroducer => "waiting for the introducer",
        IntroState::Forwarded => "passed on; waiting for them",
        IntroState::AwaitingMe => "waiting for you",
        IntroState::Accepted => "accepted",
    }
}

fn show_list(ctx: &Ctx, l: &Introductions) -> anyhow::Result<()> {
    if ctx.json {
        return output::json(l);
    }
    if *l == Introductions::default() {
        output::line("No introductions.")?;
        return Ok(());
    }
    let mut rows = Vec::new();
    for (what, list) in [
        ("to relay", &l.to_relay),
        ("to you", &l.to_me),
        ("yours", &l.mine),
        ("relayed", &l.relayed),
    ] {
        for v in list {
            rows.push(vec![
                what.to_string(),
                v.id.to_string(),
                v.requester.to_string(),
                v.introducer.to_string(),
                v.target.to_string(),
                state(v).into(),
                one_line(&v.note),
            ]);
        }
    }
    if !rows.is_empty() {
        output::table(&["", "ID", "FROM", "VIA", "TO", "STATE", "NOTE"], &rows)?;
    }
    for i in &l.introduced {
        output::line(&format!(
            "{} — introduced by {} {}",
            i.peer,
            i.by,
            output::relative(i.at)
        ))?;
    }
    Ok(())
}
