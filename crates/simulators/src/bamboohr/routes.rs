//! The HTTP surface: routes, the auth and rate-limit guard, and the handlers.
//!
//! Handlers take the data lock only in synchronous sections, never across an await. Every path
//! is under `/api/v1` (the base URL stands for `https://{companyDomain}.bamboohr.com`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::Shared;
use super::store::{
    ARCHIVED_OPTIONS, CUSTOM_FIELDS, DEPARTMENTS, LOCATIONS, NewTimeOff, Row, STANDARD_FIELDS,
    Store, TIME_OFF_TYPES, iso, location_address, now,
};
use crate::faults::{FaultLayerState, control_routes, fault_middleware};

type AppState = State<Arc<Shared>>;

/// The list's default and largest page (`page[limit]`).
const DEFAULT_LIMIT: usize = 250;
const MAX_LIMIT: usize = 2_500;

/// An error answer: the status, the `X-BambooHR-Error-Message` header and, on the list of
/// employees, the `{error: {code, message}}` body its description gives.
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    code: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            code: None,
        }
    }

    fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            code: Some(code),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let header_value = HeaderValue::from_str(&self.message)
            .unwrap_or_else(|_| HeaderValue::from_static("error"));
        let mut response = match self.code {
            Some(code) => (
                self.status,
                axum::Json(json!({"error": {"code": code, "message": self.message}})),
            )
                .into_response(),
            None => self.status.into_response(),
        };
        response
            .headers_mut()
            .insert("x-bamboohr-error-message", header_value);
        response
    }
}

type ApiResult = Result<Response, ApiError>;

pub(crate) fn build(shared: Arc<Shared>) -> Router {
    let api: Router<Arc<Shared>> = Router::new()
        .route(
            "/api/v1/employees",
            get(list_employees).post(create_employee),
        )
        .route("/api/v1/employees/changed", get(changed_employees))
        .route(
            "/api/v1/employees/changed/tables/{table}",
            get(changed_table),
        )
        .route(
            "/api/v1/employees/{id}",
            get(get_employee).post(update_employee),
        )
        .route("/api/v1/employees/{id}/tables/{table}", get(employee_table))
        .route(
            "/api/v1/employees/{id}/time_off/request",
            put(create_time_off_request),
        )
        .route(
            "/api/v1/employees/{id}/time_off/calculator",
            get(time_off_calculator),
        )
        .route("/api/v1/meta/fields", get(meta_fields))
        .route("/api/v1/meta/lists", get(meta_lists))
        .route("/api/v1/company_information", get(company_information))
        .route("/api/v1/hris/org/locations", get(org_locations))
        .route("/api/v1/meta/time_off/types", get(time_off_types))
        .route("/api/v1/time_off/requests", get(list_time_off_requests))
        .route(
            "/api/v1/time_off/requests/{id}/status",
            put(set_time_off_status),
        )
        .route("/api/v1/webhooks", get(list_webhooks).post(create_webhook))
        .route(
            "/api/v1/webhooks/{id}",
            get(get_webhook).delete(delete_webhook),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));
    let throttle_status = shared.throttle_status;
    let fault_state = FaultLayerState {
        faults: shared.faults.clone(),
        log: shared.log.clone(),
        throttle: Arc::new(move |retry_after| throttled(throttle_status, retry_after.unwrap_or(2))),
    };
    api.with_state(Arc::clone(&shared))
        .merge(control_routes(shared.faults.clone(), shared.log.clone()))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "Not found") })
        .layer(middleware::from_fn_with_state(
            fault_state,
            fault_middleware,
        ))
}

/// BambooHR's throttle answer: `503` (until 2026-09-16) or `429` (from then), both with
/// `Retry-After` in seconds.
fn throttled(status: u16, retry_after_secs: u64) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let mut response = ApiError::new(status, "Rate limit exceeded").into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// The credential of a request: HTTP Basic with the API key as user name (any password) or an
/// OAuth Bearer token.
fn credential(shared: &Shared, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(encoded) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (key, _password) = text.split_once(':')?;
        return shared
            .api_keys
            .iter()
            .any(|k| k == key)
            .then(|| key.to_owned());
    }
    let bearer = value.strip_prefix("Bearer ")?.trim();
    shared
        .access_tokens
        .iter()
        .any(|t| t == bearer)
        .then(|| bearer.to_owned())
}

/// Checks the credential and counts the request against the company's window.
async fn guard(State(shared): AppState, request: Request, next: Next) -> Response {
    if credential(&shared, request.headers()).is_none() {
        return ApiError::new(StatusCode::UNAUTHORIZED, "Invalid API key or token").into_response();
    }
    if let Err(retry_after) = shared.limits.check() {
        return throttled(shared.throttle_status, retry_after);
    }
    let response = next.run(request).await;
    // The changes the request made go out as webhooks.
    shared.send_webhooks();
    response
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

fn parse_id(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "Employee not found"))
}

