//! The HubSpot CRM simulator: CRM v3 objects, leads included (list, read, create, update, archive, search),
//! the Properties, Owners and Pipelines APIs and v4 associations, behind private-app Bearer
//! auth and HubSpot's rate limits, over deterministically seeded data.
//!
//! It answers as `https://api.hubapi.com` does (paths, paging, string-only property values,
//! error bodies, 429 policies), so connectors written against it work against the real API.
//! Of the batch endpoints only `batch/read` is served. Left out: batch writes, merge, GDPR
//! delete and webhooks. The OAuth 2.0 code flow (authorize, v1 token endpoint, token metadata
//! and refresh-token deletion) is served by `oauth.rs`; tokens it issues are accepted like the
//! configured private-app tokens until they expire.
//!
//! One simulator can serve several portals (`HubSpotConfig::portals`): each has its own
//! private-app tokens, its own copy of the seeded data and its own extra custom properties, so
//! two connections of one vendor can see different schemas. OAuth tokens reach the primary
//! portal. Request targets longer than `max_url_bytes` are refused with 414, as HubSpot's edge
//! refuses over-long URLs.

// Handlers answer early with a ready HubSpot error body, so `Result<_, Response>` is their
// natural return type; boxing every error response would only add noise.
mod errors;
mod limits;
#[allow(clippy::result_large_err, reason = "early-return error responses")]
mod meta;
mod oauth;
#[allow(clippy::result_large_err, reason = "early-return error responses")]
mod objects;
mod schema;
#[allow(clippy::result_large_err, reason = "early-return error responses")]
mod search;
mod seed;
mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

use crate::faults::{FaultLayerState, control_routes, fault_middleware};
use crate::oauth::{AccessStatus, OAuthServer, OAuthSettings};
use crate::{Faults, RequestLog, RunningSimulator};

pub use limits::TokenCounts;
use schema::{ObjectType, PropertyDef};
use store::Store;

/// What the simulated portal holds and how it limits callers.
#[derive(Debug, Clone)]
pub struct HubSpotConfig {
    pub seed: u64,
    pub contacts: usize,
    pub companies: usize,
    pub deals: usize,
    pub notes: usize,
    pub tasks: usize,
    pub calls: usize,
    pub meetings: usize,
    pub emails: usize,
    /// Leads, each associated with a seeded contact.
    pub leads: usize,
    pub owners: usize,
    /// Accepted `Authorization: Bearer <token>` values (private-app tokens).
    pub access_tokens: Vec<String>,
    /// Requests per rolling interval, per token (private app, Professional: 190).
    pub rate_limit_per_interval: u32,
    /// The rolling interval (10 s).
    pub rate_limit_interval_ms: u64,
    /// Search requests per second, per token.
    pub search_per_second: u32,
    /// Requests per day, per token; `None` sends no daily headers (as for OAuth apps).
    pub daily_limit: Option<u64>,
    /// Registered OAuth apps as `(client_id, client_secret)`.
    pub oauth_clients: Vec<(String, String)>,
    /// Lifetime of OAuth access tokens (`expires_in`; HubSpot: 1800 s).
    pub access_token_ttl_secs: u64,
    /// Whether a refresh returns a new refresh token and retires the old one (HubSpot: no).
    pub rotate_refresh_tokens: bool,
    /// Extra custom properties of the primary portal (the one `access_tokens` and OAuth tokens
    /// reach), beyond the seeded ones.
    pub custom_properties: Vec<CustomProperty>,
    /// More portals served by the same simulator, each with its own tokens, data and custom
    /// properties.
    pub portals: Vec<HubSpotPortal>,
    /// The longest request target (path and query string, in bytes) accepted; a longer one is
    /// answered 414 before anything else is checked.
    pub max_url_bytes: usize,
}

/// A custom property a portal defines beyond the seeded ones; every seeded record of its object
/// type gets a value (derived from the record id and the property name).
#[derive(Debug, Clone)]
pub struct CustomProperty {
    /// `contacts`, `companies`, `deals`, …
    pub object_type: String,
    /// The Properties API definition (`name` required; `type` defaults to `string`).
    pub definition: Value,
}

