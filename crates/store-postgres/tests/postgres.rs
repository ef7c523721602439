//! Tests of the Postgres store: the shared conformance suite, schema isolation and concurrent
//! migration.
//!
//! They need a server: set `CROSSWALK_TEST_POSTGRES_URL` (CI uses
//! `postgres://postgres@127.0.0.1:5432/test`). Without it every test that needs the server fails
//! with a message naming the variable: a suite that skips itself would pass without testing.
//! Each test works in a fresh schema with a random name, dropped at the end even when the test
//! fails, so parallel runs and reruns never see each other's rows.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use sqlx::Connection as _;
use store::conformance::Check;
use store::{Store, StoreError};
use store_postgres::PostgresStore;

const URL_VARIABLE: &str = "CROSSWALK_TEST_POSTGRES_URL";

/// The server to test against.
///
/// # Panics
///
/// When the variable is unset or empty.
fn test_url() -> String {
    required_url(std::env::var(URL_VARIABLE).ok())
}

fn required_url(value: Option<String>) -> String {
    match value {
        Some(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL_VARIABLE} is not set: these tests need a PostgreSQL server, \
             e.g. {URL_VARIABLE}=postgres://postgres@127.0.0.1:5432/test"
        ),
    }
}

#[test]
fn a_missing_server_url_fails_the_tests_instead_of_skipping_them() {
    for unset in [None, Some(String::new())] {
        let panic = std::panic::catch_unwind(|| required_url(unset)).expect_err("must panic");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(message.contains(URL_VARIABLE), "{message}");
    }
    assert_eq!(
        required_url(Some("postgres://host/db".to_owned())),
        "postgres://host/db"
    );
}

fn random_schema() -> String {
    format!("cw_test_{}", uuid::Uuid::new_v4().simple())
}

async fn drop_schema(url: &str, schema: &str) {
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .expect("connect to drop the test schema");
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&mut connection)
        .await
        .expect("drop the test schema");
    connection.close().await.expect("close");
}

/// Runs `body` on a migrated store in a fresh schema, then drops the schema, then re-raises any
/// panic from `body`.
async fn in_fresh_schema<F, Fut>(url: &str, body: F)
where
    F: FnOnce(PostgresStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let schema = random_schema();
    let store = store_postgres::connect_in_schema(url, &schema)
        .await
        .expect("connect");
    let outcome = AssertUnwindSafe(async {
        store.migrate().await.expect("migrate");
        body(store.clone()).await;
    })
    .catch_unwind()
    .await;
    store.close().await;
    drop_schema(url, &schema).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The suite, each check on a migrated store in a schema of its own.
mod conformance {
    use super::*;

    async fn run(check: Check) {
        in_fresh_schema(&test_url(), |store| async move { check(&store).await }).await;
    }

    store::conformance_tests!(run);
}

#[tokio::test]
async fn schemas_isolate_stores_and_hold_the_migrations_table() {
    let url = test_url();
    let url = url.as_str();
    in_fresh_schema(url, |first| async move {
        let environment = first.create_environment("only in the first schema").await.expect("create");
        let schema = first.dialect().schema().expect("connected in a schema").to_owned();
        in_fresh_schema(url, |second| async move {
            match second.get_environment(&environment.id).await {
                Err(StoreError::NotFound) => {}
                other => panic!("the second schema must not see the first's rows, got {other:?}"),
            }
        })
        .await;

        let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
        )
        .bind(&schema)
        .fetch_all(&mut connection)
        .await
        .expect("list tables");
        assert_eq!(
            tables,
            [
                "_sqlx_migrations",
                "api_keys",
                "changes",
                "connect_sessions",
                "connections",
                "connector_overrides",
                "discovered_fields",
                "environments",
                "events",
                "idempotency_keys",
                "invalid_override_reports",
                "jobs",
                "oauth_apps",
                "oauth_states",
                "sync_progress",
                "synced_records",
                "webhook_attempts",
                "webhook_endpoints",
                "webhook_event_ids",
                "webhook_inbox",
                "webhook_ingresses",
                "webhook_messages",
                "webhook_outbox",
                "webhook_verification_failures",
            ]
        );
        connection.close().await.expect("close");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_together_create_and_migrate_one_schema() {
    let url = test_url();
    let schema = random_schema();
    let outcome = AssertUnwindSafe(async {
        // Three processes start at once on a schema that does not exist yet.
        let connects = (0..3).map(|_| store_postgres::connect_in_schema(&url, &schema));
        let stores: Vec<PostgresStore> = futures::future::join_all(connects)
            .await
            .into_iter()
            .map(|result| result.expect("connect creates the schema once"))
            .collect();
        let migrations =
            futures::future::join_all(stores.iter().map(|store| store.migrate())).await;
        for result in migrations {
            result.expect("one runs the migrations, the others find them done");
        }
        let environment = stores[0]
            .create_environment("shared")
            .await
            .expect("create");
        assert_eq!(
            stores[2]
                .get_environment(&environment.id)
                .await
                .expect("same schema"),
            environment
        );
        for store in &stores {
            store.close().await;
        }
    })
    .catch_unwind()
    .await;
    drop_schema(&url, &schema).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn invalid_schema_names_are_rejected_before_connecting() {
    // No server is needed: the name is checked first.
    for schema in [
        "",
        "Upper",
        "1starts_with_digit",
        "semi;colon",
        "quote\"d",
        &"a".repeat(64),
    ] {
        match store_postgres::connect_in_schema("postgres://127.0.0.1:1/unused", schema).await {
            Err(StoreError::Database(error)) => {
                assert!(error.to_string().contains("invalid schema name"), "{error}")
            }
            other => panic!("schema {schema:?}: expected an invalid-name error, got {other:?}"),
        }
    }
}
