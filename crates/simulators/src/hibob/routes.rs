//! The HTTP surface: routes, the auth and rate-limit guard, and the handlers.
//!
//! Every path is under `/v1` (the base URL stands for `https://api.hibob.com`). Handlers take
//! the data lock only in synchronous sections, never across an await.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

use super::Shared;
use super::store::{
    DEPARTMENTS, Employee, Entry, FIELDS, POLICY_TYPES, SITES, Store, TimeOffRequest, at_path,
    bob_time, department_name, now, set_path, site_by_name,
};
use crate::faults::{FaultLayerState, control_routes, fault_middleware};

type AppState = State<Arc<Shared>>;

/// The bulk tables' default and largest page (`limit`, employees per page).
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

/// An error answer in the description's `Error` shape, `{key, error}`.
pub(crate) struct ApiError {
    status: StatusCode,
    key: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, key: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            key,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad.request", message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not.found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"key": self.key, "error": self.message})),
        )
            .into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

pub(crate) fn build(shared: Arc<Shared>) -> Router {
    let api: Router<Arc<Shared>> = Router::new()
        .route("/v1/people/search", post(search_people))
        .route("/v1/people", post(create_employee))
        .route(
            "/v1/people/{identifier}",
            post(read_employee).put(update_employee),
        )
        .route(
            "/v1/employees/{identifier}/terminate",
            post(terminate_employee),
        )
        .route("/v1/company/people/fields", get(people_fields))
        .route("/v1/company/named-lists", get(named_lists))
        .route("/v1/company/named-lists/{list}", get(named_list))
        .route("/v1/bulk/people/work", get(bulk_work))
        .route("/v1/bulk/people/salaries", get(bulk_salaries))
        .route("/v1/bulk/people/employment", get(bulk_employment))
        .route("/v1/timeoff/policy-types", get(policy_types))
        .route("/v1/timeoff/policy-types/{name}", get(policy_type))
        .route("/v1/timeoff/whosout", get(whos_out))
        .route("/v1/timeoff/requests/changes", get(time_off_changes))
        .route(
            "/v1/timeoff/employees/{id}/requests",
            post(create_time_off_request),
        )
        .route("/v1/timeoff/employees/{id}/balance", get(time_off_balance))
        .route(
            "/v1/timeoff/employees/{id}/requests/{request}",
            get(get_time_off_request).delete(cancel_time_off_request),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));
    let limit = shared.limits.search.per_window;
    let fault_state = FaultLayerState {
        faults: shared.faults.clone(),
        log: shared.log.clone(),
        throttle: Arc::new(move |retry_after| {
            throttled(
                limit,
                Utc::now().timestamp() as u64 + retry_after.unwrap_or(2),
            )
        }),
    };
    api.with_state(Arc::clone(&shared))
        .merge(control_routes(shared.faults.clone(), shared.log.clone()))
        .fallback(|| async { ApiError::not_found("Not found") })
        .layer(middleware::from_fn_with_state(
            fault_state,
            fault_middleware,
        ))
}

/// Bob's throttle: `429` with `X-RateLimit-Limit`, `-Remaining` and `-Reset` (epoch seconds).
fn throttled(limit: u32, reset_epoch_s: u64) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate.limit.exceeded",
        "Too many requests",
    )
    .into_response();
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(0));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset_epoch_s));
    response
}

/// The service user of a request: HTTP Basic with its id as user name and its token as
/// password.
fn service_user(shared: &Shared, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, token) = text.split_once(':')?;
    shared
        .service_users
        .iter()
        .any(|(known, secret)| known == id && secret == token)
        .then(|| id.to_owned())
}

/// Checks the service user and counts the request against its endpoint's window (searches
/// have their own, 50 a minute).
async fn guard(State(shared): AppState, request: Request, next: Next) -> Response {
    if service_user(&shared, request.headers()).is_none() {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication.failed",
            "Invalid service user credentials",
        )
        .into_response();
    }
    let search = request.method() == Method::POST && request.uri().path() == "/v1/people/search";
    let window = if search {
        &shared.limits.search
    } else {
        &shared.limits.other
    };
    if let Err(reset) = window.check() {
        return throttled(window.per_window, reset);
    }
    let mut response = next.run(request).await;
    let (remaining, reset) = window.state();
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(window.per_window));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
    response
}

fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|_| ApiError::bad("Malformed query"))
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn flag(pairs: &[(String, String)], name: &str) -> Result<bool, ApiError> {
    match param(pairs, name) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::bad(format!("{name} must be true or false"))),
    }
}

fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|_| ApiError::bad("The request body is not valid JSON"))
}

/// A field path as the caller wrote it (`root.id`, `/work/title`) in dotted form.
fn dotted(path: &str) -> String {
    match path.strip_prefix('/') {
        Some(rest) => rest.replace('/', "."),
        None => path.to_owned(),
    }
}

/// How list fields read: machine values (ids), or the values people see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Readable {
    Machine,
    Append,
    Replace,
}

fn readable_mode(body: &Value) -> Result<Readable, ApiError> {
    match body.get("humanReadable") {
        None | Some(Value::Null) => Ok(Readable::Machine),
        Some(Value::String(text)) if text.is_empty() => Ok(Readable::Machine),
        Some(Value::String(text)) if text == "APPEND" => Ok(Readable::Append),
        Some(Value::String(text)) if text == "REPLACE" => Ok(Readable::Replace),
        Some(_) => Err(ApiError::bad(
            "humanReadable must be APPEND, REPLACE or empty",
        )),
    }
}

/// The value people see of a field: a department's name for its list item id, a manager's
/// name for their id.
fn human(store: &Store, path: &str, value: &Value) -> Value {
    match (path, value.as_str()) {
        ("work.department", Some(id)) => department_name(id).map_or(value.clone(), |n| json!(n)),
        ("work.manager", Some(id)) => store
            .employee(id)
            .map_or(value.clone(), |boss| boss.record["displayName"].clone()),
        _ => value.clone(),
    }
}

/// The fields returned when none are asked for.
const DEFAULT_FIELDS: &[&str] = &[
    "root.id",
    "root.firstName",
    "root.surname",
    "root.email",
    "root.displayName",
    "root.fullName",
    "root.secondName",
    "root.avatarUrl",
    "root.companyId",
    "root.creationDateTime",
    "work.title",
    "work.department",
    "work.site",
    "work.siteId",
    "work.startDate",
    "work.manager",
    "work.employeeIdInCompany",
    "work.isManager",
];

/// One employee as a search answers it: each asked field at its place in the nested record
/// (and, for a path asked as `/category/field`, also under that key as `{value}`); fields the
/// company does not have are left out.
fn render(store: &Store, employee: &Employee, fields: &[String], mode: Readable) -> Value {
    let mut out = json!({});
    let mut readable = json!({});
    for asked in fields {
        let path = dotted(asked);
        let known = FIELDS.iter().any(|(id, ..)| *id == path);
        let Some(value) = at_path(&employee.record, &path).or(known.then_some(&Value::Null)) else {
            continue;
        };
        let shown = human(store, &path, value);
        let placed = if mode == Readable::Replace {
            shown.clone()
        } else {
            value.clone()
        };
        set_path(&mut out, &path, placed.clone());
        if asked.starts_with('/') {
            out[asked.as_str()] = json!({"value": placed});
        }
        if mode == Readable::Append {
            set_path(&mut readable, &path, shown);
        }
    }
    if mode == Readable::Append {
        out["humanReadable"] = readable;
    }
    out
}

/// The asked fields of a read body (`fields`), or the default set.
fn asked_fields(body: &Value) -> Result<Vec<String>, ApiError> {
    match body.get("fields") {
        None | Some(Value::Null) => Ok(DEFAULT_FIELDS.iter().map(|f| (*f).to_owned()).collect()),
        Some(Value::Array(items)) if items.is_empty() => {
            Ok(DEFAULT_FIELDS.iter().map(|f| (*f).to_owned()).collect())
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad("fields must be strings"))
            })
            .collect(),
        Some(_) => Err(ApiError::bad("fields must be an array of field paths")),
    }
}