/// The live API's list cursor: base64 of `{"nextEmployee": id}` (forward) or
/// `{"prevEmployee": id}` (backward).
fn encode_cursor(direction: &str, id: u64) -> String {
    let mut cursor = Map::new();
    cursor.insert(direction.to_owned(), json!(id));
    base64::engine::general_purpose::STANDARD.encode(Value::Object(cursor).to_string())
}

fn decode_cursor(text: &str, direction: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get(direction)?.as_u64()
}

/// The list's answer shape of one employee: the default fields, then those asked by `fields`.
fn list_record(employee: &super::store::Employee, extra: &[&str]) -> Value {
    let field = |name: &str| employee.fields.get(name).cloned().unwrap_or(Value::Null);
    let mut record = Map::from_iter([
        ("employeeId".to_owned(), json!(employee.id.to_string())),
        ("firstName".to_owned(), field("firstName")),
        ("lastName".to_owned(), field("lastName")),
        ("preferredName".to_owned(), field("preferredName")),
        ("photoUrl".to_owned(), field("photoUrl")),
        ("jobTitleName".to_owned(), field("jobTitle")),
        ("status".to_owned(), field("status")),
    ]);
    for name in extra {
        let value = match *name {
            "workEmail" | "homeEmail" | "middleName" | "workPhone" | "mobilePhone" | "hireDate" => {
                field(name)
            }
            "birthDate" => field("dateOfBirth"),
            "departmentName" => field("department"),
            "divisionName" => field("division"),
            "locationName" => field("location"),
            "employmentStatusName" => field("employmentHistoryStatus"),
            "reportsToId" => field("supervisorEId"),
            // Unrecognised names are silently ignored, as the description says.
            _ => continue,
        };
        record.insert((*name).to_owned(), value);
    }
    record.insert("_restrictedFields".to_owned(), json!([]));
    Value::Object(record)
}

