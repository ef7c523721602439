//! The HTTP surface: `/api/v1/…` behind the API-key (or OAuth) guard, which counts each
//! request against its endpoint group's limit and stamps the `RateLimit` header; OAuth's
//! `/oauth2/authorize/` and `/oauth2/token/`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Map, Value, json};

use super::Shared;
use super::seed::contact as seed_contact;
use super::store::{Store, parse_time, table_of};
use crate::faults::{FaultLayerState, control_routes, fault_middleware};

type AppState = State<Arc<Shared>>;

/// The most records one list page holds.
const MAX_LIMIT: u64 = 200;
/// The most events one event-log page holds.
const MAX_EVENTS: usize = 50;

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

fn field_errors(errors: Map<String, Value>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"errors": [], "field-errors": errors})),
    )
        .into_response()
}

fn field_error(field: &str, message: &str) -> Response {
    let mut errors = Map::new();
    errors.insert(field.to_owned(), json!(message));
    field_errors(errors)
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Empty query: object matching query does not exist.",
    )
}

fn throttled(group: &str, limit: u64, reset: f64) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({"error": {
            "rate_reset": (reset * 1000.0).round() / 1000.0,
            "message": "API call count exceeded for this period",
            "rate_limit": limit,
            "rate_window": 1,
            "rate_limit_type": "key",
            "endpoint_group": group,
        }})),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "limit={limit}, remaining=0, reset={}",
        reset.ceil().max(1.0) as u64
    )) {
        headers.insert("ratelimit", value);
    }
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from(reset.ceil().max(1.0) as u64),
    );
    response
}

pub(crate) fn build(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/api/v1/me/", get(me))
        .route("/api/v1/event/", get(list_events))
        .route("/api/v1/status/opportunity/", get(opportunity_statuses))
        .route("/api/v1/status/lead/", get(lead_statuses))
        .route("/api/v1/custom_field/{object}/", get(custom_fields))
        .route("/api/v1/webhook/", get(list_webhooks).post(create_webhook))
        .route(
            "/api/v1/webhook/{id}/",
            get(get_webhook).delete(delete_webhook),
        )
        .route(
            "/api/v1/activity/{kind}/",
            get(list_activities).post(create_activity),
        )
        .route(
            "/api/v1/activity/{kind}/{id}/",
            get(get_activity)
                .put(update_activity)
                .delete(delete_activity),
        )
        .route("/api/v1/{object}/", get(list_records).post(create_record))
        .route(
            "/api/v1/{object}/{id}/",
            get(get_record).put(update_record).delete(delete_record),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));
    let oauth = Router::new()
        .route("/oauth2/authorize/", get(authorize))
        .route("/oauth2/token/", post(token));
    let fault_state = FaultLayerState {
        faults: shared.faults.clone(),
        log: shared.log.clone(),
        throttle: Arc::new(|retry_after| throttled("fault", 40, retry_after.unwrap_or(1) as f64)),
    };
    api.merge(oauth)
        .with_state(Arc::clone(&shared))
        .merge(control_routes(shared.faults.clone(), shared.log.clone()))
        .fallback(|| async { not_found() })
        .layer(middleware::from_fn_with_state(
            fault_state,
            fault_middleware,
        ))
}

/// The endpoint group of a request: reads and writes of one resource are counted apart.
fn endpoint_group(method: &Method, path: &str) -> String {
    let resource = path
        .trim_start_matches("/api/v1/")
        .split('/')
        .next()
        .unwrap_or_default();
    let kind = if method == Method::GET {
        "read"
    } else {
        "write"
    };
    format!("{kind}:{resource}")
}

/// Checks the API key (Basic, key as the user, empty password) or the OAuth token, counts the
/// request against its endpoint group and stamps the `RateLimit` header on the answer.
async fn guard(State(shared): AppState, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let accepted = if let Some(encoded) = authorization.strip_prefix("Basic ") {
        STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|pair| pair.split_once(':').map(|(user, _)| user.to_owned()))
            .is_some_and(|key| shared.api_keys.contains(&key))
    } else if let Some(token) = authorization.strip_prefix("Bearer ") {
        matches!(
            shared.oauth.access_status(token.trim()),
            crate::oauth::AccessStatus::Valid { .. }
        )
    } else {
        false
    };
    if !accepted {
        return error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: the API key or access token is invalid.",
        );
    }
    let group = endpoint_group(request.method(), request.uri().path());
    let (limit, remaining, reset) = shared.take(&group);
    let Some(remaining) = remaining else {
        return throttled(&group, limit, reset);
    };
    let mut response = next.run(request).await;
    // The changes the request made go out as webhooks.
    shared.send_events();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "limit={limit}, remaining={remaining}, reset={}",
        reset.ceil().max(1.0) as u64
    )) {
        response.headers_mut().insert("ratelimit", value);
    }
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