impl CustomProperty {
    /// A custom property of `object_type` from its Properties API definition.
    pub fn new(object_type: &str, definition: Value) -> CustomProperty {
        CustomProperty {
            object_type: object_type.to_owned(),
            definition,
        }
    }
}

/// One more portal: the private-app tokens that reach it and its extra custom properties. Its
/// records are seeded like the primary portal's (same seed, same ids).
#[derive(Debug, Clone, Default)]
pub struct HubSpotPortal {
    pub access_tokens: Vec<String>,
    pub custom_properties: Vec<CustomProperty>,
}

impl Default for HubSpotConfig {
    fn default() -> HubSpotConfig {
        HubSpotConfig {
            seed: 42,
            // More than the 10,000 results a search can page through.
            contacts: 12_000,
            companies: 3_000,
            deals: 3_000,
            notes: 2_000,
            tasks: 2_000,
            calls: 1_000,
            meetings: 1_000,
            emails: 1_000,
            leads: 1_500,
            owners: 40,
            access_tokens: vec!["hubspot-sim-token".to_owned()],
            rate_limit_per_interval: 190,
            rate_limit_interval_ms: 10_000,
            search_per_second: 5,
            daily_limit: Some(650_000),
            oauth_clients: vec![(
                "hubspot-sim-client".to_owned(),
                "hubspot-sim-secret".to_owned(),
            )],
            access_token_ttl_secs: 1800,
            rotate_refresh_tokens: false,
            custom_properties: Vec::new(),
            portals: Vec::new(),
            // HubSpot's edge refuses request lines of several KB; 8 KB is the common default
            // of the proxies in front of it.
            max_url_bytes: 8192,
        }
    }
}

/// One served request of a portal: what a test needs to check how a client called it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalRequest {
    pub method: String,
    /// Path and query string, as sent.
    pub target: String,
    pub status: u16,
}

/// One portal's data and the requests it served.
#[derive(Clone)]
struct Portal {
    store: Arc<RwLock<Store>>,
    requests: Arc<Mutex<Vec<PortalRequest>>>,
}

impl Portal {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().expect("hubspot store poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().expect("hubspot store poisoned")
    }
}

/// What every handler shares. Handlers reach the caller's portal through the [`Portal`]
/// request extension the guard sets.
#[derive(Clone)]
struct Shared {
    /// The primary portal first, then `HubSpotConfig::portals` in order.
    portals: Arc<Vec<Portal>>,
    limits: Arc<limits::RateLimits>,
    faults: Faults,
    log: RequestLog,
    /// Private-app token -> portal index.
    tokens: Arc<HashMap<String, usize>>,
    oauth: Arc<OAuthServer>,
    max_url_bytes: usize,
    /// Webhooks of record changes (the app's subscription).
    webhooks: crate::webhooks::Webhooks,
}

/// Test and demo access to a running simulator's state (the primary portal's, or another
/// portal's through [`HubSpotHandle::portal`]).
#[derive(Clone)]
pub struct HubSpotHandle {
    shared: Shared,
    portal: usize,
}

impl std::fmt::Debug for HubSpotHandle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HubSpotHandle")
            .finish_non_exhaustive()
    }
}

impl HubSpotHandle {
    fn store(&self) -> &Portal {
        &self.shared.portals[self.portal]
    }

    /// A handle on portal `index` (0 is the primary portal, 1 the first of
    /// `HubSpotConfig::portals`, …).
    ///
    /// # Panics
    /// When no such portal was configured.
    pub fn portal(&self, index: usize) -> HubSpotHandle {
        assert!(
            index < self.shared.portals.len(),
            "hubspot simulator has no portal {index}"
        );
        HubSpotHandle {
            shared: self.shared.clone(),
            portal: index,
        }
    }

    /// The requests this handle's portal served (after authentication), in order.
    pub fn portal_requests(&self) -> Vec<PortalRequest> {
        self.store()
            .requests
            .lock()
            .expect("hubspot request list poisoned")
            .clone()
    }

