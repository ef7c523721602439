//! Retries and the circuit breaker: transient failures of reads are retried, writes are not,
//! a throttle's `Retry-After` is obeyed, and a vendor that keeps failing opens the connection's
//! circuit so retries never storm.
//!
//! No test here guesses how long the machine takes: where one call must be in flight while
//! another runs, the test waits until the simulator has received it (its request log) and gives
//! it a delay far beyond any call's time; the breaker's time is moved on its injected clock; and
//! waits the product makes (a vendor's `Retry-After`, a rate-limit window) are checked only
//! against lower bounds, or against windows no test run comes near.

use cli::demo::Options;
use reqwest::{Method, StatusCode};
use serde_json::json;
use simulators::Tweaks;
use simulators::hubspot::HubSpot;
use simulators::salesforce::Salesforce;
use simulators::{Fault, FaultKind};

use crate::helpers::spawn_app;

const COMPANIES: &str = "/crm/v3/objects/companies";

fn calls(app: &crate::helpers::TestApp, prefix: &str) -> u64 {
    app.simulator("hubspot").requests().total_matching(prefix)
}

/// Resolves once `condition` holds, reading it every few milliseconds (it watches a simulator's
/// request log, which has no notification); fails after 30 s.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let poll = async {
        while !condition() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), poll)
        .await
        .unwrap_or_else(|_| panic!("{what} within 30 s"));
}

/// A delay no single call on loopback comes near: the delayed call is still in flight when the
/// test's other calls are done.
const HELD: std::time::Duration = std::time::Duration::from_secs(60);

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
    let open_for = app
        .demo
        .state
        .operations
        .sender()
        .breaker()
        .config()
        .open_for;
    app.demo.state.operations.sender().clock().advance(open_for);
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
    app.demo.state.operations.sender().clock().advance(open_for);
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
    // The burst policy first; the vendor's daily allowance follows (ratelimit_headers.rs).
    assert!(
        policy
            .as_deref()
            .is_some_and(|policy| policy.starts_with("\"burst\";q=100;w=10")),
        "{policy:?}"
    );
    let limit = limit.expect("a RateLimit header");
    let remaining: u32 = limit
        .split(',')
        .next()
        .unwrap_or_default()
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
    let hubspot = app.handle::<HubSpot>();
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
        kind: FaultKind::Delay {
            millis: HELD.as_millis() as u64,
        },
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
    let before = calls(&app, &format!("GET {COMPANIES}"));
    let mut slow = Box::pin(app.get(&slow_path));
    // The slow call reaches the vendor, which holds it.
    tokio::select! {
        () = until("the slow call reached the vendor", || {
            calls(&app, &format!("GET {COMPANIES}")) > before
        }) => {}
        _ = &mut slow => panic!("the held call finished"),
    }
    // The other connection's call completes while the slow one is held.
    tokio::select! {
        (status, body) = app.get(&fast_path) => assert_eq!(status, 200, "{body}"),
        _ = &mut slow => panic!("the slow connection finished first"),
    }
    // The caller gives up on the slow call; its connection serves the next one as usual.
    drop(slow);
    let (status, body) = app.get(&slow_path).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn daily_quotas_raise_one_event_at_80_and_at_90_percent() {
    let tweaks = Tweaks::default()
        .with::<HubSpot>(|config| config.daily_limit = Some(40))
        .with::<Salesforce>(|config| config.daily_api_limit = 40);
    let app = crate::helpers::spawn_app_with(Options {
        tweaks,
        ..Options::tests()
    })
    .await;
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

/// Sets this environment's HubSpot `burst` window to one request per `window_ms`.
async fn one_request_per(app: &crate::helpers::TestApp, window_ms: u64) {
    let tighten = json!({"rate_limits": {"buckets": [
        {"id": "burst", "capacity": 1, "refill_every_ms": window_ms},
    ]}});
    let (status, body) = app
        .call(Method::PUT, "/environment/overrides/hubspot", Some(tighten))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The interactive wait budget (issue 5): a call waits for the connection's sliding window up to
/// its budget (`max_wait_ms`, the `Crosswalk-Max-Wait-Ms` header, else the default 10 s), and
/// past it answers `429 rate_limited` with `Retry-After` without calling the vendor.
#[tokio::test]
async fn a_call_waits_for_the_budget_up_to_its_wait_budget_and_no_longer() {
    let app = spawn_app().await;
    let path = format!(
        "/unified/crm/companies?connection_id={}&page_size=1",
        app.connection("hubspot")
    );
    let before = calls(&app, &format!("GET {COMPANIES}"));
    let refused_with = |response: &reqwest::Response| {
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
            .expect("a Retry-After in seconds")
    };

    // One request per ten minutes: far past every budget below, however slow the run.
    one_request_per(&app, 600_000).await;
    let started = std::time::Instant::now();
    // Discovery takes the window's one grant; the list would wait ten minutes, past the
    // default budget, so it is refused before the vendor.
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "rate_limited", "{body}");
    // No budget: refused at once, saying how long the window still runs.
    let refused = app
        .client
        .get(app.url(&format!("{path}&max_wait_ms=0")))
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("answers");
    let retry_after = refused_with(&refused);
    let waited = started.elapsed().as_secs() + 1;
    assert!(
        retry_after <= 600 && retry_after + waited >= 600,
        "Retry-After: {retry_after} after {waited} s"
    );
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
    refused_with(&refused);
    assert_eq!(
        calls(&app, &format!("GET {COMPANIES}")),
        before,
        "refused calls never reached the vendor"
    );

    // One request per 1.2 s: two calls within their budgets (the default, then 5 s) are both
    // served, the second only once the first's grant has aged out of the window.
    one_request_per(&app, 1_200).await;
    let started = std::time::Instant::now();
    let (status, body) = app.get(&path).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get(&format!("{path}&max_wait_ms=5000")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1_200),
        "two grants of a one-request window came {:?} apart",
        started.elapsed()
    );
    assert_eq!(calls(&app, &format!("GET {COMPANIES}")), before + 2);
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
    // The connection's bucket is the first policy; the vendor's daily allowance may follow.
    let limit = header("ratelimit")
        .split(',')
        .next()
        .unwrap_or_default()
        .to_owned();
    let part = |key: &str| -> u32 {
        limit
            .split(';')
            .find_map(|part| part.trim().strip_prefix(key))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {limit}"))
    };
    let policy = header("ratelimit-policy")
        .split(',')
        .next()
        .unwrap_or_default()
        .to_owned();
    ((part("r="), part("t=")), policy)
}

