//! The conformance suite: behaviour every [`Store`] backend must show, written once.
//!
//! Each check is a public async function of a store that panics with a message naming what broke.
//! A backend's test file invokes [`conformance_tests!`](crate::conformance_tests) with a function
//! that makes a fresh store and runs one check on it, which expands to one `#[tokio::test]` per
//! check, so a failure names its check and does not hide the others.
//! Every check makes its own environments, so checks do not depend on each other or on an empty
//! database, and all of them in turn on one store pass too.
//! It tests the contract written on [`Store`], not SQL details such as indexes or isolation levels.
//! The module exists only with the `conformance` feature, which the backends enable for their
//! tests alone, so the release library carries none of it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::join_all;
use secrets::{Keyring, Sealed};
use serde_json::{Value, json};

use crate::{
    ApiKeyHash, ApiKeyId, Branding, Change, ChangeKind, ConnectSession, Connection, ConnectionId,
    ConnectionStatus, ConnectionUpdate, Cursor, EnvironmentId, JobId, JobOutcome, JobStatus,
    KeyPermissions, NewApiKey, NewConnection, NewEvent, NewJob, OAuthApp, OAuthState,
    OverrideScope, OverrideVersion, Page, PageRequest, SessionCompletion, Store, StoreError,
    SyncPage, SyncedInput, api_key_prefix, generate_api_key, timestamp,
};
use crate::{IdempotencyClaim, IdempotencyScope, StoredAnswer};
use crate::{InboxOutcome, InboxStatus, NewInboxEntry, VerificationFailure, WebhookIngress};
use crate::{JobControl, SeenBy, SyncPhase, SyncState, SyncStatus};
use crate::{MessageNext, MessageStatus, NewWebhookEndpoint, ReplaySelection, WebhookAttempt};

/// One conformance check: an async function of a store that panics when the store misbehaves.
pub type Check = for<'a> fn(&'a dyn Store) -> BoxFuture<'a, ()>;

pub use futures::future::BoxFuture;

/// Expands to one `#[tokio::test]` per check, each calling `$run(check)`, where `$run` is an
/// async function of the backend's test file that makes a fresh store, runs the [`Check`] on it
/// and cleans up.
///
/// One test per check lets a failure name its check, lets the others still run, and lets the
/// test harness run them in parallel; invoke it once per store setup, inside a module.
#[macro_export]
macro_rules! conformance_tests {
    ($run:path) => {
        $crate::conformance_tests!(@each $run;
            environment_round_trips,
            unknown_environment_is_not_found,
            api_key_is_found_by_hash,
            unknown_api_key_hash_is_not_found,
            duplicate_api_key_hash_conflicts,
            api_key_for_unknown_environment_is_not_found,
            api_key_label_and_expiry_round_trip_and_list_oldest_first,
            api_key_permissions_round_trip,
            revoking_an_api_key_keeps_the_last_usable_one,
            concurrent_revocations_of_the_last_two_keys_leave_one,
            rotating_an_api_key_overlaps_the_old_and_the_new,
            touching_an_api_key_keeps_the_latest_use,
            connection_round_trips_byte_exact,
            json_keeps_key_order_and_values,
            every_status_round_trips,
            duplicate_connection_id_conflicts,
            connection_for_unknown_environment_is_not_found,
            connections_are_scoped_to_their_environment,
            list_is_oldest_first,
            update_changes_only_given_fields,
            empty_update_still_bumps_updated_at,
            update_of_missing_connection_is_not_found,
            delete_removes_connection_and_its_discovered_fields,
            discovered_fields_upsert_replaces,
            discovered_fields_are_per_connection_and_resource,
            discovered_fields_for_unknown_connection_is_not_found,
            timestamps_keep_microseconds,
            ids_are_unique,
            concurrent_inserts_all_land,
            oauth_app_upserts_per_environment_and_provider,
            branding_starts_empty_and_is_replaced_whole,
            evaluation_limits_start_empty_and_are_replaced_whole,
            connect_session_round_trips,
            connect_session_checks_environment_and_connection,
            oauth_state_is_taken_once,
            concurrent_oauth_state_takers_one_wins,
            deleting_a_connection_removes_its_sessions_and_states,
            a_connect_session_is_used_once_for_what_it_was_made_for,
            a_failed_connection_write_leaves_the_session_unused,
            concurrent_session_users_one_wins,
            oauth_starts_are_capped_per_live_session,
            concurrent_oauth_starts_never_pass_the_cap,
            purge_removes_expired_sessions_and_states_only,
            events_are_oldest_first_and_filtered,
            credentials_expiry_round_trips,
            connection_by_id_ignores_environment,
            expiring_connections_soonest_first,
            refresh_lease_fences_stale_holders,
            refresh_lease_release_and_reacquire,
            concurrent_lease_takers_one_wins,
            refresh_lease_of_unknown_connection_is_not_found,
            all_connections_span_environments,
            replace_sealed_credentials_compares_and_swaps,
            overrides_append_versions_and_keep_history,
            override_history_keeps_the_latest_versions_only,
            current_override_versions_name_both_layers_in_one_read,
            override_expected_version_is_optimistic,
            override_writes_check_environment_connection_and_provider,
            overrides_are_scoped_by_environment_provider_and_layer,
            deleting_a_connection_removes_its_overrides,
            concurrent_override_writers_expecting_one_version_one_wins,
            concurrent_unconditional_override_writers_all_land,
            current_overrides_span_environments_and_leave_out_removed_ones,
            an_invalid_override_is_recorded_once_per_version_and_revision,
            concurrent_invalid_override_reporters_record_one_event,
            connection_pages_walk_every_connection_once_while_others_are_inserted,
            event_pages_are_filtered_and_walk_every_event_once_while_others_are_recorded,
            a_connection_and_its_event_are_inserted_together_or_not_at_all,
            a_connection_update_and_its_event_are_stored_together_or_not_at_all,
            concurrent_updates_with_events_all_land,
            a_job_is_enqueued_claimed_and_finished,
            jobs_are_claimed_when_due_by_kind_earliest_first,
            a_live_key_holds_one_job,
            a_lapsed_lease_is_taken_over_and_fences_the_old_worker,
            a_failing_job_is_retried_until_its_attempts_run_out,
            a_rescheduled_job_runs_again_with_fresh_attempts,
            a_cancelled_job_is_never_claimed_and_its_worker_learns_it,
            concurrent_claimers_never_share_a_job,
            jobs_are_listed_newest_first_and_go_with_their_connection,
            sync_pages_record_each_change_once,
            a_large_sync_page_numbers_every_change_in_order,
            a_reconciliation_pass_marks_what_it_saw_in_the_store,
            a_sync_page_of_a_stale_claim_writes_nothing,
            concurrent_sync_pages_number_the_feed_without_gaps,
            a_paused_job_is_held_back_until_resumed,
            a_job_is_made_due_now_and_its_payload_replaced,
            a_sync_state_is_recorded_under_its_claim_with_its_event,
            restarting_a_sync_drops_its_checkpoint_and_takes_it_from_its_worker,
            default_syncs_start_empty_and_are_replaced_whole,
            an_idempotency_key_keeps_its_first_answer,
            an_idempotency_key_is_scoped_to_environment_connection_method_and_path,
            an_idempotency_key_is_free_again_once_expired_or_released,
            concurrent_claims_of_one_idempotency_key_let_one_through,
            webhook_outbox_messages_attempts_and_replays,
            webhook_ingress_is_found_by_token_hash_and_replaced_whole,
            accepted_webhooks_wait_in_the_inbox_with_one_live_job,
            webhook_event_ids_are_new_once_within_seven_days,
            webhook_failures_are_counted_and_sampled,
        );
    };
    (@each $run:path; $($check:ident,)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                fn check(store: &dyn $crate::Store) -> $crate::conformance::BoxFuture<'_, ()> {
                    ::std::boxed::Box::pin($crate::conformance::$check(store))
                }
                $run(check).await;
            }
        )*
        /// Every check once more, one after another on one store, which then already holds
        /// the rows of the checks before: no check may rely on an empty database.
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn all_checks_in_turn_on_one_store() {
            fn all(store: &dyn $crate::Store) -> $crate::conformance::BoxFuture<'_, ()> {
                ::std::boxed::Box::pin(async move {
                    $( $crate::conformance::$check(store).await; )*
                })
            }
            $run(all).await;
        }
    };
}

/// The keyring the suite seals with; a fixed key, since these are test values only.
pub fn test_keyring() -> Keyring {
    Keyring::new("conformance", [("conformance".to_owned(), [42u8; 32])])
        .expect("a valid fixed key")
}

fn seal_credentials(id: &ConnectionId, credentials: &Value) -> Sealed {
    test_keyring().seal_json(credentials, id.as_str().as_bytes())
}

fn new_connection(environment_id: &EnvironmentId, provider: &str) -> NewConnection {
    let id = ConnectionId::generate();
    let credentials = seal_credentials(
        &id,
        &json!({"access_token": format!("at-{id}"), "refresh_token": "rt"}),
    );
    NewConnection {
        id,
        environment_id: environment_id.clone(),
        provider: provider.to_owned(),
        status: ConnectionStatus::Active,
        account: json!({"instance_url": "https://example.invalid", "portal_id": 42}),
        credentials,
        credentials_expires_at: None,
    }
}

async fn environment(store: &dyn Store, name: &str) -> EnvironmentId {
    store
        .create_environment(name)
        .await
        .expect("create environment")
        .id
}

async fn insert(store: &dyn Store, environment_id: &EnvironmentId, provider: &str) -> Connection {
    store
        .insert_connection(new_connection(environment_id, provider))
        .await
        .expect("insert connection")
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

pub async fn environment_round_trips(store: &dyn Store) {
    let before = timestamp::now();
    let environment = store
        .create_environment("Acme production")
        .await
        .expect("create");
    assert_eq!(environment.name, "Acme production");
    assert!(
        environment.created_at >= before,
        "created_at is now or later"
    );
    assert!(environment.created_at <= timestamp::now() + Duration::seconds(1));
    let fetched = store.get_environment(&environment.id).await.expect("get");
    assert_eq!(fetched, environment);
    let same_name = store
        .create_environment("Acme production")
        .await
        .expect("names need not be unique");
    assert_ne!(same_name.id, environment.id);
}

pub async fn unknown_environment_is_not_found(store: &dyn Store) {
    assert_not_found(
        store.get_environment(&EnvironmentId::generate()).await,
        "get_environment of a fresh id",
    );
}

pub async fn api_key_is_found_by_hash(store: &dyn Store) {
    let environment_id = environment(store, "keys").await;
    let key = generate_api_key();
    let hash = ApiKeyHash::of(&key);
    let inserted = store
        .insert_api_key(&environment_id, &hash, &api_key_prefix(&key))
        .await
        .expect("insert key");
    assert_eq!(inserted.environment_id, environment_id);
    assert_eq!(inserted.prefix, api_key_prefix(&key));
    let found = store
        .find_api_key(&ApiKeyHash::of(&key))
        .await
        .expect("find by hash");
    assert_eq!(found, inserted);

    let second_key = generate_api_key();
    let second = store
        .insert_api_key(
            &environment_id,
            &ApiKeyHash::of(&second_key),
            &api_key_prefix(&second_key),
        )
        .await
        .expect("an environment may hold several keys");
    assert_ne!(second.id, inserted.id);
    assert_eq!(
        store
            .find_api_key(&ApiKeyHash::of(&second_key))
            .await
            .expect("find second"),
        second
    );
}

pub async fn unknown_api_key_hash_is_not_found(store: &dyn Store) {
    assert_not_found(
        store
            .find_api_key(&ApiKeyHash::of(&generate_api_key()))
            .await,
        "find_api_key of an unknown hash",
    );
}

pub async fn duplicate_api_key_hash_conflicts(store: &dyn Store) {
    let first_environment = environment(store, "first").await;
    let second_environment = environment(store, "second").await;
    let hash = ApiKeyHash::of(&generate_api_key());
    let original = store
        .insert_api_key(&first_environment, &hash, "cw_abcde")
        .await
        .expect("first insert");
    assert_conflict(
        store
            .insert_api_key(&second_environment, &hash, "cw_abcde")
            .await,
        "same hash twice",
    );
    assert_eq!(
        store.find_api_key(&hash).await.expect("still found"),
        original
    );
}

pub async fn api_key_for_unknown_environment_is_not_found(store: &dyn Store) {
    let hash = ApiKeyHash::of(&generate_api_key());
    assert_not_found(
        store
            .insert_api_key(&EnvironmentId::generate(), &hash, "cw_abcde")
            .await,
        "insert_api_key into an unknown environment",
    );
    assert_not_found(
        store.find_api_key(&hash).await,
        "the failed key was not stored",
    );
}

pub async fn connection_round_trips_byte_exact(store: &dyn Store) {
    let environment_id = environment(store, "round trip").await;
    let new = new_connection(&environment_id, "vendor-one");
    let before = timestamp::now();
    let connection = store.insert_connection(new.clone()).await.expect("insert");
    assert_eq!(connection.id, new.id);
    assert_eq!(connection.environment_id, environment_id);
    assert_eq!(connection.provider, "vendor-one");
    assert_eq!(connection.status, ConnectionStatus::Active);
    assert_eq!(connection.account, new.account);
    assert_eq!(
        connection.credentials.to_bytes(),
        new.credentials.to_bytes()
    );
    assert!(connection.created_at >= before);
    assert_eq!(connection.updated_at, connection.created_at);

    let fetched = store
        .get_connection(&environment_id, &new.id)
        .await
        .expect("get");
    assert_eq!(fetched, connection);
    assert_eq!(
        fetched.credentials.to_bytes(),
        new.credentials.to_bytes(),
        "sealed bytes are kept exactly"
    );
    let opened = test_keyring()
        .open_json(&fetched.credentials, fetched.id.as_str().as_bytes())
        .expect("opens");
    assert_eq!(opened["access_token"], json!(format!("at-{}", new.id)));
}

pub async fn json_keeps_key_order_and_values(store: &dyn Store) {
    let environment_id = environment(store, "json").await;
    let account: Value = serde_json::from_str(
        r#"{"zeta":1,"alpha":{"y":[1,2.5,-3,null,true],"b":"ünïcödé ✓ \"quoted\" \\ back"},"big":9007199254740993,"empty":{},"list":[]}"#,
    )
    .expect("valid json");
    let mut new = new_connection(&environment_id, "vendor-two");
    new.account = account.clone();
    let id = new.id.clone();
    store.insert_connection(new).await.expect("insert");
    let fetched = store
        .get_connection(&environment_id, &id)
        .await
        .expect("get");
    assert_eq!(fetched.account, account);
    assert_eq!(
        serde_json::to_string(&fetched.account).expect("serializes"),
        serde_json::to_string(&account).expect("serializes"),
        "object keys keep their order"
    );

    let fields = json!({"properties": [{"name": "email", "type": "string"}], "z": 1, "a": 2});
    store
        .put_discovered_fields(&id, "contacts", &fields, timestamp::now())
        .await
        .expect("put");
    let cached = store
        .get_discovered_fields(&id, "contacts")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        serde_json::to_string(&cached.fields).expect("serializes"),
        serde_json::to_string(&fields).expect("serializes")
    );
}

pub async fn every_status_round_trips(store: &dyn Store) {
    let environment_id = environment(store, "statuses").await;
    for status in ConnectionStatus::ALL {
        let mut new = new_connection(&environment_id, "vendor-three");
        new.status = status;
        let inserted = store.insert_connection(new).await.expect("insert");
        assert_eq!(inserted.status, status);
        assert_eq!(
            store
                .get_connection(&environment_id, &inserted.id)
                .await
                .expect("get")
                .status,
            status
        );
    }
}

pub async fn duplicate_connection_id_conflicts(store: &dyn Store) {
    let environment_id = environment(store, "dup").await;
    let other_environment = environment(store, "dup other").await;
    let new = new_connection(&environment_id, "vendor-one");
    let original = store
        .insert_connection(new.clone())
        .await
        .expect("first insert");
    assert_conflict(
        store.insert_connection(new.clone()).await,
        "same connection id twice",
    );
    let mut elsewhere = new.clone();
    elsewhere.environment_id = other_environment.clone();
    assert_conflict(
        store.insert_connection(elsewhere).await,
        "same connection id in another environment",
    );
    assert_eq!(
        store
            .get_connection(&environment_id, &new.id)
            .await
            .expect("kept"),
        original
    );
    assert!(
        store
            .list_connections(&other_environment)
            .await
            .expect("list")
            .is_empty()
    );
}

pub async fn connection_for_unknown_environment_is_not_found(store: &dyn Store) {
    let new = new_connection(&EnvironmentId::generate(), "vendor-one");
    let environment_id = new.environment_id.clone();
    let id = new.id.clone();
    assert_not_found(
        store.insert_connection(new).await,
        "insert_connection into an unknown environment",
    );
    assert_not_found(
        store.get_connection(&environment_id, &id).await,
        "the failed connection was not stored",
    );
}

pub async fn connections_are_scoped_to_their_environment(store: &dyn Store) {
    let env_a = environment(store, "tenant a").await;
    let env_b = environment(store, "tenant b").await;
    let connection = insert(store, &env_a, "vendor-one").await;
    let b_own = insert(store, &env_b, "vendor-one").await;

    assert_not_found(
        store.get_connection(&env_b, &connection.id).await,
        "get through another environment",
    );
    let update = ConnectionUpdate {
        status: Some(ConnectionStatus::Disabled),
        account: Some(json!({"hijacked": true})),
        credentials: Some(b_own.credentials.clone()),
        credentials_expires_at: Some(Some(timestamp::now())),
    };
    assert_not_found(
        store
            .update_connection(&env_b, &connection.id, update)
            .await,
        "update through another environment",
    );
    assert_not_found(
        store.delete_connection(&env_b, &connection.id).await,
        "delete through another environment",
    );
    let listed_b: Vec<ConnectionId> = store
        .list_connections(&env_b)
        .await
        .expect("list b")
        .into_iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(
        listed_b,
        vec![b_own.id.clone()],
        "b lists only its own connection"
    );

    let unchanged = store
        .get_connection(&env_a, &connection.id)
        .await
        .expect("still in a");
    assert_eq!(
        unchanged, connection,
        "failed cross-environment writes changed nothing"
    );
    let listed_a: Vec<ConnectionId> = store
        .list_connections(&env_a)
        .await
        .expect("list a")
        .into_iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(listed_a, vec![connection.id.clone()]);
    assert!(
        store
            .list_connections(&EnvironmentId::generate())
            .await
            .expect("list unknown")
            .is_empty()
    );
}

pub async fn list_is_oldest_first(store: &dyn Store) {
    let environment_id = environment(store, "order").await;
    let mut inserted = Vec::new();
    for provider in ["vendor-one", "vendor-two", "vendor-three", "attio"] {
        inserted.push(insert(store, &environment_id, provider).await);
    }
    // Updating the first one must not move it: the order is by creation, not by last change.
    store
        .update_connection(
            &environment_id,
            &inserted[0].id,
            ConnectionUpdate::default(),
        )
        .await
        .expect("touch the first");
    let listed = store.list_connections(&environment_id).await.expect("list");
    let listed_ids: Vec<&ConnectionId> = listed.iter().map(|row| &row.id).collect();
    let inserted_ids: Vec<&ConnectionId> = inserted.iter().map(|row| &row.id).collect();
    assert_eq!(listed_ids, inserted_ids);
    assert!(
        listed
            .windows(2)
            .all(|pair| pair[0].created_at <= pair[1].created_at)
    );
    assert_eq!(listed[1], inserted[1], "listed rows are complete");
}

pub async fn update_changes_only_given_fields(store: &dyn Store) {
    let environment_id = environment(store, "update").await;
    let original = insert(store, &environment_id, "vendor-one").await;

    let status_only = ConnectionUpdate {
        status: Some(ConnectionStatus::NeedsReauth),
        ..ConnectionUpdate::default()
    };
    let after_status = store
        .update_connection(&environment_id, &original.id, status_only)
        .await
        .expect("status");
    assert_eq!(after_status.status, ConnectionStatus::NeedsReauth);
    assert_eq!(after_status.account, original.account);
    assert_eq!(after_status.credentials, original.credentials);
    assert_eq!(after_status.provider, original.provider);
    assert_eq!(after_status.created_at, original.created_at);
    assert!(
        after_status.updated_at > original.updated_at,
        "updated_at is bumped"
    );

    let new_account = json!({"instance_url": "https://eu1.example.invalid"});
    let account_only = ConnectionUpdate {
        account: Some(new_account.clone()),
        ..ConnectionUpdate::default()
    };
    let after_account = store
        .update_connection(&environment_id, &original.id, account_only)
        .await
        .expect("account");
    assert_eq!(after_account.account, new_account);
    assert_eq!(after_account.status, ConnectionStatus::NeedsReauth);
    assert_eq!(after_account.credentials, original.credentials);
    assert!(after_account.updated_at > after_status.updated_at);

    let refreshed = seal_credentials(&original.id, &json!({"access_token": "refreshed"}));
    let credentials_only = ConnectionUpdate {
        credentials: Some(refreshed.clone()),
        ..ConnectionUpdate::default()
    };
    let after_credentials = store
        .update_connection(&environment_id, &original.id, credentials_only)
        .await
        .expect("credentials");
    assert_eq!(
        after_credentials.credentials.to_bytes(),
        refreshed.to_bytes()
    );
    assert_eq!(after_credentials.account, new_account);
    assert_eq!(after_credentials.status, ConnectionStatus::NeedsReauth);
    assert!(after_credentials.updated_at > after_account.updated_at);

    assert_eq!(after_credentials.credentials_expires_at, None);

    let expires_at = Utc
        .timestamp_opt(1_800_000_000, 654_321_987)
        .single()
        .expect("valid");
    let all = ConnectionUpdate {
        status: Some(ConnectionStatus::Active),
        account: Some(json!({})),
        credentials: Some(original.credentials.clone()),
        credentials_expires_at: Some(Some(expires_at)),
    };
    let after_all = store
        .update_connection(&environment_id, &original.id, all)
        .await
        .expect("all");
    assert_eq!(
        after_all.credentials_expires_at,
        Some(timestamp::truncate(expires_at))
    );
    assert_eq!(after_all.status, ConnectionStatus::Active);
    assert_eq!(after_all.account, json!({}));
    assert_eq!(after_all.credentials, original.credentials);
    assert_eq!(after_all.created_at, original.created_at);

    let fetched = store
        .get_connection(&environment_id, &original.id)
        .await
        .expect("get");
    assert_eq!(fetched, after_all, "update returns what is stored");
}

pub async fn empty_update_still_bumps_updated_at(store: &dyn Store) {
    let environment_id = environment(store, "touch").await;
    let original = insert(store, &environment_id, "vendor-one").await;
    let mut previous = original.clone();
    for _ in 0..5 {
        let touched = store
            .update_connection(&environment_id, &original.id, ConnectionUpdate::default())
            .await
            .expect("touch");
        assert!(
            touched.updated_at > previous.updated_at,
            "strictly later on each update"
        );
        assert_eq!(
            Connection {
                updated_at: previous.updated_at,
                ..touched.clone()
            },
            previous,
            "nothing else changed"
        );
        previous = touched;
    }
}

pub async fn update_of_missing_connection_is_not_found(store: &dyn Store) {
    let environment_id = environment(store, "missing").await;
    assert_not_found(
        store
            .update_connection(
                &environment_id,
                &ConnectionId::generate(),
                ConnectionUpdate::default(),
            )
            .await,
        "update of an unknown id",
    );
    assert_not_found(
        store
            .delete_connection(&environment_id, &ConnectionId::generate())
            .await,
        "delete of an unknown id",
    );
    assert_not_found(
        store
            .get_connection(&environment_id, &ConnectionId::generate())
            .await,
        "get of an unknown id",
    );
}

pub async fn delete_removes_connection_and_its_discovered_fields(store: &dyn Store) {
    let environment_id = environment(store, "delete").await;
    let doomed = insert(store, &environment_id, "vendor-one").await;
    let kept = insert(store, &environment_id, "vendor-one").await;
    for connection in [&doomed, &kept] {
        for resource in ["contacts", "companies"] {
            store
                .put_discovered_fields(
                    &connection.id,
                    resource,
                    &json!({"fields": [resource]}),
                    timestamp::now(),
                )
                .await
                .expect("put");
        }
    }

    store
        .delete_connection(&environment_id, &doomed.id)
        .await
        .expect("delete");
    assert_not_found(
        store.get_connection(&environment_id, &doomed.id).await,
        "get after delete",
    );
    assert_not_found(
        store.delete_connection(&environment_id, &doomed.id).await,
        "second delete",
    );
    for resource in ["contacts", "companies"] {
        assert_eq!(
            store
                .get_discovered_fields(&doomed.id, resource)
                .await
                .expect("get fields"),
            None
        );
        assert!(
            store
                .get_discovered_fields(&kept.id, resource)
                .await
                .expect("get fields")
                .is_some()
        );
    }
    assert_not_found(
        store
            .put_discovered_fields(&doomed.id, "contacts", &json!({}), timestamp::now())
            .await,
        "put fields for a deleted connection",
    );
    let listed: Vec<ConnectionId> = store
        .list_connections(&environment_id)
        .await
        .expect("list")
        .into_iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(listed, vec![kept.id.clone()]);

    // A fresh connection may reuse nothing of the old one: the cache starts empty.
    let mut reused = new_connection(&environment_id, "vendor-one");
    reused.id = doomed.id.clone();
    reused.credentials = seal_credentials(&reused.id, &json!({"access_token": "again"}));
    store
        .insert_connection(reused)
        .await
        .expect("the id is free again");
    assert_eq!(
        store
            .get_discovered_fields(&doomed.id, "contacts")
            .await
            .expect("get fields"),
        None
    );
}

