//! Params and results of reflection: the community's pulse and a member's growth.
//!
//! **Privacy rule** (the same in the CLI, the dashboard and JSON). Only public records count
//! (profiles, needs, attestations, and the collaboration records that travel as proofs of
//! attestations), plus the offers this node already holds; nothing new is published.
//!
//! 1. *Small counts*: a count from 1 to 4 ([`MIN_SHOWN`] − 1) is never shown. In JSON it is the
//!    string `"< 5"` instead of a number (a [`Figure`]); 0 is shown, it describes nobody. A rate or
//!    median computed from fewer than 5 needs is `null`.
//! 2. *No recovery by subtraction*: wherever the reply shows a whole and its parts (the weeks of a
//!    series and the period's total; each tag's asks and all asks), if exactly one part is hidden,
//!    the next smallest part is hidden too (secondary suppression, as statistics offices do for
//!    tables), so that the whole minus the others is never one hidden figure. A part of a whole
//!    (active members of members seen) is hidden when the rest (whole − part) would be 1–4.
//! 3. *Whole weeks*: periods are whole weeks (Monday 00:00 UTC), so two replies with different
//!    `since` differ by at least a week. Figures of one week can still be obtained by comparing two
//!    replies — they are then the same figures the weekly series shows, with the same rule.

use super::call::Params;
use crate::keys::PublicKey;
use crate::record::Level;
use crate::skill::SkillTag;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize, Serializer};

/// Smallest count shown: smaller non-zero counts are reported as `"< 5"`.
pub const MIN_SHOWN: u64 = 5;
/// Seconds in a week, the unit of every period.
pub const WEEK_SECS: u64 = 7 * 86_400;
/// Default period of `pulse`: 30 days (5 whole weeks).
pub const DEFAULT_PULSE_SECS: u64 = 30 * 86_400;
/// Longest period of `pulse`: 52 weeks (the previous period is as long again).
pub const MAX_PULSE_WEEKS: u64 = 52;
/// Most tags listed in a pulse (the scarcest first); the lacks list has its own cap.
pub const MAX_PULSE_TAGS: usize = 200;
/// Most tags in the lacks list.
pub const MAX_LACKS: usize = 100;

/// The week a time falls in: weeks start on Monday 00:00 UTC (the Unix epoch was a Thursday).
pub const fn week_of(t: UnixTime) -> u64 {
    (t + 3 * 86_400) / WEEK_SECS
}

/// The start of a week (Monday 00:00 UTC), as Unix seconds.
pub const fn week_start(week: u64) -> UnixTime {
    (week * WEEK_SECS).saturating_sub(3 * 86_400)
}

/// A count as shown: the number, or hidden because it is from 1 to 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Figure {
    /// The count (0, or at least [`MIN_SHOWN`]).
    Shown(u64),
    /// Hidden: `"< 5"` in JSON.
    Suppressed(Suppressed),
}

/// The JSON of a hidden count: the string `"< 5"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Suppressed;

impl TryFrom<String> for Suppressed {
    type Error = String;
    fn try_from(s: String) -> Result<Suppressed, String> {
        if s == "< 5" {
            Ok(Suppressed)
        } else {
            Err(format!("a hidden count is \"< 5\", not {s:?}"))
        }
    }
}

impl Serialize for Suppressed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("< 5")
    }
}

impl Serialize for Figure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Figure::Shown(n) => s.serialize_u64(*n),
            Figure::Suppressed(x) => x.serialize(s),
        }
    }
}

impl Figure {
    /// A count under rule 1: 1–4 hidden.
    pub fn of(n: u64) -> Figure {
        if n == 0 || n >= MIN_SHOWN {
            Figure::Shown(n)
        } else {
            Figure::Suppressed(Suppressed)
        }
    }

    /// The number, if shown.
    pub fn shown(&self) -> Option<u64> {
        match self {
            Figure::Shown(n) => Some(*n),
            Figure::Suppressed(_) => None,
        }
    }

    /// Hidden.
    pub fn hide(&mut self) {
        *self = Figure::Suppressed(Suppressed);
    }
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Figure::Shown(n) => write!(f, "{n}"),
            Figure::Suppressed(_) => f.write_str("< 5"),
        }
    }
}

/// Rule 2 over a group of parts whose sum is shown elsewhere: if exactly one non-zero part is
/// hidden, the smallest shown non-zero part is hidden too. `raw` are the true counts, `shown`
/// the figures (already under rule 1), in the same order.
pub fn protect_parts(raw: &[u64], shown: &mut [Figure]) {
    let hidden = shown.iter().filter(|f| f.shown().is_none()).count();
    if hidden != 1 {
        return;
    }
    let next = raw
        .iter()
        .zip(shown.iter())
        .enumerate()
        .filter(|(_, (r, f))| **r > 0 && f.shown().is_some())
        .min_by_key(|(i, (r, _))| (**r, *i))
        .map(|(i, _)| i);
    if let Some(i) = next {
        shown[i].hide();
    }
}

