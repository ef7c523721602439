//! Binding a request to its connection: the connection row, its connector, its opened
//! credentials, discovered fields (cached in the store), and sending planned requests.

use chrono::Utc;
use connector::{
    Connector, DiscoveredField, PlannedRequest, ReadError, RequestContext, VendorResponse,
    fields_binding,
};
use std::sync::{Arc, Mutex};

use provider_http::credentials::CredentialsError;
use provider_http::oauth::OAuthError;
use provider_http::{Credentials, SendError};
use serde_json::Value;
use store::{Connection, ConnectionId, ConnectionStatus};

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// A connection ready to call its vendor.
pub struct Bound {
    /// The connection as bound (id, environment, provider never change).
    pub connection: Connection,
    /// The effective connector: the base file with the environment's and the connection's
    /// overrides applied.
    pub connector: Connector,
    /// The override layers applied, for provenance.
    pub overrides: Vec<(connector::OverrideLayer, Value)>,
    scheme: String,
    /// The latest row and opened secrets; replaced when a refresh happens mid-request.
    current: Mutex<(Connection, Value)>,
    /// How long this call may wait for the vendor budget (token buckets and retries).
    wait_budget: std::time::Duration,
    /// The general bucket's status after this call's last vendor answer.
    last_status: Mutex<Option<rate_limit::BucketStatus>>,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("connection", &self.connection.id)
            .field("provider", &self.connector.id())
            .finish_non_exhaustive()
    }
}

/// Turns a transport failure into an API error.
fn send_error(error: SendError) -> ApiError {
    match error {
        SendError::Timeout(_) => ApiError::Upstream {
            code: "upstream_timeout",
            detail: error.to_string(),
        },
        SendError::Connect(_) | SendError::TooLarge => ApiError::Upstream {
            code: "upstream_unavailable",
            detail: error.to_string(),
        },
        SendError::HostNotAllowed(_) | SendError::InvalidUrl(_) => ApiError::BadRequest {
            code: "host_not_allowed",
            field: None,
            detail: error.to_string(),
        },
        SendError::Auth(_) => ApiError::Internal(anyhow::Error::new(error)),
    }
}

/// Turns a credentials failure into an API error.
fn credentials_error(error: CredentialsError) -> ApiError {
    match error {
        CredentialsError::ReauthRequired => ApiError::ReauthRequired,
        CredentialsError::NoOAuthApp(provider) => ApiError::BadRequest {
            code: "oauth_app_missing",
            field: None,
            detail: format!(
                "the environment has no OAuth app for `{provider}` (PUT /environment/oauth-apps/{provider})"
            ),
        },
        CredentialsError::OAuth(OAuthError::Transport(detail)) => ApiError::Upstream {
            code: "upstream_unavailable",
            detail: format!("the token endpoint cannot be reached: {detail}"),
        },
        CredentialsError::OAuth(OAuthError::Refused(answer)) => ApiError::Upstream {
            code: "token_refresh_failed",
            detail: format!("the token endpoint refused the refresh ({})", answer.status),
        },
        other => ApiError::Internal(anyhow::Error::new(other)),
    }
}

/// The connector a connection runs with: the base with the environment's and the connection's
/// current overrides (read per request, so a change is effective at once), compiled once per
/// override versions and cached.
async fn effective_connector(
    state: &AppState,
    connection: &Connection,
    base: Connector,
) -> Result<(Connector, Vec<(connector::OverrideLayer, Value)>), ApiError> {
    let environment_scope = store::OverrideScope::environment(
        connection.environment_id.clone(),
        connection.provider.clone(),
    );
    let connection_scope = store::OverrideScope::connection(
        connection.environment_id.clone(),
        connection.provider.clone(),
        connection.id.clone(),
    );
    let environment = state.store.current_override(&environment_scope).await?;
    let own = state.store.current_override(&connection_scope).await?;
    let mut layers = Vec::new();
    let mut cache_key = format!("{}:{}", connection.environment_id, connection.provider);
    if let Some(version) = &environment
        && let Some(document) = &version.document
    {
        layers.push((connector::OverrideLayer::Environment, document.clone()));
        cache_key.push_str(&format!(":e{}", version.version));
    }
    if let Some(version) = &own
        && let Some(document) = &version.document
    {
        layers.push((connector::OverrideLayer::Connection, document.clone()));
        cache_key.push_str(&format!(":c{}:{}", connection.id, version.version));
    }
    if layers.is_empty() {
        return Ok((base, layers));
    }
    if let Some(cached) = state
        .effective
        .lock()
        .expect("never poisoned")
        .get(&cache_key)
    {
        return Ok((cached.clone(), layers));
    }
    let refs: Vec<(connector::OverrideLayer, &Value)> =
        layers.iter().map(|(layer, doc)| (*layer, doc)).collect();
    let effective = base.with_layers(&refs).map_err(|error| {
        crate::override_check::request_error(&base, environment.as_ref(), own.as_ref(), &error)
    })?;
    let mut cache = state.effective.lock().expect("never poisoned");
    if cache.len() > 10_000 {
        cache.clear();
    }
    cache.insert(cache_key, effective.clone());
    Ok((effective, layers))
}

