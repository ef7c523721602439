//! Building and running the service: store backend, connectors, keyring and the API server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use connector::{Connector, LoadError};
use server::override_check::{self, OverrideCheck};
use server::{AppState, ConnectorRegistry, CursorCodec, Operations};
use store::Store;
use tokio::net::TcpListener;

use crate::settings::Settings;

include!(concat!(env!("OUT_DIR"), "/connectors.rs"));

/// Opens the store the settings name (PostgreSQL when `database_url` is set, else SQLite in
/// the data directory) and applies its migrations.
///
/// # Errors
/// Fails when the database cannot be opened or migrated.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if settings.database_url.is_empty() {
        let path = settings.data_dir.join("crosswalk.db");
        Arc::new(
            store_sqlite::open(&path)
                .await
                .with_context(|| format!("opening SQLite database `{}`", path.display()))?,
        )
    } else if settings.database_url.starts_with("postgres://")
        || settings.database_url.starts_with("postgresql://")
    {
        Arc::new(
            store_postgres::connect(&settings.database_url)
                .await
                .context("connecting to PostgreSQL")?,
        )
    } else {
        anyhow::bail!("`database_url` must be empty (SQLite) or a postgres:// URL");
    };
    store
        .migrate()
        .await
        .context("applying database migrations")?;
    Ok(store)
}

/// Loads connectors from `dir`, or the embedded ones when `dir` is empty, applying operator
/// overrides. Returns the connectors and the errors of any file that failed.
///
/// # Errors
/// Fails when the folder cannot be listed.
pub fn load_connectors(
    dir: &str,
    overrides: &serde_json::Value,
) -> anyhow::Result<(Vec<Connector>, Vec<LoadError>)> {
    if !dir.is_empty() {
        return connector::load_connectors_dir(Path::new(dir), Some(overrides))
            .with_context(|| format!("listing connector folder `{dir}`"));
    }
    let mut connectors = Vec::new();
    let mut errors = Vec::new();
    for (id, text) in EMBEDDED_CONNECTORS {
        let label = format!("connectors/{id}/connector.yaml (embedded)");
        match connector::load_connector_from_str(&label, text, overrides.get(*id)) {
            Ok(connector) => connectors.push(connector),
            Err(error) => errors.push(error),
        }
    }
    Ok((connectors, errors))
}

/// What every process that reaches vendors shares: the unified operations (with the one vendor
/// call path), and for the API the keyring and the OAuth client.
pub struct Core {
    pub operations: Operations,
    pub keyring: Arc<secrets::Keyring>,
    pub oauth: provider_http::oauth::OAuthClient,
}

/// Builds the API state from settings, with `store` already open.
///
/// # Errors
/// Fails when the keyring is invalid or a connector file does not load.
pub async fn build_state(
    settings: &Settings,
    store: Arc<dyn Store>,
    public_url: &str,
) -> anyhow::Result<AppState> {
    let core = build_core(settings, Arc::clone(&store)).await?;
    let state = AppState {
        store,
        keyring: core.keyring,
        oauth: core.oauth,
        public_url: public_url.trim_end_matches('/').to_owned(),
        connectors: Arc::clone(core.operations.connectors()),
        operations: core.operations,
        failed_auth: server::FailureBudget {
            burst: settings.failed_auth_burst.max(1),
            refill: Duration::from_secs(settings.failed_auth_refill_secs.max(1)),
            ..server::FailureBudget::default()
        },
        mcp: server::McpSettings {
            watch_every: Duration::from_secs(settings.mcp_watch_secs.max(1)),
        },
    };
    revalidate_overrides(&state).await?;
    Ok(state)
}

