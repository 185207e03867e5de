//! Time as types: [`LocalTime`], an instant of the node's wall clock in milliseconds since the
//! Unix epoch, and [`LocalDuration`], a span of milliseconds (heartwood's `LocalTime` and
//! `LocalDuration`).
//!
//! The service reads no clock: each input carries its `now`, which sets the service's clock in
//! one place ([`crate::Service`]'s `enter`), and the service asks to be woken with
//! [`crate::Io::Wakeup`] instead of being polled. Times inside signed records stay whole Unix
//! seconds ([`guild_core::UnixTime`]) as the wire has them: [`LocalTime::as_secs`] converts.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant: milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(u64);

/// A span of time in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDuration(u64);

impl LocalTime {
    /// The instant `ms` milliseconds after the Unix epoch.
    pub const fn from_millis(ms: u64) -> LocalTime {
        LocalTime(ms)
    }

    /// The instant at the start of Unix second `secs`.
    pub const fn from_secs(secs: u64) -> LocalTime {
        LocalTime(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (record times are in seconds).
    pub const fn as_secs(self) -> guild_core::UnixTime {
        self.0 / 1000
    }

    /// How long after `earlier` this is (zero if it is not after).
    pub const fn since(self, earlier: LocalTime) -> LocalDuration {
        LocalDuration(self.0.saturating_sub(earlier.0))
    }
}

impl LocalDuration {
    /// No time.
    pub const ZERO: LocalDuration = LocalDuration(0);
    /// The longest span (an instant this far away never comes).
    pub const MAX: LocalDuration = LocalDuration(u64::MAX);

    /// `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> LocalDuration {
        LocalDuration(ms)
    }

    /// `secs` seconds.
    pub const fn from_secs(secs: u64) -> LocalDuration {
        LocalDuration(secs.saturating_mul(1000))
    }

    /// The span in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The span in (fractional) seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl From<u64> for LocalTime {
    /// Milliseconds since the Unix epoch.
    fn from(ms: u64) -> LocalTime {
        LocalTime(ms)
    }
}

impl From<LocalTime> for u64 {
    fn from(t: LocalTime) -> u64 {
        t.0
    }
}

impl From<std::time::Duration> for LocalDuration {
    fn from(d: std::time::Duration) -> LocalDuration {
        LocalDuration(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl From<LocalDuration> for std::time::Duration {
    fn from(d: LocalDuration) -> std::time::Duration {
        std::time::Duration::from_millis(d.0)
    }
}

impl Add<LocalDuration> for LocalTime {
    type Output = LocalTime;
    fn add(self, d: LocalDuration) -> LocalTime {
        LocalTime(self.0.saturating_add(d.0))
    }
}

impl AddAssign<LocalDuration> for LocalTime {
    fn add_assign(&mut self, d: LocalDuration) {
        *self = *self + d;
    }
}

impl Sub<LocalDuration> for LocalTime {
    type Output = LocalTime;
    fn sub(self, d: LocalDuration) -> LocalTime {
        LocalTime(self.0.saturating_sub(d.0))
    }
}

impl Sub<LocalTime> for LocalTime {
    type Output = LocalDuration;
    /// The span from `earlier` to this (zero if `earlier` is later).
    fn sub(self, earlier: LocalTime) -> LocalDuration {
        self.since(earlier)
    }
}

impl Add for LocalDuration {
    type Output = LocalDuration;
    fn add(self, d: LocalDuration) -> LocalDuration {
        LocalDuration(self.0.saturating_add(d.0))
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

impl fmt::Display for LocalDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 1000 {
            write!(f, "{} ms", self.0)
        } else {
            write!(f, "{:.1} s", self.as_secs_f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_converts_to_record_seconds() {
        let t = LocalTime::from_millis(1_500);
        assert_eq!(t.as_secs(), 1);
        assert_eq!(
            t + LocalDuration::from_secs(2),
            LocalTime::from_millis(3_500)
        );
        assert_eq!(t - LocalDuration::from_secs(9), LocalTime::default());
        assert_eq!(
            LocalTime::from_secs(3) - t,
            LocalDuration::from_millis(1_500)
        );
        assert_eq!(
            t - LocalTime::from_secs(3),
            LocalDuration::ZERO,
            "never negative"
        );
        assert_eq!(
            LocalTime::from(u64::MAX) + LocalDuration::MAX,
            LocalTime::from(u64::MAX)
        );
        assert_eq!(
            std::time::Duration::from(LocalDuration::from_millis(250)),
            std::time::Duration::from_millis(250)
        );
        assert_eq!(LocalDuration::from_millis(250).to_string(), "250 ms");
        assert_eq!(LocalDuration::from_secs(5).to_string(), "5.0 s");
    }
}