    /// The fault queue (`take_mutation` faults are honoured by list and search).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The app's webhooks: `subscribe` with the target URL and the app's client secret, and
    /// every create, update and archive through the API sends a v3-signed delivery.
    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.shared.webhooks
    }

    /// Requests served, by `METHOD path`.
    pub fn requests(&self) -> &RequestLog {
        &self.shared.log
    }

    /// Ids of the non-archived records of `object_type`, ascending numerically.
    pub fn ids(&self, object_type: &str) -> Vec<String> {
        let Some(object_type) = ObjectType::parse(object_type) else {
            return Vec::new();
        };
        self.store()
            .read()
            .records(object_type)
            .values()
            .filter(|record| record.archived_at.is_none())
            .map(|record| record.id.to_string())
            .collect()
    }

    /// The full stored record (every property), archived or not.
    pub fn record(&self, object_type: &str, id: &str) -> Option<Value> {
        let object_type = ObjectType::parse(object_type)?;
        let id: u64 = id.parse().ok()?;
        let store = self.store().read();
        let record = store.records(object_type).get(&id)?;
        Some(store::render_full(&store, object_type, record))
    }

    /// Sets property `name` of a record of `object_type` to `value` as is, past the checks a
    /// write goes through: tests plant values a portal may hold that the unified types do not
    /// (a number out of range, a date that does not parse). Returns whether the record exists.
    pub fn plant(&self, object_type: &str, id: &str, name: &str, value: &str) -> bool {
        let Some(object_type) = ObjectType::parse(object_type) else {
            return false;
        };
        let Ok(id) = id.parse::<u64>() else {
            return false;
        };
        self.store().write().plant(object_type, id, name, value)
    }

    /// Moves the simulated clock that OAuth token and code expiry follow.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.oauth.advance_clock(by);
    }

    /// Revokes every OAuth refresh token and the access tokens issued from them.
    pub fn revoke_all_refresh_tokens(&self) {
        self.shared.oauth.revoke_all_refresh_tokens();
    }

    /// Token-endpoint requests for the `authorization_code` and `refresh_token` grants,
    /// answered with tokens or refused.
    pub fn token_requests(&self) -> u64 {
        self.shared.oauth.token_requests()
    }

    /// Token-endpoint requests for the `refresh_token` grant.
    pub fn refresh_requests(&self) -> u64 {
        self.shared.oauth.refresh_requests()
    }

    /// The simulated portal's id (`hub_id` in OAuth token metadata, for the primary portal).
    pub fn hub_id(&self) -> u64 {
        oauth::HUB_ID + self.portal as u64
    }

    /// Requests each access token had let through and refused (429) by the rate limits, by
    /// token. Requests refused before counting (unknown token) are not included.
    pub fn token_counts(&self) -> std::collections::BTreeMap<String, TokenCounts> {
        self.shared.limits.counts()
    }

    /// Changes the rolling-window rate limit of every token.
    pub fn set_rate_limit(&self, per_interval: u32, interval_ms: u64) {
        self.shared.limits.set_rolling(per_interval, interval_ms);
    }

    /// Defines a custom property, as if created in the portal (Properties API shape; `name` is
    /// required, `type` defaults to `string`). An invalid definition is logged and ignored.
    pub fn add_property(&self, object_type: &str, definition: Value) {
        let Some(object_type) = ObjectType::parse(object_type) else {
            tracing::warn!(object_type, "add_property: unknown hubspot object type");
            return;
        };
        match PropertyDef::from_json(&definition, false) {
            Ok(definition) => {
                let mut store = self.store().write();
                if let Some(list) = store.properties.get_mut(&object_type) {
                    list.retain(|existing| existing.name != definition.name);
                    list.push(definition);
                }
            }
            Err(error) => tracing::warn!(error = %error, "add_property: invalid definition"),
        }
    }

    /// Archives a custom property, as if deleted in the portal: it leaves the Properties API,
    /// and writes naming it are refused (`PROPERTY_DOESNT_EXIST`). Returns whether it existed.
    pub fn archive_property(&self, object_type: &str, name: &str) -> bool {
        let Some(object_type) = ObjectType::parse(object_type) else {
            tracing::warn!(object_type, "archive_property: unknown hubspot object type");
            return false;
        };
        let mut store = self.store().write();
        let Some(list) = store.properties.get_mut(&object_type) else {
            return false;
        };
        let before = list.len();
        list.retain(|existing| existing.name != name || existing.hubspot_defined);
        list.len() != before
    }
}

