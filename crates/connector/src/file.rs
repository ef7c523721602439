//! The connector file as written by connector authors: serde types with `deny_unknown_fields`.
//!
//! These types are the raw layer of loading (raw → validated → compiled). They carry no
//! behaviour; `compile.rs` checks cross-references and compiles every template and JSONata
//! field once. The JSON Schema published for editors is generated from these types.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A whole connector file (`connectors/<provider>/connector.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorFile {
    /// Version of this file format; the runtime refuses versions it does not know.
    pub schema_version: u32,
    /// Identity and catalogue data.
    pub meta: Meta,
    /// Constants usable in templates as `{{vars.name}}` and in JSONata as `$vars.name`.
    #[serde(default)]
    pub vars: IndexMap<String, Value>,
    /// Static tables used by the template filter `lookup('table')`.
    #[serde(default)]
    pub lookups: IndexMap<String, IndexMap<String, String>>,
    /// Per-connection fields collected when a connection is made (API keys, data centre, …).
    #[serde(default)]
    pub connection_fields: Vec<ConnectionField>,
    /// How requests are authenticated.
    pub auth: Auth,
    /// Base URL, allowed hosts and default headers.
    pub http: Http,
    /// Declared rate-limit buckets and the vendor's rate-limit headers.
    #[serde(default)]
    pub rate_limits: Option<RateLimits>,
    /// How vendor answers map to unified error codes and actions.
    #[serde(default)]
    pub errors: Errors,
    /// The vendor's own endpoints, by resource and method name (the proxy layer).
    pub resources: IndexMap<String, IndexMap<String, Method>>,
    /// Custom-field discovery, by unified object (`crm.contacts`).
    #[serde(default)]
    pub discovery: IndexMap<String, FieldDiscovery>,
    /// Unified objects (`crm.contacts`) and how each operation maps onto resources.
    pub unified: IndexMap<String, UnifiedObject>,
    /// How the vendor's webhooks (the vendor calling Crosswalk) are verified and read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Webhooks>,
}

/// The vendor's webhooks: how a delivery to a connection's ingress URL is verified, which
/// records it names, and what the vendor expects as the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    /// How a delivery proves it comes from the vendor.
    pub verify: WebhookVerify,
    /// Where the ingress secret comes from when the vendor does not answer it with a
    /// subscription (`subscription.secret`): `generated` (the default: made with the ingress
    /// and shown once, for the customer to give the vendor, or sent by the subscription) or
    /// `given` (the vendor shows its customer a secret, such as an app's client secret or the
    /// one its webhook settings make, and making the ingress requires it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<WebhookSecretSource>,
    /// JSONata over `{method, uri, headers, body, text}` (header names in lower case, `body`
    /// the parsed JSON body or undefined, `text` the raw body) giving the events the delivery
    /// holds: an array of `{id, object, remote_id}`, where `id` is the vendor's event id
    /// (duplicates are dropped), `object` the unified object (`crm.contacts`) and `remote_id`
    /// the record's unified id. Records are always read back from the vendor: the body is
    /// never stored as data.
    pub events: String,
    /// The answer the vendor expects (default: 204 with no body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<WebhookResponse>,
    /// The subscription Crosswalk makes at the vendor for the connection's ingress URL, for
    /// vendors with an API for it: created when the ingress is made, renewed before it
    /// expires, deleted when the ingress is removed or the connection disconnected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<WebhookSubscription>,
    /// How often the vendor is expected to deliver while records change (seconds): when no
    /// delivery arrived for `stale_after` times this, the connection's webhooks are stale (a
    /// `connection.webhooks_stale` event and a faster poll). Without it, never stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_interval_secs: Option<u64>,
    /// How many expected intervals without a delivery make the webhooks stale (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<u32>,
}

/// Where a connection's ingress secret comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookSecretSource {
    /// Crosswalk generates it with the ingress (unless one is given).
    Generated,
    /// The customer gives it when making the ingress: the vendor made it.
    Given,
}

/// A vendor subscription to the connection's ingress URL, managed by Crosswalk.
///
/// Request bodies are JSONata over `{url, secret, id, expires_at, expires_at_ms, number}`:
/// `url` the ingress URL, `secret` the ingress secret (for the vendor to sign, authenticate
/// or echo with), `id` the subscription's id (renewal and delete), `expires_at` the expiry
/// asked for (now plus `lifetime_secs`, RFC 3339) and `expires_at_ms` the same in
/// milliseconds, `number` a random positive integer below 2^53 chosen when the subscription
/// is first made and kept (for vendors whose client names the channel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscription {
    /// The request that makes the subscription.
    pub create: SubscriptionRequest,
    /// The request that extends it (without it, an expiring subscription is made again with
    /// `create`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew: Option<SubscriptionRequest>,
    /// The request that removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<SubscriptionRequest>,
    /// JSONata over the answer `{status, body, number}` to `create` giving the subscription's
    /// id (text or number).
    pub id: String,
    /// JSONata over the answer `{status, body, number}` to `create` or `renew` giving when the
    /// subscription expires (RFC 3339 text, or milliseconds since the epoch). Without it, or
    /// when it gives nothing, the subscription never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// JSONata over the answer `{status, body, number}` to `create` giving the secret the
    /// vendor signs its deliveries with, for vendors that choose it themselves (a signature
    /// key returned with the subscription). It becomes the ingress's secret; without it the
    /// ingress keeps the secret given or generated when it was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The lifetime asked for, seconds (`expires_at` of the request's input; default 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_secs: Option<u64>,
    /// How long before it expires a subscription is renewed, seconds (default 1 hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_before_secs: Option<u64>,
}

/// One request of a subscription's life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    pub method: HttpMethod,
    /// The vendor path (joined to the base URL), with its query; `{{id}}` is replaced by the
    /// subscription's id (URL-encoded).
    pub path: String,
    /// JSONata giving the JSON body (see [`WebhookSubscription`]); no body when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// The answer sent to an accepted delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookResponse {
    /// A 2xx status.
    pub status: u16,
    /// The `Content-Type` of `body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The body, sent as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// How a webhook delivery is verified. The secret each kind checks against is the
