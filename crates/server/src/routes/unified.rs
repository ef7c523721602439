//! `/unified/{category}/{object}`: list, get, create, update and delete unified records on the
//! connection named by `connection_id` (query parameter or `X-Connection-Id` header).

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use connector::file::FilterKind;
use connector::{ListCursor, Operation, PageState, RequestContext};
use serde_json::{Map, Value, json};
use unified_model::CrmObject;

use super::JsonBody;
use crate::auth::Caller;
use crate::cursor::filter_hash;
use crate::runtime::{Bound, bind, read_error};
use crate::{ApiError, AppState, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// Parameters every unified call understands, besides the list filters.
const COMMON_PARAMS: &[&str] = &["connection_id", "include", "max_wait_ms"];
/// The longest wait for the vendor budget a caller may ask for.
const MAX_WAIT_BUDGET_MS: u64 = 120_000;
const LIST_PARAMS: &[&str] = &["page_size", "cursor"];
/// List pages fetched in a row when the vendor answers empty pages that still have a next one.
const MAX_EMPTY_PAGES: usize = 8;

struct Target {
    object: CrmObject,
    key: String,
}

fn target(category: &str, object: &str) -> Result<Target, ApiError> {
    if category != "crm" {
        return Err(ApiError::not_found(format!(
            "unified category `{category}` does not exist"
        )));
    }
    let parsed = CrmObject::parse(object).ok_or_else(|| {
        let known: Vec<&str> = CrmObject::ALL.iter().map(|o| o.slug()).collect();
        ApiError::not_found(format!(
            "unified object `{object}` does not exist (known: {})",
            known.join(", ")
        ))
    })?;
    Ok(Target {
        object: parsed,
        key: format!("{category}.{object}"),
    })
}

fn parse_query(raw: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
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

fn connection_id(params: &[(String, String)], headers: &HeaderMap) -> Result<String, ApiError> {
    let from_query = single(params, "connection_id")?;
    let from_header = headers
        .get("x-connection-id")
        .and_then(|value| value.to_str().ok());
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
    let text = match single(params, "max_wait_ms")? {
        Some(text) => Some(text.to_owned()),
        None => headers
            .get("crosswalk-max-wait-ms")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
    };
    text.as_deref().map(parse_wait_budget).transpose()
}

/// Parses a caller's wait budget in milliseconds.
pub fn parse_wait_budget(text: &str) -> Result<std::time::Duration, ApiError> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| *ms <= MAX_WAIT_BUDGET_MS)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| {
            ApiError::invalid(
                "max_wait_ms",
                format!("must be a whole number of milliseconds from 0 to {MAX_WAIT_BUDGET_MS}"),
            )
        })
}

/// Binds the call's connection with the caller's wait budget.
async fn bind_call(
    state: &AppState,
    caller: &Caller,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Bound, ApiError> {
    let budget = wait_budget(params, headers)?;
    let bound = bind(state, caller, &connection_id(params, headers)?).await?;
    Ok(match budget {
        Some(budget) => bound.with_wait_budget(budget),
        None => bound,
    })
}

/// The vendor budget left for the connection, as response headers.
pub async fn rate_limit_headers(state: &AppState, bound: &Bound) -> axum::http::HeaderMap {
    let mut map = axum::http::HeaderMap::new();
    for (name, value) in bound.rate_limit_headers(state).await {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            map.insert(name, value);
        }
    }
    map
}

fn include_remote_data(params: &[(String, String)]) -> Result<bool, ApiError> {
    let mut remote_data = false;
    for (_, value) in params.iter().filter(|(key, _)| key == "include") {
        for part in value
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            match part {
                "remote_data" => remote_data = true,
                other => {
                    return Err(ApiError::invalid(
                        "include",
                        format!("`{other}` is not includable (known: remote_data)"),
                    ));
                }
            }
        }
    }
    Ok(remote_data)
}

fn supported(bound: &Bound, target: &Target, operation: Operation) -> Result<(), ApiError> {
    if bound.connector.supports(&target.key, operation) {
        Ok(())
    } else {
        Err(ApiError::Unsupported {
            detail: format!(
                "provider `{}` does not support `{}` on `{}`",
                bound.connector.id(),
                operation.as_str(),
                target.object.slug()
            ),
        })
    }
}

/// Maps a record into its published shape, adding `remote_data` when asked.
fn finish(
    object: CrmObject,
    mapped: Value,
    raw: Value,
    remote_data: bool,
) -> Result<Value, String> {
    let mut record =
        unified_model::normalize_record(object, mapped).map_err(|error| error.to_string())?;
    if remote_data && let Value::Object(map) = &mut record {
        map.insert("remote_data".to_owned(), raw);
    }
    Ok(record)
}

