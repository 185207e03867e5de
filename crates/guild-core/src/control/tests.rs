#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::record::{Level, Resource, Skill};
use crate::skill::SkillTag;
use serde_json::{json, Value};

fn parse(line: &str) -> Result<Request, (Value, CallError)> {
    parse_request(line.as_bytes())
}

fn err_code(line: &str) -> (Value, ErrorCode, String) {
    let (id, e) = parse(line).unwrap_err();
    (id, e.code, e.message)
}

#[test]
fn requests_parse_into_calls() {
    let r = parse(r#"{"id":1,"method":"status"}"#).unwrap();
    assert_eq!((r.id, r.call), (json!(1), Call::Status));
    let r = parse(r#"{"jsonrpc":"2.0","id":"a","method":"peers","params":{}}"#).unwrap();
    assert_eq!((r.id, r.call), (json!("a"), Call::Peers));
    let r = parse(r#"{"method":"shutdown","params":null}"#).unwrap();
    assert_eq!((r.id, r.call), (Value::Null, Call::Shutdown));
    let r =
        parse(r#"{"id":2,"method":"find","params":{"skills":["  Rust ","PCB Design"]}}"#).unwrap();
    let Call::Find(p) = r.call else {
        panic!("not find")
    };
    assert_eq!(p.skills, vec![tag("rust"), tag("pcb-design")]);
    assert_eq!(p.limit(), DEFAULT_FIND_LIMIT as usize);
}

#[test]
fn envelope_errors_are_told_apart() {
    let (id, code, msg) = err_code("{not json");
    assert_eq!((id, code), (Value::Null, ErrorCode::ParseError));
    assert!(msg.contains("not valid JSON"), "{msg}");
    assert_eq!(err_code("[1,2]").1, ErrorCode::InvalidRequest);
    assert_eq!(err_code(r#"{"id":3}"#).1, ErrorCode::InvalidRequest);
    assert_eq!(
        err_code(r#"{"id":[1],"method":"status"}"#).1,
        ErrorCode::InvalidRequest
    );
    let (id, code, msg) = err_code(r#"{"id":4,"method":"status","parms":{}}"#);
    assert_eq!((id, code), (json!(4), ErrorCode::InvalidRequest));
    assert!(msg.contains("`parms`"), "{msg}");
    assert_eq!(
        err_code(r#"{"id":5,"method":"find","params":[1]}"#).1,
        ErrorCode::InvalidRequest
    );
    let (id, code, msg) = err_code(r#"{"id":6,"method":"stauts"}"#);
    assert_eq!((id, code), (json!(6), ErrorCode::MethodNotFound));
    assert!(msg.contains("stauts") && msg.contains("status"), "{msg}");
}

#[test]
fn params_errors_name_the_field() {
    let cases = [
        (r#"{"method":"find","params":{"skils":["rust"]}}"#, "skils"),
        (r#"{"method":"find","params":{}}"#, "at least one"),
        (
            r#"{"method":"find","params":{"skills":"rust"}}"#,
            "sequence",
        ),
        (
            r#"{"method":"find","params":{"skills":["  "]}}"#,
            "skills[0]",
        ),
        (
            r#"{"method":"find","params":{"text":"x","limit":0}}"#,
            "limit",
        ),
        (r#"{"method":"status","params":{"x":1}}"#, "takes no params"),
        (r#"{"method":"connect","params":{}}"#, "addr"),
        (
            r#"{"method":"subscribe","params":{"kinds":["peer.conected"]}}"#,
            "peer.conected",
        ),
        (
            r#"{"method":"profile.update","params":{}}"#,
            "nothing to change",
        ),
        (
            r#"{"method":"profile.update","params":{"add_skills":[{"tag":"rust","level":"guru"}]}}"#,
            "guru",
        ),
        (
            r#"{"method":"profile.get","params":{"peer":"nope"}}"#,
            "nope",
        ),
        (&vouch(r#""score":0"#), "not 0"),
        (&vouch(r#""score":6"#), "between -5 and 5"),
        (&vouch(r#""score":-9"#), "between -5 and 5"),
        (
            &vouch(r#""score":3,"expires_secs":99999999"#),
            "expires_secs",
        ),
        (&vouch(r#""score":3,"expires_secs":0"#), "expires_secs"),
        (
            &vouch(&format!(r#""score":3,"note":"{}""#, "x".repeat(1025))),
            "note",
        ),
        (
            r#"{"method":"vouch","params":{"peer":"nope","skill":"kicad","score":1}}"#,
            "nope",
        ),
        (r#"{"method":"trust","params":{}}"#, "peer"),
        (
            r#"{"method":"revoke","params":{"attestation":"00"}}"#,
            "not a record id",
        ),
        (
            r#"{"method":"attestations","params":{"abot":null}}"#,
            "abot",
        ),
    ];
    for (line, needle) in cases {
        let (_, code, msg) = err_code(line);
        assert_eq!(code, ErrorCode::InvalidParams, "{line}: {msg}");
        assert!(msg.contains(needle), "{line}: {msg}");
    }
}

/// A `vouch` request with valid peer, skill and collaboration and the given extra members.
fn vouch(extra: &str) -> String {
    let peer = crate::Identity::from_secret([7; 32]).public();
    format!(
        r#"{{"method":"vouch","params":{{"peer":"{peer}","skill":"kicad","collab":"{}",{extra}}}}}"#,
        record_id(3)
    )
}

#[test]
fn every_call_round_trips_through_its_line() {
    let calls = [
        Call::Status,
        Call::Peers,
        Call::ProfileGet(ProfileGetParams::default()),
        Call::ProfileSet(ProfileSetParams {
            name: "Ada".into(),
            skills: vec![SkillInput {
                tag: tag("rust"),
                level: Some(Level::Expert),
            }],
            ..Default::default()
        }),
        Call::ProfileUpdate(ProfileUpdateParams {
            remove_resources: vec![tag("gpu")],
            ..Default::default()
        }),
        Call::Find(FindParams {
            skills: vec![tag("kicad")],
            limit: Some(3),
            local_only: true,
            ..Default::default()
        }),
        Call::Connect(ConnectParams {
            addr: "/ip4/127.0.0.1/tcp/1".into(),
        }),
        Call::Subscribe(SubscribeParams {
            kinds: vec!["peer.*".into()],
        }),
        Call::Ask(pull::AskParams {
            text: "review my layout".into(),
            skills: vec![tag("kicad")],
            resources: vec![],
            expires_secs: Some(3_600),
            ..Default::default()
        }),
        Call::Needs(pull::NeedsParams {
            filter: pull::NeedFilter::Matching,
            include_closed: true,
        }),
        Call::NeedWithdraw(pull::WithdrawParams {
            need: record_id(1),
            reason: "done".into(),
        }),
        Call::Offer(pull::OfferParams {
            need: record_id(1),
            text: "I can".into(),
            role: Some(tag("layout")),
        }),
        Call::Offers(pull::OffersParams {
            need: Some(record_id(1)),
        }),
        Call::OfferWithdraw(pull::OfferWithdrawParams {
            offer: record_id(2),
            reason: "found someone closer".into(),
        }),
        Call::Accept(pull::AcceptParams {
            offer: record_id(2),
        }),
        Call::Team(pull::TeamParams { need: record_id(1) }),
        Call::TeamRelease(pull::ReleaseParams {
            offer: record_id(2),
        }),
        Call::TeamStop(pull::TeamParams { need: record_id(1) }),
        Call::TeamSuggest(pull::TeamParams { need: record_id(1) }),
        Call::CollabList,
        Call::CollabShow(pull::CollabParams {
            collab: record_id(3),
        }),
        Call::CollabPost(pull::CollabPostParams {
            collab: record_id(3),
            text: "hello".into(),
        }),
        Call::CollabInvite(pull::CollabInviteParams {
            collab: record_id(3),
            peer: crate::Identity::from_secret([7; 32]).public(),
        }),
        Call::CollabJoin(pull::CollabParams {
            collab: record_id(3),
        }),
        Call::CollabClose(pull::CollabCloseParams {
            collab: record_id(3),
            summary: "done".into(),
        }),
        Call::Msg(pull::MsgParams {
            peer: crate::Identity::from_secret([7; 32]).public(),
            text: "hi".into(),
        }),
        Call::Inbox(pull::InboxParams { include_sent: true }),
        Call::Vouch(reputation::VouchParams {
            peer: crate::Identity::from_secret([7; 32]).public(),
            skill: tag("kicad"),
            score: 5,
            collab: record_id(3),
            note: "clean layout".into(),
            expires_secs: Some(86_400),
        }),
        Call::Revoke(reputation::RevokeParams {
            attestation: record_id(6),
            reason: "wrong person".into(),
        }),
        Call::Attestations(reputation::AttestationsParams {
            about: Some(crate::Identity::from_secret([7; 32]).public()),
            by: None,
        }),
        Call::Trust(reputation::TrustParams {
            peer: crate::Identity::from_secret([7; 32]).public(),
            skill: Some(tag("kicad")),
        }),
        Call::TrustAdd(reputation::TrustAddParams {
            peer: crate::Identity::from_secret([7; 32]).public(),
            skill: None,
            note: "met at the makerspace".into(),
        }),
        Call::TrustRemove(reputation::TrustRemoveParams {
            peer: crate::Identity::from_secret([7; 32]).public(),
        }),
        Call::TrustRoots,
        Call::Pulse(super::reflect::PulseParams {
            since_secs: Some(14 * 86_400),
        }),
        Call::Growth(super::reflect::GrowthParams {
            peer: Some(crate::Identity::from_secret([7; 32]).public()),
        }),
        Call::WebLogin,
        Call::Shutdown,
        Call::IntroIntroducers(super::intro::IntroducersParams {
            peer: crate::Identity::from_secret([7; 32]).public(),
        }),
        Call::IntroRequest(super::intro::IntroRequestParams {
            peer: crate::Identity::from_secret([7; 32]).public(),
            via: crate::Identity::from_secret([8; 32]).public(),
            note: "about the footprint".into(),
            need: Some(record_id(2)),
            expires_in: Some(86_400),
        }),
        Call::IntroList,
        Call::IntroAnswer(super::intro::IntroAnswerParams {
            id: record_id(9),
            accept: true,
            note: "sure".into(),
        }),
        Call::InviteCreate(super::invite::InviteCreateParams {
            expires_secs: Some(3_600),
            uses: Some(2),
            note: "welcome".into(),
        }),
        Call::InviteList,
        Call::InviteRevoke(super::invite::InviteRevokeParams {
            id: "00ff".into(),
            sponsorships: true,
        }),
        Call::Join(super::invite::JoinParams {
            code: "guild1-abc".into(),
            trust: true,
        }),
    ];
    let methods: Vec<_> = calls.iter().map(Call::method).collect();
    assert_eq!(methods, METHODS);
    for (i, call) in calls.into_iter().enumerate() {
        let request = Request { id: json!(i), call };
        let line = request.to_line().unwrap();
        assert_eq!(parse(&line).unwrap(), request, "{line}");
    }
}

#[test]
fn responses_keep_null_results_and_codes() {
    let ok = Response::result(json!(1), Value::Null);
    let line = ok.to_line();
    assert_eq!(line, "{\"id\":1,\"result\":null}\n");
    assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), ok);
    let err = Response::error(json!("x"), CallError::not_found("no such peer"));
    let line = err.to_line();
    assert_eq!(
        line,
        "{\"id\":\"x\",\"error\":{\"code\":-32002,\"message\":\"no such peer\"}}\n"
    );
    assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), err);
    assert!(serde_json::from_str::<Response>(r#"{"id":1}"#).is_err());
    let odd: Response =
        serde_json::from_str(r#"{"id":1,"error":{"code":-31000,"message":"?"}}"#).unwrap();
    assert_eq!(odd.outcome.unwrap_err().code, ErrorCode::Other(-31000));
    for code in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_code(code.code()), *code);
    }
}

#[test]
fn events_serialise_with_their_kind() {
    let key = crate::Identity::from_secret([7; 32]).public();
    let samples = [
        Event::PeerConnected {
            peer: "p".into(),
            address: None,
            direction: Some(Direction::Inbound),
        },
        Event::PeerDisconnected { peer: "p".into() },
        Event::ProfileLearned {
            peer: crate::Identity::from_secret([7; 32]).public(),
            name: "Ada".into(),
            skills: vec![Skill {
                tag: tag("rust"),
                level: Level::Expert,
            }],
        },
        Event::NeedMatched {
            need: record_id(1),
            asker: key,
            text: "review".into(),
            matched: vec![tag("kicad")],
            roles: vec![tag("helper")],
            expires_at: 9,
        },
        Event::NeedWithdrawn {
            need: record_id(1),
            asker: key,
        },
        Event::OfferReceived {
            offer: record_id(2),
            need: record_id(1),
            from: key,
            text: "I can".into(),
        },
        Event::OfferWithdrawn {
            offer: record_id(2),
            need: record_id(1),
            from: key,
        },
        Event::DeliveryOutcome {
            record: record_id(2),
            kind: "offer".into(),
            to: key,
            delivered: false,
            attempts: 5,
            error: Some("timed out".into()),
        },
        Event::CollabOpened {
            collab: record_id(3),
            purpose: Some("review".into()),
            members: vec![key],
        },
        Event::CollabInvited {
            collab: record_id(3),
            by: key,
            purpose: Some("review".into()),
        },
        Event::CollabEntryAdded {
            collab: record_id(3),
            entry: record_id(4),
            author: key,
            kind: "post".into(),
            text: Some("hello".into()),
        },
        Event::MessageReceived {
            message: record_id(5),
            from: key,
            text: "hi".into(),
        },
        Event::AttestationReceived {
            attestation: record_id(6),
            issuer: key,
            subject: key,
            skill: tag("kicad"),
            score: -2,
            counted: false,
        },
        Event::AttestationEquivocation {
            issuer: key,
            seq: 4,
            attestations: vec![record_id(6), record_id(7)],
        },
        Event::TrustChanged {
            collab: record_id(3),
        },
        Event::EventsDropped { count: 3 },
        Event::IntroRequested {
            id: record_id(9),
            from: key,
            target: key,
            note: "hi".into(),
        },
        Event::IntroReceived {
            id: record_id(9),
            from: key,
            by: key,
            note: "hi".into(),
            introducer_note: "good".into(),
        },
        Event::IntroAnswered {
            id: record_id(9),
            by: key,
            role: crate::record::IntroRole::Target,
            accepted: true,
            note: String::new(),
        },
        Event::InviteJoined {
            invite: "00ff".into(),
            peer: key,
            name: Some("Ada".into()),
            uses: 1,
        },
    ];
    let kinds: Vec<_> = samples.iter().map(Event::kind).collect();
    assert_eq!(kinds, EVENT_KINDS);
    for event in samples {
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["event"], event.kind());
        assert_eq!(serde_json::from_value::<Event>(value).unwrap(), event);
    }
    assert_eq!(
        serde_json::to_string(&Event::PeerDisconnected { peer: "p".into() }).unwrap(),
        r#"{"event":"peer.disconnected","peer":"p"}"#
    );
}

#[test]
fn filters_match_exact_kinds_and_prefixes() {
    let all = EventFilter::new::<&str>(&[]).unwrap();
    assert!(all.matches_kind("peer.connected") && all.matches_kind("anything.new"));
    let peers = EventFilter::new(&["peer.*"]).unwrap();
    assert!(peers.matches_kind("peer.connected") && peers.matches_kind("peer.disconnected"));
    assert!(!peers.matches_kind("profile.learned"));
    assert!(
        peers.matches_kind("events.dropped"),
        "drops are always told"
    );
    let exact = EventFilter::new(&["profile.learned"]).unwrap();
    assert!(exact.matches_kind("profile.learned") && !exact.matches_kind("peer.connected"));
    assert_eq!(EventFilter::new(&["*"]).unwrap(), EventFilter::all());
    assert!(EventFilter::new(&["nope.*"])
        .unwrap_err()
        .contains("nope.*"));
    assert!(EventFilter::new(&["peer"]).is_err());
}

fn record_id(n: u8) -> crate::RecordId {
    crate::RecordId([n; 32])
}

fn tag(s: &str) -> SkillTag {
    SkillTag::parse(s).unwrap()
}

#[test]
fn profile_update_applies_all_or_nothing() {
    let draft = ProfileSetParams {
        name: "Ada".into(),
        skills: vec![SkillInput {
            tag: tag("rust"),
            level: Some(Level::Expert),
        }],
        resources: vec![ResourceInput {
            tag: tag("3d-printer"),
            description: Some("Prusa MK4".into()),
            availability: None,
        }],
        ..Default::default()
    }
    .into_draft();
    assert_eq!(draft.resources[0].availability, "");

    let update = ProfileUpdateParams {
        bio: Some("builds things".into()),
        add_skills: vec![
            SkillInput {
                tag: tag("rust"),
                level: None,
            },
            SkillInput {
                tag: tag("kicad"),
                level: None,
            },
        ],
        add_resources: vec![ResourceInput {
            tag: tag("3d-printer"),
            description: None,
            availability: Some("weekends".into()),
        }],
        ..Default::default()
    };
    let next = update.apply(&draft).unwrap();
    assert_eq!(next.name, "Ada");
    assert_eq!(next.bio, "builds things");
    assert_eq!(
        next.skills,
        vec![
            Skill {
                tag: tag("rust"),
                level: Level::Expert
            },
            Skill {
                tag: tag("kicad"),
                level: DEFAULT_LEVEL
            }
        ]
    );
    assert_eq!(
        next.resources,
        vec![Resource {
            tag: tag("3d-printer"),
            description: "Prusa MK4".into(),
            availability: "weekends".into()
        }]
    );

    let remove = ProfileUpdateParams {
        name: Some("changed".into()),
        remove_skills: vec![tag("rust"), tag("haskell")],
        ..Default::default()
    };
    let err = remove.apply(&next).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    assert!(err.message.contains("haskell"), "{}", err.message);
    let id = crate::Identity::from_secret([1; 32]).public();
    let body = next.clone().into_profile(id, 10, 20);
    assert_eq!(ProfileDraft::from_profile(&body), next);
}

/// The line framing of both sides (feature `client`, which brings tokio).
#[cfg(feature = "client")]
mod framing {
    use super::super::framing::{Frame, FrameRef, LineReader};
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        // A tiny buffer makes lines arrive in several chunks.
        let reader = tokio::io::BufReader::with_capacity(3, input);
        let mut lines = LineReader::new(reader, max);
        let mut out = vec![];
        loop {
            let frame = lines.next().await.unwrap();
            let end = frame == Frame::Eof;
            out.push(frame);
            if end {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn line_reader_skips_oversized_lines_and_goes_on() {
        let got = frames(b"abc\r\n0123456789\nok\nlast", 5).await;
        assert_eq!(
            got,
            vec![
                Frame::Line(b"abc".to_vec()),
                Frame::TooLong(10),
                Frame::Line(b"ok".to_vec()),
                Frame::Line(b"last".to_vec()),
                Frame::Eof
            ]
        );
        assert_eq!(
            frames(b"12345\n123456", 5).await,
            vec![
                Frame::Line(b"12345".to_vec()),
                Frame::TooLong(6),
                Frame::Eof
            ]
        );
    }

    /// `next_ref` over a reader whose buffer holds `capacity` bytes: lines lent from the inner
    /// buffer (whole lines) and from the reader's own (lines in pieces) read the same.
    async fn lent_frames(input: &[u8], capacity: usize, max: usize) -> Vec<Frame> {
        let reader = tokio::io::BufReader::with_capacity(capacity, input);
        let mut lines = LineReader::new(reader, max);
        let mut out = vec![];
        loop {
            let frame = match lines.next_ref().await.unwrap() {
                FrameRef::Line(l) => Frame::Line(l.to_vec()),
                FrameRef::TooLong(n) => Frame::TooLong(n),
                FrameRef::Eof => Frame::Eof,
            };
            let end = frame == Frame::Eof;
            out.push(frame);
            if end {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn lent_lines_read_as_copied_lines_whatever_the_buffer() {
        let input = b"abc\r\n0123456789\nok\n\n{\"id\":1}\nlast";
        let expected = frames(input, 5).await;
        for capacity in [1, 2, 3, 4, 7, 16, 64, 8192] {
            assert_eq!(
                lent_frames(input, capacity, 5).await,
                expected,
                "{capacity}"
            );
        }
        // Mixed: a copied read after lent ones releases what was lent.
        let reader = tokio::io::BufReader::with_capacity(64, &b"one\ntwo\nthree"[..]);
        let mut lines = LineReader::new(reader, 100);
        assert_eq!(lines.next_ref().await.unwrap(), FrameRef::Line(b"one"));
        assert_eq!(lines.next().await.unwrap(), Frame::Line(b"two".to_vec()));
        assert_eq!(lines.next_ref().await.unwrap(), FrameRef::Line(b"three"));
        assert_eq!(lines.next_ref().await.unwrap(), FrameRef::Eof);
    }

    /// The client against a scripted daemon: each request is answered with the next line given.
    #[tokio::test]
    async fn client_reads_every_kind_of_answer() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let (ours, theirs) = tokio::net::UnixStream::pair().unwrap();
        let answers: Vec<&'static str> = vec![
            r#"{"id":1,"result":null}"#,
            r#"{"id":2,"result":{"n":[1,2,3]}}"#,
            "\n   \n{\"id\":3,\"error\":{\"code\":-32002,\"message\":\"no such need\"}}",
            r#"{"id":4}"#,
            r#"{"id":99,"result":1}"#,
            r#"{"id":6,"result":"#,
            r#"{"id":null,"result":[]}"#,
        ];
        let daemon = tokio::spawn(async move {
            let (read, mut write) = theirs.into_split();
            let mut lines = tokio::io::BufReader::new(read).lines();
            for answer in answers {
                lines.next_line().await.unwrap().unwrap();
                write.write_all(answer.as_bytes()).await.unwrap();
                write.write_all(b"\n").await.unwrap();
            }
        });
        let mut client = Client::from_stream(ours, "test.sock".into());
        assert_eq!(client.call(&Call::Status).await.unwrap(), Value::Null);
        let raw = client.call_raw(&Call::Status).await.unwrap();
        assert_eq!(raw.get(), r#"{"n":[1,2,3]}"#);
        match client.call(&Call::Status).await {
            Err(ClientError::Call(e)) => {
                assert_eq!(e.code, ErrorCode::NotFound);
                assert_eq!(e.message, "no such need");
            }
            other => panic!("{other:?}"),
        }
        for expected in ["exactly one of", "arrived for request 5", "EOF"] {
            match client.call(&Call::Status).await {
                Err(ClientError::Protocol(m)) => assert!(m.contains(expected), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        // A null id (the daemon could not read the request's) is accepted.
        assert_eq!(
            client.call(&Call::Status).await.unwrap(),
            serde_json::json!([])
        );
        daemon.await.unwrap();
        // The daemon is gone: the request cannot be written (broken pipe), or no answer comes.
        assert!(matches!(
            client.call(&Call::Status).await,
            Err(ClientError::Closed | ClientError::Io(_))
        ));
    }

    #[tokio::test]
    async fn client_reports_no_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("guild.sock");
        let err = Client::connect(&missing).await.unwrap_err();
        assert!(matches!(err, ClientError::NotRunning { .. }), "{err}");
        // A socket file nobody listens on any more (a crashed daemon's) is "not running" too.
        drop(tokio::net::UnixListener::bind(&missing).unwrap());
        let err = Client::connect(&missing).await.unwrap_err();
        assert!(matches!(err, ClientError::NotRunning { .. }), "{err}");
    }
}

mod docs;
mod explanation;

#[test]
fn a_project_ask_round_trips_and_its_roles_are_checked() {
    let call = Call::Ask(pull::AskParams {
        text: "a prototype".into(),
        roles: vec![pull::RoleInput {
            label: tag("layout"),
            skills: vec![tag("kicad")],
            resources: vec![],
            count: 2,
            effort: Some("2 days".into()),
            note: String::new(),
        }],
        due: Some(1_800_000_000),
        place: Some("Lyon".into()),
        reward: Some(pull::RewardInput {
            kind: crate::RewardKind::Paid,
            text: "€40/h".into(),
        }),
        ..Default::default()
    });
    let line = Request {
        id: json!(1),
        call: call.clone(),
    }
    .to_line()
    .unwrap();
    assert_eq!(parse(&line).unwrap().call, call, "{line}");
    let bad = |params: serde_json::Value, words: &str| {
        let err = Call::from_parts("ask", Some(params)).unwrap_err();
        assert!(err.to_string().contains(words), "{err}");
    };
    bad(
        json!({"text": "x", "roles": [{"label": "layout", "skills": ["kicad"], "count": 11}]}),
        "1 to 10 people",
    );
    bad(
        json!({"text": "x", "roles": [{"label": "layout", "skills": []}]}),
        "at least one skill",
    );
    bad(
        json!({"text": "x", "skills": ["rust"], "roles": [{"label": "layout", "skills": ["kicad"]}]}),
        "not both",
    );
    let Call::Ask(p) = Call::from_parts(
        "ask",
        Some(json!({"text": "x", "roles": [{"label": "Fire Ware", "skills": ["Rust"]}]})),
    )
    .unwrap() else {
        panic!("an ask");
    };
    assert!(p.is_project());
    assert_eq!(p.roles[0].label.as_str(), "fire-ware");
    assert_eq!(p.roles[0].count, 1, "one person by default");
}