/// connection's ingress secret (set or generated with its ingress URL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WebhookVerify {
    /// An HMAC of a string built from the request, sent in a header.
    Hmac {
        /// The hash function.
        algorithm: HmacAlgorithm,
        /// How the signature is written in its header.
        encoding: SignatureEncoding,
        /// The header carrying the signature.
        header: String,
        /// Text before the signature in the header (`sha256=`), removed before comparing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        /// Where the key comes from.
        #[serde(default)]
        key: WebhookKey,
        /// The signed string: literal text and the placeholders `{{method}}`, `{{uri}}` (the
        /// URL the vendor called, scheme, host, path and query), `{{path}}` (path and query),
        /// `{{body}}` (the raw body) and `{{timestamp}}` (the timestamp header's value).
        signed: String,
        /// The timestamp the signature covers; required when `signed` names `{{timestamp}}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<WebhookTimestamp>,
    },
    /// HTTP basic authentication: the user name declared here and the ingress secret as the
    /// password.
    BasicAuth {
        /// The user name the vendor sends (set when the subscription is made).
        username: String,
    },
    /// The ingress secret echoed by the vendor in a header, a query parameter or a top-level
    /// field of a JSON body.
    Token {
        /// Where the token travels (`header`, `query` or `body`).
        #[serde(rename = "in")]
        location: ParamLocation,
        /// The header, parameter or field name.
        name: String,
    },
    /// The vendor proves nothing: the unguessable URL is the only check, and a delivery only
    /// makes Crosswalk read the records it names from the vendor.
    None,
}

/// Hash functions of an HMAC signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// How a signature is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    /// Lower- or upper-case hexadecimal.
    Hex,
    /// Standard base64, with padding.
    Base64,
}

/// Where an HMAC key comes from, and how its text becomes bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKey {
    /// The ingress secret's UTF-8 bytes (an app's client secret, say).
    #[default]
    Secret,
    /// The ingress secret read as hexadecimal.
    SecretHex,
    /// The ingress secret read as base64.
    SecretBase64,
}

/// A signed timestamp and how old it may be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTimestamp {
    /// The header carrying it.
    pub header: String,
    /// Its unit since the Unix epoch.
    pub unit: DurationUnit,
    /// How far from now it may be, either way (default 300).
    #[serde(default = "default_tolerance")]
    pub tolerance_secs: u64,
}

fn default_tolerance() -> u64 {
    300
}

/// Identity and catalogue data of a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Stable slug, also the folder name (`acme`).
    pub id: String,
    /// Display name.
    pub label: String,
    /// Unified categories this connector serves (`crm`, `hris`).
    pub categories: Vec<String>,
    /// Revision of this file, stored with state and override rows.
    pub revision: String,
    /// The vendor's API documentation.
    #[serde(default)]
    pub docs_url: Option<String>,
}

/// A field collected from the end user (or derived) for each connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionField {
    /// Name used in templates: `{{account.NAME}}`, or `{{credentials.NAME}}` for secrets.
    pub name: String,
    /// Label shown on the Connect page.
    pub label: String,
    /// Kind of value; `secret` values are sealed with the credentials, never stored in plaintext.
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// Whether a connection must provide it (for the schemes listed in `schemes`).
    #[serde(default)]
    pub required: bool,
    /// Allowed values of a `select` field.
    #[serde(default)]
    pub options: Vec<String>,
    /// Value used when none is given.
    #[serde(default)]
    pub default: Option<String>,
    /// Regular expression a value must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Help text.
    #[serde(default)]
    pub description: Option<String>,
    /// Auth schemes that use this field; empty means every scheme.
    #[serde(default)]
    pub schemes: Vec<String>,
    /// Schemes for which the field is required though `required` is not set: a field optional
    /// with one scheme and needed with another (a tenant that an OAuth sign-in may leave to the
    /// identity provider and a client-credentials grant must name).
    #[serde(default)]
    pub required_schemes: Vec<String>,
}

impl ConnectionField {
    /// Whether a connection made with `scheme` must provide the field.
    pub fn required_for(&self, scheme: &str) -> bool {
        self.required || self.required_schemes.iter().any(|name| name == scheme)
    }
}

/// Kind of a connection field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Secret,
    Url,
    Select,
}

/// Authentication schemes a connection may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Scheme used when a connection names none.
    #[serde(default)]
    pub default_scheme: Option<String>,
    /// Schemes by name.
    pub schemes: IndexMap<String, AuthScheme>,
}

/// One authentication scheme; every value is a template over `credentials`, `account`, `vars`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthScheme {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// Template of the token, e.g. `{{credentials.private_app_token}}`.
        token: String,
    },
    /// A key sent in a header or a query parameter.
    ApiKey {
        /// Where the key goes.
        #[serde(rename = "in")]
        location: ParamLocation,
        /// Header or parameter name.
        name: String,
        /// Template of the value, e.g. `{{credentials.api_key}}`.
        value: String,
    },
    /// HTTP basic authentication.
    Basic {
        /// Template of the user name.
        username: String,
        /// Template of the password.
        password: String,
    },
    /// Any headers, each a template (`X-Api-User: {{account.user}}`, `X-Api-Secret: {{credentials.secret}}`),
    /// for vendors whose authentication fits none of the other kinds.
    Headers {
        /// Header names and value templates.
        headers: IndexMap<String, String>,
    },
    /// OAuth 2.0; requests carry `Authorization: <token_prefix> {{credentials.access_token}}`.
    Oauth2 {
        /// Grant used to obtain tokens.
        grant: OAuthGrant,
        /// Authorization endpoint (template), for the authorization-code grant.
        #[serde(default)]
        authorize_url: Option<String>,
        /// Token endpoint (template).
        token_url: String,
        /// Scopes requested.
        #[serde(default)]
        scopes: Vec<String>,
        /// Whether PKCE is used.
        #[serde(default)]
        pkce: bool,
        /// Refresh this many seconds before expiry.
        #[serde(default)]
        refresh_before_expiry_secs: Option<u64>,
        /// The word before the access token in the `Authorization` header (default `Bearer`),
        /// for vendors that name their own token type there.
        #[serde(default)]
        token_prefix: Option<String>,
        /// Values captured from the token response into the connection's account fields,
        /// each a JSONata expression over the token response (`instance_url: instance_url`).
        #[serde(default)]
        capture: IndexMap<String, String>,
        /// How the client authenticates at the token endpoint.
        #[serde(default)]
        client_auth: ClientAuth,
        /// JSONata over the token endpoint's `{status, headers, body}`: whether a refresh was
        /// refused for good (the user must re-authorise). Default: `body.error = 'invalid_grant'`.
        #[serde(default)]
        invalid_grant_when: Option<String>,
        /// Whose client id and secret the token endpoint is given: the environment's OAuth app
        /// (default), or the connection's own `client_id` and `client_secret` fields, for
        /// vendors that issue API credentials per customer account.
        #[serde(default)]
        client: ClientSource,
        /// Where the token endpoint's answer holds the token and its lifetime, for vendors that
        /// do not answer RFC 6749's top-level `access_token` and `expires_in`.
        #[serde(default)]
        token_answer: Option<TokenAnswer>,
        /// Further tokens of the same connection, by name, for vendors whose API versions take
        /// tokens of their own (a v2 API taking a token from its own endpoint, refused by v1):
        /// each is asked for with the client credentials grant and
        /// the scheme's client, kept (sealed) beside the scheme's own token, refreshed apart from
        /// it, and sent by the methods that name it (`resources.<r>.methods.<m>.token`).
        #[serde(default)]
        tokens: Box<IndexMap<String, NamedToken>>,
    },
}

