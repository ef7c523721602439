//! Controlling syncs through the API and what they make visible (issue 16): pause and resume, a
//! run now, a forced full resync and a new frequency; each sync's status, phase, checkpoint,
//! counts and last error; the `sync.*` events; and the syncs an environment starts for each new
//! connection.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::{JobHandler, SYNC_JOB_KIND, SyncHandler, Worker, WorkerSettings};
use simulators::{Fault, FaultKind};
use store::{Job, JobOutcome};
use tokio::sync::Notify;

use crate::helpers::{TestApp, spawn_app, unique_ids};
use crate::sync::run_one;

/// Records a test run reads per vendor page (the simulators hold about a thousand contacts).
const PAGE: u64 = 100;

/// Starts a sync of `provider`'s contacts, run every hour; returns it.
async fn start(app: &TestApp, provider: &str) -> Value {
    let (status, sync) = app
        .call(
            Method::POST,
            "/syncs",
            Some(
                json!({"connection_id": app.connection(provider), "object": "crm.contacts",
                        "every_secs": 3600}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sync}");
    sync
}

async fn show(app: &TestApp, id: &str) -> Value {
    let (status, sync) = app.get(&format!("/syncs/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{sync}");
    sync
}

/// The payloads of the connection's events of `kind`, oldest first.
async fn events(app: &TestApp, provider: &str, kind: &str) -> Vec<Value> {
    let (status, page) = app
        .get(&format!(
            "/events?kind={kind}&connection_id={}",
            app.connection(provider)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|event| event["payload"].clone())
        .collect()
}

fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value
        .as_str()
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .unwrap_or_else(|| panic!("a time: {value}"))
        .to_utc()
}

#[tokio::test]
async fn a_sync_is_paused_resumed_rescheduled_and_run_now_with_its_state_and_events() {
    let app = spawn_app().await;
    let provider = "pipedrive";
    let sync = start(&app, provider).await;
    let id = sync["id"].as_str().expect("id");
    assert_eq!(sync["status"], "queued");
    assert_eq!(sync["phase"], Value::Null, "no run yet");

    // Paused: held back; a second pause changes nothing and tells nothing new.
    for _ in 0..2 {
        let (status, paused) = app
            .call(Method::POST, &format!("/syncs/{id}/pause"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{paused}");
        assert_eq!(paused["status"], "paused");
        assert_eq!(paused["next_run_at"], Value::Null, "{paused}");
    }
    assert_eq!(events(&app, provider, "sync.paused").await.len(), 1);
    let (status, problem) = app
        .call(Method::POST, &format!("/syncs/{id}/run"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "sync_paused");
    let (status, again) = app
        .call(
            Method::POST,
            "/syncs",
            Some(json!({"connection_id": app.connection(provider), "object": "contacts"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a paused sync is still the sync: {again}"
    );
    assert_eq!(again["id"], id);

    // A new frequency, checked, and a shorter one brings the next run forward.
    for (body, field) in [
        (json!({"every_secs": 5}), "every_secs"),
        (json!({"every_secs": "often"}), "every_secs"),
        (json!({"every_secs": 120, "paused": true}), "paused"),
    ] {
        let (status, problem) = app
            .call(Method::PATCH, &format!("/syncs/{id}"), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/syncs/{id}"),
            Some(json!({"every_secs": 120})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["every_secs"], 120);
    assert_eq!(
        patched["status"], "paused",
        "a new frequency does not resume"
    );

    let (status, resumed) = app
        .call(Method::POST, &format!("/syncs/{id}/resume"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["status"], "queued");
    assert_eq!(events(&app, provider, "sync.resumed").await.len(), 1);

    // The first run reads everything.
    run_one(&app, PAGE).await;
    let vendor_ids = app.contact_ids(provider);
    let shown = show(&app, id).await;
    assert_eq!(shown["status"], "done", "{shown}");
    assert_eq!(shown["phase"], "backfill", "{shown}");
    assert_eq!(shown["last_error"], Value::Null, "{shown}");
    assert!(shown["checkpoint"]["watermark"].is_string(), "{shown}");
    assert_eq!(shown["checkpoint"]["mid_run"], false, "{shown}");
    assert_eq!(shown["progress"]["created"], vendor_ids.len());
    let next = time(&shown["next_run_at"]);
    let now = chrono::Utc::now();
    assert!(
        next > now && next <= now + chrono::Duration::seconds(120),
        "the next run follows the new frequency: {shown}"
    );
    let started = events(&app, provider, "sync.started").await;
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["phase"], "backfill");
    assert_eq!(started[0]["sync_id"], id);
    let completed = events(&app, provider, "sync.completed").await;
    assert_eq!(completed.len(), 1, "{completed:?}");
    let pages = vendor_ids.len().div_ceil(PAGE as usize);
    assert_eq!(
        completed[0]["counts"],
        json!({"pages": pages, "added": vendor_ids.len(), "updated": 0, "deleted": 0}),
        "{completed:?}"
    );
    assert_eq!(completed[0]["object"], "crm.contacts");

    // A run now: incremental, and it finds nothing new.
    let (status, queued) = app
        .call(Method::POST, &format!("/syncs/{id}/run"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["status"], "queued");
    assert!(time(&queued["next_run_at"]) <= chrono::Utc::now());
    run_one(&app, PAGE).await;
    let completed = events(&app, provider, "sync.completed").await;
    assert_eq!(completed.len(), 2);
    assert_eq!(completed[1]["phase"], "incremental", "{completed:?}");
    assert_eq!(completed[1]["counts"]["added"], 0);
    assert_eq!(show(&app, id).await["phase"], "incremental");

    // A forced resync drops the watermark: the next run reads everything again.
    let (status, resynced) = app
        .call(Method::POST, &format!("/syncs/{id}/resync"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resynced}");
    assert_eq!(resynced["status"], "queued");
    assert_eq!(resynced["checkpoint"], Value::Null, "{resynced}");
    run_one(&app, PAGE).await;
    let completed = events(&app, provider, "sync.completed").await;
    assert_eq!(completed.len(), 3);
    assert_eq!(completed[2]["phase"], "backfill", "{completed:?}");
    assert_eq!(
        completed[2]["counts"],
        json!({"pages": pages, "added": 0, "updated": 0, "deleted": 0}),
        "every page read again, no change: {completed:?}"
    );

    // Stopped, a sync takes no control; an unknown one is not found.
    let (status, _) = app
        .call(Method::DELETE, &format!("/syncs/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for action in ["pause", "resume", "run", "resync"] {
        let (status, problem) = app
            .call(Method::POST, &format!("/syncs/{id}/{action}"), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{action}: {problem}");
        assert_eq!(problem["code"], "sync_ended", "{action}: {problem}");
        let (status, problem) = app
            .call(Method::POST, &format!("/syncs/job_nope/{action}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}: {problem}");
    }
    let (status, problem) = app
        .call(
            Method::PATCH,
            &format!("/syncs/{id}"),
            Some(json!({"every_secs": 600})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, _) = app.get("/syncs/job_nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_sync_throttled_by_the_vendor_is_rate_limited_not_failed() {
    let app = spawn_app().await;
    let provider = "pipedrive";
    let sync = start(&app, provider).await;
    let id = sync["id"].as_str().expect("id");
    app.simulator(provider).faults().push(Fault {
        kind: FaultKind::Throttle {
            retry_after_secs: Some(3600),
        },
        path_prefix: Some(app.facts(provider).contacts_list_prefix.clone()),
        times: 1,
    });
    run_one(&app, PAGE).await;
    let shown = show(&app, id).await;
    assert_eq!(shown["status"], "rate_limited", "{shown}");
    assert_eq!(shown["last_error"]["code"], "rate_limited", "{shown}");
    assert!(
        time(&shown["next_run_at"]) > chrono::Utc::now() + chrono::Duration::minutes(30),
        "it waits for the vendor's budget: {shown}"
    );
    let throttled = events(&app, provider, "sync.rate_limited").await;
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    assert_eq!(throttled[0]["retry_at"], shown["next_run_at"]);
    assert!(events(&app, provider, "sync.failed").await.is_empty());

    // Run now: it reads to the end, and the error is cleared.
    let (status, _) = app
        .call(Method::POST, &format!("/syncs/{id}/run"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    run_one(&app, PAGE).await;
    let shown = show(&app, id).await;
    assert_eq!(shown["status"], "done", "{shown}");
    assert_eq!(shown["last_error"], Value::Null, "{shown}");
    assert_eq!(
        shown["progress"]["created"],
        app.contact_ids(provider).len()
    );
}

#[tokio::test]
async fn a_failed_run_keeps_its_problem_and_tells_whether_it_is_retried() {
    let app = spawn_app().await;
    let provider = "pipedrive";
    let sync = start(&app, provider).await;
    let id = sync["id"].as_str().expect("id");
    app.simulator(provider).faults().push(Fault {
        kind: FaultKind::Status {
            status: 400,
            body: None,
        },
        path_prefix: Some(app.facts(provider).contacts_list_prefix.clone()),
        times: 1,
    });
    run_one(&app, PAGE).await;
    let shown = show(&app, id).await;
    assert_eq!(shown["status"], "failed", "{shown}");
    assert_eq!(shown["phase"], "backfill", "{shown}");
    let problem = &shown["last_error"];
    assert_eq!(problem["origin"], "provider", "{shown}");
    assert_eq!(
        problem["type"],
        format!(
            "https://crosswalk.dev/problems/{}",
            problem["code"].as_str().expect("code")
        )
    );
    assert!(problem["detail"].as_str().expect("detail").contains("400"));
    assert!(shown["next_run_at"].is_string(), "tried again: {shown}");
    let failed = events(&app, provider, "sync.failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["will_retry"], true);
    assert_eq!(failed[0]["error"], *problem);
    assert_eq!(failed[0]["retry_at"], shown["next_run_at"]);
}

#[tokio::test]
async fn an_environments_default_syncs_start_on_each_new_connection() {
    let app = spawn_app().await;
    let (status, defaults) = app.get("/environment/syncs").await;
    assert_eq!(status, StatusCode::OK, "{defaults}");
    assert_eq!(defaults, json!({"syncs": []}));
    for (body, field) in [
        (json!({"syncs": [{"object": "widgets"}]}), "syncs[0].object"),
        (
            json!({"syncs": [{"object": "contacts"}, {"object": "crm.contacts"}]}),
            "syncs[1].object",
        ),
        (
            json!({"syncs": [{"object": "contacts", "every_secs": 1}]}),
            "syncs[0].every_secs",
        ),
        (json!({"objects": []}), "objects"),
    ] {
        let (status, problem) = app
            .call(Method::PUT, "/environment/syncs", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let (status, saved) = app
        .call(
            Method::PUT,
            "/environment/syncs",
            Some(json!({"syncs": [{"object": "contacts"},
                                  {"object": "crm.companies", "every_secs": 3600}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let expected = json!({"syncs": [{"object": "crm.contacts", "every_secs": 900},
                                    {"object": "crm.companies", "every_secs": 3600}]});
    assert_eq!(saved, expected);
    assert_eq!(app.get("/environment/syncs").await.1, expected);

    // A connection made through Connect, and one made with the API, each start them.
    let through_connect = crate::oauth::connect(&app, "hubspot").await;
    let through_api = app.connect_hubspot("pat-na1-default-syncs").await;
    for connection in [through_connect, through_api] {
        let (status, listed) = app.get(&format!("/syncs?connection_id={connection}")).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        let mut started: Vec<(String, u64)> = listed["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|sync| {
                assert_eq!(sync["status"], "queued", "{sync}");
                (
                    sync["object"].as_str().expect("object").to_owned(),
                    sync["every_secs"].as_u64().expect("every_secs"),
                )
            })
            .collect();
        started.sort();
        assert_eq!(
            started,
            vec![
                ("crm.companies".to_owned(), 3600),
                ("crm.contacts".to_owned(), 900)
            ],
            "{connection}"
        );
    }
    // The demo's connections, made before, start nothing.
    let (_, listed) = app
        .get(&format!(
            "/syncs?connection_id={}",
            app.connection("pipedrive")
        ))
        .await;
    assert_eq!(listed["results"], json!([]));
}

/// How many requests the simulator of `provider` has served.
fn vendor_requests(app: &TestApp, provider: &str) -> u64 {
    app.simulator(provider).requests().total_matching("")
}

#[tokio::test]
async fn synced_records_are_listed_from_the_store_with_filters_and_paging_and_no_vendor_call() {
    let app = spawn_app().await;
    let provider = "pipedrive";
    let connection = app.connection(provider);
    start(&app, provider).await;
    run_one(&app, PAGE).await;
    let live = app.walk(provider, "contacts", "", PAGE).await;
    let vendor_ids = app.contact_ids(provider);

    let before = vendor_requests(&app, provider);
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path =
            format!("/unified/crm/contacts?connection_id={connection}&source=synced&page_size=70");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        let results = page["results"].as_array().expect("results");
        assert!(results.len() <= 70);
        for record in results {
            let id = record["remote_id"].as_str().expect("remote_id").to_owned();
            assert!(seen.insert(id), "each record once: {record}");
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vendor_ids, "every synced record");
    assert_eq!(pages, vendor_ids.len().div_ceil(70));

    // The same records as the live list, filtered alike.
    let some = live
        .iter()
        .find(|record| {
            record["email_addresses"][0]["email_address"].is_string()
                && record["updated_at"].is_string()
        })
        .expect("a contact with an email address");
    let id = some["remote_id"].as_str().expect("id");
    let email = some["email_addresses"][0]["email_address"]
        .as_str()
        .expect("email");
    let other = live
        .iter()
        .map(|record| record["remote_id"].as_str().expect("id"))
        .find(|other| *other != id)
        .expect("another contact");
    let filtered = |query: String| {
        let app = &app;
        let connection = connection.clone();
        async move {
            let (status, page) = app
                .get(&format!(
                    "/unified/crm/contacts?connection_id={connection}&source=synced&{query}"
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{query}: {page}");
            page["results"]
                .as_array()
                .expect("results")
                .iter()
                .map(|record| record["remote_id"].as_str().expect("id").to_owned())
                .collect::<std::collections::BTreeSet<_>>()
        }
    };
    assert_eq!(
        filtered(format!("ids={id},{other}")).await,
        [id.to_owned(), other.to_owned()].into_iter().collect()
    );
    assert!(
        filtered(format!("email={}", email.to_uppercase()))
            .await
            .contains(id)
    );
    let updated_at = some["updated_at"].as_str().expect("updated_at");
    let updated_after = |at: &str| format!("updated_after={}", at.replace('+', "%2B"));
    assert!(filtered(updated_after(updated_at)).await.contains(id));
    assert!(
        filtered(updated_after("2999-01-01T00:00:00Z"))
            .await
            .is_empty()
    );
    let record = filtered(format!("ids={id}")).await;
    assert_eq!(record.len(), 1);

    // What the store cannot answer, or the connector does not declare, is refused by name.
    for (query, field) in [
        ("include=remote_data", "include"),
        ("phone=123", "phone"),
        ("source=cache", "source"),
        ("cursor=not-ours", "cursor"),
        ("page_size=0", "page_size"),
        ("updated_after=yesterday", "updated_after"),
    ] {
        let (status, problem) = app
            .get(&format!(
                "/unified/crm/contacts?connection_id={connection}&source=synced&{query}"
            ))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {problem}");
        assert_eq!(problem["field"], field, "{query}: {problem}");
    }
    assert_eq!(
        vendor_requests(&app, provider),
        before,
        "the vendor saw no request"
    );

    // A connection that never synced lists nothing, and the default stays the vendor.
    let (status, page) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={}&source=synced",
            app.connection("salesforce")
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["results"], json!([]));
    let (status, _) = app
        .get(&format!("/unified/crm/contacts?connection_id={connection}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(vendor_requests(&app, provider) > before, "live by default");
}

/// The sync handler, telling the test when its run returned (finished or not).
struct Returned {
    inner: SyncHandler,
    returned: Arc<Notify>,
}

#[async_trait::async_trait]
impl JobHandler for Returned {
    async fn run(&self, job: &Job) -> JobOutcome {
        let outcome = self.inner.run(job).await;
        self.returned.notify_one();
        outcome
    }
}

/// Resolves once `sync` shows `status`, reading it every few milliseconds; fails after 30 s.
async fn until_status(app: &TestApp, id: &str, status: &str) {
    let poll = async {
        while show(app, id).await["status"] != status {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), poll)
        .await
        .unwrap_or_else(|_| panic!("sync `{id}` never showed `{status}`"));
}

#[tokio::test]
async fn a_run_paused_midway_stops_at_its_next_page_and_resumes_later() {
    let app = spawn_app().await;
    let provider = "pipedrive";
    let sync = start(&app, provider).await;
    let id = sync["id"].as_str().expect("id").to_owned();
    // Every page of the walk is slow, so the pause lands while the run is under way.
    let prefix = app.facts(provider).contacts_list_prefix.clone();
    app.simulator(provider).faults().push(Fault {
        kind: FaultKind::Delay { millis: 300 },
        path_prefix: Some(prefix.clone()),
        times: 1_000,
    });
    let returned = Arc::new(Notify::new());
    let worker = Worker::new(
        Arc::clone(&app.demo.store),
        WorkerSettings {
            holder: "test-worker".to_owned(),
            concurrency: 1,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(20),
        },
    )
    .handle(
        SYNC_JOB_KIND,
        Arc::new(Returned {
            inner: SyncHandler::new(app.demo.state.operations.clone(), 3),
            returned: Arc::clone(&returned),
        }),
    );
    let running = tokio::spawn(worker.run(
        async move { returned.notified().await },
        Duration::from_secs(60),
    ));
    until_status(&app, &id, "running").await;
    let (status, paused) = app
        .call(Method::POST, &format!("/syncs/{id}/pause"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    let pages_at_pause = app
        .simulator(provider)
        .requests()
        .total_matching(&format!("GET {prefix}"));
    let report = running.await.expect("the worker");
    assert_eq!(
        (report.finished, report.lost),
        (0, 1),
        "the paused run's claim is gone: {report:?}"
    );
    assert!(
        app.simulator(provider)
            .requests()
            .total_matching(&format!("GET {prefix}"))
            <= pages_at_pause + 1,
        "no page is read after the one under way"
    );
    let shown = show(&app, &id).await;
    assert_eq!(shown["status"], "paused", "{shown}");
    assert!(events(&app, provider, "sync.completed").await.is_empty());

    // Resumed, the run reads to the end, and each record is created once.
    app.simulator(provider).faults().clear();
    let (status, _) = app
        .call(Method::POST, &format!("/syncs/{id}/resume"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    run_one(&app, PAGE).await;
    let shown = show(&app, &id).await;
    assert_eq!(shown["status"], "done", "{shown}");
    let vendor_ids = app.contact_ids(provider);
    assert_eq!(shown["progress"]["created"], vendor_ids.len(), "{shown}");
    let mut created = std::collections::BTreeSet::new();
    let mut after = "0".to_owned();
    loop {
        let (status, feed) = app
            .get(&format!(
                "/changes?after={after}&limit=1000&connection_id={}",
                app.connection(provider)
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{feed}");
        let results = feed["results"].as_array().expect("results");
        if results.is_empty() {
            break;
        }
        for change in results {
            assert_eq!(change["kind"], "created", "{change}");
            let id = change["remote_id"].as_str().expect("id").to_owned();
            assert!(created.insert(id), "each record once: {change}");
        }
        after = feed["next_after"].as_str().expect("next_after").to_owned();
    }
    assert_eq!(created, vendor_ids);
}

#[tokio::test]
async fn crosswalk_sync_runs_a_sync_from_the_terminal_until_its_run_ends() {
    use cli::sync::{RunEnd, SyncArgs, run, summary};
    let app = spawn_app().await;
    let provider = "salesforce";
    let args = SyncArgs {
        connection: app.connection(provider),
        object: "contacts".to_owned(),
        resync: false,
        every_secs: 3600,
    };
    let bar = indicatif::ProgressBar::hidden();
    let grace = Duration::from_secs(5);
    let worker = cli::settings::WorkerConfig::default();
    let vendor_ids = app.contact_ids(provider);
    let end = run(&app.demo.state.operations, &args, &bar, &worker, grace)
        .await
        .expect("the run");
    let RunEnd::Completed { phase, counts } = &end else {
        panic!("{end:?}");
    };
    assert_eq!(phase, &Some(store::SyncPhase::Backfill));
    assert_eq!(counts.added, vendor_ids.len() as u64);
    assert!(summary(&end).1, "{}", summary(&end).0);
    assert!(
        summary(&end).0.starts_with("done (backfill)"),
        "{}",
        summary(&end).0
    );

    // The same sync again: incremental, nothing new; with --resync, everything read again.
    let end = run(&app.demo.state.operations, &args, &bar, &worker, grace)
        .await
        .expect("the run");
    assert!(
        matches!(&end, RunEnd::Completed { phase: Some(store::SyncPhase::Incremental), counts } if counts.added == 0),
        "{end:?}"
    );
    let resync = SyncArgs {
        resync: true,
        ..args.clone()
    };
    let end = run(&app.demo.state.operations, &resync, &bar, &worker, grace)
        .await
        .expect("the run");
    assert!(
        matches!(&end, RunEnd::Completed { phase: Some(store::SyncPhase::Backfill), counts } if counts.added == 0 && counts.pages > 0),
        "{end:?}"
    );
    let (status, listed) = app
        .get(&format!(
            "/syncs?connection_id={}",
            app.connection(provider)
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed["results"].as_array().expect("results").len(),
        1,
        "one sync, run three times: {listed}"
    );

    // What cannot run is refused before anything starts.
    for (connection, object) in [
        ("nope".to_owned(), "contacts"),
        (app.connection(provider), "widgets"),
    ] {
        let bad = SyncArgs {
            connection,
            object: object.to_owned(),
            ..args.clone()
        };
        assert!(
            run(&app.demo.state.operations, &bad, &bar, &worker, grace)
                .await
                .is_err()
        );
    }
}

/// The live contacts a sync stored, by their remote ids (each once), read page by page from the
/// store.
async fn stored_ids(app: &TestApp, provider: &str) -> std::collections::BTreeSet<String> {
    unique_ids(&app.walk(provider, "contacts", "&source=synced", 200).await)
}

/// `reconcile_every_secs`, set with `POST /syncs` and changed with `PATCH /syncs/{id}`, says how
/// often a sync's runs look for deletes: at 0 every run is a reconciliation pass (on Dynamics
/// 365, an id diff, which finds a contact deleted at the vendor); at a day, the next run is
/// incremental and finds no delete.
#[tokio::test]
async fn a_syncs_reconciliation_schedule_is_set_and_changed_through_the_api() {
    let app = spawn_app().await;
    let provider = "dynamics365";
    let connection = app.connection(provider);
    let (status, problem) = app
        .call(
            Method::POST,
            "/syncs",
            Some(
                json!({"connection_id": connection, "object": "crm.contacts",
                        "reconcile_every_secs": 31 * 24 * 3600}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "reconcile_every_secs", "{problem}");
    let (status, sync) = app
        .call(
            Method::POST,
            "/syncs",
            Some(
                json!({"connection_id": connection, "object": "crm.contacts",
                        "every_secs": 3600, "reconcile_every_secs": 0}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sync}");
    assert_eq!(sync["reconcile_every_secs"], 0, "{sync}");
    let id = sync["id"].as_str().expect("id").to_owned();
    run_one(&app, PAGE).await;
    let vendor = app.contact_ids(provider);
    assert_eq!(stored_ids(&app, provider).await, vendor);

    let delete = |remote_id: String| {
        let app = &app;
        let connection = connection.clone();
        async move {
            let (status, body) = app
                .call(
                    Method::DELETE,
                    &format!("/unified/crm/contacts/{remote_id}?connection_id={connection}"),
                    None,
                )
                .await;
            assert!(status.is_success(), "deleting {remote_id}: {status} {body}");
        }
    };
    let run_now = || async {
        let (status, queued) = app
            .call(Method::POST, &format!("/syncs/{id}/run"), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        run_one(&app, PAGE).await;
        show(&app, &id).await
    };

    // Every run reconciles: the next one finds the delete.
    let first = vendor.iter().next().expect("contacts").clone();
    delete(first.clone()).await;
    let shown = run_now().await;
    assert_eq!(shown["phase"], "reconcile", "{shown}");
    assert_eq!(shown["progress"]["deleted"], 1, "{shown}");
    assert!(!stored_ids(&app, provider).await.contains(&first));

    // Checked, then changed to daily: the next run is incremental and keeps a deleted contact
    // until the next pass. The frequency stays as it was.
    for body in [json!({}), json!({"reconcile_every_secs": 31 * 24 * 3600})] {
        let (status, problem) = app
            .call(Method::PATCH, &format!("/syncs/{id}"), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert!(problem["field"].is_string(), "{body}: {problem}");
    }
    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/syncs/{id}"),
            Some(json!({"reconcile_every_secs": 86_400})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["reconcile_every_secs"], 86_400, "{patched}");
    assert_eq!(patched["every_secs"], 3600, "{patched}");
    let second = app
        .contact_ids(provider)
        .into_iter()
        .next()
        .expect("contacts");
    delete(second.clone()).await;
    let shown = run_now().await;
    assert_eq!(shown["phase"], "incremental", "{shown}");
    assert_eq!(shown["progress"]["deleted"], 1, "{shown}");
    assert!(stored_ids(&app, provider).await.contains(&second));
}
