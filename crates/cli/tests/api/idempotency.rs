//! `Idempotency-Key` on writes (issue 15): a retry with the same key gets the first answer and
//! never writes the record twice; the same key with another body is a 422 naming the header; a
//! retry while the first request runs is a 409. Checked against the simulators' record counts
//! and request logs.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use simulators::{Fault, FaultKind};

use crate::helpers::{TestApp, spawn_app};

const HUBSPOT_CONTACTS: &str = "/crm/v3/objects/contacts";

/// Sends a write with an `Idempotency-Key`; returns the status, the replay header and the body.
async fn write(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, Option<String>, Value) {
    let response = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.demo.api_key)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("the API answers");
    let status = response.status();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, replayed, body)
}

#[tokio::test]
async fn a_retried_create_gets_the_first_answer_and_writes_once() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let path = format!("/unified/crm/contacts?connection_id={connection}");
    let body = json!({"first_name": "Once", "last_name": "Only"});
    let before = app.contact_ids("hubspot");

    let (status, replayed, first) = write(&app, Method::POST, &path, "create-1", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(replayed, None);
    let (status, replayed, second) = write(&app, Method::POST, &path, "create-1", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(second, first, "the retry gets the first answer");
    assert_eq!(
        app.contact_ids("hubspot").len(),
        before.len() + 1,
        "one contact was written for two requests"
    );

    // Another key is another write.
    let (status, _, third) = write(&app, Method::POST, &path, "create-2", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{third}");
    assert_ne!(third["id"], first["id"]);
    assert_eq!(app.contact_ids("hubspot").len(), before.len() + 2);

    // The same key on another connection is another key too.
    let other = app.connection("salesforce");
    let (status, replayed, elsewhere) = write(
        &app,
        Method::POST,
        &format!("/unified/crm/contacts?connection_id={other}"),
        "create-1",
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{elsewhere}");
    assert_eq!(replayed, None);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused_naming_the_header() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let path = format!("/unified/crm/contacts?connection_id={connection}");
    let (status, _, created) = write(
        &app,
        Method::POST,
        &path,
        "reused",
        &json!({"first_name": "First"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let before = app.contact_ids("hubspot");
    let (status, _, body) = write(
        &app,
        Method::POST,
        &path,
        "reused",
        &json!({"first_name": "Second"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "Idempotency-Key", "{body}");
    assert_eq!(body["code"], "idempotency_key_reused", "{body}");
    assert_eq!(app.contact_ids("hubspot"), before, "nothing was written");

    let (status, _, body) = write(&app, Method::POST, &path, "", &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "Idempotency-Key", "{body}");
}

#[tokio::test]
async fn a_retried_update_is_sent_to_the_vendor_once() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let (_, page) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={connection}&page_size=1"
        ))
        .await;
    let id = page["results"][0]["id"]
        .as_str()
        .expect("a contact")
        .to_owned();
    let path = format!("/unified/crm/contacts/{id}?connection_id={connection}");
    let patches = || {
        app.simulator("hubspot")
            .requests()
            .total_matching(&format!("PATCH {HUBSPOT_CONTACTS}"))
    };
    let before = patches();
    let body = json!({"title": "Engineer"});
    let (status, _, first) = write(&app, Method::PATCH, &path, "update-1", &body).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, replayed, second) = write(&app, Method::PATCH, &path, "update-1", &body).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(second, first);
    assert_eq!(patches() - before, 1, "the vendor saw one update");
}

/// A failed write keeps nothing: the retry runs again (and may succeed).
#[tokio::test]
async fn a_failed_write_releases_its_key() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let path = format!("/unified/crm/contacts?connection_id={connection}");
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Status {
            status: 400,
            body: Some(json!({"status": "error", "message": "Property values were not valid", "category": "VALIDATION_ERROR"})),
        },
        path_prefix: Some(HUBSPOT_CONTACTS.to_owned()),
        times: 1,
    });
    let body = json!({"first_name": "Retry"});
    let (status, _, failed) = write(&app, Method::POST, &path, "flaky", &body).await;
    assert!(status.is_client_error(), "{status}: {failed}");
    let (status, replayed, created) = write(&app, Method::POST, &path, "flaky", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(replayed, None, "the retry ran");
}

/// A retry while the first request is still at the vendor is a 409, and the first one's answer
/// is kept for the retries after it.
#[tokio::test]
async fn a_retry_while_the_first_request_runs_is_a_conflict() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let path = format!("/unified/crm/contacts?connection_id={connection}");
    let body = json!({"first_name": "Slow"});
    let posts = || {
        app.simulator("hubspot")
            .requests()
            .total_matching(&format!("POST {HUBSPOT_CONTACTS}"))
    };
    let before = posts();
    // The vendor holds the first create until the retry has been answered.
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Delay { millis: 3_000 },
        path_prefix: Some(HUBSPOT_CONTACTS.to_owned()),
        times: 1,
    });
    let first = {
        let (client, url, key, body) = (
            app.client.clone(),
            app.url(&path),
            app.demo.api_key.clone(),
            body.clone(),
        );
        tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(key)
                .header("Idempotency-Key", "slow")
                .json(&body)
                .send()
                .await
                .expect("the API answers");
            (
                response.status(),
                response.json::<Value>().await.expect("json"),
            )
        })
    };
    // Wait (on the vendor's request log, not on time) until the first create reached it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while posts() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the first create never reached the vendor"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (status, _, retry) = write(&app, Method::POST, &path, "slow", &body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{retry}");
    assert_eq!(retry["code"], "idempotency_key_in_flight", "{retry}");

    let (status, created) = first.await.expect("the first request ends");
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, replayed, again) = write(&app, Method::POST, &path, "slow", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(again["id"], created["id"]);
    assert_eq!(posts() - before, 1, "the vendor saw one create");
}

