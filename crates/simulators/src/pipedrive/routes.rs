//! The HTTP surface: routes, the auth and rate-limit guard, and the v1 and v2 handlers.
//!
//! Handlers take the data lock only in synchronous sections, never across an await. Paths are
//! served under `/api/v1` and `/api/v2` (the company-domain base) and, for v1, also under `/v1`
//! (the `https://api.pipedrive.com/v1` base of the spec).

use std::cmp::Ordering;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SubsecRound, Utc};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::Shared;
use super::error::ApiError;
use super::render::RenderCtx;
use super::schema::{Entity, PIPELINES, STAGES, parse_time, pipeline_json, stage_json};
use super::seed;
use super::store::{Row, Store, now};
use super::v2write;
use crate::faults::{FaultLayerState, control_routes, fault_middleware};

type AppState = State<Arc<Shared>>;
type ApiResult = Result<Response, ApiError>;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

pub(crate) fn build(shared: Arc<Shared>) -> Router {
    let mut api: Router<Arc<Shared>> = Router::new();
    for base in ["/api/v1", "/v1"] {
        api = api
            .route(
                &format!("{base}/{{collection}}"),
                get(v1_list).post(v1_create),
            )
            .route(
                &format!("{base}/{{collection}}/{{id}}"),
                get(v1_get).put(v1_put).patch(v1_patch).delete(v1_delete),
            );
    }
    api = api
        .route("/api/v2/{collection}", get(v2_list).post(v2_create))
        .route(
            "/api/v2/{collection}/{id}",
            get(v2_get).patch(v2_patch).delete(v2_delete),
        );
    let api = api
        .method_not_allowed_fallback(|| async { ApiError::UnknownRoute })
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));

    let fault_state = FaultLayerState {
        faults: shared.faults.clone(),
        log: shared.log.clone(),
        throttle: Arc::new(|retry_after| {
            let retry_after_secs = retry_after.unwrap_or(2);
            let mut response = ApiError::RateLimited { retry_after_secs }.into_response();
            super::limits::RateHeaders {
                limit: 0,
                remaining: 0,
                reset_secs: retry_after_secs,
            }
            .apply(response.headers_mut());
            response
        }),
    };
    api.with_state(Arc::clone(&shared))
        .merge(control_routes(shared.faults.clone(), shared.log.clone()))
        .fallback(|| async { ApiError::UnknownRoute })
        .layer(middleware::from_fn_with_state(
            fault_state,
            fault_middleware,
        ))
}

/// The token a request carries: `api_token` query, `x-api-token` header or OAuth Bearer.
fn token_of(shared: &Shared, request: &Request) -> Option<String> {
    let query_token = request.uri().query().and_then(|query| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find(|(key, _)| key == "api_token")
            .map(|(_, value)| value)
    });
    if let Some(token) = query_token {
        return shared.api_tokens.contains(&token).then_some(token);
    }
    let headers = request.headers();
    if let Some(token) = headers.get("x-api-token").and_then(|v| v.to_str().ok()) {
        return shared
            .api_tokens
            .iter()
            .any(|t| t == token)
            .then(|| token.to_owned());
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)?;
    shared
        .access_tokens
        .iter()
        .any(|t| t == bearer)
        .then(|| bearer.to_owned())
}

/// Checks the token, counts the request against the 2-second window and stamps the
/// `x-ratelimit-*` headers on the answer.
async fn guard(State(shared): AppState, request: Request, next: Next) -> Response {
    let Some(token) = token_of(&shared, &request) else {
        let mut response = ApiError::Unauthorized.into_response();
        shared.limits.uncounted().apply(response.headers_mut());
        return response;
    };
    let is_search = request.uri().path().ends_with("/search");
    match shared.limits.check(&token, is_search) {
        Ok(headers) => {
            let mut response = next.run(request).await;
            headers.apply(response.headers_mut());
            response
        }
        Err(headers) => {
            let mut response = ApiError::RateLimited {
                retry_after_secs: headers.reset_secs,
            }
            .into_response();
            headers.apply(response.headers_mut());
            response
        }
    }
}

/// Query parameters in order.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<&str>) -> Params {
        Params(
            raw.and_then(|raw| serde_urlencoded::from_str::<Vec<(String, String)>>(raw).ok())
                .unwrap_or_default(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    fn uint(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .map(|value| {
                value.trim().parse::<u64>().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "Validation failed: {key}: Parameter must be an integer"
                    ))
                })
            })
            .transpose()
    }

    fn flag(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some("1" | "true") => Ok(Some(true)),
            Some("0" | "false") => Ok(Some(false)),
            Some(_) => Err(ApiError::BadRequest(format!(
                "Validation failed: {key}: Parameter must be 0 or 1"
            ))),
        }
    }

    /// `start` and `limit` of a v1 list; limits above 500 are cut to 500.
    fn page(&self) -> Result<(usize, usize), ApiError> {
        let start = self.uint("start")?.unwrap_or(0) as usize;
        let limit = match self.uint("limit")? {
            None | Some(0) => DEFAULT_LIMIT,
            Some(limit) => (limit as usize).min(MAX_LIMIT),
        };
        Ok((start, limit))
    }
}

