//! The Personio simulator against the stored OpenAPI descriptions
//! (`shared/vendor-specs/personio`, OpenAPI 3.0) and the answers the live API gave
//! (`shared/recorded-payloads/personio`): each checked answer is validated against the response
//! schema the description gives for its path, method and status. Where the description is
//! stricter than the live API the case is in [`spec_strict`] with its reason; everything else
//! must validate. Also: the 24-hour token, offsets that mean records on one endpoint and pages
//! on another, `updated_since`, writes, balances and the 300-a-minute limits.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use reqwest::StatusCode;
use serde_json::{Value, json};
use simulators::RunningSimulator;
use simulators::personio::{PersonioConfig, PersonioHandle, spawn};

const CLIENT_ID: &str = "personio-sim-client";
const CLIENT_SECRET: &str = "personio-sim-secret";

fn shared_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("../../../shared"),
        manifest.join("../../shared"),
    ]
    .into_iter()
    .find(|dir| dir.join("vendor-specs/personio").exists())
    .expect("the shared folder with vendor-specs/personio")
}

fn load_spec(name: &str) -> Value {
    let text = std::fs::read_to_string(shared_dir().join("vendor-specs/personio").join(name))
        .expect("the spec reads");
    serde_yaml_ng::from_str(&text).expect("the spec is YAML")
}

fn personnel_spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| load_spec("personio-personnel-data-api-oa3.yaml"))
}

fn auth_spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| load_spec("personio-auth-api.yaml"))
}

/// Where the description is stricter than the live API (or than itself).
fn spec_strict(instance: &Value, schema_path: &str, instance_path: &str, message: &str) -> bool {
    // The shared `Response` base types `data` as an object, which every list's own
    // `data: array` contradicts (Prism reports the same on the description's own example).
    (schema_path == "/components/schemas/Response/properties/data/type" && instance.is_array())
        // Relations, dates and the supervisor are null when unset in every recorded answer
        // (`"subcompany": {"value": null}`, `"supervisor": {"value": null}`); the description
        // types them without `nullable`.
        || (instance.is_null() && schema_path.ends_with("/type"))
        // Half days are 0/1 in the recorded time-off answers; the description says booleans.
        || ((instance_path.ends_with("/half_day_start") || instance_path.ends_with("/half_day_end"))
            && (instance == &json!(0) || instance == &json!(1)))
        // The recorded time-off answers carry `current_page` and `total_pages` only; the
        // description requires `total_elements` too.
        || (instance_path.ends_with("/metadata") && message.contains("total_elements"))
        // An hourly period's `absence_type` is a relation, `{type, attributes: {id, name,
        // time_off_type_id}}`, in the description's own example answers (as every relation
        // of v1 is); its schema (`AbsenceType`) puts the id at the top.
        || (schema_path == "/components/schemas/AbsenceType/required"
            && instance["attributes"]["id"].is_string())
}

/// Validates `instance` against the schema of `path` / `method` / `status` in `spec`.
fn check_in(spec: &Value, path: &str, method: &str, status: u16, instance: &Value) {
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
        .with_draft(jsonschema::Draft::Draft4)
        .build(&root)
        .expect("the schema compiles");
    let violations: Vec<String> = validator
        .iter_errors(instance)
        .filter(|error| {
            !spec_strict(
                error.instance(),
                &error.schema_path().to_string(),
                &error.instance_path().to_string(),
                &error.to_string(),
            )
        })
        .map(|error| {
            let mut text = error.to_string();
            text.truncate(200);
            format!(
                "{text} at {} ({})",
                error.instance_path(),
                error.schema_path()
            )
        })
        .collect();
    assert!(
        violations.is_empty(),
        "{method} {path} {status}: {violations:#?}"
    );
}

fn check(path: &str, method: &str, status: u16, instance: &Value) {
    check_in(personnel_spec(), path, method, status, instance);
}

fn recorded(name: &str) -> Value {
    let text = std::fs::read_to_string(shared_dir().join("recorded-payloads/personio").join(name))
        .expect("the recording reads");
    serde_json::from_str(&text).expect("the recording is JSON")
}