/// `POST /v1/people/search`: the employees matching `filters` (`root.id` or `root.email`,
/// operator `equals`), active ones only unless `showInactive`; every match in one answer.
async fn search_people(State(shared): AppState, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    *shared
        .last_search
        .lock()
        .expect("hibob last search poisoned") = Some(body.clone());
    let fields = asked_fields(&body)?;
    let mode = readable_mode(&body)?;
    let show_inactive = match body.get("showInactive") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(ApiError::bad("showInactive must be a boolean")),
    };
    let mut wanted: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(filters) = body.get("filters").filter(|f| !f.is_null()) {
        let filters = filters
            .as_array()
            .ok_or_else(|| ApiError::bad("filters must be an array"))?;
        for filter in filters {
            let path = filter["fieldPath"].as_str().map(dotted).unwrap_or_default();
            if !matches!(path.as_str(), "root.id" | "root.email") {
                return Err(ApiError::bad(format!(
                    "Filtering by fieldPath `{path}` is not supported: use root.id or root.email"
                )));
            }
            if filter["operator"] != "equals" {
                return Err(ApiError::bad(
                    "The only supported filter operator is equals",
                ));
            }
            let values = filter["values"]
                .as_array()
                .ok_or_else(|| ApiError::bad("filter values must be an array"))?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_lowercase))
                .collect();
            wanted.push((path, values));
        }
    }
    super::apply_mutation(&shared, "/v1/people/search");
    let store = shared.read();
    let employees: Vec<Value> = store
        .live()
        .filter(|employee| show_inactive || employee.record["internal"]["status"] == "Active")
        .filter(|employee| {
            wanted.iter().all(|(path, values)| {
                at_path(&employee.record, path)
                    .and_then(Value::as_str)
                    .is_some_and(|value| values.contains(&value.to_lowercase()))
            })
        })
        .map(|employee| render(&store, employee, &fields, mode))
        .collect();
    Ok(axum::Json(json!({"employees": employees})).into_response())
}

/// `POST /v1/people/{identifier}`: one employee (by id or email), inactive ones included,
/// with the fields asked for.
async fn read_employee(
    State(shared): AppState,
    Path(identifier): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&body)?;
    let fields = asked_fields(&body)?;
    let mode = readable_mode(&body)?;
    let store = shared.read();
    let employee = store
        .live()
        .find(|employee| {
            employee.id == identifier
                || employee.record["email"]
                    .as_str()
                    .is_some_and(|email| email.eq_ignore_ascii_case(&identifier))
        })
        .ok_or_else(|| ApiError::not_found(format!("Employee {identifier} not found")))?;
    let answer = render(&store, employee, &fields, mode);
    Ok(axum::Json(answer).into_response())
}

/// The categories a create or update may write.
fn writable(key: &str) -> bool {
    matches!(
        key,
        "firstName"
            | "surname"
            | "secondName"
            | "email"
            | "work"
            | "home"
            | "personal"
            | "address"
            | "identification"
            | "payroll"
            | "about"
    ) || key.starts_with("category_")
}

fn check_write(body: &Value) -> Result<(), ApiError> {
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::bad("The body must be an object"))?;
    if let Some(key) = object.keys().find(|key| !writable(key)) {
        return Err(ApiError::bad(format!("Field `{key}` cannot be written")));
    }
    if let Some(site) = body["work"].get("site").filter(|s| !s.is_null()) {
        let site = site.as_str().unwrap_or_default();
        if site_by_name(site).is_none() {
            return Err(ApiError::bad(format!("Site `{site}` does not exist")));
        }
    }
    if let Some(department) = body["work"].get("department").filter(|d| !d.is_null())
        && department.as_str().and_then(department_name).is_none()
    {
        return Err(ApiError::bad(
            "work.department must be a department list item id",
        ));
    }
    Ok(())
}

/// `POST /v1/people`: creates an employee (first name, surname, email, site and start date
/// required); answers the employee's default fields.
async fn create_employee(State(shared): AppState, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    check_write(&body)?;
    for (path, value) in [
        ("firstName", &body["firstName"]),
        ("surname", &body["surname"]),
        ("email", &body["email"]),
        ("work.site", &body["work"]["site"]),
        ("work.startDate", &body["work"]["startDate"]),
    ] {
        if value.as_str().is_none_or(|text| text.trim().is_empty()) {
            return Err(ApiError::bad(format!("{path} is required")));
        }
    }
    if NaiveDate::parse_from_str(
        body["work"]["startDate"].as_str().unwrap_or_default(),
        "%Y-%m-%d",
    )
    .is_err()
    {
        return Err(ApiError::bad("work.startDate must be a YYYY-MM-DD date"));
    }
    let mut store = shared.write();
    let email = body["email"].as_str().unwrap_or_default();
    if store.live().any(|employee| {
        employee.record["email"]
            .as_str()
            .is_some_and(|e| e.eq_ignore_ascii_case(email))
    }) {
        return Err(ApiError::bad(format!(
            "An employee with email {email} already exists"
        )));
    }
    let id = store.insert(body, now());
    let fields: Vec<String> = DEFAULT_FIELDS.iter().map(|f| (*f).to_owned()).collect();
    let employee = store.employee(&id).expect("just inserted");
    let answer = render(&store, employee, &fields, Readable::Machine);
    drop(store);
    shared.notify("employee.created", &id, None);
    Ok(axum::Json(answer).into_response())
}

