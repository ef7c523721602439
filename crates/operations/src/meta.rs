//! [`Bound::meta`]: for one connection and unified object, the JSON Schemas of its records, of
//! the list query (the filters this vendor supports), and of create and update bodies, with the
//! connection's discovered custom fields typed in, and where each part of the mapping came from.

use connector::file::FilterKind;
use connector::{DiscoveredField, Operation};
use serde_json::{Map, Value, json};
use unified_model::UnifiedObject;

use crate::OpError;
use crate::bound::Bound;
use crate::records::{DEFAULT_PAGE_SIZE, FREE_WRITE_FIELDS, MAX_PAGE_SIZE};

/// The description of one unified object on one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta(pub Value);

/// The JSON Schema of one discovered field's values.
fn field_schema(field: &DiscoveredField) -> Value {
    let options: Vec<Value> = field
        .options
        .iter()
        .filter_map(|option| option.get("value").cloned())
        .collect();
    let mut schema = match field.kind.as_deref().unwrap_or("string") {
        "number" => json!({"type": "number"}),
        "integer" => json!({"type": "integer"}),
        "boolean" => json!({"type": "boolean"}),
        "date" => json!({"type": "string", "format": "date"}),
        "datetime" => json!({"type": "string", "format": "date-time"}),
        "enum" if !options.is_empty() => json!({"enum": options}),
        "multi_enum" if !options.is_empty() => json!({"type": "array", "items": {"enum": options}}),
        "multi_enum" | "array" => json!({"type": "array"}),
        "object" => json!({"type": "object"}),
        _ => json!({"type": "string"}),
    };
    if let Value::Object(map) = &mut schema {
        if let Some(label) = &field.label {
            map.insert("title".to_owned(), Value::String(label.clone()));
        }
        if let Some(vendor_type) = &field.vendor_type {
            map.insert(
                "x-vendor-type".to_owned(),
                Value::String(vendor_type.clone()),
            );
        }
        if field.vendor_key() != field.key {
            map.insert(
                "x-vendor-key".to_owned(),
                Value::String(field.vendor_key().to_owned()),
            );
        }
        if field.read_only {
            map.insert("readOnly".to_owned(), Value::Bool(true));
        }
    }
    // Vendors may leave any custom value empty.
    json!({"anyOf": [schema, {"type": "null"}]})
}

/// `schema` with `custom_fields` described by the connection's custom fields.
fn with_custom_fields(
    mut schema: Value,
    fields: &[DiscoveredField],
    writable_only: bool,
    strict: bool,
) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields
        .iter()
        .filter(|field| field.custom && !(writable_only && field.read_only))
    {
        properties.insert(field.key.clone(), field_schema(field));
        if writable_only && field.required {
            required.push(Value::String(field.key.clone()));
        }
    }
    let custom = json!({
        "type": "object",
        "description": "The connection's custom fields, by key.",
        "properties": properties,
        "required": required,
        "additionalProperties": !strict,
    });
    if let Some(map) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        map.insert("custom_fields".to_owned(), custom);
    }
    schema
}

/// `schema` without its `null` alternative: `"type": ["string", "null"]` becomes
/// `"type": "string"`, and an `anyOf` loses its `{"type": "null"}` branch.
fn not_null(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|kind| kind != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            map.insert("type".to_owned(), only);
        }
    }
    if let Some(Value::Array(branches)) = map.get_mut("anyOf") {
        branches.retain(|branch| branch != &json!({"type": "null"}));
    }
}

