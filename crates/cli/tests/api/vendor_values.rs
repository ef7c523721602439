//! Records holding a vendor value outside the unified types (issue 15): an integer beyond the
//! unified field's range, a date past year 9999 or one that does not exist, a percentage over
//! 100, a number where text is meant. A get and a list page serve the record with that field
//! null and a `warnings` entry naming it, never a 500. Each object kind is checked on two
//! vendors, with the value planted in the simulator as the vendor could hold it.

use serde_json::{Value, json};
use simulators::dynamics::Dynamics;
use simulators::hubspot::HubSpot;
use simulators::zoho::Zoho;

use crate::helpers::{TestApp, spawn_app};

/// Far past 9999-12-31 as epoch milliseconds (10000-01-01), which no RFC 3339 date-time
/// writes.
const YEAR_10000_MS: &str = "253402300800000";

/// A value planted in one vendor record, and the unified field it must leave null.
struct Planted {
    vendor: &'static str,
    /// The unified object (`contacts`).
    object: &'static str,
    /// The vendor's object, as its simulator names it (`contacts`, `Contacts`, `leads`).
    vendor_object: &'static str,
    /// What the unified id puts before the vendor id (`call-` for a HubSpot call).
    id_prefix: &'static str,
    /// The vendor fields set, with their values.
    values: Vec<(&'static str, Value)>,
    /// The unified field that cannot hold them.
    field: &'static str,
}

/// Plants `planted`'s values in the first record of its vendor object; returns the record's
/// unified id.
fn plant(app: &TestApp, planted: &Planted) -> String {
    let vendor_id = app
        .simulator(planted.vendor)
        .ids(planted.vendor_object)
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("{}: no {}", planted.vendor, planted.vendor_object));
    for (name, value) in &planted.values {
        let done = match planted.vendor {
            "hubspot" => app.handle::<HubSpot>().plant(
                planted.vendor_object,
                &vendor_id,
                name,
                value.as_str().expect("HubSpot properties are text"),
            ),
            "zoho" => {
                app.handle::<Zoho>()
                    .plant(planted.vendor_object, &vendor_id, name, value.clone())
            }
            "dynamics365" => app.handle::<Dynamics>().plant(
                planted.vendor_object,
                &vendor_id,
                name,
                value.clone(),
            ),
            other => panic!("no plant for {other}"),
        };
        assert!(done, "{}: {vendor_id} not planted", planted.vendor);
    }
    format!("{}{vendor_id}", planted.id_prefix)
}

/// Asserts that `record` is the record `id` with `field` null and a warning naming it.
fn assert_served(what: &str, record: &Value, id: &str, field: &str) {
    assert_eq!(record["id"], id, "{what}: {record}");
    assert_eq!(record[field], Value::Null, "{what}: {record}");
    let warnings = record["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings.iter().any(|warning| warning
            .as_str()
            .is_some_and(|text| text.contains(&format!("`{field}`")))),
        "{what}: no warning names `{field}`: {record}"
    );
}

/// Plants each value, then reads the record with a get and with a list page (`ids`).
async fn check_served(cases: &[Planted]) {
    let app = spawn_app().await;
    for planted in cases {
        let id = plant(&app, planted);
        let connection = app.connection(planted.vendor);
        let what = format!("{} {}", planted.vendor, planted.object);
        let (status, record) = app
            .get(&format!(
                "/unified/crm/{}/{id}?connection_id={connection}",
                planted.object
            ))
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{what}: get {record}");
        assert_served(&format!("{what} get"), &record, &id, planted.field);
        let (status, page) = app
            .get(&format!(
                "/unified/crm/{}?connection_id={connection}&ids={id}",
                planted.object
            ))
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{what}: list {page}");
        assert!(
            page["errors"].as_array().is_none_or(Vec::is_empty),
            "{what}: list {page}"
        );
        assert_served(
            &format!("{what} list"),
            &page["results"][0],
            &id,
            planted.field,
        );
    }
}

