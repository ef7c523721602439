//! `/proxy/{path}`: the raw vendor call on a connection's credentials, to the connector's
//! declared hosts only.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use connector::{HttpMethod, RequestBody};

use crate::auth::Caller;
use crate::runtime::bind;
use crate::{ApiError, AppState};

/// Request headers passed through to the vendor.
const FORWARDED_HEADERS: &[&str] = &["accept", "content-type", "if-match", "if-none-match"];

pub async fn forward(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    method: Method,
    Path(path): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut params = serde_urlencoded::from_str::<Vec<(String, String)>>(
        raw.as_deref().unwrap_or(""),
    )
    .map_err(|error| ApiError::invalid("query", format!("malformed query string: {error}")))?;
    let from_query = params
        .iter()
        .position(|(key, _)| key == "connection_id")
        .map(|idx| params.remove(idx).1);
    let connection_id = from_query
        .or_else(|| {
            headers
                .get("x-connection-id")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
        .ok_or_else(|| {
            ApiError::invalid(
                "connection_id",
                "is required (query parameter or `X-Connection-Id` header)",
            )
        })?;
    let budget = params
        .iter()
        .position(|(key, _)| key == "max_wait_ms")
        .map(|idx| params.remove(idx).1)
        .or_else(|| {
            headers
                .get("crosswalk-max-wait-ms")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
        .map(|text| super::unified::parse_wait_budget(&text))
        .transpose()?;
    let mut bound = bind(&state, &caller, &connection_id).await?;
    if let Some(budget) = budget {
        bound = bound.with_wait_budget(budget);
    }
    let http_method = match method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        other => {
            return Err(ApiError::invalid(
                "method",
                format!("`{other}` cannot be proxied"),
            ));
        }
    };
    let forwarded: Vec<(String, String)> = FORWARDED_HEADERS
        .iter()
        .filter_map(|name| {
            headers
                .get(*name)
                .and_then(|value| value.to_str().ok())
                .map(|value| ((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    let path_and_query = if query.is_empty() {
        format!("/{path}")
    } else {
        format!("/{path}?{query}")
    };
    let request_body = if body.is_empty() {
        RequestBody::None
    } else {
        RequestBody::Raw(body.to_vec())
    };
    let plan = bound
        .connector
        .plan_proxy(
            http_method,
            &path_and_query,
            &bound.account(),
            forwarded,
            request_body,
        )
        .map_err(|error| ApiError::invalid("path", error.to_string()))?;
    let response = bound.send(&state, plan, false).await?;
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = response
        .header("content-type")
        .unwrap_or("application/json")
        .to_owned();
    let bytes = match &response.body {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::String(text) if !content_type.contains("json") => {
            text.clone().into_bytes()
        }
        other => other.to_string().into_bytes(),
    };
    let mut answer = (status, bytes).into_response();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        answer.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    for (name, value) in bound.rate_limit_headers(&state).await {
        if let Ok(value) = HeaderValue::from_str(&value) {
            answer.headers_mut().insert(name, value);
        }
    }
    answer.headers_mut().insert(
        "x-crosswalk-provider",
        HeaderValue::from_str(bound.connector.id()).unwrap_or(HeaderValue::from_static("unknown")),
    );
    Ok(answer)
}
