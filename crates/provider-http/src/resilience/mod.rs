//! Resilience building blocks for vendor calls: when to retry, how long to wait, and when to
//! stop calling a connection's vendor altogether.
//!
//! - [`backoff`]: exponential backoff with full jitter, for failures the vendor gave no hint on.
//! - [`retry_after`]: the wait a vendor asks for (`Retry-After`, declared reset headers).
//! - [`circuit`]: a circuit breaker per connection, so a failing vendor is left alone.
//! - [`decide`] (here): one retry decision from the classified error, the attempt count and the
//!   vendor's hint.
//!
//! All of it is pure: no sleeping, no clock, no IO; time and randomness come in as arguments,
//! so the retry loop (and the tower layers that will hold it) own the actual waiting. Left out:
//! the token refresh behind [`ErrorAction::RefreshAndRetry`] (the credentials layer retries
//! once after a refresh), request budgets shared between connections (the rate limiter), and
//! whether a request is safe to repeat (the caller only retries what it may send twice).

pub mod backoff;
pub mod circuit;
pub mod retry_after;

use std::time::Duration;

use connector::ErrorAction;
use rand::Rng;

pub use backoff::Backoff;
pub use circuit::{CircuitBreaker, CircuitConfig, CircuitState, Open, Outcome, Permit};
pub use retry_after::{MAX_WAIT_HINT, wait_from_response};

/// How a failed vendor call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included: 1 never retries.
    pub max_attempts: u32,
    /// The wait when the vendor gave no hint (and the least wait when it did).
    pub backoff: Backoff,
    /// Whether a vendor's wait hint is honoured; when false only the backoff applies.
    pub respect_retry_after: bool,
    /// The longest single wait: a vendor asking for more is given up on rather than retried
    /// early, and our own backoff is cut down to it.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    /// Four attempts, the default [`Backoff`], honouring hints of up to a minute.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            backoff: Backoff::default(),
            respect_retry_after: true,
            max_wait: Duration::from_secs(60),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then send the request again.
    RetryAfter(Duration),
    /// Stop and report the error.
    GiveUp,
}

