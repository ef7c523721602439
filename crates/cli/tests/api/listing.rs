//! Unified listing specific to one vendor: HubSpot past its 10,000-result search cap. What every
//! vendor must do is checked per vendor by the cross-vendor suite (`tests/vendors/listing.rs`).

use cli::demo::Options;
use simulators::hubspot::HubSpot;
use simulators::{Entry, Tweaks};

use crate::helpers::{spawn_app_with, unique_ids};

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
