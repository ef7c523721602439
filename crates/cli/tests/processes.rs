//! Several Crosswalk processes on one PostgreSQL database:
//! - 200 concurrent requests, spread over three `crosswalk serve` children, on a connection
//!   whose access token is due for refresh cause exactly one refresh at the provider;
//! - a `crosswalk work` child killed with SIGKILL ten times at random points of a 50,000-record
//!   sync loses nothing and repeats nothing in the change feed;
//! - three `crosswalk work` children share 100 connections' syncs: every sync done, none
//!   claimed twice, no 429 from the vendor.
//!
//! Each test makes a fresh database on the server named by `CROSSWALK_TEST_POSTGRES_URL` (CI
//! uses `postgres://postgres@127.0.0.1:5432/test`; unset, the test fails rather than guess),
//! runs `crosswalk migrate` once and starts its children on port 0 (a `serve` child reports its
//! bound address on stderr). Guards kill the children and drop the database at the end, also
//! when the test fails.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use simulators::hubspot::{self, HubSpotConfig};
use sqlx::Connection as _;
use store::{ConnectionId, ConnectionUpdate, OAuthApp, Store};
use tokio::io::AsyncBufReadExt as _;

const URL_VARIABLE: &str = "CROSSWALK_TEST_POSTGRES_URL";
const REDIS_VARIABLE: &str = "CROSSWALK_TEST_REDIS_URL";
const REDIRECT: &str = "http://127.0.0.1:9/integrations/done";
const PROCESSES: usize = 3;
const REQUESTS: usize = 200;
/// How long a child may take to report its address (a debug binary connecting and migrating).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Readiness polls of `GET /health`, and the pause between two of them.
const HEALTH_ATTEMPTS: u32 = 200;
const HEALTH_POLL: Duration = Duration::from_millis(50);
/// Stderr lines kept per child for failure messages.
const LOG_LINES: usize = 200;

/// The server to make the test database on.
///
/// # Panics
///
/// When the variable is unset or empty: a test that quietly used some default server, or
/// skipped, would pass without showing anything.
fn admin_url() -> String {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL_VARIABLE} is not set: this test needs a PostgreSQL server, \
             e.g. {URL_VARIABLE}=postgres://postgres@127.0.0.1:5432/test"
        ),
    }
}

/// The Redis server the worker processes share their rate-limit buckets through.
///
/// # Panics
///
/// When the variable is unset or empty, as [`admin_url`].
fn redis_url() -> String {
    match std::env::var(REDIS_VARIABLE) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{REDIS_VARIABLE} is not set: this test needs a Redis server, \
             e.g. {REDIS_VARIABLE}=redis://127.0.0.1:6379"
        ),
    }
}

/// `url` with its database replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// A database made for one run; dropped (with any session still on it) when the guard is.
struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    async fn create(admin_url: &str) -> TestDatabase {
        let name = format!("cw_proc_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|error| panic!("connecting to {URL_VARIABLE} ({admin_url}): {error}"));
        // The name is generated above from hex digits, so it needs no quoting.
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.expect("close the admin connection");
        TestDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime (or while unwinding): do the async work on a
        // thread of its own, and never panic here.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|error| error.to_string())?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map_err(|error| error.to_string())?;
                admin.close().await.map_err(|error| error.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: dropping test database {}: {error}", self.name),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
        }
    }
}

/// A `crosswalk` command that reads only the settings file: inherited `CROSSWALK_*` variables
/// (the test's own among them) are removed, and the log filter is set so `serve` reports its
/// address.
fn crosswalk(config: &Path, subcommand: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_crosswalk"));
    command.arg("--config").arg(config).arg(subcommand);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CROSSWALK_") {
            command.env_remove(name);
        }
    }
    command
        .env("CROSSWALK_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

/// Removes terminal colour sequences (`ESC [ … letter`) from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The address of a `crosswalk serving addr=…` log line.
fn serving_addr(line: &str) -> Option<SocketAddr> {
    let line = strip_ansi(line);
    let rest = &line[line.find("crosswalk serving")?..];
    let value = &rest[rest.find("addr=")? + "addr=".len()..];
    value.split_whitespace().next()?.parse().ok()
}

/// Drains a child's piped stderr for its whole life (a full pipe would block it), showing each
/// line to `watch` and keeping the last lines for failure messages.
fn drain_stderr(
    child: &mut tokio::process::Child,
    mut watch: impl FnMut(&str) + Send + 'static,
) -> Arc<Mutex<VecDeque<String>>> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let log = Arc::new(Mutex::new(VecDeque::new()));
    let lines = Arc::clone(&log);
    tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            watch(&line);
            let mut kept = lines.lock().expect("log lock");
            if kept.len() == LOG_LINES {
                kept.pop_front();
            }
            kept.push_back(strip_ansi(&line));
        }
    });
    log
}