fn ok(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A v1 list page: `data` is null when the page is empty, as Pipedrive sends it.
fn v1_page(items: Vec<Value>, total: usize, start: usize, limit: usize) -> Response {
    let more = start + items.len() < total;
    let mut pagination = json!({
        "start": start,
        "limit": limit,
        "more_items_in_collection": more,
    });
    if more && let Value::Object(map) = &mut pagination {
        map.insert("next_start".into(), json!(start + items.len()));
    }
    let data = if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    };
    ok(
        StatusCode::OK,
        json!({"success": true, "data": data, "additional_data": {"pagination": pagination}}),
    )
}

fn fields_entity(collection: &str) -> Option<Entity> {
    collection
        .strip_suffix("Fields")
        .and_then(Entity::parse_singular)
        .filter(|entity| entity.has_fields())
}

/// Applies a queued mutation fault for `path` to `entity`: new records dated now, deletes and
/// edits.
fn apply_mutation(shared: &Shared, path: &str, entity: Entity) {
    let Some(crate::Mutation {
        inserts,
        deletes,
        updates,
    }) = shared.faults.take_mutation(path)
    else {
        return;
    };
    if entity == Entity::User {
        return;
    }
    let mut store = shared.write();
    let mut rng = std::mem::replace(&mut store.rng, StdRng::seed_from_u64(0));
    for n in 0..inserts {
        let data = seed::generate(&mut store, entity, &mut rng, 1_000_000 + n);
        let instant = now();
        store.push(entity, data, instant, instant);
    }
    for _ in 0..deletes {
        let live: Vec<usize> = store
            .table(entity)
            .rows
            .iter()
            .enumerate()
            .filter(|(_, row)| !row.deleted)
            .map(|(idx, _)| idx)
            .collect();
        if live.is_empty() {
            break;
        }
        let idx = live[rng.gen_range(0..live.len())];
        store.mark_deleted(entity, idx, now());
    }
    // An edit: a text field the unified record shows, and the update time.
    let field = match entity {
        Entity::Person => "job_title",
        Entity::Organization => "name",
        Entity::Deal | Entity::Lead => "title",
        Entity::Note => "content",
        Entity::Activity => "subject",
        Entity::User => return,
    };
    let mut live: Vec<usize> = store
        .table(entity)
        .rows
        .iter()
        .enumerate()
        .filter(|(_, row)| !row.deleted)
        .map(|(idx, _)| idx)
        .collect();
    for _ in 0..updates.min(live.len()) {
        let idx = live.swap_remove(rng.gen_range(0..live.len()));
        let mark: u32 = rng.r#gen();
        let row = &mut store.table_mut(entity).rows[idx];
        row.data
            .insert(field.to_owned(), json!(format!("Edited {mark:08x}")));
        row.update_time = now().trunc_subsecs(0);
    }
    store.rng = rng;
}

async fn v1_list(
    State(shared): AppState,
    Path(collection): Path<String>,
    RawQuery(raw): RawQuery,
    request_path: axum::extract::OriginalUri,
) -> ApiResult {
    let params = Params::parse(raw.as_deref());
    let (start, limit) = params.page()?;
    if collection == "pipelines" {
        let items: Vec<Value> = PIPELINES.iter().map(pipeline_json).collect();
        let total = items.len();
        return Ok(v1_page(
            items.into_iter().skip(start).take(limit).collect(),
            total,
            start,
            limit,
        ));
    }
    if collection == "stages" {
        let pipeline = params.uint("pipeline_id")?;
        let items: Vec<Value> = STAGES
            .iter()
            .filter(|s| pipeline.is_none_or(|p| p == s.pipeline_id))
            .map(stage_json)
            .collect();
        let total = items.len();
        return Ok(v1_page(
            items.into_iter().skip(start).take(limit).collect(),
            total,
            start,
            limit,
        ));
    }
    if let Some(entity) = fields_entity(&collection) {
        let store = shared.read();
        let fields = store
            .fields
            .get(&entity)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let total = fields.len();
        let items = fields
            .iter()
            .enumerate()
            .skip(start)
            .take(limit)
            .map(|(idx, field)| field.to_json(idx + 1))
            .collect();
        return Ok(v1_page(items, total, start, limit));
    }
    let entity = Entity::parse_plural(&collection).ok_or(ApiError::UnknownRoute)?;
    apply_mutation(&shared, request_path.path(), entity);
    let store = shared.read();
    let mut rows = v1_filter(&store, entity, &params)?;
    if let Some(sort) = params.get("sort") {
        sort_rows(&store, entity, &mut rows, sort)?;
    }
    let ctx = RenderCtx::new(&store);
    let total = rows.len();
    let items = rows
        .into_iter()
        .skip(start)
        .take(limit)
        .map(|row| ctx.v1(entity, row))
        .collect();
    Ok(v1_page(items, total, start, limit))
}

