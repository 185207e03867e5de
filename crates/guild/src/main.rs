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
/// CPU time (BENCHMARKS.md, "Find through the control socket"). The `system-alloc` feature
/// (off by default; never for a release) builds with the system allocator instead, for heap
/// profilers that see only `malloc` (heaptrack: mimalloc takes its memory with `mmap`).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // No transparent huge pages for this process, whatever the system's THP mode: the
    // allocator is built not to ask for them (`no_thp`), but where THP is `always` the kernel
    // would still back each touched 2 MiB of its arena with a whole huge page, as it did when
    // mimalloc asked (71 MB resident for an idle daemon with 6 MB of heap; BENCHMARKS.md, "A
    // lean daemon"). Best effort: an old kernel without the flag only keeps its default.
    let _ = nix::sys::prctl::set_thp_disable(true);
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
