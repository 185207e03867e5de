//! `guild daemon`: run a node until SIGINT/SIGTERM or a `shutdown` call.
//!
//! Start-up order is chosen so the first error a user sees is the useful one: home and identity,
//! then the control socket (a live socket means another daemon — say so with its pid), then the
//! store (held by another process: name it; its lock makes this the home's only daemon), then
//! binding the socket (a stale one is removed only under that lock), then the metrics port
//! (taken: fail before the network starts), then the store's load and the network — the socket
//! answers from the start of the load, through a [`Gate`]: `status` says how far the load has
//! got until the node is ready, other calls wait for it a while. Shutdown stops accepting control
//! connections, lets in-flight calls finish for a moment, stops the node (which flushes the
//! store), and removes the socket and pid file — all within [`SHUTDOWN_TIMEOUT`].

use crate::api::NodeHandle;
use crate::config::{check_multiaddr, Config};
use crate::control::{self, Gate, ServerLimits, ServerStats};
use crate::home::{Home, ENV_LOG};
use crate::node::{Node, NodeOptions, Startup};
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Longest a clean shutdown may take before the daemon gives up waiting and exits.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the control socket waits for the network's first listen address before it serves
/// without one (see [`run`]).
pub const LISTEN_WAIT: Duration = Duration::from_secs(5);

/// Command-line overrides for one run of the daemon (they win over the config file).
#[derive(Debug, Clone, Default)]
pub struct DaemonOptions {
    /// `--home`.
    pub home: Option<PathBuf>,
    /// `--listen` (repeatable).
    pub listen: Vec<String>,
    /// `--bootstrap` (repeatable).
    pub bootstrap: Vec<String>,
    /// `--no-mdns`.
    pub no_mdns: bool,
    /// `--community`.
    pub community: Option<String>,
    /// `--socket`.
    pub socket: Option<PathBuf>,
    /// `--log-level`.
    pub log_level: Option<String>,
    /// `--web-listen`: where to serve the dashboard (`web.listen`).
    pub web_listen: Option<String>,
    /// Initialise the home first if it has no identity (used by the README's one-line start).
    pub init_if_needed: bool,
    /// `--join CODE [--trust]`: join the code's community on start (see `guild join`).
    pub join: Option<(String, bool)>,
}

/// Applies the flags to a loaded config and re-validates it.
pub fn apply_overrides(
    config: &mut Config,
    o: &DaemonOptions,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    if !o.listen.is_empty() {
        for a in &o.listen {
            check_multiaddr(a, false).map_err(|e| anyhow::anyhow!("--listen: {e}"))?;
        }
        config.network.listen = o.listen.clone();
    }
    for a in &o.bootstrap {
        check_multiaddr(a, true).map_err(|e| anyhow::anyhow!("--bootstrap: {e}"))?;
        config.network.bootstrap.push(a.clone());
    }
    if o.no_mdns {
        config.network.mdns = false;
    }
    if let Some(c) = &o.community {
        config.network.community = c.clone();
    }
    if let Some(l) = &o.log_level {
        config.log.level = l.clone();
    }
    if let Some(w) = &o.web_listen {
        config.web.listen = w.clone();
    }
    config.validate(path)?;
    Ok(())
}

