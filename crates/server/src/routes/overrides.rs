//! Connector overrides through the API: an environment's (`/environment/overrides/{provider}`)
//! and a connection's (`/connections/{id}/overrides`). Each change is a new version, validated
//! and compiled when saved — a broken JSONata is refused then, with its code and position, never
//! at request time — effective on the next request, and reversible (`…/revert`).

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use connector::OverrideLayer;
use serde::Deserialize;
use serde_json::{Value, json};
use store::{ConnectionId, OverrideScope, OverrideVersion, StoreError};

use super::JsonBody;
use crate::auth::Caller;
use crate::{ApiError, AppState};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutQuery {
    /// Optimistic concurrency: the version the caller read (0: none yet).
    #[serde(default)]
    expected_version: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevertBody {
    version: u32,
}

fn view(version: &OverrideVersion) -> Value {
    json!({
        "provider": version.scope.provider,
        "connection_id": version.scope.connection_id.as_ref().map(|id| id.as_str()),
        "version": version.version,
        "document": version.document,
        "removed": version.document.is_none(),
        "revision": version.revision,
        "created_at": version.created_at,
    })
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(detail) => ApiError::BadRequest {
            code: "version_conflict",
            field: Some("expected_version".to_owned()),
            detail: format!("the override changed meanwhile; read it again ({detail})"),
        },
        StoreError::NotFound => ApiError::not_found("not found"),
        other => other.into(),
    }
}

/// The scope of a route: an environment's provider, or a connection of the caller's.
async fn scope(
    state: &AppState,
    caller: &Caller,
    provider: Option<&str>,
    connection: Option<&str>,
) -> Result<OverrideScope, ApiError> {
    match (provider, connection) {
        (Some(provider), None) => {
            if state.connectors.get(provider).is_none() {
                return Err(ApiError::not_found(format!(
                    "provider `{provider}` does not exist"
                )));
            }
            Ok(OverrideScope::environment(
                caller.environment_id.clone(),
                provider,
            ))
        }
        (_, Some(id)) => {
            let parsed = ConnectionId::parse(id)
                .map_err(|_| ApiError::not_found(format!("connection `{id}` does not exist")))?;
            let connection = state
                .store
                .get_connection(&caller.environment_id, &parsed)
                .await
                .map_err(|_| ApiError::not_found(format!("connection `{id}` does not exist")))?;
            Ok(OverrideScope::connection(
                caller.environment_id.clone(),
                connection.provider,
                parsed,
            ))
        }
        (None, None) => Err(ApiError::not_found("no such route")),
    }
}

/// Validates `document` as the scope's override: applied over the base connector (and, for a
/// connection, over its environment's current override), typed and compiled.
async fn validate(
    state: &AppState,
    scope: &OverrideScope,
    document: &Value,
) -> Result<String, ApiError> {
    let base = state.connectors.get(&scope.provider).ok_or_else(|| {
        ApiError::not_found(format!("provider `{}` does not exist", scope.provider))
    })?;
    if !document.is_object() {
        return Err(ApiError::invalid(
            "body",
            "an override is a JSON object patching the connector file",
        ));
    }
    let mut layers: Vec<(OverrideLayer, Value)> = Vec::new();
    if scope.connection_id.is_some() {
        let environment =
            OverrideScope::environment(scope.environment_id.clone(), scope.provider.clone());
        if let Some(current) = state.store.current_override(&environment).await?
            && let Some(doc) = current.document
        {
            layers.push((OverrideLayer::Environment, doc));
        }
        layers.push((OverrideLayer::Connection, document.clone()));
    } else {
        layers.push((OverrideLayer::Environment, document.clone()));
    }
    let refs: Vec<(OverrideLayer, &Value)> =
        layers.iter().map(|(layer, doc)| (*layer, doc)).collect();
    base.with_layers(&refs)
        .map_err(|error| ApiError::BadRequest {
            code: "invalid_override",
            field: error.path.clone().or_else(|| Some("body".to_owned())),
            detail: error.to_string(),
        })?;
    Ok(base.file().meta.revision.clone())
}