#[tokio::test]
async fn ratelimit_headers_count_each_call_of_the_connection_through_proxy_and_unified_api() {
    let tweaks = Tweaks::default().with::<HubSpot>(|config| {
        // The vendor allows what the connector declares.
        config.rate_limit_per_interval = 100;
        // Two private apps, each counted on its own by the vendor.
        config.access_tokens.push("hubspot-sim-token-2".to_owned());
    });
    let app = crate::helpers::spawn_app_with(Options {
        tweaks,
        ..Options::tests()
    })
    .await;
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
    // The first two busy calls are held at the vendor far longer than any call takes, so they
    // are in flight together and the rest queue behind them.
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Delay {
            millis: HELD.as_millis() as u64,
        },
        path_prefix: Some(COMPANIES.to_owned()),
        times: 2,
    });
    let path = companies(&busy);
    let mut held = Box::pin(futures::future::join_all((0..2).map(|_| app.get(&path))));
    let list = format!("GET {COMPANIES}");
    tokio::select! {
        () = until("two busy calls reached the vendor", || log.total_matching(&list) == 2) => {}
        _ = &mut held => panic!("the held calls finished"),
    }
    // With both places taken, more calls of the busy connection queue in Crosswalk…
    let queued = futures::future::join_all((0..6).map(|_| app.get(&path)));
    tokio::pin!(queued);
    // …while another connection's call goes through.
    tokio::select! {
        (status, body) = app.get(&contacts) => assert_eq!(status, 200, "{body}"),
        _ = &mut queued => panic!("the other connection waited for the busy one"),
        _ = &mut held => panic!("the held calls finished"),
    }
    assert_eq!(
        log.total_matching(&list),
        2,
        "no queued call reached the vendor while both places were held"
    );
    // The held callers give up; their places come back and every queued call is served.
    drop(held);
    let served = tokio::time::timeout(std::time::Duration::from_secs(30), queued)
        .await
        .expect("the queued calls were served once the places came back");
    for (status, body) in served {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        log.total_matching(&list),
        8,
        "every call reached the vendor"
    );
    assert_eq!(
        log.most_in_flight(&list),
        2,
        "at most the connection's cap in flight at once"
    );
}

