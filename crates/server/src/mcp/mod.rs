//! The Model Context Protocol server: every connection's unified objects as tools an agent can
//! call, over streamable HTTP (rmcp), behind the same API-key authentication as the REST API.
//!
//! `/mcp/connections/{id}` serves one connection's tools, `/mcp` those of every active
//! connection of the key's environment (each tool then takes a `connection_id`). Query
//! parameters choose the tools: `mode=search` (two tools, one to find tools and one to call
//! them) and `preset=read_only` (list and get only). One endpoint answers the stateless
//! protocol revision and the session-based 2025 revisions (rmcp negotiates per request).
//!
//! `catalog.rs` builds tools from `/meta` descriptions; `handler.rs` lists and calls them.

mod catalog;
mod handler;

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tower::ServiceExt;

use crate::auth::Caller;
use crate::routes::unified::{header_text, parse_query, parse_wait_budget};
use crate::{ApiError, AppState};

/// How often a session's tools are compared with what its client last saw, by default.
pub const DEFAULT_WATCH_SECS: u64 = 30;

/// The MCP server's settings.
#[derive(Debug, Clone, Copy)]
pub struct McpSettings {
    /// How often each open session's tools are rebuilt to tell its client when they changed
    /// (`notifications/tools/list_changed`).
    pub watch_every: Duration,
}

impl Default for McpSettings {
    fn default() -> McpSettings {
        McpSettings {
            watch_every: Duration::from_secs(DEFAULT_WATCH_SECS),
        }
    }
}

/// What one HTTP request to an MCP endpoint asks for (a request extension the handler reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    /// The one connection of `/mcp/connections/{id}`; `None` for every connection.
    pub connection_id: Option<String>,
    /// `mode=search`: the two search tools instead of every tool.
    pub search: bool,
    /// `preset=read_only`: list and get tools only.
    pub read_only: bool,
    /// The caller's wait budget (`Crosswalk-Max-Wait-Ms`), for every call of the request.
    pub wait: Option<Duration>,
}

/// The rmcp service behind both endpoints.
#[derive(Clone)]
pub(crate) struct Endpoint {
    service: StreamableHttpService<handler::McpServer, LocalSessionManager>,
}

impl Endpoint {
    /// The service for `state`: sessions in this process, hosts of the public URL and loopback.
    pub(crate) fn new(state: &AppState) -> Endpoint {
        let settings = state.mcp;
        let mut hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        if let Ok(url) = url::Url::parse(&state.public_url)
            && let Some(host) = url.host_str()
        {
            hosts.push(host.to_owned());
            if let Some(port) = url.port() {
                hosts.push(format!("{host}:{port}"));
            }
        }
        let config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts)
            .with_json_response(true)
            .with_sse_keep_alive(Some(Duration::from_secs(15)))
            .with_max_request_body_bytes(8 * 1024 * 1024);
        let state = state.clone();
        let service = StreamableHttpService::new(
            move || Ok(handler::McpServer::new(state.clone(), settings.watch_every)),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        Endpoint { service }
    }
}

/// Parses an endpoint's query string into a scope.
fn scope_of(
    raw: Option<String>,
    connection_id: Option<String>,
    headers: &axum::http::HeaderMap,
) -> Result<Scope, ApiError> {
    let mut scope = Scope {
        connection_id,
        search: false,
        read_only: false,
        wait: header_text(headers, "Crosswalk-Max-Wait-Ms")?
            .map(|text| parse_wait_budget("Crosswalk-Max-Wait-Ms", text))
            .transpose()?,
    };
    for (key, value) in parse_query(raw)? {
        match (key.as_str(), value.as_str()) {
            ("mode", "all") => scope.search = false,
            ("mode", "search") => scope.search = true,
            ("mode", other) => {
                return Err(ApiError::invalid(
                    "mode",
                    format!("must be `all` or `search`, not `{other}`"),
                ));
            }
            ("preset", "full") => scope.read_only = false,
            ("preset", "read_only") => scope.read_only = true,
            ("preset", other) => {
                return Err(ApiError::invalid(
                    "preset",
                    format!("must be `full` or `read_only`, not `{other}`"),
                ));
            }
            (other, _) => {
                return Err(ApiError::invalid(
                    other,
                    "is not a parameter of this endpoint (known: mode, preset)",
                ));
            }
        }
    }
    Ok(scope)
}

/// Hands the request to rmcp with its scope.
async fn forward(endpoint: Endpoint, scope: Scope, mut request: Request) -> Response {
    request.extensions_mut().insert(scope);
    match endpoint.service.oneshot(request).await {
        Ok(response) => {
            let mut response = response.map(axum::body::Body::new).into_response();
            response
                .extensions_mut()
                .insert(crate::error::ProtocolAnswer);
            response
        }
        Err(never) => match never {},
    }
}

/// `/mcp`: the tools of every active connection of the key's environment.
pub(crate) async fn all_connections(
    Extension(endpoint): Extension<Endpoint>,
    RawQuery(raw): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let scope = scope_of(raw, None, request.headers())?;
    Ok(forward(endpoint, scope, request).await)
}

/// `/mcp/connections/{id}`: one connection's tools; 404 when the key's environment has no such
/// connection.
pub(crate) async fn one_connection(
    State(state): State<AppState>,
    Extension(endpoint): Extension<Endpoint>,
    Extension(caller): Extension<Caller>,
    Path(connection_id): Path<String>,
    RawQuery(raw): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let id = store::ConnectionId::parse(&connection_id)
        .map_err(|_| ApiError::not_found(format!("connection `{connection_id}` does not exist")))?;
    state
        .store
        .get_connection(&caller.environment_id, &id)
        .await
        .map_err(|error| match error {
            store::StoreError::NotFound => {
                ApiError::not_found(format!("connection `{connection_id}` does not exist"))
            }
            other => other.into(),
        })?;
    let scope = scope_of(raw, Some(connection_id), request.headers())?;
    Ok(forward(endpoint, scope, request).await)
}
