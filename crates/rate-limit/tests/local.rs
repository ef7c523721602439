//! `LocalLimiter` bucket arithmetic on a hand-advanced clock (no sleeping), `acquire` pacing on
//! tokio's paused clock, and the per-key `ConcurrencyGate`.

use std::sync::Arc;
use std::time::Duration;

use rate_limit::{
    BucketSpec, BucketStatus, ConcurrencyGate, Decision, LimitError, Limiter, LocalLimiter,
    ManualClock, Take, acquire,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn limiter() -> (Arc<ManualClock>, LocalLimiter) {
    let clock = Arc::new(ManualClock::new());
    let limiter = LocalLimiter::with_clock(clock.clone());
    (clock, limiter)
}

/// Capacity 10, 10 tokens per second.
fn ten_per_second() -> BucketSpec {
    BucketSpec::new("burst", 10, 10, Duration::from_secs(1))
}

async fn take(limiter: &LocalLimiter, key: &str, bucket: &BucketSpec, cost: u32) -> Decision {
    limiter
        .try_acquire(key, &[Take::new(bucket, cost)])
        .await
        .expect("valid take")
}

#[tokio::test]
async fn eleventh_request_waits_exactly_one_refill_step() {
    let (_clock, limiter) = limiter();
    let bucket = ten_per_second();
    for _ in 0..10 {
        assert_eq!(take(&limiter, "c1", &bucket, 1).await, Decision::Granted);
    }
    assert_eq!(
        take(&limiter, "c1", &bucket, 1).await,
        Decision::Wait(ms(100))
    );
    // Being refused takes nothing: the wait is unchanged.
    assert_eq!(
        take(&limiter, "c1", &bucket, 1).await,
        Decision::Wait(ms(100))
    );
    // Three tokens need 300 ms.
    assert_eq!(
        take(&limiter, "c1", &bucket, 3).await,
        Decision::Wait(ms(300))
    );
}

#[tokio::test]
async fn refill_is_continuous() {
    let (clock, limiter) = limiter();
    let bucket = ten_per_second();
    for _ in 0..10 {
        take(&limiter, "c1", &bucket, 1).await;
    }
    clock.advance(ms(99));
    assert_eq!(
        take(&limiter, "c1", &bucket, 1).await,
        Decision::Wait(ms(1))
    );
    clock.advance(ms(1));
    assert_eq!(take(&limiter, "c1", &bucket, 1).await, Decision::Granted);
    // Half a token is there after 50 ms; the other half takes 50 ms more.
    clock.advance(ms(50));
    assert_eq!(
        take(&limiter, "c1", &bucket, 1).await,
        Decision::Wait(ms(50))
    );
    clock.advance(ms(250));
    assert_eq!(take(&limiter, "c1", &bucket, 3).await, Decision::Granted);
    assert_eq!(
        take(&limiter, "c1", &bucket, 1).await,
        Decision::Wait(ms(100))
    );
}

#[tokio::test]
async fn refill_stops_at_capacity() {
    let (clock, limiter) = limiter();
    let bucket = ten_per_second();
    take(&limiter, "c1", &bucket, 5).await;
    clock.advance(Duration::from_secs(60));
    let status = limiter.status("c1", &bucket).await.expect("status");
    assert_eq!(
        status,
        BucketStatus {
            remaining: 10,
            capacity: 10,
            reset_in: Duration::ZERO
        }
    );
    for _ in 0..10 {
        assert_eq!(take(&limiter, "c1", &bucket, 1).await, Decision::Granted);
    }
    assert_eq!(
        take(&limiter, "c1", &bucket, 1).await,
        Decision::Wait(ms(100))
    );
}

#[tokio::test]
async fn takes_from_every_bucket_or_none() {
    let (clock, limiter) = limiter();
    let burst = ten_per_second();
    // Search: 2 tokens, one more every 500 ms.
    let search = BucketSpec::new("search", 2, 1, ms(500));
    let search_request = [Take::new(&burst, 1), Take::new(&search, 1)];
    assert_eq!(
        limiter.try_acquire("c1", &search_request).await.unwrap(),
        Decision::Granted
    );
    assert_eq!(
        limiter.try_acquire("c1", &search_request).await.unwrap(),
        Decision::Granted
    );
    // The search bucket is empty: the third search waits for it and takes nothing from burst.
    assert_eq!(
        limiter.try_acquire("c1", &search_request).await.unwrap(),
        Decision::Wait(ms(500))
    );
    assert_eq!(limiter.status("c1", &burst).await.unwrap().remaining, 8);
    // Plain requests still get the rest of the burst bucket.
    for _ in 0..8 {
        assert_eq!(take(&limiter, "c1", &burst, 1).await, Decision::Granted);
    }
    // Now both are short; the wait is the later of the two.
    assert_eq!(
        limiter.try_acquire("c1", &search_request).await.unwrap(),
        Decision::Wait(ms(500))
    );
    clock.advance(ms(100));
    assert_eq!(
        limiter.try_acquire("c1", &search_request).await.unwrap(),
        Decision::Wait(ms(400))
    );
    clock.advance(ms(400));
    assert_eq!(
        limiter.try_acquire("c1", &search_request).await.unwrap(),
        Decision::Granted
    );
}

#[tokio::test]
async fn takes_of_one_bucket_add_up() {
    let (_clock, limiter) = limiter();
    let bucket = ten_per_second();
    let takes = [Take::new(&bucket, 4), Take::new(&bucket, 4)];
    assert_eq!(
        limiter.try_acquire("c1", &takes).await.unwrap(),
        Decision::Granted
    );
    assert_eq!(limiter.status("c1", &bucket).await.unwrap().remaining, 2);
    assert_eq!(
        limiter.try_acquire("c1", &takes).await.unwrap(),
        Decision::Wait(ms(600))
    );
    assert_eq!(
        limiter.try_acquire("c1", &[]).await.unwrap(),
        Decision::Granted
    );
}

#[tokio::test]
async fn keys_are_independent() {
    let (_clock, limiter) = limiter();
    let bucket = ten_per_second();
    for _ in 0..10 {
        take(&limiter, "busy", &bucket, 1).await;
    }
    assert_eq!(
        take(&limiter, "busy", &bucket, 1).await,
        Decision::Wait(ms(100))
    );
    for _ in 0..10 {
        assert_eq!(take(&limiter, "quiet", &bucket, 1).await, Decision::Granted);
    }
    // Same bucket id under a key that is a prefix of the other does not collide either.
    assert_eq!(take(&limiter, "bus", &bucket, 10).await, Decision::Granted);
}

#[tokio::test]
async fn observe_lowers_but_never_raises() {
    let (clock, limiter) = limiter();
    let bucket = ten_per_second();
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
    assert_eq!(status.reset_in, ms(800));
    // Without a reset time, refill carries on as usual.
    clock.advance(ms(100));
    assert_eq!(limiter.status("c1", &bucket).await.unwrap().remaining, 3);
    // An untouched (full) bucket is lowered too.
    limiter
        .observe("c2", &bucket, 0, None, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        take(&limiter, "c2", &bucket, 1).await,
        Decision::Wait(ms(100))
    );
}

#[tokio::test]
async fn observe_with_reset_pauses_refill_until_then() {
    let (clock, limiter) = limiter();
    let bucket = ten_per_second();
    // The vendor has 1 request left for the next 300 ms (another client spent the rest).
    limiter
        .observe("c1", &bucket, 1, Some(ms(300)), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(take(&limiter, "c1", &bucket, 1).await, Decision::Granted);
    assert_eq!(
        take(&limiter, "c1", &bucket, 1).await,
        Decision::Wait(ms(400))
    );
    clock.advance(ms(300));
    assert_eq!(
        take(&limiter, "c1", &bucket, 1).await,
        Decision::Wait(ms(100))
    );
    clock.advance(ms(100));
    assert_eq!(take(&limiter, "c1", &bucket, 1).await, Decision::Granted);
    // A reset far beyond the bucket's own refill time is clamped to it (1 s here).
    limiter
        .observe(
            "c3",
            &bucket,
            0,
            Some(Duration::from_secs(3600)),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(
        limiter.status("c3", &bucket).await.unwrap().reset_in,
        Duration::from_secs(2)
    );
    // A later observation with more remaining does not lift the pause.
    limiter
        .observe("c3", &bucket, 5, Some(ms(10)), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        take(&limiter, "c3", &bucket, 1).await,
        Decision::Wait(ms(1100))
    );
}

#[tokio::test]
async fn status_reports_floor_and_time_to_full() {
    let (clock, limiter) = limiter();
    let bucket = ten_per_second();
    assert_eq!(
        limiter.status("c1", &bucket).await.unwrap(),
        BucketStatus {
            remaining: 10,
            capacity: 10,
            reset_in: Duration::ZERO
        }
    );
    take(&limiter, "c1", &bucket, 10).await;
    clock.advance(ms(150));
    assert_eq!(
        limiter.status("c1", &bucket).await.unwrap(),
        BucketStatus {
            remaining: 1,
            capacity: 10,
            reset_in: ms(850)
        }
    );
}

#[tokio::test]
async fn impossible_takes_fail_without_taking() {
    let (_clock, limiter) = limiter();
    let bucket = ten_per_second();
    let other = BucketSpec::new("other", 5, 1, ms(100));
    let err = limiter
        .try_acquire("c1", &[Take::new(&other, 1), Take::new(&bucket, 11)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, LimitError::CostExceedsCapacity { ref bucket, cost: 11, capacity: 10 } if bucket == "burst"),
        "{err}"
    );
    assert_eq!(limiter.status("c1", &other).await.unwrap().remaining, 5);
    let broken = BucketSpec::new("broken", 10, 0, ms(100));
    let err = limiter
        .try_acquire("c1", &[Take::new(&broken, 1)])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bucket `broken` is invalid: refill_tokens is 0"
    );
}

#[tokio::test(start_paused = true)]
async fn acquire_paces_within_budget() {
    let limiter = LocalLimiter::new();
    let bucket = ten_per_second();
    let takes = [Take::new(&bucket, 1)];
    for _ in 0..10 {
        let got = acquire(&limiter, "c1", &takes, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got.waited, Duration::ZERO);
    }
    let got = acquire(&limiter, "c1", &takes, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(got.waited, ms(100));
    // Five tokens need 500 ms; a 200 ms budget refuses at once and takes nothing.
    let five = [Take::new(&bucket, 5)];
    let err = acquire(&limiter, "c1", &five, ms(200)).await.unwrap_err();
    assert!(
        matches!(err, LimitError::WouldExceedBudget { retry_after } if retry_after == ms(500)),
        "{err}"
    );
    let got = acquire(&limiter, "c1", &five, ms(500)).await.unwrap();
    assert_eq!(got.waited, ms(500));
}

#[tokio::test(start_paused = true)]
async fn acquire_retries_when_another_caller_wins_the_race() {
    let limiter = Arc::new(LocalLimiter::new());
    let bucket = ten_per_second();
    for _ in 0..10 {
        take(&limiter, "c1", &bucket, 1).await;
    }
    // Two waiters for one token each: both see a 100 ms wait, only one gets the token then.
    let tasks = (0..2).map(|_| {
        let limiter = limiter.clone();
        let bucket = bucket.clone();
        tokio::spawn(async move {
            acquire(
                &*limiter,
                "c1",
                &[Take::new(&bucket, 1)],
                Duration::from_secs(1),
            )
            .await
            .unwrap()
            .waited
        })
    });
    let mut waited: Vec<Duration> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    waited.sort();
    assert_eq!(waited, vec![ms(100), ms(200)]);
}

#[tokio::test(start_paused = true)]
async fn gate_admits_max_per_key() {
    let gate = ConcurrencyGate::new();
    let a1 = gate.acquire("a", 2).await;
    let a2 = gate.acquire("a", 2).await;
    assert_eq!(gate.in_flight("a"), 2);
    // Another key is not held up by the full one.
    let b1 = gate.acquire("b", 2).await;
    assert_eq!(gate.in_flight("b"), 1);
    // A third permit for `a` waits until one is released.
    let third = tokio::time::timeout(ms(50), gate.acquire("a", 2)).await;
    assert!(third.is_err(), "third permit granted while two are held");
    drop(a1);
    let a3 = tokio::time::timeout(ms(50), gate.acquire("a", 2))
        .await
        .expect("a permit was released");
    assert_eq!(gate.in_flight("a"), 2);
    drop((a2, a3, b1));
    assert_eq!(gate.tracked_keys(), 0);
    assert_eq!(gate.in_flight("a"), 0);
}
