//! Stored overrides re-validated against the connectors this process loaded.
//!
//! An override is validated when saved, against the connector revision of that moment; an
//! upgrade may change the connector so that a stored override no longer applies (a route it
//! names is gone, a mapping that no longer compiles). [`check_stored_overrides`] applies every
//! current override again, [`report_invalid_overrides`] logs each failure and records it once
//! as an `override.invalid` event of its environment, and [`request_error`] turns the failure
//! of a request's effective connector into a clear `override_invalid` problem naming the layer
//! and version. Nothing here repairs or removes an override: its environment fixes, reverts or
//! deletes it through the overrides API.

use std::collections::HashMap;

use connector::{Connector, LoadError, OverrideLayer};
use serde_json::{Value, json};
use store::{EnvironmentId, NewEvent, OverrideScope, OverrideVersion, Store, StoreError};

use crate::{ConnectorRegistry, OpError};

/// The kind of the event recorded for a stored override that no longer applies.
pub const INVALID_OVERRIDE_EVENT: &str = "override.invalid";

/// A stored override that no longer applies to its connector.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidOverride {
    /// The environment (and, for the connection layer, the connection) and provider.
    pub scope: OverrideScope,
    /// The override version that fails.
    pub version: u32,
    /// The connector revision the override was validated against when it was saved.
    pub revision: String,
    /// The revision of the connector loaded now; empty when the connector is not loaded.
    pub connector_revision: String,
    /// Where in the connector document the failure is (`errors.rules`), when known.
    pub path: Option<String>,
    /// What is wrong, without the connector file's location on disk.
    pub message: String,
}

impl InvalidOverride {
    fn new(version: &OverrideVersion, connector_revision: &str, error: &LoadError) -> Self {
        InvalidOverride {
            scope: version.scope.clone(),
            version: version.version,
            revision: version.revision.clone(),
            connector_revision: connector_revision.to_owned(),
            path: error.path.clone(),
            message: error.message.clone(),
        }
    }

    /// The layer the override is: `environment` or `connection`.
    pub fn layer(&self) -> OverrideLayer {
        if self.scope.connection_id.is_some() {
            OverrideLayer::Connection
        } else {
            OverrideLayer::Environment
        }
    }

    /// The error, located by its path when known (``at `errors.rules`: …``).
    pub fn error(&self) -> String {
        match &self.path {
            Some(path) => format!("at `{path}`: {}", self.message),
            None => self.message.clone(),
        }
    }

    /// One sentence naming the layer, provider, version, both revisions and the error.
    pub fn describe(&self) -> String {
        let layer = match &self.scope.connection_id {
            Some(connection_id) => format!("connection `{connection_id}`"),
            None => format!("environment `{}`", self.scope.environment_id),
        };
        format!(
            "the {layer} override of `{provider}`, version {version} (saved against connector \
             revision `{revision}`), no longer applies to connector revision \
             `{connector_revision}`: {error}",
            provider = self.scope.provider,
            version = self.version,
            revision = self.revision,
            connector_revision = self.connector_revision,
            error = self.error(),
        )
    }

    /// The payload of its `override.invalid` event, and the `override` member of its problem.
    pub fn payload(&self) -> Value {
        json!({
            "layer": self.layer().as_str(),
            "provider": self.scope.provider,
            "connection_id": self.scope.connection_id.as_ref().map(|id| id.as_str()),
            "version": self.version,
            "revision": self.revision,
            "connector_revision": self.connector_revision,
            "path": self.path,
            "error": self.error(),
        })
    }
}

/// Applies a connection's current overrides (its environment's, then its own; a removed one is
/// no layer) over `base`, telling which layer fails: the environment's is judged alone first,
/// so a connection layer is only blamed when the environment's applies.
///
/// # Errors
/// The first layer that breaks a guard rail or does not compile.
pub fn apply_overrides(
    base: &Connector,
    environment: Option<&OverrideVersion>,
    connection: Option<&OverrideVersion>,
) -> Result<Connector, Box<InvalidOverride>> {
    let revision = base.file().meta.revision.as_str();
    let mut layers: Vec<(OverrideLayer, &Value)> = Vec::new();
    let mut effective = base.clone();
    for (layer, version) in [
        (OverrideLayer::Environment, environment),
        (OverrideLayer::Connection, connection),
    ] {
        let Some(version) = version else { continue };
        let Some(document) = &version.document else {
            continue;
        };
        layers.push((layer, document));
        effective = base
            .with_layers(&layers)
            .map_err(|error| Box::new(InvalidOverride::new(version, revision, &error)))?;
    }
    Ok(effective)
}

