//! The HTTP surface: routes, the auth/version/limit guard, and one handler per endpoint.
//!
//! Handlers take the data lock only inside synchronous sections and never across an await.
//! Every API response carries `Sforce-Limit-Info`; `GET /services/data/` needs no token and
//! is not counted, as in Salesforce.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde_json::{Map, Value, json};

use super::Shared;
use super::bulk;
use super::error::ApiError;
use super::ids;
use super::oauth;
use super::query::{self, Cursor, Plan, Shape};
use super::seed;
use super::soql;
use super::store::{self, Val, format_datetime, now, parse_datetime};
use crate::faults::{FaultLayerState, control_routes, fault_middleware};

const MIN_VERSION: u32 = 50;
const MAX_VERSION: u32 = 62;
const LIMIT_HEADER: &str = "sforce-limit-info";

type AppState = State<Arc<Shared>>;

/// Adds `path` and `path/` for the same handler.
fn both(
    router: Router<Arc<Shared>>,
    path: &str,
    method_router: MethodRouter<Arc<Shared>>,
) -> Router<Arc<Shared>> {
    router
        .route(path, method_router.clone())
        .route(&format!("{path}/"), method_router)
}

pub(crate) fn build(shared: Arc<Shared>) -> Router {
    let base = "/services/data/{version}";
    let mut api: Router<Arc<Shared>> = Router::new();
    api = both(api, base, get(resources));
    api = both(api, &format!("{base}/sobjects"), get(describe_global));
    api = both(
        api,
        &format!("{base}/sobjects/{{sobject}}"),
        get(sobject_info).post(create),
    );
    api = both(
        api,
        &format!("{base}/sobjects/{{sobject}}/describe"),
        get(describe),
    );
    api = both(
        api,
        &format!("{base}/sobjects/{{sobject}}/deleted"),
        get(deleted),
    );
    api = both(
        api,
        &format!("{base}/sobjects/{{sobject}}/updated"),
        get(updated),
    );
    api = both(
        api,
        &format!("{base}/sobjects/{{sobject}}/{{id}}"),
        get(get_record).patch(update_record).delete(delete_record),
    );
    api = both(api, &format!("{base}/query"), get(query_first));
    api = both(api, &format!("{base}/queryAll"), get(query_all_first));
    api = api.route(&format!("{base}/query/{{locator}}"), get(query_more));
    api = api.route(&format!("{base}/queryAll/{{locator}}"), get(query_more));
    api = both(api, &format!("{base}/limits"), get(limits));
    api = both(
        api,
        &format!("{base}/jobs/query"),
        get(bulk::list).post(bulk::create),
    );
    api = both(
        api,
        &format!("{base}/jobs/query/{{id}}"),
        get(bulk::status).patch(bulk::abort).delete(bulk::delete),
    );
    api = both(
        api,
        &format!("{base}/jobs/query/{{id}}/results"),
        get(bulk::results),
    );
    let api = api.route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));

    let throttle_shared = Arc::clone(&shared);
    let fault_state = FaultLayerState {
        faults: shared.faults.clone(),
        log: shared.log.clone(),
        throttle: Arc::new(move |_retry_after| {
            let mut response = ApiError::RequestLimitExceeded.into_response();
            add_limit_header(&throttle_shared, &mut response);
            response
        }),
    };
    Router::new()
        .route("/services/data", get(versions))
        .route("/services/data/", get(versions))
        .route("/services/oauth2/authorize", get(oauth::authorize))
        .route("/services/oauth2/token", axum::routing::post(oauth::token))
        .route(
            "/services/oauth2/revoke",
            axum::routing::post(oauth::revoke).get(oauth::revoke),
        )
        .merge(api)
        .with_state(Arc::clone(&shared))
        .merge(control_routes(shared.faults.clone(), shared.log.clone()))
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn_with_state(
            fault_state,
            fault_middleware,
        ))
}

