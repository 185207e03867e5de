//! What each subcommand does. Commands other than `init`, `daemon` and `completions` talk to the
//! daemon through its control socket, never to the store.

mod collab;
mod events;
mod intro;
mod invite;
mod local;
mod profile;
mod pull;
mod query;
mod reflect;
mod reputation;

use crate::cli::{Cli, Command};
use crate::exit::NotRunning;
use anyhow::Context as _;
use guild_core::control::{Client, ClientError, SOCKET_FILE_NAME};
use guild_node::home::Home;
use std::path::PathBuf;

/// What every command needs: where the home and the socket are, and the output mode.
pub struct Ctx {
    /// The resolved home.
    pub home: Home,
    /// The `--socket` flag (or GUILD_SOCKET), unresolved.
    pub socket_flag: Option<PathBuf>,
    /// `--json`.
    pub json: bool,
}

impl Ctx {
    /// The control socket: flag, environment, config, default.
    pub fn socket(&self) -> PathBuf {
        // A config that does not parse only matters to the daemon; the default socket still works.
        let config = self.home.config().ok().map(|(config, _warnings)| config);
        self.home
            .socket(self.socket_flag.as_deref(), config.as_ref())
    }

    /// Connects to the daemon, or explains that none is running.
    pub async fn client(&self) -> anyhow::Result<Client> {
        let socket = self.socket();
        match Client::connect(&socket).await {
            Ok(client) => Ok(client),
            Err(ClientError::NotRunning { .. }) => {
                let default = self.home.dir.join(SOCKET_FILE_NAME);
                Err(NotRunning {
                    home: self.home.dir.clone(),
                    custom_socket: (socket != default).then_some(socket),
                    initialised: self.home.is_initialised(),
                }
                .into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs the command. `daemon` builds its own multi-threaded runtime; everything else is a short
/// exchange on a single-threaded one.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        home,
        socket,
        json,
        command,
    } = cli;
    match command {
        Command::Completions { shell } => return local::completions(shell),
        Command::Daemon(args) => return local::daemon(home, socket, args),
        _ => {}
    }
    let ctx = Ctx {
        home: Home::resolve(home.as_deref())?,
        socket_flag: socket,
        json,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match command {
            Command::Init { force } => local::init(&ctx, force),
            Command::Status => query::status(&ctx).await,
            Command::Peers => query::peers(&ctx).await,
            Command::Profile(cmd) => profile::run(&ctx, cmd).await,
            Command::Find(args) => query::find(&ctx, args).await,
            Command::Connect { addr } => query::connect(&ctx, addr).await,
            Command::Ask(args) => pull::ask(&ctx, args).await,
            Command::Needs(args) => pull::needs(&ctx, args).await,
            Command::Withdraw { need, reason } => pull::withdraw(&ctx, need, reason).await,
            Command::Offer { need, role, text } => pull::offer(&ctx, need, role, text).await,
            Command::WithdrawOffer { offer, reason } => {
                pull::withdraw_offer(&ctx, offer, reason).await
            }
            Command::Offers { need } => pull::offers(&ctx, need).await,
            Command::Accept { offer } => pull::accept(&ctx, offer).await,
            Command::Team(args) => pull::team(&ctx, args).await,
            Command::Collab(cmd) => collab::run(&ctx, cmd).await,
            Command::Msg { peer, text } => collab::msg(&ctx, peer, text).await,
            Command::Inbox { sent } => collab::inbox(&ctx, sent).await,
            Command::Vouch(args) => reputation::vouch(&ctx, args).await,
            Command::Revoke {
                attestation,
                reason,
            } => reputation::revoke(&ctx, attestation, reason).await,
            Command::Attestations { about, by } => reputation::attestations(&ctx, about, by).await,
            Command::Trust(args) => match (args.action, args.peer) {
                (Some(action), _) => reputation::roots(&ctx, action).await,
                (None, Some(peer)) => reputation::trust(&ctx, peer, args.skill).await,
                (None, None) => Err(anyhow::anyhow!("name a member, or use `guild trust roots`")),
            },
            Command::Pulse { since } => reflect::pulse(&ctx, since).await,
            Command::Growth { peer } => reflect::growth(&ctx, peer).await,
            Command::Events { kinds } => events::run(&ctx, kinds).await,
            Command::Web { open } => query::web(&ctx, open).await,
            Command::Shutdown => query::shutdown(&ctx).await,
            Command::Intro(args) => intro::run(&ctx, args).await,
            Command::Invite(args) => invite::invite(&ctx, args).await,
            Command::Join { code, trust } => invite::join(&ctx, code, trust).await,
            Command::Completions { .. } | Command::Daemon(_) => Ok(()),
        }
    })
}
