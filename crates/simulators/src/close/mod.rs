//! The Close simulator: REST API v1 leads (with their contacts), contacts, opportunities,
//! activities (calls, meetings, emails, notes), tasks, users, pipelines and opportunity
//! statuses, custom fields of leads, contacts and opportunities, and the event log, over
//! deterministically seeded data; and Close's OAuth endpoints.
//!
//! The base URL stands for `https://api.close.com` (paths `/api/v1/…`, with their trailing
//! slash) and for the authorization server (`/oauth2/authorize/`, `/oauth2/token/`). What it
//! answers, checked against Close's published documentation (developer.close.com) and the
//! recorded answers in `shared/recorded-payloads/close`:
//! * auth is HTTP Basic with the API key as the user and an empty password, or
//!   `Authorization: Bearer <token>` from OAuth (tokens last an hour); anything else is 401;
//! * lists answer `{"data": [...], "has_more": bool}` (`/lead/` adds `total_results`) and
//!   page by `_skip`/`_limit`; a `_limit` above 200 or a `_skip` above the maximum skip is
//!   refused with 400 (the docs: "a maximum `_skip` limit which varies per resource", deep
//!   lists are to be sliced by `date_created`);
//! * `date_created__gt|gte|lt|lte` and `date_updated__gt|gte|lt|lte` filter, `_order_by`
//!   sorts (`date_created`, `-date_created`, `date_updated`, `-date_updated`), `_fields`
//!   picks keys, `lead_id`, `contact_id` and `id__in` select;
//! * custom field values are top-level `custom.cf_…` keys, defined under
//!   `/custom_field/{lead,contact,opportunity}/`;
//! * opportunity values are in cents; a contact or an opportunity written without `lead_id`
//!   gets a new lead (documented for opportunities);
//! * every change is written to the event log (`/event/`, newest first, `_cursor` paging with
//!   `cursor_next`, at most 50 a page, 30 days kept); deletes have `data: null`;
//! * rate limits per endpoint group (the method's kind and the path's first segment), answered
//!   in the `RateLimit: limit=…, remaining=…, reset=…` header, and `429` with
//!   `{"error": {"rate_reset": …, …}}` past them;
//! * validation errors are `400 {"errors": [], "field-errors": {field: message}}`, a missing
//!   record `404 {"error": "…"}`;
//! * webhook subscriptions (`POST /webhook/` with `url` and `events`, `{object_type, action}`
//!   pairs; `DELETE /webhook/{id}/`) answer a `signature_key` (hex) Close makes; each
//!   event-log event a subscription takes is posted as `{"subscription_id", "event"}` with
//!   `close-sig-hash`, the hex HMAC-SHA256 of `close-sig-timestamp` (Unix seconds) followed
//!   by the body, keyed with the decoded signature key. [`CloseHandle::webhooks`] makes them
//!   drop, wait, repeat and reorder.
//!
//! Not checked against a published description (Close publishes none we hold), so these are
//! the simulator's choices: the maximum `_skip` (here 2,500 records), the error bodies' exact
//! text, the 429 body's fields beyond `rate_reset`, the endpoint groups' limits, `email` and
//! `id__in` as list filters, activities and tasks written without a lead (taken from their
//! contact, else a new lead), notes' `title`, and the default order (newest first).

#[allow(
    clippy::result_large_err,
    reason = "handlers answer early with a ready error response"
)]
mod routes;
mod seed;
mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

use crate::oauth::{OAuthServer, OAuthSettings};
use crate::{Faults, RequestLog, RunningSimulator};

use store::Store;

/// What the simulated organization holds and how it limits callers.
#[derive(Debug, Clone)]
pub struct CloseConfig {
    pub seed: u64,
    pub leads: usize,
    pub contacts: usize,
    pub opportunities: usize,
    pub calls: usize,
    pub meetings: usize,
    pub emails: usize,
    pub notes: usize,
    pub tasks: usize,
    pub users: usize,
    /// API keys accepted (the demo's connection uses the first).
    pub api_keys: Vec<String>,
    /// Registered OAuth `(client_id, client_secret)` pairs.
    pub clients: Vec<(String, String)>,
    /// The largest `_skip` a list takes.
    pub max_skip: u64,
    /// Requests per endpoint group in each window.
    pub rate_limit: u64,
    /// The window of the per-group limits.
    pub rate_window: Duration,
}

