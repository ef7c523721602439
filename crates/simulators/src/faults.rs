//! Fault injection and request logging shared by every simulator.
//!
//! A test (or `POST /__sim/faults`) queues faults; the simulator's middleware takes the first
//! queued fault whose path prefix matches each incoming request. Status, throttle and delay
//! faults are applied by the middleware; mutation faults (records inserted or deleted while a
//! caller pages) are taken by the vendor's list handlers through [`Faults::take_mutation`],
//! because only they know the vendor's data.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// What a fault does to the request it hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and, if given, this JSON body instead of calling the handler.
    Status {
        status: u16,
        #[serde(default)]
        body: Option<serde_json::Value>,
    },
    /// Answer as the vendor does when its rate limit is hit (vendor-specific status and body).
    Throttle {
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// Wait this long before calling the handler.
    Delay { millis: u64 },
    /// Insert `inserts` new records and delete `deletes` existing ones before serving the page.
    Mutate {
        #[serde(default)]
        inserts: usize,
        #[serde(default)]
        deletes: usize,
    },
    /// Change `updates` existing records (a field the unified record shows, and their
    /// modification time) before serving the page.
    Update { updates: usize },
}

/// What a mutation fault does to the listed object's records before a page is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mutation {
    pub inserts: usize,
    pub deletes: usize,
    pub updates: usize,
}

/// A fault that hits each matching request with a probability, for as long as it is set:
/// vendor trouble spread at random over a long walk (10% of requests answered 503, say).
/// Draws come from a generator seeded by [`Faults::set_chances`], so a run can be repeated.
#[derive(Debug, Clone, PartialEq)]
pub struct Chance {
    pub kind: FaultKind,
    /// Only requests whose path starts with this prefix are hit (all when absent).
    pub path_prefix: Option<String>,
    /// From 0 to 1.
    pub probability: f64,
}

impl FaultKind {
    /// Whether the vendor's list handlers apply it (to their data), not the middleware.
    pub fn is_mutation(&self) -> bool {
        matches!(self, FaultKind::Mutate { .. } | FaultKind::Update { .. })
    }
}

/// One queued fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Only requests whose path starts with this prefix are hit (all when absent).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// How many requests this fault hits before it is used up.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// The header a request to the control routes (`/__sim/...`) must carry, with the
/// simulator's [`Faults::control_key`]. A caller reaching the simulator's port through
/// something else (Crosswalk's proxy on a tenant's behalf) does not know the key, so the control
/// routes answer it 404 as if they did not exist.
pub const CONTROL_KEY_HEADER: &str = "x-simulator-control-key";

/// The queue of faults of one simulator, shared by its handlers.
#[derive(Debug, Clone)]
pub struct Faults {
    queue: Arc<Mutex<Vec<Fault>>>,
    chances: Arc<Mutex<Chances>>,
    control_key: Arc<str>,
}

/// The faults that hit at random, and the generator they draw from.
#[derive(Debug)]
struct Chances {
    faults: Vec<Chance>,
    /// How many requests each fault has hit.
    hits: Vec<u64>,
    rng: rand::rngs::StdRng,
}

impl Default for Chances {
    fn default() -> Chances {
        Chances {
            faults: Vec::new(),
            hits: Vec::new(),
            rng: rand::SeedableRng::seed_from_u64(0),
        }
    }
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            queue: Arc::default(),
            chances: Arc::default(),
            control_key: Arc::from(uuid::Uuid::new_v4().simple().to_string()),
        }
    }
}

impl Faults {
    /// The key the control routes require in [`CONTROL_KEY_HEADER`], random per simulator.
    pub fn control_key(&self) -> &str {
        &self.control_key
    }

    /// Queues a fault.
    pub fn push(&self, fault: Fault) {
        self.queue.lock().expect("fault queue poisoned").push(fault);
    }

    /// Drops every queued fault, and the random ones.
    pub fn clear(&self) {
        self.queue.lock().expect("fault queue poisoned").clear();
        self.set_chances(Vec::new(), 0);
    }

    /// Replaces the faults that hit at random, drawing from a generator seeded with `seed`.
    /// Each request draws once per matching fault, in order, and the first that hits applies;
    /// queued faults ([`Faults::push`]) come first.
    pub fn set_chances(&self, faults: Vec<Chance>, seed: u64) {
        let mut chances = self.chances.lock().expect("fault chances poisoned");
        chances.hits = vec![0; faults.len()];
        chances.faults = faults;
        chances.rng = rand::SeedableRng::seed_from_u64(seed);
    }