/// Tables a top-level path serves.
fn record_table(object: &str) -> Option<&'static str> {
    match object {
        "lead" | "contact" | "opportunity" | "task" | "user" | "pipeline" | "activity" => {
            table_of(object).map(|(table, _)| table)
        }
        _ => None,
    }
}

fn activity_type(kind: &str) -> Option<&'static str> {
    table_of(kind).and_then(|(table, kind)| (table == "activity").then_some(kind).flatten())
}

fn time_param(params: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, Response> {
    match param(params, name) {
        None => Ok(None),
        Some(text) => parse_time(text)
            .map(Some)
            .ok_or_else(|| field_error(name, "Enter a valid date/time.")),
    }
}

/// Whether a record passes the list's filters.
struct Filters {
    times: Vec<(&'static str, &'static str, DateTime<Utc>)>,
    equals: Vec<(&'static str, String)>,
    ids: Option<Vec<String>>,
    email: Option<String>,
    kind: Option<String>,
}

impl Filters {
    fn parse(params: &Map<String, Value>) -> Result<Filters, Response> {
        let mut times = Vec::new();
        for field in ["date_created", "date_updated"] {
            for op in ["gt", "gte", "lt", "lte"] {
                let name = format!("{field}__{op}");
                if let Some(time) = time_param(params, &name)? {
                    times.push((field, op, time));
                }
            }
        }
        let mut equals = Vec::new();
        for field in [
            "lead_id",
            "contact_id",
            "user_id",
            "assigned_to",
            "status_id",
            "pipeline_id",
        ] {
            if let Some(value) = param(params, field) {
                equals.push((field, value.to_owned()));
            }
        }
        Ok(Filters {
            times,
            equals,
            ids: param(params, "id__in").map(|ids| {
                ids.split(',')
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            email: param(params, "email").map(str::to_lowercase),
            kind: param(params, "_type").map(str::to_owned),
        })
    }

    fn keeps(&self, row: &Value) -> bool {
        for (field, op, bound) in &self.times {
            let Some(time) = row[*field].as_str().and_then(parse_time) else {
                return false;
            };
            let keep = match *op {
                "gt" => time > *bound,
                "gte" => time >= *bound,
                "lt" => time < *bound,
                _ => time <= *bound,
            };
            if !keep {
                return false;
            }
        }
        if self
            .equals
            .iter()
            .any(|(field, value)| row[*field] != value.as_str())
        {
            return false;
        }
        if let Some(ids) = &self.ids
            && !ids.iter().any(|id| row["id"] == id.as_str())
        {
            return false;
        }
        if let Some(email) = &self.email {
            let matches = row["emails"].as_array().is_some_and(|emails| {
                emails.iter().any(|entry| {
                    entry["email"]
                        .as_str()
                        .is_some_and(|address| address.to_lowercase() == *email)
                })
            });
            if !matches {
                return false;
            }
        }
        if let Some(kind) = &self.kind
            && row["_type"] != kind.as_str()
        {
            return false;
        }
        true
    }
}

/// Applies a queued mutation fault to `table` (inserts make contacts; deletes and updates
/// touch the listed table).
fn mutate(shared: &Shared, path: &str, table: &'static str) {
    let Some(mutation) = shared.faults.take_mutation(path) else {
        return;
    };
    let mut store = shared.write();
    let seed: u64 = store.rng.r#gen();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    if table == "contact" {
        let leads = store.ids("lead");
        for _ in 0..mutation.inserts {
            if leads.is_empty() {
                break;
            }
            let lead = leads[rng.gen_range(0..leads.len())].clone();
            seed_contact(&mut store, &mut rng, &lead, None, None);
        }
    }
    for _ in 0..mutation.deletes {
        let ids: Vec<String> = store
            .table(table)
            .iter()
            .filter_map(|row| row["id"].as_str().map(str::to_owned))
            .collect();
        if ids.is_empty() {
            break;
        }
        let id = ids[rng.gen_range(0..ids.len())].clone();
        store.delete(table, &id);
    }
    for i in 0..mutation.updates {
        let ids: Vec<String> = store
            .table(table)
            .iter()
            .filter_map(|row| row["id"].as_str().map(str::to_owned))
            .collect();
        if ids.is_empty() {
            break;
        }
        let id = ids[rng.gen_range(0..ids.len())].clone();
        let mut changes = Map::new();
        let field = if table == "opportunity" {
            "note"
        } else if table == "task" {
            "text"
        } else if table == "activity" {
            "note"
        } else if table == "contact" {
            "title"
        } else {
            "description"
        };
        changes.insert(field.to_owned(), json!(format!("Changed {i}")));
        store.update(table, &id, changes);
    }
}

fn list(
    shared: &Shared,
    path: &str,
    table: &'static str,
    kind: Option<&str>,
    query: Option<&str>,
) -> Response {
    let params = params(query);
    let skip = match param(&params, "_skip").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(skip)) => skip,
        Some(Err(_)) => return field_error("_skip", "Enter a whole number."),
    };
    let limit = match param(&params, "_limit").map(str::parse::<u64>) {
        None => 100,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("_limit must be between 1 and {MAX_LIMIT}."),
            );
        }
    };
    if skip > shared.max_skip {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "The maximum _skip is {}. Use a date_created range to page through large result sets.",
                shared.max_skip
            ),
        );
    }
    let mut filters = match Filters::parse(&params) {
        Ok(filters) => filters,
        Err(response) => return response,
    };
    if let Some(kind) = kind {
        filters.kind = Some(kind.to_owned());
    }
    mutate(shared, path, table);
    let store = shared.read();
    let mut rows: Vec<&Value> = store
        .table(table)
        .iter()
        .filter(|row| filters.keeps(row))
        .collect();
    let order = param(&params, "_order_by").unwrap_or("-date_created");
    let (descending, field) = match order.strip_prefix('-') {
        Some(field) => (true, field),
        None => (false, order),
    };
    if !matches!(field, "date_created" | "date_updated" | "id") {
        return field_error("_order_by", "Unsupported ordering.");
    }
    rows.sort_by(|a, b| {
        let ordering = if field == "id" {
            a["id"].as_str().cmp(&b["id"].as_str())
        } else {
            let time = |row: &Value| row[field].as_str().and_then(parse_time);
            time(a)
                .cmp(&time(b))
                .then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
        };
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
    let total = rows.len();
    let fields: Option<Vec<&str>> = param(&params, "_fields").map(|f| f.split(',').collect());
    let data: Vec<Value> = rows
        .iter()
        .skip(skip as usize)
        .take(limit as usize)
        .map(|row| project(store.render(table, row), fields.as_deref()))
        .collect();
    let has_more = (skip as usize) + data.len() < total;
    let mut body = json!({"data": data, "has_more": has_more});
    if table == "lead" {
        body["total_results"] = json!(total);
    }
    axum::Json(body).into_response()
}

fn project(record: Value, fields: Option<&[&str]>) -> Value {
    match (record, fields) {
        (Value::Object(map), Some(fields)) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| fields.contains(&key.as_str()))
                .collect(),
        ),
        (record, _) => record,
    }
}

