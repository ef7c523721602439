//! `ApiError`: every error the API answers, rendered as RFC 9457 `application/problem+json`.
//!
//! 4xx bodies say what was wrong (and name the offending field); 5xx bodies say "internal
//! error" with the request id while the cause is logged. `origin` tells whether Crosswalk or
//! the provider failed. This is the only place that knows HTTP status codes of our errors.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use connector::{ErrorCode, ProviderError};
use serde_json::{Value, json};

/// Marks a response whose error status and body are the vendor's, passed through by the proxy
/// byte for byte: [`problems_only`] leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct VendorAnswer;

/// Marks a response whose error body is another protocol's (an MCP JSON-RPC error answered by
/// rmcp): [`problems_only`] leaves it alone, so JSON-RPC clients read their own errors.
#[derive(Debug, Clone, Copy)]
pub struct ProtocolAnswer;

/// Middleware: every error answered by Crosswalk itself is problem+json. Handlers answer
/// through [`ApiError`]; this catches what the framework answers on its own before a handler
/// runs (a query string or path segment that does not decode, a method the route does not
/// take, a body over the size limit), which would otherwise be plain text or empty. HTML pages
/// (the Connect pages) and the vendor's own answers through the proxy are left as they are.
pub async fn problems_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<VendorAnswer>().is_some()
        || response.extensions().get::<ProtocolAnswer>().is_some()
    {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/problem+json") || content_type.starts_with("text/html")
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let (code, field, detail) = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = parts
                .headers
                .get(header::ALLOW)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            (
                "method_not_allowed",
                None,
                format!("this path does not take this method (it takes: {allow})"),
            )
        }
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            Some("body"),
            "the request body is larger than the server accepts (8 MiB)".to_owned(),
        ),
        _ if text.starts_with("Failed to deserialize query string") => {
            ("invalid_request", Some("query"), text)
        }
        _ if text.starts_with("Invalid URL") => ("invalid_request", Some("path"), text),
        _ if status.is_server_error() => {
            tracing::error!(status = status.as_u16(), error = %text, "internal error");
            ("internal", None, "internal error".to_owned())
        }
        _ if text.is_empty() => (
            "invalid_request",
            None,
            status
                .canonical_reason()
                .unwrap_or("invalid request")
                .to_lowercase(),
        ),
        _ => ("invalid_request", None, text),
    };
    let extra = match field {
        Some(field) => json!({"errors": [{"field": field, "detail": detail}], "field": field}),
        None => json!({}),
    };
    let mut rebuilt = problem(status, code, "gateway", detail, extra);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rebuilt.headers_mut().append(name.clone(), value.clone());
        }
    }
    rebuilt
}

