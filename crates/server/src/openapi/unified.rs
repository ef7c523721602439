//! The `/unified/…` paths of the OpenAPI document: for each unified object its collection,
//! item and `/meta` paths (concrete, so `/meta` is never read as an id), and each category's
//! `/fields`.
//!
//! What depends on the connector is stated from the loaded connectors, the data the server
//! runs on: each operation lists the connectors that serve it (`x-crosswalk-connectors`), and
//! each list filter names the connectors that declare it, with their own words for it. Shapes
//! of records and write bodies come from [`Components`] (the unified model's schemas).

use connector::Operation;
use connector::file::FilterKind;
use indexmap::IndexMap;
use serde_json::{Value, json};
use unified_model::UnifiedObject;

use super::components::Components;
use super::{
    PARAM_CONNECTION, PARAM_CONNECTION_HEADER, PARAM_IDEMPOTENCY_KEY, PARAM_INCLUDE,
    PARAM_MAX_WAIT, PARAM_MAX_WAIT_HEADER, Responses, parameter_ref,
};
use crate::ConnectorRegistry;

/// One filter of one object, as the connectors declare it.
struct Filter {
    /// The filter's type when every connector declares the same; `None` when they differ.
    kind: Option<FilterKind>,
    /// `(connector, its description)`, in the registry's order.
    connectors: Vec<(String, Option<String>)>,
}

/// The connectors (ids) that serve `operation` on `object`.
fn serving(
    connectors: &ConnectorRegistry,
    object: UnifiedObject,
    operation: Operation,
) -> Vec<String> {
    connectors
        .ids()
        .filter(|id| {
            connectors
                .get(id)
                .is_some_and(|connector| connector.supports(&object.key(), operation))
        })
        .map(str::to_owned)
        .collect()
}

/// Every filter any connector declares on `object`'s list, in first-declared order.
fn filters(connectors: &ConnectorRegistry, object: UnifiedObject) -> IndexMap<String, Filter> {
    let mut found: IndexMap<String, Filter> = IndexMap::new();
    for id in connectors.ids() {
        let Some(list) = connectors
            .get(id)
            .and_then(|connector| connector.file().unified.get(&object.key()))
            .and_then(|operations| operations.list.as_ref())
        else {
            continue;
        };
        for (name, declared) in &list.filters {
            let filter = found.entry(name.clone()).or_insert(Filter {
                kind: Some(declared.kind),
                connectors: Vec::new(),
            });
            if filter.kind != Some(declared.kind) {
                filter.kind = None;
            }
            filter
                .connectors
                .push((id.to_owned(), declared.description.clone()));
        }
    }
    found
}

