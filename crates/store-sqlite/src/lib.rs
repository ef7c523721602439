//! The Store on SQLite, the embedded default.
//!
//! One database file in the data directory, opened in WAL mode so readers never wait for the
//! writer, with foreign keys on (they carry the cascade from connections to their discovered
//! fields, connector overrides, Connect sessions and OAuth states) and a busy timeout so
//! concurrent writers queue instead of failing.
//! Every method is a single statement, so no transaction ever has to upgrade a read lock to a
//! write lock, which is where SQLite would answer `SQLITE_BUSY` without waiting.
//! Conditional writes (refresh leases, fenced credentials, compare-and-swap, versioned override
//! writes) decide in that one statement; only when it matched no row does a second, read-only one
//! tell a missing connection or environment from a failed condition.
//! Timestamps are stored as integer microseconds since the Unix epoch; JSON as its text.
//! Several processes on one file work but are not the target; use `store-postgres` for that.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrets::Sealed;
use serde_json::Value;
use sqlx::error::ErrorKind;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use store::{
    ApiKey, ApiKeyHash, ApiKeyId, Branding, ConnectSession, Connection, ConnectionId,
    ConnectionStatus, ConnectionUpdate, DiscoveredFields, Environment, EnvironmentId, Event,
    EventId, IdError, NewConnection, NewEvent, OAuthApp, OAuthState, OverrideScope,
    OverrideVersion, Store, StoreError, timestamp,
};

/// The schema, embedded from `migrations/` at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Pooled connections to a file; SQLite runs one writer at a time, the rest serve reads.
const MAX_CONNECTIONS: u32 = 8;

const CONNECTION_COLUMNS: &str = "id, environment_id, provider, status, account, credentials, \
     credentials_expires_at, created_at, updated_at";

const CONNECT_SESSION_COLUMNS: &str = "token_hash, environment_id, end_user_id, provider, \
     redirect_url, connection_id, expires_at, created_at";

const OAUTH_STATE_COLUMNS: &str = "state_hash, environment_id, provider, scheme, \
     session_token_hash, code_verifier, redirect_uri, connection_id, expires_at, created_at";

const EVENT_COLUMNS: &str = "id, environment_id, connection_id, kind, payload, created_at";

const OVERRIDE_COLUMNS: &str =
    "environment_id, provider, connection_id, version, document, revision, created_at";

/// Matches the rows of one override scope: `?1` environment, `?2` provider, `?3` connection or
/// NULL. Written as the unique index's expression, so the index serves it.
const OVERRIDE_SCOPE: &str =
    "environment_id = ?1 AND provider = ?2 AND COALESCE(connection_id, '') = COALESCE(?3, '')";

/// A [`Store`] on one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it and its parent directory when missing) the database at `path` and
    /// brings its schema up to date.
    ///
    /// `synchronous = FULL` makes each commit durable before it returns: a refreshed token that
    /// the provider has already rotated must not be lost to a power cut.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the directory or file cannot be created or opened, or a
    /// migration fails.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(StoreError::database)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(StoreError::database)?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Opens a private in-memory database with the schema applied; for tests.
    ///
    /// The pool holds exactly one connection for its whole life, since the database lives and
    /// dies with that connection.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when SQLite cannot start or a migration fails.
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(StoreError::database)?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(StoreError::database)?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Copies every committed page from the write-ahead log into the database file and empties
    /// the log, so the database file alone is a complete copy (for a backup, say).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the checkpoint cannot run or a concurrent reader kept it from
    /// completing.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::database)?;
        let busy: i64 = column(&row, "busy")?;
        if busy != 0 {
            return Err(StoreError::Conflict(
                "checkpoint blocked by a concurrent reader".to_owned(),
            ));
        }
        Ok(())
    }

    /// Waits for pending statements, then closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Maps a failed write: unique violations are conflicts, foreign key violations mean the parent
