//! The MCP server of one session (or one stateless request): lists the endpoint's tools and
//! calls them through [`operations::Bound`], the path every REST call takes, and tells a
//! listening client when its tools changed.
//!
//! Each HTTP request carries its own authenticated [`Caller`] and [`Scope`] (put in the
//! request's extensions by `mod.rs`), so a session never outlives its key's rights: the tools
//! are rebuilt from the request that asks. Errors are the REST API's problem+json bodies, in
//! the tool result.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use connector::Operation;
use operations::{Bound, Include, ListRequest, OpError};
use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Extensions,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer};
use serde_json::{Map, Value, json};
use store::ApiKeyId;

use super::Scope;
use super::catalog::{self, Access, Action, Described, Entry};
use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Most connections an all-connections endpoint describes (oldest first).
pub(crate) const MAX_CONNECTIONS: usize = 50;

/// One MCP session's server.
#[derive(Clone)]
pub(crate) struct McpServer {
    state: AppState,
    watch_every: Duration,
    /// The key that opened the session: a request of the same session with another key is
    /// refused, so a session id is no way into another key's notifications.
    owner: Arc<Mutex<Option<ApiKeyId>>>,
}

impl McpServer {
    pub(crate) fn new(state: AppState, watch_every: Duration) -> McpServer {
        McpServer {
            state,
            watch_every,
            owner: Arc::new(Mutex::new(None)),
        }
    }

    /// The caller and scope of the HTTP request behind `extensions`.
    fn request_of(&self, extensions: &Extensions) -> Result<(Caller, Scope), ErrorData> {
        let parts = extensions
            .get::<http::request::Parts>()
            .ok_or_else(|| ErrorData::internal_error("no HTTP request behind this call", None))?;
        let caller =
            parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
                ErrorData::internal_error("the request is not authenticated", None)
            })?;
        let scope = parts
            .extensions
            .get::<Scope>()
            .cloned()
            .ok_or_else(|| ErrorData::internal_error("the request has no MCP scope", None))?;
        let mut owner = self
            .owner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*owner {
            Some(key) if *key != caller.api_key_id => {
                return Err(ErrorData::invalid_request(
                    "this session belongs to another API key",
                    None,
                ));
            }
            Some(_) => {}
            None => *owner = Some(caller.api_key_id.clone()),
        }
        Ok((caller, scope))
    }
}

/// What a tool list is built from for one request.
pub(crate) struct Listing {
    pub entries: Vec<Entry>,
}

/// Binds a connection for a call with the caller's wait budget.
async fn bind(
    state: &AppState,
    caller: &Caller,
    connection_id: &str,
    wait: Option<Duration>,
) -> Result<Bound, ApiError> {
    Ok(state
        .operations
        .bind(&caller.environment_id, connection_id, wait)
        .await?)
}

/// What the endpoint offers `caller`: reads always; writes unless the key is read-only or the
/// URL asks for the read-only preset; deletes only when the key allows them.
fn access_of(caller: &Caller, scope: &Scope) -> Access {
    Access {
        read_only: scope.read_only || !caller.permissions.writes(),
        deletes: caller.permissions.may_delete(),
    }
}

/// Describes one bound connection: `/meta` of every object its connector serves.
async fn describe(bound: &Bound) -> Result<Described, OpError> {
    let mut objects = Vec::new();
    for object in unified_model::UnifiedObject::all() {
        let key = object.key();
        let served = catalog::OPERATIONS
            .iter()
            .any(|operation| bound.connector().supports(&key, *operation));
        if !served {
            continue;
        }
        objects.push((object, bound.meta(object).await?.0));
    }
    Ok(Described {
        connection_id: bound.connection().id.to_string(),
        provider: bound.connection().provider.clone(),
        objects,
    })
}

