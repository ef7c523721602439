//! Backfills through a vendor's bulk export (issue 16), on the Salesforce simulator's Bulk API
//! 2.0: a first run of an object at or above the export's threshold reads a query job's CSV
//! results instead of SOQL pages and stores the records the list gives; below the threshold it
//! reads the list; a run stopped mid-way resumes the same job from its last page; later runs
//! are incremental through the list.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use server::{SYNC_JOB_KIND, SyncDelays, SyncHandler, SyncJob};
use simulators::salesforce::Salesforce;
use simulators::{Fault, FaultKind};
use store::{ChangeKind, ConnectionId, EnvironmentId, JobOutcome, NewJob, timestamp};

use crate::helpers::{TestApp, spawn_app};
use crate::sync::{changes_per_id, run_handler_once};

const JOBS: &str = "/services/data/v59.0/jobs/query";

async fn environment(app: &TestApp) -> (EnvironmentId, ConnectionId) {
    let connection = ConnectionId::parse(&app.connection("salesforce")).expect("id");
    let environment_id = app
        .demo
        .store
        .get_connection_by_id(&connection)
        .await
        .expect("connection")
        .environment_id;
    (environment_id, connection)
}

/// Sets the Salesforce connection's export of contacts to `threshold` records and result pages
/// of `page_size` rows.
async fn tune_export(app: &TestApp, threshold: u64, page_size: u64) {
    let connection = app.connection("salesforce");
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/connections/{connection}/overrides"),
            Some(json!({"unified": {"crm.contacts": {"list": {"bulk": {
                "threshold": threshold,
                "results": {"page_size": {"default": page_size}}
            }}}}})),
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
}

/// Enqueues one sync run of the Salesforce contacts (when none is queued) and runs a worker
/// until one run has ended; returns how it ended.
async fn run_once(app: &TestApp) -> JobOutcome {
    run_batched(app, server::DEFAULT_BULK_BATCH).await
}

/// [`run_once`] with a handler that applies result pages in batches of at most `batch` rows.
async fn run_batched(app: &TestApp, batch: usize) -> JobOutcome {
    let (environment_id, connection) = environment(app).await;
    app.demo
        .store
        .enqueue_job(NewJob {
            environment_id,
            connection_id: Some(connection.clone()),
            kind: SYNC_JOB_KIND.to_owned(),
            key: Some(format!("sync:{connection}:crm.contacts")),
            payload: serde_json::to_value(SyncJob {
                connection_id: connection.to_string(),
                object: "crm.contacts".to_owned(),
                every_secs: None,
                reconcile_every_secs: None,
            })
            .expect("payload"),
            run_at: timestamp::now(),
            max_attempts: 5,
        })
        .await
        .expect("enqueue");
    let (report, outcome) = run_handler_once(
        app,
        SyncHandler::new(app.demo.state.operations.clone(), 100)
            .with_delays(SyncDelays {
                retry_base: Duration::ZERO,
                ..SyncDelays::default()
            })
            .with_bulk_batch(batch),
    )
    .await;
    assert_eq!(report.finished, 1, "{report:?}");
    outcome
}

/// The synced contacts by remote id.
async fn stored(app: &TestApp) -> BTreeMap<String, Value> {
    let (environment_id, connection) = environment(app).await;
    app.demo
        .store
        .list_synced_records(
            &environment_id,
            &connection,
            "crm.contacts",
            None,
            false,
            100_000,
        )
        .await
        .expect("records")
        .into_iter()
        .map(|record| (record.remote_id, record.record))
        .collect()
}

/// Every change of the connection's feed, per remote id.
async fn feed(app: &TestApp) -> BTreeMap<String, Vec<ChangeKind>> {
    let (environment_id, connection) = environment(app).await;
    changes_per_id(app, &environment_id, &connection).await
}

/// Where `bulk` differs from `listed`, other than an empty text the list gives as `""` and the
/// CSV results as null (CSV cannot tell them apart).
fn differences(path: &str, listed: &Value, bulk: &Value, found: &mut Vec<String>) {
    match (listed, bulk) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
                differences(
                    &format!("{path}.{key}"),
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    found,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (idx, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{idx}]"), x, y, found);
            }
        }
        (Value::String(text), Value::Null) if text.is_empty() => {}
        (a, b) if a == b => {}
        (a, b) => found.push(format!("{path}: list {a}, bulk {b}")),
    }
}

