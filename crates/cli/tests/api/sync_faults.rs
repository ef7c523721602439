//! Syncs of 20,000 contacts per vendor under the fault mix of issue 16: 10% of the vendor's
//! answers are 5xx, 5% are 429 and 2% take longer than the call timeout, while records are
//! inserted, edited and deleted under the walk. A full run, then an incremental one (and a
//! reconciliation pass) once the vendor is quiet, must leave the record store equal to the
//! vendor's set (the same records the live API serves), and the change feed, read from the
//! start, must hold each change once: one `created` per record, no change that repeats the one
//! before it, a last change per record equal to the stored record, and for a record gone from
//! the vendor one tombstone at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use cli::demo::Options;
use serde_json::Value;
use server::{SyncDelays, SyncHandler};
use simulators::{Chance, Entry, FaultKind, Tweaks};
use store::{ChangeKind, ConnectionId, EnvironmentId, Job, JobId, JobStatus};

use crate::helpers::{TestApp, spawn_app_with};
use crate::sync::{enqueue_contacts_sync, run_handler_once};

/// Records per vendor.
const RECORDS: usize = 20_000;
/// Records per page of the walk.
const PAGE_SIZE: u64 = 100;

/// Runs a worker until the job has finished (runs that a throttle or an error ended early are
/// taken up again from their checkpoint); the job as it ended.
async fn run_to_the_end(app: &TestApp, environment_id: &EnvironmentId, job_id: &JobId) -> Job {
    // Failed attempts wait milliseconds, not the production half-minute.
    let delays = SyncDelays {
        retry_base: Duration::from_millis(10),
        quota_spent: Duration::from_millis(10),
    };
    for _ in 0..200 {
        run_handler_once(
            app,
            SyncHandler::new(app.demo.state.operations.clone(), PAGE_SIZE).with_delays(delays),
        )
        .await;
        let job = app
            .demo
            .store
            .get_job(environment_id, job_id)
            .await
            .expect("job");
        if !job.status.is_live() {
            return job;
        }
    }
    panic!("the sync did not finish in 200 runs");
}

/// Enqueues one sync of the connection's contacts, with `extra` in its payload, and runs it to
/// the end.
async fn sync(app: &TestApp, provider: &str, extra: Value) -> Job {
    let (environment_id, job) = enqueue_contacts_sync(app, provider, 1_000, extra).await;
    run_to_the_end(app, &environment_id, &job.id).await
}

