//! Keyset paging of `GET /connections` and `GET /events`: `limit` and `cursor` in, `next_cursor`
//! out; a walk sees every row that existed when it began exactly once, however many are added
//! while it runs; a bad `limit` or `cursor` is a problem naming the parameter.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use store::{ConnectionId, EnvironmentId, NewEvent};

use crate::helpers::{TestApp, spawn_app};

/// Walks `path` (which has a query already) `limit` rows a page, calling `between` after each
/// page; returns the ids in the order the pages gave them.
async fn walk<F, Fut>(app: &TestApp, path: &str, limit: u32, mut between: F) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1_000 {
        let mut url = format!("{path}&limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = app.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        let results = page["results"].as_array().expect("results");
        assert!(results.len() <= limit as usize, "{page}");
        ids.extend(
            results
                .iter()
                .map(|row| row["id"].as_str().expect("an id").to_owned()),
        );
        between().await;
        match &page["next_cursor"] {
            Value::String(next) => cursor = Some(next.clone()),
            Value::Null => return ids,
            other => panic!("next_cursor is a string or null, not {other}"),
        }
    }
    panic!("the walk of {path} does not end");
}

async fn environment_of(app: &TestApp) -> EnvironmentId {
    let id = ConnectionId::parse(&app.connection("hubspot")).expect("a connection id");
    app.demo
        .store
        .get_connection_by_id(&id)
        .await
        .expect("the connection")
        .environment_id
}

#[tokio::test]
async fn connections_page_by_cursor_and_each_appears_once_while_more_are_created() {
    let app = spawn_app().await;
    for n in 0..3 {
        app.connect_hubspot(&format!("hubspot-sim-token-{n}")).await;
    }
    let (status, all) = app.get("/connections?limit=1000").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["next_cursor"], Value::Null, "one page holds them all");
    let existing: Vec<String> = all["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|row| row["id"].as_str().expect("an id").to_owned())
        .collect();
    assert!(existing.len() >= 5, "{all}");

    let app_ref = &app;
    let mut created = 0;
    let walked = walk(&app, "/connections?", 2, || {
        created += 1;
        let token = format!("hubspot-sim-token-mid-{created}");
        async move {
            app_ref.connect_hubspot(&token).await;
        }
    })
    .await;
    assert_eq!(
        walked[..existing.len()],
        existing[..],
        "the connections that existed come first, in list order"
    );
    let unique: BTreeSet<&String> = walked.iter().collect();
    assert_eq!(unique.len(), walked.len(), "no connection is listed twice");
    assert!(
        walked.len() > existing.len(),
        "created ones are reached too"
    );
}

#[tokio::test]
async fn events_page_by_cursor_with_filters_while_more_are_recorded() {
    let app = spawn_app().await;
    let environment = environment_of(&app).await;
    let connection = ConnectionId::parse(&app.connection("hubspot")).expect("a connection id");
    let record = |kind: &'static str, connection: Option<ConnectionId>| {
        let store = app.demo.store.clone();
        let environment = environment.clone();
        async move {
            store
                .insert_event(NewEvent {
                    environment_id: environment,
                    connection_id: connection,
                    kind: kind.to_owned(),
                    payload: json!({}),
                })
                .await
                .expect("record an event");
        }
    };
    for _ in 0..7 {
        record("paging.test", Some(connection.clone())).await;
        record("paging.other", Some(connection.clone())).await;
        record("paging.test", None).await;
    }
    let filtered = format!("/events?connection_id={connection}&kind=paging.test");
    let (status, all) = app.get(&format!("{filtered}&limit=1000")).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let expected: Vec<String> = all["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|row| row["id"].as_str().expect("an id").to_owned())
        .collect();
    assert_eq!(expected.len(), 7, "{all}");

    // Events of the filter recorded mid-walk land after every existing one.
    let walked = walk(&app, &filtered, 3, || {
        record("paging.test", Some(connection.clone()))
    })
    .await;
    assert_eq!(walked[..7], expected[..], "{walked:?}");
    let unique: BTreeSet<&String> = walked.iter().collect();
    assert_eq!(unique.len(), walked.len(), "no event is listed twice");
    assert!(walked.len() > 7, "events recorded mid-walk are reached");

    let (status, first) = app.get("/events?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["results"].as_array().map(Vec::len), Some(1));
    assert!(first["next_cursor"].is_string(), "{first}");
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_a_problem_naming_it() {
    let app = spawn_app().await;
    for list in ["/connections", "/events"] {
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=-1", "limit"),
            ("limit=ten", "limit"),
            ("cursor=not-a-cursor", "cursor"),
            ("cursor=", "cursor"),
        ] {
            let path = format!("{list}?{query}");
            let (status, problem) = app.get(&path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {problem}");
            assert_eq!(problem["field"], field, "{path}: {problem}");
            assert!(
                problem["detail"]
                    .as_str()
                    .is_some_and(|detail| !detail.is_empty()),
                "{path}: {problem}"
            );
        }
        let (status, page) = app.get(&format!("{list}?limit=1000")).await;
        assert_eq!(status, StatusCode::OK, "{list}: {page}");
    }
}
