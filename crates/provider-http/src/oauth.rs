//! The OAuth 2.0 client: authorization URLs with PKCE, and the token endpoint's grants
//! (authorization code, refresh token, client credentials).
//!
//! Endpoints come from the connector ([`connector::OAuthEndpoints`]); client credentials from
//! the environment's settings. Token endpoints are held to the connector's allowed hosts like
//! every other vendor call, and no redirect is followed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use connector::file::{ClientAuth, TokenAnswer};
use std::sync::Arc;

use connector::{Connector, OAuthEndpoints, ReadError, VendorResponse};
use rand::RngCore as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::sender::{Offload, run_offloaded};

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    /// A fresh random verifier (43 characters) and its challenge.
    pub fn generate() -> Pkce {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// A random opaque token (state nonces, link tokens): 32 random bytes, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 hex of a token, as stored.
pub fn token_hash(token: &str) -> String {
    hex_lower(&Sha256::digest(token.as_bytes()))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// An OAuth client registered at the provider (an environment's app).
#[derive(Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// Tokens from a token endpoint.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token expires; `None` when the provider does not say.
    pub expires_at: Option<DateTime<Utc>>,
    /// The whole answer, for the connector's captures (never logged).
    pub response: Value,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A token request that failed.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The grant (code or refresh token) is refused for good: the user must re-authorise.
    #[error("the provider refused the grant (status {})", .0.status)]
    InvalidGrant(Box<VendorResponse>),
    /// Any other refusal by the token endpoint.
    #[error("the token endpoint answered {}", .0.status)]
    Refused(Box<VendorResponse>),
    /// The answer has no access token.
    #[error("the token endpoint's answer has no access token")]
    NoAccessToken,
    #[error("invalid OAuth configuration: {0}")]
    Config(String),
    #[error("cannot reach the token endpoint: {0}")]
    Transport(String),
}

/// Builds the authorization URL the end user's browser is sent to.
///
/// # Errors
/// Fails when the scheme has no authorization URL or it is not a valid URL.
pub fn authorize_url(
    endpoints: &OAuthEndpoints,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    pkce: Option<&Pkce>,
) -> Result<String, OAuthError> {
    let base = endpoints
        .authorize_url
        .as_deref()
        .ok_or_else(|| OAuthError::Config("the scheme has no `authorize_url`".to_owned()))?;
    let mut url =
        url::Url::parse(base).map_err(|error| OAuthError::Config(format!("`{base}`: {error}")))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state);
        if !endpoints.scopes.is_empty() {
            query.append_pair("scope", &endpoints.scopes.join(" "));
        }
        if let Some(pkce) = pkce {
            query
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256");
        }
    }
    Ok(url.into())
}

/// Sends token requests.
#[derive(Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
    /// Where the connector's JSONata over a token answer runs (`invalid_grant_when`): the
    /// evaluation pool, for the environment the request is made for; here when `None`.
    offload: Option<Offload>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("offload", &self.offload.is_some())
            .finish_non_exhaustive()
    }
}

/// The account fields the connector's `scheme` captures from a token answer
/// (`capture` expressions), evaluated through `offload` when given (the evaluation pool, off
/// the async workers), here otherwise.
///
/// # Errors
/// Fails when a capture expression fails.
pub async fn capture_token_response(
    connector: &Connector,
    scheme: &str,
    token_response: &Value,
    offload: Option<&Offload>,
) -> Result<Map<String, Value>, ReadError> {
    let job = {
        let (connector, scheme, response) =
            (connector.clone(), scheme.to_owned(), token_response.clone());
        move || connector.capture_token_response(&scheme, &response)
    };
    match run_offloaded(offload, job).await {
        Some(captured) => captured,
        // The pool is closed (the process is stopping): evaluate here rather than lose it.
        None => connector.capture_token_response(scheme, token_response),
    }
}