async fn list_records(
    State(shared): AppState,
    Path(object): Path<String>,
    request: Request,
) -> Response {
    let Some(table) = record_table(&object) else {
        return not_found();
    };
    let path = request.uri().path().to_owned();
    list(&shared, &path, table, None, request.uri().query())
}

async fn list_activities(
    State(shared): AppState,
    Path(kind): Path<String>,
    request: Request,
) -> Response {
    let Some(kind) = activity_type(&kind) else {
        return not_found();
    };
    let path = request.uri().path().to_owned();
    list(
        &shared,
        &path,
        "activity",
        Some(kind),
        request.uri().query(),
    )
}

fn get_one(
    shared: &Shared,
    table: &str,
    kind: Option<&str>,
    id: &str,
    query: Option<&str>,
) -> Response {
    let store = shared.read();
    let Some(row) = store.find(table, id) else {
        return not_found();
    };
    if kind.is_some_and(|kind| row["_type"] != kind) {
        return not_found();
    }
    let params = params(query);
    let fields: Option<Vec<&str>> = param(&params, "_fields").map(|f| f.split(',').collect());
    axum::Json(project(store.render(table, row), fields.as_deref())).into_response()
}

async fn get_record(
    State(shared): AppState,
    Path((object, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(table) = record_table(&object) else {
        return not_found();
    };
    get_one(&shared, table, None, &id, query.as_deref())
}

async fn get_activity(
    State(shared): AppState,
    Path((kind, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(kind) = activity_type(&kind) else {
        return not_found();
    };
    get_one(&shared, "activity", Some(kind), &id, query.as_deref())
}

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object.",
        )),
    }
}

/// The fields a write of `table` (`kind` for activities) takes, beyond `custom.cf_…`.
fn writable(table: &str, kind: Option<&str>) -> &'static [&'static str] {
    match (table, kind) {
        ("lead", _) => &[
            "name",
            "description",
            "url",
            "status",
            "status_id",
            "addresses",
            "contacts",
        ],
        ("contact", _) => &["lead_id", "name", "title", "emails", "phones", "urls"],
        ("opportunity", _) => &[
            "lead_id",
            "contact_id",
            "user_id",
            "note",
            "value",
            "value_currency",
            "value_period",
            "confidence",
            "status_id",
            "pipeline_id",
            "date_won",
        ],
        ("task", _) => &[
            "lead_id",
            "contact_id",
            "assigned_to",
            "text",
            "date",
            "due_date",
            "is_complete",
            "priority",
        ],
        (_, Some("Call")) => &[
            "lead_id",
            "contact_id",
            "user_id",
            "direction",
            "duration",
            "note",
            "status",
            "activity_at",
        ],
        (_, Some("Meeting")) => &[
            "lead_id",
            "contact_id",
            "user_id",
            "title",
            "note",
            "location",
            "starts_at",
            "ends_at",
            "activity_at",
        ],
        (_, Some("Email")) => &[
            "lead_id",
            "contact_id",
            "user_id",
            "subject",
            "body_text",
            "direction",
            "status",
            "to",
            "sender",
            "activity_at",
        ],
        (_, Some("Note")) => &[
            "lead_id",
            "contact_id",
            "user_id",
            "note",
            "title",
            "activity_at",
        ],
        _ => &[],
    }
}

