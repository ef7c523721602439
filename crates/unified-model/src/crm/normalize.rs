//! Checking JSON against the CRM types: mapped records on the way out, write bodies on the way
//! in.
//!
//! Both go through the typed structs with `serde_path_to_error`, so every refusal names the JSON
//! path of the field at fault. Neither knows any vendor: they see only unified JSON.

use std::sync::OnceLock;

use serde_json::Value;

use super::{
    Company, Contact, CrmObject, Engagement, Lead, Note, Opportunity, Pipeline, Task, User,
};
use crate::error::ModelError;
use crate::normalize::{check_write_body, fill_ids, into_object, retain_present, round_trip_as};
use crate::schema::check_against_write_schema;

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
        return Err(ModelError::WritesNotSupported {
            object: object.slug(),
        });
    }
    static VALIDATORS: [OnceLock<jsonschema::Validator>; CrmObject::ALL.len()] =
        [const { OnceLock::new() }; CrmObject::ALL.len()];
    let body = check_write_body(value)?;
    let normalized = round_trip(object, body.clone())?;
    check_against_write_schema(
        &VALIDATORS[object as usize],
        || object.write_schema(),
        &body,
    )?;
    Ok(retain_present(&body, normalized))
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
