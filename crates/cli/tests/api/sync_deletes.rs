//! Deletes in syncs (issue 16), on every vendor: records deleted at the vendor between runs and
//! during them end up deleted in the record store with exactly one tombstone each in the change
//! feed, through the kind each connector declares (Salesforce's and Zoho's deleted feeds, Close's event log,
//! HubSpot's archived listing, an id diff for Pipedrive and Dynamics 365). Also: the fall-back to an id diff when
//! the feed no longer reaches the last run, the guard against a walk that shrank suspiciously,
//! and a reconciliation pass that fails part-way committing no deletes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use server::{DELETES_REFUSED_EVENT, DeleteGuard, SYNC_JOB_KIND, SyncDelays, SyncHandler};
use simulators::{Fault, FaultKind};
use store::{ChangeKind, ConnectionId, EnvironmentId, Job, NewJob, timestamp};

use crate::helpers::{TestApp, spawn_app};
use crate::sync::run_handler_once;

/// Records per vendor page, so that a run walks several.
const PAGE_SIZE: u64 = 7;

/// One provider's demo connection, its environment and the sync of its contacts.
struct Synced<'a> {
    app: &'a TestApp,
    provider: &'static str,
    connection: ConnectionId,
    environment_id: EnvironmentId,
    /// Seconds between reconciliation passes (`None`: the default, daily).
    reconcile_every_secs: Option<u64>,
    guard: DeleteGuard,
}

impl<'a> Synced<'a> {
    async fn new(app: &'a TestApp, provider: &'static str) -> Synced<'a> {
        let connection = ConnectionId::parse(&app.connection(provider)).expect("id");
        let environment_id = app
            .demo
            .store
            .get_connection_by_id(&connection)
            .await
            .expect("connection")
            .environment_id;
        Synced {
            app,
            provider,
            connection,
            environment_id,
            reconcile_every_secs: None,
            guard: DeleteGuard::default(),
        }
    }

    /// Enqueues one run of the contacts sync (or finds the one queued for a retry) and runs a
    /// worker until it has ended; returns the job as it ended.
    async fn run(&self) -> Job {
        let mut payload = json!({
            "connection_id": self.connection.to_string(),
            "object": "crm.contacts",
        });
        if let Some(every) = self.reconcile_every_secs {
            payload["reconcile_every_secs"] = json!(every);
        }
        let (job, _) = self
            .app
            .demo
            .store
            .enqueue_job(NewJob {
                environment_id: self.environment_id.clone(),
                connection_id: Some(self.connection.clone()),
                kind: SYNC_JOB_KIND.to_owned(),
                key: Some(format!("sync:{}:crm.contacts", self.connection)),
                payload,
                run_at: timestamp::now(),
                max_attempts: 5,
            })
            .await
            .expect("enqueue");
        let (report, _) = run_handler_once(
            self.app,
            SyncHandler::new(self.app.demo.state.operations.clone(), PAGE_SIZE)
                .with_delays(SyncDelays {
                    retry_base: Duration::ZERO,
                    quota_spent: Duration::ZERO,
                })
                .with_delete_guard(self.guard),
        )
        .await;
        assert_eq!(report.finished, 1, "{}: {report:?}", self.provider);
        self.app
            .demo
            .store
            .get_job(&self.environment_id, &job.id)
            .await
            .expect("job")
    }

    /// The live (not deleted) contacts the record store holds.
    async fn stored(&self) -> BTreeSet<String> {
        self.app
            .demo
            .store
            .list_synced_records(
                &self.environment_id,
                &self.connection,
                "crm.contacts",
                None,
                false,
                100_000,
            )
            .await
            .expect("records")
            .into_iter()
            .map(|record| record.remote_id)
            .collect()
    }

    /// Each contact's changes in the feed, in order.
    async fn changes(&self) -> BTreeMap<String, Vec<ChangeKind>> {
        let mut per_id: BTreeMap<String, Vec<ChangeKind>> = BTreeMap::new();
        for change in self
            .app
            .demo
            .store
            .list_changes(&self.environment_id, 0, Some(&self.connection), 100_000)
            .await
            .expect("changes")
        {
            assert_eq!(
                change.record.is_none(),
                change.kind == ChangeKind::Deleted,
                "{}: a delete, and only a delete, is a tombstone: {change:?}",
                self.provider
            );
            per_id
                .entry(change.remote_id)
                .or_default()
                .push(change.kind);
        }
        per_id
    }

    /// Deletes a contact at the vendor through Crosswalk's unified API.
    async fn delete_at_vendor(&self, id: &str) {
        let (status, body) = self
            .app
            .call(
                Method::DELETE,
                &format!(
                    "/unified/crm/contacts/{id}?connection_id={}",
                    self.connection
                ),
                None,
            )
            .await;
        assert!(
            status.is_success(),
            "{}: deleting {id}: {status} {body}",
            self.provider
        );
    }

    /// The `sync.deletes_refused` events of the connection.
    async fn refusals(&self) -> Vec<Value> {
        self.app
            .demo
            .store
            .list_events(
                &self.environment_id,
                Some(&self.connection),
                Some(DELETES_REFUSED_EVENT),
            )
            .await
            .expect("events")
            .into_iter()
            .map(|event| event.payload)
            .collect()
    }

    /// Asserts the store holds exactly the vendor's contacts, each present one created once
    /// and each of `deleted` created once and deleted once.
    async fn assert_in_step(&self, deleted: &BTreeSet<String>) {
        let vendor = self.app.contact_ids(self.provider);
        assert_eq!(
            self.stored().await,
            vendor,
            "{}: the store holds the vendor's contacts",
            self.provider
        );
        let changes = self.changes().await;
        for id in deleted {
            assert_eq!(
                changes.get(id).map(Vec::as_slice),
                Some(&[ChangeKind::Created, ChangeKind::Deleted][..]),
                "{}: `{id}` created once, then one tombstone",
                self.provider
            );
        }
        for id in &vendor {
            assert_eq!(
                changes.get(id).map(Vec::as_slice),
                Some(&[ChangeKind::Created][..]),
                "{}: `{id}` created once",
                self.provider
            );
        }
    }
}