/// `GET /api/v1/employees`: cursor-paged (`page[limit]`, `page[after]`, `page[before]`),
/// sorted by id, filtered by `filter[ids]`, `filter[status]`, `filter[firstName]`,
/// `filter[lastName]` and `filter[jobTitleName]`.
async fn list_employees(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let bad = |message: &str| ApiError::coded(StatusCode::BAD_REQUEST, "BadRequest", message);
    let limit = match param(&pairs, "page[limit]") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| bad("page[limit] must be an integer from 1 to 2500"))?,
    };
    if let Some(sort) = param(&pairs, "sort")
        && !matches!(sort, "employeeId" | "-employeeId")
    {
        return Err(bad("Only sorting by employeeId is simulated"));
    }
    let descending = param(&pairs, "sort") == Some("-employeeId");
    let mut ids: Option<Vec<u64>> = None;
    for (key, value) in &pairs {
        if key == "filter[ids]" || key == "filter[ids][]" {
            let list = ids.get_or_insert_with(Vec::new);
            for part in value.split(',').filter(|part| !part.is_empty()) {
                list.push(
                    part.trim()
                        .parse()
                        .map_err(|_| bad("filter[ids] must hold integers"))?,
                );
            }
        }
    }
    let status = match param(&pairs, "filter[status]") {
        None => None,
        Some("active") => Some("Active"),
        Some("inactive") => Some("Inactive"),
        Some(_) => return Err(bad("filter[status] must be active or inactive")),
    };
    let contains = |name: &str| param(&pairs, name).map(str::to_lowercase);
    let (first, last, title) = (
        contains("filter[firstName]"),
        contains("filter[lastName]"),
        contains("filter[jobTitleName]"),
    );
    let extra: Vec<&str> = param(&pairs, "fields")
        .map(|fields| fields.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let path = "/api/v1/employees";
    super::apply_mutation(&shared, path);

    let store = shared.read();
    let matches_text = |employee: &super::store::Employee, field: &str, wanted: &Option<String>| {
        wanted.as_ref().is_none_or(|wanted| {
            employee.fields[field]
                .as_str()
                .is_some_and(|value| value.to_lowercase().contains(wanted))
        })
    };
    let mut matching: Vec<&super::store::Employee> = store
        .live()
        .filter(|employee| ids.as_ref().is_none_or(|ids| ids.contains(&employee.id)))
        .filter(|employee| status.is_none_or(|status| employee.fields["status"] == status))
        .filter(|employee| matches_text(employee, "firstName", &first))
        .filter(|employee| matches_text(employee, "lastName", &last))
        .filter(|employee| matches_text(employee, "jobTitle", &title))
        .collect();
    matching.sort_by_key(|employee| employee.id);
    if descending {
        matching.reverse();
    }
    let total = matching.len();
    // A cursor names the boundary employee; when it was deleted, or no longer matches, the
    // live API answers 400 `BadPage` (as its description says).
    let bad_page = || {
        ApiError::coded(
            StatusCode::BAD_REQUEST,
            "BadPage",
            "The page cursor is invalid or its employee changed",
        )
    };
    let start = match (param(&pairs, "page[after]"), param(&pairs, "page[before]")) {
        (Some(_), Some(_)) => return Err(bad_page()),
        (Some(after), None) => {
            let id = decode_cursor(after, "nextEmployee").ok_or_else(bad_page)?;
            matching
                .iter()
                .position(|employee| employee.id == id)
                .ok_or_else(bad_page)?
        }
        (None, Some(before)) => {
            let id = decode_cursor(before, "prevEmployee").ok_or_else(bad_page)?;
            let end = matching
                .iter()
                .position(|employee| employee.id == id)
                .ok_or_else(bad_page)?;
            end.saturating_sub(limit)
        }
        (None, None) => 0,
    };
    let page = &matching[start..(start + limit).min(total)];
    let next = matching.get(start + limit).map(|employee| employee.id);
    let prev = (start > 0).then(|| matching[start].id);
    let data: Vec<Value> = page
        .iter()
        .map(|employee| list_record(employee, &extra))
        .collect();
    let base = format!("https://{}.bamboohr.com{path}", shared.company_domain);
    let mut links = json!({"self": {"href": format!("{base}?page%5Blimit%5D={limit}")}});
    if let Some(next) = next {
        let cursor = encode_cursor("nextEmployee", next);
        links["next"] = json!({"href": format!(
            "{base}?page%5Bafter%5D={}&page%5Blimit%5D={limit}",
            urlencode(&cursor)
        )});
    }
    if let Some(prev) = prev {
        let cursor = encode_cursor("prevEmployee", prev);
        links["prev"] = json!({"href": format!(
            "{base}?page%5Bbefore%5D={}&page%5Blimit%5D={limit}",
            urlencode(&cursor)
        )});
    }
    Ok(axum::Json(json!({
        "data": data,
        "meta": {"total": total, "page": {
            "limit": limit,
            "nextCursor": next.map(|id| encode_cursor("nextEmployee", id)),
            "prevCursor": prev.map(|id| encode_cursor("prevEmployee", id)),
        }},
        "_links": links,
    }))
    .into_response())
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `GET /api/v1/employees/{id}?fields=a,b`: `id` and the fields asked for (standard names and
/// custom aliases; unknown names are left out). `id` 0 stands for the API user's own employee.
async fn get_employee(
    State(shared): AppState,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let id = parse_id(&id)?;
    let store = shared.read();
    let id = if id == 0 {
        store.live().next().map_or(0, |e| e.id)
    } else {
        id
    };
    let employee = store
        .employee(id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Employee not found"))?;
    let mut record = Map::from_iter([("id".to_owned(), json!(employee.id.to_string()))]);
    for name in param(&pairs, "fields")
        .unwrap_or("firstName,lastName")
        .split(',')
    {
        let name = name.trim();
        if name == "lastChanged" {
            record.insert(name.to_owned(), json!(iso(employee.last_changed)));
        } else if let Some(value) = employee.fields.get(name) {
            record.insert(name.to_owned(), value.clone());
        }
    }
    Ok(axum::Json(Value::Object(record)).into_response())
}

/// A write body: a JSON object of field names to values (strings or null); XML is not
/// simulated.
fn write_fields(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "The posted JSON is invalid"))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "The posted JSON is not an object",
        ));
    };
    for (name, value) in &fields {
        if !(value.is_string() || value.is_null()) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("Field {name} must be a string"),
            ));
        }
        if ["hireDate", "terminationDate", "dateOfBirth"].contains(&name.as_str())
            && let Some(text) = value.as_str()
            && !text.is_empty()
            && NaiveDate::parse_from_str(text, "%Y-%m-%d").is_err()
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("Invalid value for field {name}"),
            ));
        }
    }
    Ok(fields)
}

/// `POST /api/v1/employees`: 201 with no body and the new employee's URL in `Location`.
async fn create_employee(State(shared): AppState, body: Bytes) -> ApiResult {
    let fields = write_fields(&body)?;
    let named = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    };
    if !named("firstName") || !named("lastName") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "firstName and lastName are required",
        ));
    }
    let id = shared.write().insert(fields, now());
    let location = format!(
        "https://{}.bamboohr.com/employees/employee.php?id={id}",
        shared.company_domain
    );
    let mut response = StatusCode::CREATED.into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("an ASCII URL"),
    );
    Ok(response)
}

/// `POST /api/v1/employees/{id}`: updates the fields given; 200 with no body.
async fn update_employee(
    State(shared): AppState,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = parse_id(&id)?;
    let fields = write_fields(&body)?;
    let mut store = shared.write();
    let updated = if fields.get("employmentHistoryStatus") == Some(&json!("Terminated")) {
        let date = fields
            .get("terminationDate")
            .and_then(Value::as_str)
            .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .unwrap_or_else(|| now().date_naive());
        store.terminate(id, date, now()) && store.update(id, &fields, now())
    } else {
        store.update(id, &fields, now())
    };
    if updated {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "Employee not found"))
    }
}