/// A further token of an OAuth 2.0 scheme (`auth.schemes.<scheme>.tokens.<name>`), asked for
/// with the client credentials grant and the scheme's client (`client`, `client_auth`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedToken {
    /// Its token endpoint (template).
    pub token_url: String,
    /// Scopes asked for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How the client authenticates at this token endpoint (default: in the form body).
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Where this endpoint's answer holds the token and its lifetime (RFC 6749's names when
    /// absent).
    #[serde(default)]
    pub token_answer: Option<TokenAnswer>,
    /// Refresh this many seconds before expiry (300 when absent).
    #[serde(default)]
    pub refresh_before_expiry_secs: Option<u64>,
    /// The word before the token in the `Authorization` header (default `Bearer`).
    #[serde(default)]
    pub token_prefix: Option<String>,
}

/// Whose OAuth client credentials a scheme uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientSource {
    /// The environment's OAuth app for the provider (`PUT /environment/oauth-apps/{provider}`).
    #[default]
    Environment,
    /// The connection's `client_id` (a connection field) and `client_secret` (a secret field).
    Connection,
}

/// Dotted paths into a token endpoint's JSON answer (`data.token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenAnswer {
    /// The access token's path.
    pub access_token: String,
    /// The path of the token's lifetime in seconds; absent when the answer does not say.
    #[serde(default)]
    pub expires_in: Option<String>,
}

impl TokenAnswer {
    /// The value at a dotted path of `answer`.
    pub fn lookup<'a>(path: &str, answer: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        path.split('.')
            .try_fold(answer, |value, segment| value.get(segment))
    }
}

/// How an OAuth client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    #[default]
    Body,
    /// HTTP basic authentication with the client id and secret.
    Basic,
}

/// OAuth 2.0 grant kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthGrant {
    AuthorizationCode,
    ClientCredentials,
}

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamLocation {
    Query,
    Header,
    Body,
}

/// Base URL and transport defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// Template of the base URL every path is joined to (`{{account.instance_url}}/services/data/{{vars.api_version}}`).
    pub base_url: String,
    /// Hosts requests may reach, checked after templating (`api.example.com`, `*.example.com`).
    pub allowed_hosts: Vec<String>,
    /// Default headers (templates).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Timeout of one vendor request.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Declared rate limits (enforced by the runtime's limiter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Requests in flight at once per connection.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Token buckets; a request takes `cost` tokens from every bucket it matches.
    #[serde(default)]
    pub buckets: Vec<Bucket>,
    /// The vendor's rate-limit headers, read to correct the local estimate.
    #[serde(default)]
    pub headers: Option<RateLimitHeaders>,
    /// JSONata over `{status, headers, body}` giving the vendor's daily allowance as
    /// `{used, limit}` (from headers such as `X-Limit-Daily`/`-Remaining` or a compound
    /// `api-usage=18/5000`); undefined when the answer does not say. Crosswalk records an
    /// event when a connection passes 80% and 90% of it.
    #[serde(default)]
    pub daily_quota_expr: Option<String>,
}

/// How a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BucketKind {
    /// Holds up to `capacity` tokens, refilled continuously at `refill_tokens` per
    /// `refill_every_ms` (vendors that refill steadily, or count in fixed windows).
    #[default]
    TokenBucket,
    /// At most `capacity` requests in any `refill_every_ms` span (vendors that count a rolling
    /// window, "per rolling 10 seconds"); `refill_tokens` is left out (or equals `capacity`).
    /// After a burst the budget returns exactly as the burst's requests age out.
    SlidingWindow,
}

impl BucketKind {
    fn is_default(&self) -> bool {
        *self == BucketKind::TokenBucket
    }
}

impl Bucket {
    /// Tokens given back every `refill_every_ms`: the declared `refill_tokens`, or for a
    /// sliding window (where it is left out) the whole `capacity`.
    pub fn refill(&self) -> u32 {
        self.refill_tokens.unwrap_or(self.capacity)
    }
}

/// One token bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    /// Bucket name, unique in the file.
    pub id: String,
    /// How the bucket counts (`token_bucket` unless said).
    #[serde(default, skip_serializing_if = "BucketKind::is_default")]
    pub kind: BucketKind,
    /// Burst size (a sliding window: requests per window).
    pub capacity: u32,
    /// Tokens added every `refill_every_ms`; required for a token bucket, left out for a
    /// sliding window (it gives back its whole `capacity` per window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill_tokens: Option<u32>,
    /// Refill period (a sliding window: the window).
    pub refill_every_ms: u64,
    /// Which requests take tokens; empty means every request.
    #[serde(default)]
    pub applies_to: Vec<BucketMatcher>,
    /// Tokens one matching request takes.
    #[serde(default = "one")]
    pub cost: u32,
    /// Whether the budget is per connection (default) or per day.
    #[serde(default)]
    pub daily: bool,
}

fn one() -> u32 {
    1
}

/// Selects requests by resource and method name (`*` matches any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BucketMatcher {
    /// Resource name or `*`.
    pub resource: String,
    /// Method name or `*`.
    #[serde(default = "star")]
    pub method: String,
}

fn star() -> String {
    "*".to_owned()
}

/// Names of the vendor's rate-limit headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitHeaders {
    /// The header saying how many requests are left in the vendor's current window.
    #[serde(default)]
    pub remaining: Option<String>,
    /// The header saying when the window resets (see `reset_format`).
    #[serde(default)]
    pub reset: Option<String>,
    /// The header giving the window's length, used for the reset when no `reset` header is
    /// declared (see `window_unit`).
    #[serde(default)]
    pub window: Option<String>,
    /// The unit of the `window` header's value; required with `window`.
    #[serde(default)]
    pub window_unit: Option<DurationUnit>,
    #[serde(default)]
    pub retry_after: Option<String>,
    /// How the reset header is expressed.
    #[serde(default)]
    pub reset_format: Option<ResetFormat>,
    /// One header carrying the whole view as the IETF draft's structured `RateLimit` field
    /// does: `limit=100, remaining=42, reset=7` (`reset` in seconds from now). Read before
    /// `remaining` and `reset`, which an answer without it still falls back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured: Option<String>,
    /// Which buckets the headers describe (`general` unless said).
    #[serde(default, skip_serializing_if = "HeaderScope::is_default")]
    pub scope: HeaderScope,
}

/// Which of a connection's buckets a vendor's rate-limit headers describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeaderScope {
    /// The connection's overall budget: the buckets that apply to every request.
    #[default]
    General,
    /// The budget of the endpoint group the request counted against: every bucket (not
    /// daily) the request took from, general or not (vendors that limit per endpoint group
    /// and report the group's budget on each answer).
    Request,
}

