//! The one path every vendor request of a connection takes, whoever makes it (the unified API,
//! the proxy, discovery, a sync worker, an MCP tool): fresh credentials (refreshed on the
//! vendor's expiry signal), the connection's circuit breaker, its rate-limit buckets and
//! concurrency gate, retries within the caller's wait budget, the limiter's bookkeeping after
//! each answer, and daily-quota events.
//!
//! [`Sender`] is built once per process and shared; [`Sender::session`] opens a
//! [`Session`] for one connection and one caller (its wait budget), holding the connection's
//! opened credentials in memory for as long as the call lasts. Each vendor answer is classified
//! once, here, and the classification travels with the answer ([`Answer`]). Left out: which
//! connector applies to a connection (the caller resolves base and override layers) and what
//! the answer means for unified records.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector::{Connector, ErrorAction, PlannedRequest, ProviderError, VendorResponse};
use serde_json::Value;
use store::{Connection, Store};

use crate::credentials::{CredentialsError, TokenManager};
use crate::resilience::{
    CircuitBreaker, Outcome, RetryDecision, RetryPolicy, decide, wait_from_response,
};
use crate::{Clock, Credentials, ProviderClient, SendError};

/// How many connections' daily-quota warning levels a process remembers; a forgotten one is
/// looked up in the event log again, so the bound costs a store read, never a duplicate event.
const QUOTA_LEVELS_CAPACITY: usize = 10_000;
/// What a caller that found every place in flight taken for its whole wait budget is told to
/// wait before trying again.
const SLOT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why a vendor call failed before the vendor could answer it, or was given up on.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The vendor keeps failing for this connection; calls are paused.
    #[error("the circuit of this connection is open for another {retry_after:?}")]
    CircuitOpen { retry_after: Duration },
    /// The budget (ours or the vendor's) is exhausted for longer than the caller may wait.
    #[error("the vendor budget is exhausted; retry after {retry_after:?}")]
    Throttled {
        retry_after: Duration,
        /// The vendor's throttle answer, when it was the vendor that said so.
        provider: Option<ProviderError>,
    },
    /// The request could not be sent or its answer read.
    #[error(transparent)]
    Send(#[from] SendError),
    /// Fresh credentials could not be had.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The rate limiter failed (e.g. Redis is unreachable).
    #[error("rate limiter: {0}")]
    Limiter(#[from] rate_limit::LimitError),
}

/// A vendor answer with its classification by the connector's error rules (`None`: success).
#[derive(Debug, Clone)]
pub struct Answer {
    pub response: VendorResponse,
    pub error: Option<ProviderError>,
}

impl Answer {
    /// The connector's verdict and the answer, classified once.
    pub fn classify(connector: &Connector, response: VendorResponse) -> Answer {
        let error = connector.classify(&response);
        Answer { response, error }
    }
}

/// The daily-quota warning level (0, 80, 90) last seen per connection in this process, for the
/// most recently active connections only.
struct QuotaLevels(Mutex<lru::LruCache<String, u8>>);

impl QuotaLevels {
    fn new(capacity: usize) -> QuotaLevels {
        QuotaLevels(Mutex::new(lru::LruCache::new(
            std::num::NonZeroUsize::new(capacity.max(1)).expect("a non-zero capacity"),
        )))
    }

    /// Records `level` for `key`; true when it climbed past the level last seen. A level of 0
    /// (usage fell back: a new day) resets, so the next climb warns again. A connection
    /// forgotten by the cache warns again at most once, and the event log dedups that.
    fn climbed(&self, key: &str, level: u8) -> bool {
        let mut levels = self.0.lock().expect("never poisoned");
        let known = levels.get_or_insert_mut(key.to_owned(), || 0);
        if level <= *known {
            if level == 0 {
                *known = 0;
            }
            return false;
        }
        *known = level;
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().expect("never poisoned").len()
    }
}

/// The daily allowance `(used, limit)` the vendor last reported, per connection, for the most
/// recently active connections only (a forgotten one is learnt again from its next answer).
struct DailySeen(Mutex<lru::LruCache<String, (u64, u64)>>);

impl DailySeen {
    fn new(capacity: usize) -> DailySeen {
        DailySeen(Mutex::new(lru::LruCache::new(
            std::num::NonZeroUsize::new(capacity.max(1)).expect("a non-zero capacity"),
        )))
    }

    fn record(&self, key: &str, quota: (u64, u64)) {
        self.0
            .lock()
            .expect("never poisoned")
            .put(key.to_owned(), quota);
    }

    fn get(&self, key: &str) -> Option<(u64, u64)> {
        self.0.lock().expect("never poisoned").get(key).copied()
    }
}

/// Runs a job somewhere other than the calling async worker and resolves when it has run
/// (or failed). A [`Session`] given one ([`Session::with_offload`]) classifies vendor answers
/// by the connector's error rules (JSONata a tenant may override) through it.
pub type Offload = Arc<
    dyn Fn(
            Box<dyn FnOnce() + Send>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// Runs `job` through `offload` when there is one (off the async workers, under the evaluation
/// pool's caps), here otherwise, and returns its result; `None` when the offload dropped the
/// job without running it (the pool is closed).
pub async fn run_offloaded<T, F>(offload: Option<&Offload>, job: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let Some(offload) = offload else {
        return Some(job());
    };
    let slot: Arc<Mutex<Option<T>>> = Arc::default();
    let out = Arc::clone(&slot);
    offload(Box::new(move || {
        let result = job();
        *out.lock().expect("never poisoned") = Some(result);
    }))
    .await;
    slot.lock().expect("never poisoned").take()
}

/// Everything a process's vendor calls share. Cheap to clone.
#[derive(Clone)]
pub struct Sender {
    client: ProviderClient,
    tokens: Arc<TokenManager>,
    limiter: Arc<dyn rate_limit::Limiter>,
    gate: rate_limit::Gate,
    breaker: CircuitBreaker,
    clock: Clock,
    retry: RetryPolicy,
    store: Arc<dyn Store>,
    /// The daily-quota warning level (0, 80, 90) last seen per connection in this process.
    quota_levels: Arc<QuotaLevels>,
    /// The daily allowance `(used, limit)` the vendor last reported per connection, for the
    /// RateLimit headers of calls that have not heard from the vendor themselves.
    daily_seen: Arc<DailySeen>,
    default_wait_budget: Duration,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("retry", &self.retry)
            .field("default_wait_budget", &self.default_wait_budget)
            .finish_non_exhaustive()
    }
}

/// What a [`Sender`] is built from.
pub struct SenderParts {
    pub client: ProviderClient,
    pub tokens: Arc<TokenManager>,
    pub limiter: Arc<dyn rate_limit::Limiter>,
    pub gate: rate_limit::Gate,
    pub breaker: CircuitBreaker,
    pub clock: Clock,
    pub retry: RetryPolicy,
    pub store: Arc<dyn Store>,
    /// How long a call may wait for the vendor budget when its caller does not say.
    pub default_wait_budget: Duration,
}

impl Sender {
    /// A sender over `parts`.
    pub fn new(parts: SenderParts) -> Sender {
        Sender {
            client: parts.client,
            tokens: parts.tokens,
            limiter: parts.limiter,
            gate: parts.gate,
            breaker: parts.breaker,
            clock: parts.clock,
            retry: parts.retry,
            store: parts.store,
            quota_levels: Arc::new(QuotaLevels::new(QUOTA_LEVELS_CAPACITY)),
            daily_seen: Arc::new(DailySeen::new(QUOTA_LEVELS_CAPACITY)),
            default_wait_budget: parts.default_wait_budget,
        }
    }

    /// The circuit breaker (tests read its configuration).
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The clock the breaker reads (tests move it forward).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The token manager (Connect and the worker refresh through it).
    pub fn tokens(&self) -> &Arc<TokenManager> {
        &self.tokens
    }

    /// Opens a session on `connection` with `connector` (already resolved with its override
    /// layers): fresh credentials in memory, and `wait_budget` (the default when `None`) for
    /// every wait of the calls made through it. With `offload`, the connector's JSONata over
    /// vendor and token answers (error rules, `capture`, `invalid_grant_when`) runs through it
    /// (see [`Session::with_offload`]), the refresh this may make included.
    ///
    /// # Errors
    /// [`CallError::Credentials`] when the connection's credentials cannot be opened or
    /// refreshed (`ReauthRequired` when the provider refused them for good).
    pub async fn session(
        &self,
        connection: Connection,
        connector: Connector,
        wait_budget: Option<Duration>,
        offload: Option<Offload>,
    ) -> Result<Session, CallError> {
        let scheme = connection
            .account
            .get("auth_scheme")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| connector.scheme_name(None).map(str::to_owned))
            .ok_or_else(|| {
                CallError::Credentials(CredentialsError::Connector(
                    "the connection has no auth scheme".to_owned(),
                ))
            })?;
        let (fresh, secrets) = self
            .tokens
            .fresh(connection, &connector, false, offload.as_ref())
            .await?;
        Ok(Session {
            sender: self.clone(),
            connector,
            scheme,
            current: Mutex::new(Current {
                connection: fresh,
                secrets: OpenedSecrets(secrets),
            }),
            wait_budget: wait_budget.unwrap_or(self.default_wait_budget),
            last_status: Mutex::new(None),
            offload,
        })
    }
}

