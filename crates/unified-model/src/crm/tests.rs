//! Tests of the CRM objects: the stable record shape, write-body checks, enums, money and the
//! generated schemas.

use serde_json::{Value, json};

use super::*;
use crate::ModelError;

fn normalize(object: CrmObject, record: Value) -> Result<Value, ModelError> {
    normalize_record(object, record)
}

fn error_text(result: Result<Value, ModelError>) -> String {
    match result {
        Ok(value) => panic!("expected an error, got {value}"),
        Err(error) => error.to_string(),
    }
}

fn keys(value: &Value) -> Vec<String> {
    value
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn normalize_writes_every_field_in_schema_order() {
    let record = json!({
        "remote_id": "101",
        "last_name": "Lovelace",
        "first_name": "Ada",
        "email_addresses": [{ "email_address": "ada@example.com", "type": "WORK" }],
        "updated_at": "2024-01-31T10:30:00.000+01:00",
    });
    let normalized = normalize(CrmObject::Contacts, record);
    let expected = json!({
        "id": "101",
        "remote_id": "101",
        "created_at": null,
        "updated_at": "2024-01-31T09:30:00Z",
        "remote_deleted": false,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "name": null,
        "title": null,
        "department": null,
        "lifecycle_stage": null,
        "lead_source": null,
        "email_addresses": [
            { "email_address": "ada@example.com", "type": "WORK", "is_primary": false }
        ],
        "phone_numbers": [],
        "addresses": [],
        "company_id": null,
        "owner_id": null,
        "last_activity_at": null,
        "custom_fields": {},
    });
    assert_eq!(normalized, Ok(expected.clone()));
    // The order of keys is part of the shape, and `==` on maps ignores it.
    assert_eq!(normalized.map(|value| keys(&value)), Ok(keys(&expected)));
}

#[test]
fn every_record_has_exactly_the_required_fields_of_its_schema() {
    for object in CrmObject::ALL {
        let normalized = normalize(object, json!({ "id": "1" })).expect("a bare id is a record");
        let schema = object.schema();
        let properties = keys(&schema["properties"]);
        let required: Vec<String> = schema["required"]
            .as_array()
            .expect("record schemas list required fields")
            .iter()
            .filter_map(|name| name.as_str().map(str::to_owned))
            .collect();
        let without_remote_data: Vec<String> = properties
            .iter()
            .filter(|name| *name != "remote_data")
            .cloned()
            .collect();
        assert_eq!(keys(&normalized), without_remote_data, "{object}");
        assert_eq!(required, without_remote_data, "{object}");
    }
}

#[test]
fn normalize_copies_between_id_and_remote_id() {
    let from_id = normalize(CrmObject::Users, json!({ "id": "u1" })).expect("valid");
    assert_eq!(
        (&from_id["id"], &from_id["remote_id"]),
        (&json!("u1"), &json!("u1"))
    );

    let both =
        normalize(CrmObject::Users, json!({ "id": "cw_1", "remote_id": "u1" })).expect("valid");
    assert_eq!(
        (&both["id"], &both["remote_id"]),
        (&json!("cw_1"), &json!("u1"))
    );

    let neither = normalize(CrmObject::Users, json!({ "id": null, "name": "Ada" }));
    assert_eq!(
        neither,
        Err(ModelError::MissingField {
            path: "remote_id".into()
        })
    );
}

#[test]
fn normalize_fills_stage_ids_and_names_the_stage_at_fault() {
    let pipeline = json!({
        "remote_id": "p1",
        "stages": [{ "remote_id": "s1", "probability": 20.0 }, { "name": "Lost" }],
    });
    assert_eq!(
        normalize(CrmObject::Pipelines, pipeline),
        Err(ModelError::MissingField {
            path: "stages[1].remote_id".into()
        })
    );

    let pipeline =
        json!({ "remote_id": "p1", "stages": [{ "remote_id": "s1", "probability": 20.0 }] });
    let normalized = normalize(CrmObject::Pipelines, pipeline).expect("valid");
    assert_eq!(
        normalized["stages"],
        json!([{
            "id": "s1", "remote_id": "s1", "name": null, "display_order": null,
            "probability": 20, "is_closed": null, "is_won": null, "is_active": null,
        }])
    );
}

#[test]
fn normalize_reads_null_lists_and_flags_as_empty() {
    let record = json!({
        "remote_id": "1",
        "domains": null,
        "phone_numbers": null,
        "custom_fields": null,
        "remote_deleted": null,
    });
    let normalized = normalize(CrmObject::Companies, record).expect("valid");
    assert_eq!(normalized["domains"], json!([]));
    assert_eq!(normalized["phone_numbers"], json!([]));
    assert_eq!(normalized["custom_fields"], json!({}));
    assert_eq!(normalized["remote_deleted"], json!(false));
}

#[test]
fn normalize_keeps_remote_data_and_custom_fields_as_given() {
    let record = json!({
        "remote_id": "1",
        "custom_fields": { "tier": "gold", "seats": 12, "tags": ["a", null] },
        "remote_data": [{ "path": "/crm/v3/objects/notes/1", "data": { "x": 1 } }],
    });
    let normalized = normalize(CrmObject::Notes, record.clone()).expect("valid");
    assert_eq!(normalized["custom_fields"], record["custom_fields"]);
    assert_eq!(normalized["remote_data"], record["remote_data"]);
    assert_eq!(
        keys(&normalized).last().map(String::as_str),
        Some("remote_data")
    );
}

#[test]
fn normalize_names_the_path_of_a_bad_field() {
    let cases = [
        (
            json!({ "remote_id": "1", "email_addresses": [{ "email": "a@b.c" }] }),
            "unknown field `email_addresses[0].email`",
        ),
        (
            json!({ "remote_id": "1", "firstname": "Ada" }),
            "unknown field `firstname`",
        ),
        (
            json!({ "remote_id": 1 }),
            // serde_json keeps numbers' text (`arbitrary_precision`), and its message then says
            // "number" without the value.
            "invalid value at `remote_id`: invalid type: number, expected a string",
        ),
        (
            json!({ "remote_id": "1", "updated_at": "2024-01-31 09:30" }),
            "invalid value at `updated_at`: `2024-01-31 09:30` is not an RFC 3339 date-time \
             such as `2024-01-31T09:30:00Z`",
        ),
        (
            json!({ "remote_id": "1", "phone_numbers": [{ "phone_number": "(555) 010-0100" }] }),
            "invalid value at `phone_numbers[0].phone_number`: `(555) 010-0100` is not an E.164 \
             phone number such as `+14155550100`",
        ),
        (json!([]), "expected a JSON object, found an array"),
    ];
    for (record, expected) in cases {
        assert_eq!(error_text(normalize(CrmObject::Contacts, record)), expected);
    }
}

#[test]
fn enums_are_upper_snake_and_strict() {
    let task = json!({ "remote_id": "t1", "status": "IN_PROGRESS", "priority": "HIGH" });
    let normalized = normalize(CrmObject::Tasks, task).expect("valid");
    assert_eq!(
        (&normalized["status"], &normalized["priority"]),
        (&json!("IN_PROGRESS"), &json!("HIGH"))
    );

    let engagement = json!({ "remote_id": "e1", "type": "SMS", "direction": null });
    let normalized = normalize(CrmObject::Engagements, engagement).expect("valid");
    assert_eq!(
        (&normalized["type"], &normalized["direction"]),
        (&json!("SMS"), &Value::Null)
    );

    assert_eq!(
        error_text(normalize(
            CrmObject::Opportunities,
            json!({ "remote_id": "o1", "status": "won" })
        )),
        "invalid value at `status`: unknown variant `won`, expected one of `OPEN`, `WON`, `LOST`"
    );
    assert_eq!(
        error_text(normalize(
            CrmObject::Leads,
            json!({ "remote_id": "l1", "addresses": [{ "type": "POSTAL" }] })
        )),
        "invalid value at `addresses[0].type`: unknown variant `POSTAL`, expected one of \
         `BILLING`, `SHIPPING`, `MAILING`, `HOME`, `WORK`, `OTHER`"
    );
}

#[test]
fn money_amounts_are_decimal_strings() {
    let opportunity = json!({
        "remote_id": "o1",
        "amount": { "amount": "1500.50", "currency": "EUR" },
        "probability": 40.0,
        "close_date": "2024-03-31",
    });
    let normalized = normalize(CrmObject::Opportunities, opportunity).expect("valid");
    assert_eq!(
        normalized["amount"],
        json!({ "amount": "1500.50", "currency": "EUR" })
    );
    assert_eq!(normalized["probability"], json!(40));
    assert_eq!(normalized["close_date"], json!("2024-03-31"));

    let no_currency = json!({ "remote_id": "c1", "annual_revenue": { "amount": "-3" } });
    let normalized = normalize(CrmObject::Companies, no_currency).expect("valid");
    assert_eq!(
        normalized["annual_revenue"],
        json!({ "amount": "-3", "currency": null })
    );

    let cases = [
        (
            json!({ "amount": 1500.5 }),
            "invalid value at `amount.amount`: invalid type: number, expected a string",
        ),
        (
            json!({ "amount": "1,500" }),
            "invalid value at `amount.amount`: `1,500` is not a decimal string such as `1500.50`",
        ),
        (
            json!({ "amount": "1500", "currency": "usd" }),
            "invalid value at `amount.currency`: `usd` is not an ISO 4217 currency code such as \
             `USD`",
        ),
        (
            json!({ "currency": "USD" }),
            "invalid value at `amount`: missing field `amount`",
        ),
    ];
    for (money, expected) in cases {
        let opportunity = json!({ "remote_id": "o1", "amount": money });
        assert_eq!(
            error_text(normalize(CrmObject::Opportunities, opportunity)),
            expected
        );
    }
}

#[test]
fn integers_accept_whole_floats_only() {
    let company = json!({ "remote_id": "c1", "number_of_employees": 250.0 });
    let normalized = normalize(CrmObject::Companies, company).expect("valid");
    assert_eq!(normalized["number_of_employees"], json!(250));

    let cases = [
        (json!(12.5), "`12.5` is not a whole number in range"),
        (json!(-1), "`-1` is not a whole number in range"),
        (
            json!("250"),
            "invalid type: string \"250\", expected a JSON number",
        ),
    ];
    for (employees, reason) in cases {
        let company = json!({ "remote_id": "c1", "number_of_employees": employees });
        assert_eq!(
            error_text(normalize(CrmObject::Companies, company)),
            format!("invalid value at `number_of_employees`: {reason}")
        );
    }
}

#[test]
fn write_bodies_keep_only_the_fields_sent_in_schema_order() {
    let body = json!({
        "last_name": "Lovelace",
        "title": null,
        "phone_numbers": [{ "phone_number": "+14155550100" }],
        "custom_fields": { "tier": "gold" },
        "first_name": "Ada",
    });
    let parsed = parse_write_body(CrmObject::Contacts, body).expect("valid");
    let expected = json!({
        "first_name": "Ada",
        "last_name": "Lovelace",
        "title": null,
        "phone_numbers": [{ "phone_number": "+14155550100" }],
        "custom_fields": { "tier": "gold" },
    });
    assert_eq!(parsed, expected);
    assert_eq!(keys(&parsed), keys(&expected));
}

#[test]
fn write_bodies_are_normalized_like_records() {
    let body = json!({ "due_at": "2024-05-01T12:00:00+02:00", "company_ids": null });
    let parsed = parse_write_body(CrmObject::Tasks, body).expect("valid");
    assert_eq!(
        parsed,
        json!({ "due_at": "2024-05-01T10:00:00Z", "company_ids": [] })
    );
}

#[test]
fn write_body_typos_and_read_only_fields_are_refused_by_name() {
    let typo = parse_write_body(CrmObject::Contacts, json!({ "first_nme": "Ada" }));
    assert_eq!(
        typo,
        Err(ModelError::UnknownField {
            path: "first_nme".into()
        })
    );
    assert_eq!(error_text(typo), "unknown field `first_nme`");

    let nested = parse_write_body(
        CrmObject::Leads,
        json!({ "email_addresses": [{ "email_address": "a@b.c" }, { "primary": true }] }),
    );
    assert_eq!(
        nested.as_ref().map_err(ModelError::path),
        Err(Some("email_addresses[1].primary"))
    );

    for field in [
        "id",
        "remote_id",
        "created_at",
        "updated_at",
        "remote_deleted",
    ] {
        let body = json!({ "name": "Acme", field: null });
        assert_eq!(
            parse_write_body(CrmObject::Companies, body),
            Err(ModelError::ReadOnlyField { path: field.into() })
        );
    }
    assert_eq!(
        error_text(parse_write_body(CrmObject::Notes, json!({ "id": "1" }))),
        "field `id` is read-only"
    );
}

#[test]
fn write_bodies_name_the_expected_type() {
    let body = json!({ "duration_seconds": "ten", "type": "CALL" });
    assert_eq!(
        error_text(parse_write_body(CrmObject::Engagements, body)),
        "invalid value at `duration_seconds`: invalid type: string \"ten\", expected a JSON number"
    );
    let body = json!({ "contact_ids": "c1" });
    assert_eq!(
        error_text(parse_write_body(CrmObject::Opportunities, body)),
        "invalid value at `contact_ids`: invalid type: string \"c1\", expected a sequence"
    );
    let body = json!({ "remote_data": ["x"] });
    assert_eq!(
        error_text(parse_write_body(CrmObject::Notes, body)),
        "invalid value at `remote_data`: expected an object of vendor fields, found an array"
    );
    assert_eq!(
        error_text(parse_write_body(CrmObject::Notes, json!("hello"))),
        "expected a JSON object, found a string"
    );
}

/// serde reads a struct from the array of its fields; the write schema says objects, so an
/// array where an object belongs is refused, naming the element.
#[test]
fn write_bodies_refuse_an_array_where_the_schema_has_an_object() {
    let body = json!({ "addresses": [[null, null]] });
    let error = parse_write_body(CrmObject::Contacts, body).expect_err("an array is no address");
    assert_eq!(error.path(), Some("addresses[0]"), "{error}");
    assert!(error.to_string().contains("object"), "{error}");
    let body = json!({ "phone_numbers": [{ "phone_number": "+14155550100", "type": "WORK" }],
        "addresses": [{ "street_1": "1 Main St", "city": "Springfield" }] });
    assert!(parse_write_body(CrmObject::Contacts, body).is_ok());
    let body = json!({ "name": "Acme", "addresses": [["1 Main St"]] });
    let error = parse_write_body(CrmObject::Companies, body).expect_err("an array is no address");
    assert_eq!(error.path(), Some("addresses[0]"), "{error}");
}

#[test]
fn write_bodies_pass_remote_data_objects_through() {
    let body = json!({ "content": "hi", "remote_data": { "hs_note_body_format": "x" } });
    assert_eq!(parse_write_body(CrmObject::Notes, body.clone()), Ok(body));
}

#[test]
fn read_only_objects_refuse_writes() {
    for object in [CrmObject::Users, CrmObject::Pipelines] {
        assert!(!object.supports_writes());
        assert_eq!(
            parse_write_body(object, json!({ "name": "x" })),
            Err(ModelError::WritesNotSupported {
                object: object.slug()
            })
        );
        assert_eq!(object.write_schema()["not"], json!({}));
    }
    assert_eq!(
        error_text(parse_write_body(CrmObject::Users, json!({}))),
        "`users` does not accept writes"
    );
}

#[test]
fn write_schemas_match_what_parse_write_body_accepts() {
    for object in CrmObject::ALL
        .into_iter()
        .filter(|object| object.supports_writes())
    {
        let schema = object.write_schema();
        assert_eq!(schema["additionalProperties"], json!(false), "{object}");
        assert!(
            schema.get("required").is_none(),
            "{object}: nothing is required"
        );
        let properties = schema["properties"]
            .as_object()
            .expect("write schemas have properties");
        for field in [
            "id",
            "remote_id",
            "created_at",
            "updated_at",
            "remote_deleted",
        ] {
            assert!(
                !properties.contains_key(field),
                "{object}.{field} is read-only"
            );
        }
        for (name, property) in properties {
            let nullable = property["type"]
                .as_array()
                .is_some_and(|types| types.contains(&json!("null")))
                || property["anyOf"]
                    .as_array()
                    .is_some_and(|branches| branches.contains(&json!({ "type": "null" })));
            assert!(
                nullable,
                "{object}.{name} should accept null in the write schema"
            );
            let parsed = parse_write_body(object, json!({ name: null }));
            assert!(parsed.is_ok(), "{object}.{name}: null refused: {parsed:?}");
        }
    }
}

#[test]
fn record_schemas_describe_every_field() {
    for object in CrmObject::ALL {
        let schema = object.schema();
        assert_eq!(
            schema["$schema"],
            json!("https://json-schema.org/draft/2020-12/schema")
        );
        assert_eq!(schema["title"], json!(object.record_name()));
        for (name, property) in schema["properties"].as_object().expect("properties") {
            assert!(
                property.get("description").is_some(),
                "{object}.{name} has no description"
            );
            assert!(
                property.get("default").is_none(),
                "{object}.{name} has a default"
            );
        }
    }
}

#[test]
fn objects_round_trip_through_their_slugs() {
    for object in CrmObject::ALL {
        assert_eq!(CrmObject::parse(object.slug()), Some(object));
        assert_eq!(object.to_string(), object.slug());
        assert_eq!(
            serde_json::to_value(object).ok(),
            Some(json!(object.slug()))
        );
    }
    assert_eq!(CrmObject::parse("Contacts"), None);
    assert_eq!(CrmObject::parse("deals"), None);
}
