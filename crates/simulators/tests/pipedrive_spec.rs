//! Conformance of the Pipedrive simulator's answers to the stored OpenAPI description
//! (`shared/vendor-specs/pipedrive/pipedrive-api-v1.oas.json`, paths relative to `/v1`).
//!
//! Each checked answer is validated against the response schema the spec gives for its path,
//! method and status (the spec inlines its schemas; `$ref`s into `#/components` would resolve
//! too). Where the spec is stricter than the live API, or wrong, the case is in the allow-list
//! [`spec_strict`] with its reason; everything else must validate. v2 has no stored spec.

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use simulators::pipedrive::{PipedriveConfig, spawn};

const TOKEN: &str = "pipedrive-sim-token";

fn spec_path() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../../shared/vendor-specs/pipedrive/pipedrive-api-v1.oas.json"),
        manifest.join("../../shared/vendor-specs/pipedrive/pipedrive-api-v1.oas.json"),
    ];
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| panic!("the stored Pipedrive spec is missing; looked at {candidates:?}"))
}

fn load_spec() -> Value {
    let text = std::fs::read_to_string(spec_path()).expect("spec reads");
    serde_json::from_str(&text).expect("spec is JSON")
}

/// Places where the spec is stricter than the live API, or wrong.
fn spec_strict(instance: &Value, path: &str) -> bool {
    // The spec rarely says `nullable`, but the live API sends `null` for every empty value
    // (`org_id`, `picture_id`, `next_activity_date`, `won_time`, an empty page's `data`, …).
    if instance.is_null() {
        return true;
    }
    // Built-in `id` fields have `field_type: "int"` in the live API; the spec's enum of field
    // types leaves `int` out.
    path.ends_with("/field_type") && instance == &json!("int")
}

/// Validates `instance` against the schema of `path` / `method` / `status` in the spec.
fn check(spec: &Value, path: &str, method: &str, status: u16, instance: &Value) {
    let response = &spec["paths"][path][method]["responses"][status.to_string()];
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "the spec has no JSON schema for {method} {path} {status}"
    );
    let mut root = schema.clone();
    root.as_object_mut()
        .expect("schema object")
        .insert("components".into(), spec["components"].clone());
    // OpenAPI 3.0 schemas are a JSON Schema draft 4/5 dialect.
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&root)
        .expect("spec schema compiles");
    let violations: Vec<String> = validator
        .iter_errors(instance)
        .filter(|error| !spec_strict(error.instance(), &error.instance_path().to_string()))
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        violations.is_empty(),
        "{method} {path} {status}: {violations:#?}"
    );
}