fn parse_filter(name: &str, kind: FilterKind, value: &str) -> Result<Value, ApiError> {
    match kind {
        FilterKind::String => {
            if value.is_empty() {
                return Err(ApiError::invalid(name, "must not be empty"));
            }
            if name == "email" {
                if !value.contains('@') {
                    return Err(ApiError::invalid(name, "is not an email address"));
                }
                return Ok(Value::String(value.to_lowercase()));
            }
            Ok(Value::String(value.to_owned()))
        }
        FilterKind::Datetime => {
            let parsed = chrono::DateTime::parse_from_rfc3339(value).map_err(|error| {
                ApiError::invalid(
                    name,
                    format!("must be an RFC 3339 date-time such as 2024-01-31T00:00:00Z: {error}"),
                )
            })?;
            Ok(Value::String(
                parsed
                    .with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ))
        }
        FilterKind::StringList => {
            let items: Vec<Value> = value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect();
            if items.is_empty() {
                return Err(ApiError::invalid(name, "must list at least one value"));
            }
            if items.len() > 100 {
                return Err(ApiError::invalid(name, "may list at most 100 values"));
            }
            Ok(Value::Array(items))
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((category, object)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let target = target(&category, &object)?;
    let params = parse_query(raw)?;
    let bound = bind_call(&state, &caller, &params, &headers).await?;
    supported(&bound, &target, Operation::List)?;
    let declared = bound
        .connector
        .file()
        .unified
        .get(&target.key)
        .and_then(|ops| ops.list.as_ref())
        .map(|list| list.filters.clone())
        .unwrap_or_default();
    let mut filters = Map::new();
    for (name, value) in &params {
        if COMMON_PARAMS.contains(&name.as_str()) || LIST_PARAMS.contains(&name.as_str()) {
            continue;
        }
        let Some(decl) = declared.get(name) else {
            let known: Vec<&String> = declared.keys().collect();
            return Err(ApiError::invalid(
                name,
                format!(
                    "is not a filter of `{}` on `{}` (supported: {})",
                    target.object.slug(),
                    bound.connector.id(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            ));
        };
        if filters.contains_key(name) {
            return Err(ApiError::invalid(name, "is given more than once"));
        }
        filters.insert(name.clone(), parse_filter(name, decl.kind, value)?);
    }
    let page_size = match single(&params, "page_size")? {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|size| (1..=MAX_PAGE_SIZE).contains(size))
            .ok_or_else(|| {
                ApiError::invalid(
                    "page_size",
                    format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                )
            })?,
    };
    let remote_data = include_remote_data(&params)?;
    let mut hash_parts: Vec<(&str, String)> = vec![
        ("connection", bound.connection.id.to_string()),
        ("object", target.key.clone()),
    ];
    let filter_text = Value::Object(filters.clone()).to_string();
    hash_parts.push(("filters", filter_text));
    let hash = filter_hash(&hash_parts);
    let mut cursor = match single(&params, "cursor")? {
        None => ListCursor::default(),
        Some(text) => state
            .cursors
            .decode(&hash, text)
            .map_err(|reason| ApiError::invalid("cursor", reason.to_owned()))?,
    };

    let mut ctx: RequestContext = bound.context(&state, &target.key).await?;
    ctx.query = Value::Object(filters);
    ctx.page_size = page_size;

    let mut results = Vec::new();
    let mut errors = Vec::new();
    let mut next = None;
    for _ in 0..MAX_EMPTY_PAGES {
        let plans = bound
            .connector
            .plan_list_requests(&target.key, &ctx, &cursor)
            .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?;
        let responses = send_parts(&state, &bound, plans).await?;
        let page = noted(
            &state,
            &bound,
            &target,
            bound
                .connector
                .read_list_parts(&target.key, &ctx, &cursor, &responses),
        )
        .await?;
        for error in page.errors {
            errors.push(json!({"index": error.index, "remote_id": error.remote_id, "detail": error.message}));
        }
        for (mapped, raw) in page.records {
            match finish(target.object, mapped, raw, remote_data) {
                Ok(record) => results.push(record),
                Err(detail) => errors.push(json!({"detail": detail})),
            }
        }
        next = page.next;
        match &next {
            Some(following) if results.is_empty() && errors.is_empty() => {
                cursor = following.clone()
            }
            _ => break,
        }
    }
    if let Some(ListCursor {
        p: PageState::Start,
        r: 0,
    }) = next
    {
        next = None;
    }
    let next_cursor = next.map(|following| state.cursors.encode(&hash, &following));
    let mut body = json!({"results": results, "next_cursor": next_cursor});
    if !errors.is_empty() {
        body["errors"] = Value::Array(errors);
    }
    Ok((rate_limit_headers(&state, &bound).await, JsonBody(body)))
}

fn reject_unknown(params: &[(String, String)]) -> Result<(), ApiError> {
    match params
        .iter()
        .find(|(key, _)| !COMMON_PARAMS.contains(&key.as_str()))
    {
        Some((key, _)) => Err(ApiError::invalid(
            key,
            "is not a parameter of this operation",
        )),
        None => Ok(()),
    }
}

/// Parses a single-record call's query, binds its connection and checks the operation.
async fn bind_single(
    state: &AppState,
    caller: &Caller,
    target: &Target,
    operation: Operation,
    raw: Option<String>,
    headers: &HeaderMap,
) -> Result<(Bound, Vec<(String, String)>), ApiError> {
    let params = parse_query(raw)?;
    reject_unknown(&params)?;
    let bound = bind_call(state, caller, &params, headers).await?;
    supported(&bound, target, operation)?;
    Ok((bound, params))
}

/// Plans `operation` on `target` and sends it.
async fn call(
    state: &AppState,
    bound: &Bound,
    target: &Target,
    operation: Operation,
    ctx: &RequestContext,
) -> Result<connector::VendorResponse, ApiError> {
    let plan = bound
        .connector
        .plan(&target.key, operation, ctx, &PageState::Start)
        .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?;
    bound.send(state, plan, operation == Operation::Get).await
}

/// Sends the requests of one page or record (several when the route chunks a parameter), in
/// order; a vendor error ends the run early, since the first error is what the caller gets.
async fn send_parts(
    state: &AppState,
    bound: &Bound,
    plans: Vec<connector::PlannedRequest>,
) -> Result<Vec<connector::VendorResponse>, ApiError> {
    let mut responses = Vec::with_capacity(plans.len());
    for plan in plans {
        let response = bound.send(state, plan, true).await?;
        let failed = bound.connector.classify(&response).is_some();
        responses.push(response);
        if failed {
            break;
        }
    }
    Ok(responses)
}

async fn read_back(
    state: &AppState,
    bound: &Bound,
    target: &Target,
    id: String,
    remote_data: bool,
) -> Result<Value, ApiError> {
    let mut ctx = bound.context(state, &target.key).await?;
    ctx.id = Some(id);
    let plans = bound
        .connector
        .plan_requests(&target.key, Operation::Get, &ctx, &PageState::Start)
        .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?;
    let responses = send_parts(state, bound, plans).await?;
    let (mapped, raw) = noted(
        state,
        bound,
        target,
        bound
            .connector
            .read_record_parts(&target.key, Operation::Get, &ctx, &responses),
    )
    .await?;
    finish(target.object, mapped, raw, remote_data)
        .map_err(|detail| ApiError::Internal(anyhow::anyhow!(detail)))
}

pub async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((category, object, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let target = target(&category, &object)?;
    let (bound, params) =
        bind_single(&state, &caller, &target, Operation::Get, raw, &headers).await?;
    let record = read_back(&state, &bound, &target, id, include_remote_data(&params)?).await?;
    Ok((rate_limit_headers(&state, &bound).await, JsonBody(record)))
}

/// The caller's update merged over the current unified record: writable fields the caller
/// did not send keep their current values; `custom_fields` merge key by key.
fn merge_over_current(current: Value, update: Value) -> Value {
    const READ_ONLY: &[&str] = &[
        "id",
        "remote_id",
        "created_at",
        "updated_at",
        "remote_deleted",
        "remote_data",
    ];
    let (Value::Object(mut merged), Value::Object(update)) = (current, update) else {
        return Value::Null;
    };
    merged.retain(|key, _| !READ_ONLY.contains(&key.as_str()));
    for (key, value) in update {
        match (merged.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(patch)) if key == "custom_fields" => {
                existing.extend(patch);
            }
            (_, value) => {
                merged.insert(key, value);
            }
        }
    }
    Value::Object(merged)
}

/// A create or update: the operation, the target record's id (updates) and the body.
struct WriteCall {
    operation: Operation,
    id: Option<String>,
    body: Value,
}

async fn write(
    state: &AppState,
    caller: &Caller,
    target: &Target,
    write_call: WriteCall,
    raw: Option<String>,
    headers: &HeaderMap,
) -> Result<Value, ApiError> {
    let WriteCall {
        operation,
        id,
        body,
    } = write_call;
    let (bound, params) = bind_single(state, caller, target, operation, raw, headers).await?;
    if !body.is_object() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    let body = unified_model::parse_write_body(target.object, body).map_err(|error| {
        ApiError::BadRequest {
            code: "invalid_body",
            field: error
                .path()
                .map(|path| format!("body.{path}"))
                .or_else(|| Some("body".to_owned())),
            detail: error.to_string(),
        }
    })?;
    let fields = bound.fields(state, &target.key).await?;
    let body = check_custom_fields(body, &fields)?;
    let body = match (&id, operation) {
        (Some(id), Operation::Update) if bound.connector.update_merges_current(&target.key) => {
            let current = read_back(state, &bound, target, id.clone(), false).await?;
            merge_over_current(current, body)
        }
        _ => body,
    };
    let mut ctx = bound.context_with(&fields);
    ctx.body = Some(body);
    ctx.id = id;
    let response = call(state, &bound, target, operation, &ctx).await?;
    let remote_data = include_remote_data(&params)?;
    if bound.connector.write_returns_record(&target.key, operation) {
        let (mapped, raw) = noted(
            state,
            &bound,
            target,
            bound
                .connector
                .read_record(&target.key, operation, &ctx, &response),
        )
        .await?;
        return finish(target.object, mapped, raw, remote_data)
            .map_err(|detail| ApiError::Internal(anyhow::anyhow!(detail)));
    }
    let written = noted(
        state,
        &bound,
        target,
        bound
            .connector
            .read_written_id(&target.key, operation, &ctx, &response),
    )
    .await?;
    read_back(state, &bound, target, written, remote_data).await
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((category, object)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let target = target(&category, &object)?;
    let record = write(
        &state,
        &caller,
        &target,
        WriteCall {
            operation: Operation::Create,
            id: None,
            body,
        },
        raw,
        &headers,
    )
    .await?;
    Ok((StatusCode::CREATED, JsonBody(record)))
}

pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((category, object, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let target = target(&category, &object)?;
    let record = write(
        &state,
        &caller,
        &target,
        WriteCall {
            operation: Operation::Update,
            id: Some(id),
            body,
        },
        raw,
        &headers,
    )
    .await?;
    Ok(JsonBody(record))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((category, object, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let target = target(&category, &object)?;
    let (bound, _) =
        bind_single(&state, &caller, &target, Operation::Delete, raw, &headers).await?;
    let mut ctx = bound.context(&state, &target.key).await?;
    ctx.id = Some(id);
    let response = call(&state, &bound, &target, Operation::Delete, &ctx).await?;
    noted(
        &state,
        &bound,
        &target,
        bound.connector.read_delete(&response),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
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
) -> Result<impl IntoResponse, ApiError> {
    if category != "crm" {
        return Err(ApiError::not_found(format!(
            "unified category `{category}` does not exist"
        )));
    }
    let params = parse_query(raw)?;
    if let Some((key, _)) = params
        .iter()
        .find(|(key, _)| !matches!(key.as_str(), "connection_id" | "object"))
    {
        return Err(ApiError::invalid(
            key,
            "is not a parameter of this operation",
        ));
    }
    let wanted = match single(&params, "object")? {
        Some(name) => Some(target(&category, name)?.key),
        None => None,
    };
    let bound = bind_call(&state, &caller, &params, &headers).await?;
    let objects: Vec<String> = bound
        .connector
        .file()
        .discovery
        .keys()
        .filter(|key| key.starts_with(&format!("{category}.")))
        .filter(|key| wanted.as_ref().is_none_or(|wanted| wanted == *key))
        .cloned()
        .collect();
    let mut results = Vec::new();
    for object in objects {
        let slug = object
            .split_once('.')
            .map(|(_, slug)| slug.to_owned())
            .unwrap_or_default();
        for field in bound.fields(&state, &object).await? {
            let mut entry =
                serde_json::to_value(&field).map_err(|error| ApiError::Internal(error.into()))?;
            if let Value::Object(map) = &mut entry {
                map.insert("object".to_owned(), Value::String(slug.clone()));
            }
            results.push(entry);
        }
    }
    Ok(JsonBody(json!({ "results": results })))
}

/// The unified object named by a path (for `/meta`).
pub fn target_of(category: &str, object: &str) -> Result<CrmObject, ApiError> {
    Ok(target(category, object)?.object)
}

/// Binds the connection of a `/meta` call (only `connection_id` is accepted).
pub async fn bind_for_meta(
    state: &AppState,
    caller: &Caller,
    raw: Option<String>,
    headers: &HeaderMap,
) -> Result<Bound, ApiError> {
    let params = parse_query(raw)?;
    if let Some((key, _)) = params.iter().find(|(key, _)| key != "connection_id") {
        return Err(ApiError::invalid(
            key,
            "is not a parameter of this operation",
        ));
    }
    bind_call(state, caller, &params, headers).await
}

/// Checks a write's `custom_fields` against the connection's discovered fields: read-only
/// fields and values of the wrong type or outside an enumeration are refused naming the field,
/// and values are converted to the field's type where that is lossless (`"42"` for a number).
/// A field named by its vendor key is renamed to its unified key (naming one field both ways
/// is refused). A key that is no discovered custom field is refused: the mappings would drop it.
fn check_custom_fields(
    mut body: Value,
    fields: &[connector::DiscoveredField],
) -> Result<Value, ApiError> {
    let Some(Value::Object(custom)) = body.get_mut("custom_fields") else {
        return Ok(body);
    };
    if fields.is_empty() {
        // Nothing discovered for this object: the connector decides what to send.
        return Ok(body);
    }
    let given = std::mem::take(custom);
    for (key, value) in given {
        let unified = fields
            .iter()
            .find(|field| field.key != key && field.vendor_key() == key)
            .map_or(key.clone(), |field| field.key.clone());
        if custom.contains_key(&unified) {
            // The field's unified and vendor keys were both given.
            return Err(ApiError::BadRequest {
                code: "invalid_body",
                field: Some(format!("body.custom_fields.{key}")),
                detail: format!("names the same field as `{unified}`; give it once"),
            });
        }
        custom.insert(unified, value);
    }
    for (key, value) in custom.iter_mut() {
        let path = format!("body.custom_fields.{key}");
        // The mappings write discovered custom fields only: anything else would be dropped
        // without a word, so it is refused (`remote_data` carries other vendor fields).
        let Some(field) = fields
            .iter()
            .find(|field| &field.key == key && field.custom)
        else {
            let detail = if fields.iter().any(|field| &field.key == key) {
                format!(
                    "`{key}` is a standard field of the provider; set it through its unified field or `remote_data`"
                )
            } else {
                format!(
                    "`{key}` is not a custom field of this connection; `GET /unified/crm/fields` lists them"
                )
            };
            return Err(ApiError::BadRequest {
                code: "invalid_body",
                field: Some(path),
                detail,
            });
        };
        if field.read_only {
            return Err(ApiError::BadRequest {
                code: "invalid_body",
                field: Some(path),
                detail: format!("`{key}` is read-only at the provider"),
            });
        }
        if value.is_null() {
            continue;
        }
        let converted = match (field.kind.as_deref(), &*value) {
            (Some("number"), Value::String(text)) => text
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number)),
            (Some("integer"), Value::String(text)) => {
                text.trim().parse::<i64>().ok().map(Value::from)
            }
            (Some("boolean"), Value::String(text)) => {
                match text.trim().to_ascii_lowercase().as_str() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    _ => None,
                }
            }
            (Some("number" | "integer"), Value::Number(_)) | (Some("boolean"), Value::Bool(_)) => {
                Some(value.clone())
            }
            (Some("number" | "integer" | "boolean"), _) => None,
            _ => Some(value.clone()),
        };
        let Some(converted) = converted else {
            return Err(ApiError::BadRequest {
                code: "invalid_body",
                field: Some(path),
                detail: format!(
                    "must be a {} value",
                    field.kind.as_deref().unwrap_or("string")
                ),
            });
        };
        if field.kind.as_deref() == Some("enum")
            && !field.options.is_empty()
            && !field
                .options
                .iter()
                .any(|option| option.get("value") == Some(&converted))
        {
            let allowed: Vec<String> = field
                .options
                .iter()
                .filter_map(|option| option.get("value").map(|value| value.to_string()))
                .collect();
            return Err(ApiError::BadRequest {
                code: "invalid_body",
                field: Some(path),
                detail: format!("must be one of: {}", allowed.join(", ")),
            });
        }
        *value = converted;
    }
    Ok(body)
}

/// Turns a read failure into an API error; when the connector's rule says the vendor's fields
/// changed (`refresh_discovery`), the connection's discovered fields are refreshed first.
async fn noted<T>(
    state: &AppState,
    bound: &Bound,
    target: &Target,
    result: Result<T, connector::ReadError>,
) -> Result<T, ApiError> {
    match result {
        Ok(value) => Ok(value),
        Err(error) => {
            let error = read_error(error);
            if let ApiError::Provider(provider) = &error
                && provider
                    .rule
                    .as_deref()
                    .is_some_and(|rule| bound.connector.refreshes_discovery(rule))
            {
                bound.forget_fields(state, &target.key).await;
            }
            Err(error)
        }
    }
}
