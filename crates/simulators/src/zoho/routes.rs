//! The HTTP surface: `/crm/v8/…` records, search, deleted listings, field settings, users and
//! pipelines behind the `Zoho-oauthtoken` guard (concurrency and API credits counted there),
//! and the accounts server's `/oauth/v2/auth` and `/oauth/v2/token`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::Shared;
use super::store::{Module, Store, format_time, now, parse_time};
use crate::faults::{FaultLayerState, control_routes, fault_middleware};

type AppState = State<Arc<Shared>>;

/// Records a list may page through by `page` before `page_token` is required.
const DISCRETE_LIMIT: u64 = 2_000;
/// How long a page token lasts.
const TOKEN_LIFETIME_HOURS: i64 = 24;

/// A top-level error answer: `{code, details, message, status: "error"}`.
pub(crate) fn error(status: StatusCode, code: &str, message: &str, details: Value) -> Response {
    (
        status,
        axum::Json(
            json!({"code": code, "details": details, "message": message, "status": "error"}),
        ),
    )
        .into_response()
}

fn invalid_param(param: &str, message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_DATA",
        message,
        json!({"param": param}),
    )
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) fn build(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/crm/v8/users", get(list_users))
        .route("/crm/v8/users/{id}", get(get_user))
        .route("/crm/v8/settings/fields", get(settings_fields))
        .route("/crm/v8/settings/pipeline", get(list_pipelines))
        .route("/crm/v8/settings/pipeline/{id}", get(get_pipeline))
        .route(
            "/crm/v8/actions/watch",
            get(get_watch)
                .post(enable_watch)
                .put(update_watch)
                .delete(delete_watch),
        )
        .route("/crm/v8/{module}", get(list_records).post(create_records))
        .route(
            "/crm/v8/{module}/{id}",
            get(get_or_listing).put(update_record).delete(delete_record),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));
    let accounts = Router::new()
        .route("/oauth/v2/auth", get(authorize))
        .route("/oauth/v2/token", post(token));
    let fault_state = FaultLayerState {
        faults: shared.faults.clone(),
        log: shared.log.clone(),
        throttle: Arc::new(|retry_after| {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                "too many requests",
                json!({}),
            );
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }),
    };
    api.merge(accounts)
        .with_state(Arc::clone(&shared))
        .merge(control_routes(shared.faults.clone(), shared.log.clone()))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "INVALID_URL_PATTERN",
                "Please check if the URL trying to access is a correct one",
                json!({}),
            )
        })
        .layer(middleware::from_fn_with_state(
            fault_state,
            fault_middleware,
        ))
}

/// Releases a concurrency place when the request ends.
struct InFlight<'a>(&'a std::sync::atomic::AtomicU32);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Checks the `Zoho-oauthtoken`, holds a concurrency place, spends an API credit and stamps
/// the day's credit headers on the answer.
async fn guard(State(shared): AppState, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let Some(authorization) = authorization else {
        return error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_FAILURE",
            "Authentication failed",
            json!({}),
        );
    };
    let token = authorization
        .strip_prefix("Zoho-oauthtoken ")
        .map(str::trim);
    let accepted = token.is_some_and(|token| {
        shared.access_tokens.iter().any(|known| known == token)
            || matches!(
                shared.oauth.access_status(token),
                crate::oauth::AccessStatus::Valid { .. }
            )
    });
    if !accepted {
        return error(
            StatusCode::UNAUTHORIZED,
            "INVALID_TOKEN",
            "invalid oauth token",
            json!({}),
        );
    }
    let (limit, remaining) = shared.credits.take();
    let day_headers = |response: &mut Response, remaining: u64| {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-day-limit", HeaderValue::from(limit));
        headers.insert("x-ratelimit-day-remaining", HeaderValue::from(remaining));
    };
    let Some(remaining) = remaining else {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "API credits for the day are exhausted",
            json!({}),
        );
        day_headers(&mut response, 0);
        return response;
    };
    let in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _place = InFlight(&shared.in_flight);
    if in_flight > shared.concurrency_limit {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "concurrency limit exceeded",
            json!({"limit": shared.concurrency_limit}),
        );
        day_headers(&mut response, remaining);
        return response;
    }
    let mut response = next.run(request).await;
    day_headers(&mut response, remaining);
    response
}

/// The query's parameters (the last of a repeated name wins).
fn params(query: Option<&str>) -> Map<String, Value> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or_default())
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect()
}

fn param<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params.get(name).and_then(Value::as_str)
}

fn module_of(name: &str) -> Result<Module, Response> {
    Module::parse(name).ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_MODULE",
            "The module name given seems to be invalid",
            json!({"resource_path_index": 0}),
        )
    })
}

/// `page` and `per_page`, checked.
fn paging(params: &Map<String, Value>) -> Result<(u64, u64), Response> {
    let per_page = match param(params, "per_page") {
        None => 200,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| invalid_param("per_page", "invalid data"))?,
    };
    let page = match param(params, "page") {
        None => 1,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| invalid_param("page", "invalid data"))?,
    };
    Ok((page, per_page))
}

/// `If-Modified-Since`, when sent.
fn modified_since(headers: &HeaderMap) -> Result<Option<DateTime<Utc>>, Response> {
    let Some(value) = headers.get(header::IF_MODIFIED_SINCE) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(parse_time)
        .map(Some)
        .ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_DATA",
                "invalid data",
                json!({"header": "If-Modified-Since"}),
            )
        })
}