/// A throttle is not a failure (issue 15): a vendor that answers 429 again and again is metering
/// the connection, not failing, so the circuit stays closed and the next call after the
/// throttles goes through (before, the fifth 429 opened it and every call got `circuit_open`).
#[tokio::test]
async fn throttles_never_open_the_circuit() {
    let app = spawn_app().await;
    let failure_threshold = app
        .demo
        .state
        .operations
        .sender()
        .breaker()
        .config()
        .failure_threshold;
    let throttles = failure_threshold + 3;
    app.simulator("hubspot").faults().push(Fault {
        kind: FaultKind::Throttle {
            retry_after_secs: Some(600),
        },
        path_prefix: Some(COMPANIES.to_owned()),
        times: throttles,
    });
    let path = format!(
        "/unified/crm/companies?connection_id={}&page_size=2&max_wait_ms=0",
        app.connection("hubspot")
    );
    let before = calls(&app, &format!("GET {COMPANIES}"));
    for _ in 0..throttles {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["code"], "rate_limited", "{body}");
        assert_eq!(body["origin"], "provider", "the vendor's own 429: {body}");
    }
    assert_eq!(
        calls(&app, &format!("GET {COMPANIES}")) - before,
        u64::from(throttles),
        "every call reached the vendor: none was cut off by an open circuit"
    );
    let (status, body) = app.get(&path).await;
    assert_eq!(status, 200, "the throttles are over: {body}");
}

/// A vendor that reports each endpoint group's budget in a structured `RateLimit: limit=…,
/// remaining=…, reset=…` header (`rate_limits.headers.structured`, `scope: request`): once
/// the group's answer says `remaining=0`, the next call of that group is refused by Crosswalk
/// (429 with `Retry-After`) without reaching the vendor, while another group's calls go on.
#[tokio::test]
async fn a_structured_ratelimit_header_spends_its_endpoint_groups_budget() {
    use simulators::Entry;
    use simulators::close::Close;
    let tweaks = Tweaks::default().with::<Close>(|config| {
        // Three requests a minute per endpoint group.
        config.rate_limit = 3;
        config.rate_window = std::time::Duration::from_secs(60);
    });
    let app = crate::helpers::spawn_app_with(Options {
        registry: vec![Entry::of::<Close>()],
        tweaks,
        ..Options::tests()
    })
    .await;
    let connection = app.connection("closecrm");
    // Crosswalk's own buckets allow more than the vendor's three (twenty an hour, a window
    // longer than the vendor's reset): only the header can stop the fourth call.
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/connections/{connection}/overrides"),
            Some(json!({"rate_limits": {"buckets": [
                {"id": "contacts_read", "capacity": 20, "refill_every_ms": 3_600_000},
                {"id": "leads_read", "capacity": 20, "refill_every_ms": 3_600_000},
            ]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let requests = app.simulator("closecrm").requests();
    let list = format!("/unified/crm/contacts?connection_id={connection}&page_size=5");
    for _ in 0..3 {
        let (status, body) = app.get(&list).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(requests.total_matching("GET /api/v1/contact/"), 3);
    let refused = app
        .client
        .get(app.url(&format!("{list}&max_wait_ms=0")))
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
    assert!(
        (1..=60).contains(&retry_after),
        "the vendor's reset: {retry_after}"
    );
    let body: serde_json::Value = refused.json().await.expect("problem+json");
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(
        requests.total_matching("GET /api/v1/contact/"),
        3,
        "the spent group is not called: {:?}",
        requests.counts()
    );
    // Another endpoint group still has its budget.
    let (status, body) = app
        .get(&format!(
            "/unified/crm/companies?connection_id={connection}&page_size=5"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