/// Builds the unified operations and what they share from settings, with `store` already
/// open; `crosswalk work` runs on this alone, the API wraps it in its state.
///
/// # Errors
/// Fails when the keyring is invalid, Redis cannot be reached or a connector file does not
/// load.
pub async fn build_core(settings: &Settings, store: Arc<dyn Store>) -> anyhow::Result<Core> {
    let overrides = serde_json::to_value(&settings.connector_overrides)?;
    let (connectors, errors) = load_connectors(&settings.connectors_dir, &overrides)?;
    if let Some(first) = errors.first() {
        anyhow::bail!("connector file failed to load: {first}");
    }
    let keyring = Arc::new(settings.keyring()?);
    // Buckets live in Redis when several processes share a vendor budget, else in the process.
    // So does the cap on requests in flight; a place a dead process held frees itself once no
    // request of it can still be running.
    let (limiter, gate): (Arc<dyn rate_limit::Limiter>, rate_limit::Gate) =
        match &settings.redis_url {
            Some(url) if !url.is_empty() => {
                let limiter = rate_limit::RedisLimiter::connect(url)
                    .await
                    .context("connecting to Redis for rate limits")?;
                let lease = Duration::from_secs(settings.provider_timeout_secs + 30);
                let gate = rate_limit::Gate::Shared(limiter.gate(lease));
                (Arc::new(limiter), gate)
            }
            _ => (
                Arc::new(rate_limit::LocalLimiter::new()),
                rate_limit::Gate::default(),
            ),
        };
    let client =
        provider_http::ProviderClient::new(Duration::from_secs(settings.provider_timeout_secs));
    // Token requests go through the vendor calls' HTTP client (one pool, no redirects, timeouts).
    let oauth = provider_http::oauth::OAuthClient::new(&client);
    let tokens = Arc::new(provider_http::credentials::TokenManager::new(
        Arc::clone(&store),
        Arc::clone(&keyring),
        oauth.clone(),
    ));
    let sender = provider_http::Sender::new(provider_http::SenderParts {
        client,
        tokens,
        limiter,
        gate,
        breaker: provider_http::resilience::CircuitBreaker::new(
            provider_http::resilience::CircuitConfig::default(),
        ),
        clock: server::Clock::default(),
        retry: provider_http::resilience::RetryPolicy {
            max_wait: Duration::from_secs(30),
            ..provider_http::resilience::RetryPolicy::default()
        },
        store: Arc::clone(&store),
        default_wait_budget: Duration::from_secs(settings.default_wait_budget_secs),
    });
    let connectors = Arc::new(ConnectorRegistry::new(connectors));
    let (current, keys) = settings.cursor_keys();
    let operations = Operations::new(
        Arc::clone(&store),
        Arc::clone(&connectors),
        sender,
        CursorCodec::with_keys(&current, keys),
    );
    Ok(Core {
        operations,
        keyring,
        oauth,
    })
}

/// Re-validates every stored override against the connectors of `state` (they may have
/// changed since an override was saved, with an upgrade or new operator overrides): each that
/// no longer applies is logged and recorded once as an `override.invalid` event of its
/// environment. Every process building its state here (`serve`, `work`, the demo) does it on
/// start; requests on such a connection then answer `override_invalid`.
///
/// # Errors
/// Fails when the store cannot list the overrides or record an event.
pub async fn revalidate_overrides(state: &AppState) -> anyhow::Result<OverrideCheck> {
    revalidate_with(&state.operations).await
}

/// [`revalidate_overrides`] for any process holding the operations (the worker has no API state).
///
/// # Errors
/// Fails when the store cannot list the overrides or record an event.
pub async fn revalidate_with(operations: &Operations) -> anyhow::Result<OverrideCheck> {
    let store = operations.store();
    let check = override_check::check_stored_overrides(store.as_ref(), operations.connectors())
        .await
        .context("listing stored overrides")?;
    let recorded = override_check::report_invalid_overrides(store.as_ref(), &check.invalid)
        .await
        .context("recording invalid overrides")?;
    if !check.invalid.is_empty() {
        tracing::warn!(
            checked = check.checked,
            invalid = check.invalid.len(),
            events_recorded = recorded,
            "stored overrides re-validated; some no longer apply"
        );
    }
    Ok(check)
}