async fn a_large_sync_under_faults_ends_equal_to_the_vendor(entry: Entry, tweaks: Tweaks) {
    let app = spawn_app_with(Options {
        registry: vec![entry],
        tweaks,
        // The slow answers take 1.5 s: past this timeout, so they fail as timeouts.
        provider_timeout_secs: Some(1),
        ..Options::tests()
    })
    .await;
    let provider = app.demo.vendors[0].provider.clone();
    let connection = ConnectionId::parse(&app.connection(&provider)).expect("id");
    let environment_id = app
        .demo
        .store
        .get_connection_by_id(&connection)
        .await
        .expect("connection")
        .environment_id;
    assert!(app.contact_ids(&provider).len() >= RECORDS, "{provider}");
    // This test walks the list under faults. A connector with a bulk export would read a first
    // run of this size through it (its own tests are in `sync_bulk.rs`), so the export's
    // threshold is raised above the test's records.
    if app
        .demo
        .state
        .operations
        .connectors()
        .get(&provider)
        .is_some_and(|connector| connector.bulk_read("crm.contacts").is_some())
    {
        let (status, body) = app
            .call(
                reqwest::Method::PUT,
                &format!("/connections/{connection}/overrides"),
                Some(
                    serde_json::json!({"unified": {"crm.contacts": {"list": {"bulk": {
                        "threshold": RECORDS * 10
                    }}}}}),
                ),
            )
            .await;
        assert!(status.is_success(), "{provider}: {status}: {body}");
    }
    let prefix = app.facts(&provider).contacts_list_prefix.clone();
    let faults = app.simulator(&provider).faults();
    let chance = |kind, path_prefix: Option<&str>, probability| Chance {
        kind,
        path_prefix: path_prefix.map(str::to_owned),
        probability,
    };
    faults.set_chances(
        vec![
            chance(
                FaultKind::Status {
                    status: 503,
                    body: None,
                },
                None,
                0.10,
            ),
            chance(
                FaultKind::Throttle {
                    retry_after_secs: Some(1),
                },
                None,
                0.05,
            ),
            chance(FaultKind::Delay { millis: 1_500 }, None, 0.02),
            chance(
                FaultKind::Mutate {
                    inserts: 3,
                    deletes: 1,
                },
                Some(&prefix),
                0.2,
            ),
            chance(FaultKind::Update { updates: 3 }, Some(&prefix), 0.2),
        ],
        16,
    );
    let job = sync(&app, &provider, serde_json::json!({})).await;
    assert_eq!(job.status, JobStatus::Done, "{provider}: {job:?}");
    let hits = faults.chance_hits();
    assert!(
        hits.iter().all(|hits| *hits > 0),
        "{provider}: every kind of fault hit the walk: {hits:?}"
    );

    // The vendor calms down; the next (incremental) run catches up with what changed.
    // It is a reconciliation pass too, so that deletes found by an id diff are found now, not
    // a day later.
    faults.clear();
    let job = sync(
        &app,
        &provider,
        serde_json::json!({"reconcile_every_secs": 0}),
    )
    .await;
    assert_eq!(job.status, JobStatus::Done, "{provider}: {job:?}");

    let stored: BTreeMap<String, Value> = app
        .demo
        .store
        .list_synced_records(
            &environment_id,
            &connection,
            "crm.contacts",
            None,
            false,
            100_000,
        )
        .await
        .expect("records")
        .into_iter()
        .map(|record| (record.remote_id, record.record))
        .collect();
    let live: BTreeMap<String, Value> = app
        .walk(&provider, "contacts", "", PAGE_SIZE)
        .await
        .into_iter()
        .map(|record| {
            let id = record["remote_id"]
                .as_str()
                .or_else(|| record["id"].as_str())
                .expect("id")
                .to_owned();
            (id, record)
        })
        .collect();
    // On a difference, the ids themselves tell a lost record from a kept deleted one and from
    // a stale version.
    let missing: Vec<&String> = live.keys().filter(|id| !stored.contains_key(*id)).collect();
    let extra: Vec<&String> = stored.keys().filter(|id| !live.contains_key(*id)).collect();
    let stale: Vec<(&String, &Value, &Value)> = live
        .iter()
        .filter_map(|(id, record)| {
            let kept = stored.get(id)?;
            (kept != record).then_some((id, kept, record))
        })
        .collect();
    // The runs' own account (phases, counts, refused deletes) goes with a difference.
    let runs: Vec<String> = if missing.is_empty() && extra.is_empty() && stale.is_empty() {
        Vec::new()
    } else {
        app.demo
            .store
            .list_events(&environment_id, Some(&connection), None)
            .await
            .expect("events")
            .into_iter()
            .filter(|event| event.kind.starts_with("sync."))
            .map(|event| format!("{} {}", event.kind, event.payload))
            .collect()
    };
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{provider}: the store holds exactly the vendor's records ({} stored, {} live): \
         missing {missing:?}, extra {extra:?}; the runs: {runs:#?}",
        stored.len(),
        live.len()
    );
    assert!(
        stale.is_empty(),
        "{provider}: {} stored records differ from the vendor's (stored, live): {:?}; the runs: \
         {runs:#?}",
        stale.len(),
        stale.iter().take(3).collect::<Vec<_>>()
    );

    let mut changes: BTreeMap<String, Vec<(ChangeKind, Option<Value>)>> = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = app
            .demo
            .store
            .list_changes(&environment_id, after, Some(&connection), 1_000)
            .await
            .expect("changes");
        let Some(last) = page.last() else { break };
        assert!(last.seq > after);
        after = last.seq;
        for change in page {
            changes
                .entry(change.remote_id)
                .or_default()
                .push((change.kind, change.record));
        }
    }
    assert!(
        stored.keys().all(|id| changes.contains_key(id)),
        "{provider}: every stored record has changes"
    );
    let (mut updated, mut deleted) = (0, 0);
    for (id, history) in &changes {
        assert_eq!(
            history[0].0,
            ChangeKind::Created,
            "{provider} {id}: {history:?}"
        );
        assert!(
            history.windows(2).all(|pair| pair[0].1 != pair[1].1),
            "{provider} {id}: no change repeats the one before it"
        );
        let middle = &history[1..history.len().max(2) - 1];
        assert!(
            middle.iter().all(|(kind, _)| *kind == ChangeKind::Updated),
            "{provider} {id}: one creation, then updates: {history:?}"
        );
        match stored.get(id) {
            Some(record) => {
                assert!(
                    history[1..]
                        .iter()
                        .all(|(kind, _)| *kind == ChangeKind::Updated),
                    "{provider} {id}: one creation, then updates: {history:?}"
                );
                assert_eq!(
                    history.last().and_then(|(_, record)| record.as_ref()),
                    Some(record),
                    "{provider} {id}: the feed ends on the stored record"
                );
                updated += history.len() - 1;
            }
            None => {
                assert_eq!(
                    history
                        .last()
                        .map(|(kind, record)| (*kind, record.is_none())),
                    Some((ChangeKind::Deleted, true)),
                    "{provider} {id}: gone from the vendor, the feed ends on one tombstone: {history:?}"
                );
                deleted += 1;
                updated += history.len().saturating_sub(2);
            }
        }
    }
    assert!(
        deleted > 0,
        "{provider}: records deleted under the walk show as deletes"
    );
    assert!(
        updated > 0,
        "{provider}: records edited under the walk show as updates"
    );
}

