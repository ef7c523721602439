//! The native functions CRM mappings keep needing, in engine-neutral Rust.
//!
//! Each function takes its evaluated arguments as JSON (`None` for *undefined*) and returns
//! JSON or a [`MappingError`] with one of our `CW` codes. The table below gives each one a
//! JSONata signature, which an engine uses to check arguments and to take the context value
//! for a missing first argument (`Email.$e164()`), and the documentation that
//! `docs/mapping-functions.md` must cover. Engines register every function of the table on
//! every evaluation; none may shadow a JSONata built-in.

mod dates;
mod decimals;
mod regions;
mod text;
mod values;
mod writes;

pub(crate) use dates::parse_date_text;
pub(crate) use decimals::exceeds_float_digits;

use std::sync::LazyLock;

use serde_json::Value;

use crate::MappingError;

/// Documentation of one native function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionDoc {
    /// The name, without the `$`.
    pub name: &'static str,
    /// How it is called, such as `$parseDate(value, format?)`.
    pub signature: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
}

/// The Rust side of a native function.
pub(crate) type Implementation = fn(&[Option<Value>]) -> Result<Option<Value>, MappingError>;

/// A native function as engines register it.
pub(crate) struct NativeFunction {
    pub(crate) doc: FunctionDoc,
    /// The JSONata signature, or `None` for a variadic function that takes its arguments as
    /// given.
    pub(crate) jsonata_signature: Option<&'static str>,
    /// The declared number of parameters (for partial application and `$map`).
    pub(crate) arity: usize,
    pub(crate) implementation: Implementation,
}

const fn native(
    name: &'static str,
    signature: &'static str,
    summary: &'static str,
    jsonata_signature: Option<&'static str>,
    arity: usize,
    implementation: Implementation,
) -> NativeFunction {
    NativeFunction {
        doc: FunctionDoc {
            name,
            signature,
            summary,
        },
        jsonata_signature,
        arity,
        implementation,
    }
}

/// Every native function, in the order the documentation lists them.
pub(crate) static NATIVE_FUNCTIONS: &[NativeFunction] = &[
    native(
        "parseDate",
        "$parseDate(value, format?)",
        "parses a date (ISO 8601, offsets without a colon such as `+0000`, epoch milliseconds, or an explicit strftime format) into an RFC 3339 UTC string",
        Some("<j-s?:s>"),
        2,
        dates::parse_date,
    ),
    native(
        "toEpochMs",
        "$toEpochMs(value)",
        "converts any date `$parseDate` accepts into milliseconds since the Unix epoch",
        Some("<j-:n>"),
        1,
        dates::to_epoch_ms,
    ),
    native(
        "fromEpochMs",
        "$fromEpochMs(ms)",
        "converts milliseconds since the Unix epoch into an RFC 3339 UTC string with milliseconds",
        Some("<j-:s>"),
        1,
        dates::from_epoch_ms,
    ),
    native(
        "formatDate",
        "$formatDate(value, format)",
        "formats any date `$parseDate` accepts, in UTC, with a strftime format",
        Some("<j-s:s>"),
        2,
        dates::format_date,
    ),
    native(
        "removeEmpty",
        "$removeEmpty(value)",
        "recursively drops null, empty strings, empty arrays and empty objects; undefined when nothing is left",
        Some("<j-:j>"),
        1,
        values::remove_empty,
    ),
    native(
        "firstNonEmpty",
        "$firstNonEmpty(a, b, ...)",
        "returns the first argument that is not undefined, null or an empty string",
        None,
        2,
        values::first_non_empty,
    ),
    native(
        "writeFields",
        "$writeFields(fields, updating, cleared?)",
        "the fields a write sends: the object without its empty values, and when updating, each null field as `cleared` (default null), the vendor's way of clearing it",
        None,
        3,
        writes::write_fields,
    ),
    native(
        "orClear",
        "$orClear(value, source)",
        "the value of a vendor field made from a unified field: the value, or null (clear it) when it has none (undefined, null or empty text) but the write gives `source`; undefined when it leaves `source` out",
        None,
        2,
        writes::or_clear,
    ),
    native(
        "toNumber",
        "$toNumber(value)",
        "leniently converts a number or numeric string (thousands commas allowed) to a number; undefined otherwise",
        Some("<j-:n>"),
        1,
        values::to_number,
    ),
    native(
        "toInteger",
        "$toInteger(value)",
        "as `$toNumber`, truncated towards zero",
        Some("<j-:n>"),
        1,
        values::to_integer,
    ),
    native(
        "decimal",
        "$decimal(value)",
        "gives the exact decimal string of an amount (`\"1500.50\"`): a numeric string keeps every digit as written, a number is written in full without an exponent; undefined otherwise",
        Some("<j-:s>"),
        1,
        decimals::decimal,
    ),
    native(
        "toBoolean",
        "$toBoolean(value)",
        "converts true/false, \"true\"/\"false\", \"yes\"/\"no\", \"1\"/\"0\" (any case) and 1/0 to a boolean; undefined otherwise",
        Some("<j-:b>"),
        1,
        values::to_boolean,
    ),
    native(
        "mapValue",
        "$mapValue(value, table, default?)",
        "looks the value up (as a string) in an object table, returning the default (or undefined) when it is absent",
        Some("<j-oj?:j>"),
        3,
        values::map_value,
    ),
    native(
        "e164",
        "$e164(phone, default_region?)",
        "normalises a phone number to E.164 (`+14155552671`), using the region for numbers without a country code; undefined when not parseable",
        Some("<j-s?:s>"),
        2,
        text::e164,
    ),
    native(
        "regionOf",
        "$regionOf(country)",
        "gives the ISO 3166 alpha-2 region of a country written as vendors hold it (`USA`, `United States`, `U.S.`, `GBR`, `México`), for `$e164`; undefined when it names no country",
        Some("<j-:s>"),
        1,
        regions::region_of,
    ),
    native(
        "soqlEscape",
        "$soqlEscape(string)",
        "escapes a value for use inside a single-quoted SOQL string literal",
        Some("<j-:s>"),
        1,
        text::soql_escape,
    ),
    native(
        "odataEscape",
        "$odataEscape(string)",
        "escapes a value for use inside a single-quoted OData string literal (doubles single quotes)",
        Some("<j-:s>"),
        1,
        text::odata_escape,
    ),
    native(
        "splitName",
        "$splitName(full)",
        "splits a full name into `{\"first\", \"last\"}` (also reads `Last, First`)",
        Some("<j-:o>"),
        1,
        text::split_name,
    ),
    native(
        "chunk",
        "$chunk(array, n)",
        "splits an array into arrays of at most n items",
        Some("<a-n:a>"),
        2,
        values::chunk,
    ),
];

