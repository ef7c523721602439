//! Issue 14, the Connect findings, each replayed as requests a hostile end user (or whoever
//! holds a link) would send, asserting the safe answer: single-use links (a second submit, a
//! visit after an OAuth callback, a second re-authorisation, concurrent submits), the page's
//! security headers, no text from the URL in the page, http(s)-only redirect allow-lists, a cap
//! on OAuth starts per link, and the purge of expired sessions and states.

use chrono::{Duration, Utc};
use futures::future::join_all;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use store::{ConnectionId, OAuthState};

use crate::helpers::{TestApp, spawn_app};
use crate::oauth::{configure, session};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).expect("a token").to_owned()
}

fn location(headers: &HeaderMap) -> String {
    headers
        .get("location")
        .and_then(|value| value.to_str().ok())
        .expect("a redirect")
        .to_owned()
}

/// Submits the page's private-app form of `hubspot` with `secret`; returns status and body.
async fn submit(app: &TestApp, token: &str, secret: &str) -> (StatusCode, String) {
    let response = no_redirects()
        .post(app.url("/connect/submit"))
        .form(&[
            ("token", token),
            ("provider", "hubspot"),
            ("scheme", "private_app"),
            ("private_app_token", secret),
        ])
        .send()
        .await
        .expect("submit answers");
    let status = response.status();
    (status, response.text().await.expect("a body"))
}

