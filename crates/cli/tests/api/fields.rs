//! Custom fields on particular vendors: typed writes, discovery and its cache, two connections of
//! one vendor, and `remote_data` on writes reaching the vendor as it is. That every vendor lists
//! its fields and meta in one shape is checked by `tests/vendors/fields.rs`.

use reqwest::Method;
use serde_json::json;

use simulators::hubspot::HubSpot;
use simulators::salesforce::Salesforce;

use cli::demo::Options;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

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
async fn hubspot_meta_lists_enumeration_options_and_keeps_read_only_custom_fields_out_of_bodies() {
    let app = spawn_app().await;
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
async fn custom_field_writes_are_typed_and_read_only_or_unknown_ones_refused() {
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
    // A field the connection does not have, or a standard one, would be dropped: refused.
    for (key, says) in [
        ("Shoe_Size__c", "not a custom field"),
        ("Email", "standard field"),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                &path,
                Some(json!({"last_name": "Typed", "custom_fields": {key: "x"}})),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["field"], format!("body.custom_fields.{key}"));
        assert!(
            body["detail"].as_str().expect("detail").contains(says),
            "{body}"
        );
    }
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
    for (provider, discovery) in [
        ("hubspot", "GET /crm/v3/properties/contacts"),
        (
            "salesforce",
            "GET /services/data/v59.0/sobjects/Contact/describe",
        ),
    ] {
        let connection = app.connection(provider);
        let path = format!("/unified/crm/contacts?connection_id={connection}&page_size=1");
        // Eight requests at once find the cache cold: one asks the vendor, the others wait.
        let answers = futures::future::join_all((0..8).map(|_| app.get(&path))).await;
        for (status, body) in answers {
            assert_eq!(status, 200, "{provider}: {body}");
        }
        for _ in 0..5 {
            let (status, body) = app.get(&path).await;
            assert_eq!(status, 200, "{provider}: {body}");
        }
        let discoveries = app.simulator(provider).requests().total_matching(discovery);
        assert_eq!(discoveries, 1, "{provider}: one discovery, then the cache");
    }
}

fn describe_field(name: &str, label: &str) -> serde_json::Value {
    json!({"name": name, "label": label, "type": "double", "custom": true, "nillable": true,
           "createable": true, "updateable": true, "defaultedOnCreate": false})
}

fn has_custom(meta: &serde_json::Value, key: &str) -> bool {
    meta["record_schema"]["properties"]["custom_fields"]["properties"]
        .get(key)
        .is_some()
}

#[tokio::test]
async fn two_connections_of_one_vendor_each_see_their_own_custom_fields() {
    // A second Salesforce org, whose contacts have one more custom field, on an origin of its
    // own that the connector must be allowed to reach.
    let other_org = simulators::Entry::of::<Salesforce>()
        .start(simulators::Profile::Test, &simulators::Tweaks::default())
        .await
        .expect("a second org");
    let app = spawn_app_with(Options {
        connector_overrides: json!({"salesforce": {"http": {"allowed_hosts": [
            "{origin}",
            other_org.simulator.base_url.clone(),
        ]}}}),
        ..Options::tests()
    })
    .await;
    let handle = other_org.handle::<Salesforce>().expect("a salesforce org");
    handle.add_custom_field(
        "Contact",
        describe_field("Golf_Handicap__c", "Golf handicap"),
    );
    let first = app.connection("salesforce");
    let first_row = app
        .demo
        .store
        .get_connection_by_id(&store::ConnectionId::parse(&first).expect("id"))
        .await
        .expect("row");
    let id = store::ConnectionId::generate();
    let secrets = json!({"access_token": "salesforce-sim-token"});
    let second = app
        .demo
        .store
        .insert_connection(store::NewConnection {
            id: id.clone(),
            environment_id: first_row.environment_id.clone(),
            provider: "salesforce".to_owned(),
            status: store::ConnectionStatus::Active,
            account: json!({"auth_scheme": "session", "instance_url": other_org.simulator.base_url}),
            credentials: app
                .demo
                .state
                .keyring
                .seal_json(&secrets, &provider_http::credentials::credentials_aad(&id)),
            credentials_expires_at: None,
        })
        .await
        .expect("a second connection")
        .id
        .to_string();

    let (_, first_meta) = app
        .get(&format!("/unified/crm/contacts/meta?connection_id={first}"))
        .await;
    let (_, second_meta) = app
        .get(&format!(
            "/unified/crm/contacts/meta?connection_id={second}"
        ))
        .await;
    assert!(!has_custom(&first_meta, "Golf_Handicap__c"), "{first_meta}");
    assert!(
        has_custom(&second_meta, "Golf_Handicap__c"),
        "{second_meta}"
    );

    let (_, page) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={second}&page_size=1"
        ))
        .await;
    let contact = page["results"][0]["id"]
        .as_str()
        .expect("a contact")
        .to_owned();
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/unified/crm/contacts/{contact}?connection_id={second}"),
            Some(json!({"custom_fields": {"Golf_Handicap__c": "12.5"}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["custom_fields"]["Golf_Handicap__c"], 12.5,
        "{updated}"
    );
    let (_, first_page) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={first}&page_size=50"
        ))
        .await;
    assert!(
        first_page["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|r| r["custom_fields"].get("Golf_Handicap__c").is_none()),
        "the first org's records never carry the other org's field"
    );
}