/// The `fields` list: required on lists, at most 50 names, each a field of the module.
fn field_list(
    store: &Store,
    module: Module,
    params: &Map<String, Value>,
    required: bool,
) -> Result<Option<Vec<String>>, Response> {
    let Some(text) = param(params, "fields") else {
        return if required {
            Err(error(
                StatusCode::BAD_REQUEST,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                json!({"param": "fields"}),
            ))
        } else {
            Ok(None)
        };
    };
    let names: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    if names.len() > 50 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            "Record count exceeded",
            json!({"param": "fields", "limit": 50}),
        ));
    }
    let defs = store.field_defs(module);
    if let Some(unknown) = names
        .iter()
        .find(|name| *name != "id" && !defs.iter().any(|def| &def.api_name == *name))
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "invalid data",
            json!({"param": "fields", "api_name": unknown}),
        ));
    }
    Ok(Some(names))
}

fn parse_id(text: &str) -> Result<u64, Response> {
    text.parse::<u64>()
        .ok()
        .filter(|_| text.len() <= 19)
        .ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_DATA",
                "the id given seems to be invalid.",
                json!({"resource_path_index": 1}),
            )
        })
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "the id given seems to be invalid.",
        json!({"id": id}),
    )
}

/// What a page token carries: where the walk stands and what it lists.
struct PageToken {
    module: String,
    filter: String,
    last_id: u64,
    page: u64,
    expires: i64,
}

impl PageToken {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}|{}|{}|{}",
            self.module, self.last_id, self.page, self.expires, self.filter
        ))
    }

    fn decode(text: &str) -> Option<PageToken> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(5, '|');
        Some(PageToken {
            module: parts.next()?.to_owned(),
            last_id: parts.next()?.parse().ok()?,
            page: parts.next()?.parse().ok()?,
            expires: parts.next()?.parse().ok()?,
            filter: parts.next()?.to_owned(),
        })
    }
}