/// Reads `since` (ISO 8601, required): 400 when missing or unreadable, as the live API does.
fn since(pairs: &[(String, String)]) -> Result<DateTime<Utc>, ApiError> {
    param(pairs, "since")
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|instant| instant.with_timezone(&Utc))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "since must be an ISO 8601 timestamp",
            )
        })
}

/// `GET /api/v1/employees/changed?since=…[&type=inserted|updated|deleted|all]`: the employees
/// changed after `since`, each with its last change's action.
async fn changed_employees(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let since = since(&pairs)?;
    let kind = match param(&pairs, "type") {
        None | Some("all") => None,
        Some("inserted") => Some("Inserted"),
        Some("updated") => Some("Updated"),
        Some("deleted") => Some("Deleted"),
        Some(_) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "Invalid type")),
    };
    let store = shared.read();
    let mut last: BTreeMap<u64, (&str, DateTime<Utc>)> = BTreeMap::new();
    for change in store.changes.iter().filter(|change| change.at > since) {
        last.insert(change.employee_id, (change.action, change.at));
    }
    let mut employees = Map::new();
    let mut latest = since;
    for (id, (action, at)) in last {
        if kind.is_some_and(|kind| kind != action) {
            continue;
        }
        latest = latest.max(at);
        employees.insert(
            id.to_string(),
            json!({"id": id.to_string(), "action": action, "lastChanged": iso(at)}),
        );
    }
    Ok(axum::Json(json!({"latest": iso(latest), "employees": employees})).into_response())
}

fn table_rows<'a>(store: &'a Store, table: &str) -> Result<&'a [Row], ApiError> {
    match table {
        "jobInfo" => Ok(&store.job_info),
        "compensation" => Ok(&store.compensation),
        "bonus" => Ok(&store.bonus),
        "employmentStatus" => Ok(&store.employment_status),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "Table not found")),
    }
}

fn row_json(row: &Row, with_employee: bool) -> Value {
    let mut object = Map::from_iter([("id".to_owned(), json!(row.id.to_string()))]);
    if with_employee {
        object.insert("employeeId".to_owned(), json!(row.employee_id.to_string()));
    }
    object.extend(row.fields.clone());
    Value::Object(object)
}

/// `GET /api/v1/employees/{id}/tables/{table}`: the employee's rows (`all` for every
/// employee's), each with its `id` and `employeeId`.
async fn employee_table(
    State(shared): AppState,
    Path((id, table)): Path<(String, String)>,
) -> ApiResult {
    let store = shared.read();
    let rows = table_rows(&store, &table)?;
    let wanted = if id == "all" {
        None
    } else {
        let id = parse_id(&id)?;
        store
            .employee(id)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Employee not found"))?;
        Some(id)
    };
    let live: Vec<u64> = store.live().map(|employee| employee.id).collect();
    let answer: Vec<Value> = rows
        .iter()
        .filter(|row| wanted.is_none_or(|id| row.employee_id == id))
        .filter(|row| live.contains(&row.employee_id))
        .map(|row| row_json(row, true))
        .collect();
    Ok(axum::Json(Value::Array(answer)).into_response())
}

/// `GET /api/v1/employees/changed/tables/{table}?since=…`: for each employee changed after
/// `since`, its rows of the table (without row ids, as recorded).
async fn changed_table(
    State(shared): AppState,
    Path(table): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let since = since(&pairs)?;
    let store = shared.read();
    let rows = table_rows(&store, &table)?;
    let mut employees = Map::new();
    for employee in store
        .live()
        .filter(|employee| employee.last_changed > since)
    {
        let rows: Vec<Value> = rows
            .iter()
            .filter(|row| row.employee_id == employee.id)
            .map(|row| row_json(row, false))
            .collect();
        employees.insert(
            employee.id.to_string(),
            json!({"lastChanged": iso(employee.last_changed), "rows": rows}),
        );
    }
    Ok(axum::Json(json!({"table": table, "employees": employees})).into_response())
}

/// `GET /api/v1/meta/fields`: the standard fields and the company's custom fields.
async fn meta_fields(State(_shared): AppState) -> ApiResult {
    let mut fields: Vec<Value> = STANDARD_FIELDS
        .iter()
        .map(|(id, name, kind)| json!({"id": id.parse::<u64>().map_or(json!(id), |n| json!(n)), "name": label(name), "type": kind, "alias": name}))
        .collect();
    fields.extend(CUSTOM_FIELDS.iter().map(
        |(id, name, kind, alias)| json!({"id": id, "name": name, "type": kind, "alias": alias}),
    ));
    Ok(axum::Json(Value::Array(fields)).into_response())
}

