//! Syncs and the change feed (issue 16).
//!
//! `POST /syncs` starts keeping one connection's unified object in step (a run now, then one
//! every `every_secs`); `GET /syncs` shows the environment's syncs with their state and
//! progress, `GET /syncs/{id}` one of them; `PATCH /syncs/{id}` changes how often it runs
//! (and how often it reconciles);
//! `POST /syncs/{id}/pause`, `/resume`, `/run` (a run now) and `/resync` (a run that reads
//! everything again) control it; `DELETE /syncs/{id}` stops it. `GET /environment/syncs` and
//! `PUT /environment/syncs` read and set the syncs each new connection of the environment starts.
//! `GET /changes` reads the environment's change feed after a sequence number: a consumer that
//! stores `next_after` after each page sees every change once.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::{
    ConnectionId, EnvironmentId, Job, JobControl, JobId, JobStatus, NewEvent, StoreError,
    SyncProgress, SyncState, SyncStatus, timestamp,
};
use unified_model::UnifiedObject;

use super::JsonBody;
use super::events::connection_filter;
use crate::auth::Caller;
use crate::{ApiError, AppState, SYNC_JOB_KIND, SyncJob};

/// The frequency of a sync that names none: every 15 minutes.
pub const DEFAULT_EVERY_SECS: u64 = 15 * 60;
/// The most frequent and the least frequent a sync may run.
pub const EVERY_SECS_BOUNDS: (u64, u64) = (60, 7 * 24 * 3600);
/// The most and the least often a sync may run a reconciliation pass (when its object declares
/// deletes), 0 making every run a pass; a sync that names none runs one daily (the worker's
/// default).
pub const RECONCILE_EVERY_SECS_BOUNDS: (u64, u64) = (0, 30 * 24 * 3600);
/// Changes a page of the feed holds when the request names no `limit`, and at most.
pub const CHANGES_DEFAULT_LIMIT: u32 = 100;
pub const CHANGES_MAX_LIMIT: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSync {
    connection_id: String,
    /// The unified object, `crm.contacts` (or `contacts` where no other category has one).
    object: String,
    #[serde(default, deserialize_with = "super::not_null")]
    every_secs: Option<u64>,
    #[serde(default, deserialize_with = "super::not_null")]
    reconcile_every_secs: Option<u64>,
}

/// Checks a frequency, naming `field` when it is out of bounds.
fn every_secs(field: &str, every: Option<u64>) -> Result<u64, ApiError> {
    within(
        field,
        every.unwrap_or(DEFAULT_EVERY_SECS),
        EVERY_SECS_BOUNDS,
    )
}

/// Checks a number of seconds against `(least, most)`, naming `field` when it is out of them.
fn within(field: &str, secs: u64, (least, most): (u64, u64)) -> Result<u64, ApiError> {
    if !(least..=most).contains(&secs) {
        return Err(ApiError::invalid(
            field,
            format!("must be from {least} to {most} seconds, not {secs}"),
        ));
    }
    Ok(secs)
}

/// Checks how often a sync reconciles, when given.
fn reconcile_every_secs(field: &str, every: Option<u64>) -> Result<Option<u64>, ApiError> {
    every
        .map(|every| within(field, every, RECONCILE_EVERY_SECS_BOUNDS))
        .transpose()
}

/// Reads a unified object's key, or a bare slug where exactly one category has it.
fn unified_object(field: &str, text: &str) -> Result<UnifiedObject, ApiError> {
    UnifiedObject::parse_key(text)
        .or_else(|| {
            let mut named = UnifiedObject::all().filter(|object| object.slug() == text);
            named.next().filter(|_| named.next().is_none())
        })
        .ok_or_else(|| ApiError::invalid(field, format!("`{text}` is no unified object")))
}

/// How a sync stands, from its job and what its runs recorded: the job says whether it is
/// paused, running or ended; between runs, the last run's end says the rest.
fn shown_status(job: JobStatus, recorded: Option<SyncStatus>) -> &'static str {
    match job {
        JobStatus::Paused => SyncStatus::Paused.as_str(),
        JobStatus::Running => SyncStatus::Running.as_str(),
        JobStatus::Done => SyncStatus::Done.as_str(),
        JobStatus::Failed => SyncStatus::Failed.as_str(),
        JobStatus::Cancelled => "cancelled",
        JobStatus::Queued => match recorded {
            Some(status @ (SyncStatus::RateLimited | SyncStatus::Failed | SyncStatus::Done)) => {
                status.as_str()
            }
            _ => SyncStatus::Queued.as_str(),
        },
    }
}

