//! Input the documents allow is taken, and input they refuse is refused (issue 15, found by the
//! longer Schemathesis run): integral floats in integer fields (JSON Schema's integers), no
//! `null` where a field's type has none, list filters as their pattern states them, instants
//! before 1970 in date filters, webhook endpoint descriptions as their pattern states them, and
//! client credentials a vendor turns down answered as the caller's input (`api/personio.rs`).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// The served document's schema at `pointer`.
async fn served_schema(app: &TestApp, path: &str, pointer: &str) -> Value {
    let (status, document) = app.get(path).await;
    assert_eq!(status, StatusCode::OK, "{document}");
    document
        .pointer(pointer)
        .unwrap_or_else(|| panic!("{path} has {pointer}"))
        .clone()
}

/// The ECMA-262 pattern of a schema, compiled (the patterns used here are also valid in the
/// `regex` crate's syntax).
fn pattern_of(schema: &Value) -> regex::Regex {
    let pattern = schema["pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("a pattern in {schema}"));
    regex::Regex::new(pattern).expect("the pattern compiles")
}

#[tokio::test]
async fn integer_fields_take_integral_floats_and_refuse_null() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    // `3600.0` is an integer to JSON Schema (and to JavaScript, whose encoders write it so).
    let (status, sync) = app
        .call(
            Method::POST,
            "/syncs",
            Some(
                json!({"connection_id": connection, "object": "crm.contacts",
                        "every_secs": 3600.0, "reconcile_every_secs": 86_400.0}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sync}");
    assert_eq!(sync["every_secs"], 3600, "{sync}");
    assert_eq!(sync["reconcile_every_secs"], 86_400, "{sync}");
    let id = sync["id"].as_str().expect("an id");
    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/syncs/{id}"),
            Some(json!({"every_secs": 7.2e3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["every_secs"], 7200, "{patched}");
    let (status, saved) = app
        .call(
            Method::PUT,
            "/environment/syncs",
            Some(json!({"syncs": [{"object": "crm.contacts", "every_secs": 900.0}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");

    // A fraction is no integer, and `null` or an array is not the documented type.
    for (method, path, body, field) in [
        (
            Method::PATCH,
            format!("/syncs/{id}"),
            json!({"every_secs": 3600.5}),
            "every_secs",
        ),
        (
            Method::PATCH,
            format!("/syncs/{id}"),
            json!({"reconcile_every_secs": null}),
            "reconcile_every_secs",
        ),
        (
            Method::POST,
            "/syncs".to_owned(),
            json!({"connection_id": connection, "object": "crm.contacts", "every_secs": null}),
            "every_secs",
        ),
        (
            Method::PUT,
            "/environment/syncs".to_owned(),
            json!({"syncs": [{"object": "crm.contacts", "every_secs": null}]}),
            "syncs[0].every_secs",
        ),
        // A nested object written as the array of its values (which serde would read).
        (
            Method::PUT,
            "/environment/syncs".to_owned(),
            json!({"syncs": [["crm.contacts", 900]]}),
            "syncs[0]",
        ),
    ] {
        let (status, problem) = app.call(method, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
}

/// A unified write's nested object written as an array (`addresses: [[null, null]]`, which
/// Schemathesis sent): the document says each address is an object, and serde would read one
/// from the array of its fields. Refused naming the element, on every vendor, before any call.
#[tokio::test]
async fn a_unified_write_refuses_an_array_where_its_document_has_an_object() {
    let app = spawn_app().await;
    for vendor in app.demo.vendors.iter().filter(|v| v.wiring.suite.is_some()) {
        let path = format!(
            "/unified/crm/contacts?connection_id={}",
            vendor.connection_id
        );
        let body =
            json!({"first_name": "Ada", "last_name": "Lovelace", "addresses": [[null, null]]});
        let (status, problem) = app.call(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}: {problem}",
            vendor.provider
        );
        assert_eq!(
            problem["field"], "body.addresses[0]",
            "{}: {problem}",
            vendor.provider
        );
    }
}

/// Optional fields of the platform's bodies: left out they take their default, but `null` is
/// not their documented type (none of these schemas has `null`), so it is refused naming the
/// field rather than read as "left out".
#[tokio::test]
async fn optional_platform_fields_refuse_null() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let (status, key) = app
        .call(
            Method::POST,
            "/environment/api-keys",
            Some(json!({"name": "rotated"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let key_id = key["api_key"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a key id in {key}"))
        .to_owned();
    for (path, body, field) in [
        (
            "/connections".to_owned(),
            json!({"provider": "hubspot", "auth_scheme": null,
                   "fields": {"private_app_token": "hubspot-sim-token"}}),
            "auth_scheme",
        ),
        (
            "/environment/api-keys".to_owned(),
            json!({"name": null}),
            "name",
        ),
        (
            "/environment/api-keys".to_owned(),
            json!({"expires_at": null}),
            "expires_at",
        ),
        (
            "/environment/api-keys".to_owned(),
            json!({"expires_in_secs": null}),
            "expires_in_secs",
        ),
        (
            format!("/environment/api-keys/{key_id}/rotate"),
            json!({"overlap_secs": null}),
            "overlap_secs",
        ),
        (
            format!("/connections/{connection}/webhook-ingress"),
            json!({"secret": null}),
            "secret",
        ),
    ] {
        let (status, problem) = app.call(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {problem}");
        assert_eq!(problem["field"], field, "{path} {body}: {problem}");
    }
}

#[tokio::test]
async fn list_filters_take_what_their_document_allows() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    // HubSpot filters by epoch milliseconds and refuses negative ones; no record changed
    // before 1970, so an earlier instant selects what the epoch does.
    let (status, page) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={connection}&updated_after=1900-01-01T00:00:00Z&page_size=2"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["results"].as_array().map(Vec::len), Some(2), "{page}");

    // The document's pattern for a list filter and the server agree on what names nothing.
    let ids = served_schema(
        &app,
        &format!("/connections/{connection}/openapi.json"),
        "/paths/~1unified~1crm~1contacts/get/parameters",
    )
    .await;
    let ids = ids
        .as_array()
        .and_then(|parameters| parameters.iter().find(|p| p["name"] == "ids"))
        .expect("an `ids` parameter")["schema"]
        .clone();
    let pattern = pattern_of(&ids);
    for blank in ["", " ", ",", " , ,"] {
        assert!(!pattern.is_match(blank), "{blank:?} matches {pattern}");
        let (status, problem) = app
            .get(&format!(
                "/unified/crm/contacts?connection_id={connection}&ids={}",
                blank.replace(' ', "%20")
            ))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{blank:?}: {problem}");
        assert_eq!(problem["field"], "ids", "{blank:?}: {problem}");
    }
    let first = app
        .contact_ids("hubspot")
        .into_iter()
        .next()
        .expect("a contact");
    for listed in [first.clone(), format!(" {first} ,,")] {
        assert!(
            pattern.is_match(&listed),
            "{listed:?} does not match {pattern}"
        );
        let (status, page) = app
            .get(&format!(
                "/unified/crm/contacts?connection_id={connection}&ids={}",
                listed.replace(' ', "%20")
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{listed:?}: {page}");
        assert_eq!(
            page["results"][0]["id"],
            first.as_str(),
            "{listed:?}: {page}"
        );
    }
    // HubSpot's ids are whole numbers, and it refuses others as a bad request: a value that
    // cannot be an id selects nothing (the connector's `item_pattern`), so a list of them is
    // empty and a list with one real id answers that record.
    for (listed, expected) in [
        ("abc".to_owned(), Vec::<&str>::new()),
        ("abc,-1,1.5".to_owned(), Vec::new()),
        (format!("abc,{first}"), vec![first.as_str()]),
    ] {
        let (status, page) = app
            .get(&format!(
                "/unified/crm/contacts?connection_id={connection}&ids={listed}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{listed}: {page}");
        let ids: Vec<&str> = page["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter_map(|record| record["id"].as_str())
            .collect();
        assert_eq!(ids, expected, "{listed}: {page}");
    }

    // The `email` filter takes an address: the document says what the server checks.
    let parameters = served_schema(
        &app,
        &format!("/connections/{connection}/openapi.json"),
        "/paths/~1unified~1crm~1contacts/get/parameters",
    )
    .await;
    let email = parameters
        .as_array()
        .and_then(|parameters| parameters.iter().find(|p| p["name"] == "email"))
        .expect("an `email` parameter")["schema"]
        .clone();
    let pattern = pattern_of(&email);
    for (value, accepted) in [("nobody", false), ("0", false), ("a@b", true)] {
        assert_eq!(
            pattern.is_match(value),
            accepted,
            "{value:?} against {pattern}"
        );
        let (status, problem) = app
            .get(&format!(
                "/unified/crm/contacts?connection_id={connection}&email={value}"
            ))
            .await;
        let expected = if accepted {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(status, expected, "{value:?}: {problem}");
    }
}

#[tokio::test]
async fn a_webhook_endpoint_description_is_what_its_pattern_says() {
    let app = spawn_app().await;
    let schema = served_schema(
        &app,
        "/openapi.json",
        "/paths/~1webhooks~1endpoints/post/requestBody/content/application~1json/schema/properties/description",
    )
    .await;
    let pattern = pattern_of(&schema);
    // Every character the pattern refuses, the server refuses, and the other way round.
    for (index, c) in [
        'a', 'é', ' ', '\t', '\n', '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}',
    ]
    .into_iter()
    .enumerate()
    {
        let description = format!("endpoint {c} here");
        let (status, body) = app
            .call(
                Method::POST,
                "/webhooks/endpoints",
                Some(json!({"url": format!("https://hooks.example.com/{index}"),
                            "description": description})),
            )
            .await;
        if pattern.is_match(&description) {
            assert_eq!(status, StatusCode::CREATED, "{c:?}: {body}");
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{c:?}: {body}");
            assert_eq!(body["field"], "description", "{c:?}: {body}");
        }
    }
    assert!(!pattern.is_match("a\u{1}b"));
    assert!(pattern.is_match("a plain description"));
}

#[tokio::test]
async fn hubspot_writes_what_it_can_and_refuses_up_front_what_it_cannot() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    // An update whose only field maps to nothing HubSpot stores (a null duration) still sends
    // the `properties` object HubSpot requires: the record is answered, not a vendor 400. A
    // duration is held by calls and meetings only, so the body names the record's type.
    let (status, page) = app
        .get(&format!(
            "/unified/crm/engagements?connection_id={connection}&page_size=50"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let call = page["results"]
        .as_array()
        .and_then(|records| {
            records
                .iter()
                .find_map(|record| record["id"].as_str().filter(|id| id.starts_with("call-")))
        })
        .expect("a call among the engagements")
        .to_owned();
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/unified/crm/engagements/{call}?connection_id={connection}"),
            Some(json!({"type": "CALL", "duration_seconds": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["id"], call.as_str(), "{updated}");

    // HubSpot sets a company's parent from associations: `parent_company_id` is not written,
    // and a write naming it is refused before any vendor call, naming the field.
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/unified/crm/companies?connection_id={connection}"),
            Some(json!({"name": "Child Co", "parent_company_id": "1001"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["field"]
            .as_str()
            .is_some_and(|field| field.ends_with("parent_company_id")),
        "{problem}"
    );
}

/// A field one scheme needs and another does not (`required_schemes`): Dynamics 365's tenant is
/// optional with OAuth sign-in (Entra ID's `organizations`) and needed for client credentials,
/// whose token has no other host to come from; the document says so and the server refuses
/// the connection without it rather than asking a token of the wrong tenant.
#[tokio::test]
async fn a_field_required_by_one_scheme_is_required_for_it() {
    let app = spawn_app().await;
    let branches = served_schema(
        &app,
        "/openapi.json",
        "/paths/~1connections/post/requestBody/content/application~1json/schema/oneOf",
    )
    .await;
    let branch = branches
        .as_array()
        .and_then(|branches| {
            branches
                .iter()
                .find(|branch| branch["title"] == "dynamics365 client_credentials")
        })
        .unwrap_or_else(|| panic!("a Dynamics 365 client-credentials branch in {branches}"));
    let required = &branch["properties"]["fields"]["required"];
    assert!(
        required
            .as_array()
            .is_some_and(|names| names.iter().any(|name| name == "tenant_id")),
        "{branch}"
    );
    let (status, problem) = app
        .call(
            Method::POST,
            "/connections",
            Some(
                json!({"provider": "dynamics365", "auth_scheme": "client_credentials",
                        "fields": {"org_url": "https://contoso.crm.dynamics.com"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "fields.tenant_id", "{problem}");
    // The tenant is a GUID or a domain: it is a segment of the token URL, so another text made
    // an invalid token host, refused as "not in the connector's allowed_hosts" under
    // `fields` (the long run's finding). The document states the pattern, and the field is
    // named.
    let tenant = pattern_of(&branch["properties"]["fields"]["properties"]["tenant_id"]);
    assert!(tenant.is_match("contoso.onmicrosoft.com"), "{tenant}");
    assert!(
        tenant.is_match("72f988bf-86f1-41af-91ab-2d7cd011db47"),
        "{tenant}"
    );
    assert!(!tenant.is_match("\u{10}\u{b9}\u{9d}\u{dd}"), "{tenant}");
    let (status, problem) = app
        .call(
            Method::POST,
            "/connections",
            Some(
                json!({"provider": "dynamics365", "auth_scheme": "client_credentials",
                        "fields": {"org_url": "https://contoso.crm.dynamics.com",
                                   "tenant_id": "\u{10}\u{b9}\u{9d}\u{dd}"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "fields.tenant_id", "{problem}");
    // A tenant the document allows, whose token endpoint the connector may not reach (the
    // demo's Dynamics 365 reaches its simulator only): no part of the body is malformed, so
    // 422 naming the scheme, not a 400 (the long Schemathesis run's `tenant_id: "l"`).
    let (status, body) = app
        .call(
            Method::PUT,
            "/environment/oauth-apps/dynamics365",
            Some(json!({"client_id": "crosswalk-app", "client_secret": "app-secret-0123456789", "redirect_uris": ["https://app.example.com/callback"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, problem) = app
        .call(
            Method::POST,
            "/connections",
            Some(
                json!({"provider": "dynamics365", "auth_scheme": "client_credentials",
                        "fields": {"org_url": "https://contoso.crm.dynamics.com", "tenant_id": "l"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "token_endpoint_unreachable", "{problem}");
    assert_eq!(problem["field"], "auth_scheme", "{problem}");
}

/// A custom field's value has the type the connection's document gives it: an object in a
/// text field was written as the text `{}` (found by the longer Schemathesis run).
#[tokio::test]
async fn custom_field_values_have_their_documented_type() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    // `custom_fields` itself is an object, not null.
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/unified/crm/contacts?connection_id={connection}"),
            Some(json!({"last_name": "Typed", "custom_fields": null})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "body.custom_fields", "{problem}");
    // HubSpot's test portal has these text properties (the run found `loyalty_tier`).
    for text_field in ["loyalty_tier", "favorite_color"] {
        for value in [json!({}), json!([1]), json!(true)] {
            let (status, problem) = app
                .call(
                    Method::POST,
                    &format!("/unified/crm/contacts?connection_id={connection}"),
                    Some(json!({"last_name": "Typed", "custom_fields": {text_field: value}})),
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{value}: {problem}");
            assert_eq!(
                problem["field"],
                format!("body.custom_fields.{text_field}"),
                "{value}: {problem}"
            );
        }
    }
    // A date property is the document's `format: date`: "" or another text is no date (the
    // long run's PATCH of a deal with `contract_start_date: ""` was answered 200).
    let (status, page) = app
        .get(&format!(
            "/unified/crm/opportunities?connection_id={connection}&page_size=1"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let deal = page["results"][0]["id"]
        .as_str()
        .expect("a deal")
        .to_owned();
    let (_, meta) = app
        .get(&format!(
            "/unified/crm/opportunities/meta?connection_id={connection}"
        ))
        .await;
    assert_eq!(
        meta["update_schema"]["properties"]["custom_fields"]["properties"]["contract_start_date"]["anyOf"]
            [0]["format"],
        "date",
        "{meta}"
    );
    for value in ["", "soon", "2026-13-01", "2026-1-5"] {
        let (status, problem) = app
            .call(
                Method::PATCH,
                &format!("/unified/crm/opportunities/{deal}?connection_id={connection}"),
                Some(json!({"custom_fields": {"contract_start_date": value}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{value:?}: {problem}");
        assert_eq!(
            problem["field"], "body.custom_fields.contract_start_date",
            "{problem}"
        );
    }
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/unified/crm/opportunities/{deal}?connection_id={connection}"),
            Some(json!({"custom_fields": {"contract_start_date": "2026-03-01"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        updated["custom_fields"]["contract_start_date"], "2026-03-01",
        "{updated}"
    );
}

/// A Dynamics 365 choice column holds one of its options' integer values: the connection's
/// document lists them (`enum`, read through discovery's second request, the
/// `PicklistAttributeMetadata` cast that gives option sets), the gateway refuses text (`""`)
/// and an integer outside the option set naming the field before any vendor call, and an
/// option's value is written and read back with its label beside it. The document said any
/// text (an `enum` with no options read), and the long Schemathesis run's `new_segment: ""`
/// reached Dataverse, which refused it as not an `Edm.Int32`; then it said any `integer`, and
/// the next long run's `new_segment: 0` reached Dataverse, which refused it as outside the
/// option set (issue 15).
#[tokio::test]
async fn a_choice_column_takes_its_options_values() {
    let app = spawn_app().await;
    let connection = app.connection("dynamics365");
    for (object, field, options) in [
        (
            "companies",
            "new_segment",
            json!([100_000_000, 100_000_001, 100_000_002]),
        ),
        (
            "contacts",
            "new_loyaltytier",
            json!([100_000_000, 100_000_001, 100_000_002]),
        ),
    ] {
        let (status, meta) = app
            .get(&format!(
                "/unified/crm/{object}/meta?connection_id={connection}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{meta}");
        let schema =
            &meta["create_schema"]["properties"]["custom_fields"]["properties"][field]["anyOf"][0];
        assert_eq!(schema["enum"], options, "{object}.{field}: {schema}");
        assert_eq!(schema["x-vendor-type"], "Picklist", "{schema}");
    }
    let companies = format!("/unified/crm/companies?connection_id={connection}");
    let posts = || {
        app.simulator("dynamics365")
            .requests()
            .total_matching("POST ")
    };
    let before = posts();
    for value in [json!(""), json!("Enterprise"), json!(0), json!(100_000_003)] {
        let (status, problem) = app
            .call(
                Method::POST,
                &companies,
                Some(json!({"name": "Choice", "custom_fields": {"new_segment": value}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{value}: {problem}");
        assert_eq!(
            problem["field"], "body.custom_fields.new_segment",
            "{problem}"
        );
    }
    assert_eq!(posts(), before, "nothing sent to the vendor");
    let (status, created) = app
        .call(
            Method::POST,
            &companies,
            Some(json!({"name": "Choice", "custom_fields": {"new_segment": 100_000_002}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["custom_fields"]["new_segment"], 100_000_002,
        "{created}"
    );
    assert_eq!(
        created["custom_fields"]["new_segment@label"], "Enterprise",
        "{created}"
    );
}

/// A field a create requires (Salesforce's contact `last_name`, company `name`) cannot be
/// cleared by an update: the connection's /meta says so (the update schema has no `null` for
/// it, and text must not be blank), and `null` or blank text is refused with 400 naming it
/// before any vendor call. The long Schemathesis run sent `{"last_name": null}`, which the
/// document allowed and the vendor refused with 422 (`REQUIRED_FIELD_MISSING`).
#[tokio::test]
async fn an_update_cannot_clear_a_field_a_create_requires() {
    let app = spawn_app().await;
    let connection = app.connection("salesforce");
    for (object, field) in [("contacts", "last_name"), ("companies", "name")] {
        let (status, page) = app
            .get(&format!(
                "/unified/crm/{object}?connection_id={connection}&page_size=1"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let id = page["results"][0]["id"]
            .as_str()
            .expect("a record")
            .to_owned();
        let (status, meta) = app
            .get(&format!(
                "/unified/crm/{object}/meta?connection_id={connection}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{meta}");
        let property = &meta["update_schema"]["properties"][field];
        let allows_null = property["type"]
            .as_array()
            .is_some_and(|types| types.contains(&json!("null")))
            || property["anyOf"]
                .as_array()
                .is_some_and(|branches| branches.contains(&json!({"type": "null"})));
        assert!(!allows_null, "{object}.{field}: {property}");
        for value in [Value::Null, json!("  ")] {
            let (status, problem) = app
                .call(
                    Method::PATCH,
                    &format!("/unified/crm/{object}/{id}?connection_id={connection}"),
                    Some(json!({ field: value })),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{object} {value}: {problem}"
            );
            assert_eq!(problem["field"], format!("body.{field}"), "{problem}");
        }
    }
}