/// Records deleted at the vendor between runs, and during a run's walk, end up deleted in the
/// store with one tombstone each, and a later run adds nothing.
async fn deletes_between_and_during_runs_reach_the_store_once(
    provider: &'static str,
    reconcile_every_secs: Option<u64>,
) {
    let app = spawn_app().await;
    let mut sync = Synced::new(&app, provider).await;
    sync.reconcile_every_secs = reconcile_every_secs;
    let job = sync.run().await;
    assert_eq!(job.last_error, None, "{provider}: {job:?}");
    let before = app.contact_ids(provider);
    assert_eq!(sync.stored().await, before, "{provider}: the first run");

    // Between runs: three contacts deleted through the API.
    let between: Vec<String> = before.iter().skip(2).step_by(5).take(3).cloned().collect();
    for id in &between {
        sync.delete_at_vendor(id).await;
    }
    // During the next run's walk: two more, deleted as a listing page is served.
    app.simulator(provider).faults().push(Fault {
        kind: FaultKind::Mutate {
            inserts: 0,
            deletes: 2,
        },
        path_prefix: Some(app.facts(provider).contacts_list_prefix.clone()),
        times: 1,
    });
    let job = sync.run().await;
    assert_eq!(job.last_error, None, "{provider}: {job:?}");
    // A delete made behind the walk is found by the next run.
    let job = sync.run().await;
    assert_eq!(job.last_error, None, "{provider}: {job:?}");
    let after = app.contact_ids(provider);
    let deleted: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert_eq!(
        deleted.len(),
        5,
        "{provider}: five contacts deleted at the vendor"
    );
    sync.assert_in_step(&deleted).await;

    // Once more: deleted records stay deleted, with no second tombstone.
    let feed_end = app
        .demo
        .store
        .list_changes(&sync.environment_id, 0, Some(&sync.connection), 100_000)
        .await
        .expect("changes")
        .last()
        .expect("changes")
        .seq;
    let job = sync.run().await;
    assert_eq!(job.last_error, None, "{provider}: {job:?}");
    assert!(
        app.demo
            .store
            .list_changes(&sync.environment_id, feed_end, Some(&sync.connection), 10)
            .await
            .expect("changes")
            .is_empty(),
        "{provider}: nothing changed, nothing in the feed"
    );
    assert!(sync.refusals().await.is_empty(), "{provider}");
}

#[tokio::test]
async fn salesforce_deletes_come_from_the_deleted_feed_once_each() {
    deletes_between_and_during_runs_reach_the_store_once("salesforce", None).await;
}

#[tokio::test]
async fn hubspot_deletes_come_from_the_archived_listing_once_each() {
    deletes_between_and_during_runs_reach_the_store_once("hubspot", None).await;
}

#[tokio::test]
async fn pipedrive_deletes_come_from_an_id_diff_once_each() {
    deletes_between_and_during_runs_reach_the_store_once("pipedrive", Some(0)).await;
}

