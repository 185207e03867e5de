//! Command-line syntax (clap derive). Behaviour lives in `commands/`.

use clap::{Args, Parser, Subcommand};
use guild_core::control::pull::{RewardInput, RoleInput};
use guild_core::{Level, PublicKey, RecordId, RewardKind, SkillTag};
use std::path::PathBuf;

/// Shown at the end of `guild --help`.
const AFTER_HELP: &str = "\
Exit status:
  0  success
  1  error (the message says what went wrong)
  2  usage: bad arguments, or parameters the daemon rejected
  3  no guild daemon is running for this home (start one with `guild daemon`)
  4  not found (a profile, a peer, a skill to remove)
  5  peer unreachable, or the daemon cannot do this now (network not ready)
  6  the daemon is busy or shutting down; try again
  7  `guild daemon`: another daemon is already running on this socket
 10-16  `guild join`: the invitation code was refused: 10 not a code or damaged, 11 altered,
        12 expired, 13 used up, 14 revoked, 15 unknown to the inviter, 16 another community

Environment:
  GUILD_HOME    the Guild home (default $XDG_DATA_HOME/guild or ~/.local/share/guild)
  GUILD_SOCKET  the control socket (default $GUILD_HOME/guild.sock)
  GUILD_LOG     daemon log filter, e.g. `info` or `guild=debug,libp2p=warn` (RUST_LOG works too)

Docs: docs/control-socket.md describes the socket protocol that every command uses.";

