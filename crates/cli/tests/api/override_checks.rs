//! Stored overrides re-validated when a connector changes (issue 6): an environment override
//! and a connection override, valid when saved, stop applying after an "upgrade" (a new
//! connector revision without the error rules they place themselves before, given as operator
//! `connector_overrides`); the next start reports each in an `override.invalid` event, once
//! however often it starts, and `crosswalk overrides check` names them and exits non-zero.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cli::settings::Settings;
use cli::startup;
use reqwest::Method;
use serde_json::{Value, json};
use store::{ConnectionId, EnvironmentId};

use crate::helpers::{TestApp, spawn_app};

const UPGRADED_REVISION: &str = "2099.01.1";

/// A rule placed before `before`: applies while the connector has that rule.
fn rule_before(id: &str, before: &str) -> Value {
    json!({"errors": {"rules": [
        {"id": id, "$before": before, "when": "status = 418", "code": "bad_request", "action": "fail"}
    ]}})
}

/// The connectors of the next release, as operator patches: a new revision, without the
/// error rules the stored overrides name.
fn upgrade() -> Value {
    json!({
        "salesforce": {"meta": {"revision": UPGRADED_REVISION},
                       "errors": {"rules": [{"id": "malformed_query", "$remove": true}]}},
        "dynamics365": {"meta": {"revision": UPGRADED_REVISION},
                        "errors": {"rules": [{"id": "bad_request", "$remove": true}]}},
    })
}

fn upgraded_settings(app: &TestApp) -> Settings {
    let mut settings = app.demo.settings.clone();
    if let Value::Object(patches) = upgrade() {
        for (provider, patch) in patches {
            let merged = settings
                .connector_overrides
                .entry(provider)
                .or_insert_with(|| json!({}));
            connector::deep_merge(merged, &patch);
        }
    }
    settings
}

async fn environment_of(app: &TestApp, provider: &str) -> EnvironmentId {
    let id = ConnectionId::parse(&app.connection(provider)).expect("a connection id");
    app.demo
        .store
        .get_connection_by_id(&id)
        .await
        .expect("the connection")
        .environment_id
}

async fn invalid_events(app: &TestApp, environment: &EnvironmentId) -> Vec<store::Event> {
    app.demo
        .store
        .list_events(environment, None, Some("override.invalid"))
        .await
        .expect("events")
}

