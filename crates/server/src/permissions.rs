//! What an API key may do inside its environment (issue 20), enforced in one place: a
//! middleware behind authentication that reads the route a request matched, its method and the
//! connection it names, and refuses what the key's [`store::KeyPermissions`] do not allow
//! before any handler runs.
//!
//! - A **read-only** key gets `403` `read_only_key` on every write (any method but `GET` and
//!   `HEAD`); the MCP endpoints are exempt because their `POST` is the transport: the MCP
//!   server lists and calls only the tools the key allows.
//! - A key **without deletes** gets `403` `deletes_not_allowed` on deleting a record
//!   (`DELETE /unified/…/{id}`), a connection (`DELETE /connections/{id}`) or through the proxy.
//! - A key **scoped to connections** reaches only those: another connection named in the path,
//!   the `connection_id` query parameter or the `X-Connection-Id` header is `404`, as if absent
//!   (the answer an unknown id gets). Routes over the whole environment either narrow to the
//!   key's connections (`GET /connections`, `/mcp`; both in their handlers, which read
//!   [`Caller::reaches`]), take a `connection_id` the key reaches (`/events`, `GET /syncs`,
//!   `/changes`), check the keys they make or manage (`/environment/api-keys`, in its handler:
//!   a key hands out no right it lacks), or are refused with `403` `connection_scoped_key`
//!   (settings, overrides of the environment, webhooks, Connect links, new connections, a sync
//!   by its id).
//!
//! What is left out: the proxy passes a vendor's own methods through, so a key without deletes
//! can still send a `POST` the vendor reads as a delete; keep such keys off the proxy's
//! writes with `read_only`.

use axum::extract::{MatchedPath, RawPathParams, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use store::{ConnectionId, KeyPermissions};

use crate::ApiError;
use crate::auth::Caller;

/// What a request does, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Read,
    Write,
    Delete,
}

/// How a route treats a key scoped to connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// The route names its connection in the path (`{id}`).
    PathConnection,
    /// The route names its connection with `connection_id` or `X-Connection-Id`.
    NamedConnection,
    /// The route reads over the environment, narrowed by an optional `connection_id` filter a
    /// scoped key must give.
    Filtered,
    /// The handler narrows or checks what the key reaches.
    Handler,
    /// The route is about the whole environment: refused to scoped keys.
    Environment,
}

/// How the route `matched` (the pattern, as axum matched it) is reached by a scoped key.
fn reach_of(method: &Method, matched: &str) -> Reach {
    if matched.starts_with("/connections/{id}") || matched == "/mcp/connections/{id}" {
        return Reach::PathConnection;
    }
    if matched.starts_with("/unified/") || matched.starts_with("/proxy/") {
        return Reach::NamedConnection;
    }
    match matched {
        "/events" | "/changes" => Reach::Filtered,
        "/syncs" if method == Method::GET => Reach::Filtered,
        "/mcp" | "/environment/api-keys" | "/environment/api-keys/{id}" => Reach::Handler,
        "/environment/api-keys/{id}/rotate" => Reach::Handler,
        "/connections" if method == Method::GET => Reach::Handler,
        _ => Reach::Environment,
    }
}

/// What a request with `method` on the route `matched` does.
fn effect_of(method: &Method, matched: &str) -> Effect {
    if matched == "/mcp" || matched == "/mcp/connections/{id}" {
        // The transport's methods say nothing of what the tools do; the MCP server decides.
        return Effect::Read;
    }
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => Effect::Read,
        Method::DELETE
            if matched == "/unified/{category}/{object}/{id}"
                || matched == "/connections/{id}"
                || matched.starts_with("/proxy/") =>
        {
            Effect::Delete
        }
        _ => Effect::Write,
    }
}

/// A refusal for a key without the right `code` names.
fn forbidden(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::Forbidden {
        code,
        detail: detail.into(),
    }
}

fn absent(id: &str) -> ApiError {
    ApiError::not_found(format!("connection `{id}` does not exist"))
}

