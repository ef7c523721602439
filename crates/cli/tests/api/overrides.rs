//! Per-customer overrides: a connection maps a custom field onto a standard one for itself
//! only; a broken override is refused with the JSONata error and position; removing it
//! restores the base behaviour; changes are versioned, reversible and effective at once.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const MAP_TIER_TO_TITLE: &str = "{'title': properties.loyalty_tier}";

fn title_override() -> Value {
    json!({"unified": {"crm.contacts": {
        "list": {"record_mapping_merge": MAP_TIER_TO_TITLE},
        "get": {"record_mapping_merge": MAP_TIER_TO_TITLE}
    }}})
}

/// Contacts with a loyalty tier, as `(title, tier)`.
async fn titles(app: &TestApp, connection: &str) -> Vec<(Value, Value)> {
    let (status, body) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={connection}&page_size=100"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|record| record["custom_fields"]["loyalty_tier"].is_string())
        .map(|record| {
            (
                record["title"].clone(),
                record["custom_fields"]["loyalty_tier"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_connection_override_remaps_a_field_for_that_connection_only() {
    let app = spawn_app().await;
    let mine = app.connection("hubspot");
    let other = app.connect_hubspot("hubspot-sim-token").await;
    assert!(
        titles(&app, &mine)
            .await
            .iter()
            .any(|(title, tier)| title != tier),
        "base: titles are job titles"
    );

    let (status, saved) = app
        .call(
            Method::PUT,
            &format!("/connections/{mine}/overrides"),
            Some(title_override()),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 1);
    let remapped = titles(&app, &mine).await;
    assert!(!remapped.is_empty());
    assert!(
        remapped.iter().all(|(title, tier)| title == tier),
        "effective at once: {remapped:?}"
    );
    assert!(
        titles(&app, &other)
            .await
            .iter()
            .any(|(title, tier)| title != tier),
        "the other connection keeps the base"
    );

    let (_, meta) = app
        .get(&format!("/unified/crm/contacts/meta?connection_id={mine}"))
        .await;
    assert_eq!(
        meta["provenance"]["unified.crm.contacts.list.record_mapping_merge"], "connection",
        "{meta}"
    );
    let (_, base_meta) = app
        .get(&format!("/unified/crm/contacts/meta?connection_id={other}"))
        .await;
    assert_eq!(base_meta["provenance"]["unified.crm.contacts.list"], "base");

    // Removing the override restores the base; reverting brings version 1 back.
    let (status, removed) = app
        .call(
            Method::DELETE,
            &format!("/connections/{mine}/overrides"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["removed"], true);
    assert!(
        titles(&app, &mine)
            .await
            .iter()
            .any(|(title, tier)| title != tier)
    );
    let (status, reverted) = app
        .call(
            Method::POST,
            &format!("/connections/{mine}/overrides/revert"),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(status, 200, "{reverted}");
    assert_eq!(reverted["version"], 3);
    assert!(
        titles(&app, &mine)
            .await
            .iter()
            .all(|(title, tier)| title == tier)
    );
    let (_, history) = app.get(&format!("/connections/{mine}/overrides")).await;
    assert_eq!(
        history["history"].as_array().expect("history").len(),
        3,
        "{history}"
    );

    // Optimistic concurrency.
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/connections/{mine}/overrides?expected_version=1"),
            Some(title_override()),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "version_conflict");
}

#[tokio::test]
async fn a_broken_override_is_refused_when_saved() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let broken =
        json!({"unified": {"crm.contacts": {"list": {"record_mapping_merge": "{'title': "}}}});
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/connections/{connection}/overrides"),
            Some(broken),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_override");
    assert_eq!(
        body["field"],
        "unified.crm.contacts.list.record_mapping_merge"
    );
    let detail = body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("S0") && detail.contains("position"),
        "the JSONata code and position: {detail}"
    );
    let (status, _) = app
        .get(&format!("/connections/{connection}/overrides"))
        .await;
    assert_eq!(status, 404, "nothing was saved");

    let widen = json!({"http": {"allowed_hosts": ["evil.example"]}});
    let (status, body) = app
        .call(Method::PUT, "/environment/overrides/hubspot", Some(widen))
        .await;
    assert_eq!(status, 400, "an environment cannot widen the hosts: {body}");
    let loosen = json!({"rate_limits": {"buckets": [{"id": "burst", "capacity": 1000}]}});
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/connections/{connection}/overrides"),
            Some(loosen),
        )
        .await;
    assert_eq!(status, 400, "a connection can only tighten limits: {body}");
    let tighten = json!({"rate_limits": {"buckets": [{"id": "burst", "capacity": 50}]}});
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/connections/{connection}/overrides"),
            Some(tighten),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let response = app
        .client
        .get(app.url(&format!(
            "/unified/crm/companies?connection_id={connection}&page_size=1"
        )))
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("answers");
    let limit = response
        .headers()
        .get("ratelimit")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let remaining: u32 = limit
        .split(';')
        .find_map(|part| part.strip_prefix("r="))
        .and_then(|r| r.parse().ok())
        .unwrap_or(u32::MAX);
    assert!(remaining < 50, "the tightened bucket applies: {limit}");
}

#[tokio::test]
async fn a_salesforce_connection_override_maps_a_custom_field_onto_a_standard_one() {
    let app = spawn_app().await;
    let connection = app.connection("salesforce");
    let path = format!("/unified/crm/contacts?connection_id={connection}&page_size=200");
    let tiers = |body: &Value| -> Vec<(Value, Value)> {
        body["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|record| record["custom_fields"]["Loyalty_Tier__c"].is_string())
            .map(|record| {
                (
                    record["department"].clone(),
                    record["custom_fields"]["Loyalty_Tier__c"].clone(),
                )
            })
            .collect()
    };
    let (status, base) = app.get(&path).await;
    assert_eq!(status, 200, "{base}");
    assert!(
        tiers(&base)
            .iter()
            .any(|(department, tier)| department != tier),
        "base: departments are departments"
    );
    let merge = "{'department': Loyalty_Tier__c}";
    let (status, saved) = app
        .call(
            Method::PUT,
            &format!("/connections/{connection}/overrides"),
            Some(json!({"unified": {"crm.contacts": {
                "list": {"record_mapping_merge": merge},
                "get": {"record_mapping_merge": merge}
            }}})),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let (_, remapped) = app.get(&path).await;
    let remapped = tiers(&remapped);
    assert!(!remapped.is_empty());
    assert!(
        remapped.iter().all(|(department, tier)| department == tier),
        "the custom field fills the standard one: {remapped:?}"
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/connections/{connection}/overrides"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, restored) = app.get(&path).await;
    assert!(
        tiers(&restored)
            .iter()
            .any(|(department, tier)| department != tier),
        "removing the override restores the base"
    );
}
