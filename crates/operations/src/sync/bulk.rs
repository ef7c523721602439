//! The backfill phase of a sync: a first (full) run that reads the object through the vendor's
//! bulk export (a connector list's `bulk`) instead of its list, when the connector declares one
//! and the object holds at least the export's threshold of records.
//!
//! The export job is created once; its id is checkpointed before the first poll, and after
//! each page of results the locator of the next, in the same transaction as the page's
//! records, so a run that stops (a crash, a lost lease, a throttle) resumes the same job from
//! its last page instead of starting another. A job the vendor no longer knows (past its
//! lifetime) or that failed is dropped from the checkpoint and the run is retried, which starts
//! a new one; pages already applied add no change again, since unchanged records hash the same.
//! Every call (count, create, polls, pages) goes through the connection's session, with the
//! same credentials, buckets and breaker as every other call. Polls wait between them as the
//! export declares (doubling from `initial_delay_ms` to `max_delay_ms`).

use std::collections::HashSet;
use std::time::Duration;

use connector::{BulkResults, BulkState, ErrorCode, RequestContext};
use provider_http::Answer;
use serde::{Deserialize, Serialize};
use store::{Job, StoreError, SyncPage};
use unified_model::UnifiedObject;

use super::{Checkpoint, RunError, SyncHandler, synced_input};
use crate::records::{Include, READ, finish_leniently, with_warnings};
use crate::{OpError, bound::Bound};

/// The export job of a backfill under way, as checkpointed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct BulkJob {
    /// The vendor's id of the job.
    pub(super) job_id: String,
    /// The locator of the next page of results; `None` before the first.
    #[serde(default)]
    pub(super) locator: Option<String>,
}

/// A page of results received: the binding it was requested on, its context, the answer.
struct Fetched {
    bound: Bound,
    ctx: RequestContext,
    answer: Answer,
}

/// How a backfill attempt ended.
pub(super) enum Backfill {
    /// The connector declares no export for the object, or it holds fewer records than the
    /// threshold: the run reads the list.
    NotUsed,
    /// Every page of the export was applied and the run is complete.
    Complete,
}

impl SyncHandler {
    /// Runs (or resumes) the backfill of `object` through its bulk export; `checkpoint` is the
    /// run's, written back with each page.
    pub(super) async fn backfill(
        &self,
        job: &Job,
        connection_id: &str,
        object: UnifiedObject,
        checkpoint: &mut Checkpoint,
    ) -> Result<Backfill, RunError> {
        let key = object.key();
        let bound = self
            .operations
            .bind(&job.environment_id, connection_id, None)
            .await?;
        let Some(declared) = bound.connector().bulk_read(&key).cloned() else {
            return Ok(Backfill::NotUsed);
        };
        let ctx = bound.context(&key).await?;
        let bulk_job = match checkpoint.bulk.clone() {
            Some(bulk_job) => bulk_job,
            None => {
                if let Some(count) = count(&bound, &key, &ctx).await?
                    && count < declared.threshold
                {
                    return Ok(Backfill::NotUsed);
                }
                let plan = {
                    let (key, ctx) = (key.clone(), ctx.clone());
                    bound
                        .evaluate(move |connector| connector.plan_bulk_create(&key, &ctx))
                        .await?
                        .map_err(OpError::from)?
                };
                // A repeated creation costs one job of the vendor's daily allowance, nothing
                // else, so it is retried like a read.
                let answer = bound.send(plan, true).await?;
                let read = bound
                    .evaluate({
                        let key = key.clone();
                        move |connector| connector.read_bulk_create(&key, &answer.response)
                    })
                    .await?;
                let bulk_job = BulkJob {
                    job_id: bound.noted(&key, read).await?,
                    locator: None,
                };
                tracing::info!(
                    connection_id,
                    object = %key,
                    job_id = %bulk_job.job_id,
                    "backfill export job created"
                );
                checkpoint.bulk = Some(bulk_job.clone());
                self.save(job, connection_id, &key, Vec::new(), checkpoint)
                    .await?;
                bulk_job
            }
        };
        if bulk_job.locator.is_none() {
            let poll = &declared.poll;
            self.wait_until_done(
                &bound,
                job,
                connection_id,
                &key,
                &ctx,
                &bulk_job.job_id,
                checkpoint,
                Duration::from_millis(poll.initial_delay_ms),
                Duration::from_millis(poll.max_delay_ms),
            )
            .await?;
        }
        drop(bound);
        // Boxed: reading a page while the next is fetched makes a large future.
        Box::pin(self.read_results(job, connection_id, object, bulk_job, checkpoint)).await?;
        Ok(Backfill::Complete)
    }