/// Decides whether to retry after attempt number `attempt` (counted from 1, the first send)
/// failed with `action`, given the vendor's `wait_hint` (from [`wait_from_response`]).
///
/// [`ErrorAction::Retry`] and [`ErrorAction::RateLimited`] retry while attempts remain, after
/// a full-jitter backoff (exponent `attempt - 1`) or, when the policy respects hints, at least
/// the hint: the vendor's word is a floor, the jitter still spreads callers above it. Every
/// other action gives up here: `Fail` and `Ignore` are final, and `RefreshAndRetry` belongs to
/// the credentials layer. A wait hint beyond `max_wait` gives up (retrying earlier than asked
/// would only be throttled again); a backoff beyond it is cut to `max_wait`.
pub fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    action: ErrorAction,
    wait_hint: Option<Duration>,
    rng: &mut impl Rng,
) -> RetryDecision {
    if attempt >= policy.max_attempts {
        return RetryDecision::GiveUp;
    }
    match action {
        ErrorAction::Retry | ErrorAction::RateLimited => {}
        ErrorAction::RefreshAndRetry | ErrorAction::Fail | ErrorAction::Ignore => {
            return RetryDecision::GiveUp;
        }
    }
    let hint = wait_hint.filter(|_| policy.respect_retry_after);
    if hint.is_some_and(|hint| hint > policy.max_wait) {
        return RetryDecision::GiveUp;
    }
    let jitter = policy
        .backoff
        .delay(attempt.saturating_sub(1), rng)
        .min(policy.max_wait);
    RetryDecision::RetryAfter(hint.map_or(jitter, |hint| hint.max(jitter)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            backoff: Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_secs(10),
            },
            respect_retry_after: true,
            max_wait: Duration::from_secs(30),
        }
    }

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    /// Decides `n` times from one seeded generator.
    fn decisions(
        policy: &RetryPolicy,
        attempt: u32,
        action: ErrorAction,
        hint: Option<Duration>,
    ) -> Vec<RetryDecision> {
        let mut rng = StdRng::seed_from_u64(3);
        (0..500)
            .map(|_| decide(policy, attempt, action, hint, &mut rng))
            .collect()
    }

    fn waits(decisions: &[RetryDecision]) -> Vec<Duration> {
        decisions
            .iter()
            .map(|decision| match decision {
                RetryDecision::RetryAfter(wait) => *wait,
                RetryDecision::GiveUp => panic!("expected a retry, got {decision:?}"),
            })
            .collect()
    }

    #[test]
    fn retry_backs_off_within_the_attempts_ceiling() {
        let policy = policy();
        for attempt in 1..=2 {
            let ceiling = policy.backoff.ceiling(attempt - 1);
            let waits = waits(&decisions(&policy, attempt, ErrorAction::Retry, None));
            assert!(
                waits.iter().all(|wait| *wait <= ceiling),
                "attempt {attempt}"
            );
            assert!(waits.iter().any(|wait| *wait > ceiling / 2));
        }
    }

    #[test]
    fn retry_honours_a_hint_as_a_floor() {
        let waits = waits(&decisions(&policy(), 1, ErrorAction::Retry, Some(secs(5))));
        assert!(waits.iter().all(|wait| *wait == secs(5)));
    }

    #[test]
    fn rate_limited_waits_at_least_the_hint() {
        let policy = RetryPolicy {
            backoff: Backoff {
                base: secs(4),
                max: secs(8),
            },
            ..policy()
        };
        let waits = waits(&decisions(
            &policy,
            1,
            ErrorAction::RateLimited,
            Some(secs(2)),
        ));
        assert!(
            waits
                .iter()
                .all(|wait| *wait >= secs(2) && *wait <= secs(4))
        );
        // Above the hint the jitter still spreads callers out.
        assert!(waits.iter().any(|wait| *wait > secs(3)));
    }

    #[test]
    fn rate_limited_without_a_hint_backs_off() {
        let waits = waits(&decisions(&policy(), 2, ErrorAction::RateLimited, None));
        assert!(waits.iter().all(|wait| *wait <= Duration::from_millis(200)));
    }

    #[test]
    fn hints_are_ignored_when_the_policy_says_so() {
        let policy = RetryPolicy {
            respect_retry_after: false,
            ..policy()
        };
        let waits = waits(&decisions(
            &policy,
            1,
            ErrorAction::RateLimited,
            Some(secs(3_000)),
        ));
        assert!(waits.iter().all(|wait| *wait <= Duration::from_millis(100)));
    }

    #[test]
    fn hint_beyond_max_wait_gives_up() {
        for action in [ErrorAction::Retry, ErrorAction::RateLimited] {
            assert!(
                decisions(&policy(), 1, action, Some(secs(31)))
                    .iter()
                    .all(|decision| *decision == RetryDecision::GiveUp)
            );
        }
        // Exactly max_wait is still waited for.
        let waits = waits(&decisions(
            &policy(),
            1,
            ErrorAction::RateLimited,
            Some(secs(30)),
        ));
        assert!(waits.iter().all(|wait| *wait == secs(30)));
    }

    #[test]
    fn backoff_is_cut_to_max_wait() {
        let policy = RetryPolicy {
            max_attempts: 10,
            backoff: Backoff {
                base: secs(20),
                max: secs(600),
            },
            ..policy()
        };
        let waits = waits(&decisions(&policy, 9, ErrorAction::Retry, None));
        assert!(waits.iter().all(|wait| *wait <= secs(30)));
        assert!(waits.contains(&secs(30)));
    }

    #[test]
    fn never_beyond_max_attempts() {
        let policy = policy();
        for attempt in [3, 4, u32::MAX] {
            for action in [ErrorAction::Retry, ErrorAction::RateLimited] {
                assert!(
                    decisions(&policy, attempt, action, Some(secs(1)))
                        .iter()
                        .all(|decision| *decision == RetryDecision::GiveUp),
                    "attempt {attempt} {action:?}"
                );
            }
        }
        let single = RetryPolicy {
            max_attempts: 1,
            ..policy
        };
        assert!(
            decisions(&single, 1, ErrorAction::Retry, None)
                .iter()
                .all(|decision| *decision == RetryDecision::GiveUp)
        );
    }

    #[test]
    fn other_actions_give_up() {
        for action in [
            ErrorAction::Fail,
            ErrorAction::Ignore,
            ErrorAction::RefreshAndRetry,
        ] {
            assert!(
                decisions(&policy(), 1, action, Some(secs(1)))
                    .iter()
                    .all(|decision| *decision == RetryDecision::GiveUp),
                "{action:?}"
            );
        }
    }
}
