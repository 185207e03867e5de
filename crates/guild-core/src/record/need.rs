//! A need: "I am looking for someone who can …", signed and expiring.
//!
//! Version 1 asks for tags. Version 2 is a small project: the same fields, then a [`Project`]
//! (roles with tags and head counts, a due date, where the work happens, what is offered in
//! return). A version 1 need reads as one role of one person with its tags ([`Need::roles`]).

use super::{FieldCheck, RecordBody, RecordError, RecordKind};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::skill::SkillTag;
use crate::time::UnixTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The label a version 1 need's single role gets.
pub const DEFAULT_ROLE_LABEL: &str = "helper";

/// A posted need. Daemons whose owner has a matching skill or resource raise `need.matched`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// Format version: 1 (tags only) or 2 (with a [`Project`]).
    pub version: u16,
    /// The asker.
    pub issuer: PublicKey,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry (default 7 days, at most [`MAX_NEED_LIFETIME`]).
    pub expires_at: UnixTime,
    /// What is needed, in the asker's words.
    pub text: String,
    /// Skills asked for (version 2: every role's skills, each once, in role order).
    pub skills: Vec<SkillTag>,
    /// Resources asked for (version 2: every role's resources, each once, in role order).
    pub resources: Vec<SkillTag>,
    /// Random value so two identical needs posted in the same second have different ids.
    pub nonce: u64,
    /// Version 2 only (and always there): roles, due date, place, what is offered in return.
    pub project: Option<Project>,
}

/// The project part of a version 2 need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// The roles, 1 ..= [`MAX_ROLES`], labels unique.
    pub roles: Vec<Role>,
    /// When the work should be done (distinct from the record's expiry, which ends staffing).
    pub due: Option<UnixTime>,
    /// Where the work happens.
    pub place: Place,
    /// What is offered in return.
    pub reward: Reward,
}

/// One role of a project: "two people for PCB layout".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// A short name, in tag form (`layout`), unique within the need.
    pub label: SkillTag,
    /// Skills the role takes.
    pub skills: Vec<SkillTag>,
    /// Resources the role takes.
    pub resources: Vec<SkillTag>,
    /// How many people, 1 ..= [`MAX_ROLE_COUNT`].
    pub count: u8,
    /// Effort estimate in the asker's words ("2 days"), at most [`MAX_EFFORT_BYTES`].
    pub effort: Option<String>,
    /// A note, at most [`MAX_ROLE_NOTE_BYTES`] (may be empty).
    pub note: String,
}

/// Where the work happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// Anywhere (variant 0).
    Remote,
    /// At a named place (variant 1), 1 ..= [`MAX_PLACE_BYTES`].
    Named(String),
}

/// What kind of return is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// Paid work (0).
    Paid,
    /// An exchange of services or goods (1).
    Exchange,
    /// Volunteering (2).
    Volunteer,
    /// A gift (3).
    Gift,
}

/// What is offered in return: a kind and free text (at most [`MAX_REWARD_BYTES`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reward {
    /// The kind.
    pub kind: RewardKind,
    /// Details ("€40/h", "a meal"), may be empty.
    pub text: String,
}

impl Need {
    /// The roles: a version 2 need's own; a version 1 need is one role ([`DEFAULT_ROLE_LABEL`])
    /// of one person with the need's tags.
    pub fn roles(&self) -> Vec<Role> {
        match &self.project {
            Some(p) => p.roles.clone(),
            None => vec![Role {
                label: SkillTag::new_unchecked(DEFAULT_ROLE_LABEL),
                skills: self.skills.clone(),
                resources: self.resources.clone(),
                count: 1,
                effort: None,
                note: String::new(),
            }],
        }
    }

    /// The union of the roles' tags, each once, in role order: what a version 2 need's `skills`
    /// and `resources` must be.
    pub fn union_of(roles: &[Role]) -> (Vec<SkillTag>, Vec<SkillTag>) {
        let mut skills: Vec<SkillTag> = Vec::new();
        let mut resources: Vec<SkillTag> = Vec::new();
        for r in roles {
            for t in &r.skills {
                if !skills.contains(t) {
                    skills.push(t.clone());
                }
            }
            for t in &r.resources {
                if !resources.contains(t) {
                    resources.push(t.clone());
                }
            }
        }
        (skills, resources)
    }
}

impl RecordBody for Need {
    const DOMAIN: &'static [u8] = b"guild/need/v1\0";
    const KIND: RecordKind = RecordKind::Need;
    const MAX_BYTES: usize = MAX_NEED_BYTES;
    const MAX_LIFETIME: u64 = MAX_NEED_LIFETIME;

    envelope_fields!();
    fn supports_version(v: u16) -> bool {
        v == 1 || v == 2
    }

    fn validate_body(&self, _now: UnixTime) -> Result<(), RecordError> {
        let c = FieldCheck(Self::KIND);
        c.nonempty_text("text", &self.text, MAX_TEXT_BYTES)?;
        c.count("skills", self.skills.len(), MAX_NEED_TAGS)?;
        c.tags("skills", &self.skills)?;
        c.count("resources", self.resources.len(), MAX_NEED_TAGS)?;
        c.tags("resources", &self.resources)?;
        match (self.version, &self.project) {
            (1, None) => c.ensure(
                !self.skills.is_empty() || !self.resources.is_empty(),
                "skills",
                "a need must ask for at least one skill or resource",
            ),
            (1, Some(_)) => Err(c.error("project", "a version 1 need carries no project")),
            (_, None) => Err(c.error("project", "a version 2 need carries a project")),
            (_, Some(p)) => self.validate_project(&c, p),
        }
    }
}

