//! The worker over the durable queue: every job runs to its end once, no job runs in two
//! places at once (several workers over one SQLite file and over one PostgreSQL), a lost lease
//! stops the work, and a stop hands unfinished jobs back.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use operations::{JobHandler, Worker, WorkerReport, WorkerSettings};
use serde_json::json;
use store::{EnvironmentId, Job, JobOutcome, JobStatus, NewJob, Store, timestamp};
use tokio::sync::Notify;

const POSTGRES_URL: &str = "CROSSWALK_TEST_POSTGRES_URL";

/// Counts runs per job, checks that no job is run twice at once, and tells when `expected`
/// jobs have finished.
struct Counting {
    running: Mutex<HashSet<String>>,
    runs: Mutex<HashMap<String, u32>>,
    overlaps: Mutex<Vec<String>>,
    most_at_once: Mutex<(usize, usize)>,
    expected: usize,
    all_done: Notify,
}

impl Counting {
    fn new(expected: usize) -> Arc<Counting> {
        Arc::new(Counting {
            running: Mutex::new(HashSet::new()),
            runs: Mutex::new(HashMap::new()),
            overlaps: Mutex::new(Vec::new()),
            most_at_once: Mutex::new((0, 0)),
            expected,
            all_done: Notify::new(),
        })
    }
}

#[async_trait::async_trait]
impl JobHandler for Counting {
    async fn run(&self, job: &Job) -> JobOutcome {
        let id = job.id.to_string();
        {
            let mut running = self.running.lock().unwrap();
            if !running.insert(id.clone()) {
                self.overlaps.lock().unwrap().push(id.clone());
            }
            let mut most = self.most_at_once.lock().unwrap();
            most.0 = running.len();
            most.1 = most.1.max(running.len());
        }
        // Some work that yields, so that jobs of several workers interleave.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.running.lock().unwrap().remove(&id);
        let finished = {
            let mut runs = self.runs.lock().unwrap();
            *runs.entry(id).or_default() += 1;
            runs.len()
        };
        if finished == self.expected {
            self.all_done.notify_one();
        }
        JobOutcome::Done
    }
}

fn settings(holder: &str, concurrency: usize) -> WorkerSettings {
    WorkerSettings {
        holder: holder.to_owned(),
        concurrency,
        lease: Duration::from_secs(30),
        idle_poll: Duration::from_millis(20),
    }
}

async fn enqueue(store: &dyn Store, environment_id: &EnvironmentId, kind: &str, n: usize) {
    for i in 0..n {
        store
            .enqueue_job(NewJob {
                environment_id: environment_id.clone(),
                connection_id: None,
                kind: kind.to_owned(),
                key: None,
                payload: json!({"i": i}),
                run_at: timestamp::now(),
                max_attempts: 3,
            })
            .await
            .expect("enqueue");
    }
}

