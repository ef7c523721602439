//! Layered connector overrides: operator, environment and connection patches over a base file.
//!
//! A customer may change any part of a connector's unified mapping per environment and per
//! connection. Each layer is a JSON patch merged by one explicit contract (objects merge key
//! by key; scalars, strings and plain arrays replace; `null` deletes; keyed lists merge item
//! by item by `id`, `connection_fields` by `name`) and checked against guard rails that depend
//! on the layer, so that an environment cannot widen the hosts credentials are sent to and a
//! connection can only tighten rate limits. Pure: no IO, no clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Connector;
use crate::compile::compile;
use crate::load::{LoadError, parse_yaml, type_file};
use crate::origin::OriginPattern;

/// Who wrote an override, which decides what it may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideLayer {
    /// Trusted configuration (pointing a connector at a simulator): may change anything.
    Operator,
    /// A customer environment: anything but `meta` and `schema_version`; hosts only narrow.
    Environment,
    /// One connection: `vars`, `unified.*`, discovery TTLs, headers, tighter rate limits and
    /// extra error rules.
    Connection,
}

impl OverrideLayer {
    /// The layer's name, as used in provenance (`operator`, `environment`, `connection`).
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideLayer::Operator => "operator",
            OverrideLayer::Environment => "environment",
            OverrideLayer::Connection => "connection",
        }
    }

    fn rank(self) -> u8 {
        match self {
            OverrideLayer::Operator => 0,
            OverrideLayer::Environment => 1,
            OverrideLayer::Connection => 2,
        }
    }
}

/// An override that breaks the merge contract or its layer's guard rails.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("at `{path}`: {message}")]
pub struct OverrideError {
    /// Path inside the document (`rate_limits.buckets[burst].capacity`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl OverrideError {
    fn new(path: &str, message: impl Into<String>) -> OverrideError {
        OverrideError {
            path: if path.is_empty() {
                "(root)".to_owned()
            } else {
                path.to_owned()
            },
            message: message.into(),
        }
    }
}

/// Merges `patch` into `document` by the override contract: objects merge key by key; scalars,
/// strings (templates and JSONata) and plain arrays replace; `null` deletes the key; keyed
/// lists — arrays whose items are objects with an `id` (e.g. `errors.rules`,
/// `unified.*.*.routes`, `rate_limits.buckets`) — merge item by item by `id` (an item with
/// `$remove: true` deletes, `$before: <id>` / `$after: <id>` positions a new item, otherwise
/// new ids append); `connection_fields` is keyed by `name`.
///
/// Guard rails by layer: Operator may change anything. Environment may change anything but
/// `meta`, `schema_version`, and may only narrow `http.allowed_hosts` and must not widen a host
/// through `http.base_url`. Connection may change only `vars`, `unified.*`,
/// `discovery.*.ttl_secs`, `http.headers`, and `rate_limits.buckets[*]` capacity/refill and
/// `rate_limits.max_concurrency` (tighten only), plus `errors.rules` additions.
///
/// A `null` patch changes nothing; the document is left unchanged when the patch is refused.
///
/// # Errors
/// Every violation names the path (`rate_limits.buckets[burst].capacity`) and why.
pub fn apply_override(
    document: &mut Value,
    patch: &Value,
    layer: OverrideLayer,
) -> Result<(), OverrideError> {
    match patch {
        Value::Null => return Ok(()),
        Value::Object(_) => {}
        _ => return Err(OverrideError::new("", "an override must be an object")),
    }
    match layer {
        OverrideLayer::Operator => {}
        OverrideLayer::Environment => check_environment(document, patch)?,
        OverrideLayer::Connection => check_connection(document, patch)?,
    }
    let mut merged = document.clone();
    merge(&mut merged, patch, "")?;
    if layer == OverrideLayer::Environment {
        check_base_url_host(&merged, patch)?;
    }
    *document = merged;
    Ok(())
}

