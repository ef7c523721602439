//! `/webhooks/endpoints`: the environment's outbound webhook endpoints (create, list, get,
//! update, delete, rotate the secret), their delivery attempts and messages, and the replay of
//! dead letters.
//!
//! A secret is shown at creation and rotation only; the store keeps it sealed. Creating or
//! enabling an endpoint queues its delivery job; delivering is the `webhooks` crate's.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{
    ConnectionId, MessageStatus, NewWebhookEndpoint, ReplaySelection, StoreError, WebhookEndpoint,
    WebhookEndpointId, WebhookMessageId,
};

use super::JsonBody;
use crate::auth::Caller;
use crate::{ApiError, AppState};

/// The longest endpoint URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// What a description may hold, as the documents state it: no control character (Unicode
/// `Cc`, what `char::is_control` finds).
pub const DESCRIPTION_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// The most event types or connections one endpoint's filter names.
pub const MAX_FILTER_ITEMS: usize = 100;
/// The longest event type in a filter.
pub const MAX_EVENT_TYPE_CHARS: usize = 200;
/// How long the old secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_SECS: i64 = 24 * 3600;
/// Rows a list holds by default and at most.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// `POST /webhooks/endpoints` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    url: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    event_types: Option<Vec<String>>,
    #[serde(default)]
    connection_ids: Option<Vec<String>>,
    #[serde(default)]
    include_record: Option<bool>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// `PATCH /webhooks/endpoints/{id}` body: each field given replaces the stored one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    #[serde(default)]
    url: Option<String>,
    #[serde(default, with = "double_option")]
    description: Option<Option<String>>,
    #[serde(default)]
    event_types: Option<Vec<String>>,
    #[serde(default)]
    connection_ids: Option<Vec<String>>,
    #[serde(default)]
    include_record: Option<bool>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// Tells a field given as `null` (clear it) from a field left out (keep it).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(deserializer).map(Some)
    }
}

/// `POST /webhooks/endpoints/{id}/replay` body: exactly one way of choosing dead letters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    since: Option<DateTime<Utc>>,
    #[serde(default)]
    until: Option<DateTime<Utc>>,
    #[serde(default)]
    after_change: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// An endpoint as the API shows it: never its secrets.
pub fn endpoint_view(endpoint: &WebhookEndpoint, now: DateTime<Utc>) -> Value {
    json!({
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "connection_ids": endpoint.connection_ids,
        "include_record": endpoint.include_record,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "previous_secret_expires_at": endpoint.previous_secret_until.filter(|until| *until > now),
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    })
}

fn endpoint_id(id: &str) -> Result<WebhookEndpointId, ApiError> {
    WebhookEndpointId::parse(id)
        .map_err(|_| ApiError::not_found(format!("webhook endpoint `{id}` does not exist")))
}

fn not_found_endpoint(id: &WebhookEndpointId) -> impl Fn(StoreError) -> ApiError + '_ {
    move |error| match error {
        StoreError::NotFound => {
            ApiError::not_found(format!("webhook endpoint `{id}` does not exist"))
        }
        other => other.into(),
    }
}

/// Checks an endpoint URL: absolute `http` or `https`, with a host, without credentials.
///
/// # Errors
/// A detail saying what is wrong.
pub fn check_url(text: &str) -> Result<String, String> {
    if text.len() > MAX_URL_BYTES {
        return Err(format!("must be at most {MAX_URL_BYTES} bytes"));
    }
    // The document's pattern for `url` ([`crate::rules::REDIRECT_URL`]) is this very rule.
    if !crate::rules::is_redirect_url(text) {
        return Err(
            "must be an absolute `http` or `https` URL: a host name or IPv4 address, an optional port, then a path and query of visible ASCII, with no credentials and no fragment"
                .to_owned(),
        );
    }
    let url = url::Url::parse(text).map_err(|error| format!("is not an absolute URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an `http` or `https` URL".to_owned());
    }
    if url.host().is_none() {
        return Err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold credentials".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not hold a fragment".to_owned());
    }
    Ok(url.to_string())
}