/// Guild: find people by skill in a peer-to-peer community mesh, and work with them.
#[derive(Debug, Parser)]
#[command(name = "guild", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    /// The Guild home: identity, config, store and socket.
    #[arg(long, global = true, env = "GUILD_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// The daemon's control socket (default: the config's `control.socket`, else
    /// $GUILD_HOME/guild.sock).
    #[arg(long, global = true, env = "GUILD_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Machine-readable JSON output instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the Guild home: a new identity, a config file and the store.
    Init {
        /// Replace an existing identity (the old one is lost).
        #[arg(long)]
        force: bool,
    },
    /// Run the daemon in the foreground until SIGINT/SIGTERM or `guild shutdown`.
    Daemon(DaemonArgs),
    /// Show the running daemon's identity, addresses, peers and index.
    Status,
    /// List connected peers.
    Peers,
    /// Show or edit your profile.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Find members by skill (and resource, and text), best matches first.
    #[command(arg_required_else_help = true)]
    Find(FindArgs),
    /// Dial a peer by multiaddr.
    Connect {
        /// e.g. /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…
        #[arg(value_name = "MULTIADDR")]
        addr: String,
    },
    /// Post a need: what you need and the skills or resources it takes. Members who have them
    /// are notified and can answer with an offer.
    Ask(AskArgs),
    /// List the needs this node knows (open ones, unless --closed).
    Needs(NeedsArgs),
    /// Withdraw one of your needs; every node then stops offering on it.
    Withdraw {
        /// The need's id (see `guild needs --mine`).
        #[arg(value_name = "NEED")]
        need: RecordId,
        /// Why (shown to others).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Offer to help with someone's need; the offer goes straight to the asker.
    Offer {
        /// The need's id (see `guild needs --matching`).
        #[arg(value_name = "NEED")]
        need: RecordId,
        /// The role you offer for, by label (needed when the need has several roles).
        #[arg(long, value_name = "LABEL")]
        role: Option<SkillTag>,
        /// What you offer.
        #[arg(value_name = "TEXT")]
        text: String,
    },
    /// Withdraw an offer you made that was not accepted; the asker is told and can no longer
    /// accept it.
    WithdrawOffer {
        /// The offer's id (see `guild offers`).
        #[arg(value_name = "OFFER")]
        offer: RecordId,
        /// Why (shown to the asker).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// List offers on your needs and offers you made.
    Offers {
        /// Only the offers on this need.
        #[arg(long, value_name = "NEED")]
        need: Option<RecordId>,
    },
    /// Accept an offer on one of your needs: fills the offer's role. The first accept opens the
    /// need's collaboration; later ones add their offerer to it.
    Accept {
        /// The offer's id (see `guild offers`).
        #[arg(value_name = "OFFER")]
        offer: RecordId,
    },
    /// Show the staffing board of one of your needs: each role open or filled, members, offers
    /// (`guild team suggest <need>`: candidates per role, and why).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Team(TeamArgs),
    /// Work with others: list, show, post to, invite into, join and close collaborations.
    #[command(subcommand)]
    Collab(CollabCommand),
    /// Send a direct message to a member.
    Msg {
        /// The member's peer id.
        #[arg(value_name = "PEER")]
        peer: PublicKey,
        /// The message.
        #[arg(value_name = "TEXT")]
        text: String,
    },
    /// List the direct messages you received.
    Inbox {
        /// Include the messages you sent.
        #[arg(long)]
        sent: bool,
    },
    /// Vouch for a fellow member of a collaboration you both closed your parts of: a signed
    /// attestation of their work in one skill, published to the community. A negative score is
    /// criticism.
    Vouch(VouchArgs),
    /// Revoke one of your attestations; every node that hears of it stops counting it.
    Revoke {
        /// The attestation's id (see `guild attestations --by <your peer id>`).
        #[arg(value_name = "ATTESTATION")]
        attestation: RecordId,
        /// Why (shown to others).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// List the attestations this node knows and whether each counts in your trust.
    Attestations {
        /// Only attestations about this member (peer id).
        #[arg(long, value_name = "PEER")]
        about: Option<PublicKey>,
        /// Only attestations issued by this member (peer id).
        #[arg(long, value_name = "PEER")]
        by: Option<PublicKey>,
    },
    /// Your trust in a member, from your own point of view, and why: the paths and attestations
    /// that support it and the penalties applied. `guild trust add|remove|roots` manage your own
    /// starting points (trust roots).
    Trust(TrustArgs),
    /// The community's pulse, from the public records this node holds: per skill and resource,
    /// needs asking for it, members who have it, offers, acceptances, time to a first offer,
    /// needs that expired unanswered; the scarcest skills, what no member has, trends against
    /// the previous period, members seen and active. Counts of 1 to 4 show as "< 5".
    Pulse {
        /// The period, rounded up to whole weeks: e.g. 7d, 30d, 12w (default 30d, at most 52w).
        #[arg(long, value_name = "DURATION", value_parser = parse_pulse_period)]
        since: Option<u64>,
    },
    /// A member's growth: counted attestations per skill and month, declared levels over time,
    /// collaborations per month and whom they worked with (default: yourself).
    Growth {
        /// The member's peer id (default: you).
        #[arg(value_name = "PEER")]
        peer: Option<PublicKey>,
    },
    /// Stream events (peers, profiles, …) until interrupted; one JSON object per line with --json.
    Events {
        /// Only these kinds (repeatable): exact (`peer.connected`) or prefix (`peer.*`).
        #[arg(long = "kind", value_name = "KIND")]
        kinds: Vec<String>,
    },
    /// Print the web dashboard's address with a login link (and open it with --open).
    Web {
        /// Open the link in the default browser.
        #[arg(long)]
        open: bool,
    },
    /// Stop the running daemon.
    Shutdown,
    /// Meet a member through someone you trust. Without --via, lists who could introduce you
    /// (people you trust who vouched for the member or were vouched for by them) and why; with
    /// --via, asks that member to introduce you. `guild intro list | accept | decline` manage the
    /// introductions you take part in. An introduction is context ("introduced by …"), never
    /// trust.
    Intro(IntroArgs),
    /// Invite a newcomer: prints a signed code (and a link) to paste into a chat. `--list`
    /// shows your codes and their uses; `--revoke ID` cancels one.
    Invite(InviteArgs),
    /// Join a community with an invitation code (on a fresh home, with the daemon running):
    /// checks the code, asks the inviter, and keeps the inviter as a bootstrap peer.
    Join {
        /// The code (`guild1-…`) or its link (`guild://join/…`).
        #[arg(value_name = "CODE")]
        code: String,
        /// Also make the inviter one of your trust roots.
        #[arg(long)]
        trust: bool,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `guild daemon` flags; they override the config file for this run.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Listen on this multiaddr (repeatable; replaces the config's list).
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Join through this peer, a multiaddr ending in /p2p/<peer id> (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Do not discover peers on the local network with mDNS.
    #[arg(long)]
    pub no_mdns: bool,
    /// The community to join (default from config: `main`).
    #[arg(long, value_name = "NAME")]
    pub community: Option<String>,
    /// Log filter, e.g. `debug` or `guild=debug,libp2p=warn` (overrides GUILD_LOG and RUST_LOG).
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Serve the web dashboard on this loopback address (`web.listen`; port 0 picks a free
    /// port). Given twice, the last one counts.
    #[arg(long, value_name = "ADDR", overrides_with = "web_listen")]
    pub web_listen: Option<String>,
    /// Create the home first if it has no identity yet.
    #[arg(long)]
    pub init: bool,
    /// Join a community with this invitation code on start (sets the community from the code
    /// on a fresh home; see `guild join`).
    #[arg(long, value_name = "CODE")]
    pub join: Option<String>,
    /// With --join: make the inviter one of your trust roots.
    #[arg(long, requires = "join")]
    pub trust: bool,
}

/// `guild invite` arguments.
#[derive(Debug, Args)]
pub struct InviteArgs {
    /// How long the code works, e.g. 1h, 7d (default 7d, at most 30d).
    #[arg(long, value_name = "DURATION", value_parser = parse_invite_expiry)]
    pub expires: Option<u64>,
    /// How many newcomers may use it (default 1, at most 8).
    #[arg(long, value_name = "N")]
    pub uses: Option<u32>,
    /// A few words for the newcomer.
    #[arg(long, default_value = "")]
    pub note: String,
    /// List your codes and their uses instead.
    #[arg(long, conflicts_with_all = ["revoke", "expires", "uses", "note"])]
    pub list: bool,
    /// Cancel the code with this id (see --list).
    #[arg(long, value_name = "ID", conflicts_with_all = ["expires", "uses", "note"])]
    pub revoke: Option<String>,
    /// With --revoke: also withdraw the sponsorships already given with that code.
    #[arg(long, requires = "revoke")]
    pub sponsorships: bool,
}

fn parse_invite_expiry(text: &str) -> Result<u64, String> {
    let secs = guild_core::time::parse_duration(text)?;
    if secs == 0 || secs > guild_core::invite::MAX_INVITE_LIFETIME {
        return Err("the expiry must be between 1s and 30d".into());
    }
    Ok(secs)
}

/// `guild profile …`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Show your signed profile, or a member's from the local index.
    Show {
        /// A member's peer id (default: yours).
        #[arg(value_name = "PEER")]
        peer: Option<String>,
    },
    /// Change your name, bio or links, or replace the whole profile from a JSON file.
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true)))]
    Set {
        /// Display name.
        #[arg(long, group = "change")]
        name: Option<String>,
        /// About you.
        #[arg(long, group = "change")]
        bio: Option<String>,
        /// A link (repeatable; replaces the list).
        #[arg(long = "link", value_name = "URL", group = "change")]
        links: Vec<String>,
        /// Replace the whole profile with this JSON file (`-` for stdin), shaped like the
        /// `profile.set` params: {"name", "bio", "skills": [{"tag", "level"}], "resources":
        /// [{"tag", "description", "availability"}], "links"}.
        #[arg(long, value_name = "FILE", group = "change", conflicts_with_all = ["name", "bio", "links"])]
        from_file: Option<PathBuf>,
    },
    /// Add or remove skills.
    #[command(subcommand)]
    Skill(SkillCommand),
    /// Add or remove resources.
    #[command(subcommand)]
    Resource(ResourceCommand),
}

/// `guild profile skill …`.
#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// Add skills, or change their level.
    Add {
        /// Skill tags, e.g. `rust` or "pcb design" (normalised to `pcb-design`).
        #[arg(required = true, value_name = "TAG")]
        tags: Vec<SkillTag>,
        /// beginner, intermediate, advanced or expert (default: keep, or intermediate if new).
        #[arg(long, value_name = "LEVEL")]
        level: Option<Level>,
    },
    /// Remove skills.
    #[command(alias = "remove")]
    Rm {
        /// Skill tags.
        #[arg(required = true, value_name = "TAG")]
        tags: Vec<SkillTag>,
    },
}