pub async fn discovered_fields_upsert_replaces(store: &dyn Store) {
    let environment_id = environment(store, "fields").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    assert_eq!(
        store
            .get_discovered_fields(&connection.id, "contacts")
            .await
            .expect("get"),
        None
    );

    let first_at = Utc.timestamp_opt(1_700_000_000, 0).single().expect("valid");
    let first = json!({"email": {"type": "string"}});
    store
        .put_discovered_fields(&connection.id, "contacts", &first, first_at)
        .await
        .expect("put");
    let cached = store
        .get_discovered_fields(&connection.id, "contacts")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(cached.connection_id, connection.id);
    assert_eq!(cached.resource, "contacts");
    assert_eq!(cached.fields, first);
    assert_eq!(cached.fetched_at, first_at);

    let second_at = first_at + Duration::hours(1);
    let second = json!({"email": {"type": "string"}, "lifecycle_stage": {"type": "enum"}});
    store
        .put_discovered_fields(&connection.id, "contacts", &second, second_at)
        .await
        .expect("put again");
    let replaced = store
        .get_discovered_fields(&connection.id, "contacts")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(replaced.fields, second);
    assert_eq!(replaced.fetched_at, second_at);

    // An older fetch still replaces: the cache holds the last write, not the newest fetch.
    store
        .put_discovered_fields(&connection.id, "contacts", &first, first_at)
        .await
        .expect("put older");
    let last = store
        .get_discovered_fields(&connection.id, "contacts")
        .await
        .expect("get")
        .expect("present");
    assert_eq!((last.fields, last.fetched_at), (first, first_at));
}

pub async fn discovered_fields_are_per_connection_and_resource(store: &dyn Store) {
    let environment_id = environment(store, "fields scope").await;
    let first = insert(store, &environment_id, "vendor-one").await;
    let second = insert(store, &environment_id, "vendor-one").await;
    let at = timestamp::now();
    store
        .put_discovered_fields(&first.id, "contacts", &json!(["first contacts"]), at)
        .await
        .expect("put");
    store
        .put_discovered_fields(&first.id, "deals", &json!(["first deals"]), at)
        .await
        .expect("put");
    store
        .put_discovered_fields(&second.id, "contacts", &json!(["second contacts"]), at)
        .await
        .expect("put");

    let fields_of = |connection_id: ConnectionId, resource: &'static str| async move {
        store
            .get_discovered_fields(&connection_id, resource)
            .await
            .expect("get")
            .map(|cached| cached.fields)
    };
    assert_eq!(
        fields_of(first.id.clone(), "contacts").await,
        Some(json!(["first contacts"]))
    );
    assert_eq!(
        fields_of(first.id.clone(), "deals").await,
        Some(json!(["first deals"]))
    );
    assert_eq!(
        fields_of(second.id.clone(), "contacts").await,
        Some(json!(["second contacts"]))
    );
    assert_eq!(fields_of(second.id.clone(), "deals").await, None);
    assert_eq!(
        fields_of(first.id.clone(), "Contacts").await,
        None,
        "resource names are case-sensitive"
    );
}

pub async fn discovered_fields_for_unknown_connection_is_not_found(store: &dyn Store) {
    let unknown = ConnectionId::generate();
    assert_not_found(
        store
            .put_discovered_fields(&unknown, "contacts", &json!({}), timestamp::now())
            .await,
        "put fields for an unknown connection",
    );
    assert_eq!(
        store
            .get_discovered_fields(&unknown, "contacts")
            .await
            .expect("get"),
        None
    );
}

pub async fn timestamps_keep_microseconds(store: &dyn Store) {
    let environment_id = environment(store, "precision").await;
    let environment = store.get_environment(&environment_id).await.expect("get");
    assert_eq!(
        environment.created_at,
        timestamp::truncate(environment.created_at)
    );
    let connection = insert(store, &environment_id, "vendor-one").await;
    assert_eq!(
        connection.created_at,
        timestamp::truncate(connection.created_at),
        "no digits past microseconds"
    );

    let precise = Utc
        .timestamp_opt(1_700_000_000, 123_456_789)
        .single()
        .expect("valid");
    store
        .put_discovered_fields(&connection.id, "contacts", &json!({}), precise)
        .await
        .expect("put");
    let cached = store
        .get_discovered_fields(&connection.id, "contacts")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(cached.fetched_at, timestamp::truncate(precise));
    assert_eq!(cached.fetched_at.timestamp_subsec_nanos(), 123_456_000);

    let early = Utc
        .timestamp_opt(-1, 999_999_000)
        .single()
        .expect("valid: just before the epoch");
    store
        .put_discovered_fields(&connection.id, "pre-epoch", &json!({}), early)
        .await
        .expect("put");
    let cached = store
        .get_discovered_fields(&connection.id, "pre-epoch")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(cached.fetched_at, early);
}

pub async fn ids_are_unique(store: &dyn Store) {
    let mut environment_ids = Vec::new();
    for _ in 0..10 {
        environment_ids.push(environment(store, "unique").await);
    }
    let mut deduplicated = environment_ids.clone();
    deduplicated.sort();
    deduplicated.dedup();
    assert_eq!(
        deduplicated.len(),
        environment_ids.len(),
        "environment ids are unique"
    );

    let mut key_ids = Vec::new();
    for environment_id in &environment_ids {
        let key = generate_api_key();
        let api_key = store
            .insert_api_key(environment_id, &ApiKeyHash::of(&key), &api_key_prefix(&key))
            .await;
        key_ids.push(api_key.expect("insert key").id);
    }
    key_ids.sort();
    key_ids.dedup();
    assert_eq!(
        key_ids.len(),
        environment_ids.len(),
        "api key ids are unique"
    );
}

pub async fn concurrent_inserts_all_land(store: &dyn Store) {
    const N_TASKS: usize = 16;
    let environment_results = join_all((0..N_TASKS).map(|task_idx| async move {
        store
            .create_environment(&format!("concurrent {task_idx}"))
            .await
    }))
    .await;
    let environment_ids: Vec<EnvironmentId> = environment_results
        .into_iter()
        .map(|result| result.expect("concurrent create_environment").id)
        .collect();
    let shared_environment = environment_ids[0].clone();

    // Each future takes its own pooled connection, so the database sees the writes interleaved.
    let connection_results = join_all((0..N_TASKS).map(|_| {
        let new = new_connection(&shared_environment, "vendor-one");
        async move {
            let id = new.id.clone();
            let inserted = store.insert_connection(new).await?;
            let key = generate_api_key();
            store
                .insert_api_key(
                    &inserted.environment_id,
                    &ApiKeyHash::of(&key),
                    &api_key_prefix(&key),
                )
                .await?;
            store
                .put_discovered_fields(
                    &id,
                    "contacts",
                    &json!({"by": id.as_str()}),
                    timestamp::now(),
                )
                .await?;
            store
                .update_connection(&inserted.environment_id, &id, ConnectionUpdate::default())
                .await
        }
    }))
    .await;
    let mut inserted_ids: Vec<ConnectionId> = connection_results
        .into_iter()
        .map(|result| result.expect("concurrent writes").id)
        .collect();

    let mut listed_ids: Vec<ConnectionId> = store
        .list_connections(&shared_environment)
        .await
        .expect("list")
        .into_iter()
        .map(|row| row.id)
        .collect();
    inserted_ids.sort();
    listed_ids.sort();
    assert_eq!(listed_ids, inserted_ids, "every concurrent insert landed");
    for id in &inserted_ids {
        let cached = store
            .get_discovered_fields(id, "contacts")
            .await
            .expect("get")
            .expect("present");
        assert_eq!(cached.fields, json!({"by": id.as_str()}));
    }

    // Concurrent updates of one row: each bump is applied, none lost or interleaved.
    let target = inserted_ids[0].clone();
    let before = store
        .get_connection(&shared_environment, &target)
        .await
        .expect("get");
    let updates = join_all((0..N_TASKS).map(|task_idx| {
        let update = ConnectionUpdate {
            account: Some(json!({"writer": task_idx})),
            ..ConnectionUpdate::default()
        };
        let environment_id = shared_environment.clone();
        let target = target.clone();
        async move {
            store
                .update_connection(&environment_id, &target, update)
                .await
        }
    }))
    .await;
    let mut stamps: Vec<_> = updates
        .into_iter()
        .map(|result| result.expect("concurrent update").updated_at)
        .collect();
    stamps.sort();
    stamps.dedup();
    assert_eq!(
        stamps.len(),
        N_TASKS,
        "every concurrent update got its own updated_at"
    );
    assert!(stamps[0] > before.updated_at);
    let after = store
        .get_connection(&shared_environment, &target)
        .await
        .expect("get");
    assert_eq!(
        Some(&after.updated_at),
        stamps.last(),
        "the stored row is the last update"
    );
}

/// A random SHA-256-shaped hex string, standing in for a hashed token or state.
fn random_hash() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn at(seconds: i64, micros: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, micros * 1_000)
        .single()
        .expect("a valid test time")
}

fn oauth_app(environment_id: &EnvironmentId, provider: &str, client_id: &str) -> OAuthApp {
    OAuthApp {
        environment_id: environment_id.clone(),
        provider: provider.to_owned(),
        client_id: client_id.to_owned(),
        client_secret: test_keyring().seal_json(
            &json!({"client_secret": format!("secret-of-{client_id}")}),
            format!("oauth_app:{environment_id}:{provider}").as_bytes(),
        ),
        redirect_uris: vec![
            "https://app.example.invalid/connected".to_owned(),
            "http://localhost:3000/callback?x=1&y=ü".to_owned(),
        ],
        scopes: Some(vec!["records.contacts.read".to_owned(), "oauth".to_owned()]),
        updated_at: at(1_700_000_000, 123_456) + Duration::nanoseconds(789),
    }
}

pub async fn oauth_app_upserts_per_environment_and_provider(store: &dyn Store) {
    let environment_id = environment(store, "oauth apps").await;
    let other_environment = environment(store, "oauth apps other").await;
    assert_not_found(
        store.get_oauth_app(&environment_id, "vendor-one").await,
        "get of an app never stored",
    );

    let app = oauth_app(&environment_id, "vendor-one", "client-one");
    store.put_oauth_app(&app).await.expect("put");
    let fetched = store
        .get_oauth_app(&environment_id, "vendor-one")
        .await
        .expect("get");
    assert_eq!(
        fetched,
        OAuthApp {
            updated_at: timestamp::truncate(app.updated_at),
            ..app.clone()
        }
    );
    assert_eq!(
        fetched.client_secret.to_bytes(),
        app.client_secret.to_bytes(),
        "the sealed secret is kept byte for byte"
    );

    // A second put for the same pair replaces every field, `scopes` back to the default included.
    let replacement = OAuthApp {
        client_id: "client-two".to_owned(),
        redirect_uris: Vec::new(),
        scopes: None,
        updated_at: app.updated_at + Duration::hours(1),
        ..oauth_app(&environment_id, "vendor-one", "client-two")
    };
    store.put_oauth_app(&replacement).await.expect("replace");
    let replaced = store
        .get_oauth_app(&environment_id, "vendor-one")
        .await
        .expect("get replaced");
    assert_eq!(replaced.client_id, "client-two");
    assert_eq!(replaced.redirect_uris, Vec::<String>::new());
    assert_eq!(replaced.scopes, None);
    assert_eq!(replaced.client_secret, replacement.client_secret);
    assert_eq!(
        replaced.updated_at,
        timestamp::truncate(replacement.updated_at)
    );

    // Another provider of the same environment and the same provider of another environment are
    // separate apps.
    let other = oauth_app(&environment_id, "vendor-two", "sf-client");
    store.put_oauth_app(&other).await.expect("put other");
    assert_eq!(
        store
            .get_oauth_app(&environment_id, "vendor-one")
            .await
            .expect("get")
            .client_id,
        "client-two"
    );
    assert_not_found(
        store.get_oauth_app(&other_environment, "vendor-one").await,
        "an app is not visible through another environment",
    );
    assert_not_found(
        store.get_oauth_app(&environment_id, "Vendor-One").await,
        "providers are case-sensitive",
    );
    assert_not_found(
        store
            .put_oauth_app(&oauth_app(&EnvironmentId::generate(), "vendor-one", "x"))
            .await,
        "put_oauth_app into an unknown environment",
    );

    // Listing sees every app of every environment (other tests' apps included).
    let listed = store.list_oauth_apps().await.expect("list");
    for (environment, provider, client) in [
        (&environment_id, "vendor-one", "client-two"),
        (&environment_id, "vendor-two", "sf-client"),
    ] {
        assert!(
            listed.iter().any(|app| &app.environment_id == environment
                && app.provider == provider
                && app.client_id == client),
            "list_oauth_apps holds `{provider}` of the environment"
        );
    }
}

