//! Helpers for tests that run the real `guild` binary.
//!
//! - [`guild`]: a `Command` for the binary with a clean environment and a given home.
//! - [`TestHome`]: an initialised temp home that outlives the daemons run on it (restarts).
//! - [`TestDaemon`]: a `guild daemon` child on loopback, ready once its socket answers `status`;
//!   SIGTERM/SIGKILL on demand, killed on drop, its log printed when a test fails. For the
//!   end-to-end tests that need the wired daemon (not every test file uses every helper).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use guild_core::control::{Client, Status};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Bound on any single wait on a daemon or a command: generous, since two cores may be busy
/// compiling while tests run.
pub const WAIT: Duration = Duration::from_secs(60);

/// The `guild` binary these tests run: `GUILD_BIN` if set, else the one cargo built beside this
/// test (`target/<profile>/guild`), built first with `cargo build -p guild` so that running
/// only this package (`cargo test -p guild-e2e`) never tests a stale binary. Under
/// `cargo test --workspace` the binary is already built (the `guild` package has integration
/// tests), and the build is a no-op.
pub fn guild_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("GUILD_BIN") {
            return PathBuf::from(bin);
        }
        // target/<profile>/deps/<this test> → target/<profile>/guild
        let exe = std::env::current_exe().expect("the test's own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from target/<profile>/deps");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "guild", "--bin", "guild"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target);
        }
        let status = build.status().expect("run cargo build -p guild");
        assert!(status.success(), "cargo build -p guild failed");
        profile_dir.join("guild")
    })
}

