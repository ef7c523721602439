//! Close's webhook deliveries as `connectors/closecrm/connector.yaml` declares them: the hex
//! HMAC-SHA256 of `close-sig-timestamp` and the body, keyed with the subscription's hex
//! `signature_key`, within five minutes; and the records an event names.

use connector::webhook::{VerifyError, WebhookRequest};
use hmac::{Hmac, Mac};

const KEY_HEX: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn close() -> connector::Connector {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../connectors/closecrm/connector.yaml");
    connector::load_connector_from_file(&path, None).expect("the Close connector loads")
}

fn sign(timestamp: &str, body: &[u8]) -> String {
    let key = hex::decode(KEY_HEX).expect("hex");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn a_close_signed_delivery_is_verified_and_names_its_records() {
    let connector = close();
    let hooks = connector.webhooks().expect("Close declares webhooks");
    let body = br#"{"subscription_id":"whsub_1","event":{"id":"ev_1","object_type":"activity.call","object_id":"acti_9","lead_id":"lead_3","action":"updated","data":{}}}"#;
    let now_ms = 1_765_000_000_000_i64;
    let timestamp = (now_ms / 1000).to_string();
    let headers = vec![
        ("close-sig-hash".to_owned(), sign(&timestamp, body)),
        ("close-sig-timestamp".to_owned(), timestamp.clone()),
    ];
    let request = WebhookRequest {
        method: "POST",
        uri: "https://crosswalk.test/hooks/t",
        headers: &headers,
        body,
    };
    assert_eq!(
        hooks.verify(&request, Some(KEY_HEX), now_ms + 2_000),
        Ok(())
    );
    assert_eq!(
        hooks.verify(&request, Some(&KEY_HEX.replace('a', "b")), now_ms),
        Err(VerifyError::BadSignature)
    );
    assert!(
        hooks
            .verify(&request, Some(KEY_HEX), now_ms + 600_000)
            .is_err(),
        "a stale timestamp is refused"
    );
    let events = hooks.events(&request).expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].object, "crm.engagements");
    assert_eq!(events[0].remote_id, "call-acti_9");

    // A lead's event names both unified objects a lead serves.
    let body = br#"{"subscription_id":"whsub_1","event":{"id":"ev_2","object_type":"lead","object_id":"lead_3","action":"deleted","data":null}}"#;
    let headers = vec![
        ("close-sig-hash".to_owned(), sign(&timestamp, body)),
        ("close-sig-timestamp".to_owned(), timestamp),
    ];
    let request = WebhookRequest {
        method: "POST",
        uri: "https://crosswalk.test/hooks/t",
        headers: &headers,
        body,
    };
    assert_eq!(hooks.verify(&request, Some(KEY_HEX), now_ms), Ok(()));
    let objects: Vec<String> = hooks
        .events(&request)
        .expect("events")
        .into_iter()
        .map(|event| format!("{} {}", event.object, event.remote_id))
        .collect();
    assert_eq!(objects, ["crm.companies lead_3", "crm.leads lead_3"]);
}
