//! The BambooHR simulator against the stored OpenAPI description
//! (`shared/vendor-specs/bamboohr/bamboohr-public-openapi.yaml`, OpenAPI 3.1) and the answers the
//! live API gave (`shared/recorded-payloads/bamboohr`): each checked answer is validated against
//! the response schema the description gives for its path, method and status. Where the
//! description is stricter than the live API the case is in [`spec_strict`] with its reason;
//! everything else must validate. Also: auth, cursor paging, `BadPage`, changes, throttles.

use std::path::PathBuf;
use std::sync::OnceLock;

use reqwest::StatusCode;
use serde_json::{Value, json};
use simulators::bamboohr::{BambooConfig, BambooHandle, spawn};
use simulators::{Fault, FaultKind, RunningSimulator};

const KEY: &str = "bamboohr-sim-key";

fn shared_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("../../../shared"),
        manifest.join("../../shared"),
    ]
    .into_iter()
    .find(|dir| dir.join("vendor-specs/bamboohr").exists())
    .expect("the shared folder with vendor-specs/bamboohr")
}

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(
            shared_dir().join("vendor-specs/bamboohr/bamboohr-public-openapi.yaml"),
        )
        .expect("the spec reads");
        serde_yaml_ng::from_str(&text).expect("the spec is YAML")
    })
}

/// Where the description is stricter than the live API (the recorded answers show it).
fn spec_strict(instance: &Value, schema_path: &str) -> bool {
    // Ids, row ids and user ids are strings in every recorded answer (`"employeeId": "4"`,
    // `"id": "1659"`, `"lastChangedByUserId": "2385"`); the description says integers.
    // Time-off amounts and daily amounts are strings too (`"amount": "5"`, `"2026-04-10":
    // "1"`) where it says numbers.
    instance.is_string()
        && instance
            .as_str()
            .is_some_and(|text| text.parse::<f64>().is_ok())
        && (schema_path.ends_with("/type") || schema_path.contains("/additionalProperties"))
}

/// Validates `instance` against the description's schema of `path` / `method` / `status`.
fn check(path: &str, method: &str, status: u16, instance: &Value) {
    let spec = spec();
    let schema = &spec["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(
        schema.is_object(),
        "the description has no JSON schema for {method} {path} {status}"
    );
    let mut root = schema.clone();
    root.as_object_mut()
        .expect("a schema object")
        .insert("components".into(), spec["components"].clone());
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .expect("the schema compiles");
    let violations: Vec<String> = validator
        .iter_errors(instance)
        .filter(|error| !spec_strict(error.instance(), &error.schema_path().to_string()))
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    assert!(
        violations.is_empty(),
        "{method} {path} {status}: {violations:#?}"
    );
}

/// A recorded answer, parsed.
fn recorded(name: &str) -> Value {
    let text = std::fs::read_to_string(shared_dir().join("recorded-payloads/bamboohr").join(name))
        .expect("the recording reads");
    serde_json::from_str(&text).expect("the recording is JSON")
}

