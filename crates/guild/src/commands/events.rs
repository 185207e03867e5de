//! `guild events`: the subscription stream, as JSON lines or one readable line per event.

use super::pull::{one_line, short};
use super::Ctx;
use crate::output;
use guild_core::control::Event;
use serde_json::Value;

/// Streams events until the daemon stops or stdout closes.
pub async fn run(ctx: &Ctx, kinds: Vec<String>) -> anyhow::Result<()> {
    let mut events = ctx.client().await?.subscribe(kinds).await?;
    while let Some(value) = events.next_value().await? {
        let text = if ctx.json {
            serde_json::to_string(&value)?
        } else {
            human(value)
        };
        output::line(&text)?;
    }
    Ok(())
}

/// One line per event; kinds this build does not know are shown as their JSON.
///
/// Long (about 190 lines) because it is one match arm per event kind: each kind's line is
/// written where its fields are.
fn human(value: Value) -> String {
    let Ok(event) = serde_json::from_value::<Event>(value.clone()) else {
        let kind = value["event"].as_str().unwrap_or("?").to_string();
        return format!("{kind:<18} {value}");
    };
    let kind = event.kind();
    let rest = match event {
        Event::PeerConnected {
            peer,
            address,
            direction,
        } => {
            let mut s = peer;
            if let Some(a) = address {
                s.push_str(&format!(" at {a}"));
            }
            if let Some(d) = direction {
                s.push_str(&format!(" ({d})"));
            }
            s
        }
        Event::PeerDisconnected { peer } => peer,
        Event::ProfileLearned { peer, name, skills } => {
            let skills: Vec<String> = skills
                .iter()
                .map(|s| format!("{} ({})", s.tag, s.level))
                .collect();
            format!("{peer} \"{name}\": {}", skills.join(", "))
        }
        Event::NeedMatched {
            need,
            asker,
            text,
            matched,
            roles,
            expires_at,
        } => {
            let matched: Vec<&str> = matched.iter().map(|t| t.as_str()).collect();
            // A version 1 need's one role (`helper`) says nothing more than the tags.
            let roles: Vec<&str> = roles
                .iter()
                .map(|t| t.as_str())
                .filter(|r| *r != guild_core::record::DEFAULT_ROLE_LABEL)
                .collect();
            let roles = if roles.is_empty() {
                String::new()
            } else {
                format!("; your role: {}", roles.join(", "))
            };
            format!(
                "{need} from {asker}: \"{}\" (you have {}{roles}; expires {})",
                one_line(&text),
                matched.join(", "),
                output::relative(expires_at)
            )
        }
        Event::NeedWithdrawn { need, asker } => format!("{need} withdrawn by {asker}"),
        Event::OfferWithdrawn { offer, need, from } => {
            format!("{offer} on need {} withdrawn by {from}", short(&need))
        }
        Event::OfferReceived {
            offer,
            need,
            from,
            text,
        } => format!(
            "{offer} on need {} from {from}: \"{}\"",
            short(&need),
            one_line(&text)
        ),
        Event::DeliveryOutcome {
            record,
            kind,
            to,
            delivered,
            attempts,
            error,
        } => {
            let kind = kind.replace('_', " ");
            if delivered {
                format!("{kind} {record} delivered to {to} after {attempts} attempts")
            } else {
                format!(
                    "{kind} {record} NOT delivered to {to} after {attempts} attempts: {}",
                    error.unwrap_or_else(|| "no reason given".into())
                )
            }
        }
        Event::CollabOpened {
            collab,
            purpose,
            members,
        } => {
            let members: Vec<String> = members.iter().map(|m| m.to_string()).collect();
            format!(
                "{collab} \"{}\" with {}",
                one_line(purpose.as_deref().unwrap_or("")),
                members.join(", ")
            )
        }
        Event::CollabInvited {
            collab,
            by,
            purpose,
        } => format!(
            "{collab} \"{}\" by {by} (join with `guild collab join`)",
            one_line(purpose.as_deref().unwrap_or(""))
        ),
        Event::CollabEntryAdded {
            collab,
            entry: _,
            author,
            kind,
            text,
        } => {
            let mut s = format!("{} {author} {kind}", short(&collab));
            if let Some(text) = text.filter(|t| !t.is_empty()) {
                s.push_str(&format!(": \"{}\"", one_line(&text)));
            }
            s
        }
        Event::MessageReceived {
            message: _,
            from,
            text,
        } => format!("from {from}: \"{}\"", one_line(&text)),
        Event::AttestationReceived {
            issuer,
            subject,
            skill,
            score,
            counted,
            ..
        } => format!(
            "{issuer} rates {subject} {score:+} for {skill}{}",
            if counted { "" } else { " (unbacked so far)" }
        ),
        Event::AttestationEquivocation { issuer, seq, .. } => {
            format!("{issuer} signed two attestations with sequence {seq}; none of theirs count")
        }
        Event::TrustChanged { collab } => {
            format!("proof for collaboration {collab} arrived; trust updated")
        }
        Event::EventsDropped { count } => {
            format!("{count} events dropped (this reader was too slow)")
        }
        Event::IntroRequested {
            id,
            from,
            target,
            note,
        } => format!(
            "{id} {from} asks you to introduce them to {target}: \"{}\" (answer with `guild intro accept|decline`)",
            one_line(&note)
        ),
        Event::IntroReceived {
            id,
            from,
            by,
            note,
            introducer_note,
        } => format!(
            "{id} {by} introduces {from}: \"{}\" — {from}: \"{}\" (answer with `guild intro accept|decline`)",
            one_line(&introducer_note),
            one_line(&note)
        ),
        Event::IntroAnswered {
            id,
            by,
            role,
            accepted,
            note,
        } => {
            let what = match (role, accepted) {
                (guild_core::record::IntroRole::Introducer, true) => "passed your request on",
                (guild_core::record::IntroRole::Introducer, false) => "declined to introduce you",
                (guild_core::record::IntroRole::Target, true) => "accepted the introduction",
                (guild_core::record::IntroRole::Target, false) => "declined the introduction",
            };
            format!("{id} {by} {what}: \"{}\"", one_line(&note))
        }
        Event::InviteJoined {
            invite,
            peer,
            name,
            uses,
        } => format!(
            "{} joined with code {invite} (use {uses})",
            name.map(|n| format!("{n} ({peer})"))
                .unwrap_or_else(|| peer.to_string())
        ),
    };
    format!("{kind:<18} {rest}")
}
