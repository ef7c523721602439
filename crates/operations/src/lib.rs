//! The unified operations over any connection, for every caller: the REST API, Connect, the
//! worker, and the sync engine and MCP server to come.
//!
//! [`Operations`] is built once per process. [`Operations::bind`] resolves a connection of an
//! environment to a [`Bound`]: its effective connector (the base file with the environment's and
//! the connection's override layers, resolved here and nowhere else) and a
//! [`provider_http::Session`] (fresh credentials, breaker, buckets, retries). On a `Bound` the
//! operations are plain methods: [`Bound::list_page`], [`Bound::get`], [`Bound::create`],
//! [`Bound::update`], [`Bound::delete`], [`Bound::fields`], [`Bound::meta`], [`Bound::proxy`].
//! They take typed requests and return records and [`OpError`]s; nothing here knows HTTP status
//! codes, query strings or headers.

mod bound;
mod cursor;
mod effective;
mod error;
mod evaluation;
mod inbound;
mod joined;
mod meta;
pub mod override_check;
mod proxy;
mod records;
mod registry;
mod sync;
pub mod sync_state;
mod synced_list;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use store::{ConnectionId, ConnectionStatus, EnvironmentId, Store};

pub use bound::Bound;
pub use cursor::{CursorCodec, filter_hash};
pub use effective::EffectiveConnectors;
pub use error::OpError;
pub use evaluation::{EvaluationLimits, Evaluator};
pub use inbound::{INBOUND_JOB_KIND, InboundHandler, inbound_job};
pub use meta::Meta;
pub use proxy::{ProxyAnswer, ProxyRequest};
pub use records::{
    DEFAULT_PAGE_SIZE, Include, LIST_FILTER_PATTERN, ListPage, ListRequest, MAX_PAGE_SIZE,
    NOT_BLANK, is_blank,
};
pub use registry::ConnectorRegistry;
pub use sync::{
    DEFAULT_BULK_BATCH, DEFAULT_LOOKBACK, DEFAULT_RECONCILE_EVERY, DELETES_REFUSED_EVENT,
    DeleteGuard, SYNC_JOB_KIND, SyncDelays, SyncHandler, SyncJob,
};
pub use synced_list::SYNCED_FILTERS;
pub use worker::{JobHandler, Worker, WorkerReport, WorkerSettings};

/// What every operation of a process shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Operations {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    connectors: Arc<ConnectorRegistry>,
    sender: provider_http::Sender,
    effective: EffectiveConnectors,
    cursors: CursorCodec,
    /// Where mappings are evaluated.
    evaluator: Evaluator,
    /// One discovery in flight per connection and object in this process.
    discoveries: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Whole lists `enrich` entries joined with, reused for a short while.
    joined: joined::JoinedLists,
}

impl Operations {
    /// Operations over `store`, the loaded `connectors`, vendor calls through `sender` and list
    /// cursors signed by `cursors`.
    pub fn new(
        store: Arc<dyn Store>,
        connectors: Arc<ConnectorRegistry>,
        sender: provider_http::Sender,
        cursors: CursorCodec,
    ) -> Operations {
        Operations {
            inner: Arc::new(Inner {
                store,
                connectors,
                sender,
                effective: EffectiveConnectors::default(),
                cursors,
                evaluator: Evaluator::sized_to_cores(),
                discoveries: std::sync::Mutex::default(),
                joined: joined::JoinedLists::default(),
            }),
        }
    }

    /// The same operations evaluating mappings on `evaluator` (a pool of another size).
    ///
    /// # Panics
    /// When called on a clone that is shared already: call it right after [`Operations::new`].
    #[must_use]
    pub fn with_evaluator(mut self, evaluator: Evaluator) -> Operations {
        Arc::get_mut(&mut self.inner)
            .expect("with_evaluator is called before the operations are shared")
            .evaluator = evaluator;
        self
    }

    /// The process's evaluation pool.
    pub fn evaluator(&self) -> &Evaluator {
        &self.inner.evaluator
    }