/// Loads a connector from YAML text with layers applied in order (operator, then environment,
/// then connection; layers of one kind keep their given order), validating each layer's guard
/// rails against the document as it stood before that layer, then typing and compiling the
/// result (so a broken JSONata in an override fails here with its path and the JSONata error
/// code and position).
///
/// # Errors
/// Fails on YAML, override, typing or validation errors, each naming `file` and the path.
pub fn load_connector_with_layers(
    file: &str,
    text: &str,
    layers: &[(OverrideLayer, &Value)],
) -> Result<Connector, LoadError> {
    let mut document = parse_yaml(file, text)?;
    for (layer, patch) in ordered(layers) {
        apply_override(&mut document, patch, layer).map_err(|error| {
            LoadError::new(
                file,
                Some(error.path),
                None,
                format!("{} override: {}", layer.as_str(), error.message),
            )
        })?;
    }
    let typed = type_file(file, document)?;
    let mut connector = compile(file, typed)?;
    // Kept so later layers (environment, connection) can be applied on top of this one.
    let kept: Vec<(OverrideLayer, Value)> = layers
        .iter()
        .map(|(layer, patch)| (*layer, (*patch).clone()))
        .collect();
    connector.keep_source(text, kept);
    Ok(connector)
}

/// Which layer last set each path of the effective document (for `/meta` provenance): a map
/// from paths (`unified.crm.contacts.list.record_mapping`, `errors.rules[throttled]`) to the
/// layer's name. Paths absent from the map come from the base file; [`provenance_of`] looks
/// one up with that default.
pub fn provenance(layers: &[(OverrideLayer, &Value)]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (layer, patch) in ordered(layers) {
        let mut leaves = Vec::new();
        collect_leaves(patch, "", &mut leaves);
        for path in leaves {
            map.retain(|existing: &String, _| !is_below(existing, &path));
            map.insert(path, layer.as_str().to_owned());
        }
    }
    map
}

/// The layer that last set `path` (or the nearest enclosing path), `base` when none did.
pub fn provenance_of<'a>(map: &'a BTreeMap<String, String>, path: &str) -> &'a str {
    let mut current = path;
    loop {
        if let Some(layer) = map.get(current) {
            return layer;
        }
        match parent(current) {
            Some(up) => current = up,
            None => return "base",
        }
    }
}

fn ordered<'a>(layers: &[(OverrideLayer, &'a Value)]) -> Vec<(OverrideLayer, &'a Value)> {
    let mut sorted = layers.to_vec();
    sorted.sort_by_key(|(layer, _)| layer.rank());
    sorted
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn item_path(path: &str, key: &str) -> String {
    format!("{path}[{key}]")
}

/// Whether `path` lies strictly below `ancestor`.
fn is_below(path: &str, ancestor: &str) -> bool {
    path.strip_prefix(ancestor)
        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

// ---------------------------------------------------------------------------------------------
// Merging
// ---------------------------------------------------------------------------------------------

const REMOVE: &str = "$remove";
const BEFORE: &str = "$before";
const AFTER: &str = "$after";

/// The field keying a list's items at `path`: `name` for `connection_fields`, else `id`.
fn key_field(path: &str) -> &'static str {
    if path == "connection_fields" {
        "name"
    } else {
        "id"
    }
}

/// An item's key: its key field, or for `id`-keyed lists its `use` (a route's default id).
fn item_key<'a>(item: &'a Value, field: &str) -> Option<&'a str> {
    let object = item.as_object()?;
    object.get(field).and_then(Value::as_str).or_else(|| {
        (field == "id")
            .then(|| object.get("use").and_then(Value::as_str))
            .flatten()
    })
}

/// Whether a patch array is a keyed list: non-empty, every item an object with a key.
fn is_keyed(items: &[Value], field: &str) -> bool {
    !items.is_empty() && items.iter().all(|item| item_key(item, field).is_some())
}

