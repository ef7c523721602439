//! The [`Store`] methods as SQL, for every [`Dialect`].
//!
//! Parameters are written `$1`, `$2`, …, which both databases read; a number used twice binds
//! one value. Every time written is truncated to microseconds first, as the contract says.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrets::Sealed;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use store::{
    ApiKey, ApiKeyHash, ApiKeyId, AppliedPage, Branding, Change, ChangeKind, ConnectSession,
    Connection, ConnectionId, ConnectionStatus, ConnectionUpdate, Cursor, DiscoveredFields,
    Environment, EnvironmentId, Event, EventId, IdempotencyClaim, IdempotencyScope, Job,
    JobControl, JobId, JobOutcome, JobStatus, NewApiKey, NewConnection, NewEvent, NewJob, OAuthApp,
    OAuthState, OverrideScope, OverrideVersion, Page, PageRequest, PurgedSessions,
    SessionCompletion, Store, StoreError, StoredAnswer, SyncPage, SyncProgress, SyncState,
    SyncedInput, SyncedRecord, timestamp,
};
use store::{
    MessageNext, MessageStatus, NewWebhookEndpoint, ReplaySelection, WebhookAttempt,
    WebhookAttemptRow, WebhookEndpoint, WebhookEndpointId, WebhookMessage, WebhookMessageId,
};

use crate::rows::{
    API_KEY_COLUMNS, CHANGE_COLUMNS, CONNECT_SESSION_COLUMNS, CONNECTION_COLUMNS, Columns,
    EVENT_COLUMNS, JOB_COLUMNS, OAUTH_APP_COLUMNS, OAUTH_STATE_COLUMNS, OVERRIDE_COLUMNS,
    SYNC_PROGRESS_COLUMNS, SYNCED_RECORD_COLUMNS, WEBHOOK_ATTEMPT_COLUMNS,
    WEBHOOK_ENDPOINT_COLUMNS, WEBHOOK_MESSAGE_COLUMNS,
};

/// The columns of a sync's progress its pages write (its state keeps what it was).
const SYNC_PROGRESS_INSERT: &str =
    "connection_id, object, checkpoint, pages, created, updated, deleted, updated_at";
use crate::{Dialect, SqlStore, read_error, write_error};

/// Matches the rows of one override scope: `$1` environment, `$2` provider, `$3` connection or
/// NULL. Written as the unique index's expression, so the index serves it.
const OVERRIDE_SCOPE: &str =
    "environment_id = $1 AND provider = $2 AND COALESCE(connection_id, '') = COALESCE($3, '')";

/// How many remote ids one look-up of a sync page's stored records binds (well under both
/// databases' parameter limits).
const SYNC_LOOKUP_CHUNK: usize = 500;

/// How many rows one write of a sync page's changes or records carries (the changes' 4
/// parameters a row, the records' 4, plus the shared ones: well under both databases'
/// parameter limits).
const SYNC_WRITE_CHUNK: usize = 100;

/// A sync page's change to one record: its new content, or its remote id when it is gone.
enum SyncedOrGone {
    Synced(SyncedInput),
    Gone(String),
}

/// How many times an unconditional override write retries after losing a race for its version
/// number to a concurrent writer; each loss means another writer made progress.
const OVERRIDE_WRITE_ATTEMPTS: usize = 16;

/// The parameters of a statement written in the order they are bound, each bound once: each
/// call gives the next ([`Dialect::param`]: `$1`, `$2`, … or SQLite's anonymous `?`).
fn numbered<D: Dialect>() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        D::param(n)
    }
}

fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("json values and lists of strings always serialize")
}

/// A fence as the database stores it; one past `i64::MAX` can never have been handed out, so it
/// matches nothing.
fn fence_value(fence: u64) -> i64 {
    i64::try_from(fence).unwrap_or(-1)
}

fn event_of(event: NewEvent) -> Event {
    Event {
        id: EventId::generate(),
        environment_id: event.environment_id,
        connection_id: event.connection_id,
        kind: event.kind,
        payload: event.payload,
        created_at: timestamp::now(),
    }
}

/// Cuts the one row fetched past `limit` and names where the next page starts.
fn page_of<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let limit = limit.max(1) as usize;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(key)
    } else {
        None
    };
    Page { items, next }
}

