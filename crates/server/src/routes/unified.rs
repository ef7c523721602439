//! `/unified/{category}/{object}`: list, get, create, update and delete unified records on the
//! connection named by `connection_id` (query parameter or `X-Connection-Id` header), and
//! `/unified/{category}/fields`. Each handler parses the HTTP request, calls the operation on
//! [`operations::Bound`], and renders the answer; the work lives in the `operations` crate.
//! A list with `source=synced` is answered from the record store instead of the vendor.

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use operations::{Bound, Include, ListRequest, OpError};
use serde_json::{Value, json};
use store::IdempotencyScope;
use unified_model::UnifiedObject;

use super::JsonBody;
use super::idempotency::{self, Claimed};
use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Parameters every unified call understands, besides the list filters.
const COMMON_PARAMS: &[&str] = &["connection_id", "include", "max_wait_ms"];
/// The longest wait for the vendor budget a caller may ask for.
pub(crate) const MAX_WAIT_BUDGET_MS: u64 = 120_000;
const LIST_PARAMS: &[&str] = &["page_size", "cursor", "source"];

/// The unified object a path names.
///
/// # Errors
/// 404 naming the known categories or objects.
pub fn target(category: &str, object: &str) -> Result<UnifiedObject, ApiError> {
    if !UnifiedObject::is_category(category) {
        return Err(ApiError::not_found(format!(
            "unified category `{category}` does not exist (known: {})",
            unified_model::CATEGORIES.join(", ")
        )));
    }
    UnifiedObject::parse(category, object).ok_or_else(|| {
        let known: Vec<&str> = UnifiedObject::of_category(category)
            .map(UnifiedObject::slug)
            .collect();
        ApiError::not_found(format!(
            "unified object `{object}` does not exist (known: {})",
            known.join(", ")
        ))
    })
}

/// Parses a query string into its pairs, in order.
pub fn parse_query(raw: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or(""))
        .map_err(|error| ApiError::invalid("query", format!("malformed query string: {error}")))
}

fn single<'a>(params: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = params
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::invalid(name, "is given more than once"));
    }
    Ok(first)
}

/// The connection a call names: `connection_id` in the query or the `X-Connection-Id` header;
/// both may be given only when they agree.
fn connection_id(params: &[(String, String)], headers: &HeaderMap) -> Result<String, ApiError> {
    let from_query = single(params, "connection_id")?;
    let from_header = header_text(headers, "X-Connection-Id")?;
    if from_header.is_some_and(str::is_empty) {
        return Err(ApiError::invalid("X-Connection-Id", "must not be empty"));
    }
    match (from_query, from_header) {
        (Some(query), Some(header)) if query != header => Err(ApiError::invalid(
            "connection_id",
            "differs from the `X-Connection-Id` header",
        )),
        (Some(id), _) | (None, Some(id)) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err(ApiError::invalid(
            "connection_id",
            "is required (query parameter `connection_id` or header `X-Connection-Id`)",
        )),
    }
}

/// How long the caller lets this call wait for the vendor's budget: `max_wait_ms` (query) or
/// the `Crosswalk-Max-Wait-Ms` header; `None` for the server's default.
fn wait_budget(
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Option<std::time::Duration>, ApiError> {
    // Both are checked when both are given; the query parameter wins.
    let from_header = header_text(headers, "Crosswalk-Max-Wait-Ms")?
        .map(|text| parse_wait_budget("Crosswalk-Max-Wait-Ms", text))
        .transpose()?;
    let from_query = single(params, "max_wait_ms")?
        .map(|text| parse_wait_budget("max_wait_ms", text))
        .transpose()?;
    Ok(from_query.or(from_header))
}

/// The text of the request header `name` (given once, visible ASCII), trimmed; `None` when it
/// is absent.
///
/// # Errors
/// A 400 naming the header when it is given twice or is not text.
pub fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid(name, "is given more than once"));
    }
    value
        .to_str()
        .map(|text| Some(text.trim()))
        .map_err(|_| ApiError::invalid(name, "must be visible ASCII text"))
}

/// Parses a caller's wait budget in milliseconds, given as `field`.
pub(crate) fn parse_wait_budget(field: &str, text: &str) -> Result<std::time::Duration, ApiError> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| *ms <= MAX_WAIT_BUDGET_MS)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("must be a whole number of milliseconds from 0 to {MAX_WAIT_BUDGET_MS}"),
            )
        })
}