impl HeaderScope {
    fn is_default(&self) -> bool {
        *self == HeaderScope::General
    }
}

/// The unit of a header carrying a length of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DurationUnit {
    Seconds,
    Milliseconds,
}

/// Format of a reset header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResetFormat {
    EpochS,
    EpochMs,
    DeltaS,
    DeltaMs,
    HttpDate,
}

/// Error detection and the ordered rules mapping vendor answers to unified codes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Errors {
    /// JSONata over `{status, headers, body}`: whether the answer is an error
    /// (default `status >= 400`).
    #[serde(default)]
    pub detect_when: Option<String>,
    /// JSONata over `{status, headers, body}` giving the vendor's message.
    #[serde(default)]
    pub message_expr: Option<String>,
    /// JSONata over `{status, headers, body}` giving the vendor's error code.
    #[serde(default)]
    pub vendor_code_expr: Option<String>,
    /// JSONata over `{status, headers, body}` giving the field the vendor refused (a write's
    /// per-record answer naming the field), as the caller knows it; problem+json names it.
    /// A write's answer is read with its request bound as `$request` (`$request.body` is the
    /// unified body sent), so that a vendor field standing for several unified ones can name
    /// the one the caller sent; elsewhere `$request` is undefined.
    #[serde(default)]
    pub field_expr: Option<String>,
    /// Ordered rules; the first whose `when` holds decides.
    #[serde(default)]
    pub rules: Vec<ErrorRule>,
}

/// One error rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorRule {
    /// Rule name, unique in the file.
    pub id: String,
    /// JSONata over `{status, headers, body}`.
    pub when: String,
    /// Unified error code.
    pub code: ErrorCode,
    /// What the runtime does.
    pub action: ErrorAction,
    /// The answer means the vendor's fields changed (a field was deleted or renamed): the
    /// connection's discovered fields are refreshed before the next call.
    #[serde(default)]
    pub refresh_discovery: bool,
}

/// Unified error codes, each with its HTTP status at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    AuthExpired,
    ReauthRequired,
    InsufficientScope,
    Forbidden,
    NotFound,
    Gone,
    Conflict,
    // A write names a record the vendor does not have (deleted, or never there): the write's
    // own record is not the missing one, so this is not `not_found` (409 at the gateway).
    ReferenceNotFound,
    ValidationFailed,
    BadRequest,
    Unsupported,
    RateLimited,
    QuotaExhausted,
    AccountInactive,
    UpstreamUnavailable,
    UpstreamTimeout,
    Internal,
}

impl ErrorCode {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::AuthExpired => "auth_expired",
            ErrorCode::ReauthRequired => "reauth_required",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Gone => "gone",
            ErrorCode::Conflict => "conflict",
            ErrorCode::ReferenceNotFound => "reference_not_found",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::QuotaExhausted => "quota_exhausted",
            ErrorCode::AccountInactive => "account_inactive",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::Internal => "internal",
        }
    }
}

/// What the runtime does with a classified error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorAction {
    Retry,
    RefreshAndRetry,
    RateLimited,
    Fail,
    Ignore,
}

/// One vendor endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Method {
    /// HTTP method.
    pub http_method: HttpMethod,
    /// Path template joined to the base URL (`/crm/v3/objects/contacts/{{id}}`); values are
    /// percent-encoded as path segments.
    pub path: String,
    /// The base URL of this method (template, as `http.base_url`) in place of `http.base_url`,
    /// for a vendor whose API versions live under different roots (`/v1` and `/v2`).
    /// The request is held to `http.allowed_hosts` like every other.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Static or templated query parameters; the route's `query_mapping` output is merged on top.
    #[serde(default)]
    pub query: IndexMap<String, String>,
    /// Extra headers (templates).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// How the body is encoded.
    #[serde(default)]
    pub body_format: BodyFormat,
    /// JSONata over the response body selecting the array of records (list-like methods).
    #[serde(default)]
    pub records: Option<String>,
    /// JSONata over the response body selecting the one record (default: the body).
    #[serde(default)]
    pub record: Option<String>,
    /// How the method pages.
    #[serde(default)]
    pub pagination: Pagination,
    /// The request's weight: every bucket it takes from is charged its own `cost` times this
    /// (1 when left out), for vendors that count some endpoints as several requests.
    #[serde(default)]
    pub cost: Option<u32>,
    /// A further token of the connection's OAuth 2.0 scheme (`auth.schemes.<scheme>.tokens`)
    /// this method authenticates with instead of the scheme's own token; a vendor answer asking
    /// for a refresh (`refresh_and_retry`) refreshes that token only.
    #[serde(default)]
    pub token: Option<String>,
}

/// HTTP methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    #[default]
    Json,
    Form,
    None,
}