pub async fn evaluation_limits_start_empty_and_are_replaced_whole(store: &dyn Store) {
    let environment_id = environment(store, "limits").await;
    let other_environment = environment(store, "limits other").await;
    assert_eq!(
        store
            .get_evaluation_limits(&environment_id)
            .await
            .expect("get"),
        serde_json::json!({}),
        "never set: no limit of its own"
    );
    let limits = serde_json::json!({"max_steps": 50_000, "request_max_time_ms": 2_500});
    store
        .set_evaluation_limits(&environment_id, &limits)
        .await
        .expect("set");
    assert_eq!(
        store
            .get_evaluation_limits(&environment_id)
            .await
            .expect("get"),
        limits
    );
    assert_eq!(
        store
            .get_evaluation_limits(&other_environment)
            .await
            .expect("get"),
        serde_json::json!({}),
        "limits are per environment"
    );
    let fewer = serde_json::json!({"max_items": 100});
    store
        .set_evaluation_limits(&environment_id, &fewer)
        .await
        .expect("replace");
    assert_eq!(
        store
            .get_evaluation_limits(&environment_id)
            .await
            .expect("get"),
        fewer,
        "replaced whole"
    );
    let unknown = EnvironmentId::generate();
    assert!(matches!(
        store.set_evaluation_limits(&unknown, &fewer).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_evaluation_limits(&unknown).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn branding_starts_empty_and_is_replaced_whole(store: &dyn Store) {
    let environment_id = environment(store, "branding").await;
    let other_environment = environment(store, "branding other").await;
    assert_eq!(
        store.get_branding(&environment_id).await.expect("get"),
        Branding::default(),
        "never set: every field is None"
    );

    let branding = Branding {
        display_name: Some("Acme Records Sync ✓".to_owned()),
        logo_url: Some("https://cdn.example.invalid/logo.svg".to_owned()),
        primary_color: Some("#0a7cff".to_owned()),
        allowed_redirect_urls: vec![
            "https://app.example.invalid/integrations/done".to_owned(),
            "http://127.0.0.1:3000/callback?tab=records".to_owned(),
        ],
    };
    store
        .set_branding(&environment_id, &branding)
        .await
        .expect("set");
    assert_eq!(
        store.get_branding(&environment_id).await.expect("get"),
        branding
    );
    assert_eq!(
        store.get_branding(&other_environment).await.expect("get"),
        Branding::default(),
        "branding is per environment"
    );

    let name_only = Branding {
        display_name: Some("Renamed".to_owned()),
        ..Branding::default()
    };
    store
        .set_branding(&environment_id, &name_only)
        .await
        .expect("set again");
    assert_eq!(
        store.get_branding(&environment_id).await.expect("get"),
        name_only,
        "a None field clears the stored one"
    );
    assert_eq!(
        store
            .get_environment(&environment_id)
            .await
            .expect("get environment")
            .name,
        "branding",
        "branding leaves the environment's name alone"
    );

    let unknown = EnvironmentId::generate();
    assert_not_found(
        store.set_branding(&unknown, &branding).await,
        "set_branding of an unknown environment",
    );
    assert_not_found(
        store.get_branding(&unknown).await,
        "get_branding of an unknown environment",
    );
}

fn connect_session(environment_id: &EnvironmentId) -> ConnectSession {
    ConnectSession {
        token_hash: random_hash(),
        environment_id: environment_id.clone(),
        end_user_id: "user-42@customer".to_owned(),
        provider: None,
        redirect_url: "https://app.example.invalid/done?from=crosswalk".to_owned(),
        connection_id: None,
        expires_at: at(1_700_000_900, 999_999) + Duration::nanoseconds(1),
        created_at: at(1_700_000_000, 1),
        consumed_at: None,
        oauth_starts: 0,
    }
}

pub async fn connect_session_round_trips(store: &dyn Store) {
    let environment_id = environment(store, "connect sessions").await;
    let connection = insert(store, &environment_id, "vendor-one").await;

    let open_choice = connect_session(&environment_id);
    store
        .insert_connect_session(&open_choice)
        .await
        .expect("insert");
    let fetched = store
        .get_connect_session(&open_choice.token_hash)
        .await
        .expect("get");
    assert_eq!(
        fetched,
        ConnectSession {
            expires_at: timestamp::truncate(open_choice.expires_at),
            ..open_choice.clone()
        }
    );

    let reauthorize = ConnectSession {
        provider: Some("vendor-one".to_owned()),
        connection_id: Some(connection.id.clone()),
        ..connect_session(&environment_id)
    };
    store
        .insert_connect_session(&reauthorize)
        .await
        .expect("insert re-authorization");
    let fetched = store
        .get_connect_session(&reauthorize.token_hash)
        .await
        .expect("get");
    assert_eq!(fetched.provider.as_deref(), Some("vendor-one"));
    assert_eq!(fetched.connection_id, Some(connection.id.clone()));

    // Expired sessions are still returned: the caller compares `expires_at` with its clock.
    let expired = ConnectSession {
        expires_at: at(1, 0),
        ..connect_session(&environment_id)
    };
    store
        .insert_connect_session(&expired)
        .await
        .expect("insert expired");
    assert_eq!(
        store
            .get_connect_session(&expired.token_hash)
            .await
            .expect("get expired")
            .expires_at,
        at(1, 0)
    );

    let duplicate = ConnectSession {
        end_user_id: "someone else".to_owned(),
        ..open_choice.clone()
    };
    assert_conflict(
        store.insert_connect_session(&duplicate).await,
        "the same token hash twice",
    );
    assert_eq!(
        store
            .get_connect_session(&open_choice.token_hash)
            .await
            .expect("kept")
            .end_user_id,
        open_choice.end_user_id
    );
    assert_not_found(
        store.get_connect_session(&random_hash()).await,
        "get of an unknown token hash",
    );
}

pub async fn connect_session_checks_environment_and_connection(store: &dyn Store) {
    let environment_id = environment(store, "session scope").await;
    let other_environment = environment(store, "session scope other").await;
    let others_connection = insert(store, &other_environment, "vendor-one").await;

    let unknown_environment = connect_session(&EnvironmentId::generate());
    assert_not_found(
        store.insert_connect_session(&unknown_environment).await,
        "a session in an unknown environment",
    );
    let foreign = ConnectSession {
        connection_id: Some(others_connection.id.clone()),
        ..connect_session(&environment_id)
    };
    assert_not_found(
        store.insert_connect_session(&foreign).await,
        "a session re-authorizing another environment's connection",
    );
    let unknown_connection = ConnectSession {
        connection_id: Some(ConnectionId::generate()),
        ..connect_session(&environment_id)
    };
    assert_not_found(
        store.insert_connect_session(&unknown_connection).await,
        "a session re-authorizing an unknown connection",
    );
    for session in [&unknown_environment, &foreign, &unknown_connection] {
        assert_not_found(
            store.get_connect_session(&session.token_hash).await,
            "a refused session was not stored",
        );
    }

    let state = OAuthState {
        connection_id: Some(others_connection.id.clone()),
        ..oauth_state(&environment_id)
    };
    assert_not_found(
        store.insert_oauth_state(&state).await,
        "a state re-authorizing another environment's connection",
    );
    assert_not_found(
        store
            .insert_oauth_state(&oauth_state(&EnvironmentId::generate()))
            .await,
        "a state in an unknown environment",
    );
    assert_not_found(
        store.take_oauth_state(&state.state_hash).await,
        "a refused state was not stored",
    );
}

fn oauth_state(environment_id: &EnvironmentId) -> OAuthState {
    let state_hash = random_hash();
    OAuthState {
        code_verifier: Some(test_keyring().seal_json(
            &json!({"code_verifier": format!("verifier-{state_hash}")}),
            state_hash.as_bytes(),
        )),
        state_hash,
        environment_id: environment_id.clone(),
        provider: "vendor-one".to_owned(),
        scheme: "oauth2".to_owned(),
        session_token_hash: random_hash(),
        redirect_uri: "https://crosswalk.example.invalid/oauth/callback".to_owned(),
        connection_id: None,
        expires_at: at(1_700_000_600, 5) + Duration::nanoseconds(999),
        created_at: at(1_700_000_000, 7),
    }
}

pub async fn oauth_state_is_taken_once(store: &dyn Store) {
    let environment_id = environment(store, "oauth states").await;
    let connection = insert(store, &environment_id, "vendor-one").await;

    let state = OAuthState {
        connection_id: Some(connection.id.clone()),
        ..oauth_state(&environment_id)
    };
    store.insert_oauth_state(&state).await.expect("insert");
    assert_conflict(
        store.insert_oauth_state(&state).await,
        "the same state hash twice",
    );
    let taken = store
        .take_oauth_state(&state.state_hash)
        .await
        .expect("first take");
    assert_eq!(
        taken,
        OAuthState {
            expires_at: timestamp::truncate(state.expires_at),
            ..state.clone()
        }
    );
    let verifier = taken.code_verifier.as_ref().expect("has a verifier");
    assert_eq!(
        verifier.to_bytes(),
        state
            .code_verifier
            .as_ref()
            .expect("has a verifier")
            .to_bytes()
    );
    assert_not_found(
        store.take_oauth_state(&state.state_hash).await,
        "a second take of the same state (replay)",
    );

    // Without PKCE or re-authorization; and a taken hash may be stored again.
    let plain = OAuthState {
        code_verifier: None,
        connection_id: None,
        ..state.clone()
    };
    store
        .insert_oauth_state(&plain)
        .await
        .expect("the hash is free again after the take");
    let taken_plain = store
        .take_oauth_state(&plain.state_hash)
        .await
        .expect("take");
    assert_eq!(taken_plain.code_verifier, None);
    assert_eq!(taken_plain.connection_id, None);
    assert_not_found(
        store.take_oauth_state(&random_hash()).await,
        "take of an unknown hash",
    );
}

pub async fn concurrent_oauth_state_takers_one_wins(store: &dyn Store) {
    const N_TAKERS: usize = 16;
    let environment_id = environment(store, "state race").await;
    for _round in 0..3 {
        let state = oauth_state(&environment_id);
        store.insert_oauth_state(&state).await.expect("insert");
        let results = join_all(
            (0..N_TAKERS).map(|_| async { store.take_oauth_state(&state.state_hash).await }),
        )
        .await;
        let mut n_won = 0;
        for result in results {
            match result {
                Ok(taken) => {
                    assert_eq!(taken.state_hash, state.state_hash);
                    n_won += 1;
                }
                Err(StoreError::NotFound) => {}
                Err(other) => panic!("a losing taker must see NotFound, got {other:?}"),
            }
        }
        assert_eq!(n_won, 1, "exactly one concurrent taker gets the state");
    }
}

pub async fn deleting_a_connection_removes_its_sessions_and_states(store: &dyn Store) {
    let environment_id = environment(store, "delete cascade").await;
    let doomed = insert(store, &environment_id, "vendor-one").await;
    let session = ConnectSession {
        connection_id: Some(doomed.id.clone()),
        ..connect_session(&environment_id)
    };
    let unrelated_session = connect_session(&environment_id);
    let state = OAuthState {
        connection_id: Some(doomed.id.clone()),
        ..oauth_state(&environment_id)
    };
    let unrelated_state = oauth_state(&environment_id);
    for session in [&session, &unrelated_session] {
        store
            .insert_connect_session(session)
            .await
            .expect("insert session");
    }
    for state in [&state, &unrelated_state] {
        store.insert_oauth_state(state).await.expect("insert state");
    }
    let event = store
        .insert_event(NewEvent {
            environment_id: environment_id.clone(),
            connection_id: Some(doomed.id.clone()),
            kind: "connection.created".to_owned(),
            payload: json!({}),
        })
        .await
        .expect("insert event");

    store
        .delete_connection(&environment_id, &doomed.id)
        .await
        .expect("delete");
    assert_not_found(
        store.get_connect_session(&session.token_hash).await,
        "the re-authorization session went with its connection",
    );
    assert_not_found(
        store.take_oauth_state(&state.state_hash).await,
        "the re-authorization state went with its connection",
    );
    store
        .get_connect_session(&unrelated_session.token_hash)
        .await
        .expect("a session for a new connection stays");
    store
        .take_oauth_state(&unrelated_state.state_hash)
        .await
        .expect("a state for a new connection stays");
    assert_eq!(
        store
            .list_events(&environment_id, Some(&doomed.id), None)
            .await
            .expect("list"),
        vec![event],
        "events outlive their connection"
    );
}

/// A time at which [`connect_session`]'s sessions are live.
fn while_live() -> DateTime<Utc> {
    at(1_700_000_100, 0)
}

fn create_with(environment_id: &EnvironmentId) -> (SessionCompletion, NewEvent) {
    let new = new_connection(environment_id, "vendor-one");
    let event = event_about(environment_id, &new.id, "connection.created");
    (SessionCompletion::Create(new), event)
}

fn reauthorize_with(
    environment_id: &EnvironmentId,
    id: &ConnectionId,
) -> (SessionCompletion, NewEvent) {
    let update = ConnectionUpdate {
        status: Some(ConnectionStatus::Active),
        account: Some(json!({"reauthorized": true})),
        credentials: Some(seal_credentials(id, &json!({"access_token": "new"}))),
        credentials_expires_at: Some(None),
    };
    (
        SessionCompletion::Reauthorize {
            id: id.clone(),
            update,
        },
        event_about(environment_id, id, "connection.reauthorized"),
    )
}

async fn complete(
    store: &dyn Store,
    session: &ConnectSession,
    now: DateTime<Utc>,
    (completion, event): (SessionCompletion, NewEvent),
) -> Result<(Connection, crate::Event), StoreError> {
    store
        .complete_connect_session(&session.token_hash, now, completion, event)
        .await
}

pub async fn a_connect_session_is_used_once_for_what_it_was_made_for(store: &dyn Store) {
    let environment_id = environment(store, "single use").await;
    let other_environment = environment(store, "single use other").await;
    let now = while_live();

    // A link for a new connection makes one, once.
    let session = connect_session(&environment_id);
    store
        .insert_connect_session(&session)
        .await
        .expect("insert");
    let state = OAuthState {
        session_token_hash: session.token_hash.clone(),
        ..oauth_state(&environment_id)
    };
    store
        .insert_oauth_state(&state)
        .await
        .expect("insert state");
    let (connection, event) = complete(store, &session, now, create_with(&environment_id))
        .await
        .expect("the first use makes the connection");
    assert_eq!(
        store
            .get_connection(&environment_id, &connection.id)
            .await
            .expect("stored"),
        connection
    );
    assert_eq!(
        store
            .list_events(&environment_id, Some(&connection.id), None)
            .await
            .expect("list"),
        vec![event]
    );
    let used = store
        .get_connect_session(&session.token_hash)
        .await
        .expect("a used session stays until purged");
    assert_eq!(used.consumed_at, Some(now));
    assert_not_found(
        store.take_oauth_state(&state.state_hash).await,
        "the session's sign-in in flight ended with it",
    );
    let second = create_with(&environment_id);
    let second_id = match &second.0 {
        SessionCompletion::Create(new) => new.id.clone(),
        SessionCompletion::Reauthorize { .. } => unreachable!(),
    };
    assert_conflict(
        complete(store, &session, now, second).await,
        "a second use of a link",
    );
    assert_not_found(
        store.get_connection(&environment_id, &second_id).await,
        "the second use made no connection",
    );

    // A re-authorisation link updates its own connection, once, and nothing else.
    let mine = insert(store, &environment_id, "vendor-one").await;
    let another = insert(store, &environment_id, "vendor-one").await;
    let reauthorize = ConnectSession {
        provider: Some("vendor-one".to_owned()),
        connection_id: Some(mine.id.clone()),
        ..connect_session(&environment_id)
    };
    store
        .insert_connect_session(&reauthorize)
        .await
        .expect("insert");
    assert_conflict(
        complete(
            store,
            &reauthorize,
            now,
            reauthorize_with(&environment_id, &another.id),
        )
        .await,
        "a re-authorisation link used on another connection",
    );
    assert_conflict(
        complete(store, &reauthorize, now, create_with(&environment_id)).await,
        "a re-authorisation link used to make a new connection",
    );
    assert_eq!(
        store
            .get_connection(&environment_id, &another.id)
            .await
            .expect("kept"),
        another,
        "the other connection is untouched"
    );
    let (updated, _) = complete(
        store,
        &reauthorize,
        now,
        reauthorize_with(&environment_id, &mine.id),
    )
    .await
    .expect("the re-authorisation");
    assert_eq!(updated.id, mine.id);
    assert_eq!(updated.account, json!({"reauthorized": true}));
    assert_conflict(
        complete(
            store,
            &reauthorize,
            now,
            reauthorize_with(&environment_id, &mine.id),
        )
        .await,
        "a second use of a re-authorisation link",
    );

    // A link for a new connection cannot re-authorise one.
    let plain = connect_session(&environment_id);
    store.insert_connect_session(&plain).await.expect("insert");
    assert_conflict(
        complete(
            store,
            &plain,
            now,
            reauthorize_with(&environment_id, &mine.id),
        )
        .await,
        "a link for a new connection used to re-authorise",
    );

    // Expired at the caller's clock, of another environment, or unknown.
    assert_conflict(
        complete(
            store,
            &plain,
            plain.expires_at,
            create_with(&environment_id),
        )
        .await,
        "a link used when it expires",
    );
    assert_conflict(
        complete(store, &plain, now, create_with(&other_environment)).await,
        "a link used for another environment",
    );
    let unknown = connect_session(&environment_id);
    assert_not_found(
        complete(store, &unknown, now, create_with(&environment_id)).await,
        "an unknown link",
    );
    assert_eq!(
        store
            .get_connect_session(&plain.token_hash)
            .await
            .expect("kept")
            .consumed_at,
        None,
        "refused uses leave the link unused"
    );
    complete(store, &plain, now, create_with(&environment_id))
        .await
        .expect("the link still works for what it was made for");
}

pub async fn a_failed_connection_write_leaves_the_session_unused(store: &dyn Store) {
    let environment_id = environment(store, "use rollback").await;
    let existing = insert(store, &environment_id, "vendor-one").await;
    let session = connect_session(&environment_id);
    store
        .insert_connect_session(&session)
        .await
        .expect("insert");

    // The connection's insert fails (its id exists): the session stays unused.
    let mut duplicate = new_connection(&environment_id, "vendor-one");
    duplicate.id = existing.id.clone();
    let event = event_about(&environment_id, &existing.id, "connection.created");
    assert_conflict(
        store
            .complete_connect_session(
                &session.token_hash,
                while_live(),
                SessionCompletion::Create(duplicate),
                event,
            )
            .await,
        "a repeated connection id",
    );
    // The event's insert fails (its environment does not exist): neither the connection nor
    // the use stays.
    let new = new_connection(&environment_id, "vendor-one");
    let new_id = new.id.clone();
    let orphan = event_about(&EnvironmentId::generate(), &new_id, "connection.created");
    assert_not_found(
        store
            .complete_connect_session(
                &session.token_hash,
                while_live(),
                SessionCompletion::Create(new),
                orphan,
            )
            .await,
        "an event of an unknown environment",
    );
    assert_not_found(
        store.get_connection(&environment_id, &new_id).await,
        "the connection of a failed use",
    );
    assert_eq!(
        store
            .get_connect_session(&session.token_hash)
            .await
            .expect("kept")
            .consumed_at,
        None,
        "a failed use leaves the link unused"
    );
    complete(store, &session, while_live(), create_with(&environment_id))
        .await
        .expect("the link still works");
}

pub async fn concurrent_session_users_one_wins(store: &dyn Store) {
    const N_USERS: usize = 12;
    let environment_id = environment(store, "session race").await;
    let existing = insert(store, &environment_id, "vendor-one").await;
    for round in 0..2 {
        let session = if round == 0 {
            connect_session(&environment_id)
        } else {
            ConnectSession {
                connection_id: Some(existing.id.clone()),
                ..connect_session(&environment_id)
            }
        };
        store
            .insert_connect_session(&session)
            .await
            .expect("insert");
        let attempts: Vec<_> = (0..N_USERS)
            .map(|_| {
                if round == 0 {
                    create_with(&environment_id)
                } else {
                    reauthorize_with(&environment_id, &existing.id)
                }
            })
            .collect();
        let results = join_all(
            attempts
                .into_iter()
                .map(|attempt| complete(store, &session, while_live(), attempt)),
        )
        .await;
        let mut n_won = 0;
        for result in results {
            match result {
                Ok(_) => n_won += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(other) => panic!("a losing user must see Conflict, got {other:?}"),
            }
        }
        assert_eq!(n_won, 1, "round {round}: exactly one concurrent use wins");
    }
    assert_eq!(
        store
            .list_connections(&environment_id)
            .await
            .expect("list")
            .len(),
        2,
        "the existing connection and the one the link made"
    );
    assert_eq!(
        store
            .list_events(&environment_id, None, Some("connection.reauthorized"))
            .await
            .expect("list")
            .len(),
        1,
        "one re-authorisation"
    );
}

fn started_from(session: &ConnectSession) -> OAuthState {
    OAuthState {
        session_token_hash: session.token_hash.clone(),
        connection_id: session.connection_id.clone(),
        ..oauth_state(&session.environment_id)
    }
}

pub async fn oauth_starts_are_capped_per_live_session(store: &dyn Store) {
    const MAX: u32 = 3;
    let environment_id = environment(store, "oauth starts").await;
    let other_environment = environment(store, "oauth starts other").await;
    let now = while_live();
    let session = connect_session(&environment_id);
    store
        .insert_connect_session(&session)
        .await
        .expect("insert");
    let mut started = Vec::new();
    for _ in 0..MAX {
        let state = started_from(&session);
        store
            .start_oauth(&state, now, MAX)
            .await
            .expect("a start within the cap");
        started.push(state);
    }
    let over = started_from(&session);
    assert_conflict(
        store.start_oauth(&over, now, MAX).await,
        "a start past the cap",
    );
    assert_not_found(
        store.take_oauth_state(&over.state_hash).await,
        "a refused start stores no state",
    );
    assert_eq!(
        store
            .get_connect_session(&session.token_hash)
            .await
            .expect("get")
            .oauth_starts,
        MAX
    );
    let taken = store
        .take_oauth_state(&started[0].state_hash)
        .await
        .expect("a started state is stored");
    assert_eq!(taken.session_token_hash, session.token_hash);

    // Expired, used, of another environment, unknown.
    let fresh = connect_session(&environment_id);
    store.insert_connect_session(&fresh).await.expect("insert");
    assert_conflict(
        store
            .start_oauth(&started_from(&fresh), fresh.expires_at, MAX)
            .await,
        "a start when the link expires",
    );
    let foreign = OAuthState {
        environment_id: other_environment.clone(),
        ..started_from(&fresh)
    };
    assert_not_found(
        store.start_oauth(&foreign, now, MAX).await,
        "a start naming another environment's session",
    );
    assert_not_found(
        store
            .start_oauth(&started_from(&connect_session(&environment_id)), now, MAX)
            .await,
        "a start from an unknown session",
    );
    assert_eq!(
        store
            .get_connect_session(&fresh.token_hash)
            .await
            .expect("get")
            .oauth_starts,
        0,
        "refused starts count nothing"
    );
    complete(store, &fresh, now, create_with(&environment_id))
        .await
        .expect("use");
    assert_conflict(
        store.start_oauth(&started_from(&fresh), now, MAX).await,
        "a start from a used link",
    );
}

pub async fn concurrent_oauth_starts_never_pass_the_cap(store: &dyn Store) {
    const MAX: u32 = 4;
    const N_STARTS: usize = 12;
    let environment_id = environment(store, "start race").await;
    let session = connect_session(&environment_id);
    store
        .insert_connect_session(&session)
        .await
        .expect("insert");
    let states: Vec<OAuthState> = (0..N_STARTS).map(|_| started_from(&session)).collect();
    let results = join_all(
        states
            .iter()
            .map(|state| store.start_oauth(state, while_live(), MAX)),
    )
    .await;
    let mut n_started = 0;
    for result in results {
        match result {
            Ok(()) => n_started += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("a refused start must see Conflict, got {other:?}"),
        }
    }
    assert_eq!(
        n_started, MAX as usize,
        "exactly the cap's number of starts land"
    );
    let mut n_stored = 0;
    for state in &states {
        if store.take_oauth_state(&state.state_hash).await.is_ok() {
            n_stored += 1;
        }
    }
    assert_eq!(n_stored, MAX as usize, "one stored state per counted start");
}

pub async fn purge_removes_expired_sessions_and_states_only(store: &dyn Store) {
    let environment_id = environment(store, "purge").await;
    let cutoff = at(1_700_000_500, 0);
    let expired = ConnectSession {
        expires_at: cutoff,
        ..connect_session(&environment_id)
    };
    let live = ConnectSession {
        expires_at: cutoff + Duration::microseconds(1),
        ..connect_session(&environment_id)
    };
    for session in [&expired, &live] {
        store.insert_connect_session(session).await.expect("insert");
    }
    let expired_state = OAuthState {
        expires_at: cutoff,
        ..started_from(&live)
    };
    let live_state = OAuthState {
        expires_at: cutoff + Duration::seconds(1),
        ..started_from(&live)
    };
    let orphan_state = OAuthState {
        expires_at: cutoff + Duration::seconds(1),
        ..started_from(&expired)
    };
    for state in [&expired_state, &live_state, &orphan_state] {
        store.insert_oauth_state(state).await.expect("insert state");
    }

    let purged = store.purge_connect_sessions(cutoff).await.expect("purge");
    assert!(purged.sessions >= 1, "{purged:?}");
    assert!(purged.oauth_states >= 2, "{purged:?}");
    assert_not_found(
        store.get_connect_session(&expired.token_hash).await,
        "a session expired at the cutoff",
    );
    store
        .get_connect_session(&live.token_hash)
        .await
        .expect("a session expiring after the cutoff stays");
    assert_not_found(
        store.take_oauth_state(&expired_state.state_hash).await,
        "a state expired at the cutoff",
    );
    assert_not_found(
        store.take_oauth_state(&orphan_state.state_hash).await,
        "a state whose session was purged",
    );
    store
        .take_oauth_state(&live_state.state_hash)
        .await
        .expect("a live state of a live session stays");
}

pub async fn events_are_oldest_first_and_filtered(store: &dyn Store) {
    let environment_id = environment(store, "events").await;
    let other_environment = environment(store, "events other").await;
    let first = insert(store, &environment_id, "vendor-one").await;
    let second = insert(store, &environment_id, "vendor-one").await;

    assert!(
        store
            .list_events(&environment_id, None, None)
            .await
            .expect("list")
            .is_empty()
    );
    let payload: Value = serde_json::from_str(
        r#"{"z":1,"a":{"reason":"invalid_grant","status":400},"list":[1,"two",null]}"#,
    )
    .expect("valid json");
    let new_events = [
        (Some(&first.id), "connection.created"),
        (Some(&first.id), "connection.needs_reauth"),
        (Some(&second.id), "connection.created"),
        (None, "environment.branding_updated"),
        (Some(&first.id), "connection.created"),
    ];
    let before = timestamp::now();
    let mut inserted = Vec::new();
    for (connection_id, kind) in new_events {
        let event = store
            .insert_event(NewEvent {
                environment_id: environment_id.clone(),
                connection_id: connection_id.cloned(),
                kind: kind.to_owned(),
                payload: payload.clone(),
            })
            .await
            .expect("insert event");
        assert_eq!(event.environment_id, environment_id);
        assert_eq!(event.connection_id.as_ref(), connection_id);
        assert_eq!(event.kind, kind);
        assert!(event.created_at >= before);
        assert_eq!(event.created_at, timestamp::truncate(event.created_at));
        inserted.push(event);
    }
    let foreign = store
        .insert_event(NewEvent {
            environment_id: other_environment.clone(),
            connection_id: Some(first.id.clone()),
            kind: "connection.created".to_owned(),
            payload: json!(null),
        })
        .await
        .expect("insert in the other environment");
    assert!(
        inserted.iter().all(|event| event.id != foreign.id),
        "event ids are unique"
    );

    let listed = store
        .list_events(&environment_id, None, None)
        .await
        .expect("list");
    assert_eq!(
        listed, inserted,
        "all of the environment's events, oldest first"
    );
    assert_eq!(
        serde_json::to_string(&listed[0].payload).expect("serializes"),
        serde_json::to_string(&payload).expect("serializes"),
        "payload keys keep their order"
    );

    let of = |indexes: &[usize]| -> Vec<_> {
        indexes
            .iter()
            .map(|&index| inserted[index].clone())
            .collect()
    };
    assert_eq!(
        store
            .list_events(&environment_id, Some(&first.id), None)
            .await
            .expect("list"),
        of(&[0, 1, 4])
    );
    assert_eq!(
        store
            .list_events(&environment_id, None, Some("connection.created"))
            .await
            .expect("list"),
        of(&[0, 2, 4])
    );
    assert_eq!(
        store
            .list_events(&environment_id, Some(&first.id), Some("connection.created"))
            .await
            .expect("list"),
        of(&[0, 4])
    );
    assert!(
        store
            .list_events(
                &environment_id,
                Some(&second.id),
                Some("connection.needs_reauth")
            )
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .list_events(&environment_id, None, Some("connection"))
            .await
            .expect("list")
            .is_empty(),
        "kinds match exactly, not by prefix"
    );
    assert_eq!(
        store
            .list_events(&other_environment, Some(&first.id), None)
            .await
            .expect("list"),
        vec![foreign],
        "events are scoped to their environment"
    );
    assert!(
        store
            .list_events(&EnvironmentId::generate(), None, None)
            .await
            .expect("list unknown")
            .is_empty()
    );
    assert_not_found(
        store
            .insert_event(NewEvent {
                environment_id: EnvironmentId::generate(),
                connection_id: None,
                kind: "connection.created".to_owned(),
                payload: json!({}),
            })
            .await,
        "insert_event into an unknown environment",
    );
}

pub async fn credentials_expiry_round_trips(store: &dyn Store) {
    let environment_id = environment(store, "expiry").await;
    let expires_at = at(1_800_000_000, 250_000) + Duration::nanoseconds(999);
    let new = NewConnection {
        credentials_expires_at: Some(expires_at),
        ..new_connection(&environment_id, "vendor-one")
    };
    let inserted = store.insert_connection(new).await.expect("insert");
    assert_eq!(
        inserted.credentials_expires_at,
        Some(timestamp::truncate(expires_at))
    );
    assert_eq!(
        store
            .get_connection(&environment_id, &inserted.id)
            .await
            .expect("get"),
        inserted
    );

    let untouched = store
        .update_connection(
            &environment_id,
            &inserted.id,
            ConnectionUpdate {
                status: Some(ConnectionStatus::NeedsReauth),
                ..ConnectionUpdate::default()
            },
        )
        .await
        .expect("update without expiry");
    assert_eq!(
        untouched.credentials_expires_at, inserted.credentials_expires_at,
        "None leaves the expiry alone"
    );
    let later = at(1_800_003_600, 0);
    let moved = store
        .update_connection(
            &environment_id,
            &inserted.id,
            ConnectionUpdate {
                credentials_expires_at: Some(Some(later)),
                ..ConnectionUpdate::default()
            },
        )
        .await
        .expect("set expiry");
    assert_eq!(moved.credentials_expires_at, Some(later));
    assert_eq!(moved.status, ConnectionStatus::NeedsReauth);
    let cleared = store
        .update_connection(
            &environment_id,
            &inserted.id,
            ConnectionUpdate {
                credentials_expires_at: Some(None),
                ..ConnectionUpdate::default()
            },
        )
        .await
        .expect("clear expiry");
    assert_eq!(cleared.credentials_expires_at, None);
    assert_eq!(
        store
            .get_connection(&environment_id, &inserted.id)
            .await
            .expect("get"),
        cleared
    );
}

pub async fn connection_by_id_ignores_environment(store: &dyn Store) {
    let env_a = environment(store, "by id a").await;
    let env_b = environment(store, "by id b").await;
    let in_a = insert(store, &env_a, "vendor-one").await;
    let in_b = insert(store, &env_b, "vendor-two").await;
    assert_eq!(
        store.get_connection_by_id(&in_a.id).await.expect("get a"),
        in_a
    );
    assert_eq!(
        store.get_connection_by_id(&in_b.id).await.expect("get b"),
        in_b
    );
    assert_not_found(
        store.get_connection_by_id(&ConnectionId::generate()).await,
        "get_connection_by_id of an unknown id",
    );
}

pub async fn expiring_connections_soonest_first(store: &dyn Store) {
    // The query spans every environment, and this suite may run twice on one store. So this
    // run's expiries lie before those of any earlier run: the base moves ten microseconds into
    // the past for every microsecond of wall time, and the offsets below stay under ten.
    let now_micros = timestamp::now().timestamp_micros();
    let base = at(0, 0) - Duration::microseconds(now_micros.saturating_mul(10));
    let expiring = |offset_micros: i64| Some(base + Duration::microseconds(offset_micros));

    let environment_id = environment(store, "expiring").await;
    let other_environment = environment(store, "expiring other").await;
    let insert_expiring =
        |environment_id: &EnvironmentId, offset_micros: Option<i64>, status: ConnectionStatus| {
            let new = NewConnection {
                status,
                credentials_expires_at: offset_micros.and_then(expiring),
                ..new_connection(environment_id, "vendor-one")
            };
            async move { store.insert_connection(new).await.expect("insert") }
        };
    let third = insert_expiring(&environment_id, Some(3), ConnectionStatus::Active).await;
    let first = insert_expiring(&other_environment, Some(1), ConnectionStatus::Active).await;
    let second = insert_expiring(&environment_id, Some(2), ConnectionStatus::Active).await;
    let tied = insert_expiring(&environment_id, Some(2), ConnectionStatus::Active).await;
    let at_cutoff = insert_expiring(&environment_id, Some(5), ConnectionStatus::Active).await;
    let reauth = insert_expiring(&environment_id, Some(1), ConnectionStatus::NeedsReauth).await;
    let disabled = insert_expiring(&environment_id, Some(1), ConnectionStatus::Disabled).await;
    let never = insert_expiring(&environment_id, None, ConnectionStatus::Active).await;

    let mut tied_pair = [second.id.clone(), tied.id.clone()];
    tied_pair.sort();
    let cutoff = base + Duration::microseconds(5);
    let ids: Vec<ConnectionId> = store
        .list_connections_expiring_before(cutoff, 100)
        .await
        .expect("list")
        .into_iter()
        .map(|connection| connection.id)
        .collect();
    assert_eq!(
        ids,
        vec![
            first.id.clone(),
            tied_pair[0].clone(),
            tied_pair[1].clone(),
            third.id.clone()
        ],
        "active, strictly before the cutoff, soonest first, ties by id, every environment"
    );
    for excluded in [&at_cutoff, &reauth, &disabled, &never] {
        assert!(!ids.contains(&excluded.id));
    }
    let limited = store
        .list_connections_expiring_before(cutoff, 2)
        .await
        .expect("list limited");
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[0], first, "rows come back whole");
    assert_eq!(limited[1].id, tied_pair[0]);
    assert!(
        store
            .list_connections_expiring_before(cutoff, 0)
            .await
            .expect("list none")
            .is_empty()
    );
}

/// A lease length the checks pass explicitly, with `now` values around it.
const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn refresh_lease_fences_stale_holders(store: &dyn Store) {
    let environment_id = environment(store, "lease").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let t0 = timestamp::now();

    let fence_a = store
        .acquire_refresh_lease(&connection.id, "worker-a", t0, LEASE_TTL)
        .await
        .expect("acquire a")
        .expect("a free lease is taken");
    let during = t0 + Duration::seconds(29) + Duration::microseconds(999_999);
    assert_eq!(
        store
            .acquire_refresh_lease(&connection.id, "worker-b", during, LEASE_TTL)
            .await
            .expect("acquire b"),
        None,
        "another holder is refused while the lease runs"
    );
    let expired = t0 + Duration::seconds(30);
    let fence_b = store
        .acquire_refresh_lease(&connection.id, "worker-b", expired, LEASE_TTL)
        .await
        .expect("acquire b after expiry")
        .expect("an expired lease is taken");
    assert!(fence_b > fence_a, "a new holder gets a larger fence");
    assert_eq!(
        store
            .acquire_refresh_lease(&connection.id, "worker-a", expired, LEASE_TTL)
            .await
            .expect("acquire a again"),
        None,
        "b's new lease runs from its own acquisition"
    );

    // The stale holder wakes up and tries to write what it refreshed: refused, nothing changes.
    let stale_credentials = seal_credentials(&connection.id, &json!({"access_token": "stale"}));
    assert_conflict(
        store
            .store_refreshed_credentials(
                &connection.id,
                fence_a,
                stale_credentials,
                Some(t0 + Duration::hours(1)),
                Some(json!({"stale": true})),
            )
            .await,
        "a superseded fence writes credentials",
    );
    assert_eq!(
        store
            .get_connection_by_id(&connection.id)
            .await
            .expect("get"),
        connection,
        "the refused write changed nothing"
    );

    let fresh_credentials = seal_credentials(&connection.id, &json!({"access_token": "fresh"}));
    let fresh_expiry = t0 + Duration::hours(1) + Duration::nanoseconds(1_500);
    let refreshed = store
        .store_refreshed_credentials(
            &connection.id,
            fence_b,
            fresh_credentials.clone(),
            Some(fresh_expiry),
            None,
        )
        .await
        .expect("the current fence writes");
    assert_eq!(
        refreshed.credentials.to_bytes(),
        fresh_credentials.to_bytes()
    );
    assert_eq!(
        refreshed.credentials_expires_at,
        Some(timestamp::truncate(fresh_expiry))
    );
    assert_eq!(
        refreshed.account, connection.account,
        "no account given: kept"
    );
    assert_eq!(refreshed.status, connection.status);
    assert_eq!(refreshed.created_at, connection.created_at);
    assert!(refreshed.updated_at > connection.updated_at);
    assert_eq!(
        store
            .get_connection_by_id(&connection.id)
            .await
            .expect("get"),
        refreshed
    );

    // The holder may write again under the same lease, e.g. a new account object and no expiry.
    let again = store
        .store_refreshed_credentials(
            &connection.id,
            fence_b,
            fresh_credentials.clone(),
            None,
            Some(json!({"instance_url": "https://moved.example.invalid"})),
        )
        .await
        .expect("write again");
    assert_eq!(again.credentials_expires_at, None, "None clears the expiry");
    assert_eq!(
        again.account,
        json!({"instance_url": "https://moved.example.invalid"})
    );
    assert!(again.updated_at > refreshed.updated_at);

    // Even after its time runs out, b's fence holds until someone else takes the lease.
    let long_after = expired + Duration::hours(2);
    store
        .store_refreshed_credentials(
            &connection.id,
            fence_b,
            fresh_credentials.clone(),
            None,
            None,
        )
        .await
        .expect("an expired but untaken lease still fences");
    let fence_c = store
        .acquire_refresh_lease(&connection.id, "worker-c", long_after, LEASE_TTL)
        .await
        .expect("acquire c")
        .expect("taken after expiry");
    assert!(fence_c > fence_b);
    assert_conflict(
        store
            .store_refreshed_credentials(&connection.id, fence_b, fresh_credentials, None, None)
            .await,
        "b's fence after c took the lease",
    );
}

pub async fn refresh_lease_release_and_reacquire(store: &dyn Store) {
    let environment_id = environment(store, "lease release").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let t0 = timestamp::now();

    let fence_a = store
        .acquire_refresh_lease(&connection.id, "worker-a", t0, LEASE_TTL)
        .await
        .expect("acquire")
        .expect("free");
    // The same holder asking again gets a new fence; its old one stops counting.
    let fence_a2 = store
        .acquire_refresh_lease(&connection.id, "worker-a", t0, LEASE_TTL)
        .await
        .expect("re-acquire")
        .expect("the holder may renew");
    assert!(fence_a2 > fence_a);
    let credentials = seal_credentials(&connection.id, &json!({"access_token": "renewed"}));
    assert_conflict(
        store
            .store_refreshed_credentials(&connection.id, fence_a, credentials.clone(), None, None)
            .await,
        "the fence replaced by a renewal",
    );

    // Releasing with the old fence does nothing: the lease stays with the renewal.
    store
        .release_refresh_lease(&connection.id, fence_a)
        .await
        .expect("a stale release is a no-op");
    assert_eq!(
        store
            .acquire_refresh_lease(&connection.id, "worker-b", t0, LEASE_TTL)
            .await
            .expect("acquire b"),
        None,
        "a stale release freed nothing"
    );

    store
        .release_refresh_lease(&connection.id, fence_a2)
        .await
        .expect("release");
    assert_conflict(
        store
            .store_refreshed_credentials(&connection.id, fence_a2, credentials, None, None)
            .await,
        "a released fence writes credentials",
    );
    store
        .release_refresh_lease(&connection.id, fence_a2)
        .await
        .expect("a second release is a no-op");
    let fence_b = store
        .acquire_refresh_lease(&connection.id, "worker-b", t0, LEASE_TTL)
        .await
        .expect("acquire b")
        .expect("a released lease is free before its time runs out");
    assert!(fence_b > fence_a2, "fences keep growing across releases");

    // Leases are per connection.
    let other = insert(store, &environment_id, "vendor-one").await;
    store
        .acquire_refresh_lease(&other.id, "worker-a", t0, LEASE_TTL)
        .await
        .expect("acquire other")
        .expect("another connection's lease is free");
    let untouched = store
        .get_connection_by_id(&connection.id)
        .await
        .expect("get");
    assert_eq!(
        untouched, connection,
        "leasing changes none of the connection's visible fields"
    );
}

pub async fn concurrent_lease_takers_one_wins(store: &dyn Store) {
    const N_HOLDERS: usize = 16;
    let environment_id = environment(store, "lease race").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let now = timestamp::now();
    let results = join_all((0..N_HOLDERS).map(|holder_idx| {
        let id = connection.id.clone();
        async move {
            store
                .acquire_refresh_lease(&id, &format!("worker-{holder_idx}"), now, LEASE_TTL)
                .await
        }
    }))
    .await;
    let fences: Vec<u64> = results
        .into_iter()
        .filter_map(|result| result.expect("concurrent acquire"))
        .collect();
    assert_eq!(
        fences.len(),
        1,
        "exactly one concurrent holder gets the lease"
    );
}

pub async fn refresh_lease_of_unknown_connection_is_not_found(store: &dyn Store) {
    let unknown = ConnectionId::generate();
    assert_not_found(
        store
            .acquire_refresh_lease(&unknown, "worker-a", timestamp::now(), LEASE_TTL)
            .await,
        "acquire on an unknown connection",
    );
    assert_not_found(
        store.release_refresh_lease(&unknown, 1).await,
        "release on an unknown connection",
    );
    assert_not_found(
        store
            .store_refreshed_credentials(
                &unknown,
                1,
                seal_credentials(&unknown, &json!({})),
                None,
                None,
            )
            .await,
        "store_refreshed_credentials on an unknown connection",
    );
    assert_not_found(
        store
            .replace_sealed_credentials(
                &unknown,
                &seal_credentials(&unknown, &json!({})),
                seal_credentials(&unknown, &json!({})),
            )
            .await,
        "replace_sealed_credentials on an unknown connection",
    );
}

pub async fn all_connections_span_environments(store: &dyn Store) {
    let env_a = environment(store, "all a").await;
    let env_b = environment(store, "all b").await;
    let first = insert(store, &env_a, "vendor-one").await;
    let second = insert(store, &env_b, "vendor-two").await;
    let third = insert(store, &env_a, "vendor-three").await;
    let all = store.list_all_connections().await.expect("list all");
    let ours: Vec<Connection> = all
        .iter()
        .filter(|connection| {
            connection.environment_id == env_a || connection.environment_id == env_b
        })
        .cloned()
        .collect();
    assert_eq!(ours, vec![first, second, third], "oldest first, rows whole");
    assert!(
        all.windows(2)
            .all(|pair| { (pair[0].created_at, &pair[0].id) < (pair[1].created_at, &pair[1].id) }),
        "the whole list is ordered by creation, ties by id"
    );
}

pub async fn replace_sealed_credentials_compares_and_swaps(store: &dyn Store) {
    let environment_id = environment(store, "rotation").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let resealed = seal_credentials(&connection.id, &json!({"access_token": "resealed"}));

    store
        .replace_sealed_credentials(&connection.id, &connection.credentials, resealed.clone())
        .await
        .expect("swap from the current value");
    let after = store
        .get_connection_by_id(&connection.id)
        .await
        .expect("get");
    assert_eq!(after.credentials.to_bytes(), resealed.to_bytes());
    assert!(after.updated_at > connection.updated_at);
    assert_eq!(
        Connection {
            credentials: connection.credentials.clone(),
            updated_at: connection.updated_at,
            ..after.clone()
        },
        connection,
        "only the credentials and updated_at changed"
    );

    // A rotation that read the old value meanwhile must not undo the swap above.
    let late = seal_credentials(&connection.id, &json!({"access_token": "late"}));
    assert_conflict(
        store
            .replace_sealed_credentials(&connection.id, &connection.credentials, late)
            .await,
        "swap from a value that changed meanwhile",
    );
    assert_eq!(
        store
            .get_connection_by_id(&connection.id)
            .await
            .expect("get"),
        after,
        "the refused swap changed nothing"
    );

    // Same plaintext sealed twice gives other bytes, and the comparison is on bytes.
    let same_plaintext = seal_credentials(&connection.id, &json!({"access_token": "resealed"}));
    assert_ne!(same_plaintext.to_bytes(), resealed.to_bytes());
    assert_conflict(
        store
            .replace_sealed_credentials(&connection.id, &same_plaintext, same_plaintext.clone())
            .await,
        "expected bytes that merely open to the same plaintext",
    );

    // The swap leaves the lease alone: a holder's fence still writes afterwards.
    let fence = store
        .acquire_refresh_lease(&connection.id, "worker-a", timestamp::now(), LEASE_TTL)
        .await
        .expect("acquire")
        .expect("free");
    let rotated = seal_credentials(&connection.id, &json!({"access_token": "rotated"}));
    store
        .replace_sealed_credentials(&connection.id, &resealed, rotated)
        .await
        .expect("swap while leased");
    store
        .store_refreshed_credentials(&connection.id, fence, resealed, None, None)
        .await
        .expect("the lease survived the swap");
}

async fn put(
    store: &dyn Store,
    scope: &OverrideScope,
    document: Option<Value>,
    expected_version: Option<u32>,
) -> OverrideVersion {
    store
        .put_override(scope, document.as_ref(), "rev-1", expected_version)
        .await
        .expect("put override")
}

fn versions(history: &[OverrideVersion]) -> Vec<u32> {
    history.iter().map(|version| version.version).collect()
}

pub async fn current_override_versions_name_both_layers_in_one_read(store: &dyn Store) {
    let environment_id = environment(store, "override versions").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let other = insert(store, &environment_id, "vendor-one").await;
    let versions = |connection: Option<ConnectionId>| {
        let environment_id = environment_id.clone();
        async move {
            store
                .current_override_versions(&environment_id, "vendor-one", connection.as_ref())
                .await
                .expect("versions")
        }
    };
    assert_eq!(versions(Some(connection.id.clone())).await, (None, None));
    let environment_scope = OverrideScope::environment(environment_id.clone(), "vendor-one");
    for n in 0..2 {
        store
            .put_override(&environment_scope, Some(&json!({"n": n})), "rev", None)
            .await
            .expect("environment put");
    }
    let own =
        OverrideScope::connection(environment_id.clone(), "vendor-one", connection.id.clone());
    store
        .put_override(&own, Some(&json!({"mine": true})), "rev", None)
        .await
        .expect("connection put");
    // A removal is a version too.
    store
        .put_override(&own, None, "rev", None)
        .await
        .expect("connection removal");
    assert_eq!(
        versions(Some(connection.id.clone())).await,
        (Some(2), Some(2))
    );
    assert_eq!(versions(Some(other.id.clone())).await, (Some(2), None));
    assert_eq!(versions(None).await, (Some(2), None));
    assert_eq!(
        store
            .current_override_versions(&environment_id, "vendor-two", Some(&connection.id))
            .await
            .expect("versions"),
        (None, None),
        "another provider's"
    );
}

pub async fn override_history_keeps_the_latest_versions_only(store: &dyn Store) {
    let environment_id = environment(store, "override history").await;
    let scope = OverrideScope::environment(environment_id.clone(), "vendor-one");
    let other = OverrideScope::environment(environment_id, "vendor-two");
    store
        .put_override(&other, Some(&json!({"n": 0})), "rev", None)
        .await
        .expect("another scope");
    let written = crate::OVERRIDE_VERSIONS_KEPT + 5;
    for n in 1..=written {
        store
            .put_override(&scope, Some(&json!({"n": n})), "rev", None)
            .await
            .expect("a put");
    }
    let history = store.override_history(&scope).await.expect("history");
    assert_eq!(history.len(), crate::OVERRIDE_VERSIONS_KEPT as usize);
    assert_eq!(history[0].version, 6, "the oldest versions went");
    assert_eq!(history.last().map(|version| version.version), Some(written));
    assert_eq!(
        store
            .current_override(&scope)
            .await
            .expect("current")
            .map(|version| version.version),
        Some(written)
    );
    assert_not_found(
        store.get_override_version(&scope, 1).await,
        "a pruned version",
    );
    assert_eq!(
        store.override_history(&other).await.expect("history").len(),
        1,
        "other scopes keep theirs"
    );
}

pub async fn overrides_append_versions_and_keep_history(store: &dyn Store) {
    let environment_id = environment(store, "overrides").await;
    let scope = OverrideScope::environment(environment_id.clone(), "vendor-one");
    assert_eq!(store.current_override(&scope).await.expect("current"), None);
    assert_eq!(
        store.override_history(&scope).await.expect("history"),
        vec![]
    );
    assert_not_found(
        store.get_override_version(&scope, 1).await,
        "a version of a scope never written",
    );

    // Key order and every JSON type survive, as for connections.
    let first_document =
        json!({"zeta": 1, "alpha": [true, null, 2.5], "mappings": {"b": "x", "a": "y"}});
    let before = timestamp::now();
    let first = store
        .put_override(&scope, Some(&first_document), "rev-abc", None)
        .await
        .expect("first put");
    assert_eq!(first.scope, scope);
    assert_eq!(first.version, 1);
    assert_eq!(first.revision, "rev-abc");
    assert_eq!(
        serde_json::to_string(first.document.as_ref().expect("a document")).expect("serializes"),
        serde_json::to_string(&first_document).expect("serializes")
    );
    assert!(first.created_at >= before);
    assert!(first.created_at <= timestamp::now() + Duration::seconds(1));
    assert_eq!(
        store.current_override(&scope).await.expect("current"),
        Some(first.clone()),
        "a write is current as soon as it returns"
    );
    let stored_first = store.get_override_version(&scope, 1).await.expect("get v1");
    assert_eq!(stored_first, first);
    assert_eq!(
        serde_json::to_string(&stored_first.document).expect("serializes"),
        serde_json::to_string(&Some(&first_document)).expect("serializes"),
        "object keys come back in the order written"
    );

    let second = put(store, &scope, Some(json!({"mappings": {"a": "z"}})), None).await;
    assert_eq!(second.version, 2);
    assert!(second.created_at >= first.created_at);
    let removed = put(store, &scope, None, Some(2)).await;
    assert_eq!(removed.version, 3);
    assert_eq!(removed.document, None, "a tombstone has no document");
    assert_eq!(
        store.current_override(&scope).await.expect("current"),
        Some(removed.clone()),
        "a tombstone is the current version, not an absent one"
    );

    // A JSON null is a document, not a removal.
    let null_document = put(store, &scope, Some(Value::Null), None).await;
    assert_eq!(null_document.version, 4);
    assert_eq!(null_document.document, Some(Value::Null));
    assert_eq!(
        store
            .get_override_version(&scope, 4)
            .await
            .expect("get v4")
            .document,
        Some(Value::Null)
    );

    // Reverting is writing an earlier version's document again.
    let reverted = store
        .put_override(&scope, first.document.as_ref(), &first.revision, Some(4))
        .await
        .expect("revert");
    assert_eq!(reverted.version, 5);
    assert_eq!(reverted.document, first.document);
    let history = store.override_history(&scope).await.expect("history");
    assert_eq!(versions(&history), vec![1, 2, 3, 4, 5], "oldest first");
    assert_eq!(
        history,
        vec![first, second, removed, null_document, reverted.clone()]
    );
    assert_eq!(
        store.current_override(&scope).await.expect("current"),
        Some(reverted)
    );
    assert_not_found(
        store.get_override_version(&scope, 6).await,
        "a version not written yet",
    );
    assert_not_found(
        store.get_override_version(&scope, 0).await,
        "version 0 never exists",
    );
}

pub async fn override_expected_version_is_optimistic(store: &dyn Store) {
    let environment_id = environment(store, "override versions").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    for scope in [
        OverrideScope::environment(environment_id.clone(), "vendor-one"),
        OverrideScope::connection(environment_id.clone(), "vendor-one", connection.id.clone()),
    ] {
        assert_conflict(
            store
                .put_override(&scope, Some(&json!({"a": 1})), "rev-1", Some(1))
                .await,
            "expecting version 1 of a scope never written",
        );
        let first = put(store, &scope, Some(json!({"a": 1})), Some(0)).await;
        assert_eq!(first.version, 1, "`Some(0)` writes only the first version");
        assert_conflict(
            store
                .put_override(&scope, Some(&json!({"a": 2})), "rev-1", Some(0))
                .await,
            "expecting no version once one exists",
        );
        let second = put(store, &scope, Some(json!({"a": 2})), Some(1)).await;
        assert_eq!(second.version, 2);
        for stale in [0, 1, 3, u32::MAX] {
            assert_conflict(
                store.put_override(&scope, None, "rev-1", Some(stale)).await,
                "expecting a version that is not the latest",
            );
        }
        assert_eq!(
            store.override_history(&scope).await.expect("history"),
            vec![first, second.clone()],
            "a conflicting write changes nothing"
        );
        let removed = put(store, &scope, None, Some(2)).await;
        assert_eq!(removed.version, 3);
        let restored = put(store, &scope, second.document.clone(), Some(3)).await;
        assert_eq!(
            restored.version, 4,
            "a tombstone counts as the latest version"
        );
    }
}

pub async fn override_writes_check_environment_connection_and_provider(store: &dyn Store) {
    let environment_id = environment(store, "override owner").await;
    let other_environment = environment(store, "override stranger").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let document = json!({"mappings": {}});
    let unknown_environment = EnvironmentId::generate();
    let refused = [
        (
            OverrideScope::environment(unknown_environment.clone(), "vendor-one"),
            "the environment layer of an unknown environment",
        ),
        (
            OverrideScope::connection(unknown_environment, "vendor-one", connection.id.clone()),
            "a connection asked through an unknown environment",
        ),
        (
            OverrideScope::connection(
                other_environment.clone(),
                "vendor-one",
                connection.id.clone(),
            ),
            "a connection of another environment",
        ),
        (
            OverrideScope::connection(environment_id.clone(), "hris-two", connection.id.clone()),
            "a connection of another provider",
        ),
        (
            OverrideScope::connection(
                environment_id.clone(),
                "vendor-one",
                ConnectionId::generate(),
            ),
            "an unknown connection",
        ),
    ];
    for (scope, what) in &refused {
        for expected_version in [None, Some(0), Some(3)] {
            assert_not_found(
                store
                    .put_override(scope, Some(&document), "rev-1", expected_version)
                    .await,
                what,
            );
        }
        assert_not_found(store.put_override(scope, None, "rev-1", None).await, what);
        assert_eq!(store.current_override(scope).await.expect("current"), None);
        assert_eq!(
            store.override_history(scope).await.expect("history"),
            vec![]
        );
        assert_not_found(store.get_override_version(scope, 1).await, what);
    }
    // The connection layer needs no environment layer written before it.
    let connection_scope =
        OverrideScope::connection(environment_id.clone(), "vendor-one", connection.id.clone());
    assert_eq!(
        put(store, &connection_scope, Some(document), None)
            .await
            .version,
        1
    );
}

pub async fn overrides_are_scoped_by_environment_provider_and_layer(store: &dyn Store) {
    let first_environment = environment(store, "override scope one").await;
    let second_environment = environment(store, "override scope two").await;
    let first_connection = insert(store, &first_environment, "vendor-one").await;
    let second_connection = insert(store, &first_environment, "vendor-one").await;
    let foreign_connection = insert(store, &second_environment, "vendor-one").await;

    let scopes = [
        OverrideScope::environment(first_environment.clone(), "vendor-one"),
        OverrideScope::environment(first_environment.clone(), "hris-two"),
        OverrideScope::environment(second_environment.clone(), "vendor-one"),
        OverrideScope::connection(
            first_environment.clone(),
            "vendor-one",
            first_connection.id.clone(),
        ),
        OverrideScope::connection(
            first_environment.clone(),
            "vendor-one",
            second_connection.id.clone(),
        ),
        OverrideScope::connection(
            second_environment.clone(),
            "vendor-one",
            foreign_connection.id.clone(),
        ),
    ];
    // Scope `index` gets `index + 1` versions, each document naming its scope.
    for (index, scope) in scopes.iter().enumerate() {
        for _ in 0..=index {
            put(store, scope, Some(json!({"scope": index})), None).await;
        }
    }
    for (index, scope) in scopes.iter().enumerate() {
        let history = store.override_history(scope).await.expect("history");
        let expected: Vec<u32> = (1..=u32::try_from(index + 1).expect("small")).collect();
        assert_eq!(
            versions(&history),
            expected,
            "each scope numbers its own versions"
        );
        for version in &history {
            assert_eq!(&version.scope, scope);
            assert_eq!(version.document, Some(json!({"scope": index})));
        }
        let current = store
            .current_override(scope)
            .await
            .expect("current")
            .expect("written");
        assert_eq!(Some(&current), history.last());
    }

    // A connection asked through another environment shows nothing, and the environment layer of
    // one environment is never another's.
    let through_wrong_environment = OverrideScope::connection(
        second_environment.clone(),
        "vendor-one",
        first_connection.id.clone(),
    );
    assert_eq!(
        store
            .current_override(&through_wrong_environment)
            .await
            .expect("current"),
        None
    );
    assert_eq!(
        store
            .override_history(&through_wrong_environment)
            .await
            .expect("history"),
        vec![]
    );
    assert_not_found(
        store
            .get_override_version(&through_wrong_environment, 1)
            .await,
        "a version of a connection asked through another environment",
    );
    let second_layer = store
        .get_override_version(&scopes[2], 1)
        .await
        .expect("second environment's own layer");
    assert_eq!(second_layer.document, Some(json!({"scope": 2})));
    assert_eq!(
        store
            .current_override(&OverrideScope::environment(
                second_environment.clone(),
                "hris-two"
            ))
            .await
            .expect("current"),
        None,
        "another environment's layer for the provider does not leak"
    );
}

pub async fn deleting_a_connection_removes_its_overrides(store: &dyn Store) {
    let environment_id = environment(store, "override cascade").await;
    let doomed = insert(store, &environment_id, "vendor-one").await;
    let kept = insert(store, &environment_id, "vendor-one").await;
    let environment_layer = OverrideScope::environment(environment_id.clone(), "vendor-one");
    let doomed_layer =
        OverrideScope::connection(environment_id.clone(), "vendor-one", doomed.id.clone());
    let kept_layer =
        OverrideScope::connection(environment_id.clone(), "vendor-one", kept.id.clone());
    for scope in [&environment_layer, &doomed_layer, &kept_layer] {
        put(store, scope, Some(json!({"v": 1})), None).await;
        put(store, scope, None, None).await;
    }

    store
        .delete_connection(&environment_id, &doomed.id)
        .await
        .expect("delete");
    assert_eq!(
        store
            .current_override(&doomed_layer)
            .await
            .expect("current"),
        None,
        "the connection layer went with its connection"
    );
    assert_eq!(
        store
            .override_history(&doomed_layer)
            .await
            .expect("history"),
        vec![]
    );
    assert_not_found(
        store.put_override(&doomed_layer, None, "rev-1", None).await,
        "a write for a deleted connection",
    );
    for scope in [&environment_layer, &kept_layer] {
        assert_eq!(
            versions(&store.override_history(scope).await.expect("history")),
            vec![1, 2],
            "other layers stay"
        );
    }

    // A connection reusing the id starts without overrides, numbered from 1 again.
    let mut reused = new_connection(&environment_id, "vendor-one");
    reused.id = doomed.id.clone();
    reused.credentials = seal_credentials(&reused.id, &json!({"access_token": "again"}));
    store
        .insert_connection(reused)
        .await
        .expect("the id is free again");
    assert_eq!(
        store
            .current_override(&doomed_layer)
            .await
            .expect("current"),
        None
    );
    assert_eq!(put(store, &doomed_layer, None, Some(0)).await.version, 1);
}

pub async fn concurrent_override_writers_expecting_one_version_one_wins(store: &dyn Store) {
    const N_WRITERS: usize = 16;
    let environment_id = environment(store, "override race").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    for scope in [
        OverrideScope::environment(environment_id.clone(), "vendor-one"),
        OverrideScope::connection(environment_id.clone(), "vendor-one", connection.id.clone()),
    ] {
        for round in 0..3u32 {
            let results = join_all((0..N_WRITERS).map(|writer| {
                let scope = &scope;
                async move {
                    let document = json!({"writer": writer});
                    store
                        .put_override(scope, Some(&document), "rev-1", Some(round))
                        .await
                }
            }))
            .await;
            let mut winners = Vec::new();
            for result in results {
                match result {
                    Ok(written) => winners.push(written),
                    Err(StoreError::Conflict(_)) => {}
                    Err(other) => panic!("a losing writer must see Conflict, got {other:?}"),
                }
            }
            assert_eq!(winners.len(), 1, "exactly one concurrent writer wins");
            assert_eq!(winners[0].version, round + 1);
            assert_eq!(
                store.current_override(&scope).await.expect("current"),
                winners.pop()
            );
        }
        assert_eq!(
            versions(&store.override_history(&scope).await.expect("history")),
            vec![1, 2, 3]
        );
    }
}

pub async fn concurrent_unconditional_override_writers_all_land(store: &dyn Store) {
    const N_WRITERS: u32 = 8;
    let environment_id = environment(store, "override crowd").await;
    let scope = OverrideScope::environment(environment_id, "vendor-one");
    let results = join_all((0..N_WRITERS).map(|writer| {
        let scope = &scope;
        async move {
            let document = json!({"writer": writer});
            store
                .put_override(scope, Some(&document), "rev-1", None)
                .await
        }
    }))
    .await;
    let mut written: Vec<u32> = results
        .into_iter()
        .map(|result| result.expect("an unconditional write always lands").version)
        .collect();
    written.sort_unstable();
    let expected: Vec<u32> = (1..=N_WRITERS).collect();
    assert_eq!(written, expected, "each writer gets its own version");
    let history = store.override_history(&scope).await.expect("history");
    assert_eq!(versions(&history), expected);
    let mut writers: Vec<Value> = history
        .into_iter()
        .map(|version| version.document.expect("a document")["writer"].clone())
        .collect();
    writers.sort_by_key(|writer| writer.as_u64());
    let all: Vec<Value> = (0..N_WRITERS).map(|writer| json!(writer)).collect();
    assert_eq!(writers, all, "no write was lost");
}

pub async fn current_overrides_span_environments_and_leave_out_removed_ones(store: &dyn Store) {
    let first_environment = environment(store, "current overrides one").await;
    let second_environment = environment(store, "current overrides two").await;
    let connection = insert(store, &first_environment, "vendor-one").await;
    let removed = insert(store, &first_environment, "vendor-one").await;
    let first_layer = OverrideScope::environment(first_environment.clone(), "vendor-one");
    let connection_layer = OverrideScope::connection(
        first_environment.clone(),
        "vendor-one",
        connection.id.clone(),
    );
    let removed_layer =
        OverrideScope::connection(first_environment.clone(), "vendor-one", removed.id.clone());
    let second_layer = OverrideScope::environment(second_environment.clone(), "vendor-two");
    put(store, &first_layer, Some(json!({"v": 1})), None).await;
    let first_current = put(store, &first_layer, Some(json!({"v": 2})), None).await;
    let connection_current = put(store, &connection_layer, Some(json!({"c": 1})), None).await;
    put(store, &removed_layer, Some(json!({"gone": true})), None).await;
    put(store, &removed_layer, None, None).await;
    let second_current = put(store, &second_layer, Some(json!({"w": 1})), None).await;

    let all = store
        .list_current_overrides()
        .await
        .expect("list current overrides");
    let ours: Vec<OverrideVersion> = all
        .iter()
        .filter(|version| {
            version.scope.environment_id == first_environment
                || version.scope.environment_id == second_environment
        })
        .cloned()
        .collect();
    let mut expected = vec![first_current, connection_current, second_current];
    expected.sort_by(|a, b| {
        a.scope
            .environment_id
            .as_str()
            .cmp(b.scope.environment_id.as_str())
    });
    assert_eq!(
        ours, expected,
        "the latest version of each scope, whole; a removed one is left out"
    );
    let order_key = |version: &OverrideVersion| {
        (
            version.scope.environment_id.to_string(),
            version.scope.provider.clone(),
            version
                .scope
                .connection_id
                .as_ref()
                .map(ConnectionId::to_string)
                .unwrap_or_default(),
        )
    };
    assert!(
        all.windows(2)
            .all(|pair| order_key(&pair[0]) < order_key(&pair[1])),
        "ordered by environment, provider and connection, one entry per scope"
    );
}

fn invalid_override_event(scope: &OverrideScope, version: u32, revision: &str) -> NewEvent {
    NewEvent {
        environment_id: scope.environment_id.clone(),
        connection_id: scope.connection_id.clone(),
        kind: "override.invalid".to_owned(),
        payload: json!({"provider": scope.provider, "version": version, "connector_revision": revision}),
    }
}

pub async fn an_invalid_override_is_recorded_once_per_version_and_revision(store: &dyn Store) {
    let environment_id = environment(store, "invalid overrides").await;
    let stranger = environment(store, "invalid overrides stranger").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let environment_layer = OverrideScope::environment(environment_id.clone(), "vendor-one");
    let connection_layer =
        OverrideScope::connection(environment_id.clone(), "vendor-one", connection.id.clone());
    let report = |scope: &OverrideScope, version: u32, revision: &str| {
        let event = invalid_override_event(scope, version, revision);
        let scope = scope.clone();
        let revision = revision.to_owned();
        async move {
            store
                .record_invalid_override(&scope, version, &revision, event)
                .await
        }
    };

    let recorded = report(&environment_layer, 1, "rev-2")
        .await
        .expect("report")
        .expect("recorded the first time");
    assert_eq!(recorded.kind, "override.invalid");
    assert_eq!(recorded.connection_id, None);
    assert_eq!(
        recorded.payload,
        json!({"provider": "vendor-one", "version": 1, "connector_revision": "rev-2"})
    );
    assert_eq!(
        report(&environment_layer, 1, "rev-2")
            .await
            .expect("report"),
        None,
        "the same version against the same revision is recorded once"
    );
    for (scope, version, revision) in [
        (&environment_layer, 1, "rev-3"),
        (&environment_layer, 2, "rev-2"),
        (&connection_layer, 1, "rev-2"),
    ] {
        assert!(
            report(scope, version, revision)
                .await
                .expect("report")
                .is_some(),
            "another version, revision or scope is recorded: {scope:?} v{version} {revision}"
        );
    }
    let events = store
        .list_events(&environment_id, None, Some("override.invalid"))
        .await
        .expect("events");
    assert_eq!(
        events.len(),
        4,
        "one event per recorded failure: {events:?}"
    );
    assert_eq!(events[0], recorded);
    assert_eq!(
        store
            .list_events(
                &environment_id,
                Some(&connection.id),
                Some("override.invalid")
            )
            .await
            .expect("events")
            .len(),
        1,
        "the connection layer's event names its connection"
    );

    assert_not_found(
        report(
            &OverrideScope::environment(EnvironmentId::generate(), "vendor-one"),
            1,
            "rev-2",
        )
        .await,
        "an unknown environment",
    );
    assert_not_found(
        report(
            &OverrideScope::connection(stranger.clone(), "vendor-one", connection.id.clone()),
            1,
            "rev-2",
        )
        .await,
        "a connection of another environment",
    );
    assert_not_found(
        report(
            &OverrideScope::connection(environment_id.clone(), "vendor-two", connection.id.clone()),
            1,
            "rev-2",
        )
        .await,
        "a connection of another provider",
    );
    assert!(
        store
            .list_events(&stranger, None, None)
            .await
            .expect("events")
            .is_empty(),
        "a refused report records no event"
    );

    // The connection's markers go with it: a connection reusing the id reports afresh.
    store
        .delete_connection(&environment_id, &connection.id)
        .await
        .expect("delete");
    let mut reused = new_connection(&environment_id, "vendor-one");
    reused.id = connection.id.clone();
    reused.credentials = seal_credentials(&reused.id, &json!({"access_token": "again"}));
    store
        .insert_connection(reused)
        .await
        .expect("the id is free again");
    assert!(
        report(&connection_layer, 1, "rev-2")
            .await
            .expect("report")
            .is_some(),
        "markers of a deleted connection are gone"
    );
}

pub async fn concurrent_invalid_override_reporters_record_one_event(store: &dyn Store) {
    const N_REPORTERS: usize = 8;
    let environment_id = environment(store, "invalid override crowd").await;
    let scope = OverrideScope::environment(environment_id.clone(), "vendor-one");
    let results = join_all((0..N_REPORTERS).map(|_| {
        let scope = &scope;
        async move {
            store
                .record_invalid_override(
                    scope,
                    3,
                    "rev-9",
                    invalid_override_event(scope, 3, "rev-9"),
                )
                .await
        }
    }))
    .await;
    let recorded: Vec<_> = results
        .into_iter()
        .filter_map(|result| result.expect("every reporter succeeds"))
        .collect();
    assert_eq!(
        recorded.len(),
        1,
        "exactly one reporter records: {recorded:?}"
    );
    assert_eq!(
        store
            .list_events(&environment_id, None, Some("override.invalid"))
            .await
            .expect("events"),
        recorded,
        "and exactly one event exists"
    );
}

/// The cursor a page names for the next one, after a trip through its string form, as clients
/// hold it; `None` when the walk is done.
fn next_cursor<T>(page: &Page<T>, limit: u32) -> Option<Cursor> {
    assert!(
        page.items.len() <= limit as usize,
        "a page holds at most `limit` rows"
    );
    page.next
        .as_ref()
        .map(|next| Cursor::parse(&next.encode()).expect("a cursor parses"))
}

pub async fn connection_pages_walk_every_connection_once_while_others_are_inserted(
    store: &dyn Store,
) {
    let environment_id = environment(store, "connection pages").await;
    let other = environment(store, "connection pages other").await;
    insert(store, &other, "acme").await;
    let empty = store
        .list_connections_page(&environment_id, &PageRequest::first(2))
        .await
        .expect("list an empty environment");
    assert_eq!((empty.items.len(), empty.next), (0, None));

    let mut existing = Vec::new();
    for _ in 0..5 {
        existing.push(insert(store, &environment_id, "acme").await.id);
    }
    let exact = store
        .list_connections_page(&environment_id, &PageRequest::first(5))
        .await
        .expect("one full page");
    assert_eq!(exact.items.len(), 5);
    assert_eq!(exact.next, None, "no cursor when nothing follows the page");

    let mut walked = Vec::new();
    let mut inserted = 0;
    let mut page = PageRequest::first(2);
    loop {
        let listed = store
            .list_connections_page(&environment_id, &page)
            .await
            .expect("list a page");
        walked.extend(listed.items.iter().map(|connection| connection.id.clone()));
        // A connection inserted mid-walk sorts after every existing one.
        insert(store, &environment_id, "acme").await;
        inserted += 1;
        match next_cursor(&listed, page.limit) {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    assert_eq!(
        walked[..existing.len()],
        existing[..],
        "the connections that existed come first, oldest first, each once"
    );
    let mut unique = walked.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), walked.len(), "no connection is listed twice");
    let all = store
        .list_connections(&environment_id)
        .await
        .expect("list all");
    let all: Vec<ConnectionId> = all.into_iter().map(|connection| connection.id).collect();
    assert!(
        walked.iter().all(|id| all.contains(id)),
        "pages hold only the environment's connections"
    );
    assert!(
        walked.len() > existing.len() && inserted > 1,
        "the walk also reached connections inserted while it ran"
    );
}

async fn record_event(
    store: &dyn Store,
    environment_id: &EnvironmentId,
    connection_id: Option<&ConnectionId>,
    kind: &str,
) -> crate::Event {
    store
        .insert_event(NewEvent {
            environment_id: environment_id.clone(),
            connection_id: connection_id.cloned(),
            kind: kind.to_owned(),
            payload: json!({"n": 1}),
        })
        .await
        .expect("insert event")
}

pub async fn event_pages_are_filtered_and_walk_every_event_once_while_others_are_recorded(
    store: &dyn Store,
) {
    let environment_id = environment(store, "event pages").await;
    let connection = insert(store, &environment_id, "acme").await;
    let mut matching = Vec::new();
    for _ in 0..4 {
        matching.push(
            record_event(
                store,
                &environment_id,
                Some(&connection.id),
                "connection.created",
            )
            .await
            .id,
        );
        record_event(
            store,
            &environment_id,
            Some(&connection.id),
            "connection.needs_reauth",
        )
        .await;
        record_event(store, &environment_id, None, "connection.created").await;
    }
    let mut walked = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let listed = store
            .list_events_page(
                &environment_id,
                Some(&connection.id),
                Some("connection.created"),
                &page,
            )
            .await
            .expect("list a page");
        walked.extend(listed.items.iter().map(|event| event.id.clone()));
        match next_cursor(&listed, page.limit) {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    assert_eq!(walked, matching, "filters hold on every page, oldest first");

    let mut unfiltered = Vec::new();
    let mut page = PageRequest::first(5);
    loop {
        let listed = store
            .list_events_page(&environment_id, None, None, &page)
            .await
            .expect("list a page");
        unfiltered.extend(listed.items.iter().map(|event| event.id.clone()));
        record_event(store, &environment_id, None, "environment.touched").await;
        match next_cursor(&listed, page.limit) {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    let all = store
        .list_events(&environment_id, None, None)
        .await
        .expect("list all");
    let all: Vec<_> = all.into_iter().map(|event| event.id).collect();
    assert_eq!(
        unfiltered[..],
        all[..unfiltered.len()],
        "pages give the events in list order, none twice, none skipped"
    );
    assert!(
        unfiltered.len() > 12,
        "events recorded mid-walk are reached"
    );
}

fn event_about(environment_id: &EnvironmentId, id: &ConnectionId, kind: &str) -> NewEvent {
    NewEvent {
        environment_id: environment_id.clone(),
        connection_id: Some(id.clone()),
        kind: kind.to_owned(),
        payload: json!({"provider": "acme"}),
    }
}

pub async fn a_connection_and_its_event_are_inserted_together_or_not_at_all(store: &dyn Store) {
    let environment_id = environment(store, "insert with event").await;
    let new = new_connection(&environment_id, "acme");
    let event = event_about(&environment_id, &new.id, "connection.created");
    let (connection, recorded) = store
        .insert_connection_with_event(new, event)
        .await
        .expect("insert with event");
    assert_eq!(
        store
            .get_connection(&environment_id, &connection.id)
            .await
            .expect("the connection is stored"),
        connection
    );
    assert_eq!(
        store
            .list_events(&environment_id, Some(&connection.id), None)
            .await
            .expect("list"),
        vec![recorded]
    );

    // The event's insert fails (its environment does not exist) after the connection's
    // succeeded: the connection must not stay.
    let new = new_connection(&environment_id, "acme");
    let id = new.id.clone();
    let orphan = event_about(&EnvironmentId::generate(), &id, "connection.created");
    assert_not_found(
        store.insert_connection_with_event(new, orphan).await,
        "an event of an unknown environment",
    );
    assert_not_found(
        store.get_connection(&environment_id, &id).await,
        "the connection of a failed insert with event",
    );

    // The connection's insert fails (its id exists): no event is recorded.
    let mut duplicate = new_connection(&environment_id, "acme");
    duplicate.id = connection.id.clone();
    let event = event_about(&environment_id, &connection.id, "connection.created");
    assert_conflict(
        store.insert_connection_with_event(duplicate, event).await,
        "a repeated connection id",
    );
    assert_eq!(
        store
            .list_events(&environment_id, Some(&connection.id), None)
            .await
            .expect("list")
            .len(),
        1,
        "the failed insert recorded no event"
    );
}

pub async fn a_connection_update_and_its_event_are_stored_together_or_not_at_all(
    store: &dyn Store,
) {
    let environment_id = environment(store, "update with event").await;
    let connection = insert(store, &environment_id, "acme").await;
    let to_reauth = || ConnectionUpdate {
        status: Some(ConnectionStatus::NeedsReauth),
        ..ConnectionUpdate::default()
    };

    // The event's insert fails after the update succeeded: the update must be undone.
    let orphan = event_about(
        &EnvironmentId::generate(),
        &connection.id,
        "connection.needs_reauth",
    );
    assert_not_found(
        store
            .update_connection_with_event(&environment_id, &connection.id, to_reauth(), orphan)
            .await,
        "an event of an unknown environment",
    );
    assert_eq!(
        store
            .get_connection(&environment_id, &connection.id)
            .await
            .expect("get"),
        connection,
        "the update of a failed update with event is rolled back, updated_at included"
    );

    // The update fails (the connection is another environment's): no event is recorded.
    let other = environment(store, "update with event other").await;
    let event = event_about(&other, &connection.id, "connection.needs_reauth");
    assert_not_found(
        store
            .update_connection_with_event(&other, &connection.id, to_reauth(), event)
            .await,
        "another environment's connection",
    );
    assert!(
        store
            .list_events(&other, None, None)
            .await
            .expect("list")
            .is_empty(),
        "the failed update recorded no event"
    );

    let event = event_about(&environment_id, &connection.id, "connection.needs_reauth");
    let (updated, recorded) = store
        .update_connection_with_event(&environment_id, &connection.id, to_reauth(), event)
        .await
        .expect("update with event");
    assert_eq!(updated.status, ConnectionStatus::NeedsReauth);
    assert!(updated.updated_at > connection.updated_at);
    assert_eq!(
        store
            .get_connection(&environment_id, &connection.id)
            .await
            .expect("get"),
        updated
    );
    assert_eq!(recorded.kind, "connection.needs_reauth");
    assert_eq!(
        store
            .list_events(&environment_id, Some(&connection.id), None)
            .await
            .expect("list"),
        vec![recorded]
    );
}

pub async fn concurrent_updates_with_events_all_land(store: &dyn Store) {
    const N_TASKS: usize = 8;
    let environment_id = environment(store, "concurrent updates with events").await;
    let connection = insert(store, &environment_id, "acme").await;
    // Each future takes its own pooled connection, so the transactions contend for the row.
    let results = join_all((0..N_TASKS).map(|task_idx| {
        let event = event_about(&environment_id, &connection.id, "connection.touched");
        let update = ConnectionUpdate {
            account: Some(json!({"task": task_idx})),
            ..ConnectionUpdate::default()
        };
        let environment_id = &environment_id;
        let id = &connection.id;
        async move {
            store
                .update_connection_with_event(environment_id, id, update, event)
                .await
        }
    }))
    .await;
    let mut versions: Vec<_> = results
        .into_iter()
        .map(|result| result.expect("a concurrent update with event").0.updated_at)
        .collect();
    versions.sort();
    versions.dedup();
    assert_eq!(
        versions.len(),
        N_TASKS,
        "each update bumped updated_at once"
    );
    let events = store
        .list_events(
            &environment_id,
            Some(&connection.id),
            Some("connection.touched"),
        )
        .await
        .expect("list");
    assert_eq!(events.len(), N_TASKS, "every update recorded its event");
}

fn new_api_key(environment_id: &EnvironmentId, name: Option<&str>) -> (String, NewApiKey) {
    let key = generate_api_key();
    let new = NewApiKey {
        environment_id: environment_id.clone(),
        key_hash: ApiKeyHash::of(&key),
        prefix: api_key_prefix(&key),
        name: name.map(str::to_owned),
        expires_at: None,
        permissions: KeyPermissions::default(),
    };
    (key, new)
}

pub async fn api_key_permissions_round_trip(store: &dyn Store) {
    let environment_id = environment(store, "key permissions").await;
    let first = ConnectionId::generate();
    let second = ConnectionId::generate();
    let (key, mut new) = new_api_key(&environment_id, Some("agent"));
    new.permissions = KeyPermissions {
        connection_ids: Some(vec![second.clone(), first.clone()]),
        read_only: true,
        deletes: false,
    };
    let scoped = store.create_api_key(new.clone()).await.expect("create");
    assert_eq!(scoped.permissions, new.permissions);
    let found = store
        .find_api_key(&ApiKeyHash::of(&key))
        .await
        .expect("find");
    assert_eq!(found, scoped, "connections in the order given, flags kept");
    assert!(found.permissions.reaches(&first) && found.permissions.reaches(&second));
    assert!(!found.permissions.reaches(&ConnectionId::generate()));

    let (_, mut deleting) = new_api_key(&environment_id, None);
    deleting.permissions = KeyPermissions {
        connection_ids: Some(vec![]),
        read_only: false,
        deletes: true,
    };
    let deleting = store.create_api_key(deleting).await.expect("create");
    assert_eq!(
        deleting.permissions.connection_ids,
        Some(vec![]),
        "an empty scope is not every connection"
    );
    assert!(deleting.permissions.may_delete());

    let (_, plain) = new_api_key(&environment_id, None);
    let plain = store.create_api_key(plain).await.expect("create");
    assert_eq!(plain.permissions, KeyPermissions::default());
    assert!(!plain.permissions.may_delete() && plain.permissions.writes());

    let full_key = generate_api_key();
    let full = store
        .insert_api_key(
            &environment_id,
            &ApiKeyHash::of(&full_key),
            &api_key_prefix(&full_key),
        )
        .await
        .expect("insert");
    assert_eq!(full.permissions, KeyPermissions::full());
    assert!(full.permissions.covers(&scoped.permissions));
    assert!(!scoped.permissions.covers(&full.permissions));

    // A rotation stores the new key's permissions as given, the old key's unchanged.
    let (_, mut rotated) = new_api_key(&environment_id, Some("agent"));
    rotated.permissions = scoped.permissions.clone();
    let now = timestamp::now();
    let (old, created) = store
        .rotate_api_key(
            &environment_id,
            &scoped.id,
            rotated,
            now + Duration::hours(1),
            now,
        )
        .await
        .expect("rotate");
    assert_eq!(old.permissions, scoped.permissions);
    assert_eq!(created.permissions, scoped.permissions);
    let listed = store.list_api_keys(&environment_id).await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|key| key.permissions.clone())
            .collect::<Vec<_>>(),
        vec![
            scoped.permissions.clone(),
            deleting.permissions,
            plain.permissions,
            full.permissions,
            scoped.permissions,
        ]
    );
}

pub async fn api_key_label_and_expiry_round_trip_and_list_oldest_first(store: &dyn Store) {
    let environment_id = environment(store, "key lifecycle").await;
    let other_environment = environment(store, "other keys").await;
    let expires_at =
        Utc.with_ymd_and_hms(2100, 1, 2, 3, 4, 5).unwrap() + Duration::microseconds(123_456);
    let (key, mut new) = new_api_key(&environment_id, Some("billing backend"));
    new.expires_at = Some(expires_at + Duration::nanoseconds(789));
    let first = store.create_api_key(new).await.expect("create");
    assert_eq!(first.name.as_deref(), Some("billing backend"));
    assert_eq!(
        first.expires_at,
        Some(expires_at),
        "truncated to microseconds"
    );
    assert_eq!(first.revoked_at, None);
    assert_eq!(first.last_used_at, None);
    assert_eq!(
        store
            .find_api_key(&ApiKeyHash::of(&key))
            .await
            .expect("find"),
        first
    );
    assert!(first.usable_at(expires_at - Duration::seconds(1)));
    assert!(!first.usable_at(expires_at), "refused from its expiry on");

    let (_, second) = new_api_key(&environment_id, None);
    let second = store.create_api_key(second).await.expect("create second");
    let (_, foreign) = new_api_key(&other_environment, None);
    store.create_api_key(foreign).await.expect("create foreign");
    let listed = store.list_api_keys(&environment_id).await.expect("list");
    assert_eq!(
        listed,
        vec![first, second],
        "oldest first, own environment only"
    );
    assert!(
        store
            .list_api_keys(&EnvironmentId::generate())
            .await
            .expect("list unknown")
            .is_empty()
    );
    let (_, orphan) = new_api_key(&EnvironmentId::generate(), None);
    assert_not_found(
        store.create_api_key(orphan).await,
        "create_api_key into an unknown environment",
    );
}

pub async fn revoking_an_api_key_keeps_the_last_usable_one(store: &dyn Store) {
    let environment_id = environment(store, "revocations").await;
    let other_environment = environment(store, "someone else").await;
    let now = timestamp::now();
    let (_, first) = new_api_key(&environment_id, None);
    let first = store.create_api_key(first).await.expect("create");
    let (second_key, second) = new_api_key(&environment_id, None);
    let second = store.create_api_key(second).await.expect("create");
    // A key that has expired is no longer a way in, so it does not count as one left.
    let (_, mut expired) = new_api_key(&environment_id, None);
    expired.expires_at = Some(now - Duration::seconds(1));
    store.create_api_key(expired).await.expect("create expired");

    assert_not_found(
        store
            .revoke_api_key(&other_environment, &first.id, now)
            .await,
        "revoking another environment's key",
    );
    assert_not_found(
        store
            .revoke_api_key(&environment_id, &ApiKeyId::generate(), now)
            .await,
        "revoking an unknown key",
    );
    let revoked = store
        .revoke_api_key(&environment_id, &first.id, now)
        .await
        .expect("revoke while another key is usable");
    assert_eq!(revoked.revoked_at, Some(timestamp::truncate(now)));
    assert!(!revoked.usable_at(now));
    let again = store
        .revoke_api_key(&environment_id, &first.id, now + Duration::seconds(5))
        .await
        .expect("revoking again changes nothing");
    assert_eq!(again, revoked);
    assert_conflict(
        store.revoke_api_key(&environment_id, &second.id, now).await,
        "revoking the last usable key",
    );
    let kept = store
        .find_api_key(&ApiKeyHash::of(&second_key))
        .await
        .expect("still stored");
    assert!(kept.usable_at(now), "the last key still works: {kept:?}");
    let listed = store.list_api_keys(&environment_id).await.expect("list");
    assert_eq!(listed[0], revoked, "the revocation is stored");
}

pub async fn concurrent_revocations_of_the_last_two_keys_leave_one(store: &dyn Store) {
    for _round in 0..3 {
        let environment_id = environment(store, "revocation race").await;
        let mut ids = Vec::new();
        for _ in 0..2 {
            let (_, new) = new_api_key(&environment_id, None);
            ids.push(store.create_api_key(new).await.expect("create").id);
        }
        let now = timestamp::now();
        let results = join_all(
            ids.iter()
                .map(|id| store.revoke_api_key(&environment_id, id, now)),
        )
        .await;
        let revoked = results.iter().filter(|result| result.is_ok()).count();
        assert_eq!(revoked, 1, "exactly one revocation wins: {results:?}");
        for result in &results {
            if let Err(error) = result {
                assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
            }
        }
        let usable = store
            .list_api_keys(&environment_id)
            .await
            .expect("list")
            .iter()
            .filter(|key| key.usable_at(now))
            .count();
        assert_eq!(usable, 1);
    }
}

pub async fn rotating_an_api_key_overlaps_the_old_and_the_new(store: &dyn Store) {
    let environment_id = environment(store, "rotations").await;
    let other_environment = environment(store, "not mine").await;
    let now = timestamp::now();
    let (_, old) = new_api_key(&environment_id, Some("backend"));
    let old = store.create_api_key(old).await.expect("create");
    let overlap_end = timestamp::truncate(now + Duration::hours(1));

    let (_, foreign) = new_api_key(&other_environment, None);
    assert_not_found(
        store
            .rotate_api_key(&other_environment, &old.id, foreign, overlap_end, now)
            .await,
        "rotating another environment's key",
    );
    let (new_key, new) = new_api_key(&environment_id, Some("backend"));
    let (old_after, created) = store
        .rotate_api_key(&environment_id, &old.id, new, overlap_end, now)
        .await
        .expect("rotate");
    assert_eq!(old_after.expires_at, Some(overlap_end));
    assert_eq!(created.name.as_deref(), Some("backend"));
    assert_eq!(
        store
            .find_api_key(&ApiKeyHash::of(&new_key))
            .await
            .expect("new key stored"),
        created
    );
    let listed = store.list_api_keys(&environment_id).await.expect("list");
    assert_eq!(listed, vec![old_after.clone(), created.clone()]);
    assert!(
        old_after.usable_at(now) && created.usable_at(now),
        "both work during the overlap"
    );
    assert!(!old_after.usable_at(overlap_end) && created.usable_at(overlap_end));

    // A later overlap end does not extend a sooner expiry.
    let (_, newer) = new_api_key(&environment_id, None);
    let (old_again, _) = store
        .rotate_api_key(
            &environment_id,
            &old.id,
            newer,
            now + Duration::days(3),
            now,
        )
        .await
        .expect("rotate again");
    assert_eq!(old_again.expires_at, Some(overlap_end));

    // A revoked key cannot be rotated, and nothing is created when it is refused.
    store
        .revoke_api_key(&environment_id, &created.id, now)
        .await
        .expect("revoke");
    let (refused_key, refused) = new_api_key(&environment_id, None);
    assert_conflict(
        store
            .rotate_api_key(&environment_id, &created.id, refused, overlap_end, now)
            .await,
        "rotating a revoked key",
    );
    assert_not_found(
        store.find_api_key(&ApiKeyHash::of(&refused_key)).await,
        "the refused rotation's new key",
    );
}

pub async fn touching_an_api_key_keeps_the_latest_use(store: &dyn Store) {
    let environment_id = environment(store, "key use").await;
    let (key, new) = new_api_key(&environment_id, None);
    let created = store.create_api_key(new).await.expect("create");
    let at = timestamp::now();
    store.touch_api_key(&created.id, at).await.expect("touch");
    store
        .touch_api_key(&created.id, at - Duration::minutes(5))
        .await
        .expect("an older touch");
    let found = store
        .find_api_key(&ApiKeyHash::of(&key))
        .await
        .expect("find");
    assert_eq!(found.last_used_at, Some(timestamp::truncate(at)));
    store
        .touch_api_key(&ApiKeyId::generate(), at)
        .await
        .expect("an unknown key is not an error");
}

// --- The job queue -----------------------------------------------------------------------

/// A lease long enough that no check's lease lapses unless the check moves its clock past it.
const JOB_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// A job kind of this check's own (claims are per kind across environments, and checks may
/// share a database), and a queued job of it due at `run_at`.
fn new_job(environment_id: &EnvironmentId, run_at: DateTime<Utc>) -> NewJob {
    NewJob {
        environment_id: environment_id.clone(),
        connection_id: None,
        kind: job_kind(environment_id),
        key: None,
        payload: json!({"object": "contacts", "n": 1}),
        run_at,
        max_attempts: 3,
    }
}

fn job_kind(environment_id: &EnvironmentId) -> String {
    format!("check-{environment_id}")
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

pub async fn a_job_is_enqueued_claimed_and_finished(store: &dyn Store) {
    let environment_id = environment(store, "jobs").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let (job, created) = store
        .enqueue_job(new_job(&environment_id, t0))
        .await
        .expect("enqueue");
    assert!(created);
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!((job.attempts, job.fence, job.max_attempts), (0, 0, 3));
    assert_eq!(job.payload, json!({"object": "contacts", "n": 1}));
    assert_eq!(
        store.get_job(&environment_id, &job.id).await.expect("get"),
        job
    );

    let claimed = store
        .claim_jobs(&kind, "worker-a", t0, JOB_LEASE, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let running = &claimed[0];
    assert_eq!(running.id, job.id);
    assert_eq!(running.status, JobStatus::Running);
    assert_eq!(running.attempts, 1);
    assert_eq!(running.fence, 1);
    assert_eq!(running.lease_holder.as_deref(), Some("worker-a"));
    assert_eq!(running.lease_until, Some(timestamp::add(t0, JOB_LEASE)));
    assert!(
        store
            .claim_jobs(&kind, "worker-b", t0, JOB_LEASE, 10)
            .await
            .expect("claim again")
            .is_empty(),
        "a leased job is not claimed again while its lease runs"
    );

    let renewed = store
        .renew_job_lease(&job.id, 1, t0 + secs(20), JOB_LEASE)
        .await
        .expect("renew");
    assert_eq!(
        renewed.lease_until,
        Some(timestamp::add(t0 + secs(20), JOB_LEASE))
    );
    assert!(
        store
            .claim_jobs(&kind, "worker-b", t0 + secs(40), JOB_LEASE, 10)
            .await
            .expect("claim after the first lease's end")
            .is_empty(),
        "a renewed lease runs from its renewal"
    );
    let done = store
        .finish_job(&job.id, 1, JobOutcome::Done, t0 + secs(41))
        .await
        .expect("finish");
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.lease_until, None);
    assert!(
        store
            .claim_jobs(&kind, "worker-b", t0 + secs(600), JOB_LEASE, 10)
            .await
            .expect("claim after done")
            .is_empty()
    );
    assert_conflict(
        store
            .finish_job(&job.id, 1, JobOutcome::Done, t0 + secs(42))
            .await,
        "a finished job cannot be finished again",
    );
    assert_not_found(
        store
            .finish_job(&JobId::generate(), 1, JobOutcome::Done, t0)
            .await,
        "finishing an unknown job",
    );
    let other = environment(store, "jobs elsewhere").await;
    assert_not_found(
        store.get_job(&other, &job.id).await,
        "a job is read in its environment only",
    );
    let mut orphan = new_job(&environment_id, t0);
    orphan.environment_id = EnvironmentId::generate();
    assert_not_found(
        store.enqueue_job(orphan).await,
        "a job of an unknown environment",
    );
}

pub async fn jobs_are_claimed_when_due_by_kind_earliest_first(store: &dyn Store) {
    let environment_id = environment(store, "due jobs").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let mut ids = Vec::new();
    for offset in [3, 1, 2] {
        let (job, _) = store
            .enqueue_job(new_job(&environment_id, t0 + secs(offset)))
            .await
            .expect("enqueue");
        ids.push((offset, job.id));
    }
    let mut elsewhere = new_job(&environment_id, t0);
    elsewhere.kind = format!("{kind}-other");
    store
        .enqueue_job(elsewhere)
        .await
        .expect("enqueue other kind");

    assert!(
        store
            .claim_jobs(&kind, "w", t0, JOB_LEASE, 10)
            .await
            .expect("claim")
            .is_empty(),
        "nothing of this kind is due yet"
    );
    let claimed = store
        .claim_jobs(&kind, "w", t0 + secs(2), JOB_LEASE, 10)
        .await
        .expect("claim");
    ids.sort();
    assert_eq!(
        claimed.iter().map(|job| &job.id).collect::<Vec<_>>(),
        vec![&ids[0].1, &ids[1].1],
        "the due jobs, earliest first"
    );
    let last = store
        .claim_jobs(&kind, "w", t0 + secs(5), JOB_LEASE, 1)
        .await
        .expect("claim");
    assert_eq!(
        last.iter().map(|job| &job.id).collect::<Vec<_>>(),
        vec![&ids[2].1]
    );
}

pub async fn a_live_key_holds_one_job(store: &dyn Store) {
    let environment_id = environment(store, "keyed jobs").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let keyed = |run_at| NewJob {
        key: Some(format!("sync:{environment_id}:contacts")),
        ..new_job(&environment_id, run_at)
    };
    let (first, created) = store.enqueue_job(keyed(t0)).await.expect("enqueue");
    assert!(created);
    let (again, created) = store
        .enqueue_job(keyed(t0 + secs(9)))
        .await
        .expect("enqueue again");
    assert!(!created, "a queued job holds the key");
    assert_eq!(again, first);

    let claimed = store
        .claim_jobs(&kind, "w", t0, JOB_LEASE, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let (while_running, created) = store.enqueue_job(keyed(t0)).await.expect("enqueue");
    assert!(!created, "a running job holds the key");
    assert_eq!(while_running.id, first.id);

    store
        .finish_job(&first.id, claimed[0].fence, JobOutcome::Done, t0)
        .await
        .expect("finish");
    let (next, created) = store.enqueue_job(keyed(t0)).await.expect("enqueue");
    assert!(created, "a finished job frees its key");
    assert_ne!(next.id, first.id);
}

pub async fn a_lapsed_lease_is_taken_over_and_fences_the_old_worker(store: &dyn Store) {
    let environment_id = environment(store, "lapsed jobs").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let (job, _) = store
        .enqueue_job(new_job(&environment_id, t0))
        .await
        .expect("enqueue");
    let a = store
        .claim_jobs(&kind, "worker-a", t0, JOB_LEASE, 1)
        .await
        .expect("claim")
        .remove(0);
    let lapsed = t0 + secs(31);
    let b = store
        .claim_jobs(&kind, "worker-b", lapsed, JOB_LEASE, 1)
        .await
        .expect("claim after the lease lapsed");
    assert_eq!(b.len(), 1, "the lapsed job is taken over");
    let b = &b[0];
    assert_eq!(b.id, job.id);
    assert!(b.fence > a.fence);
    assert_eq!(b.attempts, 2);
    assert_eq!(b.lease_holder.as_deref(), Some("worker-b"));

    assert_conflict(
        store
            .renew_job_lease(&job.id, a.fence, lapsed, JOB_LEASE)
            .await,
        "the old worker's renewal",
    );
    assert_conflict(
        store
            .finish_job(&job.id, a.fence, JobOutcome::Done, lapsed)
            .await,
        "the old worker's finish",
    );
    let done = store
        .finish_job(&job.id, b.fence, JobOutcome::Done, lapsed)
        .await
        .expect("the new worker finishes");
    assert_eq!(done.status, JobStatus::Done);
}

pub async fn a_failing_job_is_retried_until_its_attempts_run_out(store: &dyn Store) {
    let environment_id = environment(store, "retried jobs").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let (job, _) = store
        .enqueue_job(NewJob {
            max_attempts: 2,
            ..new_job(&environment_id, t0)
        })
        .await
        .expect("enqueue");
    let first = store
        .claim_jobs(&kind, "w", t0, JOB_LEASE, 1)
        .await
        .expect("claim")
        .remove(0);
    let retried = store
        .finish_job(
            &job.id,
            first.fence,
            JobOutcome::Retry {
                at: t0 + secs(60),
                error: "vendor answered 503".to_owned(),
            },
            t0 + secs(1),
        )
        .await
        .expect("retry");
    assert_eq!(retried.status, JobStatus::Queued);
    assert_eq!(retried.run_at, t0 + secs(60));
    assert_eq!(retried.last_error.as_deref(), Some("vendor answered 503"));
    assert!(
        store
            .claim_jobs(&kind, "w", t0 + secs(59), JOB_LEASE, 1)
            .await
            .expect("claim early")
            .is_empty(),
        "a retry waits for its time"
    );
    let second = store
        .claim_jobs(&kind, "w", t0 + secs(60), JOB_LEASE, 1)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(second.attempts, 2);
    let failed = store
        .finish_job(
            &job.id,
            second.fence,
            JobOutcome::Retry {
                at: t0 + secs(120),
                error: "vendor answered 503 again".to_owned(),
            },
            t0 + secs(61),
        )
        .await
        .expect("retry with no attempt left");
    assert_eq!(failed.status, JobStatus::Failed, "no attempt left");
    assert_eq!(
        failed.last_error.as_deref(),
        Some("vendor answered 503 again")
    );

    // A job whose worker keeps dying fails too, once its attempts are spent.
    let (dying, _) = store
        .enqueue_job(NewJob {
            max_attempts: 1,
            ..new_job(&environment_id, t0)
        })
        .await
        .expect("enqueue");
    let claimed = store
        .claim_jobs(&kind, "w", t0 + secs(200), JOB_LEASE, 1)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(
        store
            .claim_jobs(&kind, "w", t0 + secs(300), JOB_LEASE, 1)
            .await
            .expect("claim after the lapse")
            .is_empty(),
        "no attempt left for the lapsed job"
    );
    let gone = store
        .get_job(&environment_id, &dying.id)
        .await
        .expect("get");
    assert_eq!(gone.status, JobStatus::Failed);
    assert!(
        gone.last_error
            .as_deref()
            .is_some_and(|error| error.contains("no attempt left")),
        "{gone:?}"
    );

    // A permanent failure ends the job at once.
    let (job, _) = store
        .enqueue_job(new_job(&environment_id, t0 + secs(400)))
        .await
        .expect("enqueue");
    let claimed = store
        .claim_jobs(&kind, "w", t0 + secs(400), JOB_LEASE, 1)
        .await
        .expect("claim")
        .remove(0);
    let failed = store
        .finish_job(
            &job.id,
            claimed.fence,
            JobOutcome::Fail {
                error: "connection needs reauthorisation".to_owned(),
            },
            t0 + secs(401),
        )
        .await
        .expect("fail");
    assert_eq!(failed.status, JobStatus::Failed);
}

pub async fn a_rescheduled_job_runs_again_with_fresh_attempts(store: &dyn Store) {
    let environment_id = environment(store, "recurring jobs").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let (job, _) = store
        .enqueue_job(NewJob {
            max_attempts: 1,
            ..new_job(&environment_id, t0)
        })
        .await
        .expect("enqueue");
    for round in 0..3 {
        let at = t0 + secs(900 * round);
        let claimed = store
            .claim_jobs(&kind, "w", at, JOB_LEASE, 1)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1, "round {round}");
        assert_eq!(claimed[0].attempts, 1, "round {round}");
        let next = store
            .finish_job(
                &job.id,
                claimed[0].fence,
                JobOutcome::Reschedule { at: at + secs(900) },
                at + secs(1),
            )
            .await
            .expect("reschedule");
        assert_eq!(next.status, JobStatus::Queued);
        assert_eq!(next.attempts, 0);
        assert_eq!(next.run_at, at + secs(900));
    }
}

pub async fn a_cancelled_job_is_never_claimed_and_its_worker_learns_it(store: &dyn Store) {
    let environment_id = environment(store, "cancelled jobs").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let (queued, _) = store
        .enqueue_job(new_job(&environment_id, t0 + secs(10)))
        .await
        .expect("enqueue");
    let cancelled = store
        .cancel_job(&environment_id, &queued.id, t0)
        .await
        .expect("cancel");
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_conflict(
        store.cancel_job(&environment_id, &queued.id, t0).await,
        "cancelling an ended job",
    );
    let other = environment(store, "cancel elsewhere").await;
    assert_not_found(
        store.cancel_job(&other, &queued.id, t0).await,
        "cancelling another environment's job",
    );

    let (running, _) = store
        .enqueue_job(new_job(&environment_id, t0))
        .await
        .expect("enqueue");
    let claimed = store
        .claim_jobs(&kind, "w", t0 + secs(20), JOB_LEASE, 10)
        .await
        .expect("claim");
    assert_eq!(
        claimed.iter().map(|job| &job.id).collect::<Vec<_>>(),
        vec![&running.id],
        "the cancelled job is not claimed"
    );
    store
        .cancel_job(&environment_id, &running.id, t0 + secs(21))
        .await
        .expect("cancel a running job");
    assert_conflict(
        store
            .renew_job_lease(&running.id, claimed[0].fence, t0 + secs(22), JOB_LEASE)
            .await,
        "the worker's renewal after the cancel",
    );
    assert!(
        store
            .claim_jobs(&kind, "w", t0 + secs(600), JOB_LEASE, 10)
            .await
            .expect("claim")
            .is_empty()
    );
}

pub async fn concurrent_claimers_never_share_a_job(store: &dyn Store) {
    const JOBS: usize = 40;
    const WORKERS: usize = 8;
    let environment_id = environment(store, "claim race").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let mut all = Vec::new();
    for _ in 0..JOBS {
        all.push(
            store
                .enqueue_job(new_job(&environment_id, t0))
                .await
                .expect("enqueue")
                .0
                .id,
        );
    }
    let claims = join_all((0..WORKERS).map(|worker| {
        let kind = kind.clone();
        async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim_jobs(&kind, &format!("worker-{worker}"), t0, JOB_LEASE, 3)
                    .await
                    .expect("concurrent claim");
                if claimed.is_empty() {
                    break mine;
                }
                mine.extend(claimed.into_iter().map(|job| job.id));
            }
        }
    }))
    .await;
    let mut claimed: Vec<JobId> = claims.into_iter().flatten().collect();
    claimed.sort();
    all.sort();
    assert_eq!(claimed, all, "every job claimed exactly once");
}

pub async fn jobs_are_listed_newest_first_and_go_with_their_connection(store: &dyn Store) {
    let environment_id = environment(store, "listed jobs").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let t0 = timestamp::truncate(timestamp::now());
    let (loose, _) = store
        .enqueue_job(new_job(&environment_id, t0))
        .await
        .expect("enqueue");
    let (attached, _) = store
        .enqueue_job(NewJob {
            connection_id: Some(connection.id.clone()),
            ..new_job(&environment_id, t0)
        })
        .await
        .expect("enqueue");
    let listed = store
        .list_jobs(&environment_id, None, 10)
        .await
        .expect("list");
    assert_eq!(
        listed.iter().map(|job| &job.id).collect::<Vec<_>>(),
        vec![&attached.id, &loose.id],
        "newest first"
    );
    let of_connection = store
        .list_jobs(&environment_id, Some(&connection.id), 10)
        .await
        .expect("list");
    assert_eq!(of_connection, vec![attached.clone()]);
    let mut unknown = new_job(&environment_id, t0);
    unknown.connection_id = Some(ConnectionId::generate());
    assert_not_found(
        store.enqueue_job(unknown).await,
        "a job of an unknown connection",
    );

    store
        .delete_connection(&environment_id, &connection.id)
        .await
        .expect("delete");
    assert_not_found(
        store.get_job(&environment_id, &attached.id).await,
        "a deleted connection's jobs go with it",
    );

    // Purging removes ended jobs only.
    let kind = job_kind(&environment_id);
    let claimed = store
        .claim_jobs(&kind, "w", t0, JOB_LEASE, 1)
        .await
        .expect("claim")
        .remove(0);
    store
        .finish_job(&loose.id, claimed.fence, JobOutcome::Done, t0)
        .await
        .expect("finish");
    let (live, _) = store
        .enqueue_job(new_job(&environment_id, t0 + secs(3600)))
        .await
        .expect("enqueue");
    let purged = store
        .purge_finished_jobs(timestamp::now() + secs(1))
        .await
        .expect("purge");
    assert!(purged >= 1);
    assert_not_found(
        store.get_job(&environment_id, &loose.id).await,
        "the finished job is purged",
    );
    store
        .get_job(&environment_id, &live.id)
        .await
        .expect("the queued job stays");
}

// --- The record store and change feed ------------------------------------------------------

fn synced(remote_id: &str, version: u32) -> SyncedInput {
    SyncedInput::new(
        remote_id.to_owned(),
        &json!({"id": remote_id, "name": format!("v{version}")}),
        |_| format!("{remote_id}-{version}"),
    )
}

fn sync_page(
    connection_id: &ConnectionId,
    upserts: Vec<SyncedInput>,
    deletes: &[&str],
    checkpoint: Option<Value>,
) -> SyncPage {
    SyncPage {
        connection_id: connection_id.clone(),
        object: "contacts".to_owned(),
        upserts,
        deletes: deletes.iter().map(|id| (*id).to_owned()).collect(),
        checkpoint,
        claim: None,
        seen: None,
    }
}

fn feed(changes: &[Change]) -> Vec<(u64, String, ChangeKind)> {
    changes
        .iter()
        .map(|change| (change.seq, change.remote_id.clone(), change.kind))
        .collect()
}

/// A reconciliation pass's pages mark the stored records they saw (upserted, unchanged, or named
/// besides); the live records a pass did not mark are listed in remote-id order and counted,
/// and a later pass starts with nothing seen. Deleted records are never listed as unseen.
pub async fn a_reconciliation_pass_marks_what_it_saw_in_the_store(store: &dyn Store) {
    let environment_id = environment(store, "reconciled").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let id = &connection.id;
    let unseen = |pass: &'static str, after: Option<&'static str>, limit: u32| {
        let environment_id = environment_id.clone();
        let id = id.clone();
        async move {
            store
                .list_unseen_synced(&environment_id, &id, "contacts", pass, after, limit)
                .await
                .expect("unseen")
        }
    };
    let all: Vec<SyncedInput> = ["a", "b", "c", "d", "e", "f"]
        .into_iter()
        .map(|remote_id| synced(remote_id, 1))
        .collect();
    store
        .apply_sync_page(&environment_id, sync_page(id, all, &["f"], None))
        .await
        .expect("apply");
    // `f` is deleted: it is no longer stored as live.
    assert_eq!(unseen("p1", None, 100).await, ["a", "b", "c", "d", "e"]);

    // Pass p1 sees `a` changed, `b` unchanged, and `d` named besides (it failed to map, say);
    // an id the store does not hold is ignored.
    store
        .apply_sync_page(
            &environment_id,
            SyncPage {
                seen: Some(SeenBy {
                    pass: "p1".to_owned(),
                    ids: vec!["d".to_owned(), "zz".to_owned()],
                }),
                ..sync_page(id, vec![synced("a", 2), synced("b", 1)], &[], None)
            },
        )
        .await
        .expect("apply");
    assert_eq!(unseen("p1", None, 100).await, ["c", "e"]);
    assert_eq!(unseen("p1", Some("c"), 100).await, ["e"]);
    assert_eq!(unseen("p1", None, 1).await, ["c"]);
    assert_eq!(
        store
            .count_unseen_synced(&environment_id, id, "contacts", "p1")
            .await
            .expect("count"),
        (5, 2)
    );
    // Another pass has seen nothing yet; another object, nothing stored.
    assert_eq!(unseen("p2", None, 100).await.len(), 5);
    assert!(
        store
            .list_unseen_synced(&environment_id, id, "companies", "p1", None, 100)
            .await
            .expect("unseen")
            .is_empty()
    );
    assert_eq!(
        store
            .count_unseen_synced(&environment_id, id, "companies", "p1")
            .await
            .expect("count"),
        (0, 0)
    );
    // Another environment's caller is told the connection does not exist.
    let other = environment(store, "elsewhere").await;
    assert!(matches!(
        store
            .list_unseen_synced(&other, id, "contacts", "p1", None, 100)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .count_unseen_synced(&other, id, "contacts", "p1")
            .await,
        Err(StoreError::NotFound)
    ));
}

/// A page of hundreds of records (written in several statements) numbers its changes in the
/// page's order without gaps, stores each record with its change's number, and leaves one
/// outbox row per change for webhooks.
pub async fn a_large_sync_page_numbers_every_change_in_order(store: &dyn Store) {
    let environment_id = environment(store, "large pages").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let id = &connection.id;
    let endpoint = store
        .create_webhook_endpoint(webhook_endpoint(&environment_id, &[]))
        .await
        .expect("create");
    let name = |n: usize| format!("r{n:03}");
    let first: Vec<SyncedInput> = (0..250_usize).map(|n| synced(&name(n), 1)).collect();
    let applied = store
        .apply_sync_page(&environment_id, sync_page(id, first, &[], None))
        .await
        .expect("apply");
    assert_eq!((applied.created, applied.last_seq), (250, Some(250)));
    // Every other record changes, every tenth is deleted, the rest are unchanged.
    let second: Vec<SyncedInput> = (0..250_usize)
        .filter(|n| n % 10 != 5)
        .map(|n| synced(&name(n), if n.is_multiple_of(2) { 2 } else { 1 }))
        .collect();
    let deleted: Vec<String> = (0..250_usize).filter(|n| n % 10 == 5).map(name).collect();
    let deleted_refs: Vec<&str> = deleted.iter().map(String::as_str).collect();
    let applied = store
        .apply_sync_page(&environment_id, sync_page(id, second, &deleted_refs, None))
        .await
        .expect("apply");
    assert_eq!(
        (applied.created, applied.updated, applied.deleted),
        (0, 125, 25)
    );
    assert_eq!(applied.last_seq, Some(400));

    let mut expected: Vec<(u64, String, ChangeKind)> = (0..250_usize)
        .map(|n| (n as u64 + 1, name(n), ChangeKind::Created))
        .collect();
    let updates = (0..250_usize)
        .filter(|n| n.is_multiple_of(2) && n % 10 != 5)
        .map(|n| (name(n), ChangeKind::Updated));
    let deletes = deleted
        .iter()
        .map(|remote_id| (remote_id.clone(), ChangeKind::Deleted));
    expected.extend(
        (251..)
            .zip(updates.chain(deletes))
            .map(|(seq, (remote_id, kind))| (seq, remote_id, kind)),
    );
    let mut changes = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .list_changes(&environment_id, after, None, 100)
            .await
            .expect("changes");
        let Some(last) = page.last() else { break };
        after = last.seq;
        changes.extend(page);
    }
    assert_eq!(feed(&changes), expected);
    assert_eq!(
        changes[250].record,
        Some(json!({"id": "r000", "name": "v2"}))
    );
    assert_eq!(changes[399].record, None, "a delete is a tombstone");

    let mut records = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_synced_records(
                &environment_id,
                id,
                "contacts",
                after.as_deref(),
                false,
                100,
            )
            .await
            .expect("records");
        let Some(last) = page.last() else { break };
        after = Some(last.remote_id.clone());
        records.extend(page);
    }
    assert_eq!(records.len(), 225, "deleted records are not listed as live");
    for record in &records {
        let n: usize = record.remote_id[1..].parse().expect("a numbered id");
        let version = if n.is_multiple_of(2) { 2 } else { 1 };
        assert_eq!(record.hash, format!("{}-{version}", record.remote_id));
        let seq = changes
            .iter()
            .rev()
            .find(|change| change.remote_id == record.remote_id)
            .expect("a change")
            .seq;
        assert_eq!(
            record.seq, seq,
            "{} carries its last change's number",
            record.remote_id
        );
    }
    assert_eq!(
        store
            .fan_out_webhook_outbox(&environment_id, 1_000, crate::timestamp::now())
            .await
            .expect("fan out"),
        400,
        "one webhook message per change"
    );
    assert_eq!(
        store
            .list_webhook_messages(&environment_id, &endpoint.id, None, None, 1_000)
            .await
            .expect("messages")
            .len(),
        400
    );
}