/// Applies a queued mutation fault to `module` before a page is served.
fn apply_mutation(shared: &Shared, path: &str, module: Module) {
    let Some(crate::Mutation {
        inserts,
        deletes,
        updates,
    }) = shared.faults.take_mutation(path)
    else {
        return;
    };
    let mut store = shared.write();
    let mut rng = std::mem::replace(&mut store.rng, rand::SeedableRng::seed_from_u64(0));
    for n in 0..inserts {
        let fields = super::seed::generate(&store, module, &mut rng, 1_000_000 + n);
        let instant = now();
        store.insert(module, fields, instant, instant);
    }
    for _ in 0..deletes {
        if let Some(id) = store.random_id(module, &mut rng) {
            store.delete(module, id, now());
        }
    }
    for n in 0..updates {
        if let Some(id) = store.random_id(module, &mut rng) {
            let mut fields = Map::new();
            fields.insert(
                module.edited_field().to_owned(),
                Value::String(format!("Edited {} {n}", rand::Rng::r#gen::<u32>(&mut rng))),
            );
            store.update(module, id, fields);
        }
    }
    store.rng = rng;
}

/// `GET /crm/v8/{module}`: a page of records, by `page` (up to 2,000 records) or by
/// `page_token`, sorted by `sort_by` (`id`, `Created_Time`, `Modified_Time`).
async fn list_records(
    State(shared): AppState,
    Path(module): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request_path: axum::extract::OriginalUri,
) -> Response {
    let module = match module_of(&module) {
        Ok(module) => module,
        Err(response) => return response,
    };
    apply_mutation(&shared, request_path.path(), module);
    let params = params(query.as_deref());
    let store = shared.read();
    match list_page(&store, module, &params, &headers) {
        Ok(response) | Err(response) => response,
    }
}

fn list_page(
    store: &Store,
    module: Module,
    params: &Map<String, Value>,
    headers: &HeaderMap,
) -> Result<Response, Response> {
    let fields = field_list(store, module, params, true)?;
    let (page, per_page) = paging(params)?;
    let since = modified_since(headers)?;
    let sort_by = param(params, "sort_by").unwrap_or("id");
    if !["id", "Created_Time", "Modified_Time"].contains(&sort_by) {
        return Err(invalid_param("sort_by", "invalid data"));
    }
    let descending = match param(params, "sort_order").unwrap_or("desc") {
        "asc" => false,
        "desc" => true,
        _ => return Err(invalid_param("sort_order", "invalid data")),
    };
    let ids: Option<Vec<u64>> = match param(params, "ids") {
        None => None,
        Some(text) => {
            let ids: Option<Vec<u64>> = text.split(',').map(|id| id.trim().parse().ok()).collect();
            let ids = ids.ok_or_else(|| invalid_param("ids", "invalid data"))?;
            if ids.len() > 100 {
                return Err(invalid_param("ids", "Record count exceeded"));
            }
            Some(ids)
        }
    };
    let filter = format!(
        "{sort_by}:{descending}:{}:{}",
        param(params, "ids").unwrap_or_default(),
        since.map(format_time).unwrap_or_default()
    );
    let table = store.table(module);
    let mut rows: Vec<&super::store::Row> = table
        .rows
        .values()
        .filter(|row| ids.as_ref().is_none_or(|ids| ids.contains(&row.id)))
        .filter(|row| since.is_none_or(|since| row.modified > since))
        .collect();
    if since.is_some() && rows.is_empty() {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let key = |row: &super::store::Row| match sort_by {
        "Created_Time" => (row.created.timestamp(), row.id),
        "Modified_Time" => (row.modified.timestamp(), row.id),
        _ => (0, row.id),
    };
    rows.sort_by_key(|row| key(row));
    if descending {
        rows.reverse();
    }
    let token = param(params, "page_token");
    let (start, page_number) = match token {
        Some(text) => {
            if params.contains_key("page") {
                return Err(invalid_param(
                    "page_token",
                    "page and page_token cannot be given together",
                ));
            }
            let token = PageToken::decode(text)
                .filter(|token| token.module == module.name() && token.filter == filter)
                .ok_or_else(|| invalid_param("page_token", "invalid data"))?;
            if token.expires < Utc::now().timestamp() {
                return Err(invalid_param("page_token", "the page token has expired"));
            }
            // Keyset: the records after the last one served, wherever the table moved.
            let last = table.rows.get(&token.last_id).map(&key);
            let start = rows
                .iter()
                .position(|row| match last {
                    Some(last) if descending => key(row) < last,
                    Some(last) => key(row) > last,
                    None if descending => row.id < token.last_id,
                    None => row.id > token.last_id,
                })
                .unwrap_or(rows.len());
            (start, token.page + 1)
        }
        None => {
            if page * per_page > DISCRETE_LIMIT {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    "Cannot fetch more than 2000 records using page and per_page. Use page_token instead",
                    json!({"limit": DISCRETE_LIMIT}),
                ));
            }
            (((page - 1) * per_page) as usize, page)
        }
    };
    let end = (start + per_page as usize).min(rows.len());
    let slice = &rows[start.min(end)..end];
    if slice.is_empty() {
        return Ok(no_content());
    }
    let more = end < rows.len();
    let expires = Utc::now() + Duration::hours(TOKEN_LIFETIME_HOURS);
    let next_token = more.then(|| {
        PageToken {
            module: module.name().to_owned(),
            filter: filter.clone(),
            last_id: slice.last().map_or(0, |row| row.id),
            page: page_number,
            expires: expires.timestamp(),
        }
        .encode()
    });
    let data: Vec<Value> = slice
        .iter()
        .map(|row| store.render(module, row, fields.as_deref()))
        .collect();
    Ok(axum::Json(json!({
        "data": data,
        "info": {
            "per_page": per_page,
            "count": slice.len(),
            "page": page_number,
            "sort_by": sort_by,
            "sort_order": if descending { "desc" } else { "asc" },
            "more_records": more,
            "next_page_token": next_token,
            "previous_page_token": null,
            "page_token_expiry": next_token.as_ref().map(|_| format_time(expires)),
        }
    }))
    .into_response())
}

/// `GET /crm/v8/{module}/{id}`, and the `deleted` and `search` listings at the same depth.
async fn get_or_listing(
    State(shared): AppState,
    Path((module, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request_path: axum::extract::OriginalUri,
) -> Response {
    let module = match module_of(&module) {
        Ok(module) => module,
        Err(response) => return response,
    };
    let params = params(query.as_deref());
    if id == "search" {
        apply_mutation(&shared, request_path.path(), module);
    }
    let store = shared.read();
    let answer = match id.as_str() {
        "deleted" => deleted_page(&store, module, &params, &headers),
        "search" => search_page(&store, module, &params),
        _ => get_one(&store, module, &id, &params),
    };
    match answer {
        Ok(response) | Err(response) => response,
    }
}

fn get_one(
    store: &Store,
    module: Module,
    id: &str,
    params: &Map<String, Value>,
) -> Result<Response, Response> {
    let fields = field_list(store, module, params, false)?;
    let number = parse_id(id)?;
    let row = store
        .table(module)
        .rows
        .get(&number)
        .ok_or_else(|| not_found(id))?;
    Ok(axum::Json(json!({"data": [store.render(module, row, fields.as_deref())]})).into_response())
}

/// `GET /crm/v8/{module}/deleted`: the recycle bin, newest first, paged by `page`.
fn deleted_page(
    store: &Store,
    module: Module,
    params: &Map<String, Value>,
    headers: &HeaderMap,
) -> Result<Response, Response> {
    let (page, per_page) = paging(params)?;
    let since = modified_since(headers)?;
    match param(params, "type").unwrap_or("all") {
        "all" | "recycle" => {}
        "permanent" => return Ok(no_content()),
        _ => return Err(invalid_param("type", "invalid data")),
    }
    let mut entries: Vec<&super::store::DeletedRow> = store
        .table(module)
        .deleted
        .iter()
        .filter(|entry| since.is_none_or(|since| entry.deleted_time > since))
        .collect();
    entries.sort_by_key(|entry| std::cmp::Reverse((entry.deleted_time, entry.id)));
    let start = ((page - 1) * per_page) as usize;
    let end = (start + per_page as usize).min(entries.len());
    if start >= end {
        return Ok(no_content());
    }
    let user = store
        .users
        .first()
        .map(|user| json!({"name": user.full_name(), "id": user.id.to_string()}));
    let data: Vec<Value> = entries[start..end]
        .iter()
        .map(|entry| {
            json!({
                "deleted_by": user,
                "id": entry.id.to_string(),
                "display_name": entry.display_name,
                "type": "recycle",
                "created_by": user,
                "deleted_time": format_time(entry.deleted_time),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "data": data,
        "info": {"per_page": per_page, "count": end - start, "page": page, "more_records": end < entries.len()}
    }))
    .into_response())
}

/// One `(field:operator:value)` condition of a search criteria.
fn matches_condition(
    store: &Store,
    module: Module,
    row: &super::store::Row,
    condition: &str,
) -> Option<bool> {
    let inner = condition.trim().strip_prefix('(')?.strip_suffix(')')?;
    let mut parts = inner.splitn(3, ':');
    let (field, operator, expected) = (parts.next()?, parts.next()?, parts.next()?);
    let rendered = store.render(module, row, Some(&[field.to_owned()]));
    let actual = match &rendered[field] {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Object(map) => map
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    let expected = expected.replace("\\(", "(").replace("\\)", ")");
    let compare = || match (parse_time(&actual), parse_time(&expected)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => match (actual.parse::<f64>(), expected.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b),
            _ => Some(actual.cmp(&expected)),
        },
    };
    Some(match operator {
        "equals" => actual.eq_ignore_ascii_case(&expected),
        "not_equal" => !actual.eq_ignore_ascii_case(&expected),
        "starts_with" => actual.to_lowercase().starts_with(&expected.to_lowercase()),
        "greater_than" => compare()?.is_gt(),
        "greater_equal" => compare()?.is_ge(),
        "less_than" => compare()?.is_lt(),
        "less_equal" => compare()?.is_le(),
        _ => return None,
    })
}

/// `GET /crm/v8/{module}/search`: `email`, `phone`, `word` or `criteria`
/// (`(A:equals:x)and(B:greater_than:y)`, one combinator throughout), at most 2,000 records.
fn search_page(
    store: &Store,
    module: Module,
    params: &Map<String, Value>,
) -> Result<Response, Response> {
    let fields = field_list(store, module, params, false)?;
    let (page, per_page) = paging(params)?;
    if page * per_page > DISCRETE_LIMIT {
        return Err(invalid_param("page", "Record count exceeded"));
    }
    let table = store.table(module);
    let text = |row: &super::store::Row, key: &str| {
        row.fields
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let rows: Vec<&super::store::Row> = if let Some(email) = param(params, "email") {
        table
            .rows
            .values()
            .filter(|row| {
                ["Email", "Secondary_Email"]
                    .iter()
                    .any(|key| text(row, key).eq_ignore_ascii_case(email))
            })
            .collect()
    } else if let Some(phone) = param(params, "phone") {
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        table
            .rows
            .values()
            .filter(|row| {
                ["Phone", "Mobile", "Home_Phone", "Other_Phone"]
                    .iter()
                    .any(|key| {
                        !text(row, key).is_empty() && digits(&text(row, key)) == digits(phone)
                    })
            })
            .collect()
    } else if let Some(word) = param(params, "word") {
        let word = word.to_lowercase();
        table
            .rows
            .values()
            .filter(|row| {
                row.fields
                    .values()
                    .filter_map(Value::as_str)
                    .any(|value| value.to_lowercase().contains(&word))
            })
            .collect()
    } else if let Some(criteria) = param(params, "criteria") {
        let (combinator, conditions): (&str, Vec<&str>) = if criteria.contains(")or(") {
            ("or", criteria.split(")or(").collect())
        } else {
            ("and", criteria.split(")and(").collect())
        };
        let count = conditions.len();
        let conditions: Vec<String> = conditions
            .iter()
            .enumerate()
            .map(|(index, condition)| {
                let mut condition = (*condition).to_owned();
                if index > 0 {
                    condition.insert(0, '(');
                }
                if index + 1 < count {
                    condition.push(')');
                }
                condition
            })
            .collect();
        let mut kept = Vec::new();
        for row in table.rows.values() {
            let mut verdicts = Vec::new();
            for condition in &conditions {
                verdicts.push(
                    matches_condition(store, module, row, condition)
                        .ok_or_else(|| invalid_param("criteria", "invalid query formed"))?,
                );
            }
            let keep = if combinator == "or" {
                verdicts.iter().any(|v| *v)
            } else {
                verdicts.iter().all(|v| *v)
            };
            if keep {
                kept.push(row);
            }
        }
        kept
    } else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param": "criteria"}),
        ));
    };
    let start = ((page - 1) * per_page) as usize;
    let end = (start + per_page as usize).min(rows.len());
    if start >= end {
        return Ok(no_content());
    }
    let data: Vec<Value> = rows[start..end]
        .iter()
        .map(|row| store.render(module, row, fields.as_deref()))
        .collect();
    Ok(axum::Json(json!({
        "data": data,
        "info": {"per_page": per_page, "count": end - start, "page": page, "more_records": end < rows.len()}
    }))
    .into_response())
}

/// The `data` array of a write body.
fn write_records(body: &Bytes) -> Result<Vec<Value>, Response> {
    let refused = || {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "invalid data",
            json!({"expected_data_type": "jsonarray", "api_name": "data"}),
        )
    };
    let parsed: Value = serde_json::from_slice(body).map_err(|_| refused())?;
    let records = parsed
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(refused)?;
    if records.is_empty() {
        return Err(refused());
    }
    if records.len() > 100 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            "Record count exceeded",
            json!({"limit": 100}),
        ));
    }
    Ok(records.clone())
}

