//! The portal-description endpoints: Properties (list, read, create custom), Owners (paged
//! list with an `email` filter, read), deal Pipelines and their stages, and v4 associations.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::objects::{object_type, parse_body, parse_limit};
use super::schema::{self, ObjectType, PropertyDef, PropertyType};
use super::{Params, Portal, errors};

/// `GET /crm/v3/properties/{objectType}`.
pub(super) async fn list_properties(
    Extension(portal): Extension<Portal>,
    Path(type_name): Path<String>,
) -> Response {
    let object_type = match object_type(&type_name) {
        Ok(object_type) => object_type,
        Err(response) => return response,
    };
    let results: Vec<Value> = portal
        .read()
        .definitions(object_type)
        .iter()
        .map(PropertyDef::to_json)
        .collect();
    Json(json!({ "results": results })).into_response()
}

/// `GET /crm/v3/properties/{objectType}/{propertyName}`.
pub(super) async fn read_property(
    Extension(portal): Extension<Portal>,
    Path((type_name, name)): Path<(String, String)>,
) -> Response {
    let object_type = match object_type(&type_name) {
        Ok(object_type) => object_type,
        Err(response) => return response,
    };
    let found = portal
        .read()
        .definition(object_type, &name)
        .map(PropertyDef::to_json);
    match found {
        Some(body) => Json(body).into_response(),
        None => errors::error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!(
                "Unable to find property named `{name}` for {}",
                object_type.name()
            ),
        ),
    }
}

/// `PATCH /crm/v3/properties/{objectType}/{propertyName}`: changes a property's label,
/// description, group or options (a portal's own lifecycle stages are options added to
/// HubSpot's `lifecyclestage`); its name and type stay.
pub(super) async fn update_property(
    Extension(portal): Extension<Portal>,
    Path((type_name, name)): Path<(String, String)>,
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
    let mut store = portal.write();
    let Some(definition) = store
        .properties
        .get_mut(&object_type)
        .and_then(|list| list.iter_mut().find(|definition| definition.name == name))
    else {
        return errors::error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!(
                "Unable to find property named `{name}` for {}",
                object_type.name()
            ),
        );
    };
    if body
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|kind| PropertyType::parse(kind) != Some(definition.property_type))
    {
        return errors::validation(format!("The type of property `{name}` cannot be changed"));
    }
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let options = match body.get("options") {
        Some(options) => {
            let parsed = PropertyDef::from_json(
                &json!({"name": name, "type": definition.property_type.name(), "options": options}),
                definition.hubspot_defined,
            );
            match parsed {
                Ok(parsed) => Some(parsed.options),
                Err(message) => return errors::validation(message),
            }
        }
        None => None,
    };
    if definition.property_type == PropertyType::Enumeration
        && options.as_ref().is_some_and(Vec::is_empty)
    {
        return errors::validation("An enumeration property needs at least one option");
    }
    if let Some(options) = options {
        definition.options = options;
    }
    if let Some(label) = text("label") {
        definition.label = label;
    }
    if let Some(description) = text("description") {
        definition.description = description;
    }
    if let Some(group) = text("groupName") {
        definition.group_name = group;
    }
    if let Some(field_type) = text("fieldType") {
        definition.field_type = field_type;
    }
    Json(definition.to_json()).into_response()
}

/// `POST /crm/v3/properties/{objectType}`: defines a custom property.
pub(super) async fn create_property(
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
    for required in ["name", "label", "type", "fieldType", "groupName"] {
        if body.get(required).and_then(Value::as_str).is_none() {
            return errors::validation(format!("Property definition is missing `{required}`"));
        }
    }
    let definition = match PropertyDef::from_json(&body, false) {
        Ok(definition) => definition,
        Err(message) => return errors::validation(message),
    };
    if definition.property_type == schema::PropertyType::Enumeration
        && definition.options.is_empty()
    {
        return errors::validation("An enumeration property needs at least one option");
    }
    let mut store = portal.write();
    if store.definition(object_type, &definition.name).is_some() {
        return errors::error(
            StatusCode::CONFLICT,
            "OBJECT_ALREADY_EXISTS",
            format!("A property named '{}' already exists.", definition.name),
        );
    }
    let rendered = definition.to_json();
    if let Some(list) = store.properties.get_mut(&object_type) {
        list.push(definition);
    }
    drop(store);
    (StatusCode::CREATED, Json(rendered)).into_response()
}

