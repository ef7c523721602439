//! The Zoho CRM simulator: REST API v8 records of Contacts, Accounts, Deals, Leads, Notes,
//! Tasks, Calls and Events, their search, deleted listings and field settings, users and the
//! Deals pipelines, over deterministically seeded data; and the accounts server's OAuth
//! endpoints.
//!
//! The base URL stands for both `https://www.zohoapis.com` (paths `/crm/v8/…`) and the
//! accounts server (`/oauth/v2/auth`, `/oauth/v2/token`); the token answer's `api_domain` is
//! the simulator's own origin. Answers follow the stored v8 description
//! (`shared/vendor-specs/zoho`); where it leaves room, the choices are:
//! * auth is `Authorization: Zoho-oauthtoken <token>` (a `Bearer` token is refused with 401
//!   `INVALID_TOKEN`, as an expired one is); OAuth access tokens last an hour, and one refresh
//!   token gives at most 10 access tokens in 10 minutes (more answers `Access Denied`);
//! * record lists need `fields` (at most 50 known API names), sort by `id` (default `desc`),
//!   `Created_Time` or `Modified_Time`, page by `page`/`per_page` (≤ 200) up to 2,000
//!   records (`DISCRETE_PAGINATION_LIMIT_EXCEEDED` past them) and by `page_token` anywhere:
//!   a token is keyset (the records after the last one served), lasts 24 hours and belongs to
//!   its module, sort and filters; an empty page is `204 No Content`;
//! * `If-Modified-Since` keeps records modified strictly after it; nothing left is `304`;
//! * a missing record of a well-formed id is 404 `NOT_FOUND`, a malformed id 400
//!   `INVALID_DATA`; deleted records go to the recycle bin (`/{module}/deleted`, newest first,
//!   `If-Modified-Since` on `deleted_time`);
//! * writes check types, picklists, lookups and mandatory fields per record and answer one
//!   entry per record (201/200 all written, 400 none, 207 some);
//! * `settings/pipeline` takes `layout_id` optionally (the standard Deals layout);
//! * limits: a concurrency limit per org and API credits per day (one per call), both 429
//!   `TOO_MANY_REQUESTS`; every answer carries `X-RATELIMIT-DAY-LIMIT` and
//!   `X-RATELIMIT-DAY-REMAINING`.
//!
//! * the Notification API (`/crm/v8/actions/watch`): one channel (`POST` enables it, `PUT`
//!   updates it, `DELETE ?channel_ids=` removes it); a channel needs `channel_id` (digits),
//!   `events` (`Module.all|create|edit|delete`), `notify_url` and a `channel_expiry` in the
//!   future and at most a week away (one day when left out), and `token` is at most 50
//!   characters; while it lasts, a record written through the API is posted to `notify_url`
//!   as Zoho does (`module`, `ids`, `operation`, `channel_id`, `server_time`, the `token`
//!   echoed, no signature) through [`crate::webhooks::Webhooks`].
//!
//! Left out: COQL, bulk APIs, converting leads, layouts, tags, attachments.

#[allow(
    clippy::result_large_err,
    reason = "handlers answer early with a ready error response"
)]
mod routes;
mod seed;
mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

use crate::oauth::{OAuthServer, OAuthSettings};
use crate::{Faults, RequestLog, RunningSimulator};

use store::{Module, Store};

/// What the simulated org holds and how it limits callers.
#[derive(Debug, Clone)]
pub struct ZohoConfig {
    pub seed: u64,
    pub contacts: usize,
    pub accounts: usize,
    pub deals: usize,
    pub leads: usize,
    pub notes: usize,
    pub tasks: usize,
    pub calls: usize,
    pub events: usize,
    pub users: usize,
    /// Access tokens accepted for ever (the demo's connection); OAuth ones last an hour.
    pub access_tokens: Vec<String>,
    /// Registered OAuth `(client_id, client_secret)` pairs.
    pub clients: Vec<(String, String)>,
    /// The data centre the redirect names (`location`).
    pub location: String,
    /// Concurrent calls the org allows.
    pub concurrency_limit: u32,
    /// API credits per day (one per call).
    pub credits_per_day: u64,
}

impl Default for ZohoConfig {
    fn default() -> ZohoConfig {
        ZohoConfig {
            seed: 19,
            contacts: 6_000,
            accounts: 1_500,
            deals: 2_000,
            leads: 1_000,
            notes: 1_500,
            tasks: 1_500,
            calls: 1_000,
            events: 800,
            users: 20,
            access_tokens: vec!["1000.zoho-sim-token".to_owned()],
            clients: vec![(
                "1000.ZOHOSIMCLIENT".to_owned(),
                "zoho-sim-secret".to_owned(),
            )],
            location: "us".to_owned(),
            concurrency_limit: 15,
            credits_per_day: 100_000,
        }
    }
}

