//! The HTTP surface: routes, the token and rate-limit guard, the attribute envelope, and the
//! handlers.
//!
//! Handlers take the data lock only in synchronous sections, never across an await. Every path
//! is under `/v1` (the base URL stands for `https://api.personio.de`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

use super::Shared;
use super::store::{
    ATTRIBUTES, Employee, HourlyAbsence, Store, TIME_OFF_TYPES, TimeOff, attribute_def, day_stamp,
    now, relation_by_name, stamp,
};
use crate::faults::{FaultLayerState, control_routes, fault_middleware};

type AppState = State<Arc<Shared>>;

/// An error answer: `{success: false, error: {code, message}}` with a status.
pub(crate) struct ApiError {
    status: StatusCode,
    code: i64,
    message: String,
    error_data: Option<Value>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: i64::from(status.as_u16()),
            message: message.into(),
            error_data: None,
        }
    }

    /// An error whose body code is 0, as the description gives for some absence errors.
    fn zero(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code: 0,
            ..ApiError::new(status, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(data) = self.error_data {
            error["error_data"] = data;
        }
        (
            self.status,
            axum::Json(json!({"success": false, "error": error})),
        )
            .into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

pub(crate) fn build(shared: Arc<Shared>) -> Router {
    let api: Router<Arc<Shared>> = Router::new()
        .route(
            "/v1/company/employees",
            get(list_employees).post(create_employee),
        )
        .route("/v1/company/employees/attributes", get(attributes))
        .route("/v1/company/employees/custom-attributes", get(attributes))
        .route(
            "/v1/company/employees/{id}",
            get(get_employee).patch(update_employee),
        )
        .route(
            "/v1/company/employees/{id}/absences/balance",
            get(absence_balance),
        )
        .route("/v1/company/time-off-types", get(time_off_types))
        .route(
            "/v1/company/time-offs",
            get(list_time_offs).post(create_time_off),
        )
        .route(
            "/v1/company/time-offs/{id}",
            get(get_time_off).delete(delete_time_off),
        )
        .route(
            "/v1/company/absence-periods",
            get(list_absence_periods).post(create_absence_period),
        )
        .route(
            "/v1/company/absence-periods/{id}",
            axum::routing::delete(delete_absence_period),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));
    let fault_state = FaultLayerState {
        faults: shared.faults.clone(),
        log: shared.log.clone(),
        throttle: Arc::new(|retry_after| throttled(retry_after.unwrap_or(2))),
    };
    Router::new()
        .route("/v1/auth", post(auth))
        .route("/v2/auth/token", post(super::v2::token))
        .route("/v2/compensations", get(super::v2::list))
        .with_state(Arc::clone(&shared))
        .merge(api.with_state(Arc::clone(&shared)))
        .merge(control_routes(shared.faults.clone(), shared.log.clone()))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "Not found") })
        .layer(middleware::from_fn_with_state(
            fault_state,
            fault_middleware,
        ))
}

/// Personio's throttle: `429` with the error body (and `Retry-After` in seconds).
pub(crate) fn throttled(retry_after_secs: u64) -> Response {
    let mut response =
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// The rate-limited group a path belongs to, if any.
fn limit_group(method: &axum::http::Method, path: &str) -> Option<&'static str> {
    if path.ends_with("/absences/balance") {
        Some("balances")
    } else if path.starts_with("/v1/company/time-offs")
        || path.starts_with("/v1/company/absence-periods")
    {
        Some("absences")
    } else if method == axum::http::Method::GET && path == "/v1/company/employees" {
        Some("employees")
    } else {
        None
    }
}

/// Checks the Bearer token and counts the request against its group's window; a successful
/// answer carries the token back in `Authorization`, as Personio's do.
async fn guard(State(shared): AppState, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .strip_prefix("Bearer ")
                .unwrap_or(value)
                .trim()
                .to_owned()
        });
    let Some(token) = token.filter(|token| shared.valid(token)) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "The token is invalid or has expired",
        )
        .into_response();
    };
    if let Some(group) = limit_group(request.method(), request.uri().path())
        && let Err(retry_after) = shared.limits.check(group)
    {
        return throttled(retry_after);
    }
    let mut response = next.run(request).await;
    if response.status().is_success()
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        response.headers_mut().insert(header::AUTHORIZATION, value);
    }
    response
}

/// A request body as pairs: JSON objects (one level, nested objects kept as JSON text) or
/// form fields.
fn body_map(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "The request body is not a JSON object",
            )),
        };
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "Malformed form body"))?;
    Ok(pairs
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect())
}