/// A connection's opened credentials; never printed.
struct OpenedSecrets(Value);

impl std::fmt::Debug for OpenedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenedSecrets([redacted])")
    }
}

/// The latest connection row and its opened secrets; replaced when a refresh happens.
#[derive(Debug)]
struct Current {
    connection: Connection,
    secrets: OpenedSecrets,
}

/// One caller's calls on one connection.
pub struct Session {
    sender: Sender,
    connector: Connector,
    scheme: String,
    current: Mutex<Current>,
    wait_budget: Duration,
    /// The general bucket's status after this session's last vendor answer.
    last_status: Mutex<Option<rate_limit::BucketStatus>>,
    /// Where answers are classified; on the calling task when `None`.
    offload: Option<Offload>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.current.lock().expect("never poisoned");
        f.debug_struct("Session")
            .field("connection", &current.connection.id)
            .field("provider", &self.connector.id())
            .field("wait_budget", &self.wait_budget)
            .finish_non_exhaustive()
    }
}

/// The token buckets a `resource.method` request takes from, with their costs: a bucket's own
/// `cost` times the method's declared `cost`.
fn bucket_takes(connector: &Connector, uses: &str) -> Vec<(rate_limit::BucketSpec, u32)> {
    let Some(limits) = connector.file().rate_limits.as_ref() else {
        return Vec::new();
    };
    let (resource, method) = uses.split_once('.').unwrap_or((uses, ""));
    // A method's declared weight multiplies every bucket's cost (1 when undeclared).
    let method_cost = connector.method_cost(uses);
    limits
        .buckets
        .iter()
        .filter(|bucket| {
            bucket.applies_to.is_empty()
                || bucket.applies_to.iter().any(|matcher| {
                    (matcher.resource == "*" || matcher.resource == resource)
                        && (matcher.method == "*" || matcher.method == method)
                })
        })
        .map(|bucket| {
            let cost = bucket.cost.max(1).saturating_mul(method_cost.max(1));
            (bucket_spec(bucket), cost)
        })
        .collect()
}

