//! The HTTP surface: the auth and service-protection guard, and one dispatcher for everything
//! under `/api/data/v9.2/`, because OData paths (`contacts(guid)`,
//! `EntityDefinitions(LogicalName='contact')/Attributes`) do not fit path templates.
//!
//! Handlers take the data lock only inside synchronous sections and never across an await.
//! Absolute URLs (`@odata.context`, `@odata.nextLink`, `OData-EntityId`) are built from the
//! request's `Host`, so they point back at the simulator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use rand::Rng;
use serde_json::{Map, Value, json};

use super::Shared;
use super::error::ApiError;
use super::metadata::{self, MetadataQuery};
use super::query::{ListQuery, MAX_PAGE_SIZE, parse_select};
use super::seed;
use super::store::Annotations;
use crate::faults::{FaultLayerState, control_routes, fault_middleware};

const API: &str = "/api/data/v9.2";
const WINDOW: Duration = Duration::from_secs(300);
/// `Retry-After` of a throttle fault that names none.
const DEFAULT_RETRY_AFTER_SECS: u64 = 5;

type AppState = State<Arc<Shared>>;

pub(crate) fn build(shared: Arc<Shared>) -> Router {
    let api: Router<Arc<Shared>> = Router::new()
        .route(API, get(service_document))
        .route(&format!("{API}/"), get(service_document))
        .route(&format!("{API}/{{*rest}}"), any(dispatch))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));
    let limit = shared.limit;
    let fault_state = FaultLayerState {
        faults: shared.faults.clone(),
        log: shared.log.clone(),
        throttle: Arc::new(move |retry_after| {
            ApiError::TooManyRequests {
                limit,
                retry_after_secs: retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECS),
            }
            .into_response()
        }),
    };
    Router::new()
        .merge(api)
        .with_state(Arc::clone(&shared))
        .merge(control_routes(shared.faults.clone(), shared.log.clone()))
        .fallback(|request: Request| async move {
            ApiError::SegmentNotFound(request.uri().path().to_owned())
        })
        .layer(middleware::from_fn_with_state(
            fault_state,
            fault_middleware,
        ))
}

/// Checks the bearer token, then counts the request against the caller's 300 s window.
async fn guard(State(shared): AppState, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| shared.tokens.contains(*token))
        .map(str::to_owned);
    let Some(token) = token else {
        return ApiError::Unauthenticated.into_response();
    };
    let remaining = {
        let mut windows = shared.windows.lock().expect("rate windows poisoned");
        let window = windows.entry(token).or_default();
        let now = Instant::now();
        while window
            .front()
            .is_some_and(|first| now.duration_since(*first) >= WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= shared.limit as usize {
            let oldest = window.front().copied().unwrap_or(now);
            let wait = WINDOW.saturating_sub(now.duration_since(oldest));
            let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return ApiError::TooManyRequests {
                limit: shared.limit,
                retry_after_secs: retry_after_secs.max(1),
            }
            .into_response();
        }
        window.push_back(now);
        shared.limit as usize - window.len()
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        "x-ms-ratelimit-burst-remaining-xrm-requests",
        HeaderValue::from(remaining),
    );
    headers.insert("odata-version", HeaderValue::from_static("4.0"));
    response
}

/// What a request carries that handlers need.
struct Call {
    method: Method,
    path: String,
    pairs: Vec<(String, String)>,
    headers: HeaderMap,
    base: String,
    body: Bytes,
}