async fn start(config: PersonioConfig) -> (RunningSimulator, PersonioHandle) {
    spawn(config, "127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("the simulator starts")
}

fn small() -> PersonioConfig {
    PersonioConfig {
        employees: 40,
        requests_per_minute: 1_000_000,
        auth_requests_per_minute: 1_000_000,
        ..PersonioConfig::default()
    }
}

async fn token(running: &RunningSimulator) -> String {
    let (status, body) = call(
        running,
        reqwest::Method::POST,
        "/v1/auth",
        None,
        Some(json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["token"].as_str().expect("a token").to_owned()
}

async fn call(
    running: &RunningSimulator,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    json_body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", running.base_url))
        .header("Accept", "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = json_body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(running: &RunningSimulator, token: &str, path: &str) -> (StatusCode, Value) {
    call(running, reqwest::Method::GET, path, Some(token), None).await
}

async fn post_form(
    running: &RunningSimulator,
    token: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", running.base_url))
        .bearer_auth(token)
        .form(form)
        .send()
        .await
        .expect("answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn attribute<'a>(employee: &'a Value, name: &str) -> &'a Value {
    &employee["attributes"][name]["value"]
}

#[tokio::test]
async fn the_schema_check_agrees_with_the_recorded_answers() {
    // The allow-list is what the live API does: the recordings pass with it.
    check(
        "/company/employees",
        "get",
        200,
        &recorded("company_employees_list_3_assembled.json"),
    );
    check(
        "/company/employees/{employee_id}",
        "get",
        200,
        &recorded("company_employee_get_2040614.json"),
    );
    check(
        "/company/time-offs",
        "get",
        200,
        &recorded("company_time_offs_employee_2116365.json"),
    );
    check(
        "/company/time-off-types",
        "get",
        200,
        &recorded("company_time_off_types.json"),
    );
}

#[tokio::test]
async fn the_token_lives_24_hours_comes_back_on_answers_and_is_required() {
    let (running, handle) = start(small()).await;
    let first = token(&running).await;
    assert!(first.starts_with("papi-"), "{first}");
    let (status, answer) = call(
        &running,
        reqwest::Method::POST,
        "/v1/auth",
        None,
        Some(json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    check_in(auth_spec(), "/auth", "post", 200, &answer);
    assert_eq!(
        answer["data"]["token"],
        first.as_str(),
        "stable while it lives"
    );
    assert_eq!(answer["data"]["expires_in"], 86_400);
    // A form works as well as JSON.
    let form = reqwest::Client::new()
        .post(format!("{}/v1/auth", running.base_url))
        .form(&[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)])
        .send()
        .await
        .expect("answers");
    assert_eq!(form.status(), StatusCode::OK);
    assert_eq!(handle.tokens_issued(), 1);

    let (status, refused) = call(
        &running,
        reqwest::Method::POST,
        "/v1/auth",
        None,
        Some(json!({"client_id": CLIENT_ID, "client_secret": "wrong"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused["success"], false, "{refused}");
    assert!(refused["error"]["message"].is_string(), "{refused}");

    let (status, _) = call(
        &running,
        reqwest::Method::GET,
        "/v1/company/employees",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = reqwest::Client::new()
        .get(format!("{}/v1/company/employees?limit=1", running.base_url))
        .bearer_auth(&first)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["authorization"],
        format!("Bearer {first}").as_str(),
        "the token comes back on every answer"
    );

    // Once 24 hours have passed, the old token is refused and a new one is issued.
    handle.expire_token();
    let (status, expired) = get(&running, &first, "/v1/company/employees?limit=1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{expired}");
    let second = token(&running).await;
    assert_ne!(second, first);
    assert_eq!(handle.tokens_issued(), 2);
}

#[tokio::test]
async fn employee_offsets_count_records_and_updated_since_answers_all_at_once() {
    let (running, handle) = start(small()).await;
    let token = token(&running).await;
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let (status, page) = get(
            &running,
            &token,
            &format!("/v1/company/employees?limit=7&offset={offset}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        check("/company/employees", "get", 200, &page);
        assert_eq!(page["offset"], offset);
        assert_eq!(page["metadata"]["total_elements"], 40);
        assert_eq!(page["metadata"]["total_pages"], 6);
        let data = page["data"].as_array().expect("data");
        seen.extend(data.iter().map(|e| attribute(e, "id").to_string()));
        if data.len() < 7 {
            break;
        }
        offset += 7;
    }
    assert_eq!(seen, handle.ids("employees"), "each once, in id order");

    // `updated_since` ignores limit and offset: everything changed since, in one answer.
    let (_, all) = get(
        &running,
        &token,
        "/v1/company/employees?limit=3&offset=9&updated_since=1970-01-01",
    )
    .await;
    check("/company/employees", "get", 200, &all);
    assert_eq!(all["data"].as_array().expect("data").len(), 40);
    let leaver = handle.active_ids()[4].clone();
    assert!(handle.terminate(&leaver));
    let since = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let (_, changed) = get(
        &running,
        &token,
        &format!("/v1/company/employees?updated_since={since}"),
    )
    .await;
    let changed = changed["data"].as_array().expect("data").clone();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(attribute(&changed[0], "id").to_string(), leaver);
    assert_eq!(attribute(&changed[0], "status"), "inactive");
    assert!(attribute(&changed[0], "termination_date").is_string());

    // A projection keeps the id and the attributes asked for.
    let (_, projected) = get(
        &running,
        &token,
        "/v1/company/employees?limit=2&attributes[]=first_name&attributes[]=dynamic_33410",
    )
    .await;
    let keys: BTreeSet<&str> = projected["data"][0]["attributes"]
        .as_object()
        .expect("attributes")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["id", "first_name", "dynamic_33410"]));

    let (status, bad) = get(&running, &token, "/v1/company/employees?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["success"], false);
}

#[tokio::test]
async fn attributes_come_in_envelopes_with_dynamic_custom_ones() {
    let (running, _handle) = start(small()).await;
    let token = token(&running).await;
    let (_, page) = get(&running, &token, "/v1/company/employees?limit=40").await;
    for employee in page["data"].as_array().expect("data") {
        let shirt = &employee["attributes"]["dynamic_33410"];
        assert_eq!(shirt["label"], "T-Shirt size", "{employee}");
        assert_eq!(shirt["type"], "list");
        assert!(shirt["value"].is_string());
        assert_eq!(
            employee["attributes"]["dynamic_1146666"]["universal_id"],
            "date_of_birth"
        );
        assert_eq!(employee["attributes"]["fix_salary"]["currency"], "EUR");
    }
    let statuses: BTreeSet<String> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| attribute(e, "status").as_str().expect("status").to_owned())
        .collect();
    assert!(
        statuses.contains("active") && statuses.contains("inactive"),
        "{statuses:?}"
    );

    let (status, attributes) = get(&running, &token, "/v1/company/employees/attributes").await;
    assert_eq!(status, StatusCode::OK);
    let (_, alias) = get(&running, &token, "/v1/company/employees/custom-attributes").await;
    assert_eq!(attributes, alias);
    let shirt = attributes["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|def| def["key"] == "dynamic_33410")
        .expect("the custom list attribute");
    assert_eq!(shirt["options"], json!(["S", "M", "L", "XL"]));

    let (status, missing) = get(&running, &token, "/v1/company/employees/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check("/company/employees/{employee_id}", "get", 404, &missing);
}

#[tokio::test]
async fn employees_are_created_and_updated_as_the_description_says() {
    let (running, handle) = start(small()).await;
    let token = token(&running).await;
    let supervisor = handle.ids("employees")[0].clone();
    let (status, created) = call(
        &running,
        reqwest::Method::POST,
        "/v1/company/employees",
        Some(&token),
        Some(json!({"employee": {"email": "grace@demo.example", "first_name": "Grace",
            "last_name": "Hopper", "position": "Admiral", "department": "Engineering",
            "office": "Atlantis", "hire_date": "2020-01-06", "supervisor_id": supervisor.parse::<u64>().expect("id"),
            "custom_attributes": {"dynamic_33410": "M"}}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    check("/company/employees", "post", 200, &created);
    assert!(
        created["meta"][0]
            .as_str()
            .is_some_and(|note| note.contains("Atlantis")),
        "an unknown office is ignored with a note: {created}"
    );
    let id = created["data"]["id"].to_string();
    let (_, read) = get(&running, &token, &format!("/v1/company/employees/{id}")).await;
    check("/company/employees/{employee_id}", "get", 200, &read);
    let employee = &read["data"];
    assert_eq!(attribute(employee, "status"), "active", "a past hire date");
    assert_eq!(
        attribute(employee, "department")["attributes"]["name"],
        "Engineering"
    );
    assert_eq!(attribute(employee, "office"), &Value::Null);
    assert_eq!(attribute(employee, "dynamic_33410"), "M");
    assert_eq!(
        attribute(employee, "supervisor")["attributes"]["id"]["value"].to_string(),
        supervisor
    );

    let (status, updated) = call(
        &running,
        reqwest::Method::PATCH,
        &format!("/v1/company/employees/{id}"),
        Some(&token),
        Some(json!({"employee": {"position": "Rear Admiral", "email": "other@demo.example", "status": "leave"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    check("/company/employees/{employee_id}", "patch", 200, &updated);
    let stored = handle.employee(&id).expect("stored");
    assert_eq!(stored["position"], "Rear Admiral");
    assert_eq!(stored["status"], "leave");
    assert_eq!(
        stored["email"], "grace@demo.example",
        "the email cannot change"
    );

    for (body, message) in [
        (
            json!({"employee": {"first_name": "No", "last_name": "Mail"}}),
            "email",
        ),
        (
            json!({"employee": {"email": "x@demo.example", "first_name": "A", "last_name": "B", "supervisor_id": 1}}),
            "Supervisor with ID 1 not found",
        ),
        (
            json!({"employee": {"email": "grace@demo.example", "first_name": "A", "last_name": "B"}}),
            "taken",
        ),
    ] {
        let (status, refused) = call(
            &running,
            reqwest::Method::POST,
            "/v1/company/employees",
            Some(&token),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        check("/company/employees", "post", 422, &refused);
        assert!(
            refused["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(message)),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn time_off_offsets_are_page_numbers_and_periods_are_written_and_deleted() {
    let (running, handle) = start(small()).await;
    let token = token(&running).await;
    let (status, types) = get(
        &running,
        &token,
        "/v1/company/time-off-types?limit=2&offset=2",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    check("/company/time-off-types", "get", 200, &types);
    // A record offset here: the third and fourth types.
    assert_eq!(types["data"][0]["attributes"]["id"], 113439);

    let total = handle.ids("time-offs").len();
    assert!(total > 10, "the seed has time off: {total}");
    let mut seen = Vec::new();
    for page in 0.. {
        let (status, answer) = get(
            &running,
            &token,
            &format!("/v1/company/time-offs?limit=4&offset={page}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        check("/company/time-offs", "get", 200, &answer);
        assert_eq!(
            answer["metadata"]["current_page"],
            page + 1,
            "counted from 1"
        );
        let data = answer["data"].as_array().expect("data");
        seen.extend(data.iter().map(|p| p["attributes"]["id"].to_string()));
        if answer["metadata"]["current_page"] == answer["metadata"]["total_pages"] {
            break;
        }
    }
    assert_eq!(
        seen,
        handle.ids("time-offs"),
        "each page once, by page number"
    );

    let employee = handle.ids("employees")[2].clone();
    let (status, created) = post_form(
        &running,
        &token,
        "/v1/company/time-offs",
        &[
            ("employee_id", &employee),
            ("time_off_type_id", "113437"),
            ("start_date", "2027-03-01"),
            ("end_date", "2027-03-05"),
            ("half_day_start", "false"),
            ("half_day_end", "false"),
            ("skip_approval", "false"),
            ("comment", "Ski trip"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    // The create answer's schema wraps `AbsencePeriodResponse` in a second `data`, which the
    // description's own example does not: the read's schema is the answer's shape.
    check("/company/time-offs/{id}", "get", 200, &created);
    assert_eq!(created["data"]["attributes"]["status"], "pending");
    assert_eq!(created["data"]["attributes"]["days_count"], 5.0);
    let id = created["data"]["attributes"]["id"].to_string();
    let (_, mine) = get(
        &running,
        &token,
        &format!("/v1/company/time-offs?employees[]={employee}"),
    )
    .await;
    assert!(mine["data"].as_array().expect("data").iter().all(|p| {
        p["attributes"]["employee"]["attributes"]["id"]["value"]
            == employee.parse::<u64>().expect("an id")
    }));
    assert!(
        mine["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|p| p["attributes"]["id"] == id.parse::<u64>().expect("an id"))
    );

    let (status, overlap) = post_form(
        &running,
        &token,
        "/v1/company/time-offs",
        &[
            ("employee_id", &employee),
            ("time_off_type_id", "113437"),
            ("start_date", "2027-03-04"),
            ("end_date", "2027-03-08"),
            ("half_day_start", "false"),
            ("half_day_end", "false"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    check("/company/time-offs", "post", 400, &overlap);
    let (status, unknown) = post_form(
        &running,
        &token,
        "/v1/company/time-offs",
        &[
            ("employee_id", &employee),
            ("time_off_type_id", "1"),
            ("start_date", "2027-04-01"),
            ("end_date", "2027-04-01"),
            ("half_day_start", "false"),
            ("half_day_end", "false"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check("/company/time-offs", "post", 404, &unknown);
    let (status, invalid) = post_form(
        &running,
        &token,
        "/v1/company/time-offs",
        &[("employee_id", &employee)],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    check("/company/time-offs", "post", 422, &invalid);
    assert!(
        invalid["error"]["error_data"]["time_off_type_id"].is_array(),
        "{invalid}"
    );

    let (status, deleted) = call(
        &running,
        reqwest::Method::DELETE,
        &format!("/v1/company/time-offs/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    check("/company/time-offs/{id}", "delete", 200, &deleted);
    let (status, gone) = get(&running, &token, &format!("/v1/company/time-offs/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check("/company/time-offs/{id}", "get", 404, &gone);
}

#[tokio::test]
async fn hourly_absence_periods_page_by_record_offset_and_are_deleted() {
    let (running, handle) = start(small()).await;
    let token = token(&running).await;
    let all = handle.ids("absence-periods");
    assert!(all.len() > 5, "the seed has hourly time off: {}", all.len());
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let (status, answer) = get(
            &running,
            &token,
            &format!("/v1/company/absence-periods?limit=4&offset={offset}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        check("/company/absence-periods", "get", 200, &answer);
        let data = answer["data"].as_array().expect("data");
        for period in data {
            let attributes = &period["attributes"];
            assert_eq!(period["type"], "AbsencePeriod");
            assert_eq!(
                attributes["absence_type"]["attributes"]["time_off_type_id"],
                113441
            );
            // Minutes, and the days they fall on.
            let minutes = attributes["effective_duration"].as_i64().expect("minutes");
            let by_day: i64 = attributes["breakdowns"]
                .as_array()
                .expect("breakdowns")
                .iter()
                .map(|day| day["effective_duration"].as_i64().expect("minutes"))
                .sum();
            assert_eq!(minutes, by_day, "{period}");
            assert!([120, 180, 240].contains(&minutes), "{period}");
        }
        seen.extend(
            data.iter()
                .map(|p| p["attributes"]["id"].as_str().expect("id").to_owned()),
        );
        if data.len() < 4 {
            break;
        }
        // A record offset: the next page starts after the records read.
        offset += data.len();
    }
    assert_eq!(seen, all, "each period once, by record offset");

    let (status, one) = get(
        &running,
        &token,
        &format!("/v1/company/absence-periods?absence_periods[]={}", all[1]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["data"].as_array().map(Vec::len), Some(1), "{one}");
    assert_eq!(one["data"][0]["attributes"]["id"], all[1].as_str());

    let (status, deleted) = call(
        &running,
        reqwest::Method::DELETE,
        &format!("/v1/company/absence-periods/{}", all[1]),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    check("/company/absence-periods/{id}", "delete", 200, &deleted);
    assert!(!handle.ids("absence-periods").contains(&all[1]));
    let (status, gone) = call(
        &running,
        reqwest::Method::DELETE,
        &format!("/v1/company/absence-periods/{}", all[1]),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check("/company/absence-periods/{id}", "delete", 404, &gone);
    let (status, invalid) = call(
        &running,
        reqwest::Method::DELETE,
        "/v1/company/absence-periods/17205901",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    check("/company/absence-periods/{id}", "delete", 400, &invalid);
}

#[tokio::test]
async fn balances_are_the_entitlement_less_approved_days() {
    let (running, handle) = start(small()).await;
    let token = token(&running).await;
    let employee = handle.ids("employees")[5].clone();
    let (status, created) = post_form(
        &running,
        &token,
        "/v1/company/time-offs",
        &[
            ("employee_id", &employee),
            ("time_off_type_id", "113437"),
            ("start_date", "2027-06-07"),
            ("end_date", "2027-06-08"),
            ("half_day_start", "false"),
            ("half_day_end", "false"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(
        created["data"]["attributes"]["status"], "approved",
        "skip_approval defaults to true"
    );
    let (status, balance) = get(
        &running,
        &token,
        &format!("/v1/company/employees/{employee}/absences/balance"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{balance}");
    check(
        "/company/employees/{employee_id}/absences/balance",
        "get",
        200,
        &balance,
    );
    let (_, periods) = get(
        &running,
        &token,
        &format!("/v1/company/time-offs?employees[]={employee}"),
    )
    .await;
    let taken: f64 = periods["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|p| {
            p["attributes"]["status"] == "approved"
                && p["attributes"]["time_off_type"]["attributes"]["id"] == 113437
        })
        .map(|p| p["attributes"]["days_count"].as_f64().expect("days"))
        .sum();
    let vacation = balance["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|b| b["id"] == 113437)
        .expect("vacation");
    assert_eq!(vacation["balance"].as_f64(), Some(24.0 - taken));
}

#[tokio::test]
async fn employees_absences_and_balances_allow_a_budget_a_minute() {
    let (running, handle) = start(PersonioConfig {
        employees: 10,
        requests_per_minute: 3,
        ..PersonioConfig::default()
    })
    .await;
    let token = token(&running).await;
    for _ in 0..3 {
        let (status, _) = get(&running, &token, "/v1/company/employees?limit=1").await;
        assert_eq!(status, StatusCode::OK);
    }
    let response = reqwest::Client::new()
        .get(format!("{}/v1/company/employees?limit=1", running.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], 429);
    // Each group has its own budget; the types are not limited.
    let (status, _) = get(&running, &token, "/v1/company/time-offs?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&running, &token, "/v1/company/time-off-types").await;
    assert_eq!(status, StatusCode::OK);
    let employee = handle.ids("employees")[0].clone();
    let (status, _) = get(
        &running,
        &token,
        &format!("/v1/company/employees/{employee}/absences/balance"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn hourly_absence_periods_are_created_within_a_day_or_over_whole_days() {
    let (running, handle) = start(small()).await;
    let token = token(&running).await;
    let employee = handle.active_ids()[1].clone();
    let before = handle.ids("absence-periods").len();
    let (status, within) = post_form(
        &running,
        &token,
        "/v1/company/absence-periods",
        &[
            ("employee_id", &employee),
            ("time_off_type_id", "113441"),
            ("start_date", "2027-06-01"),
            ("end_date", "2027-06-01"),
            ("start_time", "09:00"),
            ("end_time", "11:30"),
            ("comment", "Dentist"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{within}");
    // The 201 schema wraps `HourlyAbsencePeriodResponse` (success, data) in a second `data`,
    // and its example gives `data` as a one-item array: the answer is checked as that inner
    // response (`data` one period), the connector reads an array too.
    check(
        "/company/absence-periods",
        "post",
        201,
        &json!({"data": within}),
    );
    let attributes = &within["data"]["attributes"];
    assert_eq!(attributes["effective_duration"], 150, "{within}");
    assert_eq!(attributes["start"], "2027-06-01T09:00:00+01:00", "{within}");
    assert_eq!(
        attributes["breakdowns"],
        json!([{"date": "2027-06-01", "effective_duration": 150}])
    );
    assert_eq!(attributes["comment"], "Dentist");
    // The type needs no approval: approved whatever `skip_approval` says.
    assert_eq!(attributes["status"], "approved");

    let (status, days) = post_form(
        &running,
        &token,
        "/v1/company/absence-periods",
        &[
            ("employee_id", &employee),
            ("time_off_type_id", "113441"),
            ("start_date", "2027-06-07"),
            ("end_date", "2027-06-08"),
            ("half_day_start", "false"),
            ("half_day_end", "true"),
            ("skip_approval", "false"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{days}");
    check(
        "/company/absence-periods",
        "post",
        201,
        &json!({"data": days}),
    );
    let attributes = &days["data"]["attributes"];
    assert_eq!(attributes["effective_duration"], 720, "{days}");
    assert_eq!(attributes["half_day_end"], true, "{days}");
    assert_eq!(
        attributes["breakdowns"],
        json!([{"date": "2027-06-07", "effective_duration": 480}, {"date": "2027-06-08", "effective_duration": 240}])
    );
    assert_eq!(handle.ids("absence-periods").len(), before + 2);
    let id = attributes["id"].as_str().expect("a UUID").to_owned();
    let (_, listed) = get(
        &running,
        &token,
        &format!("/v1/company/absence-periods?absence_periods[]={id}"),
    )
    .await;
    assert_eq!(listed["data"][0]["attributes"]["effective_duration"], 720);

    // One day needs its times; a day-based type is not hourly; overlaps are refused.
    let (status, untimed) = post_form(
        &running,
        &token,
        "/v1/company/absence-periods",
        &[
            ("employee_id", &employee),
            ("time_off_type_id", "113441"),
            ("start_date", "2027-06-10"),
            ("end_date", "2027-06-10"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{untimed}");
    check("/company/absence-periods", "post", 422, &untimed);
    assert!(
        untimed["error"]["error_data"]["start_time"].is_array(),
        "{untimed}"
    );
    for (type_id, start, end) in [
        ("113437", "2027-06-14", "2027-06-15"),
        ("113441", "2027-06-08", "2027-06-09"),
    ] {
        let (status, refused) = post_form(
            &running,
            &token,
            "/v1/company/absence-periods",
            &[
                ("employee_id", &employee),
                ("time_off_type_id", type_id),
                ("start_date", start),
                ("end_date", end),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{type_id}: {refused}");
        check("/company/absence-periods", "post", 400, &refused);
    }
    assert_eq!(handle.ids("absence-periods").len(), before + 2);
}

/// The v2 facts kept beside these tests (`personio_v2_compensations.json`: where each came
/// from, and what is assumed).
fn v2_spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("personio_v2_compensations.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("the fragment reads"))
            .expect("the fragment is JSON")
    })
}

async fn v2_token(running: &RunningSimulator) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v2/auth/token", running.base_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .expect("answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every row of one month, following `_meta.links.next.href`, each page checked against the
/// fragment.
async fn v2_month(running: &RunningSimulator, token: &str, query: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut path = format!("/v2/compensations?{query}");
    loop {
        let (status, page) = get(running, token, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        check_in(v2_spec(), "/v2/compensations", "get", 200, &page);
        rows.extend(page["_data"].as_array().expect("_data").iter().cloned());
        match page["_meta"]["links"]["next"]["href"].as_str() {
            Some(next) => {
                path = next
                    .strip_prefix(running.base_url.as_str())
                    .expect("a link on the simulator")
                    .to_owned();
            }
            None => return rows,
        }
    }
}

#[tokio::test]
async fn v2_tokens_and_compensations_answer_as_the_kept_description() {
    let (running, handle) = start(small()).await;
    let (status, answer) = v2_token(&running).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    check_in(v2_spec(), "/v2/auth/token", "post", 200, &answer);
    let v2 = answer["access_token"].as_str().expect("a token").to_owned();
    // Asked again while it lives: the same token; each version's token is its own.
    assert_eq!(v2_token(&running).await.1["access_token"], v2.as_str());
    assert_eq!(handle.v2_tokens_issued(), 1);
    let v1 = token(&running).await;
    assert_ne!(v1, v2);
    let (status, refused) = get(&running, &v1, "/v2/compensations").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a v1 token on v2: {refused}"
    );
    check_in(v2_spec(), "/v2/compensations", "get", 401, &refused);
    let (status, _) = get(&running, &v2, "/v1/company/employees?limit=1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a v2 token on v1");
    let response = reqwest::Client::new()
        .post(format!("{}/v2/auth/token", running.base_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    check_in(
        v2_spec(),
        "/v2/auth/token",
        "post",
        401,
        &response.json().await.expect("JSON"),
    );

    // At most a month per call; limit 1 to 100.
    for query in [
        "start_date=2025-01-01&end_date=2025-02-15",
        "start_date=2025-03-01&end_date=2025-01-01",
        "limit=101",
        "limit=0",
        "cursor=nonsense",
    ] {
        let (status, body) = get(&running, &v2, &format!("/v2/compensations?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        check_in(v2_spec(), "/v2/compensations", "get", 400, &body);
    }
    let (status, _) = get(
        &running,
        &v2,
        "/v2/compensations?start_date=2025-01-15&end_date=2025-02-15",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a month exactly");

    // A month, paged five rows at a time, is the same rows as in one page.
    let today = chrono::Utc::now().date_naive();
    let month = format!("start_date={}", today.format("%Y-%m-01"));
    let paged = v2_month(&running, &v2, &format!("{month}&limit=5")).await;
    let whole = v2_month(&running, &v2, &month).await;
    assert!(paged.len() > 5, "{}", paged.len());
    assert_eq!(paged, whole);
    let ids: BTreeSet<&str> = whole.iter().filter_map(|row| row["id"].as_str()).collect();
    assert_eq!(ids.len(), whole.len(), "a row once a month");
    // Each employee paid a fixed salary this month is paid what v1 says is their salary.
    let employees = handle.ids("employees");
    for row in whole
        .iter()
        .filter(|row| row["type"]["category"] == "FIXED")
    {
        let person = row["person"]["id"].as_str().expect("a person");
        assert!(employees.contains(&person.to_owned()), "{row}");
        let v1 = handle.employee(person).expect("an employee");
        if v1["termination_date"].is_null() {
            assert_eq!(row["value"].as_f64(), v1["fix_salary"].as_f64(), "{row}");
        }
    }
    let only = &employees[0];
    let one = v2_month(&running, &v2, &format!("{month}&person.id={only}")).await;
    assert!(one.iter().all(|row| row["person"]["id"] == only.as_str()));
}

#[tokio::test]
async fn v2_pay_history_has_raises_bonuses_and_hourly_rates_over_the_months() {
    let (running, _handle) = start(small()).await;
    let v2 = v2_token(&running).await.1["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let today = chrono::Utc::now().date_naive();
    let mut rows: Vec<Value> = Vec::new();
    for back in 0..36 {
        let first =
            chrono::Datelike::with_day(&today, 1).expect("a first day") - chrono::Months::new(back);
        rows.extend(v2_month(&running, &v2, &format!("start_date={first}")).await);
    }
    let mut by_id: std::collections::BTreeMap<String, Value> = Default::default();
    for row in rows {
        by_id.insert(row["id"].as_str().expect("id").to_owned(), row);
    }
    let category = |name: &'static str| {
        by_id
            .values()
            .filter(move |row| row["type"]["category"] == name)
    };
    assert!(category("HOURLY").count() > 0, "hourly workers");
    assert!(category("BONUS").count() > 0, "bonuses");
    // Some salary changed: one person with several fixed rows, later ones higher.
    let mut fixed: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
    for row in category("FIXED") {
        fixed
            .entry(row["person"]["id"].as_str().expect("person").to_owned())
            .or_default()
            .push(row);
    }
    let raised = fixed.values().find(|rows| rows.len() >= 3).expect("raises");
    let mut raised = raised.clone();
    raised.sort_by_key(|row| row["effective_from"].as_str().map(str::to_owned));
    for pair in raised.windows(2) {
        assert!(
            pair[0]["value"].as_f64() < pair[1]["value"].as_f64(),
            "{pair:?}"
        );
    }
}
