//! HubSpot's OAuth 2.0 endpoints: the install/authorize page (served by `app.hubspot.com` in
//! reality, auto-approved here), the v1 token endpoint, access- and refresh-token metadata,
//! and refresh-token deletion, over the shared [`crate::oauth::OAuthServer`].
//!
//! Token-endpoint errors are 400 `{"status":"BAD_…","message","correlationId"}`, the shape the
//! v1 endpoint uses (`BAD_REFRESH_TOKEN`, `BAD_AUTH_CODE`, `BAD_CLIENT_ID`, `BAD_GRANT_TYPE`,
//! `MISMATCH_REDIRECT_URI_AUTH_CODE`). Documented choices: a wrong secret answers
//! `BAD_CLIENT_SECRET`; a failed PKCE check answers `BAD_AUTH_CODE`; every redirect URI is
//! accepted at authorize time (no app settings to register them in), and the token request
//! must repeat it exactly.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::Shared;
use super::errors;
use crate::oauth::{AccessStatus, OAuthError, Pkce};

/// The simulated portal's id, as `hub_id` in token metadata.
pub const HUB_ID: u64 = 24_000_001;
/// The simulated app's id.
pub const APP_ID: u64 = 3_100_001;
const USER_ID: u64 = 51_000_001;
const USER: &str = "sim-user@example.com";
const HUB_DOMAIN: &str = "sim-portal.hubspot.com";

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(raw).unwrap_or_default()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