/// row (environment or connection) does not exist.
fn write_error(error: sqlx::Error, conflict: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(database_error) => match database_error.kind() {
            ErrorKind::UniqueViolation => StoreError::Conflict(conflict.to_owned()),
            ErrorKind::ForeignKeyViolation => StoreError::NotFound,
            _ => StoreError::database(error),
        },
        _ => read_error(error),
    }
}

fn read_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::Decode(_) => StoreError::Corrupt(error.to_string()),
        other => StoreError::database(other),
    }
}

fn column<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(name).map_err(read_error)
}

fn time_column(row: &SqliteRow, name: &str) -> Result<DateTime<Utc>, StoreError> {
    let micros: i64 = column(row, name)?;
    DateTime::from_timestamp_micros(micros).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "`{name}` of `{micros}` microseconds is out of range"
        ))
    })
}

fn optional_time_column(row: &SqliteRow, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let micros: Option<i64> = column(row, name)?;
    micros
        .map(|micros| {
            DateTime::from_timestamp_micros(micros).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "`{name}` of `{micros}` microseconds is out of range"
                ))
            })
        })
        .transpose()
}

fn micros(at: DateTime<Utc>) -> i64 {
    timestamp::truncate(at).timestamp_micros()
}

fn sealed_column(row: &SqliteRow, name: &str) -> Result<Sealed, StoreError> {
    let bytes: Vec<u8> = column(row, name)?;
    Sealed::from_bytes(&bytes).map_err(|error| StoreError::Corrupt(format!("`{name}`: {error}")))
}

fn optional_sealed_column(row: &SqliteRow, name: &str) -> Result<Option<Sealed>, StoreError> {
    let bytes: Option<Vec<u8>> = column(row, name)?;
    bytes
        .map(|bytes| {
            Sealed::from_bytes(&bytes)
                .map_err(|error| StoreError::Corrupt(format!("`{name}`: {error}")))
        })
        .transpose()
}

fn strings_column(row: &SqliteRow, name: &str) -> Result<Option<Vec<String>>, StoreError> {
    let text: Option<String> = column(row, name)?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|error| {
            StoreError::Corrupt(format!("`{name}` is not a json list of strings: {error}"))
        })
    })
    .transpose()
}

fn strings_text(values: &[String]) -> String {
    serde_json::to_string(values).expect("a list of strings always serializes")
}

fn fence_column(row: &SqliteRow, name: &str) -> Result<u64, StoreError> {
    let fence: i64 = column(row, name)?;
    u64::try_from(fence)
        .map_err(|_| StoreError::Corrupt(format!("`{name}` of `{fence}` is negative")))
}

/// A fence as the database stores it; one past `i64::MAX` can never have been handed out, so it
/// matches nothing.
fn fence_value(fence: u64) -> i64 {
    i64::try_from(fence).unwrap_or(-1)
}

fn json_column(row: &SqliteRow, name: &str) -> Result<Value, StoreError> {
    let text: String = column(row, name)?;
    serde_json::from_str(&text)
        .map_err(|error| StoreError::Corrupt(format!("`{name}` is not json: {error}")))
}

fn json_text(value: &Value) -> String {
    serde_json::to_string(value).expect("a serde_json::Value always serializes")
}

fn id_column<T>(row: &SqliteRow, name: &str) -> Result<T, StoreError>
where
    T: TryFrom<String, Error = IdError>,
{
    T::try_from(column::<String>(row, name)?)
        .map_err(|error| StoreError::Corrupt(format!("`{name}`: {error}")))
}

fn optional_id_column<T>(row: &SqliteRow, name: &str) -> Result<Option<T>, StoreError>
where
    T: TryFrom<String, Error = IdError>,
{
    column::<Option<String>>(row, name)?
        .map(|value| {
            T::try_from(value).map_err(|error| StoreError::Corrupt(format!("`{name}`: {error}")))
        })
        .transpose()
}

fn environment_from_row(row: &SqliteRow) -> Result<Environment, StoreError> {
    Ok(Environment {
        id: id_column(row, "id")?,
        name: column(row, "name")?,
        created_at: time_column(row, "created_at")?,
    })
}