/// The checked changes of a write: references exist, custom fields are defined and of their
/// type, statuses resolve; `Err` is the 400 naming each refused field.
fn check(
    store: &Store,
    table: &str,
    kind: Option<&str>,
    body: &Map<String, Value>,
    current: Option<&Value>,
) -> Result<Map<String, Value>, Response> {
    let mut errors = Map::new();
    let mut changes = Map::new();
    let allowed = writable(table, kind);
    let custom_object = match table {
        "lead" | "contact" | "opportunity" => Some(table),
        _ => None,
    };
    for (key, value) in body {
        if let Some(field_id) = key.strip_prefix("custom.") {
            let definition = custom_object
                .and_then(|object| store.custom_fields.get(object))
                .and_then(|fields| fields.iter().find(|field| field["id"] == field_id));
            let Some(definition) = definition else {
                errors.insert(key.clone(), json!("Unknown custom field."));
                continue;
            };
            let ok = value.is_null()
                || match definition["type"].as_str() {
                    Some("number") => value.is_number(),
                    Some("choices") => definition["choices"]
                        .as_array()
                        .is_some_and(|choices| choices.contains(value)),
                    Some("date") => value.as_str().and_then(parse_time).is_some(),
                    _ => value.is_string(),
                };
            if ok {
                changes.insert(key.clone(), value.clone());
            } else {
                errors.insert(key.clone(), json!("Invalid value for this custom field."));
            }
            continue;
        }
        if !allowed.contains(&key.as_str()) {
            continue;
        }
        let reference = match key.as_str() {
            "lead_id" => Some("lead"),
            "contact_id" => Some("contact"),
            "user_id" | "assigned_to" => Some("user"),
            "pipeline_id" => Some("pipeline"),
            _ => None,
        };
        if let Some(reference) = reference
            && !value.is_null()
            && value
                .as_str()
                .is_none_or(|id| store.find(reference, id).is_none())
        {
            errors.insert(key.clone(), json!("Object does not exist."));
            continue;
        }
        match key.as_str() {
            "value" | "confidence" | "duration"
                if !(value.is_null() || value.is_i64() || value.is_u64()) =>
            {
                errors.insert(key.clone(), json!("Enter a whole number."));
            }
            "emails" | "phones" | "urls" | "addresses" | "contacts" | "to" if !value.is_array() => {
                errors.insert(key.clone(), json!("Enter a list."));
            }
            "priority" if !matches!(value.as_str(), Some("high" | "medium" | "low")) => {
                errors.insert(key.clone(), json!("Select a valid choice."));
            }
            "direction"
                if !matches!(
                    value.as_str(),
                    Some("inbound" | "outbound" | "incoming" | "outgoing")
                ) =>
            {
                errors.insert(key.clone(), json!("Select a valid choice."));
            }
            "starts_at" | "ends_at" | "activity_at" | "date_won" | "date" | "due_date"
                if !value.is_null() && value.as_str().and_then(parse_time).is_none() =>
            {
                errors.insert(key.clone(), json!("Enter a valid date/time."));
            }
            _ => {
                changes.insert(key.clone(), value.clone());
            }
        }
    }
    // Statuses: a lead's by label or id, an opportunity's within its pipeline.
    if table == "lead" {
        let wanted = changes.remove("status");
        let by_id = changes.remove("status_id");
        if wanted.is_some() || by_id.is_some() {
            let found = store.lead_statuses.iter().find(|status| {
                by_id.as_ref().is_some_and(|id| &status["id"] == id)
                    || wanted
                        .as_ref()
                        .is_some_and(|label| &status["label"] == label)
            });
            match found {
                Some(status) => {
                    changes.insert("status_id".to_owned(), status["id"].clone());
                    changes.insert("status_label".to_owned(), status["label"].clone());
                }
                None => {
                    errors.insert(
                        if by_id.is_some() {
                            "status_id"
                        } else {
                            "status"
                        }
                        .to_owned(),
                        json!("Object does not exist."),
                    );
                }
            }
        }
    }
    if table == "opportunity"
        && (changes.contains_key("status_id")
            || changes.contains_key("pipeline_id")
            || current.is_none())
    {
        let pipeline_id = changes
            .get("pipeline_id")
            .or_else(|| current.map(|row| &row["pipeline_id"]))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let status_id = changes
            .get("status_id")
            .or_else(|| {
                if changes.contains_key("pipeline_id") {
                    None
                } else {
                    current.map(|row| &row["status_id"])
                }
            })
            .and_then(Value::as_str)
            .map(str::to_owned);
        let pipelines = store.table("pipeline");
        let found = pipelines.iter().find_map(|pipeline| {
            if pipeline_id
                .as_ref()
                .is_some_and(|id| pipeline["id"] != id.as_str())
            {
                return None;
            }
            let statuses = pipeline["statuses"].as_array()?;
            let status = match &status_id {
                Some(id) => statuses.iter().find(|status| status["id"] == id.as_str())?,
                None => statuses.first()?,
            };
            Some((pipeline.clone(), status.clone()))
        });
        match found {
            Some((pipeline, status)) => {
                changes.insert("pipeline_id".to_owned(), pipeline["id"].clone());
                changes.insert("pipeline_name".to_owned(), pipeline["name"].clone());
                changes.insert("status_id".to_owned(), status["id"].clone());
                changes.insert("status_label".to_owned(), status["label"].clone());
                changes.insert("status_display_name".to_owned(), status["label"].clone());
                changes.insert("status_type".to_owned(), status["type"].clone());
            }
            None => {
                errors.insert("status_id".to_owned(), json!("Object does not exist."));
            }
        }
    }
    if table == "opportunity"
        && let Some(value) = changes.get("value").and_then(Value::as_i64)
    {
        changes.insert(
            "value_formatted".to_owned(),
            json!(format!("${}", value / 100)),
        );
    }
    if matches!(table, "lead" | "contact")
        && let Some(name) = changes.get("name").cloned()
    {
        changes.insert("display_name".to_owned(), name);
    }
    if kind == Some("Note")
        && let Some(note) = changes.get("note").and_then(Value::as_str)
    {
        changes.insert(
            "note_html".to_owned(),
            json!(format!("<body><p>{note}</p></body>")),
        );
    }
    if table == "task"
        && current.is_none()
        && changes
            .get("text")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        errors.insert("text".to_owned(), json!("This field is required."));
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(field_errors(errors))
    }
}

