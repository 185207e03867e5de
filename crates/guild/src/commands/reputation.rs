//! `vouch`, `revoke`, `attestations`, `trust`: reputation.

use super::pull::{one_line, short};
use super::Ctx;
use crate::cli::VouchArgs;
use crate::output;
use guild_core::control::explanation::{
    factor_text, nothing_supports, num, trust_title, TrustExplanation, OWN_POINT_OF_VIEW,
};
use guild_core::control::reputation::{
    AttestationStatus, AttestationView, Attestations, AttestationsParams, RevokeParams,
    TrustParams, TrustView, VouchParams,
};
use guild_core::control::{
    Call, Client, ClientError, ErrorCode, MemberNames, ProfileGetParams, ProfileResult,
};
use guild_core::{PublicKey, RecordId, SkillTag};

/// At most this many profiles are looked up to put names on peer ids.
const MAX_NAME_LOOKUPS: usize = 64;

/// `guild vouch`.
pub async fn vouch(ctx: &Ctx, args: VouchArgs) -> anyhow::Result<()> {
    let params = VouchParams {
        peer: args.peer,
        skill: args.skill,
        score: args.score,
        collab: args.collab,
        note: args.note,
        expires_secs: args.expires,
    };
    let mut client = ctx.client().await?;
    let view: AttestationView = client.call_as(&Call::Vouch(params)).await?;
    if ctx.json {
        return output::json(&view);
    }
    let names = resolve_names(&mut client, [view.subject]).await;
    output::line(&format!(
        "Vouched for {} in {}: {:+} (attestation {})",
        names.label(&view.subject),
        view.skill,
        view.score,
        view.id
    ))?;
    let mut rows = vec![
        ("status", status_text(&view)),
        ("collab", view.collab.to_string()),
        ("expires", output::relative(view.expires_at)),
    ];
    if !view.note.is_empty() {
        rows.push(("note", view.note.clone()));
    }
    output::fields(&rows)?;
    output::line(&format!(
        "It is published to the community; `guild revoke {}` takes it back.",
        view.id
    ))?;
    Ok(())
}

/// `guild revoke`.
pub async fn revoke(ctx: &Ctx, attestation: RecordId, reason: String) -> anyhow::Result<()> {
    let call = Call::Revoke(RevokeParams {
        attestation,
        reason,
    });
    let result = ctx.client().await?.call(&call).await?;
    if ctx.json {
        return output::json(&result);
    }
    output::line(&format!(
        "Revoked attestation {attestation}; nodes that hear of it stop counting it."
    ))?;
    Ok(())
}