fn api_key_from_row(row: &SqliteRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: id_column(row, "id")?,
        environment_id: id_column(row, "environment_id")?,
        prefix: column(row, "prefix")?,
        created_at: time_column(row, "created_at")?,
    })
}

fn connection_from_row(row: &SqliteRow) -> Result<Connection, StoreError> {
    let status: String = column(row, "status")?;
    let credentials: Vec<u8> = column(row, "credentials")?;
    Ok(Connection {
        id: id_column(row, "id")?,
        environment_id: id_column(row, "environment_id")?,
        provider: column(row, "provider")?,
        status: ConnectionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("`status`: unknown `{status}`")))?,
        account: json_column(row, "account")?,
        credentials: Sealed::from_bytes(&credentials)
            .map_err(|error| StoreError::Corrupt(format!("`credentials`: {error}")))?,
        credentials_expires_at: optional_time_column(row, "credentials_expires_at")?,
        created_at: time_column(row, "created_at")?,
        updated_at: time_column(row, "updated_at")?,
    })
}

fn oauth_app_from_row(row: &SqliteRow) -> Result<OAuthApp, StoreError> {
    Ok(OAuthApp {
        environment_id: id_column(row, "environment_id")?,
        provider: column(row, "provider")?,
        client_id: column(row, "client_id")?,
        client_secret: sealed_column(row, "client_secret")?,
        redirect_uris: strings_column(row, "redirect_uris")?
            .ok_or_else(|| StoreError::Corrupt("`redirect_uris` is null".to_owned()))?,
        scopes: strings_column(row, "scopes")?,
        updated_at: time_column(row, "updated_at")?,
    })
}

fn connect_session_from_row(row: &SqliteRow) -> Result<ConnectSession, StoreError> {
    Ok(ConnectSession {
        token_hash: column(row, "token_hash")?,
        environment_id: id_column(row, "environment_id")?,
        end_user_id: column(row, "end_user_id")?,
        provider: column(row, "provider")?,
        redirect_url: column(row, "redirect_url")?,
        connection_id: optional_id_column(row, "connection_id")?,
        expires_at: time_column(row, "expires_at")?,
        created_at: time_column(row, "created_at")?,
    })
}

fn oauth_state_from_row(row: &SqliteRow) -> Result<OAuthState, StoreError> {
    Ok(OAuthState {
        state_hash: column(row, "state_hash")?,
        environment_id: id_column(row, "environment_id")?,
        provider: column(row, "provider")?,
        scheme: column(row, "scheme")?,
        session_token_hash: column(row, "session_token_hash")?,
        code_verifier: optional_sealed_column(row, "code_verifier")?,
        redirect_uri: column(row, "redirect_uri")?,
        connection_id: optional_id_column(row, "connection_id")?,
        expires_at: time_column(row, "expires_at")?,
        created_at: time_column(row, "created_at")?,
    })
}

fn version_column(row: &SqliteRow, name: &str) -> Result<u32, StoreError> {
    let version: i64 = column(row, name)?;
    u32::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("`{name}` of `{version}` is out of range")))
}

fn optional_json_column(row: &SqliteRow, name: &str) -> Result<Option<Value>, StoreError> {
    let text: Option<String> = column(row, name)?;
    text.map(|text| {
        serde_json::from_str(&text)
            .map_err(|error| StoreError::Corrupt(format!("`{name}` is not json: {error}")))
    })
    .transpose()
}

fn override_version_from_row(row: &SqliteRow) -> Result<OverrideVersion, StoreError> {
    Ok(OverrideVersion {
        scope: OverrideScope {
            environment_id: id_column(row, "environment_id")?,
            provider: column(row, "provider")?,
            connection_id: optional_id_column(row, "connection_id")?,
        },
        version: version_column(row, "version")?,
        document: optional_json_column(row, "document")?,
        revision: column(row, "revision")?,
        created_at: time_column(row, "created_at")?,
    })
}

