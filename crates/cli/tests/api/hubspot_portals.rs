//! Two HubSpot portals behind one simulator, each with its own custom properties: connections
//! of one environment see their own portal's fields in records and `/meta`, discovery is cached
//! per connection, and a portal with hundreds of long-named custom properties is read in
//! property chunks that each stay under HubSpot's URL limit.

use cli::demo::Options;
use serde_json::{Value, json};
use simulators::Tweaks;
use simulators::hubspot::{CustomProperty, HubSpot, HubSpotHandle, HubSpotPortal};

use crate::helpers::{TestApp, spawn_app_with};

const SECOND_TOKEN: &str = "second-portal-token";

fn number_property(name: &str, label: &str) -> CustomProperty {
    CustomProperty::new(
        "contacts",
        json!({"name": name, "label": label, "type": "number"}),
    )
}

fn string_property(name: &str) -> CustomProperty {
    CustomProperty::new(
        "contacts",
        json!({"name": name, "label": name, "type": "string"}),
    )
}

fn hubspot(app: &TestApp) -> HubSpotHandle {
    let handle = app.handle::<HubSpot>();
    handle.clone()
}

/// A second HubSpot connection in the demo environment, authorised on portal 1.
async fn second_connection(app: &TestApp) -> String {
    let first = app.connection("hubspot");
    let first_row = app
        .demo
        .store
        .get_connection_by_id(&store::ConnectionId::parse(&first).expect("id"))
        .await
        .expect("row");
    let id = store::ConnectionId::generate();
    let secrets = json!({"private_app_token": SECOND_TOKEN});
    app.demo
        .store
        .insert_connection(store::NewConnection {
            id: id.clone(),
            environment_id: first_row.environment_id.clone(),
            provider: "hubspot".to_owned(),
            status: store::ConnectionStatus::Active,
            account: json!({"auth_scheme": "private_app"}),
            credentials: app
                .demo
                .state
                .keyring
                .seal_json(&secrets, &provider_http::credentials::credentials_aad(&id)),
            credentials_expires_at: None,
        })
        .await
        .expect("a second connection")
        .id
        .to_string()
}

async fn two_portal_app(first: Vec<CustomProperty>, second: Vec<CustomProperty>) -> TestApp {
    let tweaks = Tweaks::default().with::<HubSpot>(move |config| {
        config.custom_properties = first.clone();
        config.portals = vec![HubSpotPortal {
            access_tokens: vec![SECOND_TOKEN.to_owned()],
            custom_properties: second.clone(),
        }];
    });
    spawn_app_with(Options {
        tweaks,
        ..Options::tests()
    })
    .await
}

fn meta_custom(meta: &Value) -> &Value {
    &meta["record_schema"]["properties"]["custom_fields"]["properties"]
}

/// Requests a portal served whose target starts with `prefix`.
fn served(handle: &HubSpotHandle, prefix: &str) -> Vec<String> {
    handle
        .portal_requests()
        .into_iter()
        .filter(|request| request.target.starts_with(prefix))
        .map(|request| request.target)
        .collect()
}

