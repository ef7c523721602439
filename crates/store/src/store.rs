//! The [`Store`] trait: the contract every backend implements and the conformance suite checks.
//!
//! It leaves out connection pooling, schema names and file paths; those are each backend's own
//! constructor arguments.

use chrono::{DateTime, Utc};
use serde_json::Value;

use secrets::Sealed;

use crate::{
    ApiKey, ApiKeyHash, ApiKeyId, AppliedPage, Branding, Change, ConnectSession, Connection,
    ConnectionId, ConnectionUpdate, DiscoveredFields, Environment, EnvironmentId, Event,
    IdempotencyClaim, IdempotencyScope, Job, JobControl, JobId, JobOutcome, MessageStatus,
    NewApiKey, NewConnection, NewEvent, NewJob, NewWebhookEndpoint, OAuthApp, OAuthState,
    OverrideScope, OverrideVersion, Page, PageRequest, PurgedSessions, ReplaySelection,
    SessionCompletion, StoreError, StoredAnswer, SyncPage, SyncProgress, SyncState, SyncedRecord,
    WebhookAttempt, WebhookAttemptRow, WebhookEndpoint, WebhookEndpointId, WebhookMessage,
};
use crate::{InboxEntry, InboxOutcome, NewInboxEntry, VerificationFailure, WebhookIngress};

