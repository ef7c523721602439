//! `GET /connections/{id}/openapi.json` (issue 15): the document narrowed to one connection says
//! exactly what the connection takes, so a body the document allows is one the API accepts and
//! one it forbids is refused with 400; and the platform routes' values (URLs, ids, blank text,
//! the body of `POST /connections`) are stated as the server checks them, with the environment's
//! state answering 404 or 409, never 400.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// The connection's document, with `pointer` (a JSON pointer into it) as the root schema, so
/// that its references resolve inside the document.
async fn validator_at(app: &TestApp, connection: &str, pointer: &str) -> jsonschema::Validator {
    let (status, mut document) = app
        .get(&format!("/connections/{connection}/openapi.json"))
        .await;
    assert_eq!(status, StatusCode::OK, "{document}");
    assert!(
        document.pointer(pointer).is_some(),
        "{pointer} is missing from the document"
    );
    document["$ref"] = json!(format!("#{pointer}"));
    jsonschema::validator_for(&document).expect("the document's schemas compile")
}

#[tokio::test]
async fn a_connections_document_lists_only_what_its_connector_serves() {
    let app = spawn_app().await;
    for vendor in &app.demo.vendors {
        let (status, document) = app
            .get(&format!(
                "/connections/{}/openapi.json",
                vendor.connection_id
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{document}");
        assert_eq!(
            document["info"]["x-crosswalk-connection"],
            json!(vendor.connection_id)
        );
        let mut unified = 0;
        for (path, item) in document["paths"].as_object().expect("paths") {
            if !path.starts_with("/unified/") || path.ends_with("/fields") {
                continue;
            }
            for (method, operation) in item.as_object().expect("a path item") {
                if method == "parameters" {
                    continue;
                }
                unified += 1;
                assert_eq!(
                    operation["x-crosswalk-connectors"],
                    json!([vendor.provider]),
                    "{} {method} {path}",
                    vendor.provider
                );
            }
        }
        assert!(unified > 10, "{}: {unified}", vendor.provider);
        // Syncs of this connection, of objects its connector lists (the vendors without the
        // cross-vendor suite's facts are the HRIS ones).
        let listed = if vendor.wiring.suite.is_some() {
            "crm.contacts"
        } else {
            "hris.employees"
        };
        let create_sync = &document["components"]["schemas"]["CreateSync"]["properties"];
        assert_eq!(
            create_sync["connection_id"]["const"],
            json!(vendor.connection_id)
        );
        assert!(
            create_sync["object"]["enum"]
                .as_array()
                .is_some_and(|names| names.contains(&json!(listed))),
            "{create_sync}"
        );
    }
    let (status, _) = app
        .get("/connections/conn_0190f0a1b2c37d4e8f90a1b2c3d4e5f6/openapi.json")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call_as(
            "not-a-key",
            Method::GET,
            &format!("/connections/{}/openapi.json", app.connection("hubspot")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Before, a required field was listed as required but still allowed `null` (which the API
/// refuses), and a custom field key the connection does not have was allowed (refused too).
#[tokio::test]
async fn a_write_body_the_connections_document_allows_is_accepted_and_one_it_forbids_is_refused() {
    let app = spawn_app().await;
    let connection = app.connection("salesforce");
    let create = validator_at(
        &app,
        &connection,
        "/paths/~1unified~1crm~1contacts/post/requestBody/content/application~1json/schema",
    )
    .await;
    let cases = [
        (json!({"last_name": "Lovelace", "first_name": "Ada"}), true),
        (json!({}), false),
        (json!({"last_name": null}), false),
        (
            json!({"last_name": "Lovelace", "custom_fields": {"no_such_field": "x"}}),
            false,
        ),
    ];
    for (body, valid) in cases {
        assert_eq!(create.is_valid(&body), valid, "the document on {body}");
        let (status, answer) = app
            .call(
                Method::POST,
                &format!("/unified/crm/contacts?connection_id={connection}"),
                Some(body.clone()),
            )
            .await;
        if valid {
            assert_eq!(status, StatusCode::CREATED, "{body}: {answer}");
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        }
    }
}

#[tokio::test]
async fn the_platform_routes_values_are_checked_as_the_document_states_them() {
    let app = spawn_app().await;
    let (status, document) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let pattern_at = |pointer: &str| {
        let text = document
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no pattern at {pointer}"));
        regex::Regex::new(text).expect("a pattern")
    };
    // Redirect URLs: what the documented pattern takes the API takes, and the rest is refused.
    let redirect =
        pattern_at("/components/schemas/Branding/properties/allowed_redirect_urls/items/pattern");
    for url in [
        "https://app.example.com/done",
        "http://127.0.0.1:3000/cb?x=1",
        "http://exa_mple.com/",
        "https://app.example.com/#top",
        "https://a.1/",
        "HTTPS://APP.EXAMPLE.COM/",
    ] {
        let (status, answer) = app
            .call(
                Method::PUT,
                "/environment/branding",
                Some(json!({"allowed_redirect_urls": [url]})),
            )
            .await;
        let expected = if redirect.is_match(url) {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(status, expected, "{url}: {answer}");
    }
    // A connect link: blank end user ids are refused (U+001C is what Python calls a space, as
    // the document's `\S` means to it); a well-formed URL the environment does not allow
    // conflicts with its settings.
    let (status, answer) = app
        .call(
            Method::POST,
            "/connect/sessions",
            Some(json!({"end_user_id": "\u{1c}", "redirect_url": "https://app.example.com/done"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "end_user_id");
    let (status, answer) = app
        .call(
            Method::POST,
            "/connect/sessions",
            Some(json!({"end_user_id": "u", "redirect_url": "https://elsewhere.example.com/"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    // A sync of a well-formed id of no connection: not found.
    let (status, answer) = app
        .call(
            Method::POST,
            "/syncs",
            Some(json!({"connection_id": "conn_0190f0a1b2c37d4e8f90a1b2c3d4e5f6", "object": "crm.contacts"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    // A client-credentials connection without the environment's OAuth app: a conflict with
    // the environment's settings, not a malformed request.
    let (status, answer) = app
        .call(
            Method::POST,
            "/connections",
            Some(json!({"provider": "salesforce", "auth_scheme": "client_credentials", "fields": {"my_domain": "acme.my.salesforce.com"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["code"], "oauth_app_missing");
    // `POST /connections`: a body the documented branches allow is created, one they do not
    // (a connector's default OAuth sign-in, which goes through Connect) is refused.
    let mut connect = document.clone();
    connect["$ref"] =
        json!("#/paths/~1connections/post/requestBody/content/application~1json/schema");
    let body_schema = jsonschema::validator_for(&connect).expect("the schemas compile");
    for (body, created) in [
        (
            json!({"provider": "salesforce", "auth_scheme": "session", "fields": {"instance_url": "https://acme.my.salesforce.com", "access_token": "t"}}),
            true,
        ),
        (
            json!({"provider": "pipedrive", "auth_scheme": "api_token", "fields": {"company_domain": "acme", "api_token": "t", "default_phone_region": " "}}),
            true,
        ),
        (json!({"provider": "hubspot"}), false),
        (
            json!({"provider": "salesforce", "auth_scheme": "session", "fields": {"instance_url": "https://a.1", "access_token": "t"}}),
            false,
        ),
    ] {
        assert_eq!(
            body_schema.is_valid(&body),
            created,
            "the document on {body}"
        );
        let (status, answer) = app
            .call(Method::POST, "/connections", Some(body.clone()))
            .await;
        if created {
            assert_eq!(status, StatusCode::CREATED, "{body}: {answer}");
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        }
    }
}

/// Writes the vendor would refuse for a missing or blank field are refused up front, naming the
/// field, and the connection's document marks the field required (before, each reached the
/// vendor and came back as its 422, or as 400 without the document saying so).
#[tokio::test]
async fn fields_the_vendor_requires_are_required_by_the_document_and_refused_up_front() {
    let app = spawn_app().await;
    for (provider, object, body, field) in [
        ("pipedrive", "companies", json!({}), "name"),
        (
            "pipedrive",
            "opportunities",
            json!({"amount": null}),
            "name",
        ),
        ("pipedrive", "notes", json!({"content": " "}), "content"),
        (
            "hubspot",
            "leads",
            json!({"name": "A lead"}),
            "converted_contact_id",
        ),
        (
            "salesforce",
            "leads",
            json!({"last_name": "Lovelace", "company_name": ""}),
            "company_name",
        ),
        (
            "dynamics365",
            "engagements",
            json!({"subject": "Call"}),
            "type",
        ),
    ] {
        let connection = app.connection(provider);
        let create = validator_at(
            &app,
            &connection,
            &format!(
                "/paths/~1unified~1crm~1{object}/post/requestBody/content/application~1json/schema"
            ),
        )
        .await;
        assert!(
            !create.is_valid(&body),
            "{provider} {object}: the document on {body}"
        );
        let (status, answer) = app
            .call(
                Method::POST,
                &format!("/unified/crm/{object}?connection_id={connection}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{provider} {object} {body}: {answer}"
        );
        assert_eq!(
            answer["field"],
            format!("body.{field}"),
            "{provider} {object}: {answer}"
        );
    }
}

/// An update naming nothing to change answers the record as it is (before, an empty write went
/// to the vendor, which refused it as malformed: a 422 for a body the document allows).
#[tokio::test]
async fn an_update_with_nothing_to_change_answers_the_record_unchanged() {
    let app = spawn_app().await;
    for (provider, object) in [
        ("salesforce", "notes"),
        ("salesforce", "engagements"),
        ("hubspot", "engagements"),
        ("dynamics365", "notes"),
    ] {
        let connection = app.connection(provider);
        let (status, page) = app
            .get(&format!(
                "/unified/crm/{object}?connection_id={connection}&page_size=1"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{provider} {object}: {page}");
        let id = page["results"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{provider} {object}: a record in {page}"))
            .to_owned();
        for body in [json!({}), json!({"custom_fields": {}, "remote_data": null})] {
            let (status, answer) = app
                .call(
                    Method::PATCH,
                    &format!("/unified/crm/{object}/{id}?connection_id={connection}"),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{provider} {object} {body}: {answer}"
            );
            assert_eq!(answer["id"], json!(id), "{provider} {object}: {answer}");
        }
    }
}
