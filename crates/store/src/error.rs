//! Errors at the store boundary: what a [`crate::Store`] call or an id parse can fail with.
//!
//! `NotFound` is its own variant so callers match on it (and answer 404) instead of on strings.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist, or exists in another environment than the one asked through.
    #[error("not found")]
    NotFound,
    /// The write collides with an existing row (a repeated id or API key hash).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database failed: unreachable, timed out, or rejected the statement.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored row cannot be read back into its type (bad id, envelope, status or JSON).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Wraps a backend's error as [`StoreError::Database`].
    pub fn database(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        StoreError::Database(error.into())
    }
}

/// Why a string is not a valid id or API key hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} `{value}`: expected `{prefix}` followed by {digits} lowercase hex digits")]
pub struct IdError {
    /// What was being parsed, e.g. `connection id`.
    pub kind: &'static str,
    /// The prefix the value should start with (empty for hashes).
    pub prefix: &'static str,
    /// How many hex digits should follow the prefix.
    pub digits: usize,
    /// The rejected input.
    pub value: String,
}
