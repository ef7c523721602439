//! Idempotency keys: the first answer to a write made with an `Idempotency-Key`, kept so that a
//! retry with the same key gets the same answer instead of writing again.
//!
//! This module holds the row types only; what a key means on the HTTP side (the header, the
//! fingerprint of the request, which answers are kept) is the server's business.

use serde_json::Value;

use crate::EnvironmentId;

/// What one idempotency key is scoped to: the caller's environment, the connection, the HTTP
/// method and path of the write, and the key the caller chose. The same key on another
/// connection, method or path is another key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyScope {
    pub environment_id: EnvironmentId,
    /// The connection as the caller named it.
    pub connection_id: String,
    /// `POST`, `PATCH`, …
    pub method: String,
    /// The request path, without the query.
    pub path: String,
    /// The caller's `Idempotency-Key`.
    pub key: String,
}

/// A kept answer: its status code and JSON body (`Null` for an empty body).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: Value,
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyClaim {
    /// The key was free (never used, or expired): the caller holds it and runs the request.
    Claimed,
    /// A request with this key and the same fingerprint is running now.
    InFlight,
    /// A request with this key and the same fingerprint was answered: here is its answer.
    Answered(StoredAnswer),
    /// The key was used with another request (its fingerprint differs).
    Mismatch,
}