#[tokio::test]
async fn a_hubspot_sync_of_20000_contacts_under_faults_ends_equal_to_the_vendor() {
    use simulators::hubspot::HubSpot;
    a_large_sync_under_faults_ends_equal_to_the_vendor(
        Entry::of::<HubSpot>(),
        Tweaks::default().with::<HubSpot>(|config| config.contacts = RECORDS),
    )
    .await;
}

#[tokio::test]
async fn a_salesforce_sync_of_20000_contacts_under_faults_ends_equal_to_the_vendor() {
    use simulators::salesforce::Salesforce;
    a_large_sync_under_faults_ends_equal_to_the_vendor(
        Entry::of::<Salesforce>(),
        Tweaks::default().with::<Salesforce>(|config| config.contacts = RECORDS),
    )
    .await;
}

#[tokio::test]
async fn a_pipedrive_sync_of_20000_contacts_under_faults_ends_equal_to_the_vendor() {
    use simulators::pipedrive::Pipedrive;
    a_large_sync_under_faults_ends_equal_to_the_vendor(
        Entry::of::<Pipedrive>(),
        Tweaks::default().with::<Pipedrive>(|config| config.persons = RECORDS),
    )
    .await;
}

#[tokio::test]
async fn a_zoho_sync_of_20000_contacts_under_faults_ends_equal_to_the_vendor() {
    use simulators::zoho::Zoho;
    a_large_sync_under_faults_ends_equal_to_the_vendor(
        Entry::of::<Zoho>(),
        Tweaks::default().with::<Zoho>(|config| config.contacts = RECORDS),
    )
    .await;
}

#[tokio::test]
async fn a_dynamics_sync_of_20000_contacts_under_faults_ends_equal_to_the_vendor() {
    use simulators::dynamics::Dynamics;
    a_large_sync_under_faults_ends_equal_to_the_vendor(
        Entry::of::<Dynamics>(),
        Tweaks::default().with::<Dynamics>(|config| config.contacts = RECORDS),
    )
    .await;
}

#[tokio::test]
async fn a_close_sync_of_20000_contacts_under_faults_ends_equal_to_the_vendor() {
    use simulators::close::Close;
    a_large_sync_under_faults_ends_equal_to_the_vendor(
        Entry::of::<Close>(),
        Tweaks::default().with::<Close>(|config| config.contacts = RECORDS),
    )
    .await;
}
