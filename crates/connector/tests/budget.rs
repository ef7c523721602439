//! A list page under a request's evaluation budget: each record's mapping stops at its own
//! limit, and once the request's budget is spent the remaining records are item errors naming
//! the request's limit, without being evaluated; the page still says where the next one starts.

use std::sync::Arc;
use std::time::Duration;

use connector::{ListCursor, RequestContext, VendorResponse, load_connector_from_str};
use mapping::{Budget, Limits, RequestLimits};
use serde_json::{Value, json};

fn connector(record_mapping: &str) -> connector::Connector {
    let text = format!(
        r#"
schema_version: 1
meta: {{ id: acme, label: Acme, categories: [crm], revision: "1" }}
auth:
  schemes:
    token: {{ kind: bearer, token: "{{{{credentials.token}}}}" }}
http:
  base_url: https://api.acme.test
  allowed_hosts: [api.acme.test]
resources:
  contacts:
    list:
      http_method: GET
      path: /contacts
      records: results
      pagination:
        kind: cursor
        token_expr: paging.next.after
        param: {{ in: query, name: after }}
        page_size: {{ param: {{ in: query, name: limit }}, default: 1000, max: 1000 }}
unified:
  crm.contacts:
    list:
      routes:
        - use: contacts.list
      record_mapping: >-
        {record_mapping}
"#
    );
    load_connector_from_str("acme.yaml", &text, None).expect("the connector loads")
}

/// A vendor page of 1,000 contacts with a next page.
fn page() -> VendorResponse {
    let results: Vec<Value> = (0..1000)
        .map(|n| json!({"id": format!("c{n}"), "name": format!("Contact {n}")}))
        .collect();
    VendorResponse::new(
        200,
        vec![("content-type".to_owned(), "application/json".to_owned())],
        json!({"results": results, "paging": {"next": {"after": "c999"}}}),
    )
}

fn context() -> RequestContext {
    RequestContext {
        account: json!({}),
        query: json!({}),
        page_size: 1000,
        ..RequestContext::default()
    }
}

#[test]
fn a_page_of_expensive_records_stops_spending_when_the_requests_budget_is_gone() {
    // Every record runs to its own step limit.
    let connector = connector(
        "{'id': id, 'first_name': name, 'score': $sum($map([1..5000], function($v) { $v * 2 }))}",
    );
    let budget = Arc::new(Budget::new(
        Limits {
            max_steps: Some(5_000),
            ..Limits::default()
        },
        RequestLimits {
            max_steps: Some(50_000),
            max_time: Duration::from_secs(3600),
        },
    ));
    let page = {
        let _scope = budget.enter();
        connector
            .read_list("crm.contacts", &context(), &ListCursor::default(), &page())
            .expect("the page is read")
    };
    assert!(page.records.is_empty());
    assert_eq!(page.errors.len(), 1000, "every record is an item error");
    let own: Vec<_> = page
        .errors
        .iter()
        .filter(|error| error.message.contains("U1006") && error.message.contains("max_steps"))
        .collect();
    let spent: Vec<_> = page
        .errors
        .iter()
        .filter(|error| {
            error.message.contains("D1017") && error.message.contains("request_max_steps")
        })
        .collect();
    assert!(
        (1..=10).contains(&own.len()),
        "records stop at their own limit until the request's budget is gone: {}",
        own.len()
    );
    assert_eq!(own.len() + spent.len(), 1000, "{:?}", page.errors[0]);
    assert!(
        budget.steps_spent() <= 50_000,
        "the request spent {} steps",
        budget.steps_spent()
    );
    assert!(
        page.next.is_some(),
        "the page still says where the next one starts"
    );
}

#[test]
fn a_page_of_a_real_mapping_fits_the_default_budget() {
    let connector = connector(
        "{'id': id, 'first_name': $substringBefore(name, ' '), 'last_name': $substringAfter(name, ' '), 'tags': [$uppercase(name), $lowercase(name)]}",
    );
    let budget = Arc::new(Budget::new(Limits::default(), RequestLimits::default()));
    let page = {
        let _scope = budget.enter();
        connector
            .read_list("crm.contacts", &context(), &ListCursor::default(), &page())
            .expect("the page is read")
    };
    assert_eq!(page.errors, Vec::new());
    assert_eq!(page.records.len(), 1000);
    assert!(budget.steps_spent() > 0, "the engine reports its steps");
    assert!(
        budget.steps_spent() < RequestLimits::default().max_steps.expect("a cap") / 10,
        "{} steps",
        budget.steps_spent()
    );
}
