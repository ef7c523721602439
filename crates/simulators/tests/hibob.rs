//! The HiBob simulator against the stored description (`shared/vendor-specs/hibob`, a
//! third-party merge of HiBob's per-endpoint OpenAPI 3.0 blocks) and the recorded employee
//! (`shared/recorded-payloads/hibob`): each checked answer is validated against the response
//! schema the description gives for its path, method and status. Where the description is
//! stricter than (or differs from) the live API the case is in [`spec_strict`] with its
//! reason; everything else must validate. Also: service-user auth, `showInactive`, filters,
//! writes, cursor paging of the bulk tables, time off and its changes feed, and the search
//! limit of 50 a minute.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use simulators::RunningSimulator;
use simulators::hibob::{HiBobConfig, HiBobHandle, spawn};

const USER: &str = "SERVICE-4867";
const TOKEN: &str = "hibob-sim-token";

fn shared_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("../../../shared"),
        manifest.join("../../shared"),
    ]
    .into_iter()
    .find(|dir| dir.join("vendor-specs/hibob").exists())
    .expect("the shared folder with vendor-specs/hibob")
}

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(
            shared_dir().join("vendor-specs/hibob/hibob-public-api.generated.yml"),
        )
        .expect("the spec reads");
        serde_yaml_ng::from_str(&text).expect("the spec is YAML")
    })
}

/// Where the description is stricter than the live API, or says otherwise.
fn spec_strict(instance: &Value, schema_path: &str) -> bool {
    // Absent values are `null` in every recorded answer (`"secondName": null`,
    // `"terminationDate": null`); the description's types have no `nullable`.
    (instance.is_null() && schema_path.ends_with("/type"))
        // Times carry no zone in every recorded answer (`"creationDateTime":
        // "2020-08-18T10:02:42.44441"`, webhooks' `triggeredAt`), where it says `date-time`.
        || (schema_path.ends_with("/format")
            && instance.as_str().is_some_and(|text| {
                text.len() > 10 && chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
            }))
        // Employee ids are 19-digit numbers as text (`"id": "2378379585948483884"` recorded,
        // `"employeeId": "3332883916968166175"` in the time-off webhook samples), where the
        // time-off answers say `uuid`.
        || (schema_path.ends_with("/format")
            && instance.as_str().is_some_and(|text| text.len() >= 18 && text.bytes().all(|b| b.is_ascii_digit())))
}

/// An employee with what the description gets wrong taken out, each checked here instead:
/// `work.custom` is an object of custom field values in the recorded answer and the
/// description's own example (`"custom": {"field_1711886937296": null}`), where the schema says
/// an array; `work.isManager` is a boolean in its example (`{"value": true}`), where the schema
/// says a string; absent values are `null` (the schema's `anyOf` on `work` hides which branch
/// a `null` broke, so they are dropped before validating).
fn without_spec_strict(employee: &Value) -> Value {
    fn drop_nulls(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), drop_nulls(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let mut copy = drop_nulls(employee);
    if let Some(work) = copy.get_mut("work").and_then(Value::as_object_mut) {
        if let Some(custom) = work.remove("custom") {
            assert!(custom.is_object(), "work.custom is an object: {custom}");
        }
        if let Some(manager) = work.remove("isManager") {
            assert!(
                manager.is_boolean(),
                "work.isManager is a boolean: {manager}"
            );
        }
    }
    copy
}

/// Validates `instance` against `schema` (resolved within the description).
fn check_against(what: &str, schema: &Value, instance: &Value) {
    assert!(
        schema.is_object(),
        "the description has no JSON schema for {what}"
    );
    let mut root = schema.clone();
    root.as_object_mut()
        .expect("a schema object")
        .insert("components".into(), spec()["components"].clone());
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&root)
        .expect("the schema compiles");
    let violations: Vec<String> = validator
        .iter_errors(instance)
        .filter(|error| !spec_strict(error.instance(), &error.schema_path().to_string()))
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    assert!(violations.is_empty(), "{what}: {violations:#?}");
}

