//! `GET /unified/crm/fields` and `…/meta` on every vendor: every vendor field in one shape,
//! custom fields included, and schemas carrying the connection's custom fields.

use crate::{Check, Vendor, check};

pub const CHECKS: &[Check] = &[
    check!(lists_its_fields_in_one_shape),
    check!(meta_describes_records_filters_and_bodies_with_the_connections_custom_fields),
];

async fn lists_its_fields_in_one_shape(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
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
    let custom = &app.facts(provider).contact_custom_field;
    assert!(
        fields.iter().any(|f| f["object"] == "contacts"
            && f["custom"] == true
            && f["key"] == custom.as_str()),
        "{provider}: the seeded custom contact field `{custom}` is listed"
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
    let (status, body) = app
        .get(&format!(
            "/unified/crm/fields?connection_id={connection}&object=widgets"
        ))
        .await;
    assert_eq!(status, 404, "{provider}: {body}");
}

async fn meta_describes_records_filters_and_bodies_with_the_connections_custom_fields(
    vendor: Vendor,
) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
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
    // The connector's own words: each filter's description, and where the vendor documents
    // its API.
    let file = app
        .demo
        .state
        .connectors
        .get(provider)
        .expect("its connector")
        .file();
    assert_eq!(
        meta["provider_docs_url"].as_str(),
        file.meta.docs_url.as_deref(),
        "{provider}"
    );
    let declared = file.unified["crm.contacts"]
        .list
        .as_ref()
        .map(|list| list.filters.clone())
        .unwrap_or_default();
    for (name, filter) in &declared {
        if let Some(description) = &filter.description {
            let shown = meta["list_query_schema"]["properties"][name]["description"]
                .as_str()
                .unwrap_or_default();
            assert!(
                shown.starts_with(description.trim_end()),
                "{provider}: filter `{name}` is described as its connector says: {shown:?}"
            );
        }
    }
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
