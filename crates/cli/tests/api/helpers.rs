//! `spawn_app`: the demo wiring (simulators of the registry, SQLite store, demo environment and
//! connections) on port 0 in a fresh directory, plus typed helpers to call the API. Shared by the
//! `api` tests and the cross-vendor suite (`tests/vendors`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cli::demo::{self, Demo, DemoArgs, Options};
use reqwest::StatusCode;
use serde_json::Value;
use server::{JobHandler, SYNC_JOB_KIND, SyncHandler, Worker, WorkerReport, WorkerSettings};
use simulators::{HrisSuiteFacts, Simulator, Started, SuiteFacts};
use store::{Job, JobOutcome};
use tokio::sync::Notify;

pub struct TestApp {
    pub demo: Demo,
    pub base: String,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
}

/// The demo on every simulator of the registry, small seeds, rate limits lifted.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::tests()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("CROSSWALK_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    let data_dir = tempfile::tempdir().expect("a temp dir");
    let args = DemoArgs {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        data_dir: data_dir.path().to_path_buf(),
        api_key: None,
    };
    let demo = demo::start_with(&args, options)
        .await
        .expect("the demo starts");
    TestApp {
        base: format!("http://{}", demo.api_addr),
        demo,
        client: reqwest::Client::new(),
        data_dir,
    }
}

impl TestApp {
    pub fn connection(&self, provider: &str) -> String {
        self.demo.vendor(provider).connection_id.clone()
    }

    /// Connects one more HubSpot account with a private app token; returns its connection id.
    pub async fn connect_hubspot(&self, token: &str) -> String {
        let (status, created) = self
            .call(
                reqwest::Method::POST,
                "/connections",
                Some(serde_json::json!({"provider": "hubspot", "auth_scheme": "private_app", "fields": {"private_app_token": token}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_str().expect("id").to_owned()
    }

    /// The running simulator of `provider`, with its faults and request log.
    pub fn simulator(&self, provider: &str) -> &Started {
        &self.demo.vendor(provider).simulator
    }

    /// The vendor handle of simulator `S` (its vendor-specific controls).
    ///
    /// # Panics
    /// When the demo does not run `S`.
    pub fn handle<S: Simulator>(&self) -> &S::Handle {
        self.simulator(S::CONNECTOR)
            .handle::<S>()
            .unwrap_or_else(|| panic!("`{}` runs another simulator", S::CONNECTOR))
    }

    /// What the cross-vendor suite may expect of `provider` (its `simulator.yaml`).
    ///
    /// # Panics
    /// When `provider` has no CRM suite facts (a vendor of another category).
    pub fn facts(&self, provider: &str) -> &SuiteFacts {
        self.demo
            .vendor(provider)
            .wiring
            .suite
            .as_ref()
            .unwrap_or_else(|| panic!("`{provider}` has no CRM suite facts"))
    }

    /// What the cross-vendor suite's HRIS checks may expect of `provider`.
    ///
    /// # Panics
    /// When `provider` has no HRIS suite facts (a vendor of another category).
    #[allow(
        dead_code,
        reason = "used by the cross-vendor suite, not by every api test"
    )]
    pub fn hris_facts(&self, provider: &str) -> &HrisSuiteFacts {
        self.demo
            .vendor(provider)
            .wiring
            .hris_suite
            .as_ref()
            .unwrap_or_else(|| panic!("`{provider}` has no HRIS suite facts"))
    }

    /// Ids of the contacts the vendor holds now (not deleted).
    pub fn contact_ids(&self, provider: &str) -> BTreeSet<String> {
        self.simulator(provider)
            .ids(&self.facts(provider).contacts_object)
            .into_iter()
            .collect()
    }

    /// Ages the connection's cached discovered fields of `object` (`crm.contacts`) by `by`, as
    /// time would; `revision` is the connector revision `/meta` names.
    #[allow(
        dead_code,
        reason = "used by the api tests, not by the cross-vendor suite"
    )]
    pub async fn age_discovered_fields(
        &self,
        connection: &str,
        revision: &str,
        object: &str,
        by: chrono::Duration,
    ) {
        let id = store::ConnectionId::parse(connection).expect("id");
        let key = format!("{revision}:{object}");
        let entry = self
            .demo
            .store
            .get_discovered_fields(&id, &key)
            .await
            .expect("read")
            .expect("cached");
        self.demo
            .store
            .put_discovered_fields(&id, &key, &entry.fields, entry.fetched_at - by)
            .await
            .expect("aged");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(&self.demo.api_key, method, path, body).await
    }

    pub async fn call_as(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Walks a unified CRM list to its end, returning every record.
    pub async fn walk(
        &self,
        provider: &str,
        object: &str,
        filters: &str,
        page_size: u64,
    ) -> Vec<Value> {
        self.walk_category(provider, "crm", object, filters, page_size)
            .await
    }

    /// Walks a unified list of `category` to its end, returning every record.
    pub async fn walk_category(
        &self,
        provider: &str,
        category: &str,
        object: &str,
        filters: &str,
        page_size: u64,
    ) -> Vec<Value> {
        let connection = self.connection(provider);
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut path = format!(
                "/unified/{category}/{object}?connection_id={connection}&page_size={page_size}{filters}"
            );
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let (status, body) = self.get(&path).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "listing {object} on {provider}: {body}"
            );
            assert!(
                body.get("errors").is_none(),
                "records failed to map: {body}"
            );
            records.extend(body["results"].as_array().expect("results").iter().cloned());
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return records,
            }
        }
        panic!("listing {object} on {provider} never ended");
    }
}

/// The remote ids of records, asserting none appears twice.
pub fn unique_ids(records: &[Value]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for record in records {
        let id = record["remote_id"].as_str().expect("remote_id").to_owned();
        assert!(ids.insert(id.clone()), "record `{id}` was returned twice");
    }
    ids
}

/// The sync handler, telling the test when a run has ended and how.
struct Told {
    inner: SyncHandler,
    ended: Arc<Notify>,
    outcome: Arc<std::sync::Mutex<Option<JobOutcome>>>,
}

#[async_trait::async_trait]
impl JobHandler for Told {
    async fn run(&self, job: &Job) -> JobOutcome {
        let outcome = self.inner.run(job).await;
        *self.outcome.lock().expect("never poisoned") = Some(outcome.clone());
        self.ended.notify_one();
        outcome
    }
}

/// Runs a worker with `handler` until one sync run has ended; the worker's report and how the
/// run ended.
pub async fn run_handler_once(app: &TestApp, handler: SyncHandler) -> (WorkerReport, JobOutcome) {
    let ended = Arc::new(Notify::new());
    let outcome = Arc::new(std::sync::Mutex::new(None));
    let handler = Told {
        inner: handler,
        ended: Arc::clone(&ended),
        outcome: Arc::clone(&outcome),
    };
    let report = Worker::new(
        Arc::clone(&app.demo.store),
        WorkerSettings {
            holder: "test-worker".to_owned(),
            concurrency: 1,
            lease: Duration::from_secs(120),
            idle_poll: Duration::from_millis(20),
        },
    )
    .handle(SYNC_JOB_KIND, Arc::new(handler))
    .run(
        async move { ended.notified().await },
        Duration::from_secs(120),
    )
    .await;
    let outcome = outcome
        .lock()
        .expect("never poisoned")
        .take()
        .expect("a run ended");
    (report, outcome)
}
