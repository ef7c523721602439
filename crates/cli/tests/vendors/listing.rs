//! Unified listing on every vendor: every record exactly once (also while the vendor changes
//! under the walk), filters, custom fields, every object.

use std::collections::BTreeSet;

use serde_json::Value;
use simulators::{Fault, FaultKind};

use crate::helpers::unique_ids;
use crate::{Check, Vendor, check};

pub const CHECKS: &[Check] = &[
    check!(every_contact_is_listed_exactly_once),
    check!(no_record_present_throughout_is_missed_while_the_vendor_changes),
    check!(filters_return_exactly_the_matching_records),
    check!(custom_fields_appear_in_custom_fields),
    check!(every_object_lists),
];

async fn every_contact_is_listed_exactly_once(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let walked = unique_ids(
        &app.walk(provider, "contacts", "", app.facts(provider).page_size)
            .await,
    );
    let held = app.contact_ids(provider);
    assert!(
        held.len() as u64 > app.facts(provider).page_size,
        "{provider}: the walk spans several pages"
    );
    assert_eq!(walked, held, "{provider}");
}

async fn no_record_present_throughout_is_missed_while_the_vendor_changes(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let facts = app.facts(provider).clone();
    let before = app.contact_ids(provider);
    app.simulator(provider).faults().push(Fault {
        kind: FaultKind::Mutate {
            inserts: 7,
            deletes: 5,
        },
        path_prefix: Some(facts.contacts_list_prefix.clone()),
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

fn updated_at(record: &Value) -> chrono::DateTime<chrono::Utc> {
    record["updated_at"]
        .as_str()
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .map(|time| time.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| panic!("record without updated_at: {record}"))
}

async fn filters_return_exactly_the_matching_records(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
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
        .step_by(all.len() / 4)
        .take(4)
        .map(|r| r["remote_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(picked.len(), 4, "{provider}: four contacts to pick");
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

async fn custom_fields_appear_in_custom_fields(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let key = app.facts(provider).contact_custom_field.clone();
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
        .filter(|record| !record["custom_fields"][key.as_str()].is_null())
        .count();
    assert!(
        with_custom > 0,
        "{provider}: no contact carries custom field `{key}`: {body}"
    );
}

async fn every_object_lists(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let connection = app.connection(provider);
    for object in [
        "contacts",
        "companies",
        "opportunities",
        "leads",
        "notes",
        "tasks",
        "engagements",
        "users",
        "pipelines",
    ] {
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
