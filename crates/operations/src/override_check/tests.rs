//! Which layer is blamed when a connector changed under stored overrides, and the
//! `override_invalid` problem a request then answers; on a synthetic connector in two revisions.

use chrono::Utc;
use connector::{Connector, OverrideLayer, load_connector_from_str};
use serde_json::{Value, json};
use store::{ConnectionId, EnvironmentId, OverrideScope, OverrideVersion};

use super::{InvalidOverride, apply_overrides, request_error};

/// Revision 1 lists through a `legacy` route besides `all`; revision 2 dropped it.
fn acme(revision: &str, with_legacy: bool) -> Connector {
    let legacy = if with_legacy {
        "        - { id: legacy, when: \"$exists(query.email)\", use: people.list }\n"
    } else {
        ""
    };
    let text = format!(
        r#"
schema_version: 1
meta: {{ id: acme, label: Acme, categories: [crm], revision: "{revision}" }}
auth:
  schemes:
    key: {{ kind: api_key, in: header, name: X-Api-Key, value: "{{{{credentials.api_key}}}}" }}
http:
  base_url: "https://api.acme.test"
  allowed_hosts: ["api.acme.test"]
resources:
  people:
    list: {{ http_method: GET, path: /people, records: data }}
unified:
  crm.contacts:
    list:
      filters: {{ email: {{ type: string }} }}
      routes:
{legacy}        - {{ id: all, use: people.list }}
      record_mapping: "{{ 'id': $string(id) }}"
"#
    );
    load_connector_from_str("/etc/crosswalk/connectors/acme/connector.yaml", &text, None)
        .expect("the synthetic connector loads")
}

fn version(scope: OverrideScope, version: u32, document: Value) -> OverrideVersion {
    OverrideVersion {
        scope,
        version,
        document: Some(document),
        revision: "1".to_owned(),
        created_at: Utc::now(),
    }
}

fn environment_scope() -> OverrideScope {
    OverrideScope::environment(EnvironmentId::generate(), "acme")
}

fn connection_scope(environment: &OverrideScope) -> OverrideScope {
    OverrideScope::connection(
        environment.environment_id.clone(),
        "acme",
        ConnectionId::generate(),
    )
}

/// Removes the `legacy` route: fine on revision 1, an error on revision 2.
fn remove_legacy() -> Value {
    json!({"unified": {"crm.contacts": {"list": {"routes": [{"id": "legacy", "$remove": true}]}}}})
}

/// Changes the `legacy` route's condition: on revision 2 that is a route without `use`.
fn retune_legacy() -> Value {
    json!({"unified": {"crm.contacts": {"list": {"routes": [{"id": "legacy", "when": "true"}]}}}})
}

fn failure(result: Result<Connector, Box<InvalidOverride>>) -> InvalidOverride {
    match result {
        Ok(_) => panic!("the overrides were expected to fail"),
        Err(invalid) => *invalid,
    }
}

#[test]
fn an_environment_override_against_a_removed_route_is_blamed_with_its_version() {
    let environment = version(environment_scope(), 3, remove_legacy());
    assert!(apply_overrides(&acme("1", true), Some(&environment), None).is_ok());

    let invalid = failure(apply_overrides(&acme("2", false), Some(&environment), None));
    assert_eq!(invalid.layer(), OverrideLayer::Environment);
    assert_eq!(invalid.scope, environment.scope);
    assert_eq!(invalid.version, 3);
    assert_eq!(invalid.revision, "1");
    assert_eq!(invalid.connector_revision, "2");
    assert!(
        invalid.error().contains("legacy"),
        "the error names the missing route: {}",
        invalid.error()
    );
    assert!(
        !invalid.describe().contains("/etc/crosswalk"),
        "the connector file's location stays out: {}",
        invalid.describe()
    );
}

#[test]
fn a_connection_override_is_blamed_only_when_its_environments_applies() {
    let environment_layer = environment_scope();
    let environment = version(
        environment_layer.clone(),
        1,
        json!({"http": {"headers": {"X-Tier": "gold"}}}),
    );
    let connection = version(connection_scope(&environment_layer), 2, retune_legacy());
    assert!(apply_overrides(&acme("1", true), Some(&environment), Some(&connection)).is_ok());

    let invalid = failure(apply_overrides(
        &acme("2", false),
        Some(&environment),
        Some(&connection),
    ));
    assert_eq!(invalid.layer(), OverrideLayer::Connection);
    assert_eq!(invalid.scope, connection.scope);
    assert_eq!(invalid.version, 2);

    let broken_environment = version(environment_layer, 4, remove_legacy());
    let invalid = failure(apply_overrides(
        &acme("2", false),
        Some(&broken_environment),
        Some(&connection),
    ));
    assert_eq!(
        (invalid.layer(), invalid.version),
        (OverrideLayer::Environment, 4),
        "the environment's layer is judged first"
    );
}

#[test]
fn a_removed_override_is_no_layer() {
    let mut removed = version(environment_scope(), 2, remove_legacy());
    removed.document = None;
    assert!(apply_overrides(&acme("2", false), Some(&removed), None).is_ok());
}

#[test]
fn a_request_on_a_broken_effective_connector_answers_override_invalid() {
    let base = acme("2", false);
    let environment_layer = environment_scope();
    let connection = version(connection_scope(&environment_layer), 5, retune_legacy());
    let refs = [(
        OverrideLayer::Connection,
        connection.document.as_ref().expect("a document"),
    )];
    let error = base
        .with_layers(&refs)
        .expect_err("the layers do not apply");

    let crate::OpError::OverrideInvalid(invalid) =
        request_error(&base, None, Some(&connection), &error)
    else {
        panic!("an override_invalid error");
    };
    let problem = json!({"override": invalid.payload(), "detail": invalid.describe()});
    assert_eq!(problem["override"]["layer"], "connection");
    assert_eq!(problem["override"]["version"], 5);
    assert_eq!(problem["override"]["revision"], "1");
    assert_eq!(problem["override"]["connector_revision"], "2");
    assert_eq!(
        problem["override"]["connection_id"],
        connection
            .scope
            .connection_id
            .as_ref()
            .expect("a connection")
            .as_str()
    );
    let detail = problem["detail"].as_str().expect("a detail");
    assert!(
        detail.contains("version 5"),
        "the detail names the version: {detail}"
    );
    assert!(!detail.contains("/etc/crosswalk"), "{detail}");
}
