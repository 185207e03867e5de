//! The pull-workflow commands against the real control server backed by a fake node: what they
//! send, how they print, and their exit codes when an offer or message is not delivered.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use guild_core::control::pull::{
    Delivery, NeedFilter, NeedStatus, NeedView, Needs, OfferView, Offers,
};
use guild_core::control::{Call, CallError, Event};
use guild_core::control::{Reply, Unary};
use guild_core::{Identity, PublicKey, RecordId, SkillTag};
use guild_node::control::Handle;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Offers on this need find the asker unreachable; on [`REFUSED`] the asker refuses.
const UNREACHABLE: RecordId = RecordId([0xEE; 32]);
const REFUSED: RecordId = RecordId([0xDD; 32]);
const NEED: RecordId = RecordId([0x11; 32]);
const OFFER: RecordId = RecordId([0x22; 32]);

fn key(seed: u8) -> PublicKey {
    Identity::from_secret([seed; 32]).public()
}

fn tag(s: &str) -> SkillTag {
    SkillTag::parse(s).unwrap()
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
            Call::Needs(_) => reply(Needs {
                needs: vec![NeedView {
                    id: NEED,
                    asker: key(1),
                    asker_name: Some("Ada".into()),
                    text: "Review my\nKiCad layout".into(),
                    skills: vec![tag("kicad"), tag("pcb-design")],
                    resources: vec![tag("3d-printer")],
                    issued_at: guild_core::time::now(),
                    expires_at: guild_core::time::now() + 3 * 86_400,
                    status: NeedStatus::Open,
                    mine: false,
                    matched: vec![tag("kicad")],
                    offers: 2,
                    roles: vec![],
                    matched_roles: vec![tag("helper")],
                    project: None,
                }],
            }),
            Call::Offer(p) if p.need == UNREACHABLE => reply(Delivery {
                id: OFFER,
                delivered: false,
                error: Some(
                    "recipient unreachable (cannot connect to the peer); the daemon keeps \
                     retrying and reports the outcome as a delivery.outcome event"
                        .into(),
                ),
                retrying: true,
            }),
            Call::Offer(p) if p.need == REFUSED => reply(Delivery {
                id: OFFER,
                delivered: false,
                error: Some("refused by the recipient: need 1111 was withdrawn".into()),
                retrying: false,
            }),
            Call::Offer(_) | Call::Msg(_) => reply(Delivery {
                id: OFFER,
                delivered: true,
                error: None,
                retrying: false,
            }),
            Call::Offers(_) => reply(Offers {
                offers: vec![OfferView {
                    id: OFFER,
                    need: NEED,
                    from: key(2),
                    to: key(1),
                    text: "I can".into(),
                    issued_at: guild_core::time::now(),
                    mine: false,
                    accepted_in: None,
                    role: 0,
                    role_label: None,
                    withdrawn: false,
                    need_status: Some(NeedStatus::Expired),
                }],
            }),
            Call::OfferWithdraw(p) if p.offer == OFFER => reply(Delivery {
                id: NEED,
                delivered: true,
                error: None,
                retrying: false,
            }),
            Call::OfferWithdraw(p) => Err(CallError::invalid_params(format!(
                "offer {} was accepted into collaboration 42: it can no longer be withdrawn",
                p.offer
            ))),
            Call::CollabShow(p) => Err(CallError::not_found(format!(
                "no collaboration {} is known here",
                p.collab
            ))),
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
            Event::NeedMatched {
                need: NEED,
                asker: key(1),
                text: "Review my KiCad layout".into(),
                matched: vec![tag("kicad")],
                roles: vec![tag("helper")],
                expires_at: guild_core::time::now() + 86_400,
            },
            Event::OfferReceived {
                offer: OFFER,
                need: NEED,
                from: key(2),
                text: "I can".into(),
            },
            Event::DeliveryOutcome {
                record: OFFER,
                kind: "collab_entry".into(),
                to: key(2),
                delivered: false,
                attempts: 5,
                error: Some("timed out".into()),
            },
            Event::CollabEntryAdded {
                collab: NEED,
                entry: OFFER,
                author: key(2),
                kind: "post".into(),
                text: Some("hello".into()),
            },
            Event::MessageReceived {
                message: OFFER,
                from: key(2),
                text: "hi".into(),
            },
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
async fn needs_and_offers_print_tables() {
    let d = start().await;
    let (code, out, err) = d.run(&["needs", "--matching"]).await;
    assert_eq!(code, 0, "{err}");
    let Call::Needs(p) = d.last_call() else {
        panic!("not needs")
    };
    assert_eq!((p.filter, p.include_closed), (NeedFilter::Matching, false));
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("ID "), "{out}");
    let row = lines.next().unwrap();
    for needle in [
        &NEED.to_string()[..],
        "Ada",
        "kicad*, pcb-design, 3d-printer (resource)",
        "Review my KiCad layout",
    ] {
        assert!(row.contains(needle), "{needle:?} in\n{out}");
    }
    // Expiry is relative to now, so either side of a second boundary.
    assert!(row.contains("in 3d") || row.contains("in 2d 23h"), "{out}");
    assert!(out.contains("* a skill or resource you have"), "{out}");

    let (code, out, _) = d.run(&["offers", "--need", &NEED.to_string()]).await;
    assert_eq!(code, 0);
    let Call::Offers(p) = d.last_call() else {
        panic!("not offers")
    };
    assert_eq!(p.need, Some(NEED));
    assert!(
        out.contains(&OFFER.to_string()) && out.contains("I can"),
        "{out}"
    );
    assert!(out.contains("guild accept <id>"), "{out}");
    // What became of it: the need expired.
    assert!(
        out.contains("STATE") && out.contains("need expired"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdraw_offer_reports_the_delivery_or_the_reason_it_cannot() {
    let d = start().await;
    let (code, out, err) = d
        .run(&[
            "withdraw-offer",
            &OFFER.to_string(),
            "--reason",
            "found someone",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    let Call::OfferWithdraw(p) = d.last_call() else {
        panic!("not offer.withdraw")
    };
    assert_eq!((p.offer, p.reason.as_str()), (OFFER, "found someone"));
    assert!(out.contains("delivered to the asker"), "{out}");
    let (code, _, err) = d.run(&["withdraw-offer", &NEED.to_string()]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("can no longer be withdrawn"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undelivered_offer_says_why_and_exits_5_or_1() {
    let d = start().await;
    let (code, out, err) = d.run(&["offer", &NEED.to_string(), "I can"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("delivered to the asker"), "{out}");

    // Unreachable: exit 5, the reason once, and what the daemon does about it.
    let (code, out, err) = d.run(&["offer", &UNREACHABLE.to_string(), "I can"]).await;
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with("error: the asker is unreachable (cannot connect to the peer)."),
        "{err}"
    );
    assert!(
        err.contains("keeps retrying") && err.contains("delivery.outcome"),
        "{err}"
    );
    assert_eq!(err.matches("keeps retrying").count(), 1, "{err}");
    // With --json the result is printed too, and the exit code is the same.
    let (code, out, _) = d
        .run(&["offer", &UNREACHABLE.to_string(), "I can", "--json"])
        .await;
    assert_eq!(code, 5);
    let delivery: Delivery = serde_json::from_str(&out).unwrap();
    assert!(!delivery.delivered);

    // Refused: no retry, exit 1.
    let (code, _, err) = d.run(&["offer", &REFUSED.to_string(), "I can"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the asker refused the offer") && err.contains("withdrawn"),
        "{err}"
    );

    let (code, _, err) = d.run(&["collab", "show", &NEED.to_string()]).await;
    assert_eq!(code, 4, "{err}");
    let (code, _, err) = d
        .run(&["ask", "x", "--skill", "kicad", "--expires", "31d"])
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("maximum lifetime of a need, 30d"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_events_read_well_without_json() {
    let d = start().await;
    let seen = d.event_lines(&[], 5).await;
    let expect = [
        (
            "need.matched",
            "\"Review my KiCad layout\" (you have kicad; expires in ",
        ),
        ("offer.received", "from"),
        ("delivery.outcome", "collab entry"),
        ("collab.entry", "post: \"hello\""),
        ("message.received", ": \"hi\""),
    ];
    for (line, (kind, needle)) in seen.iter().zip(expect) {
        assert!(
            line.starts_with(kind) && line.contains(needle),
            "{kind} / {needle:?}: {line}"
        );
    }
    assert!(
        seen[2].contains("NOT delivered") && seen[2].contains("5 attempts"),
        "{seen:?}"
    );
}