impl Default for CloseConfig {
    fn default() -> CloseConfig {
        CloseConfig {
            seed: 20,
            leads: 2_500,
            contacts: 6_000,
            opportunities: 2_000,
            calls: 1_000,
            meetings: 600,
            emails: 600,
            notes: 1_500,
            tasks: 1_500,
            users: 12,
            api_keys: vec!["api_closesimkey0000000000000000.demo".to_owned()],
            clients: vec![(
                "oa2client_closesim".to_owned(),
                "close-sim-secret".to_owned(),
            )],
            max_skip: 2_500,
            rate_limit: 40,
            rate_window: Duration::from_secs(1),
        }
    }
}

/// One endpoint group's window: when it started and how many requests it counted.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: std::time::Instant,
    count: u64,
}

/// State shared by the handlers. One lock for the data; never held across an await.
pub(crate) struct Shared {
    store: RwLock<Store>,
    faults: Faults,
    log: RequestLog,
    api_keys: Vec<String>,
    oauth: OAuthServer,
    max_skip: u64,
    rate_limit: u64,
    rate_window: Duration,
    windows: Mutex<std::collections::HashMap<String, Window>>,
    /// Webhook deliveries of event-log events (`POST /webhook/` subscribes).
    webhooks: crate::webhooks::Webhooks,
    /// The webhook subscription, and how much of the event log was delivered.
    hook: Mutex<Hook>,
}

/// The simulator's one webhook subscription.
#[derive(Debug, Default)]
struct Hook {
    /// `(id, events)`: the subscription's id and the `(object_type, action)` pairs it takes.
    subscription: Option<(String, Vec<(String, String)>)>,
    /// Events of the log before this index were delivered (or happened before subscribing).
    sent: usize,
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().expect("close store poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().expect("close store poisoned")
    }

    /// Sends a webhook for each event-log event since the last call that the subscription
    /// takes, the way Close does: `{"subscription_id", "event"}`, signed with
    /// `close-sig-hash` (hex HMAC-SHA256 of `close-sig-timestamp` and the body, keyed with
    /// the hex-decoded signature key).
    pub(crate) fn send_events(&self) {
        let mut hook = self.hook.lock().expect("hook poisoned");
        let events: Vec<Value> = {
            let store = self.read();
            let new = store.events.get(hook.sent..).unwrap_or_default().to_vec();
            hook.sent = store.events.len();
            new
        };
        let Some((id, wanted)) = hook.subscription.clone() else {
            return;
        };
        drop(hook);
        for event in events {
            let takes = wanted.is_empty()
                || wanted.iter().any(|(object_type, action)| {
                    event["object_type"] == object_type.as_str()
                        && event["action"] == action.as_str()
                });
            if !takes {
                continue;
            }
            let body = serde_json::json!({"subscription_id": id, "event": event})
                .to_string()
                .into_bytes();
            self.webhooks.emit(|subscription| {
                let timestamp = chrono::Utc::now().timestamp().to_string();
                let mut signed = timestamp.clone().into_bytes();
                signed.extend_from_slice(&body);
                let key = decode_hex(&subscription.secret).unwrap_or_default();
                crate::webhooks::Delivery {
                    url: subscription.url.clone(),
                    headers: vec![
                        ("Content-Type".to_owned(), "application/json".to_owned()),
                        ("close-sig-hash".to_owned(), sign(&key, &signed)),
                        ("close-sig-timestamp".to_owned(), timestamp),
                    ],
                    body,
                }
            });
        }
    }

    /// Counts a request of `group`: `(limit, remaining, reset seconds)`, `remaining` `None`
    /// when the group's window is spent.
    fn take(&self, group: &str) -> (u64, Option<u64>, f64) {
        let mut windows = self.windows.lock().expect("windows poisoned");
        let now = std::time::Instant::now();
        let window = windows.entry(group.to_owned()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(window.started) >= self.rate_window {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        let reset = self
            .rate_window
            .saturating_sub(now.duration_since(window.started))
            .as_secs_f64();
        if window.count >= self.rate_limit {
            return (self.rate_limit, None, reset);
        }
        window.count += 1;
        (self.rate_limit, Some(self.rate_limit - window.count), reset)
    }
}

/// The hex HMAC-SHA256 of `message` under `key`, as Close signs webhooks.
pub fn sign(key: &[u8], message: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// Test and demo access to a running simulator's state.
#[derive(Clone)]
pub struct CloseHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CloseHandle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CloseHandle")
            .finish_non_exhaustive()
    }
}

impl CloseHandle {
    /// The fault queue (mutation faults are honoured by lists).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Requests served, by `METHOD path`.
    pub fn requests(&self) -> &RequestLog {
        &self.shared.log
    }

    /// The simulated authorization server.
    pub fn oauth(&self) -> &OAuthServer {
        &self.shared.oauth
    }

