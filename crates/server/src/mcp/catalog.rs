//! The tools of one MCP endpoint, built from data: each connection's `/meta` description of
//! each unified object ([`operations::Bound::meta`]) becomes one tool per operation its
//! connector serves, named `{category}_{object}_{operation}`, with input schemas carrying the
//! connection's custom fields and output schemas of the records.
//!
//! Everything here is a pure function of the descriptions and the endpoint's [`Access`], so the
//! same URL, key and connection configuration always give the same tools in the same order.
//! Calling a tool is `handler.rs`'s business.

use std::sync::Arc;

use connector::Operation;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};
use unified_model::UnifiedObject;

/// The operations in the order their tools are listed.
pub(crate) const OPERATIONS: [Operation; 5] = [
    Operation::List,
    Operation::Get,
    Operation::Create,
    Operation::Update,
    Operation::Delete,
];

/// The name of the search mode's tool that finds tools.
pub(crate) const FIND_TOOLS: &str = "find_tools";
/// The name of the search mode's tool that calls a tool found.
pub(crate) const CALL_TOOL: &str = "call_tool";
/// The name of the tool listing the connections an all-connections endpoint serves.
pub(crate) const LIST_CONNECTIONS: &str = "connections_list";

/// What the endpoint lets its caller do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Access {
    /// Only list and get tools (`preset=read_only`).
    pub read_only: bool,
    /// Whether delete tools are offered: only when the key allows deletes.
    pub deletes: bool,
}

impl Access {
    /// Whether this access offers `operation`.
    pub(crate) fn allows(self, operation: Operation) -> bool {
        match operation {
            Operation::List | Operation::Get => true,
            Operation::Create | Operation::Update => !self.read_only,
            Operation::Delete => !self.read_only && self.deletes,
        }
    }
}

/// One connection's descriptions of the unified objects its connector serves.
#[derive(Debug, Clone)]
pub(crate) struct Described {
    pub connection_id: String,
    pub provider: String,
    /// `(object, meta)` in [`UnifiedObject::all`]'s order.
    pub objects: Vec<(UnifiedObject, Value)>,
}

/// What a tool does when called.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// A unified operation on one of `connections` (one on a single-connection endpoint, where
    /// the tool takes no `connection_id`).
    Unified {
        object: UnifiedObject,
        operation: Operation,
        connections: Vec<String>,
        takes_connection: bool,
    },
    /// Lists the endpoint's connections.
    ListConnections,
}

/// A tool and what calling it does.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub tool: Tool,
    pub action: Action,
}

/// The name of the tool for `operation` on `object`: `[a-z0-9_]`, at most 64 characters.
pub(crate) fn tool_name(object: UnifiedObject, operation: Operation) -> String {
    format!(
        "{}_{}_{}",
        object.category(),
        object.slug(),
        operation.as_str()
    )
}

/// The tools of an endpoint over `described` connections: one per object and operation that
/// at least one of them serves and `access` allows, in object then operation order. With
/// `all_connections`, each takes a `connection_id` among those that serve it, and a
/// `connections_list` tool comes first.
pub(crate) fn build(described: &[Described], access: Access, all_connections: bool) -> Vec<Entry> {
    let mut entries = Vec::new();
    if all_connections {
        entries.push(list_connections_tool(described));
    }
    for object in UnifiedObject::all() {
        for operation in OPERATIONS {
            if !access.allows(operation) {
                continue;
            }
            let serving: Vec<(&Described, &Value)> = described
                .iter()
                .filter_map(|connection| {
                    connection
                        .objects
                        .iter()
                        .find(|(each, _)| *each == object)
                        .filter(|(_, meta)| offers(meta, operation))
                        .map(|(_, meta)| (connection, meta))
                })
                .collect();
            if serving.is_empty() {
                continue;
            }
            entries.push(unified_tool(object, operation, &serving, all_connections));
        }
    }
    entries
}

