//! `/proxy/{path}`: the raw vendor call on a connection's credentials, to the connector's
//! declared hosts only ([`operations::Bound::proxy`]); the vendor's body is passed back byte
//! for byte.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use connector::HttpMethod;
use operations::ProxyRequest;

use super::unified::{self, bind_call, parse_query, rate_limit_headers};
use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Request headers passed through to the vendor.
const FORWARDED_HEADERS: &[&str] = &["accept", "content-type", "if-match", "if-none-match"];
/// Query parameters that are Crosswalk's, not the vendor's.
const OWN_PARAMS: &[&str] = &["connection_id", "max_wait_ms"];

pub async fn forward(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    method: Method,
    Path(path): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = parse_query(raw)?;
    let http_method = match method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        _ => {
            return Err(ApiError::MethodNotAllowed {
                allow: "GET, POST, PUT, PATCH, DELETE",
            });
        }
    };
    let bound = bind_call(&state, &caller, &params, &headers).await?;
    let forwarded: Vec<(String, String)> = FORWARDED_HEADERS
        .iter()
        .filter_map(|name| {
            headers
                .get(*name)
                .and_then(|value| value.to_str().ok())
                .map(|value| ((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let vendor_params: Vec<&(String, String)> = params
        .iter()
        .filter(|(key, _)| !OWN_PARAMS.contains(&key.as_str()))
        .collect();
    let query = serde_urlencoded::to_string(&vendor_params).unwrap_or_default();
    let path_and_query = if query.is_empty() {
        format!("/{path}")
    } else {
        format!("/{path}?{query}")
    };
    let answer = match bound
        .proxy(ProxyRequest {
            method: http_method,
            path_and_query,
            headers: forwarded,
            body: body.to_vec(),
        })
        .await
    {
        Ok(answer) => answer,
        // A refusal (our budget, an open circuit) carries the budget's headers too.
        Err(error) => return Ok(unified::answer(&bound, Err::<(), _>(error)).await),
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, answer.body).into_response();
    // The vendor's own answer, error or not, is passed through as it came.
    response.extensions_mut().insert(crate::error::VendorAnswer);
    if let Some(content_type) = &answer.content_type
        && let Ok(value) = HeaderValue::from_str(content_type)
    {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
        .headers_mut()
        .extend(rate_limit_headers(&bound).await);
    response.headers_mut().insert(
        "x-crosswalk-provider",
        HeaderValue::from_str(bound.connector().id())
            .unwrap_or(HeaderValue::from_static("unknown")),
    );
    Ok(response)
}
