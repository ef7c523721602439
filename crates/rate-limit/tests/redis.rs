//! `RedisLimiter` against the real Redis at `CROSSWALK_TEST_REDIS_URL` (the tests fail without
//! it). Every run writes under its own random key prefix, and every key it writes expires.
//! Time is Redis server time: each check brackets its calls between two readings of that clock
//! and allows exactly what the span between them allows, so a slow machine changes no outcome.
//! Buckets refill slowly (seconds per token) where a check counts tokens, so the bracket stays
//! far below one refill step.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use rate_limit::{
    BucketSpec, BucketStatus, Decision, LimitError, Limiter, RedisLimiter, Take, acquire,
};
use support::{RedisClock, assert_wait_within, refilled, url};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn run_prefix() -> String {
    format!("crosswalk-test:rl:{}:", uuid::Uuid::new_v4().simple())
}

async fn connect(prefix: &str) -> RedisLimiter {
    RedisLimiter::connect(&url())
        .await
        .expect("Redis at CROSSWALK_TEST_REDIS_URL")
        .with_prefix(prefix)
}

async fn limiter() -> RedisLimiter {
    connect(&run_prefix()).await
}

/// Ten tokens, one back every 10 s.
fn ten_slow() -> BucketSpec {
    BucketSpec::new("burst", 10, 10, secs(100))
}

async fn take(limiter: &RedisLimiter, key: &str, bucket: &BucketSpec, cost: u32) -> Decision {
    limiter
        .try_acquire(key, &[Take::new(bucket, cost)])
        .await
        .expect("redis take")
}

#[tokio::test]
async fn eleventh_request_waits_one_refill_step() {
    let limiter = limiter().await;
    let mut clock = RedisClock::connect().await;
    let bucket = ten_slow();
    let started = clock.now().await;
    for _ in 0..10 {
        assert_eq!(take(&limiter, "c1", &bucket, 1).await, Decision::Granted);
    }
    let decision = take(&limiter, "c1", &bucket, 1).await;
    // Tokens refilled while the calls ran shorten the wait by at most the time they took.
    assert_wait_within(decision, secs(10), clock.now().await - started);
    // A large take from a fresh key waits its whole deficit (five steps), less the time since.
    let started = clock.now().await;
    assert_eq!(take(&limiter, "c2", &bucket, 10).await, Decision::Granted);
    let decision = take(&limiter, "c2", &bucket, 5).await;
    assert_wait_within(decision, secs(50), clock.now().await - started);
}

#[tokio::test]
async fn takes_from_every_bucket_or_none_and_keys_are_independent() {
    let limiter = limiter().await;
    let mut clock = RedisClock::connect().await;
    let burst = ten_slow();
    let search = BucketSpec::new("search", 2, 1, secs(10));
    let search_request = [Take::new(&burst, 1), Take::new(&search, 1)];
    let started = clock.now().await;
    for _ in 0..2 {
        assert_eq!(
            limiter.try_acquire("c1", &search_request).await.unwrap(),
            Decision::Granted
        );
    }
    let decision = limiter.try_acquire("c1", &search_request).await.unwrap();
    assert_wait_within(decision, secs(10), clock.now().await - started);
    // The refused search took nothing from burst: 8 left, plus what refilled meanwhile.
    let burst_left = limiter.status("c1", &burst).await.unwrap().remaining;
    let spent = clock.now().await - started;
    assert!(
        (8..=8 + refilled(spent, secs(10))).contains(&burst_left),
        "burst has {burst_left} after {spent:?}"
    );
    // Another key is untouched by c1's empty search bucket.
    assert_eq!(
        limiter.try_acquire("c2", &search_request).await.unwrap(),
        Decision::Granted
    );
    // Keys that share a prefix or contain the separator do not collide.
    assert_eq!(
        take(&limiter, "c1:search", &search, 2).await,
        Decision::Granted
    );
    assert_eq!(take(&limiter, "c", &search, 2).await, Decision::Granted);
}

