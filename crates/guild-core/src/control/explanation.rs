//! The trust explanation (`trust`'s `explanation`): why this node trusts a member as much as it
//! does, in the trust engine's terms (see `TRUST.md` and `guild_trust::Explanation`, which the
//! service converts into these types).
//!
//! One definition for every reader: the `guild trust` command and the dashboard's trust page both
//! render from [`TrustExplanation`], and say what it means with the sentences below, so the two
//! cannot drift apart again (they had: the page left out the inherited part of the connectivity
//! penalty and neither said when a bridge set capped the score).

use crate::keys::PublicKey;
use serde::{Deserialize, Serialize};

/// `trust`'s explanation as it came: the shape this build knows, or, from a newer daemon that
/// explains differently, the JSON as it came (shown as is rather than refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Explanation {
    /// The explanation this build reads.
    Known(Box<TrustExplanation>),
    /// A shape this build does not know (a newer daemon): kept for display.
    Unreadable(serde_json::Value),
}

impl Explanation {
    /// The explanation, when this build can read it.
    pub fn known(&self) -> Option<&TrustExplanation> {
        match self {
            Explanation::Known(e) => Some(e),
            Explanation::Unreadable(_) => None,
        }
    }
}

impl From<TrustExplanation> for Explanation {
    fn from(e: TrustExplanation) -> Explanation {
        Explanation::Known(Box::new(e))
    }
}

/// The decomposition of one trust score. Every field is always written (`null` included), so
/// the JSON is the trust engine's explanation field for field; lists and the later connectivity
/// fields default when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustExplanation {
    /// Whose point of view (this node).
    pub ego: PublicKey,
    /// Who is explained.
    pub target: PublicKey,
    /// The skill the score is restricted to, if any.
    pub skill: Option<String>,
    /// The final score: `walk_trust × connectivity.factor − negative_total`.
    pub score: f64,
    /// Before penalties: the share of walks reaching the target (general trust), or the expected
    /// skill last-hop flow.
    pub walk_trust: f64,
    /// Random walks the estimate rests on.
    pub walks: u32,
    /// The connectivity-decay penalty.
    pub connectivity: Connectivity,
    /// Sum of the negative penalties.
    pub negative_total: f64,
    /// The strongest supporting paths, best first.
    #[serde(default)]
    pub paths: Vec<TrustPath>,
    /// Positive attestations into the target, strongest first.
    #[serde(default)]
    pub direct: Vec<Contributor>,
    /// Negative attestations into the target with the penalty each applied, largest first.
    #[serde(default)]
    pub negative: Vec<Contributor>,
}

/// The connectivity-decay part of an explanation: `factor` is the product of the target's own
/// decay (how much of its walks one bridge carries), `inherited_factor` and `bridge_set_factor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connectivity {
    /// The member most of the target's walks passed through first, if any.
    pub bridge: Option<PublicKey>,
    /// Share of the target's walks that passed through `bridge`.
    pub bridge_share: f64,
    /// Multiplier applied to the walk trust (1 = no penalty), every part included.
    pub factor: f64,
    /// Part of `factor` inherited from the members the target's walks passed (the relay
    /// discount; the bridge's own factor when bridge sets are off). 1 = none.
    #[serde(default = "one")]
    pub inherited_factor: f64,
    /// Score removed by the penalty.
    pub penalty: f64,
    /// The nearest small set of members that together carry most of the target's walks (the
    /// colluders, for a Sybil region), strongest first; empty if there is none.
    #[serde(default)]
    pub bridge_set: Vec<SetBridge>,
    /// Part of `factor` due to the bridge set's capacity caps (1 = not capped).
    #[serde(default = "one")]
    pub bridge_set_factor: f64,
    /// Set when `bridge_set` carries enough of the target's walks only without the walks routed
    /// to it through a region (for a colluder: its partners' Sybils): how many were left out;
    /// `bridge_set` shares are then of the other walks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_set_ignored_walks: Option<u32>,
    /// Set when `bridge_set` is a near miss's partial set: how much the target hangs off it,
    /// from 0 (at one half of its walks) to 1 (at the set threshold); the cap is the members'
    /// cap raised to this power.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_set_weight: Option<f64>,
}

fn one() -> f64 {
    1.0
}

/// One member of a target's bridge set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetBridge {
    /// The member.
    pub node: PublicKey,
    /// Share of the target's walks it carries.
    pub share: f64,
    /// Scale its capacity applied to every member hanging off it (1 = within capacity).
    pub scale: f64,
}

/// One aggregated path from this node to the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustPath {
    /// This node first, the target last.
    pub nodes: Vec<PublicKey>,
    /// Share of the walks that followed it (for skills: the expected flow along it).
    #[serde(default)]
    pub share: f64,
    /// Its part of the score after connectivity decay.
    #[serde(default)]
    pub contribution: f64,
}

/// One attestation (or trust root) into the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contributor {
    /// Who issued it.
    pub issuer: PublicKey,
    /// Its skill tag; empty for a general trust root of this node.
    #[serde(default)]
    pub skill: String,
    /// Its raw score.
    #[serde(default)]
    pub score: i32,
    /// When it was issued (Unix seconds).
    #[serde(default)]
    pub issued_at: u64,
    /// Normalised strength, decayed with age, in `-1..=1`.
    #[serde(default)]
    pub weight: f64,
    /// This node's trust in the issuer (1 for itself).
    #[serde(default)]
    pub issuer_trust: f64,
    /// The walk flow it carried, or the penalty it applied (negative attestations).
    #[serde(default)]
    pub contribution: f64,
}

