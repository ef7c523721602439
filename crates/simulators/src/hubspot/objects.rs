//! The CRM v3 objects endpoints: list (id-cursor paging, `properties`, `associations`,
//! `archived`), read (`idProperty=email` for contacts), create, update and archive.
//!
//! Search lives in `search.rs`. Handlers hold the store lock only while they read or write, never
//! across an await.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::schema::{self, ObjectType};
use super::store::{self, Record, Selection, Store, WriteError};
use super::{Params, Portal, Shared, errors, seed};

const LIST_DEFAULT_LIMIT: usize = 10;
const LIST_MAX_LIMIT: usize = 100;
pub(super) const BATCH_MAX_INPUTS: usize = 100;

/// Parses the object type in a path, or answers 400 as HubSpot does.
pub(super) fn object_type(name: &str) -> Result<ObjectType, Response> {
    ObjectType::parse(name).ok_or_else(|| errors::unknown_object_type(name))
}

/// Applies a queued mutation fault for `path`: inserts, archives and updates records before the
/// page.
pub(super) fn apply_mutation(
    shared: &Shared,
    portal: &Portal,
    object_type: ObjectType,
    path: &str,
) {
    if let Some(mutation) = shared.faults.take_mutation(path) {
        let now = Utc::now();
        let mut store = portal.write();
        seed::insert_generated(&mut store, object_type, mutation.inserts, now);
        seed::archive_random(&mut store, object_type, mutation.deletes, now);
        seed::update_random(&mut store, object_type, mutation.updates, now);
    }
}

/// Reads `limit`: default, maximum, and HubSpot's 400 for a bad value.
pub(super) fn parse_limit(
    raw: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, Response> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    match raw.trim().parse::<usize>() {
        Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
        Ok(limit) if limit > max => Err(errors::validation(format!(
            "limit must be at most {max}, got {limit}"
        ))),
        _ => Err(errors::validation(format!(
            "limit must be an integer between 1 and {max}, got `{raw}`"
        ))),
    }
}

fn association_types(params: &Params) -> Vec<ObjectType> {
    params
        .list("associations")
        .iter()
        .filter_map(|name| ObjectType::parse(name))
        .collect()
}

/// `GET /crm/v3/objects/{objectType}`.
pub(super) async fn list(
    State(shared): State<Shared>,
    Extension(portal): Extension<Portal>,
    Path(type_name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let object_type = match object_type(&type_name) {
        Ok(object_type) => object_type,
        Err(response) => return response,
    };
    let params = Params::parse(query.as_deref());
    let limit = match parse_limit(params.get("limit"), LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT) {
        Ok(limit) => limit,
        Err(response) => return response,
    };
    let after: u64 = match params.get("after").map(str::trim) {
        None | Some("") => 0,
        Some(raw) => match raw.parse() {
            Ok(after) => after,
            Err(_) => return errors::validation(format!("Invalid paging cursor `after`: {raw}")),
        },
    };
    apply_mutation(
        &shared,
        &portal,
        object_type,
        &format!("/crm/v3/objects/{type_name}"),
    );
    let archived = params.flag("archived");
    let store = portal.read();
    let selection = Selection::new(&store, object_type, &params.list("properties"));
    let associations = association_types(&params);
    let mut results = Vec::with_capacity(limit);
    let mut next_after = None;
    for record in store
        .records(object_type)
        .range(after..)
        .map(|(_, record)| record)
        .filter(|record| record.archived_at.is_some() == archived)
    {
        if results.len() == limit {
            next_after = Some(record.id);
            break;
        }
        results.push(store::render(
            &store,
            object_type,
            record,
            &selection,
            &associations,
        ));
    }
    drop(store);
    let mut body = json!({ "results": results });
    if let Some(next_after) = next_after {
        let after = next_after.to_string();
        body["paging"] = json!({
            "next": {
                "after": after,
                "link": format!(
                    "https://api.hubapi.com/crm/v3/objects/{}?{}",
                    object_type.name(),
                    params.with_after(&after)
                ),
            }
        });
    }
    Json(body).into_response()
}

/// Finds a record by its path id (or by email with `idProperty=email`), live or archived as asked.
fn find<'a>(
    store: &'a Store,
    object_type: ObjectType,
    id: &str,
    params: &Params,
) -> Result<&'a Record, Response> {
    let archived = params.flag("archived");
    let record = match params.get("idProperty") {
        None | Some("hs_object_id") => id
            .parse::<u64>()
            .ok()
            .and_then(|id| store.records(object_type).get(&id)),
        Some("email") if object_type == ObjectType::Contacts => {
            let wanted = id.to_lowercase();
            store.records(object_type).values().find(|record| {
                record.archived_at.is_some() == archived
                    && record
                        .properties
                        .get("email")
                        .is_some_and(|email| email.to_lowercase() == wanted)
            })
        }
        Some(other) => {
            let unique = store
                .definition(object_type, other)
                .is_some_and(|definition| definition.has_unique_value);
            if !unique {
                return Err(errors::validation(format!(
                    "Property `{other}` is not a unique identifier property of {}",
                    object_type.name()
                )));
            }
            store.records(object_type).values().find(|record| {
                record
                    .properties
                    .get(other)
                    .is_some_and(|value| value == id)
            })
        }
    };
    record
        .filter(|record| record.archived_at.is_some() == archived)
        .ok_or_else(|| errors::object_not_found(id))
}

