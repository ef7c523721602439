//! Conformance of the Salesforce simulator's answers to the stored OpenAPI subset
//! (`shared/vendor-specs/salesforce/sobjects-rest-v59.0.subset.oas.json`).
//!
//! Each checked answer is validated against the response schema the spec gives for its path,
//! method and status, with `$ref`s resolved into the spec's `#/components`. The spec is
//! machine-generated and stricter than the live API in known ways; those are the allow-list
//! in [`spec_strict`], each with its reason. Everything else must validate.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};
use simulators::salesforce::{SalesforceConfig, spawn};

const TOKEN: &str = "salesforce-sim-token";

fn spec_path() -> PathBuf {
    // crates/simulators → the workspace root → its sibling `shared/`.
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest
            .join("../../../shared/vendor-specs/salesforce/sobjects-rest-v59.0.subset.oas.json"),
        manifest.join("../../shared/vendor-specs/salesforce/sobjects-rest-v59.0.subset.oas.json"),
    ];
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| {
            panic!("the stored Salesforce spec is missing; looked at {candidates:?}")
        })
}

fn load_spec() -> Value {
    let text = std::fs::read_to_string(spec_path()).expect("spec reads");
    serde_json::from_str(&text).expect("spec is JSON")
}

/// Places where the generated spec is stricter than the live API.
fn spec_strict(instance: &Value, kind: &str) -> bool {
    // The generated schemas never say `nullable`, but the live API sends `null` for every
    // empty field (record fields, describe's `relationshipName`, `defaultValue`, …).
    if instance.is_null() {
        return true;
    }
    // `format: date-time` means RFC 3339, but Salesforce writes offsets without a colon
    // (`2024-01-15T10:20:30.000+0000`), as the live API does.
    kind == "format"
        && instance
            .as_str()
            .is_some_and(|s| s.len() == 28 && s.ends_with("+0000") && s.as_bytes()[10] == b'T')
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
        .filter(|error| {
            let kind = format!("{:?}", error.kind());
            let kind = if kind.starts_with("Format") {
                "format"
            } else {
                "other"
            };
            !spec_strict(error.instance(), kind)
        })
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        violations.is_empty(),
        "{method} {path} {status}: {violations:#?}"
    );
}

/// Checks that a record answer carries only fields the spec's `<SObject>SObject` schema names.
///
/// The generated schemas leave `additionalProperties` open, so [`check`] alone would let a
/// field the real object lacks (such as `IsDeleted` on User) through. Custom fields (`__c`) are
/// the org's own and `attributes` is the envelope.
fn check_field_names(spec: &Value, sobject: &str, record: &Value) {
    let properties = spec["components"]["schemas"][format!("{sobject}SObject")]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("the spec has no schema for {sobject}"));
    let unknown: Vec<&String> = record
        .as_object()
        .expect("record object")
        .keys()
        .filter(|name| {
            *name != "attributes" && !name.ends_with("__c") && !properties.contains_key(*name)
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "{sobject} answers fields the real object lacks: {unknown:?}"
    );
}