/// `POST /v1/auth` with `client_id` and `client_secret` (JSON or form): the company's token,
/// the same one while it lives (24 hours).
async fn auth(State(shared): AppState, headers: HeaderMap, body: Bytes) -> ApiResult {
    if let Err(retry_after) = shared.limits.check("auth") {
        return Ok(throttled(retry_after));
    }
    let form = body_map(&headers, &body)?;
    let text = |name: &str| form.get(name).and_then(Value::as_str).unwrap_or("");
    if text("client_id").is_empty() || text("client_secret").is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "The client_id and client_secret fields are required",
        ));
    }
    if text("client_id") != shared.client_id || text("client_secret") != shared.client_secret {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Wrong credentials"));
    }
    let token = shared.token();
    let expires_in = shared.token_lifetime.as_secs();
    Ok(axum::Json(json!({
        "success": true,
        "data": {"token": token, "expires_in": expires_in, "scope": "employees:read employees:write absences:read absences:write"},
    }))
    .into_response())
}

fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "Malformed query string"))
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn all_params<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .collect()
}

/// A paging number: absent gives `default`; below `min` or not a number is a 400 naming it.
fn number(
    pairs: &[(String, String)],
    name: &str,
    default: usize,
    min: usize,
) -> Result<usize, ApiError> {
    match param(pairs, name) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .ok()
            .filter(|value| *value >= min)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("The {name} parameter must be an integer of at least {min}"),
                )
            }),
    }
}

/// An ISO 8601 instant (`2022-12-24T08:15:30`, with or without an offset; a time without an
/// offset is UTC) or a day (`YYYY-MM-DD`, its midnight UTC).
fn instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Some(at.and_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
}

/// One attribute's envelope.
fn envelope(key: &str, value: Value) -> Value {
    let def = attribute_def(key);
    let mut attribute = json!({
        "label": def.map_or(key, |def| def.label),
        "value": value,
        "type": def.map_or("standard", |def| def.kind),
        "universal_id": def.and_then(|def| def.universal_id),
    });
    if matches!(key, "fix_salary" | "hourly_salary") {
        attribute["currency"] = json!("EUR");
    }
    attribute
}

/// The short employee (id, names, email) Personio nests in supervisors and time off.
fn short_employee(employee: &Employee) -> Value {
    let mut attributes = Map::new();
    attributes.insert("id".to_owned(), envelope("id", json!(employee.id)));
    for key in ["first_name", "last_name", "email"] {
        let value = employee.values.get(key).cloned().unwrap_or(Value::Null);
        attributes.insert(key.to_owned(), envelope(key, value));
    }
    json!({"type": "Employee", "attributes": attributes})
}

/// An employee as the API answers it: every attribute the credentials may read (all of
/// [`ATTRIBUTES`]), or those of the projection (and `id`).
fn render_employee(store: &Store, employee: &Employee, projection: &[&str]) -> Value {
    let mut attributes = Map::new();
    for def in ATTRIBUTES {
        if !projection.is_empty() && def.key != "id" && !projection.contains(&def.key) {
            continue;
        }
        let value = match def.key {
            "id" => json!(employee.id),
            "last_modified_at" => json!(stamp(employee.modified_at)),
            "supervisor" => employee
                .values
                .get("supervisor")
                .and_then(Value::as_u64)
                .and_then(|id| store.employee(id))
                .map_or(Value::Null, short_employee),
            key => employee.values.get(key).cloned().unwrap_or(Value::Null),
        };
        attributes.insert(def.key.to_owned(), envelope(def.key, value));
    }
    json!({"type": "Employee", "attributes": attributes})
}

/// `GET /v1/company/employees`: `limit` (default 10) and `offset` (a record offset), `email`,
/// `attributes[]` and `updated_since` (which ignores the other three and answers every
/// employee changed since, in one answer), in id order.
async fn list_employees(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let limit = number(&pairs, "limit", 10, 1)?;
    let offset = number(&pairs, "offset", 0, 0)?;
    let since = match param(&pairs, "updated_since") {
        None => None,
        Some(text) => Some(instant(text).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "The updated_since parameter must be an ISO 8601 date or date and time",
            )
        })?),
    };
    let mut projection = all_params(&pairs, "attributes[]");
    projection.extend(all_params(&pairs, "attributes"));
    let email = param(&pairs, "email").map(str::to_lowercase);
    super::apply_mutation(&shared, "/v1/company/employees");

    let store = shared.read();
    let matching: Vec<&Employee> = store
        .live()
        .filter(|employee| match since {
            // With a projection, only changes to those attributes count; every change here
            // touches the record as a whole, so the projection does not narrow it further.
            Some(since) => employee.modified_at >= since,
            None => email.as_ref().is_none_or(|email| {
                employee.values["email"]
                    .as_str()
                    .is_some_and(|value| value.to_lowercase() == *email)
            }),
        })
        .collect();
    let total = matching.len();
    let (page, offset, limit): (&[&Employee], usize, usize) = if since.is_some() {
        (&matching, 0, total.max(1))
    } else {
        let start = offset.min(total);
        (&matching[start..(start + limit).min(total)], offset, limit)
    };
    let data: Vec<Value> = page
        .iter()
        .map(|employee| render_employee(&store, employee, &projection))
        .collect();
    Ok(axum::Json(json!({
        "success": true,
        "metadata": {
            "total_elements": total,
            "current_page": offset / limit,
            "total_pages": total.div_ceil(limit),
        },
        "offset": offset,
        "limit": limit,
        "data": data,
    }))
    .into_response())
}