/// Loads the connection `connection_id` of the caller's environment, with fresh credentials.
///
/// # Errors
/// 404 when it is not the caller's; `reauth_required` when the end user must connect again.
pub async fn bind(
    state: &AppState,
    caller: &Caller,
    connection_id: &str,
) -> Result<Bound, ApiError> {
    let id = ConnectionId::parse(connection_id)
        .map_err(|_| ApiError::not_found(format!("connection `{connection_id}` does not exist")))?;
    let connection = state
        .store
        .get_connection(&caller.environment_id, &id)
        .await
        .map_err(|error| match error {
            store::StoreError::NotFound => {
                ApiError::not_found(format!("connection `{connection_id}` does not exist"))
            }
            other => other.into(),
        })?;
    match connection.status {
        ConnectionStatus::Active => {}
        ConnectionStatus::NeedsReauth => return Err(ApiError::ReauthRequired),
        other => {
            return Err(ApiError::BadRequest {
                code: "connection_inactive",
                field: Some("connection_id".to_owned()),
                detail: format!("connection `{connection_id}` is `{}`", other.as_str()),
            });
        }
    }
    let base = state
        .connectors
        .get(&connection.provider)
        .cloned()
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "connector `{}` of connection `{connection_id}` is not loaded",
                connection.provider
            ))
        })?;
    let (connector, overrides) = effective_connector(state, &connection, base).await?;
    let scheme = connection
        .account
        .get("auth_scheme")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| connector.scheme_name(None).map(str::to_owned))
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("connection has no auth scheme")))?;
    let (fresh, secrets) = state
        .tokens
        .fresh(connection.clone(), &connector, false)
        .await
        .map_err(credentials_error)?;
    Ok(Bound {
        connection,
        connector,
        overrides,
        scheme,
        current: Mutex::new((fresh, secrets)),
        wait_budget: state.default_wait_budget,
        last_status: Mutex::new(None),
    })
}

/// The token buckets a `resource.method` request takes from, with their costs.
fn bucket_takes(connector: &Connector, uses: &str) -> Vec<(rate_limit::BucketSpec, u32)> {
    let Some(limits) = connector.file().rate_limits.as_ref() else {
        return Vec::new();
    };
    let (resource, method) = uses.split_once('.').unwrap_or((uses, ""));
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
        .map(|bucket| (bucket_spec(bucket), bucket.cost.max(1)))
        .collect()
}

/// The limiter's view of a bucket a connector declares.
fn bucket_spec(bucket: &connector::file::Bucket) -> rate_limit::BucketSpec {
    let mut spec = rate_limit::BucketSpec::new(
        bucket.id.clone(),
        bucket.capacity,
        bucket.refill(),
        std::time::Duration::from_millis(bucket.refill_every_ms),
    );
    spec.kind = match bucket.kind {
        connector::file::BucketKind::TokenBucket => rate_limit::BucketKind::TokenBucket,
        connector::file::BucketKind::SlidingWindow => rate_limit::BucketKind::SlidingWindow,
    };
    spec
}

/// Whether a bucket covers every request (the one vendor "remaining" headers describe).
fn is_general(connector: &Connector, bucket_id: &str) -> bool {
    connector
        .file()
        .rate_limits
        .as_ref()
        .and_then(|limits| limits.buckets.iter().find(|bucket| bucket.id == bucket_id))
        .is_some_and(|bucket| {
            bucket.applies_to.is_empty()
                || bucket
                    .applies_to
                    .iter()
                    .any(|matcher| matcher.resource == "*" && matcher.method == "*")
        })
}