pub async fn sync_pages_record_each_change_once(store: &dyn Store) {
    let environment_id = environment(store, "synced").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let id = &connection.id;
    assert_eq!(
        store
            .get_sync_progress(&environment_id, id, "contacts")
            .await
            .expect("progress"),
        None
    );

    let first = sync_page(
        id,
        vec![synced("a", 1), synced("b", 1)],
        &[],
        Some(json!({"after": "b"})),
    );
    let applied = store
        .apply_sync_page(&environment_id, first.clone())
        .await
        .expect("apply");
    assert_eq!(
        (applied.created, applied.updated, applied.deleted),
        (2, 0, 0)
    );
    assert_eq!(applied.last_seq, Some(2));
    let again = store
        .apply_sync_page(&environment_id, first)
        .await
        .expect("apply again");
    assert_eq!(
        (
            again.created,
            again.updated,
            again.unchanged,
            again.last_seq
        ),
        (0, 0, 2, None),
        "a repeated page changes nothing"
    );

    let second = sync_page(
        id,
        vec![synced("a", 2), synced("c", 1), synced("c", 2)],
        &["b", "never-seen"],
        None,
    );
    let applied = store
        .apply_sync_page(&environment_id, second)
        .await
        .expect("apply");
    assert_eq!(
        (applied.created, applied.updated, applied.deleted),
        (1, 1, 1)
    );
    let changes = store
        .list_changes(&environment_id, 0, None, 100)
        .await
        .expect("changes");
    assert_eq!(
        feed(&changes),
        vec![
            (1, "a".to_owned(), ChangeKind::Created),
            (2, "b".to_owned(), ChangeKind::Created),
            (3, "a".to_owned(), ChangeKind::Updated),
            (4, "c".to_owned(), ChangeKind::Created),
            (5, "b".to_owned(), ChangeKind::Deleted),
        ]
    );
    assert_eq!(changes[2].record, Some(json!({"id": "a", "name": "v2"})));
    assert_eq!(
        changes[3].record,
        Some(json!({"id": "c", "name": "v2"})),
        "the page's last word on an id"
    );
    assert_eq!(changes[4].record, None, "a delete is a tombstone");
    assert_eq!(
        feed(
            &store
                .list_changes(&environment_id, 3, None, 1)
                .await
                .expect("after 3")
        ),
        vec![(4, "c".to_owned(), ChangeKind::Created)],
        "the feed resumes after a cursor"
    );

    // A delete of a deleted record is nothing; the record coming back is created again.
    let applied = store
        .apply_sync_page(&environment_id, sync_page(id, vec![], &["b"], None))
        .await
        .expect("apply");
    assert_eq!(applied.deleted, 0);
    let applied = store
        .apply_sync_page(
            &environment_id,
            sync_page(id, vec![synced("b", 1)], &[], None),
        )
        .await
        .expect("apply");
    assert_eq!((applied.created, applied.last_seq), (1, Some(6)));

    let live = store
        .list_synced_records(&environment_id, id, "contacts", None, false, 10)
        .await
        .expect("records");
    assert_eq!(
        live.iter()
            .map(|record| (record.remote_id.as_str(), record.hash.as_str(), record.seq))
            .collect::<Vec<_>>(),
        vec![("a", "a-2", 3), ("b", "b-1", 6), ("c", "c-2", 4)]
    );
    let after_a = store
        .list_synced_records(&environment_id, id, "contacts", Some("a"), false, 1)
        .await
        .expect("records");
    assert_eq!(after_a.len(), 1);
    assert_eq!(after_a[0].remote_id, "b");
    store
        .apply_sync_page(&environment_id, sync_page(id, vec![], &["c"], None))
        .await
        .expect("apply");
    let with_deleted = store
        .list_synced_records(&environment_id, id, "contacts", None, true, 10)
        .await
        .expect("records");
    assert!(
        with_deleted
            .iter()
            .any(|record| record.remote_id == "c" && record.deleted)
    );
    assert_eq!(
        store
            .list_synced_records(&environment_id, id, "contacts", None, false, 10)
            .await
            .expect("records")
            .len(),
        2
    );

    let progress = store
        .get_sync_progress(&environment_id, id, "contacts")
        .await
        .expect("progress")
        .expect("after pages");
    assert_eq!(progress.pages, 6);
    assert_eq!(
        (progress.created, progress.updated, progress.deleted),
        (4, 1, 2)
    );
    assert_eq!(
        progress.checkpoint,
        Some(json!({"after": "b"})),
        "pages without a checkpoint keep the stored one"
    );

    let other = environment(store, "synced elsewhere").await;
    assert_not_found(
        store
            .apply_sync_page(&other, sync_page(id, vec![synced("x", 1)], &[], None))
            .await,
        "a page for another environment's connection",
    );
    assert_not_found(
        store
            .list_synced_records(&other, id, "contacts", None, true, 10)
            .await,
        "another environment's records",
    );
    assert!(
        store
            .list_changes(&other, 0, None, 10)
            .await
            .expect("changes")
            .is_empty()
    );
}