fn event_from_row(row: &SqliteRow) -> Result<Event, StoreError> {
    Ok(Event {
        id: id_column(row, "id")?,
        environment_id: id_column(row, "environment_id")?,
        connection_id: optional_id_column(row, "connection_id")?,
        kind: column(row, "kind")?,
        payload: json_column(row, "payload")?,
        created_at: time_column(row, "created_at")?,
    })
}

impl SqliteStore {
    /// Tells whether a connection exists, after a conditional write matched no row: a missing
    /// connection is [`StoreError::NotFound`], an existing one means the condition failed.
    async fn connection_exists(&self, id: &ConnectionId) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM connections WHERE id = ?1")
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
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM environments WHERE id = ?1)
                 AND (?3 IS NULL OR EXISTS (
                     SELECT 1 FROM connections WHERE id = ?3 AND environment_id = ?1 AND provider = ?2
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
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(StoreError::database)
    }

    async fn create_environment(&self, name: &str) -> Result<Environment, StoreError> {
        let environment = Environment {
            id: EnvironmentId::generate(),
            name: name.to_owned(),
            created_at: timestamp::now(),
        };
        sqlx::query("INSERT INTO environments (id, name, created_at) VALUES (?1, ?2, ?3)")
            .bind(environment.id.as_str())
            .bind(&environment.name)
            .bind(environment.created_at.timestamp_micros())
            .execute(&self.pool)
            .await
            .map_err(|error| write_error(error, "environment id already exists"))?;
        Ok(environment)
    }

    async fn get_environment(&self, id: &EnvironmentId) -> Result<Environment, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM environments WHERE id = ?1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(read_error)?
            .ok_or(StoreError::NotFound)?;
        environment_from_row(&row)
    }

    async fn insert_api_key(
        &self,
        environment_id: &EnvironmentId,
        key_hash: &ApiKeyHash,
        prefix: &str,
    ) -> Result<ApiKey, StoreError> {
        let api_key = ApiKey {
            id: ApiKeyId::generate(),
            environment_id: environment_id.clone(),
            prefix: prefix.to_owned(),
            created_at: timestamp::now(),
        };
        sqlx::query(
            "INSERT INTO api_keys (id, environment_id, key_hash, prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(api_key.id.as_str())
        .bind(environment_id.as_str())
        .bind(key_hash.as_str())
        .bind(&api_key.prefix)
        .bind(api_key.created_at.timestamp_micros())
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "an api key with this hash already exists"))?;
        Ok(api_key)
    }

    async fn find_api_key(&self, key_hash: &ApiKeyHash) -> Result<ApiKey, StoreError> {
        let row = sqlx::query(
            "SELECT id, environment_id, prefix, created_at FROM api_keys WHERE key_hash = ?1",
        )
        .bind(key_hash.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        api_key_from_row(&row)
    }

    async fn insert_connection(&self, new: NewConnection) -> Result<Connection, StoreError> {
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
        sqlx::query(
            "INSERT INTO connections (id, environment_id, provider, status, account, credentials, credentials_expires_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8, ?7, ?7)",
        )
        .bind(connection.id.as_str())
        .bind(connection.environment_id.as_str())
        .bind(&connection.provider)
        .bind(connection.status.as_str())
        .bind(json_text(&connection.account))
        .bind(connection.credentials.to_bytes())
        .bind(now.timestamp_micros())
        .bind(connection.credentials_expires_at.map(micros))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, &format!("connection `{}` already exists", connection.id)))?;
        Ok(connection)
    }

    async fn get_connection(
        &self,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
    ) -> Result<Connection, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?1 AND environment_id = ?2"
        ))
        .bind(id.as_str())
        .bind(environment_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        connection_from_row(&row)
    }

    async fn list_connections(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<Vec<Connection>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE environment_id = ?1 ORDER BY created_at, id"
        ))
        .bind(environment_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter().map(connection_from_row).collect()
    }

    async fn update_connection(
        &self,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
        update: ConnectionUpdate,
    ) -> Result<Connection, StoreError> {
        // One statement: SQLite takes the write lock for it, so the read of the old values and
        // the write of the new ones cannot interleave with another update.
        let row = sqlx::query(&format!(
            "UPDATE connections SET
                 status = COALESCE(?1, status),
                 account = COALESCE(?2, account),
                 credentials = COALESCE(?3, credentials),
                 credentials_expires_at = CASE WHEN ?7 THEN ?8 ELSE credentials_expires_at END,
                 updated_at = MAX(?4, updated_at + 1)
             WHERE id = ?5 AND environment_id = ?6
             RETURNING {CONNECTION_COLUMNS}"
        ))
        .bind(update.status.map(ConnectionStatus::as_str))
        .bind(update.account.as_ref().map(json_text))
        .bind(update.credentials.as_ref().map(Sealed::to_bytes))
        .bind(timestamp::now().timestamp_micros())
        .bind(id.as_str())
        .bind(environment_id.as_str())
        .bind(update.credentials_expires_at.is_some())
        .bind(update.credentials_expires_at.flatten().map(micros))
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "connection update conflicts"))?
        .ok_or(StoreError::NotFound)?;
        connection_from_row(&row)
    }

    async fn delete_connection(
        &self,
        environment_id: &EnvironmentId,
        id: &ConnectionId,
    ) -> Result<(), StoreError> {
        // Discovered fields, overrides, sessions and states go with it through `ON DELETE CASCADE`.
        let result = sqlx::query("DELETE FROM connections WHERE id = ?1 AND environment_id = ?2")
            .bind(id.as_str())
            .bind(environment_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(|error| write_error(error, "connection delete conflicts"))?;
        if result.rows_affected() == 0 {
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
        sqlx::query(
            "INSERT INTO discovered_fields (connection_id, resource, fields, fetched_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (connection_id, resource) DO UPDATE SET fields = excluded.fields, fetched_at = excluded.fetched_at",
        )
        .bind(connection_id.as_str())
        .bind(resource)
        .bind(json_text(fields))
        .bind(timestamp::truncate(fetched_at).timestamp_micros())
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
             WHERE connection_id = ?1 AND resource = ?2",
        )
        .bind(connection_id.as_str())
        .bind(resource)
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(DiscoveredFields {
            connection_id: id_column(&row, "connection_id")?,
            resource: column(&row, "resource")?,
            fields: json_column(&row, "fields")?,
            fetched_at: time_column(&row, "fetched_at")?,
        }))
    }

    async fn put_oauth_app(&self, app: &OAuthApp) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_apps (environment_id, provider, client_id, client_secret, redirect_uris, scopes, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (environment_id, provider) DO UPDATE SET
                 client_id = excluded.client_id,
                 client_secret = excluded.client_secret,
                 redirect_uris = excluded.redirect_uris,
                 scopes = excluded.scopes,
                 updated_at = excluded.updated_at",
        )
        .bind(app.environment_id.as_str())
        .bind(&app.provider)
        .bind(&app.client_id)
        .bind(app.client_secret.to_bytes())
        .bind(strings_text(&app.redirect_uris))
        .bind(app.scopes.as_deref().map(strings_text))
        .bind(micros(app.updated_at))
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
        let row = sqlx::query(
            "SELECT environment_id, provider, client_id, client_secret, redirect_uris, scopes, updated_at
             FROM oauth_apps WHERE environment_id = ?1 AND provider = ?2",
        )
        .bind(environment_id.as_str())
        .bind(provider)
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        oauth_app_from_row(&row)
    }

    async fn list_oauth_apps(&self) -> Result<Vec<OAuthApp>, StoreError> {
        let rows = sqlx::query(
            "SELECT environment_id, provider, client_id, client_secret, redirect_uris, scopes, updated_at
             FROM oauth_apps ORDER BY environment_id, provider",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter().map(oauth_app_from_row).collect()
    }

    async fn set_branding(
        &self,
        environment_id: &EnvironmentId,
        branding: &Branding,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE environments SET
                 branding_display_name = ?1, branding_logo_url = ?2, branding_primary_color = ?3,
                 allowed_redirect_urls = ?5
             WHERE id = ?4",
        )
        .bind(branding.display_name.as_deref())
        .bind(branding.logo_url.as_deref())
        .bind(branding.primary_color.as_deref())
        .bind(environment_id.as_str())
        .bind(strings_text(&branding.allowed_redirect_urls))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "branding conflicts"))?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn get_branding(&self, environment_id: &EnvironmentId) -> Result<Branding, StoreError> {
        let row = sqlx::query(
            "SELECT branding_display_name, branding_logo_url, branding_primary_color,
                 allowed_redirect_urls
             FROM environments WHERE id = ?1",
        )
        .bind(environment_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        Ok(Branding {
            display_name: column(&row, "branding_display_name")?,
            logo_url: column(&row, "branding_logo_url")?,
            primary_color: column(&row, "branding_primary_color")?,
            allowed_redirect_urls: strings_column(&row, "allowed_redirect_urls")?
                .ok_or_else(|| StoreError::Corrupt("`allowed_redirect_urls` is null".to_owned()))?,
        })
    }

    async fn insert_connect_session(&self, session: &ConnectSession) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO connect_sessions ({CONNECT_SESSION_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ))
        .bind(&session.token_hash)
        .bind(session.environment_id.as_str())
        .bind(&session.end_user_id)
        .bind(session.provider.as_deref())
        .bind(&session.redirect_url)
        .bind(session.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(micros(session.expires_at))
        .bind(micros(session.created_at))
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
            "SELECT {CONNECT_SESSION_COLUMNS} FROM connect_sessions WHERE token_hash = ?1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        connect_session_from_row(&row)
    }

    async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO oauth_states ({OAUTH_STATE_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ))
        .bind(&state.state_hash)
        .bind(state.environment_id.as_str())
        .bind(&state.provider)
        .bind(&state.scheme)
        .bind(&state.session_token_hash)
        .bind(state.code_verifier.as_ref().map(Sealed::to_bytes))
        .bind(&state.redirect_uri)
        .bind(state.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(micros(state.expires_at))
        .bind(micros(state.created_at))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "an oauth state with this hash already exists"))?;
        Ok(())
    }

    async fn take_oauth_state(&self, state_hash: &str) -> Result<OAuthState, StoreError> {
        // One statement under SQLite's single write lock: a concurrent second `DELETE` runs after
        // this one and finds nothing.
        let row = sqlx::query(&format!(
            "DELETE FROM oauth_states WHERE state_hash = ?1 RETURNING {OAUTH_STATE_COLUMNS}"
        ))
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "oauth state take conflicts"))?
        .ok_or(StoreError::NotFound)?;
        oauth_state_from_row(&row)
    }

    async fn insert_event(&self, event: NewEvent) -> Result<Event, StoreError> {
        let event = Event {
            id: EventId::generate(),
            environment_id: event.environment_id,
            connection_id: event.connection_id,
            kind: event.kind,
            payload: event.payload,
            created_at: timestamp::now(),
        };
        sqlx::query(&format!(
            "INSERT INTO events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))
        .bind(event.id.as_str())
        .bind(event.environment_id.as_str())
        .bind(event.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(&event.kind)
        .bind(json_text(&event.payload))
        .bind(event.created_at.timestamp_micros())
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "event id already exists"))?;
        Ok(event)
    }

    async fn list_events(
        &self,
        environment_id: &EnvironmentId,
        connection_id: Option<&ConnectionId>,
        kind: Option<&str>,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE environment_id = ?1
               AND (?2 IS NULL OR connection_id = ?2)
               AND (?3 IS NULL OR kind = ?3)
             ORDER BY created_at, id"
        ))
        .bind(environment_id.as_str())
        .bind(connection_id.map(ConnectionId::as_str))
        .bind(kind)
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn get_connection_by_id(&self, id: &ConnectionId) -> Result<Connection, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        connection_from_row(&row)
    }

    async fn list_connections_expiring_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Connection>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections
             WHERE credentials_expires_at IS NOT NULL AND credentials_expires_at < ?1 AND status = ?2
             ORDER BY credentials_expires_at, id
             LIMIT ?3"
        ))
        .bind(before.timestamp_micros())
        .bind(ConnectionStatus::Active.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter().map(connection_from_row).collect()
    }

    async fn acquire_refresh_lease(
        &self,
        id: &ConnectionId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        // One statement: the check that the lease is free and the take cannot interleave with
        // another process's, since SQLite runs one writer at a time.
        let row = sqlx::query(
            "UPDATE connections SET
                 refresh_fence = refresh_fence + 1,
                 refresh_lease_holder = ?1,
                 refresh_lease_until = ?2
             WHERE id = ?3
               AND (refresh_lease_holder IS NULL OR refresh_lease_until <= ?4 OR refresh_lease_holder = ?1)
             RETURNING refresh_fence",
        )
        .bind(holder)
        .bind(timestamp::add(now, ttl).timestamp_micros())
        .bind(id.as_str())
        .bind(now.timestamp_micros())
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "refresh lease conflicts"))?;
        match row {
            Some(row) => Ok(Some(fence_column(&row, "refresh_fence")?)),
            None if self.connection_exists(id).await? => Ok(None),
            None => Err(StoreError::NotFound),
        }
    }

    async fn release_refresh_lease(&self, id: &ConnectionId, fence: u64) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE connections SET refresh_lease_holder = NULL, refresh_lease_until = NULL
             WHERE id = ?1 AND refresh_fence = ?2",
        )
        .bind(id.as_str())
        .bind(fence_value(fence))
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "refresh lease release conflicts"))?;
        if result.rows_affected() == 0 && !self.connection_exists(id).await? {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn store_refreshed_credentials(
        &self,
        id: &ConnectionId,
        fence: u64,
        credentials: Sealed,
        expires_at: Option<DateTime<Utc>>,
        account: Option<Value>,
    ) -> Result<Connection, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE connections SET
                 credentials = ?1,
                 credentials_expires_at = ?2,
                 account = COALESCE(?3, account),
                 updated_at = MAX(?4, updated_at + 1)
             WHERE id = ?5 AND refresh_fence = ?6 AND refresh_lease_holder IS NOT NULL
             RETURNING {CONNECTION_COLUMNS}"
        ))
        .bind(credentials.to_bytes())
        .bind(expires_at.map(micros))
        .bind(account.as_ref().map(json_text))
        .bind(timestamp::now().timestamp_micros())
        .bind(id.as_str())
        .bind(fence_value(fence))
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "refreshed credentials conflict"))?;
        match row {
            Some(row) => connection_from_row(&row),
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
        rows.iter().map(connection_from_row).collect()
    }

    async fn replace_sealed_credentials(
        &self,
        id: &ConnectionId,
        expected: &Sealed,
        credentials: Sealed,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE connections SET credentials = ?1, updated_at = MAX(?2, updated_at + 1)
             WHERE id = ?3 AND credentials = ?4",
        )
        .bind(credentials.to_bytes())
        .bind(timestamp::now().timestamp_micros())
        .bind(id.as_str())
        .bind(expected.to_bytes())
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "credentials replacement conflicts"))?;
        if result.rows_affected() == 0 {
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
        // One statement under SQLite's single write lock: reading the latest version, checking
        // the expectation and appending the next cannot interleave with another writer.
        let row = sqlx::query(&format!(
            "INSERT INTO connector_overrides ({OVERRIDE_COLUMNS})
             SELECT ?1, ?2, ?3, latest + 1, ?4, ?5, ?6
             FROM (SELECT COALESCE(MAX(version), 0) AS latest FROM connector_overrides
                   WHERE {OVERRIDE_SCOPE})
             WHERE ?7 IS NULL OR latest = ?7
             RETURNING {OVERRIDE_COLUMNS}"
        ))
        .bind(scope.environment_id.as_str())
        .bind(&scope.provider)
        .bind(scope.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(document.map(json_text))
        .bind(revision)
        .bind(timestamp::now().timestamp_micros())
        .bind(expected_version.map(i64::from))
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| write_error(error, "override version already exists"))?;
        match row {
            Some(row) => override_version_from_row(&row),
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
        let row = sqlx::query(&format!(
            "SELECT {OVERRIDE_COLUMNS} FROM connector_overrides WHERE {OVERRIDE_SCOPE}
             ORDER BY version DESC LIMIT 1"
        ))
        .bind(scope.environment_id.as_str())
        .bind(&scope.provider)
        .bind(scope.connection_id.as_ref().map(ConnectionId::as_str))
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?;
        row.as_ref().map(override_version_from_row).transpose()
    }

    async fn override_history(
        &self,
        scope: &OverrideScope,
    ) -> Result<Vec<OverrideVersion>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OVERRIDE_COLUMNS} FROM connector_overrides WHERE {OVERRIDE_SCOPE}
             ORDER BY version"
        ))
        .bind(scope.environment_id.as_str())
        .bind(&scope.provider)
        .bind(scope.connection_id.as_ref().map(ConnectionId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter().map(override_version_from_row).collect()
    }

    async fn get_override_version(
        &self,
        scope: &OverrideScope,
        version: u32,
    ) -> Result<OverrideVersion, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {OVERRIDE_COLUMNS} FROM connector_overrides WHERE {OVERRIDE_SCOPE}
             AND version = ?4"
        ))
        .bind(scope.environment_id.as_str())
        .bind(&scope.provider)
        .bind(scope.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        override_version_from_row(&row)
    }

    async fn list_current_overrides(&self) -> Result<Vec<OverrideVersion>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OVERRIDE_COLUMNS} FROM connector_overrides AS o
             WHERE document IS NOT NULL
               AND version = (SELECT MAX(version) FROM connector_overrides AS l
                              WHERE l.environment_id = o.environment_id
                                AND l.provider = o.provider
                                AND COALESCE(l.connection_id, '') = COALESCE(o.connection_id, ''))
             ORDER BY environment_id, provider, COALESCE(connection_id, '')"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter().map(override_version_from_row).collect()
    }

    async fn record_invalid_override(
        &self,
        scope: &OverrideScope,
        version: u32,
        connector_revision: &str,
        event: NewEvent,
    ) -> Result<Option<Event>, StoreError> {
        let event = Event {
            id: EventId::generate(),
            environment_id: event.environment_id,
            connection_id: event.connection_id,
            kind: event.kind,
            payload: event.payload,
            created_at: timestamp::now(),
        };
        // The marker's insert comes first, so the transaction takes SQLite's write lock at once
        // and a concurrent reporter waits for it, then finds the marker.
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        let marked = sqlx::query(
            "INSERT INTO invalid_override_reports
                 (environment_id, provider, connection_id, version, connector_revision, event_id,
                  created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT DO NOTHING",
        )
        .bind(scope.environment_id.as_str())
        .bind(&scope.provider)
        .bind(scope.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(i64::from(version))
        .bind(connector_revision)
        .bind(event.id.as_str())
        .bind(event.created_at.timestamp_micros())
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "invalid override already reported"))?;
        if marked.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query(&format!(
            "INSERT INTO events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))
        .bind(event.id.as_str())
        .bind(event.environment_id.as_str())
        .bind(event.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(&event.kind)
        .bind(json_text(&event.payload))
        .bind(event.created_at.timestamp_micros())
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "event id already exists"))?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(Some(event))
    }
}