/// `GET /crm/v3/owners`: `limit` (≤ 500, default 100), `after`, `email`, `archived`.
pub(super) async fn list_owners(
    Extension(portal): Extension<Portal>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref());
    let limit = match parse_limit(params.get("limit"), 100, 500) {
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
    if params.flag("archived") {
        return Json(json!({ "results": [] })).into_response();
    }
    let email = params.get("email").map(str::to_lowercase);
    let store = portal.read();
    let mut owners: Vec<_> = store
        .owners
        .iter()
        .filter(|owner| owner.id >= after)
        .filter(|owner| {
            email
                .as_ref()
                .is_none_or(|email| owner.email.to_lowercase() == *email)
        })
        .collect();
    owners.sort_by_key(|owner| owner.id);
    let next_after = owners.get(limit).map(|owner| owner.id.to_string());
    let results: Vec<Value> = owners
        .iter()
        .take(limit)
        .map(|owner| owner.to_json())
        .collect();
    drop(store);
    let mut body = json!({ "results": results });
    if let Some(after) = next_after {
        body["paging"] = json!({
            "next": {
                "after": after,
                "link": format!("https://api.hubapi.com/crm/v3/owners/?{}", params.with_after(&after)),
            }
        });
    }
    Json(body).into_response()
}

/// `GET /crm/v3/owners/{ownerId}` (`idProperty=userId` also accepted).
pub(super) async fn read_owner(
    Extension(portal): Extension<Portal>,
    Path(owner_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref());
    let by_user_id = params.get("idProperty") == Some("userId");
    let wanted: Option<u64> = owner_id.parse().ok();
    let found = portal
        .read()
        .owners
        .iter()
        .find(|owner| Some(if by_user_id { owner.user_id } else { owner.id }) == wanted)
        .map(super::store::Owner::to_json);
    match found {
        Some(body) => Json(body).into_response(),
        None => errors::error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!("No owner found with id {owner_id}"),
        ),
    }
}

fn pipelines_for(type_name: &str) -> Result<Vec<schema::Pipeline>, Response> {
    match ObjectType::parse(type_name) {
        Some(ObjectType::Deals) => Ok(schema::pipelines()),
        Some(other) => Err(errors::validation(format!(
            "Object type {} does not support pipelines",
            other.name()
        ))),
        None => Err(errors::unknown_object_type(type_name)),
    }
}

fn pipeline_not_found(pipeline_id: &str) -> Response {
    errors::error(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        format!("Unable to find pipeline with id {pipeline_id}"),
    )
}

/// `GET /crm/v3/pipelines/{objectType}`.
pub(super) async fn list_pipelines(Path(type_name): Path<String>) -> Response {
    match pipelines_for(&type_name) {
        Ok(pipelines) => {
            let results: Vec<Value> = pipelines.iter().map(schema::pipeline_json).collect();
            Json(json!({ "results": results })).into_response()
        }
        Err(response) => response,
    }
}

/// `GET /crm/v3/pipelines/{objectType}/{pipelineId}`.
pub(super) async fn read_pipeline(
    Path((type_name, pipeline_id)): Path<(String, String)>,
) -> Response {
    match pipelines_for(&type_name) {
        Ok(pipelines) => match pipelines.iter().find(|pipeline| pipeline.id == pipeline_id) {
            Some(pipeline) => Json(schema::pipeline_json(pipeline)).into_response(),
            None => pipeline_not_found(&pipeline_id),
        },
        Err(response) => response,
    }
}

/// `GET /crm/v3/pipelines/{objectType}/{pipelineId}/stages`.
pub(super) async fn list_stages(
    Path((type_name, pipeline_id)): Path<(String, String)>,
) -> Response {
    match pipelines_for(&type_name) {
        Ok(pipelines) => match pipelines.iter().find(|pipeline| pipeline.id == pipeline_id) {
            Some(pipeline) => {
                Json(json!({ "results": schema::stages_json(pipeline) })).into_response()
            }
            None => pipeline_not_found(&pipeline_id),
        },
        Err(response) => response,
    }
}

