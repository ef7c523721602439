//! The OpenAPI document as a contract, proved with tools nobody here wrote (issue 15): the
//! demo (API and every simulator of the registry) runs in-process on loopback, and its served
//! `/openapi.json` is checked by openapi-spec-validator and Redocly's linter, then turned into
//! a Python client (openapi-python-client) and a TypeScript client (@hey-api/openapi-ts,
//! compiled by typescript) that each list, page, create, update, get and delete a contact on
//! every vendor (`contract/*.py`, `contract/*.ts`). What the document states per connector
//! (`x-crosswalk-connectors` on list filters, `x-crosswalk-fields` and `x-crosswalk-required` on
//! writes) is checked against the connectors' files and against what the server refuses.
//!
//! The tools are pinned and installed by `scripts/test-deps` (Python's in `.tools/venv`,
//! npm's in `contract/node_modules`); when one is missing the tests fail naming the install
//! command, they never skip. Set `CROSSWALK_CONTRACT_ARTIFACTS` to a folder to keep the served
//! document and the generated clients.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cli::demo::{self, Demo, DemoArgs, Options};
use serde_json::Value;

/// The longest one tool run may take before the test gives up on it.
const TOOL_RUN_LIMIT: Duration = Duration::from_secs(300);
const INSTALL_HINT: &str =
    "install the contract tests' tools with `./scripts/test-deps` (./scripts/test runs it)";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// A tool of `.tools/venv/bin` or `contract/node_modules/.bin`; fails when it is missing.
fn tool(relative: &str) -> PathBuf {
    let path = repo_root().join(relative);
    assert!(
        path.is_file(),
        "`{}` is missing: {INSTALL_HINT}",
        path.display()
    );
    path
}

fn python_tool(name: &str) -> PathBuf {
    tool(&format!(".tools/venv/bin/{name}"))
}

fn node_tool(name: &str) -> PathBuf {
    tool(&format!("contract/node_modules/.bin/{name}"))
}

/// The demo on port 0 in a fresh folder, and a folder for the tools' files.
struct App {
    demo: Demo,
    base: String,
    work: tempfile::TempDir,
    _data_dir: tempfile::TempDir,
}

impl App {
    async fn start() -> App {
        let data_dir = tempfile::tempdir().expect("a temp dir");
        let args = DemoArgs {
            listen: "127.0.0.1:0".parse().expect("a literal address"),
            data_dir: data_dir.path().to_path_buf(),
            api_key: None,
        };
        let demo = demo::start_with(&args, Options::tests())
            .await
            .expect("the demo starts");
        App {
            base: format!("http://{}", demo.api_addr),
            demo,
            work: tempfile::tempdir().expect("a temp dir"),
            _data_dir: data_dir,
        }
    }

    /// Fetches `/openapi.json` as served, writes it to the work folder and returns its path
    /// and value.
    async fn served_document(&self) -> (PathBuf, Value) {
        let response = reqwest::get(format!("{}/openapi.json", self.base))
            .await
            .expect("the API answers");
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("a body");
        let document: Value = serde_json::from_str(&text).expect("JSON");
        let path = self.work.path().join("openapi.json");
        std::fs::write(&path, &text).expect("the document is written");
        keep_artifact(&path);
        (path, document)
    }

    /// `provider=connection_id` for every CRM vendor of the demo (the client scripts round-trip
    /// contacts).
    fn connections(&self) -> Vec<String> {
        self.demo
            .vendors
            .iter()
            .filter(|vendor| vendor.wiring.suite.is_some())
            .map(|vendor| format!("{}={}", vendor.provider, vendor.connection_id))
            .collect()
    }
}

/// Copies a file or folder into `CROSSWALK_CONTRACT_ARTIFACTS` when it is set.
fn keep_artifact(path: &Path) {
    let Some(folder) = std::env::var_os("CROSSWALK_CONTRACT_ARTIFACTS") else {
        return;
    };
    let folder = PathBuf::from(folder);
    std::fs::create_dir_all(&folder).expect("the artifacts folder");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(path)
        .arg(&folder)
        .status()
        .expect("cp runs");
    assert!(status.success(), "`{}` is kept", path.display());
}