/// The connection ids a request names by query parameter (every `connection_id`) and by the
/// `X-Connection-Id` header. Malformed ones are left to the handler to refuse.
fn named_connections(request: &Request) -> Vec<String> {
    let mut named: Vec<String> = request
        .uri()
        .query()
        .and_then(|query| serde_urlencoded::from_str::<Vec<(String, String)>>(query).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| key == "connection_id")
        .map(|(_, value)| value)
        .collect();
    for value in request.headers().get_all("X-Connection-Id") {
        if let Ok(text) = value.to_str() {
            named.push(text.trim().to_owned());
        }
    }
    named
}

/// Checks a request of `caller` against its key's permissions.
fn check(
    caller: &Caller,
    request: &Request,
    matched: &str,
    path_id: Option<&str>,
) -> Result<(), ApiError> {
    let permissions = &caller.permissions;
    let method = request.method();
    match effect_of(method, matched) {
        Effect::Read => {}
        Effect::Write | Effect::Delete if permissions.read_only => {
            return Err(forbidden(
                "read_only_key",
                format!("this API key may only read; `{method}` is a write"),
            ));
        }
        Effect::Delete if !permissions.may_delete() => {
            return Err(forbidden(
                "deletes_not_allowed",
                "this API key may not delete: make a key with `\"deletes\": true` for that",
            ));
        }
        Effect::Write | Effect::Delete => {}
    }
    if permissions.connection_ids.is_none() {
        return Ok(());
    }
    match reach_of(method, matched) {
        Reach::PathConnection => match path_id {
            Some(id) if caller.reaches(id) => Ok(()),
            Some(id) => Err(absent(id)),
            None => Ok(()),
        },
        Reach::NamedConnection => {
            match named_connections(request)
                .into_iter()
                .find(|id| !id.is_empty() && !caller.reaches(id))
            {
                Some(id) => Err(absent(&id)),
                None => Ok(()),
            }
        }
        Reach::Filtered => {
            let named = named_connections(request);
            if named.is_empty() {
                return Err(forbidden(
                    "connection_scoped_key",
                    "this API key reaches only some connections: name one with `connection_id`",
                ));
            }
            match named.into_iter().find(|id| !caller.reaches(id)) {
                Some(id) => Err(absent(&id)),
                None => Ok(()),
            }
        }
        Reach::Handler => Ok(()),
        Reach::Environment => Err(forbidden(
            "connection_scoped_key",
            format!(
                "this API key reaches only some connections; `{method} {matched}` is about the whole environment and needs a key for every connection"
            ),
        )),
    }
}

/// Middleware: refuses what the request's API key may not do (see the module's rules). Runs
/// after [`crate::auth::require_api_key`], which puts the [`Caller`] in the request.
pub async fn enforce(
    path: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(caller) = request.extensions().get::<Caller>() else {
        return Err(ApiError::Unauthenticated);
    };
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str().to_owned())
        .unwrap_or_default();
    let path_id = path.ok().and_then(|params| {
        params
            .iter()
            .find(|(name, _)| *name == "id")
            .map(|(_, value)| value.to_owned())
    });
    check(caller, &request, &matched, path_id.as_deref())?;
    Ok(next.run(request).await)
}

