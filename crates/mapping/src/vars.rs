//! Variables bound as `$name` in an evaluation, built once and reused for many evaluations.
//!
//! A connector binds the same variables (the connection's settings, a page's context) for
//! every record of a page, so `Vars` keeps, beside the plain values, the engine's prepared
//! form of them, built on first use and dropped when a variable changes. Evaluating then
//! costs no copy of the bound values.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

/// Variables bound as `$name` (names are given without the `$`).
///
/// Cloning is cheap: the values and the prepared bindings are shared until one side changes.
#[derive(Clone, Default)]
pub struct Vars {
    values: Arc<BTreeMap<String, Value>>,
    /// The default engine's bindings for `values`, native functions included.
    prepared: OnceLock<Arc<jlens_core::Bindings>>,
    /// Whether a binding has the name of one of our engine's built-in functions, once asked.
    names_builtin: OnceLock<bool>,
}

impl Vars {
    /// Creates an empty set of variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the set with `$name` bound to `value`, replacing an earlier binding.
    #[must_use]
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.insert(name, value);
        self
    }

    /// Binds `$name` to `value`, replacing an earlier binding.
    pub fn insert(&mut self, name: &str, value: Value) {
        Arc::make_mut(&mut self.values).insert(name.to_owned(), value);
        self.prepared = OnceLock::new();
        self.names_builtin = OnceLock::new();
    }

    /// Returns the value bound to `$name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// Iterates over the bindings, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }

    /// Returns the number of bindings.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Returns whether no variable is bound.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Returns the prepared bindings, building them with `build` on first use.
    pub(crate) fn prepared(
        &self,
        build: impl FnOnce(&Vars) -> jlens_core::Bindings,
    ) -> &jlens_core::Bindings {
        self.prepared.get_or_init(|| Arc::new(build(self)))
    }

    /// Whether a binding has the name of a built-in function (answered by `ask` on first use,
    /// remembered until a variable changes).
    pub(crate) fn names_builtin(&self, ask: impl FnOnce(&Vars) -> bool) -> bool {
        *self.names_builtin.get_or_init(|| ask(self))
    }
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.values.iter()).finish()
    }
}

impl FromIterator<(String, Value)> for Vars {
    fn from_iter<T: IntoIterator<Item = (String, Value)>>(iter: T) -> Self {
        Vars {
            values: Arc::new(iter.into_iter().collect()),
            prepared: OnceLock::new(),
            names_builtin: OnceLock::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn with_insert_and_get() {
        let mut vars = Vars::new().with("a", json!(1)).with("b", json!("x"));
        vars.insert("a", json!(2));
        assert_eq!(vars.get("a"), Some(&json!(2)));
        assert_eq!(vars.get("b"), Some(&json!("x")));
        assert_eq!(vars.get("c"), None);
        assert_eq!(vars.len(), 2);
        assert_eq!(format!("{vars:?}"), r#"{"a": Number(2), "b": String("x")}"#);
    }

    #[test]
    fn insert_drops_prepared_bindings() {
        let mut vars = Vars::new().with("a", json!(1));
        let first = vars.prepared(|v| jlens_core::Bindings::new().var("n", v.len()));
        assert_eq!(first.get("n"), Some(&json!(1)));
        vars.insert("b", json!(2));
        let second = vars.prepared(|v| jlens_core::Bindings::new().var("n", v.len()));
        assert_eq!(second.get("n"), Some(&json!(2)));
    }

    #[test]
    fn clones_share_prepared_bindings() {
        let vars = Vars::new().with("a", json!(1));
        let first: *const jlens_core::Bindings = vars.prepared(|_| jlens_core::Bindings::new());
        let clone = vars.clone();
        let second: *const jlens_core::Bindings =
            clone.prepared(|_| jlens_core::Bindings::new().var("rebuilt", true));
        assert!(std::ptr::eq(first, second));
    }
}
