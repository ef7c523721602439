//! Black-box tests of the HubSpot simulator's OAuth 2.0 endpoints over HTTP: the code flow
//! with PKCE, single-use codes, token expiry on the simulated clock, refresh with and without
//! rotation, revocation, unknown and foreign clients.

use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use simulators::RunningSimulator;
use simulators::hubspot::{self, HubSpotConfig, HubSpotHandle};
use simulators::oauth::s256_challenge;

const CLIENT: &str = "hubspot-sim-client";
const SECRET: &str = "hubspot-sim-secret";
const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

struct Sim {
    running: RunningSimulator,
    handle: HubSpotHandle,
    client: Client,
}

fn small() -> HubSpotConfig {
    HubSpotConfig {
        contacts: 20,
        companies: 5,
        deals: 5,
        notes: 2,
        tasks: 2,
        calls: 2,
        meetings: 2,
        emails: 2,
        leads: 2,
        owners: 3,
        ..HubSpotConfig::default()
    }
}

impl Sim {
    async fn start(config: HubSpotConfig) -> Sim {
        let addr = "127.0.0.1:0".parse().expect("loopback address");
        let (running, handle) = hubspot::spawn(config, addr).await.expect("simulator binds");
        let client = Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("http client");
        Sim {
            running,
            handle,
            client,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url)
    }