impl Contributor {
    /// Its skill for people: a general trust root has none.
    pub fn skill_label(&self) -> &str {
        if self.skill.is_empty() {
            "(all skills)"
        } else {
            &self.skill
        }
    }
}

/// What the CLI and the dashboard both say about an explanation. `label` names a member for
/// people ("me", a name, a short id).
impl TrustExplanation {
    /// Whether anything supports the score (a path, or an attestation either way).
    pub fn has_evidence(&self) -> bool {
        !(self.paths.is_empty() && self.direct.is_empty() && self.negative.is_empty())
    }

    /// The walk trust row: `0.412 (10000 walks)`.
    pub fn walk_text(&self) -> String {
        format!("{} ({} walks)", num(self.walk_trust), self.walks)
    }

    /// The negative row: `none` or `−0.05`.
    pub fn negative_text(&self) -> String {
        if self.negative_total == 0.0 {
            "none".into()
        } else {
            format!("−{}", num(self.negative_total.abs()))
        }
    }

    /// The connectivity row: the penalty and each of its parts — the bridge and its share, what
    /// was inherited from the members the walks passed, and a bridge set over its capacity.
    pub fn connectivity_text(&self, label: &dyn Fn(&PublicKey) -> String) -> String {
        let c = &self.connectivity;
        let bridge = c.bridge.as_ref().map(label);
        let mut s = if c.factor < 1.0 {
            format!("−{} (×{})", num(c.penalty), num(c.factor))
        } else {
            "no penalty (×1)".to_string()
        };
        let mut parts = Vec::new();
        if let Some(b) = &bridge {
            parts.push(if c.factor < 1.0 {
                format!(
                    "{} of the walks pass through the bridge {b}",
                    percent(c.bridge_share)
                )
            } else {
                format!(
                    "the bridge {b} carries {} of the walks",
                    percent(c.bridge_share)
                )
            });
        }
        if c.inherited_factor < 1.0 {
            parts.push(format!(
                "×{} of it inherited from the members its walks passed",
                num(c.inherited_factor)
            ));
        }
        if c.bridge_set_factor < 1.0 {
            // The members whose capacity capped the target: those that scaled it down.
            let over: Vec<&SetBridge> = c.bridge_set.iter().filter(|b| b.scale < 1.0).collect();
            let text = if over.is_empty() {
                "its bridge set is over its capacity".to_string()
            } else {
                let who: Vec<String> = over.iter().map(|b| label(&b.node)).collect();
                let share: f64 = over.iter().map(|b| b.share).sum();
                let verb = if who.len() == 1 { "carries" } else { "carry" };
                format!(
                    "{} {verb} {} of its walks, more than their capacity allows",
                    who.join(", "),
                    percent(share)
                )
            };
            let mut why = Vec::new();
            if let Some(w) = c.bridge_set_weight {
                why.push(format!(
                    "they carry only part of its walks, so it hangs off them by {}",
                    percent(w)
                ));
            }
            if let Some(n) = c.bridge_set_ignored_walks {
                why.push(format!(
                    "{n} walk{} routed to it through their region not counted",
                    if n == 1 { "" } else { "s" }
                ));
            }
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            };
            parts.push(format!(
                "×{} of it capped: {text}{why}",
                num(c.bridge_set_factor)
            ));
        }
        if !parts.is_empty() {
            s.push_str(if c.factor < 1.0 { ": " } else { "; " });
            s.push_str(&parts.join(", "));
        }
        s
    }
}

/// The heading: `Your trust in Bea for kicad`; `whom` is `None` for this node itself.
pub fn trust_title(whom: Option<&str>, skill: Option<&str>) -> String {
    let whom = whom.unwrap_or("yourself");
    match skill {
        Some(skill) => format!("Your trust in {whom} for {skill}"),
        None => format!("Your trust in {whom}"),
    }
}

/// The find factor, with its scale.
pub fn factor_text(factor: f64) -> String {
    format!("{} (0.5 = neutral, 1 = your most trusted)", num(factor))
}

/// Said when the member explained is this node itself.
pub const OWN_POINT_OF_VIEW: &str =
    "Trust is computed from your own point of view: every path starts with you.";

/// Said when nothing supports the score, with the rule that decides which attestations count
/// (`TRUST.md`, "Collaboration integrity").
pub fn nothing_supports(whom: &str) -> String {
    format!(
        "Nothing supports this score yet: no counted attestation connects you to {whom}. \
         Attestations count once their collaboration is known here and both sides closed their part."
    )
}

/// A number for people: three significant digits, no exponent for the usual range
/// (`0.412`, `12.3`, `0.5`, `1`).
pub fn num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x.is_finite() {
            "0".into()
        } else {
            x.to_string()
        };
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    let text = format!("{x:.decimals$}");
    // 0.500 → 0.5, 1.00 → 1
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A share as a whole percentage: `25%`.
pub fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}
