//! `docs/control-socket.md` documents exactly the methods and event kinds that exist, and its
//! examples parse as what they claim to be.

use super::super::*;
use serde_json::Value;

const DOC: &str = include_str!("../../../../../docs/control-socket.md");

/// The backticked `### ` headings under the `## <section>` heading, with the lines under each.
fn sections(section: &str) -> Vec<(String, Vec<&'static str>)> {
    let mut out: Vec<(String, Vec<&'static str>)> = vec![];
    let mut inside = false;
    for line in DOC.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            inside = title.trim() == section;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(title) = line.strip_prefix("### ") {
            let name = title.trim().trim_matches('`').to_string();
            out.push((name, vec![]));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line);
        }
    }
    out
}

fn check_result(method: &str, result: Value) {
    let decoded = match method {
        "status" => serde_json::from_value::<Status>(result).map(drop),
        "peers" => serde_json::from_value::<Peers>(result).map(drop),
        "profile.get" | "profile.set" | "profile.update" => {
            serde_json::from_value::<ProfileResult>(result).map(drop)
        }
        "find" => serde_json::from_value::<FindResults>(result).map(drop),
        "connect" => serde_json::from_value::<Connected>(result).map(drop),
        "subscribe" => serde_json::from_value::<Subscribed>(result).map(drop),
        "ask" => serde_json::from_value::<pull::Asked>(result).map(drop),
        "needs" => serde_json::from_value::<pull::Needs>(result).map(drop),
        "offer" | "offer.withdraw" | "msg" => {
            serde_json::from_value::<pull::Delivery>(result).map(drop)
        }
        "offers" => serde_json::from_value::<pull::Offers>(result).map(drop),
        "accept" | "collab.show" => serde_json::from_value::<pull::CollabView>(result).map(drop),
        "team" | "team.release" | "team.stop" => {
            serde_json::from_value::<pull::TeamBoard>(result).map(drop)
        }
        "team.suggest" => serde_json::from_value::<pull::TeamSuggestions>(result).map(drop),
        "collab.list" => serde_json::from_value::<pull::Collabs>(result).map(drop),
        "collab.post" | "collab.invite" | "collab.join" | "collab.close" => {
            serde_json::from_value::<pull::EntryView>(result).map(drop)
        }
        "inbox" => serde_json::from_value::<pull::Inbox>(result).map(drop),
        "vouch" => serde_json::from_value::<reputation::AttestationView>(result).map(drop),
        "attestations" => serde_json::from_value::<reputation::Attestations>(result).map(drop),
        "trust.add" | "trust.remove" | "trust.roots" => {
            serde_json::from_value::<reputation::TrustRoots>(result).map(drop)
        }
        "trust" => serde_json::from_value::<reputation::TrustView>(result).map(|t| {
            check_explanation(&t.explanation);
        }),
        "pulse" => serde_json::from_value::<super::super::reflect::Pulse>(result).map(drop),
        "growth" => serde_json::from_value::<super::super::reflect::Growth>(result).map(drop),
        "web.login" => serde_json::from_value::<super::super::WebLogin>(result).map(drop),
        "need.withdraw" | "revoke" | "shutdown" => serde_json::from_value::<()>(result).map(drop),
        "intro.introducers" => {
            serde_json::from_value::<super::super::intro::Introducers>(result).map(drop)
        }
        "intro.request" | "intro.answer" => {
            serde_json::from_value::<super::super::intro::IntroView>(result).map(drop)
        }
        "intro.list" => {
            serde_json::from_value::<super::super::intro::Introductions>(result).map(drop)
        }
        "invite.create" | "invite.revoke" => {
            serde_json::from_value::<super::super::invite::InviteView>(result).map(drop)
        }
        "invite.list" => serde_json::from_value::<super::super::invite::Invites>(result).map(drop),
        "join" => serde_json::from_value::<super::super::invite::Joined>(result).map(drop),
        other => panic!("no result type known for `{other}`"),
    };
    if let Err(e) = decoded {
        panic!("documented `{method}` result does not decode: {e}");
    }
}

/// The documented `trust` explanation is one this build reads (not kept as unreadable JSON).
fn check_explanation(e: &reputation::Explanation) {
    assert!(
        e.known().is_some(),
        "the documented explanation does not decode as a `TrustExplanation`: {e:?}"
    );
}

#[test]
fn documented_methods_are_exactly_the_methods() {
    let documented: Vec<String> = sections("Methods").into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        documented, METHODS,
        "docs/control-socket.md `## Methods` headings"
    );
}

#[test]
fn documented_events_are_exactly_the_event_kinds() {
    let documented: Vec<String> = sections("Events").into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        documented, EVENT_KINDS,
        "docs/control-socket.md `## Events` headings"
    );
}

#[test]
fn documented_examples_parse() {
    for (method, lines) in sections("Methods") {
        let mut requests = 0;
        // A request the parser refuses must be followed by exactly that error.
        let mut refused: Option<CallError> = None;
        for line in &lines {
            if let Some(req) = line.strip_prefix("→ ") {
                match parse_request(req.as_bytes()) {
                    Ok(parsed) => assert_eq!(parsed.call.method(), method, "{req}"),
                    Err((_, e)) => refused = Some(e),
                }
                requests += 1;
            } else if let Some(resp) = line.strip_prefix("← ") {
                let value: Value = serde_json::from_str(resp)
                    .unwrap_or_else(|e| panic!("`{method}` example {resp}: {e}"));
                if value.get("event").is_some() {
                    serde_json::from_value::<Event>(value)
                        .unwrap_or_else(|e| panic!("`{method}` example {resp}: {e}"));
                    continue;
                }
                let response: Response = serde_json::from_value(value)
                    .unwrap_or_else(|e| panic!("`{method}` example {resp}: {e}"));
                match (refused.take(), response.outcome) {
                    (Some(expected), outcome) => assert_eq!(outcome, Err(expected), "{resp}"),
                    (None, Ok(result)) => check_result(&method, result),
                    (None, Err(_)) => {}
                }
            }
        }
        assert!(
            requests > 0,
            "`{method}` has no request example (`→ ` line)"
        );
        assert!(
            refused.is_none(),
            "`{method}`: a refused example has no error line"
        );
    }
    for (kind, lines) in sections("Events") {
        let examples: Vec<_> = lines
            .iter()
            .filter(|l| l.starts_with("{\"event\""))
            .collect();
        assert!(!examples.is_empty(), "event `{kind}` has no example");
        for line in examples {
            let event: Event =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("event example {line}: {e}"));
            assert_eq!(event.kind(), kind);
        }
    }
}

#[test]
fn documented_error_codes_are_the_codes() {
    for code in ErrorCode::ALL {
        let row = format!("| `{}` | `{}` |", code.code(), code.name());
        assert!(
            DOC.contains(&row),
            "docs/control-socket.md lacks the row {row}"
        );
    }
}
