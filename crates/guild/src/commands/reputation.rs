//! `vouch`, `revoke`, `attestations`, `trust`: reputation.

use super::pull::{one_line, short};
use super::Ctx;
use crate::cli::VouchArgs;
use crate::output;
use guild_core::control::reputation::{
    AttestationStatus, AttestationView, Attestations, AttestationsParams, RevokeParams,
    TrustParams, TrustView, VouchParams,
};
use guild_core::control::{Call, Client, ClientError, ErrorCode, ProfileGetParams, ProfileResult};
use guild_core::{PublicKey, RecordId, SkillTag};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};

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
    let names = Names::resolve(&mut client, [view.subject]).await;
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
    let names = Names::resolve(&mut client, keys).await;
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
    let Ok(why) = serde_json::from_value::<Explanation>(view.explanation.clone()) else {
        // A shape this build does not know: the numbers, then the explanation as it came.
        let names = Names::default();
        output::line(&title(&view, &names))?;
        let mut rows = score_rows(&view);
        rows.push((
            "explanation",
            serde_json::to_string_pretty(&view.explanation)?,
        ));
        output::fields(&rows)?;
        return Ok(());
    };
    let keys = std::iter::once(peer)
        .chain(why.connectivity.bridge)
        .chain(why.paths.iter().flat_map(|p| p.nodes.iter().copied()))
        .chain(why.direct.iter().map(|c| c.issuer))
        .chain(why.negative.iter().map(|c| c.issuer))
        .filter(|k| Some(*k) != why.ego);
    let mut names = Names::resolve(&mut client, keys).await;
    if names.me.is_none() {
        names.me = why.ego;
    }
    output::line(&title(&view, &names))?;
    let mut rows = score_rows(&view);
    rows.extend(explanation_rows(&why, &names));
    output::fields(&rows)?;
    evidence(&view, &why, &names)
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
    let whom = if names.me == Some(view.peer) {
        "yourself".to_string()
    } else {
        names.label(&view.peer)
    };
    match &view.skill {
        Some(skill) => format!("Your trust in {whom} for {skill}"),
        None => format!("Your trust in {whom}"),
    }
}

fn score_rows(view: &TrustView) -> Vec<(&'static str, String)> {
    vec![
        ("peer", view.peer.to_string()),
        ("score", num(view.score)),
        (
            "find factor",
            format!(
                "{} (0.5 = neutral, 1 = your most trusted)",
                num(view.factor)
            ),
        ),
    ]
}

/// Walk trust, connectivity penalty with its bridge, negative total.
fn explanation_rows(why: &Explanation, names: &Names) -> Vec<(&'static str, String)> {
    let c = &why.connectivity;
    let bridge = c.bridge.map(|b| names.label(&b));
    let connectivity = match (&bridge, c.factor < 1.0) {
        (None, false) => "no penalty (×1)".to_string(),
        (Some(b), false) => format!(
            "no penalty (×1); the bridge {b} carries {} of the walks",
            percent(c.bridge_share)
        ),
        (None, true) => format!("−{} (×{})", num(c.penalty), num(c.factor)),
        (Some(b), true) => {
            let mut s = format!(
                "−{} (×{}): {} of the walks pass through the bridge {b}",
                num(c.penalty),
                num(c.factor),
                percent(c.bridge_share)
            );
            if c.inherited_factor < 1.0 {
                s.push_str(&format!(
                    ", ×{} of it inherited from {b}'s own penalty",
                    num(c.inherited_factor)
                ));
            }
            s
        }
    };
    vec![
        (
            "walk trust",
            format!("{} ({} walks)", num(why.walk_trust), why.walks),
        ),
        ("connectivity", connectivity),
        (
            "negative",
            if why.negative_total == 0.0 {
                "none".to_string()
            } else {
                format!("−{}", num(why.negative_total.abs()))
            },
        ),
    ]
}

