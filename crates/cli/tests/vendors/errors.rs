//! Errors on every vendor: a record the vendor never issued is a unified `not_found` from the
//! provider.

use reqwest::StatusCode;

use crate::{Check, Vendor, check};

pub const CHECKS: &[Check] = &[check!(a_missing_record_is_not_found_at_the_provider)];

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
