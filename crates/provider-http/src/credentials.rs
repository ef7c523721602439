//! Fresh credentials for every vendor call: OAuth access tokens are refreshed ahead of expiry
//! (or on the connector's expiry signal), once per connection at a time, also across several
//! Crosswalk processes sharing one store.
//!
//! Single flight has two levels: a per-connection async mutex inside the process, and the
//! store's refresh lease with a fencing token across processes. Whoever holds the lease re-reads
//! the row first (another process may have refreshed meanwhile), refreshes, and writes the new
//! tokens with its fence, so a stale holder can never overwrite a newer refresh. A rotated
//! refresh token is part of that one write, before the new access token is used. A refused
//! refresh (`invalid_grant`) marks the connection `needs_reauth`, records one event, and every
//! later call is refused without touching the token endpoint again.
//!
//! A connection the store no longer holds (a job still calling the vendor with its copy of a
//! deleted connection) is refreshed from that copy in memory only: no lease, no write, no event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector::Connector;
use secrets::Keyring;
use serde_json::{Value, json};
use store::{
    Connection, ConnectionId, ConnectionStatus, ConnectionUpdate, NewEvent, Store, StoreError,
};

use crate::oauth::{ClientCredentials, OAuthClient, OAuthError};
use crate::sender::Offload;

/// How long a refresh lease lasts before another process may take it over.
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// How long a caller waits for another holder's refresh before giving up.
const LEASE_WAIT: Duration = Duration::from_secs(45);
/// Between two looks at a lease held elsewhere.
const LEASE_POLL: Duration = Duration::from_millis(25);
/// Past this many per-connection locks, the table keeps only those in use.
const LOCAL_LOCKS_PRUNE_AT: usize = 1024;

/// Why fresh credentials could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The provider refused the refresh token: the end user must connect again.
    #[error("the connection must be re-authorised")]
    ReauthRequired,
    /// The environment has no OAuth app for the provider.
    #[error("no OAuth app is configured for `{0}` in this environment")]
    NoOAuthApp(String),
    #[error("the connection has no refresh token")]
    NoRefreshToken,
    #[error("another process held the refresh lease for too long")]
    LeaseTimeout,
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot open sealed credentials: {0}")]
    Secrets(String),
    #[error("connector: {0}")]
    Connector(String),
    /// The refresh task ended without an answer (it panicked, or the runtime is stopping).
    #[error("the token refresh was interrupted: {0}")]
    Interrupted(String),
}

/// The additional authenticated data a connection's credentials are sealed with.
pub fn credentials_aad(id: &ConnectionId) -> Vec<u8> {
    format!("connection:{id}").into_bytes()
}

/// The additional authenticated data an environment's OAuth client secret is sealed with.
pub fn oauth_app_aad(environment_id: &store::EnvironmentId, provider: &str) -> Vec<u8> {
    format!("oauth-app:{environment_id}:{provider}").into_bytes()
}

/// Keeps connections' OAuth tokens fresh.
pub struct TokenManager {
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    oauth: OAuthClient,
    /// This process's name for lease holding.
    holder: String,
    local: Mutex<HashMap<ConnectionId, Arc<tokio::sync::Mutex<()>>>>,
    /// Refreshes in flight. Each runs in a task of its own, so a caller that goes away (a
    /// client disconnecting, a shutdown) cannot cut a refresh off after the vendor rotated the
    /// refresh token but before the new one is stored, nor leave its lease to lapse;
    /// [`TokenManager::drain`] waits for them.
    refreshes: tokio_util::task::TaskTracker,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager over `store`, opening credentials with `keyring`.
    pub fn new(store: Arc<dyn Store>, keyring: Arc<Keyring>, oauth: OAuthClient) -> TokenManager {
        TokenManager {
            store,
            keyring,
            oauth,
            holder: format!(
                "crosswalk-{}-{}",
                std::process::id(),
                crate::oauth::random_token()
            ),
            local: Mutex::new(HashMap::new()),
            refreshes: tokio_util::task::TaskTracker::new(),
        }
    }