/// Whether the token endpoint's `answer` refuses the grant for good, by the connector's
/// `invalid_grant_when`, evaluated through `offload` when given.
async fn is_invalid_grant(
    connector: &Connector,
    scheme: &str,
    answer: VendorResponse,
    offload: Option<&Offload>,
) -> (bool, VendorResponse) {
    let answer = Arc::new(answer);
    let job = {
        let (connector, scheme, answer) =
            (connector.clone(), scheme.to_owned(), Arc::clone(&answer));
        move || connector.is_invalid_grant(&scheme, &answer)
    };
    let verdict = run_offloaded(offload, job).await;
    // The job has ended (run or dropped), so the answer is ours again.
    let answer = Arc::try_unwrap(answer).unwrap_or_else(|shared| (*shared).clone());
    let invalid = verdict.unwrap_or_else(|| connector.is_invalid_grant(scheme, &answer));
    (invalid, answer)
}

/// The largest token endpoint answer read, in bytes: a token set is a few kilobytes.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 1024 * 1024;

impl OAuthClient {
    /// A client sending token requests through `provider`'s HTTP client (its connection pool,
    /// no redirects, its timeouts), reading at most [`MAX_TOKEN_RESPONSE_BYTES`] of an answer.
    pub fn new(provider: &crate::ProviderClient) -> OAuthClient {
        OAuthClient {
            http: provider.http().clone(),
            offload: None,
        }
    }

    /// The client evaluating the connector's JSONata over token answers through `offload`.
    #[must_use]
    pub fn with_offload(mut self, offload: Option<Offload>) -> OAuthClient {
        self.offload = offload;
        self
    }