/// `PUT /v1/people/{identifier}`: updates the fields given (a nested body); 200, no body.
async fn update_employee(
    State(shared): AppState,
    Path(identifier): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&body)?;
    check_write(&body)?;
    let updated = shared.write().update(&identifier, &body, now());
    if updated {
        shared.notify("employee.updated", &identifier, None);
        Ok(StatusCode::OK.into_response())
    } else {
        Err(ApiError::not_found(format!(
            "Employee {identifier} not found"
        )))
    }
}

/// `POST /v1/employees/{identifier}/terminate`: terminates an employee on `terminationDate`.
async fn terminate_employee(
    State(shared): AppState,
    Path(identifier): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&body)?;
    let date = body["terminationDate"]
        .as_str()
        .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .ok_or_else(|| ApiError::bad("terminationDate is required (YYYY-MM-DD)"))?;
    let reason = body["terminationReason"].as_str();
    let terminated = shared.write().terminate(&identifier, date, reason);
    if terminated {
        shared.notify("employee.left", &identifier, None);
        Ok(StatusCode::OK.into_response())
    } else {
        Err(ApiError::not_found(format!(
            "Employee {identifier} not found"
        )))
    }
}

/// `GET /v1/company/people/fields`: every employee field, standard and custom.
async fn people_fields(State(_shared): AppState) -> ApiResult {
    let fields: Vec<Value> = FIELDS
        .iter()
        .map(
            |(id, category, category_name, name, kind, list, historical)| {
                let type_data = list.map_or_else(|| json!({}), |list| json!({"listId": list}));
                json!({"id": id, "category": category, "categoryDisplayName": category_name,
                "name": name, "jsonPath": id, "type": kind, "typeData": type_data,
                "historical": historical})
            },
        )
        .collect();
    Ok(axum::Json(Value::Array(fields)).into_response())
}

fn list_items(name: &str, include_archived: bool) -> Option<Value> {
    let items: Vec<Value> = match name {
        "department" => {
            fn children(parent: Option<u64>) -> Vec<Value> {
                DEPARTMENTS
                    .iter()
                    .filter(|(_, _, p)| *p == parent)
                    .map(|(id, name, _)| {
                        json!({"id": id, "value": name, "name": name, "archived": false,
                            "children": children(Some(*id))})
                    })
                    .collect()
            }
            children(None)
        }
        "site" => SITES
            .iter()
            .filter(|(_, _, archived)| include_archived || !archived)
            .map(|(id, name, archived)| {
                json!({"id": id, "value": name, "name": name, "archived": archived, "children": []})
            })
            .collect(),
        _ => return None,
    };
    Some(json!({"name": name, "items": items}))
}

/// `GET /v1/company/named-lists`: every company list.
async fn named_lists(State(_shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let archived = flag(&pairs, "includeArchived")?;
    let lists: Vec<Value> = ["department", "site"]
        .iter()
        .filter_map(|name| list_items(name, archived))
        .collect();
    Ok(axum::Json(Value::Array(lists)).into_response())
}

/// `GET /v1/company/named-lists/{list}`: one list's items (a tree: `children`).
async fn named_list(
    State(_shared): AppState,
    Path(list): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let archived = flag(&pairs, "includeArchived")?;
    list_items(&list, archived)
        .map(|list| axum::Json(list).into_response())
        .ok_or_else(|| ApiError::not_found(format!("List {list} not found")))
}

/// The bulk tables' cursor: base64 of the next employee's position.
fn encode_cursor(position: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"position\":{position}}}"))
}

fn decode_cursor(text: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    usize::try_from(value.get("position")?.as_u64()?).ok()
}

