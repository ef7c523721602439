//! Outbound webhooks end to end (issue 17): endpoints made through the API, a sync's changes and
//! `sync.*` events delivered to a receiver on loopback by the worker's delivery jobs, signed as
//! the Standard Webhooks specification says.
//!
//! - The official `standardwebhooks` Python library (pinned in `contract/requirements.txt`,
//!   installed into `.tools/venv` by `scripts/test-deps`) verifies every delivery of a run, with
//!   the secret shown at creation, and after a rotation with the old and the new one; it rejects
//!   a tampered body and a timestamp older than 5 minutes.
//! - An endpoint down for a simulated day (the worker's clock moved, not slept) gets every event
//!   once it returns, each accepted once and in order per record; a 410 disables it with an
//!   event; a 4xx twice makes a dead letter that a replay sends again; five days of failures
//!   disable it.

#[path = "api/helpers.rs"]
#[allow(dead_code, reason = "shared with the api tests, which use more of it")]
mod helpers;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cli::demo::Options;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::{SYNC_JOB_KIND, SyncHandler, Worker, WorkerSettings};
use simulators::Entry;
use simulators::pipedrive::Pipedrive;
use store::timestamp::Clock;
use store::{ConnectionId, EnvironmentId, JobId, MessageStatus, Store, WebhookEndpointId};

use crate::helpers::{TestApp, spawn_app_with};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: BTreeMap<String, String>,
    body: String,
    /// The status it answered.
    status: u16,
}

/// A webhook receiver on loopback: records every request and answers the status set for it.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer in turn; then `otherwise`.
    queued: Arc<Mutex<VecDeque<u16>>>,
    otherwise: Arc<Mutex<u16>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        *receiver.otherwise.lock().expect("lock") = 204;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let state = receiver.clone();
        let app =
            axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let status = state
                        .queued
                        .lock()
                        .expect("lock")
                        .pop_front()
                        .unwrap_or(*state.otherwise.lock().expect("lock"));
                    let headers = headers
                        .iter()
                        .map(|(name, value)| {
                            (
                                name.as_str().to_owned(),
                                value.to_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect();
                    state.got.lock().expect("lock").push(Received {
                        headers,
                        body,
                        status,
                    });
                    axum::http::StatusCode::from_u16(status).expect("a status")
                }
            });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, format!("http://{address}/hooks"))
    }

    fn answer(&self, status: u16) {
        *self.otherwise.lock().expect("lock") = status;
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    fn accepted(&self) -> Vec<Received> {
        self.got()
            .into_iter()
            .filter(|received| (200..300).contains(&received.status))
            .collect()
    }
}

/// The demo on the Pipedrive simulator alone.
async fn app() -> TestApp {
    spawn_app_with(Options {
        registry: vec![Entry::of::<Pipedrive>()],
        ..Options::tests()
    })
    .await
}

async fn environment_of(app: &TestApp) -> EnvironmentId {
    app.demo
        .store
        .get_connection_by_id(&ConnectionId::parse(&app.connection("pipedrive")).expect("id"))
        .await
        .expect("connection")
        .environment_id
}

/// A worker running syncs on the machine's clock.
fn sync_worker(app: &TestApp) -> Worker {
    Worker::new(
        Arc::clone(&app.demo.store),
        WorkerSettings {
            holder: "sync-test".to_owned(),
            concurrency: 1,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(20),
        },
    )
    .handle(
        SYNC_JOB_KIND,
        Arc::new(SyncHandler::new(app.demo.state.operations.clone(), 100)),
    )
}

/// A worker running deliveries on `clock`, to loopback only.
fn delivery_worker(app: &TestApp, clock: &Clock) -> Worker {
    let settings = webhooks::WebhookSettings {
        addresses: webhooks::AddressPolicy::LoopbackOnly,
        timeout: Duration::from_secs(5),
        poll: Duration::from_millis(200),
        ..webhooks::WebhookSettings::default()
    };
    Worker::new(
        Arc::clone(&app.demo.store),
        WorkerSettings {
            holder: "webhook-test".to_owned(),
            concurrency: 4,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(20),
        },
    )
    .with_clock(clock.clone())
    .handle(
        webhooks::DELIVERY_JOB_KIND,
        Arc::new(webhooks::DeliveryHandler::new(
            Arc::clone(&app.demo.store),
            Arc::clone(&app.demo.state.keyring),
            settings,
            clock.clone(),
        )),
    )
}

