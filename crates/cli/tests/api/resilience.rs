//! Retries and the circuit breaker: transient failures of reads are retried, writes are not,
//! a throttle's `Retry-After` is obeyed, and a vendor that keeps failing opens the connection's
//! circuit so retries never storm.

use cli::demo::SimulatorHandle;
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
async fn a_vendor_that_keeps_failing_opens_the_circuit_and_a_good_probe_closes_it() {
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

    // Its time passes (the breaker's clock is moved, as waiting would): one probe goes out; it
    // fails, and the circuit opens again.
    let open_for = app.demo.state.breaker.config().open_for;
    app.demo.state.clock.advance(open_for);
    let (status, body) = app.get(&path).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "circuit_open", "{body}");
    assert_eq!(
        calls(&app, &format!("GET {COMPANIES}")),
        before + 1,
        "one probe while half-open"
    );
    // The vendor recovers; after another spell the probe succeeds and closes the circuit.
    app.simulator("hubspot").faults().clear();
    app.demo.state.clock.advance(open_for);
    for _ in 0..3 {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 200, "closed again: {body}");
    }
    // Other connections are not affected.
    let (status, body) = app
        .get(&format!(
            "/unified/crm/companies?connection_id={}&page_size=2",
            app.connection("salesforce")
        ))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn responses_describe_the_vendor_budget_left_in_ratelimit_headers() {
    let app = spawn_app().await;
    let path = format!(
        "/unified/crm/companies?connection_id={}&page_size=2",
        app.connection("hubspot")
    );
    let response = app
        .client
        .get(app.url(&path))
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    let policy = response
        .headers()
        .get("ratelimit-policy")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let limit = response
        .headers()
        .get("ratelimit")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(policy.as_deref(), Some("\"burst\";q=100;w=10"));
    let limit = limit.expect("a RateLimit header");
    let remaining: u32 = limit
        .split(';')
        .find_map(|part| part.strip_prefix("r="))
        .and_then(|r| r.parse().ok())
        .expect("r=");
    // Discovery and the list each took a token from the 100-token burst bucket.
    assert!((90..=98).contains(&remaining), "{limit}");
}