#[tokio::test]
async fn answers_match_the_stored_v1_spec() {
    let spec = load_spec();
    let config = PipedriveConfig {
        persons: 60,
        organizations: 20,
        deals: 30,
        leads: 15,
        notes: 20,
        activities: 30,
        users: 5,
        rate_limit_per_2s: 100_000,
        ..PipedriveConfig::default()
    };
    let (running, handle) = spawn(config, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("binds");
    let client = reqwest::Client::new();
    let base = format!("{}/api/v1", running.base_url);
    let call = |method: Method, path: String, body: Option<Value>| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let mut request = client.request(method, url).query(&[("api_token", TOKEN)]);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.expect("answered");
            let status = response.status();
            (status, response.json::<Value>().await.expect("JSON body"))
        }
    };

    // Lists, one record each, and the records by id.
    for (collection, param) in [
        ("persons", ""),
        ("organizations", ""),
        ("deals", ""),
        ("leads", ""),
        ("notes", ""),
        ("activities", "&user_id=0"),
        ("users", ""),
    ] {
        let (status, body) =
            call(Method::GET, format!("/{collection}?limit=500{param}"), None).await;
        assert_eq!(status, StatusCode::OK);
        check(&spec, &format!("/{collection}"), "get", 200, &body);
        for id in handle.ids(collection).iter().take(12) {
            let (status, body) = call(Method::GET, format!("/{collection}/{id}"), None).await;
            assert_eq!(status, StatusCode::OK);
            check(&spec, &format!("/{collection}/{{id}}"), "get", 200, &body);
        }
    }
    for collection in [
        "pipelines",
        "stages",
        "personFields",
        "organizationFields",
        "dealFields",
        "activityFields",
    ] {
        let (status, body) = call(Method::GET, format!("/{collection}"), None).await;
        assert_eq!(status, StatusCode::OK);
        check(&spec, &format!("/{collection}"), "get", 200, &body);
    }
    let (_, body) = call(Method::GET, "/pipelines/1".into(), None).await;
    check(&spec, "/pipelines/{id}", "get", 200, &body);
    let (_, body) = call(Method::GET, "/stages/7".into(), None).await;
    check(&spec, "/stages/{id}", "get", 200, &body);

    // Search.
    let (status, body) = call(
        Method::GET,
        "/persons/search?term=son&fields=name,email".into(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    check(&spec, "/persons/search", "get", 200, &body);
    let (_, body) = call(Method::GET, "/organizations/search?term=ac".into(), None).await;
    check(&spec, "/organizations/search", "get", 200, &body);
    let (_, body) = call(Method::GET, "/deals/search?term=deal".into(), None).await;
    check(&spec, "/deals/search", "get", 200, &body);

    // Writes: create, update, delete for each entity.
    let person_id: u64 = handle.ids("persons")[0].parse().expect("id");
    let org_id: u64 = handle.ids("organizations")[0].parse().expect("id");
    for (collection, create_status, body) in [
        (
            "persons",
            201,
            json!({"name": "Spec Person", "email": ["spec@example.com"], "org_id": org_id}),
        ),
        ("organizations", 201, json!({"name": "Spec Org"})),
        (
            "deals",
            201,
            json!({"title": "Spec deal", "value": 10, "person_id": person_id}),
        ),
        ("notes", 200, json!({"content": "spec", "org_id": org_id})),
        (
            "activities",
            201,
            json!({"subject": "Spec call", "type": "call", "person_id": person_id}),
        ),
    ] {
        let (status, created) = call(Method::POST, format!("/{collection}"), Some(body)).await;
        assert_eq!(status.as_u16(), create_status, "{created}");
        check(
            &spec,
            &format!("/{collection}"),
            "post",
            create_status,
            &created,
        );
        let id = created["data"]["id"].as_u64().expect("id");
        let change = if collection == "notes" {
            json!({"content": "changed"})
        } else {
            json!({})
        };
        let (status, updated) =
            call(Method::PUT, format!("/{collection}/{id}"), Some(change)).await;
        assert_eq!(status, StatusCode::OK);
        check(
            &spec,
            &format!("/{collection}/{{id}}"),
            "put",
            200,
            &updated,
        );
        let (status, deleted) = call(Method::DELETE, format!("/{collection}/{id}"), None).await;
        assert_eq!(status, StatusCode::OK);
        check(
            &spec,
            &format!("/{collection}/{{id}}"),
            "delete",
            200,
            &deleted,
        );
    }
    let (status, lead) = call(
        Method::POST,
        "/leads".into(),
        Some(json!({"title": "Spec lead", "organization_id": org_id, "value": {"amount": 5, "currency": "EUR"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    check(&spec, "/leads", "post", 201, &lead);
    let lead_id = lead["data"]["id"].as_str().expect("uuid").to_owned();
    let (status, body) = call(
        Method::PATCH,
        format!("/leads/{lead_id}"),
        Some(json!({"was_seen": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    check(&spec, "/leads/{id}", "patch", 200, &body);
    let (status, body) = call(Method::DELETE, format!("/leads/{lead_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    check(&spec, "/leads/{id}", "delete", 200, &body);
    let (status, body) = call(Method::GET, format!("/leads/{lead_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check(&spec, "/leads/{id}", "get", 404, &body);
    let (status, body) = call(Method::PATCH, format!("/leads/{lead_id}"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check(&spec, "/leads/{id}", "patch", 404, &body);
    let (status, body) = call(
        Method::PUT,
        "/users/1".into(),
        Some(json!({"active_flag": false})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    check(&spec, "/users/{id}", "put", 403, &body);
    let (status, body) = call(Method::GET, "/users/999".into(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check(&spec, "/users/{id}", "get", 404, &body);

    // Custom fields: a field added at runtime, as the Fields endpoints show it.
    handle.add_custom_field("deal", "Spec size", "set");
    let (_, body) = call(Method::GET, "/dealFields?limit=500".into(), None).await;
    check(&spec, "/dealFields", "get", 200, &body);
    let field_id = body["data"][0]["id"].as_u64().expect("field id");
    let (_, body) = call(Method::GET, format!("/dealFields/{field_id}"), None).await;
    check(&spec, "/dealFields/{id}", "get", 200, &body);
}

#[test]
fn the_allow_list_is_narrow() {
    let spec = load_spec();
    // Null is allowed where the spec names a type; a wrong non-null type is not.
    check(
        &spec,
        "/persons/{id}",
        "get",
        200,
        &json!({"success": true, "data": {"id": 1, "org_id": null}}),
    );
    for wrong in [
        json!({"success": true, "data": {"id": "1"}}),
        json!({"success": true, "data": {"email": "a@b.c"}}),
        json!({"success": "yes"}),
    ] {
        let result = std::panic::catch_unwind(|| check(&spec, "/persons/{id}", "get", 200, &wrong));
        assert!(result.is_err(), "{wrong} must fail");
    }
    let result = std::panic::catch_unwind(|| {
        check(
            &spec,
            "/personFields",
            "get",
            200,
            &json!({"data": [{"field_type": "float"}]}),
        );
    });
    assert!(
        result.is_err(),
        "an unknown field type other than `int` must fail"
    );
}