/// `GET /crm/v3/objects/{objectType}/{id}`.
pub(super) async fn read(
    Extension(portal): Extension<Portal>,
    Path((type_name, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let object_type = match object_type(&type_name) {
        Ok(object_type) => object_type,
        Err(response) => return response,
    };
    let params = Params::parse(query.as_deref());
    let store = portal.read();
    let record = match find(&store, object_type, &id, &params) {
        Ok(record) => record,
        Err(response) => return response,
    };
    let selection = Selection::new(&store, object_type, &params.list("properties"));
    let body = store::render(
        &store,
        object_type,
        record,
        &selection,
        &association_types(&params),
    );
    drop(store);
    Json(body).into_response()
}

/// Reads a JSON request body, answering HubSpot's 400 when it is not JSON.
pub(super) fn parse_body(body: &Bytes) -> Result<Value, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(body).map_err(|error| {
        errors::validation(format!(
            "Invalid input JSON on line {}, column {}: {error}",
            error.line(),
            error.column()
        ))
    })
}

fn properties_input(body: &Value) -> Result<Map<String, Value>, Response> {
    match body.get("properties") {
        Some(Value::Object(properties)) => Ok(properties.clone()),
        None | Some(Value::Null) => Err(errors::validation(
            "Invalid input JSON: `properties` is required and must be an object",
        )),
        Some(_) => Err(errors::validation(
            "Invalid input JSON: `properties` must be an object of property names to values",
        )),
    }
}

/// Reads the create body's `associations: [{to: {id}, types: [{associationCategory, associationTypeId}]}]`.
fn associations_input(
    object_type: ObjectType,
    body: &Value,
) -> Result<Vec<(ObjectType, u64)>, Response> {
    let Some(list) = body.get("associations").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut links = Vec::new();
    for association in list {
        let to_id = association
            .pointer("/to/id")
            .and_then(|id| match id {
                Value::String(text) => text.parse::<u64>().ok(),
                Value::Number(number) => number.as_u64(),
                _ => None,
            })
            .ok_or_else(|| errors::validation("Each association needs a numeric `to.id`"))?;
        let types = association
            .get("types")
            .and_then(Value::as_array)
            .filter(|types| !types.is_empty())
            .ok_or_else(|| {
                errors::validation("Each association needs at least one entry in `types`")
            })?;
        for association_type in types {
            let type_id = association_type
                .get("associationTypeId")
                .and_then(Value::as_u64)
                .and_then(|id| u32::try_from(id).ok())
                .ok_or_else(|| {
                    errors::validation("Each association type needs a numeric `associationTypeId`")
                })?;
            let to = schema::association_target(object_type, type_id).ok_or_else(|| {
                errors::validation(format!(
                    "{type_id} is not a valid association type id from {}",
                    object_type.name()
                ))
            })?;
            links.push((to, to_id));
        }
    }
    Ok(links)
}

fn write_error(error: WriteError, id: &str) -> Response {
    match error {
        WriteError::DuplicateEmail { existing_id } => errors::duplicate_contact(existing_id),
        WriteError::Association(message) => errors::validation(message),
        WriteError::NotFound => errors::object_not_found(id),
    }
}

/// Renders a record after a write: the defaults plus every property the caller wrote.
fn written(store: &Store, object_type: ObjectType, id: u64, names: Vec<String>) -> Value {
    let selection = Selection::new(store, object_type, &names);
    store
        .records(object_type)
        .get(&id)
        .map(|record| store::render(store, object_type, record, &selection, &[]))
        .unwrap_or(Value::Null)
}

/// `POST /crm/v3/objects/{objectType}`.
pub(super) async fn create(
    Extension(portal): Extension<Portal>,
    Extension(webhooks): Extension<crate::webhooks::Webhooks>,
    Path(type_name): Path<String>,
    body: Bytes,
) -> Response {
    let object_type = match object_type(&type_name) {
        Ok(object_type) => object_type,
        Err(response) => return response,
    };
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let (input, links) = match (
        properties_input(&body),
        associations_input(object_type, &body),
    ) {
        (Ok(input), Ok(links)) => (input, links),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    if object_type == ObjectType::Leads
        && let Err(response) = check_new_lead(&input, &links)
    {
        return response;
    }
    let mut store = portal.write();
    let mut values = match store.validate(object_type, &input) {
        Ok(values) => values,
        Err(list) => return errors::invalid_properties(&list),
    };
    let names: Vec<String> = values.keys().cloned().collect();
    if object_type == ObjectType::Leads {
        // New leads start in the default lead pipeline's first stage.
        for (name, default) in [
            ("hs_pipeline", schema::LEAD_PIPELINE),
            ("hs_pipeline_stage", schema::LEAD_STAGES[0]),
        ] {
            if values.get(name).is_none_or(Option::is_none) {
                values.insert(name.to_owned(), Some(default.to_owned()));
            }
        }
    }
    match store.create(object_type, values, &links, Utc::now()) {
        Ok(id) => {
            let body = written(&store, object_type, id, names);
            drop(store);
            super::emit_change(&webhooks, object_type, id, super::Change::Created);
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(error) => write_error(error, ""),
    }
}

/// What the leads guide requires of a new lead: an `hs_lead_name` and an association with an
/// existing contact (whether the contact exists is checked when the record is written).
fn check_new_lead(input: &Map<String, Value>, links: &[(ObjectType, u64)]) -> Result<(), Response> {
    let named = input
        .get("hs_lead_name")
        .and_then(Value::as_str)
        .is_some_and(|name| !name.trim().is_empty());
    if !named {
        return Err(errors::validation(
            "A lead needs a name: set the `hs_lead_name` property",
        ));
    }
    if !links.iter().any(|(to, _)| *to == ObjectType::Contacts) {
        return Err(errors::validation(
            "A lead must be associated with an existing contact (association type 578)",
        ));
    }
    Ok(())
}

/// `PATCH /crm/v3/objects/{objectType}/{id}`.
pub(super) async fn update(
    Extension(portal): Extension<Portal>,
    Extension(webhooks): Extension<crate::webhooks::Webhooks>,
    Path((type_name, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let object_type = match object_type(&type_name) {
        Ok(object_type) => object_type,
        Err(response) => return response,
    };
    let params = Params::parse(query.as_deref());
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let input = match properties_input(&body) {
        Ok(input) => input,
        Err(response) => return response,
    };
    let mut store = portal.write();
    let record_id = match find(&store, object_type, &id, &params) {
        Ok(record) if record.archived_at.is_none() => record.id,
        Ok(_) => return errors::object_not_found(&id),
        Err(response) => return response,
    };
    let values = match store.validate(object_type, &input) {
        Ok(values) => values,
        Err(list) => return errors::invalid_properties(&list),
    };
    let names: Vec<String> = values.keys().cloned().collect();
    match store.update(object_type, record_id, values, Utc::now()) {
        Ok(()) => {
            let body = written(&store, object_type, record_id, names);
            drop(store);
            super::emit_change(&webhooks, object_type, record_id, super::Change::Updated);
            Json(body).into_response()
        }
        Err(error) => write_error(error, &id),
    }
}

/// `DELETE /crm/v3/objects/{objectType}/{id}`: archives; archiving twice is still 204.
pub(super) async fn archive(
    Extension(portal): Extension<Portal>,
    Extension(webhooks): Extension<crate::webhooks::Webhooks>,
    Path((type_name, id)): Path<(String, String)>,
) -> Response {
    let object_type = match object_type(&type_name) {
        Ok(object_type) => object_type,
        Err(response) => return response,
    };
    let Some(record_id) = id.parse::<u64>().ok() else {
        return errors::object_not_found(&id);
    };
    let mut store = portal.write();
    if !store.records(object_type).contains_key(&record_id) {
        return errors::object_not_found(&id);
    }
    if store.archive(object_type, record_id, Utc::now()) {
        drop(store);
        super::emit_change(&webhooks, object_type, record_id, super::Change::Deleted);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /crm/v3/objects/{objectType}/batch/read`: up to 100 `inputs`; ids that are missing or
/// archived make the answer a 207 with an `OBJECT_NOT_FOUND` error listing them.
pub(super) async fn batch_read(
    Extension(portal): Extension<Portal>,
    Path(type_name): Path<String>,
    body: Bytes,
) -> Response {
    let object_type = match object_type(&type_name) {
        Ok(object_type) => object_type,
        Err(response) => return response,
    };
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(inputs) = body.get("inputs").and_then(Value::as_array) else {
        return errors::validation("Invalid input JSON: `inputs` is required");
    };
    if inputs.len() > BATCH_MAX_INPUTS {
        return errors::validation(format!(
            "Too many inputs: {} given, at most {BATCH_MAX_INPUTS} are allowed",
            inputs.len()
        ));
    }
    let requested: Vec<String> = body
        .get("properties")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut params = Vec::new();
    if let Some(id_property) = body.get("idProperty").and_then(Value::as_str) {
        params.push(("idProperty".to_owned(), id_property.to_owned()));
    }
    let params = Params(params);
    let started_at = store::iso(Utc::now());
    let store = portal.read();
    let selection = Selection::new(&store, object_type, &requested);
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in inputs {
        let id = match input.get("id") {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Number(id)) => id.to_string(),
            _ => return errors::validation("Each input needs an `id`"),
        };
        match find(&store, object_type, &id, &params) {
            Ok(record) => {
                results.push(store::render(&store, object_type, record, &selection, &[]));
            }
            Err(_) => missing.push(id),
        }
    }
    drop(store);
    let mut answer = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": started_at,
        "completedAt": store::iso(Utc::now()),
    });
    if missing.is_empty() {
        return Json(answer).into_response();
    }
    answer["numErrors"] = json!(1);
    answer["errors"] = json!([{
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": format!(
            "Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.",
            object_type.singular().to_uppercase()
        ),
        "context": {"ids": missing},
    }]);
    (StatusCode::MULTI_STATUS, Json(answer)).into_response()
}
