//! Processing inbound webhooks (issue 17): the [`JobHandler`] of `webhook.inbound` jobs, one live
//! per connection, which reads the connection's pending deliveries in the order they were
//! accepted and, for each, asks the connector's `events` expression which records it names,
//! drops events whose vendor id was seen in the last 7 days, reads each named record back from
//! the vendor through the call path every caller takes, and applies them to the record store
//! as a sync page does: a changed record is one change in the feed (and one outbound event), an
//! unchanged one none, a record the vendor no longer has a delete.
//!
//! The body of a delivery is never stored as a record: whatever the verification kind, records
//! are read from the vendor, so a delivery that arrives late, twice or out of order leaves the
//! store as the vendor is when it is processed. Verification and the inbox are the ingress
//! route's (the server); subscriptions at the vendor are not made here.

use std::collections::HashSet;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{Value, json};
use store::{
    ConnectionId, EnvironmentId, InboxEntry, InboxOutcome, InboxStatus, Job, JobOutcome, NewJob,
    SyncPage, timestamp,
};
use unified_model::UnifiedObject;

use crate::sync::synced_input;
use crate::worker::JobHandler;
use crate::{Bound, Include, OpError, Operations};

/// The kind of inbound webhook processing jobs.
pub const INBOUND_JOB_KIND: &str = "webhook.inbound";

/// How many times a processing job may fail in a row before it stops (a later delivery starts
/// another).
const INBOUND_JOB_ATTEMPTS: u32 = 20;

/// Deliveries read per round.
const INBOX_BATCH: u32 = 50;

/// The processing job of a connection's deliveries, due now; at most one is live per connection.
pub fn inbound_job(environment_id: &EnvironmentId, connection_id: &ConnectionId) -> NewJob {
    NewJob {
        environment_id: environment_id.clone(),
        connection_id: Some(connection_id.clone()),
        kind: INBOUND_JOB_KIND.to_owned(),
        key: Some(format!("{INBOUND_JOB_KIND}:{connection_id}")),
        payload: json!({"connection_id": connection_id}),
        run_at: timestamp::now(),
        max_attempts: INBOUND_JOB_ATTEMPTS,
    }
}

/// Runs `webhook.inbound` jobs.
#[derive(Clone)]
pub struct InboundHandler {
    operations: Operations,
    /// After a run that processed deliveries, the job looks again this much later, so a
    /// delivery accepted while the run was ending is not left waiting for the next one.
    linger: Duration,
}

impl InboundHandler {
    /// A handler on `operations`.
    pub fn new(operations: Operations) -> InboundHandler {
        InboundHandler {
            operations,
            linger: Duration::from_millis(500),
        }
    }

    /// Sets how long after a busy run the job looks again.
    #[must_use]
    pub fn with_linger(mut self, linger: Duration) -> InboundHandler {
        self.linger = linger;
        self
    }

    async fn run_connection(&self, job: &Job) -> Result<bool, OpError> {
        let connection_id = job
            .payload
            .get("connection_id")
            .and_then(Value::as_str)
            .and_then(|id| ConnectionId::parse(id).ok())
            .ok_or_else(|| OpError::NotFound("the job names no connection".to_owned()))?;
        let store = self.operations.store();
        let mut bound: Option<Bound> = None;
        let mut processed_any = false;
        loop {
            let entries = store
                .pending_webhook_inbox(&connection_id, INBOX_BATCH)
                .await?;
            if entries.is_empty() {
                return Ok(processed_any);
            }
            let current = match &bound {
                Some(current) => current,
                None => bound.insert(
                    self.operations
                        .bind(&job.environment_id, connection_id.as_str(), None)
                        .await?,
                ),
            };
            for entry in entries {
                let outcome = match self.process(current, &entry).await {
                    Ok(outcome) => outcome,
                    // The vendor's budget, an open circuit or a vendor outage: the delivery
                    // waits (the job tries again later).
                    Err(error @ (OpError::Throttled { .. } | OpError::CircuitOpen { .. })) => {
                        return Err(error);
                    }
                    Err(error @ (OpError::Upstream { .. } | OpError::ReauthRequired)) => {
                        return Err(error);
                    }
                    Err(error) => InboxOutcome {
                        status: InboxStatus::Failed,
                        events: 0,
                        duplicates: 0,
                        error: Some(error.to_string()),
                    },
                };
                match store
                    .finish_webhook_inbox(entry.id, outcome, timestamp::now())
                    .await
                {
                    Ok(()) | Err(store::StoreError::NotFound) => {}
                    Err(error) => return Err(error.into()),
                }
                processed_any = true;
            }
        }
    }

