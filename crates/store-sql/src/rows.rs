//! Reading rows into the store's types, once for every dialect: each column read either gives
//! its value or says which column is corrupt and why.

use chrono::{DateTime, Utc};
use secrets::Sealed;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Database, Decode, Row, Type};
use store::{
    ApiKey, Branding, Change, ChangeKind, ConnectSession, Connection, ConnectionStatus,
    DiscoveredFields, Environment, Event, IdError, Job, JobStatus, OAuthApp, OAuthState,
    OverrideScope, OverrideVersion, StoreError, SyncPhase, SyncProgress, SyncStatus, SyncedRecord,
};
use store::{ConnectionId, MessageStatus, WebhookAttemptRow, WebhookEndpoint, WebhookMessage};

use crate::{Dialect, read_error};

/// The column lists the mappers below read, for `SELECT` and `RETURNING`.
pub(crate) const API_KEY_COLUMNS: &str = "id, environment_id, prefix, name, created_at, expires_at, revoked_at, last_used_at, \
     connection_ids, read_only, allow_deletes";

pub(crate) const CONNECTION_COLUMNS: &str = "id, environment_id, provider, status, account, \
     credentials, credentials_expires_at, created_at, updated_at";
pub(crate) const CONNECT_SESSION_COLUMNS: &str = "token_hash, environment_id, end_user_id, \
     provider, redirect_url, connection_id, expires_at, created_at, consumed_at, oauth_starts";
pub(crate) const OAUTH_STATE_COLUMNS: &str = "state_hash, environment_id, provider, scheme, \
     session_token_hash, code_verifier, redirect_uri, connection_id, expires_at, created_at";
pub(crate) const OAUTH_APP_COLUMNS: &str =
    "environment_id, provider, client_id, client_secret, redirect_uris, scopes, updated_at";
pub(crate) const EVENT_COLUMNS: &str =
    "id, environment_id, connection_id, kind, payload, created_at";
pub(crate) const JOB_COLUMNS: &str = "id, environment_id, connection_id, kind, key, payload, \
     status, run_at, attempts, max_attempts, lease_holder, lease_until, fence, last_error, \
     created_at, updated_at";
pub(crate) const CHANGE_COLUMNS: &str =
    "seq, environment_id, connection_id, object, remote_id, kind, record, created_at";
pub(crate) const SYNCED_RECORD_COLUMNS: &str =
    "connection_id, object, remote_id, record, hash, deleted, seq, updated_at";
pub(crate) const SYNC_PROGRESS_COLUMNS: &str = "connection_id, object, checkpoint, pages, \
     created, updated, deleted, updated_at, status, phase, last_error";
pub(crate) const WEBHOOK_ENDPOINT_COLUMNS: &str = "id, environment_id, url, description, \
     event_types, connection_ids, include_record, enabled, disabled_reason, secret, \
     previous_secret, previous_secret_until, failing_since, created_at, updated_at";
pub(crate) const WEBHOOK_MESSAGE_COLUMNS: &str = "id, endpoint_id, environment_id, event_type, \
     ordering_key, seq, change_seq, body, status, attempts, next_attempt_at, last_error, \
     created_at, updated_at";
pub(crate) const WEBHOOK_ATTEMPT_COLUMNS: &str =
    "id, endpoint_id, message_id, attempt, status_code, error, duration_ms, created_at";
pub(crate) const WEBHOOK_INGRESS_COLUMNS: &str = "connection_id, environment_id, provider, \
     token_hash, secret, created_at, last_received_at, failures, last_failure_at, last_failure";
pub(crate) const WEBHOOK_INBOX_COLUMNS: &str = "id, connection_id, environment_id, method, uri, \
     headers, body, received_at, status, events, duplicates, error, processed_at";
pub(crate) const WEBHOOK_FAILURE_COLUMNS: &str = "connection_id, at, code, detail";
pub(crate) const OVERRIDE_COLUMNS: &str =
    "environment_id, provider, connection_id, version, document, revision, created_at";

/// One row of a dialect's database, read column by column.
pub(crate) struct Columns<'r, D: Dialect>(pub(crate) &'r <D::Db as Database>::Row);

