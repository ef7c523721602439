//! Unified listing specific to one vendor: HubSpot past its 10,000-result search cap, and its
//! search routes (which the vendor answers without associations) giving the same records as
//! its plain lists. What every vendor must do is checked per vendor by the cross-vendor suite
//! (`tests/vendors/listing.rs`).

use cli::demo::Options;
use simulators::hubspot::HubSpot;
use simulators::{Entry, Tweaks};

use crate::helpers::{spawn_app, spawn_app_with, unique_ids};

#[tokio::test]
async fn hubspot_search_walks_past_the_ten_thousand_result_cap() {
    // HubSpot alone, with more contacts than a search can page through.
    let app = spawn_app_with(Options {
        registry: vec![Entry::of::<HubSpot>()],
        tweaks: Tweaks::default().with::<HubSpot>(|config| config.contacts = 10_500),
        ..Options::tests()
    })
    .await;
    let expected = app.contact_ids("hubspot");
    assert!(
        expected.len() > 10_000,
        "the simulator holds more than the cap"
    );
    let walked = unique_ids(
        &app.walk(
            "hubspot",
            "contacts",
            "&updated_after=2000-01-01T00:00:00Z",
            200,
        )
        .await,
    );
    assert_eq!(walked, expected);
    let searches = app
        .simulator("hubspot")
        .requests()
        .total_matching("POST /crm/v3/objects/contacts/search");
    assert!(
        searches >= 50,
        "the filtered walk used the search endpoint ({searches} calls)"
    );
}

/// A filter that moves a HubSpot list from its list route to its search route (whose answers
/// carry no associations) changes nothing in the records: the route reads the associations in
/// follow-up requests. Before, a contact's `company_id` and an activity's `contact_ids` were
/// empty whenever a filter was given, and a sync's incremental run (which filters by
/// `updated_after`) reported every record it read as updated.
#[tokio::test]
async fn hubspot_search_routes_give_the_same_records_as_the_lists() {
    let app = spawn_app().await;
    for object in [
        "contacts",
        "opportunities",
        "leads",
        "notes",
        "tasks",
        "engagements",
    ] {
        let listed = app.walk("hubspot", object, "", 100).await;
        let searched = app
            .walk(
                "hubspot",
                object,
                "&updated_after=2000-01-01T00:00:00Z",
                100,
            )
            .await;
        let by_id = |records: Vec<serde_json::Value>| {
            records
                .into_iter()
                .map(|record| (record["id"].as_str().expect("id").to_owned(), record))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let (listed, searched) = (by_id(listed), by_id(searched));
        assert!(!listed.is_empty(), "{object}: records to compare");
        assert!(
            listed.values().any(|record| {
                [
                    "company_id",
                    "contact_ids",
                    "contact_id",
                    "converted_contact_id",
                ]
                .iter()
                .any(|field| {
                    record
                        .get(*field)
                        .is_some_and(|value| !value.is_null() && value != &serde_json::json!([]))
                })
            }),
            "{object}: some records carry associations"
        );
        assert_eq!(
            listed.keys().collect::<Vec<_>>(),
            searched.keys().collect::<Vec<_>>(),
            "{object}: the same records"
        );
        for (id, record) in &listed {
            assert_eq!(record, &searched[id], "{object} {id}: the same record");
        }
    }
    let reads = app
        .simulator("hubspot")
        .requests()
        .total_matching("POST /crm/v3/associations/");
    assert!(
        reads > 0,
        "the search routes read associations ({reads} calls)"
    );
}
