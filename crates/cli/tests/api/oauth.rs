//! Connecting accounts over OAuth 2.0 through the Connect flow (without a browser: the test
//! follows the redirects itself), refresh ahead of expiry and on the vendor's expiry signal,
//! once per connection, and revocation leading to `needs_reauth`.

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use simulators::hubspot::{HubSpot, HubSpotHandle};
use simulators::salesforce::{Salesforce, SalesforceHandle};
use store::{ConnectionId, ConnectionUpdate, OAuthState};

use crate::helpers::{TestApp, spawn_app};

const REDIRECT: &str = "http://127.0.0.1:9/integrations/done";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

fn oauth_client(provider: &str) -> (&'static str, &'static str) {
    match provider {
        "hubspot" => ("hubspot-sim-client", "hubspot-sim-secret"),
        _ => ("salesforce-sim-client", "salesforce-sim-secret"),
    }
}

pub(crate) async fn configure(app: &TestApp, provider: &str) {
    let (status, body) = app
        .call(
            Method::PUT,
            "/environment/branding",
            Some(json!({"display_name": "Acme Sync", "primary_color": "#0a7cff", "allowed_redirect_urls": [REDIRECT]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (client_id, client_secret) = oauth_client(provider);
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/environment/oauth-apps/{provider}"),
            Some(json!({"client_id": client_id, "client_secret": client_secret, "redirect_uris": [REDIRECT]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("client_secret").is_none(),
        "the secret is never shown: {body}"
    );
}

pub(crate) async fn session(app: &TestApp, provider: &str, extra: Value) -> String {
    let mut request =
        json!({"end_user_id": "user-42", "redirect_url": REDIRECT, "provider": provider});
    if let (Value::Object(request), Value::Object(extra)) = (&mut request, extra) {
        request.extend(extra);
    }
    let (status, body) = app
        .call(Method::POST, "/connect/sessions", Some(request))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["url"].as_str().expect("a url").to_owned()
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .expect("a redirect")
        .to_owned()
}

/// Follows the OAuth dance from the Connect link; returns the callback URL and the final page.
async fn authorize(app: &TestApp, link: &str, provider: &str) -> (String, String) {
    let client = no_redirects();
    let page = client.get(link).send().await.expect("the page answers");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("Acme Sync"), "branding shown: {html}");
    let token = link.split("token=").nth(1).expect("a token");
    let start = client
        .get(app.url(&format!(
            "/connect/oauth/start?token={token}&provider={provider}"
        )))
        .send()
        .await
        .expect("start answers");
    assert_eq!(
        start.status(),
        StatusCode::SEE_OTHER,
        "start redirects to the provider"
    );
    let authorize_url = location(&start);
    assert!(
        authorize_url.contains("code_challenge") || provider == "hubspot",
        "{authorize_url}"
    );
    let approved = client
        .get(&authorize_url)
        .send()
        .await
        .expect("the provider answers");
    assert_eq!(
        approved.status(),
        StatusCode::FOUND,
        "the simulator approves"
    );
    let callback = location(&approved);
    assert!(
        callback.starts_with(&app.url("/connect/oauth/callback")),
        "{callback}"
    );
    let finished = client
        .get(&callback)
        .send()
        .await
        .expect("the callback answers");
    assert_eq!(finished.status(), 200);
    (callback, finished.text().await.expect("html"))
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

/// The simulators of the vendors these tests connect over OAuth.
#[derive(Clone)]
enum SimulatorHandle {
    HubSpot(HubSpotHandle),
    Salesforce(SalesforceHandle),
}

fn sim(app: &TestApp, provider: &str) -> SimulatorHandle {
    match provider {
        "hubspot" => SimulatorHandle::HubSpot(app.handle::<HubSpot>().clone()),
        _ => SimulatorHandle::Salesforce(app.handle::<Salesforce>().clone()),
    }
}

fn refreshes(handle: &SimulatorHandle) -> u64 {
    match handle {
        SimulatorHandle::HubSpot(sim) => sim.refresh_requests(),
        SimulatorHandle::Salesforce(sim) => sim.refresh_requests(),
    }
}

fn token_requests(handle: &SimulatorHandle) -> u64 {
    match handle {
        SimulatorHandle::HubSpot(sim) => sim.token_requests(),
        SimulatorHandle::Salesforce(sim) => sim.token_requests(),
    }
}

#[tokio::test]
async fn hubspot_and_salesforce_accounts_connect_through_oauth_and_list_contacts() {
    let app = spawn_app().await;
    for provider in ["hubspot", "salesforce"] {
        configure(&app, provider).await;
        let link = session(&app, provider, json!({})).await;
        let (callback, page) = authorize(&app, &link, provider).await;
        let connection = connection_from(&page);
        assert!(
            page.contains("postMessage"),
            "the last page serves popups too"
        );
        let (status, body) = app
            .get(&format!(
                "/unified/crm/contacts?connection_id={connection}&page_size=3"
            ))
            .await;
        assert_eq!(status, 200, "{provider}: {body}");
        assert_eq!(body["results"].as_array().expect("results").len(), 3);
        let (_, fetched) = app.get(&format!("/connections/{connection}")).await;
        assert_eq!(fetched["provider"], provider);
        assert_eq!(fetched["account"]["end_user_id"], "user-42");
        assert!(
            fetched.to_string().find("access_token").is_none(),
            "no token in the view: {fetched}"
        );

        // The same callback again: the state was single-use.
        let replay = no_redirects().get(&callback).send().await.expect("answers");
        assert_eq!(
            replay.status(),
            StatusCode::BAD_REQUEST,
            "{provider}: replayed state"
        );
        // A tampered state is unknown.
        let tampered = callback.replace("state=", "state=x");
        let answer = no_redirects().get(&tampered).send().await.expect("answers");
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        let (_, events) = app
            .get(&format!("/events?connection_id={connection}"))
            .await;
        assert_eq!(
            events["results"][0]["kind"], "connection.created",
            "{events}"
        );
    }
}

#[tokio::test]
async fn bad_links_states_and_redirects_are_refused_with_clear_errors() {
    let app = spawn_app().await;
    configure(&app, "hubspot").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/connect/sessions",
            Some(json!({"end_user_id": "u", "redirect_url": "https://evil.example/steal", "provider": "hubspot"})),
        )
        .await;
    // A well-formed URL the environment does not allow conflicts with its settings (409); a
    // malformed one is a bad request naming the field.
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "redirect_url_not_allowed");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("redirect_url")),
        "{body}"
    );
    for bad in [
        "evil.example/steal",
        "javascript:alert(1)",
        "https://app.example/#x",
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/connect/sessions",
                Some(json!({"end_user_id": "u", "redirect_url": bad, "provider": "hubspot"})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["field"], "redirect_url", "{bad}");
    }
    // A connection that does not exist is not found; a provider other than the connection's
    // conflicts with it.
    let (status, body) = app
        .call(
            Method::POST,
            "/connect/sessions",
            Some(
                json!({"end_user_id": "u", "redirect_url": REDIRECT, "connection_id": "conn_nope"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            "/connect/sessions",
            Some(json!({"end_user_id": "u", "redirect_url": REDIRECT, "connection_id": app.connection("pipedrive"), "provider": "hubspot"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "provider_mismatch");

    // An expired link token.
    let link = session(&app, "hubspot", json!({"ttl_secs": 60})).await;
    let token = link.split("token=").nth(1).expect("token");
    let environment = app
        .demo
        .store
        .get_connect_session(&provider_http::oauth::token_hash(token))
        .await
        .expect("stored");
    let expired = store::ConnectSession {
        token_hash: provider_http::oauth::token_hash("an-expired-link"),
        expires_at: Utc::now() - Duration::seconds(1),
        ..environment.clone()
    };
    app.demo
        .store
        .insert_connect_session(&expired)
        .await
        .expect("insert");
    let page = no_redirects()
        .get(app.url("/connect?token=an-expired-link"))
        .send()
        .await
        .expect("answers");
    assert_eq!(page.status(), StatusCode::GONE);
    assert!(page.text().await.expect("html").contains("expired"));
    let page = no_redirects()
        .get(app.url("/connect?token=never-issued"))
        .send()
        .await
        .expect("answers");
    assert_eq!(page.status(), StatusCode::NOT_FOUND);

    // An expired authorization state.
    app.demo
        .store
        .insert_oauth_state(&OAuthState {
            state_hash: provider_http::oauth::token_hash("stale-state"),
            environment_id: environment.environment_id.clone(),
            provider: "hubspot".to_owned(),
            scheme: "oauth".to_owned(),
            session_token_hash: environment.token_hash.clone(),
            code_verifier: None,
            redirect_uri: app.url("/connect/oauth/callback"),
            connection_id: None,
            expires_at: Utc::now() - Duration::seconds(1),
            created_at: Utc::now() - Duration::seconds(700),
        })
        .await
        .expect("insert");
    let answer = no_redirects()
        .get(app.url("/connect/oauth/callback?code=abc&state=stale-state"))
        .send()
        .await
        .expect("answers");
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
}

pub(crate) async fn connect(app: &TestApp, provider: &str) -> String {
    configure(app, provider).await;
    let link = session(app, provider, json!({})).await;
    let (_, page) = authorize(app, &link, provider).await;
    connection_from(&page)
}

pub(crate) async fn expire_soon(app: &TestApp, connection: &str) {
    let connection_id = ConnectionId::parse(connection).expect("an id");
    let row = app
        .demo
        .store
        .get_connection_by_id(&connection_id)
        .await
        .expect("row");
    app.demo
        .store
        .update_connection(
            &row.environment_id,
            &connection_id,
            ConnectionUpdate {
                credentials_expires_at: Some(Some(Utc::now() + Duration::seconds(60))),
                ..ConnectionUpdate::default()
            },
        )
        .await
        .expect("update");
}

#[tokio::test]
async fn concurrent_requests_on_an_expiring_token_cause_one_refresh() {
    let app = spawn_app().await;
    let connection = connect(&app, "hubspot").await;
    let handle = sim(&app, "hubspot");
    assert_eq!(refreshes(&handle), 0);
    expire_soon(&app, &connection).await;
    let requests = (0..50).map(|_| {
        let path = format!("/unified/crm/contacts?connection_id={connection}&page_size=1");
        let app = &app;
        async move { app.get(&path).await }
    });
    let answers = futures::future::join_all(requests).await;
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(refreshes(&handle), 1, "exactly one refresh at the provider");
}

#[tokio::test]
async fn an_expired_session_is_refreshed_on_the_vendors_signal_and_retried_once() {
    let app = spawn_app().await;
    let connection = connect(&app, "salesforce").await;
    let handle = sim(&app, "salesforce");
    let SimulatorHandle::Salesforce(salesforce) = &handle else {
        unreachable!("a salesforce simulator")
    };
    salesforce.expire_tokens();
    let (status, body) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={connection}&page_size=2"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(refreshes(&handle), 1);
}

#[tokio::test]
async fn revocation_leads_to_needs_reauth_one_event_and_no_more_token_calls() {
    let app = spawn_app().await;
    let connection = connect(&app, "hubspot").await;
    let handle = sim(&app, "hubspot");
    let SimulatorHandle::HubSpot(hubspot) = &handle else {
        unreachable!("a hubspot simulator")
    };
    hubspot.revoke_all_refresh_tokens();
    expire_soon(&app, &connection).await;
    let path = format!("/unified/crm/contacts?connection_id={connection}");
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "reauth_required");
    let calls = token_requests(&handle);
    for _ in 0..3 {
        let (status, body) = app.get(&path).await;
        assert_eq!(body["code"], "reauth_required", "{status}: {body}");
    }
    assert_eq!(
        token_requests(&handle),
        calls,
        "no retry storm at the token endpoint"
    );
    let (_, fetched) = app.get(&format!("/connections/{connection}")).await;
    assert_eq!(fetched["status"], "needs_reauth");
    let (_, events) = app
        .get(&format!(
            "/events?connection_id={connection}&kind=connection.needs_reauth"
        ))
        .await;
    assert_eq!(
        events["results"].as_array().expect("events").len(),
        1,
        "{events}"
    );

    // Re-authorising through the same Connect page restores the connection.
    let link = session(&app, "hubspot", json!({"connection_id": connection})).await;
    let (_, page) = authorize(&app, &link, "hubspot").await;
    assert_eq!(connection_from(&page), connection);
    let (status, body) = app.get(&format!("{path}&page_size=1")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_worker_refreshes_idle_connections_ahead_of_expiry() {
    let app = spawn_app().await;
    let connection = connect(&app, "hubspot").await;
    let handle = sim(&app, "hubspot");
    expire_soon(&app, &connection).await;
    let state = &app.demo.state;
    let refreshed = state
        .operations
        .refresh_expiring(std::time::Duration::from_secs(900), 100)
        .await
        .expect("a pass");
    assert_eq!(refreshed, 1);
    assert_eq!(refreshes(&handle), 1);
    // The first request afterwards does not pay for a refresh.
    let (status, body) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={connection}&page_size=1"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(refreshes(&handle), 1);
    let again = state
        .operations
        .refresh_expiring(std::time::Duration::from_secs(900), 100)
        .await
        .expect("a pass");
    assert_eq!(again, 0, "a fresh token is not refreshed again");
}

#[tokio::test]
async fn a_client_credentials_connection_gets_and_renews_its_own_tokens() {
    let app = spawn_app().await;
    configure(&app, "salesforce").await;
    let handle = sim(&app, "salesforce");
    let (status, created) = app
        .call(
            Method::POST,
            "/connections",
            Some(json!({"provider": "salesforce", "auth_scheme": "client_credentials", "fields": {"my_domain": "acme.my.salesforce.com"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let connection = created["id"].as_str().expect("an id").to_owned();
    assert!(
        created["account"]["instance_url"].is_string(),
        "captured from the token answer: {created}"
    );
    assert_eq!(token_requests(&handle), 1);
    let path = format!("/unified/crm/contacts?connection_id={connection}&page_size=2");
    let (status, body) = app.get(&path).await;
    assert_eq!(status, 200, "{body}");
    let SimulatorHandle::Salesforce(salesforce) = &handle else {
        unreachable!("a salesforce simulator")
    };
    salesforce.expire_tokens();
    let (status, body) = app.get(&path).await;
    assert_eq!(status, 200, "a new token was asked for: {body}");
    assert_eq!(token_requests(&handle), 2);
    let (status, body) = app
        .call(
            Method::POST,
            "/connections",
            Some(json!({"provider": "salesforce", "auth_scheme": "oauth", "fields": {}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "sign-in schemes go through Connect: {body}"
    );
}
