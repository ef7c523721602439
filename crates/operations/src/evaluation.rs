//! Where and under which limits a request's mappings are evaluated.
//!
//! Mappings are CPU work a tenant controls (overrides), so they never run on the async workers
//! that serve every tenant's requests. [`Evaluator`] runs them on tokio's blocking threads,
//! at most `pool_size` at once in the process (sized to the cores), and at most an
//! environment's `max_concurrent_evaluations` (less than the pool) for any one environment, so
//! one tenant's evaluations can take part of the pool but never all of it. Each job runs under
//! the request's [`connector::mapping::Budget`]: the environment's [`EvaluationLimits`] per evaluation and
//! for the whole request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use store::EnvironmentId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::OpError;

/// An environment's limits on the evaluation of its mappings, as stored in its settings
/// (`PUT /environment/limits`); a limit it does not set has its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationLimits {
    /// Steps of one evaluation (`U1006`).
    pub max_steps: u64,
    /// Time of one evaluation, in milliseconds (`D1012`).
    pub timeout_ms: u64,
    /// Nesting depth of one evaluation (`D1011`).
    pub max_depth: u64,
    /// Items of one array, range or object an evaluation builds (`D1014`).
    pub max_items: u64,
    /// Bytes of one string an evaluation builds (`D1015`).
    pub max_string_bytes: u64,
    /// Bytes one evaluation allocates in all (`D1013`).
    pub max_alloc_bytes: u64,
    /// Bytes of one evaluation's result (`D1016`).
    pub max_output_bytes: u64,
    /// Steps of all the evaluations of one request (`D1017`).
    pub request_max_steps: u64,
    /// Time of all the evaluations of one request, in milliseconds (`D1017`).
    pub request_max_time_ms: u64,
    /// Evaluations of the environment running at once in the process; `None`: half the pool.
    /// Never more than the pool less one, so another environment always finds a place.
    pub max_concurrent_evaluations: Option<u64>,
}

/// Each limit: its name, its bounds, and how to read and write it.
struct Field {
    name: &'static str,
    min: u64,
    max: u64,
    get: fn(&EvaluationLimits) -> Option<u64>,
    set: fn(&mut EvaluationLimits, u64),
}

const MIB: u64 = 1 << 20;

const FIELDS: &[Field] = &[
    Field {
        name: "max_steps",
        min: 1_000,
        max: 100_000_000,
        get: |l| Some(l.max_steps),
        set: |l, v| l.max_steps = v,
    },
    Field {
        name: "timeout_ms",
        min: 1,
        max: 10_000,
        get: |l| Some(l.timeout_ms),
        set: |l, v| l.timeout_ms = v,
    },
    Field {
        name: "max_depth",
        min: 10,
        max: 1_000,
        get: |l| Some(l.max_depth),
        set: |l, v| l.max_depth = v,
    },
    Field {
        name: "max_items",
        min: 100,
        max: 10_000_000,
        get: |l| Some(l.max_items),
        set: |l, v| l.max_items = v,
    },
    Field {
        name: "max_string_bytes",
        min: 1_024,
        max: 256 * MIB,
        get: |l| Some(l.max_string_bytes),
        set: |l, v| l.max_string_bytes = v,
    },
    Field {
        name: "max_alloc_bytes",
        min: 64 * 1_024,
        max: 1_024 * MIB,
        get: |l| Some(l.max_alloc_bytes),
        set: |l, v| l.max_alloc_bytes = v,
    },
    Field {
        name: "max_output_bytes",
        min: 1_024,
        max: 256 * MIB,
        get: |l| Some(l.max_output_bytes),
        set: |l, v| l.max_output_bytes = v,
    },
    Field {
        name: "request_max_steps",
        min: 1_000,
        max: 1_000_000_000,
        get: |l| Some(l.request_max_steps),
        set: |l, v| l.request_max_steps = v,
    },
    Field {
        name: "request_max_time_ms",
        min: 1,
        max: 120_000,
        get: |l| Some(l.request_max_time_ms),
        set: |l, v| l.request_max_time_ms = v,
    },
    Field {
        name: "max_concurrent_evaluations",
        min: 1,
        max: 1_024,
        get: |l| l.max_concurrent_evaluations,
        set: |l, v| l.max_concurrent_evaluations = Some(v),
    },
];