/// Runs `workers` workers of `concurrency` each over `store` until `jobs` jobs are done, then
/// checks each ran exactly once, never twice at once, and that every job is done in the store.
async fn share(store: Arc<dyn Store>, workers: usize, concurrency: usize, jobs: usize) {
    let environment = store.create_environment("workers").await.expect("env");
    let kind = format!("test-{}", environment.id);
    enqueue(store.as_ref(), &environment.id, &kind, jobs).await;
    let counting = Counting::new(jobs);
    let stop = Arc::new(Notify::new());
    let runs: Vec<_> = (0..workers)
        .map(|w| {
            let worker = Worker::new(
                Arc::clone(&store),
                settings(&format!("worker-{w}"), concurrency),
            )
            .handle(kind.clone(), Arc::clone(&counting) as Arc<dyn JobHandler>);
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                worker
                    .run(
                        async move { stop.notified().await },
                        Duration::from_secs(30),
                    )
                    .await
            })
        })
        .collect();
    counting.all_done.notified().await;
    stop.notify_waiters();
    let mut total = WorkerReport::default();
    for run in runs {
        let report = run.await.expect("worker");
        total.claimed += report.claimed;
        total.finished += report.finished;
        total.lost += report.lost;
    }
    assert_eq!(
        counting.overlaps.lock().unwrap().clone(),
        Vec::<String>::new()
    );
    let runs = counting.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), jobs);
    assert!(runs.values().all(|&n| n == 1), "{runs:?}");
    assert_eq!(total.claimed, jobs as u64, "{total:?}");
    assert_eq!(total.finished, jobs as u64, "{total:?}");
    assert!(counting.most_at_once.lock().unwrap().1 <= workers * concurrency);
    let listed = store
        .list_jobs(&environment.id, None, 1_000)
        .await
        .expect("list");
    assert_eq!(listed.len(), jobs);
    assert!(listed.iter().all(|job| job.status == JobStatus::Done));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_runs_every_job_once_within_its_concurrency() {
    let store: Arc<dyn Store> = Arc::new(store_sqlite::open_in_memory().await.expect("store"));
    share(store, 1, 4, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_over_one_sqlite_file_share_the_jobs() {
    let dir = tempfile_dir();
    let store: Arc<dyn Store> = Arc::new(
        store_sqlite::open(&dir.join("crosswalk.db"))
            .await
            .expect("store"),
    );
    share(store, 3, 3, 60).await;
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_over_one_postgres_share_the_jobs() {
    let url = std::env::var(POSTGRES_URL)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| panic!("{POSTGRES_URL} is not set: this test needs PostgreSQL"));
    let schema = format!("cw_worker_{}", uuid::Uuid::new_v4().simple());
    // Each worker on its own pool, as separate processes would be.
    let first = store_postgres::connect_in_schema(&url, &schema)
        .await
        .expect("connect");
    first.migrate().await.expect("migrate");
    let store: Arc<dyn Store> = Arc::new(first.clone());
    let result = tokio::spawn(share(store, 3, 4, 80)).await;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(first.pool())
        .await
        .expect("drop the test schema");
    first.close().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic.into_panic());
    }
}

/// A handler that never finishes on its own and tells when it started and when it was dropped.
struct Stuck {
    started: Notify,
    dropped: Arc<Notify>,
}

