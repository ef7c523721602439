//! [`RedisLimiter`]: token buckets and sliding-window logs in Redis, shared by every Crosswalk
//! process. Each operation is one Lua script, so it is atomic across processes, and reads time
//! from the Redis server (`TIME`), so processes with skewed clocks agree.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{Client, Script};

use crate::local::full_refill;
use crate::{
    BucketKind, BucketSpec, BucketStatus, Decision, LimitError, Limiter, Observation, Take, Ticket,
    merge_takes,
};

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
-- Sliding windows are sorted sets: one member per granted token, scored by its stamp in
-- microseconds. Members are kept for two windows (observe looks back), then dropped.
local function us(n)
  return string.format('%d', n)
end
local function sw_prune(key, every, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', us(now - 2 * every))
end
local function sw_counting_at(key, every, at)
  return redis.call('ZCOUNT', key, '(' .. us(at - every), '+inf')
end
local function sw_touch(key, every)
  redis.call('PEXPIRE', key, math.ceil(2 * every / 1000) + 1000)
end
";

/// KEYS: one per bucket. ARGV: the ticket, then per bucket
/// `kind (0 token bucket, 1 sliding window), capacity, refill_tokens, refill_every_us, cost`.
/// Returns `{1, 0}` when granted, `{0, wait_us}` otherwise (nothing written).
const ACQUIRE: &str = r"
local now = now_us()
local ticket = ARGV[1]
local tokens, ts, wait = {}, {}, 0
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 5
  local kind, cap, refill, every, cost = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]),
    tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  if kind == 1 then
    sw_prune(KEYS[i], every, now)
    local excess = sw_counting_at(KEYS[i], every, now) + cost - cap
    if excess > 0 then
      -- Once the `excess` oldest counting members have aged out, the rest plus `cost` fit.
      local oldest = redis.call('ZRANGEBYSCORE', KEYS[i], '(' .. us(now - every), '+inf',
        'WITHSCORES', 'LIMIT', excess - 1, 1)
      local w = tonumber(oldest[2]) + every - now
      if w > wait then wait = w end
    end
  else
    tokens[i], ts[i] = load(KEYS[i], cap, refill, every, now)
    local deficit = cost - tokens[i]
    if deficit > EPSILON then
      local w = (ts[i] - now) + time_for(deficit, refill, every)
      if w > wait then wait = w end
    end
  end
end
if wait > 0 then return {0, wait} end
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 5
  local kind, cap, refill, every, cost = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]),
    tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  if kind == 1 then
    for j = 1, cost do
      redis.call('ZADD', KEYS[i], us(now), ticket .. ':' .. j)
    end
    sw_touch(KEYS[i], every)
  else
    save(KEYS[i], math.max(0, tokens[i] - cost), ts[i], cap, refill, every, now)
  end
end
return {1, 0}
";

/// The operations that follow a vendor's answer, shared by the single-purpose scripts and
/// [`COMPLETE`]. Both status functions return `remaining, reset_us` (until full, or until no
/// member of a window counts).
const AFTER: &str = r"
local function sw_settle(key, every, cost, ticket, now)
  for j = 1, cost do
    redis.call('ZADD', key, us(now), ticket .. ':' .. j)
  end
  sw_touch(key, every)
end
local function sw_observe(key, cap, every, remaining, reset, ago, nonce, now)
  if ago > every then ago = every end
  sw_prune(key, every, now)
  local ours = cap - sw_counting_at(key, every, now - ago)
  if ours < 0 then ours = 0 end
  if remaining >= ours then return 0 end
  local at = now
  if reset >= 0 and reset < every then at = now - every + reset end
  for j = 1, ours - remaining do
    redis.call('ZADD', key, us(at), nonce .. ':' .. j)
  end
  sw_touch(key, every)
  return 1
end
local function tb_observe(key, cap, refill, every, remaining, reset, full, now)
  local tokens, ts = load(key, cap, refill, every, now)
  if remaining >= tokens then return 0 end
  if reset >= 0 then
    local from = now + math.min(reset, full)
    if from > ts then ts = from end
  end
  save(key, remaining, ts, cap, refill, every, now)
  return 1
end
local function sw_status(key, cap, every, now)
  local used = sw_counting_at(key, every, now)
  local reset = 0
  if used > 0 then
    local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    reset = tonumber(newest[2]) + every - now
  end
  return math.max(0, cap - used), reset
end
local function tb_status(key, cap, refill, every, now)
  local tokens, ts = load(key, cap, refill, every, now)
  local reset = 0
  if cap - tokens > EPSILON then
    reset = (ts - now) + time_for(cap - tokens, refill, every)
  end
  return math.floor(tokens + EPSILON), reset
end
";

/// KEYS: one per sliding window. ARGV: the ticket, then per window `refill_every_us, cost`.
/// Re-stamps the ticket's members now (adding those that aged out).
const SETTLE: &str = r"
local now = now_us()
for i = 1, #KEYS do
  sw_settle(KEYS[i], tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]), ARGV[1], now)
