//! Value functions: emptiness, lenient coercion, table lookups and chunking.
//!
//! Vendors send numbers as strings, booleans as `"yes"`, and empty strings for missing
//! values; these functions turn such values into clean JSON, giving *undefined* rather than
//! an error for what cannot be converted.

use serde_json::{Map, Value};

use super::{arg, json_type, number_value, scalar_text};
use crate::MappingError;
use crate::error::codes;

/// `$removeEmpty(value)`.
pub(super) fn remove_empty(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    Ok(arg(args, 0).and_then(prune))
}

pub(super) fn prune(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(prune).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        Value::Object(fields) => {
            let kept: Map<String, Value> = fields
                .iter()
                .filter_map(|(key, field)| prune(field).map(|field| (key.clone(), field)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other.clone()),
    }
}

/// `$firstNonEmpty(a, b, ...)`.
pub(super) fn first_non_empty(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    Ok(args
        .iter()
        .flatten()
        .find(|value| !matches!(value, Value::Null) && value.as_str() != Some(""))
        .cloned())
}

/// `$toNumber(value)`.
pub(super) fn to_number(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    Ok(exact_number(arg(args, 0)).or_else(|| lenient_number(arg(args, 0)).and_then(number_value)))
}

/// A number with more digits than a float holds, or a string holding one: the JSON number of
/// its exact text (kept by the engine as it is), so an amount written to a vendor keeps every
/// digit. `None` for anything else, which [`lenient_number`] reads.
fn exact_number(value: Option<&Value>) -> Option<Value> {
    match value? {
        Value::Number(number) if super::exceeds_float_digits(number.as_str()) => {
            Some(Value::Number(number.clone()))
        }
        Value::String(text) if super::exceeds_float_digits(text.trim()) => {
            let text = text.trim();
            // The same thousands commas `lenient_number` accepts.
            let plain = if text.contains(',') {
                parse_lenient(text)?;
                text.replace(',', "")
            } else {
                text.to_owned()
            };
            let number: serde_json::Number =
                plain.strip_prefix('+').unwrap_or(&plain).parse().ok()?;
            number.as_f64()?;
            Some(Value::Number(number))
        }
        _ => None,
    }
}

/// `$toInteger(value)`.
pub(super) fn to_integer(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    Ok(lenient_number(arg(args, 0)).and_then(|number| number_value(number.trunc())))
}

/// A number, or a string holding one with optional thousands commas (`1,234.5`).
fn lenient_number(value: Option<&Value>) -> Option<f64> {
    let number = match value? {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => parse_lenient(text.trim())?,
        _ => return None,
    };
    number.is_finite().then_some(number)
}

fn parse_lenient(text: &str) -> Option<f64> {
    if text.is_empty() || (text.chars().any(char::is_alphabetic) && !is_exponent(text)) {
        return None;
    }
    if !text.contains(',') {
        return text.parse().ok();
    }
    // Thousands separators: a group of one to three digits, then groups of exactly three.
    let unsigned = text.trim_start_matches(['-', '+']);
    let (integer, _fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let mut groups = integer.split(',');
    let first_ok = groups
        .next()
        .is_some_and(|group| (1..=3).contains(&group.len()));
    if !first_ok || !groups.all(|group| group.len() == 3) {
        return None;
    }
    text.replace(',', "").parse().ok()
}

/// Whether the only letters in `text` are one exponent marker (`1e3`, `2.5E-4`).
fn is_exponent(text: &str) -> bool {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() == 1 && matches!(letters[0], 'e' | 'E')
}

/// `$toBoolean(value)`.
pub(super) fn to_boolean(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    let flag = match arg(args, 0) {
        Some(Value::Bool(flag)) => Some(*flag),
        Some(Value::Number(number)) => match number.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Some(Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    };
    Ok(flag.map(Value::Bool))
}

/// `$mapValue(value, table, default?)`.
pub(super) fn map_value(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    let Some(Value::Object(table)) = arg(args, 1) else {
        return Ok(None);
    };
    let default = arg(args, 2);
    match arg(args, 0) {
        Some(Value::Array(items)) => {
            let mut mapped = Vec::with_capacity(items.len());
            for item in items {
                if let Some(value) = look_up(Some(item), table, default)? {
                    mapped.push(value);
                }
            }
            Ok((!mapped.is_empty()).then_some(Value::Array(mapped)))
        }
        value => look_up(value, table, default),
    }
}

fn look_up(
    value: Option<&Value>,
    table: &Map<String, Value>,
    default: Option<&Value>,
) -> Result<Option<Value>, MappingError> {
    let Some(key) = scalar_text(value, "mapValue")? else {
        return Ok(None);
    };
    Ok(table.get(&key).or(default).cloned())
}

/// `$chunk(array, n)`.
pub(super) fn chunk(args: &[Option<Value>]) -> Result<Option<Value>, MappingError> {
    let size = match arg(args, 1) {
        Some(Value::Number(number)) => number
            .as_f64()
            .filter(|size| *size >= 1.0 && size.fract() == 0.0 && *size <= 1e9),
        _ => None,
    };
    let Some(size) = size else {
        let given = arg(args, 1).map_or_else(|| "undefined".to_owned(), ToString::to_string);
        return Err(MappingError::new(
            codes::BAD_CHUNK_SIZE,
            format!("`$chunk` takes a positive integer size, not {given}"),
        ));
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked just above
    let size = size as usize;
    match arg(args, 0) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(Value::Array(
            items
                .chunks(size)
                .map(|chunk| Value::Array(chunk.to_vec()))
                .collect(),
        ))),
        Some(other) => Err(MappingError::new(
            codes::BAD_ARGUMENT,
            format!("`$chunk` takes an array, not {}", json_type(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::native::tests::call;

    #[test]
    fn remove_empty_drops_nested_empties() {
        assert_eq!(
            call(
                remove_empty,
                &[json!({
                    "a": null, "b": "", "c": [], "d": {}, "e": 0, "f": false,
                    "g": {"h": {"i": null}, "j": [null, "", {"k": ""}, 1]},
                    "l": "x"
                })]
            ),
            Some(json!({"e": 0, "f": false, "g": {"j": [1]}, "l": "x"}))
        );
        assert_eq!(call(remove_empty, &[json!({"a": {"b": [null]}})]), None);
        assert_eq!(call(remove_empty, &[json!("")]), None);
        assert_eq!(call(remove_empty, &[json!("x")]), Some(json!("x")));
        assert_eq!(remove_empty(&[None]), Ok(None));
    }

    #[test]
    fn first_non_empty_skips_undefined_null_and_empty_strings() {
        assert_eq!(
            first_non_empty(&[
                None,
                Some(json!(null)),
                Some(json!("")),
                Some(json!("b")),
                Some(json!("c"))
            ]),
            Ok(Some(json!("b")))
        );
        assert_eq!(first_non_empty(&[Some(json!(0))]), Ok(Some(json!(0))));
        assert_eq!(
            first_non_empty(&[Some(json!(false))]),
            Ok(Some(json!(false)))
        );
        assert_eq!(first_non_empty(&[None, Some(json!(""))]), Ok(None));
        assert_eq!(first_non_empty(&[]), Ok(None));
    }

    #[test]
    fn to_number_is_lenient() {
        assert_eq!(call(to_number, &[json!("12.5")]), Some(json!(12.5)));
        assert_eq!(call(to_number, &[json!(" 42 ")]), Some(json!(42)));
        assert_eq!(call(to_number, &[json!("1,234.5")]), Some(json!(1234.5)));
        assert_eq!(
            call(to_number, &[json!("-1,234,567")]),
            Some(json!(-1_234_567))
        );
        assert_eq!(call(to_number, &[json!("1e3")]), Some(json!(1000)));
        assert_eq!(call(to_number, &[json!(7.25)]), Some(json!(7.25)));
        for garbage in [
            json!(""),
            json!(null),
            json!("abc"),
            json!("12abc"),
            json!("1,23"),
            json!("inf"),
            json!("NaN"),
            json!(true),
            json!([1]),
            json!("1,2345"),
        ] {
            assert_eq!(
                call(to_number, std::slice::from_ref(&garbage)),
                None,
                "{garbage}"
            );
        }
        assert_eq!(to_number(&[None]), Ok(None));
        // More digits than a float holds: the exact number (issue 15).
        let exact = |text: &str| Some(Value::Number(text.parse().expect("a JSON number")));
        for (given, expected) in [
            (json!("12345678901234567.89"), "12345678901234567.89"),
            (json!(" +1,234,567,890,123,456.78 "), "1234567890123456.78"),
        ] {
            assert_eq!(call(to_number, &[given]), exact(expected));
        }
        let number: Value = serde_json::from_str("12345678901234567.89").expect("JSON");
        assert_eq!(call(to_number, &[number]), exact("12345678901234567.89"));
    }

    #[test]
    fn to_integer_truncates() {
        assert_eq!(call(to_integer, &[json!("12.7")]), Some(json!(12)));
        assert_eq!(call(to_integer, &[json!(-3.9)]), Some(json!(-3)));
        assert_eq!(call(to_integer, &[json!("1,200")]), Some(json!(1200)));
        assert_eq!(call(to_integer, &[json!("x")]), None);
    }

    #[test]
    fn to_boolean_reads_common_spellings() {
        for truthy in [
            json!("true"),
            json!("TRUE"),
            json!("Yes"),
            json!("1"),
            json!(1),
            json!(true),
        ] {
            assert_eq!(
                call(to_boolean, std::slice::from_ref(&truthy)),
                Some(json!(true)),
                "{truthy}"
            );
        }
        for falsy in [
            json!("false"),
            json!("No"),
            json!(" 0 "),
            json!(0),
            json!(false),
        ] {
            assert_eq!(
                call(to_boolean, std::slice::from_ref(&falsy)),
                Some(json!(false)),
                "{falsy}"
            );
        }
        for other in [json!("maybe"), json!(""), json!(2), json!(null)] {
            assert_eq!(
                call(to_boolean, std::slice::from_ref(&other)),
                None,
                "{other}"
            );
        }
    }

    #[test]
    fn map_value_looks_up_stringified_values() {
        let table = json!({"Open": "open", "1": "one", "true": "yes"});
        assert_eq!(
            call(map_value, &[json!("Open"), table.clone()]),
            Some(json!("open"))
        );
        assert_eq!(
            call(map_value, &[json!(1), table.clone()]),
            Some(json!("one"))
        );
        assert_eq!(
            call(map_value, &[json!(true), table.clone()]),
            Some(json!("yes"))
        );
        assert_eq!(call(map_value, &[json!("Closed"), table.clone()]), None);
        assert_eq!(
            call(map_value, &[json!("Closed"), table.clone(), json!("other")]),
            Some(json!("other"))
        );
        assert_eq!(
            call(map_value, &[json!(["Open", "1", "x"]), table.clone()]),
            Some(json!(["open", "one"]))
        );
        assert_eq!(
            map_value(&[None, Some(table.clone()), Some(json!("d"))]),
            Ok(None)
        );
        assert_eq!(
            call(map_value, &[json!(null), table.clone(), json!("d")]),
            None
        );
        let error = map_value(&[Some(json!({"a": 1})), Some(table)]).unwrap_err();
        assert_eq!(error.code, "CW005");
    }

    #[test]
    fn chunk_splits_arrays() {
        assert_eq!(
            call(chunk, &[json!([1, 2, 3, 4, 5]), json!(2)]),
            Some(json!([[1, 2], [3, 4], [5]]))
        );
        assert_eq!(
            call(chunk, &[json!([1, 2]), json!(5)]),
            Some(json!([[1, 2]]))
        );
        assert_eq!(call(chunk, &[json!([]), json!(5)]), Some(json!([])));
        assert_eq!(chunk(&[None, Some(json!(2))]), Ok(None));
        for bad in [json!(0), json!(-1), json!(1.5), json!("2")] {
            let error = chunk(&[Some(json!([1])), Some(bad)]).unwrap_err();
            assert_eq!(error.code, "CW004");
        }
    }
}
