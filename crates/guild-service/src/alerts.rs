//! Alerts for strangers' needs that match our skills, shared fairly.
//!
//! A stranger's matching need is stored and listed like any other; what is scarce is the owner's
//! attention: at most [`STRANGER_MATCHED_PER_HOUR`] `need.matched` events an hour for all
//! strangers together. Fresh keys cost nothing, so that budget is shared out in a way a flood of
//! minted identities cannot use up before one honest newcomer:
//!
//! - **per signer**: one alert per signer per [`SIGNER_ALERT_SECS`]; that signer's other needs
//!   are listed only, and never wait for room;
//! - **per source**: the address range (IPv4 /24, IPv6 /48) of the peer a need came through, or
//!   that peer when its address is unknown, takes at most [`SOURCE_ALERTS_PER_HOUR`] of the
//!   total, so a flood through one range leaves the rest for needs arriving elsewhere;
//! - **waiting, round robin**: a need that finds no room waits in its source's queue (newest
//!   first, at most [`WAITING_PER_SOURCE`] per source and [`WAITING_SOURCES`] sources), and the
//!   queues are served one source at a time as the budgets refill.
//!
//! So a newcomer's need that arrives after a burst of minted needs is alerted at once when it
//! came through another range with room, after at most one turn of each waiting range
//! otherwise, and at its own range's next token (an hour / [`SOURCE_ALERTS_PER_HOUR`]) when it
//! came through the flood's own range. What can be waiting is bounded by
//! `WAITING_PER_SOURCE × WAITING_SOURCES` entries; alerts never exceed the total.

use crate::admission::{RateLimiter, STRANGER_MATCHED_PER_HOUR};
use crate::{LocalDuration, LocalTime};
use guild_core::{PublicKey, RecordId};
use std::collections::{HashMap, HashSet, VecDeque};

/// Alerts one source (address range, or peer) may take per hour, of the strangers' total.
pub const SOURCE_ALERTS_PER_HOUR: u32 = 2;
/// A stranger is alerted about at most once in this many seconds.
pub const SIGNER_ALERT_SECS: u64 = 86_400;
/// Needs waiting for an alert per source; past it the source's oldest waiting need is spared.
pub const WAITING_PER_SOURCE: usize = 16;
/// Sources with needs waiting; a need from one more source is spared while all are taken.
pub const WAITING_SOURCES: usize = 64;

/// The one key of the total bucket.
const TOTAL: &[u8] = b"strangers";

/// Where a need came from, for the per-source share: an address range, or a peer's key.
pub type Source = Vec<u8>;

/// What became of a stranger's matching need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertDecision {
    /// Alert the owner now.
    Now,
    /// Waiting for room in the budget ([`StrangerAlerts::due`]).
    Waiting,
    /// Listed, never alerted.
    Spared(Spared),
}

/// Why a stranger's matching need raises no alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spared {
    /// Its signer was alerted about less than [`SIGNER_ALERT_SECS`] ago.
    SignerAlerted,
    /// Another need of its signer is already waiting.
    SignerWaiting,
    /// Every waiting queue is taken by other sources.
    QueuesFull,
}

/// The strangers' alert budget: a total, a share per source, one alert per signer per day, and
/// the needs waiting for room. See the module docs.
#[derive(Debug)]
pub struct StrangerAlerts {
    total: RateLimiter,
    per_source: RateLimiter,
    /// Signers alerted about lately, and when.
    alerted: HashMap<PublicKey, LocalTime>,
    /// Per source, its waiting needs, oldest first.
    waiting: HashMap<Source, VecDeque<(RecordId, PublicKey)>>,
    /// Sources with needs waiting, in serving order.
    rotation: VecDeque<Source>,
    /// Signers with a need waiting.
    waiting_signers: HashSet<PublicKey>,
}

impl Default for StrangerAlerts {
    fn default() -> StrangerAlerts {
        StrangerAlerts {
            total: RateLimiter::with_window(STRANGER_MATCHED_PER_HOUR, 3_600),
            per_source: RateLimiter::with_window(SOURCE_ALERTS_PER_HOUR, 3_600),
            alerted: HashMap::new(),
            waiting: HashMap::new(),
            rotation: VecDeque::new(),
            waiting_signers: HashSet::new(),
        }
    }
}

