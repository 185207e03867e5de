//! `guild`: the Guild daemon and its command-line client.
//!
//! `guild daemon` runs a node; every other command (except `init` and `completions`) talks to it
//! through the control socket (`docs/control-socket.md`). Exit codes are listed in `guild --help`
//! and defined in `exit.rs`.

mod cli;
mod commands;
mod exit;
mod output;

use clap::Parser;
use std::io::Write as _;
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: the daemon allocates small objects on many threads for
/// as long as it runs, where glibc's free-list consolidation showed up as a fifth of `find`'s
/// CPU time (BENCHMARKS.md, "Find through the control socket").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => exit::exit(exit::OK),
        Err(err) if exit::is_broken_pipe(&err) => exit::exit(exit::OK),
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            exit::exit(exit::code_for(&err))
        }
    }
}