/// The options of the list fields `department`, `division` and `location`: `(option id,
/// name, archived)`, ids stable across runs of one configuration. `extra_locations` more
/// locations (held by no employee) come first.
fn list_options(alias: &str, extra_locations: usize) -> Vec<(u64, String, bool)> {
    let (base, live): (u64, Vec<String>) = match alias {
        "department" => (
            18_000,
            DEPARTMENTS.iter().map(|(d, _)| (*d).to_owned()).collect(),
        ),
        "division" => {
            let mut divisions: Vec<String> = Vec::new();
            for (_, division) in DEPARTMENTS {
                if !divisions.iter().any(|known| known == division) {
                    divisions.push((*division).to_owned());
                }
            }
            (19_000, divisions)
        }
        "location" => (
            20_000,
            (1..=extra_locations)
                .map(|n| format!("Remote hub {n:04}"))
                .chain(LOCATIONS.iter().map(|name| (*name).to_owned()))
                .collect(),
        ),
        _ => return Vec::new(),
    };
    let archived = ARCHIVED_OPTIONS
        .iter()
        .filter(|(list, _)| *list == alias)
        .map(|(_, name)| ((*name).to_owned(), true));
    live.into_iter()
        .map(|name| (name, false))
        .chain(archived)
        .enumerate()
        .map(|(idx, (name, archived))| (base + idx as u64 + 1, name, archived))
        .collect()
}

/// `GET /api/v1/meta/lists`: every list field with its options, archived ones included
/// (`archived: yes`) for history. The lists are flat: BambooHR keeps no parent of an option.
async fn meta_lists(State(shared): AppState) -> ApiResult {
    let lists: Vec<Value> = ["department", "division", "location"]
        .iter()
        .map(|alias| {
            let field_id = STANDARD_FIELDS
                .iter()
                .find(|(_, name, _)| name == alias)
                .map_or("0", |(id, _, _)| *id);
            let options: Vec<Value> = list_options(alias, shared.extra_locations)
                .into_iter()
                .map(|(id, name, archived)| {
                    json!({
                        "id": id,
                        "name": name,
                        "archived": if archived { "yes" } else { "no" },
                        "createdDate": "2019-03-04T17:12:09+00:00",
                        "archivedDate": archived.then_some("2024-06-30T09:00:00+00:00"),
                    })
                })
                .collect();
            json!({"fieldId": field_id, "name": label(alias), "alias": alias, "manageable": "yes", "multiple": "no", "options": options})
        })
        .collect();
    Ok(axum::Json(Value::Array(lists)).into_response())
}

/// `GET /api/v1/hris/org/locations[?page=&pageSize=&filter=]`: the job locations, paged by
/// number from 0 (`pageSize` default 500). Active ones by default; a `filter` naming
/// `archived eq true` and/or `archived eq false` chooses (the only filter the simulator reads).
async fn org_locations(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let number = |name: &str, default: usize| -> Result<usize, ApiError> {
        param(&pairs, name).map_or(Ok(default), |text| {
            text.parse().map_err(|_| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{name} must be a whole number"),
                )
            })
        })
    };
    let page = number("page", 0)?;
    let page_size = number("pageSize", 500)?.max(1);
    // `expand=state,country` adds the state's and country's names and codes.
    let expand: Vec<&str> = param(&pairs, "expand").map_or(Vec::new(), |e| e.split(',').collect());
    // Without a filter, the active ones; `archived eq true`, `archived eq false` or both
    // joined by `or` choose.
    let filter = param(&pairs, "filter").map(|f| f.replace(' ', ""));
    let wanted = |archived: bool| match &filter {
        None => !archived,
        Some(f) => f.contains(&format!("archivedeq{archived}")),
    };
    let all: Vec<Value> = list_options("location", shared.extra_locations)
        .into_iter()
        .filter(|(_, _, archived)| wanted(*archived))
        .map(|(id, name, archived)| {
            let address = match location_address(&name) {
                Some((line1, city, state, zip, country, timezone)) => {
                    let country_id = if country == "US" { "1" } else { "2" };
                    let mut address = json!({
                        "address1": line1, "address2": null, "city": city,
                        "stateId": (!state.is_empty()).then_some(if state == "UT" { "44" } else { "0" }),
                        "zipcode": zip, "countryId": country_id, "timezone": timezone,
                        "remoteLocation": false,
                    });
                    if expand.contains(&"country") {
                        let name = if country == "US" { "United States" } else { "United Kingdom" };
                        address["country"] = json!({"id": country_id, "name": name, "isoCode": country});
                    }
                    if expand.contains(&"state") && !state.is_empty() {
                        address["state"] = json!({"id": "44", "name": "Utah", "abbreviation": state});
                    }
                    address
                }
                None => json!({
                    "address1": null, "address2": null, "city": null, "stateId": null,
                    "zipcode": null, "countryId": null, "timezone": null, "remoteLocation": true,
                }),
            };
            json!({
                "id": id.to_string(),
                "label": name,
                "archived": archived,
                "manageable": true,
                "address": address,
                "createdAt": "2019-03-04T17:12:09Z",
            })
        })
        .collect();
    let total = all.len();
    let data: Vec<Value> = all
        .into_iter()
        .skip(page * page_size)
        .take(page_size)
        .collect();
    Ok(axum::Json(json!({
        "data": data,
        "meta": {"page": page, "pageSize": page_size, "totalPages": total.div_ceil(page_size), "totalItems": total},
        "_links": null,
    }))
    .into_response())
}