/// Runs `program` with `args` in `dir`; fails with its output unless it exits 0. Returns its
/// standard output and error.
async fn run(program: &Path, args: &[&str], dir: &Path, envs: &[(&str, &str)]) -> String {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        // Redocly asks for no telemetry and no update check: the tests reach no network.
        .env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    for (name, value) in envs {
        command.env(name, value);
    }
    let output = tokio::time::timeout(TOOL_RUN_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "`{}` did not finish within {TOOL_RUN_LIMIT:?}",
                program.display()
            )
        })
        .unwrap_or_else(|error| panic!("`{}` starts: {error}", program.display()));
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "`{} {}` failed ({}):\n{text}",
        program.display(),
        args.join(" "),
        output.status
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_spec_validator_accepts_the_served_document() {
    let validator = python_tool("openapi-spec-validator");
    let app = App::start().await;
    let (path, _) = app.served_document().await;
    let output = run(
        &validator,
        &[path.to_str().expect("a UTF-8 path")],
        app.work.path(),
        &[],
    )
    .await;
    assert!(output.contains(": OK"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redocly_lint_finds_no_error_in_the_served_document() {
    let redocly = node_tool("redocly");
    let app = App::start().await;
    let (path, _) = app.served_document().await;
    // Redocly's recommended rules; `lint` exits non-zero on any error.
    let output = run(
        &redocly,
        &[
            "lint",
            path.to_str().expect("a UTF-8 path"),
            "--format=stylish",
        ],
        app.work.path(),
        &[],
    )
    .await;
    assert!(output.contains("openapi.json: validated in"), "{output}");
}

/// Checks the JSON line a client script printed: every vendor of the demo listed a page,
/// paged on, created, updated, fetched and deleted a contact.
fn assert_every_vendor_round_trips(app: &App, output: &str) {
    let last = output
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .unwrap_or_else(|| panic!("the client printed no JSON line: {output}"));
    let seen: Value = serde_json::from_str(last).expect("the client's JSON line");
    let crms: Vec<_> = app
        .demo
        .vendors
        .iter()
        .filter(|vendor| vendor.wiring.suite.is_some())
        .collect();
    assert_eq!(crms.len(), 6, "the demo's six CRMs");
    for vendor in crms {
        let result = &seen[&vendor.provider];
        assert_eq!(result["listed"], 2, "{}: {seen}", vendor.provider);
        assert!(
            result["paged"].as_u64().is_some_and(|n| n > 0),
            "{}: {seen}",
            vendor.provider
        );
        assert!(
            result["created"].as_str().is_some_and(|id| !id.is_empty()),
            "{}: {seen}",
            vendor.provider
        );
        assert_eq!(
            result["updated_first_name"], "Grace",
            "{}: {seen}",
            vendor.provider
        );
        assert_eq!(result["fetched_email"], true, "{}: {seen}", vendor.provider);
        assert_eq!(result["deleted"], 204, "{}: {seen}", vendor.provider);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_generated_by_openapi_python_client_works_on_every_vendor() {
    let generator = python_tool("openapi-python-client");
    let python = python_tool("python");
    let app = App::start().await;
    let (path, _) = app.served_document().await;
    // With `--meta none` the output folder is the package itself.
    let output_dir = app.work.path().join("crosswalk_client");
    // Its post-generation hooks run ruff, installed beside it.
    let path_var = format!(
        "{}:{}",
        python.parent().expect("the venv's bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let generated = run(
        &generator,
        &[
            "generate",
            "--path",
            path.to_str().expect("a UTF-8 path"),
            "--output-path",
            output_dir.to_str().expect("a UTF-8 path"),
            "--meta",
            "none",
        ],
        app.work.path(),
        &[("PATH", &path_var)],
    )
    .await;
    // A schema or operation it cannot read is dropped from the client with a warning: none may be.
    assert!(!generated.contains("Warning"), "{generated}");
    keep_artifact(&output_dir);
    let script = repo_root().join("contract/python_client.py");
    let mut args = vec![
        script.to_str().expect("a UTF-8 path").to_owned(),
        app.work.path().to_str().expect("a UTF-8 path").to_owned(),
        app.base.clone(),
        app.demo.api_key.clone(),
    ];
    args.extend(app.connections());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&python, &args, app.work.path(), &[]).await;
    assert_every_vendor_round_trips(&app, &output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_generated_by_hey_api_openapi_ts_works_on_every_vendor() {
    let generator = node_tool("openapi-ts");
    let compiler = node_tool("tsc");
    let app = App::start().await;
    let (path, _) = app.served_document().await;
    let work = app.work.path();
    run(
        &generator,
        &[
            "--input",
            path.to_str().expect("a UTF-8 path"),
            "--output",
            "generated",
        ],
        work,
        &[],
    )
    .await;
    keep_artifact(&work.join("generated"));
    std::fs::copy(
        repo_root().join("contract/ts_client.ts"),
        work.join("ts_client.ts"),
    )
    .expect("the script is copied");
    run(
        &compiler,
        &[
            "--strict",
            "--target",
            "es2022",
            "--module",
            "commonjs",
            "--moduleResolution",
            "node10",
            "--lib",
            "es2022,dom,dom.iterable",
            "--skipLibCheck",
            "--outDir",
            "out",
            "ts_client.ts",
        ],
        work,
        &[],
    )
    .await;
    let node = PathBuf::from("node");
    let mut args = vec![
        "out/ts_client.js".to_owned(),
        app.base.clone(),
        app.demo.api_key.clone(),
    ];
    args.extend(app.connections());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&node, &args, work, &[]).await;
    assert_every_vendor_round_trips(&app, &output);
}

/// The list filters state which connectors support them, from the connectors' own data, and a
/// connector left out of a filter's list refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_name_the_connectors_that_declare_them() {
    let app = App::start().await;
    let (_, document) = app.served_document().await;
    let connectors = &app.demo.state.connectors;
    let client = reqwest::Client::new();
    let mut n_checked = 0;
    let mut n_refused = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        // The collections: `/unified/{category}/{object}`, whose `get` lists.
        let Some(("", rest)) = path.split_once("/unified/") else {
            continue;
        };
        let Some((category, object)) = rest.split_once('/') else {
            continue;
        };
        if object.contains('/') || object == "fields" {
            continue;
        }
        let key = format!("{category}.{object}");
        let list = &item["get"];
        let serving: Vec<&str> = list["x-crosswalk-connectors"]
            .as_array()
            .expect("the list's connectors")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let filters = list["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter(|parameter| parameter.get("x-crosswalk-connectors").is_some());
        for filter in filters {
            let name = filter["name"].as_str().expect("a name");
            let stated: Vec<&str> = filter["x-crosswalk-connectors"]
                .as_array()
                .expect("connectors")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let declared: Vec<&str> = connectors
                .ids()
                .filter(|id| {
                    connectors.get(id).is_some_and(|connector| {
                        connector
                            .file()
                            .unified
                            .get(&key)
                            .and_then(|operations| operations.list.as_ref())
                            .is_some_and(|list| list.filters.contains_key(name))
                    })
                })
                .collect();
            assert_eq!(stated, declared, "{path}: {filter}");
            n_checked += 1;
            // A connector that serves the list without the filter refuses it, naming it.
            for vendor in &app.demo.vendors {
                let provider = vendor.provider.as_str();
                if stated.contains(&provider) || !serving.contains(&provider) {
                    continue;
                }
                let response = client
                    .get(format!("{}{path}", app.base))
                    .query(&[
                        ("connection_id", vendor.connection_id.as_str()),
                        (name, "x"),
                    ])
                    .bearer_auth(&app.demo.api_key)
                    .send()
                    .await
                    .expect("the API answers");
                assert_eq!(response.status(), 400, "{name} on {provider} {path}");
                let problem: Value = response.json().await.expect("problem+json");
                assert_eq!(problem["field"], name, "{problem}");
                n_refused += 1;
            }
        }
    }
    assert!(n_checked > 10, "{n_checked} filters checked");
    assert!(
        n_refused > 0,
        "no connector lacks a filter any more: nothing was refused"
    );
    // Every operation has an id, unique in the document.
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            if method == "parameters" {
                continue;
            }
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "{id} twice");
        }
    }
    assert_eq!(document["servers"][0]["url"], app.base);
}

/// Creates and updates state what each connector writes and requires, from the connectors'
/// files, and a create without a stated required field is refused naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_state_what_each_connector_carries_and_requires() {
    let app = App::start().await;
    let (_, document) = app.served_document().await;
    let connectors = &app.demo.state.connectors;
    let mut n_required = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let (kind, creating) = match method.as_str() {
                "post" if path.starts_with("/unified/") => (connector::Operation::Create, true),
                "patch" if path.starts_with("/unified/") => (connector::Operation::Update, false),
                _ => continue,
            };
            let object = path
                .trim_start_matches("/unified/")
                .trim_end_matches("/{id}")
                .replace('/', ".");
            let stated = operation["x-crosswalk-fields"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} states no fields"));
            for (id, fields) in stated {
                let connector = connectors.get(id).expect("a stated connector is loaded");
                if let Some(declared) = connector.write_fields(&object, kind) {
                    assert_eq!(fields, &serde_json::json!(declared), "{method} {path} {id}");
                }
                let required = connector.write_required(&object, kind);
                if creating {
                    let stated_required = &operation["x-crosswalk-required"][id];
                    if required.is_empty() {
                        assert!(stated_required.is_null(), "{method} {path} {id}");
                    } else {
                        assert_eq!(stated_required, &serde_json::json!(required), "{id}");
                    }
                }
            }
            if object != "crm.contacts" || !creating {
                continue;
            }
            // A contact without what a connector requires is refused before any vendor call.
            for vendor in &app.demo.vendors {
                let Some(first) = operation["x-crosswalk-required"][&vendor.provider][0].as_str()
                else {
                    continue;
                };
                let body = if first == "first_name" {
                    serde_json::json!({"title": "Contract"})
                } else {
                    serde_json::json!({"first_name": "Contract"})
                };
                let response = reqwest::Client::new()
                    .post(format!("{}{path}", app.base))
                    .query(&[("connection_id", vendor.connection_id.as_str())])
                    .bearer_auth(&app.demo.api_key)
                    .json(&body)
                    .send()
                    .await
                    .expect("the API answers");
                assert_eq!(response.status(), 400, "{}", vendor.provider);
                let problem: Value = response.json().await.expect("problem+json");
                assert_eq!(problem["field"], format!("body.{first}"), "{problem}");
                n_required += 1;
            }
        }
    }
    assert!(
        n_required > 0,
        "no connector requires a contact field any more"
    );
}
