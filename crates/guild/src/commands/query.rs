//! `status`, `peers`, `find`, `connect`, `web`, `shutdown`.

use super::Ctx;
use crate::cli::FindArgs;
use crate::output;
use anyhow::Context as _;
use guild_core::control::{
    Call, ConnectParams, Connected, FindMatch, FindParams, FindResults, Peers, Status, WebLogin,
    WebState, WebStatus,
};

/// `guild status`.
pub async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let mut client = ctx.client().await?;
    let status: Status = client.status().await?;
    if ctx.json {
        return output::json(&status);
    }
    let listen = if status.listen_addrs.is_empty() {
        "(none yet)".to_string()
    } else {
        status.listen_addrs.join("\n")
    };
    let mut rows = vec![
        ("peer id", status.peer_id.clone()),
        ("community", status.community.clone()),
        (
            "version",
            format!("{} (pid {})", status.version, status.pid),
        ),
        ("uptime", output::duration(status.uptime_secs)),
        ("listening", listen),
    ];
    if !status.external_addrs.is_empty() {
        rows.push(("external", status.external_addrs.join("\n")));
    }
    rows.push(("peers", peers_line(&status)));
    rows.push((
        "index",
        format!(
            "{} profiles, {} records",
            status.index.profiles, status.index.records
        ),
    ));
    rows.push(("socket", client.socket().display().to_string()));
    if let Some(web) = &status.web {
        rows.push(("web", web_line(web)));
    }
    output::fields(&rows)?;
    Ok(())
}

/// Connections and, when the node has none, why and what to do.
fn peers_line(status: &guild_core::control::Status) -> String {
    use guild_core::control::MeshState;
    let Some(m) = &status.mesh else {
        return format!("{} connected", status.connected_peers);
    };
    let target = format!("(keeps {}-{})", m.low, m.high);
    match m.state {
        MeshState::Connected | MeshState::Thin => {
            format!("{} connected {target}", status.connected_peers)
        }
        MeshState::Connecting => format!(
            "0 connected, connecting: {}",
            m.reason.as_deref().unwrap_or("dialling")
        ),
        MeshState::Alone => format!(
            "0 connected: not connected to the community: {}",
            m.reason.as_deref().unwrap_or("no reason known")
        ),
    }
}

/// The dashboard's state in one line, for `guild status`.
fn web_line(web: &WebStatus) -> String {
    let url = web.url.clone().unwrap_or_default();
    let note = web
        .note
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    match web.state {
        WebState::Serving => format!("{url} (`guild web` prints the login link)"),
        WebState::Moved => format!("{url}{note}"),
        WebState::Unavailable => format!("unavailable{note}"),
        WebState::Disabled => "off (web.enabled = false)".to_string(),
    }
}

/// What `guild web --json` prints.
#[derive(serde::Serialize)]
struct WebLink {
    state: WebState,
    url: String,
    login_url: String,
    /// Seconds the link works for, once.
    expires_in_secs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// `guild web`: a fresh one-time login link for the dashboard, from the daemon (`web.login`).
pub async fn web(ctx: &Ctx, open: bool) -> anyhow::Result<()> {
    let mut client = ctx.client().await?;
    let status: Status = client.status().await?;
    let Some(web) = status.web else {
        anyhow::bail!(
            "this daemon (version {}) serves no web dashboard",
            status.version
        );
    };
    match (web.state, &web.url) {
        (WebState::Serving | WebState::Moved, Some(_)) => {}
        (WebState::Disabled, _) => anyhow::bail!(
            "the web dashboard is off: set `enabled = true` under [web] in {} and restart the daemon",
            ctx.home.config_file().display()
        ),
        _ => anyhow::bail!(
            "the web dashboard is unavailable: {}",
            web.note.as_deref().unwrap_or("no reason given")
        ),
    };
    let link: WebLogin = client.call_as(&Call::WebLogin).await?;
    let (url, login_url) = (link.url, link.login_url);
    if ctx.json {
        return output::json(&WebLink {
            state: web.state,
            url,
            login_url,
            expires_in_secs: link.expires_in_secs,
            note: web.note,
        });
    }
    if let (WebState::Moved, Some(note)) = (web.state, &web.note) {
        eprintln!("note: {note}");
    }
    output::line(&login_url)?;
    if !open {
        eprintln!(
            "(the link works once, within {} minutes; run `guild web` again for another)",
            link.expires_in_secs / 60
        );
    }
    if open {
        open_in_browser(&login_url)?;
    }
    Ok(())
}

/// Opens a URL with the desktop's opener.
fn open_in_browser(url: &str) -> anyhow::Result<()> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let status = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run `{opener}`; open the link above by hand"))?;
    if !status.success() {
        anyhow::bail!("`{opener}` failed ({status}); open the link above by hand");
    }
    Ok(())
}

