//! The reputation commands (`vouch`, `revoke`, `attestations`, `trust`) against the real control
//! server backed by a fake node: what they send, how they print, their exit codes; and one real
//! end-to-end run with two daemons, driven through the `guild` command only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{parts, TestDaemon};
use guild_core::control::reputation::{
    AttestationStatus, AttestationView, Attestations, TrustView,
};
use guild_core::control::{Call, CallError, Event, IndexSizes, ProfileDraft, Status};
use guild_core::control::{Reply, Unary};
use guild_core::{Identity, PublicKey, RecordId, Signed, SkillTag};
use guild_node::control::Handle;
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Exit codes documented in `guild --help`.
const USAGE: i32 = 2;
const NOT_RUNNING: i32 = 3;
const NOT_FOUND: i32 = 4;

/// A closed collaboration; [`OPEN`] is not closed yet; [`UNKNOWN`] is not known.
const COLLAB: RecordId = RecordId([0x33; 32]);
const OPEN: RecordId = RecordId([0x34; 32]);
const UNKNOWN: RecordId = RecordId([0x35; 32]);
/// Attestations: counted, unbacked, revoked; [`GONE`] is unknown.
const ATT: RecordId = RecordId([0x61; 32]);
const UNBACKED: RecordId = RecordId([0x62; 32]);
const REVOKED: RecordId = RecordId([0x63; 32]);
const GONE: RecordId = RecordId([0x64; 32]);

fn identity(seed: u8) -> Identity {
    Identity::from_secret([seed; 32])
}

fn key(seed: u8) -> PublicKey {
    identity(seed).public()
}

/// The fake node ("Ada"), Bea and Cy (who have profiles), and Dan (who has none).
fn me() -> PublicKey {
    key(1)
}
fn bea() -> PublicKey {
    key(2)
}
fn cy() -> PublicKey {
    key(3)
}
fn dan() -> PublicKey {
    key(4)
}
/// A member the fake trusts through a single bridge (a penalty applies).
fn eve() -> PublicKey {
    key(5)
}
/// A member nothing supports.
fn nobody() -> PublicKey {
    key(6)
}
/// A member whose explanation has a shape this build does not know.
fn odd() -> PublicKey {
    key(7)
}

fn tag(s: &str) -> SkillTag {
    SkillTag::parse(s).unwrap()
}

fn attestation(
    id: RecordId,
    issuer: PublicKey,
    score: i8,
    status: AttestationStatus,
    reason: Option<&str>,
) -> AttestationView {
    let now = guild_core::time::now();
    AttestationView {
        id,
        issuer,
        subject: bea(),
        skill: tag("kicad"),
        score,
        note: "clean layout".into(),
        collab: COLLAB,
        issued_at: now - 60,
        expires_at: now + 180 * 86_400,
        seq: 1,
        status,
        reason: reason.map(str::to_owned),
    }
}

fn listed() -> Attestations {
    Attestations {
        attestations: vec![
            attestation(ATT, me(), 5, AttestationStatus::Counted, None),
            attestation(
                UNBACKED,
                dan(),
                -2,
                AttestationStatus::Unbacked,
                Some("the collaboration is not closed"),
            ),
            attestation(REVOKED, cy(), 3, AttestationStatus::Revoked, None),
        ],
    }
}

/// The explanation the fake gives for Bea (kicad): two paths, two direct contributors.
fn bea_explanation() -> Value {
    json!({
        "ego": me(), "target": bea(), "skill": "kicad",
        "score": 0.412, "walk_trust": 0.412, "walks": 10000,
        "connectivity": {"bridge": cy(), "bridge_share": 0.248, "factor": 1.0,
                         "inherited_factor": 1.0, "penalty": 0.0},
        "negative_total": 0.0,
        "paths": [
            {"nodes": [me(), bea()], "share": 0.31, "contribution": 0.31},
            {"nodes": [me(), cy(), bea()], "share": 0.102, "contribution": 0.102}
        ],
        "direct": [
            {"issuer": me(), "skill": "kicad", "score": 5, "issued_at": 1_767_233_100u64,
             "weight": 1.0, "issuer_trust": 1.0, "contribution": 0.31},
            {"issuer": cy(), "skill": "kicad", "score": 4, "issued_at": 1_767_240_000u64,
             "weight": 0.8, "issuer_trust": 0.15, "contribution": 0.102}
        ],
        "negative": []
    })
}

