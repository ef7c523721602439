//! The [`Store`] trait: the contract every backend implements and the conformance suite checks.
//!
//! It leaves out connection pooling, schema names and file paths; those are each backend's own
//! constructor arguments.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{
    ApiKey, ApiKeyHash, Connection, ConnectionId, ConnectionUpdate, DiscoveredFields, Environment,
    EnvironmentId, NewConnection, StoreError,
};

/// Persistent storage for environments, API keys, connections and discovered fields.
///
/// Every method is required; there are no defaults, because each is one statement or transaction
/// in the backend's own SQL.
///
/// Contracts shared by all methods:
/// - Timestamps are set by the store from [`crate::timestamp::now`] and kept with microsecond
///   precision; a timestamp passed in is truncated to microseconds.
/// - JSON values come back equal to what was written, with object keys in the same order.
/// - Sealed credentials come back byte for byte as written.
/// - Connection methods that take an environment id treat a connection of another environment as
///   absent ([`StoreError::NotFound`]), so one customer can never reach another's rows or learn
///   that they exist.
/// - [`StoreError::Database`] may come from any method when the database fails, and
///   [`StoreError::Corrupt`] from any read when a stored row no longer parses.
///
/// Handlers hold an `Arc<dyn Store>`; implementations are cheap to share and safe to call from
/// many tasks at once.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Brings the schema up to date by running the backend's pending migrations.
    ///
    /// Safe to call on every start, and from several processes at once.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when a migration fails or the database holds migrations this build
    /// does not know.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Creates an environment with a fresh id.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] only.
    async fn create_environment(&self, name: &str) -> Result<Environment, StoreError>;

    /// Returns an environment by id.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when no environment has the id.
    async fn get_environment(&self, id: &EnvironmentId) -> Result<Environment, StoreError>;

    /// Stores a new API key of an environment by its hash and display prefix.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist, and
    /// [`StoreError::Conflict`] when a key with the same hash is already stored.
    async fn insert_api_key(
        &self,
        environment_id: &EnvironmentId,
        key_hash: &ApiKeyHash,
        prefix: &str,
    ) -> Result<ApiKey, StoreError>;

    /// Returns the API key with this hash; the lookup behind every authenticated request.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when no key has the hash.
    async fn find_api_key(&self, key_hash: &ApiKeyHash) -> Result<ApiKey, StoreError>;

    /// Inserts a connection; `created_at` and `updated_at` are both set to now.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist, and
    /// [`StoreError::Conflict`] when a connection with the id already exists (in any environment).
    async fn insert_connection(&self, new: NewConnection) -> Result<Connection, StoreError>;

    /// Returns a connection of an environment.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the connection does not exist or belongs to another environment.
    async fn get_connection(
        &self,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
    ) -> Result<Connection, StoreError>;

    /// Returns all connections of an environment, oldest first (ties broken by id).
    ///
    /// An unknown environment has no connections: the result is empty, not an error.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn list_connections(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<Vec<Connection>, StoreError>;

    /// Changes the given fields of a connection, atomically, and returns the updated row.
    ///
    /// Fields left `None` keep their value.
    /// `updated_at` is bumped on every call, even one that changes no field, and is always later
    /// than its previous value (by at least a microsecond), so it can serve as a version.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the connection does not exist or belongs to another environment.
    async fn update_connection(
        &self,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
        update: ConnectionUpdate,
    ) -> Result<Connection, StoreError>;

    /// Deletes a connection together with its discovered fields.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the connection does not exist or belongs to another environment.
    async fn delete_connection(
        &self,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
    ) -> Result<(), StoreError>;

    /// Stores the discovered fields of one resource of a connection, replacing any earlier ones.
    ///
    /// Callers check that the connection belongs to the caller's environment first; this method
    /// is keyed by connection only.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the connection does not exist.
    async fn put_discovered_fields(
        &self,
        connection_id: &ConnectionId,
        resource: &str,
        fields: &Value,
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Returns the cached fields of one resource of a connection, or `None` when there are none.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn get_discovered_fields(
        &self,
        connection_id: &ConnectionId,
        resource: &str,
    ) -> Result<Option<DiscoveredFields>, StoreError>;
}
