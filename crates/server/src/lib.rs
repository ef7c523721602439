//! The REST API: routes, API-key authentication, problem+json errors, the proxy and OpenAPI.
//!
//! [`router`] builds the axum app over an [`AppState`]; the `cli` crate picks the store backend
//! and serves it. Every route but `/health` and `/openapi.json` is authenticated by an API key
//! and scoped to that key's environment: another environment's connection answers 404.

mod auth;
mod error;
mod mcp;
mod openapi;
mod permissions;
pub mod request_id;
mod routes;
pub mod rules;
pub mod subscriptions;
pub mod upkeep;

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get};
use secrets::Keyring;
use store::Store;

pub use auth::FailureBudget;
pub use error::ApiError;
pub use mcp::{DEFAULT_WATCH_SECS as DEFAULT_MCP_WATCH_SECS, McpSettings};
pub use operations::override_check;
pub use operations::{
    ConnectorRegistry, CursorCodec, DEFAULT_BULK_BATCH, DEFAULT_PAGE_SIZE, JobHandler,
    MAX_PAGE_SIZE, Operations, SYNC_JOB_KIND, SyncDelays, SyncHandler, SyncJob, Worker,
    WorkerReport, WorkerSettings,
};
pub use operations::{DELETES_REFUSED_EVENT, DeleteGuard};
pub use operations::{INBOUND_JOB_KIND, InboundHandler};
pub use provider_http::Clock;
pub use provider_http::credentials::credentials_aad;
pub use routes::connect::{MAX_OAUTH_STARTS, PURGE_GRACE_SECS};
pub use routes::syncs::DEFAULT_EVERY_SECS as DEFAULT_SYNC_EVERY_SECS;
pub use subscriptions::{SUBSCRIPTION_JOB_KIND, SubscriptionHandler};
pub use upkeep::{
    INBOX_RETENTION, STALE_CHECK_JOB_KIND, StaleCheckHandler, WEBHOOKS_RESUMED_EVENT,
    WEBHOOKS_STALE_EVENT, purge_inbox_every,
};

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub keyring: Arc<Keyring>,
    /// The loaded base connectors (overrides apply through [`Operations`]).
    pub connectors: Arc<ConnectorRegistry>,
    /// The unified operations and the one vendor call path every route uses.
    pub operations: Operations,
    /// Talks to OAuth token endpoints (through the vendor calls' HTTP client).
    pub oauth: provider_http::oauth::OAuthClient,
    /// The public base URL of this server (`https://crosswalk.example.com`), used in Connect
    /// links and OAuth redirect URIs; no trailing slash.
    pub public_url: String,
    /// How many failed authentications one client address may make.
    pub failed_auth: auth::FailureBudget,
    /// The MCP server's settings.
    pub mcp: McpSettings,
}

