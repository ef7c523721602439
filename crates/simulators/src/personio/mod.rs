//! The Personio simulator (Personnel Data API v1): the client-credentials token (`POST
//! /v1/auth`, a `papi-` token stable for 24 hours), employees in the attribute envelope
//! (`attributes.<name>.{label, value, type, universal_id}`, custom attributes as
//! `dynamic_<id>`), `attributes[]` projections, `updated_since`, creates and updates, the
//! attribute list, absence balances, time-off types, day-based time-off periods (list,
//! read, create, delete) and hourly absence periods (list, delete), over a deterministically
//! seeded company.
//!
//! The base URL stands for `https://api.personio.de`; every path is `/v1/…`. Answers follow
//! the stored OpenAPI description (`shared/vendor-specs/personio`); where it leaves room or
//! differs from the live API (recorded in `shared/recorded-payloads/personio`), the live API
//! wins, and where the description is stricter than the live API, the simulator's test says so
//! (`tests/personio.rs`, `spec_strict`):
//! * `offset` means different things per endpoint, as the description says: a record offset on
//!   `/company/employees` and `/company/time-off-types`, a page number (from 0) on
//!   `/company/time-offs`, whose `metadata.current_page` counts from 1 as the recorded answer
//!   does (the description says from 0); a record offset on `/company/absence-periods`,
//!   whose description words `offset` as `/company/time-off-types`' does and whose example
//!   answer counts `current_page` from 1 (its schema says from 0);
//! * with `updated_since`, `/company/employees` ignores `limit`, `offset` and `email` and
//!   answers every employee changed since, in one answer (as the description says);
//! * the token comes back in the `Authorization` header of every successful answer;
//! * `GET /company/employees`, the absences (`/company/time-offs`, `/company/absence-periods`)
//!   and the balance endpoint allow 300 requests a minute each (a fixed window per endpoint group), the auth endpoint 60; over it, `429`
//!   with `Retry-After` (the header is an assumption: the changelog names no header);
//! * errors are `{success: false, error: {code, message}}`;
//! * a terminated employee stays, `status: inactive` with a `termination_date`; a deleted one
//!   is gone (v1 has no feed of deletes).
//!
//! * the v2 token (`POST /v2/auth/token`) and the Compensations API's list
//!   (`GET /v2/compensations`, a month at most per call), in `v2.rs`.
//!
//! Left out: attendances, projects, creating hourly absence periods, documents, custom reports, profile
//! pictures, the rest of the v2 API and webhooks.

mod routes;
mod store;
mod v2;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::{Faults, RequestLog, RunningSimulator};

use store::Store;

/// What the simulated company holds and how it limits callers.
#[derive(Debug, Clone)]
pub struct PersonioConfig {
    pub seed: u64,
    pub employees: usize,
    /// The API credentials' client id and secret.
    pub client_id: String,
    pub client_secret: String,
    /// How long a token lives (24 hours at Personio).
    pub token_lifetime: Duration,
    /// Requests a minute on each limited endpoint group (employees, absences, balances).
    pub requests_per_minute: u32,
    /// Requests a minute on `POST /v1/auth`.
    pub auth_requests_per_minute: u32,
}

impl Default for PersonioConfig {
    fn default() -> PersonioConfig {
        PersonioConfig {
            seed: 23,
            employees: 900,
            client_id: "personio-sim-client".to_owned(),
            client_secret: "personio-sim-secret".to_owned(),
            token_lifetime: Duration::from_secs(24 * 60 * 60),
            requests_per_minute: 300,
            auth_requests_per_minute: 60,
        }
    }
}

/// Fixed one-minute windows, one per endpoint group.
#[derive(Debug)]
struct Limits {
    per_minute: u32,
    auth_per_minute: u32,
    window: Duration,
    state: Mutex<HashMap<&'static str, (Instant, u32)>>,
}

impl Limits {
    /// Counts one request of `group`; `Err` carries the seconds until its window ends.
    fn check(&self, group: &'static str) -> Result<(), u64> {
        let limit = if group == "auth" {
            self.auth_per_minute
        } else {
            self.per_minute
        };
        let now = Instant::now();
        let mut state = self.state.lock().expect("personio limits poisoned");
        let entry = state.entry(group).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_millis().div_ceil(1000).max(1) as u64);
        }
        entry.1 += 1;
        Ok(())
    }
}

/// An issued token and when it was issued.
#[derive(Debug, Clone)]
struct Issued {
    token: String,
    at: Instant,
}

