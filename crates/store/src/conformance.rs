//! The conformance suite: behaviour every [`Store`] backend must show, written once.
//!
//! Each backend's tests build a store on a fresh database and call [`run_all`]; a failing check
//! panics with a message naming what broke, after [`run_all`] has printed the check's name.
//! Every check makes its own environments, so checks do not depend on each other or on an empty
//! database, and the suite may run twice against the same store.
//! It tests the contract written on [`Store`], not SQL details such as indexes or isolation levels.

use chrono::{Duration, TimeZone, Utc};
use futures::future::{BoxFuture, join_all};
use secrets::{Keyring, Sealed};
use serde_json::{Value, json};

use crate::{
    ApiKeyHash, Connection, ConnectionId, ConnectionStatus, ConnectionUpdate, EnvironmentId,
    NewConnection, Store, StoreError, api_key_prefix, generate_api_key, timestamp,
};

/// One conformance check: an async function of a store that panics when the store misbehaves.
pub type Check = for<'a> fn(&'a dyn Store) -> BoxFuture<'a, ()>;

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        /// Every check, by name, in the order [`run_all`] runs them.
        pub const CHECKS: &[(&str, Check)] = &[
            $((stringify!($name), {
                fn boxed(store: &dyn Store) -> BoxFuture<'_, ()> {
                    Box::pin($name(store))
                }
                boxed
            })),*
        ];
    };
}

checks!(
    environment_round_trips,
    unknown_environment_is_not_found,
    api_key_is_found_by_hash,
    unknown_api_key_hash_is_not_found,
    duplicate_api_key_hash_conflicts,
    api_key_for_unknown_environment_is_not_found,
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
);

/// Runs every check in [`CHECKS`] against `store`, printing each name before it runs.
///
/// # Panics
///
/// On the first check the store fails.
pub async fn run_all(store: &dyn Store) {
    for (name, check) in CHECKS {
        println!("store conformance: {name}");
        check(store).await;
    }
    println!("store conformance: all {} checks passed", CHECKS.len());
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

async fn environment_round_trips(store: &dyn Store) {
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

async fn unknown_environment_is_not_found(store: &dyn Store) {
    assert_not_found(
        store.get_environment(&EnvironmentId::generate()).await,
        "get_environment of a fresh id",
    );
}

async fn api_key_is_found_by_hash(store: &dyn Store) {
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

async fn unknown_api_key_hash_is_not_found(store: &dyn Store) {
    assert_not_found(
        store
            .find_api_key(&ApiKeyHash::of(&generate_api_key()))
            .await,
        "find_api_key of an unknown hash",
    );
}

async fn duplicate_api_key_hash_conflicts(store: &dyn Store) {
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

async fn api_key_for_unknown_environment_is_not_found(store: &dyn Store) {
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

async fn connection_round_trips_byte_exact(store: &dyn Store) {
    let environment_id = environment(store, "round trip").await;
    let new = new_connection(&environment_id, "crm-one");
    let before = timestamp::now();
    let connection = store.insert_connection(new.clone()).await.expect("insert");
    assert_eq!(connection.id, new.id);
    assert_eq!(connection.environment_id, environment_id);
    assert_eq!(connection.provider, "crm-one");
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

async fn json_keeps_key_order_and_values(store: &dyn Store) {
    let environment_id = environment(store, "json").await;
    let account: Value = serde_json::from_str(
        r#"{"zeta":1,"alpha":{"y":[1,2.5,-3,null,true],"b":"ünïcödé ✓ \"quoted\" \\ back"},"big":9007199254740993,"empty":{},"list":[]}"#,
    )
    .expect("valid json");
    let mut new = new_connection(&environment_id, "crm-two");
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

async fn every_status_round_trips(store: &dyn Store) {
    let environment_id = environment(store, "statuses").await;
    for status in ConnectionStatus::ALL {
        let mut new = new_connection(&environment_id, "crm-three");
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

async fn duplicate_connection_id_conflicts(store: &dyn Store) {
    let environment_id = environment(store, "dup").await;
    let other_environment = environment(store, "dup other").await;
    let new = new_connection(&environment_id, "crm-one");
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

async fn connection_for_unknown_environment_is_not_found(store: &dyn Store) {
    let new = new_connection(&EnvironmentId::generate(), "crm-one");
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

async fn connections_are_scoped_to_their_environment(store: &dyn Store) {
    let env_a = environment(store, "tenant a").await;
    let env_b = environment(store, "tenant b").await;
    let connection = insert(store, &env_a, "crm-one").await;
    let b_own = insert(store, &env_b, "crm-one").await;

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

async fn list_is_oldest_first(store: &dyn Store) {
    let environment_id = environment(store, "order").await;
    let mut inserted = Vec::new();
    for provider in ["crm-one", "crm-two", "crm-three", "attio"] {
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

async fn update_changes_only_given_fields(store: &dyn Store) {
    let environment_id = environment(store, "update").await;
    let original = insert(store, &environment_id, "crm-one").await;

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

async fn empty_update_still_bumps_updated_at(store: &dyn Store) {
    let environment_id = environment(store, "touch").await;
    let original = insert(store, &environment_id, "crm-one").await;
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

async fn update_of_missing_connection_is_not_found(store: &dyn Store) {
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

async fn delete_removes_connection_and_its_discovered_fields(store: &dyn Store) {
    let environment_id = environment(store, "delete").await;
    let doomed = insert(store, &environment_id, "crm-one").await;
    let kept = insert(store, &environment_id, "crm-one").await;
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
    let mut reused = new_connection(&environment_id, "crm-one");
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

async fn discovered_fields_upsert_replaces(store: &dyn Store) {
    let environment_id = environment(store, "fields").await;
    let connection = insert(store, &environment_id, "crm-one").await;
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

async fn discovered_fields_are_per_connection_and_resource(store: &dyn Store) {
    let environment_id = environment(store, "fields scope").await;
    let first = insert(store, &environment_id, "crm-one").await;
    let second = insert(store, &environment_id, "crm-one").await;
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

async fn discovered_fields_for_unknown_connection_is_not_found(store: &dyn Store) {
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

async fn timestamps_keep_microseconds(store: &dyn Store) {
    let environment_id = environment(store, "precision").await;
    let environment = store.get_environment(&environment_id).await.expect("get");
    assert_eq!(
        environment.created_at,
        timestamp::truncate(environment.created_at)
    );
    let connection = insert(store, &environment_id, "crm-one").await;
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

async fn ids_are_unique(store: &dyn Store) {
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

async fn concurrent_inserts_all_land(store: &dyn Store) {
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
        let new = new_connection(&shared_environment, "crm-one");
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
