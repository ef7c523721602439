//! Loading connector files: YAML text → merged JSON → typed [`ConnectorFile`] → [`Connector`].
//!
//! Errors name the file and the path inside it (`unified.crm.contacts.list.routes[0].when`), so
//! a connector author can find the mistake without reading Rust. Operator overrides (a trusted
//! patch from configuration, e.g. pointing a connector at a local simulator) are merged by the
//! override contract (`overrides.rs`) before the typed pass, so they are validated exactly like
//! the file itself.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::Connector;
use crate::file::ConnectorFile;
use crate::overrides::{OverrideLayer, load_connector_with_layers};

/// The connector file format versions this runtime understands.
pub const SUPPORTED_SCHEMA_VERSIONS: &[u32] = &[1];

/// A connector file that could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {location}{message}")]
pub struct LoadError {
    /// The file (or label) that failed.
    pub file: String,
    /// Path inside the file, when known (`resources.contacts.list.pagination`).
    pub path: Option<String>,
    /// Line in the file, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    location: String,
}

impl LoadError {
    /// Builds an error; `path` and `line` locate it inside `file`.
    pub fn new(
        file: impl Into<String>,
        path: Option<String>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> LoadError {
        let location = match (&line, &path) {
            (Some(line), Some(path)) => format!("line {line}: at `{path}`: "),
            (Some(line), None) => format!("line {line}: "),
            (None, Some(path)) => format!("at `{path}`: "),
            (None, None) => String::new(),
        };
        LoadError {
            file: file.into(),
            path,
            line,
            message: message.into(),
            location,
        }
    }
}

/// Parses YAML text into the JSON value model, resolving anchors and merge keys.
///
/// # Errors
/// Fails with the line of a YAML syntax error.
pub fn parse_yaml(file: &str, text: &str) -> Result<Value, LoadError> {
    let mut yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|error| {
        let line = error.location().map(|location| location.line());
        LoadError::new(file, None, line, format!("invalid YAML: {error}"))
    })?;
    yaml.apply_merge().map_err(|error| {
        LoadError::new(file, None, None, format!("invalid YAML merge: {error}"))
    })?;
    serde_json::to_value(&yaml).map_err(|error| {
        LoadError::new(
            file,
            None,
            None,
            format!("YAML not representable as JSON: {error}"),
        )
    })
}

/// Deep-merges `patch` into `base`: objects merge key by key, `null` deletes a key, anything
/// else replaces.
pub fn deep_merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base_map), Value::Object(patch_map)) => {
            for (key, patch_value) in patch_map {
                if patch_value.is_null() {
                    base_map.remove(key);
                } else if let Some(base_value) = base_map.get_mut(key) {
                    deep_merge(base_value, patch_value);
                } else {
                    base_map.insert(key.clone(), patch_value.clone());
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

/// Types a merged document as a [`ConnectorFile`], naming the failing path.
///
/// # Errors
/// Fails on unknown fields, wrong types or an unsupported `schema_version`.
pub fn type_file(file: &str, document: Value) -> Result<ConnectorFile, LoadError> {
    let version = document.get("schema_version").and_then(Value::as_u64);
    match version {
        None => {
            return Err(LoadError::new(
                file,
                Some("schema_version".to_owned()),
                None,
                "missing or not a number",
            ));
        }
        Some(version) if !SUPPORTED_SCHEMA_VERSIONS.contains(&(version as u32)) => {
            return Err(LoadError::new(
                file,
                Some("schema_version".to_owned()),
                None,
                format!("unknown connector schema version `{version}`"),
            ));
        }
        Some(_) => {}
    }
    serde_path_to_error::deserialize(document).map_err(|error| {
        let path = error.path().to_string();
        LoadError::new(file, Some(path), None, error.inner().to_string())
    })
}

/// Loads a connector from YAML text, with an optional operator override merged on top by the
/// override contract (see [`crate::apply_override`]: keyed lists such as `rate_limits.buckets`
/// merge item by item by `id`).
///
/// # Errors
/// Fails on YAML, typing or validation errors, each naming `file` and the path inside it.
pub fn load_connector_from_str(
    file: &str,
    text: &str,
    overrides: Option<&Value>,
) -> Result<Connector, LoadError> {
    match overrides {
        Some(patch) => load_connector_with_layers(file, text, &[(OverrideLayer::Operator, patch)]),
        None => load_connector_with_layers(file, text, &[]),
    }
}

/// Loads `connectors/<provider>/connector.yaml`.
///
/// # Errors
/// Fails when the file cannot be read, or as [`load_connector_from_str`].
pub fn load_connector_from_file(
    path: &Path,
    overrides: Option<&Value>,
) -> Result<Connector, LoadError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|error| LoadError::new(&label, None, None, format!("cannot read: {error}")))?;
    let connector = load_connector_from_str(&label, &text, overrides)?;
    let folder = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str());
    if let Some(folder) = folder
        && folder != connector.id()
    {
        return Err(LoadError::new(
            &label,
            Some("meta.id".to_owned()),
            None,
            format!(
                "`{}` differs from its folder name `{folder}`",
                connector.id()
            ),
        ));
    }
    Ok(connector)
}

/// Connector files below `dir`: every `<dir>/<provider>/connector.yaml`, sorted.
///
/// # Errors
/// Fails when `dir` cannot be listed.
pub fn connector_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path().join("connector.yaml");
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Loads every connector below `dir`, applying each provider's operator override from
/// `overrides` (an object keyed by provider id). Returns the connectors that loaded and the
/// errors of those that did not.
///
/// # Errors
/// Fails only when `dir` cannot be listed.
pub fn load_connectors_dir(
    dir: &Path,
    overrides: Option<&Value>,
) -> std::io::Result<(Vec<Connector>, Vec<LoadError>)> {
    let mut connectors = Vec::new();
    let mut errors = Vec::new();
    for path in connector_files(dir)? {
        let provider = path
            .parent()
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        let patch = overrides.and_then(|all| all.get(provider));
        match load_connector_from_file(&path, patch) {
            Ok(connector) => connectors.push(connector),
            Err(error) => errors.push(error),
        }
    }
    Ok((connectors, errors))
}
