//! Floods from strangers, in the simulator: a hostile member relays needs, profiles and
//! revocations signed by hundreds of fresh keys, junk gossip, and direct requests that try to
//! fill the victim's disk or make it work. Honest members form a circle of trust roots, as a
//! community bootstraps. Every assertion reads service state, events or replies:
//!
//! - an honest need reaches its matches within twice its unloaded time;
//! - each victim stores at most its strangers' quotas, and no honest record is lost or evicted;
//! - the flooding peer is penalised (disconnected by the victim of its direct junk);
//! - fake profiles claiming a skill never rank above the honest members who have it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use guild_core::control::pull::*;
use guild_core::control::reputation::*;
use guild_core::control::{Event, ProfileDraft, ServiceCall};
use guild_core::record::RECORD_VERSION;
use guild_core::wire::{DirectRequest, Fingerprint, SyncKey};
use guild_core::{
    AnyRecord, Identity, Level, Message, Need, Profile, RecordId, RecordKind, Signed, Skill,
    SkillTag,
};
use guild_service::admission::{self, Tier};
use guild_service::index::Query;
use guild_service::Storage;
use guild_service::Topic;
use guild_sim::{hostile, NodeId, Sim, SimConfig};

const HONEST: usize = 12;
const HOSTILE: NodeId = HONEST;
const SYBILS: u32 = 300;
const VICTIM: NodeId = 0;
const ASKER: NodeId = 1;

fn tag(s: &str) -> SkillTag {
    SkillTag::parse(s).unwrap()
}

fn skills_of(i: NodeId) -> Vec<&'static str> {
    if i < HONEST && i.is_multiple_of(3) {
        vec!["kicad"]
    } else {
        vec!["baking"]
    }
}

fn draft(name: &str, skills: &[&str]) -> ProfileDraft {
    ProfileDraft {
        name: name.into(),
        bio: String::new(),
        skills: skills
            .iter()
            .map(|s| Skill {
                tag: tag(s),
                level: Level::Intermediate,
            })
            .collect(),
        resources: vec![],
        links: vec![],
    }
}

fn sybil(i: u32) -> Identity {
    let mut secret = [0x5Bu8; 32];
    secret[..4].copy_from_slice(&i.to_le_bytes());
    Identity::from_secret(secret)
}

/// Twelve honest members who took each other as trust roots, and one hostile member.
fn community(seed: u64) -> Sim {
    let mut sim = Sim::new(SimConfig::new(seed), HONEST + 1);
    for i in 0..=HONEST {
        sim.set_profile(i, draft(&format!("member {i}"), &skills_of(i)));
    }
    let deadline = sim.now() + 5 * 60_000;
    assert!(sim.run_until_true(deadline, 500, |s| s.converged()));
    for i in 0..HONEST {
        for j in 0..HONEST {
            if i != j {
                let peer = sim.key(j);
                let _: TrustRoots = sim
                    .call_now(
                        i,
                        ServiceCall::TrustAdd(TrustAddParams {
                            peer,
                            skill: None,
                            note: "met at the makerspace".into(),
                        }),
                    )
                    .unwrap();
            }
        }
    }
    sim.run_for(11_000); // standing follows trust within STANDING_REFRESH_SECS
    sim
}

