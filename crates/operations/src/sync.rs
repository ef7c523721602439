//! Sync runs: the [`JobHandler`] of `sync` jobs, which keep a connection's unified object in
//! step in the record store and change feed (issue 16).
//!
//! A run walks the object's unified list through the same call path as every caller (credentials,
//! buckets, breaker), a page at a time; each page goes to [`store::Store::apply_sync_page`] with
//! the checkpoint to resume from, under the job claim's fence, so a crash repeats at most one
//! page and a repeated page adds no change. Where the connector declares the `updated_after`
//! filter, a run after the first asks only for records changed since the start of the last
//! complete run less a lookback (the watermark is taken at the start of a run, never its end, so
//! changes made during a run are read by the next). A cursor seen twice in one run aborts it
//! with a clear error instead of looping. A throttled run is rescheduled for when the budget
//! allows, not failed. A first (full) run reads through the vendor's bulk export instead of
//! the list where the connector declares one and the object is large enough (`bulk.rs`). Each
//! run records how the sync stands and its `sync.*` events (`sync_state.rs`). Deletes, as the
//! connector declares them, and the scheduled reconciliation passes are in `deletes.rs`.

mod bulk;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::json;
use sha2::{Digest, Sha256};
use store::{
    ConnectionId, Job, JobOutcome, SeenBy, StoreError, SyncPage, SyncPhase, SyncStatus,
    SyncedInput, timestamp,
};
use unified_model::UnifiedObject;

use crate::sync_state::{self, Recorder, RunCounts};
use crate::worker::JobHandler;
use crate::{Include, ListRequest, OpError, Operations};

mod deletes;

pub use deletes::{DEFAULT_RECONCILE_EVERY, DELETES_REFUSED_EVENT, DeleteGuard};

/// The kind of sync jobs.
pub const SYNC_JOB_KIND: &str = "sync";

/// How far before the last complete run's start the next incremental run reads, for records
/// whose vendor timestamp lags the write.
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(5 * 60);

/// What a `sync` job's payload says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJob {
    pub connection_id: String,
    /// The unified object's key (`crm.contacts`).
    pub object: String,
    /// Seconds from one run's end to the next run; `None`: one run only.
    #[serde(default)]
    pub every_secs: Option<u64>,
    /// Seconds between reconciliation passes (objects that declare deletes); `None`: the
    /// handler's default (daily).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_every_secs: Option<u64>,
}

/// Where a sync stands between pages and between runs (stored as the progress checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Checkpoint {
    /// The page to read next in the run under way; `None` between runs.
    #[serde(default)]
    cursor: Option<String>,
    /// The `updated_after` of the run under way (fixed for the whole run).
    #[serde(default)]
    since: Option<DateTime<Utc>>,
    /// When the run under way started.
    #[serde(default)]
    run_started_at: Option<DateTime<Utc>>,
    /// The `updated_after` of the next run: the last complete run's start less the lookback.
    #[serde(default)]
    watermark: Option<DateTime<Utc>>,
    /// The export job of a backfill under way (a first run read through the bulk export).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bulk: Option<bulk::BulkJob>,
    /// What the run under way does.
    #[serde(default)]
    phase: Option<SyncPhase>,
    /// The sync's totals when the run under way started, which tell the run's own counts.
    #[serde(default)]
    base: Option<RunCounts>,
    /// Where the sync stands with deletes.
    #[serde(default)]
    deletes: deletes::DeleteState,
}

/// How a run that read to the end ended.
struct Completed {
    outcome: JobOutcome,
    phase: Option<SyncPhase>,
    counts: RunCounts,
}

/// How long a sync waits before it tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncDelays {
    /// After a failed run's first attempt; doubling per attempt, at most an hour.
    pub retry_base: Duration,
    /// After the vendor said its quota is spent without saying until when (a daily allowance,
    /// say).
    pub quota_spent: Duration,
}