/// The endpoint's tools for `caller` and `scope`: a pure function of the URL, the key and the
/// connections' configuration.
pub(crate) async fn listing(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
) -> Result<Listing, ApiError> {
    let access = access_of(caller, scope);
    let described = match &scope.connection_id {
        Some(id) => {
            let bound = bind(state, caller, id, scope.wait).await?;
            vec![describe(&bound).await?]
        }
        None => {
            let connections = state.store.list_connections(&caller.environment_id).await?;
            let mut described = Vec::new();
            for connection in connections
                .iter()
                .filter(|connection| connection.status == store::ConnectionStatus::Active)
                .filter(|connection| caller.permissions.reaches(&connection.id))
                .take(MAX_CONNECTIONS)
            {
                let id = connection.id.to_string();
                match bind(state, caller, &id, scope.wait).await {
                    Ok(bound) => match describe(&bound).await {
                        Ok(each) => described.push(each),
                        Err(error) => {
                            tracing::warn!(connection_id = %id, error = %error, "connection left out of the tools: not described");
                        }
                    },
                    Err(error) => {
                        tracing::warn!(connection_id = %id, error = ?error, "connection left out of the tools: not bound");
                    }
                }
            }
            described
        }
    };
    Ok(Listing {
        entries: catalog::build(&described, access, scope.connection_id.is_none()),
    })
}

/// The problem+json body the REST API answers for `error`, and its status.
async fn problem_of(error: ApiError) -> Value {
    let response = error.into_response();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({"status": status}))
}

/// A tool error: the problem's title, code and detail as text, then the REST API's
/// problem+json body as a second text block and in `_meta["crosswalk/problem"]` (not as
/// structured content, which clients check against the tool's output schema).
async fn tool_error(error: ApiError) -> CallToolResult {
    let problem = problem_of(error).await;
    let text = format!(
        "{} ({}): {}",
        problem["title"].as_str().unwrap_or("error"),
        problem["code"].as_str().unwrap_or("error"),
        problem["detail"].as_str().unwrap_or_default()
    );
    let mut result = CallToolResult::error(vec![
        ContentBlock::text(text),
        ContentBlock::text(problem.to_string()),
    ]);
    let mut meta = rmcp::model::MetaObject::new();
    meta.insert("crosswalk/problem".to_owned(), problem);
    result.meta = Some(meta);
    result
}

/// A successful result: `value` as structured content and a short text rendering.
fn success(value: Value, text: String) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    result
}

/// One line about a record: its id and up to three other values.
fn summary(record: &Value) -> String {
    let id = record["id"].as_str().unwrap_or("?");
    let values: Vec<String> = record
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(key, _)| {
                    !matches!(
                        key.as_str(),
                        "id" | "remote_id" | "created_at" | "updated_at" | "remote_deleted"
                    )
                })
                .filter_map(|(key, value)| match value {
                    Value::String(text) if !text.is_empty() => Some(format!("{key}: {text}")),
                    Value::Number(number) => Some(format!("{key}: {number}")),
                    _ => None,
                })
                .take(3)
                .collect()
        })
        .unwrap_or_default();
    if values.is_empty() {
        id.to_owned()
    } else {
        format!("{id} ({})", values.join(", "))
    }
}

/// Takes the string argument `name` out of `arguments`.
fn take_string(arguments: &mut Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match arguments.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(_) => Err(ApiError::invalid(name, "must be a string")),
    }
}

fn take_wait(arguments: &mut Map<String, Value>) -> Result<Option<Duration>, ApiError> {
    match take_string(arguments, "max_wait_ms")? {
        None => Ok(None),
        Some(text) => crate::routes::unified::parse_wait_budget("max_wait_ms", &text).map(Some),
    }
}

fn take_include(arguments: &mut Map<String, Value>) -> Result<Include, ApiError> {
    let value = take_string(arguments, "include")?;
    Ok(Include::parse(value.as_deref())?)
}