    /// Polls the job until it is done, waiting between polls from `initial` doubling to `max`.
    #[allow(clippy::too_many_arguments)] // one call site; the pieces are distinct
    async fn wait_until_done(
        &self,
        bound: &Bound,
        job: &Job,
        connection_id: &str,
        key: &str,
        ctx: &RequestContext,
        job_id: &str,
        checkpoint: &mut Checkpoint,
        initial: Duration,
        max: Duration,
    ) -> Result<(), RunError> {
        let mut delay = initial;
        loop {
            let plan = {
                let (key, ctx, job_id) = (key.to_owned(), ctx.clone(), job_id.to_owned());
                bound
                    .evaluate(move |connector| connector.plan_bulk_poll(&key, &ctx, &job_id))
                    .await?
                    .map_err(OpError::from)?
            };
            let answer = bound.send(plan, true).await?;
            let read = bound
                .evaluate({
                    let key = key.to_owned();
                    move |connector| connector.read_bulk_poll(&key, &answer.response)
                })
                .await?;
            match bound.noted(key, read).await {
                Ok(BulkState::Done) => return Ok(()),
                Ok(BulkState::Pending) => {
                    // The vendor works on the job; waiting is what the export asks for.
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2).min(max);
                }
                Ok(BulkState::Failed(message)) => {
                    return Err(self
                        .abandon(
                            job,
                            connection_id,
                            key,
                            checkpoint,
                            format!(
                                "the vendor's export job `{job_id}` failed{}",
                                message.map(|m| format!(": {m}")).unwrap_or_default()
                            ),
                        )
                        .await);
                }
                Err(error) => {
                    return Err(self
                        .gone_or(job, connection_id, key, checkpoint, error)
                        .await);
                }
            }
        }
    }

    /// Reads the job's results from the checkpointed locator on, a page at a time. Each page
    /// is read and applied in batches of at most `bulk_batch` rows (one batch per page when the
    /// page is no larger): every batch but the last keeps the page's own locator in the
    /// checkpoint, so a run that stops mid-page reads that page again (its applied batches add
    /// no change); the last carries the next page's locator, and the last page's completes the
    /// run.
    ///
    /// The next page is requested while a page is mapped and applied (it waits for the
    /// connection's buckets meanwhile), so the run is paced by the vendor's limits rather than
    /// by the sum of the vendor's time and ours; it is opened only once the page before it is
    /// applied, and at most one page is fetched ahead.
    async fn read_results(
        &self,
        job: &Job,
        connection_id: &str,
        object: UnifiedObject,
        mut bulk_job: BulkJob,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), RunError> {
        let key = object.key();
        let job_id = bulk_job.job_id.clone();
        let mut seen = HashSet::new();
        // The page fetched while the one before it was applied.
        let mut ahead: Option<Fetched> = None;
        loop {
            let Fetched { bound, ctx, answer } = match ahead.take() {
                Some(fetched) => fetched,
                None => {
                    let (bound, ctx, plan) = self
                        .plan_page(
                            job,
                            connection_id,
                            &key,
                            &job_id,
                            bulk_job.locator.as_deref(),
                        )
                        .await?;
                    let answer = bound.send(plan, true).await?;
                    Fetched { bound, ctx, answer }
                }
            };
            let opened = bound
                .evaluate({
                    let (key, ctx) = (key.clone(), ctx.clone());
                    move |connector| connector.open_bulk_results(&key, &ctx, answer.response)
                })
                .await?;
            let results = match bound.noted(&key, opened).await {
                Ok(results) => results,
                Err(error) => {
                    return Err(self
                        .gone_or(job, connection_id, &key, checkpoint, error)
                        .await);
                }
            };
            let next = results.next_locator.clone();
            if let Some(next) = &next
                && (!seen.insert(next.clone()) || bulk_job.locator.as_ref() == Some(next))
            {
                return Err(RunError::Fatal(format!(
                    "the vendor's export repeated a page (locator `{next}` came twice); \
                     the run stopped instead of looping"
                )));
            }
            // The next page's request is planned now, so that only sending it overlaps the
            // page's mapping (which holds the environment's evaluation place).
            let planned = match &next {
                Some(next) => Some(
                    self.plan_page(job, connection_id, &key, &job_id, Some(next))
                        .await?,
                ),
                None => None,
            };
            let fetch_next = async {
                match planned {
                    Some((bound, ctx, plan)) => {
                        Some(bound.send(plan, true).await.map(|answer| Fetched {
                            bound,
                            ctx,
                            answer,
                        }))
                    }
                    None => None,
                }
            };
            let apply = self.apply_page(
                job,
                connection_id,
                object,
                &bound,
                ctx,
                results,
                next.as_deref(),
                &mut bulk_job,
                checkpoint,
            );
            let (applied, fetched) = tokio::join!(apply, fetch_next);
            applied?;
            if checkpoint.bulk.is_none() {
                return Ok(());
            }
            // A failed fetch of the next page fails the run after this page was applied; the
            // next attempt starts from it.
            ahead = fetched.transpose()?;
        }
    }

    /// A binding for one page of results (each page's mappings get their own evaluation
    /// budget, as one unified list page does), its context, and the page's request.
    async fn plan_page(
        &self,
        job: &Job,
        connection_id: &str,
        key: &str,
        job_id: &str,
        locator: Option<&str>,
    ) -> Result<(Bound, RequestContext, connector::PlannedRequest), RunError> {
        let bound = self
            .operations
            .bind(&job.environment_id, connection_id, None)
            .await?;
        let ctx = bound.context(key).await?;
        let plan = {
            let (key, ctx, job_id, locator) = (
                key.to_owned(),
                ctx.clone(),
                job_id.to_owned(),
                locator.map(str::to_owned),
            );
            bound
                .evaluate(move |connector| {
                    connector.plan_bulk_results(&key, &ctx, &job_id, locator.as_deref())
                })
                .await?
                .map_err(OpError::from)?
        };
        Ok((bound, ctx, plan))
    }

    /// Maps and applies one opened page of results in batches of at most `bulk_batch` rows,
    /// each with its checkpoint; the last batch's carries `next` (or completes the run).
    #[allow(clippy::too_many_arguments)] // one call site; the pieces are distinct
    async fn apply_page(
        &self,
        job: &Job,
        connection_id: &str,
        object: UnifiedObject,
        bound: &Bound,
        ctx: RequestContext,
        mut results: BulkResults,
        next: Option<&str>,
        bulk_job: &mut BulkJob,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), RunError> {
        let key = object.key();
        let ctx = std::sync::Arc::new(ctx);
        loop {
            let (back, batch) = bound
                .evaluate({
                    let (key, ctx, max) =
                        (key.clone(), std::sync::Arc::clone(&ctx), self.bulk_batch);
                    move |connector| {
                        let batch = read_batch(connector, object, &key, &ctx, &mut results, max);
                        (results, batch)
                    }
                })
                .await?;
            results = back;
            let (upserts, unmapped) = bound.noted(&key, batch).await?;
            if unmapped > 0 {
                tracing::warn!(
                    connection_id,
                    object = %key,
                    n_errors = unmapped,
                    "backfill rows that could not be mapped were left out"
                );
            }
            let last = results.is_done();
            if last {
                match next {
                    Some(next) => {
                        bulk_job.locator = Some(next.to_owned());
                        checkpoint.bulk = Some(bulk_job.clone());
                    }
                    None => {
                        checkpoint.bulk = None;
                        self.complete_run(checkpoint);
                    }
                }
            }
            self.save(job, connection_id, &key, upserts, checkpoint)
                .await?;
            if last {
                return Ok(());
            }
        }
    }

    /// Applies `upserts` with `checkpoint`, under the job claim's fence.
    async fn save(
        &self,
        job: &Job,
        connection_id: &str,
        key: &str,
        upserts: Vec<store::SyncedInput>,
        checkpoint: &Checkpoint,
    ) -> Result<(), RunError> {
        let connection_id = store::ConnectionId::parse(connection_id)
            .map_err(|_| RunError::Fatal(format!("`{connection_id}` is no connection id")))?;
        self.operations
            .store()
            .apply_sync_page(
                &job.environment_id,
                SyncPage {
                    connection_id,
                    object: key.to_owned(),
                    upserts,
                    deletes: Vec::new(),
                    checkpoint: Some(
                        serde_json::to_value(checkpoint).expect("a checkpoint serializes"),
                    ),
                    claim: Some((job.id.clone(), job.fence)),
                    seen: None,
                },
            )
            .await
            .map(|_| ())
            .map_err(|error| match error {
                StoreError::Conflict(detail) => RunError::Lost(detail),
                other => RunError::Op(other.into()),
            })
    }

    /// The run's error for `error`; when it says the vendor no longer has the job (it expired,
    /// or was deleted), the job is dropped from the checkpoint first, so the next attempt
    /// starts a new one.
    async fn gone_or(
        &self,
        job: &Job,
        connection_id: &str,
        key: &str,
        checkpoint: &mut Checkpoint,
        error: OpError,
    ) -> RunError {
        match &error {
            OpError::Provider(provider)
                if matches!(provider.code, ErrorCode::NotFound | ErrorCode::Gone) =>
            {
                self.abandon(
                    job,
                    connection_id,
                    key,
                    checkpoint,
                    format!("the vendor no longer has the export job ({error})"),
                )
                .await
            }
            _ => RunError::Op(error),
        }
    }

    /// Drops the export job from the checkpoint and gives the error that retries the run.
    async fn abandon(
        &self,
        job: &Job,
        connection_id: &str,
        key: &str,
        checkpoint: &mut Checkpoint,
        reason: String,
    ) -> RunError {
        tracing::warn!(connection_id, object = %key, reason = %reason, "backfill export job abandoned");
        checkpoint.bulk = None;
        if let Err(error) = self
            .save(job, connection_id, key, Vec::new(), checkpoint)
            .await
        {
            return error;
        }
        RunError::Op(OpError::Upstream {
            code: "bulk_export_failed",
            detail: format!("{reason}; the next attempt starts a new one"),
        })
    }
}