impl StrangerAlerts {
    /// Decides about one stranger's matching need that came through `source`.
    pub fn arrived(
        &mut self,
        need: RecordId,
        signer: PublicKey,
        source: &[u8],
        now: LocalTime,
    ) -> AlertDecision {
        if self.recently_alerted(&signer, now) {
            return AlertDecision::Spared(Spared::SignerAlerted);
        }
        if self.waiting_signers.contains(&signer) {
            return AlertDecision::Spared(Spared::SignerWaiting);
        }
        // Needs already waiting from this source go first: a new one joins its queue.
        if !self.waiting.contains_key(source) && self.take(source, &signer, now) {
            return AlertDecision::Now;
        }
        if !self.waiting.contains_key(source) {
            if self.waiting.len() >= WAITING_SOURCES {
                return AlertDecision::Spared(Spared::QueuesFull);
            }
            self.rotation.push_back(source.to_vec());
        }
        let queue = self.waiting.entry(source.to_vec()).or_default();
        if queue.len() >= WAITING_PER_SOURCE {
            if let Some((_, spared)) = queue.pop_front() {
                self.waiting_signers.remove(&spared);
            }
        }
        queue.push_back((need, signer));
        self.waiting_signers.insert(signer);
        AlertDecision::Waiting
    }

    /// The waiting needs that now have room, one source at a time, each source's newest first.
    /// `still` says whether a need is still worth an alert (stored, open, matching); one that is
    /// not is dropped without spending the budget.
    pub fn due(
        &mut self,
        now: LocalTime,
        mut still: impl FnMut(&RecordId) -> bool,
    ) -> Vec<(RecordId, PublicKey)> {
        let mut out = Vec::new();
        // Each source is looked at once per pass; a pass that alerts nobody ends the drain.
        let mut left = self.rotation.len();
        while left > 0 && self.total.peek(TOTAL, now) >= 1.0 {
            let Some(source) = self.rotation.pop_front() else {
                break;
            };
            left -= 1;
            let mut queue = self.waiting.remove(&source).unwrap_or_default();
            while self.per_source.peek(&source, now) >= 1.0 {
                let Some((need, signer)) = queue.pop_back() else {
                    break;
                };
                self.waiting_signers.remove(&signer);
                if still(&need) && self.take(&source, &signer, now) {
                    out.push((need, signer));
                    left = self.rotation.len() + 1;
                    break;
                }
            }
            if !queue.is_empty() {
                self.waiting.insert(source.clone(), queue);
                self.rotation.push_back(source);
            }
        }
        out
    }

    /// When [`StrangerAlerts::due`] may next alert someone: `None` while nothing waits.
    pub fn next_due(&self, now: LocalTime) -> Option<LocalTime> {
        let source = self
            .rotation
            .iter()
            .map(|s| self.per_source.ready_in(s, now))
            .min()?;
        let total = self.total.ready_in(TOTAL, now);
        Some(now + source.max(total).max(LocalDuration::from_millis(1)))
    }

    /// Needs waiting for room, in all.
    pub fn waiting(&self) -> usize {
        self.waiting_signers.len()
    }

    fn recently_alerted(&mut self, signer: &PublicKey, now: LocalTime) -> bool {
        let period = LocalDuration::from_secs(SIGNER_ALERT_SECS);
        match self.alerted.get(signer) {
            Some(at) if now.since(*at) < period => true,
            Some(_) => {
                self.alerted.remove(signer);
                false
            }
            None => false,
        }
    }

    /// Takes one token of the total and one of `source`'s share if both have one.
    fn take(&mut self, source: &[u8], signer: &PublicKey, now: LocalTime) -> bool {
        if self.total.peek(TOTAL, now) < 1.0 || self.per_source.peek(source, now) < 1.0 {
            return false;
        }
        self.total.take(TOTAL, 1.0, now);
        self.per_source.take(source, 1.0, now);
        // At most STRANGER_MATCHED_PER_HOUR × 24 signers a day are remembered: a sweep of the
        // expired ones keeps the map small.
        if self.alerted.len() >= 4 * STRANGER_MATCHED_PER_HOUR as usize * 24 {
            let period = LocalDuration::from_secs(SIGNER_ALERT_SECS);
            self.alerted.retain(|_, at| now.since(*at) < period);
        }
        self.alerted.insert(*signer, now);
        true
    }
}