fn merge(base: &mut Value, patch: &Value, path: &str) -> Result<(), OverrideError> {
    match patch {
        Value::Object(patch_map) => {
            if !base.is_object() {
                *base = Value::Object(Map::new());
            }
            let Value::Object(base_map) = base else {
                unreachable!("made an object just above");
            };
            for (key, patch_value) in patch_map {
                let child = join(path, key);
                if patch_value.is_null() {
                    base_map.remove(key);
                } else if let Some(base_value) = base_map.get_mut(key) {
                    merge(base_value, patch_value, &child)?;
                } else {
                    let mut fresh = Value::Null;
                    merge(&mut fresh, patch_value, &child)?;
                    base_map.insert(key.clone(), fresh);
                }
            }
            Ok(())
        }
        Value::Array(items) if is_keyed(items, key_field(path)) => {
            if !base.is_array() {
                *base = Value::Array(Vec::new());
            }
            let Value::Array(base_items) = base else {
                unreachable!("made an array just above");
            };
            merge_keyed(base_items, items, path)
        }
        other => {
            *base = other.clone();
            Ok(())
        }
    }
}

fn merge_keyed(base: &mut Vec<Value>, patch: &[Value], path: &str) -> Result<(), OverrideError> {
    let field = key_field(path);
    for item in patch {
        let Some(key) = item_key(item, field) else {
            continue;
        };
        let key = key.to_owned();
        let here = item_path(path, &key);
        let Some(directives) = item.as_object() else {
            continue;
        };
        let mut body = Map::new();
        let mut remove = false;
        let mut anchor: Option<(bool, String)> = None;
        for (name, value) in directives {
            match name.as_str() {
                REMOVE => match value {
                    Value::Bool(flag) => remove = *flag,
                    _ => {
                        return Err(OverrideError::new(
                            &join(&here, REMOVE),
                            "must be true or false",
                        ));
                    }
                },
                BEFORE | AFTER => {
                    let Some(target) = value.as_str() else {
                        return Err(OverrideError::new(
                            &join(&here, name),
                            "must name an item of the list",
                        ));
                    };
                    if anchor.is_some() {
                        return Err(OverrideError::new(
                            &here,
                            "give either `$before` or `$after`, not both",
                        ));
                    }
                    anchor = Some((name == BEFORE, target.to_owned()));
                }
                other if other.starts_with('$') => {
                    return Err(OverrideError::new(
                        &join(&here, other),
                        "unknown directive (use `$remove`, `$before` or `$after`)",
                    ));
                }
                _ => {
                    body.insert(name.clone(), value.clone());
                }
            }
        }
        let existing = base
            .iter()
            .position(|candidate| item_key(candidate, field) == Some(key.as_str()));
        if remove {
            let Some(index) = existing else {
                return Err(OverrideError::new(
                    &here,
                    format!("`$remove` names no item `{key}` of the list"),
                ));
            };
            base.remove(index);
            continue;
        }
        let mut merged = match existing {
            Some(index) => base.remove(index),
            None => Value::Object(Map::new()),
        };
        merge(&mut merged, &Value::Object(body), &here)?;
        let at = match &anchor {
            None => existing.unwrap_or(base.len()),
            Some((before, target)) => {
                let Some(index) = base
                    .iter()
                    .position(|candidate| item_key(candidate, field) == Some(target.as_str()))
                else {
                    let directive = if *before { BEFORE } else { AFTER };
                    return Err(OverrideError::new(
                        &join(&here, directive),
                        format!("names no item `{target}` of the list"),
                    ));
                };
                if *before { index } else { index + 1 }
            }
        };
        base.insert(at, merged);
    }
    Ok(())
}

fn collect_leaves(patch: &Value, path: &str, out: &mut Vec<String>) {
    match patch {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                collect_leaves(value, &join(path, key), out);
            }
        }
        Value::Array(items) if is_keyed(items, key_field(path)) => {
            let field = key_field(path);
            for item in items {
                let Some(key) = item_key(item, field) else {
                    continue;
                };
                let here = item_path(path, key);
                let Some(object) = item.as_object() else {
                    continue;
                };
                let fields: Vec<_> = object
                    .iter()
                    .filter(|(name, _)| !name.starts_with('$') && name.as_str() != field)
                    .collect();
                if object.get(REMOVE) == Some(&Value::Bool(true)) || fields.is_empty() {
                    out.push(here);
                } else {
                    for (name, value) in fields {
                        collect_leaves(value, &join(&here, name), out);
                    }
                }
            }
        }
        _ => out.push(path.to_owned()),
    }
}

