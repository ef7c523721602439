//! Unified listing: every record exactly once (also while the vendor changes under the walk),
//! HubSpot past its 10,000-result search cap, filters, custom fields.

use std::collections::BTreeSet;

use serde_json::Value;
use simulators::{Fault, FaultKind};

use crate::helpers::{PROVIDERS, TestApp, facts, spawn_app, unique_ids};

#[tokio::test]
async fn every_contact_of_each_vendor_is_listed_exactly_once() {
    let app = spawn_app().await;
    for provider in PROVIDERS {
        let walked = unique_ids(
            &app.walk(provider, "contacts", "", facts(provider).page_size)
                .await,
        );
        assert_eq!(walked, app.contact_ids(provider), "{provider}");
    }
}

#[tokio::test]
async fn no_record_present_throughout_is_missed_while_the_vendor_changes() {
    let app = spawn_app().await;
    for provider in PROVIDERS {
        let facts = facts(provider);
        let before = app.contact_ids(provider);
        app.simulator(provider).faults().push(Fault {
            kind: FaultKind::Mutate {
                inserts: 7,
                deletes: 5,
            },
            path_prefix: Some(facts.contacts_list_prefix.to_owned()),
            times: 20,
        });
        let walked = unique_ids(
            &app.walk(provider, "contacts", "", facts.page_size / 2)
                .await,
        );
        let after = app.contact_ids(provider);
        assert_ne!(
            before, after,
            "{provider}: the simulator changed records during the walk"
        );
        let missed: Vec<&String> = before
            .intersection(&after)
            .filter(|id| !walked.contains(*id))
            .collect();
        assert!(
            missed.is_empty(),
            "{provider}: records present throughout were missed: {missed:?}"
        );
    }
}

#[tokio::test]
async fn hubspot_search_walks_past_the_ten_thousand_result_cap() {
    let app = spawn_app().await;
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
        searches >= 60,
        "the filtered walk used the search endpoint ({searches} calls)"
    );
}

fn updated_at(record: &Value) -> chrono::DateTime<chrono::Utc> {
    record["updated_at"]
        .as_str()
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .map(|time| time.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| panic!("record without updated_at: {record}"))
}

async fn filters_return_exactly_the_matching_records(app: &TestApp, provider: &str) {
    let all = app.walk(provider, "contacts", "", 1000).await;

    let mut times: Vec<_> = all.iter().map(updated_at).collect();
    times.sort();
    let cutoff = times[times.len() * 3 / 4];
    let expected: BTreeSet<String> = all
        .iter()
        .filter(|record| updated_at(record) >= cutoff)
        .map(|record| record["remote_id"].as_str().expect("remote_id").to_owned())
        .collect();
    let filter = format!(
        "&updated_after={}",
        cutoff
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .replace('+', "%2B")
    );
    let walked = unique_ids(&app.walk(provider, "contacts", &filter, 200).await);
    assert_eq!(walked, expected, "updated_after filter on {provider}");

    let with_email = all
        .iter()
        .find(|record| {
            record["email_addresses"]
                .as_array()
                .is_some_and(|emails| !emails.is_empty())
        })
        .expect("some contact has an email");
    let email = with_email["email_addresses"][0]["email_address"]
        .as_str()
        .expect("email")
        .to_owned();
    let expected: BTreeSet<String> = all
        .iter()
        .filter(|record| {
            record["email_addresses"].as_array().is_some_and(|emails| {
                emails.iter().any(|e| {
                    e["email_address"]
                        .as_str()
                        .is_some_and(|a| a.eq_ignore_ascii_case(&email))
                })
            })
        })
        .map(|record| record["remote_id"].as_str().expect("remote_id").to_owned())
        .collect();
    let walked = unique_ids(
        &app.walk(provider, "contacts", &format!("&email={email}"), 100)
            .await,
    );
    assert_eq!(walked, expected, "email filter on {provider}");

    let picked: Vec<String> = all
        .iter()
        .step_by(997)
        .take(4)
        .map(|r| r["remote_id"].as_str().expect("id").to_owned())
        .collect();
    let walked = unique_ids(
        &app.walk(
            provider,
            "contacts",
            &format!("&ids={}", picked.join(",")),
            100,
        )
        .await,
    );
    assert_eq!(
        walked,
        picked.iter().cloned().collect::<BTreeSet<_>>(),
        "ids filter on {provider}"
    );
}

#[tokio::test]
async fn filters_return_exactly_the_matching_records_on_every_vendor() {
    let app = spawn_app().await;
    for provider in PROVIDERS {
        filters_return_exactly_the_matching_records(&app, provider).await;
    }
}

#[tokio::test]
async fn custom_fields_appear_in_custom_fields() {
    let app = spawn_app().await;
    for provider in PROVIDERS {
        let key = facts(provider).contact_custom_field;
        let connection = app.connection(provider);
        let (status, body) = app
            .get(&format!(
                "/unified/crm/contacts?connection_id={connection}&page_size=200"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let with_custom = body["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|record| !record["custom_fields"][key].is_null())
            .count();
        assert!(
            with_custom > 0,
            "{provider}: no contact carries custom field `{key}`: {body}"
        );
    }
}

#[tokio::test]
async fn every_object_lists_on_both_vendors() {
    let app = spawn_app().await;
    for provider in PROVIDERS {
        for object in [
            "contacts",
            "companies",
            "opportunities",
            "notes",
            "tasks",
            "engagements",
            "users",
            "pipelines",
        ] {
            let connection = app.connection(provider);
            let (status, body) = app
                .get(&format!(
                    "/unified/crm/{object}?connection_id={connection}&page_size=50"
                ))
                .await;
            assert_eq!(status, 200, "{provider} {object}: {body}");
            assert!(body.get("errors").is_none(), "{provider} {object}: {body}");
            assert!(
                !body["results"].as_array().expect("results").is_empty(),
                "{provider} {object}: {body}"
            );
        }
    }
    let (status, body) = app
        .get(&format!(
            "/unified/crm/leads?connection_id={}&page_size=10",
            app.connection("salesforce")
        ))
        .await;
    assert_eq!(status, 200, "{body}");
}