fn response_schema(path: &str, method: &str, status: u16) -> &'static Value {
    &spec()["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]["schema"]
}

fn check(path: &str, method: &str, status: u16, instance: &Value) {
    check_against(
        &format!("{method} {path} {status}"),
        response_schema(path, method, status),
        instance,
    );
}

/// Employees against the description's machine-format branch of `oneOf` (`branches` is the
/// `oneOf`). The two branches (human-readable, machine format) declare no required field and
/// overlap, so an answer with fields both describe matches both, which `oneOf` refuses: the
/// description's own example fails it (vendor-behaviour §0).
fn check_employees(what: &str, branches: &Value, employees: &[Value]) {
    let branch = &branches["oneOf"][1];
    assert_eq!(branch["title"], "Machine format only (humanReadable=\"\")");
    for employee in employees {
        check_against(what, branch, &without_spec_strict(employee));
    }
}

fn search_branches() -> &'static Value {
    &response_schema("/people/search", "post", 200)["properties"]["employees"]["items"]
}

struct Sim {
    _running: RunningSimulator,
    handle: HiBobHandle,
    base: String,
    client: reqwest::Client,
}

impl Sim {
    async fn start(config: HiBobConfig) -> Sim {
        let (running, handle) = spawn(config, ([127, 0, 0, 1], 0).into())
            .await
            .expect("binds");
        let base = format!("{}/v1", running.base_url);
        Sim {
            _running: running,
            handle,
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(USER, Some(TOKEN));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}"))
        };
        (status, body, headers)
    }

    async fn search(&self, body: Value) -> (StatusCode, Value) {
        let (status, body, _) = self.call(Method::POST, "/people/search", Some(body)).await;
        (status, body)
    }
}

fn small() -> HiBobConfig {
    HiBobConfig {
        employees: 60,
        searches_per_minute: 1_000,
        requests_per_minute: 1_000,
        ..HiBobConfig::default()
    }
}

