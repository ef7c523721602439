//! The inbound webhooks' [`store::Store`] methods as SQL, for every [`Dialect`]: ingresses, the
//! inbox, remembered event ids and sampled verification failures.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use store::{
    ConnectionId, EnvironmentId, InboxEntry, InboxOutcome, InboxStatus, JobId, JobStatus,
    NewInboxEntry, StoreError, VerificationFailure, WEBHOOK_EVENT_ID_DAYS, WebhookIngress,
    timestamp,
};

use crate::rows::{
    Columns, JOB_COLUMNS, WEBHOOK_FAILURE_COLUMNS, WEBHOOK_INBOX_COLUMNS, WEBHOOK_INGRESS_COLUMNS,
};
use crate::{Dialect, SqlStore, read_error, write_error};

/// Samples kept per connection per minute, and in all.
const FAILURE_SAMPLES_PER_MINUTE: i64 = 10;
const FAILURE_SAMPLES_KEPT: i64 = 100;

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> Option<Vec<u8>>: Encode<'q, D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db>,
    for<'q> Option<D::Time>: Encode<'q, D::Db>,
    for<'n> &'n str: ColumnIndex<<D::Db as Database>::Row>,
    for<'r> String: Decode<'r, D::Db>,
    for<'r> i64: Decode<'r, D::Db>,
    for<'r> Vec<u8>: Decode<'r, D::Db>,
    for<'r> Json<Value>: Decode<'r, D::Db> + Type<D::Db>,
    for<'r> Json<Vec<String>>: Decode<'r, D::Db> + Type<D::Db>,
{
    pub(crate) async fn put_ingress(
        &self,
        ingress: WebhookIngress,
    ) -> Result<WebhookIngress, StoreError> {
        let now = timestamp::now();
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        // The write comes first: on SQLite a transaction that read first and then writes after
        // another connection's commit fails at once with "database is locked" (its snapshot is
        // stale, which no busy wait cures); writing first takes the write lock, waiting for it.
        sqlx::query("DELETE FROM webhook_ingresses WHERE connection_id = $1")
            .bind(ingress.connection_id.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "webhook ingress conflicts"))?;
        let owned = sqlx::query("SELECT id FROM connections WHERE id = $1 AND environment_id = $2")
            .bind(ingress.connection_id.as_str())
            .bind(ingress.environment_id.as_str())
            .fetch_optional(&mut *transaction)
            .await
            .map_err(read_error)?;
        if owned.is_none() {
            return Err(StoreError::NotFound);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO webhook_ingresses ({WEBHOOK_INGRESS_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, NULL, 0, NULL, NULL)
             RETURNING {WEBHOOK_INGRESS_COLUMNS}"
        ))
        .bind(ingress.connection_id.as_str())
        .bind(ingress.environment_id.as_str())
        .bind(&ingress.provider)
        .bind(&ingress.token_hash)
        .bind(ingress.secret.as_ref().map(secrets::Sealed::to_bytes))
        .bind(D::time(now))
        .fetch_one(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "another ingress has this token"))?;
        let stored = Columns::<D>(&row).webhook_ingress()?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(stored)
    }

    pub(crate) async fn get_ingress(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
    ) -> Result<WebhookIngress, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_INGRESS_COLUMNS} FROM webhook_ingresses
             WHERE connection_id = $1 AND environment_id = $2"
        ))
        .bind(connection_id.as_str())
        .bind(environment_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).webhook_ingress()
    }

    pub(crate) async fn find_ingress(
        &self,
        token_hash: &str,
    ) -> Result<WebhookIngress, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_INGRESS_COLUMNS} FROM webhook_ingresses WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(read_error)?
        .ok_or(StoreError::NotFound)?;
        Columns::<D>(&row).webhook_ingress()
    }

    pub(crate) async fn delete_ingress(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM webhook_ingresses WHERE connection_id = $1 AND environment_id = $2",
        )
        .bind(connection_id.as_str())
        .bind(environment_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "webhook ingress conflicts"))?;
        Ok(())
    }

    pub(crate) async fn accept(&self, entry: NewInboxEntry) -> Result<i64, StoreError> {
        let received_at = timestamp::truncate(entry.received_at);
        let now = timestamp::now();
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        let touched = sqlx::query(
            "UPDATE webhook_ingresses SET last_received_at = $1 WHERE connection_id = $2",
        )
        .bind(D::time(received_at))
        .bind(entry.connection_id.as_str())
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "webhook ingress conflicts"))?;
        if D::rows_affected(&touched) == 0 {
            return Err(StoreError::NotFound);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO webhook_inbox ({columns})
             VALUES ($1, $2, $3, $4, {headers}, $6, $7, 'pending', 0, 0, NULL, NULL)
             RETURNING id",
            columns = WEBHOOK_INBOX_COLUMNS.trim_start_matches("id, "),
            headers = D::json("$5"),
        ))
        .bind(entry.connection_id.as_str())
        .bind(entry.environment_id.as_str())
        .bind(&entry.method)
        .bind(&entry.uri)
        .bind(serde_json::to_string(&entry.headers).expect("headers serialize"))
        .bind(entry.body)
        .bind(D::time(received_at))
        .fetch_one(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "webhook inbox entry conflicts"))?;
        let id: i64 = Columns::<D>(&row).count("id")?;
        let job = entry.job;
        sqlx::query(&format!(
            "INSERT INTO jobs ({JOB_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, {payload}, $7, $8, 0, $9, NULL, NULL, 0, NULL, $10, $10)
             ON CONFLICT (key) WHERE status IN ('queued', 'running', 'paused') DO NOTHING",
            payload = D::json("$6"),
        ))
        .bind(JobId::generate().as_str())
        .bind(job.environment_id.as_str())
        .bind(job.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(&job.kind)
        .bind(job.key.as_deref())
        .bind(serde_json::to_string(&job.payload).expect("a payload serializes"))
        .bind(JobStatus::Queued.as_str())
        .bind(D::time(timestamp::truncate(job.run_at)))
        .bind(i64::from(job.max_attempts.max(1)))
        .bind(D::time(now))
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "job id already exists"))?;
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(id)
    }

    pub(crate) async fn record_failure(
        &self,
        failure: VerificationFailure,
    ) -> Result<(), StoreError> {
        let at = timestamp::truncate(failure.at);
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        let counted = sqlx::query(
            "UPDATE webhook_ingresses SET failures = failures + 1, last_failure_at = $1,
                 last_failure = $2
             WHERE connection_id = $3",
        )
        .bind(D::time(at))
        .bind(&failure.code)
        .bind(failure.connection_id.as_str())
        .execute(&mut *transaction)
        .await
        .map_err(|error| write_error(error, "webhook ingress conflicts"))?;
        if D::rows_affected(&counted) == 0 {
            return Ok(());
        }
        let recent = sqlx::query(
            "SELECT COUNT(*) AS n FROM webhook_verification_failures
             WHERE connection_id = $1 AND at > $2",
        )
        .bind(failure.connection_id.as_str())
        .bind(D::time(at - chrono::Duration::minutes(1)))
        .fetch_one(&mut *transaction)
        .await
        .map_err(read_error)?;
        let recent: i64 = Columns::<D>(&recent).count("n")?;
        if recent < FAILURE_SAMPLES_PER_MINUTE {
            sqlx::query(&format!(
                "INSERT INTO webhook_verification_failures ({WEBHOOK_FAILURE_COLUMNS})
                 VALUES ($1, $2, $3, $4)"
            ))
            .bind(failure.connection_id.as_str())
            .bind(D::time(at))
            .bind(&failure.code)
            .bind(&failure.detail)
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "webhook failure conflicts"))?;
            sqlx::query(
                "DELETE FROM webhook_verification_failures
                 WHERE connection_id = $1 AND id NOT IN (
                     SELECT id FROM webhook_verification_failures
                     WHERE connection_id = $1 ORDER BY id DESC LIMIT $2)",
            )
            .bind(failure.connection_id.as_str())
            .bind(FAILURE_SAMPLES_KEPT)
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "webhook failure conflicts"))?;
        }
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(())
    }

    pub(crate) async fn list_failures(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<VerificationFailure>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.connection_id, f.at, f.code, f.detail FROM webhook_verification_failures f
             JOIN connections c ON c.id = f.connection_id
             WHERE f.connection_id = $1 AND c.environment_id = $2
             ORDER BY f.id DESC LIMIT $3",
        )
        .bind(connection_id.as_str())
        .bind(environment_id.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).webhook_failure())
            .collect()
    }

    pub(crate) async fn pending_inbox(
        &self,
        connection_id: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_INBOX_COLUMNS} FROM webhook_inbox
             WHERE connection_id = $1 AND status = 'pending' ORDER BY id LIMIT $2"
        ))
        .bind(connection_id.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).webhook_inbox())
            .collect()
    }

    pub(crate) async fn list_inbox(
        &self,
        environment_id: &EnvironmentId,
        connection_id: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_INBOX_COLUMNS} FROM webhook_inbox
             WHERE connection_id = $1 AND environment_id = $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(connection_id.as_str())
        .bind(environment_id.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(read_error)?;
        rows.iter()
            .map(|row| Columns::<D>(row).webhook_inbox())
            .collect()
    }

    pub(crate) async fn finish_inbox(
        &self,
        id: i64,
        outcome: InboxOutcome,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let status = if outcome.status == InboxStatus::Pending {
            InboxStatus::Failed
        } else {
            outcome.status
        };
        let updated = sqlx::query(
            "UPDATE webhook_inbox SET status = $1, events = $2, duplicates = $3, error = $4,
                 processed_at = $5
             WHERE id = $6 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(i64::try_from(outcome.events).unwrap_or(i64::MAX))
        .bind(i64::try_from(outcome.duplicates).unwrap_or(i64::MAX))
        .bind(outcome.error)
        .bind(D::time(timestamp::truncate(at)))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|error| write_error(error, "webhook inbox entry conflicts"))?;
        if D::rows_affected(&updated) == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub(crate) async fn remember_events(
        &self,
        connection_id: &ConnectionId,
        inbox_id: i64,
        event_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        let at = timestamp::truncate(at);
        let cutoff = at - chrono::Duration::days(WEBHOOK_EVENT_ID_DAYS);
        let _turn = self.write_turn().await;
        let mut transaction = self.pool.begin().await.map_err(StoreError::database)?;
        let mut fresh = Vec::with_capacity(event_ids.len());
        for event_id in event_ids {
            let written = sqlx::query(
                "INSERT INTO webhook_event_ids (connection_id, event_id, inbox_id, seen_at)
                 VALUES ($1, $2, $5, $3)
                 ON CONFLICT (connection_id, event_id) DO UPDATE
                     SET seen_at = excluded.seen_at, inbox_id = excluded.inbox_id
                 WHERE webhook_event_ids.seen_at < $4
                     OR webhook_event_ids.inbox_id = excluded.inbox_id",
            )
            .bind(connection_id.as_str())
            .bind(event_id.as_str())
            .bind(D::time(at))
            .bind(D::time(cutoff))
            .bind(inbox_id)
            .execute(&mut *transaction)
            .await
            .map_err(|error| write_error(error, "webhook event id conflicts"))?;
            fresh.push(D::rows_affected(&written) > 0);
        }
        transaction.commit().await.map_err(StoreError::database)?;
        Ok(fresh)
    }

    pub(crate) async fn purge_inbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = timestamp::truncate(before);
        let inbox =
            sqlx::query("DELETE FROM webhook_inbox WHERE status <> 'pending' AND received_at < $1")
                .bind(D::time(before))
                .execute(&self.pool)
                .await
                .map_err(|error| write_error(error, "webhook inbox purge conflicts"))?;
        let ids = sqlx::query("DELETE FROM webhook_event_ids WHERE seen_at < $1")
            .bind(D::time(before))
            .execute(&self.pool)
            .await
            .map_err(|error| write_error(error, "webhook event id purge conflicts"))?;
        Ok(D::rows_affected(&inbox) + D::rows_affected(&ids))
    }
}