async fn start(config: BambooConfig) -> (RunningSimulator, BambooHandle) {
    spawn(config, "127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("the simulator starts")
}

fn small() -> BambooConfig {
    BambooConfig {
        employees: 40,
        requests_per_window: 1_000_000,
        ..BambooConfig::default()
    }
}

async fn get(running: &RunningSimulator, path: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", running.base_url))
        .basic_auth(KEY, Some("x"))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_schema_check_agrees_with_the_recorded_answers() {
    // The allow-list is what the live API does: the recordings pass with it.
    check(
        "/api/v1/employees",
        "get",
        200,
        &recorded("employees_list_p1.json"),
    );
    check(
        "/api/v1/meta/fields",
        "get",
        200,
        &recorded("meta_fields.json"),
    );
    check(
        "/api/v1/time_off/requests",
        "get",
        200,
        &recorded("time_off_request_1659.json"),
    );
    check(
        "/api/v1/employees/changed/tables/{table}",
        "get",
        200,
        &recorded("employees_changed_tables_jobInfo.json"),
    );
    check(
        "/api/v1/employees/{employeeId}/time_off/calculator",
        "get",
        200,
        &recorded("employee_4_time_off_calculator.json"),
    );
}

#[tokio::test]
async fn answers_match_the_stored_description() {
    let (running, _handle) = start(small()).await;
    let (status, list) = get(
        &running,
        "/api/v1/employees?page%5Blimit%5D=10&fields=workEmail,hireDate",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    check("/api/v1/employees", "get", 200, &list);
    // The recorded list's shape, key for key.
    let recorded_first = &recorded("employees_list_p1.json")["data"][0];
    let keys = |value: &Value| -> Vec<String> {
        value.as_object().expect("object").keys().cloned().collect()
    };
    let ours: Vec<String> = keys(&list["data"][0])
        .into_iter()
        .filter(|key| !["workEmail", "hireDate"].contains(&key.as_str()))
        .collect();
    assert_eq!(ours, keys(recorded_first));

    let (_, employee) = get(
        &running,
        "/api/v1/employees/4?fields=firstName,lastName,workEmail",
    )
    .await;
    check("/api/v1/employees/{id}", "get", 200, &employee);
    assert_eq!(
        employee
            .as_object()
            .expect("object")
            .keys()
            .collect::<Vec<_>>(),
        recorded("employee_get_8.json")
            .as_object()
            .expect("object")
            .keys()
            .collect::<Vec<_>>()
    );
    let (_, changed) = get(
        &running,
        "/api/v1/employees/changed?since=2020-01-01T00:00:00Z",
    )
    .await;
    check("/api/v1/employees/changed", "get", 200, &changed);
    let (_, fields) = get(&running, "/api/v1/meta/fields").await;
    check("/api/v1/meta/fields", "get", 200, &fields);
    assert!(
        fields
            .as_array()
            .expect("fields")
            .iter()
            .any(|f| f["alias"] == "customShirtsize")
    );
    let (_, table) = get(&running, "/api/v1/employees/4/tables/jobInfo").await;
    check("/api/v1/employees/{id}/tables/{table}", "get", 200, &table);
    // Bonuses: a table of their own, dated one-off amounts.
    let (status, bonuses) = get(&running, "/api/v1/employees/all/tables/bonus").await;
    assert_eq!(status, StatusCode::OK);
    check(
        "/api/v1/employees/{id}/tables/{table}",
        "get",
        200,
        &bonuses,
    );
    let bonus = &bonuses.as_array().expect("rows")[0];
    assert!(
        bonus["date"].is_string() && bonus["amount"]["currency"] == "USD",
        "{bonus}"
    );
    let (_, changed_table) = get(
        &running,
        "/api/v1/employees/changed/tables/compensation?since=2020-01-01T00:00:00Z",
    )
    .await;
    check(
        "/api/v1/employees/changed/tables/{table}",
        "get",
        200,
        &changed_table,
    );
    let (_, types) = get(&running, "/api/v1/meta/time_off/types").await;
    check("/api/v1/meta/time_off/types", "get", 200, &types);
    let (_, requests) = get(
        &running,
        "/api/v1/time_off/requests?start=2026-01-01&end=2026-12-31",
    )
    .await;
    check("/api/v1/time_off/requests", "get", 200, &requests);
    assert!(!requests.as_array().expect("requests").is_empty());
    // Groups and places: the list fields' options (archived ones kept), the job locations
    // (active by default, archived ones when the filter asks) and the company.
    let (status, lists) = get(&running, "/api/v1/meta/lists").await;
    assert_eq!(status, StatusCode::OK);
    check("/api/v1/meta/lists", "get", 200, &lists);
    let departments = lists
        .as_array()
        .expect("lists")
        .iter()
        .find(|list| list["alias"] == "department")
        .expect("the department list");
    assert!(
        departments["options"]
            .as_array()
            .expect("options")
            .iter()
            .any(|option| option["name"] == "Engineering" && option["archived"] == "no")
    );
    assert!(
        departments["options"]
            .as_array()
            .expect("options")
            .iter()
            .any(|option| option["archived"] == "yes")
    );
    let (status, locations) = get(&running, "/api/v1/hris/org/locations?expand=country").await;
    assert_eq!(status, StatusCode::OK);
    check("/api/v1/hris/org/locations", "get", 200, &locations);
    let active = locations["data"].as_array().expect("data");
    assert!(active.iter().all(|location| location["archived"] == false));
    assert!(
        active
            .iter()
            .any(|location| location["address"]["country"]["isoCode"] == "GB")
    );
    assert_eq!(locations["meta"]["totalItems"], active.len());
    let (_, every) = get(
        &running,
        "/api/v1/hris/org/locations?pageSize=2&page=1&filter=archived%20eq%20true%20or%20archived%20eq%20false",
    )
    .await;
    check("/api/v1/hris/org/locations", "get", 200, &every);
    assert_eq!(every["meta"]["totalItems"], active.len() + 1);
    assert_eq!(every["data"].as_array().expect("data").len(), 2);
    let (status, company) = get(&running, "/api/v1/company_information").await;
    assert_eq!(status, StatusCode::OK);
    check("/api/v1/company_information", "get", 200, &company);
    assert!(company["legalName"].is_string());

    let (_, balances) = get(&running, "/api/v1/employees/4/time_off/calculator").await;
    check(
        "/api/v1/employees/{employeeId}/time_off/calculator",
        "get",
        200,
        &balances,
    );
}

#[tokio::test]
async fn the_list_pages_by_cursor_and_refuses_a_cursor_whose_employee_is_gone() {
    let (running, handle) = start(small()).await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/employees?page%5Blimit%5D=7".to_owned();
    loop {
        let (status, page) = get(&running, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|e| e["employeeId"].clone()),
        );
        match page["meta"]["page"]["nextCursor"].as_str() {
            Some(cursor) => {
                path = format!(
                    "/api/v1/employees?page%5Blimit%5D=7&page%5Bafter%5D={}",
                    url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect::<String>()
                );
            }
            None => break,
        }
    }
    let ids: Vec<Value> = handle
        .ids("employees")
        .into_iter()
        .map(Value::String)
        .collect();
    assert_eq!(seen, ids);

    let (_, first) = get(&running, "/api/v1/employees?page%5Blimit%5D=7").await;
    let cursor = first["meta"]["page"]["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let boundary = first["data"][6]["employeeId"]
        .as_str()
        .expect("id")
        .parse::<u64>()
        .expect("n")
        + 1;
    assert!(handle.delete(&boundary.to_string()));
    let (status, problem) = get(
        &running,
        &format!(
            "/api/v1/employees?page%5Blimit%5D=7&page%5Bafter%5D={}",
            url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect::<String>()
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["error"]["code"], "BadPage");
    check("/api/v1/employees", "get", 400, &problem);
}

#[tokio::test]
async fn changes_report_inserts_updates_terminations_and_deletes() {
    let (running, handle) = start(small()).await;
    let ids = handle.ids("employees");
    let since = "2026-11-01T00:00:00Z";
    let (_, none) = get(
        &running,
        &format!("/api/v1/employees/changed?since={since}"),
    )
    .await;
    assert_eq!(
        none["employees"],
        json!({}),
        "seeded changes lie before the epoch"
    );
    assert!(handle.terminate(&ids[1]));
    assert!(handle.delete(&ids[2]));
    let (_, changed) = get(
        &running,
        &format!("/api/v1/employees/changed?since={since}"),
    )
    .await;
    assert_eq!(changed["employees"][&ids[1]]["action"], "Updated");
    assert_eq!(changed["employees"][&ids[2]]["action"], "Deleted");
    let (_, deleted) = get(
        &running,
        &format!("/api/v1/employees/changed?since={since}&type=deleted"),
    )
    .await;
    assert_eq!(deleted["employees"].as_object().expect("map").len(), 1);
    let (status, _) = get(&running, "/api/v1/employees/changed?since=notadate").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "as the live API (vendor-behaviour §1)"
    );
    let terminated = handle.employee(&ids[1]).expect("kept");
    assert_eq!(terminated["status"], "Inactive");
    assert_eq!(terminated["employmentHistoryStatus"], "Terminated");
    assert!(handle.employee(&ids[2]).is_none());
}

#[tokio::test]
async fn auth_is_basic_with_the_key_or_a_bearer_token() {
    let (running, _handle) = start(small()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/meta/fields", running.base_url);
    let basic = client
        .get(&url)
        .basic_auth(KEY, Some("anything"))
        .send()
        .await
        .expect("answers");
    assert_eq!(basic.status(), StatusCode::OK);
    let bearer = client
        .get(&url)
        .bearer_auth("bamboohr-sim-oauth")
        .send()
        .await
        .expect("answers");
    assert_eq!(bearer.status(), StatusCode::OK);
    let wrong = client
        .get(&url)
        .basic_auth("nope", Some("x"))
        .send()
        .await
        .expect("answers");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().contains_key("x-bamboohr-error-message"));
}

#[tokio::test]
async fn throttles_answer_429_or_503_with_retry_after() {
    for throttle_status in [429, 503] {
        let (running, _handle) = start(BambooConfig {
            employees: 5,
            requests_per_window: 3,
            window: std::time::Duration::from_secs(60),
            throttle_status,
            ..BambooConfig::default()
        })
        .await;
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let response = reqwest::Client::new()
                .get(format!("{}/api/v1/meta/fields", running.base_url))
                .basic_auth(KEY, Some("x"))
                .send()
                .await
                .expect("answers");
            if response.status().as_u16() == throttle_status {
                assert!(response.headers().contains_key("retry-after"));
            }
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses, [200, 200, 200, throttle_status]);
    }
    // A queued throttle fault answers the configured status too.
    let (running, handle) = start(small()).await;
    handle.faults().push(Fault {
        kind: FaultKind::Throttle {
            retry_after_secs: Some(7),
        },
        path_prefix: None,
        times: 1,
    });
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/meta/fields", running.base_url))
        .basic_auth(KEY, Some("x"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
}

/// Validates `instance` against the description's component schema `name`.
fn check_component(name: &str, instance: &Value) {
    let spec = spec();
    let mut root = json!({"$ref": format!("#/components/schemas/{name}")});
    root.as_object_mut()
        .expect("a schema object")
        .insert("components".into(), spec["components"].clone());
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .expect("the schema compiles");
    let violations: Vec<String> = validator
        .iter_errors(instance)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    assert!(violations.is_empty(), "{name}: {violations:#?}");
}

/// A loopback receiver answering 200 to every delivery.
async fn receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::OK });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/hooks/t")
}

/// `POST /api/v1/webhooks` answers the described webhook with its private key; each employee
/// change after it is delivered with the described event payload, signed with
/// `X-BambooHR-Signature` (hex HMAC-SHA256 of the body and `X-BambooHR-Timestamp`, keyed with
/// the private key); a change of an unmonitored field sends nothing; the legacy events are
/// refused as not simulated; a deleted webhook sends nothing more.
#[tokio::test]
async fn webhooks_are_made_as_described_and_deliveries_signed_as_described() {
    let (running, handle) = start(small()).await;
    let client = reqwest::Client::new();
    let url = receiver().await;
    let post = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", running.base_url))
            .basic_auth(KEY, Some("x"))
            .header("Accept", "application/json")
            .json(&body)
            .send()
    };
    // The legacy default events and a missing monitorFields are refused.
    let response = post(
        "/api/v1/webhooks",
        json!({"name": "legacy", "url": url, "format": "json", "monitorFields": ["firstName"]}),
    )
    .await
    .expect("answers");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = post(
        "/api/v1/webhooks",
        json!({"name": "x", "url": url, "format": "json", "events": ["employee.updated"]}),
    )
    .await
    .expect("answers");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = post(
        "/api/v1/webhooks",
        json!({"name": "Crosswalk", "url": url, "format": "json",
               "events": ["employee.created", "employee.updated", "employee.deleted"],
               "monitorFields": ["jobTitle", "firstName"]}),
    )
    .await
    .expect("answers");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("JSON");
    check("/api/v1/webhooks", "post", 201, &created);
    let key = created["privateKey"]
        .as_str()
        .expect("a private key")
        .to_owned();
    let id = created["id"].as_str().expect("an id").to_owned();
    let (status, listed) = get(&running, "/api/v1/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    check("/api/v1/webhooks", "get", 200, &listed);
    let (status, shown) = get(&running, &format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    check("/api/v1/webhooks/{id}", "get", 200, &shown);
    assert!(shown.get("privateKey").is_none(), "shown once: {shown}");

    // A new employee: created, then updated with the monitored fields it has.
    let response = post(
        "/api/v1/employees",
        json!({"firstName": "Ada", "lastName": "Hook", "jobTitle": "Analyst"}),
    )
    .await
    .expect("answers");
    assert_eq!(response.status(), StatusCode::CREATED);
    handle.webhooks().flush().await;
    let sent = handle.webhooks().sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let mut kinds = Vec::new();
    for delivery in &sent {
        assert_eq!(delivery.status, Some(200), "{delivery:?}");
        let header = |name: &str| {
            delivery
                .delivery
                .headers
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .expect("the header")
        };
        let timestamp = header("X-BambooHR-Timestamp");
        let mut signed = delivery.delivery.body.clone();
        signed.extend_from_slice(timestamp.as_bytes());
        assert_eq!(
            header("X-BambooHR-Signature"),
            simulators::webhooks::hmac_sha256_hex(key.as_bytes(), &signed)
        );
        let body: Value = serde_json::from_slice(&delivery.delivery.body).expect("JSON");
        let kind = body["type"].as_str().expect("a type").to_owned();
        check_component(
            match kind.as_str() {
                "employee.created" => "EmployeeCreatedWebhookPayload",
                _ => "EmployeeUpdatedWebhookPayload",
            },
            &body,
        );
        if kind == "employee.updated" {
            let mut changed: Vec<&str> = body["data"]["changedFields"]
                .as_array()
                .expect("changed fields")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            changed.sort_unstable();
            assert_eq!(changed, ["firstName", "jobTitle"], "{body}");
        }
        kinds.push(kind);
    }
    kinds.sort();
    assert_eq!(kinds, ["employee.created", "employee.updated"]);
    let employee = serde_json::from_slice::<Value>(&sent[0].delivery.body).expect("JSON")["data"]
        ["employeeId"]
        .as_str()
        .expect("an id")
        .to_owned();

    // An unmonitored field sends nothing; a monitored one an update naming it.
    post(
        &format!("/api/v1/employees/{employee}"),
        json!({"workEmail": "ada.hook@example.com"}),
    )
    .await
    .expect("answers");
    handle.webhooks().flush().await;
    assert_eq!(handle.webhooks().sent().len(), 2, "nothing for workEmail");
    post(
        &format!("/api/v1/employees/{employee}"),
        json!({"jobTitle": "Lead"}),
    )
    .await
    .expect("answers");
    handle.webhooks().flush().await;
    let sent = handle.webhooks().sent();
    assert_eq!(sent.len(), 3);
    let body: Value = serde_json::from_slice(&sent[2].delivery.body).expect("JSON");
    assert_eq!(body["data"]["changedFields"], json!(["jobTitle"]), "{body}");

    // Deleted: no more deliveries.
    let response = client
        .delete(format!("{}/api/v1/webhooks/{id}", running.base_url))
        .basic_auth(KEY, Some("x"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(handle.delete(&employee));
    handle.webhooks().flush().await;
    assert_eq!(
        handle.webhooks().sent().len(),
        3,
        "nothing after the delete"
    );
    let (status, _) = get(&running, &format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
