//! The unified HRIS category end to end on HiBob (issue 18): employees read by POSTing field
//! paths to `/people/search` (inactive ones asked for, terminated employees kept with their
//! status), custom fields from `/company/people/fields`, departments and sites as groups and
//! locations, work and salary history from the bulk tables, time off read, submitted and
//! cancelled, employees created, updated and terminated, vendor errors as problem+json, and a
//! sync whose change feed shows a termination as an update and a deletion as a tombstone.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::{SYNC_JOB_KIND, SyncDelays, SyncHandler};
use simulators::hibob::HiBob;
use simulators::{Fault, FaultKind};
use store::{ChangeKind, ConnectionId, NewJob, timestamp};

use crate::helpers::{TestApp, spawn_app, unique_ids};
use crate::sync::run_handler_once;

const PROVIDER: &str = "hibob";

fn path(app: &TestApp, object: &str, query: &str) -> String {
    format!(
        "/unified/hris/{object}?connection_id={}{query}",
        app.connection(PROVIDER)
    )
}

#[tokio::test]
async fn every_employee_is_listed_once_with_custom_fields_groups_and_locations() {
    let app = spawn_app().await;
    let vendor_ids: BTreeSet<String> = app.handle::<HiBob>().ids("employees").into_iter().collect();
    let employees = app
        .walk_category(PROVIDER, "hris", "employees", "", 25)
        .await;
    assert_eq!(
        unique_ids(&employees),
        vendor_ids,
        "terminated ones included"
    );

    // The search asked for inactive employees, by field path, custom fields included; the
    // body is what the description's request schema takes.
    let search = app
        .handle::<HiBob>()
        .last_search()
        .expect("a search was made");
    assert_eq!(search["showInactive"], true, "{search}");
    let fields: Vec<&str> = search["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        fields.contains(&"root.id") && fields.contains(&"work.custom.field_1711886937296"),
        "{fields:?}"
    );
    for key in search.as_object().expect("an object").keys() {
        assert!(
            ["fields", "filters", "showInactive", "humanReadable"].contains(&key.as_str()),
            "`{key}` is not in the description's ReadEmployeesRequest"
        );
    }

    let terminated: Vec<&Value> = employees
        .iter()
        .filter(|e| e["employment_status"] == "TERMINATED")
        .collect();
    assert!(!terminated.is_empty(), "the seed has leavers");
    for employee in &terminated {
        assert_eq!(
            employee["employment_status_raw"], "terminated",
            "{employee}"
        );
        assert!(employee["termination_date"].is_string(), "{employee}");
        assert_eq!(employee["remote_deleted"], false);
    }
    assert!(
        employees
            .iter()
            .any(|e| e["employment_status"] == "ON_LEAVE")
    );
    assert!(
        employees
            .iter()
            .all(|e| e["custom_fields"]["t_shirt_size"].is_string()),
        "{}",
        employees[0]
    );
    assert!(
        employees
            .iter()
            .any(|e| e["custom_fields"]["secondary_language"] == "Hebrew"),
        "a custom field of a custom category"
    );
    // Sensitive fields are withheld unless asked for.
    assert!(employees.iter().all(|e| e["date_of_birth"].is_null()
        && e["national_ids"] == json!([])
        && e["home_address"].is_null()));

    // Departments are groups (the list item id), named in `department`; sites are locations.
    let groups = app.walk_category(PROVIDER, "hris", "groups", "", 100).await;
    let group_ids = unique_ids(&groups);
    assert!(
        groups.iter().any(|g| g["parent_group_id"].is_string()),
        "a tree"
    );
    let locations = app
        .walk_category(PROVIDER, "hris", "locations", "", 100)
        .await;
    assert!(
        locations.iter().any(|l| l["is_active"] == false),
        "archived sites too"
    );
    let location_ids = unique_ids(&locations);
    for employee in &employees {
        let group = employee["group_ids"][0].as_str().expect("a department");
        assert!(group_ids.contains(group), "{employee}");
        let name = groups
            .iter()
            .find(|g| g["id"] == group)
            .map(|g| g["name"].clone());
        assert_eq!(Some(employee["department"].clone()), name, "{employee}");
        let site = employee["work_location_id"].as_str().expect("a site");
        assert!(location_ids.contains(site), "{employee}");
    }

    let (status, body) = app
        .get(&path(
            &app,
            "employees",
            "&page_size=3&include=sensitive_fields",
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let employee = &body["results"][0];
    assert!(employee["date_of_birth"].is_string(), "{employee}");
    assert_eq!(employee["national_ids"][0]["type"], "ssn", "{employee}");
    assert_eq!(employee["home_address"]["country"], "US", "{employee}");
}

#[tokio::test]
async fn the_employment_status_and_ids_filters_are_exact() {
    let app = spawn_app().await;
    let all = app
        .walk_category(PROVIDER, "hris", "employees", "", 50)
        .await;
    for status in ["ACTIVE", "TERMINATED", "ON_LEAVE"] {
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
            .filter(|e| e["employment_status"] == status)
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect();
        assert!(!expected.is_empty(), "{status}");
        assert_eq!(unique_ids(&filtered), expected, "{status}");
    }
    let wanted: Vec<&str> = all
        .iter()
        .step_by(9)
        .filter_map(|e| e["id"].as_str())
        .collect();
    let query = format!("&ids={}", wanted.join(","));
    let filtered = app
        .walk_category(PROVIDER, "hris", "employees", &query, 50)
        .await;
    assert_eq!(
        unique_ids(&filtered),
        wanted
            .iter()
            .map(|id| (*id).to_owned())
            .collect::<BTreeSet<_>>()
    );
    let (status, one) = app
        .get(&format!(
            "/unified/hris/employees/{}?connection_id={}",
            wanted[1],
            app.connection(PROVIDER)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["id"], wanted[1]);
    assert_eq!(
        one["custom_fields"],
        filtered
            .iter()
            .find(|e| e["id"] == wanted[1])
            .expect("listed")["custom_fields"],
        "a read maps like the list"
    );
}

#[tokio::test]
async fn work_and_salary_history_and_time_off_policies_are_listed() {
    let app = spawn_app().await;
    let employments = app
        .walk_category(PROVIDER, "hris", "employments", "", 20)
        .await;
    let employees: BTreeSet<String> = app.handle::<HiBob>().ids("employees").into_iter().collect();
    let holders: BTreeSet<String> = employments
        .iter()
        .map(|row| row["employee_id"].as_str().expect("employee").to_owned())
        .collect();
    assert_eq!(holders, employees, "paged by cursor over every employee");
    assert_eq!(
        unique_ids(&employments).len(),
        employments.len(),
        "no row twice"
    );
    let past: Vec<&Value> = employments
        .iter()
        .filter(|r| r["end_date"].is_string())
        .collect();
    assert!(!past.is_empty(), "promotions");
    for row in &past {
        assert_eq!(row["is_current"], false, "{row}");
    }
    assert!(employments.iter().any(|r| {
        r["job_title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Senior "))
    }));

    let (status, pay) = app
        .get(&path(
            &app,
            "compensations",
            "&page_size=10&include=sensitive_fields",
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{pay}");
    let results = pay["results"].as_array().expect("results");
    let annual = results
        .iter()
        .find(|r| r["pay_period"] == "YEAR")
        .expect("a salary");
    assert_eq!(annual["type"], "SALARY", "{annual}");
    assert_eq!(annual["pay_frequency"], "BIWEEKLY", "{annual}");
    assert!(
        annual["amount"]["amount"]
            .as_str()
            .is_some_and(|a| a.parse::<u64>().is_ok()),
        "{annual}"
    );
    assert_eq!(annual["amount"]["currency"], "USD");
    let (_, withheld) = app.get(&path(&app, "compensations", "&page_size=3")).await;
    assert!(withheld["results"][0]["amount"].is_null(), "{withheld}");

    let (status, policies) = app.get(&path(&app, "time_off_policies", "")).await;
    assert_eq!(status, StatusCode::OK, "{policies}");
    let policies = policies["results"].as_array().expect("results");
    let holiday = policies
        .iter()
        .find(|p| p["id"] == "Holiday")
        .expect("Holiday");
    assert_eq!(holiday["type"], "VACATION");
    assert_eq!(holiday["unit"], "DAYS", "read per type: {holiday}");
    assert_eq!(holiday["is_paid"], true);
    assert!(policies.iter().any(|p| p["is_paid"] == false));
}

#[tokio::test]
async fn time_off_requests_are_submitted_read_listed_and_cancelled() {
    let app = spawn_app().await;
    let connection = app.connection(PROVIDER);
    let employee = app.handle::<HiBob>().active_ids()[3].clone();
    let since = timestamp::now() - chrono::Duration::seconds(2);
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/hris/time_off_requests?connection_id={connection}"),
            Some(json!({"employee_id": employee, "policy_id": "Holiday",
                "start_date": "2026-12-21", "end_date": "2026-12-23"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "REQUESTED", "{created}");
    assert_eq!(created["request_type"], "VACATION");
    assert_eq!(created["amount"], "3");
    assert_eq!(created["units"], "DAYS");
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with(&format!("{employee}-")), "{id}");

    let (status, read) = app
        .get(&format!(
            "/unified/hris/time_off_requests/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["status"], "REQUESTED");

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
            .all(|r| r["employee_id"] == employee.as_str())
    );
    assert!(
        results.iter().any(|r| r["id"] == id.as_str()),
        "pending requests are listed"
    );

    let (status, cancelled) = app
        .call(
            Method::PATCH,
            &format!("/unified/hris/time_off_requests/{id}?connection_id={connection}"),
            Some(json!({"status": "CANCELLED"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELLED", "{cancelled}");

    // The changes feed (updated_after) shows the submission and the cancellation.
    let (status, changed) = app
        .get(&format!(
            "/unified/hris/time_off_requests?connection_id={connection}&updated_after={}",
            since
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .replace('+', "%2B")
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let statuses: Vec<&Value> = changed["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["id"] == id.as_str())
        .map(|r| &r["status"])
        .collect();
    assert!(statuses.contains(&&json!("CANCELLED")), "{changed}");

    // Bob approves nothing through its API: another status is refused naming it.
    let (status, problem) = app
        .call(
            Method::PATCH,
            &format!("/unified/hris/time_off_requests/{id}?connection_id={connection}"),
            Some(json!({"status": "APPROVED"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (status, _) = app
        .get(&format!(
            "/unified/hris/time_off_requests/nodash?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn employees_are_created_updated_and_terminated() {
    let app = spawn_app().await;
    let connection = app.connection(PROVIDER);
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/hris/employees?connection_id={connection}"),
            Some(json!({"first_name": "Ada", "last_name": "Lovelace", "work_email": "ada@samplebob.com",
                "work_location": "London", "start_date": "2026-11-02", "job_title": "Analyst",
                "custom_fields": {"t_shirt_size": "M", "secondary_language": "French"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let stored = app
        .handle::<HiBob>()
        .employee(&id)
        .expect("created at the vendor");
    assert_eq!(
        stored["work"]["custom"]["field_1711886937296"], "M",
        "{stored}"
    );
    assert_eq!(
        stored["category_1673436523123"]["field_1673436539999"], "French",
        "{stored}"
    );
    assert_eq!(created["employment_status"], "ACTIVE", "{created}");
    assert_eq!(created["work_location"], "London");
    assert_eq!(created["custom_fields"]["t_shirt_size"], "M", "{created}");
    assert_eq!(created["start_date"], "2026-11-02");

    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/unified/hris/employees/{id}?connection_id={connection}"),
            Some(json!({"job_title": "Senior Analyst", "custom_fields": {"t_shirt_size": "L"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["job_title"], "Senior Analyst", "{updated}");
    assert_eq!(updated["custom_fields"]["t_shirt_size"], "L");
    assert_eq!(
        updated["custom_fields"]["secondary_language"], "French",
        "kept"
    );

    let (status, terminated) = app
        .call(
            Method::PATCH,
            &format!("/unified/hris/employees/{id}?connection_id={connection}"),
            Some(json!({"employment_status": "TERMINATED", "termination_date": "2026-12-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{terminated}");
    assert_eq!(
        terminated["employment_status"], "TERMINATED",
        "{terminated}"
    );
    assert_eq!(terminated["termination_date"], "2026-12-01");
    assert_eq!(terminated["first_name"], "Ada");

    // A termination goes alone (Bob's own endpoint): mixed with other fields it is refused.
    let (status, problem) = app
        .call(
            Method::PATCH,
            &format!("/unified/hris/employees/{id}?connection_id={connection}"),
            Some(json!({"employment_status": "TERMINATED", "job_title": "Gone"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    // A create without the site Bob requires is refused before any vendor call.
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/unified/hris/employees?connection_id={connection}"),
            Some(
                json!({"first_name": "No", "last_name": "Site", "work_email": "n@samplebob.com",
                "start_date": "2026-11-02"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "body.work_location", "{problem}");
}

#[tokio::test]
async fn vendor_errors_are_problems_and_throttles_are_waited_out() {
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

    app.simulator(PROVIDER).faults().push(Fault {
        kind: FaultKind::Throttle {
            retry_after_secs: Some(1),
        },
        path_prefix: Some("/v1/people/search".to_owned()),
        times: 1,
    });
    let (answered, body) = app.get(&path(&app, "employees", "&page_size=2")).await;
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
    let vendor = app.handle::<HiBob>();
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

/// Issue 18: Bob submits hours on one day only (`requestRangeType: hours`, hours and
/// minutes), and on a policy type measured in hours: an hours request over several days is
/// refused naming the body before any call, one on a type measured in days is Bob's 400, and
/// an amount of whole days is refused (Bob works days out itself).
#[tokio::test]
async fn hours_are_submitted_on_one_day_of_a_type_measured_in_hours() {
    let app = spawn_app().await;
    let connection = app.connection(PROVIDER);
    let employee = app.handle::<HiBob>().ids("employees")[5].clone();
    let path = format!("/unified/hris/time_off_requests?connection_id={connection}");
    let submits = || {
        app.simulator(PROVIDER)
            .requests()
            .total_matching(&format!("POST /v1/timeoff/employees/{employee}/requests"))
    };

    let (status, problem) = app
        .call(
            Method::POST,
            &path,
            Some(
                json!({"employee_id": employee, "policy_id": "Overtime", "units": "HOURS",
                "amount": "3", "start_date": "2027-05-03", "end_date": "2027-05-04"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["field"]
            .as_str()
            .is_some_and(|field| field.starts_with("body.")),
        "{problem}"
    );
    let (status, problem) = app
        .call(
            Method::POST,
            &path,
            Some(
                json!({"employee_id": employee, "policy_id": "Holiday", "amount": "2",
                "start_date": "2027-05-03", "end_date": "2027-05-04"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(submits(), 0, "refused before any call");

    let (status, problem) = app
        .call(
            Method::POST,
            &path,
            Some(
                json!({"employee_id": employee, "policy_id": "Holiday", "units": "HOURS",
                "amount": "1.25", "start_date": "2027-05-03", "end_date": "2027-05-03"}),
            ),
        )
        .await;
    assert!(status.is_client_error(), "{status}: {problem}");
    assert_eq!(submits(), 1);

    let (status, created) = app
        .call(
            Method::POST,
            &format!("{path}&include=remote_data"),
            Some(
                json!({"employee_id": employee, "policy_id": "Overtime", "units": "HOURS",
                "amount": "1.25", "start_date": "2027-05-03", "end_date": "2027-05-03",
                "status": "APPROVED"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["amount"], "1.25", "{created}");
    assert_eq!(created["units"], "HOURS", "{created}");
    assert_eq!(created["status"], "APPROVED", "{created}");
    // Bob's own record: one hour and fifteen minutes on the day.
    let raw = &created["remote_data"];
    assert_eq!(raw["type"], "hours", "{raw}");
    assert_eq!(raw["hoursOnDate"], 1, "{raw}");
    assert_eq!(raw["minutes"], 15, "{raw}");
    assert_eq!(raw["date"], "2027-05-03", "{raw}");
}