impl Default for SyncDelays {
    fn default() -> SyncDelays {
        SyncDelays {
            retry_base: Duration::from_secs(30),
            quota_spent: Duration::from_secs(15 * 60),
        }
    }
}

/// Runs `sync` jobs on `operations`.
pub struct SyncHandler {
    operations: Operations,
    page_size: u64,
    lookback: Duration,
    delays: SyncDelays,
    guard: DeleteGuard,
    reconcile_every: Duration,
    bulk_batch: usize,
}

/// Rows of a bulk export's page read, mapped and applied at once: a larger page is applied in
/// batches of this size, so a run's memory does not grow with the vendor's page size.
pub const DEFAULT_BULK_BATCH: usize = 2000;

impl SyncHandler {
    /// A handler reading pages of `page_size` records.
    pub fn new(operations: Operations, page_size: u64) -> SyncHandler {
        SyncHandler {
            operations,
            page_size,
            lookback: DEFAULT_LOOKBACK,
            delays: SyncDelays::default(),
            guard: DeleteGuard::default(),
            reconcile_every: DEFAULT_RECONCILE_EVERY,
            bulk_batch: DEFAULT_BULK_BATCH,
        }
    }

    /// The same handler applying a bulk export's pages in batches of at most `rows` rows
    /// (at least one).
    #[must_use]
    pub fn with_bulk_batch(mut self, rows: usize) -> SyncHandler {
        self.bulk_batch = rows.max(1);
        self
    }

    /// The same handler refusing reconciliation deletes as `guard` says.
    #[must_use]
    pub fn with_delete_guard(mut self, guard: DeleteGuard) -> SyncHandler {
        self.guard = guard;
        self
    }

    /// The same handler running reconciliation passes `every` so often, for syncs that do not
    /// say (their job payload's `reconcile_every_secs`).
    #[must_use]
    pub fn with_reconcile_every(mut self, every: Duration) -> SyncHandler {
        self.reconcile_every = every;
        self
    }

    /// The same handler waiting `delays` before it tries again.
    #[must_use]
    pub fn with_delays(mut self, delays: SyncDelays) -> SyncHandler {
        self.delays = delays;
        self
    }

