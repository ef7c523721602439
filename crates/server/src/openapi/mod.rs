//! The OpenAPI 3.1 document of this API, served at `/openapi.json`.
//!
//! Built at request time from what the server runs on: records and write bodies from the
//! unified model's schemas ([`components`] moves their definitions into `components/schemas`),
//! what depends on the connector (which connectors serve an operation, which declare a list
//! filter) from the loaded connectors ([`unified`]), limits from the routes' own constants,
//! and `servers` from the server's public URL. Every operation has an `operationId`, its
//! parameters (query and headers), its success schema and headers, and the problem+json
//! statuses it can answer. The end user's Connect pages (HTML, no API key) are not part of it.

mod components;
mod unified;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::{ApiError, AppState, ConnectorRegistry, routes};
use components::Components;

/// `components/parameters` names shared by operations.
const PARAM_CONNECTION: &str = "ConnectionId";
const PARAM_CONNECTION_HEADER: &str = "XConnectionId";
const PARAM_MAX_WAIT: &str = "MaxWaitMs";
const PARAM_MAX_WAIT_HEADER: &str = "CrosswalkMaxWaitMs";
const PARAM_INCLUDE: &str = "Include";
const PARAM_IDEMPOTENCY_KEY: &str = "IdempotencyKey";
const PARAM_LIMIT: &str = "Limit";
const PARAM_CURSOR: &str = "Cursor";

/// A reference to a shared parameter.
fn parameter_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

fn parameters() -> Value {
    let max_wait = crate::routes::unified::MAX_WAIT_BUDGET_MS;
    json!({
        PARAM_CONNECTION: {"name": "connection_id", "in": "query", "required": false, "schema": {"type": "string", "minLength": 1},
            "description": "The connection to call. Required, here or as the `X-Connection-Id` header (both only when they agree)."},
        PARAM_CONNECTION_HEADER: {"name": "X-Connection-Id", "in": "header", "required": false, "schema": {"type": "string", "pattern": "\\S"},
            "description": "The connection to call, instead of the `connection_id` query parameter."},
        PARAM_MAX_WAIT: {"name": "max_wait_ms", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": max_wait},
            "description": "How long this call may wait for the vendor's budget, in milliseconds (default: the server's). A longer wait answers 429 with `Retry-After` at once."},
        PARAM_MAX_WAIT_HEADER: {"name": "Crosswalk-Max-Wait-Ms", "in": "header", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": max_wait},
            "description": "The same as `max_wait_ms`, as a header (both are checked; the query parameter wins)."},
        PARAM_INCLUDE: {"name": "include", "in": "query", "required": false, "schema": {"type": "string", "enum": ["remote_data", "sensitive_fields", "remote_data,sensitive_fields"]},
            "description": "`remote_data`: each record carries the vendor's raw record as `remote_data`. `sensitive_fields`: the object's sensitive fields (national ids, dates of birth, bank data, pay amounts) are given instead of withheld; on an object that has some, only on a connection whose account field `sensitive_fields` is `allowed` (400 naming `include` otherwise), and `remote_data` of such an object needs it too."},
        PARAM_IDEMPOTENCY_KEY: {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": crate::rules::IDEMPOTENCY_KEY},
            "description": "Optional. A retry of a write with the same key and body answers the first write's result instead of writing again, so a retried create never duplicates the record."},
        PARAM_LIMIT: {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": crate::routes::events::MAX_LIMIT, "default": crate::routes::events::DEFAULT_LIMIT},
            "description": "Items per page."},
        PARAM_CURSOR: {"name": "cursor", "in": "query", "required": false, "schema": {"type": "string"},
            "description": "The `next_cursor` of the previous page."}
    })
}