fn employee_not_found() -> ApiError {
    // The description's example message, trailing space included.
    ApiError::new(StatusCode::NOT_FOUND, "Es ist ein Problem aufgetreten ")
}

fn parse_employee_id(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| employee_not_found())
}

/// `GET /v1/company/employees/{id}`.
async fn get_employee(State(shared): AppState, Path(id): Path<String>) -> ApiResult {
    let id = parse_employee_id(&id)?;
    let store = shared.read();
    let employee = store.employee(id).ok_or_else(employee_not_found)?;
    Ok(
        axum::Json(json!({"success": true, "data": render_employee(&store, employee, &[])}))
            .into_response(),
    )
}

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// The written fields of an employee body (`{employee: {…}}` in JSON, `employee[name]` in a
/// form), checked and turned into stored values; unknown departments, offices and
/// subcompanies are left out with a `meta` note, as Personio does.
fn employee_values(
    store: &Store,
    body: &Map<String, Value>,
    updating: Option<u64>,
) -> Result<(Map<String, Value>, Vec<String>), ApiError> {
    let mut given = Map::new();
    match body.get("employee") {
        Some(Value::Object(employee)) => given.clone_from(employee),
        Some(_) => return Err(unprocessable("The employee field must be an object")),
        None => {
            for (key, value) in body {
                if let Some(name) = key
                    .strip_prefix("employee[")
                    .and_then(|k| k.strip_suffix(']'))
                {
                    given.insert(name.to_owned(), value.clone());
                }
            }
        }
    }
    let text = |value: &Value| -> Option<String> {
        match value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    };
    let mut values = Map::new();
    let mut meta = Vec::new();
    for (key, value) in &given {
        match key.as_str() {
            "email" if updating.is_some() => {}
            "first_name" | "last_name" | "preferred_name" | "position" | "email" => {
                let text = text(value)
                    .ok_or_else(|| unprocessable(format!("The {key} must be a string")))?;
                values.insert(key.clone(), json!(text));
            }
            "gender" => {
                let text = text(value).unwrap_or_default();
                if !matches!(text.as_str(), "male" | "female" | "diverse" | "") {
                    return Err(unprocessable(
                        "The gender must be one of male, female, diverse",
                    ));
                }
                values.insert(key.clone(), json!(text));
            }
            "status" => {
                let text = text(value).unwrap_or_default();
                if !matches!(
                    text.as_str(),
                    "onboarding" | "active" | "leave" | "inactive"
                ) {
                    return Err(unprocessable(
                        "The status must be one of onboarding, active, leave, inactive",
                    ));
                }
                values.insert(key.clone(), json!(text));
            }
            "hire_date" => {
                let day = text(value)
                    .and_then(|text| NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok())
                    .ok_or_else(|| unprocessable("The hire_date must be a date (yyyy-mm-dd)"))?;
                values.insert(key.clone(), json!(day_stamp(day)));
            }
            "weekly_working_hours" => {
                let hours = text(value)
                    .filter(|text| text.parse::<f64>().is_ok())
                    .ok_or_else(|| unprocessable("The weekly_working_hours must be a number"))?;
                values.insert(key.clone(), json!(hours));
            }
            "department" | "office" | "subcompany" => {
                let name = text(value).unwrap_or_default();
                match relation_by_name(key, &name) {
                    Some(relation) => {
                        values.insert(key.clone(), relation);
                    }
                    None => meta.push(format!("The {key} `{name}` does not exist and was ignored")),
                }
            }
            "supervisor_id" => {
                let supervisor = match value {
                    Value::Null => Value::Null,
                    other => {
                        let id = text(other)
                            .and_then(|text| text.parse::<u64>().ok())
                            .filter(|id| store.employee(*id).is_some() && Some(*id) != updating)
                            .ok_or_else(|| {
                                unprocessable(format!(
                                    "Supervisor with ID {} not found",
                                    text(other).unwrap_or_default()
                                ))
                            })?;
                        json!(id)
                    }
                };
                values.insert("supervisor".to_owned(), supervisor);
            }
            "custom_attributes" => {
                let Value::Object(custom) = value else {
                    return Err(unprocessable("The custom_attributes must be an object"));
                };
                for (name, value) in custom {
                    if name.starts_with("dynamic_") && attribute_def(name).is_some() {
                        values.insert(name.clone(), json!(text(value).unwrap_or_default()));
                    } else {
                        meta.push(format!(
                            "The attribute `{name}` does not exist and was ignored"
                        ));
                    }
                }
            }
            // Anything else is ignored, as the description says.
            _ => {}
        }
    }
    Ok((values, meta))
}