/// The query parameter of one filter: its type, the connectors that support it and what each
/// matches.
fn filter_parameter(name: &str, filter: &Filter) -> Value {
    let ids: Vec<&str> = filter
        .connectors
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    let mut lines = vec![format!(
        "Supported by {}; on another connector the list answers 400 naming the filter.",
        ids.iter()
            .map(|id| format!("`{id}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    for (id, description) in &filter.connectors {
        if let Some(description) = description {
            lines.push(format!("- `{id}`: {}", description.trim_end()));
        }
    }
    let schema = match filter.kind {
        Some(FilterKind::Datetime) => json!({"type": "string", "format": "date-time"}),
        Some(FilterKind::StringList) => {
            lines.push(
                "Comma-separated values (blanks around each are dropped, as are empty ones); at least one."
                    .to_owned(),
            );
            json!({"type": "string", "pattern": operations::LIST_FILTER_PATTERN})
        }
        Some(FilterKind::String) => UnifiedObject::standard_filter_schema(name),
        None => json!({"type": "string", "minLength": 1}),
    };
    json!({
        "name": name,
        "in": "query",
        "required": false,
        "description": lines.join("\n\n"),
        "schema": schema,
        "x-crosswalk-connectors": ids,
    })
}

/// The parameters every unified call takes: the connection and the wait budget, each as a
/// query parameter or a header.
fn call_parameters() -> Vec<Value> {
    [
        PARAM_CONNECTION,
        PARAM_CONNECTION_HEADER,
        PARAM_MAX_WAIT,
        PARAM_MAX_WAIT_HEADER,
    ]
    .into_iter()
    .map(parameter_ref)
    .collect()
}

/// An operation object with its id, summary, parameters and responses, and the connectors
/// that serve it.
fn operation(
    operation_id: String,
    summary: String,
    parameters: Vec<Value>,
    responses: Value,
    connectors: &[String],
) -> Value {
    json!({
        "operationId": operation_id,
        "summary": summary,
        "tags": ["unified"],
        "parameters": parameters,
        "responses": responses,
        "x-crosswalk-connectors": connectors,
    })
}

/// What narrows the unified paths to one connection: `connectors` then holds only the
/// connection's effective connector, operations it does not serve are left out, and each write
/// body is the connection's own (`/meta`'s create and update schemas: the fields its connector
/// carries, what it requires, its custom fields).
#[derive(Debug, Default)]
pub struct ConnectionScope {
    /// Per object, the create and the update body schemas (`None`: not writable).
    pub writes: std::collections::HashMap<UnifiedObject, (Option<Value>, Option<Value>)>,
}

/// Adds the paths of every unified object and every category's `/fields` (with `scope`, only
/// what the connection serves, with its own write bodies).
pub fn add_paths(
    paths: &mut serde_json::Map<String, Value>,
    components: &mut Components,
    connectors: &ConnectorRegistry,
    scope: Option<&ConnectionScope>,
) {
    components.insert("RecordError", json!({
        "type": "object",
        "description": "A record of the page that could not be mapped: the page goes on without it.",
        "required": ["code", "detail"],
        "properties": {
            "index": {"type": "integer", "description": "The record's place in the vendor's page."},
            "remote_id": {"type": ["string", "null"], "description": "The vendor's id of the record, when it could be read."},
            "code": {"type": "string", "description": "Why, as a stable code: the mapping error's (`D1012`, …), `not_an_object` or `invalid_record`."},
            "detail": {"type": "string", "description": "Why it could not be mapped."}
        }
    }));
    for object in UnifiedObject::all() {
        let name = object.record_name();
        let category = object.category();
        let slug = object.slug();
        // `Crm` + `Contact`: operation ids read as `listCrmContacts`, `getCrmContact`.
        let prefix = capitalized(category);
        let plural = capitalized(slug);
        let record = components.insert_json_schema(name, object.schema(), "Write");
        let page = components.insert(
            &format!("{name}Page"),
            json!({
                "type": "object",
                "description": format!("One page of {slug}."),
                "required": ["results", "next_cursor"],
                "properties": {
                    "results": {"type": "array", "items": record,
                                "description": "The records. A field the vendor holds outside the unified types (an integer out of range, a date past 9999) is null, and the record's `warnings` (an array of strings) names it."},
                    "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last page."},
                    "errors": {"type": "array", "items": Components::reference("RecordError"),
                               "description": "Records of this page that could not be mapped (absent when there are none)."}
                }
            }),
        );
        let filter_parameters: Vec<Value> = filters(connectors, object)
            .iter()
            .map(|(filter_name, filter)| filter_parameter(filter_name, filter))
            .collect();
        let mut list_parameters = call_parameters();
        list_parameters.extend([
            json!({"name": "page_size", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": crate::MAX_PAGE_SIZE, "default": crate::DEFAULT_PAGE_SIZE}, "description": "Records per page."}),
            json!({"name": "cursor", "in": "query", "required": false, "schema": {"type": "string"}, "description": "The `next_cursor` of the previous page (bound to the connection, object and filters)."}),
            parameter_ref(PARAM_INCLUDE),
            json!({"name": "source", "in": "query", "required": false, "schema": {"type": "string", "enum": ["live", "synced"], "default": "live"},
                   "description": format!("`live` reads the vendor; `synced` reads the records the connection's syncs stored (records deleted at the vendor left out), with no vendor call: it answers the filters {} and not `include`, and its cursors are its own.", operations::SYNCED_FILTERS.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", "))}),
        ]);
        list_parameters.extend(filter_parameters);
        let vendor_call = Responses::vendor_call;
        // With a scope, an operation the connection's connector does not serve is left out.
        let offered = |operation: Operation| {
            scope.is_none() || !serving(connectors, object, operation).is_empty()
        };
        let mut collection = serde_json::Map::new();
        collection.insert(
            "get".to_owned(),
            operation(
                format!("list{prefix}{plural}"),
                format!("List {slug}, a page at a time"),
                list_parameters,
                vendor_call(
                    json!({"200": Responses::success("A page of records.", page)}),
                    false,
                ),
                &serving(connectors, object, Operation::List),
            ),
        );
        let mut single_parameters = call_parameters();
        single_parameters.push(parameter_ref(PARAM_INCLUDE));
        let mut item = serde_json::Map::new();
        item.insert(
            "parameters".to_owned(),
            json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The record's id (`id` of the record)."}]),
        );
        item.insert(
            "get".to_owned(),
            operation(
                format!("get{prefix}{name}"),
                format!("Get one of {slug}"),
                single_parameters.clone(),
                vendor_call(
                    json!({"200": Responses::success(READ_DESCRIPTION, record.clone())}),
                    false,
                ),
                &serving(connectors, object, Operation::Get),
            ),
        );
        if object.supports_writes() {
            // The shared body, or with a scope the connection's own create and update bodies.
            let (create_body, update_body) = match scope {
                None => {
                    let write = components.insert_json_schema(
                        &format!("{name}Write"),
                        object.write_schema(),
                        "Write",
                    );
                    (Some(write.clone()), Some(write))
                }
                Some(scope) => {
                    let (create, update) = scope.writes.get(&object).cloned().unwrap_or_default();
                    let mut add = |suffix: &str, schema: Option<Value>| {
                        schema.map(|schema| {
                            components.insert_json_schema(
                                &format!("{name}{suffix}"),
                                schema,
                                "Write",
                            )
                        })
                    };
                    (add("Create", create), add("Update", update))
                }
            };
            let body = |schema: Option<Value>| json!({"required": true, "content": {"application/json": {"schema": schema.unwrap_or_else(|| json!({"type": "object"}))}}});
            let mut write_parameters = single_parameters.clone();
            write_parameters.push(parameter_ref(PARAM_IDEMPOTENCY_KEY));
            let written = written_schema(components, name, &record);
            let mut create = operation(
                format!("create{prefix}{name}"),
                format!("Create one of {slug}"),
                write_parameters.clone(),
                vendor_call(
                    json!({"201": Responses::success(WRITTEN_DESCRIPTION, written.clone())}),
                    true,
                ),
                &serving(connectors, object, Operation::Create),
            );
            create["requestBody"] = body(create_body.clone());
            state_writes(&mut create, connectors, object, Operation::Create);
            if offered(Operation::Create) && (scope.is_none() || create_body.is_some()) {
                collection.insert("post".to_owned(), create);
            }
            let mut update = operation(
                format!("update{prefix}{name}"),
                format!("Update one of {slug} (only the fields sent change; null clears one)"),
                write_parameters,
                vendor_call(
                    json!({"200": Responses::success(WRITTEN_DESCRIPTION, written)}),
                    true,
                ),
                &serving(connectors, object, Operation::Update),
            );
            update["requestBody"] = body(update_body.clone());
            state_writes(&mut update, connectors, object, Operation::Update);
            if offered(Operation::Update) && (scope.is_none() || update_body.is_some()) {
                item.insert("patch".to_owned(), update);
            }
            item.insert(
                "delete".to_owned(),
                operation(
                    format!("delete{prefix}{name}"),
                    format!("Delete one of {slug}"),
                    call_parameters(),
                    vendor_call(json!({"204": Responses::empty("Deleted.")}), false),
                    &serving(connectors, object, Operation::Delete),
                ),
            );
        }
        if !offered(Operation::List) {
            collection.shift_remove("get");
        }
        if !offered(Operation::Get) {
            item.shift_remove("get");
        }
        if !offered(Operation::Delete) {
            item.shift_remove("delete");
        }
        let served_at_all = [
            Operation::List,
            Operation::Get,
            Operation::Create,
            Operation::Update,
            Operation::Delete,
        ]
        .into_iter()
        .any(|operation| !serving(connectors, object, operation).is_empty());
        if !collection.is_empty() {
            paths.insert(
                format!("/unified/{category}/{slug}"),
                Value::Object(collection),
            );
        }
        // `parameters` alone is no operation.
        if item.len() > 1 {
            paths.insert(
                format!("/unified/{category}/{slug}/{{id}}"),
                Value::Object(item),
            );
        }
        if scope.is_some() && !served_at_all {
            continue;
        }
        let meta = components.reference_or_insert("ObjectMeta", meta_schema);
        paths.insert(
            format!("/unified/{category}/{slug}/meta"),
            json!({"get": operation(
                format!("get{prefix}{plural}Meta"),
                format!("The schemas of {slug} on one connection: record, list query, create and update bodies (custom fields included), with the provenance of each mapping part"),
                call_parameters(),
                vendor_call(json!({"200": Responses::success("The schemas.", meta)}), false),
                &serving(connectors, object, Operation::List),
            )}),
        );
    }
    let field = components.reference_or_insert("Field", field_schema);
    for category in unified_model::CATEGORIES {
        let prefix = capitalized(category);
        let objects: Vec<&str> = UnifiedObject::of_category(category)
            .map(UnifiedObject::slug)
            .collect();
        let mut parameters = call_parameters();
        parameters.push(json!({"name": "object", "in": "query", "required": false,
            "schema": {"type": "string", "enum": objects}, "description": "Only this object's fields."}));
        paths.insert(
            format!("/unified/{category}/fields"),
            json!({"get": {
                "operationId": format!("list{prefix}Fields"),
                "summary": "Every vendor field of the connection, in one shape",
                "tags": ["unified"],
                "parameters": parameters,
                "responses": Responses::vendor_call(json!({"200": Responses::success(
                    "The fields.",
                    json!({"type": "object", "required": ["results"], "properties": {"results": {"type": "array", "items": field}}}),
                )}), false),
            }}),
        );
    }
}

/// What a get's success answers.
const READ_DESCRIPTION: &str = "The record. A field the vendor holds outside the unified types (an integer out of range, a date past 9999, a currency that is not an ISO 4217 code) is null, and `warnings` (an array of strings, absent when there are none) names it; a record that cannot be read at all is a 502 `invalid_record`.";

/// What a create's or an update's success answers.
const WRITTEN_DESCRIPTION: &str = "The record as the vendor stored it (read back after the write). The vendor accepted the write whatever `warnings` says: they name what could not be read back, and when nothing could, the answer is only the record's id (`UnreadWrite`). Never retry such a write as a failure.";

/// The success body of a create or an update of `name`: the record with its `warnings`
/// (`{name}Written`), or, when the record could not be read back at all, only its id and the
/// warnings (`UnreadWrite`). Returns the schema to answer with.
fn written_schema(components: &mut Components, name: &str, record: &Value) -> Value {
    let warnings = components.reference_or_insert("WriteWarnings", || {
        json!({
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "What went wrong after the vendor accepted the write (a field or the whole record could not be read back). Absent when nothing did."
        })
    });
    let unread = components.reference_or_insert("UnreadWrite", || {
        json!({
            "type": "object",
            "description": "The vendor accepted the write, but the record could not be read back: its id when the vendor's answer gave one, and why.",
            "required": ["id", "remote_id", "warnings"],
            "properties": {
                "id": {"type": ["string", "null"]},
                "remote_id": {"type": ["string", "null"]},
                "warnings": warnings
            }
        })
    });
    let written = components.insert(
        &format!("{name}Written"),
        json!({
            "title": format!("{name}Written"),
            "description": format!("A {name} as the vendor stored it, with `warnings` when part of it could not be read back."),
            "allOf": [record, {"type": "object", "properties": {"warnings": warnings}}]
        }),
    );
    json!({"anyOf": [written, unread]})
}

/// States on a create or update what each serving connector carries and requires, from its
/// file: `x-crosswalk-fields` (the unified fields it writes; a body naming another is refused
/// with 400), `x-crosswalk-required` (creates: the fields it cannot do without), and the same
/// in the description.
fn state_writes(
    write: &mut Value,
    connectors: &ConnectorRegistry,
    object: UnifiedObject,
    operation: Operation,
) {
    let key = object.key();
    let every_field: Vec<String> = object
        .write_schema()
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| {
            properties
                .keys()
                .filter(|name| !matches!(name.as_str(), "custom_fields" | "remote_data"))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut fields = serde_json::Map::new();
    let mut required = serde_json::Map::new();
    let mut lines = Vec::new();
    for id in serving(connectors, object, operation) {
        let Some(connector) = connectors.get(&id) else {
            continue;
        };
        let carried = connector
            .write_fields(&key, operation)
            .map_or_else(|| every_field.clone(), <[String]>::to_vec);
        let needed = connector.write_required(&key, operation).to_vec();
        let mut line = format!("- `{id}` writes {}", code_list(&carried));
        if !needed.is_empty() {
            line.push_str(&format!("; requires {}", code_list(&needed)));
            required.insert(id.clone(), json!(needed));
        }
        lines.push(line);
        fields.insert(id, json!(carried));
    }
    write["description"] = json!(format!(
        "What each connector carries (besides `custom_fields` and `remote_data`); a body naming another field, a create without a required one, or an update clearing one (null or blank), answers 400 naming it before any vendor call.\n\n{}",
        lines.join("\n")
    ));
    write["x-crosswalk-fields"] = Value::Object(fields);
    if operation == Operation::Create {
        write["x-crosswalk-required"] = Value::Object(required);
    }
}

fn code_list(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `text` with its first letter in upper case (`crm` → `Crm`).
pub(super) fn capitalized(text: &str) -> String {
    let mut letters = text.chars();
    letters
        .next()
        .map(|first| first.to_uppercase().chain(letters).collect())
        .unwrap_or_default()
}

fn meta_schema() -> Value {
    let schema =
        json!({"type": ["object", "null"], "description": "A JSON Schema (draft 2020-12)."});
    json!({
        "type": "object",
        "required": ["object", "provider", "operations", "record_schema", "list_query_schema", "provenance"],
        "properties": {
            "object": {"type": "string", "description": "The object's slug."},
            "provider": {"type": "string", "description": "The connection's connector."},
            "provider_docs_url": {"type": ["string", "null"]},
            "connector_revision": {"description": "The connector file's revision."},
            "operations": {"type": "array", "items": {"type": "string", "enum": ["list", "get", "create", "update", "delete"]},
                           "description": "What the connector serves on this object."},
            "record_schema": {"type": "object", "description": "A record, with the connection's custom fields."},
            "list_query_schema": {"type": "object", "description": "The list's query parameters on this connection, filters included."},
            "create_schema": schema,
            "update_schema": schema,
            "provenance": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "Where each mapping part comes from: `base`, `environment` or `connection`."}
        }
    })
}

fn field_schema() -> Value {
    json!({
        "type": "object",
        "required": ["object", "key"],
        "properties": {
            "object": {"type": "string", "description": "The unified object the field belongs to."},
            "key": {"type": "string", "description": "The unified key, as in `custom_fields` and /meta."},
            "vendor_key": {"type": "string", "description": "The vendor's own key."},
            "label": {"type": ["string", "null"]},
            "type": {"type": ["string", "null"], "description": "`string`, `number`, `integer`, `boolean`, `date`, `datetime`, `enum`, `multi_enum`, `reference`, `object` or `array`."},
            "vendor_type": {"type": "string", "description": "The vendor's own name of the type."},
            "custom": {"type": "boolean"},
            "required": {"type": "boolean"},
            "read_only": {"type": "boolean"},
            "options": {"type": "array", "items": {}, "description": "The values of an enum field."}
        }
    })
}