fn add_limit_header(shared: &Shared, response: &mut Response) {
    let used = shared.api_used.load(Ordering::SeqCst);
    let limit = shared.api_limit.load(Ordering::SeqCst);
    if let Ok(value) = HeaderValue::from_str(&format!("api-usage={used}/{limit}")) {
        response.headers_mut().insert(LIMIT_HEADER, value);
    }
}

fn version_supported(version: &str) -> bool {
    version
        .strip_prefix('v')
        .and_then(|v| v.strip_suffix(".0"))
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|major| (MIN_VERSION..=MAX_VERSION).contains(&major))
}

/// Checks the token, the version and the daily allowance, counts the call, and stamps
/// `Sforce-Limit-Info` on the answer.
async fn guard(State(shared): AppState, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("OAuth "))
        })
        .map(str::trim)
        .map(str::to_owned);
    let authorised = token.is_some_and(|t| shared.token_accepted(&t));
    if !authorised {
        return ApiError::InvalidSession.into_response();
    }
    let version = request
        .uri()
        .path()
        .split('/')
        .nth(3)
        .unwrap_or("")
        .to_owned();
    if !version_supported(&version) {
        return ApiError::NotFound.into_response();
    }
    let limit = shared.api_limit.load(Ordering::SeqCst);
    let counted = shared
        .api_used
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
            (used < limit).then_some(used + 1)
        })
        .is_ok();
    if !counted {
        let mut response = ApiError::RequestLimitExceeded.into_response();
        add_limit_header(&shared, &mut response);
        return response;
    }
    let method = request.method().clone();
    let mut response = next.run(request).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("GET")
            .replace(' ', "");
        response = ApiError::MethodNotAllowed {
            method: method.to_string(),
            allowed,
        }
        .into_response();
    }
    add_limit_header(&shared, &mut response);
    response
}

async fn versions() -> Json<Value> {
    const RELEASES: [&str; 3] = ["Spring", "Summer", "Winter"];
    let list: Vec<Value> = (MIN_VERSION..=MAX_VERSION)
        .map(|major| {
            // v50.0 is Winter '21; three releases a year.
            let step = major - MIN_VERSION;
            let release = RELEASES[((step + 2) % 3) as usize];
            let year = 21 + step / 3;
            json!({
                "label": format!("{release} '{year}"),
                "url": format!("/services/data/v{major}.0"),
                "version": format!("{major}.0"),
            })
        })
        .collect();
    Json(Value::Array(list))
}

async fn resources(Path(version): Path<String>) -> Json<Value> {
    let base = format!("/services/data/{version}");
    Json(json!({
        "limits": format!("{base}/limits"),
        "jobs": format!("{base}/jobs"),
        "query": format!("{base}/query"),
        "queryAll": format!("{base}/queryAll"),
        "sobjects": format!("{base}/sobjects"),
    }))
}

/// Whether `If-Modified-Since` (an HTTP date) is at or after `changed_at`: answer 304.
fn not_modified(headers: &HeaderMap, changed_at: DateTime<Utc>) -> bool {
    headers
        .get("if-modified-since")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
        .is_some_and(|since| changed_at <= since.with_timezone(&Utc))
}