#[tokio::test]
async fn observe_lowers_but_never_raises() {
    let limiter = limiter().await;
    let mut clock = RedisClock::connect().await;
    // One token back every 10 s.
    let bucket = BucketSpec::new("daily", 10, 1, secs(10));
    let started = clock.now().await;
    take(&limiter, "c1", &bucket, 4).await; // 6 left
    limiter
        .observe("c1", &bucket, 9, None, Duration::ZERO)
        .await
        .unwrap();
    let remaining = limiter.status("c1", &bucket).await.unwrap().remaining;
    let spent = clock.now().await - started;
    assert!(
        (6..=6 + refilled(spent, secs(10))).contains(&remaining),
        "{remaining} left after {spent:?}: a higher count from the vendor raised it"
    );
    let started = clock.now().await;
    limiter
        .observe("c1", &bucket, 2, None, Duration::ZERO)
        .await
        .unwrap();
    let status = limiter.status("c1", &bucket).await.unwrap();
    let spent = clock.now().await - started;
    assert!(
        (2..=2 + refilled(spent, secs(10))).contains(&status.remaining),
        "{status:?} after {spent:?}"
    );
    // Full again once 8 tokens are back (80 s), less what refilled since the observation.
    assert!(
        status.reset_in <= secs(80) && status.reset_in + spent >= secs(80),
        "{status:?} after {spent:?}"
    );
    // With a reset time the bucket stops refilling until then: the token after the one left
    // comes 30 s + one step after the observation.
    let started = clock.now().await;
    limiter
        .observe("c2", &bucket, 1, Some(secs(30)), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(take(&limiter, "c2", &bucket, 1).await, Decision::Granted);
    let decision = take(&limiter, "c2", &bucket, 1).await;
    assert_wait_within(decision, secs(40), clock.now().await - started);
}

#[tokio::test]
async fn status_of_an_untouched_bucket_is_full() {
    let limiter = limiter().await;
    let bucket = ten_slow();
    assert_eq!(
        limiter.status("nobody", &bucket).await.unwrap(),
        BucketStatus {
            remaining: 10,
            capacity: 10,
            reset_in: Duration::ZERO
        }
    );
    let err = limiter
        .try_acquire("c1", &[Take::new(&bucket, 11)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, LimitError::CostExceedsCapacity { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn state_keys_expire_once_the_bucket_would_be_full() {
    let prefix = run_prefix();
    let limiter = connect(&prefix).await;
    let mut clock = RedisClock::connect().await;
    let bucket = BucketSpec::new("b", 10, 1, secs(1));
    let key = limiter.redis_key("c1", "b");
    let started = clock.now().await;
    take(&limiter, "c1", &bucket, 4).await;
    let ttl = pttl(&mut clock, &key).await;
    let spent = millis(clock.now().await - started);
    // Full again in 4 s, plus a second of margin, less the time since the take.
    assert!(
        (5_000 - spent..=5_000).contains(&ttl),
        "pttl {ttl} after {spent} ms"
    );
    let started = clock.now().await;
    limiter
        .observe("c1", &bucket, 0, Some(secs(3)), Duration::ZERO)
        .await
        .unwrap();
    let ttl = pttl(&mut clock, &key).await;
    let spent = millis(clock.now().await - started);
    // Paused 3 s, then 10 s to refill from empty, plus the margin.
    assert!(
        (14_000 - spent..=14_000).contains(&ttl),
        "pttl {ttl} after {spent} ms"
    );
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(clock.connection())
        .await
        .unwrap();
    assert_eq!(keys, vec![key]);
}

async fn pttl(clock: &mut RedisClock, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(clock.connection())
        .await
        .expect("PTTL")
}

/// Whole milliseconds, rounded up (a span measured by the Redis clock).
fn millis(span: Duration) -> i64 {
    i64::try_from(span.as_micros().div_ceil(1000)).unwrap_or(i64::MAX)
}

#[tokio::test]
async fn four_processes_never_exceed_capacity_plus_refill() {
    let prefix = run_prefix();
    let mut clock = RedisClock::connect().await;
    // Capacity 5, 5 tokens per 200 ms, shared by four processes asking until 20 are granted:
    // 15 of them must come from refill, which takes at least 600 ms, however fast they ask.
    let bucket = BucketSpec::new("burst", 5, 5, ms(200));
    const WANTED: u32 = 20;
    let granted = Arc::new(AtomicU32::new(0));
    let someone_waited = Arc::new(AtomicBool::new(false));
    let mut limiters = Vec::new();
    for _ in 0..4 {
        limiters.push(connect(&prefix).await);
    }
    let started = clock.now().await;
    let tasks = limiters.into_iter().map(|limiter| {
        let bucket = bucket.clone();
        let granted = Arc::clone(&granted);
        let someone_waited = Arc::clone(&someone_waited);
        tokio::spawn(async move {
            while granted.load(Ordering::SeqCst) < WANTED {
                match acquire(&limiter, "shared", &[Take::new(&bucket, 1)], secs(5)).await {
                    Ok(acquired) => {
                        granted.fetch_add(1, Ordering::SeqCst);
                        if acquired.waited > Duration::ZERO {
                            someone_waited.store(true, Ordering::SeqCst);
                        }
                    }
                    Err(err) => panic!("{err}"),
                }
            }
        })
    });
    for task in futures::future::join_all(tasks).await {
        task.expect("a process");
    }
    let spent = clock.now().await - started;
    // Every grant happened within `spent`: the bucket can have given at most its capacity
    // plus what refilled (a token per 40 ms).
    let total = granted.load(Ordering::SeqCst);
    assert!(total >= WANTED);
    assert!(
        total <= 5 + refilled(spent, ms(40)),
        "granted {total} in {spent:?}, more than 5 + {}",
        refilled(spent, ms(40))
    );
    assert!(
        someone_waited.load(Ordering::SeqCst),
        "callers were made to wait"
    );
}
