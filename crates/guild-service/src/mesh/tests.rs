//! The connection manager alone: watermarks, room for newcomers, the address book, backoff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const T: LocalTime = LocalTime::from_millis(1_000_000);

/// `ms` milliseconds after [`T`].
fn at(ms: u64) -> LocalTime {
    T + LocalDuration::from_millis(ms)
}

fn key(n: u16) -> PublicKey {
    let mut k = [0u8; 32];
    k[..2].copy_from_slice(&n.to_be_bytes());
    k[31] = 1;
    PublicKey(k)
}

fn addr(n: u16) -> Vec<String> {
    vec![format!("/ip4/10.0.{}.{}/tcp/4001", n / 256, n % 256)]
}

fn cfg(low: usize, high: usize) -> MeshConfig {
    MeshConfig {
        low,
        high,
        grace: LocalDuration::from_secs(10),
        inbound_per_group: 100,
    }
}

fn inbound(group: &str) -> Link {
    Link {
        inbound: true,
        group: Some(group.into()),
    }
}

fn outbound() -> Link {
    Link {
        inbound: false,
        group: None,
    }
}

#[test]
fn above_the_high_mark_it_prunes_to_the_low_one_least_useful_first() {
    let mut m = Mesh::new(cfg(4, 6), T);
    for n in 0..9 {
        m.connected(key(n), outbound(), T);
    }
    // 0 and 1 sent something useful; 2 is in our circle; 3 is mid-request.
    m.useful(&key(0), at(5_000));
    m.useful(&key(1), at(5_000));
    let later = at(11_000);
    let plan = m.round(
        later,
        7,
        |p| u8::from(*p == key(2)) * 2,
        |p| *p == key(2) || *p == key(3),
    );
    assert_eq!(
        plan.prune.len(),
        5,
        "9 connections down to 4: {:?}",
        plan.prune
    );
    for kept in [key(0), key(1), key(2), key(3)] {
        assert!(!plan.prune.contains(&kept), "{kept:?} kept");
    }
    assert!(plan.dial.is_empty());
}

#[test]
fn newcomers_are_never_pruned_within_their_grace_period() {
    let mut m = Mesh::new(cfg(1, 2), T);
    for n in 0..4 {
        m.connected(key(n), inbound("10.0.0.1"), T);
    }
    let plan = m.round(at(9_000), 1, |_| 0, |_| false);
    assert!(plan.prune.is_empty(), "all four are in their grace period");
    let plan = m.round(at(10_000), 1, |_| 0, |_| false);
    assert_eq!(plan.prune.len(), 3);
}

#[test]
fn a_burst_of_newcomers_never_pushes_out_settled_links() {
    let mut m = Mesh::new(cfg(2, 2), T);
    m.connected(key(0), outbound(), T);
    m.connected(key(1), outbound(), T);
    for n in 2..7 {
        m.connected(key(n), inbound("10.0.0.1"), at(20_000 + u64::from(n)));
    }
    let plan = m.round(at(20_010), 1, |_| 0, |_| false);
    assert!(
        plan.prune.is_empty(),
        "newcomers in their grace period do not count"
    );
    let mut pruned = m.round(at(40_000), 1, |_| 0, |_| false).prune;
    pruned.sort();
    assert_eq!(
        pruned,
        (2..7).map(key).collect::<Vec<_>>(),
        "the newest go first"
    );
}

#[test]
fn a_crowded_address_keeps_room_for_newcomers_under_the_per_address_limit() {
    let c = MeshConfig::with_per_address_limit(2, 64, 16);
    assert_eq!(c.inbound_per_group, 12, "a quarter of 16 kept free");
    let mut m = Mesh::new(c, T);
    for n in 0..14 {
        m.connected(key(n), inbound("127.0.0.1"), T);
    }
    for n in 100..104 {
        m.connected(key(n), inbound("10.9.9.9"), T);
    }
    for n in 200..203 {
        m.connected(key(n), outbound(), T);
    }
    // At once, grace or not: the newest two are handed on.
    assert!(m.next_round <= T + CROWDED_ROUND);
    let plan = m.round(T + CROWDED_ROUND, 3, |_| 0, |_| false);
    assert_eq!(plan.prune.len(), 2, "14 inbound from one address, 12 kept");
    assert!(plan
        .prune
        .iter()
        .all(|p| p.0[0] == 0 && u16::from_be_bytes([p.0[0], p.0[1]]) < 14));
}