/// Persistent storage for environments, API keys, connections, discovered fields, and the
/// account-connection lifecycle: OAuth apps, branding, Connect sessions, OAuth states, events,
/// refresh leases and key rotation; and the versioned connector overrides of environments and
/// connections.
///
/// Every method is required; there are no defaults, because each is one statement or transaction
/// in the backend's own SQL.
///
/// Contracts shared by all methods:
/// - Timestamps are set by the store from [`crate::timestamp::now`] and kept with microsecond
///   precision; a timestamp passed in is truncated to microseconds.
/// - Expiry times passed in (sessions, states, leases) are compared against the caller's clock,
///   never the database's, so tests and several processes agree on what "expired" means.
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
/// How many versions of one scope's override the history keeps (older ones are dropped when a
/// new one is written), so a tenant's history stays bounded.
pub const OVERRIDE_VERSIONS_KEPT: u32 = 50;

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

    /// Stores a new API key of an environment by its hash and display prefix, with every right
    /// ([`crate::KeyPermissions::full`]): an environment's first key, made by its operator.
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

    /// Stores a new API key with its optional label, expiry and permissions
    /// ([`Store::insert_api_key`] is this without a label or expiry, with every right). The
    /// store keeps the permissions as given; callers check that scoped connections are the
    /// environment's.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist, and
    /// [`StoreError::Conflict`] when a key with the same hash is already stored.
    async fn create_api_key(&self, new: NewApiKey) -> Result<ApiKey, StoreError>;

    /// Returns the API key with this hash, revoked and expired ones included (the caller
    /// decides with [`ApiKey::usable_at`]); the lookup behind every authenticated request.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when no key has the hash.
    async fn find_api_key(&self, key_hash: &ApiKeyHash) -> Result<ApiKey, StoreError>;

    /// Returns every API key of an environment, revoked and expired ones included, oldest
    /// first (ties broken by id). An unknown environment has none.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn list_api_keys(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes an API key of an environment at `now`, unless it is the environment's last key
    /// usable at `now` (so an environment is never locked out by a revocation). Revoking a
    /// revoked key changes nothing and returns it. The check and the write are one
    /// transaction: two concurrent revocations of an environment's last two keys cannot both
    /// succeed.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the key does not exist or belongs to another environment,
    /// and [`StoreError::Conflict`] when it is the environment's last usable key.
    async fn revoke_api_key(
        &self,
        environment_id: &EnvironmentId,
        id: &ApiKeyId,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, StoreError>;

    /// Rotates an API key: stores `new` and makes the old key expire at `old_expires_at`
    /// (or keeps its own expiry when that is sooner), in one transaction, so both keys work
    /// until then and callers can switch over without an outage.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the old key does not exist or belongs to another
    /// environment (or `new` names another environment), and [`StoreError::Conflict`] when the
    /// old key is not usable at `now` or the new key's hash is already stored.
    async fn rotate_api_key(
        &self,
        environment_id: &EnvironmentId,
        id: &ApiKeyId,
        new: NewApiKey,
        old_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(ApiKey, ApiKey), StoreError>;

    /// Records that a key authenticated a request at `at`; a later time already stored is
    /// kept. Callers write it at most about once a minute per key, not once per request.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] only; an unknown key is not an error.
    async fn touch_api_key(&self, id: &ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Inserts a connection; `created_at` and `updated_at` are both set to now, and its refresh
    /// lease starts free.
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

    /// Returns one page of an environment's connections, oldest first (ties broken by id).
    ///
    /// The pages of one walk neither repeat nor skip a connection that existed when it began,
    /// however many are inserted meanwhile. An unknown environment has no connections.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn list_connections_page(
        &self,
        environment_id: &EnvironmentId,
        page: &PageRequest,
    ) -> Result<Page<Connection>, StoreError>;

    /// Inserts a connection as [`Store::insert_connection`] does and records `event` about it,
    /// in one transaction: both are stored or neither is.
    ///
    /// The event's environment and connection should be the connection's; the store does not
    /// check them against it.
    ///
    /// # Errors
    ///
    /// Those of [`Store::insert_connection`] and [`Store::insert_event`].
    async fn insert_connection_with_event(
        &self,
        new: NewConnection,
        event: NewEvent,
    ) -> Result<(Connection, Event), StoreError>;

    /// Updates a connection as [`Store::update_connection`] does and records `event` about the
    /// change, in one transaction: both are stored or neither is.
    ///
    /// The event's environment and connection should be the connection's; the store does not
    /// check them against it.
    ///
    /// # Errors
    ///
    /// Those of [`Store::update_connection`] and [`Store::insert_event`].
    async fn update_connection_with_event(
        &self,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
        update: ConnectionUpdate,
        event: NewEvent,
    ) -> Result<(Connection, Event), StoreError>;

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

    /// Deletes a connection together with its discovered fields, its connector overrides (the
    /// connection layer, every version), and with the Connect sessions and OAuth states that
    /// would authorize it again; its events stay.
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

    /// Stores an environment's OAuth app for a provider, replacing the one stored before.
    ///
    /// Keyed by `(environment_id, provider)`; every field, `updated_at` included, is written as
    /// given (times truncated to microseconds).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist.
    async fn put_oauth_app(&self, app: &OAuthApp) -> Result<(), StoreError>;

    /// Returns an environment's OAuth app for a provider.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no app for the provider.
    async fn get_oauth_app(
        &self,
        environment_id: &EnvironmentId,
        provider: &str,
    ) -> Result<OAuthApp, StoreError>;

    /// Every OAuth app of every environment, for re-sealing client secrets under a new key.
    ///
    /// # Errors
    /// Fails only on a database error.
    async fn list_oauth_apps(&self) -> Result<Vec<OAuthApp>, StoreError>;

    /// Replaces an environment's branding whole: a `None` field clears that field and
    /// `allowed_redirect_urls` replaces the stored list.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist.
    async fn set_branding(
        &self,
        environment_id: &EnvironmentId,
        branding: &Branding,
    ) -> Result<(), StoreError>;

    /// Returns an environment's branding; every field is `None` (and the redirect list empty)
    /// when it was never set.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist.
    async fn get_branding(&self, environment_id: &EnvironmentId) -> Result<Branding, StoreError>;

    /// Replaces an environment's limits on the evaluation of its mappings (a JSON object, kept
    /// as given; the caller validates it).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist.
    async fn set_evaluation_limits(
        &self,
        environment_id: &EnvironmentId,
        limits: &Value,
    ) -> Result<(), StoreError>;

    /// Returns an environment's limits on the evaluation of its mappings: `{}` when never set.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist.
    async fn get_evaluation_limits(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<Value, StoreError>;

    /// Replaces the syncs an environment starts for each new connection (a JSON array, kept as
    /// given; the caller validates it).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist.
    async fn set_default_syncs(
        &self,
        environment_id: &EnvironmentId,
        syncs: &Value,
    ) -> Result<(), StoreError>;

    /// Returns the syncs an environment starts for each new connection: `[]` when never set.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist.
    async fn get_default_syncs(&self, environment_id: &EnvironmentId) -> Result<Value, StoreError>;

    /// Stores a Connect session by its token hash.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when a session with the same hash exists, and
    /// [`StoreError::NotFound`] when the environment does not exist or `connection_id` names no
    /// connection of that environment.
    async fn insert_connect_session(&self, session: &ConnectSession) -> Result<(), StoreError>;

    /// Returns the Connect session with this token hash, expired or not: the caller checks
    /// `expires_at` against its clock.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when no session has the hash (or its connection was deleted).
    async fn get_connect_session(&self, token_hash: &str) -> Result<ConnectSession, StoreError>;

    /// Stores an OAuth authorization state by its hash, until [`Store::take_oauth_state`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when a state with the same hash exists, and
    /// [`StoreError::NotFound`] when the environment does not exist or `connection_id` names no
    /// connection of that environment.
    async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError>;

    /// Removes and returns the OAuth state with this hash, atomically: of any number of calls
    /// with one hash, even concurrent ones from several processes, exactly one gets the state,
    /// which is what makes a replayed callback fail.
    ///
    /// The state is returned expired or not: the caller checks `expires_at` against its clock.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when no state has the hash, including when it was taken before.
    async fn take_oauth_state(&self, state_hash: &str) -> Result<OAuthState, StoreError>;

    /// Starts an OAuth sign-in from a Connect session: counts it on the session and stores
    /// `state`, in one transaction, only while the session named by `state.session_token_hash`
    /// (of `state.environment_id`) is unused, not expired at `now`, and has started fewer than
    /// `max_starts` sign-ins. Atomic across processes: of concurrent starts on one session, no
    /// more than `max_starts` are ever stored in all.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when no session of the state's environment has the hash, or the
    /// state names a connection of no such environment; [`StoreError::Conflict`] when the
    /// session is used, expired at `now`, or has started `max_starts` sign-ins, or a state with
    /// the same hash exists; nothing is stored then.
    async fn start_oauth(
        &self,
        state: &OAuthState,
        now: DateTime<Utc>,
        max_starts: u32,
    ) -> Result<(), StoreError>;

    /// Uses a Connect session up: marks the session with this token hash used at `now`, makes
    /// or re-authorises its connection (`completion`), records `event`, and removes the
    /// session's other OAuth states, in one transaction: all of it is stored or none.
    ///
    /// Only an unused session of the connection's environment, not expired at `now`, can be
    /// used, and only for what it was made for: [`SessionCompletion::Create`] by a session
    /// without a connection, [`SessionCompletion::Reauthorize`] by the session of that very
    /// connection. Atomic across processes: of any number of concurrent calls for one
    /// session, exactly one succeeds, which is what makes a Connect link single-use.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when no session of that environment has the hash (or the
    /// connection to re-authorise is gone); [`StoreError::Conflict`] when the session was used
    /// before, is expired at `now`, or was made for another connection (or none); and the errors
    /// of [`Store::insert_connection_with_event`] and [`Store::update_connection_with_event`].
    async fn complete_connect_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        completion: SessionCompletion,
        event: NewEvent,
    ) -> Result<(Connection, Event), StoreError>;

    /// Removes the Connect sessions and the OAuth states that expired at or before `before`,
    /// of every environment, and the OAuth states whose session is gone.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] only.
    async fn purge_connect_sessions(
        &self,
        before: DateTime<Utc>,
    ) -> Result<PurgedSessions, StoreError>;

    /// Records an event with a fresh id and `created_at` set to now.
    ///
    /// The connection id is not checked, so an event may name a connection that was deleted;
    /// callers pass only connections of the event's environment.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist.
    async fn insert_event(&self, event: NewEvent) -> Result<Event, StoreError>;

    /// Returns an environment's events, oldest first (ties broken by id), optionally only those
    /// about one connection and/or of one kind (matched exactly).
    ///
    /// An unknown environment has no events: the result is empty, not an error.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn list_events(
        &self,
        environment_id: &EnvironmentId,
        connection_id: Option<&ConnectionId>,
        kind: Option<&str>,
    ) -> Result<Vec<Event>, StoreError>;

    /// Returns one page of an environment's events, in the order and with the filters of
    /// [`Store::list_events`].
    ///
    /// The pages of one walk neither repeat nor skip an event that existed when it began,
    /// however many are recorded meanwhile.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn list_events_page(
        &self,
        environment_id: &EnvironmentId,
        connection_id: Option<&ConnectionId>,
        kind: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Event>, StoreError>;

    /// Returns a connection by id whatever its environment; for workers, which act for every
    /// environment. Request handlers use [`Store::get_connection`].
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when no connection has the id.
    async fn get_connection_by_id(&self, id: &ConnectionId) -> Result<Connection, StoreError>;

    /// Returns at most `limit` active connections, of every environment, whose
    /// `credentials_expires_at` is before `before`, soonest expiry first (ties broken by id).
    ///
    /// Connections without an expiry, or not [`crate::ConnectionStatus::Active`], never appear.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn list_connections_expiring_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Connection>, StoreError>;

    /// Takes the connection's refresh lease for `holder` until `now + ttl`, when the lease is
    /// free, released, expired at `now` (its end is at or before `now`), or already held by the
    /// same `holder` (who then gets a new fence, and the old one stops counting).
    ///
    /// Returns the fencing token: strictly greater than every token returned before for this
    /// connection, by any process. Returns `None`, changing nothing, while another holder's lease
    /// runs. Atomic across processes.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the connection does not exist.
    async fn acquire_refresh_lease(
        &self,
        id: &ConnectionId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Option<u64>, StoreError>;

    /// Frees the connection's refresh lease if `fence` is the token of the lease now held; with
    /// a stale fence, or a lease already free, it does nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the connection does not exist.
    async fn release_refresh_lease(&self, id: &ConnectionId, fence: u64) -> Result<(), StoreError>;

    /// Enqueues a job. When `new.key` is set and a job that has not ended (queued, running or
    /// paused) holds that key, nothing is written and that job is returned; the flag says whether this call created
    /// the job it returns.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment or the connection does not exist.
    async fn enqueue_job(&self, new: NewJob) -> Result<(Job, bool), StoreError>;

    /// Claims up to `limit` due jobs of `kind` for `holder`, leasing each until `now + lease`:
    /// queued jobs whose `run_at` is at or before `now`, and running jobs whose lease ended at or
    /// before `now` (their worker is gone), earliest `run_at` first (ties broken by id). Each
    /// claim counts an attempt and gives a fence strictly greater than the job's fences before.
    /// A running job whose lease ended with no attempt left fails for good instead.
    ///
    /// Concurrent claimers, in any processes, never get the same job.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn claim_jobs(
        &self,
        kind: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// Extends a running job's lease to `now + lease` while `fence` is its latest claim's.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the job was claimed again, finished or cancelled since (the
    /// caller must stop working on it), [`StoreError::NotFound`] when it does not exist.
    async fn renew_job_lease(
        &self,
        id: &JobId,
        fence: u64,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<Job, StoreError>;

    /// Ends the attempt claimed with `fence`, as `outcome` says: done, retried later (failed for
    /// good when no attempt is left), rescheduled (its attempts start over) or failed.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when `fence` is no longer the running job's latest claim (the job
    /// was taken over, finished or cancelled), [`StoreError::NotFound`] when it does not exist.
    async fn finish_job(
        &self,
        id: &JobId,
        fence: u64,
        outcome: JobOutcome,
        now: DateTime<Utc>,
    ) -> Result<Job, StoreError>;

    /// Cancels a job of the environment that has not ended (queued, running or paused); a
    /// running job's worker learns it when it next renews its lease or finishes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the job already ended, [`StoreError::NotFound`] when the
    /// environment has no such job.
    async fn cancel_job(
        &self,
        environment_id: &EnvironmentId,
        id: &JobId,
        now: DateTime<Utc>,
    ) -> Result<Job, StoreError>;

    /// One job of the environment.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such job.
    async fn get_job(&self, environment_id: &EnvironmentId, id: &JobId) -> Result<Job, StoreError>;

    /// Applies `control` to a job of the environment (see [`crate::JobControl`]) and returns
    /// the job with whether it changed: pausing a paused job, or resuming a queued or running
    /// one, changes nothing. A paused job keeps its key, is never claimed, and is cancelled like
    /// a live one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the job has ended, or when [`JobControl::RunNow`] finds it
    /// running or paused; [`StoreError::NotFound`] when the environment has no such job.
    async fn control_job(
        &self,
        environment_id: &EnvironmentId,
        id: &JobId,
        control: JobControl,
        now: DateTime<Utc>,
    ) -> Result<(Job, bool), StoreError>;

    /// Replaces the payload of a job of the environment that has not ended and, with `due_by`,
    /// makes a queued job due no later than that. A worker running the job keeps the payload it
    /// was given.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the job has ended, [`StoreError::NotFound`] when the
    /// environment has no such job.
    async fn update_job_payload(
        &self,
        environment_id: &EnvironmentId,
        id: &JobId,
        payload: &Value,
        due_by: Option<DateTime<Utc>>,
    ) -> Result<Job, StoreError>;

    /// The environment's jobs (only the connection's when given), newest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn list_jobs(
        &self,
        environment_id: &EnvironmentId,
        connection_id: Option<&ConnectionId>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// Deletes the jobs that ended (done, failed, cancelled) before `before`; returns how many.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] only.
    async fn purge_finished_jobs(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Applies one page of a sync in one transaction (see [`crate::SyncPage`]): records whose
    /// hash is new or changed (or that come back after a delete) are written and each gets a
    /// `created` or `updated` change; deletes of stored, not yet deleted records mark them deleted
    /// and get a `deleted` change (a tombstone); the rest change nothing. The page's checkpoint
    /// and counts go to the sync's progress in the same transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such connection,
    /// [`StoreError::Conflict`] when `page.claim` is no longer its job's latest running claim;
    /// either way nothing is written.
    async fn apply_sync_page(
        &self,
        environment_id: &EnvironmentId,
        page: SyncPage,
    ) -> Result<AppliedPage, StoreError>;

    /// The environment's changes with a sequence number above `after`, in order, at most
    /// `limit`, optionally of one connection.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn list_changes(
        &self,
        environment_id: &EnvironmentId,
        after: u64,
        connection_id: Option<&ConnectionId>,
        limit: u32,
    ) -> Result<Vec<Change>, StoreError>;

    /// Deletes the changes recorded before `before` (the feed's retention); returns how many.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] only.
    async fn purge_changes(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The stored records of a connection's object with a remote id after `after` (bytewise),
    /// in that order, at most `limit`; deleted ones only when `with_deleted`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such connection.
    async fn list_synced_records(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        object: &str,
        after: Option<&str>,
        with_deleted: bool,
        limit: u32,
    ) -> Result<Vec<SyncedRecord>, StoreError>;

    /// The remote ids of a connection's live (not deleted) stored records that the
    /// reconciliation pass `pass` has not marked seen ([`crate::SyncPage::seen`]), after
    /// `after` (bytewise), in that order, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such connection.
    async fn list_unseen_synced(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        object: &str,
        pass: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;

    /// How many live (not deleted) records a connection's object holds in the record store,
    /// and how many of them the reconciliation pass `pass` has not marked seen.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such connection.
    async fn count_unseen_synced(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        object: &str,
        pass: &str,
    ) -> Result<(u64, u64), StoreError>;

    /// A sync's progress on a connection's object; `None` before its first page.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such connection.
    async fn get_sync_progress(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        object: &str,
    ) -> Result<Option<SyncProgress>, StoreError>;

    /// Records how a sync stands (each field of `state` replaces the stored one) and `event`
    /// with it, in one transaction; a sync with no progress yet gets one with no pages.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such connection (or no such
    /// environment, for the event), [`StoreError::Conflict`] when `state.claim` is no longer its
    /// job's latest running claim; either way nothing is written.
    async fn record_sync_state(
        &self,
        environment_id: &EnvironmentId,
        state: SyncState,
        event: Option<NewEvent>,
    ) -> Result<(), StoreError>;

    /// Forces a sync's next run to read everything, in one transaction: drops the checkpoint
    /// of `object` on the job's connection (and with it the watermark of incremental runs),
    /// records the sync as queued, and makes the job due at `now`, taking it from a worker
    /// running it (whose claim is refused from then on). A paused job stays paused. The
    /// counts of the sync's progress are kept.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the job has ended, [`StoreError::NotFound`] when the
    /// environment has no such job or the job has no connection.
    async fn restart_sync(
        &self,
        environment_id: &EnvironmentId,
        id: &JobId,
        object: &str,
        now: DateTime<Utc>,
    ) -> Result<Job, StoreError>;

    /// Writes refreshed credentials and their expiry (`None` clears it), and replaces the account
    /// object when `account` is given, but only while `fence` is the token of the lease now held
    /// (not released, not superseded; a lease whose time ran out still counts until someone else
    /// takes it). Bumps `updated_at` as [`Store::update_connection`] does; keeps the lease.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when `fence` no longer holds the lease, so a stale refresher never
    /// overwrites a newer refresh, and [`StoreError::NotFound`] when the connection does not
    /// exist.
    async fn store_refreshed_credentials(
        &self,
        id: &ConnectionId,
        fence: u64,
        credentials: Sealed,
        expires_at: Option<DateTime<Utc>>,
        account: Option<Value>,
    ) -> Result<Connection, StoreError>;

    /// Returns every connection of every environment, oldest first (ties broken by id); for
    /// re-sealing credentials under a new key.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn list_all_connections(&self) -> Result<Vec<Connection>, StoreError>;

    /// Replaces a connection's sealed credentials with `credentials` only if the stored ones are
    /// still byte for byte `expected`; a compare-and-swap, so re-sealing under a new key never
    /// undoes a refresh that happened meanwhile. Bumps `updated_at`; leaves the lease alone.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the stored credentials differ from `expected` (read the row
    /// again and retry), and [`StoreError::NotFound`] when the connection does not exist.
    async fn replace_sealed_credentials(
        &self,
        id: &ConnectionId,
        expected: &Sealed,
        credentials: Sealed,
    ) -> Result<(), StoreError>;

    /// Appends a version to a scope's connector override and returns it; it is the current
    /// version from the moment this returns.
    ///
    /// `document` is the override document, or `None` to remove the override (a tombstone
    /// version, which stays in the history). The new version is the latest plus one, or 1 for a
    /// scope never written. With `expected_version` `Some(v)` the write happens only if the latest
    /// version is `v` (`Some(0)`: only if the scope has no version yet), atomically across
    /// processes, so of concurrent writers expecting one version exactly one wins; with `None` it
    /// always appends, and concurrent writers all land, each with its own version. The history
    /// keeps the latest [`OVERRIDE_VERSIONS_KEPT`] versions; older ones are dropped.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist, or the scope's connection
    /// does not exist, belongs to another environment or is of another provider; and
    /// [`StoreError::Conflict`] when `expected_version` is not the latest version (read the
    /// current version again and retry).
    async fn put_override(
        &self,
        scope: &OverrideScope,
        document: Option<&Value>,
        revision: &str,
        expected_version: Option<u32>,
    ) -> Result<OverrideVersion, StoreError>;

    /// Returns the latest version of a scope's override, a tombstone included (as `Some` with a
    /// `None` document); `None` when the scope was never written.
    ///
    /// A scope of an unknown environment, or of a connection of another environment, was never
    /// written: the result is `None`, not an error.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn current_override(
        &self,
        scope: &OverrideScope,
    ) -> Result<Option<OverrideVersion>, StoreError>;

    /// The current version numbers of the environment's override of `provider` and, with
    /// `connection_id`, of that connection's, in one read without the documents (tombstones
    /// count: they are versions too). Callers keep documents by version and read one only when
    /// a number they do not hold comes up.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn current_override_versions(
        &self,
        environment_id: &EnvironmentId,
        provider: &str,
        connection_id: Option<&ConnectionId>,
    ) -> Result<(Option<u32>, Option<u32>), StoreError>;

    /// Returns every version of a scope's override, oldest (version 1) first; empty when the
    /// scope was never written, as for [`Store::current_override`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn override_history(
        &self,
        scope: &OverrideScope,
    ) -> Result<Vec<OverrideVersion>, StoreError>;

    /// Returns one version of a scope's override.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the scope has no such version.
    async fn get_override_version(
        &self,
        scope: &OverrideScope,
        version: u32,
    ) -> Result<OverrideVersion, StoreError>;

    /// Returns the current version of every scope's override, of every environment, whose
    /// document is not removed (tombstones are left out), ordered by environment, provider and
    /// connection (the environment layer before its connections); for re-validating stored
    /// overrides when the connectors change.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn list_current_overrides(&self) -> Result<Vec<OverrideVersion>, StoreError>;

    /// Records `event` for the version `version` of `scope`'s override failing against
    /// `connector_revision` of its connector, unless that was recorded before: returns the
    /// event when it is recorded now, `None` when it had been. At most one event is ever
    /// recorded per `(scope, version, connector_revision)`, atomically across processes, and
    /// never a marker without its event.
    ///
    /// The event's environment and connection should be the scope's; the store does not check
    /// them against it.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the scope's environment does not exist, or its connection
    /// does not exist, belongs to another environment or is of another provider.
    async fn record_invalid_override(
        &self,
        scope: &OverrideScope,
        version: u32,
        connector_revision: &str,
        event: NewEvent,
    ) -> Result<Option<Event>, StoreError>;

    /// Claims the idempotency key `scope` for a request whose fingerprint is `fingerprint`.
    ///
    /// A key never used, or whose row expired (`expires_at <= now`), is claimed: the row is
    /// (re)written as in flight until `in_flight_until`, and [`IdempotencyClaim::Claimed`]
    /// returned. Otherwise the live row decides: another fingerprint is
    /// [`IdempotencyClaim::Mismatch`], an answer kept by [`Store::complete_idempotency_key`] is
    /// [`IdempotencyClaim::Answered`], no answer yet is [`IdempotencyClaim::InFlight`]. Of
    /// concurrent claims of one free key, across processes, exactly one is `Claimed`. Expired
    /// rows of the environment may be deleted along the way.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        now: DateTime<Utc>,
        in_flight_until: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError>;

    /// Keeps `answer` for the key `scope` claimed with `fingerprint`, until `expires_at`; later
    /// claims with the same fingerprint get it back. Does nothing when the key is no longer
    /// held with that fingerprint.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] only.
    async fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        answer: &StoredAnswer,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Frees the key `scope` claimed with `fingerprint` and not answered (the request failed in
    /// a way a retry may repeat), so the next claim gets it. Does nothing otherwise.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] only.
    async fn release_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
    ) -> Result<(), StoreError>;

    /// Creates an outbound webhook endpoint with a fresh id.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment does not exist.
    async fn create_webhook_endpoint(
        &self,
        new: NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError>;

    /// One endpoint of the environment.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such endpoint.
    async fn get_webhook_endpoint(
        &self,
        environment_id: &EnvironmentId,
        id: &WebhookEndpointId,
    ) -> Result<WebhookEndpoint, StoreError>;

    /// The environment's endpoints, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn list_webhook_endpoints(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// Writes what the API may change of an endpoint (URL, description, filters, record
    /// inclusion, enabled state and reason, secrets); enabling it also ends its failing streak.
    /// Bumps `updated_at`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such endpoint.
    async fn update_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError>;

    /// Deletes an endpoint with its messages and attempts.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such endpoint.
    async fn delete_webhook_endpoint(
        &self,
        environment_id: &EnvironmentId,
        id: &WebhookEndpointId,
    ) -> Result<(), StoreError>;

    /// Moves up to `limit` of the environment's oldest outbox rows into one message per enabled
    /// endpoint that wants each (in one transaction, under the environment's lock, so messages
    /// are numbered in the order of the changes' commits); returns how many rows it moved.
    /// A message is due at `now`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn fan_out_webhook_outbox(
        &self,
        environment_id: &EnvironmentId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// The endpoint's pending messages due at `now` that head their ordering key (no earlier
    /// pending message of the same key), in `seq` order, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn due_webhook_messages(
        &self,
        endpoint_id: &WebhookEndpointId,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<WebhookMessage>, StoreError>;

    /// When the endpoint's next pending message is due, if it has one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] and [`StoreError::Corrupt`] only.
    async fn next_webhook_due(
        &self,
        endpoint_id: &WebhookEndpointId,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Records an attempt and what follows it in one transaction: the attempt row; the
    /// message's status, attempt count and next attempt; the endpoint's failing streak (ended by
    /// a delivery, started by a failure); and, with `disable`, the endpoint disabled and its
    /// event recorded (only by the attempt that disables it: an endpoint already disabled gets
    /// no second event).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the message or endpoint is gone (deleted meanwhile).
    async fn record_webhook_attempt(&self, attempt: WebhookAttempt) -> Result<(), StoreError>;

    /// The endpoint's attempts, newest first, at most `limit`, before the attempt `before`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such endpoint.
    async fn list_webhook_attempts(
        &self,
        environment_id: &EnvironmentId,
        endpoint_id: &WebhookEndpointId,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<WebhookAttemptRow>, StoreError>;

    /// The endpoint's messages (of one status when given), oldest first, at most `limit`,
    /// after the message `after`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such endpoint.
    async fn list_webhook_messages(
        &self,
        environment_id: &EnvironmentId,
        endpoint_id: &WebhookEndpointId,
        status: Option<MessageStatus>,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<WebhookMessage>, StoreError>;

    /// Makes the selected dead letters of the endpoint pending again, due at `now`, their
    /// attempts starting over; returns how many.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the environment has no such endpoint.
    async fn replay_webhook_messages(
        &self,
        environment_id: &EnvironmentId,
        endpoint_id: &WebhookEndpointId,
        selection: ReplaySelection,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Creates or replaces the connection's ingress (inbound webhooks): its token hash and
    /// secret are the new ones, so the previous token stops working; counters start over.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the connection is not one of the environment's;
    /// [`StoreError::Conflict`] when another ingress has the token hash.
    async fn put_webhook_ingress(
        &self,
        ingress: WebhookIngress,
    ) -> Result<WebhookIngress, StoreError>;

    /// The connection's ingress.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when it has none (or is not one of the environment's).
    async fn get_webhook_ingress(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
    ) -> Result<WebhookIngress, StoreError>;

    /// The ingress whose token has this SHA-256 hash (hex).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when none has.
    async fn find_webhook_ingress(&self, token_hash: &str) -> Result<WebhookIngress, StoreError>;

    /// Removes the connection's ingress; its URL stops working. Deleting none is no error.
    ///
    /// # Errors
    ///
    /// Only database failures.
    async fn delete_webhook_ingress(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
    ) -> Result<(), StoreError>;

    /// Writes an accepted delivery to the inbox, its processing job (unless a live job holds the
    /// job's key) and the ingress's last receipt, in one transaction; returns the entry's id.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the connection has no ingress any more.
    async fn accept_webhook(&self, entry: NewInboxEntry) -> Result<i64, StoreError>;

    /// Counts a refused delivery on the connection's ingress, and keeps it as a sample unless
    /// ten were kept in the minute before `failure.at`; keeps the newest 100 samples.
    ///
    /// # Errors
    ///
    /// Only database failures; a connection without an ingress is no error.
    async fn record_webhook_failure(&self, failure: VerificationFailure) -> Result<(), StoreError>;

    /// The connection's sampled refused deliveries, newest first.
    ///
    /// # Errors
    ///
    /// Only database failures (a connection of another environment has none).
    async fn list_webhook_failures(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<VerificationFailure>, StoreError>;

    /// The connection's pending deliveries, oldest first.
    ///
    /// # Errors
    ///
    /// Only database failures.
    async fn pending_webhook_inbox(
        &self,
        connection_id: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<InboxEntry>, StoreError>;

    /// The connection's deliveries, newest first.
    ///
    /// # Errors
    ///
    /// Only database failures (a connection of another environment has none).
    async fn list_webhook_inbox(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<InboxEntry>, StoreError>;

    /// Records how a pending delivery's processing ended.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when no pending entry has the id.
    async fn finish_webhook_inbox(
        &self,
        id: i64,
        outcome: InboxOutcome,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Remembers the connection's vendor event ids as named by the inbox entry `inbox_id` at
    /// `at`; answers, per id in order, whether it is new: not seen within the
    /// [`crate::WEBHOOK_EVENT_ID_DAYS`] before `at`, or seen first by that same entry (so an
    /// entry processed again after a failure keeps its events). The caller passes distinct ids.
    ///
    /// # Errors
    ///
    /// Only database failures.
    async fn remember_webhook_events(
        &self,
        connection_id: &ConnectionId,
        inbox_id: i64,
        event_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError>;

    /// Removes processed or failed deliveries received, and event ids seen, before `before`;
    /// returns how many rows went.
    ///
    /// # Errors
    ///
    /// Only database failures.
    async fn purge_webhook_inbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