/// `guild profile resource …`.
#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Add a resource, or update its description or availability.
    Add {
        /// Resource tag, e.g. `3d-printer`.
        #[arg(value_name = "TAG")]
        tag: SkillTag,
        /// What it is.
        #[arg(long)]
        description: Option<String>,
        /// When or how it is available.
        #[arg(long)]
        availability: Option<String>,
    },
    /// Remove resources.
    #[command(alias = "remove")]
    Rm {
        /// Resource tags.
        #[arg(required = true, value_name = "TAG")]
        tags: Vec<SkillTag>,
    },
}

/// `guild find` arguments.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// What you are looking for, in your words: each word is matched against skills,
    /// resources, names and bios — exactly, by prefix (`pcb` finds `pcb-design`) or with a typo
    /// (`kikad` finds `kicad`). Members matching more words better rank higher.
    #[arg(
        value_name = "WORDS",
        required_unless_present_any = ["skills", "resources", "text"],
        value_parser = non_blank
    )]
    pub words: Vec<String>,
    /// Only members with this exact skill tag (repeatable).
    #[arg(long = "skill", value_name = "TAG")]
    pub skills: Vec<SkillTag>,
    /// Only members listing this exact resource tag (repeatable).
    #[arg(long = "resource", value_name = "TAG")]
    pub resources: Vec<SkillTag>,
    /// Only members whose name, bio or resource descriptions contain these words.
    #[arg(long, value_name = "WORDS")]
    pub text: Option<String>,
    /// Most results.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(guild_core::control::MAX_FIND_LIMIT)))]
    pub limit: Option<u32>,
    /// Only the local index: no DHT lookup.
    #[arg(long)]
    pub local: bool,
}

