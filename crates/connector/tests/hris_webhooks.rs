//! The HRIS vendors' webhook deliveries as their connector files declare them:
//! - BambooHR: `X-BambooHR-Signature`, the hex HMAC-SHA256 of the body followed by
//!   `X-BambooHR-Timestamp` (Unix seconds, five minutes of tolerance), keyed with the private
//!   key the webhook's creation answered (the subscription's `secret`); event-based payloads
//!   (and the legacy `employees` array) name employees.
//! - HiBob: `Bob-Signature`, the base64 HMAC-SHA512 of the body keyed with the secret the
//!   customer copies from Bob (`secret: given`); no header carries a timestamp, so an old
//!   delivery cannot be told from a new one by its signature. v2 events name employees and
//!   time-off requests; the `Ping test` names nothing.

use base64::Engine as _;
use connector::webhook::{SubscriptionStep, VerifyError, WebhookRequest};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

fn load(provider: &str) -> connector::Connector {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../connectors/{provider}/connector.yaml"));
    connector::load_connector_from_file(&path, None).expect("the connector loads")
}

fn request<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> WebhookRequest<'a> {
    WebhookRequest {
        method: "POST",
        uri: "https://crosswalk.test/hooks/t",
        headers,
        body,
    }
}

const BAMBOO_KEY: &str = "4f1c0b7e9a2d4c6b8e0f1a3c5e7d9b2a4f1c0b7e9a2d4c6b8e0f1a3c5e7d9b2a";

fn bamboo_sign(key: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(body);
    mac.update(timestamp.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn bamboo_headers(key: &str, body: &[u8], timestamp: &str) -> Vec<(String, String)> {
    vec![
        (
            "X-BambooHR-Signature".to_owned(),
            bamboo_sign(key, body, timestamp),
        ),
        ("X-BambooHR-Timestamp".to_owned(), timestamp.to_owned()),
    ]
}

#[test]
fn a_bamboohr_signed_delivery_is_verified_and_names_its_employee() {
    let connector = load("bamboohr");
    let hooks = connector.webhooks().expect("BambooHR declares webhooks");
    assert_eq!(hooks.kind(), "hmac");
    assert!(
        hooks.vendor_chooses_secret(),
        "the private key comes with the webhook"
    );
    let body = br#"{"type":"employee.updated","timestamp":"2025-02-18T15:30:00Z","data":{"companyId":"12345","employeeId":"100","changedFields":["firstName","lastName"]}}"#;
    let now_ms = 1_765_000_000_000_i64;
    let timestamp = (now_ms / 1000).to_string();
    let headers = bamboo_headers(BAMBOO_KEY, body, &timestamp);
    assert_eq!(
        hooks.verify(&request(&headers, body), Some(BAMBOO_KEY), now_ms + 2_000),
        Ok(())
    );
    // Another key, another body, the timestamp before the body, an old timestamp.
    assert_eq!(
        hooks.verify(
            &request(&headers, body),
            Some(&BAMBOO_KEY.replace('4', "5")),
            now_ms
        ),
        Err(VerifyError::BadSignature)
    );
    let other = br#"{"type":"employee.deleted","timestamp":"2025-02-18T15:30:00Z","data":{"companyId":"12345","employeeId":"100"}}"#;
    assert_eq!(
        hooks.verify(&request(&headers, other), Some(BAMBOO_KEY), now_ms),
        Err(VerifyError::BadSignature)
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(BAMBOO_KEY.as_bytes()).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    let reversed = vec![
        (
            "X-BambooHR-Signature".to_owned(),
            hex::encode(mac.finalize().into_bytes()),
        ),
        ("X-BambooHR-Timestamp".to_owned(), timestamp.clone()),
    ];
    assert_eq!(
        hooks.verify(&request(&reversed, body), Some(BAMBOO_KEY), now_ms),
        Err(VerifyError::BadSignature)
    );
    let old = ((now_ms - 600_000) / 1000).to_string();
    let replayed = bamboo_headers(BAMBOO_KEY, body, &old);
    assert!(
        matches!(
            hooks.verify(&request(&replayed, body), Some(BAMBOO_KEY), now_ms),
            Err(VerifyError::StaleTimestamp(..))
        ),
        "a delivery signed ten minutes ago is refused"
    );

    let events = hooks.events(&request(&headers, body)).expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].object, "hris.employees");
    assert_eq!(events[0].remote_id, "100");
    assert_eq!(
        events[0].id.as_deref(),
        Some("employee.updated:100:2025-02-18T15:30:00Z:firstName,lastName")
    );
    // A created and a deleted event name the employee too; their ids differ.
    let created = br#"{"type":"employee.created","timestamp":"2025-02-18T15:30:00Z","data":{"companyId":"12345","employeeId":"100"}}"#;
    let created = hooks.events(&request(&[], created)).expect("events");
    assert_eq!(created[0].remote_id, "100");
    assert_ne!(created[0].id, events[0].id);
    // Company events name no record of the connector.
    let company = br#"{"type":"company.updated","timestamp":"2025-02-18T15:30:00Z","data":{"companyId":"12345"}}"#;
    assert!(
        hooks
            .events(&request(&[], company))
            .expect("events")
            .is_empty()
    );
    // The legacy field-based payload: one event per employee.
    let legacy = br#"{"employees":[{"id":"7","action":"Updated","timestamp":"2025-02-18T15:30:00+00:00","changedFields":["jobTitle"],"fields":{"jobTitle":{"value":"Chef"}}},{"id":"9","action":"Deleted","timestamp":"2025-02-18T15:31:00+00:00","changedFields":[],"fields":{}}]}"#;
    let legacy: Vec<(String, String)> = hooks
        .events(&request(&[], legacy))
        .expect("events")
        .into_iter()
        .map(|event| (event.object, event.remote_id))
        .collect();
    assert_eq!(
        legacy,
        [
            ("hris.employees".to_owned(), "7".to_owned()),
            ("hris.employees".to_owned(), "9".to_owned())
        ]
    );
}

#[test]
fn the_bamboohr_webhook_is_made_through_its_api_and_keeps_the_private_key() {
    let connector = load("bamboohr");
    let subscription = connector
        .webhooks()
        .and_then(|hooks| hooks.subscription())
        .expect("BambooHR's webhook is made through its API");
    let planned = subscription
        .request(
            SubscriptionStep::Create,
            &json!({"url": "https://crosswalk.test/hooks/t", "number": 1}),
        )
        .expect("a request")
        .expect("create is declared");
    assert_eq!(planned.path, "/api/v1/webhooks");
    let body: Value = serde_json::from_slice(&planned.body.expect("a body")).expect("JSON");
    assert_eq!(body["url"], json!("https://crosswalk.test/hooks/t"));
    assert_eq!(body["format"], json!("json"));
    assert_eq!(
        body["events"],
        json!(["employee.created", "employee.updated", "employee.deleted"])
    );
    assert!(
        body["monitorFields"]
            .as_array()
            .is_some_and(|fields| fields.contains(&json!("jobTitle"))),
        "{body}"
    );
    let answer = subscription
        .read_answer(
            SubscriptionStep::Create,
            &json!({"status": 201, "body": {"id": "4", "privateKey": BAMBOO_KEY}}),
        )
        .expect("read");
    assert_eq!(answer.id.as_deref(), Some("4"));
    assert_eq!(answer.secret.as_deref(), Some(BAMBOO_KEY));
    assert_eq!(
        answer.expires_at_ms, None,
        "BambooHR's webhooks do not expire"
    );
    let delete = subscription
        .request(SubscriptionStep::Delete, &json!({"id": "4"}))
        .expect("a request")
        .expect("delete is declared");
    assert_eq!(delete.path, "/api/v1/webhooks/4");
}

const BOB_SECRET: &str = "bob-webhook-secret-from-settings";

fn bob_headers(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    vec![(
        "Bob-Signature".to_owned(),
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()),
    )]
}

