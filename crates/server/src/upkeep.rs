//! Keeping inbound webhooks honest (issue 17): noticing when a vendor stops delivering, and
//! purging the inbox on a schedule.
//!
//! - **Stale webhooks.** A connector that declares `webhooks.expected_interval_secs` gets one
//!   `webhook.stale_check` job per connection with an ingress. When no delivery arrived for
//!   `stale_after` (default 3) expected intervals since the last one (or since the ingress was
//!   made), the job records a `connection.webhooks_stale` event (delivered to outbound
//!   endpoints like every `connection.*` event) and polls faster: while the webhooks stay
//!   stale, the connection's queued syncs are made due once every expected interval instead of
//!   waiting for their own schedule. The next delivery ends it with
//!   `connection.webhooks_resumed`.
//! - **Inbox retention.** [`purge_inbox_every`] removes, on a schedule, the processed and failed
//!   deliveries and the remembered event ids older than the retention (7 days: the window in
//!   which duplicates are dropped).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use operations::{JobHandler, Operations, SYNC_JOB_KIND};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::timestamp::Clock;
use store::{
    ConnectionId, EnvironmentId, Job, JobControl, JobOutcome, JobStatus, NewEvent, NewJob, Store,
    StoreError, timestamp,
};

/// The kind of stale-webhook checks.
pub const STALE_CHECK_JOB_KIND: &str = "webhook.stale_check";

/// The event recorded when a connection's webhooks went quiet.
pub const WEBHOOKS_STALE_EVENT: &str = "connection.webhooks_stale";

/// The event recorded when deliveries arrive again after [`WEBHOOKS_STALE_EVENT`].
pub const WEBHOOKS_RESUMED_EVENT: &str = "connection.webhooks_resumed";

/// How long processed deliveries and remembered event ids are kept.
pub const INBOX_RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// Default number of expected intervals without a delivery that make webhooks stale.
const DEFAULT_STALE_AFTER: u32 = 3;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StalePayload {
    connection_id: Option<ConnectionId>,
    /// The time (last delivery, or the ingress's creation) the webhooks have been quiet since,
    /// once the stale event was recorded for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stale_since: Option<DateTime<Utc>>,
}

/// Starts the connection's stale check (nothing when one is running already).
///
/// # Errors
/// The store's.
pub async fn watch_staleness(
    store: &dyn Store,
    environment_id: &EnvironmentId,
    connection_id: &ConnectionId,
) -> Result<(), StoreError> {
    store
        .enqueue_job(NewJob {
            environment_id: environment_id.clone(),
            connection_id: Some(connection_id.clone()),
            kind: STALE_CHECK_JOB_KIND.to_owned(),
            key: Some(format!("{STALE_CHECK_JOB_KIND}:{connection_id}")),
            payload: json!({"connection_id": connection_id}),
            run_at: timestamp::now(),
            max_attempts: 20,
        })
        .await?;
    Ok(())
}

/// Runs `webhook.stale_check` jobs.
#[derive(Clone)]
pub struct StaleCheckHandler {
    operations: Operations,
    clock: Clock,
}

impl StaleCheckHandler {
    /// A handler on `operations`, reading `clock` (tests move it).
    pub fn new(operations: Operations, clock: Clock) -> StaleCheckHandler {
        StaleCheckHandler { operations, clock }
    }