/// A sync as the API shows it.
async fn view(state: &AppState, job: &Job) -> Result<Value, ApiError> {
    let spec: Option<SyncJob> = serde_json::from_value(job.payload.clone()).ok();
    let progress = match (&job.connection_id, &spec) {
        (Some(connection_id), Some(spec)) => state
            .store
            .get_sync_progress(&job.environment_id, connection_id, &spec.object)
            .await
            .ok()
            .flatten(),
        _ => None,
    };
    // The last error the runs recorded; a job that failed before any was recorded says why
    // in its own words.
    let last_error = progress
        .as_ref()
        .and_then(|progress| progress.last_error.clone())
        .or_else(|| {
            job.last_error.as_ref().map(|detail| {
                json!({
                    "type": "https://crosswalk.dev/problems/sync_failed",
                    "title": "the sync failed",
                    "detail": detail,
                    "code": "sync_failed",
                    "origin": "gateway",
                })
            })
        });
    let checkpoint = progress
        .as_ref()
        .and_then(|progress| progress.checkpoint.as_ref())
        .map(|checkpoint| {
            json!({
                "watermark": checkpoint.get("watermark").cloned().unwrap_or(Value::Null),
                "run_started_at": checkpoint.get("run_started_at").cloned().unwrap_or(Value::Null),
                "mid_run": checkpoint.get("cursor").is_some_and(|cursor| !cursor.is_null()),
            })
        });
    Ok(json!({
        "id": job.id.as_str(),
        "connection_id": job.connection_id.as_ref().map(ConnectionId::as_str),
        "object": spec.as_ref().map(|spec| spec.object.clone()),
        "every_secs": spec.as_ref().and_then(|spec| spec.every_secs),
        "reconcile_every_secs": spec.as_ref().and_then(|spec| spec.reconcile_every_secs),
        "status": shown_status(job.status, progress.as_ref().and_then(|progress| progress.status)),
        "phase": progress.as_ref().and_then(|progress| progress.phase),
        "next_run_at": (job.status == JobStatus::Queued).then_some(job.run_at),
        "attempts": job.attempts,
        "last_error": last_error,
        "checkpoint": checkpoint,
        "progress": progress.as_ref().map(|progress| json!({
            "pages": progress.pages,
            "created": progress.created,
            "updated": progress.updated,
            "deleted": progress.deleted,
            "updated_at": progress.updated_at,
        })),
        "created_at": job.created_at,
    }))
}

/// Enqueues the sync of `object` on a connection (or finds the one that has not ended).
async fn start_sync(
    state: &AppState,
    environment_id: &EnvironmentId,
    connection_id: &ConnectionId,
    object: UnifiedObject,
    every: u64,
    reconcile_every: Option<u64>,
) -> Result<(Job, bool), StoreError> {
    operations::sync_state::start_sync(
        state.store.as_ref(),
        environment_id,
        connection_id,
        object,
        every,
        reconcile_every,
    )
    .await
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CreateSync>,
) -> Result<impl IntoResponse, ApiError> {
    let connection_id = ConnectionId::parse(&body.connection_id)
        .map_err(|_| ApiError::invalid("connection_id", "is not a connection id"))?;
    let every = every_secs("every_secs", body.every_secs)?;
    let reconcile_every = reconcile_every_secs("reconcile_every_secs", body.reconcile_every_secs)?;
    let bound = state
        .operations
        .bind(&caller.environment_id, connection_id.as_str(), None)
        .await
        .map_err(|error| match error {
            // A well-formed id of no connection of the environment: not found, as on every
            // route that names one.
            operations::OpError::NotFound(_) => {
                ApiError::not_found(format!("connection `{connection_id}` does not exist"))
            }
            other => other.into(),
        })?;
    let object = unified_object("object", &body.object)?;
    if !bound
        .connector()
        .supports(&object.key(), connector::Operation::List)
    {
        return Err(ApiError::invalid(
            "object",
            format!(
                "the `{}` connector cannot list `{}`",
                bound.connector().id(),
                object.key()
            ),
        ));
    }
    let (job, created) = start_sync(
        &state,
        &caller.environment_id,
        &connection_id,
        object,
        every,
        reconcile_every,
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, JsonBody(view(&state, &job).await?)))
}

