//! [`Bound`]: one connection ready for unified operations: its row, its effective connector,
//! its vendor session, and its discovered fields (cached in the store, discovered once at a
//! time per connection and object in a process).

use std::sync::Arc;

use chrono::Utc;
use connector::{
    Connector, DiscoveredField, OverrideLayer, PlannedRequest, RequestContext, fields_binding,
};
use provider_http::{Answer, Session};
use serde_json::Value;
use store::Connection;

use crate::effective::Effective;
use crate::evaluation::EvaluationLimits;
use crate::{OpError, Operations};

/// A connection ready for unified operations.
///
/// A `Bound` is one request: its mappings share one evaluation budget (the environment's
/// [`EvaluationLimits`]), spent on the process's evaluation pool. A caller that makes many
/// requests on one binding (a sync run, a page of its walk at a time) begins each with
/// [`Bound::renew_budget`].
pub struct Bound {
    pub(crate) ops: Operations,
    pub(crate) connection: Connection,
    pub(crate) effective: Effective,
    pub(crate) session: Session,
    /// The budget of the request under way (replaced whole by [`Bound::renew_budget`]).
    budget: std::sync::Mutex<Arc<connector::mapping::Budget>>,
    /// Evaluations of the environment that may run at once in the process.
    pub(crate) evaluation_cap: usize,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("connection", &self.connection.id)
            .field("provider", &self.effective.connector.id())
            .finish_non_exhaustive()
    }
}

impl Bound {
    pub(crate) fn new(
        ops: Operations,
        connection: Connection,
        effective: Effective,
        session: Session,
        limits: &EvaluationLimits,
    ) -> Bound {
        let evaluation_cap = ops.inner.evaluator.cap_of(limits);
        Bound {
            ops,
            connection,
            effective,
            session,
            budget: std::sync::Mutex::new(limits.budget()),
            evaluation_cap,
        }
    }

    /// The evaluation budget of the request under way (what its mappings have spent, and
    /// may).
    pub fn budget(&self) -> Arc<connector::mapping::Budget> {
        Arc::clone(&self.budget.lock().expect("never poisoned"))
    }

    /// Begins a new request on this binding: later evaluations share a fresh budget under the
    /// same limits, and what earlier requests spent no longer counts. Evaluations already
    /// running finish on the budget they started with.
    pub(crate) fn renew_budget(&self) {
        let mut budget = self.budget.lock().expect("never poisoned");
        *budget = Arc::new(connector::mapping::Budget::new(
            budget.limits().clone(),
            *budget.request_limits(),
        ));
    }

    /// Runs `job` with the effective connector on the process's evaluation pool, under the
    /// request's budget and the environment's concurrency cap: every mapping of a unified
    /// operation is evaluated through here, never on an async worker.
    ///
    /// # Errors
    /// `Internal` when the job panicked.
    pub(crate) async fn evaluate<T, F>(&self, job: F) -> Result<T, OpError>
    where
        T: Send + 'static,
        F: FnOnce(&Connector) -> T + Send + 'static,
    {
        let connector = self.connector().clone();
        self.ops
            .inner
            .evaluator
            .run(
                &self.connection.environment_id,
                self.evaluation_cap,
                self.budget(),
                move || job(&connector),
            )
            .await
    }

    /// The connection as bound (id, environment and provider never change).
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The connection as its session holds it now: after a token refresh, with the new
    /// tokens (sealed).
    pub fn current_connection(&self) -> Connection {
        self.session.connection()
    }

    /// The effective connector: the base with the environment's and the connection's
    /// override layers.
    pub fn connector(&self) -> &Connector {
        &self.effective.connector
    }

    /// The override layers applied, for provenance.
    pub fn overrides(&self) -> &[(OverrideLayer, Value)] {
        &self.effective.layers
    }

    /// The connection's current non-secret fields.
    pub fn account(&self) -> Value {
        self.session.account()
    }