/// A table's answer: `limit` employees from the cursor, each with its entries (dates
/// ascending, `isCurrent` on the one in effect today and `endEffectiveDate` the day before the
/// next one's), and `response_metadata.cursor` while more follow.
fn bulk_table(shared: &Shared, raw: Option<&str>, pick: fn(&Store) -> &[Entry]) -> ApiResult {
    let pairs = query_pairs(raw)?;
    let limit = match param(&pairs, "limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| ApiError::bad("limit must be an integer from 1 to 200"))?,
    };
    let start = match param(&pairs, "cursor") {
        None => 0,
        Some(cursor) => decode_cursor(cursor).ok_or_else(|| ApiError::bad("Invalid cursor"))?,
    };
    let only: Option<Vec<&str>> = param(&pairs, "employeeIds").map(|ids| ids.split(',').collect());
    let store = shared.read();
    let employees: Vec<&Employee> = store
        .live()
        .filter(|employee| {
            only.as_ref()
                .is_none_or(|ids| ids.contains(&employee.id.as_str()))
        })
        .collect();
    let today = now().date_naive();
    let results: Vec<Value> = employees
        .iter()
        .skip(start)
        .take(limit)
        .map(|employee| {
            let mut entries: Vec<&Entry> = pick(&store)
                .iter()
                .filter(|entry| entry.employee_id == employee.id)
                .collect();
            entries.sort_by(|a, b| {
                a.fields["effectiveDate"]
                    .as_str()
                    .cmp(&b.fields["effectiveDate"].as_str())
            });
            let dates: Vec<Option<NaiveDate>> = entries
                .iter()
                .map(|entry| {
                    entry.fields["effectiveDate"]
                        .as_str()
                        .and_then(|d| d.parse().ok())
                })
                .collect();
            let current = dates
                .iter()
                .rposition(|date| date.is_some_and(|d| d <= today));
            let values: Vec<Value> = entries
                .iter()
                .enumerate()
                .map(|(idx, entry)| {
                    let mut fields = entry.fields.clone();
                    let end = dates
                        .get(idx + 1)
                        .copied()
                        .flatten()
                        .map(|next| (next - chrono::Duration::days(1)).to_string());
                    fields.insert("endEffectiveDate".into(), json!(end));
                    fields.insert("isCurrent".into(), json!(current == Some(idx)));
                    Value::Object(fields)
                })
                .collect();
            json!({"employeeId": employee.id, "values": values})
        })
        .collect();
    let next = (start + limit < employees.len()).then(|| encode_cursor(start + limit));
    let mut answer = json!({"results": results, "errors": []});
    if let Some(next) = next {
        answer["response_metadata"] = json!({"cursor": next});
    } else {
        answer["response_metadata"] = json!({});
    }
    Ok(axum::Json(answer).into_response())
}

/// `GET /v1/bulk/people/work`: work history, cursor-paged by employee.
async fn bulk_work(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    bulk_table(&shared, raw.as_deref(), |store| &store.work)
}

/// `GET /v1/bulk/people/salaries`: salary (payroll) history, cursor-paged by employee.
async fn bulk_salaries(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    bulk_table(&shared, raw.as_deref(), |store| &store.salaries)
}

/// `GET /v1/bulk/people/employment`: contract and employment type history, cursor-paged by
/// employee.
async fn bulk_employment(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    bulk_table(&shared, raw.as_deref(), |store| &store.employment)
}

/// The yearly allowance of a policy type, in its unit.
fn allowance(policy_type: &str) -> f64 {
    match policy_type {
        "Holiday" => 25.0,
        "Sick" => 10.0,
        "Parental leave" => 60.0,
        "Overtime" => 40.0,
        _ => 0.0,
    }
}

