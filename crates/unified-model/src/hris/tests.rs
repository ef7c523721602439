//! Tests of the HRIS objects: the stable record shape, the two status questions kept apart,
//! money and decimals as strings, sensitive fields named, and write bodies.

use serde_json::{Value, json};

use super::*;
use crate::ModelError;

fn keys(value: &Value) -> Vec<String> {
    value
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn every_record_has_exactly_the_required_fields_of_its_schema() {
    for object in HrisObject::ALL {
        let normalized =
            normalize_record(object, json!({ "id": "1" })).expect("a bare id is a record");
        let schema = object.schema();
        let required: Vec<String> = schema["required"]
            .as_array()
            .expect("record schemas list required fields")
            .iter()
            .filter_map(|name| name.as_str().map(str::to_owned))
            .collect();
        assert_eq!(keys(&normalized), required, "{object}");
        for field in object.sensitive_fields() {
            assert!(
                required.iter().any(|name| name == field),
                "{object}.{field}"
            );
        }
    }
}

#[test]
fn a_terminated_employee_is_a_record_with_its_raw_status_and_not_deleted() {
    let employee = normalize_record(
        HrisObject::Employees,
        json!({
            "id": "54",
            "employment_status": "TERMINATED",
            "employment_status_raw": "Inactive",
            "termination_date": "2026-03-31",
            "custom_fields": {"shirt_size": "L"},
        }),
    )
    .expect("valid");
    assert_eq!(employee["employment_status"], "TERMINATED");
    assert_eq!(employee["employment_status_raw"], "Inactive");
    assert_eq!(employee["remote_deleted"], false);
    assert_eq!(employee["custom_fields"]["shirt_size"], "L");
    let wrong = normalize_record(
        HrisObject::Employees,
        json!({"id": "1", "employment_status": "terminated"}),
    );
    assert!(
        matches!(wrong, Err(ModelError::InvalidValue { ref path, .. }) if path == "employment_status"),
        "{wrong:?}"
    );
}

#[test]
fn money_and_time_off_amounts_are_decimal_strings() {
    let pay = normalize_record(
        HrisObject::Compensations,
        json!({"id": "c1", "type": "SALARY", "amount": {"amount": "85000.00", "currency": "USD"},
               "pay_period": "YEAR", "pay_frequency": "SEMIMONTHLY", "effective_date": "2025-01-01"}),
    )
    .expect("valid");
    assert_eq!(
        pay["amount"],
        json!({"amount": "85000.00", "currency": "USD"})
    );
    let float = normalize_record(
        HrisObject::Compensations,
        json!({"id": "c1", "amount": {"amount": 85000.5, "currency": "USD"}}),
    );
    assert!(float.is_err(), "a float amount is refused: {float:?}");
    let request = normalize_record(
        HrisObject::TimeOffRequests,
        json!({"id": "r1", "amount": "1.5", "units": "DAYS", "status": "APPROVED"}),
    )
    .expect("valid");
    assert_eq!(request["amount"], "1.5");
}

#[test]
fn only_employees_and_time_off_requests_take_writes() {
    for object in HrisObject::ALL {
        let body = json!({});
        let parsed = parse_write_body(object, body);
        assert_eq!(parsed.is_ok(), object.supports_writes(), "{object}");
    }
    assert_eq!(
        parse_write_body(HrisObject::Employees, json!({"remote_deleted": true})),
        Err(ModelError::ReadOnlyField {
            path: "remote_deleted".into()
        })
    );
    assert_eq!(
        parse_write_body(
            HrisObject::Employees,
            json!({"first_name": "Ada", "hire_date": null})
        ),
        Ok(json!({"first_name": "Ada", "hire_date": null}))
    );
}