/// Whether a `/meta` description offers `operation` (a write needs its body schema).
fn offers(meta: &Value, operation: Operation) -> bool {
    let listed = meta["operations"]
        .as_array()
        .is_some_and(|ops| ops.iter().any(|op| op == operation.as_str()));
    listed
        && match operation {
            Operation::Create => meta["create_schema"].is_object(),
            Operation::Update => meta["update_schema"].is_object(),
            _ => true,
        }
}

fn list_connections_tool(described: &[Described]) -> Entry {
    let input = json!({"type": "object", "properties": {}, "additionalProperties": false});
    let output = json!({
        "type": "object",
        "properties": {"results": {"type": "array", "items": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "provider": {"type": "string"}},
            "required": ["id", "provider"],
        }}},
        "required": ["results"],
    });
    let description = format!(
        "Lists the {} connections these tools reach (their `connection_id` and provider). Every other tool takes a `connection_id` from this list.",
        described.len()
    );
    let tool = Tool::new(LIST_CONNECTIONS, description, object_of(input))
        .with_title("List connections")
        .with_raw_output_schema(Arc::new(object_of(output)))
        .with_annotations(
            ToolAnnotations::with_title("List connections")
                .read_only(true)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
        );
    Entry {
        tool,
        action: Action::ListConnections,
    }
}

fn unified_tool(
    object: UnifiedObject,
    operation: Operation,
    serving: &[(&Described, &Value)],
    all_connections: bool,
) -> Entry {
    let noun = object.slug().replace('_', " ");
    let record = object.record_name();
    let providers: Vec<&str> = {
        let mut providers: Vec<&str> = serving.iter().map(|(c, _)| c.provider.as_str()).collect();
        providers.sort_unstable();
        providers.dedup();
        providers
    };
    let where_ = if all_connections {
        format!(
            "on one of the connections (`connection_id`; providers: {})",
            providers.join(", ")
        )
    } else {
        format!("in the connected {} account", providers.join(", "))
    };
    let (title, description, mut input, output) = match operation {
        Operation::List => (
            format!("List {noun}"),
            format!(
                "Lists {noun} {where_}, one page at a time: pass the answer's `next_cursor` as `cursor` for the next page (absent on the last page). Filters narrow the list."
            ),
            list_input(serving),
            list_output(serving),
        ),
        Operation::Get => (
            format!("Get a {record}"),
            format!("Gets one {record} by `id` {where_}."),
            get_input(),
            record_output(serving),
        ),
        Operation::Create => (
            format!("Create a {record}"),
            format!(
                "Creates a {record} {where_}; custom fields go in `custom_fields`. Returns the {record} as stored."
            ),
            body_input(serving, "create_schema"),
            written_output(serving),
        ),
        Operation::Update => (
            format!("Update a {record}"),
            format!(
                "Changes the given fields of the {record} `id` {where_}; fields left out are kept. Returns the {record} as stored."
            ),
            with_id(body_input(serving, "update_schema")),
            written_output(serving),
        ),
        Operation::Delete => (
            format!("Delete a {record}"),
            format!("Deletes the {record} `id` {where_}. This cannot be undone."),
            get_id_only(),
            json!({
                "type": "object",
                "properties": {"deleted": {"type": "boolean"}, "id": {"type": "string"}},
                "required": ["deleted", "id"],
            }),
        ),
    };
    let connections: Vec<String> = serving
        .iter()
        .map(|(connection, _)| connection.connection_id.clone())
        .collect();
    if all_connections {
        add_connection_parameter(&mut input, serving);
    }
    let read = matches!(operation, Operation::List | Operation::Get);
    let annotations = ToolAnnotations::with_title(title.clone())
        .read_only(read)
        .destructive(operation == Operation::Delete)
        .idempotent(operation != Operation::Create)
        .open_world(true);
    let tool = Tool::new(tool_name(object, operation), description, object_of(input))
        .with_title(title)
        .with_raw_output_schema(Arc::new(object_of(output)))
        .with_annotations(annotations);
    Entry {
        tool,
        action: Action::Unified {
            object,
            operation,
            connections,
            takes_connection: all_connections,
        },
    }
}