/// Starts the environment's default syncs on a new connection: one per default object its
/// connector can list (the others are left out). Returns the syncs started.
///
/// # Errors
///
/// A store error; the caller decides whether the connection stands without its syncs.
pub async fn start_default_syncs(
    state: &AppState,
    environment_id: &EnvironmentId,
    connection_id: &ConnectionId,
) -> Result<Vec<Job>, ApiError> {
    let defaults: Vec<DefaultSync> =
        serde_json::from_value(state.store.get_default_syncs(environment_id).await?)
            .unwrap_or_default();
    if defaults.is_empty() {
        return Ok(Vec::new());
    }
    let bound = state
        .operations
        .bind(environment_id, connection_id.as_str(), None)
        .await?;
    let mut started = Vec::new();
    for default in defaults {
        let Some(object) = UnifiedObject::parse_key(&default.object) else {
            continue;
        };
        if !bound
            .connector()
            .supports(&object.key(), connector::Operation::List)
        {
            continue;
        }
        let (job, _) = start_sync(
            state,
            environment_id,
            connection_id,
            object,
            default.every_secs,
            None,
        )
        .await?;
        started.push(job);
    }
    Ok(started)
}

/// Starts the environment's default syncs on a connection just made; a failure is logged, not
/// answered: the connection stands, and its syncs can be started with `POST /syncs`.
pub async fn start_default_syncs_logged(state: &AppState, connection: &store::Connection) {
    match start_default_syncs(state, &connection.environment_id, &connection.id).await {
        Ok(started) if !started.is_empty() => {
            tracing::info!(connection_id = %connection.id, syncs = started.len(), "default syncs started");
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(connection_id = %connection.id, error = ?error, "starting the default syncs failed");
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncsQuery {
    #[serde(default)]
    connection_id: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<SyncsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let connection_id = connection_filter(query.connection_id.as_deref())?;
    let jobs = state
        .store
        .list_jobs(&caller.environment_id, connection_id.as_ref(), 1_000)
        .await?;
    let mut results = Vec::new();
    for job in jobs.iter().filter(|job| job.kind == SYNC_JOB_KIND) {
        results.push(view(&state, job).await?);
    }
    Ok(JsonBody(json!({"results": results})))
}

fn sync_id(id: &str) -> Result<JobId, ApiError> {
    JobId::parse(id).map_err(|_| ApiError::not_found(format!("sync `{id}` does not exist")))
}

/// The sync `id` of the caller's environment, with its parsed definition.
async fn sync_job(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(Job, SyncJob, ConnectionId), ApiError> {
    let missing = || ApiError::not_found(format!("sync `{id}` does not exist"));
    let job = match state
        .store
        .get_job(&caller.environment_id, &sync_id(id)?)
        .await
    {
        Err(StoreError::NotFound) => return Err(missing()),
        other => other?,
    };
    if job.kind != SYNC_JOB_KIND {
        return Err(missing());
    }
    let spec: SyncJob = serde_json::from_value(job.payload.clone())
        .map_err(|error| ApiError::Internal(anyhow::anyhow!("sync `{id}`'s payload: {error}")))?;
    let connection_id = job.connection_id.clone().ok_or_else(missing)?;
    Ok((job, spec, connection_id))
}

/// The 409 of a control the sync's state refuses.
fn refused(id: &str, job: &Job) -> ApiError {
    match job.status {
        JobStatus::Running => ApiError::Conflict {
            code: "sync_running",
            detail: format!("sync `{id}` is running; its run ends before another starts"),
        },
        JobStatus::Paused => ApiError::Conflict {
            code: "sync_paused",
            detail: format!("sync `{id}` is paused; resume it first (POST /syncs/{id}/resume)"),
        },
        _ => ApiError::Conflict {
            code: "sync_ended",
            detail: format!(
                "sync `{id}` has ended ({}); start it again with POST /syncs",
                job.status.as_str()
            ),
        },
    }
}

pub async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (job, _, _) = sync_job(&state, &caller, &id).await?;
    Ok(JsonBody(view(&state, &job).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSync {
    #[serde(default, deserialize_with = "super::not_null")]
    every_secs: Option<u64>,
    #[serde(default, deserialize_with = "super::not_null")]
    reconcile_every_secs: Option<u64>,
}

/// `PATCH /syncs/{id}`: a new frequency, a new reconciliation schedule, or both. A shorter
/// frequency takes effect at once (the next run is no later than `every_secs` from now); a
/// longer one from the next run on. A reconciliation schedule is read as each run starts.
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateSync>,
) -> Result<impl IntoResponse, ApiError> {
    if body.every_secs.is_none() && body.reconcile_every_secs.is_none() {
        return Err(ApiError::invalid(
            "every_secs",
            "give `every_secs`, `reconcile_every_secs` or both",
        ));
    }
    let every = body
        .every_secs
        .map(|every| every_secs("every_secs", Some(every)))
        .transpose()?;
    let reconcile_every = reconcile_every_secs("reconcile_every_secs", body.reconcile_every_secs)?;
    let (job, spec, _) = sync_job(&state, &caller, &id).await?;
    let payload = serde_json::to_value(SyncJob {
        every_secs: every.or(spec.every_secs),
        reconcile_every_secs: reconcile_every.or(spec.reconcile_every_secs),
        ..spec
    })
    .expect("a sync job serializes");
    let due_by =
        every.map(|every| timestamp::add(timestamp::now(), std::time::Duration::from_secs(every)));
    let job = match state
        .store
        .update_job_payload(&caller.environment_id, &job.id, &payload, due_by)
        .await
    {
        Err(StoreError::Conflict(_)) => return Err(refused(&id, &job)),
        other => other?,
    };
    Ok(JsonBody(view(&state, &job).await?))
}

/// Records, from outside a run, how a sync stands (keeping its phase and last error) and the
/// event `kind` when there is one.
async fn record_control(
    state: &AppState,
    job: &Job,
    spec: &SyncJob,
    connection_id: &ConnectionId,
    status: SyncStatus,
    kind: Option<&str>,
) -> Result<(), ApiError> {
    let progress: Option<SyncProgress> = state
        .store
        .get_sync_progress(&job.environment_id, connection_id, &spec.object)
        .await?;
    let event = kind.map(|kind| NewEvent {
        environment_id: job.environment_id.clone(),
        connection_id: Some(connection_id.clone()),
        kind: kind.to_owned(),
        payload: json!({"sync_id": job.id.as_str(), "object": spec.object}),
    });
    state
        .store
        .record_sync_state(
            &job.environment_id,
            SyncState {
                connection_id: connection_id.clone(),
                object: spec.object.clone(),
                status,
                phase: progress.as_ref().and_then(|progress| progress.phase),
                last_error: progress.and_then(|progress| progress.last_error),
                claim: None,
            },
            event,
        )
        .await?;
    Ok(())
}

/// Applies a control to the sync `id`, and records what it changed.
async fn control(
    state: &AppState,
    caller: &Caller,
    id: &str,
    control: JobControl,
) -> Result<Job, ApiError> {
    let (job, spec, connection_id) = sync_job(state, caller, id).await?;
    let (controlled, changed) = match state
        .store
        .control_job(&caller.environment_id, &job.id, control, timestamp::now())
        .await
    {
        Err(StoreError::Conflict(_)) => {
            // Read again: the refusal names the state that refused it.
            let now = state.store.get_job(&caller.environment_id, &job.id).await?;
            return Err(refused(id, &now));
        }
        other => other?,
    };
    if changed {
        let (status, kind) = match control {
            JobControl::Pause => (
                SyncStatus::Paused,
                Some(operations::sync_state::SYNC_PAUSED),
            ),
            JobControl::Resume => (
                SyncStatus::Queued,
                Some(operations::sync_state::SYNC_RESUMED),
            ),
            JobControl::RunNow => (SyncStatus::Queued, None),
        };
        record_control(state, &controlled, &spec, &connection_id, status, kind).await?;
    }
    Ok(controlled)
}

/// `POST /syncs/{id}/pause`: no run starts until it is resumed; a run under way stops at its
/// next page and resumes from its checkpoint. Pausing a paused sync changes nothing.
pub async fn pause(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let job = control(&state, &caller, &id, JobControl::Pause).await?;
    Ok(JsonBody(view(&state, &job).await?))
}

/// `POST /syncs/{id}/resume`: the sync runs again on its schedule (at once when a run came due
/// while it was paused). Resuming a sync that is not paused changes nothing.
pub async fn resume(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let job = control(&state, &caller, &id, JobControl::Resume).await?;
    Ok(JsonBody(view(&state, &job).await?))
}

/// `POST /syncs/{id}/run`: a run now, instead of at its scheduled time.
pub async fn run_now(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let job = control(&state, &caller, &id, JobControl::RunNow).await?;
    Ok((StatusCode::ACCEPTED, JsonBody(view(&state, &job).await?)))
}

/// `POST /syncs/{id}/resync`: the next run reads everything again (the watermark of
/// incremental runs is dropped), and it starts now; a run under way stops at its next page.
/// A paused sync stays paused, and reads everything when resumed.
pub async fn resync(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (job, spec, _) = sync_job(&state, &caller, &id).await?;
    let job = match state
        .store
        .restart_sync(
            &caller.environment_id,
            &job.id,
            &spec.object,
            timestamp::now(),
        )
        .await
    {
        Err(StoreError::Conflict(_)) => return Err(refused(&id, &job)),
        other => other?,
    };
    Ok((StatusCode::ACCEPTED, JsonBody(view(&state, &job).await?)))
}

pub async fn stop(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (job, _, _) = sync_job(&state, &caller, &id).await?;
    let job = match state
        .store
        .cancel_job(&caller.environment_id, &job.id, timestamp::now())
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict {
                code: "sync_ended",
                detail: format!("sync `{id}` has already ended"),
            });
        }
        other => other?,
    };
    Ok(JsonBody(view(&state, &job).await?))
}

/// One of an environment's default syncs, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultSync {
    /// The unified object's key.
    object: String,
    every_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultSyncInput {
    object: String,
    #[serde(default, deserialize_with = "super::not_null")]
    every_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultSyncs {
    syncs: Vec<super::Object<DefaultSyncInput>>,
}

/// `GET /environment/syncs`: the syncs each new connection of the environment starts.
pub async fn get_defaults(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let syncs = state
        .store
        .get_default_syncs(&caller.environment_id)
        .await?;
    Ok(JsonBody(json!({"syncs": syncs})))
}

/// `PUT /environment/syncs`: replaces them whole. Each names a unified object (once) and its
/// frequency (default every 15 minutes); a connection whose connector cannot list an object
/// starts the others.
pub async fn put_defaults(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<DefaultSyncs>,
) -> Result<impl IntoResponse, ApiError> {
    let mut syncs: Vec<DefaultSync> = Vec::new();
    for (index, super::Object(input)) in body.syncs.iter().enumerate() {
        let object = unified_object(&format!("syncs[{index}].object"), &input.object)?.key();
        if syncs.iter().any(|sync| sync.object == object) {
            return Err(ApiError::invalid(
                format!("syncs[{index}].object"),
                format!("`{object}` is named twice"),
            ));
        }
        let every = every_secs(&format!("syncs[{index}].every_secs"), input.every_secs)?;
        syncs.push(DefaultSync {
            object,
            every_secs: every,
        });
    }
    let stored = serde_json::to_value(&syncs).expect("default syncs serialize");
    state
        .store
        .set_default_syncs(&caller.environment_id, &stored)
        .await?;
    Ok(JsonBody(json!({"syncs": stored})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    connection_id: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

pub async fn changes(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ChangesQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let after = match query.after.as_deref() {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            ApiError::invalid(
                "after",
                format!("must be a `next_after` the feed returned, not `{text}`"),
            )
        })?,
    };
    let limit = match query.limit.as_deref() {
        None => CHANGES_DEFAULT_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=CHANGES_MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("must be a whole number from 1 to {CHANGES_MAX_LIMIT}, not `{text}`"),
                )
            })?,
    };
    let connection_id = connection_filter(query.connection_id.as_deref())?;
    let changes = state
        .store
        .list_changes(&caller.environment_id, after, connection_id.as_ref(), limit)
        .await?;
    let next_after = changes.last().map_or(after, |change| change.seq);
    let results: Vec<Value> = changes
        .into_iter()
        .map(|change| {
            json!({
                "seq": change.seq,
                "connection_id": change.connection_id.as_str(),
                "object": change.object,
                "remote_id": change.remote_id,
                "kind": change.kind,
                "record": change.record,
                "created_at": change.created_at,
            })
        })
        .collect();
    Ok(JsonBody(
        json!({"results": results, "next_after": next_after.to_string()}),
    ))
}