impl Default for EvaluationLimits {
    fn default() -> Self {
        let each = connector::mapping::Limits::default();
        let request = connector::mapping::RequestLimits::default();
        let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        EvaluationLimits {
            max_steps: each.max_steps.unwrap_or(u64::MAX),
            timeout_ms: u64::try_from(each.timeout.as_millis()).unwrap_or(u64::MAX),
            max_depth: wide(each.max_depth),
            max_items: wide(each.max_items),
            max_string_bytes: wide(each.max_string_bytes),
            max_alloc_bytes: wide(each.max_alloc_bytes),
            max_output_bytes: wide(each.max_output_bytes),
            request_max_steps: request.max_steps.unwrap_or(u64::MAX),
            request_max_time_ms: u64::try_from(request.max_time.as_millis()).unwrap_or(u64::MAX),
            max_concurrent_evaluations: None,
        }
    }
}

impl EvaluationLimits {
    /// Reads the limits an environment sets (a JSON object; the ones it leaves out keep their
    /// defaults).
    ///
    /// # Errors
    /// An `Invalid` naming the field: not an object, an unknown limit, not a whole number, or
    /// outside the limit's bounds.
    pub fn from_json(value: &Value) -> Result<EvaluationLimits, OpError> {
        let Value::Object(given) = value else {
            return Err(OpError::invalid_body(
                "body",
                "must be a JSON object of limits",
            ));
        };
        let mut limits = EvaluationLimits::default();
        for (name, value) in given {
            let Some(field) = FIELDS.iter().find(|field| field.name == name) else {
                let known: Vec<&str> = FIELDS.iter().map(|field| field.name).collect();
                return Err(OpError::invalid_body(
                    name.clone(),
                    format!("is not a limit (known: {})", known.join(", ")),
                ));
            };
            if value.is_null() && field.name == "max_concurrent_evaluations" {
                limits.max_concurrent_evaluations = None;
                continue;
            }
            match value.as_u64() {
                Some(number) if (field.min..=field.max).contains(&number) => {
                    (field.set)(&mut limits, number);
                }
                _ => {
                    return Err(OpError::invalid_body(
                        name.clone(),
                        format!("must be a whole number from {} to {}", field.min, field.max),
                    ));
                }
            }
        }
        if limits.request_max_time_ms < limits.timeout_ms {
            return Err(OpError::invalid_body(
                "request_max_time_ms",
                format!(
                    "must be at least timeout_ms ({} ms): one evaluation may take that long",
                    limits.timeout_ms
                ),
            ));
        }
        Ok(limits)
    }

    /// The JSON Schema of the limits object the API takes and shows: every limit with the
    /// bounds [`EvaluationLimits::from_json`] accepts (`max_concurrent_evaluations` may be null;
    /// `request_max_time_ms` must also be at least `timeout_ms`, which a schema cannot say).
    pub fn json_schema() -> Value {
        let properties: Map<String, Value> = FIELDS
            .iter()
            .map(|field| {
                let kind = if field.name == "max_concurrent_evaluations" {
                    serde_json::json!(["integer", "null"])
                } else {
                    serde_json::json!("integer")
                };
                let schema =
                    serde_json::json!({"type": kind, "minimum": field.min, "maximum": field.max});
                (field.name.to_owned(), schema)
            })
            .collect();
        serde_json::json!({"type": "object", "additionalProperties": false, "properties": properties})
    }