/// The answer of a write: one entry per record; 201/200 when every record was written, 400
/// when none was, 207 when some were.
fn write_answer(entries: Vec<Value>, success: StatusCode) -> Response {
    let failed = entries
        .iter()
        .filter(|entry| entry["status"] == "error")
        .count();
    let status = if failed == 0 {
        success
    } else if failed == entries.len() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::MULTI_STATUS
    };
    (status, axum::Json(json!({"data": entries}))).into_response()
}

fn record_error(error: super::store::RecordError) -> Value {
    json!({"code": error.code, "details": error.details, "message": error.message, "status": "error"})
}

fn written(store: &Store, module: Module, id: u64, message: &str) -> Value {
    let row = &store.table(module).rows[&id];
    let user = store
        .users
        .first()
        .map(|user| json!({"name": user.full_name(), "id": user.id.to_string()}));
    json!({
        "code": "SUCCESS",
        "details": {
            "Modified_Time": format_time(row.modified),
            "Modified_By": user,
            "Created_Time": format_time(row.created),
            "id": id.to_string(),
            "Created_By": user,
        },
        "message": message,
        "status": "success",
    })
}

/// `POST /crm/v8/{module}`: inserts each record of `data`.
async fn create_records(
    State(shared): AppState,
    Path(module): Path<String>,
    body: Bytes,
) -> Response {
    let module = match module_of(&module) {
        Ok(module) => module,
        Err(response) => return response,
    };
    let records = match write_records(&body) {
        Ok(records) => records,
        Err(response) => return response,
    };
    let mut store = shared.write();
    let mut entries = Vec::new();
    let mut inserted = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match store.validate_record(module, record, index, true, None) {
            Ok(mut fields) => {
                if !fields.contains_key("Owner")
                    && let Some(user) = store.users.first()
                {
                    fields.insert("Owner".into(), user.minified());
                }
                if module == Module::Deals
                    && !fields.contains_key("Probability")
                    && let Some(probability) = store.stage_probability(&fields)
                {
                    fields.insert("Probability".into(), json!(probability));
                }
                let instant = now();
                let id = store.insert(module, fields, instant, instant);
                entries.push(written(&store, module, id, "record added"));
                inserted.push(id.to_string());
            }
            Err(error) => entries.push(record_error(error)),
        }
    }
    drop(store);
    shared.notify(module, &inserted, "insert");
    write_answer(entries, StatusCode::CREATED)
}

