//! The HRIS checks of the cross-vendor suite (issue 18), run over every vendor whose
//! `simulator.yaml` gives `hris_suite` facts: every employee listed exactly once (also while
//! the vendor changes under the walk), terminated employees kept with their status, the status,
//! `updated_after` and ids filters exact, custom fields in `custom_fields`, job and pay history (with employment
//! types), time off read and written, groups, locations, companies and time-off balances
//! (employees' groups, place of work and company among them),
//! vendor errors as problem+json, and a sync whose change feed shows a termination at
//! the vendor as an update and a deletion as a tombstone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::{SYNC_JOB_KIND, SyncDelays, SyncHandler};
use simulators::{Fault, FaultKind};
use store::{ChangeKind, ConnectionId, NewJob, timestamp};

use crate::helpers::{TestApp, run_handler_once, unique_ids};
use crate::{Check, Vendor, check};

pub const CHECKS: &[Check] = &[
    check!(every_employee_is_listed_exactly_once_terminated_ones_kept),
    check!(no_employee_present_throughout_is_missed_while_the_vendor_changes),
    check!(the_employment_status_filter_is_exact),
    check!(custom_fields_appear_in_custom_fields),
    check!(a_termination_at_the_vendor_reads_as_terminated),
    check!(employments_and_compensations_list_with_their_history),
    check!(time_off_is_read_and_written),
    check!(time_off_in_hours_is_written_where_the_vendor_takes_it),
    check!(groups_locations_companies_and_balances_are_served),
    check!(vendor_errors_are_problems),
    check!(a_sync_shows_a_termination_as_an_update_and_a_deletion_as_a_tombstone),
];

fn employee_ids(app: &TestApp, provider: &str) -> BTreeSet<String> {
    app.simulator(provider)
        .ids(&app.hris_facts(provider).employees_object)
        .into_iter()
        .collect()
}

async fn walk_employees(app: &TestApp, provider: &str, filters: &str) -> Vec<Value> {
    let page_size = app.hris_facts(provider).page_size;
    app.walk_category(provider, "hris", "employees", filters, page_size)
        .await
}

async fn every_employee_is_listed_exactly_once_terminated_ones_kept(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let facts = app.hris_facts(provider).clone();
    let held = employee_ids(&app, provider);
    assert!(
        held.len() as u64 > facts.page_size,
        "{provider}: more employees than a page"
    );
    let employees = walk_employees(&app, provider, "").await;
    assert_eq!(unique_ids(&employees), held, "{provider}");
    let terminated: Vec<&Value> = employees
        .iter()
        .filter(|employee| employee["employment_status"] == "TERMINATED")
        .collect();
    assert!(!terminated.is_empty(), "{provider}: the seed has leavers");
    for employee in terminated {
        assert_eq!(
            employee["employment_status_raw"], facts.terminated_status_raw,
            "{provider}: {employee}"
        );
        assert!(
            employee["termination_date"].is_string(),
            "{provider}: {employee}"
        );
        assert_eq!(employee["remote_deleted"], false, "{provider}: {employee}");
    }
}

async fn no_employee_present_throughout_is_missed_while_the_vendor_changes(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let facts = app.hris_facts(provider).clone();
    let before = employee_ids(&app, provider);
    app.simulator(provider).faults().push(Fault {
        kind: FaultKind::Mutate {
            inserts: 4,
            deletes: 3,
        },
        path_prefix: Some(facts.employees_list_prefix.clone()),
        times: 20,
    });
    // `unique_ids` fails on an employee listed twice.
    let walked = unique_ids(&walk_employees(&app, provider, "").await);
    let after = employee_ids(&app, provider);
    assert_ne!(
        before, after,
        "{provider}: the vendor changed during the walk"
    );
    let missed: Vec<&String> = before
        .intersection(&after)
        .filter(|id| !walked.contains(*id))
        .collect();
    assert!(
        missed.is_empty(),
        "{provider}: employees present throughout were missed: {missed:?}"
    );
}

