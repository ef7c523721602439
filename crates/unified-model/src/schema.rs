//! JSON Schemas (draft 2020-12) of unified records and write bodies, generated from the types,
//! for every category.
//!
//! Generation uses schemars; field doc comments become `description`s. Record schemas follow
//! the serialize contract (what normalization writes), write schemas the deserialize contract
//! (what write-body parsing accepts). Each category caches its objects' schemas.

use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Value, json};

use crate::ModelError;

const RECORD_REMOTE_DATA: &str = "The raw vendor payload behind the record. Present only when \
    requested; its shape is the vendor's.";
const WRITE_REMOTE_DATA: &str = "Vendor fields the unified fields do not cover, merged as is \
    into the body of the vendor request.";

/// Envelope properties that write bodies leave out.
const READ_ONLY_PROPERTIES: [&str; 5] = [
    "id",
    "remote_id",
    "created_at",
    "updated_at",
    "remote_deleted",
];

/// The schema of the property at a dotted `path` (`amount.currency`) of an object schema such
/// as a write schema, for a caller that narrows it for one document. A segment below a list
/// names a property of its items (`email_addresses.email_address`). Each `$ref` on the way
/// below the top level is replaced by a copy of its definition from the schema's `$defs`, so
/// that a change reaches this property alone and not every use of the definition. `None` when a
/// segment names no property.
pub fn property_at_mut<'a>(schema: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let mut segments = path.split('.');
    let mut current = schema.get_mut("properties")?.get_mut(segments.next()?)?;
    for segment in segments {
        current = object_branch(current, &defs)?
            .get_mut("properties")?
            .get_mut(segment)?;
    }
    Some(current)
}

/// The object schema a property's schema stands for (itself, its `$ref`'s definition inlined,
/// the first branch of its `anyOf` with properties, `$ref`s inlined, or the same of its items
/// for a list).
fn object_branch<'a>(schema: &'a mut Value, defs: &Value) -> Option<&'a mut Value> {
    inline_ref(schema, defs);
    if schema.get("properties").is_some() {
        return Some(schema);
    }
    if schema.get("items").is_some() {
        return object_branch(schema.get_mut("items")?, defs);
    }
    let branches = schema.get_mut("anyOf")?.as_array_mut()?;
    for branch in branches.iter_mut() {
        inline_ref(branch, defs);
    }
    branches
        .iter_mut()
        .find(|branch| branch.get("properties").is_some())
}

/// Replaces a `{"$ref": "#/$defs/<name>"}` schema by its definition, keeping its other keys.
fn inline_ref(schema: &mut Value, defs: &Value) {
    let Some(definition) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|reference| reference.strip_prefix("#/$defs/"))
        .and_then(|name| defs.get(name))
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    if let Value::Object(map) = schema {
        map.remove("$ref");
        for (key, value) in definition {
            map.entry(key).or_insert(value);
        }
    }
}

/// The root schema of `T` from `generator`.
pub(crate) fn of<T: JsonSchema>(generator: SchemaGenerator) -> Value {
    generator.into_root_schema_for::<T>().to_value()
}

/// Checks a write body the typed parse took against the object's own write schema (compiled
/// once into `cache`), so that what the body's document refuses is refused.
///
/// The typed parse alone is looser than the schema in one way: serde reads a struct from an
/// array of its fields in order, so `"addresses": [[null, null]]` parsed as one empty address,
/// although the schema (and the OpenAPI document) says each address is an object.
///
/// # Errors
/// [`ModelError::InvalidValue`] naming the first field the schema refuses and why.
pub(crate) fn check_against_write_schema(
    cache: &OnceLock<jsonschema::Validator>,
    schema: impl FnOnce() -> Value,
    body: &Value,
) -> Result<(), ModelError> {
    let validator = cache.get_or_init(|| {
        jsonschema::validator_for(&schema()).expect("the generated write schemas compile")
    });
    let Some(error) = validator.iter_errors(body).next() else {
        return Ok(());
    };
    Err(ModelError::InvalidValue {
        path: field_path(error.instance_path().as_str()),
        reason: error.to_string(),
    })
}

/// A JSON Pointer (`/addresses/0/street`) written as the parse errors write paths
/// (`addresses[0].street`).
fn field_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|byte| byte.is_ascii_digit()) {
            path.push('[');
            path.push_str(&segment);
            path.push(']');
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&segment);
        }
    }
    path
}

/// The schema of one record, `root` giving the type's schema from a generator.
pub(crate) fn build_record_schema(root: impl FnOnce(SchemaGenerator) -> Value) -> Value {
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut schema = root(generator);
    set_property_description(&mut schema, "remote_data", RECORD_REMOTE_DATA);
    allow_additional_properties(&mut schema);
    tidy(schema)
}