/// The limiter's view of a bucket a connector declares.
pub fn bucket_spec(bucket: &connector::file::Bucket) -> rate_limit::BucketSpec {
    let mut spec = rate_limit::BucketSpec::new(
        bucket.id.clone(),
        bucket.capacity,
        bucket.refill(),
        Duration::from_millis(bucket.refill_every_ms),
    );
    spec.kind = match bucket.kind {
        connector::file::BucketKind::TokenBucket => rate_limit::BucketKind::TokenBucket,
        connector::file::BucketKind::SlidingWindow => rate_limit::BucketKind::SlidingWindow,
    };
    spec
}

/// Whether a bucket covers every request (the one vendor "remaining" headers describe).
fn is_general(bucket: &connector::file::Bucket) -> bool {
    bucket.applies_to.is_empty()
        || bucket
            .applies_to
            .iter()
            .any(|matcher| matcher.resource == "*" && matcher.method == "*")
}

impl Session {
    /// The connector this session calls with.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// The connection as last read (after a refresh, the refreshed row).
    pub fn connection(&self) -> Connection {
        self.current
            .lock()
            .expect("never poisoned")
            .connection
            .clone()
    }

    /// The connection's current non-secret fields.
    pub fn account(&self) -> Value {
        self.current
            .lock()
            .expect("never poisoned")
            .connection
            .account
            .clone()
    }

