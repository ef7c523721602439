//! Per-connection rate limiting: token buckets kept in process ([`LocalLimiter`]) or in Redis
//! ([`RedisLimiter`], shared by every Crosswalk process), [`acquire`] to pace a caller until the
//! buckets grant, and a per-key concurrency cap ([`Gate`]: [`ConcurrencyGate`] in the process,
//! [`RedisGate`] across processes).
//!
//! # Model
//!
//! A bucket holds at most `capacity` tokens and refills *continuously* at
//! `refill_tokens / refill_every` tokens per unit of time (fractions count: with 10 tokens per
//! second, 100 ms adds exactly one token). A bucket nobody has touched is full. State is kept per
//! `(key, bucket id)`, where the key is normally a connection id: keys never affect each other.
//!
//! A request takes `cost` tokens from every bucket it matches ([`Take`]); the take is
//! all-or-nothing, so a request refused by one bucket leaves the others untouched.
//!
//! A bucket may instead be a *sliding window* ([`BucketKind::SlidingWindow`]): at most
//! `capacity` grants in any `refill_every` span, the rule of vendors that count requests in a
//! rolling window ("per rolling 10 seconds"). It keeps a log of grant times, so after a burst
//! the budget comes back exactly when the burst's requests age out, not pro rata. Each request
//! holds a [`Ticket`]; [`Limiter::settle`] re-stamps its log entries when the vendor's answer
//! arrives, because the vendor counts a request when it receives it, which is after we grant it:
//! a log stamped at grant time would let the next window's first request reach the vendor while
//! the vendor still counts the old one.
//!
//! Vendors report their own view in response headers; [`Limiter::observe`] lowers our estimate to
//! it (never raises), so Crosswalk slows down when another client spends the same vendor budget.

mod clock;
mod gate;
mod local;
mod redis_gate;
mod redis_limiter;

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

pub use clock::{Clock, ManualClock, TokioClock};
pub use gate::{ConcurrencyGate, Gate, GatePermit, OwnedPermit};
pub use local::LocalLimiter;
pub use redis_gate::{RedisGate, SharedPermit};
pub use redis_limiter::{DEFAULT_PREFIX, RedisLimiter};

/// How a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BucketKind {
    /// Holds up to `capacity` tokens and refills continuously, `refill_tokens` per
    /// `refill_every`.
    #[default]
    TokenBucket,
    /// Grants while fewer than `capacity` tokens were granted in the last `refill_every`
    /// (a log of grant times); `refill_tokens` must equal `capacity`.
    SlidingWindow,
}

/// One token bucket, as declared by a connector's `rate_limits.buckets`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketSpec {
    /// Bucket name, unique within a connector; state is kept per `(key, id)`.
    pub id: String,
    /// How the bucket counts.
    pub kind: BucketKind,
    /// Burst size: the most tokens the bucket holds (a sliding window: grants per window).
    /// Must be at least 1.
    pub capacity: u32,
    /// Tokens added every `refill_every` (continuously, pro rata). Must be at least 1.
    pub refill_tokens: u32,
    /// Refill period (a sliding window: the window). Must be non-zero.
    pub refill_every: Duration,
}

impl BucketSpec {
    /// A bucket holding `capacity` tokens that gains `refill_tokens` every `refill_every`.
    pub fn new(
        id: impl Into<String>,
        capacity: u32,
        refill_tokens: u32,
        refill_every: Duration,
    ) -> Self {
        Self {
            id: id.into(),
            kind: BucketKind::TokenBucket,
            capacity,
            refill_tokens,
            refill_every,
        }
    }

    /// A sliding window granting at most `limit` tokens in any `window`.
    pub fn sliding_window(id: impl Into<String>, limit: u32, window: Duration) -> Self {
        Self {
            id: id.into(),
            kind: BucketKind::SlidingWindow,
            capacity: limit,
            refill_tokens: limit,
            refill_every: window,
        }
    }

    /// Checks the spec can ever refill; every limiter operation calls this first.
    pub fn validate(&self) -> Result<(), LimitError> {
        let reason = if self.capacity == 0 {
            "capacity is 0"
        } else if self.refill_tokens == 0 {
            "refill_tokens is 0"
        } else if self.refill_every.is_zero() {
            "refill_every is 0"
        } else if self.kind == BucketKind::SlidingWindow && self.refill_tokens != self.capacity {
            "a sliding window refills its whole capacity: refill_tokens must equal capacity"
        } else {
            return Ok(());
        };
        Err(LimitError::InvalidBucket {
            bucket: self.id.clone(),
            reason,
        })
    }
}

