//! Checking JSON against the unified types of every category: mapped records on the way out,
//! write bodies on the way in.
//!
//! Both go through the typed structs with `serde_path_to_error`, so every refusal names the JSON
//! path of the field at fault. Each category's module picks the type; what is shared lives here.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ModelError, join_path};

/// Envelope fields a write body may not set: Crosswalk or the vendor owns them.
const READ_ONLY_FIELDS: [&str; 5] = [
    "id",
    "remote_id",
    "created_at",
    "updated_at",
    "remote_deleted",
];

/// Returns the object inside `value`, or the error naming what was found instead.
pub(crate) fn into_object(value: Value) -> Result<Map<String, Value>, ModelError> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(ModelError::NotAnObject {
            found: json_type(&other),
        }),
    }
}

/// Copies `id` to `remote_id` or back when only one is set; `path` locates `record`.
pub(crate) fn fill_ids(record: &mut Map<String, Value>, path: &str) -> Result<(), ModelError> {
    let present = |record: &Map<String, Value>, key: &str| {
        record.get(key).is_some_and(|value| !value.is_null())
    };
    match (present(record, "id"), present(record, "remote_id")) {
        (true, true) => {}
        (true, false) => {
            let id = record["id"].clone();
            record.insert("remote_id".to_owned(), id);
        }
        (false, true) => {
            let remote_id = record["remote_id"].clone();
            record.insert("id".to_owned(), remote_id);
        }
        (false, false) => {
            return Err(ModelError::MissingField {
                path: join_path(path, "remote_id"),
            });
        }
    }
    Ok(())
}

pub(crate) fn round_trip_as<T: DeserializeOwned + Serialize>(
    value: Value,
) -> Result<Value, ModelError> {
    let record: T = serde_path_to_error::deserialize(value).map_err(ModelError::from_serde)?;
    Ok(serde_json::to_value(record)
        .expect("unified types have string keys and serialize to JSON without failing"))
}

/// Keeps in `normalized` only the object keys that `input` has, at every depth.
///
/// Lists keep their length through the round trip, so their items are matched by position.
pub(crate) fn retain_present(input: &Value, normalized: Value) -> Value {
    match (input, normalized) {
        (Value::Object(input), Value::Object(normalized)) => Value::Object(
            normalized
                .into_iter()
                .filter_map(|(key, value)| {
                    let input_value = input.get(&key)?;
                    let kept = retain_present(input_value, value);
                    Some((key, kept))
                })
                .collect(),
        ),
        (Value::Array(input), Value::Array(normalized)) => Value::Array(
            input
                .iter()
                .zip(normalized)
                .map(|(input_item, item)| retain_present(input_item, item))
                .collect(),
        ),
        (_, normalized) => normalized,
    }
}

/// Names the JSON type of `value` for error messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A write body's envelope checks: an object, no read-only field, `remote_data` an object.
///
/// # Errors
/// [`ModelError::NotAnObject`], [`ModelError::ReadOnlyField`] or [`ModelError::InvalidValue`]
/// for `remote_data`.
pub(crate) fn check_write_body(value: Value) -> Result<Value, ModelError> {
    let body = into_object(value)?;
    if let Some(field) = body
        .keys()
        .find(|key| READ_ONLY_FIELDS.contains(&key.as_str()))
    {
        return Err(ModelError::ReadOnlyField {
            path: field.clone(),
        });
    }
    if let Some(remote_data) = body.get("remote_data")
        && !(remote_data.is_object() || remote_data.is_null())
    {
        return Err(ModelError::InvalidValue {
            path: "remote_data".to_owned(),
            reason: format!(
                "expected an object of vendor fields, found {}",
                json_type(remote_data)
            ),
        });
    }
    Ok(Value::Object(body))
}
