//! The BambooHR simulator: employees (the cursor-paged `/api/v1/employees` list, reads of
//! single employees by field name, creates and updates), `/employees/changed` for increments
//! and deletes, employee tables (`jobInfo`, `compensation`, `bonus`, `employmentStatus`),
//! `/meta/fields` with custom fields, and time off (types, requests, their status, the balance calculator),
//! over a deterministically seeded company.
//!
//! The base URL stands for `https://{companyDomain}.bamboohr.com`; every path is `/api/v1/…`.
//! Auth is HTTP Basic with an API key as the user name (any password) or an OAuth Bearer token.
//! Answers follow the stored OpenAPI description (`shared/vendor-specs/bamboohr`); where it
//! leaves room or differs from the live API (recorded in `shared/recorded-payloads/bamboohr`),
//! the live API wins:
//! * ids, table values and amounts are strings (`"employeeId": "4"`, `"amount": "5"`), where
//!   the description says integers and numbers; list cursors are base64 text
//!   (`{"nextEmployee": 56}`), where it says integers;
//! * a list cursor names the boundary employee: when that employee is deleted (or no longer
//!   matches) before the next call, the list answers 400 `BadPage`, as the description says;
//! * errors carry their message in `X-BambooHR-Error-Message`; only the employee list has a
//!   JSON error body (`{error: {code, message}}`);
//! * a terminated employee stays, with `status: Inactive`, `employmentHistoryStatus:
//!   Terminated` and a `terminationDate`; a deleted one is gone from every read and reported
//!   `Deleted` by `/employees/changed`;
//! * throttling answers `429` with `Retry-After` (BambooHR's answer from 2026-09-16) or, with
//!   [`BambooConfig::throttle_status`] 503, the `503` with `Retry-After` it sent before. The
//!   thresholds are not published: a fixed window of [`BambooConfig::requests_per_window`].
//!
//! * webhooks: `POST /api/v1/webhooks` makes an event-based webhook (`employee.created`,
//!   `employee.updated` with `monitorFields`, `employee.deleted`; the answer carries its
//!   `privateKey`, once), `GET` lists and reads it, `DELETE /api/v1/webhooks/{id}` removes it.
//!   Every employee change after it is delivered as BambooHR does (see
//!   [`BambooHandle::webhooks`]): the body `{"type", "timestamp", "data": {"companyId",
//!   "employeeId", "changedFields"}}` of the description's webhook payloads, signed with
//!   `X-BambooHR-Signature`, the hex HMAC-SHA256 of the body followed by
//!   `X-BambooHR-Timestamp` (Unix seconds), keyed with the private key. The simulator keeps
//!   one webhook (a new one replaces it), takes `http` URLs on loopback besides `https` (the
//!   tests' receivers), and refuses the legacy `employee_with_fields` events and the
//!   `form-encoded` format, which it does not simulate.
//!
//! Left out: XML answers, datasets, reports, files, photos, benefits, OAuth's authorize and
//! token endpoints, webhook logs and `monitor_fields`/`post-fields` listings.

mod routes;
mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

use crate::{Faults, RequestLog, RunningSimulator};

use store::Store;

/// What the simulated company holds and how it limits callers.
#[derive(Debug, Clone)]
pub struct BambooConfig {
    pub seed: u64,
    pub employees: usize,
    /// The company's subdomain, in `Location` headers and links.
    pub company_domain: String,
    /// Accepted API keys (the Basic user name).
    pub api_keys: Vec<String>,
    /// Accepted OAuth Bearer tokens.
    pub access_tokens: Vec<String>,
    /// Requests per window before throttling.
    pub requests_per_window: u32,
    pub window: Duration,
    /// The throttle's status: 429 (from 2026-09-16) or 503 (before).
    pub throttle_status: u16,
    /// Job locations no employee holds, listed before the seeded ones (`Remote hub 0001`…):
    /// with 500 or more, the employees' locations are past the first page of
    /// `/hris/org/locations`.
    pub extra_locations: usize,
}

