//! The rows a [`crate::Store`] reads and writes: environments and their branding, API keys,
//! connections, the discovered-field cache, OAuth app credentials, Connect sessions, OAuth
//! authorization states, events, and the versioned connector overrides of environments and
//! connections.
//!
//! These are plain data; validation of names and provider slugs happens in the callers.

use chrono::{DateTime, Utc};
use secrets::Sealed;
use serde_json::Value;

use crate::{ApiKeyId, ConnectionId, EnvironmentId, EventId};

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

/// An API key as stored: its id, owner, display prefix and lifecycle, never the key or even its
/// hash.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApiKey {
    /// The key row's id.
    pub id: ApiKeyId,
    /// The environment every request made with this key is scoped to.
    pub environment_id: EnvironmentId,
    /// The key's first characters, for telling keys apart in listings.
    pub prefix: String,
    /// A label its owner chose (`"billing backend"`), if any.
    pub name: Option<String>,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// From when the key is refused, if it expires (set at creation, or shortened by a
    /// rotation so the old and the new key overlap for a while).
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key was revoked; a revoked key is refused for good.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the key last authenticated a request, written at most about once a minute, so it
    /// may lag by that much.
    pub last_used_at: Option<DateTime<Utc>>,
    /// What the key may do inside its environment.
    pub permissions: KeyPermissions,
}

impl ApiKey {
    /// Whether the key authenticates requests at `now`: neither revoked nor expired.
    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}

/// A new API key to store: its hash and display prefix (the key itself is never stored), an
/// optional label and an optional expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApiKey {
    /// The environment the key belongs to.
    pub environment_id: EnvironmentId,
    /// The SHA-256 of the key.
    pub key_hash: crate::ApiKeyHash,
    /// The key's first characters ([`crate::api_key_prefix`]).
    pub prefix: String,
    /// A label its owner chose.
    pub name: Option<String>,
    /// From when the key is refused; `None` for a key that does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// What the key may do inside its environment.
    pub permissions: KeyPermissions,
}

/// What an API key may do inside its environment (issue 20): which connections it reaches,
/// whether it may write, and whether it may delete.
///
/// [`Default`] is what a new key gets when its maker says nothing: every connection, reads and
/// writes, no deletes (deletes are asked for). [`KeyPermissions::full`] is every right, what an
/// environment's first key and keys stored before permissions existed have.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyPermissions {
    /// The connections the key reaches, in the order given; `None` for every connection of its
    /// environment. Others are absent to the key (not found), whatever their state.
    pub connection_ids: Option<Vec<ConnectionId>>,
    /// Whether the key may only read: every write is refused.
    pub read_only: bool,
    /// Whether the key may delete records (and connections); ignored when `read_only`.
    pub deletes: bool,
}

impl KeyPermissions {
    /// Every right: every connection, reads, writes and deletes.
    pub fn full() -> KeyPermissions {
        KeyPermissions {
            connection_ids: None,
            read_only: false,
            deletes: true,
        }
    }

    /// Whether the key reaches the connection `id`.
    pub fn reaches(&self, id: &ConnectionId) -> bool {
        self.connection_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(id))
    }

    /// Whether the key may write (create, update, change settings).
    pub fn writes(&self) -> bool {
        !self.read_only
    }

    /// Whether the key may delete records and connections.
    pub fn may_delete(&self) -> bool {
        !self.read_only && self.deletes
    }

    /// Whether every right of `other` is one of these: it reaches no connection these do not,
    /// writes only if these do, deletes only if these do. A key may make or manage only keys
    /// it covers, so no key hands out more than it has.
    pub fn covers(&self, other: &KeyPermissions) -> bool {
        let connections = match (&self.connection_ids, &other.connection_ids) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => theirs.iter().all(|id| mine.contains(id)),
        };
        connections
            && (self.writes() || !other.writes())
            && (self.may_delete() || !other.may_delete())
    }
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
    /// When the access token in `credentials` expires; `None` when unknown or never.
    pub credentials_expires_at: Option<DateTime<Utc>>,
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
    /// When the access token expires; `None` when unknown or never.
    pub credentials_expires_at: Option<DateTime<Utc>>,
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
    /// A new expiry of the access token: `Some(None)` clears it (unknown or never expires),
    /// `Some(Some(at))` sets it.
    pub credentials_expires_at: Option<Option<DateTime<Utc>>>,
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

/// An environment's OAuth client registration at one provider, used to authorize end users.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthApp {
    /// The environment the app belongs to; must exist.
    pub environment_id: EnvironmentId,
    /// The provider slug, e.g. `acme`.
    pub provider: String,
    /// The client id the provider issued; not secret.
    pub client_id: String,
    /// The client secret, sealed by the caller with associated data of its choosing.
    pub client_secret: Sealed,
    /// The allow-list of the product's redirect URLs an end user may be sent back to.
    pub redirect_uris: Vec<String>,
    /// Scopes to ask for instead of the connector's defaults; `None` uses the defaults.
    pub scopes: Option<Vec<String>>,
    /// When the app was last written; kept as given, truncated to microseconds.
    pub updated_at: DateTime<Utc>,
}

/// How an environment's Connect page looks to its end users; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Branding {
    /// The product name shown on the page.
    pub display_name: Option<String>,
    /// Where the page loads the product's logo from.
    pub logo_url: Option<String>,
    /// The accent colour, e.g. `#0a7cff`.
    pub primary_color: Option<String>,
    /// The product pages end users may be sent back to after connecting (exact URLs).
    #[serde(default)]
    pub allowed_redirect_urls: Vec<String>,
}