/// `POST /v1/company/employees`: `email`, `first_name` and `last_name` required; the status
/// follows the hire date when not given.
async fn create_employee(State(shared): AppState, headers: HeaderMap, body: Bytes) -> ApiResult {
    let body = body_map(&headers, &body)?;
    let mut store = shared.write();
    let (mut values, meta) = employee_values(&store, &body, None)?;
    for required in ["email", "first_name", "last_name"] {
        if values
            .get(required)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(unprocessable(format!("The {required} field is required")));
        }
    }
    let email = values["email"].as_str().unwrap_or_default().to_lowercase();
    if store.live().any(|employee| {
        employee.values["email"]
            .as_str()
            .is_some_and(|e| e.to_lowercase() == email)
    }) {
        return Err(unprocessable("The email has already been taken"));
    }
    let at = now();
    if !values.contains_key("status") {
        let future = values
            .get("hire_date")
            .and_then(Value::as_str)
            .and_then(|text| {
                NaiveDate::parse_from_str(&text[..10.min(text.len())], "%Y-%m-%d").ok()
            })
            .is_some_and(|day| day > at.date_naive());
        values.insert(
            "status".to_owned(),
            json!(if future { "onboarding" } else { "active" }),
        );
    }
    values.entry("supervisor").or_insert(Value::Null);
    let id = store.create(values, at);
    let mut answer = json!({"success": true, "data": {"id": id, "message": "success"}});
    if !meta.is_empty() {
        answer["meta"] = json!(meta);
    }
    Ok(axum::Json(answer).into_response())
}

/// `PATCH /v1/company/employees/{id}`: the fields of the description but `email`.
async fn update_employee(
    State(shared): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let id = parse_employee_id(&id)?;
    let body = body_map(&headers, &body)?;
    let mut store = shared.write();
    if store.employee(id).is_none() {
        return Err(employee_not_found());
    }
    let (values, meta) = employee_values(&store, &body, Some(id))?;
    store.update(id, &values, now());
    Ok(axum::Json(json!({"success": true, "data": {"id": id}, "meta": meta})).into_response())
}

/// `GET /v1/company/employees/attributes` (and its alias `custom-attributes`).
async fn attributes(State(_shared): AppState) -> ApiResult {
    let data: Vec<Value> = ATTRIBUTES
        .iter()
        .filter(|def| def.key != "id")
        .map(|def| {
            json!({"key": def.key, "label": def.label, "type": def.kind,
                "universal_id": def.universal_id, "options": def.options})
        })
        .collect();
    Ok(axum::Json(json!({"success": true, "data": data})).into_response())
}

/// `GET /v1/company/employees/{id}/absences/balance`: each day-based type's balance.
async fn absence_balance(State(shared): AppState, Path(id): Path<String>) -> ApiResult {
    let id = parse_employee_id(&id)?;
    let store = shared.read();
    store.employee(id).ok_or_else(employee_not_found)?;
    let data: Vec<Value> = store
        .balances(id)
        .into_iter()
        .map(|(idx, balance, available)| {
            let (type_id, name, category, ..) = TIME_OFF_TYPES[idx];
            json!({"id": type_id, "name": name, "category": category,
                "balance": balance, "available_balance": available})
        })
        .collect();
    Ok(axum::Json(json!({"success": true, "data": data})).into_response())
}

fn time_off_type(idx: usize) -> Value {
    let (id, name, category, unit, approval_required, _) = TIME_OFF_TYPES[idx];
    json!({"type": "TimeOffType", "attributes": {"id": id, "name": name, "category": category,
        "unit": unit, "approval_required": approval_required}})
}