#[tokio::test]
async fn two_hubspot_portals_each_see_their_own_custom_properties() {
    let app = two_portal_app(
        vec![number_property("golf_handicap", "Golf handicap")],
        vec![number_property("shoe_size", "Shoe size")],
    )
    .await;
    let first = app.connection("hubspot");
    let second = second_connection(&app).await;

    let (status, first_meta) = app
        .get(&format!("/unified/crm/contacts/meta?connection_id={first}"))
        .await;
    assert_eq!(status, 200, "{first_meta}");
    let (status, second_meta) = app
        .get(&format!(
            "/unified/crm/contacts/meta?connection_id={second}"
        ))
        .await;
    assert_eq!(status, 200, "{second_meta}");
    assert!(meta_custom(&first_meta).get("golf_handicap").is_some());
    assert!(meta_custom(&first_meta).get("shoe_size").is_none());
    assert!(meta_custom(&second_meta).get("shoe_size").is_some());
    assert!(meta_custom(&second_meta).get("golf_handicap").is_none());
    assert!(
        meta_custom(&first_meta).get("loyalty_tier").is_some()
            && meta_custom(&second_meta).get("loyalty_tier").is_some(),
        "both keep the seeded custom properties"
    );

    for (connection, own, other) in [
        (&first, "golf_handicap", "shoe_size"),
        (&second, "shoe_size", "golf_handicap"),
    ] {
        let (status, page) = app
            .get(&format!(
                "/unified/crm/contacts?connection_id={connection}&page_size=20"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        let records = page["results"].as_array().expect("results");
        assert_eq!(records.len(), 20);
        for record in records {
            let id: u64 = record["remote_id"]
                .as_str()
                .expect("remote_id")
                .parse()
                .expect("numeric");
            assert_eq!(
                record["custom_fields"][own].as_f64(),
                Some((id % 1000) as f64),
                "{own} is typed and present: {record}"
            );
            assert!(record["custom_fields"].get(other).is_none(), "{record}");
        }
        let id = records[0]["id"].as_str().expect("id");
        let (status, one) = app
            .get(&format!(
                "/unified/crm/contacts/{id}?connection_id={connection}"
            ))
            .await;
        assert_eq!(status, 200, "{one}");
        assert!(one["custom_fields"].get(own).is_some(), "{one}");
        assert!(one["custom_fields"].get(other).is_none(), "{one}");
    }
}

#[tokio::test]
async fn each_portals_discovery_is_cached_and_costs_no_call_per_request() {
    let app = two_portal_app(
        vec![number_property("golf_handicap", "Golf handicap")],
        vec![number_property("shoe_size", "Shoe size")],
    )
    .await;
    let connections = [app.connection("hubspot"), second_connection(&app).await];
    for _ in 0..4 {
        for connection in &connections {
            let (status, page) = app
                .get(&format!(
                    "/unified/crm/contacts?connection_id={connection}&page_size=2"
                ))
                .await;
            assert_eq!(status, 200, "{page}");
            let (status, meta) = app
                .get(&format!(
                    "/unified/crm/contacts/meta?connection_id={connection}"
                ))
                .await;
            assert_eq!(status, 200, "{meta}");
        }
    }
    let handle = hubspot(&app);
    for portal in [0, 1] {
        let portal = handle.portal(portal);
        assert_eq!(
            served(&portal, "/crm/v3/properties/contacts").len(),
            1,
            "one discovery per portal, then the cache"
        );
        assert_eq!(
            served(&portal, "/crm/v3/objects/contacts?").len(),
            4,
            "one list call per unified page"
        );
    }
}

/// The query parameter `name` of a request target.
fn query_param(target: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(&format!("http://simulator{target}")).ok()?;
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[tokio::test]
async fn hundreds_of_long_custom_properties_are_read_in_chunks_under_the_url_limit() {
    const URL_LIMIT: usize = 4096;
    let names: Vec<String> = (0..300)
        .map(|idx| format!("customer_success_programme_attribute_{idx:03}"))
        .collect();
    let properties: Vec<CustomProperty> = names.iter().map(|name| string_property(name)).collect();
    let tweaks = Tweaks::default().with::<HubSpot>(move |config| {
        config.max_url_bytes = URL_LIMIT;
        config.custom_properties = properties.clone();
    });
    let app = spawn_app_with(Options {
        tweaks,
        ..Options::tests()
    })
    .await;
    let connection = app.connection("hubspot");
    let handle = hubspot(&app);
    let all_names = names.join(",");
    assert!(
        all_names.len() > URL_LIMIT,
        "one URL could not name them all"
    );

    let mut cursor: Option<String> = None;
    let mut n_records = 0;
    for page_idx in 0..2 {
        let before = served(&handle, "/crm/v3/objects/contacts?").len();
        let mut path = format!("/unified/crm/contacts?connection_id={connection}&page_size=50");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.get("errors").is_none(), "{page}");
        let records = page["results"].as_array().expect("results");
        assert_eq!(records.len(), 50);
        for record in records {
            let id = record["remote_id"].as_str().expect("remote_id");
            let custom = record["custom_fields"].as_object().expect("custom_fields");
            for name in &names {
                assert_eq!(
                    custom.get(name).and_then(Value::as_str),
                    Some(format!("{name}-{id}").as_str()),
                    "{name} of contact {id}"
                );
            }
        }
        n_records += records.len();

        let requests: Vec<_> = handle
            .portal_requests()
            .into_iter()
            .filter(|request| request.target.starts_with("/crm/v3/objects/contacts?"))
            .skip(before)
            .collect();
        assert!(
            requests.len() >= 4,
            "page {page_idx}: {} requests",
            requests.len()
        );
        let mut requested = Vec::new();
        for request in &requests {
            assert_eq!(request.status, 200, "{request:?}");
            assert!(
                request.target.len() <= URL_LIMIT,
                "{} bytes",
                request.target.len()
            );
            assert_eq!(
                query_param(&request.target, "after"),
                query_param(&requests[0].target, "after"),
                "every chunk reads the same page"
            );
            requested.extend(
                query_param(&request.target, "properties")
                    .expect("properties")
                    .split(',')
                    .map(str::to_owned),
            );
        }
        for name in &names {
            assert_eq!(
                requested.iter().filter(|asked| *asked == name).count(),
                1,
                "{name} is asked for once per page"
            );
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        assert!(cursor.is_some(), "more contacts follow");
    }
    assert_eq!(n_records, 100);

    let id = handle.ids("contacts")[7].clone();
    let before = served(&handle, &format!("/crm/v3/objects/contacts/{id}?")).len();
    let (status, one) = app
        .get(&format!(
            "/unified/crm/contacts/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, 200, "{one}");
    for name in &names {
        assert_eq!(one["custom_fields"][name], format!("{name}-{id}"), "{name}");
    }
    let gets = served(&handle, &format!("/crm/v3/objects/contacts/{id}?"));
    assert!(gets.len() - before >= 4, "{} requests", gets.len() - before);
    assert!(gets.iter().all(|target| target.len() <= URL_LIMIT));
}
