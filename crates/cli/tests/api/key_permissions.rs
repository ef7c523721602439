//! API key permissions (issue 20) through the REST API: keys scoped to connections, read-only
//! keys and keys allowed to delete; what the keys API accepts (each mistake a problem+json
//! naming its field) and shows; and that no key makes or manages a key with more rights.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Makes a key with `permissions` (with the demo's key, which has every right); returns the key
/// and its view.
async fn key_with(app: &TestApp, permissions: Value) -> (String, Value) {
    let (status, created) = app
        .call(
            Method::POST,
            "/environment/api-keys",
            Some(json!({"name": "scoped", "permissions": permissions})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["key"].as_str().expect("a key").to_owned(),
        created["api_key"].clone(),
    )
}

fn contacts(connection: &str) -> String {
    format!("/unified/crm/contacts?connection_id={connection}&page_size=1")
}

#[tokio::test]
async fn the_keys_api_validates_permissions_and_names_the_field() {
    let app = spawn_app().await;
    let hubspot = app.connection("hubspot");
    let cases = [
        (json!("all"), "permissions"),
        (json!({"read_only": "yes"}), "permissions.read_only"),
        (json!({"deletes": 1}), "permissions.deletes"),
        (json!({"admin": true}), "permissions.admin"),
        (
            json!({"connection_ids": "conn_x"}),
            "permissions.connection_ids",
        ),
        (json!({"connection_ids": []}), "permissions.connection_ids"),
        (
            json!({"connection_ids": [hubspot, "not an id"]}),
            "permissions.connection_ids[1]",
        ),
        (
            json!({"connection_ids": [hubspot, hubspot]}),
            "permissions.connection_ids[1]",
        ),
        // Well formed, but not a connection of this environment.
        (
            json!({"connection_ids": [store::ConnectionId::generate().to_string()]}),
            "permissions.connection_ids[0]",
        ),
        (
            json!({"read_only": true, "deletes": true}),
            "permissions.deletes",
        ),
    ];
    for (permissions, field) in cases {
        let (status, problem) = app
            .call(
                Method::POST,
                "/environment/api-keys",
                Some(json!({"permissions": permissions})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{permissions}: {problem}");
        assert_eq!(problem["field"], field, "{permissions}: {problem}");
    }

    // Without permissions: every connection, reads and writes, no deletes. The demo's key (an
    // environment's first key) has every right, and the listing shows both.
    let (_, plain) = key_with(&app, Value::Null).await;
    assert_eq!(
        plain["permissions"],
        json!({"connection_ids": null, "read_only": false, "deletes": false})
    );
    let (status, listed) = app.get("/environment/api-keys").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let current = listed["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|key| key["current"] == true)
        .expect("the demo's key");
    assert_eq!(
        current["permissions"],
        json!({"connection_ids": null, "read_only": false, "deletes": true})
    );
    let (_, scoped) = key_with(
        &app,
        json!({"connection_ids": [hubspot], "read_only": true}),
    )
    .await;
    assert_eq!(
        scoped["permissions"],
        json!({"connection_ids": [hubspot], "read_only": true, "deletes": false})
    );
}

#[tokio::test]
async fn a_read_only_key_reads_and_every_write_is_refused() {
    let app = spawn_app().await;
    let hubspot = app.connection("hubspot");
    let (reader, _) = key_with(&app, json!({"read_only": true})).await;
    let (status, page) = app
        .call_as(&reader, Method::GET, &contacts(&hubspot), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let id = page["results"][0]["id"]
        .as_str()
        .expect("a contact")
        .to_owned();
    let writes = [
        (
            Method::POST,
            format!("/unified/crm/contacts?connection_id={hubspot}"),
            Some(json!({"first_name": "Nope"})),
        ),
        (
            Method::PATCH,
            format!("/unified/crm/contacts/{id}?connection_id={hubspot}"),
            Some(json!({"first_name": "Nope"})),
        ),
        (
            Method::DELETE,
            format!("/unified/crm/contacts/{id}?connection_id={hubspot}"),
            None,
        ),
        (
            Method::PUT,
            format!("/connections/{hubspot}/overrides"),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/environment/api-keys".to_owned(),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in writes {
        let (status, problem) = app.call_as(&reader, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {problem}");
        assert_eq!(
            problem["code"], "read_only_key",
            "{method} {path}: {problem}"
        );
    }
    // The record is untouched.
    let (status, record) = app
        .call_as(
            &reader,
            Method::GET,
            &format!("/unified/crm/contacts/{id}?connection_id={hubspot}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_ne!(record["first_name"], "Nope");
}

#[tokio::test]
async fn only_a_key_allowed_to_delete_deletes() {
    let app = spawn_app().await;
    let hubspot = app.connection("hubspot");
    let (writer, _) = key_with(&app, json!({})).await;
    let (deleter, _) = key_with(&app, json!({"deletes": true})).await;
    let (status, created) = app
        .call_as(
            &writer,
            Method::POST,
            &format!("/unified/crm/contacts?connection_id={hubspot}"),
            Some(json!({"first_name": "Short", "last_name": "Lived",
                "email_addresses": [{"email_address": "short.lived@example.com", "type": "WORK"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let record = format!(
        "/unified/crm/contacts/{}?connection_id={hubspot}",
        created["id"].as_str().expect("an id")
    );
    let (status, problem) = app.call_as(&writer, Method::DELETE, &record, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["code"], "deletes_not_allowed", "{problem}");
    let (status, _) = app.call_as(&writer, Method::GET, &record, None).await;
    assert_eq!(status, StatusCode::OK, "still there");
    let (status, problem) = app
        .call_as(
            &writer,
            Method::DELETE,
            &format!("/connections/{hubspot}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, answer) = app.call_as(&deleter, Method::DELETE, &record, None).await;
    assert!(status.is_success(), "{status}: {answer}");
    let (status, _) = app.call_as(&writer, Method::GET, &record, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted at the vendor");
}

#[tokio::test]
async fn a_key_scoped_to_a_connection_finds_no_other() {
    let app = spawn_app().await;
    let hubspot = app.connection("hubspot");
    let salesforce = app.connection("salesforce");
    let (scoped, _) = key_with(&app, json!({"connection_ids": [hubspot]})).await;

    let (status, page) = app
        .call_as(&scoped, Method::GET, &contacts(&hubspot), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // Another connection of the same environment is absent, whichever way it is named.
    let (status, problem) = app
        .call_as(&scoped, Method::GET, &contacts(&salesforce), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, unknown) = app
        .call_as(
            &scoped,
            Method::GET,
            &contacts(store::ConnectionId::generate().as_str()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for answer in [&problem, &unknown] {
        assert!(
            answer["detail"]
                .as_str()
                .is_some_and(|detail| detail.ends_with("does not exist")),
            "the answer an id nobody has gets: {answer}"
        );
    }
    let response = app
        .client
        .get(app.url("/unified/crm/contacts?page_size=1"))
        .bearer_auth(&scoped)
        .header("X-Connection-Id", &salesforce)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    for path in [
        format!("/connections/{salesforce}"),
        format!("/connections/{salesforce}/overrides"),
        format!("/unified/crm/contacts/meta?connection_id={salesforce}"),
        format!("/proxy/anything?connection_id={salesforce}"),
        format!("/events?connection_id={salesforce}"),
    ] {
        let (status, problem) = app.call_as(&scoped, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {problem}");
    }
    // Lists of the environment show only its connection; environment-wide routes are refused.
    let (status, listed) = app
        .call_as(&scoped, Method::GET, "/connections", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let ids: Vec<&str> = listed["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|connection| connection["id"].as_str())
        .collect();
    assert_eq!(ids, [hubspot.as_str()]);
    for (method, path) in [
        (Method::GET, "/events"),
        (Method::GET, "/webhooks/endpoints"),
        (Method::PUT, "/environment/limits"),
    ] {
        let (status, problem) = app
            .call_as(&scoped, method.clone(), path, Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {problem}");
        assert_eq!(problem["code"], "connection_scoped_key", "{problem}");
    }
    // It makes no key reaching further than itself, nor revokes one that does.
    let (status, problem) = app
        .call_as(
            &scoped,
            Method::POST,
            "/environment/api-keys",
            Some(json!({"permissions": {"connection_ids": [hubspot, salesforce]}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["code"], "permission_not_held", "{problem}");
    let (status, created) = app
        .call_as(
            &scoped,
            Method::POST,
            "/environment/api-keys",
            Some(json!({"permissions": {"connection_ids": [hubspot], "read_only": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "a narrower key: {created}");
    let (_, listed) = app
        .call_as(&scoped, Method::GET, "/environment/api-keys", None)
        .await;
    let demo_key = listed["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|key| {
            key["permissions"]["connection_ids"].is_null() && key["permissions"]["deletes"] == true
        })
        .expect("the demo's key")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let (status, problem) = app
        .call_as(
            &scoped,
            Method::DELETE,
            &format!("/environment/api-keys/{demo_key}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
}