async fn the_employment_status_filter_is_exact(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let all = walk_employees(&app, provider, "").await;
    for status in ["ACTIVE", "TERMINATED"] {
        let filtered =
            walk_employees(&app, provider, &format!("&employment_status={status}")).await;
        let expected: BTreeSet<String> = all
            .iter()
            .filter(|employee| employee["employment_status"] == status)
            .map(|employee| employee["remote_id"].as_str().expect("id").to_owned())
            .collect();
        assert!(!expected.is_empty(), "{provider}: {status}");
        assert_eq!(unique_ids(&filtered), expected, "{provider}: {status}");
    }
    // `updated_after`, where employees carry the time they changed (HiBob's people carry
    // none, and its connector declares no such filter): exactly those changed at or after it.
    if all
        .iter()
        .all(|employee| employee["updated_at"].is_string())
    {
        let changed_at = |employee: &Value| {
            employee["updated_at"]
                .as_str()
                .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
                .map(|at| at.with_timezone(&chrono::Utc))
                .unwrap_or_else(|| panic!("{provider}: {employee}"))
        };
        let mut times: Vec<_> = all.iter().map(changed_at).collect();
        times.sort();
        let cutoff = times[times.len() * 3 / 4];
        let expected: BTreeSet<String> = all
            .iter()
            .filter(|employee| changed_at(employee) >= cutoff)
            .map(|employee| employee["remote_id"].as_str().expect("id").to_owned())
            .collect();
        let filter = format!(
            "&updated_after={}",
            cutoff
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .replace('+', "%2B")
        );
        let filtered = walk_employees(&app, provider, &filter).await;
        assert_eq!(unique_ids(&filtered), expected, "{provider}: updated_after");
    } else {
        assert!(
            all.iter().all(|employee| employee["updated_at"].is_null()),
            "{provider}: updated_at on some employees only"
        );
    }
    let some: Vec<String> = all
        .iter()
        .take(3)
        .map(|employee| employee["remote_id"].as_str().expect("id").to_owned())
        .collect();
    let filtered = walk_employees(&app, provider, &format!("&ids={}", some.join(","))).await;
    assert_eq!(
        unique_ids(&filtered),
        some.into_iter().collect::<BTreeSet<_>>(),
        "{provider}: ids"
    );
}