#[tokio::test]
async fn searches_answer_the_asked_fields_as_the_description_says() {
    let sim = Sim::start(small()).await;
    let (status, answer) = sim
        .search(
            json!({"fields": ["root.id", "root.firstName", "/root/surname", "work.title",
            "work.department", "work.site", "work.siteId", "root.companyId", "internal.status",
            "work.custom.field_1711886937296", "no.such.field"], "humanReadable": "APPEND"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    check_employees(
        "an employee of POST /people/search",
        search_branches(),
        answer["employees"].as_array().expect("employees"),
    );
    let employees = answer["employees"].as_array().expect("employees");
    let first = &employees[0];
    assert!(
        first["id"].is_string() && first["firstName"].is_string(),
        "{first}"
    );
    assert!(
        first["/root/surname"]["value"].is_string(),
        "a slash path is also keyed: {first}"
    );
    assert!(first["surname"].is_string(), "{first}");
    assert!(
        first.get("no").is_none(),
        "unknown paths are left out: {first}"
    );
    // Machine format: the department's list item id; the name under `humanReadable`.
    let department = first["work"]["department"].as_str().expect("an id");
    assert!(department.parse::<u64>().is_ok(), "{first}");
    assert!(
        first["humanReadable"]["work"]["department"]
            .as_str()
            .is_some_and(|name| name.parse::<u64>().is_err()),
        "{first}"
    );
    assert!(
        first["work"]["custom"]["field_1711886937296"].is_string(),
        "{first}"
    );
    // Active employees only, unless showInactive.
    assert!(
        employees
            .iter()
            .all(|e| e["internal"]["status"] == "Active")
    );
    let (_, all) = sim
        .search(
            json!({"fields": ["root.id", "internal.status", "internal.lifecycleStatus",
            "internal.terminationDate"], "showInactive": true}),
        )
        .await;
    let all = all["employees"].as_array().expect("employees").clone();
    assert_eq!(all.len(), sim.handle.ids("employees").len());
    let terminated: Vec<&Value> = all
        .iter()
        .filter(|e| e["internal"]["lifecycleStatus"] == "terminated")
        .collect();
    assert!(!terminated.is_empty());
    assert!(
        terminated
            .iter()
            .all(|e| e["internal"]["status"] == "Inactive"
                && e["internal"]["terminationDate"].is_string())
    );
    assert_eq!(employees.len() + terminated.len(), all.len());

    // Filters: root.id / root.email with equals; anything else is refused.
    let id = all[3]["id"].as_str().expect("id");
    let (status, one) = sim
        .search(json!({"fields": ["root.id"], "showInactive": true,
            "filters": [{"fieldPath": "root.id", "operator": "equals", "values": [id]}]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["employees"], json!([{"id": id}]));
    let (status, problem) = sim
        .search(json!({"filters": [{"fieldPath": "work.title", "operator": "equals", "values": ["x"]}]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["error"]
            .as_str()
            .is_some_and(|e| e.contains("work.title")),
        "{problem}"
    );
    check("/people/search", "post", 200, &json!({"employees": []}));

    // One employee by id, inactive ones included.
    let (status, read, _) = sim
        .call(
            Method::POST,
            &format!("/people/{id}"),
            Some(json!({"fields": ["root.id", "root.email"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["id"], id);
    let (status, _, _) = sim.call(Method::POST, "/people/1", Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_recorded_employee_holds_every_standard_field_path() {
    let sim = Sim::start(small()).await;
    let (status, fields, _) = sim.call(Method::GET, "/company/people/fields", None).await;
    assert_eq!(status, StatusCode::OK);
    check("/company/people/fields", "get", 200, &fields);
    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(
            shared_dir().join("recorded-payloads/hibob/people_get_by_email_amy_miles.json"),
        )
        .expect("the recording reads"),
    )
    .expect("JSON");
    // In the description's search example, not in the (older) recorded full read.
    let not_recorded = ["work.isManager", "work.employeeIdInCompany"];
    for field in fields.as_array().expect("fields") {
        let path = field["jsonPath"].as_str().expect("a path");
        if path.contains("field_") || not_recorded.contains(&path) {
            continue;
        }
        let found = path
            .strip_prefix("root.")
            .unwrap_or(path)
            .split('.')
            .try_fold(&recorded, |value, key| value.get(key));
        assert!(
            found.is_some(),
            "`{path}` is a path of the recorded employee"
        );
    }
    let custom: Vec<&str> = fields
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .filter(|id| id.contains("field_"))
        .collect();
    assert_eq!(custom.len(), 2, "{custom:?}");
}

#[tokio::test]
async fn employees_are_created_updated_and_terminated() {
    let sim = Sim::start(small()).await;
    let (status, problem, _) = sim
        .call(
            Method::POST,
            "/people",
            Some(json!({"firstName": "Ada", "surname": "Lovelace", "email": "ada@samplebob.com"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "site and start date are required"
    );
    assert!(
        problem["error"]
            .as_str()
            .is_some_and(|e| e.contains("work.site")),
        "{problem}"
    );
    let (status, created, _) = sim
        .call(
            Method::POST,
            "/people",
            Some(json!({"firstName": "Ada", "surname": "Lovelace",
            "email": "ada@samplebob.com", "work": {"site": "London", "startDate": "2026-11-02",
            "custom": {"field_1711886937296": "M"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    check_employees(
        "POST /people 200",
        response_schema("/people", "post", 200),
        std::slice::from_ref(&created),
    );
    let id = created["id"].as_str().expect("an id").to_owned();
    let stored = sim.handle.employee(&id).expect("stored");
    assert_eq!(stored["work"]["siteId"], 2_510_069);
    assert_eq!(stored["work"]["custom"]["field_1711886937296"], "M");

    let (status, answer, _) = sim
        .call(
            Method::PUT,
            &format!("/people/{id}"),
            Some(json!({"work": {"title": "Analyst"},
            "category_1673436523123": {"field_1673436539999": "French"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let stored = sim.handle.employee(&id).expect("stored");
    assert_eq!(stored["work"]["title"], "Analyst");
    assert_eq!(stored["work"]["site"], "London", "other fields kept");
    assert_eq!(
        stored["category_1673436523123"]["field_1673436539999"],
        "French"
    );
    let (status, _, _) = sim
        .call(
            Method::PUT,
            &format!("/people/{id}"),
            Some(json!({"internal": {"status": "Inactive"}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "termination has its own endpoint"
    );

    let (status, _, _) = sim
        .call(
            Method::POST,
            &format!("/employees/{id}/terminate"),
            Some(json!({"terminationDate": "2026-12-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let stored = sim.handle.employee(&id).expect("kept");
    assert_eq!(stored["internal"]["lifecycleStatus"], "terminated");
    assert_eq!(stored["internal"]["terminationDate"], "2026-12-01");
}

#[tokio::test]
async fn history_tables_page_by_cursor_over_every_employee() {
    let sim = Sim::start(small()).await;
    for table in ["work", "salaries", "employment"] {
        let path = format!("/bulk/people/{table}");
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = cursor.as_ref().map_or("?limit=25".to_owned(), |c| {
                format!("?limit=25&cursor={}", url_encode(c))
            });
            let (status, page, _) = sim.call(Method::GET, &format!("{path}{query}"), None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            check(&path, "get", 200, &page);
            for result in page["results"].as_array().expect("results") {
                seen.push(result["employeeId"].as_str().expect("id").to_owned());
                let values = result["values"].as_array().expect("entries");
                assert!(!values.is_empty());
                assert_eq!(
                    values.iter().filter(|v| v["isCurrent"] == true).count(),
                    1,
                    "{result}"
                );
            }
            match page["response_metadata"]["cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(
            seen,
            sim.handle.ids("employees"),
            "{table}: every employee once"
        );
    }
    let (status, _, _) = sim
        .call(Method::GET, "/bulk/people/work?limit=500", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, salaries, _) = sim
        .call(Method::GET, "/bulk/people/salaries?limit=1", None)
        .await;
    let entry = &salaries["results"][0]["values"][0];
    assert!(
        entry["base"]["value"].is_number() && entry["base"]["currency"] == "USD",
        "{entry}"
    );
    // The employment table: contract and employment type, a fixed term made permanent.
    let (_, employment, _) = sim
        .call(Method::GET, "/bulk/people/employment?limit=200", None)
        .await;
    let results = employment["results"].as_array().expect("results");
    for result in results {
        for entry in result["values"].as_array().expect("entries") {
            assert!(
                ["Full-Time", "Part-Time"].contains(&entry["contract"].as_str().expect("contract")),
                "{entry}"
            );
            assert!(entry["type"].is_string(), "{entry}");
        }
    }
    assert!(
        results.iter().any(|result| {
            let values = result["values"].as_array().expect("entries");
            values.len() == 2
                && values[0]["type"] == "Temporary"
                && values[1]["type"] == "Permanent"
        }),
        "a fixed term made permanent"
    );
    assert!(
        results
            .iter()
            .any(|result| result["values"][0]["type"] == "Contractor")
    );
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn named_lists_and_policy_types_read_as_described() {
    let sim = Sim::start(small()).await;
    let (status, departments, _) = sim
        .call(Method::GET, "/company/named-lists/department", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    check("/company/named-lists/{listName}", "get", 200, &departments);
    assert!(
        departments["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|item| { item["children"].as_array().is_some_and(|c| !c.is_empty()) }),
        "a department tree"
    );
    let (_, lists, _) = sim
        .call(
            Method::GET,
            "/company/named-lists?includeArchived=true",
            None,
        )
        .await;
    check("/company/named-lists", "get", 200, &lists);
    let (status, _, _) = sim
        .call(Method::GET, "/company/named-lists/nope", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, types, _) = sim.call(Method::GET, "/timeoff/policy-types", None).await;
    check("/timeoff/policy-types", "get", 200, &types);
    let name = types["policyTypes"][0].as_str().expect("a name");
    let (status, detail, _) = sim
        .call(
            Method::GET,
            &format!("/timeoff/policy-types/{}", url_encode(name)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    check("/timeoff/policy-types/{policyType}", "get", 200, &detail);

    // A balance: per employee and policy type, as of a day (both required).
    let employee = sim.handle.ids("employees")[0].clone();
    let (status, balance, _) = sim
        .call(
            Method::GET,
            &format!("/timeoff/employees/{employee}/balance?policyType=Holiday&date=2026-12-31"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{balance}");
    check("/timeoff/employees/{id}/balance", "get", 200, &balance);
    assert_eq!(balance["employeeId"], employee.as_str());
    assert_eq!(
        balance["totalBalanceAsOfDate"].as_f64().expect("a number")
            + balance["totalTaken"].as_f64().expect("a number"),
        balance["annualAllowance"].as_f64().expect("a number")
    );
    let (status, _, _) = sim
        .call(
            Method::GET,
            &format!("/timeoff/employees/{employee}/balance?policyType=Holiday"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the date is required");
    let (status, _, _) = sim
        .call(
            Method::GET,
            "/timeoff/employees/1/balance?policyType=Holiday&date=2026-12-31",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn time_off_requests_are_submitted_read_cancelled_and_in_the_changes_feed() {
    let sim = Sim::start(small()).await;
    let employee = sim.handle.active_ids()[2].clone();
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let body = json!({"requestRangeType": "days", "policyType": "Holiday", "startDate": "2026-12-21",
        "startDatePortion": "all_day", "endDate": "2026-12-23", "endDatePortion": "all_day"});
    let (status, created, _) = sim
        .call(
            Method::POST,
            &format!("/timeoff/employees/{employee}/requests"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "pending");
    let request = created["requestId"].as_u64().expect("an id");
    let (status, read, _) = sim
        .call(
            Method::GET,
            &format!("/timeoff/employees/{employee}/requests/{request}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    check(
        "/timeoff/employees/{id}/requests/{requestId}",
        "get",
        200,
        &read,
    );
    assert_eq!(read["totalDuration"], 3);
    let (status, _, _) = sim
        .call(
            Method::GET,
            &format!("/timeoff/employees/1/requests/{request}"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a request is read under its employee"
    );

    let (status, out, _) = sim
        .call(
            Method::GET,
            "/timeoff/whosout?from=2026-12-22&to=2026-12-22&includePending=true",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    check("/timeoff/whosout", "get", 200, &out);
    assert!(
        out["outs"]
            .as_array()
            .expect("outs")
            .iter()
            .any(|o| o["requestId"] == request)
    );
    let (_, approved_only, _) = sim
        .call(
            Method::GET,
            "/timeoff/whosout?from=2026-12-22&to=2026-12-22",
            None,
        )
        .await;
    assert!(
        !approved_only["outs"]
            .as_array()
            .expect("outs")
            .iter()
            .any(|o| o["requestId"] == request)
    );

    let (status, _, _) = sim
        .call(
            Method::DELETE,
            &format!("/timeoff/employees/{employee}/requests/{request}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sim.handle.time_off_status(request).as_deref(),
        Some("canceled")
    );
    let since = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, changes, _) = sim
        .call(
            Method::GET,
            &format!(
                "/timeoff/requests/changes?since={}&includePending=true",
                url_encode(&since)
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changes}");
    check("/timeoff/requests/changes", "get", 200, &changes);
    let kinds: Vec<&str> = changes["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["requestId"] == request)
        .filter_map(|c| c["changeType"].as_str())
        .collect();
    assert_eq!(kinds, ["Pending", "Canceled"], "one entry per change");
    let (status, _, _) = sim
        .call(Method::GET, "/timeoff/requests/changes", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "since is required");

    let mut bad = body;
    bad["policyType"] = json!("Nope");
    let (status, _, _) = sim
        .call(
            Method::POST,
            &format!("/timeoff/employees/{employee}/requests"),
            Some(bad),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn service_users_authenticate_and_searches_are_limited_to_50_a_minute() {
    let sim = Sim::start(HiBobConfig {
        employees: 20,
        ..HiBobConfig::default()
    })
    .await;
    let url = format!("{}/people/search", sim.base);
    for auth in [None, Some((USER, "wrong")), Some(("SERVICE-1", TOKEN))] {
        let mut request = sim.client.post(&url).json(&json!({}));
        if let Some((user, token)) = auth {
            request = request.basic_auth(user, Some(token));
        }
        let response = request.send().await.expect("answers");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
    }
    let mut statuses = BTreeSet::new();
    for n in 0..50 {
        let (status, _, headers) = sim
            .call(
                Method::POST,
                "/people/search",
                Some(json!({"fields": ["root.id"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "search {n}");
        statuses.insert(
            headers["x-ratelimit-remaining"]
                .to_str()
                .expect("text")
                .to_owned(),
        );
    }
    assert!(
        statuses.contains("0"),
        "the 50th search leaves nothing: {statuses:?}"
    );
    let (status, body, headers) = sim
        .call(Method::POST, "/people/search", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(headers["x-ratelimit-limit"], "50");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    let reset: u64 = headers["x-ratelimit-reset"]
        .to_str()
        .expect("text")
        .parse()
        .expect("epoch seconds");
    let now = chrono::Utc::now().timestamp() as u64;
    assert!(reset > now && reset <= now + 61, "{reset} vs {now}");
    // Other endpoints count apart.
    let (status, _, _) = sim.call(Method::GET, "/company/people/fields", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn hours_are_submitted_on_one_day_of_a_type_measured_in_hours() {
    let sim = Sim::start(small()).await;
    let employee = sim.handle.active_ids()[3].clone();
    let path = format!("/timeoff/employees/{employee}/requests");
    let hours = |policy: &str, end: &str| {
        json!({"requestRangeType": "hours", "policyType": policy, "startDate": "2027-01-12",
            "endDate": end, "hours": 2, "minutes": 30, "skipManagerApproval": true})
    };
    let (status, created, _) = sim
        .call(Method::POST, &path, Some(hours("Overtime", "2027-01-12")))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "approved");
    let request = created["requestId"].as_u64().expect("an id");
    let (status, read, _) = sim
        .call(Method::GET, &format!("{path}/{request}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    check(
        "/timeoff/employees/{id}/requests/{requestId}",
        "get",
        200,
        &read,
    );
    assert_eq!(read["type"], "hours", "{read}");
    assert_eq!(read["date"], "2027-01-12", "{read}");
    assert_eq!(read["hoursOnDate"], 2, "{read}");
    assert_eq!(read["durationUnit"], "hours", "{read}");
    assert_eq!(read["totalDuration"], 2.5, "{read}");

    // Hourly requests are among who is out only when asked for.
    let whosout = "/timeoff/whosout?from=2027-01-12&to=2027-01-12";
    let (_, without, _) = sim.call(Method::GET, whosout, None).await;
    assert!(
        !without["outs"]
            .as_array()
            .expect("outs")
            .iter()
            .any(|o| o["requestId"] == request),
        "{without}"
    );
    let (status, with, _) = sim
        .call(Method::GET, &format!("{whosout}&includeHourly=true"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    check("/timeoff/whosout", "get", 200, &with);
    let out = with["outs"]
        .as_array()
        .expect("outs")
        .iter()
        .find(|o| o["requestId"] == request)
        .expect("listed with includeHourly");
    assert_eq!(
        (out["hours"].clone(), out["minutes"].clone()),
        (json!(2), json!(30))
    );

    // Several days, a type measured in days, or no minutes: refused.
    for body in [
        hours("Overtime", "2027-01-13"),
        hours("Holiday", "2027-01-12"),
        json!({"requestRangeType": "hours", "policyType": "Overtime", "startDate": "2027-01-14",
            "endDate": "2027-01-14", "hours": 2}),
    ] {
        let (status, refused, _) = sim.call(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {refused}");
    }
}
