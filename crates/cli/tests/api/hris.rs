//! The unified HRIS category end to end on BambooHR (issue 18): employees listed through the
//! cursor-paged list and per-employee reads, terminated employees kept with their status, custom
//! fields, sensitive fields withheld unless asked for and allowed, job and pay history, time
//! off read and written, vendor errors as problem+json, and a sync whose change feed shows a
//! termination as an update and a deletion as a tombstone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cli::demo::Options;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::{SYNC_JOB_KIND, SyncDelays, SyncHandler};
use simulators::bamboohr::BambooHr;
use simulators::{Entry, Fault, FaultKind, Tweaks};
use store::{ChangeKind, ConnectionId, NewJob, timestamp};

use crate::helpers::{TestApp, spawn_app, spawn_app_with, unique_ids};
use crate::sync::run_handler_once;

const PROVIDER: &str = "bamboohr";

fn employees_path(app: &TestApp, query: &str) -> String {
    format!(
        "/unified/hris/employees?connection_id={}{query}",
        app.connection(PROVIDER)
    )
}

#[tokio::test]
async fn every_employee_is_listed_once_terminated_ones_kept_with_their_status() {
    let app = spawn_app().await;
    let vendor_ids: BTreeSet<String> = app
        .handle::<BambooHr>()
        .ids("employees")
        .into_iter()
        .collect();
    assert!(vendor_ids.len() > 25, "several pages");
    let employees = app
        .walk_category(PROVIDER, "hris", "employees", "", 25)
        .await;
    assert_eq!(unique_ids(&employees), vendor_ids);

    let terminated: Vec<&Value> = employees
        .iter()
        .filter(|employee| employee["employment_status"] == "TERMINATED")
        .collect();
    assert!(!terminated.is_empty(), "the seed has terminated employees");
    for employee in &terminated {
        assert_eq!(
            employee["employment_status_raw"], "Terminated",
            "{employee}"
        );
        assert!(employee["termination_date"].is_string(), "{employee}");
        assert_eq!(employee["remote_deleted"], false);
    }
    // Custom fields by their snake-case names, from `/meta/fields`.
    assert!(
        employees
            .iter()
            .all(|employee| employee["custom_fields"]["shirt_size"].is_string()),
        "{}",
        employees[0]
    );
    // Sensitive fields are withheld unless asked for.
    assert!(
        employees
            .iter()
            .all(|employee| employee["date_of_birth"].is_null()
                && employee["national_ids"] == json!([])
                && employee["home_address"].is_null())
    );
    assert!(
        employees
            .iter()
            .any(|employee| employee["work_email"].is_string())
    );
}

#[tokio::test]
async fn the_employment_status_filter_is_exact() {
    let app = spawn_app().await;
    let all = app
        .walk_category(PROVIDER, "hris", "employees", "", 50)
        .await;
    for status in ["ACTIVE", "TERMINATED"] {
        let filtered = app
            .walk_category(
                PROVIDER,
                "hris",
                "employees",
                &format!("&employment_status={status}"),
                50,
            )
            .await;
        let expected: BTreeSet<String> = all
            .iter()
            .filter(|employee| employee["employment_status"] == status)
            .map(|employee| employee["id"].as_str().expect("id").to_owned())
            .collect();
        assert!(!expected.is_empty(), "{status}");
        assert_eq!(unique_ids(&filtered), expected, "{status}");
    }
}