/// `GET /v1/company/time-off-types`: `limit` (default 200) and `offset`, a record offset.
async fn time_off_types(State(_shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let limit = number(&pairs, "limit", 200, 1)?;
    let offset = number(&pairs, "offset", 0, 0)?;
    let total = TIME_OFF_TYPES.len();
    let data: Vec<Value> = (offset.min(total)..(offset + limit).min(total))
        .map(time_off_type)
        .collect();
    Ok(axum::Json(json!({
        "success": true,
        "metadata": {"total_elements": total, "current_page": offset / limit + 1, "total_pages": total.div_ceil(limit)},
        "offset": offset,
        "limit": limit,
        "data": data,
    }))
    .into_response())
}

/// A time-off period as the API answers it. Half days are `0`/`1`, as the recorded answers
/// have them (the description says booleans).
fn render_time_off(store: &Store, period: &TimeOff) -> Value {
    let type_idx = TIME_OFF_TYPES
        .iter()
        .position(|(id, ..)| *id == period.type_id)
        .unwrap_or(0);
    let (type_id, name, category, ..) = TIME_OFF_TYPES[type_idx];
    let employee = store
        .employee(period.employee_id)
        .map_or(Value::Null, short_employee);
    json!({"type": "TimeOffPeriod", "attributes": {
        "id": period.id,
        "status": period.status,
        "comment": period.comment,
        "start_date": day_stamp(period.start),
        "end_date": day_stamp(period.end),
        "days_count": period.days_count(),
        "half_day_start": u8::from(period.half_day_start),
        "half_day_end": u8::from(period.half_day_end),
        "time_off_type": {"type": "TimeOffType", "attributes": {"id": type_id, "name": name, "category": category}},
        "employee": employee,
        "created_by": period.created_by,
        "certificate": {"status": "not-required"},
        "created_at": stamp(period.created_at),
        "updated_at": stamp(period.updated_at),
    }})
}

/// `GET /v1/company/time-offs`: `start_date`/`end_date` (periods touching the window),
/// `updated_from`/`updated_to` (inclusive days), `employees[]`, `limit` (default 200) and
/// `offset`, a page number from 0.
async fn list_time_offs(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let limit = number(&pairs, "limit", 200, 1)?;
    let page = number(&pairs, "offset", 0, 0)?;
    let day = |name: &str| -> Result<Option<NaiveDate>, ApiError> {
        param(&pairs, name)
            .map(|text| {
                instant(text).map(|at| at.date_naive()).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("The {name} parameter must be a date"),
                    )
                })
            })
            .transpose()
    };
    let (start, end) = (day("start_date")?, day("end_date")?);
    let (from, to) = (day("updated_from")?, day("updated_to")?);
    let mut employees = Vec::new();
    for text in all_params(&pairs, "employees[]") {
        employees.push(text.parse::<u64>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "The employees[] parameter must hold integers",
            )
        })?);
    }
    let store = shared.read();
    let matching: Vec<&TimeOff> = store
        .time_offs
        .values()
        .filter(|p| employees.is_empty() || employees.contains(&p.employee_id))
        .filter(|p| start.is_none_or(|start| p.end >= start))
        .filter(|p| end.is_none_or(|end| p.start <= end))
        .filter(|p| from.is_none_or(|from| p.updated_at.date_naive() >= from))
        .filter(|p| to.is_none_or(|to| p.updated_at.date_naive() <= to))
        .collect();
    let total = matching.len();
    let first = (page * limit).min(total);
    let data: Vec<Value> = matching[first..(first + limit).min(total)]
        .iter()
        .map(|period| render_time_off(&store, period))
        .collect();
    Ok(axum::Json(json!({
        "success": true,
        "metadata": {"total_elements": total, "current_page": page + 1, "total_pages": total.div_ceil(limit)},
        "offset": page,
        "limit": limit,
        "data": data,
    }))
    .into_response())
}

fn period_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "The absence period was not found.")
}

fn parse_period_id(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "The absence period id is invalid."))
}

/// `GET /v1/company/time-offs/{id}`.
async fn get_time_off(State(shared): AppState, Path(id): Path<String>) -> ApiResult {
    let id = parse_period_id(&id)?;
    let store = shared.read();
    let period = store.time_offs.get(&id).ok_or_else(period_not_found)?;
    Ok(
        axum::Json(json!({"success": true, "data": render_time_off(&store, period)}))
            .into_response(),
    )
}

/// `DELETE /v1/company/time-offs/{id}`.
async fn delete_time_off(State(shared): AppState, Path(id): Path<String>) -> ApiResult {
    let id = parse_period_id(&id)?;
    let mut store = shared.write();
    store.time_offs.remove(&id).ok_or_else(period_not_found)?;
    Ok(
        axum::Json(
            json!({"success": true, "data": {"message": "The absence period was deleted."}}),
        )
        .into_response(),
    )
}