/// `GET /api/v1/company_information`: the one company of the account.
async fn company_information(State(_shared): AppState) -> ApiResult {
    Ok(axum::Json(json!({
        "legalName": "Efficient Office, Inc.",
        "displayName": "Efficient Office",
        "address": {"line1": "335 S 560 W", "line2": "Suite 200", "city": "Lindon", "state": "UT", "zip": "84042"},
        "phone": "801-724-6600",
    }))
    .into_response())
}

/// `firstName` → `First Name`.
fn label(name: &str) -> String {
    let mut out = String::new();
    for (idx, c) in name.chars().enumerate() {
        if idx == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_uppercase() {
            out.push(' ');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

/// `GET /api/v1/meta/time_off/types`.
async fn time_off_types(State(_shared): AppState) -> ApiResult {
    let types: Vec<Value> = TIME_OFF_TYPES
        .iter()
        .map(|(id, name, units, icon)| {
            json!({"id": id.to_string(), "name": name, "units": units, "color": null, "icon": icon, "source": "internal"})
        })
        .collect();
    Ok(axum::Json(json!({
        "timeOffTypes": types,
        "defaultHours": [{"name": "Saturday", "amount": "0"}, {"name": "Sunday", "amount": "0"}, {"name": "default", "amount": "8"}],
    }))
    .into_response())
}

/// `GET /api/v1/time_off/requests?start=…&end=…[&id][&employeeId][&status][&type]`: requests
/// overlapping the window (both dates required).
async fn list_time_off_requests(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let date = |name: &str| {
        param(&pairs, name)
            .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("{name} must be a YYYY-MM-DD date"),
                )
            })
    };
    let (start, end) = (date("start")?, date("end")?);
    let id = param(&pairs, "id");
    let employee = param(&pairs, "employeeId");
    let statuses: Option<Vec<&str>> = param(&pairs, "status").map(|s| s.split(',').collect());
    let store = shared.read();
    let live: Vec<String> = store.live().map(|e| e.id.to_string()).collect();
    let answer: Vec<Value> = store
        .time_off_requests
        .iter()
        .filter(|request| live.iter().any(|id| request["employeeId"] == id.as_str()))
        .filter(|request| id.is_none_or(|id| request["id"] == id))
        .filter(|request| employee.is_none_or(|e| request["employeeId"] == e))
        .filter(|request| {
            statuses
                .as_ref()
                .is_none_or(|wanted| wanted.iter().any(|s| request["status"]["status"] == *s))
        })
        .filter(|request| {
            let day = |key: &str| {
                request[key]
                    .as_str()
                    .and_then(|t| t.parse::<NaiveDate>().ok())
            };
            day("start").is_some_and(|s| s <= end) && day("end").is_some_and(|e| e >= start)
        })
        .map(|request| Value::Object(request.clone()))
        .collect();
    Ok(axum::Json(Value::Array(answer)).into_response())
}

/// `PUT /api/v1/employees/{id}/time_off/request`: creates a request; 201 with the request.
async fn create_time_off_request(
    State(shared): AppState,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let employee_id = parse_id(&id)?;
    let bad = |message: &str| ApiError::new(StatusCode::BAD_REQUEST, message);
    let body: Value =
        serde_json::from_slice(&body).map_err(|_| bad("The posted JSON is invalid"))?;
    let status = body["status"].as_str().unwrap_or_default();
    if !["approved", "denied", "declined", "requested"].contains(&status) {
        return Err(bad(
            "status must be approved, denied, declined or requested",
        ));
    }
    let day = |key: &str| {
        body[key]
            .as_str()
            .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .ok_or_else(|| bad("start and end must be YYYY-MM-DD dates"))
    };
    let (start, end) = (day("start")?, day("end")?);
    if end < start {
        return Err(bad("end must be on or after start"));
    }
    // The live API takes ids and amounts as numbers or numeric strings.
    let type_id = match &body["timeOffTypeId"] {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
    .filter(|id| TIME_OFF_TYPES.iter().any(|(known, ..)| known == id))
    .ok_or_else(|| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Unknown timeOffTypeId"))?;
    let amount = match &body["amount"] {
        Value::Number(number) => number.to_string(),
        Value::String(text) if crate::decimal::parse_text(text).is_some() => text.trim().to_owned(),
        Value::Null => ((end - start).num_days() + 1).to_string(),
        _ => return Err(bad("amount must be a number")),
    };
    let note = body["notes"]
        .as_array()
        .and_then(|notes| notes.iter().find(|n| n["from"] == "employee"))
        .and_then(|note| note["note"].as_str())
        .map(str::to_owned);
    let mut store = shared.write();
    if store.employee(employee_id).is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "Employee not found"));
    }
    let today = now().date_naive();
    let id = store.add_time_off_request(NewTimeOff {
        employee_id,
        type_id,
        start,
        end,
        amount,
        status: status.to_owned(),
        note,
        today,
    });
    let request = store
        .time_off_requests
        .iter()
        .find(|request| request["id"] == id.to_string().as_str())
        .cloned()
        .map(Value::Object)
        .unwrap_or(Value::Null);
    Ok((StatusCode::CREATED, axum::Json(request)).into_response())
}

