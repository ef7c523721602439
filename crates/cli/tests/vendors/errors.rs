//! Errors on every vendor: a record the vendor never issued is a unified `not_found` from the
//! provider; an id no vendor record can have is a 404 on every object, and a body no route of
//! the connector takes is a 400 naming the field that chooses the route, never a 500.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{Check, Vendor, check};

pub const CHECKS: &[Check] = &[
    check!(a_missing_record_is_not_found_at_the_provider),
    check!(an_unknown_id_is_not_found_and_an_unroutable_body_names_its_field),
];

async fn a_missing_record_is_not_found_at_the_provider(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let connection = app.connection(provider);
    let missing = &app.facts(provider).missing_contact_id;
    let (status, body) = app
        .get(&format!(
            "/unified/crm/contacts/{missing}?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{provider}: {body}");
    assert_eq!(body["code"], "not_found", "{provider}: {body}");
    assert_eq!(body["origin"], "provider", "{provider}: {body}");
    assert_eq!(body["provider"]["status"], 404, "{provider}: {body}");
}

/// Issue 15: the same call answers the same status on every vendor. `bogus` is no vendor's id:
/// a route choosing by the id's shape finds none (HubSpot and Dynamics engagements, Salesforce
/// and Dynamics pipelines), a vendor refusing it as malformed (Pipedrive, Dynamics) has no
/// record of it, and both are a 404, as a vendor's own "not found" is. An engagement without
/// `type` matches no create route: a 400 naming `body.type`.
async fn an_unknown_id_is_not_found_and_an_unroutable_body_names_its_field(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let connection = app.connection(provider);
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
        let (status, body) = app
            .get(&format!(
                "/unified/crm/{object}/bogus?connection_id={connection}"
            ))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{provider} {object}: {body}");
        assert_eq!(body["code"], "not_found", "{provider} {object}: {body}");
    }
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/unified/crm/engagements?connection_id={connection}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{provider}: {body}");
    assert_eq!(body["field"], "body.type", "{provider}: {body}");
}
