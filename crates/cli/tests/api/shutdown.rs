//! Stopping without losing work: a token refresh finishes even when whoever started it goes
//! away, and a server told to stop serves the requests it has already taken.

use std::time::Duration;

use chrono::Utc;
use simulators::hubspot::HubSpot;
use simulators::{Fault, FaultKind};
use store::ConnectionId;

use crate::helpers::{TestApp, spawn_app};
use crate::oauth::{connect, expire_soon};

const TOKEN_PATH: &str = "/oauth/v1/token";
const CONTACTS_PATH: &str = "/crm/v3/objects/contacts";

/// Waits until the HubSpot simulator has received `count` requests matching `key`
/// (`METHOD path`): the request log is the synchronisation point, the deadline only a guard
/// against a hang.
async fn until_received(app: &TestApp, key: &str, count: u64) {
    let log = app.handle::<HubSpot>().requests().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while log.total_matching(key) < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the simulator never received {key}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn delay(path: &str, millis: u64) -> Fault {
    Fault {
        kind: FaultKind::Delay { millis },
        path_prefix: Some(path.to_owned()),
        times: 1,
    }
}

#[tokio::test]
async fn a_refresh_outlives_the_caller_that_started_it() {
    let app = spawn_app().await;
    let connection = connect(&app, "hubspot").await;
    expire_soon(&app, &connection).await;
    let id = ConnectionId::parse(&connection).expect("an id");
    let store = app.demo.store.clone();
    let before = store.get_connection_by_id(&id).await.expect("row");
    let hubspot = app.handle::<HubSpot>().clone();
    assert_eq!(hubspot.refresh_requests(), 0);
    hubspot.faults().push(delay(TOKEN_PATH, 300));

    // The worker's pass starts the refresh, and is stopped while the vendor is answering.
    let token_key = format!("POST {TOKEN_PATH}");
    let exchanged = hubspot.requests().total_matching(&token_key);
    let operations = app.demo.state.operations.clone();
    let pass = tokio::spawn(async move {
        operations
            .refresh_expiring(Duration::from_secs(900), 10)
            .await
    });
    until_received(&app, &token_key, exchanged + 1).await;
    pass.abort();
    assert!(pass.await.expect_err("aborted").is_cancelled());

    tokio::time::timeout(Duration::from_secs(30), app.demo.state.operations.drain())
        .await
        .expect("the refresh in flight finishes");
    assert_eq!(app.demo.state.operations.refreshes_in_flight(), 0);
    assert_eq!(
        hubspot.refresh_requests(),
        1,
        "one refresh reached the vendor: {:?}",
        hubspot.requests().counts()
    );
    let after = store.get_connection_by_id(&id).await.expect("row");
    assert!(
        after.updated_at > before.updated_at,
        "the new tokens were stored"
    );
    assert!(
        after.credentials_expires_at > before.credentials_expires_at,
        "with their new expiry"
    );
    assert!(
        store
            .acquire_refresh_lease(&id, "another-process", Utc::now(), Duration::from_secs(30))
            .await
            .expect("store")
            .is_some(),
        "the lease was released, not left to lapse"
    );
}

#[tokio::test]
async fn a_stopping_server_serves_the_requests_it_took() {
    let mut app = spawn_app().await;
    app.handle::<HubSpot>()
        .faults()
        .push(delay(CONTACTS_PATH, 300));
    let url = app.url(&format!(
        "/unified/crm/contacts?connection_id={}&page_size=3",
        app.connection("hubspot")
    ));
    let client = app.client.clone();
    let key = app.demo.api_key.clone();
    let in_flight = tokio::spawn({
        let url = url.clone();
        async move {
            let response = client
                .get(&url)
                .bearer_auth(key)
                .send()
                .await
                .expect("an answer");
            let status = response.status();
            let body: serde_json::Value = response.json().await.expect("json");
            (status, body)
        }
    });
    until_received(&app, &format!("GET {CONTACTS_PATH}"), 1).await;

    app.demo
        .server
        .shutdown(Duration::from_secs(30))
        .await
        .expect("a clean stop");
    let (status, body) = in_flight.await.expect("the caller");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"].as_array().expect("results").len(), 3);
    let refused = reqwest::Client::new().get(&url).send().await;
    assert!(refused.is_err(), "a stopped server takes no new request");
}