    async fn run_sync(&self, job: &Job) -> Result<Completed, RunError> {
        let spec: SyncJob = serde_json::from_value(job.payload.clone())
            .map_err(|error| RunError::Fatal(format!("the sync job's payload: {error}")))?;
        let object = UnifiedObject::parse_key(&spec.object)
            .ok_or_else(|| RunError::Fatal(format!("`{}` is no unified object", spec.object)))?;
        let bound = self
            .operations
            .bind(&job.environment_id, &spec.connection_id, None)
            .await?;
        let store = self.operations.store();
        let connection_id = bound.connection().id.clone();
        let progress = store
            .get_sync_progress(&job.environment_id, &connection_id, &object.key())
            .await
            .map_err(OpError::from)?;
        let stored = progress
            .as_ref()
            .and_then(|progress| progress.checkpoint.clone())
            .and_then(|checkpoint| serde_json::from_value::<Checkpoint>(checkpoint).ok())
            .unwrap_or_default();
        let incremental = bound
            .connector()
            .file()
            .unified
            .get(&object.key())
            .and_then(|ops| ops.list.as_ref())
            .is_some_and(|list| list.filters.contains_key("updated_after"));
        let declared = bound.connector().deletes(&object.key()).cloned();
        let reconcile_every = spec
            .reconcile_every_secs
            .map_or(self.reconcile_every, Duration::from_secs);
        // A run under way resumes where its last page ended; otherwise a new run starts.
        let resumed = stored.run_started_at.is_some();
        let mut checkpoint = if resumed {
            let mut resumed_checkpoint = stored;
            // A pass keeps the ids it saw in the store; one whose checkpoint names no pass was
            // written by a version that kept them in the memory of the attempt that ended: the
            // walk goes on, but the pass ends without a diff.
            if resumed_checkpoint.deletes.reconcile
                && resumed_checkpoint.deletes.listed
                && resumed_checkpoint.deletes.pass.is_none()
                && resumed_checkpoint.cursor.is_some()
            {
                resumed_checkpoint.deletes.partial = true;
            }
            resumed_checkpoint
        } else {
            let started = timestamp::now();
            let since = stored.watermark.filter(|_| incremental);
            let empty = store
                .list_synced_records(
                    &job.environment_id,
                    &connection_id,
                    &object.key(),
                    None,
                    true,
                    1,
                )
                .await
                .map_err(OpError::from)?
                .is_empty();
            let mut deletes = stored.deletes;
            deletes.begin_run(
                declared.as_ref(),
                started,
                reconcile_every,
                since.is_none(),
                empty,
                self.lookback,
            );
            let since = since.filter(|_| !deletes.reconcile);
            Checkpoint {
                cursor: None,
                since,
                run_started_at: Some(started),
                watermark: stored.watermark,
                bulk: None,
                // A first run or a forced resync is a backfill, even when it also diffs.
                phase: Some(if deletes.reconcile && stored.watermark.is_some() {
                    SyncPhase::Reconcile
                } else if since.is_some() {
                    SyncPhase::Incremental
                } else {
                    SyncPhase::Backfill
                }),
                base: Some(RunCounts::of(progress.as_ref())),
                deletes,
            }
        };
        let object_key = object.key();
        let recorder = Recorder {
            store: store.as_ref(),
            job,
            connection_id: &connection_id,
            object: &object_key,
        };
        recorder
            .record(
                SyncStatus::Running,
                checkpoint.phase,
                progress.and_then(|progress| progress.last_error),
                (!resumed).then(|| (sync_state::SYNC_STARTED, json!({"phase": checkpoint.phase}))),
            )
            .await
            .map_err(lost_or_failed)?;
        let mut phase = checkpoint.phase;
        let base = checkpoint.base.unwrap_or_default();
        // The first run of a sync (nothing complete before it, no list page read yet) is a
        // backfill: through the vendor's bulk export where the connector declares one and the
        // object is large enough.
        if checkpoint.bulk.is_some()
            || (checkpoint.cursor.is_none() && checkpoint.watermark.is_none())
        {
            match self
                .backfill(job, &spec.connection_id, object, &mut checkpoint)
                .await?
            {
                bulk::Backfill::Complete => {
                    return self
                        .completed(job, &spec, &connection_id, &object_key, phase, base)
                        .await;
                }
                bulk::Backfill::NotUsed => {}
            }
        }
        let writer = deletes::Writer {
            bound: &bound,
            job,
            connection_id: &connection_id,
            object,
        };
        if let Some(declared) = &declared {
            let until = checkpoint.run_started_at.unwrap_or_else(timestamp::now);
            let mut state = checkpoint.deletes.clone();
            let before = checkpoint.clone();
            let listed = writer
                .read_listing(
                    declared,
                    &mut state,
                    until,
                    self.lookback,
                    self.page_size,
                    |state| {
                        let mut next = before.clone();
                        next.deletes = state.clone();
                        serde_json::to_value(&next).expect("a checkpoint serializes")
                    },
                )
                .await?;
            checkpoint.deletes = state;
            if let deletes::Listed::FellBack = listed {
                // The run walks everything, to diff it against the store.
                checkpoint.since = None;
                checkpoint.cursor = None;
                checkpoint.phase = Some(SyncPhase::Reconcile);
                phase = checkpoint.phase;
            }
        }
        // A reconciliation pass ends with a diff against the records it marked seen in the
        // store (one resumed from a checkpoint of an earlier version, which kept them in
        // memory, does not).
        let pass = checkpoint
            .deletes
            .pass
            .clone()
            .filter(|_| checkpoint.deletes.reconcile && !checkpoint.deletes.partial);
        let mut seen = HashSet::new();
        loop {
            // Each page is a request of its own: its mappings get their own evaluation budget,
            // as one unified list page does (a run of thousands of pages would otherwise spend
            // one request's budget and fail its later records).
            bound.renew_budget();
            let filters = checkpoint
                .since
                .map(|since| {
                    vec![(
                        "updated_after".to_owned(),
                        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    )]
                })
                .unwrap_or_default();
            let page = bound
                .list_page(
                    object,
                    ListRequest {
                        filters,
                        page_size: Some(self.page_size),
                        cursor: checkpoint.cursor.clone(),
                        include: Include::default(),
                    },
                )
                .await?;
            if let Some(next) = &page.next_cursor
                && (!seen.insert(next.clone()) || checkpoint.cursor.as_ref() == Some(next))
            {
                return Err(RunError::Fatal(format!(
                    "the vendor's pagination repeated a page (cursor `{next}` came twice); \
                     the run stopped instead of looping"
                )));
            }
            // A record that failed to map is still at the vendor: it counts as seen, and one
            // whose id cannot be read keeps the pass from deleting anything.
            let mut also_seen = Vec::new();
            let mut unclean = false;
            for error in &page.errors {
                match error.get("remote_id").and_then(Value::as_str) {
                    Some(id) => also_seen.push(id.to_owned()),
                    None => unclean = true,
                }
            }
            let upserts: Vec<SyncedInput> = page
                .results
                .into_iter()
                .filter_map(|record| {
                    let input = synced_input(record);
                    unclean |= input.is_none();
                    input
                })
                .collect();
            if pass.is_some() {
                checkpoint.deletes.unclean |= unclean;
            }
            // The checkpoint as the page found it, which deletes made ahead of the page go with.
            let walked = checkpoint.clone();
            let done = page.next_cursor.is_none();
            checkpoint.cursor = page.next_cursor;
            // A pass's last page also carries the deletes its diff finds (made before the page
            // is applied, so a run that stops meanwhile reads the page again).
            let mut gone = Vec::new();
            if done {
                if let Some(pass) = &pass {
                    let last: HashSet<String> = upserts
                        .iter()
                        .map(|input| input.remote_id.clone())
                        .chain(also_seen.iter().cloned())
                        .collect();
                    let before = serde_json::to_value(&walked).expect("a checkpoint serializes");
                    gone = writer
                        .gone(
                            pass,
                            &last,
                            !checkpoint.deletes.unclean,
                            self.guard,
                            &before,
                        )
                        .await?;
                }
                self.finish_run(&mut checkpoint, declared.as_ref());
            }
            store
                .apply_sync_page(
                    &job.environment_id,
                    SyncPage {
                        connection_id: connection_id.clone(),
                        object: object.key(),
                        upserts,
                        deletes: gone,
                        checkpoint: Some(
                            serde_json::to_value(&checkpoint).expect("a checkpoint serializes"),
                        ),
                        claim: Some((job.id.clone(), job.fence)),
                        seen: pass.as_ref().map(|pass| SeenBy {
                            pass: pass.clone(),
                            ids: also_seen,
                        }),
                    },
                )
                .await
                .map_err(lost_or_failed)?;
            if done {
                break;
            }
        }
        self.completed(job, &spec, &connection_id, &object_key, phase, base)
            .await
    }

