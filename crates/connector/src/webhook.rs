//! Inbound webhooks as the connector declares them (`webhooks` in `connector.yaml`): verifying a
//! delivery by one of the general kinds (HMAC over a templated string, basic auth, an echoed
//! token, none) and reading the events it names with the connector's JSONata.
//!
//! No IO and no clock: the caller passes the request as received, the connection's ingress
//! secret and the time. Storing deliveries, deduplicating events and reading the records back
//! from the vendor are the caller's.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use mapping::{Expr, Vars};
use serde_json::{Map, Value, json};

use crate::file::{
    DurationUnit, HmacAlgorithm, HttpMethod, ParamLocation, SignatureEncoding, SubscriptionRequest,
    WebhookKey, WebhookResponse, WebhookSecretSource, WebhookSubscription, WebhookTimestamp,
    WebhookVerify, Webhooks,
};

/// A webhook delivery as received.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// `POST`, as sent.
    pub method: &'a str,
    /// The URL the vendor called: scheme, host, path and query.
    pub uri: &'a str,
    /// Header names (any case) and values.
    pub headers: &'a [(String, String)],
    /// The raw body.
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn query(&self, name: &str) -> Option<String> {
        let query = self.uri.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The path and query of `uri`.
    fn path(&self) -> &str {
        match self.uri.find("://") {
            Some(scheme_end) => {
                let rest = &self.uri[scheme_end + 3..];
                rest.find('/').map_or("/", |slash| &rest[slash..])
            }
            None => self.uri,
        }
    }

    /// The input of the connector's `events` expression.
    pub fn mapping_input(&self) -> Value {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), Value::String(value.clone())))
            .collect();
        let mut input = json!({
            "method": self.method,
            "uri": self.uri,
            "headers": headers,
            "text": String::from_utf8_lossy(self.body),
        });
        if let Ok(body) = serde_json::from_slice::<Value>(self.body) {
            input["body"] = body;
        }
        input
    }
}

/// Why a delivery was refused. The messages name what failed, never a secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the `{0}` header is missing")]
    MissingHeader(String),
    #[error("the `{0}` header is not a timestamp")]
    BadTimestamp(String),
    #[error("the timestamp is {0} s away from now, more than the {1} s allowed")]
    StaleTimestamp(i64, u64),
    #[error("the signature does not match")]
    BadSignature,
    #[error("the credentials do not match")]
    BadCredentials,
    #[error("the token does not match")]
    BadToken,
    #[error("the connection's ingress has no secret to verify with")]
    NoSecret,
    #[error("the ingress secret is not valid `{0}`")]
    BadSecret(&'static str),
}

impl VerifyError {
    /// A short stable code for the failure, as stored and shown.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_header",
            VerifyError::BadTimestamp(_) => "bad_timestamp",
            VerifyError::StaleTimestamp(..) => "stale_timestamp",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::BadCredentials => "bad_credentials",
            VerifyError::BadToken => "bad_token",
            VerifyError::NoSecret | VerifyError::BadSecret(_) => "no_secret",
        }
    }
}

/// One event a delivery names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The vendor's event id, when it gives one.
    pub id: Option<String>,
    /// The unified object (`crm.contacts`).
    pub object: String,
    /// The record's unified id.
    pub remote_id: String,
}

/// A part of the signed string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Method,
    Uri,
    Path,
    Body,
    Timestamp,
}

/// The compiled `webhooks` section of a connector.
#[derive(Debug)]
pub struct CompiledWebhooks {
    declared: Webhooks,
    signed: Vec<Part>,
    events: Expr,
    subscription: Option<CompiledSubscription>,
}

/// A step of a subscription's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStep {
    Create,
    Renew,
    Delete,
}

impl SubscriptionStep {
    /// The step's name, as in the connector file.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStep::Create => "create",
            SubscriptionStep::Renew => "renew",
            SubscriptionStep::Delete => "delete",
        }
    }
}

/// A subscription request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSubscriptionRequest {
    pub method: HttpMethod,
    /// The path and query, `{{id}}` replaced.
    pub path: String,
    /// The JSON body, when the step declares one.
    pub body: Option<Vec<u8>>,
}