    /// IETF `RateLimit-Policy` and `RateLimit` values for the connection's vendor budget.
    pub async fn rate_limit_headers(&self) -> Vec<(&'static str, String)> {
        self.session.rate_limit_headers().await
    }

    /// Sends one planned request through the connection's session.
    pub(crate) async fn send(
        &self,
        request: PlannedRequest,
        read: bool,
    ) -> Result<Answer, OpError> {
        Ok(self.session.send(request, read).await?)
    }

    /// Sends the requests of one page or record (several when the route chunks a parameter),
    /// in order; a vendor error ends the run early, since the first error is what the caller
    /// gets.
    pub(crate) async fn send_parts(
        &self,
        plans: Vec<PlannedRequest>,
    ) -> Result<Vec<Answer>, OpError> {
        let mut answers = Vec::with_capacity(plans.len());
        for plan in plans {
            let answer = self.send(plan, true).await?;
            let failed = answer.error.is_some();
            answers.push(answer);
            if failed {
                break;
            }
        }
        Ok(answers)
    }

    /// Turns a read failure into an error; when the connector's rule says the vendor's fields
    /// changed (`refresh_discovery`), the discovered fields of `object` are marked stale first.
    pub(crate) async fn noted<T>(
        &self,
        object: &str,
        result: Result<T, connector::ReadError>,
    ) -> Result<T, OpError> {
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                let error = OpError::from(error);
                if let OpError::Provider(provider) = &error
                    && provider
                        .rule
                        .as_deref()
                        .is_some_and(|rule| self.connector().refreshes_discovery(rule))
                {
                    self.forget_fields(object).await;
                }
                Err(error)
            }
        }
    }

    /// The request context of a unified call on `object`, with discovered fields bound.
    ///
    /// # Errors
    /// Fails when discovery is needed and the vendor refuses it.
    pub(crate) async fn context(&self, object: &str) -> Result<RequestContext, OpError> {
        let fields = self.fields(object).await?;
        Ok(self.context_with(&fields))
    }

    /// The request context of a unified call with `fields`, discovered already, bound.
    pub(crate) fn context_with(&self, fields: &[DiscoveredField]) -> RequestContext {
        RequestContext {
            account: self.account(),
            fields: fields_binding(fields),
            ..RequestContext::default()
        }
    }

    fn discovery_cache_key(&self, object: &str) -> String {
        format!("{}:{object}", self.connector().file().meta.revision)
    }

    /// Marks the discovered fields of `object` stale, so the next call discovers them again.
    pub async fn forget_fields(&self, object: &str) {
        let cache_key = self.discovery_cache_key(object);
        let stale = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        if let Err(error) = self
            .ops
            .store()
            .put_discovered_fields(
                &self.connection.id,
                &cache_key,
                &serde_json::json!([]),
                stale,
            )
            .await
        {
            tracing::warn!(connection_id = %self.connection.id, error = %error, "cannot mark discovered fields stale");
        } else {
            tracing::info!(connection_id = %self.connection.id, object, "vendor fields changed: discovery will run again");
        }
    }

    /// Discovered fields of `object` (`crm.contacts`): from the store while fresh, else from
    /// the vendor (one discovery at a time per connection and object in this process).
    ///
    /// # Errors
    /// Fails when the vendor refuses discovery or the store fails.
    pub async fn fields(&self, object: &str) -> Result<Vec<DiscoveredField>, OpError> {
        let Some(ttl_secs) = self.connector().discovery_ttl_secs(object) else {
            return Ok(Vec::new());
        };
        let cache_key = self.discovery_cache_key(object);
        if let Some(fields) = self.cached_fields(&cache_key, ttl_secs).await? {
            return Ok(fields);
        }
        // Single flight: the first caller discovers, the others wait and read its result.
        let flight_key = format!("{}:{cache_key}", self.connection.id);
        let flights = &self.ops.inner.discoveries;
        let flight = Arc::clone(
            flights
                .lock()
                .expect("never poisoned")
                .entry(flight_key.clone())
                .or_default(),
        );
        let result = {
            let _turn = flight.lock().await;
            match self.cached_fields(&cache_key, ttl_secs).await {
                Ok(Some(fields)) => Ok(fields),
                Ok(None) => self.discover(object, &cache_key).await,
                Err(error) => Err(error),
            }
        };
        let mut map = flights.lock().expect("never poisoned");
        // The map's entry and ours: nobody else waits, so the entry can go.
        if Arc::strong_count(&flight) == 2 {
            map.remove(&flight_key);
        }
        drop(map);
        result
    }

    /// Discovers `object`'s fields again unless the store's copy is younger than a minute;
    /// `None` when it is (nothing new to learn yet) or the connector discovers nothing. For a
    /// write whose value an account may have added since discovery (its own option list).
    ///
    /// # Errors
    /// Fails when the vendor refuses discovery or the store fails.
    pub async fn rediscover_unless_recent(
        &self,
        object: &str,
    ) -> Result<Option<Vec<DiscoveredField>>, OpError> {
        if self.connector().discovery_ttl_secs(object).is_none() {
            return Ok(None);
        }
        let cache_key = self.discovery_cache_key(object);
        if self
            .cached_fields(&cache_key, REDISCOVERY_MIN_AGE_SECS)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        self.discover(object, &cache_key).await.map(Some)
    }

    /// The connection's discovered fields of `cache_key` when the store holds them fresh.
    async fn cached_fields(
        &self,
        cache_key: &str,
        ttl_secs: u64,
    ) -> Result<Option<Vec<DiscoveredField>>, OpError> {
        let Some(cached) = self
            .ops
            .store()
            .get_discovered_fields(&self.connection.id, cache_key)
            .await?
        else {
            return Ok(None);
        };
        let age = Utc::now().signed_duration_since(cached.fetched_at);
        if age.num_seconds() < 0 || (age.num_seconds() as u64) >= ttl_secs {
            return Ok(None);
        }
        Ok(serde_json::from_value::<Vec<DiscoveredField>>(cached.fields).ok())
    }

    /// Asks the vendor for `object`'s fields and stores them under `cache_key`.
    async fn discover(
        &self,
        object: &str,
        cache_key: &str,
    ) -> Result<Vec<DiscoveredField>, OpError> {
        let ctx = RequestContext {
            account: self.account(),
            page_size: 1,
            ..RequestContext::default()
        };
        let owned = object.to_owned();
        let Some(plan) = self
            .evaluate(move |connector| connector.plan_discovery(&owned, &ctx))
            .await??
        else {
            return Ok(Vec::new());
        };
        let answer = self.send(plan, true).await?;
        // A declared second request (`enrich`) completes the fields the first one found.
        let owned = object.to_owned();
        let enrich_ctx = RequestContext {
            account: self.account(),
            page_size: 1,
            ..RequestContext::default()
        };
        let enrichment = match self
            .evaluate(move |connector| connector.plan_discovery_enrichment(&owned, &enrich_ctx))
            .await??
        {
            Some(plan) => Some(self.send(plan, true).await?),
            None => None,
        };
        let owned = object.to_owned();
        let fields = self
            .evaluate(move |connector| {
                connector.read_discovery(
                    &owned,
                    &answer.response,
                    enrichment.as_ref().map(|answer| &answer.response),
                )
            })
            .await??;
        let stored = serde_json::to_value(&fields).map_err(OpError::internal)?;
        self.ops
            .store()
            .put_discovered_fields(&self.connection.id, cache_key, &stored, Utc::now())
            .await?;
        Ok(fields)
    }
}

/// How old a connection's discovered fields must be before a refused write value makes
/// Crosswalk look again (a client sending bad values cannot spend the vendor budget faster).
const REDISCOVERY_MIN_AGE_SECS: u64 = 60;
