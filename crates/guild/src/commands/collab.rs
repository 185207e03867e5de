//! `guild collab list | show | post | invite | join | close`, and `msg` / `inbox`.

use super::pull::{one_line, report_delivery};
use super::Ctx;
use crate::cli::CollabCommand;
use crate::output;
use guild_core::control::pull::{
    CollabCloseParams, CollabInviteParams, CollabParams, CollabPostParams, CollabView, Collabs,
    Delivery, EntryView, Inbox, InboxParams, MsgParams,
};
use guild_core::control::Call;
use guild_core::PublicKey;

/// Runs a `guild collab` subcommand.
pub async fn run(ctx: &Ctx, command: CollabCommand) -> anyhow::Result<()> {
    let mut client = ctx.client().await?;
    let (call, done) = match command {
        CollabCommand::List => {
            let collabs: Collabs = client.call_as(&Call::CollabList).await?;
            return list(ctx, &collabs);
        }
        CollabCommand::Show { collab } => {
            let view: CollabView = client
                .call_as(&Call::CollabShow(CollabParams { collab }))
                .await?;
            return show(ctx, &view);
        }
        CollabCommand::Post { collab, text } => (
            Call::CollabPost(CollabPostParams { collab, text }),
            "Posted",
        ),
        CollabCommand::Invite { collab, peer } => (
            Call::CollabInvite(CollabInviteParams { collab, peer }),
            "Invited",
        ),
        CollabCommand::Join { collab } => (Call::CollabJoin(CollabParams { collab }), "Joined"),
        CollabCommand::Close { collab, summary } => (
            Call::CollabClose(CollabCloseParams { collab, summary }),
            "Closed",
        ),
    };
    let entry: EntryView = client.call_as(&call).await?;
    if ctx.json {
        return output::json(&entry);
    }
    let line = match (done, &entry.member) {
        ("Invited", Some(member)) => format!(
            "Invited {member} (entry {}); they join with `guild collab join`.",
            entry.id
        ),
        ("Joined", _) => format!("Joined: you are now a member (entry {}).", entry.id),
        ("Closed", _) => format!(
            "Closed your part (entry {}); the collaboration takes no more posts. Attestations between you and another member count once they closed theirs too.",
            entry.id
        ),
        _ => format!(
            "{done} entry {} (#{}); members receive it directly.",
            entry.id, entry.seq
        ),
    };
    output::line(&line)?;
    Ok(())
}

fn state(c: &CollabView) -> &'static str {
    if !c.member {
        "invited"
    } else if c.closed {
        "closed"
    } else {
        "open"
    }
}

fn list(ctx: &Ctx, collabs: &Collabs) -> anyhow::Result<()> {
    if ctx.json {
        return output::json(collabs);
    }
    if collabs.collabs.is_empty() {
        output::line("No collaborations yet; `guild accept <offer>` opens one.")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = collabs
        .collabs
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                state(c).to_string(),
                c.members.len().to_string(),
                output::relative(c.opened_at),
                one_line(c.purpose.as_deref().unwrap_or("(need not held here)")),
            ]
        })
        .collect();
    output::table(&["ID", "STATE", "MEMBERS", "OPENED", "PURPOSE"], &rows)?;
    Ok(())
}

/// The key/value block describing a collaboration (no log).
pub fn summary(c: &CollabView) -> std::io::Result<()> {
    output::fields(&[
        (
            "purpose",
            c.purpose
                .clone()
                .unwrap_or_else(|| "(the need is not held here)".into()),
        ),
        ("need", c.need.to_string()),
        (
            "members",
            c.members
                .iter()
                .map(PublicKey::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        ("opened", output::relative(c.opened_at)),
        ("state", state(c).to_string()),
        (
            "closed by",
            c.closed_by
                .iter()
                .map(PublicKey::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ])
}

fn show(ctx: &Ctx, c: &CollabView) -> anyhow::Result<()> {
    if ctx.json {
        return output::json(c);
    }
    output::line(&format!("Collaboration {}", c.id))?;
    summary(c)?;
    if c.entries.is_empty() {
        output::line("\nNo entries yet.")?;
        return Ok(());
    }
    output::line("")?;
    let rows: Vec<Vec<String>> = c.entries.iter().map(entry_row).collect();
    output::table(&["WHEN", "AUTHOR", "KIND", "TEXT"], &rows)?;
    Ok(())
}

fn entry_row(e: &EntryView) -> Vec<String> {
    let text = match (&e.text, &e.member) {
        (_, Some(member)) => format!("invites {member}"),
        (Some(text), None) => one_line(text),
        (None, None) => String::new(),
    };
    vec![
        output::relative(e.at),
        e.author.to_string(),
        e.kind.clone(),
        text,
    ]
}

/// `guild msg`.
pub async fn msg(ctx: &Ctx, peer: PublicKey, text: String) -> anyhow::Result<()> {
    let call = Call::Msg(MsgParams { peer, text });
    let delivery: Delivery = ctx.client().await?.call_as(&call).await?;
    report_delivery(ctx, &delivery, "message", "the recipient")
}

/// `guild inbox`.
pub async fn inbox(ctx: &Ctx, include_sent: bool) -> anyhow::Result<()> {
    let call = Call::Inbox(InboxParams { include_sent });
    let inbox: Inbox = ctx.client().await?.call_as(&call).await?;
    if ctx.json {
        return output::json(&inbox);
    }
    if inbox.messages.is_empty() {
        output::line("No messages.")?;
        return Ok(());
    }
    let mut header = vec!["WHEN", "FROM"];
    if include_sent {
        header.push("TO");
    }
    header.push("TEXT");
    let rows: Vec<Vec<String>> = inbox
        .messages
        .iter()
        .map(|m| {
            let mut row = vec![output::relative(m.at), m.from.to_string()];
            if include_sent {
                row.push(m.to.to_string());
            }
            row.push(one_line(&m.text));
            row
        })
        .collect();
    output::table(&header, &rows)?;
    Ok(())
}
