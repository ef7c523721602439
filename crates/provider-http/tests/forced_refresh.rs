//! A forced refresh (the vendor refused the token) is skipped only when another task or
//! process replaced the token the caller was refused with, never because the connection's row
//! changed for another reason (its account, a named token, a status).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use provider_http::ProviderClient;
use provider_http::credentials::{TokenManager, credentials_aad};
use provider_http::oauth::OAuthClient;
use secrets::Keyring;
use serde_json::{Value, json};
use store::{ConnectionId, ConnectionStatus, ConnectionUpdate, NewConnection, Store};

mod common;

/// A token endpoint that grants `fresh-<n>` to its n-th request, counting them.
async fn token_endpoint() -> (u16, Arc<AtomicUsize>) {
    common::serve(|n| {
        let body = format!(
            r#"{{"access_token":"fresh-{n}","refresh_token":"refresh","expires_in":3600,"token_type":"bearer"}}"#
        );
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        (head, body.into_bytes())
    })
    .await
}

fn acme(port: u16) -> connector::Connector {
    let text = format!(
        r#"
schema_version: 1
meta: {{ id: acme, label: Acme, categories: [crm], revision: "1" }}
auth:
  schemes:
    oauth:
      kind: oauth2
      grant: authorization_code
      client: connection
      authorize_url: "http://127.0.0.1:{port}/authorize"
      token_url: "http://127.0.0.1:{port}/token"
      scopes: [contacts]
http:
  base_url: http://127.0.0.1:{port}
  allowed_hosts: ["http://127.0.0.1:{port}"]
resources:
  contacts:
    list: {{ http_method: GET, path: /contacts, records: results }}
unified:
  crm.contacts:
    list:
      routes:
        - use: contacts.list
      record_mapping: "{{'id': id}}"
"#
    );
    connector::load_connector_from_str("acme.yaml", &text, None).expect("loads")
}

struct Fixture {
    store: Arc<dyn Store>,
    tokens: Arc<TokenManager>,
    connector: connector::Connector,
    served: Arc<AtomicUsize>,
    /// The connection as a request read it before the vendor refused its token.
    seen: store::Connection,
}

async fn fixture() -> Fixture {
    let (port, served) = token_endpoint().await;
    let store: Arc<dyn Store> = Arc::new(
        store_sqlite::open_in_memory()
            .await
            .expect("an in-memory store"),
    );
    let keyring = Arc::new(
        Keyring::from_base64("k1", &[("k1", secrets::generate_key())]).expect("a keyring"),
    );
    let environment = store
        .create_environment("test")
        .await
        .expect("an environment");
    let id = ConnectionId::generate();
    let credentials =
        json!({"access_token": "refused", "refresh_token": "refresh", "client_secret": "secret"});
    let seen = store
        .insert_connection(NewConnection {
            id: id.clone(),
            environment_id: environment.id.clone(),
            provider: "acme".to_owned(),
            status: ConnectionStatus::Active,
            account: json!({"auth_scheme": "oauth", "client_id": "client"}),
            credentials: keyring.seal_json(&credentials, &credentials_aad(&id)),
            credentials_expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
        })
        .await
        .expect("inserted");
    let oauth = OAuthClient::new(&ProviderClient::new(Duration::from_secs(5)));
    Fixture {
        tokens: Arc::new(TokenManager::new(Arc::clone(&store), keyring, oauth)),
        store,
        connector: acme(port),
        served,
        seen,
    }
}

fn access_token(secrets: &Value) -> &str {
    secrets
        .get("access_token")
        .and_then(Value::as_str)
        .expect("an access token")
}

/// The row changed after the request read it, but not its token: the refused token must not
/// be handed back as if someone had refreshed it.
#[tokio::test]
async fn a_forced_refresh_is_not_skipped_because_the_row_changed_otherwise() {
    let f = fixture().await;
    let mut account = f.seen.account.clone();
    account["label"] = json!("renamed");
    let changed = f
        .store
        .update_connection(
            &f.seen.environment_id,
            &f.seen.id,
            ConnectionUpdate {
                account: Some(account),
                ..ConnectionUpdate::default()
            },
        )
        .await
        .expect("updated");
    assert!(
        changed.updated_at > f.seen.updated_at,
        "the unrelated update moved the row's updated_at"
    );
    let (_, secrets) = f
        .tokens
        .fresh(f.seen.clone(), &f.connector, true, None)
        .await
        .expect("refreshed");
    assert_eq!(
        access_token(&secrets),
        "fresh-1",
        "a new token, not the refused one"
    );
    assert_eq!(f.served.load(Ordering::SeqCst), 1, "one token request");
}

/// Another task replaced the refused token after the request read the row: that token is used
/// and the token endpoint is not asked again.
#[tokio::test]
async fn a_forced_refresh_takes_a_token_someone_else_already_replaced() {
    let f = fixture().await;
    let (_, first) = f
        .tokens
        .fresh(f.seen.clone(), &f.connector, true, None)
        .await
        .expect("refreshed");
    assert_eq!(access_token(&first), "fresh-1");
    // A second request that read the row before that refresh, refused with the same token.
    let (_, second) = f
        .tokens
        .fresh(f.seen.clone(), &f.connector, true, None)
        .await
        .expect("refreshed");
    assert_eq!(access_token(&second), "fresh-1", "the replacement is taken");
    assert_eq!(
        f.served.load(Ordering::SeqCst),
        1,
        "still one token request"
    );
}