/// Defines a custom contact field at the vendor; returns its unified key.
fn add_contact_field(app: &TestApp, provider: &str) -> &'static str {
    if provider == "salesforce" {
        app.handle::<Salesforce>()
            .add_custom_field("Contact", describe_field("Tee_Time__c", "Tee time"));
        "Tee_Time__c"
    } else {
        app.handle::<HubSpot>().add_property(
            "contacts",
            json!({"name": "tee_time", "label": "Tee time", "type": "string"}),
        );
        "tee_time"
    }
}

#[tokio::test]
async fn a_field_added_at_the_vendor_appears_once_the_cache_expires() {
    let app = spawn_app().await;
    for provider in ["salesforce", "hubspot"] {
        let connection = app.connection(provider);
        let meta_path = format!("/unified/crm/contacts/meta?connection_id={connection}");
        let (_, meta) = app.get(&meta_path).await;
        let added = add_contact_field(&app, provider);
        assert!(!has_custom(&meta, added), "{provider}");
        let (_, cached) = app.get(&meta_path).await;
        assert!(
            !has_custom(&cached, added),
            "{provider}: the cache holds until its TTL"
        );
        // The TTL passes (the cache entry is aged in the store, as time would).
        app.age_discovered_fields(
            &connection,
            meta["connector_revision"].as_str().expect("revision"),
            "crm.contacts",
            chrono::Duration::days(2),
        )
        .await;
        let (_, fresh) = app.get(&meta_path).await;
        assert!(has_custom(&fresh, added), "{provider}: {fresh}");
    }
}

#[tokio::test]
async fn a_vendor_error_saying_a_field_is_gone_refreshes_discovery() {
    let app = spawn_app().await;
    let connection = app.connection("salesforce");
    let path = format!("/unified/crm/contacts?connection_id={connection}&page_size=5");
    let (status, body) = app.get(&path).await;
    assert_eq!(status, 200, "{body}");
    app.handle::<Salesforce>()
        .remove_custom_field("Contact", "Loyalty_Tier__c");
    let describes = || {
        app.simulator("salesforce")
            .requests()
            .total_matching("GET /services/data/v59.0/sobjects/Contact/describe")
    };
    let before = describes();
    // The cached field list still names the deleted field: the vendor refuses the query…
    let (status, body) = app.get(&path).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["provider"]["code"], "INVALID_FIELD", "{body}");
    // …which marks the fields stale: the next call describes again and works.
    let (status, body) = app.get(&path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(describes(), before + 1, "one new describe");
    let (_, meta) = app
        .get(&format!(
            "/unified/crm/contacts/meta?connection_id={connection}"
        ))
        .await;
    assert!(!has_custom(&meta, "Loyalty_Tier__c"), "{meta}");
}

#[tokio::test]
async fn a_write_naming_an_archived_hubspot_property_refreshes_discovery() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let meta_path = format!("/unified/crm/contacts/meta?connection_id={connection}");
    let (_, meta) = app.get(&meta_path).await;
    assert!(has_custom(&meta, "loyalty_tier"), "{meta}");
    assert!(
        app.handle::<HubSpot>()
            .archive_property("contacts", "loyalty_tier")
    );
    let discoveries = || {
        app.simulator("hubspot")
            .requests()
            .total_matching("GET /crm/v3/properties/contacts")
    };
    let before = discoveries();
    // The cached fields still name the archived property: HubSpot refuses the write…
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/unified/crm/contacts?connection_id={connection}"),
            Some(json!({"first_name": "Stale", "custom_fields": {"loyalty_tier": "gold"}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["provider"]["code"], "VALIDATION_ERROR", "{body}");
    // …which marks the fields stale: the next call discovers again, without the property.
    let (_, fresh) = app.get(&meta_path).await;
    assert_eq!(discoveries(), before + 1, "one new discovery");
    assert!(!has_custom(&fresh, "loyalty_tier"), "{fresh}");
    let (_, again) = app.get(&meta_path).await;
    assert_eq!(discoveries(), before + 1, "then the cache again: {again}");
}