pub async fn a_sync_page_of_a_stale_claim_writes_nothing(store: &dyn Store) {
    let environment_id = environment(store, "fenced sync").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    store
        .enqueue_job(NewJob {
            connection_id: Some(connection.id.clone()),
            ..new_job(&environment_id, t0)
        })
        .await
        .expect("enqueue");
    let old = store
        .claim_jobs(&kind, "worker-a", t0, JOB_LEASE, 1)
        .await
        .expect("claim")
        .remove(0);
    let new = store
        .claim_jobs(&kind, "worker-b", t0 + secs(31), JOB_LEASE, 1)
        .await
        .expect("take over")
        .remove(0);
    let page = |claim| SyncPage {
        claim: Some(claim),
        ..sync_page(
            &connection.id,
            vec![synced("a", 1)],
            &[],
            Some(json!({"page": 1})),
        )
    };
    assert_conflict(
        store
            .apply_sync_page(&environment_id, page((old.id.clone(), old.fence)))
            .await,
        "the stalled worker's page",
    );
    assert!(
        store
            .list_changes(&environment_id, 0, None, 10)
            .await
            .expect("changes")
            .is_empty()
    );
    assert_eq!(
        store
            .get_sync_progress(&environment_id, &connection.id, "contacts")
            .await
            .expect("progress"),
        None,
        "nothing of a refused page is written"
    );
    let applied = store
        .apply_sync_page(&environment_id, page((new.id.clone(), new.fence)))
        .await
        .expect("the current claim's page");
    assert_eq!(applied.created, 1);
}

