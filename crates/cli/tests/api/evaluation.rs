//! Evaluation limits of an environment (issue 13): shown with their defaults, validated when
//! set (problem+json naming the field), applied to every evaluation of the environment's
//! requests; an expensive override stops at its limit on every record, a list page stops
//! spending when its request's budget is gone, and another environment is served meanwhile.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Puts an environment override of HubSpot contacts whose list and get mappings merge
/// `merge` into each record.
async fn override_contacts(app: &TestApp, key: &str, merge: &str) {
    let (status, body) = app
        .call_as(
            key,
            Method::PUT,
            "/environment/overrides/hubspot",
            Some(json!({"unified": {"crm.contacts": {
                "list": {"record_mapping_merge": merge},
                "get": {"record_mapping_merge": merge}
            }}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn contacts_page(app: &TestApp, key: &str, connection: &str) -> (StatusCode, Value) {
    app.call_as(
        key,
        Method::GET,
        &format!("/unified/crm/contacts?connection_id={connection}&page_size=100"),
        None,
    )
    .await
}

/// The code and detail of each of a page's item errors, checked to name the record's position.
fn item_errors(page: &Value) -> Vec<(String, String)> {
    page["errors"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|error| {
            assert!(error["index"].is_u64(), "{error}");
            (
                error["code"].as_str().expect("code").to_owned(),
                error["detail"].as_str().expect("detail").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn limits_show_their_defaults_and_bad_values_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let (status, limits) = app.get("/environment/limits").await;
    assert_eq!(status, StatusCode::OK, "{limits}");
    assert_eq!(limits["max_steps"], 2_000_000);
    assert_eq!(limits["timeout_ms"], 1_000);
    assert_eq!(limits["max_items"], 10_000);
    assert_eq!(limits["request_max_steps"], 20_000_000);
    assert_eq!(limits["request_max_time_ms"], 30_000);
    assert_eq!(limits["max_concurrent_evaluations"], Value::Null);

    for (body, field) in [
        (json!({"max_steps": 0}), "max_steps"),
        (json!({"timeout_ms": "fast"}), "timeout_ms"),
        (json!({"max_items": 2.5}), "max_items"),
        (json!({"max_alloc_bytes": -1}), "max_alloc_bytes"),
        (json!({"max_fuel": 10}), "max_fuel"),
        (
            json!({"timeout_ms": 3_000, "request_max_time_ms": 2_000}),
            "request_max_time_ms",
        ),
        (
            json!({"max_concurrent_evaluations": 0}),
            "max_concurrent_evaluations",
        ),
    ] {
        let response = app
            .client
            .put(app.url("/environment/limits"))
            .bearer_auth(&app.demo.api_key)
            .json(&body)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{body}"
        );
        let problem: Value = response.json().await.expect("json");
        assert_eq!(problem["field"], field, "{body}: {problem}");
        assert_eq!(problem["status"], 400);
    }
    let (_, unchanged) = app.get("/environment/limits").await;
    assert_eq!(unchanged, limits, "a refused PUT changes nothing");

    let (status, saved) = app
        .call(
            Method::PUT,
            "/environment/limits",
            Some(json!({"max_steps": 50_000, "max_concurrent_evaluations": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["max_steps"], 50_000);
    assert_eq!(saved["max_concurrent_evaluations"], 1);
    assert_eq!(saved["timeout_ms"], 1_000, "the others keep their defaults");
    let (_, shown) = app.get("/environment/limits").await;
    assert_eq!(shown, saved);
}

/// The override of issue 13, `($x := $count($distinct([1..40000])); …)`: every record stops
/// at `max_items` as an item error of its page; a get answers 422 naming the limit.
#[tokio::test]
async fn an_expensive_override_stops_at_its_limit_on_every_record() {
    let app = spawn_app().await;
    let key = app.demo.api_key.clone();
    let connection = app.connection("hubspot");
    override_contacts(
        &app,
        &key,
        "($x := $count($distinct([1..40000])); {'title': $string($x)})",
    )
    .await;
    let (status, page) = contacts_page(&app, &key, &connection).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["results"], json!([]), "no record maps");
    let errors = item_errors(&page);
    assert!(!errors.is_empty());
    for (code, detail) in &errors {
        assert_eq!(code, "D1014", "{detail}");
        assert!(detail.contains("max_items"), "{detail}");
    }

    let id = app
        .contact_ids("hubspot")
        .into_iter()
        .next()
        .expect("a contact");
    let (status, problem) = app
        .get(&format!(
            "/unified/crm/contacts/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "evaluation_limit");
    assert_eq!(problem["limit"], "max_items", "{problem}");
    assert_eq!(problem["mapping_code"], "D1014");
}

/// A page whose every record spends up to its step limit: the first records stop at
/// `max_steps`, then the request's budget is gone and the rest are item errors naming
/// `request_max_steps`, not evaluated; the environment's limits apply as soon as they are set.
#[tokio::test]
async fn a_list_page_stops_spending_when_its_budget_is_gone() {
    let app = spawn_app().await;
    let key = app.demo.api_key.clone();
    let connection = app.connection("hubspot");
    override_contacts(
        &app,
        &key,
        "{'title': $string($sum($map([1..5000], function($v) { $v * 2 })))}",
    )
    .await;
    let (status, saved) = app
        .call(
            Method::PUT,
            "/environment/limits",
            Some(json!({"max_steps": 5_000, "request_max_steps": 20_000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");

    let (status, page) = contacts_page(&app, &key, &connection).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let errors = item_errors(&page);
    assert!(errors.len() > 5, "a page of several records: {page}");
    assert_eq!(page["results"], json!([]));
    let own = errors
        .iter()
        .filter(|(code, detail)| code == "U1006" && detail.contains("max_steps"))
        .count();
    let spent = errors
        .iter()
        .filter(|(code, detail)| code == "D1017" && detail.contains("request_max_steps"))
        .count();
    assert!(
        (1..=4).contains(&own),
        "{own} records ran to their own limit"
    );
    assert_eq!(own + spent, errors.len(), "{errors:?}");
    assert!(spent > 0);
}

/// While one environment has six expensive list requests running, another environment's
/// requests (a plain `GET /connections` and a list page of its own connection) are answered
/// correctly. (That they are not delayed is shown structurally by the evaluation pool's test
/// in `operations`; their latency belongs in a benchmark, not here.)
#[tokio::test]
async fn another_environment_is_served_while_one_runs_six_expensive_requests() {
    let app = spawn_app().await;
    let key_a = app.demo.api_key.clone();
    let connection_a = app.connection("hubspot");
    override_contacts(
        &app,
        &key_a,
        "($x := $sum($map([1..9000], function($v) { $v })); {'title': $string($x)})",
    )
    .await;

    let other = app
        .demo
        .store
        .create_environment("tenant b")
        .await
        .expect("environment");
    let key_b = store::generate_api_key();
    app.demo
        .store
        .insert_api_key(
            &other.id,
            &store::ApiKeyHash::of(&key_b),
            &store::api_key_prefix(&key_b),
        )
        .await
        .expect("api key");
    let (status, created) = app
        .call_as(
            &key_b,
            Method::POST,
            "/connections",
            Some(json!({"provider": "hubspot", "auth_scheme": "private_app", "fields": {"private_app_token": "hubspot-sim-token"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let connection_b = created["id"].as_str().expect("id").to_owned();

    let expensive: Vec<_> = (0..6)
        .map(|_| {
            let (app_client, url, key) = (
                app.client.clone(),
                app.url(&format!(
                    "/unified/crm/contacts?connection_id={connection_a}&page_size=100"
                )),
                key_a.clone(),
            );
            tokio::spawn(async move {
                let response = app_client
                    .get(url)
                    .bearer_auth(key)
                    .send()
                    .await
                    .expect("answers");
                (
                    response.status(),
                    response.json::<Value>().await.expect("json"),
                )
            })
        })
        .collect();
    let (status, listed) = app.call_as(&key_b, Method::GET, "/connections", None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let (status, page) = contacts_page(&app, &key_b, &connection_b).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        !page["results"].as_array().expect("results").is_empty(),
        "B's contacts map with the base mapping: {page}"
    );
    assert_eq!(item_errors(&page), Vec::new());
    for request in expensive {
        let (status, page) = request.await.expect("joins");
        assert_eq!(status, StatusCode::OK, "{page}");
        for (code, detail) in item_errors(&page) {
            assert!(
                [
                    "U1006", "D1011", "D1012", "D1013", "D1014", "D1015", "D1016", "D1017"
                ]
                .contains(&code.as_str()),
                "{code}: {detail}"
            );
            assert!(detail.contains("limit"), "{detail}");
        }
    }
}
