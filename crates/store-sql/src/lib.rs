//! The [`Store`](store::Store) in SQL, written once for every sqlx database a [`Dialect`] describes.
//!
//! `store-sqlite` and `store-postgres` each provide a dialect, their migrations and their connect
//! functions; the queries, the row mapping, the transactions and the error mapping live here.
//! Both databases read `$1`-style parameters, `RETURNING`, `ON CONFLICT` upserts and row-value
//! comparisons alike, so one SQL text serves both; what differs is isolated in [`Dialect`]:
//! how a timestamp is stored, how a JSON parameter is written, how a version time moves past its
//! previous value, the bytewise collation, and how migrations run.
//! Values keep their types end to end (no `Any` driver): timestamps as the dialect stores them,
//! credentials as bytes, JSON as its text, read back through [`sqlx::types::Json`].
//!
//! Writes that belong together run in one transaction whose first statement writes, so SQLite
//! takes its write lock at the start (a read lock upgraded later could fail at once with
//! `SQLITE_BUSY`) and Postgres locks the row before the second write.
//! Conditional writes (refresh leases, fenced credentials, compare-and-swap, versioned override
//! writes) decide in one statement; only when it matched no row does a second, read-only one tell
//! a missing connection or environment from a failed condition.

mod inbound;
mod rows;
mod store_impl;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{Database, Decode, Encode, Pool, Type};
use store::StoreError;

/// What one database does differently, for [`SqlStore`].
///
/// Implemented by each backend crate on a type of its own, which may carry per-store settings.
pub trait Dialect: fmt::Debug + Send + Sync + 'static {
    /// The sqlx database.
    type Db: Database;

    /// A timestamp as the database stores it (`timestamptz`, or integer microseconds).
    type Time: for<'q> Encode<'q, Self::Db>
        + for<'r> Decode<'r, Self::Db>
        + Type<Self::Db>
        + Send
        + Sync
        + 'static;

    /// A `JSON` parameter: the SQL that reads the JSON text bound at `param` (e.g. `$3`) as the
    /// column's type, keeping the text as written.
    fn json(param: &str) -> String;

    /// The SQL of the `n`th parameter (from 1) of a statement whose parameters are written in
    /// the order they are bound, each bound once: `$n`, or SQLite's anonymous `?`. sqlx's SQLite
    /// driver asks SQLite the name of every parameter it binds, and SQLite finds a name by
    /// walking the statement's list of names, so a statement of n named parameters (a
    /// multi-row `INSERT` of a sync page) costs n² steps to bind; anonymous ones have no names.
    fn param(n: usize) -> String;

    /// The SQL of a version timestamp: `now` (a parameter), or just after `previous` (a column)
    /// when that is not earlier, so the value always grows.
    fn later(now: &str, previous: &str) -> String;

    /// The collation clause that orders text by its bytes, as both databases must agree.
    const BYTEWISE: &'static str;

    /// What a `SELECT` that picks rows for an `UPDATE` adds so that concurrent pickers skip
    /// each other's rows instead of waiting for them (`FOR UPDATE SKIP LOCKED`), or nothing where
    /// one writer at a time already keeps them apart.
    const SKIP_LOCKED: &'static str;

    /// Whether the database takes one write transaction at a time (SQLite): the process's
    /// write transactions then take turns in the store ([`SqlStore::write_turn`]).
    const ONE_WRITER: bool;

    /// Converts a time (already truncated to microseconds) for binding.
    fn time(at: DateTime<Utc>) -> Self::Time;

    /// Converts a stored time back; `None` when it is out of range.
    fn read_time(stored: Self::Time) -> Option<DateTime<Utc>>;

    /// How many rows a write changed.
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;

    /// Runs the backend's pending migrations.
    fn migrate(pool: &Pool<Self::Db>) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A [`Store`](store::Store) on a pool of one database, speaking its [`Dialect`].
///
/// Cheap to clone: clones share the pool.
pub struct SqlStore<D: Dialect> {
    pool: Pool<D::Db>,
    dialect: D,
    /// The turn of the process's write transactions on a one-writer database.
    write_gate: Arc<tokio::sync::Mutex<()>>,
}

impl<D: Dialect + Clone> Clone for SqlStore<D> {
    fn clone(&self) -> SqlStore<D> {
        SqlStore {
            pool: self.pool.clone(),
            dialect: self.dialect.clone(),
            write_gate: Arc::clone(&self.write_gate),
        }
    }
}

impl<D: Dialect> SqlStore<D> {
    /// A store on `pool`; it does not migrate (call [`store::Store::migrate`]).
    pub fn new(pool: Pool<D::Db>, dialect: D) -> SqlStore<D> {
        SqlStore {
            pool,
            dialect,
            write_gate: Arc::default(),
        }
    }

    /// Waits for this process's turn to run a write transaction on a one-writer database
    /// ([`Dialect::ONE_WRITER`]); the turn lasts while the guard lives, so it is taken before
    /// the transaction begins and kept past its commit. Elsewhere it returns at once.
    ///
    /// Writers then queue here in arrival order. Without it they met inside SQLite, where every
    /// writer but one got `SQLITE_BUSY` and slept in the busy handler (1 ms, then 2, 5, 10 … up
    /// to 100 ms a try) while the lock was often free again after a millisecond: that sleep, not
    /// the writes, was the tail of the webhook ack's latency (`docs/benchmarks.md`,
    /// `webhook_ack`). A transaction holding its turn must not wait for another write turn
    /// (every store method takes at most one, around its own transaction).
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if D::ONE_WRITER {
            Some(self.write_gate.lock().await)
        } else {
            None
        }
    }

    /// The pool, for statements of the backend's own (a checkpoint, say).
    pub fn pool(&self) -> &Pool<D::Db> {
        &self.pool
    }

    /// The dialect with its per-store settings.
    pub fn dialect(&self) -> &D {
        &self.dialect
    }

    /// Waits for pending statements, then closes every pooled connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl<D: Dialect> fmt::Debug for SqlStore<D> {
    // The pool's options may hold a password; print only what identifies the store.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.dialect)
            .field("pool_size", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// Maps a failed write: unique violations are conflicts, foreign key violations mean the parent
/// row (environment or connection) does not exist.
fn write_error(error: sqlx::Error, conflict: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(database_error) => match database_error.kind() {
            sqlx::error::ErrorKind::UniqueViolation => StoreError::Conflict(conflict.to_owned()),
            sqlx::error::ErrorKind::ForeignKeyViolation => StoreError::NotFound,
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