/// What a field's value must be to count as given ([`crate::records`]'s `has_value`): not
/// null, text not blank, a list not empty.
fn has_a_value(property: Option<&Value>) -> Value {
    let kinds: Vec<&str> = match property.and_then(|property| property.get("type")) {
        Some(Value::String(kind)) => vec![kind.as_str()],
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if kinds.contains(&"array") {
        json!({"type": "array", "minItems": 1})
    } else if kinds.contains(&"string") {
        json!({"type": "string", "pattern": crate::records::NOT_BLANK})
    } else {
        json!({"not": {"type": "null"}})
    }
}

/// States a write's `values` and `patterns` in its schema: a narrowed field's schema lists
/// exactly its values (null too where the field may be left empty), a patterned field's text
/// (or each item of its list) carries the pattern.
fn narrow_write_values(
    schema: &mut Value,
    connector: &connector::Connector,
    key: &str,
    operation: Operation,
    fields: &[DiscoveredField],
) {
    for connector::NarrowedField { name, values, .. } in
        connector.write_values(key, operation, fields)
    {
        // A dotted name narrows a field of an object field (`amount.currency`).
        let Some(property) = unified_model::property_at_mut(schema, name) else {
            continue;
        };
        let description = property.get("description").cloned();
        let is_list = property.get("type").is_some_and(|kind| {
            kind == "array"
                || kind
                    .as_array()
                    .is_some_and(|kinds| kinds.contains(&json!("array")))
        });
        let nullable = property_allows_null(property);
        let mut narrowed = if is_list {
            let mut list = property.clone();
            list["items"] = json!({"enum": values});
            list
        } else {
            let mut allowed = values;
            if nullable {
                allowed.push(Value::Null);
            }
            json!({"enum": allowed})
        };
        if let (Some(description), Value::Object(map)) = (description, &mut narrowed) {
            map.insert("description".to_owned(), description);
        }
        *property = narrowed;
    }
    for (name, pattern) in connector.write_patterns(key, operation) {
        // A dotted name is a text field of an object field or of a list's items.
        let Some(property) = unified_model::property_at_mut(schema, name) else {
            continue;
        };
        if property.get("items").is_some() {
            property["items"]["pattern"] = json!(pattern.as_str());
        } else {
            property["pattern"] = json!(pattern.as_str());
        }
    }
    for (name, most) in connector.write_max_length(key, operation) {
        // A dotted name is a text field of an object field or of a list's items.
        let Some(property) = unified_model::property_at_mut(schema, name) else {
            continue;
        };
        if property.get("items").is_some() {
            property["items"]["maxLength"] = json!(most);
        } else {
            property["maxLength"] = json!(most);
        }
    }
    for (name, most) in connector.write_max_items(key, operation) {
        if let Some(property) = unified_model::property_at_mut(schema, name) {
            property["maxItems"] = json!(most);
        }
    }
    for (name, kind) in connector.write_one_per(key, operation) {
        // The kinds an item may have (narrowed by `values`, or the unified enum): for each, one
        // item at most.
        let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
        let kinds = unified_model::property_at_mut(schema, &format!("{name}.{kind}"))
            .map(|property| listed_kinds(property, &defs))
            .unwrap_or_default();
        if let Some(property) = unified_model::property_at_mut(schema, name) {
            let each: Vec<Value> = kinds
                .into_iter()
                .map(|value| {
                    json!({
                        "contains": {"properties": {kind: {"const": value}}, "required": [kind]},
                        "minContains": 0,
                        "maxContains": 1
                    })
                })
                .collect();
            property["allOf"] = Value::Array(each);
        }
    }
    for (name, range) in connector.write_ranges(key, operation) {
        // A dotted name bounds a field of an object field (`amount.amount`).
        let Some(property) = unified_model::property_at_mut(schema, name) else {
            continue;
        };
        if schema_takes(property, "string") {
            // A decimal text (money): `minimum` and `maximum` say nothing of a string, so the
            // range is stated as the pattern of the texts it holds.
            let bound = |value: Option<f64>| value.map(|value| value.to_string());
            if let Some(pattern) = unified_model::decimal_range_pattern(
                bound(range.minimum).as_deref(),
                bound(range.maximum).as_deref(),
            ) {
                property["pattern"] = json!(pattern);
            }
            continue;
        }
        if let Some(minimum) = range.minimum {
            property["minimum"] = json!(minimum);
        }
        if let Some(maximum) = range.maximum {
            property["maximum"] = json!(maximum);
        }
        if let Some(step) = range.multiple_of {
            property["multipleOf"] = json!(step);
        }
    }
}

/// The values a property's schema lists (`enum`, or `const`s of `oneOf`/`anyOf` branches,
/// through `$ref`s into `defs`), null left out.
fn listed_kinds(property: &Value, defs: &Value) -> Vec<Value> {
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .filter(|value| !value.is_null())
            .cloned()
            .collect();
    }
    if let Some(value) = property.get("const") {
        return vec![value.clone()];
    }
    if let Some(name) = property
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|reference| reference.strip_prefix("#/$defs/"))
    {
        return defs
            .get(name)
            .map(|definition| listed_kinds(definition, defs))
            .unwrap_or_default();
    }
    ["oneOf", "anyOf"]
        .iter()
        .filter_map(|key| property.get(*key).and_then(Value::as_array))
        .flatten()
        .flat_map(|branch| listed_kinds(branch, defs))
        .collect()
}

