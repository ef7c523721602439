//! Schemathesis against the demo (issue 15): the served `/openapi.json` is the contract, and a
//! contract fuzzer nobody here wrote checks every operation against it with every check it has
//! (`--checks all`: no 5xx, documented status codes, content types and headers, responses that
//! match their schemas, rejected invalid input, accepted valid input, …), once per simulated CRM
//! of the registry, each run on one connection and on that connection's own document
//! (`GET /connections/{id}/openapi.json`: the unified operations, filters and write bodies the
//! connection takes), so that `positive_data_acceptance` holds the API to accepting everything
//! the document allows.
//!
//! What a document cannot state is in `contract/schemathesis_hooks.py`, each with its reason:
//! a `cursor` is valid only when the server issued it for the same list, and an
//! `Idempotency-Key` only with the request it first came with.
//!
//! This is the budgeted run of the test suite: a fixed seed and a few examples per operation in
//! the examples and fuzzing phases. The longer run is the same test with more examples and the
//! coverage and stateful phases too (README, "Test"):
//! `CROSSWALK_SCHEMATHESIS_EXAMPLES=100 cargo test -p cli --test schemathesis`.
//! `CROSSWALK_SCHEMATHESIS_VENDORS=hubspot,closecrm` runs the named providers only, and
//! `CROSSWALK_SCHEMATHESIS_OPERATIONS=REGEX` the operations whose path matches (for working on
//! one finding); the suite runs every CRM and every operation.
//! Schemathesis is pinned in `contract/schemathesis-requirements.txt` and installed by
//! `scripts/test-deps` into `.tools/schemathesis`; without it the test fails.

#[path = "api/helpers.rs"]
#[allow(dead_code, reason = "shared with the api tests, which use more of it")]
mod helpers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cli::demo::Options;

use crate::helpers::spawn_app_with;

/// Examples per operation and phase in the budgeted run.
const BUDGET_EXAMPLES: u32 = 2;
/// Failed authentications the run's address may make: `ignored_auth` sends unauthenticated
/// calls to every operation, far more than the default budget (20) that would otherwise turn
/// every later call of the run into `429 auth_throttled`.
const FAILED_AUTH_BURST: u32 = 1_000_000;
/// The longest one vendor's run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(1_800);

fn schemathesis() -> PathBuf {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/schemathesis/bin/schemathesis");
    assert!(
        path.is_file(),
        "`{}` is missing: install it with `./scripts/test-deps` (./scripts/test runs it)",
        path.display()
    );
    path
}

