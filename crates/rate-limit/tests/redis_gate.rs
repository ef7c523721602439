//! `RedisGate` against the real Redis at `CROSSWALK_TEST_REDIS_URL` (the tests fail without it):
//! one cap per key across gates that stand for separate processes (each its own connection and
//! in-process queue). Every run writes under its own key prefix.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rate_limit::{RedisGate, RedisLimiter};
use support::{RedisClock, url};
use tokio::sync::watch;

/// `count` gates on one prefix, as `count` processes would have.
async fn gates(count: usize, lease: Duration) -> Vec<RedisGate> {
    let prefix = format!("crosswalk-test:gate:{}:", uuid::Uuid::new_v4().simple());
    let mut gates = Vec::new();
    for _ in 0..count {
        let limiter = RedisLimiter::connect(&url())
            .await
            .expect("Redis at CROSSWALK_TEST_REDIS_URL")
            .with_prefix(&prefix);
        gates.push(limiter.gate(lease));
    }
    gates
}

#[tokio::test]
async fn a_place_taken_in_one_process_is_taken_in_all() {
    let gates = gates(2, Duration::from_secs(60)).await;
    let first = gates[0].acquire("conn", 2).await.expect("a place");
    let second = gates[1].acquire("conn", 2).await.expect("a place");
    assert_eq!(gates[0].in_flight("conn").await.expect("count"), 2);
    // Another key has its own places.
    let other = gates[1].acquire("other", 2).await.expect("a place");
    assert_eq!(gates[1].in_flight("other").await.expect("count"), 1);
    // The third waits while two are held anywhere (it polls several times in 150 ms)…
    let refused =
        tokio::time::timeout(Duration::from_millis(150), gates[0].acquire("conn", 2)).await;
    assert!(refused.is_err(), "a third place was granted");
    // …and gets one once the other process gives its place back.
    drop(second);
    let third = tokio::time::timeout(Duration::from_secs(5), gates[0].acquire("conn", 2))
        .await
        .expect("a place was given back")
        .expect("a place");
    assert_eq!(gates[1].in_flight("conn").await.expect("count"), 2);
    drop((first, third, other));
}

#[tokio::test]
async fn concurrent_callers_across_processes_never_exceed_the_cap() {
    const CAP: u32 = 4;
    let gates = gates(3, Duration::from_secs(60)).await;
    let in_flight = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    // Each caller holds its place until the cap has been reached once, so callers of several
    // processes overlap by construction, not by luck of timing.
    let (full, _) = watch::channel(false);
    let full = Arc::new(full);
    let mut tasks = Vec::new();
    for idx in 0..30 {
        let gate = gates[idx % 3].clone();
        let in_flight = Arc::clone(&in_flight);
        let most = Arc::clone(&most);
        let full = Arc::clone(&full);
        tasks.push(tokio::spawn(async move {
            let mut filled = full.subscribe();
            let permit = gate.acquire("conn", CAP).await.expect("a place");
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            if now >= CAP {
                full.send_replace(true);
            }
            filled
                .wait_for(|full| *full)
                .await
                .expect("the sender lives");
            in_flight.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
        }));
    }
    // A gate that never let `CAP` in at once would leave every caller waiting.
    tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(tasks))
        .await
        .expect("the cap was reached and every caller finished")
        .into_iter()
        .for_each(|task| task.expect("a caller"));
    assert_eq!(
        most.load(Ordering::SeqCst),
        CAP,
        "at most the cap in flight at once"
    );
}

#[tokio::test]
async fn a_place_held_past_its_lease_is_freed() {
    let lease = Duration::from_millis(300);
    let gates = gates(2, lease).await;
    let mut clock = RedisClock::connect().await;
    let started = clock.now().await;
    // A process that died holding the only place: its permit is never released.
    let lost = gates[0].acquire("conn", 1).await.expect("a place");
    let next = gates[1]
        .acquire("conn", 1)
        .await
        .expect("a place after the lease");
    // The lease runs on the Redis clock from the first grant, which came after `started`.
    let spent = clock.now().await - started;
    assert!(
        spent >= lease,
        "granted {spent:?} after the first place was taken, within its lease"
    );
    assert_eq!(gates[1].in_flight("conn").await.expect("count"), 1);
    drop((lost, next));
}