/// A new lead for a record written without one (Close names it after the record or leaves it
/// untitled).
fn new_lead(store: &mut Store, name: Option<&str>) -> String {
    let status = store.lead_statuses.first().cloned().unwrap_or(Value::Null);
    let mut lead = Map::new();
    lead.insert(
        "name".to_owned(),
        name.map_or(Value::Null, |name| json!(name)),
    );
    lead.insert("display_name".to_owned(), json!(name.unwrap_or("Untitled")));
    lead.insert("description".to_owned(), Value::Null);
    lead.insert("url".to_owned(), Value::Null);
    lead.insert("status_id".to_owned(), status["id"].clone());
    lead.insert("status_label".to_owned(), status["label"].clone());
    lead.insert("addresses".to_owned(), json!([]));
    store.insert("lead", lead)["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn create(
    shared: &Shared,
    table: &'static str,
    kind: Option<&'static str>,
    body: &Bytes,
) -> Response {
    let body = match parse_body(body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut store = shared.write();
    let mut changes = match check(&store, table, kind, &body, None) {
        Ok(changes) => changes,
        Err(response) => return response,
    };
    let contacts = changes.remove("contacts");
    if matches!(table, "contact" | "opportunity" | "task" | "activity")
        && changes.get("lead_id").is_none_or(Value::is_null)
    {
        let from_contact = changes
            .get("contact_id")
            .and_then(Value::as_str)
            .and_then(|id| store.find("contact", id))
            .map(|contact| contact["lead_id"].clone());
        let lead = match from_contact {
            Some(lead) => lead,
            None => {
                let name = if table == "contact" {
                    changes
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                } else {
                    None
                };
                json!(new_lead(&mut store, name.as_deref()))
            }
        };
        changes.insert("lead_id".to_owned(), lead);
    }
    let mut record = changes;
    match (table, kind) {
        ("lead", _) => {
            let name = record.get("name").cloned().unwrap_or(Value::Null);
            record.entry("display_name").or_insert(if name.is_null() {
                json!("Untitled")
            } else {
                name
            });
            if !record.contains_key("status_id") {
                let status = store.lead_statuses.first().cloned().unwrap_or(Value::Null);
                record.insert("status_id".to_owned(), status["id"].clone());
                record.insert("status_label".to_owned(), status["label"].clone());
            }
            record.entry("addresses").or_insert(json!([]));
        }
        ("contact", _) => {
            for key in ["emails", "phones", "urls"] {
                record.entry(key).or_insert(json!([]));
            }
            record.entry("display_name").or_insert(json!(""));
        }
        ("opportunity", _) => {
            record.entry("value_currency").or_insert(json!("USD"));
            record.entry("value_period").or_insert(json!("one_time"));
        }
        ("task", _) => {
            record.insert("_type".to_owned(), json!("lead"));
            record.entry("is_complete").or_insert(json!(false));
            record.entry("priority").or_insert(json!("medium"));
        }
        (_, Some(kind)) => {
            record.insert("_type".to_owned(), json!(kind));
            if kind == "Call" {
                record.entry("status").or_insert(json!("completed"));
                record.entry("direction").or_insert(json!("outbound"));
            }
        }
        _ => {}
    }
    if let Some(lead_id) = record
        .get("lead_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        && let Some(lead) = store.find("lead", &lead_id)
    {
        record.insert("lead_name".to_owned(), lead["display_name"].clone());
    }
    let created = store.insert(table, record);
    if table == "activity" && created.get("activity_at").is_none() {
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        let mut at = Map::new();
        at.insert("activity_at".to_owned(), created["date_created"].clone());
        if let Some(row) = store.find_mut("activity", &id)
            && let Value::Object(map) = row
        {
            map.extend(at);
        }
    }
    if table == "lead"
        && let Some(Value::Array(contacts)) = contacts
    {
        let lead_id = created["id"].as_str().unwrap_or_default().to_owned();
        for contact in contacts {
            let Value::Object(mut contact) = contact else {
                continue;
            };
            contact.insert("lead_id".to_owned(), json!(lead_id));
            if let Some(name) = contact.get("name").cloned() {
                contact.insert("display_name".to_owned(), name);
            }
            for key in ["emails", "phones", "urls"] {
                contact.entry(key).or_insert(json!([]));
            }
            store.insert("contact", contact);
        }
    }
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let row = store.find(table, &id).cloned().unwrap_or(created);
    axum::Json(store.render(table, &row)).into_response()
}

async fn create_record(
    State(shared): AppState,
    Path(object): Path<String>,
    body: Bytes,
) -> Response {
    match record_table(&object) {
        Some(table @ ("lead" | "contact" | "opportunity" | "task")) => {
            create(&shared, table, None, &body)
        }
        Some(_) => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."),
        None => not_found(),
    }
}

async fn create_activity(
    State(shared): AppState,
    Path(kind): Path<String>,
    body: Bytes,
) -> Response {
    match activity_type(&kind) {
        Some(kind) => create(&shared, "activity", Some(kind), &body),
        None => not_found(),
    }
}

fn update(
    shared: &Shared,
    table: &'static str,
    kind: Option<&'static str>,
    id: &str,
    body: &Bytes,
) -> Response {
    let body = match parse_body(body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut store = shared.write();
    let Some(current) = store.find(table, id).cloned() else {
        return not_found();
    };
    if kind.is_some_and(|kind| current["_type"] != kind) {
        return not_found();
    }
    let mut changes = match check(&store, table, kind, &body, Some(&current)) {
        Ok(changes) => changes,
        Err(response) => return response,
    };
    changes.remove("contacts");
    let Some(row) = store.update(table, id, changes) else {
        return not_found();
    };
    axum::Json(store.render(table, &row)).into_response()
}

async fn update_record(
    State(shared): AppState,
    Path((object, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    match record_table(&object) {
        Some(table @ ("lead" | "contact" | "opportunity" | "task")) => {
            update(&shared, table, None, &id, &body)
        }
        Some(_) => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."),
        None => not_found(),
    }
}

async fn update_activity(
    State(shared): AppState,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    match activity_type(&kind) {
        Some(kind) => update(&shared, "activity", Some(kind), &id, &body),
        None => not_found(),
    }
}

fn delete(shared: &Shared, table: &'static str, kind: Option<&'static str>, id: &str) -> Response {
    let mut store = shared.write();
    let Some(current) = store.find(table, id) else {
        return not_found();
    };
    if kind.is_some_and(|kind| current["_type"] != kind) {
        return not_found();
    }
    store.delete(table, id);
    axum::Json(json!({})).into_response()
}

async fn delete_record(
    State(shared): AppState,
    Path((object, id)): Path<(String, String)>,
) -> Response {
    match record_table(&object) {
        Some(table @ ("lead" | "contact" | "opportunity" | "task")) => {
            delete(&shared, table, None, &id)
        }
        Some(_) => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."),
        None => not_found(),
    }
}

async fn delete_activity(
    State(shared): AppState,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    match activity_type(&kind) {
        Some(kind) => delete(&shared, "activity", Some(kind), &id),
        None => not_found(),
    }
}

async fn me(State(shared): AppState) -> Response {
    let store = shared.read();
    let user = store.table("user").first().cloned().unwrap_or(Value::Null);
    axum::Json(json!({
        "id": user["id"], "first_name": user["first_name"], "last_name": user["last_name"],
        "email": user["email"], "organizations": [{"id": super::store::ORGANIZATION, "name": "Close Simulator"}],
    }))
    .into_response()
}

async fn opportunity_statuses(State(shared): AppState) -> Response {
    let store = shared.read();
    let data: Vec<Value> = store
        .table("pipeline")
        .iter()
        .flat_map(|pipeline| {
            pipeline["statuses"].as_array().cloned().unwrap_or_default().into_iter().map(|status| {
                json!({"id": status["id"], "label": status["label"], "type": status["type"],
                       "pipeline_id": pipeline["id"], "organization_id": super::store::ORGANIZATION})
            }).collect::<Vec<_>>()
        })
        .collect();
    axum::Json(json!({"data": data, "has_more": false})).into_response()
}

async fn lead_statuses(State(shared): AppState) -> Response {
    let store = shared.read();
    let data: Vec<Value> = store
        .lead_statuses
        .iter()
        .map(|status| json!({"id": status["id"], "label": status["label"], "organization_id": super::store::ORGANIZATION}))
        .collect();
    axum::Json(json!({"data": data, "has_more": false})).into_response()
}

async fn custom_fields(State(shared): AppState, Path(object): Path<String>) -> Response {
    if !matches!(object.as_str(), "lead" | "contact" | "opportunity") {
        return not_found();
    }
    let store = shared.read();
    let data = store
        .custom_fields
        .get(object.as_str())
        .cloned()
        .unwrap_or_default();
    axum::Json(json!({"data": data, "has_more": false})).into_response()
}

/// `GET /event/`: newest first, `_cursor` pages to older events, at most 50 a page.
async fn list_events(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    let params = params(query.as_deref());
    let limit = match param(&params, "_limit").map(str::parse::<usize>) {
        None => MAX_EVENTS,
        Some(Ok(limit)) if (1..=MAX_EVENTS).contains(&limit) => limit,
        Some(_) => {
            return field_error(
                "_limit",
                &format!("Ensure this value is less than or equal to {MAX_EVENTS}."),
            );
        }
    };
    let mut bounds = Vec::new();
    for op in ["gt", "gte", "lt", "lte"] {
        match time_param(&params, &format!("date_updated__{op}")) {
            Ok(Some(time)) => bounds.push((op, time)),
            Ok(None) => {}
            Err(response) => return response,
        }
    }
    let before: Option<usize> = match param(&params, "_cursor") {
        None => None,
        Some(cursor) => match URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok())
        {
            Some(index) => Some(index),
            None => return field_error("_cursor", "Invalid cursor."),
        },
    };
    let store = shared.read();
    let keeps = |event: &Value| {
        [
            "object_type",
            "object_id",
            "action",
            "lead_id",
            "user_id",
            "request_id",
        ]
        .iter()
        .all(|field| param(&params, field).is_none_or(|value| event[*field] == value))
            && bounds.iter().all(|(op, bound)| {
                let Some(time) = event["date_updated"].as_str().and_then(parse_time) else {
                    return false;
                };
                match *op {
                    "gt" => time > *bound,
                    "gte" => time >= *bound,
                    "lt" => time < *bound,
                    _ => time <= *bound,
                }
            })
    };
    let end = before.unwrap_or(store.events.len()).min(store.events.len());
    let mut data = Vec::new();
    let mut next = None;
    for index in (0..end).rev() {
        let event = &store.events[index];
        if !keeps(event) {
            continue;
        }
        if data.len() == limit {
            next = Some(index + 1);
            break;
        }
        data.push(event.clone());
    }
    let cursor_next = next.map(|index| URL_SAFE_NO_PAD.encode(index.to_string()));
    axum::Json(json!({"data": data, "cursor_next": cursor_next, "cursor_previous": null}))
        .into_response()
}

async fn authorize(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    let params = params(query.as_deref());
    let (Some(client_id), Some(redirect_uri)) =
        (param(&params, "client_id"), param(&params, "redirect_uri"))
    else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if !shared.oauth.client_known(client_id) {
        return error(StatusCode::BAD_REQUEST, "invalid_client");
    }
    let pkce = match (
        param(&params, "code_challenge"),
        param(&params, "code_challenge_method"),
    ) {
        (Some(challenge), Some("S256")) => Some(crate::oauth::Pkce::S256(challenge.to_owned())),
        (Some(challenge), _) => Some(crate::oauth::Pkce::Plain(challenge.to_owned())),
        _ => None,
    };
    let scope = param(&params, "scope").unwrap_or("all.full_access");
    let code = shared
        .oauth
        .issue_code(client_id, redirect_uri, scope, pkce);
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return error(StatusCode::BAD_REQUEST, "invalid_redirect_uri");
    };
    {
        let mut pairs = target.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = param(&params, "state") {
            pairs.append_pair("state", state);
        }
    }
    Redirect::to(target.as_str()).into_response()
}

fn token_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error}))).into_response()
}