/// `cost` tokens to take from `bucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Take<'a> {
    pub bucket: &'a BucketSpec,
    pub cost: u32,
}

impl<'a> Take<'a> {
    pub fn new(bucket: &'a BucketSpec, cost: u32) -> Self {
        Self { bucket, cost }
    }
}

/// Answer of [`Limiter::try_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Every bucket had enough tokens; they have been taken.
    Granted,
    /// Nothing was taken. The duration is the earliest time after which every bucket could grant,
    /// assuming nobody else takes from them meanwhile (so retrying then may still be refused).
    Wait(Duration),
}

/// What [`Limiter::status`] reports for `RateLimit-*` response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketStatus {
    /// Tokens left now, rounded down.
    pub remaining: u32,
    /// The bucket's capacity.
    pub capacity: u32,
    /// Time until the bucket is full again (zero when it is full).
    pub reset_in: Duration,
}

/// Names one request's grants in sliding-window logs, so [`Limiter::settle`] can re-stamp them.
/// Random, so tickets of different processes never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(u64);

impl Ticket {
    /// A fresh random ticket.
    pub fn new() -> Self {
        Self(rand::random())
    }

    /// The ticket as a number (in Redis log members).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl Default for Ticket {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`acquire`] returns once granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acquired {
    /// Time spent waiting for the buckets (zero when granted at once).
    pub waited: Duration,
    /// The ticket the grants were logged under; pass it to [`Limiter::settle`] once the vendor
    /// has answered.
    pub ticket: Ticket,
}

/// Why a limiter operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("bucket `{bucket}` is invalid: {reason}")]
    InvalidBucket {
        bucket: String,
        reason: &'static str,
    },
    /// The cost can never be granted: the bucket never holds that many tokens.
    #[error("cost {cost} exceeds capacity {capacity} of bucket `{bucket}`")]
    CostExceedsCapacity {
        bucket: String,
        cost: u32,
        capacity: u32,
    },
    /// [`acquire`] would have had to wait longer than its `max_wait`; nothing was taken.
    #[error("rate limit budget exceeded, retry after {retry_after:?}")]
    WouldExceedBudget { retry_after: Duration },
    #[error("rate limit store failed")]
    Redis(#[source] redis::RedisError),
    #[error("unexpected reply from the rate limit store: {0}")]
    UnexpectedReply(String),
}