struct DropSignal(Arc<Notify>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

#[async_trait::async_trait]
impl JobHandler for Stuck {
    async fn run(&self, _job: &Job) -> JobOutcome {
        let _signal = DropSignal(Arc::clone(&self.dropped));
        self.started.notify_one();
        std::future::pending::<JobOutcome>().await
    }
}

async fn one_stuck_job(
    store: &Arc<dyn Store>,
    lease: Duration,
) -> (EnvironmentId, String, Arc<Stuck>, Worker) {
    let environment = store.create_environment("stuck").await.expect("env");
    let kind = format!("test-{}", environment.id);
    enqueue(store.as_ref(), &environment.id, &kind, 1).await;
    let stuck = Arc::new(Stuck {
        started: Notify::new(),
        dropped: Arc::new(Notify::new()),
    });
    let worker = Worker::new(
        Arc::clone(store),
        WorkerSettings {
            lease,
            ..settings("worker-a", 2)
        },
    )
    .handle(kind.clone(), Arc::clone(&stuck) as Arc<dyn JobHandler>);
    (environment.id, kind, stuck, worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_stops_its_work_at_the_next_renewal() {
    let store: Arc<dyn Store> = Arc::new(store_sqlite::open_in_memory().await.expect("store"));
    let (environment_id, _, stuck, worker) =
        one_stuck_job(&store, Duration::from_millis(300)).await;
    let dropped = Arc::clone(&stuck.dropped);
    let run = tokio::spawn(worker.run(async move { dropped.notified().await }, Duration::ZERO));
    stuck.started.notified().await;
    let job = store
        .list_jobs(&environment_id, None, 1)
        .await
        .expect("list")
        .remove(0);
    assert_eq!(job.status, JobStatus::Running);
    store
        .cancel_job(&environment_id, &job.id, timestamp::now())
        .await
        .expect("cancel");
    // The worker stops when the handler is dropped, which only a lost lease does here.
    let report = run.await.expect("worker");
    assert_eq!(report.lost, 1, "{report:?}");
    assert_eq!(report.finished, 0, "{report:?}");
    let job = store.get_job(&environment_id, &job.id).await.expect("get");
    assert_eq!(job.status, JobStatus::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_hands_unfinished_jobs_back_for_the_next_worker() {
    let store: Arc<dyn Store> = Arc::new(store_sqlite::open_in_memory().await.expect("store"));
    let (environment_id, kind, stuck, worker) =
        one_stuck_job(&store, Duration::from_secs(30)).await;
    let started = Arc::new(Notify::new());
    let stop = Arc::clone(&started);
    let run = tokio::spawn(worker.run(async move { stop.notified().await }, Duration::ZERO));
    stuck.started.notified().await;
    started.notify_one();
    let report = run.await.expect("worker");
    assert_eq!(report.handed_back, 1, "{report:?}");
    let job = store
        .list_jobs(&environment_id, None, 1)
        .await
        .expect("list")
        .remove(0);
    assert_eq!(job.status, JobStatus::Queued, "{job:?}");
    assert_eq!(job.attempts, 0, "a hand-back is not a failed attempt");
    let next = store
        .claim_jobs(
            &kind,
            "worker-b",
            timestamp::now(),
            Duration::from_secs(30),
            1,
        )
        .await
        .expect("claim");
    assert_eq!(
        next.len(),
        1,
        "the next worker takes it at once, without waiting for the lease"
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cw-worker-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A handler holding a transaction that locks its job's row (as a sync page's claim check
/// does) for several renewal periods.
struct LocksItsRow {
    pool: sqlx::PgPool,
    hold: Duration,
}

#[async_trait::async_trait]
impl JobHandler for LocksItsRow {
    async fn run(&self, job: &Job) -> JobOutcome {
        let mut transaction = self.pool.begin().await.expect("begin");
        sqlx::query("UPDATE jobs SET updated_at = updated_at WHERE id = $1")
            .bind(job.id.as_str())
            .execute(&mut *transaction)
            .await
            .expect("lock the job's row");
        // The work's own length, longer than a renewal period: renewals fall inside it.
        tokio::time::sleep(self.hold).await;
        transaction.commit().await.expect("commit");
        JobOutcome::Done
    }
}

/// The renewals run beside the work: a renewal waiting for the row the work's transaction
/// holds does not stop the work from finishing. (Before, the worker awaited each renewal
/// instead of polling the work, and both waited for each other for ever.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_never_stops_the_work_whose_transaction_it_waits_for() {
    let url = std::env::var(POSTGRES_URL)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| panic!("{POSTGRES_URL} is not set: this test needs PostgreSQL"));
    let schema = format!("cw_worker_{}", uuid::Uuid::new_v4().simple());
    let first = store_postgres::connect_in_schema(&url, &schema)
        .await
        .expect("connect");
    first.migrate().await.expect("migrate");
    let store: Arc<dyn Store> = Arc::new(first.clone());
    let environment = store.create_environment("locks").await.expect("env");
    let kind = format!("test-{}", environment.id);
    enqueue(store.as_ref(), &environment.id, &kind, 1).await;
    let lease = Duration::from_millis(300);
    let handler = Arc::new(LocksItsRow {
        pool: first.pool().clone(),
        hold: lease * 2,
    });
    let finished = Arc::new(Notify::new());
    let (ended, notified) = (Arc::clone(&finished), Arc::clone(&finished));
    struct Told(Arc<LocksItsRow>, Arc<Notify>);
    #[async_trait::async_trait]
    impl JobHandler for Told {
        async fn run(&self, job: &Job) -> JobOutcome {
            let outcome = self.0.run(job).await;
            self.1.notify_one();
            outcome
        }
    }
    let worker = Worker::new(
        Arc::clone(&store),
        WorkerSettings {
            lease,
            ..settings("worker-a", 1)
        },
    )
    .handle(kind, Arc::new(Told(handler, ended)));
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        worker.run(
            async move { notified.notified().await },
            Duration::from_secs(5),
        ),
    )
    .await;
    let jobs = store
        .list_jobs(&environment.id, None, 1)
        .await
        .expect("list");
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(first.pool())
        .await
        .expect("drop the test schema");
    first.close().await;
    let report = report.expect("the work and its renewals did not wait for each other");
    assert_eq!(report.finished, 1, "{report:?}");
    assert_eq!(jobs[0].status, JobStatus::Done, "{jobs:?}");
}