/// Pagination kinds. Every kind exposes `page` to mappings (`page.size`, `page.token`,
/// `page.offset`, `page.number`, `page.after_key`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// One page only.
    #[default]
    None,
    /// An opaque token from each response is sent back for the next page (`paging.next.after`-style APIs).
    Cursor {
        /// JSONata over the response body giving the next token (undefined or null: last page).
        token_expr: String,
        /// Where the token is sent; omit when mappings place `page.token` themselves.
        #[serde(default)]
        param: Option<Param>,
        page_size: PageSize,
    },
    /// Records sorted by a key; each page asks for keys after the last one seen (placed by the
    /// route's mapping from `page.after_key`). With `result_cap`, a window that would exceed
    /// the vendor's cap restarts from the last key (search APIs that stop at N results per query).
    Keyset {
        /// JSONata over the last record of a page giving its sort key.
        sort_key_expr: String,
        /// Most results one query window may return.
        #[serde(default)]
        result_cap: Option<u64>,
        /// Cursor paging inside one window.
        #[serde(default)]
        inner: Option<InnerCursor>,
        /// Without `inner`: JSONata over the response body saying more records follow even
        /// though the page is short (a vendor may return fewer rows than asked for, e.g.
        /// `done = false`). A full page always continues.
        #[serde(default)]
        has_more_expr: Option<String>,
        page_size: PageSize,
    },
    /// A record offset (`start`, `_skip`).
    Offset {
        /// Where the offset is sent; omit when mappings place `page.offset` themselves.
        #[serde(default)]
        param: Option<Param>,
        /// JSONata over the response body: whether more records follow (default: a full page).
        #[serde(default)]
        has_more_expr: Option<String>,
        /// JSONata over the response body giving the next offset (default: offset + records).
        #[serde(default)]
        next_offset_expr: Option<String>,
        page_size: PageSize,
    },
    /// A page number.
    Page {
        /// Where the page number is sent; omit when mappings place `page.number` themselves.
        #[serde(default)]
        param: Option<Param>,
        /// First page number.
        #[serde(default = "one_u64")]
        start_at: u64,
        /// JSONata over the response body: whether more pages follow (default: a full page).
        #[serde(default)]
        has_more_expr: Option<String>,
        page_size: PageSize,
    },
    /// The next page's URL is in the `Link` header.
    LinkHeader {
        /// Relation of the next page.
        #[serde(default = "next_rel")]
        rel: String,
        page_size: PageSize,
    },
    /// The next page's URL is in the body (`nextRecordsUrl`-style fields, OData `@odata.nextLink`).
    NextUrl {
        /// JSONata over the response body giving the next URL (undefined or null: last page).
        url_expr: String,
        page_size: PageSize,
    },
    /// The vendor answers every record in one response and cannot page: Crosswalk pages the
    /// answer itself. Each page repeats the vendor call, keeps the records the route's
    /// `record_filter` keeps, sorts them by `sort_key_expr` and gives the `page_size` records
    /// whose keys follow the last key of the previous page (so a record deleted or added at
    /// the vendor between pages shifts no other). The page size is never sent (`page_size`
    /// takes no `param`).
    Local {
        /// JSONata over one record giving its key: unique among the records. Keys compare as
        /// numbers when both are numbers or strings of digits, else as text.
        sort_key_expr: String,
        page_size: PageSize,
    },
    /// Date windows, oldest first, for vendors that answer at most one window of dates per call
    /// (a month of pay runs): the walk covers `start_expr` to `end_expr`, both fixed when the
    /// walk starts (the cursor carries them), in windows of `months` calendar months (each
    /// from the first day of a month, the first one from the walk's start, the last one to its
    /// end); inside a window the vendor's cursor pages (`inner`). Every page is one vendor
    /// call, so a walk of N windows is at least N pages (an empty window is an empty page with
    /// a next cursor). Mappings see `page.window_start`, `page.window_end` (`YYYY-MM-DD`, the
    /// end inclusive), `page.walk_start`, `page.walk_end`, `page.token` and `page.size`;
    /// a list's `record_filter` and `record_mapping` see the same object as `$page`.
    Windows {
        /// JSONata over the request context (`query`, `account`, `vars`; `$now()` for today)
        /// giving the walk's first day, `YYYY-MM-DD` (a longer date-time is cut to its day).
        start_expr: String,
        /// JSONata over the request context giving the walk's last day; today when absent.
        #[serde(default)]
        end_expr: Option<String>,
        /// Calendar months per window (1 when absent).
        #[serde(default)]
        months: Option<u32>,
        /// Cursor paging inside one window.
        #[serde(default)]
        inner: Option<InnerCursor>,
        page_size: PageSize,
    },
}

fn one_u64() -> u64 {
    1
}

fn next_rel() -> String {
    "next".to_owned()
}

/// Cursor paging inside a keyset window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InnerCursor {
    /// JSONata over the response body giving the next token.
    pub token_expr: String,
    /// Where the token is sent; omit when mappings place `page.token` themselves.
    #[serde(default)]
    pub param: Option<Param>,
}

/// A named parameter and where it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Param {
    #[serde(rename = "in")]
    pub location: ParamLocation,
    pub name: String,
    /// Text sent instead of the bare value, with `{value}` standing for it
    /// (`odata.maxpagesize={value}` in a `Prefer` header).
    #[serde(default)]
    pub format: Option<String>,
}

/// Page size bounds; `param` sends it when mappings don't place `page.size` themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageSize {
    #[serde(default)]
    pub param: Option<Param>,
    pub default: u64,
    pub max: u64,
}

/// Custom-field discovery for one unified object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDiscovery {
    /// `resource.method` to call.
    pub request: String,
    /// JSONata over the response body selecting the field definitions (default: the method's `records`).
    #[serde(default)]
    pub records: Option<String>,
    /// JSONata over one field definition giving `{key, label, type, custom, required, read_only, options}`.
    pub field_mapping: String,
    /// Cache lifetime.
    #[serde(default = "day_secs")]
    pub ttl_secs: u64,
    /// A second request whose answer completes the fields the first one found, for vendors
    /// that describe part of a field elsewhere (Dataverse gives a choice column's options only
    /// through the `PicklistAttributeMetadata` cast of its attributes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrich: Option<DiscoveryEnrichment>,
}

/// The second request of a discovery (`enrich`): each definition it answers completes the
/// discovered field whose vendor key it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryEnrichment {
    /// `resource.method` to call, after the discovery's own request.
    pub request: String,
    /// JSONata over the response body selecting the definitions (default: the method's `records`).
    #[serde(default)]
    pub records: Option<String>,
    /// JSONata over one definition giving the vendor key of the discovered field it completes;
    /// a key no discovered field has completes nothing.
    pub key: String,
    /// JSONata over one definition giving the properties it sets on that field, over those the
    /// discovery's `field_mapping` gave (`{type, options}`, any of `{key, label, type, custom,
    /// required, read_only, options}`); undefined sets nothing.
    pub field_mapping: String,
}

fn day_secs() -> u64 {
    86_400
}

/// A unified object's operations.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnifiedObject {
    #[serde(default)]
    pub list: Option<ListOperation>,
    #[serde(default)]
    pub get: Option<ReadOperation>,
    #[serde(default)]
    pub create: Option<WriteOperation>,
    #[serde(default)]
    pub update: Option<WriteOperation>,
    #[serde(default)]
    pub delete: Option<DeleteOperation>,
    /// How a sync learns that records of this object were deleted at the vendor. Absent: syncs
    /// never mark its records deleted.
    #[serde(default)]
    pub deletes: Option<Deletes>,
}

/// How a sync learns of deletes at the vendor. Whatever the kind, a sync also runs a
/// reconciliation pass (a full walk and id diff) on a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Deletes {
    /// The vendor lists the records deleted in a window of time. Each run reads the window
    /// since the previous run's start (less the lookback); when that start is older than the
    /// feed reaches, the run falls back to an id diff instead of missing deletes.
    Feed {
        /// Candidate routes, as a list's: `query.since` and `query.until` (RFC 3339 instants)
        /// are the window to read.
        routes: Vec<Route>,
        /// JSONata over one raw feed entry giving the deleted record's unified id.
        id_expr: String,
        /// `first` or `all`, as a list's `walk`.
        #[serde(default)]
        walk: RouteWalk,
        /// How far back the feed reaches, in seconds: a window starting earlier is not read.
        reach_secs: u64,
        /// The id of the error rule (in `errors.rules`) that matches the vendor's refusal of a
        /// window starting before what it still holds; that refusal falls back to an id diff.
        #[serde(default)]
        out_of_reach_rule: Option<String>,
    },
    /// The vendor lists its deleted (archived) records, restorable for a while; each run reads
    /// the whole listing and marks the ids it names deleted.
    Archived {
        /// Candidate routes, as a list's.
        routes: Vec<Route>,
        /// JSONata over one raw archived record giving its unified id.
        id_expr: String,
        /// `first` or `all`, as a list's `walk`.
        #[serde(default)]
        walk: RouteWalk,
    },
    /// No deletion listing: deletes are found by the reconciliation pass alone, which marks
    /// deleted every stored record that a complete walk no longer lists.
    IdDiff,
}