/// The strongest paths and the attestations into the member.
fn evidence(view: &TrustView, why: &Explanation, names: &Names) -> anyhow::Result<()> {
    if names.me == Some(view.peer) {
        output::line(
            "\nTrust is computed from your own point of view: every path starts with you.",
        )?;
        return Ok(());
    }
    if why.paths.is_empty() && why.direct.is_empty() && why.negative.is_empty() {
        output::line(&format!(
            "\nNothing supports this score yet: no counted attestation connects you to {}. \
             Attestations count once their collaboration is known here and both sides closed their part \
             (`guild attestations --about {}`).",
            names.label(&view.peer),
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
                    d.skill.clone(),
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

/// A number for people: three significant digits, no exponent for the usual range.
fn num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x.is_finite() {
            "0".into()
        } else {
            x.to_string()
        };
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    let text = format!("{x:.decimals$}");
    // 0.500 → 0.5, 1.00 → 1
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// Display names for peer ids, looked up with `profile.get`, best effort.
#[derive(Default)]
struct Names {
    /// This node's own key, shown as "me".
    me: Option<PublicKey>,
    /// Names from the local index (non-empty only).
    names: HashMap<PublicKey, String>,
    /// Names held by more than one of the peers looked up: shown with a short id.
    ambiguous: BTreeSet<String>,
}

impl Names {
    /// Looks up this node's key and the profiles of `keys`. Failures leave ids unnamed.
    async fn resolve(client: &mut Client, keys: impl IntoIterator<Item = PublicKey>) -> Names {
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
        let mut names = HashMap::new();
        for key in wanted.into_iter().take(MAX_NAME_LOOKUPS) {
            let call = Call::ProfileGet(ProfileGetParams { peer: Some(key) });
            match client.call_as::<ProfileResult>(&call).await {
                Ok(Some(profile)) if !profile.body.name.trim().is_empty() => {
                    names.insert(key, one_line(&profile.body.name));
                }
                Ok(_) => {}
                Err(ClientError::Call(e)) if e.code == ErrorCode::NotFound => {}
                // The connection is no longer usable (or the daemon misbehaves): stop asking.
                Err(_) => break,
            }
        }
        let mut seen = BTreeSet::new();
        let mut ambiguous = BTreeSet::new();
        for name in names.values() {
            if !seen.insert(name.to_lowercase()) {
                ambiguous.insert(name.to_lowercase());
            }
        }
        Names {
            me,
            names,
            ambiguous,
        }
    }

    /// "me", a name (with a short id when two peers share it), or a short peer id.
    fn label(&self, key: &PublicKey) -> String {
        if Some(*key) == self.me {
            return "me".into();
        }
        match self.names.get(key) {
            Some(name) if self.ambiguous.contains(&name.to_lowercase()) => {
                format!("{name} ({})", short_peer(key))
            }
            Some(name) => name.clone(),
            None => short_peer(key),
        }
    }
}

/// The last characters of a peer id (the first ones are the same for every ed25519 key).
fn short_peer(key: &PublicKey) -> String {
    let id = key.to_string();
    let tail: String = id
        .chars()
        .skip(id.chars().count().saturating_sub(8))
        .collect();
    format!("…{tail}")
}

/// The daemon's trust explanation (`guild_trust::Explanation<PublicKey>` as JSON). The numbers
/// shown are required (anything else is printed as it came); lists may be missing.
#[derive(Debug, Deserialize)]
struct Explanation {
    #[serde(default)]
    ego: Option<PublicKey>,
    walk_trust: f64,
    walks: u64,
    connectivity: Connectivity,
    negative_total: f64,
    #[serde(default)]
    paths: Vec<PathContribution>,
    #[serde(default)]
    direct: Vec<Contributor>,
    #[serde(default)]
    negative: Vec<Contributor>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct Connectivity {
    bridge: Option<PublicKey>,
    bridge_share: f64,
    factor: f64,
    inherited_factor: f64,
    penalty: f64,
}

impl Default for Connectivity {
    fn default() -> Self {
        Connectivity {
            bridge: None,
            bridge_share: 0.0,
            factor: 1.0,
            inherited_factor: 1.0,
            penalty: 0.0,
        }
    }
}

#[derive(Debug, Deserialize)]
struct PathContribution {
    nodes: Vec<PublicKey>,
    #[serde(default)]
    contribution: f64,
}

#[derive(Debug, Deserialize)]
struct Contributor {
    issuer: PublicKey,
    #[serde(default)]
    skill: String,
    #[serde(default)]
    score: i32,
    #[serde(default)]
    issued_at: u64,
    #[serde(default)]
    weight: f64,
    #[serde(default)]
    issuer_trust: f64,
    #[serde(default)]
    contribution: f64,
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(0.412), "0.412");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(0.000_123_4), "0.000123");
        assert_eq!(num(-0.25), "-0.25");
        assert_eq!(num(12.345), "12.3");
    }
}