/// Query parameters, keeping repeats (`properties=a&properties=b`).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<&str>) -> Params {
        Params(
            raw.and_then(|raw| serde_urlencoded::from_str::<Vec<(String, String)>>(raw).ok())
                .unwrap_or_default(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `key`, comma lists split, blanks dropped.
    fn list(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(name, _)| name == key)
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|value| value.eq_ignore_ascii_case("true"))
    }

    /// The query string with `after` replaced, for `paging.next.link`.
    fn with_after(&self, after: &str) -> String {
        let mut pairs: Vec<(&str, &str)> = self
            .0
            .iter()
            .filter(|(name, _)| name != "after")
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        pairs.push(("after", after));
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// Refuses over-long request targets (414), checks the Bearer token, picks the caller's portal,
/// counts the request against the rate limits and stamps the `X-HubSpot-RateLimit-*` headers on
/// the answer.
async fn guard(State(shared): State<Shared>, mut request: Request, next: Next) -> Response {
    let target = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |target| target.as_str().to_owned(),
    );
    if target.len() > shared.max_url_bytes {
        return errors::uri_too_long();
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned());
    let Some(token) = token else {
        return errors::unauthenticated();
    };
    let portal_index = match shared.tokens.get(&token) {
        Some(index) => *index,
        None => match shared.oauth.access_status(&token) {
            AccessStatus::Valid { .. } => 0,
            AccessStatus::Expired { expired_for } => return errors::expired_token(expired_for),
            AccessStatus::Unknown => return errors::unauthenticated(),
        },
    };
    let portal = shared.portals[portal_index].clone();
    request.extensions_mut().insert(portal.clone());
    let method = request.method().clone();
    let is_search = method == Method::POST && request.uri().path().ends_with("/search");
    let response = match shared.limits.check(&token, is_search) {
        Ok(headers) => {
            let mut response = next.run(request).await;
            headers.apply(response.headers_mut());
            response
        }
        Err((policy, headers)) => errors::rate_limited(policy, Some(headers), None),
    };
    portal
        .requests
        .lock()
        .expect("hubspot request list poisoned")
        .push(PortalRequest {
            method: method.to_string(),
            target,
            status: response.status().as_u16(),
        });
    response
}

/// Builds one portal's store: the seeded data plus its extra custom properties and their values.
fn portal_store(config: &HubSpotConfig, custom_properties: &[CustomProperty]) -> Portal {
    let mut seed_rng = StdRng::seed_from_u64(config.seed);
    let mutation_rng = StdRng::seed_from_u64(config.seed.wrapping_add(0x5eed));
    let mut store = Store::new(mutation_rng);
    seed::seed(&mut store, &mut seed_rng, config);
    for custom in custom_properties {
        let Some(object_type) = ObjectType::parse(&custom.object_type) else {
            tracing::warn!(object_type = %custom.object_type, "unknown hubspot object type of a custom property");
            continue;
        };
        match PropertyDef::from_json(&custom.definition, false) {
            Ok(definition) => seed::add_custom_property(&mut store, object_type, definition),
            Err(error) => tracing::warn!(error = %error, "invalid custom property definition"),
        }
    }
    Portal {
        store: Arc::new(RwLock::new(store)),
        requests: Arc::new(Mutex::new(Vec::new())),
    }
}