/// The schema of a create or update body of the object `key` (`category.slug`) whose records
/// are `record_name`; a schema no body satisfies when the object takes no writes.
pub(crate) fn build_write_schema(
    key: &str,
    record_name: &str,
    supports_writes: bool,
    root: impl FnOnce(SchemaGenerator) -> Value,
) -> Value {
    let draft = SchemaSettings::draft2020_12();
    if !supports_writes {
        let slug = key.split_once('.').map_or(key, |(_, slug)| slug);
        return json!({
            "$schema": draft.meta_schema,
            "title": format!("{record_name} write body"),
            "description": format!("`{slug}` are read-only in this version: no body is accepted."),
            "not": {},
        });
    }
    let generator = draft.for_deserialize().into_generator();
    let mut schema = root(generator);
    if let Some(title) = schema.get_mut("title") {
        *title = json!(format!("{record_name} write body"));
    }
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for property in READ_ONLY_PROPERTIES {
            properties.shift_remove(property);
        }
        properties.insert(
            "remote_data".to_owned(),
            json!({ "description": WRITE_REMOTE_DATA, "type": ["object", "null"] }),
        );
    }
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|name| !READ_ONLY_PROPERTIES.iter().any(|field| name == *field));
    }
    allow_null_for_optional_properties(&mut schema);
    tidy(schema)
}

/// Puts the root keywords in reading order, drops `default`s and unwraps doc-comment lines.
///
/// schemars writes a `default` for every field of a `serde(default)` struct; in a record every
/// field is present anyway, and in a write body an absent field means "leave unchanged", not
/// the default, so they would only mislead.
fn tidy(schema: Value) -> Value {
    let Value::Object(mut root) = schema else {
        return schema;
    };
    let mut ordered = serde_json::Map::new();
    for key in ["$schema", "title", "description"] {
        if let Some(value) = root.shift_remove(key) {
            ordered.insert(key.to_owned(), value);
        }
    }
    let defs = root.shift_remove("$defs");
    ordered.extend(root);
    if let Some(defs) = defs {
        ordered.insert("$defs".to_owned(), defs);
    }
    let mut schema = Value::Object(ordered);
    tidy_subschema(&mut schema);
    schema
}

fn tidy_subschema(schema: &mut Value) {
    let Value::Object(object) = schema else {
        return;
    };
    object.shift_remove("default");
    state_integer_bounds(object);
    if let Some(Value::String(description)) = object.get_mut("description") {
        *description = unwrap_lines(description);
    }
    for (key, value) in object.iter_mut() {
        match (key.as_str(), value) {
            ("properties" | "$defs", Value::Object(named)) => {
                named.values_mut().for_each(tidy_subschema);
            }
            ("anyOf" | "oneOf" | "allOf", Value::Array(branches)) => {
                branches.iter_mut().for_each(tidy_subschema);
            }
            ("items" | "additionalProperties" | "not", subschema) => tidy_subschema(subschema),
            _ => {}
        }
    }
}

/// The bounds of each integer `format` schemars writes, as the types that parse it hold them.
const INTEGER_BOUNDS: [(&str, i128, i128); 8] = [
    ("int8", i8::MIN as i128, i8::MAX as i128),
    ("int16", i16::MIN as i128, i16::MAX as i128),
    ("int32", i32::MIN as i128, i32::MAX as i128),
    ("int64", i64::MIN as i128, i64::MAX as i128),
    ("uint8", 0, u8::MAX as i128),
    ("uint16", 0, u16::MAX as i128),
    ("uint32", 0, u32::MAX as i128),
    ("uint64", 0, u64::MAX as i128),
];

/// States the range an integer property's type holds (`minimum` and `maximum`, where the
/// property states none narrower): schemars writes `format: uint64` and `minimum: 0` but no
/// maximum, so a document read as JSON Schema allowed any whole number, where the server
/// refuses one its type does not hold ("not a whole number in range", issue 15).
fn state_integer_bounds(object: &mut serde_json::Map<String, Value>) {
    let Some((_, low, high)) = object
        .get("format")
        .and_then(Value::as_str)
        .and_then(|format| INTEGER_BOUNDS.iter().find(|(name, ..)| *name == format))
    else {
        return;
    };
    let bound = |value: i128| {
        i64::try_from(value).map_or_else(
            |_| Value::from(u64::try_from(value).expect("bounds fit an i64 or a u64")),
            Value::from,
        )
    };
    object.entry("minimum").or_insert_with(|| bound(*low));
    object.entry("maximum").or_insert_with(|| bound(*high));
}

/// Joins the lines of each paragraph, as Markdown would render them.
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Adds `null` to the type of every property that is not required, at every depth: write
/// bodies may send null for any of them (a list or flag reads as empty or false).
fn allow_null_for_optional_properties(schema: &mut Value) {
    let Value::Object(object) = schema else {
        return;
    };
    let required: Vec<String> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            if !required.contains(name) {
                add_null_type(property);
            }
        }
    }
    if let Some(Value::Object(definitions)) = object.get_mut("$defs") {
        definitions
            .values_mut()
            .for_each(allow_null_for_optional_properties);
    }
}

fn add_null_type(property: &mut Value) {
    let Some(Value::String(single)) = property.get("type") else {
        return;
    };
    if single != "null" {
        let both = json!([single, "null"]);
        property["type"] = both;
    }
}

fn set_property_description(schema: &mut Value, property: &str, description: &str) {
    if let Some(Value::Object(property)) = schema.pointer_mut(&format!("/properties/{property}")) {
        property.insert("description".to_owned(), json!(description));
    }
}

/// Removes every `additionalProperties: false`, so that records stay valid for clients when a
/// later version adds a field.
fn allow_additional_properties(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            if object.get("additionalProperties") == Some(&Value::Bool(false)) {
                object.shift_remove("additionalProperties");
            }
            object.values_mut().for_each(allow_additional_properties);
        }
        Value::Array(items) => items.iter_mut().for_each(allow_additional_properties),
        _ => {}
    }
}
