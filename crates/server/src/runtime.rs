//! Binding a request to its connection: the connection row, its connector, its opened
//! credentials, discovered fields (cached in the store), and sending planned requests.

use chrono::Utc;
use connector::{
    Connector, DiscoveredField, PlannedRequest, ReadError, RequestContext, VendorResponse,
    fields_binding,
};
use provider_http::{Credentials, SendError};
use serde_json::Value;
use store::{Connection, ConnectionId, ConnectionStatus};

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// A connection ready to call its vendor.
pub struct Bound {
    pub connection: Connection,
    pub connector: Connector,
    scheme: String,
    secrets: Value,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("connection", &self.connection.id)
            .field("provider", &self.connector.id())
            .finish_non_exhaustive()
    }
}

/// The additional authenticated data a connection's credentials are sealed with.
pub fn credentials_aad(id: &ConnectionId) -> Vec<u8> {
    format!("connection:{id}").into_bytes()
}

/// Loads the connection `connection_id` of the caller's environment and opens its credentials.
///
/// # Errors
/// 400 when the id is malformed, 404 when it is not the caller's, 401-style problems when the
/// connection needs re-authorisation.
pub async fn bind(
    state: &AppState,
    caller: &Caller,
    connection_id: &str,
) -> Result<Bound, ApiError> {
    let id = ConnectionId::parse(connection_id)
        .map_err(|_| ApiError::not_found(format!("connection `{connection_id}` does not exist")))?;
    let connection = state
        .store
        .get_connection(&caller.environment_id, &id)
        .await
        .map_err(|error| match error {
            store::StoreError::NotFound => {
                ApiError::not_found(format!("connection `{connection_id}` does not exist"))
            }
            other => other.into(),
        })?;
    if connection.status != ConnectionStatus::Active {
        return Err(ApiError::BadRequest {
            code: "connection_inactive",
            field: Some("connection_id".to_owned()),
            detail: format!(
                "connection `{connection_id}` is `{}`; it must be re-authorised",
                connection.status.as_str()
            ),
        });
    }
    let connector = state
        .connectors
        .get(&connection.provider)
        .cloned()
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "connector `{}` of connection `{connection_id}` is not loaded",
                connection.provider
            ))
        })?;
    let secrets = state
        .keyring
        .open_json(&connection.credentials, &credentials_aad(&connection.id))
        .map_err(|error| ApiError::Internal(anyhow::anyhow!("cannot open credentials: {error}")))?;
    let scheme = connection
        .account
        .get("auth_scheme")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| connector.scheme_name(None).map(str::to_owned))
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("connection has no auth scheme")))?;
    Ok(Bound {
        connection,
        connector,
        scheme,
        secrets,
    })
}

impl Bound {
    /// Sends a planned request with this connection's credentials.
    ///
    /// # Errors
    /// 502/504 problems when the vendor cannot be reached.
    pub async fn send(
        &self,
        state: &AppState,
        request: PlannedRequest,
    ) -> Result<VendorResponse, ApiError> {
        let credentials = Credentials {
            scheme: &self.scheme,
            secrets: &self.secrets,
            account: &self.connection.account,
        };
        state
            .provider
            .send(&self.connector, &credentials, request)
            .await
            .map_err(|error| match error {
                SendError::Timeout(_) => ApiError::Upstream {
                    code: "upstream_timeout",
                    detail: error.to_string(),
                },
                SendError::Connect(_) | SendError::TooLarge => ApiError::Upstream {
                    code: "upstream_unavailable",
                    detail: error.to_string(),
                },
                SendError::HostNotAllowed(_) | SendError::InvalidUrl(_) => ApiError::BadRequest {
                    code: "host_not_allowed",
                    field: None,
                    detail: error.to_string(),
                },
                SendError::Auth(_) => ApiError::Internal(anyhow::Error::new(error)),
            })
    }

    /// The request context of a unified call on `object`, with discovered fields bound.
    ///
    /// # Errors
    /// Fails when discovery is needed and the vendor refuses it.
    pub async fn context(
        &self,
        state: &AppState,
        object: &str,
    ) -> Result<RequestContext, ApiError> {
        let fields = self.fields(state, object).await?;
        Ok(RequestContext {
            account: self.connection.account.clone(),
            fields: fields_binding(&fields),
            ..RequestContext::default()
        })
    }

    /// Discovered fields of `object`: from the store while fresh, else from the vendor.
    async fn fields(
        &self,
        state: &AppState,
        object: &str,
    ) -> Result<Vec<DiscoveredField>, ApiError> {
        let Some(ttl_secs) = self.connector.discovery_ttl_secs(object) else {
            return Ok(Vec::new());
        };
        let cache_key = format!("{}:{object}", self.connector.file().meta.revision);
        if let Some(cached) = state
            .store
            .get_discovered_fields(&self.connection.id, &cache_key)
            .await?
        {
            let age = Utc::now().signed_duration_since(cached.fetched_at);
            if age.num_seconds() >= 0
                && (age.num_seconds() as u64) < ttl_secs
                && let Ok(fields) = serde_json::from_value::<Vec<DiscoveredField>>(cached.fields)
            {
                return Ok(fields);
            }
        }
        let ctx = RequestContext {
            account: self.connection.account.clone(),
            page_size: 1,
            ..RequestContext::default()
        };
        let Some(plan) = self
            .connector
            .plan_discovery(object, &ctx)
            .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?
        else {
            return Ok(Vec::new());
        };
        let response = self.send(state, plan).await?;
        let fields = self
            .connector
            .read_discovery(object, &response)
            .map_err(read_error)?;
        let stored =
            serde_json::to_value(&fields).map_err(|error| ApiError::Internal(error.into()))?;
        state
            .store
            .put_discovered_fields(&self.connection.id, &cache_key, &stored, Utc::now())
            .await?;
        Ok(fields)
    }
}

/// Turns an engine read error into an API error.
pub fn read_error(error: ReadError) -> ApiError {
    match error {
        ReadError::Provider(provider) => ApiError::Provider(provider),
        other => ApiError::Internal(anyhow::Error::new(other)),
    }
}
