//! JSON Schemas (draft 2020-12) of CRM records and write bodies, generated from the types.
//!
//! Generation uses schemars; field doc comments become `description`s. Record schemas follow
//! the serialize contract (what [`super::normalize_record`] writes), write schemas the
//! deserialize contract (what [`super::parse_write_body`] accepts). Schemas are built once per
//! object and cached.

use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Value, json};

use super::{
    Company, Contact, CrmObject, Engagement, Lead, Note, Opportunity, Pipeline, Task, User,
};

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

pub(super) fn record_schema(object: CrmObject) -> Value {
    static CACHE: [OnceLock<Value>; CrmObject::ALL.len()] = [const { OnceLock::new() }; 9];
    CACHE[object as usize]
        .get_or_init(|| build_record_schema(object))
        .clone()
}

pub(super) fn write_schema(object: CrmObject) -> Value {
    static CACHE: [OnceLock<Value>; CrmObject::ALL.len()] = [const { OnceLock::new() }; 9];
    CACHE[object as usize]
        .get_or_init(|| build_write_schema(object))
        .clone()
}

fn build_record_schema(object: CrmObject) -> Value {
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut schema = root_schema(object, generator);
    set_property_description(&mut schema, "remote_data", RECORD_REMOTE_DATA);
    allow_additional_properties(&mut schema);
    tidy(schema)
}

fn build_write_schema(object: CrmObject) -> Value {
    let draft = SchemaSettings::draft2020_12();
    if !object.supports_writes() {
        return json!({
            "$schema": draft.meta_schema,
            "title": format!("{} write body", object.record_name()),
            "description": format!("`{object}` are read-only in this version: no body is accepted."),
            "not": {},
        });
    }
    let generator = draft.for_deserialize().into_generator();
    let mut schema = root_schema(object, generator);
    if let Some(title) = schema.get_mut("title") {
        *title = json!(format!("{} write body", object.record_name()));
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

fn root_schema(object: CrmObject, generator: SchemaGenerator) -> Value {
    fn of<T: JsonSchema>(generator: SchemaGenerator) -> Value {
        generator.into_root_schema_for::<T>().to_value()
    }
    match object {
        CrmObject::Contacts => of::<Contact>(generator),
        CrmObject::Companies => of::<Company>(generator),
        CrmObject::Opportunities => of::<Opportunity>(generator),
        CrmObject::Leads => of::<Lead>(generator),
        CrmObject::Notes => of::<Note>(generator),
        CrmObject::Tasks => of::<Task>(generator),
        CrmObject::Engagements => of::<Engagement>(generator),
        CrmObject::Users => of::<User>(generator),
        CrmObject::Pipelines => of::<Pipeline>(generator),
    }
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