pub async fn a_paused_job_is_held_back_until_resumed(store: &dyn Store) {
    let environment_id = environment(store, "paused jobs").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let keyed = |key: &str| NewJob {
        key: Some(format!("{key}-{environment_id}")),
        ..new_job(&environment_id, t0)
    };
    let (queued, _) = store.enqueue_job(keyed("q")).await.expect("enqueue");
    let (paused, changed) = store
        .control_job(&environment_id, &queued.id, JobControl::Pause, t0)
        .await
        .expect("pause");
    assert!(changed);
    assert_eq!(paused.status, JobStatus::Paused);
    let (again, changed) = store
        .control_job(&environment_id, &queued.id, JobControl::Pause, t0)
        .await
        .expect("pause again");
    assert!(!changed, "pausing a paused job changes nothing");
    assert_eq!(again, paused);
    let (same, created) = store.enqueue_job(keyed("q")).await.expect("enqueue");
    assert!(!created, "a paused job keeps its key");
    assert_eq!(same.id, queued.id);
    assert!(
        store
            .claim_jobs(&kind, "w", t0 + secs(60), JOB_LEASE, 10)
            .await
            .expect("claim")
            .is_empty(),
        "a paused job is not claimed"
    );
    assert_conflict(
        store
            .control_job(&environment_id, &queued.id, JobControl::RunNow, t0)
            .await,
        "running a paused job now",
    );
    store
        .purge_finished_jobs(t0 + secs(3600))
        .await
        .expect("purge");
    store
        .get_job(&environment_id, &queued.id)
        .await
        .expect("a paused job is not purged");
    let (resumed, changed) = store
        .control_job(
            &environment_id,
            &queued.id,
            JobControl::Resume,
            t0 + secs(1),
        )
        .await
        .expect("resume");
    assert!(changed);
    assert_eq!(resumed.status, JobStatus::Queued);
    assert_eq!(resumed.run_at, t0, "resuming keeps the schedule");
    let (_, changed) = store
        .control_job(
            &environment_id,
            &queued.id,
            JobControl::Resume,
            t0 + secs(1),
        )
        .await
        .expect("resume again");
    assert!(!changed, "resuming a queued job changes nothing");

    // A running job paused: its worker's claim is refused from then on.
    let claimed = store
        .claim_jobs(&kind, "w", t0 + secs(2), JOB_LEASE, 10)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(
        (claimed.id.clone(), claimed.attempts),
        (queued.id.clone(), 1)
    );
    let (paused, _) = store
        .control_job(&environment_id, &queued.id, JobControl::Pause, t0 + secs(3))
        .await
        .expect("pause a running job");
    assert_eq!(
        (paused.status, paused.lease_until, paused.attempts),
        (JobStatus::Paused, None, 0),
        "an interrupted run is no failed attempt"
    );
    assert_conflict(
        store
            .renew_job_lease(&queued.id, claimed.fence, t0 + secs(4), JOB_LEASE)
            .await,
        "the paused job's worker renewing",
    );
    assert_conflict(
        store
            .finish_job(&queued.id, claimed.fence, JobOutcome::Done, t0 + secs(4))
            .await,
        "the paused job's worker finishing",
    );
    let other = environment(store, "paused elsewhere").await;
    assert_not_found(
        store
            .control_job(&other, &queued.id, JobControl::Resume, t0)
            .await,
        "resuming another environment's job",
    );
    let cancelled = store
        .cancel_job(&environment_id, &queued.id, t0 + secs(5))
        .await
        .expect("a paused job is cancelled");
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    for control in [JobControl::Pause, JobControl::Resume, JobControl::RunNow] {
        assert_conflict(
            store
                .control_job(&environment_id, &queued.id, control, t0 + secs(6))
                .await,
            "controlling an ended job",
        );
    }
    let (fresh, created) = store.enqueue_job(keyed("q")).await.expect("enqueue");
    assert!(created, "a cancelled job frees its key");
    assert_ne!(fresh.id, queued.id);
}