/// `crosswalk overrides check`: re-validates every stored override against the connectors the
/// settings load, without recording anything.
///
/// # Errors
/// Fails when the store cannot be opened or a connector file does not load.
pub async fn check_overrides(settings: &Settings) -> anyhow::Result<OverrideCheck> {
    let store = open_store(settings).await?;
    let overrides = serde_json::to_value(&settings.connector_overrides)?;
    let (connectors, errors) = load_connectors(&settings.connectors_dir, &overrides)?;
    if let Some(first) = errors.first() {
        anyhow::bail!("connector file failed to load: {first}");
    }
    let registry = ConnectorRegistry::new(connectors);
    override_check::check_stored_overrides(store.as_ref(), &registry)
        .await
        .context("listing stored overrides")
}

/// A server running in the background.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio_util::sync::CancellationToken,
    operations: Operations,
}

impl RunningServer {
    /// Stops gracefully: takes no new connections, lets the requests in flight finish, then
    /// waits for the token refreshes in flight (each holds a lease, and perhaps a refresh token
    /// the vendor has just rotated) to be stored. After `grace` in all it stops anyway.
    ///
    /// # Errors
    /// Fails when the server itself had failed.
    pub async fn shutdown(&mut self, grace: Duration) -> anyhow::Result<()> {
        self.stop.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        tokio::select! {
            joined = &mut self.task => joined.context("the server task")??,
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(grace_secs = grace.as_secs(), "requests still in flight when the grace period ended");
                self.task.abort();
            }
        }
        drain(&self.operations, deadline).await;
        Ok(())
    }
}

/// The job worker of a process that serves (`serve`, `demo`) or works (`work`): it runs the
/// queue's sync jobs. Several processes over one PostgreSQL share the jobs, none run twice at
/// once.
pub struct RunningWorker {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<server::WorkerReport>,
}

/// Records a sync job reads per vendor page.
const SYNC_PAGE_SIZE: u64 = 100;

/// How often a worker purges the webhook inbox of what is past its retention.
const INBOX_PURGE_EVERY: Duration = Duration::from_secs(3_600);

impl RunningWorker {
    /// Starts the worker on `operations`' store, claiming as `config` says; it runs sync jobs
    /// and inbound webhook processing only (see [`RunningWorker::spawn_with_webhooks`]).
    pub fn spawn(
        operations: &Operations,
        config: &crate::settings::WorkerConfig,
        grace: Duration,
    ) -> RunningWorker {
        RunningWorker::spawn_with_webhooks(operations, config, grace, None)
    }

    /// Starts the worker as [`RunningWorker::spawn`] does, delivering outbound webhooks too when
    /// given the keyring their secrets are sealed with (`serve`, `work` and `demo` do).
    pub fn spawn_with_webhooks(
        operations: &Operations,
        config: &crate::settings::WorkerConfig,
        grace: Duration,
        keyring: Option<Arc<secrets::Keyring>>,
    ) -> RunningWorker {
        let mut worker = server::Worker::new(
            Arc::clone(operations.store()),
            server::WorkerSettings {
                lease: Duration::from_secs(config.lease_secs.max(1)),
                concurrency: config.concurrency.max(1),
                ..server::WorkerSettings::default()
            },
        )
        .handle(
            server::SYNC_JOB_KIND,
            Arc::new(server::SyncHandler::new(operations.clone(), SYNC_PAGE_SIZE)),
        )
        .handle(
            server::INBOUND_JOB_KIND,
            Arc::new(server::InboundHandler::new(operations.clone())),
        )
        .handle(
            server::STALE_CHECK_JOB_KIND,
            Arc::new(server::StaleCheckHandler::new(
                operations.clone(),
                store::timestamp::Clock::default(),
            )),
        );
        if let Some(keyring) = keyring {
            worker = worker.handle(
                server::SUBSCRIPTION_JOB_KIND,
                Arc::new(server::SubscriptionHandler::new(
                    operations.clone(),
                    Arc::clone(&keyring),
                    store::timestamp::Clock::default(),
                )),
            );
            worker = worker.handle(
                webhooks::DELIVERY_JOB_KIND,
                Arc::new(webhooks::DeliveryHandler::new(
                    Arc::clone(operations.store()),
                    keyring,
                    config.webhooks.settings(),
                    store::timestamp::Clock::default(),
                )),
            );
        }
        let stop = tokio_util::sync::CancellationToken::new();
        // The inbox keeps processed deliveries and event ids for the 7 days duplicates are
        // dropped in; an hourly purge removes what is older.
        tokio::spawn(server::purge_inbox_every(
            Arc::clone(operations.store()),
            store::timestamp::Clock::default(),
            INBOX_PURGE_EVERY,
            server::INBOX_RETENTION,
            stop.clone().cancelled_owned(),
        ));
        let task = tokio::spawn(worker.run(stop.clone().cancelled_owned(), grace));
        RunningWorker { stop, task }
    }

