//! [`RedisLimiter`]: token buckets in Redis, shared by every Crosswalk process. Each operation is
//! one Lua script, so it is atomic across processes, and reads time from the Redis server
//! (`TIME`), so processes with skewed clocks agree.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{Client, Script};

use crate::local::full_refill;
use crate::{BucketSpec, BucketStatus, Decision, LimitError, Limiter, Take, merge_takes};

/// The prefix of every Redis key written by [`RedisLimiter::connect`].
pub const DEFAULT_PREFIX: &str = "crosswalk:rl:";

/// Helpers shared by the scripts. State per bucket is a hash `{t: tokens, ts: microseconds}`;
/// `ts` may lie in the future while refill is paused by `observe`. A missing hash is a full
/// bucket, so each hash expires once its bucket would be full again (plus a second).
const PRELUDE: &str = r"
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function time_for(tokens, refill, every)
  return math.ceil(tokens * every / refill - 1e-3)
end
local function load(key, cap, refill, every, now)
  local v = redis.call('HMGET', key, 't', 'ts')
  local tokens = tonumber(v[1])
  local ts = tonumber(v[2])
  if tokens == nil or ts == nil then return cap, now end
  if tokens > cap then tokens = cap end
  if now > ts then
    tokens = math.min(cap, tokens + (now - ts) * refill / every)
    ts = now
  end
  return tokens, ts
end
local function save(key, tokens, ts, cap, refill, every, now)
  redis.call('HSET', key, 't', string.format('%.17g', tokens), 'ts', string.format('%d', ts))
  local full_in = (ts - now) + time_for(cap - tokens, refill, every)
  redis.call('PEXPIRE', key, math.ceil(full_in / 1000) + 1000)
end
local EPSILON = 1e-6
";

/// KEYS: one per bucket. ARGV: per bucket `capacity, refill_tokens, refill_every_us, cost`.
/// Returns `{1, 0}` when granted, `{0, wait_us}` otherwise (nothing written).
const ACQUIRE: &str = r"
local now = now_us()
local tokens, ts, wait = {}, {}, 0
for i = 1, #KEYS do
  local b = (i - 1) * 4
  local cap, refill, every, cost =
    tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  tokens[i], ts[i] = load(KEYS[i], cap, refill, every, now)
  local deficit = cost - tokens[i]
  if deficit > EPSILON then
    local w = (ts[i] - now) + time_for(deficit, refill, every)
    if w > wait then wait = w end
  end
end
if wait > 0 then return {0, wait} end
for i = 1, #KEYS do
  local b = (i - 1) * 4
  local cap, refill, every, cost =
    tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  save(KEYS[i], math.max(0, tokens[i] - cost), ts[i], cap, refill, every, now)
end
return {1, 0}
";

/// KEYS: the bucket. ARGV: `capacity, refill_tokens, refill_every_us, remaining, reset_us`
/// (`-1` when unknown) `, full_refill_us`. Returns 1 when the estimate was lowered.
const OBSERVE: &str = r"
local now = now_us()
local cap, refill, every = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local remaining, reset, full = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local tokens, ts = load(KEYS[1], cap, refill, every, now)
if remaining >= tokens then return 0 end
if reset >= 0 then
  local from = now + math.min(reset, full)
  if from > ts then ts = from end
end
save(KEYS[1], remaining, ts, cap, refill, every, now)
return 1
";

/// KEYS: the bucket. ARGV: `capacity, refill_tokens, refill_every_us`.
/// Returns `{remaining (rounded down), reset_us}`; writes nothing.
const STATUS: &str = r"
local now = now_us()
local cap, refill, every = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, ts = load(KEYS[1], cap, refill, every, now)
local reset = 0
if cap - tokens > EPSILON then
  reset = (ts - now) + time_for(cap - tokens, refill, every)
end
return {math.floor(tokens + EPSILON), reset}
";

/// Token buckets in Redis, safe to share between processes.
///
/// State per `(key, bucket id)` lives in the hash [`RedisLimiter::redis_key`], which expires once
/// the bucket would be full again, so idle connections leave nothing behind. Time comes from the
/// Redis server, with microsecond resolution: waits are rounded up to whole microseconds.
/// The connection reconnects by itself after a failure; calls made meanwhile fail with
/// [`LimitError::Redis`].
#[derive(Clone)]
pub struct RedisLimiter {
    connection: ConnectionManager,
    prefix: String,
    acquire: Script,
    observe: Script,
    status: Script,
}

