//! `GET /events`: the environment's events (connection created, re-authorised, needs
//! re-authorisation, …), oldest first, optionally for one connection or of one kind.

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use store::ConnectionId;

use super::JsonBody;
use crate::auth::Caller;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    #[serde(default)]
    connection_id: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<EventsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let connection_id = query
        .connection_id
        .as_deref()
        .map(|id| {
            ConnectionId::parse(id)
                .map_err(|_| ApiError::invalid("connection_id", "is not a connection id"))
        })
        .transpose()?;
    let events = state
        .store
        .list_events(
            &caller.environment_id,
            connection_id.as_ref(),
            query.kind.as_deref(),
        )
        .await?;
    let results: Vec<_> = events
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
    Ok(JsonBody(json!({"results": results})))
}
