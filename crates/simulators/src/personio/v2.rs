//! The v2 surface the connector reads: the v2 client-credentials token (`POST /v2/auth/token`,
//! a token of its own, apart from v1's) and the Compensations API's list
//! (`GET /v2/compensations`).
//!
//! What is known of the vendor comes from Personio's v2 reference pages, kept in
//! `tests/personio_v2_compensations.json` beside the simulator's tests (with where each fact
//! came from); the simulator is checked against that fragment there. In short:
//! * the token endpoint takes `grant_type=client_credentials`, `client_id` and
//!   `client_secret` as a form and answers RFC 6749's `access_token`, `token_type`,
//!   `expires_in` and `scope`; v2 endpoints take that token only (a v1 token is `401`), and
//!   v1 endpoints take theirs only;
//! * one call covers at most a month (`start_date`..`end_date`; a longer range is `400`),
//!   defaulting to the current month, or to the month of the one date given; `limit` is 1 to
//!   100 (100 by default), `cursor` pages, `person.id` filters (comma-separated ids);
//! * the answer is `{_data: [...], _meta: {links: {self, next}}}`, errors the v2
//!   `ErrorResponse` (`{personio_trace_id, timestamp, errors: [{title, detail, type, _meta}]}`).
//!
//! Rows (the fragment says which of their fields the stored pages show and which are assumed):
//! a compensation is listed in every window it is paid in: a base salary or hourly rate from its
//! `effective_from` until the next one of the same person and kind takes over (or the
//! employment ends), a bonus in the window of its `effective_from`. Each employee's pay history
//! is derived from the employee (its hire date, termination and current v1 `fix_salary` or
//! `hourly_salary`, which the latest row equals): a raise every twelve months after the hire
//! (5% each), and for every fourth employee a bonus in the month of the latest raise.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike as _, Months, NaiveDate, Utc};
use serde_json::{Value, json};

use super::Shared;
use super::store::{Employee, Store};

type AppState = State<Arc<Shared>>;

/// Most rows one page may hold, and the default.
const MAX_LIMIT: usize = 100;
/// The type ids of the kinds of pay the company lists.
const FIXED_TYPE: &str = "0b2f06b4-5c61-4bf5-9e8f-e23fb2c52ff7";
const HOURLY_TYPE: &str = "3e0a8c57-1b4d-4f6e-9a2c-7d5e8f1a2b3c";
const BONUS_TYPE: &str = "9c4d2e1f-6a7b-4c8d-9e0f-1a2b3c4d5e6f";

/// A v2 error: the common `ErrorResponse`.
pub(crate) fn v2_error(status: StatusCode, title: &str, detail: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({
            "personio_trace_id": uuid::Uuid::new_v4().to_string(),
            "timestamp": Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "errors": [{
                "title": title,
                "detail": detail.into(),
                "type": "https://developer.personio.de/reference/errors",
                "_meta": {},
            }],
        })),
    )
        .into_response()
}

/// `POST /v2/auth/token` with `grant_type=client_credentials`, `client_id` and
/// `client_secret` (a form): the v2 token, the same one while it lives.
pub(crate) async fn token(State(shared): AppState, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(retry_after) = shared.limits.check("auth") {
        return super::routes::throttled(retry_after);
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return v2_error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Malformed form body",
        );
    };
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    };
    if !is_form || field("grant_type") != "client_credentials" {
        return v2_error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "grant_type must be client_credentials, sent as a form",
        );
    }
    if field("client_id") != shared.client_id || field("client_secret") != shared.client_secret {
        return v2_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "The client credentials are invalid",
        );
    }
    let token = shared.v2_token();
    axum::Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": shared.token_lifetime.as_secs(),
        "scope": "personio:compensations:read personio:persons:read",
    }))
    .into_response()
}

/// One compensation row of the history, before rendering.
struct Row {
    id: String,
    person: u64,
    kind: &'static str,
    value: f64,
    from: NaiveDate,
    /// The first day it no longer applies (recurring kinds); a bonus applies on `from` only.
    until: Option<NaiveDate>,
    legal_entity: Value,
}

fn day_of(value: &Value) -> Option<NaiveDate> {
    value
        .as_str()
        .and_then(|text| text.get(..10))
        .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
}

fn cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// An employee's pay history, oldest first, up to `today`.
fn history(employee: &Employee, today: NaiveDate) -> Vec<Row> {
    let values = &employee.values;
    let Some(hire) = day_of(&values["hire_date"]) else {
        return Vec::new();
    };
    if hire > today {
        return Vec::new();
    }
    let out = day_of(&values["termination_date"]).and_then(|day| day.succ_opt());
    let hourly = values["hourly_salary"].as_f64().unwrap_or(0.0);
    let fixed = values["fix_salary"].as_f64().unwrap_or(0.0);
    let (kind, current) = if hourly > 0.0 {
        ("HOURLY", hourly)
    } else if fixed > 0.0 {
        ("FIXED", fixed)
    } else {
        return Vec::new();
    };
    // The hire, then a raise on the first of the month twelve months on, while employed.
    let mut starts = vec![hire];
    let first = hire.with_day(1).unwrap_or(hire);
    let mut years = 1u32;
    while let Some(raise) = first.checked_add_months(Months::new(12 * years)) {
        if raise > today || out.is_some_and(|out| raise >= out) {
            break;
        }
        starts.push(raise);
        years += 1;
    }
    let legal_entity = values["subcompany"]["attributes"]["id"].clone();
    let last = starts.len() - 1;
    let mut rows: Vec<Row> = starts
        .iter()
        .enumerate()
        .map(|(idx, from)| Row {
            id: uuid::Uuid::from_u64_pair(employee.id, idx as u64).to_string(),
            person: employee.id,
            kind,
            value: cents(current / 1.05_f64.powi((last - idx) as i32)),
            from: *from,
            until: starts.get(idx + 1).copied().or(out),
            legal_entity: legal_entity.clone(),
        })
        .collect();
    if employee.id.is_multiple_of(4) && last >= 1 {
        let paid = starts[last].with_day(15).unwrap_or(starts[last]);
        if paid <= today && out.is_none_or(|out| paid < out) {
            rows.push(Row {
                id: uuid::Uuid::from_u64_pair(employee.id, 1_000).to_string(),
                person: employee.id,
                kind: "BONUS",
                value: 1_000.0 + (employee.id % 5) as f64 * 250.0,
                from: paid,
                until: None,
                legal_entity,
            });
        }
    }
    rows
}