/// `POST /v1/company/time-offs` (a form, as the description says; JSON is read too): a
/// day-based period, approved unless `skip_approval` is false and the type needs approval.
async fn create_time_off(State(shared): AppState, headers: HeaderMap, body: Bytes) -> ApiResult {
    let form = body_map(&headers, &body)?;
    let text = |name: &str| -> Option<String> {
        match form.get(name)? {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    };
    let flag = |name: &str| -> Option<bool> {
        match text(name)?.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    };
    let mut invalid = Map::new();
    let employee_id = text("employee_id").and_then(|t| t.parse::<u64>().ok());
    let type_id = text("time_off_type_id").and_then(|t| t.parse::<u64>().ok());
    let start = text("start_date").and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok());
    let end = text("end_date").and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok());
    let (half_start, half_end) = (flag("half_day_start"), flag("half_day_end"));
    for (name, ok) in [
        ("employee_id", employee_id.is_some()),
        ("time_off_type_id", type_id.is_some()),
        ("start_date", start.is_some()),
        ("end_date", end.is_some()),
        ("half_day_start", half_start.is_some()),
        ("half_day_end", half_end.is_some()),
    ] {
        if !ok {
            invalid.insert(
                name.to_owned(),
                json!([format!("The {name} field is required or invalid.")]),
            );
        }
    }
    if let (Some(start), Some(end)) = (start, end)
        && end < start
    {
        invalid.insert(
            "end_date".to_owned(),
            json!(["The end date must be a date after or equal to start date."]),
        );
    }
    if !invalid.is_empty() {
        return Err(ApiError {
            error_data: Some(Value::Object(invalid)),
            ..ApiError::zero(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The given data failed to pass validation.",
            )
        });
    }
    let (employee_id, type_id, start, end) = (
        employee_id.unwrap_or_default(),
        type_id.unwrap_or_default(),
        start.unwrap_or_default(),
        end.unwrap_or_default(),
    );
    let mut store = shared.write();
    if store.employee(employee_id).is_none() {
        return Err(ApiError::zero(StatusCode::NOT_FOUND, "Employee not found."));
    }
    let Some(&(_, _, _, unit, approval_required, _)) =
        TIME_OFF_TYPES.iter().find(|(id, ..)| *id == type_id)
    else {
        return Err(ApiError::zero(
            StatusCode::NOT_FOUND,
            "Time-off type not found.",
        ));
    };
    let overlaps = store.time_offs.values().any(|p| {
        p.employee_id == employee_id && p.status != "rejected" && p.start <= end && start <= p.end
    });
    if unit != "day" || overlaps {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Error when trying to insert absence period",
        ));
    }
    let skip_approval = flag("skip_approval").unwrap_or(true);
    let status = if !skip_approval && approval_required {
        "pending"
    } else {
        "approved"
    };
    let at = now();
    let id = store.add_time_off(TimeOff {
        id: 0,
        employee_id,
        type_id,
        status: status.to_owned(),
        start,
        end,
        half_day_start: half_start.unwrap_or(false),
        half_day_end: half_end.unwrap_or(false),
        comment: text("comment").unwrap_or_default(),
        created_by: "API".to_owned(),
        created_at: at,
        updated_at: at,
    });
    let period = store.time_offs.get(&id).ok_or_else(period_not_found)?;
    Ok(
        axum::Json(json!({"success": true, "data": render_time_off(&store, period)}))
            .into_response(),
    )
}

/// The UUID-like id of the absence type behind an hourly time-off type (the v1 answers name
/// both: the absence type's own id and `time_off_type_id`).
fn absence_type_uuid(type_id: u64) -> String {
    format!("9bba303f-0fbc-4514-9958-{type_id:012x}")
}

