//! `guild profile show | set | skill add|rm | resource add|rm`.

use super::Ctx;
use crate::cli::{ProfileCommand, ResourceCommand, SkillCommand};
use crate::output;
use anyhow::Context as _;
use guild_core::control::{
    Call, ProfileGetParams, ProfileResult, ProfileSetParams, ProfileUpdateParams, ResourceInput,
    SkillInput,
};
use guild_core::PublicKey;
use std::io::Read as _;
use std::path::Path;

/// Runs a profile subcommand and prints the resulting profile.
pub async fn run(ctx: &Ctx, command: ProfileCommand) -> anyhow::Result<()> {
    let (call, own) = match command {
        ProfileCommand::Show { peer } => {
            let peer = peer
                .map(|p| p.parse::<PublicKey>())
                .transpose()
                .map_err(|e| crate::exit::Usage(e.to_string()))?;
            let own = peer.is_none();
            (Call::ProfileGet(ProfileGetParams { peer }), own)
        }
        ProfileCommand::Set {
            name,
            bio,
            links,
            from_file,
        } => match from_file {
            Some(path) => (Call::ProfileSet(read_profile(&path)?), true),
            None => (
                Call::ProfileUpdate(ProfileUpdateParams {
                    name,
                    bio,
                    links: (!links.is_empty()).then_some(links),
                    ..Default::default()
                }),
                true,
            ),
        },
        ProfileCommand::Skill(SkillCommand::Add { tags, level }) => (
            update(ProfileUpdateParams {
                add_skills: tags
                    .into_iter()
                    .map(|tag| SkillInput { tag, level })
                    .collect(),
                ..Default::default()
            }),
            true,
        ),
        ProfileCommand::Skill(SkillCommand::Rm { tags }) => (
            update(ProfileUpdateParams {
                remove_skills: tags,
                ..Default::default()
            }),
            true,
        ),
        ProfileCommand::Resource(ResourceCommand::Add {
            tag,
            description,
            availability,
        }) => (
            update(ProfileUpdateParams {
                add_resources: vec![ResourceInput {
                    tag,
                    description,
                    availability,
                }],
                ..Default::default()
            }),
            true,
        ),
        ProfileCommand::Resource(ResourceCommand::Rm { tags }) => (
            update(ProfileUpdateParams {
                remove_resources: tags,
                ..Default::default()
            }),
            true,
        ),
    };
    let mut client = ctx.client().await?;
    let profile: ProfileResult = client.call_as(&call).await?;
    if ctx.json {
        return output::json(&profile);
    }
    show(profile.as_ref(), own)?;
    // Another member's page: who introduced you, if anyone (context, never trust).
    if let (false, Some(p)) = (own, profile.as_ref()) {
        let intros: guild_core::control::intro::Introductions =
            client.call_as(&Call::IntroList).await?;
        if let Some(i) = intros.introduced.iter().find(|i| i.peer == p.signer) {
            output::fields(&[(
                "introduced by",
                format!("{} ({})", i.by, output::relative(i.at)),
            )])?;
        }
    }
    Ok(())
}

fn update(params: ProfileUpdateParams) -> Call {
    Call::ProfileUpdate(params)
}

fn read_profile(path: &Path) -> anyhow::Result<ProfileSetParams> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the profile from stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    serde_json::from_str(&text)
        .map_err(|e| crate::exit::Usage(format!("{}: {e}", path.display())).into())
}

fn show(
    profile: Option<&guild_core::Signed<guild_core::Profile>>,
    own: bool,
) -> anyhow::Result<()> {
    let Some(signed) = profile else {
        if own {
            output::line("You have no profile yet; start one with `guild profile set --name …`.")?;
        } else {
            output::line("No profile known.")?;
        }
        return Ok(());
    };
    let p = &signed.body;
    let or_dash = |s: String| if s.is_empty() { "-".to_string() } else { s };
    let skills = p
        .skills
        .iter()
        .map(|s| format!("{} ({})", s.tag, s.level))
        .collect::<Vec<_>>()
        .join("\n");
    let resources = p
        .resources
        .iter()
        .map(|r| {
            let mut line = r.tag.to_string();
            if !r.description.is_empty() {
                line.push_str(&format!(": {}", r.description));
            }
            if !r.availability.is_empty() {
                line.push_str(&format!(" [{}]", r.availability));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n");
    output::fields(&[
        ("name", or_dash(p.name.clone())),
        ("peer id", p.issuer.to_string()),
        ("bio", or_dash(p.bio.clone())),
        ("skills", or_dash(skills)),
        ("resources", or_dash(resources)),
        ("links", or_dash(p.links.join("\n"))),
        ("issued", output::relative(p.issued_at)),
        ("expires", output::relative(p.expires_at)),
    ])?;
    Ok(())
}