end
return 1
";

/// KEYS: the window. ARGV: `capacity, refill_every_us, remaining, reset_us (-1 when unknown),
/// sent_ago_us, nonce`. Returns 1 when synthetic members were added.
const OBSERVE_WINDOW: &str = r"
return sw_observe(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], now_us())
";

/// KEYS: the window. ARGV: `capacity, refill_every_us`. Returns `{remaining, reset_us}`;
/// writes nothing.
const STATUS_WINDOW: &str = r"
local remaining, reset = sw_status(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), now_us())
return {remaining, reset}
";

/// KEYS: the bucket. ARGV: `capacity, refill_tokens, refill_every_us, remaining, reset_us`
/// (`-1` when unknown) `, full_refill_us`. Returns 1 when the estimate was lowered.
const OBSERVE: &str = r"
return tb_observe(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), now_us())
";

/// KEYS: the bucket. ARGV: `capacity, refill_tokens, refill_every_us`.
/// Returns `{remaining (rounded down), reset_us}`; writes nothing.
const STATUS: &str = r"
local remaining, reset = tb_status(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), now_us())
return {remaining, reset}
";

/// Settle, observations and status in one script. KEYS: the windows to settle, then one per
/// observation, then the reported bucket if any. ARGV: `ticket, n_settle, n_observe,
/// has_report`, then per window settled `refill_every_us, cost`, per observation `kind,
/// capacity, refill_tokens, refill_every_us, remaining, reset_us, full_refill_us, sent_ago_us`,
/// and for the report `kind, capacity, refill_tokens, refill_every_us`.
/// Returns `{remaining, reset_us}`, or `{-1, -1}` without a report.
const COMPLETE: &str = r"
local now = now_us()
local ticket = ARGV[1]
local n_settle, n_observe, has_report = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local a = 4
for i = 1, n_settle do
  sw_settle(KEYS[i], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ticket, now)
  a = a + 2
end
for i = 1, n_observe do
  local key = KEYS[n_settle + i]
  local kind, cap, refill, every = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]),
    tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local remaining, reset, full, ago = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6]),
    tonumber(ARGV[a + 7]), tonumber(ARGV[a + 8])
  if kind == 1 then
    sw_observe(key, cap, every, remaining, reset, ago, ticket .. ':o' .. i, now)
  else
    tb_observe(key, cap, refill, every, remaining, reset, full, now)
  end
  a = a + 8
end
if has_report == 0 then return {-1, -1} end
local key = KEYS[n_settle + n_observe + 1]
local kind, cap, refill, every = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]),
  tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
local remaining, reset
if kind == 1 then
  remaining, reset = sw_status(key, cap, every, now)
else
  remaining, reset = tb_status(key, cap, refill, every, now)
