//! `crosswalk keys`: generating encryption keys and re-sealing every stored secret under the
//! current key (rotation without downtime).
//!
//! Rotation is done in three steps: add the new key to every process's settings as the current
//! key while keeping the old one (processes then seal with the new key and still open both);
//! run `crosswalk keys rotate`, which re-seals connection credentials with a compare-and-swap
//! (a refresh racing it is retried, never overwritten) and OAuth client secrets; then remove the
//! old key. OAuth authorizations in flight (at most 10 minutes) keep PKCE verifiers sealed with
//! the key current when they started: wait that long before removing the old key.

use anyhow::Context as _;
use provider_http::credentials::{credentials_aad, oauth_app_aad};
use secrets::Keyring;
use store::{Store, StoreError};

/// What a rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RotationReport {
    pub connections_resealed: usize,
    pub oauth_apps_resealed: usize,
    /// Secrets already sealed under the current key.
    pub already_current: usize,
}

/// How many times a connection whose credentials changed under us is re-read and retried.
const MAX_ATTEMPTS: usize = 5;

/// Re-seals every connection's credentials and every OAuth client secret under `keyring`'s
/// current key.
///
/// # Errors
/// Fails when the store fails or a secret cannot be opened with any key of `keyring`.
pub async fn rotate(store: &dyn Store, keyring: &Keyring) -> anyhow::Result<RotationReport> {
    let mut report = RotationReport::default();
    let current = keyring.current_key_id().to_owned();
    for listed in store
        .list_all_connections()
        .await
        .context("listing connections")?
    {
        let mut connection = listed;
        for attempt in 1..=MAX_ATTEMPTS {
            if connection.credentials.key_id() == current {
                report.already_current += 1;
                break;
            }
            let resealed = keyring
                .reseal(&connection.credentials, &credentials_aad(&connection.id))
                .with_context(|| {
                    format!("opening the credentials of connection `{}`", connection.id)
                })?;
            match store
                .replace_sealed_credentials(&connection.id, &connection.credentials, resealed)
                .await
            {
                Ok(()) => {
                    report.connections_resealed += 1;
                    break;
                }
                Err(StoreError::NotFound) => break,
                Err(StoreError::Conflict(_)) if attempt < MAX_ATTEMPTS => {
                    // Refreshed meanwhile: re-read and re-seal the newer credentials.
                    connection = match store.get_connection_by_id(&connection.id).await {
                        Ok(row) => row,
                        Err(StoreError::NotFound) => break,
                        Err(other) => return Err(other.into()),
                    };
                }
                Err(other) => {
                    return Err(anyhow::Error::new(other))
                        .with_context(|| format!("re-sealing connection `{}`", connection.id));
                }
            }
        }
    }
    for app in store
        .list_oauth_apps()
        .await
        .context("listing OAuth apps")?
    {
        if app.client_secret.key_id() == current {
            report.already_current += 1;
            continue;
        }
        let aad = oauth_app_aad(&app.environment_id, &app.provider);
        let resealed = keyring.reseal(&app.client_secret, &aad).with_context(|| {
            format!(
                "opening the `{}` OAuth app secret of `{}`",
                app.provider, app.environment_id
            )
        })?;
        store
            .put_oauth_app(&store::OAuthApp {
                client_secret: resealed,
                ..app
            })
            .await
            .context("storing a re-sealed OAuth app")?;
        report.oauth_apps_resealed += 1;
    }
    Ok(report)
}
