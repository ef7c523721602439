//! What the Redis tests share: the server they run against and its clock.
//!
//! The server is named by `CROSSWALK_TEST_REDIS_URL`; without it every Redis test fails (it
//! never passes by finding a server on its own, nor skips). Limiters and gates read time from
//! Redis (`TIME`), so the tests bracket what they do between two readings of the same clock and
//! check waits and expiries against what that span allows, never against local timing.

use std::time::Duration;

/// The variable naming the test server.
pub const URL_VARIABLE: &str = "CROSSWALK_TEST_REDIS_URL";

/// The test server's URL; panics when the variable is unset.
pub fn url() -> String {
    std::env::var(URL_VARIABLE).unwrap_or_else(|_| {
        panic!("{URL_VARIABLE} must name the Redis server these tests run against")
    })
}

/// The Redis server's clock.
pub struct RedisClock(redis::aio::MultiplexedConnection);

impl RedisClock {
    pub async fn connect() -> Self {
        let client = redis::Client::open(url()).expect("a Redis URL");
        RedisClock(
            client
                .get_multiplexed_async_connection()
                .await
                .expect("Redis at CROSSWALK_TEST_REDIS_URL"),
        )
    }

    /// Time since the epoch by the server's clock (`TIME`, in microseconds).
    pub async fn now(&mut self) -> Duration {
        let (secs, micros): (u64, u64) = redis::cmd("TIME")
            .query_async(&mut self.0)
            .await
            .expect("TIME");
        Duration::from_secs(secs) + Duration::from_micros(micros)
    }

    /// The connection, for other commands.
    #[allow(dead_code)] // Only the limiter's tests read keys.
    pub fn connection(&mut self) -> &mut redis::aio::MultiplexedConnection {
        &mut self.0
    }
}

/// Checks a decision taken within `spent` (by the Redis clock) of the moment the bucket would
/// have made a caller wait exactly `expected`: time only shortens a wait, by at most `spent`,
/// and a grant is right only if the whole wait had passed.
#[allow(dead_code)] // The gate's tests check no waits.
pub fn assert_wait_within(decision: rate_limit::Decision, expected: Duration, spent: Duration) {
    match decision {
        rate_limit::Decision::Wait(wait) => assert!(
            wait <= expected && wait + spent >= expected,
            "waited {wait:?}, expected {expected:?} less at most the {spent:?} spent"
        ),
        rate_limit::Decision::Granted => assert!(
            spent >= expected,
            "granted after {spent:?}, before the {expected:?} wait had passed"
        ),
    }
}

/// Whole tokens a bucket giving one back every `per_token` can have refilled within `spent`.
#[allow(dead_code)] // The gate's tests count no tokens.
pub fn refilled(spent: Duration, per_token: Duration) -> u32 {
    u32::try_from(spent.as_micros() / per_token.as_micros()).unwrap_or(u32::MAX)
}