/// A short-lived Connect link handed to an end user's browser, stored by the hash of its token.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectSession {
    /// SHA-256 of the link token as lowercase hex; the token itself is never stored.
    pub token_hash: String,
    /// The environment the session connects into; must exist.
    pub environment_id: EnvironmentId,
    /// The environment's own identifier of the end user.
    pub end_user_id: String,
    /// The provider to connect; `None` lets the end user pick one.
    pub provider: Option<String>,
    /// Where the end user's browser goes when the flow ends.
    pub redirect_url: String,
    /// The connection being authorized again, if any; must belong to `environment_id`.
    pub connection_id: Option<ConnectionId>,
    /// When the link stops working; the caller checks this against its clock.
    pub expires_at: DateTime<Utc>,
    /// When the session was made.
    pub created_at: DateTime<Utc>,
    /// When the link made or re-authorised its connection ([`crate::Store::complete_connect_session`]);
    /// a used link never works again. `None` while unused.
    pub consumed_at: Option<DateTime<Utc>>,
    /// How many OAuth sign-ins the link has started ([`crate::Store::start_oauth`]), which is
    /// capped per link.
    pub oauth_starts: u32,
}

/// What a Connect session does when it is used, for [`crate::Store::complete_connect_session`].
#[derive(Debug, Clone, PartialEq)]
pub enum SessionCompletion {
    /// Inserts a new connection, as [`crate::Store::insert_connection`] does; only a session
    /// without a `connection_id` may do this.
    Create(NewConnection),
    /// Updates the session's own connection, as [`crate::Store::update_connection`] does; only
    /// the session whose `connection_id` is `id` may do this.
    Reauthorize {
        /// The connection being authorised again.
        id: ConnectionId,
        /// The new credentials, status and account.
        update: ConnectionUpdate,
    },
}

/// How many rows [`crate::Store::purge_connect_sessions`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgedSessions {
    /// Connect sessions removed.
    pub sessions: u64,
    /// OAuth states removed.
    pub oauth_states: u64,
}

/// One OAuth authorization in flight, stored by the hash of its `state` parameter until the
/// provider calls back; taken exactly once.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthState {
    /// SHA-256 of the `state` parameter as lowercase hex.
    pub state_hash: String,
    /// The environment the authorization connects into; must exist.
    pub environment_id: EnvironmentId,
    /// The provider slug.
    pub provider: String,
    /// The connector's auth scheme name, e.g. `oauth2`.
    pub scheme: String,
    /// The hash of the Connect session the authorization started from.
    pub session_token_hash: String,
    /// The PKCE code verifier, sealed by the caller, when the flow uses PKCE.
    pub code_verifier: Option<Sealed>,
    /// The callback URI sent to the provider; the token request must repeat it.
    pub redirect_uri: String,
    /// The connection being authorized again, if any; must belong to `environment_id`.
    pub connection_id: Option<ConnectionId>,
    /// When the state stops being accepted; the caller checks this against its clock.
    pub expires_at: DateTime<Utc>,
    /// When the authorization started.
    pub created_at: DateTime<Utc>,
}

/// An event to record; the store gives it an id and a timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The environment the event belongs to; must exist.
    pub environment_id: EnvironmentId,
    /// The connection the event is about, if any; not checked, so events may outlive it.
    pub connection_id: Option<ConnectionId>,
    /// What happened, as a dotted name, e.g. `connection.needs_reauth`.
    pub kind: String,
    /// Details of the event; kept as written.
    pub payload: Value,
}

/// A recorded event of an environment's audit trail.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// The event's id.
    pub id: EventId,
    /// The environment the event belongs to.
    pub environment_id: EnvironmentId,
    /// The connection the event is about, if any.
    pub connection_id: Option<ConnectionId>,
    /// What happened, e.g. `connection.needs_reauth`.
    pub kind: String,
    /// Details of the event.
    pub payload: Value,
    /// When the event was recorded.
    pub created_at: DateTime<Utc>,
}

/// Where a connector override applies: one provider's connector in an environment, either for the
/// whole environment (the environment layer) or for one of its connections (the connection layer).
///
/// Each scope has its own numbered history of versions; scopes never see each other's versions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct OverrideScope {
    /// The environment the override belongs to; must exist to write.
    pub environment_id: EnvironmentId,
    /// The provider slug of the overridden connector, e.g. `acme`.
    pub provider: String,
    /// The connection of the connection layer, which must belong to `environment_id` and be of
    /// `provider`; `None` is the environment layer.
    pub connection_id: Option<ConnectionId>,
}

impl OverrideScope {
    /// The environment layer of a provider's connector in an environment.
    pub fn environment(
        environment_id: EnvironmentId,
        provider: impl Into<String>,
    ) -> OverrideScope {
        OverrideScope {
            environment_id,
            provider: provider.into(),
            connection_id: None,
        }
    }

    /// The connection layer of one connection, of a provider, in an environment.
    pub fn connection(
        environment_id: EnvironmentId,
        provider: impl Into<String>,
        connection_id: ConnectionId,
    ) -> OverrideScope {
        OverrideScope {
            environment_id,
            provider: provider.into(),
            connection_id: Some(connection_id),
        }
    }
}

/// One stored version of a scope's override document; versions are never changed or removed
/// (except with their connection), so any earlier one can be written again to undo a change.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OverrideVersion {
    /// The scope the version belongs to.
    pub scope: OverrideScope,
    /// 1 for a scope's first version, then one more than the version before.
    pub version: u32,
    /// The override document, kept as written; `None` marks the override removed (a tombstone),
    /// which is not the same as `Some(Value::Null)`.
    pub document: Option<Value>,
    /// The connector revision the document was written against.
    pub revision: String,
    /// When the version was stored.
    pub created_at: DateTime<Utc>,
}
