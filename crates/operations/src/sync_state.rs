//! Starting a sync, and what its runs make visible (issue 16): the state they record beside the
//! sync's progress (status, phase, the last error as a problem+json object) and the `sync.*`
//! events, each written under the run's job claim, so a worker that lost its claim records
//! nothing.
//!
//! The runs themselves are in `sync.rs`; how the API shows a sync is the server's.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::{
    ConnectionId, EnvironmentId, Job, NewEvent, NewJob, Store, StoreError, SyncPhase, SyncProgress,
    SyncState, SyncStatus, timestamp,
};
use unified_model::UnifiedObject;

use crate::{OpError, SYNC_JOB_KIND, SyncJob};

/// Attempts of a failing run before the sync stops for good.
pub const SYNC_ATTEMPTS: u32 = 8;

/// Enqueues the sync of `object` on a connection, its first run due now and the next ones
/// every `every_secs` (a reconciliation pass every `reconcile_every_secs`, or the worker's
/// default when `None`); a sync of that connection and object that has not ended is returned
/// instead (the flag says whether this call created the one returned).
///
/// # Errors
///
/// Those of [`Store::enqueue_job`].
pub async fn start_sync(
    store: &dyn Store,
    environment_id: &EnvironmentId,
    connection_id: &ConnectionId,
    object: UnifiedObject,
    every_secs: u64,
    reconcile_every_secs: Option<u64>,
) -> Result<(Job, bool), StoreError> {
    store
        .enqueue_job(NewJob {
            environment_id: environment_id.clone(),
            connection_id: Some(connection_id.clone()),
            kind: SYNC_JOB_KIND.to_owned(),
            key: Some(format!("sync:{connection_id}:{}", object.key())),
            payload: serde_json::to_value(SyncJob {
                connection_id: connection_id.to_string(),
                object: object.key(),
                every_secs: Some(every_secs),
                reconcile_every_secs,
            })
            .expect("a sync job serializes"),
            run_at: timestamp::now(),
            max_attempts: SYNC_ATTEMPTS,
        })
        .await
}

/// A run of a sync started (`phase` says whether it reads everything or what changed).
pub const SYNC_STARTED: &str = "sync.started";
/// A run completed; the event carries the run's counts.
pub const SYNC_COMPLETED: &str = "sync.completed";
/// A run failed; `will_retry` says whether another attempt follows.
pub const SYNC_FAILED: &str = "sync.failed";
/// A run stopped at the vendor's budget; it resumes from its checkpoint at `retry_at`.
pub const SYNC_RATE_LIMITED: &str = "sync.rate_limited";
/// A sync was paused through the API.
pub const SYNC_PAUSED: &str = "sync.paused";
/// A paused sync was resumed through the API.
pub const SYNC_RESUMED: &str = "sync.resumed";

/// What one run changed, or a sync's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub pages: u64,
    pub added: u64,
    pub updated: u64,
    pub deleted: u64,
}

impl RunCounts {
    /// A sync's totals so far (zero before its first page).
    pub fn of(progress: Option<&SyncProgress>) -> RunCounts {
        progress.map_or_else(RunCounts::default, |progress| RunCounts {
            pages: progress.pages,
            added: progress.created,
            updated: progress.updated,
            deleted: progress.deleted,
        })
    }

    /// What was added to `base` to make `self`.
    pub fn since(self, base: RunCounts) -> RunCounts {
        RunCounts {
            pages: self.pages.saturating_sub(base.pages),
            added: self.added.saturating_sub(base.added),
            updated: self.updated.saturating_sub(base.updated),
            deleted: self.deleted.saturating_sub(base.deleted),
        }
    }
}