/// Listing a unified object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListOperation {
    /// Candidate routes; the first whose `when` holds is used.
    pub routes: Vec<Route>,
    /// JSONata over one raw record giving the unified record.
    pub record_mapping: String,
    /// Additive JSONata over the same raw record, shallow-merged over `record_mapping`'s
    /// result (for overrides: add a field or re-map a standard one without restating the
    /// whole mapping).
    #[serde(default)]
    pub record_mapping_merge: Option<String>,
    /// Filters this vendor supports on the list, by unified filter name.
    #[serde(default)]
    pub filters: IndexMap<String, FilterDecl>,
    /// `first`: the first route whose `when` holds serves the whole list. `all`: every route
    /// whose `when` holds is walked in turn (a unified object spread over several vendor
    /// objects, such as calls, meetings and emails).
    #[serde(default)]
    pub walk: RouteWalk,
    /// The vendor's asynchronous bulk export of the whole object, which a sync's first (full)
    /// run uses instead of the list when the object holds `threshold` records or more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk: Option<BulkRead>,
}

/// An asynchronous bulk export of a unified object: a job is created, polled until done, and
/// its results read a page at a time by a locator each page's answer carries; result rows
/// (CSV) become raw records typed from the discovered fields, mapped by the list's
/// `record_mapping` like the list's own records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRead {
    /// Records from which a backfill uses the export rather than the list (default 2,000).
    #[serde(default = "default_bulk_threshold")]
    pub threshold: u64,
    /// How many records the object holds, asked before creating a job. Absent: the export is
    /// used whatever the count.
    #[serde(default)]
    pub count: Option<BulkCount>,
    /// Creates the job.
    pub create: BulkCreate,
    /// Reads the job's state.
    pub poll: BulkPoll,
    /// Reads one page of the job's results.
    pub results: BulkResults,
}

fn default_bulk_threshold() -> u64 {
    2_000
}

/// The request counting an object's records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCount {
    /// `resource.method` that serves it.
    #[serde(rename = "use")]
    pub uses: String,
    /// JSONata over the request context giving query parameters (an object).
    #[serde(default)]
    pub query_mapping: Option<String>,
    /// JSONata over the request context giving the request body.
    #[serde(default)]
    pub body_mapping: Option<String>,
    /// JSONata over the answer's body giving the number of records.
    pub count_expr: String,
}

/// The request creating an export job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCreate {
    /// `resource.method` that serves it.
    #[serde(rename = "use")]
    pub uses: String,
    /// JSONata over the request context giving query parameters (an object).
    #[serde(default)]
    pub query_mapping: Option<String>,
    /// JSONata over the request context giving the request body (the export's field list
    /// from `fields`, with a static fallback, as list routes do).
    #[serde(default)]
    pub body_mapping: Option<String>,
    /// JSONata over the answer's body giving the job's id, `{{id}}` in the paths of `poll`
    /// and `results`.
    pub job_id_expr: String,
}

/// How a job is polled until it is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkPoll {
    /// `resource.method` that reads the job (`{{id}}` is the job's id).
    #[serde(rename = "use")]
    pub uses: String,
    /// JSONata over the answer's body: the results can be read.
    pub done_when: String,
    /// JSONata over the answer's body: the job will never be done (failed, aborted).
    pub failed_when: String,
    /// JSONata over the answer's body giving why the job failed.
    #[serde(default)]
    pub message_expr: Option<String>,
    /// The wait before the second poll, doubling after each poll that finds the job not done
    /// (default 1,000).
    #[serde(default = "default_poll_initial_ms")]
    pub initial_delay_ms: u64,
    /// The longest wait between two polls (default 30,000).
    #[serde(default = "default_poll_max_ms")]
    pub max_delay_ms: u64,
}

fn default_poll_initial_ms() -> u64 {
    1_000
}

fn default_poll_max_ms() -> u64 {
    30_000
}

/// How a job's results are read, a page at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkResults {
    /// `resource.method` that reads a page (`{{id}}` is the job's id).
    #[serde(rename = "use")]
    pub uses: String,
    /// Where the locator of the page to read is sent (absent on the first page).
    pub locator: Param,
    /// JSONata over the answer's `{status, headers}` (header names lowercased) giving the
    /// next page's locator; undefined, null or empty on the last page.
    pub next_locator_expr: String,
    /// Rows per page; `param` sends it.
    pub page_size: PageSize,
    /// The column separator of the CSV results (default `,`).
    #[serde(default)]
    pub delimiter: Option<String>,
}

/// How a list uses its routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteWalk {
    #[default]
    First,
    All,
}

/// A filter a list supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterDecl {
    #[serde(rename = "type")]
    pub kind: FilterKind,
    #[serde(default)]
    pub description: Option<String>,
    /// For a `string_list`: the regular expression every value the vendor could hold matches
    /// (its id format, for an `ids` filter). A value that does not match names no record, so
    /// it selects nothing: it is left out of the vendor request, and a list whose every value
    /// is left out answers an empty page without calling the vendor (where the vendor would
    /// refuse the malformed value).
    #[serde(default)]
    pub item_pattern: Option<String>,
}

/// Type of a filter value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FilterKind {
    String,
    Datetime,
    StringList,
}

/// Reading one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadOperation {
    pub routes: Vec<Route>,
    /// JSONata over the raw record giving the unified record.
    pub record_mapping: String,
    /// Additive JSONata over the same raw record, shallow-merged over `record_mapping`'s
    /// result (for overrides: add a field or re-map a standard one without restating the
    /// whole mapping).
    #[serde(default)]
    pub record_mapping_merge: Option<String>,
}