/// API credits of a rolling day, counted from the first call of the day.
struct Credits {
    limit: u64,
    spent: Mutex<(Instant, u64)>,
}

impl Credits {
    /// Spends one credit: the day's limit and what is left after it (`None`: none was left).
    fn take(&self) -> (u64, Option<u64>) {
        let mut spent = self.spent.lock().expect("credits poisoned");
        if spent.0.elapsed() >= Duration::from_secs(86_400) {
            *spent = (Instant::now(), 0);
        }
        if spent.1 >= self.limit {
            return (self.limit, None);
        }
        spent.1 += 1;
        (self.limit, Some(self.limit - spent.1))
    }
}

/// State shared by the handlers. One lock for the data; never held across an await.
pub(crate) struct Shared {
    store: RwLock<Store>,
    faults: Faults,
    log: RequestLog,
    access_tokens: Vec<String>,
    oauth: OAuthServer,
    location: String,
    concurrency_limit: u32,
    in_flight: AtomicU32,
    credits: Credits,
    /// Access tokens handed out per refresh token, by time on the OAuth clock (ms).
    refreshes: Mutex<HashMap<String, Vec<u128>>>,
    /// The notification channel (`/actions/watch`), if one is enabled.
    watch: Mutex<Option<Watch>>,
    /// Notifications of record changes, sent while the channel lasts.
    webhooks: crate::webhooks::Webhooks,
}

/// A notification channel as enabled or last updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub channel_id: String,
    pub events: Vec<String>,
    pub notify_url: String,
    pub token: Option<String>,
    pub channel_expiry: chrono::DateTime<chrono::Utc>,
    /// How many times it was updated (`PUT`) since it was enabled.
    pub updates: u32,
}

impl Shared {
    /// Posts a notification of `operation` (`insert`, `update`, `delete`) on `ids` of
    /// `module`, when the channel lasts and watches it.
    fn notify(&self, module: Module, ids: &[String], operation: &str) {
        if ids.is_empty() {
            return;
        }
        let Some(watch) = self.watch.lock().expect("watch poisoned").clone() else {
            return;
        };
        if watch.channel_expiry <= chrono::Utc::now() {
            return;
        }
        let action = match operation {
            "insert" => "create",
            "update" => "edit",
            _ => "delete",
        };
        let name = module.name();
        if !watch
            .events
            .iter()
            .any(|event| *event == format!("{name}.all") || *event == format!("{name}.{action}"))
        {
            return;
        }
        let location = self.location.clone();
        self.webhooks.emit(|subscription| {
            let body = serde_json::json!({
                "server_time": chrono::Utc::now().timestamp_millis(),
                "query_params": {},
                "module": name,
                "resource_uri": format!("https://www.zohoapis.com/crm/v8/{name}"),
                "ids": ids,
                "affected_fields": [],
                "operation": operation,
                "channel_id": watch.channel_id,
                "token": watch.token,
                "location": location,
            });
            crate::webhooks::Delivery {
                url: subscription.url.clone(),
                headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
                body: body.to_string().into_bytes(),
            }
        });
    }
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().expect("zoho store poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().expect("zoho store poisoned")
    }

    /// Whether `refresh_token` may have another access token (10 per 10 minutes); counts it.
    fn refresh_allowed(&self, refresh_token: &str) -> bool {
        let now = self.oauth.now_epoch_ms();
        let mut refreshes = self.refreshes.lock().expect("refreshes poisoned");
        let times = refreshes.entry(refresh_token.to_owned()).or_default();
        times.retain(|at| now.saturating_sub(*at) < 600_000);
        if times.len() >= 10 {
            return false;
        }
        times.push(now);
        true
    }
}

/// Test and demo access to a running simulator's state.
#[derive(Clone)]
pub struct ZohoHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ZohoHandle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("ZohoHandle").finish_non_exhaustive()
    }
}

