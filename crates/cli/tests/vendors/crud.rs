//! Create, get, update and delete round trips for every writable object on every vendor.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::{Check, Vendor, check};

pub const CHECKS: &[Check] = &[
    check!(round_trips_every_object),
    check!(an_updates_null_clears_every_derived_field),
    check!(an_update_writes_every_field_it_takes),
    check!(a_contact_keeps_every_email_and_phone_or_refuses_them),
    check!(an_engagement_update_its_schema_allows_is_taken_on_every_type),
    check!(an_engagement_keeps_its_times_or_refuses_them),
    check!(an_engagement_ending_before_its_start_is_refused),
];

async fn first_id(app: &TestApp, provider: &str, object: &str) -> String {
    let (status, body) = app
        .get(&format!(
            "/unified/crm/{object}?connection_id={}&page_size=1",
            app.connection(provider)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["results"][0]["id"].as_str().expect("an id").to_owned()
}

async fn round_trip(
    app: &TestApp,
    provider: &str,
    object: &str,
    create: Value,
    update: Value,
    changed: &str,
) {
    // Fields this vendor does not have are not sent: they could not round-trip. What the
    // connection can write is what /meta's create schema lists (a body naming anything else is
    // refused).
    let connection = app.connection(provider);
    let (status, meta) = app
        .get(&format!(
            "/unified/crm/{object}/meta?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, 200, "{provider} {object} meta: {meta}");
    let writable = meta["create_schema"]["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut create = create;
    if let Value::Object(fields) = &mut create {
        fields.retain(|key, _| {
            writable.contains_key(key)
                && !app
                    .facts(provider)
                    .unsupported
                    .contains(&format!("{object}.{key}"))
        });
    }
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/crm/{object}?connection_id={connection}"),
            Some(create.clone()),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{provider} create {object}: {created}"
    );
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{provider} {object}: created record has an id: {created}"))
        .to_owned();
    for (key, value) in create.as_object().expect("an object") {
        if value.is_string() {
            assert_eq!(
                &created[key], value,
                "{provider} {object}: `{key}` after create: {created}"
            );
        }
    }

    let (status, fetched) = app
        .get(&format!(
            "/unified/crm/{object}/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, 200, "{provider} get {object}: {fetched}");
    assert_eq!(fetched["id"], created["id"]);

    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/unified/crm/{object}/{id}?connection_id={connection}"),
            Some(update.clone()),
        )
        .await;
    assert_eq!(status, 200, "{provider} update {object}: {updated}");
    assert_eq!(
        updated[changed], update[changed],
        "{provider} {object}: `{changed}` after update: {updated}"
    );
    let (_, fetched) = app
        .get(&format!(
            "/unified/crm/{object}/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(
        fetched[changed], update[changed],
        "{provider} {object}: `{changed}` read back: {fetched}"
    );

    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/unified/crm/{object}/{id}?connection_id={connection}"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "{provider} delete {object}: {body}"
    );
    let (status, body) = app
        .get(&format!(
            "/unified/crm/{object}/{id}?connection_id={connection}"
        ))
        .await;
    // Whether the vendor forgets a deleted record or keeps it as a tombstone, reading it is a
    // 404 on every vendor (issue 15).
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{provider} {object} after delete: {body}"
    );
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["origin"], "provider");
    // Writing to it again is a 404 too, whether the vendor answers 404 or 410 for a record it
    // deleted (Pipedrive's soft-deleted deals, persons and organizations).
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/unified/crm/{object}/{id}?connection_id={connection}"),
            Some(update.clone()),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{provider} {object} updated after delete: {body}"
    );
    assert_eq!(body["code"], "not_found", "{provider} {object}: {body}");
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/unified/crm/{object}/{id}?connection_id={connection}"),
            None,
        )
        .await;
    // Deleting it again: a 404, or the 204 of a vendor whose deletes are idempotent
    // (HubSpot's archive answers 204 for an archived record); never an error of another kind.
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::NO_CONTENT,
        "{provider} {object} deleted twice: {status} {body}"
    );
}