    /// Marks the run under way complete: the next run reads from its start, less the lookback.
    fn complete_run(&self, checkpoint: &mut Checkpoint) {
        checkpoint.watermark = checkpoint
            .run_started_at
            .map(|started| started - chrono::Duration::from_std(self.lookback).unwrap_or_default());
        checkpoint.run_started_at = None;
        checkpoint.since = None;
        checkpoint.cursor = None;
        checkpoint.phase = None;
        checkpoint.base = None;
    }

    /// How a run that read to the end ended: the run's counts (the sync's totals less those at
    /// its start) and its next run, after the sync's frequency as it is now (it may have
    /// changed during the run, `PATCH /syncs/{id}`).
    async fn completed(
        &self,
        job: &Job,
        spec: &SyncJob,
        connection_id: &ConnectionId,
        object_key: &str,
        phase: Option<SyncPhase>,
        base: RunCounts,
    ) -> Result<Completed, RunError> {
        let store = self.operations.store();
        let totals = store
            .get_sync_progress(&job.environment_id, connection_id, object_key)
            .await
            .map_err(OpError::from)?;
        let every_secs = store
            .get_job(&job.environment_id, &job.id)
            .await
            .ok()
            .and_then(|current| serde_json::from_value::<SyncJob>(current.payload).ok())
            .map_or(spec.every_secs, |current| current.every_secs);
        Ok(Completed {
            outcome: match every_secs {
                Some(every) => JobOutcome::Reschedule {
                    at: timestamp::add(timestamp::now(), Duration::from_secs(every)),
                },
                None => JobOutcome::Done,
            },
            phase,
            counts: RunCounts::of(totals.as_ref()).since(base),
        })
    }
}