/// The rows a v1 list returns before sorting and paging, with the filters the spec lists.
fn v1_filter<'a>(
    store: &'a Store,
    entity: Entity,
    params: &Params,
) -> Result<Vec<&'a Row>, ApiError> {
    if params.get("filter_id").is_some() {
        return Err(ApiError::NotFound("Filter"));
    }
    let table = store.table(entity);
    let eq =
        |row: &Row, key: &str, wanted: Option<u64>| wanted.is_none_or(|w| row.u64(key) == Some(w));
    let rows: Vec<&Row> = match entity {
        Entity::Person | Entity::Organization => {
            let owner = params.uint("user_id")?;
            let first_char = params.get("first_char").map(str::to_lowercase);
            table
                .live_rows()
                .filter(|row| eq(row, "owner_id", owner))
                .filter(|row| {
                    first_char
                        .as_deref()
                        .is_none_or(|c| row.str("name").to_lowercase().starts_with(c))
                })
                .collect()
        }
        Entity::Deal => {
            let owner = params.uint("user_id")?;
            let owner = if params.flag("owned_by_you")? == Some(true) {
                Some(1)
            } else {
                owner
            };
            let stage = params.uint("stage_id")?;
            let status = params.get("status").unwrap_or("all_not_deleted");
            if !["open", "won", "lost", "deleted", "all_not_deleted"].contains(&status) {
                return Err(ApiError::BadRequest(format!(
                    "Validation failed: status: Must be one of open, won, lost, deleted, all_not_deleted, got `{status}`"
                )));
            }
            table
                .rows
                .iter()
                .filter(|row| match status {
                    "deleted" => row.deleted,
                    "all_not_deleted" => !row.deleted,
                    wanted => !row.deleted && row.str("status") == wanted,
                })
                .filter(|row| eq(row, "user_id", owner) && eq(row, "stage_id", stage))
                .collect()
        }
        Entity::Lead => {
            let archived = params.get("archived_status").unwrap_or("all");
            if !["archived", "not_archived", "all"].contains(&archived) {
                return Err(ApiError::BadRequest(
                    "Validation failed: archived_status: Must be one of archived, not_archived, all".into(),
                ));
            }
            let owner = params.uint("owner_id")?;
            let person = params.uint("person_id")?;
            let org = params.uint("organization_id")?;
            table
                .live_rows()
                .filter(|row| {
                    let is_archived = row.get("is_archived").as_bool().unwrap_or(false);
                    match archived {
                        "archived" => is_archived,
                        "not_archived" => !is_archived,
                        _ => true,
                    }
                })
                .filter(|row| {
                    eq(row, "owner_id", owner)
                        && eq(row, "person_id", person)
                        && eq(row, "organization_id", org)
                })
                .collect()
        }
        Entity::Note => {
            let user = params.uint("user_id")?;
            let deal = params.uint("deal_id")?;
            let person = params.uint("person_id")?;
            let org = params.uint("org_id")?;
            let lead = params.get("lead_id");
            let start_date = params.get("start_date");
            let end_date = params.get("end_date");
            let pins: Vec<(&str, bool)> = [
                "pinned_to_lead_flag",
                "pinned_to_deal_flag",
                "pinned_to_organization_flag",
                "pinned_to_person_flag",
            ]
            .into_iter()
            .filter_map(|key| {
                params
                    .flag(key)
                    .transpose()
                    .map(|flag| flag.map(|f| (key, f)))
            })
            .collect::<Result<_, _>>()?;
            table
                .live_rows()
                .filter(|row| {
                    eq(row, "user_id", user)
                        && eq(row, "deal_id", deal)
                        && eq(row, "person_id", person)
                        && eq(row, "org_id", org)
                })
                .filter(|row| lead.is_none_or(|l| row.str("lead_id") == l))
                .filter(|row| {
                    let day = row.add_time.format("%Y-%m-%d").to_string();
                    start_date.is_none_or(|s| day.as_str() >= s)
                        && end_date.is_none_or(|e| day.as_str() <= e)
                })
                .filter(|row| {
                    pins.iter()
                        .all(|(key, flag)| row.get(key).as_bool().unwrap_or(false) == *flag)
                })
                .collect()
        }
        Entity::Activity => {
            // Without `user_id` Pipedrive lists only the token user's activities; 0 means all.
            let user = match params.uint("user_id")? {
                None => Some(1),
                Some(0) => None,
                Some(id) => Some(id),
            };
            let types: Vec<&str> = params
                .get("type")
                .map(|t| t.split(',').map(str::trim).collect())
                .unwrap_or_default();
            let done = params.flag("done")?;
            let start_date = params.get("start_date");
            let end_date = params.get("end_date");
            table
                .live_rows()
                .filter(|row| eq(row, "user_id", user))
                .filter(|row| types.is_empty() || types.contains(&row.str("type")))
                .filter(|row| done.is_none_or(|d| row.get("done").as_bool() == Some(d)))
                .filter(|row| {
                    let due = row.str("due_date");
                    start_date.is_none_or(|s| due >= s) && end_date.is_none_or(|e| due <= e)
                })
                .collect()
        }
        Entity::User => table.rows.iter().collect(),
    };
    Ok(rows)
}