impl Default for BambooConfig {
    fn default() -> BambooConfig {
        BambooConfig {
            seed: 17,
            employees: 1_200,
            company_domain: "efficientoffice".to_owned(),
            api_keys: vec!["bamboohr-sim-key".to_owned()],
            access_tokens: vec!["bamboohr-sim-oauth".to_owned()],
            requests_per_window: 200,
            window: Duration::from_secs(10),
            throttle_status: 429,
            extra_locations: 0,
        }
    }
}

/// A fixed window of requests for the whole company.
#[derive(Debug)]
struct Limits {
    per_window: u32,
    window: Duration,
    state: Mutex<(Instant, u32)>,
}

impl Limits {
    /// Counts one request; `Err` carries the seconds until the window ends.
    fn check(&self) -> Result<(), u64> {
        let now = Instant::now();
        let mut state = self.state.lock().expect("bamboohr limits poisoned");
        if now.duration_since(state.0) >= self.window {
            *state = (now, 0);
        }
        if state.1 >= self.per_window {
            let left = self.window.saturating_sub(now.duration_since(state.0));
            return Err(left.as_millis().div_ceil(1000).max(1) as u64);
        }
        state.1 += 1;
        Ok(())
    }
}

/// State shared by the handlers. One lock for the data; never held across an await.
pub(crate) struct Shared {
    store: RwLock<Store>,
    limits: Limits,
    faults: Faults,
    log: RequestLog,
    api_keys: Vec<String>,
    access_tokens: Vec<String>,
    company_domain: String,
    throttle_status: u16,
    extra_locations: usize,
    /// Webhook deliveries (`POST /api/v1/webhooks` subscribes).
    webhooks: crate::webhooks::Webhooks,
    /// The webhook, and how much of the change log was delivered.
    hook: Mutex<Hook>,
}

/// The simulator's one webhook (a new one replaces it).
#[derive(Debug, Default)]
struct Hook {
    webhook: Option<Webhook>,
    /// Changes of the log before this index were delivered (or made before subscribing).
    sent: usize,
    /// The last webhook id given.
    last_id: u64,
}

/// A webhook as `POST /api/v1/webhooks` made it.
#[derive(Debug, Clone)]
struct Webhook {
    id: String,
    name: String,
    url: String,
    events: Vec<String>,
    monitor_fields: Vec<String>,
    post_fields: Value,
    include_company_domain: bool,
    created: String,
}

/// The company id event-based webhooks carry (`data.companyId`).
const COMPANY_ID: &str = "48213";

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().expect("bamboohr store poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().expect("bamboohr store poisoned")
    }

    /// Sends the webhook's events for each change of the log since the last call, the way
    /// BambooHR's event-based webhooks do: `employee.created` (then `employee.updated` naming
    /// the monitored fields the new employee has: BambooHR creates, then initialises),
    /// `employee.updated` when a monitored field changed, `employee.deleted`; each
    /// `{"type", "timestamp", "data": {"companyId", "employeeId", "changedFields"}}`, signed
    /// with `X-BambooHR-Signature`, the hex HMAC-SHA256 of the body followed by
    /// `X-BambooHR-Timestamp` (Unix seconds), keyed with the webhook's private key.
    pub(crate) fn send_webhooks(&self) {
        let mut hook = self.hook.lock().expect("hook poisoned");
        let changes: Vec<store::Change> = {
            let store = self.read();
            let new = store.changes.get(hook.sent..).unwrap_or_default().to_vec();
            hook.sent = store.changes.len();
            new
        };
        let Some(webhook) = hook.webhook.clone() else {
            return;
        };
        drop(hook);
        let takes = |event: &str| webhook.events.iter().any(|taken| taken == event);
        for change in changes {
            let monitored: Vec<&String> = change
                .fields
                .iter()
                .filter(|name| webhook.monitor_fields.contains(name))
                .collect();
            let mut events: Vec<(&str, Option<Vec<&String>>)> = Vec::new();
            match change.action {
                "Inserted" => {
                    events.push(("employee.created", None));
                    if !monitored.is_empty() {
                        events.push(("employee.updated", Some(monitored)));
                    }
                }
                "Updated" if !monitored.is_empty() => {
                    events.push(("employee.updated", Some(monitored)));
                }
                "Deleted" => events.push(("employee.deleted", None)),
                _ => {}
            }
            for (event, changed) in events {
                if !takes(event) {
                    continue;
                }
                let mut data = serde_json::json!({
                    "companyId": COMPANY_ID,
                    "employeeId": change.employee_id.to_string(),
                });
                if let Some(changed) = changed {
                    data["changedFields"] = serde_json::json!(changed);
                }
                let body = serde_json::json!({
                    "type": event,
                    "timestamp": store::iso(change.at),
                    "data": data,
                })
                .to_string()
                .into_bytes();
                let domain = webhook
                    .include_company_domain
                    .then(|| self.company_domain.clone());
                self.webhooks.emit(|subscription| {
                    let timestamp = chrono::Utc::now().timestamp().to_string();
                    let mut signed = body.clone();
                    signed.extend_from_slice(timestamp.as_bytes());
                    let mut headers = vec![
                        ("Content-Type".to_owned(), "application/json".to_owned()),
                        (
                            "X-BambooHR-Signature".to_owned(),
                            crate::webhooks::hmac_sha256_hex(
                                subscription.secret.as_bytes(),
                                &signed,
                            ),
                        ),
                        ("X-BambooHR-Timestamp".to_owned(), timestamp),
                    ];
                    if let Some(domain) = domain {
                        headers.push(("X-BambooHR-Company-Domain".to_owned(), domain));
                    }
                    crate::webhooks::Delivery {
                        url: subscription.url.clone(),
                        headers,
                        body,
                    }
                });
            }
        }
    }
}

