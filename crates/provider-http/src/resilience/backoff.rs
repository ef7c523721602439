//! Exponential backoff with "full jitter": how long to wait before retrying a failed vendor call
//! when the vendor gave no signal of its own.
//!
//! The ceiling doubles with every attempt (`base * 2^attempt`, capped at `max`), and the actual
//! delay is drawn uniformly from `[0, ceiling]`, so many clients failing at once spread their
//! retries over the whole window instead of arriving together (the "full jitter" variant from
//! AWS's "Exponential Backoff and Jitter" article). This module only computes durations: it
//! neither sleeps nor reads a clock, and the random source is the caller's, so tests draw from a
//! seeded generator. Vendor hints (`Retry-After`, reset headers) are read in
//! [`super::retry_after`] and combined with the backoff in [`super::decide`].

use std::time::Duration;

use rand::Rng;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// An exponential backoff schedule with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry (`attempt` 0).
    pub base: Duration,
    /// The largest ceiling, whatever the attempt.
    pub max: Duration,
}

impl Default for Backoff {
    /// Half a second doubling up to 30 seconds.
    fn default() -> Backoff {
        Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// Returns the deterministic upper bound of the delay before retry number `attempt`
    /// (counted from 0): `min(max, base * 2^attempt)`.
    ///
    /// Never overflows: an attempt whose doubling does not fit a [`Duration`] gets `max`. A
    /// `base` larger than `max` yields `max` for every attempt, a zero `base` zero.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        if self.base.is_zero() {
            return Duration::ZERO;
        }
        1u32.checked_shl(attempt)
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.max, |ceiling| ceiling.min(self.max))
    }

    /// Returns a delay drawn uniformly from `[0, ceiling(attempt)]` (both ends included, at
    /// nanosecond resolution).
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling_nanos = self.ceiling(attempt).as_nanos();
        duration_from_nanos(rng.gen_range(0..=ceiling_nanos))
    }
}

/// Builds a duration from a nanosecond count no larger than some [`Duration::as_nanos`].
fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below one billion, so it always fits a u32.
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, subsec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn backoff(base_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            base: Duration::from_millis(base_ms),
            max: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn ceiling_doubles_then_caps() {
        let schedule = backoff(100, 1_000);
        let ceilings: Vec<u64> = (0..7)
            .map(|attempt| schedule.ceiling(attempt).as_millis() as u64)
            .collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1_000, 1_000, 1_000]);
    }

    #[test]
    fn ceiling_never_overflows() {
        let schedule = Backoff {
            base: Duration::from_secs(u64::MAX / 4),
            max: Duration::MAX,
        };
        assert_eq!(schedule.ceiling(0), Duration::from_secs(u64::MAX / 4));
        assert_eq!(schedule.ceiling(1), Duration::from_secs(u64::MAX / 4 * 2));
        // Doubling again does not fit a Duration: the cap applies.
        assert_eq!(schedule.ceiling(3), Duration::MAX);
        for attempt in [31, 32, 33, 64, u32::MAX] {
            assert_eq!(backoff(100, 5_000).ceiling(attempt), Duration::from_secs(5));
        }
        let mut rng = StdRng::seed_from_u64(7);
        assert!(schedule.delay(u32::MAX, &mut rng) <= Duration::MAX);
    }

    #[test]
    fn base_above_max_is_capped() {
        let schedule = backoff(10_000, 2_000);
        assert_eq!(schedule.ceiling(0), Duration::from_secs(2));
        assert_eq!(schedule.ceiling(5), Duration::from_secs(2));
    }

    #[test]
    fn zero_base_never_waits() {
        let schedule = backoff(0, 2_000);
        let mut rng = StdRng::seed_from_u64(1);
        for attempt in 0..40 {
            assert_eq!(schedule.delay(attempt, &mut rng), Duration::ZERO);
        }
    }

    #[test]
    fn jitter_stays_within_bounds_and_spreads_over_the_window() {
        let schedule = backoff(100, 3_000);
        let mut rng = StdRng::seed_from_u64(42);
        for attempt in 0..8 {
            let ceiling = schedule.ceiling(attempt);
            let draws: Vec<Duration> = (0..2_000)
                .map(|_| schedule.delay(attempt, &mut rng))
                .collect();
            assert!(
                draws.iter().all(|delay| *delay <= ceiling),
                "attempt {attempt}"
            );
            // Uniform over [0, ceiling]: both the bottom and the top quarter are hit, and the
            // mean sits near the middle.
            assert!(draws.iter().any(|delay| *delay < ceiling / 4));
            assert!(draws.iter().any(|delay| *delay > ceiling * 3 / 4));
            let mean = draws.iter().sum::<Duration>() / draws.len() as u32;
            assert!(
                mean > ceiling * 2 / 5 && mean < ceiling * 3 / 5,
                "attempt {attempt}: mean {mean:?} of ceiling {ceiling:?}"
            );
        }
    }

    #[test]
    fn same_seed_same_delays() {
        let schedule = Backoff::default();
        let first: Vec<Duration> = {
            let mut rng = StdRng::seed_from_u64(9);
            (0..10).map(|n| schedule.delay(n, &mut rng)).collect()
        };
        let again: Vec<Duration> = {
            let mut rng = StdRng::seed_from_u64(9);
            (0..10).map(|n| schedule.delay(n, &mut rng)).collect()
        };
        assert_eq!(first, again);
    }

    #[test]
    fn nanos_round_trip() {
        for duration in [
            Duration::ZERO,
            Duration::new(1, 999_999_999),
            Duration::from_millis(1_500),
            Duration::MAX,
        ] {
            assert_eq!(duration_from_nanos(duration.as_nanos()), duration);
        }
    }
}
