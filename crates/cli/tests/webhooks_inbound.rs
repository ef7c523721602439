//! Inbound webhooks end to end (issue 17): each simulated CRM sends its webhooks the way its
//! vendor does (HubSpot v3 signatures, Pipedrive basic auth, Salesforce unsigned outbound
//! messages, Dynamics' `code` key) to the connection's ingress URL when a record changes; the
//! delivery is verified by the kind its connector declares, written to the inbox and answered,
//! and the processing job reads the record back from the vendor into the record store, so the
//! change reaches the change feed and an outbound endpoint.
//!
//! - A forged signature and a replayed old timestamp are answered 401 and leave nothing in the
//!   inbox and no job; the refusals are counted and sampled on the ingress.
//! - A delivery sent twice (same vendor event id) is processed once: the second is dropped.
//! - With 30% of the vendor's webhooks dropped and the rest duplicated and reordered, every
//!   change reaches the outbound endpoint exactly once by the end of the sync's next run.
//! - Subscriptions are Crosswalk's to manage where the vendor has an API: Zoho's notification
//!   channel is enabled when the ingress is made, renewed before it expires (the worker's
//!   clock moved, not slept) and deleted on disconnect; Pipedrive's webhook is made with the
//!   ingress and deleted with it; Close's is made with the ingress (its signature key, which
//!   Close chooses, becoming the ingress's secret), feeds the change feed and an outbound
//!   endpoint, refuses forged and old deliveries, and is deleted on disconnect.
//! - The HRIS vendors: BambooHR's webhook is made through its API with the ingress (the
//!   private key its answer carries becoming the ingress's secret) and deleted on disconnect;
//!   HiBob's is set up in Bob, so the ingress takes the secret Bob made and answers Bob's
//!   ping. Each one's signed deliveries reach the change feed and an outbound endpoint; forged
//!   signatures and (BambooHR) old timestamps get 401 and leave nothing behind; HiBob signs no
//!   timestamp, so a replay verifies and is dropped as a duplicate.
//! - Webhooks quiet for longer than their expected interval allows are stale: an event goes out
//!   and the sync polls sooner; the next delivery ends it.
//! - The inbox keeps processed deliveries for its retention and the scheduled purge removes
//!   them after it.

#[path = "api/helpers.rs"]
#[allow(dead_code, reason = "shared with the api tests, which use more of it")]
mod helpers;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::{INBOUND_JOB_KIND, InboundHandler, Worker, WorkerSettings};
use simulators::dynamics::Dynamics;
use simulators::hubspot::HubSpot;
use simulators::pipedrive::Pipedrive;
use simulators::salesforce::Salesforce;
use simulators::webhooks::{Subscription, WebhookFaults, Webhooks};
use simulators::zoho::Zoho;
use store::timestamp::Clock;
use store::{ConnectionId, EnvironmentId, InboxStatus, Store};

use crate::helpers::{TestApp, spawn_app};

/// One request the outbound receiver got.
#[derive(Debug, Clone)]
struct Received {
    /// Its `webhook-id` header.
    id: String,
    body: Value,
}

/// An outbound webhook receiver on loopback: records every request and answers 204.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let state = receiver.clone();
        let app =
            axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    state.got.lock().expect("lock").push(Received {
                        id: headers
                            .get("webhook-id")
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or_default()
                            .to_owned(),
                        body: serde_json::from_str(&body).unwrap_or(Value::Null),
                    });
                    axum::http::StatusCode::NO_CONTENT
                }
            });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, format!("http://{address}/outbound"))
    }

    /// The bodies received of events of `kind`.
    fn events_of(&self, kind: &str) -> Vec<Value> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .filter(|received| received.body["type"] == json!(kind))
            .map(|received| received.body.clone())
            .collect()
    }

    /// The change events received for `remote_id`, as `type` strings.
    fn events_for(&self, remote_id: &str) -> Vec<String> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .filter(|received| received.body["data"]["remote_id"] == json!(remote_id))
            .map(|received| {
                received.body["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }
}

async fn environment_of(app: &TestApp, provider: &str) -> EnvironmentId {
    app.demo
        .store
        .get_connection_by_id(&ConnectionId::parse(&app.connection(provider)).expect("id"))
        .await
        .expect("connection")
        .environment_id
}

/// A worker running syncs, inbound processing, subscriptions, stale checks and outbound
/// deliveries (to loopback only), claiming on `clock` (tests move it).
fn worker_on(app: &TestApp, clock: &Clock) -> Worker {
    let settings = webhooks::WebhookSettings {
        addresses: webhooks::AddressPolicy::LoopbackOnly,
        timeout: Duration::from_secs(5),
        poll: Duration::from_millis(100),
        ..webhooks::WebhookSettings::default()
    };
    Worker::new(
        Arc::clone(&app.demo.store),
        WorkerSettings {
            holder: "inbound-test".to_owned(),
            concurrency: 4,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(20),
        },
    )
    .handle(
        server::SYNC_JOB_KIND,
        Arc::new(server::SyncHandler::new(
            app.demo.state.operations.clone(),
            100,
        )),
    )
    .handle(
        INBOUND_JOB_KIND,
        Arc::new(
            InboundHandler::new(app.demo.state.operations.clone())
                .with_linger(Duration::from_millis(50)),
        ),
    )
    .handle(
        webhooks::DELIVERY_JOB_KIND,
        Arc::new(webhooks::DeliveryHandler::new(
            Arc::clone(&app.demo.store),
            Arc::clone(&app.demo.state.keyring),
            settings,
            clock.clone(),
        )),
    )
    .handle(
        server::SUBSCRIPTION_JOB_KIND,
        Arc::new(server::SubscriptionHandler::new(
            app.demo.state.operations.clone(),
            Arc::clone(&app.demo.state.keyring),
            clock.clone(),
        )),
    )
    .handle(
        server::STALE_CHECK_JOB_KIND,
        Arc::new(server::StaleCheckHandler::new(
            app.demo.state.operations.clone(),
            clock.clone(),
        )),
    )
    .with_clock(clock.clone())
}

/// Runs the worker until `done` holds (checked every 50 ms, for at most a minute).
async fn run_until<F, Fut>(app: &TestApp, done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    run_until_on(app, &Clock::default(), done).await;
}

/// [`run_until`] with the worker claiming on `clock`.
async fn run_until_on<F, Fut>(app: &TestApp, clock: &Clock, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (stop, _) = tokio::sync::watch::channel(false);
    let mut stopped = stop.subscribe();
    let running = worker_on(app, clock).run(
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        },
        Duration::from_secs(10),
    );
    let watch = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if done().await {
                stop.send_replace(true);
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the condition did not hold within a minute"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::join!(running, watch);
}

/// Makes the connection's ingress; returns its URL and secret (the given one, or the one
/// generated).
async fn make_ingress(app: &TestApp, provider: &str, secret: Option<&str>) -> (String, String) {
    let body = match secret {
        Some(secret) => json!({"secret": secret}),
        None => json!({}),
    };
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/connections/{}/webhook-ingress", app.connection(provider)),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let url = created["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&app.base), "{created}");
    let secret = secret.map_or_else(
        || created["secret"].as_str().unwrap_or_default().to_owned(),
        str::to_owned,
    );
    (url, secret)
}

