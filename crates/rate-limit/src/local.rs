//! [`LocalLimiter`]: token buckets and sliding-window logs in this process's memory, for a single
//! Crosswalk process and for tests. Time comes from a [`Clock`], so tests drive refill by hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::{
    BucketKind, BucketSpec, BucketStatus, Clock, Decision, LimitError, Limiter, Take, Ticket,
    TokioClock, merge_takes,
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
    windows: HashMap<(String, String), Window>,
    next_sweep: usize,
}

/// A sliding window's log: one entry per granted token. Entries are kept for two windows, so
/// [`Limiter::observe`] can still see what counted when an answered request was sent.
#[derive(Debug, Clone, Default)]
struct Window {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    at: Instant,
    /// The request's ticket; `None` for grants inferred from the vendor's headers.
    ticket: Option<Ticket>,
}

impl Window {
    /// Drops entries older than two windows.
    fn prune(&mut self, window: Duration, now: Instant) {
        self.entries.retain(|entry| entry.at + window * 2 > now);
    }

    /// Entries still counting at `at` (stamped within the window before it).
    fn counting_at(&self, window: Duration, at: Instant) -> usize {
        self.entries
            .iter()
            .filter(|entry| entry.at + window > at)
            .count()
    }

    /// Time until `cost` more grants fit under `capacity`.
    fn wait_for(&self, spec: &BucketSpec, cost: u32, now: Instant) -> Duration {
        let window = spec.refill_every;
        let mut live: Vec<Instant> = self
            .entries
            .iter()
            .map(|entry| entry.at)
            .filter(|at| *at + window > now)
            .collect();
        let excess = (live.len() + cost as usize).saturating_sub(spec.capacity as usize);
        if excess == 0 {
            return Duration::ZERO;
        }
        live.sort_unstable();
        // Once the `excess` oldest entries have aged out, the rest plus `cost` fit.
        (live[excess - 1] + window).saturating_duration_since(now)
    }
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
                windows: HashMap::new(),
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

    /// The log of a sliding window, pruned to two windows.
    fn window(&mut self, key: &str, spec: &BucketSpec, now: Instant) -> &mut Window {
        let window = self
            .windows
            .entry((key.to_owned(), spec.id.clone()))
            .or_default();
        window.prune(spec.refill_every, now);
        window
    }

    /// Drops empty sliding-window logs once there are many.
    fn sweep_windows(&mut self, now: Instant, longest: Duration) {
        if self.windows.len() >= self.next_sweep {
            self.windows.retain(|_, window| {
                window.prune(longest, now);
                !window.entries.is_empty()
            });
            self.next_sweep = (self.windows.len().max(self.map.len()) * 2).max(FIRST_SWEEP);
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
    async fn try_acquire_as(
        &self,
        key: &str,
        takes: &[Take<'_>],
        ticket: Ticket,
    ) -> Result<Decision, LimitError> {
        let takes = merge_takes(takes)?;
        let now = self.clock.now();
        let mut buckets = self.lock();
        let mut wait = Duration::ZERO;
        let mut current: Vec<Option<State>> = Vec::with_capacity(takes.len());
        for take in &takes {
            let take_wait = match take.bucket.kind {
                BucketKind::TokenBucket => {
                    let state = buckets.current(key, take.bucket, now);
                    current.push(Some(state));
                    state.wait_for(f64::from(take.cost), now)
                }
                BucketKind::SlidingWindow => {
                    current.push(None);
                    buckets
                        .window(key, take.bucket, now)
                        .wait_for(take.bucket, take.cost, now)
                }
            };
            wait = wait.max(take_wait);
        }
        if !wait.is_zero() {
            return Ok(Decision::Wait(wait));
        }
        let mut longest = Duration::ZERO;
        for (take, state) in takes.iter().zip(current) {
            match state {
                Some(state) => {
                    let after = State {
                        tokens: (state.tokens - f64::from(take.cost)).max(0.0),
                        ..state
                    };
                    buckets.store(key, take.bucket, after, now);
                }
                None => {
                    longest = longest.max(take.bucket.refill_every);
                    let window = buckets.window(key, take.bucket, now);
                    for _ in 0..take.cost {
                        window.entries.push(Entry {
                            at: now,
                            ticket: Some(ticket),
                        });
                    }
                }
            }
        }
        if !longest.is_zero() {
            buckets.sweep_windows(now, longest);
        }
        Ok(Decision::Granted)
    }

    async fn settle(
        &self,
        key: &str,
        takes: &[Take<'_>],
        ticket: Ticket,
    ) -> Result<(), LimitError> {
        let takes = merge_takes(takes)?;
        let now = self.clock.now();
        let mut buckets = self.lock();
        for take in takes
            .iter()
            .filter(|take| take.bucket.kind == BucketKind::SlidingWindow)
        {
            let window = buckets.window(key, take.bucket, now);
            let mut found = 0u32;
            for entry in &mut window.entries {
                if entry.ticket == Some(ticket) {
                    entry.at = now;
                    found += 1;
                }
            }
            for _ in found..take.cost {
                window.entries.push(Entry {
                    at: now,
                    ticket: Some(ticket),
                });
            }
        }
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
        let now = self.clock.now();
        let mut buckets = self.lock();
        if bucket.kind == BucketKind::SlidingWindow {
            let span = bucket.refill_every;
            let window = buckets.window(key, bucket, now);
            let sent_at = now.checked_sub(sent_ago.min(span)).unwrap_or(now);
            let counted = u32::try_from(window.counting_at(span, sent_at)).unwrap_or(u32::MAX);
            let ours = bucket.capacity.saturating_sub(counted);
            if remaining >= ours {
                return Ok(());
            }
            // Stamped so that they age out `reset_in` from now.
            let at = match reset_in {
                Some(reset_in) if reset_in < span => {
                    now.checked_sub(span - reset_in).unwrap_or(now)
                }
                _ => now,
            };
            for _ in remaining..ours {
                window.entries.push(Entry { at, ticket: None });
            }
            return Ok(());
        }
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
        if bucket.kind == BucketKind::SlidingWindow {
            let span = bucket.refill_every;
            let mut buckets = self.lock();
            let window = buckets.window(key, bucket, now);
            let live: Vec<Instant> = window
                .entries
                .iter()
                .map(|entry| entry.at)
                .filter(|at| *at + span > now)
                .collect();
            let used = u32::try_from(live.len()).unwrap_or(u32::MAX);
            let reset_in = live.iter().max().map_or(Duration::ZERO, |newest| {
                (*newest + span).saturating_duration_since(now)
            });
            return Ok(BucketStatus {
                remaining: bucket.capacity.saturating_sub(used),
                capacity: bucket.capacity,
                reset_in,
            });
        }
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