#[test]
fn below_the_low_mark_it_dials_known_members_and_backs_off_on_failure() {
    let mut m = Mesh::new(cfg(3, 6), T);
    m.learn(key(1), &addr(1), Source::Bootstrap, None, T);
    let plan = m.round(T, 5, |_| 0, |_| false);
    assert_eq!(plan.dial, vec![(key(1), addr(1))]);
    assert_eq!(plan.ask, None, "nobody connected to ask");
    // Dialling: not a candidate again until it reports.
    assert!(m.round(T + ROUND, 5, |_| 0, |_| false).dial.is_empty());
    m.dial_failed(&key(1), "connection refused", 0, at(100));
    let first = m.book[&key(1)].next_try;
    assert_eq!(first, at(100) + FIRST_BACKOFF);
    m.dial_failed(&key(1), "connection refused", 0, first);
    assert_eq!(
        m.book[&key(1)].next_try,
        first + FIRST_BACKOFF + FIRST_BACKOFF
    );
    // A bootstrap peer is never forgotten, however often it fails.
    for _ in 0..20 {
        m.dial_failed(&key(1), "connection refused", 0, T);
    }
    assert!(m.book.contains_key(&key(1)));
    assert!(backoff(20, 0) <= MAX_BACKOFF);
    assert!(
        backoff(3, u64::MAX).as_millis() <= backoff(3, 0).as_millis() * 5 / 4 + 1,
        "jitter is bounded"
    );
}

#[test]
fn alone_it_says_why_and_what_to_do_and_warns_once_in_a_while() {
    let mut m = Mesh::new(cfg(2, 4), T);
    let s = m.status(T);
    assert_eq!(s.state, MeshState::Connecting);
    assert!(
        s.reason.unwrap().contains("bootstrap"),
        "nobody known: add a bootstrap peer"
    );
    m.learn(key(1), &addr(1), Source::Bootstrap, None, T);
    let plan = m.round(T, 1, |_| 0, |_| false);
    assert_eq!(plan.dial.len(), 1);
    m.dial_failed(&key(1), "Handshake failed: Broken pipe", 0, at(10));
    let plan = m.round(T + ALONE_WARN_AFTER, 1, |_| 0, |_| false);
    let warning = plan.warn.expect("warned after a while alone");
    assert!(warning.contains("Broken pipe"), "{warning}");
    let s = m.status(T + ALONE_WARN_AFTER);
    assert_eq!(s.state, MeshState::Alone);
    assert!(
        m.round(T + ALONE_WARN_AFTER + ROUND, 1, |_| 0, |_| false)
            .warn
            .is_none(),
        "not every round"
    );
    // A member that accepts and closes at once is a refusal, not a connection.
    m.dialing.insert(key(1), at(20_000));
    m.connected(key(1), outbound(), at(20_000));
    m.disconnected(&key(1), 0, at(20_050));
    assert!(m.book[&key(1)].next_try > at(20_050), "backs off");
    let s = m.status(at(20_100));
    assert_eq!(s.state, MeshState::Alone);
    assert!(s.reason.unwrap().contains("closed the connection at once"));
    // A connection that lasts ends it.
    m.connected(key(1), outbound(), at(30_000));
    assert_eq!(m.status(at(30_000) + SETTLE).state, MeshState::Thin);
    assert_eq!(m.status(at(30_000) + SETTLE).reason, None);
}

#[test]
fn a_thin_member_asks_its_peers_for_more_and_dials_what_they_suggest() {
    let mut m = Mesh::new(cfg(3, 6), T);
    m.connected(key(1), outbound(), T);
    let plan = m.round(T, 0, |_| 0, |_| false);
    assert_eq!(plan.ask, Some(key(1)), "nothing to dial: ask the one peer");
    assert_eq!(
        m.round(T + ROUND, 0, |_| 0, |_| false).ask,
        None,
        "not again at once"
    );
    for n in 10..14 {
        assert!(m.learn(key(n), &addr(n), Source::Exchange, Some(key(1)), T));
    }
    let plan = m.round(T + ROUND + ROUND, 9, |_| 0, |_| false);
    assert_eq!(plan.dial.len(), 2, "{:?}", plan.dial);
    // What we hand out: connected members with addresses we saw ourselves, not hearsay.
    m.learn(key(1), &addr(1), Source::Identified, None, T);
    let out = m.exchange(&key(99), 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].peer, key(1));
    assert!(m.exchange(&key(1), 1).is_empty(), "never a peer to itself");
}

