//! The effective connector of a connection: the base file with its environment's and its own
//! current override layers. Each call reads only the current version numbers (one small read,
//! so a saved override is effective at once, in every process); documents are read once per
//! version and connectors compiled once per versions, both in bounded caches.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use connector::{Connector, OverrideLayer};
use serde_json::Value;
use store::{ConnectionId, EnvironmentId, OverrideScope, OverrideVersion, Store};

use crate::OpError;

/// How many effective connectors (base plus override versions) a process keeps compiled; the
/// least recently used one is compiled again when next needed.
const CAPACITY: usize = 1_024;

/// A connector as it applies to one connection (or, without one, to its environment).
#[derive(Debug, Clone)]
pub struct Effective {
    /// The base with the override layers applied.
    pub connector: Connector,
    /// The layers applied, for provenance.
    pub layers: Vec<(OverrideLayer, Value)>,
    /// What the connector is made of: its revision and the override versions
    /// (`2026.12.2;e3;c1`), so a cursor or a cache entry can tell when it changed.
    pub version_key: String,
}

/// Compiled effective connectors and the override versions they are made of, least recently
/// used evicted first.
#[derive(Debug)]
pub struct EffectiveConnectors {
    cache: Mutex<lru::LruCache<String, Connector>>,
    /// Override versions by scope and number; a version never changes once written.
    versions: Mutex<lru::LruCache<(OverrideScope, u32), OverrideVersion>>,
}

impl Default for EffectiveConnectors {
    fn default() -> EffectiveConnectors {
        EffectiveConnectors::with_capacity(CAPACITY)
    }
}

impl EffectiveConnectors {
    /// A cache of at most `capacity` compiled connectors.
    pub fn with_capacity(capacity: usize) -> EffectiveConnectors {
        EffectiveConnectors {
            cache: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(capacity.max(1)).expect("at least one"),
            )),
            versions: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(capacity.max(1)).expect("at least one"),
            )),
        }
    }

    /// The compiled connector of `key`, built by `build` when it is not kept.
    fn get_or_build(
        &self,
        key: &str,
        build: impl FnOnce() -> Result<Connector, OpError>,
    ) -> Result<Connector, OpError> {
        if let Some(cached) = self.cache.lock().expect("never poisoned").get(key) {
            return Ok(cached.clone());
        }
        let built = build()?;
        self.cache
            .lock()
            .expect("never poisoned")
            .put(key.to_owned(), built.clone());
        Ok(built)
    }

    /// Version `number` of `scope`'s override, read from the store the first time only.
    async fn version(
        &self,
        store: &dyn Store,
        scope: OverrideScope,
        number: u32,
    ) -> Result<OverrideVersion, OpError> {
        let key = (scope, number);
        if let Some(kept) = self.versions.lock().expect("never poisoned").get(&key) {
            return Ok(kept.clone());
        }
        let (scope, number) = key;
        let read = match store.get_override_version(&scope, number).await {
            Ok(read) => read,
            // Pruned (or superseded) since the numbers were read: take the current one.
            Err(store::StoreError::NotFound) => store
                .current_override(&scope)
                .await?
                .ok_or_else(|| OpError::NotFound("override".to_owned()))?,
            Err(other) => return Err(other.into()),
        };
        self.versions
            .lock()
            .expect("never poisoned")
            .put((scope, read.version), read.clone());
        Ok(read)
    }

    /// Resolves `base` for `environment_id` (and `connection_id` when given) with the current
    /// override layers.
    ///
    /// # Errors
    /// `OverrideInvalid` when a stored layer no longer applies; store failures.
    pub async fn resolve(
        &self,
        store: &dyn Store,
        base: &Connector,
        environment_id: &EnvironmentId,
        connection_id: Option<&ConnectionId>,
    ) -> Result<Effective, OpError> {
        let provider = base.id().to_owned();
        let (environment_version, own_version) = store
            .current_override_versions(environment_id, &provider, connection_id)
            .await?;
        let environment = match environment_version {
            Some(version) => {
                let scope = OverrideScope::environment(environment_id.clone(), provider.clone());
                Some(self.version(store, scope, version).await?)
            }
            None => None,
        };
        let own = match (own_version, connection_id) {
            (Some(version), Some(connection_id)) => {
                let scope = OverrideScope::connection(
                    environment_id.clone(),
                    provider.clone(),
                    connection_id.clone(),
                );
                Some(self.version(store, scope, version).await?)
            }
            _ => None,
        };
        let mut layers = Vec::new();
        let mut version_key = base.file().meta.revision.clone();
        let mut cache_key = format!("{environment_id}:{provider}:{version_key}");
        if let Some(version) = &environment
            && let Some(document) = &version.document
        {
            layers.push((OverrideLayer::Environment, document.clone()));
            version_key.push_str(&format!(";e{}", version.version));
            cache_key.push_str(&format!(":e{}", version.version));
        }
        if let Some(version) = &own
            && let Some(document) = &version.document
            && let Some(connection_id) = connection_id
        {
            layers.push((OverrideLayer::Connection, document.clone()));
            version_key.push_str(&format!(";c{}", version.version));
            cache_key.push_str(&format!(":c{connection_id}:{}", version.version));
        }
        if layers.is_empty() {
            return Ok(Effective {
                connector: base.clone(),
                layers,
                version_key,
            });
        }
        let connector = self.get_or_build(&cache_key, || {
            let refs: Vec<(OverrideLayer, &Value)> =
                layers.iter().map(|(layer, doc)| (*layer, doc)).collect();
            base.with_layers(&refs).map_err(|error| {
                crate::override_check::request_error(
                    base,
                    environment.as_ref(),
                    own.as_ref(),
                    &error,
                )
            })
        })?;
        Ok(Effective {
            connector,
            layers,
            version_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::EffectiveConnectors;

    fn acme() -> connector::Connector {
        connector::load_connector_from_str(
            "acme.yaml",
            r#"
schema_version: 1
meta: { id: acme, label: Acme, categories: [crm], revision: "1" }
auth:
  schemes:
    token: { kind: bearer, token: "{{credentials.token}}" }
http:
  base_url: https://api.acme.test
  allowed_hosts: [api.acme.test]
resources:
  contacts:
    list: { http_method: GET, path: /contacts, records: results }
unified:
  crm.contacts:
    list:
      routes:
        - use: contacts.list
      record_mapping: "{'id': id}"
"#,
            None,
        )
        .expect("loads")
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_what_is_used() {
        let cache = EffectiveConnectors::with_capacity(3);
        let base = acme();
        let mut builds = 0;
        for key in ["hot", "a", "hot", "b", "hot", "c", "hot", "d"] {
            cache
                .get_or_build(key, || {
                    builds += 1;
                    Ok(base.clone())
                })
                .expect("builds");
        }
        assert_eq!(
            cache.cache.lock().expect("never poisoned").len(),
            3,
            "never more than its capacity"
        );
        // `hot` was used between every insert: it was never evicted, so built once.
        assert_eq!(builds, 5, "hot once, a, b, c, d once each");
        cache
            .get_or_build("hot", || panic!("hot is still cached"))
            .expect("cached");
    }
}