/// Creating or updating one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteOperation {
    pub routes: Vec<Route>,
    /// What the vendor answers: the whole record, or only its id (then the record is read back).
    #[serde(default)]
    pub returns: WriteReturns,
    /// JSONata over the response body giving the written record's id (with `returns: id`);
    /// `$headers` holds the answer's headers (names lowercased), for vendors that answer a
    /// create with the new record's URL in `Location` and no body; `$request` holds the
    /// request context (`query`, `body`, `id`, …), for unified ids that carry what the caller
    /// asked for (a type prefix the answer does not repeat).
    #[serde(default)]
    pub id_expr: Option<String>,
    /// Updates only: the runtime reads the current record first and maps the caller's fields
    /// merged over it, for vendors whose writes replace derived values (a full name written
    /// from first and last names) or whole objects.
    #[serde(default)]
    pub merge_current: bool,
    /// The unified fields of a write body this operation carries to the vendor (top-level
    /// names such as `title` or `amount`; `custom_fields` and `remote_data` follow their own
    /// rules and are not listed). A body naming another field is refused before any vendor
    /// call, and `/meta`'s create and update schemas list exactly these. Absent: every field
    /// of the object's write schema.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Creates only: the unified fields the vendor requires, refused when missing or null
    /// before any vendor call and marked required in `/meta`'s create schema.
    #[serde(default)]
    pub required: Vec<String>,
    /// Creates only: groups of unified fields of which the vendor needs at least one with a
    /// value, in every group (a person's name: `[[name, first_name, last_name]]`; a lead's
    /// title and the record it hangs on: `[[name, company_name], [converted_contact_id,
    /// converted_company_id]]`). A
    /// create missing a group is refused before any vendor call, naming the group, and
    /// `/meta`'s create schema states each group as an `anyOf`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_any: Vec<Vec<String>>,
    /// The values a write takes for a carried field, where the vendor takes fewer than the
    /// unified schema allows (the engagement types the connector has a route for, the vendor's
    /// own option list); for a list field, the values of its items. Listed, or the options of
    /// a field the vendor describes (`{options_of: <vendor key>}`, read from the connection's
    /// discovered fields, for option lists each account configures). Another value is refused
    /// before any vendor write, and `/meta`'s schemas list exactly these.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub values: IndexMap<String, WriteValues>,
    /// Regular expressions a carried text field's value must match, where the vendor checks a
    /// format of its own (its id format); for a list field, each item; a dotted name is a text
    /// field of an object field or of each item of a list field
    /// (`email_addresses.email_address`). Written so that they mean
    /// the same in Rust's `regex` and in ECMAScript (the document's `pattern`); a value that does
    /// not match is refused before any vendor call.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub patterns: IndexMap<String, String>,
    /// The bounds a carried number field's value must keep, where the vendor holds less than
    /// the unified schema allows (a duration the vendor writes as `HH:MM` of one day). A value
    /// outside is refused before any vendor call (compared as written, exactly), and `/meta`'s
    /// schemas carry the bounds (`minimum`, `maximum`). A field of an object field is named by
    /// its path; a decimal text (money's `amount.amount`) takes integer bounds around zero,
    /// stated in the document as the `pattern` of the texts inside them.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub ranges: IndexMap<String, WriteRange>,
    /// The most items a carried list field takes, where the vendor holds fewer than the unified
    /// schema allows (a task's one contact: `{contact_ids: 1}`). A longer list is refused
    /// before any vendor call, and `/meta`'s schemas carry the field's `maxItems`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub max_items: IndexMap<String, usize>,
    /// The most characters a carried text field's value takes, where the vendor's column holds
    /// fewer (a postal code of 20 characters); for a list field, each item; a dotted name is a
    /// text field of an object field or of each item of a list field (`addresses.postal_code`).
    /// Characters are counted as Unicode code points, as JSON Schema's `maxLength` counts them.
    /// A longer value is refused before any vendor call, and `/meta`'s schemas carry the
    /// field's `maxLength`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub max_length: IndexMap<String, usize>,
    /// Groups of date-time fields the vendor keeps in order (an activity's start before its
    /// end, from which it derives a duration): `[[start_time, end_time]]`. A body giving two
    /// fields of a group values where an earlier one is after a later one is refused before
    /// any vendor call, naming the later field. No JSON Schema states an order between two
    /// fields: `/meta`'s schemas say it in each later field's `description`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ordered: Vec<Vec<String>>,
    /// The longest a carried date-time field may lie after another, where the vendor holds the
    /// two as a start and a bounded duration (an activity's `HH:MM` of one day):
    /// `{end_time: {from: start_time, maximum_seconds: 86340}}`. A body giving both, the later
    /// further than that, is refused before any vendor call, naming the later field; `/meta`'s
    /// schemas say it in that field's `description`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub spans: IndexMap<String, WriteSpan>,
    /// Carried date-time fields the vendor holds in whole steps of this many seconds (an
    /// activity's time as `HH:MM` in UTC: `{start_time: 60}`), where it would drop the rest. A
    /// value between two steps is refused before any vendor call, naming the field; `/meta`'s
    /// schemas say it in the field's `description`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub step_seconds: IndexMap<String, u64>,
    /// Carried fields a body may name only with others, where the vendor derives what it holds
    /// from them together (an end written as a duration from the start given with it:
    /// `{end_time: [start_time]}`). A body naming the field without one of them is refused
    /// before any vendor call, naming the one left out, and `/meta`'s schemas state it (what
    /// `dependentRequired` says, as an `anyOf` inside the `allOf`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub requires: IndexMap<String, Vec<String>>,
    /// Groups of carried fields the vendor holds in one field of its own (a record a note
    /// hangs on, whichever kind it is: `[[contact_ids, company_ids]]`): at most one field of
    /// a group has a value (not null, not blank, not an empty list). An update naming a field
    /// of a group names every field of it, since the vendor's field is written whole (the
    /// fields left out could not be kept). Both are refused before any vendor call, and
    /// `/meta`'s schemas state both (`anyOf`s inside the `allOf`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusive: Vec<Vec<String>>,
    /// Updates only: carried fields the vendor always holds a value for and cannot clear (an
    /// engagement's start, a record's owner). An update giving one `null`, blank text or an
    /// empty list is refused before any vendor call, naming it, and `/meta`'s update schema
    /// takes no null for it (as for the fields a create requires, which no update clears).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_clearable: Vec<String>,
    /// Carried list fields the vendor holds one item of each kind of, keyed by the field of
    /// the item that names its kind (a phone number per type, each in a vendor field of its
    /// own: `{phone_numbers: type}`). A list with two items of one kind is refused before any
    /// vendor call, naming the second, and `/meta`'s schemas state it (per listed kind, a
    /// `contains` with `maxContains: 1`). The kinds a vendor keeps no field for are refused
    /// with `values` (`{phone_numbers.type: [WORK, MOBILE]}`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub one_per: IndexMap<String, String>,
    /// Carried fields only some types of record hold, where one unified object is several
    /// vendor objects (an engagement's location held by a meeting, not by a call): the field
    /// naming the type, the types holding each such field, what a field needs with it per
    /// type, and (updates) the record's types told by its id. See [`WriteTypes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<WriteTypes>,
}