#[test]
fn hearsay_is_bounded_per_teller_and_never_displaces_what_we_saw() {
    let mut m = Mesh::new(cfg(3, 6), T);
    let liar = key(7);
    let mut taken = 0;
    for n in 1000..1100 {
        if m.learn(key(n), &addr(n), Source::Exchange, Some(liar), T) {
            taken += 1;
        }
    }
    assert_eq!(taken, MAX_EXCHANGED_PER_PEER);
    // Addresses of the wrong shape or size are dropped; nothing left means nothing learned.
    assert!(!m.learn(
        key(1),
        &["not-a-multiaddr".into()],
        Source::Identified,
        None,
        T
    ));
    assert!(!m.learn(
        key(1),
        &[format!("/{}", "x".repeat(300))],
        Source::Identified,
        None,
        T
    ));
    // Without a teller, hearsay is not taken at all.
    assert!(!m.learn(key(2), &addr(2), Source::Exchange, None, T));
    // Fill the book with what we saw ourselves: hearsay goes first, bootstrap never.
    m.learn(key(3), &addr(3), Source::Bootstrap, None, T);
    for n in 2000..(2000 + MAX_BOOK as u16) {
        m.learn(key(n), &addr(n), Source::Identified, None, at(1));
    }
    assert_eq!(m.book.len(), MAX_BOOK);
    assert_eq!(m.exchanged, 0, "every hearsay entry made room");
    assert!(m.book.contains_key(&key(3)));
    // The book is full of what we saw: a newer sighting replaces the oldest one, hearsay
    // is refused.
    assert!(!m.learn(key(9000), &addr(1), Source::Exchange, Some(liar), at(2)));
    assert!(m.learn(key(9001), &addr(1), Source::Identified, None, at(2)));
    assert_eq!(m.book.len(), MAX_BOOK);
    assert_eq!(m.due.len(), MAX_BOOK);
    assert_eq!(m.evict.len(), MAX_BOOK);
}

#[test]
fn hearsay_that_never_answers_is_forgotten() {
    let mut m = Mesh::new(cfg(3, 6), T);
    m.learn(key(5), &addr(5), Source::Exchange, Some(key(1)), T);
    for _ in 0..MAX_EXCHANGE_FAILURES {
        m.dial_failed(&key(5), "timeout", 0, T);
    }
    assert!(!m.book.contains_key(&key(5)));
    assert_eq!(m.exchanged, 0);
    assert!(m.exchanged_from.is_empty());
}

#[test]
fn once_connected_it_leans_on_other_members_before_the_bootstrap_ones() {
    let mut m = Mesh::new(cfg(3, 6), T);
    m.learn(key(1), &addr(1), Source::Bootstrap, None, T);
    m.learn(key(2), &addr(2), Source::Exchange, Some(key(9)), T);
    assert_eq!(
        m.candidates(T, 1, 0),
        vec![(key(1), addr(1))],
        "alone: bootstrap first"
    );
    m.connected(key(9), outbound(), T);
    assert_eq!(
        m.candidates(T, 1, 0),
        vec![(key(2), addr(2))],
        "connected: others first"
    );
    // A member that pruned us is left alone for a while.
    m.pruned_by(&key(2), T);
    assert_eq!(m.candidates(at(1_000), 1, 0), vec![(key(1), addr(1))]);
    assert!(m.candidates(at(1_000), 2, 0).len() == 1);
    assert_eq!(m.candidates(T + PRUNE_BACKOFF, 2, 0).len(), 2);
}

#[test]
fn minted_strangers_fill_at_most_half_of_the_hearsay_and_members_keep_the_rest() {
    let mut m = Mesh::new(cfg(3, 6), T);
    let mut n: u16 = 10_000;
    // 300 fresh keys, each telling as much as it may.
    for teller in 0..300u16 {
        for _ in 0..MAX_EXCHANGED_PER_PEER {
            m.learn_from(
                key(n),
                &addr(n),
                Source::Exchange,
                Some(key(teller)),
                true,
                T,
            );
            n += 1;
        }
    }
    assert_eq!(m.from_strangers.len(), MAX_EXCHANGED_FROM_STRANGERS);
    // A member's suggestions still get in.
    assert!(m.learn_from(key(n), &addr(n), Source::Exchange, Some(key(999)), false, T));
    // Forgetting hearsay frees its room.
    let some = *m.from_strangers.iter().next().unwrap();
    for _ in 0..MAX_EXCHANGE_FAILURES {
        m.dial_failed(&some, "timeout", 0, T);
    }
    assert_eq!(m.from_strangers.len(), MAX_EXCHANGED_FROM_STRANGERS - 1);
}

