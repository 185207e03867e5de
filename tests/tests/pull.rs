//! The pull workflow end to end: five real `guild daemon`s on loopback (mDNS off), driven only
//! through the `guild` command and the control socket.
//!
//! A asks for `kicad` + `pcb-design`; B and C, who have those skills, get `need.matched`; D, who
//! has not, stores the need but gets no `need.matched`; B and C offer; A accepts B's offer, which
//! opens a collaboration; A and B post to it and each sees the other's post; C can neither read
//! nor post; A closes it, then B closes its part. E, stopped before A asked, catches up on the need when it restarts.
//!
//! Every wait is bounded. Waits wake on event streams; the only polls are for state that no event
//! announces (D's and E's stores), at short intervals under a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{parts, TestDaemon, TestHome, WAIT};
use guild_core::control::pull::{Asked, CollabView, Delivery, EntryView, Needs, Offers};
use guild_core::control::{Event, Status, Subscription};
use guild_core::{PublicKey, RecordId};
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Exit codes documented in `guild --help`.
const USAGE: i32 = 2;
const NOT_FOUND: i32 = 4;

/// Pause between two looks at state no event announces.
const POLL: Duration = Duration::from_millis(100);

/// Runs a `guild … --json` command that must succeed, decoding its output.
async fn json<T: DeserializeOwned>(d: &TestDaemon, args: &[&str]) -> T {
    let mut args = args.to_vec();
    args.push("--json");
    serde_json::from_value(d.guild_json(&args).await)
        .unwrap_or_else(|e| panic!("`guild {}`: unexpected JSON: {e}", args.join(" ")))
}

/// Runs a command that must succeed; its stdout.
async fn ok(d: &TestDaemon, args: &[&str]) -> String {
    let (code, out, err) = parts(&d.guild(args).await);
    assert_eq!(code, 0, "`guild {}`: {err}", args.join(" "));
    out
}

/// Runs a command that must fail with `code`; its stderr.
async fn fails(d: &TestDaemon, args: &[&str], code: i32) -> String {
    let (got, out, err) = parts(&d.guild(args).await);
    assert_eq!(got, code, "`guild {}`: {out}{err}", args.join(" "));
    err
}

/// The dial address of a daemon from `guild status --json`: `<listen>/p2p/<peer id>`.
async fn dial_addr(d: &TestDaemon) -> (String, PublicKey) {
    let status: Status = json(d, &["status"]).await;
    let listen = status.listen_addrs.first().expect("a listen address");
    (
        format!("{listen}/p2p/{}", status.peer_id),
        status.peer_id.parse().unwrap(),
    )
}

/// `--bootstrap <addr>` for each address.
fn bootstrap(addrs: &[String]) -> Vec<&str> {
    addrs
        .iter()
        .flat_map(|a| ["--bootstrap", a.as_str()])
        .collect()
}

/// A subscription to `kinds` on `d`'s socket.
async fn subscribe(d: &TestDaemon, kinds: &[&str]) -> Subscription {
    d.client()
        .await
        .subscribe(kinds.iter().map(|k| k.to_string()).collect())
        .await
        .unwrap()
}

/// Reads events until one passes `pick`, failing at `deadline` or if the stream ends. Returns
/// the picked value and the events skipped before it.
async fn wait_for<T>(
    sub: &mut Subscription,
    deadline: Instant,
    waiting_for: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> (T, Vec<Event>) {
    let mut skipped = vec![];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = match tokio::time::timeout(left, sub.next()).await {
            Ok(Ok(Some(event))) => event,
            Ok(Ok(None)) => panic!("the event stream ended while waiting for {waiting_for}"),
            Ok(Err(e)) => panic!("the event stream failed while waiting for {waiting_for}: {e}"),
            Err(_) => panic!("timed out waiting for {waiting_for}; saw {skipped:?}"),
        };
        match pick(&event) {
            Some(found) => return (found, skipped),
            None => skipped.push(event),
        }
    }
}