    /// How many requests each random fault has hit, in the order they were set.
    pub fn chance_hits(&self) -> Vec<u64> {
        self.chances
            .lock()
            .expect("fault chances poisoned")
            .hits
            .clone()
    }

    /// Draws the random faults matching `path` that `accept` allows; the first that hits.
    fn draw(&self, path: &str, accept: impl Fn(&FaultKind) -> bool) -> Option<FaultKind> {
        use rand::Rng;
        let mut chances = self.chances.lock().expect("fault chances poisoned");
        let Chances { faults, hits, rng } = &mut *chances;
        let idx = faults
            .iter()
            .enumerate()
            .filter(|(_, chance)| {
                accept(&chance.kind)
                    && chance
                        .path_prefix
                        .as_deref()
                        .is_none_or(|prefix| path.starts_with(prefix))
            })
            .find(|(_, chance)| rng.gen_bool(chance.probability.clamp(0.0, 1.0)))
            .map(|(idx, _)| idx)?;
        hits[idx] += 1;
        Some(faults[idx].kind.clone())
    }

    /// Takes one use of the first queued fault matching `path` that satisfies `accept`.
    fn take_matching(&self, path: &str, accept: impl Fn(&FaultKind) -> bool) -> Option<FaultKind> {
        let mut queue = self.queue.lock().expect("fault queue poisoned");
        let idx = queue.iter().position(|fault| {
            accept(&fault.kind)
                && fault
                    .path_prefix
                    .as_deref()
                    .is_none_or(|prefix| path.starts_with(prefix))
        })?;
        let kind = queue[idx].kind.clone();
        queue[idx].times = queue[idx].times.saturating_sub(1);
        if queue[idx].times == 0 {
            queue.remove(idx);
        }
        Some(kind)
    }

    /// Takes one use of a queued mutation fault for `path` (or draws a random one).
    pub fn take_mutation(&self, path: &str) -> Option<Mutation> {
        let kind = self
            .take_matching(path, FaultKind::is_mutation)
            .or_else(|| self.draw(path, FaultKind::is_mutation))?;
        match kind {
            FaultKind::Mutate { inserts, deletes } => Some(Mutation {
                inserts,
                deletes,
                updates: 0,
            }),
            FaultKind::Update { updates } => Some(Mutation {
                updates,
                ..Mutation::default()
            }),
            _ => None,
        }
    }

    /// Takes one use of a queued status, throttle or delay fault for `path` (or draws a
    /// random one).
    pub fn take_request_fault(&self, path: &str) -> Option<FaultKind> {
        let request_fault = |kind: &FaultKind| !kind.is_mutation();
        self.take_matching(path, request_fault)
            .or_else(|| self.draw(path, request_fault))
    }
}

/// Counts the requests a simulator served, by `METHOD path`, for tests that count vendor calls,
/// and how many of each it was serving at once; while a capture is on, it also keeps the
/// requests themselves (benchmarks replay them as the direct vendor call).
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    entries: Arc<Mutex<BTreeMap<String, Entry>>>,
    capture: Arc<Mutex<Option<Vec<CapturedRequest>>>>,
}

/// The most requests one capture keeps; later ones are counted but not kept.
const CAPTURE_LIMIT: usize = 64;

/// One request as a simulator received it: method, path with its query, and headers.
///
/// Its `Debug` output names the headers without their values, which carry the caller's
/// credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct CapturedRequest {
    /// `GET`, `POST`, ….
    pub method: String,
    /// The path and, when there is one, `?` and the query, as received.
    pub path_and_query: String,
    /// Every header in the order received, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for CapturedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("CapturedRequest")
            .field("method", &self.method)
            .field("path_and_query", &self.path_and_query)
            .field("headers", &names)
            .finish()
    }
}

impl CapturedRequest {
    fn of(request: &Request) -> CapturedRequest {
        CapturedRequest {
            method: request.method().as_str().to_owned(),
            path_and_query: request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().path().to_owned(), ToString::to_string),
            headers: request
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    served: u64,
    in_flight: u64,
    most_in_flight: u64,
}

/// One request being served; counted out on drop.
struct Serving {
    log: RequestLog,
    key: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(entry) = self.log.lock().get_mut(&self.key) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
        }
    }
}

impl RequestLog {
    /// Records one request, held as being served until the guard drops.
    fn serve(&self, method: &str, path: &str) -> Serving {
        let key = format!("{method} {path}");
        {
            let mut entries = self.lock();
            let entry = entries.entry(key.clone()).or_default();
            entry.served += 1;
            entry.in_flight += 1;
            entry.most_in_flight = entry.most_in_flight.max(entry.in_flight);
        }
        Serving {
            log: self.clone(),
            key,
        }
    }