/// Params of `pulse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PulseParams {
    /// Length of the period, seconds (default 30 days), rounded up to whole weeks (at most 52);
    /// the period ends with the current week.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_secs: Option<u64>,
}

impl PulseParams {
    /// Number of whole weeks of the period.
    pub fn weeks(&self) -> u64 {
        let secs = self.since_secs.unwrap_or(DEFAULT_PULSE_SECS);
        secs.div_ceil(WEEK_SECS).clamp(1, MAX_PULSE_WEEKS)
    }
}

impl Params for PulseParams {
    fn normalise(&mut self) -> Result<(), String> {
        match self.since_secs {
            Some(0) => Err("`since_secs` must be positive".into()),
            Some(s) if s > MAX_PULSE_WEEKS * WEEK_SECS => Err(format!(
                "`since_secs` {s} exceeds {MAX_PULSE_WEEKS} weeks ({})",
                MAX_PULSE_WEEKS * WEEK_SECS
            )),
            _ => Ok(()),
        }
    }
}

/// Whether a tag is a skill or a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagKind {
    /// A skill (`rust`, `pcb-design`).
    Skill,
    /// A resource (`3d-printer`, `gpu-hours`).
    Resource,
}

/// The pulse of one tag over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagPulse {
    /// The tag.
    pub tag: SkillTag,
    /// Skill or resource.
    pub kind: TagKind,
    /// Needs posted in the period asking for it.
    pub asks: Figure,
    /// The same in the previous period (as long, just before).
    pub asks_previous: Figure,
    /// Members whose profile (held now) declares it.
    pub members: Figure,
    /// Offers this node holds on those needs.
    pub offers: Figure,
    /// Those needs accepted (a collaboration opened).
    pub accepted: Figure,
    /// Those needs that expired with no offer or collaboration known here.
    pub expired_unanswered: Figure,
    /// `expired_unanswered / asks` among needs of the period that have expired; `null` under 5.
    pub expired_share: Option<f64>,
    /// Median time from a need to its first offer, seconds (the lower edge of a histogram bin:
    /// bins grow by √2 from one minute); `null` when fewer than 5 needs had an offer.
    pub median_first_offer_secs: Option<u64>,
    /// Asks per member who has it (`asks / members`); `null` when either is hidden or members
    /// is 0 (then the tag is in `lacks`).
    pub scarcity: Option<f64>,
}

/// A tag needs asked for and no member (with a profile held here) declares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lack {
    /// The tag.
    pub tag: SkillTag,
    /// Skill or resource.
    pub kind: TagKind,
    /// Needs in the period asking for it.
    pub asks: Figure,
}

/// One week of the community.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeekPulse {
    /// Monday 00:00 UTC of the week.
    pub start: UnixTime,
    /// Needs posted that week.
    pub needs: Figure,
    /// Offers held on those needs.
    pub offers: Figure,
    /// Members seen by the end of the week (whose first record held was issued by then).
    pub members_seen: Figure,
    /// Members who issued a public record that week.
    pub members_active: Figure,
}

/// Totals over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PulseTotals {
    /// Needs posted.
    pub needs: Figure,
    /// Needs posted in the previous period.
    pub needs_previous: Figure,
    /// Offers held on them.
    pub offers: Figure,
    /// Of them, accepted.
    pub accepted: Figure,
    /// Of them, expired unanswered.
    pub expired_unanswered: Figure,
    /// Members seen by the end of the period.
    pub members_seen: Figure,
    /// Members active in the period.
    pub members_active: Figure,
    /// Members active in the previous period.
    pub members_active_previous: Figure,
}

/// Needs held now: the figures the Prometheus gauges show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedGauges {
    /// Held, not expired, not accepted.
    pub open: u64,
    /// Held and accepted.
    pub accepted: u64,
    /// Expired unanswered since this node started.
    pub expired_unanswered: u64,
}

/// Result of `pulse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pulse {
    /// Start of the period (Monday 00:00 UTC).
    pub from: UnixTime,
    /// End of the period (now).
    pub until: UnixTime,
    /// Whole weeks in the period.
    pub weeks: u64,
    /// Tags asked for or declared, scarcest first (at most [`MAX_PULSE_TAGS`]).
    pub tags: Vec<TagPulse>,
    /// Tags asked for that no member declares, most asked first.
    pub lacks: Vec<Lack>,
    /// The period week by week, oldest first.
    pub series: Vec<WeekPulse>,
    /// Totals.
    pub totals: PulseTotals,
    /// Needs held now (not suppressed: a node's own gauges, the same as `/metrics`).
    pub needs_now: NeedGauges,
}