/// `PUT /crm/v8/{module}/{id}`: updates the fields given.
async fn update_record(
    State(shared): AppState,
    Path((module, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let module = match module_of(&module) {
        Ok(module) => module,
        Err(response) => return response,
    };
    let number = match parse_id(&id) {
        Ok(number) => number,
        Err(response) => return response,
    };
    let records = match write_records(&body) {
        Ok(records) => records,
        Err(response) => return response,
    };
    let mut store = shared.write();
    let Some(current) = store
        .table(module)
        .rows
        .get(&number)
        .map(|row| row.fields.clone())
    else {
        return not_found(&id);
    };
    let mut updated = false;
    let entry = match store.validate_record(module, &records[0], 0, false, Some(&current)) {
        Ok(fields) => {
            store.update(module, number, fields);
            updated = true;
            written(&store, module, number, "record updated")
        }
        Err(error) => record_error(error),
    };
    drop(store);
    if updated {
        shared.notify(module, &[id], "update");
    }
    write_answer(vec![entry], StatusCode::OK)
}

/// `DELETE /crm/v8/{module}/{id}`: moves the record to the recycle bin.
async fn delete_record(
    State(shared): AppState,
    Path((module, id)): Path<(String, String)>,
) -> Response {
    let module = match module_of(&module) {
        Ok(module) => module,
        Err(response) => return response,
    };
    let number = match parse_id(&id) {
        Ok(number) => number,
        Err(response) => return response,
    };
    let mut store = shared.write();
    if !store.delete(module, number, now()) {
        return not_found(&id);
    }
    drop(store);
    shared.notify(module, std::slice::from_ref(&id), "delete");
    write_answer(
        vec![
            json!({"code": "SUCCESS", "details": {"id": id}, "message": "record deleted", "status": "success"}),
        ],
        StatusCode::OK,
    )
}

/// `GET /crm/v8/settings/fields?module=`.
async fn settings_fields(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    let params = params(query.as_deref());
    let Some(name) = param(&params, "module") else {
        return error(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param": "module"}),
        );
    };
    let module = match module_of(name) {
        Ok(module) => module,
        Err(response) => return response,
    };
    let store = shared.read();
    let fields: Vec<Value> = store
        .field_defs(module)
        .iter()
        .map(|def| {
            let options: Vec<Value> = if def.api_name == "Stage" {
                store
                    .pipelines
                    .iter()
                    .flat_map(|pipeline| &pipeline.stages)
                    .enumerate()
                    .map(|(index, stage)| pick_value(stage.name, Some(stage.id), index))
                    .collect()
            } else if def.api_name == "Pipeline" {
                store
                    .pipelines
                    .iter()
                    .enumerate()
                    .map(|(index, pipeline)| pick_value(pipeline.name, Some(pipeline.id), index))
                    .collect()
            } else {
                def.options
                    .iter()
                    .enumerate()
                    .map(|(index, option)| pick_value(option, None, index))
                    .collect()
            };
            json!({
                "api_name": def.api_name,
                "id": def.id.to_string(),
                "field_label": def.label,
                "display_label": def.label,
                "data_type": def.data_type,
                "json_type": match def.data_type {
                    "integer" | "currency" | "double" => "double",
                    "boolean" => "boolean",
                    "lookup" | "ownerlookup" => "jsonobject",
                    "multiselectlookup" | "multiselectpicklist" => "jsonarray",
                    _ => "string",
                },
                "custom_field": def.custom,
                "read_only": def.read_only,
                "field_read_only": def.read_only,
                "system_mandatory": def.mandatory,
                "visible": true,
                "length": if def.data_type == "textarea" { 32000 } else { 255 },
                "pick_list_values": options,
                "lookup": def.lookup.map_or_else(|| json!({}), |module| json!({
                    "module": {"api_name": module.name(), "id": module.name()},
                    "query_details": {},
                    "revalidate_filter_during_edit": false,
                    "show_fields": [],
                })),
            })
        })
        .collect();
    axum::Json(json!({"fields": fields})).into_response()
}

/// One value of a picklist, as field settings list it.
fn pick_value(value: &str, id: Option<u64>, index: usize) -> Value {
    json!({
        "display_value": value,
        "actual_value": value,
        "id": id.map_or_else(|| format!("{}", 5_725_767_000_000_300_000_u64 + index as u64), |id| id.to_string()),
        "sequence_number": index + 1,
        "type": "used",
        "colour_code": null,
    })
}

fn render_user(user: &super::store::User) -> Value {
    json!({
        "id": user.id.to_string(),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": user.full_name(),
        "email": user.email,
        "status": if user.active { "active" } else { "disabled" },
        "role": {"name": user.role, "id": "5725767000000026005"},
        "profile": {"name": "Administrator", "id": "5725767000000026011"},
        "created_time": format_time(user.created),
        "Modified_Time": format_time(user.created),
        "confirm": true,
        "time_zone": "Etc/UTC",
    })
}

/// `GET /crm/v8/users?type=AllUsers|ActiveUsers|DeactiveUsers`.
async fn list_users(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    let params = params(query.as_deref());
    let (page, per_page) = match paging(&params) {
        Ok(paging) => paging,
        Err(response) => return response,
    };
    let keep: fn(&super::store::User) -> bool = match param(&params, "type").unwrap_or("AllUsers") {
        "AllUsers" => |_| true,
        "ActiveUsers" => |user| user.active,
        "DeactiveUsers" => |user| !user.active,
        _ => return invalid_param("type", "invalid data"),
    };
    let store = shared.read();
    let users: Vec<&super::store::User> = store.users.iter().filter(|user| keep(user)).collect();
    let start = ((page - 1) * per_page) as usize;
    let end = (start + per_page as usize).min(users.len());
    if start >= end {
        return no_content();
    }
    axum::Json(json!({
        "users": users[start..end].iter().map(|user| render_user(user)).collect::<Vec<_>>(),
        "info": {"per_page": per_page, "count": end - start, "page": page, "more_records": end < users.len()}
    }))
    .into_response()
}

async fn get_user(State(shared): AppState, Path(id): Path<String>) -> Response {
    if let Err(response) = parse_id(&id) {
        return response;
    }
    let store = shared.read();
    match store.user(&id) {
        Some(user) => axum::Json(json!({"users": [render_user(user)]})).into_response(),
        None => not_found(&id),
    }
}

fn render_pipeline(pipeline: &super::store::Pipeline) -> Value {
    json!({
        "id": pipeline.id.to_string(),
        "display_value": pipeline.name,
        "actual_value": pipeline.name,
        "default": pipeline.default,
        "child_available": false,
        "parent": null,
        "maps": pipeline.stages.iter().enumerate().map(|(index, stage)| json!({
            "id": stage.id.to_string(),
            "display_value": stage.name,
            "actual_value": stage.name,
            "sequence_number": index + 1,
            "probability": stage.probability,
            "forecast_type": stage.forecast_type,
            "forecast_category": {"name": if stage.forecast_type == "Open" { "Pipeline" } else { stage.forecast_type }},
        })).collect::<Vec<_>>(),
    })
}

/// `GET /crm/v8/settings/pipeline` (`layout_id` optional here: the standard Deals layout).
async fn list_pipelines(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    let params = params(query.as_deref());
    let store = shared.read();
    if let Some(layout) = param(&params, "layout_id")
        && layout != store.layout_id.to_string()
    {
        return invalid_param("layout_id", "invalid data");
    }
    axum::Json(json!({"pipeline": store.pipelines.iter().map(render_pipeline).collect::<Vec<_>>()}))
        .into_response()
}

async fn get_pipeline(State(shared): AppState, Path(id): Path<String>) -> Response {
    if let Err(response) = parse_id(&id) {
        return response;
    }
    let store = shared.read();
    match store
        .pipelines
        .iter()
        .find(|pipeline| pipeline.id.to_string() == id)
    {
        Some(pipeline) => {
            axum::Json(json!({"pipeline": [render_pipeline(pipeline)]})).into_response()
        }
        None => not_found(&id),
    }
}

/// `GET /oauth/v2/auth`: the user approves at once; the redirect names the code, the data
/// centre (`location`) and its accounts server (`accounts-server`).
async fn authorize(
    State(shared): AppState,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params = params(query.as_deref());
    let (Some(client_id), Some(redirect_uri)) =
        (param(&params, "client_id"), param(&params, "redirect_uri"))
    else {
        return (StatusCode::BAD_REQUEST, "invalid_request").into_response();
    };
    if !shared.oauth.client_known(client_id) {
        return (StatusCode::BAD_REQUEST, "invalid_client").into_response();
    }
    let scope = param(&params, "scope").unwrap_or_default();
    let pkce = match (
        param(&params, "code_challenge"),
        param(&params, "code_challenge_method"),
    ) {
        (Some(challenge), Some("S256")) => Some(crate::oauth::Pkce::S256(challenge.to_owned())),
        (Some(challenge), _) => Some(crate::oauth::Pkce::Plain(challenge.to_owned())),
        _ => None,
    };
    let code = shared
        .oauth
        .issue_code(client_id, redirect_uri, scope, pkce);
    let mut target = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return (StatusCode::BAD_REQUEST, "invalid_redirect_uri").into_response(),
    };
    {
        let mut pairs = target.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = param(&params, "state") {
            pairs.append_pair("state", state);
        }
        pairs.append_pair("location", &shared.location);
        pairs.append_pair("accounts-server", &origin(&headers));
    }
    Redirect::to(target.as_str()).into_response()
}

/// `http://host:port` of the simulator, as the request reached it.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn token_error(error: &str, description: Option<&str>) -> Response {
    let mut body = json!({"error": error});
    if let Some(description) = description {
        body["error_description"] = json!(description);
    }
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// `POST /oauth/v2/token`: `authorization_code` and `refresh_token` grants, client
/// credentials in the form. A refresh token gives at most 10 access tokens in 10 minutes.
async fn token(State(shared): AppState, headers: HeaderMap, body: Bytes) -> Response {
    let form: Map<String, Value> = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    let (Some(client_id), Some(secret)) =
        (param(&form, "client_id"), param(&form, "client_secret"))
    else {
        return token_error("invalid_client", None);
    };
    if shared.oauth.authenticate_client(client_id, secret).is_err() {
        return token_error("invalid_client", None);
    }
    let refresh = param(&form, "grant_type") == Some("refresh_token");
    shared.oauth.count_token_request(refresh);
    let issued = match param(&form, "grant_type") {
        Some("authorization_code") => {
            let Some(code) = param(&form, "code") else {
                return token_error("invalid_code", None);
            };
            shared.oauth.exchange_code(
                client_id,
                code,
                param(&form, "redirect_uri"),
                param(&form, "code_verifier"),
            )
        }
        Some("refresh_token") => {
            let Some(refresh_token) = param(&form, "refresh_token") else {
                return token_error("invalid_code", None);
            };
            if !shared.refresh_allowed(refresh_token) {
                return token_error(
                    "Access Denied",
                    Some(
                        "You have made too many requests continuously. Please try again after some time.",
                    ),
                );
            }
            shared.oauth.refresh(client_id, refresh_token)
        }
        _ => return token_error("unsupported_grant_type", None),
    };
    match issued {
        Ok(issued) => {
            let mut answer = json!({
                "access_token": issued.access_token,
                "scope": issued.scope,
                // One server stands for the accounts server and the API host.
                "api_domain": origin(&headers),
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
            });
            if let Some(refresh_token) = issued.refresh_token {
                answer["refresh_token"] = json!(refresh_token);
            }
            axum::Json(answer).into_response()
        }
        Err(_) => token_error("invalid_code", None),
    }
}

/// A `watch` error entry (the Notification API wraps its errors in `watch`).
fn watch_error(status: StatusCode, code: &str, message: &str, details: Value) -> Response {
    (
        status,
        axum::Json(json!({"watch": [
            {"code": code, "details": details, "message": message, "status": "error"}
        ]})),
    )
        .into_response()
}

/// The channel `{watch: [ … ]}` asks for, checked as Zoho does.
fn read_watch(body: &[u8], status: StatusCode) -> Result<super::Watch, Response> {
    let parsed: Value = serde_json::from_slice(body)
        .map_err(|_| watch_error(status, "INVALID_DATA", "the body is not JSON", json!({})))?;
    let Some(entry) = parsed
        .get("watch")
        .and_then(Value::as_array)
        .and_then(|entries| entries.first())
        .and_then(Value::as_object)
    else {
        return Err(watch_error(
            status,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": "watch"}),
        ));
    };
    let missing = |name: &str| {
        watch_error(
            status,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": name}),
        )
    };
    let invalid = |name: &str, message: &str| {
        watch_error(status, "INVALID_DATA", message, json!({"api_name": name}))
    };
    let channel_id = match entry.get("channel_id") {
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err(invalid("channel_id", "invalid data")),
        None => return Err(missing("channel_id")),
    };
    if channel_id.is_empty() || !channel_id.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid("channel_id", "invalid data"));
    }
    let events: Vec<String> = match entry.get("events").and_then(Value::as_array) {
        Some(events) if !events.is_empty() => events
            .iter()
            .map(|event| event.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("events", "invalid data"))?,
        _ => return Err(missing("events")),
    };
    for event in &events {
        let valid = event.split_once('.').is_some_and(|(module, action)| {
            Module::parse(module).is_some()
                && matches!(action, "all" | "create" | "edit" | "delete")
        });
        if !valid {
            return Err(invalid("events", "invalid data"));
        }
    }
    let Some(notify_url) = entry.get("notify_url").and_then(Value::as_str) else {
        return Err(missing("notify_url"));
    };
    if url::Url::parse(notify_url).is_err() {
        return Err(invalid("notify_url", "invalid data"));
    }
    let token = match entry.get("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) if token.chars().count() <= 50 => Some(token.clone()),
        Some(_) => return Err(invalid("token", "the token is at most 50 characters")),
    };
    let current = Utc::now();
    let channel_expiry = match entry.get("channel_expiry") {
        None | Some(Value::Null) => current + Duration::days(1),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text)
            .map_err(|_| invalid("channel_expiry", "invalid data"))?
            .with_timezone(&Utc),
        Some(_) => return Err(invalid("channel_expiry", "invalid data")),
    };
    if channel_expiry <= current || channel_expiry > current + Duration::days(7) {
        return Err(invalid(
            "channel_expiry",
            "the expiry is in the future and at most a week away",
        ));
    }
    Ok(super::Watch {
        channel_id,
        events,
        notify_url: notify_url.to_owned(),
        token,
        channel_expiry,
        updates: 0,
    })
}

