//! The delivery job: one per endpoint, on the store's job queue, run by any worker.
//!
//! A run first moves the environment's outbox into messages (every endpoint's, so a run of any
//! endpoint's job serves them all), then sends the endpoint's due messages, several at once but
//! only the oldest pending one of each record (or connection, for `connection.*` and `sync.*`
//! events), so a record's events arrive in order while records and endpoints go in parallel.
//! Each attempt is signed per the Standard Webhooks specification, sent to the one address that
//! was resolved and checked, without following redirects, within the timeout, and recorded with
//! what follows it (see [`crate::schedule`]). The job then reschedules itself for its next due
//! message, or its poll interval, whichever comes first; a disabled or deleted endpoint ends it
//! (enabling the endpoint queues it again).
//!
//! Runs are safe to repeat: a worker that dies mid-run leaves at most the attempts in flight
//! unrecorded, and those messages are sent again (receivers drop repeats by `webhook-id`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use operations::JobHandler;
use secrets::{Keyring, Zeroizing};
use store::timestamp::Clock;
use store::{
    EnvironmentId, Job, JobOutcome, MessageNext, NewEvent, Store, StoreError, WebhookAttempt,
    WebhookEndpoint, WebhookEndpointId, WebhookMessage,
};

use crate::address::{self, AddressPolicy};
use crate::schedule::{self, Answer, Next};
use crate::signing;

/// How deliveries behave; the operator's `[worker.webhooks]` settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Which addresses deliveries may reach.
    pub addresses: AddressPolicy,
    /// How long an attempt may take, connection included.
    pub timeout: Duration,
    /// How often an idle endpoint's job looks for new events.
    pub poll: Duration,
    /// Messages of one endpoint sent at once.
    pub concurrency: usize,
    /// How long an endpoint may fail every attempt before it is disabled.
    pub disable_after: Duration,
    /// How long one run may send before it yields its worker slot (and is queued again at once).
    pub run_budget: Duration,
}

impl Default for WebhookSettings {
    fn default() -> WebhookSettings {
        WebhookSettings {
            addresses: AddressPolicy::PublicOnly,
            timeout: Duration::from_secs(15),
            poll: Duration::from_secs(2),
            concurrency: 8,
            disable_after: Duration::from_secs(5 * 24 * 3600),
            run_budget: Duration::from_secs(30),
        }
    }
}

/// Runs `webhook.delivery` jobs.
pub struct DeliveryHandler {
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    settings: WebhookSettings,
    clock: Clock,
}

/// Outbox rows one fan-out moves at most.
const FAN_OUT_BATCH: u32 = 500;

/// How one attempt went.
struct Sent {
    status: Option<u16>,
    error: Option<String>,
    answer: Answer,
    duration_ms: u64,
}