async fn describe_global(
    State(shared): AppState,
    Path(version): Path<String>,
    headers: HeaderMap,
) -> Response {
    let db = shared.read();
    let changed_at = db.tables.iter().map(|t| t.schema_changed_at).max();
    if changed_at.is_some_and(|at| not_modified(&headers, at)) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let sobjects: Vec<Value> = db
        .tables
        .iter()
        .map(|t| t.schema.describe_global_entry(&version))
        .collect();
    Json(json!({ "encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects })).into_response()
}

fn table_index(shared: &Shared, sobject: &str) -> Result<usize, ApiError> {
    shared.read().table_index(sobject).ok_or(ApiError::NotFound)
}

async fn describe(
    State(shared): AppState,
    Path((version, sobject)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let db = shared.read();
    let table = db.table(&sobject).ok_or(ApiError::NotFound)?;
    if not_modified(&headers, table.schema_changed_at) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    Ok(Json(table.schema.describe(&version)).into_response())
}

async fn sobject_info(
    State(shared): AppState,
    Path((version, sobject)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let db = shared.read();
    let table = db.table(&sobject).ok_or(ApiError::NotFound)?;
    let name_idx = table.schema.field_index("Name");
    let recent: Vec<Value> = (0..table.rows.len())
        .rev()
        .filter(|&idx| table.live(idx))
        .take(10)
        .map(|idx| {
            let row = &table.rows[idx];
            let mut item =
                json!({ "attributes": table.attributes(&row.id, &version), "Id": row.id });
            if let (Some(name_idx), Value::Object(map)) = (name_idx, &mut item) {
                map.insert(
                    "Name".into(),
                    row.get(name_idx)
                        .to_json(table.schema.fields[name_idx].field_type),
                );
            }
            item
        })
        .collect();
    Ok(Json(json!({
        "objectDescribe": table.schema.describe_global_entry(&version),
        "recentItems": recent,
    })))
}

/// Parses a write body: a JSON object, else JSON_PARSER_ERROR as Salesforce words it.
fn parse_body(body: &Bytes, sobject: &str) -> Result<(Map<String, Value>, String), ApiError> {
    let raw = String::from_utf8_lossy(body).into_owned();
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok((map, raw)),
        Ok(other) => Err(ApiError::JsonParser(format!(
            "Cannot deserialize instance of {sobject} from {} value or request may be missing a required field at [line:1, column:1]",
            if other.is_array() {
                "START_ARRAY"
            } else {
                "VALUE_STRING"
            }
        ))),
        Err(error) => Err(ApiError::JsonParser(format!(
            "Unexpected character in JSON: {} at [line:{}, column:{}]",
            error,
            error.line(),
            error.column()
        ))),
    }
}

async fn create(
    State(shared): AppState,
    Path((_version, sobject)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let table_idx = table_index(&shared, &sobject)?;
    let mut db = shared.write();
    let schema = &db.tables[table_idx].schema;
    if !schema.createable {
        return Err(ApiError::InvalidTypeForOperation {
            action: "inserted",
            sobject: schema.name.to_owned(),
        });
    }
    let name = schema.name;
    let (map, raw) = parse_body(&body, name)?;
    let id = db.insert(table_idx, &map, &raw)?;
    drop(db);
    super::emit_outbound_message(&shared.webhooks, name, &id);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "success": true, "errors": [] })),
    )
        .into_response())
}

/// Finds a record of `table_idx` by the id in the path; 404 as Salesforce answers.
fn locate(db: &super::store::Db, table_idx: usize, id: &str) -> Result<usize, ApiError> {
    let id18 = ids::normalize(id).ok_or_else(|| ApiError::BadIdInPath(id.to_owned()))?;
    db.tables[table_idx]
        .position(&id18)
        .ok_or(ApiError::NotFound)
}

async fn get_record(
    State(shared): AppState,
    Path((version, sobject, id)): Path<(String, String, String)>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let db = shared.read();
    let table_idx = db.table_index(&sobject).ok_or(ApiError::NotFound)?;
    let row_idx = locate(&db, table_idx, &id)?;
    let table = &db.tables[table_idx];
    if !table.live(row_idx) {
        return Err(ApiError::NotFound);
    }
    let params = query_params(raw_query.as_deref());
    let fields = match params.get("fields") {
        Some(list) => Some(
            list.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| {
                    table.schema.field_index(name).ok_or_else(|| {
                        ApiError::InvalidQueryField(format!(
                            "No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                            table.schema.name
                        ))
                    })
                })
                .collect::<Result<Vec<usize>, ApiError>>()?,
        ),
        None => None,
    };
    Ok(Json(table.record_json(
        row_idx,
        &version,
        fields.as_deref(),
    )))
}