/// The `guild` binary with `--home home`, and no GUILD_* or RUST_LOG from the caller's
/// environment.
pub fn guild(home: &Path) -> Command {
    let mut cmd = Command::new(guild_bin());
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

/// Runs `guild --home home args…` to completion without blocking the runtime, killing it if it
/// takes longer than [`WAIT`].
pub async fn run_async(home: &Path, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::from(guild(home));
    cmd.args(args).kill_on_drop(true);
    match tokio::time::timeout(WAIT, cmd.output()).await {
        Ok(output) => output.expect("run guild"),
        Err(_) => panic!("`guild {}` did not finish in {WAIT:?}", args.join(" ")),
    }
}

/// Exit code, stdout, stderr.
pub fn parts(output: &Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs an async `guild` command that must succeed and parses its `--json` output.
pub async fn run_json(home: &Path, args: &[&str]) -> serde_json::Value {
    let (code, out, err) = parts(&run_async(home, args).await);
    assert_eq!(code, 0, "`guild {}` failed: {err}", args.join(" "));
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("`guild {}` printed no JSON ({e}): {out}", args.join(" ")))
}

/// An initialised Guild home in a temp directory, removed on drop. Daemons started on it come
/// and go; the home stays.
pub struct TestHome {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The home.
    pub path: PathBuf,
}

impl TestHome {
    /// A new home, initialised with `guild init`.
    pub fn init() -> TestHome {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home");
        let init = run(&path, &["init"]);
        assert!(init.status.success(), "init: {:?}", parts(&init));
        TestHome { dir, path }
    }

    /// The default control socket.
    pub fn socket(&self) -> PathBuf {
        self.path.join("guild.sock")
    }

    /// The daemon's pid file.
    pub fn pid_file(&self) -> PathBuf {
        self.path.join("daemon.pid")
    }

    /// Runs `guild --home <this home> args…` (bounded).
    pub async fn guild(&self, args: &[&str]) -> Output {
        run_async(&self.path, args).await
    }
}

/// The arguments every test daemon gets: loopback, port 0, no mDNS, so tests on one machine do
/// not see each other.
pub const DAEMON_ARGS: &[&str] = &[
    "daemon",
    "--no-mdns",
    "--listen",
    "/ip4/127.0.0.1/tcp/0",
    "--web-listen",
    "127.0.0.1:0",
];

/// A running `guild daemon`.
pub struct TestDaemon {
    /// The home (owned by the daemon when started with [`TestDaemon::start`]).
    pub home: PathBuf,
    /// Its control socket.
    pub socket: PathBuf,
    /// The child process.
    pub child: tokio::process::Child,
    /// Its stderr (the log), kept beside the home.
    pub log: PathBuf,
    /// Keeps a home the daemon owns alive; dropped after the child is killed.
    owned: Option<TestHome>,
}

impl TestDaemon {
    /// Initialises a fresh home and starts the daemon with extra `daemon` args (e.g.
    /// `--bootstrap`); returns once `status` is answered.
    pub async fn start(extra: &[&str]) -> TestDaemon {
        let home = TestHome::init();
        let mut daemon = TestDaemon::spawn(&home.path, extra);
        daemon.owned = Some(home);
        daemon.wait_ready().await;
        daemon
    }

    /// Starts a daemon on an existing home and waits until it answers `status`.
    pub async fn start_on(home: &TestHome, extra: &[&str]) -> TestDaemon {
        let mut daemon = TestDaemon::spawn(&home.path, extra);
        daemon.wait_ready().await;
        daemon
    }

    /// Starts a daemon on an existing home with its socket at `socket` (`--socket`), and waits
    /// until it answers there. CLI commands for it need `--socket` too.
    pub async fn start_with_socket(home: &TestHome, socket: &Path, extra: &[&str]) -> TestDaemon {
        let mut args = vec!["--socket", socket.to_str().expect("a UTF-8 path")];
        args.extend_from_slice(extra);
        let mut daemon = TestDaemon::spawn(&home.path, &args);
        daemon.socket = socket.to_path_buf();
        daemon.wait_ready().await;
        daemon
    }

    /// Spawns `guild daemon` on `home` without waiting; its log goes to a fresh file beside the
    /// home.
    pub fn spawn(home: &Path, extra: &[&str]) -> TestDaemon {
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let log = home.with_file_name(format!("daemon-{n}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = tokio::process::Command::from(guild(home));
        cmd.args(DAEMON_ARGS)
            .args(extra)
            .env("GUILD_LOG", "info,guild_node=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true);
        let child = cmd.spawn().unwrap();
        TestDaemon {
            home: home.to_path_buf(),
            socket: home.join("guild.sock"),
            child,
            log,
            owned: None,
        }
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.socket.clone()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the daemon has not been reaped")
    }

    /// A client of its socket.
    pub async fn client(&self) -> Client {
        Client::connect(self.socket()).await.unwrap()
    }

    /// `status` over the socket.
    pub async fn status(&self) -> Status {
        bounded("status", async {
            self.client().await.status().await.unwrap()
        })
        .await
    }

    /// The dial address of this daemon: its first listen address with `/p2p/<peer id>`.
    pub async fn dial_addr(&self) -> String {
        let status = self.status().await;
        let listen = status.listen_addrs.first().expect("a listen address");
        format!("{listen}/p2p/{}", status.peer_id)
    }

    /// What it has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the socket answers `status`, failing at once if the daemon exits, and checks
    /// that it already listens. The daemon signals readiness only by answering, so this polls
    /// (with a short pause between tries).
    pub async fn wait_ready(&mut self) -> Status {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(mut client) = Client::connect(self.socket()).await {
                if let Ok(Ok(status)) = tokio::time::timeout(WAIT, client.status()).await {
                    // Every test daemon listens (DAEMON_ARGS), and the socket answers only once
                    // the network has reported where: its first `status` gives a dial address.
                    assert!(
                        !status.listen_addrs.is_empty(),
                        "the socket answered before the node listened; log:\n{}",
                        self.log_text()
                    );
                    return status;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "guild daemon exited early with {status}; log:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "guild daemon not ready in {WAIT:?}; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs `guild --home <this home> args…` (bounded).
    pub async fn guild(&self, args: &[&str]) -> Output {
        run_async(&self.home, args).await
    }

    /// Runs a `guild … --json` command that must succeed; its output parsed.
    pub async fn guild_json(&self, args: &[&str]) -> serde_json::Value {
        run_json(&self.home, args).await
    }

    /// Sends a signal (`TERM`, `KILL`…) to the daemon.
    pub fn signal(&self, name: &str) {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{name} {pid}");
    }

    /// Waits (bounded) for the daemon to exit and returns its status and how long it took.
    pub async fn wait_exit(&mut self, within: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => (status.unwrap(), started.elapsed()),
            Err(_) => panic!(
                "guild daemon did not exit within {within:?}; log:\n{}",
                self.log_text()
            ),
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!(
                "--- log of guild daemon on {} ---\n{}",
                self.home.display(),
                self.log_text()
            );
        }
    }
}

/// Awaits `fut`, failing the test if it takes longer than [`WAIT`].
pub async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {WAIT:?}"))
}

/// A real control server on a temp socket answering through a fake [`guild_node::control::Handle`],
/// for testing the CLI's output and exit codes without a network. Stops on drop.
pub struct FakeDaemon<H> {
    dir: tempfile::TempDir,
    /// The socket the CLI is pointed at.
    pub socket: std::path::PathBuf,
    /// The fake node.
    pub fake: H,
    /// Every call the fake received, in order (shared with the fake).
    pub calls: std::sync::Arc<std::sync::Mutex<Vec<guild_core::control::Call>>>,
    /// Stops the server.
    pub cancel: tokio_util::sync::CancellationToken,
    /// The server task (taken by tests that wait for it to end).
    pub task: Option<tokio::task::JoinHandle<()>>,
}

impl<H: guild_node::control::Handle> FakeDaemon<H> {
    /// Serves `fake` on a fresh socket; `calls` is the list the fake records into.
    pub async fn start(
        fake: H,
        calls: std::sync::Arc<std::sync::Mutex<Vec<guild_core::control::Call>>>,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Self {
        use guild_node::control::{self, ServerLimits, ServerStats};
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("fake.sock");
        let listener = control::bind(&socket).await.unwrap();
        let task = tokio::spawn(control::serve(
            listener,
            fake.clone(),
            ServerLimits::default(),
            ServerStats::default(),
            cancel.clone(),
        ));
        FakeDaemon {
            dir,
            socket,
            fake,
            calls,
            cancel,
            task: Some(task),
        }
    }

    /// The (never initialised) home the CLI runs with.
    pub fn home(&self) -> std::path::PathBuf {
        self.dir.path().join("home")
    }

    /// `guild --socket <fake> <args>`.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::from(guild(&self.home()));
        cmd.arg("--socket")
            .arg(&self.socket)
            .args(args)
            .kill_on_drop(true);
        cmd
    }

    /// Runs the CLI to completion: (exit code, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = tokio::time::timeout(WAIT, self.command(args).output())
            .await
            .unwrap()
            .unwrap();
        parts(&output)
    }

    /// Runs `guild events <args>` and returns its first `n` output lines (bounded by [`WAIT`]),
    /// then stops it.
    pub async fn event_lines(&self, args: &[&str], n: usize) -> Vec<String> {
        use tokio::io::AsyncBufReadExt;
        let mut all = vec!["events"];
        all.extend_from_slice(args);
        let mut child = self
            .command(&all)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::with_capacity(n);
        for _ in 0..n {
            let line = tokio::time::timeout(WAIT, lines.next_line())
                .await
                .unwrap()
                .unwrap();
            seen.push(line.unwrap());
        }
        let _ = child.kill().await;
        seen
    }

    /// The last call received.
    pub fn last_call(&self) -> guild_core::control::Call {
        self.calls.lock().unwrap().last().cloned().unwrap()
    }

    /// The calls of one method, in order.
    pub fn calls_of(&self, method: &str) -> Vec<guild_core::control::Call> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.method() == method)
            .cloned()
            .collect()
    }
}

impl<H> Drop for FakeDaemon<H> {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