/// `guild attestations`.
pub async fn attestations(
    ctx: &Ctx,
    about: Option<PublicKey>,
    by: Option<PublicKey>,
) -> anyhow::Result<()> {
    let mut client = ctx.client().await?;
    let call = Call::Attestations(AttestationsParams { about, by });
    let list: Attestations = client.call_as(&call).await?;
    if ctx.json {
        return output::json(&list);
    }
    if list.attestations.is_empty() {
        output::line(if about.is_some() || by.is_some() {
            "No attestations match."
        } else {
            "No attestations known yet; `guild vouch` issues one after a closed collaboration."
        })?;
        return Ok(());
    }
    let keys = list.attestations.iter().flat_map(|a| [a.issuer, a.subject]);
    let names = resolve_names(&mut client, keys).await;
    let rows: Vec<Vec<String>> = list
        .attestations
        .iter()
        .map(|a| {
            vec![
                short(&a.id),
                names.label(&a.issuer),
                names.label(&a.subject),
                a.skill.to_string(),
                format!("{:+}", a.score),
                status(a.status).to_string(),
                a.reason.as_deref().map(one_line).unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &[
            "ID", "ISSUER", "SUBJECT", "SKILL", "SCORE", "STATUS", "REASON",
        ],
        &rows,
    )?;
    if list
        .attestations
        .iter()
        .any(|a| a.status == AttestationStatus::Unbacked)
    {
        output::line(
            "Unbacked attestations are kept but do not count in trust until their collaboration \
             is known here with both issuer and subject as members who each closed their part.",
        )?;
    }
    Ok(())
}

fn status(s: AttestationStatus) -> &'static str {
    match s {
        AttestationStatus::Counted => "counted",
        AttestationStatus::Unbacked => "unbacked",
        AttestationStatus::Revoked => "revoked",
        AttestationStatus::Equivocated => "equivocated",
        AttestationStatus::Superseded => "superseded",
        AttestationStatus::Expired => "expired",
    }
}

fn status_text(a: &AttestationView) -> String {
    match &a.reason {
        Some(reason) => format!("{} ({reason})", status(a.status)),
        None => status(a.status).to_string(),
    }
}

/// `guild trust`.
pub async fn trust(ctx: &Ctx, peer: PublicKey, skill: Option<SkillTag>) -> anyhow::Result<()> {
    let mut client = ctx.client().await?;
    let call = Call::Trust(TrustParams {
        peer,
        skill: skill.clone(),
    });
    let view: TrustView = client.call_as(&call).await?;
    if ctx.json {
        return output::json(&view);
    }
    let Some(why) = view.explanation.known() else {
        // A shape this build does not know: the numbers, then the explanation as it came.
        output::line(&title(&view, &Names::default()))?;
        let mut rows = score_rows(&view);
        rows.push((
            "explanation",
            serde_json::to_string_pretty(&view.explanation)?,
        ));
        output::fields(&rows)?;
        return Ok(());
    };
    let c = &why.connectivity;
    let keys = std::iter::once(peer)
        .chain(c.bridge)
        .chain(c.bridge_set.iter().map(|b| b.node))
        .chain(why.paths.iter().flat_map(|p| p.nodes.iter().copied()))
        .chain(why.direct.iter().map(|c| c.issuer))
        .chain(why.negative.iter().map(|c| c.issuer))
        .filter(|k| *k != why.ego);
    let mut names = resolve_names(&mut client, keys).await;
    names.or_me(Some(why.ego));
    output::line(&title(&view, &names))?;
    let mut rows = score_rows(&view);
    let label = |k: &PublicKey| names.label(k);
    rows.extend([
        ("walk trust", why.walk_text()),
        ("connectivity", why.connectivity_text(&label)),
        ("negative", why.negative_text()),
    ]);
    output::fields(&rows)?;
    evidence(&view, why, &names)
}

/// `guild trust add|remove|roots`.
pub async fn roots(ctx: &Ctx, action: crate::cli::TrustAction) -> anyhow::Result<()> {
    use crate::cli::TrustAction;
    use guild_core::control::reputation::{TrustAddParams, TrustRemoveParams, TrustRoots};
    let (call, done) = match action {
        TrustAction::Add { peer, skill, note } => (
            Call::TrustAdd(TrustAddParams { peer, skill, note }),
            Some(format!("{peer} is now one of your trust roots.")),
        ),
        TrustAction::Remove { peer } => (
            Call::TrustRemove(TrustRemoveParams { peer }),
            Some(format!("{peer} is no longer one of your trust roots.")),
        ),
        TrustAction::Roots => (Call::TrustRoots, None),
    };
    let roots: TrustRoots = ctx.client().await?.call_as(&call).await?;
    if ctx.json {
        return output::json(&roots);
    }
    if let Some(done) = done {
        output::line(&done)?;
    }
    if roots.roots.is_empty() {
        output::line("No trust roots. Add someone you know with `guild trust add <peer>`.")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = roots
        .roots
        .iter()
        .map(|r| {
            vec![
                r.peer.to_string(),
                r.name.clone().unwrap_or_default(),
                r.skill
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "(all skills)".into()),
                output::relative(r.added_at),
                r.note.clone(),
            ]
        })
        .collect();
    output::table(&["PEER", "NAME", "SKILL", "ADDED", "NOTE"], &rows)?;
    Ok(())
}

fn title(view: &TrustView, names: &Names) -> String {
    let whom = (!names.is_me(&view.peer)).then(|| names.label(&view.peer));
    trust_title(whom.as_deref(), view.skill.as_ref().map(SkillTag::as_str))
}

fn score_rows(view: &TrustView) -> Vec<(&'static str, String)> {
    vec![
        ("peer", view.peer.to_string()),
        ("score", num(view.score)),
        ("find factor", factor_text(view.factor)),
    ]
}

/// The strongest paths and the attestations into the member.
fn evidence(view: &TrustView, why: &TrustExplanation, names: &Names) -> anyhow::Result<()> {
    if names.is_me(&view.peer) {
        output::line(&format!("\n{OWN_POINT_OF_VIEW}"))?;
        return Ok(());
    }
    if !why.has_evidence() {
        output::line(&format!(
            "\n{} See `guild attestations --about {}`.",
            nothing_supports(&names.label(&view.peer)),
            view.peer
        ))?;
        return Ok(());
    }
    if !why.paths.is_empty() {
        output::line("\nStrongest paths:")?;
        let rows: Vec<Vec<String>> = why
            .paths
            .iter()
            .map(|p| {
                let route: Vec<String> = p.nodes.iter().map(|k| names.label(k)).collect();
                vec![
                    format!("  {}", route.join(" → ")),
                    format!("({})", num(p.contribution)),
                ]
            })
            .collect();
        table_without_header(&rows)?;
    }
    for (title, list) in [
        ("Direct contributors", &why.direct),
        ("Negative attestations", &why.negative),
    ] {
        if list.is_empty() {
            continue;
        }
        output::line(&format!("\n{title}:"))?;
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|d| {
                vec![
                    names.label(&d.issuer),
                    d.skill_label().to_string(),
                    format!("{:+}", d.score),
                    output::relative(d.issued_at),
                    num(d.weight),
                    num(d.issuer_trust),
                    num(d.contribution),
                ]
            })
            .collect();
        output::table(
            &[
                "ISSUER",
                "SKILL",
                "SCORE",
                "ISSUED",
                "WEIGHT",
                "ISSUER TRUST",
                "CONTRIBUTION",
            ],
            &rows,
        )?;
    }
    Ok(())
}

