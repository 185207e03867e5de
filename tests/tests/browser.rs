//! The web dashboard in a real headless Chromium, driven over WebDriver (fantoccini +
//! chromedriver), against two real daemons on 127.0.0.1 (mDNS off).
//!
//! Ada and Bram each log in with the link `guild web` prints, fill in their profiles, and then,
//! entirely in the browser: Ada finds Bram by skill and opens his trust explanation; asks for
//! help; Bram's needs board shows the need arriving live; he offers; Ada's board shows the
//! offer arriving live; she accepts, which opens the collaboration; both post; Ada closes it
//! with a summary, Bram closes his part (an attestation counts only when both sides closed) and
//! Ada's page offers to vouch for him live; she vouches for Bram; Bram's own page shows the attestation arriving live, and
//! Ada's shows his attestation for her arriving live; Ada's trust page draws the path to Bram;
//! Bram's page on Ada's node charts his growth, and her Pulse page charts the community's needs
//! and lists what nobody has. "Live" is checked: a marker set in the page before
//! is still there once the content has arrived, so the page was not reloaded.
//!
//! A third test staffs a project on its board: Ada asks in the page for a team of two roles, the
//! offers of Bram and Cleo arrive on their roles without a reload, she accepts each for its role,
//! and the need is staffed.
//!
//! A second test connects to another daemon from the peers page (then messages it once it is gone,
//! which the page reports as not delivered), and follows a session to its end: a login link used
//! twice is refused with a page
//! that says why, log-out lands on the log-in page, and a tab open while its daemon restarts
//! says to log in again (instead of "reconnecting…" for ever), as do its forms.
//!
//! Every wait polls the DOM under a deadline. Screenshots go to `<target dir>/screenshots/`.
//! Chromium and chromedriver must be installed (`.ci/run` installs Debian's `chromium` and
//! `chromium-driver`); without them this test fails and says how to install them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestDaemon, TestHome, WAIT};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Pause between two looks at the page while waiting for a condition.
const POLL: Duration = Duration::from_millis(100);

/// Where the Debian packages put the browser and its driver, and the names on PATH.
const CHROMIUM: &[&str] = &[
    "/usr/bin/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
];
const CHROMEDRIVER: &[&str] = &["/usr/bin/chromedriver", "chromedriver"];

fn which(candidates: &[&str]) -> Option<PathBuf> {
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() {
            if p.exists() {
                return Some(p.to_path_buf());
            }
            continue;
        }
        let path = std::env::var_os("PATH")?;
        for dir in std::env::split_paths(&path) {
            let full = dir.join(c);
            if full.exists() {
                return Some(full);
            }
        }
    }
    None
}

/// A chromedriver on a free loopback port, killed on drop.
struct Driver {
    url: String,
    _child: tokio::process::Child,
    profiles: tempfile::TempDir,
    chromium: PathBuf,
}

