//! The durable job queue's rows: work (a sync run, a webhook delivery, a token refresh) that
//! survives a restart and that several workers share without running one job twice at once.
//!
//! A worker *claims* due jobs of a kind, which leases each to it until a time and gives it a
//! fence; while it works it renews the lease; at the end it *finishes* the job with an
//! [`JobOutcome`] under that fence. A worker that dies stops renewing, its lease lapses, and the
//! next claim hands the job to another worker with a greater fence, so the dead worker's late
//! writes (checked against the fence) are refused. A job that keeps failing, or whose leases keep
//! lapsing, stops after its `max_attempts`. A live job can be *paused*: no worker claims it, a
//! worker running it loses its claim, and it keeps its key until it is resumed or cancelled.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{ConnectionId, EnvironmentId, JobId};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for its `run_at`, or for a worker.
    Queued,
    /// Leased to a worker (whose lease may have lapsed; the next claim then takes it over).
    Running,
    /// Finished successfully.
    Done,
    /// Finished for good: failed permanently, or out of attempts.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
    /// Held back until it is resumed: never claimed, and it keeps its key.
    Paused,
}

impl JobStatus {
    /// Every status, in the order of a job's life.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Paused,
        JobStatus::Done,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Paused => "paused",
        }
    }

    /// Parses a stored status.
    pub fn parse(text: &str) -> Option<JobStatus> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// Whether the job can still run (queued or running).
    pub fn is_live(self) -> bool {
        matches!(self, JobStatus::Queued | JobStatus::Running)
    }

    /// Whether the job has ended (done, failed or cancelled): nothing changes it any more.
    pub fn has_ended(self) -> bool {
        matches!(
            self,
            JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The environment the job works for.
    pub environment_id: EnvironmentId,
    /// The connection it works on, if any; deleting the connection deletes its jobs.
    pub connection_id: Option<ConnectionId>,
    /// What the job does (`sync`, `webhook.delivery`, …): workers claim jobs by kind.
    pub kind: String,
    /// At most one job that has not ended (queued, running or paused) holds a given key:
    /// enqueueing another returns that one instead (e.g. `sync:<connection>:<object>`).
    pub key: Option<String>,
    /// The job's parameters, for its worker.
    pub payload: Value,
    /// When it may run first.
    pub run_at: DateTime<Utc>,
    /// How many times it may be claimed before it fails for good (at least 1).
    pub max_attempts: u32,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Job {
    pub id: JobId,
    pub environment_id: EnvironmentId,
    pub connection_id: Option<ConnectionId>,
    pub kind: String,
    pub key: Option<String>,
    pub payload: Value,
    pub status: JobStatus,
    /// When it may run next (for a queued job).
    pub run_at: DateTime<Utc>,
    /// How many times it has been claimed.
    pub attempts: u32,
    pub max_attempts: u32,
    /// The worker holding or last holding the lease.
    pub lease_holder: Option<String>,
    /// Until when the lease runs (for a running job).
    pub lease_until: Option<DateTime<Utc>>,
    /// The fence of the latest claim: strictly greater than every fence before for this job.
    pub fence: u64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a worker ends its attempt at a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Finished: the job is done.
    Done,
    /// Failed for now: run again at `at` (unless out of attempts, then it fails for good).
    Retry { at: DateTime<Utc>, error: String },
    /// Queued again at `at` without counting as a failure (a recurring job's next run, a job
    /// that yielded to a rate limit); its attempts start over.
    Reschedule { at: DateTime<Utc> },
    /// Failed for good.
    Fail { error: String },
}

/// A change to a job's schedule asked for from outside its worker (a sync's controls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobControl {
    /// Holds the job back: a queued job is not claimed, a running one's worker loses its claim
    /// (its lease renewal, page writes and finish are refused from then on).
    Pause,
    /// Lets a paused job be claimed again at its `run_at` (at once when that has passed).
    Resume,
    /// Makes a queued job due now.
    RunNow,
}