#[tokio::test]
async fn a_large_first_run_reads_the_bulk_export_and_stores_what_the_list_gives() {
    let app = spawn_app().await;
    tune_export(&app, 1_000, 300).await;
    let vendor_ids = app.contact_ids("salesforce");
    assert!(vendor_ids.len() > 900, "four pages of results at least");
    let log = app.simulator("salesforce").requests();
    log.reset();

    assert_eq!(run_once(&app).await, JobOutcome::Done);
    assert_eq!(app.handle::<Salesforce>().bulk_jobs_created(), 1);
    assert_eq!(log.total_matching(&format!("POST {JOBS}")), 1);
    let pages = log
        .counts()
        .iter()
        .filter(|(key, _)| key.starts_with(&format!("GET {JOBS}/")) && key.ends_with("/results"))
        .map(|(_, count)| *count)
        .sum::<u64>();
    assert_eq!(pages, vendor_ids.len().div_ceil(300) as u64);
    assert_eq!(
        log.total_matching("GET /services/data/v59.0/query"),
        1,
        "the count only: no SOQL page was read"
    );

    let synced = stored(&app).await;
    assert_eq!(
        synced.keys().cloned().collect::<BTreeSet<_>>(),
        vendor_ids,
        "the record store holds exactly the vendor's contacts"
    );
    let changes = feed(&app).await;
    assert_eq!(changes.len(), vendor_ids.len());
    assert!(
        changes
            .values()
            .all(|kinds| kinds == &[ChangeKind::Created]),
        "each record created once"
    );

    // The export's records are the ones the list gives.
    let listed = app.walk("salesforce", "contacts", "", 1_000).await;
    assert_eq!(listed.len(), synced.len());
    let mut found = Vec::new();
    for record in &listed {
        let id = record["remote_id"].as_str().expect("id");
        differences(id, record, &synced[id], &mut found);
    }
    assert!(
        found.is_empty(),
        "{} differences: {:?}",
        found.len(),
        &found[..found.len().min(10)]
    );

    // The next run is incremental, through the list: no job, no change.
    log.reset();
    assert_eq!(run_once(&app).await, JobOutcome::Done);
    assert_eq!(app.handle::<Salesforce>().bulk_jobs_created(), 1);
    assert_eq!(
        feed(&app).await,
        changes,
        "an unchanged vendor gives no change"
    );
}

/// A result page larger than the handler's batch (here the vendor sends every contact in one
/// page) is read, mapped and applied in batches of at most that many rows, each its own store
/// transaction, so what a run holds does not grow with the vendor's page; every record is
/// stored and created once.
#[tokio::test]
async fn a_result_page_larger_than_the_batch_is_applied_in_bounded_batches() {
    let app = spawn_app().await;
    tune_export(&app, 1_000, 10_000).await;
    let vendor_ids = app.contact_ids("salesforce");
    assert!(vendor_ids.len() > 900, "{}", vendor_ids.len());
    let log = app.simulator("salesforce").requests();
    log.reset();

    assert_eq!(run_batched(&app, 100).await, JobOutcome::Done);
    let result_pages = log
        .counts()
        .iter()
        .filter(|(key, _)| key.starts_with(&format!("GET {JOBS}/")) && key.ends_with("/results"))
        .map(|(_, count)| *count)
        .sum::<u64>();
    assert_eq!(result_pages, 1, "the vendor sent one page of results");
    let (environment_id, connection) = environment(&app).await;
    let progress = app
        .demo
        .store
        .get_sync_progress(&environment_id, &connection, "crm.contacts")
        .await
        .expect("progress")
        .expect("synced");
    assert_eq!(
        progress.pages,
        // The job's id, checkpointed before the first poll, then one store page per batch.
        1 + vendor_ids.len().div_ceil(100) as u64,
        "{progress:?}"
    );
    assert_eq!(
        stored(&app).await.keys().cloned().collect::<BTreeSet<_>>(),
        vendor_ids
    );
    let changes = feed(&app).await;
    assert_eq!(changes.len(), vendor_ids.len());
    assert!(
        changes
            .values()
            .all(|kinds| kinds == &[ChangeKind::Created]),
        "each record created once"
    );
}

#[tokio::test]
async fn an_object_below_the_threshold_is_read_through_the_list() {
    let app = spawn_app().await;
    let vendor_ids = app.contact_ids("salesforce");
    assert!(
        (vendor_ids.len() as u64) < 2_000,
        "the test seed is below the default threshold"
    );
    assert_eq!(run_once(&app).await, JobOutcome::Done);
    assert_eq!(app.handle::<Salesforce>().bulk_jobs_created(), 0);
    assert_eq!(
        stored(&app).await.keys().cloned().collect::<BTreeSet<_>>(),
        vendor_ids
    );
}