/// `POST /oauth2/token/`: `authorization_code` and `refresh_token` grants; the client
/// authenticates in the form or with Basic.
async fn token(State(shared): AppState, headers: HeaderMap, body: Bytes) -> Response {
    let form = params(std::str::from_utf8(&body).ok());
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
        });
    let (client_id, secret) = match (
        param(&form, "client_id"),
        param(&form, "client_secret"),
        basic,
    ) {
        (Some(id), Some(secret), _) => (id.to_owned(), secret.to_owned()),
        (_, _, Some(pair)) => pair,
        _ => return token_error("invalid_client"),
    };
    if shared
        .oauth
        .authenticate_client(&client_id, &secret)
        .is_err()
    {
        return token_error("invalid_client");
    }
    let refresh = param(&form, "grant_type") == Some("refresh_token");
    shared.oauth.count_token_request(refresh);
    let issued = match param(&form, "grant_type") {
        Some("authorization_code") => {
            let Some(code) = param(&form, "code") else {
                return token_error("invalid_grant");
            };
            shared.oauth.exchange_code(
                &client_id,
                code,
                param(&form, "redirect_uri"),
                param(&form, "code_verifier"),
            )
        }
        Some("refresh_token") => {
            let Some(refresh_token) = param(&form, "refresh_token") else {
                return token_error("invalid_grant");
            };
            shared.oauth.refresh(&client_id, refresh_token)
        }
        _ => return token_error("unsupported_grant_type"),
    };
    match issued {
        Ok(issued) => {
            let store = shared.read();
            let user = store
                .table("user")
                .first()
                .map(|user| user["id"].clone())
                .unwrap_or(Value::Null);
            let mut answer = json!({
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "scope": issued.scope,
                "user_id": user,
                "organization_id": super::store::ORGANIZATION,
            });
            if let Some(refresh_token) = issued.refresh_token {
                answer["refresh_token"] = json!(refresh_token);
            }
            axum::Json(answer).into_response()
        }
        Err(_) => token_error("invalid_grant"),
    }
}

