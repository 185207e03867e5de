//! Editing one's own profile through the socket: the inputs of `profile.set` / `profile.update`
//! and the pure edit they describe, so the node only has to sign and publish the outcome.

use super::call::{ProfileSetParams, ProfileUpdateParams};
use super::wire::CallError;
use crate::keys::PublicKey;
use crate::record::{Level, Profile, Resource, Skill, RECORD_VERSION};
use crate::skill::SkillTag;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

/// The level given to a new skill when none is said.
pub const DEFAULT_LEVEL: Level = Level::Intermediate;

/// A skill as a client gives it: the level may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillInput {
    /// The tag (normalised by the daemon).
    pub tag: SkillTag,
    /// The level, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
}

/// A resource as a client gives it: description and availability may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceInput {
    /// The tag (normalised by the daemon).
    pub tag: SkillTag,
    /// What it is, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When or how it is available, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<String>,
}

/// The editable content of a profile (everything but issuer, times and version).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileDraft {
    /// Display name.
    pub name: String,
    /// Free text about the member.
    pub bio: String,
    /// Skills with levels.
    pub skills: Vec<Skill>,
    /// Resources.
    pub resources: Vec<Resource>,
    /// Links.
    pub links: Vec<String>,
}

impl ProfileDraft {
    /// The content of an existing profile.
    pub fn from_profile(profile: &Profile) -> ProfileDraft {
        ProfileDraft {
            name: profile.name.clone(),
            bio: profile.bio.clone(),
            skills: profile.skills.clone(),
            resources: profile.resources.clone(),
            links: profile.links.clone(),
        }
    }

    /// A profile body with this content, ready to sign (the caller validates the signed record,
    /// which enforces the size limits).
    pub fn into_profile(
        self,
        issuer: PublicKey,
        issued_at: UnixTime,
        expires_at: UnixTime,
    ) -> Profile {
        Profile {
            version: RECORD_VERSION,
            issuer,
            issued_at,
            expires_at,
            name: self.name,
            bio: self.bio,
            skills: self.skills,
            resources: self.resources,
            links: self.links,
        }
    }
}

impl ProfileSetParams {
    /// The profile content these params describe (defaults filled in).
    pub fn into_draft(self) -> ProfileDraft {
        ProfileDraft {
            name: self.name,
            bio: self.bio,
            skills: self
                .skills
                .into_iter()
                .map(|s| Skill {
                    tag: s.tag,
                    level: s.level.unwrap_or(DEFAULT_LEVEL),
                })
                .collect(),
            resources: self
                .resources
                .into_iter()
                .map(|r| Resource {
                    tag: r.tag,
                    description: r.description.unwrap_or_default(),
                    availability: r.availability.unwrap_or_default(),
                })
                .collect(),
            links: self.links,
        }
    }
}

impl ProfileUpdateParams {
    /// Applies the update to `draft`. All or nothing: on error (removing a tag the profile does
    /// not have) `draft` is unchanged.
    pub fn apply(&self, draft: &ProfileDraft) -> Result<ProfileDraft, CallError> {
        let mut next = draft.clone();
        if let Some(name) = &self.name {
            next.name = name.clone();
        }
        if let Some(bio) = &self.bio {
            next.bio = bio.clone();
        }
        if let Some(links) = &self.links {
            next.links = links.clone();
        }
        for tag in &self.remove_skills {
            let before = next.skills.len();
            next.skills.retain(|s| &s.tag != tag);
            if next.skills.len() == before {
                return Err(CallError::not_found(format!(
                    "skill `{tag}` is not in your profile"
                )));
            }
        }
        for tag in &self.remove_resources {
            let before = next.resources.len();
            next.resources.retain(|r| &r.tag != tag);
            if next.resources.len() == before {
                return Err(CallError::not_found(format!(
                    "resource `{tag}` is not in your profile"
                )));
            }
        }
        for input in &self.add_skills {
            match next.skills.iter_mut().find(|s| s.tag == input.tag) {
                Some(skill) => skill.level = input.level.unwrap_or(skill.level),
                None => next.skills.push(Skill {
                    tag: input.tag.clone(),
                    level: input.level.unwrap_or(DEFAULT_LEVEL),
                }),
            }
        }
        for input in &self.add_resources {
            match next.resources.iter_mut().find(|r| r.tag == input.tag) {
                Some(r) => {
                    if let Some(d) = &input.description {
                        r.description = d.clone();
                    }
                    if let Some(a) = &input.availability {
                        r.availability = a.clone();
                    }
                }
                None => next.resources.push(Resource {
                    tag: input.tag.clone(),
                    description: input.description.clone().unwrap_or_default(),
                    availability: input.availability.clone().unwrap_or_default(),
                }),
            }
        }
        Ok(next)
    }
}