static DOCS: LazyLock<Vec<FunctionDoc>> = LazyLock::new(|| {
    NATIVE_FUNCTIONS
        .iter()
        .map(|function| function.doc)
        .collect()
});

/// The native functions every evaluation can call, with their documentation.
pub fn native_functions() -> &'static [FunctionDoc] {
    &DOCS
}

/// The JSON number for `value`: an integer when it is one (so `12` does not print as `12.0`).
pub(crate) fn number_value(value: f64) -> Option<Value> {
    if !value.is_finite() {
        return None;
    }
    // 2^53: past it, f64 no longer holds every integer, and JSON readers may differ.
    if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)] // integral and below 2^53, so exact
        return Some(Value::from(value as i64));
    }
    serde_json::Number::from_f64(value).map(Value::Number)
}

/// The argument at `index`, or `None` when it is missing or undefined.
pub(crate) fn arg(args: &[Option<Value>], index: usize) -> Option<&Value> {
    args.get(index).and_then(Option::as_ref)
}

/// The text of a scalar argument: strings as they are, numbers and booleans as JSON writes
/// them; `None` for undefined and null.
///
/// # Errors
///
/// `CW005` for an array or an object.
pub(crate) fn scalar_text(
    value: Option<&Value>,
    function: &str,
) -> Result<Option<String>, MappingError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Number(number)) => Ok(Some(match number.as_f64().and_then(number_value) {
            Some(Value::Number(normalised)) => normalised.to_string(),
            _ => number.to_string(),
        })),
        Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
        Some(other) => Err(MappingError::new(
            crate::error::codes::BAD_ARGUMENT,
            format!(
                "`${function}` takes a string, number or boolean, not {}",
                json_type(other)
            ),
        )),
    }
}

/// The JSON type of a value, for messages.
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

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    /// Calls a native function with defined arguments, expecting no error.
    pub(crate) fn call(function: Implementation, args: &[Value]) -> Option<Value> {
        let args: Vec<Option<Value>> = args.iter().cloned().map(Some).collect();
        function(&args).expect("no error")
    }

    #[test]
    fn names_are_unique_and_docs_complete() {
        let mut names: Vec<&str> = native_functions().iter().map(|doc| doc.name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "duplicate native function name");
        for doc in native_functions() {
            assert!(
                doc.signature.starts_with(&format!("${}(", doc.name)),
                "{}",
                doc.signature
            );
            assert!(!doc.summary.is_empty());
        }
    }

    #[test]
    fn numbers_print_as_integers_when_integral() {
        assert_eq!(number_value(12.0), Some(json!(12)));
        assert_eq!(number_value(-3.0), Some(json!(-3)));
        assert_eq!(number_value(12.5), Some(json!(12.5)));
        assert_eq!(number_value(1e300), Some(json!(1e300)));
        assert_eq!(number_value(f64::NAN), None);
    }

    #[test]
    fn scalar_text_of_each_type() {
        assert_eq!(scalar_text(Some(&json!("a")), "f"), Ok(Some("a".into())));
        assert_eq!(scalar_text(Some(&json!(12.0)), "f"), Ok(Some("12".into())));
        assert_eq!(scalar_text(Some(&json!(1.5)), "f"), Ok(Some("1.5".into())));
        assert_eq!(
            scalar_text(Some(&json!(true)), "f"),
            Ok(Some("true".into()))
        );
        assert_eq!(scalar_text(Some(&json!(null)), "f"), Ok(None));
        assert_eq!(scalar_text(None, "f"), Ok(None));
        let error = scalar_text(Some(&json!([1])), "f").unwrap_err();
        assert_eq!(error.code, "CW005");
        assert_eq!(
            error.message,
            "`$f` takes a string, number or boolean, not an array"
        );
    }
}
