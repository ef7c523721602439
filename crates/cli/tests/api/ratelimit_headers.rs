//! The RateLimit headers (issue 15), read the way a customer's client reads them: with
//! parsers nobody here wrote. `retryheader` parses `RateLimit-Policy` and `RateLimit` as
//! draft-ietf-httpapi-ratelimit-headers-11 defines them, `http_sf` checks both as RFC 9651
//! structured-field lists; both are PyPI packages pinned in `contract/requirements.txt` and
//! installed by `scripts/test-deps` into `.tools/venv` (these tests fail without them).
//!
//! What they must say: each vendor's policy as the vendor states it (quota and window, never
//! the refill rate), a remaining count within that quota, on every answer of a connection's
//! call: reads, writes, `/fields`, vendor errors and Crosswalk's own refusals.

use std::path::PathBuf;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Parses both fields with the third-party parsers; prints `{"policies": [...], "limits": [...]}`.
const PARSE: &str = r#"
import json, sys
import http_sf
from retryheader import parse_ratelimit, parse_ratelimit_policy

fields = json.load(sys.stdin)
for name in ("RateLimit-Policy", "RateLimit"):
    # Raises on anything that is not a structured-field List.
    http_sf.parse(fields[name].encode("ascii"), tltype="list")
policies = [
    {"name": p.name, "quota": p.quota, "window": p.window, "unit": p.unit}
    for p in parse_ratelimit_policy(fields["RateLimit-Policy"])
]
limits = [
    {"policy": l.policy, "remaining": l.remaining, "reset": l.window}
    for l in parse_ratelimit(fields["RateLimit"])
]
json.dump({"policies": policies, "limits": limits}, sys.stdout)
"#;

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test-deps",
        python.display()
    );
    python
}

/// One policy of a response, as the parsers read it.
#[derive(Debug)]
struct Policy {
    name: String,
    quota: u64,
    window: Option<u64>,
    remaining: u64,
}

/// The policies a response states, parsed by the third-party parsers; fails when either header
/// is missing or malformed, or when a limit names no declared policy.
fn parsed(response: &reqwest::Response) -> Vec<Policy> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| {
                panic!(
                    "a {name} header on the {} answer: {:?}",
                    response.status(),
                    response.headers()
                )
            })
            .to_owned()
    };
    let fields = json!({
        "RateLimit-Policy": header("ratelimit-policy"),
        "RateLimit": header("ratelimit"),
    });
    let mut child = Command::new(python())
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(fields.to_string().as_bytes())
            .expect("fields written");
    }
    let output = child.wait_with_output().expect("python ends");
    assert!(
        output.status.success(),
        "the parsers refuse {fields}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).expect("json");
    let policies = read["policies"].as_array().expect("policies");
    let limits = read["limits"].as_array().expect("limits");
    assert_eq!(
        policies.len(),
        limits.len(),
        "one limit per policy: {fields}"
    );
    policies
        .iter()
        .map(|policy| {
            let name = policy["name"].as_str().expect("name").to_owned();
            assert_eq!(policy["unit"], "requests", "{fields}");
            let limit = limits
                .iter()
                .find(|limit| limit["policy"] == name.as_str())
                .unwrap_or_else(|| panic!("a limit for policy `{name}`: {fields}"));
            let quota = policy["quota"].as_u64().expect("q");
            let remaining = limit["remaining"].as_u64().expect("r");
            assert!(
                remaining <= quota,
                "what is left never exceeds the quota: {fields}"
            );
            Policy {
                name,
                quota,
                window: policy["window"].as_u64(),
                remaining,
            }
        })
        .collect()
}

fn policy<'a>(policies: &'a [Policy], name: &str) -> &'a Policy {
    policies
        .iter()
        .find(|policy| policy.name == name)
        .unwrap_or_else(|| panic!("a `{name}` policy in {policies:?}"))
}

async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.demo.api_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("the API answers")
}

