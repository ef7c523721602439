//! `/environment/api-keys`: the calling environment's API keys: create (the key is shown once),
//! list, revoke and rotate (old and new key overlap for a while).
//!
//! A key of an environment manages that environment's keys within its own rights: it makes,
//! rotates and revokes only keys whose permissions its own cover ([`KeyPermissions::covers`]),
//! so no key hands out a right it lacks (a read-only key makes no key at all: that is a write).
//! A key cannot revoke itself here
//! (a caller would lock itself out mid-flight: revoke it with another key, or rotate it), and
//! the environment's last usable key cannot be revoked at all (the store refuses it in the
//! same transaction as the write); the operator's `crosswalk api-keys` commands have the same
//! rules and need no key.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{ApiKey, ApiKeyHash, ApiKeyId, ConnectionId, KeyPermissions, NewApiKey, StoreError};

use super::JsonBody;
use crate::auth::Caller;
use crate::{ApiError, AppState};

/// The longest label of a key, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// How long the old key keeps working after a rotation unless the caller says otherwise.
pub const DEFAULT_OVERLAP_SECS: u64 = 24 * 3600;
/// The longest overlap a rotation may ask for.
pub const MAX_OVERLAP_SECS: u64 = 30 * 24 * 3600;
/// The furthest expiry a key may be given (ten years).
const MAX_LIFETIME_SECS: u64 = 10 * 366 * 24 * 3600;
/// The most connections a key may be scoped to.
pub const MAX_SCOPED_CONNECTIONS: usize = 100;

/// `POST /environment/api-keys` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[serde(default, deserialize_with = "super::not_null")]
    name: Option<String>,
    /// When the key stops working (RFC 3339), or
    #[serde(default, deserialize_with = "super::not_null")]
    expires_at: Option<DateTime<Utc>>,
    /// in how many seconds it does.
    #[serde(default, deserialize_with = "super::not_null")]
    expires_in_secs: Option<u64>,
    /// What the key may do (`connection_ids`, `read_only`, `deletes`); parsed by
    /// [`parse_permissions`] so each error names its field.
    #[serde(default)]
    permissions: Option<Value>,
}

/// `POST /environment/api-keys/{id}/rotate` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// How long the old key keeps working (default a day, at most 30 days; 0 ends it now).
    #[serde(default, deserialize_with = "super::not_null")]
    overlap_secs: Option<u64>,
    /// The new key's label (default: the old key's).
    #[serde(default, deserialize_with = "super::not_null")]
    name: Option<String>,
}

/// A key as the API shows it: never the key or its hash, its prefix to recognise it.
pub fn key_view(key: &ApiKey, caller: Option<&ApiKeyId>, now: DateTime<Utc>) -> Value {
    let status = if key.revoked_at.is_some() {
        "revoked"
    } else if key.usable_at(now) {
        "active"
    } else {
        "expired"
    };
    json!({
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "status": status,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "last_used_at": key.last_used_at,
        "current": caller == Some(&key.id),
        "permissions": permissions_view(&key.permissions),
    })
}

/// A key's permissions as the API shows them.
pub fn permissions_view(permissions: &KeyPermissions) -> Value {
    json!({
        "connection_ids": permissions
            .connection_ids
            .as_ref()
            .map(|ids| ids.iter().map(ConnectionId::as_str).collect::<Vec<_>>()),
        "read_only": permissions.read_only,
        "deletes": permissions.deletes,
    })
}

/// Parses the `permissions` of a new key: absent or null for the defaults (every connection,
/// reads and writes, no deletes), else an object of `connection_ids` (null for every
/// connection, or 1 to [`MAX_SCOPED_CONNECTIONS`] distinct connection ids), `read_only` and
/// `deletes` (booleans, not both true).
///
/// # Errors
/// A 400 naming the field (`permissions.connection_ids[2]`) and what is wrong with it.
pub fn parse_permissions(value: Option<Value>) -> Result<KeyPermissions, ApiError> {
    let mut permissions = KeyPermissions::default();
    let map = match value {
        None | Some(Value::Null) => return Ok(permissions),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(ApiError::invalid("permissions", "must be an object")),
    };
    for (name, value) in map {
        let field = format!("permissions.{name}");
        match name.as_str() {
            "connection_ids" => {
                permissions.connection_ids = match value {
                    Value::Null => None,
                    Value::Array(items) => Some(parse_connection_ids(&field, items)?),
                    _ => {
                        return Err(ApiError::invalid(
                            field,
                            "must be a list of connection ids, or null for every connection",
                        ));
                    }
                };
            }
            "read_only" | "deletes" => {
                let Value::Bool(flag) = value else {
                    return Err(ApiError::invalid(field, "must be true or false"));
                };
                if name == "read_only" {
                    permissions.read_only = flag;
                } else {
                    permissions.deletes = flag;
                }
            }
            _ => {
                return Err(ApiError::invalid(
                    field,
                    "is not a permission (known: connection_ids, read_only, deletes)",
                ));
            }
        }
    }
    if permissions.read_only && permissions.deletes {
        return Err(ApiError::invalid(
            "permissions.deletes",
            "a read-only key cannot delete: leave out `deletes` or `read_only`",
        ));
    }
    Ok(permissions)
}

