//! The transport against a raw loopback server: a proxied answer keeps its bytes exactly as the
//! vendor sent them (binary bodies, integers too big for a double), and a token endpoint's
//! answer is read through the same client with a size cap.

use std::time::Duration;

use chrono::Utc;
use connector::{HttpMethod, RequestBody};
use provider_http::oauth::{ClientCredentials, MAX_TOKEN_RESPONSE_BYTES, OAuthClient, OAuthError};
use provider_http::{Credentials, ProviderClient};
use serde_json::json;
use tokio::net::TcpListener;

mod common;

/// Serves `head` then `body` to every connection (after reading the request head), closing the
/// connection after the body.
async fn serve(head: String, body: Vec<u8>) -> u16 {
    common::serve(move |_| (head.clone(), body.clone())).await.0
}

fn acme(port: u16) -> connector::Connector {
    let text = format!(
        r#"
schema_version: 1
meta: {{ id: acme, label: Acme, categories: [crm], revision: "1" }}
auth:
  schemes:
    token: {{ kind: bearer, token: "{{{{credentials.token}}}}" }}
    oauth:
      kind: oauth2
      grant: authorization_code
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

#[tokio::test]
async fn a_proxied_answer_keeps_its_bytes() {
    // Not UTF-8, and JSON whose integer no double holds.
    for (content_type, body) in [
        (
            "application/octet-stream",
            vec![0xff, 0x00, 0xfe, b'{', 0x80],
        ),
        (
            "application/json",
            br#"{"id": 123456789012345678901234567890, "n": 1.10}"#.to_vec(),
        ),
    ] {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let port = serve(head, body.clone()).await;
        let connector = acme(port);
        let account = json!({});
        let plan = connector
            .plan_proxy(
                HttpMethod::Get,
                "/blob",
                &account,
                Vec::new(),
                RequestBody::None,
            )
            .expect("plans");
        let secrets = json!({"token": "t"});
        let credentials = Credentials {
            scheme: "token",
            secrets: &secrets,
            account: &account,
        };
        let response = ProviderClient::new(Duration::from_secs(5))
            .send(&connector, &credentials, plan)
            .await
            .expect("answers");
        assert_eq!(response.raw_body(), Some(body.as_slice()), "{content_type}");
    }
}

#[tokio::test]
async fn a_token_answer_larger_than_the_cap_is_refused() {
    // No content-length: the cap must hold while the body streams in.
    let mut body = br#"{"access_token": "a", "padding": ""#.to_vec();
    body.extend(std::iter::repeat_n(b'x', MAX_TOKEN_RESPONSE_BYTES + 1));
    body.extend(br#""}"#);
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
    let port = serve(head.to_owned(), body).await;
    let connector = acme(port);
    let endpoints = connector
        .oauth2("oauth", &json!({}))
        .expect("renders")
        .expect("an oauth scheme");
    let client = ProviderClient::new(Duration::from_secs(5));
    let oauth = OAuthClient::new(&client);
    let credentials = ClientCredentials {
        client_id: "id".to_owned(),
        client_secret: "secret".to_owned(),
    };
    let error = oauth
        .refresh(
            &connector,
            "oauth",
            &endpoints,
            &credentials,
            "refresh",
            Utc::now(),
        )
        .await
        .expect_err("refused");
    match error {
        OAuthError::Transport(detail) => assert!(detail.contains("larger than"), "{detail}"),
        other => panic!("a transport error, got {other:?}"),
    }
}

/// A vendor's next-page link (or any URL) to another port of an allowed host is another
/// service: nothing is sent there, credentials least of all.
#[tokio::test]
async fn another_port_of_an_allowed_host_is_not_reached() {
    let allowed = serve(
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n".to_owned(),
        b"{}".to_vec(),
    )
    .await;
    let elsewhere = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let other_port = elsewhere.local_addr().expect("an address").port();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn({
        let reached = std::sync::Arc::clone(&reached);
        async move {
            while let Ok((_socket, _)) = elsewhere.accept().await {
                reached.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    let connector = acme(allowed);
    let account = json!({});
    let secrets = json!({"token": "t"});
    let credentials = Credentials {
        scheme: "token",
        secrets: &secrets,
        account: &account,
    };
    let client = ProviderClient::new(Duration::from_secs(5));
    let plan = |url: String| {
        let mut plan = connector
            .plan_proxy(
                HttpMethod::Get,
                "/page",
                &account,
                Vec::new(),
                RequestBody::None,
            )
            .expect("plans");
        plan.url = url;
        plan
    };
    client
        .send(
            &connector,
            &credentials,
            plan(format!("http://127.0.0.1:{allowed}/page")),
        )
        .await
        .expect("the allowed origin answers");
    for url in [
        format!("http://127.0.0.1:{other_port}/page?cursor=2"),
        format!("https://127.0.0.1:{allowed}/page"),
        format!("http://127.0.0.1:{other_port}\\@127.0.0.1:{allowed}/page"),
    ] {
        let error = client
            .send(&connector, &credentials, plan(url.clone()))
            .await
            .expect_err("refused");
        assert!(
            matches!(error, provider_http::SendError::HostNotAllowed(_)),
            "{url}: {error}"
        );
    }
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the other port saw no connection"
    );
}

/// A connector whose OAuth scheme captures an account field from the token answer and reads a
/// refusal with `invalid_grant_when`: JSONata over token answers.
fn acme_with_token_jsonata(port: u16) -> connector::Connector {
    let text = format!(
        r#"
schema_version: 1
meta: {{ id: acme, label: Acme, categories: [crm], revision: "1" }}
auth:
  schemes:
    oauth:
      kind: oauth2
      grant: authorization_code
      authorize_url: "http://127.0.0.1:{port}/authorize"
      token_url: "http://127.0.0.1:{port}/token"
      scopes: [contacts]
      invalid_grant_when: "body.status = 'BAD_REFRESH_TOKEN'"
      capture:
        instance_url: instance_url
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

/// An offload like the evaluation pool's: each job runs on a thread of its own (never the
/// calling async worker), and the threads it ran on are recorded.
fn recording_offload() -> (
    provider_http::sender::Offload,
    std::sync::Arc<std::sync::Mutex<Vec<std::thread::ThreadId>>>,
) {
    let ran: std::sync::Arc<std::sync::Mutex<Vec<std::thread::ThreadId>>> =
        std::sync::Arc::default();
    let offload: provider_http::sender::Offload = std::sync::Arc::new({
        let ran = std::sync::Arc::clone(&ran);
        move |job| {
            let ran = std::sync::Arc::clone(&ran);
            Box::pin(async move {
                tokio::task::spawn_blocking(move || {
                    ran.lock()
                        .expect("never poisoned")
                        .push(std::thread::current().id());
                    job();
                })
                .await
                .expect("the job runs");
            })
        }
    });
    (offload, ran)
}

/// Token answers' JSONata (`invalid_grant_when`, `capture`) runs through the offload it is
/// given, the evaluation pool in the server, and never on the async worker that made the call.
#[tokio::test]
async fn token_answer_jsonata_runs_through_the_offload() {
    let credentials = ClientCredentials {
        client_id: "id".to_owned(),
        client_secret: "secret".to_owned(),
    };
    let here = std::thread::current().id();

    // A refused refresh, read by `invalid_grant_when`.
    let body = br#"{"status": "BAD_REFRESH_TOKEN"}"#.to_vec();
    let head = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let connector = acme_with_token_jsonata(serve(head, body).await);
    let endpoints = connector
        .oauth2("oauth", &json!({}))
        .expect("renders")
        .expect("an oauth scheme");
    let (offload, ran) = recording_offload();
    let oauth = OAuthClient::new(&ProviderClient::new(Duration::from_secs(5)))
        .with_offload(Some(offload.clone()));
    let error = oauth
        .refresh(
            &connector,
            "oauth",
            &endpoints,
            &credentials,
            "refresh",
            Utc::now(),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(error, OAuthError::InvalidGrant(_)),
        "invalid_grant_when reads the refusal: {error:?}"
    );
    let threads = ran.lock().expect("never poisoned").clone();
    assert_eq!(
        threads.len(),
        1,
        "invalid_grant_when ran once, in the offload"
    );
    assert_ne!(threads[0], here, "not on the calling worker");

    // A granted token whose answer an account field is captured from.
    let answer = json!({"access_token": "a", "instance_url": "https://acme.example"});
    let captured =
        provider_http::oauth::capture_token_response(&connector, "oauth", &answer, Some(&offload))
            .await
            .expect("captures");
    assert_eq!(
        captured.get("instance_url"),
        Some(&json!("https://acme.example"))
    );
    let threads = ran.lock().expect("never poisoned").clone();
    assert_eq!(threads.len(), 2, "the capture ran in the offload too");
    assert_ne!(threads[1], here, "not on the calling worker");

    // Without an offload (tests, tools) the same evaluations run in place.
    let captured = provider_http::oauth::capture_token_response(&connector, "oauth", &answer, None)
        .await
        .expect("captures");
    assert_eq!(
        captured.get("instance_url"),
        Some(&json!("https://acme.example"))
    );
    assert_eq!(ran.lock().expect("never poisoned").len(), 2);
}
