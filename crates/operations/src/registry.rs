//! The loaded connectors, by provider id.

use std::collections::BTreeMap;

use connector::Connector;

/// Connectors the server serves, by provider id.
#[derive(Debug, Default)]
pub struct ConnectorRegistry {
    by_id: BTreeMap<String, Connector>,
}

impl ConnectorRegistry {
    /// A registry of `connectors` (a later one with the same id replaces an earlier one).
    pub fn new(connectors: impl IntoIterator<Item = Connector>) -> ConnectorRegistry {
        ConnectorRegistry {
            by_id: connectors
                .into_iter()
                .map(|connector| (connector.id().to_owned(), connector))
                .collect(),
        }
    }

    /// The connector of `provider`.
    pub fn get(&self, provider: &str) -> Option<&Connector> {
        self.by_id.get(provider)
    }

    /// Provider ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.by_id.keys().map(String::as_str)
    }
}