/// Builds the simulator's router over freshly seeded data.
pub fn router(config: HubSpotConfig) -> (Router, HubSpotHandle) {
    let mut portals = vec![portal_store(&config, &config.custom_properties)];
    let mut tokens: HashMap<String, usize> = config
        .access_tokens
        .iter()
        .map(|token| (token.clone(), 0))
        .collect();
    for (idx, portal) in config.portals.iter().enumerate() {
        portals.push(portal_store(&config, &portal.custom_properties));
        for token in &portal.access_tokens {
            tokens.insert(token.clone(), idx + 1);
        }
    }
    let shared = Shared {
        portals: Arc::new(portals),
        limits: Arc::new(limits::RateLimits::new(
            config.rate_limit_per_interval,
            config.rate_limit_interval_ms,
            config.search_per_second,
            config.daily_limit,
        )),
        faults: Faults::default(),
        log: RequestLog::default(),
        tokens: Arc::new(tokens),
        oauth: Arc::new(OAuthServer::new(OAuthSettings {
            clients: config.oauth_clients.clone(),
            access_token_ttl: Duration::from_secs(config.access_token_ttl_secs),
            rotate_refresh_tokens: config.rotate_refresh_tokens,
            access_token_prefix: "CN".to_owned(),
        })),
        max_url_bytes: config.max_url_bytes,
        webhooks: crate::webhooks::Webhooks::default(),
    };
    let api = Router::new()
        .route(
            "/crm/v3/objects/{object_type}",
            get(objects::list).post(objects::create),
        )
        .route(
            "/crm/v3/objects/{object_type}/search",
            axum::routing::post(search::search),
        )
        .route(
            "/crm/v3/objects/{object_type}/batch/read",
            axum::routing::post(objects::batch_read),
        )
        .route(
            "/crm/v3/objects/{object_type}/{id}",
            get(objects::read)
                .patch(objects::update)
                .delete(objects::archive),
        )
        .route(
            "/crm/v3/properties/{object_type}",
            get(meta::list_properties).post(meta::create_property),
        )
        .route(
            "/crm/v3/properties/{object_type}/{name}",
            get(meta::read_property).patch(meta::update_property),
        )
        .route("/crm/v3/owners", get(meta::list_owners))
        .route("/crm/v3/owners/", get(meta::list_owners))
        .route("/crm/v3/owners/{owner_id}", get(meta::read_owner))
        .route("/crm/v3/pipelines/{object_type}", get(meta::list_pipelines))
        .route(
            "/crm/v3/pipelines/{object_type}/{pipeline_id}",
            get(meta::read_pipeline),
        )
        .route(
            "/crm/v3/pipelines/{object_type}/{pipeline_id}/stages",
            get(meta::list_stages),
        )
        .route(
            "/crm/v4/objects/{from}/{id}/associations/{to}",
            get(meta::list_associations),
        )
        .route(
            "/crm/v3/associations/{from}/{to}/batch/read",
            axum::routing::post(meta::batch_read_associations),
        )
        .with_state(shared.clone())
        .layer(axum::Extension(shared.webhooks.clone()))
        .layer(middleware::from_fn_with_state(shared.clone(), guard));
    let fault_state = FaultLayerState {
        faults: shared.faults.clone(),
        log: shared.log.clone(),
        throttle: Arc::new(|retry_after_secs| {
            errors::rate_limited(limits::Policy::TenSecondlyRolling, None, retry_after_secs)
        }),
    };
    let auth = Router::new()
        .route("/oauth/authorize", get(oauth::authorize))
        .route("/oauth/v1/token", axum::routing::post(oauth::token))
        .route(
            "/oauth/v1/access-tokens/{token}",
            get(oauth::access_token_info),
        )
        .route(
            "/oauth/v1/refresh-tokens/{token}",
            get(oauth::refresh_token_info).delete(oauth::delete_refresh_token),
        )
        .with_state(shared.clone());
    let app = api
        .merge(auth)
        .merge(control_routes(shared.faults.clone(), shared.log.clone()))
        .layer(middleware::from_fn_with_state(
            fault_state,
            fault_middleware,
        ));
    (app, HubSpotHandle { shared, portal: 0 })
}

/// Seeds a simulator and serves it on `addr` (use `127.0.0.1:0` in tests).
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn spawn(
    config: HubSpotConfig,
    addr: SocketAddr,
) -> std::io::Result<(RunningSimulator, HubSpotHandle)> {
    let (app, handle) = router(config);
    let running = crate::serve(addr, app).await?;
    Ok((running, handle))
}