/// Applies a queued mutation fault for `path` to the employees: new ones dated now, deletes of
/// the newest live ones but the boundary-safe first, and edits of job titles.
fn apply_mutation(shared: &Shared, path: &str) {
    let Some(crate::Mutation {
        inserts,
        deletes,
        updates,
    }) = shared.faults.take_mutation(path)
    else {
        return;
    };
    let mut store = shared.write();
    let mut rng = std::mem::replace(&mut store.rng, StdRng::seed_from_u64(0));
    for n in 0..inserts {
        store.insert_generated(&mut rng, 1_000_000 + n, store::now());
    }
    for _ in 0..deletes {
        let live: Vec<u64> = store.live().map(|employee| employee.id).collect();
        if live.len() < 2 {
            break;
        }
        let victim = live[rand::Rng::gen_range(&mut rng, 1..live.len())];
        store.delete(victim, store::now());
    }
    for n in 0..updates {
        let live: Vec<u64> = store.live().map(|employee| employee.id).collect();
        let Some(&id) = live.get(rand::Rng::gen_range(&mut rng, 0..live.len().max(1))) else {
            break;
        };
        let fields = serde_json::Map::from_iter([(
            "jobTitle".to_owned(),
            Value::String(format!("Edited title {n}")),
        )]);
        store.update(id, &fields, store::now());
    }
    store.rng = rng;
}

/// Test and demo access to a running simulator's state.
#[derive(Clone)]
pub struct BambooHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BambooHandle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("BambooHandle")
            .finish_non_exhaustive()
    }
}

impl BambooHandle {
    /// The fault queue (mutation faults are honoured by the employee list).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Requests served, by `METHOD path`.
    pub fn requests(&self) -> &RequestLog {
        &self.shared.log
    }

    /// Ids of the live employees (`employees`), in id order; empty for anything else.
    pub fn ids(&self, object: &str) -> Vec<String> {
        if object != "employees" {
            return Vec::new();
        }
        self.shared
            .read()
            .live()
            .map(|employee| employee.id.to_string())
            .collect()
    }

    /// Ids of the employees whose `status` is `Active`.
    pub fn active_ids(&self) -> Vec<String> {
        self.shared
            .read()
            .live()
            .filter(|employee| employee.fields["status"] == "Active")
            .map(|employee| employee.id.to_string())
            .collect()
    }

    /// One employee's fields as stored (standard names and custom aliases), if live.
    pub fn employee(&self, id: &str) -> Option<serde_json::Map<String, Value>> {
        let id = id.parse().ok()?;
        self.shared
            .read()
            .employee(id)
            .map(|employee| employee.fields.clone())
    }

