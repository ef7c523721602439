//! The HiBob (Bob) simulator: people read by POSTing field paths to `/people/search` (active
//! employees unless `showInactive`), one employee by `POST /people/{id}`, creates, updates and
//! terminations, `/company/people/fields` with custom fields, the named lists behind list
//! fields (`department`, `site`), the work, salary and employment history tables
//! (`/bulk/people/…`, cursor-paged), and time off (policy types, who's out, requests
//! submitted, read and cancelled, balances per policy type, and the
//! `/timeoff/requests/changes` feed), over a deterministically seeded company.
//!
//! The base URL stands for `https://api.hibob.com`; every path is `/v1/…`. Auth is HTTP Basic
//! with a service user's id as user name and its token as password. Answers follow the stored
//! description (`shared/vendor-specs/hibob`, a third-party merge of HiBob's per-endpoint
//! OpenAPI blocks) and the recorded answer (`shared/recorded-payloads/hibob`); where they leave
//! room or disagree:
//! * an employee of a search is one object holding every asked field at its place in the
//!   nested record (`{"id", "work": {"title"}}`), plus `"/work/title": {"value"}` for a field
//!   asked as `/work/title`; the description's examples split one employee's fields into one
//!   array item per field, which its own `oneOf` refuses (vendor-behaviour §0);
//! * list fields read in machine format give the list item's id (`work.department`
//!   `"1647299318902"`), and `humanReadable: APPEND` adds a `humanReadable` object with the
//!   names (`REPLACE` puts the names in place); the description's machine-format example shows
//!   names;
//! * the search answers every match at once: the classic endpoint has no cursor;
//! * filters take `root.id` or `root.email` with `equals` only (400 otherwise); unknown field
//!   paths are left out of the answer;
//! * the bulk tables (`/bulk/people/work`, `…/salaries`, `…/employment`) page by employee (`limit`
//!   1–200, default 50, `response_metadata.cursor` while more follow) and give each employee's
//!   entries directly in `values`, where the description wraps them in one more `{values}`;
//! * submitting a time-off request answers the request as its read gives it: the description
//!   states no body for the 200 [assumption]; only the `days` range type is simulated;
//! * a terminated employee stays (`internal.status: Inactive`, `lifecycleStatus: terminated`,
//!   a `terminationDate`), and is left out of searches without `showInactive`; a deleted one is
//!   gone from every read;
//! * `/people/search` allows [`HiBobConfig::searches_per_minute`] (50) calls a minute, every
//!   other endpoint [`HiBobConfig::requests_per_minute`]; a throttle is `429` with
//!   `X-RateLimit-Limit`, `-Remaining` and `-Reset` (epoch seconds), which every answer also
//!   carries.
//!
//! * a balance's cycle is the calendar year; its `policy` is the policy type's name with
//!   ` (standard)`: the description gives no example of a policy name;
//! * the company: Bob's API has no endpoint describing the company; every person carries its
//!   `companyId`, all the same in one account.
//!
//! * webhooks are set up in Bob's settings, not through the API:
//!   [`HiBobHandle::set_up_webhook`] does what an admin does there (a URL and the secret Bob
//!   signs with), and saving it sends the `Ping test`. Each change made through the API or the
//!   handle is then delivered as a v2 event, metadata only: `employee.created`,
//!   `employee.updated`, `employee.left` (terminated), `employee.deleted`,
//!   `timeoff.request.created` and `timeoff.request.canceled` (with `requestId`), each
//!   `{"companyId", "type", "triggeredBy", "triggeredAt", "version": "v2", "data":
//!   {"employeeId"[, "requestId"]}}` and signed with `Bob-Signature`, the base64 HMAC-SHA512
//!   of the body keyed with the secret. No header carries a timestamp. Bob's documentation
//!   names the scheme; the event names and `data` fields beyond `employeeId` are from memory
//!   [unverified].
//!
//! Left out: documents, reports, positions, custom tables, the lifecycle table, policies by
//! name, bank accounts, and webhook events of tables and lifecycle changes.