async fn create_endpoint(app: &TestApp, url: &str) {
    let (status, created) = app
        .call(
            Method::POST,
            "/webhooks/endpoints",
            Some(json!({"url": url, "event_types": ["crm.*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

/// Creates a contact through the unified API (the vendor then sends its webhook); its id.
async fn create_contact(app: &TestApp, provider: &str, last_name: &str) -> String {
    let (status, created) = app
        .call(
            Method::POST,
            &format!(
                "/unified/crm/contacts?connection_id={}",
                app.connection(provider)
            ),
            Some(json!({"first_name": "Ada", "last_name": last_name})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{provider}: {created}");
    created["id"].as_str().expect("an id").to_owned()
}

/// The feed's changes of `remote_id`, as kinds.
async fn feed_for(app: &TestApp, provider: &str, remote_id: &str) -> Vec<String> {
    let (status, changes) = app
        .get(&format!(
            "/changes?after=0&limit=1000&connection_id={}",
            app.connection(provider)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{changes}");
    changes["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|change| change["remote_id"] == json!(remote_id))
        .map(|change| change["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The simulator's webhook sender of `provider`.
fn sender(app: &TestApp, provider: &str) -> Webhooks {
    match provider {
        "hubspot" => app.handle::<HubSpot>().webhooks().clone(),
        "pipedrive" => app.handle::<Pipedrive>().webhooks().clone(),
        "salesforce" => app.handle::<Salesforce>().webhooks().clone(),
        "dynamics365" => app.handle::<Dynamics>().webhooks().clone(),
        other => panic!("no webhooks for `{other}`"),
    }
}

/// Every CRM's webhook, sent by its simulator as the vendor sends it, reaches the change feed
/// and an outbound endpoint, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_vendors_webhook_reaches_the_change_feed_and_an_outbound_endpoint() {
    let app = spawn_app().await;
    let (receiver, outbound) = Receiver::start().await;
    create_endpoint(&app, &outbound).await;
    for (provider, secret, verification) in [
        ("hubspot", Some("hubspot-app-client-secret"), "hmac"),
        ("pipedrive", None, "basic_auth"),
        ("salesforce", None, "none"),
        ("dynamics365", None, "token"),
    ] {
        let (url, secret) = make_ingress(&app, provider, secret).await;
        let webhooks = sender(&app, provider);
        if provider == "pipedrive" {
            // Pipedrive's own API makes the subscription (`POST /v1/webhooks`), through the
            // proxy on the connection's credentials.
            let (status, answer) = app
                .call(
                    Method::POST,
                    &format!(
                        "/proxy/v1/webhooks?connection_id={}",
                        app.connection(provider)
                    ),
                    Some(
                        json!({"subscription_url": url, "event_action": "*", "event_object": "*",
                                "http_auth_user": "crosswalk", "http_auth_password": secret,
                                "version": "2.0"}),
                    ),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            assert_eq!(
                webhooks.subscription().map(|sub| sub.url),
                Some(url.clone())
            );
        } else {
            webhooks.subscribe(Subscription {
                url: url.clone(),
                secret: secret.clone(),
                username: None,
            });
        }
        let remote_id = create_contact(&app, provider, &format!("Webhook {provider}")).await;
        webhooks.flush().await;
        let sent = webhooks.sent();
        assert_eq!(sent.len(), 1, "{provider}: one delivery per change");
        assert!(
            sent[0]
                .status
                .is_some_and(|status| (200..300).contains(&status)),
            "{provider}: the delivery is accepted: {:?} {}",
            sent[0].status,
            sent[0].answer
        );
        if provider == "salesforce" {
            assert!(
                sent[0].answer.contains("<Ack>true</Ack>"),
                "an outbound message is acknowledged: {}",
                sent[0].answer
            );
        }
        run_until(&app, || {
            let receiver = receiver.clone();
            let remote_id = remote_id.clone();
            let app = &app;
            async move {
                feed_for(app, provider, &remote_id).await == ["created"]
                    && receiver.events_for(&remote_id) == ["crm.contacts.created"]
            }
        })
        .await;
        let (status, shown) = app
            .get(&format!(
                "/connections/{}/webhook-ingress",
                app.connection(provider)
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{shown}");
        assert_eq!(shown["verification"], json!(verification), "{shown}");
        assert_eq!(
            shown["deliveries"][0]["status"],
            json!("processed"),
            "{shown}"
        );
        assert_eq!(shown["deliveries"][0]["events"], json!(1), "{shown}");
        assert!(shown["last_received_at"].is_string(), "{shown}");
        assert!(
            shown.get("secret").is_none() && shown.get("url").is_none(),
            "{shown}"
        );
        // An update is a second change, a delete a tombstone.
        let (status, updated) = app
            .call(
                Method::PATCH,
                &format!(
                    "/unified/crm/contacts/{remote_id}?connection_id={}",
                    app.connection(provider)
                ),
                Some(json!({"last_name": "King"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{provider}: {updated}");
        webhooks.flush().await;
        run_until(&app, || {
            let receiver = receiver.clone();
            let remote_id = remote_id.clone();
            let app = &app;
            async move {
                feed_for(app, provider, &remote_id).await == ["created", "updated"]
                    && receiver.events_for(&remote_id)
                        == ["crm.contacts.created", "crm.contacts.updated"]
            }
        })
        .await;
    }
}

/// A forged signature, a replayed old timestamp, a wrong password and a wrong key are answered
/// 401 and leave nothing behind; the refusals are counted and sampled on the ingress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_deliveries_get_401_and_leave_nothing_behind() {
    let app = spawn_app().await;
    let client_secret = "hubspot-app-client-secret";
    let (url, _) = make_ingress(&app, "hubspot", Some(client_secret)).await;
    let body = json!([{"eventId": 99, "subscriptionId": 1, "portalId": 62515, "occurredAt": 1,
                       "subscriptionType": "contact.creation", "attemptNumber": 0,
                       "objectId": 1, "changeSource": "CRM"}])
    .to_string();
    let post = |headers: Vec<(String, String)>, url: String, body: String| {
        let client = app.client.clone();
        async move {
            let mut request = client.post(url).body(body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.send().await.expect("the ingress answers");
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            (status, answer)
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    let signed = |secret: &str, at: i64| {
        vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (
                "X-HubSpot-Signature-v3".to_owned(),
                simulators::hubspot::sign_v3(secret, "POST", &url, body.as_bytes(), at),
            ),
            ("X-HubSpot-Request-Timestamp".to_owned(), at.to_string()),
        ]
    };
    // Signed with another secret.
    let (status, answer) = post(signed("not-the-secret", now), url.clone(), body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["code"], json!("webhook_unverified"), "{answer}");
    // Signed right, but ten minutes old (a replay).
    let (status, answer) = post(
        signed(client_secret, now - 10 * 60 * 1000),
        url.clone(),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("timestamp")),
        "{answer}"
    );
    // Signed right over another body.
    let (status, _) = post(
        signed(client_secret, now),
        url.clone(),
        body.replace("99", "98"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // An unknown token is a 404 that names nothing.
    let (status, _) = post(
        signed(client_secret, now),
        format!("{}/hooks/{}", app.base, "0".repeat(64)),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Pipedrive with a wrong password, Dynamics with a wrong key.
    let (pipedrive_url, _) = make_ingress(&app, "pipedrive", None).await;
    let (status, _) = post(
        vec![(
            "Authorization".to_owned(),
            "Basic Y3Jvc3N3YWxrOndyb25n".to_owned(),
        )],
        pipedrive_url,
        json!({"meta": {"id": "x", "entity": "person", "entity_id": "1"}}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (dynamics_url, _) = make_ingress(&app, "dynamics365", None).await;
    let (status, _) = post(
        Vec::new(),
        format!("{dynamics_url}?code=wrong"),
        json!({"PrimaryEntityName": "contact", "PrimaryEntityId": "x"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Nothing is left behind: no inbox entry, no processing job.
    for provider in ["hubspot", "pipedrive", "dynamics365"] {
        let environment_id = environment_of(&app, provider).await;
        let connection_id = ConnectionId::parse(&app.connection(provider)).expect("id");
        let store: &dyn Store = app.demo.store.as_ref();
        assert!(
            store
                .list_webhook_inbox(&environment_id, &connection_id, 10)
                .await
                .expect("inbox")
                .is_empty(),
            "{provider}: nothing in the inbox"
        );
        assert!(
            store
                .list_jobs(&environment_id, Some(&connection_id), 100)
                .await
                .expect("jobs")
                .iter()
                .all(|job| job.kind != INBOUND_JOB_KIND),
            "{provider}: no processing job"
        );
    }
    let (status, shown) = app
        .get(&format!(
            "/connections/{}/webhook-ingress",
            app.connection("hubspot")
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["failures"], json!(3), "{shown}");
    let codes: Vec<&str> = shown["failure_samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter_map(|sample| sample["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        ["bad_signature", "stale_timestamp", "bad_signature"],
        "{shown}"
    );
    assert!(
        !shown.to_string().contains(client_secret),
        "no secret is shown: {shown}"
    );
}

/// A delivery the vendor sends twice (the same event id) is processed once: the second is
/// accepted and dropped, and the record has one change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_delivery_is_dropped() {
    let app = spawn_app().await;
    let (url, secret) = make_ingress(&app, "hubspot", Some("duplicate-secret")).await;
    let webhooks = app.handle::<HubSpot>().webhooks().clone();
    webhooks.subscribe(Subscription {
        url,
        secret,
        username: None,
    });
    webhooks.set_faults(
        WebhookFaults {
            duplicate_percent: 100,
            ..WebhookFaults::default()
        },
        7,
    );
    let remote_id = create_contact(&app, "hubspot", "Twice").await;
    webhooks.flush().await;
    assert_eq!(webhooks.sent().len(), 2, "the delivery went twice");
    let environment_id = environment_of(&app, "hubspot").await;
    let connection_id = ConnectionId::parse(&app.connection("hubspot")).expect("id");
    run_until(&app, || {
        let store = Arc::clone(&app.demo.store);
        let environment_id = environment_id.clone();
        let connection_id = connection_id.clone();
        async move {
            store
                .list_webhook_inbox(&environment_id, &connection_id, 10)
                .await
                .expect("inbox")
                .iter()
                .all(|entry| entry.status == InboxStatus::Processed)
        }
    })
    .await;
    let entries = app
        .demo
        .store
        .list_webhook_inbox(&environment_id, &connection_id, 10)
        .await
        .expect("inbox");
    let counts: BTreeMap<(u64, u64), usize> =
        entries.iter().fold(BTreeMap::new(), |mut counts, entry| {
            *counts.entry((entry.events, entry.duplicates)).or_default() += 1;
            counts
        });
    assert_eq!(
        counts,
        BTreeMap::from([((0, 1), 1), ((1, 0), 1)]),
        "one delivery processed, its duplicate dropped: {entries:?}"
    );
    assert_eq!(feed_for(&app, "hubspot", &remote_id).await, ["created"]);
}

/// With 30% of the vendor's webhooks dropped and the rest duplicated and reordered, every change
/// still reaches the outbound endpoint exactly once (by `webhook-id`, and one event per
/// change) by the end of the sync's next run: the webhooks carry what arrived, the run (one
/// reconciliation interval) what was dropped, and the record store's hashes keep either from
/// announcing a change twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_duplicated_and_reordered_webhooks_still_give_every_change_once() {
    let app = helpers::spawn_app_with(cli::demo::Options {
        registry: vec![simulators::Entry::of::<Pipedrive>()],
        ..cli::demo::Options::tests()
    })
    .await;
    let connection = app.connection("pipedrive");
    // The sync's first run reads everything before anyone listens.
    let (status, sync) = app
        .call(
            Method::POST,
            "/syncs",
            Some(json!({"connection_id": connection, "object": "contacts", "every_secs": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sync}");
    let sync_id = sync["id"].as_str().expect("id").to_owned();
    run_until(&app, || sync_done(&app, &sync_id)).await;
    let (receiver, outbound) = Receiver::start().await;
    create_endpoint(&app, &outbound).await;
    let (url, secret) = make_ingress(&app, "pipedrive", None).await;
    let webhooks = app.handle::<Pipedrive>().webhooks().clone();
    webhooks.subscribe(Subscription {
        url,
        secret,
        username: Some("crosswalk".to_owned()),
    });
    webhooks.set_faults(
        WebhookFaults {
            drop_percent: 30,
            duplicate_percent: 50,
            hold: true,
            reorder: true,
        },
        11,
    );
    // Ten new contacts and ten changed ones.
    let mut created = Vec::new();
    for idx in 0..10 {
        created.push(create_contact(&app, "pipedrive", &format!("Lossy {idx}")).await);
    }
    let existing: Vec<String> = app
        .handle::<Pipedrive>()
        .ids("persons")
        .into_iter()
        .filter(|id| !created.contains(id))
        .take(10)
        .collect();
    for id in &existing {
        let (status, updated) = app
            .call(
                Method::PATCH,
                &format!("/unified/crm/contacts/{id}?connection_id={connection}"),
                Some(json!({"last_name": "Changed"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
    }
    webhooks.flush().await;
    let dropped = webhooks.dropped().len();
    let sent = webhooks.sent().len();
    assert!(dropped > 0, "some deliveries are dropped");
    assert!(
        sent > 20 - dropped,
        "some deliveries are duplicated: {sent} sent, {dropped} dropped"
    );
    // The webhooks that arrived are processed; then the sync's next run catches the rest.
    let environment_id = environment_of(&app, "pipedrive").await;
    let connection_id = ConnectionId::parse(&connection).expect("id");
    run_until(&app, || {
        let store = Arc::clone(&app.demo.store);
        let environment_id = environment_id.clone();
        let connection_id = connection_id.clone();
        async move {
            store
                .list_webhook_inbox(&environment_id, &connection_id, 100)
                .await
                .expect("inbox")
                .iter()
                .all(|entry| entry.status == InboxStatus::Processed)
        }
    })
    .await;
    let (status, run) = app
        .call(Method::POST, &format!("/syncs/{sync_id}/run"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{run}");
    let expected = |receiver: &Receiver| {
        created
            .iter()
            .all(|id| receiver.events_for(id) == ["crm.contacts.created"])
            && existing
                .iter()
                .all(|id| receiver.events_for(id) == ["crm.contacts.updated"])
    };
    run_until(&app, || {
        let receiver = receiver.clone();
        let done = sync_done(&app, &sync_id);
        let expected = &expected;
        async move { done.await && expected(&receiver) }
    })
    .await;
    let got = receiver.got.lock().expect("lock").clone();
    let ids: std::collections::BTreeSet<&str> =
        got.iter().map(|received| received.id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "every event is delivered once");
    assert_eq!(
        got.iter()
            .filter(|received| received.body["type"]
                .as_str()
                .is_some_and(|kind| kind.starts_with("crm.contacts.")))
            .count(),
        20,
        "one event per change, none more"
    );
}

/// Whether the sync's last run completed and none is under way.
async fn sync_done(app: &TestApp, sync_id: &str) -> bool {
    let (_, sync) = app.get(&format!("/syncs/{sync_id}")).await;
    sync["status"] == json!("done")
}

/// The connection's ingress as `GET …/webhook-ingress` shows it.
async fn ingress_of(app: &TestApp, provider: &str) -> Value {
    let (status, ingress) = app
        .get(&format!(
            "/connections/{}/webhook-ingress",
            app.connection(provider)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{ingress}");
    ingress
}

/// Zoho's notification channel (`/actions/watch`) is Crosswalk's to manage: enabled for the
/// ingress URL with the ingress secret as its echoed token when the ingress is made, feeding
/// the ingress, whose change reaches the change feed and an outbound endpoint; renewed before
/// it expires (the worker's clock moved a day, not slept); deleted when the connection is
/// disconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zoho_channel_is_enabled_on_connect_renewed_before_expiry_and_deleted_on_disconnect() {
    let app = helpers::spawn_app_with(cli::demo::Options {
        registry: vec![simulators::Entry::of::<Zoho>()],
        ..cli::demo::Options::tests()
    })
    .await;
    let zoho = app.handle::<Zoho>().clone();
    let clock = Clock::default();
    let (receiver, outbound) = Receiver::start().await;
    create_endpoint(&app, &outbound).await;
    assert!(zoho.watch().is_none());
    let (url, secret) = make_ingress(&app, "zoho", None).await;
    assert!(
        secret.len() <= 50,
        "Zoho echoes tokens of 50 characters at most"
    );
    assert_eq!(
        ingress_of(&app, "zoho").await["subscription"]["status"],
        json!("pending")
    );
    run_until_on(&app, &clock, || {
        let zoho = zoho.clone();
        async move { zoho.watch().is_some() }
    })
    .await;
    let watch = zoho.watch().expect("a channel");
    assert_eq!(watch.notify_url, url);
    assert_eq!(watch.token.as_deref(), Some(secret.as_str()));
    assert_eq!(watch.updates, 0);
    assert!(watch.events.contains(&"Contacts.all".to_owned()));
    let lifetime = watch.channel_expiry - chrono::Utc::now();
    assert!(
        lifetime > chrono::TimeDelta::hours(23) && lifetime <= chrono::TimeDelta::hours(24),
        "a day is asked for: {lifetime}"
    );
    let ingress = ingress_of(&app, "zoho").await;
    assert_eq!(
        ingress["subscription"]["status"],
        json!("active"),
        "{ingress}"
    );
    assert_eq!(
        ingress["subscription"]["id"],
        json!(watch.channel_id),
        "{ingress}"
    );
    // The channel feeds the ingress: a contact written through the API is notified, verified
    // by its echoed token, and read back into the feed.
    let remote_id = create_contact(&app, "zoho", "Watched").await;
    zoho.webhooks().flush().await;
    let sent = zoho.webhooks().sent();
    assert_eq!(sent.len(), 1, "one notification per change");
    assert_eq!(sent[0].status, Some(204), "{}", sent[0].answer);
    run_until_on(&app, &clock, || {
        let app = &app;
        let remote_id = remote_id.clone();
        let receiver = receiver.clone();
        async move {
            feed_for(app, "zoho", &remote_id).await == ["created"]
                && receiver.events_for(&remote_id) == ["crm.contacts.created"]
        }
    })
    .await;
    // Half an hour before it expires (within the hour's margin), the channel is renewed.
    clock.advance(Duration::from_secs(86_400 - 1_800));
    run_until_on(&app, &clock, || {
        let zoho = zoho.clone();
        async move { zoho.watch().is_some_and(|watch| watch.updates == 1) }
    })
    .await;
    let renewed = zoho.watch().expect("a channel");
    assert_eq!(renewed.channel_id, watch.channel_id);
    assert_eq!(renewed.notify_url, url);
    assert!(
        renewed.channel_expiry > watch.channel_expiry,
        "{} then {}",
        watch.channel_expiry,
        renewed.channel_expiry
    );
    let ingress = ingress_of(&app, "zoho").await;
    let shown: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(ingress["subscription"]["expires_at"].clone()).expect("a time");
    assert_eq!(shown, renewed.channel_expiry, "{ingress}");
    // Nothing more before the next renewal is due.
    assert_eq!(zoho.watch().map(|watch| watch.updates), Some(1));
    // Disconnecting deletes the channel at Zoho first.
    let (status, answer) = app
        .call(
            Method::DELETE,
            &format!("/connections/{}", app.connection("zoho")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    assert!(zoho.watch().is_none(), "the channel is deleted");
    assert!(zoho.webhooks().subscription().is_none());
}

/// Pipedrive's webhook (`POST /api/v1/webhooks`, basic auth with the ingress secret) is made
/// when the ingress is made, and deleted when the ingress is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipedrive_webhook_is_made_with_the_ingress_and_deleted_with_it() {
    let app = helpers::spawn_app_with(cli::demo::Options {
        registry: vec![simulators::Entry::of::<Pipedrive>()],
        ..cli::demo::Options::tests()
    })
    .await;
    let webhooks = app.handle::<Pipedrive>().webhooks().clone();
    let (url, secret) = make_ingress(&app, "pipedrive", None).await;
    run_until(&app, || {
        let webhooks = webhooks.clone();
        async move { webhooks.subscription().is_some() }
    })
    .await;
    assert_eq!(
        webhooks.subscription(),
        Some(Subscription {
            url,
            secret,
            username: Some("crosswalk".to_owned()),
        })
    );
    let ingress = ingress_of(&app, "pipedrive").await;
    assert_eq!(
        ingress["subscription"]["status"],
        json!("active"),
        "{ingress}"
    );
    assert_eq!(ingress["subscription"]["id"], json!("1"), "{ingress}");
    assert_eq!(
        ingress["subscription"]["expires_at"],
        Value::Null,
        "Pipedrive's webhooks do not expire"
    );
    // Deliveries arrive and are accepted.
    create_contact(&app, "pipedrive", "Subscribed").await;
    webhooks.flush().await;
    assert_eq!(
        webhooks.sent().last().and_then(|sent| sent.status),
        Some(204)
    );
    let (status, answer) = app
        .call(
            Method::DELETE,
            &format!(
                "/connections/{}/webhook-ingress",
                app.connection("pipedrive")
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    assert!(
        webhooks.subscription().is_none(),
        "the webhook is deleted at Pipedrive"
    );
}

/// Webhooks quiet for `stale_after` expected intervals are stale: a `connection.webhooks_stale`
/// event (to outbound endpoints too) and the connection's sync runs at once instead of a day
/// later; a delivery then ends it with `connection.webhooks_resumed`. Time is moved, not slept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quiet_webhooks_are_stale_with_an_event_and_a_faster_poll() {
    let app = helpers::spawn_app_with(cli::demo::Options {
        registry: vec![simulators::Entry::of::<Pipedrive>()],
        ..cli::demo::Options::tests()
    })
    .await;
    let connection = app.connection("pipedrive");
    let environment_id = environment_of(&app, "pipedrive").await;
    let connection_id = ConnectionId::parse(&connection).expect("id");
    // The environment expects Pipedrive to deliver every 10 minutes; three quiet ones are stale.
    let (status, answer) = app
        .call(
            Method::PUT,
            "/environment/overrides/pipedrive",
            Some(json!({"webhooks": {"expected_interval_secs": 600, "stale_after": 3}})),
        )
        .await;
    assert!(status.is_success(), "{answer}");
    let (receiver, outbound) = Receiver::start().await;
    let (status, created) = app
        .call(
            Method::POST,
            "/webhooks/endpoints",
            Some(json!({"url": outbound, "event_types": ["connection.*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, sync) = app
        .call(
            Method::POST,
            "/syncs",
            Some(json!({"connection_id": connection, "object": "contacts", "every_secs": 86400})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sync}");
    let sync_id = sync["id"].as_str().expect("id").to_owned();
    let completed = || {
        let store = Arc::clone(&app.demo.store);
        let environment_id = environment_id.clone();
        let connection_id = connection_id.clone();
        async move {
            store
                .list_events(
                    &environment_id,
                    Some(&connection_id),
                    Some("sync.completed"),
                )
                .await
                .expect("events")
                .len()
        }
    };
    let clock = Clock::default();
    run_until_on(&app, &clock, || async {
        completed().await == 1 && sync_done(&app, &sync_id).await
    })
    .await;
    let (url, secret) = make_ingress(&app, "pipedrive", None).await;
    let webhooks = app.handle::<Pipedrive>().webhooks().clone();
    run_until_on(&app, &clock, || {
        let webhooks = webhooks.clone();
        async move { webhooks.subscription().is_some() }
    })
    .await;
    let kinds = || {
        let store = Arc::clone(&app.demo.store);
        let environment_id = environment_id.clone();
        let connection_id = connection_id.clone();
        async move {
            store
                .list_events(&environment_id, Some(&connection_id), None)
                .await
                .expect("events")
                .into_iter()
                .map(|event| event.kind)
                .filter(|kind| kind.starts_with("connection.webhooks_"))
                .collect::<Vec<_>>()
        }
    };
    assert!(kinds().await.is_empty(), "fresh webhooks are not stale");
    // Thirty-one quiet minutes: stale, announced once, and the sync runs now (not in a day).
    clock.advance(Duration::from_secs(31 * 60));
    run_until_on(&app, &clock, || async {
        completed().await == 2
            && sync_done(&app, &sync_id).await
            && !receiver.events_of("connection.webhooks_stale").is_empty()
    })
    .await;
    assert_eq!(kinds().await, ["connection.webhooks_stale"]);
    let stale = receiver.events_of("connection.webhooks_stale");
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_eq!(stale[0]["data"]["connection_id"], json!(connection));
    assert_eq!(stale[0]["data"]["expected_interval_secs"], json!(600));
    // Ten more quiet minutes: still stale, no second event, another sync run.
    clock.advance(Duration::from_secs(10 * 60));
    run_until_on(&app, &clock, || async {
        completed().await == 3 && sync_done(&app, &sync_id).await
    })
    .await;
    assert_eq!(kinds().await, ["connection.webhooks_stale"]);
    // A delivery arrives: at the next check the webhooks are live again.
    assert_eq!(
        webhooks
            .subscription()
            .map(|subscription| (subscription.url, subscription.secret)),
        Some((url, secret))
    );
    create_contact(&app, "pipedrive", "Heard").await;
    webhooks.flush().await;
    assert_eq!(
        webhooks.sent().last().and_then(|sent| sent.status),
        Some(204)
    );
    clock.advance(Duration::from_secs(10 * 60));
    run_until_on(&app, &clock, || async {
        kinds().await == ["connection.webhooks_stale", "connection.webhooks_resumed"]
    })
    .await;
}

/// Processed deliveries and their event ids stay in the inbox for the 7 days duplicates are
/// dropped in; the scheduled purge removes them after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_is_purged_after_its_retention_on_a_schedule() {
    let app = helpers::spawn_app_with(cli::demo::Options {
        registry: vec![simulators::Entry::of::<Pipedrive>()],
        ..cli::demo::Options::tests()
    })
    .await;
    let environment_id = environment_of(&app, "pipedrive").await;
    let connection_id = ConnectionId::parse(&app.connection("pipedrive")).expect("id");
    let (url, secret) = make_ingress(&app, "pipedrive", None).await;
    let webhooks = app.handle::<Pipedrive>().webhooks().clone();
    webhooks.subscribe(Subscription {
        url,
        secret,
        username: Some("crosswalk".to_owned()),
    });
    create_contact(&app, "pipedrive", "Kept a week").await;
    webhooks.flush().await;
    let store = Arc::clone(&app.demo.store);
    let inbox = || {
        let store = Arc::clone(&store);
        let environment_id = environment_id.clone();
        let connection_id = connection_id.clone();
        async move {
            store
                .list_webhook_inbox(&environment_id, &connection_id, 100)
                .await
                .expect("inbox")
        }
    };
    run_until(&app, || async {
        let entries = inbox().await;
        !entries.is_empty()
            && entries
                .iter()
                .all(|entry| entry.status == InboxStatus::Processed)
    })
    .await;
    assert_eq!(inbox().await.len(), 1);
    let clock = Clock::default();
    // One pass of the schedule (its stop is already due) six days on: kept.
    clock.advance(Duration::from_secs(6 * 86_400));
    server::purge_inbox_every(
        Arc::clone(&store),
        clock.clone(),
        Duration::from_millis(10),
        server::INBOX_RETENTION,
        std::future::ready(()),
    )
    .await;
    assert_eq!(
        inbox().await.len(),
        1,
        "within the retention the delivery stays"
    );
    // Two more days: the schedule, ticking every 10 ms, removes it.
    clock.advance(Duration::from_secs(2 * 86_400));
    let (stop, _) = tokio::sync::watch::channel(false);
    let mut stopped = stop.subscribe();
    let purging = server::purge_inbox_every(
        Arc::clone(&store),
        clock.clone(),
        Duration::from_millis(10),
        server::INBOX_RETENTION,
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        },
    );
    let watch = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !inbox().await.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the purge did not run"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send_replace(true);
    };
    tokio::join!(purging, watch);
}

/// Close's webhook subscription (`POST /api/v1/webhook/`) is made when the ingress is made; the
/// signature key Close answers with becomes the ingress's secret. A change's delivery, signed
/// with `close-sig-hash` over `close-sig-timestamp` and the body, reaches the change feed and
/// an outbound endpoint; a forged signature and an old timestamp get 401 and leave nothing;
/// disconnecting deletes the subscription at Close.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_webhook_is_subscribed_signed_verified_and_deleted_on_disconnect() {
    use simulators::close::Close;
    let app = helpers::spawn_app_with(cli::demo::Options {
        registry: vec![simulators::Entry::of::<Close>()],
        ..cli::demo::Options::tests()
    })
    .await;
    let (receiver, outbound) = Receiver::start().await;
    create_endpoint(&app, &outbound).await;
    let close = app.handle::<Close>().clone();
    let (url, generated) = make_ingress(&app, "closecrm", None).await;
    assert!(generated.is_empty(), "Close chooses the signing key");
    // Active once the job has kept Close's key as the ingress's secret.
    run_until(&app, || {
        let app = &app;
        async move { ingress_of(app, "closecrm").await["subscription"]["status"] == json!("active") }
    })
    .await;
    let subscription = close.webhooks().subscription().expect("subscribed");
    assert_eq!(subscription.url, url);
    let ingress = ingress_of(&app, "closecrm").await;
    assert_eq!(
        ingress["subscription"]["status"],
        json!("active"),
        "{ingress}"
    );
    assert_eq!(
        ingress["subscription"]["id"],
        json!(close.webhook_subscription()),
        "{ingress}"
    );
    assert!(
        !ingress.to_string().contains(&subscription.secret),
        "the key is not shown: {ingress}"
    );

    // A contact written through the API: Close's signed delivery is verified and read back.
    let remote_id = create_contact(&app, "closecrm", "Signed").await;
    close.webhooks().flush().await;
    let sent = close.webhooks().sent();
    // A contact written without a lead gets a new lead: two events, two deliveries.
    let contact = sent
        .iter()
        .find(|sent| String::from_utf8_lossy(&sent.delivery.body).contains(&remote_id))
        .expect("the contact's delivery");
    assert!(
        sent.iter().all(|sent| sent.status == Some(204)),
        "every delivery accepted: {sent:?}"
    );
    let names: Vec<&str> = contact
        .delivery
        .headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        names.contains(&"close-sig-hash") && names.contains(&"close-sig-timestamp"),
        "{names:?}"
    );
    run_until(&app, || {
        let receiver = receiver.clone();
        let remote_id = remote_id.clone();
        let app = &app;
        async move {
            feed_for(app, "closecrm", &remote_id).await == ["created"]
                && receiver.events_for(&remote_id) == ["crm.contacts.created"]
        }
    })
    .await;

    // Forged and old deliveries of the same event are refused and leave nothing behind.
    let environment_id = environment_of(&app, "closecrm").await;
    let connection_id = ConnectionId::parse(&app.connection("closecrm")).expect("id");
    let store: &dyn Store = app.demo.store.as_ref();
    let inbox_before = store
        .list_webhook_inbox(&environment_id, &connection_id, 100)
        .await
        .expect("inbox")
        .len();
    let jobs_before = store
        .list_jobs(&environment_id, Some(&connection_id), 1000)
        .await
        .expect("jobs")
        .iter()
        .filter(|job| job.kind == INBOUND_JOB_KIND)
        .count();
    let body = json!({"subscription_id": close.webhook_subscription(), "event": {
        "id": "ev_forged", "object_type": "contact", "object_id": remote_id, "action": "updated"}})
    .to_string();
    let key: Vec<u8> = (0..subscription.secret.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&subscription.secret[at..at + 2], 16).expect("hex"))
        .collect();
    let post = |signature: String, timestamp: i64| {
        let client = app.client.clone();
        let url = url.clone();
        let body = body.clone();
        async move {
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .header("close-sig-hash", signature)
                .header("close-sig-timestamp", timestamp.to_string())
                .body(body)
                .send()
                .await
                .expect("the ingress answers");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let now = chrono::Utc::now().timestamp();
    let signed =
        |at: i64, key: &[u8]| simulators::close::sign(key, format!("{at}{body}").as_bytes());
    let (status, answer) = post(signed(now, b"not-the-key"), now).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["code"], json!("webhook_unverified"), "{answer}");
    let old = now - 10 * 60;
    let (status, answer) = post(signed(old, &key), old).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("timestamp")),
        "{answer}"
    );
    assert_eq!(
        store
            .list_webhook_inbox(&environment_id, &connection_id, 100)
            .await
            .expect("inbox")
            .len(),
        inbox_before,
        "nothing in the inbox"
    );
    assert_eq!(
        store
            .list_jobs(&environment_id, Some(&connection_id), 1000)
            .await
            .expect("jobs")
            .iter()
            .filter(|job| job.kind == INBOUND_JOB_KIND)
            .count(),
        jobs_before,
        "no processing job"
    );
    // The same body signed right now is accepted (the key is the one Close chose).
    let (status, answer) = post(signed(now, &key), now).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");

    // Disconnecting deletes the subscription at Close first.
    let (status, answer) = app
        .call(
            Method::DELETE,
            &format!("/connections/{}", app.connection("closecrm")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    assert!(close.webhook_subscription().is_none(), "deleted at Close");
    assert!(close.webhooks().subscription().is_none());
}

/// A subscription the vendor fails to delete on disconnect (Close answers 503 to every try of
/// the request that removes the connection) is not left behind: the connection is removed at
/// once (204), and a job that kept a copy of it (credentials sealed) deletes the subscription
/// at Close once Close answers again (the worker's clock moved, not slept).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_the_vendor_fails_to_delete_on_disconnect_is_deleted_later() {
    use simulators::close::Close;
    use simulators::faults::{Fault, FaultKind};
    let app = helpers::spawn_app_with(cli::demo::Options {
        registry: vec![simulators::Entry::of::<Close>()],
        ..cli::demo::Options::tests()
    })
    .await;
    let close = app.handle::<Close>().clone();
    let clock = Clock::default();
    make_ingress(&app, "closecrm", None).await;
    run_until_on(&app, &clock, || {
        let app = &app;
        async move { ingress_of(app, "closecrm").await["subscription"]["status"] == json!("active") }
    })
    .await;
    let subscription = close.webhook_subscription().expect("subscribed");
    let environment_id = environment_of(&app, "closecrm").await;
    app.simulator("closecrm").faults().push(Fault {
        kind: FaultKind::Status {
            status: 503,
            body: None,
        },
        path_prefix: Some(format!("/api/v1/webhook/{subscription}/")),
        times: 1_000,
    });
    let (status, answer) = app
        .call(
            Method::DELETE,
            &format!("/connections/{}", app.connection("closecrm")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let (status, _) = app
        .get(&format!("/connections/{}", app.connection("closecrm")))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the connection is gone");
    assert_eq!(
        close.webhook_subscription().as_deref(),
        Some(subscription.as_str()),
        "Close refused the deletion"
    );
    let store: &dyn Store = app.demo.store.as_ref();
    let jobs = store
        .list_jobs(&environment_id, None, 1_000)
        .await
        .expect("jobs");
    let retry = jobs
        .iter()
        .find(|job| job.kind == "webhook.subscription" && job.connection_id.is_none())
        .expect("a job retries the deletion");
    let kept = retry.payload.to_string();
    assert!(
        !kept.contains(&close.webhooks().subscription().expect("still there").secret),
        "the job keeps no key in plaintext"
    );
    // Close answers again; the retry is due half a minute later.
    app.simulator("closecrm").faults().clear();
    clock.advance(Duration::from_secs(60));
    run_until_on(&app, &clock, || {
        let close = close.clone();
        async move { close.webhook_subscription().is_none() }
    })
    .await;
    assert!(close.webhooks().subscription().is_none());
}

/// An outbound endpoint for HRIS events.
async fn create_hris_endpoint(app: &TestApp, url: &str) {
    let (status, created) = app
        .call(
            Method::POST,
            "/webhooks/endpoints",
            Some(json!({"url": url, "event_types": ["hris.*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

/// The connection's inbox entries and `webhook.inbound` jobs: what a refused delivery must
/// not add to.
async fn left_behind(app: &TestApp, provider: &str) -> (usize, usize) {
    let environment_id = environment_of(app, provider).await;
    let connection_id = ConnectionId::parse(&app.connection(provider)).expect("id");
    let store: &dyn Store = app.demo.store.as_ref();
    let inbox = store
        .list_webhook_inbox(&environment_id, &connection_id, 1000)
        .await
        .expect("inbox")
        .len();
    let jobs = store
        .list_jobs(&environment_id, Some(&connection_id), 1000)
        .await
        .expect("jobs")
        .iter()
        .filter(|job| job.kind == INBOUND_JOB_KIND)
        .count();
    (inbox, jobs)
}

/// Posts `body` with `headers` to `url`: the status and the problem, if any.
async fn post_raw(
    app: &TestApp,
    url: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("the ingress answers");
    let status = response.status();
    (
        status,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

/// BambooHR's webhook is made through its API (`POST /api/v1/webhooks`) when the ingress is
/// made; the private key its answer carries, once, becomes the ingress's secret. An employee
/// created and then changed through the unified API makes BambooHR send `employee.created`,
/// `employee.updated` (signed with `X-BambooHR-Signature` over the body and
/// `X-BambooHR-Timestamp`), which reach the change feed and an outbound endpoint once per
/// change; a forged signature and a replayed old timestamp get 401 and leave nothing behind;
/// disconnecting deletes the webhook at BambooHR.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bamboohr_webhook_is_made_signed_verified_and_deleted_on_disconnect() {
    use simulators::bamboohr::BambooHr;
    let app = helpers::spawn_app_with(cli::demo::Options {
        registry: vec![simulators::Entry::of::<BambooHr>()],
        ..cli::demo::Options::tests()
    })
    .await;
    let (receiver, outbound) = Receiver::start().await;
    create_hris_endpoint(&app, &outbound).await;
    let bamboo = app.handle::<BambooHr>().clone();
    let connection = app.connection("bamboohr");
    let (url, generated) = make_ingress(&app, "bamboohr", None).await;
    assert!(generated.is_empty(), "BambooHR makes the private key");
    run_until(&app, || {
        let app = &app;
        async move { ingress_of(app, "bamboohr").await["subscription"]["status"] == json!("active") }
    })
    .await;
    let subscription = bamboo.webhooks().subscription().expect("subscribed");
    assert_eq!(subscription.url, url);
    let ingress = ingress_of(&app, "bamboohr").await;
    assert_eq!(ingress["verification"], json!("hmac"), "{ingress}");
    assert_eq!(
        ingress["subscription"]["id"],
        json!(bamboo.webhook_id()),
        "{ingress}"
    );
    assert!(
        !ingress.to_string().contains(&subscription.secret),
        "the private key is not shown: {ingress}"
    );
    assert!(
        bamboo
            .webhook_monitor_fields()
            .is_some_and(|fields| fields.iter().any(|field| field == "jobTitle")),
        "the webhook monitors the fields the connector reads"
    );

    // An employee created through the API: BambooHR's signed deliveries are verified, and the
    // employee is read back.
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/hris/employees?connection_id={connection}"),
            Some(json!({"first_name": "Ada", "last_name": "Webhook", "job_title": "Analyst"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let remote_id = created["id"].as_str().expect("an id").to_owned();
    bamboo.webhooks().flush().await;
    let sent = bamboo.webhooks().sent();
    // Sent one after the other, answered in either order.
    let mut types: Vec<String> = sent
        .iter()
        .map(|sent| {
            serde_json::from_slice::<Value>(&sent.delivery.body).expect("JSON")["type"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        ["employee.created", "employee.updated"],
        "created, then initialised"
    );
    assert!(
        sent.iter().all(|sent| sent.status == Some(204)),
        "every delivery accepted: {sent:?}"
    );
    let names: Vec<&str> = sent[0]
        .delivery
        .headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        names.contains(&"X-BambooHR-Signature") && names.contains(&"X-BambooHR-Timestamp"),
        "{names:?}"
    );
    run_until(&app, || {
        let receiver = receiver.clone();
        let remote_id = remote_id.clone();
        let app = &app;
        async move {
            feed_for(app, "bamboohr", &remote_id).await == ["created"]
                && receiver.events_for(&remote_id) == ["hris.employees.created"]
        }
    })
    .await;
    // A change of a monitored field is one more change.
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/unified/hris/employees/{remote_id}?connection_id={connection}"),
            Some(json!({"job_title": "Lead analyst"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    bamboo.webhooks().flush().await;
    run_until(&app, || {
        let receiver = receiver.clone();
        let remote_id = remote_id.clone();
        let app = &app;
        async move {
            feed_for(app, "bamboohr", &remote_id).await == ["created", "updated"]
                && receiver.events_for(&remote_id)
                    == ["hris.employees.created", "hris.employees.updated"]
        }
    })
    .await;

    // A forged signature and an old timestamp are refused and leave nothing behind.
    let before = left_behind(&app, "bamboohr").await;
    let body = json!({"type": "employee.updated", "timestamp": "2026-12-07T09:00:00Z",
        "data": {"companyId": "48213", "employeeId": remote_id, "changedFields": ["jobTitle"]}})
    .to_string();
    let signed = |key: &str, at: i64| {
        vec![
            (
                "X-BambooHR-Signature",
                simulators::webhooks::hmac_sha256_hex(
                    key.as_bytes(),
                    format!("{body}{at}").as_bytes(),
                ),
            ),
            ("X-BambooHR-Timestamp", at.to_string()),
        ]
    };
    let now = chrono::Utc::now().timestamp();
    let (status, answer) = post_raw(&app, &url, &signed("not-the-key", now), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["code"], json!("webhook_unverified"), "{answer}");
    let old = now - 10 * 60;
    let (status, answer) = post_raw(&app, &url, &signed(&subscription.secret, old), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("timestamp")),
        "{answer}"
    );
    assert_eq!(
        left_behind(&app, "bamboohr").await,
        before,
        "no inbox entry, no job"
    );
    let codes: Vec<Value> = ingress_of(&app, "bamboohr").await["failure_samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|sample| sample["code"].clone())
        .collect();
    assert_eq!(
        codes,
        [json!("stale_timestamp"), json!("bad_signature")],
        "both refusals sampled, newest first"
    );
    // The same body signed now with the private key is accepted.
    let (status, answer) = post_raw(&app, &url, &signed(&subscription.secret, now), &body).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");

    // Disconnecting deletes the webhook at BambooHR first.
    let (status, answer) = app
        .call(Method::DELETE, &format!("/connections/{connection}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    assert!(bamboo.webhook_id().is_none(), "deleted at BambooHR");
    assert!(bamboo.webhooks().subscription().is_none());
}

/// HiBob's webhooks are set up in Bob, which makes the signing secret: making the ingress
/// requires it (a generated one would verify nothing). Saving the webhook in Bob sends the
/// `Ping test`, answered 2xx with no change. An employee created and changed and a time-off
/// request submitted through the unified API make Bob send v2 events signed with
/// `Bob-Signature`, which reach the change feed and an outbound endpoint once per change. A
/// forged signature gets 401 and leaves nothing behind. Bob's deliveries carry no timestamp
/// header, so a replayed delivery cannot be refused by its age: it verifies, and is dropped
/// as a duplicate of its event (no change).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hibob_webhook_with_the_customers_secret_is_pinged_signed_and_verified() {
    use simulators::hibob::HiBob;
    let app = helpers::spawn_app_with(cli::demo::Options {
        registry: vec![simulators::Entry::of::<HiBob>()],
        ..cli::demo::Options::tests()
    })
    .await;
    let (receiver, outbound) = Receiver::start().await;
    create_hris_endpoint(&app, &outbound).await;
    let bob = app.handle::<HiBob>().clone();
    let connection = app.connection("hibob");
    // Without the secret Bob made, no ingress.
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/connections/{connection}/webhook-ingress"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], json!("secret"), "{problem}");
    let secret = "bob-made-this-secret-7f3a";
    let (url, _) = make_ingress(&app, "hibob", Some(secret)).await;
    assert_eq!(
        ingress_of(&app, "hibob").await["verification"],
        json!("hmac")
    );

    // Saving the webhook in Bob pings it: answered 2xx, nothing changes.
    bob.set_up_webhook(&url, secret);
    bob.webhooks().flush().await;
    let sent = bob.webhooks().sent();
    assert_eq!(sent.len(), 1, "the ping");
    assert_eq!(sent[0].status, Some(204), "{}", sent[0].answer);
    let environment_id = environment_of(&app, "hibob").await;
    let connection_id = ConnectionId::parse(&connection).expect("id");
    run_until(&app, || {
        let store = Arc::clone(&app.demo.store);
        let environment_id = environment_id.clone();
        let connection_id = connection_id.clone();
        async move {
            let entries = store
                .list_webhook_inbox(&environment_id, &connection_id, 10)
                .await
                .expect("inbox");
            entries.len() == 1
                && entries[0].status == InboxStatus::Processed
                && entries[0].events == 0
        }
    })
    .await;
    let (status, changes) = app
        .get(&format!(
            "/changes?after=0&limit=10&connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{changes}");
    assert_eq!(changes["results"], json!([]), "the ping changes nothing");

    // An employee created, then changed, through the API.
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/hris/employees?connection_id={connection}"),
            Some(json!({"first_name": "Ada", "last_name": "Webhook", "work_email": "ada.webhook@samplebob.com",
                "work_location": "London", "start_date": "2026-11-02", "job_title": "Analyst"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let remote_id = created["id"].as_str().expect("an id").to_owned();
    bob.webhooks().flush().await;
    let sent = bob.webhooks().sent();
    let created_delivery = sent.last().expect("a delivery").clone();
    assert_eq!(
        created_delivery.status,
        Some(204),
        "{}",
        created_delivery.answer
    );
    let event: Value = serde_json::from_slice(&created_delivery.delivery.body).expect("JSON");
    assert_eq!(event["type"], json!("employee.created"), "{event}");
    assert_eq!(event["data"]["employeeId"], json!(remote_id), "{event}");
    assert!(
        created_delivery
            .delivery
            .headers
            .iter()
            .any(|(name, _)| name == "Bob-Signature"),
        "{created_delivery:?}"
    );
    run_until(&app, || {
        let receiver = receiver.clone();
        let remote_id = remote_id.clone();
        let app = &app;
        async move {
            feed_for(app, "hibob", &remote_id).await == ["created"]
                && receiver.events_for(&remote_id) == ["hris.employees.created"]
        }
    })
    .await;
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/unified/hris/employees/{remote_id}?connection_id={connection}"),
            Some(json!({"job_title": "Lead analyst"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    // A time-off request of the employee.
    let (status, request) = app
        .call(
            Method::POST,
            &format!("/unified/hris/time_off_requests?connection_id={connection}"),
            Some(json!({"employee_id": remote_id, "policy_id": "Holiday",
                "start_date": "2026-12-21", "end_date": "2026-12-23"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let request_id = request["id"].as_str().expect("an id").to_owned();
    bob.webhooks().flush().await;
    run_until(&app, || {
        let receiver = receiver.clone();
        let remote_id = remote_id.clone();
        let request_id = request_id.clone();
        let app = &app;
        async move {
            feed_for(app, "hibob", &remote_id).await == ["created", "updated"]
                && receiver.events_for(&remote_id)
                    == ["hris.employees.created", "hris.employees.updated"]
                && feed_for(app, "hibob", &request_id).await == ["created"]
                && receiver.events_for(&request_id) == ["hris.time_off_requests.created"]
        }
    })
    .await;

    // A forged signature is refused and leaves nothing behind.
    let before = left_behind(&app, "hibob").await;
    let body = String::from_utf8(created_delivery.delivery.body.clone()).expect("UTF-8");
    let forged = simulators::webhooks::hmac_sha512_base64(b"not-the-secret", body.as_bytes());
    let (status, answer) = post_raw(&app, &url, &[("Bob-Signature", forged)], &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["code"], json!("webhook_unverified"), "{answer}");
    let tampered = body.replace("employee.created", "employee.deleted");
    let original = simulators::webhooks::hmac_sha512_base64(secret.as_bytes(), body.as_bytes());
    let (status, _) = post_raw(
        &app,
        &url,
        &[("Bob-Signature", original.clone())],
        &tampered,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a body changed after signing"
    );
    assert_eq!(
        left_behind(&app, "hibob").await,
        before,
        "no inbox entry, no job"
    );
    // No timestamp to refuse a replay by: the old delivery verifies, and its event is dropped
    // as a duplicate, with no change.
    let (status, answer) = post_raw(&app, &url, &[("Bob-Signature", original)], &body).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    run_until(&app, || {
        let store = Arc::clone(&app.demo.store);
        let environment_id = environment_id.clone();
        let connection_id = connection_id.clone();
        async move {
            store
                .list_webhook_inbox(&environment_id, &connection_id, 1)
                .await
                .expect("inbox")
                .first()
                .is_some_and(|entry| {
                    entry.status == InboxStatus::Processed && entry.duplicates == 1
                })
        }
    })
    .await;
    assert_eq!(
        feed_for(&app, "hibob", &remote_id).await,
        ["created", "updated"]
    );
}

/// An OAuth connection's subscription whose deletion was refused on disconnect is deleted
/// later even when the vendor says by then that the access token expired: the kept copy's
/// refresh token is exchanged for a new access token (in memory: the connection is gone) and
/// the deletion is sent again with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_oauth_connection_refreshes_its_token_to_delete_its_subscription_later() {
    use simulators::faults::{Fault, FaultKind};
    let ZohoOAuth {
        app,
        zoho,
        clock,
        environment_id,
        connection_id,
        access_token: _,
        refresh_token,
    } = zoho_subscribed_with_a_refresh_token().await;
    let store: &dyn Store = app.demo.store.as_ref();
    let channel = zoho.watch().expect("a channel").channel_id;
    app.simulator("zoho").faults().push(Fault {
        kind: FaultKind::Status {
            status: 503,
            body: None,
        },
        path_prefix: Some("/crm/v8/actions/watch".to_owned()),
        times: 1_000,
    });
    let (status, answer) = app
        .call(
            Method::DELETE,
            &format!("/connections/{connection_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let (status, _) = app.get(&format!("/connections/{connection_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the connection is gone");
    assert_eq!(
        zoho.watch().map(|watch| watch.channel_id),
        Some(channel),
        "Zoho refused the deletion"
    );
    let jobs = store
        .list_jobs(&environment_id, None, 1_000)
        .await
        .expect("jobs");
    let kept = jobs
        .iter()
        .find(|job| job.kind == "webhook.subscription" && job.connection_id.is_none())
        .expect("a job retries the deletion")
        .payload
        .to_string();
    assert!(
        !kept.contains(&refresh_token),
        "the job keeps no refresh token in plaintext"
    );
    // By the retry the access token has expired (the refresh token still works), and Zoho
    // answers again.
    let refreshes = zoho.oauth().refresh_requests();
    zoho.oauth().expire_access_tokens();
    app.simulator("zoho").faults().clear();
    clock.advance(Duration::from_secs(60));
    run_until_on(&app, &clock, || {
        let zoho = zoho.clone();
        async move { zoho.watch().is_none() }
    })
    .await;
    assert!(zoho.webhooks().subscription().is_none());
    assert_eq!(
        zoho.oauth().refresh_requests(),
        refreshes + 1,
        "one refresh made the deletion possible"
    );
}

/// Tokens a retried deletion refreshed for a deleted connection are kept (sealed) in its job:
/// a try that refreshed and then failed leaves the next try the new token, not the dead one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_connection_s_refreshed_token_is_kept_for_the_next_try() {
    use simulators::faults::{Fault, FaultKind};
    let ZohoOAuth {
        app,
        zoho,
        clock,
        environment_id,
        connection_id,
        access_token,
        refresh_token: _,
    } = zoho_subscribed_with_a_refresh_token().await;
    let store: &dyn Store = app.demo.store.as_ref();
    let unavailable = || Fault {
        kind: FaultKind::Status {
            status: 503,
            body: None,
        },
        path_prefix: Some("/crm/v8/actions/watch".to_owned()),
        times: 1_000,
    };
    app.simulator("zoho").faults().push(unavailable());
    let (status, answer) = app
        .call(
            Method::DELETE,
            &format!("/connections/{connection_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let retry_attempts = || async {
        store
            .list_jobs(&environment_id, None, 1_000)
            .await
            .expect("jobs")
            .into_iter()
            .find(|job| job.kind == "webhook.subscription" && job.connection_id.is_none())
            .map(|job| job.attempts)
    };
    let before = retry_attempts().await.expect("a job retries the deletion");
    // The next try finds the token dead (Zoho's answer to it), refreshes, and is refused again.
    let refreshes = zoho.oauth().refresh_requests();
    assert!(zoho.oauth().revoke(&access_token));
    let faults = app.simulator("zoho").faults();
    faults.clear();
    faults.push(Fault {
        kind: FaultKind::Status {
            status: 401,
            body: Some(json!({"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"})),
        },
        path_prefix: Some("/crm/v8/actions/watch".to_owned()),
        times: 1,
    });
    // Refused without a 5xx, so that the circuit breaker stays closed for the next try.
    faults.push(Fault {
        kind: FaultKind::Status {
            status: 400,
            body: Some(json!({"code": "INVALID_DATA", "details": {}, "message": "refused", "status": "error"})),
        },
        path_prefix: Some("/crm/v8/actions/watch".to_owned()),
        times: 1_000,
    });
    clock.advance(Duration::from_secs(3_600));
    run_until_on(&app, &clock, || async {
        retry_attempts()
            .await
            .is_some_and(|attempts| attempts > before)
    })
    .await;
    assert_eq!(zoho.oauth().refresh_requests(), refreshes + 1);
    assert!(zoho.watch().is_some(), "Zoho refused the deletion again");
    // The try after it uses the refreshed token: no second refresh.
    app.simulator("zoho").faults().clear();
    clock.advance(Duration::from_secs(86_400));
    run_until_on(&app, &clock, || {
        let zoho = zoho.clone();
        async move { zoho.watch().is_none() }
    })
    .await;
    assert_eq!(
        zoho.oauth().refresh_requests(),
        refreshes + 1,
        "the kept token served the next try"
    );
}

/// A Zoho CRM demo whose connection holds the tokens of a code grant, refresh token included
/// (the demo's connection has a static token), as the Connect flow would leave them, with the
/// environment's OAuth app they are of, and its ingress made with the subscription active:
/// where the tests of a deleted OAuth connection's subscription start.
struct ZohoOAuth {
    app: TestApp,
    zoho: simulators::zoho::ZohoHandle,
    clock: Clock,
    environment_id: EnvironmentId,
    connection_id: ConnectionId,
    access_token: String,
    refresh_token: String,
}

async fn zoho_subscribed_with_a_refresh_token() -> ZohoOAuth {
    const CLIENT: (&str, &str) = ("1000.ZOHOSIMCLIENT", "zoho-sim-secret");
    const REDIRECT: &str = "http://127.0.0.1/done";
    let app = helpers::spawn_app_with(cli::demo::Options {
        registry: vec![simulators::Entry::of::<Zoho>()],
        ..cli::demo::Options::tests()
    })
    .await;
    let zoho = app.handle::<Zoho>().clone();
    let clock = Clock::default();
    let (status, body) = app
        .call(
            Method::PUT,
            "/environment/oauth-apps/zoho",
            Some(json!({"client_id": CLIENT.0, "client_secret": CLIENT.1, "redirect_uris": [REDIRECT]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = zoho
        .oauth()
        .issue_code(CLIENT.0, REDIRECT, "ZohoCRM.modules.ALL", None);
    let issued = zoho
        .oauth()
        .exchange_code(CLIENT.0, &code, Some(REDIRECT), None)
        .expect("tokens for the code");
    let refresh_token = issued.refresh_token.clone().expect("a refresh token");
    let environment_id = environment_of(&app, "zoho").await;
    let connection_id = ConnectionId::parse(&app.connection("zoho")).expect("a connection id");
    let store: &dyn Store = app.demo.store.as_ref();
    store
        .update_connection(
            &environment_id,
            &connection_id,
            store::ConnectionUpdate {
                credentials: Some(app.demo.state.keyring.seal_json(
                    &json!({"access_token": issued.access_token, "refresh_token": refresh_token}),
                    &server::credentials_aad(&connection_id),
                )),
                credentials_expires_at: Some(Some(
                    chrono::Utc::now() + chrono::TimeDelta::hours(1),
                )),
                ..store::ConnectionUpdate::default()
            },
        )
        .await
        .expect("the connection's tokens");
    make_ingress(&app, "zoho", None).await;
    run_until_on(&app, &clock, || {
        let app = &app;
        async move { ingress_of(app, "zoho").await["subscription"]["status"] == json!("active") }
    })
    .await;
    ZohoOAuth {
        app,
        zoho,
        clock,
        environment_id,
        connection_id,
        access_token: issued.access_token,
        refresh_token,
    }
}
