//! `crosswalk sync`: starts a run of one connection's sync from the terminal and shows its
//! progress until the run ends.
//!
//! The sync is the one the API shows (started if the connection has none for the object, with the
//! API's frequency); the command makes its next run due now, or with `--resync` makes it read
//! everything again. It runs a job worker in the process, as `crosswalk work` does, so it needs no
//! other process; jobs that worker claimed and did not finish are handed back when the run ends.
//! It leaves out starting syncs that should not run now: `POST /syncs` does that.

use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use operations::Operations;
use operations::sync_state::{RunCounts, start_sync};
use serde_json::Value;
use store::{
    ConnectionId, JobControl, JobStatus, StoreError, SyncPhase, SyncProgress, SyncStatus, timestamp,
};
use unified_model::UnifiedObject;

use crate::settings::WorkerConfig;
use crate::startup::RunningWorker;

/// How often the progress shown is read again.
const REFRESH: Duration = Duration::from_millis(200);

/// The arguments of `crosswalk sync`.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    /// The connection (`conn_…`).
    #[arg(long)]
    pub connection: String,
    /// The unified object: `crm.contacts`, or `contacts` where one category has it.
    #[arg(long)]
    pub object: String,
    /// Reads everything again instead of what changed since the last complete run.
    #[arg(long)]
    pub resync: bool,
    /// Seconds between runs, for a sync this command starts (the API's default otherwise).
    #[arg(long, default_value_t = server::DEFAULT_SYNC_EVERY_SECS)]
    pub every_secs: u64,
}

/// How a run started from the terminal ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// It read to the end; what this run changed.
    Completed {
        phase: Option<SyncPhase>,
        counts: RunCounts,
    },
    /// It stopped at the vendor's budget and resumes later from its checkpoint.
    RateLimited { last_error: Option<Value> },
    /// It failed (the sync's last error, a problem+json object).
    Failed { last_error: Option<Value> },
    /// The sync was paused, stopped or failed for good meanwhile (through the API).
    Ended { status: JobStatus },
}

/// Runs the sync of `object` on the connection now, showing its progress on `bar`, until the
/// run ends; the process's worker claims as `worker` says and hands back within `grace`.
///
/// # Errors
///
/// An unknown connection or object, an object the connector cannot list, a paused sync, or a
/// store failure.
pub async fn run(
    operations: &Operations,
    args: &SyncArgs,
    bar: &ProgressBar,
    worker: &WorkerConfig,
    grace: Duration,
) -> anyhow::Result<RunEnd> {
    let store = operations.store();
    let connection_id = ConnectionId::parse(&args.connection)
        .map_err(|_| anyhow::anyhow!("`{}` is not a connection id", args.connection))?;
    let connection = store
        .get_connection_by_id(&connection_id)
        .await
        .with_context(|| format!("reading connection `{connection_id}`"))?;
    let environment_id = connection.environment_id.clone();
    let object = UnifiedObject::parse_key(&args.object)
        .or_else(|| {
            let mut named = UnifiedObject::all().filter(|object| object.slug() == args.object);
            named.next().filter(|_| named.next().is_none())
        })
        .ok_or_else(|| anyhow::anyhow!("`{}` is no unified object", args.object))?;
    let bound = operations
        .bind(&environment_id, connection_id.as_str(), None)
        .await
        .context("binding the connection")?;
    anyhow::ensure!(
        bound
            .connector()
            .supports(&object.key(), connector::Operation::List),
        "the `{}` connector cannot list `{}`",
        bound.connector().id(),
        object.key()
    );
    let started = timestamp::now();
    let (job, _) = start_sync(
        store.as_ref(),
        &environment_id,
        &connection_id,
        object,
        args.every_secs,
        None,
    )
    .await
    .context("starting the sync")?;
    let before = store
        .get_sync_progress(&environment_id, &connection_id, &object.key())
        .await?;
    if args.resync {
        store
            .restart_sync(&environment_id, &job.id, &object.key(), started)
            .await
            .context("forcing a full resync")?;
    } else {
        match store
            .control_job(&environment_id, &job.id, JobControl::RunNow, started)
            .await
        {
            // A run under way is followed instead.
            Err(StoreError::Conflict(_)) if job.status == JobStatus::Running => {}
            other => {
                other.context("making the run due now")?;
            }
        }
    }
    let current = store.get_job(&environment_id, &job.id).await?;
    anyhow::ensure!(
        current.status != JobStatus::Paused,
        "sync `{}` is paused; resume it first (POST /syncs/{}/resume)",
        job.id,
        job.id
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .expect("a valid progress template"),
    );
    bar.set_message(format!(
        "{} on {connection_id}: waiting for a worker",
        object.key()
    ));
    let running = RunningWorker::spawn(operations, worker, grace);
    let end = loop {
        tokio::time::sleep(REFRESH).await;
        bar.tick();
        let progress = store
            .get_sync_progress(&environment_id, &connection_id, &object.key())
            .await?;
        let job = store.get_job(&environment_id, &job.id).await?;
        if let Some(progress) = &progress {
            bar.set_message(describe(object, progress, before.as_ref()));
        }
        if job.status.has_ended() || job.status == JobStatus::Paused {
            break RunEnd::Ended { status: job.status };
        }
        // The run ended once the state it recorded is newer than the command's start.
        let Some(progress) = progress.filter(|progress| progress.updated_at >= started) else {
            continue;
        };
        match progress.status {
            Some(SyncStatus::Done) => {
                break RunEnd::Completed {
                    phase: progress.phase,
                    counts: RunCounts::of(Some(&progress)).since(RunCounts::of(before.as_ref())),
                };
            }
            Some(SyncStatus::RateLimited) => {
                break RunEnd::RateLimited {
                    last_error: progress.last_error,
                };
            }
            Some(SyncStatus::Failed) => {
                break RunEnd::Failed {
                    last_error: progress.last_error,
                };
            }
            _ => {}
        }
    };
    running.stop().await?;
    bar.finish_and_clear();
    Ok(end)
}

/// One line of a run's progress: its phase and what it changed so far.
fn describe(
    object: UnifiedObject,
    progress: &SyncProgress,
    before: Option<&SyncProgress>,
) -> String {
    let counts = RunCounts::of(Some(progress)).since(RunCounts::of(before));
    let phase = progress.phase.map_or("starting", SyncPhase::as_str);
    format!(
        "{} {phase}: {} pages, {} added, {} updated, {} deleted",
        object.key(),
        counts.pages,
        counts.added,
        counts.updated,
        counts.deleted
    )
}

/// The summary printed when the run ended, and whether it succeeded.
pub fn summary(end: &RunEnd) -> (String, bool) {
    let detail = |error: &Option<Value>| {
        error
            .as_ref()
            .and_then(|problem| problem.get("detail"))
            .and_then(Value::as_str)
            .unwrap_or("no detail")
            .to_owned()
    };
    match end {
        RunEnd::Completed { phase, counts } => (
            format!(
                "done ({}): {} pages, {} added, {} updated, {} deleted",
                phase.map_or("run", SyncPhase::as_str),
                counts.pages,
                counts.added,
                counts.updated,
                counts.deleted
            ),
            true,
        ),
        RunEnd::RateLimited { last_error } => (
            format!(
                "rate limited: {}; the run resumes from its checkpoint",
                detail(last_error)
            ),
            true,
        ),
        RunEnd::Failed { last_error } => (format!("failed: {}", detail(last_error)), false),
        RunEnd::Ended { status } => (format!("the sync is {}", status.as_str()), false),
    }
}
