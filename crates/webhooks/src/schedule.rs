//! What follows an attempt: the Standard Webhooks retry schedule and how each answer is read.
//!
//! Attempts go out immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after
//! the attempt before (about three days in all), each wait stretched or shrunk by up to a tenth at
//! random so that many endpoints' retries do not arrive together. Timeouts, connection errors, 429
//! (waiting at least its `Retry-After`) and 5xx are retried; 410 disables the endpoint; any other
//! 4xx is retried once and then becomes a dead letter; 1xx and 3xx (redirects are not followed)
//! count as failures and are retried.

use std::time::Duration;

use rand::Rng;

/// The waits before each attempt after the first; the message is dead after the last one.
pub const RETRY_SCHEDULE: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// The most attempts a message gets.
pub const MAX_ATTEMPTS: u32 = RETRY_SCHEDULE.len() as u32 + 1;

/// Attempts a message refused with a 4xx (other than 408, 410 and 429) gets before it is dead.
pub const CLIENT_ERROR_ATTEMPTS: u32 = 2;

/// How an attempt ended, as far as the schedule cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx.
    Delivered,
    /// 410: the endpoint asks not to be called again.
    Gone,
    /// 429, with its `Retry-After` if it gave one.
    Throttled(Option<Duration>),
    /// A 4xx that will not get better by retrying.
    Refused,
    /// A timeout, a connection error, a 5xx or another status: worth retrying.
    Failed,
}

impl Answer {
    /// Reads a status code.
    pub fn of_status(status: u16, retry_after: Option<Duration>) -> Answer {
        match status {
            200..=299 => Answer::Delivered,
            410 => Answer::Gone,
            429 => Answer::Throttled(retry_after),
            408 => Answer::Failed,
            400..=499 => Answer::Refused,
            _ => Answer::Failed,
        }
    }
}

/// What to do with a message after its attempt number `attempt` (1 for the first) ended with
/// `answer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Retry after this wait.
    RetryIn(Duration),
    Dead,
}

/// The next step for a message, with `jitter` in `[-0.1, 0.1]` applied to the wait.
pub fn next_step(attempt: u32, answer: &Answer, jitter: f64) -> Next {
    let scheduled = || {
        RETRY_SCHEDULE
            .get(attempt.saturating_sub(1) as usize)
            .map(|wait| wait.mul_f64(1.0 + jitter.clamp(-0.1, 0.1)))
    };
    match answer {
        Answer::Delivered => Next::Delivered,
        Answer::Refused if attempt >= CLIENT_ERROR_ATTEMPTS => Next::Dead,
        Answer::Throttled(Some(retry_after)) => match scheduled() {
            Some(wait) => Next::RetryIn(wait.max(*retry_after)),
            None => Next::Dead,
        },
        // A 410 leaves the message pending for when the endpoint is enabled again.
        Answer::Gone => Next::RetryIn(scheduled().unwrap_or(RETRY_SCHEDULE[0])),
        _ => scheduled().map_or(Next::Dead, Next::RetryIn),
    }
}

/// A random jitter for [`next_step`].
pub fn jitter() -> f64 {
    rand::thread_rng().gen_range(-0.1..=0.1)
}

/// Reads a `Retry-After` header: seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_the_specifications() {
        let waits: Vec<u64> = (1..MAX_ATTEMPTS)
            .map(|attempt| match next_step(attempt, &Answer::Failed, 0.0) {
                Next::RetryIn(wait) => wait.as_secs(),
                other => panic!("attempt {attempt}: {other:?}"),
            })
            .collect();
        assert_eq!(
            waits,
            vec![5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400]
        );
        assert_eq!(next_step(MAX_ATTEMPTS, &Answer::Failed, 0.0), Next::Dead);
        assert_eq!(
            next_step(2, &Answer::Failed, 0.1),
            Next::RetryIn(Duration::from_secs(330))
        );
    }

    #[test]
    fn answers_are_read_by_status() {
        assert_eq!(Answer::of_status(204, None), Answer::Delivered);
        assert_eq!(Answer::of_status(410, None), Answer::Gone);
        assert_eq!(Answer::of_status(404, None), Answer::Refused);
        assert_eq!(Answer::of_status(408, None), Answer::Failed);
        assert_eq!(Answer::of_status(503, None), Answer::Failed);
        assert_eq!(Answer::of_status(302, None), Answer::Failed);
        assert_eq!(
            next_step(1, &Answer::Refused, 0.0),
            Next::RetryIn(Duration::from_secs(5))
        );
        assert_eq!(next_step(2, &Answer::Refused, 0.0), Next::Dead);
    }

    #[test]
    fn a_throttle_waits_at_least_its_retry_after() {
        let answer = Answer::of_status(429, Some(Duration::from_secs(120)));
        assert_eq!(
            next_step(1, &answer, 0.0),
            Next::RetryIn(Duration::from_secs(120))
        );
        assert_eq!(
            next_step(2, &answer, 0.0),
            Next::RetryIn(Duration::from_secs(300))
        );
        let now = chrono::Utc::now();
        assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