/// Reads and maps at most `max` rows of `results` into the records the store takes, with the
/// number of rows that could not be mapped or do not fit the unified schema even with their
/// unreadable fields null (left out).
fn read_batch(
    connector: &connector::Connector,
    object: UnifiedObject,
    key: &str,
    ctx: &RequestContext,
    results: &mut BulkResults,
    max: usize,
) -> Result<(Vec<store::SyncedInput>, usize), connector::ReadError> {
    let mut upserts = Vec::with_capacity(max.min(4096));
    let mut unmapped = 0;
    connector.read_bulk_rows(key, ctx, results, max, |row| {
        // As a live read does: a field the vendor holds outside the unified types is null
        // with a warning in the record; a record that cannot be made even so is left out.
        let finished = row.ok().and_then(|(mapped, raw)| {
            let mut warnings = Vec::new();
            finish_leniently(object, mapped, raw, Include::default(), READ, &mut warnings)
                .ok()
                .map(|record| with_warnings(record, warnings))
        });
        match finished.and_then(synced_input) {
            Some(input) => upserts.push(input),
            None => unmapped += 1,
        }
    })?;
    Ok((upserts, unmapped))
}

/// The object's record count by the export's `count`; `None` when it declares none or the
/// answer does not say.
async fn count(bound: &Bound, key: &str, ctx: &RequestContext) -> Result<Option<u64>, OpError> {
    let plan = {
        let (key, ctx) = (key.to_owned(), ctx.clone());
        bound
            .evaluate(move |connector| connector.plan_bulk_count(&key, &ctx))
            .await??
    };
    let Some(plan) = plan else {
        return Ok(None);
    };
    let answer = bound.send(plan, true).await?;
    let read = bound
        .evaluate({
            let key = key.to_owned();
            move |connector| connector.read_bulk_count(&key, &answer.response)
        })
        .await?;
    bound.noted(key, read).await
}
