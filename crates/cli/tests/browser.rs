//! Browser end-to-end tests of the hosted Connect page: the demo (API and simulators) runs
//! in-process on loopback, a tiny "product" server on loopback serves the page end users come
//! back to (and a popup opener), and `e2e/connect.mjs` drives Debian's Chromium through
//! playwright-core: the Connect link, the branding, "Sign in with …", the provider's
//! authorization page and the way back, by redirect and as a popup. A second test signs in
//! against a third-party OAuth server (`e2e/mock-oauth.mjs`, oauth2-mock-server) instead of our
//! simulators.
//!
//! Needs `/usr/bin/chromium` (or `CROSSWALK_CHROMIUM`), `node` and `e2e/node_modules`; when one
//! is missing the tests fail naming the install command (`.ci/run` installs them). Set
//! `CROSSWALK_E2E_ARTIFACTS` to a folder to keep the Connect page's screenshot.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use cli::demo::{self, Demo, DemoArgs, Options};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

/// The longest one browser run may take before the test gives up on it.
const BROWSER_RUN_LIMIT: Duration = Duration::from_secs(120);
const BRAND: &str = "Acme Sync";
const COLOR: &str = "#0a7cff";
/// `COLOR` as the browser computes it.
const COLOR_RGB: &str = "rgb(10, 124, 255)";

const INSTALL_HINT: &str = "install the browser test's tools with `apt-get update && apt-get install -y chromium` and `npm ci --prefix e2e` (bash .ci/run does both)";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chromium_path() -> PathBuf {
    std::env::var_os("CROSSWALK_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Fails (never skips) when a tool the browser tests need is missing.
fn require_tools() {
    let chromium = chromium_path();
    assert!(
        chromium.is_file(),
        "`{}` is missing: {INSTALL_HINT}",
        chromium.display()
    );
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|out| out.status.success()),
        "`node` does not run ({node:?}): install Node.js 20.19 or newer, then {INSTALL_HINT}"
    );
    for package in ["playwright-core", "oauth2-mock-server"] {
        let path = repo_root().join("e2e/node_modules").join(package);
        assert!(
            path.join("package.json").is_file(),
            "`{}` is missing: {INSTALL_HINT}",
            path.display()
        );
    }
}

/// The demo on port 0 in a fresh folder, with a client for its API.
struct App {
    demo: Demo,
    base: String,
    client: reqwest::Client,
    _data_dir: tempfile::TempDir,
}