// ---------------------------------------------------------------------------------------------
// Guard rails
// ---------------------------------------------------------------------------------------------

/// The first leaf path under `path` in `value` (for naming what a forbidden patch touches).
fn first_leaf(value: &Value, path: &str) -> String {
    match value {
        Value::Object(map) => match map.iter().next() {
            Some((key, child)) => first_leaf(child, &join(path, key)),
            None => path.to_owned(),
        },
        _ => path.to_owned(),
    }
}

fn object_of<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, OverrideError> {
    value
        .as_object()
        .ok_or_else(|| OverrideError::new(path, "must be an object"))
}

fn check_environment(document: &Value, patch: &Value) -> Result<(), OverrideError> {
    let patch = object_of(patch, "")?;
    for forbidden in ["meta", "schema_version"] {
        if let Some(value) = patch.get(forbidden) {
            return Err(OverrideError::new(
                &first_leaf(value, forbidden),
                format!("environment overrides may not change `{forbidden}`"),
            ));
        }
    }
    if let Some(auth) = patch.get("auth") {
        check_environment_auth(auth)?;
    }
    let Some(http) = patch.get("http") else {
        return Ok(());
    };
    let http = object_of(http, "http")?;
    let Some(hosts) = http.get("allowed_hosts") else {
        return Ok(());
    };
    let Value::Array(hosts) = hosts else {
        return Err(OverrideError::new(
            "http.allowed_hosts",
            "environment overrides may only narrow `allowed_hosts` to a list of hosts",
        ));
    };
    let base = origins(document);
    for (index, host) in hosts.iter().enumerate() {
        let path = format!("http.allowed_hosts[{index}]");
        let Some(host) = host.as_str() else {
            return Err(OverrideError::new(&path, "must be a host name"));
        };
        let narrower = OriginPattern::parse(host).map_err(|why| OverrideError::new(&path, why))?;
        if !base.iter().any(|pattern| pattern.covers(&narrower)) {
            return Err(OverrideError::new(
                &path,
                format!(
                    "`{host}` is not allowed by the base `allowed_hosts`; environment overrides may only narrow it"
                ),
            ));
        }
    }
    Ok(())
}

/// What an environment may change in an auth scheme: which scopes Connect asks for, how early
/// tokens are refreshed, and which refusals mean "connect again". Templates (where a secret
/// goes), token and authorisation URLs, captures and the schemes themselves stay the
/// connector file's: a tenant could otherwise send a connection's refresh token as a bearer,
/// or its tokens to another endpoint.
const ENVIRONMENT_AUTH_FIELDS: [&str; 3] =
    ["scopes", "refresh_before_expiry_secs", "invalid_grant_when"];

fn check_environment_auth(auth: &Value) -> Result<(), OverrideError> {
    let refuse = |path: &str| {
        OverrideError::new(
            path,
            format!(
                "environment overrides may change only {} of an existing auth scheme",
                ENVIRONMENT_AUTH_FIELDS
                    .map(|field| format!("`{field}`"))
                    .join(", ")
            ),
        )
    };
    for (key, value) in object_of(auth, "auth")? {
        if key != "schemes" {
            return Err(refuse(&first_leaf(value, &format!("auth.{key}"))));
        }
        for (scheme, fields) in object_of(value, "auth.schemes")? {
            let path = format!("auth.schemes.{scheme}");
            let Value::Object(fields) = fields else {
                return Err(refuse(&path));
            };
            for (field, value) in fields {
                if !ENVIRONMENT_AUTH_FIELDS.contains(&field.as_str()) {
                    return Err(refuse(&first_leaf(value, &format!("{path}.{field}"))));
                }
            }
        }
    }
    Ok(())
}