impl Bound {
    /// This call may wait this long for the vendor budget (token buckets and retries).
    pub fn with_wait_budget(mut self, budget: std::time::Duration) -> Bound {
        self.wait_budget = budget;
        self
    }

    /// Lowers the local estimate of the general buckets to what the vendor's headers report.
    /// What the vendor's rate-limit headers say is left: `(remaining, reset_in)`.
    fn vendor_view(&self, response: &VendorResponse) -> Option<(u32, Option<std::time::Duration>)> {
        let headers = self
            .connector
            .file()
            .rate_limits
            .as_ref()?
            .headers
            .as_ref()?;
        let remaining = headers
            .remaining
            .as_deref()
            .and_then(|name| response.header(name))
            .and_then(|value| value.trim().parse::<u32>().ok())?;
        let now = chrono::Utc::now();
        let reset_in = match (headers.reset.as_deref(), headers.reset_format) {
            (Some(name), Some(format)) => response.header(name).and_then(|value| {
                provider_http::resilience::retry_after::parse_reset(value, format, now)
            }),
            _ => headers
                .window
                .as_deref()
                .and_then(|name| response.header(name))
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(std::time::Duration::from_millis),
        };
        Some((remaining, reset_in))
    }

    /// After a vendor call: settles the grant's sliding-window entries, lowers the general
    /// buckets to what the vendor's headers report, and keeps the general bucket's status for
    /// the RateLimit headers — one limiter round trip.
    async fn after_call(
        &self,
        state: &AppState,
        wanted: &[rate_limit::Take<'_>],
        ticket: Option<rate_limit::Ticket>,
        response: Option<&VendorResponse>,
        sent_ago: std::time::Duration,
    ) {
        let view = response.and_then(|response| self.vendor_view(response));
        let observations: Vec<rate_limit::Observation<'_>> = match view {
            Some((remaining, reset_in)) => wanted
                .iter()
                .filter(|take| is_general(&self.connector, &take.bucket.id))
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
        let outcome = state
            .limiter
            .complete(
                self.connection.id.as_str(),
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
                tracing::warn!(connection_id = %self.connection.id, error = %error, "rate-limit bookkeeping after a vendor call failed");
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
            .find(|bucket| is_general(&self.connector, &bucket.id) && !bucket.daily)?;
        Some((bucket_spec(bucket), bucket))
    }

    /// Records a `connection.quota_warning` event the first time the vendor's daily allowance
    /// passes 80% and 90% (once per level and day, across processes: the event log is checked).
    async fn track_daily_quota(&self, state: &AppState, response: &VendorResponse) {
        let Some((used, limit)) = self.connector.daily_quota(response) else {
            return;
        };
        let percent = used.saturating_mul(100) / limit;
        let level: u8 = match percent {
            90.. => 90,
            80..=89 => 80,
            _ => 0,
        };
        let key = self.connection.id.to_string();
        {
            let mut levels = state.quota_levels.lock().expect("never poisoned");
            let known = levels.entry(key.clone()).or_insert(0);
            if level <= *known {
                // Usage fell back (a new day): warn again when it climbs.
                if level == 0 {
                    *known = 0;
                }
                return;
            }
            *known = level;
        }
        let kind = "connection.quota_warning";
        let since = chrono::Utc::now() - chrono::Duration::hours(24);
        let already = match state
            .store
            .list_events(
                &self.connection.environment_id,
                Some(&self.connection.id),
                Some(kind),
            )
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
            environment_id: self.connection.environment_id.clone(),
            connection_id: Some(self.connection.id.clone()),
            kind: kind.to_owned(),
            payload: serde_json::json!({"provider": self.connector.id(), "level": level, "used": used, "limit": limit}),
        };
        match state.store.insert_event(event).await {
            Ok(_) => {
                tracing::warn!(connection_id = %key, level, used, limit, "daily vendor quota passed a warning level")
            }
            Err(error) => {
                tracing::warn!(connection_id = %key, error = %error, "cannot record a quota event")
            }
        }
    }

    /// IETF `RateLimit-Policy` and `RateLimit` headers describing the vendor budget left for
    /// this connection in its general bucket (the first that covers every request).
    pub async fn rate_limit_headers(&self, state: &AppState) -> Vec<(&'static str, String)> {
        let Some((spec, bucket)) = self.report_bucket() else {
            return Vec::new();
        };
        // The status kept after this call's last vendor answer, else a fresh reading.
        let kept = *self.last_status.lock().expect("never poisoned");
        let status = match kept {
            Some(status) => status,
            None => match state
                .limiter
                .status(self.connection.id.as_str(), &spec)
                .await
            {
                Ok(status) => status,
                Err(_) => return Vec::new(),
            },
        };
        let window_secs = (bucket.refill_every_ms as f64 / 1000.0).ceil().max(1.0) as u64;
        let reset_secs = status.reset_in.as_secs_f64().ceil() as u64;
        vec![
            (
                "ratelimit-policy",
                format!("\"{}\";q={};w={window_secs}", bucket.id, bucket.refill()),
            ),
            (
                "ratelimit",
                format!("\"{}\";r={};t={reset_secs}", bucket.id, status.remaining),
            ),
        ]
    }

    /// The connection's current non-secret fields.
    pub fn account(&self) -> Value {
        self.current
            .lock()
            .expect("never poisoned")
            .0
            .account
            .clone()
    }

    async fn send_once(
        &self,
        state: &AppState,
        request: PlannedRequest,
    ) -> Result<VendorResponse, SendError> {
        let (account, secrets) = {
            let current = self.current.lock().expect("never poisoned");
            (current.0.account.clone(), current.1.clone())
        };
        let credentials = Credentials {
            scheme: &self.scheme,
            secrets: &secrets,
            account: &account,
        };
        state
            .provider
            .send(&self.connector, &credentials, request)
            .await
    }

    /// One attempt: sends, and when the vendor says the token expired (an error rule with
    /// `refresh_and_retry`) refreshes once and resends.
    async fn attempt(
        &self,
        state: &AppState,
        request: &PlannedRequest,
    ) -> Result<Result<VendorResponse, SendError>, ApiError> {
        let response = match self.send_once(state, request.clone()).await {
            Ok(response) => response,
            Err(error) => return Ok(Err(error)),
        };
        let expired = self
            .connector
            .classify(&response)
            .is_some_and(|error| error.action == connector::ErrorAction::RefreshAndRetry);
        // Only an expiry signal makes the scheme matter (rendering it is not free).
        let is_oauth = || {
            self.connector
                .oauth2(&self.scheme, &self.connection.account)
                .ok()
                .flatten()
                .is_some()
        };
        if !(expired && is_oauth()) {
            return Ok(Ok(response));
        }
        let seen = self.current.lock().expect("never poisoned").0.clone();
        let (fresh, secrets) = state
            .tokens
            .fresh(seen, &self.connector, true)
            .await
            .map_err(credentials_error)?;
        *self.current.lock().expect("never poisoned") = (fresh, secrets);
        Ok(self.send_once(state, request.clone()).await)
    }

    /// Sends a planned request with this connection's credentials, through the connection's
    /// circuit breaker, retrying throttles (after the vendor's `Retry-After` or reset header,
    /// or exponential backoff with full jitter) and — for requests safe to repeat (`read`, or
    /// GET/PUT/DELETE) — transient failures, within the retry budget.
    ///
    /// # Errors
    /// `circuit_open` while the vendor keeps failing for this connection; 502/504 problems when
    /// the vendor cannot be reached; `reauth_required` when a refresh is refused. A vendor error
    /// answer that is not retried is returned as a response, for the connector to classify.
    pub async fn send(
        &self,
        state: &AppState,
        request: PlannedRequest,
        read: bool,
    ) -> Result<VendorResponse, ApiError> {
        use provider_http::resilience::{Outcome, RetryDecision, decide, wait_from_response};
        let idempotent = read
            || matches!(
                request.http_method,
                connector::HttpMethod::Get
                    | connector::HttpMethod::Put
                    | connector::HttpMethod::Delete
            );
        let key = self.connection.id.as_str();
        let started = tokio::time::Instant::now();
        let declared_headers = self
            .connector
            .file()
            .rate_limits
            .as_ref()
            .and_then(|limits| limits.headers.clone());
        let takes = bucket_takes(&self.connector, &request.uses);
        let max_concurrency = self
            .connector
            .file()
            .rate_limits
            .as_ref()
            .and_then(|limits| limits.max_concurrency);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let permit = state
                .breaker
                .check(key, state.clock.now())
                .map_err(|open| ApiError::CircuitOpen {
                    retry_after: open.retry_in,
                })?;
            let wanted: Vec<rate_limit::Take<'_>> = takes
                .iter()
                .map(|(bucket, cost)| rate_limit::Take::new(bucket, *cost))
                .collect();
            let mut ticket = None;
            if !takes.is_empty() {
                let budget = self.wait_budget.saturating_sub(started.elapsed());
                match rate_limit::acquire(state.limiter.as_ref(), key, &wanted, budget).await {
                    Ok(acquired) => ticket = Some(acquired.ticket),
                    Err(rate_limit::LimitError::WouldExceedBudget { retry_after }) => {
                        permit.record(Outcome::Neutral, state.clock.now());
                        return Err(ApiError::Throttled {
                            retry_after,
                            provider: None,
                        });
                    }
                    Err(other) => {
                        permit.record(Outcome::Neutral, state.clock.now());
                        return Err(ApiError::Internal(anyhow::Error::new(other)));
                    }
                }
            }
            let granted_at = tokio::time::Instant::now();
            let slot = match max_concurrency {
                Some(max) => match state.gate.acquire(key, max).await {
                    Ok(slot) => Some(slot),
                    Err(error) => {
                        permit.record(Outcome::Neutral, state.clock.now());
                        return Err(ApiError::Internal(anyhow::Error::new(error)));
                    }
                },
                None => None,
            };
            let result = self.attempt(state, &request).await;
            drop(slot);
            // The vendor has counted the request by now (or never will): sliding windows count
            // it from here.
            let answer = match &result {
                Ok(Ok(answer)) => Some(answer),
                _ => None,
            };
            if !takes.is_empty() {
                self.after_call(state, &wanted, ticket, answer, granted_at.elapsed())
                    .await;
            }
            if let Some(answer) = answer {
                self.track_daily_quota(state, answer).await;
            }
            let result = match result {
                Ok(result) => result,
                Err(error) => {
                    permit.record(Outcome::Neutral, state.clock.now());
                    return Err(error);
                }
            };
            let (response, error_action) = match result {
                Ok(response) => {
                    let classified = self.connector.classify(&response);
                    permit.record(Outcome::of_answer(classified.as_ref()), state.clock.now());
                    let action = classified.map(|error| error.action);
                    (Ok(response), action)
                }
                Err(error) => {
                    permit.record(Outcome::of_send_error(&error), state.clock.now());
                    let action = matches!(error, SendError::Timeout(_) | SendError::Connect(_))
                        .then_some(connector::ErrorAction::Retry);
                    (Err(error), action)
                }
            };
            let Some(action) = error_action else {
                return response.map_err(send_error);
            };
            let retryable = match action {
                connector::ErrorAction::RateLimited => true,
                connector::ErrorAction::Retry => idempotent,
                _ => false,
            };
            if !retryable {
                return response.map_err(send_error);
            }
            let hint = response.as_ref().ok().and_then(|answer| {
                wait_from_response(answer, declared_headers.as_ref(), chrono::Utc::now())
            });
            let decision = decide(&state.retry, attempt, action, hint, &mut rand::thread_rng());
            match decision {
                RetryDecision::RetryAfter(wait)
                    if started.elapsed() + wait <= state.retry.max_wait =>
                {
                    tracing::info!(
                        connection_id = %self.connection.id,
                        provider = self.connector.id(),
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "retrying vendor call"
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    return match response {
                        Ok(answer) if action == connector::ErrorAction::RateLimited => {
                            Err(ApiError::Throttled {
                                retry_after: hint.unwrap_or(state.retry.backoff.base),
                                provider: self.connector.classify(&answer),
                            })
                        }
                        other => other.map_err(send_error),
                    };
                }
            }
        }
    }

    /// The request context of a unified call on `object`, with discovered fields bound.
    ///
    /// # Errors
    /// Fails when discovery is needed and the vendor refuses it.
    pub async fn context(
        &self,
        state: &AppState,
        object: &str,
    ) -> Result<RequestContext, ApiError> {
        let fields = self.fields(state, object).await?;
        Ok(self.context_with(&fields))
    }

    /// The request context of a unified call with `fields`, discovered already, bound.
    pub fn context_with(&self, fields: &[DiscoveredField]) -> RequestContext {
        RequestContext {
            account: self.account(),
            fields: fields_binding(fields),
            ..RequestContext::default()
        }
    }

    /// Marks the discovered fields of `object` stale, so the next call discovers them again.
    pub async fn forget_fields(&self, state: &AppState, object: &str) {
        let cache_key = format!("{}:{object}", self.connector.file().meta.revision);
        let stale = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        if let Err(error) = state
            .store
            .put_discovered_fields(
                &self.connection.id,
                &cache_key,
                &serde_json::json!([]),
                stale,
            )
            .await
        {
            tracing::warn!(connection_id = %self.connection.id, error = %error, "cannot mark discovered fields stale");
        } else {
            tracing::info!(connection_id = %self.connection.id, object, "vendor fields changed: discovery will run again");
        }
    }

    /// Discovered fields of `object`: from the store while fresh, else from the vendor.
    pub async fn fields(
        &self,
        state: &AppState,
        object: &str,
    ) -> Result<Vec<DiscoveredField>, ApiError> {
        let Some(ttl_secs) = self.connector.discovery_ttl_secs(object) else {
            return Ok(Vec::new());
        };
        let cache_key = format!("{}:{object}", self.connector.file().meta.revision);
        if let Some(fields) = self.cached_fields(state, &cache_key, ttl_secs).await? {
            return Ok(fields);
        }
        // Single flight: the first caller discovers, the others wait and read its result.
        let flight_key = format!("{}:{cache_key}", self.connection.id);
        let flight = Arc::clone(
            state
                .discoveries
                .lock()
                .expect("never poisoned")
                .entry(flight_key.clone())
                .or_default(),
        );
        let result = {
            let _turn = flight.lock().await;
            match self.cached_fields(state, &cache_key, ttl_secs).await {
                Ok(Some(fields)) => Ok(fields),
                Ok(None) => self.discover(state, object, &cache_key).await,
                Err(error) => Err(error),
            }
        };
        let mut flights = state.discoveries.lock().expect("never poisoned");
        // The map's entry and ours: nobody else waits, so the entry can go.
        if Arc::strong_count(&flight) == 2 {
            flights.remove(&flight_key);
        }
        drop(flights);
        result
    }

    /// The connection's discovered fields of `cache_key` when the store holds them fresh.
    async fn cached_fields(
        &self,
        state: &AppState,
        cache_key: &str,
        ttl_secs: u64,
    ) -> Result<Option<Vec<DiscoveredField>>, ApiError> {
        let Some(cached) = state
            .store
            .get_discovered_fields(&self.connection.id, cache_key)
            .await?
        else {
            return Ok(None);
        };
        let age = Utc::now().signed_duration_since(cached.fetched_at);
        if age.num_seconds() < 0 || (age.num_seconds() as u64) >= ttl_secs {
            return Ok(None);
        }
        Ok(serde_json::from_value::<Vec<DiscoveredField>>(cached.fields).ok())
    }

    /// Asks the vendor for `object`'s fields and stores them under `cache_key`.
    async fn discover(
        &self,
        state: &AppState,
        object: &str,
        cache_key: &str,
    ) -> Result<Vec<DiscoveredField>, ApiError> {
        let ctx = RequestContext {
            account: self.account(),
            page_size: 1,
            ..RequestContext::default()
        };
        let Some(plan) = self
            .connector
            .plan_discovery(object, &ctx)
            .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?
        else {
            return Ok(Vec::new());
        };
        let response = self.send(state, plan, true).await?;
        let fields = self
            .connector
            .read_discovery(object, &response)
            .map_err(read_error)?;
        let stored =
            serde_json::to_value(&fields).map_err(|error| ApiError::Internal(error.into()))?;
        state
            .store
            .put_discovered_fields(&self.connection.id, cache_key, &stored, Utc::now())
            .await?;
        Ok(fields)
    }
}

/// Turns an engine read error into an API error.
pub fn read_error(error: ReadError) -> ApiError {
    match error {
        ReadError::Provider(provider) => ApiError::Provider(provider),
        other => ApiError::Internal(anyhow::Error::new(other)),
    }
}