/// How many rows a page query fetches: one past the limit, to learn whether more follow.
fn fetch_for(page: &PageRequest) -> i64 {
    i64::from(page.limit.max(1)) + 1
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> Option<Vec<u8>>: Encode<'q, D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db>,
    for<'q> Option<D::Time>: Encode<'q, D::Db>,
    for<'n> &'n str: ColumnIndex<<D::Db as Database>::Row>,
    for<'r> String: Decode<'r, D::Db>,
    for<'r> i64: Decode<'r, D::Db>,
    for<'r> Vec<u8>: Decode<'r, D::Db>,
    for<'r> Json<Value>: Decode<'r, D::Db> + Type<D::Db>,
    for<'r> Json<Vec<String>>: Decode<'r, D::Db> + Type<D::Db>,
{
    /// The job a fenced write returned, or why it matched no row: a missing job is
    /// [`StoreError::NotFound`], an existing one means the fence no longer holds it.
    async fn fenced_job(
        &self,
        id: &JobId,
        row: Option<<D::Db as Database>::Row>,
        conflict: &str,
    ) -> Result<Job, StoreError> {
        if let Some(row) = row {
            return Columns::<D>(&row).job();
        }
        let exists = sqlx::query("SELECT 1 FROM jobs WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(read_error)?;
        match exists {
            Some(_) => Err(StoreError::Conflict(conflict.to_owned())),
            None => Err(StoreError::NotFound),
        }
    }

    /// Refuses, as [`StoreError::Conflict`], a sync's write whose job claim (id and fence) is no
    /// longer its job's latest running one. It writes, so SQLite takes its write lock.
    async fn check_claim(
        transaction: &mut sqlx::Transaction<'static, D::Db>,
        (job_id, fence): &(JobId, u64),
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE jobs SET updated_at = $1
             WHERE id = $2 AND fence = $3 AND status = 'running'",
        )
        .bind(D::time(now))
        .bind(job_id.as_str())
        .bind(fence_value(*fence))
        .execute(&mut **transaction)
        .await
        .map_err(|error| write_error(error, "job update conflicts"))?;
        if D::rows_affected(&result) == 0 {
            return Err(StoreError::Conflict(
                "the sync's job claim is no longer current".to_owned(),
            ));
        }
        Ok(())
    }

    /// Writes the change-feed rows of `chunk` (sequence number, kind, change) in one statement.
    async fn insert_changes(
        transaction: &mut sqlx::Transaction<'static, D::Db>,
        environment_id: &EnvironmentId,
        (connection_id, object): (&ConnectionId, &str),
        chunk: &[(u64, ChangeKind, &SyncedOrGone)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Each row binds its eight values, in the order they are written (`Dialect::param`).
        let mut param = numbered::<D>();
        let rows = (0..chunk.len())
            .map(|_| {
                format!(
                    "({}, {}, {}, {}, {}, {}, {}, {})",
                    param(),
                    param(),
                    param(),
                    param(),
                    param(),
                    param(),
                    D::json(&param()),
                    param()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("INSERT INTO changes ({CHANGE_COLUMNS}) VALUES {rows}");
        let mut query = sqlx::query(&sql);
        for (seq, kind, change) in chunk {
            let (remote_id, record) = match change {
                SyncedOrGone::Synced(input) => (input.remote_id.as_str(), Some(input.text())),
                SyncedOrGone::Gone(remote_id) => (remote_id.as_str(), None),
            };
            query = query
                .bind(fence_value(*seq))
                .bind(environment_id.as_str())
                .bind(connection_id.as_str())
                .bind(object)
                .bind(remote_id)
                .bind(kind.as_str())
                .bind(record)
                .bind(D::time(now));
        }
        query
            .execute(&mut **transaction)
            .await
            .map_err(|error| write_error(error, "change number already used"))?;
        Ok(())
    }

    /// Inserts or replaces the stored records of `synced` (sequence number, record) in one
    /// statement; their remote ids are distinct.
    async fn upsert_synced(
        transaction: &mut sqlx::Transaction<'static, D::Db>,
        (connection_id, object): (&ConnectionId, &str),
        synced: &[(u64, &SyncedInput)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Each row binds its seven values, in the order they are written (`Dialect::param`).
        let mut param = numbered::<D>();
        let rows = (0..synced.len())
            .map(|_| {
                format!(
                    "({}, {}, {}, {}, {}, 0, {}, {})",
                    param(),
                    param(),
                    param(),
                    D::json(&param()),
                    param(),
                    param(),
                    param()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO synced_records ({SYNCED_RECORD_COLUMNS}) VALUES {rows}
             ON CONFLICT (connection_id, object, remote_id) DO UPDATE SET
                 record = excluded.record, hash = excluded.hash, deleted = 0,
                 seq = excluded.seq, updated_at = excluded.updated_at"
        );
        let mut query = sqlx::query(&sql);
        for (seq, input) in synced {
            query = query
                .bind(connection_id.as_str())
                .bind(object)
                .bind(input.remote_id.as_str())
                .bind(input.text())
                .bind(input.hash.as_str())
                .bind(fence_value(*seq))
                .bind(D::time(now));
        }
        query
            .execute(&mut **transaction)
            .await
            .map_err(|error| write_error(error, "synced record conflicts"))?;
        Ok(())
    }

    /// Tells whether a connection exists, after a conditional write matched no row: a missing
    /// connection is [`StoreError::NotFound`], an existing one means the condition failed.
    async fn connection_exists(&self, id: &ConnectionId) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM connections WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(read_error)?;
        Ok(row.is_some())
    }

    /// Tells whether an override scope can be written: its environment exists and, for the
    /// connection layer, its connection exists in that environment and is of its provider.
    async fn override_scope_exists(&self, scope: &OverrideScope) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM environments WHERE id = $1)
                 AND ($3 IS NULL OR EXISTS (
                     SELECT 1 FROM connections WHERE id = $3 AND environment_id = $1 AND provider = $2
                 ))",
        )
        .bind(scope.environment_id.as_str())
        .bind(&scope.provider)
        .bind(scope.connection_id.as_ref().map(ConnectionId::as_str))
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?;
        Ok(row.is_some())
    }

    /// Tells whether a Connect session with this hash exists, after a conditional write on it
    /// matched no row: a missing session is [`StoreError::NotFound`], an existing one means the
    /// condition (unused, unexpired, …) failed.
    async fn connect_session_exists(&self, token_hash: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM connect_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(read_error)?;
        Ok(row.is_some())
    }

    async fn insert_oauth_state_on<'c, E>(executor: E, state: &OAuthState) -> Result<(), StoreError>
    where
        E: Executor<'c, Database = D::Db>,
    {
        sqlx::query(&format!(
            "INSERT INTO oauth_states ({OAUTH_STATE_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&state.state_hash)
        .bind(state.environment_id.as_str())
        .bind(&state.provider)
        .bind(&state.scheme)
        .bind(&state.session_token_hash)
        .bind(state.code_verifier.as_ref().map(Sealed::to_bytes))
        .bind(&state.redirect_uri)
        .bind(state.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(D::time(timestamp::truncate(state.expires_at)))
        .bind(D::time(timestamp::truncate(state.created_at)))
        .execute(executor)
        .await
        .map_err(|error| write_error(error, "an oauth state with this hash already exists"))?;
        Ok(())
    }

    async fn insert_api_key_on<'c, E>(executor: E, new: NewApiKey) -> Result<ApiKey, StoreError>
    where
        E: Executor<'c, Database = D::Db>,
    {
        let api_key = ApiKey {
            id: ApiKeyId::generate(),
            environment_id: new.environment_id,
            prefix: new.prefix,
            name: new.name,
            created_at: timestamp::now(),
            expires_at: new.expires_at.map(timestamp::truncate),
            revoked_at: None,
            last_used_at: None,
            permissions: new.permissions,
        };
        let connection_ids: Option<Vec<&str>> = api_key
            .permissions
            .connection_ids
            .as_ref()
            .map(|ids| ids.iter().map(ConnectionId::as_str).collect());
        sqlx::query(&format!(
            "INSERT INTO api_keys (id, environment_id, key_hash, prefix, name, created_at, expires_at,
                 connection_ids, read_only, allow_deletes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, {connections}, $9, $10)",
            connections = D::json("$8"),
        ))
        .bind(api_key.id.as_str())
        .bind(api_key.environment_id.as_str())
        .bind(new.key_hash.as_str())
        .bind(&api_key.prefix)
        .bind(api_key.name.as_deref())
        .bind(D::time(api_key.created_at))
        .bind(api_key.expires_at.map(D::time))
        .bind(connection_ids.as_ref().map(json_text))
        .bind(i64::from(api_key.permissions.read_only))
        .bind(i64::from(api_key.permissions.deletes))
        .execute(executor)
        .await
        .map_err(|error| write_error(error, "an api key with this hash already exists"))?;
        Ok(api_key)
    }

    /// Serialises lifecycle changes of one environment's keys until the transaction ends: the
    /// environment row is written first (a no-op write), which takes its row lock on
    /// PostgreSQL and the database's write lock on SQLite, so the checks that follow
    /// (is another key still usable?) cannot race a concurrent revocation.
    async fn lock_environment_keys<'c, E>(
        executor: E,
        environment_id: &EnvironmentId,
    ) -> Result<(), StoreError>
    where
        E: Executor<'c, Database = D::Db>,
    {
        let locked = sqlx::query("UPDATE environments SET name = name WHERE id = $1")
            .bind(environment_id.as_str())
            .execute(executor)
            .await
            .map_err(|error| write_error(error, "environment lock conflicted"))?;
        if D::rows_affected(&locked) == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn api_key_on<'c, E>(
        executor: E,
        environment_id: &EnvironmentId,
        id: &ApiKeyId,
    ) -> Result<ApiKey, StoreError>
    where
        E: Executor<'c, Database = D::Db>,
    {
        let row = sqlx::query(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1 AND environment_id = $2"
        ))
        .bind(id.as_str())
        .bind(environment_id.as_str())
        .fetch_optional(executor)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).api_key()
    }

    async fn api_keys_on<'c, E>(
        executor: E,
        environment_id: &EnvironmentId,
    ) -> Result<Vec<ApiKey>, StoreError>
    where
        E: Executor<'c, Database = D::Db>,
    {
        let rows = sqlx::query(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE environment_id = $1"
        ))
        .bind(environment_id.as_str())
        .fetch_all(executor)
        .await
        .map_err(read_error)?;
        rows.iter().map(|row| Columns::<D>(row).api_key()).collect()
    }

    async fn insert_connection_on<'c, E>(
        executor: E,
        new: NewConnection,
    ) -> Result<Connection, StoreError>
    where
        E: Executor<'c, Database = D::Db>,
    {
        let now = timestamp::now();
        let connection = Connection {
            id: new.id,
            environment_id: new.environment_id,
            provider: new.provider,
            status: new.status,
            account: new.account,
            credentials: new.credentials,
            credentials_expires_at: new.credentials_expires_at.map(timestamp::truncate),
            created_at: now,
            updated_at: now,
        };
        sqlx::query(&format!(
            "INSERT INTO connections ({CONNECTION_COLUMNS})
             VALUES ($1, $2, $3, $4, {account}, $6, $7, $8, $8)",
            account = D::json("$5"),
        ))
        .bind(connection.id.as_str())
        .bind(connection.environment_id.as_str())
        .bind(&connection.provider)
        .bind(connection.status.as_str())
        .bind(json_text(&connection.account))
        .bind(connection.credentials.to_bytes())
        .bind(connection.credentials_expires_at.map(D::time))
        .bind(D::time(now))
        .execute(executor)
        .await
        .map_err(|error| {
            write_error(
                error,
                &format!("connection `{}` already exists", connection.id),
            )
        })?;
        Ok(connection)
    }

    async fn update_connection_on<'c, E>(
        executor: E,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
        update: ConnectionUpdate,
    ) -> Result<Connection, StoreError>
    where
        E: Executor<'c, Database = D::Db>,
    {
        // One statement under the write lock (SQLite) or row lock (Postgres) it takes: a
        // concurrent update waits, then sees this one's values, so no write is lost and
        // `updated_at` keeps increasing.
        let row = sqlx::query(&format!(
            "UPDATE connections SET
                 status = COALESCE($1, status),
                 account = COALESCE({account}, account),
                 credentials = COALESCE($3, credentials),
                 credentials_expires_at = CASE WHEN $7 = 1 THEN $8 ELSE credentials_expires_at END,
                 updated_at = {updated_at}
             WHERE id = $5 AND environment_id = $6
             RETURNING {CONNECTION_COLUMNS}",
            account = D::json("$2"),
            updated_at = D::later("$4", "updated_at"),
        ))
        .bind(update.status.map(ConnectionStatus::as_str))
        .bind(update.account.as_ref().map(json_text))
        .bind(update.credentials.as_ref().map(Sealed::to_bytes))
        .bind(D::time(timestamp::now()))
        .bind(id.as_str())
        .bind(environment_id.as_str())
        .bind(i64::from(update.credentials_expires_at.is_some()))
        .bind(
            update
                .credentials_expires_at
                .flatten()
                .map(|at| D::time(timestamp::truncate(at))),
        )
        .fetch_optional(executor)
        .await
        .map_err(|error| write_error(error, "connection update conflicts"))?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).connection()
    }

    async fn insert_event_on<'c, E>(executor: E, event: &Event) -> Result<(), StoreError>
    where
        E: Executor<'c, Database = D::Db>,
    {
        sqlx::query(&format!(
            "INSERT INTO events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, {payload}, $6)",
            payload = D::json("$5"),
        ))
        .bind(event.id.as_str())
        .bind(event.environment_id.as_str())
        .bind(event.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(&event.kind)
        .bind(json_text(&event.payload))
        .bind(D::time(event.created_at))
        .execute(executor)
        .await
        .map_err(|error| write_error(error, "event id already exists"))?;
        Ok(())
    }

    /// Writes the outbox row announcing `event` to webhooks, when it is a `connection.*` or
    /// `sync.*` event and its environment has an endpoint; run in the event's transaction.
    async fn outbox_event_on<'c, E>(executor: E, event: &Event) -> Result<(), StoreError>
    where
        E: Executor<'c, Database = D::Db>,
    {
        if !store::is_webhook_event(&event.kind) {
            return Ok(());
        }
        let mut data = serde_json::json!({
            "event_id": event.id,
            "connection_id": event.connection_id,
        });
        if let (Some(data), Some(payload)) = (data.as_object_mut(), event.payload.as_object()) {
            for (name, value) in payload {
                data.entry(name.clone()).or_insert_with(|| value.clone());
            }
        }
        let ordering_key = match &event.connection_id {
            Some(id) => format!("connection:{id}"),
            None => format!("environment:{}", event.environment_id),
        };
        Self::outbox_on(
            executor,
            &event.environment_id,
            event.connection_id.as_ref(),
            &event.kind,
            &ordering_key,
            None,
            &data,
            None,
            event.created_at,
        )
        .await
    }

    /// Writes one outbox row, when the environment has a webhook endpoint.
    #[allow(clippy::too_many_arguments, reason = "one column each")]
    async fn outbox_on<'c, E>(
        executor: E,
        environment_id: &EnvironmentId,
        connection_id: Option<&ConnectionId>,
        event_type: &str,
        ordering_key: &str,
        change_seq: Option<u64>,
        data: &Value,
        record: Option<&Value>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>
    where
        E: Executor<'c, Database = D::Db>,
    {
        sqlx::query(&format!(
            "INSERT INTO webhook_outbox (environment_id, connection_id, event_type, ordering_key,
                 change_seq, data, record, created_at)
             SELECT $1, $2, $3, $4, $5, {data}, {record}, $8
             WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE environment_id = $1 AND enabled = 1)",
            data = D::json("$6"),
            record = D::json("$7"),
        ))
        .bind(environment_id.as_str())
        .bind(connection_id.map(ConnectionId::as_str))
        .bind(event_type)
        .bind(ordering_key)
        .bind(change_seq.map(fence_value))
        .bind(json_text(data))
        .bind(record.map(json_text))
        .bind(D::time(at))
        .execute(executor)
        .await
        .map_err(|error| write_error(error, "outbox row conflicts"))?;
        Ok(())
    }

    /// The environment's webhook endpoint, or why not: [`StoreError::NotFound`].
    async fn endpoint_of(
        &self,
        environment_id: &EnvironmentId,
        id: &WebhookEndpointId,
    ) -> Result<WebhookEndpoint, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_ENDPOINT_COLUMNS} FROM webhook_endpoints
             WHERE id = $1 AND environment_id = $2"
        ))
        .bind(id.as_str())
        .bind(environment_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).webhook_endpoint()
    }

    /// Connections of an environment after `after`, oldest first, at most `fetch` of them.
    async fn connections_after(
        &self,
        environment_id: &EnvironmentId,
        after: Option<&Cursor>,
        fetch: i64,
    ) -> Result<Vec<Connection>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections
             WHERE environment_id = $1 AND ($2 IS NULL OR (created_at, id) > ($2, $3))
             ORDER BY created_at, id
             LIMIT $4"
        ))
        .bind(environment_id.as_str())
        .bind(after.map(|cursor| D::time(cursor.created_at)))
        .bind(after.map(|cursor| cursor.id.as_str()))
        .bind(fetch)
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).connection())
            .collect()
    }

    /// Events of an environment after `after`, oldest first, at most `fetch` of them.
    async fn events_after(
        &self,
        environment_id: &EnvironmentId,
        connection_id: Option<&ConnectionId>,
        kind: Option<&str>,
        after: Option<&Cursor>,
        fetch: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE environment_id = $1
               AND ($2 IS NULL OR connection_id = $2)
               AND ($3 IS NULL OR kind = $3)
               AND ($4 IS NULL OR (created_at, id) > ($4, $5))
             ORDER BY created_at, id
             LIMIT $6"
        ))
        .bind(environment_id.as_str())
        .bind(connection_id.map(ConnectionId::as_str))
        .bind(kind)
        .bind(after.map(|cursor| D::time(cursor.created_at)))
        .bind(after.map(|cursor| cursor.id.as_str()))
        .bind(fetch)
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter().map(|row| Columns::<D>(row).event()).collect()
    }

    /// One attempt at appending an override version: `Ok(None)` when `expected_version` is not
    /// the latest, [`StoreError::Conflict`] when a concurrent writer took the version number.
    async fn append_override(
        &self,
        scope: &OverrideScope,
        document: Option<&Value>,
        revision: &str,
        expected_version: Option<u32>,
    ) -> Result<Option<OverrideVersion>, StoreError> {
        // Two Postgres writers reading the same latest version both try to insert the next one;
        // the unique index makes the second wait for the first and then fail, so neither
        // overwrites. SQLite runs the read and the insert under its one write lock.
        let row = sqlx::query(&format!(
            "INSERT INTO connector_overrides ({OVERRIDE_COLUMNS})
             SELECT $1, $2, $3, latest + 1, {document}, $5, $6
             FROM (SELECT COALESCE(MAX(version), 0) AS latest FROM connector_overrides
                   WHERE {OVERRIDE_SCOPE}) AS head
             WHERE $7 IS NULL OR latest = $7
             RETURNING {OVERRIDE_COLUMNS}",
            document = D::json("$4"),
        ))
        .bind(scope.environment_id.as_str())
        .bind(&scope.provider)
        .bind(scope.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(document.map(json_text))
        .bind(revision)
        .bind(D::time(timestamp::now()))
        .bind(expected_version.map(i64::from))
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "a concurrent writer took this override version"))?;
        row.as_ref()
            .map(|row| Columns::<D>(row).override_version())
            .transpose()
    }

    /// Reads versions of one scope; `rest` is the SQL after the scope's condition (more
    /// conditions, the order, a limit), in which `$4` is bound to `version`.
    async fn override_versions(
        &self,
        scope: &OverrideScope,
        rest: &str,
        version: u32,
    ) -> Result<Vec<OverrideVersion>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OVERRIDE_COLUMNS} FROM connector_overrides
             WHERE {OVERRIDE_SCOPE} AND {rest}"
        ))
        .bind(scope.environment_id.as_str())
        .bind(&scope.provider)
        .bind(scope.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(i64::from(version))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).override_version())
            .collect()
    }
}