mod routes;
mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::{Faults, RequestLog, RunningSimulator};

use store::Store;

/// What the simulated company holds and how it limits callers.
#[derive(Debug, Clone)]
pub struct HiBobConfig {
    pub seed: u64,
    pub employees: usize,
    /// Accepted service users: `(id, token)`.
    pub service_users: Vec<(String, String)>,
    /// Searches (`POST /people/search`) per minute: 50 at HiBob.
    pub searches_per_minute: u32,
    /// Requests per minute to every other endpoint.
    pub requests_per_minute: u32,
    /// The window both limits count in (a minute).
    pub window: Duration,
}

impl Default for HiBobConfig {
    fn default() -> HiBobConfig {
        HiBobConfig {
            seed: 23,
            employees: 1_500,
            service_users: vec![("SERVICE-4867".to_owned(), "hibob-sim-token".to_owned())],
            searches_per_minute: 50,
            requests_per_minute: 600,
            window: Duration::from_secs(60),
        }
    }
}

/// A fixed window of requests for the whole company.
#[derive(Debug)]
struct Window {
    per_window: u32,
    window: Duration,
    state: Mutex<(Instant, u32)>,
}

impl Window {
    fn new(per_window: u32, window: Duration) -> Window {
        Window {
            per_window,
            window: window.max(Duration::from_millis(1)),
            state: Mutex::new((Instant::now(), 0)),
        }
    }

    /// The window's end in epoch seconds.
    fn reset_epoch(&self, started: Instant, now: Instant) -> u64 {
        let left = self.window.saturating_sub(now.duration_since(started));
        Utc::now().timestamp() as u64 + left.as_millis().div_ceil(1000).max(1) as u64
    }

    /// Counts one request; `Err` carries the window's end (epoch seconds).
    fn check(&self) -> Result<(), u64> {
        let now = Instant::now();
        let mut state = self.state.lock().expect("hibob limits poisoned");
        if now.duration_since(state.0) >= self.window {
            *state = (now, 0);
        }
        if state.1 >= self.per_window {
            return Err(self.reset_epoch(state.0, now));
        }
        state.1 += 1;
        Ok(())
    }

    /// What is left of the window and when it ends (epoch seconds).
    fn state(&self) -> (u32, u64) {
        let state = self.state.lock().expect("hibob limits poisoned");
        (
            self.per_window.saturating_sub(state.1),
            self.reset_epoch(state.0, Instant::now()),
        )
    }
}

#[derive(Debug)]
struct Limits {
    search: Window,
    other: Window,
}

/// State shared by the handlers. One lock for the data; never held across an await.
pub(crate) struct Shared {
    store: RwLock<Store>,
    limits: Limits,
    faults: Faults,
    log: RequestLog,
    service_users: Vec<(String, String)>,
    /// The body of the last `/people/search`, for tests of what callers send.
    last_search: Mutex<Option<Value>>,
    /// Webhook deliveries (set up in Bob's settings: [`HiBobHandle::set_up_webhook`]).
    webhooks: crate::webhooks::Webhooks,
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().expect("hibob store poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().expect("hibob store poisoned")
    }

    /// Sends a v2 webhook event, the way Bob does: metadata only, `{"companyId", "type",
    /// "triggeredBy", "triggeredAt", "version": "v2", "data": {"employeeId"[, "requestId"]}}`,
    /// signed with `Bob-Signature`, the base64 HMAC-SHA512 of the body keyed with the
    /// webhook's secret.
    pub(crate) fn notify(&self, kind: &str, employee_id: &str, request_id: Option<u64>) {
        let mut data = json!({"employeeId": employee_id});
        if let Some(request_id) = request_id {
            data["requestId"] = json!(request_id);
        }
        let triggered_by = self
            .service_users
            .first()
            .map(|(id, _)| id.clone())
            .unwrap_or_default();
        let body = json!({
            "companyId": store::COMPANY_ID,
            "type": kind,
            "triggeredBy": triggered_by,
            "triggeredAt": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "version": "v2",
            "data": data,
        })
        .to_string()
        .into_bytes();
        self.webhooks
            .emit(|subscription| signed_delivery(subscription, body));
    }
}