/// A running `crosswalk serve` child, killed when dropped.
struct ServeProcess {
    child: tokio::process::Child,
    addr: SocketAddr,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl ServeProcess {
    async fn start(config: &Path) -> ServeProcess {
        let mut child = crosswalk(config, "serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn crosswalk serve");
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let mut addr_tx = Some(addr_tx);
        // The first reported address is handed over.
        let log = drain_stderr(&mut child, move |line| {
            if let Some(addr) = serving_addr(line)
                && let Some(tx) = addr_tx.take()
            {
                let _ = tx.send(addr);
            }
        });
        let addr = match tokio::time::timeout(STARTUP_TIMEOUT, addr_rx).await {
            Ok(Ok(addr)) => addr,
            outcome => {
                let status = child.try_wait().ok().flatten();
                panic!(
                    "crosswalk serve did not report its address ({}; exit status {status:?}):\n{}",
                    if outcome.is_err() {
                        "timed out"
                    } else {
                        "stderr closed"
                    },
                    log.lock()
                        .expect("log lock")
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        };
        ServeProcess { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn recent_log(&self) -> String {
        let kept = self.log.lock().expect("log lock");
        kept.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Polls `GET /health` until it answers `ok`, a bounded number of times.
    async fn wait_healthy(&self, client: &reqwest::Client) {
        for _ in 0..HEALTH_ATTEMPTS {
            let answer = client
                .get(self.url("/health"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(response) = answer
                && response.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(HEALTH_POLL).await;
        }
        panic!(
            "crosswalk serve on {} never became healthy:\n{}",
            self.addr,
            self.recent_log()
        );
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // kill_on_drop would do it too; killing here makes it happen before the database goes.
        let _ = self.child.start_kill();
    }
}

/// Writes the settings every process of the run shares.
fn write_settings(
    dir: &Path,
    database_url: &str,
    key: &str,
    simulator: &str,
) -> std::path::PathBuf {
    let quote = |text: &str| serde_json::to_string(text).expect("a string serializes");
    let settings = format!(
        r#"listen = "127.0.0.1:0"
data_dir = {data_dir}
database_url = {database_url}

[encryption]
current_key_id = "k1"
keys = {{ k1 = {key} }}

[connector_overrides.hubspot.http]
base_url = {base_url}
allowed_hosts = [{base_url}]

[connector_overrides.hubspot.auth.schemes.oauth]
authorize_url = {authorize_url}
token_url = {token_url}
"#,
        data_dir = quote(&dir.join("data").display().to_string()),
        database_url = quote(database_url),
        key = quote(key),
        base_url = quote(simulator),
        authorize_url = quote(&format!("{simulator}/oauth/authorize")),
        token_url = quote(&format!("{simulator}/oauth/v1/token")),
    );
    let path = dir.join("crosswalk.toml");
    std::fs::write(&path, settings).expect("write the settings file");
    path
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .expect("a redirect")
        .to_owned()
}

/// Connects a HubSpot account through `server`'s Connect flow and the simulator's consent
/// screen, following the redirects by hand; returns the new connection's id.
async fn connect_hubspot(server: &ServeProcess, api_key: &str) -> String {
    let api = reqwest::Client::new();
    let answer = api
        .put(server.url("/environment/branding"))
        .bearer_auth(api_key)
        .json(&json!({"display_name": "Acme Sync", "allowed_redirect_urls": [REDIRECT]}))
        .send()
        .await
        .expect("branding answers");
    assert_eq!(
        answer.status(),
        StatusCode::OK,
        "{}",
        answer.text().await.unwrap_or_default()
    );
    let answer = api
        .post(server.url("/connect/sessions"))
        .bearer_auth(api_key)
        .json(&json!({"end_user_id": "user-42", "redirect_url": REDIRECT, "provider": "hubspot"}))
        .send()
        .await
        .expect("sessions answer");
    assert_eq!(answer.status(), StatusCode::CREATED);
    let session: Value = answer.json().await.expect("a session");
    let link = session["url"].as_str().expect("a link");
    let token = link.split("token=").nth(1).expect("a link token");

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let page = browser.get(link).send().await.expect("the page answers");
    assert_eq!(page.status(), StatusCode::OK);
    let start = browser
        .get(server.url(&format!(
            "/connect/oauth/start?token={token}&provider=hubspot"
        )))
        .send()
        .await
        .expect("start answers");
    assert_eq!(
        start.status(),
        StatusCode::SEE_OTHER,
        "start redirects to the provider"
    );
    let approved = browser
        .get(location(&start))
        .send()
        .await
        .expect("the simulator answers");
    assert_eq!(
        approved.status(),
        StatusCode::FOUND,
        "the simulator approves"
    );
    let callback = location(&approved);
    assert!(
        callback.starts_with(&server.url("/connect/oauth/callback")),
        "{callback}"
    );
    let finished = browser
        .get(&callback)
        .send()
        .await
        .expect("the callback answers");
    assert_eq!(finished.status(), StatusCode::OK);
    let html = finished.text().await.expect("html");
    let at = html
        .find("connection_id=")
        .expect("the last page names the connection")
        + "connection_id=".len();
    html[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_over_three_processes_cause_one_refresh() {
    let started = Instant::now();
    // Guards drop in reverse order: the children die before their database goes.
    let database = TestDatabase::create(&admin_url()).await;
    let dir = tempfile::tempdir().expect("a temp dir");

    let (simulator, hubspot) = hubspot::spawn(
        HubSpotConfig {
            rate_limit_per_interval: 1_000_000,
            search_per_second: 1_000_000,
            daily_limit: None,
            ..HubSpotConfig::default()
        },
        "127.0.0.1:0".parse().expect("a literal address"),
    )
    .await
    .expect("the simulator starts");
    let key = secrets::generate_key();
    let config = write_settings(dir.path(), &database.url, &key, &simulator.base_url);

    let migrated = crosswalk(&config, "migrate")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("run crosswalk migrate");
    assert!(
        migrated.status.success(),
        "crosswalk migrate failed: {}",
        String::from_utf8_lossy(&migrated.stderr)
    );

    let mut servers = Vec::new();
    for _ in 0..PROCESSES {
        servers.push(ServeProcess::start(&config).await);
    }
    let client = reqwest::Client::new();
    for server in &servers {
        server.wait_healthy(&client).await;
    }
    let ready = started.elapsed();

    // Seed the environment, its API key and the HubSpot OAuth app straight into the database.
    let store = store_postgres::connect(&database.url)
        .await
        .expect("connect the store");
    let (environment, api_key) = seed_environment(&store).await;
    let keyring = secrets::Keyring::from_base64("k1", &[("k1", key.as_str())]).expect("a keyring");
    store
        .put_oauth_app(&OAuthApp {
            environment_id: environment.id.clone(),
            provider: "hubspot".to_owned(),
            client_id: "hubspot-sim-client".to_owned(),
            client_secret: keyring.seal(
                b"hubspot-sim-secret",
                &provider_http::credentials::oauth_app_aad(&environment.id, "hubspot"),
            ),
            redirect_uris: vec![REDIRECT.to_owned()],
            scopes: None,
            updated_at: Utc::now(),
        })
        .await
        .expect("the OAuth app");

    let connection = connect_hubspot(&servers[0], &api_key).await;
    assert_eq!(
        hubspot.refresh_requests(),
        0,
        "the code flow refreshes nothing"
    );
    let connection_id = ConnectionId::parse(&connection).expect("a connection id");
    store
        .update_connection(
            &environment.id,
            &connection_id,
            ConnectionUpdate {
                credentials_expires_at: Some(Some(Utc::now() + chrono::Duration::seconds(60))),
                ..ConnectionUpdate::default()
            },
        )
        .await
        .expect("make the token due");

    let burst = Instant::now();
    let requests = (0..REQUESTS).map(|n| {
        let url = servers[n % PROCESSES].url(&format!(
            "/unified/crm/contacts?connection_id={connection}&page_size=1"
        ));
        let (client, api_key) = (&client, &api_key);
        async move {
            let response = client
                .get(&url)
                .bearer_auth(api_key)
                .send()
                .await
                .unwrap_or_else(|error| panic!("request {n} to {url}: {error}"));
            let status = response.status();
            (n, status, response.text().await.unwrap_or_default())
        }
    });
    let answers = futures::future::join_all(requests).await;
    let burst = burst.elapsed();
    for (n, status, body) in &answers {
        assert_eq!(
            *status,
            StatusCode::OK,
            "request {n} (process {}): {body}\n{}",
            n % PROCESSES,
            servers[n % PROCESSES].recent_log()
        );
        let results: Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(
            results["results"].as_array().map(Vec::len),
            Some(1),
            "{body}"
        );
    }
    assert_eq!(
        hubspot.refresh_requests(),
        1,
        "exactly one refresh at the provider across {PROCESSES} processes"
    );
    let refreshed = store
        .get_connection_by_id(&connection_id)
        .await
        .expect("the connection");
    assert!(
        refreshed
            .credentials_expires_at
            .is_some_and(|at| at > Utc::now() + chrono::Duration::seconds(600)),
        "the refreshed token's expiry is stored: {:?}",
        refreshed.credentials_expires_at
    );

    store.close().await;
    drop(servers);
    eprintln!(
        "processes: {PROCESSES} ready in {ready:?}; {REQUESTS} requests in {burst:?}; whole test {:?}",
        started.elapsed()
    );
}

/// A running `crosswalk work` child, killed (SIGKILL) when dropped; its stderr is drained.
struct WorkProcess {
    child: tokio::process::Child,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl WorkProcess {
    fn start(config: &Path) -> WorkProcess {
        let mut child = crosswalk(config, "work")
            .env(
                "CROSSWALK_LOG",
                "debug,sqlx=warn,hyper=warn,h2=warn,reqwest=warn,hyper_util=warn",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn crosswalk work");
        let log = drain_stderr(&mut child, |_| {});
        WorkProcess { child, log }
    }

    fn recent_log(&self) -> String {
        let kept = self.log.lock().expect("log lock");
        kept.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Kills the child with SIGKILL (no grace, no hand-back) and waits for it to be gone.
    async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL the worker");
    }
}

/// Writes the settings of a run whose processes reach HubSpot's simulator with private-app
/// tokens: the vendor's base URL, Crosswalk's own pacing lifted (the simulator enforces the
/// vendor's limits itself where a test keeps them), short worker leases, and Redis when given.
fn write_worker_settings(
    dir: &Path,
    database_url: &str,
    key: &str,
    simulator: &str,
    redis_url: Option<&str>,
    paced: bool,
    lease_secs: u64,
) -> std::path::PathBuf {
    let quote = |text: &str| serde_json::to_string(text).expect("a string serializes");
    let unpaced = if paced {
        String::new()
    } else {
        r#"
[[connector_overrides.hubspot.rate_limits.buckets]]
id = "burst"
kind = "sliding_window"
capacity = 1000000
refill_every_ms = 1000
"#
        .to_owned()
    };
    let settings = format!(
        r#"listen = "127.0.0.1:0"
data_dir = {data_dir}
database_url = {database_url}
redis_url = {redis_url}

[worker]
lease_secs = {lease_secs}
concurrency = 4

[encryption]
current_key_id = "k1"
keys = {{ k1 = {key} }}

[connector_overrides.hubspot.http]
base_url = {base_url}
allowed_hosts = [{base_url}]
{unpaced}"#,
        data_dir = quote(&dir.join("data").display().to_string()),
        database_url = quote(database_url),
        redis_url = quote(redis_url.unwrap_or("")),
        key = quote(key),
        base_url = quote(simulator),
    );
    let path = dir.join("crosswalk.toml");
    std::fs::write(&path, settings).expect("write the settings file");
    path
}

/// Runs `crosswalk migrate` on the settings' database.
async fn migrate(config: &Path) {
    let migrated = crosswalk(config, "migrate")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("run crosswalk migrate");
    assert!(
        migrated.status.success(),
        "crosswalk migrate failed: {}",
        String::from_utf8_lossy(&migrated.stderr)
    );
}

/// An environment and its API key, straight into the database.
async fn seed_environment(store: &dyn Store) -> (store::Environment, String) {
    let environment = store
        .create_environment("processes")
        .await
        .expect("an environment");
    let api_key = store::generate_api_key();
    store
        .insert_api_key(
            &environment.id,
            &store::ApiKeyHash::of(&api_key),
            &store::api_key_prefix(&api_key),
        )
        .await
        .expect("an API key");
    (environment, api_key)
}

/// Connects one HubSpot portal per private-app token through a `crosswalk serve` child's API,
/// then stops that child (it runs a worker too, and the test wants only its own workers);
/// returns the connection ids in token order.
async fn connect_private_apps(
    config: &Path,
    api_key: &str,
    tokens: &[String],
) -> Vec<ConnectionId> {
    let mut server = ServeProcess::start(config).await;
    let client = reqwest::Client::new();
    server.wait_healthy(&client).await;
    let mut connections = Vec::with_capacity(tokens.len());
    for token in tokens {
        let answer = client
            .post(server.url("/connections"))
            .bearer_auth(api_key)
            .json(&json!({"provider": "hubspot", "auth_scheme": "private_app",
                          "fields": {"private_app_token": token}}))
            .send()
            .await
            .expect("POST /connections answers");
        let status = answer.status();
        let body: Value = answer.json().await.expect("a JSON body");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        connections.push(
            ConnectionId::parse(body["id"].as_str().expect("an id")).expect("a connection id"),
        );
    }
    server.child.kill().await.expect("stop the serve child");
    connections
}

/// Enqueues one run of a sync of `connection`'s contacts.
async fn enqueue_sync(
    store: &Arc<dyn Store>,
    environment: &store::EnvironmentId,
    connection: &ConnectionId,
) -> store::JobId {
    let (job, created) = store
        .enqueue_job(store::NewJob {
            environment_id: environment.clone(),
            connection_id: Some(connection.clone()),
            kind: server::SYNC_JOB_KIND.to_owned(),
            key: Some(format!("sync:{connection}:crm.contacts")),
            payload: serde_json::to_value(server::SyncJob {
                connection_id: connection.to_string(),
                object: "crm.contacts".to_owned(),
                every_secs: None,
                reconcile_every_secs: None,
            })
            .expect("a payload"),
            run_at: Utc::now(),
            max_attempts: 100,
        })
        .await
        .expect("enqueue the sync");
    assert!(created);
    job.id
}

/// The records the store holds for `connection`'s contacts, and each one's changes in feed
/// order.
async fn synced(
    store: &Arc<dyn Store>,
    environment: &store::EnvironmentId,
    connection: &ConnectionId,
) -> (
    std::collections::BTreeSet<String>,
    std::collections::BTreeMap<String, Vec<store::ChangeKind>>,
) {
    let records = store
        .list_synced_records(
            environment,
            connection,
            "crm.contacts",
            None,
            false,
            1_000_000,
        )
        .await
        .expect("the synced records")
        .into_iter()
        .map(|record| record.remote_id)
        .collect();
    let mut changes: std::collections::BTreeMap<String, Vec<store::ChangeKind>> =
        std::collections::BTreeMap::new();
    let mut after = 0;
    loop {
        let page = store
            .list_changes(environment, after, Some(connection), 5_000)
            .await
            .expect("the change feed");
        let Some(last) = page.last() else { break };
        after = last.seq;
        for change in page {
            changes
                .entry(change.remote_id)
                .or_default()
                .push(change.kind);
        }
    }
    (records, changes)
}

/// The pages a sync has applied so far.
async fn pages_applied(
    store: &Arc<dyn Store>,
    environment: &store::EnvironmentId,
    connection: &ConnectionId,
) -> u64 {
    store
        .get_sync_progress(environment, connection, "crm.contacts")
        .await
        .expect("the sync progress")
        .map_or(0, |progress| progress.pages)
}

/// Polls `done` every 20 ms until it holds, for at most `limit`; whether it held.
async fn wait_until<F, Fut>(limit: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !done().await {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

const KILLED_RECORDS: usize = 50_000;
const KILLS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_whose_worker_is_killed_ten_times_loses_and_repeats_nothing() {
    use rand::{Rng, SeedableRng};
    let started = Instant::now();
    let database = TestDatabase::create(&admin_url()).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (simulator, hubspot) = hubspot::spawn(
        HubSpotConfig {
            contacts: KILLED_RECORDS,
            companies: 500,
            deals: 100,
            notes: 10,
            tasks: 10,
            calls: 5,
            meetings: 5,
            emails: 5,
            leads: 5,
            rate_limit_per_interval: 1_000_000,
            search_per_second: 1_000_000,
            daily_limit: None,
            ..HubSpotConfig::default()
        },
        "127.0.0.1:0".parse().expect("a literal address"),
    )
    .await
    .expect("the simulator starts");
    let key = secrets::generate_key();
    let config = write_worker_settings(
        dir.path(),
        &database.url,
        &key,
        &simulator.base_url,
        None,
        false,
        // A killed worker's claim lapses after 2 s, so the next one takes the job over soon.
        2,
    );
    migrate(&config).await;
    let store: Arc<dyn Store> = Arc::new(
        store_postgres::connect(&database.url)
            .await
            .expect("connect the store"),
    );
    let (environment, api_key) = seed_environment(store.as_ref()).await;
    let connection = connect_private_apps(&config, &api_key, &["hubspot-sim-token".to_owned()])
        .await
        .remove(0);
    let job = enqueue_sync(&store, &environment.id, &connection).await;

    // Each worker runs the sync for a random number of pages past the last one's, then dies.
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    for kill in 0..KILLS {
        let worker = WorkProcess::start(&config);
        let target =
            pages_applied(&store, &environment.id, &connection).await + rng.gen_range(1..=40);
        let progressed = wait_until(Duration::from_secs(180), || async {
            pages_applied(&store, &environment.id, &connection).await >= target
        })
        .await;
        assert!(
            progressed,
            "kill {kill}: the worker applied no page up to {target} in 3 minutes\n{}",
            worker.recent_log()
        );
        let job = store.get_job(&environment.id, &job).await.expect("the job");
        assert!(
            job.status.is_live(),
            "kill {kill}: the sync must still be running when killed: {job:?}\n{}",
            worker.recent_log()
        );
        worker.kill().await;
    }
    // The last worker, left alone, finishes it.
    let worker = WorkProcess::start(&config);
    let finished = wait_until(Duration::from_secs(600), || async {
        !store
            .get_job(&environment.id, &job)
            .await
            .expect("the job")
            .status
            .is_live()
    })
    .await;
    assert!(finished, "the sync did not finish\n{}", worker.recent_log());
    let finished = store.get_job(&environment.id, &job).await.expect("the job");
    assert_eq!(
        finished.status,
        store::JobStatus::Done,
        "{finished:?}\n{}",
        worker.recent_log()
    );
    assert!(
        finished.fence > KILLS as u64,
        "each killed worker's claim was taken over: {finished:?}"
    );
    drop(worker);

    let vendor: std::collections::BTreeSet<String> = hubspot.ids("contacts").into_iter().collect();
    assert_eq!(vendor.len(), KILLED_RECORDS);
    let (records, changes) = synced(&store, &environment.id, &connection).await;
    assert_eq!(records, vendor, "nothing lost, nothing extra");
    assert_eq!(changes.len(), KILLED_RECORDS);
    let repeated: Vec<(&String, &Vec<store::ChangeKind>)> = changes
        .iter()
        .filter(|(_, kinds)| kinds.as_slice() != [store::ChangeKind::Created])
        .collect();
    assert!(
        repeated.is_empty(),
        "each record created once, nothing repeated: {} records, e.g. {:?}",
        repeated.len(),
        repeated.first()
    );
    eprintln!(
        "sync killed {KILLS} times: {KILLED_RECORDS} records in {:?}",
        started.elapsed()
    );
}

const SHARED_CONNECTIONS: usize = 100;
const SHARED_RECORDS: usize = 300;
const WORKERS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_a_hundred_syncs_and_run_none_twice() {
    let started = Instant::now();
    let database = TestDatabase::create(&admin_url()).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    // One portal per connection, each with the vendor's own limits per token.
    let tokens: Vec<String> = (0..SHARED_CONNECTIONS)
        .map(|n| format!("portal-{n}-token"))
        .collect();
    let (simulator, hubspot) = hubspot::spawn(
        HubSpotConfig {
            contacts: SHARED_RECORDS,
            companies: 20,
            deals: 10,
            notes: 5,
            tasks: 5,
            calls: 5,
            meetings: 5,
            emails: 5,
            leads: 5,
            daily_limit: None,
            portals: tokens
                .iter()
                .map(|token| hubspot::HubSpotPortal {
                    access_tokens: vec![token.clone()],
                    custom_properties: Vec::new(),
                })
                .collect(),
            ..HubSpotConfig::default()
        },
        "127.0.0.1:0".parse().expect("a literal address"),
    )
    .await
    .expect("the simulator starts");
    let key = secrets::generate_key();
    let redis = redis_url();
    let config = write_worker_settings(
        dir.path(),
        &database.url,
        &key,
        &simulator.base_url,
        Some(&redis),
        true,
        // The production default: a claim changes hands only when its worker died.
        60,
    );
    migrate(&config).await;
    let store: Arc<dyn Store> = Arc::new(
        store_postgres::connect(&database.url)
            .await
            .expect("connect the store"),
    );
    let (environment, api_key) = seed_environment(store.as_ref()).await;
    let connections = connect_private_apps(&config, &api_key, &tokens).await;
    let mut jobs = Vec::with_capacity(SHARED_CONNECTIONS);
    for connection in &connections {
        jobs.push(enqueue_sync(&store, &environment.id, connection).await);
    }

    let workers: Vec<WorkProcess> = (0..WORKERS).map(|_| WorkProcess::start(&config)).collect();
    let finished = wait_until(Duration::from_secs(600), || async {
        let mut live = false;
        for job in &jobs {
            live |= store
                .get_job(&environment.id, job)
                .await
                .expect("a job")
                .status
                .is_live();
        }
        !live
    })
    .await;
    let logs: Vec<String> = workers.iter().map(WorkProcess::recent_log).collect();
    if !finished {
        let mut states = Vec::new();
        for job in &jobs {
            let job = store.get_job(&environment.id, job).await.expect("a job");
            states.push(format!(
                "{} {:?} attempts {} fence {} error {:?}",
                job.id, job.status, job.attempts, job.fence, job.last_error
            ));
        }
        panic!(
            "the syncs did not finish in time:\n{}\n{}",
            states.join("\n"),
            logs.join("\n")
        );
    }
    drop(workers);

    let mut holders = std::collections::BTreeSet::new();
    for (job, connection) in jobs.iter().zip(&connections) {
        let job = store.get_job(&environment.id, job).await.expect("a job");
        assert_eq!(
            job.status,
            store::JobStatus::Done,
            "{job:?}\n{}",
            logs.join("\n")
        );
        assert_eq!(
            job.fence, 1,
            "claimed once, so never run twice at once: {job:?}"
        );
        holders.extend(job.lease_holder.clone());
        let (records, changes) = synced(&store, &environment.id, connection).await;
        assert_eq!(records.len(), SHARED_RECORDS, "{connection}");
        assert!(
            changes
                .values()
                .all(|kinds| kinds.as_slice() == [store::ChangeKind::Created]),
            "{connection}: each record created once"
        );
    }
    assert_eq!(
        holders.len(),
        WORKERS,
        "every worker ran syncs: {holders:?}"
    );
    let throttled: u64 = hubspot
        .token_counts()
        .values()
        .map(|counts| counts.throttled)
        .sum();
    assert_eq!(throttled, 0, "no request the vendor answered 429");
    eprintln!(
        "{WORKERS} workers, {SHARED_CONNECTIONS} syncs of {SHARED_RECORDS} records in {:?}",
        started.elapsed()
    );
}