impl Call {
    fn api_url(&self) -> String {
        format!("{}{API}", self.base)
    }
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn parse_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|raw| {
        url::form_urlencoded::parse(raw.as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

async fn service_document(
    State(shared): AppState,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = base_url(&headers);
    let db = shared.read();
    let value: Vec<Value> = db
        .tables
        .iter()
        .map(|table| {
            json!({ "name": table.entity.entity_set, "kind": "EntitySet", "url": table.entity.entity_set })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "@odata.context": format!("{base}{API}/$metadata"), "value": value }),
    ))
}

async fn dispatch(
    State(shared): AppState,
    method: Method,
    Path(rest): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let call = Call {
        method,
        path: uri.path().to_owned(),
        pairs: parse_pairs(raw.as_deref()),
        base: base_url(&headers),
        headers,
        body,
    };
    route(&shared, &call, &rest)
}

fn route(shared: &Shared, call: &Call, rest: &str) -> Result<Response, ApiError> {
    let rest = rest.trim_end_matches('/');
    if rest == "$metadata" {
        only_get(call)?;
        let db = shared.read();
        let entities: Vec<_> = db.tables.iter().map(|table| &table.entity).collect();
        let mut response = metadata::csdl(&entities).into_response();
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/xml"));
        return Ok(response);
    }
    if rest == "WhoAmI" || rest == "WhoAmI()" {
        only_get(call)?;
        let db = shared.read();
        return Ok(json_response(
            StatusCode::OK,
            &json!({
                "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", call.api_url()),
                "BusinessUnitId": "6f2ac4f6-1b5a-f011-8c4d-000d3a5a8b1e",
                "UserId": db.caller_id,
                "OrganizationId": "0a9ef0c2-1b5a-f011-8c4d-000d3a5a8b1e",
            }),
        ));
    }
    if rest.starts_with("EntityDefinitions") {
        only_get(call)?;
        return entity_definitions(shared, call, rest);
    }
    let (segment, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if !tail.is_empty() {
        return Err(ApiError::SegmentNotFound(tail.to_owned()));
    }
    let (set, key) = match segment.split_once('(') {
        Some((set, key)) => (set, Some(key.strip_suffix(')').unwrap_or(key))),
        None => (segment, None),
    };
    let table_idx = shared
        .read()
        .table_by_set(set)
        .ok_or_else(|| ApiError::SegmentNotFound(set.to_owned()))?;
    match key {
        None => match call.method {
            Method::GET => list(shared, call, table_idx),
            Method::POST => create(shared, call, table_idx),
            ref other => Err(ApiError::MethodNotAllowed(other.to_string())),
        },
        Some(key) => {
            let id = uuid::Uuid::parse_str(key.trim())
                .map_err(|_| {
                    ApiError::QuerySyntax("Bad Request - Error in query syntax.".to_owned())
                })?
                .to_string();
            match call.method {
                Method::GET => get_one(shared, call, table_idx, &id),
                Method::PATCH => upsert(shared, call, table_idx, &id),
                Method::DELETE => delete(shared, call, table_idx, &id),
                ref other => Err(ApiError::MethodNotAllowed(other.to_string())),
            }
        }
    }
}

fn only_get(call: &Call) -> Result<(), ApiError> {
    if call.method == Method::GET {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed(call.method.to_string()))
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; odata.metadata=minimal"),
    );
    response
}

/// The preferences of a `Prefer` header that the simulator honours.
#[derive(Debug, Default)]
struct Prefer {
    max_page_size: Option<usize>,
    annotations: Option<String>,
    return_representation: bool,
}

/// Splits `Prefer` values on commas outside double quotes.
fn parse_prefer(headers: &HeaderMap) -> Prefer {
    let mut prefer = Prefer::default();
    for value in headers.get_all("prefer") {
        let Ok(text) = value.to_str() else { continue };
        let mut items = Vec::new();
        let mut current = String::new();
        let mut quoted = false;
        for ch in text.chars() {
            match ch {
                '"' => {
                    quoted = !quoted;
                    current.push(ch);
                }
                ',' if !quoted => items.push(std::mem::take(&mut current)),
                _ => current.push(ch),
            }
        }
        items.push(current);
        for item in items {
            let item = item.trim();
            let (name, value) = item.split_once('=').unwrap_or((item, ""));
            let value = value.trim().trim_matches('"');
            match name.trim() {
                "odata.maxpagesize" => {
                    prefer.max_page_size = value
                        .parse::<usize>()
                        .ok()
                        .filter(|size| (1..=MAX_PAGE_SIZE).contains(size));
                }
                "odata.include-annotations" => prefer.annotations = Some(value.to_owned()),
                "return" => prefer.return_representation = value == "representation",
                _ => {}
            }
        }
    }
    prefer
}