fn watch_success(status: StatusCode, watch: &super::Watch, message: &str) -> Response {
    let events: Vec<Value> = watch
        .events
        .iter()
        .map(|event| {
            let module = event.split_once('.').map_or(event.as_str(), |(module, _)| module);
            json!({
                "channel_expiry": watch.channel_expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                "resource_uri": format!("https://www.zohoapis.com/crm/v8/{module}"),
                "resource_id": "7328395000000002175",
                "resource_name": module,
                "channel_id": watch.channel_id,
                "notification_condition": [],
            })
        })
        .collect();
    (
        status,
        axum::Json(json!({"watch": [{
            "code": "SUCCESS",
            "details": {"events": events},
            "message": message,
            "status": "success",
        }]})),
    )
        .into_response()
}

fn subscribe(shared: &Shared, watch: &super::Watch) {
    shared.webhooks.subscribe(crate::webhooks::Subscription {
        url: watch.notify_url.clone(),
        secret: watch.token.clone().unwrap_or_default(),
        username: None,
    });
}

/// `GET /crm/v8/actions/watch`: the channel, or 204.
async fn get_watch(State(shared): AppState) -> Response {
    let Some(watch) = shared.watch.lock().expect("watch poisoned").clone() else {
        return no_content();
    };
    (
        StatusCode::OK,
        axum::Json(json!({
            "watch": [{
                "channel_id": watch.channel_id,
                "events": watch.events,
                "notify_url": watch.notify_url,
                "channel_expiry": watch.channel_expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                "notify_on_related_action": false,
                "return_affected_field_values": false,
                "token": watch.token,
            }],
            "info": {"per_page": 200, "page": 1, "count": 1, "more_records": false},
        })),
    )
        .into_response()
}

