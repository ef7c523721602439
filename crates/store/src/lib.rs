//! The Store trait, its row types and errors, and the conformance suite every backend passes.
//!
//! Crosswalk keeps environments with their branding, hashed API keys, connections with sealed
//! credentials and refresh leases, a cache of discovered fields per connection, OAuth app
//! credentials, Connect sessions, single-use OAuth states, an audit trail of events, the
//! versioned connector overrides of environments and connections, a durable job queue, the
//! record store and change feed of syncs, outbound webhook endpoints with their outbox and
//! messages, and the kept answers of writes made with an
//! idempotency key.
//! [`Store`] is the one interface to that data; `store-sqlite` and `store-postgres` implement it
//! and both pass the conformance suite (the `conformance` feature), so callers can hold an `Arc<dyn Store>` and not care
//! which backend is behind it.
//! This crate holds no SQL and never sees plaintext credentials: [`Connection::credentials`] is a
//! [`secrets::Sealed`] envelope that the caller sealed before handing it over.

mod api_key;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod idempotency;
mod ids;
mod inbound;
mod jobs;
mod page;
mod rows;
mod store;
mod synced;
pub mod timestamp;
mod webhooks;

pub use api_key::{API_KEY_PREFIX_LEN, ApiKeyHash, api_key_prefix, generate_api_key};
pub use error::{IdError, StoreError};
pub use idempotency::{IdempotencyClaim, IdempotencyScope, StoredAnswer};
pub use ids::{
    ApiKeyId, ConnectionId, EnvironmentId, EventId, JobId, WebhookEndpointId, WebhookMessageId,
};
pub use inbound::{
    InboxEntry, InboxOutcome, InboxStatus, NewInboxEntry, VerificationFailure,
    WEBHOOK_EVENT_ID_DAYS, WebhookIngress,
};
pub use jobs::{Job, JobControl, JobOutcome, JobStatus, NewJob};
pub use page::{Cursor, CursorError, Page, PageRequest};
pub use rows::{
    ApiKey, Branding, ConnectSession, Connection, ConnectionStatus, ConnectionUpdate,
    DiscoveredFields, Environment, Event, KeyPermissions, NewApiKey, NewConnection, NewEvent,
    OAuthApp, OAuthState, OverrideScope, OverrideVersion, PurgedSessions, SessionCompletion,
};
pub use store::{OVERRIDE_VERSIONS_KEPT, Store};
pub use synced::{
    AppliedPage, Change, ChangeKind, SeenBy, SyncPage, SyncPhase, SyncProgress, SyncState,
    SyncStatus, SyncedInput, SyncedRecord,
};
pub use webhooks::{
    MessageNext, MessageStatus, NewWebhookEndpoint, ReplaySelection, WebhookAttempt,
    WebhookAttemptRow, WebhookEndpoint, WebhookMessage, changed_fields, is_webhook_event,
    message_data,
};