impl<'r, D: Dialect> Columns<'r, D>
where
    for<'n> &'n str: ColumnIndex<<D::Db as Database>::Row>,
    String: Decode<'r, D::Db> + Type<D::Db>,
    i64: Decode<'r, D::Db> + Type<D::Db>,
    Vec<u8>: Decode<'r, D::Db> + Type<D::Db>,
    Json<Value>: Decode<'r, D::Db> + Type<D::Db>,
    Json<Vec<String>>: Decode<'r, D::Db> + Type<D::Db>,
{
    fn get<T: Decode<'r, D::Db> + Type<D::Db>>(&self, name: &str) -> Result<T, StoreError> {
        self.0.try_get(name).map_err(read_error)
    }

    fn corrupt(name: &str, why: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(format!("`{name}`: {why}"))
    }

    pub(crate) fn text(&self, name: &str) -> Result<String, StoreError> {
        self.get(name)
    }

    pub(crate) fn optional_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.get(name)
    }

    fn id<T: TryFrom<String, Error = IdError>>(&self, name: &str) -> Result<T, StoreError> {
        T::try_from(self.text(name)?).map_err(|error| Self::corrupt(name, error))
    }

    fn optional_id<T: TryFrom<String, Error = IdError>>(
        &self,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        self.optional_text(name)?
            .map(|value| T::try_from(value).map_err(|error| Self::corrupt(name, error)))
            .transpose()
    }

    fn to_time(name: &str, stored: D::Time) -> Result<DateTime<Utc>, StoreError> {
        D::read_time(stored).ok_or_else(|| Self::corrupt(name, "the time is out of range"))
    }

    pub(crate) fn time(&self, name: &str) -> Result<DateTime<Utc>, StoreError> {
        Self::to_time(name, self.get(name)?)
    }

    fn optional_time(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.get::<Option<D::Time>>(name)?
            .map(|stored| Self::to_time(name, stored))
            .transpose()
    }

    fn sealed(&self, name: &str) -> Result<Sealed, StoreError> {
        Sealed::from_bytes(&self.get::<Vec<u8>>(name)?).map_err(|error| Self::corrupt(name, error))
    }

    fn optional_sealed(&self, name: &str) -> Result<Option<Sealed>, StoreError> {
        self.get::<Option<Vec<u8>>>(name)?
            .map(|bytes| Sealed::from_bytes(&bytes).map_err(|error| Self::corrupt(name, error)))
            .transpose()
    }

    fn json(&self, name: &str) -> Result<Value, StoreError> {
        Ok(self.get::<Json<Value>>(name)?.0)
    }

    fn optional_json(&self, name: &str) -> Result<Option<Value>, StoreError> {
        Ok(self.get::<Option<Json<Value>>>(name)?.map(|json| json.0))
    }

    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.get::<Json<Vec<String>>>(name)?.0)
    }

    fn optional_strings(&self, name: &str) -> Result<Option<Vec<String>>, StoreError> {
        Ok(self
            .get::<Option<Json<Vec<String>>>>(name)?
            .map(|json| json.0))
    }

    /// A non-negative integer that must fit `T` (a fence, a version).
    pub(crate) fn count<T: TryFrom<i64>>(&self, name: &str) -> Result<T, StoreError> {
        let value: i64 = self.get(name)?;
        T::try_from(value).map_err(|_| Self::corrupt(name, format!("`{value}` is out of range")))
    }

    /// A kept idempotent answer, or `None` while its request is in flight.
    pub(crate) fn stored_answer(&self) -> Result<Option<store::StoredAnswer>, StoreError> {
        let Some(status) = self.get::<Option<i64>>("status")? else {
            return Ok(None);
        };
        let status = u16::try_from(status)
            .map_err(|_| Self::corrupt("status", format!("`{status}` is out of range")))?;
        Ok(Some(store::StoredAnswer {
            status,
            body: self.optional_json("body")?.unwrap_or(Value::Null),
        }))
    }

    pub(crate) fn environment(&self) -> Result<Environment, StoreError> {
        Ok(Environment {
            id: self.id("id")?,
            name: self.text("name")?,
            created_at: self.time("created_at")?,
        })
    }

    pub(crate) fn api_key(&self) -> Result<ApiKey, StoreError> {
        Ok(ApiKey {
            id: self.id("id")?,
            environment_id: self.id("environment_id")?,
            prefix: self.text("prefix")?,
            name: self.optional_text("name")?,
            created_at: self.time("created_at")?,
            expires_at: self.optional_time("expires_at")?,
            revoked_at: self.optional_time("revoked_at")?,
            last_used_at: self.optional_time("last_used_at")?,
            permissions: store::KeyPermissions {
                connection_ids: self
                    .optional_strings("connection_ids")?
                    .map(|ids| {
                        ids.into_iter()
                            .map(|id| {
                                ConnectionId::try_from(id)
                                    .map_err(|error| Self::corrupt("connection_ids", error))
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()?,
                read_only: self.count::<u8>("read_only")? != 0,
                deletes: self.count::<u8>("allow_deletes")? != 0,
            },
        })
    }

    pub(crate) fn connection(&self) -> Result<Connection, StoreError> {
        let status = self.text("status")?;
        Ok(Connection {
            id: self.id("id")?,
            environment_id: self.id("environment_id")?,
            provider: self.text("provider")?,
            status: ConnectionStatus::parse(&status)
                .ok_or_else(|| Self::corrupt("status", format!("unknown `{status}`")))?,
            account: self.json("account")?,
            credentials: self.sealed("credentials")?,
            credentials_expires_at: self.optional_time("credentials_expires_at")?,
            created_at: self.time("created_at")?,
            updated_at: self.time("updated_at")?,
        })
    }

    pub(crate) fn discovered_fields(&self) -> Result<DiscoveredFields, StoreError> {
        Ok(DiscoveredFields {
            connection_id: self.id("connection_id")?,
            resource: self.text("resource")?,
            fields: self.json("fields")?,
            fetched_at: self.time("fetched_at")?,
        })
    }

    pub(crate) fn oauth_app(&self) -> Result<OAuthApp, StoreError> {
        Ok(OAuthApp {
            environment_id: self.id("environment_id")?,
            provider: self.text("provider")?,
            client_id: self.text("client_id")?,
            client_secret: self.sealed("client_secret")?,
            redirect_uris: self.strings("redirect_uris")?,
            scopes: self.optional_strings("scopes")?,
            updated_at: self.time("updated_at")?,
        })
    }

    pub(crate) fn branding(&self) -> Result<Branding, StoreError> {
        Ok(Branding {
            display_name: self.optional_text("branding_display_name")?,
            logo_url: self.optional_text("branding_logo_url")?,
            primary_color: self.optional_text("branding_primary_color")?,
            allowed_redirect_urls: self.strings("allowed_redirect_urls")?,
        })
    }

    pub(crate) fn evaluation_limits(&self) -> Result<Value, StoreError> {
        self.json("evaluation_limits")
    }

    pub(crate) fn connect_session(&self) -> Result<ConnectSession, StoreError> {
        Ok(ConnectSession {
            token_hash: self.text("token_hash")?,
            environment_id: self.id("environment_id")?,
            end_user_id: self.text("end_user_id")?,
            provider: self.optional_text("provider")?,
            redirect_url: self.text("redirect_url")?,
            connection_id: self.optional_id("connection_id")?,
            expires_at: self.time("expires_at")?,
            created_at: self.time("created_at")?,
            consumed_at: self.optional_time("consumed_at")?,
            oauth_starts: self.count("oauth_starts")?,
        })
    }

    /// The `environment_id` column alone, as a `RETURNING environment_id` gives it.
    pub(crate) fn environment_id(&self) -> Result<store::EnvironmentId, StoreError> {
        self.id("environment_id")
    }

    pub(crate) fn oauth_state(&self) -> Result<OAuthState, StoreError> {
        Ok(OAuthState {
            state_hash: self.text("state_hash")?,
            environment_id: self.id("environment_id")?,
            provider: self.text("provider")?,
            scheme: self.text("scheme")?,
            session_token_hash: self.text("session_token_hash")?,
            code_verifier: self.optional_sealed("code_verifier")?,
            redirect_uri: self.text("redirect_uri")?,
            connection_id: self.optional_id("connection_id")?,
            expires_at: self.time("expires_at")?,
            created_at: self.time("created_at")?,
        })
    }

    pub(crate) fn override_version(&self) -> Result<OverrideVersion, StoreError> {
        Ok(OverrideVersion {
            scope: OverrideScope {
                environment_id: self.id("environment_id")?,
                provider: self.text("provider")?,
                connection_id: self.optional_id("connection_id")?,
            },
            version: self.count("version")?,
            document: self.optional_json("document")?,
            revision: self.text("revision")?,
            created_at: self.time("created_at")?,
        })
    }

    pub(crate) fn event(&self) -> Result<Event, StoreError> {
        Ok(Event {
            id: self.id("id")?,
            environment_id: self.id("environment_id")?,
            connection_id: self.optional_id("connection_id")?,
            kind: self.text("kind")?,
            payload: self.json("payload")?,
            created_at: self.time("created_at")?,
        })
    }

    pub(crate) fn job(&self) -> Result<Job, StoreError> {
        let status = self.text("status")?;
        Ok(Job {
            id: self.id("id")?,
            environment_id: self.id("environment_id")?,
            connection_id: self.optional_id("connection_id")?,
            kind: self.text("kind")?,
            key: self.optional_text("key")?,
            payload: self.json("payload")?,
            status: JobStatus::parse(&status)
                .ok_or_else(|| Self::corrupt("status", format!("unknown job status `{status}`")))?,
            run_at: self.time("run_at")?,
            attempts: self.count("attempts")?,
            max_attempts: self.count("max_attempts")?,
            lease_holder: self.optional_text("lease_holder")?,
            lease_until: self.optional_time("lease_until")?,
            fence: self.count("fence")?,
            last_error: self.optional_text("last_error")?,
            created_at: self.time("created_at")?,
            updated_at: self.time("updated_at")?,
        })
    }

    pub(crate) fn webhook_ingress(&self) -> Result<store::WebhookIngress, StoreError> {
        Ok(store::WebhookIngress {
            connection_id: self.id("connection_id")?,
            environment_id: self.id("environment_id")?,
            provider: self.text("provider")?,
            token_hash: self.text("token_hash")?,
            secret: self.optional_sealed("secret")?,
            created_at: self.time("created_at")?,
            last_received_at: self.optional_time("last_received_at")?,
            failures: self.count("failures")?,
            last_failure_at: self.optional_time("last_failure_at")?,
            last_failure: self.optional_text("last_failure")?,
        })
    }

    pub(crate) fn webhook_inbox(&self) -> Result<store::InboxEntry, StoreError> {
        let status = self.text("status")?;
        Ok(store::InboxEntry {
            id: self.get("id")?,
            connection_id: self.id("connection_id")?,
            environment_id: self.id("environment_id")?,
            method: self.text("method")?,
            uri: self.text("uri")?,
            headers: self.json("headers")?,
            body: self.get("body")?,
            received_at: self.time("received_at")?,
            status: store::InboxStatus::parse(&status)
                .ok_or_else(|| Self::corrupt("status", format!("unknown status `{status}`")))?,
            events: self.count("events")?,
            duplicates: self.count("duplicates")?,
            error: self.optional_text("error")?,
            processed_at: self.optional_time("processed_at")?,
        })
    }

    pub(crate) fn webhook_failure(&self) -> Result<store::VerificationFailure, StoreError> {
        Ok(store::VerificationFailure {
            connection_id: self.id("connection_id")?,
            at: self.time("at")?,
            code: self.text("code")?,
            detail: self.text("detail")?,
        })
    }

    pub(crate) fn webhook_endpoint(&self) -> Result<WebhookEndpoint, StoreError> {
        let connection_ids = self
            .strings("connection_ids")?
            .into_iter()
            .map(|id| {
                ConnectionId::try_from(id).map_err(|error| Self::corrupt("connection_ids", error))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WebhookEndpoint {
            id: self.id("id")?,
            environment_id: self.id("environment_id")?,
            url: self.text("url")?,
            description: self.optional_text("description")?,
            event_types: self.strings("event_types")?,
            connection_ids,
            include_record: self.count::<u8>("include_record")? != 0,
            enabled: self.count::<u8>("enabled")? != 0,
            disabled_reason: self.optional_text("disabled_reason")?,
            secret: self.sealed("secret")?,
            previous_secret: self.optional_sealed("previous_secret")?,
            previous_secret_until: self.optional_time("previous_secret_until")?,
            failing_since: self.optional_time("failing_since")?,
            created_at: self.time("created_at")?,
            updated_at: self.time("updated_at")?,
        })
    }

    pub(crate) fn webhook_message(&self) -> Result<WebhookMessage, StoreError> {
        let status = self.text("status")?;
        Ok(WebhookMessage {
            id: self.id("id")?,
            endpoint_id: self.id("endpoint_id")?,
            environment_id: self.id("environment_id")?,
            event_type: self.text("event_type")?,
            ordering_key: self.text("ordering_key")?,
            seq: self.count("seq")?,
            change_seq: self
                .get::<Option<i64>>("change_seq")?
                .map(|seq| u64::try_from(seq).map_err(|_| Self::corrupt("change_seq", seq)))
                .transpose()?,
            body: self.text("body")?,
            status: MessageStatus::parse(&status).ok_or_else(|| {
                Self::corrupt("status", format!("unknown message status `{status}`"))
            })?,
            attempts: self.count("attempts")?,
            next_attempt_at: self.time("next_attempt_at")?,
            last_error: self.optional_text("last_error")?,
            created_at: self.time("created_at")?,
            updated_at: self.time("updated_at")?,
        })
    }

    pub(crate) fn webhook_attempt(&self) -> Result<WebhookAttemptRow, StoreError> {
        Ok(WebhookAttemptRow {
            id: self.count("id")?,
            endpoint_id: self.id("endpoint_id")?,
            message_id: self.id("message_id")?,
            attempt: self.count("attempt")?,
            status_code: self
                .get::<Option<i64>>("status_code")?
                .map(|code| u16::try_from(code).map_err(|_| Self::corrupt("status_code", code)))
                .transpose()?,
            error: self.optional_text("error")?,
            duration_ms: self.count("duration_ms")?,
            created_at: self.time("created_at")?,
        })
    }

    pub(crate) fn change(&self) -> Result<Change, StoreError> {
        let kind = self.text("kind")?;
        Ok(Change {
            seq: self.count("seq")?,
            environment_id: self.id("environment_id")?,
            connection_id: self.id("connection_id")?,
            object: self.text("object")?,
            remote_id: self.text("remote_id")?,
            kind: ChangeKind::parse(&kind)
                .ok_or_else(|| Self::corrupt("kind", format!("unknown change kind `{kind}`")))?,
            record: self.optional_json("record")?,
            created_at: self.time("created_at")?,
        })
    }

    /// A nullable integer column, as stored.
    pub(crate) fn optional_integer(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.get(name)
    }

    /// The `data` column of an outbox row.
    pub(crate) fn outbox_data(&self) -> Result<Value, StoreError> {
        self.json("data")
    }

    /// The `record` column of an outbox row, when it carries one.
    pub(crate) fn optional_record(&self) -> Result<Option<Value>, StoreError> {
        self.optional_json("record")
    }

    /// The `record` column of a synced record.
    pub(crate) fn record(&self) -> Result<Value, StoreError> {
        self.json("record")
    }

    pub(crate) fn synced_record(&self) -> Result<SyncedRecord, StoreError> {
        Ok(SyncedRecord {
            connection_id: self.id("connection_id")?,
            object: self.text("object")?,
            remote_id: self.text("remote_id")?,
            record: self.json("record")?,
            hash: self.text("hash")?,
            deleted: self.count::<u8>("deleted")? != 0,
            seq: self.count("seq")?,
            updated_at: self.time("updated_at")?,
        })
    }

    pub(crate) fn sync_progress(&self) -> Result<SyncProgress, StoreError> {
        Ok(SyncProgress {
            connection_id: self.id("connection_id")?,
            object: self.text("object")?,
            checkpoint: self.optional_json("checkpoint")?,
            pages: self.count("pages")?,
            created: self.count("created")?,
            updated: self.count("updated")?,
            deleted: self.count("deleted")?,
            status: self
                .optional_text("status")?
                .map(|status| {
                    SyncStatus::parse(&status).ok_or_else(|| {
                        Self::corrupt("status", format!("unknown sync status `{status}`"))
                    })
                })
                .transpose()?,
            phase: self
                .optional_text("phase")?
                .map(|phase| {
                    SyncPhase::parse(&phase).ok_or_else(|| {
                        Self::corrupt("phase", format!("unknown sync phase `{phase}`"))
                    })
                })
                .transpose()?,
            last_error: self.optional_json("last_error")?,
            updated_at: self.time("updated_at")?,
        })
    }

    pub(crate) fn default_syncs(&self) -> Result<Value, StoreError> {
        self.json("default_syncs")
    }
}