/// Whether nothing is left to do: the sync is neither running nor due (on the machine's
/// clock: syncs are not what the test moves), and the enabled endpoints have no message due
/// at `clock`'s time.
async fn settled(
    store: &dyn Store,
    environment_id: &EnvironmentId,
    sync: &JobId,
    endpoints: &[WebhookEndpointId],
    clock: &Clock,
) -> bool {
    let job = store.get_job(environment_id, sync).await.expect("sync job");
    if job.status == store::JobStatus::Running
        || (job.status == store::JobStatus::Queued && job.run_at <= store::timestamp::now())
    {
        return false;
    }
    let now = clock.now();
    // New changes wait in the outbox until a delivery run moves them.
    store
        .fan_out_webhook_outbox(environment_id, 1000, now)
        .await
        .expect("fan out");
    for endpoint in endpoints {
        let enabled = store
            .get_webhook_endpoint(environment_id, endpoint)
            .await
            .expect("endpoint")
            .enabled;
        if enabled
            && !store
                .due_webhook_messages(endpoint, now, 1)
                .await
                .expect("due")
                .is_empty()
        {
            return false;
        }
    }
    true
}

/// Runs a sync worker and a delivery worker until [`settled`] holds (checked every 50 ms, for at
/// most two minutes).
async fn run_until_settled(
    app: &TestApp,
    clock: &Clock,
    sync: &JobId,
    endpoints: &[WebhookEndpointId],
) {
    let environment_id = environment_of(app).await;
    let (done, _) = tokio::sync::watch::channel(false);
    let stop = |done: &tokio::sync::watch::Sender<bool>| {
        let mut seen = done.subscribe();
        async move {
            let _ = seen.wait_for(|done| *done).await;
        }
    };
    let watch = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(
                tokio::time::Instant::now() < deadline,
                "the workers did not settle within two minutes"
            );
            if settled(
                app.demo.store.as_ref(),
                &environment_id,
                sync,
                endpoints,
                clock,
            )
            .await
            {
                done.send_replace(true);
                return;
            }
        }
    };
    tokio::join!(
        sync_worker(app).run(stop(&done), Duration::from_secs(10)),
        delivery_worker(app, clock).run(stop(&done), Duration::from_secs(10)),
        watch,
    );
}