#[async_trait::async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> Option<Vec<u8>>: Encode<'q, D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db>,
    for<'q> Option<D::Time>: Encode<'q, D::Db>,
    for<'n> &'n str: ColumnIndex<<D::Db as Database>::Row>,
    for<'r> String: Decode<'r, D::Db>,
    for<'r> i64: Decode<'r, D::Db>,
    for<'r> Vec<u8>: Decode<'r, D::Db>,
    for<'r> Json<Value>: Decode<'r, D::Db> + Type<D::Db>,
    for<'r> Json<Vec<String>>: Decode<'r, D::Db> + Type<D::Db>,
{
    async fn migrate(&self) -> Result<(), StoreError> {
        D::migrate(&self.pool).await
    }

    async fn create_environment(&self, name: &str) -> Result<Environment, StoreError> {
        let environment = Environment {
            id: EnvironmentId::generate(),
            name: name.to_owned(),
            created_at: timestamp::now(),
        };
        sqlx::query("INSERT INTO environments (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(environment.id.as_str())
            .bind(&environment.name)
            .bind(D::time(environment.created_at))
            .execute(&self.pool)
            .await
            .map_err(|error| write_error(error, "environment id already exists"))?;
        Ok(environment)
    }

    async fn get_environment(&self, id: &EnvironmentId) -> Result<Environment, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM environments WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(read_error)?
            .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).environment()
    }

    async fn insert_api_key(
        &self,
        environment_id: &EnvironmentId,
        key_hash: &ApiKeyHash,
        prefix: &str,
    ) -> Result<ApiKey, StoreError> {
        self.create_api_key(NewApiKey {
            environment_id: environment_id.clone(),
            key_hash: key_hash.clone(),
            prefix: prefix.to_owned(),
            name: None,
            expires_at: None,
            permissions: store::KeyPermissions::full(),
        })
        .await
    }

    async fn create_api_key(&self, new: NewApiKey) -> Result<ApiKey, StoreError> {
        Self::insert_api_key_on(&self.pool, new).await
    }

    async fn find_api_key(&self, key_hash: &ApiKeyHash) -> Result<ApiKey, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"
        ))
        .bind(key_hash.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).api_key()
    }

    async fn list_api_keys(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE environment_id = $1
             ORDER BY created_at, id"
        ))
        .bind(environment_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter().map(|row| Columns::<D>(row).api_key()).collect()
    }

    async fn revoke_api_key(
        &self,
        environment_id: &EnvironmentId,
        id: &ApiKeyId,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, StoreError> {
        let now = timestamp::truncate(now);
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        Self::lock_environment_keys(&mut *transaction, environment_id).await?;
        let key = Self::api_key_on(&mut *transaction, environment_id, id).await?;
        if key.revoked_at.is_some() {
            return Ok(key);
        }
        let others = Self::api_keys_on(&mut *transaction, environment_id).await?;
        if !others
            .iter()
            .any(|other| other.id != key.id && other.usable_at(now))
        {
            return Err(StoreError::Conflict(
                "the environment's last usable api key cannot be revoked".to_owned(),
            ));
        }
        sqlx::query("UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND environment_id = $2")
            .bind(id.as_str())
            .bind(environment_id.as_str())
            .bind(D::time(now))
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "api key revocation conflicted"))?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(ApiKey {
            revoked_at: Some(now),
            ..key
        })
    }

    async fn rotate_api_key(
        &self,
        environment_id: &EnvironmentId,
        id: &ApiKeyId,
        new: NewApiKey,
        old_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(ApiKey, ApiKey), StoreError> {
        if &new.environment_id != environment_id {
            return Err(StoreError::NotFound);
        }
        let old_expires_at = timestamp::truncate(old_expires_at);
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        Self::lock_environment_keys(&mut *transaction, environment_id).await?;
        let old = Self::api_key_on(&mut *transaction, environment_id, id).await?;
        if !old.usable_at(now) {
            return Err(StoreError::Conflict(
                "a revoked or expired api key cannot be rotated".to_owned(),
            ));
        }
        let expires_at = match old.expires_at {
            Some(current) if current <= old_expires_at => current,
            _ => old_expires_at,
        };
        sqlx::query("UPDATE api_keys SET expires_at = $3 WHERE id = $1 AND environment_id = $2")
            .bind(id.as_str())
            .bind(environment_id.as_str())
            .bind(D::time(expires_at))
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "api key rotation conflicted"))?;
        let created = Self::insert_api_key_on(&mut *transaction, new).await?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok((
            ApiKey {
                expires_at: Some(expires_at),
                ..old
            },
            created,
        ))
    }

    async fn touch_api_key(&self, id: &ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $2
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(id.as_str())
        .bind(D::time(timestamp::truncate(at)))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "api key use conflicted"))?;
        Ok(())
    }

    async fn insert_connection(&self, new: NewConnection) -> Result<Connection, StoreError> {
        Self::insert_connection_on(&self.pool, new).await
    }

    async fn get_connection(
        &self,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
    ) -> Result<Connection, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1 AND environment_id = $2"
        ))
        .bind(id.as_str())
        .bind(environment_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).connection()
    }

    async fn list_connections(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<Vec<Connection>, StoreError> {
        self.connections_after(environment_id, None, i64::MAX).await
    }

    async fn list_connections_page(
        &self,
        environment_id: &EnvironmentId,
        page: &PageRequest,
    ) -> Result<Page<Connection>, StoreError> {
        let items = self
            .connections_after(environment_id, page.after.as_ref(), fetch_for(page))
            .await?;
        Ok(page_of(items, page.limit, |connection| {
            Cursor::after(connection.created_at, connection.id.as_str())
        }))
    }

    async fn insert_connection_with_event(
        &self,
        new: NewConnection,
        event: NewEvent,
    ) -> Result<(Connection, Event), StoreError> {
        let event = event_of(event);
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        let connection = Self::insert_connection_on(&mut *transaction, new).await?;
        Self::insert_event_on(&mut *transaction, &event).await?;
        Self::outbox_event_on(&mut *transaction, &event).await?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok((connection, event))
    }

    async fn update_connection(
        &self,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
        update: ConnectionUpdate,
    ) -> Result<Connection, StoreError> {
        Self::update_connection_on(&self.pool, environment_id, id, update).await
    }

    async fn update_connection_with_event(
        &self,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
        update: ConnectionUpdate,
        event: NewEvent,
    ) -> Result<(Connection, Event), StoreError> {
        let event = event_of(event);
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        let connection =
            Self::update_connection_on(&mut *transaction, environment_id, id, update).await?;
        Self::insert_event_on(&mut *transaction, &event).await?;
        Self::outbox_event_on(&mut *transaction, &event).await?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok((connection, event))
    }

    async fn delete_connection(
        &self,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
    ) -> Result<(), StoreError> {
        // Discovered fields, overrides, sessions and states go with it through `ON DELETE CASCADE`.
        let result = sqlx::query("DELETE FROM connections WHERE id = $1 AND environment_id = $2")
            .bind(id.as_str())
            .bind(environment_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(|error| write_error(error, "connection delete conflicts"))?;
        if D::rows_affected(&result) == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn put_discovered_fields(
        &self,
        connection_id: &ConnectionId,
        resource: &str,
        fields: &Value,
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO discovered_fields (connection_id, resource, fields, fetched_at)
             VALUES ($1, $2, {fields}, $4)
             ON CONFLICT (connection_id, resource) DO UPDATE
             SET fields = excluded.fields, fetched_at = excluded.fetched_at",
            fields = D::json("$3"),
        ))
        .bind(connection_id.as_str())
        .bind(resource)
        .bind(json_text(fields))
        .bind(D::time(timestamp::truncate(fetched_at)))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "discovered fields conflict"))?;
        Ok(())
    }

    async fn get_discovered_fields(
        &self,
        connection_id: &ConnectionId,
        resource: &str,
    ) -> Result<Option<DiscoveredFields>, StoreError> {
        let row = sqlx::query(
            "SELECT connection_id, resource, fields, fetched_at FROM discovered_fields
             WHERE connection_id = $1 AND resource = $2",
        )
        .bind(connection_id.as_str())
        .bind(resource)
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?;
        row.as_ref()
            .map(|row| Columns::<D>(row).discovered_fields())
            .transpose()
    }

    async fn put_oauth_app(&self, app: &OAuthApp) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO oauth_apps ({OAUTH_APP_COLUMNS})
             VALUES ($1, $2, $3, $4, {redirect_uris}, {scopes}, $7)
             ON CONFLICT (environment_id, provider) DO UPDATE SET
                 client_id = excluded.client_id,
                 client_secret = excluded.client_secret,
                 redirect_uris = excluded.redirect_uris,
                 scopes = excluded.scopes,
                 updated_at = excluded.updated_at",
            redirect_uris = D::json("$5"),
            scopes = D::json("$6"),
        ))
        .bind(app.environment_id.as_str())
        .bind(&app.provider)
        .bind(&app.client_id)
        .bind(app.client_secret.to_bytes())
        .bind(json_text(&app.redirect_uris))
        .bind(app.scopes.as_deref().map(json_text))
        .bind(D::time(timestamp::truncate(app.updated_at)))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "oauth app conflicts"))?;
        Ok(())
    }

    async fn get_oauth_app(
        &self,
        environment_id: &EnvironmentId,
        provider: &str,
    ) -> Result<OAuthApp, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {OAUTH_APP_COLUMNS} FROM oauth_apps WHERE environment_id = $1 AND provider = $2"
        ))
        .bind(environment_id.as_str())
        .bind(provider)
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).oauth_app()
    }

    async fn list_oauth_apps(&self) -> Result<Vec<OAuthApp>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OAUTH_APP_COLUMNS} FROM oauth_apps
             ORDER BY environment_id {bytewise}, provider {bytewise}",
            bytewise = D::BYTEWISE,
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).oauth_app())
            .collect()
    }

    async fn set_branding(
        &self,
        environment_id: &EnvironmentId,
        branding: &Branding,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(&format!(
            "UPDATE environments SET
                 branding_display_name = $1, branding_logo_url = $2, branding_primary_color = $3,
                 allowed_redirect_urls = {urls}
             WHERE id = $4",
            urls = D::json("$5"),
        ))
        .bind(branding.display_name.as_deref())
        .bind(branding.logo_url.as_deref())
        .bind(branding.primary_color.as_deref())
        .bind(environment_id.as_str())
        .bind(json_text(&branding.allowed_redirect_urls))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "branding conflicts"))?;
        if D::rows_affected(&result) == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn get_branding(&self, environment_id: &EnvironmentId) -> Result<Branding, StoreError> {
        let row = sqlx::query(
            "SELECT branding_display_name, branding_logo_url, branding_primary_color,
                 allowed_redirect_urls
             FROM environments WHERE id = $1",
        )
        .bind(environment_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).branding()
    }

    async fn set_evaluation_limits(
        &self,
        environment_id: &EnvironmentId,
        limits: &Value,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(&format!(
            "UPDATE environments SET evaluation_limits = {limits} WHERE id = $2",
            limits = D::json("$1"),
        ))
        .bind(json_text(limits))
        .bind(environment_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "evaluation limits conflict"))?;
        if D::rows_affected(&result) == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn get_evaluation_limits(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<Value, StoreError> {
        let row = sqlx::query("SELECT evaluation_limits FROM environments WHERE id = $1")
            .bind(environment_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(read_error)?
            .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).evaluation_limits()
    }

    async fn set_default_syncs(
        &self,
        environment_id: &EnvironmentId,
        syncs: &Value,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(&format!(
            "UPDATE environments SET default_syncs = {syncs} WHERE id = $2",
            syncs = D::json("$1"),
        ))
        .bind(json_text(syncs))
        .bind(environment_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "default syncs conflict"))?;
        if D::rows_affected(&result) == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn get_default_syncs(&self, environment_id: &EnvironmentId) -> Result<Value, StoreError> {
        let row = sqlx::query("SELECT default_syncs FROM environments WHERE id = $1")
            .bind(environment_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(read_error)?
            .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).default_syncs()
    }

    async fn insert_connect_session(&self, session: &ConnectSession) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO connect_sessions ({CONNECT_SESSION_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&session.token_hash)
        .bind(session.environment_id.as_str())
        .bind(&session.end_user_id)
        .bind(session.provider.as_deref())
        .bind(&session.redirect_url)
        .bind(session.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(D::time(timestamp::truncate(session.expires_at)))
        .bind(D::time(timestamp::truncate(session.created_at)))
        .bind(
            session
                .consumed_at
                .map(|at| D::time(timestamp::truncate(at))),
        )
        .bind(i64::from(session.oauth_starts))
        .execute(&self.pool)
        .await
        .map_err(|error| {
            write_error(
                error,
                "a connect session with this token hash already exists",
            )
        })?;
        Ok(())
    }

    async fn get_connect_session(&self, token_hash: &str) -> Result<ConnectSession, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECT_SESSION_COLUMNS} FROM connect_sessions WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).connect_session()
    }

    async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        Self::insert_oauth_state_on(&self.pool, state).await
    }

    async fn take_oauth_state(&self, state_hash: &str) -> Result<OAuthState, StoreError> {
        // One statement: a concurrent second `DELETE` waits for this one's lock (SQLite's single
        // writer, Postgres's row lock), then finds the row gone.
        let row = sqlx::query(&format!(
            "DELETE FROM oauth_states WHERE state_hash = $1 RETURNING {OAUTH_STATE_COLUMNS}"
        ))
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "oauth state take conflicts"))?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).oauth_state()
    }

    async fn start_oauth(
        &self,
        state: &OAuthState,
        now: DateTime<Utc>,
        max_starts: u32,
    ) -> Result<(), StoreError> {
        // The count is the transaction's first write: SQLite's write lock, or Postgres's lock on
        // the session row, makes concurrent starts on one session take their turns, each seeing
        // the count the one before left.
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        let counted = sqlx::query(
            "UPDATE connect_sessions SET oauth_starts = oauth_starts + 1
             WHERE token_hash = $1 AND environment_id = $2 AND consumed_at IS NULL
                 AND expires_at > $3 AND oauth_starts < $4",
        )
        .bind(&state.session_token_hash)
        .bind(state.environment_id.as_str())
        .bind(D::time(timestamp::truncate(now)))
        .bind(i64::from(max_starts))
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "oauth start conflicts"))?;
        if D::rows_affected(&counted) == 0 {
            transaction.rollback().await.map_err(StoreError::database)?;
            let session = sqlx::query(
                "SELECT 1 FROM connect_sessions WHERE token_hash = $1 AND environment_id = $2",
            )
            .bind(&state.session_token_hash)
            .bind(state.environment_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(read_error)?;
            return Err(match session {
                Some(_) => StoreError::Conflict(
                    "the connect session is used, expired or has started all its sign-ins"
                        .to_owned(),
                ),
                None => StoreError::NotFound,
            });
        }
        Self::insert_oauth_state_on(&mut *transaction, state).await?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(())
    }

    async fn complete_connect_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        completion: SessionCompletion,
        event: NewEvent,
    ) -> Result<(Connection, Event), StoreError> {
        let (connection_id, environment_id) = match &completion {
            SessionCompletion::Create(new) => (None, Some(new.environment_id.as_str())),
            SessionCompletion::Reauthorize { id, .. } => (Some(id.as_str()), None),
        };
        let event = event_of(event);
        // Marking the session used is the transaction's first write and decides in one
        // statement: a concurrent second use waits for this one's lock (SQLite's single writer,
        // Postgres's row lock), then finds the session used and changes nothing.
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        let used = sqlx::query(
            "UPDATE connect_sessions SET consumed_at = $2
             WHERE token_hash = $1 AND consumed_at IS NULL AND expires_at > $2
                 AND COALESCE(connection_id, '') = COALESCE($3, '')
                 AND ($4 IS NULL OR environment_id = $4)
             RETURNING environment_id",
        )
        .bind(token_hash)
        .bind(D::time(timestamp::truncate(now)))
        .bind(connection_id)
        .bind(environment_id)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "connect session use conflicts"))?;
        let Some(used) = used else {
            transaction.rollback().await.map_err(StoreError::database)?;
            return Err(if self.connect_session_exists(token_hash).await? {
                StoreError::Conflict(
                    "the connect session is used, expired or for another connection".to_owned(),
                )
            } else {
                StoreError::NotFound
            });
        };
        let session_environment: EnvironmentId = Columns::<D>(&used).environment_id()?;
        let connection = match completion {
            SessionCompletion::Create(new) => {
                Self::insert_connection_on(&mut *transaction, new).await?
            }
            SessionCompletion::Reauthorize { id, update } => {
                Self::update_connection_on(&mut *transaction, &session_environment, &id, update)
                    .await?
            }
        };
        Self::insert_event_on(&mut *transaction, &event).await?;
        Self::outbox_event_on(&mut *transaction, &event).await?;
        // The link's other sign-ins in flight end with it.
        sqlx::query("DELETE FROM oauth_states WHERE session_token_hash = $1")
            .bind(token_hash)
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "oauth state delete conflicts"))?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok((connection, event))
    }

    async fn purge_connect_sessions(
        &self,
        before: DateTime<Utc>,
    ) -> Result<PurgedSessions, StoreError> {
        let before = timestamp::truncate(before);
        let sessions = sqlx::query("DELETE FROM connect_sessions WHERE expires_at <= $1")
            .bind(D::time(before))
            .execute(&self.pool)
            .await
            .map_err(|error| write_error(error, "connect session purge conflicts"))?;
        let states = sqlx::query(
            "DELETE FROM oauth_states WHERE expires_at <= $1 OR NOT EXISTS (
                 SELECT 1 FROM connect_sessions
                 WHERE connect_sessions.token_hash = oauth_states.session_token_hash
             )",
        )
        .bind(D::time(before))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "oauth state purge conflicts"))?;
        Ok(PurgedSessions {
            sessions: D::rows_affected(&sessions),
            oauth_states: D::rows_affected(&states),
        })
    }

    async fn insert_event(&self, event: NewEvent) -> Result<Event, StoreError> {
        let event = event_of(event);
        if !store::is_webhook_event(&event.kind) {
            Self::insert_event_on(&self.pool, &event).await?;
            return Ok(event);
        }
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        Self::insert_event_on(&mut *transaction, &event).await?;
        Self::outbox_event_on(&mut *transaction, &event).await?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(event)
    }

    async fn list_events(
        &self,
        environment_id: &EnvironmentId,
        connection_id: Option<&ConnectionId>,
        kind: Option<&str>,
    ) -> Result<Vec<Event>, StoreError> {
        self.events_after(environment_id, connection_id, kind, None, i64::MAX)
            .await
    }

    async fn list_events_page(
        &self,
        environment_id: &EnvironmentId,
        connection_id: Option<&ConnectionId>,
        kind: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Event>, StoreError> {
        let items = self
            .events_after(
                environment_id,
                connection_id,
                kind,
                page.after.as_ref(),
                fetch_for(page),
            )
            .await?;
        Ok(page_of(items, page.limit, |event| {
            Cursor::after(event.created_at, event.id.as_str())
        }))
    }

    async fn get_connection_by_id(&self, id: &ConnectionId) -> Result<Connection, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).connection()
    }

    async fn list_connections_expiring_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Connection>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections
             WHERE credentials_expires_at IS NOT NULL AND credentials_expires_at < $1
               AND status = $2
             ORDER BY credentials_expires_at, id
             LIMIT $3"
        ))
        .bind(D::time(timestamp::truncate(before)))
        .bind(ConnectionStatus::Active.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).connection())
            .collect()
    }

    async fn acquire_refresh_lease(
        &self,
        id: &ConnectionId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        // One statement under the write or row lock: a concurrent taker waits, then re-checks the
        // condition on the row this one wrote, and finds the lease held.
        let row = sqlx::query(
            "UPDATE connections SET
                 refresh_fence = refresh_fence + 1,
                 refresh_lease_holder = $1,
                 refresh_lease_until = $2
             WHERE id = $3
               AND (refresh_lease_holder IS NULL OR refresh_lease_until <= $4
                    OR refresh_lease_holder = $1)
             RETURNING refresh_fence",
        )
        .bind(holder)
        .bind(D::time(timestamp::add(now, ttl)))
        .bind(id.as_str())
        .bind(D::time(timestamp::truncate(now)))
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "refresh lease conflicts"))?;
        match row {
            Some(row) => Ok(Some(Columns::<D>(&row).count("refresh_fence")?)),
            None if self.connection_exists(id).await? => Ok(None),
            None => Err(StoreError::NotFound),
        }
    }

    async fn release_refresh_lease(&self, id: &ConnectionId, fence: u64) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE connections SET refresh_lease_holder = NULL, refresh_lease_until = NULL
             WHERE id = $1 AND refresh_fence = $2",
        )
        .bind(id.as_str())
        .bind(fence_value(fence))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "refresh lease release conflicts"))?;
        if D::rows_affected(&result) == 0 && !self.connection_exists(id).await? {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn enqueue_job(&self, new: NewJob) -> Result<(Job, bool), StoreError> {
        let now = timestamp::now();
        let job = Job {
            id: JobId::generate(),
            environment_id: new.environment_id,
            connection_id: new.connection_id,
            kind: new.kind,
            key: new.key,
            payload: new.payload,
            status: JobStatus::Queued,
            run_at: timestamp::truncate(new.run_at),
            attempts: 0,
            max_attempts: new.max_attempts.max(1),
            lease_holder: None,
            lease_until: None,
            fence: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        // The live job holding the key may end between a refused insert and the read after it;
        // then the insert is tried again. Each round that loses saw another job end.
        for _ in 0..OVERRIDE_WRITE_ATTEMPTS {
            let inserted = sqlx::query(&format!(
                "INSERT INTO jobs ({JOB_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, {payload}, $7, $8, 0, $9, NULL, NULL, 0, NULL, $10, $10)
                 ON CONFLICT (key) WHERE status IN ('queued', 'running', 'paused') DO NOTHING
                 RETURNING {JOB_COLUMNS}",
                payload = D::json("$6"),
            ))
            .bind(job.id.as_str())
            .bind(job.environment_id.as_str())
            .bind(job.connection_id.as_ref().map(ConnectionId::as_str))
            .bind(&job.kind)
            .bind(job.key.as_deref())
            .bind(json_text(&job.payload))
            .bind(JobStatus::Queued.as_str())
            .bind(D::time(job.run_at))
            .bind(i64::from(job.max_attempts))
            .bind(D::time(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(|error| write_error(error, "job id already exists"))?;
            if let Some(row) = inserted {
                return Ok((Columns::<D>(&row).job()?, true));
            }
            let live = sqlx::query(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs
                 WHERE key = $1 AND status IN ('queued', 'running', 'paused')"
            ))
            .bind(job.key.as_deref())
            .fetch_optional(&self.pool)
            .await
            .map_err(read_error)?;
            if let Some(row) = live {
                return Ok((Columns::<D>(&row).job()?, false));
            }
        }
        Err(StoreError::Conflict(
            "the job's key kept changing hands; try again".to_owned(),
        ))
    }

    async fn claim_jobs(
        &self,
        kind: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let now_t = D::time(timestamp::truncate(now));
        // Jobs whose worker is gone with no attempt left end here, before the claim.
        sqlx::query(
            "UPDATE jobs SET status = 'failed', lease_until = NULL, updated_at = $2,
                 last_error = COALESCE(last_error, 'its worker stopped renewing the lease')
                     || ' (no attempt left)'
             WHERE kind = $1 AND status = 'running' AND lease_until <= $2
               AND attempts >= max_attempts",
        )
        .bind(kind)
        .bind(D::time(timestamp::truncate(now)))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "job update conflicts"))?;
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET status = 'running', lease_holder = $1, lease_until = $2,
                 attempts = attempts + 1, fence = fence + 1, updated_at = $3
             WHERE id IN (
                 SELECT id FROM jobs
                 WHERE kind = $4 AND ((status = 'queued' AND run_at <= $3)
                     OR (status = 'running' AND lease_until <= $3 AND attempts < max_attempts))
                 ORDER BY run_at, id
                 LIMIT $5
                 {skip_locked})
             RETURNING {JOB_COLUMNS}",
            skip_locked = D::SKIP_LOCKED,
        ))
        .bind(holder)
        .bind(D::time(timestamp::add(now, lease)))
        .bind(now_t)
        .bind(kind)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(|error| write_error(error, "job claim conflicts"))?;
        let mut jobs = rows
            .iter()
            .map(|row| Columns::<D>(row).job())
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
        Ok(jobs)
    }

    async fn renew_job_lease(
        &self,
        id: &JobId,
        fence: u64,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Job, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE jobs SET lease_until = $1, updated_at = $2
             WHERE id = $3 AND fence = $4 AND status = 'running'
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(D::time(timestamp::add(now, lease)))
        .bind(D::time(timestamp::truncate(now)))
        .bind(id.as_str())
        .bind(fence_value(fence))
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "job update conflicts"))?;
        self.fenced_job(id, row, "the job's lease is no longer held with this fence")
            .await
    }

    async fn finish_job(
        &self,
        id: &JobId,
        fence: u64,
        outcome: JobOutcome,
        now: DateTime<Utc>,
    ) -> Result<Job, StoreError> {
        // $1 status (Retry: queued, or failed when no attempt is left), $2 run_at or NULL (keep),
        // $3 last_error, $4 reset attempts, $5 now, $6 id, $7 fence.
        let (status, run_at, error, reset) = match outcome {
            JobOutcome::Done => ("done", None, None, false),
            JobOutcome::Retry { at, error } => ("retry", Some(at), Some(error), false),
            JobOutcome::Reschedule { at } => ("queued", Some(at), None, true),
            JobOutcome::Fail { error } => ("failed", None, Some(error), false),
        };
        let row = sqlx::query(&format!(
            "UPDATE jobs SET
                 status = CASE WHEN $1 <> 'retry' THEN $1
                               WHEN attempts >= max_attempts THEN 'failed'
                               ELSE 'queued' END,
                 run_at = COALESCE($2, run_at),
                 last_error = $3,
                 attempts = CASE WHEN $4 = 1 THEN 0 ELSE attempts END,
                 lease_until = NULL,
                 updated_at = $5
             WHERE id = $6 AND fence = $7 AND status = 'running'
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(status)
        .bind(run_at.map(|at| D::time(timestamp::truncate(at))))
        .bind(error)
        .bind(i64::from(reset))
        .bind(D::time(timestamp::truncate(now)))
        .bind(id.as_str())
        .bind(fence_value(fence))
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "job update conflicts"))?;
        self.fenced_job(id, row, "the job is no longer held with this fence")
            .await
    }

    async fn cancel_job(
        &self,
        environment_id: &EnvironmentId,
        id: &JobId,
        now: DateTime<Utc>,
    ) -> Result<Job, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = 'cancelled', lease_until = NULL, updated_at = $1
             WHERE id = $2 AND environment_id = $3 AND status IN ('queued', 'running', 'paused')
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(D::time(timestamp::truncate(now)))
        .bind(id.as_str())
        .bind(environment_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "job update conflicts"))?;
        match row {
            Some(row) => Columns::<D>(&row).job(),
            None => {
                self.get_job(environment_id, id).await?;
                Err(StoreError::Conflict("the job already ended".to_owned()))
            }
        }
    }

    async fn get_job(&self, environment_id: &EnvironmentId, id: &JobId) -> Result<Job, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND environment_id = $2"
        ))
        .bind(id.as_str())
        .bind(environment_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?;
        row.map_or(Err(StoreError::NotFound), |row| Columns::<D>(&row).job())
    }

    async fn control_job(
        &self,
        environment_id: &EnvironmentId,
        id: &JobId,
        control: JobControl,
        now: DateTime<Utc>,
    ) -> Result<(Job, bool), StoreError> {
        // Each control is one conditional write; a run interrupted by a pause does not count
        // as a failed attempt.
        let (set, from) = match control {
            JobControl::Pause => (
                "status = 'paused', lease_until = NULL,
                 attempts = CASE WHEN status = 'running' AND attempts > 0
                                 THEN attempts - 1 ELSE attempts END",
                "'queued', 'running'",
            ),
            JobControl::Resume => ("status = 'queued'", "'paused'"),
            JobControl::RunNow => ("run_at = $1", "'queued'"),
        };
        let row = sqlx::query(&format!(
            "UPDATE jobs SET {set}, updated_at = $1
             WHERE id = $2 AND environment_id = $3 AND status IN ({from})
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(D::time(timestamp::truncate(now)))
        .bind(id.as_str())
        .bind(environment_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "job update conflicts"))?;
        if let Some(row) = row {
            return Ok((Columns::<D>(&row).job()?, true));
        }
        let job = self.get_job(environment_id, id).await?;
        let unchanged = match control {
            JobControl::Pause => job.status == JobStatus::Paused,
            JobControl::Resume => job.status.is_live(),
            JobControl::RunNow => false,
        };
        if unchanged {
            return Ok((job, false));
        }
        Err(StoreError::Conflict(format!(
            "the job is {}",
            job.status.as_str()
        )))
    }

    async fn update_job_payload(
        &self,
        environment_id: &EnvironmentId,
        id: &JobId,
        payload: &Value,
        due_by: Option<DateTime<Utc>>,
    ) -> Result<Job, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE jobs SET payload = {payload},
                 run_at = CASE WHEN $2 IS NOT NULL AND status = 'queued' AND run_at > $2
                               THEN $2 ELSE run_at END,
                 updated_at = $3
             WHERE id = $4 AND environment_id = $5 AND status IN ('queued', 'running', 'paused')
             RETURNING {JOB_COLUMNS}",
            payload = D::json("$1"),
        ))
        .bind(json_text(payload))
        .bind(due_by.map(|at| D::time(timestamp::truncate(at))))
        .bind(D::time(timestamp::now()))
        .bind(id.as_str())
        .bind(environment_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "job update conflicts"))?;
        match row {
            Some(row) => Columns::<D>(&row).job(),
            None => {
                self.get_job(environment_id, id).await?;
                Err(StoreError::Conflict("the job already ended".to_owned()))
            }
        }
    }

    async fn list_jobs(
        &self,
        environment_id: &EnvironmentId,
        connection_id: Option<&ConnectionId>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs
             WHERE environment_id = $1 AND ($2 IS NULL OR connection_id = $2)
             ORDER BY created_at DESC, id DESC
             LIMIT $3"
        ))
        .bind(environment_id.as_str())
        .bind(connection_id.map(ConnectionId::as_str))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter().map(|row| Columns::<D>(row).job()).collect()
    }

    async fn purge_finished_jobs(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM jobs
             WHERE status NOT IN ('queued', 'running', 'paused') AND updated_at < $1",
        )
        .bind(D::time(timestamp::truncate(before)))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "job purge conflicts"))?;
        Ok(D::rows_affected(&result))
    }

    async fn apply_sync_page(
        &self,
        environment_id: &EnvironmentId,
        page: SyncPage,
    ) -> Result<AppliedPage, StoreError> {
        let now = timestamp::now();
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        // The first statement writes, so SQLite takes its write lock now.
        if let Some(claim) = &page.claim {
            Self::check_claim(&mut transaction, claim, now).await?;
        }
        // The environment's row stays locked until the commit, so sequence numbers are handed
        // out in commit order.
        let locked = sqlx::query("UPDATE environments SET change_seq = change_seq WHERE id = $1")
            .bind(environment_id.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "environment update conflicts"))?;
        let connection =
            sqlx::query("SELECT 1 FROM connections WHERE id = $1 AND environment_id = $2")
                .bind(page.connection_id.as_str())
                .bind(environment_id.as_str())
                .fetch_optional(&mut *transaction)
                .await
                .map_err(read_error)?;
        if D::rows_affected(&locked) == 0 || connection.is_none() {
            return Err(StoreError::NotFound);
        }
        // Changes are announced to webhooks only while the environment has an endpoint; then
        // the stored records are read too, to name the fields that changed.
        let outbox = sqlx::query(
            "SELECT 1 FROM webhook_endpoints WHERE environment_id = $1 AND enabled = 1",
        )
        .bind(environment_id.as_str())
        .fetch_optional(&mut *transaction)
        .await
        .map_err(read_error)?
        .is_some();
        let mut before_records: std::collections::HashMap<String, Value> =
            std::collections::HashMap::new();

        // The ids a reconciliation pass marks seen: the upserts and the others it names.
        let seen = page.seen;
        let seen_ids: Vec<String> = match &seen {
            Some(seen) => page
                .upserts
                .iter()
                .map(|input| input.remote_id.clone())
                .chain(seen.ids.iter().cloned())
                .collect(),
            None => Vec::new(),
        };
        // The page's last word on each id, in the order the ids first appear.
        let mut order: Vec<String> = Vec::new();
        let mut last: std::collections::HashMap<String, Option<SyncedInput>> =
            std::collections::HashMap::new();
        for input in page.upserts {
            if !last.contains_key(&input.remote_id) {
                order.push(input.remote_id.clone());
            }
            last.insert(input.remote_id.clone(), Some(input));
        }
        for remote_id in page.deletes {
            if !last.contains_key(&remote_id) {
                order.push(remote_id.clone());
            }
            last.insert(remote_id, None);
        }
        let mut stored: std::collections::HashMap<String, (String, bool)> =
            std::collections::HashMap::new();
        for ids in order.chunks(SYNC_LOOKUP_CHUNK) {
            let mut param = numbered::<D>();
            let (connection, object) = (param(), param());
            let placeholders = ids.iter().map(|_| param()).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT remote_id, hash, deleted{record} FROM synced_records
                 WHERE connection_id = {connection} AND object = {object}
                 AND remote_id IN ({placeholders})",
                record = if outbox { ", record" } else { "" },
            );
            let mut query = sqlx::query(&sql)
                .bind(page.connection_id.as_str())
                .bind(&page.object);
            for id in ids {
                query = query.bind(id.as_str());
            }
            for row in query
                .fetch_all(&mut *transaction)
                .await
                .map_err(read_error)?
            {
                let columns = Columns::<D>(&row);
                if outbox {
                    before_records.insert(columns.text("remote_id")?, columns.record()?);
                }
                stored.insert(
                    columns.text("remote_id")?,
                    (columns.text("hash")?, columns.count::<u8>("deleted")? != 0),
                );
            }
        }

        let mut applied = AppliedPage::default();
        let mut changes: Vec<(ChangeKind, SyncedOrGone)> = Vec::new();
        for remote_id in order {
            let input = last
                .remove(&remote_id)
                .expect("every ordered id has a last word");
            let before = stored.get(&remote_id);
            match input {
                Some(input) => match before {
                    None => changes.push((ChangeKind::Created, SyncedOrGone::Synced(input))),
                    Some((_, true)) => {
                        changes.push((ChangeKind::Created, SyncedOrGone::Synced(input)));
                    }
                    Some((hash, false)) if *hash != input.hash => {
                        changes.push((ChangeKind::Updated, SyncedOrGone::Synced(input)));
                    }
                    Some(_) => applied.unchanged += 1,
                },
                None => match before {
                    Some((_, false)) => {
                        changes.push((ChangeKind::Deleted, SyncedOrGone::Gone(remote_id)));
                    }
                    _ => applied.unchanged += 1,
                },
            }
        }

        if !changes.is_empty() {
            let count = i64::try_from(changes.len()).unwrap_or(i64::MAX);
            let row = sqlx::query(
                "UPDATE environments SET change_seq = change_seq + $1 WHERE id = $2
                 RETURNING change_seq",
            )
            .bind(count)
            .bind(environment_id.as_str())
            .fetch_one(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "environment update conflicts"))?;
            let end: u64 = Columns::<D>(&row).count("change_seq")?;
            let first = end + 1 - changes.len() as u64;
            applied.last_seq = Some(end);
            let numbered: Vec<(u64, ChangeKind, &SyncedOrGone)> = (first..)
                .zip(&changes)
                .map(|(seq, (kind, change))| (seq, *kind, change))
                .collect();
            // The change feed's rows and the records', a chunk of rows per statement (each
            // statement is a round trip to the database, and on SQLite a hand-off to its
            // connection's thread).
            for chunk in numbered.chunks(SYNC_WRITE_CHUNK) {
                let target = (&page.connection_id, page.object.as_str());
                Self::insert_changes(&mut transaction, environment_id, target, chunk, now).await?;
                let synced: Vec<(u64, &SyncedInput)> = chunk
                    .iter()
                    .filter_map(|(seq, _, change)| match change {
                        SyncedOrGone::Synced(input) => Some((*seq, input)),
                        SyncedOrGone::Gone(_) => None,
                    })
                    .collect();
                if !synced.is_empty() {
                    Self::upsert_synced(&mut transaction, target, &synced, now).await?;
                }
            }
            for &(seq, kind, change) in &numbered {
                let remote_id = match change {
                    SyncedOrGone::Synced(input) => input.remote_id.as_str(),
                    SyncedOrGone::Gone(remote_id) => remote_id.as_str(),
                };
                if outbox {
                    // Read back only for the outbox, which names the changed fields.
                    let record = match change {
                        SyncedOrGone::Synced(input) => Some(input.record()),
                        SyncedOrGone::Gone(_) => None,
                    };
                    let record = record.as_ref();
                    let before = match kind {
                        ChangeKind::Updated => before_records.get(remote_id),
                        _ => None,
                    };
                    let changed = match kind {
                        ChangeKind::Deleted => Vec::new(),
                        _ => store::changed_fields(before, record),
                    };
                    let data = serde_json::json!({
                        "id": remote_id,
                        "remote_id": remote_id,
                        "connection_id": page.connection_id,
                        "object": page.object,
                        "change_seq": seq,
                        "changed_fields": changed,
                    });
                    Self::outbox_on(
                        &mut *transaction,
                        environment_id,
                        Some(&page.connection_id),
                        &format!("{}.{}", page.object, kind.as_str()),
                        &format!("record:{}:{}:{remote_id}", page.connection_id, page.object),
                        Some(seq),
                        &data,
                        record,
                        now,
                    )
                    .await?;
                }
                if let SyncedOrGone::Gone(remote_id) = change {
                    sqlx::query(
                        "UPDATE synced_records SET deleted = 1, seq = $1, updated_at = $2
                         WHERE connection_id = $3 AND object = $4 AND remote_id = $5",
                    )
                    .bind(fence_value(seq))
                    .bind(D::time(now))
                    .bind(page.connection_id.as_str())
                    .bind(&page.object)
                    .bind(remote_id.as_str())
                    .execute(&mut *transaction)
                    .await
                    .map_err(|error| write_error(error, "synced record conflicts"))?;
                }
                match kind {
                    ChangeKind::Created => applied.created += 1,
                    ChangeKind::Updated => applied.updated += 1,
                    ChangeKind::Deleted => applied.deleted += 1,
                }
            }
        }

        if let Some(seen) = &seen {
            for ids in seen_ids.chunks(SYNC_LOOKUP_CHUNK) {
                let mut param = numbered::<D>();
                let (pass, connection, object) = (param(), param(), param());
                let placeholders = ids.iter().map(|_| param()).collect::<Vec<_>>().join(", ");
                let sql = format!(
                    "UPDATE synced_records SET seen_pass = {pass}
                     WHERE connection_id = {connection} AND object = {object}
                     AND remote_id IN ({placeholders})"
                );
                let mut query = sqlx::query(&sql)
                    .bind(&seen.pass)
                    .bind(page.connection_id.as_str())
                    .bind(&page.object);
                for id in ids {
                    query = query.bind(id.as_str());
                }
                query
                    .execute(&mut *transaction)
                    .await
                    .map_err(|error| write_error(error, "synced record conflicts"))?;
            }
        }

        sqlx::query(&format!(
            "INSERT INTO sync_progress ({SYNC_PROGRESS_INSERT})
             VALUES ($1, $2, {checkpoint}, 1, $4, $5, $6, $7)
             ON CONFLICT (connection_id, object) DO UPDATE SET
                 checkpoint = COALESCE(excluded.checkpoint, sync_progress.checkpoint),
                 pages = sync_progress.pages + 1,
                 created = sync_progress.created + excluded.created,
                 updated = sync_progress.updated + excluded.updated,
                 deleted = sync_progress.deleted + excluded.deleted,
                 updated_at = excluded.updated_at",
            checkpoint = D::json("$3"),
        ))
        .bind(page.connection_id.as_str())
        .bind(&page.object)
        .bind(page.checkpoint.as_ref().map(json_text))
        .bind(fence_value(applied.created))
        .bind(fence_value(applied.updated))
        .bind(fence_value(applied.deleted))
        .bind(D::time(now))
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "sync progress conflicts"))?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(applied)
    }

    async fn list_changes(
        &self,
        environment_id: &EnvironmentId,
        after: u64,
        connection_id: Option<&ConnectionId>,
        limit: u32,
    ) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CHANGE_COLUMNS} FROM changes
             WHERE environment_id = $1 AND seq > $2 AND ($3 IS NULL OR connection_id = $3)
             ORDER BY seq
             LIMIT $4"
        ))
        .bind(environment_id.as_str())
        .bind(fence_value(after))
        .bind(connection_id.map(ConnectionId::as_str))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter().map(|row| Columns::<D>(row).change()).collect()
    }

    async fn purge_changes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM changes WHERE created_at < $1")
            .bind(D::time(timestamp::truncate(before)))
            .execute(&self.pool)
            .await
            .map_err(|error| write_error(error, "change purge conflicts"))?;
        Ok(D::rows_affected(&result))
    }

    async fn list_synced_records(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        object: &str,
        after: Option<&str>,
        with_deleted: bool,
        limit: u32,
    ) -> Result<Vec<SyncedRecord>, StoreError> {
        self.get_connection(environment_id, connection_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {SYNCED_RECORD_COLUMNS} FROM synced_records
             WHERE connection_id = $1 AND object = $2
               AND ($3 IS NULL OR remote_id {bytewise} > $3)
               AND ($4 = 1 OR deleted = 0)
             ORDER BY remote_id {bytewise}
             LIMIT $5",
            bytewise = D::BYTEWISE,
        ))
        .bind(connection_id.as_str())
        .bind(object)
        .bind(after)
        .bind(i64::from(with_deleted))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).synced_record())
            .collect()
    }

    async fn list_unseen_synced(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        object: &str,
        pass: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        self.get_connection(environment_id, connection_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT remote_id FROM synced_records
             WHERE connection_id = $1 AND object = $2 AND deleted = 0
               AND (seen_pass IS NULL OR seen_pass <> $3)
               AND ($4 IS NULL OR remote_id {bytewise} > $4)
             ORDER BY remote_id {bytewise}
             LIMIT $5",
            bytewise = D::BYTEWISE,
        ))
        .bind(connection_id.as_str())
        .bind(object)
        .bind(pass)
        .bind(after)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).text("remote_id"))
            .collect()
    }

    async fn count_unseen_synced(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        object: &str,
        pass: &str,
    ) -> Result<(u64, u64), StoreError> {
        self.get_connection(environment_id, connection_id).await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS stored,
                    COALESCE(SUM(CASE WHEN seen_pass IS NULL OR seen_pass <> $3
                                      THEN 1 ELSE 0 END), 0) AS unseen
             FROM synced_records
             WHERE connection_id = $1 AND object = $2 AND deleted = 0",
        )
        .bind(connection_id.as_str())
        .bind(object)
        .bind(pass)
        .fetch_one(&self.pool)
        .await
        .map_err(read_error)?;
        let columns = Columns::<D>(&row);
        Ok((columns.count("stored")?, columns.count("unseen")?))
    }

    async fn get_sync_progress(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        object: &str,
    ) -> Result<Option<SyncProgress>, StoreError> {
        self.get_connection(environment_id, connection_id).await?;
        let row = sqlx::query(&format!(
            "SELECT {SYNC_PROGRESS_COLUMNS} FROM sync_progress
             WHERE connection_id = $1 AND object = $2"
        ))
        .bind(connection_id.as_str())
        .bind(object)
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?;
        row.map(|row| Columns::<D>(&row).sync_progress())
            .transpose()
    }

    async fn record_sync_state(
        &self,
        environment_id: &EnvironmentId,
        state: SyncState,
        event: Option<NewEvent>,
    ) -> Result<(), StoreError> {
        let now = timestamp::now();
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        if let Some(claim) = &state.claim {
            Self::check_claim(&mut transaction, claim, now).await?;
        }
        let result = sqlx::query(&format!(
            "INSERT INTO sync_progress ({SYNC_PROGRESS_COLUMNS})
             SELECT id, $2, NULL, 0, 0, 0, 0, $3, $4, $5, {last_error}
             FROM connections WHERE id = $1 AND environment_id = $7
             ON CONFLICT (connection_id, object) DO UPDATE SET
                 status = excluded.status, phase = excluded.phase,
                 last_error = excluded.last_error, updated_at = excluded.updated_at",
            last_error = D::json("$6"),
        ))
        .bind(state.connection_id.as_str())
        .bind(&state.object)
        .bind(D::time(now))
        .bind(state.status.as_str())
        .bind(state.phase.map(|phase| phase.as_str()))
        .bind(state.last_error.as_ref().map(json_text))
        .bind(environment_id.as_str())
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "sync progress conflicts"))?;
        if D::rows_affected(&result) == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(event) = event {
            let event = event_of(event);
            Self::insert_event_on(&mut *transaction, &event).await?;
            Self::outbox_event_on(&mut *transaction, &event).await?;
        }
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(())
    }

    async fn restart_sync(
        &self,
        environment_id: &EnvironmentId,
        id: &JobId,
        object: &str,
        now: DateTime<Utc>,
    ) -> Result<Job, StoreError> {
        let now = timestamp::truncate(now);
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        let row = sqlx::query(&format!(
            "UPDATE jobs SET
                 status = CASE WHEN status = 'paused' THEN 'paused' ELSE 'queued' END,
                 run_at = $1, lease_until = NULL,
                 attempts = CASE WHEN status = 'running' AND attempts > 0
                                 THEN attempts - 1 ELSE attempts END,
                 updated_at = $1
             WHERE id = $2 AND environment_id = $3 AND connection_id IS NOT NULL
               AND status IN ('queued', 'running', 'paused')
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(D::time(now))
        .bind(id.as_str())
        .bind(environment_id.as_str())
        .fetch_optional(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "job update conflicts"))?;
        let Some(row) = row else {
            drop(transaction);
            let job = self.get_job(environment_id, id).await?;
            return Err(if job.connection_id.is_none() {
                StoreError::NotFound
            } else {
                StoreError::Conflict("the job already ended".to_owned())
            });
        };
        let job = Columns::<D>(&row).job()?;
        let status = if job.status == JobStatus::Paused {
            "paused"
        } else {
            "queued"
        };
        sqlx::query(
            "UPDATE sync_progress SET checkpoint = NULL, status = $1, phase = NULL, updated_at = $2
             WHERE connection_id = $3 AND object = $4",
        )
        .bind(status)
        .bind(D::time(now))
        .bind(job.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(object)
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "sync progress conflicts"))?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(job)
    }

    async fn store_refreshed_credentials(
        &self,
        id: &ConnectionId,
        fence: u64,
        credentials: Sealed,
        expires_at: Option<DateTime<Utc>>,
        account: Option<Value>,
    ) -> Result<Connection, StoreError> {
        // The fence check and the write are one statement, so a lease taken over between them
        // cannot let a stale refresher overwrite a newer token.
        let row = sqlx::query(&format!(
            "UPDATE connections SET
                 credentials = $1,
                 credentials_expires_at = $2,
                 account = COALESCE({account}, account),
                 updated_at = {updated_at}
             WHERE id = $5 AND refresh_fence = $6 AND refresh_lease_holder IS NOT NULL
             RETURNING {CONNECTION_COLUMNS}",
            account = D::json("$3"),
            updated_at = D::later("$4", "updated_at"),
        ))
        .bind(credentials.to_bytes())
        .bind(expires_at.map(|at| D::time(timestamp::truncate(at))))
        .bind(account.as_ref().map(json_text))
        .bind(D::time(timestamp::now()))
        .bind(id.as_str())
        .bind(fence_value(fence))
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "refreshed credentials conflict"))?;
        match row {
            Some(row) => Columns::<D>(&row).connection(),
            None if self.connection_exists(id).await? => Err(StoreError::Conflict(format!(
                "fence `{fence}` no longer holds the refresh lease of `{id}`"
            ))),
            None => Err(StoreError::NotFound),
        }
    }

    async fn list_all_connections(&self) -> Result<Vec<Connection>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).connection())
            .collect()
    }

    async fn replace_sealed_credentials(
        &self,
        id: &ConnectionId,
        expected: &Sealed,
        credentials: Sealed,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(&format!(
            "UPDATE connections SET credentials = $1, updated_at = {updated_at}
             WHERE id = $3 AND credentials = $4",
            updated_at = D::later("$2", "updated_at"),
        ))
        .bind(credentials.to_bytes())
        .bind(D::time(timestamp::now()))
        .bind(id.as_str())
        .bind(expected.to_bytes())
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "credentials replacement conflicts"))?;
        if D::rows_affected(&result) == 0 {
            if self.connection_exists(id).await? {
                return Err(StoreError::Conflict(format!(
                    "the credentials of `{id}` changed since they were read"
                )));
            }
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn put_override(
        &self,
        scope: &OverrideScope,
        document: Option<&Value>,
        revision: &str,
        expected_version: Option<u32>,
    ) -> Result<OverrideVersion, StoreError> {
        let mut attempt = 1;
        let appended = loop {
            match self
                .append_override(scope, document, revision, expected_version)
                .await
            {
                // An unconditional write lost the race for a number: read the new latest again.
                Err(StoreError::Conflict(_))
                    if expected_version.is_none() && attempt < OVERRIDE_WRITE_ATTEMPTS =>
                {
                    attempt += 1;
                }
                result => break result?,
            }
        };
        match appended {
            Some(version) => {
                // Pruning is idempotent: a writer that fails here leaves extra history, which
                // the next write drops.
                if version.version > store::OVERRIDE_VERSIONS_KEPT {
                    sqlx::query(&format!(
                        "DELETE FROM connector_overrides WHERE {OVERRIDE_SCOPE} AND version <= $4"
                    ))
                    .bind(scope.environment_id.as_str())
                    .bind(&scope.provider)
                    .bind(scope.connection_id.as_ref().map(ConnectionId::as_str))
                    .bind(i64::from(version.version - store::OVERRIDE_VERSIONS_KEPT))
                    .execute(&self.pool)
                    .await
                    .map_err(|error| write_error(error, "pruning override history"))?;
                }
                Ok(version)
            }
            None if self.override_scope_exists(scope).await? => Err(StoreError::Conflict(format!(
                "the override of `{}` in `{}` is no longer at version `{}`",
                scope.provider,
                scope.environment_id,
                expected_version.unwrap_or_default()
            ))),
            None => Err(StoreError::NotFound),
        }
    }

    async fn current_override(
        &self,
        scope: &OverrideScope,
    ) -> Result<Option<OverrideVersion>, StoreError> {
        let latest = "version >= $4 ORDER BY version DESC LIMIT 1";
        Ok(self.override_versions(scope, latest, 0).await?.pop())
    }

    async fn override_history(
        &self,
        scope: &OverrideScope,
    ) -> Result<Vec<OverrideVersion>, StoreError> {
        self.override_versions(scope, "version >= $4 ORDER BY version", 0)
            .await
    }

    async fn current_override_versions(
        &self,
        environment_id: &EnvironmentId,
        provider: &str,
        connection_id: Option<&ConnectionId>,
    ) -> Result<(Option<u32>, Option<u32>), StoreError> {
        let rows = sqlx::query(
            "SELECT COALESCE(connection_id, '') AS layer, MAX(version) AS version
             FROM connector_overrides
             WHERE environment_id = $1 AND provider = $2
               AND (connection_id IS NULL OR connection_id = $3)
             GROUP BY COALESCE(connection_id, '')",
        )
        .bind(environment_id.as_str())
        .bind(provider)
        .bind(connection_id.map_or("", ConnectionId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        let mut versions = (None, None);
        for row in &rows {
            let columns = Columns::<D>(row);
            let version: u32 = columns.count("version")?;
            if columns.text("layer")?.is_empty() {
                versions.0 = Some(version);
            } else {
                versions.1 = Some(version);
            }
        }
        Ok(versions)
    }

    async fn get_override_version(
        &self,
        scope: &OverrideScope,
        version: u32,
    ) -> Result<OverrideVersion, StoreError> {
        self.override_versions(scope, "version = $4", version)
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    async fn list_current_overrides(&self) -> Result<Vec<OverrideVersion>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OVERRIDE_COLUMNS} FROM connector_overrides AS o
             WHERE document IS NOT NULL
               AND version = (SELECT MAX(version) FROM connector_overrides AS l
                              WHERE l.environment_id = o.environment_id
                                AND l.provider = o.provider
                                AND COALESCE(l.connection_id, '') = COALESCE(o.connection_id, ''))
             ORDER BY environment_id {bytewise}, provider {bytewise},
                      COALESCE(connection_id, '') {bytewise}",
            bytewise = D::BYTEWISE,
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).override_version())
            .collect()
    }

    async fn record_invalid_override(
        &self,
        scope: &OverrideScope,
        version: u32,
        connector_revision: &str,
        event: NewEvent,
    ) -> Result<Option<Event>, StoreError> {
        let event = event_of(event);
        // The marker's insert comes first, so the transaction takes its lock at once: a
        // concurrent reporter of the same marker waits until this one ends, then finds it and
        // does nothing, so one event is recorded however many report at once.
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        let marked = sqlx::query(
            "INSERT INTO invalid_override_reports
                 (environment_id, provider, connection_id, version, connector_revision, event_id,
                  created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING",
        )
        .bind(scope.environment_id.as_str())
        .bind(&scope.provider)
        .bind(scope.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(i64::from(version))
        .bind(connector_revision)
        .bind(event.id.as_str())
        .bind(D::time(event.created_at))
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "invalid override already reported"))?;
        if D::rows_affected(&marked) == 0 {
            return Ok(None);
        }
        Self::insert_event_on(&mut *transaction, &event).await?;
        Self::outbox_event_on(&mut *transaction, &event).await?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(Some(event))
    }

    async fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        now: DateTime<Utc>,
        in_flight_until: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError> {
        let now = timestamp::truncate(now);
        // Expired keys of the environment go first, so the table holds about a day of writes.
        sqlx::query("DELETE FROM idempotency_keys WHERE environment_id = $1 AND expires_at <= $2")
            .bind(scope.environment_id.as_str())
            .bind(D::time(now))
            .execute(&self.pool)
            .await
            .map_err(StoreError::database)?;
        // One statement claims a free key or takes over an expired one; a live row is left
        // alone, and then read to say why the key is not free.
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys
                 (environment_id, connection_id, method, path, idempotency_key, fingerprint,
                  status, body, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7)
             ON CONFLICT (environment_id, connection_id, method, path, idempotency_key)
             DO UPDATE SET fingerprint = excluded.fingerprint, status = NULL, body = NULL,
                 expires_at = excluded.expires_at
             WHERE idempotency_keys.expires_at <= $8",
        )
        .bind(scope.environment_id.as_str())
        .bind(&scope.connection_id)
        .bind(&scope.method)
        .bind(&scope.path)
        .bind(&scope.key)
        .bind(fingerprint)
        .bind(D::time(timestamp::truncate(in_flight_until)))
        .bind(D::time(now))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "idempotency key"))?;
        if D::rows_affected(&claimed) == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let row = sqlx::query(
            "SELECT fingerprint, status, body FROM idempotency_keys
             WHERE environment_id = $1 AND connection_id = $2 AND method = $3 AND path = $4
               AND idempotency_key = $5",
        )
        .bind(scope.environment_id.as_str())
        .bind(&scope.connection_id)
        .bind(&scope.method)
        .bind(&scope.path)
        .bind(&scope.key)
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?;
        let Some(row) = row else {
            // Released between the two statements: the key is free, but this claim did not
            // take it; the caller sees it in flight and may retry.
            return Ok(IdempotencyClaim::InFlight);
        };
        let columns = Columns::<D>(&row);
        if columns.text("fingerprint")? != fingerprint {
            return Ok(IdempotencyClaim::Mismatch);
        }
        Ok(match columns.stored_answer()? {
            Some(answer) => IdempotencyClaim::Answered(answer),
            None => IdempotencyClaim::InFlight,
        })
    }

    async fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        answer: &StoredAnswer,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE idempotency_keys SET status = $7, body = {}, expires_at = $9
             WHERE environment_id = $1 AND connection_id = $2 AND method = $3 AND path = $4
               AND idempotency_key = $5 AND fingerprint = $6 AND status IS NULL",
            D::json("$8")
        ))
        .bind(scope.environment_id.as_str())
        .bind(&scope.connection_id)
        .bind(&scope.method)
        .bind(&scope.path)
        .bind(&scope.key)
        .bind(fingerprint)
        .bind(i64::from(answer.status))
        .bind(json_text(&answer.body))
        .bind(D::time(timestamp::truncate(expires_at)))
        .execute(&self.pool)
        .await
        .map_err(StoreError::database)?;
        Ok(())
    }

    async fn release_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency_keys
             WHERE environment_id = $1 AND connection_id = $2 AND method = $3 AND path = $4
               AND idempotency_key = $5 AND fingerprint = $6 AND status IS NULL",
        )
        .bind(scope.environment_id.as_str())
        .bind(&scope.connection_id)
        .bind(&scope.method)
        .bind(&scope.path)
        .bind(&scope.key)
        .bind(fingerprint)
        .execute(&self.pool)
        .await
        .map_err(StoreError::database)?;
        Ok(())
    }

    async fn create_webhook_endpoint(
        &self,
        new: NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError> {
        let now = timestamp::now();
        let id = WebhookEndpointId::generate();
        let connection_ids: Vec<&str> = new
            .connection_ids
            .iter()
            .map(ConnectionId::as_str)
            .collect();
        let row = sqlx::query(&format!(
            "INSERT INTO webhook_endpoints ({WEBHOOK_ENDPOINT_COLUMNS})
             VALUES ($1, $2, $3, $4, {types}, {connections}, $7, $8, NULL, $9, NULL, NULL, NULL,
                 $10, $10)
             RETURNING {WEBHOOK_ENDPOINT_COLUMNS}",
            types = D::json("$5"),
            connections = D::json("$6"),
        ))
        .bind(id.as_str())
        .bind(new.environment_id.as_str())
        .bind(&new.url)
        .bind(new.description.as_deref())
        .bind(json_text(&new.event_types))
        .bind(json_text(&connection_ids))
        .bind(i64::from(new.include_record))
        .bind(i64::from(new.enabled))
        .bind(new.secret.to_bytes())
        .bind(D::time(now))
        .fetch_one(&self.pool)
        .await
        .map_err(|error| write_error(error, "webhook endpoint id already exists"))?;
        Columns::<D>(&row).webhook_endpoint()
    }

    async fn get_webhook_endpoint(
        &self,
        environment_id: &EnvironmentId,
        id: &WebhookEndpointId,
    ) -> Result<WebhookEndpoint, StoreError> {
        self.endpoint_of(environment_id, id).await
    }

    async fn list_webhook_endpoints(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_ENDPOINT_COLUMNS} FROM webhook_endpoints
             WHERE environment_id = $1 ORDER BY created_at, id"
        ))
        .bind(environment_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).webhook_endpoint())
            .collect()
    }

    async fn update_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError> {
        let connection_ids: Vec<&str> = endpoint
            .connection_ids
            .iter()
            .map(ConnectionId::as_str)
            .collect();
        let row = sqlx::query(&format!(
            "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = {types},
                 connection_ids = {connections}, include_record = $5, enabled = $6,
                 disabled_reason = $7, secret = $8, previous_secret = $9,
                 previous_secret_until = $10,
                 failing_since = CASE WHEN $6 = 1 AND enabled = 0 THEN NULL ELSE failing_since END,
                 updated_at = {later}
             WHERE id = $12 AND environment_id = $13
             RETURNING {WEBHOOK_ENDPOINT_COLUMNS}",
            types = D::json("$3"),
            connections = D::json("$4"),
            later = D::later("$11", "updated_at"),
        ))
        .bind(&endpoint.url)
        .bind(endpoint.description.as_deref())
        .bind(json_text(&endpoint.event_types))
        .bind(json_text(&connection_ids))
        .bind(i64::from(endpoint.include_record))
        .bind(i64::from(endpoint.enabled))
        .bind(endpoint.disabled_reason.as_deref())
        .bind(endpoint.secret.to_bytes())
        .bind(endpoint.previous_secret.as_ref().map(Sealed::to_bytes))
        .bind(
            endpoint
                .previous_secret_until
                .map(|at| D::time(timestamp::truncate(at))),
        )
        .bind(D::time(timestamp::now()))
        .bind(endpoint.id.as_str())
        .bind(endpoint.environment_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "webhook endpoint update conflicts"))?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).webhook_endpoint()
    }

    async fn delete_webhook_endpoint(
        &self,
        environment_id: &EnvironmentId,
        id: &WebhookEndpointId,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        let deleted =
            sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1 AND environment_id = $2")
                .bind(id.as_str())
                .bind(environment_id.as_str())
                .execute(&mut *transaction)
                .await
                .map_err(StoreError::database)?;
        if D::rows_affected(&deleted) == 0 {
            return Err(StoreError::NotFound);
        }
        for table in ["webhook_attempts", "webhook_messages"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE endpoint_id = $1"))
                .bind(id.as_str())
                .execute(&mut *transaction)
                .await
                .map_err(StoreError::database)?;
        }
        // The last endpoint gone, nothing reads the outbox any more.
        sqlx::query(
            "DELETE FROM webhook_outbox WHERE environment_id = $1
               AND NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE environment_id = $1)",
        )
        .bind(environment_id.as_str())
        .execute(&mut *transaction)
        .await
        .map_err(StoreError::database)?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(())
    }

    async fn fan_out_webhook_outbox(
        &self,
        environment_id: &EnvironmentId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let now = timestamp::truncate(now);
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        // The environment's lock (the one sync pages take) keeps fan-outs apart, so messages
        // are numbered in the order their changes committed.
        sqlx::query("UPDATE environments SET change_seq = change_seq WHERE id = $1")
            .bind(environment_id.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "environment update conflicts"))?;
        let rows = sqlx::query(
            "DELETE FROM webhook_outbox WHERE id IN (
                 SELECT id FROM webhook_outbox WHERE environment_id = $1 ORDER BY id LIMIT $2)
             RETURNING id, connection_id, event_type, ordering_key, change_seq, data, record,
                 created_at",
        )
        .bind(environment_id.as_str())
        .bind(i64::from(limit.max(1)))
        .fetch_all(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "outbox conflicts"))?;
        if rows.is_empty() {
            return Ok(0);
        }
        let endpoints = sqlx::query(&format!(
            "SELECT {WEBHOOK_ENDPOINT_COLUMNS} FROM webhook_endpoints
             WHERE environment_id = $1 AND enabled = 1 ORDER BY created_at, id"
        ))
        .bind(environment_id.as_str())
        .fetch_all(&mut *transaction)
        .await
        .map_err(read_error)?
        .iter()
        .map(|row| Columns::<D>(row).webhook_endpoint())
        .collect::<Result<Vec<_>, _>>()?;
        let mut outbox = Vec::with_capacity(rows.len());
        for row in &rows {
            let columns = Columns::<D>(row);
            let connection_id: Option<ConnectionId> = columns
                .optional_text("connection_id")?
                .map(|id| {
                    ConnectionId::try_from(id)
                        .map_err(|error| StoreError::Corrupt(format!("`connection_id`: {error}")))
                })
                .transpose()?;
            outbox.push((
                columns.count::<u64>("id")?,
                connection_id,
                columns.text("event_type")?,
                columns.text("ordering_key")?,
                columns.optional_integer("change_seq")?,
                columns.outbox_data()?,
                columns.optional_record()?,
                columns.time("created_at")?,
            ));
        }
        outbox.sort_by_key(|row| row.0);
        for (seq, connection_id, event_type, ordering_key, change_seq, data, record, created_at) in
            &outbox
        {
            for endpoint in &endpoints {
                if !endpoint.wants(event_type, connection_id.as_ref()) {
                    continue;
                }
                let id = WebhookMessageId::generate();
                let body = serde_json::json!({
                    "type": event_type,
                    "timestamp": created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "data": store::message_data(data, record.as_ref(), endpoint.include_record),
                });
                sqlx::query(&format!(
                    "INSERT INTO webhook_messages ({WEBHOOK_MESSAGE_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, NULL, $9, $9)"
                ))
                .bind(id.as_str())
                .bind(endpoint.id.as_str())
                .bind(environment_id.as_str())
                .bind(event_type.as_str())
                .bind(ordering_key.as_str())
                .bind(fence_value(*seq))
                .bind(*change_seq)
                .bind(json_text(&body))
                .bind(D::time(now))
                .execute(&mut *transaction)
                .await
                .map_err(|error| write_error(error, "webhook message id already exists"))?;
            }
        }
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(outbox.len() as u64)
    }

    async fn due_webhook_messages(
        &self,
        endpoint_id: &WebhookEndpointId,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<WebhookMessage>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_MESSAGE_COLUMNS} FROM webhook_messages m
             WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at <= $2
               AND NOT EXISTS (
                   SELECT 1 FROM webhook_messages earlier
                   WHERE earlier.endpoint_id = m.endpoint_id
                     AND earlier.ordering_key = m.ordering_key
                     AND earlier.status = 'pending' AND earlier.seq < m.seq)
             ORDER BY seq
             LIMIT $3"
        ))
        .bind(endpoint_id.as_str())
        .bind(D::time(timestamp::truncate(now)))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).webhook_message())
            .collect()
    }

    async fn next_webhook_due(
        &self,
        endpoint_id: &WebhookEndpointId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query(
            "SELECT next_attempt_at FROM webhook_messages
             WHERE endpoint_id = $1 AND status = 'pending'
             ORDER BY next_attempt_at LIMIT 1",
        )
        .bind(endpoint_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?;
        row.map(|row| Columns::<D>(&row).time("next_attempt_at"))
            .transpose()
    }

    async fn record_webhook_attempt(&self, attempt: WebhookAttempt) -> Result<(), StoreError> {
        let at = timestamp::truncate(attempt.at);
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        // $1 status, $2 next attempt (NULL: keep), $3 error, $4 whether it counts, $5 now, $6 id.
        let (status, next_at, counts) = match &attempt.next {
            MessageNext::Delivered => (MessageStatus::Delivered, None, true),
            MessageNext::RetryAt(when) => (MessageStatus::Pending, Some(*when), true),
            MessageNext::Dead => (MessageStatus::Dead, None, true),
            MessageNext::Unchanged => (MessageStatus::Pending, None, false),
        };
        let updated = sqlx::query(
            "UPDATE webhook_messages SET status = $1,
                 next_attempt_at = COALESCE($2, next_attempt_at), last_error = $3,
                 attempts = attempts + $4, updated_at = $5
             WHERE id = $6 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(next_at.map(|when| D::time(timestamp::truncate(when))))
        .bind(attempt.error.as_deref())
        .bind(i64::from(counts))
        .bind(D::time(at))
        .bind(attempt.message_id.as_str())
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "webhook message update conflicts"))?;
        if D::rows_affected(&updated) == 0 {
            return Err(StoreError::NotFound);
        }
        if counts {
            sqlx::query(&format!(
                "INSERT INTO webhook_attempts ({columns})
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                columns = WEBHOOK_ATTEMPT_COLUMNS.trim_start_matches("id, "),
            ))
            .bind(attempt.endpoint_id.as_str())
            .bind(attempt.message_id.as_str())
            .bind(i64::from(attempt.attempt))
            .bind(attempt.status_code.map(i64::from))
            .bind(attempt.error.as_deref())
            .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
            .bind(D::time(at))
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "webhook attempt conflicts"))?;
            let delivered = matches!(attempt.next, MessageNext::Delivered);
            sqlx::query(
                "UPDATE webhook_endpoints SET failing_since = CASE
                     WHEN $1 = 1 THEN NULL ELSE COALESCE(failing_since, $2) END
                 WHERE id = $3",
            )
            .bind(i64::from(delivered))
            .bind(D::time(at))
            .bind(attempt.endpoint_id.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "webhook endpoint update conflicts"))?;
        }
        if let Some((reason, event)) = attempt.disable {
            let disabled = sqlx::query(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $1, updated_at = $2
                 WHERE id = $3 AND enabled = 1",
            )
            .bind(&reason)
            .bind(D::time(at))
            .bind(attempt.endpoint_id.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "webhook endpoint update conflicts"))?;
            // Attempts answered at once may each call for the disable: one event says it.
            if D::rows_affected(&disabled) > 0 {
                Self::insert_event_on(&mut *transaction, &event_of(event)).await?;
            }
        }
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(())
    }

    async fn list_webhook_attempts(
        &self,
        environment_id: &EnvironmentId,
        endpoint_id: &WebhookEndpointId,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<WebhookAttemptRow>, StoreError> {
        self.endpoint_of(environment_id, endpoint_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_ATTEMPT_COLUMNS} FROM webhook_attempts
             WHERE endpoint_id = $1 AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(endpoint_id.as_str())
        .bind(before.map(fence_value))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).webhook_attempt())
            .collect()
    }

    async fn list_webhook_messages(
        &self,
        environment_id: &EnvironmentId,
        endpoint_id: &WebhookEndpointId,
        status: Option<MessageStatus>,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<WebhookMessage>, StoreError> {
        self.endpoint_of(environment_id, endpoint_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_MESSAGE_COLUMNS} FROM webhook_messages
             WHERE endpoint_id = $1 AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR seq > $3)
             ORDER BY seq LIMIT $4"
        ))
        .bind(endpoint_id.as_str())
        .bind(status.map(MessageStatus::as_str))
        .bind(after.map(fence_value))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).webhook_message())
            .collect()
    }

    async fn replay_webhook_messages(
        &self,
        environment_id: &EnvironmentId,
        endpoint_id: &WebhookEndpointId,
        selection: ReplaySelection,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.endpoint_of(environment_id, endpoint_id).await?;
        const REPLAY: &str = "UPDATE webhook_messages SET status = 'pending', attempts = 0,
                 next_attempt_at = $1, last_error = NULL, updated_at = $1
             WHERE endpoint_id = $2 AND status = 'dead' AND ";
        let now = D::time(timestamp::truncate(now));
        let result = match selection {
            ReplaySelection::Message(id) => {
                sqlx::query(&format!("{REPLAY} id = $3"))
                    .bind(now)
                    .bind(endpoint_id.as_str())
                    .bind(id.as_str().to_owned())
                    .execute(&self.pool)
                    .await
            }
            ReplaySelection::Between(from, to) => {
                sqlx::query(&format!("{REPLAY} created_at >= $3 AND created_at < $4"))
                    .bind(now)
                    .bind(endpoint_id.as_str())
                    .bind(D::time(timestamp::truncate(from)))
                    .bind(D::time(timestamp::truncate(to)))
                    .execute(&self.pool)
                    .await
            }
            ReplaySelection::AfterChange(after) => {
                sqlx::query(&format!("{REPLAY} change_seq > $3"))
                    .bind(now)
                    .bind(endpoint_id.as_str())
                    .bind(fence_value(after))
                    .execute(&self.pool)
                    .await
            }
        }
        .map_err(|error| write_error(error, "webhook message update conflicts"))?;
        Ok(D::rows_affected(&result))
    }
    async fn put_webhook_ingress(
        &self,
        ingress: store::WebhookIngress,
    ) -> Result<store::WebhookIngress, StoreError> {
        self.put_ingress(ingress).await
    }

    async fn get_webhook_ingress(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
    ) -> Result<store::WebhookIngress, StoreError> {
        self.get_ingress(environment_id, connection_id).await
    }

    async fn find_webhook_ingress(
        &self,
        token_hash: &str,
    ) -> Result<store::WebhookIngress, StoreError> {
        self.find_ingress(token_hash).await
    }

    async fn delete_webhook_ingress(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
    ) -> Result<(), StoreError> {
        self.delete_ingress(environment_id, connection_id).await
    }

    async fn accept_webhook(&self, entry: store::NewInboxEntry) -> Result<i64, StoreError> {
        self.accept(entry).await
    }

    async fn record_webhook_failure(
        &self,
        failure: store::VerificationFailure,
    ) -> Result<(), StoreError> {
        self.record_failure(failure).await
    }

    async fn list_webhook_failures(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<store::VerificationFailure>, StoreError> {
        self.list_failures(environment_id, connection_id, limit)
            .await
    }

    async fn pending_webhook_inbox(
        &self,
        connection_id: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<store::InboxEntry>, StoreError> {
        self.pending_inbox(connection_id, limit).await
    }

    async fn list_webhook_inbox(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<store::InboxEntry>, StoreError> {
        self.list_inbox(environment_id, connection_id, limit).await
    }

    async fn finish_webhook_inbox(
        &self,
        id: i64,
        outcome: store::InboxOutcome,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish_inbox(id, outcome, at).await
    }

    async fn remember_webhook_events(
        &self,
        connection_id: &ConnectionId,
        inbox_id: i64,
        event_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        self.remember_events(connection_id, inbox_id, event_ids, at)
            .await
    }

    async fn purge_webhook_inbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.purge_inbox(before).await
    }
}
