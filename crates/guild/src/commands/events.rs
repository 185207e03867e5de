//! `guild events`: the subscription stream, as JSON lines or one readable line per event.

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
        Event::EventsDropped { count } => {
            format!("{count} events dropped (this reader was too slow)")
        }
    };
    format!("{kind:<18} {rest}")
}