/// The folder of `schemathesis_hooks.py`.
fn hooks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contract")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_on_any_vendor() {
    let schemathesis = schemathesis();
    let examples = std::env::var_os("CROSSWALK_SCHEMATHESIS_EXAMPLES")
        .and_then(|value| value.to_str().and_then(|text| text.parse::<u32>().ok()))
        .unwrap_or(BUDGET_EXAMPLES);
    // The coverage phase (every boundary of every parameter) takes most of a run: the longer
    // run has it, the budgeted one samples by fuzzing.
    let phases = if examples > BUDGET_EXAMPLES {
        "examples,coverage,fuzzing,stateful"
    } else {
        "examples,fuzzing"
    };
    let app = spawn_app_with(Options {
        failed_auth_burst: Some(FAILED_AUTH_BURST),
        ..Options::tests()
    })
    .await;
    let mut failures = Vec::new();
    let chosen: Option<Vec<String>> =
        std::env::var("CROSSWALK_SCHEMATHESIS_VENDORS")
            .ok()
            .map(|names| {
                names
                    .split(',')
                    .map(|name| name.trim().to_owned())
                    .collect()
            });
    let operations = std::env::var("CROSSWALK_SCHEMATHESIS_OPERATIONS").ok();
    // A vendor's run is stopped (and fails) after this long; the longer run on a loaded
    // machine may need more (`CROSSWALK_SCHEMATHESIS_LIMIT_SECS`).
    let limit = std::env::var("CROSSWALK_SCHEMATHESIS_LIMIT_SECS")
        .ok()
        .and_then(|secs| secs.parse().ok())
        .map_or(RUN_LIMIT, Duration::from_secs);
    // The CRMs' connections (the HRIS connections are left to a later run of their own).
    for vendor in app.demo.vendors.iter().filter(|v| {
        v.wiring.suite.is_some()
            && chosen
                .as_ref()
                .is_none_or(|names| names.iter().any(|name| name == v.provider.as_str()))
    }) {
        let work = tempfile::tempdir().expect("a temp dir");
        // Every call names the vendor's connection in the query (a valid `X-Connection-Id`
        // header is made to name it too, by the hooks) and may wait for the connection's vendor
        // budget (10 s), so that the budget's refusals (429, tested in api/ratelimit_headers.rs)
        // do not stand in for the operations.
        // The proxy hands the vendor's own answer back: whether a vendor path and body are
        // valid is the vendor's to say (Zoho CRM answers 400 for a module it does not have,
        // another vendor 404), which no document of ours can state, so on the proxy's operations
        // `positive_data_acceptance` expects any status the vendor may give; every other check
        // applies as everywhere (no 5xx of ours, documented statuses and headers, …).
        // Likewise whether client credentials are right is the vendor's to say: a connection
        // whose well-formed credentials the vendor refuses answers 422 `credentials_refused`;
        // and an OAuth scheme needs the environment's OAuth app for the provider, which the
        // run's environment has only for some (409 `oauth_app_missing`, as documented).
        let config = format!(
            "[parameters]\n\"query.connection_id\" = \"{id}\"\n\"query.max_wait_ms\" = 10000\n\n[[operations]]\ninclude-path-regex = \"^/proxy/\"\nchecks.positive_data_acceptance.expected-statuses = [\"2XX\", \"3XX\", \"4XX\", \"5XX\"]\n\n[[operations]]\ninclude-operation-id = \"createConnection\"\nchecks.positive_data_acceptance.expected-statuses = [\"2XX\", \"409\", \"422\"]\n",
            id = vendor.connection_id
        );
        let config_file = work.path().join("schemathesis.toml");
        std::fs::write(&config_file, config).expect("config written");
        let (status, document) = app
            .get(&format!(
                "/connections/{}/openapi.json",
                vendor.connection_id
            ))
            .await;
        assert!(
            status.is_success(),
            "{}: {status} {document}",
            vendor.provider
        );
        let document_file = work.path().join("openapi.json");
        std::fs::write(&document_file, document.to_string()).expect("document written");
        // One existing record per object the writes may name (the hooks' references).
        let mut references = serde_json::Map::new();
        for object in ["contacts", "companies", "opportunities", "leads", "users"] {
            let (status, page) = app
                .get(&format!(
                    "/unified/crm/{object}?connection_id={}&page_size=1",
                    vendor.connection_id
                ))
                .await;
            assert!(
                status.is_success(),
                "{}: {object}: {status} {page}",
                vendor.provider
            );
            if let Some(id) = page["results"][0]["id"].as_str() {
                references.insert(object.to_owned(), serde_json::Value::from(id));
            }
        }
        // A pipeline and one of its stages, for `pipeline_id` and `stage_id`.
        let (status, page) = app
            .get(&format!(
                "/unified/crm/pipelines?connection_id={}&page_size=1",
                vendor.connection_id
            ))
            .await;
        assert!(
            status.is_success(),
            "{}: pipelines: {status} {page}",
            vendor.provider
        );
        let pipeline = &page["results"][0];
        for (name, value) in [
            ("pipelines", &pipeline["id"]),
            ("stages", &pipeline["stages"][0]["id"]),
        ] {
            if let Some(id) = value.as_str() {
                references.insert(name.to_owned(), serde_json::Value::from(id));
            }
        }
        let mut command = tokio::process::Command::new(&schemathesis);
        command
            .current_dir(work.path())
            .env(
                "CROSSWALK_ST_REFERENCES",
                serde_json::Value::Object(references).to_string(),
            )
            .env("CROSSWALK_ST_CONNECTION_ID", &vendor.connection_id)
            .env("PYTHONPATH", hooks_dir())
            .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
            .arg("--config-file")
            .arg(&config_file)
            .arg("run")
            .arg(&document_file)
            .args(["--url", &app.base])
            .args(["--checks", "all"])
            .args(["--phases", phases])
            .args(["--max-examples", &examples.to_string()])
            .args(["--seed", "15"])
            .args(["--workers", "1"])
            .args(["--no-color"])
            .arg("--header")
            .arg(format!("Authorization: Bearer {}", app.demo.api_key))
            // Keys and connections are the run's own credentials (revoking, rotating or
            // deleting them would end the run, not test the API), and the environment's limits
            // and overrides change every later call of the run.
            .args([
                "--exclude-path-regex",
                "^/environment/(api-keys|limits|overrides)|^/connections/\\{id\\}",
            ])
            .kill_on_drop(true);
        if let Some(regex) = &operations {
            command.args(["--include-path-regex", regex]);
        }
        let output = tokio::time::timeout(limit, command.output())
            .await
            .unwrap_or_else(|_| panic!("schemathesis on {} within {limit:?}", vendor.provider))
            .expect("schemathesis runs");
        // The run's figures (operations, test cases, failures, seconds), shown with
        // `--nocapture`: what the longer run's reports quote.
        let stdout = String::from_utf8_lossy(&output.stdout);
        if let Some(at) = stdout.find("SUMMARY") {
            println!("== {} ==\n{}", vendor.provider, &stdout[at..]);
        }
        if !output.status.success() {
            failures.push(format!(
                "== {} ==\n{}\n{}",
                vendor.provider,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