/// State shared by the handlers. One lock for the data; never held across an await.
pub(crate) struct Shared {
    store: RwLock<Store>,
    limits: Limits,
    faults: Faults,
    log: RequestLog,
    client_id: String,
    client_secret: String,
    token_lifetime: Duration,
    issued: Mutex<Option<Issued>>,
    tokens_issued: Mutex<u64>,
    /// The v2 token (`POST /v2/auth/token`), apart from v1's.
    v2_issued: Mutex<Option<Issued>>,
    v2_tokens_issued: Mutex<u64>,
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().expect("personio store poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().expect("personio store poisoned")
    }

    /// The current token, issuing a new one when there is none or it has expired.
    fn token(&self) -> String {
        let mut issued = self.issued.lock().expect("personio tokens poisoned");
        if let Some(current) = issued.as_ref()
            && current.at.elapsed() < self.token_lifetime
        {
            return current.token.clone();
        }
        let token = format!("papi-{}", uuid::Uuid::new_v4().simple());
        *issued = Some(Issued {
            token: token.clone(),
            at: Instant::now(),
        });
        *self.tokens_issued.lock().expect("personio tokens poisoned") += 1;
        token
    }

    /// The current v2 token, issuing a new one when there is none or it has expired.
    fn v2_token(&self) -> String {
        let mut issued = self.v2_issued.lock().expect("personio tokens poisoned");
        if let Some(current) = issued.as_ref()
            && current.at.elapsed() < self.token_lifetime
        {
            return current.token.clone();
        }
        let token = format!("v2-{}", uuid::Uuid::new_v4().simple());
        *issued = Some(Issued {
            token: token.clone(),
            at: Instant::now(),
        });
        *self
            .v2_tokens_issued
            .lock()
            .expect("personio tokens poisoned") += 1;
        token
    }

    /// Whether `token` is the current, unexpired v2 token.
    fn v2_valid(&self, token: &str) -> bool {
        let issued = self.v2_issued.lock().expect("personio tokens poisoned");
        issued.as_ref().is_some_and(|current| {
            current.token == token && current.at.elapsed() < self.token_lifetime
        })
    }

    /// Whether `token` is the current, unexpired token.
    fn valid(&self, token: &str) -> bool {
        let issued = self.issued.lock().expect("personio tokens poisoned");
        issued.as_ref().is_some_and(|current| {
            current.token == token && current.at.elapsed() < self.token_lifetime
        })
    }
}

/// Applies a queued mutation fault for `path` to the employees: new ones dated now, deletes of
/// random live ones, and edits of positions.
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
        let victim = live[rand::Rng::gen_range(&mut rng, 0..live.len())];
        store.delete(victim);
    }
    for n in 0..updates {
        let live: Vec<u64> = store.live().map(|employee| employee.id).collect();
        let Some(&id) = live.get(rand::Rng::gen_range(&mut rng, 0..live.len().max(1))) else {
            break;
        };
        let values = serde_json::Map::from_iter([(
            "position".to_owned(),
            serde_json::Value::String(format!("Edited position {n}")),
        )]);
        store.update(id, &values, store::now());
    }
    store.rng = rng;
}

/// Test and demo access to a running simulator's state.
#[derive(Clone)]
pub struct PersonioHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PersonioHandle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PersonioHandle")
            .finish_non_exhaustive()
    }
}

impl PersonioHandle {
    /// The fault queue (mutation faults are honoured by the employee list).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Requests served, by `METHOD path`.
    pub fn requests(&self) -> &RequestLog {
        &self.shared.log
    }

