//! The rows a [`crate::Store`] reads and writes: environments, API keys, connections, and the
//! discovered-field cache.
//!
//! These are plain data; validation of names and provider slugs happens in the callers.

use chrono::{DateTime, Utc};
use secrets::Sealed;
use serde_json::Value;

use crate::{ApiKeyId, ConnectionId, EnvironmentId};

/// One customer of Crosswalk; owns API keys and connections.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Environment {
    /// The environment's id.
    pub id: EnvironmentId,
    /// A human name, not unique.
    pub name: String,
    /// When the environment was created.
    pub created_at: DateTime<Utc>,
}

/// An API key as stored: its id, owner and display prefix, never the key or even its hash.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApiKey {
    /// The key row's id.
    pub id: ApiKeyId,
    /// The environment every request made with this key is scoped to.
    pub environment_id: EnvironmentId,
    /// The key's first characters, for telling keys apart in listings.
    pub prefix: String,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
}

/// Whether a connection can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Credentials work.
    Active,
    /// The provider rejected the credentials; the end user must authorize again.
    NeedsReauth,
    /// Turned off by the environment's owner.
    Disabled,
}

impl ConnectionStatus {
    /// Every status, in declaration order.
    pub const ALL: [ConnectionStatus; 3] = [
        ConnectionStatus::Active,
        ConnectionStatus::NeedsReauth,
        ConnectionStatus::Disabled,
    ];

    /// Returns the snake_case name used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::NeedsReauth => "needs_reauth",
            ConnectionStatus::Disabled => "disabled",
        }
    }

    /// Parses the name returned by [`ConnectionStatus::as_str`].
    pub fn parse(value: &str) -> Option<ConnectionStatus> {
        ConnectionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

/// One end user's authorized account at a provider, inside an environment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Connection {
    /// The connection's id; also the associated data its credentials are sealed with.
    pub id: ConnectionId,
    /// The environment that owns the connection.
    pub environment_id: EnvironmentId,
    /// The provider slug, e.g. `acme`.
    pub provider: String,
    /// Whether the connection can be used.
    pub status: ConnectionStatus,
    /// Non-secret per-connection values the connector needs, e.g. `instance_url`.
    pub account: Value,
    /// Tokens or keys, sealed by the caller; the store never sees plaintext.
    pub credentials: Sealed,
    /// When the connection was inserted.
    pub created_at: DateTime<Utc>,
    /// When the connection was last inserted or updated; strictly increases on every update.
    pub updated_at: DateTime<Utc>,
}

/// A connection to insert.
///
/// The caller generates the id, because it seals the credentials with the id as associated data
/// before the insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConnection {
    /// The id, from [`ConnectionId::generate`].
    pub id: ConnectionId,
    /// The owning environment; must exist.
    pub environment_id: EnvironmentId,
    /// The provider slug.
    pub provider: String,
    /// The initial status.
    pub status: ConnectionStatus,
    /// Non-secret per-connection values.
    pub account: Value,
    /// Credentials sealed with the id as associated data.
    pub credentials: Sealed,
}

/// The fields of a connection to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionUpdate {
    /// A new status.
    pub status: Option<ConnectionStatus>,
    /// A new account object, replacing the old one whole.
    pub account: Option<Value>,
    /// New sealed credentials, e.g. after a token refresh or a key rotation.
    pub credentials: Option<Sealed>,
}

/// The fields a provider reported for one resource of one connection, cached.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DiscoveredFields {
    /// The connection the fields were fetched through.
    pub connection_id: ConnectionId,
    /// The resource, e.g. `contacts`.
    pub resource: String,
    /// The fields, as the connector described them.
    pub fields: Value,
    /// When the provider was asked.
    pub fetched_at: DateTime<Utc>,
}
