//! Routes that split a long list parameter over several requests (`chunk`): planning one request
//! per chunk for the same page, merging the recorded answers' records by key before mapping,
//! paging from the first answer, and the load-time checks of the declaration.

use std::collections::BTreeSet;

use connector::{
    DiscoveredField, ErrorCode, ListCursor, Operation, PageState, PlannedRequest, RequestContext,
    VendorResponse, fields_binding, load_connector_from_str,
};
use serde_json::{Value, json};

const CONNECTOR: &str = r#"
schema_version: 1
meta: { id: acme, label: Acme, categories: [crm], revision: "1" }
auth:
  schemes:
    token: { kind: bearer, token: "{{credentials.token}}" }
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
        param: { in: query, name: after }
        page_size: { param: { in: query, name: limit }, default: 3, max: 100 }
    get: { http_method: GET, path: "/contacts/{{id}}" }
    create: { http_method: POST, path: /contacts }
unified:
  crm.contacts:
    list:
      routes:
        - use: contacts.list
          chunk: { param: properties, separator: ",", max_bytes: 300 }
          query_mapping: >-
            {
              "properties": $join($append(["email", "firstname"], fields.custom.key), ","),
              "associations": "companies"
            }
      record_mapping: &mapping >-
        (
          $p := properties;
          {
            "id": id,
            "remote_id": id,
            "first_name": $p.firstname,
            "company_ids": [associations.companies.results.id],
            "custom_fields": $merge([{}, $fields.custom[$exists($lookup($p, key))].{key: $lookup($p, key)}])
          }
        )
    get:
      routes:
        - use: contacts.get
          chunk: { param: properties, max_items: 40 }
          query_mapping: >-
            { "properties": $append(["email", "firstname"], fields.custom.key) }
      record_mapping: *mapping
"#;

/// 120 custom fields with long names: far more than one 300-byte chunk holds.
fn custom_fields() -> Vec<DiscoveredField> {
    (0..120)
        .map(|idx| DiscoveredField {
            key: format!("custom_property_with_a_long_descriptive_name_{idx:03}"),
            vendor_key: None,
            label: None,
            kind: Some("string".to_owned()),
            vendor_type: None,
            custom: true,
            required: false,
            read_only: false,
            options: Vec::new(),
        })
        .collect()
}

fn context() -> RequestContext {
    RequestContext {
        account: json!({}),
        query: json!({}),
        fields: fields_binding(&custom_fields()),
        page_size: 3,
        ..RequestContext::default()
    }
}

fn ok(body: Value) -> VendorResponse {
    VendorResponse::new(
        200,
        vec![("content-type".to_owned(), "application/json".to_owned())],
        body,
    )
}

fn values<'a>(request: &'a PlannedRequest, name: &str) -> Vec<&'a str> {
    request
        .query
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .collect()
}

fn encoded_len(name: &str, value: &str) -> usize {
    serde_urlencoded::to_string([(name, value)])
        .expect("encodes")
        .len()
}

/// A recorded answer of one chunk: the page's records with the chunk's properties (null for
/// the custom ones a record has no value for).
fn chunk_answer(request: &PlannedRequest, ids: &[&str], next: Option<&str>) -> Value {
    let names: Vec<&str> = values(request, "properties")
        .iter()
        .flat_map(|value| value.split(','))
        .collect();
    let results: Vec<Value> = ids
        .iter()
        .map(|id| {
            let properties: serde_json::Map<String, Value> = names
                .iter()
                .map(|name| {
                    let value = match *name {
                        "email" => json!(format!("{id}@example.org")),
                        "firstname" => json!(format!("First {id}")),
                        custom if custom.ends_with("7") => Value::Null,
                        custom => json!(format!("{custom}={id}")),
                    };
                    ((*name).to_owned(), value)
                })
                .collect();
            json!({"id": id, "properties": properties,
                   "associations": {"companies": {"results": [{"id": "c1"}]}}})
        })
        .collect();
    let mut body = json!({ "results": results });
    if let Some(after) = next {
        body["paging"] = json!({"next": {"after": after}});
    }
    body
}

