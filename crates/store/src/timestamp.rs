//! The one timestamp precision every store keeps: microseconds.
//!
//! PostgreSQL's `timestamptz` holds microseconds, so that is the precision of the contract.
//! Backends truncate any finer digits on write (toward the past), take "now" from [`now`], and so
//! return exactly what they stored; callers compare a value they wrote with [`truncate`] applied.

use chrono::{DateTime, SubsecRound, Utc};

/// Returns the current time truncated to microseconds.
pub fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

/// Drops sub-microsecond digits, giving the value a store will hand back.
pub fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// Returns `at` plus `duration`, truncated to microseconds; a sum past the largest representable
/// time (only absurd durations get there) is that largest time, so a lease ends "never".
pub fn add(at: DateTime<Utc>, duration: std::time::Duration) -> DateTime<Utc> {
    let later = chrono::TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| at.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    truncate(later)
}

/// The wall clock that schedules read (the worker's claims, webhook retries): the machine's,
/// plus however far it has been moved forward. Tests move it to let a day of retries pass
/// without waiting for it; clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    skew_micros: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    /// The current time, truncated to microseconds.
    pub fn now(&self) -> DateTime<Utc> {
        let skew = self.skew_micros.load(std::sync::atomic::Ordering::Relaxed);
        truncate(Utc::now() + chrono::TimeDelta::microseconds(skew))
    }

    /// Moves the clock `by` forward, for every clone.
    pub fn advance(&self, by: std::time::Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.skew_micros
            .fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn truncates_to_microseconds() {
        let at = Utc
            .timestamp_opt(1_700_000_000, 123_456_789)
            .single()
            .expect("valid");
        assert_eq!(truncate(at).timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(now().timestamp_subsec_nanos() % 1_000, 0);
    }

    #[test]
    fn a_moved_clock_moves_every_clone() {
        let clock = Clock::default();
        let other = clock.clone();
        clock.advance(std::time::Duration::from_secs(86_400));
        assert!(other.now() >= now() + chrono::TimeDelta::hours(23));
    }

    #[test]
    fn add_truncates_and_saturates() {
        let at = Utc.timestamp_opt(1_700_000_000, 0).single().expect("valid");
        let later = add(at, std::time::Duration::from_nanos(30_000_000_999));
        assert_eq!(later, at + chrono::TimeDelta::microseconds(30_000_000));
        assert_eq!(
            add(at, std::time::Duration::MAX),
            truncate(DateTime::<Utc>::MAX_UTC)
        );
    }
}