    /// Opens a connection's sealed credentials.
    ///
    /// # Errors
    /// Fails when the envelope cannot be opened with the keyring.
    pub fn open(&self, connection: &Connection) -> Result<Value, CredentialsError> {
        self.keyring
            .open_json(&connection.credentials, &credentials_aad(&connection.id))
            .map_err(|error| CredentialsError::Secrets(error.to_string()))
    }

    fn local_lock(&self, id: &ConnectionId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.local.lock().expect("the lock table is never poisoned");
        if locks.len() >= LOCAL_LOCKS_PRUNE_AT {
            // Only connections being refreshed right now need their lock kept.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        Arc::clone(locks.entry(id.clone()).or_default())
    }

    /// Waits until every refresh in flight has finished, its tokens stored and its lease
    /// released. A stopping process calls it after its last caller is served.
    pub async fn drain(&self) {
        self.refreshes.close();
        self.refreshes.wait().await;
    }

    /// How many refreshes are in flight.
    pub fn refreshes_in_flight(&self) -> usize {
        self.refreshes.len()
    }

    /// Whether the connection's token must be refreshed now (ahead of its expiry).
    fn due(connection: &Connection, refresh_before_secs: u64, now: DateTime<Utc>) -> bool {
        connection.credentials_expires_at.is_some_and(|expires_at| {
            expires_at - chrono::Duration::seconds(refresh_before_secs as i64) <= now
        })
    }

    /// The connection with fresh credentials and its opened secrets. With `force`, refreshes
    /// even before expiry (the vendor said the token expired), unless another task or process
    /// refreshed it since `connection` was read.
    ///
    /// # Errors
    /// [`CredentialsError::ReauthRequired`] when the provider refused the refresh token (the
    /// connection is then `needs_reauth`); other variants for configuration or store failures.
    ///
    /// The connector's JSONata over the token answer (`capture`, `invalid_grant_when`) runs
    /// through `offload` when given: the evaluation pool, for the connection's environment.
    pub async fn fresh(
        self: &Arc<Self>,
        connection: Connection,
        connector: &Connector,
        force: bool,
        offload: Option<&Offload>,
    ) -> Result<(Connection, Value), CredentialsError> {
        if connection.status == ConnectionStatus::NeedsReauth {
            return Err(CredentialsError::ReauthRequired);
        }
        let scheme = connection
            .account
            .get("auth_scheme")
            .and_then(Value::as_str)
            .or_else(|| connector.scheme_name(None))
            .unwrap_or_default()
            .to_owned();
        let Some(endpoints) = connector
            .oauth2(&scheme, &connection.account)
            .map_err(|error| CredentialsError::Connector(error.to_string()))?
        else {
            let secrets = self.open(&connection)?;
            return Ok((connection, secrets));
        };
        let before = endpoints.refresh_before_expiry_secs;
        let mut force = force;
        if !force && !Self::due(&connection, before, Utc::now()) {
            let secrets = self.open(&connection)?;
            // A client-credentials connection made without a token (its credentials are the
            // connection's own) gets its first one now.
            let tokenless = endpoints.grant == connector::file::OAuthGrant::ClientCredentials
                && secrets.get("access_token").is_none_or(Value::is_null);
            if !tokenless {
                return Ok((connection, secrets));
            }
            force = true;
        }
        // From here on the refresh runs in a task of its own (see `refreshes`).
        let this = Arc::clone(self);
        let connector = connector.clone();
        let offload = offload.cloned();
        let task = self.refreshes.spawn(async move {
            this.refresh_serialised(
                connection,
                &connector,
                &scheme,
                &endpoints,
                force,
                offload.as_ref(),
            )
            .await
        });
        match task.await {
            Ok(result) => result,
            Err(error) => Err(CredentialsError::Interrupted(error.to_string())),
        }
    }

    /// The connection with a fresh `name` token (a further token of its OAuth 2.0 scheme,
    /// `auth.schemes.<scheme>.tokens`) in its opened secrets (`tokens.<name>`), asked for with
    /// the client credentials grant when it is missing or due, or with `force` (the vendor
    /// refused it) unless another task or process replaced it since `connection` was read. It
    /// is refreshed apart from the scheme's own token, under the same single flight (this
    /// process's lock, the store's lease), and stored sealed with the connection's other
    /// secrets; the scheme's own token and its expiry are left as they are.
    ///
    /// # Errors
    /// As [`TokenManager::fresh`]; [`CredentialsError::Connector`] when the scheme declares no
    /// such token.
    pub async fn fresh_named(
        self: &Arc<Self>,
        connection: Connection,
        connector: &Connector,
        scheme: &str,
        name: &str,
        force: bool,
        offload: Option<&Offload>,
    ) -> Result<(Connection, Value), CredentialsError> {
        if connection.status == ConnectionStatus::NeedsReauth {
            return Err(CredentialsError::ReauthRequired);
        }
        let endpoints = connector
            .named_token(scheme, name, &connection.account)
            .map_err(|error| CredentialsError::Connector(error.to_string()))?
            .ok_or_else(|| {
                CredentialsError::Connector(format!(
                    "auth scheme `{scheme}` declares no token `{name}`"
                ))
            })?;
        let secrets = self.open(&connection)?;
        let seen = named_access_token(&secrets, name);
        if !force && named_is_fresh(&secrets, name, endpoints.refresh_before_expiry_secs) {
            return Ok((connection, secrets));
        }
        let this = Arc::clone(self);
        let connector = connector.clone();
        let offload = offload.cloned();
        let (scheme, name) = (scheme.to_owned(), name.to_owned());
        let task = self.refreshes.spawn(async move {
            let wanted = NamedWanted {
                scheme: &scheme,
                name: &name,
                endpoints: &endpoints,
                force,
                seen: seen.as_deref(),
            };
            this.refresh_named_serialised(connection, &connector, &wanted, offload.as_ref())
                .await
        });
        match task.await {
            Ok(result) => result,
            Err(error) => Err(CredentialsError::Interrupted(error.to_string())),
        }
    }

    /// [`TokenManager::fresh_named`]'s refresh, under this process's lock for the connection
    /// and the store's lease, as the scheme's own token is refreshed.
    async fn refresh_named_serialised(
        &self,
        connection: Connection,
        connector: &Connector,
        wanted: &NamedWanted<'_>,
        offload: Option<&Offload>,
    ) -> Result<(Connection, Value), CredentialsError> {
        let lock = self.local_lock(&connection.id);
        let _guard = lock.lock().await;
        let current = match self.store.get_connection_by_id(&connection.id).await {
            Ok(current) => current,
            // Deleted since it was read: the caller's copy only, in memory.
            Err(StoreError::NotFound) => {
                let secrets = self.open(&connection)?;
                let secrets = self
                    .exchange_named(&connection, secrets, connector, wanted, offload)
                    .await?;
                let mut refreshed = connection;
                refreshed.credentials = self
                    .keyring
                    .seal_json(&secrets, &credentials_aad(&refreshed.id));
                return Ok((refreshed, secrets));
            }
            Err(other) => return Err(other.into()),
        };
        if let Some(ready) = self.named_ready(&current, wanted)? {
            return Ok(ready);
        }
        self.under_lease(
            &current.id,
            |row| self.named_ready(row, wanted),
            async |fence| {
                // Re-read after acquiring: a holder that lost a race must see the winner's token.
                let row = self.store.get_connection_by_id(&current.id).await?;
                if let Some(ready) = self.named_ready(&row, wanted)? {
                    return Ok(ready);
                }
                let secrets = self.open(&row)?;
                let secrets = self
                    .exchange_named(&row, secrets, connector, wanted, offload)
                    .await?;
                let sealed = self.keyring.seal_json(&secrets, &credentials_aad(&row.id));
                // The scheme's own token keeps its expiry: only the named token changed.
                let stored = self
                    .store
                    .store_refreshed_credentials(
                        &row.id,
                        fence,
                        sealed,
                        row.credentials_expires_at,
                        Some(row.account.clone()),
                    )
                    .await?;
                tracing::info!(connection_id = %row.id, provider = %row.provider, token = wanted.name, "named token refreshed");
                Ok((stored, secrets))
            },
        )
        .await
    }

    /// The row with its secrets when its `name` token is usable as it is: replaced since the
    /// caller saw it (with `force`), or present and not due.
    fn named_ready(
        &self,
        row: &Connection,
        wanted: &NamedWanted<'_>,
    ) -> Result<Option<(Connection, Value)>, CredentialsError> {
        if row.status == ConnectionStatus::NeedsReauth {
            return Err(CredentialsError::ReauthRequired);
        }
        let secrets = self.open(row)?;
        let current = named_access_token(&secrets, wanted.name);
        let usable = if wanted.force {
            current.is_some() && current.as_deref() != wanted.seen
        } else {
            named_is_fresh(
                &secrets,
                wanted.name,
                wanted.endpoints.refresh_before_expiry_secs,
            )
        };
        Ok(usable.then(|| (row.clone(), secrets)))
    }

    /// Asks the named token's endpoint for a token with the scheme's client: `secrets` with
    /// `tokens.<name>` replaced, nothing stored.
    async fn exchange_named(
        &self,
        row: &Connection,
        mut secrets: Value,
        connector: &Connector,
        wanted: &NamedWanted<'_>,
        offload: Option<&Offload>,
    ) -> Result<Value, CredentialsError> {
        let client = self.client_of(row, &secrets, wanted.endpoints).await?;
        let oauth = self.oauth.clone().with_offload(offload.cloned());
        let tokens = oauth
            .client_credentials(
                connector,
                wanted.scheme,
                wanted.endpoints,
                &client,
                Utc::now(),
            )
            .await
            .map_err(|error| match error {
                // A refused client credentials grant is the vendor's refusal of this token, not
                // of the connection: it does not need re-authorising for it.
                OAuthError::InvalidGrant(answer) => {
                    CredentialsError::OAuth(OAuthError::Refused(answer))
                }
                other => CredentialsError::OAuth(other),
            })?;
        if !secrets.is_object() {
            secrets = json!({});
        }
        let named = json!({
            "access_token": tokens.access_token,
            "expires_at": tokens.expires_at.map(|at| at.to_rfc3339()),
        });
        let map = secrets.as_object_mut().expect("an object");
        let all = map.entry("tokens").or_insert_with(|| json!({}));
        if !all.is_object() {
            *all = json!({});
        }
        all.as_object_mut()
            .expect("an object")
            .insert(wanted.name.to_owned(), named);
        Ok(secrets)
    }

    /// Refreshes under this process's lock for the connection and the store's lease.
    async fn refresh_serialised(
        &self,
        connection: Connection,
        connector: &Connector,
        scheme: &str,
        endpoints: &connector::OAuthEndpoints,
        force: bool,
        offload: Option<&Offload>,
    ) -> Result<(Connection, Value), CredentialsError> {
        let before = endpoints.refresh_before_expiry_secs;
        // The token this caller holds: with `force`, the one the vendor refused.
        let seen = access_token(&self.open(&connection)?);
        let lock = self.local_lock(&connection.id);
        let _guard = lock.lock().await;
        let current = match self.store.get_connection_by_id(&connection.id).await {
            Ok(current) => current,
            // Deleted since it was read: only the caller's copy is left (never a stored row
            // refreshed without the lease).
            Err(StoreError::NotFound) => {
                return self
                    .refresh_detached(connection, connector, scheme, endpoints, offload)
                    .await;
            }
            Err(other) => return Err(other.into()),
        };
        if let Some(ready) = self.already_fresh(&current, force, seen.as_deref(), before)? {
            return Ok(ready);
        }
        self.under_lease(
            &current.id,
            |row| self.already_fresh(row, force, seen.as_deref(), before),
            async |fence| {
                self.refresh_holding(
                    &current.id,
                    fence,
                    connector,
                    scheme,
                    endpoints,
                    force,
                    seen.as_deref(),
                    offload,
                )
                .await
            },
        )
        .await
    }

    /// Runs `refresh` holding the store's refresh lease of connection `id` (with its fence),
    /// then releases it. While another process holds the lease, waits for it (polling up to
    /// [`LEASE_WAIT`]), and returns the row as soon as `ready` finds it usable: that process
    /// refreshed it.
    async fn under_lease(
        &self,
        id: &ConnectionId,
        ready: impl Fn(&Connection) -> Result<Option<(Connection, Value)>, CredentialsError>,
        refresh: impl AsyncFnOnce(u64) -> Result<(Connection, Value), CredentialsError>,
    ) -> Result<(Connection, Value), CredentialsError> {
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        let fence = loop {
            if let Some(fence) = self
                .store
                .acquire_refresh_lease(id, &self.holder, Utc::now(), LEASE_TTL)
                .await?
            {
                break fence;
            }
            // Another process is refreshing: wait for its write, or for its lease to lapse.
            if tokio::time::Instant::now() >= deadline {
                return Err(CredentialsError::LeaseTimeout);
            }
            tokio::time::sleep(LEASE_POLL).await;
            let latest = self.store.get_connection_by_id(id).await?;
            if let Some(usable) = ready(&latest)? {
                return Ok(usable);
            }
        };
        let result = refresh(fence).await;
        if let Err(error) = self.store.release_refresh_lease(id, fence).await {
            tracing::warn!(connection_id = %id, error = %error, "refresh lease release failed");
        }
        result
    }

    /// The row is usable as it is: its token is no longer the one the caller holds (`seen`,
    /// refused by the vendor with `force`), so someone else replaced it, or (without `force`)
    /// it is not due. The token itself is compared, not the row's `updated_at`, which moves
    /// for other reasons too (the account, a named token, the status).
    fn already_fresh(
        &self,
        row: &Connection,
        force: bool,
        seen: Option<&str>,
        before: u64,
    ) -> Result<Option<(Connection, Value)>, CredentialsError> {
        if row.status == ConnectionStatus::NeedsReauth {
            return Err(CredentialsError::ReauthRequired);
        }
        let secrets = self.open(row)?;
        let current = access_token(&secrets);
        let replaced = current.is_some() && current.as_deref() != seen;
        let usable = if force {
            replaced
        } else {
            replaced || !Self::due(row, before, Utc::now())
        };
        Ok(usable.then(|| (row.clone(), secrets)))
    }

    #[allow(clippy::too_many_arguments)] // the lease, the connector and the request being served
    async fn refresh_holding(
        &self,
        id: &ConnectionId,
        fence: u64,
        connector: &Connector,
        scheme: &str,
        endpoints: &connector::OAuthEndpoints,
        force: bool,
        seen: Option<&str>,
        offload: Option<&Offload>,
    ) -> Result<(Connection, Value), CredentialsError> {
        // Re-read after acquiring: a holder that lost a race must see the winner's tokens.
        let row = self.store.get_connection_by_id(id).await?;
        if let Some(ready) =
            self.already_fresh(&row, force, seen, endpoints.refresh_before_expiry_secs)?
        {
            return Ok(ready);
        }
        let secrets = self.open(&row)?;
        let exchanged = match self
            .exchange(&row, secrets, connector, scheme, endpoints, offload)
            .await
        {
            Ok(exchanged) => exchanged,
            Err(CredentialsError::OAuth(OAuthError::InvalidGrant(answer))) => {
                // The status and its event are one transaction: a connection never needs
                // re-authorisation without the event that says so.
                self.store
                    .update_connection_with_event(
                        &row.environment_id,
                        &row.id,
                        ConnectionUpdate {
                            status: Some(ConnectionStatus::NeedsReauth),
                            ..ConnectionUpdate::default()
                        },
                        NewEvent {
                            environment_id: row.environment_id.clone(),
                            connection_id: Some(row.id.clone()),
                            kind: "connection.needs_reauth".to_owned(),
                            payload: json!({"provider": row.provider, "reason": "refresh_refused", "status": answer.status}),
                        },
                    )
                    .await?;
                tracing::warn!(connection_id = %row.id, provider = %row.provider, "refresh refused: connection needs re-authorisation");
                return Err(CredentialsError::ReauthRequired);
            }
            Err(other) => return Err(other),
        };
        let sealed = self
            .keyring
            .seal_json(&exchanged.secrets, &credentials_aad(&row.id));
        let stored = self
            .store
            .store_refreshed_credentials(
                &row.id,
                fence,
                sealed,
                exchanged.expires_at,
                Some(exchanged.account),
            )
            .await?;
        tracing::info!(connection_id = %row.id, provider = %row.provider, "access token refreshed");
        Ok((stored, exchanged.secrets))
    }

    /// Refreshes a connection the store no longer holds (deleted, while a job holding a copy
    /// of it still calls the vendor, e.g. to delete a webhook subscription): the copy's tokens
    /// are exchanged in memory only. There is no row to lease, write or mark `needs_reauth`, so
    /// a refused refresh is only [`CredentialsError::ReauthRequired`], and the new tokens live
    /// as long as the returned copy (sealed in it as a stored row's are).
    async fn refresh_detached(
        &self,
        copy: Connection,
        connector: &Connector,
        scheme: &str,
        endpoints: &connector::OAuthEndpoints,
        offload: Option<&Offload>,
    ) -> Result<(Connection, Value), CredentialsError> {
        let secrets = self.open(&copy)?;
        let exchanged = match self
            .exchange(&copy, secrets, connector, scheme, endpoints, offload)
            .await
        {
            Ok(exchanged) => exchanged,
            Err(CredentialsError::OAuth(OAuthError::InvalidGrant(_))) => {
                tracing::warn!(connection_id = %copy.id, provider = %copy.provider, "refresh refused for a deleted connection");
                return Err(CredentialsError::ReauthRequired);
            }
            Err(other) => return Err(other),
        };
        let mut refreshed = copy;
        refreshed.credentials = self
            .keyring
            .seal_json(&exchanged.secrets, &credentials_aad(&refreshed.id));
        refreshed.credentials_expires_at = exchanged.expires_at;
        refreshed.account = exchanged.account;
        refreshed.updated_at = Utc::now();
        tracing::info!(connection_id = %refreshed.id, provider = %refreshed.provider, "access token refreshed for a deleted connection (kept in memory only)");
        Ok((refreshed, exchanged.secrets))
    }

    /// The OAuth client a scheme's token requests are made with: the connection's own
    /// `client_id` and `client_secret`, or the environment's OAuth app for the provider.
    async fn client_of(
        &self,
        row: &Connection,
        secrets: &Value,
        endpoints: &connector::OAuthEndpoints,
    ) -> Result<ClientCredentials, CredentialsError> {
        Ok(match endpoints.client {
            connector::file::ClientSource::Connection => connection_client(&row.account, secrets)
                .ok_or_else(|| {
                CredentialsError::Connector(
                    "the connection holds no `client_id` and `client_secret`".to_owned(),
                )
            })?,
            connector::file::ClientSource::Environment => {
                let app = match self
                    .store
                    .get_oauth_app(&row.environment_id, &row.provider)
                    .await
                {
                    Ok(app) => app,
                    Err(StoreError::NotFound) => {
                        return Err(CredentialsError::NoOAuthApp(row.provider.clone()));
                    }
                    Err(other) => return Err(other.into()),
                };
                let client_secret = self
                    .keyring
                    .open(
                        &app.client_secret,
                        &oauth_app_aad(&row.environment_id, &row.provider),
                    )
                    .map_err(|error| CredentialsError::Secrets(error.to_string()))?;
                ClientCredentials {
                    client_id: app.client_id.clone(),
                    client_secret: String::from_utf8_lossy(&client_secret).into_owned(),
                }
            }
        })
    }

    /// Exchanges the connection's refresh token (or its client's credentials) for new tokens
    /// at the vendor: `secrets` and the account with the answer in, nothing stored. A refused
    /// grant is [`OAuthError::InvalidGrant`], for the caller to act on.
    async fn exchange(
        &self,
        row: &Connection,
        mut secrets: Value,
        connector: &Connector,
        scheme: &str,
        endpoints: &connector::OAuthEndpoints,
        offload: Option<&Offload>,
    ) -> Result<Exchanged, CredentialsError> {
        let client = self.client_of(row, &secrets, endpoints).await?;
        let now = Utc::now();
        let oauth = self.oauth.clone().with_offload(offload.cloned());
        let tokens = match endpoints.grant {
            connector::file::OAuthGrant::ClientCredentials => {
                oauth
                    .client_credentials(connector, scheme, endpoints, &client, now)
                    .await
            }
            connector::file::OAuthGrant::AuthorizationCode => {
                let refresh_token = secrets
                    .get("refresh_token")
                    .and_then(Value::as_str)
                    .ok_or(CredentialsError::NoRefreshToken)?
                    .to_owned();
                oauth
                    .refresh(connector, scheme, endpoints, &client, &refresh_token, now)
                    .await
            }
        };
        let tokens = tokens?;
        if let Value::Object(map) = &mut secrets {
            map.insert(
                "access_token".to_owned(),
                Value::String(tokens.access_token.clone()),
            );
            if let Some(rotated) = &tokens.refresh_token {
                map.insert("refresh_token".to_owned(), Value::String(rotated.clone()));
            }
        }
        let mut account = row.account.clone();
        let captured =
            crate::oauth::capture_token_response(connector, scheme, &tokens.response, offload)
                .await
                .map_err(|error| CredentialsError::Connector(error.to_string()))?;
        if let Value::Object(map) = &mut account {
            map.extend(captured);
        }
        Ok(Exchanged {
            secrets,
            account,
            expires_at: tokens.expires_at,
        })
    }
}

/// New tokens from the vendor, merged into a connection's secrets and account. Not `Debug`:
/// it holds the opened secrets.
struct Exchanged {
    secrets: Value,
    account: Value,
    expires_at: Option<DateTime<Utc>>,
}

/// The client id (an account field) and secret (a secret field) a connection holds, for
/// schemes whose client is the connection's own.
pub fn connection_client(account: &Value, secrets: &Value) -> Option<ClientCredentials> {
    let text = |value: &Value, name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    Some(ClientCredentials {
        client_id: text(account, "client_id").or_else(|| text(secrets, "client_id"))?,
        client_secret: text(secrets, "client_secret")?,
    })
}

/// What [`TokenManager::fresh_named`] is asked for.
struct NamedWanted<'a> {
    scheme: &'a str,
    name: &'a str,
    endpoints: &'a connector::OAuthEndpoints,
    force: bool,
    /// The token the caller holds (refused by the vendor when `force`).
    seen: Option<&'a str>,
}

/// The `name` token a connection's opened secrets hold (`tokens.<name>.access_token`).
/// The scheme's own access token in opened secrets, when there is one.
fn access_token(secrets: &Value) -> Option<String> {
    secrets
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
}

fn named_access_token(secrets: &Value, name: &str) -> Option<String> {
    secrets
        .get("tokens")
        .and_then(|tokens| tokens.get(name))
        .and_then(access_token)
}

/// Whether the `name` token is present and not due (`refresh_before_secs` before its expiry;
/// a token whose lifetime the vendor did not say is never due).
fn named_is_fresh(secrets: &Value, name: &str, refresh_before_secs: u64) -> bool {
    if named_access_token(secrets, name).is_none() {
        return false;
    }
    let expires_at = secrets
        .get("tokens")
        .and_then(|tokens| tokens.get(name))
        .and_then(|token| token.get("expires_at"))
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok());
    expires_at.is_none_or(|at| {
        at.with_timezone(&Utc) - chrono::Duration::seconds(refresh_before_secs as i64) > Utc::now()
    })
}