/// The largest override document, as JSON text: overrides patch a connector, they are not a
/// place to store data (the history keeps [`store::OVERRIDE_VERSIONS_KEPT`] versions of each).
pub const MAX_OVERRIDE_BYTES: usize = 64 * 1024;

async fn put(
    state: &AppState,
    scope: OverrideScope,
    document: Option<Value>,
    expected: Option<u32>,
) -> Result<OverrideVersion, ApiError> {
    if let Some(document) = &document {
        let size = serde_json::to_vec(document).map_or(usize::MAX, |text| text.len());
        if size > MAX_OVERRIDE_BYTES {
            return Err(ApiError::BadRequest {
                code: "override_too_large",
                field: None,
                detail: format!(
                    "an override may hold at most {MAX_OVERRIDE_BYTES} bytes of JSON; this one holds {size}"
                ),
            });
        }
    }
    let revision = match &document {
        Some(document) => validate(state, &scope, document).await?,
        None => state
            .connectors
            .get(&scope.provider)
            .map(|connector| connector.file().meta.revision.clone())
            .unwrap_or_default(),
    };
    state
        .store
        .put_override(&scope, document.as_ref(), &revision, expected)
        .await
        .map_err(store_error)
}

pub async fn put_environment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(provider): Path<String>,
    Query(query): Query<PutQuery>,
    JsonBody(document): JsonBody<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = scope(&state, &caller, Some(&provider), None).await?;
    let version = put(&state, scope, Some(document), query.expected_version).await?;
    Ok(JsonBody(view(&version)))
}

pub async fn put_connection(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<PutQuery>,
    JsonBody(document): JsonBody<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = scope(&state, &caller, None, Some(&id)).await?;
    let version = put(&state, scope, Some(document), query.expected_version).await?;
    Ok(JsonBody(view(&version)))
}

async fn current(state: &AppState, scope: &OverrideScope) -> Result<Value, ApiError> {
    let history = state.store.override_history(scope).await?;
    let latest = history
        .last()
        .ok_or_else(|| ApiError::not_found("no override has been set"))?;
    Ok(json!({"current": view(latest), "history": history.iter().map(view).collect::<Vec<_>>()}))
}

pub async fn get_environment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(provider): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = scope(&state, &caller, Some(&provider), None).await?;
    Ok(JsonBody(current(&state, &scope).await?))
}

pub async fn get_connection(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = scope(&state, &caller, None, Some(&id)).await?;
    Ok(JsonBody(current(&state, &scope).await?))
}

pub async fn delete_environment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(provider): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = scope(&state, &caller, Some(&provider), None).await?;
    let version = put(&state, scope, None, None).await?;
    Ok((StatusCode::OK, JsonBody(view(&version))))
}

pub async fn delete_connection(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = scope(&state, &caller, None, Some(&id)).await?;
    let version = put(&state, scope, None, None).await?;
    Ok((StatusCode::OK, JsonBody(view(&version))))
}

async fn revert(
    state: &AppState,
    scope: OverrideScope,
    version: u32,
) -> Result<OverrideVersion, ApiError> {
    let earlier = state
        .store
        .get_override_version(&scope, version)
        .await
        .map_err(|_| ApiError::invalid("version", format!("version {version} does not exist")))?;
    put(state, scope, earlier.document, None).await
}

pub async fn revert_environment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(provider): Path<String>,
    JsonBody(body): JsonBody<RevertBody>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = scope(&state, &caller, Some(&provider), None).await?;
    Ok(JsonBody(view(&revert(&state, scope, body.version).await?)))
}

pub async fn revert_connection(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RevertBody>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = scope(&state, &caller, None, Some(&id)).await?;
    Ok(JsonBody(view(&revert(&state, scope, body.version).await?)))
}