pub async fn a_job_is_made_due_now_and_its_payload_replaced(store: &dyn Store) {
    let environment_id = environment(store, "run now").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let (later, _) = store
        .enqueue_job(new_job(&environment_id, t0 + secs(3600)))
        .await
        .expect("enqueue");
    let (due, changed) = store
        .control_job(&environment_id, &later.id, JobControl::RunNow, t0)
        .await
        .expect("run now");
    assert!(changed);
    assert_eq!(due.run_at, t0);

    let payload = json!({"object": "contacts", "every_secs": 60});
    let updated = store
        .update_job_payload(&environment_id, &later.id, &payload, Some(t0 + secs(60)))
        .await
        .expect("update");
    assert_eq!(updated.payload, payload);
    assert_eq!(updated.run_at, t0, "an earlier run stays as it is");
    let (far, _) = store
        .enqueue_job(new_job(&environment_id, t0 + secs(3600)))
        .await
        .expect("enqueue");
    let sooner = store
        .update_job_payload(&environment_id, &far.id, &payload, Some(t0 + secs(60)))
        .await
        .expect("update");
    assert_eq!(sooner.run_at, t0 + secs(60), "brought forward");
    let kept = store
        .update_job_payload(&environment_id, &far.id, &json!({}), None)
        .await
        .expect("update");
    assert_eq!((kept.payload, kept.run_at), (json!({}), t0 + secs(60)));

    let running = store
        .claim_jobs(&kind, "w", t0, JOB_LEASE, 1)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(running.id, later.id);
    assert_conflict(
        store
            .control_job(&environment_id, &later.id, JobControl::RunNow, t0)
            .await,
        "running a running job now",
    );
    let unchanged = store
        .update_job_payload(&environment_id, &later.id, &payload, Some(t0 - secs(60)))
        .await
        .expect("a running job's payload");
    assert_eq!(
        (unchanged.status, unchanged.run_at),
        (JobStatus::Running, t0),
        "a running job's schedule is its worker's"
    );
    store
        .finish_job(&later.id, running.fence, JobOutcome::Done, t0)
        .await
        .expect("finish");
    assert_conflict(
        store
            .update_job_payload(&environment_id, &later.id, &payload, None)
            .await,
        "updating an ended job",
    );
    assert_not_found(
        store
            .update_job_payload(&environment_id, &JobId::generate(), &payload, None)
            .await,
        "updating an unknown job",
    );
}

fn sync_state(connection_id: &ConnectionId, status: SyncStatus) -> SyncState {
    SyncState {
        connection_id: connection_id.clone(),
        object: "contacts".to_owned(),
        status,
        phase: Some(SyncPhase::Backfill),
        last_error: None,
        claim: None,
    }
}

pub async fn a_sync_state_is_recorded_under_its_claim_with_its_event(store: &dyn Store) {
    let environment_id = environment(store, "sync state").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let event = |kind: &str| NewEvent {
        environment_id: environment_id.clone(),
        connection_id: Some(connection.id.clone()),
        kind: kind.to_owned(),
        payload: json!({"object": "contacts"}),
    };
    store
        .record_sync_state(
            &environment_id,
            sync_state(&connection.id, SyncStatus::Queued),
            None,
        )
        .await
        .expect("record");
    let progress = store
        .get_sync_progress(&environment_id, &connection.id, "contacts")
        .await
        .expect("progress")
        .expect("a state makes the progress");
    assert_eq!(
        (
            progress.status,
            progress.phase,
            progress.pages,
            progress.checkpoint
        ),
        (Some(SyncStatus::Queued), Some(SyncPhase::Backfill), 0, None)
    );

    store
        .enqueue_job(NewJob {
            connection_id: Some(connection.id.clone()),
            ..new_job(&environment_id, t0)
        })
        .await
        .expect("enqueue");
    let old = store
        .claim_jobs(&kind, "worker-a", t0, JOB_LEASE, 1)
        .await
        .expect("claim")
        .remove(0);
    let new = store
        .claim_jobs(&kind, "worker-b", t0 + secs(31), JOB_LEASE, 1)
        .await
        .expect("take over")
        .remove(0);
    let problem = json!({"type": "https://crosswalk.dev/problems/upstream_unavailable",
                         "title": "the vendor failed", "detail": "503"});
    assert_conflict(
        store
            .record_sync_state(
                &environment_id,
                SyncState {
                    last_error: Some(problem.clone()),
                    claim: Some((old.id.clone(), old.fence)),
                    ..sync_state(&connection.id, SyncStatus::Failed)
                },
                Some(event("sync.failed")),
            )
            .await,
        "the stalled worker's state",
    );
    assert!(
        store
            .list_events(&environment_id, None, Some("sync.failed"))
            .await
            .expect("events")
            .is_empty(),
        "a refused state records no event"
    );
    store
        .record_sync_state(
            &environment_id,
            SyncState {
                phase: Some(SyncPhase::Reconcile),
                last_error: Some(problem.clone()),
                claim: Some((new.id.clone(), new.fence)),
                ..sync_state(&connection.id, SyncStatus::RateLimited)
            },
            Some(event("sync.rate_limited")),
        )
        .await
        .expect("the current claim's state");
    store
        .apply_sync_page(
            &environment_id,
            sync_page(
                &connection.id,
                vec![synced("a", 1)],
                &[],
                Some(json!({"page": 1})),
            ),
        )
        .await
        .expect("page");
    let progress = store
        .get_sync_progress(&environment_id, &connection.id, "contacts")
        .await
        .expect("progress")
        .expect("progress");
    assert_eq!(
        (
            progress.status,
            progress.phase,
            progress.last_error,
            progress.pages,
            progress.created
        ),
        (
            Some(SyncStatus::RateLimited),
            Some(SyncPhase::Reconcile),
            Some(problem),
            1,
            1
        ),
        "a page keeps the state; the state keeps the counts"
    );
    let events = store
        .list_events(&environment_id, Some(&connection.id), None)
        .await
        .expect("events");
    assert_eq!(
        events
            .iter()
            .map(|event| event.kind.as_str())
            .collect::<Vec<_>>(),
        vec!["sync.rate_limited"]
    );
    store
        .record_sync_state(
            &environment_id,
            SyncState {
                phase: None,
                ..sync_state(&connection.id, SyncStatus::Done)
            },
            None,
        )
        .await
        .expect("record");
    let progress = store
        .get_sync_progress(&environment_id, &connection.id, "contacts")
        .await
        .expect("progress")
        .expect("progress");
    assert_eq!(
        (progress.status, progress.phase, progress.last_error),
        (Some(SyncStatus::Done), None, None),
        "each field is replaced"
    );
    let other = environment(store, "sync state elsewhere").await;
    assert_not_found(
        store
            .record_sync_state(&other, sync_state(&connection.id, SyncStatus::Done), None)
            .await,
        "another environment's connection",
    );
}

pub async fn restarting_a_sync_drops_its_checkpoint_and_takes_it_from_its_worker(
    store: &dyn Store,
) {
    let environment_id = environment(store, "resync").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let kind = job_kind(&environment_id);
    let t0 = timestamp::truncate(timestamp::now());
    let (job, _) = store
        .enqueue_job(NewJob {
            connection_id: Some(connection.id.clone()),
            ..new_job(&environment_id, t0)
        })
        .await
        .expect("enqueue");
    let claimed = store
        .claim_jobs(&kind, "w", t0, JOB_LEASE, 1)
        .await
        .expect("claim")
        .remove(0);
    let page = |upserts| SyncPage {
        claim: Some((claimed.id.clone(), claimed.fence)),
        ..sync_page(
            &connection.id,
            upserts,
            &[],
            Some(json!({"watermark": "2026-01-01T00:00:00Z"})),
        )
    };
    store
        .apply_sync_page(&environment_id, page(vec![synced("a", 1)]))
        .await
        .expect("page");
    let restarted = store
        .restart_sync(&environment_id, &job.id, "contacts", t0 + secs(5))
        .await
        .expect("restart");
    assert_eq!(
        (restarted.status, restarted.run_at, restarted.attempts),
        (JobStatus::Queued, t0 + secs(5), 0)
    );
    assert_conflict(
        store
            .apply_sync_page(&environment_id, page(vec![synced("b", 1)]))
            .await,
        "the restarted job's old worker writing a page",
    );
    let progress = store
        .get_sync_progress(&environment_id, &connection.id, "contacts")
        .await
        .expect("progress")
        .expect("progress");
    assert_eq!(
        (
            progress.checkpoint,
            progress.status,
            progress.pages,
            progress.created
        ),
        (None, Some(SyncStatus::Queued), 1, 1),
        "the checkpoint is gone, the counts stay"
    );
    let next = store
        .claim_jobs(&kind, "w", t0 + secs(5), JOB_LEASE, 1)
        .await
        .expect("claim")
        .remove(0);
    assert!(next.fence > claimed.fence);

    store
        .control_job(&environment_id, &job.id, JobControl::Pause, t0 + secs(6))
        .await
        .expect("pause");
    let paused = store
        .restart_sync(&environment_id, &job.id, "contacts", t0 + secs(7))
        .await
        .expect("restart a paused sync");
    assert_eq!(paused.status, JobStatus::Paused, "it stays paused");
    store
        .cancel_job(&environment_id, &job.id, t0 + secs(8))
        .await
        .expect("cancel");
    assert_conflict(
        store
            .restart_sync(&environment_id, &job.id, "contacts", t0 + secs(9))
            .await,
        "restarting an ended sync",
    );
    assert_not_found(
        store
            .restart_sync(&environment_id, &JobId::generate(), "contacts", t0)
            .await,
        "restarting an unknown sync",
    );
}

pub async fn default_syncs_start_empty_and_are_replaced_whole(store: &dyn Store) {
    let environment_id = environment(store, "default syncs").await;
    let other = environment(store, "default syncs other").await;
    assert_eq!(
        store.get_default_syncs(&environment_id).await.expect("get"),
        json!([])
    );
    let syncs = json!([{"object": "category.contacts", "every_secs": 900}]);
    store
        .set_default_syncs(&environment_id, &syncs)
        .await
        .expect("set");
    assert_eq!(
        store.get_default_syncs(&environment_id).await.expect("get"),
        syncs
    );
    assert_eq!(
        store.get_default_syncs(&other).await.expect("get"),
        json!([]),
        "per environment"
    );
    let unknown = EnvironmentId::generate();
    assert_not_found(
        store.set_default_syncs(&unknown, &syncs).await,
        "an unknown environment",
    );
    assert_not_found(
        store.get_default_syncs(&unknown).await,
        "an unknown environment",
    );
}

pub async fn concurrent_sync_pages_number_the_feed_without_gaps(store: &dyn Store) {
    const CONNECTIONS: usize = 6;
    const RECORDS: usize = 10;
    let environment_id = environment(store, "feed race").await;
    let mut connections = Vec::new();
    for _ in 0..CONNECTIONS {
        connections.push(insert(store, &environment_id, "vendor-one").await.id);
    }
    let results = join_all(connections.iter().map(|id| {
        let page = sync_page(
            id,
            (0..RECORDS).map(|n| synced(&format!("r{n}"), 1)).collect(),
            &[],
            None,
        );
        let environment_id = environment_id.clone();
        async move { store.apply_sync_page(&environment_id, page).await }
    }))
    .await;
    for result in results {
        assert_eq!(result.expect("concurrent page").created, RECORDS as u64);
    }
    let changes = store
        .list_changes(&environment_id, 0, None, 1_000)
        .await
        .expect("changes");
    assert_eq!(
        changes.iter().map(|change| change.seq).collect::<Vec<_>>(),
        (1..=(CONNECTIONS * RECORDS) as u64).collect::<Vec<_>>(),
        "one number per change, none skipped or repeated"
    );
    for id in &connections {
        let of_connection = store
            .list_changes(&environment_id, 0, Some(id), 1_000)
            .await
            .expect("changes");
        assert_eq!(of_connection.len(), RECORDS);
        let seqs: Vec<u64> = of_connection.iter().map(|change| change.seq).collect();
        assert!(
            seqs.windows(2).all(|pair| pair[1] == pair[0] + 1),
            "a page's changes are consecutive: {seqs:?}"
        );
    }
    let purged = store
        .purge_changes(timestamp::now() + secs(1))
        .await
        .expect("purge");
    assert!(purged >= (CONNECTIONS * RECORDS) as u64);
    assert!(
        store
            .list_changes(&environment_id, 0, None, 10)
            .await
            .expect("changes")
            .is_empty()
    );
}