fn context_url(call: &Call, set: &str, select: Option<&[String]>, entity: bool) -> String {
    let columns = select.map_or_else(String::new, |names| format!("({})", names.join(",")));
    let suffix = if entity { "/$entity" } else { "" };
    format!("{}/$metadata#{set}{columns}{suffix}", call.api_url())
}

/// Encodes query pairs, keeping `$` in option names readable.
fn encode_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| {
            let name: String = url::form_urlencoded::byte_serialize(name.as_bytes())
                .collect::<String>()
                .replace("%24", "$");
            let value: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            format!("{name}={value}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Applies a queued mutation fault to the table: inserts new records, deletes and edits random
/// ones.
fn mutate(shared: &Shared, table_idx: usize, mutation: crate::Mutation) {
    let crate::Mutation {
        inserts,
        deletes,
        updates,
    } = mutation;
    let mut rng = shared.rng.lock().expect("rng poisoned");
    let mut db = shared.write();
    let entity_set = db.tables[table_idx].entity.entity_set;
    for _ in 0..inserts {
        seed::generate(&mut db, &mut rng, entity_set, chrono::Utc::now());
    }
    for _ in 0..deletes {
        let rows = &db.tables[table_idx].rows;
        if rows.is_empty() {
            break;
        }
        let idx = rng.gen_range(0..rows.len());
        if let Some(id) = rows.keys().nth(idx).cloned() {
            db.tables[table_idx].rows.remove(&id);
        }
    }
    // An edit: a text column the unified record shows, and `modifiedon`.
    let table = &mut db.tables[table_idx];
    let column = ["jobtitle", "description", "subject", "name"]
        .into_iter()
        .find(|name| table.entity.by_logical_name(name).is_some());
    let mut ids: Vec<_> = table.rows.keys().cloned().collect();
    for _ in 0..updates.min(ids.len()) {
        let id = ids.swap_remove(rng.gen_range(0..ids.len()));
        let mark: u32 = rng.r#gen();
        if let Some(row) = table.rows.get_mut(&id) {
            if let Some(column) = column {
                row.values
                    .insert(column.into(), json!(format!("Edited {mark:08x}")));
            }
            row.values.insert(
                "modifiedon".into(),
                json!(super::store::format_instant(chrono::Utc::now())),
            );
        }
    }
}

fn list(shared: &Shared, call: &Call, table_idx: usize) -> Result<Response, ApiError> {
    if let Some(mutation) = shared.faults.take_mutation(&call.path) {
        mutate(shared, table_idx, mutation);
    }
    let prefer = parse_prefer(&call.headers);
    let db = shared.read();
    let table = &db.tables[table_idx];
    let query = ListQuery::parse(&call.pairs, &table.entity)?;
    let page_size = prefer.max_page_size.unwrap_or(MAX_PAGE_SIZE);
    let page = query.run(table, page_size);
    let annotations = Annotations::parse(prefer.annotations.as_deref().unwrap_or(""));
    let records: Vec<Value> = page
        .ids
        .iter()
        .filter_map(|id| db.render(table_idx, id, query.select.as_deref(), &annotations))
        .map(Value::Object)
        .collect();
    let entity_set = table.entity.entity_set;
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(context_url(
            call,
            entity_set,
            query.select.as_deref(),
            false
        )),
    );
    if query.count {
        body.insert("@odata.count".into(), json!(page.count));
        if annotations.wants("Microsoft.Dynamics.CRM.totalrecordcount") {
            body.insert(
                "@Microsoft.Dynamics.CRM.totalrecordcount".into(),
                json!(page.count),
            );
        }
        if annotations.wants("Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded") {
            body.insert(
                "@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded".into(),
                json!(page.count_capped),
            );
        }
    }
    body.insert("value".into(), Value::Array(records));
    if let Some(next) = &page.next {
        let mut pairs = query.carried.clone();
        pairs.push(("$skiptoken".to_owned(), next.encode()));
        body.insert(
            "@odata.nextLink".into(),
            json!(format!(
                "{}/{entity_set}?{}",
                call.api_url(),
                encode_pairs(&pairs)
            )),
        );
    }
    drop(db);
    let mut response = json_response(StatusCode::OK, &Value::Object(body));
    let mut applied = Vec::new();
    if let Some(size) = prefer.max_page_size
        && query.top.is_none()
    {
        applied.push(format!("odata.maxpagesize={size}"));
    }
    if let Some(requested) = &prefer.annotations
        && !annotations.is_empty()
    {
        applied.push(format!("odata.include-annotations=\"{requested}\""));
    }
    if !applied.is_empty()
        && let Ok(value) = HeaderValue::from_str(&applied.join(","))
    {
        response.headers_mut().insert("preference-applied", value);
    }
    Ok(response)
}

fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Renders one record for a single-record answer, with `@odata.context`.
fn single_body(
    shared: &Shared,
    call: &Call,
    table_idx: usize,
    id: &str,
) -> Result<(Value, u64), ApiError> {
    let prefer = parse_prefer(&call.headers);
    let annotations = Annotations::parse(prefer.annotations.as_deref().unwrap_or(""));
    let db = shared.read();
    let table = &db.tables[table_idx];
    let mut select = None;
    for (name, value) in &call.pairs {
        match name.as_str() {
            "$select" => select = Some(parse_select(value, &table.entity)?),
            "$expand" => return Err(ApiError::UnsupportedOption(name.clone())),
            _ => {}
        }
    }
    let not_found = || ApiError::RecordNotFound {
        entity: table.entity.logical_name.to_owned(),
        id: id.to_owned(),
    };
    let version = table.rows.get(id).ok_or_else(not_found)?.version;
    let record = db
        .render(table_idx, id, select.as_deref(), &annotations)
        .ok_or_else(not_found)?;
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(context_url(
            call,
            table.entity.entity_set,
            select.as_deref(),
            true
        )),
    );
    body.extend(record);
    Ok((Value::Object(body), version))
}

