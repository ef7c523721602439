//! Retries and the circuit breaker: transient failures of reads are retried, writes are not,
//! a throttle's `Retry-After` is obeyed, and a vendor that keeps failing opens the connection's
//! circuit so retries never storm.

use reqwest::{Method, StatusCode};
use serde_json::json;
use simulators::{Fault, FaultKind};

use crate::helpers::spawn_app;

const COMPANIES: &str = "/crm/v3/objects/companies";

fn calls(app: &crate::helpers::TestApp, prefix: &str) -> u64 {
    app.simulator("hubspot").requests().total_matching(prefix)
}

#[tokio::test]
async fn a_transient_failure_of_a_read_is_retried() {
    let app = spawn_app().await;
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Status {
            status: 503,
            body: None,
        },
        path_prefix: Some(COMPANIES.to_owned()),
        times: 1,
    });
    let before = calls(&app, &format!("GET {COMPANIES}"));
    let (status, body) = app
        .get(&format!(
            "/unified/crm/companies?connection_id={}&page_size=2",
            app.connection("hubspot")
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        calls(&app, &format!("GET {COMPANIES}")) - before,
        2,
        "one failure, one retry"
    );
}

#[tokio::test]
async fn a_failed_write_is_not_repeated() {
    let app = spawn_app().await;
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Status {
            status: 503,
            body: None,
        },
        path_prefix: Some(COMPANIES.to_owned()),
        times: 1,
    });
    let before = calls(&app, &format!("POST {COMPANIES}"));
    let (status, body) = app
        .call(
            Method::POST,
            &format!(
                "/unified/crm/companies?connection_id={}",
                app.connection("hubspot")
            ),
            Some(json!({"name": "Only once Ltd"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(
        calls(&app, &format!("POST {COMPANIES}")) - before,
        1,
        "a create is never sent twice"
    );
}

#[tokio::test]
async fn a_throttle_is_retried_after_the_vendors_retry_after() {
    let app = spawn_app().await;
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Throttle {
            retry_after_secs: Some(1),
        },
        path_prefix: Some(COMPANIES.to_owned()),
        times: 1,
    });
    let before = calls(&app, &format!("GET {COMPANIES}"));
    let started = std::time::Instant::now();
    let (status, body) = app
        .get(&format!(
            "/unified/crm/companies?connection_id={}&page_size=2",
            app.connection("hubspot")
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(calls(&app, &format!("GET {COMPANIES}")) - before, 2);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "the retry waited for Retry-After"
    );
}

#[tokio::test]
async fn a_vendor_that_keeps_failing_opens_the_circuit() {
    let app = spawn_app().await;
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Status {
            status: 503,
            body: None,
        },
        path_prefix: Some(COMPANIES.to_owned()),
        times: 1_000,
    });
    let path = format!(
        "/unified/crm/companies?connection_id={}&page_size=2",
        app.connection("hubspot")
    );
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (_, body) = app.get(&path).await;
        codes.push(body["code"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        codes.last().map(String::as_str),
        Some("circuit_open"),
        "{codes:?}"
    );
    let before = calls(&app, &format!("GET {COMPANIES}"));
    let response = app
        .client
        .get(app.url(&path))
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(
        calls(&app, &format!("GET {COMPANIES}")),
        before,
        "an open circuit sends nothing"
    );
    // Other connections are not affected.
    let (status, body) = app
        .get(&format!(
            "/unified/crm/companies?connection_id={}&page_size=2",
            app.connection("salesforce")
        ))
        .await;
    assert_eq!(status, 200, "{body}");
}