    /// Where the connector JSONata run for `environment_id` outside a request's mappings
    /// (vendor error rules, token answers' `capture` and `invalid_grant_when`) runs: the
    /// evaluation pool, under the environment's cap and per-evaluation `limits`.
    pub fn evaluation_offload(
        &self,
        environment_id: &EnvironmentId,
        limits: &EvaluationLimits,
    ) -> provider_http::sender::Offload {
        let cap = self.inner.evaluator.cap_of(limits);
        self.inner
            .evaluator
            .offload(environment_id.clone(), cap, limits.each())
    }

    /// The evaluation limits of `environment_id`: those it sets, defaults for the others. A
    /// stored document that no longer validates (a bound changed) gives the defaults, logged.
    ///
    /// # Errors
    /// `NotFound` for an unknown environment; store failures.
    pub async fn evaluation_limits(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<EvaluationLimits, OpError> {
        let stored = self
            .inner
            .store
            .get_evaluation_limits(environment_id)
            .await?;
        Ok(EvaluationLimits::from_json(&stored).unwrap_or_else(|error| {
            tracing::warn!(environment_id = %environment_id, error = %error, "stored evaluation limits no longer valid; using the defaults");
            EvaluationLimits::default()
        }))
    }

    /// Validates and stores the evaluation limits `environment_id` sets (a JSON object; a limit
    /// left out has its default); they apply to its next requests. Returns every limit.
    ///
    /// # Errors
    /// `Invalid` naming the field of a bad limit; `NotFound` for an unknown environment.
    pub async fn set_evaluation_limits(
        &self,
        environment_id: &EnvironmentId,
        document: &serde_json::Value,
    ) -> Result<EvaluationLimits, OpError> {
        let limits = EvaluationLimits::from_json(document)?;
        self.inner
            .store
            .set_evaluation_limits(environment_id, document)
            .await?;
        Ok(limits)
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The loaded base connectors.
    pub fn connectors(&self) -> &Arc<ConnectorRegistry> {
        &self.inner.connectors
    }

    /// The composed vendor sender.
    pub fn sender(&self) -> &provider_http::Sender {
        &self.inner.sender
    }

    /// The effective connector of `provider` for `environment_id` and, when given, one of its
    /// connections: the base file with the environment's and the connection's current override
    /// layers. Connect, connection creation and the token refresh use it as the unified
    /// operations do.
    ///
    /// # Errors
    /// `NotFound` for a provider that is not loaded; `OverrideInvalid` when a stored override
    /// no longer applies.
    pub async fn effective_connector(
        &self,
        environment_id: &EnvironmentId,
        provider: &str,
        connection_id: Option<&ConnectionId>,
    ) -> Result<effective::Effective, OpError> {
        let base = self
            .inner
            .connectors
            .get(provider)
            .ok_or_else(|| OpError::NotFound(format!("provider `{provider}` is not loaded")))?;
        self.inner
            .effective
            .resolve(
                self.inner.store.as_ref(),
                base,
                environment_id,
                connection_id,
            )
            .await
    }

    /// Binds the connection `connection_id` of `environment_id` with fresh credentials; its
    /// calls may wait `wait_budget` (the process default when `None`) for the vendor budget.
    ///
    /// # Errors
    /// `NotFound` when the connection is not the environment's (never revealing another
    /// environment's ids); `ReauthRequired` or an invalid `connection_id` when the connection is
    /// not active; `OverrideInvalid` when a stored override no longer applies.
    pub async fn bind(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &str,
        wait_budget: Option<Duration>,
    ) -> Result<Bound, OpError> {
        let missing = || OpError::NotFound(format!("connection `{connection_id}` does not exist"));
        let id = ConnectionId::parse(connection_id).map_err(|_| missing())?;
        let (connection, limits) = tokio::join!(
            self.inner.store.get_connection(environment_id, &id),
            self.evaluation_limits(environment_id)
        );
        let connection = connection.map_err(|error| match error {
            store::StoreError::NotFound => missing(),
            other => other.into(),
        })?;
        self.bind_connection(environment_id, connection, limits?, wait_budget)
            .await
    }

    /// Binds a copy of a connection kept after the connection itself was deleted (its
    /// credentials still sealed as the store held them), for the calls that must still reach
    /// the vendor on its behalf: deleting a webhook subscription the vendor refused to delete
    /// while the connection existed. A token that must be refreshed cannot be kept (there is no
    /// connection left to keep it in), so such a call fails.
    ///
    /// # Errors
    /// As [`Operations::bind`].
    pub async fn bind_removed(
        &self,
        connection: store::Connection,
        wait_budget: Option<Duration>,
    ) -> Result<Bound, OpError> {
        let environment_id = connection.environment_id.clone();
        let limits = self.evaluation_limits(&environment_id).await?;
        self.bind_connection(&environment_id, connection, limits, wait_budget)
            .await
    }

    async fn bind_connection(
        &self,
        environment_id: &EnvironmentId,
        connection: store::Connection,
        limits: EvaluationLimits,
        wait_budget: Option<Duration>,
    ) -> Result<Bound, OpError> {
        let connection_id = connection.id.as_str();
        match connection.status {
            ConnectionStatus::Active => {}
            ConnectionStatus::NeedsReauth => return Err(OpError::ReauthRequired),
            other => {
                return Err(OpError::Invalid {
                    code: "connection_inactive",
                    field: Some("connection_id".to_owned()),
                    detail: format!("connection `{connection_id}` is `{}`", other.as_str()),
                });
            }
        }
        let effective = self
            .effective_connector(environment_id, &connection.provider, Some(&connection.id))
            .await
            .map_err(|error| match error {
                OpError::NotFound(_) => OpError::Internal(anyhow::anyhow!(
                    "connector `{}` of connection `{connection_id}` is not loaded",
                    connection.provider
                )),
                other => other,
            })?;
        let offload = self.evaluation_offload(environment_id, &limits);
        let session = self
            .inner
            .sender
            .session(
                connection.clone(),
                effective.connector.clone(),
                wait_budget,
                Some(offload),
            )
            .await?;
        Ok(Bound::new(
            self.clone(),
            connection,
            effective,
            session,
            &limits,
        ))
    }

    /// Waits until every token refresh in flight has finished (stored, lease released). A
    /// stopping process calls it after its last caller is served.
    pub async fn drain(&self) {
        self.inner.sender.tokens().drain().await;
    }

    /// How many token refreshes are in flight in this process.
    pub fn refreshes_in_flight(&self) -> usize {
        self.inner.sender.tokens().refreshes_in_flight()
    }

    /// Refreshes, ahead of expiry, every connection whose token expires within `window`, each
    /// with its effective connector (overrides included). Returns how many were refreshed; a
    /// connection that fails is logged and skipped.
    ///
    /// # Errors
    /// Fails only when the store cannot list connections.
    pub async fn refresh_expiring(&self, window: Duration, limit: u32) -> Result<usize, OpError> {
        let before = chrono::Utc::now() + chrono::Duration::from_std(window).unwrap_or_default();
        let due = self
            .inner
            .store
            .list_connections_expiring_before(before, limit)
            .await?;
        let mut refreshed = 0;
        for connection in due {
            let id = connection.id.clone();
            let effective = match self
                .effective_connector(&connection.environment_id, &connection.provider, Some(&id))
                .await
            {
                Ok(effective) => effective,
                Err(error) => {
                    tracing::warn!(connection_id = %id, error = %error, "no connector to refresh with");
                    continue;
                }
            };
            let seen_at = connection.updated_at;
            let limits = match self.evaluation_limits(&connection.environment_id).await {
                Ok(limits) => limits,
                Err(error) => {
                    tracing::warn!(connection_id = %id, error = %error, "no evaluation limits to refresh with");
                    continue;
                }
            };
            let offload = self.evaluation_offload(&connection.environment_id, &limits);
            match self
                .inner
                .sender
                .tokens()
                .fresh(connection, &effective.connector, true, Some(&offload))
                .await
            {
                Ok((row, _)) if row.updated_at > seen_at => refreshed += 1,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(connection_id = %id, error = %error, "ahead-of-expiry refresh failed")
                }
            }
        }
        Ok(refreshed)
    }
}