#[tokio::test]
async fn zoho_deletes_come_from_the_deleted_listing_once_each() {
    deletes_between_and_during_runs_reach_the_store_once("zoho", None).await;
}

#[tokio::test]
async fn close_deletes_come_from_the_event_log_once_each() {
    deletes_between_and_during_runs_reach_the_store_once("closecrm", None).await;
}

#[tokio::test]
async fn dynamics_deletes_come_from_an_id_diff_once_each() {
    deletes_between_and_during_runs_reach_the_store_once("dynamics365", Some(0)).await;
}

/// A Salesforce connection idle for longer than the deleted feed reaches: the feed refuses the
/// window, and the run finds the deletes by an id diff instead of missing them.
#[tokio::test]
async fn a_feed_out_of_reach_falls_back_to_an_id_diff() {
    let app = spawn_app().await;
    let sync = Synced::new(&app, "salesforce").await;
    sync.run().await;
    let before = app.contact_ids("salesforce");
    for id in before.iter().take(2) {
        sync.delete_at_vendor(id).await;
    }
    // Sixteen days on, by the org's clock: the feed no longer covers the last run.
    app.handle::<simulators::salesforce::Salesforce>()
        .advance_replication_clock(Duration::from_secs(16 * 86_400));
    let requests = app.simulator("salesforce").requests();
    requests.reset();
    let job = sync.run().await;
    assert_eq!(job.last_error, None, "{job:?}");
    assert_eq!(
        requests.total_matching("GET /services/data/v59.0/sobjects/Contact/deleted"),
        1,
        "the feed was asked, and refused: {:?}",
        requests.counts()
    );
    let deleted: BTreeSet<String> = before.iter().take(2).cloned().collect();
    sync.assert_in_step(&deleted).await;
}

/// A watermark older than the feed's declared reach is not even asked for: the run goes
/// straight to an id diff.
#[tokio::test]
async fn a_watermark_older_than_the_feed_reaches_goes_straight_to_an_id_diff() {
    let app = spawn_app().await;
    let sync = Synced::new(&app, "salesforce").await;
    sync.run().await;
    let before = app.contact_ids("salesforce");
    let gone = before.iter().nth(3).expect("a contact").clone();
    sync.delete_at_vendor(&gone).await;
    // The sync last read the feed twenty days ago.
    let progress = app
        .demo
        .store
        .get_sync_progress(&sync.environment_id, &sync.connection, "crm.contacts")
        .await
        .expect("progress")
        .expect("synced");
    let mut checkpoint = progress.checkpoint.expect("checkpoint");
    let long_ago = (chrono::Utc::now() - chrono::Duration::days(20))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        checkpoint["deletes"]["since"].is_string(),
        "a complete run leaves the feed's next window: {checkpoint}"
    );
    checkpoint["deletes"]["since"] = json!(long_ago);
    app.demo
        .store
        .apply_sync_page(
            &sync.environment_id,
            store::SyncPage {
                connection_id: sync.connection.clone(),
                object: "crm.contacts".to_owned(),
                upserts: Vec::new(),
                deletes: Vec::new(),
                checkpoint: Some(checkpoint),
                claim: None,
                seen: None,
            },
        )
        .await
        .expect("checkpoint written");
    let requests = app.simulator("salesforce").requests();
    requests.reset();
    let job = sync.run().await;
    assert_eq!(job.last_error, None, "{job:?}");
    assert_eq!(
        requests.total_matching("GET /services/data/v59.0/sobjects/Contact/deleted"),
        0,
        "{:?}",
        requests.counts()
    );
    sync.assert_in_step(&BTreeSet::from([gone])).await;
}

