//! Runs planned vendor requests: authentication, the host allow-list, timeouts and body limits.
//!
//! The connector engine plans a request ([`connector::PlannedRequest`]) without IO; this crate
//! adds the connection's credentials (plaintext only in memory, here), refuses any host the
//! connector does not declare (after templating, and without following redirects, so neither a
//! template nor a vendor answer can send credentials elsewhere), sends it and reads the answer
//! into a [`connector::VendorResponse`]. [`sender`] composes it with token refresh, the circuit
//! breaker, rate limits and retries into the one path every vendor call takes.

mod clock;
pub mod credentials;
pub mod oauth;
pub mod resilience;
pub mod sender;

pub use clock::Clock;
pub use sender::{Answer, CallError, Sender, SenderParts, Session};

use std::time::Duration;

use connector::{Connector, PlannedRequest, RequestBody, VendorResponse};
use serde_json::Value;

/// The largest vendor answer read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Sends vendor requests. Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    default_timeout: Duration,
}

/// A connection's credentials and auth scheme, opened for one request. Its `Debug` leaves the
/// secrets out.
pub struct Credentials<'a> {
    /// The scheme the connection uses.
    pub scheme: &'a str,
    /// The opened credentials (secret values); never logged.
    pub secrets: &'a Value,
    /// The connection's non-secret fields.
    pub account: &'a Value,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("scheme", &self.scheme)
            .field("secrets", &"[redacted]")
            .field("account", &self.account)
            .finish()
    }
}

/// A vendor request that could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("host `{0}` is not allowed for this connector")]
    HostNotAllowed(String),
    #[error("invalid vendor URL: {0}")]
    InvalidUrl(String),
    #[error("cannot authenticate the request: {0}")]
    Auth(String),
    #[error("the vendor did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach the vendor: {0}")]
    Connect(String),
    #[error("the vendor's answer is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
}

impl ProviderClient {
    /// Builds a client whose requests time out after `default_timeout` unless the connector
    /// declares its own.
    ///
    /// # Panics
    /// Panics when the TLS backend cannot be initialised, a broken build.
    pub fn new(default_timeout: Duration) -> ProviderClient {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(default_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("crosswalk/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client always builds with rustls");
        ProviderClient {
            http,
            default_timeout,
        }
    }

    /// The HTTP client (one pool, no redirects, timeouts) token requests share.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Authenticates `request` with `credentials` and sends it to the vendor.
    ///
    /// # Errors
    /// Fails when the host is not allowed, credentials are missing, or the vendor cannot be
    /// reached in time. A vendor error answer (4xx, 5xx) is a successful send: classify it with
    /// [`Connector::classify`].
    pub async fn send(
        &self,
        connector: &Connector,
        credentials: &Credentials<'_>,
        mut request: PlannedRequest,
    ) -> Result<VendorResponse, SendError> {
        connector
            .authenticate(
                credentials.scheme,
                credentials.secrets,
                credentials.account,
                &mut request,
            )
            .map_err(|error| SendError::Auth(error.to_string()))?;
        let mut url = url::Url::parse(&request.url)
            .map_err(|error| SendError::InvalidUrl(format!("`{}`: {error}", request.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SendError::InvalidUrl(format!(
                "scheme `{}` is not allowed",
                url.scheme()
            )));
        }
        if url.host_str().is_none() {
            return Err(SendError::InvalidUrl("the URL has no host".to_owned()));
        }
        // Scheme, host and port: another port of an allowed host is another service.
        if !connector.url_allowed(&url) {
            return Err(SendError::HostNotAllowed(
                url.origin().ascii_serialization(),
            ));
        }
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        let method = reqwest::Method::from_bytes(request.http_method.as_str().as_bytes())
            .map_err(|error| SendError::InvalidUrl(error.to_string()))?;
        let timeout = connector
            .file()
            .http
            .timeout_secs
            .map_or(self.default_timeout, Duration::from_secs);
        let mut builder = self.http.request(method, url).timeout(timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        builder = match request.body {
            RequestBody::None => builder,
            RequestBody::Json(value) => builder.json(&value),
            RequestBody::Form(pairs) => builder.form(&pairs),
            RequestBody::Raw(bytes) => builder.body(bytes),
        };
        let started = std::time::Instant::now();
        let response = builder
            .send()
            .await
            .map_err(|error| classify_send(error, timeout))?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|value| (name.as_str().to_ascii_lowercase(), value.to_owned()))
            })
            .collect();
        let bytes =
            read_capped(response, MAX_RESPONSE_BYTES)
                .await
                .map_err(|error| match error {
                    ReadBodyError::TooLarge => SendError::TooLarge,
                    ReadBodyError::Transport(error) => classify_send(error, timeout),
                })?;
        tracing::debug!(
            provider = connector.id(),
            uses = %request.uses,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "vendor call"
        );
        Ok(if request.uses == connector::PROXY_USES {
            VendorResponse::new(status, headers, parse_body(&bytes)).with_raw_body(bytes.into())
        } else {
            // The body's bytes become its text without a copy (a bulk export's page of CSV
            // is megabytes).
            VendorResponse::new(status, headers, parse_body_owned(bytes))
        })
    }
}