/// `guild peers`.
pub async fn peers(ctx: &Ctx) -> anyhow::Result<()> {
    let peers: Peers = ctx.client().await?.call_as(&Call::Peers).await?;
    if ctx.json {
        return output::json(&peers);
    }
    if peers.peers.is_empty() {
        output::line("No peers connected.")?;
    } else {
        let rows: Vec<Vec<String>> = peers
            .peers
            .iter()
            .map(|p| {
                vec![
                    p.peer_id.clone(),
                    p.name.clone().unwrap_or_default(),
                    p.direction.map(|d| d.to_string()).unwrap_or_default(),
                    p.latency_ms
                        .map(|ms| format!("{ms} ms"))
                        .unwrap_or_default(),
                    p.connected_since.map(output::relative).unwrap_or_default(),
                    p.addresses.join(" "),
                ]
            })
            .collect();
        output::table(
            &["PEER", "NAME", "DIRECTION", "LATENCY", "SINCE", "ADDRESSES"],
            &rows,
        )?;
    }
    if !peers.remembered.is_empty() {
        output::line("")?;
        output::line(&format!(
            "Remembered, not connected ({}; a restart dials them in this order):",
            peers.remembered.len()
        ))?;
        let rows: Vec<Vec<String>> = peers
            .remembered
            .iter()
            .map(|p| {
                vec![
                    p.peer_id.clone(),
                    p.name.clone().unwrap_or_default(),
                    output::relative(p.last_seen),
                    p.sessions.to_string(),
                    p.addresses.first().cloned().unwrap_or_default(),
                ]
            })
            .collect();
        output::table(&["PEER", "NAME", "LAST SEEN", "SESSIONS", "ADDRESS"], &rows)?;
    }
    Ok(())
}

/// `guild find`.
pub async fn find(ctx: &Ctx, args: FindArgs) -> anyhow::Result<()> {
    let params = FindParams {
        query: (!args.words.is_empty()).then(|| args.words.join(" ")),
        skills: args.skills,
        resources: args.resources,
        text: args.text,
        limit: args.limit,
        local_only: args.local,
    };
    let found: FindResults = ctx.client().await?.call_as(&Call::Find(params)).await?;
    if ctx.json {
        return output::json(&found);
    }
    if found.results.is_empty() {
        output::line("No members found.")?;
    } else {
        let rows: Vec<Vec<String>> = found.results.iter().map(find_row).collect();
        output::table(
            &["SCORE", "TRUST", "PEER", "NAME", "SEEN", "FROM", "MATCHED"],
            &rows,
        )?;
    }
    for s in &found.suggestions {
        let similar: Vec<&str> = s.did_you_mean.iter().map(|t| t.as_str()).collect();
        if !similar.is_empty() {
            output::line(&format!(
                "`{}` matched nobody: did you mean {}?",
                s.tag,
                similar.join(", ")
            ))?;
        }
    }
    Ok(())
}

fn find_row(m: &FindMatch) -> Vec<String> {
    let level = |tag: &str| {
        m.skills
            .iter()
            .find(|s| s.tag.as_str() == tag)
            .map(|s| format!(", {}", s.level))
            .unwrap_or_default()
    };
    let mut matched: Vec<String> = m
        .matched
        .iter()
        .map(|x| match (x.field.as_str(), x.how.as_str()) {
            ("text", "word") => format!("“{}” in name/bio", x.term),
            ("text", _) => format!("{} ({} in name/bio)", x.term, x.word),
            ("resource", "exact") => format!("{} (resource)", x.term),
            ("resource", how) => format!("{} (resource, {how} of {})", x.term, x.word),
            (_, "exact") => format!("{} ({}{})", x.term, "exact", level(&x.term)),
            (_, how) => format!("{} ({how} of {}{})", x.term, x.word, level(&x.term)),
        })
        .collect();
    if matched.is_empty() {
        matched = m
            .skills
            .iter()
            .map(|s| format!("{} ({})", s.tag, s.level))
            .chain(m.resources.iter().map(|r| format!("{r} (resource)")))
            .collect();
    }
    vec![
        format!("{:.2}", m.score),
        m.trust
            .map(|t| format!("{t:.2}"))
            .unwrap_or_else(|| "stranger".into()),
        m.peer.to_string(),
        match &m.introduced_by {
            // Context, never trust: who introduced you to them.
            Some(by) => {
                let by = by.to_string();
                let short: String = by.chars().take(12).collect();
                format!("{} (introduced by {short}…)", m.name)
            }
            None => m.name.clone(),
        },
        m.last_seen.map(output::relative).unwrap_or_default(),
        m.source.to_string(),
        matched.join(", "),
    ]
}

/// `guild connect`.
pub async fn connect(ctx: &Ctx, addr: String) -> anyhow::Result<()> {
    let call = Call::Connect(ConnectParams { addr: addr.clone() });
    let connected: Connected = ctx.client().await?.call_as(&call).await?;
    if ctx.json {
        return output::json(&connected);
    }
    match connected.peer_id {
        Some(peer) => output::line(&format!("Connected to {peer}"))?,
        None => output::line(&format!("Connected to {addr}"))?,
    }
    Ok(())
}

/// `guild shutdown`.
pub async fn shutdown(ctx: &Ctx) -> anyhow::Result<()> {
    let result = ctx.client().await?.call(&Call::Shutdown).await?;
    if ctx.json {
        return output::json(&result);
    }
    output::line("The guild daemon is shutting down.")?;
    Ok(())
}
