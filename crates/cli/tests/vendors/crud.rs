//! Create, get, update and delete round trips for every writable object on every vendor.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::{Check, Vendor, check};

pub const CHECKS: &[Check] = &[
    check!(round_trips_every_object),
    check!(an_updates_null_clears_every_derived_field),
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