/// The subscription as Close shows it (the signature key only when it is made).
fn webhook_view(id: &str, url: &str, events: &[(String, String)]) -> Value {
    json!({
        "id": id,
        "url": url,
        "status": "active",
        "verify_ssl": true,
        "events": events
            .iter()
            .map(|(object_type, action)| json!({"object_type": object_type, "action": action, "extra_filter": null}))
            .collect::<Vec<_>>(),
    })
}

/// `POST /api/v1/webhook/`: subscribes `url` to `events` (`[{object_type, action}]`); the
/// answer carries the `signature_key` deliveries are signed with. The simulator keeps one
/// subscription: a new one replaces it.
async fn create_webhook(State(shared): AppState, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid JSON body.");
    };
    let Some(url) = body["url"]
        .as_str()
        .filter(|url| url::Url::parse(url).is_ok())
    else {
        return field_error("url", "Enter a valid URL.");
    };
    let Some(wanted) = body["events"]
        .as_array()
        .filter(|events| !events.is_empty())
    else {
        return field_error("events", "This field is required.");
    };
    let mut events = Vec::new();
    for event in wanted {
        match (event["object_type"].as_str(), event["action"].as_str()) {
            (Some(object_type), Some(action)) => {
                events.push((object_type.to_owned(), action.to_owned()));
            }
            _ => return field_error("events", "Each event needs object_type and action."),
        }
    }
    let (id, key) = {
        let mut store = shared.write();
        let id = format!("whsub_{}", &store.new_id("event")[3..25]);
        let key: String = (0..32)
            .map(|_| format!("{:02x}", store.rng.gen_range(0..=255_u8)))
            .collect();
        (id, key)
    };
    {
        let mut hook = shared.hook.lock().expect("hook poisoned");
        hook.subscription = Some((id.clone(), events.clone()));
        hook.sent = shared.read().events.len();
    }
    shared.webhooks.subscribe(crate::webhooks::Subscription {
        url: url.to_owned(),
        secret: key.clone(),
        username: None,
    });
    let mut view = webhook_view(&id, url, &events);
    view["signature_key"] = json!(key);
    axum::Json(view).into_response()
}

fn current_webhook(shared: &Shared) -> Option<Value> {
    let hook = shared.hook.lock().expect("hook poisoned");
    let (id, events) = hook.subscription.as_ref()?;
    let url = shared.webhooks.subscription()?.url;
    Some(webhook_view(id, &url, events))
}

async fn list_webhooks(State(shared): AppState) -> Response {
    let data: Vec<Value> = current_webhook(&shared).into_iter().collect();
    axum::Json(json!({"data": data, "has_more": false})).into_response()
}

async fn get_webhook(State(shared): AppState, Path(id): Path<String>) -> Response {
    match current_webhook(&shared) {
        Some(view) if view["id"] == id.as_str() => axum::Json(view).into_response(),
        _ => not_found(),
    }
}

/// `DELETE /api/v1/webhook/{id}/`: no more deliveries.
async fn delete_webhook(State(shared): AppState, Path(id): Path<String>) -> Response {
    let mut hook = shared.hook.lock().expect("hook poisoned");
    if hook
        .subscription
        .as_ref()
        .is_none_or(|(current, _)| *current != id)
    {
        return not_found();
    }
    hook.subscription = None;
    drop(hook);
    shared.webhooks.unsubscribe();
    axum::Json(json!({})).into_response()
}
