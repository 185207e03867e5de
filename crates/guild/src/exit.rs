//! Exit codes (documented in `guild --help`) and how errors map to them.

use guild_core::control::{ClientError, ErrorCode};
use guild_node::control::BindError;
use std::path::PathBuf;
use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// Any other error.
pub const ERROR: u8 = 1;
/// Bad arguments (clap uses 2 too), or parameters the daemon rejected.
pub const USAGE: u8 = 2;
/// No daemon is running for the home.
pub const NOT_RUNNING: u8 = 3;
/// What was asked for does not exist.
pub const NOT_FOUND: u8 = 4;
/// A peer could not be reached, or the daemon cannot do it now.
pub const UNREACHABLE: u8 = 5;
/// The daemon is busy or shutting down.
pub const BUSY: u8 = 6;
/// `guild daemon`: another daemon already runs on the socket.
pub const ALREADY_RUNNING: u8 = 7;
/// `guild join`: the code is not a code, or is damaged.
pub const CODE_MALFORMED: u8 = 10;
/// `guild join`: the code was altered.
pub const CODE_TAMPERED: u8 = 11;
/// `guild join`: the code expired.
pub const CODE_EXPIRED: u8 = 12;
/// `guild join`: the code is used up.
pub const CODE_USED_UP: u8 = 13;
/// `guild join`: the inviter revoked the code.
pub const CODE_REVOKED: u8 = 14;
/// `guild join`: the inviter does not know the code.
pub const CODE_UNKNOWN: u8 = 15;
/// `guild join`: the code is for another community.
pub const CODE_OTHER_COMMUNITY: u8 = 16;

/// The exit code of a refused invitation code (see `guild_core::control::invite::codes`).
fn invite_exit(code: i64) -> Option<u8> {
    use guild_core::control::invite::codes;
    Some(match code {
        codes::MALFORMED => CODE_MALFORMED,
        codes::TAMPERED => CODE_TAMPERED,
        codes::EXPIRED => CODE_EXPIRED,
        codes::USED_UP => CODE_USED_UP,
        codes::REVOKED => CODE_REVOKED,
        codes::UNKNOWN => CODE_UNKNOWN,
        codes::OTHER_COMMUNITY => CODE_OTHER_COMMUNITY,
        _ => return None,
    })
}

/// No daemon answers on the home's socket.
#[derive(Debug, thiserror::Error)]
#[error(
    "no guild daemon is running for home {}{}; start one with `guild daemon`{}",
    home.display(),
    custom_socket.as_ref().map(|s| format!(" (socket {})", s.display())).unwrap_or_default(),
    if *initialised { "" } else { " (this home has no identity yet: `guild daemon --init` creates one)" }
)]
pub struct NotRunning {
    /// The home.
    pub home: PathBuf,
    /// The socket, when it is not the home's default one.
    pub custom_socket: Option<PathBuf>,
    /// Whether the home has an identity.
    pub initialised: bool,
}

/// Input the command line accepted but the command refuses (a bad peer id, a bad JSON file).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// An offer or a message was stored but not delivered: the recipient is unreachable (and the
/// daemon keeps retrying) or refused it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Undelivered {
    /// What to tell the user.
    pub message: String,
    /// Unreachable (exit 5) rather than refused (exit 1).
    pub unreachable: bool,
}

/// The exit code for an error: the first cause in the chain that says.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<NotRunning>().is_some() {
            return NOT_RUNNING;
        }
        if cause.downcast_ref::<Usage>().is_some() {
            return USAGE;
        }
        if let Some(u) = cause.downcast_ref::<Undelivered>() {
            return if u.unreachable { UNREACHABLE } else { ERROR };
        }
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            return match e {
                ClientError::NotRunning { .. } => NOT_RUNNING,
                ClientError::Call(call) => match call.code {
                    ErrorCode::InvalidParams => USAGE,
                    ErrorCode::NotFound => NOT_FOUND,
                    ErrorCode::PeerUnreachable | ErrorCode::Unavailable => UNREACHABLE,
                    ErrorCode::ShuttingDown | ErrorCode::Busy | ErrorCode::Loading => BUSY,
                    ErrorCode::Other(code) => invite_exit(code).unwrap_or(ERROR),
                    _ => ERROR,
                },
                _ => ERROR,
            };
        }
        if let Some(BindError::AlreadyRunning { .. }) = cause.downcast_ref::<BindError>() {
            return ALREADY_RUNNING;
        }
    }
    ERROR
}

/// Whether the error is stdout closing under us (`guild events | head`): not worth a message.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Converts a code into the process exit status.
pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}