/// Sends a proxy write with an `Idempotency-Key`; returns the status, the replay header, the
/// content type and the body's bytes.
async fn proxy_write(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, Option<String>, Option<String>, Vec<u8>) {
    let response = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.demo.api_key)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("the API answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let (status, replayed, content_type) = (
        response.status(),
        header("idempotent-replayed"),
        header("content-type"),
    );
    let bytes = response.bytes().await.expect("a body").to_vec();
    (status, replayed, content_type, bytes)
}

/// The proxy's writes take an `Idempotency-Key` with the unified writes' semantics (issue 15):
/// a retried `POST /proxy/…` gets the vendor's first answer again, byte for byte with its
/// status and content type, and the vendor is called once; the same key with another body is
/// a 422 naming the header. Before, every retry reached the vendor and created a duplicate.
#[tokio::test]
async fn a_retried_proxy_create_is_sent_to_the_vendor_once() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let path = format!("/proxy{HUBSPOT_CONTACTS}?connection_id={connection}");
    let body = json!({"properties": {"firstname": "Proxied", "lastname": "Once"}});
    let before = app.contact_ids("hubspot");

    let first = proxy_write(&app, Method::POST, &path, "proxy-1", &body).await;
    assert_eq!(first.0, StatusCode::CREATED, "{first:?}");
    assert_eq!(first.1, None);
    let second = proxy_write(&app, Method::POST, &path, "proxy-1", &body).await;
    assert_eq!(second.1.as_deref(), Some("true"), "{second:?}");
    assert_eq!(
        (second.0, &second.2, &second.3),
        (first.0, &first.2, &first.3),
        "the retry gets the vendor's first answer as it came"
    );
    assert_eq!(
        app.contact_ids("hubspot").len(),
        before.len() + 1,
        "one contact was written for two requests"
    );

    let other = json!({"properties": {"firstname": "Someone", "lastname": "Else"}});
    let (status, _, _, refused) = proxy_write(&app, Method::POST, &path, "proxy-1", &other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = serde_json::from_slice(&refused).expect("a problem");
    assert_eq!(refused["field"], "Idempotency-Key", "{refused}");
    assert_eq!(app.contact_ids("hubspot").len(), before.len() + 1);
}

/// A proxy write the vendor refused (not 2xx) releases its key: the retry reaches the vendor
/// again and its success is the one kept.
#[tokio::test]
async fn a_refused_proxy_write_releases_its_key() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let path = format!("/proxy{HUBSPOT_CONTACTS}?connection_id={connection}");
    let body = json!({"properties": {"firstname": "Second", "lastname": "Chance"}});
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Status {
            status: 409,
            body: Some(json!({"status": "error", "message": "Conflict", "category": "CONFLICT"})),
        },
        path_prefix: Some(HUBSPOT_CONTACTS.to_owned()),
        times: 1,
    });
    let before = app.contact_ids("hubspot");
    let refused = proxy_write(&app, Method::POST, &path, "proxy-retry", &body).await;
    assert_eq!(refused.0, StatusCode::CONFLICT, "{refused:?}");
    assert_eq!(app.contact_ids("hubspot").len(), before.len());
    let retried = proxy_write(&app, Method::POST, &path, "proxy-retry", &body).await;
    assert_eq!(retried.0, StatusCode::CREATED, "{retried:?}");
    assert_eq!(retried.1, None, "the retry ran");
    let replayed = proxy_write(&app, Method::POST, &path, "proxy-retry", &body).await;
    assert_eq!(replayed.1.as_deref(), Some("true"));
    assert_eq!(replayed.3, retried.3);
    assert_eq!(app.contact_ids("hubspot").len(), before.len() + 1);
}