/// Each vendor's policy as the vendor states it: the quota and the window, not the refill rate.
#[tokio::test]
async fn every_vendor_states_its_quota_and_window() {
    let app = spawn_app().await;
    // (provider, policy, quota, window in seconds), from each connector's declaration of the
    // vendor's limit (connectors/*/connector.yaml, ../shared/reference/vendor-behaviour.md).
    let expected = [
        ("hubspot", "burst", 100, 10),
        ("salesforce", "steady", 20, 2),
        ("pipedrive", "burst", 20, 2),
        ("dynamics365", "service_protection", 6_000, 300),
    ];
    for (provider, name, quota, window) in expected {
        let connection = app.connection(provider);
        let response = send(
            &app,
            Method::GET,
            &format!("/unified/crm/contacts?connection_id={connection}&page_size=1"),
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{provider}");
        let policies = parsed(&response);
        let stated = policy(&policies, name);
        assert_eq!(
            (stated.quota, stated.window),
            (quota, Some(window)),
            "{provider}: {policies:?}"
        );
    }
    // Salesforce's real budget is the org's daily allowance, which it reports on every answer
    // (`Sforce-Limit-Info: api-usage=used/limit`); it is stated as a daily policy.
    let connection = app.connection("salesforce");
    let response = send(
        &app,
        Method::GET,
        &format!("/unified/crm/contacts?connection_id={connection}&page_size=1"),
        None,
    )
    .await;
    let policies = parsed(&response);
    let daily = policy(&policies, "daily");
    assert_eq!(daily.window, Some(86_400), "{policies:?}");
    assert!(
        daily.quota > 0 && daily.remaining < daily.quota,
        "the calls so far count against the day: {policies:?}"
    );
}

/// Dynamics 365 allows 6,000 requests per user in a sliding 300 s window: the headers count
/// every request against it, one by one (a token bucket refilling 20 a second, as declared
/// before, stayed near 6,000 whatever was spent, about 300 times the real budget).
#[tokio::test]
async fn dynamics_counts_each_request_against_its_five_minute_window() {
    let app = spawn_app().await;
    let connection = app.connection("dynamics365");
    let path = format!("/proxy/contacts?$top=1&connection_id={connection}");
    let mut remaining = Vec::new();
    for _ in 0..4 {
        let response = send(&app, Method::GET, &path, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        remaining.push(policy(&parsed(&response), "service_protection").remaining);
    }
    let spent: Vec<u64> = remaining.windows(2).map(|pair| pair[0] - pair[1]).collect();
    assert_eq!(
        spent,
        [1, 1, 1],
        "one request, one of the window's 6,000: {remaining:?}"
    );
}

/// Every answer of a connection's call carries the headers: a write, `/fields`, `/meta`, a
/// vendor's error, a request refused before the vendor, and Crosswalk's own 429, which says
/// it is Crosswalk's (`origin: gateway`), not the vendor's.
#[tokio::test]
async fn every_answer_of_a_connection_carries_them() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let on = |path: &str| format!("{path}?connection_id={connection}");

    let created = send(
        &app,
        Method::POST,
        &on("/unified/crm/companies"),
        Some(json!({"name": "Headers Ltd"})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    parsed(&created);
    let fields = send(&app, Method::GET, &on("/unified/crm/fields"), None).await;
    assert_eq!(fields.status(), StatusCode::OK);
    parsed(&fields);
    let meta = send(&app, Method::GET, &on("/unified/crm/contacts/meta"), None).await;
    assert_eq!(meta.status(), StatusCode::OK);
    parsed(&meta);
    let missing = &app.facts("hubspot").missing_contact_id;
    let vendor_error = send(
        &app,
        Method::GET,
        &on(&format!("/unified/crm/contacts/{missing}")),
        None,
    )
    .await;
    assert_eq!(vendor_error.status(), StatusCode::NOT_FOUND);
    parsed(&vendor_error);
    let refused = send(
        &app,
        Method::POST,
        &on("/unified/crm/engagements"),
        Some(json!({})),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    parsed(&refused);

    // One request per ten minutes: the next call is refused by Crosswalk before the vendor.
    let (status, body) = app
        .call(
            Method::PUT,
            "/environment/overrides/hubspot",
            Some(json!({"rate_limits": {"buckets": [
                {"id": "burst", "kind": "sliding_window", "capacity": 1, "refill_every_ms": 600_000},
            ]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ours = None;
    for _ in 0..3 {
        let response = send(
            &app,
            Method::GET,
            &format!("{}&max_wait_ms=0", on("/unified/crm/companies")),
            None,
        )
        .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            ours = Some(response);
            break;
        }
    }
    let ours = ours.expect("a 429 once the one request of the window is spent");
    let policies = parsed(&ours);
    let burst = policy(&policies, "burst");
    assert_eq!(
        (burst.quota, burst.window, burst.remaining),
        (1, Some(600), 0)
    );
    assert!(ours.headers().contains_key("retry-after"));
    let body: Value = ours.json().await.expect("problem+json");
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(body["origin"], "gateway", "no vendor was called: {body}");
}
