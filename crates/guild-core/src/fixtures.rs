//! Deterministic identities and sample records for tests (feature `test-helpers`).

use crate::keys::Identity;
use crate::record::*;
use crate::skill::SkillTag;
use crate::time::{UnixTime, DAY};

/// A fixed time used by fixtures: 2026-01-01T00:00:00Z.
pub const T0: UnixTime = 1_767_225_600;

/// A deterministic identity from a small seed.
pub fn identity(seed: u8) -> Identity {
    Identity::from_secret([seed; 32])
}

/// A normalised tag (panics on a bad literal: test code only).
pub fn tag(s: &str) -> SkillTag {
    SkillTag::parse(s).unwrap_or_else(|e| panic!("bad test tag {s}: {e}"))
}

/// A profile body for `id` with the given skills at `Level::Advanced`.
pub fn profile(id: &Identity, name: &str, skills: &[&str], at: UnixTime) -> Profile {
    Profile {
        version: RECORD_VERSION,
        issuer: id.public(),
        issued_at: at,
        expires_at: at + 7 * DAY,
        name: name.into(),
        bio: format!("{name} builds things"),
        skills: skills
            .iter()
            .map(|s| Skill {
                tag: tag(s),
                level: Level::Advanced,
            })
            .collect(),
        resources: vec![Resource {
            tag: tag("3d-printer"),
            description: "Prusa MK4".into(),
            availability: "weekends".into(),
        }],
        links: vec!["https://example.org".into()],
    }
}

/// A need body.
pub fn need(id: &Identity, text: &str, skills: &[&str], at: UnixTime) -> Need {
    Need {
        version: RECORD_VERSION,
        issuer: id.public(),
        issued_at: at,
        expires_at: at + 7 * DAY,
        text: text.into(),
        skills: skills.iter().map(|s| tag(s)).collect(),
        resources: vec![],
        nonce: 42,
        project: None,
    }
}

/// A role of `count` people with these skills (a tag starting `res:` is a resource).
pub fn role(label: &str, tags: &[&str], count: u8) -> Role {
    let (res, skills): (Vec<&str>, Vec<&str>) = tags.iter().partition(|t| t.starts_with("res:"));
    Role {
        label: tag(label),
        skills: skills.iter().map(|s| tag(s)).collect(),
        resources: res.iter().map(|s| tag(&s[4..])).collect(),
        count,
        effort: None,
        note: String::new(),
    }
}

/// A version 2 need body: a project with these roles, remote, volunteer work, due in 30 days.
pub fn project_need(id: &Identity, text: &str, roles: Vec<Role>, at: UnixTime) -> Need {
    let (skills, resources) = Need::union_of(&roles);
    Need {
        version: 2,
        issuer: id.public(),
        issued_at: at,
        expires_at: at + 7 * DAY,
        text: text.into(),
        skills,
        resources,
        nonce: 43,
        project: Some(Project {
            roles,
            due: Some(at + 30 * DAY),
            place: Place::Remote,
            reward: Reward {
                kind: RewardKind::Volunteer,
                text: String::new(),
            },
        }),
    }
}

/// A version 2 offer body for role `role` of `need`.
pub fn role_offer(id: &Identity, need: &Signed<Need>, role: u8, at: UnixTime) -> Offer {
    Offer {
        version: 2,
        role,
        ..offer(id, need, at)
    }
}

/// An offer body answering `need` (signed by `need_asker`).
pub fn offer(id: &Identity, need: &Signed<Need>, at: UnixTime) -> Offer {
    Offer {
        version: RECORD_VERSION,
        issuer: id.public(),
        issued_at: at,
        expires_at: at + 7 * DAY,
        need: need.id(),
        asker: need.signer,
        text: "I can do it this week".into(),
        role: 0,
    }
}

/// Signs a body (panics on encode failure: test code only).
pub fn sign<T: RecordBody>(body: T, id: &Identity) -> Signed<T> {
    Signed::sign(body, id).unwrap_or_else(|e| panic!("cannot sign: {e}"))
}

/// A collaboration opened by `asker` accepting `offers` on `need` (named by id).
pub fn collaboration(
    asker: &Identity,
    need: Signed<Need>,
    offers: Vec<Signed<Offer>>,
    at: UnixTime,
) -> Collaboration {
    Collaboration {
        version: RECORD_VERSION,
        issuer: asker.public(),
        issued_at: at,
        expires_at: at + crate::limits::MAX_COLLABORATION_LIFETIME,
        need: need.id(),
        offers: offers
            .iter()
            .map(|o| Accepted {
                offerer: o.signer,
                offer: o.id(),
            })
            .collect(),
    }
}

