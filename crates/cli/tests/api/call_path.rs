//! The one call path (issue 12's review findings): every input is checked before the vendor is
//! called, a resend after a token refresh takes its own place in the budget, retry waits stay
//! within the caller's wait budget, the proxy refuses two different connection names, and the
//! worker's refresh and Connect use the environment's overrides.

use reqwest::Method;
use serde_json::{Value, json};
use simulators::salesforce::Salesforce;
use simulators::{Fault, FaultKind};

use crate::helpers::{TestApp, spawn_app};

const COMPANIES: &str = "/crm/v3/objects/companies";

fn calls(app: &TestApp, prefix: &str) -> u64 {
    app.simulator("hubspot").requests().total_matching(prefix)
}

#[tokio::test]
async fn a_bad_include_is_refused_before_anything_is_written() {
    let app = spawn_app().await;
    let before = calls(&app, &format!("POST {COMPANIES}"));
    let (status, body) = app
        .call(
            Method::POST,
            &format!(
                "/unified/crm/companies?connection_id={}&include=remote_dta",
                app.connection("hubspot")
            ),
            Some(json!({"name": "Never Written Ltd"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "include", "{body}");
    assert_eq!(
        calls(&app, &format!("POST {COMPANIES}")),
        before,
        "the vendor saw no write"
    );
}

#[tokio::test]
async fn a_retry_wait_longer_than_the_callers_budget_is_not_waited() {
    let app = spawn_app().await;
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Throttle {
            retry_after_secs: Some(5),
        },
        path_prefix: Some(COMPANIES.to_owned()),
        times: 1,
    });
    let before = calls(&app, &format!("GET {COMPANIES}"));
    let (status, body) = app
        .get(&format!(
            "/unified/crm/companies?connection_id={}&page_size=2&max_wait_ms=200",
            app.connection("hubspot")
        ))
        .await;
    assert_eq!(
        status, 429,
        "the caller allowed 200 ms, the vendor asked 5 s: {body}"
    );
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(
        calls(&app, &format!("GET {COMPANIES}")) - before,
        1,
        "no retry was sent"
    );
}

/// What the `RateLimit` header of an answer says is left.
async fn remaining(app: &TestApp, path: &str) -> u64 {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    let header = response
        .headers()
        .get("ratelimit")
        .and_then(|value| value.to_str().ok())
        .expect("a RateLimit header")
        .to_owned();
    header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("r="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no r= in `{header}`"))
}

#[tokio::test]
async fn a_resend_after_a_token_refresh_takes_its_own_place_in_the_budget() {
    let app = spawn_app().await;
    let connection = crate::oauth::connect(&app, "salesforce").await;
    // A bucket that does not refill during the test, so each vendor call shows exactly.
    let (status, saved) = app
        .call(
            Method::PUT,
            &format!("/connections/{connection}/overrides"),
            Some(json!({"rate_limits": {"buckets": [
                {"id": "steady", "capacity": 20, "refill_tokens": 1, "refill_every_ms": 3_600_000},
            ]}})),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let path = format!("/unified/crm/contacts?connection_id={connection}&page_size=2");
    let first = remaining(&app, &path).await;
    app.handle::<Salesforce>().expire_tokens();
    let second = remaining(&app, &path).await;
    assert_eq!(
        first - second,
        2,
        "the expired call and its resend are two vendor calls, two places in the budget"
    );
}

#[tokio::test]
async fn the_proxy_refuses_two_different_connection_names() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url(&format!(
            "/proxy/crm/v3/objects/contacts?connection_id={}",
            app.connection("hubspot")
        )))
        .bearer_auth(&app.demo.api_key)
        .header("x-connection-id", app.connection("salesforce"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("a problem");
    assert_eq!(body["field"], "connection_id", "{body}");
}

#[tokio::test]
async fn connect_asks_for_the_scopes_the_environments_override_sets() {
    let app = spawn_app().await;
    crate::oauth::configure(&app, "salesforce").await;
    let (status, saved) = app
        .call(
            Method::PUT,
            "/environment/overrides/salesforce",
            Some(json!({"auth": {"schemes": {"oauth": {"scopes": ["api", "refresh_token", "chatter_api"]}}}})),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let link = crate::oauth::session(&app, "salesforce", json!({})).await;
    let token = link.split("token=").nth(1).expect("a token");
    let start = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .get(app.url(&format!(
            "/connect/oauth/start?token={token}&provider=salesforce"
        )))
        .send()
        .await
        .expect("start answers");
    assert_eq!(start.status(), 303);
    let authorize_url = start
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .expect("a redirect")
        .to_owned();
    assert!(
        authorize_url.contains("chatter_api"),
        "the environment's scopes are asked for: {authorize_url}"
    );
}

#[tokio::test]
async fn a_cursor_does_not_outlive_a_change_of_the_connections_connector() {
    let app = spawn_app().await;
    let path = format!(
        "/unified/crm/companies?connection_id={}&page_size=2",
        app.connection("hubspot")
    );
    let (status, page) = app.get(&path).await;
    assert_eq!(status, 200, "{page}");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (status, saved) = app
        .call(
            Method::PUT,
            "/environment/overrides/hubspot",
            Some(json!({"rate_limits": {"max_concurrency": 3}})),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let (status, body) = app.get(&format!("{path}&cursor={cursor}")).await;
    assert_eq!(
        status, 400,
        "the effective connector changed under the cursor: {body}"
    );
    assert_eq!(body["field"], "cursor", "{body}");
}

#[tokio::test]
async fn post_connections_uses_the_environments_override() {
    let app = spawn_app().await;
    crate::oauth::configure(&app, "salesforce").await;
    let body = json!({"provider": "salesforce", "auth_scheme": "client_credentials", "fields": {"my_domain": "acme.my.salesforce.com"}});
    // The environment only accepts its own org's My Domain.
    let (status, saved) = app
        .call(
            Method::PUT,
            "/environment/overrides/salesforce",
            Some(json!({"connection_fields": [{"name": "my_domain", "pattern": "^globex\\.my\\.salesforce\\.com$"}]})),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let (status, refused) = app
        .call(Method::POST, "/connections", Some(body.clone()))
        .await;
    assert_eq!(status, 400, "the environment's pattern applies: {refused}");
    assert_eq!(refused["field"], "fields.my_domain", "{refused}");
    let (status, created) = app
        .call(
            Method::POST,
            "/connections",
            Some(json!({"provider": "salesforce", "auth_scheme": "client_credentials", "fields": {"my_domain": "globex.my.salesforce.com"}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
}

#[tokio::test]
async fn the_workers_refresh_uses_the_environments_override() {
    let app = spawn_app().await;
    let connection = crate::oauth::connect(&app, "hubspot").await;
    // This environment's HubSpot app answers 400 ACCOUNT_GONE for an account that was
    // removed: that refusal is for good.
    let (status, saved) = app
        .call(
            Method::PUT,
            "/environment/overrides/hubspot",
            Some(json!({"auth": {"schemes": {"oauth": {"invalid_grant_when": "body.status = 'ACCOUNT_GONE'"}}}})),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    crate::oauth::expire_soon(&app, &connection).await;
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Status {
            status: 400,
            body: Some(json!({"status": "ACCOUNT_GONE", "message": "the account was removed"})),
        },
        path_prefix: Some("/oauth/v1/token".to_owned()),
        times: 1,
    });
    app.demo
        .state
        .operations
        .refresh_expiring(std::time::Duration::from_secs(900), 100)
        .await
        .expect("a pass");
    let (status, fetched) = app.get(&format!("/connections/{connection}")).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(
        fetched["status"], "needs_reauth",
        "the environment's rule judged the refusal: {fetched}"
    );
}

#[tokio::test]
async fn waiting_for_a_place_in_flight_keeps_to_the_callers_budget() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let (status, saved) = app
        .call(
            Method::PUT,
            &format!("/connections/{connection}/overrides"),
            Some(json!({"rate_limits": {"max_concurrency": 1}})),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Delay { millis: 5_000 },
        path_prefix: Some(COMPANIES.to_owned()),
        times: 1,
    });
    let hung = tokio::spawn({
        let client = app.client.clone();
        let url = app.url(&format!(
            "/unified/crm/companies?connection_id={connection}&page_size=1"
        ));
        let key = app.demo.api_key.clone();
        async move {
            client
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("answers")
                .status()
        }
    });
    // The one place is taken once the vendor has the hung call.
    let log = app.simulator("hubspot").requests().clone();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while log.total_matching(&format!("GET {COMPANIES}")) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hung call never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (status, body) = app
        .get(&format!(
            "/unified/crm/companies?connection_id={connection}&page_size=1&max_wait_ms=200"
        ))
        .await;
    assert!(
        !hung.is_finished(),
        "answered while the only place is still held"
    );
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(hung.await.expect("the hung call"), 200);
}