    async fn token_request(
        &self,
        connector: &Connector,
        scheme: &str,
        endpoints: &OAuthEndpoints,
        client: &ClientCredentials,
        mut form: Vec<(&str, String)>,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, OAuthError> {
        let url = url::Url::parse(&endpoints.token_url)
            .map_err(|error| OAuthError::Config(format!("`{}`: {error}", endpoints.token_url)))?;
        if !connector.url_allowed(&url) {
            return Err(OAuthError::Config(format!(
                "the token endpoint `{}` is not in the connector's `allowed_hosts`",
                url.origin().ascii_serialization()
            )));
        }
        let mut request = self.http.post(url).header("Accept", "application/json");
        match endpoints.client_auth {
            ClientAuth::Body => {
                form.push(("client_id", client.client_id.clone()));
                form.push(("client_secret", client.client_secret.clone()));
            }
            ClientAuth::Basic => {
                request = request.basic_auth(&client.client_id, Some(&client.client_secret));
            }
        }
        let response = request
            .form(&form)
            .send()
            .await
            .map_err(|error| OAuthError::Transport(error.without_url().to_string()))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|v| (name.as_str().to_owned(), v.to_owned()))
            })
            .collect();
        let bytes = crate::read_capped(response, MAX_TOKEN_RESPONSE_BYTES)
            .await
            .map_err(|error| match error {
                crate::ReadBodyError::TooLarge => OAuthError::Transport(format!(
                    "the token endpoint's answer is larger than {MAX_TOKEN_RESPONSE_BYTES} bytes"
                )),
                crate::ReadBodyError::Transport(error) => {
                    OAuthError::Transport(error.without_url().to_string())
                }
            })?;
        let answer = VendorResponse::new(status, headers, crate::parse_body(&bytes));
        // Redirects are not followed (token requests carry secrets): a 3xx is a refusal too.
        if !(200..300).contains(&status) {
            if status < 400 {
                return Err(OAuthError::Refused(Box::new(answer)));
            }
            let (invalid, answer) =
                is_invalid_grant(connector, scheme, answer, self.offload.as_ref()).await;
            return Err(if invalid {
                OAuthError::InvalidGrant(Box::new(answer))
            } else {
                OAuthError::Refused(Box::new(answer))
            });
        }
        let body = answer.body;
        // RFC 6749's names, unless the connector says where the vendor puts them.
        let (token_path, expiry_path) = match &endpoints.token_answer {
            Some(paths) => (paths.access_token.as_str(), paths.expires_in.as_deref()),
            None => ("access_token", Some("expires_in")),
        };
        let access_token = TokenAnswer::lookup(token_path, &body)
            .and_then(Value::as_str)
            .filter(|token| !token.is_empty())
            .ok_or(OAuthError::NoAccessToken)?
            .to_owned();
        let refresh_token = body
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|token| !token.is_empty())
            .map(str::to_owned);
        let expires_at = expiry_path
            .and_then(|path| TokenAnswer::lookup(path, &body))
            .and_then(|value| {
                value
                    .as_i64()
                    .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
            })
            .map(|seconds| now + Duration::seconds(seconds));
        tracing::info!(provider = connector.id(), scheme, "token endpoint answered");
        Ok(TokenSet {
            access_token,
            refresh_token,
            expires_at,
            response: body,
        })
    }

    /// Exchanges an authorization code.
    ///
    /// # Errors
    /// See [`OAuthError`].
    #[allow(clippy::too_many_arguments)] // one argument per OAuth parameter reads best at call sites
    pub async fn exchange_code(
        &self,
        connector: &Connector,
        scheme: &str,
        endpoints: &OAuthEndpoints,
        client: &ClientCredentials,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, OAuthError> {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
        ];
        if let Some(verifier) = code_verifier {
            form.push(("code_verifier", verifier.to_owned()));
        }
        self.token_request(connector, scheme, endpoints, client, form, now)
            .await
    }

    /// Refreshes an access token.
    ///
    /// # Errors
    /// See [`OAuthError`]; [`OAuthError::InvalidGrant`] means the user must re-authorise.
    pub async fn refresh(
        &self,
        connector: &Connector,
        scheme: &str,
        endpoints: &OAuthEndpoints,
        client: &ClientCredentials,
        refresh_token: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, OAuthError> {
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.to_owned()),
        ];
        self.token_request(connector, scheme, endpoints, client, form, now)
            .await
    }

    /// Obtains a token with the client credentials grant.
    ///
    /// # Errors
    /// See [`OAuthError`].
    pub async fn client_credentials(
        &self,
        connector: &Connector,
        scheme: &str,
        endpoints: &OAuthEndpoints,
        client: &ClientCredentials,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, OAuthError> {
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if !endpoints.scopes.is_empty() {
            form.push(("scope", endpoints.scopes.join(" ")));
        }
        self.token_request(connector, scheme, endpoints, client, form, now)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        let pkce = Pkce::generate();
        assert_eq!(pkce.verifier.len(), 43);
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(pkce.verifier.as_bytes()));
        assert_eq!(pkce.challenge, expected);
        assert_ne!(Pkce::generate().verifier, pkce.verifier);
    }

    #[test]
    fn authorize_urls_carry_every_parameter() {
        let endpoints = OAuthEndpoints {
            grant: connector::file::OAuthGrant::AuthorizationCode,
            authorize_url: Some("https://login.example.com/authorize?prompt=consent".to_owned()),
            token_url: "https://login.example.com/token".to_owned(),
            scopes: vec!["api".to_owned(), "refresh_token".to_owned()],
            pkce: true,
            client_auth: ClientAuth::Body,
            refresh_before_expiry_secs: 300,
            client: connector::file::ClientSource::Environment,
            token_answer: None,
        };
        let pkce = Pkce {
            verifier: "v".to_owned(),
            challenge: "c".to_owned(),
        };
        let url =
            authorize_url(&endpoints, "cid", "https://app/cb", "st", Some(&pkce)).expect("builds");
        let parsed = url::Url::parse(&url).expect("a URL");
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert!(pairs.contains(&("prompt".to_owned(), "consent".to_owned())));
        assert!(pairs.contains(&("scope".to_owned(), "api refresh_token".to_owned())));
        assert!(pairs.contains(&("code_challenge_method".to_owned(), "S256".to_owned())));
        assert!(pairs.contains(&("redirect_uri".to_owned(), "https://app/cb".to_owned())));
    }
}
