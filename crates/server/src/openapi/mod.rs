//! The OpenAPI 3.1 document of this API, served at `/openapi.json`.
//!
//! Built from the unified model's schemas, so it can never disagree with what the API returns;
//! [`components`] turns those JSON Schemas into the document's `components/schemas`.

mod components;

use axum::Json;
use serde_json::{Map, Value, json};
use unified_model::UnifiedObject;

use components::Components;

fn problem_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

/// The OpenAPI document.
pub fn build() -> Value {
    let mut schemas = Components::default();
    schemas.insert(
        "Problem",
        json!({
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail", "code", "origin"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"}, "code": {"type": "string", "description": "Stable error code."},
                "origin": {"type": "string", "enum": ["gateway", "provider"]},
                "field": {"type": "string", "description": "The request field that is wrong."},
                "provider": {"type": "object", "description": "The provider's status, code and message."}
            }
        }),
    );
    schemas.insert(
        "Connection",
        json!({
            "type": "object",
            "required": ["id", "provider", "status"],
            "properties": {
                "id": {"type": "string"}, "provider": {"type": "string"},
                "status": {"type": "string", "enum": ["active", "needs_reauth", "disabled"]},
                "auth_scheme": {"type": "string"}, "account": {"type": "object"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"}
            }
        }),
    );
    let mut paths = Map::new();
    let connection_param = json!({"name": "connection_id", "in": "query", "required": false, "schema": {"type": "string"}, "description": "The connection to call; or the `X-Connection-Id` header."});
    for object in UnifiedObject::all() {
        let name = object.record_name();
        let record_ref = schemas.insert_json_schema(name, object.schema(), "Write");
        let list = json!({
            "summary": format!("List {}", object.slug()),
            "parameters": [
                connection_param,
                {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": crate::MAX_PAGE_SIZE, "default": crate::DEFAULT_PAGE_SIZE}},
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                {"name": "updated_after", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                {"name": "email", "in": "query", "schema": {"type": "string"}},
                {"name": "ids", "in": "query", "schema": {"type": "string"}, "description": "Comma-separated ids."},
                {"name": "include", "in": "query", "schema": {"type": "string", "enum": ["remote_data"]}}
            ],
            "responses": {
                "200": {"description": "A page of records.", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["results", "next_cursor"],
                    "properties": {"results": {"type": "array", "items": record_ref}, "next_cursor": {"type": ["string", "null"]},
                                   "errors": {"type": "array", "items": {"type": "object"}}}}}}},
                "400": problem_response("Invalid request."), "404": problem_response("Unknown connection.")
            }
        });
        let mut collection = Map::new();
        collection.insert("get".to_owned(), list);
        let mut item = Map::new();
        item.insert(
            "get".to_owned(),
            json!({"summary": format!("Get one of {}", object.slug()), "parameters": [connection_param],
                   "responses": {"200": {"description": "The record.", "content": {"application/json": {"schema": record_ref}}},
                                 "404": problem_response("Not found.")}}),
        );
        if object.supports_writes() {
            let write_ref = json!({"schema": schemas.insert_json_schema(
                &format!("{name}Write"),
                object.write_schema(),
                "Write",
            )});
            collection.insert(
                "post".to_owned(),
                json!({"summary": format!("Create one of {}", object.slug()), "parameters": [connection_param],
                       "requestBody": {"required": true, "content": {"application/json": write_ref}},
                       "responses": {"201": {"description": "The created record.", "content": {"application/json": {"schema": record_ref}}},
                                     "400": problem_response("Invalid body."), "422": problem_response("Refused by the provider.")}}),
            );
            item.insert(
                "patch".to_owned(),
                json!({"summary": format!("Update one of {}", object.slug()), "parameters": [connection_param],
                       "requestBody": {"required": true, "content": {"application/json": write_ref}},
                       "responses": {"200": {"description": "The updated record.", "content": {"application/json": {"schema": record_ref}}}}}),
            );
            item.insert(
                "delete".to_owned(),
                json!({"summary": format!("Delete one of {}", object.slug()), "parameters": [connection_param],
                       "responses": {"204": {"description": "Deleted."}}}),
            );
        }
        let id_param =
            json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
        item.insert("parameters".to_owned(), id_param);
        paths.insert(
            format!("/unified/{}/{}", object.category(), object.slug()),
            Value::Object(collection),
        );
        paths.insert(
            format!("/unified/{}/{}/{{id}}", object.category(), object.slug()),
            Value::Object(item),
        );
    }
    // The keyset paging of `GET /connections` and `GET /events`.
    let page_params = json!([
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": crate::routes::events::MAX_LIMIT, "default": crate::routes::events::DEFAULT_LIMIT}},
        {"name": "cursor", "in": "query", "description": "The `next_cursor` of the previous page.", "schema": {"type": "string"}}
    ]);
    let next_cursor = json!({"type": ["string", "null"], "description": "Where the next page starts; null on the last page."});
    paths.insert(
        "/connections".to_owned(),
        json!({
            "get": {"summary": "List connections, oldest first, a page at a time", "parameters": page_params.clone(), "responses": {"200": {"description": "Connections.", "content": {"application/json": {"schema": {"type": "object", "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/Connection"}}, "next_cursor": next_cursor.clone()}}}}}, "400": problem_response("Invalid `limit` or `cursor`.")}},
            "post": {"summary": "Create a connection with API-key or token credentials",
                     "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["provider"], "additionalProperties": false,
                        "properties": {"provider": {"type": "string"}, "auth_scheme": {"type": "string"}, "fields": {"type": "object", "additionalProperties": {"type": "string"}}}}}}},
                     "responses": {"201": {"description": "Created.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Connection"}}}}, "400": problem_response("Invalid body.")}}
        }),
    );
    paths.insert(
        "/connections/{id}".to_owned(),
        json!({
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "get": {"summary": "Get a connection", "responses": {"200": {"description": "The connection.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Connection"}}}}, "404": problem_response("Not found.")}},
            "delete": {"summary": "Delete a connection", "responses": {"204": {"description": "Deleted."}, "404": problem_response("Not found.")}}
        }),
    );
    paths.insert(
        "/proxy/{path}".to_owned(),
        json!({
            "parameters": [{"name": "path", "in": "path", "required": true, "schema": {"type": "string"}}, connection_param],
            "get": {"summary": "Raw vendor call on the connection's credentials", "responses": {"default": {"description": "The vendor's answer, as it is."}}},
            "post": {"summary": "Raw vendor call", "responses": {"default": {"description": "The vendor's answer."}}},
            "put": {"summary": "Raw vendor call", "responses": {"default": {"description": "The vendor's answer."}}},
            "patch": {"summary": "Raw vendor call", "responses": {"default": {"description": "The vendor's answer."}}},
            "delete": {"summary": "Raw vendor call", "responses": {"default": {"description": "The vendor's answer."}}}
        }),
    );
    paths.insert(
        "/connect/sessions".to_owned(),
        json!({"post": {
            "summary": "Create a short-lived Connect link for one end user",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["end_user_id", "redirect_url"], "additionalProperties": false,
                "properties": {
                    "end_user_id": {"type": "string"},
                    "redirect_url": {"type": "string", "description": "One of the environment's allowed redirect URLs."},
                    "provider": {"type": "string"},
                    "connection_id": {"type": "string", "description": "Re-authorise this connection."},
                    "ttl_secs": {"type": "integer", "minimum": 1, "maximum": 86400}
                }}}}},
            "responses": {
                "201": {"description": "The link.", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "token": {"type": "string"}, "url": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}}}}},
                "400": problem_response("Invalid body or redirect URL not allowed.")
            }
        }}),
    );
    paths.insert(
        "/environment/oauth-apps/{provider}".to_owned(),
        json!({
            "parameters": [{"name": "provider", "in": "path", "required": true, "schema": {"type": "string"}}],
            "put": {"summary": "Set the environment's OAuth client for a provider",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false,
                        "required": ["client_id", "client_secret", "redirect_uris"],
                        "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string", "writeOnly": true},
                                       "redirect_uris": {"type": "array", "items": {"type": "string"}},
                                       "scopes": {"type": ["array", "null"], "items": {"type": "string"}}}}}}},
                    "responses": {"200": {"description": "Saved (the secret is never returned)."}, "400": problem_response("Invalid body.")}},
            "get": {"summary": "The environment's OAuth client for a provider (without its secret)",
                    "responses": {"200": {"description": "The app."}, "404": problem_response("Not configured.")}}
        }),
    );
    paths.insert(
        "/environment/branding".to_owned(),
        json!({"put": {"summary": "Set the Connect page's branding and the allowed redirect URLs",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                "display_name": {"type": ["string", "null"]}, "logo_url": {"type": ["string", "null"]},
                "primary_color": {"type": ["string", "null"], "pattern": "^#[0-9a-fA-F]{6}$"},
                "allowed_redirect_urls": {"type": "array", "items": {"type": "string"}}}}}}},
            "responses": {"200": {"description": "Saved."}, "400": problem_response("Invalid body.")}}}),
    );
    let limit =
        |description: &str| json!({"type": "integer", "minimum": 1, "description": description});
    let limits_schema = json!({"type": "object", "additionalProperties": false, "properties": {
        "max_steps": limit("Steps of one evaluation (U1006)."),
        "timeout_ms": limit("Time of one evaluation, in ms (D1012)."),
        "max_depth": limit("Nesting depth of one evaluation (D1011)."),
        "max_items": limit("Items of one array, range or object an evaluation builds (D1014)."),
        "max_string_bytes": limit("Bytes of one string an evaluation builds (D1015)."),
        "max_alloc_bytes": limit("Bytes one evaluation allocates (D1013)."),
        "max_output_bytes": limit("Bytes of one evaluation's result (D1016)."),
        "request_max_steps": limit("Steps of all evaluations of one request (D1017)."),
        "request_max_time_ms": limit("Time of all evaluations of one request, in ms (D1017)."),
        "max_concurrent_evaluations": {"type": ["integer", "null"], "minimum": 1,
            "description": "Evaluations of the environment at once in one process (null: half the pool; never more than the pool less one)."}}});
    paths.insert(
        "/environment/limits".to_owned(),
        json!({"get": {"summary": "The limits the environment's mappings are evaluated under (defaults included)",
                       "responses": {"200": {"description": "Every limit.", "content": {"application/json": {"schema": limits_schema}}}}},
               "put": {"summary": "Set the limits the environment's mappings are evaluated under (a limit left out has its default)",
                       "requestBody": {"required": true, "content": {"application/json": {"schema": limits_schema}}},
                       "responses": {"200": {"description": "Saved; every limit."}, "400": problem_response("A limit is unknown or out of bounds; `field` names it.")}}}),
    );
    paths.insert(
        "/events".to_owned(),
        json!({"get": {"summary": "The environment's events, oldest first, a page at a time",
            "parameters": [{"name": "connection_id", "in": "query", "schema": {"type": "string"}},
                           {"name": "kind", "in": "query", "schema": {"type": "string"}},
                           page_params[0], page_params[1]],
            "responses": {"200": {"description": "Events.", "content": {"application/json": {"schema": {"type": "object", "properties": {"results": {"type": "array"}, "next_cursor": next_cursor}}}}},
                          "400": problem_response("Invalid `limit`, `cursor` or `connection_id`.")}}}),
    );
    let key_schema = json!({"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": ["string", "null"]},
        "prefix": {"type": "string", "description": "The key's first characters, to recognise it."},
        "status": {"type": "string", "enum": ["active", "expired", "revoked"]},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        "last_used_at": {"type": ["string", "null"], "format": "date-time", "description": "Written at most about once a minute."},
        "current": {"type": "boolean", "description": "The key of this request."}}});
    let created_key = json!({"type": "object", "properties": {
        "key": {"type": "string", "description": "The key itself, shown this once; only its hash is stored."},
        "api_key": key_schema, "previous": key_schema}});
    let key_id_param =
        json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    paths.insert(
        "/environment/api-keys".to_owned(),
        json!({
            "get": {"summary": "The environment's API keys (revoked and expired ones too), oldest first",
                    "responses": {"200": {"description": "Keys.", "content": {"application/json": {"schema": {"type": "object", "properties": {"results": {"type": "array", "items": key_schema}}}}}}}},
            "post": {"summary": "Create an API key of the environment",
                     "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
                         "name": {"type": "string", "maxLength": 100},
                         "expires_at": {"type": "string", "format": "date-time"},
                         "expires_in_secs": {"type": "integer", "minimum": 1}}}}}},
                     "responses": {"201": {"description": "The key, shown once.", "content": {"application/json": {"schema": created_key}}},
                                   "400": problem_response("Invalid name or expiry.")}}
        }),
    );
    paths.insert(
        "/environment/api-keys/{id}".to_owned(),
        json!({"parameters": key_id_param,
               "delete": {"summary": "Revoke an API key for good",
                          "responses": {"200": {"description": "The revoked key.", "content": {"application/json": {"schema": key_schema}}},
                                        "404": problem_response("No such key in this environment."),
                                        "409": problem_response("The key of this request (`own_api_key`) or the environment's last usable key (`last_api_key`).")}}}),
    );
    paths.insert(
        "/environment/api-keys/{id}/rotate".to_owned(),
        json!({"parameters": key_id_param,
               "post": {"summary": "Create a new key and let the old one expire after an overlap",
                        "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
                            "overlap_secs": {"type": "integer", "minimum": 0, "maximum": 2_592_000, "default": 86400},
                            "name": {"type": "string", "maxLength": 100}}}}}},
                        "responses": {"201": {"description": "The new key, shown once, and the old one with its new expiry.", "content": {"application/json": {"schema": created_key}}},
                                      "404": problem_response("No such key in this environment."),
                                      "409": problem_response("The key is revoked or expired.")}}}),
    );
    let override_body = json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "description": "A patch of the connector file (see docs/connector-format.md, Overrides)."}}}});
    for (path, parameter) in [
        ("/environment/overrides/{provider}", "provider"),
        ("/connections/{id}/overrides", "id"),
    ] {
        let parameters = json!([{"name": parameter, "in": "path", "required": true, "schema": {"type": "string"}}]);
        paths.insert(
            path.to_owned(),
            json!({
                "parameters": parameters,
                "get": {"summary": "The current override and its history", "responses": {"200": {"description": "Versions."}, "404": problem_response("None set.")}},
                "put": {"summary": "Save a new version (validated and compiled first)",
                        "parameters": [{"name": "expected_version", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
                        "requestBody": override_body,
                        "responses": {"200": {"description": "The new version."}, "400": problem_response("Invalid override or version conflict.")}},
                "delete": {"summary": "Remove it (a new version)", "responses": {"200": {"description": "The removal version."}}}
            }),
        );
        paths.insert(
            format!("{path}/revert"),
            json!({"parameters": parameters,
                   "post": {"summary": "Write an earlier version's document again",
                            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["version"], "properties": {"version": {"type": "integer"}}}}}},
                            "responses": {"200": {"description": "The new version."}}}}),
        );
    }
    for category in unified_model::CATEGORIES {
        paths.insert(
            format!("/unified/{category}/fields"),
            json!({"get": {"summary": "Every vendor field of the connection, in one shape",
                "parameters": [connection_param.clone(), {"name": "object", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "Fields: object, key (the unified name, as in custom_fields and /meta), vendor_key (the vendor's own key), label, type, vendor_type, custom, required, read_only, options."}}}}),
        );
        paths.insert(
            format!("/unified/{category}/{{object}}/meta"),
            json!({"parameters": [{"name": "object", "in": "path", "required": true, "schema": {"type": "string"}}],
                   "get": {"summary": "Record, list-query, create and update schemas for one connection, with provenance",
                           "parameters": [connection_param.clone()],
                           "responses": {"200": {"description": "The schemas."}}}}),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Crosswalk", "version": env!("CARGO_PKG_VERSION"), "description": format!("One self-hosted unified API over its vendors. Categories: {}.", unified_model::CATEGORIES.join(", "))},
        "components": {
            "schemas": schemas.into_schemas(),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "An environment's API key."}}
        },
        "security": [{"apiKey": []}],
        "paths": paths
    })
}

