//! The worker: runs the durable queue's jobs (sync runs, webhook deliveries, …) with handlers
//! registered by kind.
//!
//! A worker claims due jobs of its kinds from the store, up to its concurrency, runs each in a
//! task of its own, renews the job's lease while the handler works, and finishes the job with the
//! handler's [`JobOutcome`] under the fence of its claim. When a renewal finds the lease gone (the
//! job was cancelled, or another worker took it over after this one stalled), the handler's
//! future is dropped at its next await and nothing more is written for that claim: the store
//! refuses a finish with a stale fence. Several workers, in one process or many over one
//! PostgreSQL, share the jobs this way, and no job runs twice at once as long as each lease is
//! renewed in time (a worker too stalled to renew within a lease loses the job, which is what
//! lets a dead worker's jobs move on).
//!
//! Stopping ([`Worker::run`]'s `stop`) ends the claiming at once; jobs in flight get the grace
//! period to finish, and those still running then are handed back (queued again at once, their
//! attempt not counted as a failure) so that the next worker starts them without waiting for the
//! lease to lapse.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use store::timestamp::Clock;
use store::{Job, JobOutcome, Store, StoreError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Runs the jobs of one kind.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync {
    /// Works on `job` (claimed, its lease renewed meanwhile) and says how it ended. A handler
    /// must be safe to drop at any await (a lost lease drops it) and to run again for the same
    /// job (a worker that died mid-run leaves it to the next): it checkpoints under the job's
    /// fence, or its effects are idempotent.
    async fn run(&self, job: &Job) -> JobOutcome;
}

/// How a worker claims and holds jobs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The name this worker's leases carry (unique per worker; host and process id by default).
    pub holder: String,
    /// Jobs running at once in this worker.
    pub concurrency: usize,
    /// How long a claim holds a job without renewal.
    pub lease: Duration,
    /// How long the worker waits between claims when it found nothing to do.
    pub idle_poll: Duration,
}

impl Default for WorkerSettings {
    fn default() -> WorkerSettings {
        WorkerSettings {
            holder: format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned()),
                std::process::id()
            ),
            concurrency: 4,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_secs(1),
        }
    }
}

/// A pool of job runners over one store.
pub struct Worker {
    store: Arc<dyn Store>,
    settings: WorkerSettings,
    /// The clock claims and finishes read: due times are compared with it.
    clock: Clock,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
}

/// What one [`Worker::run`] did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs claimed.
    pub claimed: u64,
    /// Claims finished with the handler's outcome.
    pub finished: u64,
    /// Claims given up because the lease was lost (cancelled or taken over).
    pub lost: u64,
    /// Claims handed back at the stop, unfinished.
    pub handed_back: u64,
}

/// How one claim ended.
enum Ended {
    Finished,
    Lost,
    HandedBack,
}

impl Worker {
    /// A worker with no handlers yet.
    pub fn new(store: Arc<dyn Store>, settings: WorkerSettings) -> Worker {
        Worker {
            store,
            settings,
            clock: Clock::default(),
            handlers: HashMap::new(),
        }
    }