/// The value a row is sorted by for `key`.
fn sort_value(row: &Row, key: &str) -> Value {
    match key {
        "id" if row.num == 0 => json!(row.id),
        "id" => json!(row.num),
        "add_time" => json!(row.add_time.timestamp()),
        "update_time" => json!(row.update_time.timestamp()),
        other => row.get(other).clone(),
    }
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

/// Sorts by `field ASC, field2 DESC`; unknown fields are a 400.
fn sort_rows(store: &Store, entity: Entity, rows: &mut [&Row], sort: &str) -> Result<(), ApiError> {
    let mut keys = Vec::new();
    for part in sort.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = part.split_whitespace();
        let field = words.next().unwrap_or_default().to_owned();
        let descending = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(_) => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid sort direction in `{part}`"
                )));
            }
        };
        let known = ["id", "add_time", "update_time"].contains(&field.as_str())
            || store.custom_fields(entity).any(|f| f.key == field)
            || store
                .table(entity)
                .rows
                .iter()
                .take(50)
                .any(|row| row.data.contains_key(&field));
        if !known {
            return Err(ApiError::BadRequest(format!(
                "Invalid sort field `{field}`"
            )));
        }
        keys.push((field, descending));
    }
    rows.sort_by(|a, b| {
        for (field, descending) in &keys {
            let order = compare_values(&sort_value(a, field), &sort_value(b, field));
            let order = if *descending { order.reverse() } else { order };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    });
    Ok(())
}

/// Parses a write body: a JSON object, or form fields (`application/x-www-form-urlencoded`).
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|error| ApiError::BadRequest(format!("Invalid form body: {error}")))?;
        return Ok(pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect());
    }
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest(
            "Request body must be a JSON object".into(),
        )),
        Err(error) => Err(ApiError::BadRequest(format!("Invalid JSON: {error}"))),
    }
}

/// Checks the shape of a path id: an integer, or a UUID for leads.
fn check_id(entity: Entity, id: &str) -> Result<(), ApiError> {
    let valid = if entity.uuid_ids() {
        uuid::Uuid::parse_str(id).is_ok()
    } else {
        id.parse::<u64>().is_ok()
    };
    if valid {
        Ok(())
    } else if entity.uuid_ids() {
        Err(ApiError::BadRequest(
            "Validation failed: id: Must be a valid UUID".into(),
        ))
    } else {
        Err(ApiError::BadRequest(
            "Validation failed: id: Parameter must be an integer".into(),
        ))
    }
}

async fn v1_create(
    State(shared): AppState,
    Path(collection): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&headers, &body)?;
    if collection == "users" {
        return Err(ApiError::Forbidden(
            "You do not have permission to add users".into(),
        ));
    }
    if collection == "webhooks" {
        return create_webhook(&shared, &body);
    }
    if let Some(entity) = fields_entity(&collection) {
        return create_field(&shared, entity, &body);
    }
    let entity = Entity::parse_plural(&collection).ok_or(ApiError::UnknownRoute)?;
    let mut store = shared.write();
    let id = store.create(entity, &body)?;
    super::emit_change(&shared.webhooks, entity, &id, "create");
    let ctx = RenderCtx::new(&store);
    let row = store
        .table(entity)
        .get(&id)
        .ok_or(ApiError::NotFound(entity.title()))?;
    // The spec gives notes 200 on create; the other entities 201.
    let status = if entity == Entity::Note {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(ok(
        status,
        json!({"success": true, "data": ctx.v1(entity, row)}),
    ))
}

