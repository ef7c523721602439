//! `crosswalk api-keys`: the operator's side of the API key lifecycle (create, list, revoke,
//! rotate), straight on the store, so it works without any key, e.g. after a leak; and the
//! strength rule for keys chosen by hand (`demo --api-key`).
//!
//! The rules are the API's (`/environment/api-keys`): a key is shown once and only its hash is
//! stored; the environment's last usable key cannot be revoked (create another first); a
//! rotation lets the old key work until the overlap ends.

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use store::{
    ApiKey, ApiKeyHash, ApiKeyId, ConnectionId, EnvironmentId, KeyPermissions, NewApiKey, Store,
    StoreError,
};

/// The fewest characters a hand-chosen API key may have.
pub const MIN_KEY_CHARS: usize = 32;
/// The fewest different characters a hand-chosen API key may have (refuses `aaaa…`, `abab…`).
pub const MIN_DISTINCT_CHARS: usize = 12;

/// Checks that a key chosen by hand is strong enough to stand for an environment: at least
/// [`MIN_KEY_CHARS`] printable ASCII characters without spaces (it travels in a header), at
/// least [`MIN_DISTINCT_CHARS`] of them different.
///
/// # Errors
/// Says what is missing, without repeating the key.
pub fn check_key_strength(key: &str) -> Result<(), String> {
    let advice = "leave --api-key out to have a strong random key generated and printed";
    if !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "the API key must be printable ASCII without spaces; {advice}"
        ));
    }
    if key.len() < MIN_KEY_CHARS {
        return Err(format!(
            "the API key is too short ({} characters; at least {MIN_KEY_CHARS} are required); {advice}",
            key.len()
        ));
    }
    let mut distinct: Vec<char> = key.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_DISTINCT_CHARS {
        return Err(format!(
            "the API key is too repetitive ({} different characters; at least {MIN_DISTINCT_CHARS} are required); {advice}",
            distinct.len()
        ));
    }
    Ok(())
}

fn environment_id(value: &str) -> anyhow::Result<EnvironmentId> {
    EnvironmentId::parse(value).map_err(|error| anyhow::anyhow!("--environment: {error}"))
}

fn key_id(value: &str) -> anyhow::Result<ApiKeyId> {
    ApiKeyId::parse(value).map_err(|error| anyhow::anyhow!("key id: {error}"))
}

/// Creates a key of an environment; returns the key (to show once) and its row.
///
/// # Errors
/// When the environment does not exist or the store fails.
pub async fn create(
    store: &dyn Store,
    environment: &str,
    name: Option<String>,
    expires_in: Option<Duration>,
    permissions: KeyPermissions,
) -> anyhow::Result<(String, ApiKey)> {
    let environment_id = environment_id(environment)?;
    let name = checked_name(name)?;
    if expires_in.is_some_and(|lifetime| lifetime <= Duration::zero()) {
        anyhow::bail!("the expiry must be in the future");
    }
    if permissions.read_only && permissions.deletes {
        anyhow::bail!("a read-only key cannot delete: give --read-only or --deletes, not both");
    }
    for id in permissions.connection_ids.iter().flatten() {
        match store.get_connection(&environment_id, id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                anyhow::bail!("--connection: environment `{environment}` has no connection `{id}`")
            }
            Err(other) => return Err(anyhow::Error::new(other).context("reading a connection")),
        }
    }
    let key = store::generate_api_key();
    let created = store
        .create_api_key(NewApiKey {
            environment_id,
            key_hash: ApiKeyHash::of(&key),
            prefix: store::api_key_prefix(&key),
            name,
            expires_at: expires_in.map(|lifetime| store::timestamp::now() + lifetime),
            permissions,
        })
        .await
        .map_err(|error| match error {
            StoreError::NotFound => anyhow::anyhow!("environment `{environment}` does not exist"),
            other => anyhow::Error::new(other).context("storing the key"),
        })?;
    Ok((key, created))
}

fn checked_name(name: Option<String>) -> anyhow::Result<Option<String>> {
    let Some(name) = name else { return Ok(None) };
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        anyhow::bail!("--name must be 1 to 100 characters without control characters");
    }
    Ok(Some(name))
}

/// Every key of an environment, oldest first.
///
/// # Errors
/// When the store fails.
pub async fn list(store: &dyn Store, environment: &str) -> anyhow::Result<Vec<ApiKey>> {
    let environment_id = environment_id(environment)?;
    store
        .get_environment(&environment_id)
        .await
        .map_err(|_| anyhow::anyhow!("environment `{environment}` does not exist"))?;
    store
        .list_api_keys(&environment_id)
        .await
        .context("listing keys")
}