/// `guild trust` arguments: a member to explain, or an action on trust roots.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TrustArgs {
    /// Trust roots: your own starting points.
    #[command(subcommand)]
    pub action: Option<TrustAction>,
    /// The member's peer id.
    #[arg(value_name = "PEER", required = true)]
    pub peer: Option<PublicKey>,
    /// Trust in this skill only.
    #[arg(long, value_name = "TAG")]
    pub skill: Option<SkillTag>,
}

/// `guild intro` arguments: a member to be introduced to, or an action on introductions.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct IntroArgs {
    /// List, accept or decline introductions.
    #[command(subcommand)]
    pub action: Option<IntroAction>,
    /// The member you want to meet (peer id).
    #[arg(value_name = "PEER", required = true)]
    pub peer: Option<PublicKey>,
    /// Who should introduce you (peer id); without it, the candidates are listed.
    #[arg(long, value_name = "PEER")]
    pub via: Option<PublicKey>,
    /// Why you want to meet them (shown to the introducer and to them; required with --via).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// The need this is about.
    #[arg(long, value_name = "ID")]
    pub need: Option<guild_core::RecordId>,
    /// How long the request stands (default 3d, at most 7d).
    #[arg(long, value_name = "DURATION", value_parser = parse_intro_lifetime)]
    pub expires: Option<u64>,
}

/// `guild intro` actions.
#[derive(Debug, Subcommand)]
pub enum IntroAction {
    /// Introductions to relay, introductions to you, your requests, and the members you were
    /// introduced to.
    List,
    /// Accept an introduction: relay it (as introducer) or meet them (as the member introduced).
    Accept {
        /// The introduction's id (from `guild intro list`).
        #[arg(value_name = "ID")]
        id: guild_core::RecordId,
        /// A note for the requester (and, as introducer, for the member introduced).
        #[arg(long, value_name = "TEXT", default_value = "")]
        note: String,
    },
    /// Decline an introduction; nothing is kept, and it cannot be asked again for a day.
    Decline {
        /// The introduction's id (from `guild intro list`).
        #[arg(value_name = "ID")]
        id: guild_core::RecordId,
        /// A note for the requester.
        #[arg(long, value_name = "TEXT", default_value = "")]
        note: String,
    },
}