/// The problem answered when a request's effective connector cannot be built from `base` and
/// the connection's current overrides: `override_invalid` naming the failing layer and version
/// (from [`apply_overrides`]); should every layer apply when tried again, the topmost one is
/// named with `error`.
pub fn request_error(
    base: &Connector,
    environment: Option<&OverrideVersion>,
    connection: Option<&OverrideVersion>,
    error: &LoadError,
) -> OpError {
    let invalid = match apply_overrides(base, environment, connection) {
        Err(invalid) => invalid,
        Ok(_) => match connection.or(environment) {
            Some(version) => Box::new(InvalidOverride::new(
                version,
                &base.file().meta.revision,
                error,
            )),
            None => {
                return OpError::Internal(anyhow::anyhow!(
                    "the connector does not load without overrides: {error}"
                ));
            }
        },
    };
    OpError::OverrideInvalid(invalid)
}

/// The outcome of [`check_stored_overrides`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OverrideCheck {
    /// How many current overrides were checked.
    pub checked: usize,
    /// Those that no longer apply, in the store's order (environment, provider, connection).
    pub invalid: Vec<InvalidOverride>,
}

/// Re-validates every current stored override, of every environment, against `connectors`
/// as [`apply_overrides`] does: an environment's alone over the base, a connection's over its
/// environment's. A connection layer whose environment's override fails is not judged (the
/// environment's failure is reported, and fixing it may fix both); an override of a connector
/// that is no longer loaded fails.
///
/// # Errors
/// When the store cannot list the overrides.
pub async fn check_stored_overrides(
    store: &dyn Store,
    connectors: &ConnectorRegistry,
) -> Result<OverrideCheck, StoreError> {
    let current = store.list_current_overrides().await?;
    let mut check = OverrideCheck {
        checked: current.len(),
        invalid: Vec::new(),
    };
    let mut environment_layers: HashMap<(EnvironmentId, String), (&OverrideVersion, bool)> =
        HashMap::new();
    for version in current.iter().filter(|v| v.scope.connection_id.is_none()) {
        let outcome = match connectors.get(&version.scope.provider) {
            None => Err(Box::new(not_loaded(version))),
            Some(base) => apply_overrides(base, Some(version), None).map(drop),
        };
        let applies = outcome.is_ok();
        if let Err(invalid) = outcome {
            check.invalid.push(*invalid);
        }
        environment_layers.insert(
            (
                version.scope.environment_id.clone(),
                version.scope.provider.clone(),
            ),
            (version, applies),
        );
    }
    for version in current.iter().filter(|v| v.scope.connection_id.is_some()) {
        let Some(base) = connectors.get(&version.scope.provider) else {
            check.invalid.push(not_loaded(version));
            continue;
        };
        let key = (
            version.scope.environment_id.clone(),
            version.scope.provider.clone(),
        );
        let environment = match environment_layers.get(&key) {
            Some((_, false)) => continue,
            Some((environment, true)) => Some(*environment),
            None => None,
        };
        if let Err(invalid) = apply_overrides(base, environment, Some(version)) {
            check.invalid.push(*invalid);
        }
    }
    check.invalid.sort_by_key(|invalid| {
        (
            invalid.scope.environment_id.to_string(),
            invalid.scope.provider.clone(),
            invalid
                .scope
                .connection_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        )
    });
    Ok(check)
}

fn not_loaded(version: &OverrideVersion) -> InvalidOverride {
    InvalidOverride {
        scope: version.scope.clone(),
        version: version.version,
        revision: version.revision.clone(),
        connector_revision: String::new(),
        path: None,
        message: format!("connector `{}` is not loaded", version.scope.provider),
    }
}

/// Logs each invalid override and records it as an `override.invalid` event of its environment,
/// once per override version and connector revision however often this runs; returns how many
/// events were recorded now. An override whose connection was deleted meanwhile is skipped.
///
/// # Errors
/// When the store fails to record an event.
pub async fn report_invalid_overrides(
    store: &dyn Store,
    invalid: &[InvalidOverride],
) -> Result<usize, StoreError> {
    let mut recorded = 0;
    for failure in invalid {
        tracing::warn!(
            environment_id = %failure.scope.environment_id,
            connection_id = failure.scope.connection_id.as_ref().map(|id| id.as_str()),
            provider = %failure.scope.provider,
            version = failure.version,
            revision = %failure.revision,
            connector_revision = %failure.connector_revision,
            error = %failure.error(),
            "stored override no longer applies"
        );
        let event = NewEvent {
            environment_id: failure.scope.environment_id.clone(),
            connection_id: failure.scope.connection_id.clone(),
            kind: INVALID_OVERRIDE_EVENT.to_owned(),
            payload: failure.payload(),
        };
        match store
            .record_invalid_override(
                &failure.scope,
                failure.version,
                &failure.connector_revision,
                event,
            )
            .await
        {
            Ok(Some(_)) => recorded += 1,
            Ok(None) | Err(StoreError::NotFound) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests;
