//! The OAuth 2.0 authorization-server machinery the vendor simulators share: registered clients,
//! single-use authorization codes bound to a client, a redirect URI and a PKCE challenge,
//! access tokens with lifetimes on a simulated clock, refresh tokens with optional rotation,
//! revocation, and counters tests read.
//!
//! Nothing here knows HTTP or a vendor's wire format: each vendor module parses its own
//! requests, calls [`OAuthServer`] and renders the [`OAuthError`]s in its own shapes. Tokens
//! belong to a *grant* (one authorization); revoking any refresh token of a grant revokes every
//! refresh and access token of it, as Salesforce and HubSpot do.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};

/// How long an authorization code can be exchanged.
pub const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// A vendor's OAuth settings.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Registered `(client_id, client_secret)` pairs.
    pub clients: Vec<(String, String)>,
    /// How long an issued access token is accepted.
    pub access_token_ttl: Duration,
    /// Whether each refresh returns a new refresh token and invalidates the old one.
    pub rotate_refresh_tokens: bool,
    /// Put in front of every access token (vendors' tokens have recognisable shapes).
    pub access_token_prefix: String,
}

/// A PKCE challenge as the authorization request gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pkce {
    /// `code_challenge_method=S256`: base64url(SHA-256(verifier)), unpadded.
    S256(String),
    /// `code_challenge_method=plain`: the verifier itself.
    Plain(String),
}

impl Pkce {
    /// Whether `verifier` answers this challenge.
    pub fn verify(&self, verifier: &str) -> bool {
        match self {
            Pkce::S256(challenge) => s256_challenge(verifier) == *challenge,
            Pkce::Plain(challenge) => verifier == challenge,
        }
    }
}

/// The S256 challenge of `verifier`.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Why a token request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("unknown client id `{0}`")]
    UnknownClient(String),
    #[error("wrong client secret")]
    BadClientSecret,
    #[error("unknown or already used authorization code")]
    UnknownCode,
    #[error("authorization code expired")]
    ExpiredCode,
    #[error("authorization code was issued to another client")]
    CodeClientMismatch,
    #[error("redirect uri does not match the authorization request")]
    RedirectMismatch,
    #[error("code verifier missing for a code with a challenge")]
    MissingVerifier,
    #[error("code verifier does not match the challenge")]
    VerifierMismatch,
    #[error("unknown, revoked or foreign refresh token")]
    BadRefreshToken,
}

/// What a successful code exchange or refresh hands out.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    /// The new refresh token: always on a code exchange, on a refresh only when rotating.
    pub refresh_token: Option<String>,
    /// The access token's lifetime in seconds.
    pub expires_in: u64,
    /// Space-separated scopes granted at authorization.
    pub scope: String,
    pub client_id: String,
    /// Milliseconds since the epoch on the simulated clock.
    pub issued_at_ms: u128,
}

/// How an access token stands right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessStatus {
    /// Accepted; `expires_in` seconds left.
    Valid { expires_in: u64 },
    /// Issued here but past its lifetime, for `expired_for` already.
    Expired { expired_for: Duration },
    /// Never issued here, or revoked.
    Unknown,
}

/// What an access token was issued for.
#[derive(Debug, Clone)]
pub struct AccessInfo {
    pub client_id: String,
    pub scope: String,
    pub status: AccessStatus,
}

/// What a refresh token was issued for.
#[derive(Debug, Clone)]
pub struct RefreshInfo {
    pub client_id: String,
    pub scope: String,
}

#[derive(Debug)]
struct Code {
    client_id: String,
    redirect_uri: String,
    scope: String,
    pkce: Option<Pkce>,
    expires_at: Instant,
}

#[derive(Debug)]
struct Access {
    grant: u64,
    expires_at: Instant,
}

#[derive(Debug)]
struct Grant {
    client_id: String,
    scope: String,
}

