//! Tenancy and secrets: another environment sees nothing; no plaintext credential reaches the
//! database files or the logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn another_environments_key_sees_nothing() {
    let app = spawn_app().await;
    let other = app
        .demo
        .store
        .create_environment("other")
        .await
        .expect("environment");
    let key = store::generate_api_key();
    app.demo
        .store
        .insert_api_key(
            &other.id,
            &store::ApiKeyHash::of(&key),
            &store::api_key_prefix(&key),
        )
        .await
        .expect("api key");
    let (status, body) = app.call_as(&key, Method::GET, "/connections", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"], json!([]));
    let connection = app.connection("hubspot");
    for path in [
        format!("/connections/{connection}"),
        format!("/unified/crm/contacts?connection_id={connection}"),
        format!("/proxy/crm/v3/objects/contacts?connection_id={connection}"),
    ] {
        let (status, body) = app.call_as(&key, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) = app
        .call_as(
            &key,
            Method::DELETE,
            &format!("/connections/{connection}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call_as("cw_not_a_key", Method::GET, "/connections", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/connections").await;
    assert_eq!(status, StatusCode::OK, "the demo's own key still works");
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_plaintext_credential_reaches_the_database_or_the_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = spawn_app().await;
    let canary = "pat-na1-PLAINTEXT-CANARY-5f0e9d";
    let (status, created) = app
        .call(
            Method::POST,
            "/connections",
            Some(json!({"provider": "hubspot", "auth_scheme": "private_app", "fields": {"private_app_token": canary}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        !created.to_string().contains(canary),
        "the answer echoes no secret"
    );
    let id = created["id"].as_str().expect("id");
    // The vendor refuses the canary token: the error body must not echo it either.
    let (_, body) = app
        .get(&format!("/unified/crm/contacts?connection_id={id}"))
        .await;
    assert!(!body.to_string().contains(canary), "{body}");
    let (_, body) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={}&page_size=2",
            app.connection("hubspot")
        ))
        .await;
    assert!(body["results"].is_array());

    // Every demo connection's credential, from every simulator of the registry.
    let tokens: Vec<&str> = app
        .demo
        .vendors
        .iter()
        .map(|vendor| vendor.simulator.token.as_str())
        .collect();
    assert!(!tokens.is_empty() && tokens.iter().all(|token| token.len() > 8));
    for suffix in ["", "-wal", "-shm"] {
        let path = app.data_dir.path().join(format!("crosswalk.db{suffix}"));
        if let Ok(bytes) = std::fs::read(&path) {
            for secret in [canary, app.demo.api_key.as_str()]
                .into_iter()
                .chain(tokens.iter().copied())
            {
                assert!(
                    !bytes
                        .windows(secret.len())
                        .any(|window| window == secret.as_bytes()),
                    "`{secret}` found in plaintext in {}",
                    path.display()
                );
            }
        }
    }
    let logged = String::from_utf8_lossy(&logs.0.lock().expect("log buffer")).into_owned();
    assert!(
        logged.contains("connection created"),
        "the logs were captured"
    );
    for secret in std::iter::once(canary).chain(tokens.iter().copied()) {
        assert!(!logged.contains(secret), "`{secret}` reached the logs");
    }
}