    /// Requests served so far, by `METHOD path`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.lock()
            .iter()
            .filter(|(_, entry)| entry.served > 0)
            .map(|(key, entry)| (key.clone(), entry.served))
            .collect()
    }

    /// Total requests whose `METHOD path` key starts with `prefix`.
    pub fn total_matching(&self, prefix: &str) -> u64 {
        self.counts()
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(_, count)| count)
            .sum()
    }

    /// The most requests of one `METHOD path` served at once since the start (or the reset).
    pub fn most_in_flight(&self, key: &str) -> u64 {
        self.lock().get(key).map_or(0, |entry| entry.most_in_flight)
    }

    /// Starts keeping the requests served from now on (at most 64), forgetting any kept before.
    pub fn start_capture(&self) {
        *self.lock_capture() = Some(Vec::new());
    }

    /// Stops keeping requests and returns those kept since [`RequestLog::start_capture`], in
    /// the order they arrived (none when no capture was on).
    pub fn stop_capture(&self) -> Vec<CapturedRequest> {
        self.lock_capture().take().unwrap_or_default()
    }

    fn keep(&self, request: &Request) {
        if let Some(kept) = self.lock_capture().as_mut()
            && kept.len() < CAPTURE_LIMIT
        {
            kept.push(CapturedRequest::of(request));
        }
    }

    fn lock_capture(&self) -> std::sync::MutexGuard<'_, Option<Vec<CapturedRequest>>> {
        self.capture.lock().expect("request capture poisoned")
    }

    /// Forgets every recorded request (requests being served stay counted in flight).
    pub fn reset(&self) {
        let mut entries = self.lock();
        entries.retain(|_, entry| entry.in_flight > 0);
        for entry in entries.values_mut() {
            entry.served = 0;
            entry.most_in_flight = entry.in_flight;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().expect("request log poisoned")
    }
}

/// What the fault middleware needs from a simulator.
#[derive(Clone)]
pub struct FaultLayerState {
    pub faults: Faults,
    pub log: RequestLog,
    /// Builds the vendor's own throttle answer.
    pub throttle: Arc<dyn Fn(Option<u64>) -> Response + Send + Sync>,
}

/// Middleware: logs the request, then applies a queued status, throttle or delay fault.
/// Control routes under `/__sim` are neither logged nor faulted, and answer only requests
/// carrying the control key.
pub async fn fault_middleware(
    State(state): State<FaultLayerState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/__sim") {
        let keyed = request
            .headers()
            .get(CONTROL_KEY_HEADER)
            .is_some_and(|value| value.as_bytes() == state.faults.control_key().as_bytes());
        return if keyed {
            next.run(request).await
        } else {
            StatusCode::NOT_FOUND.into_response()
        };
    }
    let _serving = state.log.serve(request.method().as_str(), &path);
    state.log.keep(&request);
    match state.faults.take_request_fault(&path) {
        Some(FaultKind::Status { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            match body {
                Some(body) => (status, Json(body)).into_response(),
                None => status.into_response(),
            }
        }
        Some(FaultKind::Throttle { retry_after_secs }) => (state.throttle)(retry_after_secs),
        Some(FaultKind::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(request).await
        }
        Some(FaultKind::Mutate { .. } | FaultKind::Update { .. }) | None => next.run(request).await,
    }
}

/// Routes every simulator mounts: `POST /__sim/faults` (queue a fault or a list of faults),
/// `DELETE /__sim/faults`, `GET /__sim/requests` (the request log) and
/// `DELETE /__sim/requests`.
pub fn control_routes(faults: Faults, log: RequestLog) -> axum::Router {
    use axum::routing::post;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Fault),
        Many(Vec<Fault>),
    }
    let queue_faults = faults.clone();
    let clear_faults = faults;
    let read_log = log.clone();
    let reset_log = log;
    axum::Router::new()
        .route(
            "/__sim/faults",
            post(move |Json(body): Json<OneOrMany>| async move {
                match body {
                    OneOrMany::One(fault) => queue_faults.push(fault),
                    OneOrMany::Many(list) => list.into_iter().for_each(|f| queue_faults.push(f)),
                }
                StatusCode::NO_CONTENT
            })
            .delete(move || async move {
                clear_faults.clear();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/__sim/requests",
            axum::routing::get(move || async move { Json(read_log.counts()) }).delete(
                move || async move {
                    reset_log.reset();
                    StatusCode::NO_CONTENT
                },
            ),
        )
}