/// An error answered to the API caller.
#[derive(Debug)]
pub enum ApiError {
    /// The caller's request is invalid; `field` names the offending part.
    BadRequest {
        code: &'static str,
        field: Option<String>,
        detail: String,
    },
    /// The request is well formed but cannot be served as it is; `field` names the part.
    Unprocessable {
        code: &'static str,
        field: Option<String>,
        detail: String,
    },
    /// No (valid) API key.
    Unauthenticated,
    /// Too many failed authentications from the caller's address: refused for a while before
    /// its key is even looked at.
    AuthThrottled { retry_after: std::time::Duration },
    /// The request conflicts with the state of the thing it names (`code` says how).
    Conflict { code: &'static str, detail: String },
    /// The request conflicts with the state of the record it names in one of its fields (an
    /// update's `type` that is not the record's); `field` names it.
    ConflictAt {
        code: &'static str,
        field: String,
        detail: String,
    },
    /// The API key may not do this (`code` says which right it lacks).
    Forbidden { code: &'static str, detail: String },
    /// The connection's provider refused its refresh token: the end user must connect again.
    ReauthRequired,
    /// The vendor keeps failing for this connection: calls are refused for a while.
    CircuitOpen { retry_after: std::time::Duration },
    /// The vendor throttled and its wait exceeds what this request may wait.
    Throttled {
        retry_after: std::time::Duration,
        provider: Option<ProviderError>,
    },
    /// The thing does not exist (or belongs to another environment).
    NotFound { detail: String },
    /// The provider does not offer this operation.
    Unsupported { detail: String },
    /// The provider answered with an error.
    Provider(ProviderError),
    /// The provider could not be reached or answered nonsense.
    Upstream { code: &'static str, detail: String },
    /// A stored override of the connection's environment or of the connection itself no longer
    /// applies to the connector loaded now (it changed since the override was saved).
    OverrideInvalid(Box<operations::override_check::InvalidOverride>),
    /// A mapping stopped at one of the environment's evaluation limits; `detail` names it.
    EvaluationLimit { code: String, detail: String },
    /// The path exists but does not take this method; `allow` lists the methods it takes.
    MethodNotAllowed { allow: &'static str },
    /// The request body is over the server's limit.
    TooLarge,
    /// Our own failure; the cause is logged, not shown.
    Internal(anyhow::Error),
}

impl ApiError {
    /// A 400 naming the field that is wrong.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code: "invalid_request",
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    /// A 404 for `what`.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::NotFound {
            detail: what.into(),
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(error: store::StoreError) -> ApiError {
        match error {
            store::StoreError::NotFound => ApiError::not_found("not found"),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<operations::OpError> for ApiError {
    fn from(error: operations::OpError) -> ApiError {
        use operations::OpError;
        match error {
            OpError::Invalid {
                code,
                field,
                detail,
            } => ApiError::BadRequest {
                code,
                field,
                detail,
            },
            OpError::Conflict {
                code,
                field,
                detail,
            } => ApiError::ConflictAt {
                code,
                field,
                detail,
            },
            OpError::NotFound(detail) => ApiError::NotFound { detail },
            OpError::Unsupported(detail) => ApiError::Unsupported { detail },
            OpError::ReauthRequired => ApiError::ReauthRequired,
            OpError::CircuitOpen { retry_after } => ApiError::CircuitOpen { retry_after },
            OpError::Throttled {
                retry_after,
                provider,
            } => ApiError::Throttled {
                retry_after,
                provider,
            },
            OpError::Provider(error) => ApiError::Provider(error),
            OpError::Upstream { code, detail } => ApiError::Upstream { code, detail },
            OpError::OverrideInvalid(invalid) => ApiError::OverrideInvalid(invalid),
            OpError::EvaluationLimit { code, detail } => ApiError::EvaluationLimit { code, detail },
            OpError::Internal(error) => ApiError::Internal(error),
        }
    }
}

/// The gateway status of a unified error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthorized | ErrorCode::AuthExpired | ErrorCode::ReauthRequired => {
            StatusCode::UNAUTHORIZED
        }
        ErrorCode::InsufficientScope | ErrorCode::Forbidden | ErrorCode::AccountInactive => {
            StatusCode::FORBIDDEN
        }
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Gone => StatusCode::GONE,
        // A record the write names is missing, not the record written: a conflict with the
        // vendor's current state that a 404 would misreport as the written record's absence.
        ErrorCode::Conflict | ErrorCode::ReferenceNotFound => StatusCode::CONFLICT,
        ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        // What the vendor does not offer is the caller's choice to change: a client error.
        ErrorCode::Unsupported => StatusCode::BAD_REQUEST,
        ErrorCode::RateLimited | ErrorCode::QuotaExhausted => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
        ErrorCode::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Internal => StatusCode::BAD_GATEWAY,
    }
}

fn problem(status: StatusCode, code: &str, origin: &str, detail: String, extra: Value) -> Response {
    let mut body = json!({
        "type": format!("https://crosswalk.dev/problems/{code}"),
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
        "origin": origin,
    });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
        if let Some(id) = crate::request_id::current() {
            body.insert("request_id".to_owned(), Value::String(id));
        }
    }
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Adds `Retry-After` (whole seconds, rounded up) to a response.
fn with_retry_after(mut response: Response, retry_after: std::time::Duration) -> Response {
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest {
                code,
                field,
                detail,
            } => {
                let extra = match field {
                    Some(field) => {
                        json!({"errors": [{"field": field, "detail": detail}], "field": field})
                    }
                    None => json!({}),
                };
                problem(StatusCode::BAD_REQUEST, code, "gateway", detail, extra)
            }
            ApiError::Unprocessable {
                code,
                field,
                detail,
            } => {
                let extra = match field {
                    Some(field) => {
                        json!({"errors": [{"field": field, "detail": detail}], "field": field})
                    }
                    None => json!({}),
                };
                problem(StatusCode::UNPROCESSABLE_ENTITY, code, "gateway", detail, extra)
            }
            ApiError::Unauthenticated => problem(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "gateway",
                "a valid API key is required: `Authorization: Bearer <key>`".to_owned(),
                json!({}),
            ),
            ApiError::AuthThrottled { retry_after } => with_retry_after(
                problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "auth_throttled",
                    "gateway",
                    "too many failed authentications from this address; retry later".to_owned(),
                    json!({"retry_after_secs": retry_after.as_secs_f64().ceil().max(1.0) as u64}),
                ),
                retry_after,
            ),
            ApiError::Conflict { code, detail } => {
                problem(StatusCode::CONFLICT, code, "gateway", detail, json!({}))
            }
            ApiError::ConflictAt {
                code,
                field,
                detail,
            } => {
                let extra = json!({"errors": [{"field": field, "detail": detail}], "field": field});
                problem(StatusCode::CONFLICT, code, "gateway", detail, extra)
            }
            ApiError::Forbidden { code, detail } => {
                problem(StatusCode::FORBIDDEN, code, "gateway", detail, json!({}))
            }
            ApiError::CircuitOpen { retry_after } => with_retry_after(
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "circuit_open",
                    "provider",
                    "the provider keeps failing for this connection; calls are paused".to_owned(),
                    json!({"retry_after_secs": retry_after.as_secs_f64().ceil() as u64}),
                ),
                retry_after,
            ),
            ApiError::Throttled { retry_after, provider } => {
                // The vendor's own 429 is the provider's; a refusal by our buckets, before any
                // vendor call, is ours.
                let (origin, detail, extra) = match provider {
                    Some(error) => (
                        "provider",
                        "the provider throttled this connection; retry later",
                        json!({"retry_after_secs": retry_after.as_secs_f64().ceil() as u64,
                               "provider": {"status": error.status, "code": error.vendor_code, "message": error.message}}),
                    ),
                    None => (
                        "gateway",
                        "the provider's rate limit for this connection is spent for longer than this call may wait (`max_wait_ms`); retry later",
                        json!({"retry_after_secs": retry_after.as_secs_f64().ceil() as u64}),
                    ),
                };
                with_retry_after(
                    problem(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        origin,
                        detail.to_owned(),
                        extra,
                    ),
                    retry_after,
                )
            }
            ApiError::ReauthRequired => problem(
                StatusCode::UNAUTHORIZED,
                "reauth_required",
                "provider",
                "the provider no longer accepts this connection's authorization; the end user must connect again (POST /connect/sessions with `connection_id`)".to_owned(),
                json!({}),
            ),
            ApiError::NotFound { detail } => problem(
                StatusCode::NOT_FOUND,
                "not_found",
                "gateway",
                detail,
                json!({}),
            ),
            // The connection's connector does not offer this: another call, not a server
            // fix, is the answer, so it is a client error with its own problem type.
            ApiError::Unsupported { detail } => problem(
                StatusCode::BAD_REQUEST,
                "unsupported",
                "gateway",
                detail,
                json!({}),
            ),
            ApiError::Provider(error) => {
                let status = status_of(error.code);
                let detail = match &error.message {
                    Some(message) => format!("the provider answered {}: {message}", error.status),
                    None => format!("the provider answered {}", error.status),
                };
                // A refusal naming a field (a write's per-record answer, read by the
                // connector's `errors.field_expr`) names it as the gateway's own 400s do.
                let extra = match &error.field {
                    Some(field) => json!({
                        "provider": {"status": error.status, "code": error.vendor_code, "message": error.message},
                        "errors": [{"field": field, "detail": detail}],
                        "field": field,
                    }),
                    None => {
                        json!({"provider": {"status": error.status, "code": error.vendor_code, "message": error.message}})
                    }
                };
                problem(status, error.code.as_str(), "provider", detail, extra)
            }
            ApiError::Upstream { code, detail } => {
                // A vendor that did not answer in time is a gateway timeout; anything else
                // (unreachable, nonsense, a refused token request) a bad gateway.
                let status = if code == "upstream_timeout" {
                    StatusCode::GATEWAY_TIMEOUT
                } else {
                    StatusCode::BAD_GATEWAY
                };
                problem(status, code, "provider", detail, json!({}))
            }
            ApiError::OverrideInvalid(invalid) => {
                // The override is the environment's own configuration: naming its layer,
                // version, path and error tells the caller what to fix; connector loading never
                // sees credentials, and the connector file's location on disk is left out.
                let fix = match &invalid.scope.connection_id {
                    Some(connection_id) => format!("/connections/{connection_id}/overrides"),
                    None => format!("/environment/overrides/{}", invalid.scope.provider),
                };
                problem(
                    StatusCode::CONFLICT,
                    "override_invalid",
                    "gateway",
                    format!(
                        "{}; fix it (PUT {fix}), revert it (POST {fix}/revert) or remove it (DELETE {fix})",
                        invalid.describe()
                    ),
                    json!({"override": invalid.payload()}),
                )
            }
            ApiError::EvaluationLimit { code, detail } => {
                // The environment's mappings (its overrides among them) ran into the limits it
                // runs under: the detail names the limit (`PUT /environment/limits`).
                let limit = detail
                    .rsplit_once("(limit ")
                    .and_then(|(_, rest)| rest.split_once(')'))
                    .map(|(limit, _)| limit.to_owned());
                problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "evaluation_limit",
                    "gateway",
                    detail,
                    json!({"mapping_code": code, "limit": limit}),
                )
            }
            ApiError::MethodNotAllowed { allow } => {
                let mut response = problem(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "gateway",
                    format!("this path does not take this method (it takes: {allow})"),
                    json!({}),
                );
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                response
            }
            ApiError::TooLarge => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "gateway",
                "the request body is larger than the server accepts (8 MiB)".to_owned(),
                json!({"errors": [{"field": "body", "detail": "is too large"}], "field": "body"}),
            ),
            ApiError::Internal(error) => {
                // Served requests have an id already; work outside a request gets its own.
                let request_id = crate::request_id::current()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                tracing::error!(request_id = %request_id, error = %format!("{error:#}"), "internal error");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "gateway",
                    format!("internal error (request id {request_id})"),
                    json!({"request_id": request_id}),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vendor_that_did_not_answer_in_time_is_a_gateway_timeout() {
        let answer = ApiError::Upstream {
            code: "upstream_timeout",
            detail: "the vendor did not answer within 30 s".to_owned(),
        }
        .into_response();
        assert_eq!(answer.status(), StatusCode::GATEWAY_TIMEOUT);
        let unreachable = ApiError::Upstream {
            code: "upstream_unavailable",
            detail: "connection refused".to_owned(),
        }
        .into_response();
        assert_eq!(unreachable.status(), StatusCode::BAD_GATEWAY);
    }
}