/// An update's `null` clears the field at the vendor (docs/unified-model.md), whatever the
/// vendor's own way of clearing is (`null`, `""`, …); an absent field is left as it is.
async fn an_updates_null_clears_the_field(app: &TestApp, provider: &str) {
    let connection = app.connection(provider);
    // The contact's `title`, or its company where the connection cannot write a title
    // (Pipedrive's persons have none).
    let (status, meta) = app
        .get(&format!(
            "/unified/crm/contacts/meta?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{provider}: {meta}");
    let company = first_id(app, provider, "companies").await;
    let (field, value) = [
        ("title", json!("Rear Admiral")),
        ("company_id", json!(company)),
    ]
    .into_iter()
    .find(|(field, _)| {
        ["create_schema", "update_schema"]
            .iter()
            .all(|schema| meta[schema]["properties"].get(field).is_some())
    })
    .unwrap_or_else(|| panic!("{provider}: contacts write neither a title nor a company"));
    let mut create = json!({"first_name": "Grace", "last_name": "Hopper"});
    create[field] = value.clone();
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/crm/contacts?connection_id={connection}"),
            Some(create),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{provider}: {created}");
    assert_eq!(created[field], value, "{provider}: {created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/unified/crm/contacts/{id}?connection_id={connection}"),
            Some(json!({field: null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{provider}: {updated}");
    let (status, fetched) = app
        .get(&format!(
            "/unified/crm/contacts/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{provider}: {fetched}");
    for record in [&updated, &fetched] {
        assert!(
            record[field].is_null(),
            "{provider}: `{field}` after an update with null: {record}"
        );
        assert_eq!(record["last_name"], "Hopper", "{provider}: {record}");
    }
}

async fn round_trips_every_object(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    an_updates_null_clears_the_field(&app, provider).await;
    let contact = first_id(&app, provider, "contacts").await;
    let (_, pipelines) = app
        .get(&format!(
            "/unified/crm/pipelines?connection_id={}",
            app.connection(provider)
        ))
        .await;
    let pipeline = &pipelines["results"][0];
    let stage = pipeline["stages"][0]["id"]
        .as_str()
        .expect("a stage")
        .to_owned();
    let pipeline_id = pipeline["id"].as_str().expect("a pipeline id").to_owned();

    round_trip(
        &app,
        provider,
        "contacts",
        json!({"first_name": "Ada", "last_name": "Lovelace", "email_addresses": [{"email_address": format!("ada.{provider}@example.com"), "type": "PRIMARY"}]}),
        json!({"last_name": "King"}),
        "last_name",
    )
    .await;
    round_trip(
        &app,
        provider,
        "companies",
        json!({"name": "Analytical Engines Ltd"}),
        json!({"name": "Difference Engines Ltd"}),
        "name",
    )
    .await;
    round_trip(
        &app,
        provider,
        "opportunities",
        json!({"name": "Engine order", "close_date": "2026-12-31", "pipeline_id": pipeline_id, "stage_id": stage}),
        json!({"name": "Bigger engine order"}),
        "name",
    )
    .await;
    round_trip(
        &app,
        provider,
        "notes",
        json!({"content": "Met at the exhibition.", "title": "Exhibition", "contact_ids": [contact]}),
        json!({"content": "Met twice."}),
        "content",
    )
    .await;
    round_trip(
        &app,
        provider,
        "tasks",
        json!({"subject": "Send the plans", "priority": "HIGH"}),
        json!({"subject": "Send the final plans"}),
        "subject",
    )
    .await;
    round_trip(
        &app,
        provider,
        "engagements",
        json!({"type": "CALL", "subject": "Intro call", "direction": "OUTBOUND"}),
        json!({"subject": "Second call"}),
        "subject",
    )
    .await;
    // Some vendors' leads carry the person (last name and company, as Salesforce's); others'
    // only have a name and must belong to an existing contact, which their connectors read and
    // write as `converted_contact_id` (as HubSpot's).
    let (lead, lead_update, lead_changed) = if app.facts(provider).leads_carry_the_person {
        (
            json!({"first_name": "Charles", "last_name": "Babbage", "company_name": "Engines"}),
            json!({"last_name": "Babbage Jr"}),
            "last_name",
        )
    } else {
        (
            json!({"name": "Charles Babbage", "status": "WORKING", "converted_contact_id": contact}),
            json!({"name": "Charles Babbage Jr"}),
            "name",
        )
    };
    round_trip(&app, provider, "leads", lead, lead_update, lead_changed).await;
}

/// Whether a record's field holds nothing: null, blank text, an empty list, or an object of
/// such (money with neither amount nor currency).
fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.values().all(is_empty_value),
        _ => false,
    }
}

/// Every field an update takes that is made of several vendor fields (phone numbers, email
/// addresses, addresses, domains, money: its lists and objects, ids aside) is cleared by
/// `null` and a list by `[]`: a record read back after the update has the field empty, or the
/// update is refused with a 400 naming a field of the body before any write. Never a 200 that
/// left the vendor's values as they were (issue 15: the write mappings dropped such nulls).
async fn an_updates_null_clears_every_derived_field(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let connection = app.connection(provider);
    let mut failures = Vec::new();
    for object in [
        "contacts",
        "companies",
        "leads",
        "opportunities",
        "tasks",
        "notes",
        "engagements",
    ] {
        let (status, meta) = app
            .get(&format!(
                "/unified/crm/{object}/meta?connection_id={connection}"
            ))
            .await;
        if status != StatusCode::OK {
            continue;
        }
        let Some(properties) = meta["update_schema"]["properties"].as_object() else {
            continue;
        };
        let (status, page) = app
            .get(&format!(
                "/unified/crm/{object}?connection_id={connection}&page_size=100"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{provider} {object}: {page}");
        let records: Vec<Value> = page["results"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|record| record["remote_deleted"] != json!(true))
            .collect();
        let mut used = Vec::new();
        for field in properties.keys() {
            // The fields made of several vendor fields: lists and objects (ids aside).
            let takes = |kind: &str| {
                properties[field]["type"] == kind
                    || properties[field]["type"]
                        .as_array()
                        .is_some_and(|kinds| kinds.contains(&json!(kind)))
            };
            let list = takes("array");
            if field == "custom_fields"
                || field == "remote_data"
                || field.ends_with("_ids")
                || !(list || takes("object"))
            {
                continue;
            }
            let emptied: &[Value] = if list {
                &[Value::Null, json!([])]
            } else {
                &[Value::Null]
            };
            for empty in emptied {
                // A record holding a value for the field, not yet changed by this check.
                let Some(record) = records.iter().find(|record| {
                    !is_empty_value(&record[field]) && !used.contains(&record["id"])
                }) else {
                    continue;
                };
                used.push(record["id"].clone());
                let id = record["id"].as_str().expect("an id");
                let path = format!("/unified/crm/{object}/{id}?connection_id={connection}");
                let (status, answer) = app
                    .call(
                        Method::PATCH,
                        &path,
                        Some(Value::Object(
                            [(field.clone(), empty.clone())].into_iter().collect(),
                        )),
                    )
                    .await;
                match status {
                    StatusCode::BAD_REQUEST
                        if answer["field"]
                            .as_str()
                            .is_some_and(|named| named.starts_with("body.")) => {}
                    StatusCode::OK => {
                        let (status, fetched) = app.get(&path).await;
                        assert_eq!(status, StatusCode::OK, "{provider} {object}: {fetched}");
                        if !is_empty_value(&fetched[field]) {
                            failures.push(format!(
                                "{object}.{field} = {empty}: answered 200, read back {} (was {})",
                                fetched[field], record[field]
                            ));
                        }
                    }
                    _ => failures.push(format!(
                        "{object}.{field} = {empty}: answered {status} {answer}"
                    )),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{provider}: {} update(s) did not clear their field:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The values a schema lists (`enum`, `const`, through `$ref`s into the schema's `$defs` and
/// `anyOf`/`oneOf` branches), nulls left out; `None` for a schema that lists none.
fn listed_values(schema: &Value, root: &Value) -> Option<Vec<Value>> {
    if let Some(values) = schema["enum"].as_array() {
        return Some(values.iter().filter(|v| !v.is_null()).cloned().collect());
    }
    if let Some(value) = schema.get("const") {
        return Some(vec![value.clone()]);
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return listed_values(&root["$defs"][name], root);
    }
    let mut values = Vec::new();
    let mut any = false;
    for branch in ["anyOf", "oneOf"]
        .iter()
        .filter_map(|key| schema[key].as_array())
        .flatten()
    {
        if let Some(found) = listed_values(branch, root) {
            any = true;
            values.extend(found);
        }
    }
    any.then_some(values)
}

/// Whether a property's schema takes `kind` (`"null"`, `"string"`, …), through its branches.
fn schema_takes(schema: &Value, kind: &str, root: &Value) -> bool {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return schema_takes(&root["$defs"][name], kind, root);
    }
    let typed = schema["type"] == kind
        || schema["type"]
            .as_array()
            .is_some_and(|kinds| kinds.contains(&json!(kind)));
    typed
        || (kind == "null"
            && schema["enum"]
                .as_array()
                .is_some_and(|v| v.contains(&Value::Null)))
        || ["anyOf", "oneOf"]
            .iter()
            .filter_map(|key| schema[key].as_array())
            .flatten()
            .any(|branch| schema_takes(branch, kind, root))
}

/// Whether a value read back is the value an update sent: the same instant for times, the
/// same ids in any order for id lists, the same number for numbers, nothing for null.
fn same_value(sent: &Value, got: &Value) -> bool {
    let instant = |value: &Value| {
        value
            .as_str()
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
    };
    let number = |value: &Value| match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.parse::<f64>().ok(),
        _ => None,
    };
    match (sent, got) {
        (Value::Null, _) => is_empty_value(got),
        (Value::Array(sent), Value::Array(got)) => {
            let mut sent: Vec<String> = sent.iter().map(Value::to_string).collect();
            let mut got: Vec<String> = got.iter().map(Value::to_string).collect();
            sent.sort();
            got.sort();
            sent == got
        }
        (Value::Array(sent), _) => sent.is_empty() && is_empty_value(got),
        (Value::Number(_), _) => number(sent).is_some() && number(sent) == number(got),
        _ => match (instant(sent), instant(got)) {
            (Some(sent), Some(got)) => sent == got,
            _ => sent == got,
        },
    }
}

/// The ids of the records of `object` (up to a page of 100), deleted ones left out.
async fn ids_of(app: &TestApp, connection: &str, object: &str) -> Vec<Value> {
    let (status, page) = app
        .get(&format!(
            "/unified/crm/{object}?connection_id={connection}&page_size=100"
        ))
        .await;
    if status != StatusCode::OK {
        return Vec::new();
    }
    page["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|record| record["remote_deleted"] != json!(true))
        .map(|record| record["id"].clone())
        .collect()
}

/// Updates still not carried as asked, by vendor and field, reported by
/// `an_update_writes_every_field_it_takes` without failing it (issue 15, left for later: each
/// is a silent drop or a vendor refusal the connector does not state up front). The list only
/// shrinks: a field listed here that is now written fails the check until it is removed.
const STILL_NOT_WRITTEN: &[(&str, &str)] = &[
    // An appointment's location, a phone call's none (and a Zoho call's none).
    ("dynamics365", "engagements.location"),
    ("zoho", "engagements.location"),
];

/// Every field an update takes (scalars, ids and id lists; /meta's update schema) is written:
/// an update giving it a new valid value, or `null` where the schema takes null, reads back
/// with that value, or is refused with a 400 naming a field of the body before any write.
/// Never a 200 that left the vendor's value as it was (issue 15: statuses and priorities,
/// guarded times, associations, parents, names and owners were dropped on update).
async fn an_update_writes_every_field_it_takes(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let connection = app.connection(provider);
    let (_, pipelines) = app
        .get(&format!(
            "/unified/crm/pipelines?connection_id={connection}"
        ))
        .await;
    let pipelines = pipelines["results"].as_array().cloned().unwrap_or_default();
    let mut references = std::collections::BTreeMap::new();
    for (kind, object) in [
        ("owner", "users"),
        ("user", "users"),
        ("company", "companies"),
        ("contact", "contacts"),
        ("opportunity", "opportunities"),
        ("lead", "leads"),
    ] {
        references.insert(kind, ids_of(&app, &connection, object).await);
    }
    let mut failures = Vec::new();
    for object in [
        "contacts",
        "companies",
        "leads",
        "opportunities",
        "tasks",
        "notes",
        "engagements",
    ] {
        let (status, meta) = app
            .get(&format!(
                "/unified/crm/{object}/meta?connection_id={connection}"
            ))
            .await;
        if status != StatusCode::OK {
            continue;
        }
        let schema = &meta["update_schema"];
        let Some(properties) = schema["properties"].as_object() else {
            continue;
        };
        // The groups an update names whole (`exclusive`): `{"anyOf": [{"required": group}, …]}`.
        let groups: Vec<Vec<String>> = schema["allOf"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|part| part["anyOf"][0]["required"].as_array())
            .filter(|group| group.len() > 1)
            .map(|group| {
                group
                    .iter()
                    .filter_map(|name| name.as_str().map(str::to_owned))
                    .collect()
            })
            .collect();
        let records = ids_of(&app, &connection, object).await;
        let Some(id) = records.first().and_then(Value::as_str) else {
            continue;
        };
        let path = format!("/unified/crm/{object}/{id}?connection_id={connection}");
        for (field, property) in properties {
            if field == "custom_fields" || field == "remote_data" {
                continue;
            }
            let (status, current) = app.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{provider} {object}: {current}");
            let now = &current[field];
            let list = schema_takes(property, "array", schema);
            let mut body = serde_json::Map::new();
            let mut extra = Vec::new();
            // A new value: another record's id, another listed value, another time, …
            let new_value = if let Some(kind) = field.strip_suffix("_ids") {
                let taken: Vec<Value> = now.as_array().cloned().unwrap_or_default();
                references
                    .get(kind)
                    .and_then(|ids| ids.iter().find(|each| !taken.contains(each)))
                    .map(|each| json!([each]))
            } else if field == "stage_id" {
                let pipeline = pipelines
                    .iter()
                    .find(|pipeline| pipeline["id"] == current["pipeline_id"])
                    .or(pipelines.first());
                pipeline
                    .and_then(|pipeline| pipeline["stages"].as_array())
                    .and_then(|stages| stages.iter().find(|stage| &stage["id"] != now))
                    .map(|stage| stage["id"].clone())
            } else if field == "pipeline_id" {
                pipelines
                    .iter()
                    .find(|pipeline| &pipeline["id"] != now)
                    .map(|pipeline| {
                        // The stage goes with its pipeline.
                        if properties.contains_key("stage_id") {
                            body.insert("stage_id".to_owned(), pipeline["stages"][0]["id"].clone());
                        }
                        pipeline["id"].clone()
                    })
            } else if let Some(kind) = field.strip_suffix("_id") {
                let kind = kind.rsplit('_').next().unwrap_or(kind);
                references
                    .get(kind)
                    .and_then(|ids| {
                        ids.iter()
                            .find(|each| *each != now && each.as_str() != Some(id))
                    })
                    .cloned()
            } else if let Some(values) = listed_values(property, schema) {
                // Every listed value is written (each must be carried, or refused first).
                let mut others = values.into_iter().filter(|value| value != now);
                let first = others.next();
                extra.extend(others);
                first
            } else if list || schema_takes(property, "object", schema) {
                // Lists and objects made of several vendor fields: the other check's.
                None
            } else if schema_takes(property, "boolean", schema) {
                Some(json!(now != &json!(true)))
            } else if schema_takes(property, "integer", schema)
                || schema_takes(property, "number", schema)
            {
                let minimum = property["minimum"].as_f64().unwrap_or(0.0);
                let maximum = property["maximum"].as_f64().unwrap_or(1_000_000.0);
                let step = property["multipleOf"].as_f64().unwrap_or(1.0);
                [35.0, 45.0, 1800.0, 2700.0]
                    .into_iter()
                    .find(|candidate| {
                        *candidate >= minimum
                            && *candidate <= maximum
                            && (candidate / step).fract() == 0.0
                            && now.as_f64() != Some(*candidate)
                    })
                    .map(|candidate| json!(candidate as i64))
            } else if property["format"] == "date-time" {
                ["2027-03-04T00:00:00Z", "2027-05-06T00:00:00Z"]
                    .into_iter()
                    .map(|text| json!(text))
                    .find(|candidate| !same_value(candidate, now))
            } else if property["format"] == "date" {
                ["2027-03-04", "2027-05-06"]
                    .into_iter()
                    .map(|text| json!(text))
                    .find(|candidate| candidate != now)
            } else if schema_takes(property, "string", schema) {
                let text = format!("Changed-{field}");
                let fits = property["pattern"].as_str().is_none_or(|pattern| {
                    regex::Regex::new(pattern).is_ok_and(|pattern| pattern.is_match(&text))
                });
                fits.then(|| json!(text))
            } else {
                None
            };
            let mut sent = Vec::new();
            if let Some(value) = new_value {
                sent.push((value, body.clone()));
            }
            sent.extend(extra.into_iter().map(|value| (value, body.clone())));
            if schema_takes(property, "null", schema) && !is_empty_value(now) {
                sent.push((Value::Null, serde_json::Map::new()));
            }
            for (value, mut body) in sent {
                body.insert(field.clone(), value.clone());
                // A field of an exclusive group is written with the group's other fields empty.
                for group in groups.iter().filter(|group| group.contains(field)) {
                    for other in group.iter().filter(|other| *other != field) {
                        let empty = if schema_takes(&properties[other], "null", schema) {
                            Value::Null
                        } else {
                            json!([])
                        };
                        body.entry(other.clone()).or_insert(empty);
                    }
                }
                let (status, answer) = app
                    .call(Method::PATCH, &path, Some(Value::Object(body.clone())))
                    .await;
                let body = Value::Object(body);
                match status {
                    StatusCode::BAD_REQUEST
                        if answer["field"]
                            .as_str()
                            .is_some_and(|named| named.starts_with("body.")) => {}
                    // A record keeps its type where the connector says so (`types`): another
                    // type than the record's conflicts with it.
                    StatusCode::CONFLICT
                        if answer["code"] == "type_mismatch"
                            && answer["field"] == format!("body.{field}") => {}
                    StatusCode::OK => {
                        let (status, fetched) = app.get(&path).await;
                        assert_eq!(status, StatusCode::OK, "{provider} {object}: {fetched}");
                        if !same_value(&value, &fetched[field]) {
                            failures.push(format!(
                                "{object}.{field}: {body} answered 200, read back {} (was {now})",
                                fetched[field]
                            ));
                        }
                    }
                    _ => failures.push(format!(
                        "{object}.{field}: {body} answered {status} {answer}"
                    )),
                }
            }
        }
    }
    let listed = |failure: &String| {
        STILL_NOT_WRITTEN
            .iter()
            .any(|(vendor, field)| *vendor == provider && failure.starts_with(&format!("{field}:")))
    };
    let (known, failures): (Vec<String>, Vec<String>) = failures.into_iter().partition(listed);
    for failure in &known {
        eprintln!("{provider}: still not written (STILL_NOT_WRITTEN): {failure}");
    }
    let fixed: Vec<&str> = STILL_NOT_WRITTEN
        .iter()
        .filter(|(vendor, field)| {
            *vendor == provider
                && !known
                    .iter()
                    .any(|failure| failure.starts_with(&format!("{field}:")))
        })
        .map(|(_, field)| *field)
        .collect();
    assert!(
        failures.is_empty(),
        "{provider}: {} update(s) did not write their field:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "{provider}: written now, remove from STILL_NOT_WRITTEN: {fixed:?}"
    );
}

/// A contact update giving two email addresses and three phone numbers (two of one kind)
/// either keeps every one of them (read back) or is refused with a 400 naming the list before
/// any write, as /meta's update schema states (`maxItems`, one item per kind): never a 200
/// that kept the first of each kind and dropped the others (issue 15: HubSpot, Salesforce and
/// Dynamics keep one email and one phone of each kind).
async fn a_contact_keeps_every_email_and_phone_or_refuses_them(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let connection = app.connection(provider);
    let (status, meta) = app
        .get(&format!(
            "/unified/crm/contacts/meta?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{provider}: {meta}");
    let properties = &meta["update_schema"]["properties"];
    let id = ids_of(&app, &connection, "contacts").await[0]
        .as_str()
        .expect("an id")
        .to_owned();
    let path = format!("/unified/crm/contacts/{id}?connection_id={connection}");
    let lists = [
        (
            "email_addresses",
            json!([
                {"email_address": "first.kept@example.com", "type": "WORK", "is_primary": true},
                {"email_address": "second.kept@example.com", "type": "WORK", "is_primary": false}
            ]),
            "email_address",
        ),
        (
            "phone_numbers",
            json!([
                {"phone_number": "+14155550101", "type": "WORK", "is_primary": true},
                {"phone_number": "+14155550102", "type": "WORK", "is_primary": false},
                {"phone_number": "+14155550103", "type": "MOBILE", "is_primary": false}
            ]),
            "phone_number",
        ),
    ];
    let mut failures = Vec::new();
    for (field, value, key) in lists {
        if properties.get(field).is_none() {
            continue;
        }
        let (status, answer) = app
            .call(Method::PATCH, &path, Some(json!({field: value.clone()})))
            .await;
        match status {
            StatusCode::BAD_REQUEST
                if answer["field"]
                    .as_str()
                    .is_some_and(|named| named.starts_with(&format!("body.{field}"))) =>
            {
                // What was refused is what /meta says the connection cannot write.
                let schema = &properties[field];
                let stated = schema["maxItems"].as_u64().is_some_and(|most| most < 2)
                    || schema["allOf"]
                        .as_array()
                        .is_some_and(|parts| parts.iter().any(|part| part["maxContains"] == 1))
                    || schema["items"]["properties"]["type"]["enum"].is_array();
                if !stated {
                    failures.push(format!(
                        "{field}: refused ({answer}) but /meta's schema states no bound: {schema}"
                    ));
                }
            }
            StatusCode::OK => {
                let (_, fetched) = app.get(&path).await;
                let held: Vec<&Value> = fetched[field]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|item| &item[key])
                    .collect();
                for item in value.as_array().expect("a list") {
                    if !held.contains(&&item[key]) {
                        failures.push(format!(
                            "{field}: answered 200 but {} was dropped: read back {}",
                            item[key], fetched[field]
                        ));
                    }
                }
            }
            _ => failures.push(format!("{field}: answered {status} {answer}")),
        }
    }
    assert!(failures.is_empty(), "{provider}: {}", failures.join("\n"));
}

/// Vendors whose engagement times (an end a type does not hold, an end before the start) are
/// being carried by other work of issue 15 (Dynamics 365's and Zoho CRM's engagement fields):
/// the two time checks below skip them until it lands.
const TIMES_LEFT_FOR_LATER: &[&str] = &["dynamics365", "zoho"];

/// The engagement records to update, one per type the update takes (`type`'s values in the
/// update schema, every type read when the schema has no `type`), deleted ones left out.
async fn one_engagement_per_type(app: &TestApp, connection: &str, schema: &Value) -> Vec<Value> {
    let (status, page) = app
        .get(&format!(
            "/unified/crm/engagements?connection_id={connection}&page_size=100"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let taken = schema["properties"]
        .get("type")
        .and_then(|property| listed_values(property, schema));
    let mut chosen: Vec<Value> = Vec::new();
    for record in page["results"].as_array().into_iter().flatten() {
        if record["remote_deleted"] == json!(true)
            || chosen.iter().any(|each| each["type"] == record["type"])
            || taken
                .as_ref()
                .is_some_and(|values| !values.contains(&record["type"]))
        {
            continue;
        }
        chosen.push(record.clone());
    }
    chosen
}

/// Issue 15: a field one engagement type holds and another does not (HubSpot: a call's end,
/// a meeting's direction; Salesforce: a task's start; Close: a call's location) was refused
/// with 400 by the route chosen from the id, which the update schema, one per object, could
/// not state. Every update body the connection's update schema allows is taken on a record of
/// every type (the field read back as sent), or answered 409 `type_mismatch` when it names
/// another type than the record's (a record keeps its type), never a 400: what a field needs
/// with it is in the schema. Bodies the schema refuses are refused with a 400 naming a field
/// of the body.
async fn an_engagement_update_its_schema_allows_is_taken_on_every_type(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let connection = app.connection(provider);
    let (status, meta) = app
        .get(&format!(
            "/unified/crm/engagements/meta?connection_id={connection}"
        ))
        .await;
    if status != StatusCode::OK || !meta["update_schema"].is_object() {
        return;
    }
    let schema = &meta["update_schema"];
    let validator = jsonschema::validator_for(schema).expect("the update schema compiles");
    let properties = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let types = properties
        .get("type")
        .and_then(|property| listed_values(property, schema))
        .unwrap_or_default();
    let (start, end) = ("2027-03-04T10:00:00Z", "2027-03-04T10:30:00Z");
    let candidates = [
        ("subject", json!("Changed subject")),
        ("content", json!("Changed content")),
        ("direction", json!("INBOUND")),
        ("location", json!("Room 4")),
        ("start_time", json!(start)),
        ("end_time", json!(end)),
        ("duration_seconds", json!(1800)),
    ];
    let mut failures = Vec::new();
    for record in one_engagement_per_type(&app, &connection, schema).await {
        let id = record["id"].as_str().expect("an id");
        let kind = &record["type"];
        let path = format!("/unified/crm/engagements/{id}?connection_id={connection}");
        let mut bodies: Vec<(String, Value)> = Vec::new();
        for (field, value) in &candidates {
            if !properties.contains_key(*field) {
                continue;
            }
            let alone = json!({*field: value});
            let typed = json!({"type": kind, *field: value});
            let started = json!({"type": kind, *field: value, "start_time": start});
            for body in [alone, typed, started] {
                if !bodies.iter().any(|(_, each)| *each == body) {
                    bodies.push(((*field).to_owned(), body));
                }
            }
        }
        // Another type than the record's.
        for other in types.iter().filter(|other| *other != kind) {
            bodies.push(("type".to_owned(), json!({"type": other})));
        }
        for (field, body) in bodies {
            let allowed = validator.is_valid(&body);
            let (status, answer) = app.call(Method::PATCH, &path, Some(body.clone())).await;
            let named = answer["field"]
                .as_str()
                .is_some_and(|named| named.starts_with("body."));
            match (allowed, status) {
                (false, StatusCode::BAD_REQUEST) if named => {}
                (false, _) => failures.push(format!(
                    "{kind} {field}: {body} the schema refuses answered {status} {answer}"
                )),
                (true, StatusCode::CONFLICT)
                    if field == "type"
                        && answer["code"] == "type_mismatch"
                        && answer["field"] == "body.type" => {}
                (true, StatusCode::OK) => {
                    let (_, fetched) = app.get(&path).await;
                    let sent = &body[field.as_str()];
                    if !same_value(sent, &fetched[field.as_str()])
                        && !STILL_NOT_WRITTEN.iter().any(|(vendor, listed)| {
                            *vendor == provider && *listed == format!("engagements.{field}")
                        })
                    {
                        failures.push(format!(
                            "{kind} {field}: {body} answered 200, read back {}",
                            fetched[field.as_str()]
                        ));
                    }
                }
                (true, _) => failures.push(format!(
                    "{kind} {field}: {body} the schema allows answered {status} {answer}"
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{provider}: {} engagement update(s) disagree with the update schema:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Engagement creates whose read-back differs from the write (issue 15): a Salesforce call's or
/// email's start written as a date (its time lost, and read back as when it was logged),
/// Pipedrive's seconds dropped from a start or a length (`HH:MM`), an end a type does not hold
/// dropped. Every engagement created with a start and an end, of every type the create takes,
/// reads both back as given, or is refused with a 400 naming one of them.
async fn an_engagement_keeps_its_times_or_refuses_them(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    if TIMES_LEFT_FOR_LATER.contains(&provider) {
        return;
    }
    let connection = app.connection(provider);
    let (status, meta) = app
        .get(&format!(
            "/unified/crm/engagements/meta?connection_id={connection}"
        ))
        .await;
    if status != StatusCode::OK || !meta["create_schema"].is_object() {
        return;
    }
    let schema = &meta["create_schema"];
    let properties = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let types = properties
        .get("type")
        .and_then(|property| listed_values(property, schema))
        .unwrap_or_default();
    // Seconds past the minute, and 31.5 minutes apart.
    let (start, end) = ("2026-03-04T10:15:30Z", "2026-03-04T10:47:00Z");
    let mut failures = Vec::new();
    for kind in &types {
        for body in [
            json!({"type": kind, "subject": "Timed", "start_time": start}),
            json!({"type": kind, "subject": "Timed", "start_time": start, "end_time": end}),
        ] {
            let (status, created) = app
                .call(
                    Method::POST,
                    &format!("/unified/crm/engagements?connection_id={connection}"),
                    Some(body.clone()),
                )
                .await;
            match status {
                StatusCode::BAD_REQUEST
                    if ["body.start_time", "body.end_time"]
                        .contains(&created["field"].as_str().unwrap_or_default()) => {}
                StatusCode::CREATED => {
                    let id = created["id"].as_str().expect("an id");
                    let (status, fetched) = app
                        .get(&format!(
                            "/unified/crm/engagements/{id}?connection_id={connection}"
                        ))
                        .await;
                    assert_eq!(status, StatusCode::OK, "{provider}: {fetched}");
                    for field in ["start_time", "end_time"] {
                        if body.get(field).is_some() && !same_value(&body[field], &fetched[field]) {
                            failures.push(format!(
                                "{body} answered 201, read back {field} {}",
                                fetched[field]
                            ));
                        }
                    }
                }
                _ => failures.push(format!("{body} answered {status} {created}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{provider}: {} engagement(s) lost a time:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// No vendor holds an engagement ending before it starts (a negative length): such a create
/// is refused with a 400 naming `body.end_time` before any vendor call, on every type that
/// holds an end (issue 15: Close took it and answered a record whose duration could not be
/// read). A type without an end refuses the end itself.
async fn an_engagement_ending_before_its_start_is_refused(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    if TIMES_LEFT_FOR_LATER.contains(&provider) {
        return;
    }
    let connection = app.connection(provider);
    let (status, meta) = app
        .get(&format!(
            "/unified/crm/engagements/meta?connection_id={connection}"
        ))
        .await;
    if status != StatusCode::OK || !meta["create_schema"]["properties"]["end_time"].is_object() {
        return;
    }
    let schema = &meta["create_schema"];
    let types = listed_values(&schema["properties"]["type"], schema).unwrap_or_default();
    let mut failures = Vec::new();
    for kind in &types {
        let body = json!({"type": kind, "subject": "Backwards",
            "start_time": "2026-03-04T10:00:00Z", "end_time": "2026-03-04T09:00:00Z"});
        let (status, answer) = app
            .call(
                Method::POST,
                &format!("/unified/crm/engagements?connection_id={connection}"),
                Some(body.clone()),
            )
            .await;
        if status != StatusCode::BAD_REQUEST || answer["field"] != "body.end_time" {
            failures.push(format!("{body} answered {status} {answer}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{provider}: an end before the start was not refused:\n{}",
        failures.join("\n")
    );
}
