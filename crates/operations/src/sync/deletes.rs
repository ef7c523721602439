//! Deletes in syncs (issue 16): how a run learns that records are gone at the vendor, as the
//! connector declares per object (`deletes` in `connector.yaml`), and the scheduled
//! reconciliation passes.
//!
//! - A *feed* (records deleted in a window of time) is read at the start of each run, for the
//!   window from the previous run's start (less the lookback) to this run's start. A window
//!   reaching further back than the feed does (a connection idle for weeks), or one the vendor
//!   refuses as out of its reach, turns the run into a reconciliation pass instead of missing
//!   deletes.
//! - An *archived* listing is read whole at the start of each run.
//! - Every declared object also gets a *reconciliation pass* when one is due (daily by default,
//!   per sync `reconcile_every_secs`), and whenever a run walks the whole list anyway (the first
//!   run, or a connector without an `updated_after` filter): the run walks every record, and at
//!   the end marks deleted the stored records the walk did not see. It commits deletes only
//!   after a complete pass whose every record was identified, reads each missing record back
//!   first (a record the walk skipped, because the vendor's pages shifted under it, is kept),
//!   and refuses, recording a `sync.deletes_refused` event, when more records went missing than
//!   the [`DeleteGuard`] allows: a lost permission must not look like mass deletion.
//!
//! Deletes go to the store with the run's pages ([`store::SyncPage::deletes`]): a delete of a
//! record already deleted, or never stored, changes nothing, and a record that comes back is
//! created again. The set of ids a pass has seen lives in the store, not in the worker's
//! memory: each page of the walk marks its records seen by the pass
//! ([`store::SyncPage::seen`]) in the page's own transaction, and whether every record was
//! identified is part of the checkpoint. A pass interrupted part-way (a crash, a throttle, an
//! error) therefore resumes from its checkpoint and still ends with its diff, and a pass of
//! any size holds no more than a page of ids at a time. A backfill into an empty store needs
//! no diff and stands for a pass.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector::file::Deletes;
use connector::{ListCursor, PageState};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::{ConnectionId, Job, NewEvent, SyncPage, timestamp};
use unified_model::UnifiedObject;

use super::RunError;
use crate::bound::Bound;
use crate::{Include, OpError};

/// How often a sync runs a reconciliation pass unless it says otherwise.
pub const DEFAULT_RECONCILE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// The kind of the event recorded when a reconciliation pass refuses to delete.
pub const DELETES_REFUSED_EVENT: &str = "sync.deletes_refused";

/// Unseen records read per store call when a pass looks for missing ones, and deletes applied
/// in one page before the walk's last.
const STORED_PER_READ: u32 = 1000;

/// When a reconciliation pass refuses to delete: more than `min_count` records missing *and*
/// more than `max_share_percent` of the stored records. A permission change that hides most
/// records looks like that; real deletes rarely do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteGuard {
    pub max_share_percent: u64,
    pub min_count: u64,
}

impl Default for DeleteGuard {
    fn default() -> DeleteGuard {
        DeleteGuard {
            max_share_percent: 50,
            min_count: 10,
        }
    }
}

impl DeleteGuard {
    /// Whether `missing` of `stored` records disappearing is too many to believe.
    pub fn refuses(self, missing: u64, stored: u64) -> bool {
        missing > self.min_count
            && missing.saturating_mul(100) > stored.saturating_mul(self.max_share_percent)
    }
}

/// Where a sync stands with deletes: part of its checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct DeleteState {
    /// The start of the next feed window: the last read window's end less the lookback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Where the run under way stands in the deletion listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<ListCursor>,
    /// The run under way has read its deletion listing (or needs none).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub listed: bool,
    /// The run under way is a reconciliation pass.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reconcile: bool,
    /// The pass under way, as it marks the records it sees in the store; `None` in a pass
    /// whose checkpoint was written before passes were kept in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// The pass under way met a record whose id could not be read: it deletes nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unclean: bool,
    /// The pass under way was resumed from a checkpoint that kept no pass in the store (written
    /// by an earlier version, which kept the ids seen in memory): it ends without a diff and
    /// the next run reconciles again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// When the last complete reconciliation pass started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<DateTime<Utc>>,
}