fn object_of(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// A schema without `$schema`, with its `$defs` taken out (merged into `defs`), so it can sit
/// inside another schema whose root carries the definitions.
fn hoisted(schema: &Value, defs: &mut Map<String, Value>) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        if let Some(Value::Object(own)) = map.remove("$defs") {
            for (name, definition) in own {
                defs.entry(name).or_insert(definition);
            }
        }
    }
    schema
}

fn with_defs(mut schema: Value, defs: Map<String, Value>) -> Value {
    if !defs.is_empty()
        && let Value::Object(map) = &mut schema
    {
        map.insert("$defs".to_owned(), Value::Object(defs));
    }
    schema
}

/// The record schema of the serving connections: one connection's own, or, over several, the
/// unified record with each connection's custom fields merged in.
fn record_schema(serving: &[(&Described, &Value)], defs: &mut Map<String, Value>) -> Value {
    let mut schema = hoisted(&serving[0].1["record_schema"], defs);
    for (_, meta) in &serving[1..] {
        let other = hoisted(&meta["record_schema"], defs);
        merge_custom_fields(&mut schema, &other);
    }
    schema
}

/// The record schema of an answer: custom field values are described but not held to their
/// options, since vendors answer values outside the options they list (a finding of the
/// TypeScript SDK test: a seeded `tier` outside the discovered enum).
fn loosened(mut schema: Value) -> Value {
    if let Some(custom) = schema.pointer_mut("/properties/custom_fields/properties")
        && let Some(map) = custom.as_object_mut()
    {
        for value in map.values_mut() {
            let title = value
                .pointer("/anyOf/0/title")
                .or_else(|| value.get("title"))
                .cloned();
            *value = match title {
                Some(title) => json!({"title": title}),
                None => json!({}),
            };
        }
    }
    schema
}

fn record_output(serving: &[(&Described, &Value)]) -> Value {
    let mut defs = Map::new();
    let schema = loosened(record_schema(serving, &mut defs));
    with_defs(schema, defs)
}

/// A write's answer: the record as stored, with `warnings` naming what could not be read
/// back; or, when nothing could be read back, only its id and the warnings. The vendor
/// accepted the write either way.
fn written_output(serving: &[(&Described, &Value)]) -> Value {
    let mut defs = Map::new();
    let mut record = loosened(record_schema(serving, &mut defs));
    let warnings = json!({"type": "array", "items": {"type": "string"}, "description": "What could not be read back after the write; the write itself succeeded."});
    if let Some(properties) = record.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert("warnings".to_owned(), warnings.clone());
    }
    let unread = json!({
        "type": "object",
        "properties": {"id": {"type": ["string", "null"]}, "remote_id": {"type": ["string", "null"]}, "warnings": warnings},
        "required": ["id", "remote_id", "warnings"],
    });
    with_defs(json!({"type": "object", "anyOf": [record, unread]}), defs)
}

fn list_output(serving: &[(&Described, &Value)]) -> Value {
    let mut defs = Map::new();
    let record = loosened(record_schema(serving, &mut defs));
    with_defs(
        json!({
            "type": "object",
            "properties": {
                "results": {"type": "array", "items": record},
                "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; absent or null on the last page."},
                "errors": {"type": "array", "description": "Records of this page that could not be read, with why.", "items": {"type": "object"}},
            },
            "required": ["results"],
        }),
        defs,
    )
}

/// The list tool's input: the list query schema of `/meta` without `connection_id`; filters a
/// connector declares are kept when any serving connection declares them.
fn list_input(serving: &[(&Described, &Value)]) -> Value {
    let mut properties = Map::new();
    for (_, meta) in serving {
        if let Some(each) = meta["list_query_schema"]["properties"].as_object() {
            for (name, schema) in each {
                if name != "connection_id" {
                    properties
                        .entry(name.clone())
                        .or_insert_with(|| schema.clone());
                }
            }
        }
    }
    if let Some(cursor) = properties.get_mut("cursor") {
        cursor["description"] =
            json!("The `next_cursor` of the previous page; leave out for the first page.");
    }
    if let Some(wait) = properties.get_mut("max_wait_ms") {
        wait["description"] =
            json!("How long the call may wait for the provider's rate limit, in milliseconds.");
    }
    json!({"type": "object", "properties": properties, "additionalProperties": false})
}