fn get_one(shared: &Shared, call: &Call, table_idx: usize, id: &str) -> Result<Response, ApiError> {
    let (body, version) = single_body(shared, call, table_idx, id)?;
    let current = etag(version);
    if call
        .headers
        .get("if-none-match")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim() == current)
    {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let mut response = json_response(StatusCode::OK, &body);
    if let Ok(value) = HeaderValue::from_str(&current) {
        response.headers_mut().insert("etag", value);
    }
    Ok(response)
}

fn parse_body(call: &Call, entity_set: &str) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(&call.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::Payload {
            entity_set: entity_set.to_owned(),
            detail: "The payload must be a JSON object.".to_owned(),
        }),
        Err(error) => Err(ApiError::Payload {
            entity_set: entity_set.to_owned(),
            detail: format!("Invalid JSON. {error}"),
        }),
    }
}

/// The answer to a successful write: 204 with `OData-EntityId`, or the record when
/// `Prefer: return=representation` asked for it.
fn written(
    shared: &Shared,
    call: &Call,
    table_idx: usize,
    id: &str,
    created: bool,
) -> Result<Response, ApiError> {
    let entity_set = shared.read().tables[table_idx].entity.entity_set;
    let entity_id = format!("{}/{entity_set}({id})", call.api_url());
    let prefer = parse_prefer(&call.headers);
    let mut response = if prefer.return_representation {
        let (body, version) = single_body(shared, call, table_idx, id)?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let mut response = json_response(status, &body);
        response.headers_mut().insert(
            "preference-applied",
            HeaderValue::from_static("return=representation"),
        );
        if let Ok(value) = HeaderValue::from_str(&etag(version)) {
            response.headers_mut().insert("etag", value);
        }
        response
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&entity_id) {
        response.headers_mut().insert("odata-entityid", value);
    }
    Ok(response)
}

