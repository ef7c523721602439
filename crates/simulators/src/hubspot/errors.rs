//! HubSpot's error bodies: `{"status":"error","message","correlationId","category",…}`, built
//! in one place so every handler answers with the same shapes the real API uses.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::limits::{Policy, RateHeaders};
use super::store::PropertyError;

/// A HubSpot error answer.
pub fn error(status: StatusCode, category: &str, message: impl Into<String>) -> Response {
    error_with(status, category, message, Map::new())
}

/// A HubSpot error answer with extra top-level fields (`context`, `errors`…).
pub fn error_with(
    status: StatusCode,
    category: &str,
    message: impl Into<String>,
    extra: Map<String, Value>,
) -> Response {
    let mut body = Map::new();
    body.insert("status".into(), Value::String("error".into()));
    body.insert("message".into(), Value::String(message.into()));
    body.insert(
        "correlationId".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    body.extend(extra);
    body.insert("category".into(), Value::String(category.into()));
    (status, Json(Value::Object(body))).into_response()
}

/// 400 `VALIDATION_ERROR`.
pub fn validation(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
}

/// 414 for a request target over the limit. HubSpot's edge answers it before the API sees the
/// request, so the body is its HTML page, not a JSON error.
pub fn uri_too_long() -> Response {
    (
        StatusCode::URI_TOO_LONG,
        [(axum::http::header::CONTENT_TYPE, "text/html")],
        "<html><head><title>414 Request-URI Too Large</title></head><body><center><h1>414 Request-URI Too Large</h1></center></body></html>",
    )
        .into_response()
}

/// 401 for a missing or unknown token.
pub fn unauthenticated() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    )
}

/// 401 for an OAuth access token past its lifetime, as HubSpot words it.
pub fn expired_token(expired_for: std::time::Duration) -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "EXPIRED_AUTHENTICATION",
        format!(
            "The OAuth token used to make this call expired {} minute(s) ago.",
            expired_for.as_secs() / 60
        ),
    )
}

/// 404 for an unknown or archived record id.
pub fn object_not_found(id: &str) -> Response {
    let mut extra = Map::new();
    extra.insert("context".into(), json!({"id": [id]}));
    error_with(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        "Object not found.  objectId are usually numeric.",
        extra,
    )
}

/// 400 for an object type the portal does not have.
pub fn unknown_object_type(name: &str) -> Response {
    validation(format!("Unable to infer object type from: {name}"))
}

/// 400 listing every invalid property value, in HubSpot's two shapes: the legacy JSON text in
/// `message` and the structured `errors` array.
pub fn invalid_properties(errors: &[PropertyError]) -> Response {
    let legacy: Vec<Value> = errors
        .iter()
        .map(|error| {
            json!({
                "isValid": false,
                "message": error.message,
                "error": error.code,
                "name": error.name,
                "localizedErrorMessage": error.message,
            })
        })
        .collect();
    let structured: Vec<Value> = errors
        .iter()
        .map(|error| {
            json!({
                "message": error.message,
                "code": error.code,
                "context": {"propertyName": [error.name]},
            })
        })
        .collect();
    let mut extra = Map::new();
    extra.insert("errors".into(), Value::Array(structured));
    error_with(
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
        format!("Property values were not valid: {}", Value::Array(legacy)),
        extra,
    )
}

/// 409 when a contact with the same email exists.
pub fn duplicate_contact(existing_id: u64) -> Response {
    error(
        StatusCode::CONFLICT,
        "CONFLICT",
        format!("Contact already exists. Existing ID: {existing_id}"),
    )
}

/// 429 for a rate-limit `policy`, with the rate-limit headers and an optional `Retry-After`.
pub fn rate_limited(
    policy: Policy,
    headers: Option<RateHeaders>,
    retry_after_secs: Option<u64>,
) -> Response {
    let body = json!({
        "status": "error",
        "message": policy.message(),
        "errorType": "RATE_LIMIT",
        "correlationId": uuid::Uuid::new_v4().to_string(),
        "policyName": policy.policy_name(),
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    if let Some(headers) = headers {
        headers.apply(response.headers_mut());
    }
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    response
}