fn parse_connection_ids(field: &str, items: Vec<Value>) -> Result<Vec<ConnectionId>, ApiError> {
    if items.is_empty() {
        return Err(ApiError::invalid(
            field,
            "must name at least one connection (null, or leaving it out, is every connection)",
        ));
    }
    if items.len() > MAX_SCOPED_CONNECTIONS {
        return Err(ApiError::invalid(
            field,
            format!("may name at most {MAX_SCOPED_CONNECTIONS} connections"),
        ));
    }
    let mut ids: Vec<ConnectionId> = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let at = format!("{field}[{index}]");
        let id = item
            .as_str()
            .and_then(|text| ConnectionId::parse(text).ok())
            .ok_or_else(|| ApiError::invalid(&at, "is not a connection id (`conn_…`)"))?;
        if ids.contains(&id) {
            return Err(ApiError::invalid(at, format!("names `{id}` a second time")));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Checks that every scoped connection is one of the environment's.
async fn check_connections_exist(
    state: &AppState,
    caller: &Caller,
    permissions: &KeyPermissions,
) -> Result<(), ApiError> {
    for (index, id) in permissions.connection_ids.iter().flatten().enumerate() {
        match state.store.get_connection(&caller.environment_id, id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                return Err(ApiError::invalid(
                    format!("permissions.connection_ids[{index}]"),
                    format!("connection `{id}` does not exist in this environment"),
                ));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

/// Refuses when the caller's key does not hold every right of `permissions`.
fn check_covered(
    caller: &Caller,
    permissions: &KeyPermissions,
    what: &str,
) -> Result<(), ApiError> {
    if caller.permissions.covers(permissions) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            code: "permission_not_held",
            detail: format!(
                "this API key cannot {what} a key with rights it does not hold itself (connections, writes or deletes)"
            ),
        })
    }
}

/// Checks a key's label.
///
/// # Errors
/// When it is blank, too long or holds control characters.
pub fn check_name(name: Option<String>) -> Result<Option<String>, String> {
    let Some(name) = name else { return Ok(None) };
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err("must not be blank".to_owned());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("must be at most {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not hold control characters".to_owned());
    }
    Ok(Some(name))
}

/// A fresh key for `caller`'s environment: the key (shown once) and what the store keeps.
fn fresh_key(
    caller: &Caller,
    name: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    permissions: KeyPermissions,
) -> (String, NewApiKey) {
    let key = store::generate_api_key();
    let new = NewApiKey {
        environment_id: caller.environment_id.clone(),
        key_hash: ApiKeyHash::of(&key),
        prefix: store::api_key_prefix(&key),
        name,
        expires_at,
        permissions,
    };
    (key, new)
}

fn key_id(id: &str) -> Result<ApiKeyId, ApiError> {
    ApiKeyId::parse(id).map_err(|_| ApiError::not_found(format!("api key `{id}` does not exist")))
}

fn secs(value: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX))
}

/// `GET /environment/api-keys`
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let now = store::timestamp::now();
    let keys = state.store.list_api_keys(&caller.environment_id).await?;
    let results: Vec<Value> = keys
        .iter()
        .map(|key| key_view(key, Some(&caller.api_key_id), now))
        .collect();
    Ok(axum::Json(json!({ "results": results })))
}