fn create_field(shared: &Shared, entity: Entity, body: &Map<String, Value>) -> ApiResult {
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    if name.is_empty() {
        return Err(ApiError::BadRequest("Field name must be given".into()));
    }
    let field_type = body.get("field_type").and_then(Value::as_str).unwrap_or("");
    if !super::FIELD_TYPES.contains(&field_type) {
        return Err(ApiError::BadRequest(format!(
            "Invalid field type `{field_type}`"
        )));
    }
    let labels: Vec<String> = body
        .get("options")
        .and_then(Value::as_array)
        .map(|options| {
            options
                .iter()
                .filter_map(|o| {
                    o.get("label")
                        .and_then(Value::as_str)
                        .or(o.as_str())
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    if matches!(field_type, "enum" | "set") && labels.is_empty() {
        return Err(ApiError::BadRequest(
            "Options must be given for enum and set fields".into(),
        ));
    }
    let mut store = shared.write();
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let key = store.add_custom_field(entity, name, field_type, &label_refs, now());
    let fields = store
        .fields
        .get(&entity)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let (idx, field) = fields
        .iter()
        .enumerate()
        .find(|(_, f)| f.key == key)
        .ok_or(ApiError::NotFound("Field"))?;
    Ok(ok(
        StatusCode::OK,
        json!({"success": true, "data": field.to_json(idx + 1)}),
    ))
}

async fn v1_get(
    State(shared): AppState,
    Path((collection, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = Params::parse(raw.as_deref());
    if collection == "pipelines" || collection == "stages" {
        let wanted: u64 = id.parse().map_err(|_| {
            ApiError::BadRequest("Validation failed: id: Parameter must be an integer".into())
        })?;
        let data = if collection == "pipelines" {
            PIPELINES.iter().find(|p| p.id == wanted).map(pipeline_json)
        } else {
            STAGES.iter().find(|s| s.id == wanted).map(stage_json)
        };
        let title = if collection == "pipelines" {
            "Pipeline"
        } else {
            "Stage"
        };
        let data = data.ok_or(ApiError::NotFound(title))?;
        return Ok(ok(StatusCode::OK, json!({"success": true, "data": data})));
    }
    if let Some(entity) = fields_entity(&collection) {
        let store = shared.read();
        let fields = store
            .fields
            .get(&entity)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (idx, field) = fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.id.to_string() == id)
            .ok_or(ApiError::NotFound("Field"))?;
        return Ok(ok(
            StatusCode::OK,
            json!({"success": true, "data": field.to_json(idx + 1)}),
        ));
    }
    let entity = Entity::parse_plural(&collection).ok_or(ApiError::UnknownRoute)?;
    if id == "search" && matches!(entity, Entity::Person | Entity::Organization | Entity::Deal) {
        return search(&shared, entity, &params);
    }
    let store = shared.read();
    let id = if entity == Entity::User && id == "me" {
        "1".to_owned()
    } else {
        id
    };
    check_id(entity, &id)?;
    let row = store
        .table(entity)
        .get(&id)
        .filter(|row| !row.deleted || entity.soft_deletes())
        .ok_or(ApiError::NotFound(entity.title()))?;
    let ctx = RenderCtx::new(&store);
    Ok(ok(
        StatusCode::OK,
        json!({"success": true, "data": ctx.v1(entity, row)}),
    ))
}

async fn v1_write(
    shared: &Shared,
    entity: Entity,
    id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult {
    check_id(entity, id)?;
    let body = parse_body(headers, body)?;
    let mut store = shared.write();
    store.update(entity, id, &body)?;
    super::emit_change(&shared.webhooks, entity, id, "change");
    let ctx = RenderCtx::new(&store);
    let row = store
        .table(entity)
        .get(id)
        .ok_or(ApiError::NotFound(entity.title()))?;
    Ok(ok(
        StatusCode::OK,
        json!({"success": true, "data": ctx.v1(entity, row)}),
    ))
}

async fn v1_put(
    State(shared): AppState,
    Path((collection, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    if collection == "users" {
        return Err(ApiError::Forbidden(
            "You do not have permission to update users".into(),
        ));
    }
    let entity = Entity::parse_plural(&collection)
        .filter(|e| *e != Entity::Lead)
        .ok_or(ApiError::UnknownRoute)?;
    v1_write(&shared, entity, &id, &headers, &body).await
}

async fn v1_patch(
    State(shared): AppState,
    Path((collection, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    if collection != "leads" {
        return Err(ApiError::UnknownRoute);
    }
    v1_write(&shared, Entity::Lead, &id, &headers, &body).await
}

async fn v1_delete(
    State(shared): AppState,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult {
    if collection == "webhooks" {
        shared.webhooks.unsubscribe();
        return Ok(ok(StatusCode::OK, json!({"success": true, "status": "ok"})));
    }
    let entity = Entity::parse_plural(&collection)
        .filter(|e| *e != Entity::User)
        .ok_or(ApiError::UnknownRoute)?;
    check_id(entity, &id)?;
    shared.write().delete(entity, &id)?;
    super::emit_change(&shared.webhooks, entity, &id, "delete");
    // Deleting a note answers `data: true` (spec and live API); the others echo the id.
    if entity == Entity::Note {
        return Ok(ok(StatusCode::OK, json!({"success": true, "data": true})));
    }
    let id_value = if entity.uuid_ids() {
        json!(id)
    } else {
        json!(id.parse::<u64>().unwrap_or(0))
    };
    Ok(ok(
        StatusCode::OK,
        json!({"success": true, "data": {"id": id_value}}),
    ))
}

/// `GET /{persons,organizations,deals}/search`.
fn search(shared: &Shared, entity: Entity, params: &Params) -> ApiResult {
    let term = params.get("term").unwrap_or("").trim().to_owned();
    let exact = params
        .get("exact_match")
        .is_some_and(|v| v == "true" || v == "1");
    let min_len = if exact { 1 } else { 2 };
    if term.chars().count() < min_len {
        return Err(ApiError::BadRequest(format!(
            "Validation failed: term: Must be at least {min_len} characters long"
        )));
    }
    let allowed: &[&str] = match entity {
        Entity::Person => &["name", "email", "phone", "notes", "custom_fields"],
        Entity::Organization => &["name", "address", "notes", "custom_fields"],
        _ => &["title", "notes", "custom_fields"],
    };
    let fields: Vec<&str> = match params.get("fields") {
        Some(list) => list.split(',').map(str::trim).collect(),
        None => allowed.to_vec(),
    };
    if let Some(bad) = fields.iter().find(|f| !allowed.contains(f)) {
        return Err(ApiError::BadRequest(format!(
            "Validation failed: fields: `{bad}` is not searchable"
        )));
    }
    let (start, limit) = params.page()?;
    let org_filter = params.uint("organization_id")?;
    let person_filter = params.uint("person_id")?;
    let status_filter = params.get("status");
    let needle = term.to_lowercase();
    let store = shared.read();
    let custom: Vec<String> = store
        .custom_fields(entity)
        .filter(|f| {
            matches!(
                f.field_type.as_str(),
                "varchar" | "text" | "phone" | "address" | "double" | "monetary"
            )
        })
        .map(|f| f.key.clone())
        .collect();
    let matches = |text: &str| {
        let text = text.to_lowercase();
        if exact {
            text == needle
        } else {
            text.contains(&needle)
        }
    };
    let mut hits: Vec<(f64, &Row)> = Vec::new();
    for row in store.table(entity).live_rows() {
        if org_filter.is_some_and(|o| row.u64("org_id") != Some(o)) {
            continue;
        }
        if entity == Entity::Deal
            && (person_filter.is_some_and(|p| row.u64("person_id") != Some(p))
                || status_filter.is_some_and(|s| row.str("status") != s))
        {
            continue;
        }
        let mut score: f64 = 0.0;
        for field in &fields {
            let hit = match *field {
                "name" | "title" | "address" => matches(row.str(field)),
                "email" | "phone" => row.get(field).as_array().into_iter().flatten().any(|item| {
                    item.get("value")
                        .and_then(Value::as_str)
                        .is_some_and(matches)
                }),
                "custom_fields" => custom.iter().any(|key| match row.get(key) {
                    Value::String(text) => matches(text),
                    Value::Number(number) => matches(&number.to_string()),
                    _ => false,
                }),
                _ => false,
            };
            if hit {
                score += if matches!(*field, "name" | "title") {
                    1.0
                } else {
                    0.5
                };
            }
        }
        if score > 0.0 {
            hits.push((score, row));
        }
    }
    hits.sort_by(|a, b| b.0.total_cmp(&a.0));
    let total = hits.len();
    let ctx = RenderCtx::new(&store);
    let items: Vec<Value> = hits
        .into_iter()
        .skip(start)
        .take(limit)
        .map(|(score, row)| json!({"result_score": score, "item": search_item(&ctx, entity, row)}))
        .collect();
    let more = start + items.len() < total;
    let mut pagination = json!({"start": start, "limit": limit, "more_items_in_collection": more});
    if more && let Value::Object(map) = &mut pagination {
        map.insert("next_start".into(), json!(start + items.len()));
    }
    Ok(ok(
        StatusCode::OK,
        json!({"success": true, "data": {"items": items}, "additional_data": {"pagination": pagination}}),
    ))
}

fn search_item(ctx: &RenderCtx<'_>, entity: Entity, row: &Row) -> Value {
    let values = |key: &str| -> Vec<Value> {
        row.get(key)
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.get("value").cloned())
            .collect()
    };
    let visible_to = row.str("visible_to").parse::<u64>().unwrap_or(3);
    let org = |id: Option<u64>| {
        id.and_then(|id| ctx.store.table(Entity::Organization).get(&id.to_string()))
            .map(|o| json!({"id": o.num, "name": o.str("name"), "address": o.get("address")}))
    };
    match entity {
        Entity::Person => json!({
            "id": row.num,
            "type": "person",
            "name": row.str("name"),
            "phones": values("phone"),
            "emails": values("email"),
            "visible_to": visible_to,
            "owner": {"id": row.u64("owner_id")},
            "organization": org(row.u64("org_id")),
            "custom_fields": [],
            "notes": [],
        }),
        Entity::Organization => json!({
            "id": row.num,
            "type": "organization",
            "name": row.str("name"),
            "address": row.get("address"),
            "visible_to": visible_to,
            "owner": {"id": row.u64("owner_id")},
            "custom_fields": [],
            "notes": [],
        }),
        _ => {
            let person = row
                .u64("person_id")
                .and_then(|id| ctx.store.table(Entity::Person).get(&id.to_string()))
                .map(|p| json!({"id": p.num, "name": p.str("name")}));
            let stage = STAGES.iter().find(|s| Some(s.id) == row.u64("stage_id"));
            json!({
                "id": row.num,
                "type": "deal",
                "title": row.str("title"),
                "value": row.get("value"),
                "currency": row.get("currency"),
                "status": row.str("status"),
                "visible_to": visible_to,
                "owner": {"id": row.u64("user_id")},
                "stage": stage.map(|s| json!({"id": s.id, "name": s.name})),
                "person": person,
                "organization": org(row.u64("org_id")),
                "custom_fields": [],
                "notes": [],
            })
        }
    }
}

fn v2_entity(collection: &str) -> Result<Entity, ApiError> {
    Entity::parse_plural(collection)
        .filter(|e| {
            matches!(
                e,
                Entity::Person | Entity::Organization | Entity::Deal | Entity::Activity
            )
        })
        .ok_or(ApiError::UnknownRoute)
}

/// The v2 keyset position of a row for `sort_by`: `(sort key, id)`.
fn v2_key(row: &Row, sort_by: &str) -> (i64, u64) {
    let key = match sort_by {
        "update_time" => row.update_time.timestamp(),
        "add_time" => row.add_time.timestamp(),
        _ => row.num as i64,
    };
    (key, row.num)
}

fn encode_cursor(sort_by: &str, direction: &str, key: (i64, u64)) -> String {
    let text = format!("{sort_by}:{direction}:{}:{}", key.0, key.1);
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(cursor: &str, sort_by: &str, direction: &str) -> Result<(i64, u64), ApiError> {
    let invalid = || ApiError::BadRequest("Validation failed: cursor: Invalid cursor".into());
    if !cursor.len().is_multiple_of(2) || !cursor.is_ascii() {
        return Err(invalid());
    }
    let bytes: Vec<u8> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [s, d, key, id] if *s == sort_by && *d == direction => Ok((
            key.parse().map_err(|_| invalid())?,
            id.parse().map_err(|_| invalid())?,
        )),
        _ => Err(invalid()),
    }
}

fn rfc3339_param(params: &Params, key: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    params
        .get(key)
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|instant| instant.with_timezone(&Utc))
                .or_else(|_| parse_time(text).ok_or(()))
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "Validation failed: {key}: Must be an RFC 3339 date-time"
                    ))
                })
        })
        .transpose()
}

/// `GET /api/v2/{entity}`: cursor paging over live records.
async fn v2_list(
    State(shared): AppState,
    Path(collection): Path<String>,
    RawQuery(raw): RawQuery,
    request_path: axum::extract::OriginalUri,
) -> ApiResult {
    let entity = v2_entity(&collection)?;
    let params = Params::parse(raw.as_deref());
    let limit = match params.uint("limit")? {
        None => DEFAULT_LIMIT,
        Some(limit) if (1..=MAX_LIMIT as u64).contains(&limit) => limit as usize,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "Validation failed: limit: Must be between 1 and 500".into(),
            ));
        }
    };
    let sort_by = params.get("sort_by").unwrap_or("id");
    if !["id", "update_time", "add_time"].contains(&sort_by) {
        return Err(ApiError::BadRequest(
            "Validation failed: sort_by: Must be one of id, update_time, add_time".into(),
        ));
    }
    let direction = params.get("sort_direction").unwrap_or("asc");
    if !["asc", "desc"].contains(&direction) {
        return Err(ApiError::BadRequest(
            "Validation failed: sort_direction: Must be one of asc, desc".into(),
        ));
    }
    let after = params
        .get("cursor")
        .map(|c| decode_cursor(c, sort_by, direction))
        .transpose()?;
    let updated_since = rfc3339_param(&params, "updated_since")?;
    let updated_until = rfc3339_param(&params, "updated_until")?;
    let ids: Option<Vec<u64>> = params
        .get("ids")
        .map(|list| {
            list.split(',')
                .map(|id| id.trim().parse::<u64>())
                .collect::<Result<_, _>>()
        })
        .transpose()
        .map_err(|_| {
            ApiError::BadRequest(
                "Validation failed: ids: Must be a comma-separated list of integers".into(),
            )
        })?;
    if ids.as_ref().is_some_and(|ids| ids.len() > 100) {
        return Err(ApiError::BadRequest(
            "Validation failed: ids: At most 100 ids".into(),
        ));
    }
    let owner = params.uint("owner_id")?;
    let org = params.uint("org_id")?;
    let person = params.uint("person_id")?;
    let status = params.get("status");
    apply_mutation(&shared, request_path.path(), entity);
    let store = shared.read();
    let owner_key = if matches!(entity, Entity::Deal | Entity::Activity) {
        "user_id"
    } else {
        "owner_id"
    };
    let mut rows: Vec<&Row> = store
        .table(entity)
        .rows
        .iter()
        .filter(|row| match (entity, status) {
            (Entity::Deal, Some(wanted)) => wanted.split(',').any(|s| {
                if s == "deleted" {
                    row.deleted
                } else {
                    !row.deleted && row.str("status") == s
                }
            }),
            _ => !row.deleted,
        })
        .filter(|row| ids.as_ref().is_none_or(|ids| ids.contains(&row.num)))
        .filter(|row| updated_since.is_none_or(|since| row.update_time >= since))
        .filter(|row| updated_until.is_none_or(|until| row.update_time < until))
        .filter(|row| owner.is_none_or(|o| row.u64(owner_key) == Some(o)))
        .filter(|row| org.is_none_or(|o| row.u64("org_id") == Some(o)))
        .filter(|row| person.is_none_or(|p| row.u64("person_id") == Some(p)))
        .collect();
    let descending = direction == "desc";
    rows.sort_by(|a, b| {
        let order = v2_key(a, sort_by).cmp(&v2_key(b, sort_by));
        if descending { order.reverse() } else { order }
    });
    if let Some(after) = after {
        rows.retain(|row| {
            let key = v2_key(row, sort_by);
            if descending { key < after } else { key > after }
        });
    }
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last()
            .map(|row| json!(encode_cursor(sort_by, direction, v2_key(row, sort_by))))
    } else {
        None
    };
    let ctx = RenderCtx::new(&store);
    let data: Vec<Value> = rows.iter().map(|row| ctx.v2(entity, row)).collect();
    Ok(ok(
        StatusCode::OK,
        json!({"success": true, "data": data, "additional_data": {"next_cursor": next_cursor}}),
    ))
}

