//! `RedisLimiter` against the real Redis at `CROSSWALK_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`). Every run writes under its own random key prefix, and every key it
//! writes expires. Time is Redis server time, so waits are checked within the few milliseconds
//! that pass between calls.

use std::time::{Duration, Instant};

use rate_limit::{
    BucketSpec, BucketStatus, Decision, LimitError, Limiter, RedisLimiter, Take, acquire,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn url() -> String {
    std::env::var("CROSSWALK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
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

fn ten_per_second() -> BucketSpec {
    BucketSpec::new("burst", 10, 10, Duration::from_secs(1))
}

async fn take(limiter: &RedisLimiter, key: &str, bucket: &BucketSpec, cost: u32) -> Decision {
    limiter
        .try_acquire(key, &[Take::new(bucket, cost)])
        .await
        .expect("redis take")
}

/// A wait of `expected` less whatever time passed since (at most `slack`).
fn assert_wait_near(decision: Decision, expected: Duration, slack: Duration) {
    match decision {
        Decision::Wait(wait) => assert!(
            wait <= expected && wait + slack >= expected,
            "waited {wait:?}, expected {expected:?} (less at most {slack:?})"
        ),
        Decision::Granted => panic!("granted, expected a wait of {expected:?}"),
    }
}

#[tokio::test]
async fn eleventh_request_waits_one_refill_step() {
    let limiter = limiter().await;
    let bucket = ten_per_second();
    let started = Instant::now();
    for _ in 0..10 {
        assert_eq!(take(&limiter, "c1", &bucket, 1).await, Decision::Granted);
    }
    let decision = take(&limiter, "c1", &bucket, 1).await;
    // Tokens refilled while the ten calls ran shorten the wait by at most that time.
    let elapsed = started.elapsed();
    if elapsed < ms(100) {
        assert_wait_near(decision, ms(100), elapsed + ms(1));
    }
    // A large take from a fresh key waits its deficit, less the time since the key was emptied.
    let started = Instant::now();
    assert_eq!(take(&limiter, "c2", &bucket, 10).await, Decision::Granted);
    let decision = take(&limiter, "c2", &bucket, 5).await;
    assert_wait_near(decision, ms(500), started.elapsed() + ms(1));
}

#[tokio::test]
async fn takes_from_every_bucket_or_none_and_keys_are_independent() {
    let limiter = limiter().await;
    let burst = ten_per_second();
    let search = BucketSpec::new("search", 2, 1, Duration::from_secs(10));
    let search_request = [Take::new(&burst, 1), Take::new(&search, 1)];
    for _ in 0..2 {
        assert_eq!(
            limiter.try_acquire("c1", &search_request).await.unwrap(),
            Decision::Granted
        );
    }
    let started = Instant::now();
    let decision = limiter.try_acquire("c1", &search_request).await.unwrap();
    assert_wait_near(
        decision,
        Duration::from_secs(10),
        started.elapsed() + ms(500),
    );
    // The refused search took nothing from burst (8 left, plus at most a little refill).
    let burst_left = limiter.status("c1", &burst).await.unwrap().remaining;
    assert!((8..=9).contains(&burst_left), "burst has {burst_left}");
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
    // Slow refill (1 token per 10 s) so test timing cannot move the counts.
    let bucket = BucketSpec::new("daily", 10, 1, Duration::from_secs(10));
    take(&limiter, "c1", &bucket, 4).await; // 6 left
    limiter
        .observe("c1", &bucket, 9, None, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(limiter.status("c1", &bucket).await.unwrap().remaining, 6);
    limiter
        .observe("c1", &bucket, 2, None, Duration::ZERO)
        .await
        .unwrap();
    let status = limiter.status("c1", &bucket).await.unwrap();
    assert_eq!(status.remaining, 2);
    assert!(
        status.reset_in <= Duration::from_secs(80) && status.reset_in > Duration::from_secs(79),
        "{status:?}"
    );
    // With a reset time the bucket stops refilling until then.
    limiter
        .observe(
            "c2",
            &bucket,
            1,
            Some(Duration::from_secs(30)),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(take(&limiter, "c2", &bucket, 1).await, Decision::Granted);
    let started = Instant::now();
    let decision = take(&limiter, "c2", &bucket, 1).await;
    assert_wait_near(
        decision,
        Duration::from_secs(40),
        started.elapsed() + ms(500),
    );
}

#[tokio::test]
async fn status_of_an_untouched_bucket_is_full() {
    let limiter = limiter().await;
    let bucket = ten_per_second();
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
    let bucket = BucketSpec::new("b", 10, 1, Duration::from_secs(1));
    take(&limiter, "c1", &bucket, 4).await;
    let client = redis::Client::open(url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(limiter.redis_key("c1", "b"))
        .query_async(&mut connection)
        .await
        .unwrap();
    // Full again in 4 s, plus a second of margin.
    assert!((4_000..=5_000).contains(&ttl), "pttl {ttl}");
    limiter
        .observe(
            "c1",
            &bucket,
            0,
            Some(Duration::from_secs(3)),
            Duration::ZERO,
        )
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(limiter.redis_key("c1", "b"))
        .query_async(&mut connection)
        .await
        .unwrap();
    // Paused 3 s, then 10 s to refill from empty, plus the margin.
    assert!((13_000..=14_000).contains(&ttl), "pttl {ttl}");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(keys, vec![limiter.redis_key("c1", "b")]);
}

#[tokio::test]
async fn four_processes_never_exceed_capacity_plus_refill() {
    let prefix = run_prefix();
    // Capacity 5, 5 tokens per 200 ms: over a 600 ms run at most 5 + 25 are granted.
    let bucket = BucketSpec::new("burst", 5, 5, ms(200));
    let run_for = ms(600);
    let mut limiters = Vec::new();
    for _ in 0..4 {
        limiters.push(connect(&prefix).await);
    }
    let started = Instant::now();
    let tasks = limiters.into_iter().map(|limiter| {
        let bucket = bucket.clone();
        tokio::spawn(async move {
            let mut granted = 0u32;
            while started.elapsed() < run_for {
                match acquire(&limiter, "shared", &[Take::new(&bucket, 1)], ms(50)).await {
                    Ok(_) => granted += 1,
                    Err(LimitError::WouldExceedBudget { .. }) => {}
                    Err(err) => panic!("{err}"),
                }
            }
            granted
        })
    });
    let counts: Vec<u32> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let elapsed = started.elapsed();
    let total: u32 = counts.iter().sum();
    let refilled = (elapsed.as_secs_f64() / 0.2 * 5.0).floor() as u32;
    assert!(
        total <= 5 + refilled,
        "granted {total} ({counts:?}) in {elapsed:?}, more than 5 + {refilled}"
    );
    // The run really contended: the burst and most of the refill were handed out.
    assert!(
        total >= 5 + 10,
        "only {total} granted ({counts:?}) in {elapsed:?}"
    );
}
