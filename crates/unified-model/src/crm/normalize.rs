//! Checking JSON against the CRM types: mapped records on the way out, write bodies on the way
//! in.
//!
//! Both go through the typed structs with `serde_path_to_error`, so every refusal names the JSON
//! path of the field at fault. Neither knows any vendor: they see only unified JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{
    Company, Contact, CrmObject, Engagement, Lead, Note, Opportunity, Pipeline, Task, User,
};
use crate::error::{ModelError, join_path};

/// Envelope fields a write body may not set: Crosswalk or the vendor owns them.
const READ_ONLY_FIELDS: [&str; 5] = [
    "id",
    "remote_id",
    "created_at",
    "updated_at",
    "remote_deleted",
];

/// Checks a record produced by a connector's mapping and returns it in the object's one stable
/// shape.
///
/// The output has every documented field, in schema order: null when unknown, `[]` for an
/// empty list, `{}` for no custom fields, `false` for `remote_deleted`. Timestamps are
/// rewritten in UTC (`2024-01-31T09:30:00Z`). `remote_data` is kept when the input has it and
/// left out otherwise. When the record sets only one of `id` and `remote_id`, the other is
/// copied from it (in v1 they are equal); the same holds for each pipeline stage.
///
/// For the mapping's convenience, `null` is read as `[]` for lists, `{}` for `custom_fields` and
/// `false` for flags, and whole-number floats (`250.0`) are accepted for integer fields.
///
/// # Errors
///
/// [`ModelError::NotAnObject`] when `value` is not an object, [`ModelError::MissingField`] when
/// the record (or a stage) has neither `id` nor `remote_id`, [`ModelError::UnknownField`] for a
/// field the object does not have, and [`ModelError::InvalidValue`] for a wrong type, an enum
/// value outside the documented set, or a malformed timestamp, date, decimal, currency code,
/// E.164 number or percentage.
pub fn normalize_record(object: CrmObject, value: Value) -> Result<Value, ModelError> {
    let mut record = into_object(value)?;
    fill_ids(&mut record, ".")?;
    if object == CrmObject::Pipelines
        && let Some(Value::Array(stages)) = record.get_mut("stages")
    {
        for (stage_idx, stage) in stages.iter_mut().enumerate() {
            if let Value::Object(stage) = stage {
                fill_ids(stage, &format!("stages[{stage_idx}]"))?;
            }
        }
    }
    round_trip(object, Value::Object(record))
}

/// Checks a create or update body and returns it normalized, holding only the fields it had.
///
/// Nothing is added: an absent field stays absent (updates are partial) and an explicit `null`
/// stays null (it clears the field). Values are rewritten the way [`normalize_record`] writes
/// them, and fields come in schema order. `custom_fields` is passed on as given; `remote_data`,
/// when present, must be an object: the connector merges it into the vendor request.
///
/// # Errors
///
/// [`ModelError::WritesNotSupported`] for read-only objects (see
/// [`CrmObject::supports_writes`]), [`ModelError::NotAnObject`] when `value` is not an object,
/// [`ModelError::ReadOnlyField`] for `id`, `remote_id`, `created_at`, `updated_at` or
/// `remote_deleted`, and otherwise the errors of [`normalize_record`].
pub fn parse_write_body(object: CrmObject, value: Value) -> Result<Value, ModelError> {
    if !object.supports_writes() {
        return Err(ModelError::WritesNotSupported { object });
    }
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
    let body = Value::Object(body);
    let normalized = round_trip(object, body.clone())?;
    Ok(retain_present(&body, normalized))
}

/// Returns the object inside `value`, or the error naming what was found instead.
fn into_object(value: Value) -> Result<Map<String, Value>, ModelError> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(ModelError::NotAnObject {
            found: json_type(&other),
        }),
    }
}

/// Copies `id` to `remote_id` or back when only one is set; `path` locates `record`.
fn fill_ids(record: &mut Map<String, Value>, path: &str) -> Result<(), ModelError> {
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

/// Deserializes `value` as the object's type and serializes it back.
fn round_trip(object: CrmObject, value: Value) -> Result<Value, ModelError> {
    match object {
        CrmObject::Contacts => round_trip_as::<Contact>(value),
        CrmObject::Companies => round_trip_as::<Company>(value),
        CrmObject::Opportunities => round_trip_as::<Opportunity>(value),
        CrmObject::Leads => round_trip_as::<Lead>(value),
        CrmObject::Notes => round_trip_as::<Note>(value),
        CrmObject::Tasks => round_trip_as::<Task>(value),
        CrmObject::Engagements => round_trip_as::<Engagement>(value),
        CrmObject::Users => round_trip_as::<User>(value),
        CrmObject::Pipelines => round_trip_as::<Pipeline>(value),
    }
}

fn round_trip_as<T: DeserializeOwned + Serialize>(value: Value) -> Result<Value, ModelError> {
    let record: T = serde_path_to_error::deserialize(value).map_err(ModelError::from_serde)?;
    Ok(serde_json::to_value(record)
        .expect("unified types have string keys and serialize to JSON without failing"))
}

/// Keeps in `normalized` only the object keys that `input` has, at every depth.
///
/// Lists keep their length through the round trip, so their items are matched by position.
fn retain_present(input: &Value, normalized: Value) -> Value {
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
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