#[test]
fn the_next_wakeup_is_the_soonest_connection_to_settle_and_follows_reconnects_and_closes() {
    // No low mark: a close does not bring the round forward here.
    let mut m = Mesh::new(cfg(0, 6), T);
    // The first round is due at once; move it away to see the settling times.
    m.next_round = at(600_000);
    assert_eq!(m.next_due(T), at(600_000));
    m.connected(key(1), outbound(), at(1_000));
    m.connected(key(2), inbound("10.0.0.2"), at(3_000));
    assert_eq!(m.next_due(at(1_000)), at(1_000) + SETTLE);
    // Once the first settled, the second is next; once both settled, the round.
    assert_eq!(m.next_due(at(1_000) + SETTLE), at(3_000) + SETTLE);
    assert_eq!(m.next_due(at(3_000) + SETTLE), at(600_000));
    // A reconnect moves the peer's settling time; a close removes it.
    m.connected(key(1), outbound(), at(5_000));
    assert_eq!(m.next_due(at(3_000)), at(3_000) + SETTLE);
    m.disconnected(&key(2), 0, at(4_000));
    assert_eq!(m.next_due(at(4_000)), at(5_000) + SETTLE);
    m.disconnected(&key(1), 0, at(6_000));
    assert_eq!(m.next_due(at(6_000)), at(600_000));
    assert!(m.settling.is_empty() && m.conns.is_empty());
}

#[test]
fn connections_opened_for_a_query_are_let_go_above_the_low_mark_after_their_short_grace() {
    // Grace 30 s for mesh links and newcomers; 10 s (TRANSIENT_GRACE) for the rest.
    let mut c = cfg(3, 10);
    c.grace = LocalDuration::from_secs(30);
    let mut m = Mesh::new(c, T);
    // Two mesh dials of ours, one newcomer, and five connections a DHT query opened.
    for n in 0..2 {
        m.learn(key(n), &addr(n), Source::Identified, None, T);
    }
    let plan = m.round(T, 1, |_| 0, |_| false);
    assert_eq!(plan.dial.len(), 2, "dials the two members it knows");
    for (p, _) in &plan.dial {
        m.connected(*p, outbound(), T);
    }
    m.connected(key(10), inbound("10.0.0.1"), T);
    for n in 20..25 {
        m.connected(key(n), outbound(), T);
    }
    assert_eq!(m.len(), 8);
    // Within the short grace nothing goes, though 8 is above the low mark of 3.
    let plan = m.round(at(9_000), 2, |_| 0, |_| false);
    assert!(plan.prune.is_empty(), "{:?}", plan.prune);
    assert_eq!(m.status(at(9_000)).settling, 8);
    // After it, the query's five have settled: above the low mark by two, two go (one is
    // mid-request and stays).
    let plan = m.round(at(10_000), 3, |_| 0, |p| *p == key(20));
    let mut pruned = plan.prune.clone();
    pruned.sort();
    assert_eq!(pruned, vec![key(21), key(22)]);
    assert_eq!(
        m.status(at(10_000)).settling,
        3,
        "mesh links and the newcomer still in grace"
    );
    for p in &plan.prune {
        m.disconnected(p, 0, at(10_100));
    }
    // Once the mesh links and the newcomer have settled, the query's last three go: the
    // mesh has its low mark without them.
    let plan = m.round(at(30_000), 4, |_| 0, |_| false);
    let mut pruned = plan.prune.clone();
    pruned.sort();
    assert_eq!(pruned, vec![key(20), key(23), key(24)]);
    for p in &plan.prune {
        m.disconnected(p, 0, at(30_100));
    }
    let plan = m.round(at(120_000), 5, |_| 0, |_| false);
    assert!(plan.prune.is_empty(), "{:?}", plan.prune);
    assert_eq!(m.len(), 3);
}

#[test]
fn below_the_low_mark_a_query_s_connections_are_links_of_the_mesh() {
    let mut m = Mesh::new(cfg(4, 8), T);
    for n in 0..3 {
        m.connected(key(n), outbound(), T);
    }
    let plan = m.round(at(60_000), 1, |_| 0, |_| false);
    assert!(plan.prune.is_empty(), "{:?}", plan.prune);
}

#[test]
fn a_bootstrap_peer_the_network_layer_dialled_is_a_link_not_a_query_s_connection() {
    let mut c = cfg(1, 4);
    c.grace = LocalDuration::from_secs(30);
    let mut m = Mesh::new(c, T);
    m.learn(key(1), &addr(1), Source::Bootstrap, None, T);
    // The network layer dialled the bootstrap peer at start, before any round; a DHT query
    // opened another connection.
    m.connected(key(1), outbound(), T);
    m.connected(key(3), outbound(), T);
    // Past every grace, two settled above a low mark of 1: the query's connection goes, the
    // bootstrap peer stays (it sorts first, so it would go first were it a query's).
    let plan = m.round(at(60_000), 1, |_| 0, |_| false);
    assert_eq!(plan.prune, vec![key(3)]);
}
