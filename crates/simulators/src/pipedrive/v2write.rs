//! API v2 write bodies (`POST /api/v2/{entity}`, `PATCH /api/v2/{entity}/{id}`) turned into the
//! v1 write shape the store validates, so v1 and v2 writes share one set of rules.
//!
//! Only the keys the v2 reference documents for each entity are read; others are ignored, as
//! for v1. The renames are: `owner_id` → the stored owner key (`user_id` on deals and
//! activities), persons `emails`/`phones` → `email`/`phone`, organizations `address: {value}`
//! → `address`, activities `busy` → `busy_flag`, `location: {value}` → `location`, and a
//! `participants` entry with `primary: true` → `person_id` (the current reference drops
//! `person_id` from the activity body in favour of participants; an explicit `person_id`, as
//! earlier revisions documented, is still read when no participant is primary). Custom values
//! sit under `custom_fields` keyed by hash: monetary as `{value, currency}` (or a bare number),
//! ranges as `{value, until}`, enums as an option id, sets as a list of option ids.

use serde_json::{Map, Value};

use super::error::ApiError;
use super::schema::Entity;
use super::store::Store;

/// The documented v2 body keys of `entity` and the v1 key each is stored under.
fn plain_keys(entity: Entity) -> &'static [(&'static str, &'static str)] {
    match entity {
        Entity::Person => &[
            ("name", "name"),
            ("owner_id", "owner_id"),
            ("org_id", "org_id"),
            ("emails", "email"),
            ("phones", "phone"),
            ("visible_to", "visible_to"),
            ("label_ids", "label_ids"),
            ("marketing_status", "marketing_status"),
            ("add_time", "add_time"),
        ],
        Entity::Organization => &[
            ("name", "name"),
            ("owner_id", "owner_id"),
            ("visible_to", "visible_to"),
            ("label_ids", "label_ids"),
            ("add_time", "add_time"),
        ],
        Entity::Deal => &[
            ("title", "title"),
            ("owner_id", "user_id"),
            ("person_id", "person_id"),
            ("org_id", "org_id"),
            ("pipeline_id", "pipeline_id"),
            ("stage_id", "stage_id"),
            ("value", "value"),
            ("currency", "currency"),
            ("status", "status"),
            ("probability", "probability"),
            ("lost_reason", "lost_reason"),
            ("visible_to", "visible_to"),
            ("close_time", "close_time"),
            ("won_time", "won_time"),
            ("lost_time", "lost_time"),
            ("expected_close_date", "expected_close_date"),
            ("add_time", "add_time"),
        ],
        Entity::Activity => &[
            ("subject", "subject"),
            ("type", "type"),
            ("owner_id", "user_id"),
            ("deal_id", "deal_id"),
            ("lead_id", "lead_id"),
            ("person_id", "person_id"),
            ("org_id", "org_id"),
            ("due_date", "due_date"),
            ("due_time", "due_time"),
            ("duration", "duration"),
            ("busy", "busy_flag"),
            ("done", "done"),
            ("public_description", "public_description"),
            ("note", "note"),
        ],
        Entity::Lead | Entity::Note | Entity::User => &[],
    }
}

fn invalid(key: &str) -> ApiError {
    ApiError::BadRequest(format!("Invalid value for field `{key}`"))
}

/// The `value` of an address or location object (`{value, …}`); null stays null.
fn object_value(key: &str, value: &Value) -> Result<Value, ApiError> {
    match value {
        Value::Null => Ok(Value::Null),
        Value::Object(map) => match map.get("value") {
            None | Some(Value::Null) => Ok(Value::Null),
            Some(Value::String(text)) => Ok(Value::String(text.clone())),
            Some(_) => Err(invalid(key)),
        },
        _ => Err(invalid(key)),
    }
}

/// The person of the primary participant, if one is marked primary.
fn primary_participant(value: &Value) -> Result<Option<Value>, ApiError> {
    let items = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        _ => return Err(invalid("participants")),
    };
    let mut primary = None;
    for item in items {
        let person = item
            .get("person_id")
            .filter(|id| id.as_u64().is_some())
            .ok_or_else(|| invalid("participants"))?;
        let is_primary = match item.get("primary") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => return Err(invalid("participants")),
        };
        if is_primary && primary.is_none() {
            primary = Some(person.clone());
        }
    }
    Ok(primary)
}

/// Converts a v2 write body of `entity` (persons, organizations, deals, activities) to the v1
/// body [`Store::create`] and [`Store::update`] take.
pub(crate) fn to_v1_body(
    store: &Store,
    entity: Entity,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (v2_key, v1_key) in plain_keys(entity) {
        if let Some(value) = body.get(*v2_key) {
            out.insert((*v1_key).to_owned(), value.clone());
        }
    }
    match entity {
        Entity::Organization => {
            if let Some(address) = body.get("address") {
                out.insert("address".into(), object_value("address", address)?);
            }
        }
        Entity::Activity => {
            if let Some(location) = body.get("location") {
                out.insert("location".into(), object_value("location", location)?);
            }
            if let Some(participants) = body.get("participants")
                && let Some(person) = primary_participant(participants)?
            {
                out.insert("person_id".into(), person);
            }
        }
        _ => {}
    }
    let custom = match body.get("custom_fields") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Object(custom)) => custom,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "Validation failed: custom_fields: Must be an object".into(),
            ));
        }
    };
    for field in store.custom_fields(entity) {
        let Some(value) = custom.get(&field.key) else {
            continue;
        };
        let (main, companion) = match value {
            Value::Object(parts) if field.has_currency() => (
                parts.get("value"),
                parts.get("currency").map(|c| ("currency", c)),
            ),
            Value::Object(parts) if field.has_until() => {
                (parts.get("value"), parts.get("until").map(|u| ("until", u)))
            }
            Value::Object(_) => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid value for custom field `{}` ({})",
                    field.name, field.field_type
                )));
            }
            other => (Some(other), None),
        };
        out.insert(field.key.clone(), main.cloned().unwrap_or(Value::Null));
        if let Some((suffix, value)) = companion {
            out.insert(format!("{}_{suffix}", field.key), value.clone());
        }
    }
    Ok(out)
}