impl DeliveryHandler {
    /// A handler over `store`, opening endpoint secrets with `keyring`.
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Arc<Keyring>,
        settings: WebhookSettings,
        clock: Clock,
    ) -> DeliveryHandler {
        DeliveryHandler {
            store,
            keyring,
            settings,
            clock,
        }
    }

    /// The signing keys of an endpoint at `now`: its secret's, and the previous one's while
    /// the rotation's overlap lasts.
    fn keys(
        &self,
        endpoint: &WebhookEndpoint,
        now: DateTime<Utc>,
    ) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
        let aad = crate::secret_aad(&endpoint.environment_id);
        let mut sealed = vec![&endpoint.secret];
        if let (Some(previous), Some(until)) =
            (&endpoint.previous_secret, endpoint.previous_secret_until)
            && until > now
        {
            sealed.push(previous);
        }
        sealed
            .into_iter()
            .map(|secret| {
                let opened = self
                    .keyring
                    .open(secret, &aad)
                    .map_err(|error| format!("opening the endpoint's secret failed: {error}"))?;
                let text = std::str::from_utf8(&opened)
                    .map_err(|_| "the endpoint's secret is not text".to_owned())?;
                signing::secret_key(text).map_err(str::to_owned)
            })
            .collect()
    }

    /// Sends one message once.
    async fn send(
        &self,
        endpoint: &WebhookEndpoint,
        keys: &[Zeroizing<Vec<u8>>],
        message: &WebhookMessage,
        at: DateTime<Utc>,
    ) -> Sent {
        let started = Instant::now();
        let result = self.post(endpoint, keys, message, at).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok((status, retry_after)) => Sent {
                status: Some(status),
                error: (!(200..300).contains(&status)).then(|| format!("answered {status}")),
                answer: Answer::of_status(status, retry_after),
                duration_ms,
            },
            Err(error) => Sent {
                status: None,
                error: Some(error),
                answer: Answer::Failed,
                duration_ms,
            },
        }
    }

    /// The request itself: the status and `Retry-After`, or why no answer came.
    async fn post(
        &self,
        endpoint: &WebhookEndpoint,
        keys: &[Zeroizing<Vec<u8>>],
        message: &WebhookMessage,
        at: DateTime<Utc>,
    ) -> Result<(u16, Option<Duration>), String> {
        let url =
            url::Url::parse(&endpoint.url).map_err(|_| "the URL does not parse".to_owned())?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| "the URL has no port".to_owned())?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(self.settings.timeout)
            .user_agent(concat!("Crosswalk-Webhooks/", env!("CARGO_PKG_VERSION")));
        match url.host() {
            Some(url::Host::Domain(name)) => {
                let resolved: Vec<SocketAddr> = tokio::time::timeout(
                    self.settings.timeout,
                    tokio::net::lookup_host((name, port)),
                )
                .await
                .map_err(|_| "resolving the host timed out".to_owned())?
                .map_err(|_| "the host does not resolve".to_owned())?
                .collect();
                let address = address::pick(self.settings.addresses, &resolved)
                    .ok_or_else(|| "the host resolves to no allowed address".to_owned())?;
                builder = builder.resolve(name, address);
            }
            Some(url::Host::Ipv4(ip)) => {
                if !self.settings.addresses.allows(ip.into()) {
                    return Err("the address is not allowed".to_owned());
                }
            }
            Some(url::Host::Ipv6(ip)) => {
                if !self.settings.addresses.allows(ip.into()) {
                    return Err("the address is not allowed".to_owned());
                }
            }
            None => return Err("the URL has no host".to_owned()),
        }
        let client = builder
            .build()
            .map_err(|_| "the HTTP client could not be built".to_owned())?;
        let timestamp = at.timestamp();
        let keys: Vec<&[u8]> = keys.iter().map(|key| key.as_slice()).collect();
        let signature = signing::signature_header(
            &keys,
            message.id.as_str(),
            timestamp,
            message.body.as_bytes(),
        );
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", message.id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(message.body.clone())
            .send()
            .await
            .map_err(|error| {
                if error.is_timeout() {
                    "timed out".to_owned()
                } else if error.is_connect() {
                    "could not connect".to_owned()
                } else {
                    format!("the request failed: {}", error.without_url())
                }
            })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| schedule::parse_retry_after(value, at));
        Ok((status, retry_after))
    }

    /// What to record for an attempt, with the endpoint's disable when the answer calls for it.
    fn attempt_record(
        &self,
        endpoint: &WebhookEndpoint,
        message: &WebhookMessage,
        sent: Sent,
        at: DateTime<Utc>,
    ) -> WebhookAttempt {
        let attempt = message.attempts + 1;
        let next = match schedule::next_step(attempt, &sent.answer, schedule::jitter()) {
            Next::Delivered => MessageNext::Delivered,
            Next::Dead => MessageNext::Dead,
            Next::RetryIn(wait) => MessageNext::RetryAt(store::timestamp::add(at, wait)),
        };
        let failing_too_long = !matches!(sent.answer, Answer::Delivered)
            && endpoint.failing_since.is_some_and(|since| {
                (at - since).to_std().unwrap_or_default() >= self.settings.disable_after
            });
        let reason = match sent.answer {
            Answer::Gone => Some("gone"),
            _ if failing_too_long => Some("failing"),
            _ => None,
        };
        let disable = reason.map(|reason| {
            (
                reason.to_owned(),
                NewEvent {
                    environment_id: endpoint.environment_id.clone(),
                    connection_id: None,
                    kind: "webhook.endpoint_disabled".to_owned(),
                    payload: serde_json::json!({
                        "endpoint_id": endpoint.id,
                        "reason": reason,
                        "failing_since": endpoint.failing_since,
                    }),
                },
            )
        });
        WebhookAttempt {
            environment_id: endpoint.environment_id.clone(),
            endpoint_id: endpoint.id.clone(),
            message_id: message.id.clone(),
            attempt,
            status_code: sent.status,
            error: sent.error,
            duration_ms: sent.duration_ms,
            at,
            next,
            disable,
        }
    }

    /// Moves the environment's outbox into messages.
    async fn fan_out(&self, environment_id: &EnvironmentId) -> Result<(), StoreError> {
        loop {
            let moved = self
                .store
                .fan_out_webhook_outbox(environment_id, FAN_OUT_BATCH, self.clock.now())
                .await?;
            if moved < u64::from(FAN_OUT_BATCH) {
                return Ok(());
            }
        }
    }

    async fn run_endpoint(
        &self,
        environment_id: &EnvironmentId,
        endpoint_id: &WebhookEndpointId,
    ) -> Result<JobOutcome, StoreError> {
        self.fan_out(environment_id).await?;
        let mut endpoint = match self
            .store
            .get_webhook_endpoint(environment_id, endpoint_id)
            .await
        {
            Ok(endpoint) => endpoint,
            Err(StoreError::NotFound) => return Ok(JobOutcome::Done),
            Err(error) => return Err(error),
        };
        let started = Instant::now();
        while endpoint.enabled && started.elapsed() < self.settings.run_budget {
            let now = self.clock.now();
            let due = self
                .store
                .due_webhook_messages(
                    endpoint_id,
                    now,
                    u32::try_from(self.settings.concurrency.max(1)).unwrap_or(u32::MAX),
                )
                .await?;
            if due.is_empty() {
                break;
            }
            let keys = match self.keys(&endpoint, now) {
                Ok(keys) => keys,
                Err(error) => {
                    tracing::error!(endpoint = %endpoint.id, error = %error, "webhook endpoint secret unusable");
                    return Ok(JobOutcome::Retry {
                        at: store::timestamp::add(now, self.settings.poll),
                        error,
                    });
                }
            };
            let sends = due
                .iter()
                .map(|message| self.send(&endpoint, &keys, message, now));
            let results = futures::future::join_all(sends).await;
            let at = self.clock.now();
            for (message, sent) in due.iter().zip(results) {
                let record = self.attempt_record(&endpoint, message, sent, at);
                let disabled = record.disable.is_some();
                match self.store.record_webhook_attempt(record).await {
                    Ok(()) | Err(StoreError::NotFound) => {}
                    Err(error) => return Err(error),
                }
                if disabled {
                    endpoint.enabled = false;
                }
            }
            // The failing streak's start, as the attempts just recorded left it.
            match self
                .store
                .get_webhook_endpoint(environment_id, endpoint_id)
                .await
            {
                Ok(current) => {
                    endpoint = Self::keep_enabled_state(current, endpoint.enabled);
                }
                Err(StoreError::NotFound) => return Ok(JobOutcome::Done),
                Err(error) => return Err(error),
            }
        }
        if !endpoint.enabled {
            return Ok(JobOutcome::Done);
        }
        let now = self.clock.now();
        let poll = store::timestamp::add(now, self.settings.poll);
        let next = match self.store.next_webhook_due(endpoint_id).await? {
            Some(due) if due < poll => due.max(now),
            _ => poll,
        };
        Ok(JobOutcome::Reschedule { at: next })
    }

    /// The endpoint as read, disabled when this run disabled it.
    fn keep_enabled_state(mut current: WebhookEndpoint, enabled: bool) -> WebhookEndpoint {
        current.enabled = current.enabled && enabled;
        current
    }
}

#[async_trait::async_trait]
impl JobHandler for DeliveryHandler {
    async fn run(&self, job: &Job) -> JobOutcome {
        let Some(endpoint_id) = job
            .payload
            .get("endpoint_id")
            .and_then(serde_json::Value::as_str)
            .and_then(|id| WebhookEndpointId::parse(id).ok())
        else {
            return JobOutcome::Fail {
                error: "the job names no webhook endpoint".to_owned(),
            };
        };
        match self.run_endpoint(&job.environment_id, &endpoint_id).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(endpoint = %endpoint_id, error = %error, "webhook delivery run failed");
                JobOutcome::Retry {
                    at: store::timestamp::add(self.clock.now(), self.settings.poll),
                    error: error.to_string(),
                }
            }
        }
    }
}