/// Params of `growth`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrowthParams {
    /// Whose growth: absent means this node's owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<PublicKey>,
}
impl Params for GrowthParams {}

/// Counted attestations about a member for one skill in one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillMonth {
    /// The skill.
    pub skill: SkillTag,
    /// First day of the month, `YYYY-MM`.
    pub month: String,
    /// Counted attestations issued that month with a positive score.
    pub positive: u32,
    /// Counted attestations issued that month with a negative score.
    pub negative: u32,
}

/// A version of a member's declared skills, as this node received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelVersion {
    /// When the profile was issued.
    pub at: UnixTime,
    /// Skills and levels declared in it.
    pub skills: Vec<(SkillTag, Level)>,
}

/// Collaborations of a member opened in one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollabMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Collaborations opened.
    pub count: u32,
}

/// Someone the member worked with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoWorker {
    /// The member.
    pub peer: PublicKey,
    /// Their display name, when their profile is held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Collaborations together.
    pub collaborations: u32,
}

/// Result of `growth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Growth {
    /// The member.
    pub peer: PublicKey,
    /// Their display name, when their profile is held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Counted attestations per skill and month, by month then skill.
    pub attestations: Vec<SkillMonth>,
    /// Declared skill versions, oldest first (at most [`MAX_LEVEL_VERSIONS`]; the node keeps only
    /// the latest profile, so this is what it saw arrive).
    pub levels: Vec<LevelVersion>,
    /// Collaborations held here, per month, oldest first.
    pub collaborations: Vec<CollabMonth>,
    /// Co-workers, most collaborations first.
    pub worked_with: Vec<CoWorker>,
}

/// Most profile versions kept per member for `growth`.
pub const MAX_LEVEL_VERSIONS: usize = 32;

/// Year, month and day of a Unix time (UTC), by Howard Hinnant's civil-from-days.
pub fn civil(t: UnixTime) -> (i64, u32, u32) {
    let days = (t / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM` of a Unix time (UTC).
pub fn month_of(t: UnixTime) -> String {
    let (y, m, _) = civil(t);
    format!("{y:04}-{m:02}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_hidden_as_less_than_five_in_json() {
        assert_eq!(serde_json::to_string(&Figure::of(0)).unwrap(), "0");
        assert_eq!(serde_json::to_string(&Figure::of(3)).unwrap(), "\"< 5\"");
        assert_eq!(serde_json::to_string(&Figure::of(5)).unwrap(), "5");
        let back: Figure = serde_json::from_str("\"< 5\"").unwrap();
        assert_eq!(back, Figure::of(1));
        assert!(serde_json::from_str::<Figure>("\"7\"").is_err());
    }

    #[test]
    fn one_hidden_part_hides_the_next_smallest() {
        let raw = [3, 9, 6, 0, 12];
        let mut f: Vec<Figure> = raw.iter().map(|n| Figure::of(*n)).collect();
        protect_parts(&raw, &mut f);
        let shown: Vec<Option<u64>> = f.iter().map(Figure::shown).collect();
        assert_eq!(shown, vec![None, Some(9), None, Some(0), Some(12)]);
        // Two hidden already: nothing more.
        let raw = [3, 2, 9];
        let mut f: Vec<Figure> = raw.iter().map(|n| Figure::of(*n)).collect();
        protect_parts(&raw, &mut f);
        assert_eq!(f[2], Figure::Shown(9));
    }

    #[test]
    fn weeks_start_on_monday_and_months_are_civil() {
        // 2026-01-05 was a Monday.
        let monday = 1_767_571_200;
        assert_eq!(week_start(week_of(monday)), monday);
        assert_eq!(week_start(week_of(monday + 6 * 86_400 + 86_399)), monday);
        assert_eq!(week_of(monday - 1) + 1, week_of(monday));
        assert_eq!(month_of(monday), "2026-01");
        assert_eq!(month_of(0), "1970-01");
        assert_eq!(civil(951_782_400), (2000, 2, 29));
        assert_eq!(civil(monday), (2026, 1, 5));
    }

    #[test]
    fn since_is_rounded_up_to_whole_weeks_and_bounded() {
        assert_eq!(PulseParams::default().weeks(), 5);
        let mut p = PulseParams {
            since_secs: Some(0),
        };
        assert!(p.normalise().is_err());
        p.since_secs = Some(MAX_PULSE_WEEKS * WEEK_SECS + 1);
        assert!(p.normalise().unwrap_err().contains("since_secs"));
        p.since_secs = Some(86_400);
        assert_eq!(p.weeks(), 1);
    }
}