/// Binds the call's connection with the caller's wait budget.
pub async fn bind_call(
    state: &AppState,
    caller: &Caller,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Bound, ApiError> {
    let budget = wait_budget(params, headers)?;
    let connection_id = connection_id(params, headers)?;
    Ok(state
        .operations
        .bind(&caller.environment_id, &connection_id, budget)
        .await?)
}

/// Renders an operation's outcome, success or error, with the connection's RateLimit headers:
/// a caller reads the vendor budget from every answer, a refusal included.
pub async fn answer<T: IntoResponse>(bound: &Bound, outcome: Result<T, OpError>) -> Response {
    let headers = rate_limit_headers(bound).await;
    let mut response = match outcome {
        Ok(answer) => answer.into_response(),
        Err(error) => ApiError::from(error).into_response(),
    };
    response.headers_mut().extend(headers);
    response
}

/// The vendor budget left for the connection, as response headers.
pub async fn rate_limit_headers(bound: &Bound) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in bound.rate_limit_headers().await {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            map.insert(name, value);
        }
    }
    map
}

fn include(params: &[(String, String)]) -> Result<Include, ApiError> {
    Ok(Include::parse(
        params
            .iter()
            .filter(|(key, _)| key == "include")
            .map(|(_, value)| value.as_str()),
    )?)
}

fn reject_unknown(params: &[(String, String)], known: &[&str]) -> Result<(), ApiError> {
    match params
        .iter()
        .find(|(key, _)| !known.contains(&key.as_str()))
    {
        Some((key, _)) => Err(ApiError::invalid(
            key,
            "is not a parameter of this operation",
        )),
        None => Ok(()),
    }
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((category, object)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let object = target(&category, &object)?;
    let params = parse_query(raw)?;
    let page_size = single(&params, "page_size")?
        .map(|text| {
            text.parse::<u64>().map_err(|_| {
                ApiError::invalid(
                    "page_size",
                    format!(
                        "must be a whole number from 1 to {}",
                        operations::MAX_PAGE_SIZE
                    ),
                )
            })
        })
        .transpose()?;
    let request = ListRequest {
        filters: params
            .iter()
            .filter(|(key, _)| {
                !COMMON_PARAMS.contains(&key.as_str()) && !LIST_PARAMS.contains(&key.as_str())
            })
            .cloned()
            .collect(),
        page_size,
        cursor: single(&params, "cursor")?.map(str::to_owned),
        include: include(&params)?,
    };
    let synced = match single(&params, "source")? {
        None | Some("live") => false,
        Some("synced") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "source",
                format!(
                    "must be `live` (the vendor) or `synced` (the record store), not `{other}`"
                ),
            ));
        }
    };
    let bound = bind_call(&state, &caller, &params, &headers).await?;
    if synced {
        let page = bound.list_synced_page(object, request).await?;
        return Ok(
            JsonBody(json!({"results": page.results, "next_cursor": page.next_cursor}))
                .into_response(),
        );
    }
    let outcome = bound.list_page(object, request).await.map(|page| {
        let mut body = json!({"results": page.results, "next_cursor": page.next_cursor});
        if !page.errors.is_empty() {
            body["errors"] = Value::Array(page.errors);
        }
        JsonBody(body)
    });
    Ok(answer(&bound, outcome).await)
}

/// Parses a single-record call's query (only the common parameters) and binds its connection.
async fn bind_single(
    state: &AppState,
    caller: &Caller,
    raw: Option<String>,
    headers: &HeaderMap,
) -> Result<(Bound, Include), ApiError> {
    let params = parse_query(raw)?;
    reject_unknown(&params, COMMON_PARAMS)?;
    // Everything the caller sent is checked before the connection is bound, so a bad parameter
    // never follows a vendor write.
    let include = include(&params)?;
    let bound = bind_call(state, caller, &params, headers).await?;
    Ok((bound, include))
}

pub async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((category, object, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let object = target(&category, &object)?;
    let (bound, include) = bind_single(&state, &caller, raw, &headers).await?;
    let outcome = bound.get(object, id, include).await.map(JsonBody);
    Ok(answer(&bound, outcome).await)
}

/// Refuses a write to an object no connector can write (its records are read-only in the
/// unified model, so the OpenAPI document lists no write method for it): 405 with `Allow`.
fn writable(object: UnifiedObject) -> Result<(), ApiError> {
    if object.supports_writes() {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed { allow: "GET" })
    }
}

/// Any other method on `/unified/{category}/{object}`: 405 with the methods the object takes
/// (`GET`, and `POST` when its records are writable), as the OpenAPI document lists them.
pub async fn other_method_on_collection(
    Path((category, object)): Path<(String, String)>,
) -> ApiError {
    match target(&category, &object) {
        Ok(object) if object.supports_writes() => ApiError::MethodNotAllowed { allow: "GET, POST" },
        Ok(_) => ApiError::MethodNotAllowed { allow: "GET" },
        Err(error) => error,
    }
}

