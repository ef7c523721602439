//! The concurrency cap shared by every process: at most `max` requests of one key in flight
//! across all Crosswalk processes on one Redis.
//!
//! Each key is a sorted set of holders scored by when their lease ends. One script drops
//! ended leases, and adds the caller when fewer than `max` remain; a holder removes itself when
//! its permit drops. A process that dies holding a place frees it when the lease ends, so the
//! lease must outlast the longest request (the server uses its vendor timeout plus a margin).
//! Waiters poll (every 10–30 ms, jittered) after first queueing in the process's own
//! [`ConcurrencyGate`], so a busy key costs one polling caller per process, not one per request.
//! Across processes waiters are not served in order.

use std::fmt;
use std::time::Duration;

use rand::Rng as _;
use redis::Script;
use redis::aio::ConnectionManager;

use crate::{ConcurrencyGate, LimitError, OwnedPermit};

/// Adds ARGV[3] to the holders of KEYS[1] when fewer than ARGV[1] hold a live lease; the lease
/// lasts ARGV[2] ms from Redis's own clock. Returns 1 when added, else 0.
const TAKE: &str = r"
local max = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < max then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], lease)
  return 1
end
return 0
";

/// A concurrency cap per key, held in Redis.
#[derive(Clone)]
pub struct RedisGate {
    connection: ConnectionManager,
    prefix: String,
    lease: Duration,
    take: Script,
    local: ConcurrencyGate,
}

impl fmt::Debug for RedisGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisGate")
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// A place in flight held in Redis (and in the process's gate); released on drop.
#[derive(Debug)]
pub struct SharedPermit {
    /// Given up only once the Redis place is, so the process's next waiter finds it free.
    local: Option<OwnedPermit>,
    connection: ConnectionManager,
    redis_key: String,
    holder: String,
}

impl RedisGate {
    pub(crate) fn new(connection: ConnectionManager, prefix: String, lease: Duration) -> Self {
        RedisGate {
            connection,
            prefix,
            lease: lease.max(Duration::from_millis(1)),
            take: Script::new(TAKE),
            local: ConcurrencyGate::new(),
        }
    }

    /// The Redis key holding `key`'s places.
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{{{}:{}}}:#inflight", self.prefix, key.len(), key)
    }

    /// Waits until fewer than `max` places of `key` are held in every process, then holds one.
    /// Cancel-safe: the permit exists before the first attempt, so a future dropped at any
    /// point (even after the script took a place but before its answer arrived) releases
    /// whatever it may hold.
    ///
    /// # Errors
    /// [`LimitError::Redis`] when Redis cannot be reached.
    pub async fn acquire(&self, key: &str, max: u32) -> Result<SharedPermit, LimitError> {
        let max = max.max(1);
        let local = self.local.acquire(key, max).await;
        let mut permit = SharedPermit {
            local: Some(local),
            connection: self.connection.clone(),
            redis_key: self.redis_key(key),
            holder: format!("{:032x}", rand::thread_rng().r#gen::<u128>()),
        };
        let lease_ms = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
        loop {
            let taken: i64 = self
                .take
                .key(&permit.redis_key)
                .arg(max)
                .arg(lease_ms)
                .arg(&permit.holder)
                .invoke_async(&mut permit.connection)
                .await
                .map_err(LimitError::Redis)?;
            if taken == 1 {
                return Ok(permit);
            }
            let pause = rand::thread_rng().gen_range(10..=30);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    /// Places of `key` held now in every process (live leases).
    ///
    /// # Errors
    /// [`LimitError::Redis`] when Redis cannot be reached.
    pub async fn in_flight(&self, key: &str) -> Result<u32, LimitError> {
        let mut connection = self.connection.clone();
        let (secs, micros): (u64, u64) = redis::cmd("TIME")
            .query_async(&mut connection)
            .await
            .map_err(LimitError::Redis)?;
        let now_ms = secs * 1000 + micros / 1000;
        redis::cmd("ZCOUNT")
            .arg(self.redis_key(key))
            .arg(format!("({now_ms}"))
            .arg("+inf")
            .query_async(&mut connection)
            .await
            .map_err(LimitError::Redis)
    }
}

impl Drop for SharedPermit {
    /// Removes the holder from Redis (a no-op when the place was never taken), then gives the
    /// process's place to its next waiter.
    fn drop(&mut self) {
        // Without a runtime (a permit dropped at shutdown) the lease frees the place.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut connection = self.connection.clone();
        let key = std::mem::take(&mut self.redis_key);
        let holder = std::mem::take(&mut self.holder);
        let local = self.local.take();
        runtime.spawn(async move {
            let removed: Result<i64, _> = redis::cmd("ZREM")
                .arg(&key)
                .arg(&holder)
                .query_async(&mut connection)
                .await;
            // A failed release only keeps the place until its lease ends.
            drop(removed);
            drop(local);
        });
    }
}