    /// Terminates an employee as HR would in the app (today); `false` when there is none.
    pub fn terminate(&self, id: &str) -> bool {
        let Ok(id) = id.parse() else { return false };
        let at = store::now();
        let done = self.shared.write().terminate(id, at.date_naive(), at);
        self.shared.send_webhooks();
        done
    }

    /// Deletes an employee as HR would in the app; `false` when there is none.
    pub fn delete(&self, id: &str) -> bool {
        let Ok(id) = id.parse() else { return false };
        let done = self.shared.write().delete(id, store::now());
        self.shared.send_webhooks();
        done
    }

    /// The webhook sender: `POST /api/v1/webhooks` subscribes it (with the private key the
    /// answer carries); every employee change after it is delivered.
    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.shared.webhooks
    }

    /// The webhook's id, when there is one.
    pub fn webhook_id(&self) -> Option<String> {
        self.shared
            .hook
            .lock()
            .expect("hook poisoned")
            .webhook
            .as_ref()
            .map(|webhook| webhook.id.clone())
    }

    /// The webhook's monitored fields, when there is one.
    pub fn webhook_monitor_fields(&self) -> Option<Vec<String>> {
        self.shared
            .hook
            .lock()
            .expect("hook poisoned")
            .webhook
            .as_ref()
            .map(|webhook| webhook.monitor_fields.clone())
    }
}

/// Builds the simulator's router over freshly seeded data.
pub fn router(config: BambooConfig) -> (axum::Router, BambooHandle) {
    let store = Store::seeded(&config, StdRng::seed_from_u64(config.seed));
    let shared = Arc::new(Shared {
        store: RwLock::new(store),
        limits: Limits {
            per_window: config.requests_per_window,
            window: config.window.max(Duration::from_millis(1)),
            state: Mutex::new((Instant::now(), 0)),
        },
        faults: Faults::default(),
        log: RequestLog::default(),
        api_keys: config.api_keys.clone(),
        access_tokens: config.access_tokens.clone(),
        company_domain: config.company_domain.clone(),
        throttle_status: config.throttle_status,
        extra_locations: config.extra_locations,
        webhooks: crate::webhooks::Webhooks::default(),
        hook: Mutex::new(Hook::default()),
    });
    let router = routes::build(Arc::clone(&shared));
    (router, BambooHandle { shared })
}

/// Seeds a simulator and serves it on `addr` (use `127.0.0.1:0` in tests).
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn spawn(
    config: BambooConfig,
    addr: SocketAddr,
) -> std::io::Result<(RunningSimulator, BambooHandle)> {
    let (router, handle) = router(config);
    let running = crate::serve(addr, router).await?;
    Ok((running, handle))
}

/// The BambooHR simulator's registry line (see [`crate::registry`]).
#[derive(Debug)]
pub struct BambooHr;

impl crate::Simulator for BambooHr {
    const CONNECTOR: &'static str = "bamboohr";
    const WIRING: &'static str = include_str!("../../../../connectors/bamboohr/simulator.yaml");
    type Config = BambooConfig;
    type Handle = BambooHandle;

    fn config(profile: crate::Profile) -> BambooConfig {
        match profile {
            crate::Profile::Demo => BambooConfig::default(),
            crate::Profile::Test => BambooConfig {
                employees: 120,
                requests_per_window: 1_000_000,
                ..BambooConfig::default()
            },
        }
    }

    fn token(config: &BambooConfig) -> String {
        config.api_keys.first().cloned().unwrap_or_default()
    }

    fn router(config: BambooConfig) -> (axum::Router, BambooHandle) {
        router(config)
    }

    fn faults(handle: &BambooHandle) -> &Faults {
        handle.faults()
    }

    fn requests(handle: &BambooHandle) -> &RequestLog {
        handle.requests()
    }

    fn ids(handle: &BambooHandle, object: &str) -> Vec<String> {
        handle.ids(object)
    }

    fn terminate(handle: &BambooHandle, id: &str) -> bool {
        handle.terminate(id)
    }

    fn delete(handle: &BambooHandle, object: &str, id: &str) -> bool {
        object == "employees" && handle.delete(id)
    }
}
