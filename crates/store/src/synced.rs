//! The record store and change feed of syncs (issue 16): each synced record kept as its unified
//! JSON with a hash, and every create, update and delete numbered in its environment's sequence.
//!
//! A sync applies one vendor page at a time with [`crate::Store::apply_sync_page`]: in one
//! transaction it compares the page's records with the stored ones by hash, writes only those
//! that changed, appends one change per create, update or delete with the next numbers of the
//! environment's sequence, and stores the sync's checkpoint, so a crash repeats at most one page
//! and a repeated page adds no change. Sequence numbers are handed out under a lock held until the
//! commit, so they appear in the feed in order: a reader that stores the last number it read
//! never misses a change committed later with a smaller one.
//!
//! Beside its progress, a sync's runs record how it stands ([`SyncState`]: status, phase, last
//! error) with [`crate::Store::record_sync_state`], under the same fence as their pages, so a
//! worker that lost its claim cannot overwrite what its successor recorded.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{ConnectionId, EnvironmentId, JobId};

/// One page of a sync, to apply at once.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncPage {
    pub connection_id: ConnectionId,
    /// The unified object (`contacts`, `employees`, …).
    pub object: String,
    /// Records seen on the page, by remote id; a later entry for the same id wins.
    pub upserts: Vec<SyncedInput>,
    /// Remote ids the vendor says are gone.
    pub deletes: Vec<String>,
    /// Where the sync resumes after this page; `None` keeps the stored one.
    pub checkpoint: Option<Value>,
    /// The job claim the page belongs to (its id and fence): the page is refused once the claim
    /// is no longer the job's latest, so a stalled worker cannot write after its successor.
    pub claim: Option<(JobId, u64)>,
    /// The reconciliation pass the page belongs to, if any: its stored records are marked seen
    /// by the pass, in the same transaction, so the pass's seen set survives a restart.
    pub seen: Option<SeenBy>,
}

/// What a page of a reconciliation pass saw (see [`SyncPage::seen`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenBy {
    /// The pass: any text the caller chooses, the same for each of its pages and different
    /// from every earlier pass of the object.
    pub pass: String,
    /// Remote ids seen besides the page's upserts (records the vendor listed that could not be
    /// mapped, say); an id the store does not hold is ignored.
    pub ids: Vec<String>,
}

/// A record seen by a sync, held as the JSON text the store keeps: it is serialized once, for
/// its hash and for every row that stores it (the record's and its change's), and a page of
/// them holds that text rather than each record's tree of values.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncedInput {
    pub remote_id: String,
    /// The unified record as JSON text.
    text: String,
    /// A hash of the record (the caller's choice of function, the same for every page): an
    /// unchanged hash is no change.
    pub hash: String,
}

impl SyncedInput {
    /// `record`, with the hash `hash` gives of its JSON text.
    pub fn new(remote_id: String, record: &Value, hash: impl FnOnce(&str) -> String) -> Self {
        let text = serde_json::to_string(record).expect("a JSON value always serializes");
        SyncedInput {
            remote_id,
            hash: hash(&text),
            text,
        }
    }

    /// The record as JSON text, as stored.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The record.
    pub fn record(&self) -> Value {
        serde_json::from_str(&self.text).expect("the text of a JSON value reads back")
    }
}

/// What a page changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AppliedPage {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    /// The environment's sequence number of the page's last change, if it made any.
    pub last_seq: Option<u64>,
}

/// What kind of change a feed entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

impl ChangeKind {
    /// The kind as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
        }
    }

    /// Parses a stored kind.
    pub fn parse(text: &str) -> Option<ChangeKind> {
        [
            ChangeKind::Created,
            ChangeKind::Updated,
            ChangeKind::Deleted,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// One entry of an environment's change feed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    /// Its number in the environment's sequence: strictly increasing in commit order.
    pub seq: u64,
    pub environment_id: EnvironmentId,
    pub connection_id: ConnectionId,
    pub object: String,
    pub remote_id: String,
    pub kind: ChangeKind,
    /// The record after the change; `None` for a delete (a tombstone).
    pub record: Option<Value>,
    pub created_at: DateTime<Utc>,
}

/// A record in the record store.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SyncedRecord {
    pub connection_id: ConnectionId,
    pub object: String,
    pub remote_id: String,
    pub record: Value,
    pub hash: String,
    /// Gone from the vendor (the record keeps its last content).
    pub deleted: bool,
    /// The sequence number of its latest change.
    pub seq: u64,
    pub updated_at: DateTime<Utc>,
}

