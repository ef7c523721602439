//! Outbound webhooks' rows (issue 17): an environment's endpoints, the outbox, the messages fanned
//! out to each endpoint, and the attempts at delivering them.
//!
//! The outbox is written in the transaction of what it announces: [`crate::Store::apply_sync_page`]
//! writes one row per change, and every `connection.*` or `sync.*` event is written with one, so
//! there is no event without a committed change and no committed change without its event. It is
//! written only while the environment has an endpoint. A delivery job moves outbox rows into one
//! message per matching endpoint ([`crate::Store::fan_out_webhook_outbox`]), under the
//! environment's lock, so each endpoint's messages of one record are numbered in commit order.
//! Signing, HTTP and the retry schedule are the `webhooks` crate's; this module only keeps state.

use chrono::{DateTime, Utc};
use secrets::Sealed;
use serde_json::Value;

use crate::{ConnectionId, EnvironmentId, NewEvent, WebhookEndpointId, WebhookMessageId};

/// An endpoint to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWebhookEndpoint {
    pub environment_id: EnvironmentId,
    pub url: String,
    pub description: Option<String>,
    /// The event types it receives; empty for every type.
    pub event_types: Vec<String>,
    /// The connections whose events it receives; empty for every connection.
    pub connection_ids: Vec<ConnectionId>,
    /// Whether change events carry the unified record.
    pub include_record: bool,
    pub enabled: bool,
    /// The signing secret, sealed by the caller.
    pub secret: Sealed,
}

/// An endpoint as stored. Its secrets are sealed envelopes, whose `Debug` shows no key material.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub environment_id: EnvironmentId,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub connection_ids: Vec<ConnectionId>,
    pub include_record: bool,
    pub enabled: bool,
    /// Why it was disabled (`gone`: it answered 410; `failing`: it failed for 5 days; `api`).
    pub disabled_reason: Option<String>,
    pub secret: Sealed,
    /// The secret before the last rotation, which deliveries also sign with until
    /// `previous_secret_until`.
    pub previous_secret: Option<Sealed>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// When its current run of failed attempts began; `None` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    /// Whether the endpoint wants events of `event_type` about `connection_id`.
    pub fn wants(&self, event_type: &str, connection_id: Option<&ConnectionId>) -> bool {
        let type_matches = self.event_types.is_empty()
            || self.event_types.iter().any(|wanted| {
                wanted == event_type
                    || wanted
                        .strip_suffix('*')
                        .is_some_and(|prefix| event_type.starts_with(prefix))
            });
        let connection_matches = self.connection_ids.is_empty()
            || connection_id.is_some_and(|id| self.connection_ids.contains(id));
        type_matches && connection_matches
    }
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Waiting for its next attempt (or for the message before it of the same record).
    Pending,
    /// The endpoint took it (2xx).
    Delivered,
    /// Out of attempts, or refused for good: a dead letter, replayable.
    Dead,
}

impl MessageStatus {
    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Dead => "dead",
        }
    }

    /// Parses a stored status.
    pub fn parse(text: &str) -> Option<MessageStatus> {
        [
            MessageStatus::Pending,
            MessageStatus::Delivered,
            MessageStatus::Dead,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// One event to one endpoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WebhookMessage {
    /// The `webhook-id` every attempt carries.
    pub id: WebhookMessageId,
    pub endpoint_id: WebhookEndpointId,
    pub environment_id: EnvironmentId,
    pub event_type: String,
    /// Messages of one key (one record, or one connection's events) are delivered in `seq`
    /// order: a message is tried only once every earlier pending one of its key is settled.
    pub ordering_key: String,
    pub seq: u64,
    /// The change feed number of the change it announces, if it announces one.
    pub change_seq: Option<u64>,
    /// The exact body sent and signed.
    pub body: String,
    pub status: MessageStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What follows an attempt at a message.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageNext {
    /// Delivered: the endpoint's failing streak ends.
    Delivered,
    /// Tried again at this time.
    RetryAt(DateTime<Utc>),
    /// A dead letter.
    Dead,
    /// Left pending at its next attempt time, not counted (the endpoint was disabled meanwhile).
    Unchanged,
}

/// One attempt at delivering a message, and what follows it, to record at once.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookAttempt {
    pub environment_id: EnvironmentId,
    pub endpoint_id: WebhookEndpointId,
    pub message_id: WebhookMessageId,
    /// The message's attempt number (1 for the first).
    pub attempt: u32,
    pub status_code: Option<u16>,
    /// Why it failed, in words (never a secret or the body).
    pub error: Option<String>,
    pub duration_ms: u64,
    pub at: DateTime<Utc>,
    pub next: MessageNext,
    /// Disables the endpoint with this reason and records the event, in the same transaction.
    pub disable: Option<(String, NewEvent)>,
}

/// An attempt as listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WebhookAttemptRow {
    pub id: u64,
    pub endpoint_id: WebhookEndpointId,
    pub message_id: WebhookMessageId,
    pub attempt: u32,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
    pub created_at: DateTime<Utc>,
}

/// Which dead letters of an endpoint to send again.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplaySelection {
    /// One message.
    Message(WebhookMessageId),
    /// Those created in `[from, to)`.
    Between(DateTime<Utc>, DateTime<Utc>),
    /// Those announcing changes numbered after this change feed cursor.
    AfterChange(u64),
}

/// What an outbox row becomes: the message body's `data` for an endpoint.
pub fn message_data(data: &Value, record: Option<&Value>, include_record: bool) -> Value {
    let mut data = data.clone();
    if include_record && let (Some(record), Some(object)) = (record, data.as_object_mut()) {
        object.insert("record".to_owned(), record.clone());
    }
    data
}

/// Whether events of this kind go to webhooks (`connection.*` and `sync.*`).
pub fn is_webhook_event(kind: &str) -> bool {
    kind.starts_with("connection.") || kind.starts_with("sync.")
}

/// The top-level fields whose values differ between two unified records (every field of the
/// newer one when there is no older one), sorted.
pub fn changed_fields(before: Option<&Value>, after: Option<&Value>) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = before.and_then(Value::as_object).unwrap_or(&empty);
    let after = after.and_then(Value::as_object).unwrap_or(&empty);
    let mut fields: Vec<String> = after
        .iter()
        .filter(|(name, value)| before.get(name.as_str()) != Some(value))
        .map(|(name, _)| name.clone())
        .chain(
            before
                .keys()
                .filter(|name| !after.contains_key(name.as_str()))
                .cloned(),
        )
        .collect();
    fields.sort();
    fields.dedup();
    fields
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changed_fields_names_added_changed_and_removed_fields() {
        let before = json!({"a": 1, "b": 2, "c": 3});
        let after = json!({"a": 1, "b": 5, "d": 4});
        assert_eq!(
            changed_fields(Some(&before), Some(&after)),
            vec!["b", "c", "d"]
        );
        assert_eq!(changed_fields(None, Some(&json!({"x": 1}))), vec!["x"]);
    }

    #[test]
    fn the_record_is_added_only_when_asked() {
        let data = json!({"id": "1"});
        let record = json!({"email": "a@b"});
        assert_eq!(message_data(&data, Some(&record), false), data);
        assert_eq!(
            message_data(&data, Some(&record), true),
            json!({"id": "1", "record": {"email": "a@b"}})
        );
    }
}
