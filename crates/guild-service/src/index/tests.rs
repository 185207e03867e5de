#![allow(clippy::unwrap_used)]
use super::*;
use guild_core::fixtures::{identity, profile, tag, T0};
use guild_core::Resource;

fn index() -> (Index, Vec<PublicKey>) {
    let mut idx = Index::default();
    let mut keys = vec![];
    for (i, (name, skills, bio)) in [
        ("ada", vec!["kicad", "pcb-design"], "Embedded boards"),
        ("bob", vec!["kicad"], "Hobbyist"),
        ("cy", vec!["rust", "embedded"], "Firmware for bicycles"),
        ("bea", vec!["woodworking"], "PCB layout, KiCad"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = identity(i as u8 + 1);
        let mut p = profile(&id, name, &skills, T0);
        p.bio = bio.into();
        if name == "bob" {
            p.skills[0].level = Level::Beginner;
        }
        if name == "bea" {
            p.resources = vec![Resource {
                tag: tag("3d-printer"),
                description: "Prusa MK4".into(),
                availability: "weekends".into(),
            }];
        } else {
            p.resources = vec![];
        }
        idx.insert(id.public(), RecordId([i as u8; 32]), &p);
        keys.push(id.public());
    }
    idx.refresh_vocabulary();
    (idx, keys)
}

fn words(w: &str) -> Query {
    Query {
        words: Some(w.into()),
        limit: 10,
        ..Query::default()
    }
}

fn stranger(_: &PublicKey, _: Option<&SkillTag>) -> Option<f64> {
    None
}

#[test]
fn peer_id_text_holds_a_peer_id_whole_and_cuts_longer_text_at_a_character() {
    let key = identity(1).public();
    let text = key.to_string();
    assert_eq!(text.len(), 52);
    assert_eq!(PeerIdText::new(&text).as_str(), text);
    assert_eq!(format!("{}", PeerIdText::from(text.clone())), text);
    let long = "é".repeat(40); // 80 bytes
    let cut = PeerIdText::new(&long);
    assert_eq!(cut.as_str(), "é".repeat(32));
    assert_eq!(PeerIdText::new(&format!("a{long}")).as_str().len(), 63);
    assert_eq!(PeerIdText::new("").as_str(), "");
}

#[test]
fn every_word_matches_tags_resources_and_bios() {
    let (idx, k) = index();
    let r = idx.find(&words("3d-printer"), T0, stranger);
    assert_eq!(r.iter().map(|m| m.peer).collect::<Vec<_>>(), vec![k[3]]);
    assert_eq!(r[0].matched[0].field, Field::Resource);
    let r = idx.find(&words("pcb"), T0, stranger);
    assert_eq!(r[0].peer, k[0], "prefix of a skill beats a bio word");
    assert_eq!(r[0].matched[0].how, How::Prefix);
    assert!(r.iter().any(|m| m.peer == k[3]), "bio word: {r:?}");
    let r = idx.find(&words("kikad"), T0, stranger);
    let found: BTreeSet<_> = r.iter().map(|m| m.peer).collect();
    assert!(
        found.contains(&k[0]) && found.contains(&k[1]),
        "typo: {r:?}"
    );
    assert!(r
        .iter()
        .any(|m| m.matched.iter().any(|x| x.how == How::Typo)));
    let r = idx.find(&words("bicycles"), T0, stranger);
    assert_eq!(r[0].peer, k[2]);
    assert_eq!(r[0].matched[0].how, How::Word);
}

#[test]
fn two_words_can_be_one_tag_and_more_words_matched_rank_higher() {
    let (idx, k) = index();
    let r = idx.find(&words("pcb design"), T0, stranger);
    assert_eq!(r[0].peer, k[0]);
    assert_eq!(r[0].fit, 1.0, "both words covered by pcb-design: {r:?}");
    let r = idx.find(&words("kicad pcb-design"), T0, stranger);
    assert_eq!(r[0].peer, k[0], "ada has both");
    assert!(r[0].fit > r[1].fit);
}

#[test]
fn a_trust_path_beats_any_stranger_with_the_same_match_and_level_only_orders_similar_trust() {
    let (idx, k) = index();
    // bob: beginner, but trusted; ada: expert-ish stranger.
    let trust = |who: &PublicKey, _: Option<&SkillTag>| (*who == k[1]).then_some(0.2);
    let r = idx.find(&words("kicad"), T0, trust);
    assert_eq!(r[0].peer, k[1], "trusted first: {r:?}");
    assert_eq!(r[1].trust, None, "strangers have no trust value");
    // Equal trust: the declared level orders them.
    let same = |_: &PublicKey, _: Option<&SkillTag>| Some(0.5);
    let r = idx.find(&words("kicad"), T0, same);
    assert_eq!(r[0].peer, k[0]);
}

#[test]
fn typed_filters_are_requirements() {
    let (idx, k) = index();
    let q = Query {
        skills: vec![tag("kicad")],
        text: Some("embedded".into()),
        limit: 10,
        ..Query::default()
    };
    let r = idx.find(&q, T0, stranger);
    assert_eq!(r.iter().map(|m| m.peer).collect::<Vec<_>>(), vec![k[0]]);
    let q = Query {
        resources: vec![tag("3d-printer")],
        limit: 10,
        ..Query::default()
    };
    assert_eq!(idx.find(&q, T0, stranger).len(), 1);
    assert!(
        idx.find(&q, T0 + 40 * 86_400, stranger).is_empty(),
        "expired profiles never match"
    );
}

#[test]
fn unmatched_words_get_suggestions() {
    let (idx, _) = index();
    // Two edits away: a typo match, not an unmatched word.
    assert!(idx.unmatched_words(&words("woodwerking")).is_empty());
    let q = words("woodwrk zzzz");
    let un = idx.unmatched_words(&q);
    assert_eq!(un.len(), 2, "{un:?}");
    assert_eq!(un[0].1, vec![tag("woodworking")]);
    assert!(un[1].1.is_empty());
}

#[test]
fn removal_forgets_tags_and_words() {
    let (mut idx, k) = index();
    idx.remove(&k[3]);
    idx.refresh_vocabulary();
    assert!(idx.find(&words("3d-printer"), T0, stranger).is_empty());
    assert!(idx.find(&words("bicycles"), T0, stranger).len() == 1);
    assert_eq!(idx.len(), 3);
    assert!(idx.suggestions("woodwork").is_empty());
}

#[test]
fn reused_ordinals_find_what_a_fresh_index_finds_in_the_order_of_the_explained_scores() {
    let all = [
        "kicad",
        "pcb-design",
        "rust",
        "embedded",
        "3d-printer",
        "3d-printing",
    ];
    let levels = [Level::Beginner, Level::Advanced, Level::Expert];
    let make = |i: u8, round: u8| {
        let id = identity(i);
        let n = (i + round) as usize;
        let skills: Vec<&str> = (0..1 + n % 3)
            .map(|k| all[(n + 2 * k) % all.len()])
            .collect();
        let mut p = profile(
            &id,
            &format!("m{i} r{round}"),
            &skills,
            T0 - u64::from(i) * 3600,
        );
        for (k, s) in p.skills.iter_mut().enumerate() {
            s.level = levels[(n + k) % levels.len()];
        }
        if i.is_multiple_of(4) {
            p.resources = vec![Resource {
                tag: tag("3d-printer"),
                description: "a printer".into(),
                availability: String::new(),
            }];
        }
        (id.public(), p)
    };
    // Churn: everyone in, a third out, some back with new profiles, and newcomers.
    let mut churned = Index::default();
    for i in 1..=30 {
        let (k, p) = make(i, 0);
        churned.insert(k, RecordId([i; 32]), &p);
    }
    for i in (1..=30).step_by(3) {
        churned.remove(&identity(i).public());
    }
    let mut fresh = Index::default();
    for i in 1..=40u8 {
        if i <= 30 && i % 3 == 1 && i.is_multiple_of(2) {
            continue; // removed for good
        }
        let round = u8::from(i % 3 == 1 || i.is_multiple_of(5));
        let (k, p) = make(i, round);
        churned.insert(k, RecordId([i; 32]), &p);
        fresh.insert(k, RecordId([i; 32]), &p);
    }
    churned.refresh_vocabulary();
    fresh.refresh_vocabulary();
    assert_eq!(churned.len(), fresh.len());
    let trust = |who: &PublicKey, s: Option<&SkillTag>| match s {
        None => who.0[0].is_multiple_of(3).then_some(0.4),
        Some(t) => (who.0[1].is_multiple_of(2) && t.as_str() == "kicad").then_some(0.9),
    };
    for w in [
        "kicad",
        "pcb",
        "pcb design",
        "3d-printer",
        "rust embedded",
        "kikad",
        "m1",
    ] {
        for limit in [1, 3, 50] {
            let q = Query {
                words: Some(w.into()),
                limit,
                ..Query::default()
            };
            let a = churned.find(&q, T0, trust);
            assert_eq!(a, fresh.find(&q, T0, trust), "{w} {limit}");
            assert!(!a.is_empty(), "{w}");
            for pair in a.windows(2) {
                let (x, y) = (&pair[0], &pair[1]);
                assert!(
                    x.fit > y.fit || (x.fit == y.fit && x.score >= y.score),
                    "{w}: {x:?} before {y:?}"
                );
            }
        }
    }
}

#[test]
fn eviction_takes_the_oldest_and_spares_the_protected() {
    let mut idx = Index::default();
    let a = identity(1);
    let b = identity(2);
    let c = identity(3);
    idx.insert(
        a.public(),
        RecordId([97; 32]),
        &profile(&a, "a", &["x"], T0 - 10 * 86_400),
    );
    idx.insert(
        b.public(),
        RecordId([98; 32]),
        &profile(&b, "b", &["x"], T0 - 86_400),
    );
    idx.insert(
        c.public(),
        RecordId([99; 32]),
        &profile(&c, "c", &["x"], T0 - 2 * 86_400),
    );
    assert_eq!(idx.eviction_candidates(2, |_| false), vec![a.public()]);
    assert_eq!(
        idx.eviction_candidates(1, |_| false),
        vec![a.public(), c.public()]
    );
    assert_eq!(
        idx.eviction_candidates(2, |k| *k == a.public()),
        vec![c.public()],
        "a protected profile is never evicted"
    );
}

#[test]
fn a_word_held_by_one_member_then_two_then_none_finds_its_holders_only() {
    let ids: Vec<_> = (1..=3).map(identity).collect();
    let mk = |i: usize, bio: &str| {
        let mut p = profile(&ids[i], "someone", &["kicad"], T0);
        p.bio = bio.into();
        p.resources = vec![];
        p
    };
    let found = |idx: &mut Index, q: &Query| -> Vec<PublicKey> {
        idx.refresh_vocabulary();
        let mut v: Vec<_> = idx
            .find(q, T0, stranger)
            .into_iter()
            .map(|m| m.peer)
            .collect();
        v.sort();
        v
    };
    let text = |w: &str| Query {
        text: Some(w.into()),
        limit: 10,
        ..Query::default()
    };
    let key = |i: usize| ids[i].public();
    let mut idx = Index::default();
    idx.insert(key(0), RecordId([1; 32]), &mk(0, "Zither maker"));
    assert_eq!(found(&mut idx, &words("zither")), vec![key(0)]);
    idx.insert(
        key(1),
        RecordId([2; 32]),
        &mk(1, "zither player, zither tuner"),
    );
    let mut both = vec![key(0), key(1)];
    both.sort();
    assert_eq!(found(&mut idx, &words("zither")), both);
    assert_eq!(found(&mut idx, &text("tuner")), vec![key(1)]);
    // Re-indexed without the word: its other holder alone keeps it.
    idx.insert(key(0), RecordId([3; 32]), &mk(0, "lute maker"));
    assert_eq!(found(&mut idx, &words("zither")), vec![key(1)]);
    assert_eq!(found(&mut idx, &text("maker")), vec![key(0)]);
    assert_eq!(found(&mut idx, &text("zither")), vec![key(1)]);
    idx.remove(&key(1));
    assert!(found(&mut idx, &words("zither")).is_empty());
    assert!(!idx.words.contains_key("zither") && !idx.words.contains_key("tuner"));
    idx.insert(key(2), RecordId([4; 32]), &mk(2, "zither"));
    assert_eq!(found(&mut idx, &words("zither")), vec![key(2)]);
    assert_eq!(found(&mut idx, &words("maker")), vec![key(0)]);
}