async fn custom_fields_appear_in_custom_fields(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let field = app.hris_facts(provider).employee_custom_field.clone();
    let employees = walk_employees(&app, provider, "").await;
    assert!(
        employees
            .iter()
            .all(|employee| employee["custom_fields"][&field].is_string()),
        "{provider}: `{field}` on every employee: {}",
        employees[0]
    );
    let (status, fields) = app
        .get(&format!(
            "/unified/hris/employees/meta?connection_id={}",
            app.connection(provider)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{provider}: {fields}");
    assert!(
        fields.to_string().contains(&format!("\"{field}\"")),
        "{provider}: /meta names `{field}`: {fields}"
    );
}

async fn a_termination_at_the_vendor_reads_as_terminated(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let facts = app.hris_facts(provider).clone();
    let active = walk_employees(&app, provider, "&employment_status=ACTIVE").await;
    let leaver = active[1]["remote_id"].as_str().expect("id").to_owned();
    assert!(
        app.simulator(provider).terminate(&leaver),
        "{provider}: the simulator terminates"
    );
    let (status, employee) = app
        .get(&format!(
            "/unified/hris/employees/{leaver}?connection_id={}",
            app.connection(provider)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{provider}: {employee}");
    assert_eq!(
        employee["employment_status"], "TERMINATED",
        "{provider}: {employee}"
    );
    assert_eq!(
        employee["employment_status_raw"], facts.terminated_status_raw,
        "{provider}: {employee}"
    );
    assert!(
        employee["termination_date"].is_string(),
        "{provider}: {employee}"
    );
    let terminated = walk_employees(&app, provider, "&employment_status=TERMINATED").await;
    assert!(
        unique_ids(&terminated).contains(&leaver),
        "{provider}: a leaver stays listed"
    );
}

/// The day after a date (`YYYY-MM-DD`), as text.
fn day_after(date: &Value) -> Option<String> {
    date.as_str()
        .and_then(|text| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .and_then(|day| day.succ_opt())
        .map(|day| day.to_string())
}

async fn employments_and_compensations_list_with_their_history(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let facts = app.hris_facts(provider).clone();
    let employees = employee_ids(&app, provider);
    let employments = app
        .walk_category(provider, "hris", "employments", "", 100)
        .await;
    assert!(!employments.is_empty(), "{provider}");
    for row in &employments {
        let employee = row["employee_id"].as_str().expect("employee_id");
        assert!(employees.contains(employee), "{provider}: {row}");
        // A past job ends; the current one does not.
        assert_eq!(
            row["is_current"] == false,
            row["end_date"].is_string() && row["is_current"] != Value::Null,
            "{provider}: {row}"
        );
    }
    let ended: Vec<&Value> = employments
        .iter()
        .filter(|row| row["end_date"].is_string())
        .collect();
    if facts.keeps_history {
        // The next job starts on the end date (an end that is the first day out, BambooHR's
        // next row) or the day after it (an end that is the last day in, HiBob's
        // `endEffectiveDate`).
        let promoted = ended.iter().find(|row| {
            employments.iter().any(|other| {
                other["employee_id"] == row["employee_id"]
                    && (other["effective_date"] == row["end_date"]
                        || other["effective_date"].as_str().map(str::to_owned)
                            == day_after(&row["end_date"]))
            })
        });
        assert!(promoted.is_some(), "{provider}: a job followed by another");
    } else {
        // Only the current job: one employment per employee.
        assert_eq!(
            unique_ids(&employments).len(),
            employments.len(),
            "{provider}"
        );
    }

    // Pay, every page of it: each row a decimal amount in a currency, of a kind, for an
    // employee the vendor holds.
    let pay = app
        .walk_category(
            provider,
            "hris",
            "compensations",
            "&include=sensitive_fields",
            100,
        )
        .await;
    assert!(!pay.is_empty(), "{provider}");
    for row in &pay {
        let amount = row["amount"]["amount"].as_str().expect("a decimal string");
        assert!(
            amount.parse::<f64>().is_ok_and(|value| value > 0.0),
            "{provider}: {row}"
        );
        assert!(row["amount"]["currency"].is_string(), "{provider}: {row}");
        assert!(row["type"].is_string(), "{provider}: {row}");
        assert!(row["effective_date"].is_string(), "{provider}: {row}");
        assert!(
            employees.contains(row["employee_id"].as_str().expect("id")),
            "{provider}: {row}"
        );
    }
    assert_eq!(
        unique_ids(&pay).len(),
        pay.len(),
        "{provider}: each row once"
    );
    // Pay history: each employee's rows of one recurring kind (base pay, kept apart from
    // one-off payments such as bonuses), by effective date.
    let mut histories: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for row in pay.iter().filter(|row| row["pay_frequency"] != "ONE_TIME") {
        let key = (
            row["employee_id"].as_str().expect("id").to_owned(),
            row["type"].as_str().expect("type").to_owned(),
        );
        histories.entry(key).or_default().push(row);
    }
    for rows in histories.values_mut() {
        rows.sort_by_key(|row| row["effective_date"].as_str().map(str::to_owned));
    }
    // An employee whose employment ended has no current pay: their last pay ended with it.
    let terminated: BTreeSet<String> =
        walk_employees(&app, provider, "&employment_status=TERMINATED")
            .await
            .iter()
            .filter_map(|employee| employee["remote_id"].as_str().map(str::to_owned))
            .collect();
    if facts.keeps_pay_history.unwrap_or(facts.keeps_history) {
        assert!(
            histories.values().any(|rows| rows.len() >= 2),
            "{provider}: some employee's pay changed over time"
        );
        for rows in histories.values() {
            for pair in rows.windows(2) {
                let (earlier, later) = (pair[0], pair[1]);
                assert!(
                    earlier["effective_date"].as_str() < later["effective_date"].as_str(),
                    "{provider}: one row per date: {earlier} {later}"
                );
                // The earlier pay ends where the later begins (BambooHR's next row) or the
                // day before (HiBob's `endEffectiveDate`, the last day in effect).
                assert!(
                    earlier["end_date"] == later["effective_date"]
                        || day_after(&earlier["end_date"]).as_deref()
                            == later["effective_date"].as_str(),
                    "{provider}: an earlier pay ends where the next begins: {earlier} {later}"
                );
            }
            let current = rows.last().expect("a row");
            let employee = current["employee_id"].as_str().unwrap_or_default();
            assert!(
                current["end_date"].is_null() || terminated.contains(employee),
                "{provider}: the current pay has no end: {current}"
            );
        }
    } else {
        // The vendor keeps each employee's current pay only: one row per employee and kind.
        assert!(
            histories.values().all(|rows| rows.len() == 1),
            "{provider}: no pay history"
        );
    }
    // One-off payments (bonuses), where the vendor lists them, are records of their own:
    // paid once, on a day, with no end, apart from the base pay's history.
    let bonuses: Vec<&Value> = pay.iter().filter(|row| row["type"] == "BONUS").collect();
    assert_eq!(!bonuses.is_empty(), facts.bonuses, "{provider}: bonuses");
    for bonus in &bonuses {
        assert_eq!(bonus["pay_frequency"], "ONE_TIME", "{provider}: {bonus}");
        assert!(bonus["end_date"].is_null(), "{provider}: {bonus}");
    }
    if facts.bonuses {
        assert!(
            bonuses.iter().any(|bonus| histories
                .keys()
                .any(|(employee, _)| { bonus["employee_id"].as_str() == Some(employee.as_str()) })),
            "{provider}: an employee with both a pay history and bonuses"
        );
    }

    let connection = app.connection(provider);
    let (_, withheld) = app
        .get(&format!(
            "/unified/hris/compensations?connection_id={connection}&page_size=5"
        ))
        .await;
    assert!(
        withheld["results"][0]["amount"].is_null(),
        "{provider}: {withheld}"
    );
}

async fn time_off_is_read_and_written(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let facts = app.hris_facts(provider).clone();
    let connection = app.connection(provider);
    let (status, policies) = app
        .get(&format!(
            "/unified/hris/time_off_policies?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{provider}: {policies}");
    assert!(
        policies["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|policy| policy["id"] == facts.time_off_policy_id.as_str()),
        "{provider}: {policies}"
    );
    let active = walk_employees(&app, provider, "&employment_status=ACTIVE").await;
    let employee = active[2]["remote_id"].as_str().expect("id").to_owned();
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/hris/time_off_requests?connection_id={connection}"),
            Some(json!({"employee_id": employee, "policy_id": facts.time_off_policy_id,
                "start_date": "2027-02-01", "end_date": "2027-02-03", "employee_note": "Family visit"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{provider}: {created}");
    assert_eq!(
        created["employee_id"],
        employee.as_str(),
        "{provider}: {created}"
    );
    assert_eq!(
        created["policy_id"],
        facts.time_off_policy_id.as_str(),
        "{provider}: {created}"
    );
    assert_eq!(created["start_date"], "2027-02-01", "{provider}: {created}");
    assert_eq!(created["end_date"], "2027-02-03", "{provider}: {created}");
    assert_eq!(
        created["employee_note"], "Family visit",
        "{provider}: {created}"
    );
    assert_eq!(created["status"], "REQUESTED", "{provider}: {created}");
    let id = created["id"].as_str().expect("id").to_owned();

    let (status, read) = app
        .get(&format!(
            "/unified/hris/time_off_requests/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{provider}: {read}");
    assert_eq!(read["start_date"], "2027-02-01", "{provider}: {read}");
    let (status, listed) = app
        .get(&format!(
            "/unified/hris/time_off_requests?connection_id={connection}&employee_id={employee}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{provider}: {listed}");
    let results = listed["results"].as_array().expect("results");
    assert!(
        results
            .iter()
            .all(|request| request["employee_id"] == employee.as_str()),
        "{provider}: {listed}"
    );
    assert!(
        results.iter().any(|request| request["id"] == id.as_str()),
        "{provider}: {listed}"
    );

    // A request naming no employee is refused naming the field, before any vendor call.
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/unified/hris/time_off_requests?connection_id={connection}"),
            Some(json!({"policy_id": facts.time_off_policy_id, "start_date": "2027-02-01", "end_date": "2027-02-03"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{provider}: {problem}");
}

/// A request counted in hours on one day, where the vendor's API takes one (issue 18: none
/// could be created on Personio or HiBob): written as the vendor's facts say (`units: HOURS`
/// where the vendor chooses by it; BambooHR counts in the policy's own unit), read back with
/// its hours, and listed with the employee's requests.
async fn time_off_in_hours_is_written_where_the_vendor_takes_it(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let facts = app.hris_facts(provider).clone();
    let Some(hourly) = facts.hourly_time_off.clone() else {
        return;
    };
    let connection = app.connection(provider);
    let active = walk_employees(&app, provider, "&employment_status=ACTIVE").await;
    let employee = active[3]["remote_id"].as_str().expect("id").to_owned();
    let mut request = json!({"employee_id": employee, "policy_id": hourly.policy_id,
        "start_date": "2027-03-02", "end_date": "2027-03-02", "employee_note": "Dentist"});
    for (key, value) in &hourly.request {
        request[key] = value.clone();
    }
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/hris/time_off_requests?connection_id={connection}"),
            Some(request),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{provider}: {created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, read) = app
        .get(&format!(
            "/unified/hris/time_off_requests/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{provider}: {read}");
    for record in [&created, &read] {
        assert_eq!(record["units"], "HOURS", "{provider}: {record}");
        assert_eq!(
            record["amount"],
            hourly.amount.as_str(),
            "{provider}: {record}"
        );
        assert_eq!(
            record["policy_id"],
            hourly.policy_id.as_str(),
            "{provider}: {record}"
        );
        assert_eq!(
            record["employee_id"],
            employee.as_str(),
            "{provider}: {record}"
        );
        assert_eq!(record["start_date"], "2027-03-02", "{provider}: {record}");
        assert_eq!(record["end_date"], "2027-03-02", "{provider}: {record}");
        assert_eq!(record["employee_note"], "Dentist", "{provider}: {record}");
    }
    // Every page: a vendor may list its hourly requests after the day-based ones.
    let listed = app
        .walk_category(
            provider,
            "hris",
            "time_off_requests",
            &format!("&employee_id={employee}"),
            50,
        )
        .await;
    let listed = listed
        .iter()
        .find(|request| request["id"] == id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{provider}: {id} is listed"));
    assert_eq!(listed["units"], "HOURS", "{provider}: {listed}");
    assert_eq!(
        listed["amount"],
        hourly.amount.as_str(),
        "{provider}: {listed}"
    );
}

/// A whole small listing of one unified object (one page of 100), as `results`.
async fn list_all(app: &TestApp, provider: &str, object: &str, filters: &str) -> Vec<Value> {
    let connection = app.connection(provider);
    let (status, body) = app
        .get(&format!(
            "/unified/hris/{object}?connection_id={connection}&page_size=100{filters}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{provider} {object}: {body}");
    assert!(body["next"].is_null(), "{provider} {object}: one page");
    body["results"].as_array().expect("results").clone()
}

async fn groups_locations_companies_and_balances_are_served(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let facts = app.hris_facts(provider).clone();

    let groups = list_all(&app, provider, "groups", "").await;
    assert!(!groups.is_empty(), "{provider}: groups");
    let group_ids = unique_ids(&groups);
    assert_eq!(group_ids.len(), groups.len(), "{provider}: each group once");
    for group in &groups {
        assert!(group["name"].is_string(), "{provider}: {group}");
        assert!(group["type"].is_string(), "{provider}: {group}");
        if let Some(parent) = group["parent_group_id"].as_str() {
            assert!(group_ids.contains(parent), "{provider}: {group}");
        }
    }
    assert_eq!(
        groups
            .iter()
            .any(|group| group["parent_group_id"].is_string()),
        facts.groups_have_parents,
        "{provider}: groups with parents"
    );

    let locations = list_all(&app, provider, "locations", "").await;
    assert!(!locations.is_empty(), "{provider}: locations");
    assert_eq!(unique_ids(&locations).len(), locations.len(), "{provider}");
    for location in &locations {
        assert!(location["name"].is_string(), "{provider}: {location}");
    }

    let companies = list_all(&app, provider, "companies", "").await;
    assert!(!companies.is_empty(), "{provider}: companies");
    let company_ids = unique_ids(&companies);
    for company in &companies {
        assert_eq!(
            company["display_name"].is_string(),
            facts.companies_named,
            "{provider}: {company}"
        );
    }
    // An employee's company, groups and place of work are among those listed, and the
    // employees name them (issue 18: BambooHR's employees hold them by name only).
    let location_ids = unique_ids(&locations);
    let employees = walk_employees(&app, provider, "").await;
    for employee in &employees {
        if let Some(company) = employee["company_id"].as_str() {
            assert!(company_ids.contains(company), "{provider}: {employee}");
        }
        for group in employee["group_ids"].as_array().expect("group_ids") {
            let group = group.as_str().expect("a group id");
            assert!(
                group_ids.contains(group),
                "{provider}: {group} of {employee}"
            );
        }
        if let Some(location) = employee["work_location_id"].as_str() {
            assert!(location_ids.contains(location), "{provider}: {employee}");
        }
    }
    let grouped = employees
        .iter()
        .filter(|employee| !employee["group_ids"].as_array().is_none_or(Vec::is_empty))
        .count();
    let placed = employees
        .iter()
        .filter(|employee| employee["work_location_id"].is_string())
        .count();
    assert!(
        grouped * 2 > employees.len() && placed * 2 > employees.len(),
        "{provider}: most employees name their groups ({grouped}) and place of work ({placed}) of {}",
        employees.len()
    );
    // One employee read alone names the same ones.
    let listed = employees
        .iter()
        .find(|employee| {
            employee["work_location_id"].is_string()
                && !employee["group_ids"].as_array().is_none_or(Vec::is_empty)
        })
        .expect("an employee with groups and a place of work");
    let (status, read) = app
        .get(&format!(
            "/unified/hris/employees/{}?connection_id={}",
            listed["remote_id"].as_str().expect("id"),
            app.connection(provider)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{provider}: {read}");
    for field in ["group_ids", "work_location_id", "company_id"] {
        assert_eq!(read[field], listed[field], "{provider}: {field} of {read}");
    }

    // Job history says how each job is held, with the vendor's own value.
    let employments = app
        .walk_category(provider, "hris", "employments", "", 100)
        .await;
    assert!(
        employments
            .iter()
            .any(|row| row["employment_type"] == "FULL_TIME"),
        "{provider}: employment types"
    );
    for row in &employments {
        assert_eq!(
            row["employment_type"].is_string(),
            row["employment_type_raw"].is_string(),
            "{provider}: {row}"
        );
    }

    // Balances, per employee: every policy's, in a unit, as a decimal string.
    let active = walk_employees(&app, provider, "&employment_status=ACTIVE").await;
    let employee = active[0]["remote_id"].as_str().expect("id").to_owned();
    let balances = list_all(
        &app,
        provider,
        "time_off_balances",
        &format!("&employee_id={employee}"),
    )
    .await;
    assert!(!balances.is_empty(), "{provider}: balances");
    for balance in &balances {
        assert_eq!(
            balance["employee_id"],
            employee.as_str(),
            "{provider}: {balance}"
        );
        assert!(balance["policy_id"].is_string(), "{provider}: {balance}");
        assert!(
            balance["balance"]
                .as_str()
                .is_some_and(|text| text.parse::<f64>().is_ok()),
            "{provider}: {balance}"
        );
        assert!(
            ["DAYS", "HOURS"].contains(&balance["units"].as_str().unwrap_or_default()),
            "{provider}: {balance}"
        );
    }
    assert!(
        balances
            .iter()
            .any(|balance| balance["policy_id"] == facts.time_off_policy_id.as_str()),
        "{provider}: the day-based policy's balance"
    );
    // Without the employee, a client error naming what is missing, not a vendor call.
    let (status, problem) = app
        .get(&format!(
            "/unified/hris/time_off_balances?connection_id={}",
            app.connection(provider)
        ))
        .await;
    assert!(status.is_client_error(), "{provider}: {status} {problem}");
}

async fn vendor_errors_are_problems(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let facts = app.hris_facts(provider).clone();
    let connection = app.connection(provider);
    let response = app
        .client
        .get(app.url(&format!(
            "/unified/hris/employees/{}?connection_id={connection}",
            facts.missing_employee_id
        )))
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "{provider}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{provider}"
    );
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "not_found", "{provider}: {problem}");
    assert_eq!(problem["origin"], "provider", "{provider}: {problem}");

    // A time-off request the vendor never issued, of each shape its ids take, is not found
    // either (BambooHR's requests and Personio's hourly periods are read by filtering a list,
    // whose answer then holds none).
    assert!(
        !facts.missing_time_off_request_ids.is_empty(),
        "{provider}: missing time-off request ids"
    );
    for id in &facts.missing_time_off_request_ids {
        let response = app
            .client
            .get(app.url(&format!(
                "/unified/hris/time_off_requests/{id}?connection_id={connection}"
            )))
            .bearer_auth(&app.demo.api_key)
            .send()
            .await
            .expect("answers");
        let status = response.status();
        let content_type = response.headers()["content-type"].clone();
        let problem: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::NOT_FOUND, "{provider} {id}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{provider} {id}");
        assert_eq!(problem["code"], "not_found", "{provider} {id}: {problem}");
    }

    // A throttle is waited out.
    app.simulator(provider).faults().push(Fault {
        kind: FaultKind::Throttle {
            retry_after_secs: Some(1),
        },
        path_prefix: Some(facts.employees_list_prefix.clone()),
        times: 1,
    });
    let (status, body) = app
        .get(&format!(
            "/unified/hris/employees?connection_id={connection}&page_size=2"
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{provider}: a throttle is waited out: {body}"
    );
    // A refusal by the vendor is a problem naming the provider and its status.
    app.simulator(provider).faults().push(Fault {
        kind: FaultKind::Status {
            status: 403,
            body: None,
        },
        path_prefix: Some(facts.employees_list_prefix.clone()),
        times: 1,
    });
    let (status, problem) = app
        .get(&format!(
            "/unified/hris/employees?connection_id={connection}&page_size=2"
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{provider}: {problem}");
    assert_eq!(problem["code"], "forbidden", "{provider}: {problem}");
    assert_eq!(problem["origin"], "provider", "{provider}: {problem}");
    assert_eq!(problem["provider"]["status"], 403, "{provider}: {problem}");
    app.simulator(provider).faults().clear();
}

async fn a_sync_shows_a_termination_as_an_update_and_a_deletion_as_a_tombstone(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let facts = app.hris_facts(provider).clone();
    let connection = ConnectionId::parse(&app.connection(provider)).expect("id");
    let environment_id = app
        .demo
        .store
        .get_connection_by_id(&connection)
        .await
        .expect("connection")
        .environment_id;
    // The second run is a reconciliation pass too, so that a vendor without a feed of
    // deletes (an id diff) shows the deletion now, not a day later.
    let run = |reconcile: bool| {
        let app = &app;
        let environment_id = environment_id.clone();
        let connection = connection.clone();
        async move {
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
            let mut handler =
                SyncHandler::new(app.demo.state.operations.clone(), 25).with_delays(SyncDelays {
                    retry_base: Duration::ZERO,
                    quota_spent: Duration::ZERO,
                });
            if reconcile {
                handler = handler.with_reconcile_every(Duration::ZERO);
            }
            let (report, _) = run_handler_once(app, handler).await;
            assert_eq!(report.finished, 1, "{report:?}");
            let job = app
                .demo
                .store
                .get_job(&environment_id, &job.id)
                .await
                .expect("job");
            assert_eq!(job.status, store::JobStatus::Done, "{job:?}");
        }
    };
    run(false).await;
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
    assert_eq!(stored, employee_ids(&app, provider), "{provider}");

    // The leaver and the deleted employee manage nobody, so no other record changes with them.
    let everyone = walk_employees(&app, provider, "").await;
    let managers: BTreeSet<&str> = everyone
        .iter()
        .filter_map(|employee| employee["manager_id"].as_str())
        .collect();
    let unmanaging: Vec<String> = everyone
        .iter()
        .filter(|employee| employee["employment_status"] == "ACTIVE")
        .map(|employee| employee["remote_id"].as_str().expect("id"))
        .filter(|id| !managers.contains(id))
        .map(str::to_owned)
        .collect();
    let (leaver, gone) = (unmanaging[2].clone(), unmanaging[5].clone());
    let simulator = app.simulator(provider);
    assert!(simulator.terminate(&leaver), "{provider}");
    assert!(
        simulator.delete(&facts.employees_object, &gone),
        "{provider}"
    );
    let seen_before = app
        .demo
        .store
        .list_changes(&environment_id, 0, Some(&connection), 100_000)
        .await
        .expect("changes")
        .last()
        .map_or(0, |change| change.seq);
    run(true).await;
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
    assert_eq!(leaver_changes.len(), 1, "{provider}: {changes:?}");
    assert_eq!(leaver_changes[0].kind, ChangeKind::Updated, "{provider}");
    let record = leaver_changes[0]
        .record
        .as_ref()
        .expect("an update carries the record");
    assert_eq!(
        record["employment_status"], "TERMINATED",
        "{provider}: {record}"
    );
    let gone_changes = of(&gone);
    assert_eq!(gone_changes.len(), 1, "{provider}: {changes:?}");
    assert_eq!(gone_changes[0].kind, ChangeKind::Deleted, "{provider}");
    assert!(gone_changes[0].record.is_none(), "{provider}: a tombstone");
    assert_eq!(
        changes.len(),
        2,
        "{provider}: nothing else changed: {:?}",
        changes
            .iter()
            .map(|c| (&c.remote_id, c.kind))
            .collect::<Vec<_>>()
    );
}