#[derive(Debug, Default)]
struct Tokens {
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    /// Live refresh token → grant id.
    refresh: HashMap<String, u64>,
    grants: HashMap<u64, Grant>,
    next_grant: u64,
}

/// One simulated authorization server.
#[derive(Debug)]
pub struct OAuthServer {
    settings: OAuthSettings,
    tokens: Mutex<Tokens>,
    clock_offset_ms: AtomicU64,
    token_requests: AtomicU64,
    refresh_requests: AtomicU64,
}

fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

impl OAuthServer {
    pub fn new(settings: OAuthSettings) -> OAuthServer {
        OAuthServer {
            settings,
            tokens: Mutex::new(Tokens::default()),
            clock_offset_ms: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            refresh_requests: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tokens> {
        self.tokens.lock().expect("oauth token state poisoned")
    }

    fn offset(&self) -> Duration {
        Duration::from_millis(self.clock_offset_ms.load(Ordering::SeqCst))
    }

    /// Now on the simulated clock.
    fn now(&self) -> Instant {
        Instant::now() + self.offset()
    }

    /// Milliseconds since the epoch on the simulated clock.
    pub fn now_epoch_ms(&self) -> u128 {
        (SystemTime::now() + self.offset())
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis())
    }

    /// Moves the simulated clock forward (token and code expiry follow it).
    pub fn advance_clock(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.clock_offset_ms.fetch_add(millis, Ordering::SeqCst);
    }

    /// The configured access-token lifetime in seconds.
    pub fn access_token_ttl_secs(&self) -> u64 {
        self.settings.access_token_ttl.as_secs()
    }

    /// Whether `client_id` is registered.
    pub fn client_known(&self, client_id: &str) -> bool {
        self.settings.clients.iter().any(|(id, _)| id == client_id)
    }

    /// The secret registered for `client_id`.
    pub fn client_secret(&self, client_id: &str) -> Option<&str> {
        self.settings
            .clients
            .iter()
            .find(|(id, _)| id == client_id)
            .map(|(_, secret)| secret.as_str())
    }

    /// Checks a client's credentials.
    ///
    /// # Errors
    /// [`OAuthError::UnknownClient`] or [`OAuthError::BadClientSecret`].
    pub fn authenticate_client(&self, client_id: &str, secret: &str) -> Result<(), OAuthError> {
        match self.client_secret(client_id) {
            None => Err(OAuthError::UnknownClient(client_id.to_owned())),
            Some(known) if known != secret => Err(OAuthError::BadClientSecret),
            Some(_) => Ok(()),
        }
    }

    /// Counts one token-endpoint request of a code or refresh grant.
    pub fn count_token_request(&self, refresh: bool) {
        self.token_requests.fetch_add(1, Ordering::SeqCst);
        if refresh {
            self.refresh_requests.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Code and refresh grants requested at the token endpoint.
    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// Refresh grants requested at the token endpoint.
    pub fn refresh_requests(&self) -> u64 {
        self.refresh_requests.load(Ordering::SeqCst)
    }

    /// Issues a single-use authorization code (the user approved).
    pub fn issue_code(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
        pkce: Option<Pkce>,
    ) -> String {
        let code = random_string(40);
        let expires_at = self.now() + CODE_LIFETIME;
        self.lock().codes.insert(
            code.clone(),
            Code {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                scope: scope.to_owned(),
                pkce,
                expires_at,
            },
        );
        code
    }

    /// Exchanges a code (consumed by this attempt, whatever its outcome) for tokens. The
    /// client must already be authenticated.
    ///
    /// # Errors
    /// The code is unknown, used, expired, foreign, or its redirect URI or PKCE check fails.
    pub fn exchange_code(
        &self,
        client_id: &str,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<Issued, OAuthError> {
        let now = self.now();
        let mut tokens = self.lock();
        let grant = tokens.codes.remove(code).ok_or(OAuthError::UnknownCode)?;
        if grant.client_id != client_id {
            return Err(OAuthError::CodeClientMismatch);
        }
        if grant.expires_at <= now {
            return Err(OAuthError::ExpiredCode);
        }
        if redirect_uri != Some(grant.redirect_uri.as_str()) {
            return Err(OAuthError::RedirectMismatch);
        }
        if let Some(pkce) = &grant.pkce {
            let verifier = verifier.ok_or(OAuthError::MissingVerifier)?;
            if !pkce.verify(verifier) {
                return Err(OAuthError::VerifierMismatch);
            }
        }
        let grant_id = tokens.next_grant;
        tokens.next_grant += 1;
        tokens.grants.insert(
            grant_id,
            Grant {
                client_id: client_id.to_owned(),
                scope: grant.scope,
            },
        );
        let refresh_token = uuid::Uuid::new_v4().to_string();
        tokens.refresh.insert(refresh_token.clone(), grant_id);
        Ok(self.mint_access(&mut tokens, grant_id, Some(refresh_token), now))
    }

    /// Issues an access token to an authenticated client for itself (the client credentials
    /// grant): no refresh token; asking again gives a new access token.
    pub fn client_credentials(&self, client_id: &str, scope: &str) -> Issued {
        let now = self.now();
        let mut tokens = self.lock();
        let grant_id = tokens.next_grant;
        tokens.next_grant += 1;
        tokens.grants.insert(
            grant_id,
            Grant {
                client_id: client_id.to_owned(),
                scope: scope.to_owned(),
            },
        );
        self.mint_access(&mut tokens, grant_id, None, now)
    }

    /// Uses a refresh token. With rotation on, the answer carries a new refresh token and the
    /// old one stops working. The client must already be authenticated.
    ///
    /// # Errors
    /// [`OAuthError::BadRefreshToken`] for an unknown, revoked, rotated-out or foreign token.
    pub fn refresh(&self, client_id: &str, refresh_token: &str) -> Result<Issued, OAuthError> {
        let now = self.now();
        let mut tokens = self.lock();
        let grant_id = *tokens
            .refresh
            .get(refresh_token)
            .ok_or(OAuthError::BadRefreshToken)?;
        let owned = tokens
            .grants
            .get(&grant_id)
            .is_some_and(|grant| grant.client_id == client_id);
        if !owned {
            return Err(OAuthError::BadRefreshToken);
        }
        let rotated = if self.settings.rotate_refresh_tokens {
            tokens.refresh.remove(refresh_token);
            let next = uuid::Uuid::new_v4().to_string();
            tokens.refresh.insert(next.clone(), grant_id);
            Some(next)
        } else {
            None
        };
        Ok(self.mint_access(&mut tokens, grant_id, rotated, now))
    }

    fn mint_access(
        &self,
        tokens: &mut Tokens,
        grant_id: u64,
        refresh_token: Option<String>,
        now: Instant,
    ) -> Issued {
        let access_token = format!("{}{}", self.settings.access_token_prefix, random_string(64));
        tokens.access.insert(
            access_token.clone(),
            Access {
                grant: grant_id,
                expires_at: now + self.settings.access_token_ttl,
            },
        );
        let (client_id, scope) = tokens
            .grants
            .get(&grant_id)
            .map(|grant| (grant.client_id.clone(), grant.scope.clone()))
            .unwrap_or_default();
        Issued {
            access_token,
            refresh_token,
            expires_in: self.settings.access_token_ttl.as_secs(),
            scope,
            client_id,
            issued_at_ms: self.now_epoch_ms(),
        }
    }

    /// How `token` stands as an access token.
    pub fn access_status(&self, token: &str) -> AccessStatus {
        self.access_info(token)
            .map_or(AccessStatus::Unknown, |info| info.status)
    }

    /// What `token` was issued for, if it is (or was) an access token of a live grant.
    pub fn access_info(&self, token: &str) -> Option<AccessInfo> {
        let now = self.now();
        let tokens = self.lock();
        let access = tokens.access.get(token)?;
        let grant = tokens.grants.get(&access.grant)?;
        let status = if access.expires_at > now {
            AccessStatus::Valid {
                expires_in: (access.expires_at - now).as_secs(),
            }
        } else {
            AccessStatus::Expired {
                expired_for: now - access.expires_at,
            }
        };
        Some(AccessInfo {
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            status,
        })
    }

    /// What a live refresh token was issued for.
    pub fn refresh_info(&self, token: &str) -> Option<RefreshInfo> {
        let tokens = self.lock();
        let grant = tokens.grants.get(tokens.refresh.get(token)?)?;
        Some(RefreshInfo {
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
        })
    }

    /// Revokes a token: a refresh token takes its whole grant (every refresh and access token
    /// of it) along; an access token goes alone. Returns whether the token was known.
    pub fn revoke(&self, token: &str) -> bool {
        let mut tokens = self.lock();
        if let Some(grant_id) = tokens.refresh.get(token).copied() {
            tokens.grants.remove(&grant_id);
            tokens.refresh.retain(|_, grant| *grant != grant_id);
            tokens.access.retain(|_, access| access.grant != grant_id);
            return true;
        }
        tokens.access.remove(token).is_some()
    }

    /// Revokes every grant: all refresh tokens and the access tokens issued from them.
    pub fn revoke_all_refresh_tokens(&self) {
        let mut tokens = self.lock();
        tokens.grants.clear();
        tokens.refresh.clear();
        tokens.access.clear();
    }

    /// Invalidates every issued access token; refresh tokens keep working.
    pub fn expire_access_tokens(&self) {
        self.lock().access.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(rotate: bool) -> OAuthServer {
        OAuthServer::new(OAuthSettings {
            clients: vec![
                ("a".to_owned(), "a-secret".to_owned()),
                ("b".to_owned(), "b-secret".to_owned()),
            ],
            access_token_ttl: Duration::from_secs(60),
            rotate_refresh_tokens: rotate,
            access_token_prefix: "t-".to_owned(),
        })
    }

    #[test]
    fn s256_matches_rfc_7636_example() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn code_is_single_use_and_bound() {
        let server = server(false);
        let code = server.issue_code("a", "http://cb", "s", None);
        assert_eq!(
            server
                .exchange_code("b", &code, Some("http://cb"), None)
                .err(),
            Some(OAuthError::CodeClientMismatch)
        );
        let code = server.issue_code("a", "http://cb", "s", None);
        assert!(
            server
                .exchange_code("a", &code, Some("http://cb"), None)
                .is_ok()
        );
        assert_eq!(
            server
                .exchange_code("a", &code, Some("http://cb"), None)
                .err(),
            Some(OAuthError::UnknownCode)
        );
        let code = server.issue_code("a", "http://cb", "s", None);
        server.advance_clock(CODE_LIFETIME + Duration::from_secs(1));
        assert_eq!(
            server
                .exchange_code("a", &code, Some("http://cb"), None)
                .err(),
            Some(OAuthError::ExpiredCode)
        );
    }

    #[test]
    fn rotation_retires_the_old_refresh_token() {
        let server = server(true);
        let code = server.issue_code("a", "http://cb", "s", None);
        let first = server
            .exchange_code("a", &code, Some("http://cb"), None)
            .expect("exchange");
        let old = first.refresh_token.expect("refresh token");
        let next = server.refresh("a", &old).expect("refresh");
        let new = next.refresh_token.expect("rotated token");
        assert_ne!(old, new);
        assert_eq!(
            server.refresh("a", &old).err(),
            Some(OAuthError::BadRefreshToken)
        );
        assert!(server.revoke(&new));
        assert_eq!(
            server.access_status(&first.access_token),
            AccessStatus::Unknown
        );
    }
}