/// Saves an environment override of Salesforce and a connection override of Dynamics 365,
/// both valid against today's connectors.
async fn save_overrides(app: &TestApp) {
    let (status, saved) = app
        .call(
            Method::PUT,
            "/environment/overrides/salesforce",
            Some(rule_before("teapot", "malformed_query")),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let dynamics = app.connection("dynamics365");
    let (status, saved) = app
        .call(
            Method::PUT,
            &format!("/connections/{dynamics}/overrides"),
            Some(rule_before("teapot", "bad_request")),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
}

#[tokio::test]
async fn a_start_after_a_connector_change_records_each_invalid_override_once() {
    let app = spawn_app().await;
    save_overrides(&app).await;
    let environment = environment_of(&app, "salesforce").await;
    let store = Arc::clone(&app.demo.store);

    // A start on today's connectors finds nothing wrong.
    let check = startup::revalidate_overrides(
        &startup::build_state(&app.demo.settings, Arc::clone(&store), "http://127.0.0.1")
            .await
            .expect("a state"),
    )
    .await
    .expect("a check");
    assert_eq!((check.checked, check.invalid.len()), (2, 0), "{check:?}");
    assert!(invalid_events(&app, &environment).await.is_empty());

    // The upgraded process's start re-validates and records both failures.
    let settings = upgraded_settings(&app);
    startup::build_state(&settings, Arc::clone(&store), "http://127.0.0.1")
        .await
        .expect("the upgraded process starts despite invalid overrides");
    let events = invalid_events(&app, &environment).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let salesforce = events
        .iter()
        .find(|event| event.payload["provider"] == "salesforce")
        .expect("the Salesforce override's event");
    assert_eq!(salesforce.connection_id, None);
    assert_eq!(salesforce.payload["layer"], "environment");
    assert_eq!(salesforce.payload["version"], 1);
    assert_eq!(salesforce.payload["connector_revision"], UPGRADED_REVISION);
    assert_eq!(salesforce.payload["revision"], "2025.06.1");
    assert!(
        salesforce.payload["error"]
            .as_str()
            .is_some_and(|error| error.contains("malformed_query")),
        "the error names the rule that is gone: {}",
        salesforce.payload
    );
    let dynamics = events
        .iter()
        .find(|event| event.payload["provider"] == "dynamics365")
        .expect("the Dynamics 365 override's event");
    assert_eq!(
        dynamics.connection_id.as_ref().map(|id| id.to_string()),
        Some(app.connection("dynamics365"))
    );
    assert_eq!(dynamics.payload["layer"], "connection");

    // Every later start logs them again but records nothing new.
    let state = startup::build_state(&settings, Arc::clone(&store), "http://127.0.0.1")
        .await
        .expect("a second upgraded start");
    assert_eq!(invalid_events(&app, &environment).await, events);

    // The environment fixes its override: the next start finds only the other one.
    let (status, saved) = app
        .call(Method::DELETE, "/environment/overrides/salesforce", None)
        .await;
    assert_eq!(status, 200, "{saved}");
    let check = startup::revalidate_overrides(&state)
        .await
        .expect("a check");
    assert_eq!(check.checked, 1, "a removed override is not checked");
    assert_eq!(check.invalid.len(), 1);
    assert_eq!(check.invalid[0].scope.provider, "dynamics365");
    assert_eq!(invalid_events(&app, &environment).await, events);
}

/// Writes a settings file for the binary on the test app's SQLite database, with `extra`
/// operator overrides.
fn settings_file(app: &TestApp, dir: &Path, upgraded: bool) -> PathBuf {
    let settings = app.demo.settings.clone();
    let key = &settings.encryption.keys[&settings.encryption.current_key_id];
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = {data_dir}\n\n[encryption]\ncurrent_key_id = {key_id}\nkeys = {{ {key_id} = {key} }}\n",
        data_dir = json!(settings.data_dir.display().to_string()),
        key_id = json!(settings.encryption.current_key_id),
        key = json!(key),
    );
    if upgraded {
        for (provider, rule) in [
            ("salesforce", "malformed_query"),
            ("dynamics365", "bad_request"),
        ] {
            text.push_str(&format!(
                "\n[connector_overrides.{provider}.meta]\nrevision = {revision}\n\n[[connector_overrides.{provider}.errors.rules]]\nid = {rule}\n\"$remove\" = true\n",
                revision = json!(UPGRADED_REVISION),
                rule = json!(rule),
            ));
        }
    }
    let path = dir.join(if upgraded {
        "upgraded.toml"
    } else {
        "today.toml"
    });
    std::fs::write(&path, text).expect("write the settings file");
    path
}

async fn overrides_check(config: &Path) -> (Option<i32>, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_crosswalk"))
        .arg("--config")
        .arg(config)
        .args(["overrides", "check"])
        .env("CROSSWALK_LOG", "off")
        .output()
        .await
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn overrides_check_names_each_override_that_no_longer_applies() {
    let app = spawn_app().await;
    save_overrides(&app).await;
    let environment = environment_of(&app, "salesforce").await;
    let dir = tempfile::tempdir().expect("a temp dir");

    let (code, stdout, stderr) = overrides_check(&settings_file(&app, dir.path(), false)).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("2 overrides checked, 0 no longer apply"),
        "{stdout}{stderr}"
    );

    let (code, stdout, stderr) = overrides_check(&settings_file(&app, dir.path(), true)).await;
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("2 overrides checked, 2 no longer apply"),
        "{stdout}{stderr}"
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("invalid "))
        .collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    let salesforce = lines
        .iter()
        .find(|line| line.contains("provider salesforce"))
        .expect("the Salesforce override is named");
    assert!(
        salesforce.contains(&format!("environment {environment} connection - "))
            && salesforce.contains("version 1")
            && salesforce.contains(UPGRADED_REVISION)
            && salesforce.contains("malformed_query"),
        "{salesforce}"
    );
    let dynamics = lines
        .iter()
        .find(|line| line.contains("provider dynamics365"))
        .expect("the Dynamics 365 override is named");
    assert!(
        dynamics.contains(&format!("connection {} ", app.connection("dynamics365")))
            && dynamics.contains("version 1")
            && dynamics.contains("bad_request"),
        "{dynamics}"
    );
    assert!(
        invalid_events(&app, &environment).await.is_empty(),
        "the check records nothing"
    );
}
