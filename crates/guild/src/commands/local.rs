//! Commands that do not need a running daemon: `init`, `daemon`, `completions`.

use super::Ctx;
use crate::cli::{Cli, DaemonArgs};
use crate::output;
use anyhow::Context as _;
use clap::CommandFactory;
use guild_node::daemon::DaemonOptions;
use std::path::PathBuf;

/// `guild init`.
pub fn init(ctx: &Ctx, force: bool) -> anyhow::Result<()> {
    let report = guild_node::home::init(&ctx.home, force)?;
    if ctx.json {
        return output::json(&report);
    }
    let config = format!(
        "{}{}",
        report.config.display(),
        if report.kept_config { " (kept)" } else { "" }
    );
    output::line(&format!("Initialised Guild home {}", report.home.display()))?;
    output::fields(&[
        ("peer id", report.peer_id.clone()),
        ("config", config),
        ("store", report.store.display().to_string()),
    ])?;
    output::line(
        "Next: `guild daemon` joins the mesh; `guild profile set --name …` says who you are.",
    )?;
    Ok(())
}

/// `guild daemon`: runs until stopped, on a multi-threaded runtime.
pub fn daemon(
    home: Option<PathBuf>,
    socket: Option<PathBuf>,
    args: DaemonArgs,
) -> anyhow::Result<()> {
    let options = DaemonOptions {
        home,
        listen: args.listen,
        bootstrap: args.bootstrap,
        no_mdns: args.no_mdns,
        community: args.community,
        socket,
        log_level: args.log_level,
        web_listen: args.web_listen,
        init_if_needed: args.init,
        join: args.join.map(|code| (code, args.trust)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("guild")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(guild_node::daemon::run(options))
}

/// `guild completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "guild", &mut script);
    use std::io::Write as _;
    std::io::stdout().lock().write_all(&script)?;
    Ok(())
}