/// `GET /v1/timeoff/employees/{id}/balance?policyType=&date=` (both required): the employee's
/// balance of one policy type as of a day, its cycle the calendar year: the allowance less the
/// approved requests that start in the year up to that day.
async fn time_off_balance(
    State(shared): AppState,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let policy_type = param(&pairs, "policyType")
        .ok_or_else(|| ApiError::bad("policyType is required"))?
        .to_owned();
    let date = date_param(&pairs, "date")?;
    if !POLICY_TYPES.iter().any(|(name, ..)| *name == policy_type) {
        return Err(ApiError::not_found(format!(
            "Policy type {policy_type} not found"
        )));
    }
    let store = shared.read();
    if store.employee(&id).is_none() {
        return Err(ApiError::not_found(format!("Employee {id} not found")));
    }
    let cycle_start = NaiveDate::from_ymd_opt(date.year(), 1, 1).expect("a valid date");
    let taken: f64 = store
        .time_off
        .iter()
        .filter(|request| request.employee_id == id && request.policy_type == policy_type)
        .filter(|request| request.status == "approved")
        .filter(|request| request.start >= cycle_start && request.start <= date)
        .map(|request| ((request.end - request.start).num_days() + 1) as f64)
        .sum();
    let allowance = allowance(&policy_type);
    Ok(axum::Json(json!({
        "employeeId": id,
        "policy": format!("{policy_type} (standard)"),
        "pointInTime": date.to_string(),
        "startingBalance": allowance,
        "startingBalanceAsOf": cycle_start.to_string(),
        "annualAllowance": allowance,
        "totalTaken": taken,
        "totalAdminAdjustments": 0,
        "totalSystemAdjustments": 0,
        "totalBalanceAsOfDate": allowance - taken,
        "totalRoundedBalanceAsOfDate": (allowance - taken).floor(),
    }))
    .into_response())
}

/// `GET /v1/timeoff/policy-types`: the names of the policy types.
async fn policy_types(State(_shared): AppState) -> ApiResult {
    let names: Vec<&str> = POLICY_TYPES.iter().map(|(name, ..)| *name).collect();
    Ok(axum::Json(json!({"policyTypes": names})).into_response())
}

/// `GET /v1/timeoff/policy-types/{name}`: one policy type's unit and activity.
async fn policy_type(State(_shared): AppState, Path(name): Path<String>) -> ApiResult {
    POLICY_TYPES
        .iter()
        .find(|(known, ..)| *known == name)
        .map(|(name, unit, activity)| {
            axum::Json(json!({"name": name, "unit": unit, "activity": activity})).into_response()
        })
        .ok_or_else(|| ApiError::not_found(format!("Policy type {name} not found")))
}

fn policy_unit(name: &str) -> &'static str {
    POLICY_TYPES
        .iter()
        .find(|(known, ..)| *known == name)
        .map_or("days", |(_, unit, _)| *unit)
}

/// A request's common fields, as `whosout`, the changes feed and the request read give them.
fn request_json(store: &Store, request: &TimeOffRequest) -> Map<String, Value> {
    let employee = store
        .employees
        .iter()
        .find(|employee| employee.id == request.employee_id);
    let days = (request.end - request.start).num_days() + 1;
    let mut out = Map::from_iter([
        ("requestId".to_owned(), json!(request.id)),
        ("employeeId".to_owned(), json!(request.employee_id)),
        (
            "employeeDisplayName".to_owned(),
            employee.map_or(Value::Null, |e| e.record["displayName"].clone()),
        ),
        (
            "policyTypeDisplayName".to_owned(),
            json!(request.policy_type),
        ),
    ]);
    // An hours request is on one `date` (no start and end days or portions): `hours` and
    // `minutes` as submitted, its total in hours.
    if let Some(minutes) = request.minutes {
        out.extend([
            ("type".to_owned(), json!("hours")),
            ("date".to_owned(), json!(request.start.to_string())),
            ("hours".to_owned(), json!(minutes / 60)),
            ("minutes".to_owned(), json!(minutes % 60)),
            ("durationUnit".to_owned(), json!("hours")),
            ("totalDuration".to_owned(), json!(minutes as f64 / 60.0)),
        ]);
        return out;
    }
    out.extend([
        ("type".to_owned(), json!("days")),
        ("startDate".to_owned(), json!(request.start.to_string())),
        ("startPortion".to_owned(), json!("all_day")),
        ("endDate".to_owned(), json!(request.end.to_string())),
        ("endPortion".to_owned(), json!("all_day")),
        (
            "durationUnit".to_owned(),
            json!(policy_unit(&request.policy_type)),
        ),
        ("totalDuration".to_owned(), json!(days)),
    ]);
    out
}

fn date_param(pairs: &[(String, String)], name: &str) -> Result<NaiveDate, ApiError> {
    param(pairs, name)
        .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .ok_or_else(|| ApiError::bad(format!("{name} must be a YYYY-MM-DD date")))
}

