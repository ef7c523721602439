//! `/proxy/{path}`: the raw vendor call on a connection's credentials, to the connector's
//! declared hosts only ([`operations::Bound::proxy`]); the vendor's body is passed back byte
//! for byte.
//!
//! A write (any method but GET) may carry an `Idempotency-Key`, with the unified writes'
//! semantics ([`idempotency`]): the vendor's success answer (2xx) is kept, status, content type
//! and bytes, and a retry with the same key and request gets it again without calling the
//! vendor; any other answer releases the key. The request's fingerprint is its query, content
//! type and body bytes.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use connector::HttpMethod;
use operations::ProxyRequest;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use store::{IdempotencyScope, StoredAnswer};

use super::idempotency::{self, Claimed, IdempotentCall};
use super::unified::{self, bind_call, parse_query, with_rate_limit_headers};
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
    let params = parse_query(raw.clone())?;
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
    let key = match http_method {
        HttpMethod::Get => None,
        _ => idempotency::key_of(&headers)?,
    };
    let bound = bind_call(&state, &caller, &params, &headers).await?;
    let call = match key {
        None => None,
        Some(key) => {
            let scope = IdempotencyScope {
                environment_id: caller.environment_id.clone(),
                connection_id: bound.connection().id.to_string(),
                method: method.as_str().to_owned(),
                path: format!("/proxy/{path}"),
                key,
            };
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .map_or(&[][..], HeaderValue::as_bytes);
            let fingerprint = idempotency::fingerprint_parts(&[
                raw.as_deref().unwrap_or("").as_bytes(),
                content_type,
                &body,
            ]);
            match idempotency::claim_fingerprinted(&state, scope, fingerprint).await {
                Ok(Claimed::Run(call)) => Some(call),
                Ok(Claimed::Replay(answer)) => {
                    let response = replay(&answer, bound.connector().id());
                    return Ok(with_rate_limit_headers(&bound, response).await);
                }
                Err(error) => {
                    return Ok(with_rate_limit_headers(&bound, error.into_response()).await);
                }
            }
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
        Err(error) => {
            finish(call, None).await;
            return Ok(unified::answer(&bound, Err::<(), _>(error)).await);
        }
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let kept = AnswerParts {
        status,
        content_type: answer.content_type,
        body: answer.body,
    };
    finish(call, Some(&kept)).await;
    let response = kept.into_response(bound.connector().id());
    Ok(with_rate_limit_headers(&bound, response).await)
}

/// The vendor's answer as the proxy passes it on.
struct AnswerParts {
    status: StatusCode,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl AnswerParts {
    /// The vendor's own answer, error or not, as it came, naming the connector.
    fn into_response(self, provider: &str) -> Response {
        let mut response = (self.status, self.body).into_response();
        response.extensions_mut().insert(crate::error::VendorAnswer);
        if let Some(content_type) = &self.content_type
            && let Ok(value) = HeaderValue::from_str(content_type)
        {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        response.headers_mut().insert(
            "x-crosswalk-provider",
            HeaderValue::from_str(provider).unwrap_or(HeaderValue::from_static("unknown")),
        );
        response
    }

    /// The answer as kept for an idempotency key: JSON with the content type and the body's
    /// bytes in base64.
    fn to_json(&self) -> Value {
        json!({"content_type": self.content_type, "body": BASE64.encode(&self.body)})
    }

    /// Reads back what [`AnswerParts::to_json`] kept.
    fn from_stored(answer: &StoredAnswer) -> Option<AnswerParts> {
        Some(AnswerParts {
            status: StatusCode::from_u16(answer.status).ok()?,
            content_type: answer.body["content_type"].as_str().map(str::to_owned),
            body: BASE64.decode(answer.body["body"].as_str()?).ok()?,
        })
    }
}

/// Keeps a vendor success for the key's retries, or releases the key (no answer, or not 2xx).
async fn finish(call: Option<IdempotentCall>, answer: Option<&AnswerParts>) {
    let Some(call) = call else {
        return;
    };
    match answer {
        Some(answer) if answer.status.is_success() => {
            call.finish(Ok((answer.status, &answer.to_json()))).await;
        }
        _ => call.finish(Err(())).await,
    }
}

/// The answer kept for an idempotency key, sent again with `Idempotent-Replayed`.
fn replay(answer: &StoredAnswer, provider: &str) -> Response {
    let Some(parts) = AnswerParts::from_stored(answer) else {
        // Only this module keeps proxy answers: a broken invariant, answered as our error
        // (and logged as one) rather than with something else.
        return ApiError::Internal(anyhow::anyhow!("a kept proxy answer is unreadable"))
            .into_response();
    };
    let mut response = parts.into_response(provider);
    response.headers_mut().insert(
        idempotency::REPLAYED_HEADER,
        HeaderValue::from_static("true"),
    );
    response
}