/// The address range an IP counts under for fairness: its /24 (IPv4) or /48 (IPv6).
pub fn range_of(ip: &str) -> Option<String> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(format!("{}.{}.{}.0/24", o[0], o[1], o[2]))
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;
    use guild_core::fixtures::identity;

    fn id(i: u32) -> RecordId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        RecordId(b)
    }

    fn key(i: u32) -> PublicKey {
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&i.to_be_bytes());
        secret[4] = 0xa1;
        guild_core::Identity::from_secret(secret).public()
    }

    const T: LocalTime = LocalTime::from_secs(1_000_000);

    #[test]
    fn one_source_takes_its_share_and_a_signer_one_alert() {
        let mut a = StrangerAlerts::default();
        let flood = b"peer:flooder".as_slice();
        let mut now = 0;
        for k in 0..300 {
            for n in 0..3 {
                if a.arrived(id(k * 3 + n), key(k), flood, T) == AlertDecision::Now {
                    now += 1;
                }
            }
        }
        assert_eq!(now, SOURCE_ALERTS_PER_HOUR, "one source: its share only");
        assert_eq!(a.waiting(), WAITING_PER_SOURCE, "the rest waits, bounded");
        // A signer alerted once is spared for a day.
        let first = key(0);
        assert_eq!(
            a.arrived(id(9_999), first, b"elsewhere", T),
            AlertDecision::Spared(Spared::SignerAlerted)
        );
        // A newcomer through another range: at once.
        let newcomer = identity(7).public();
        assert_eq!(
            a.arrived(id(10_000), newcomer, b"range:other", T),
            AlertDecision::Now
        );
    }

    #[test]
    fn waiting_needs_are_served_round_robin_newest_first_within_the_total() {
        let mut a = StrangerAlerts::default();
        let sources: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b's', i]).collect();
        for k in 0..100u32 {
            let s = &sources[(k % 5) as usize];
            a.arrived(id(k), key(k), s, T);
        }
        let newcomer = identity(7).public();
        // It came through the first source, after the burst.
        assert_eq!(
            a.arrived(id(500), newcomer, &sources[0], T),
            AlertDecision::Waiting
        );
        assert!(a.due(T, |_| true).is_empty(), "no room yet");
        let next = a.next_due(T).expect("something waits");
        let mut alerted = Vec::new();
        let mut t = next;
        while t < T + LocalDuration::from_secs(3_600) {
            alerted.extend(a.due(t, |_| true));
            t = a.next_due(t).unwrap_or(t + LocalDuration::from_secs(60));
        }
        assert!(
            alerted.len() <= STRANGER_MATCHED_PER_HOUR as usize,
            "{} alerts in an hour",
            alerted.len()
        );
        assert!(
            alerted.iter().any(|(_, s)| *s == newcomer),
            "the newest of its source is served within the hour"
        );
    }

    #[test]
    fn a_need_that_closed_while_waiting_costs_nothing() {
        let mut a = StrangerAlerts::default();
        let s = b"one".as_slice();
        for k in 0..5 {
            a.arrived(id(k), key(k), s, T);
        }
        assert_eq!(a.waiting(), 3);
        let later = T + LocalDuration::from_secs(3_600);
        // The newest waiting need was withdrawn meanwhile: the two before it are served.
        let got = a.due(later, |n| *n != id(4));
        let served: Vec<RecordId> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(served, vec![id(3), id(2)]);
        assert_eq!(a.waiting(), 0);
    }

    #[test]
    fn ranges_group_addresses() {
        assert_eq!(range_of("10.1.2.3").as_deref(), Some("10.1.2.0/24"));
        assert_eq!(
            range_of("2001:db8:1:2::5").as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(range_of("not an ip"), None);
    }
}