/// `GET /v1/timeoff/whosout?from&to[&includePending]`: approved requests (and pending ones
/// when asked) overlapping the window, of employees still there.
async fn whos_out(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let (from, to) = (date_param(&pairs, "from")?, date_param(&pairs, "to")?);
    let pending = flag(&pairs, "includePending")?;
    let hourly = flag(&pairs, "includeHourly")?;
    flag(&pairs, "includePrivate")?;
    let store = shared.read();
    let outs: Vec<Value> = store
        .time_off
        .iter()
        .filter(|request| store.employee(&request.employee_id).is_some())
        .filter(|request| hourly || request.minutes.is_none())
        .filter(|request| request.status == "approved" || (pending && request.status == "pending"))
        .filter(|request| request.start <= to && request.end >= from)
        .map(|request| {
            let mut out = request_json(&store, request);
            out.remove("durationUnit");
            out.remove("totalDuration");
            out.insert("policyType".into(), json!(request.policy_type));
            out.insert("status".into(), json!(request.status));
            Value::Object(out)
        })
        .collect();
    Ok(axum::Json(json!({"outs": outs})).into_response())
}

/// Reads `since` or `to`: an ISO 8601 instant, with or without a zone (UTC then).
fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|instant| instant.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|naive| naive.and_utc())
        })
}

/// `GET /v1/timeoff/requests/changes?since[&to][&includePending]`: the requests created,
/// cancelled or deleted in the window, oldest first.
async fn time_off_changes(State(shared): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref())?;
    let since = param(&pairs, "since")
        .and_then(instant)
        .ok_or_else(|| ApiError::bad("since must be an ISO 8601 date-time"))?;
    let to = match param(&pairs, "to") {
        None => None,
        Some(text) => {
            Some(instant(text).ok_or_else(|| ApiError::bad("to must be an ISO 8601 date-time"))?)
        }
    };
    let pending = flag(&pairs, "includePending")?;
    let store = shared.read();
    let changes: Vec<Value> = store
        .time_off_changes
        .iter()
        .filter(|change| change.at > since && to.is_none_or(|to| change.at <= to))
        .filter_map(|change| {
            let request = store.time_off.iter().find(|r| r.id == change.request_id)?;
            if change.change_type == "Pending" && !pending {
                return None;
            }
            let change_type = change.change_type;
            let mut out = request_json(&store, request);
            let employee = store.employees.iter().find(|e| e.id == request.employee_id);
            out.insert("changeType".into(), json!(change_type));
            out.insert(
                "employeeEmail".into(),
                employee.map_or(Value::Null, |e| e.record["email"].clone()),
            );
            out.insert("createdOn".into(), json!(bob_time(request.created_on)));
            Some(Value::Object(out))
        })
        .collect();
    Ok(axum::Json(json!({"changes": changes})).into_response())
}

/// The request read's answer.
fn request_details(store: &Store, request: &TimeOffRequest) -> Value {
    let mut out = request_json(store, request);
    out.insert("createdOn".into(), json!(bob_time(request.created_on)));
    out.insert("status".into(), json!(request.status));
    out.insert("approved".into(), json!(request.status == "approved"));
    out.insert("hasAttachment".into(), json!(false));
    out.insert("attachmentLinks".into(), json!([]));
    out.insert("visibility".into(), json!("Public"));
    if let Some(minutes) = request.minutes {
        out.insert("hoursOnDate".into(), json!(minutes / 60));
    }
    out.insert("totalCost".into(), out["totalDuration"].clone());
    out.insert("description".into(), json!(request.description));
    if let Some(by) = &request.approved_by {
        out.insert("approvedBy".into(), json!(by));
    }
    if let Some(at) = request.approved_at {
        out.insert("approvedAt".into(), json!(bob_time(at)));
    }
    Value::Object(out)
}