impl fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Connects to `url` (`redis://host:port/db`) with keys under [`DEFAULT_PREFIX`].
    pub async fn connect(url: &str) -> Result<Self, LimitError> {
        let client = Client::open(url).map_err(LimitError::Redis)?;
        let connection = ConnectionManager::new(client)
            .await
            .map_err(LimitError::Redis)?;
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Ok(Self {
            connection,
            prefix: DEFAULT_PREFIX.to_owned(),
            acquire: script(ACQUIRE),
            observe: script(OBSERVE),
            status: script(STATUS),
        })
    }

    /// The same limiter writing keys under `prefix` instead (e.g. one per deployment, or a random
    /// one per test run). The prefix should not contain `{` or `}`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The Redis key holding the state of `bucket_id` for `key`:
    /// `{prefix}{<len of key>:<key>}:<bucket_id>`. The length makes keys containing `:`
    /// unambiguous, and the braces are a hash tag keeping all buckets of one key in one cluster
    /// slot, as the multi-bucket script needs.
    pub fn redis_key(&self, key: &str, bucket_id: &str) -> String {
        format!("{}{{{}:{}}}:{}", self.prefix, key.len(), key, bucket_id)
    }
}

fn every_us(spec: &BucketSpec) -> u64 {
    u64::try_from(spec.refill_every.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn pair(reply: Vec<i64>) -> Result<(i64, i64), LimitError> {
    match reply.as_slice() {
        [a, b] => Ok((*a, *b)),
        other => Err(LimitError::UnexpectedReply(format!("{other:?}"))),
    }
}

fn duration_us(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn try_acquire(&self, key: &str, takes: &[Take<'_>]) -> Result<Decision, LimitError> {
        let takes = merge_takes(takes)?;
        if takes.is_empty() {
            return Ok(Decision::Granted);
        }
        let mut invocation = self.acquire.prepare_invoke();
        for take in &takes {
            invocation
                .key(self.redis_key(key, &take.bucket.id))
                .arg(take.bucket.capacity)
                .arg(take.bucket.refill_tokens)
                .arg(every_us(take.bucket))
                .arg(take.cost);
        }
        let mut connection = self.connection.clone();
        let reply: Vec<i64> = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(LimitError::Redis)?;
        match pair(reply)? {
            (1, _) => Ok(Decision::Granted),
            (0, wait) => Ok(Decision::Wait(
                duration_us(wait).max(Duration::from_micros(1)),
            )),
            other => Err(LimitError::UnexpectedReply(format!("{other:?}"))),
        }
    }

    async fn observe(
        &self,
        key: &str,
        bucket: &BucketSpec,
        remaining: u32,
        reset_in: Option<Duration>,
    ) -> Result<(), LimitError> {
        bucket.validate()?;
        let reset = reset_in.map_or(-1, |d| i64::try_from(micros(d)).unwrap_or(i64::MAX));
        let mut connection = self.connection.clone();
        let _lowered: i64 = self
            .observe
            .key(self.redis_key(key, &bucket.id))
            .arg(bucket.capacity)
            .arg(bucket.refill_tokens)
            .arg(every_us(bucket))
            .arg(remaining)
            .arg(reset)
            .arg(micros(full_refill(bucket)))
            .invoke_async(&mut connection)
            .await
            .map_err(LimitError::Redis)?;
        Ok(())
    }

    async fn status(&self, key: &str, bucket: &BucketSpec) -> Result<BucketStatus, LimitError> {
        bucket.validate()?;
        let mut connection = self.connection.clone();
        let reply: Vec<i64> = self
            .status
            .key(self.redis_key(key, &bucket.id))
            .arg(bucket.capacity)
            .arg(bucket.refill_tokens)
            .arg(every_us(bucket))
            .invoke_async(&mut connection)
            .await
            .map_err(LimitError::Redis)?;
        let (remaining, reset) = pair(reply)?;
        Ok(BucketStatus {
            remaining: u32::try_from(remaining.max(0)).unwrap_or(bucket.capacity),
            capacity: bucket.capacity,
            reset_in: duration_us(reset),
        })
    }
}