    fn connection_key(&self) -> String {
        self.current
            .lock()
            .expect("never poisoned")
            .connection
            .id
            .to_string()
    }

    /// Sends `request` once with the current credentials.
    async fn send_once(&self, request: PlannedRequest) -> Result<VendorResponse, SendError> {
        let (account, secrets) = {
            let current = self.current.lock().expect("never poisoned");
            (
                current.connection.account.clone(),
                current.secrets.0.clone(),
            )
        };
        let credentials = Credentials {
            scheme: &self.scheme,
            secrets: &secrets,
            account: &account,
        };
        self.sender
            .client
            .send(&self.connector, &credentials, request)
            .await
    }

    /// The session classifying vendor answers through `offload` instead of on the calling task.
    #[must_use]
    pub fn with_offload(mut self, offload: Offload) -> Session {
        self.offload = Some(offload);
        self
    }

    /// The answer classified by the connector's error rules, and the daily quota it reports,
    /// through the offload when set.
    async fn classified(&self, response: VendorResponse) -> (Answer, Option<(u64, u64)>) {
        let Some(offload) = &self.offload else {
            let quota = self.connector.daily_quota(&response);
            return (Answer::classify(&self.connector, response), quota);
        };
        type Verdict = (Option<ProviderError>, Option<(u64, u64)>);
        let response = Arc::new(response);
        let verdict: Arc<Mutex<Option<Verdict>>> = Arc::default();
        let job = {
            let (connector, response, verdict) = (
                self.connector.clone(),
                Arc::clone(&response),
                Arc::clone(&verdict),
            );
            Box::new(move || {
                let found = (
                    connector.classify(&response),
                    connector.daily_quota(&response),
                );
                *verdict.lock().expect("never poisoned") = Some(found);
            })
        };
        offload(job).await;
        let verdict = verdict.lock().expect("never poisoned").take();
        // The job has ended (run or dropped), so the answer is ours again.
        let response = Arc::try_unwrap(response).unwrap_or_else(|shared| (*shared).clone());
        match verdict {
            Some((error, quota)) => (Answer { response, error }, quota),
            // The job could not run: classify here rather than lose the verdict.
            None => {
                let quota = self.connector.daily_quota(&response);
                (Answer::classify(&self.connector, response), quota)
            }
        }
    }

    /// Whether the connection authenticates with OAuth (only then can a refresh help).
    fn is_oauth(&self) -> bool {
        let account = self.account();
        self.connector
            .oauth2(&self.scheme, &account)
            .ok()
            .flatten()
            .is_some()
    }

    /// Refreshes the connection's token because the vendor said it expired.
    async fn refresh(&self) -> Result<(), CallError> {
        let seen = self.connection();
        let (fresh, secrets) = self
            .sender
            .tokens
            .fresh(seen, &self.connector, true, self.offload.as_ref())
            .await?;
        let mut current = self.current.lock().expect("never poisoned");
        current.connection = fresh;
        current.secrets = OpenedSecrets(secrets);
        Ok(())
    }

    /// Makes sure the session holds a fresh `name` token (a further token of the connection's
    /// OAuth 2.0 scheme, which the request's method names); with `force`, a new one (the vendor
    /// refused the one held), leaving the scheme's own token as it is.
    async fn fresh_named(&self, name: &str, force: bool) -> Result<(), CallError> {
        let seen = self.connection();
        let (fresh, secrets) = self
            .sender
            .tokens
            .fresh_named(
                seen,
                &self.connector,
                &self.scheme,
                name,
                force,
                self.offload.as_ref(),
            )
            .await?;
        let mut current = self.current.lock().expect("never poisoned");
        current.connection = fresh;
        current.secrets = OpenedSecrets(secrets);
        Ok(())
    }