fn idempotency_scope(environment_id: &EnvironmentId, key: &str) -> IdempotencyScope {
    IdempotencyScope {
        environment_id: environment_id.clone(),
        connection_id: "conn_1".to_owned(),
        method: "POST".to_owned(),
        path: "/unified/records/contacts".to_owned(),
        key: key.to_owned(),
    }
}

pub async fn an_idempotency_key_keeps_its_first_answer(store: &dyn Store) {
    let environment_id = environment(store, "idempotency").await;
    let scope = idempotency_scope(&environment_id, "key-1");
    let now = at(1_800_000_000, 0);
    let lease = now + Duration::minutes(10);
    let claim = store
        .claim_idempotency_key(&scope, "fp-a", now, lease)
        .await
        .expect("claim");
    assert_eq!(claim, IdempotencyClaim::Claimed);
    assert_eq!(
        store
            .claim_idempotency_key(&scope, "fp-a", now, lease)
            .await
            .expect("claim again"),
        IdempotencyClaim::InFlight,
        "the first request has not answered yet"
    );
    assert_eq!(
        store
            .claim_idempotency_key(&scope, "fp-b", now, lease)
            .await
            .expect("claim with another body"),
        IdempotencyClaim::Mismatch
    );
    let answer = StoredAnswer {
        status: 201,
        body: json!({"id": "42", "name": "Ada", "z": 1, "a": [1.5, null]}),
    };
    store
        .complete_idempotency_key(&scope, "fp-a", &answer, now + Duration::hours(24))
        .await
        .expect("complete");
    assert_eq!(
        store
            .claim_idempotency_key(&scope, "fp-a", now + Duration::hours(23), lease)
            .await
            .expect("retry"),
        IdempotencyClaim::Answered(answer.clone()),
        "a retry gets the first answer, byte for byte"
    );
    assert_eq!(
        store
            .claim_idempotency_key(&scope, "fp-b", now + Duration::hours(23), lease)
            .await
            .expect("another body"),
        IdempotencyClaim::Mismatch
    );
    // Completing or releasing with another fingerprint, or once answered, changes nothing.
    store
        .complete_idempotency_key(
            &scope,
            "fp-a",
            &StoredAnswer {
                status: 500,
                body: Value::Null,
            },
            now + Duration::hours(24),
        )
        .await
        .expect("complete twice");
    store
        .release_idempotency_key(&scope, "fp-a")
        .await
        .expect("release after the answer");
    assert_eq!(
        store
            .claim_idempotency_key(&scope, "fp-a", now, lease)
            .await
            .expect("retry"),
        IdempotencyClaim::Answered(answer)
    );
}

pub async fn an_idempotency_key_is_scoped_to_environment_connection_method_and_path(
    store: &dyn Store,
) {
    let environment_id = environment(store, "idempotency scopes").await;
    let other_environment = environment(store, "idempotency scopes 2").await;
    let now = at(1_800_000_000, 0);
    let lease = now + Duration::minutes(10);
    let scope = idempotency_scope(&environment_id, "shared");
    assert_eq!(
        store
            .claim_idempotency_key(&scope, "fp", now, lease)
            .await
            .expect("claim"),
        IdempotencyClaim::Claimed
    );
    let others = [
        IdempotencyScope {
            environment_id: other_environment.clone(),
            ..scope.clone()
        },
        IdempotencyScope {
            connection_id: "conn_2".to_owned(),
            ..scope.clone()
        },
        IdempotencyScope {
            method: "PATCH".to_owned(),
            ..scope.clone()
        },
        IdempotencyScope {
            path: "/unified/records/companies".to_owned(),
            ..scope.clone()
        },
        IdempotencyScope {
            key: "Shared".to_owned(),
            ..scope.clone()
        },
    ];
    for other in &others {
        assert_eq!(
            store
                .claim_idempotency_key(other, "another fingerprint", now, lease)
                .await
                .expect("claim"),
            IdempotencyClaim::Claimed,
            "{other:?} is another key"
        );
    }
}

pub async fn an_idempotency_key_is_free_again_once_expired_or_released(store: &dyn Store) {
    let environment_id = environment(store, "idempotency expiry").await;
    let scope = idempotency_scope(&environment_id, "expiring");
    let now = at(1_800_000_000, 0);
    let lease = now + Duration::minutes(10);
    store
        .claim_idempotency_key(&scope, "fp-a", now, lease)
        .await
        .expect("claim");
    // A failed request releases its claim: the retry runs.
    store
        .release_idempotency_key(&scope, "fp-b")
        .await
        .expect("release with another fingerprint does nothing");
    assert_eq!(
        store
            .claim_idempotency_key(&scope, "fp-a", now, lease)
            .await
            .expect("claim"),
        IdempotencyClaim::InFlight
    );
    store
        .release_idempotency_key(&scope, "fp-a")
        .await
        .expect("release");
    assert_eq!(
        store
            .claim_idempotency_key(&scope, "fp-b", now, lease)
            .await
            .expect("claim after release"),
        IdempotencyClaim::Claimed,
        "a released key is free, whatever the body"
    );
    // An in-flight claim whose lease ran out (its process died) is free again.
    assert_eq!(
        store
            .claim_idempotency_key(&scope, "fp-c", lease, lease + Duration::minutes(10))
            .await
            .expect("claim at the lease's end"),
        IdempotencyClaim::Claimed
    );
    let answer = StoredAnswer {
        status: 200,
        body: json!({"ok": true}),
    };
    let expiry = lease + Duration::hours(24);
    store
        .complete_idempotency_key(&scope, "fp-c", &answer, expiry)
        .await
        .expect("complete");
    assert_eq!(
        store
            .claim_idempotency_key(&scope, "fp-c", expiry - Duration::microseconds(1), expiry)
            .await
            .expect("just before expiry"),
        IdempotencyClaim::Answered(answer)
    );
    assert_eq!(
        store
            .claim_idempotency_key(&scope, "fp-d", expiry, expiry + Duration::minutes(10))
            .await
            .expect("at expiry"),
        IdempotencyClaim::Claimed,
        "a kept answer expires"
    );
}

pub async fn concurrent_claims_of_one_idempotency_key_let_one_through(store: &dyn Store) {
    let environment_id = environment(store, "idempotency race").await;
    let scope = idempotency_scope(&environment_id, "raced");
    let now = at(1_800_000_000, 0);
    let lease = now + Duration::minutes(10);
    let claims =
        join_all((0..8).map(|_| store.claim_idempotency_key(&scope, "fp", now, lease))).await;
    let claimed = claims
        .into_iter()
        .map(|claim| claim.expect("claim"))
        .filter(|claim| *claim == IdempotencyClaim::Claimed)
        .count();
    assert_eq!(
        claimed, 1,
        "exactly one of the concurrent claims runs the request"
    );
}

fn webhook_endpoint(environment_id: &EnvironmentId, event_types: &[&str]) -> NewWebhookEndpoint {
    NewWebhookEndpoint {
        environment_id: environment_id.clone(),
        url: "https://hooks.example/in".to_owned(),
        description: Some("test".to_owned()),
        event_types: event_types.iter().map(|kind| (*kind).to_owned()).collect(),
        connection_ids: Vec::new(),
        include_record: false,
        enabled: true,
        secret: test_keyring().seal(b"whsec_test", b"webhook"),
    }
}

/// Outbound webhooks (issue 17): the outbox is written with the change or event it announces
/// and only while the environment has an endpoint; a fan-out makes one message per wanting
/// endpoint, numbered in commit order; only the head of each record's messages is due; an
/// attempt's outcome, a dead letter's replay and a disable are recorded.
pub async fn webhook_outbox_messages_attempts_and_replays(store: &dyn Store) {
    let environment_id = environment(store, "webhooks").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let id = &connection.id;
    let now = crate::timestamp::now();
    // No endpoint yet: nothing is kept for webhooks.
    store
        .apply_sync_page(
            &environment_id,
            sync_page(id, vec![synced("early", 1)], &[], None),
        )
        .await
        .expect("apply");
    let all = store
        .create_webhook_endpoint(webhook_endpoint(&environment_id, &[]))
        .await
        .expect("create");
    let deletes_only = store
        .create_webhook_endpoint(webhook_endpoint(&environment_id, &["contacts.deleted"]))
        .await
        .expect("create");
    assert_eq!(
        store
            .list_webhook_endpoints(&environment_id)
            .await
            .expect("list")
            .iter()
            .map(|endpoint| endpoint.id.clone())
            .collect::<Vec<_>>(),
        vec![all.id.clone(), deletes_only.id.clone()]
    );
    assert_eq!(
        store
            .fan_out_webhook_outbox(&environment_id, 100, now)
            .await
            .expect("fan out"),
        0
    );
    store
        .apply_sync_page(
            &environment_id,
            sync_page(id, vec![synced("a", 1)], &[], None),
        )
        .await
        .expect("apply");
    store
        .apply_sync_page(
            &environment_id,
            sync_page(id, vec![synced("a", 2), synced("b", 1)], &[], None),
        )
        .await
        .expect("apply");
    store
        .apply_sync_page(&environment_id, sync_page(id, Vec::new(), &["a"], None))
        .await
        .expect("apply");
    store
        .insert_event(event_about(&environment_id, id, "connection.needs_reauth"))
        .await
        .expect("event");
    store
        .insert_event(event_about(&environment_id, id, "override.invalid"))
        .await
        .expect("event");
    assert_eq!(
        store
            .fan_out_webhook_outbox(&environment_id, 100, now)
            .await
            .expect("fan out"),
        5,
        "four changes and one connection event"
    );
    let messages = store
        .list_webhook_messages(&environment_id, &all.id, None, None, 100)
        .await
        .expect("messages");
    let types: Vec<&str> = messages.iter().map(|m| m.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "contacts.created",
            "contacts.updated",
            "contacts.created",
            "contacts.deleted",
            "connection.needs_reauth"
        ]
    );
    let updated: Value = serde_json::from_str(&messages[1].body).expect("json body");
    assert_eq!(updated["type"], "contacts.updated");
    assert_eq!(updated["data"]["remote_id"], "a");
    assert_eq!(updated["data"]["changed_fields"], json!(["name"]));
    assert_eq!(updated["data"].get("record"), None, "thin by default");
    assert_eq!(
        store
            .list_webhook_messages(&environment_id, &deletes_only.id, None, None, 100)
            .await
            .expect("messages")
            .len(),
        1,
        "the filter keeps deletes only"
    );
    // Only the head of a record's messages is due.
    let due = store
        .due_webhook_messages(&all.id, now, 100)
        .await
        .expect("due");
    let heads: Vec<&str> = due.iter().map(|m| m.event_type.as_str()).collect();
    assert_eq!(
        heads,
        vec![
            "contacts.created",
            "contacts.created",
            "connection.needs_reauth"
        ]
    );
    let first = &due[0];
    store
        .record_webhook_attempt(WebhookAttempt {
            environment_id: environment_id.clone(),
            endpoint_id: all.id.clone(),
            message_id: first.id.clone(),
            attempt: 1,
            status_code: Some(503),
            error: Some("503".to_owned()),
            duration_ms: 3,
            at: now,
            next: MessageNext::RetryAt(now + Duration::seconds(5)),
            disable: None,
        })
        .await
        .expect("attempt");
    let failing = store
        .get_webhook_endpoint(&environment_id, &all.id)
        .await
        .expect("get");
    assert_eq!(failing.failing_since, Some(crate::timestamp::truncate(now)));
    let due = store
        .due_webhook_messages(&all.id, now, 100)
        .await
        .expect("due");
    assert!(
        due.iter().all(|m| m.ordering_key != first.ordering_key),
        "a record waits for its head's retry"
    );
    assert_eq!(
        store.next_webhook_due(&all.id).await.expect("next"),
        Some(crate::timestamp::truncate(now))
    );
    store
        .record_webhook_attempt(WebhookAttempt {
            environment_id: environment_id.clone(),
            endpoint_id: all.id.clone(),
            message_id: first.id.clone(),
            attempt: 2,
            status_code: Some(400),
            error: Some("400".to_owned()),
            duration_ms: 3,
            at: now,
            next: MessageNext::Dead,
            disable: None,
        })
        .await
        .expect("attempt");
    let dead = store
        .list_webhook_messages(
            &environment_id,
            &all.id,
            Some(MessageStatus::Dead),
            None,
            100,
        )
        .await
        .expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 2);
    let attempts = store
        .list_webhook_attempts(&environment_id, &all.id, None, 10)
        .await
        .expect("attempts");
    assert_eq!(
        attempts.iter().map(|a| a.status_code).collect::<Vec<_>>(),
        vec![Some(400), Some(503)],
        "newest first"
    );
    let change_seq = dead[0].change_seq.expect("a change's message");
    assert_eq!(
        store
            .replay_webhook_messages(
                &environment_id,
                &all.id,
                ReplaySelection::AfterChange(change_seq),
                now,
            )
            .await
            .expect("replay"),
        0,
        "the cursor is after it"
    );
    assert_eq!(
        store
            .replay_webhook_messages(
                &environment_id,
                &all.id,
                ReplaySelection::AfterChange(change_seq - 1),
                now,
            )
            .await
            .expect("replay"),
        1
    );
    let replayed = store
        .list_webhook_messages(
            &environment_id,
            &all.id,
            Some(MessageStatus::Pending),
            None,
            100,
        )
        .await
        .expect("pending");
    assert!(replayed.iter().any(|m| m.id == first.id && m.attempts == 0));
    // A delivery ends the failing streak; a disable records its event.
    store
        .record_webhook_attempt(WebhookAttempt {
            environment_id: environment_id.clone(),
            endpoint_id: all.id.clone(),
            message_id: first.id.clone(),
            attempt: 1,
            status_code: Some(410),
            error: Some("gone".to_owned()),
            duration_ms: 1,
            at: now,
            next: MessageNext::Unchanged,
            disable: Some((
                "gone".to_owned(),
                NewEvent {
                    environment_id: environment_id.clone(),
                    connection_id: None,
                    kind: "webhook.endpoint_disabled".to_owned(),
                    payload: json!({"endpoint_id": all.id}),
                },
            )),
        })
        .await
        .expect("attempt");
    let disabled = store
        .get_webhook_endpoint(&environment_id, &all.id)
        .await
        .expect("get");
    assert!(!disabled.enabled);
    assert_eq!(disabled.disabled_reason.as_deref(), Some("gone"));
    assert_eq!(
        store
            .list_events(&environment_id, None, Some("webhook.endpoint_disabled"))
            .await
            .expect("events")
            .len(),
        1
    );
    // Another environment sees none of it; a deleted endpoint is gone with its messages.
    let other = environment(store, "other").await;
    assert_not_found(
        store.get_webhook_endpoint(&other, &all.id).await,
        "another environment's endpoint",
    );
    store
        .delete_webhook_endpoint(&environment_id, &all.id)
        .await
        .expect("delete");
    assert_not_found(
        store
            .list_webhook_messages(&environment_id, &all.id, None, None, 10)
            .await,
        "a deleted endpoint's messages",
    );
}

fn ingress(connection: &Connection, token_hash: &str) -> WebhookIngress {
    WebhookIngress {
        connection_id: connection.id.clone(),
        environment_id: connection.environment_id.clone(),
        provider: connection.provider.clone(),
        token_hash: token_hash.to_owned(),
        secret: Some(test_keyring().seal(b"ingress secret", b"ingress")),
        created_at: crate::timestamp::now(),
        last_received_at: None,
        failures: 0,
        last_failure_at: None,
        last_failure: None,
    }
}

fn inbox_entry(connection: &Connection, body: &str) -> NewInboxEntry {
    NewInboxEntry {
        connection_id: connection.id.clone(),
        environment_id: connection.environment_id.clone(),
        method: "POST".to_owned(),
        uri: "http://127.0.0.1/hooks/token".to_owned(),
        headers: json!([["content-type", "application/json"], ["x-sig", "abc"]]),
        body: body.as_bytes().to_vec(),
        received_at: crate::timestamp::now(),
        job: NewJob {
            environment_id: connection.environment_id.clone(),
            connection_id: Some(connection.id.clone()),
            kind: "webhook.inbound".to_owned(),
            key: Some(format!("webhook.inbound:{}", connection.id)),
            payload: json!({"connection_id": connection.id}),
            run_at: crate::timestamp::now(),
            max_attempts: 5,
        },
    }
}

/// Inbound webhooks (issue 17): an ingress is found by its token's hash only, belongs to one
/// connection of its environment, and a new one replaces the old (whose token stops working).
pub async fn webhook_ingress_is_found_by_token_hash_and_replaced_whole(store: &dyn Store) {
    let environment_id = environment(store, "ingress").await;
    let other_environment = environment(store, "ingress-other").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let stored = store
        .put_webhook_ingress(ingress(&connection, "hash-one"))
        .await
        .expect("put");
    assert_eq!(stored.token_hash, "hash-one");
    let opened = test_keyring()
        .open(stored.secret.as_ref().expect("secret"), b"ingress")
        .expect("opens");
    assert_eq!(opened.as_slice(), b"ingress secret");
    let found = store.find_webhook_ingress("hash-one").await.expect("found");
    assert_eq!(found.connection_id, connection.id);
    assert_eq!(found.provider, "vendor-one");
    assert!(matches!(
        store.find_webhook_ingress("hash-two").await,
        Err(StoreError::NotFound)
    ));
    // Another environment neither sees it nor can make one for the connection.
    assert!(matches!(
        store
            .get_webhook_ingress(&other_environment, &connection.id)
            .await,
        Err(StoreError::NotFound)
    ));
    let mut foreign = ingress(&connection, "hash-foreign");
    foreign.environment_id = other_environment.clone();
    assert!(matches!(
        store.put_webhook_ingress(foreign).await,
        Err(StoreError::NotFound)
    ));
    // A new ingress replaces the old one whole.
    store
        .put_webhook_ingress(ingress(&connection, "hash-two"))
        .await
        .expect("replace");
    assert!(matches!(
        store.find_webhook_ingress("hash-one").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .get_webhook_ingress(&environment_id, &connection.id)
            .await
            .expect("get")
            .token_hash,
        "hash-two"
    );
    // Two connections cannot share a token hash.
    let second = insert(store, &environment_id, "vendor-one").await;
    assert!(matches!(
        store
            .put_webhook_ingress(ingress(&second, "hash-two"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .delete_webhook_ingress(&environment_id, &connection.id)
        .await
        .expect("delete");
    assert!(matches!(
        store.find_webhook_ingress("hash-two").await,
        Err(StoreError::NotFound)
    ));
}

/// Accepted deliveries wait in the inbox, byte for byte, with one live processing job per key;
/// a finished entry leaves the pending list and shows its counts.
pub async fn accepted_webhooks_wait_in_the_inbox_with_one_live_job(store: &dyn Store) {
    let environment_id = environment(store, "inbox").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    // No ingress: nothing is accepted.
    assert!(matches!(
        store.accept_webhook(inbox_entry(&connection, "{}")).await,
        Err(StoreError::NotFound)
    ));
    store
        .put_webhook_ingress(ingress(&connection, "inbox-hash"))
        .await
        .expect("put");
    let first = store
        .accept_webhook(inbox_entry(&connection, "[{\"eventId\": 1}]"))
        .await
        .expect("accept");
    let second = store
        .accept_webhook(inbox_entry(&connection, "caf\u{e9} \u{1f600}"))
        .await
        .expect("accept");
    assert!(second > first);
    let jobs = store
        .list_jobs(&environment_id, Some(&connection.id), 100)
        .await
        .expect("jobs");
    assert_eq!(
        jobs.iter()
            .filter(|job| job.kind == "webhook.inbound")
            .count(),
        1,
        "one live job per key"
    );
    let pending = store
        .pending_webhook_inbox(&connection.id, 10)
        .await
        .expect("pending");
    assert_eq!(
        pending.iter().map(|entry| entry.id).collect::<Vec<_>>(),
        vec![first, second]
    );
    assert_eq!(pending[1].body, "caf\u{e9} \u{1f600}".as_bytes());
    assert_eq!(
        pending[0].headers,
        json!([["content-type", "application/json"], ["x-sig", "abc"]])
    );
    assert_eq!(pending[0].status, InboxStatus::Pending);
    let ingress = store
        .get_webhook_ingress(&environment_id, &connection.id)
        .await
        .expect("get");
    assert!(ingress.last_received_at.is_some());
    store
        .finish_webhook_inbox(
            first,
            InboxOutcome {
                status: InboxStatus::Processed,
                events: 1,
                duplicates: 2,
                error: None,
            },
            crate::timestamp::now(),
        )
        .await
        .expect("finish");
    assert!(matches!(
        store
            .finish_webhook_inbox(
                first,
                InboxOutcome {
                    status: InboxStatus::Processed,
                    events: 1,
                    duplicates: 0,
                    error: None,
                },
                crate::timestamp::now(),
            )
            .await,
        Err(StoreError::NotFound)
    ));
    let pending = store
        .pending_webhook_inbox(&connection.id, 10)
        .await
        .expect("pending");
    assert_eq!(pending.len(), 1);
    let listed = store
        .list_webhook_inbox(&environment_id, &connection.id, 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].status, InboxStatus::Processed);
    assert_eq!((listed[1].events, listed[1].duplicates), (1, 2));
    assert!(listed[1].processed_at.is_some());
    // A purge takes processed entries received before its time, never pending ones.
    let purged = store
        .purge_webhook_inbox(crate::timestamp::now() + Duration::seconds(1))
        .await
        .expect("purge");
    assert!(purged >= 1);
    let listed = store
        .list_webhook_inbox(&environment_id, &connection.id, 10)
        .await
        .expect("list");
    assert_eq!(
        listed.iter().map(|entry| entry.id).collect::<Vec<_>>(),
        vec![second]
    );
}

/// A vendor event id is new once per connection within seven days, except to the delivery
/// that first named it.
pub async fn webhook_event_ids_are_new_once_within_seven_days(store: &dyn Store) {
    let environment_id = environment(store, "event-ids").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    let other = insert(store, &environment_id, "vendor-one").await;
    let now = crate::timestamp::now();
    let ids = |list: &[&str]| list.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        store
            .remember_webhook_events(&connection.id, 1, &ids(&["a", "b"]), now)
            .await
            .expect("remember"),
        vec![true, true]
    );
    // The same delivery processed again (after a failure) still finds them new.
    assert_eq!(
        store
            .remember_webhook_events(&connection.id, 1, &ids(&["a"]), now)
            .await
            .expect("remember"),
        vec![true]
    );
    assert_eq!(
        store
            .remember_webhook_events(
                &connection.id,
                2,
                &ids(&["b", "c"]),
                now + Duration::days(6)
            )
            .await
            .expect("remember"),
        vec![false, true]
    );
    // Another connection has its own ids.
    assert_eq!(
        store
            .remember_webhook_events(&other.id, 3, &ids(&["a"]), now)
            .await
            .expect("remember"),
        vec![true]
    );
    // Past seven days an id is new again.
    assert_eq!(
        store
            .remember_webhook_events(&connection.id, 4, &ids(&["a"]), now + Duration::days(8))
            .await
            .expect("remember"),
        vec![true]
    );
}

/// Refused deliveries are counted on the ingress and kept as samples, at most ten a minute.
pub async fn webhook_failures_are_counted_and_sampled(store: &dyn Store) {
    let environment_id = environment(store, "failures").await;
    let connection = insert(store, &environment_id, "vendor-one").await;
    store
        .put_webhook_ingress(ingress(&connection, "failures-hash"))
        .await
        .expect("put");
    let now = crate::timestamp::now();
    for idx in 0..25_i64 {
        store
            .record_webhook_failure(VerificationFailure {
                connection_id: connection.id.clone(),
                at: now + Duration::milliseconds(idx),
                code: "bad_signature".to_owned(),
                detail: format!("attempt {idx}"),
            })
            .await
            .expect("record");
    }
    let ingress = store
        .get_webhook_ingress(&environment_id, &connection.id)
        .await
        .expect("get");
    assert_eq!(ingress.failures, 25);
    assert_eq!(ingress.last_failure.as_deref(), Some("bad_signature"));
    let samples = store
        .list_webhook_failures(&environment_id, &connection.id, 100)
        .await
        .expect("list");
    assert_eq!(samples.len(), 10);
    assert_eq!(samples[0].detail, "attempt 9", "newest first");
    // A minute later samples are kept again.
    store
        .record_webhook_failure(VerificationFailure {
            connection_id: connection.id.clone(),
            at: now + Duration::minutes(2),
            code: "stale_timestamp".to_owned(),
            detail: "late".to_owned(),
        })
        .await
        .expect("record");
    let samples = store
        .list_webhook_failures(&environment_id, &connection.id, 100)
        .await
        .expect("list");
    assert_eq!(samples.len(), 11);
    assert_eq!(samples[0].code, "stale_timestamp");
    let other_environment = environment(store, "failures-other").await;
    assert!(
        store
            .list_webhook_failures(&other_environment, &connection.id, 100)
            .await
            .expect("list")
            .is_empty()
    );
}