async fn create_endpoint(app: &TestApp, body: Value) -> (WebhookEndpointId, String) {
    let (status, created) = app
        .call(Method::POST, "/webhooks/endpoints", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert!(
        created["endpoint"].get("secret").is_none(),
        "the endpoint view never shows a secret: {created}"
    );
    let id = WebhookEndpointId::parse(created["endpoint"]["id"].as_str().expect("id"))
        .expect("an endpoint id");
    (id, secret)
}

async fn start_sync(app: &TestApp) -> JobId {
    let (status, sync) = app
        .call(
            Method::POST,
            "/syncs",
            Some(json!({"connection_id": app.connection("pipedrive"), "object": "contacts", "every_secs": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sync}");
    JobId::parse(sync["id"].as_str().expect("id")).expect("a job id")
}

fn python() -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    assert!(
        path.is_file(),
        "`{}` is missing: install it with `./scripts/test-deps` (./scripts/test runs it)",
        path.display()
    );
    path
}

/// Verifies `deliveries` with `secret` through the official `standardwebhooks` library; its
/// verdict on each, in order (`ok`, or the library's error).
fn verify_with_library(
    secret: &str,
    deliveries: &[(BTreeMap<String, String>, String)],
) -> Vec<String> {
    let work = tempfile::tempdir().expect("a temp dir");
    let file = work.path().join("deliveries.json");
    let list: Vec<Value> = deliveries
        .iter()
        .map(|(headers, body)| json!({"headers": headers, "body": body}))
        .collect();
    std::fs::write(&file, serde_json::to_vec(&list).expect("json")).expect("write");
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
hook = Webhook(sys.argv[1])
for delivery in json.load(open(sys.argv[2])):
    try:
        hook.verify(delivery["body"], delivery["headers"])
        print("ok")
    except WebhookVerificationError as error:
        print("rejected: " + str(error))
"#;
    let output = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(secret)
        .arg(&file)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the verifier failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn delivery(received: &Received) -> (BTreeMap<String, String>, String) {
    (received.headers.clone(), received.body.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standardwebhooks_library_verifies_every_delivery_of_a_sync() {
    let app = app().await;
    let environment_id = environment_of(&app).await;
    let (receiver, url) = Receiver::start().await;
    let (all, secret) =
        create_endpoint(&app, json!({"url": url, "description": "everything"})).await;
    let (created_only, _) = create_endpoint(
        &app,
        json!({"url": url, "event_types": ["crm.contacts.created"], "include_record": true}),
    )
    .await;
    let clock = Clock::default();
    let sync = start_sync(&app).await;
    run_until_settled(&app, &clock, &sync, &[all.clone(), created_only.clone()]).await;

    let changes = app
        .demo
        .store
        .list_changes(&environment_id, 0, None, 10_000)
        .await
        .expect("changes");
    assert!(!changes.is_empty(), "the sync made changes");
    let got = receiver.got();
    let bodies: Vec<Value> = got
        .iter()
        .map(|received| serde_json::from_str(&received.body).expect("a JSON body"))
        .collect();
    let to_all: Vec<&Value> = bodies
        .iter()
        .filter(|body| body["data"].get("record").is_none())
        .collect();
    let created_events = bodies
        .iter()
        .filter(|body| body["data"].get("record").is_some())
        .count();
    assert_eq!(
        created_events,
        changes.len(),
        "one created event per change to the filtered endpoint"
    );
    let kinds: Vec<&str> = to_all
        .iter()
        .map(|body| body["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|kind| **kind == "crm.contacts.created")
            .count(),
        changes.len(),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"sync.started") && kinds.contains(&"sync.completed"),
        "{kinds:?}"
    );
    let thin = to_all
        .iter()
        .find(|body| body["type"] == "crm.contacts.created")
        .expect("a change event");
    let mut keys: Vec<&str> = thin["data"]
        .as_object()
        .expect("data")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "change_seq",
            "changed_fields",
            "connection_id",
            "id",
            "object",
            "remote_id"
        ],
        "thin by default: {thin}"
    );

    // Every delivery to the first endpoint verifies with its secret; the others were signed
    // with the second endpoint's and do not.
    let to_first: Vec<(BTreeMap<String, String>, String)> = got
        .iter()
        .filter(|received| !received.body.contains("\"record\""))
        .map(delivery)
        .collect();
    let verdicts = verify_with_library(&secret, &to_first);
    assert_eq!(verdicts.len(), to_first.len());
    assert!(
        verdicts.iter().all(|verdict| verdict == "ok"),
        "{verdicts:?}"
    );
    let to_second: Vec<_> = got
        .iter()
        .filter(|received| received.body.contains("\"record\""))
        .map(delivery)
        .collect();
    assert!(
        verify_with_library(&secret, &to_second[..1])
            .iter()
            .all(|verdict| verdict.starts_with("rejected")),
        "another endpoint's secret does not verify"
    );

    // A tampered body, and a delivery signed by us with a timestamp 6 minutes old, are refused.
    let (headers, body) = to_first[0].clone();
    let tampered = body.replacen('}', ",\"extra\":1}", 1);
    let key = webhooks::signing::secret_key(&secret).expect("a secret");
    let old = store::timestamp::now().timestamp() - 6 * 60;
    let mut old_headers = headers.clone();
    old_headers.insert("webhook-timestamp".to_owned(), old.to_string());
    old_headers.insert(
        "webhook-signature".to_owned(),
        webhooks::signing::sign(&key, &headers["webhook-id"], old, body.as_bytes()),
    );
    let now = store::timestamp::now().timestamp();
    let mut fresh_headers = headers.clone();
    fresh_headers.insert("webhook-timestamp".to_owned(), now.to_string());
    fresh_headers.insert(
        "webhook-signature".to_owned(),
        webhooks::signing::sign(&key, &headers["webhook-id"], now, body.as_bytes()),
    );
    let verdicts = verify_with_library(
        &secret,
        &[
            (headers.clone(), tampered),
            (old_headers, body.clone()),
            (fresh_headers, body.clone()),
        ],
    );
    assert!(verdicts[0].starts_with("rejected"), "{verdicts:?}");
    assert!(verdicts[1].starts_with("rejected"), "{verdicts:?}");
    assert!(verdicts[1].contains("too old"), "{verdicts:?}");
    assert_eq!(verdicts[2], "ok", "the same body signed now verifies");

    // After a rotation, deliveries verify with the new secret and, for a day, the old one.
    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/webhooks/endpoints/{all}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new_secret, secret);
    assert!(
        rotated["endpoint"]["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    let before = receiver.got().len();
    let (status, paused) = app
        .call(Method::POST, &format!("/syncs/{sync}/pause"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    run_until_settled(&app, &clock, &sync, std::slice::from_ref(&all)).await;
    let after: Vec<_> = receiver.got()[before..].iter().map(delivery).collect();
    assert_eq!(after.len(), 1, "one sync.paused event: {after:?}");
    assert!(after[0].1.contains("sync.paused"), "{after:?}");
    assert_eq!(after[0].0["webhook-signature"].split(' ').count(), 2);
    assert_eq!(verify_with_library(&new_secret, &after), vec!["ok"]);
    assert_eq!(verify_with_library(&secret, &after), vec!["ok"]);

    // The attempts are listed per endpoint, a page at a time; nothing was dead.
    let mut listed = 0;
    let mut path = format!("/webhooks/endpoints/{all}/attempts?limit=1000");
    loop {
        let (status, attempts) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{attempts}");
        listed += attempts["results"].as_array().expect("results").len();
        match attempts["next_before"].as_str() {
            Some(before) => {
                path = format!("/webhooks/endpoints/{all}/attempts?limit=1000&before={before}");
            }
            None => break,
        }
    }
    assert_eq!(listed, to_first.len() + 1);
    let (status, dead) = app
        .get(&format!("/webhooks/endpoints/{all}/messages?status=dead"))
        .await;
    assert_eq!(status, StatusCode::OK, "{dead}");
    assert_eq!(dead["results"], json!([]));
}

/// The record key of a change event's body, and its change number.
fn record_and_seq(body: &Value) -> Option<(String, u64)> {
    let data = &body["data"];
    Some((
        data["remote_id"].as_str()?.to_owned(),
        data["change_seq"].as_u64()?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_down_for_a_day_gets_every_event_in_order_and_a_410_disables_it() {
    let app = app().await;
    let environment_id = environment_of(&app).await;
    let connection = app.connection("pipedrive");
    let (receiver, url) = Receiver::start().await;
    receiver.answer(503);
    let (endpoint, _) = create_endpoint(&app, json!({"url": url})).await;
    let clock = Clock::default();
    let sync = start_sync(&app).await;
    run_until_settled(&app, &clock, &sync, std::slice::from_ref(&endpoint)).await;

    // Three records change twice while the endpoint is down, a run apart.
    let (status, page) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={connection}&page_size=3"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let ids: Vec<String> = page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|record| record["id"].as_str().expect("id").to_owned())
        .collect();
    for round in 0..2 {
        for id in &ids {
            let (status, updated) = app
                .call(
                    Method::PATCH,
                    &format!("/unified/crm/contacts/{id}?connection_id={connection}"),
                    Some(json!({"first_name": format!("Round{round}")})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{updated}");
        }
        let (status, run) = app
            .call(Method::POST, &format!("/syncs/{sync}/run"), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{run}");
        run_until_settled(&app, &clock, &sync, std::slice::from_ref(&endpoint)).await;
    }
    // A simulated day of failures, three hours at a time.
    for _ in 0..8 {
        clock.advance(Duration::from_secs(3 * 3600));
        run_until_settled(&app, &clock, &sync, std::slice::from_ref(&endpoint)).await;
    }
    assert!(receiver.accepted().is_empty());
    let failed = receiver.got().len();
    let (status, view) = app.get(&format!("/webhooks/endpoints/{endpoint}")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        view["enabled"], true,
        "a day of failures does not disable it: {view}"
    );
    assert!(view["failing_since"].is_string(), "{view}");

    // It comes back: within the next day every event arrives, once, in order per record.
    receiver.answer(200);
    for _ in 0..8 {
        clock.advance(Duration::from_secs(3 * 3600));
        run_until_settled(&app, &clock, &sync, std::slice::from_ref(&endpoint)).await;
    }
    let messages = app
        .demo
        .store
        .list_webhook_messages(&environment_id, &endpoint, None, None, 10_000)
        .await
        .expect("messages");
    assert!(
        messages
            .iter()
            .all(|message| message.status == MessageStatus::Delivered),
        "every message delivered"
    );
    let accepted = receiver.accepted();
    let mut ids_seen: Vec<&str> = accepted
        .iter()
        .map(|received| received.headers["webhook-id"].as_str())
        .collect();
    assert_eq!(ids_seen.len(), messages.len(), "each accepted once");
    ids_seen.sort_unstable();
    ids_seen.dedup();
    assert_eq!(ids_seen.len(), messages.len(), "no message accepted twice");
    let mut last_seq: BTreeMap<String, u64> = BTreeMap::new();
    let mut updates = 0;
    for received in &accepted {
        let body: Value = serde_json::from_str(&received.body).expect("json");
        if body["type"] == "crm.contacts.updated" {
            updates += 1;
        }
        if let Some((record, seq)) = record_and_seq(&body) {
            let previous = last_seq.insert(record.clone(), seq);
            assert!(
                previous.is_none_or(|previous| previous < seq),
                "record {record}: change {seq} arrived after {previous:?}"
            );
        }
    }
    assert_eq!(updates, 2 * ids.len(), "both rounds of updates arrived");
    let attempts = app
        .demo
        .store
        .list_webhook_attempts(&environment_id, &endpoint, None, 10_000)
        .await
        .expect("attempts");
    let failed_attempts: Vec<u32> = attempts
        .iter()
        .filter(|attempt| attempt.status_code == Some(503))
        .map(|attempt| attempt.attempt)
        .collect();
    assert_eq!(failed_attempts.len(), failed, "every attempt is listed");
    assert!(
        failed_attempts.iter().max() >= Some(&6),
        "a day of retries on the schedule reaches the sixth attempt: {failed_attempts:?}"
    );

    // A 410 disables it, with an event.
    receiver.answer(410);
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!(
                "/unified/crm/contacts/{}?connection_id={connection}",
                ids[0]
            ),
            Some(json!({"first_name": "Gone"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(Method::POST, &format!("/syncs/{sync}/run"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    run_until_settled(&app, &clock, &sync, std::slice::from_ref(&endpoint)).await;
    let (status, view) = app.get(&format!("/webhooks/endpoints/{endpoint}")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["enabled"], false, "{view}");
    assert_eq!(view["disabled_reason"], "gone", "{view}");
    let (status, events) = app.get("/events?kind=webhook.endpoint_disabled").await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(
        events["results"].as_array().expect("results").len(),
        1,
        "{events}"
    );

    // Enabled again with a receiver that refuses: two tries make a dead letter, which a replay
    // sends again once the receiver takes it.
    receiver.answer(422);
    let (status, view) = app
        .call(
            Method::PATCH,
            &format!("/webhooks/endpoints/{endpoint}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    // A change made while it is enabled again: what happened while it was disabled is not
    // queued for it (the 410 said the receiver was gone), and whether the update above was
    // queued before the 410 disabled it depends on which of that run's events went first.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!(
                "/unified/crm/contacts/{}?connection_id={connection}",
                ids[2]
            ),
            Some(json!({"first_name": "Refused"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(Method::POST, &format!("/syncs/{sync}/run"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    run_until_settled(&app, &clock, &sync, std::slice::from_ref(&endpoint)).await;
    clock.advance(Duration::from_secs(10));
    run_until_settled(&app, &clock, &sync, std::slice::from_ref(&endpoint)).await;
    let (status, dead) = app
        .get(&format!(
            "/webhooks/endpoints/{endpoint}/messages?status=dead"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{dead}");
    let dead = dead["results"].as_array().expect("results").clone();
    assert!(!dead.is_empty(), "{dead:?}");
    assert!(
        dead.iter().all(|message| message["attempts"] == 2),
        "{dead:?}"
    );
    let update = dead
        .iter()
        .find(|message| message["event_type"] == "crm.contacts.updated")
        .unwrap_or_else(|| panic!("the record's update is a dead letter: {dead:?}"));
    let update_id = update["id"].as_str().expect("id").to_owned();
    receiver.answer(204);
    let (status, replayed) = app
        .call(
            Method::POST,
            &format!("/webhooks/endpoints/{endpoint}/replay"),
            Some(json!({"message_id": update_id})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    assert_eq!(replayed["replayed"], 1);
    run_until_settled(&app, &clock, &sync, std::slice::from_ref(&endpoint)).await;
    assert!(
        receiver
            .got()
            .iter()
            .any(|received| received.headers["webhook-id"] == update_id && received.status == 204),
        "the replayed dead letter was delivered"
    );

    // Five days of failures disable it too.
    receiver.answer(500);
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!(
                "/unified/crm/contacts/{}?connection_id={connection}",
                ids[1]
            ),
            Some(json!({"first_name": "Failing"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(Method::POST, &format!("/syncs/{sync}/run"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    run_until_settled(&app, &clock, &sync, std::slice::from_ref(&endpoint)).await;
    for _ in 0..12 {
        clock.advance(Duration::from_secs(12 * 3600));
        run_until_settled(&app, &clock, &sync, std::slice::from_ref(&endpoint)).await;
    }
    let (status, view) = app.get(&format!("/webhooks/endpoints/{endpoint}")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["enabled"], false, "{view}");
    assert_eq!(view["disabled_reason"], "failing", "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_refuse_bad_input_with_problems_naming_the_field() {
    let app = app().await;
    for (body, field) in [
        (json!({}), "url"),
        (json!({"url": "ftp://example.com/"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "https://user:pw@example.com/"}), "url"),
        (
            json!({"url": "https://example.com/", "event_types": ["Bad Type"]}),
            "event_types[0]",
        ),
        (
            json!({"url": "https://example.com/", "connection_ids": ["conn_nope"]}),
            "connection_ids[0]",
        ),
        (
            json!({"url": "https://example.com/", "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, problem) = app
            .call(Method::POST, "/webhooks/endpoints", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let (status, _) = app
        .get(&format!(
            "/webhooks/endpoints/{}",
            WebhookEndpointId::generate()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem) = app
        .call(
            Method::POST,
            "/webhooks/endpoints",
            Some(json!({"url": "https://example.com/", "connection_ids": [ConnectionId::generate().to_string()]})),
        )
        .await;
    // A body naming a connection the environment does not have is a conflict with its state
    // (409 `reference_not_found`), not a 404 a client would read as the endpoint's absence
    // (the long Schemathesis run's stateful phase took a PATCH's 404 for a lost endpoint).
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an unknown connection: {problem}"
    );
    assert_eq!(problem["code"], "reference_not_found", "{problem}");
    let (id, secret) = create_endpoint(
        &app,
        json!({"url": "https://hooks.example.com/in", "connection_ids": [app.connection("pipedrive")]}),
    )
    .await;
    let (status, list) = app.get("/webhooks/endpoints").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once"
    );
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/webhooks/endpoints/{id}"),
            Some(json!({"enabled": false, "description": "paused"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["disabled_reason"], "api");
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/webhooks/endpoints/{id}/replay"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    // The stored secret is sealed: the plaintext is nowhere in the database file.
    let endpoint = app
        .demo
        .store
        .get_webhook_endpoint(&environment_of(&app).await, &id)
        .await
        .expect("stored");
    assert!(!format!("{endpoint:?}").contains(&secret));
    let mut found = false;
    for entry in std::fs::read_dir(app.data_dir.path()).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("read");
            found |= bytes
                .windows(secret.len())
                .any(|window| window == secret.as_bytes());
        }
    }
    assert!(!found, "the plaintext secret is not in the data directory");
    let (status, _) = app
        .call(Method::DELETE, &format!("/webhooks/endpoints/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/webhooks/endpoints/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