fn get_id_only() -> Value {
    json!({
        "type": "object",
        "properties": {"id": {"type": "string", "description": "The record's `id`."}},
        "required": ["id"],
        "additionalProperties": false,
    })
}

fn get_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "The record's `id`."},
            "include": {"enum": ["remote_data"], "description": "`remote_data` adds the provider's raw record."},
            "max_wait_ms": {"type": "integer", "minimum": 0, "description": "How long the call may wait for the provider's rate limit, in milliseconds."},
        },
        "required": ["id"],
        "additionalProperties": false,
    })
}

/// A write tool's input: the serving connections' body schema (`create_schema` or
/// `update_schema`), custom fields merged, `required` kept only where every connection
/// requires it.
fn body_input(serving: &[(&Described, &Value)], key: &str) -> Value {
    let mut defs = Map::new();
    let with_schema: Vec<Value> = serving
        .iter()
        .map(|(_, meta)| hoisted(&meta[key], &mut defs))
        .collect();
    let mut schema = with_schema[0].clone();
    for other in &with_schema[1..] {
        if let (Some(mine), Some(theirs)) = (
            schema["properties"].as_object_mut(),
            other["properties"].as_object(),
        ) {
            for (name, each) in theirs {
                mine.entry(name.clone()).or_insert_with(|| each.clone());
            }
        }
        merge_custom_fields(&mut schema, other);
        let theirs: Vec<Value> = other["required"].as_array().cloned().unwrap_or_default();
        if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
            required.retain(|name| theirs.contains(name));
        }
    }
    if let Value::Object(map) = &mut schema {
        map.remove("title");
    }
    with_defs(schema, defs)
}

/// Merges `other`'s custom field properties into `schema`'s (`properties.custom_fields`): a key
/// both describe differently takes either description (`anyOf`).
fn merge_custom_fields(schema: &mut Value, other: &Value) {
    let Some(theirs) = other
        .pointer("/properties/custom_fields/properties")
        .and_then(Value::as_object)
    else {
        return;
    };
    let Some(mine) = schema
        .pointer_mut("/properties/custom_fields/properties")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (key, each) in theirs {
        match mine.get_mut(key) {
            None => {
                mine.insert(key.clone(), each.clone());
            }
            Some(existing) if existing == each => {}
            Some(existing) => {
                *existing = json!({"anyOf": [existing.clone(), each.clone()]});
            }
        }
    }
    if let Some(custom) = schema.pointer_mut("/properties/custom_fields") {
        // Over several connections no key is required of all; the server checks each call
        // against its connection's own fields.
        custom["required"] = json!([]);
        custom["additionalProperties"] = json!(true);
        custom["description"] =
            json!("Custom fields of the chosen connection, by key (each connection has its own).");
    }
}

fn with_id(mut schema: Value) -> Value {
    if let Value::Object(map) = &mut schema {
        let mut properties = Map::new();
        properties.insert(
            "id".to_owned(),
            json!({"type": "string", "description": "The `id` of the record to change."}),
        );
        if let Some(Value::Object(rest)) = map.remove("properties") {
            properties.extend(rest);
        }
        map.insert("properties".to_owned(), Value::Object(properties));
        let mut required = vec![json!("id")];
        if let Some(Value::Array(rest)) = map.remove("required") {
            required.extend(rest);
        }
        map.insert("required".to_owned(), Value::Array(required));
    }
    schema
}