/// An introduction request's lifetime from `--expires`: positive, at most 7 days, in seconds.
fn parse_intro_lifetime(text: &str) -> Result<u64, String> {
    let secs = guild_core::time::parse_duration(text)?;
    if secs == 0 || secs > guild_core::record::MAX_INTRO_LIFETIME {
        return Err(format!("`{text}` must be between 1s and 7d"));
    }
    Ok(secs)
}

/// `guild trust` actions on trust roots.
#[derive(Debug, Subcommand)]
pub enum TrustAction {
    /// Add a starting point for your trust — someone you met in person, a community founder.
    /// Local and private (never published); trust flows from them through the attestations at
    /// once.
    Add {
        /// The member's peer id.
        #[arg(value_name = "PEER")]
        peer: PublicKey,
        /// Trust them for this skill only (default: in general).
        #[arg(long, value_name = "TAG")]
        skill: Option<SkillTag>,
        /// Why, for your own memory.
        #[arg(long, value_name = "TEXT", default_value = "")]
        note: String,
    },
    /// Remove a member's trust roots (every skill).
    Remove {
        /// The member's peer id.
        #[arg(value_name = "PEER")]
        peer: PublicKey,
    },
    /// List your trust roots.
    Roots,
}

/// A search word: not empty or only spaces.
fn non_blank(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        Err("a search word cannot be empty".into())
    } else {
        Ok(t.to_string())
    }
}

/// `guild team` arguments.
#[derive(Debug, Args)]
pub struct TeamArgs {
    /// `suggest`: candidates per role.
    #[command(subcommand)]
    pub command: Option<TeamCommand>,
    /// The need's id (see `guild needs --mine`).
    #[arg(value_name = "NEED", required = true)]
    pub need: Option<RecordId>,
    /// Take the member of this accepted offer off the team (before they wrote anything),
    /// reopening their role.
    #[arg(long, value_name = "OFFER", conflicts_with = "stop")]
    pub release: Option<RecordId>,
    /// Stop staffing early: no more offers on the need.
    #[arg(long)]
    pub stop: bool,
}

/// `guild team` subcommands.
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// For each role of your need, the best candidates you know of, and why (fit, trust path,
    /// per-skill trust, availability, having worked well with the team).
    Suggest {
        /// The need's id.
        #[arg(value_name = "NEED")]
        need: RecordId,
    },
}

/// `guild ask` arguments.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// What you need, in a sentence or two.
    #[arg(value_name = "TEXT")]
    pub text: String,
    /// A skill it takes (repeatable), e.g. `kicad` or "pcb design".
    #[arg(
        long = "skill",
        value_name = "TAG",
        required_unless_present_any = ["resources", "roles"]
    )]
    pub skills: Vec<SkillTag>,
    /// A resource it takes (repeatable), e.g. `3d-printer`.
    #[arg(long = "resource", value_name = "TAG")]
    pub resources: Vec<SkillTag>,
    /// A role of a team (repeatable, instead of --skill/--resource): label, then its tags, then
    /// how many people (default 1), e.g. `layout:kicad,pcb-design:2`. A role's tags match
    /// members' skills and resources alike.
    #[arg(
        long = "role",
        value_name = "LABEL:TAGS[:COUNT]",
        value_parser = parse_role,
        conflicts_with_all = ["skills", "resources"]
    )]
    pub roles: Vec<RoleInput>,
    /// When the work should be done, from now: e.g. 14d.
    #[arg(long, value_name = "DURATION", value_parser = guild_core::time::parse_duration)]
    pub due: Option<u64>,
    /// Where the work happens: `remote` or a place name.
    #[arg(long, value_name = "PLACE")]
    pub place: Option<String>,
    /// What is offered in return: paid, exchange, volunteer or gift, optionally `:details`,
    /// e.g. `paid:€40/h`.
    #[arg(long, value_name = "KIND[:TEXT]", value_parser = parse_reward)]
    pub reward: Option<RewardInput>,
    /// How long the need stays open: e.g. 12h, 7d, 2w (default 7d, at most 30d).
    #[arg(long, value_name = "DURATION", value_parser = parse_need_lifetime)]
    pub expires: Option<u64>,
}

