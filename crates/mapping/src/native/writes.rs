//! Write functions: what a write mapping sends, where a unified update's `null` means "clear
//! it" (docs/unified-model.md) and an absent field means "leave it".

use serde_json::{Map, Value};

use super::{arg, json_type, values};
use crate::MappingError;
use crate::error::codes;

/// `$writeFields(fields, updating, cleared?)`: the vendor fields of an object to write. Its
/// values without the empty ones (as `$removeEmpty`); when `updating`, each field whose value
/// is `null` is written as `cleared` (`null` when not given), the vendor's way of clearing it,
/// and each field whose value is an empty list is written as it is (a vendor list cleared).
/// Undefined when nothing is left, so an empty part of a request disappears.
pub(super) fn write_fields(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    let fields = match arg(args, 0) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(fields)) => fields,
        Some(other) => {
            return Err(MappingError::new(
                codes::BAD_ARGUMENT,
                format!(
                    "`$writeFields` takes an object of fields, not {}",
                    json_type(other)
                ),
            ));
        }
    };
    let updating = match arg(args, 1) {
        None | Some(Value::Null | Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(other) => {
            return Err(MappingError::new(
                codes::BAD_ARGUMENT,
                format!(
                    "`$writeFields` takes a boolean `updating`, not {}",
                    json_type(other)
                ),
            ));
        }
    };
    let cleared = arg(args, 2).cloned().unwrap_or(Value::Null);
    let mut written = Map::new();
    for (key, value) in fields {
        if value.is_null() {
            if updating {
                written.insert(key.clone(), cleared.clone());
            }
        } else if updating && value.as_array().is_some_and(Vec::is_empty) {
            // A vendor's list field given empty: the list cleared.
            written.insert(key.clone(), value.clone());
        } else if let Some(kept) = values::prune(value) {
            written.insert(key.clone(), kept);
        }
    }
    Ok((!written.is_empty()).then_some(Value::Object(written)))
}

/// `$orClear(value, source)`: the value of a vendor field made from the unified field
/// `source`; `null` (clear it) when the value is undefined, null or `""` but the write gives
/// `source` (a unified list given empty or `null` clears every vendor field it is made of);
/// undefined when the write leaves `source` out.
pub(super) fn or_clear(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    Ok(match (arg(args, 0), args.get(1)) {
        (Some(value), _) if !value.is_null() && value.as_str() != Some("") => Some(value.clone()),
        (_, Some(Some(_))) => Some(Value::Null),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with(args: &[Option<Value>]) -> Option<Value> {
        write_fields(args).expect("no error")
    }

    #[test]
    fn a_create_drops_the_empty_fields_and_an_update_clears_the_null_ones() {
        let fields = json!({"a": "x", "b": null, "c": "", "d": {"e": null}, "f": 0, "g": []});
        assert_eq!(
            with(&[Some(fields.clone()), Some(json!(false))]),
            Some(json!({"a": "x", "f": 0}))
        );
        assert_eq!(
            with(&[Some(fields.clone()), Some(json!(true))]),
            Some(json!({"a": "x", "b": null, "f": 0, "g": []}))
        );
        assert_eq!(
            with(&[Some(fields), Some(json!(true)), Some(json!(""))]),
            Some(json!({"a": "x", "b": "", "f": 0, "g": []}))
        );
        assert_eq!(with(&[Some(json!({"b": null})), Some(json!(false))]), None);
        assert_eq!(
            with(&[Some(json!({"b": null})), Some(json!(true))]),
            Some(json!({"b": null}))
        );
        assert_eq!(with(&[None, Some(json!(true))]), None);
        assert!(write_fields(&[Some(json!([1])), Some(json!(true))]).is_err());
        assert!(write_fields(&[Some(json!({})), Some(json!("yes"))]).is_err());
    }

    #[test]
    fn a_field_made_from_a_given_source_is_cleared_when_it_has_no_value() {
        let call = |args: &[Option<Value>]| or_clear(args).expect("no error");
        assert_eq!(call(&[Some(json!("a")), Some(json!([]))]), Some(json!("a")));
        assert_eq!(call(&[None, Some(json!([]))]), Some(Value::Null));
        assert_eq!(
            call(&[Some(Value::Null), Some(Value::Null)]),
            Some(Value::Null)
        );
        assert_eq!(call(&[None, None]), None);
        assert_eq!(call(&[Some(json!(0)), None]), Some(json!(0)));
        assert_eq!(call(&[Some(json!("")), Some(json!([]))]), Some(Value::Null));
    }
}