#[test]
fn a_hibob_signed_delivery_is_verified_with_the_given_secret_and_names_its_records() {
    let connector = load("hibob");
    let hooks = connector.webhooks().expect("HiBob declares webhooks");
    assert_eq!(hooks.kind(), "hmac");
    assert!(hooks.secret_given(), "the secret comes from Bob's settings");
    assert!(hooks.subscription().is_none(), "Bob has no webhook API");
    let body = br#"{"companyId":636192,"type":"employee.updated","triggeredBy":"SERVICE-4867","triggeredAt":"2026-12-07T09:00:00.123Z","version":"v2","data":{"employeeId":"3332883884017713238"}}"#;
    let headers = bob_headers(BOB_SECRET, body);
    assert_eq!(
        hooks.verify(&request(&headers, body), Some(BOB_SECRET), 0),
        Ok(())
    );
    // No timestamp header: the signature covers the body alone, whenever it is sent.
    assert_eq!(
        hooks.verify(&request(&headers, body), Some(BOB_SECRET), i64::MAX / 2),
        Ok(())
    );
    assert_eq!(
        hooks.verify(&request(&headers, body), Some("another-secret"), 0),
        Err(VerifyError::BadSignature)
    );
    let tampered = String::from_utf8_lossy(body).replace("3332883884017713238", "1");
    assert_eq!(
        hooks.verify(&request(&headers, tampered.as_bytes()), Some(BOB_SECRET), 0),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        hooks.verify(&request(&[], body), Some(BOB_SECRET), 0),
        Err(VerifyError::MissingHeader("Bob-Signature".to_owned()))
    );

    let events = hooks.events(&request(&headers, body)).expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].object, "hris.employees");
    assert_eq!(events[0].remote_id, "3332883884017713238");
    assert_eq!(
        events[0].id.as_deref(),
        Some("employee.updated:3332883884017713238::2026-12-07T09:00:00.123Z")
    );
    // A time-off request's event names the request (`employee-request`, the connector's id).
    let time_off = br#"{"companyId":636192,"type":"timeoff.request.created","triggeredBy":"SERVICE-4867","triggeredAt":"2026-12-07T09:00:01.000Z","version":"v2","data":{"employeeId":"3332883884017713238","requestId":42}}"#;
    let events = hooks.events(&request(&[], time_off)).expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].object, "hris.time_off_requests");
    assert_eq!(events[0].remote_id, "3332883884017713238-42");
    // The ping Bob sends when the webhook is saved, as JSON or as text, names nothing.
    for ping in [&br#"{"text":"Ping test"}"#[..], b"Ping test"] {
        assert!(
            hooks
                .events(&request(&[], ping))
                .expect("events")
                .is_empty(),
            "{}",
            String::from_utf8_lossy(ping)
        );
    }
}
