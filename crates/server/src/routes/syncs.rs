//! Syncs and the change feed (issue 16).
//!
//! `POST /syncs` starts keeping one connection's unified object in step (a run now, then one
//! every `every_secs`); `GET /syncs` shows the environment's syncs with their progress;
//! `DELETE /syncs/{id}` stops one. `GET /changes` reads the environment's change feed after a
//! sequence number: a consumer that stores `next_after` after each page sees every change once.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use store::{ConnectionId, Job, JobId, NewJob, timestamp};
use unified_model::UnifiedObject;

use super::JsonBody;
use super::events::connection_filter;
use crate::auth::Caller;
use crate::{ApiError, AppState, SYNC_JOB_KIND, SyncJob};

/// The frequency of a sync that names none: every 15 minutes.
pub const DEFAULT_EVERY_SECS: u64 = 15 * 60;
/// The most frequent and the least frequent a sync may run.
pub const EVERY_SECS_BOUNDS: (u64, u64) = (60, 7 * 24 * 3600);
/// Changes a page of the feed holds when the request names no `limit`, and at most.
pub const CHANGES_DEFAULT_LIMIT: u32 = 100;
pub const CHANGES_MAX_LIMIT: u32 = 1000;
/// Attempts of a failing run before the sync stops for good.
const SYNC_ATTEMPTS: u32 = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSync {
    connection_id: String,
    /// The unified object, `crm.contacts` (or `contacts` where no other category has one).
    object: String,
    #[serde(default)]
    every_secs: Option<u64>,
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
    Ok(json!({
        "id": job.id.as_str(),
        "connection_id": job.connection_id.as_ref().map(ConnectionId::as_str),
        "object": spec.as_ref().map(|spec| spec.object.clone()),
        "every_secs": spec.as_ref().and_then(|spec| spec.every_secs),
        "status": job.status,
        "next_run_at": job.status.is_live().then_some(job.run_at),
        "attempts": job.attempts,
        "last_error": job.last_error,
        "progress": progress.map(|progress| json!({
            "pages": progress.pages,
            "created": progress.created,
            "updated": progress.updated,
            "deleted": progress.deleted,
            "updated_at": progress.updated_at,
        })),
        "created_at": job.created_at,
    }))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CreateSync>,
) -> Result<impl IntoResponse, ApiError> {
    let connection_id = ConnectionId::parse(&body.connection_id)
        .map_err(|_| ApiError::invalid("connection_id", "is not a connection id"))?;
    let every = body.every_secs.unwrap_or(DEFAULT_EVERY_SECS);
    if !(EVERY_SECS_BOUNDS.0..=EVERY_SECS_BOUNDS.1).contains(&every) {
        return Err(ApiError::invalid(
            "every_secs",
            format!(
                "must be from {} to {} seconds, not {every}",
                EVERY_SECS_BOUNDS.0, EVERY_SECS_BOUNDS.1
            ),
        ));
    }
    let bound = state
        .operations
        .bind(&caller.environment_id, connection_id.as_str(), None)
        .await
        .map_err(|error| match error {
            operations::OpError::NotFound(_) => ApiError::invalid(
                "connection_id",
                format!("connection `{connection_id}` does not exist"),
            ),
            other => other.into(),
        })?;
    // A bare slug is read when exactly one category has it.
    let object = UnifiedObject::parse_key(&body.object)
        .or_else(|| {
            let mut named = UnifiedObject::all().filter(|object| object.slug() == body.object);
            named.next().filter(|_| named.next().is_none())
        })
        .ok_or_else(|| {
            ApiError::invalid("object", format!("`{}` is no unified object", body.object))
        })?;
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
    let (job, created) = state
        .store
        .enqueue_job(NewJob {
            environment_id: caller.environment_id.clone(),
            connection_id: Some(connection_id.clone()),
            kind: SYNC_JOB_KIND.to_owned(),
            key: Some(format!("sync:{connection_id}:{}", object.key())),
            payload: serde_json::to_value(SyncJob {
                connection_id: connection_id.to_string(),
                object: object.key(),
                every_secs: Some(every),
            })
            .expect("a sync job serializes"),
            run_at: timestamp::now(),
            max_attempts: SYNC_ATTEMPTS,
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, JsonBody(view(&state, &job).await?)))
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

pub async fn stop(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let job_id = sync_id(&id)?;
    let job = match state
        .store
        .cancel_job(&caller.environment_id, &job_id, timestamp::now())
        .await
    {
        Err(store::StoreError::NotFound) => {
            return Err(ApiError::not_found(format!("sync `{id}` does not exist")));
        }
        Err(store::StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict {
                code: "sync_ended",
                detail: format!("sync `{id}` has already ended"),
            });
        }
        other => other?,
    };
    Ok(JsonBody(view(&state, &job).await?))
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
