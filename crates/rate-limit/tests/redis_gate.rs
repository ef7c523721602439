//! `RedisGate` against the real Redis at `CROSSWALK_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`): one cap per key across gates that stand for separate processes
//! (each its own connection and in-process queue). Every run writes under its own key prefix.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rate_limit::{RedisGate, RedisLimiter};

fn url() -> String {
    std::env::var("CROSSWALK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

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
    let gates = gates(3, Duration::from_secs(60)).await;
    let in_flight = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for idx in 0..30 {
        let gate = gates[idx % 3].clone();
        let in_flight = Arc::clone(&in_flight);
        let most = Arc::clone(&most);
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire("conn", 4).await.expect("a place");
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            // The request's work.
            tokio::time::sleep(Duration::from_millis(5)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.expect("a caller");
    }
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 4, "{most} in flight at once");
    assert!(most >= 2, "callers of several processes overlapped: {most}");
}

#[tokio::test]
async fn a_place_held_past_its_lease_is_freed() {
    let gates = gates(2, Duration::from_millis(300)).await;
    // A process that died holding the only place: its permit is never released.
    let lost = gates[0].acquire("conn", 1).await.expect("a place");
    let started = std::time::Instant::now();
    let next = gates[1]
        .acquire("conn", 1)
        .await
        .expect("a place after the lease");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "granted before the lease ended: {:?}",
        started.elapsed()
    );
    assert_eq!(gates[1].in_flight("conn").await.expect("count"), 1);
    drop((lost, next));
}