/// An attestation body.
pub fn attestation(
    issuer: &Identity,
    subject: &Identity,
    collab: RecordId,
    score: i8,
    at: UnixTime,
) -> Attestation {
    Attestation {
        version: RECORD_VERSION,
        issuer: issuer.public(),
        subject: subject.public(),
        skill: tag("kicad"),
        score,
        note: "clean layout, on time".into(),
        collaboration: collab,
        issued_at: at,
        expires_at: at + 180 * DAY,
        seq: 1,
        prev: None,
        salt: [5; 16],
    }
}

/// One valid signed record of every kind, in a fixed order, all valid at [`T0`].
pub fn one_of_each() -> Vec<AnyRecord> {
    let a = identity(1);
    let b = identity(2);
    let p = sign(profile(&a, "Ada", &["rust", "pcb-design"], T0), &a);
    let n = sign(
        need(&a, "review my KiCad layout", &["kicad", "pcb-design"], T0),
        &a,
    );
    let o = sign(offer(&b, &n, T0), &b);
    let c = sign(collaboration(&a, n.clone(), vec![o.clone()], T0), &a);
    let e = sign(
        CollabEntry {
            version: RECORD_VERSION,
            issuer: b.public(),
            collaboration: c.id(),
            issued_at: T0,
            expires_at: T0 + 365 * DAY,
            seq: 1,
            clock: 1,
            entry: EntryKind::Post {
                text: "first pass done".into(),
            },
        },
        &b,
    );
    let att = sign(attestation(&a, &b, c.id(), 4, T0), &a);
    let r = sign(
        Revocation {
            version: RECORD_VERSION,
            issuer: a.public(),
            issued_at: T0,
            expires_at: T0 + 365 * DAY,
            target: att.id(),
            target_kind: RecordKind::Attestation,
            reason: "issued by mistake".into(),
        },
        &a,
    );
    let m = sign(
        Message {
            version: RECORD_VERSION,
            issuer: b.public(),
            to: a.public(),
            issued_at: T0,
            expires_at: T0 + 7 * DAY,
            nonce: 7,
            text: "hello".into(),
        },
        &b,
    );
    vec![
        p.into(),
        n.into(),
        o.into(),
        att.into(),
        r.into(),
        c.into(),
        e.into(),
        m.into(),
    ]
}

/// The version 2 records, valid at [`T0`]: a need with roles (with an effort, a note, a named
/// place and a paid reward), an offer for its second role, the asker's accept of it in a
/// collaboration, and a release.
pub fn project_records() -> Vec<AnyRecord> {
    let a = identity(1);
    let b = identity(2);
    let c = identity(3);
    let mut layout = role("layout", &["kicad", "pcb-design"], 2);
    layout.effort = Some("2 days".into());
    layout.note = "four-layer board".into();
    let mut body = project_need(
        &a,
        "a hardware prototype",
        vec![
            layout,
            role("firmware", &["embedded-rust"], 1),
            role("enclosure", &["res:3d-printer"], 1),
        ],
        T0,
    );
    if let Some(p) = body.project.as_mut() {
        p.place = Place::Named("Lyon".into());
        p.reward = Reward {
            kind: RewardKind::Paid,
            text: "€40/h".into(),
        };
    }
    let n = sign(body, &a);
    let first = sign(role_offer(&c, &n, 0, T0), &c);
    let o = sign(role_offer(&b, &n, 1, T0), &b);
    let collab = sign(collaboration(&a, n.clone(), vec![first], T0), &a);
    let entry = |seq: u64, entry: EntryKind| {
        sign(
            CollabEntry {
                version: entry_version(&entry),
                issuer: a.public(),
                collaboration: collab.id(),
                issued_at: T0,
                expires_at: T0 + 365 * DAY,
                seq,
                clock: seq,
                entry,
            },
            &a,
        )
    };
    let accept = entry(
        1,
        EntryKind::Accept {
            offerer: b.public(),
            offer: o.id(),
        },
    );
    let release = entry(2, EntryKind::Release { offer: o.id() });
    vec![n.into(), o.into(), accept.into(), release.into()]
}