/// Whether a property's schema has `kind` among its types.
fn schema_takes(property: &Value, kind: &str) -> bool {
    match property.get("type") {
        Some(Value::String(only)) => only == kind,
        Some(Value::Array(kinds)) => kinds.iter().any(|each| each == kind),
        _ => false,
    }
}

/// Whether a property's schema takes null.
fn property_allows_null(property: &Value) -> bool {
    match property.get("type") {
        Some(Value::Array(kinds)) => kinds.contains(&json!("null")),
        Some(kind) => kind == "null",
        None => property
            .get("anyOf")
            .and_then(Value::as_array)
            .is_some_and(|branches| branches.contains(&json!({"type": "null"}))),
    }
}

impl Bound {
    /// The schemas and provenance of `object` on this connection.
    ///
    /// # Errors
    /// `Unsupported` when the connector serves no operation on `object`; discovery failures.
    pub async fn meta(&self, object: UnifiedObject) -> Result<Meta, OpError> {
        let key = object.key();
        let fields = self.fields(&key).await?;
        let connector = self.connector();
        let operations: Vec<&str> = [
            Operation::List,
            Operation::Get,
            Operation::Create,
            Operation::Update,
            Operation::Delete,
        ]
        .into_iter()
        .filter(|operation| connector.supports(&key, *operation))
        .map(Operation::as_str)
        .collect();
        if operations.is_empty() {
            return Err(OpError::Unsupported(format!(
                "provider `{}` does not serve `{}`",
                connector.id(),
                object.slug()
            )));
        }
        let mut query_properties = Map::new();
        query_properties.insert("connection_id".to_owned(), json!({"type": "string"}));
        query_properties.insert(
            "page_size".to_owned(),
            json!({"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE}),
        );
        query_properties.insert("cursor".to_owned(), json!({"type": "string"}));
        query_properties.insert("include".to_owned(), json!({"enum": ["remote_data"]}));
        query_properties.insert(
            "max_wait_ms".to_owned(),
            json!({"type": "integer", "minimum": 0}),
        );
        let filters = connector
            .file()
            .unified
            .get(&key)
            .and_then(|ops| ops.list.as_ref())
            .map(|list| list.filters.clone())
            .unwrap_or_default();
        for (name, declared) in &filters {
            let mut schema = match declared.kind {
                FilterKind::String => UnifiedObject::standard_filter_schema(name),
                FilterKind::Datetime => json!({"type": "string", "format": "date-time"}),
                FilterKind::StringList => {
                    json!({"type": "string", "pattern": crate::records::LIST_FILTER_PATTERN})
                }
            };
            // The connector's words for what the filter matches, then how to write a list.
            let description = match (&declared.description, declared.kind) {
                (Some(text), FilterKind::StringList) => {
                    Some(format!("{} Comma-separated values.", text.trim_end()))
                }
                (None, FilterKind::StringList) => Some("Comma-separated values.".to_owned()),
                (text, _) => text.as_ref().map(|text| text.trim_end().to_owned()),
            };
            if let Some(description) = description {
                schema["description"] = Value::String(description);
            }
            query_properties.insert(name.clone(), schema);
        }
        let writable = object.supports_writes() && connector.supports(&key, Operation::Create);
        // A write body's schema lists exactly the fields the connector's write carries (its
        // `fields`) and marks what the vendor requires (its `required`).
        let body = |operation: Operation| -> Value {
            // A write's custom fields are the discovered ones and no other key (the write
            // refuses any other); with nothing discovered the connector decides.
            let strict = !fields.is_empty();
            let mut schema = with_custom_fields(object.write_schema(), &fields, true, strict);
            if let Some(carried) = connector.write_fields(&key, operation)
                && let Some(properties) =
                    schema.get_mut("properties").and_then(Value::as_object_mut)
            {
                properties.retain(|name, _| {
                    FREE_WRITE_FIELDS.contains(&name.as_str())
                        || carried.iter().any(|each| each == name)
                });
            }
            let required = connector.write_required(&key, operation);
            if !required.is_empty()
                && let Value::Object(map) = &mut schema
            {
                map.insert("required".to_owned(), json!(required));
                // A required field must have a value: null is refused like a missing one.
                for name in required {
                    if let Some(property) = map
                        .get_mut("properties")
                        .and_then(|properties| properties.get_mut(name))
                    {
                        not_null(property);
                        if property.get("type") == Some(&json!("string")) {
                            property["pattern"] = json!(crate::records::NOT_BLANK);
                        }
                    }
                }
            }
            // What a create requires, or the update declares `not_clearable`, an update cannot
            // clear: present, it has a value.
            if operation == Operation::Update
                && let Some(properties) =
                    schema.get_mut("properties").and_then(Value::as_object_mut)
            {
                for name in connector.update_not_clearable(&key) {
                    if let Some(property) = properties.get_mut(name) {
                        not_null(property);
                        if property.get("type") == Some(&json!("string")) {
                            property["pattern"] = json!(crate::records::NOT_BLANK);
                        }
                        if property.get("type") == Some(&json!("array")) {
                            property["minItems"] = json!(1);
                        }
                    }
                }
            }
            narrow_write_values(&mut schema, connector, &key, operation, &fields);
            // No schema keyword orders two fields: each later field of an `ordered` group says
            // so in its description.
            for (name, step) in connector.write_step_seconds(&key, operation) {
                add_to_description(
                    &mut schema,
                    name,
                    &format!(
                        "In whole steps of {step} seconds since 1970 (UTC){}: the provider holds no finer time (refused with 400 naming this field otherwise).",
                        if step == 60 { ", whole minutes" } else { "" }
                    ),
                );
            }
            for (name, span) in connector.write_spans(&key, operation) {
                add_to_description(
                    &mut schema,
                    name,
                    &format!(
                        "At most {} seconds after `{}` when given with it (refused with 400 naming this field).",
                        span.maximum_seconds, span.from
                    ),
                );
            }
            if let Some(types) = connector.write_types(&key, operation) {
                let field = &types.field;
                for (name, held) in &types.only {
                    add_to_description(
                        &mut schema,
                        name,
                        &format!(
                            "Held only by a record whose `{field}` is {}: given with `{field}` (refused with 400 otherwise).",
                            held.join(" or ")
                        ),
                    );
                }
                for (kind, rules) in &types.requires {
                    for (name, others) in rules {
                        let others: Vec<String> =
                            others.iter().map(|each| format!("`{each}`")).collect();
                        add_to_description(
                            &mut schema,
                            name,
                            &format!(
                                "With `{field}` {kind}, given with {} (refused with 400 otherwise).",
                                others.join(" and ")
                            ),
                        );
                    }
                }
                if operation == Operation::Update {
                    add_to_description(
                        &mut schema,
                        field,
                        &format!(
                            "A record keeps its {field}: the record's own (another answers 409 `type_mismatch`); needed with a field only some {field}s hold."
                        ),
                    );
                }
            }
            for group in connector.write_ordered(&key, operation) {
                for (idx, name) in group.iter().enumerate().skip(1) {
                    let earlier: Vec<String> = group[..idx]
                        .iter()
                        .map(|each| format!("`{each}`"))
                        .collect();
                    add_to_description(
                        &mut schema,
                        name,
                        &format!(
                            "Not before {} when given with it (refused with 400 naming this field).",
                            earlier.join(" or ")
                        ),
                    );
                }
            }
            if let Value::Object(map) = &mut schema {
                let property = |name: &String| {
                    map.get("properties")
                        .and_then(|properties| properties.get(name))
                        .cloned()
                };
                // In every `required_any` group, one field at least with a value.
                let mut all: Vec<Value> = connector
                    .write_required_any(&key, operation)
                    .iter()
                    .map(|group| {
                        let branches: Vec<Value> = group
                            .iter()
                            .map(|name| {
                                json!({"required": [name], "properties": {name.clone(): has_a_value(property(name).as_ref())}})
                            })
                            .collect();
                        json!({"anyOf": branches})
                    })
                    .collect();
                // In every `exclusive` group, one field at most with a value: a branch per
                // field, where the others have none.
                let exclusive = connector.write_exclusive(&key, operation);
                all.extend(exclusive.iter().map(|group| {
                    let branches: Vec<Value> = group
                        .iter()
                        .map(|kept| {
                            let others: Map<String, Value> = group
                                .iter()
                                .filter(|name| *name != kept)
                                .map(|name| {
                                    (
                                        name.clone(),
                                        json!({"not": has_a_value(property(name).as_ref())}),
                                    )
                                })
                                .collect();
                            json!({"properties": others})
                        })
                        .collect();
                    json!({"anyOf": branches})
                }));
                // An update writes an exclusive group whole: it names all its fields or none
                // (what `dependentRequired` says, in words every schema tool reads).
                if operation == Operation::Update {
                    all.extend(exclusive.iter().map(|group| {
                        let each: Vec<Value> = group
                            .iter()
                            .map(|name| json!({"required": [name]}))
                            .collect();
                        json!({"anyOf": [{"required": group}, {"not": {"anyOf": each}}]})
                    }));
                }
                // A field taken only with others (`requires`): what `dependentRequired` says.
                all.extend(
                    connector
                        .write_requires(&key, operation)
                        .map(|(name, others)| {
                            json!({"anyOf": [{"required": others}, {"not": {"required": [name]}}]})
                        }),
                );
                // Fields only some record types hold (`types`): the field absent, or the type
                // given and one of those holding it; and per type, the fields it writes only
                // with others (the others given, the field absent, or another type).
                if let Some(types) = connector.write_types(&key, operation) {
                    let field = &types.field;
                    all.extend(types.only.iter().map(|(name, held)| {
                        json!({"anyOf": [
                            {"not": {"required": [name]}},
                            {"required": [field], "properties": {field.clone(): {"enum": held}}}
                        ]})
                    }));
                    for (kind, rules) in &types.requires {
                        all.extend(rules.iter().map(|(name, others)| {
                            json!({"anyOf": [
                                {"required": others},
                                {"not": {"required": [name]}},
                                {"properties": {field.clone(): {"not": {"enum": [kind]}}}}
                            ]})
                        }));
                    }
                }
                if !all.is_empty() {
                    map.insert("allOf".to_owned(), Value::Array(all));
                }
            }
            if operation == Operation::Update
                && let Some(custom) = schema.pointer_mut("/properties/custom_fields")
            {
                custom["required"] = json!([]);
            }
            schema
        };
        let mapping_parts: Vec<String> = operations
            .iter()
            .map(|operation| format!("unified.{key}.{operation}"))
            .collect();
        let layers: Vec<(connector::OverrideLayer, &Value)> = self
            .overrides()
            .iter()
            .map(|(layer, doc)| (*layer, doc))
            .collect();
        let origins = connector::provenance(&layers);
        let mut provenance: Map<String, Value> = mapping_parts
            .into_iter()
            .map(|part| {
                let origin = connector::provenance_of(&origins, &part).to_owned();
                (part, Value::String(origin))
            })
            .collect();
        for (path, origin) in &origins {
            provenance.insert(path.clone(), Value::String(origin.clone()));
        }
        Ok(Meta(json!({
            "object": object.slug(),
            "provider": connector.id(),
            "provider_docs_url": connector.file().meta.docs_url,
            "connector_revision": connector.file().meta.revision,
            "operations": operations,
            "record_schema": with_custom_fields(object.schema(), &fields, false, false),
            "list_query_schema": {"type": "object", "properties": query_properties, "additionalProperties": false},
            "create_schema": if writable { body(Operation::Create) } else { Value::Null },
            "update_schema": if writable && connector.supports(&key, Operation::Update) { body(Operation::Update) } else { Value::Null },
            "provenance": provenance,
        })))
    }
}

/// Adds `sentence` to the description of the write schema's property `name`, after what it
/// already says; nothing when the schema has no such property.
fn add_to_description(schema: &mut Value, name: &str, sentence: &str) {
    let Some(property) = schema
        .get_mut("properties")
        .and_then(|properties| properties.get_mut(name))
    else {
        return;
    };
    let said = property
        .get("description")
        .and_then(Value::as_str)
        .map(|text| format!("{} ", text.trim_end()))
        .unwrap_or_default();
    property["description"] = json!(format!("{said}{sentence}"));
}
