//! `/connections`: listing, reading, creating with validation, deleting; the OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn connections_are_listed_created_validated_and_deleted() {
    let app = spawn_app().await;
    let (status, body) = app.get("/connections").await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), app.demo.vendors.len());
    for connection in results {
        assert!(connection["id"].is_string() && connection["provider"].is_string());
        assert_eq!(connection["status"], "active");
        assert!(
            connection.get("credentials").is_none(),
            "credentials are never shown"
        );
    }

    for (body, field) in [
        (json!({"provider": "nope"}), "provider"),
        (
            json!({"provider": "hubspot", "auth_scheme": "private_app"}),
            "fields.private_app_token",
        ),
        (
            json!({"provider": "hubspot", "auth_scheme": "private_app", "fields": {"private_app_token": "x", "colour": "red"}}),
            "fields.colour",
        ),
        (
            json!({"provider": "salesforce", "auth_scheme": "session", "fields": {"access_token": "x", "instance_url": "not a url"}}),
            "fields.instance_url",
        ),
        (
            json!({"provider": "hubspot", "auth_scheme": "smoke_signals"}),
            "auth_scheme",
        ),
    ] {
        let (status, answer) = app
            .call(Method::POST, "/connections", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    let (status, answer) = app
        .call(Method::POST, "/connections", Some(json!({"provider": 5})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    let (status, created) = app
        .call(
            Method::POST,
            "/connections",
            Some(json!({"provider": "hubspot", "auth_scheme": "private_app", "fields": {"private_app_token": "hubspot-sim-token"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id");
    let (status, contacts) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={id}&page_size=3"
        ))
        .await;
    assert_eq!(status, 200, "{contacts}");
    assert_eq!(
        contacts["results"].as_array().expect("results").len(),
        3,
        "{contacts}"
    );
    let (status, fetched) = app.get(&format!("/connections/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["provider"], "hubspot");
    let (status, _) = app
        .call(Method::DELETE, &format!("/connections/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/connections/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_openapi_document_describes_every_unified_object() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/openapi.json"))
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    let document: serde_json::Value = response.json().await.expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    for object in [
        "contacts",
        "companies",
        "opportunities",
        "leads",
        "notes",
        "tasks",
        "engagements",
        "users",
        "pipelines",
    ] {
        assert!(
            document["paths"][format!("/unified/crm/{object}")]["get"].is_object(),
            "{object}"
        );
    }
}

#[tokio::test]
async fn the_proxy_reaches_the_vendor_on_the_connections_credentials() {
    let app = spawn_app().await;
    let (status, body) = app
        .get(&format!(
            "/proxy/crm/v3/objects/contacts?limit=2&connection_id={}",
            app.connection("hubspot")
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"].as_array().expect("vendor results").len(), 2);
    let (status, body) = app
        .get(&format!(
            "/proxy/sobjects/Contact/describe?connection_id={}",
            app.connection("salesforce")
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["fields"].is_array(), "{body}");
    // Only declared hosts: an absolute URL smuggled into the path is refused.
    let (status, body) = app
        .get(&format!(
            "/proxy//evil.example.com/x?connection_id={}",
            app.connection("hubspot")
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