impl DeleteState {
    /// Decides, as a run begins at `started`, whether it is a reconciliation pass: the object
    /// declares deletes, and a pass is due, or the run walks everything anyway (`full`), or a
    /// feed window would start before the feed reaches. A run into an `empty` store (a
    /// backfill) has nothing to diff: its walk stands for a pass as of its start.
    pub fn begin_run(
        &mut self,
        deletes: Option<&Deletes>,
        started: DateTime<Utc>,
        every: Duration,
        full: bool,
        empty: bool,
        lookback: Duration,
    ) {
        self.cursor = None;
        self.listed = false;
        self.reconcile = false;
        self.partial = false;
        self.pass = None;
        self.unclean = false;
        let Some(deletes) = deletes else {
            self.listed = true;
            return;
        };
        if empty {
            self.listed = true;
            self.reconciled_at = Some(started);
            if matches!(deletes, Deletes::Feed { .. }) {
                self.since =
                    Some(started - chrono::Duration::from_std(lookback).unwrap_or_default());
            }
            return;
        }
        let due = self
            .reconciled_at
            .is_none_or(|at| timestamp::add(at, every) <= started);
        let out_of_reach = match deletes {
            Deletes::Feed { reach_secs, .. } => self.since.is_none_or(|since| {
                timestamp::add(since, Duration::from_secs(*reach_secs)) < started
            }),
            Deletes::Archived { .. } | Deletes::IdDiff => false,
        };
        if due || full || out_of_reach {
            self.begin_reconcile(started);
        }
        if matches!(deletes, Deletes::IdDiff) {
            self.listed = true;
        }
    }

    /// Makes the run under way (started at `started`) a reconciliation pass; its deletion
    /// listing is not read.
    fn begin_reconcile(&mut self, started: DateTime<Utc>) {
        self.reconcile = true;
        self.listed = true;
        self.cursor = None;
        // Runs of one sync follow each other: the start of the run names its pass.
        self.pass = Some(started.timestamp_micros().to_string());
        self.unclean = false;
    }

    /// Ends a complete run that started at `started`: after a whole pass, a feed's next window
    /// starts there, less `lookback`, and the pass is recorded as done. A partial pass changes
    /// neither, so the deletes it could not diff are found later.
    pub fn finish_run(
        &mut self,
        deletes: Option<&Deletes>,
        started: DateTime<Utc>,
        lookback: Duration,
    ) {
        if self.reconcile && !self.partial {
            if matches!(deletes, Some(Deletes::Feed { .. })) {
                self.since =
                    Some(started - chrono::Duration::from_std(lookback).unwrap_or_default());
            }
            self.reconciled_at = Some(started);
        }
        self.cursor = None;
        self.listed = false;
        self.reconcile = false;
        self.partial = false;
        self.pass = None;
        self.unclean = false;
    }
}

/// What the deletion listing of a run did.
pub(super) enum Listed {
    /// Read to its end (or nothing to read).
    Done,
    /// The feed cannot reach back to the window's start: the run became a reconciliation pass.
    FellBack,
}

/// The unified id of a record as a sync stores it.
pub(super) fn remote_id_of(record: &Value) -> Option<String> {
    match record.get("remote_id").or_else(|| record.get("id")) {
        Some(Value::String(id)) => Some(id.clone()),
        Some(Value::Number(id)) => Some(id.to_string()),
        _ => None,
    }
}

/// The first whole second at or after `instant`.
fn whole_second_after(instant: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{SubsecRound, Timelike};
    if instant.nanosecond() == 0 {
        instant
    } else {
        instant.trunc_subsecs(0) + chrono::Duration::seconds(1)
    }
}

/// What a run needs to write deletes.
pub(super) struct Writer<'a> {
    pub bound: &'a Bound,
    pub job: &'a Job,
    pub connection_id: &'a ConnectionId,
    pub object: UnifiedObject,
}