/// Adds the required `connection_id` among the serving connections to a tool's input.
fn add_connection_parameter(input: &mut Value, serving: &[(&Described, &Value)]) {
    let ids: Vec<&str> = serving
        .iter()
        .map(|(connection, _)| connection.connection_id.as_str())
        .collect();
    let which: Vec<String> = serving
        .iter()
        .map(|(connection, _)| format!("`{}` ({})", connection.connection_id, connection.provider))
        .collect();
    let Value::Object(map) = input else {
        return;
    };
    let mut properties = Map::new();
    properties.insert(
        "connection_id".to_owned(),
        json!({"type": "string", "enum": ids, "description": format!("The connection to use: {}.", which.join(", "))}),
    );
    if let Some(Value::Object(rest)) = map.remove("properties") {
        properties.extend(rest);
    }
    map.insert("properties".to_owned(), Value::Object(properties));
    let mut required = vec![json!("connection_id")];
    if let Some(Value::Array(rest)) = map.remove("required") {
        required.extend(rest);
    }
    map.insert("required".to_owned(), Value::Array(required));
}

/// The search mode's two tools: one finds tools by words, the other calls one by name.
pub(crate) fn search_tools(access: Access) -> Vec<Tool> {
    let find = Tool::new(
        FIND_TOOLS,
        "Finds the tools that match a few words (an object such as `contacts`, an operation such as `list` or `create`, a field name). Returns each tool's name, description and input schema; call one with `call_tool`.",
        object_of(json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Words to look for in tool names, descriptions and parameters."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
            },
            "required": ["query"],
            "additionalProperties": false,
        })),
    )
    .with_title("Find tools")
    .with_raw_output_schema(Arc::new(object_of(json!({
        "type": "object",
        "properties": {"tools": {"type": "array", "items": {"type": "object"}}},
        "required": ["tools"],
    }))))
    .with_annotations(
        ToolAnnotations::with_title("Find tools")
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    );
    let call = Tool::new(
        CALL_TOOL,
        "Calls a tool that `find_tools` returned, by `name`, with its `arguments`.",
        object_of(json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The tool's name."},
                "arguments": {"type": "object", "description": "The tool's arguments, as its input schema says."},
            },
            "required": ["name"],
            "additionalProperties": false,
        })),
    )
    .with_title("Call a tool")
    .with_annotations(
        ToolAnnotations::with_title("Call a tool")
            .read_only(access.read_only)
            .destructive(!access.read_only && access.deletes)
            .idempotent(false)
            .open_world(true),
    );
    vec![find, call]
}

