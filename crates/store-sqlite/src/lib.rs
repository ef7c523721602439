//! The Store on SQLite, the embedded default.
//!
//! One database file in the data directory, opened in WAL mode so readers never wait for the
//! writer, with foreign keys on (they carry the cascade from connections to their discovered
//! fields, connector overrides, Connect sessions and OAuth states) and a busy timeout so
//! concurrent writers queue instead of failing.
//! The queries are `store-sql`'s; this crate holds the schema, the way to open a database, and
//! the [`Dialect`]: timestamps as integer microseconds since the Unix epoch, JSON as its text.
//! SQLite runs one writer at a time, so a statement that reads and writes one row cannot
//! interleave with another writer, and every transaction starts with a write, so it never has to
//! upgrade a read lock (where SQLite would answer `SQLITE_BUSY` without waiting).
//! Several processes on one file work but are not the target; use `store-postgres` for that.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row as _;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{Pool, Sqlite};
use store::StoreError;
use store_sql::{Dialect, SqlStore};

/// The schema, embedded from `migrations/` at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Pooled connections to a file; SQLite runs one writer at a time, the rest serve reads.
const MAX_CONNECTIONS: u32 = 8;

/// A [`store::Store`] on one SQLite database file.
pub type SqliteStore = SqlStore<SqliteDialect>;

/// SQLite's way with the shared queries.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Db = Sqlite;
    type Time = i64;

    const BYTEWISE: &'static str = "COLLATE BINARY";

    // One writer at a time: an `UPDATE … WHERE id IN (SELECT …)` runs whole under the write lock.
    const SKIP_LOCKED: &'static str = "";
    const ONE_WRITER: bool = true;

    fn json(param: &str) -> String {
        param.to_owned()
    }

    fn param(_n: usize) -> String {
        "?".to_owned()
    }

    fn later(now: &str, previous: &str) -> String {
        format!("MAX({now}, {previous} + 1)")
    }

    fn time(at: DateTime<Utc>) -> i64 {
        at.timestamp_micros()
    }

    fn read_time(stored: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(stored)
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn migrate(pool: &Pool<Sqlite>) -> Result<(), StoreError> {
        MIGRATOR.run(pool).await.map_err(StoreError::database)
    }
}

/// Opens (creating it and its parent directory when missing) the database at `path` and brings
/// its schema up to date.
///
/// `synchronous = FULL` makes each commit durable before it returns: a refreshed token that the
/// provider has already rotated must not be lost to a power cut.
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
    create_private(path).map_err(StoreError::database)?;
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
    migrated(pool).await
}

/// Opens a private in-memory database with the schema applied; for tests.
///
/// The pool holds exactly one connection for its whole life, since the database lives and dies
/// with that connection.
///
/// # Errors
///
/// [`StoreError::Database`] when SQLite cannot start or a migration fails.
/// Creates the database file readable by its owner alone (SQLite gives its journal and WAL
/// files the same mode); an existing file is left as it is.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

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
    migrated(pool).await
}

async fn migrated(pool: Pool<Sqlite>) -> Result<SqliteStore, StoreError> {
    SqliteDialect::migrate(&pool).await?;
    Ok(SqlStore::new(pool, SqliteDialect))
}

/// Copies every committed page from the write-ahead log into the database file and empties the
/// log, so the database file alone is a complete copy (for a backup, say).
///
/// # Errors
///
/// [`StoreError::Database`] when the checkpoint cannot run, and [`StoreError::Conflict`] when a
/// concurrent reader kept it from completing.
pub async fn checkpoint(store: &SqliteStore) -> Result<(), StoreError> {
    let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(store.pool())
        .await
        .map_err(StoreError::database)?;
    let busy: i64 = row.try_get("busy").map_err(StoreError::database)?;
    if busy != 0 {
        return Err(StoreError::Conflict(
            "checkpoint blocked by a concurrent reader".to_owned(),
        ));
    }
    Ok(())
}