impl Writer<'_> {
    /// Applies `deletes` with `checkpoint` under the job's claim.
    async fn apply(&self, deletes: Vec<String>, checkpoint: Value) -> Result<(), RunError> {
        self.bound
            .ops
            .store()
            .apply_sync_page(
                &self.job.environment_id,
                SyncPage {
                    connection_id: self.connection_id.clone(),
                    object: self.object.key(),
                    upserts: Vec::new(),
                    deletes,
                    checkpoint: Some(checkpoint),
                    claim: Some((self.job.id.clone(), self.job.fence)),
                    seen: None,
                },
            )
            .await
            .map_err(super::lost_or_failed)?;
        Ok(())
    }

    /// Reads the deletion listing of the run under way, a page at a time, each page's ids
    /// applied as deletes with the checkpoint `checkpoint_of` gives for the state after it.
    /// The window of a feed is `state.since` to `until`.
    pub async fn read_listing(
        &self,
        deletes: &Deletes,
        state: &mut DeleteState,
        until: DateTime<Utc>,
        lookback: Duration,
        page_size: u64,
        checkpoint_of: impl Fn(&DeleteState) -> Value,
    ) -> Result<Listed, RunError> {
        if state.listed {
            return Ok(Listed::Done);
        }
        let started = until;
        // Vendors take whole seconds (or coarser) and drop the fraction: the window ends at the
        // next whole second, so a delete made in the run's first second is inside it.
        let until = whole_second_after(until);
        let (query, out_of_reach_rule) = match deletes {
            Deletes::IdDiff => {
                state.listed = true;
                return Ok(Listed::Done);
            }
            Deletes::Archived { .. } => (json!({}), None),
            Deletes::Feed {
                out_of_reach_rule, ..
            } => {
                let Some(since) = state.since else {
                    state.begin_reconcile(started);
                    return Ok(Listed::FellBack);
                };
                (
                    json!({
                        "since": since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        "until": until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    }),
                    out_of_reach_rule.as_deref(),
                )
            }
        };
        let key = connector::deletes_listing(&self.object.key());
        let mut ctx = self.bound.context(&self.object.key()).await?;
        ctx.query = query;
        ctx.page_size = page_size;
        let ctx = std::sync::Arc::new(ctx);
        let mut seen_cursors = HashSet::new();
        loop {
            // Each page of the listing is a request with its own evaluation budget.
            self.bound.renew_budget();
            let cursor = state.cursor.clone().unwrap_or_default();
            let page = match self.listing_page(&key, &ctx, &cursor).await {
                Ok(page) => page,
                Err(OpError::Provider(error))
                    if out_of_reach_rule.is_some()
                        && error.rule.as_deref() == out_of_reach_rule =>
                {
                    tracing::info!(
                        connection_id = %self.connection_id,
                        object = %self.object.key(),
                        "the deletion feed no longer reaches the last run; reconciling instead"
                    );
                    state.begin_reconcile(started);
                    return Ok(Listed::FellBack);
                }
                Err(error) => return Err(error.into()),
            };
            if !page.errors.is_empty() {
                // An entry whose id cannot be read may be a delete: the listing is not to be
                // trusted, so the run reconciles instead.
                tracing::warn!(
                    connection_id = %self.connection_id,
                    object = %self.object.key(),
                    errors = page.errors.len(),
                    "deletion listing entries without an id; reconciling instead"
                );
                state.begin_reconcile(started);
                return Ok(Listed::FellBack);
            }
            let ids: Vec<String> = page
                .records
                .iter()
                .filter_map(|(mapped, _)| remote_id_of(mapped))
                .collect();
            let next = match page.next {
                Some(ListCursor {
                    p: PageState::Start,
                    r: 0,
                }) => None,
                other => other,
            };
            if let Some(next) = &next
                && !seen_cursors.insert(serde_json::to_string(next).unwrap_or_default())
            {
                return Err(RunError::Fatal(
                    "the vendor's deletion listing repeated a page; the run stopped instead of looping"
                        .to_owned(),
                ));
            }
            state.cursor = next;
            if state.cursor.is_none() {
                state.listed = true;
                if matches!(deletes, Deletes::Feed { .. }) {
                    state.since =
                        Some(until - chrono::Duration::from_std(lookback).unwrap_or_default());
                }
            }
            self.apply(ids, checkpoint_of(state)).await?;
            if state.listed {
                return Ok(Listed::Done);
            }
        }
    }

    /// One page of the deletion listing at `cursor`.
    async fn listing_page(
        &self,
        key: &str,
        ctx: &std::sync::Arc<connector::RequestContext>,
        cursor: &ListCursor,
    ) -> Result<connector::ListPage, OpError> {
        let plans = {
            let (key, ctx, cursor) = (key.to_owned(), std::sync::Arc::clone(ctx), cursor.clone());
            self.bound
                .evaluate(move |connector| connector.plan_list_requests(&key, &ctx, &cursor))
                .await??
        };
        let responses: Vec<connector::VendorResponse> = self
            .bound
            .send_parts(plans)
            .await?
            .into_iter()
            .map(|answer| answer.response)
            .collect();
        let read = {
            let (key, ctx, cursor) = (key.to_owned(), std::sync::Arc::clone(ctx), cursor.clone());
            self.bound
                .evaluate(move |connector| {
                    connector.read_list_parts(&key, &ctx, &cursor, &responses)
                })
                .await?
        };
        self.bound.noted(&self.object.key(), read).await
    }

    /// Ends a complete reconciliation walk of the pass `pass`, before its last page (whose
    /// remote ids are `last`) is applied: the live stored records that neither an earlier page
    /// marked seen nor the last page holds are read back, and the ids of those the vendor no
    /// longer has are returned, to be deleted with the last page. Past a thousand, each
    /// thousand is deleted at once in a page with `checkpoint` (the walk's, unchanged, so a run
    /// that stops here reads the last page again and diffs again). `clean` says every record of
    /// the walk was identified; without it, or when the guard refuses, nothing is deleted and an
    /// event says why.
    pub async fn gone(
        &self,
        pass: &str,
        last: &HashSet<String>,
        clean: bool,
        guard: DeleteGuard,
        checkpoint: &Value,
    ) -> Result<Vec<String>, RunError> {
        let store = self.bound.ops.store();
        let (stored, _) = store
            .count_unseen_synced(
                &self.job.environment_id,
                self.connection_id,
                &self.object.key(),
                pass,
            )
            .await
            .map_err(OpError::from)?;
        // The records missing from the walk are few (or the guard refuses): count them first.
        let mut missing: u64 = 0;
        let mut after: Option<String> = None;
        while let Some(ids) = self.unseen(pass, after.as_deref()).await? {
            after = ids.last().cloned();
            missing += ids.iter().filter(|id| !last.contains(*id)).count() as u64;
        }
        let refusal = if !clean {
            Some("some records of the walk could not be identified")
        } else if guard.refuses(missing, stored) {
            Some("more records went missing than the delete guard allows")
        } else {
            None
        };
        if let Some(reason) = refusal {
            tracing::warn!(
                connection_id = %self.connection_id,
                object = %self.object.key(),
                stored,
                missing,
                reason,
                "reconciliation refused to delete"
            );
            store
                .insert_event(NewEvent {
                    environment_id: self.job.environment_id.clone(),
                    connection_id: Some(self.connection_id.clone()),
                    kind: DELETES_REFUSED_EVENT.to_owned(),
                    payload: json!({
                        "object": self.object.key(),
                        "stored": stored,
                        "seen": stored - missing,
                        "missing": missing,
                        "reason": reason,
                        "guard": {
                            "max_share_percent": guard.max_share_percent,
                            "min_count": guard.min_count,
                        },
                    }),
                })
                .await
                .map_err(OpError::from)?;
            return Ok(Vec::new());
        }
        // Each missing record is read back: one the walk skipped is still there and stays.
        let readable = self
            .bound
            .connector()
            .supports(&self.object.key(), connector::Operation::Get);
        let mut gone = Vec::new();
        let mut after: Option<String> = None;
        while let Some(ids) = self.unseen(pass, after.as_deref()).await? {
            after = ids.last().cloned();
            for id in ids.into_iter().filter(|id| !last.contains(id)) {
                if readable && self.still_there(&id).await? {
                    continue;
                }
                gone.push(id);
                if gone.len() >= STORED_PER_READ as usize {
                    self.apply(std::mem::take(&mut gone), checkpoint.clone())
                        .await?;
                }
            }
        }
        Ok(gone)
    }

    /// The next live stored records after `after` that the pass has not marked seen; `None`
    /// past the last.
    async fn unseen(
        &self,
        pass: &str,
        after: Option<&str>,
    ) -> Result<Option<Vec<String>>, RunError> {
        let ids = self
            .bound
            .ops
            .store()
            .list_unseen_synced(
                &self.job.environment_id,
                self.connection_id,
                &self.object.key(),
                pass,
                after,
                STORED_PER_READ,
            )
            .await
            .map_err(OpError::from)?;
        Ok((!ids.is_empty()).then_some(ids))
    }

    /// Whether the vendor still has the record `id` (the walk missed it).
    async fn still_there(&self, id: &str) -> Result<bool, RunError> {
        // Each read-back is a request with its own evaluation budget.
        self.bound.renew_budget();
        match self
            .bound
            .get(self.object, id.to_owned(), Include::default())
            .await
        {
            Ok(_) => {
                tracing::info!(
                    connection_id = %self.connection_id,
                    object = %self.object.key(),
                    remote_id = %id,
                    "a record the walk missed is still there; kept"
                );
                Ok(true)
            }
            Err(OpError::Provider(error))
                if matches!(
                    error.code,
                    connector::ErrorCode::NotFound | connector::ErrorCode::Gone
                ) =>
            {
                Ok(false)
            }
            Err(OpError::NotFound(_)) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}