impl App {
    async fn start(connector_overrides: Value) -> App {
        let data_dir = tempfile::tempdir().expect("a temp dir");
        let args = DemoArgs {
            listen: "127.0.0.1:0".parse().expect("a literal address"),
            data_dir: data_dir.path().to_path_buf(),
            api_key: None,
        };
        // Every simulator of the registry, small seeds and limits lifted, as in the API tests.
        let options = Options {
            connector_overrides,
            ..Options::tests()
        };
        let demo = demo::start_with(&args, options)
            .await
            .expect("the demo starts");
        App {
            base: format!("http://{}", demo.api_addr),
            demo,
            client: reqwest::Client::new(),
            _data_dir: data_dir,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.demo.api_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// Branding, the redirect allow-list and an OAuth app for `provider`.
    async fn configure(&self, product: &Product, provider: &str, client: (&str, &str)) {
        let (status, body) = self
            .call(
                Method::PUT,
                "/environment/branding",
                Some(json!({
                    "display_name": BRAND,
                    "primary_color": COLOR,
                    "logo_url": product.url("/logo.svg"),
                    "allowed_redirect_urls": [product.done_url()],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = self
            .call(
                Method::PUT,
                &format!("/environment/oauth-apps/{provider}"),
                Some(json!({"client_id": client.0, "client_secret": client.1, "redirect_uris": [product.done_url()]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// A Connect link for `provider` that comes back to the product's page.
    async fn session(&self, product: &Product, provider: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/connect/sessions",
                Some(json!({"end_user_id": "user-42", "redirect_url": product.done_url(), "provider": provider})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["url"].as_str().expect("a url").to_owned()
    }

    async fn assert_lists_three_contacts(&self, connection: &str) {
        let (status, body) = self
            .get(&format!(
                "/unified/crm/contacts?connection_id={connection}&page_size=3"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["results"].as_array().expect("results").len(),
            3,
            "{body}"
        );
    }
}

const LOGO_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#0a7cff"/><path d="M9 16l5 5 9-10" stroke="#fff" stroke-width="3" fill="none"/></svg>"##;

const OPENER_HTML: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Sync settings</title></head>
<body><h1>Integrations</h1><button id="connect" type="button">Connect</button>
<script>
const link = new URLSearchParams(location.search).get('connect');
document.getElementById('connect').addEventListener('click', () => {
  window.open(link, 'crosswalk-connect', 'popup,width=520,height=720');
});
window.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'crosswalk.connected') {
    window.crosswalkResult = { origin: event.origin, data: event.data };
  }
});
</script></body></html>"#;

type Returns = Arc<Mutex<Vec<String>>>;

/// The product's page end users come back to: records the query it was called with.
async fn record_return(
    State(returns): State<Returns>,
    RawQuery(query): RawQuery,
) -> Html<&'static str> {
    returns
        .lock()
        .expect("the lock is not poisoned")
        .push(query.unwrap_or_default());
    Html("<!doctype html><title>Connected</title><p>Back in Acme Sync.</p>")
}

async fn logo() -> impl IntoResponse {
    ([("content-type", "image/svg+xml")], LOGO_SVG)
}

/// The customer's product: the page end users are sent back to (recording each query it is
/// called with), a popup opener page and a logo.
struct Product {
    base: String,
    returns: Returns,
    task: tokio::task::JoinHandle<()>,
}

impl Product {
    async fn start() -> Product {
        let returns = Arc::new(Mutex::new(Vec::new()));
        let router = axum::Router::new()
            .route("/integrations/done", get(record_return))
            .route("/opener", get(|| async { Html(OPENER_HTML) }))
            .route("/logo.svg", get(logo))
            .with_state(Arc::clone(&returns));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("the product page serves");
        });
        Product {
            base: format!("http://{addr}"),
            returns,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn done_url(&self) -> String {
        self.url("/integrations/done")
    }

    fn returns(&self) -> Vec<String> {
        self.returns
            .lock()
            .expect("the lock is not poisoned")
            .clone()
    }
}

impl Drop for Product {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `node e2e/<script> <args>` and returns the JSON object it prints last.
async fn run_node(script: &str, args: &[&str]) -> Value {
    let mut command = tokio::process::Command::new("node");
    command
        .arg(repo_root().join("e2e").join(script))
        .args(args)
        .env("CROSSWALK_CHROMIUM", chromium_path())
        .kill_on_drop(true);
    let output = tokio::time::timeout(BROWSER_RUN_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("`{script}` did not finish within {BROWSER_RUN_LIMIT:?}"))
        .expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`node e2e/{script}` failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|error| panic!("`{script}` printed no JSON ({error}): {stdout}"))
}

/// The query pairs of a URL.
fn query_of(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url)
        .unwrap_or_else(|error| panic!("`{url}` is a URL: {error}"))
        .query_pairs()
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

fn param(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| panic!("no `{name}` in {pairs:?}"))
}

/// The branding the page showed, as `connect.mjs` read it.
fn assert_branded(result: &Value, provider: &str) {
    let branding = &result["branding"];
    assert_eq!(branding["brand_text"], BRAND, "{result}");
    assert_eq!(branding["brand_color"], COLOR_RGB, "{result}");
    assert_eq!(branding["button_background"], COLOR_RGB, "{result}");
    assert_eq!(branding["logo_loaded"], true, "{result}");
    assert_eq!(branding["controls_inside_card"], true, "{result}");
    assert_eq!(branding["providers"], json!([provider]), "{result}");
}

/// Signs in through the Connect page in redirect mode; returns the new connection id.
async fn sign_in_by_redirect(
    app: &App,
    product: &Product,
    provider: &str,
    label: &str,
    screenshot: Option<&Path>,
) -> String {
    let link = app.session(product, provider).await;
    let done = product.done_url();
    let mut args = vec![link.as_str(), done.as_str(), "--label", label];
    let screenshot_arg = screenshot.map(|path| path.display().to_string());
    if let Some(path) = &screenshot_arg {
        args.extend(["--screenshot", path.as_str()]);
    }
    let result = run_node("connect.mjs", &args).await;
    assert_eq!(result["mode"], "redirect", "{result}");
    assert_branded(&result, provider);
    let url = result["url"].as_str().expect("the final URL");
    assert!(url.starts_with(&done), "{provider}: landed on {url}");
    let pairs = query_of(url);
    assert_eq!(param(&pairs, "provider"), provider);
    assert_eq!(param(&pairs, "status"), "connected");
    let connection = param(&pairs, "connection_id");
    assert!(
        product
            .returns()
            .iter()
            .any(|query| query.contains(&format!("connection_id={connection}"))),
        "the product page was called with the connection: {:?}",
        product.returns()
    );
    connection
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("`{}`: {error}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "`{}` is a PNG",
        path.display()
    );
    assert!(
        bytes.len() > 1_000,
        "the screenshot is not empty ({} bytes)",
        bytes.len()
    );
    if let Some(folder) = std::env::var_os("CROSSWALK_E2E_ARTIFACTS") {
        let folder = PathBuf::from(folder);
        std::fs::create_dir_all(&folder).expect("the artifacts folder");
        std::fs::copy(path, folder.join("connect-page.png")).expect("the screenshot is kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_page_in_chromium_signs_in_to_hubspot_and_salesforce_by_redirect_and_popup() {
    require_tools();
    let app = App::start(Value::Null).await;
    let product = Product::start().await;
    let shots = tempfile::tempdir().expect("a temp dir");
    let screenshot = shots.path().join("connect-hubspot.png");

    for (provider, label, client) in [
        (
            "hubspot",
            "HubSpot",
            ("hubspot-sim-client", "hubspot-sim-secret"),
        ),
        (
            "salesforce",
            "Salesforce",
            ("salesforce-sim-client", "salesforce-sim-secret"),
        ),
    ] {
        app.configure(&product, provider, client).await;
        let shot = (provider == "hubspot").then_some(screenshot.as_path());
        let connection = sign_in_by_redirect(&app, &product, provider, label, shot).await;
        app.assert_lists_three_contacts(&connection).await;
        let (_, view) = app.get(&format!("/connections/{connection}")).await;
        assert_eq!(view["provider"], provider, "{view}");
        assert_eq!(view["account"]["end_user_id"], "user-42", "{view}");
    }
    assert_png(&screenshot);

    // Popup mode: the product's page opens the link with window.open and hears back by message.
    let returns_before = product.returns().len();
    let link = app.session(&product, "hubspot").await;
    let mut opener = reqwest::Url::parse(&product.url("/opener")).expect("a URL");
    opener.query_pairs_mut().append_pair("connect", &link);
    let done = product.done_url();
    let result = run_node(
        "connect.mjs",
        &[
            &link,
            &done,
            "--label",
            "HubSpot",
            "--opener",
            opener.as_str(),
        ],
    )
    .await;
    assert_eq!(result["mode"], "popup", "{result}");
    assert_branded(&result, "hubspot");
    let message = &result["message"];
    assert_eq!(message["type"], "crosswalk.connected", "{result}");
    assert_eq!(message["provider"], "hubspot", "{result}");
    assert_eq!(
        result["origin"], app.base,
        "sent by the Connect page: {result}"
    );
    assert_eq!(result["popup_closed"], true, "{result}");
    assert_eq!(
        product.returns().len(),
        returns_before,
        "a popup posts to its opener instead of redirecting"
    );
    let connection = message["connection_id"].as_str().expect("a connection id");
    app.assert_lists_three_contacts(connection).await;
}

/// `e2e/mock-oauth.mjs` running, with its issuer URL.
struct MockOAuth {
    issuer: String,
    child: tokio::process::Child,
}

impl MockOAuth {
    async fn start() -> MockOAuth {
        let mut child = tokio::process::Command::new("node")
            .arg(repo_root().join("e2e/mock-oauth.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("a piped stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(BROWSER_RUN_LIMIT, lines.next_line())
            .await
            .expect("the mock OAuth server starts in time")
            .expect("its stdout reads")
            .expect("the mock OAuth server prints its issuer");
        let started: Value = serde_json::from_str(&first).expect("a JSON line");
        let issuer = started["issuer"].as_str().expect("an issuer").to_owned();
        assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");
        MockOAuth { issuer, child }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_against_a_third_party_server_creates_a_connection_holding_its_token() {
    require_tools();
    let mut mock = MockOAuth::start().await;
    let issuer = mock.issuer.clone();
    // HubSpot's sign-in and its API both go to the mock server: the API call below shows
    // which token the connection holds without our API ever showing it.
    let app = App::start(json!({"hubspot": {
        "http": {"base_url": issuer, "allowed_hosts": [issuer]},
        "auth": {"schemes": {"oauth": {
            "authorize_url": format!("{issuer}/authorize"),
            "token_url": format!("{issuer}/token"),
        }}},
    }}))
    .await;
    let product = Product::start().await;
    app.configure(&product, "hubspot", ("mock-client", "mock-secret"))
        .await;

    let connection = sign_in_by_redirect(&app, &product, "hubspot", "HubSpot", None).await;

    let (status, view) = app.get(&format!("/connections/{connection}")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["provider"], "hubspot", "{view}");
    assert_eq!(view["status"], "active", "{view}");
    assert!(
        !view.to_string().contains("token\""),
        "no token in the view: {view}"
    );
    let (_, events) = app
        .get(&format!("/events?connection_id={connection}"))
        .await;
    assert_eq!(
        events["results"][0]["kind"], "connection.created",
        "{events}"
    );

    // The connection calls the provider with the access token the mock server issued for the
    // code it handed out, to our client id and callback.
    let (status, userinfo) = app
        .get(&format!("/proxy/userinfo?connection_id={connection}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{userinfo}");
    assert_eq!(userinfo["issued_here"], true, "{userinfo}");
    assert_eq!(userinfo["client_id"], "mock-client", "{userinfo}");
    assert_eq!(userinfo["grant_type"], "authorization_code", "{userinfo}");
    assert_eq!(
        userinfo["redirect_uri"],
        format!("{}/connect/oauth/callback", app.base),
        "{userinfo}"
    );

    drop(mock.child.stdin.take());
    let exit = tokio::time::timeout(BROWSER_RUN_LIMIT, mock.child.wait())
        .await
        .expect("the mock OAuth server stops when its stdin closes")
        .expect("its exit status");
    assert!(exit.success(), "{exit}");
}