    /// Sends `request` with this connection's credentials, through its circuit breaker and
    /// buckets, retrying throttles (after the vendor's `Retry-After` or reset header, or
    /// exponential backoff with full jitter) and, for requests safe to repeat (`read`, or
    /// GET/PUT/DELETE), transient failures, as long as the waits fit in the session's wait
    /// budget. When the vendor says the token expired (a rule with `refresh_and_retry`), the
    /// token is refreshed once and the request sent again as a new attempt, taking its own
    /// place in the buckets (the vendor counts both).
    ///
    /// # Errors
    /// See [`CallError`]. A vendor error answer that is not retried is an `Ok` answer with its
    /// classification, for the caller to interpret.
    pub async fn send(&self, request: PlannedRequest, read: bool) -> Result<Answer, CallError> {
        let sender = &self.sender;
        let idempotent = read
            || matches!(
                request.http_method,
                connector::HttpMethod::Get
                    | connector::HttpMethod::Put
                    | connector::HttpMethod::Delete
            );
        let key = self.connection_key();
        let started = tokio::time::Instant::now();
        let longest_wait = sender.retry.max_wait.min(self.wait_budget);
        let limits = self.connector.file().rate_limits.as_ref();
        let declared_headers = limits.and_then(|limits| limits.headers.clone());
        let takes = bucket_takes(&self.connector, &request.uses);
        let max_concurrency = limits.and_then(|limits| limits.max_concurrency);
        let mut attempt = 0u32;
        let mut refreshed = false;
        // A method authenticating with a further token of the scheme gets it first (asked for
        // when missing or due), and a refusal refreshes that token only.
        let named = self
            .connector
            .method_token(&request.uses)
            .map(str::to_owned);
        if let Some(name) = &named {
            self.fresh_named(name, false).await?;
        }
        loop {
            attempt += 1;
            let permit = sender
                .breaker
                .check(&key, sender.clock.now())
                .map_err(|open| CallError::CircuitOpen {
                    retry_after: open.retry_in,
                })?;
            let wanted: Vec<rate_limit::Take<'_>> = takes
                .iter()
                .map(|(bucket, cost)| rate_limit::Take::new(bucket, *cost))
                .collect();
            let mut ticket = None;
            if !takes.is_empty() {
                let budget = self.wait_budget.saturating_sub(started.elapsed());
                match rate_limit::acquire(sender.limiter.as_ref(), &key, &wanted, budget).await {
                    Ok(acquired) => ticket = Some(acquired.ticket),
                    Err(rate_limit::LimitError::WouldExceedBudget { retry_after }) => {
                        permit.record(Outcome::Neutral, sender.clock.now());
                        return Err(CallError::Throttled {
                            retry_after,
                            provider: None,
                        });
                    }
                    Err(other) => {
                        permit.record(Outcome::Neutral, sender.clock.now());
                        return Err(CallError::Limiter(other));
                    }
                }
            }
            let granted_at = tokio::time::Instant::now();
            let slot = match max_concurrency {
                // A place in flight is waited for within the caller's budget too.
                Some(max) => {
                    let budget = self.wait_budget.saturating_sub(started.elapsed());
                    match tokio::time::timeout(budget, sender.gate.acquire(&key, max)).await {
                        Ok(Ok(slot)) => Some(slot),
                        Ok(Err(error)) => {
                            permit.record(Outcome::Neutral, sender.clock.now());
                            return Err(CallError::Limiter(error));
                        }
                        Err(_) => {
                            // The bucket's token stays spent: the budget is under-used, never
                            // overrun.
                            if !takes.is_empty() {
                                self.after_call(&key, &wanted, ticket, None, Duration::ZERO)
                                    .await;
                            }
                            permit.record(Outcome::Neutral, sender.clock.now());
                            return Err(CallError::Throttled {
                                retry_after: SLOT_RETRY_AFTER,
                                provider: None,
                            });
                        }
                    }
                }
                None => None,
            };
            let result = self.send_once(request.clone()).await;
            drop(slot);
            // The vendor has counted the request by now (or never will): sliding windows count
            // it from here.
            let (answer, quota) = match result {
                Ok(response) => {
                    let (answer, quota) = self.classified(response).await;
                    (Ok(answer), quota)
                }
                Err(error) => (Err(error), None),
            };
            if !takes.is_empty() {
                self.after_call(
                    &key,
                    &wanted,
                    ticket,
                    answer.as_ref().ok(),
                    granted_at.elapsed(),
                )
                .await;
            }
            if let Some(quota) = quota {
                sender.daily_seen.record(&key, quota);
                self.track_daily_quota(&key, quota).await;
            }
            let (answer, action) = match answer {
                Ok(answer) => {
                    let action = answer.error.as_ref().map(|error| error.action);
                    if action == Some(ErrorAction::RefreshAndRetry) && !refreshed && self.is_oauth()
                    {
                        // Not the vendor failing: the token aged. Refresh and send again.
                        permit.record(Outcome::Neutral, sender.clock.now());
                        match &named {
                            Some(name) => self.fresh_named(name, true).await?,
                            None => self.refresh().await?,
                        }
                        refreshed = true;
                        continue;
                    }
                    permit.record(
                        Outcome::of_answer(&answer.response, answer.error.as_ref()),
                        sender.clock.now(),
                    );
                    (Ok(answer), action)
                }
                Err(error) => {
                    permit.record(Outcome::of_send_error(&error), sender.clock.now());
                    let action = matches!(error, SendError::Timeout(_) | SendError::Connect(_))
                        .then_some(ErrorAction::Retry);
                    (Err(error), action)
                }
            };
            let Some(action) = action else {
                return answer.map_err(CallError::Send);
            };
            let retryable = match action {
                ErrorAction::RateLimited => true,
                ErrorAction::Retry => idempotent,
                _ => false,
            };
            if !retryable {
                return answer.map_err(CallError::Send);
            }
            let hint = answer.as_ref().ok().and_then(|answer| {
                wait_from_response(
                    &answer.response,
                    declared_headers.as_ref(),
                    chrono::Utc::now(),
                )
            });
            let decision = decide(
                &sender.retry,
                attempt,
                action,
                hint,
                &mut rand::thread_rng(),
            );
            match decision {
                RetryDecision::RetryAfter(wait) if started.elapsed() + wait <= longest_wait => {
                    tracing::info!(
                        connection_id = %key,
                        provider = self.connector.id(),
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "retrying vendor call"
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    return match answer {
                        Ok(answer) if action == ErrorAction::RateLimited => {
                            Err(CallError::Throttled {
                                retry_after: hint.unwrap_or(sender.retry.backoff.base),
                                provider: answer.error,
                            })
                        }
                        other => other.map_err(CallError::Send),
                    };
                }
            }
        }
    }

    /// What the vendor's rate-limit headers say is left: `(remaining, reset_in)`.
    fn vendor_view(&self, response: &VendorResponse) -> Option<(u32, Option<Duration>)> {
        let headers = self
            .connector
            .file()
            .rate_limits
            .as_ref()?
            .headers
            .as_ref()?;
        if let Some(structured) = headers
            .structured
            .as_deref()
            .and_then(|name| response.header(name))
            .and_then(crate::resilience::retry_after::parse_structured)
        {
            return Some((structured.remaining, structured.reset_in));
        }
        let remaining = headers
            .remaining
            .as_deref()
            .and_then(|name| response.header(name))
            .and_then(|value| value.trim().parse::<u32>().ok())?;
        let now = chrono::Utc::now();
        let reset_in = match (headers.reset.as_deref(), headers.reset_format) {
            (Some(name), Some(format)) => response
                .header(name)
                .and_then(|value| crate::resilience::retry_after::parse_reset(value, format, now)),
            _ => headers
                .window
                .as_deref()
                .and_then(|name| response.header(name))
                .and_then(|value| {
                    crate::resilience::retry_after::parse_window(value, headers.window_unit)
                }),
        };
        Some((remaining, reset_in))
    }

    /// After a vendor call: settles the grant's sliding-window entries, lowers the general
    /// buckets to what the vendor's headers report, and keeps the general bucket's status for
    /// the RateLimit headers, in one limiter round trip.
    async fn after_call(
        &self,
        key: &str,
        wanted: &[rate_limit::Take<'_>],
        ticket: Option<rate_limit::Ticket>,
        answer: Option<&Answer>,
        sent_ago: Duration,
    ) {
        let view = answer.and_then(|answer| self.vendor_view(&answer.response));
        let limits = self.connector.file().rate_limits.as_ref();
        // Headers of the request's endpoint group describe every bucket it took (daily
        // allowances aside); the others, the general buckets.
        let per_request = limits
            .and_then(|limits| limits.headers.as_ref())
            .is_some_and(|headers| headers.scope == connector::file::HeaderScope::Request);
        let general = |id: &str| {
            limits
                .and_then(|limits| limits.buckets.iter().find(|bucket| bucket.id == id))
                .is_some_and(|bucket| {
                    if per_request {
                        !bucket.daily
                    } else {
                        is_general(bucket)
                    }
                })
        };
        let observations: Vec<rate_limit::Observation<'_>> = match view {
            Some((remaining, reset_in)) => wanted
                .iter()
                .filter(|take| general(&take.bucket.id))
                .map(|take| rate_limit::Observation {
                    bucket: take.bucket,
                    remaining,
                    reset_in,
                    sent_ago,
                })
                .collect(),
            None => Vec::new(),
        };
        let report = self.report_bucket();
        let outcome = self
            .sender
            .limiter
            .complete(
                key,
                wanted,
                ticket.unwrap_or_default(),
                &observations,
                report.as_ref().map(|(spec, _)| spec),
            )
            .await;
        match outcome {
            Ok(Some(status)) => {
                *self.last_status.lock().expect("never poisoned") = Some(status);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(connection_id = %key, error = %error, "rate-limit bookkeeping after a vendor call failed");
            }
        }
    }

    /// The bucket RateLimit headers describe: the first general one that is not daily, with
    /// its declaration.
    fn report_bucket(&self) -> Option<(rate_limit::BucketSpec, &connector::file::Bucket)> {
        let limits = self.connector.file().rate_limits.as_ref()?;
        let bucket = limits
            .buckets
            .iter()
            .find(|bucket| is_general(bucket) && !bucket.daily)?;
        Some((bucket_spec(bucket), bucket))
    }

    /// Records a `connection.quota_warning` event the first time the vendor's daily allowance
    /// passes 80% and 90% (once per level and day, across processes: the event log is checked).
    async fn track_daily_quota(&self, key: &str, (used, limit): (u64, u64)) {
        let percent = used.saturating_mul(100) / limit.max(1);
        let level: u8 = match percent {
            90.. => 90,
            80..=89 => 80,
            _ => 0,
        };
        if !self.sender.quota_levels.climbed(key, level) {
            return;
        }
        let connection = self.connection();
        let kind = "connection.quota_warning";
        let since = chrono::Utc::now() - chrono::Duration::hours(24);
        let store = &self.sender.store;
        let already = match store
            .list_events(&connection.environment_id, Some(&connection.id), Some(kind))
            .await
        {
            Ok(events) => events.iter().any(|event| {
                event.created_at > since
                    && event.payload.get("level").and_then(Value::as_u64) == Some(u64::from(level))
            }),
            Err(error) => {
                tracing::warn!(connection_id = %key, error = %error, "cannot read quota events");
                return;
            }
        };
        if already {
            return;
        }
        let event = store::NewEvent {
            environment_id: connection.environment_id.clone(),
            connection_id: Some(connection.id.clone()),
            kind: kind.to_owned(),
            payload: serde_json::json!({"provider": self.connector.id(), "level": level, "used": used, "limit": limit}),
        };
        match store.insert_event(event).await {
            Ok(_) => {
                tracing::warn!(connection_id = %key, level, used, limit, "daily vendor quota passed a warning level")
            }
            Err(error) => {
                tracing::warn!(connection_id = %key, error = %error, "cannot record a quota event")
            }
        }
    }

    /// IETF `RateLimit-Policy` and `RateLimit` header values (draft-ietf-httpapi-ratelimit-headers)
    /// stating the vendor's policy for this connection and what is left of it: the general
    /// bucket (the first that covers every request), as its quota and window, and the vendor's
    /// daily allowance when the connector reads one from its answers (`daily_quota_expr`).
    pub async fn rate_limit_headers(&self) -> Vec<(&'static str, String)> {
        let mut policies = Vec::new();
        let mut limits = Vec::new();
        if let Some((spec, bucket)) = self.report_bucket() {
            // The status kept after this session's last vendor answer, else a fresh reading.
            let kept = *self.last_status.lock().expect("never poisoned");
            let status = match kept {
                Some(status) => Some(status),
                None => self
                    .sender
                    .limiter
                    .status(&self.connection_key(), &spec)
                    .await
                    .ok(),
            };
            if let Some(status) = status {
                let (quota, window_secs) = policy_of(bucket);
                let reset_secs = status.reset_in.as_secs_f64().ceil() as u64;
                let name = sf_string(&bucket.id);
                policies.push(format!("{name};q={quota};w={window_secs}"));
                limits.push(format!(
                    "{name};r={};t={reset_secs}",
                    status.remaining.min(quota)
                ));
            }
        }
        if let Some((used, limit)) = self.sender.daily_seen.get(&self.connection_key()) {
            policies.push(format!("\"daily\";q={limit};w={DAY_SECS}"));
            limits.push(format!("\"daily\";r={}", limit.saturating_sub(used)));
        }
        if policies.is_empty() {
            return Vec::new();
        }
        vec![
            ("ratelimit-policy", policies.join(", ")),
            ("ratelimit", limits.join(", ")),
        ]
    }
}

/// A day in seconds: the window of a vendor's daily allowance.
const DAY_SECS: u64 = 86_400;

/// A bucket's policy as the vendor states it: `(quota, window in whole seconds)`. A sliding
/// window allows `capacity` requests per window; a token bucket allows its `capacity` at once
/// and gives it back over `capacity / refill` periods, so that is its window.
fn policy_of(bucket: &connector::file::Bucket) -> (u32, u64) {
    let window_ms = match bucket.kind {
        connector::file::BucketKind::SlidingWindow => bucket.refill_every_ms,
        connector::file::BucketKind::TokenBucket => {
            let refill = u64::from(bucket.refill().max(1));
            (u64::from(bucket.capacity).saturating_mul(bucket.refill_every_ms)).div_ceil(refill)
        }
    };
    (bucket.capacity, window_ms.div_ceil(1000).max(1))
}

/// A bucket id as a structured-field String (RFC 9651 § 3.3.3): quoted, with `\` and `"`
/// escaped and anything outside printable ASCII left out.
fn sf_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars().filter(|c| (' '..='~').contains(c)) {
        if character == '"' || character == '\\' {
            quoted.push('\\');
        }
        quoted.push(character);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::{QuotaLevels, bucket_takes};

    #[test]
    fn quota_levels_warn_once_per_climb_and_stay_bounded() {
        let levels = QuotaLevels::new(3);
        assert!(levels.climbed("a", 80));
        assert!(!levels.climbed("a", 80), "the same level warns once");
        assert!(levels.climbed("a", 90));
        assert!(!levels.climbed("a", 80));
        assert!(!levels.climbed("a", 0), "a new day resets");
        assert!(levels.climbed("a", 80), "and the next climb warns again");
        for connection in 0..1_000 {
            levels.climbed(&format!("connection-{connection}"), 80);
        }
        assert_eq!(levels.len(), 3, "only the most recent connections are kept");
    }

    fn connector(method_cost: &str, window_unit: &str) -> Result<connector::Connector, String> {
        let text = format!(
            r#"
schema_version: 1
meta: {{ id: acme, label: Acme, categories: [crm], revision: "1" }}
auth:
  schemes:
    token: {{ kind: bearer, token: "{{{{credentials.token}}}}" }}
http:
  base_url: https://api.acme.test
  allowed_hosts: [api.acme.test]
rate_limits:
  buckets:
    - {{ id: general, capacity: 100, refill_tokens: 10, refill_every_ms: 1000, cost: 2 }}
  headers:
    remaining: X-Left
    window: X-Window
    {window_unit}
resources:
  contacts:
    list: {{ http_method: GET, path: /contacts, records: results {method_cost} }}
    search: {{ http_method: POST, path: /contacts/search, records: results }}
unified:
  crm.contacts:
    list:
      routes:
        - use: contacts.list
      record_mapping: "{{'id': id}}"
"#
        );
        connector::load_connector_from_str("acme.yaml", &text, None).map_err(|e| e.to_string())
    }

    #[test]
    fn a_methods_declared_cost_multiplies_each_buckets_cost() {
        let weighted = connector(", cost: 3", "window_unit: seconds").expect("loads");
        let takes = bucket_takes(&weighted, "contacts.list");
        assert_eq!(takes.len(), 1);
        assert_eq!(takes[0].1, 6, "bucket cost 2 times method cost 3");
        assert_eq!(bucket_takes(&weighted, "contacts.search")[0].1, 2);
    }

    #[test]
    fn a_window_header_must_say_its_unit() {
        let error = connector("", "").expect_err("refused without a unit");
        assert!(error.contains("window_unit"), "{error}");
    }
}