impl Driver {
    async fn start() -> Driver {
        let hint = "the browser tests need Chromium and ChromeDriver: \
                    `apt-get install chromium chromium-driver` (Debian; .ci/run installs them)";
        let chromium = which(CHROMIUM).unwrap_or_else(|| panic!("chromium not found: {hint}"));
        let driver =
            which(CHROMEDRIVER).unwrap_or_else(|| panic!("chromedriver not found: {hint}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        loop {
            if let Ok(r) = http.get(format!("{url}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {url}"
            );
            tokio::time::sleep(POLL).await;
        }
        Driver {
            url,
            _child: child,
            profiles: tempfile::tempdir().unwrap(),
            chromium,
        }
    }

    /// A new headless browser with its own profile directory.
    async fn browser(&self, name: &str) -> Client {
        let dir = self.profiles.path().join(name);
        let args = json!([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
            format!("--user-data-dir={}", dir.display()),
        ]);
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": self.chromium, "args": args }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a WebDriver session")
    }
}

/// Where screenshots go: `<target dir>/screenshots/`.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .unwrap();
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(b: &Client, name: &str) {
    let png = b.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// Waits until an element matching `css` contains `text` (or exists, for an empty `text`).
async fn wait_text(b: &Client, css: &str, text: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(elements) = b.find_all(Locator::Css(css)).await {
            for e in elements {
                if let Ok(t) = e.text().await {
                    if t.contains(text) {
                        return e;
                    }
                }
            }
        }
        if Instant::now() > deadline {
            let body = match b.find(Locator::Css("main")).await {
                Ok(m) => m.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("no `{css}` containing {text:?} within {WAIT:?}; the page shows:\n{body}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Types into the field `css` (cleared first).
async fn fill(b: &Client, css: &str, text: &str) {
    let e = b
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no {css}"));
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(b: &Client, css: &str) {
    b.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no {css}"))
        .click()
        .await
        .unwrap();
}

/// Accepts the confirmation the page asks before something that cannot be undone, checking
/// its question.
async fn confirm(b: &Client, question: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        match b.get_alert_text().await {
            Ok(text) => {
                assert!(text.contains(question), "asked {text:?}, not {question:?}");
                b.accept_alert().await.unwrap();
                return;
            }
            Err(_) if Instant::now() < deadline => tokio::time::sleep(POLL).await,
            Err(e) => panic!("no confirmation {question:?} within {WAIT:?}: {e}"),
        }
    }
}

/// Marks the page, to tell later that it was updated in place rather than reloaded.
async fn mark(b: &Client) {
    b.execute("window.guildMark = 'still here'; return true;", vec![])
        .await
        .unwrap();
}

async fn assert_not_reloaded(b: &Client, what: &str) {
    let v = b
        .execute("return window.guildMark || null;", vec![])
        .await
        .unwrap();
    assert_eq!(
        v,
        json!("still here"),
        "{what} arrived by reloading the page, not live"
    );
}

/// Waits until the page's event stream is open, so nothing sent afterwards is missed.
async fn wait_live(b: &Client) {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = b
            .execute("return document.body.dataset.live || null;", vec![])
            .await
            .unwrap();
        if v == json!("open") {
            return;
        }
        assert!(Instant::now() < deadline, "the event stream did not open");
        tokio::time::sleep(POLL).await;
    }
}

/// A `guild … --json` command that must succeed (setting the stage outside the browser).
async fn cli(d: &TestDaemon, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    d.guild_json(&args).await
}

/// Polls `check` until it holds, under [`WAIT`].
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The login link of a daemon, from `guild web --json`.
async fn login_url(d: &TestDaemon) -> (String, String) {
    let v: Value = d.guild_json(&["web", "--json"]).await;
    (
        v["url"].as_str().unwrap().to_string(),
        v["login_url"].as_str().unwrap().to_string(),
    )
}

/// Sets name and one skill on the profile page.
async fn set_profile(b: &Client, base: &str, name: &str, skill: Option<(&str, &str)>) {
    b.goto(&format!("{base}profile")).await.unwrap();
    fill(b, "#name", name).await;
    click(b, "form:has(#name) button[type=submit]").await;
    wait_text(b, "#profile-summary", name).await;
    if let Some((tag, level)) = skill {
        fill(b, "#skill-tag", tag).await;
        b.find(Locator::Css(&format!("#skill-level option[value={level}]")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        click(b, "form:has(#skill-tag) button[type=submit]").await;
        wait_text(b, "#skill-list", &format!("{tag} — {level}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_work_together_entirely_in_the_browser() {
    let driver = Driver::start().await;
    let ada_node = TestDaemon::start(&[]).await;
    let dial = ada_node.dial_addr().await;
    let bram_node = TestDaemon::start(&["--bootstrap", &dial]).await;
    let bram_id = bram_node.status().await.peer_id;
    let ada_id = ada_node.status().await.peer_id;

    let ada = driver.browser("ada").await;
    let bram = driver.browser("bram").await;
    let (ada_base, ada_login) = login_url(&ada_node).await;
    let (bram_base, bram_login) = login_url(&bram_node).await;
    ada.goto(&ada_login).await.unwrap();
    wait_text(&ada, "h1", "Overview").await;
    bram.goto(&bram_login).await.unwrap();
    wait_text(&bram, "h1", "Overview").await;

    set_profile(&ada, &ada_base, "Ada", Some(("pcb-design", "advanced"))).await;
    set_profile(&bram, &bram_base, "Bram", Some(("kicad", "expert"))).await;

    // Find: Ada searches until Bram's profile has reached her node, then opens his page.
    let deadline = Instant::now() + WAIT;
    loop {
        ada.goto(&format!("{ada_base}find?q=kicad")).await.unwrap();
        wait_text(&ada, "h1", "Find").await;
        if let Ok(row) = ada.find(Locator::Css("#results a.member")).await {
            if row.text().await.unwrap_or_default().contains("Bram") {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Bram never showed up in Ada's search"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    wait_text(&ada, "#results td", "kicad at expert").await;
    shot(&ada, "find").await;
    click(&ada, "#results a.member").await;
    wait_text(&ada, "h1", "Bram").await;
    wait_text(&ada, "main", "Your trust in Bram").await;

    // Ask: Bram watches his needs board; Ada asks.
    bram.goto(&format!("{bram_base}needs")).await.unwrap();
    wait_live(&bram).await;
    mark(&bram).await;
    ada.goto(&format!("{ada_base}needs")).await.unwrap();
    wait_live(&ada).await;
    fill(&ada, "#ask-text", "Review my KiCad layout").await;
    fill(&ada, "#ask-skills", "kicad").await;
    click(&ada, "#ask button[type=submit]").await;
    wait_text(&ada, "#my-needs", "Review my KiCad layout").await;
    mark(&ada).await;

    // The need arrives on Bram's board live; he offers.
    wait_text(&bram, "#matching .card", "Review my KiCad layout").await;
    assert_not_reloaded(&bram, "the need").await;
    shot(&bram, "needs-live").await;
    fill(
        &bram,
        "#matching textarea[name=text]",
        "I can review it tonight",
    )
    .await;
    click(&bram, "#matching button[type=submit]").await;
    wait_text(&bram, "#my-offers", "I can review it tonight").await;
    // The need's card now says what became of his offer, with a way to take it back.
    wait_text(&bram, "#matching .my-offer", "waiting for an answer").await;
    wait_text(&bram, "#matching .my-offer button", "Withdraw offer").await;

    // The offer arrives on Ada's board live; she accepts, which opens the collaboration.
    wait_text(&ada, "#my-needs .offer", "I can review it tonight").await;
    assert_not_reloaded(&ada, "the offer").await;
    shot(&ada, "needs-offer").await;
    click(&ada, "#my-needs .offer button[type=submit]").await;
    wait_text(&ada, "h2", "Members").await;
    let collab_url = ada.current_url().await.unwrap().to_string();
    let collab_id = collab_url.rsplit('/').next().unwrap().to_string();

    // Post: Ada, then Bram on his copy of the collaboration.
    fill(&ada, "#post-text", "Schematic attached").await;
    click(&ada, "form:has(#post-text) button[type=submit]").await;
    wait_text(&ada, "#log", "Schematic attached").await;
    bram.goto(&format!("{bram_base}collabs")).await.unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        if bram
            .find(Locator::Css(&format!("a[href='/collabs/{collab_id}']")))
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the collaboration never reached Bram"
        );
        tokio::time::sleep(POLL).await;
    }
    click(&bram, &format!("a[href='/collabs/{collab_id}']")).await;
    wait_text(&bram, "#log", "Schematic attached").await;
    wait_live(&bram).await;
    mark(&bram).await;
    fill(&bram, "#post-text", "Looks good; two nets to reroute").await;
    click(&bram, "form:has(#post-text) button[type=submit]").await;
    wait_text(&ada, "#log", "Looks good; two nets to reroute").await;

    // Close with a summary; Bram's page follows live.
    fill(&ada, "#close-summary", "Layout reviewed and shipped").await;
    click(&ada, "form:has(#close-summary) button[type=submit]").await;
    confirm(&ada, "Close this collaboration?").await;
    wait_text(&ada, "#closed-note", "closed").await;
    wait_text(&bram, "#log", "Layout reviewed and shipped").await;
    assert_not_reloaded(&bram, "the close").await;
    wait_text(&ada, "#vouch", "has not closed their part yet").await;

    // Bram closes his part too; Ada's page then offers to vouch for him, live.
    wait_text(&bram, "#close-part", "Close your part").await;
    mark(&ada).await;
    click(&bram, "#close-part button[type=submit]").await;
    confirm(&bram, "Close your part?").await;
    wait_text(&ada, "#vouch button[type=submit]", "Vouch for").await;
    assert_not_reloaded(&ada, "Bram's close").await;

    // Bram watches his own page; Ada vouches for him.
    bram.goto(&format!("{bram_base}member/{bram_id}"))
        .await
        .unwrap();
    wait_text(&bram, "#member-attestations", "None known").await;
    wait_live(&bram).await;
    mark(&bram).await;
    fill(&ada, "#vouch input[name=skill]", "kicad").await;
    fill(&ada, "#vouch input[name=note]", "clean layout, fast").await;
    click(&ada, "#vouch button[type=submit]").await;
    wait_text(&ada, "#vouch .attested", "You vouched: kicad +5").await;
    shot(&ada, "collaboration").await;
    wait_text(
        &bram,
        "#member-attestations .attestation",
        "clean layout, fast",
    )
    .await;
    assert_not_reloaded(&bram, "the attestation").await;
    shot(&bram, "attestation-live").await;

    // And the other way round: Bram vouches for Ada, whose own page shows it arrive.
    ada.goto(&format!("{ada_base}member/{ada_id}"))
        .await
        .unwrap();
    wait_text(&ada, "#member-attestations", "None known").await;
    wait_live(&ada).await;
    mark(&ada).await;
    bram.goto(&format!("{bram_base}collabs/{collab_id}"))
        .await
        .unwrap();
    fill(&bram, "#vouch input[name=skill]", "pcb-design").await;
    fill(&bram, "#vouch input[name=score]", "4").await;
    fill(&bram, "#vouch input[name=note]", "clear brief").await;
    click(&bram, "#vouch button[type=submit]").await;
    wait_text(&bram, "#vouch .attested", "You vouched: pcb-design +4").await;
    wait_text(&ada, "#member-attestations .attestation", "clear brief").await;
    assert_not_reloaded(&ada, "Bram's attestation").await;

    // Inbox: Bram writes to Ada from her page; her inbox shows it arrive; she replies.
    ada.goto(&format!("{ada_base}inbox")).await.unwrap();
    wait_text(&ada, "#messages", "No messages").await;
    wait_live(&ada).await;
    mark(&ada).await;
    bram.goto(&format!("{bram_base}member/{ada_id}"))
        .await
        .unwrap();
    fill(&bram, "#m-text", "Thanks for the clear brief!").await;
    click(&bram, "form:has(#m-text) button[type=submit]").await;
    wait_text(&bram, "form:has(#m-text) .form-status", "Done").await;
    wait_text(&ada, "#messages .message", "Thanks for the clear brief!").await;
    assert_not_reloaded(&ada, "Bram's message").await;
    fill(&ada, "#messages .message input[name=text]", "Any time.").await;
    click(&ada, "#messages .message button[type=submit]").await;
    wait_text(&ada, "#messages", "Any time.").await;
    bram.goto(&format!("{bram_base}inbox")).await.unwrap();
    wait_text(&bram, "#messages", "Any time.").await;

    // Withdraw: a need Ada no longer has is shown as withdrawn on both boards, never as open.
    bram.goto(&format!("{bram_base}needs")).await.unwrap();
    wait_live(&bram).await;
    ada.goto(&format!("{ada_base}needs")).await.unwrap();
    fill(&ada, "#ask-text", "Laser-cut a front panel").await;
    fill(&ada, "#ask-skills", "kicad").await;
    click(&ada, "#ask button[type=submit]").await;
    let card = "#my-needs .card:has(.need-text)";
    wait_text(&ada, card, "Laser-cut a front panel").await;
    wait_text(&bram, "#matching .card", "Laser-cut a front panel").await;
    mark(&bram).await;
    let withdraw = ada.find_all(Locator::Css("#my-needs .card")).await.unwrap();
    let mut clicked = false;
    for c in withdraw {
        if c.text().await.unwrap().contains("Laser-cut a front panel") {
            c.find(Locator::Css("form[data-call='need.withdraw'] button"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            confirm(&ada, "Withdraw this need?").await;
            clicked = true;
            break;
        }
    }
    assert!(clicked, "no withdraw button on Ada's need");
    until(
        "the withdrawn need shows as withdrawn on Ada's and Bram's boards",
        || async {
            let html = |b: &Client, css: &'static str| {
                let b = b.clone();
                async move {
                    match b.find(Locator::Css(css)).await {
                        Ok(e) => e.html(false).await.unwrap_or_default(),
                        Err(_) => String::new(),
                    }
                }
            };
            // Ada's stays in her list as a closed card, without its withdraw button; Bram's
            // leaves his open needs for the Closed section.
            let ada_closed = html(&ada, "#my-needs .card.closed").await;
            let bram_open = html(&bram, "#matching > ul.cards").await;
            let bram_closed = html(&bram, "#matching .closed-needs").await;
            ada_closed.contains("Laser-cut")
                && ada_closed.contains("withdrawn,")
                && !ada_closed.contains("need.withdraw")
                && !bram_open.contains("Laser-cut")
                && bram_closed.contains("Laser-cut")
                && bram_closed.contains("withdrawn,")
        },
    )
    .await;
    assert_not_reloaded(&bram, "the withdrawal").await;

    // A third member, Cleo, works with Bram (set up with the CLI), so that Ada's trust in Cleo
    // runs through Bram: the graph then has a real path to draw.
    let cleo_node = TestDaemon::start(&["--bootstrap", &dial]).await;
    let cleo_id = cleo_node.status().await.peer_id;
    cli(&cleo_node, &["profile", "set", "--name", "Cleo"]).await;
    cli(
        &cleo_node,
        &["profile", "skill", "add", "kicad", "--level", "advanced"],
    )
    .await;
    let asked = cli(
        &bram_node,
        &[
            "ask",
            "Second pair of eyes on the layout",
            "--skill",
            "kicad",
        ],
    )
    .await;
    let need = asked["need"]["id"].as_str().unwrap().to_string();
    until("Cleo sees Bram's need", || async {
        let v = cli(&cleo_node, &["needs", "--matching"]).await;
        v["needs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == need.as_str())
    })
    .await;
    let offer = cli(&cleo_node, &["offer", &need, "Happy to"]).await;
    let offer_id = offer["id"].as_str().unwrap().to_string();
    until("Bram receives Cleo's offer", || async {
        let v = cli(&bram_node, &["offers"]).await;
        v["offers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == offer_id.as_str())
    })
    .await;
    let second = cli(&bram_node, &["accept", &offer_id]).await;
    let second_id = second["id"].as_str().unwrap().to_string();
    cli(
        &bram_node,
        &["collab", "close", &second_id, "--summary", "checked"],
    )
    .await;
    // Cleo closes her part once Bram's close reached her; Bram vouches once hers reached him.
    until("Cleo holds the collaboration, closed by Bram", || async {
        let v = cli(&cleo_node, &["collab", "list"]).await;
        v["collabs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == second_id.as_str() && c["closed"] == true)
    })
    .await;
    cli(&cleo_node, &["collab", "close", &second_id]).await;
    until("Bram holds Cleo's close", || async {
        let v = cli(&bram_node, &["collab", "show", &second_id]).await;
        v["closed_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == cleo_id.as_str())
    })
    .await;
    cli(
        &bram_node,
        &[
            "vouch", &cleo_id, "--skill", "kicad", "--score", "4", "--collab", &second_id,
        ],
    )
    .await;
    let deadline = Instant::now() + WAIT;
    loop {
        ada.goto(&format!("{ada_base}trust?peer={cleo_id}&skill=kicad"))
            .await
            .unwrap();
        wait_text(&ada, "h1", "Trust").await;
        if let Ok(svg) = ada.find(Locator::Css("svg.trust-graph")).await {
            let text = svg.text().await.unwrap_or_default();
            if text.contains("Bram") && text.contains("Cleo") {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Ada's trust in Cleo never ran through Bram"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    wait_text(&ada, "table.paths", "me → Bram → Cleo").await;
    shot(&ada, "trust-path").await;

    // Trust: Ada's explanation of Bram draws the path from her to him, beside the table.
    let deadline = Instant::now() + WAIT;
    loop {
        ada.goto(&format!("{ada_base}trust?peer={bram_id}&skill=kicad"))
            .await
            .unwrap();
        wait_text(&ada, "h1", "Trust").await;
        if ada.find(Locator::Css("svg.trust-graph")).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Ada's trust in Bram never got a supporting path"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    wait_text(&ada, "table.contributors", "me").await;
    wait_text(&ada, "svg.trust-graph", "Bram").await;
    shot(&ada, "trust").await;

    // Growth: on Ada's node, Bram's page charts his counted attestation (Ada's, in kicad) and
    // his collaborations, and names whom he worked with.
    cli(
        &ada_node,
        &["ask", "Weld a steel bracket", "--skill", "welding"],
    )
    .await;
    let deadline = Instant::now() + WAIT;
    loop {
        ada.goto(&format!("{ada_base}member/{bram_id}"))
            .await
            .unwrap();
        wait_text(&ada, "h1", "Bram").await;
        if let Ok(svg) = ada.find(Locator::Css("#growth svg.chart")).await {
            if svg.text().await.unwrap_or_default().contains("vouched") {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Bram's growth chart never appeared on Ada's node"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    wait_text(&ada, "#growth-skills", "kicad").await;
    wait_text(&ada, "#growth", "Worked with:").await;
    wait_text(&ada, "#growth", "Ada (1)").await;
    wait_text(&ada, "#growth-levels", "kicad expert").await;
    ada.execute(
        "document.getElementById('growth').scrollIntoView(); return true;",
        vec![],
    )
    .await
    .unwrap();
    shot(&ada, "growth").await;

    // Pulse: the tags asked for, the weekly chart (small counts drawn as hidden stubs), and
    // welding, which nobody has, in the lacks list with links to find and to invite.
    ada.goto(&format!("{ada_base}pulse")).await.unwrap();
    wait_text(&ada, "h1", "Pulse").await;
    wait_text(&ada, "#weekly svg.chart", "needs").await;
    wait_text(&ada, "#pulse-table", "kicad").await;
    wait_text(&ada, "#lacks", "welding").await;
    ada.find(Locator::Css("#lacks a[href='/find?q=welding']"))
        .await
        .expect("a link to find welding");
    wait_text(&ada, "#invite", "guild daemon --bootstrap").await;
    let hidden = ada
        .find_all(Locator::Css("#weekly svg.chart rect.hidden"))
        .await
        .unwrap();
    assert!(!hidden.is_empty(), "small counts are drawn as hidden stubs");
    shot(&ada, "pulse").await;
    ada.execute(
        "document.getElementById('weekly').scrollIntoView(); return true;",
        vec![],
    )
    .await
    .unwrap();
    shot(&ada, "pulse-charts").await;

    // The overview, and the needs board at phone width.
    ada.goto(&ada_base).await.unwrap();
    wait_text(&ada, "#peers", "Bram").await;
    shot(&ada, "overview").await;
    bram.set_window_size(390, 844).await.unwrap();
    bram.goto(&format!("{bram_base}needs")).await.unwrap();
    wait_text(&bram, "h1", "Needs").await;
    shot(&bram, "needs-phone").await;
    let overflow = bram
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow,
        json!(true),
        "the needs board scrolls sideways at phone width"
    );
    bram.goto(&format!("{bram_base}pulse")).await.unwrap();
    wait_text(&bram, "#weekly svg.chart", "offers").await;
    bram.execute(
        "document.getElementById('scarce').scrollIntoView(); return true;",
        vec![],
    )
    .await
    .unwrap();
    shot(&bram, "pulse-phone").await;
    let overflow = bram
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow,
        json!(true),
        "the Pulse page scrolls sideways at phone width"
    );

    // Ada takes Bram as a trust root, then removes him from the trust page; and revokes her
    // attestation for him from his page. Both ask first.
    ada.goto(&format!("{ada_base}member/{bram_id}"))
        .await
        .unwrap();
    fill(&ada, "#m-root-note", "reviewed my board").await;
    click(&ada, "form:has(#m-root-note) button[type=submit]").await;
    wait_text(&ada, "form:has(#m-root-note) .form-status", "Done").await;
    ada.goto(&format!("{ada_base}trust")).await.unwrap();
    wait_text(&ada, "#trust-roots", "reviewed my board").await;
    click(&ada, "#trust-roots form[data-call='trust.remove'] button").await;
    confirm(&ada, "Remove this member from your trust roots").await;
    wait_text(&ada, "#trust-roots", "None yet").await;
    ada.goto(&format!("{ada_base}member/{bram_id}"))
        .await
        .unwrap();
    click(&ada, "#member-attestations form.revoke button").await;
    confirm(&ada, "Revoke your attestation?").await;
    wait_text(
        &ada,
        "#member-attestations .attestation",
        "revoked by its issuer",
    )
    .await;

    ada.close().await.unwrap();
    bram.close().await.unwrap();
}

/// Waits until the page's `data-live` is `want`.
async fn wait_live_state(b: &Client, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = b
            .execute("return document.body.dataset.live || null;", vec![])
            .await
            .unwrap();
        if v == json!(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page's live state is {v}, not {want:?}, after {WAIT:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_cleanly_reused_links_log_out_and_a_restarted_daemon() {
    let driver = Driver::start().await;
    let home = TestHome::init();
    let mut node = TestDaemon::start_on(&home, &[]).await;
    let (base, first) = login_url(&node).await;
    let eve = driver.browser("eve").await;
    eve.goto(&first).await.unwrap();
    wait_text(&eve, "h1", "Overview").await;

    // The peers page: connect to another daemon by pasting its address.
    let other = TestDaemon::start(&[]).await;
    let other_id = other.status().await.peer_id;
    eve.goto(&format!("{base}peers")).await.unwrap();
    wait_text(&eve, "#peer-list", "No peers connected").await;
    wait_live(&eve).await;
    fill(&eve, "#connect-addr", &other.dial_addr().await).await;
    click(&eve, "form:has(#connect-addr) button[type=submit]").await;
    wait_text(&eve, "form:has(#connect-addr) .form-status", "Done").await;
    // The list is a live region: an event may replace it between finding a row and reading
    // it, so each check finds the rows afresh.
    until("a row names the new peer, outbound", || async {
        let Ok(rows) = eve.find_all(Locator::Css("#peer-list tr")).await else {
            return false;
        };
        for row in rows {
            if let Ok(html) = row.html(false).await {
                if html.contains(&other_id) && html.contains("outbound") {
                    return true;
                }
            }
        }
        false
    })
    .await;
    shot(&eve, "peers").await;
    // Gone: a message to it is not "Done." but says it was not delivered.
    drop(other);
    eve.goto(&format!("{base}inbox")).await.unwrap();
    fill(&eve, "#new-peer", &other_id).await;
    fill(&eve, "#new-text", "are you there?").await;
    click(&eve, "form:has(#new-peer) button[type=submit]").await;
    wait_text(&eve, "form:has(#new-peer) .form-status", "Not delivered").await;

    // The same link again (from the history, say): refused, saying why and what to do.
    eve.goto(&first).await.unwrap();
    wait_text(&eve, "h1", "This link does not work").await;
    wait_text(&eve, ".refusal-message", "already been used").await;
    wait_text(&eve, "main", "guild web --open").await;

    // Still logged in through the cookie; log out from the page.
    eve.goto(&base).await.unwrap();
    wait_live(&eve).await;
    click(&eve, "#logout").await;
    wait_text(&eve, "h1", "Log in").await;
    eve.goto(&base).await.unwrap();
    wait_text(&eve, "h1", "Log in").await;

    // Logged in again, the daemon restarts on the same dashboard address: the open tab says so.
    let (_, again) = login_url(&node).await;
    eve.goto(&again).await.unwrap();
    wait_text(&eve, "h1", "Overview").await;
    eve.goto(&format!("{base}profile")).await.unwrap();
    wait_live(&eve).await;
    let web_addr = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    node.signal("TERM");
    node.wait_exit(WAIT).await;
    let node = TestDaemon::start_on(&home, &["--web-listen", &web_addr]).await;
    wait_live_state(&eve, "ended").await;
    wait_text(&eve, "#session-ended", "log in again").await;
    // A form on that tab says the same, not "the request failed (401)".
    fill(&eve, "#name", "Eve").await;
    click(&eve, "form:has(#name) button[type=submit]").await;
    wait_text(&eve, "form:has(#name) .form-status", "session has ended").await;
    shot(&eve, "session-ended").await;
    drop(node);
    eve.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_is_staffed_role_by_role_on_its_board() {
    let driver = Driver::start().await;
    let ada_node = TestDaemon::start(&[]).await;
    let dial = ada_node.dial_addr().await;
    let bram_node = TestDaemon::start(&["--bootstrap", &dial]).await;
    let cleo_node = TestDaemon::start(&["--bootstrap", &dial]).await;
    for (node, name, skill) in [
        (&bram_node, "Bram", "kicad"),
        (&cleo_node, "Cleo", "embedded-rust"),
    ] {
        cli(node, &["profile", "set", "--name", name]).await;
        cli(
            node,
            &["profile", "skill", "add", skill, "--level", "advanced"],
        )
        .await;
    }
    let ada = driver.browser("ada-project").await;
    let (base, login) = login_url(&ada_node).await;
    ada.goto(&login).await.unwrap();
    wait_text(&ada, "h1", "Overview").await;

    // Ada asks for a team in the page: two roles, one line each.
    ada.goto(&format!("{base}needs")).await.unwrap();
    fill(&ada, "#ask-text", "A sensor board, end to end").await;
    click(&ada, "#ask details summary").await;
    fill(&ada, "#ask-roles", "layout: kicad\nfirmware: embedded-rust").await;
    click(&ada, "#ask button[type=submit]").await;
    wait_text(&ada, "#my-needs .card", "A sensor board, end to end").await;
    let need = cli(&ada_node, &["needs", "--mine"]).await["needs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    ada.goto(&format!("{base}needs/{need}")).await.unwrap();
    wait_text(&ada, "#roles", "layout").await;
    wait_text(&ada, "#staffing-status", "staffing").await;
    wait_live(&ada).await;
    mark(&ada).await;

    // Each offers on their own role; each offer appears on its role without a reload, and Ada
    // accepts it for that role.
    for (node, role, name) in [
        (&bram_node, "layout", "Bram"),
        (&cleo_node, "firmware", "Cleo"),
    ] {
        until(&format!("{name} sees the need"), || async {
            let v = cli(node, &["needs", "--matching"]).await;
            v["needs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["id"] == need.as_str())
        })
        .await;
        cli(
            node,
            &[
                "offer",
                &need,
                "--role",
                role,
                &format!("{name} can do the {role}"),
            ],
        )
        .await;
        let card = format!(".card.role[data-role='{role}']");
        wait_text(
            &ada,
            &format!("{card} .offer"),
            &format!("{name} can do the {role}"),
        )
        .await;
        assert_not_reloaded(&ada, &format!("{name}'s offer")).await;
        click(&ada, &format!("{card} form[data-call='accept'] button")).await;
        wait_text(&ada, &card, "filled (1 of 1)").await;
    }
    wait_text(&ada, "#staffing-status", "staffed").await;
    ada.goto(&format!("{base}needs/{need}")).await.unwrap();
    wait_text(&ada, "#project-terms", "2 of 2 seats filled").await;
    wait_text(&ada, "#project-terms a", "Open the team's collaboration").await;
    shot(&ada, "project").await;
    ada.close().await.unwrap();
}

/// Warm introductions in the page: Ada asks Bram (by the CLI) to introduce her to Cleo, Bram
/// passes it on, and Cleo accepts in her dashboard's Introductions inbox, where the
/// introduction arrives live; both then show "introduced by Bram", and Cleo's page for Ada says
/// so too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_introduction_is_accepted_from_the_dashboard_inbox() {
    let driver = Driver::start().await;
    let bram_node = TestDaemon::start(&[]).await;
    let dial = bram_node.dial_addr().await;
    let ada_node = TestDaemon::start(&["--bootstrap", &dial]).await;
    let cleo_node = TestDaemon::start(&["--bootstrap", &dial]).await;
    let bram_id = bram_node.status().await.peer_id;
    let ada_id = ada_node.status().await.peer_id;
    let cleo_id = cleo_node.status().await.peer_id;
    for (node, name) in [
        (&ada_node, "Ada"),
        (&bram_node, "Bram"),
        (&cleo_node, "Cleo"),
    ] {
        cli(node, &["profile", "set", "--name", name]).await;
    }
    cli(
        &cleo_node,
        &["profile", "skill", "add", "kicad", "--level", "advanced"],
    )
    .await;

    let cleo = driver.browser("cleo-intro").await;
    let (base, login) = login_url(&cleo_node).await;
    cleo.goto(&login).await.unwrap();
    wait_text(&cleo, "h1", "Overview").await;
    cleo.goto(&format!("{base}intros")).await.unwrap();
    wait_text(&cleo, "#intros", "Nobody introduced anyone to you.").await;
    wait_live(&cleo).await;
    mark(&cleo).await;

    let asked = cli(
        &ada_node,
        &[
            "intro",
            &cleo_id,
            "--via",
            &bram_id,
            "--note",
            "I need a hand with a KiCad footprint",
        ],
    )
    .await;
    let id = asked["id"].as_str().unwrap().to_string();
    until("Bram is asked", || async {
        cli(&bram_node, &["intro", "list"]).await["to_relay"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    })
    .await;
    cli(
        &bram_node,
        &["intro", "accept", &id, "--note", "Ada is great"],
    )
    .await;

    // The introduction arrives in Cleo's inbox without a reload; she accepts it there.
    let card = wait_text(
        &cleo,
        "#intros .card.intro",
        "I need a hand with a KiCad footprint",
    )
    .await;
    assert!(card.text().await.unwrap().contains("Ada is great"));
    assert_not_reloaded(&cleo, "the introduction").await;
    shot(&cleo, "intro-inbox").await;
    click(
        &cleo,
        "#intros .card.intro form[data-call='intro.answer']:has(input[name=accept]:checked) button",
    )
    .await;
    wait_text(&cleo, "#introduced", "introduced by").await;
    until("Ada learns it", || async {
        cli(&ada_node, &["intro", "list"]).await["introduced"]
            .as_array()
            .is_some_and(|l| l.len() == 1 && l[0]["by"] == bram_id.as_str())
    })
    .await;
    let on_cleo = cli(&cleo_node, &["intro", "list"]).await;
    assert_eq!(on_cleo["introduced"][0]["peer"], ada_id.as_str());
    assert!(on_cleo["to_me"].as_array().unwrap().is_empty());

    // The CLI gives the context too: in Ada's find results and on Cleo's profile.
    until("Ada finds Cleo, introduced by Bram", || async {
        let found = cli(&ada_node, &["find", "kicad", "--local"]).await;
        found["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["peer"] == cleo_id.as_str() && r["introduced_by"] == bram_id.as_str())
    })
    .await;
    let shown = ada_node.guild(&["profile", "show", &cleo_id]).await;
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("introduced by") && text.contains(&bram_id),
        "{text}"
    );

    // Ada's page on Cleo's node gives the context.
    cleo.goto(&format!("{base}member/{ada_id}")).await.unwrap();
    wait_text(&cleo, "#member-intro", "was introduced to you by").await;
    shot(&cleo, "intro-member").await;
    cleo.close().await.unwrap();
}

/// The Invite panel: Ada creates a code in the page and sees it with its link and a QR code drawn
/// on the server; Bram, on a fresh daemon, pastes it in his Join form with "trust the inviter"
/// ticked; Ada's list then shows the use and Bram's trust roots name her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_is_made_shown_as_a_qr_code_and_used_from_the_dashboard() {
    let driver = Driver::start().await;
    let ada_node = TestDaemon::start(&[]).await;
    cli(&ada_node, &["profile", "set", "--name", "Ada"]).await;
    let (ada_base, ada_login) = login_url(&ada_node).await;
    let ada = driver.browser("ada-invite").await;
    ada.goto(&ada_login).await.unwrap();
    wait_text(&ada, "h1", "Overview").await;
    ada.goto(&format!("{ada_base}invite")).await.unwrap();
    wait_text(&ada, "h1", "Invite").await;
    wait_text(&ada, "#invite-list", "No invitation codes yet").await;
    fill(&ada, "#invite-note", "welcome, Bram").await;
    click(&ada, "#invite-form button[type=submit]").await;
    // The page moves to the new code: its text, its link and the QR code as inline SVG.
    let shown = wait_text(&ada, "#invite-code", "guild://join/guild1-").await;
    let html = shown.html(false).await.unwrap();
    assert!(
        html.contains("<svg class=\"qr\""),
        "a QR code in SVG: {html}"
    );
    assert!(html.contains("<path"), "the QR code has modules");
    let code = ada
        .find(Locator::Css("#invite-text"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(code.starts_with("guild1-"), "{code}");
    wait_text(&ada, "#invite-list", "0/1").await;
    shot(&ada, "invite").await;

    // Bram joins from his dashboard with the pasted code, trusting Ada.
    let bram_node = TestDaemon::start(&[]).await;
    let (bram_base, bram_login) = login_url(&bram_node).await;
    let bram = driver.browser("bram-invite").await;
    bram.goto(&bram_login).await.unwrap();
    wait_text(&bram, "h1", "Overview").await;
    bram.goto(&format!("{bram_base}invite")).await.unwrap();
    fill(&bram, "#join-code", &code).await;
    click(&bram, "#join-trust").await;
    click(&bram, "#join-form button[type=submit]").await;
    wait_text(&bram, "#join-form .form-status", "Done").await;
    let ada_id = ada_node.status().await.peer_id;
    let roots = cli(&bram_node, &["trust", "roots"]).await;
    assert_eq!(roots["roots"][0]["peer"], ada_id.as_str(), "{roots}");
    // Ada's list shows the use (live or on reload).
    ada.goto(&format!("{ada_base}invite")).await.unwrap();
    wait_text(&ada, "#invite-list", "1/1").await;
    wait_text(&ada, "#invite-list", "used up").await;
    ada.close().await.unwrap();
    bram.close().await.unwrap();
}