/// Whether `permissions` reach the connection written `id` (a malformed id is reached only by
/// a key for every connection, and then found nowhere).
pub(crate) fn reaches(permissions: &KeyPermissions, id: &str) -> bool {
    match ConnectionId::parse(id) {
        Ok(id) => permissions.reaches(&id),
        Err(_) => permissions.connection_ids.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(permissions: KeyPermissions) -> Caller {
        Caller {
            environment_id: store::EnvironmentId::generate(),
            api_key_id: store::ApiKeyId::generate(),
            permissions,
        }
    }

    fn request(method: Method, uri: &str) -> Request {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(axum::body::Body::empty())
            .expect("request")
    }

    fn code(result: Result<(), ApiError>) -> Option<u16> {
        use axum::response::IntoResponse;
        result
            .err()
            .map(|error| error.into_response().status().as_u16())
    }

    #[test]
    fn a_read_only_key_reads_and_uses_mcp_but_writes_nothing() {
        let reader = caller(KeyPermissions {
            connection_ids: None,
            read_only: true,
            deletes: true,
        });
        let get = request(
            Method::GET,
            "/unified/category/objects?connection_id=conn_x",
        );
        assert_eq!(
            code(check(&reader, &get, "/unified/{category}/{object}", None)),
            None
        );
        let post = request(Method::POST, "/unified/category/objects");
        assert_eq!(
            code(check(&reader, &post, "/unified/{category}/{object}", None)),
            Some(403)
        );
        let delete = request(Method::DELETE, "/unified/category/objects/1");
        assert_eq!(
            code(check(
                &reader,
                &delete,
                "/unified/{category}/{object}/{id}",
                Some("1")
            )),
            Some(403),
            "read-only wins over deletes"
        );
        let mcp = request(Method::POST, "/mcp");
        assert_eq!(code(check(&reader, &mcp, "/mcp", None)), None);
    }

    #[test]
    fn deletes_need_the_permission_and_other_writes_do_not() {
        let writer = caller(KeyPermissions::default());
        let delete = request(Method::DELETE, "/unified/category/objects/1");
        assert_eq!(
            code(check(
                &writer,
                &delete,
                "/unified/{category}/{object}/{id}",
                Some("1")
            )),
            Some(403)
        );
        let patch = request(Method::PATCH, "/unified/category/objects/1");
        assert_eq!(
            code(check(
                &writer,
                &patch,
                "/unified/{category}/{object}/{id}",
                Some("1")
            )),
            None
        );
        let full = caller(KeyPermissions::full());
        assert_eq!(
            code(check(
                &full,
                &delete,
                "/unified/{category}/{object}/{id}",
                Some("1")
            )),
            None
        );
    }

    #[test]
    fn a_scoped_key_reaches_its_connections_only() {
        let mine = ConnectionId::generate();
        let other = ConnectionId::generate();
        let scoped = caller(KeyPermissions {
            connection_ids: Some(vec![mine.clone()]),
            read_only: false,
            deletes: false,
        });
        let own = request(
            Method::GET,
            &format!("/unified/category/objects?connection_id={mine}"),
        );
        assert_eq!(
            code(check(&scoped, &own, "/unified/{category}/{object}", None)),
            None
        );
        let foreign = request(
            Method::GET,
            &format!("/unified/category/objects?connection_id={other}"),
        );
        assert_eq!(
            code(check(
                &scoped,
                &foreign,
                "/unified/{category}/{object}",
                None
            )),
            Some(404)
        );
        // A second parameter or the header cannot smuggle another connection in.
        let both = request(
            Method::GET,
            &format!("/unified/category/objects?connection_id={mine}&connection_id={other}"),
        );
        assert_eq!(
            code(check(&scoped, &both, "/unified/{category}/{object}", None)),
            Some(404)
        );
        let mut header = request(
            Method::GET,
            &format!("/unified/category/objects?connection_id={mine}"),
        );
        header
            .headers_mut()
            .insert("X-Connection-Id", other.as_str().parse().expect("header"));
        assert_eq!(
            code(check(
                &scoped,
                &header,
                "/unified/{category}/{object}",
                None
            )),
            Some(404)
        );
        let path = request(Method::GET, &format!("/mcp/connections/{other}"));
        assert_eq!(
            code(check(
                &scoped,
                &path,
                "/mcp/connections/{id}",
                Some(other.as_str())
            )),
            Some(404)
        );
        let events = request(Method::GET, "/events");
        assert_eq!(code(check(&scoped, &events, "/events", None)), Some(403));
        let own_events = request(Method::GET, &format!("/events?connection_id={mine}"));
        assert_eq!(code(check(&scoped, &own_events, "/events", None)), None);
        let settings = request(Method::PUT, "/environment/limits");
        assert_eq!(
            code(check(&scoped, &settings, "/environment/limits", None)),
            Some(403)
        );
        let list = request(Method::GET, "/connections");
        assert_eq!(code(check(&scoped, &list, "/connections", None)), None);
        let create = request(Method::POST, "/connections");
        assert_eq!(
            code(check(&scoped, &create, "/connections", None)),
            Some(403)
        );
    }
}