/// An hourly absence period as the API answers it: instants in the company's zone, the
/// effective duration in minutes, and its breakdown by day.
fn render_absence_period(store: &Store, period: &HourlyAbsence) -> Value {
    let name = TIME_OFF_TYPES
        .iter()
        .find(|(id, ..)| *id == period.type_id)
        .map_or("", |(_, name, ..)| *name);
    let employee = store
        .employee(period.employee_id)
        .map_or(Value::Null, short_employee);
    let breakdowns = period.breakdowns();
    let minutes: i64 = breakdowns.iter().map(|(_, minutes)| minutes).sum();
    json!({"type": "AbsencePeriod", "attributes": {
        "id": period.id,
        "measurement_unit": "minutes",
        "effective_duration": minutes,
        "employee": employee,
        "absence_type": {"type": "AbsenceType", "attributes": {
            "id": absence_type_uuid(period.type_id), "name": name, "time_off_type_id": period.type_id}},
        "certificate": {"status": "not-required"},
        "start": stamp(period.start),
        "end": stamp(period.end),
        "half_day_start": period.whole_days.is_some_and(|(half, _)| half),
        "half_day_end": period.whole_days.is_some_and(|(_, half)| half),
        "comment": period.comment,
        "origin": "web",
        "status": period.status,
        "timezone": "Europe/Berlin",
        "created_by": 1,
        "created_at": stamp(period.created_at),
        "updated_at": stamp(period.updated_at),
        "approved_at": (period.status == "approved").then(|| stamp(period.updated_at)),
        "breakdowns": breakdowns.iter().map(|(day, minutes)| {
            json!({"date": day.format("%Y-%m-%d").to_string(), "effective_duration": minutes})
        }).collect::<Vec<_>>(),
    }})
}

/// `GET /v1/company/absence-periods`: the hourly absence periods. `start_date`/`end_date`
/// (periods touching the window), `updated_from`/`updated_to` (inclusive instants),
/// `employees[]`, `absence_periods[]` (ids), `limit` (default 200) and `offset`, a record
/// offset as the description words it (the same words as on `/company/time-off-types`).
async fn list_absence_periods(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let limit = number(&pairs, "limit", 200, 1)?;
    let offset = number(&pairs, "offset", 0, 0)?;
    let at = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        param(&pairs, name)
            .map(|text| {
                instant(text).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("The {name} parameter must be a date"),
                    )
                })
            })
            .transpose()
    };
    let (start, end) = (at("start_date")?, at("end_date")?);
    let (from, to) = (at("updated_from")?, at("updated_to")?);
    let mut employees = Vec::new();
    for text in all_params(&pairs, "employees[]") {
        employees.push(text.parse::<u64>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "The employees[] parameter must hold integers",
            )
        })?);
    }
    let ids = all_params(&pairs, "absence_periods[]");
    let store = shared.read();
    let matching: Vec<&HourlyAbsence> = store
        .absence_periods
        .values()
        .filter(|p| employees.is_empty() || employees.contains(&p.employee_id))
        .filter(|p| ids.is_empty() || ids.contains(&p.id.as_str()))
        .filter(|p| start.is_none_or(|start| p.end.date_naive() >= start.date_naive()))
        .filter(|p| end.is_none_or(|end| p.start.date_naive() <= end.date_naive()))
        .filter(|p| from.is_none_or(|from| p.updated_at >= from))
        .filter(|p| to.is_none_or(|to| p.updated_at <= to))
        .collect();
    let total = matching.len();
    let first = offset.min(total);
    let data: Vec<Value> = matching[first..(first + limit).min(total)]
        .iter()
        .map(|period| render_absence_period(&store, period))
        .collect();
    Ok(axum::Json(json!({
        "success": true,
        "metadata": {"total_elements": total, "current_page": offset / limit + 1, "total_pages": total.div_ceil(limit)},
        "offset": offset,
        "limit": limit,
        "data": data,
    }))
    .into_response())
}