/// `GET /crm/v4/objects/{fromObjectType}/{objectId}/associations/{toObjectType}`:
/// `limit` (≤ 500, default 500) and `after` (the next target id).
pub(super) async fn list_associations(
    Extension(portal): Extension<Portal>,
    Path((from_name, id, to_name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let (from, to) = match (object_type(&from_name), object_type(&to_name)) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    let params = Params::parse(query.as_deref());
    let limit = match parse_limit(params.get("limit"), 500, 500) {
        Ok(limit) => limit,
        Err(response) => return response,
    };
    let after: u64 = params
        .get("after")
        .and_then(|raw| raw.trim().parse().ok())
        .unwrap_or(0);
    let Some(from_id) = id.parse::<u64>().ok() else {
        return errors::object_not_found(&id);
    };
    let linked: Vec<u64> = {
        let store = portal.read();
        if store.live(from, from_id).is_none() {
            return errors::object_not_found(&id);
        }
        store
            .associated(from, from_id, to)
            .into_iter()
            .filter(|to_id| *to_id >= after)
            .collect()
    };
    let mut types = Vec::new();
    if let Some(primary) = schema::primary_association_type_id(from, to) {
        types.push(json!({"category": "HUBSPOT_DEFINED", "typeId": primary, "label": "Primary"}));
    }
    if let Some(unlabeled) = schema::association_type_id(from, to) {
        types.push(json!({"category": "HUBSPOT_DEFINED", "typeId": unlabeled, "label": null}));
    }
    let results: Vec<Value> = linked
        .iter()
        .take(limit)
        .map(|to_id| json!({"toObjectId": to_id, "associationTypes": types}))
        .collect();
    let mut body = json!({ "results": results });
    if let Some(next) = linked.get(limit) {
        let after = next.to_string();
        body["paging"] = json!({
            "next": {
                "after": after,
                "link": format!(
                    "https://api.hubapi.com/crm/v4/objects/{}/{id}/associations/{}?{}",
                    from.name(),
                    to.name(),
                    params.with_after(&after)
                ),
            }
        });
    }
    Json(body).into_response()
}

/// `POST /crm/v3/associations/{fromObjectType}/{toObjectType}/batch/read`: `inputs: [{id}]`
/// (at most 100). Each record with associations gets `{from: {id}, to: [{id, type}]}`, the
/// `type` being the label the objects' list shows (`contact_to_company`). Records with none, or
/// that do not exist, are named in `errors` and make the answer a 207 (HubSpot reports them as
/// `NO_ASSOCIATIONS_FOUND` under `OBJECT_NOT_FOUND`).
pub(super) async fn batch_read_associations(
    Extension(portal): Extension<Portal>,
    Path((from_name, to_name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (from, to) = match (object_type(&from_name), object_type(&to_name)) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(inputs) = body.get("inputs").and_then(Value::as_array) else {
        return errors::validation("Invalid input JSON: `inputs` is required");
    };
    if inputs.len() > super::objects::BATCH_MAX_INPUTS {
        return errors::validation(format!(
            "Too many inputs: {} given, at most {} are allowed",
            inputs.len(),
            super::objects::BATCH_MAX_INPUTS
        ));
    }
    let started_at = super::store::iso(chrono::Utc::now());
    let label = format!("{}_to_{}", from.singular(), to.singular());
    let mut results = Vec::new();
    let mut errors = Vec::new();
    {
        let store = portal.read();
        for input in inputs {
            let id = match input.get("id") {
                Some(Value::String(id)) => id.clone(),
                Some(Value::Number(id)) => id.to_string(),
                _ => return errors::validation("Each input needs an `id`"),
            };
            let linked = id
                .parse::<u64>()
                .ok()
                .filter(|from_id| store.live(from, *from_id).is_some())
                .map(|from_id| store.associated(from, from_id, to))
                .unwrap_or_default();
            if linked.is_empty() {
                errors.push(json!({
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": format!("No {} is associated with {} {id}.", to.singular(), from.singular()),
                    "context": {"fromObjectId": [id]},
                }));
                continue;
            }
            results.push(json!({
                "from": {"id": id},
                "to": linked
                    .iter()
                    .map(|to_id| json!({"id": to_id.to_string(), "type": label}))
                    .collect::<Vec<_>>(),
            }));
        }
    }
    let mut answer = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": started_at,
        "completedAt": super::store::iso(chrono::Utc::now()),
    });
    if errors.is_empty() {
        return Json(answer).into_response();
    }
    answer["numErrors"] = json!(errors.len());
    answer["errors"] = Value::Array(errors);
    (StatusCode::MULTI_STATUS, Json(answer)).into_response()
}