fn error_page(message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>HubSpot - Authorization error</title></head>\
         <body><h1>Authorization failed</h1><p>{message}</p></body></html>"
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

/// `GET /oauth/authorize?client_id&redirect_uri&scope&state[&code_challenge&code_challenge_method]`:
/// approves at once and redirects to `redirect_uri?code=…&state=…`.
pub async fn authorize(State(shared): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let client_id = param(&query, "client_id").unwrap_or_default();
    if !shared.oauth.client_known(client_id) {
        return error_page("Invalid client_id: this app does not exist.");
    }
    let Some(redirect_uri) = param(&query, "redirect_uri") else {
        return error_page("Missing redirect_uri.");
    };
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return error_page("Invalid redirect_uri.");
    };
    let pkce = match (
        param(&query, "code_challenge"),
        param(&query, "code_challenge_method"),
    ) {
        (None, _) => None,
        (Some(challenge), None | Some("S256")) => Some(Pkce::S256(challenge.to_owned())),
        (Some(challenge), Some("plain")) => Some(Pkce::Plain(challenge.to_owned())),
        (Some(_), Some(_)) => return error_page("Unsupported code_challenge_method."),
    };
    let scope = param(&query, "scope").unwrap_or_default();
    let code = shared
        .oauth
        .issue_code(client_id, redirect_uri, scope, pkce);
    {
        let mut target_query = target.query_pairs_mut();
        target_query.append_pair("code", &code);
        if let Some(state) = param(&query, "state") {
            target_query.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

/// A v1 token-endpoint error.
fn token_error(status: &str, message: &str) -> Response {
    let body = json!({
        "status": status,
        "message": message,
        "correlationId": uuid::Uuid::new_v4().to_string(),
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn oauth_error(error: &OAuthError) -> Response {
    match error {
        OAuthError::UnknownClient(_) => {
            token_error("BAD_CLIENT_ID", "missing or invalid client_id")
        }
        OAuthError::BadClientSecret => {
            token_error("BAD_CLIENT_SECRET", "missing or invalid client_secret")
        }
        OAuthError::UnknownCode | OAuthError::CodeClientMismatch => {
            token_error("BAD_AUTH_CODE", "missing or unknown auth code")
        }
        OAuthError::ExpiredCode => token_error("BAD_AUTH_CODE", "auth code expired"),
        OAuthError::RedirectMismatch => token_error(
            "MISMATCH_REDIRECT_URI_AUTH_CODE",
            "redirect URI does not match initial auth code URI",
        ),
        OAuthError::MissingVerifier | OAuthError::VerifierMismatch => {
            token_error("BAD_AUTH_CODE", "missing or invalid code_verifier")
        }
        OAuthError::BadRefreshToken => {
            token_error("BAD_REFRESH_TOKEN", "missing or invalid refresh token")
        }
    }
}

/// `POST /oauth/v1/token` (form): the `authorization_code` and `refresh_token` grants.
pub async fn token(State(shared): State<Shared>, body: Bytes) -> Response {
    let form = pairs(&body);
    let grant_type = param(&form, "grant_type").unwrap_or_default();
    let refresh = match grant_type {
        "authorization_code" => false,
        "refresh_token" => true,
        _ => return token_error("BAD_GRANT_TYPE", "missing or invalid grant_type"),
    };
    shared.oauth.count_token_request(refresh);
    let client_id = param(&form, "client_id").unwrap_or_default();
    let secret = param(&form, "client_secret").unwrap_or_default();
    let issued = shared
        .oauth
        .authenticate_client(client_id, secret)
        .and_then(|()| {
            if refresh {
                let token = param(&form, "refresh_token").unwrap_or_default();
                shared.oauth.refresh(client_id, token).map(|mut issued| {
                    // HubSpot answers with a refresh token on every grant; unrotated, it is
                    // the same one.
                    issued.refresh_token.get_or_insert_with(|| token.to_owned());
                    issued
                })
            } else {
                shared.oauth.exchange_code(
                    client_id,
                    param(&form, "code").unwrap_or_default(),
                    param(&form, "redirect_uri"),
                    param(&form, "code_verifier"),
                )
            }
        });
    match issued {
        Ok(issued) => Json(json!({
            "token_type": "bearer",
            "refresh_token": issued.refresh_token,
            "access_token": issued.access_token,
            "expires_in": issued.expires_in,
        }))
        .into_response(),
        Err(error) => oauth_error(&error),
    }
}

fn scopes(scope: &str) -> Vec<&str> {
    scope.split_whitespace().collect()
}

fn not_found(kind: &str) -> Response {
    errors::error(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        format!("{kind} not found"),
    )
}

/// `GET /oauth/v1/access-tokens/{token}`: the token's portal, user, app, scopes and time left.
pub async fn access_token_info(
    State(shared): State<Shared>,
    Path(token): Path<String>,
) -> Response {
    let Some(info) = shared.oauth.access_info(&token) else {
        return not_found("Access token");
    };
    match info.status {
        AccessStatus::Valid { expires_in } => Json(json!({
            "token": token,
            "user": USER,
            "hub_domain": HUB_DOMAIN,
            "scopes": scopes(&info.scope),
            "hub_id": HUB_ID,
            "app_id": APP_ID,
            "expires_in": expires_in,
            "user_id": USER_ID,
            "token_type": "access",
        }))
        .into_response(),
        AccessStatus::Expired { expired_for } => errors::expired_token(expired_for),
        AccessStatus::Unknown => not_found("Access token"),
    }
}

/// `GET /oauth/v1/refresh-tokens/{token}`: what a live refresh token was issued for.
pub async fn refresh_token_info(
    State(shared): State<Shared>,
    Path(token): Path<String>,
) -> Response {
    let Some(info) = shared.oauth.refresh_info(&token) else {
        return not_found("Refresh token");
    };
    Json(json!({
        "token": token,
        "user": USER,
        "hub_domain": HUB_DOMAIN,
        "scopes": scopes(&info.scope),
        "hub_id": HUB_ID,
        "client_id": info.client_id,
        "user_id": USER_ID,
        "token_type": "refresh",
    }))
    .into_response()
}

/// `DELETE /oauth/v1/refresh-tokens/{token}`: revokes it and the access tokens issued from it.
pub async fn delete_refresh_token(
    State(shared): State<Shared>,
    Path(token): Path<String>,
) -> Response {
    if shared.oauth.refresh_info(&token).is_none() {
        return not_found("Refresh token");
    }
    shared.oauth.revoke(&token);
    StatusCode::NO_CONTENT.into_response()
}