/// What the vendor's answer to `create` or `renew` says.
#[derive(Clone, PartialEq, Eq)]
pub struct SubscriptionAnswer {
    /// The subscription's id (from `create`'s answer).
    pub id: Option<String>,
    /// When it expires, milliseconds since the epoch.
    pub expires_at_ms: Option<i64>,
    /// The secret the vendor signs deliveries with, when it chose it (`create`'s answer).
    pub secret: Option<String>,
}

impl std::fmt::Debug for SubscriptionAnswer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SubscriptionAnswer")
            .field("id", &self.id)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The compiled `webhooks.subscription` section.
#[derive(Debug)]
pub struct CompiledSubscription {
    declared: WebhookSubscription,
    create: Option<Expr>,
    renew: Option<Expr>,
    delete: Option<Expr>,
    id: Expr,
    expires_at: Option<Expr>,
    secret: Option<Expr>,
}

fn compile_at(source: &str, path: &str) -> Result<Expr, (String, String)> {
    Expr::compile(source).map_err(|error| (path.to_owned(), format!("invalid JSONata: {error}")))
}

fn compile_body(
    request: Option<&SubscriptionRequest>,
    step: &str,
) -> Result<Option<Expr>, (String, String)> {
    let Some(request) = request else {
        return Ok(None);
    };
    if !request.path.starts_with('/') {
        return Err((
            format!("webhooks.subscription.{step}.path"),
            "a vendor path starts with `/`".to_owned(),
        ));
    }
    request
        .body
        .as_deref()
        .map(|body| compile_at(body, &format!("webhooks.subscription.{step}.body")))
        .transpose()
}

impl CompiledSubscription {
    fn compile(declared: &WebhookSubscription) -> Result<CompiledSubscription, (String, String)> {
        Ok(CompiledSubscription {
            create: compile_body(Some(&declared.create), "create")?,
            renew: compile_body(declared.renew.as_ref(), "renew")?,
            delete: compile_body(declared.delete.as_ref(), "delete")?,
            id: compile_at(&declared.id, "webhooks.subscription.id")?,
            expires_at: declared
                .expires_at
                .as_deref()
                .map(|source| compile_at(source, "webhooks.subscription.expires_at"))
                .transpose()?,
            secret: declared
                .secret
                .as_deref()
                .map(|source| compile_at(source, "webhooks.subscription.secret"))
                .transpose()?,
            declared: declared.clone(),
        })
    }