/// The `allowed_hosts` of `document` that parse (the compiler refuses the others).
fn origins(document: &Value) -> Vec<OriginPattern> {
    document
        .pointer("/http/allowed_hosts")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .filter_map(|entry| OriginPattern::parse(entry).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// After an environment patch touching `http`, the base URL's origin must be allowed, read
/// with the URL parser the HTTP client uses (so `\@` and `user@` tricks read as they are
/// sent).
fn check_base_url_host(merged: &Value, patch: &Value) -> Result<(), OverrideError> {
    let touches = patch
        .get("http")
        .and_then(Value::as_object)
        .is_some_and(|http| http.contains_key("base_url") || http.contains_key("allowed_hosts"));
    if !touches {
        return Ok(());
    }
    let Some(base_url) = merged.pointer("/http/base_url").and_then(Value::as_str) else {
        return Ok(());
    };
    let Some(url) = literal_origin(base_url) else {
        return Ok(());
    };
    if origins(merged).iter().any(|pattern| pattern.matches(&url)) {
        Ok(())
    } else {
        Err(OverrideError::new(
            "http.base_url",
            format!(
                "`{}` is not in `allowed_hosts` (scheme, host and port); environment overrides may not widen the origins a connector reaches",
                url.origin().ascii_serialization()
            ),
        ))
    }
}

/// A base URL's origin when its scheme and authority are written out literally (a template
/// there is checked when a request is sent).
fn literal_origin(url: &str) -> Option<url::Url> {
    let (_, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let start = url.len() - rest.len();
    let head = &url[..start + authority_end];
    if head.contains("{{") {
        return None;
    }
    url::Url::parse(head).ok()
}

const CONNECTION_SCOPE: &str = "connection overrides may change only `vars`, `unified.*`, `discovery.*.ttl_secs`, `http.headers`, bucket capacity/refill and `max_concurrency` (tighter only) and add `errors.rules`";

fn check_connection(document: &Value, patch: &Value) -> Result<(), OverrideError> {
    let patch = object_of(patch, "")?;
    for (key, value) in patch {
        match key.as_str() {
            "vars" | "unified" => {}
            "discovery" => check_connection_discovery(value)?,
            "http" => {
                for (name, child) in object_of(value, "http")? {
                    if name != "headers" {
                        return Err(OverrideError::new(
                            &first_leaf(child, &join("http", name)),
                            CONNECTION_SCOPE,
                        ));
                    }
                }
            }
            "rate_limits" => check_connection_rate_limits(document, value)?,
            "errors" => check_connection_errors(document, value)?,
            other => {
                return Err(OverrideError::new(
                    &first_leaf(value, other),
                    CONNECTION_SCOPE,
                ));
            }
        }
    }
    Ok(())
}

fn check_connection_discovery(value: &Value) -> Result<(), OverrideError> {
    for (object, entry) in object_of(value, "discovery")? {
        let path = join("discovery", object);
        for (name, child) in object_of(entry, &path)? {
            if name != "ttl_secs" {
                return Err(OverrideError::new(
                    &first_leaf(child, &join(&path, name)),
                    CONNECTION_SCOPE,
                ));
            }
        }
    }
    Ok(())
}

fn check_connection_errors(document: &Value, value: &Value) -> Result<(), OverrideError> {
    for (name, child) in object_of(value, "errors")? {
        if name != "rules" {
            return Err(OverrideError::new(
                &first_leaf(child, &join("errors", name)),
                CONNECTION_SCOPE,
            ));
        }
    }
    let Some(rules) = value.get("rules") else {
        return Ok(());
    };
    let Some(rules) = rules.as_array().filter(|rules| is_keyed(rules, "id")) else {
        return Err(OverrideError::new(
            "errors.rules",
            "connection overrides may only add error rules, each with an `id`",
        ));
    };
    let existing: Vec<&str> = document
        .pointer("/errors/rules")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|rule| item_key(rule, "id"))
                .collect()
        })
        .unwrap_or_default();
    for rule in rules {
        let id = item_key(rule, "id").unwrap_or_default();
        if existing.contains(&id) || rule.get(REMOVE).is_some() {
            return Err(OverrideError::new(
                &item_path("errors.rules", id),
                "connection overrides may only add error rules, not change or remove existing ones",
            ));
        }
    }
    Ok(())
}