/// The entries whose name, description or parameters mention every word of `query` (case
/// folded), best first: more words in the name first, then listing order.
pub(crate) fn find<'a>(entries: &'a [Entry], query: &str, limit: usize) -> Vec<&'a Entry> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut scored: Vec<(usize, usize, &Entry)> = entries
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            let name = entry.tool.name.to_lowercase();
            let text = format!(
                "{name} {} {}",
                entry.tool.description.as_deref().unwrap_or_default(),
                Value::Object((*entry.tool.input_schema).clone())
            )
            .to_lowercase();
            // A plural in the query finds the singular's tools too (`contact` in `contacts`).
            let matched = words.iter().all(|word| {
                text.contains(word.as_str()) || text.contains(word.trim_end_matches('s'))
            });
            matched.then(|| {
                let in_name = words
                    .iter()
                    .filter(|word| name.contains(word.as_str()))
                    .count();
                (usize::MAX - in_name, index, entry)
            })
        })
        .collect();
    scored.sort_by_key(|(rank, index, _)| (*rank, *index));
    scored
        .into_iter()
        .take(limit)
        .map(|(_, _, entry)| entry)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(id: &str, provider: &str, custom: Value) -> Described {
        let object = UnifiedObject::all().next().expect("an object");
        let mut record = object.schema();
        record["properties"]["custom_fields"] =
            json!({"type": "object", "properties": custom.clone(), "required": []});
        let mut body = object.write_schema();
        body["properties"]["custom_fields"] =
            json!({"type": "object", "properties": custom, "required": []});
        Described {
            connection_id: id.to_owned(),
            provider: provider.to_owned(),
            objects: vec![(
                object,
                json!({
                    "operations": ["list", "get", "create", "update", "delete"],
                    "record_schema": record,
                    "list_query_schema": {"type": "object", "properties": {
                        "connection_id": {"type": "string"}, "cursor": {"type": "string"},
                        "page_size": {"type": "integer"}}},
                    "create_schema": body,
                    "update_schema": body,
                }),
            )],
        }
    }

    fn names(entries: &[Entry]) -> Vec<String> {
        entries.iter().map(|e| e.tool.name.to_string()).collect()
    }

    #[test]
    fn one_connection_gives_one_tool_per_operation_in_order_and_deletes_only_when_allowed() {
        let one = [described(
            "conn_a",
            "one",
            json!({"tier": {"enum": ["gold"]}}),
        )];
        let object = UnifiedObject::all().next().expect("an object");
        let prefix = format!("{}_{}", object.category(), object.slug());
        let open = Access {
            read_only: false,
            deletes: false,
        };
        assert_eq!(
            names(&build(&one, open, false)),
            ["list", "get", "create", "update"].map(|op| format!("{prefix}_{op}"))
        );
        let deletes = Access {
            read_only: false,
            deletes: true,
        };
        let entries = build(&one, deletes, false);
        assert_eq!(entries.len(), 5);
        let delete = &entries[4].tool;
        let annotations = delete.annotations.as_ref().expect("annotations");
        assert_eq!(annotations.destructive_hint, Some(true));
        assert_eq!(annotations.read_only_hint, Some(false));
        let read_only = Access {
            read_only: true,
            deletes: true,
        };
        let entries = build(&one, read_only, false);
        assert_eq!(
            names(&entries),
            ["list", "get"].map(|op| format!("{prefix}_{op}"))
        );
        for entry in &entries {
            let annotations = entry.tool.annotations.as_ref().expect("annotations");
            assert_eq!(annotations.read_only_hint, Some(true));
            assert!(entry.tool.name.len() <= 64);
            assert!(
                entry
                    .tool
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            );
        }
        // The custom field is in the create tool's input, typed with its options.
        let create = &build(&one, open, false)[2].tool;
        assert_eq!(
            create.input_schema["properties"]["custom_fields"]["properties"]["tier"],
            json!({"enum": ["gold"]})
        );
        assert!(
            create.input_schema.get("$schema").is_none()
                && !create.input_schema["properties"]
                    .as_object()
                    .expect("properties")
                    .contains_key("connection_id")
        );
    }

    #[test]
    fn over_several_connections_tools_take_a_connection_and_merge_custom_fields() {
        let two = [
            described("conn_a", "one", json!({"tier": {"type": "string"}})),
            described("conn_b", "two", json!({"score": {"type": "number"}})),
        ];
        let access = Access {
            read_only: false,
            deletes: false,
        };
        let entries = build(&two, access, true);
        assert_eq!(entries[0].tool.name, LIST_CONNECTIONS);
        let create = entries
            .iter()
            .find(|e| e.tool.name.ends_with("_create"))
            .expect("a create tool");
        let input = &create.tool.input_schema;
        assert_eq!(
            input["properties"]["connection_id"]["enum"],
            json!(["conn_a", "conn_b"])
        );
        assert_eq!(input["required"][0], "connection_id");
        let custom = &input["properties"]["custom_fields"]["properties"];
        assert!(custom["tier"].is_object() && custom["score"].is_object());
        // The same input gives the same tools.
        let again = build(&two, access, true);
        assert_eq!(
            entries.iter().map(|e| &e.tool).collect::<Vec<_>>(),
            again.iter().map(|e| &e.tool).collect::<Vec<_>>()
        );
    }

    #[test]
    fn find_ranks_tools_whose_names_hold_the_words_first() {
        let one = [described("conn_a", "one", json!({}))];
        let entries = build(
            &one,
            Access {
                read_only: false,
                deletes: false,
            },
            false,
        );
        let object = UnifiedObject::all().next().expect("an object");
        let found = find(&entries, &format!("{} create", object.slug()), 10);
        assert_eq!(
            found[0].tool.name,
            tool_name(object, Operation::Create),
            "{:?}",
            found.iter().map(|e| &e.tool.name).collect::<Vec<_>>()
        );
        assert!(find(&entries, "no_such_word_anywhere", 10).is_empty());
    }
}