    /// Reads `clock` instead of the machine's for due times and leases (tests move it forward
    /// to let retries come due without waiting).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Worker {
        self.clock = clock;
        self
    }

    /// Registers the handler of `kind`; the worker claims only the kinds it has handlers for.
    #[must_use]
    pub fn handle(mut self, kind: impl Into<String>, handler: Arc<dyn JobHandler>) -> Worker {
        self.handlers.insert(kind.into(), handler);
        self
    }

    /// Claims and runs jobs until `stop` completes, then lets the jobs in flight finish within
    /// `grace` and hands back those still running.
    ///
    /// A job's failure is its outcome, not the worker's; a store error while claiming is logged
    /// and the claim tried again after the idle poll.
    pub async fn run(self, stop: impl Future<Output = ()>, grace: Duration) -> WorkerReport {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut running: JoinSet<Ended> = JoinSet::new();
        let (stopping, _) = tokio::sync::watch::channel(false);
        let mut report = WorkerReport::default();
        let mut kinds: Vec<&String> = self.handlers.keys().collect();
        kinds.sort();
        tokio::pin!(stop);
        loop {
            let stopped = tokio::select! {
                biased;
                () = &mut stop => true,
                () = std::future::ready(()) => false,
            };
            if stopped {
                break;
            }
            while let Some(ended) = running.try_join_next() {
                settle(&mut report, ended);
            }
            let mut claimed_any = false;
            for kind in &kinds {
                let free = slots.available_permits();
                if free == 0 {
                    break;
                }
                let jobs = match self
                    .store
                    .claim_jobs(
                        kind,
                        &self.settings.holder,
                        self.clock.now(),
                        self.settings.lease,
                        u32::try_from(free).unwrap_or(u32::MAX),
                    )
                    .await
                {
                    Ok(jobs) => jobs,
                    Err(error) => {
                        tracing::warn!(kind = %kind, error = %error, "claiming jobs failed");
                        Vec::new()
                    }
                };
                for job in jobs {
                    claimed_any = true;
                    report.claimed += 1;
                    let permit = Arc::clone(&slots)
                        .try_acquire_owned()
                        .expect("claims never pass the free slots");
                    let handler = Arc::clone(&self.handlers[kind.as_str()]);
                    let store = Arc::clone(&self.store);
                    let lease = self.settings.lease;
                    let stopping = stopping.subscribe();
                    let clock = self.clock.clone();
                    running.spawn(async move {
                        let _permit = permit;
                        hold(store, handler, job, lease, stopping, clock).await
                    });
                }
            }
            if claimed_any {
                continue;
            }
            // Nothing claimable now: wait for a job to end, the poll interval, or the stop.
            tokio::select! {
                () = &mut stop => break,
                    Some(ended) = running.join_next(), if !running.is_empty() => {
                    settle(&mut report, ended);
                }
                () = tokio::time::sleep(self.settings.idle_poll) => {}
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            tokio::select! {
                next = running.join_next() => match next {
                    Some(ended) => settle(&mut report, ended),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => {
                    // Past the grace: every job still running hands itself back.
                    stopping.send_replace(true);
                    while let Some(ended) = running.join_next().await {
                        settle(&mut report, ended);
                    }
                    break;
                }
            }
        }
        report
    }
}

/// Counts how a claim's task ended (a panicking handler counts as lost: its lease lapses and
/// another attempt follows).
fn settle(report: &mut WorkerReport, ended: Result<Ended, tokio::task::JoinError>) {
    match ended {
        Ok(Ended::Finished) => report.finished += 1,
        Ok(Ended::HandedBack) => report.handed_back += 1,
        Ok(Ended::Lost) => report.lost += 1,
        Err(error) => {
            tracing::error!(error = %error, "a job task failed");
            report.lost += 1;
        }
    }
}

/// Runs one claimed job to its end: the handler, the lease renewals beside it, and the finish.
async fn hold(
    store: Arc<dyn Store>,
    handler: Arc<dyn JobHandler>,
    job: Job,
    lease: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    clock: Clock,
) -> Ended {
    let fence = job.fence;
    // The renewals run beside the work, never instead of it: a handler may hold a store
    // transaction that locks the job's row (a sync page checks its claim that way), and a
    // renewal waiting for that lock while the work is not polled would wait forever.
    let renew = async {
        let mut renewals = tokio::time::interval(lease / 3);
        renewals.tick().await;
        loop {
            renewals.tick().await;
            match store
                .renew_job_lease(&job.id, fence, clock.now(), lease)
                .await
            {
                Ok(_) => {}
                Err(StoreError::Conflict(_) | StoreError::NotFound) => return,
                // A store hiccup: the lease still runs; try again at the next tick.
                Err(error) => {
                    tracing::warn!(job = %job.id, error = %error, "renewing a job lease failed");
                }
            }
        }
    };
    let mut work = Box::pin(handler.run(&job));
    tokio::pin!(renew);
    let outcome = tokio::select! {
        outcome = &mut work => outcome,
        () = &mut renew => {
            tracing::info!(job = %job.id, kind = %job.kind, "job lease lost; its work stops here");
            return Ended::Lost;
        }
        Ok(()) = stopping.changed() => {
            // The work goes first, so a transaction it holds is given up before the job's row
            // is written.
            drop(work);
            let back = JobOutcome::Reschedule { at: clock.now() };
            return match store.finish_job(&job.id, fence, back, clock.now()).await {
                Ok(_) => Ended::HandedBack,
                Err(_) => Ended::Lost,
            };
        }
    };
    match store.finish_job(&job.id, fence, outcome, clock.now()).await {
        Ok(_) => Ended::Finished,
        Err(StoreError::Conflict(_) | StoreError::NotFound) => Ended::Lost,
        Err(error) => {
            // The lease lapses and another worker runs the job again; handlers are idempotent.
            tracing::warn!(job = %job.id, error = %error, "finishing a job failed");
            Ended::Lost
        }
    }
}