fn headers() -> Value {
    json!({
        "X-Request-Id": {"description": "The request's id (the caller's own `X-Request-Id` when short and log-safe); problem bodies carry it as `request_id`.",
            "schema": {"type": "string"}},
        "RateLimit": {"description": "What is left of the connection's vendor budget (IETF RateLimit header fields: `\"policy\";r=remaining;t=seconds-to-reset`).",
            "schema": {"type": "string"}},
        "RateLimit-Policy": {"description": "The connection's vendor budget (`\"policy\";q=quota;w=window-seconds`).",
            "schema": {"type": "string"}},
        "Retry-After": {"description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 0}}
    })
}

/// The problem+json statuses: component name, status and what it means.
const PROBLEMS: &[(&str, u16, &str)] = &[
    (
        "BadRequest",
        400,
        "The request is invalid; `field` names the part that is wrong (`unsupported`: the connection's connector does not offer this operation).",
    ),
    (
        "Unauthorized",
        401,
        "No valid API key (`unauthenticated`), or the vendor no longer accepts the connection's authorization (`reauth_required`, `unauthorized`).",
    ),
    (
        "Forbidden",
        403,
        "The API key may not do this (`read_only_key`: a read-only key and a write; `deletes_not_allowed`: a delete by a key not allowed to delete; `connection_scoped_key`: a route over the whole environment and a key scoped to connections; `permission_not_held`: making or managing a key with rights this key lacks), or the vendor refused the call for the connection's account (`forbidden`, `insufficient_scope`).",
    ),
    (
        "NotFound",
        404,
        "No such route, connection, record or thing in this environment.",
    ),
    (
        "Conflict",
        409,
        "The request conflicts with the current state (`code` says how; `override_invalid`: a stored override no longer applies; `reference_not_found`: a write names a record the vendor does not have; `type_mismatch`: an update names another type than the record's, which a record keeps).",
    ),
    ("Gone", 410, "The vendor says the record is gone."),
    (
        "PayloadTooLarge",
        413,
        "The body is larger than the server accepts.",
    ),
    (
        "UnprocessableEntity",
        422,
        "The vendor refused the data (`validation_failed`), or a mapping stopped at an evaluation limit (`evaluation_limit`).",
    ),
    (
        "TooManyRequests",
        429,
        "A rate limit: the vendor's budget for the connection (`rate_limited`, `quota_exhausted`) or failed authentications from this address (`auth_throttled`).",
    ),
    (
        "BadGateway",
        502,
        "The vendor could not be reached or answered something unusable.",
    ),
    (
        "ServiceUnavailable",
        503,
        "The vendor keeps failing for this connection: calls are paused (`circuit_open`).",
    ),
    ("GatewayTimeout", 504, "The vendor did not answer in time."),
];

fn problem_responses() -> Map<String, Value> {
    let problem = json!({"application/problem+json": {"schema": Components::reference("Problem")}});
    let mut responses = Map::new();
    for (name, status, description) in PROBLEMS {
        let mut headers = json!({"X-Request-Id": header_ref("X-Request-Id")});
        if matches!(status, 429 | 503) {
            headers["Retry-After"] = header_ref("Retry-After");
        }
        if *status == 429 {
            headers["RateLimit"] = header_ref("RateLimit");
            headers["RateLimit-Policy"] = header_ref("RateLimit-Policy");
        }
        responses.insert(
            (*name).to_owned(),
            json!({"description": description, "headers": headers, "content": problem}),
        );
    }
    responses.insert(
        "Unexpected".to_owned(),
        json!({"description": "Any other error (500: ours, with the request id).",
               "headers": {"X-Request-Id": header_ref("X-Request-Id")}, "content": problem}),
    );
    responses
}

/// Builds the responses of operations.
struct Responses;

impl Responses {
    /// A JSON success with `schema`, the request id and the connection's vendor budget.
    fn success(description: &str, schema: Value) -> Value {
        json!({"description": description, "headers": Responses::success_headers(),
               "content": {"application/json": {"schema": schema}}})
    }

    /// A success without a body.
    fn empty(description: &str) -> Value {
        json!({"description": description, "headers": Responses::success_headers()})
    }

    fn success_headers() -> Value {
        json!({"X-Request-Id": header_ref("X-Request-Id"), "RateLimit": header_ref("RateLimit"),
               "RateLimit-Policy": header_ref("RateLimit-Policy")})
    }

    /// `successes` and every problem of a call that reaches the connection's vendor (`writes`:
    /// it has a body, so 413 too).
    fn vendor_call(successes: Value, writes: bool) -> Value {
        let statuses: &[u16] = if writes {
            &[400, 401, 403, 404, 409, 410, 413, 422, 429, 502, 503, 504]
        } else {
            &[400, 401, 403, 404, 409, 410, 422, 429, 502, 503, 504]
        };
        Responses::with_problems(successes, statuses)
    }

    /// `successes` and the problems `statuses`; every authenticated call can also answer 401
    /// and 429 (failed authentications), and anything else as `default`.
    fn platform(successes: Value, statuses: &[u16]) -> Value {
        // Every platform route may refuse a key's permissions (403).
        let mut all = vec![401, 403, 429];
        all.extend_from_slice(statuses);
        all.sort_unstable();
        all.dedup();
        Responses::with_problems(successes, &all)
    }

    fn with_problems(successes: Value, statuses: &[u16]) -> Value {
        let mut responses = match successes {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        for status in statuses {
            if let Some((name, _, _)) = PROBLEMS.iter().find(|(_, known, _)| known == status) {
                responses.insert(
                    status.to_string(),
                    json!({"$ref": format!("#/components/responses/{name}")}),
                );
            }
        }
        responses.insert(
            "default".to_owned(),
            json!({"$ref": "#/components/responses/Unexpected"}),
        );
        Value::Object(responses)
    }
}

/// The responses of a proxy call: each error status is a problem of ours or the vendor's own
/// answer with that status, in the vendor's content type (`vendor_content`).
fn passed_through(vendor_content: &Value, responses: Value) -> Value {
    let problems = problem_responses();
    let Value::Object(responses) = responses else {
        return responses;
    };
    let responses = responses
        .into_iter()
        .map(|(status, response)| {
            let shared = response["$ref"]
                .as_str()
                .and_then(|reference| reference.strip_prefix("#/components/responses/"))
                .and_then(|name| problems.get(name));
            let Some(shared) = shared else {
                return (status, response);
            };
            let mut inlined = shared.clone();
            let description = inlined["description"].as_str().unwrap_or_default();
            inlined["description"] = json!(format!(
                "{description} Or the vendor's own answer with this status, as it came."
            ));
            if let (Value::Object(content), Value::Object(vendor)) =
                (&mut inlined["content"], vendor_content)
            {
                content.extend(vendor.clone());
            }
            (status, inlined)
        })
        .collect();
    Value::Object(responses)
}

/// The inbound webhook routes: the ingress vendors call (no API key: the token in the URL is
/// the address, the connector's verification the proof) and the API that makes, shows and
/// removes a connection's ingress (docs/webhooks.md, Inbound webhooks).
fn add_inbound_paths(paths: &mut Map<String, Value>, connection_id: &Value) {
    let token = path_parameter(
        "token",
        "The ingress token, from the URL `POST /connections/{id}/webhook-ingress` answered.",
        json!({"type": "string"}),
    );
    let mut receive = platform_operation(
        "receiveWebhook",
        "webhooks",
        "A vendor's webhook delivery: verified as the connection's connector declares, written to the inbox with its processing job, then answered",
        Responses::with_problems(
            json!({
                "204": Responses::nothing("Accepted (the connector declares no other answer)."),
                "200": {"description": "Accepted, answered as the connector declares (a SOAP acknowledgement, say): the connector's own body and content type, text.",
                        "headers": {"X-Request-Id": header_ref("X-Request-Id")},
                        "content": {
                            "text/xml": {"schema": {"type": "string"}},
                            "text/plain": {"schema": {"type": "string"}}
                        }}
            }),
            &[401, 404, 413],
        ),
    );
    receive["security"] = json!([]);
    receive["requestBody"] = json!({"required": false, "description": "The vendor's delivery, as it sends it (JSON, XML, a form); kept raw.",
        "content": {"application/json": {"schema": {}}}});
    receive["description"] = json!(
        "`401` (`webhook_unverified`): the delivery failed its verification (a signature that does not match, a timestamp out of tolerance, wrong credentials or token); nothing is kept but a sampled refusal. `404`: no ingress has this token."
    );
    paths.insert(
        "/hooks/{token}".to_owned(),
        json!({"parameters": [token], "post": receive}),
    );
    let ingress = json!({
        "type": "object",
        "required": ["verification", "created_at", "failures"],
        "properties": {
            "verification": {"type": ["string", "null"], "enum": ["hmac", "basic_auth", "token", "none", null]},
            "created_at": {"type": "string", "format": "date-time"},
            "last_received_at": {"type": ["string", "null"], "format": "date-time"},
            "failures": {"type": "integer", "minimum": 0},
            "last_failure_at": {"type": ["string", "null"], "format": "date-time"},
            "last_failure": {"type": ["string", "null"]},
            "subscription": {"type": "object", "description": "The subscription Crosswalk manages at the vendor, for connectors that declare one.",
                "properties": {
                    "status": {"type": "string", "enum": ["pending", "active"]},
                    "id": {"type": ["string", "null"]},
                    "expires_at": {"type": ["string", "null"], "format": "date-time"},
                    "next_run_at": {"type": "string", "format": "date-time"},
                    "last_error": {"type": ["string", "null"]}
                }}
        }
    });
    let mut created = ingress.clone();
    created["required"] = json!(["verification", "created_at", "failures", "url"]);
    created["properties"]["url"] = json!({"type": "string", "format": "uri", "description": "The URL to give the vendor; shown only here."});
    created["properties"]["secret"] = json!({"type": "string", "description": "The generated secret (when none was given and the verification needs one); shown only here."});
    let mut shown = ingress;
    shown["properties"]["failure_samples"] = json!({"type": "array", "items": {"type": "object"}});
    shown["properties"]["deliveries"] = json!({"type": "array", "items": {"type": "object"}});
    let mut create = platform_operation(
        "createWebhookIngress",
        "webhooks",
        "Make the connection's ingress URL (an earlier one stops working) and, where the connector declares it, the vendor's subscription to it",
        Responses::platform(
            json!({"201": Responses::json("The ingress, with its URL.", created)}),
            &[400, 404, 413],
        ),
    );
    create["requestBody"] = json!({"required": false, "content": {"application/json": {"schema": {
        "type": "object", "additionalProperties": false,
        "properties": {"secret": {"type": "string", "minLength": 1, "maxLength": 1024,
            "description": "The secret the vendor signs or authenticates with (an app's client secret); generated when absent."}}}}}});
    paths.insert("/connections/{id}/webhook-ingress".to_owned(), json!({
        "parameters": [connection_id],
        "get": platform_operation("getWebhookIngress", "webhooks", "The connection's ingress: its refusals (sampled), latest deliveries and subscription",
            Responses::platform(json!({"200": Responses::json("The ingress.", shown)}), &[404])),
        "post": create,
        "delete": platform_operation("deleteWebhookIngress", "webhooks", "Remove the ingress (its URL stops working) and delete the vendor's subscription",
            Responses::platform(json!({"204": Responses::nothing("Removed.")}), &[404]))
    }));
}

/// An operation of the platform (not `/unified`): id, tag, summary and Responses::
fn platform_operation(id: &str, tag: &str, summary: &str, responses: Value) -> Value {
    json!({"operationId": id, "tags": [tag], "summary": summary, "responses": responses})
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

impl Responses {
    /// A JSON success of a platform route (no vendor is called, so no vendor budget).
    fn json(description: &str, schema: Value) -> Value {
        json!({"description": description, "headers": {"X-Request-Id": header_ref("X-Request-Id")},
               "content": {"application/json": {"schema": schema}}})
    }

    /// A platform success without a body.
    fn nothing(description: &str) -> Value {
        json!({"description": description, "headers": {"X-Request-Id": header_ref("X-Request-Id")}})
    }
}

/// A connection's id, as the server parses it.
fn connection_id_schema() -> Value {
    json!({"type": "string", "pattern": store::ConnectionId::PATTERN})
}

/// What names a unified object in a sync: its key (`crm.contacts`) or its slug alone where only
/// one category has it; with `only`, just those objects.
fn object_names(only: Option<&[unified_model::UnifiedObject]>) -> Vec<String> {
    let all: Vec<unified_model::UnifiedObject> = unified_model::UnifiedObject::all().collect();
    let mut names = Vec::new();
    for object in &all {
        if only.is_some_and(|only| !only.contains(object)) {
            continue;
        }
        names.push(object.key());
        if all
            .iter()
            .filter(|other| other.slug() == object.slug())
            .count()
            == 1
        {
            names.push(object.slug().to_owned());
        }
    }
    names
}

fn path_parameter(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": schema})
}

/// The schemas of the platform routes' bodies and answers.
fn platform_schemas(components: &mut Components, providers: &[&str]) {
    components.insert("Problem", json!({
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail", "code", "origin"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "code": {"type": "string", "description": "Stable error code."},
            "origin": {"type": "string", "enum": ["gateway", "provider"], "description": "Whether Crosswalk or the vendor failed."},
            "field": {"type": "string", "description": "The request field that is wrong."},
            "errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "detail": {"type": "string"}}}},
            "request_id": {"type": "string"},
            "retry_after_secs": {"type": "integer", "minimum": 0},
            "provider": {"type": ["object", "null"], "description": "The vendor's status, code and message."}
        }
    }));
    components.insert(
        "Connection",
        json!({
            "type": "object",
            "required": ["id", "provider", "status", "created_at", "updated_at"],
            "properties": {
                "id": {"type": "string"}, "provider": {"type": "string", "enum": providers},
                "status": {"type": "string", "enum": ["active", "needs_reauth", "disabled"]},
                "auth_scheme": {"type": ["string", "null"]}, "account": {"type": "object"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"}
            }
        }),
    );
    components.insert("ConnectionPage", json!({
        "type": "object", "required": ["results", "next_cursor"],
        "properties": {"results": {"type": "array", "items": Components::reference("Connection")},
                       "next_cursor": {"type": ["string", "null"], "description": "Where the next page starts; null on the last page."}}
    }));
    components.insert(
        "Event",
        json!({
            "type": "object", "required": ["id", "kind", "created_at"],
            "properties": {"id": {"type": "string"}, "kind": {"type": "string"},
                           "connection_id": {"type": ["string", "null"]}, "payload": {},
                           "created_at": {"type": "string", "format": "date-time"}}
        }),
    );
    components.insert("EventPage", json!({
        "type": "object", "required": ["results", "next_cursor"],
        "properties": {"results": {"type": "array", "items": Components::reference("Event")},
                       "next_cursor": {"type": ["string", "null"], "description": "Where the next page starts; null on the last page."}}
    }));
    components.insert("Sync", json!({
        "type": "object", "description": "One connection's unified object kept in step: a run now, then one every `every_secs`.",
        "required": ["id", "status", "attempts", "created_at"],
        "properties": {"id": {"type": "string"}, "connection_id": {"type": ["string", "null"]},
                       "object": {"type": ["string", "null"], "description": "The unified object's key, `category.object`."},
                       "every_secs": {"type": ["integer", "null"]},
                       "reconcile_every_secs": {"type": ["integer", "null"], "description": "Seconds between reconciliation passes (for objects that declare deletes); null: the worker's default, daily."},
                       "status": {"type": "string", "enum": ["queued", "running", "rate_limited", "paused", "failed", "done", "cancelled"],
                                  "description": "`queued`: waiting for a run not yet started; `running`; `rate_limited`: the last run stopped at the vendor's budget and resumes from its checkpoint at `next_run_at`; `paused`; `failed`: the last run failed (tried again at `next_run_at`, or never when that is null); `done`: the last run completed; `cancelled`: stopped with DELETE."},
                       "phase": {"type": ["string", "null"], "enum": ["backfill", "incremental", "reconcile", null],
                                 "description": "What the run under way, or the last one, does: `backfill` reads everything (the first run, or the first after a resync), `incremental` what changed since the last complete run, `reconcile` looks for deletes."},
                       "next_run_at": {"type": ["string", "null"], "format": "date-time"},
                       "attempts": {"type": "integer", "description": "Failed attempts of the run under way."},
                       "last_error": {"type": ["object", "null"], "description": "RFC 9457 problem details of the last failed run (without `status`: no request failed); cleared by a run that completes.",
                                      "required": ["type", "title", "detail", "code", "origin"],
                                      "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "detail": {"type": "string"},
                                                     "code": {"type": "string"}, "origin": {"type": "string", "enum": ["gateway", "provider"]}}},
                       "checkpoint": {"type": ["object", "null"], "description": "Where the sync resumes.", "properties": {
                           "watermark": {"type": ["string", "null"], "format": "date-time", "description": "The next incremental run reads records changed since then; null: the next run reads everything."},
                           "run_started_at": {"type": ["string", "null"], "format": "date-time", "description": "The start of the run under way; null between runs."},
                           "mid_run": {"type": "boolean", "description": "Whether a run stopped part way resumes from its last page."}}},
                       "progress": {"type": ["object", "null"], "properties": {
                           "pages": {"type": "integer"}, "created": {"type": "integer"}, "updated": {"type": "integer"},
                           "deleted": {"type": "integer"}, "updated_at": {"type": "string", "format": "date-time"}}},
                       "created_at": {"type": "string", "format": "date-time"}}
    }));
    components.insert(
        "SyncList",
        json!({
            "type": "object", "required": ["results"],
            "properties": {"results": {"type": "array", "items": Components::reference("Sync")}}
        }),
    );
    components.insert("CreateSync", json!({
        "type": "object", "required": ["connection_id", "object"], "additionalProperties": false,
        "properties": {"connection_id": {"type": "string", "pattern": store::ConnectionId::PATTERN,
                                         "description": "The connection (404 when the environment has none of this id)."},
                       "object": {"type": "string", "enum": object_names(None),
                                  "description": "The unified object, `category.object`, or `object` alone where only one category has it (400 when the connection's connector cannot list it)."},
                       "every_secs": {"type": "integer", "minimum": crate::routes::syncs::EVERY_SECS_BOUNDS.0,
                                      "maximum": crate::routes::syncs::EVERY_SECS_BOUNDS.1,
                                      "default": crate::routes::syncs::DEFAULT_EVERY_SECS},
                       "reconcile_every_secs": {"type": "integer", "minimum": crate::routes::syncs::RECONCILE_EVERY_SECS_BOUNDS.0,
                                                "maximum": crate::routes::syncs::RECONCILE_EVERY_SECS_BOUNDS.1,
                                                "description": "Seconds between reconciliation passes, which find records deleted at the vendor (for objects that declare deletes); 0: every run is one; left out: daily."}}
    }));
    components.insert("UpdateSync", json!({
        "type": "object", "minProperties": 1, "additionalProperties": false,
        "description": "Give `every_secs`, `reconcile_every_secs` or both; what is left out stays as it is.",
        "properties": {"every_secs": {"type": "integer", "minimum": crate::routes::syncs::EVERY_SECS_BOUNDS.0,
                                      "maximum": crate::routes::syncs::EVERY_SECS_BOUNDS.1,
                                      "description": "A shorter frequency takes effect at once; a longer one from the next run on."},
                       "reconcile_every_secs": {"type": "integer", "minimum": crate::routes::syncs::RECONCILE_EVERY_SECS_BOUNDS.0,
                                                "maximum": crate::routes::syncs::RECONCILE_EVERY_SECS_BOUNDS.1,
                                                "description": "Seconds between reconciliation passes; read as each run starts."}}
    }));
    components.insert("DefaultSyncs", json!({
        "type": "object", "required": ["syncs"], "additionalProperties": false,
        "description": "The syncs each new connection of the environment starts (through Connect or POST /connections), for the objects its connector can list.",
        "properties": {"syncs": {"type": "array", "items": {
            "type": "object", "required": ["object"], "additionalProperties": false,
            "properties": {"object": {"type": "string", "enum": object_names(None), "description": "The unified object, `category.object`, or `object` alone where only one category has it; stored as `category.object`."},
                           "every_secs": {"type": "integer", "minimum": crate::routes::syncs::EVERY_SECS_BOUNDS.0,
                                          "maximum": crate::routes::syncs::EVERY_SECS_BOUNDS.1,
                                          "default": crate::routes::syncs::DEFAULT_EVERY_SECS}}}}}
    }));
    components.insert("Change", json!({
        "type": "object", "required": ["seq", "connection_id", "object", "remote_id", "kind", "record", "created_at"],
        "properties": {"seq": {"type": "integer", "description": "Its number in the environment's feed, increasing in commit order."},
                       "connection_id": {"type": "string"}, "object": {"type": "string"}, "remote_id": {"type": "string"},
                       "kind": {"type": "string", "enum": ["created", "updated", "deleted"]},
                       "record": {"type": ["object", "null"], "description": "The unified record after the change; null for a delete."},
                       "created_at": {"type": "string", "format": "date-time"}}
    }));
    components.insert("ChangePage", json!({
        "type": "object", "required": ["results", "next_after"],
        "properties": {"results": {"type": "array", "items": Components::reference("Change")},
                       "next_after": {"type": "string", "description": "The `after` of the next request: store it after each page to see every change once."}}
    }));
    components.insert("OAuthApp", json!({
        "type": "object", "description": "An environment's OAuth client for a provider; the secret is never returned.",
        "properties": {"provider": {"type": "string"}, "client_id": {"type": "string"},
                       "redirect_uris": {"type": "array", "items": {"type": "string"}},
                       "scopes": {"type": ["array", "null"], "items": {"type": "string"}},
                       "updated_at": {"type": "string", "format": "date-time"}}
    }));
    components.insert("Branding", json!({
        "type": "object", "properties": {
            "display_name": {"type": ["string", "null"]},
            "logo_url": {"type": ["string", "null"], "pattern": crate::rules::WEB_URL.as_str(), "description": "An http or https URL."},
            "primary_color": {"type": ["string", "null"], "pattern": "^#[0-9a-fA-F]{6}$"},
            "allowed_redirect_urls": {"type": "array", "items": {"type": "string", "pattern": crate::rules::REDIRECT_URL.as_str()},
                "description": "The pages end users may be sent back to after connecting: http or https URLs without a fragment."}}
    }));
    // The limits and their bounds are the operations crate's; the words are the document's.
    let mut limits = operations::EvaluationLimits::json_schema();
    for (name, description) in [
        ("max_steps", "Steps of one evaluation (U1006)."),
        ("timeout_ms", "Time of one evaluation, in ms (D1012)."),
        ("max_depth", "Nesting depth of one evaluation (D1011)."),
        (
            "max_items",
            "Items of one array, range or object an evaluation builds (D1014).",
        ),
        (
            "max_string_bytes",
            "Bytes of one string an evaluation builds (D1015).",
        ),
        ("max_alloc_bytes", "Bytes one evaluation allocates (D1013)."),
        (
            "max_output_bytes",
            "Bytes of one evaluation's result (D1016).",
        ),
        (
            "request_max_steps",
            "Steps of all evaluations of one request (D1017).",
        ),
        (
            "request_max_time_ms",
            "Time of all evaluations of one request, in ms (D1017).",
        ),
        (
            "max_concurrent_evaluations",
            "Evaluations of the environment at once in one process (null: half the pool; never more than the pool less one).",
        ),
    ] {
        if let Some(property) = limits.pointer_mut(&format!("/properties/{name}")) {
            property["description"] = json!(description);
        }
    }
    components.insert("EvaluationLimits", limits);
    let api_key = json!({"type": "object", "required": ["id", "prefix", "status", "created_at"], "properties": {
        "id": {"type": "string"}, "name": {"type": ["string", "null"]},
        "prefix": {"type": "string", "description": "The key's first characters, to recognise it."},
        "status": {"type": "string", "enum": ["active", "expired", "revoked"]},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        "last_used_at": {"type": ["string", "null"], "format": "date-time", "description": "Written at most about once a minute."},
        "current": {"type": "boolean", "description": "The key of this request."},
        "permissions": Components::reference("ApiKeyPermissions")}});
    components.insert("ApiKey", api_key);
    components.insert("ApiKeyPermissions", json!({"type": "object", "additionalProperties": false,
        "description": "What the key may do inside its environment. Left out at creation: every connection, reads and writes, no deletes. An environment's first key (made by its operator) has every right.",
        "properties": {
            "connection_ids": {"type": ["array", "null"], "minItems": 1, "maxItems": crate::routes::api_keys::MAX_SCOPED_CONNECTIONS, "uniqueItems": true,
                "items": {"type": "string", "pattern": store::ConnectionId::PATTERN},
                "description": "The connections the key reaches (others answer 404 as if absent, through the REST API and MCP alike); null for every connection of the environment."},
            "read_only": {"type": "boolean", "default": false, "description": "Every write is refused (403 `read_only_key`); MCP endpoints offer only list and get tools."},
            "deletes": {"type": "boolean", "default": false, "description": "The key may delete records and connections (else 403 `deletes_not_allowed`); MCP endpoints offer delete tools only to such keys. Not with `read_only`."}}}));
    components.insert("CreatedApiKey", json!({"type": "object", "required": ["key", "api_key"], "properties": {
        "key": {"type": "string", "description": "The key itself, shown this once; only its hash is stored."},
        "api_key": Components::reference("ApiKey"),
        "previous": Components::reference("ApiKey")}}));
    components.insert("OverrideVersion", json!({"type": "object", "required": ["provider", "version", "removed"], "properties": {
        "provider": {"type": "string"}, "connection_id": {"type": ["string", "null"]},
        "version": {"type": "integer"}, "document": {"description": "The patch (null once removed)."},
        "removed": {"type": "boolean"}, "revision": {},
        "created_at": {"type": "string", "format": "date-time"}}}));
    components.insert(
        "OverrideHistory",
        json!({"type": "object", "required": ["current", "history"], "properties": {
        "current": Components::reference("OverrideVersion"),
        "history": {"type": "array", "items": Components::reference("OverrideVersion")}}}),
    );
    components.insert("ConnectSession", json!({"type": "object", "required": ["token", "url", "expires_at"], "properties": {
        "token": {"type": "string"}, "url": {"type": "string", "description": "The Connect page to send the end user to."},
        "expires_at": {"type": "string", "format": "date-time"}}}));

    components.insert("WebhookEndpoint", json!({"type": "object",
        "required": ["id", "url", "event_types", "connection_ids", "include_record", "enabled", "created_at", "updated_at"],
        "properties": {
        "id": {"type": "string"}, "url": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "event_types": {"type": "array", "items": {"type": "string"}, "description": "The event types it receives (empty: every type); a type ending in `*` is a prefix."},
        "connection_ids": {"type": "array", "items": {"type": "string"}, "description": "The connections whose events it receives (empty: every connection)."},
        "include_record": {"type": "boolean", "description": "Whether change events carry the unified record."},
        "enabled": {"type": "boolean"},
        "disabled_reason": {"type": ["string", "null"], "description": "`gone` (it answered 410), `failing` (every attempt failed for 5 days) or `api`."},
        "failing_since": {"type": ["string", "null"], "format": "date-time", "description": "When its current run of failed attempts began."},
        "previous_secret_expires_at": {"type": ["string", "null"], "format": "date-time", "description": "Until when deliveries are also signed with the secret before the last rotation."},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"}}}));
    components.insert("WebhookEndpointWithSecret", json!({"type": "object", "required": ["endpoint", "secret"], "properties": {
        "endpoint": Components::reference("WebhookEndpoint"),
        "secret": {"type": "string", "description": "The `whsec_` signing secret, shown this once; stored sealed."},
        "note": {"type": "string"}}}));
    components.insert("WebhookAttempt", json!({"type": "object", "required": ["id", "message_id", "attempt", "duration_ms", "created_at"], "properties": {
        "id": {"type": "integer"}, "endpoint_id": {"type": "string"}, "message_id": {"type": "string"},
        "attempt": {"type": "integer", "description": "The message's attempt number, 1 for the first."},
        "status_code": {"type": ["integer", "null"]}, "error": {"type": ["string", "null"]},
        "duration_ms": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"}}}));
    components.insert("WebhookMessage", json!({"type": "object", "required": ["id", "event_type", "status", "attempts", "created_at", "seq"], "properties": {
        "id": {"type": "string", "description": "The `webhook-id` of every attempt at it."},
        "event_type": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "delivered", "dead"]},
        "attempts": {"type": "integer"},
        "next_attempt_at": {"type": "string", "format": "date-time"},
        "last_error": {"type": ["string", "null"]},
        "change_seq": {"type": ["integer", "null"], "description": "The change feed number of the change it announces."},
        "payload": {"description": "The body sent."},
        "created_at": {"type": "string", "format": "date-time"},
        "seq": {"type": "integer", "description": "Its place in the endpoint's messages (the `after` of the next page)."}}}));
}

/// The body of `POST /connections`: one branch per connector and auth scheme it can connect
/// that way (an API key or token, or OAuth 2.0 client credentials; an end user's OAuth sign-in
/// goes through Connect), each with the scheme's fields as the connector file declares them
/// (`select` options, `url`s, patterns, what is required).
fn connection_body(connectors: &ConnectorRegistry) -> Value {
    use connector::file::{AuthScheme, FieldKind, OAuthGrant};
    let mut branches = Vec::new();
    for id in connectors.ids() {
        let Some(connector) = connectors.get(id) else {
            continue;
        };
        let file = connector.file();
        for (scheme, declared) in &file.auth.schemes {
            if matches!(declared, AuthScheme::Oauth2 { grant, .. } if *grant != OAuthGrant::ClientCredentials)
            {
                continue;
            }
            let mut fields = Map::new();
            let mut required = Vec::new();
            for field in &file.connection_fields {
                if !field.schemes.is_empty() && !field.schemes.contains(scheme) {
                    // Another scheme's field: accepted and left unused.
                    fields.insert(
                        field.name.clone(),
                        json!({"description": format!("Not used by `{scheme}`.")}),
                    );
                    continue;
                }
                // A blank value counts as none (the default then applies).
                let mut schema = match (field.kind, &field.pattern) {
                    (FieldKind::Select, _) => json!({"type": "string", "enum": &field.options}),
                    (_, Some(pattern)) if field.required_for(scheme) && field.default.is_none() => {
                        json!({"type": "string", "pattern": format!("^(?:{pattern})$")})
                    }
                    (_, Some(pattern)) => json!({"type": "string", "anyOf": [
                        {"pattern": format!("^(?:{pattern})$")},
                        {"pattern": "^\\s*$", "description": "Blank: none given."}
                    ]}),
                    (FieldKind::Url, None) => {
                        json!({"type": "string", "pattern": crate::rules::WEB_URL.as_str()})
                    }
                    _ if field.required_for(scheme) && field.default.is_none() => {
                        json!({"type": "string", "pattern": crate::rules::NOT_BLANK})
                    }
                    _ => json!({"type": "string"}),
                };
                let mut description = field.label.clone();
                if let Some(more) = &field.description {
                    description = format!("{description}: {}", more.trim_end());
                }
                schema["description"] = json!(description);
                if let Some(default) = &field.default {
                    schema["default"] = json!(default);
                }
                if field.kind == FieldKind::Secret {
                    schema["writeOnly"] = json!(true);
                }
                if field.required_for(scheme) && field.default.is_none() {
                    required.push(field.name.clone());
                }
                fields.insert(field.name.clone(), schema);
            }
            let mut branch_required = vec!["provider"];
            // The scheme may be left out only when it is the connector's default.
            if connector.scheme_name(None) != Some(scheme.as_str()) {
                branch_required.push("auth_scheme");
            }
            if !required.is_empty() {
                branch_required.push("fields");
            }
            branches.push(json!({
                "title": format!("{id} {scheme}"),
                "type": "object",
                "additionalProperties": false,
                "required": branch_required,
                "properties": {
                    "provider": {"const": id},
                    "auth_scheme": {"const": scheme},
                    "fields": {"type": "object", "additionalProperties": false, "required": required, "properties": fields,
                               "description": "The scheme's fields, by name."}
                }
            }));
        }
    }
    if branches.is_empty() {
        // No connector connects this way: no body is valid.
        return json!({"not": {}, "description": "No loaded connector connects with credentials alone."});
    }
    json!({"oneOf": branches, "description": "A connector, one of its schemes that connect without an end user's sign-in (client credentials need the environment's OAuth app for the connector: 409 `oauth_app_missing` otherwise), and the scheme's fields."})
}

/// The OpenAPI document of a server running `connectors` at `public_url`.
pub fn build(connectors: &ConnectorRegistry, public_url: &str) -> Value {
    build_scoped(connectors, connectors, public_url, None)
}

/// The document, its `/unified` paths narrowed to one connection when `scope` is given
/// (`unified_connectors` then holds only the connection's effective connector; `connectors`
/// is every connector the server runs, for the platform routes).
fn build_scoped(
    connectors: &ConnectorRegistry,
    unified_connectors: &ConnectorRegistry,
    public_url: &str,
    scope: Option<&unified::ConnectionScope>,
) -> Value {
    let providers: Vec<&str> = connectors.ids().collect();
    let mut components = Components::default();
    platform_schemas(&mut components, &providers);
    let mut paths = Map::new();
    unified::add_paths(&mut paths, &mut components, unified_connectors, scope);
    let provider_enum = json!({"type": "string", "enum": providers});
    paths.insert("/health".to_owned(), json!({"get": {
        "operationId": "health", "tags": ["platform"], "summary": "Whether the server answers", "security": [],
        "responses": {"200": {"description": "`ok`.", "content": {"text/plain": {"schema": {"type": "string"}}}}}}}));
    paths.insert("/openapi.json".to_owned(), json!({"get": {
        "operationId": "getOpenApiDocument", "tags": ["platform"], "summary": "This document", "security": [],
        "responses": {"200": {"description": "The OpenAPI 3.1 document.", "content": {"application/json": {"schema": {"type": "object"}}}}}}}));
    let paged = json!([parameter_ref(PARAM_LIMIT), parameter_ref(PARAM_CURSOR)]);
    let connection_id = path_parameter("id", "The connection's id.", json!({"type": "string"}));
    let mut list_connections = platform_operation(
        "listConnections",
        "connections",
        "List connections, oldest first, a page at a time",
        Responses::platform(
            json!({"200": Responses::json("Connections.", Components::reference("ConnectionPage"))}),
            &[400],
        ),
    );
    list_connections["parameters"] = paged.clone();
    let mut create_connection = platform_operation(
        "createConnection",
        "connections",
        "Create a connection with API-key or token credentials",
        Responses::platform(
            json!({"201": Responses::json("Created.", Components::reference("Connection"))}),
            &[400, 409, 413, 422, 502, 504],
        ),
    );
    create_connection["requestBody"] = json_body(connection_body(connectors));
    paths.insert(
        "/connections".to_owned(),
        json!({"get": list_connections, "post": create_connection}),
    );
    paths.insert("/connections/{id}".to_owned(), json!({
        "parameters": [connection_id],
        "get": platform_operation("getConnection", "connections", "Get a connection",
            Responses::platform(json!({"200": Responses::json("The connection.", Components::reference("Connection"))}), &[404])),
        "delete": platform_operation("deleteConnection", "connections", "Delete a connection",
            Responses::platform(json!({"204": Responses::nothing("Deleted.")}), &[404]))
    }));
    paths.insert("/connections/{id}/openapi.json".to_owned(), json!({
        "parameters": [connection_id.clone()],
        "get": platform_operation("getConnectionOpenApiDocument", "connections",
            "This document narrowed to one connection: the unified operations, filters and write bodies (required fields, custom fields) it takes",
            Responses::platform(json!({"200": Responses::json("The OpenAPI 3.1 document.", json!({"type": "object"}))}), &[403, 404, 422, 502, 503, 504]))
    }));
    let mut proxy = Map::new();
    proxy.insert(
        "parameters".to_owned(),
        json!([
            path_parameter(
                "path",
                "The vendor path, below the connector's base URL.",
                json!({"type": "string"})
            ),
            parameter_ref(PARAM_CONNECTION),
            parameter_ref(PARAM_CONNECTION_HEADER),
            parameter_ref(PARAM_MAX_WAIT),
            parameter_ref(PARAM_MAX_WAIT_HEADER)
        ]),
    );
    // The vendor's answer passes as it is, with its own status and content type: JSON for
    // the CRMs, any other type as bytes.
    let any_content = json!({
        "application/json": {"schema": {}},
        "application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
    });
    for method in ["get", "post", "put", "patch", "delete"] {
        let mut successes = Map::new();
        successes.insert(
            "2XX".to_owned(),
            json!({"description": "The vendor's answer, as it is (with the vendor's status).",
            "headers": Responses::success_headers(), "content": any_content}),
        );
        let mut operation = platform_operation(
            &format!("proxy{}", unified::capitalized(method)),
            "proxy",
            "Raw vendor call on the connection's credentials",
            passed_through(
                &any_content,
                Responses::with_problems(
                    Value::Object(successes),
                    &[400, 401, 403, 404, 409, 413, 422, 429, 502, 503, 504],
                ),
            ),
        );
        if method != "get" {
            operation["parameters"] = json!([parameter_ref(PARAM_IDEMPOTENCY_KEY)]);
        }
        if method != "get" && method != "delete" {
            operation["requestBody"] = json!({"required": false, "content": any_content});
        }
        proxy.insert(method.to_owned(), operation);
    }
    paths.insert("/proxy/{path}".to_owned(), Value::Object(proxy));
    let mut connect_session = platform_operation(
        "createConnectSession",
        "connect",
        "Create a short-lived Connect link for one end user",
        Responses::platform(
            json!({"201": Responses::json("The link.", Components::reference("ConnectSession"))}),
            &[400, 404, 409, 413],
        ),
    );
    connect_session["requestBody"] = json_body(json!({
    "type": "object", "required": ["end_user_id", "redirect_url"], "additionalProperties": false,
    "properties": {
        "end_user_id": {"type": "string", "pattern": crate::rules::NOT_BLANK, "description": "Your id of the end user (not blank)."},
        "redirect_url": {"type": "string", "pattern": crate::rules::REDIRECT_URL.as_str(),
            "description": "Where the end user goes back to: one of the environment's allowed redirect URLs (another answers 409 `redirect_url_not_allowed`)."},
        "provider": provider_enum,
        "connection_id": {"type": "string", "description": "Re-authorise this connection (404 when the environment has none of this id; 409 `provider_mismatch` when `provider` names another)."},
        "ttl_secs": {"type": "integer", "minimum": 1, "maximum": 86400}
    }}));
    paths.insert(
        "/connect/sessions".to_owned(),
        json!({"post": connect_session}),
    );
    let mut put_app = platform_operation(
        "putOAuthApp",
        "environment",
        "Set the environment's OAuth client for a provider",
        Responses::platform(
            json!({"200": Responses::json("Saved (the secret is never returned).", Components::reference("OAuthApp"))}),
            &[400, 404, 413],
        ),
    );
    put_app["requestBody"] = json_body(json!({"type": "object", "additionalProperties": false,
        "required": ["client_id", "client_secret", "redirect_uris"],
        "properties": {"client_id": {"type": "string", "pattern": crate::rules::NOT_BLANK}, "client_secret": {"type": "string", "minLength": 1, "writeOnly": true},
                       "redirect_uris": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": crate::rules::REDIRECT_URL.as_str()}},
                       "scopes": {"type": ["array", "null"], "items": {"type": "string"}}}}));
    // Only connectors with an OAuth 2.0 scheme take an OAuth app.
    let oauth_providers: Vec<&str> = connectors
        .ids()
        .filter(|id| {
            connectors.get(id).is_some_and(|connector| {
                connector
                    .file()
                    .auth
                    .schemes
                    .values()
                    .any(|scheme| matches!(scheme, connector::file::AuthScheme::Oauth2 { .. }))
            })
        })
        .collect();
    paths.insert("/environment/oauth-apps/{provider}".to_owned(), json!({
        "parameters": [path_parameter("provider", "A connector with an OAuth 2.0 scheme.", json!({"type": "string", "enum": oauth_providers}))],
        "put": put_app,
        "get": platform_operation("getOAuthApp", "environment", "The environment's OAuth client for a provider (without its secret)",
            Responses::platform(json!({"200": Responses::json("The app.", Components::reference("OAuthApp"))}), &[404]))
    }));
    let mut put_branding = platform_operation(
        "putBranding",
        "environment",
        "Set the Connect page's branding and the allowed redirect URLs",
        Responses::platform(
            json!({"200": Responses::json("Saved.", Components::reference("Branding"))}),
            &[400, 413],
        ),
    );
    put_branding["requestBody"] = json_body(Components::reference("Branding"));
    paths.insert(
        "/environment/branding".to_owned(),
        json!({"put": put_branding}),
    );
    let mut put_limits = platform_operation(
        "putEvaluationLimits",
        "environment",
        "Set the limits the environment's mappings are evaluated under (a limit left out has its default)",
        Responses::platform(
            json!({"200": Responses::json("Saved; every limit.", Components::reference("EvaluationLimits"))}),
            &[400, 413],
        ),
    );
    put_limits["requestBody"] = json_body(Components::reference("EvaluationLimits"));
    paths.insert("/environment/limits".to_owned(), json!({
        "get": platform_operation("getEvaluationLimits", "environment", "The limits the environment's mappings are evaluated under (defaults included)",
            Responses::platform(json!({"200": Responses::json("Every limit.", Components::reference("EvaluationLimits"))}), &[])),
        "put": put_limits
    }));
    let mut list_events = platform_operation(
        "listEvents",
        "events",
        "The environment's events, oldest first, a page at a time",
        Responses::platform(
            json!({"200": Responses::json("Events.", Components::reference("EventPage"))}),
            &[400],
        ),
    );
    let mut event_parameters = vec![
        json!({"name": "connection_id", "in": "query", "required": false, "schema": connection_id_schema(), "description": "Only this connection's events."}),
        json!({"name": "kind", "in": "query", "required": false, "schema": {"type": "string"}, "description": "Only events of this kind."}),
    ];
    event_parameters.extend(paged.as_array().cloned().unwrap_or_default());
    list_events["parameters"] = Value::Array(event_parameters);
    paths.insert("/events".to_owned(), json!({"get": list_events}));
    let mut list_syncs = platform_operation(
        "listSyncs",
        "syncs",
        "The environment's syncs with their progress, newest first",
        Responses::platform(
            json!({"200": Responses::json("Syncs.", Components::reference("SyncList"))}),
            &[400],
        ),
    );
    list_syncs["parameters"] = json!([{"name": "connection_id", "in": "query", "required": false, "schema": connection_id_schema(), "description": "Only this connection's syncs."}]);
    let mut create_sync = platform_operation(
        "createSync",
        "syncs",
        "Keep a connection's unified object in step (an existing live sync of it is answered instead, with 200)",
        Responses::platform(
            json!({"201": Responses::json("The new sync.", Components::reference("Sync")),
                   "200": Responses::json("The live sync of this connection and object.", Components::reference("Sync"))}),
            &[400, 413],
        ),
    );
    create_sync["requestBody"] = json_body(Components::reference("CreateSync"));
    paths.insert(
        "/syncs".to_owned(),
        json!({"get": list_syncs, "post": create_sync}),
    );
    let mut update_sync = platform_operation(
        "updateSync",
        "syncs",
        "Change how often a sync runs, or how often it reconciles",
        Responses::platform(
            json!({"200": Responses::json("The sync.", Components::reference("Sync"))}),
            &[400, 404, 409, 413],
        ),
    );
    update_sync["requestBody"] = json_body(Components::reference("UpdateSync"));
    paths.insert("/syncs/{id}".to_owned(), json!({
        "parameters": [path_parameter("id", "The sync's id.", json!({"type": "string"}))],
        "get": platform_operation("getSync", "syncs", "One sync with its state and progress",
            Responses::platform(json!({"200": Responses::json("The sync.", Components::reference("Sync"))}), &[404])),
        "patch": update_sync,
        "delete": platform_operation("stopSync", "syncs", "Stop a sync (a run under way stops at its next page)",
            Responses::platform(json!({"200": Responses::json("The stopped sync.", Components::reference("Sync"))}), &[404, 409]))
    }));
    for (action, id, summary, success) in [
        (
            "pause",
            "pauseSync",
            "Pause a sync: no run starts until it is resumed, and a run under way stops at its next page (pausing a paused sync changes nothing)",
            "200",
        ),
        (
            "resume",
            "resumeSync",
            "Resume a paused sync on its schedule, at once when a run came due meanwhile (resuming a sync that is not paused changes nothing)",
            "200",
        ),
        (
            "run",
            "runSync",
            "Start a run now instead of at its scheduled time (409 while one runs or the sync is paused)",
            "202",
        ),
        (
            "resync",
            "resyncSync",
            "Force a full resync: the next run reads everything again, and starts now; a run under way stops at its next page",
            "202",
        ),
    ] {
        paths.insert(format!("/syncs/{{id}}/{action}"), json!({
            "parameters": [path_parameter("id", "The sync's id.", json!({"type": "string"}))],
            "post": platform_operation(id, "syncs", summary,
                Responses::platform(json!({success: Responses::json("The sync.", Components::reference("Sync"))}), &[404, 409]))
        }));
    }
    let mut put_default_syncs = platform_operation(
        "putDefaultSyncs",
        "syncs",
        "Set the syncs each new connection of the environment starts (replaced whole)",
        Responses::platform(
            json!({"200": Responses::json("Saved.", Components::reference("DefaultSyncs"))}),
            &[400, 413],
        ),
    );
    put_default_syncs["requestBody"] = json_body(Components::reference("DefaultSyncs"));
    paths.insert("/environment/syncs".to_owned(), json!({
        "get": platform_operation("getDefaultSyncs", "syncs", "The syncs each new connection of the environment starts",
            Responses::platform(json!({"200": Responses::json("The default syncs.", Components::reference("DefaultSyncs"))}), &[])),
        "put": put_default_syncs
    }));
    let mut list_changes = platform_operation(
        "listChanges",
        "syncs",
        "The environment's change feed after a sequence number, in order",
        Responses::platform(
            json!({"200": Responses::json("Changes.", Components::reference("ChangePage"))}),
            &[400],
        ),
    );
    list_changes["parameters"] = json!([
        {"name": "after", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": u64::MAX, "default": 0}, "description": "The `next_after` of the previous page."},
        {"name": "connection_id", "in": "query", "required": false, "schema": connection_id_schema(), "description": "Only this connection's changes."},
        {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": crate::routes::syncs::CHANGES_MAX_LIMIT, "default": crate::routes::syncs::CHANGES_DEFAULT_LIMIT}}
    ]);
    paths.insert("/changes".to_owned(), json!({"get": list_changes}));
    let mut create_key = platform_operation(
        "createApiKey",
        "environment",
        "Create an API key of the environment",
        Responses::platform(
            json!({"201": Responses::json("The key, shown once.", Components::reference("CreatedApiKey"))}),
            &[400, 413],
        ),
    );
    create_key["requestBody"] = json_body(
        json!({"type": "object", "additionalProperties": false, "properties": {
        "name": {"type": "string", "maxLength": 100},
        "expires_at": {"type": "string", "format": "date-time"},
        "expires_in_secs": {"type": "integer", "minimum": 1},
        "permissions": {"anyOf": [Components::reference("ApiKeyPermissions"), {"type": "null"}],
            "description": "What the key may do; only rights the key of this request holds itself (else 403 `permission_not_held`)."}}}),
    );
    paths.insert("/environment/api-keys".to_owned(), json!({
        "get": platform_operation("listApiKeys", "environment", "The environment's API keys (revoked and expired ones too), oldest first",
            Responses::platform(json!({"200": Responses::json("Keys.", json!({"type": "object", "required": ["results"], "properties": {"results": {"type": "array", "items": Components::reference("ApiKey")}}}))}), &[])),
        "post": create_key
    }));
    let key_id = path_parameter("id", "The key's id.", json!({"type": "string"}));
    paths.insert("/environment/api-keys/{id}".to_owned(), json!({
        "parameters": [key_id],
        "delete": platform_operation("revokeApiKey", "environment", "Revoke an API key for good (not the key of this request, nor the last usable one)",
            Responses::platform(json!({"200": Responses::json("The revoked key.", Components::reference("ApiKey"))}), &[404, 409]))
    }));
    let mut rotate = platform_operation(
        "rotateApiKey",
        "environment",
        "Create a new key and let the old one expire after an overlap",
        Responses::platform(
            json!({"201": Responses::json("The new key, shown once, and the old one with its new expiry.", Components::reference("CreatedApiKey"))}),
            &[400, 404, 409, 413],
        ),
    );
    rotate["requestBody"] = json!({"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
        "overlap_secs": {"type": "integer", "minimum": 0, "maximum": 2_592_000, "default": 86400},
        "name": {"type": "string", "maxLength": 100}}}}}});
    paths.insert(
        "/environment/api-keys/{id}/rotate".to_owned(),
        json!({"parameters": [key_id], "post": rotate}),
    );
    // Optional fields may be `null` (left as they are, or the default); `url` is required at
    // creation.
    let endpoint_body = |create: bool| {
        let mut schema = json!({"type": "object", "additionalProperties": false, "properties": {
            "url": {"type": ["string", "null"], "maxLength": crate::routes::webhooks::MAX_URL_BYTES, "pattern": crate::rules::REDIRECT_URL.as_str(),
                "description": "An absolute `http` or `https` URL, without credentials or a fragment."},
            "description": {"type": ["string", "null"], "maxLength": crate::routes::webhooks::MAX_DESCRIPTION_CHARS,
                "pattern": crate::routes::webhooks::DESCRIPTION_PATTERN, "description": "Free text without control characters."},
            "event_types": {"type": ["array", "null"], "maxItems": crate::routes::webhooks::MAX_FILTER_ITEMS, "items": {"type": "string", "minLength": 1,
                "maxLength": crate::routes::webhooks::MAX_EVENT_TYPE_CHARS, "pattern": "^[a-z0-9._-]*[*]?$"},
                "description": "The event types it receives (empty: every type); a type ending in `*` is a prefix."},
            "connection_ids": {"type": ["array", "null"], "maxItems": crate::routes::webhooks::MAX_FILTER_ITEMS, "items": {"type": "string", "pattern": store::ConnectionId::PATTERN},
                "description": "The connections whose events it receives (empty: every connection)."},
            "include_record": {"type": ["boolean", "null"], "description": "Change events carry the unified record (default false)."},
            "enabled": {"type": ["boolean", "null"], "description": "Default true."}}});
        if create {
            schema["required"] = json!(["url"]);
            schema["properties"]["url"]["type"] = json!("string");
        }
        json_body(schema)
    };
    let mut create_endpoint = platform_operation(
        "createWebhookEndpoint",
        "webhooks",
        "Create a webhook endpoint; its signing secret is shown once",
        Responses::platform(
            json!({"201": Responses::json("The endpoint and its secret.", Components::reference("WebhookEndpointWithSecret"))}),
            &[400, 409, 413],
        ),
    );
    create_endpoint["requestBody"] = endpoint_body(true);
    paths.insert("/webhooks/endpoints".to_owned(), json!({
        "get": platform_operation("listWebhookEndpoints", "webhooks", "The environment's webhook endpoints, oldest first",
            Responses::platform(json!({"200": Responses::json("Endpoints.", json!({"type": "object", "required": ["results"], "properties": {"results": {"type": "array", "items": Components::reference("WebhookEndpoint")}}}))}), &[])),
        "post": create_endpoint
    }));
    let endpoint_id = path_parameter("id", "The endpoint's id.", json!({"type": "string"}));
    let mut update_endpoint = platform_operation(
        "updateWebhookEndpoint",
        "webhooks",
        "Change a webhook endpoint (each field given replaces the stored one; enabling it sends what waits)",
        Responses::platform(
            json!({"200": Responses::json("The endpoint.", Components::reference("WebhookEndpoint"))}),
            &[400, 404, 409, 413],
        ),
    );
    update_endpoint["requestBody"] = endpoint_body(false);
    paths.insert("/webhooks/endpoints/{id}".to_owned(), json!({
        "parameters": [endpoint_id],
        "get": platform_operation("getWebhookEndpoint", "webhooks", "One webhook endpoint",
            Responses::platform(json!({"200": Responses::json("The endpoint.", Components::reference("WebhookEndpoint"))}), &[404])),
        "patch": update_endpoint,
        "delete": platform_operation("deleteWebhookEndpoint", "webhooks", "Delete a webhook endpoint with its messages and attempts",
            Responses::platform(json!({"204": Responses::nothing("Deleted.")}), &[404]))
    }));
    paths.insert("/webhooks/endpoints/{id}/rotate-secret".to_owned(), json!({
        "parameters": [endpoint_id],
        "post": platform_operation("rotateWebhookSecret", "webhooks", "Give the endpoint a new secret; the old one keeps signing beside it for 24 hours",
            Responses::platform(json!({"200": Responses::json("The endpoint and its new secret.", Components::reference("WebhookEndpointWithSecret"))}), &[404]))
    }));
    let limit = json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1,
        "maximum": crate::routes::webhooks::MAX_LIMIT, "default": crate::routes::webhooks::DEFAULT_LIMIT}});
    let mut list_attempts = platform_operation(
        "listWebhookAttempts",
        "webhooks",
        "The endpoint's delivery attempts, newest first",
        Responses::platform(
            json!({"200": Responses::json("Attempts.", json!({"type": "object", "required": ["results"], "properties": {
                "results": {"type": "array", "items": Components::reference("WebhookAttempt")},
                "next_before": {"type": ["string", "null"], "description": "The `before` of the next page."}}}))}),
            &[400, 404],
        ),
    );
    list_attempts["parameters"] = json!([limit.clone(),
        {"name": "before", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": i64::MAX}, "description": "The `next_before` of the previous page."}]);
    paths.insert(
        "/webhooks/endpoints/{id}/attempts".to_owned(),
        json!({"parameters": [endpoint_id], "get": list_attempts}),
    );
    let mut list_messages = platform_operation(
        "listWebhookMessages",
        "webhooks",
        "The endpoint's messages, oldest first (`status=dead`: its dead letters)",
        Responses::platform(
            json!({"200": Responses::json("Messages.", json!({"type": "object", "required": ["results"], "properties": {
                "results": {"type": "array", "items": Components::reference("WebhookMessage")},
                "next_after": {"type": ["string", "null"], "description": "The `after` of the next page."}}}))}),
            &[400, 404],
        ),
    );
    list_messages["parameters"] = json!([limit,
        {"name": "after", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": i64::MAX}, "description": "The `next_after` of the previous page."},
        {"name": "status", "in": "query", "required": false, "schema": {"type": "string", "enum": ["pending", "delivered", "dead"]}}]);
    paths.insert(
        "/webhooks/endpoints/{id}/messages".to_owned(),
        json!({"parameters": [endpoint_id], "get": list_messages}),
    );
    let mut replay = platform_operation(
        "replayWebhookMessages",
        "webhooks",
        "Send dead letters again: one by `message_id`, those created from `since` to `until`, or those of changes after the change feed cursor `after_change`",
        Responses::platform(
            json!({"202": Responses::json("How many were queued again.", json!({"type": "object", "required": ["replayed"], "properties": {"replayed": {"type": "integer"}}}))}),
            &[400, 404, 413],
        ),
    );
    replay["requestBody"] = json_body(json!({"type": "object", "additionalProperties": false,
    "description": "Exactly one of `message_id`, `since` (with an optional `until`, default now) and `after_change`.",
    "properties": {
    "message_id": {"type": ["string", "null"], "pattern": store::WebhookMessageId::PATTERN},
    "since": {"type": ["string", "null"], "format": "date-time"},
    "until": {"type": ["string", "null"], "format": "date-time"},
    "after_change": {"type": ["integer", "null"], "minimum": 0, "maximum": i64::MAX}},
    // Exactly one selection; a field given as null is one left out.
    "oneOf": [
        {"required": ["message_id"], "properties": {"message_id": {"type": "string"},
            "since": {"type": "null"}, "until": {"type": "null"}, "after_change": {"type": "null"}}},
        {"required": ["since"], "properties": {"since": {"type": "string"},
            "message_id": {"type": "null"}, "after_change": {"type": "null"}}},
        {"required": ["after_change"], "properties": {"after_change": {"type": "integer"},
            "message_id": {"type": "null"}, "since": {"type": "null"}, "until": {"type": "null"}}}
    ]}));
    paths.insert(
        "/webhooks/endpoints/{id}/replay".to_owned(),
        json!({"parameters": [endpoint_id], "post": replay}),
    );
    add_inbound_paths(&mut paths, &connection_id);
    for (path, parameter, scope) in [
        (
            "/environment/overrides/{provider}",
            path_parameter("provider", "The connector.", provider_enum.clone()),
            "Environment",
        ),
        (
            "/connections/{id}/overrides",
            connection_id.clone(),
            "Connection",
        ),
    ] {
        let history = |summary: &str| {
            Responses::platform(
                json!({"200": Responses::json(summary, Components::reference("OverrideHistory"))}),
                &[404],
            )
        };
        let version = |summary: &str, statuses: &[u16]| {
            Responses::platform(
                json!({"200": Responses::json(summary, Components::reference("OverrideVersion"))}),
                statuses,
            )
        };
        let mut put = platform_operation(
            &format!("put{scope}Override"),
            "overrides",
            "Save a new version (validated and compiled first)",
            version("The new version.", &[400, 404, 413]),
        );
        put["parameters"] = json!([{"name": "expected_version", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0},
            "description": "Refuse the write unless the current version is this one."}]);
        put["requestBody"] = json_body(
            json!({"type": "object", "description": "A patch of the connector file (see docs/connector-format.md, Overrides)."}),
        );
        paths.insert(path.to_owned(), json!({
            "parameters": [parameter],
            "get": platform_operation(&format!("get{scope}Override"), "overrides", "The current override and its history", history("Versions.")),
            "put": put,
            "delete": platform_operation(&format!("delete{scope}Override"), "overrides", "Remove it (a new version)", version("The removal version.", &[400, 404]))
        }));
        let mut revert = platform_operation(
            &format!("revert{scope}Override"),
            "overrides",
            "Write an earlier version's document again",
            version("The new version.", &[400, 404, 413]),
        );
        revert["requestBody"] = json_body(
            json!({"type": "object", "required": ["version"], "additionalProperties": false, "properties": {"version": {"type": "integer", "minimum": 0}}}),
        );
        paths.insert(
            format!("{path}/revert"),
            json!({"parameters": [parameter], "post": revert}),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Crosswalk",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("One self-hosted unified API over its vendors. Categories: {}. Connectors: {}.", unified_model::CATEGORIES.join(", "), providers.join(", ")),
            "license": {"name": env!("CARGO_PKG_LICENSE"), "identifier": env!("CARGO_PKG_LICENSE")}
        },
        "servers": [{"url": public_url, "description": "This server."}],
        "tags": [
            {"name": "unified", "description": "Normalised records of the connection's vendor."},
            {"name": "connections", "description": "End users' authorised accounts."},
            {"name": "connect", "description": "Links to the hosted Connect page."},
            {"name": "proxy", "description": "Raw vendor calls."},
            {"name": "environment", "description": "The environment's settings and API keys."},
            {"name": "overrides", "description": "Patches of connector files."},
            {"name": "events", "description": "The environment's event log."},
            {"name": "syncs", "description": "Connections' objects kept in step in the record store, and the change feed."},
            {"name": "webhooks", "description": "Outbound webhook endpoints, their deliveries and dead letters."},
            {"name": "platform", "description": "Health and this document."}
        ],
        "components": {
            "schemas": components.into_schemas(),
            "parameters": parameters(),
            "headers": headers(),
            "responses": problem_responses(),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "An environment's API key."}}
        },
        "security": [{"apiKey": []}],
        "paths": paths
    })
}

/// `GET /openapi.json`.
pub async fn document(State(state): State<AppState>) -> Json<Value> {
    Json(build(&state.connectors, &state.public_url))
}

/// `GET /connections/{id}/openapi.json`: the document narrowed to what one connection takes.
/// Its `/unified` paths are the operations the connection's connector (with the environment's
/// and the connection's overrides) serves, with that connector's filters, and each create and
/// update body is the connection's own: exactly the fields its connector writes, those it
/// requires (never null), and its discovered custom fields (no other key), as `/meta` states
/// them. A fuzzer or a code generator pointed at it sends only what the connection accepts.
///
/// # Errors
/// 404 for a connection not in the caller's environment; discovery failures as their problem.
pub async fn connection_document(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let bound = state
        .operations
        .bind(&caller.environment_id, &id, None)
        .await?;
    let connector = bound.connector().clone();
    let mut scope = unified::ConnectionScope::default();
    for object in unified_model::UnifiedObject::all() {
        let key = object.key();
        let served = [
            connector::Operation::List,
            connector::Operation::Get,
            connector::Operation::Create,
            connector::Operation::Update,
            connector::Operation::Delete,
        ]
        .into_iter()
        .any(|operation| connector.supports(&key, operation));
        if !served || !object.supports_writes() {
            continue;
        }
        let meta = match bound.meta(object).await {
            Ok(meta) => meta.0,
            Err(error) => {
                return Ok(routes::unified::answer::<Json<Value>>(&bound, Err(error)).await);
            }
        };
        let body = |name: &str| Some(meta[name].clone()).filter(Value::is_object);
        scope
            .writes
            .insert(object, (body("create_schema"), body("update_schema")));
    }
    let unified_connectors = ConnectorRegistry::new([connector]);
    let mut document = build_scoped(
        &state.connectors,
        &unified_connectors,
        &state.public_url,
        Some(&scope),
    );
    document["info"]["description"] = json!(format!(
        "{} This document is narrowed to connection `{id}`: its `/unified` operations, filters and write bodies are exactly what this connection takes.",
        document["info"]["description"].as_str().unwrap_or_default()
    ));
    document["info"]["x-crosswalk-connection"] = json!(id);
    // A sync of this connection: of an object its connector can list.
    let listed: Vec<unified_model::UnifiedObject> = unified_model::UnifiedObject::all()
        .filter(|object| {
            unified_connectors
                .get(bound.connector().id())
                .is_some_and(|connector| {
                    connector.supports(&object.key(), connector::Operation::List)
                })
        })
        .collect();
    if let Some(properties) = document.pointer_mut("/components/schemas/CreateSync/properties") {
        properties["connection_id"] =
            json!({"type": "string", "const": id, "description": "This connection."});
        properties["object"] = json!({"type": "string", "enum": object_names(Some(&listed)),
            "description": "An object this connection's connector can list: its key, `category.object`, or its slug alone where only one category has it."});
    }
    Ok(Json(document).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use unified_model::UnifiedObject;

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
        let document = build(&ConnectorRegistry::default(), "http://127.0.0.1:8080");
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
        let document = build(&ConnectorRegistry::default(), "http://127.0.0.1:8080");
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

    /// The parameter names of an operation, its path item's included, shared ones resolved.
    fn parameter_names(document: &Value, item: &Value, operation: &Value) -> Vec<String> {
        let listed = item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(operation["parameters"].as_array().into_iter().flatten());
        listed
            .map(|parameter| match parameter["$ref"].as_str() {
                Some(reference) => document
                    .pointer(reference.trim_start_matches('#'))
                    .expect("a shared parameter")["name"]
                    .as_str()
                    .expect("a name")
                    .to_owned(),
                None => parameter["name"].as_str().expect("a name").to_owned(),
            })
            .collect()
    }

    #[test]
    fn every_operation_states_its_id_errors_headers_and_success_schema() {
        let document = build(&ConnectorRegistry::default(), "http://127.0.0.1:8080");
        assert_eq!(document["servers"][0]["url"], "http://127.0.0.1:8080");
        let mut n_operations = 0;
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                if method == "parameters" {
                    continue;
                }
                n_operations += 1;
                let what = format!("{method} {path}");
                assert!(operation["operationId"].is_string(), "{what}");
                let responses = operation["responses"].as_object().expect("responses");
                for (status, response) in responses {
                    if status.starts_with('2') && response.get("content").is_some() {
                        for (media, content) in response["content"].as_object().expect("content") {
                            assert!(content.get("schema").is_some(), "{what} {status} {media}");
                        }
                    }
                }
                let public = operation["security"] == json!([]);
                if !public {
                    assert!(responses.contains_key("401"), "{what}");
                    assert!(responses.contains_key("429"), "{what}");
                }
                if !path.starts_with("/unified/") {
                    continue;
                }
                for status in ["400", "401", "404", "429", "502", "503", "504"] {
                    assert!(responses.contains_key(status), "{what} {status}");
                }
                let too_many = document
                    .pointer("/components/responses/TooManyRequests/headers")
                    .expect("429 headers");
                assert!(
                    too_many.get("Retry-After").is_some() && too_many.get("RateLimit").is_some()
                );
                let names = parameter_names(&document, item, operation);
                for header in ["X-Connection-Id", "Crosswalk-Max-Wait-Ms", "connection_id"] {
                    assert!(names.iter().any(|name| name == header), "{what} {header}");
                }
                let writes = matches!(method.as_str(), "post" | "patch");
                assert_eq!(
                    names.iter().any(|name| name == "Idempotency-Key"),
                    writes,
                    "{what}"
                );
                // Records (a page of them, one, a created or updated one) can carry remote_data.
                let records = !path.ends_with("/meta") && !path.ends_with("/fields");
                assert_eq!(
                    names.iter().any(|name| name == "include"),
                    records && method != "delete",
                    "{what}"
                );
            }
        }
        assert!(n_operations > 60, "{n_operations}");
        // A write's success names its `warnings` (issue 15): the record with them, or the id
        // alone when nothing could be read back.
        for (path, method, status) in [
            ("/unified/crm/contacts", "post", "201"),
            ("/unified/crm/contacts/{id}", "patch", "200"),
        ] {
            let schema = &document["paths"][path][method]["responses"][status]["content"]["application/json"]
                ["schema"];
            assert_eq!(
                schema,
                &json!({"anyOf": [
                    {"$ref": "#/components/schemas/ContactWritten"},
                    {"$ref": "#/components/schemas/UnreadWrite"}
                ]}),
                "{method} {path}"
            );
        }
        let schemas = &document["components"]["schemas"];
        assert_eq!(
            schemas["ContactWritten"]["allOf"][1]["properties"]["warnings"]["$ref"],
            "#/components/schemas/WriteWarnings"
        );
        assert_eq!(
            schemas["UnreadWrite"]["required"],
            json!(["id", "remote_id", "warnings"])
        );
        // `/meta` is a concrete path per object, never `{object}` beside `{id}`.
        assert!(document["paths"]["/unified/crm/contacts/meta"]["get"].is_object());
        assert!(
            document["paths"]
                .as_object()
                .expect("paths")
                .keys()
                .all(|path| !path.contains("{object}")),
        );
    }

    /// Every status a vendor's error can become is documented on the calls that reach a vendor.
    #[test]
    fn vendor_calls_document_every_status_a_vendor_error_maps_to() {
        let documented = Responses::vendor_call(json!({}), true);
        for name in [
            "unauthorized",
            "auth_expired",
            "reauth_required",
            "insufficient_scope",
            "forbidden",
            "not_found",
            "gone",
            "conflict",
            "reference_not_found",
            "validation_failed",
            "bad_request",
            "unsupported",
            "rate_limited",
            "quota_exhausted",
            "account_inactive",
            "upstream_unavailable",
            "upstream_timeout",
            "internal",
        ] {
            let code: connector::ErrorCode = serde_json::from_value(json!(name)).expect(name);
            let status = crate::error::status_of(code).as_u16().to_string();
            assert!(documented.get(&status).is_some(), "{name}: {status}");
        }
    }
}
