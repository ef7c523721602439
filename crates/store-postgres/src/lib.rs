//! The Store on PostgreSQL, for several Crosswalk processes.
//!
//! The queries are `store-sql`'s; this crate holds the schema, the connect functions, and the
//! [`Dialect`]: timestamps as `timestamptz`, JSON as `json` (which keeps the text as written, so
//! object key order survives), bytewise ordering through the `"C"` collation.
//! A single-statement write reads and writes its row under the row lock it takes, and a
//! conditional one is re-checked by Postgres on the latest row version after waiting for a
//! concurrent writer, so two processes updating one connection queue rather than overwrite.
//! Override versions are appended by one `INSERT … SELECT` of the latest version plus one; the
//! unique index on (scope, version) turns a concurrent writer that read the same latest version
//! into a conflict, which an unconditional write retries and an expecting write reports.
//! [`connect_in_schema`] keeps all tables, the migrations table included, in one schema, for a
//! Crosswalk that shares a database with other software and for tests that need a fresh,
//! isolated database per run.
//! Migrations are not run on connect: call [`store::Store::migrate`] (the `migrate` command
//! does).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgQueryResult};
use sqlx::{Pool, Postgres};
use store::StoreError;
use store_sql::{Dialect, SqlStore};

/// The schema, embedded from `migrations/` at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Pooled connections per process.
const MAX_CONNECTIONS: u32 = 10;

/// How long a call waits for a free pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`store::Store`] on a PostgreSQL database.
pub type PostgresStore = SqlStore<PostgresDialect>;

/// PostgreSQL's way with the shared queries, and the schema a store was connected in.
#[derive(Debug, Clone, Default)]
pub struct PostgresDialect {
    schema: Option<String>,
}

impl PostgresDialect {
    /// Returns the schema given to [`connect_in_schema`], if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
}

impl Dialect for PostgresDialect {
    type Db = Postgres;
    type Time = DateTime<Utc>;

    const BYTEWISE: &'static str = "COLLATE \"C\"";

    const SKIP_LOCKED: &'static str = "FOR UPDATE SKIP LOCKED";
    const ONE_WRITER: bool = false;

    // Bound as text and cast, so Postgres stores the text verbatim (a `jsonb` value would not).
    fn json(param: &str) -> String {
        format!("{param}::json")
    }

    fn param(n: usize) -> String {
        format!("${n}")
    }

    fn later(now: &str, previous: &str) -> String {
        format!("GREATEST({now}, {previous} + INTERVAL '1 microsecond')")
    }

    fn time(at: DateTime<Utc>) -> DateTime<Utc> {
        at
    }

    fn read_time(stored: DateTime<Utc>) -> Option<DateTime<Utc>> {
        Some(stored)
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn migrate(pool: &Pool<Postgres>) -> Result<(), StoreError> {
        // sqlx holds a Postgres advisory lock while migrating, so concurrent callers take turns.
        MIGRATOR.run(pool).await.map_err(StoreError::database)
    }
}

/// Connects to the database at `url` (`postgres://user:password@host:port/database`) using the
/// server's default `search_path`.
///
/// # Errors
///
/// [`StoreError::Database`] when the URL is invalid or the server cannot be reached.
pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(StoreError::database)?;
    connect_with(options, PostgresDialect::default()).await
}

/// Connects with every pooled connection's `search_path` set to `schema` alone, creating the
/// schema when it does not exist, so all tables and the migrations table live there.
///
/// `schema` is a plain lowercase identifier, `[a-z_][a-z0-9_]*`, at most 63 bytes.
///
/// # Errors
///
/// [`StoreError::Database`] when the schema name is not such an identifier, the URL is invalid,
/// the server cannot be reached, or the schema cannot be created.
pub async fn connect_in_schema(url: &str, schema: &str) -> Result<PostgresStore, StoreError> {
    let valid_start = schema
        .bytes()
        .next()
        .is_some_and(|byte| byte.is_ascii_lowercase() || byte == b'_');
    let valid_rest = schema
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
    if !(valid_start && valid_rest && schema.len() <= 63) {
        return Err(StoreError::database(format!(
            "invalid schema name `{schema}`: use `[a-z_][a-z0-9_]*`, at most 63 bytes"
        )));
    }
    // Set at connection startup, so it holds on every pooled connection from its first query.
    let options = PgConnectOptions::from_str(url)
        .map_err(StoreError::database)?
        .options([("search_path", schema)]);
    let dialect = PostgresDialect {
        schema: Some(schema.to_owned()),
    };
    let store = connect_with(options, dialect).await?;
    // Look first: `CREATE SCHEMA IF NOT EXISTS` needs the CREATE privilege on the database even
    // when the schema exists, which a role given a schema made by an administrator lacks.
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(store.pool())
            .await
            .map_err(StoreError::database)?;
    if !exists {
        // The name was checked to be a plain identifier above, so it needs no quoting.
        let created = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(store.pool())
            .await;
        match created {
            Ok(_) => {}
            // Another process created it between the check and here; that is what was wanted.
            Err(sqlx::Error::Database(error)) if error.kind() == ErrorKind::UniqueViolation => {}
            Err(error) => return Err(StoreError::database(error)),
        }
    }
    Ok(store)
}

async fn connect_with(
    options: PgConnectOptions,
    dialect: PostgresDialect,
) -> Result<PostgresStore, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(StoreError::database)?;
    Ok(SqlStore::new(pool, dialect))
}