/// A role from `--role label:tag,tag[:count]`.
fn parse_role(text: &str) -> Result<RoleInput, String> {
    let mut parts = text.split(':');
    let label = parts.next().unwrap_or_default().trim();
    let tags = parts.next().unwrap_or_default();
    let count = parts.next();
    if parts.next().is_some() {
        return Err(format!(
            "`{text}`: expected LABEL:TAGS[:COUNT], e.g. layout:kicad,pcb-design:2"
        ));
    }
    let label = SkillTag::parse(label).map_err(|e| format!("role label `{label}`: {e}"))?;
    let skills = tags
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| SkillTag::parse(t).map_err(|e| format!("role `{label}` tag `{t}`: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if skills.is_empty() {
        return Err(format!(
            "role `{label}` needs at least one tag, e.g. {label}:kicad"
        ));
    }
    let count = match count {
        None => 1,
        Some(c) => c
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|n| (1..=guild_core::limits::MAX_ROLE_COUNT).contains(n))
            .ok_or_else(|| {
                format!(
                    "role `{label}`: `{c}` people; a role needs 1 to {}",
                    guild_core::limits::MAX_ROLE_COUNT
                )
            })?,
    };
    Ok(RoleInput {
        label,
        skills,
        resources: vec![],
        count,
        effort: None,
        note: String::new(),
    })
}

/// What is offered in return, from `--reward kind[:text]`.
fn parse_reward(text: &str) -> Result<RewardInput, String> {
    let (kind, details) = text.split_once(':').unwrap_or((text, ""));
    let kind = match kind.trim().to_lowercase().as_str() {
        "paid" => RewardKind::Paid,
        "exchange" => RewardKind::Exchange,
        "volunteer" => RewardKind::Volunteer,
        "gift" => RewardKind::Gift,
        other => {
            return Err(format!(
                "`{other}`: the reward is paid, exchange, volunteer or gift"
            ))
        }
    };
    Ok(RewardInput {
        kind,
        text: details.trim().to_string(),
    })
}

/// A need's lifetime from `--expires`: a positive duration of at most 30 days, in seconds.
fn parse_need_lifetime(text: &str) -> Result<u64, String> {
    let secs = guild_core::time::parse_duration(text)?;
    let max = guild_core::limits::MAX_NEED_LIFETIME;
    if secs == 0 {
        return Err("a need must stay open for some time, e.g. 12h or 7d".into());
    }
    if secs > max {
        return Err(format!(
            "`{}` is longer than the maximum lifetime of a need, {}d",
            text.trim(),
            max / guild_core::time::DAY
        ));
    }
    Ok(secs)
}

/// A pulse period from `--since`: positive, at most 52 weeks, in seconds.
fn parse_pulse_period(text: &str) -> Result<u64, String> {
    use guild_core::control::reflect::{MAX_PULSE_WEEKS, WEEK_SECS};
    let secs = guild_core::time::parse_duration(text)?;
    if secs == 0 {
        return Err("the period must be positive, e.g. 30d or 12w".into());
    }
    if secs > MAX_PULSE_WEEKS * WEEK_SECS {
        return Err(format!(
            "`{}` is longer than the longest period, {MAX_PULSE_WEEKS}w",
            text.trim()
        ));
    }
    Ok(secs)
}