    /// Ids of the live employees (`employees`), time-off periods (`time-offs`) or hourly
    /// absence periods (`absence-periods`), in id order; empty for anything else.
    pub fn ids(&self, object: &str) -> Vec<String> {
        let store = self.shared.read();
        match object {
            "employees" => store.live().map(|e| e.id.to_string()).collect(),
            "time-offs" => store.time_offs.keys().map(u64::to_string).collect(),
            "absence-periods" => store.absence_periods.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Ids of the employees whose status is `active`.
    pub fn active_ids(&self) -> Vec<String> {
        self.shared
            .read()
            .live()
            .filter(|employee| employee.values["status"] == "active")
            .map(|employee| employee.id.to_string())
            .collect()
    }

    /// One employee's attribute values as stored, if live.
    pub fn employee(&self, id: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        let id = id.parse().ok()?;
        self.shared.read().employee(id).map(|e| e.values.clone())
    }

    /// Terminates an employee as HR would in the app (today); `false` when there is none.
    pub fn terminate(&self, id: &str) -> bool {
        let Ok(id) = id.parse() else { return false };
        self.shared.write().terminate(id, store::now())
    }

    /// Deletes an employee as HR would in the app; `false` when there is none.
    pub fn delete(&self, id: &str) -> bool {
        let Ok(id) = id.parse() else { return false };
        self.shared.write().delete(id)
    }

    /// Ends the current token's life, as 24 hours passing would.
    pub fn expire_token(&self) {
        *self.shared.issued.lock().expect("personio tokens poisoned") = None;
    }

    /// Ends the current v2 token's life (the v1 token lives on).
    pub fn expire_v2_token(&self) {
        *self
            .shared
            .v2_issued
            .lock()
            .expect("personio tokens poisoned") = None;
    }

    /// The current v2 token, if one lives (tests look for it where it must not be).
    pub fn v2_token_in_use(&self) -> Option<String> {
        self.shared
            .v2_issued
            .lock()
            .expect("personio tokens poisoned")
            .as_ref()
            .filter(|issued| issued.at.elapsed() < self.shared.token_lifetime)
            .map(|issued| issued.token.clone())
    }

    /// How many tokens `POST /v2/auth/token` has issued.
    pub fn v2_tokens_issued(&self) -> u64 {
        *self
            .shared
            .v2_tokens_issued
            .lock()
            .expect("personio tokens poisoned")
    }

    /// How many tokens `POST /v1/auth` has issued (a token asked for again while it lives is
    /// the same token, not a new one).
    pub fn tokens_issued(&self) -> u64 {
        *self
            .shared
            .tokens_issued
            .lock()
            .expect("personio tokens poisoned")
    }
}

/// Builds the simulator's router over freshly seeded data.
pub fn router(config: PersonioConfig) -> (axum::Router, PersonioHandle) {
    let store = Store::seeded(&config, StdRng::seed_from_u64(config.seed));
    let shared = Arc::new(Shared {
        store: RwLock::new(store),
        limits: Limits {
            per_minute: config.requests_per_minute,
            auth_per_minute: config.auth_requests_per_minute,
            window: Duration::from_secs(60),
            state: Mutex::new(HashMap::new()),
        },
        faults: Faults::default(),
        log: RequestLog::default(),
        client_id: config.client_id.clone(),
        client_secret: config.client_secret.clone(),
        token_lifetime: config.token_lifetime,
        issued: Mutex::new(None),
        tokens_issued: Mutex::new(0),
        v2_issued: Mutex::new(None),
        v2_tokens_issued: Mutex::new(0),
    });
    let router = routes::build(Arc::clone(&shared));
    (router, PersonioHandle { shared })
}

/// Seeds a simulator and serves it on `addr` (use `127.0.0.1:0` in tests).
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn spawn(
    config: PersonioConfig,
    addr: SocketAddr,
) -> std::io::Result<(RunningSimulator, PersonioHandle)> {
    let (router, handle) = router(config);
    let running = crate::serve(addr, router).await?;
    Ok((running, handle))
}

/// The Personio simulator's registry line (see [`crate::registry`]).
#[derive(Debug)]
pub struct Personio;

impl crate::Simulator for Personio {
    const CONNECTOR: &'static str = "personio";
    const WIRING: &'static str = include_str!("../../../../connectors/personio/simulator.yaml");
    type Config = PersonioConfig;
    type Handle = PersonioHandle;

    fn config(profile: crate::Profile) -> PersonioConfig {
        match profile {
            crate::Profile::Demo => PersonioConfig::default(),
            crate::Profile::Test => PersonioConfig {
                employees: 120,
                requests_per_minute: 1_000_000,
                auth_requests_per_minute: 1_000_000,
                ..PersonioConfig::default()
            },
        }
    }

    /// The client secret: the demo connection's secret field (`{token}`).
    fn token(config: &PersonioConfig) -> String {
        config.client_secret.clone()
    }

    fn router(config: PersonioConfig) -> (axum::Router, PersonioHandle) {
        router(config)
    }

    fn faults(handle: &PersonioHandle) -> &Faults {
        handle.faults()
    }

    fn requests(handle: &PersonioHandle) -> &RequestLog {
        handle.requests()
    }

    fn ids(handle: &PersonioHandle, object: &str) -> Vec<String> {
        handle.ids(object)
    }

    fn terminate(handle: &PersonioHandle, id: &str) -> bool {
        handle.terminate(id)
    }

    fn delete(handle: &PersonioHandle, object: &str, id: &str) -> bool {
        object == "employees" && handle.delete(id)
    }
}