/// A store of token buckets, keyed by `(key, bucket id)`.
///
/// Implementations are atomic per call: concurrent callers (tasks, or processes for
/// [`RedisLimiter`]) never together take more tokens than the buckets hold.
#[async_trait]
pub trait Limiter: Send + Sync + Debug {
    /// All-or-nothing: takes `cost` from every bucket of `key` (e.g. a connection id) or none,
    /// logging sliding-window grants under a fresh ticket. Defaults to [`Limiter::try_acquire_as`].
    async fn try_acquire(&self, key: &str, takes: &[Take<'_>]) -> Result<Decision, LimitError> {
        self.try_acquire_as(key, takes, Ticket::new()).await
    }

    /// All-or-nothing: takes `cost` from every bucket of `key` (e.g. a connection id) or none;
    /// sliding-window grants are logged under `ticket` (stamped now).
    ///
    /// Takes naming the same bucket id are added together. An empty `takes` is granted. Fails
    /// with [`LimitError::InvalidBucket`] or [`LimitError::CostExceedsCapacity`] (before touching
    /// any state) when a take could never be granted.
    async fn try_acquire_as(
        &self,
        key: &str,
        takes: &[Take<'_>],
        ticket: Ticket,
    ) -> Result<Decision, LimitError>;

    /// The vendor has answered the request granted under `ticket`: its sliding-window entries
    /// are re-stamped now (re-added if they already aged out), so they count for a whole window
    /// after the vendor received the request. Token buckets are not affected.
    async fn settle(&self, key: &str, takes: &[Take<'_>], ticket: Ticket)
    -> Result<(), LimitError>;

    /// The vendor says only `remaining` requests are left in this bucket until `reset_in`: lower
    /// our estimate to that (never raise it above our own count), so we slow down when another
    /// client shares the vendor budget. `sent_ago` is how long ago the request whose answer
    /// carried the headers was granted: the vendor counted at about that time, which a sliding
    /// window needs to compare like with like.
    ///
    /// Token bucket: when `remaining` is below our current count, the count becomes
    /// `remaining`, and if `reset_in` is given, the bucket stops refilling until then, so at
    /// most `remaining` tokens are granted before the vendor's reset. The pause is clamped to
    /// the time the bucket takes to refill from empty, so a header describing a longer window
    /// than the bucket cannot stall it for longer than one refill of its own. When `remaining`
    /// is at or above our count, nothing changes.
    ///
    /// Sliding window: our count is what was left when that request was sent (entries that aged
    /// out since still count, entries granted since too), so our own traffic can never look
    /// like a deficit. When the vendor reports fewer, the difference is logged as synthetic
    /// grants that age out after `reset_in` (at most one window; a whole window when unknown).
    async fn observe(
        &self,
        key: &str,
        bucket: &BucketSpec,
        remaining: u32,
        reset_in: Option<Duration>,
        sent_ago: Duration,
    ) -> Result<(), LimitError>;

    /// Current tokens left (rounded down) and time until full, for RateLimit response headers.
    async fn status(&self, key: &str, bucket: &BucketSpec) -> Result<BucketStatus, LimitError>;

    /// Everything that follows a vendor's answer, in one step: [`Limiter::settle`] of `ticket`,
    /// [`Limiter::observe`] of each observation, then the [`Limiter::status`] of `report`.
    ///
    /// The default calls the three in turn; [`RedisLimiter`] does it in one round trip, which
    /// matters when every vendor call already costs one for the grant.
    async fn complete(
        &self,
        key: &str,
        takes: &[Take<'_>],
        ticket: Ticket,
        observations: &[Observation<'_>],
        report: Option<&BucketSpec>,
    ) -> Result<Option<BucketStatus>, LimitError> {
        self.settle(key, takes, ticket).await?;
        for seen in observations {
            self.observe(
                key,
                seen.bucket,
                seen.remaining,
                seen.reset_in,
                seen.sent_ago,
            )
            .await?;
        }
        match report {
            Some(bucket) => Ok(Some(self.status(key, bucket).await?)),
            None => Ok(None),
        }
    }
}

/// What a vendor's answer said of one bucket, for [`Limiter::complete`] (the arguments of
/// [`Limiter::observe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation<'a> {
    pub bucket: &'a BucketSpec,
    pub remaining: u32,
    pub reset_in: Option<Duration>,
    pub sent_ago: Duration,
}

/// Takes from `takes` for `key`, sleeping until the buckets grant, as long as the total wait
/// stays within `max_wait`.
///
/// When a [`Decision::Wait`] would push the total past `max_wait`, returns
/// [`LimitError::WouldExceedBudget`] at once (without sleeping) with the wait the limiter
/// reported as `retry_after`; nothing is taken then. Time is read from tokio's clock, so a
/// runtime with paused time advances through the waits instantly.
pub async fn acquire(
    limiter: &dyn Limiter,
    key: &str,
    takes: &[Take<'_>],
    max_wait: Duration,
) -> Result<Acquired, LimitError> {
    let started = tokio::time::Instant::now();
    let ticket = Ticket::new();
    loop {
        match limiter.try_acquire_as(key, takes, ticket).await? {
            Decision::Granted => {
                return Ok(Acquired {
                    waited: started.elapsed(),
                    ticket,
                });
            }
            Decision::Wait(wait) => {
                if started.elapsed().saturating_add(wait) > max_wait {
                    return Err(LimitError::WouldExceedBudget { retry_after: wait });
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Validates every take and merges takes of the same bucket id, keeping first-seen order.
pub(crate) fn merge_takes<'a>(takes: &[Take<'a>]) -> Result<Vec<Take<'a>>, LimitError> {
    let mut merged: Vec<Take<'a>> = Vec::with_capacity(takes.len());
    for take in takes {
        take.bucket.validate()?;
        match merged.iter_mut().find(|m| m.bucket.id == take.bucket.id) {
            Some(existing) => existing.cost = existing.cost.saturating_add(take.cost),
            None => merged.push(*take),
        }
    }
    for take in &merged {
        if take.cost > take.bucket.capacity {
            return Err(LimitError::CostExceedsCapacity {
                bucket: take.bucket.id.clone(),
                cost: take.cost,
                capacity: take.bucket.capacity,
            });
        }
    }
    Ok(merged)
}
