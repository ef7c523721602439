//! Vendor subscriptions to a connection's ingress URL (issue 17), for connectors that declare
//! `webhooks.subscription`: made when the ingress is made, renewed before they expire, deleted
//! when the ingress is removed or the connection disconnected.
//!
//! Each connection with a subscription has one `webhook.subscription` job (keyed by the
//! connection) that holds the subscription's state in its payload: the step it takes next
//! (`create`, `renew` or `hold` for one that never expires), the vendor's id, the expiry, and
//! the ingress URL and secret sealed with the server's keys (the URL holds the ingress token,
//! which is stored nowhere in plaintext). A run sends the step's request through the call path
//! every vendor request takes (`Bound::proxy`: credentials, budgets, breaker), reads the id and
//! the expiry from the answer with the connector's expressions, and reschedules itself for the
//! renewal (`renew_before_secs` before the expiry). A failed request is retried with a growing
//! wait. Deleting happens before the connection's credentials go, so it is sent from the
//! request that removes the ingress or the connection, and the job is cancelled.
//!
//! No vendor branch: what is sent and read is the connector's.

use std::time::Duration;

use chrono::{DateTime, Utc};
use connector::webhook::{CompiledSubscription, SubscriptionStep};
use operations::{Bound, JobHandler, OpError, Operations, ProxyRequest};
use rand::Rng as _;
use secrets::{Keyring, Sealed};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use store::timestamp::Clock;
use store::{ConnectionId, EnvironmentId, Job, JobOutcome, NewJob, Store, timestamp};

/// The kind of subscription jobs.
pub const SUBSCRIPTION_JOB_KIND: &str = "webhook.subscription";

/// Failed attempts in a row before a subscription job stops.
const SUBSCRIPTION_JOB_ATTEMPTS: u32 = 12;

/// How long a subscription that never expires waits between looks (it does nothing then).
const HOLD: Duration = Duration::from_secs(30 * 86_400);

fn job_key(connection_id: &ConnectionId) -> String {
    format!("{SUBSCRIPTION_JOB_KIND}:{connection_id}")
}

/// The additional data the sealed ingress URL and secret are sealed with.
fn target_aad(connection_id: &ConnectionId) -> Vec<u8> {
    format!("webhook-subscription:{connection_id}").into_bytes()
}

/// What the subscription job does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    Create,
    Renew,
    Hold,
    /// Delete the subscription: the vendor refused (or could not be reached) when the ingress
    /// or the connection was removed, so it is tried again from a job of its own.
    Delete,
}

/// The job's payload: the subscription's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    connection_id: ConnectionId,
    step: Step,
    /// `{url, secret}`, sealed.
    target: Sealed,
    /// A random number below 2^53 chosen with the ingress (`number` of the requests' input).
    number: u64,
    /// The vendor's id of the subscription, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    /// A subscription of an earlier ingress, deleted before the next one is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_id: Option<String>,
    /// The latest failure, shown with the ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    /// For a `delete` step: the connection as the store held it (its credentials sealed as
    /// there), to call the vendor with once the connection itself is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    removed: Option<store::Connection>,
}

/// The key of the job retrying a subscription's deletion.
fn delete_job_key(connection_id: &ConnectionId) -> String {
    format!("{SUBSCRIPTION_JOB_KIND}.delete:{connection_id}")
}

/// Attempts at a subscription's deletion (with the growing wait, about a day and a half).
const DELETE_JOB_ATTEMPTS: u32 = 10;

