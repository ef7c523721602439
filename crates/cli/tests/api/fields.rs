//! `GET /unified/crm/fields`: every vendor field in one shape, custom fields included; and
//! `remote_data` on writes reaching the vendor as it is.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{PROVIDERS, spawn_app};

#[tokio::test]
async fn every_vendor_lists_its_fields_in_one_shape() {
    let app = spawn_app().await;
    for provider in PROVIDERS {
        let connection = app.connection(provider);
        let (status, body) = app
            .get(&format!("/unified/crm/fields?connection_id={connection}"))
            .await;
        assert_eq!(status, 200, "{provider}: {body}");
        let fields = body["results"].as_array().expect("results");
        assert!(
            fields.iter().any(|f| f["object"] == "contacts"),
            "{provider}"
        );
        for field in fields {
            assert!(
                field["key"].is_string()
                    && field["custom"].is_boolean()
                    && field["read_only"].is_boolean(),
                "{provider}: {field}"
            );
        }
        assert!(
            fields
                .iter()
                .any(|f| f["object"] == "contacts" && f["custom"] == true),
            "{provider}: a custom contact field is listed"
        );
        let (status, only) = app
            .get(&format!(
                "/unified/crm/fields?connection_id={connection}&object=companies"
            ))
            .await;
        assert_eq!(status, 200, "{provider}: {only}");
        assert!(
            only["results"]
                .as_array()
                .expect("results")
                .iter()
                .all(|f| f["object"] == "companies")
        );
    }
    let (status, body) = app
        .get(&format!(
            "/unified/crm/fields?connection_id={}&object=widgets",
            app.connection("hubspot")
        ))
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn remote_data_on_a_write_reaches_the_vendor() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/crm/contacts?connection_id={connection}&include=remote_data"),
            Some(json!({"first_name": "Grace", "last_name": "Hopper", "remote_data": {"properties": {"jobtitle": "Rear Admiral"}}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["title"], "Rear Admiral", "{created}");
    assert_eq!(
        created["remote_data"]["properties"]["jobtitle"],
        "Rear Admiral"
    );
}

#[tokio::test]
async fn meta_describes_records_filters_and_bodies_with_the_connections_custom_fields() {
    let app = spawn_app().await;
    for provider in PROVIDERS {
        let connection = app.connection(provider);
        let (status, meta) = app
            .get(&format!(
                "/unified/crm/contacts/meta?connection_id={connection}"
            ))
            .await;
        assert_eq!(status, 200, "{provider}: {meta}");
        let custom = &meta["record_schema"]["properties"]["custom_fields"]["properties"];
        assert!(
            custom.as_object().is_some_and(|map| !map.is_empty()),
            "{provider}: {meta}"
        );
        assert!(
            meta["list_query_schema"]["properties"]["updated_after"].is_object(),
            "{provider}"
        );
        assert!(
            meta["create_schema"]["properties"]["first_name"].is_object(),
            "{provider}"
        );
        assert_eq!(meta["provenance"]["unified.crm.contacts.list"], "base");
        let (status, users) = app
            .get(&format!(
                "/unified/crm/users/meta?connection_id={connection}"
            ))
            .await;
        assert_eq!(status, 200, "{provider}: {users}");
        assert!(
            users["create_schema"].is_null(),
            "users are read-only: {users}"
        );
    }
    let hubspot = app.connection("hubspot");
    let (_, meta) = app
        .get(&format!(
            "/unified/crm/contacts/meta?connection_id={hubspot}"
        ))
        .await;
    let favorite =
        &meta["record_schema"]["properties"]["custom_fields"]["properties"]["favorite_color"];
    assert!(
        favorite.to_string().contains("\"enum\""),
        "an enumeration lists its options: {favorite}"
    );
    let writable = &meta["create_schema"]["properties"]["custom_fields"]["properties"];
    assert!(
        writable.get("customer_health_score").is_none(),
        "read-only custom fields are not writable: {writable}"
    );
}

#[tokio::test]
async fn custom_field_writes_are_typed_and_read_only_ones_refused() {
    let app = spawn_app().await;
    let connection = app.connection("salesforce");
    let path = format!("/unified/crm/contacts?connection_id={connection}");
    let (status, body) = app
        .call(
            Method::POST,
            &path,
            Some(json!({"last_name": "Typed", "custom_fields": {"Health_Score__c": 5}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "body.custom_fields.Health_Score__c");
    let (status, body) = app
        .call(
            Method::POST,
            &path,
            Some(json!({"last_name": "Typed", "custom_fields": {"NPS_Score__c": "nine"}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "body.custom_fields.NPS_Score__c");
    let (status, body) = app
        .call(
            Method::POST,
            &path,
            Some(json!({"last_name": "Typed", "custom_fields": {"Loyalty_Tier__c": "Platinum"}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, created) = app
        .call(
            Method::POST,
            &path,
            Some(json!({"last_name": "Typed", "custom_fields": {"NPS_Score__c": "9", "Loyalty_Tier__c": "Gold"}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["custom_fields"]["NPS_Score__c"], 9.0,
        "converted to a number: {created}"
    );
    assert_eq!(created["custom_fields"]["Loyalty_Tier__c"], "Gold");
}

#[tokio::test]
async fn discovered_fields_cost_no_vendor_call_per_request() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    for _ in 0..5 {
        let (status, body) = app
            .get(&format!(
                "/unified/crm/contacts?connection_id={connection}&page_size=1"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let discoveries = app
        .simulator("hubspot")
        .requests()
        .total_matching("GET /crm/v3/properties/contacts");
    assert_eq!(discoveries, 1, "one discovery, then the cache");
}