/// A walk that suddenly misses most records (a permission change, say) deletes nothing and
/// records a `sync.deletes_refused` event, while a few deletes under the guard go through.
#[tokio::test]
async fn a_walk_that_shrank_suspiciously_deletes_nothing_and_says_so() {
    let app = spawn_app().await;
    let mut sync = Synced::new(&app, "pipedrive").await;
    sync.reconcile_every_secs = Some(0);
    sync.guard = DeleteGuard {
        max_share_percent: 50,
        min_count: 5,
    };
    sync.run().await;
    let before = app.contact_ids("pipedrive");
    assert!(before.len() > 20, "{}", before.len());
    let feed_end = app
        .demo
        .store
        .list_changes(&sync.environment_id, 0, Some(&sync.connection), 100_000)
        .await
        .expect("changes")
        .last()
        .expect("changes")
        .seq;

    // Three in four contacts vanish from the listing as the walk begins.
    app.simulator("pipedrive").faults().push(Fault {
        kind: FaultKind::Mutate {
            inserts: 0,
            deletes: before.len() * 3 / 4,
        },
        path_prefix: Some(app.facts("pipedrive").contacts_list_prefix.clone()),
        times: 1,
    });
    let job = sync.run().await;
    assert_eq!(job.last_error, None, "{job:?}");
    assert_eq!(
        sync.stored().await,
        before,
        "nothing deleted from the store"
    );
    assert!(
        app.demo
            .store
            .list_changes(&sync.environment_id, feed_end, Some(&sync.connection), 10)
            .await
            .expect("changes")
            .iter()
            .all(|change| change.kind != ChangeKind::Deleted),
        "no tombstone"
    );
    let refusals = sync.refusals().await;
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0]["object"], "crm.contacts");
    assert_eq!(refusals[0]["stored"], before.len());
    assert_eq!(refusals[0]["missing"], before.len() * 3 / 4);

    // A few deletes stay under the guard and go through.
    let mut small = Synced::new(&app, "dynamics365").await;
    small.reconcile_every_secs = Some(0);
    small.guard = sync.guard;
    small.run().await;
    let some = app.contact_ids("dynamics365");
    let gone: BTreeSet<String> = some.iter().take(3).cloned().collect();
    for id in &gone {
        small.delete_at_vendor(id).await;
    }
    small.run().await;
    small.assert_in_step(&gone).await;
    assert!(small.refusals().await.is_empty());
}

/// A reconciliation pass whose walk fails part-way commits no deletes; the attempt that resumes
/// it from its checkpoint (a new worker, with nothing of the first attempt in memory) walks the
/// rest and commits them, since the pass's seen ids live in the store: the records seen by the
/// failed attempt's page are not taken for deleted.
#[tokio::test]
async fn an_interrupted_id_diff_pass_resumes_and_commits_its_deletes() {
    let app = spawn_app().await;
    let mut sync = Synced::new(&app, "dynamics365").await;
    sync.reconcile_every_secs = Some(0);
    sync.run().await;
    let before = app.contact_ids("dynamics365");
    let gone: BTreeSet<String> = before.iter().skip(1).take(3).cloned().collect();
    for id in &gone {
        sync.delete_at_vendor(id).await;
    }
    let prefix = app.facts("dynamics365").contacts_list_prefix.clone();
    let faults = app.simulator("dynamics365").faults();
    // The first page is served; the second is refused for good.
    faults.push(Fault {
        kind: FaultKind::Delay { millis: 0 },
        path_prefix: Some(prefix.clone()),
        times: 1,
    });
    faults.push(Fault {
        kind: FaultKind::Status {
            status: 400,
            body: Some(json!({"error": {"code": "0x80040203", "message": "refused by the test"}})),
        },
        path_prefix: Some(prefix),
        times: 1,
    });
    let feed_end = app
        .demo
        .store
        .list_changes(&sync.environment_id, 0, Some(&sync.connection), 100_000)
        .await
        .expect("changes")
        .last()
        .expect("changes")
        .seq;
    let job = sync.run().await;
    assert!(job.last_error.is_some(), "the pass failed: {job:?}");
    assert_eq!(sync.stored().await, before, "no delete committed");
    assert!(
        app.demo
            .store
            .list_changes(&sync.environment_id, feed_end, Some(&sync.connection), 100)
            .await
            .expect("changes")
            .is_empty(),
        "nothing in the feed"
    );

    // The attempt that takes the run up again goes on from its checkpoint (the second page)
    // and ends with the diff: the three deleted contacts, and only they, are deleted.
    let requests = app.simulator("dynamics365").requests();
    requests.reset();
    let job = sync.run().await;
    assert_eq!(job.status, store::JobStatus::Done, "{job:?}");
    sync.assert_in_step(&gone).await;
    assert!(sync.refusals().await.is_empty());
    let progress = app
        .demo
        .store
        .get_sync_progress(&sync.environment_id, &sync.connection, "crm.contacts")
        .await
        .expect("progress")
        .expect("synced");
    assert_eq!(progress.deleted, 3, "{progress:?}");
    // Only the missing records were read back: the contacts of the failed attempt's page
    // counted as seen.
    let prefix = &app.facts("dynamics365").contacts_list_prefix;
    assert_eq!(
        requests.total_matching(&format!("GET {prefix}(")),
        gone.len() as u64,
        "{:?}",
        requests.counts()
    );
}