/// Starts (or restarts, for a new ingress URL) the connection's subscription: its job is due
/// now and deletes the subscription of an earlier URL first.
///
/// # Errors
/// The store's.
pub async fn subscribe(
    store: &dyn Store,
    keyring: &Keyring,
    environment_id: &EnvironmentId,
    connection_id: &ConnectionId,
    url: &str,
    secret: Option<&str>,
) -> Result<(), store::StoreError> {
    let number = rand::thread_rng().gen_range(1..(1_u64 << 53));
    let mut payload = Payload {
        connection_id: connection_id.clone(),
        step: Step::Create,
        target: keyring.seal_json(
            &json!({"url": url, "secret": secret}),
            &target_aad(connection_id),
        ),
        number,
        id: None,
        expires_at: None,
        previous_id: None,
        last_error: None,
        removed: None,
    };
    let now = timestamp::now();
    let (job, created) = store
        .enqueue_job(NewJob {
            environment_id: environment_id.clone(),
            connection_id: Some(connection_id.clone()),
            kind: SUBSCRIPTION_JOB_KIND.to_owned(),
            key: Some(job_key(connection_id)),
            payload: serde_json::to_value(&payload).expect("a payload serializes"),
            run_at: now,
            max_attempts: SUBSCRIPTION_JOB_ATTEMPTS,
        })
        .await?;
    if !created {
        if let Ok(old) = serde_json::from_value::<Payload>(job.payload.clone()) {
            payload.previous_id = old.id.or(old.previous_id);
        }
        store
            .update_job_payload(
                environment_id,
                &job.id,
                &serde_json::to_value(&payload).expect("a payload serializes"),
                Some(now),
            )
            .await?;
    }
    Ok(())
}

/// How the connection's subscription stands, for the ingress's view (`None`: none is managed).
///
/// # Errors
/// The store's.
pub async fn subscription_view(
    store: &dyn Store,
    environment_id: &EnvironmentId,
    connection_id: &ConnectionId,
) -> Result<Option<Value>, store::StoreError> {
    let Some(job) = live_job(store, environment_id, connection_id).await? else {
        return Ok(None);
    };
    let Ok(payload) = serde_json::from_value::<Payload>(job.payload.clone()) else {
        return Ok(None);
    };
    Ok(Some(json!({
        "status": if payload.id.is_some() { "active" } else { "pending" },
        "id": payload.id,
        "expires_at": payload.expires_at,
        "next_run_at": job.run_at,
        "last_error": payload.last_error.or(job.last_error),
    })))
}

async fn live_job(
    store: &dyn Store,
    environment_id: &EnvironmentId,
    connection_id: &ConnectionId,
) -> Result<Option<Job>, store::StoreError> {
    let key = job_key(connection_id);
    Ok(store
        .list_jobs(environment_id, Some(connection_id), 1_000)
        .await?
        .into_iter()
        .find(|job| job.key.as_deref() == Some(key.as_str()) && !job.status.has_ended()))
}