fn check_description(description: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(description) = description else {
        return Ok(None);
    };
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if description.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "description",
            "must not hold control characters",
        ));
    }
    Ok(Some(description))
}

fn check_event_types(types: Vec<String>) -> Result<Vec<String>, ApiError> {
    if types.len() > MAX_FILTER_ITEMS {
        return Err(ApiError::invalid(
            "event_types",
            format!("must name at most {MAX_FILTER_ITEMS} types"),
        ));
    }
    for (index, kind) in types.iter().enumerate() {
        let allowed =
            |byte: u8| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"._-".contains(&byte);
        let well_formed = !kind.is_empty()
            && kind.len() <= MAX_EVENT_TYPE_CHARS
            && kind.strip_suffix('*').unwrap_or(kind).bytes().all(allowed);
        if !well_formed {
            return Err(ApiError::invalid(
                format!("event_types[{index}]"),
                "must be an event type (`sync.completed`, `<category>.<object>.created`), or a prefix ending in `*`",
            ));
        }
    }
    let mut types = types;
    types.dedup();
    Ok(types)
}

async fn check_connections(
    state: &AppState,
    caller: &Caller,
    ids: Vec<String>,
) -> Result<Vec<ConnectionId>, ApiError> {
    if ids.len() > MAX_FILTER_ITEMS {
        return Err(ApiError::invalid(
            "connection_ids",
            format!("must name at most {MAX_FILTER_ITEMS} connections"),
        ));
    }
    let mut checked = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        let field = format!("connection_ids[{index}]");
        let id = ConnectionId::parse(id)
            .map_err(|_| ApiError::invalid(field.clone(), "is not a connection id"))?;
        match state
            .store
            .get_connection(&caller.environment_id, &id)
            .await
        {
            Ok(_) => checked.push(id),
            // A well-formed id the environment does not have: the body names a missing record,
            // 409 `reference_not_found` as for a vendor's (a 404 would say the endpoint is gone).
            Err(StoreError::NotFound) => {
                return Err(ApiError::Conflict {
                    code: "reference_not_found",
                    detail: format!("`{field}`: connection `{id}` does not exist"),
                });
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(checked)
}

fn parse_limit(limit: Option<&str>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )
            }),
    }
}

fn parse_position(field: &str, value: Option<&str>) -> Result<Option<u64>, ApiError> {
    value
        .map(|text| {
            text.parse::<u64>()
                .ok()
                .filter(|value| i64::try_from(*value).is_ok())
                .ok_or_else(|| ApiError::invalid(field, "must be a whole number"))
        })
        .transpose()
}

/// Seals a fresh secret for the environment's endpoint: the secret to show once, and its
/// envelope.
fn fresh_secret(
    state: &AppState,
    caller: &Caller,
) -> (secrets::Zeroizing<String>, secrets::Sealed) {
    let secret = webhooks::signing::generate_secret();
    let sealed = state.keyring.seal(
        secret.as_bytes(),
        &webhooks::secret_aad(&caller.environment_id),
    );
    (secret, sealed)
}

/// Queues the endpoint's delivery job (or makes its live one due now).
async fn wake(state: &AppState, endpoint: &WebhookEndpoint) -> Result<(), ApiError> {
    let now = store::timestamp::now();
    let (job, created) = state
        .store
        .enqueue_job(webhooks::delivery_job(endpoint, now))
        .await?;
    if !created && job.status == store::JobStatus::Queued && job.run_at > now {
        match state
            .store
            .update_job_payload(&endpoint.environment_id, &job.id, &job.payload, Some(now))
            .await
        {
            // The job ended or was claimed meanwhile: a claimed one reads the new state.
            Ok(_) | Err(StoreError::Conflict(_) | StoreError::NotFound) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// `GET /webhooks/endpoints`
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let now = store::timestamp::now();
    let endpoints = state
        .store
        .list_webhook_endpoints(&caller.environment_id)
        .await?;
    let results: Vec<Value> = endpoints
        .iter()
        .map(|endpoint| endpoint_view(endpoint, now))
        .collect();
    Ok(axum::Json(json!({"results": results})))
}

/// `POST /webhooks/endpoints`
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CreateEndpoint>,
) -> Result<impl IntoResponse, ApiError> {
    let url = check_url(&body.url).map_err(|detail| ApiError::invalid("url", detail))?;
    let description = check_description(body.description)?;
    let event_types = check_event_types(body.event_types.unwrap_or_default())?;
    let connection_ids =
        check_connections(&state, &caller, body.connection_ids.unwrap_or_default()).await?;
    let (secret, sealed) = fresh_secret(&state, &caller);
    let endpoint = state
        .store
        .create_webhook_endpoint(NewWebhookEndpoint {
            environment_id: caller.environment_id.clone(),
            url,
            description,
            event_types,
            connection_ids,
            include_record: body.include_record.unwrap_or(false),
            enabled: body.enabled.unwrap_or(true),
            secret: sealed,
        })
        .await?;
    if endpoint.enabled {
        wake(&state, &endpoint).await?;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "endpoint": endpoint_view(&endpoint, store::timestamp::now()),
            "secret": secret.as_str(),
            "note": "the secret is shown once; verify deliveries with it (docs/webhooks.md)",
        })),
    ))
}