    /// The limits as an object with every limit (defaults included), as the API shows them.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for field in FIELDS {
            map.insert(
                field.name.to_owned(),
                (field.get)(self).map_or(Value::Null, Value::from),
            );
        }
        Value::Object(map)
    }

    /// The limits of one evaluation.
    pub fn each(&self) -> connector::mapping::Limits {
        let narrow = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        connector::mapping::Limits {
            max_steps: Some(self.max_steps),
            max_depth: narrow(self.max_depth),
            timeout: Duration::from_millis(self.timeout_ms),
            max_items: narrow(self.max_items),
            max_string_bytes: narrow(self.max_string_bytes),
            max_alloc_bytes: narrow(self.max_alloc_bytes),
            max_output_bytes: narrow(self.max_output_bytes),
        }
    }

    /// A new budget for one request under these limits.
    pub fn budget(&self) -> Arc<connector::mapping::Budget> {
        Arc::new(connector::mapping::Budget::new(
            self.each(),
            connector::mapping::RequestLimits {
                max_steps: Some(self.request_max_steps),
                max_time: Duration::from_millis(self.request_max_time_ms),
            },
        ))
    }
}

/// The process's evaluation pool: at most `pool_size` evaluations at once, each environment at
/// most its cap. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Evaluator {
    inner: Arc<EvaluatorInner>,
}

#[derive(Debug)]
struct EvaluatorInner {
    pool: Arc<Semaphore>,
    pool_size: usize,
    /// The places of each environment with evaluations queued or running, and the cap they
    /// were made with.
    environments: Mutex<HashMap<EnvironmentId, (usize, Arc<Semaphore>)>>,
}

impl Evaluator {
    /// A pool of `pool_size` evaluations at once (at least 2, so that one environment's cap,
    /// at most the pool less one, always leaves a place for the others).
    pub fn new(pool_size: usize) -> Evaluator {
        let pool_size = pool_size.max(2);
        Evaluator {
            inner: Arc::new(EvaluatorInner {
                pool: Arc::new(Semaphore::new(pool_size)),
                pool_size,
                environments: Mutex::default(),
            }),
        }
    }

    /// A pool sized to the machine's cores.
    pub fn sized_to_cores() -> Evaluator {
        Evaluator::new(std::thread::available_parallelism().map_or(2, usize::from))
    }

    /// How many evaluations run at once in the process.
    pub fn pool_size(&self) -> usize {
        self.inner.pool_size
    }

    /// The number of evaluations `limits` lets one environment run at once here.
    pub fn cap_of(&self, limits: &EvaluationLimits) -> usize {
        let most = self.inner.pool_size - 1;
        match limits.max_concurrent_evaluations {
            Some(cap) => usize::try_from(cap).unwrap_or(usize::MAX).clamp(1, most),
            None => (self.inner.pool_size / 2).clamp(1, most),
        }
    }

    /// Evaluations of `environment_id` queued or running now (tests and metrics).
    pub fn in_flight(&self, environment_id: &EnvironmentId) -> usize {
        let environments = self.inner.environments.lock().expect("never poisoned");
        // Each evaluation queued or running holds the places (waiting for them, or in its
        // permit); the map holds them once.
        environments
            .get(environment_id)
            .map_or(0, |(_, places)| Arc::strong_count(places) - 1)
    }

    fn places(&self, environment_id: &EnvironmentId, cap: usize) -> Arc<Semaphore> {
        let mut environments = self.inner.environments.lock().expect("never poisoned");
        let entry = environments
            .entry(environment_id.clone())
            .or_insert_with(|| (cap, Arc::new(Semaphore::new(cap))));
        if entry.0 != cap {
            // The environment's cap changed: later evaluations take places of the new size
            // (those running finish on the old ones).
            *entry = (cap, Arc::new(Semaphore::new(cap)));
        }
        Arc::clone(&entry.1)
    }

    /// Forgets an environment's places once nothing holds or waits for them.
    fn tidy(&self, environment_id: &EnvironmentId) {
        let mut environments = self.inner.environments.lock().expect("never poisoned");
        if let Some((cap, places)) = environments.get(environment_id)
            && Arc::strong_count(places) == 1
            && places.available_permits() == *cap
        {
            environments.remove(environment_id);
        }
    }