async fn v2_get(
    State(shared): AppState,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult {
    let entity = v2_entity(&collection)?;
    check_id(entity, &id)?;
    let store = shared.read();
    let row = store
        .table(entity)
        .get(&id)
        .filter(|row| !row.deleted || entity.soft_deletes())
        .ok_or(ApiError::NotFound(entity.title()))?;
    let ctx = RenderCtx::new(&store);
    Ok(ok(
        StatusCode::OK,
        json!({"success": true, "data": ctx.v2(entity, row)}),
    ))
}

/// The v2 answer for a written record: `{success, data}` with the record in the v2 read shape.
fn v2_record(store: &Store, entity: Entity, id: &str) -> ApiResult {
    let row = store
        .table(entity)
        .get(id)
        .ok_or(ApiError::NotFound(entity.title()))?;
    let ctx = RenderCtx::new(store);
    Ok(ok(
        StatusCode::OK,
        json!({"success": true, "data": ctx.v2(entity, row)}),
    ))
}

/// `POST /api/v2/{entity}`: creates from a v2 body through the v1 rules; answers 200.
async fn v2_create(
    State(shared): AppState,
    Path(collection): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let entity = v2_entity(&collection)?;
    let body = parse_body(&headers, &body)?;
    let mut store = shared.write();
    let body = v2write::to_v1_body(&store, entity, &body)?;
    let id = store.create(entity, &body)?;
    super::emit_change(&shared.webhooks, entity, &id, "create");
    v2_record(&store, entity, &id)
}

/// `PATCH /api/v2/{entity}/{id}`: a partial update; 410 once a soft-deleted record is gone.
async fn v2_patch(
    State(shared): AppState,
    Path((collection, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let entity = v2_entity(&collection)?;
    check_id(entity, &id)?;
    let body = parse_body(&headers, &body)?;
    let mut store = shared.write();
    let body = v2write::to_v1_body(&store, entity, &body)?;
    store.update(entity, &id, &body)?;
    super::emit_change(&shared.webhooks, entity, &id, "change");
    v2_record(&store, entity, &id)
}

/// `DELETE /api/v2/{entity}/{id}`: answers `{success: true, data: {id}}`.
async fn v2_delete(
    State(shared): AppState,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult {
    let entity = v2_entity(&collection)?;
    check_id(entity, &id)?;
    shared.write().delete(entity, &id)?;
    super::emit_change(&shared.webhooks, entity, &id, "delete");
    let id_value = id.parse::<u64>().map_err(|_| {
        ApiError::BadRequest("Validation failed: id: Parameter must be an integer".into())
    })?;
    Ok(ok(
        StatusCode::OK,
        json!({"success": true, "data": {"id": id_value}}),
    ))
}

/// `POST /v1/webhooks`: subscribes `subscription_url` to every change, with the basic
/// credentials `http_auth_user` and `http_auth_password` (the simulator keeps one webhook).
fn create_webhook(shared: &Shared, body: &Map<String, Value>) -> ApiResult {
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let Some(url) = text("subscription_url") else {
        return Err(ApiError::BadRequest("subscription_url is required".into()));
    };
    if url::Url::parse(&url).is_err() {
        return Err(ApiError::BadRequest(
            "subscription_url must be a valid URL".into(),
        ));
    }
    shared.webhooks.subscribe(crate::webhooks::Subscription {
        url: url.clone(),
        secret: text("http_auth_password").unwrap_or_default(),
        username: text("http_auth_user"),
    });
    Ok(ok(
        StatusCode::CREATED,
        json!({"success": true, "status": "ok", "data": {
            "id": 1,
            "company_id": 1,
            "owner_id": 1,
            "user_id": 1,
            "event_action": text("event_action").unwrap_or_else(|| "*".to_owned()),
            "event_object": text("event_object").unwrap_or_else(|| "*".to_owned()),
            "subscription_url": url,
            "version": text("version").unwrap_or_else(|| "2.0".to_owned()),
            "is_active": 1,
            "http_auth_user": text("http_auth_user"),
            "add_time": now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "type": "general",
        }}),
    ))
}