#[tokio::test]
async fn a_vendor_limit_lower_than_declared_is_learnt_from_its_headers() {
    let app = spawn_app().await;
    let SimulatorHandle::HubSpot(hubspot) = app.simulator("hubspot") else {
        unreachable!("hubspot")
    };
    let connection = app.connection("hubspot");
    // Warm the field cache, then lower the vendor's real limit far below the declared 100/10 s.
    let (status, _) = app
        .get(&format!(
            "/unified/crm/companies?connection_id={connection}&page_size=1"
        ))
        .await;
    assert_eq!(status, 200);
    hubspot.set_rate_limit(4, 60_000);
    let before = calls(&app, &format!("GET {COMPANIES}"));
    let mut outcomes = Vec::new();
    for _ in 0..8 {
        let (status, body) = app
            .get(&format!(
                "/unified/crm/companies?connection_id={connection}&page_size=1&max_wait_ms=0"
            ))
            .await;
        outcomes.push((
            status.as_u16(),
            body["code"].as_str().unwrap_or_default().to_owned(),
            body["origin"].clone(),
        ));
    }
    let sent = calls(&app, &format!("GET {COMPANIES}")) - before;
    assert!(
        sent <= 5,
        "the vendor's headers slowed us down: {sent} calls, {outcomes:?}"
    );
    let throttled: Vec<_> = outcomes
        .iter()
        .filter(|(status, _, _)| *status == 429)
        .collect();
    assert!(!throttled.is_empty(), "{outcomes:?}");
    assert!(
        throttled.iter().all(|(_, code, _)| code == "rate_limited"),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_slow_connection_does_not_delay_another() {
    let app = spawn_app().await;
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Delay { millis: 3_000 },
        path_prefix: Some(COMPANIES.to_owned()),
        times: 1,
    });
    let slow_path = format!(
        "/unified/crm/companies?connection_id={}&page_size=1",
        app.connection("hubspot")
    );
    let fast_path = format!(
        "/unified/crm/companies?connection_id={}&page_size=1",
        app.connection("salesforce")
    );
    let slow = app.get(&slow_path);
    let fast = app.get(&fast_path);
    tokio::pin!(slow);
    tokio::pin!(fast);
    // The other connection's call completes while the slow one is still waiting.
    tokio::select! {
        (status, body) = &mut fast => assert_eq!(status, 200, "{body}"),
        _ = &mut slow => panic!("the slow connection finished first"),
    }
    let (status, _) = slow.await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn daily_quotas_raise_one_event_at_80_and_at_90_percent() {
    let mut configs = crate::helpers::simulator_configs();
    configs.hubspot.daily_limit = Some(40);
    configs.salesforce.daily_api_limit = 40;
    let app = crate::helpers::spawn_app_with(configs).await;
    for provider in ["hubspot", "salesforce"] {
        let connection = app.connection(provider);
        for _ in 0..37 {
            let (status, body) = app
                .get(&format!(
                    "/unified/crm/users?connection_id={connection}&page_size=1"
                ))
                .await;
            assert_eq!(status, 200, "{provider}: {body}");
        }
        let (_, events) = app
            .get(&format!(
                "/events?connection_id={connection}&kind=connection.quota_warning"
            ))
            .await;
        let levels: Vec<u64> = events["results"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|event| event["payload"]["level"].as_u64())
            .collect();
        assert_eq!(levels, vec![80, 90], "{provider}: {events}");
    }
}

/// The interactive wait budget (issue 5): a call waits for the connection's sliding window up to
/// its budget (`max_wait_ms`, the `Crosswalk-Max-Wait-Ms` header, else the default), and past
/// it answers `429 rate_limited` with `Retry-After` without calling the vendor.
#[tokio::test]
async fn a_call_waits_for_the_budget_up_to_its_wait_budget_and_no_longer() {
    let app = spawn_app().await;
    // One request per rolling 1.2 s for this environment's HubSpot connections.
    let tighten = json!({"rate_limits": {"buckets": [
        {"id": "burst", "capacity": 1, "refill_every_ms": 1200},
    ]}});
    let (status, body) = app
        .call(Method::PUT, "/environment/overrides/hubspot", Some(tighten))
        .await;
    assert_eq!(status, 200, "{body}");
    let path = format!(
        "/unified/crm/companies?connection_id={}&page_size=1",
        app.connection("hubspot")
    );

    // Discovery takes the window's one grant; the list waits for it within the default 10 s.
    let started = std::time::Instant::now();
    let (status, body) = app.get(&path).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1000),
        "the list waited for the window: {:?}",
        started.elapsed()
    );

    // No budget: refused at once, before the vendor.
    let before = calls(&app, &format!("GET {COMPANIES}"));
    let refused = app
        .client
        .get(app.url(&format!("{path}&max_wait_ms=0")))
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    let body: serde_json::Value = refused.json().await.expect("problem+json");
    assert_eq!(body["code"], "rate_limited", "{body}");
    // The same budget given as a header.
    let refused = app
        .client
        .get(app.url(&path))
        .header("Crosswalk-Max-Wait-Ms", "0")
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        calls(&app, &format!("GET {COMPANIES}")),
        before,
        "refused calls never reached the vendor"
    );

    // A budget longer than the wait: served once the window allows.
    let (status, body) = app.get(&format!("{path}&max_wait_ms=5000")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(calls(&app, &format!("GET {COMPANIES}")), before + 1);
}

/// `(r, t)` of a response's `RateLimit` header, and its `RateLimit-Policy`.
fn ratelimit(response: &reqwest::Response) -> ((u32, u32), String) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("a {name} header"))
            .to_owned()
    };
    let limit = header("ratelimit");
    let part = |key: &str| -> u32 {
        limit
            .split(';')
            .find_map(|part| part.trim().strip_prefix(key))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {limit}"))
    };
    ((part("r="), part("t=")), header("ratelimit-policy"))
}