fn render(row: &Row) -> Value {
    let (type_id, name) = match row.kind {
        "FIXED" => (FIXED_TYPE, "Fixed salary"),
        "HOURLY" => (HOURLY_TYPE, "Hourly salary"),
        _ => (BONUS_TYPE, "Bonus"),
    };
    json!({
        "id": row.id,
        "person": {"id": row.person.to_string()},
        "type": {"id": type_id, "name": name, "category": row.kind},
        "value": row.value,
        "currency": "EUR",
        "effective_from": row.from.to_string(),
        "interval": if row.kind == "FIXED" { json!("MONTHLY") } else { Value::Null },
        "comment": null,
        "legal_entity": {"id": row.legal_entity.to_string()},
    })
}

/// The rows paid in `[start, end]`, by person and date.
fn rows_in(store: &Store, start: NaiveDate, end: NaiveDate, people: &[u64]) -> Vec<Value> {
    let today = Utc::now().date_naive();
    store
        .live()
        .filter(|employee| people.is_empty() || people.contains(&employee.id))
        .flat_map(|employee| history(employee, today))
        .filter(|row| match row.kind {
            "BONUS" => row.from >= start && row.from <= end,
            _ => row.from <= end && row.until.is_none_or(|until| until > start),
        })
        .map(|row| render(&row))
        .collect()
}

/// `GET /v2/compensations`.
pub(crate) async fn list(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    if !token.is_some_and(|token| shared.v2_valid(token)) {
        return v2_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "The access token is invalid or has expired",
        );
    }
    let Ok(pairs) =
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or(""))
    else {
        return v2_error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Malformed query string",
        );
    };
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let bad = |detail: &str| v2_error(StatusCode::BAD_REQUEST, "Bad Request", detail);
    let limit = match param("limit") {
        None => MAX_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
            _ => return bad("limit must be a number from 1 to 100"),
        },
    };
    let date = |name: &str| -> Result<Option<NaiveDate>, String> {
        param(name)
            .map(|text| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map_err(|_| format!("{name} must be an ISO 8601 date"))
            })
            .transpose()
    };
    let (start, end) = match (date("start_date"), date("end_date")) {
        (Err(detail), _) | (_, Err(detail)) => return bad(&detail),
        (Ok(start), Ok(end)) => (start, end),
    };
    let month_end = |day: NaiveDate| {
        day.with_day(1)
            .and_then(|first| first.checked_add_months(Months::new(1)))
            .and_then(|next| next.pred_opt())
            .unwrap_or(day)
    };
    let today = Utc::now().date_naive();
    let (start, end) = match (start, end) {
        (Some(start), Some(end)) => (start, end),
        (Some(start), None) => (start, month_end(start)),
        (None, Some(end)) => (end.with_day(1).unwrap_or(end), end),
        (None, None) => (today.with_day(1).unwrap_or(today), month_end(today)),
    };
    if end < start {
        return bad("end_date must not be before start_date");
    }
    if start
        .checked_add_months(Months::new(1))
        .is_none_or(|limit| end > limit)
    {
        return bad(
            "The duration between start_date and end_date must be equal to or smaller than a month",
        );
    }
    let mut people = Vec::new();
    if let Some(ids) = param("person.id") {
        for id in ids.split(',').filter(|id| !id.is_empty()) {
            match id.trim().parse::<u64>() {
                Ok(id) => people.push(id),
                Err(_) => return bad("person.id must list person ids"),
            }
        }
    }
    let offset = match param("cursor") {
        None => 0,
        Some(cursor) => match cursor
            .strip_prefix("cur_")
            .and_then(|rest| usize::from_str_radix(rest, 16).ok())
        {
            Some(offset) => offset,
            None => return bad("The cursor is invalid"),
        },
    };
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("api.personio.de")
        .to_owned();
    let rows = rows_in(&shared.read(), start, end, &people);
    let page: Vec<Value> = rows.iter().skip(offset).take(limit).cloned().collect();
    let query = |cursor: Option<usize>| {
        let mut query: Vec<(String, String)> = pairs
            .iter()
            .filter(|(key, _)| key != "cursor")
            .cloned()
            .collect();
        if let Some(cursor) = cursor {
            query.push(("cursor".to_owned(), format!("cur_{cursor:x}")));
        }
        // Absolute, as the description's links are (`format: uri`), on the host asked.
        format!(
            "http://{host}/v2/compensations?{}",
            serde_urlencoded::to_string(query).unwrap_or_default()
        )
    };
    let mut links = json!({"self": {"href": query((offset > 0).then_some(offset))}});
    if offset + limit < rows.len() {
        links["next"] = json!({"href": query(Some(offset + limit))});
    }
    axum::Json(json!({"_data": page, "_meta": {"links": links}})).into_response()
}