#[tokio::test]
async fn a_stopped_backfill_resumes_its_job_from_the_last_page_read() {
    let app = spawn_app().await;
    tune_export(&app, 1_000, 300).await;
    let vendor_ids = app.contact_ids("salesforce");
    let simulator = app.simulator("salesforce");
    // The poll and the first two result pages pass; the third is refused.
    simulator.faults().push(Fault {
        kind: FaultKind::Delay { millis: 0 },
        path_prefix: Some(format!("{JOBS}/")),
        times: 3,
    });
    simulator.faults().push(Fault {
        kind: FaultKind::Status {
            status: 400,
            body: Some(json!([{"errorCode": "INVALIDJOB", "message": "injected"}])),
        },
        path_prefix: Some(format!("{JOBS}/")),
        times: 1,
    });
    let stopped = run_once(&app).await;
    assert!(
        matches!(stopped, JobOutcome::Retry { .. }),
        "the refused page stops the run: {stopped:?}"
    );
    assert_eq!(stored(&app).await.len(), 600, "two pages applied");

    simulator.requests().start_capture();
    assert_eq!(run_once(&app).await, JobOutcome::Done);
    let captured = simulator.requests().stop_capture();
    assert_eq!(
        app.handle::<Salesforce>().bulk_jobs_created(),
        1,
        "the same job, not a new one"
    );
    let first_page = captured
        .iter()
        .find(|request| request.path_and_query.contains("/results"))
        .expect("results read");
    assert!(
        first_page.path_and_query.contains("locator=NjAw"),
        "the resumed run starts at the third page (row 600): {}",
        first_page.path_and_query
    );
    assert!(
        !captured
            .iter()
            .any(|request| request.method == "POST" || request.path_and_query.contains("/query?")),
        "no new job, no count, no SOQL page: {captured:?}"
    );
    assert_eq!(
        stored(&app).await.keys().cloned().collect::<BTreeSet<_>>(),
        vendor_ids
    );
    let changes = feed(&app).await;
    assert_eq!(changes.len(), vendor_ids.len());
    assert!(
        changes
            .values()
            .all(|kinds| kinds == &[ChangeKind::Created]),
        "nothing repeated in the feed"
    );
}

#[tokio::test]
async fn a_failed_export_job_is_replaced_by_a_new_one() {
    let app = spawn_app().await;
    tune_export(&app, 1_000, 2_000).await;
    app.handle::<Salesforce>()
        .fail_next_bulk_job("Query timed out: apply a filter criteria and try again");
    let failed = run_once(&app).await;
    let JobOutcome::Retry { error, .. } = &failed else {
        panic!("a failed job retries the run: {failed:?}")
    };
    assert!(error.contains("Query timed out"), "{error}");
    assert!(stored(&app).await.is_empty());
    assert_eq!(run_once(&app).await, JobOutcome::Done);
    assert_eq!(app.handle::<Salesforce>().bulk_jobs_created(), 2);
    assert_eq!(
        stored(&app).await.keys().cloned().collect::<BTreeSet<_>>(),
        app.contact_ids("salesforce")
    );
}

/// A contact holding a value outside the unified types (a last activity past year 9999) is
/// kept by a backfill as a live read serves it (issue 15): that field null and a `warnings`
/// entry naming it, rather than left out of the store as a row that could not be mapped.
#[tokio::test]
async fn a_backfilled_contact_with_an_unreadable_field_is_kept_with_a_warning() {
    let app = spawn_app().await;
    tune_export(&app, 1_000, 300).await;
    let vendor_ids = app.contact_ids("salesforce");
    let planted = vendor_ids.iter().nth(5).cloned().expect("contacts");
    assert!(app.handle::<Salesforce>().plant(
        "Contact",
        &planted,
        "LastActivityDate",
        &json!("+10000-01-01")
    ));
    let warned = |what: &str, record: &Value| {
        assert_eq!(record["id"], planted.as_str(), "{what}: {record}");
        assert_eq!(record["last_activity_at"], Value::Null, "{what}: {record}");
        let warnings = record["warnings"].as_array().cloned().unwrap_or_default();
        assert!(
            warnings.iter().any(|warning| warning
                .as_str()
                .is_some_and(|text| text.contains("`last_activity_at`"))),
            "{what}: no warning names `last_activity_at`: {record}"
        );
    };
    let connection = app.connection("salesforce");
    let (status, page) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={connection}&ids={planted}"
        ))
        .await;
    assert!(status.is_success(), "{status}: {page}");
    let live = page["results"][0].clone();
    warned("live read", &live);

    assert_eq!(run_once(&app).await, JobOutcome::Done);
    assert_eq!(app.handle::<Salesforce>().bulk_jobs_created(), 1);
    let synced = stored(&app).await;
    let missing: Vec<&String> = vendor_ids
        .iter()
        .filter(|id| !synced.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "every contact is stored, the one with the unreadable field too; missing: {missing:?}"
    );
    assert_eq!(synced.len(), vendor_ids.len());
    warned("synced", &synced[&planted]);
    let mut found = Vec::new();
    differences(&planted, &live, &synced[&planted], &mut found);
    assert!(
        found.is_empty(),
        "the synced record is the live one: {found:?}"
    );
}
