//! Sliding-window buckets: the log arithmetic of `LocalLimiter` on a hand-advanced clock, and the
//! same rules in `RedisLimiter` against the Redis at `CROSSWALK_TEST_REDIS_URL` (the Redis tests
//! fail without it; keys under a random prefix, every key expiring). Redis checks bracket their
//! calls between two readings of the Redis clock and allow exactly what that span allows.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rate_limit::{
    BucketSpec, Decision, LimitError, Limiter, LocalLimiter, ManualClock, RedisLimiter, Take,
    Ticket,
};
use support::{RedisClock, assert_wait_within, refilled, url};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn local() -> (Arc<ManualClock>, LocalLimiter) {
    let clock = Arc::new(ManualClock::new());
    let limiter = LocalLimiter::with_clock(clock.clone());
    (clock, limiter)
}

/// 3 requests per rolling second.
fn three_per_second() -> BucketSpec {
    BucketSpec::sliding_window("burst", 3, Duration::from_secs(1))
}

async fn take_as(limiter: &dyn Limiter, bucket: &BucketSpec, ticket: Ticket) -> Decision {
    limiter
        .try_acquire_as("c1", &[Take::new(bucket, 1)], ticket)
        .await
        .expect("valid take")
}

async fn take(limiter: &dyn Limiter, bucket: &BucketSpec) -> Decision {
    take_as(limiter, bucket, Ticket::new()).await
}

#[tokio::test]
async fn a_spent_window_comes_back_whole_when_its_requests_age_out() {
    let (clock, limiter) = local();
    let bucket = three_per_second();
    for _ in 0..3 {
        assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
        clock.advance(ms(100));
    }
    // Granted at 0, 100 and 200 ms; now 300 ms: the first ages out at 1,000 ms.
    assert_eq!(take(&limiter, &bucket).await, Decision::Wait(ms(700)));
    clock.advance(ms(700));
    assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    assert_eq!(take(&limiter, &bucket).await, Decision::Wait(ms(100)));

    // A token bucket of the same numbers would give back one token per 333 ms; after a
    // whole idle window the log gives back the whole capacity at once.
    clock.advance(Duration::from_secs(1));
    for _ in 0..3 {
        assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    }
    assert!(matches!(take(&limiter, &bucket).await, Decision::Wait(_)));
}

#[tokio::test]
async fn a_settled_request_counts_a_whole_window_from_the_vendors_answer() {
    let (clock, limiter) = local();
    let bucket = BucketSpec::sliding_window("burst", 1, Duration::from_secs(1));
    let ticket = Ticket::new();
    assert_eq!(take_as(&limiter, &bucket, ticket).await, Decision::Granted);
    // The vendor answers 300 ms later: it counted the request then, so do we.
    clock.advance(ms(300));
    limiter
        .settle("c1", &[Take::new(&bucket, 1)], ticket)
        .await
        .unwrap();
    assert_eq!(take(&limiter, &bucket).await, Decision::Wait(ms(1000)));
    clock.advance(ms(700));
    assert_eq!(take(&limiter, &bucket).await, Decision::Wait(ms(300)));
    clock.advance(ms(300));
    assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
}

#[tokio::test]
async fn settling_a_request_slower_than_the_window_counts_it_again() {
    let (clock, limiter) = local();
    let bucket = BucketSpec::sliding_window("burst", 1, Duration::from_secs(1));
    let ticket = Ticket::new();
    assert_eq!(take_as(&limiter, &bucket, ticket).await, Decision::Granted);
    clock.advance(ms(2500));
    limiter
        .settle("c1", &[Take::new(&bucket, 1)], ticket)
        .await
        .unwrap();
    assert_eq!(take(&limiter, &bucket).await, Decision::Wait(ms(1000)));
}

#[tokio::test]
async fn own_requests_aging_out_while_one_is_in_flight_are_no_deficit() {
    let (clock, limiter) = local();
    let bucket = three_per_second();
    // Grants at 0, 500 and 900 ms fill the window.
    assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    clock.advance(ms(500));
    assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    clock.advance(ms(400));
    assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    // At 1,000 ms the first has aged out: a fourth is sent.
    clock.advance(ms(100));
    assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    // The vendor counted the 500, 900 and 1,000 ms requests when it got the fourth: it says
    // none remain. The answer arrives at 1,600 ms, after the 500 ms one aged out of our log.
    clock.advance(ms(600));
    limiter
        .observe("c1", &bucket, 0, Some(Duration::from_secs(1)), ms(600))
        .await
        .unwrap();
    // That was our own traffic, not someone else's: one request may go at once.
    assert_eq!(limiter.status("c1", &bucket).await.unwrap().remaining, 1);
    assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
}