#[tokio::test]
async fn answers_match_the_stored_openapi_subset() {
    let spec = load_spec();
    let config = SalesforceConfig {
        accounts: 30,
        contacts: 60,
        leads: 30,
        opportunities: 30,
        tasks: 40,
        events: 20,
        notes: 20,
        users: 5,
        ..SalesforceConfig::default()
    };
    let (running, handle) = spawn(config, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("binds");
    let client = reqwest::Client::new();
    let base = format!("{}/services/data/v59.0", running.base_url);
    let get = |path: String| {
        let client = client.clone();
        async move {
            let response = client
                .get(path)
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("answered");
            let status = response.status();
            (status, response.json::<Value>().await.expect("JSON body"))
        }
    };

    let (status, body) = get(format!("{base}/sobjects")).await;
    assert_eq!(status, StatusCode::OK);
    check(&spec, "/sobjects", "get", 200, &body);

    let (status, body) = get(format!("{base}/sobjects/Contact/describe")).await;
    assert_eq!(status, StatusCode::OK);
    check(&spec, "/sobjects/{sObject}/describe", "get", 200, &body);

    for sobject in [
        "Account",
        "Contact",
        "Lead",
        "Opportunity",
        "Task",
        "Event",
        "Note",
        "User",
    ] {
        let (status, body) = get(format!("{base}/sobjects/{sobject}/describe")).await;
        assert_eq!(status, StatusCode::OK);
        check(&spec, "/sobjects/{sObject}/describe", "get", 200, &body);

        let (status, body) = get(format!("{base}/sobjects/{sobject}")).await;
        assert_eq!(status, StatusCode::OK);
        check(&spec, &format!("/sobjects/{sobject}"), "get", 200, &body);

        for id in handle.ids(sobject).iter().take(25) {
            let (status, body) = get(format!("{base}/sobjects/{sobject}/{id}")).await;
            assert_eq!(status, StatusCode::OK);
            check(
                &spec,
                &format!("/sobjects/{sobject}/{{id}}"),
                "get",
                200,
                &body,
            );
            check_field_names(&spec, sobject, &body);
        }
        let (status, body) = get(format!("{base}/sobjects/{sobject}/001000000000000AAA")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        check(
            &spec,
            &format!("/sobjects/{sobject}/{{id}}"),
            "get",
            404,
            &body,
        );
    }

    // Create: the SaveResult, then the error arrays of a rejected create.
    let created = client
        .post(format!("{base}/sobjects/Contact"))
        .bearer_auth(TOKEN)
        .json(&json!({"LastName": "Spec", "Email": "spec@example.com"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(created.status(), StatusCode::CREATED);
    let save_result: Value = created.json().await.expect("JSON");
    check(&spec, "/sobjects/Contact", "post", 201, &save_result);
    let id = save_result["id"].as_str().expect("id").to_owned();

    let rejected = client
        .post(format!("{base}/sobjects/Contact"))
        .bearer_auth(TOKEN)
        .json(&json!({"FirstName": "NoLastName"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(rejected.status(), StatusCode::BAD_REQUEST);
    check(
        &spec,
        "/sobjects/Contact",
        "post",
        400,
        &rejected.json().await.expect("JSON"),
    );

    let unauthorised = client
        .get(format!("{base}/sobjects/Contact/{id}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED);
    check(
        &spec,
        "/sobjects/Contact/{id}",
        "get",
        401,
        &unauthorised.json().await.expect("JSON"),
    );

    let patch = client
        .patch(format!("{base}/sobjects/Contact/{id}"))
        .bearer_auth(TOKEN)
        .json(&json!({"Health_Score__c": 3}))
        .send()
        .await
        .expect("answered");
    assert_eq!(patch.status(), StatusCode::BAD_REQUEST);
    check(
        &spec,
        "/sobjects/Contact/{id}",
        "patch",
        400,
        &patch.json().await.expect("JSON"),
    );

    let deleted = client
        .delete(format!("{base}/sobjects/Contact/{id}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answered");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let again = client
        .delete(format!("{base}/sobjects/Contact/{id}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answered");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    check(
        &spec,
        "/sobjects/Contact/{id}",
        "delete",
        404,
        &again.json().await.expect("JSON"),
    );

    let start = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let end = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let window = client
        .get(format!("{base}/sobjects/Contact/deleted/"))
        .bearer_auth(TOKEN)
        .query(&[("start", &start), ("end", &end)])
        .send()
        .await
        .expect("answered");
    assert_eq!(window.status(), StatusCode::OK);
    let window: Value = window.json().await.expect("JSON");
    assert_eq!(window["deletedRecords"][0]["id"], json!(id));
    check(&spec, "/sobjects/{sObject}/deleted", "get", 200, &window);
    let missing = client
        .get(format!("{base}/sobjects/Contact/deleted/"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answered");
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    check(
        &spec,
        "/sobjects/{sObject}/deleted",
        "get",
        400,
        &missing.json().await.expect("JSON"),
    );
}

#[test]
fn the_allow_list_is_narrow() {
    // Null is allowed anywhere the spec names a type; a wrong non-null type is not.
    let spec = load_spec();
    let contact = json!({"attributes": {"type": "Contact", "url": "/x"}, "Id": "003", "Email": null, "CreatedDate": "2024-01-15T10:20:30.000+0000"});
    check(&spec, "/sobjects/Contact/{id}", "get", 200, &contact);
    let result = std::panic::catch_unwind(|| {
        check(
            &spec,
            "/sobjects/Contact/{id}",
            "get",
            200,
            &json!({"Email": 5}),
        );
    });
    assert!(
        result.is_err(),
        "a number where the spec says string must fail"
    );
    let result = std::panic::catch_unwind(|| {
        check(
            &spec,
            "/sobjects/Contact/{id}",
            "get",
            200,
            &json!({"CreatedDate": "yesterday"}),
        );
    });
    assert!(result.is_err(), "a malformed datetime must fail");
}