    /// The lifetime asked for.
    pub fn lifetime(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.declared.lifetime_secs.unwrap_or(7 * 86_400))
    }

    /// How long before its expiry a subscription is renewed.
    pub fn renew_before(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.declared.renew_before_secs.unwrap_or(3_600))
    }

    /// Whether the connector declares `step`.
    pub fn declares(&self, step: SubscriptionStep) -> bool {
        match step {
            SubscriptionStep::Create => true,
            SubscriptionStep::Renew => self.declared.renew.is_some(),
            SubscriptionStep::Delete => self.declared.delete.is_some(),
        }
    }

    /// The request of `step` for `input` (`{url, secret, id, expires_at, expires_at_ms,
    /// number}`); `None` when the connector does not declare the step.
    ///
    /// # Errors
    /// The body expression failed, or the path names `{{id}}` and there is none.
    pub fn request(
        &self,
        step: SubscriptionStep,
        input: &Value,
    ) -> Result<Option<PlannedSubscriptionRequest>, String> {
        let (declared, body) = match step {
            SubscriptionStep::Create => (Some(&self.declared.create), self.create.as_ref()),
            SubscriptionStep::Renew => (self.declared.renew.as_ref(), self.renew.as_ref()),
            SubscriptionStep::Delete => (self.declared.delete.as_ref(), self.delete.as_ref()),
        };
        let Some(declared) = declared else {
            return Ok(None);
        };
        let path = if declared.path.contains("{{id}}") {
            let id = input.get("id").and_then(Value::as_str).ok_or_else(|| {
                format!("`{}` names {{{{id}}}} and there is no id", step.as_str())
            })?;
            let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
            declared.path.replace("{{id}}", &encoded)
        } else {
            declared.path.clone()
        };
        let body = match body {
            Some(expr) => {
                let value = expr
                    .evaluate(Some(input), &Vars::new())
                    .map_err(|error| {
                        format!("webhooks.subscription.{}.body: {error}", step.as_str())
                    })?
                    .unwrap_or(Value::Null);
                Some(serde_json::to_vec(&value).map_err(|error| error.to_string())?)
            }
            None => None,
        };
        Ok(Some(PlannedSubscriptionRequest {
            method: declared.method,
            path,
            body,
        }))
    }

    /// Reads the vendor's answer (`{status, body, number}`) to `create` or `renew`.
    ///
    /// # Errors
    /// An expression failed, or `create`'s answer gives no id.
    pub fn read_answer(
        &self,
        step: SubscriptionStep,
        input: &Value,
    ) -> Result<SubscriptionAnswer, String> {
        let text = |value: Option<Value>| match value {
            Some(Value::String(text)) if !text.is_empty() => Some(text),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        };
        let id = if step == SubscriptionStep::Create {
            let value = self
                .id
                .evaluate(Some(input), &Vars::new())
                .map_err(|error| format!("webhooks.subscription.id: {error}"))?;
            Some(text(value).ok_or_else(|| "the answer gives no subscription id".to_owned())?)
        } else {
            None
        };
        let expires_at_ms = match &self.expires_at {
            Some(expr) => {
                match expr
                    .evaluate(Some(input), &Vars::new())
                    .map_err(|error| format!("webhooks.subscription.expires_at: {error}"))?
                {
                    Some(Value::Number(number)) => number.as_f64().map(|ms| ms as i64),
                    Some(Value::String(text)) => Some(
                        chrono::DateTime::parse_from_rfc3339(&text)
                            .map_err(|_| format!("`{text}` is no RFC 3339 time"))?
                            .timestamp_millis(),
                    ),
                    _ => None,
                }
            }
            None => None,
        };
        let secret = match (&self.secret, step) {
            (Some(expr), SubscriptionStep::Create) => {
                let value = expr
                    .evaluate(Some(input), &Vars::new())
                    .map_err(|error| format!("webhooks.subscription.secret: {error}"))?;
                Some(text(value).ok_or_else(|| "the answer gives no signing secret".to_owned())?)
            }
            _ => None,
        };
        Ok(SubscriptionAnswer {
            id,
            expires_at_ms,
            secret,
        })
    }
}

