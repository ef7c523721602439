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

/// Sends `request_line` as written (no client normalises its dot segments) with the demo's key;
/// returns the status and the body.
async fn raw(app: &crate::helpers::TestApp, method: &str, target: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("the API accepts");
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        app.demo.api_key
    );
    stream.write_all(head.as_bytes()).await.expect("sent");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("an answer");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn an_id_of_dots_never_reaches_the_vendor_as_another_path() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let log = app.simulator("hubspot").requests().clone();
    let deletes = || log.total_matching("DELETE ");
    for id in [".", "..", "%2e", "%2E%2e", ".%2e"] {
        let (status, body) = raw(
            &app,
            "DELETE",
            &format!("/unified/crm/contacts/{id}?connection_id={connection}"),
        )
        .await;
        assert_eq!(status, 400, "id `{id}`: {body}");
        let problem: serde_json::Value = serde_json::from_str(&body).expect("problem json");
        assert_eq!(problem["field"], "id", "{problem}");
        let (status, body) = raw(
            &app,
            "GET",
            &format!("/unified/crm/contacts/{id}?connection_id={connection}"),
        )
        .await;
        assert_eq!(status, 400, "GET id `{id}`: {body}");
    }
    assert_eq!(deletes(), 0, "the vendor saw no delete");
}

#[tokio::test]
async fn the_proxy_does_not_climb_out_of_the_base_path() {
    let app = spawn_app().await;
    let connection = app.connection("salesforce");
    for path in [
        "/proxy/../../../__sim/requests",
        "/proxy/sobjects/%2e%2e/%2e%2e/%2e%2e/__sim/requests",
        "/proxy/sobjects/.%2E/x",
    ] {
        let (status, body) = raw(&app, "GET", &format!("{path}?connection_id={connection}")).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("\"field\":\"path\""), "{path}: {body}");
    }
}

#[tokio::test]
async fn a_token_endpoint_answering_a_redirect_is_a_bad_gateway_not_ours() {
    let app = spawn_app().await;
    let connection = crate::oauth::connect(&app, "hubspot").await;
    crate::oauth::expire_soon(&app, &connection).await;
    app.simulator("hubspot").faults().push(simulators::Fault {
        kind: simulators::FaultKind::Status {
            status: 302,
            body: None,
        },
        path_prefix: Some("/oauth/v1/token".to_owned()),
        times: 1,
    });
    let (status, body) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={connection}&page_size=1"
        ))
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "token_refresh_failed", "{body}");
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_the_demo_key_are_readable_by_their_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    for name in ["crosswalk.db", "demo-encryption-key"] {
        let path = app.data_dir.path().join(name);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} has mode {mode:o}");
    }
}

#[tokio::test]
async fn an_environment_override_cannot_redirect_credentials() {
    let app = spawn_app().await;
    let own_port = app.demo.api_addr.port();
    for (patch, field) in [
        // Another service on the loopback host the demo allows.
        (
            json!({"http": {"base_url": format!("http://127.0.0.1:{own_port}")}}),
            "http.base_url",
        ),
        // The refresh token sent as the bearer.
        (
            json!({"auth": {"schemes": {"oauth": {"token_url": "https://evil.example/token"}}}}),
            "auth.schemes.oauth.token_url",
        ),
        (
            json!({"auth": {"schemes": {"private_app": {"token": "{{credentials.refresh_token}}"}}}}),
            "auth.schemes.private_app.token",
        ),
    ] {
        let (status, body) = app
            .call(
                Method::PUT,
                "/environment/overrides/hubspot",
                Some(patch.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {body}");
        assert_eq!(body["field"], field, "{body}");
    }
}

#[tokio::test]
async fn the_simulators_controls_are_out_of_a_tenants_reach() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let response = app
        .client
        .post(app.url(&format!("/proxy/__sim/faults?connection_id={connection}")))
        .bearer_auth(&app.demo.api_key)
        .json(&json!({"kind": "status", "status": 503, "times": 5}))
        .send()
        .await
        .expect("answers");
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "the control route hides"
    );
    let (status, body) = app
        .get(&format!("/proxy/__sim/requests?connection_id={connection}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={connection}&page_size=1"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "no fault was queued: {body}");
}

/// The demo's API served again on a listener of its own, under `limits`.
async fn serve_with(
    app: &crate::helpers::TestApp,
    limits: cli::startup::ServerLimits,
) -> (std::net::SocketAddr, cli::startup::RunningServer) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let server =
        cli::startup::spawn_server_with(listener, app.demo.state.clone(), limits).expect("serves");
    (server.addr, server)
}

#[tokio::test]
async fn slow_and_idle_clients_are_let_go() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let (addr, _server) = serve_with(
        &app,
        cli::startup::ServerLimits {
            header_read_timeout: std::time::Duration::from_millis(300),
            request_timeout: std::time::Duration::from_secs(120),
            max_connections: 8,
        },
    )
    .await;
    // More clients than the server serves at once: half send nothing, half dribble a head.
    let mut sockets = Vec::new();
    for index in 0..20 {
        let mut socket = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        if index % 2 == 1 {
            socket
                .write_all(b"GET /health HTTP/1.1\r\nHost: slow\r\n")
                .await
                .expect("writes");
        }
        sockets.push(socket);
    }
    for (index, mut socket) in sockets.into_iter().enumerate() {
        // The guard only keeps a broken server from hanging the test.
        let closed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            let mut buffer = [0u8; 1024];
            loop {
                match socket.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "client {index} was left open");
    }
    let answer = reqwest::get(format!("http://{addr}/health"))
        .await
        .expect("still serving");
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_request_past_its_time_is_answered_not_left_hanging() {
    let app = spawn_app().await;
    let (addr, _server) = serve_with(
        &app,
        cli::startup::ServerLimits {
            header_read_timeout: std::time::Duration::from_secs(10),
            request_timeout: std::time::Duration::from_millis(300),
            max_connections: 8,
        },
    )
    .await;
    app.simulator("hubspot").faults().push(simulators::Fault {
        kind: simulators::FaultKind::Delay { millis: 5_000 },
        path_prefix: Some("/crm/v3/objects/contacts".to_owned()),
        times: 1,
    });
    let answer = app
        .client
        .get(format!(
            "http://{addr}/unified/crm/contacts?connection_id={}&page_size=1",
            app.connection("hubspot")
        ))
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("answers");
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn an_override_is_a_patch_not_a_place_to_store_data() {
    let app = spawn_app().await;
    let big = "x".repeat(100 * 1024);
    let (status, body) = app
        .call(
            Method::PUT,
            "/environment/overrides/hubspot",
            Some(json!({"vars": {"padding": big}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "override_too_large", "{body}");
    let (status, _) = app.get("/environment/overrides/hubspot").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");
}
