//! The `guild` binary without a daemon: init, usage errors, help, completions, and what every
//! daemon command says when no daemon runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const NOT_RUNNING: i32 = 3;

/// Runs `guild --home home args…` with no GUILD_* or RUST_LOG from the caller's environment.
/// (The end-to-end scenarios with daemons are in the workspace's top-level `tests/`.)
fn run(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guild"))
        .env_remove("GUILD_HOME")
        .env_remove("GUILD_SOCKET")
        .env_remove("GUILD_LOG")
        .env_remove("RUST_LOG")
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("run guild")
}

/// Exit code, stdout, stderr.
fn parts(output: &Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn init_creates_the_home_and_prints_the_peer_id() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (code, out, err) = parts(&run(&home, &["init"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("peer id  12D3KooW"), "{out}");
    let key = std::fs::metadata(home.join("secret.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert!(home.join("config.toml").exists() && home.join("store").exists());

    let (code, _, err) = parts(&run(&home, &["init"]));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: ") && err.contains("--force"),
        "{err}"
    );

    let (code, out, err) = parts(&run(&home, &["init", "--force", "--json"]));
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["peer_id"].as_str().unwrap().starts_with("12D3KooW"));
    assert_eq!(report["kept_config"], true);
}

#[test]
fn daemon_commands_without_a_daemon_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    assert!(run(&home, &["init"]).status.success());
    let commands: &[&[&str]] = &[
        &["status"],
        &["peers", "--json"],
        &["profile", "show"],
        &["profile", "skill", "add", "rust", "--level", "expert"],
        &["find", "rust"],
        &["connect", "/ip4/127.0.0.1/tcp/1"],
        &[
            "ask",
            "a prototype",
            "--role",
            "layout:kicad,pcb-design:2",
            "--role",
            "firmware:embedded-rust",
            "--reward",
            "paid:€40/h",
        ],
        &[
            "team",
            "e59a390df8a1d8920081d1d30a90c43ca9cc95b6da24e94fd6ad8abb962b1009",
        ],
        &["events"],
        &["shutdown"],
    ];
    for args in commands {
        let (code, out, err) = parts(&run(&home, args));
        assert_eq!(code, NOT_RUNNING, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        let expected = format!(
            "error: no guild daemon is running for home {}; start one with `guild daemon`",
            home.display()
        );
        assert!(err.starts_with(&expected), "{args:?}: {err}");
    }
    // A custom socket is named; a home without identity gets a hint.
    let other = dir.path().join("other");
    let (code, _, err) = parts(&run(&other, &["--socket", "/nonexistent/g.sock", "status"]));
    assert_eq!(code, NOT_RUNNING);
    assert!(
        err.contains("/nonexistent/g.sock") && err.contains("--init"),
        "{err}"
    );
}

#[test]
fn help_documents_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = parts(&run(dir.path(), &["--help"]));
    assert_eq!(code, 0);
    assert!(out.contains("Exit status:"), "{out}");
    for line in [
        "0  success",
        "2  usage",
        "3  no guild daemon is running",
        "4  not found",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn completions_print_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = parts(&run(dir.path(), &["completions", "bash"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("_guild") && out.contains("complete "), "{out}");
    for shell in ["zsh", "fish"] {
        let (code, out, _) = parts(&run(dir.path(), &["completions", shell]));
        assert_eq!(code, 0);
        assert!(out.contains("profile"), "{shell}");
    }
}

#[test]
fn bad_arguments_exit_with_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["frobnicate"],
        &["find"],
        &["find", "rust", "--limit", "0"],
        &["find", "   "],
        &["profile", "set"],
        &["profile", "set", "--name", "x", "--from-file", "p.json"],
        &["profile", "skill", "add", "rust", "--level", "guru"],
        &["completions", "tcsh"],
        &["status", "--bogus"],
        &["ask", "a board", "--role", "layout"],
        &["ask", "a board", "--role", "layout:kicad:11"],
        &["ask", "a board", "--role", "layout:kicad:2:x"],
        &[
            "ask",
            "a board",
            "--role",
            "layout:kicad",
            "--skill",
            "rust",
        ],
        &[
            "ask",
            "a board",
            "--role",
            "layout:kicad",
            "--reward",
            "barter",
        ],
    ];
    for args in cases {
        let (code, _, err) = parts(&run(dir.path(), args));
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    // A peer id that does not parse is refused before any daemon is asked.
    let (code, _, err) = parts(&run(dir.path(), &["profile", "show", "nope"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nope"), "{err}");
}
