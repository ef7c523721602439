//! Answers a standard HTTP client can rely on (issue 15): the `Bearer` scheme in any case, every
//! error of Crosswalk's own as problem+json (also those the framework answers before a handler
//! runs: undecodable query strings and path segments, a method a path does not take, an oversized
//! body), `include=` naming nothing refused, and an operation a connector does not offer
//! answered as the caller's choice (a 4xx), not as a server error.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Sends `method path` with the demo's key; returns the answer's status, headers and body.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.demo.api_key);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// Asserts an RFC 9457 problem of ours with `status`, naming `field` when given.
fn assert_problem(
    what: &str,
    (status, headers, body): &(StatusCode, reqwest::header::HeaderMap, Value),
    expected: StatusCode,
    field: Option<&str>,
) {
    assert_eq!(*status, expected, "{what}: {body}");
    assert_eq!(
        headers
            .get("content-type")
            .and_then(|value| value.to_str().ok()),
        Some("application/problem+json"),
        "{what}: {body}"
    );
    assert_eq!(body["status"], expected.as_u16(), "{what}: {body}");
    assert_eq!(body["origin"], "gateway", "{what}: {body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty()),
        "{what}: {body}"
    );
    assert!(body["request_id"].is_string(), "{what}: {body}");
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{what}: {body}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = app
            .client
            .get(app.url("/connections"))
            .header("authorization", format!("{scheme} {}", app.demo.api_key))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::OK, "scheme `{scheme}`");
    }
    let response = app
        .client
        .get(app.url("/connections"))
        .header("authorization", format!("Basic {}", app.demo.api_key))
        .send()
        .await
        .expect("answers");
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "another scheme"
    );
}

#[tokio::test]
async fn errors_the_framework_answers_are_problems_too() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");

    let answer = raw(&app, Method::GET, "/events?limit=1&limit=2", None).await;
    assert_problem(
        "a repeated /events parameter",
        &answer,
        StatusCode::BAD_REQUEST,
        Some("query"),
    );
    let answer = raw(
        &app,
        Method::PUT,
        "/environment/overrides/hubspot?expected_version=soon",
        Some(b"{}".to_vec()),
    )
    .await;
    assert_problem(
        "an override's bad query",
        &answer,
        StatusCode::BAD_REQUEST,
        Some("query"),
    );
    let answer = raw(
        &app,
        Method::GET,
        &format!("/unified/crm/contacts/%FF%FE?connection_id={connection}"),
        None,
    )
    .await;
    assert_problem(
        "an id that is not UTF-8",
        &answer,
        StatusCode::BAD_REQUEST,
        Some("path"),
    );

    let oversized = {
        let mut body = b"{\"name\": \"".to_vec();
        body.extend(std::iter::repeat_n(b'x', 9 * 1024 * 1024));
        body.extend(b"\"}");
        body
    };
    let answer = raw(
        &app,
        Method::POST,
        &format!("/unified/crm/companies?connection_id={connection}"),
        Some(oversized),
    )
    .await;
    assert_problem(
        "a body over 8 MiB",
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        Some("body"),
    );

    let answer = raw(&app, Method::DELETE, "/environment/limits", None).await;
    assert_problem(
        "a method the path does not take",
        &answer,
        StatusCode::METHOD_NOT_ALLOWED,
        None,
    );
    let allow = answer.1.get("allow").and_then(|value| value.to_str().ok());
    assert!(
        allow.is_some_and(|allow| allow.contains("GET") && allow.contains("PUT")),
        "Allow: {allow:?}"
    );

    let answer = raw(
        &app,
        Method::TRACE,
        &format!("/proxy/crm/v3/objects/contacts?connection_id={connection}"),
        None,
    )
    .await;
    assert_problem(
        "TRACE through the proxy",
        &answer,
        StatusCode::METHOD_NOT_ALLOWED,
        None,
    );
    let allow = answer.1.get("allow").and_then(|value| value.to_str().ok());
    assert_eq!(allow, Some("GET, POST, PUT, PATCH, DELETE"));
}