/// The fields of a write held by some record types only (`types`). A body naming such a field
/// names the record's type too (`field`, which a create requires anyway), one of the types
/// holding it, or is refused before any vendor call with 400 naming the field (or the type
/// left out); `/meta`'s schemas state it (an `anyOf` per field inside the `allOf`: the field
/// absent, or the type given and one of those listed). On an update the type is the record's,
/// which the id tells (`ids`): a body giving another type is refused with 409
/// `type_mismatch`, since a record keeps its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteTypes {
    /// The unified field naming the record's type (`type`), carried by the write.
    pub field: String,
    /// Updates only: per type, a regular expression the ids of its records match (`^call-`);
    /// an id matching none names no record of a known type, and the type is not checked.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub ids: IndexMap<String, String>,
    /// Per carried field held by some types only, those types (`{location: [MEETING]}`).
    pub only: IndexMap<String, Vec<String>>,
    /// Per type, the carried fields a body of that type may name only with others, where the
    /// vendor writes them together for that type (a call's end written as a duration from the
    /// start given with it: `{CALL: {end_time: [start_time]}}`); refused naming the one left
    /// out, as `requires` does for every type.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub requires: IndexMap<String, IndexMap<String, Vec<String>>>,
}

/// How far a write's date-time field may lie after another (`spans`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteSpan {
    /// The earlier date-time field.
    pub from: String,
    /// The most seconds the field may lie after `from`.
    pub maximum_seconds: u64,
}

/// The bounds of a write's number field (`ranges`), each inclusive, and its step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteRange {
    /// The least value taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// The greatest value taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// The step of the values taken (`1`: whole numbers, for a vendor's integer field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple_of: Option<f64>,
}

/// The values a write takes for one field (`values`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum WriteValues {
    /// These values, whatever the account.
    Listed(Vec<Value>),
    /// The option values of the discovered field with this vendor key (its `options`, each an
    /// option's `value`, or its `option` key, or the option itself). When discovery finds no
    /// such field, or the field lists no options, the write is not narrowed.
    Discovered(DiscoveredValues),
}

/// A write's values read from a discovered field's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveredValues {
    /// The vendor key of the discovered field whose options are the values.
    pub options_of: String,
    /// The key of each option holding what the unified field takes (default `value`): `label`
    /// where the unified field holds an option's label and the write maps it to the vendor's
    /// value (a choice column whose values are numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option: Option<String>,
}

/// What a write answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WriteReturns {
    /// The record, mapped with the `get` operation's record mapping.
    #[default]
    Record,
    /// Only an id (or nothing, for updates): the record is read back with `get`.
    Id,
}

/// Deleting one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteOperation {
    pub routes: Vec<Route>,
}

/// One way of serving a unified operation with a vendor method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Route name, unique within the operation (defaults to `use`).
    #[serde(default)]
    pub id: Option<String>,
    /// JSONata over the request context (`query`, `body`, `id`, `account`, `vars`, `fields`):
    /// whether this route serves the request. Absent: always.
    #[serde(default)]
    pub when: Option<String>,
    /// `resource.method` that serves it.
    #[serde(rename = "use")]
    pub uses: String,
    /// JSONata over the request context giving query parameters (an object).
    #[serde(default)]
    pub query_mapping: Option<String>,
    /// JSONata over the request context giving request headers (an object of names to
    /// values; an undefined or null value sends no header), placed over the method's: a
    /// filter the vendor takes as a header (`If-Modified-Since`).
    #[serde(default)]
    pub header_mapping: Option<String>,
    /// JSONata over the request context giving the request body.
    #[serde(default)]
    pub body_mapping: Option<String>,
    /// JSONata over the request context giving the vendor id used as `{{id}}` in the path
    /// (when unified ids carry more than the vendor id, e.g. `call-123`).
    #[serde(default)]
    pub id_mapping: Option<String>,
    /// List routes only: JSONata over one raw record saying whether it belongs to this unified
    /// object (one vendor list holding several kinds, e.g. activities of every type). Records
    /// for which it is false are skipped after the next page is worked out from the whole
    /// vendor page, so a page with no matching record does not end the list.
    #[serde(default)]
    pub record_filter: Option<String>,
    /// List and get routes only: split one query parameter's list value over several requests
    /// for the same page (a vendor that takes field names in the URL, with more names than one
    /// URL holds). The answers' records are merged by key before mapping; paging follows the
    /// first request's answer.
    #[serde(default)]
    pub chunk: Option<Chunk>,
    /// List and get routes only: follow-up requests that add to each page's records (or the
    /// one record read) what this route's answer lacks (a search answer without the
    /// associations the plain list carries), so every route of an operation, and a list and a
    /// get, give the same unified record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enrich: Vec<Enrich>,
}

/// A follow-up request for a page's records: sent with the page's raw records (in groups of
/// `max_items`), its answer's records are merged into the page's by key before mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Enrich {
    /// `resource.method` that serves it.
    #[serde(rename = "use")]
    pub uses: String,
    /// JSONata over the request context plus `records` (the group's raw records) and
    /// `list_page` (what the list page's mappings saw as `page`; null on a get) giving query
    /// parameters (an object).
    #[serde(default)]
    pub query_mapping: Option<String>,
    /// JSONata over the request context plus `records` giving the request body.
    #[serde(default)]
    pub body_mapping: Option<String>,
    /// JSONata over the request context plus `records` giving the `{{id}}` of the method's
    /// path, for a follow-up that reads one record by id (with `max_items: 1`).
    #[serde(default)]
    pub id_mapping: Option<String>,
    /// At most this many of the page's records per request.
    pub max_items: usize,
    /// JSONata over one raw record of the page: the key an answer's record is matched by
    /// (default `id`).
    #[serde(default)]
    pub record_key: Option<String>,
    /// JSONata over one record of the answer (as its method's `records` gives them): the key of
    /// the page's record it belongs to. Without it (only with `max_items: 1`), each answer
    /// belongs to the one page record its request was planned for, and its first record is
    /// merged into it: for a vendor whose answer does not name what was asked.
    #[serde(default)]
    pub key: Option<String>,
    /// JSONata over one record of the answer: the object merged into the page's record (keys
    /// the page's record lacks or holds as null are taken).
    pub merge: String,
    /// Read every page of the method's answer (by its `pagination`, at its largest page size),
    /// not only the first: for a join with a whole list the vendor pages. Needs `key` and a
    /// method with `pagination` (not `none` or `local`).
    #[serde(default)]
    pub all_pages: bool,
}

/// How a route splits one query parameter's list value over several requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Chunk {
    /// The query parameter holding the list (as the method's `query` or the route's
    /// `query_mapping` sets it).
    pub param: String,
    /// What separates items inside one value (`,` for `properties=a,b`). Absent: every
    /// repetition of the parameter is one item, and chunks repeat it (`properties=a&properties=b`).
    #[serde(default)]
    pub separator: Option<String>,
    /// At most this many items per request.
    #[serde(default)]
    pub max_items: Option<usize>,
    /// At most this many bytes of the parameter in the encoded query string per request
    /// (`name=value`, percent-encoded, repetitions joined by `&`).
    #[serde(default)]
    pub max_bytes: Option<usize>,
    /// JSONata over one raw record: the key the chunks' records are merged by (default `id`).
    #[serde(default)]
    pub merge_key: Option<String>,
}