/// The flood, as batches of what the hostile member sends.
fn flood_batches(sim: &Sim) -> Vec<Vec<(Option<Topic>, Vec<u8>)>> {
    let t = sim.now() / 1000;
    let victim = sim.key(VICTIM);
    let hostile = sim.identity(HOSTILE);
    let mut all: Vec<(Option<Topic>, Vec<u8>)> = Vec::new();
    for s in 0..SYBILS {
        let id = sybil(s);
        // Needs that match the honest kicad members: more than a stranger's daily budget.
        for k in 0..6u64 {
            let need = Need {
                version: RECORD_VERSION,
                issuer: id.public(),
                issued_at: t,
                expires_at: t + 7 * 86_400,
                nonce: k,
                project: None,
                text: format!("urgent kicad help {s}/{k}"),
                skills: vec![tag("kicad")],
                resources: vec![],
            };
            let r = AnyRecord::Need(Signed::sign(need, &id).unwrap());
            all.push((Some(Topic::Needs), r.encode().unwrap()));
        }
        // A profile claiming the skill, as expert.
        let p = Profile {
            version: RECORD_VERSION,
            issuer: id.public(),
            issued_at: t,
            expires_at: t + 7 * 86_400,
            name: format!("kicad pro {s}"),
            bio: "best kicad".into(),
            skills: vec![Skill {
                tag: tag("kicad"),
                level: Level::Expert,
            }],
            resources: vec![],
            links: vec![],
        };
        all.push((
            Some(Topic::Profiles),
            Signed::sign(p, &id).unwrap().encode().unwrap(),
        ));
        // Revocations of records nobody holds.
        all.push((
            Some(Topic::Needs),
            hostile::revocation(&id, RecordId([s as u8; 32]), RecordKind::Need, t),
        ));
    }
    // Junk gossip.
    for k in 0..20 {
        all.push((Some(Topic::Needs), hostile::junk(k, 300)));
    }
    // Direct: messages to the victim (far past the hourly budget and the stored quota),
    // amplification attempts, and junk that earns strikes.
    for k in 0..60u64 {
        let m = Message {
            version: RECORD_VERSION,
            issuer: hostile.public(),
            to: victim,
            issued_at: t,
            expires_at: t + 86_400,
            nonce: k,
            text: "x".repeat(3_000),
        };
        let req = DirectRequest::Deliver(Box::new(AnyRecord::Message(
            Signed::sign(m, hostile).unwrap(),
        )));
        all.push((None, guild_core::codec::encode(&req).unwrap()));
    }
    let whole = Fingerprint {
        lo: SyncKey::MIN,
        hi: SyncKey::MAX,
        count: 1,
        xor: [9; 32],
    };
    for _ in 0..5 {
        let req = DirectRequest::Sync {
            kind: RecordKind::Need,
            ranges: vec![whole; 256],
        };
        all.push((None, guild_core::codec::encode(&req).unwrap()));
        let req = DirectRequest::Fetch {
            ids: vec![RecordId([1; 32]); 256],
        };
        all.push((None, guild_core::codec::encode(&req).unwrap()));
    }
    for k in 0..12 {
        all.push((None, hostile::junk(k, 64)));
    }
    // Interleave: ten batches.
    let mut batches = vec![Vec::new(); 10];
    for (k, item) in all.into_iter().enumerate() {
        batches[k % 10].push(item);
    }
    batches
}

fn send(sim: &mut Sim, batch: Vec<(Option<Topic>, Vec<u8>)>) {
    let victim = sim.key(VICTIM);
    for (topic, data) in batch {
        match topic {
            Some(topic) => {
                sim.inject_gossip(HOSTILE, topic, data);
            }
            None => {
                let req: DirectRequest = match guild_core::codec::decode(&data, 1 << 20) {
                    Ok(r) => r,
                    Err(_) => {
                        sim.inject_raw_request(HOSTILE, victim, data);
                        continue;
                    }
                };
                sim.inject_request(HOSTILE, victim, &req);
            }
        }
    }
}

fn matched(sim: &Sim, i: NodeId, need: RecordId) -> bool {
    sim.events(i)
        .iter()
        .any(|e| matches!(e, Event::NeedMatched { need: n, .. } if *n == need))
}