/// A delivery of `body` to the subscription, signed as Bob signs (`Bob-Signature`).
fn signed_delivery(
    subscription: &crate::webhooks::Subscription,
    body: Vec<u8>,
) -> crate::webhooks::Delivery {
    crate::webhooks::Delivery {
        url: subscription.url.clone(),
        headers: vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (
                "Bob-Signature".to_owned(),
                crate::webhooks::hmac_sha512_base64(subscription.secret.as_bytes(), &body),
            ),
        ],
        body,
    }
}

/// Applies a queued mutation fault for `path`: new employees, deletes of live ones but the
/// first, and edits of job titles.
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
        let live: Vec<String> = store.live().map(|employee| employee.id.clone()).collect();
        if live.len() < 2 {
            break;
        }
        let victim = live[rand::Rng::gen_range(&mut rng, 1..live.len())].clone();
        store.delete(&victim);
    }
    for n in 0..updates {
        let live: Vec<String> = store.live().map(|employee| employee.id.clone()).collect();
        let Some(id) = live.get(rand::Rng::gen_range(&mut rng, 0..live.len().max(1))) else {
            break;
        };
        let id = id.clone();
        store.update(
            &id,
            &json!({"work": {"title": format!("Edited title {n}")}}),
            store::now(),
        );
    }
    store.rng = rng;
}

/// Test and demo access to a running simulator's state.
#[derive(Clone)]
pub struct HiBobHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HiBobHandle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HiBobHandle")
            .finish_non_exhaustive()
    }
}

impl HiBobHandle {
    /// The fault queue (mutation faults are honoured by `/people/search`).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Requests served, by `METHOD path`.
    pub fn requests(&self) -> &RequestLog {
        &self.shared.log
    }

    /// Ids of the employees not deleted, terminated ones included (`employees`), in creation
    /// order; empty for anything else.
    pub fn ids(&self, object: &str) -> Vec<String> {
        if object != "employees" {
            return Vec::new();
        }
        self.shared
            .read()
            .live()
            .map(|employee| employee.id.clone())
            .collect()
    }

    /// Ids of the employees whose `internal.status` is `Active`.
    pub fn active_ids(&self) -> Vec<String> {
        self.shared
            .read()
            .live()
            .filter(|employee| employee.record["internal"]["status"] == "Active")
            .map(|employee| employee.id.clone())
            .collect()
    }

    /// One employee's record as stored (machine format), if not deleted.
    pub fn employee(&self, id: &str) -> Option<Value> {
        self.shared
            .read()
            .employee(id)
            .map(|employee| employee.record.clone())
    }

    /// Terminates an employee as HR would in Bob (today); `false` when there is none.
    pub fn terminate(&self, id: &str) -> bool {
        let done = self
            .shared
            .write()
            .terminate(id, store::now().date_naive(), None);
        if done {
            self.shared.notify("employee.left", id, None);
        }
        done
    }

    /// Deletes an employee as HR would in Bob; `false` when there is none.
    pub fn delete(&self, id: &str) -> bool {
        let done = self.shared.write().delete(id);
        if done {
            self.shared.notify("employee.deleted", id, None);
        }
        done
    }