fn create(shared: &Shared, call: &Call, table_idx: usize) -> Result<Response, ApiError> {
    let entity_set = shared.read().tables[table_idx].entity.entity_set;
    let body = parse_body(call, entity_set)?;
    let generated = seed::guid(&mut shared.rng.lock().expect("rng poisoned"));
    let id = {
        let mut db = shared.write();
        let changes = db.changes(table_idx, &body, true)?;
        let id = changes.id.clone().unwrap_or(generated);
        if db.tables[table_idx].rows.contains_key(&id) {
            return Err(ApiError::DuplicateKey);
        }
        db.create(table_idx, changes, id)
    };
    let logical_name = shared.read().tables[table_idx].entity.logical_name;
    super::emit_change(&shared.webhooks, logical_name, &id, "Create");
    written(shared, call, table_idx, &id, true)
}

/// Checks `If-Match` / `If-None-Match` against the record's version (`None`: no record).
fn preconditions(headers: &HeaderMap, version: Option<u64>) -> Result<(), ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    if header("if-none-match") == Some("*") && version.is_some() {
        return Err(ApiError::DuplicateKey);
    }
    if let Some(expected) = header("if-match") {
        let Some(version) = version else {
            return Err(ApiError::PreconditionFailed);
        };
        if expected != "*" {
            let wanted = expected.trim_start_matches("W/").trim_matches('"');
            if wanted != version.to_string() {
                return Err(ApiError::PreconditionFailed);
            }
        }
    }
    Ok(())
}

fn upsert(shared: &Shared, call: &Call, table_idx: usize, id: &str) -> Result<Response, ApiError> {
    let entity_set = shared.read().tables[table_idx].entity.entity_set;
    let body = parse_body(call, entity_set)?;
    let created = {
        let mut db = shared.write();
        let table = &db.tables[table_idx];
        let version = table.rows.get(id).map(|row| row.version);
        if version.is_none() && call.headers.contains_key("if-match") {
            return Err(ApiError::RecordNotFound {
                entity: table.entity.logical_name.to_owned(),
                id: id.to_owned(),
            });
        }
        preconditions(&call.headers, version)?;
        let changes = db.changes(table_idx, &body, version.is_none())?;
        if version.is_some() {
            db.update(table_idx, id, changes);
            false
        } else {
            db.create(table_idx, changes, id.to_owned());
            true
        }
    };
    let logical_name = shared.read().tables[table_idx].entity.logical_name;
    super::emit_change(
        &shared.webhooks,
        logical_name,
        id,
        if created { "Create" } else { "Update" },
    );
    written(shared, call, table_idx, id, created)
}

fn delete(shared: &Shared, call: &Call, table_idx: usize, id: &str) -> Result<Response, ApiError> {
    let mut db = shared.write();
    let table = &mut db.tables[table_idx];
    let version = table.rows.get(id).map(|row| row.version);
    if version.is_none() {
        return Err(ApiError::RecordNotFound {
            entity: table.entity.logical_name.to_owned(),
            id: id.to_owned(),
        });
    }
    preconditions(&call.headers, version)?;
    table.rows.remove(id);
    let logical_name = table.entity.logical_name;
    drop(db);
    super::emit_change(&shared.webhooks, logical_name, id, "Delete");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Reads `Name(LogicalName='x')` into `x`.
fn logical_name_key<'a>(segment: &'a str, name: &str) -> Option<&'a str> {
    segment
        .strip_prefix(name)?
        .strip_prefix("(LogicalName=")?
        .strip_suffix(')')?
        .strip_prefix('\'')?
        .strip_suffix('\'')
}