#[tokio::test]
async fn sensitive_fields_come_only_when_asked_for_and_allowed() {
    let app = spawn_app().await;
    let (status, body) = app
        .get(&employees_path(
            &app,
            "&page_size=3&include=sensitive_fields",
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let employee = &body["results"][0];
    assert!(employee["date_of_birth"].is_string(), "{employee}");
    assert_eq!(employee["national_ids"][0]["type"], "ssn", "{employee}");
    assert!(employee["home_address"]["city"].is_string(), "{employee}");

    // The raw record would carry them: it needs them asked for too.
    let (status, problem) = app
        .get(&employees_path(&app, "&page_size=3&include=remote_data"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "include", "{problem}");

    // A connection that does not allow them refuses the ask, naming `include`.
    let (status, created) = app
        .call(
            Method::POST,
            "/connections",
            Some(json!({"provider": PROVIDER, "auth_scheme": "api_key",
                "fields": {"company_domain": "efficientoffice", "api_key": "k"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let connection = created["id"].as_str().expect("id");
    let (status, problem) = app
        .get(&format!(
            "/unified/hris/employees?connection_id={connection}&include=sensitive_fields"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "include", "{problem}");
}

/// Employees name their location, and the locations list gives its id: with more locations
/// than a page of `/hris/org/locations` (500) and the employees' ones past the first page,
/// every employee still has its location's id, listed and read alone (the join read only the
/// first page).
#[tokio::test]
async fn employees_find_their_location_past_the_first_page_of_locations() {
    let app = spawn_app_with(Options {
        registry: vec![Entry::of::<BambooHr>()],
        tweaks: Tweaks::default().with::<BambooHr>(|config| {
            config.extra_locations = 600;
            config.employees = 30;
        }),
        ..Options::tests()
    })
    .await;
    let locations = app
        .walk_category(PROVIDER, "hris", "locations", "", 100)
        .await;
    assert!(locations.len() > 600, "{} locations", locations.len());
    let by_name: BTreeMap<&str, &str> = locations
        .iter()
        .map(|location| {
            (
                location["name"].as_str().expect("a name"),
                location["id"].as_str().expect("an id"),
            )
        })
        .collect();
    let employees = app
        .walk_category(PROVIDER, "hris", "employees", "", 50)
        .await;
    let placed: Vec<&Value> = employees
        .iter()
        .filter(|employee| employee["work_location"].is_string())
        .collect();
    assert!(placed.len() * 2 > employees.len(), "{employees:?}");
    for employee in &placed {
        let name = employee["work_location"].as_str().expect("a name");
        let id = by_name.get(name).copied();
        assert!(id.is_some(), "{name} is listed");
        assert_eq!(employee["work_location_id"].as_str(), id, "{employee}");
    }
    let (status, read) = app
        .get(&format!(
            "/unified/hris/employees/{}?connection_id={}",
            placed[0]["remote_id"].as_str().expect("id"),
            app.connection(PROVIDER)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["work_location_id"], placed[0]["work_location_id"]);
}

/// The locations list the employees join with (`all_pages`) is read once for a walk of the
/// employees and the reads right after it, not again for every page and read (a short-lived
/// cache per connection, dropped when a write goes through the connection).
#[tokio::test]
async fn a_walk_reads_the_joined_locations_once() {
    let app = spawn_app_with(Options {
        registry: vec![Entry::of::<BambooHr>()],
        tweaks: Tweaks::default().with::<BambooHr>(|config| {
            config.employees = 30;
        }),
        ..Options::tests()
    })
    .await;
    // The walk counts calls, not time: a busy machine's slow debug-build evaluations must not
    // turn records into item errors (the default limit is a second per evaluation).
    let response = app
        .client
        .put(app.url("/environment/limits"))
        .bearer_auth(&app.demo.api_key)
        .json(&serde_json::json!({"timeout_ms": 10_000}))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let location_calls = |app: &crate::helpers::TestApp| {
        app.simulator(PROVIDER)
            .requests()
            .counts()
            .get("GET /api/v1/hris/org/locations")
            .copied()
            .unwrap_or(0)
    };
    let employees = app
        .walk_category(PROVIDER, "hris", "employees", "", 5)
        .await;
    assert!(employees.len() > 10, "several pages: {}", employees.len());
    // One page of locations: one call for the whole walk (one a page without the cache).
    assert_eq!(location_calls(&app), 1);
    let (status, read) = app
        .get(&format!(
            "/unified/hris/employees/{}?connection_id={}",
            employees[0]["remote_id"].as_str().expect("id"),
            app.connection(PROVIDER)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(location_calls(&app), 1);
}

#[tokio::test]
async fn job_and_pay_history_and_time_off_are_listed() {
    let app = spawn_app().await;
    let employments = app
        .walk_category(PROVIDER, "hris", "employments", "", 100)
        .await;
    assert!(!employments.is_empty());
    let promoted: Vec<&Value> = employments
        .iter()
        .filter(|row| row["end_date"].is_string())
        .collect();
    assert!(!promoted.is_empty(), "some employees hold a past job");
    for row in &promoted {
        assert_eq!(row["is_current"], false, "{row}");
        let later = employments.iter().find(|other| {
            other["employee_id"] == row["employee_id"] && other["effective_date"] == row["end_date"]
        });
        assert!(later.is_some(), "the job after {row}");
    }

    let (status, pay) = app
        .get(&format!(
            "/unified/hris/compensations?connection_id={}&page_size=100&include=sensitive_fields",
            app.connection(PROVIDER)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{pay}");
    let first = &pay["results"][0];
    assert!(
        first["amount"]["amount"]
            .as_str()
            .is_some_and(|amount| amount.contains('.')),
        "money is a decimal string: {first}"
    );
    assert_eq!(first["amount"]["currency"], "USD");
    assert!(
        first["pay_period"].is_string() && first["pay_frequency"] == "SEMIMONTHLY",
        "{first}"
    );
    let (_, withheld) = app
        .get(&format!(
            "/unified/hris/compensations?connection_id={}&page_size=5",
            app.connection(PROVIDER)
        ))
        .await;
    assert!(withheld["results"][0]["amount"].is_null(), "{withheld}");

    let (status, policies) = app
        .get(&format!(
            "/unified/hris/time_off_policies?connection_id={}",
            app.connection(PROVIDER)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{policies}");
    assert!(
        policies["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|policy| policy["type"] == "VACATION" && policy["unit"] == "HOURS")
    );
}

#[tokio::test]
async fn time_off_requests_are_written_read_and_decided() {
    let app = spawn_app().await;
    let connection = app.connection(PROVIDER);
    let employee = app.handle::<BambooHr>().ids("employees")[3].clone();
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/hris/time_off_requests?connection_id={connection}"),
            Some(
                json!({"employee_id": employee, "policy_id": "77", "start_date": "2026-12-21",
                "end_date": "2026-12-23", "amount": "3", "employee_note": "Holidays"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "REQUESTED", "{created}");
    assert_eq!(created["request_type"], "BEREAVEMENT", "{created}");
    assert_eq!(created["amount"], "3", "{created}");
    assert_eq!(created["units"], "DAYS", "{created}");
    let id = created["id"].as_str().expect("id");

    let (status, decided) = app
        .call(
            Method::PATCH,
            &format!("/unified/hris/time_off_requests/{id}?connection_id={connection}"),
            Some(json!({"status": "APPROVED", "approver_note": "Enjoy"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "APPROVED", "{decided}");
    assert_eq!(decided["approver_note"], "Enjoy", "{decided}");

    let (status, listed) = app
        .get(&format!(
            "/unified/hris/time_off_requests?connection_id={connection}&employee_id={employee}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let results = listed["results"].as_array().expect("results");
    assert!(
        results
            .iter()
            .all(|request| request["employee_id"] == employee.as_str())
    );
    assert!(results.iter().any(|request| request["id"] == id));

    // A request without the employee is refused naming the field, before any vendor call.
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/unified/hris/time_off_requests?connection_id={connection}"),
            Some(json!({"policy_id": "77", "start_date": "2026-12-21", "end_date": "2026-12-23"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
}

#[tokio::test]
async fn employees_are_created_updated_and_terminated() {
    let app = spawn_app().await;
    let connection = app.connection(PROVIDER);
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/hris/employees?connection_id={connection}"),
            Some(json!({"first_name": "Ada", "last_name": "Lovelace", "work_email": "ada@efficientoffice.com",
                "hire_date": "2026-11-02", "job_title": "Analyst", "custom_fields": {"shirt_size": "M"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let stored = app
        .handle::<BambooHr>()
        .employee(&id)
        .expect("created at the vendor");
    assert_eq!(
        stored["customShirtsize"], "M",
        "written to the vendor: {stored:?}"
    );
    assert_eq!(stored["supervisorEId"], Value::Null, "{stored:?}");
    assert_eq!(created["manager_id"], Value::Null, "{created}");
    assert_eq!(created["employment_status"], "ACTIVE", "{created}");
    assert_eq!(created["custom_fields"]["shirt_size"], "M", "{created}");
    assert_eq!(created["hire_date"], "2026-11-02");

    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/unified/hris/employees/{id}?connection_id={connection}"),
            Some(json!({"employment_status": "TERMINATED", "termination_date": "2026-12-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["employment_status"], "TERMINATED", "{updated}");
    assert_eq!(updated["termination_date"], "2026-12-01", "{updated}");
    assert_eq!(updated["first_name"], "Ada", "{updated}");
    let stored = app.handle::<BambooHr>().employee(&id).expect("still there");
    assert_eq!(stored["status"], "Inactive");

    // A field BambooHR has no place for is refused naming it.
    let (status, problem) = app
        .call(
            Method::PATCH,
            &format!("/unified/hris/employees/{id}?connection_id={connection}"),
            Some(json!({"avatar_url": "https://example.com/a.png"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
}

#[tokio::test]
async fn vendor_errors_are_problems() {
    let app = spawn_app().await;
    let connection = app.connection(PROVIDER);
    let response = app
        .client
        .get(app.url(&format!(
            "/unified/hris/employees/999999?connection_id={connection}"
        )))
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "not_found", "{problem}");

    // Throttles, as 429 + Retry-After and as the 503 + Retry-After of before, are retried.
    for status in [429, 503] {
        app.simulator(PROVIDER).faults().push(Fault {
            kind: FaultKind::Status { status, body: None },
            path_prefix: Some("/api/v1/employees".to_owned()),
            times: 1,
        });
        let (answered, body) = app.get(&employees_path(&app, "&page_size=2")).await;
        assert!(
            answered == StatusCode::OK || body["type"].is_string(),
            "{status}: {answered} {body}"
        );
    }
    app.simulator(PROVIDER).faults().push(Fault {
        kind: FaultKind::Throttle {
            retry_after_secs: Some(1),
        },
        path_prefix: Some("/api/v1/employees".to_owned()),
        times: 1,
    });
    let (answered, body) = app.get(&employees_path(&app, "&page_size=2")).await;
    assert_eq!(answered, StatusCode::OK, "a throttle is waited out: {body}");
}

#[tokio::test]
async fn a_sync_shows_a_termination_as_an_update_and_a_deletion_as_a_tombstone() {
    let app = spawn_app().await;
    let connection = ConnectionId::parse(&app.connection(PROVIDER)).expect("id");
    let environment_id = app
        .demo
        .store
        .get_connection_by_id(&connection)
        .await
        .expect("connection")
        .environment_id;
    let run = || async {
        let (job, _) = app
            .demo
            .store
            .enqueue_job(NewJob {
                environment_id: environment_id.clone(),
                connection_id: Some(connection.clone()),
                kind: SYNC_JOB_KIND.to_owned(),
                key: Some(format!("sync:{connection}:hris.employees")),
                payload: json!({"connection_id": connection.to_string(), "object": "hris.employees"}),
                run_at: timestamp::now(),
                max_attempts: 3,
            })
            .await
            .expect("enqueue");
        let (report, _) = run_handler_once(
            &app,
            SyncHandler::new(app.demo.state.operations.clone(), 25).with_delays(SyncDelays {
                retry_base: Duration::ZERO,
                quota_spent: Duration::ZERO,
            }),
        )
        .await;
        assert_eq!(report.finished, 1, "{report:?}");
        let job = app
            .demo
            .store
            .get_job(&environment_id, &job.id)
            .await
            .expect("job");
        assert_eq!(job.status, store::JobStatus::Done, "{job:?}");
    };
    run().await;
    let vendor = app.handle::<BambooHr>();
    let stored: BTreeSet<String> = app
        .demo
        .store
        .list_synced_records(
            &environment_id,
            &connection,
            "hris.employees",
            None,
            false,
            10_000,
        )
        .await
        .expect("records")
        .into_iter()
        .map(|record| record.remote_id)
        .collect();
    assert_eq!(stored, vendor.ids("employees").into_iter().collect());

    let active = vendor.active_ids();
    let (leaver, gone) = (active[2].clone(), active[5].clone());
    assert!(vendor.terminate(&leaver));
    assert!(vendor.delete(&gone));
    let seen_before = app
        .demo
        .store
        .list_changes(&environment_id, 0, Some(&connection), 100_000)
        .await
        .expect("changes")
        .last()
        .map_or(0, |change| change.seq);
    run().await;
    let changes = app
        .demo
        .store
        .list_changes(&environment_id, seen_before, Some(&connection), 100_000)
        .await
        .expect("changes");
    let of = |id: &str| -> Vec<&store::Change> {
        changes
            .iter()
            .filter(|change| change.remote_id == id)
            .collect()
    };
    let leaver_changes = of(&leaver);
    assert_eq!(leaver_changes.len(), 1, "{changes:?}");
    assert_eq!(leaver_changes[0].kind, ChangeKind::Updated);
    let record = leaver_changes[0]
        .record
        .as_ref()
        .expect("an update carries the record");
    assert_eq!(record["employment_status"], "TERMINATED", "{record}");
    let gone_changes = of(&gone);
    assert_eq!(gone_changes.len(), 1, "{changes:?}");
    assert_eq!(gone_changes[0].kind, ChangeKind::Deleted);
    assert!(gone_changes[0].record.is_none(), "a tombstone");
    assert_eq!(
        changes.len(),
        2,
        "nothing else changed: {:?}",
        changes
            .iter()
            .map(|c| (&c.remote_id, c.kind))
            .collect::<Vec<_>>()
    );
}
