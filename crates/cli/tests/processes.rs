//! Several Crosswalk processes on one PostgreSQL database: 200 concurrent requests, spread over
//! three `crosswalk serve` children, on a connection whose access token is due for refresh cause
//! exactly one refresh at the provider.
//!
//! The test makes a fresh database on the server named by `CROSSWALK_TEST_POSTGRES_URL` (CI uses
//! `postgres://postgres@127.0.0.1:5432/test`; unset, the test fails rather than guess), runs `crosswalk migrate` once, starts three
//! `crosswalk serve` children on port 0 (each reports its bound address on stderr), connects a
//! HubSpot account through the real OAuth code flow against the in-process simulator, and makes
//! the token due. Guards kill the children and drop the database at the end, also when the test
//! fails.

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
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let lines = Arc::clone(&log);
        // Drains stderr for the child's whole life (a full pipe would block it), keeping the
        // last lines for failure messages and handing over the first reported address.
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stderr).lines();
            let mut addr_tx = Some(addr_tx);
            while let Ok(Some(line)) = reader.next_line().await {
                if let Some(addr) = serving_addr(&line)
                    && let Some(tx) = addr_tx.take()
                {
                    let _ = tx.send(addr);
                }
                let mut kept = lines.lock().expect("log lock");
                if kept.len() == LOG_LINES {
                    kept.pop_front();
                }
                kept.push_back(strip_ansi(&line));
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