/// Any other method on `/unified/{category}/{object}/{id}`: 405 with the methods the object
/// takes (`GET`, and `PATCH` and `DELETE` when its records are writable).
pub async fn other_method_on_record(
    Path((category, object, _id)): Path<(String, String, String)>,
) -> ApiError {
    match target(&category, &object) {
        Ok(object) if object.supports_writes() => ApiError::MethodNotAllowed {
            allow: "GET, PATCH, DELETE",
        },
        Ok(_) => ApiError::MethodNotAllowed { allow: "GET" },
        Err(error) => error,
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((category, object)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<JsonBody<Value>, ApiError>,
) -> Result<Response, ApiError> {
    let target_object = target(&category, &object)?;
    writable(target_object)?;
    let key = idempotency::key_of(&headers)?;
    let JsonBody(body) = body?;
    let query = raw.clone();
    let (bound, include) = bind_single(&state, &caller, raw, &headers).await?;
    let write = Write {
        state: &state,
        caller: &caller,
        bound: &bound,
        method: "POST",
        path: format!("/unified/{category}/{object}"),
        query: query.as_deref(),
        key,
        success: StatusCode::CREATED,
    };
    Ok(write
        .run(body, |body| bound.create(target_object, body, include))
        .await)
}

pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((category, object, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<JsonBody<Value>, ApiError>,
) -> Result<Response, ApiError> {
    let target_object = target(&category, &object)?;
    writable(target_object)?;
    let key = idempotency::key_of(&headers)?;
    let JsonBody(body) = body?;
    let query = raw.clone();
    let (bound, include) = bind_single(&state, &caller, raw, &headers).await?;
    let write = Write {
        state: &state,
        caller: &caller,
        bound: &bound,
        method: "PATCH",
        path: format!("/unified/{category}/{object}/{id}"),
        query: query.as_deref(),
        key,
        success: StatusCode::OK,
    };
    Ok(write
        .run(body, |body| bound.update(target_object, id, body, include))
        .await)
}

/// One create or update, made at most once per `Idempotency-Key` (see [`idempotency`]).
struct Write<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    bound: &'a Bound,
    method: &'static str,
    path: String,
    query: Option<&'a str>,
    key: Option<String>,
    success: StatusCode,
}

impl Write<'_> {
    /// Runs the write (or replays the answer kept for its key), with the RateLimit headers.
    async fn run<F, Fut>(self, body: Value, write: F) -> Response
    where
        F: FnOnce(Value) -> Fut,
        Fut: std::future::Future<Output = Result<Value, OpError>>,
    {
        let call = match self.key {
            None => None,
            Some(key) => {
                let scope = IdempotencyScope {
                    environment_id: self.caller.environment_id.clone(),
                    connection_id: self.bound.connection().id.to_string(),
                    method: self.method.to_owned(),
                    path: self.path,
                    key,
                };
                match idempotency::claim(self.state, scope, self.query, &body).await {
                    Ok(Claimed::Run(call)) => Some(call),
                    Ok(Claimed::Replay(answer)) => {
                        return with_rate_limit_headers(self.bound, idempotency::replay(answer))
                            .await;
                    }
                    Err(error) => {
                        return with_rate_limit_headers(self.bound, error.into_response()).await;
                    }
                }
            }
        };
        let outcome = write(body).await;
        if let Some(call) = call {
            call.finish(match &outcome {
                Ok(record) => Ok((self.success, record)),
                Err(_) => Err(()),
            })
            .await;
        }
        answer(
            self.bound,
            outcome.map(|record| (self.success, JsonBody(record))),
        )
        .await
    }
}

/// `response` with the connection's RateLimit headers.
pub async fn with_rate_limit_headers(bound: &Bound, mut response: Response) -> Response {
    response
        .headers_mut()
        .extend(rate_limit_headers(bound).await);
    response
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((category, object, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let object = target(&category, &object)?;
    writable(object)?;
    let (bound, _) = bind_single(&state, &caller, raw, &headers).await?;
    let outcome = bound
        .delete(object, id)
        .await
        .map(|()| StatusCode::NO_CONTENT);
    Ok(answer(&bound, outcome).await)
}

/// `GET /unified/{category}/fields`: every vendor field of the connection's objects in one
/// normalised shape (`object`, `key`, `label`, `type`, `custom`, `required`, `read_only`,
/// `options`), for building a mapping screen; `object=` narrows it to one object.
pub async fn fields(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(category): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !UnifiedObject::is_category(&category) {
        return Err(ApiError::not_found(format!(
            "unified category `{category}` does not exist"
        )));
    }
    let params = parse_query(raw)?;
    reject_unknown(&params, &["connection_id", "object", "max_wait_ms"])?;
    let only = match single(&params, "object")? {
        Some(name) => Some(target(&category, name)?),
        None => None,
    };
    let bound = bind_call(&state, &caller, &params, &headers).await?;
    let outcome = bound
        .list_fields(&category, only)
        .await
        .map(|results| JsonBody(json!({ "results": results })));
    Ok(answer(&bound, outcome).await)
}