/// Rows padded like [`output::table`], without its header line.
fn table_without_header(rows: &[Vec<String>]) -> std::io::Result<()> {
    let width = rows
        .iter()
        .map(|r| r.first().map_or(0, |c| c.chars().count()))
        .max()
        .unwrap_or(0);
    for row in rows {
        let first = row.first().map(String::as_str).unwrap_or("");
        let rest = row.get(1..).unwrap_or_default().join("  ");
        let pad = width - first.chars().count();
        output::line(&format!("{first}{}  {rest}", " ".repeat(pad)))?;
    }
    Ok(())
}

/// Members named as the dashboard names them ([`MemberNames`]).
type Names = MemberNames;

/// Looks up this node's key and the profiles of `keys` (at most [`MAX_NAME_LOOKUPS`]), best
/// effort: failures leave ids unnamed.
pub(crate) async fn resolve_names(
    client: &mut Client,
    keys: impl IntoIterator<Item = PublicKey>,
) -> Names {
    let me = match client.status().await {
        Ok(status) => status.peer_id.parse::<PublicKey>().ok(),
        Err(_) => None,
    };
    let mut wanted: Vec<PublicKey> = vec![];
    for k in keys {
        if Some(k) != me && !wanted.contains(&k) {
            wanted.push(k);
        }
    }
    let mut names = Vec::new();
    for key in wanted.into_iter().take(MAX_NAME_LOOKUPS) {
        let call = Call::ProfileGet(ProfileGetParams { peer: Some(key) });
        match client.call_as::<ProfileResult>(&call).await {
            Ok(Some(profile)) => names.push((key, profile.body.name)),
            Ok(None) => {}
            Err(ClientError::Call(e)) if e.code == ErrorCode::NotFound => {}
            // The connection is no longer usable (or the daemon misbehaves): stop asking.
            Err(_) => break,
        }
    }
    MemberNames::new(me, names)
}