/// The problem+json object a sync keeps as its last error: the shape of the API's problems
/// (`type`, `title`, `detail`, `code`, `origin`), without an HTTP status, since no request
/// failed. Our own failures say "internal error" and are logged, as in the API.
pub fn problem_of(error: &OpError) -> Value {
    let (code, title, origin, detail, extra): (&str, &str, &str, String, Value) = match error {
        OpError::Invalid {
            code,
            field,
            detail,
        } => (
            code,
            "the sync's request is invalid",
            "gateway",
            detail.clone(),
            json!({"field": field}),
        ),
        OpError::Conflict {
            code,
            field,
            detail,
        } => (
            code,
            "the sync's request conflicts with the record",
            "gateway",
            detail.clone(),
            json!({"field": field}),
        ),
        OpError::NotFound(detail) => (
            "not_found",
            "not found",
            "gateway",
            detail.clone(),
            json!({}),
        ),
        OpError::Unsupported(detail) => (
            "unsupported",
            "not offered by the provider",
            "gateway",
            detail.clone(),
            json!({}),
        ),
        OpError::ReauthRequired => (
            "reauth_required",
            "the connection must be re-authorised",
            "provider",
            "the provider no longer accepts this connection's authorization; the end user must \
             connect again (POST /connect/sessions with `connection_id`)"
                .to_owned(),
            json!({}),
        ),
        OpError::CircuitOpen { retry_after } => (
            "circuit_open",
            "the provider keeps failing",
            "provider",
            "the provider keeps failing for this connection; calls are paused".to_owned(),
            json!({"retry_after_secs": retry_after.as_secs_f64().ceil() as u64}),
        ),
        OpError::Throttled {
            retry_after,
            provider,
        } => (
            "rate_limited",
            "the vendor budget is spent",
            if provider.is_some() {
                "provider"
            } else {
                "gateway"
            },
            "the vendor budget for this connection is spent; the run resumes from its \
             checkpoint when it allows"
                .to_owned(),
            json!({"retry_after_secs": retry_after.as_secs_f64().ceil() as u64}),
        ),
        OpError::Provider(provider) => (
            provider.code.as_str(),
            "the provider answered with an error",
            "provider",
            match &provider.message {
                Some(message) => format!("the provider answered {}: {message}", provider.status),
                None => format!("the provider answered {}", provider.status),
            },
            json!({"provider": {"status": provider.status, "code": provider.vendor_code,
                                "message": provider.message}}),
        ),
        OpError::Upstream { code, detail } => (
            code,
            "the provider could not be read",
            "provider",
            detail.clone(),
            json!({}),
        ),
        OpError::EvaluationLimit { code, detail } => (
            code.as_str(),
            "a mapping reached an evaluation limit",
            "gateway",
            detail.clone(),
            json!({}),
        ),
        OpError::OverrideInvalid(invalid) => (
            "override_invalid",
            "an override no longer applies",
            "gateway",
            invalid.describe(),
            json!({}),
        ),
        OpError::Internal(cause) => {
            tracing::error!(error = %cause, "a sync run failed");
            (
                "internal",
                "internal error",
                "gateway",
                "internal error".to_owned(),
                json!({}),
            )
        }
    };
    problem(code, title, origin, detail, extra)
}

/// The problem of a run stopped by the sync itself (a bad payload, a vendor's pagination that
/// loops): running again cannot help.
pub fn stopped_problem(detail: &str) -> Value {
    problem(
        "sync_stopped",
        "the sync stopped",
        "gateway",
        detail.to_owned(),
        json!({}),
    )
}

fn problem(code: &str, title: &str, origin: &str, detail: String, extra: Value) -> Value {
    let mut body = json!({
        "type": format!("https://crosswalk.dev/problems/{code}"),
        "title": title,
        "detail": detail,
        "code": code,
        "origin": origin,
    });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    body
}

/// Where a run records its sync's state: the job's claim, the connection and the object.
pub struct Recorder<'a> {
    pub store: &'a dyn Store,
    pub job: &'a Job,
    pub connection_id: &'a store::ConnectionId,
    pub object: &'a str,
}

impl Recorder<'_> {
    /// Records the sync's state under the job's claim and, with it, the `sync.*` event `event`
    /// (its kind and payload; the payload gains the sync's id and object).
    ///
    /// # Errors
    ///
    /// Those of [`Store::record_sync_state`]: a [`StoreError::Conflict`] means the claim is
    /// lost.
    pub async fn record(
        &self,
        status: SyncStatus,
        phase: Option<SyncPhase>,
        last_error: Option<Value>,
        event: Option<(&str, Value)>,
    ) -> Result<(), StoreError> {
        let event = event.map(|(kind, mut payload)| {
            if let Value::Object(fields) = &mut payload {
                fields.insert("sync_id".to_owned(), json!(self.job.id.as_str()));
                fields.insert("object".to_owned(), json!(self.object));
            }
            NewEvent {
                environment_id: self.job.environment_id.clone(),
                connection_id: Some(self.connection_id.clone()),
                kind: kind.to_owned(),
                payload,
            }
        });
        self.store
            .record_sync_state(
                &self.job.environment_id,
                SyncState {
                    connection_id: self.connection_id.clone(),
                    object: self.object.to_owned(),
                    status,
                    phase,
                    last_error,
                    claim: Some((self.job.id.clone(), self.job.fence)),
                },
                event,
            )
            .await
    }
}