fn entity_definitions(shared: &Shared, call: &Call, rest: &str) -> Result<Response, ApiError> {
    let query = MetadataQuery::parse(&call.pairs)?;
    let db = shared.read();
    let api = call.api_url();
    let mut segments = rest.splitn(3, '/');
    let first = segments.next().unwrap_or_default();
    let second = segments.next();
    let third = segments.next();
    if first == "EntityDefinitions" && second.is_none() {
        let entities: Vec<_> = db.tables.iter().map(|table| &table.entity).collect();
        let value = metadata::entity_list(&entities, &query)?;
        return Ok(json_response(
            StatusCode::OK,
            &json!({ "@odata.context": format!("{api}/$metadata#EntityDefinitions"), "value": value }),
        ));
    }
    let logical = logical_name_key(first, "EntityDefinitions")
        .ok_or_else(|| ApiError::SegmentNotFound(first.to_owned()))?;
    let table_idx = db
        .table_by_logical(logical)
        .ok_or_else(|| ApiError::SegmentNotFound(first.to_owned()))?;
    let entity = &db.tables[table_idx].entity;
    match (second, third) {
        (None, _) => {
            let mut body = Map::new();
            body.insert(
                "@odata.context".into(),
                json!(format!("{api}/$metadata#EntityDefinitions/$entity")),
            );
            let list = metadata::entity_list(&[entity], &query)?;
            if let Some(Value::Object(item)) = list.into_iter().next() {
                body.extend(item);
            }
            Ok(json_response(StatusCode::OK, &Value::Object(body)))
        }
        (Some("Attributes"), cast) => {
            let cast = match cast {
                None => None,
                Some(cast) => Some(
                    cast.strip_prefix("Microsoft.Dynamics.CRM.")
                        .ok_or_else(|| ApiError::SegmentNotFound(cast.to_owned()))?,
                ),
            };
            let value = metadata::attribute_list(entity, cast, &query)?;
            let context = match cast {
                Some(cast) => format!(
                    "{api}/$metadata#EntityDefinitions('{logical}')/Attributes/Microsoft.Dynamics.CRM.{cast}"
                ),
                None => format!("{api}/$metadata#EntityDefinitions('{logical}')/Attributes"),
            };
            Ok(json_response(
                StatusCode::OK,
                &json!({ "@odata.context": context, "value": value }),
            ))
        }
        (Some(segment), None) if logical_name_key(segment, "Attributes").is_some() => {
            let name = logical_name_key(segment, "Attributes").unwrap_or_default();
            let attribute = entity
                .by_logical_name(name)
                .ok_or_else(|| ApiError::SegmentNotFound(segment.to_owned()))?;
            let mut body = Map::new();
            body.insert(
                "@odata.context".into(),
                json!(format!(
                    "{api}/$metadata#EntityDefinitions('{logical}')/Attributes/$entity"
                )),
            );
            body.extend(metadata::attribute_json(entity, attribute));
            Ok(json_response(StatusCode::OK, &Value::Object(body)))
        }
        (Some(segment), Some(cast)) if logical_name_key(segment, "Attributes").is_some() => {
            // One attribute cast to its metadata type, e.g.
            // `Attributes(LogicalName='salesstage')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`.
            let name = logical_name_key(segment, "Attributes").unwrap_or_default();
            let cast_name = cast
                .strip_prefix("Microsoft.Dynamics.CRM.")
                .ok_or_else(|| ApiError::SegmentNotFound(cast.to_owned()))?;
            let value = metadata::attribute_list(entity, Some(cast_name), &query)?;
            let attribute = value
                .into_iter()
                .find(|item| item.get("LogicalName").and_then(Value::as_str) == Some(name))
                .ok_or_else(|| ApiError::SegmentNotFound(segment.to_owned()))?;
            let mut body = Map::new();
            body.insert(
                "@odata.context".into(),
                json!(format!(
                    "{api}/$metadata#EntityDefinitions('{logical}')/Attributes/Microsoft.Dynamics.CRM.{cast_name}/$entity"
                )),
            );
            if let Value::Object(item) = attribute {
                body.extend(item);
            }
            Ok(json_response(StatusCode::OK, &Value::Object(body)))
        }
        (Some(segment), _) => Err(ApiError::SegmentNotFound(segment.to_owned())),
    }
}