async fn update_record(
    State(shared): AppState,
    Path((_version, sobject, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let table_idx = table_index(&shared, &sobject)?;
    let mut db = shared.write();
    let schema = &db.tables[table_idx].schema;
    if !schema.updateable {
        return Err(ApiError::InvalidTypeForOperation {
            action: "updated",
            sobject: schema.name.to_owned(),
        });
    }
    let name = schema.name;
    let row_idx = locate(&db, table_idx, &id)?;
    if !db.tables[table_idx].live(row_idx) {
        return Err(ApiError::EntityIsDeleted);
    }
    let (map, raw) = parse_body(&body, name)?;
    db.update(table_idx, row_idx, &map, &raw)?;
    drop(db);
    if let Some(id18) = ids::normalize(&id) {
        super::emit_outbound_message(&shared.webhooks, name, &id18);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_record(
    State(shared): AppState,
    Path((_version, sobject, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let table_idx = table_index(&shared, &sobject)?;
    let mut db = shared.write();
    let schema = &db.tables[table_idx].schema;
    if !schema.deletable {
        return Err(ApiError::InvalidTypeForOperation {
            action: "deleted",
            sobject: schema.name.to_owned(),
        });
    }
    let row_idx = locate(&db, table_idx, &id)?;
    if !db.tables[table_idx].live(row_idx) {
        return Err(ApiError::EntityIsDeleted);
    }
    db.delete(table_idx, row_idx, now());
    Ok(StatusCode::NO_CONTENT)
}

fn query_params(raw: Option<&str>) -> HashMap<String, String> {
    raw.and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// How far back `/deleted` reaches: "no more than 15 days previous to the day the call is
/// executed" (Salesforce's REST reference, sObject Get Deleted).
const DELETED_REACH_DAYS: i64 = 15;
/// How far back `/updated` reaches (30 days).
const UPDATED_REACH_DAYS: i64 = 30;

/// The earliest instant `/deleted` still answers for when the org's clock reads `current`:
/// midnight UTC of the day 15 days before.
fn earliest_deleted(current: DateTime<Utc>) -> DateTime<Utc> {
    (current - Duration::days(DELETED_REACH_DAYS))
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
}

/// The replication window of `/deleted` and `/updated`: `(start, latestDateCovered)`. `start`
/// must precede `end` by more than a minute and lie within the feed's reach of the org's clock
/// (`current`); otherwise the answer is `INVALID_REPLICATION_DATE`.
fn replication_window(
    raw_query: Option<&str>,
    current: DateTime<Utc>,
    earliest: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let params = query_params(raw_query);
    let start_text = params
        .get("start")
        .ok_or(ApiError::MissingArgument("start"))?;
    let end_text = params.get("end").ok_or(ApiError::MissingArgument("end"))?;
    let start = parse_datetime(start_text).ok_or_else(|| {
        ApiError::InvalidReplicationDate(format!("unable to parse start date: {start_text}"))
    })?;
    let end = parse_datetime(end_text).ok_or_else(|| {
        ApiError::InvalidReplicationDate(format!("unable to parse end date: {end_text}"))
    })?;
    if end - start <= Duration::minutes(1) {
        return Err(ApiError::InvalidReplicationDate(
            "endDate must chronologically follow the startDate by more than one minute".into(),
        ));
    }
    if start < earliest {
        return Err(ApiError::InvalidReplicationDate(format!(
            "startDate is before the earliest date available ({})",
            format_datetime(earliest)
        )));
    }
    Ok((start, end.min(current)))
}

async fn deleted(
    State(shared): AppState,
    Path((_version, sobject)): Path<(String, String)>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let current = shared.replication_now();
    let earliest = earliest_deleted(current);
    let (start, covered) = replication_window(raw_query.as_deref(), current, earliest)?;
    let db = shared.read();
    let table = db.table(&sobject).ok_or(ApiError::NotFound)?;
    let records: Vec<Value> = table
        .rows
        .iter()
        .filter_map(|row| {
            row.deleted_at
                .filter(|at| *at >= start && *at <= covered)
                .map(|at| (row, at))
        })
        .map(|(row, at)| json!({ "id": row.id, "deletedDate": format_datetime(at) }))
        .collect();
    Ok(Json(json!({
        "deletedRecords": records,
        "earliestDateAvailable": format_datetime(earliest),
        "latestDateCovered": format_datetime(covered),
    })))
}

async fn updated(
    State(shared): AppState,
    Path((_version, sobject)): Path<(String, String)>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let current = shared.replication_now();
    let earliest = current - Duration::days(UPDATED_REACH_DAYS);
    let (start, covered) = replication_window(raw_query.as_deref(), current, earliest)?;
    let db = shared.read();
    let table = db.table(&sobject).ok_or(ApiError::NotFound)?;
    let stamp_idx = table.schema.idx("SystemModstamp");
    let ids: Vec<&str> = (0..table.rows.len())
        .filter(|&idx| table.live(idx))
        .filter(|&idx| match table.rows[idx].get(stamp_idx) {
            super::store::Val::DateTime(at) => *at >= start && *at <= covered,
            _ => false,
        })
        .map(|idx| table.rows[idx].id.as_str())
        .collect();
    Ok(Json(
        json!({ "ids": ids, "latestDateCovered": format_datetime(covered) }),
    ))
}

async fn limits(State(shared): AppState) -> Json<Value> {
    let used = shared.api_used.load(Ordering::SeqCst);
    let limit = shared.api_limit.load(Ordering::SeqCst);
    let (jobs_max, jobs_created) = {
        let jobs = shared.bulk.lock().expect("bulk jobs poisoned");
        (jobs.daily_limit, jobs.created)
    };
    Json(json!({
        "DailyApiRequests": { "Max": limit, "Remaining": limit.saturating_sub(used) },
        "DailyBulkV2QueryJobs": { "Max": jobs_max, "Remaining": jobs_max.saturating_sub(jobs_created) },
        "DataStorageMB": { "Max": 1024, "Remaining": 1024 },
    }))
}

/// Inserts and deletes records of `table_idx` as a queued mutation fault asks.
fn apply_mutation(shared: &Shared, table_idx: usize, mutation: crate::Mutation) {
    let crate::Mutation {
        inserts,
        deletes,
        updates,
    } = mutation;
    let mut rng = shared.rng.lock().expect("fault rng poisoned");
    let mut db = shared.write();
    let schema = &db.tables[table_idx].schema;
    if !schema.createable || !schema.deletable {
        return;
    }
    let name = schema.name;
    let instant = now();
    for n in 0..inserts {
        seed::insert_generated(&mut db, &mut rng, name, 1_000_000 + n, instant, instant);
    }
    let table = &db.tables[table_idx];
    let mut live: Vec<usize> = (0..table.rows.len())
        .filter(|&idx| table.live(idx))
        .collect();
    for _ in 0..deletes.min(live.len()) {
        let pick = rng.gen_range(0..live.len());
        let row_idx = live.swap_remove(pick);
        db.delete(table_idx, row_idx, instant);
    }
    // An edit: a text field the unified record shows, and the modification stamps.
    let field = ["Title", "Description", "Subject", "Name"]
        .into_iter()
        .find_map(|name| db.tables[table_idx].schema.field_index(name));
    for _ in 0..updates.min(live.len()) {
        let pick = rng.gen_range(0..live.len());
        let row_idx = live.swap_remove(pick);
        let mark: u32 = rng.r#gen();
        let table = &mut db.tables[table_idx];
        let row = &mut table.rows[row_idx];
        if let Some(field) = field {
            row.set(field, Val::Text(format!("Edited {mark:08x}")));
        }
        store::touch(&table.schema, row, instant, None);
    }
}

fn batch_size(shared: &Shared, headers: &HeaderMap) -> usize {
    let requested = headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|part| part.trim().split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case("batchSize"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        })
        .map_or(2000, |n| n.clamp(200, 2000));
    requested.min(shared.max_batch_size)
}

async fn query_first(
    State(shared): AppState,
    Path(version): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    run_query(
        &shared,
        &version,
        raw_query.as_deref(),
        &headers,
        uri.path(),
        false,
    )
}

async fn query_all_first(
    State(shared): AppState,
    Path(version): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    run_query(
        &shared,
        &version,
        raw_query.as_deref(),
        &headers,
        uri.path(),
        true,
    )
}

fn run_query(
    shared: &Shared,
    version: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    path: &str,
    include_deleted: bool,
) -> Result<Json<Value>, ApiError> {
    let params = query_params(raw_query);
    let text = params
        .get("q")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::MalformedQuery("A query string has to be specified".into()))?;
    let parsed = soql::parse(text).map_err(|error| {
        ApiError::MalformedQuery(query::located(text, error.position, &error.message))
    })?;
    if let Some(mutation) = shared.faults.take_mutation(path) {
        let table_idx = shared.read().table_index(&parsed.from);
        if let Some(table_idx) = table_idx {
            apply_mutation(shared, table_idx, mutation);
        }
    }
    let batch = batch_size(shared, headers);
    let db = shared.read();
    let plan = query::plan(&db, &parsed, text)?;
    let rows = plan.run(&db, include_deleted);
    match plan.shape {
        Shape::CountOnly => {
            return Ok(Json(
                json!({ "totalSize": rows.len(), "done": true, "records": [] }),
            ));
        }
        Shape::CountAggregate => {
            return Ok(Json(json!({
                "totalSize": 1,
                "done": true,
                "records": [{ "attributes": { "type": "AggregateResult" }, "expr0": rows.len() }],
            })));
        }
        Shape::Rows => {}
    }
    let first: Vec<Value> = rows
        .iter()
        .take(batch)
        .map(|&row| plan.render(&db, row, version))
        .collect();
    drop(db);
    let total = rows.len();
    let mut body = Map::new();
    body.insert("totalSize".into(), json!(total));
    body.insert("done".into(), json!(total <= batch));
    if total > batch {
        let plan: Arc<Plan> = Arc::new(plan);
        let locator = shared
            .cursors
            .lock()
            .expect("cursor store poisoned")
            .open(Cursor {
                plan,
                rows: Arc::new(rows),
                include_deleted,
                batch_size: batch,
            });
        body.insert(
            "nextRecordsUrl".into(),
            json!(format!("/services/data/{version}/query/{locator}-{batch}")),
        );
    }
    body.insert("records".into(), Value::Array(first));
    Ok(Json(Value::Object(body)))
}

async fn query_more(
    State(shared): AppState,
    Path((version, locator)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    let (cursor_id, position) = locator
        .rsplit_once('-')
        .ok_or(ApiError::InvalidQueryLocator)?;
    let position: usize = position
        .parse()
        .map_err(|_| ApiError::InvalidQueryLocator)?;
    let cursor = shared
        .cursors
        .lock()
        .expect("cursor store poisoned")
        .get(cursor_id)
        .ok_or(ApiError::InvalidQueryLocator)?;
    if position == 0 || position > cursor.rows.len() {
        return Err(ApiError::InvalidQueryLocator);
    }
    if let Some(mutation) = shared.faults.take_mutation(uri.path()) {
        apply_mutation(&shared, cursor.plan.table, mutation);
    }
    let end = (position + cursor.batch_size).min(cursor.rows.len());
    let db = shared.read();
    let table = &db.tables[cursor.plan.table];
    let records: Vec<Value> = cursor.rows[position..end]
        .iter()
        .filter(|&&row| cursor.include_deleted || table.live(row as usize))
        .map(|&row| cursor.plan.render(&db, row, &version))
        .collect();
    drop(db);
    let mut body = Map::new();
    body.insert("totalSize".into(), json!(cursor.rows.len()));
    body.insert("done".into(), json!(end >= cursor.rows.len()));
    if end < cursor.rows.len() {
        body.insert(
            "nextRecordsUrl".into(),
            json!(format!("/services/data/{version}/query/{cursor_id}-{end}")),
        );
    }
    body.insert("records".into(), Value::Array(records));
    Ok(Json(Value::Object(body)))
}