    /// Ids of the live records of `object` (`lead`, `contact`, `opportunity`, `task`,
    /// `activity`, `call`, `meeting`, `email`, `note`, `user`, `pipeline`) in creation order.
    pub fn ids(&self, object: &str) -> Vec<String> {
        self.shared.read().ids(object)
    }

    /// The record as a get shows it.
    pub fn record(&self, object: &str, id: &str) -> Option<Value> {
        let store = self.shared.read();
        let (table, _) = store::table_of(object)?;
        let row = store.find(table, id)?;
        Some(store.render(table, row))
    }

    /// Deletes a record as a user would in the app (an event log entry is written).
    pub fn delete(&self, object: &str, id: &str) -> bool {
        let Some((table, _)) = store::table_of(object) else {
            return false;
        };
        let deleted = self.shared.write().delete(table, id);
        self.shared.send_events();
        deleted
    }

    /// The webhooks: `POST /api/v1/webhook/` subscribes (with a signature key Close makes),
    /// as `subscribe` does; every event-log event after it is delivered.
    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.shared.webhooks
    }

    /// The webhook subscription's id, when there is one.
    pub fn webhook_subscription(&self) -> Option<String> {
        self.shared
            .hook
            .lock()
            .expect("hook poisoned")
            .subscription
            .as_ref()
            .map(|(id, _)| id.clone())
    }

    /// The event log, newest first.
    pub fn events(&self) -> Vec<Value> {
        self.shared.read().events.iter().rev().cloned().collect()
    }
}

/// Builds the simulator's router over freshly seeded data.
pub fn router(config: CloseConfig) -> (axum::Router, CloseHandle) {
    let mut seed_rng = StdRng::seed_from_u64(config.seed);
    let mut store = Store::new(StdRng::seed_from_u64(config.seed ^ 0xc105e));
    seed::seed(&mut store, &mut seed_rng, &config);
    let shared = Arc::new(Shared {
        store: RwLock::new(store),
        faults: Faults::default(),
        log: RequestLog::default(),
        api_keys: config.api_keys.clone(),
        oauth: OAuthServer::new(OAuthSettings {
            clients: config.clients.clone(),
            access_token_ttl: Duration::from_secs(3_600),
            rotate_refresh_tokens: false,
            access_token_prefix: "close_at_".to_owned(),
        }),
        max_skip: config.max_skip,
        rate_limit: config.rate_limit,
        rate_window: config.rate_window,
        windows: Mutex::new(std::collections::HashMap::new()),
        webhooks: crate::webhooks::Webhooks::default(),
        hook: Mutex::new(Hook::default()),
    });
    let router = routes::build(Arc::clone(&shared));
    (router, CloseHandle { shared })
}

/// Seeds a simulator and serves it on `addr` (use `127.0.0.1:0` in tests).
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn spawn(
    config: CloseConfig,
    addr: SocketAddr,
) -> std::io::Result<(RunningSimulator, CloseHandle)> {
    let (router, handle) = router(config);
    let running = crate::serve(addr, router).await?;
    Ok((running, handle))
}

/// The Close simulator's registry line (see [`crate::registry`]).
#[derive(Debug)]
pub struct Close;

impl crate::Simulator for Close {
    const CONNECTOR: &'static str = "closecrm";
    const WIRING: &'static str = include_str!("../../../../connectors/closecrm/simulator.yaml");
    type Config = CloseConfig;
    type Handle = CloseHandle;

    fn config(profile: crate::Profile) -> CloseConfig {
        match profile {
            crate::Profile::Demo => CloseConfig::default(),
            crate::Profile::Test => CloseConfig {
                leads: 300,
                contacts: 1_100,
                opportunities: 200,
                calls: 100,
                meetings: 60,
                emails: 60,
                notes: 150,
                tasks: 150,
                users: 6,
                // Below the contacts seeded, so walks must slice by date past it.
                max_skip: 500,
                rate_limit: u64::MAX / 2,
                ..CloseConfig::default()
            },
        }
    }

    fn token(config: &CloseConfig) -> String {
        config.api_keys.first().cloned().unwrap_or_default()
    }

    fn router(config: CloseConfig) -> (axum::Router, CloseHandle) {
        router(config)
    }

    fn faults(handle: &CloseHandle) -> &Faults {
        handle.faults()
    }

    fn requests(handle: &CloseHandle) -> &RequestLog {
        handle.requests()
    }

    fn ids(handle: &CloseHandle, object: &str) -> Vec<String> {
        handle.ids(object)
    }

    fn delete(handle: &CloseHandle, object: &str, id: &str) -> bool {
        handle.delete(object, id)
    }
}