fn init_logging(config: &Config, flag: Option<&str>) {
    let filter = flag
        .map(str::to_string)
        .or_else(|| std::env::var(ENV_LOG).ok().filter(|v| !v.is_empty()))
        .or_else(|| std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| config.log.level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Removes the pid file when dropped.
struct PidFile(PathBuf);

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the daemon until it is told to stop. Returns when the node has shut down cleanly.
///
/// Long (about 180 lines) on purpose: the start-up sequence in the order it must happen (home,
/// config and `--join`, the socket's single-daemon check, store, listeners bound before the
/// network so a taken port fails early, the node, then serving and the orderly stop), read
/// top to bottom.
pub async fn run(options: DaemonOptions) -> anyhow::Result<()> {
    let mut signals = StopSignals::install();
    let home = Home::resolve(options.home.as_deref())?;
    let fresh = !home.is_initialised();
    if !home.is_initialised() {
        if options.init_if_needed {
            let report = crate::home::init(&home, false)?;
            eprintln!(
                "initialised {} (peer id {})",
                report.home.display(),
                report.peer_id
            );
        } else {
            bail!(
                "no identity in {}: run `guild init` first (or `guild daemon --init`)",
                home.dir.display()
            );
        }
    }
    let (mut config, warnings) = home.config()?;
    apply_overrides(&mut config, &options, &home.config_file())?;
    if let Some((code, _)) = &options.join {
        // A home made by this run, or one that never joined anyone, takes the code's community;
        // one that joined a community must belong to it.
        let movable = fresh
            || crate::invite::may_move(&config.network.community, config.network.bootstrap.len());
        let home_community = (!movable).then_some(config.network.community.as_str());
        let code = crate::invite::check_code(code, home_community)
            .map_err(|e| anyhow::anyhow!("--join: {}", e.message))?;
        config.network.community = code.body.community.clone();
    }
    init_logging(&config, options.log_level.as_deref());
    for w in warnings {
        tracing::warn!("{w}");
    }
    let identity = home.identity()?;
    let socket = home.socket(options.socket.as_deref(), Some(&config));

    // A daemon answering on the socket is named first; the store's lock then makes this the
    // home's only daemon, and only under it is a stale socket removed and ours bound.
    control::check_not_running(&socket).await?;
    let store = guild_store::Store::open(&home.store_dir())?;
    let listener = control::bind(&socket).await?;
    // Bound before the network starts, so a taken port fails the start-up before anything else
    // has begun (served once the node has registered its metrics).
    let metrics_listener = if config.metrics.enabled {
        let addr: std::net::SocketAddr = config
            .metrics
            .listen
            .parse()
            .context("metrics.listen is not an address")?;
        let l = crate::metrics::bind(addr)
            .await
            .with_context(|| format!("binding the metrics endpoint on {addr}"))?;
        Some((l.local_addr().unwrap_or(addr), l))
    } else {
        None
    };
    // The dashboard is bound before the network starts too, but a taken port never stops the
    // daemon: it moves to a free loopback port, or is reported unavailable (`guild status`).
    let (web_status, web_listener) = crate::web::bind(&config.web).await;
    // Login links come from `web.login` now; a token file an earlier version wrote goes.
    crate::web::auth::remove_old_token_file(&home.dir);
    let web_tickets = web_listener
        .as_ref()
        .map(|_| crate::web::LoginTickets::default());
    std::fs::write(home.pid_file(), format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", home.pid_file().display()))?;
    let _pid = PidFile(home.pid_file());

    let opts = NodeOptions::from_config(&config).map_err(|e| anyhow::anyhow!(e))?;
    let listens = !opts.net.listen.is_empty();
    let mut registry = prometheus_client::registry::Registry::default();
    // The socket answers from here on, through a gate: `status` says how far the load has got
    // (a `loading` error, so whoever waits for `status` to succeed still sees the node ready),
    // other calls wait for the node a while (see `control::Gate`).
    let startup = Startup::default();
    let gate = Gate::new(startup.progress.clone(), startup.events.clone());
    let stop = CancellationToken::new();
    let server_cancel = CancellationToken::new();
    let stats = ServerStats::default();
    let span = tracing::info_span!("node", peer = %crate::node::short_id(&identity.peer_id()));
    let server = tokio::spawn(tracing::Instrument::instrument(
        control::serve(
            listener,
            gate.clone(),
            ServerLimits::from_config(&config.control),
            stats,
            server_cancel.clone(),
        ),
        span,
    ));
    let (node, node_task) =
        match Node::start_with(identity, store, opts, Some(&mut registry), startup).await {
            Ok(started) => started,
            Err(e) => {
                // The socket stops answering (and its file goes) before the error is told.
                server_cancel.cancel();
                let _ = server.await;
                return Err(e.into());
            }
        };
    tracing::info!(peer = %node.peer_id(), home = %home.dir.display(), socket = %socket.display(), "guild daemon started");
    // The gate opens once the node is ready: `status` then already shows where it listens,
    // which is what scripts (and `guild status`) read to give others a bootstrap address. TCP
    // reports its address within milliseconds of the swarm's first poll; a transport that never
    // does only delays the socket, it does not stop the daemon.
    if listens
        && tokio::time::timeout(LISTEN_WAIT, node.wait_listening())
            .await
            .is_err()
    {
        tracing::warn!(
            "no listen address reported within {LISTEN_WAIT:?}; serving the socket without one"
        );
    }

    let handle = NodeHandle::new(node.clone(), stop.clone())
        .with_web(web_status.clone(), web_tickets.clone())
        .with_config_file(home.config_file());
    let web_cancel = CancellationToken::new();
    let web_task = match (web_listener, web_tickets) {
        (Some(l), Some(tickets)) => {
            if let Some(note) = &web_status.note {
                tracing::warn!("web dashboard: {note}");
            }
            let url = web_status.url.clone().unwrap_or_default();
            tracing::info!("web dashboard at {url} (`guild web` prints the login link)");
            let context = crate::web::WebContext {
                relays: config.network.relays.clone(),
            };
            Some(tokio::spawn(tracing::Instrument::instrument(
                crate::web::serve(l, handle.clone(), tickets, context, web_cancel.clone()),
                node.span(),
            )))
        }
        _ => {
            if let Some(note) = &web_status.note {
                tracing::warn!("web dashboard unavailable: {note}");
            }
            None
        }
    };
    // `--join`: before the socket answers, so a client that sees it answer sees the join done.
    let mut join_error = None;
    if let Some((code, trust)) = options.join.clone() {
        let params = guild_core::control::invite::JoinParams { code, trust };
        match crate::invite::join(&node, Some(&home.config_file()), params).await {
            Ok(j) => eprintln!(
                "joined community `{}` through {}{}",
                j.community,
                j.inviter,
                if j.trusted { " (now a trust root)" } else { "" }
            ),
            Err(e) => join_error = Some(e.message),
        }
    }
    // Every call goes to the node from now on; the metrics task logs inside the node's span,
    // like the node's own tasks (the server was spawned in one like it).
    gate.open(handle);

    let metrics_cancel = CancellationToken::new();
    let metrics_task = metrics_listener.map(|(addr, l)| {
        tracing::info!("metrics at http://{addr}/metrics");
        tokio::spawn(tracing::Instrument::instrument(
            crate::metrics::serve(l, Arc::new(registry), metrics_cancel.clone()),
            node.span(),
        ))
    });

    if join_error.is_none() {
        wait_for_stop(&mut signals, &stop, &node).await;
    }
    tracing::info!("shutting down");
    let shutdown = async {
        web_cancel.cancel();
        if let Some(t) = web_task {
            let _ = t.await;
        }
        server_cancel.cancel();
        let _ = server.await;
        metrics_cancel.cancel();
        if let Some(t) = metrics_task {
            let _ = t.await;
        }
        node.shutdown();
        let _ = node_task.await;
        node.store().flush_async().await
    };
    let stopped = tokio::time::timeout(SHUTDOWN_TIMEOUT, shutdown).await;
    if let Some(e) = join_error {
        bail!("--join: {e}");
    }
    match stopped {
        Ok(Ok(())) => tracing::info!("stopped cleanly"),
        Ok(Err(e)) => bail!("the store could not be flushed at shutdown: {e}"),
        Err(_) => bail!("shutdown took longer than {SHUTDOWN_TIMEOUT:?}; exiting anyway"),
    }
    Ok(())
}

/// SIGINT and SIGTERM, caught from the first moment of [`run`]: a signal that arrives while the
/// daemon starts (even after its socket answers, before it waits for signals) then stops it
/// cleanly once started, instead of killing it with the default action and leaving its socket
/// and pid file behind.
struct StopSignals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

impl StopSignals {
    fn install() -> StopSignals {
        let catch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("cannot catch {name}: {e}");
                None
            }
        };
        StopSignals {
            interrupt: catch(SignalKind::interrupt(), "SIGINT"),
            terminate: catch(SignalKind::terminate(), "SIGTERM"),
        }
    }
}

/// Resolves when `signal` arrives (never, if it could not be caught).
async fn received(signal: &mut Option<Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

async fn wait_for_stop(signals: &mut StopSignals, stop: &CancellationToken, node: &Node) {
    tokio::select! {
        () = received(&mut signals.interrupt) => tracing::info!("SIGINT received"),
        () = received(&mut signals.terminate) => tracing::info!("SIGTERM received"),
        () = stop.cancelled() => tracing::info!("shutdown requested over the control socket"),
        () = node.stopped() => tracing::warn!("the node stopped on its own"),
    }
}