    async fn check(&self, job: &Job, payload: &mut StalePayload) -> Result<JobOutcome, String> {
        let store = self.operations.store();
        let Some(connection_id) = payload.connection_id.clone() else {
            return Ok(JobOutcome::Fail {
                error: "the job names no connection".to_owned(),
            });
        };
        let environment_id = &job.environment_id;
        let ingress = match store
            .get_webhook_ingress(environment_id, &connection_id)
            .await
        {
            Ok(ingress) => ingress,
            // The ingress is gone: nothing to watch.
            Err(StoreError::NotFound) => return Ok(JobOutcome::Done),
            Err(error) => return Err(error.to_string()),
        };
        let effective = self
            .operations
            .effective_connector(environment_id, &ingress.provider, Some(&connection_id))
            .await
            .map_err(|error| error.to_string())?;
        let Some(declared) = effective.connector.webhooks().map(|hooks| hooks.declared()) else {
            return Ok(JobOutcome::Done);
        };
        let Some(interval_secs) = declared.expected_interval_secs.filter(|secs| *secs > 0) else {
            return Ok(JobOutcome::Done);
        };
        let interval = Duration::from_secs(interval_secs);
        let stale_after = declared.stale_after.unwrap_or(DEFAULT_STALE_AFTER).max(1);
        let quiet_since = ingress.last_received_at.unwrap_or(ingress.created_at);
        let threshold = timestamp::add(quiet_since, interval * stale_after);
        let now = self.clock.now();
        // A delivery since the stale event: live again; the next check waits an interval.
        if let Some(since) = payload.stale_since
            && quiet_since > since
        {
            store
                .insert_event(NewEvent {
                    environment_id: environment_id.clone(),
                    connection_id: Some(connection_id.clone()),
                    kind: WEBHOOKS_RESUMED_EVENT.to_owned(),
                    payload: json!({
                        "last_received_at": ingress.last_received_at,
                        "stale_since": since,
                    }),
                })
                .await
                .map_err(|error| error.to_string())?;
            payload.stale_since = None;
            return Ok(JobOutcome::Reschedule {
                at: threshold.max(timestamp::add(now, interval)),
            });
        }
        if now < threshold {
            return Ok(JobOutcome::Reschedule { at: threshold });
        }
        if payload.stale_since != Some(quiet_since) {
            store
                .insert_event(NewEvent {
                    environment_id: environment_id.clone(),
                    connection_id: Some(connection_id.clone()),
                    kind: WEBHOOKS_STALE_EVENT.to_owned(),
                    payload: json!({
                        "last_received_at": ingress.last_received_at,
                        "quiet_since": quiet_since,
                        "expected_interval_secs": interval_secs,
                        "stale_after": stale_after,
                    }),
                })
                .await
                .map_err(|error| error.to_string())?;
            payload.stale_since = Some(quiet_since);
        }
        // The faster poll: the connection's queued syncs run now, and again each interval
        // while no delivery comes.
        let jobs = store
            .list_jobs(environment_id, Some(&connection_id), 1_000)
            .await
            .map_err(|error| error.to_string())?;
        for sync in jobs
            .iter()
            .filter(|other| other.kind == SYNC_JOB_KIND && other.status == JobStatus::Queued)
        {
            match store
                .control_job(
                    environment_id,
                    &sync.id,
                    JobControl::RunNow,
                    timestamp::now(),
                )
                .await
            {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(error) => return Err(error.to_string()),
            }
        }
        Ok(JobOutcome::Reschedule {
            at: timestamp::add(now, interval),
        })
    }
}

#[async_trait::async_trait]
impl JobHandler for StaleCheckHandler {
    async fn run(&self, job: &Job) -> JobOutcome {
        let mut payload: StalePayload =
            serde_json::from_value(job.payload.clone()).unwrap_or_default();
        let before = payload.stale_since;
        match self.check(job, &mut payload).await {
            Ok(outcome) => {
                if payload.stale_since != before
                    && let Err(error) = self
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
                    tracing::warn!(job_id = %job.id, error = %error, "keeping the stale check's state failed");
                }
                outcome
            }
            Err(error) => JobOutcome::Retry {
                at: timestamp::add(self.clock.now(), Duration::from_secs(60)),
                error,
            },
        }
    }
}

/// Purges the inbox every `every` until `stop` completes: processed and failed deliveries,
/// and remembered event ids, older than `retention` on `clock`. Every process running a worker
/// does it (purging twice removes nothing more).
pub async fn purge_inbox_every(
    store: Arc<dyn Store>,
    clock: Clock,
    every: Duration,
    retention: Duration,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let before = clock.now() - chrono::TimeDelta::from_std(retention).unwrap_or_default();
        match store.purge_webhook_inbox(before).await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "webhook inbox purged"),
            Err(error) => tracing::warn!(error = %error, "purging the webhook inbox failed"),
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
