//! One id per request, in the `X-Request-Id` answer header, in every problem+json body
//! (`request_id`) and on every log line written while the request is served.
//!
//! tower-http sets the header (a UUID unless the caller sent an acceptable one) and copies it
//! to the answer; this module refuses ids that would pollute logs, keeps the id in a task-local
//! for the error renderer, and names the request's log span. A panic in a handler becomes a
//! 500 problem with the same id, not a dropped connection.

use std::any::Any;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::ApiError;

/// The header that carries the id both ways.
pub const HEADER: &str = "x-request-id";

/// Longest id accepted from a caller.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being served on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Wraps `router` in the request-id layers, the request log span and panic catching.
pub fn layer<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    // Listed from the innermost layer outwards.
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn(scope))
        .layer(TraceLayer::new_for_http().make_span_with(span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(from_fn(refuse_unfit))
}

/// A caller's id is kept when it is short and made of visible ASCII that needs no quoting in a
/// log line; anything else is dropped (and replaced by a fresh UUID).
fn fit(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_LEN
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(byte))
}

async fn refuse_unfit(mut request: Request, next: Next) -> Response {
    if request
        .headers()
        .get(HEADER)
        .is_some_and(|value| !fit(value))
    {
        request.headers_mut().remove(HEADER);
    }
    next.run(request).await
}

async fn scope(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    CURRENT.scope(id, next.run(request)).await
}

/// The log span of one request: method, path and id. The query is left out: it can carry a
/// Connect link's token.
fn span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id,
    )
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a handler panicked");
    ApiError::Internal(anyhow::anyhow!("panic: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    fn app() -> Router {
        layer(
            Router::new()
                .route("/ok", get(|| async { "ok" }))
                .route(
                    "/missing",
                    get(|| async { ApiError::not_found("no such thing") }),
                )
                .route(
                    "/log",
                    get(|| async {
                        tracing::warn!("something to note");
                        "logged"
                    }),
                )
                .route(
                    "/boom",
                    get(|| async {
                        if true {
                            panic!("handler bug");
                        }
                        "unreachable"
                    }),
                ),
        )
    }

    async fn call(path: &str, id: Option<&str>) -> (u16, Option<String>, String) {
        let mut request = Request::builder().uri(path);
        if let Some(id) = id {
            request = request.header(HEADER, id);
        }
        let response = app()
            .oneshot(request.body(Body::empty()).expect("a request"))
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let header = response
            .headers()
            .get(HEADER)
            .map(|value| value.to_str().expect("ascii").to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        (status, header, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn every_answer_names_its_request() {
        let (status, header, _) = call("/ok", None).await;
        assert_eq!(status, 200);
        let id = header.expect("an id on a success");
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }

    #[tokio::test]
    async fn a_problem_body_carries_the_id_of_its_header() {
        let (status, header, body) = call("/missing", None).await;
        assert_eq!(status, 404);
        let body: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            body["request_id"].as_str(),
            header.as_deref(),
            "the body and the header agree: {body}"
        );
    }

    #[tokio::test]
    async fn a_callers_fit_id_is_kept_and_an_unfit_one_replaced() {
        let (_, header, body) = call("/missing", Some("trace-42.a:b_c")).await;
        assert_eq!(header.as_deref(), Some("trace-42.a:b_c"));
        assert!(body.contains("\"request_id\":\"trace-42.a:b_c\""), "{body}");
        for unfit in ["has space", "quote\"", &"x".repeat(129)] {
            let (_, header, _) = call("/ok", Some(unfit)).await;
            let header = header.expect("an id");
            assert_ne!(header, unfit);
            assert!(uuid::Uuid::parse_str(&header).is_ok(), "{header}");
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_problem_with_the_id() {
        let (status, header, body) = call("/boom", None).await;
        assert_eq!(status, 500);
        let body: serde_json::Value = serde_json::from_str(&body).expect("problem json");
        assert_eq!(body["code"], "internal");
        assert_eq!(body["request_id"].as_str(), header.as_deref(), "{body}");
        assert!(
            !body.to_string().contains("handler bug"),
            "the panic message stays in the logs: {body}"
        );
    }

    /// Log lines written while a request is served carry its id; its query string is not logged.
    #[test]
    fn log_lines_carry_the_id_and_not_the_query() {
        #[derive(Clone, Default)]
        struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("unpoisoned").extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let (_, header, _) = runtime.block_on(call("/log?token=link-secret-123", Some("req-7")));
        assert_eq!(header.as_deref(), Some("req-7"));
        let logs =
            String::from_utf8(captured.0.lock().expect("unpoisoned").clone()).expect("utf-8 logs");
        let line = logs
            .lines()
            .find(|line| line.contains("something to note"))
            .unwrap_or_else(|| panic!("the handler's line is logged: {logs}"));
        assert!(line.contains("request_id=req-7"), "{line}");
        assert!(line.contains("path=/log"), "{line}");
        assert!(!logs.contains("link-secret-123"), "{logs}");
    }
}