impl Need {
    fn validate_project(&self, c: &FieldCheck, p: &Project) -> Result<(), RecordError> {
        c.ensure(!p.roles.is_empty(), "roles", "a need has at least one role")?;
        c.count("roles", p.roles.len(), MAX_ROLES)?;
        let mut labels = std::collections::BTreeSet::new();
        for r in &p.roles {
            c.tag("roles.label", &r.label)?;
            c.ensure(
                labels.insert(&r.label),
                "roles.label",
                format!("role `{}` appears twice", r.label),
            )?;
            c.count("roles.skills", r.skills.len(), MAX_NEED_TAGS)?;
            c.tags("roles.skills", &r.skills)?;
            c.count("roles.resources", r.resources.len(), MAX_NEED_TAGS)?;
            c.tags("roles.resources", &r.resources)?;
            c.ensure(
                !r.skills.is_empty() || !r.resources.is_empty(),
                "roles.skills",
                format!("role `{}` asks for no skill or resource", r.label),
            )?;
            c.ensure(
                (1..=MAX_ROLE_COUNT).contains(&r.count),
                "roles.count",
                format!(
                    "role `{}` needs {} people; a role needs 1 to {MAX_ROLE_COUNT}",
                    r.label, r.count
                ),
            )?;
            if let Some(e) = &r.effort {
                c.nonempty_text("roles.effort", e, MAX_EFFORT_BYTES)?;
            }
            c.text("roles.note", &r.note, MAX_ROLE_NOTE_BYTES)?;
        }
        let (skills, resources) = Need::union_of(&p.roles);
        c.ensure(
            skills == self.skills,
            "skills",
            "a version 2 need lists every role's skills, each once, in role order",
        )?;
        c.ensure(
            resources == self.resources,
            "resources",
            "a version 2 need lists every role's resources, each once, in role order",
        )?;
        if let Some(due) = p.due {
            c.ensure(
                due > self.issued_at && due - self.issued_at <= MAX_DUE_AHEAD,
                "due",
                "the due date must be after the need is posted and at most two years ahead",
            )?;
        }
        if let Place::Named(name) = &p.place {
            c.nonempty_text("place", name, MAX_PLACE_BYTES)?;
        }
        c.text("reward", &p.reward.text, MAX_REWARD_BYTES)
    }
}

/// The fields as a JSON object (the test vectors, exports): `project` absent in version 1.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Need")]
struct NeedObject {
    version: u16,
    issuer: PublicKey,
    issued_at: UnixTime,
    expires_at: UnixTime,
    text: String,
    skills: Vec<SkillTag>,
    resources: Vec<SkillTag>,
    nonce: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    project: Option<Project>,
}

impl Serialize for Need {
    /// Binary: the version 1 fields in order, then (version 2) the project — so a version 1
    /// need encodes exactly as before and keeps its id.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeTuple};
        if s.is_human_readable() {
            return NeedObject {
                version: self.version,
                issuer: self.issuer,
                issued_at: self.issued_at,
                expires_at: self.expires_at,
                text: self.text.clone(),
                skills: self.skills.clone(),
                resources: self.resources.clone(),
                nonce: self.nonce,
                project: self.project.clone(),
            }
            .serialize(s);
        }
        let with_project = self.version >= 2;
        if with_project != self.project.is_some() {
            return Err(S::Error::custom(
                "a need carries a project exactly when its version is 2",
            ));
        }
        let mut t = s.serialize_tuple(if with_project { 9 } else { 8 })?;
        t.serialize_element(&self.version)?;
        t.serialize_element(&self.issuer)?;
        t.serialize_element(&self.issued_at)?;
        t.serialize_element(&self.expires_at)?;
        t.serialize_element(&self.text)?;
        t.serialize_element(&self.skills)?;
        t.serialize_element(&self.resources)?;
        t.serialize_element(&self.nonce)?;
        if let Some(p) = &self.project {
            t.serialize_element(p)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Need {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Need, D::Error> {
        use serde::de::{Error, SeqAccess, Visitor};
        if d.is_human_readable() {
            let o = NeedObject::deserialize(d)?;
            return Ok(Need {
                version: o.version,
                issuer: o.issuer,
                issued_at: o.issued_at,
                expires_at: o.expires_at,
                text: o.text,
                skills: o.skills,
                resources: o.resources,
                nonce: o.nonce,
                project: o.project,
            });
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Need;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a need (version 1 or 2)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Need, A::Error> {
                let missing = || A::Error::custom("a need ends early");
                let version: u16 = a.next_element()?.ok_or_else(missing)?;
                if !(1..=2).contains(&version) {
                    return Err(A::Error::custom(format!(
                        "need version {version} is not supported (this node reads 1 and 2)"
                    )));
                }
                Ok(Need {
                    version,
                    issuer: a.next_element()?.ok_or_else(missing)?,
                    issued_at: a.next_element()?.ok_or_else(missing)?,
                    expires_at: a.next_element()?.ok_or_else(missing)?,
                    text: a.next_element()?.ok_or_else(missing)?,
                    skills: a.next_element()?.ok_or_else(missing)?,
                    resources: a.next_element()?.ok_or_else(missing)?,
                    nonce: a.next_element()?.ok_or_else(missing)?,
                    project: if version >= 2 {
                        Some(a.next_element()?.ok_or_else(missing)?)
                    } else {
                        None
                    },
                })
            }
        }
        d.deserialize_tuple(9, V)
    }
}