/// Why an answer's body could not be read.
#[derive(Debug)]
pub(crate) enum ReadBodyError {
    TooLarge,
    Transport(reqwest::Error),
}

/// Reads an answer's body, refusing it as soon as it passes `cap` bytes (announced or not), so a
/// vendor cannot make us buffer more than that.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, ReadBodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return Err(ReadBodyError::TooLarge);
    }
    // An announced length (within the cap) is allocated at once, rather than grown by
    // doubling to as much as twice the body.
    let announced = response
        .content_length()
        .map_or(0, |length| usize::try_from(length).unwrap_or(cap));
    let mut bytes = Vec::with_capacity(announced.min(cap));
    while let Some(chunk) = response.chunk().await.map_err(ReadBodyError::Transport)? {
        if bytes.len() + chunk.len() > cap {
            return Err(ReadBodyError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn classify_send(error: reqwest::Error, timeout: Duration) -> SendError {
    if error.is_timeout() {
        SendError::Timeout(timeout)
    } else {
        // The error's URL may carry query parameters; keep only the cause.
        SendError::Connect(error.without_url().to_string())
    }
}

/// Parses a vendor body: JSON when it is JSON, else the text as a JSON string, null when empty.
pub fn parse_body(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Parses a vendor body as [`parse_body`] does, taking its bytes: text that is not JSON
/// becomes the string without a copy (unless it is not UTF-8, when it is read lossily).
pub fn parse_body_owned(bytes: Vec<u8>) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    if let Ok(value) = serde_json::from_slice(&bytes) {
        return value;
    }
    Value::String(
        String::from_utf8(bytes)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::{Credentials, parse_body, parse_body_owned};
    use serde_json::json;

    #[test]
    fn credentials_never_print_their_secrets() {
        let secrets = json!({"access_token": "sk-live-abc123", "refresh_token": "rt-xyz789"});
        let account = json!({"instance_url": "https://example.test"});
        let credentials = Credentials {
            scheme: "oauth",
            secrets: &secrets,
            account: &account,
        };
        let printed = format!("{credentials:?} {credentials:#?}");
        assert!(!printed.contains("sk-live-abc123"), "{printed}");
        assert!(!printed.contains("rt-xyz789"), "{printed}");
        assert!(printed.contains("example.test"), "{printed}");
    }

    #[test]
    fn parses_json_text_and_empty_bodies() {
        assert_eq!(parse_body(b"{\"a\":1}"), json!({"a": 1}));
        assert_eq!(parse_body(b"  "), json!(null));
        assert_eq!(parse_body(b"oops"), json!("oops"));
    }

    /// The owned variant reads every body as the borrowed one does (a CSV page's text is kept
    /// without a copy; text that is not UTF-8 is read lossily).
    #[test]
    fn parses_owned_bodies_as_borrowed_ones() {
        for body in [
            &b"{\"a\":1}"[..],
            b"  ",
            b"",
            b"oops",
            b"\"Id\",\"Name\"\n\"003A\",\"Ann\"\n",
            b"caf\xe9 \xff",
            b"[1, 2]",
        ] {
            assert_eq!(
                parse_body_owned(body.to_vec()),
                parse_body(body),
                "{body:?}"
            );
        }
        let text = parse_body_owned(b"\"Id\"\n\"003A\"\n".to_vec());
        assert_eq!(text, json!("\"Id\"\n\"003A\"\n"));
    }
}
