//! Inbound webhooks' rows (issue 17, vendors calling Crosswalk): each connection's ingress (the
//! hash of the unguessable token in its URL and the sealed secret deliveries are verified
//! with), the inbox of accepted deliveries, the vendor event ids seen (kept 7 days, so a
//! duplicate is dropped), and the sampled verification failures.
//!
//! The ingress route writes a delivery and its processing job in one transaction
//! ([`crate::Store::accept_webhook`]) and answers; the processing job reads the inbox. Verifying
//! and reading deliveries is the connector's; fetching records and applying them is the job's.

use chrono::{DateTime, Utc};
use secrets::Sealed;
use serde_json::Value;

use crate::{ConnectionId, EnvironmentId, NewJob};

/// How long a vendor event id is remembered: a duplicate within it is dropped.
pub const WEBHOOK_EVENT_ID_DAYS: i64 = 7;

/// A connection's ingress as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookIngress {
    pub connection_id: ConnectionId,
    pub environment_id: EnvironmentId,
    /// The connection's provider, so a delivery needs no connection read to find its connector.
    pub provider: String,
    /// SHA-256 (hex) of the token in the ingress URL; the token itself is never stored.
    pub token_hash: String,
    /// The secret deliveries are verified with, sealed.
    pub secret: Option<Sealed>,
    pub created_at: DateTime<Utc>,
    /// When the last accepted delivery arrived.
    pub last_received_at: Option<DateTime<Utc>>,
    /// Deliveries refused since the ingress was made.
    pub failures: u64,
    pub last_failure_at: Option<DateTime<Utc>>,
    /// The last refusal's code (`bad_signature`, `stale_timestamp`, …).
    pub last_failure: Option<String>,
}

/// A delivery to accept.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInboxEntry {
    pub connection_id: ConnectionId,
    pub environment_id: EnvironmentId,
    pub method: String,
    /// The URL the vendor called.
    pub uri: String,
    /// Header names and values as received (a JSON array of `[name, value]` pairs).
    pub headers: Value,
    /// The raw body.
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
    /// The job that processes it (at most one live per connection, by its key).
    pub job: NewJob,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxStatus {
    /// Accepted, not processed yet.
    Pending,
    /// Its events were read and their records fetched and applied.
    Processed,
    /// Processing failed for good (`error` says why).
    Failed,
}

impl InboxStatus {
    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            InboxStatus::Pending => "pending",
            InboxStatus::Processed => "processed",
            InboxStatus::Failed => "failed",
        }
    }

    /// Parses a stored status.
    pub fn parse(text: &str) -> Option<InboxStatus> {
        [
            InboxStatus::Pending,
            InboxStatus::Processed,
            InboxStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// An accepted delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEntry {
    /// Increasing in the order deliveries were accepted.
    pub id: i64,
    pub connection_id: ConnectionId,
    pub environment_id: EnvironmentId,
    pub method: String,
    pub uri: String,
    pub headers: Value,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub status: InboxStatus,
    /// Events it named that were new.
    pub events: u64,
    /// Events it named that were seen before (dropped).
    pub duplicates: u64,
    pub error: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
}

/// How a delivery's processing ended, to record with [`crate::Store::finish_webhook_inbox`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxOutcome {
    pub status: InboxStatus,
    pub events: u64,
    pub duplicates: u64,
    pub error: Option<String>,
}

/// A refused delivery, as sampled.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VerificationFailure {
    pub connection_id: ConnectionId,
    pub at: DateTime<Utc>,
    /// The refusal's code (`bad_signature`, …).
    pub code: String,
    /// What failed, naming no secret.
    pub detail: String,
}