#[tokio::test]
async fn another_clients_use_is_logged_until_the_vendors_reset() {
    let (clock, limiter) = local();
    let bucket = BucketSpec::sliding_window("burst", 10, Duration::from_secs(10));
    assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    // We count 1 of 10; the vendor says 2 remain: 7 requests are someone else's.
    limiter
        .observe("c1", &bucket, 2, Some(ms(300)), Duration::ZERO)
        .await
        .unwrap();
    let status = limiter.status("c1", &bucket).await.unwrap();
    assert_eq!(status.remaining, 2);
    assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    assert_eq!(take(&limiter, &bucket).await, Decision::Wait(ms(300)));
    clock.advance(ms(300));
    for _ in 0..7 {
        assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    }
    assert!(matches!(take(&limiter, &bucket).await, Decision::Wait(_)));
    // A report at or above our own count changes nothing.
    let before = limiter.status("c1", &bucket).await.unwrap();
    limiter
        .observe("c1", &bucket, 10, None, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(limiter.status("c1", &bucket).await.unwrap(), before);
}

#[tokio::test]
async fn takes_over_a_window_and_a_token_bucket_are_all_or_nothing() {
    let (clock, limiter) = local();
    let window = BucketSpec::sliding_window("burst", 5, Duration::from_secs(10));
    let search = BucketSpec::new("search", 1, 1, Duration::from_secs(1));
    let both = [Take::new(&window, 1), Take::new(&search, 1)];
    assert_eq!(
        limiter.try_acquire("c1", &both).await.unwrap(),
        Decision::Granted
    );
    assert_eq!(
        limiter.try_acquire("c1", &both).await.unwrap(),
        Decision::Wait(ms(1000))
    );
    // The refused take logged nothing in the window: 4 remain.
    assert_eq!(limiter.status("c1", &window).await.unwrap().remaining, 4);
    clock.advance(ms(1000));
    assert_eq!(
        limiter.try_acquire("c1", &both).await.unwrap(),
        Decision::Granted
    );
    let status = limiter.status("c1", &window).await.unwrap();
    assert_eq!(status.remaining, 3);
    // Full again once the newest grant (at 1 s) has aged out, 10 s after it.
    assert_eq!(status.reset_in, Duration::from_secs(10));
}

#[tokio::test]
async fn a_window_whose_refill_differs_from_its_capacity_is_refused() {
    let (_clock, limiter) = local();
    let mut bucket = three_per_second();
    bucket.refill_tokens = 1;
    assert!(matches!(
        limiter.try_acquire("c1", &[Take::new(&bucket, 1)]).await,
        Err(LimitError::InvalidBucket { .. })
    ));
}

async fn redis() -> RedisLimiter {
    RedisLimiter::connect(&url())
        .await
        .expect("Redis at CROSSWALK_TEST_REDIS_URL")
        .with_prefix(format!(
            "crosswalk-test:sw:{}:",
            uuid::Uuid::new_v4().simple()
        ))
}

/// How many of `count` grants a window may have let go within `spent`: all once a whole
/// `window` may have passed, else none.
fn aged_out(spent: Duration, window: Duration, count: u32) -> u32 {
    if spent >= window { count } else { 0 }
}

#[tokio::test]
async fn redis_window_grants_its_capacity_then_waits_for_the_oldest() {
    let limiter = redis().await;
    let mut clock = RedisClock::connect().await;
    let window = Duration::from_secs(10);
    let bucket = BucketSpec::sliding_window("burst", 3, window);
    let started = clock.now().await;
    for _ in 0..3 {
        assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    }
    let decision = take(&limiter, &bucket).await;
    assert_wait_within(decision, window, clock.now().await - started);
    let status = limiter.status("c1", &bucket).await.unwrap();
    let spent = clock.now().await - started;
    assert!(
        status.remaining <= aged_out(spent, window, 3),
        "{status:?} after {spent:?}"
    );
    // Full again once the newest grant has aged out, a window after it.
    assert!(
        status.reset_in <= window && status.reset_in + spent >= window,
        "{status:?} after {spent:?}"
    );
}

#[tokio::test]
async fn redis_settle_and_observe_follow_the_same_rules() {
    let limiter = redis().await;
    let mut clock = RedisClock::connect().await;
    let window = Duration::from_secs(10);
    let bucket = BucketSpec::sliding_window("burst", 10, window);
    let ticket = Ticket::new();
    let started = clock.now().await;
    assert_eq!(take_as(&limiter, &bucket, ticket).await, Decision::Granted);
    // Settling moves the entry, it does not add one.
    limiter
        .settle("c1", &[Take::new(&bucket, 1)], ticket)
        .await
        .unwrap();
    let remaining = limiter.status("c1", &bucket).await.unwrap().remaining;
    let spent = clock.now().await - started;
    assert!((9..=9 + aged_out(spent, window, 1)).contains(&remaining));
    // Our own count is the vendor's: nothing changes.
    limiter
        .observe("c1", &bucket, 9, None, ms(5))
        .await
        .unwrap();
    let remaining = limiter.status("c1", &bucket).await.unwrap().remaining;
    let spent = clock.now().await - started;
    assert!((9..=9 + aged_out(spent, window, 1)).contains(&remaining));
    // Someone else spent 6: they are logged until the vendor's reset, 5 s from now.
    let reset = Duration::from_secs(5);
    let observed = clock.now().await;
    limiter
        .observe("c1", &bucket, 3, Some(reset), ms(5))
        .await
        .unwrap();
    let remaining = limiter.status("c1", &bucket).await.unwrap().remaining;
    let spent = clock.now().await - observed;
    assert!(
        (3..=3 + aged_out(spent, reset, 6)).contains(&remaining),
        "{remaining} left after {spent:?}"
    );
    for _ in 0..3 {
        assert_eq!(take(&limiter, &bucket).await, Decision::Granted);
    }
    // Full: the next waits for the logged six to age out at the vendor's reset.
    let decision = take(&limiter, &bucket).await;
    assert_wait_within(decision, reset, clock.now().await - observed);
}

#[tokio::test]
async fn redis_window_never_grants_more_than_its_capacity_to_concurrent_clients() {
    let prefix = format!("crosswalk-test:sw:{}:", uuid::Uuid::new_v4().simple());
    let mut clock = RedisClock::connect().await;
    let window = Duration::from_secs(30);
    let bucket = BucketSpec::sliding_window("burst", 25, window);
    let mut clients = Vec::new();
    let started = clock.now().await;
    for _ in 0..4 {
        let limiter = RedisLimiter::connect(&url())
            .await
            .unwrap()
            .with_prefix(prefix.clone());
        let bucket = bucket.clone();
        clients.push(tokio::spawn(async move {
            let mut granted = 0u32;
            for _ in 0..20 {
                if take(&limiter, &bucket).await == Decision::Granted {
                    granted += 1;
                }
            }
            granted
        }));
    }
    let mut total = 0;
    for client in clients {
        total += client.await.unwrap();
    }
    let spent = clock.now().await - started;
    // 80 attempts within one window: exactly the capacity is granted.
    assert!(
        (25..=25 + aged_out(spent, window, 25)).contains(&total),
        "{total} granted in {spent:?}"
    );
}

/// `complete` (settle, observations, status in one step) leaves the same state as the three
/// calls, in the process and in Redis's one script, for both kinds of bucket. `clock` reads the
/// limiter's time (none: it stands still).
async fn check_complete(limiter: &dyn Limiter, mut clock: Option<RedisClock>) {
    let window_span = Duration::from_secs(60);
    let per_token = Duration::from_secs(60);
    let window = BucketSpec::sliding_window("burst", 10, window_span);
    let search = BucketSpec::new("search", 5, 5, per_token * 5);
    let takes = [Take::new(&window, 1), Take::new(&search, 1)];
    let ticket = Ticket::new();
    let started = match &mut clock {
        Some(clock) => clock.now().await,
        None => Duration::ZERO,
    };
    assert_eq!(
        limiter.try_acquire_as("c1", &takes, ticket).await.unwrap(),
        Decision::Granted
    );
    let observations = [
        rate_limit::Observation {
            bucket: &window,
            remaining: 4,
            reset_in: None,
            sent_ago: ms(5),
        },
        rate_limit::Observation {
            bucket: &search,
            remaining: 1,
            reset_in: None,
            sent_ago: ms(5),
        },
    ];
    let status = limiter
        .complete("c1", &takes, ticket, &observations, Some(&window))
        .await
        .unwrap()
        .expect("a report was asked for");
    let window_left = limiter.status("c1", &window).await.unwrap().remaining;
    let search_left = limiter.status("c1", &search).await.unwrap().remaining;
    // Settling moved the ticket's entry: it was not counted twice.
    let none = limiter
        .complete("c1", &takes, ticket, &[], None)
        .await
        .unwrap();
    let window_after = limiter.status("c1", &window).await.unwrap().remaining;
    let spent = match &mut clock {
        Some(clock) => clock.now().await - started,
        None => Duration::ZERO,
    };
    let window_range = 4..=4 + aged_out(spent, window_span, 6);
    assert!(
        window_range.contains(&status.remaining),
        "{status:?} after {spent:?}"
    );
    assert!(
        window_range.contains(&window_left),
        "{window_left} after {spent:?}"
    );
    assert!(
        (1..=1 + refilled(spent, per_token)).contains(&search_left),
        "{search_left} after {spent:?}"
    );
    assert_eq!(none, None);
    assert!(
        window_range.contains(&window_after),
        "{window_after} after {spent:?}"
    );
}

#[tokio::test]
async fn local_complete_is_settle_observe_and_status() {
    let (_clock, limiter) = local();
    check_complete(&limiter, None).await;
}

#[tokio::test]
async fn redis_complete_is_settle_observe_and_status_in_one_script() {
    check_complete(&redis().await, Some(RedisClock::connect().await)).await;
}