/// A unified record as the store takes it: with its remote id and the SHA-256 of its serialized
/// form (`None` for a record without an id).
pub(crate) fn synced_input(record: Value) -> Option<SyncedInput> {
    let remote_id = deletes::remote_id_of(&record)?;
    Some(SyncedInput::new(remote_id, &record, |text| {
        hex::encode(Sha256::digest(text.as_bytes()))
    }))
}

impl SyncHandler {
    /// Ends the run under way in `checkpoint`, with where it leaves deletes.
    fn finish_run(&self, checkpoint: &mut Checkpoint, declared: Option<&connector::file::Deletes>) {
        if let Some(started) = checkpoint.run_started_at {
            checkpoint
                .deletes
                .finish_run(declared, started, self.lookback);
        }
        self.complete_run(checkpoint);
    }
}

/// A refused write means the job's claim is lost; any other store error fails the run.
fn lost_or_failed(error: StoreError) -> RunError {
    match error {
        StoreError::Conflict(detail) => RunError::Lost(detail),
        other => RunError::Op(other.into()),
    }
}

/// Why a run stopped early.
enum RunError {
    /// Running again cannot help (a bad payload, a loop in the vendor's pagination).
    Fatal(String),
    /// The job's claim is gone; whatever is answered, the store refuses it.
    Lost(String),
    Op(OpError),
}

impl From<OpError> for RunError {
    fn from(error: OpError) -> RunError {
        RunError::Op(error)
    }
}

/// How long a failed run waits before its next attempt: `base`, doubling per attempt, at most
/// an hour.
fn backoff(base: Duration, attempts: u32) -> Duration {
    base.saturating_mul(1 << attempts.min(7))
        .min(Duration::from_secs(3_600))
}