end
return {remaining, reset}
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
    settle: Script,
    observe_window: Script,
    status_window: Script,
    complete: Script,
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
        let script = |body: &str| Script::new(&format!("{PRELUDE}{AFTER}{body}"));
        Ok(Self {
            connection,
            prefix: DEFAULT_PREFIX.to_owned(),
            acquire: script(ACQUIRE),
            observe: script(OBSERVE),
            status: script(STATUS),
            settle: script(SETTLE),
            observe_window: script(OBSERVE_WINDOW),
            status_window: script(STATUS_WINDOW),
            complete: script(COMPLETE),
        })
    }

    /// A concurrency cap on the same Redis and prefix; a place left by a dead process frees
    /// itself after `lease`, which must outlast the longest request.
    pub fn gate(&self, lease: Duration) -> crate::RedisGate {
        crate::RedisGate::new(self.connection.clone(), self.prefix.clone(), lease)
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

    /// The Redis key of a bucket of either kind: a sliding window's sorted set is kept apart
    /// from a token bucket's hash of the same id (`#w` appended), so a changed kind never
    /// meets a value of the wrong type.
    fn bucket_key(&self, key: &str, bucket: &BucketSpec) -> String {
        let mut redis_key = self.redis_key(key, &bucket.id);
        if bucket.kind == BucketKind::SlidingWindow {
            redis_key.push_str("#w");
        }
        redis_key
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
    async fn try_acquire_as(
        &self,
        key: &str,
        takes: &[Take<'_>],
        ticket: Ticket,
    ) -> Result<Decision, LimitError> {
        let takes = merge_takes(takes)?;
        if takes.is_empty() {
            return Ok(Decision::Granted);
        }
        let mut invocation = self.acquire.prepare_invoke();
        invocation.arg(ticket.as_u64().to_string());
        for take in &takes {
            invocation
                .key(self.bucket_key(key, take.bucket))
                .arg(kind_number(take.bucket))
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

    async fn settle(
        &self,
        key: &str,
        takes: &[Take<'_>],
        ticket: Ticket,
    ) -> Result<(), LimitError> {
        let takes = merge_takes(takes)?;
        let windows: Vec<&Take<'_>> = takes
            .iter()
            .filter(|take| take.bucket.kind == BucketKind::SlidingWindow)
            .collect();
        if windows.is_empty() {
            return Ok(());
        }
        let mut invocation = self.settle.prepare_invoke();
        invocation.arg(ticket.as_u64().to_string());
        for take in windows {
            invocation
                .key(self.bucket_key(key, take.bucket))
                .arg(every_us(take.bucket))
                .arg(take.cost);
        }
        let mut connection = self.connection.clone();
        let _: i64 = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(LimitError::Redis)?;
        Ok(())
    }

    async fn observe(
        &self,
        key: &str,
        bucket: &BucketSpec,
        remaining: u32,
        reset_in: Option<Duration>,
        sent_ago: Duration,
    ) -> Result<(), LimitError> {
        bucket.validate()?;
        let reset = reset_in.map_or(-1, |d| i64::try_from(micros(d)).unwrap_or(i64::MAX));
        let mut connection = self.connection.clone();
        if bucket.kind == BucketKind::SlidingWindow {
            let _added: i64 = self
                .observe_window
                .key(self.bucket_key(key, bucket))
                .arg(bucket.capacity)
                .arg(every_us(bucket))
                .arg(remaining)
                .arg(reset)
                .arg(micros(sent_ago))
                .arg(Ticket::new().as_u64().to_string())
                .invoke_async(&mut connection)
                .await
                .map_err(LimitError::Redis)?;
            return Ok(());
        }
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
        if bucket.kind == BucketKind::SlidingWindow {
            let reply: Vec<i64> = self
                .status_window
                .key(self.bucket_key(key, bucket))
                .arg(bucket.capacity)
                .arg(every_us(bucket))
                .invoke_async(&mut connection)
                .await
                .map_err(LimitError::Redis)?;
            return status_of(bucket, reply);
        }
        let reply: Vec<i64> = self
            .status
            .key(self.redis_key(key, &bucket.id))
            .arg(bucket.capacity)
            .arg(bucket.refill_tokens)
            .arg(every_us(bucket))
            .invoke_async(&mut connection)
            .await
            .map_err(LimitError::Redis)?;
        status_of(bucket, reply)
    }

    async fn complete(
        &self,
        key: &str,
        takes: &[Take<'_>],
        ticket: Ticket,
        observations: &[Observation<'_>],
        report: Option<&BucketSpec>,
    ) -> Result<Option<BucketStatus>, LimitError> {
        let takes = merge_takes(takes)?;
        for seen in observations {
            seen.bucket.validate()?;
        }
        if let Some(bucket) = report {
            bucket.validate()?;
        }
        let windows: Vec<&Take<'_>> = takes
            .iter()
            .filter(|take| take.bucket.kind == BucketKind::SlidingWindow)
            .collect();
        if windows.is_empty() && observations.is_empty() && report.is_none() {
            return Ok(None);
        }
        let mut invocation = self.complete.prepare_invoke();
        invocation
            .arg(ticket.as_u64().to_string())
            .arg(windows.len())
            .arg(observations.len())
            .arg(u8::from(report.is_some()));
        for take in windows {
            invocation
                .key(self.bucket_key(key, take.bucket))
                .arg(every_us(take.bucket))
                .arg(take.cost);
        }
        for seen in observations {
            let reset = seen
                .reset_in
                .map_or(-1, |d| i64::try_from(micros(d)).unwrap_or(i64::MAX));
            invocation
                .key(self.bucket_key(key, seen.bucket))
                .arg(kind_number(seen.bucket))
                .arg(seen.bucket.capacity)
                .arg(seen.bucket.refill_tokens)
                .arg(every_us(seen.bucket))
                .arg(seen.remaining)
                .arg(reset)
                .arg(micros(full_refill(seen.bucket)))
                .arg(micros(seen.sent_ago));
        }
        if let Some(bucket) = report {
            invocation
                .key(self.bucket_key(key, bucket))
                .arg(kind_number(bucket))
                .arg(bucket.capacity)
                .arg(bucket.refill_tokens)
                .arg(every_us(bucket));
        }
        let mut connection = self.connection.clone();
        let reply: Vec<i64> = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(LimitError::Redis)?;
        match report {
            Some(bucket) => Ok(Some(status_of(bucket, reply)?)),
            None => Ok(None),
        }
    }
}

fn kind_number(bucket: &BucketSpec) -> u8 {
    match bucket.kind {
        BucketKind::TokenBucket => 0,
        BucketKind::SlidingWindow => 1,
    }
}

/// A `{remaining, reset_us}` reply as a status of `bucket`.
fn status_of(bucket: &BucketSpec, reply: Vec<i64>) -> Result<BucketStatus, LimitError> {
    let (remaining, reset) = pair(reply)?;
    Ok(BucketStatus {
        remaining: u32::try_from(remaining.max(0)).unwrap_or(bucket.capacity),
        capacity: bucket.capacity,
        reset_in: duration_us(reset),
    })
}