/// `PUT /api/v1/time_off/requests/{id}/status`: approves, denies or cancels a request.
async fn set_time_off_status(
    State(shared): AppState,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "The posted JSON is invalid"))?;
    let status = match body["status"].as_str() {
        Some("approved") => "approved",
        Some("denied" | "declined") => "denied",
        Some("canceled" | "cancelled") => "canceled",
        _ => return Err(ApiError::new(StatusCode::BAD_REQUEST, "Invalid status")),
    };
    let mut store = shared.write();
    let today = now().date_naive().to_string();
    let request = store
        .time_off_requests
        .iter_mut()
        .find(|request| request["id"] == id.as_str())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Request not found"))?;
    request.insert(
        "status".to_owned(),
        json!({"lastChanged": today, "lastChangedByUserId": "2385", "status": status}),
    );
    if let Some(note) = body["note"].as_str()
        && let Some(Value::Object(notes)) = request.get_mut("notes")
    {
        notes.insert("manager".to_owned(), json!(note));
    }
    Ok(StatusCode::OK.into_response())
}

/// `GET /api/v1/employees/{id}/time_off/calculator[?end=…]`: the balance of each time-off
/// type as of `end` (default today): a yearly allowance less what was approved.
async fn time_off_calculator(
    State(shared): AppState,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let id = parse_id(&id)?;
    let end = match param(&pairs, "end") {
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "end must be a YYYY-MM-DD date"))?,
        None => now().date_naive(),
    };
    let store = shared.read();
    if store.employee(id).is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "Employee not found"));
    }
    let balances: Vec<Value> = TIME_OFF_TYPES
        .iter()
        .map(|(type_id, name, units, _)| {
            let used: f64 = store
                .time_off_requests
                .iter()
                .filter(|r| r["employeeId"] == id.to_string().as_str())
                .filter(|r| r["type"]["id"] == type_id.to_string().as_str())
                .filter(|r| r["status"]["status"] == "approved")
                .filter_map(|r| r["amount"]["amount"].as_str()?.parse::<f64>().ok())
                .sum();
            let allowance = if *units == "hours" { 120.0 } else { 5.0 };
            json!({
                "timeOffType": type_id.to_string(),
                "name": name,
                "units": units,
                "balance": format!("{:.2}", allowance - used),
                "end": end.to_string(),
                "policyType": "accruing",
                "usedYearToDate": format!("{used:.2}"),
            })
        })
        .collect();
    Ok(axum::Json(Value::Array(balances)).into_response())
}

/// A webhook error: `{"errors": [{"error", "issues"}]}`, as the description's
/// `WebhookBadRequest`.
fn webhook_error(status: StatusCode, error: &str, issues: &[String]) -> Response {
    (
        status,
        axum::Json(json!({"errors": [{"error": error, "issues": issues}]})),
    )
        .into_response()
}

fn webhook_not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"errors": {"error": format!("Webhook ID {id} not found")}})),
    )
        .into_response()
}

/// The event types of the description's `WebhookEventType`.
const EVENT_TYPES: &[&str] = &[
    "employee_with_fields.updated",
    "employee_with_fields.created",
    "employee_with_fields.deleted",
    "company-integrations.updated",
    "employee.created",
    "employee.updated",
    "employee.deleted",
    "company.updated",
    "company.deleted",
];