fn check_connection_rate_limits(document: &Value, value: &Value) -> Result<(), OverrideError> {
    let base = document.get("rate_limits");
    for (name, child) in object_of(value, "rate_limits")? {
        match name.as_str() {
            "max_concurrency" => {
                let base_limit = base
                    .and_then(|limits| limits.get("max_concurrency"))
                    .and_then(Value::as_u64);
                let path = "rate_limits.max_concurrency";
                let Some(limit) = child.as_u64().filter(|limit| *limit > 0) else {
                    return Err(OverrideError::new(
                        path,
                        "connection overrides may only lower `max_concurrency` to a positive number",
                    ));
                };
                if let Some(base_limit) = base_limit
                    && limit > base_limit
                {
                    return Err(OverrideError::new(
                        path,
                        format!(
                            "{limit} exceeds the base's {base_limit}; connection overrides may only lower it"
                        ),
                    ));
                }
            }
            "buckets" => check_connection_buckets(base, child)?,
            other => {
                return Err(OverrideError::new(
                    &first_leaf(child, &join("rate_limits", other)),
                    CONNECTION_SCOPE,
                ));
            }
        }
    }
    Ok(())
}

fn check_connection_buckets(base: Option<&Value>, value: &Value) -> Result<(), OverrideError> {
    let Some(buckets) = value.as_array().filter(|items| is_keyed(items, "id")) else {
        return Err(OverrideError::new(
            "rate_limits.buckets",
            "connection overrides may only tighten existing buckets, named by `id`",
        ));
    };
    let base_buckets = base
        .and_then(|limits| limits.get("buckets"))
        .and_then(Value::as_array);
    for bucket in buckets {
        let id = item_key(bucket, "id").unwrap_or_default();
        let path = item_path("rate_limits.buckets", id);
        let Some(original) =
            base_buckets.and_then(|list| list.iter().find(|item| item_key(item, "id") == Some(id)))
        else {
            return Err(OverrideError::new(
                &path,
                format!(
                    "no bucket `{id}` in the base; connection overrides may only tighten existing buckets"
                ),
            ));
        };
        let mut numbers = BTreeMap::new();
        for (name, field) in object_of(bucket, &path)? {
            match name.as_str() {
                "id" => {}
                "capacity" | "refill_tokens" | "refill_every_ms" => {
                    let Some(number) = field.as_u64() else {
                        return Err(OverrideError::new(
                            &join(&path, name),
                            "must be a whole number",
                        ));
                    };
                    numbers.insert(name.as_str(), number);
                }
                _ => {
                    return Err(OverrideError::new(&join(&path, name), CONNECTION_SCOPE));
                }
            }
        }
        let old = |name: &str| original.get(name).and_then(Value::as_u64).unwrap_or(0);
        let new = |name: &str| numbers.get(name).copied().unwrap_or_else(|| old(name));
        if let Some(capacity) = numbers.get("capacity")
            && *capacity > old("capacity")
        {
            return Err(OverrideError::new(
                &join(&path, "capacity"),
                format!(
                    "{capacity} exceeds the base's {}; connection overrides may only tighten rate limits",
                    old("capacity")
                ),
            ));
        }
        if numbers.contains_key("refill_tokens") || numbers.contains_key("refill_every_ms") {
            let field = if numbers.contains_key("refill_tokens") {
                "refill_tokens"
            } else {
                "refill_every_ms"
            };
            // A sliding window leaves `refill_tokens` out: it gives back its capacity.
            let or_capacity =
                |tokens: u64, capacity: u64| if tokens == 0 { capacity } else { tokens };
            let tokens = or_capacity(new("refill_tokens"), new("capacity"));
            let old_tokens = or_capacity(old("refill_tokens"), old("capacity"));
            let (every, old_every) = (new("refill_every_ms"), old("refill_every_ms"));
            // tokens / every <= old_tokens / old_every, in integers.
            let faster = u128::from(tokens) * u128::from(old_every)
                > u128::from(old_tokens) * u128::from(every);
            if every == 0 || faster {
                return Err(OverrideError::new(
                    &join(&path, field),
                    format!(
                        "refill of {tokens} per {every} ms is faster than the base's {old_tokens} per {old_every} ms; connection overrides may only tighten rate limits"
                    ),
                ));
            }
        }
    }
    Ok(())
}
