//! [`LocalLimiter`]: token buckets in this process's memory, for a single Crosswalk process and
//! for tests. Time comes from a [`Clock`], so tests drive refill by hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::{
    BucketSpec, BucketStatus, Clock, Decision, LimitError, Limiter, Take, TokioClock, merge_takes,
};

/// Token shortfalls below this are rounding noise, not a reason to wait.
pub(crate) const EPSILON: f64 = 1e-6;

/// Entries are swept (full buckets dropped) once the map reaches this size, then twice the
/// surviving size.
const FIRST_SWEEP: usize = 1024;

/// In-process token buckets: a `Mutex<HashMap<(key, bucket id), state>>`.
///
/// Tokens are `f64` and refill continuously at `refill_tokens / refill_every`. A bucket that is
/// full is indistinguishable from one never used, so full entries are dropped from time to time
/// and memory stays proportional to the buckets in use. Not shared between processes: use
/// [`crate::RedisLimiter`] when several processes call the same vendor.
#[derive(Debug)]
pub struct LocalLimiter {
    clock: Arc<dyn Clock>,
    state: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    map: HashMap<(String, String), State>,
    next_sweep: usize,
}

#[derive(Debug, Clone, Copy)]
struct State {
    tokens: f64,
    /// When `tokens` was computed; may lie in the future while refill is paused by
    /// [`Limiter::observe`].
    at: Instant,
    /// The spec's numbers, kept so sweeping can tell full buckets without the spec.
    rate: Rate,
}

#[derive(Debug, Clone, Copy)]
struct Rate {
    capacity: f64,
    refill_tokens: f64,
    every_nanos: f64,
}

impl Rate {
    fn of(spec: &BucketSpec) -> Self {
        Self {
            capacity: f64::from(spec.capacity),
            refill_tokens: f64::from(spec.refill_tokens),
            every_nanos: spec.refill_every.as_nanos() as f64,
        }
    }

    /// Time for `tokens` to flow in, rounded up to whole nanoseconds. Multiplying first keeps
    /// round numbers exact; a thousandth of a nanosecond of float noise is not rounded up.
    fn time_for(self, tokens: f64) -> Duration {
        let nanos = (tokens * self.every_nanos / self.refill_tokens - 1e-3).ceil();
        Duration::from_nanos(nanos as u64)
    }
}

impl State {
    fn full(spec: &BucketSpec, now: Instant) -> Self {
        Self {
            tokens: f64::from(spec.capacity),
            at: now,
            rate: Rate::of(spec),
        }
    }

    /// The state brought forward to `now` (no change while refill is paused).
    fn refilled(self, now: Instant) -> Self {
        if now <= self.at {
            return self;
        }
        let elapsed = now.duration_since(self.at).as_nanos() as f64;
        let tokens = self.tokens + elapsed * self.rate.refill_tokens / self.rate.every_nanos;
        Self {
            tokens: tokens.min(self.rate.capacity),
            at: now,
            rate: self.rate,
        }
    }

    /// Time until `need` tokens are present (zero if they already are).
    fn wait_for(self, need: f64, now: Instant) -> Duration {
        let deficit = need - self.tokens;
        if deficit <= EPSILON {
            return Duration::ZERO;
        }
        self.at.saturating_duration_since(now) + self.rate.time_for(deficit)
    }

    fn is_full(self) -> bool {
        self.tokens >= self.rate.capacity - EPSILON
    }
}

impl LocalLimiter {
    /// A limiter on tokio's clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(TokioClock))
    }

    /// A limiter reading time from `clock` (a [`crate::ManualClock`] in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            state: Mutex::new(Buckets {
                map: HashMap::new(),
                next_sweep: FIRST_SWEEP,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.state.lock().expect("local limiter mutex poisoned")
    }
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Buckets {
    fn current(&self, key: &str, spec: &BucketSpec, now: Instant) -> State {
        match self.map.get(&(key.to_owned(), spec.id.clone())) {
            // The spec may have changed since the state was stored: its numbers win.
            Some(stored) => {
                let mut state = State {
                    rate: Rate::of(spec),
                    ..*stored
                }
                .refilled(now);
                state.tokens = state.tokens.min(state.rate.capacity);
                state
            }
            None => State::full(spec, now),
        }
    }

    fn store(&mut self, key: &str, spec: &BucketSpec, state: State, now: Instant) {
        self.map.insert((key.to_owned(), spec.id.clone()), state);
        if self.map.len() >= self.next_sweep {
            self.map.retain(|_, s| !s.refilled(now).is_full());
            self.next_sweep = (self.map.len() * 2).max(FIRST_SWEEP);
        }
    }
}

#[async_trait]
impl Limiter for LocalLimiter {
    async fn try_acquire(&self, key: &str, takes: &[Take<'_>]) -> Result<Decision, LimitError> {
        let takes = merge_takes(takes)?;
        let now = self.clock.now();
        let mut buckets = self.lock();
        let current: Vec<State> = takes
            .iter()
            .map(|t| buckets.current(key, t.bucket, now))
            .collect();
        let wait = takes
            .iter()
            .zip(&current)
            .map(|(t, s)| s.wait_for(f64::from(t.cost), now))
            .max()
            .unwrap_or(Duration::ZERO);
        if !wait.is_zero() {
            return Ok(Decision::Wait(wait));
        }
        for (take, state) in takes.iter().zip(current) {
            let after = State {
                tokens: (state.tokens - f64::from(take.cost)).max(0.0),
                ..state
            };
            buckets.store(key, take.bucket, after, now);
        }
        Ok(Decision::Granted)
    }

    async fn observe(
        &self,
        key: &str,
        bucket: &BucketSpec,
        remaining: u32,
        reset_in: Option<Duration>,
    ) -> Result<(), LimitError> {
        bucket.validate()?;
        let now = self.clock.now();
        let mut buckets = self.lock();
        let state = buckets.current(key, bucket, now);
        let remaining = f64::from(remaining);
        if remaining >= state.tokens {
            return Ok(());
        }
        let mut at = state.at;
        if let Some(reset_in) = reset_in {
            let refill_from = now + reset_in.min(full_refill(bucket));
            at = at.max(refill_from);
        }
        buckets.store(
            key,
            bucket,
            State {
                tokens: remaining,
                at,
                ..state
            },
            now,
        );
        Ok(())
    }

    async fn status(&self, key: &str, bucket: &BucketSpec) -> Result<BucketStatus, LimitError> {
        bucket.validate()?;
        let now = self.clock.now();
        let state = self.lock().current(key, bucket, now);
        let reset_in = if state.is_full() {
            Duration::ZERO
        } else {
            state.wait_for(state.rate.capacity, now)
        };
        Ok(BucketStatus {
            remaining: (state.tokens + EPSILON).floor().max(0.0) as u32,
            capacity: bucket.capacity,
            reset_in,
        })
    }
}

/// Time for `spec` to refill from empty to full.
pub(crate) fn full_refill(spec: &BucketSpec) -> Duration {
    let rate = Rate::of(spec);
    rate.time_for(rate.capacity)
}