/// Whether `url` is one a webhook may post to: `https`, or `http` on loopback (the tests').
fn webhook_url(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.scheme() {
        "https" => true,
        "http" => {
            matches!(
                parsed.host(),
                Some(url::Host::Ipv4(ip)) if ip.is_loopback()
            ) || matches!(parsed.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                || parsed.host_str() == Some("localhost")
        }
        _ => false,
    }
}

/// The webhook as `GET /api/v1/webhooks/{id}` shows it (no private key).
fn webhook_view(webhook: &super::Webhook) -> Value {
    json!({
        "id": webhook.id,
        "name": webhook.name,
        "created": webhook.created,
        "lastSent": null,
        "monitorFields": if webhook.monitor_fields.is_empty() { Value::Null } else { json!(webhook.monitor_fields) },
        "postFields": webhook.post_fields,
        "url": webhook.url,
        "format": "json",
        "includeCompanyDomain": webhook.include_company_domain,
        "events": webhook.events,
    })
}

/// `POST /api/v1/webhooks`: makes the (one) webhook; 201 with it and its `privateKey`, which
/// is never shown again.
async fn create_webhook(State(shared): AppState, body: Bytes) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return webhook_error(StatusCode::BAD_REQUEST, "Invalid JSON body", &[]);
    };
    let mut issues = Vec::new();
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| !name.trim().is_empty());
    if name.is_none() {
        issues.push("name is required".to_owned());
    }
    let url = body
        .get("url")
        .and_then(Value::as_str)
        .filter(|url| webhook_url(url));
    if url.is_none() {
        issues.push("url must be an https URL".to_owned());
    }
    match body.get("format").and_then(Value::as_str) {
        Some("json") => {}
        Some("form-encoded") => issues.push("form-encoded webhooks are not simulated".to_owned()),
        _ => issues.push("format must be json or form-encoded".to_owned()),
    }
    let events: Vec<String> = match body.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(events)) => events
            .iter()
            .map(|event| event.as_str().unwrap_or_default().to_owned())
            .collect(),
        Some(_) => {
            issues.push("events must be an array".to_owned());
            Vec::new()
        }
    };
    for event in &events {
        if !EVENT_TYPES.contains(&event.as_str()) {
            issues.push(format!("Unknown event {event}"));
        }
    }
    let legacy = events.is_empty()
        || events
            .iter()
            .any(|event| event.starts_with("employee_with_fields."));
    if legacy {
        issues.push(
            "the employee_with_fields events (the default) are not simulated: name employee.* events"
                .to_owned(),
        );
    }
    let monitor_fields: Vec<String> = body
        .get("monitorFields")
        .and_then(Value::as_array)
        .map(|fields| {
            fields
                .iter()
                .map(|field| field.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    if events.iter().any(|event| event == "employee.updated") && monitor_fields.is_empty() {
        issues.push("monitorFields is required for employee.updated".to_owned());
    }
    let unknown: Vec<String> = monitor_fields
        .iter()
        .filter(|field| {
            !STANDARD_FIELDS
                .iter()
                .any(|(id, alias, _)| id == field || alias == field)
                && !CUSTOM_FIELDS
                    .iter()
                    .any(|(id, _, _, alias)| id.to_string() == **field || alias == field)
        })
        .cloned()
        .collect();
    if !unknown.is_empty() {
        issues.push(format!("Unknown monitorFields: {}", unknown.join(", ")));
    }
    let post_fields = match body.get("postFields") {
        None | Some(Value::Null) => json!({}),
        Some(fields @ Value::Object(_)) => fields.clone(),
        Some(_) => {
            issues.push("postFields must be an object".to_owned());
            json!({})
        }
    };
    let (Some(name), Some(url), true) = (name, url, issues.is_empty()) else {
        return webhook_error(StatusCode::BAD_REQUEST, "Invalid webhook", &issues);
    };
    let key: String = {
        let mut store = shared.write();
        (0..32)
            .map(|_| format!("{:02x}", rand::Rng::gen_range(&mut store.rng, 0..=255_u8)))
            .collect()
    };
    let webhook = {
        let mut hook = shared.hook.lock().expect("hook poisoned");
        hook.last_id += 1;
        let webhook = super::Webhook {
            id: hook.last_id.to_string(),
            name: name.to_owned(),
            url: url.to_owned(),
            events,
            monitor_fields,
            post_fields,
            include_company_domain: body
                .get("includeCompanyDomain")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            created: now().format("%Y-%m-%d %H:%M:%S").to_string(),
        };
        hook.webhook = Some(webhook.clone());
        hook.sent = shared.read().changes.len();
        webhook
    };
    shared.webhooks.subscribe(crate::webhooks::Subscription {
        url: url.to_owned(),
        secret: key.clone(),
        username: None,
    });
    let mut view = webhook_view(&webhook);
    view["privateKey"] = json!(key);
    (StatusCode::CREATED, axum::Json(view)).into_response()
}

/// `GET /api/v1/webhooks`: `{"webhooks": [{id, name, created, lastSent, url}]}`.
async fn list_webhooks(State(shared): AppState) -> Response {
    let hook = shared.hook.lock().expect("hook poisoned");
    let webhooks: Vec<Value> = hook
        .webhook
        .iter()
        .map(|webhook| {
            json!({"id": webhook.id, "name": webhook.name, "created": webhook.created,
                   "lastSent": null, "url": webhook.url})
        })
        .collect();
    axum::Json(json!({"webhooks": webhooks})).into_response()
}

/// `GET /api/v1/webhooks/{id}`.
async fn get_webhook(State(shared): AppState, Path(id): Path<String>) -> Response {
    let hook = shared.hook.lock().expect("hook poisoned");
    match hook.webhook.as_ref().filter(|webhook| webhook.id == id) {
        Some(webhook) => axum::Json(webhook_view(webhook)).into_response(),
        None => webhook_not_found(&id),
    }
}

/// `DELETE /api/v1/webhooks/{id}`: no more deliveries; a plain-text confirmation.
async fn delete_webhook(State(shared): AppState, Path(id): Path<String>) -> Response {
    let mut hook = shared.hook.lock().expect("hook poisoned");
    if hook.webhook.as_ref().is_none_or(|webhook| webhook.id != id) {
        return webhook_not_found(&id);
    }
    hook.webhook = None;
    drop(hook);
    shared.webhooks.unsubscribe();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        "Web hook has been deleted.",
    )
        .into_response()
}