    /// Processes one delivery: its events, new ones' records read back and applied.
    async fn process(&self, bound: &Bound, entry: &InboxEntry) -> Result<InboxOutcome, OpError> {
        let headers: Vec<(String, String)> = entry
            .headers
            .as_array()
            .map(|pairs| {
                pairs
                    .iter()
                    .filter_map(|pair| {
                        Some((
                            pair.get(0)?.as_str()?.to_owned(),
                            pair.get(1)?.as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let method = entry.method.clone();
        let uri = entry.uri.clone();
        let body = entry.body.clone();
        let events = bound
            .evaluate(move |connector| {
                let hooks = connector
                    .webhooks()
                    .ok_or_else(|| "the connector declares no webhooks".to_owned())?;
                hooks.events(&connector::webhook::WebhookRequest {
                    method: &method,
                    uri: &uri,
                    headers: &headers,
                    body: &body,
                })
            })
            .await?
            .map_err(|detail| OpError::Invalid {
                code: "webhook_events",
                field: Some("webhooks.events".to_owned()),
                detail,
            })?;
        // Distinct vendor event ids, then which of them are new.
        let mut distinct = Vec::new();
        let mut seen_here = HashSet::new();
        for event in &events {
            if let Some(id) = &event.id
                && seen_here.insert(id.clone())
            {
                distinct.push(id.clone());
            }
        }
        let store = self.operations.store();
        let fresh: HashSet<String> = if distinct.is_empty() {
            HashSet::new()
        } else {
            let answers = store
                .remember_webhook_events(
                    &entry.connection_id,
                    entry.id,
                    &distinct,
                    timestamp::now(),
                )
                .await?;
            distinct
                .into_iter()
                .zip(answers)
                .filter_map(|(id, new)| new.then_some(id))
                .collect()
        };
        let mut duplicates = 0_u64;
        let mut new_events = 0_u64;
        // The records named, by object, each once.
        let mut named: IndexMap<String, Vec<String>> = IndexMap::new();
        let mut taken = HashSet::new();
        for event in events {
            if let Some(id) = &event.id {
                if !fresh.contains(id) {
                    duplicates += 1;
                    continue;
                }
                // A second event with the same id in the delivery is a duplicate too.
                if !taken.insert(id.clone()) {
                    duplicates += 1;
                    continue;
                }
            }
            new_events += 1;
            let ids = named.entry(event.object).or_default();
            if !ids.contains(&event.remote_id) {
                ids.push(event.remote_id);
            }
        }
        for (object_key, remote_ids) in named {
            let Some(object) = UnifiedObject::parse_key(&object_key) else {
                return Err(OpError::Invalid {
                    code: "webhook_events",
                    field: Some("webhooks.events".to_owned()),
                    detail: format!("`{object_key}` is no unified object"),
                });
            };
            let mut upserts = Vec::new();
            let mut deletes = Vec::new();
            for remote_id in remote_ids {
                match bound
                    .get(object, remote_id.clone(), Include::default())
                    .await
                {
                    Ok(record) => upserts.extend(synced_input(record)),
                    Err(OpError::NotFound(_)) => deletes.push(remote_id),
                    Err(OpError::Provider(error))
                        if matches!(
                            error.code,
                            connector::ErrorCode::NotFound | connector::ErrorCode::Gone
                        ) =>
                    {
                        deletes.push(remote_id);
                    }
                    Err(error) => return Err(error),
                }
            }
            // A delete of a record the store does not hold changes nothing (no tombstone).
            if upserts.is_empty() && deletes.is_empty() {
                continue;
            }
            store
                .apply_sync_page(
                    &entry.environment_id,
                    SyncPage {
                        connection_id: entry.connection_id.clone(),
                        object: object.key(),
                        upserts,
                        deletes,
                        checkpoint: None,
                        claim: None,
                        seen: None,
                    },
                )
                .await?;
        }
        Ok(InboxOutcome {
            status: InboxStatus::Processed,
            events: new_events,
            duplicates,
            error: None,
        })
    }
}

#[async_trait::async_trait]
impl JobHandler for InboundHandler {
    async fn run(&self, job: &Job) -> JobOutcome {
        match self.run_connection(job).await {
            Ok(true) => JobOutcome::Reschedule {
                at: timestamp::add(timestamp::now(), self.linger),
            },
            Ok(false) => JobOutcome::Done,
            Err(OpError::Throttled { retry_after, .. } | OpError::CircuitOpen { retry_after }) => {
                JobOutcome::Reschedule {
                    at: timestamp::add(timestamp::now(), retry_after),
                }
            }
            Err(error) => JobOutcome::Retry {
                at: timestamp::add(timestamp::now(), Duration::from_secs(5)),
                error: error.to_string(),
            },
        }
    }
}
