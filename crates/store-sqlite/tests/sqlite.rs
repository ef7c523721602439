//! Tests of the SQLite store: the shared conformance suite on a file and in memory, persistence
//! across reopening, and proof that plaintext credentials never reach the database files.

use std::path::{Path, PathBuf};

use serde_json::json;
use store::conformance::{Check, test_keyring};
use store::{ConnectionId, ConnectionStatus, ConnectionUpdate, NewConnection, Store, timestamp};

/// The suite on a database file in a fresh directory, as `crosswalk serve` opens it.
mod on_a_file {
    use super::*;

    async fn run(check: Check) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store_sqlite::open(&dir.path().join("nested/data/crosswalk.db"))
            .await
            .expect("open");
        check(&store).await;
        store.close().await;
    }

    store::conformance_tests!(run);
}

/// The suite on a private in-memory database, which holds one connection for its whole life.
mod in_memory {
    use super::*;

    async fn run(check: Check) {
        let store = store_sqlite::open_in_memory().await.expect("open");
        check(&store).await;
    }

    store::conformance_tests!(run);
}

#[tokio::test]
async fn rows_survive_reopening_and_migrate_is_idempotent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crosswalk.db");
    let store = store_sqlite::open(&path).await.expect("open");
    let environment = store
        .create_environment("persistent")
        .await
        .expect("create");
    store.migrate().await.expect("second migrate is a no-op");
    store.close().await;

    let reopened = store_sqlite::open(&path)
        .await
        .expect("reopen runs migrations again");
    assert_eq!(
        reopened
            .get_environment(&environment.id)
            .await
            .expect("get"),
        environment
    );
    reopened.close().await;
}

fn database_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_owned()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    files
}

/// Reads every existing database file and reports which contain `needle`.
fn files_containing(path: &Path, needle: &[u8]) -> Vec<PathBuf> {
    database_files(path)
        .into_iter()
        .filter(|file| {
            std::fs::read(file)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|window| window == needle))
        })
        .collect()
}

#[tokio::test]
async fn plaintext_credentials_never_reach_the_database_files() {
    const CANARY: &str = "sk_live_PLAINTEXT_CANARY_123";
    const REFRESHED_CANARY: &str = "rt_live_REFRESHED_CANARY_456";
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crosswalk.db");
    let store = store_sqlite::open(&path).await.expect("open");
    let keyring = test_keyring();

    let environment = store.create_environment("canary").await.expect("create");
    let id = ConnectionId::generate();
    let credentials = json!({"api_key": CANARY, "refresh_token": CANARY});
    let new = NewConnection {
        id: id.clone(),
        environment_id: environment.id.clone(),
        provider: "canary_provider_marker".to_owned(),
        status: ConnectionStatus::Active,
        account: json!({"instance_url": "https://account-marker.example.invalid"}),
        credentials: keyring.seal_json(&credentials, id.as_str().as_bytes()),
        credentials_expires_at: None,
    };
    store.insert_connection(new).await.expect("insert");
    let refreshed = keyring.seal_json(
        &json!({"refresh_token": REFRESHED_CANARY}),
        id.as_str().as_bytes(),
    );
    let update = ConnectionUpdate {
        credentials: Some(refreshed),
        ..ConnectionUpdate::default()
    };
    store
        .update_connection(&environment.id, &id, update)
        .await
        .expect("update");
    store
        .put_discovered_fields(
            &id,
            "contacts",
            &json!({"fields": ["email"]}),
            timestamp::now(),
        )
        .await
        .expect("put fields");

    // The sealed value still opens to the canary, so the scan below would have had something to find.
    let stored = store
        .get_connection(&environment.id, &id)
        .await
        .expect("get");
    let opened = keyring
        .open_json(&stored.credentials, id.as_str().as_bytes())
        .expect("opens");
    assert_eq!(opened["refresh_token"], json!(REFRESHED_CANARY));

    // While open, recent writes sit in the write-ahead log: scan it too.
    for canary in [CANARY, REFRESHED_CANARY] {
        assert_eq!(
            files_containing(&path, canary.as_bytes()),
            Vec::<PathBuf>::new(),
            "{canary} while open"
        );
    }
    assert!(
        !files_containing(&path, b"canary_provider_marker").is_empty(),
        "the scan sees the rows: the non-secret provider name is found"
    );

    store_sqlite::checkpoint(&store).await.expect("checkpoint");
    store.close().await;
    let on_disk: u64 = database_files(&path)
        .iter()
        .filter_map(|file| std::fs::metadata(file).ok())
        .map(|m| m.len())
        .sum();
    assert!(on_disk > 0);
    for canary in [CANARY, REFRESHED_CANARY] {
        assert_eq!(
            files_containing(&path, canary.as_bytes()),
            Vec::<PathBuf>::new(),
            "{canary} after close"
        );
    }
    assert_eq!(
        files_containing(&path, b"canary_provider_marker"),
        vec![path.clone()],
        "after the checkpoint the rows live in the main file"
    );
}

/// A sync page's multi-row statements (issue 16) write their parameters as SQLite's anonymous
/// `?`, bound in the order written: sqlx asks SQLite the name of every parameter it binds, and
/// SQLite walks the statement's list of names for each, so the `$n` names a page's 800-parameter
/// `INSERT`s had cost a quadratic walk per statement (5% of the backfill bench's CPU in `perf`).
#[tokio::test]
async fn statements_of_many_parameters_bind_anonymous_ones_in_order() {
    use sqlx::Row as _;
    use store_sql::Dialect as _;
    use store_sqlite::SqliteDialect;

    let placeholders: Vec<String> = (1..=800).map(SqliteDialect::param).collect();
    assert!(
        placeholders.iter().all(|param| param == "?"),
        "SQLite's placeholders are anonymous: {:?}",
        &placeholders[..3]
    );
    let pool = sqlx::SqlitePool::connect("sqlite::memory:")
        .await
        .expect("an in-memory database");
    let sql = format!(
        "SELECT {}",
        (0..placeholders.len())
            .map(|n| format!("{} AS c{n}", placeholders[n]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut query = sqlx::query(&sql);
    for n in 0..placeholders.len() {
        query = query.bind(i64::try_from(n).expect("small"));
    }
    let row = query.fetch_one(&pool).await.expect("the statement runs");
    for n in 0..placeholders.len() {
        assert_eq!(row.get::<i64, _>(n), i64::try_from(n).expect("small"));
    }
}