/// Deletes the connection's subscription at the vendor (when it has one and the connector
/// declares `delete`) and cancels its job. Called before the ingress or the connection goes,
/// while the credentials are still there. The removal goes on whatever the vendor answers (the
/// ingress URL stops working anyway); a deletion the vendor refused or that did not reach it
/// is retried by a job of its own, which keeps a copy of the connection (credentials sealed)
/// so that it can still call once the connection is deleted.
pub async fn unsubscribe(
    operations: &Operations,
    environment_id: &EnvironmentId,
    connection_id: &ConnectionId,
) {
    let store = operations.store();
    let job = match live_job(store.as_ref(), environment_id, connection_id).await {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(connection_id = %connection_id, error = %error, "reading the webhook subscription failed");
            return;
        }
    };
    if let Ok(payload) = serde_json::from_value::<Payload>(job.payload.clone()) {
        let ids: Vec<String> = payload
            .id
            .iter()
            .chain(payload.previous_id.iter())
            .cloned()
            .collect();
        if !ids.is_empty() {
            let mut left = Vec::new();
            let mut last_error = None;
            match operations
                .bind(environment_id, connection_id.as_str(), None)
                .await
            {
                Ok(bound) => {
                    for id in ids {
                        if let Err(error) = delete_at_vendor(&bound, &id, payload.number).await {
                            tracing::warn!(connection_id = %connection_id, error = %error, "deleting the webhook subscription at the vendor failed; it will be retried");
                            last_error = Some(error);
                            left.push(id);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(connection_id = %connection_id, error = %error, "the webhook subscription cannot be deleted at the vendor");
                }
            }
            if !left.is_empty()
                && let Err(error) =
                    retry_delete(store.as_ref(), environment_id, &payload, left, last_error).await
            {
                tracing::warn!(connection_id = %connection_id, error = %error, "the webhook subscription's deletion cannot be retried");
            }
        }
    }
    if let Err(error) = store
        .cancel_job(environment_id, &job.id, timestamp::now())
        .await
    {
        tracing::debug!(connection_id = %connection_id, error = %error, "cancelling the subscription job");
    }
}

/// Queues the retried deletion of the subscriptions `ids` of `payload`'s connection, with a
/// copy of the connection: the job belongs to no connection, so that deleting the connection
/// leaves it.
async fn retry_delete(
    store: &dyn Store,
    environment_id: &EnvironmentId,
    payload: &Payload,
    mut ids: Vec<String>,
    last_error: Option<String>,
) -> Result<(), store::StoreError> {
    let connection = store
        .get_connection(environment_id, &payload.connection_id)
        .await?;
    let previous_id = (ids.len() > 1).then(|| ids.remove(1));
    let delete = Payload {
        step: Step::Delete,
        id: ids.pop(),
        previous_id,
        expires_at: None,
        last_error,
        removed: Some(connection),
        ..payload.clone()
    };
    store
        .enqueue_job(NewJob {
            environment_id: environment_id.clone(),
            connection_id: None,
            kind: SUBSCRIPTION_JOB_KIND.to_owned(),
            key: Some(delete_job_key(&payload.connection_id)),
            payload: serde_json::to_value(&delete).expect("a payload serializes"),
            run_at: timestamp::add(timestamp::now(), Duration::from_secs(30)),
            max_attempts: DELETE_JOB_ATTEMPTS,
        })
        .await?;
    Ok(())
}

/// What went wrong with a subscription request.
#[derive(Debug)]
enum Failure {
    /// Worth another try later (the vendor's answer, a transport failure).
    Retry(String),
    /// The vendor's budget or breaker: try again at that time, not counted.
    Wait(Duration),
    /// Never going to work (the connector's expressions, the connection is gone).
    Fail(String),
}

impl From<OpError> for Failure {
    fn from(error: OpError) -> Failure {
        match error {
            OpError::Throttled { retry_after, .. } | OpError::CircuitOpen { retry_after } => {
                Failure::Wait(retry_after)
            }
            OpError::NotFound(detail) => Failure::Fail(detail),
            other => Failure::Retry(other.to_string()),
        }
    }
}

fn declared(bound: &Bound) -> Option<&CompiledSubscription> {
    bound.connector().webhooks()?.subscription()
}

/// Sends one step's request; returns the answer's status and parsed body.
async fn send(
    bound: &Bound,
    step: SubscriptionStep,
    input: &Value,
) -> Result<Option<(u16, Value)>, Failure> {
    let Some(subscription) = declared(bound) else {
        return Ok(None);
    };
    let Some(planned) = subscription.request(step, input).map_err(Failure::Fail)? else {
        return Ok(None);
    };
    let mut headers = Vec::new();
    if planned.body.is_some() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    let answer = bound
        .proxy(ProxyRequest {
            method: planned.method,
            path_and_query: planned.path,
            headers,
            body: planned.body.unwrap_or_default(),
        })
        .await?;
    let body = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    Ok(Some((answer.status, body)))
}

async fn delete_at_vendor(bound: &Bound, id: &str, number: u64) -> Result<(), String> {
    match send(
        bound,
        SubscriptionStep::Delete,
        &json!({"id": id, "number": number}),
    )
    .await
    {
        // Gone already is deleted.
        Ok(Some((status, _))) if (200..300).contains(&status) || status == 404 || status == 410 => {
            Ok(())
        }
        Ok(Some((status, body))) => Err(format!("the vendor answered {status}: {body}")),
        Ok(None) => Ok(()),
        Err(Failure::Retry(detail) | Failure::Fail(detail)) => Err(detail),
        Err(Failure::Wait(wait)) => Err(format!("the vendor's budget is spent for {wait:?}")),
    }
}

/// Runs `webhook.subscription` jobs.
#[derive(Clone)]
pub struct SubscriptionHandler {
    operations: Operations,
    keyring: Arc<Keyring>,
    clock: Clock,
}

impl SubscriptionHandler {
    /// A handler on `operations`, opening the sealed ingress URLs with `keyring`, scheduling
    /// renewals on `clock` (tests move it).
    pub fn new(operations: Operations, keyring: Arc<Keyring>, clock: Clock) -> SubscriptionHandler {
        SubscriptionHandler {
            operations,
            keyring,
            clock,
        }
    }

    /// Makes the secret the vendor chose (given with the subscription) the ingress's secret,
    /// sealed as the ingress route seals one.
    async fn keep_vendor_secret(
        &self,
        job: &Job,
        connection_id: &ConnectionId,
        secret: &str,
    ) -> Result<(), Failure> {
        let store = self.operations.store();
        let mut ingress = store
            .get_webhook_ingress(&job.environment_id, connection_id)
            .await
            .map_err(|error| Failure::Retry(format!("the ingress: {error}")))?;
        ingress.secret = Some(self.keyring.seal(
            secret.as_bytes(),
            &crate::routes::inbound::secret_aad(connection_id),
        ));
        store
            .put_webhook_ingress(ingress)
            .await
            .map_err(|error| Failure::Retry(format!("keeping the vendor's secret: {error}")))?;
        Ok(())
    }

    /// Deletes the subscriptions a removal left at the vendor, through the connection while it
    /// exists and through its kept copy once it is deleted.
    async fn delete_left(&self, job: &Job, payload: &mut Payload) -> Result<(), Failure> {
        let (bound, copied) = match self
            .operations
            .bind(&job.environment_id, payload.connection_id.as_str(), None)
            .await
        {
            Ok(bound) => (bound, false),
            Err(OpError::NotFound(detail)) => match payload.removed.clone() {
                Some(connection) => (self.operations.bind_removed(connection, None).await?, true),
                None => return Err(Failure::Fail(detail)),
            },
            Err(other) => return Err(other.into()),
        };
        let result = Self::delete_each(&bound, payload).await;
        if copied {
            // Tokens refreshed on the way (sealed in the session's copy) serve the next try: a
            // refresh token the vendor rotated is the only one that still works.
            payload.removed = Some(bound.current_connection());
        }
        result
    }

    async fn delete_each(bound: &Bound, payload: &mut Payload) -> Result<(), Failure> {
        while let Some(id) = payload.id.clone().or_else(|| payload.previous_id.clone()) {
            delete_at_vendor(bound, &id, payload.number)
                .await
                .map_err(Failure::Retry)?;
            if payload.id.as_deref() == Some(id.as_str()) {
                payload.id = None;
            } else {
                payload.previous_id = None;
            }
        }
        Ok(())
    }

    async fn step(&self, job: &Job, payload: &mut Payload) -> Result<DateTime<Utc>, Failure> {
        let bound = self
            .operations
            .bind(&job.environment_id, payload.connection_id.as_str(), None)
            .await?;
        let Some(subscription) = declared(&bound) else {
            return Err(Failure::Fail(
                "the connector no longer declares webhooks.subscription".to_owned(),
            ));
        };
        let lifetime = subscription.lifetime();
        let renew_before = subscription.renew_before();
        let renews = subscription.declares(SubscriptionStep::Renew);
        let target = self
            .keyring
            .open_json(&payload.target, &target_aad(&payload.connection_id))
            .map_err(|error| Failure::Fail(format!("the sealed ingress URL: {error}")))?;
        let now = self.clock.now();
        if let Some(previous) = payload.previous_id.clone() {
            if let Err(error) = delete_at_vendor(&bound, &previous, payload.number).await {
                tracing::warn!(connection_id = %payload.connection_id, error = %error, "deleting an earlier webhook subscription failed");
            }
            payload.previous_id = None;
        }
        if payload.step == Step::Hold {
            return Ok(timestamp::add(now, HOLD));
        }
        let mut step = if payload.step == Step::Renew && renews && payload.id.is_some() {
            SubscriptionStep::Renew
        } else {
            SubscriptionStep::Create
        };
        // A subscription without a renewal request is made again, the old one deleted.
        if step == SubscriptionStep::Create
            && let Some(old) = payload.id.take()
            && let Err(error) = delete_at_vendor(&bound, &old, payload.number).await
        {
            tracing::warn!(connection_id = %payload.connection_id, error = %error, "deleting the expiring webhook subscription failed");
        }
        let expires = timestamp::add(now, lifetime);
        let input = |id: Option<&String>| {
            json!({
                "url": target["url"],
                "secret": target["secret"],
                "id": id,
                "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "expires_at_ms": expires.timestamp_millis(),
                "number": payload.number,
            })
        };
        let (mut status, mut body) = send(&bound, step, &input(payload.id.as_ref()))
            .await?
            .ok_or_else(|| Failure::Fail("no request to send".to_owned()))?;
        if step == SubscriptionStep::Renew && (status == 404 || status == 410) {
            // The vendor forgot it (expired early, removed by hand): make it again.
            step = SubscriptionStep::Create;
            payload.id = None;
            (status, body) = send(&bound, step, &input(None))
                .await?
                .ok_or_else(|| Failure::Fail("no request to send".to_owned()))?;
        }
        if !(200..300).contains(&status) {
            return Err(Failure::Retry(format!(
                "the vendor answered {status} to the subscription's {}: {}",
                step.as_str(),
                truncate(&body.to_string(), 300)
            )));
        }
        let answer = subscription
            .read_answer(
                step,
                &json!({"status": status, "body": body, "number": payload.number}),
            )
            .map_err(|detail| Failure::Retry(format!("the {} answer: {detail}", step.as_str())))?;
        // The subscription is active (and shown so) only once the key the vendor chose to sign
        // with is the ingress's: one whose key could not be kept is deleted by the next try,
        // which makes another.
        if let Some(secret) = answer.secret
            && let Err(failure) = self
                .keep_vendor_secret(job, &payload.connection_id, &secret)
                .await
        {
            if step == SubscriptionStep::Create {
                payload.previous_id = answer.id;
            }
            return Err(failure);
        }
        if let Some(id) = answer.id {
            payload.id = Some(id);
        }
        payload.expires_at = answer
            .expires_at_ms
            .and_then(DateTime::<Utc>::from_timestamp_millis);
        payload.last_error = None;
        Ok(match payload.expires_at {
            Some(expires_at) => {
                payload.step = Step::Renew;
                let renew_at =
                    expires_at - chrono::TimeDelta::from_std(renew_before).unwrap_or_default();
                if renew_at > now {
                    renew_at
                } else {
                    // A lifetime shorter than the margin: renew halfway.
                    now + (expires_at - now).max(chrono::TimeDelta::seconds(2)) / 2
                }
            }
            None => {
                payload.step = Step::Hold;
                timestamp::add(now, HOLD)
            }
        })
    }
}

fn truncate(text: &str, at: usize) -> String {
    match text.char_indices().nth(at) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[async_trait::async_trait]
impl JobHandler for SubscriptionHandler {
    async fn run(&self, job: &Job) -> JobOutcome {
        let mut payload: Payload = match serde_json::from_value(job.payload.clone()) {
            Ok(payload) => payload,
            Err(error) => {
                return JobOutcome::Fail {
                    error: format!("the job's payload: {error}"),
                };
            }
        };
        let outcome = if payload.step == Step::Delete {
            self.delete_left(job, &mut payload).await.map(|()| None)
        } else {
            self.step(job, &mut payload).await.map(Some)
        };
        let now = self.clock.now();
        let outcome = match outcome {
            Ok(None) => return JobOutcome::Done,
            Ok(Some(at)) => JobOutcome::Reschedule { at },
            Err(Failure::Wait(wait)) => JobOutcome::Reschedule {
                at: timestamp::add(now, wait),
            },
            Err(Failure::Retry(error)) => {
                payload.last_error = Some(error.clone());
                let wait = 30_u64.saturating_mul(1 << job.attempts.min(7));
                JobOutcome::Retry {
                    at: timestamp::add(now, Duration::from_secs(wait)),
                    error,
                }
            }
            Err(Failure::Fail(error)) => return JobOutcome::Fail { error },
        };
        if let Err(error) = self
            .operations
            .store()
            .update_job_payload(
                &job.environment_id,
                &job.id,
                &serde_json::to_value(&payload).expect("a payload serializes"),
                None,
            )
            .await
        {
            tracing::warn!(job_id = %job.id, error = %error, "keeping the subscription's state failed");
        }
        outcome
    }
}