    /// Runs the authorize step; returns the redirect's query pairs.
    async fn authorize(&self, client_id: &str, challenge: Option<&str>) -> Vec<(String, String)> {
        let mut query = vec![
            ("client_id", client_id.to_owned()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("scope", "crm.objects.contacts.read oauth".to_owned()),
            ("state", "xyz-123".to_owned()),
        ];
        if let Some(challenge) = challenge {
            query.push(("code_challenge", challenge.to_owned()));
            query.push(("code_challenge_method", "S256".to_owned()));
        }
        let response = self
            .client
            .get(self.url("/oauth/authorize"))
            .query(&query)
            .send()
            .await
            .expect("authorize is sent");
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .expect("redirect location")
            .to_owned();
        assert!(location.starts_with(REDIRECT), "{location}");
        let url = reqwest::Url::parse(&location).expect("location is a url");
        url.query_pairs()
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()
    }

    async fn code(&self, client_id: &str, challenge: Option<&str>) -> String {
        let pairs = self.authorize(client_id, challenge).await;
        assert!(pairs.contains(&("state".to_owned(), "xyz-123".to_owned())));
        pairs
            .into_iter()
            .find(|(name, _)| name == "code")
            .map(|(_, code)| code)
            .expect("code in redirect")
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/oauth/v1/token"))
            .form(form)
            .send()
            .await
            .expect("token request is sent");
        let status = response.status();
        (status, response.json().await.expect("json body"))
    }

    async fn exchange(
        &self,
        client: (&str, &str),
        code: &str,
        verifier: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", client.0),
            ("client_secret", client.1),
            ("redirect_uri", REDIRECT),
            ("code", code),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        self.token(&form).await
    }

    async fn refresh(&self, client: (&str, &str), refresh_token: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", client.0),
            ("client_secret", client.1),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// A full code flow with PKCE; returns `(access_token, refresh_token)`.
    async fn login(&self) -> (String, String) {
        let code = self.code(CLIENT, Some(&s256_challenge(VERIFIER))).await;
        let (status, body) = self.exchange((CLIENT, SECRET), &code, Some(VERIFIER)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (text(&body, "access_token"), text(&body, "refresh_token"))
    }

    async fn api(&self, token: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url("/crm/v3/objects/contacts?limit=1"))
            .bearer_auth(token)
            .send()
            .await
            .expect("api request is sent");
        let status = response.status();
        (status, response.json().await.expect("json body"))
    }
}

fn text(body: &Value, key: &str) -> String {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` in {body}"))
        .to_owned()
}

#[tokio::test]
async fn code_flow_with_pkce_issues_a_working_token() {
    let sim = Sim::start(small()).await;
    let challenge = s256_challenge(VERIFIER);

    let code = sim.code(CLIENT, Some(&challenge)).await;
    let (status, body) = sim
        .exchange((CLIENT, SECRET), &code, Some("not-the-verifier"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_AUTH_CODE");
    assert!(body["message"].is_string() && body["correlationId"].is_string());

    let code = sim.code(CLIENT, Some(&challenge)).await;
    let (status, body) = sim.exchange((CLIENT, SECRET), &code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_AUTH_CODE");

    let code = sim.code(CLIENT, Some(&challenge)).await;
    let (status, body) = sim.exchange((CLIENT, SECRET), &code, Some(VERIFIER)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    let access = text(&body, "access_token");
    assert!(body["refresh_token"].is_string());

    let (status, page) = sim.api(&access).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["results"].as_array().map(Vec::len), Some(1));

    let info: Value = sim
        .client
        .get(sim.url(&format!("/oauth/v1/access-tokens/{access}")))
        .send()
        .await
        .expect("info request is sent")
        .json()
        .await
        .expect("json body");
    assert_eq!(info["token"], access.as_str());
    assert_eq!(info["hub_id"], sim.handle.hub_id());
    assert_eq!(info["token_type"], "access");
    assert!(info["expires_in"].as_u64().is_some_and(|left| left <= 1800));
    assert_eq!(
        info["scopes"],
        serde_json::json!(["crm.objects.contacts.read", "oauth"])
    );
    assert_eq!(sim.handle.token_requests(), 3);
    assert_eq!(sim.handle.refresh_requests(), 0);
}

#[tokio::test]
async fn a_code_works_once_and_only_with_its_redirect_uri() {
    let sim = Sim::start(small()).await;
    let code = sim.code(CLIENT, None).await;
    let (status, _) = sim.exchange((CLIENT, SECRET), &code, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = sim.exchange((CLIENT, SECRET), &code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_AUTH_CODE");

    let code = sim.code(CLIENT, None).await;
    let (status, body) = sim
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
            ("code", &code),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "MISMATCH_REDIRECT_URI_AUTH_CODE");

    let code = sim.code(CLIENT, None).await;
    sim.handle.advance_clock(Duration::from_secs(601));
    let (status, body) = sim.exchange((CLIENT, SECRET), &code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_AUTH_CODE");

    let (status, body) = sim.token(&[("grant_type", "password")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_GRANT_TYPE");
}

#[tokio::test]
async fn expired_tokens_answer_expired_authentication_and_refresh_recovers() {
    let sim = Sim::start(small()).await;
    let (access, refresh) = sim.login().await;
    sim.handle.advance_clock(Duration::from_secs(1799));
    assert_eq!(sim.api(&access).await.0, StatusCode::OK);

    sim.handle.advance_clock(Duration::from_secs(2 + 120));
    let (status, body) = sim.api(&access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["status"], "error");
    assert_eq!(body["category"], "EXPIRED_AUTHENTICATION");
    assert!(body["correlationId"].is_string());
    assert_eq!(
        body["message"],
        "The OAuth token used to make this call expired 2 minute(s) ago."
    );

    let (status, body) = sim.refresh((CLIENT, SECRET), &refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 1800);
    // HubSpot does not rotate: the same refresh token comes back and keeps working.
    assert_eq!(text(&body, "refresh_token"), refresh);
    let renewed = text(&body, "access_token");
    assert_ne!(renewed, access);
    assert_eq!(sim.api(&renewed).await.0, StatusCode::OK);
    let (status, _) = sim.refresh((CLIENT, SECRET), &refresh).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(sim.handle.token_requests(), 3);
    assert_eq!(sim.handle.refresh_requests(), 2);
}

#[tokio::test]
async fn rotation_retires_the_used_refresh_token() {
    let sim = Sim::start(HubSpotConfig {
        rotate_refresh_tokens: true,
        access_token_ttl_secs: 60,
        ..small()
    })
    .await;
    let (_, refresh) = sim.login().await;
    let (status, body) = sim.refresh((CLIENT, SECRET), &refresh).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 60);
    let rotated = text(&body, "refresh_token");
    assert_ne!(rotated, refresh);
    assert_eq!(
        sim.api(&text(&body, "access_token")).await.0,
        StatusCode::OK
    );

    let (status, body) = sim.refresh((CLIENT, SECRET), &refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
    assert_eq!(
        sim.refresh((CLIENT, SECRET), &rotated).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn revoked_refresh_tokens_are_refused_with_their_access_tokens() {
    let sim = Sim::start(small()).await;
    let (access, refresh) = sim.login().await;
    let info = sim
        .client
        .get(sim.url(&format!("/oauth/v1/refresh-tokens/{refresh}")))
        .send()
        .await
        .expect("info request is sent");
    assert_eq!(info.status(), StatusCode::OK);
    let info: Value = info.json().await.expect("json body");
    assert_eq!(info["client_id"], CLIENT);
    assert_eq!(info["token_type"], "refresh");

    let deleted = sim
        .client
        .delete(sim.url(&format!("/oauth/v1/refresh-tokens/{refresh}")))
        .send()
        .await
        .expect("delete is sent");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, body) = sim.refresh((CLIENT, SECRET), &refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
    let (status, body) = sim.api(&access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["category"], "INVALID_AUTHENTICATION");

    let (access, refresh) = sim.login().await;
    sim.handle.revoke_all_refresh_tokens();
    assert_eq!(
        sim.refresh((CLIENT, SECRET), &refresh).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(sim.api(&access).await.0, StatusCode::UNAUTHORIZED);
    // The private-app token is untouched.
    assert_eq!(sim.api("hubspot-sim-token").await.0, StatusCode::OK);
}

#[tokio::test]
async fn unknown_clients_and_wrong_secrets_are_refused() {
    let sim = Sim::start(small()).await;
    let response = sim
        .client
        .get(sim.url("/oauth/authorize"))
        .query(&[("client_id", "nobody"), ("redirect_uri", REDIRECT)])
        .send()
        .await
        .expect("authorize is sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());

    let code = sim.code(CLIENT, None).await;
    let (status, body) = sim.exchange(("nobody", SECRET), &code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_CLIENT_ID");
    let code = sim.code(CLIENT, None).await;
    let (status, body) = sim.exchange((CLIENT, "wrong"), &code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_CLIENT_SECRET");
    assert_eq!(sim.api("made-up-token").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn one_clients_codes_and_refresh_tokens_are_refused_to_another() {
    let mut config = small();
    config
        .oauth_clients
        .push(("other-client".to_owned(), "other-secret".to_owned()));
    let sim = Sim::start(config).await;
    let code = sim.code(CLIENT, None).await;
    let (status, body) = sim
        .exchange(("other-client", "other-secret"), &code, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_AUTH_CODE");

    let (_, refresh) = sim.login().await;
    let (status, body) = sim
        .refresh(("other-client", "other-secret"), &refresh)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
    // The owner still can.
    assert_eq!(
        sim.refresh((CLIENT, SECRET), &refresh).await.0,
        StatusCode::OK
    );
}