impl ZohoHandle {
    /// The fault queue (mutation faults are honoured by record lists and search).
    /// The notifications sent while the channel lasts (faults, flushing, what was sent).
    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.shared.webhooks
    }

    /// The notification channel, if one is enabled.
    pub fn watch(&self) -> Option<Watch> {
        self.shared.watch.lock().expect("watch poisoned").clone()
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Requests served, by `METHOD path`.
    pub fn requests(&self) -> &RequestLog {
        &self.shared.log
    }

    /// The simulated authorization server (tests move its clock and read its counters).
    pub fn oauth(&self) -> &OAuthServer {
        &self.shared.oauth
    }

    /// Ids of the live records of `module` (`Contacts`, `Accounts`, …) in creation order;
    /// empty for unknown modules.
    pub fn ids(&self, module: &str) -> Vec<String> {
        let Some(module) = Module::parse(module) else {
            return Vec::new();
        };
        self.shared
            .read()
            .table(module)
            .rows
            .keys()
            .map(u64::to_string)
            .collect()
    }

    /// The record as `GET /crm/v8/{module}/{id}` shows it.
    pub fn record(&self, module: &str, id: &str) -> Option<Value> {
        let module = Module::parse(module)?;
        let store = self.shared.read();
        let row = store.table(module).rows.get(&id.parse().ok()?)?;
        Some(store.render(module, row, None))
    }

    /// Sets field `api_name` of a record of `module` to `value` as is, past the checks a write
    /// goes through and without touching its modified time: tests plant values an org may hold
    /// that the unified types do not (a number out of range, a date that does not parse).
    /// Returns whether the record exists.
    pub fn plant(&self, module: &str, id: &str, api_name: &str, value: Value) -> bool {
        let (Some(module), Ok(id)) = (Module::parse(module), id.parse::<u64>()) else {
            return false;
        };
        let mut store = self.shared.write();
        let Some(row) = store.table_mut(module).rows.get_mut(&id) else {
            return false;
        };
        row.fields.insert(api_name.to_owned(), value);
        true
    }

    /// Ids in the recycle bin of `module`.
    pub fn deleted_ids(&self, module: &str) -> Vec<String> {
        let Some(module) = Module::parse(module) else {
            return Vec::new();
        };
        self.shared
            .read()
            .table(module)
            .deleted
            .iter()
            .map(|entry| entry.id.to_string())
            .collect()
    }
}

/// Builds the simulator's router over freshly seeded data.
pub fn router(config: ZohoConfig) -> (axum::Router, ZohoHandle) {
    let mut seed_rng = StdRng::seed_from_u64(config.seed);
    let mut store = Store::new(StdRng::seed_from_u64(config.seed ^ 0x20_4f48_4f00));
    seed::seed(&mut store, &mut seed_rng, &config);
    let shared = Arc::new(Shared {
        store: RwLock::new(store),
        faults: Faults::default(),
        log: RequestLog::default(),
        access_tokens: config.access_tokens.clone(),
        oauth: OAuthServer::new(OAuthSettings {
            clients: config.clients.clone(),
            access_token_ttl: Duration::from_secs(3_600),
            rotate_refresh_tokens: false,
            access_token_prefix: "1000.".to_owned(),
        }),
        location: config.location.clone(),
        concurrency_limit: config.concurrency_limit,
        in_flight: AtomicU32::new(0),
        credits: Credits {
            limit: config.credits_per_day,
            spent: Mutex::new((Instant::now(), 0)),
        },
        refreshes: Mutex::new(HashMap::new()),
        watch: Mutex::new(None),
        webhooks: crate::webhooks::Webhooks::default(),
    });
    let router = routes::build(Arc::clone(&shared));
    (router, ZohoHandle { shared })
}

/// Seeds a simulator and serves it on `addr` (use `127.0.0.1:0` in tests).
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn spawn(
    config: ZohoConfig,
    addr: SocketAddr,
) -> std::io::Result<(RunningSimulator, ZohoHandle)> {
    let (router, handle) = router(config);
    let running = crate::serve(addr, router).await?;
    Ok((running, handle))
}

/// The Zoho CRM simulator's registry line (see [`crate::registry`]).
#[derive(Debug)]
pub struct Zoho;

impl crate::Simulator for Zoho {
    const CONNECTOR: &'static str = "zoho";
    const WIRING: &'static str = include_str!("../../../../connectors/zoho/simulator.yaml");
    type Config = ZohoConfig;
    type Handle = ZohoHandle;

    fn config(profile: crate::Profile) -> ZohoConfig {
        match profile {
            crate::Profile::Demo => ZohoConfig::default(),
            crate::Profile::Test => ZohoConfig {
                contacts: 1_100,
                accounts: 200,
                deals: 200,
                leads: 120,
                notes: 150,
                tasks: 150,
                calls: 120,
                events: 100,
                users: 8,
                concurrency_limit: 1_000_000,
                credits_per_day: u64::MAX / 2,
                ..ZohoConfig::default()
            },
        }
    }

    fn token(config: &ZohoConfig) -> String {
        config.access_tokens.first().cloned().unwrap_or_default()
    }

    fn router(config: ZohoConfig) -> (axum::Router, ZohoHandle) {
        router(config)
    }

    fn faults(handle: &ZohoHandle) -> &Faults {
        handle.faults()
    }

    fn requests(handle: &ZohoHandle) -> &RequestLog {
        handle.requests()
    }

    fn ids(handle: &ZohoHandle, object: &str) -> Vec<String> {
        handle.ids(object)
    }
}