    /// The webhook sender (see [`HiBobHandle::set_up_webhook`]).
    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.shared.webhooks
    }

    /// Sets up a webhook as an admin does in Bob's settings (Bob has no API for it): later
    /// changes are delivered to `url`, signed with `secret`. Saving it sends the `Ping test`
    /// (`{"text": "Ping test"}`, signed like every delivery), which must be answered 2xx;
    /// [`crate::webhooks::Webhooks::flush`] waits for its answer.
    pub fn set_up_webhook(&self, url: &str, secret: &str) {
        let webhooks = &self.shared.webhooks;
        webhooks.subscribe(crate::webhooks::Subscription {
            url: url.to_owned(),
            secret: secret.to_owned(),
            username: None,
        });
        let body = json!({"text": "Ping test"}).to_string().into_bytes();
        webhooks.emit(|subscription| signed_delivery(subscription, body));
    }

    /// Removes the webhook, as in Bob's settings.
    pub fn remove_webhook(&self) {
        self.shared.webhooks.unsubscribe();
    }

    /// The body of the last people search served (what the caller asked for).
    pub fn last_search(&self) -> Option<Value> {
        self.shared
            .last_search
            .lock()
            .expect("hibob last search poisoned")
            .clone()
    }

    /// A time-off request's status (`approved`, `pending`, `declined`, `canceled`).
    pub fn time_off_status(&self, request_id: u64) -> Option<String> {
        self.shared
            .read()
            .time_off
            .iter()
            .find(|request| request.id == request_id)
            .map(|request| request.status.clone())
    }
}

/// Builds the simulator's router over freshly seeded data.
pub fn router(config: HiBobConfig) -> (axum::Router, HiBobHandle) {
    let store = Store::seeded(&config, StdRng::seed_from_u64(config.seed));
    let shared = Arc::new(Shared {
        store: RwLock::new(store),
        limits: Limits {
            search: Window::new(config.searches_per_minute, config.window),
            other: Window::new(config.requests_per_minute, config.window),
        },
        faults: Faults::default(),
        log: RequestLog::default(),
        service_users: config.service_users.clone(),
        last_search: Mutex::new(None),
        webhooks: crate::webhooks::Webhooks::default(),
    });
    let router = routes::build(Arc::clone(&shared));
    (router, HiBobHandle { shared })
}

/// Seeds a simulator and serves it on `addr` (use `127.0.0.1:0` in tests).
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn spawn(
    config: HiBobConfig,
    addr: SocketAddr,
) -> std::io::Result<(RunningSimulator, HiBobHandle)> {
    let (router, handle) = router(config);
    let running = crate::serve(addr, router).await?;
    Ok((running, handle))
}

/// The HiBob simulator's registry line (see [`crate::registry`]).
#[derive(Debug)]
pub struct HiBob;

impl crate::Simulator for HiBob {
    const CONNECTOR: &'static str = "hibob";
    const WIRING: &'static str = include_str!("../../../../connectors/hibob/simulator.yaml");
    type Config = HiBobConfig;
    type Handle = HiBobHandle;

    fn config(profile: crate::Profile) -> HiBobConfig {
        match profile {
            crate::Profile::Demo => HiBobConfig::default(),
            crate::Profile::Test => HiBobConfig {
                employees: 120,
                searches_per_minute: 1_000_000,
                requests_per_minute: 1_000_000,
                ..HiBobConfig::default()
            },
        }
    }

    /// The service user's token; its id is in the wiring (`SERVICE-4867`).
    fn token(config: &HiBobConfig) -> String {
        config
            .service_users
            .first()
            .map(|(_, token)| token.clone())
            .unwrap_or_default()
    }

    fn router(config: HiBobConfig) -> (axum::Router, HiBobHandle) {
        router(config)
    }

    fn faults(handle: &HiBobHandle) -> &Faults {
        handle.faults()
    }

    fn requests(handle: &HiBobHandle) -> &RequestLog {
        handle.requests()
    }

    fn ids(handle: &HiBobHandle, object: &str) -> Vec<String> {
        handle.ids(object)
    }

    fn terminate(handle: &HiBobHandle, id: &str) -> bool {
        handle.terminate(id)
    }

    fn delete(handle: &HiBobHandle, object: &str, id: &str) -> bool {
        object == "employees" && handle.delete(id)
    }
}