/// Revokes a key, unless it is the environment's last usable one.
///
/// # Errors
/// When the key does not exist in the environment, is its last usable key, or the store fails.
pub async fn revoke(store: &dyn Store, environment: &str, id: &str) -> anyhow::Result<ApiKey> {
    let environment_id = environment_id(environment)?;
    let id = key_id(id)?;
    store
        .revoke_api_key(&environment_id, &id, store::timestamp::now())
        .await
        .map_err(|error| match error {
            StoreError::NotFound => {
                anyhow::anyhow!("environment `{environment}` has no key `{id}`")
            }
            StoreError::Conflict(_) => anyhow::anyhow!(
                "key `{id}` is the environment's last usable key; create another first (`crosswalk api-keys create`)"
            ),
            other => anyhow::Error::new(other).context("revoking the key"),
        })
}

/// Rotates a key: a new key now (shown once), the old one until `overlap` has passed.
///
/// # Errors
/// When the key does not exist in the environment, is revoked or expired, or the store fails.
pub async fn rotate(
    store: &dyn Store,
    environment: &str,
    id: &str,
    overlap: Duration,
) -> anyhow::Result<(String, ApiKey, ApiKey)> {
    let environment_id = environment_id(environment)?;
    let id = key_id(id)?;
    if overlap < Duration::zero() {
        anyhow::bail!("the overlap must not be negative");
    }
    let now = store::timestamp::now();
    let old = store
        .list_api_keys(&environment_id)
        .await
        .context("listing keys")?
        .into_iter()
        .find(|key| key.id == id)
        .ok_or_else(|| anyhow::anyhow!("environment `{environment}` has no key `{id}`"))?;
    let key = store::generate_api_key();
    let new = NewApiKey {
        environment_id: environment_id.clone(),
        key_hash: ApiKeyHash::of(&key),
        prefix: store::api_key_prefix(&key),
        name: old.name.clone(),
        expires_at: old
            .expires_at
            .map(|expires_at| now + (expires_at - old.created_at)),
        permissions: old.permissions.clone(),
    };
    let (old, created) = store
        .rotate_api_key(&environment_id, &id, new, now + overlap, now)
        .await
        .map_err(|error| match error {
            StoreError::NotFound => {
                anyhow::anyhow!("environment `{environment}` has no key `{id}`")
            }
            StoreError::Conflict(_) => {
                anyhow::anyhow!("key `{id}` is revoked or expired; create a new key instead")
            }
            other => anyhow::Error::new(other).context("rotating the key"),
        })?;
    Ok((key, old, created))
}

/// A key's state at `now`: `active`, `expired` or `revoked`.
pub fn status(key: &ApiKey, now: DateTime<Utc>) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key.usable_at(now) {
        "active"
    } else {
        "expired"
    }
}

/// The permissions `--connection`, `--read-only` and `--deletes` ask for.
///
/// # Errors
/// When a connection id is malformed.
pub fn permissions(
    connections: &[String],
    read_only: bool,
    deletes: bool,
) -> anyhow::Result<KeyPermissions> {
    let connection_ids = if connections.is_empty() {
        None
    } else {
        let mut ids: Vec<ConnectionId> = Vec::new();
        for text in connections {
            let id = ConnectionId::parse(text)
                .map_err(|error| anyhow::anyhow!("--connection `{text}`: {error}"))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Some(ids)
    };
    Ok(KeyPermissions {
        connection_ids,
        read_only,
        deletes,
    })
}

/// A key's permissions in a few words.
fn describe_permissions(permissions: &KeyPermissions) -> String {
    let connections = match &permissions.connection_ids {
        None => "every connection".to_owned(),
        Some(ids) => ids
            .iter()
            .map(ConnectionId::as_str)
            .collect::<Vec<_>>()
            .join(","),
    };
    let rights = if permissions.read_only {
        "read-only"
    } else if permissions.deletes {
        "read-write-delete"
    } else {
        "read-write"
    };
    format!("{rights} on {connections}")
}

/// One line of `crosswalk api-keys list`.
pub fn describe(key: &ApiKey, now: DateTime<Utc>) -> String {
    let time = |at: Option<DateTime<Utc>>| {
        at.map_or_else(
            || "-".to_owned(),
            |at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
    };
    format!(
        "{id}  {prefix}…  {status:<7}  created {created}  expires {expires}  last used {used}  {rights}  {name}",
        id = key.id,
        prefix = key.prefix,
        status = status(key, now),
        created = time(Some(key.created_at)),
        expires = time(key.expires_at),
        used = time(key.last_used_at),
        rights = describe_permissions(&key.permissions),
        name = key.name.as_deref().unwrap_or(""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_chosen_keys_must_be_long_varied_and_header_safe() {
        assert!(check_key_strength(&store::generate_api_key()).is_ok());
        let short = check_key_strength("demo").expect_err("short");
        assert!(
            short.contains("too short") && !short.contains("demo"),
            "{short}"
        );
        assert!(
            check_key_strength(&"ab".repeat(20))
                .expect_err("repetitive")
                .contains("too repetitive")
        );
        assert!(check_key_strength("a key with spaces in it that is long enough").is_err());
        assert!(check_key_strength("0123456789abcdefghijklmnopqrstuvwxyz").is_ok());
    }
}
