//! API-key authentication: `Authorization: Bearer <key>` names an environment.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use store::{ApiKeyHash, EnvironmentId, StoreError};

use crate::{ApiError, AppState};

/// The environment the request's API key belongs to (a request extension).
#[derive(Debug, Clone)]
pub struct Caller {
    pub environment_id: EnvironmentId,
}

/// Middleware: resolves the API key to its environment, or answers 401.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or(ApiError::Unauthenticated)?;
    let api_key = match state.store.find_api_key(&ApiKeyHash::of(key)).await {
        Ok(api_key) => api_key,
        Err(StoreError::NotFound) => return Err(ApiError::Unauthenticated),
        Err(other) => return Err(other.into()),
    };
    request.extensions_mut().insert(Caller {
        environment_id: api_key.environment_id,
    });
    Ok(next.run(request).await)
}
