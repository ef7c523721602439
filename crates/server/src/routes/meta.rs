//! `GET /unified/{category}/{object}/meta`: for one connection, the JSON Schemas of its records,
//! of the list query, and of create and update bodies, with the connection's custom fields, and
//! where each part of the mapping came from ([`operations::Bound::meta`]).

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::JsonBody;
use super::unified::{answer, bind_call, parse_query, target};
use crate::auth::Caller;
use crate::{ApiError, AppState};

pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((category, object)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let object = target(&category, &object)?;
    let params = parse_query(raw)?;
    if let Some((key, _)) = params
        .iter()
        .find(|(key, _)| !matches!(key.as_str(), "connection_id" | "max_wait_ms"))
    {
        return Err(ApiError::invalid(
            key,
            "is not a parameter of this operation",
        ));
    }
    let bound = bind_call(&state, &caller, &params, &headers).await?;
    let outcome = bound.meta(object).await.map(|meta| JsonBody(meta.0));
    Ok(answer(&bound, outcome).await)
}