    /// Stops claiming, lets the jobs in flight finish within the worker's grace, and hands back
    /// the rest.
    ///
    /// # Errors
    /// When the worker's task failed.
    pub async fn stop(self) -> anyhow::Result<server::WorkerReport> {
        self.stop.cancel();
        self.task.await.context("the worker task")
    }
}

/// Waits until `deadline` for the token refreshes in flight to finish.
pub async fn drain(operations: &Operations, deadline: tokio::time::Instant) {
    let in_flight = operations.refreshes_in_flight();
    if tokio::time::timeout_at(deadline, operations.drain())
        .await
        .is_err()
    {
        tracing::warn!(
            in_flight = operations.refreshes_in_flight(),
            "token refreshes still in flight when the grace period ended; their leases lapse"
        );
    } else if in_flight > 0 {
        tracing::info!(in_flight, "token refreshes in flight finished");
    }
}

/// Resolves on the first Ctrl-C or (on Unix) SIGTERM.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot listen for SIGTERM; Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Binds `listen` (port 0 picks a free port).
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))
}

/// The public URL of a server: the configured one, else `http://` and the bound address.
pub fn public_url(settings: &Settings, listener: &TcpListener) -> anyhow::Result<String> {
    Ok(match &settings.public_url {
        Some(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
        _ => format!("http://{}", listener.local_addr()?),
    })
}

/// Serves the API on `listener` in a background task.
///
/// Each request carries its peer's address (`ConnectInfo<SocketAddr>`): failed
/// authentications are metered per client address.
///
/// # Errors
/// Fails when the listener's address cannot be read.
pub fn spawn_server(listener: TcpListener, state: AppState) -> anyhow::Result<RunningServer> {
    spawn_server_with(listener, state, ServerLimits::default())
}

/// What the server allows each client: time to send a request head (and to stay idle between
/// requests), time per request, and connections at once.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_connections: 1024,
        }
    }
}

impl ServerLimits {
    /// The limits `settings` set.
    pub fn of(settings: &Settings) -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs.max(1)),
            request_timeout: Duration::from_secs(settings.request_timeout_secs.max(1)),
            max_connections: settings.max_connections.max(1),
        }
    }
}

/// Serves the API on `listener` in a background task under `limits`.
///
/// # Errors
/// Fails when the listener's address cannot be read.
pub fn spawn_server_with(
    listener: TcpListener,
    state: AppState,
    limits: ServerLimits,
) -> anyhow::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let operations = state.operations.clone();
    let app = server::router(state).layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        limits.request_timeout,
    ));
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(serve(listener, app, limits, stop.clone()));
    Ok(RunningServer {
        addr,
        task,
        stop,
        operations,
    })
}

/// The accept loop: hyper's HTTP/1.1 with a header-read timer (which also closes connections
/// idle before or between requests), a cap on connections served at once (acquired before accepting, so excess clients
/// wait in the listen queue), the client's address for the handlers, and a graceful stop.
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: ServerLimits,
    stop: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // HTTP/1.1 only: detecting the version first would read a silent client's first bytes
    // with no timer at all (TLS and HTTP/2 belong to the reverse proxy in front).
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = stop.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let service = tower::ServiceExt::map_request(
            app.clone(),
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        );
        let connection = builder
            .serve_connection(
                TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(service),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
