//! The API-key findings of the hardening review (issue 14), each replayed as requests:
//! keys could not be created, listed, revoked, expired or rotated (a leaked key was valid
//! forever); `demo --api-key` took any short key; failed authentication was not metered
//! (400 wrong keys at 3,500/s, no 429).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use cli::demo::Options;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

/// The demo on one simulator: these tests are about keys, not vendors.
async fn spawn() -> TestApp {
    spawn_app_with(Options {
        registry: simulators::REGISTRY[..1].to_vec(),
        ..Options::tests()
    })
    .await
}

/// The id of the demo's own key, as the API lists it.
async fn own_key_id(app: &TestApp) -> String {
    let (status, listed) = app.get("/environment/api-keys").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let own: Vec<&Value> = listed["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|key| key["current"] == json!(true))
        .collect();
    assert_eq!(own.len(), 1, "{listed}");
    own[0]["id"].as_str().expect("id").to_owned()
}

async fn create_key(app: &TestApp, as_key: &str, body: Value) -> (String, Value) {
    let (status, created) = app
        .call_as(as_key, Method::POST, "/environment/api-keys", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"]
        .as_str()
        .expect("the key, shown once")
        .to_owned();
    (key, created)
}

async fn status_with(app: &TestApp, key: &str) -> StatusCode {
    app.call_as(key, Method::GET, "/connections", None).await.0
}

#[tokio::test]
async fn a_second_key_is_created_listed_by_prefix_only_and_revoked_for_good() {
    let app = spawn().await;
    let (key, created) =
        create_key(&app, &app.demo.api_key, json!({"name": "billing backend"})).await;
    assert!(key.starts_with("cw_") && key.len() == 46, "{key}");
    let view = &created["api_key"];
    assert_eq!(view["name"], "billing backend");
    assert_eq!(view["status"], "active");
    assert_eq!(view["prefix"], json!(&key[..8]));
    assert_eq!(status_with(&app, &key).await, StatusCode::OK);

    // Listed with its prefix, never the key itself or its hash.
    let (status, listed) = app.get("/environment/api-keys").await;
    assert_eq!(status, StatusCode::OK);
    let text = listed.to_string();
    assert!(!text.contains(&key) && !text.contains(&key[8..]), "{text}");
    assert!(!text.contains(store::ApiKeyHash::of(&key).as_str()));
    assert!(!text.contains(&app.demo.api_key));
    let results = listed["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{listed}");
    assert_eq!(results[1]["id"], view["id"]);
    assert_eq!(results[0]["current"], true);
    assert_eq!(results[1]["current"], false);

    // Revoked: refused from the next request on, and listed as revoked.
    let id = view["id"].as_str().expect("id");
    let (status, revoked) = app
        .call(Method::DELETE, &format!("/environment/api-keys/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    let (status, body) = app.call_as(&key, Method::GET, "/connections", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (_, listed) = app.get("/environment/api-keys").await;
    assert_eq!(listed["results"][1]["status"], "revoked");
    assert_eq!(status_with(&app, &app.demo.api_key).await, StatusCode::OK);

    // Another environment's keys are not there to revoke.
    let other = app
        .demo
        .store
        .create_environment("other")
        .await
        .expect("environment");
    let other_key = store::generate_api_key();
    app.demo
        .store
        .insert_api_key(
            &other.id,
            &store::ApiKeyHash::of(&other_key),
            &store::api_key_prefix(&other_key),
        )
        .await
        .expect("key");
    let (_, second) = create_key(&app, &other_key, json!({})).await;
    let foreign = second["api_key"]["id"].as_str().expect("id");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/environment/api-keys/{foreign}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(status_with(&app, &other_key).await, StatusCode::OK);
}

#[tokio::test]
async fn a_key_cannot_revoke_itself_and_two_keys_revoking_each_other_leave_one() {
    let app = spawn().await;
    let own = own_key_id(&app).await;
    let (status, refused) = app
        .call(
            Method::DELETE,
            &format!("/environment/api-keys/{own}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "own_api_key");
    assert_eq!(status_with(&app, &app.demo.api_key).await, StatusCode::OK);

    // Two keys revoking each other at once: one revocation wins, one key is left working.
    let (second, created) = create_key(&app, &app.demo.api_key, json!({})).await;
    let second_id = created["api_key"]["id"].as_str().expect("id").to_owned();
    let revoke_second = format!("/environment/api-keys/{second_id}");
    let revoke_own = format!("/environment/api-keys/{own}");
    let (first, last) = tokio::join!(
        app.call(Method::DELETE, &revoke_second, None),
        app.call_as(&second, Method::DELETE, &revoke_own, None),
    );
    let statuses = [first.0, last.0];
    assert!(statuses.contains(&StatusCode::OK), "{first:?} {last:?}");
    let working = [
        status_with(&app, &app.demo.api_key).await,
        status_with(&app, &second).await,
    ];
    assert_eq!(
        working
            .iter()
            .filter(|status| **status == StatusCode::OK)
            .count(),
        1,
        "exactly one key still works: {working:?} after {first:?} {last:?}"
    );
}

#[tokio::test]
async fn an_expired_key_is_refused_and_expiry_is_checked_when_a_key_is_created() {
    let app = spawn().await;
    let (_, created) = create_key(&app, &app.demo.api_key, json!({"expires_in_secs": 3600})).await;
    let expires_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(created["api_key"]["expires_at"].clone()).expect("a time");
    let from_now = expires_at - chrono::Utc::now();
    assert!(
        from_now > chrono::Duration::minutes(59) && from_now <= chrono::Duration::hours(1),
        "{created}"
    );
    for body in [
        json!({"expires_at": "2001-01-01T00:00:00Z"}),
        json!({"expires_in_secs": 0}),
        json!({"expires_in_secs": 60, "expires_at": "2100-01-01T00:00:00Z"}),
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
    ] {
        let (status, refused) = app
            .call(Method::POST, "/environment/api-keys", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {refused}");
    }

    // A key past its expiry is refused (written to the store directly: no test waits for
    // a clock).
    let environment = app
        .demo
        .store
        .find_api_key(&store::ApiKeyHash::of(&app.demo.api_key))
        .await
        .expect("the demo key")
        .environment_id;
    let expired = store::generate_api_key();
    app.demo
        .store
        .create_api_key(store::NewApiKey {
            environment_id: environment,
            key_hash: store::ApiKeyHash::of(&expired),
            prefix: store::api_key_prefix(&expired),
            name: None,
            expires_at: Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
            permissions: store::KeyPermissions::full(),
        })
        .await
        .expect("an expired key");
    let (status, body) = app
        .call_as(&expired, Method::GET, "/connections", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (_, listed) = app.get("/environment/api-keys").await;
    assert_eq!(listed["results"][2]["status"], "expired", "{listed}");
}

#[tokio::test]
async fn a_rotation_lets_the_old_and_the_new_key_overlap_then_ends_the_old_one() {
    let app = spawn().await;
    let own = own_key_id(&app).await;
    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/environment/api-keys/{own}/rotate"),
            Some(json!({"overlap_secs": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let new_key = rotated["key"].as_str().expect("the new key").to_owned();
    assert_eq!(rotated["previous"]["id"], json!(own));
    assert!(rotated["previous"]["expires_at"].is_string(), "{rotated}");
    // Both work during the overlap.
    assert_eq!(status_with(&app, &app.demo.api_key).await, StatusCode::OK);
    assert_eq!(status_with(&app, &new_key).await, StatusCode::OK);

    // The new key rotates the old one again with no overlap: the old one ends now.
    let (status, ended) = app
        .call_as(
            &new_key,
            Method::POST,
            &format!("/environment/api-keys/{own}/rotate"),
            Some(json!({"overlap_secs": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ended}");
    assert_eq!(
        status_with(&app, &app.demo.api_key).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_with(&app, &new_key).await, StatusCode::OK);
    let newest = ended["key"].as_str().expect("a key");
    assert_eq!(status_with(&app, newest).await, StatusCode::OK);
    // An ended key cannot be rotated again.
    let (status, refused) = app
        .call_as(
            &new_key,
            Method::POST,
            &format!("/environment/api-keys/{own}/rotate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let (status, refused) = app
        .call_as(
            &new_key,
            Method::POST,
            &format!("/environment/api-keys/{own}/rotate"),
            Some(json!({"overlap_secs": 31 * 24 * 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
}

#[tokio::test]
async fn last_use_is_recorded_without_a_write_per_request() {
    let app = spawn().await;
    let (key, created) = create_key(&app, &app.demo.api_key, json!({})).await;
    assert_eq!(created["api_key"]["last_used_at"], Value::Null);
    let hash = store::ApiKeyHash::of(&key);
    let before = chrono::Utc::now();
    assert_eq!(status_with(&app, &key).await, StatusCode::OK);
    let first = app
        .demo
        .store
        .find_api_key(&hash)
        .await
        .expect("key")
        .last_used_at
        .expect("the first use is recorded");
    assert!(
        first >= before - chrono::Duration::milliseconds(1),
        "{first} {before}"
    );
    for _ in 0..20 {
        assert_eq!(status_with(&app, &key).await, StatusCode::OK);
    }
    let after = app
        .demo
        .store
        .find_api_key(&hash)
        .await
        .expect("key")
        .last_used_at;
    assert_eq!(
        after,
        Some(first),
        "no write for the uses within the minute"
    );
    let (_, listed) = app.get("/environment/api-keys").await;
    assert!(listed["results"][1]["last_used_at"].is_string(), "{listed}");
}

#[tokio::test]
async fn failed_authentications_are_metered_per_client_address() {
    let app = spawn().await;
    let attacker = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)))
        .build()
        .expect("a client");
    let mut statuses = Vec::new();
    let mut throttled = None;
    for n in 0..60 {
        let response = attacker
            .get(app.url("/connections"))
            .bearer_auth(format!("cw_guess_{n:040}"))
            .send()
            .await
            .expect("an answer");
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(response);
            break;
        }
    }
    let response = throttled.unwrap_or_else(|| panic!("never throttled: {statuses:?}"));
    assert!(
        statuses.len() <= 25,
        "throttled only after {} attempts",
        statuses.len()
    );
    assert!(
        statuses[..statuses.len() - 1]
            .iter()
            .all(|status| *status == StatusCode::UNAUTHORIZED)
    );
    let retry_after: u64 = response.headers()[reqwest::header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        "application/problem+json"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "auth_throttled");
    assert_eq!(body["status"], 429);

    // While blocked, the address learns nothing more: even a valid key gets 429.
    let response = attacker
        .get(app.url("/connections"))
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    // Another client address is served as before.
    let other = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .expect("a client");
    let response = other
        .get(app.url("/connections"))
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let response = other
        .get(app.url("/connections"))
        .bearer_auth("cw_one_wrong_guess")
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// A settings file for the binary on the test app's SQLite database.
fn settings_file(app: &TestApp, dir: &Path) -> PathBuf {
    let settings = &app.demo.settings;
    let key = &settings.encryption.keys[&settings.encryption.current_key_id];
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = {data_dir}\n\n[encryption]\ncurrent_key_id = {key_id}\nkeys = {{ {key_id} = {key} }}\n",
        data_dir = json!(settings.data_dir.display().to_string()),
        key_id = json!(settings.encryption.current_key_id),
        key = json!(key),
    );
    let path = dir.join("crosswalk.toml");
    std::fs::write(&path, text).expect("write the settings file");
    path
}

async fn crosswalk(config: Option<&Path>, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_crosswalk"));
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .args(args)
        .env("CROSSWALK_LOG", "off")
        .kill_on_drop(true);
    // A bound, not a synchronisation: a demo that wrongly starts would otherwise run forever.
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("`crosswalk {}` did not end", args.join(" ")))
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The key printed by `api-keys create` or `rotate`.
fn printed_key(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("api key "))
        .unwrap_or_else(|| panic!("no key printed: {stdout}"))
        .to_owned()
}

#[tokio::test]
async fn the_cli_creates_lists_rotates_and_revokes_keys_and_keeps_the_last_one() {
    let app = spawn().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = settings_file(&app, dir.path());
    let environment = app
        .demo
        .store
        .find_api_key(&store::ApiKeyHash::of(&app.demo.api_key))
        .await
        .expect("the demo key")
        .environment_id
        .to_string();
    let own = own_key_id(&app).await;

    let (code, stdout, stderr) = crosswalk(
        Some(&config),
        &[
            "api-keys",
            "create",
            "--environment",
            &environment,
            "--name",
            "ci",
            "--expires-in-days",
            "30",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let created = printed_key(&stdout);
    assert_eq!(status_with(&app, &created).await, StatusCode::OK);

    let (code, stdout, stderr) = crosswalk(
        Some(&config),
        &["api-keys", "list", "--environment", &environment],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains(&own) && stdout.contains(" ci"), "{stdout}");
    assert!(!stdout.contains(&created) && !stdout.contains(&app.demo.api_key));

    // Rotation with no overlap ends the demo key at once; the rotated key works.
    let (code, stdout, stderr) = crosswalk(
        Some(&config),
        &[
            "api-keys",
            "rotate",
            "--environment",
            &environment,
            &own,
            "--overlap-hours",
            "0",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let rotated = printed_key(&stdout);
    assert_eq!(status_with(&app, &rotated).await, StatusCode::OK);
    assert_eq!(
        status_with(&app, &app.demo.api_key).await,
        StatusCode::UNAUTHORIZED
    );

    // Revoke the `ci` key, then refuse to revoke the last usable one.
    let (_, listed) = app
        .call_as(&rotated, Method::GET, "/environment/api-keys", None)
        .await;
    let id_of = |key: &str| -> String {
        listed["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|row| row["prefix"] == json!(&key[..8]))
            .and_then(|row| row["id"].as_str())
            .expect("listed")
            .to_owned()
    };
    let (code, stdout, stderr) = crosswalk(
        Some(&config),
        &[
            "api-keys",
            "revoke",
            "--environment",
            &environment,
            &id_of(&created),
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("revoked"), "{stdout}");
    assert_eq!(status_with(&app, &created).await, StatusCode::UNAUTHORIZED);
    let (code, _, stderr) = crosswalk(
        Some(&config),
        &[
            "api-keys",
            "revoke",
            "--environment",
            &environment,
            &id_of(&rotated),
        ],
    )
    .await;
    assert_ne!(code, Some(0));
    assert!(stderr.contains("last usable key"), "{stderr}");
    assert_eq!(status_with(&app, &rotated).await, StatusCode::OK);
}

#[tokio::test]
async fn the_demo_refuses_a_weak_api_key_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data_dir = dir.path().display().to_string();
    for weak in ["tiny-k3y", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
        let (code, stdout, stderr) = crosswalk(
            None,
            &[
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                &data_dir,
                "--api-key",
                weak,
            ],
        )
        .await;
        assert_eq!(code, Some(1), "{stdout}{stderr}");
        assert!(
            stderr.contains("--api-key") && stderr.contains("too"),
            "{stderr}"
        );
        assert!(stderr.contains("leave --api-key out"), "{stderr}");
        assert!(
            !stderr.contains(weak),
            "the error does not repeat the key: {stderr}"
        );
        assert!(!dir.path().join("crosswalk.db").exists(), "nothing started");
    }
}

/// The failed-authentication budget is a setting (`failed_auth_burst`): an operator, or a
/// contract fuzzer that sends many unauthenticated calls (issue 15), raises it, and a lower one
/// throttles sooner. The default is unchanged (the test above).
#[tokio::test]
async fn the_failed_authentication_budget_is_a_setting() {
    for burst in [3_u32, 100] {
        let app = spawn_app_with(Options {
            registry: simulators::REGISTRY[..1].to_vec(),
            failed_auth_burst: Some(burst),
            ..Options::tests()
        })
        .await;
        assert_eq!(app.demo.settings.failed_auth_burst, burst);
        let client = reqwest::Client::new();
        let mut n_unauthorized = 0;
        for n in 0..=burst {
            let response = client
                .get(app.url("/connections"))
                .bearer_auth(format!("cw_guess_{n:040}"))
                .send()
                .await
                .expect("an answer");
            if response.status() != StatusCode::UNAUTHORIZED {
                assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
                break;
            }
            n_unauthorized += 1;
        }
        assert_eq!(n_unauthorized, burst, "401s before the first 429");
    }
}