/// `POST /v1/company/absence-periods` (a form, as the description says; JSON is read too):
/// an hourly period, for a time-off type whose unit is `hour` only. One day takes
/// `start_time` and `end_time` (`HH:mm`, the company's zone), required there; several days
/// are whole days by the schedule (8 hours each, 4 for a half day by `half_day_start` and
/// `half_day_end`), and their times are not read. Approved unless `skip_approval` is false
/// and the type needs approval (the description's default is true). Answers 201 with the
/// period as an object, as the description's schema says (its example shows a one-item array).
async fn create_absence_period(
    State(shared): AppState,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let form = body_map(&headers, &body)?;
    let text = |name: &str| -> Option<String> {
        match form.get(name)? {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    };
    let flag = |name: &str| -> Result<Option<bool>, ()> {
        match text(name).as_deref() {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(_) => Err(()),
        }
    };
    let time = |name: &str| -> Option<Option<chrono::NaiveTime>> {
        text(name).map(|t| chrono::NaiveTime::parse_from_str(&t, "%H:%M").ok())
    };
    let mut invalid = Map::new();
    let mut refuse = |name: &str, message: String| {
        invalid.insert(name.to_owned(), json!([message]));
    };
    let employee_id = text("employee_id").and_then(|t| t.parse::<u64>().ok());
    let type_id = text("time_off_type_id").and_then(|t| t.parse::<u64>().ok());
    let start = text("start_date").and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok());
    let end = text("end_date").and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok());
    for (name, ok) in [
        ("employee_id", employee_id.is_some()),
        ("time_off_type_id", type_id.is_some()),
        ("start_date", start.is_some()),
        ("end_date", end.is_some()),
    ] {
        if !ok {
            refuse(name, format!("The {name} field is required or invalid."));
        }
    }
    let (half_start, half_end) = (flag("half_day_start"), flag("half_day_end"));
    for (name, value) in [("half_day_start", half_start), ("half_day_end", half_end)] {
        if value.is_err() {
            refuse(name, format!("The {name} field must be true or false."));
        }
    }
    let skip_approval = flag("skip_approval");
    if skip_approval.is_err() {
        refuse(
            "skip_approval",
            "The skip_approval field must be true or false.".to_owned(),
        );
    }
    let one_day = start.is_some() && start == end;
    let (start_time, end_time) = (time("start_time"), time("end_time"));
    if one_day {
        for (name, value) in [("start_time", start_time), ("end_time", end_time)] {
            if !matches!(value, Some(Some(_))) {
                refuse(
                    name,
                    format!(
                        "The {name} field is required (HH:mm) when start_date and end_date are the same."
                    ),
                );
            }
        }
        if let (Some(Some(from)), Some(Some(to))) = (start_time, end_time)
            && to <= from
        {
            refuse(
                "end_time",
                "The end time must be after the start time.".to_owned(),
            );
        }
    }
    if let (Some(start), Some(end)) = (start, end)
        && end < start
    {
        refuse(
            "end_date",
            "The end date must be a date after or equal to start date.".to_owned(),
        );
    }
    if !invalid.is_empty() {
        return Err(ApiError {
            error_data: Some(Value::Object(invalid)),
            ..ApiError::zero(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The given data failed to pass validation.",
            )
        });
    }
    let (employee_id, type_id, start, end) = (
        employee_id.unwrap_or_default(),
        type_id.unwrap_or_default(),
        start.unwrap_or_default(),
        end.unwrap_or_default(),
    );
    let mut store = shared.write();
    if store.employee(employee_id).is_none() {
        return Err(ApiError::zero(StatusCode::NOT_FOUND, "Employee not found."));
    }
    let Some(&(_, _, _, unit, approval_required, _)) =
        TIME_OFF_TYPES.iter().find(|(id, ..)| *id == type_id)
    else {
        return Err(ApiError::zero(
            StatusCode::NOT_FOUND,
            "Absence type not found.",
        ));
    };
    // The company's zone (UTC+1, as the seed's periods).
    let local = |day: NaiveDate, at: chrono::NaiveTime| {
        day.and_time(at).and_utc() - chrono::Duration::hours(1)
    };
    let midnight = chrono::NaiveTime::MIN;
    let (from, to, whole_days) = match (one_day, start_time, end_time) {
        (true, Some(Some(from)), Some(Some(to))) => (local(start, from), local(start, to), None),
        _ => (
            local(start, midnight),
            local(end + chrono::Duration::days(1), midnight),
            Some((
                half_start.ok().flatten().unwrap_or(false),
                half_end.ok().flatten().unwrap_or(false),
            )),
        ),
    };
    let overlaps = store.absence_periods.values().any(|p| {
        p.employee_id == employee_id && p.status != "rejected" && p.start < to && from < p.end
    });
    if unit != "hour" || overlaps {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Error when trying to insert absence period",
        ));
    }
    let status = if skip_approval.ok().flatten() == Some(false) && approval_required {
        "pending"
    } else {
        "approved"
    };
    let at = now();
    let id = store.add_absence_period(HourlyAbsence {
        id: String::new(),
        employee_id,
        type_id,
        status: status.to_owned(),
        start: from,
        end: to,
        comment: text("comment").unwrap_or_default(),
        created_at: at,
        updated_at: at,
        whole_days,
    });
    let period = store
        .absence_periods
        .get(&id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "The absence period was not found."))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"success": true, "data": render_absence_period(&store, period)})),
    )
        .into_response())
}

/// `DELETE /v1/company/absence-periods/{id}`: a UUID; anything else is a 400.
async fn delete_absence_period(State(shared): AppState, Path(id): Path<String>) -> ApiResult {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "The absence period id is invalid.",
        ));
    }
    let mut store = shared.write();
    store
        .absence_periods
        .remove(&id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "The absence period was not found."))?;
    Ok(
        axum::Json(
            json!({"success": true, "data": {"message": "The absence period was deleted."}}),
        )
        .into_response(),
    )
}