fn connection_from(page: &str) -> String {
    let start = page
        .find("connection_id=")
        .expect("the page links back with the connection id")
        + "connection_id=".len();
    page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The private-app token the connection holds now, read the way the call path does.
async fn stored_token(app: &TestApp, connection: &str) -> String {
    let id = ConnectionId::parse(connection).expect("an id");
    let row = app
        .demo
        .store
        .get_connection_by_id(&id)
        .await
        .expect("stored");
    let secrets = app
        .demo
        .state
        .keyring
        .open_json(&row.credentials, &server::credentials_aad(&id))
        .expect("opens");
    secrets["private_app_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

async fn events_of(app: &TestApp, kind: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/events?kind={kind}&limit=1000")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().expect("results").clone()
}

#[tokio::test]
async fn a_link_makes_one_connection_then_stops_working() {
    let app = spawn_app().await;
    configure(&app, "hubspot").await;
    let link = session(&app, "hubspot", json!({})).await;
    let token = token_of(&link);

    let (status, page) = submit(&app, &token, "first-token").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let connection = connection_from(&page);
    assert_eq!(stored_token(&app, &connection).await, "first-token");

    // The same link with other credentials: refused, nothing made, nothing changed.
    let (status, page) = submit(&app, &token, "second-token").await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("already used"), "{page}");
    assert_eq!(events_of(&app, "connection.created").await.len(), 1);
    assert_eq!(stored_token(&app, &connection).await, "first-token");

    // And the page no longer opens.
    let page = no_redirects().get(&link).send().await.expect("answers");
    assert_eq!(page.status(), StatusCode::GONE);
}

/// Starts an OAuth sign-in from `link`; returns the provider's authorization URL.
async fn start_oauth(app: &TestApp, link: &str) -> reqwest::Response {
    no_redirects()
        .get(app.url(&format!(
            "/connect/oauth/start?token={}&provider=hubspot",
            token_of(link)
        )))
        .send()
        .await
        .expect("start answers")
}

#[tokio::test]
async fn a_link_stops_working_after_its_oauth_callback() {
    let app = spawn_app().await;
    configure(&app, "hubspot").await;
    let link = session(&app, "hubspot", json!({})).await;
    // Two sign-ins started from one link (two tabs); the first to come back wins.
    let first = start_oauth(&app, &link).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = start_oauth(&app, &link).await;
    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    let mut callbacks = Vec::new();
    for start in [first, second] {
        let approved = no_redirects()
            .get(location(start.headers()))
            .send()
            .await
            .expect("the provider answers");
        assert_eq!(approved.status(), StatusCode::FOUND);
        callbacks.push(location(approved.headers()));
    }
    let finished = no_redirects()
        .get(&callbacks[0])
        .send()
        .await
        .expect("answers");
    assert_eq!(finished.status(), StatusCode::OK);

    let page = no_redirects().get(&link).send().await.expect("answers");
    assert_eq!(
        page.status(),
        StatusCode::GONE,
        "the link after its callback"
    );
    let again = start_oauth(&app, &link).await;
    assert_eq!(
        again.status(),
        StatusCode::GONE,
        "no new sign-in from a used link"
    );
    let late = no_redirects()
        .get(&callbacks[1])
        .send()
        .await
        .expect("answers");
    assert_eq!(
        late.status(),
        StatusCode::BAD_REQUEST,
        "the link's other sign-in ended with it"
    );
    assert_eq!(events_of(&app, "connection.created").await.len(), 1);
}

#[tokio::test]
async fn a_reauthorisation_link_is_used_once_and_only_on_its_connection() {
    let app = spawn_app().await;
    configure(&app, "hubspot").await;
    let connection = app.connect_hubspot("original-token").await;
    let link = session(&app, "hubspot", json!({"connection_id": connection})).await;
    let token = token_of(&link);

    let (status, page) = submit(&app, &token, "owner-token").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(connection_from(&page), connection);
    assert_eq!(stored_token(&app, &connection).await, "owner-token");

    // Whoever uses the link last no longer swaps their credentials in.
    let (status, page) = submit(&app, &token, "attacker-token").await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert_eq!(stored_token(&app, &connection).await, "owner-token");
    assert_eq!(events_of(&app, "connection.reauthorized").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submits_of_one_link_make_exactly_one_connection() {
    const N_SUBMITS: usize = 8;
    let app = spawn_app().await;
    configure(&app, "hubspot").await;
    let connection = app.connect_hubspot("original-token").await;
    for reauthorize in [false, true] {
        let extra = if reauthorize {
            json!({"connection_id": connection})
        } else {
            json!({})
        };
        let token = token_of(&session(&app, "hubspot", extra).await);
        let secrets: Vec<String> = (0..N_SUBMITS).map(|n| format!("racer-{n}")).collect();
        let answers = join_all(secrets.iter().map(|secret| submit(&app, &token, secret))).await;
        let winners: Vec<&(StatusCode, String)> = answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .collect();
        assert_eq!(winners.len(), 1, "reauthorize={reauthorize}: {answers:?}");
        assert!(
            answers
                .iter()
                .all(|(status, _)| *status == StatusCode::OK || *status == StatusCode::GONE),
            "{answers:?}"
        );
        let made = connection_from(&winners[0].1);
        let held = stored_token(&app, &made).await;
        assert!(secrets.contains(&held), "{held}");
        if reauthorize {
            assert_eq!(made, connection);
        }
    }
    // The demo's own connection, the one above, and one made by the first link.
    assert_eq!(events_of(&app, "connection.reauthorized").await.len(), 1);
    let created_by_links = events_of(&app, "connection.created")
        .await
        .into_iter()
        .filter(|event| event["payload"]["end_user_id"] == "user-42")
        .count();
    assert_eq!(created_by_links, 1);
}

/// The headers every Connect answer carries, whatever its kind.
fn assert_locked_down(headers: &HeaderMap, what: &str) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no `{name}` in {headers:?}"))
            .to_owned()
    };
    assert_eq!(header("cache-control"), "no-store", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    let policy = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(policy.contains(directive), "{what}: {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{what}: {policy}");
}

/// The nonce of `element` in `page`, which the policy must allow for that element's kind.
fn assert_nonce_allowed(page: &str, policy: &str, element: &str, directive: &str) {
    let marker = format!("<{element} nonce=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no nonce on <{element}>: {page}"))
        + marker.len();
    let nonce: String = page[start..].chars().take_while(|c| *c != '"').collect();
    assert!(nonce.len() >= 22, "a long random nonce: {nonce}");
    assert!(
        policy.contains(&format!("{directive} 'nonce-{nonce}'")),
        "{policy}"
    );
}

#[tokio::test]
async fn every_connect_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    configure(&app, "hubspot").await;
    let link = session(&app, "hubspot", json!({})).await;
    let client = no_redirects();

    let page = client.get(&link).send().await.expect("answers");
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert_locked_down(&headers, "the page");
    let policy = headers["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(policy.contains("form-action 'self'"), "{policy}");
    let html = page.text().await.expect("html");
    assert_nonce_allowed(&html, &policy, "style", "style-src");
    let first_nonce = policy.clone();
    let again = client.get(&link).send().await.expect("answers");
    assert_ne!(
        again.headers()["content-security-policy"],
        first_nonce.as_str(),
        "a fresh nonce per page"
    );

    let unknown = client
        .get(app.url("/connect?token=never-issued"))
        .send()
        .await
        .expect("answers");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_locked_down(unknown.headers(), "an error page");

    let start = start_oauth(&app, &link).await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    assert_locked_down(start.headers(), "the redirect to the provider");

    let missing = client
        .get(app.url("/connect/oauth/callback"))
        .send()
        .await
        .expect("answers");
    assert_locked_down(missing.headers(), "a callback without a state");

    let finished = client
        .post(app.url("/connect/submit"))
        .form(&[
            ("token", token_of(&link).as_str()),
            ("provider", "hubspot"),
            ("scheme", "private_app"),
            ("private_app_token", "a-token"),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(finished.status(), StatusCode::OK);
    let headers = finished.headers().clone();
    assert_locked_down(&headers, "the last page");
    let policy = headers["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_nonce_allowed(
        &finished.text().await.expect("html"),
        &policy,
        "script",
        "script-src",
    );
}

#[tokio::test]
async fn the_page_shows_only_its_own_words() {
    let app = spawn_app().await;
    configure(&app, "hubspot").await;
    let link = session(&app, "hubspot", json!({})).await;
    let token = token_of(&link);
    let phishing = "Your account is locked. Call +1 555 0100 and read out your password.";
    let mut crafted = reqwest::Url::parse(&link).expect("a URL");
    crafted.query_pairs_mut().append_pair("error", phishing);
    let page = no_redirects()
        .get(crafted)
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("html");
    assert!(!page.contains("locked"), "{page}");
    assert!(!page.contains("role=\"alert\""), "{page}");

    // The form's own errors come back as codes, shown in our words.
    let response = no_redirects()
        .post(app.url("/connect/submit"))
        .form(&[
            ("token", token.as_str()),
            ("provider", "hubspot"),
            ("scheme", "private_app"),
        ])
        .send()
        .await
        .expect("answers");
    let back = location(response.headers());
    assert!(back.contains("error=missing_field"), "{back}");
    assert!(!back.contains("Please"), "no text in the URL: {back}");
    let page = no_redirects()
        .get(app.url(&back))
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Please fill in “Private app access token”."),
        "{page}"
    );

    // A provider's error text on the callback is not shown either.
    let start = start_oauth(&app, &link).await;
    let authorize = reqwest::Url::parse(&location(start.headers())).expect("a URL");
    let state = authorize
        .query_pairs()
        .find(|(key, _)| key == "state")
        .map(|(_, value)| value.into_owned())
        .expect("a state");
    let mut callback = reqwest::Url::parse(&app.url("/connect/oauth/callback")).expect("a URL");
    callback
        .query_pairs_mut()
        .append_pair("state", &state)
        .append_pair("error", "access_denied")
        .append_pair("error_description", phishing);
    let denied = no_redirects().get(callback).send().await.expect("answers");
    assert_eq!(denied.status(), StatusCode::BAD_REQUEST);
    let page = denied.text().await.expect("html");
    assert!(page.contains("Access was not granted."), "{page}");
    assert!(!page.contains("locked"), "{page}");
}

#[tokio::test]
async fn redirect_allow_lists_take_only_http_and_https_urls() {
    let app = spawn_app().await;
    for (list, bad) in [
        (json!(["javascript:alert(document.cookie)"]), 0),
        (
            json!([
                "https://app.example.com/done",
                "data:text/html,<script>1</script>"
            ]),
            1,
        ),
        (
            json!(["https://app.example.com/done", "ftp://x.example/"]),
            1,
        ),
    ] {
        let response = app
            .client
            .put(app.url("/environment/branding"))
            .bearer_auth(&app.demo.api_key)
            .json(&json!({"allowed_redirect_urls": list}))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{list}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{list}"
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["field"],
            format!("allowed_redirect_urls[{bad}]"),
            "{body}"
        );
    }
    let (status, body) = app
        .call(
            Method::PUT,
            "/environment/branding",
            Some(json!({"allowed_redirect_urls": ["https://app.example.com/done", "http://127.0.0.1:9/back"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn one_link_starts_a_bounded_number_of_sign_ins() {
    let app = spawn_app().await;
    configure(&app, "hubspot").await;
    let link = session(&app, "hubspot", json!({})).await;
    let cap = server::MAX_OAUTH_STARTS;
    for n in 0..cap {
        let start = start_oauth(&app, &link).await;
        assert_eq!(start.status(), StatusCode::SEE_OTHER, "start {n}");
        assert!(
            !location(start.headers()).starts_with("/connect"),
            "start {n} goes to the provider"
        );
    }
    for _ in 0..5 {
        let start = start_oauth(&app, &link).await;
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let back = location(start.headers());
        assert!(
            back.starts_with("/connect?") && back.contains("error=too_many_sign_ins"),
            "past the cap: {back}"
        );
    }
    let stored = app
        .demo
        .store
        .get_connect_session(&provider_http::oauth::token_hash(&token_of(&link)))
        .await
        .expect("stored");
    assert_eq!(stored.oauth_starts, cap, "no state stored past the cap");
}

#[tokio::test]
async fn making_a_link_purges_sessions_and_states_long_expired() {
    let app = spawn_app().await;
    configure(&app, "hubspot").await;
    let link = session(&app, "hubspot", json!({})).await;
    let template = app
        .demo
        .store
        .get_connect_session(&provider_http::oauth::token_hash(&token_of(&link)))
        .await
        .expect("stored");
    let grace = Duration::seconds(server::PURGE_GRACE_SECS);
    let long_expired = store::ConnectSession {
        token_hash: provider_http::oauth::token_hash("long-expired"),
        expires_at: Utc::now() - grace - Duration::seconds(5),
        ..template.clone()
    };
    let just_expired = store::ConnectSession {
        token_hash: provider_http::oauth::token_hash("just-expired"),
        expires_at: Utc::now() - Duration::seconds(5),
        ..template.clone()
    };
    for session in [&long_expired, &just_expired] {
        app.demo
            .store
            .insert_connect_session(session)
            .await
            .expect("insert");
    }
    let stale_state = OAuthState {
        state_hash: provider_http::oauth::token_hash("stale-state"),
        environment_id: template.environment_id.clone(),
        provider: "hubspot".to_owned(),
        scheme: "oauth".to_owned(),
        session_token_hash: just_expired.token_hash.clone(),
        code_verifier: None,
        redirect_uri: app.url("/connect/oauth/callback"),
        connection_id: None,
        expires_at: Utc::now() - grace - Duration::seconds(5),
        created_at: Utc::now() - grace - Duration::seconds(600),
    };
    app.demo
        .store
        .insert_oauth_state(&stale_state)
        .await
        .expect("insert");

    session(&app, "hubspot", json!({})).await;

    assert!(matches!(
        app.demo
            .store
            .get_connect_session(&long_expired.token_hash)
            .await,
        Err(store::StoreError::NotFound)
    ));
    assert!(matches!(
        app.demo
            .store
            .take_oauth_state(&stale_state.state_hash)
            .await,
        Err(store::StoreError::NotFound)
    ));
    // Within the grace period a visit still reads "expired".
    let page = no_redirects()
        .get(app.url("/connect?token=just-expired"))
        .send()
        .await
        .expect("answers");
    assert_eq!(page.status(), StatusCode::GONE);
    assert!(page.text().await.expect("html").contains("expired"));
}