/// A sync's progress on one connection's object.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SyncProgress {
    pub connection_id: ConnectionId,
    pub object: String,
    /// Where the sync resumes.
    pub checkpoint: Option<Value>,
    pub pages: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    /// How the sync stands, as its runs last recorded; `None` before they recorded any.
    pub status: Option<SyncStatus>,
    /// What the run under way, or the last one, does.
    pub phase: Option<SyncPhase>,
    /// Why the last run that failed did, as a problem+json object; cleared by a run that
    /// completes.
    pub last_error: Option<Value>,
    pub updated_at: DateTime<Utc>,
}

/// How a sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// Waiting for a run that has not started.
    Queued,
    /// A run is under way.
    Running,
    /// The last run stopped at the vendor's budget; it resumes from its checkpoint when the
    /// budget allows.
    RateLimited,
    /// Held back until resumed.
    Paused,
    /// The last run failed.
    Failed,
    /// The last run completed.
    Done,
}

impl SyncStatus {
    /// Every status.
    pub const ALL: [SyncStatus; 6] = [
        SyncStatus::Queued,
        SyncStatus::Running,
        SyncStatus::RateLimited,
        SyncStatus::Paused,
        SyncStatus::Failed,
        SyncStatus::Done,
    ];

    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Queued => "queued",
            SyncStatus::Running => "running",
            SyncStatus::RateLimited => "rate_limited",
            SyncStatus::Paused => "paused",
            SyncStatus::Failed => "failed",
            SyncStatus::Done => "done",
        }
    }

    /// Parses a stored status.
    pub fn parse(text: &str) -> Option<SyncStatus> {
        SyncStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// What a sync's run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    /// Reads everything: the first run, or the first after a forced resync.
    Backfill,
    /// Reads what changed since the last complete run.
    Incremental,
    /// Compares the stored records with the vendor's to find deletes.
    Reconcile,
}

impl SyncPhase {
    /// Every phase.
    pub const ALL: [SyncPhase; 3] = [
        SyncPhase::Backfill,
        SyncPhase::Incremental,
        SyncPhase::Reconcile,
    ];

    /// The phase as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncPhase::Backfill => "backfill",
            SyncPhase::Incremental => "incremental",
            SyncPhase::Reconcile => "reconcile",
        }
    }

    /// Parses a stored phase.
    pub fn parse(text: &str) -> Option<SyncPhase> {
        SyncPhase::ALL
            .into_iter()
            .find(|phase| phase.as_str() == text)
    }
}

/// How a sync stands, to record with [`crate::Store::record_sync_state`]: each field replaces
/// the stored one.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncState {
    pub connection_id: ConnectionId,
    /// The unified object, as in [`SyncPage::object`].
    pub object: String,
    pub status: SyncStatus,
    pub phase: Option<SyncPhase>,
    /// A problem+json object, or `None` to clear it.
    pub last_error: Option<Value>,
    /// The job claim recording it, as in [`SyncPage::claim`]; `None` for a write from outside
    /// a run (the API's controls).
    pub claim: Option<(JobId, u64)>,
}

#[cfg(test)]
mod tests {
    use super::SyncedInput;
    use serde_json::json;

    /// The hash is of the very text the store keeps, and the record reads back whole: key
    /// order and numbers as they were (a record is serialized once, not once per use).
    #[test]
    fn a_synced_input_hashes_and_keeps_the_same_text() {
        let record = json!({"id": "a", "z": 1, "b": [1.50, {"y": null}], "amount": 12345678901234567890_u64});
        let mut hashed = String::new();
        let input = SyncedInput::new("a".to_owned(), &record, |text| {
            hashed = text.to_owned();
            format!("{}", text.len())
        });
        assert_eq!(input.text(), hashed);
        assert_eq!(
            input.text(),
            serde_json::to_string(&record).expect("serializes")
        );
        assert_eq!(input.hash, hashed.len().to_string());
        assert_eq!(input.record(), record);
    }
}