/// `GET /openapi.json`.
pub async fn document() -> Json<Value> {
    Json(build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` string anywhere in `value`.
    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(reference)) = object.get("$ref") {
                    found.push(reference.clone());
                }
                object.values().for_each(|value| references(value, found));
            }
            Value::Array(items) => items.iter().for_each(|item| references(item, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_inside_the_document() {
        let document = build();
        let mut found = Vec::new();
        references(&document, &mut found);
        assert!(found.len() > 50, "{found:?}");
        for reference in found {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("`{reference}` leaves the document"));
            assert!(
                document.pointer(pointer).is_some(),
                "`{reference}` does not resolve"
            );
        }
        for object in UnifiedObject::all() {
            let name = object.record_name();
            assert!(
                document["components"]["schemas"][name].is_object(),
                "{name}"
            );
            if object.supports_writes() {
                assert!(
                    document["components"]["schemas"][format!("{name}Write")].is_object(),
                    "{name}Write"
                );
            }
        }
    }

    #[test]
    fn enums_are_written_as_enum() {
        fn walk(value: &Value, path: &str) {
            match value {
                Value::Object(object) => {
                    if let Some(Value::Array(branches)) = object.get("oneOf") {
                        assert!(
                            !branches.iter().all(|branch| branch.get("const").is_some()),
                            "{path} is a oneOf of constants"
                        );
                    }
                    for (key, value) in object {
                        walk(value, &format!("{path}/{key}"));
                    }
                }
                Value::Array(items) => {
                    for (index, item) in items.iter().enumerate() {
                        walk(item, &format!("{path}/{index}"));
                    }
                }
                _ => {}
            }
        }
        let document = build();
        walk(&document, "");
        let phone_type = &document["components"]["schemas"]["PhoneNumberType"];
        assert_eq!(phone_type["type"], "string", "{phone_type}");
        assert!(
            phone_type["enum"]
                .as_array()
                .is_some_and(|values| values.contains(&json!("MOBILE"))),
            "{phone_type}"
        );
    }
}