#[tokio::test]
async fn ratelimit_headers_count_each_call_of_the_connection_through_proxy_and_unified_api() {
    let mut configs = crate::helpers::simulator_configs();
    // The vendor allows what the connector declares.
    configs.hubspot.rate_limit_per_interval = 100;
    // Two private apps, each counted on its own by the vendor.
    configs
        .hubspot
        .access_tokens
        .push("hubspot-sim-token-2".to_owned());
    let app = crate::helpers::spawn_app_with(configs).await;
    let mine = app.connection("hubspot");
    let other = app.connect_hubspot("hubspot-sim-token-2").await;
    let get = |path: String| {
        let request = app
            .client
            .get(app.url(&path))
            .bearer_auth(&app.demo.api_key);
        async move { request.send().await.expect("answers") }
    };
    let proxy = |connection: &str| {
        get(format!(
            "/proxy/crm/v3/objects/contacts?limit=1&connection_id={connection}"
        ))
    };

    let first = proxy(&mine).await;
    assert_eq!(first.status(), 200);
    let ((remaining, reset), policy) = ratelimit(&first);
    assert_eq!(policy, "\"burst\";q=100;w=10");
    assert_eq!(remaining, 99, "one proxy call spent one of 100");
    assert!(
        (1..=10).contains(&reset),
        "resets within the window: t={reset}"
    );

    // A unified list spends two: the field discovery and the page.
    let unified = get(format!(
        "/unified/crm/contacts?connection_id={mine}&page_size=1"
    ))
    .await;
    assert_eq!(unified.status(), 200);
    assert_eq!(ratelimit(&unified).0.0, 97);
    for expected in [96, 95, 94] {
        let response = proxy(&mine).await;
        assert_eq!(ratelimit(&response).0.0, expected);
    }

    // Another connection has its own budget.
    let theirs = proxy(&other).await;
    assert_eq!(theirs.status(), 200);
    assert_eq!(ratelimit(&theirs).0.0, 99, "a budget per connection");
}

#[tokio::test]
async fn a_connection_never_has_more_calls_in_flight_than_its_cap_and_others_pass_it() {
    let app = spawn_app().await;
    let busy = app.connection("hubspot");
    let other = app.connect_hubspot("hubspot-sim-token").await;
    // The connector allows 6 calls in flight; this customer's override tightens it to 2.
    let (status, saved) = app
        .call(
            Method::PUT,
            &format!("/connections/{busy}/overrides"),
            Some(json!({"rate_limits": {"max_concurrency": 2}})),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let companies =
        |connection: &str| format!("/unified/crm/companies?connection_id={connection}&page_size=1");
    let contacts = format!("/unified/crm/contacts?connection_id={other}&page_size=1");
    // Discovery first, so only the slow pages are in flight below.
    for path in [companies(&busy), companies(&other), contacts.clone()] {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 200, "{body}");
    }
    let log = app.simulator("hubspot").requests();
    log.reset();
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Delay { millis: 300 },
        path_prefix: Some(COMPANIES.to_owned()),
        times: 8,
    });
    let path = companies(&busy);
    let calls = futures::future::join_all((0..8).map(|_| app.get(&path)));
    tokio::pin!(calls);
    // While the busy connection queues behind its cap, another connection's call goes through.
    tokio::select! {
        (status, body) = app.get(&contacts) => assert_eq!(status, 200, "{body}"),
        _ = &mut calls => panic!("the other connection waited for the busy one"),
    }
    for (status, body) in calls.await {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        log.total_matching(&format!("GET {COMPANIES}")),
        8,
        "every call reached the vendor"
    );
    assert_eq!(
        log.most_in_flight(&format!("GET {COMPANIES}")),
        2,
        "at most the connection's cap in flight at once"
    );
}