/// Eve: reached only through Dan (no profile), penalised, and criticised by Cy.
fn eve_explanation() -> Value {
    json!({
        "ego": me(), "target": eve(), "skill": null,
        "score": 0.05, "walk_trust": 0.2, "walks": 10000,
        "connectivity": {"bridge": dan(), "bridge_share": 0.9, "factor": 0.5,
                         "inherited_factor": 0.8, "penalty": 0.1,
                         "bridge_set": [{"node": dan(), "share": 0.9, "scale": 0.5}],
                         "bridge_set_factor": 0.8},
        "negative_total": 0.05,
        "paths": [{"nodes": [me(), dan(), eve()], "share": 0.2, "contribution": 0.1}],
        "direct": [{"issuer": dan(), "skill": "welding", "score": 5, "issued_at": 1_767_233_100u64,
                    "weight": 1.0, "issuer_trust": 0.3, "contribution": 0.2}],
        "negative": [{"issuer": cy(), "skill": "welding", "score": -3, "issued_at": 1_767_233_100u64,
                      "weight": -0.6, "issuer_trust": 0.15, "contribution": 0.05}]
    })
}

fn empty_explanation(target: PublicKey) -> Value {
    json!({
        "ego": me(), "target": target, "skill": null,
        "score": 0.0, "walk_trust": 0.0, "walks": 0,
        "connectivity": {"bridge": null, "bridge_share": 0.0, "factor": 1.0,
                         "inherited_factor": 1.0, "penalty": 0.0},
        "negative_total": 0.0, "paths": [], "direct": [], "negative": []
    })
}

fn trust_view(peer: PublicKey, skill: Option<SkillTag>) -> TrustView {
    let (score, factor, explanation) = if peer == bea() {
        (0.412, 0.93, bea_explanation())
    } else if peer == eve() {
        (0.05, 0.56, eve_explanation())
    } else if peer == odd() {
        (
            0.3,
            0.8,
            json!({"version": 2, "reasons": ["something new"]}),
        )
    } else {
        (0.0, 0.5, empty_explanation(peer))
    };
    TrustView {
        peer,
        skill,
        score,
        factor,
        explanation: serde_json::from_value(explanation).unwrap(),
    }
}

fn profile(seed: u8, name: &str) -> Result<Reply, CallError> {
    let draft = ProfileDraft {
        name: name.into(),
        ..Default::default()
    };
    let now = guild_core::time::now();
    let body = draft.into_profile(key(seed), now, now + 86_400);
    reply(Some(
        Signed::sign(body, &identity(seed)).map_err(CallError::internal)?,
    ))
}

#[derive(Clone)]
struct Fake {
    calls: Arc<Mutex<Vec<Call>>>,
    events: broadcast::Sender<Event>,
}

/// A fake's typed answer.
fn reply<T: Into<Reply>>(v: T) -> Result<Reply, CallError> {
    Ok(v.into())
}

