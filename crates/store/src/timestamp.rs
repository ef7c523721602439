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
}