    /// Runs `job` for `environment_id` on a blocking thread, under `budget`, once the
    /// environment has a place (at most `cap` at once) and the pool has one. The places are
    /// held until the job ends, even if the caller stops waiting for it.
    ///
    /// # Errors
    /// `Internal` when the job panicked or could not be started.
    pub async fn run<T, F>(
        &self,
        environment_id: &EnvironmentId,
        cap: usize,
        budget: Arc<connector::mapping::Budget>,
        job: F,
    ) -> Result<T, OpError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let places = self.places(environment_id, cap);
        let result = self.run_with_places(places, budget, job).await;
        self.tidy(environment_id);
        result
    }

    /// An [`provider_http::sender::Offload`] running a session's classification jobs for
    /// `environment_id` here, each under the environment's per-evaluation `limits` (not
    /// charged to a request's budget: a vendor answer is always classified).
    pub fn offload(
        &self,
        environment_id: EnvironmentId,
        cap: usize,
        limits: connector::mapping::Limits,
    ) -> provider_http::sender::Offload {
        let evaluator = self.clone();
        Arc::new(move |job| {
            let (evaluator, environment_id) = (evaluator.clone(), environment_id.clone());
            let budget = Arc::new(connector::mapping::Budget::new(
                limits.clone(),
                connector::mapping::RequestLimits {
                    max_steps: None,
                    max_time: Duration::MAX,
                },
            ));
            Box::pin(async move {
                if let Err(error) = evaluator.run(&environment_id, cap, budget, job).await {
                    tracing::error!(error = %error, "classifying a vendor answer failed");
                }
            })
        })
    }

    async fn run_with_places<T, F>(
        &self,
        places: Arc<Semaphore>,
        budget: Arc<connector::mapping::Budget>,
        job: F,
    ) -> Result<T, OpError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let closed = |_| OpError::Internal(anyhow::anyhow!("the evaluation pool is closed"));
        let own: OwnedSemaphorePermit = places.acquire_owned().await.map_err(closed)?;
        let shared: OwnedSemaphorePermit = Arc::clone(&self.inner.pool)
            .acquire_owned()
            .await
            .map_err(closed)?;
        let handle = tokio::task::spawn_blocking(move || {
            let _places = (own, shared);
            let _scope = budget.enter();
            job()
        });
        handle.await.map_err(|error| {
            OpError::Internal(anyhow::anyhow!("an evaluation job failed: {error}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published bounds are exactly what `from_json` accepts (issue 15: a client that keeps
    /// to the document is never refused).
    #[test]
    fn the_json_schema_states_the_bounds_from_json_accepts() {
        let schema = EvaluationLimits::json_schema();
        let properties = schema["properties"].as_object().expect("properties");
        assert_eq!(properties.len(), FIELDS.len());
        for (name, property) in properties {
            let min = property["minimum"].as_u64().expect("a minimum");
            let max = property["maximum"].as_u64().expect("a maximum");
            // The one rule between limits: a request's time is at least one evaluation's.
            let with = |value: u64| match name.as_str() {
                "request_max_time_ms" => {
                    serde_json::json!({ "timeout_ms": 1, name.as_str(): value })
                }
                _ => serde_json::json!({ name.as_str(): value }),
            };
            for accepted in [min, max] {
                let document = with(accepted);
                assert!(EvaluationLimits::from_json(&document).is_ok(), "{document}");
            }
            let mut refused = vec![max + 1];
            if min > 0 {
                refused.push(min - 1);
            }
            for value in refused {
                let document = with(value);
                assert!(
                    EvaluationLimits::from_json(&document).is_err(),
                    "{document}"
                );
            }
        }
    }

    #[test]
    fn limits_default_to_the_mapping_crates_and_round_trip() {
        let limits = EvaluationLimits::default();
        assert_eq!(limits.each(), connector::mapping::Limits::default());
        assert_eq!(
            EvaluationLimits::from_json(&limits.to_json()).expect("valid"),
            limits
        );
        let set =
            EvaluationLimits::from_json(&serde_json::json!({"max_steps": 5_000})).expect("valid");
        assert_eq!(set.max_steps, 5_000);
        assert_eq!(
            set.timeout_ms, limits.timeout_ms,
            "the others keep defaults"
        );
    }

    #[test]
    fn bad_limits_name_their_field() {
        for (body, field) in [
            (serde_json::json!({"max_steps": 0}), "max_steps"),
            (serde_json::json!({"max_steps": "many"}), "max_steps"),
            (serde_json::json!({"timeout_ms": 1.5}), "timeout_ms"),
            (serde_json::json!({"max_items": -1}), "max_items"),
            (serde_json::json!({"max_fun": 1}), "max_fun"),
            (
                serde_json::json!({"timeout_ms": 2_000, "request_max_time_ms": 1_000}),
                "request_max_time_ms",
            ),
            (serde_json::json!([1]), "body"),
        ] {
            match EvaluationLimits::from_json(&body) {
                Err(OpError::Invalid {
                    field: Some(named), ..
                }) => assert_eq!(named, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn one_environment_never_takes_the_whole_pool() {
        let evaluator = Evaluator::new(4);
        let mut limits = EvaluationLimits::default();
        assert_eq!(evaluator.cap_of(&limits), 2, "half the pool by default");
        limits.max_concurrent_evaluations = Some(100);
        assert_eq!(evaluator.cap_of(&limits), 3, "at most the pool less one");
        assert_eq!(Evaluator::new(1).pool_size(), 2);
        assert_eq!(Evaluator::new(1).cap_of(&EvaluationLimits::default()), 1);
    }

    /// Tenant A keeps six evaluations in flight (each blocked until the test lets it go: no
    /// timing involved); tenant B's evaluation is served while all six are still in flight.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_environment_is_served_while_one_holds_six_evaluations() {
        let evaluator = Evaluator::new(2);
        let tenant_a = EnvironmentId::generate();
        let tenant_b = EnvironmentId::generate();
        let limits = EvaluationLimits::default();
        let cap = evaluator.cap_of(&limits);
        assert_eq!(cap, 1, "on two places, one environment takes at most one");

        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
        let mut releases = Vec::new();
        let mut tenant_a_jobs = Vec::new();
        for n in 0..6 {
            let (release, hold) = std::sync::mpsc::channel::<()>();
            releases.push(release);
            let started = started_tx.clone();
            let (evaluator, tenant, budget) =
                (evaluator.clone(), tenant_a.clone(), limits.budget());
            tenant_a_jobs.push(tokio::spawn(async move {
                evaluator
                    .run(&tenant, cap, budget, move || {
                        started.send(n).expect("the test listens");
                        hold.recv().expect("the test releases every job");
                        n
                    })
                    .await
            }));
        }
        // One of A's evaluations is running (and holds its place until released).
        let first = started_rx.recv().await.expect("one of A's jobs starts");
        // The other spawned tasks ask for their places when a worker thread first polls them,
        // which may come after the first job started: yield until all six have.
        let mut yields = 0_u32;
        while evaluator.in_flight(&tenant_a) < 6 {
            yields += 1;
            assert!(
                yields < 1_000_000,
                "A's six tasks never all asked for places"
            );
            tokio::task::yield_now().await;
        }
        assert_eq!(evaluator.in_flight(&tenant_a), 6, "six queued or running");

        let served = evaluator
            .run(&tenant_b, cap, limits.budget(), || {
                connector::mapping::Expr::compile("$sum([1..100])")
                    .expect("compiles")
                    .evaluate(None, &connector::mapping::Vars::new())
            })
            .await
            .expect("B's job runs");
        assert_eq!(served, Ok(Some(serde_json::json!(5050))));
        assert_eq!(
            evaluator.in_flight(&tenant_a),
            6,
            "B was served while all of A's evaluations were in flight"
        );
        assert!(
            started_rx.try_recv().is_err(),
            "A never ran two at once: its cap holds the rest back"
        );

        // Let A's evaluations go one by one: each starts only when the one before ends.
        releases[first].send(()).expect("job waits");
        for _ in 1..6 {
            let next = started_rx
                .recv()
                .await
                .expect("the next of A's jobs starts");
            releases[next].send(()).expect("job waits");
        }
        for (n, job) in tenant_a_jobs.into_iter().enumerate() {
            assert_eq!(job.await.expect("joins").expect("runs"), n);
        }
        assert_eq!(evaluator.in_flight(&tenant_a), 0);
    }
}