/// `POST /environment/api-keys`
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CreateKey>,
) -> Result<impl IntoResponse, ApiError> {
    let now = store::timestamp::now();
    let name = check_name(body.name).map_err(|detail| ApiError::invalid("name", detail))?;
    let expires_at = match (body.expires_at, body.expires_in_secs) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "expires_at",
                "give `expires_at` or `expires_in_secs`, not both",
            ));
        }
        (Some(at), None) => Some(at),
        (None, Some(0)) => {
            return Err(ApiError::invalid("expires_in_secs", "must be at least 1"));
        }
        (None, Some(secs_from_now)) => {
            if secs_from_now > MAX_LIFETIME_SECS {
                return Err(ApiError::invalid(
                    "expires_in_secs",
                    format!("must be at most {MAX_LIFETIME_SECS}"),
                ));
            }
            Some(now + secs(secs_from_now))
        }
        (None, None) => None,
    };
    if let Some(at) = expires_at {
        if at <= now {
            return Err(ApiError::invalid("expires_at", "must be in the future"));
        }
        if at > now + secs(MAX_LIFETIME_SECS) {
            return Err(ApiError::invalid(
                "expires_at",
                "must be at most ten years ahead",
            ));
        }
    }
    let permissions = parse_permissions(body.permissions)?;
    check_connections_exist(&state, &caller, &permissions).await?;
    check_covered(&caller, &permissions, "make")?;
    let (key, new) = fresh_key(&caller, name, expires_at, permissions);
    let created = state.store.create_api_key(new).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "key": key,
            "api_key": key_view(&created, Some(&caller.api_key_id), now),
            "note": "the key is shown once; only its hash is stored",
        })),
    ))
}

/// `DELETE /environment/api-keys/{id}`: revokes a key (for good).
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = key_id(&id)?;
    if id == caller.api_key_id {
        return Err(ApiError::Conflict {
            code: "own_api_key",
            detail: "a key cannot revoke itself: revoke it with another key of the environment, or rotate it (POST /environment/api-keys/{id}/rotate)".to_owned(),
        });
    }
    let target = state
        .store
        .list_api_keys(&caller.environment_id)
        .await?
        .into_iter()
        .find(|key| key.id == id)
        .ok_or_else(|| ApiError::not_found(format!("api key `{id}` does not exist")))?;
    check_covered(&caller, &target.permissions, "revoke")?;
    let now = store::timestamp::now();
    match state
        .store
        .revoke_api_key(&caller.environment_id, &id, now)
        .await
    {
        Ok(revoked) => Ok(axum::Json(key_view(
            &revoked,
            Some(&caller.api_key_id),
            now,
        ))),
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!(
            "api key `{id}` does not exist"
        ))),
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict {
            code: "last_api_key",
            detail: "this is the environment's last usable key; create another first".to_owned(),
        }),
        Err(other) => Err(other.into()),
    }
}

/// `POST /environment/api-keys/{id}/rotate`: a new key now, the old one until the overlap ends.
pub async fn rotate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    // The body is optional: an empty one takes the defaults.
    super::OptionalJsonBody(body): super::OptionalJsonBody<RotateKey>,
) -> Result<impl IntoResponse, ApiError> {
    let id = key_id(&id)?;
    let overlap = body.overlap_secs.unwrap_or(DEFAULT_OVERLAP_SECS);
    if overlap > MAX_OVERLAP_SECS {
        return Err(ApiError::invalid(
            "overlap_secs",
            format!("must be at most {MAX_OVERLAP_SECS} (30 days)"),
        ));
    }
    let name = check_name(body.name).map_err(|detail| ApiError::invalid("name", detail))?;
    let now = store::timestamp::now();
    let old = state
        .store
        .list_api_keys(&caller.environment_id)
        .await?
        .into_iter()
        .find(|key| key.id == id)
        .ok_or_else(|| ApiError::not_found(format!("api key `{id}` does not exist")))?;
    check_covered(&caller, &old.permissions, "rotate")?;
    // The new key inherits the old one's label, permissions and, if it had one, its lifetime
    // from now.
    let lifetime = old.expires_at.map(|expires_at| expires_at - old.created_at);
    let (key, new) = fresh_key(
        &caller,
        name.or(old.name),
        lifetime.map(|lifetime| now + lifetime),
        old.permissions,
    );
    match state
        .store
        .rotate_api_key(&caller.environment_id, &id, new, now + secs(overlap), now)
        .await
    {
        Ok((old, created)) => Ok((
            StatusCode::CREATED,
            axum::Json(json!({
                "key": key,
                "api_key": key_view(&created, Some(&caller.api_key_id), now),
                "previous": key_view(&old, Some(&caller.api_key_id), now),
                "note": "the key is shown once; only its hash is stored",
            })),
        )),
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!(
            "api key `{id}` does not exist"
        ))),
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict {
            code: "api_key_not_usable",
            detail: "a revoked or expired key cannot be rotated; create a new key instead"
                .to_owned(),
        }),
        Err(other) => Err(other.into()),
    }
}