/// Parses a signed-string template into its parts; the error names the unknown placeholder.
fn parse_signed(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Literal(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a `{{` is never closed".to_owned())?;
        parts.push(match after[..end].trim() {
            "method" => Part::Method,
            "uri" => Part::Uri,
            "path" => Part::Path,
            "body" => Part::Body,
            "timestamp" => Part::Timestamp,
            other => {
                return Err(format!(
                    "`{other}` is no placeholder (`method`, `uri`, `path`, `body`, `timestamp`)"
                ));
            }
        });
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(parts)
}

impl CompiledWebhooks {
    /// Compiles a `webhooks` section; the error is `(path, message)`.
    pub(crate) fn compile(declared: &Webhooks) -> Result<CompiledWebhooks, (String, String)> {
        let events = Expr::compile(&declared.events).map_err(|error| {
            (
                "webhooks.events".to_owned(),
                format!("invalid JSONata: {error}"),
            )
        })?;
        let signed = match &declared.verify {
            WebhookVerify::Hmac {
                signed, timestamp, ..
            } => {
                let parts = parse_signed(signed)
                    .map_err(|message| ("webhooks.verify.signed".to_owned(), message))?;
                if parts.contains(&Part::Timestamp) && timestamp.is_none() {
                    return Err((
                        "webhooks.verify.timestamp".to_owned(),
                        "`signed` names `{{timestamp}}`: declare the timestamp header".to_owned(),
                    ));
                }
                parts
            }
            _ => Vec::new(),
        };
        if let Some(response) = &declared.response
            && !(200..300).contains(&response.status)
        {
            return Err((
                "webhooks.response.status".to_owned(),
                "an accepted delivery is answered with a 2xx status".to_owned(),
            ));
        }
        if declared.secret == Some(WebhookSecretSource::Given) {
            if matches!(declared.verify, WebhookVerify::None) {
                return Err((
                    "webhooks.secret".to_owned(),
                    "`verify: none` checks no secret: none is given".to_owned(),
                ));
            }
            if declared
                .subscription
                .as_ref()
                .is_some_and(|subscription| subscription.secret.is_some())
            {
                return Err((
                    "webhooks.secret".to_owned(),
                    "the subscription's answer gives the secret (`subscription.secret`): it is not given"
                        .to_owned(),
                ));
            }
        }
        let subscription = declared
            .subscription
            .as_ref()
            .map(CompiledSubscription::compile)
            .transpose()?;
        Ok(CompiledWebhooks {
            declared: declared.clone(),
            signed,
            events,
            subscription,
        })
    }

    /// The declared section.
    pub fn declared(&self) -> &Webhooks {
        &self.declared
    }

    /// The verification kind's name (`hmac`, `basic_auth`, `token`, `none`).
    pub fn kind(&self) -> &'static str {
        match self.declared.verify {
            WebhookVerify::Hmac { .. } => "hmac",
            WebhookVerify::BasicAuth { .. } => "basic_auth",
            WebhookVerify::Token { .. } => "token",
            WebhookVerify::None => "none",
        }
    }

    /// Whether the kind checks a secret (all but `none`).
    pub fn needs_secret(&self) -> bool {
        !matches!(self.declared.verify, WebhookVerify::None)
    }

    /// Whether the vendor chooses the signing secret (the subscription's answer gives it), so
    /// none is generated with the ingress.
    pub fn vendor_chooses_secret(&self) -> bool {
        self.declared
            .subscription
            .as_ref()
            .is_some_and(|subscription| subscription.secret.is_some())
    }

    /// Whether the customer must give the secret when making the ingress (`secret: given`):
    /// the vendor made it, so a generated one would verify nothing.
    pub fn secret_given(&self) -> bool {
        self.declared.secret == Some(WebhookSecretSource::Given)
    }

    /// The subscription Crosswalk manages at the vendor, if the connector declares one.
    pub fn subscription(&self) -> Option<&CompiledSubscription> {
        self.subscription.as_ref()
    }

    /// The answer to an accepted delivery.
    pub fn response(&self) -> Option<&WebhookResponse> {
        self.declared.response.as_ref()
    }

    /// Verifies `request` with the ingress `secret` at `now_ms` (milliseconds since the epoch).
    ///
    /// # Errors
    /// Why the delivery is refused.
    pub fn verify(
        &self,
        request: &WebhookRequest<'_>,
        secret: Option<&str>,
        now_ms: i64,
    ) -> Result<(), VerifyError> {
        match &self.declared.verify {
            WebhookVerify::None => Ok(()),
            WebhookVerify::Hmac {
                algorithm,
                encoding,
                header,
                prefix,
                key,
                timestamp,
                ..
            } => {
                let secret = secret.ok_or(VerifyError::NoSecret)?;
                let stamp = match timestamp {
                    Some(declared) => Some(check_timestamp(request, declared, now_ms)?),
                    None => None,
                };
                let sent = request
                    .header(header)
                    .ok_or_else(|| VerifyError::MissingHeader(header.clone()))?;
                let sent = prefix
                    .as_deref()
                    .and_then(|prefix| sent.strip_prefix(prefix))
                    .unwrap_or(sent)
                    .trim();
                let signature = match encoding {
                    SignatureEncoding::Hex => hex::decode(sent).ok(),
                    SignatureEncoding::Base64 => {
                        base64::engine::general_purpose::STANDARD.decode(sent).ok()
                    }
                }
                .ok_or(VerifyError::BadSignature)?;
                let key = match key {
                    WebhookKey::Secret => secret.as_bytes().to_vec(),
                    WebhookKey::SecretHex => {
                        hex::decode(secret).map_err(|_| VerifyError::BadSecret("hex"))?
                    }
                    WebhookKey::SecretBase64 => base64::engine::general_purpose::STANDARD
                        .decode(secret)
                        .map_err(|_| VerifyError::BadSecret("base64"))?,
                };
                let message = self.signed_bytes(request, stamp.as_deref());
                if hmac_matches(*algorithm, &key, &message, &signature) {
                    Ok(())
                } else {
                    Err(VerifyError::BadSignature)
                }
            }
            WebhookVerify::BasicAuth { username } => {
                let secret = secret.ok_or(VerifyError::NoSecret)?;
                let sent = request
                    .header("authorization")
                    .and_then(|value| {
                        let (scheme, encoded) = value.trim().split_once(' ')?;
                        scheme
                            .eq_ignore_ascii_case("basic")
                            .then(|| {
                                base64::engine::general_purpose::STANDARD
                                    .decode(encoded.trim())
                                    .ok()
                            })
                            .flatten()
                    })
                    .ok_or(VerifyError::BadCredentials)?;
                let expected = format!("{username}:{secret}");
                if constant_time_eq(&sent, expected.as_bytes()) {
                    Ok(())
                } else {
                    Err(VerifyError::BadCredentials)
                }
            }
            WebhookVerify::Token { location, name } => {
                let secret = secret.ok_or(VerifyError::NoSecret)?;
                let sent = match location {
                    ParamLocation::Header => request.header(name).map(str::to_owned),
                    ParamLocation::Query => request.query(name),
                    ParamLocation::Body => serde_json::from_slice::<Value>(request.body)
                        .ok()
                        .and_then(|body| body.get(name).and_then(Value::as_str).map(str::to_owned)),
                }
                .ok_or(VerifyError::BadToken)?;
                if constant_time_eq(sent.as_bytes(), secret.as_bytes()) {
                    Ok(())
                } else {
                    Err(VerifyError::BadToken)
                }
            }
        }
    }

    /// The string an HMAC covers, built from the template.
    fn signed_bytes(&self, request: &WebhookRequest<'_>, stamp: Option<&str>) -> Vec<u8> {
        let mut message = Vec::with_capacity(request.body.len() + 256);
        for part in &self.signed {
            match part {
                Part::Literal(text) => message.extend_from_slice(text.as_bytes()),
                Part::Method => message.extend_from_slice(request.method.as_bytes()),
                Part::Uri => message.extend_from_slice(request.uri.as_bytes()),
                Part::Path => message.extend_from_slice(request.path().as_bytes()),
                Part::Body => message.extend_from_slice(request.body),
                Part::Timestamp => message.extend_from_slice(stamp.unwrap_or_default().as_bytes()),
            }
        }
        message
    }

    /// The events a delivery names, by the connector's `events` expression; entries without an
    /// object or a record id are skipped.
    ///
    /// # Errors
    /// The expression failed.
    pub fn events(&self, request: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, String> {
        let input = request.mapping_input();
        let value = self
            .events
            .evaluate(Some(&input), &Vars::new())
            .map_err(|error| error.to_string())?;
        let items = match value {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => vec![other],
        };
        let text = |value: Option<&Value>| match value {
            Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        };
        Ok(items
            .iter()
            .filter_map(|item| {
                Some(WebhookEvent {
                    id: text(item.get("id")),
                    object: text(item.get("object"))?,
                    remote_id: text(item.get("remote_id"))?,
                })
            })
            .collect())
    }
}

/// Reads and checks the timestamp header; returns its text as sent.
fn check_timestamp(
    request: &WebhookRequest<'_>,
    declared: &WebhookTimestamp,
    now_ms: i64,
) -> Result<String, VerifyError> {
    let sent = request
        .header(&declared.header)
        .ok_or_else(|| VerifyError::MissingHeader(declared.header.clone()))?
        .trim();
    let value: i64 = sent
        .parse()
        .map_err(|_| VerifyError::BadTimestamp(declared.header.clone()))?;
    let at_ms = match declared.unit {
        DurationUnit::Seconds => value.saturating_mul(1000),
        DurationUnit::Milliseconds => value,
    };
    let away_secs = (now_ms.saturating_sub(at_ms)).abs() / 1000;
    if away_secs.unsigned_abs() > declared.tolerance_secs {
        return Err(VerifyError::StaleTimestamp(
            (now_ms.saturating_sub(at_ms)) / 1000,
            declared.tolerance_secs,
        ));
    }
    Ok(sent.to_owned())
}

/// Whether `signature` is the HMAC of `message` under `key`, compared in constant time.
fn hmac_matches(algorithm: HmacAlgorithm, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    match algorithm {
        HmacAlgorithm::Sha1 => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(message);
            mac.verify_slice(signature).is_ok()
        }
        HmacAlgorithm::Sha256 => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(message);
            mac.verify_slice(signature).is_ok()
        }
        HmacAlgorithm::Sha512 => {
            let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(message);
            mac.verify_slice(signature).is_ok()
        }
    }
}