/// `GET /webhooks/endpoints/{id}`
pub async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = endpoint_id(&id)?;
    let endpoint = state
        .store
        .get_webhook_endpoint(&caller.environment_id, &id)
        .await
        .map_err(not_found_endpoint(&id))?;
    Ok(axum::Json(endpoint_view(
        &endpoint,
        store::timestamp::now(),
    )))
}

/// `PATCH /webhooks/endpoints/{id}`
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateEndpoint>,
) -> Result<impl IntoResponse, ApiError> {
    let id = endpoint_id(&id)?;
    let mut endpoint = state
        .store
        .get_webhook_endpoint(&caller.environment_id, &id)
        .await
        .map_err(not_found_endpoint(&id))?;
    let was_enabled = endpoint.enabled;
    if let Some(url) = body.url {
        endpoint.url = check_url(&url).map_err(|detail| ApiError::invalid("url", detail))?;
    }
    if let Some(description) = body.description {
        endpoint.description = check_description(description)?;
    }
    if let Some(types) = body.event_types {
        endpoint.event_types = check_event_types(types)?;
    }
    if let Some(ids) = body.connection_ids {
        endpoint.connection_ids = check_connections(&state, &caller, ids).await?;
    }
    if let Some(include_record) = body.include_record {
        endpoint.include_record = include_record;
    }
    if let Some(enabled) = body.enabled {
        if enabled != endpoint.enabled {
            endpoint.disabled_reason = (!enabled).then(|| "api".to_owned());
        }
        endpoint.enabled = enabled;
    }
    let endpoint = state
        .store
        .update_webhook_endpoint(&endpoint)
        .await
        .map_err(not_found_endpoint(&id))?;
    if endpoint.enabled && !was_enabled {
        wake(&state, &endpoint).await?;
    }
    Ok(axum::Json(endpoint_view(
        &endpoint,
        store::timestamp::now(),
    )))
}