/// The HubSpot simulator's registry line (see [`crate::registry`]).
#[derive(Debug)]
pub struct HubSpot;

impl crate::Simulator for HubSpot {
    const CONNECTOR: &'static str = "hubspot";
    const WIRING: &'static str = include_str!("../../../../connectors/hubspot/simulator.yaml");
    type Config = HubSpotConfig;
    type Handle = HubSpotHandle;

    fn config(profile: crate::Profile) -> HubSpotConfig {
        match profile {
            crate::Profile::Demo => HubSpotConfig::default(),
            crate::Profile::Test => HubSpotConfig {
                contacts: 1_200,
                companies: 300,
                deals: 300,
                notes: 200,
                tasks: 200,
                calls: 100,
                meetings: 100,
                emails: 100,
                leads: 150,
                owners: 10,
                rate_limit_per_interval: 1_000_000,
                search_per_second: 1_000_000,
                daily_limit: None,
                ..HubSpotConfig::default()
            },
        }
    }

    fn token(config: &HubSpotConfig) -> String {
        config.access_tokens.first().cloned().unwrap_or_default()
    }

    fn router(config: HubSpotConfig) -> (Router, HubSpotHandle) {
        router(config)
    }

    fn faults(handle: &HubSpotHandle) -> &Faults {
        handle.faults()
    }

    fn requests(handle: &HubSpotHandle) -> &RequestLog {
        handle.requests()
    }

    fn ids(handle: &HubSpotHandle, object: &str) -> Vec<String> {
        handle.ids(object)
    }
}

/// The portal id HubSpot's deliveries name.
pub const WEBHOOK_PORTAL_ID: u64 = 62515;

/// The v3 signature: base64 HMAC-SHA256, keyed with the app's client secret, of
/// method + URI + body + timestamp (milliseconds).
pub fn sign_v3(
    client_secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_ms: i64,
) -> String {
    let mut message = Vec::with_capacity(body.len() + uri.len() + 32);
    message.extend_from_slice(method.as_bytes());
    message.extend_from_slice(uri.as_bytes());
    message.extend_from_slice(body);
    message.extend_from_slice(timestamp_ms.to_string().as_bytes());
    crate::webhooks::hmac_sha256_base64(client_secret.as_bytes(), &message)
}

/// What happened to a record, as a subscription type's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
    Deleted,
}

/// Sends the delivery of one change: a JSON array of one event, signed (v3) at send time.
pub(crate) fn emit_change(
    webhooks: &crate::webhooks::Webhooks,
    object_type: ObjectType,
    id: u64,
    change: Change,
) {
    let prefix = match object_type {
        ObjectType::Contacts => "contact",
        ObjectType::Companies => "company",
        ObjectType::Deals => "deal",
        _ => return,
    };
    let event_id = webhooks.next_event();
    webhooks.emit(|subscription| {
        let now = chrono::Utc::now().timestamp_millis();
        let suffix = match change {
            Change::Created => "creation",
            Change::Updated => "propertyChange",
            Change::Deleted => "deletion",
        };
        let body = serde_json::json!([{
            "eventId": event_id,
            "subscriptionId": 1,
            "portalId": WEBHOOK_PORTAL_ID,
            "appId": 54321,
            "occurredAt": now,
            "subscriptionType": format!("{prefix}.{suffix}"),
            "attemptNumber": 0,
            "objectId": id,
            "changeSource": "CRM",
            "changeFlag": match change { Change::Created => "NEW", Change::Updated => "UPDATED", Change::Deleted => "DELETED" },
        }])
        .to_string()
        .into_bytes();
        let signature = sign_v3(&subscription.secret, "POST", &subscription.url, &body, now);
        crate::webhooks::Delivery {
            url: subscription.url.clone(),
            headers: vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("X-HubSpot-Signature-v3".to_owned(), signature),
                ("X-HubSpot-Request-Timestamp".to_owned(), now.to_string()),
            ],
            body,
        }
    });
}