#[test]
fn a_long_list_is_planned_as_several_requests_for_the_same_page() {
    let connector = load_connector_from_str("acme.yaml", CONNECTOR, None).expect("loads");
    let cursor = ListCursor {
        r: 0,
        p: PageState::Token { t: "42".to_owned() },
    };
    let requests = connector
        .plan_list_requests("crm.contacts", &context(), &cursor)
        .expect("plans");
    assert!(requests.len() > 1, "{} requests", requests.len());
    let mut seen = Vec::new();
    for request in &requests {
        assert_eq!(request.url, "https://api.acme.test/contacts");
        assert_eq!(
            values(request, "after"),
            ["42"],
            "every chunk asks for the same page"
        );
        assert_eq!(values(request, "limit"), ["3"]);
        assert_eq!(values(request, "associations"), ["companies"]);
        let properties = values(request, "properties");
        assert_eq!(properties.len(), 1, "one joined value");
        assert!(
            encoded_len("properties", properties[0]) <= 300,
            "{} bytes",
            encoded_len("properties", properties[0])
        );
        seen.extend(properties[0].split(',').map(str::to_owned));
    }
    let mut expected = vec!["email".to_owned(), "firstname".to_owned()];
    expected.extend(custom_fields().into_iter().map(|field| field.key));
    assert_eq!(
        seen, expected,
        "every name once, in order, standard ones first"
    );

    let unchunked = connector
        .plan_list("crm.contacts", &context(), &cursor)
        .expect("plans");
    assert_eq!(values(&unchunked, "properties").len(), 1);
    assert!(encoded_len("properties", values(&unchunked, "properties")[0]) > 300);
}

#[test]
fn a_short_list_is_one_request() {
    let connector = load_connector_from_str("acme.yaml", CONNECTOR, None).expect("loads");
    let ctx = RequestContext {
        fields: fields_binding(&custom_fields()[..3]),
        ..context()
    };
    let requests = connector
        .plan_list_requests("crm.contacts", &ctx, &ListCursor::default())
        .expect("plans");
    let single = connector
        .plan_list("crm.contacts", &ctx, &ListCursor::default())
        .expect("plans");
    assert_eq!(requests, vec![single]);
}