/// Polls `guild needs --all --json` on `d` until it lists `need`.
async fn wait_until_stored(d: &TestDaemon, need: RecordId, deadline: Instant, who: &str) {
    loop {
        let needs: Needs = json(d, &["needs", "--all"]).await;
        if needs.needs.iter().any(|n| n.id == need) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{who} never stored need {need}; it lists {needs:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_pull_each_other_into_a_collaboration() {
    let started = Instant::now();
    // Each node bootstraps from every earlier one, so all pairs are connected and A's gossip
    // reaches everyone directly.
    let a = TestDaemon::start(&[]).await;
    let (a_addr, a_key) = dial_addr(&a).await;
    let mut a_peers = subscribe(&a, &["peer.connected"]).await;
    let mut addrs = vec![a_addr];
    let mut keys = vec![];
    let mut daemons = vec![];
    for _ in 0..3 {
        let node = TestDaemon::start(&bootstrap(&addrs)).await;
        let (addr, key) = dial_addr(&node).await;
        addrs.push(addr);
        keys.push(key);
        daemons.push(node);
    }
    // E's home outlives its first daemon.
    let e_home = TestHome::init();
    let mut e = TestDaemon::start_on(&e_home, &bootstrap(&addrs)).await;
    let e_key = dial_addr(&e).await.1;
    let [b, c, d]: [TestDaemon; 3] = daemons.try_into().ok().unwrap();
    let [b_key, c_key, d_key]: [PublicKey; 3] = keys.try_into().unwrap();

    // A hears from all four.
    let deadline = Instant::now() + WAIT;
    let mut connected = BTreeSet::new();
    let everyone: BTreeSet<String> = [b_key, c_key, d_key, e_key]
        .iter()
        .map(|k| k.to_string())
        .collect();
    while !everyone.is_subset(&connected) {
        let (peer, _) = wait_for(
            &mut a_peers,
            deadline,
            "A to connect to B, C, D, E",
            |ev| match ev {
                Event::PeerConnected { peer, .. } => Some(peer.clone()),
                _ => None,
            },
        )
        .await;
        connected.insert(peer);
    }
    drop(a_peers);

    // Profiles: B and C have what A will ask for (C only one of the two), D and E do not.
    for (node, name, skills) in [
        (&b, "Bea", &["kicad", "PCB Design"][..]),
        (&c, "Cy", &["pcb-design", "rust"][..]),
        (&d, "Dee", &["rust"][..]),
        (&e, "Eve", &["welding"][..]),
    ] {
        ok(node, &["profile", "set", "--name", name]).await;
        let mut args = vec!["profile", "skill", "add"];
        args.extend_from_slice(skills);
        ok(node, &args).await;
    }
    // A's profile reaching B, C and D by gossip shows that A's gossip gets through to them.
    let mut learned = vec![];
    for node in [&b, &c, &d] {
        learned.push(subscribe(node, &["profile.learned"]).await);
    }
    ok(&a, &["profile", "set", "--name", "Ada"]).await;
    let deadline = Instant::now() + WAIT;
    for sub in &mut learned {
        wait_for(sub, deadline, "A's profile", |ev| match ev {
            Event::ProfileLearned { peer, .. } if *peer == a_key => Some(()),
            _ => None,
        })
        .await;
    }
    drop(learned);

    // E goes offline before A asks.
    e.signal("TERM");
    let (status, _) = e.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "E stopped with {status}");

    // Everyone who should hear of the need listens first.
    let mut b_events = subscribe(&b, &["need.*", "collab.*"]).await;
    let mut c_events = subscribe(&c, &["need.*", "collab.*"]).await;
    let mut d_events = subscribe(&d, &["need.matched", "message.received"]).await;
    let mut a_events = subscribe(&a, &["offer.received", "collab.*"]).await;

    // A asks; the lifetime and the tags are normalised and echoed.
    let asked: Asked = json(
        &a,
        &[
            "ask",
            "Review my KiCad layout for a 4-layer board",
            "--skill",
            "KiCad",
            "--skill",
            "pcb design",
            "--expires",
            "3d",
        ],
    )
    .await;
    let need = asked.need.id;
    assert!(asked.published, "A's need reached no peer: {asked:?}");
    assert_eq!(
        asked.need.expires_at - asked.need.issued_at,
        3 * 86_400,
        "{asked:?}"
    );
    assert!(asked.need.mine);
    let mine: Needs = json(&a, &["needs", "--mine"]).await;
    assert_eq!(mine.needs.len(), 1);
    assert_eq!(mine.needs[0].id, need);

    // B and C are told, with the tags they have.
    let deadline = Instant::now() + WAIT;
    for (sub, who, expected) in [
        (&mut b_events, "B", vec!["kicad", "pcb-design"]),
        (&mut c_events, "C", vec!["pcb-design"]),
    ] {
        let (matched, _) = wait_for(
            sub,
            deadline,
            &format!("need.matched on {who}"),
            |ev| match ev {
                Event::NeedMatched {
                    need: n,
                    asker,
                    matched,
                    ..
                } if *n == need => {
                    assert_eq!(*asker, a_key);
                    Some(matched.clone())
                }
                _ => None,
            },
        )
        .await;
        let matched: Vec<&str> = matched.iter().map(|t| t.as_str()).collect();
        assert_eq!(matched, expected, "{who}");
    }
    let matching: Needs = json(&b, &["needs", "--matching"]).await;
    assert_eq!(matching.needs.len(), 1, "{matching:?}");
    assert_eq!(matching.needs[0].asker_name.as_deref(), Some("Ada"));

    // D stores the need but is not told: its stream, read up to a later sentinel (a message
    // from A, sent once the need is in D's store), holds no need.matched.
    wait_until_stored(&d, need, Instant::now() + WAIT, "D").await;
    let none: Needs = json(&d, &["needs", "--matching"]).await;
    assert!(none.needs.is_empty(), "{none:?}");
    let sent: Delivery = json(&a, &["msg", &d_key.to_string(), "ping from Ada"]).await;
    assert!(sent.delivered, "{sent:?}");
    let (_, before) = wait_for(
        &mut d_events,
        Instant::now() + WAIT,
        "A's message on D",
        |ev| {
            matches!(ev, Event::MessageReceived { text, from, .. }
            if text == "ping from Ada" && *from == a_key)
            .then_some(())
        },
    )
    .await;
    assert!(
        before.is_empty(),
        "D got events before the sentinel: {before:?}"
    );
    let inbox = ok(&d, &["inbox"]).await;
    assert!(inbox.contains("ping from Ada"), "{inbox}");

    // B and C offer; A is told of both.
    let b_offer: Delivery = json(
        &b,
        &[
            "offer",
            &need.to_string(),
            "I lay out 4-layer boards weekly",
        ],
    )
    .await;
    let c_offer: Delivery = json(&c, &["offer", &need.to_string(), "Happy to look"]).await;
    assert!(
        b_offer.delivered && c_offer.delivered,
        "{b_offer:?} {c_offer:?}"
    );
    let deadline = Instant::now() + WAIT;
    let mut received = BTreeSet::new();
    while received.len() < 2 {
        let (from, _) = wait_for(&mut a_events, deadline, "two offers on A", |ev| match ev {
            Event::OfferReceived { need: n, from, .. } if *n == need => Some(*from),
            _ => None,
        })
        .await;
        received.insert(from.to_string());
    }
    assert_eq!(
        received,
        [b_key, c_key].iter().map(|k| k.to_string()).collect()
    );
    let offers: Offers = json(&a, &["offers", "--need", &need.to_string()]).await;
    assert_eq!(offers.offers.len(), 2, "{offers:?}");
    let table = ok(&a, &["offers"]).await;
    assert!(table.contains(&b_offer.id.to_string()), "{table}");

    // A accepts B's offer: a collaboration of A and B, announced on both sides.
    let collab: CollabView = json(&a, &["accept", &b_offer.id.to_string()]).await;
    let id = collab.id.to_string();
    let members: BTreeSet<_> = collab.members.iter().copied().collect();
    assert_eq!(members, [a_key, b_key].into_iter().collect());
    assert_eq!(collab.need, need);
    let deadline = Instant::now() + WAIT;
    wait_for(
        &mut b_events,
        deadline,
        "collab.opened on B",
        |ev| match ev {
            Event::CollabOpened { collab: cid, .. } if *cid == collab.id => Some(()),
            _ => None,
        },
    )
    .await;
    // Accepting again is refused.
    fails(&a, &["accept", &b_offer.id.to_string()], USAGE).await;

    // A and B post; each sees the other's post.
    let a_post: EntryView = json(&a, &["collab", "post", &id, "Gerbers are on branch rev-c"]).await;
    let (text, _) = wait_for(&mut b_events, deadline, "A's post on B", |ev| match ev {
        Event::CollabEntryAdded {
            entry, text, kind, ..
        } if *entry == a_post.id && kind == "post" => text.clone(),
        _ => None,
    })
    .await;
    assert_eq!(text, "Gerbers are on branch rev-c");
    let b_post: EntryView = json(&b, &["collab", "post", &id, "Looks good; two nits"]).await;
    let (text, _) = wait_for(&mut a_events, deadline, "B's post on A", |ev| match ev {
        Event::CollabEntryAdded { entry, text, .. } if *entry == b_post.id => text.clone(),
        _ => None,
    })
    .await;
    assert_eq!(text, "Looks good; two nits");
    for node in [&a, &b] {
        let shown: CollabView = json(node, &["collab", "show", &id]).await;
        // Both posts, each once. (Not compared in order: the log sorts by whole-second time,
        // then author, so a reply in the same second may sort before what it answers.)
        let texts: BTreeSet<_> = shown
            .entries
            .iter()
            .filter_map(|e| e.text.clone())
            .collect();
        assert_eq!(shown.entries.len(), 2, "{shown:?}");
        assert_eq!(
            texts,
            BTreeSet::from([
                "Gerbers are on branch rev-c".to_string(),
                "Looks good; two nits".to_string()
            ]),
            "{shown:?}"
        );
    }
    let listed = ok(&b, &["collab", "list"]).await;
    assert!(listed.contains(&id) && listed.contains("open"), "{listed}");

    // C is no member: it can neither read nor post.
    let err = fails(&c, &["collab", "show", &id], NOT_FOUND).await;
    assert!(err.contains(&id), "{err}");
    fails(&c, &["collab", "post", &id, "let me in"], NOT_FOUND).await;
    let c_list: guild_core::control::pull::Collabs = json(&c, &["collab", "list"]).await;
    assert!(c_list.collabs.is_empty(), "{c_list:?}");

    // A closes it; B is told, and nobody can post any more.
    json::<EntryView>(&a, &["collab", "close", &id, "--summary", "Reviewed"]).await;
    wait_for(&mut b_events, deadline, "the close on B", |ev| match ev {
        Event::CollabEntryAdded {
            collab: cid, kind, ..
        } if *cid == collab.id && kind == "close" => Some(()),
        _ => None,
    })
    .await;
    let shown: CollabView = json(&b, &["collab", "show", &id]).await;
    assert!(shown.closed, "{shown:?}");
    let err = fails(&b, &["collab", "post", &id, "one more"], USAGE).await;
    assert!(err.contains("closed"), "{err}");
    // B closes its own part (attestations between A and B count once both closed); once only.
    let mine: EntryView = json(&b, &["collab", "close", &id]).await;
    assert_eq!(mine.kind, "close");
    let shown: CollabView = json(&b, &["collab", "show", &id]).await;
    assert_eq!(shown.closed_by.len(), 2, "{shown:?}");
    let err = fails(&b, &["collab", "close", &id], USAGE).await;
    assert!(err.contains("already closed your part"), "{err}");

    // E comes back on the same home and catches up on the need it missed, by sync on connect.
    let e = TestDaemon::start_on(&e_home, &bootstrap(&addrs)).await;
    wait_until_stored(&e, need, Instant::now() + WAIT, "E").await;
    let caught: Needs = json(&e, &["needs", "--all"]).await;
    let n = caught.needs.iter().find(|n| n.id == need).unwrap();
    assert_eq!((n.asker, n.mine, n.matched.len()), (a_key, false, 0));

    // D never got a need.matched, not even late.
    let none: Needs = json(&d, &["needs", "--matching"]).await;
    assert!(none.needs.is_empty());
    eprintln!("pull scenario took {:?}", started.elapsed());
    drop(d_events);
}
