//! Black-box tests of the Salesforce simulator's OAuth 2.0 web-server flow over HTTP: the
//! token response's shape (no `expires_in`, `instance_url`, identity URL, signature), PKCE,
//! single-use codes, session expiry on the simulated clock, refresh with and without rotation,
//! revocation, unknown and foreign clients.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use sha2::Sha256;
use simulators::RunningSimulator;
use simulators::oauth::s256_challenge;
use simulators::salesforce::{self, SalesforceConfig, SalesforceHandle};

const CLIENT: &str = "salesforce-sim-client";
const SECRET: &str = "salesforce-sim-secret";
const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

struct Sim {
    running: RunningSimulator,
    handle: SalesforceHandle,
    client: Client,
}

fn small() -> SalesforceConfig {
    SalesforceConfig {
        accounts: 5,
        contacts: 10,
        leads: 5,
        opportunities: 5,
        tasks: 5,
        events: 5,
        notes: 5,
        users: 3,
        ..SalesforceConfig::default()
    }
}

fn text(body: &Value, key: &str) -> String {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` in {body}"))
        .to_owned()
}

impl Sim {
    async fn start(config: SalesforceConfig) -> Sim {
        let addr = "127.0.0.1:0".parse().expect("loopback address");
        let (running, handle) = salesforce::spawn(config, addr)
            .await
            .expect("simulator binds");
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

    /// Runs the authorize step with `extra` parameters; returns the status and the redirect's
    /// query pairs.
    async fn authorize(
        &self,
        client_id: &str,
        extra: &[(&str, &str)],
    ) -> (StatusCode, Vec<(String, String)>) {
        let mut query = vec![
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "api refresh_token"),
            ("state", "st-42"),
        ];
        query.extend_from_slice(extra);
        let response = self
            .client
            .get(self.url("/services/oauth2/authorize"))
            .query(&query)
            .send()
            .await
            .expect("authorize is sent");
        let status = response.status();
        let pairs = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .and_then(|location| reqwest::Url::parse(location).ok())
            .map(|url| {
                url.query_pairs()
                    .map(|(name, value)| (name.into_owned(), value.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        (status, pairs)
    }

    async fn code(&self, client_id: &str, challenge: Option<&str>) -> String {
        let mut extra = vec![("response_type", "code")];
        if let Some(challenge) = challenge {
            extra.push(("code_challenge", challenge));
            extra.push(("code_challenge_method", "S256"));
        }
        let (status, pairs) = self.authorize(client_id, &extra).await;
        assert_eq!(status, StatusCode::FOUND);
        assert!(pairs.contains(&("state".to_owned(), "st-42".to_owned())));
        pairs
            .into_iter()
            .find(|(name, _)| name == "code")
            .map(|(_, code)| code)
            .expect("code in redirect")
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("form is sent");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
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
        self.post_form("/services/oauth2/token", &form).await
    }

    async fn refresh(&self, client: (&str, &str), refresh_token: &str) -> (StatusCode, Value) {
        self.post_form(
            "/services/oauth2/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", client.0),
                ("client_secret", client.1),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    /// A full code flow with PKCE; returns the token response.
    async fn login(&self) -> Value {
        let code = self.code(CLIENT, Some(&s256_challenge(VERIFIER))).await;
        let (status, body) = self.exchange((CLIENT, SECRET), &code, Some(VERIFIER)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn api(&self, token: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url("/services/data/v59.0/limits"))
            .bearer_auth(token)
            .send()
            .await
            .expect("api request is sent");
        let status = response.status();
        (status, response.json().await.expect("json body"))
    }
}

fn assert_invalid_session(answer: &(StatusCode, Value)) {
    assert_eq!(answer.0, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.1[0]["errorCode"], "INVALID_SESSION_ID");
    assert_eq!(answer.1[0]["message"], "Session expired or invalid");
}

#[tokio::test]
async fn code_flow_with_pkce_answers_salesforce_token_response() {
    let sim = Sim::start(small()).await;
    let challenge = s256_challenge(VERIFIER);

    let code = sim.code(CLIENT, Some(&challenge)).await;
    let (status, body) = sim
        .exchange((CLIENT, SECRET), &code, Some("wrong-verifier"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    let code = sim.code(CLIENT, Some(&challenge)).await;
    let (status, body) = sim.exchange((CLIENT, SECRET), &code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    let body = sim.login().await;
    assert!(body.get("expires_in").is_none(), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["instance_url"], sim.running.base_url.as_str());
    assert_eq!(body["scope"], "api refresh_token");
    let id = text(&body, "id");
    assert!(
        id.starts_with(&format!("{}/id/00D", sim.running.base_url)),
        "{id}"
    );
    assert!(
        id.rsplit('/')
            .next()
            .is_some_and(|user| user.starts_with("005"))
    );
    let issued_at = text(&body, "issued_at");
    assert!(issued_at.parse::<u128>().is_ok());
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    assert_eq!(
        text(&body, "signature"),
        STANDARD.encode(mac.finalize().into_bytes())
    );
    assert!(body["refresh_token"].is_string());
    assert_eq!(
        sim.api(&text(&body, "access_token")).await.0,
        StatusCode::OK
    );
    assert_eq!(sim.handle.token_requests(), 3);
    assert_eq!(sim.handle.refresh_requests(), 0);
}

#[tokio::test]
async fn codes_are_single_use_and_authorize_errors_redirect_or_stop() {
    let sim = Sim::start(small()).await;
    let code = sim.code(CLIENT, None).await;
    assert_eq!(
        sim.exchange((CLIENT, SECRET), &code, None).await.0,
        StatusCode::OK
    );
    let (status, body) = sim.exchange((CLIENT, SECRET), &code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "invalid authorization code");

    let code = sim.code(CLIENT, None).await;
    sim.handle.advance_clock(Duration::from_secs(601));
    let (status, body) = sim.exchange((CLIENT, SECRET), &code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    let (status, pairs) = sim.authorize(CLIENT, &[("response_type", "token")]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(pairs.contains(&("error".to_owned(), "unsupported_response_type".to_owned())));
    assert!(pairs.contains(&("state".to_owned(), "st-42".to_owned())));
    let (status, pairs) = sim
        .authorize(
            CLIENT,
            &[
                ("response_type", "code"),
                ("code_challenge", "abc"),
                ("code_challenge_method", "plain"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(pairs.contains(&("error".to_owned(), "invalid_request".to_owned())));

    let (status, pairs) = sim.authorize("nobody", &[("response_type", "code")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(pairs.is_empty());

    let (status, body) = sim
        .post_form("/services/oauth2/token", &[("grant_type", "password")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn sessions_time_out_and_refresh_without_rotation_keeps_the_refresh_token() {
    let sim = Sim::start(small()).await;
    let body = sim.login().await;
    let access = text(&body, "access_token");
    let refresh = text(&body, "refresh_token");
    sim.handle.advance_clock(Duration::from_secs(7199));
    assert_eq!(sim.api(&access).await.0, StatusCode::OK);
    sim.handle.advance_clock(Duration::from_secs(2));
    assert_invalid_session(&sim.api(&access).await);

    let (status, body) = sim.refresh((CLIENT, SECRET), &refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("expires_in").is_none());
    assert_eq!(body["instance_url"], sim.running.base_url.as_str());
    let renewed = text(&body, "access_token");
    assert_eq!(sim.api(&renewed).await.0, StatusCode::OK);
    assert_eq!(
        sim.refresh((CLIENT, SECRET), &refresh).await.0,
        StatusCode::OK
    );

    // Static-token style expiry takes OAuth sessions along, not refresh tokens.
    sim.handle.expire_tokens();
    assert_invalid_session(&sim.api(&renewed).await);
    assert_eq!(
        sim.refresh((CLIENT, SECRET), &refresh).await.0,
        StatusCode::OK
    );
    assert_eq!(sim.handle.token_requests(), 4);
    assert_eq!(sim.handle.refresh_requests(), 3);
}

#[tokio::test]
async fn rotation_returns_a_new_refresh_token_and_retires_the_old() {
    let sim = Sim::start(SalesforceConfig {
        rotate_refresh_tokens: true,
        ..small()
    })
    .await;
    let refresh = text(&sim.login().await, "refresh_token");
    let (status, body) = sim.refresh((CLIENT, SECRET), &refresh).await;
    assert_eq!(status, StatusCode::OK);
    let rotated = text(&body, "refresh_token");
    assert_ne!(rotated, refresh);
    assert_eq!(
        sim.api(&text(&body, "access_token")).await.0,
        StatusCode::OK
    );
    let (status, body) = sim.refresh((CLIENT, SECRET), &refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "expired access/refresh token");
    assert_eq!(
        sim.refresh((CLIENT, SECRET), &rotated).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_sessions() {
    let sim = Sim::start(small()).await;
    let body = sim.login().await;
    let access = text(&body, "access_token");
    let refresh = text(&body, "refresh_token");
    let (status, _) = sim
        .post_form("/services/oauth2/revoke", &[("token", &refresh)])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = sim.refresh((CLIENT, SECRET), &refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "expired access/refresh token");
    assert_invalid_session(&sim.api(&access).await);

    let (status, body) = sim
        .post_form("/services/oauth2/revoke", &[("token", &refresh)])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_token");

    let body = sim.login().await;
    sim.handle.revoke_all_refresh_tokens();
    assert_invalid_session(&sim.api(&text(&body, "access_token")).await);
    assert_eq!(
        sim.refresh((CLIENT, SECRET), &text(&body, "refresh_token"))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(sim.api("salesforce-sim-token").await.0, StatusCode::OK);
}

#[tokio::test]
async fn unknown_and_foreign_clients_are_refused() {
    let mut config = small();
    config
        .oauth_clients
        .push(("other-client".to_owned(), "other-secret".to_owned()));
    let sim = Sim::start(config).await;

    let code = sim.code(CLIENT, None).await;
    let (status, body) = sim.exchange(("nobody", SECRET), &code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_client_id");
    let code = sim.code(CLIENT, None).await;
    let (status, body) = sim.exchange((CLIENT, "wrong"), &code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_client");

    let code = sim.code(CLIENT, None).await;
    let (status, body) = sim
        .exchange(("other-client", "other-secret"), &code, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    let refresh = text(&sim.login().await, "refresh_token");
    let (status, body) = sim
        .refresh(("other-client", "other-secret"), &refresh)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        sim.refresh((CLIENT, SECRET), &refresh).await.0,
        StatusCode::OK
    );
    assert_invalid_session(&sim.api("made-up-token").await);
}