/// Runs one unified tool with `arguments`.
async fn run_unified(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    action: &Action,
    mut arguments: Map<String, Value>,
) -> Result<(Value, String), (ApiError, Option<Bound>)> {
    let Action::Unified {
        object,
        operation,
        connections,
        takes_connection,
    } = action
    else {
        return Err((ApiError::not_found("no such tool"), None));
    };
    let plain = |error: ApiError| (error, None);
    let connection_id = if *takes_connection {
        let id = take_string(&mut arguments, "connection_id")
            .map_err(plain)?
            .ok_or_else(|| plain(ApiError::invalid("connection_id", "is required")))?;
        if !connections.contains(&id) {
            return Err(plain(ApiError::not_found(format!(
                "connection `{id}` does not exist or does not serve this tool"
            ))));
        }
        id
    } else {
        scope
            .connection_id
            .clone()
            .ok_or_else(|| plain(ApiError::not_found("no connection")))?
    };
    let wait = take_wait(&mut arguments).map_err(plain)?.or(scope.wait);
    let object = *object;
    match operation {
        Operation::List => {
            let page_size = match arguments.remove("page_size") {
                None | Some(Value::Null) => None,
                Some(Value::Number(number)) => Some(number.as_u64().ok_or_else(|| {
                    plain(ApiError::invalid(
                        "page_size",
                        format!(
                            "must be a whole number from 1 to {}",
                            operations::MAX_PAGE_SIZE
                        ),
                    ))
                })?),
                Some(_) => {
                    return Err(plain(ApiError::invalid(
                        "page_size",
                        "must be a whole number",
                    )));
                }
            };
            let cursor = take_string(&mut arguments, "cursor").map_err(plain)?;
            let include = take_include(&mut arguments).map_err(plain)?;
            let mut filters = Vec::new();
            for (name, value) in arguments {
                let text = match value {
                    Value::String(text) => text,
                    Value::Number(number) => number.to_string(),
                    Value::Bool(flag) => flag.to_string(),
                    Value::Array(items) => items
                        .iter()
                        .map(|item| match item {
                            Value::String(text) => text.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    Value::Null => continue,
                    Value::Object(_) => {
                        return Err(plain(ApiError::invalid(name, "must be a string")));
                    }
                };
                filters.push((name, text));
            }
            let request = ListRequest {
                filters,
                page_size,
                cursor,
                include,
            };
            let bound = bind(state, caller, &connection_id, wait)
                .await
                .map_err(plain)?;
            match bound.list_page(object, request).await {
                Ok(page) => {
                    let mut text = format!(
                        "{} {} on connection {connection_id}",
                        page.results.len(),
                        object.slug()
                    );
                    for record in page.results.iter().take(20) {
                        text.push_str(&format!("\n- {}", summary(record)));
                    }
                    if page.results.len() > 20 {
                        text.push_str(&format!("\n… and {} more", page.results.len() - 20));
                    }
                    match &page.next_cursor {
                        Some(cursor) => {
                            text.push_str(&format!("\nnext page: cursor `{cursor}`"));
                        }
                        None => text.push_str("\nlast page"),
                    }
                    let mut value =
                        json!({"results": page.results, "next_cursor": page.next_cursor});
                    if !page.errors.is_empty() {
                        value["errors"] = Value::Array(page.errors);
                    }
                    Ok((value, text))
                }
                Err(error) => Err((error.into(), Some(bound))),
            }
        }
        Operation::Get => {
            let id = take_string(&mut arguments, "id")
                .map_err(plain)?
                .ok_or_else(|| plain(ApiError::invalid("id", "is required")))?;
            let include = take_include(&mut arguments).map_err(plain)?;
            if let Some(name) = arguments.keys().next() {
                return Err(plain(ApiError::invalid(
                    name,
                    "is not a parameter of this tool",
                )));
            }
            let bound = bind(state, caller, &connection_id, wait)
                .await
                .map_err(plain)?;
            match bound.get(object, id, include).await {
                Ok(record) => {
                    let text = format!("{} {}", object.record_name(), summary(&record));
                    Ok((record, text))
                }
                Err(error) => Err((error.into(), Some(bound))),
            }
        }
        Operation::Create => {
            let bound = bind(state, caller, &connection_id, wait)
                .await
                .map_err(plain)?;
            match bound
                .create(object, Value::Object(arguments), Include::default())
                .await
            {
                Ok(record) => {
                    let text = format!("created {} {}", object.record_name(), summary(&record));
                    Ok((record, text))
                }
                Err(error) => Err((error.into(), Some(bound))),
            }
        }
        Operation::Update => {
            let id = take_string(&mut arguments, "id")
                .map_err(plain)?
                .ok_or_else(|| plain(ApiError::invalid("id", "is required")))?;
            let bound = bind(state, caller, &connection_id, wait)
                .await
                .map_err(plain)?;
            match bound
                .update(object, id, Value::Object(arguments), Include::default())
                .await
            {
                Ok(record) => {
                    let text = format!("updated {} {}", object.record_name(), summary(&record));
                    Ok((record, text))
                }
                Err(error) => Err((error.into(), Some(bound))),
            }
        }
        Operation::Delete => {
            let id = take_string(&mut arguments, "id")
                .map_err(plain)?
                .ok_or_else(|| plain(ApiError::invalid("id", "is required")))?;
            let bound = bind(state, caller, &connection_id, wait)
                .await
                .map_err(plain)?;
            match bound.delete(object, id.clone()).await {
                Ok(()) => Ok((
                    json!({"deleted": true, "id": id}),
                    format!("deleted {} {id}", object.record_name()),
                )),
                Err(error) => Err((error.into(), Some(bound))),
            }
        }
    }
}

/// Adds the connection's vendor budget (the REST API's RateLimit headers) to a result's `_meta`.
async fn with_rate_limit(mut result: CallToolResult, bound: Option<&Bound>) -> CallToolResult {
    if let Some(bound) = bound {
        let headers: Map<String, Value> = bound
            .rate_limit_headers()
            .await
            .into_iter()
            .map(|(name, value)| (name.to_owned(), Value::String(value)))
            .collect();
        if !headers.is_empty() {
            let mut meta = result.meta.take().unwrap_or_default();
            meta.insert("crosswalk/rate_limit".to_owned(), Value::Object(headers));
            result.meta = Some(meta);
        }
    }
    result
}

/// Calls the tool `name` of `listing` with `arguments`.
async fn call(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    listing: &Listing,
    name: &str,
    arguments: Map<String, Value>,
) -> Result<CallToolResult, ErrorData> {
    if scope.search && name == catalog::FIND_TOOLS {
        let query = arguments
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let limit = arguments
            .get("limit")
            .and_then(Value::as_u64)
            .unwrap_or(10)
            .clamp(1, 50) as usize;
        let found: Vec<Value> = catalog::find(&listing.entries, query, limit)
            .into_iter()
            .map(|entry| {
                json!({
                    "name": entry.tool.name,
                    "description": entry.tool.description,
                    "inputSchema": Value::Object((*entry.tool.input_schema).clone()),
                    "annotations": entry.tool.annotations,
                })
            })
            .collect();
        let text = if found.is_empty() {
            format!("no tool matches `{query}`")
        } else {
            found
                .iter()
                .map(|tool| {
                    format!(
                        "{}: {}",
                        tool["name"].as_str().unwrap_or_default(),
                        tool["description"].as_str().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        return Ok(success(json!({"tools": found}), text));
    }
    if scope.search && name == catalog::CALL_TOOL {
        let Some(inner) = arguments.get("name").and_then(Value::as_str) else {
            return Ok(tool_error(ApiError::invalid("name", "is required")).await);
        };
        let inner_arguments = match arguments.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return Ok(tool_error(ApiError::invalid("arguments", "must be an object")).await);
            }
        };
        let Some(entry) = listing
            .entries
            .iter()
            .find(|entry| entry.tool.name == inner)
        else {
            return Ok(tool_error(ApiError::not_found(format!(
                "no tool `{inner}` here; find one with `find_tools`"
            )))
            .await);
        };
        return Ok(run_entry(state, caller, scope, listing, entry, inner_arguments).await);
    }
    let entry = (!scope.search)
        .then(|| listing.entries.iter().find(|entry| entry.tool.name == name))
        .flatten()
        .ok_or_else(|| ErrorData::invalid_params(format!("no tool `{name}`"), None))?;
    Ok(run_entry(state, caller, scope, listing, entry, arguments).await)
}

async fn run_entry(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    listing: &Listing,
    entry: &Entry,
    arguments: Map<String, Value>,
) -> CallToolResult {
    match &entry.action {
        Action::ListConnections => {
            let mut results: Vec<Value> = Vec::new();
            for each in &listing.entries {
                if let Action::Unified { connections, .. } = &each.action {
                    for id in connections {
                        if !results.iter().any(|r| r["id"] == id.as_str()) {
                            results.push(json!({"id": id}));
                        }
                    }
                }
            }
            // Providers come from the store, not the tools: every listed id is the caller's.
            if let Ok(connections) = state.store.list_connections(&caller.environment_id).await {
                for result in &mut results {
                    if let Some(connection) = connections
                        .iter()
                        .find(|c| result["id"] == c.id.to_string().as_str())
                    {
                        result["provider"] = Value::String(connection.provider.clone());
                    }
                }
            }
            let text = results
                .iter()
                .map(|r| {
                    format!(
                        "{} ({})",
                        r["id"].as_str().unwrap_or_default(),
                        r["provider"].as_str().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            success(json!({"results": results}), text)
        }
        Action::Unified { .. } => {
            match run_unified(state, caller, scope, &entry.action, arguments).await {
                Ok((value, text)) => success(value, text),
                Err((error, bound)) => {
                    with_rate_limit(tool_error(error).await, bound.as_ref()).await
                }
            }
        }
    }
}

/// A hash of a tool list, to tell when it changed.
fn fingerprint(listing: &Listing) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for entry in &listing.entries {
        serde_json::to_string(&entry.tool)
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    hasher.finish()
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("crosswalk", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Tools over the records of the connected accounts, one per object and operation (`<category>_<object>_<operation>`). List tools return `next_cursor`; pass it as `cursor` for the next page. Failed calls carry the API's problem+json in their second text block and in `_meta[\"crosswalk/problem\"]`.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (caller, scope) = self.request_of(&context.extensions)?;
        let listing = match listing(&self.state, &caller, &scope).await {
            Ok(listing) => listing,
            Err(error) => return Err(protocol_error(error).await),
        };
        let tools = if scope.search {
            catalog::search_tools(access_of(&caller, &scope))
        } else {
            listing
                .entries
                .into_iter()
                .map(|entry| entry.tool)
                .collect()
        };
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (caller, scope) = self.request_of(&context.extensions)?;
        let listing = match listing(&self.state, &caller, &scope).await {
            Ok(listing) => listing,
            Err(error) => return Ok(tool_error(error).await.into()),
        };
        let arguments = request.arguments.unwrap_or_default();
        call(
            &self.state,
            &caller,
            &scope,
            &listing,
            &request.name,
            arguments,
        )
        .await
        .map(Into::into)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let Ok((caller, scope)) = self.request_of(&context.extensions) else {
            return;
        };
        let state = self.state.clone();
        let peer = context.peer.clone();
        let every = self.watch_every;
        // Watches the session's tools; stops when the client is gone.
        tokio::spawn(async move {
            let mut last = match listing(&state, &caller, &scope).await {
                Ok(listing) => Some(fingerprint(&listing)),
                Err(_) => None,
            };
            loop {
                tokio::time::sleep(every).await;
                if peer.is_transport_closed() {
                    return;
                }
                let Ok(listing) = listing(&state, &caller, &scope).await else {
                    continue;
                };
                let now = fingerprint(&listing);
                if last.is_some_and(|last| last != now)
                    && peer.notify_tool_list_changed().await.is_err()
                {
                    return;
                }
                last = Some(now);
            }
        });
    }
}

/// A tools/list failure as a JSON-RPC error carrying the problem+json body.
async fn protocol_error(error: ApiError) -> ErrorData {
    let problem = problem_of(error).await;
    let message = problem["detail"]
        .as_str()
        .unwrap_or("the tools could not be listed")
        .to_owned();
    ErrorData::invalid_request(message, Some(json!({"problem": problem})))
}
