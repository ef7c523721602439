//! Salesforce's OAuth 2.0 web-server flow: `/services/oauth2/authorize` (auto-approved),
//! `/services/oauth2/token` for the `authorization_code` and `refresh_token` grants, and
//! `/services/oauth2/revoke`, over the shared [`crate::oauth::OAuthServer`].
//!
//! Token answers carry `access_token, instance_url, id, token_type:"Bearer", issued_at,
//! signature, scope` (plus `refresh_token` on the code grant, and on refreshes when rotation
//! is on) and, as in Salesforce, no `expires_in`: the session timeout is internal and an
//! expired token answers 401 `INVALID_SESSION_ID`. `instance_url` and the identity URL use the
//! simulator's own base URL. Errors are 400 `{"error","error_description"}`; authorize errors
//! that Salesforce shows as a page (unknown client, bad redirect URI) are a 400 page, the
//! others redirect with `error` and `error_description`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use super::Shared;
use super::ids;
use crate::oauth::{Issued, OAuthError, Pkce};

type AppState = State<Arc<Shared>>;

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(raw).unwrap_or_default()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

fn error_page(error: &str, description: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>OAuth Error</title></head><body>\
         <p>We can't authorize you because of an OAuth error. For more information, contact \
         your Salesforce administrator.</p><p>OAuth Error</p>\
         <p>error={error}</p><p>error_description={description}</p></body></html>"
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

fn redirect(mut target: url::Url, params: &[(&str, &str)]) -> Response {
    {
        let mut query = target.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

/// `GET /services/oauth2/authorize?response_type=code&client_id&redirect_uri&scope&state
/// [&code_challenge&code_challenge_method=S256]`: approves at once and redirects with a code.
pub(crate) async fn authorize(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let client_id = param(&query, "client_id").unwrap_or_default();
    if !shared.oauth.client_known(client_id) {
        return error_page("invalid_client_id", "client identifier invalid");
    }
    let Some(redirect_uri) = param(&query, "redirect_uri") else {
        return error_page(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        );
    };
    let Ok(target) = url::Url::parse(redirect_uri) else {
        return error_page(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        );
    };
    let state = param(&query, "state");
    let fail = |error: &str, description: &str| {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(state) = state {
            params.push(("state", state));
        }
        redirect(target.clone(), &params)
    };
    if param(&query, "response_type") != Some("code") {
        return fail("unsupported_response_type", "response type not supported");
    }
    let pkce = match (
        param(&query, "code_challenge"),
        param(&query, "code_challenge_method"),
    ) {
        (None, _) => None,
        (Some(challenge), None | Some("S256")) => Some(Pkce::S256(challenge.to_owned())),
        (Some(_), Some(_)) => return fail("invalid_request", "invalid code_challenge_method"),
    };
    let scope = param(&query, "scope").unwrap_or("api refresh_token");
    let code = shared
        .oauth
        .issue_code(client_id, redirect_uri, scope, pkce);
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = state {
        params.push(("state", state));
    }
    redirect(target, &params)
}

fn oauth_failure(error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn oauth_error(error: &OAuthError) -> Response {
    match error {
        OAuthError::UnknownClient(_) => {
            oauth_failure("invalid_client_id", "client identifier invalid")
        }
        OAuthError::BadClientSecret => {
            oauth_failure("invalid_client", "invalid client credentials")
        }
        OAuthError::UnknownCode | OAuthError::CodeClientMismatch => {
            oauth_failure("invalid_grant", "invalid authorization code")
        }
        OAuthError::ExpiredCode => oauth_failure("invalid_grant", "expired authorization code"),
        OAuthError::RedirectMismatch => oauth_failure(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        ),
        // Salesforce's documented split: a missing verifier is `invalid_grant`, a wrong one
        // `invalid_request`.
        OAuthError::MissingVerifier => oauth_failure("invalid_grant", "invalid code verifier"),
        OAuthError::VerifierMismatch => oauth_failure("invalid_request", "invalid code verifier"),
        OAuthError::BadRefreshToken => {
            oauth_failure("invalid_grant", "expired access/refresh token")
        }
    }
}

/// Client credentials from the form, or else from HTTP Basic auth.
fn client_credentials(form: &[(String, String)], headers: &HeaderMap) -> (String, String) {
    if let Some(client_id) = param(form, "client_id") {
        let secret = param(form, "client_secret").unwrap_or_default();
        return (client_id.to_owned(), secret.to_owned());
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
        })
        .unwrap_or_default()
}

fn instance_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `POST /services/oauth2/token` (form).
pub(crate) async fn token(State(shared): AppState, headers: HeaderMap, body: Bytes) -> Response {
    let form = pairs(&body);
    let refresh = match param(&form, "grant_type") {
        Some("authorization_code") => false,
        Some("refresh_token") => true,
        Some("client_credentials") => {
            // The client credentials flow: the connected app's run-as user, no refresh token.
            shared.oauth.count_token_request(false);
            let (client_id, secret) = client_credentials(&form, &headers);
            return match shared.oauth.authenticate_client(&client_id, &secret) {
                Ok(()) => {
                    let issued = shared
                        .oauth
                        .client_credentials(&client_id, param(&form, "scope").unwrap_or("api"));
                    Json(token_body(&shared, &headers, &secret, &issued)).into_response()
                }
                Err(error) => oauth_error(&error),
            };
        }
        _ => return oauth_failure("unsupported_grant_type", "grant type not supported"),
    };
    shared.oauth.count_token_request(refresh);
    let (client_id, secret) = client_credentials(&form, &headers);
    let issued = shared
        .oauth
        .authenticate_client(&client_id, &secret)
        .and_then(|()| {
            if refresh {
                let token = param(&form, "refresh_token").unwrap_or_default();
                shared.oauth.refresh(&client_id, token)
            } else {
                shared.oauth.exchange_code(
                    &client_id,
                    param(&form, "code").unwrap_or_default(),
                    param(&form, "redirect_uri"),
                    param(&form, "code_verifier"),
                )
            }
        });
    match issued {
        Ok(issued) => Json(token_body(&shared, &headers, &secret, &issued)).into_response(),
        Err(error) => oauth_error(&error),
    }
}

fn token_body(shared: &Shared, headers: &HeaderMap, secret: &str, issued: &Issued) -> Value {
    let instance = instance_url(headers);
    let user_id = shared
        .read()
        .api_user
        .clone()
        .unwrap_or_else(|| ids::make_id("005", 1));
    let id = format!("{instance}/id/{}/{user_id}", ids::make_id("00D", 1));
    let issued_at = issued.issued_at_ms.to_string();
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    let mut body = Map::new();
    body.insert("access_token".into(), json!(issued.access_token));
    if let Some(refresh_token) = &issued.refresh_token {
        body.insert("refresh_token".into(), json!(refresh_token));
    }
    body.insert("signature".into(), json!(signature));
    body.insert("scope".into(), json!(issued.scope));
    body.insert("instance_url".into(), json!(instance));
    body.insert("id".into(), json!(id));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("issued_at".into(), json!(issued_at));
    Value::Object(body)
}

/// `POST /services/oauth2/revoke` (form `token=…`, or `?token=…`): a refresh token takes its
/// access tokens along; an access token goes alone.
pub(crate) async fn revoke(
    State(shared): AppState,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let form = pairs(&body);
    let query = pairs(query.unwrap_or_default().as_bytes());
    let token = param(&form, "token").or_else(|| param(&query, "token"));
    match token {
        Some(token) if shared.oauth.revoke(token) => StatusCode::OK.into_response(),
        Some(_) => oauth_failure("invalid_token", "invalid token"),
        None => oauth_failure("unsupported_token_type", "token type not supported"),
    }
}