impl SyncHandler {
    /// How a run's result ends its job, and what the sync records about it: its status, last
    /// error and event (`None`: the claim is lost, nothing is recorded).
    fn settle(
        &self,
        job: &Job,
        result: Result<Completed, RunError>,
    ) -> (JobOutcome, Option<Settled>) {
        let now = timestamp::now();
        match result {
            Ok(completed) => {
                let next_run_at = match &completed.outcome {
                    JobOutcome::Reschedule { at } => Some(*at),
                    _ => None,
                };
                let event = json!({
                    "phase": completed.phase,
                    "counts": completed.counts,
                    "next_run_at": next_run_at,
                });
                (
                    completed.outcome,
                    Some(Settled {
                        status: SyncStatus::Done,
                        phase: completed.phase,
                        last_error: None,
                        event: (sync_state::SYNC_COMPLETED, event),
                    }),
                )
            }
            Err(RunError::Lost(error)) => (JobOutcome::Retry { at: now, error }, None),
            Err(RunError::Fatal(error)) => {
                let problem = sync_state::stopped_problem(&error);
                (
                    JobOutcome::Fail { error },
                    Some(Settled::failed(problem, None)),
                )
            }
            Err(RunError::Op(error)) => {
                let problem = sync_state::problem_of(&error);
                let throttled = |at| {
                    (
                        JobOutcome::Reschedule { at },
                        Some(Settled {
                            status: SyncStatus::RateLimited,
                            phase: None,
                            last_error: Some(problem.clone()),
                            event: (sync_state::SYNC_RATE_LIMITED, json!({"retry_at": at})),
                        }),
                    )
                };
                match error {
                    // A throttle is not a failure: the run continues from its checkpoint when the
                    // budget allows.
                    OpError::Throttled { retry_after, .. }
                    | OpError::CircuitOpen { retry_after } => {
                        throttled(timestamp::add(now, retry_after))
                    }
                    OpError::Provider(provider)
                        if matches!(
                            provider.code,
                            connector::ErrorCode::QuotaExhausted
                                | connector::ErrorCode::RateLimited
                        ) =>
                    {
                        throttled(timestamp::add(now, self.delays.quota_spent))
                    }
                    OpError::ReauthRequired
                    | OpError::NotFound(_)
                    | OpError::Unsupported(_)
                    | OpError::Invalid { .. }
                    | OpError::Conflict { .. }
                    | OpError::OverrideInvalid(_) => (
                        JobOutcome::Fail {
                            error: error.to_string(),
                        },
                        Some(Settled::failed(problem, None)),
                    ),
                    other => {
                        let at = timestamp::add(now, backoff(self.delays.retry_base, job.attempts));
                        let retry_at = (job.attempts < job.max_attempts).then_some(at);
                        (
                            JobOutcome::Retry {
                                at,
                                error: other.to_string(),
                            },
                            Some(Settled::failed(problem, retry_at)),
                        )
                    }
                }
            }
        }
    }
}

/// What a sync records when a run ends.
struct Settled {
    status: SyncStatus,
    /// The run's phase; `None` keeps the one recorded at its start.
    phase: Option<SyncPhase>,
    last_error: Option<serde_json::Value>,
    event: (&'static str, serde_json::Value),
}

impl Settled {
    /// A failed run, tried again at `retry_at` if any.
    fn failed(problem: serde_json::Value, retry_at: Option<DateTime<Utc>>) -> Settled {
        Settled {
            status: SyncStatus::Failed,
            phase: None,
            last_error: Some(problem.clone()),
            event: (
                sync_state::SYNC_FAILED,
                json!({"error": problem, "will_retry": retry_at.is_some(), "retry_at": retry_at}),
            ),
        }
    }
}

#[async_trait::async_trait]
impl JobHandler for SyncHandler {
    async fn run(&self, job: &Job) -> JobOutcome {
        let result = self.run_sync(job).await;
        let (outcome, settled) = self.settle(job, result);
        let Some(settled) = settled else {
            return outcome;
        };
        // A payload that does not name a connection and an object has no state to record.
        let Some((connection_id, object)) = serde_json::from_value::<SyncJob>(job.payload.clone())
            .ok()
            .and_then(|spec| {
                Some((
                    ConnectionId::parse(&spec.connection_id).ok()?,
                    UnifiedObject::parse_key(&spec.object)?.key(),
                ))
            })
        else {
            return outcome;
        };
        let store = self.operations.store();
        let phase = match settled.phase {
            Some(phase) => Some(phase),
            None => store
                .get_sync_progress(&job.environment_id, &connection_id, &object)
                .await
                .ok()
                .flatten()
                .and_then(|progress| progress.phase),
        };
        let recorder = Recorder {
            store: store.as_ref(),
            job,
            connection_id: &connection_id,
            object: &object,
        };
        match recorder
            .record(
                settled.status,
                phase,
                settled.last_error,
                Some(settled.event),
            )
            .await
        {
            Ok(()) => outcome,
            // The claim is lost: the finish is refused as well.
            Err(StoreError::Conflict(error)) => JobOutcome::Retry {
                at: timestamp::now(),
                error,
            },
            Err(error) => {
                tracing::warn!(job = %job.id, error = %error, "recording a sync's state failed");
                outcome
            }
        }
    }
}