/// Builds the API router.
pub fn router(state: AppState) -> Router {
    let mcp_routes = Router::new()
        .route("/mcp", any(mcp::all_connections))
        .route("/mcp/connections/{id}", any(mcp::one_connection))
        .layer(axum::Extension(mcp::Endpoint::new(&state)));
    let authenticated = Router::new()
        .merge(mcp_routes)
        .route(
            "/connections",
            get(routes::connections::list).post(routes::connections::create),
        )
        .route(
            "/connections/{id}",
            get(routes::connections::get_one).delete(routes::connections::delete),
        )
        .route("/unified/{category}/fields", get(routes::unified::fields))
        .route("/unified/{category}/{object}/meta", get(routes::meta::show))
        .route(
            "/unified/{category}/{object}",
            get(routes::unified::list)
                .post(routes::unified::create)
                .fallback(routes::unified::other_method_on_collection),
        )
        .route(
            "/unified/{category}/{object}/{id}",
            get(routes::unified::get_one)
                .patch(routes::unified::update)
                .delete(routes::unified::delete)
                .fallback(routes::unified::other_method_on_record),
        )
        .route("/proxy/{*path}", any(routes::proxy::forward))
        .route(
            "/connect/sessions",
            axum::routing::post(routes::connect::create_session),
        )
        .route(
            "/environment/oauth-apps/{provider}",
            get(routes::environment::get_oauth_app).put(routes::environment::put_oauth_app),
        )
        .route(
            "/environment/limits",
            get(routes::environment::get_limits).put(routes::environment::put_limits),
        )
        .route(
            "/environment/branding",
            axum::routing::put(routes::environment::put_branding),
        )
        .route("/events", get(routes::events::list))
        .route(
            "/syncs",
            get(routes::syncs::list).post(routes::syncs::create),
        )
        .route(
            "/syncs/{id}",
            get(routes::syncs::get_one)
                .patch(routes::syncs::update)
                .delete(routes::syncs::stop),
        )
        .route(
            "/syncs/{id}/pause",
            axum::routing::post(routes::syncs::pause),
        )
        .route(
            "/syncs/{id}/resume",
            axum::routing::post(routes::syncs::resume),
        )
        .route(
            "/syncs/{id}/run",
            axum::routing::post(routes::syncs::run_now),
        )
        .route(
            "/syncs/{id}/resync",
            axum::routing::post(routes::syncs::resync),
        )
        .route(
            "/environment/syncs",
            get(routes::syncs::get_defaults).put(routes::syncs::put_defaults),
        )
        .route("/changes", get(routes::syncs::changes))
        .route(
            "/environment/overrides/{provider}",
            get(routes::overrides::get_environment)
                .put(routes::overrides::put_environment)
                .delete(routes::overrides::delete_environment),
        )
        .route(
            "/environment/overrides/{provider}/revert",
            axum::routing::post(routes::overrides::revert_environment),
        )
        .route(
            "/connections/{id}/overrides",
            get(routes::overrides::get_connection)
                .put(routes::overrides::put_connection)
                .delete(routes::overrides::delete_connection),
        )
        .route(
            "/connections/{id}/overrides/revert",
            axum::routing::post(routes::overrides::revert_connection),
        )
        .route(
            "/connections/{id}/openapi.json",
            get(openapi::connection_document),
        )
        .route(
            "/environment/api-keys",
            get(routes::api_keys::list).post(routes::api_keys::create),
        )
        .route(
            "/environment/api-keys/{id}",
            axum::routing::delete(routes::api_keys::revoke),
        )
        .route(
            "/environment/api-keys/{id}/rotate",
            axum::routing::post(routes::api_keys::rotate),
        )
        .route(
            "/webhooks/endpoints",
            get(routes::webhooks::list).post(routes::webhooks::create),
        )
        .route(
            "/webhooks/endpoints/{id}",
            get(routes::webhooks::get_one)
                .patch(routes::webhooks::update)
                .delete(routes::webhooks::delete),
        )
        .route(
            "/webhooks/endpoints/{id}/rotate-secret",
            axum::routing::post(routes::webhooks::rotate_secret),
        )
        .route(
            "/webhooks/endpoints/{id}/attempts",
            get(routes::webhooks::attempts),
        )
        .route(
            "/webhooks/endpoints/{id}/messages",
            get(routes::webhooks::messages),
        )
        .route(
            "/connections/{id}/webhook-ingress",
            get(routes::inbound::show)
                .post(routes::inbound::create)
                .delete(routes::inbound::delete),
        )
        .route(
            "/webhooks/endpoints/{id}/replay",
            axum::routing::post(routes::webhooks::replay),
        )
        // Layers run outside in: authentication first, then the key's permissions.
        .route_layer(axum::middleware::from_fn(permissions::enforce))
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), auth::AuthGuard::new(state.failed_auth)),
            auth::require_api_key,
        ));
    // The end user's pages: no API key, their own security headers.
    let connect_pages = Router::new()
        .route("/connect", get(routes::connect::show))
        .route(
            "/connect/submit",
            axum::routing::post(routes::connect::submit),
        )
        .route("/connect/oauth/start", get(routes::connect::oauth_start))
        .route(
            "/connect/oauth/callback",
            get(routes::connect::oauth_callback),
        )
        .route_layer(axum::middleware::from_fn(routes::connect::page_headers));
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/openapi.json", get(openapi::document))
        .route(
            "/hooks/{token}",
            axum::routing::post(routes::inbound::receive),
        )
        .merge(connect_pages)
        .merge(authenticated)
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            8 * 1024 * 1024,
        ))
        .layer(axum::middleware::from_fn(error::problems_only));
    request_id::layer(router).with_state(state)
}
