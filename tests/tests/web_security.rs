//! The web dashboard's defences, checked with a plain HTTP client against a real daemon on
//! 127.0.0.1: no session → 401; a foreign `Host` → refused even with a session (DNS
//! rebinding); cross-origin, `text/plain`, urlencoded or token-less posts → refused; no CORS
//! headers; a login link works once and no token file is left in the home; a non-loopback `web.listen` is refused; a taken port
//! moves the page and `guild status` / `guild web` say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{parts, TestDaemon, TestHome};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{redirect, StatusCode};
use serde_json::Value;

/// A client that never follows redirects nor keeps cookies: each test says what it sends.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// `guild web --json` for a daemon: (base URL, login URL).
async fn links(daemon: &TestDaemon) -> (String, String) {
    let v: Value = daemon.guild_json(&["web", "--json"]).await;
    (
        v["url"].as_str().unwrap().to_string(),
        v["login_url"].as_str().unwrap().to_string(),
    )
}

/// Logs in: returns the `Cookie` header value and the page's CSRF token.
async fn login(base: &str, login_url: &str) -> (String, String) {
    let r = http().get(login_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let page = http()
        .get(base)
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"guild-csrf\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries its CSRF token")
        .to_string();
    (cookie, csrf)
}

fn host_of(base: &str) -> String {
    base.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

#[tokio::test]
async fn requests_without_a_session_get_401_and_a_bad_token_opens_none() {
    let daemon = TestDaemon::start(&[]).await;
    let (base, login_url) = links(&daemon).await;
    for path in ["", "needs", "events", "session", "call/status"] {
        let r = http().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "GET /{path}");
    }
    // The static assets are public (the refusal pages use the stylesheet); the host rule holds.
    let r = http()
        .get(format!("{base}assets/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http()
        .post(format!("{base}call/status"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, format!("http://{}", host_of(&base)))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let forged = format!("{base}login?token={}", "0".repeat(64));
    let r = http().get(forged).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    let r = http().get(format!("{base}login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A made-up session cookie is no session.
    let port = host_of(&base).rsplit_once(':').unwrap().1.to_string();
    let r = http()
        .get(&base)
        .header(
            header::COOKIE,
            format!("guild_session_{port}={}", "1".repeat(64)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The real link works.
    let (_cookie, csrf) = login(&base, &login_url).await;
    assert_eq!(csrf.len(), 64);
}

#[tokio::test]
async fn a_foreign_host_header_is_refused_even_with_a_session() {
    let daemon = TestDaemon::start(&[]).await;
    let (base, login_url) = links(&daemon).await;
    let (cookie, _) = login(&base, &login_url).await;
    let port = host_of(&base).rsplit_once(':').unwrap().1.to_string();
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("192.168.1.10:{port}"),
    ] {
        let r = http()
            .get(&base)
            .header(header::HOST, &host)
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST, "Host: {host}");
        // The login link is refused on a foreign host too.
        let r = http()
            .get(&login_url)
            .header(header::HOST, &host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST, "Host: {host}");
    }
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let r = http()
            .get(&base)
            .header(header::HOST, &host)
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "Host: {host}");
    }
}

#[tokio::test]
async fn only_same_origin_json_with_the_csrf_token_changes_anything() {
    let daemon = TestDaemon::start(&[]).await;
    let (base, login_url) = links(&daemon).await;
    let (cookie, csrf) = login(&base, &login_url).await;
    let origin = format!("http://{}", host_of(&base));
    let url = format!("{base}call/profile.update");
    let body = r#"{"name":"Mallory"}"#;
    let post = |content_type: &str, origin: Option<&str>, csrf: Option<&str>| {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        if let Some(c) = csrf {
            h.insert("x-guild-csrf", HeaderValue::from_str(c).unwrap());
        }
        http().post(&url).headers(h).body(body).send()
    };
    let refused = [
        // What a cross-site form can send.
        (
            "text/plain",
            Some("http://evil.example"),
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "application/x-www-form-urlencoded",
            Some("http://evil.example"),
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "multipart/form-data; boundary=x",
            Some("http://evil.example"),
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        // Even same-origin, text/plain is refused.
        (
            "text/plain",
            Some(origin.as_str()),
            Some(csrf.as_str()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        // JSON from another origin, or with no origin, or with the CSRF token of nobody.
        (
            "application/json",
            Some("http://evil.example"),
            Some(csrf.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "application/json",
            Some("null"),
            Some(csrf.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "application/json",
            None,
            Some(csrf.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "application/json",
            Some(origin.as_str()),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            "application/json",
            Some(origin.as_str()),
            Some("0000"),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (ct, o, c, expected) in refused {
        let r = post(ct, o, c).await.unwrap();
        assert_eq!(r.status(), expected, "{ct} from {o:?} with csrf {c:?}");
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
    let profile: Value = daemon.guild_json(&["profile", "show", "--json"]).await;
    assert_ne!(
        profile["body"]["name"], "Mallory",
        "a refused post changed nothing"
    );

    let r = post("application/json", Some(&origin), Some(&csrf))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["body"]["name"], "Mallory");

    // Other methods than POST are not served, and no CORS preflight is ever granted.
    let r = http()
        .request(reqwest::Method::OPTIONS, &url)
        .header(header::ORIGIN, "http://evil.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-guild-csrf",
        )
        .send()
        .await
        .unwrap();
    assert!(!r.status().is_success(), "{}", r.status());
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Errors of the call itself come back as the control socket's errors.
    let r = http()
        .post(format!("{base}call/ask"))
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, &origin)
        .header("x-guild-csrf", &csrf)
        .body(r#"{"text":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32602, "{v}");
}

#[tokio::test]
async fn a_login_link_works_once_and_no_token_file_is_left_in_the_home() {
    let home = TestHome::init();
    // An earlier version's token file is removed at start.
    std::fs::write(home.path.join("web-token"), "0".repeat(64)).unwrap();
    let daemon = TestDaemon::start_on(&home, &[]).await;
    assert!(!home.path.join("web-token").exists());
    let (base, first) = links(&daemon).await;
    let (_, second) = links(&daemon).await;
    assert_ne!(first, second, "every `guild web` prints a fresh link");
    login(&base, &first).await;
    // Used once: refused, with a page that says why and what to do.
    let r = http().get(&first).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    let page = r.text().await.unwrap();
    assert!(page.contains("already been used"), "{page}");
    assert!(page.contains("guild web --open"), "{page}");
    // The other link still works, once.
    login(&base, &second).await;
    assert_eq!(
        http().get(&second).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // `guild web` says how long a link lasts.
    let v: Value = daemon.guild_json(&["web", "--json"]).await;
    assert_eq!(v["expires_in_secs"], 300, "{v}");
}

#[tokio::test]
async fn a_listen_address_off_this_machine_is_refused() {
    let home = TestHome::init();
    for addr in ["0.0.0.0:0", "192.168.1.10:7878", "[::]:0"] {
        let out = home
            .guild(&[
                "daemon",
                "--no-mdns",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--web-listen",
                addr,
            ])
            .await;
        let (code, _, err) = parts(&out);
        assert_eq!(code, 1, "{addr}: {err}");
        assert!(
            err.contains("web.listen") && err.contains("not a loopback address"),
            "{addr}: {err}"
        );
    }
    // The same from the config file.
    let config = home.path.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("listen = \"127.0.0.1:7878\"", "listen = \"0.0.0.0:7878\""),
    )
    .unwrap();
    let out = home
        .guild(&["daemon", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .await;
    let (code, _, err) = parts(&out);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("web.listen"), "{err}");
    assert!(!home.socket().exists() && !home.pid_file().exists());
}

#[tokio::test]
async fn a_taken_port_moves_the_page_and_status_says_where() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().to_string();
    let daemon = TestDaemon::start(&["--web-listen", &taken]).await;
    let status = daemon.status().await;
    let web = status.web.expect("the status reports the dashboard");
    assert_eq!(web.state, guild_core::control::WebState::Moved);
    assert_eq!(web.requested, taken);
    let url = web.url.unwrap();
    assert!(!url.contains(&taken), "{url}");
    assert!(web.note.unwrap().contains("taken"));
    let (code, out, _) = parts(&daemon.guild(&["status"]).await);
    assert_eq!(code, 0);
    assert!(out.contains(&url) && out.contains("taken"), "{out}");
    let (code, out, err) = parts(&daemon.guild(&["web"]).await);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&url) && out.contains("login?token="),
        "{out}"
    );
    assert!(err.contains("taken"), "{err}");
    let (base, login_url) = links(&daemon).await;
    assert_eq!(base, url);
    login(&base, &login_url).await;

    // Turned off: the daemon runs, status and `guild web` say so.
    let home = TestHome::init();
    let config = home.path.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("enabled = true", "enabled = false")).unwrap();
    let off = TestDaemon::start_on(&home, &[]).await;
    let web = off.status().await.web.unwrap();
    assert_eq!(web.state, guild_core::control::WebState::Disabled);
    let (code, _, err) = parts(&off.guild(&["web"]).await);
    assert_eq!(code, 1);
    assert!(
        err.contains("off") && err.contains("enabled = true"),
        "{err}"
    );
    drop(squatter);
}