#[tokio::test]
async fn a_contact_holding_a_date_past_9999_is_served_without_it() {
    check_served(&[
        Planted {
            vendor: "hubspot",
            object: "contacts",
            vendor_object: "contacts",
            id_prefix: "",
            values: vec![("notes_last_updated", json!(YEAR_10000_MS))],
            field: "last_activity_at",
        },
        Planted {
            vendor: "zoho",
            object: "contacts",
            vendor_object: "Contacts",
            id_prefix: "",
            values: vec![("Last_Activity_Time", json!(253_402_300_800_000_u64))],
            field: "last_activity_at",
        },
    ])
    .await;
}

#[tokio::test]
async fn a_company_holding_employees_beyond_the_integer_range_is_served_without_them() {
    check_served(&[
        Planted {
            vendor: "hubspot",
            object: "companies",
            vendor_object: "companies",
            id_prefix: "",
            values: vec![("numberofemployees", json!("100000000000000000000000"))],
            field: "number_of_employees",
        },
        Planted {
            vendor: "zoho",
            object: "companies",
            vendor_object: "Accounts",
            id_prefix: "",
            values: vec![("Employees", json!(1e23))],
            field: "number_of_employees",
        },
    ])
    .await;
}

#[tokio::test]
async fn an_opportunity_holding_a_currency_or_date_outside_the_types_is_served_without_it() {
    check_served(&[
        Planted {
            vendor: "hubspot",
            object: "opportunities",
            vendor_object: "deals",
            id_prefix: "",
            values: vec![
                ("amount", json!("100")),
                ("deal_currency_code", json!("EURO")),
            ],
            field: "amount",
        },
        Planted {
            vendor: "zoho",
            object: "opportunities",
            vendor_object: "Deals",
            id_prefix: "",
            values: vec![("Closing_Date", json!("2024-02-30"))],
            field: "close_date",
        },
    ])
    .await;
}

#[tokio::test]
async fn a_lead_holding_a_value_outside_the_types_is_served_without_it() {
    check_served(&[
        Planted {
            vendor: "dynamics365",
            object: "leads",
            vendor_object: "leads",
            id_prefix: "",
            values: vec![("createdon", json!(YEAR_10000_MS))],
            field: "created_at",
        },
        Planted {
            vendor: "zoho",
            object: "leads",
            vendor_object: "Leads",
            id_prefix: "",
            values: vec![("First_Name", json!(42))],
            field: "first_name",
        },
    ])
    .await;
}

#[tokio::test]
async fn a_note_holding_a_value_outside_the_types_is_served_without_it() {
    check_served(&[
        Planted {
            vendor: "dynamics365",
            object: "notes",
            vendor_object: "annotations",
            id_prefix: "",
            values: vec![("createdon", json!(YEAR_10000_MS))],
            field: "created_at",
        },
        Planted {
            vendor: "zoho",
            object: "notes",
            vendor_object: "Notes",
            id_prefix: "",
            values: vec![("Note_Title", json!(42))],
            field: "title",
        },
    ])
    .await;
}

#[tokio::test]
async fn a_task_holding_a_date_past_9999_is_served_without_it() {
    check_served(&[
        Planted {
            vendor: "hubspot",
            object: "tasks",
            vendor_object: "tasks",
            id_prefix: "",
            values: vec![("hs_timestamp", json!(YEAR_10000_MS))],
            field: "due_at",
        },
        Planted {
            vendor: "zoho",
            object: "tasks",
            vendor_object: "Tasks",
            id_prefix: "",
            values: vec![("Closed_Time", json!(YEAR_10000_MS))],
            field: "completed_at",
        },
    ])
    .await;
}

#[tokio::test]
async fn an_engagement_holding_a_value_outside_the_types_is_served_without_it() {
    check_served(&[
        Planted {
            vendor: "hubspot",
            object: "engagements",
            vendor_object: "calls",
            id_prefix: "call-",
            values: vec![("hs_timestamp", json!(YEAR_10000_MS))],
            field: "start_time",
        },
        Planted {
            vendor: "zoho",
            object: "engagements",
            vendor_object: "Calls",
            id_prefix: "call-",
            values: vec![("Call_Duration_in_seconds", json!(1e23))],
            field: "duration_seconds",
        },
    ])
    .await;
}
