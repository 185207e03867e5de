//! `invite` and `join`: invitation codes.

use super::Ctx;
use crate::cli::InviteArgs;
use crate::output;
use guild_core::control::invite::{
    InviteCreateParams, InviteRevokeParams, InviteView, Invites, JoinParams, Joined,
};
use guild_core::control::Call;

/// `guild invite`.
pub async fn invite(ctx: &Ctx, args: InviteArgs) -> anyhow::Result<()> {
    let mut client = ctx.client().await?;
    if args.list {
        let list: Invites = client.call_as(&Call::InviteList).await?;
        if ctx.json {
            return output::json(&list);
        }
        if list.invites.is_empty() {
            output::line("No invitation codes yet: `guild invite` makes one.")?;
        }
        // Named now: a newcomer's profile usually arrives after its join.
        let names = super::reputation::resolve_names(
            &mut client,
            list.invites.iter().flat_map(|i| i.joined.iter().copied()),
        )
        .await;
        for i in &list.invites {
            output::line(&format!(
                "{}  {}/{} used  {}{}",
                i.id,
                i.uses,
                i.max_uses,
                state(i),
                if i.note.is_empty() {
                    String::new()
                } else {
                    format!("  “{}”", i.note)
                }
            ))?;
            if !i.joined.is_empty() {
                let who: Vec<String> = i.joined.iter().map(|k| names.label(k)).collect();
                output::line(&format!("    joined: {}", who.join(", ")))?;
            }
        }
        return Ok(());
    }
    if let Some(id) = args.revoke {
        let view: InviteView = client
            .call_as(&Call::InviteRevoke(InviteRevokeParams {
                id,
                sponsorships: args.sponsorships,
            }))
            .await?;
        if ctx.json {
            return output::json(&view);
        }
        output::line(&format!(
            "Revoked {}: nobody can join with it any more.",
            view.id
        ))?;
        return Ok(());
    }
    let view: InviteView = client
        .call_as(&Call::InviteCreate(InviteCreateParams {
            expires_secs: args.expires,
            uses: args.uses,
            note: args.note,
        }))
        .await?;
    if ctx.json {
        return output::json(&view);
    }
    output::line("Give this code to the newcomer (they run `guild join <code> --trust`):")?;
    output::line("")?;
    output::line(&view.code)?;
    output::line("")?;
    output::fields(&[
        ("link", view.link.clone()),
        ("id", view.id.clone()),
        ("uses", view.max_uses.to_string()),
        ("expires", output::relative(view.expires_at)),
    ])?;
    Ok(())
}

fn state(i: &InviteView) -> String {
    if i.revoked {
        "revoked".into()
    } else if i.expires_at <= guild_core::time::now() {
        "expired".into()
    } else if i.uses >= i.max_uses {
        "used up".into()
    } else {
        format!("expires {}", output::relative(i.expires_at))
    }
}

/// `guild join`.
pub async fn join(ctx: &Ctx, code: String, trust: bool) -> anyhow::Result<()> {
    let mut client = ctx.client().await?;
    let joined: Joined = client
        .call_as(&Call::Join(JoinParams { code, trust }))
        .await?;
    if ctx.json {
        return output::json(&joined);
    }
    let who = joined
        .inviter_name
        .clone()
        .unwrap_or_else(|| joined.inviter.to_string());
    output::line(&format!(
        "Joined community `{}` through {who}.",
        joined.community
    ))?;
    output::fields(&[
        ("inviter", joined.inviter.to_string()),
        ("reached at", joined.address.clone()),
        (
            "trust root",
            if joined.trusted {
                "yes".into()
            } else {
                "no (`guild trust add <inviter>` to trust them)".into()
            },
        ),
        (
            "sponsored",
            format!("until {}", output::relative(joined.sponsored_until)),
        ),
    ])?;
    output::line(
        "The inviter is now a bootstrap peer: the daemon reconnects to them after a restart.",
    )?;
    Ok(())
}