/// `POST /v1/timeoff/employees/{id}/requests`: submits a request for whole days (the `days`
/// range type) or for hours on one day (`hours`: `hours` and `minutes`, both required, on a
/// policy type measured in hours; `endDate` the same as `startDate`); `skipManagerApproval`
/// makes it approved, else it waits (pending). Answers the request as its read gives it. The
/// other range types are not simulated.
async fn create_time_off_request(
    State(shared): AppState,
    Path(employee_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&body)?;
    let hours_range = match body["requestRangeType"].as_str() {
        Some("days") => false,
        Some("hours") => true,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "requestRangeType `{other}` is not simulated: use days or hours"
            )));
        }
        None => return Err(ApiError::bad("requestRangeType is required")),
    };
    let policy = body["policyType"]
        .as_str()
        .filter(|name| POLICY_TYPES.iter().any(|(known, ..)| known == name))
        .ok_or_else(|| ApiError::bad("policyType must name a policy type"))?;
    let day = |key: &str| {
        body[key]
            .as_str()
            .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .ok_or_else(|| ApiError::bad(format!("{key} must be a YYYY-MM-DD date")))
    };
    let (start, end) = (day("startDate")?, day("endDate")?);
    if end < start {
        return Err(ApiError::bad("endDate must be on or after startDate"));
    }
    let minutes = if hours_range {
        if policy_unit(policy) != "hours" {
            return Err(ApiError::bad(format!(
                "requestRangeType hours is supported only for policy types measured in hours; {policy} is measured in days"
            )));
        }
        if end != start {
            return Err(ApiError::bad(
                "endDate must be the same as startDate for requestRangeType hours",
            ));
        }
        let whole = |key: &str| {
            body[key]
                .as_i64()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::bad(format!("{key} must be a whole number")))
        };
        let (hours, minutes) = (whole("hours")?, whole("minutes")?);
        if minutes >= 60 || hours * 60 + minutes == 0 || hours * 60 + minutes > 24 * 60 {
            return Err(ApiError::bad(
                "hours and minutes must make a duration within one day",
            ));
        }
        Some(hours * 60 + minutes)
    } else {
        if body["startDatePortion"].as_str() != Some("all_day")
            && body["startDatePortion"].as_str() != Some("afternoon")
        {
            return Err(ApiError::bad(
                "startDatePortion must be all_day or afternoon",
            ));
        }
        if body["endDatePortion"].as_str() != Some("all_day")
            && body["endDatePortion"].as_str() != Some("morning")
        {
            return Err(ApiError::bad("endDatePortion must be all_day or morning"));
        }
        None
    };
    let approved = body["skipManagerApproval"].as_bool().unwrap_or(false);
    let description = match &body["description"] {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        _ => return Err(ApiError::bad("description must be a string")),
    };
    let mut store = shared.write();
    if store.employee(&employee_id).is_none() {
        return Err(ApiError::not_found(format!(
            "Employee {employee_id} not found"
        )));
    }
    let id = store.add_time_off(
        &employee_id,
        policy,
        start,
        end,
        if approved { "approved" } else { "pending" },
        now(),
    );
    if let Some(request) = store.time_off.iter_mut().find(|r| r.id == id) {
        request.description = description;
        request.minutes = minutes;
    }
    let request = store
        .time_off
        .iter()
        .find(|r| r.id == id)
        .expect("just added");
    let answer = request_details(&store, request);
    drop(store);
    shared.notify("timeoff.request.created", &employee_id, Some(id));
    Ok(axum::Json(answer).into_response())
}

fn find_request<'a>(
    store: &'a Store,
    employee_id: &str,
    request: &str,
) -> Result<&'a TimeOffRequest, ApiError> {
    let id: u64 = request
        .parse()
        .map_err(|_| ApiError::bad("requestId must be an integer"))?;
    store
        .time_off
        .iter()
        .find(|r| r.id == id && r.employee_id == employee_id)
        .filter(|r| store.employee(&r.employee_id).is_some())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "A request with id {id} is not found for employee {employee_id}"
            ))
        })
}

/// `GET /v1/timeoff/employees/{id}/requests/{request}`.
async fn get_time_off_request(
    State(shared): AppState,
    Path((employee_id, request)): Path<(String, String)>,
) -> ApiResult {
    let store = shared.read();
    let request = find_request(&store, &employee_id, &request)?;
    Ok(axum::Json(request_details(&store, request)).into_response())
}

/// `DELETE /v1/timeoff/employees/{id}/requests/{request}`: cancels the request.
async fn cancel_time_off_request(
    State(shared): AppState,
    Path((employee_id, request)): Path<(String, String)>,
) -> ApiResult {
    let mut store = shared.write();
    let id = find_request(&store, &employee_id, &request)?.id;
    store.cancel_time_off(&employee_id, id, now());
    drop(store);
    shared.notify("timeoff.request.canceled", &employee_id, Some(id));
    Ok(StatusCode::OK.into_response())
}