/// `DELETE /webhooks/endpoints/{id}`: the endpoint, its messages and attempts.
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = endpoint_id(&id)?;
    state
        .store
        .delete_webhook_endpoint(&caller.environment_id, &id)
        .await
        .map_err(not_found_endpoint(&id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /webhooks/endpoints/{id}/rotate-secret`: a new secret; the old one keeps signing
/// beside it for a day.
pub async fn rotate_secret(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = endpoint_id(&id)?;
    let mut endpoint = state
        .store
        .get_webhook_endpoint(&caller.environment_id, &id)
        .await
        .map_err(not_found_endpoint(&id))?;
    let now = store::timestamp::now();
    let (secret, sealed) = fresh_secret(&state, &caller);
    let old = std::mem::replace(&mut endpoint.secret, sealed);
    endpoint.previous_secret = Some(old);
    endpoint.previous_secret_until = Some(now + chrono::Duration::seconds(ROTATION_OVERLAP_SECS));
    let endpoint = state
        .store
        .update_webhook_endpoint(&endpoint)
        .await
        .map_err(not_found_endpoint(&id))?;
    Ok(axum::Json(json!({
        "endpoint": endpoint_view(&endpoint, now),
        "secret": secret.as_str(),
        "note": "deliveries carry signatures by the new and the old secret until previous_secret_expires_at",
    })))
}

/// `GET /webhooks/endpoints/{id}/attempts`: newest first.
pub async fn attempts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let id = endpoint_id(&id)?;
    let limit = parse_limit(query.limit.as_deref())?;
    let before = parse_position("before", query.before.as_deref())?;
    let rows = state
        .store
        .list_webhook_attempts(&caller.environment_id, &id, before, limit)
        .await
        .map_err(not_found_endpoint(&id))?;
    let next_before = (rows.len() == limit as usize)
        .then(|| rows.last().map(|row| row.id.to_string()))
        .flatten();
    Ok(axum::Json(
        json!({"results": rows, "next_before": next_before}),
    ))
}

/// `GET /webhooks/endpoints/{id}/messages`: oldest first, of one status when asked
/// (`status=dead`: the dead letters).
pub async fn messages(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let id = endpoint_id(&id)?;
    let limit = parse_limit(query.limit.as_deref())?;
    let after = parse_position("after", query.after.as_deref())?;
    let status = query
        .status
        .as_deref()
        .map(|text| {
            MessageStatus::parse(text).ok_or_else(|| {
                ApiError::invalid("status", "must be `pending`, `delivered` or `dead`")
            })
        })
        .transpose()?;
    let rows = state
        .store
        .list_webhook_messages(&caller.environment_id, &id, status, after, limit)
        .await
        .map_err(not_found_endpoint(&id))?;
    let results: Vec<Value> = rows
        .iter()
        .map(|message| {
            json!({
                "id": message.id,
                "event_type": message.event_type,
                "status": message.status,
                "attempts": message.attempts,
                "next_attempt_at": message.next_attempt_at,
                "last_error": message.last_error,
                "change_seq": message.change_seq,
                "payload": serde_json::from_str::<Value>(&message.body).unwrap_or(Value::Null),
                "created_at": message.created_at,
                "seq": message.seq,
            })
        })
        .collect();
    let next_after = (rows.len() == limit as usize)
        .then(|| rows.last().map(|row| row.seq.to_string()))
        .flatten();
    Ok(axum::Json(
        json!({"results": results, "next_after": next_after}),
    ))
}

/// `POST /webhooks/endpoints/{id}/replay`: dead letters sent again, one by id, those created in
/// a time range, or those of changes after a change feed cursor.
pub async fn replay(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Replay>,
) -> Result<impl IntoResponse, ApiError> {
    let id = endpoint_id(&id)?;
    let selection = match (body.message_id, body.since, body.until, body.after_change) {
        (Some(message), None, None, None) => ReplaySelection::Message(
            WebhookMessageId::parse(&message)
                .map_err(|_| ApiError::invalid("message_id", "is not a message id"))?,
        ),
        (None, Some(since), Some(until), None) => {
            if until <= since {
                return Err(ApiError::invalid("until", "must be after `since`"));
            }
            ReplaySelection::Between(since, until)
        }
        // Up to now: a `since` still to come (a client's clock ahead of ours) selects nothing.
        (None, Some(since), None, None) => {
            ReplaySelection::Between(since, store::timestamp::now().max(since))
        }
        (None, None, None, Some(after)) => {
            if i64::try_from(after).is_err() {
                return Err(ApiError::invalid("after_change", "is out of range"));
            }
            ReplaySelection::AfterChange(after)
        }
        _ => {
            return Err(ApiError::invalid(
                "body",
                "give one of `message_id`, `since` (with `until`), or `after_change`",
            ));
        }
    };
    let endpoint = state
        .store
        .get_webhook_endpoint(&caller.environment_id, &id)
        .await
        .map_err(not_found_endpoint(&id))?;
    let replayed = state
        .store
        .replay_webhook_messages(
            &caller.environment_id,
            &id,
            selection,
            store::timestamp::now(),
        )
        .await
        .map_err(not_found_endpoint(&id))?;
    if replayed > 0 && endpoint.enabled {
        wake(&state, &endpoint).await?;
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"replayed": replayed})),
    ))
}