/// `guild vouch` arguments.
#[derive(Debug, Args)]
pub struct VouchArgs {
    /// The member's peer id.
    #[arg(value_name = "PEER")]
    pub peer: PublicKey,
    /// The skill you vouch for, e.g. `kicad`.
    #[arg(long, value_name = "TAG")]
    pub skill: SkillTag,
    /// How well they did, from -5 to 5 (not 0); negative scores are criticism.
    #[arg(long, value_name = "SCORE", allow_negative_numbers = true, value_parser = parse_score)]
    pub score: i8,
    /// The collaboration you both took part in and closed your parts of (see `guild collab list`).
    #[arg(long, value_name = "COLLAB")]
    pub collab: RecordId,
    /// A few words on the work (at most 1024 bytes).
    #[arg(long, default_value = "")]
    pub note: String,
    /// How long the attestation is valid: e.g. 90d, 26w (default 180d, at most 366d).
    #[arg(long, value_name = "DURATION", value_parser = parse_attestation_lifetime)]
    pub expires: Option<u64>,
}

/// An attestation score from `--score`: an integer from -MAX_SCORE to MAX_SCORE, not 0.
fn parse_score(text: &str) -> Result<i8, String> {
    let max = guild_core::limits::MAX_SCORE;
    let range = format!("the score is a whole number from -{max} to {max}, not 0");
    let score: i64 = text
        .trim()
        .trim_start_matches('+')
        .parse()
        .map_err(|_| format!("`{}` is not a number; {range}", text.trim()))?;
    if score == 0 {
        return Err(format!(
            "0 says nothing; {range} (negative scores are criticism)"
        ));
    }
    if score.unsigned_abs() > u64::from(max.unsigned_abs()) {
        return Err(format!("{score} is out of range; {range}"));
    }
    i8::try_from(score).map_err(|_| range)
}

/// An attestation's lifetime from `--expires`: positive, at most the maximum, in seconds.
fn parse_attestation_lifetime(text: &str) -> Result<u64, String> {
    let secs = guild_core::time::parse_duration(text)?;
    let max = guild_core::limits::MAX_ATTESTATION_LIFETIME;
    if secs == 0 {
        return Err("an attestation must be valid for some time, e.g. 90d".into());
    }
    if secs > max {
        return Err(format!(
            "`{}` is longer than the maximum lifetime of an attestation, {}d",
            text.trim(),
            max / guild_core::time::DAY
        ));
    }
    Ok(secs)
}

/// `guild needs` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").multiple(false)))]
pub struct NeedsArgs {
    /// Only the needs you posted.
    #[arg(long, group = "which")]
    pub mine: bool,
    /// Only others' needs that ask for a skill or resource you have.
    #[arg(long, group = "which")]
    pub matching: bool,
    /// Every need this node knows (the default).
    #[arg(long, group = "which")]
    pub all: bool,
    /// Include withdrawn and expired needs.
    #[arg(long)]
    pub closed: bool,
}

/// `guild collab …`.
#[derive(Debug, Subcommand)]
pub enum CollabCommand {
    /// Your collaborations and pending invitations.
    #[command(alias = "ls")]
    List,
    /// One collaboration with its log (members only).
    Show {
        /// The collaboration's id.
        #[arg(value_name = "COLLAB")]
        collab: RecordId,
    },
    /// Post to a collaboration's log; every member receives it.
    Post {
        /// The collaboration's id.
        #[arg(value_name = "COLLAB")]
        collab: RecordId,
        /// The message.
        #[arg(value_name = "TEXT")]
        text: String,
    },
    /// Invite a member into a collaboration.
    Invite {
        /// The collaboration's id.
        #[arg(value_name = "COLLAB")]
        collab: RecordId,
        /// The invitee's peer id.
        #[arg(value_name = "PEER")]
        peer: PublicKey,
    },
    /// Accept an invitation into a collaboration.
    Join {
        /// The collaboration's id.
        #[arg(value_name = "COLLAB")]
        collab: RecordId,
    },
    /// Close your part of a collaboration: the work is done. Every member closes their own part;
    /// an attestation between two members counts only when both closed.
    Close {
        /// The collaboration's id.
        #[arg(value_name = "COLLAB")]
        collab: RecordId,
        /// What came of it (posted to the log just before the close).
        #[arg(long, default_value = "")]
        summary: String,
    },
}
