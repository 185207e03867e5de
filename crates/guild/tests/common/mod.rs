//! Helpers for tests that run the real `guild` binary.
//!
//! - [`guild`]: a `Command` for the binary with a clean environment and a given home.
//! - [`TestDaemon`]: a `guild daemon` child on loopback with a temp home, ready once its socket
//!   answers `status`; SIGTERM on demand, killed on drop. For the end-to-end tests that need the
//!   wired daemon (not every test file uses every helper).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use guild_core::control::{Client, Status};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `guild` binary with `--home home`, and no GUILD_* or RUST_LOG from the caller's
/// environment.
pub fn guild(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_guild"));
    cmd.env_remove("GUILD_HOME")
        .env_remove("GUILD_SOCKET")
        .env_remove("GUILD_LOG")
        .env_remove("RUST_LOG")
        .arg("--home")
        .arg(home);
    cmd
}

/// Runs `guild --home home args…` to completion.
pub fn run(home: &Path, args: &[&str]) -> Output {
    guild(home).args(args).output().expect("run guild")
}

/// Exit code, stdout, stderr.
pub fn parts(output: &Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running `guild daemon` with its own temp home, listening on loopback TCP port 0 and without
/// mDNS, so tests on one machine do not see each other.
pub struct TestDaemon {
    /// Keeps the home alive.
    pub dir: tempfile::TempDir,
    /// The home.
    pub home: PathBuf,
    /// The child process.
    pub child: Child,
}

impl TestDaemon {
    /// Initialises a home and starts the daemon with extra `daemon` args (e.g. `--bootstrap`);
    /// returns once `status` is answered.
    pub async fn start(extra: &[&str]) -> TestDaemon {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let init = run(&home, &["init"]);
        assert!(init.status.success(), "init: {:?}", parts(&init));
        let child = guild(&home)
            .args(["daemon", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"])
            .args(extra)
            .env("GUILD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut daemon = TestDaemon { dir, home, child };
        daemon.wait_ready(Duration::from_secs(30)).await;
        daemon
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.home.join("guild.sock")
    }

    /// A client of its socket.
    pub async fn client(&self) -> Client {
        Client::connect(self.socket()).await.unwrap()
    }

    /// Waits until the socket answers `status` (polling readiness of an external process; fails
    /// at once if the daemon exits).
    pub async fn wait_ready(&mut self, within: Duration) -> Status {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(mut client) = Client::connect(self.socket()).await {
                if let Ok(status) = client.status().await {
                    return status;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("guild daemon exited early with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "guild daemon not ready in {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs `guild --home <this home> args…`.
    pub fn guild(&self, args: &[&str]) -> Output {
        run(&self.home, args)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