impl Handle for Fake {
    async fn call(&self, call: Unary) -> Result<Reply, CallError> {
        let call = Call::from(call);
        self.calls.lock().unwrap().push(call.clone());
        match call {
            Call::Status => reply(Status {
                peer_id: me().to_string(),
                version: "9.9.9".into(),
                community: "makers".into(),
                pid: 1,
                listen_addrs: vec![],
                external_addrs: vec![],
                connected_peers: 0,
                index: IndexSizes {
                    profiles: 0,
                    records: 0,
                },
                uptime_secs: 1,
                web: None,
                mesh: None,
            }),
            Call::ProfileGet(p) => match p.peer {
                Some(k) if k == bea() => profile(2, "Bea"),
                Some(k) if k == cy() => profile(3, "Cy"),
                Some(k) => Err(CallError::not_found(format!("no profile known for {k}"))),
                None => profile(1, "Ada"),
            },
            Call::Vouch(p) if p.collab == UNKNOWN => Err(CallError::not_found(format!(
                "no collaboration {} is known here",
                p.collab
            ))),
            Call::Vouch(p) if p.collab == OPEN => Err(CallError::invalid_params(
                "the collaboration is not closed yet; attestations count only after `guild \
                 collab close`",
            )),
            Call::Vouch(p) => {
                let mut view = attestation(ATT, me(), p.score, AttestationStatus::Counted, None);
                view.issued_at = guild_core::time::now();
                view.expires_at = view.issued_at + p.expires_secs.unwrap_or(180 * 86_400);
                view.subject = p.peer;
                view.skill = p.skill;
                view.note = p.note;
                view.collab = p.collab;
                reply(view)
            }
            Call::Revoke(p) if p.attestation == GONE => Err(CallError::not_found(format!(
                "no attestation {} is known here",
                p.attestation
            ))),
            Call::Revoke(p) if p.attestation == REVOKED => {
                Err(CallError::invalid_params("already revoked"))
            }
            Call::Revoke(_) => Ok(Reply::Done),
            Call::Attestations(p) => {
                let mut list = listed();
                list.attestations.retain(|a| {
                    p.about.is_none_or(|k| a.subject == k) && p.by.is_none_or(|k| a.issuer == k)
                });
                reply(list)
            }
            Call::Trust(p) => reply(trust_view(p.peer, p.skill)),
            other => Err(CallError::unavailable(format!(
                "{} is not faked",
                other.method()
            ))),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        let rx = self.events.subscribe();
        // Queued before the acknowledgement is written, so they follow it.
        let samples = [
            Event::AttestationReceived {
                attestation: ATT,
                issuer: cy(),
                subject: bea(),
                skill: tag("kicad"),
                score: -2,
                counted: false,
            },
            Event::AttestationReceived {
                attestation: ATT,
                issuer: cy(),
                subject: bea(),
                skill: tag("kicad"),
                score: 4,
                counted: true,
            },
            Event::AttestationEquivocation {
                issuer: dan(),
                seq: 7,
                attestations: vec![ATT, UNBACKED],
            },
            Event::TrustChanged { collab: COLLAB },
        ];
        for e in samples {
            let _ = self.events.send(e);
        }
        rx
    }
}

type Daemon = common::FakeDaemon<Fake>;

async fn start() -> Daemon {
    let fake = Fake {
        calls: Arc::default(),
        events: broadcast::channel(64).0,
    };
    Daemon::start(fake.clone(), fake.calls.clone(), CancellationToken::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouch_sends_the_attestation_and_prints_it() {
    let d = start().await;
    let bea = bea().to_string();
    let collab = COLLAB.to_string();
    let (code, out, err) = d
        .run(&[
            "vouch",
            &bea,
            "--skill",
            "KiCad",
            "--score",
            "5",
            "--collab",
            &collab,
            "--note",
            "clean layout",
            "--expires",
            "90d",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    let Some(Call::Vouch(p)) = d.calls_of("vouch").pop() else {
        panic!("no vouch call")
    };
    assert_eq!(
        (p.peer, p.skill.as_str(), p.score, p.collab, p.note.as_str()),
        (self::bea(), "kicad", 5, COLLAB, "clean layout")
    );
    assert_eq!(p.expires_secs, Some(90 * 86_400));
    assert!(
        out.starts_with(&format!("Vouched for Bea in kicad: +5 (attestation {ATT})")),
        "{out}"
    );
    for needle in ["status", "counted", &collab, "expires", "clean layout"] {
        assert!(out.contains(needle), "{needle:?} in\n{out}");
    }
    // Relative to now, so either side of a second boundary.
    assert!(
        out.contains("in 90d") || out.contains("in 89d 23h"),
        "{out}"
    );

    // A negative score, written either way; no --expires leaves the daemon's default.
    for score in ["-3", "--score=-3"] {
        let mut args = vec!["vouch", &bea, "--skill", "kicad", "--collab", &collab];
        if score.starts_with("--") {
            args.push(score);
        } else {
            args.extend(["--score", score]);
        }
        let (code, out, err) = d.run(&args).await;
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("in kicad: -3"), "{out}");
        let Some(Call::Vouch(p)) = d.calls_of("vouch").pop() else {
            panic!("no vouch call")
        };
        assert_eq!((p.score, p.expires_secs, p.note.as_str()), (-3, None, ""));
    }

    // --json prints the attestation as the daemon returned it.
    let (code, out, err) = d
        .run(&[
            "vouch", &bea, "--skill", "kicad", "--score", "+4", "--collab", &collab, "--json",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    let view: AttestationView = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (view.id, view.score, view.status),
        (ATT, 4, AttestationStatus::Counted)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouch_refuses_bad_input_with_clear_errors() {
    let d = start().await;
    let bea = bea().to_string();
    let collab = COLLAB.to_string();
    let vouch = |score: &'static str, extra: &'static [&'static str]| {
        let mut args = vec![
            "vouch".to_string(),
            bea.clone(),
            "--skill".into(),
            "kicad".into(),
            format!("--score={score}"),
            "--collab".into(),
            collab.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let cases: [(Vec<String>, &str); 7] = [
        (vouch("0", &[]), "0 says nothing"),
        (vouch("6", &[]), "from -5 to 5"),
        (vouch("-9", &[]), "from -5 to 5"),
        (vouch("great", &[]), "`great` is not a number"),
        (
            vouch("3", &["--expires", "400d"]),
            "maximum lifetime of an attestation, 366d",
        ),
        (vouch("3", &["--expires", "0d"]), "valid for some time"),
        (
            vec![
                "vouch".into(),
                "not-a-peer".into(),
                "--skill".into(),
                "kicad".into(),
                "--score".into(),
                "3".into(),
                "--collab".into(),
                collab.clone(),
            ],
            "not-a-peer",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = d.run(&args).await;
        assert_eq!(code, USAGE, "{args:?}: {out}{err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} in {err}");
    }
    assert!(
        d.calls_of("vouch").is_empty(),
        "refused input reached the daemon"
    );
    // --score is required.
    let (code, _, err) = d
        .run(&["vouch", &bea, "--skill", "kicad", "--collab", &collab])
        .await;
    assert_eq!(code, USAGE, "{err}");
    assert!(err.contains("--score"), "{err}");

    // The daemon's refusals: not closed (2), unknown collaboration (4).
    let open = OPEN.to_string();
    let (code, out, err) = d
        .run(&[
            "vouch", &bea, "--skill", "kicad", "--score", "5", "--collab", &open,
        ])
        .await;
    assert_eq!(code, USAGE, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with("error: the collaboration is not closed yet"),
        "{err}"
    );
    let unknown = UNKNOWN.to_string();
    let (code, _, err) = d
        .run(&[
            "vouch", &bea, "--skill", "kicad", "--score", "5", "--collab", &unknown,
        ])
        .await;
    assert_eq!(code, NOT_FOUND, "{err}");
    assert!(err.contains(&unknown), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_prints_and_maps_errors() {
    let d = start().await;
    let att = ATT.to_string();
    let (code, out, err) = d.run(&["revoke", &att, "--reason", "wrong person"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        format!("Revoked attestation {att}; nodes that hear of it stop counting it.")
    );
    let Some(Call::Revoke(p)) = d.calls_of("revoke").pop() else {
        panic!("no revoke call")
    };
    assert_eq!((p.attestation, p.reason.as_str()), (ATT, "wrong person"));
    let (code, out, _) = d.run(&["revoke", &att, "--json"]).await;
    assert_eq!((code, out.trim()), (0, "null"));

    let (code, _, err) = d.run(&["revoke", &GONE.to_string()]).await;
    assert_eq!(code, NOT_FOUND, "{err}");
    assert!(err.contains("no attestation"), "{err}");
    let (code, _, err) = d.run(&["revoke", &REVOKED.to_string()]).await;
    assert_eq!(code, USAGE, "{err}");
    assert!(err.contains("already revoked"), "{err}");
    let (code, _, err) = d.run(&["revoke", "abc"]).await;
    assert_eq!(code, USAGE, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestations_show_status_and_why() {
    let d = start().await;
    let (code, out, err) = d.run(&["attestations"]).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    for col in [
        "ID", "ISSUER", "SUBJECT", "SKILL", "SCORE", "STATUS", "REASON",
    ] {
        assert!(lines[0].contains(col), "{col} in {out}");
    }
    let dan_short = format!("…{}", &dan().to_string()[44..]);
    let expect: [&[&str]; 3] = [
        &["616161616161…", "me", "Bea", "kicad", "+5", "counted"],
        &[
            "626262626262…",
            &dan_short,
            "Bea",
            "-2",
            "unbacked",
            "the collaboration is not closed",
        ],
        &["636363636363…", "Cy", "Bea", "+3", "revoked"],
    ];
    for (row, needles) in lines[1..4].iter().zip(expect) {
        for needle in needles {
            assert!(row.contains(needle), "{needle:?} in {row:?}\n{out}");
        }
    }
    assert!(
        lines[4].starts_with("Unbacked attestations are kept but do not count"),
        "{out}"
    );
    // Columns line up: every row has its status where the header has STATUS.
    let at = lines[0].find("STATUS").unwrap();
    for row in &lines[1..4] {
        let status = row
            .chars()
            .skip(lines[0][..at].chars().count())
            .collect::<String>();
        assert!(
            ["counted", "unbacked", "revoked"]
                .iter()
                .any(|s| status.starts_with(s)),
            "{row:?}"
        );
    }

    // Filters are sent; --json is the daemon's list.
    let (code, out, _) = d
        .run(&["attestations", "--by", &dan().to_string(), "--json"])
        .await;
    assert_eq!(code, 0);
    let Some(Call::Attestations(p)) = d.calls_of("attestations").pop() else {
        panic!("no attestations call")
    };
    assert_eq!((p.about, p.by), (None, Some(dan())));
    let got: Attestations = serde_json::from_str(&out).unwrap();
    assert_eq!(got.attestations.len(), 1);
    assert_eq!(got.attestations[0].id, UNBACKED);
    assert_eq!(
        got.attestations[0].reason.as_deref(),
        Some("the collaboration is not closed")
    );

    let (code, out, _) = d.run(&["attestations", "--about", &cy().to_string()]).await;
    assert_eq!((code, out.trim()), (0, "No attestations match."));
    let (code, _, err) = d.run(&["attestations", "--about", "nobody"]).await;
    assert_eq!(code, USAGE, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_explains_the_score() {
    let d = start().await;
    let (code, out, err) = d
        .run(&["trust", &bea().to_string(), "--skill", "KiCad"])
        .await;
    assert_eq!(code, 0, "{err}");
    let Some(Call::Trust(p)) = d.calls_of("trust").pop() else {
        panic!("no trust call")
    };
    assert_eq!((p.peer, p.skill), (bea(), Some(tag("kicad"))));
    let expect = [
        "Your trust in Bea for kicad",
        &format!("peer          {}", bea()),
        "score         0.412",
        "find factor   0.93 (0.5 = neutral",
        "walk trust    0.412 (10000 walks)",
        "connectivity  no penalty (×1); the bridge Cy carries 25% of the walks",
        "negative      none",
        "Strongest paths:",
        "  me → Bea       (0.31)",
        "  me → Cy → Bea  (0.102)",
        "Direct contributors:",
        "ISSUER  SKILL  SCORE",
    ];
    for needle in expect {
        assert!(out.contains(needle), "{needle:?} in\n{out}");
    }
    let direct: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("ISSUER"))
        .skip(1)
        .collect();
    assert_eq!(direct.len(), 2, "{out}");
    assert!(
        direct[0].starts_with("me ") && direct[0].contains("+5"),
        "{out}"
    );
    assert!(
        direct[1].starts_with("Cy ") && direct[1].contains("0.15") && direct[1].ends_with("0.102"),
        "{out}"
    );
    assert!(!out.contains("Negative attestations"), "{out}");

    // A penalised member: the bridge, the factor, the inherited part, the negative side.
    let (code, out, err) = d.run(&["trust", &eve().to_string()]).await;
    assert_eq!(code, 0, "{err}");
    let dan_short = format!("…{}", &dan().to_string()[44..]);
    let eve_short = format!("…{}", &eve().to_string()[44..]);
    for needle in [
        format!("Your trust in {eve_short}\n"),
        format!(
            "connectivity  −0.1 (×0.5): 90% of the walks pass through the bridge {dan_short}, \
             ×0.8 of it inherited from the members its walks passed, ×0.8 of it capped: \
             {dan_short} carries 90% of its walks, more than their capacity allows"
        ),
        "negative      −0.05".into(),
        format!("  me → {dan_short} → {eve_short}  (0.1)"),
        "Negative attestations:".into(),
    ] {
        assert!(out.contains(&needle), "{needle:?} in\n{out}");
    }
    let negative = out.lines().last().unwrap();
    assert!(
        negative.starts_with("Cy ") && negative.contains("-3") && negative.contains("welding"),
        "{out}"
    );

    // Nothing supports a stranger: say so, and where to look.
    let (code, out, _) = d.run(&["trust", &nobody().to_string()]).await;
    assert_eq!(code, 0);
    assert!(out.contains("score         0\n"), "{out}");
    assert!(
        out.contains("Nothing supports this score yet")
            && out.contains(&format!("guild attestations --about {}", nobody())),
        "{out}"
    );

    // Oneself.
    let (code, out, _) = d.run(&["trust", &me().to_string()]).await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with("Your trust in yourself\n") && out.contains("every path starts with you"),
        "{out}"
    );

    // An explanation this build cannot read is still shown.
    let (code, out, _) = d.run(&["trust", &odd().to_string()]).await;
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("score ") && l.ends_with(" 0.3"))
            && out.contains("explanation  {")
            && out.contains("\"something new\""),
        "{out}"
    );

    // --json is the TrustView, explanation included.
    let (code, out, _) = d
        .run(&["trust", &bea().to_string(), "--skill", "kicad", "--json"])
        .await;
    assert_eq!(code, 0);
    let view: TrustView = serde_json::from_str(&out).unwrap();
    assert_eq!(view, trust_view(bea(), Some(tag("kicad"))));

    let (code, _, err) = d.run(&["trust", &bea().to_string(), "--skill", "  "]).await;
    assert_eq!(code, USAGE, "{err}");
    let (code, _, err) = d.run(&["trust", "12D3KooWnope"]).await;
    assert_eq!(code, USAGE, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reputation_commands_without_a_daemon_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let bea = bea().to_string();
    let att = ATT.to_string();
    let collab = COLLAB.to_string();
    for args in [
        &["trust", &bea][..],
        &["attestations"][..],
        &["revoke", &att][..],
        &[
            "vouch", &bea, "--skill", "kicad", "--score", "1", "--collab", &collab,
        ][..],
    ] {
        let (code, _, err) = parts(&common::run_async(&home, args).await);
        assert_eq!(code, NOT_RUNNING, "{args:?}: {err}");
        assert!(err.contains("no guild daemon is running"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reputation_events_read_well_without_json() {
    let d = start().await;
    let seen = d.event_lines(&[], 4).await;
    let expect = [
        (
            "attestation.received",
            format!("{} rates {} -2 for kicad (unbacked so far)", cy(), bea()),
        ),
        (
            "attestation.received",
            format!("{} rates {} +4 for kicad", cy(), bea()),
        ),
        (
            "attestation.equivocation",
            format!(
                "{} signed two attestations with sequence 7; none of theirs count",
                dan()
            ),
        ),
        (
            "trust.changed",
            format!("proof for collaboration {COLLAB} arrived; trust updated"),
        ),
    ];
    for (line, (kind, rest)) in seen.iter().zip(&expect) {
        assert!(
            line.starts_with(kind) && line.ends_with(rest.as_str()),
            "{kind} / {rest:?}: {line}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// End to end: two real daemons, the `guild` command only.

/// `guild events --json` on a daemon, read line by line.
struct EventStream {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl EventStream {
    /// Starts `guild events --json --kind …` (see [`ping`] to know when it listens).
    async fn start(d: &TestDaemon, kinds: &[&str]) -> EventStream {
        let mut cmd = tokio::process::Command::from(common::guild(&d.home));
        cmd.args(["events", "--json"]);
        for k in kinds {
            cmd.args(["--kind", k]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        EventStream { child, lines }
    }

    /// Reads events until one passes `pick`, failing at `deadline`.
    async fn wait_for<T>(
        &mut self,
        deadline: Instant,
        what: &str,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> T {
        let mut skipped = vec![];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match tokio::time::timeout(left, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) => panic!("`guild events` ended while waiting for {what}"),
                Ok(Err(e)) => panic!("`guild events` failed while waiting for {what}: {e}"),
                Err(_) => panic!("timed out waiting for {what}; saw {skipped:?}"),
            };
            let Ok(event) = serde_json::from_str::<Event>(&line) else {
                skipped.push(line);
                continue;
            };
            match pick(&event) {
                Some(found) => return found,
                None => skipped.push(line),
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Runs a `guild … --json` command that must succeed, decoding its output.
async fn json<T: serde::de::DeserializeOwned>(d: &TestDaemon, args: &[&str]) -> T {
    let mut args = args.to_vec();
    args.push("--json");
    serde_json::from_value(d.guild_json(&args).await)
        .unwrap_or_else(|e| panic!("`guild {}`: unexpected JSON: {e}", args.join(" ")))
}

/// `guild events --json` prints no acknowledgement, so whether its subscription is in place is
/// learned from an event: `from` messages `to` until `to`'s stream (which must include
/// `message.received`) shows one of those messages. Each try waits two seconds at most.
async fn ping(from: &TestDaemon, to: PublicKey, stream: &mut EventStream, deadline: Instant) {
    let sender: PublicKey = json::<Status>(from, &["status"])
        .await
        .peer_id
        .parse()
        .unwrap();
    for n in 0.. {
        // Not delivered yet (no connection) is fine: the daemon retries, and any ping will do.
        let _ = from
            .guild(&["msg", &to.to_string(), &format!("ping {n}")])
            .await;
        let left = deadline.saturating_duration_since(Instant::now());
        let seen = tokio::time::timeout(
            left.min(Duration::from_secs(2)),
            stream.wait_for(deadline, "a ping", |e| match e {
                Event::MessageReceived { from, text, .. }
                    if *from == sender && text.starts_with("ping ") =>
                {
                    Some(())
                }
                _ => None,
            }),
        )
        .await;
        if seen.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`guild events` on {to} never showed a message from {sender}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouching_after_a_closed_collaboration_builds_trust_end_to_end() {
    use guild_core::control::pull::{Asked, CollabView, Delivery, EntryView};

    let started = Instant::now();
    let a = TestDaemon::start(&[]).await;
    let a_status: Status = json(&a, &["status"]).await;
    let a_addr = format!(
        "{}/p2p/{}",
        a_status.listen_addrs.first().expect("a listen address"),
        a_status.peer_id
    );
    let b = TestDaemon::start(&["--bootstrap", &a_addr]).await;
    let b_key: PublicKey = json::<Status>(&b, &["status"])
        .await
        .peer_id
        .parse()
        .unwrap();
    let b_id = b_key.to_string();

    let a_key: PublicKey = a_status.peer_id.parse().unwrap();
    let mut a_events = EventStream::start(
        &a,
        &[
            "profile.learned",
            "offer.received",
            "message.received",
            "collab.entry",
        ],
    )
    .await;
    let mut b_events = EventStream::start(
        &b,
        &[
            "profile.learned",
            "need.*",
            "collab.*",
            "message.received",
            "attestation.*",
        ],
    )
    .await;
    let deadline = Instant::now() + common::WAIT;
    ping(&b, a_key, &mut a_events, deadline).await;
    ping(&a, b_key, &mut b_events, deadline).await;

    // B has the skill. Each learns the other's profile by gossip: A needs B's name for `guild
    // trust`'s paths, and both directions of gossip are then known to work.
    for (node, args) in [
        (&b, &["profile", "set", "--name", "Bea"][..]),
        (&b, &["profile", "skill", "add", "kicad"][..]),
        (&a, &["profile", "set", "--name", "Ada"][..]),
    ] {
        let out = node.guild(args).await;
        assert!(out.status.success(), "{args:?}: {:?}", parts(&out));
    }
    a_events
        .wait_for(deadline, "B's profile on A", |e| match e {
            Event::ProfileLearned { peer, skills, .. }
                if *peer == b_key && skills.iter().any(|s| s.tag.as_str() == "kicad") =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    b_events
        .wait_for(deadline, "A's profile on B", |e| match e {
            Event::ProfileLearned { peer, .. } if *peer == a_key => Some(()),
            _ => None,
        })
        .await;

    // A asks; B is told and offers; A accepts.
    let asked: Asked = json(&a, &["ask", "Review my KiCad layout", "--skill", "kicad"]).await;
    let need = asked.need.id;
    b_events
        .wait_for(deadline, "need.matched on B", |e| match e {
            Event::NeedMatched { need: n, .. } if *n == need => Some(()),
            _ => None,
        })
        .await;
    let offer: Delivery = json(&b, &["offer", &need.to_string(), "I can"]).await;
    assert!(offer.delivered, "{offer:?}");
    a_events
        .wait_for(deadline, "the offer on A", |e| match e {
            Event::OfferReceived { offer: o, .. } if *o == offer.id => Some(()),
            _ => None,
        })
        .await;
    let collab: CollabView = json(&a, &["accept", &offer.id.to_string()]).await;
    let cid = collab.id.to_string();
    b_events
        .wait_for(deadline, "collab.opened on B", |e| match e {
            Event::CollabOpened { collab: c, .. } if *c == collab.id => Some(()),
            _ => None,
        })
        .await;

    // Vouching before the close is refused, and says why.
    let vouch = [
        "vouch", &b_id, "--skill", "kicad", "--score", "5", "--collab", &cid,
    ];
    let (code, out, err) = parts(&a.guild(&vouch).await);
    assert_eq!(code, USAGE, "{out}{err}");
    assert!(err.contains("not closed"), "{err}");

    // A closes its part; vouching waits for B to close its own, and says so.
    json::<EntryView>(&a, &["collab", "close", &cid, "--summary", "done"]).await;
    let (code, out, err) = parts(&a.guild(&vouch).await);
    assert_eq!(code, USAGE, "{out}{err}");
    assert!(
        err.contains(&format!("{b_id} has not closed their part yet")),
        "{err}"
    );
    b_events
        .wait_for(deadline, "A's close on B", |e| match e {
            Event::CollabEntryAdded { kind, author, .. } if kind == "close" && *author == a_key => {
                Some(())
            }
            _ => None,
        })
        .await;
    json::<EntryView>(&b, &["collab", "close", &cid]).await;
    a_events
        .wait_for(deadline, "B's close on A", |e| match e {
            Event::CollabEntryAdded { kind, author, .. } if kind == "close" && *author == b_key => {
                Some(())
            }
            _ => None,
        })
        .await;

    // Both closed: the attestation counts and A trusts B.
    let (code, out, err) = parts(&a.guild(&vouch).await);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("Vouched for Bea in kicad: +5"), "{out}");
    let listed: Attestations = json(&a, &["attestations"]).await;
    assert_eq!(listed.attestations.len(), 1, "{listed:?}");
    let att = &listed.attestations[0];
    assert_eq!(
        (att.subject, att.skill.as_str(), att.score, att.collab),
        (b_key, "kicad", 5, collab.id)
    );
    assert_eq!(att.status, AttestationStatus::Counted, "{att:?}");
    let table = a.guild(&["attestations", "--about", &b_id]).await;
    let (_, table, _) = parts(&table);
    assert!(
        table.contains("me") && table.contains("Bea") && table.contains("counted"),
        "{table}"
    );

    // The attestation reaches B, which holds the collaboration and both closes: it counts there.
    let counted = b_events
        .wait_for(deadline, "attestation.received on B", |e| match e {
            Event::AttestationReceived {
                attestation,
                counted,
                ..
            } if *attestation == att.id => Some(*counted),
            _ => None,
        })
        .await;
    assert!(counted, "A's attestation does not count on B");
    let on_b: Attestations = json(&b, &["attestations", "--about", &b_id]).await;
    assert_eq!(on_b.attestations.len(), 1, "{on_b:?}");
    assert_eq!(on_b.attestations[0].status, AttestationStatus::Counted);

    let trust: TrustView = json(&a, &["trust", &b_id, "--skill", "kicad"]).await;
    assert!(trust.score > 0.0, "{trust:?}");
    assert_eq!(trust.peer, b_key);
    assert!(trust.factor > 0.5, "{trust:?}");
    // The human output reads the real explanation: the direct path and A as contributor.
    let (code, out, err) = parts(&a.guild(&["trust", &b_id, "--skill", "kicad"]).await);
    assert_eq!(code, 0, "{err}");
    eprintln!("{table}\n{out}");
    assert!(out.contains("Your trust in Bea for kicad"), "{out}");
    assert!(out.contains("me → Bea"), "{out}");
    assert!(out.contains("Direct contributors:"), "{out}");
    eprintln!("reputation scenario took {:?}", started.elapsed());
}