/// Asks for kicad from `ASKER` and runs (flooding, if given) until every honest kicad member
/// was alerted. Returns the need and the time it took, milliseconds.
fn honest_need(sim: &mut Sim, mut flood: Vec<Vec<(Option<Topic>, Vec<u8>)>>) -> (RecordId, u64) {
    // Half the flood lands before the need, the rest while it spreads.
    let later = flood.split_off(flood.len() / 2);
    for batch in flood {
        send(sim, batch);
        sim.run_for(100);
    }
    let asked: Asked = sim
        .call_now(
            ASKER,
            ServiceCall::Ask(AskParams {
                text: "a kicad review".into(),
                skills: vec![tag("kicad")],
                resources: vec![],
                expires_secs: None,
                ..Default::default()
            }),
        )
        .unwrap();
    let need = asked.need.id;
    let t0 = sim.now();
    let mut later = later.into_iter();
    let matches: Vec<NodeId> = (0..HONEST)
        .filter(|&i| i != ASKER && skills_of(i) == vec!["kicad"])
        .collect();
    let deadline = t0 + 10 * 60_000;
    while !matches.iter().all(|&i| matched(sim, i, need)) {
        assert!(sim.now() < deadline, "the honest need never arrived");
        if let Some(batch) = later.next() {
            send(sim, batch);
        }
        sim.run_for(10);
    }
    let took = sim.now() - t0;
    for batch in later {
        send(sim, batch);
    }
    (need, took)
}

#[test]
fn an_honest_need_crosses_a_strangers_flood_and_nothing_honest_is_lost() {
    let seed = 41;
    let mut quiet = community(seed);
    let (_, unloaded) = honest_need(&mut quiet, vec![]);

    let mut sim = community(seed);
    let batches = flood_batches(&sim);
    let (need, loaded) = honest_need(&mut sim, batches);
    sim.run_for(30_000);
    eprintln!("honest need → all matches: {unloaded} ms unloaded, {loaded} ms during the flood");
    assert!(
        loaded <= 2 * unloaded.max(50),
        "{loaded} ms during the flood against {unloaded} ms without"
    );

    for i in 0..HONEST {
        let svc = sim.service(i);
        // Bounded by the strangers' quotas.
        for kind in [RecordKind::Need, RecordKind::Message] {
            let pool = svc.stranger_usage(kind);
            let cap = admission::stranger_pool(kind).unwrap();
            assert!(
                pool.count <= cap.count && pool.bytes <= cap.bytes,
                "{i}: {kind:?} {pool:?}"
            );
        }
        for s in 0..SYBILS {
            let used = svc.usage_of(&sybil(s).public(), RecordKind::Need);
            assert!(
                used.count <= admission::NEEDS_PER_DAY.stranger,
                "{i}: {used:?}"
            );
        }
        // One revocation per sybil waits (none was stored or forwarded on).
        assert!(svc.pending_revocations() <= SYBILS as usize, "{i}");
        // No honest record lost or evicted.
        assert!(
            svc.store().has_record(&need).unwrap(),
            "{i} holds the honest need"
        );
        for j in 0..=HONEST {
            if j != i {
                assert!(svc.knows(&sim.key(j)), "{i} still knows {j}");
            }
        }
    }
    // The victim of the direct flood stored at most a stranger's message quota, and sent the
    // flooding peer away.
    let hostile_key = sim.key(HOSTILE);
    let msgs = sim
        .service(VICTIM)
        .usage_of(&hostile_key, RecordKind::Message);
    let quota = admission::MESSAGE_QUOTA.of(Tier::Stranger);
    assert!(
        msgs.count <= quota.count && msgs.bytes <= quota.bytes,
        "{msgs:?}"
    );
    assert!(
        sim.penalised(VICTIM).contains(&hostile_key),
        "the flooding peer was disconnected"
    );
    assert!(sim.gossip_stats().rejected > 0, "junk gossip was rejected");
    // Strangers' needs raised few alerts; the honest one raised its own.
    let alerts = sim.event_count(3, "need.matched");
    assert!(
        alerts <= u64::from(admission::STRANGER_MATCHED_PER_HOUR) + 2,
        "{alerts} alerts at a kicad member"
    );
    // A hundred fake experts never outrank the honest kicad members.
    let q = Query {
        words: Some("kicad".into()),
        limit: 5,
        ..Query::default()
    };
    let (top, _) = sim.with_service(ASKER, |s, now| s.find(&q, now));
    let honest: Vec<_> = [0, 3, 6, 9].iter().map(|&i| sim.key(i)).collect();
    for m in top.iter().take(4) {
        assert!(honest.contains(&m.peer), "{} ranks in the top 4", m.name);
    }
}