/// `POST /crm/v8/actions/watch`: enables the channel (its errors answer 202, as described).
async fn enable_watch(State(shared): AppState, body: Bytes) -> Response {
    let watch = match read_watch(&body, StatusCode::ACCEPTED) {
        Ok(watch) => watch,
        Err(response) => return response,
    };
    subscribe(&shared, &watch);
    *shared.watch.lock().expect("watch poisoned") = Some(watch.clone());
    watch_success(
        StatusCode::CREATED,
        &watch,
        "Successfully subscribed for actions-watch of the given module",
    )
}

/// `PUT /crm/v8/actions/watch`: updates the channel (its expiry, events, URL or token).
async fn update_watch(State(shared): AppState, body: Bytes) -> Response {
    let mut watch = match read_watch(&body, StatusCode::BAD_REQUEST) {
        Ok(watch) => watch,
        Err(response) => return response,
    };
    let mut current = shared.watch.lock().expect("watch poisoned");
    let Some(existing) = current
        .as_ref()
        .filter(|existing| existing.channel_id == watch.channel_id)
    else {
        return watch_error(
            StatusCode::BAD_REQUEST,
            "NOT_SUBSCRIBED",
            "the channel is not subscribed",
            json!({"channel_id": watch.channel_id}),
        );
    };
    watch.updates = existing.updates + 1;
    subscribe(&shared, &watch);
    *current = Some(watch.clone());
    drop(current);
    watch_success(
        StatusCode::OK,
        &watch,
        "Successfully updated the subscribe details",
    )
}

/// `DELETE /crm/v8/actions/watch?channel_ids=`: removes the channel.
async fn delete_watch(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    let params = params(query.as_deref());
    let Some(ids) = param(&params, "channel_ids") else {
        return error(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param": "channel_ids"}),
        );
    };
    let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
    let mut current = shared.watch.lock().expect("watch poisoned");
    let Some(watch) = current
        .as_ref()
        .filter(|watch| ids.contains(&watch.channel_id.as_str()))
        .cloned()
    else {
        return watch_error(
            StatusCode::BAD_REQUEST,
            "NOT_SUBSCRIBED",
            "the channel is not subscribed",
            json!({"channel_ids": ids}),
        );
    };
    *current = None;
    drop(current);
    shared.webhooks.unsubscribe();
    watch_success(
        StatusCode::OK,
        &watch,
        "Successfully un-subscribed from actions-watch",
    )
}