/// Compares two byte strings in time that depends on their lengths only.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    left.len() == right.len() && bool::from(left.ct_eq(right))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(verify: &str) -> CompiledWebhooks {
        let declared: Webhooks = serde_yaml_ng::from_str(&format!(
            "verify: {verify}\nevents: \"body.[{{'id': $string(eventId), 'object': 'crm.contacts', 'remote_id': $string(objectId)}}]\"\n"
        ))
        .expect("a webhooks section");
        CompiledWebhooks::compile(&declared).expect("compiles")
    }

    fn signed_with_timestamp() -> CompiledWebhooks {
        hooks(
            "{kind: hmac, algorithm: sha256, encoding: base64, header: X-Sig, \
             signed: '{{method}}{{uri}}{{body}}{{timestamp}}', \
             timestamp: {header: X-Ts, unit: milliseconds}}",
        )
    }

    fn sign(key: &str, message: &str) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("key");
        mac.update(message.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn hmac_over_a_template_with_a_fresh_timestamp_is_accepted() {
        let body = br#"[{"eventId":1,"objectId":7}]"#;
        let now = 1_700_000_000_000_i64;
        let signature = sign(
            "secret",
            &format!(
                "POSThttps://x.test/hooks/t?a=1{}{now}",
                std::str::from_utf8(body).expect("utf8")
            ),
        );
        let headers = vec![
            ("X-Sig".to_owned(), signature),
            ("x-ts".to_owned(), now.to_string()),
        ];
        let request = WebhookRequest {
            method: "POST",
            uri: "https://x.test/hooks/t?a=1",
            headers: &headers,
            body,
        };
        let hooks = signed_with_timestamp();
        assert_eq!(hooks.verify(&request, Some("secret"), now + 1000), Ok(()));
        assert_eq!(
            hooks.verify(&request, Some("other"), now),
            Err(VerifyError::BadSignature)
        );
        assert!(matches!(
            hooks.verify(&request, Some("secret"), now + 301_000),
            Err(VerifyError::StaleTimestamp(301, 300))
        ));
        let events = hooks.events(&request).expect("events");
        assert_eq!(
            events,
            vec![WebhookEvent {
                id: Some("1".to_owned()),
                object: "crm.contacts".to_owned(),
                remote_id: "7".to_owned()
            }]
        );
    }

    #[test]
    fn basic_auth_and_tokens_compare_with_the_secret() {
        let basic = hooks("{kind: basic_auth, username: crosswalk}");
        let good = base64::engine::general_purpose::STANDARD.encode("crosswalk:s3cret");
        let headers = vec![("Authorization".to_owned(), format!("Basic {good}"))];
        let request = WebhookRequest {
            method: "POST",
            uri: "/hooks/t",
            headers: &headers,
            body: b"{}",
        };
        assert_eq!(basic.verify(&request, Some("s3cret"), 0), Ok(()));
        assert_eq!(
            basic.verify(&request, Some("other"), 0),
            Err(VerifyError::BadCredentials)
        );
        let token = hooks("{kind: token, in: query, name: code}");
        let request = WebhookRequest {
            method: "POST",
            uri: "http://h/hooks/t?code=abc%21",
            headers: &[],
            body: b"{}",
        };
        assert_eq!(token.verify(&request, Some("abc!"), 0), Ok(()));
        assert_eq!(
            token.verify(&request, Some("abc"), 0),
            Err(VerifyError::BadToken)
        );
        assert_eq!(hooks("{kind: none}").verify(&request, None, 0), Ok(()));
    }

    #[test]
    fn unknown_placeholders_are_refused() {
        let declared: Webhooks = serde_yaml_ng::from_str(
            "verify: {kind: hmac, algorithm: sha1, encoding: hex, header: X, signed: '{{nope}}'}\nevents: '[]'\n",
        )
        .expect("parses");
        let error = CompiledWebhooks::compile(&declared).expect_err("refused");
        assert_eq!(error.0, "webhooks.verify.signed");
    }

    #[test]
    fn a_given_secret_needs_a_kind_that_checks_one_and_no_vendor_answer() {
        let parse = |text: &str| -> Webhooks { serde_yaml_ng::from_str(text).expect("parses") };
        let given = CompiledWebhooks::compile(&parse(
            "secret: given\nverify: {kind: hmac, algorithm: sha512, encoding: base64, header: X, signed: '{{body}}'}\nevents: '[]'\n",
        ))
        .expect("compiles");
        assert!(given.secret_given());
        assert!(!hooks("{kind: basic_auth, username: u}").secret_given());
        let error = CompiledWebhooks::compile(&parse(
            "secret: given\nverify: {kind: none}\nevents: '[]'\n",
        ))
        .expect_err("refused");
        assert_eq!(error.0, "webhooks.secret");
        let error = CompiledWebhooks::compile(&parse(
            "secret: given\nverify: {kind: token, in: header, name: X}\nevents: '[]'\n\
             subscription: {create: {method: POST, path: /hooks}, id: body.id, secret: body.key}\n",
        ))
        .expect_err("refused");
        assert_eq!(error.0, "webhooks.secret");
    }

    fn subscribed() -> CompiledWebhooks {
        let declared: Webhooks = serde_yaml_ng::from_str(
            r#"
verify: {kind: token, in: body, name: token}
events: "[]"
subscription:
  lifetime_secs: 86400
  create:
    method: POST
    path: /actions/watch
    body: '{"watch": [{"channel_id": number, "channel_expiry": expires_at, "token": secret, "notify_url": url}]}'
  renew: {method: PUT, path: /actions/watch, body: '{"id": $number(id)}'}
  delete: {method: DELETE, path: "/actions/watch?channel_ids={{id}}"}
  id: $string(body.watch[0].details.channel_id)
  expires_at: body.watch[0].details.channel_expiry
"#,
        )
        .expect("a webhooks section");
        CompiledWebhooks::compile(&declared).expect("compiles")
    }

    #[test]
    fn subscription_requests_are_built_and_answers_read() {
        let hooks = subscribed();
        let subscription = hooks.subscription().expect("declared");
        assert_eq!(
            subscription.lifetime(),
            std::time::Duration::from_secs(86_400)
        );
        assert_eq!(
            subscription.renew_before(),
            std::time::Duration::from_secs(3_600)
        );
        let input = json!({"url": "https://x.test/hooks/t", "secret": "s", "id": null,
                           "expires_at": "2026-12-07T00:00:00Z", "number": 42});
        let create = subscription
            .request(SubscriptionStep::Create, &input)
            .expect("builds")
            .expect("declared");
        assert_eq!(create.method, HttpMethod::Post);
        assert_eq!(create.path, "/actions/watch");
        let body: Value = serde_json::from_slice(&create.body.expect("a body")).expect("json");
        assert_eq!(
            body,
            json!({"watch": [{"channel_id": 42, "channel_expiry": "2026-12-07T00:00:00Z",
                              "token": "s", "notify_url": "https://x.test/hooks/t"}]})
        );
        let answer = subscription
            .read_answer(
                SubscriptionStep::Create,
                &json!({"status": 201, "body": {"watch": [{"details": {"channel_id": 42,
                    "channel_expiry": "2026-12-07T05:30:00+05:30"}}]}}),
            )
            .expect("reads");
        assert_eq!(answer.id.as_deref(), Some("42"));
        assert_eq!(answer.expires_at_ms, Some(1_796_601_600_000));
        // The delete names the id, URL-encoded; without an id it cannot be built.
        let delete = subscription
            .request(SubscriptionStep::Delete, &json!({"id": "4 2"}))
            .expect("builds")
            .expect("declared");
        assert_eq!(delete.path, "/actions/watch?channel_ids=4+2");
        assert_eq!(delete.body, None);
        assert!(
            subscription
                .request(SubscriptionStep::Delete, &json!({}))
                .is_err()
        );
        // An answer without an id is a failure of `create`, not of `renew`.
        let empty = json!({"status": 200, "body": {}});
        assert!(
            subscription
                .read_answer(SubscriptionStep::Create, &empty)
                .is_err()
        );
        assert_eq!(
            subscription.read_answer(SubscriptionStep::Renew, &empty),
            Ok(SubscriptionAnswer {
                id: None,
                expires_at_ms: None,
                secret: None,
            })
        );
    }

    #[test]
    fn a_subscription_path_must_be_a_vendor_path() {
        let declared: Webhooks = serde_yaml_ng::from_str(
            "verify: {kind: none}\nevents: '[]'\nsubscription: {create: {method: POST, path: 'https://elsewhere.test/x'}, id: body.id}\n",
        )
        .expect("a webhooks section");
        let error = CompiledWebhooks::compile(&declared).expect_err("refused");
        assert_eq!(error.0, "webhooks.subscription.create.path");
    }
}
