//! `crosswalk keys rotate`: after rotation no credential opens with the old key alone, and every
//! connection still works on a server that only has the new key.

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;
use crate::oauth::connect;

#[tokio::test]
async fn after_rotation_the_old_key_opens_nothing_and_every_connection_works() {
    let app = spawn_app().await;
    let oauth_connection = connect(&app, "hubspot").await;
    let settings = app.demo.settings.clone();
    let old_id = settings.encryption.current_key_id.clone();
    let old_key = settings.encryption.keys[&old_id].clone();
    let new_key = secrets::generate_key();
    let both = secrets::Keyring::from_base64(
        "k2",
        &[
            ("k2", new_key.as_str()),
            (old_id.as_str(), old_key.as_str()),
        ],
    )
    .expect("a keyring");
    let report = cli::keys::rotate(app.demo.store.as_ref(), &both)
        .await
        .expect("rotates");
    assert_eq!(
        report.connections_resealed,
        app.demo.vendors.len() + 1,
        "{report:?}"
    );
    assert_eq!(report.oauth_apps_resealed, 1, "{report:?}");
    let again = cli::keys::rotate(app.demo.store.as_ref(), &both)
        .await
        .expect("rotates");
    assert_eq!(
        again.connections_resealed + again.oauth_apps_resealed,
        0,
        "idempotent: {again:?}"
    );

    let old_only = secrets::Keyring::from_base64(&old_id, &[(old_id.as_str(), old_key.as_str())])
        .expect("a keyring");
    let new_only =
        secrets::Keyring::from_base64("k2", &[("k2", new_key.as_str())]).expect("a keyring");
    for connection in app.demo.store.list_all_connections().await.expect("list") {
        let aad = provider_http::credentials::credentials_aad(&connection.id);
        assert!(
            old_only.open(&connection.credentials, &aad).is_err(),
            "the old key alone opens nothing"
        );
        assert!(
            new_only.open(&connection.credentials, &aad).is_ok(),
            "the new key opens every credential"
        );
    }
    for app_row in app.demo.store.list_oauth_apps().await.expect("list") {
        let aad =
            provider_http::credentials::oauth_app_aad(&app_row.environment_id, &app_row.provider);
        assert!(old_only.open(&app_row.client_secret, &aad).is_err());
    }

    // A server configured with the new key only serves every connection.
    let mut rotated = settings.clone();
    rotated.encryption.current_key_id = "k2".to_owned();
    rotated.encryption.keys = [("k2".to_owned(), new_key.clone())].into();
    let listener = cli::startup::bind("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("binds");
    let url = cli::startup::public_url(&rotated, &listener).expect("url");
    let state = cli::startup::build_state(&rotated, Arc::clone(&app.demo.store), &url)
        .await
        .expect("state");
    let server = cli::startup::spawn_server(listener, state).expect("serves");
    let client = reqwest::Client::new();
    // Each connection lists a first object of its category (the vendors without the cross-vendor
    // suite's facts are the HRIS ones).
    let mut connections: Vec<(String, &str)> = app
        .demo
        .vendors
        .iter()
        .map(|v| {
            let list = if v.wiring.suite.is_some() {
                "crm/contacts"
            } else {
                "hris/employees"
            };
            (v.connection_id.clone(), list)
        })
        .collect();
    connections.push((oauth_connection, "crm/contacts"));
    for (connection, list) in connections {
        let response = client
            .request(
                Method::GET,
                format!(
                    "http://{}/unified/{list}?connection_id={connection}&page_size=1",
                    server.addr
                ),
            )
            .bearer_auth(&app.demo.api_key)
            .send()
            .await
            .expect("answers");
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or(json!(null));
        assert_eq!(status, 200, "{connection}: {body}");
    }
}