#[tokio::test]
async fn an_include_that_names_nothing_is_refused() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    for include in ["", ",", "remote_data,"] {
        for path in [
            format!("/unified/crm/contacts?connection_id={connection}&include={include}"),
            format!("/unified/crm/contacts/1?connection_id={connection}&include={include}"),
        ] {
            let answer = raw(&app, Method::GET, &path, None).await;
            assert_problem(&path, &answer, StatusCode::BAD_REQUEST, Some("include"));
        }
    }
}

#[tokio::test]
async fn what_a_connector_does_not_offer_is_a_client_error() {
    let app = spawn_app().await;
    // Sign-in schemes connect through Connect, not `POST /connections`: the caller's choice.
    let (status, body) = app
        .call(
            Method::POST,
            "/connections",
            Some(json!({"provider": "salesforce", "auth_scheme": "oauth", "fields": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "unsupported", "{body}");
    assert_eq!(
        body["type"], "https://crosswalk.dev/problems/unsupported",
        "{body}"
    );
}

/// Users and pipelines are read-only in the unified model (the OpenAPI document lists no write
/// method for them): a write, or any other method, is a 405 whose `Allow` lists only what the
/// path takes, before a body is read.
#[tokio::test]
async fn a_write_to_a_read_only_object_is_a_method_not_allowed() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    for (method, path) in [
        (
            Method::POST,
            format!("/unified/crm/users?connection_id={connection}"),
        ),
        (
            Method::PATCH,
            format!("/unified/crm/pipelines/1?connection_id={connection}"),
        ),
        (
            Method::DELETE,
            format!("/unified/crm/users/1?connection_id={connection}"),
        ),
        (
            Method::OPTIONS,
            format!("/unified/crm/users/1?connection_id={connection}"),
        ),
        (
            Method::OPTIONS,
            format!("/unified/crm/pipelines?connection_id={connection}"),
        ),
    ] {
        let answer = raw(&app, method.clone(), &path, None).await;
        assert_problem(
            &format!("{method} {path}"),
            &answer,
            StatusCode::METHOD_NOT_ALLOWED,
            None,
        );
        assert_eq!(
            answer.1.get("allow").and_then(|value| value.to_str().ok()),
            Some("GET"),
            "{method} {path}"
        );
    }
}

/// The document's header parameters are enforced (issue 15, Schemathesis'
/// `negative_data_rejection`): an invalid `Crosswalk-Max-Wait-Ms` is refused naming the header
/// even when the query's `max_wait_ms` is valid (before, the header was not read at all then),
/// and an empty `X-Connection-Id` is refused naming it even when the query names the
/// connection (before, it was ignored).
#[tokio::test]
async fn invalid_header_parameters_are_refused_naming_the_header() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let path = format!("/unified/crm/contacts?connection_id={connection}&max_wait_ms=100");
    for (header, value) in [
        ("Crosswalk-Max-Wait-Ms", "soon"),
        ("Crosswalk-Max-Wait-Ms", "-1"),
        ("Crosswalk-Max-Wait-Ms", "999999999"),
        ("X-Connection-Id", ""),
    ] {
        let response = app
            .client
            .get(app.url(&path))
            .bearer_auth(&app.demo.api_key)
            .header(header, value)
            .send()
            .await
            .expect("the API answers");
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{header}: {value}"
        );
        assert_eq!(
            response.headers()[reqwest::header::CONTENT_TYPE],
            "application/problem+json"
        );
        let problem: Value = response.json().await.expect("a problem");
        assert_eq!(problem["field"], header, "{problem}");
    }
    // Valid ones are taken.
    let response = app
        .client
        .get(app.url(&path))
        .bearer_auth(&app.demo.api_key)
        .header("Crosswalk-Max-Wait-Ms", "250")
        .header("X-Connection-Id", &connection)
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), StatusCode::OK);
}
