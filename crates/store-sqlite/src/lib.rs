//! The Store on SQLite, the embedded default.
//!
//! One database file in the data directory, opened in WAL mode so readers never wait for the
//! writer, with foreign keys on (they carry the cascade from connections to discovered fields) and
//! a busy timeout so concurrent writers queue instead of failing.
//! Every method is a single statement, so no transaction ever has to upgrade a read lock to a
//! write lock, which is where SQLite would answer `SQLITE_BUSY` without waiting.
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
    ApiKey, ApiKeyHash, ApiKeyId, Connection, ConnectionId, ConnectionStatus, ConnectionUpdate,
    DiscoveredFields, Environment, EnvironmentId, IdError, NewConnection, Store, StoreError,
    timestamp,
};

/// The schema, embedded from `migrations/` at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Pooled connections to a file; SQLite runs one writer at a time, the rest serve reads.
const MAX_CONNECTIONS: u32 = 8;

const CONNECTION_COLUMNS: &str =
    "id, environment_id, provider, status, account, credentials, created_at, updated_at";

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
        created_at: time_column(row, "created_at")?,
        updated_at: time_column(row, "updated_at")?,
    })
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
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO connections (id, environment_id, provider, status, account, credentials, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        )
        .bind(connection.id.as_str())
        .bind(connection.environment_id.as_str())
        .bind(&connection.provider)
        .bind(connection.status.as_str())
        .bind(json_text(&connection.account))
        .bind(connection.credentials.to_bytes())
        .bind(now.timestamp_micros())
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
        // Discovered fields go with it through `ON DELETE CASCADE`.
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
}