#[test]
fn chunk_answers_are_merged_by_id_and_page_from_the_first() {
    let connector = load_connector_from_str("acme.yaml", CONNECTOR, None).expect("loads");
    let ctx = context();
    let cursor = ListCursor::default();
    let requests = connector
        .plan_list_requests("crm.contacts", &ctx, &cursor)
        .expect("plans");
    let last = requests.len() - 1;
    let responses: Vec<VendorResponse> = requests
        .iter()
        .enumerate()
        .map(|(idx, request)| {
            // Only the first answer's paging counts; a record only a later chunk holds (one
            // created between the requests) is not part of this page.
            let ids: &[&str] = if idx == last {
                &["101", "102", "103", "999"]
            } else {
                &["101", "102", "103"]
            };
            let next = if idx == 0 { Some("104") } else { Some("bogus") };
            ok(chunk_answer(request, ids, next))
        })
        .collect();
    let page = connector
        .read_list_parts("crm.contacts", &ctx, &cursor, &responses)
        .expect("reads");
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let ids: Vec<&str> = page
        .records
        .iter()
        .map(|(mapped, _)| mapped["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["101", "102", "103"]);
    for (mapped, raw) in &page.records {
        let id = mapped["id"].as_str().expect("id");
        assert_eq!(mapped["first_name"], format!("First {id}"));
        assert_eq!(mapped["company_ids"], json!(["c1"]));
        let custom = mapped["custom_fields"].as_object().expect("custom_fields");
        for field in custom_fields() {
            if field.key.ends_with('7') {
                assert!(
                    custom.get(&field.key).is_none_or(Value::is_null),
                    "{}",
                    field.key
                );
            } else {
                assert_eq!(custom[&field.key], format!("{}={id}", field.key));
            }
        }
        let names: BTreeSet<&String> = raw["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        assert_eq!(
            names.len(),
            122,
            "the raw record holds every chunk's properties"
        );
    }
    assert_eq!(
        page.next,
        Some(ListCursor {
            r: 0,
            p: PageState::Token {
                t: "104".to_owned()
            }
        })
    );
}

#[test]
fn a_vendor_error_in_any_chunk_fails_the_page() {
    let connector = load_connector_from_str("acme.yaml", CONNECTOR, None).expect("loads");
    let ctx = context();
    let cursor = ListCursor::default();
    let requests = connector
        .plan_list_requests("crm.contacts", &ctx, &cursor)
        .expect("plans");
    let mut responses: Vec<VendorResponse> = requests
        .iter()
        .map(|request| ok(chunk_answer(request, &["101"], None)))
        .collect();
    responses[1] = VendorResponse::new(
        414,
        vec![("content-type".to_owned(), "text/html".to_owned())],
        json!("<html>414 Request-URI Too Large</html>"),
    );
    let Err(connector::ReadError::Provider(error)) =
        connector.read_list_parts("crm.contacts", &ctx, &cursor, &responses)
    else {
        panic!("a provider error")
    };
    assert_eq!(error.status, 414);
    assert_eq!(error.code, ErrorCode::Internal);
}

#[test]
fn a_get_repeats_the_parameter_in_chunks_and_merges_the_record() {
    let connector = load_connector_from_str("acme.yaml", CONNECTOR, None).expect("loads");
    let ctx = RequestContext {
        id: Some("101".to_owned()),
        ..context()
    };
    let requests = connector
        .plan_requests("crm.contacts", Operation::Get, &ctx, &PageState::Start)
        .expect("plans");
    let sizes: Vec<usize> = requests
        .iter()
        .map(|request| values(request, "properties").len())
        .collect();
    assert_eq!(sizes, [40, 40, 40, 2], "at most 40 names per request");
    assert!(
        requests
            .iter()
            .all(|request| request.url == "https://api.acme.test/contacts/101")
    );
    let responses: Vec<VendorResponse> = requests
        .iter()
        .map(|request| {
            let names = values(request, "properties").join(",");
            let page = chunk_answer(
                &PlannedRequest {
                    query: vec![("properties".to_owned(), names)],
                    ..request.clone()
                },
                &["101"],
                None,
            );
            ok(page["results"][0].clone())
        })
        .collect();
    let (mapped, _) = connector
        .read_record_parts("crm.contacts", Operation::Get, &ctx, &responses)
        .expect("reads");
    assert_eq!(mapped["first_name"], "First 101");
    let last = custom_fields().pop().expect("a field").key;
    assert_eq!(mapped["custom_fields"][&last], format!("{last}=101"));
    let first = &custom_fields()[0].key;
    assert_eq!(mapped["custom_fields"][first], format!("{first}=101"));
}

#[test]
fn an_item_longer_than_a_chunk_is_a_planning_error() {
    let connector = load_connector_from_str("acme.yaml", CONNECTOR, None).expect("loads");
    let mut fields = custom_fields();
    fields[5].key = "x".repeat(400);
    let ctx = RequestContext {
        fields: fields_binding(&fields),
        ..context()
    };
    let error = connector
        .plan_list_requests("crm.contacts", &ctx, &ListCursor::default())
        .expect_err("too long");
    assert!(error.to_string().contains("max_bytes"), "{error}");
}

#[test]
fn a_chunk_needs_a_limit_and_a_list_or_get_route() {
    let without_limit = CONNECTOR.replace(
        "chunk: { param: properties, separator: \",\", max_bytes: 300 }",
        "chunk: { param: properties }",
    );
    let error = load_connector_from_str("acme.yaml", &without_limit, None).expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("unified.crm.contacts.list.routes[0].chunk"),
        "{error}"
    );
    let on_create = CONNECTOR.replace(
        "      record_mapping: *mapping\n",
        "      record_mapping: *mapping\n    create:\n      routes:\n        - use: contacts.create\n          chunk: { param: properties, max_items: 5 }\n",
    );
    let error = load_connector_from_str("acme.yaml", &on_create, None).expect_err("refused");
    assert!(
        error.to_string().contains("for list and get routes only"),
        "{error}"
    );
}
