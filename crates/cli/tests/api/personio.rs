//! Personio's particulars end to end (issue 18): the connection's own API credentials buy a
//! token from `POST /v1/auth` (the `oauth2` kind with `client: connection` and
//! `token_answer`), once, and again when Personio says it expired; balances listed under an
//! employee's URL (a list route's `id_mapping`); groups, locations and companies read from the
//! employees; hourly absence periods listed, read and deleted as time-off requests beside the
//! day-based ones; the Connect page's form checks the credentials with a token request on
//! submit; pay read from v2 with a v2 token of its own (a named token of the scheme), asked
//! for and refreshed apart from the v1 token. The checks every HRIS vendor shares are in the cross-vendor suite
//! (`tests/vendors/hris.rs`).

use reqwest::{Method, StatusCode};
use serde_json::json;
use simulators::personio::Personio;

use crate::helpers::spawn_app;

const PROVIDER: &str = "personio";

fn auth_calls(app: &crate::helpers::TestApp) -> u64 {
    app.simulator(PROVIDER)
        .requests()
        .counts()
        .get("POST /v1/auth")
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_token_is_asked_for_once_and_again_when_personio_says_it_expired() {
    let app = spawn_app().await;
    let connection = app.connection(PROVIDER);
    let path = format!("/unified/hris/employees?connection_id={connection}&page_size=5");
    for _ in 0..3 {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // The demo connection holds only the credentials: its first call bought the token, the
    // next ones reused it.
    assert_eq!(auth_calls(&app), 1);
    assert_eq!(app.handle::<Personio>().tokens_issued(), 1);

    // 24 hours later Personio answers 401: one new token, and the call still succeeds.
    app.handle::<Personio>().expire_token();
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(auth_calls(&app), 2);
    assert_eq!(app.handle::<Personio>().tokens_issued(), 2);
}

fn calls(app: &crate::helpers::TestApp, key: &str) -> u64 {
    app.simulator(PROVIDER)
        .requests()
        .counts()
        .get(key)
        .copied()
        .unwrap_or(0)
}

/// Whether `needle` is written anywhere under the demo's data directory (the SQLite files).
fn stored_anywhere(dir: &std::path::Path, needle: &str) -> bool {
    std::fs::read_dir(dir)
        .expect("the data dir reads")
        .flatten()
        .any(|entry| {
            let path = entry.path();
            if path.is_dir() {
                stored_anywhere(&path, needle)
            } else {
                std::fs::read(&path).is_ok_and(|bytes| {
                    bytes
                        .windows(needle.len())
                        .any(|window| window == needle.as_bytes())
                })
            }
        })
}

#[tokio::test]
async fn the_v2_token_is_asked_for_apart_and_a_v2_refusal_refreshes_only_it() {
    let app = spawn_app().await;
    let connection = app.connection(PROVIDER);
    let pay = format!("/unified/hris/compensations?connection_id={connection}&page_size=5");
    let people = format!("/unified/hris/employees?connection_id={connection}&page_size=5");
    let personio = app.handle::<Personio>();
    for path in [&pay, &pay, &people, &people] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Pay (v2) bought the v2 token once; employees (v1) the v1 token once: each its own,
    // kept and reused.
    assert_eq!(calls(&app, "POST /v2/auth/token"), 1);
    assert_eq!(personio.v2_tokens_issued(), 1);
    assert_eq!(auth_calls(&app), 1);
    assert_eq!(personio.tokens_issued(), 1);
    let v2 = personio.v2_token_in_use().expect("a v2 token");
    assert!(
        !stored_anywhere(app.data_dir.path(), &v2),
        "the v2 token is stored sealed, never in plaintext"
    );

    // The v2 token expires: v2 answers 401, only that token is asked for again.
    personio.expire_v2_token();
    let (status, body) = app.get(&pay).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(calls(&app, "POST /v2/auth/token"), 2);
    assert_eq!(auth_calls(&app), 1, "the v1 token is left as it was");
    let (status, body) = app.get(&people).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(auth_calls(&app), 1);

    // And the other way round: a v1 refusal refreshes the v1 token, the v2 one is kept.
    personio.expire_token();
    for path in [&people, &pay] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(auth_calls(&app), 2);
    assert_eq!(calls(&app, "POST /v2/auth/token"), 2);
}

#[tokio::test]
async fn a_connection_is_made_with_the_accounts_own_api_credentials() {
    let app = spawn_app().await;
    let (status, refused) = app
        .call(
            Method::POST,
            "/connections",
            Some(
                json!({"provider": PROVIDER, "auth_scheme": "client_credentials",
                "fields": {"client_id": "personio-sim-client", "client_secret": "wrong-secret"}}),
            ),
        )
        .await;
    // Wrong credentials are the caller's input: a 422 naming them, not a gateway failure.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["code"], "credentials_refused", "{refused}");
    assert_eq!(refused["field"], "fields.client_secret", "{refused}");
    assert!(!refused.to_string().contains("wrong-secret"), "{refused}");

    let (status, problem) = app
        .call(
            Method::POST,
            "/connections",
            Some(
                json!({"provider": PROVIDER, "auth_scheme": "client_credentials",
                "fields": {"client_secret": "personio-sim-secret"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "fields.client_id", "{problem}");

    let (status, created) = app
        .call(
            Method::POST,
            "/connections",
            Some(json!({"provider": PROVIDER, "auth_scheme": "client_credentials",
                "fields": {"client_id": "personio-sim-client", "client_secret": "personio-sim-secret"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        !created.to_string().contains("personio-sim-secret"),
        "{created}"
    );
    let connection = created["id"].as_str().expect("id");
    let before = auth_calls(&app);
    let (status, body) = app
        .get(&format!(
            "/unified/hris/employees?connection_id={connection}&page_size=5"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        auth_calls(&app),
        before,
        "the token bought when the connection was made is used"
    );
}

#[tokio::test]
async fn balances_are_listed_per_employee_and_organisation_comes_from_the_employees() {
    let app = spawn_app().await;
    let connection = app.connection(PROVIDER);
    let employee = app.handle::<Personio>().active_ids()[0].clone();
    let (status, balances) = app
        .get(&format!(
            "/unified/hris/time_off_balances?connection_id={connection}&employee_id={employee}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{balances}");
    let results = balances["results"].as_array().expect("results");
    assert!(!results.is_empty(), "{balances}");
    for balance in results {
        assert_eq!(balance["employee_id"], employee.as_str(), "{balance}");
        assert_eq!(balance["units"], "DAYS", "{balance}");
        assert!(balance["balance"].is_string(), "{balance}");
    }
    assert!(
        app.simulator(PROVIDER)
            .requests()
            .counts()
            .contains_key(&format!(
                "GET /v1/company/employees/{employee}/absences/balance"
            )),
        "read under the employee's URL"
    );
    let (status, problem) = app
        .get(&format!(
            "/unified/hris/time_off_balances?connection_id={connection}"
        ))
        .await;
    assert!(status.is_client_error(), "{status}: {problem}");

    let (status, groups) = app
        .get(&format!("/unified/hris/groups?connection_id={connection}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{groups}");
    let kinds: std::collections::BTreeSet<&str> = groups["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|group| group["type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["COST_CENTER", "DEPARTMENT", "TEAM"].into_iter().collect()
    );
    let (status, locations) = app
        .get(&format!(
            "/unified/hris/locations?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{locations}");
    assert!(
        locations["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|location| location["name"] == "Munich"),
        "{locations}"
    );
    let (status, companies) = app
        .get(&format!(
            "/unified/hris/companies?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{companies}");
    assert_eq!(
        companies["results"].as_array().expect("results").len(),
        2,
        "{companies}"
    );
}

/// Submits the Connect page's client-credentials form of Personio; returns the status and
/// the redirect's target (empty when the answer is a page) and body.
async fn submit_form(
    app: &crate::helpers::TestApp,
    token: &str,
    secret: &str,
) -> (StatusCode, String, String) {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(app.url("/connect/submit"))
        .form(&[
            ("token", token),
            ("provider", PROVIDER),
            ("scheme", "client_credentials"),
            ("client_id", "personio-sim-client"),
            ("client_secret", secret),
        ])
        .send()
        .await
        .expect("submit answers");
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location, response.text().await.expect("a body"))
}

#[tokio::test]
async fn the_connect_form_checks_the_credentials_with_a_token_request() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/environment/branding",
            Some(json!({"display_name": "Acme Sync", "allowed_redirect_urls": ["http://127.0.0.1:9/integrations/done"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let link = crate::oauth::session(&app, PROVIDER, json!({})).await;
    let token = link.split("token=").nth(1).expect("a token").to_owned();
    let (status, connections) = app.get("/connections?limit=100").await;
    assert_eq!(status, StatusCode::OK, "{connections}");
    let held = connections["results"].as_array().expect("results").len();
    let before = auth_calls(&app);

    // Wrong credentials: Personio refuses the token, the end user is sent back to the form
    // with our words for it, and no connection is made.
    let (status, location, _) = submit_form(&app, &token, "wrong-secret").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    assert!(location.contains("error=wrong_credentials"), "{location}");
    assert_eq!(auth_calls(&app), before + 1, "the credentials were tried");
    let page = reqwest::get(app.url(&location))
        .await
        .expect("the page answers")
        .text()
        .await
        .expect("a body");
    assert!(page.contains("did not accept these credentials"), "{page}");
    assert!(!page.contains("wrong-secret"), "{page}");
    let (_, connections) = app.get("/connections?limit=100").await;
    assert_eq!(
        connections["results"].as_array().expect("results").len(),
        held,
        "no connection made"
    );

    // The right ones: the connection is made with the token just bought, which its first
    // call uses.
    let (status, _, page) = submit_form(&app, &token, "personio-sim-secret").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(auth_calls(&app), before + 2);
    let start = page.find("connection_id=").expect("the connection") + "connection_id=".len();
    let connection: String = page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let (status, body) = app
        .get(&format!(
            "/unified/hris/employees?connection_id={connection}&page_size=5"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(auth_calls(&app), before + 2, "no second token");
}

/// Issue 18: hourly time off (`/company/absence-periods`, types counted in hours) is listed
/// with the day-based periods, read by its UUID and deleted.
#[tokio::test]
async fn hourly_absence_periods_are_time_off_requests_too() {
    let app = spawn_app().await;
    let connection = app.connection(PROVIDER);
    let handle = app.handle::<Personio>();
    let hourly_ids: std::collections::BTreeSet<String> =
        handle.ids("absence-periods").into_iter().collect();
    assert!(hourly_ids.len() > 5, "the seed has hourly time off");
    let requests = app
        .walk_category(PROVIDER, "hris", "time_off_requests", "", 50)
        .await;
    let by_unit = |unit: &str| -> std::collections::BTreeSet<String> {
        crate::helpers::unique_ids(
            &requests
                .iter()
                .filter(|request| request["units"] == unit)
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(by_unit("HOURS"), hourly_ids, "every hourly period, once");
    assert_eq!(
        by_unit("DAYS"),
        handle.ids("time-offs").into_iter().collect(),
        "every day-based period, once"
    );
    let hourly: Vec<&serde_json::Value> = requests
        .iter()
        .filter(|request| request["units"] == "HOURS")
        .collect();
    for request in &hourly {
        // The simulator's hourly periods are mornings of two to four hours.
        assert!(
            ["2", "3", "4"].contains(&request["amount"].as_str().unwrap_or_default()),
            "{request}"
        );
        assert_eq!(request["policy_id"], "113441", "{request}");
        assert!(request["start_date"].is_string(), "{request}");
        assert_eq!(request["start_date"], request["end_date"], "{request}");
        assert!(request["employee_id"].is_string(), "{request}");
        assert!(request["status"].is_string(), "{request}");
    }

    // One employee's requests hold their hourly ones.
    let sample = hourly[0].clone();
    let employee = sample["employee_id"].as_str().expect("employee").to_owned();
    let mine = app
        .walk_category(
            PROVIDER,
            "hris",
            "time_off_requests",
            &format!("&employee_id={employee}"),
            50,
        )
        .await;
    assert!(
        mine.iter()
            .all(|request| request["employee_id"] == employee.as_str()),
        "{mine:?}"
    );
    assert!(mine.iter().any(|request| request["id"] == sample["id"]));

    // Read and deleted by its UUID.
    let id = sample["id"].as_str().expect("id").to_owned();
    let (status, read) = app
        .get(&format!(
            "/unified/hris/time_off_requests/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["units"], "HOURS", "{read}");
    assert_eq!(read["amount"], sample["amount"], "{read}");
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/unified/hris/time_off_requests/{id}?connection_id={connection}"),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    assert!(!handle.ids("absence-periods").contains(&id), "deleted");
    assert!(
        app.simulator(PROVIDER)
            .requests()
            .counts()
            .contains_key(&format!("DELETE /v1/company/absence-periods/{id}")),
        "deleted at its own URL"
    );
}

/// Issue 18: an hourly absence (`units: HOURS`, a type whose unit is `hour`) is created with
/// `POST /company/absence-periods`: over several days as whole days by the schedule (Personio
/// works out the hours), on one day with the times Personio needs (`remote_data.start_time`,
/// `end_time`); one day without them is Personio's 422, naming the field, as a problem.
#[tokio::test]
async fn hourly_absences_are_created_over_days_or_within_one() {
    let app = spawn_app().await;
    let connection = app.connection(PROVIDER);
    let handle = app.handle::<Personio>();
    let employee = handle.active_ids()[4].clone();
    let path = format!("/unified/hris/time_off_requests?connection_id={connection}");
    let before = handle.ids("absence-periods").len();

    let (status, days) = app
        .call(
            Method::POST,
            &path,
            Some(
                json!({"employee_id": employee, "policy_id": "113441", "units": "HOURS",
                "start_date": "2027-04-05", "end_date": "2027-04-06", "status": "APPROVED"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{days}");
    assert_eq!(days["units"], "HOURS", "{days}");
    // Two working days of the simulated schedule's eight hours.
    assert_eq!(days["amount"], "16", "{days}");
    assert_eq!(days["start_date"], "2027-04-05", "{days}");
    assert_eq!(days["end_date"], "2027-04-06", "{days}");
    assert_eq!(days["status"], "APPROVED", "{days}");

    let (status, problem) = app
        .call(
            Method::POST,
            &path,
            Some(
                json!({"employee_id": employee, "policy_id": "113441", "units": "HOURS",
                "start_date": "2027-04-08", "end_date": "2027-04-08"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "remote_data.start_time", "{problem}");
    assert_eq!(handle.ids("absence-periods").len(), before + 1);

    // A day-based type is not an hourly one: Personio refuses it.
    let (status, problem) = app
        .call(
            Method::POST,
            &path,
            Some(
                json!({"employee_id": employee, "policy_id": "113437", "units": "HOURS",
                "start_date": "2027-04-12", "end_date": "2027-04-13"}),
            ),
        )
        .await;
    assert!(status.is_client_error(), "{status}: {problem}");
    assert_eq!(handle.ids("absence-periods").len(), before + 1);
}
