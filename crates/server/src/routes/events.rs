//! `GET /events`: the environment's events (connection created, re-authorised, needs
//! re-authorisation, …), oldest first, optionally for one connection or of one kind, a page at a
//! time; and the `limit` and `cursor` parameters every paged store list reads.

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use store::{ConnectionId, Cursor, PageRequest};

use super::JsonBody;
use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Rows a page holds when the request names no `limit`.
pub const DEFAULT_LIMIT: u32 = 100;

/// The most rows a page may hold.
pub const MAX_LIMIT: u32 = 1000;

/// Reads the `limit` and `cursor` query parameters of a paged list.
///
/// # Errors
///
/// A 400 naming `limit` when it is not a whole number from 1 to [`MAX_LIMIT`], and one naming
/// `cursor` when it is not a cursor a list returned.
pub fn page_request(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}, not `{text}`"),
                )
            })?,
    };
    let after = cursor
        .map(|text| {
            Cursor::parse(text).map_err(|_| {
                ApiError::invalid("cursor", "is not a `next_cursor` this list returned")
            })
        })
        .transpose()?;
    Ok(PageRequest { limit, after })
}

/// Reads an optional `connection_id` query parameter.
///
/// # Errors
///
/// A 400 naming `connection_id` when it is not a connection id.
pub fn connection_filter(id: Option<&str>) -> Result<Option<ConnectionId>, ApiError> {
    id.map(|id| {
        ConnectionId::parse(id)
            .map_err(|_| ApiError::invalid("connection_id", "is not a connection id"))
    })
    .transpose()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    #[serde(default)]
    connection_id: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<EventsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let connection_id = connection_filter(query.connection_id.as_deref())?;
    let EventsQuery { limit, cursor, .. } = &query;
    let page = page_request(limit.as_deref(), cursor.as_deref())?;
    let events = state
        .store
        .list_events_page(
            &caller.environment_id,
            connection_id.as_ref(),
            query.kind.as_deref(),
            &page,
        )
        .await?;
    let results: Vec<_> = events
        .items
        .iter()
        .map(|event| {
            json!({
                "id": event.id.as_str(),
                "kind": event.kind,
                "connection_id": event.connection_id.as_ref().map(|id| id.as_str()),
                "payload": event.payload,
                "created_at": event.created_at,
            })
        })
        .collect();
    let next_cursor = events.next.as_ref().map(Cursor::encode);
    Ok(JsonBody(
        json!({"results": results, "next_cursor": next_cursor}),
    ))
}
