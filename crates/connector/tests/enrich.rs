//! List routes that complete their page with follow-up requests (`enrich`): one request per
//! group of `max_items` of the page's records, the answers' records merged into the page's by
//! key before mapping, so a route whose answer lacks something (a search without associations)
//! maps to the same unified record as one that has it; entries that join what earlier ones
//! merged; get routes completing their one record the same way; and the load-time checks.

use connector::{ListCursor, RequestBody, RequestContext, VendorResponse, load_connector_from_str};
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
    search:
      http_method: POST
      path: /contacts/search
      records: results
      pagination:
        kind: cursor
        token_expr: paging.next.after
        param: { in: body, name: after }
        page_size: { param: { in: body, name: limit }, default: 5, max: 100 }
    to_companies: { http_method: POST, path: /associations/contacts/companies/batch/read, records: results }
    get: { http_method: GET, path: "/contacts/{{id}}" }
unified:
  crm.contacts:
    list:
      routes:
        - use: contacts.search
          body_mapping: '{"limit": page.size}'
          enrich:
            - use: contacts.to_companies
              body_mapping: '{"inputs": [records.{"id": id}]}'
              max_items: 2
              key: from.id
              merge: '{"associations": {"companies": {"results": to}}}'
      record_mapping: &mapping >-
        {
          "id": id,
          "remote_id": id,
          "name": name,
          "company_id": associations.companies.results[0].id
        }
    get:
      routes:
        - use: contacts.get
      record_mapping: *mapping
"#;

fn ok(status: u16, body: Value) -> VendorResponse {
    VendorResponse::new(
        status,
        vec![("content-type".to_owned(), "application/json".to_owned())],
        body,
    )
}

fn context() -> RequestContext {
    RequestContext {
        account: json!({}),
        query: json!({}),
        page_size: 5,
        ..RequestContext::default()
    }
}

/// A search page of five contacts, ids 1 to 5.
fn page() -> VendorResponse {
    ok(
        200,
        json!({"results": (1..=5).map(|id| json!({"id": id.to_string(), "name": format!("Contact {id}")})).collect::<Vec<_>>()}),
    )
}

#[test]
fn a_page_is_completed_by_its_follow_up_requests_before_mapping() {
    let connector = load_connector_from_str("acme.yaml", CONNECTOR, None).expect("loads");
    assert!(connector.list_enriches("crm.contacts"));
    let (ctx, cursor) = (context(), ListCursor::default());
    let responses = vec![page()];
    let plans = connector
        .plan_list_enrichment("crm.contacts", &ctx, &cursor, &responses)
        .expect("plans");
    // Five records in groups of at most two: three requests, each naming its group's ids.
    let groups: Vec<Value> = plans
        .iter()
        .map(|planned| {
            let (entry, plan) = (planned.entry, &planned.request);
            assert_eq!(entry, 0);
            assert_eq!(
                plan.url,
                "https://api.acme.test/associations/contacts/companies/batch/read"
            );
            match &plan.body {
                RequestBody::Json(body) => body["inputs"].clone(),
                other => panic!("a JSON body, not {other:?}"),
            }
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            json!([{"id": "1"}, {"id": "2"}]),
            json!([{"id": "3"}, {"id": "4"}]),
            json!([{"id": "5"}]),
        ]
    );
    // Contact 2 has no company (the vendor names it among its errors, with a 207); the
    // answer for 5 also names a record that is not on the page, which is ignored.
    let answers = vec![
        (
            0,
            ok(
                207,
                json!({"results": [{"from": {"id": "1"}, "to": [{"id": "c1", "type": "contact_to_company"}]}],
                       "errors": [{"message": "No company is associated with contact 2."}]}),
            ),
        ),
        (
            0,
            ok(
                200,
                json!({"results": [{"from": {"id": "3"}, "to": [{"id": "c3"}]}, {"from": {"id": "4"}, "to": [{"id": "c4"}]}]}),
            ),
        ),
        (
            0,
            ok(
                200,
                json!({"results": [{"from": {"id": "5"}, "to": [{"id": "c5"}]}, {"from": {"id": "99"}, "to": [{"id": "c99"}]}]}),
            ),
        ),
    ];
    let read = connector
        .read_list_enriched("crm.contacts", &ctx, &cursor, &responses, &answers)
        .expect("reads");
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    let companies: Vec<(String, Value)> = read
        .records
        .iter()
        .map(|(mapped, _)| {
            (
                mapped["id"].as_str().expect("id").to_owned(),
                mapped.get("company_id").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(
        companies,
        vec![
            ("1".to_owned(), json!("c1")),
            ("2".to_owned(), Value::Null),
            ("3".to_owned(), json!("c3")),
            ("4".to_owned(), json!("c4")),
            ("5".to_owned(), json!("c5")),
        ]
    );
    // Without the answers the same page maps without companies: the enrichment is what adds
    // them.
    let bare = connector
        .read_list_parts("crm.contacts", &ctx, &cursor, &responses)
        .expect("reads");
    assert!(
        bare.records
            .iter()
            .all(|(mapped, _)| mapped.get("company_id").is_none_or(Value::is_null))
    );
}

#[test]
fn a_refused_follow_up_fails_the_page_and_a_refused_page_plans_none() {
    let connector = load_connector_from_str("acme.yaml", CONNECTOR, None).expect("loads");
    let (ctx, cursor) = (context(), ListCursor::default());
    let responses = vec![page()];
    let answers = vec![(0, ok(500, json!({"message": "boom"})))];
    assert!(
        connector
            .read_list_enriched("crm.contacts", &ctx, &cursor, &responses, &answers)
            .is_err(),
        "a page whose enrichment failed is not read as if complete"
    );
    let refused = vec![ok(503, json!({"message": "down"}))];
    assert!(
        connector
            .plan_list_enrichment("crm.contacts", &ctx, &cursor, &refused)
            .expect("plans")
            .is_empty(),
        "a refused page plans no follow-up"
    );
    let empty = vec![ok(200, json!({"results": []}))];
    assert!(
        connector
            .plan_list_enrichment("crm.contacts", &ctx, &cursor, &empty)
            .expect("plans")
            .is_empty(),
        "an empty page plans no follow-up"
    );
}

#[test]
fn enrich_declarations_are_checked_when_the_connector_loads() {
    for (from, to, expected) in [
        (
            "use: contacts.to_companies\n",
            "use: contacts.nothing\n",
            "unified.crm.contacts.list.routes[0].enrich[0].use",
        ),
        ("max_items: 2\n", "max_items: 0\n", "must be positive"),
        (
            "key: from.id\n",
            "key: from.(\n",
            "unified.crm.contacts.list.routes[0].enrich[0].key",
        ),
        (
            "              key: from.id\n",
            "",
            "is required unless max_items is 1",
        ),
        (
            "      record_mapping: *mapping\n",
            "      record_mapping: *mapping\n    delete:\n      routes:\n        - use: contacts.get\n          enrich: [{use: contacts.to_companies, max_items: 1, key: id, merge: '{}'}]\n",
            "for list and get routes only",
        ),
    ] {
        let text = CONNECTOR.replacen(from, to, 1);
        assert_ne!(text, CONNECTOR, "{from}");
        let error = load_connector_from_str("acme.yaml", &text, None).expect_err("refused");
        assert!(error.to_string().contains(expected), "{expected}: {error}");
    }
}

/// A follow-up per record whose answer does not name what was asked (a balance asked per
/// employee and policy type, answering the policy's own name): without `key`, with
/// `max_items: 1`, the n-th answer belongs to the n-th record of the page.
const KEYLESS: &str = r#"
schema_version: 1
meta: { id: acme, label: Acme, categories: [hris], revision: "1" }
auth:
  schemes:
    token: { kind: bearer, token: "{{credentials.token}}" }
http:
  base_url: https://api.acme.test
  allowed_hosts: [api.acme.test]
resources:
  policies:
    list: { http_method: GET, path: /policy-types, records: "[types.{'name': $}]" }
    balance: { http_method: GET, path: "/employees/{{id}}/balance" }
unified:
  hris.time_off_balances:
    list:
      routes:
        - use: policies.list
          enrich:
            - use: policies.balance
              max_items: 1
              id_mapping: query.employee_id
              query_mapping: '{"policyType": records[0].name}'
              merge: '{"left": total}'
      record_mapping: '{"id": name, "policy_id": name, "balance": $string(left)}'
"#;

#[test]
fn without_a_key_each_answer_completes_the_record_it_was_asked_for() {
    let connector = load_connector_from_str("acme.yaml", KEYLESS, None).expect("loads");
    let ctx = RequestContext {
        query: json!({"employee_id": "7"}),
        ..context()
    };
    let cursor = ListCursor::default();
    let responses = vec![ok(200, json!({"types": ["Holiday", "Sick", "Unpaid"]}))];
    let plans = connector
        .plan_list_enrichment("hris.time_off_balances", &ctx, &cursor, &responses)
        .expect("plans");
    let asked: Vec<(&str, &str)> = plans
        .iter()
        .map(|planned| {
            let plan = &planned.request;
            assert_eq!(plan.url, "https://api.acme.test/employees/7/balance");
            assert_eq!(plan.query.len(), 1);
            (plan.query[0].0.as_str(), plan.query[0].1.as_str())
        })
        .collect();
    assert_eq!(
        asked,
        [
            ("policyType", "Holiday"),
            ("policyType", "Sick"),
            ("policyType", "Unpaid"),
        ]
    );
    // The answers name a policy, not the type asked for; the third is empty.
    let answers = vec![
        (0, ok(200, json!({"policy": "Holiday UK", "total": 12}))),
        (0, ok(200, json!({"policy": "Sick (standard)", "total": 3}))),
        (0, ok(200, json!([]))),
    ];
    let read = connector
        .read_list_enriched(
            "hris.time_off_balances",
            &ctx,
            &cursor,
            &responses,
            &answers,
        )
        .expect("reads");
    let balances: Vec<(Value, Value)> = read
        .records
        .iter()
        .map(|(mapped, _)| {
            (
                mapped["id"].clone(),
                mapped.get("balance").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(
        balances,
        [
            (json!("Holiday"), json!("12")),
            (json!("Sick"), json!("3")),
            (json!("Unpaid"), Value::Null),
        ]
    );
}

/// Employees whose list carries only ids: one entry reads each employee (its department by
/// name), a later one joins the name with the departments' list for the department's id; a
/// get joins the same way.
const JOIN: &str = r#"
schema_version: 1
meta: { id: acme, label: Acme, categories: [hris], revision: "1" }
auth:
  schemes:
    token: { kind: bearer, token: "{{credentials.token}}" }
http:
  base_url: https://api.acme.test
  allowed_hosts: [api.acme.test]
resources:
  employees:
    list: { http_method: GET, path: /employees, records: data }
    get: { http_method: GET, path: "/employees/{{id}}" }
  org:
    departments: { http_method: GET, path: /departments, records: data }
unified:
  hris.employees:
    list:
      routes:
        - use: employees.list
          enrich:
            - use: employees.get
              max_items: 1
              id_mapping: records[0].id
              merge: "$"
            - &departments
              use: org.departments
              max_items: 100
              record_key: department
              key: name
              merge: '{"department_id": id}'
      record_mapping: &mapping '{"id": id, "group_ids": [department_id]}'
    get:
      routes:
        - use: employees.get
          enrich: [*departments]
      record_mapping: *mapping
"#;

#[test]
fn a_later_entry_joins_what_an_earlier_one_merged_and_a_get_joins_the_same() {
    let connector = load_connector_from_str("acme.yaml", JOIN, None).expect("loads");
    let (ctx, cursor) = (context(), ListCursor::default());
    let responses = vec![ok(200, json!({"data": [{"id": "1"}, {"id": "2"}]}))];
    let plans = connector
        .plan_list_enrichment("hris.employees", &ctx, &cursor, &responses)
        .expect("plans");
    let urls: Vec<(usize, &str)> = plans
        .iter()
        .map(|planned| (planned.entry, planned.request.url.as_str()))
        .collect();
    assert_eq!(
        urls,
        [
            (0, "https://api.acme.test/employees/1"),
            (0, "https://api.acme.test/employees/2"),
            (1, "https://api.acme.test/departments"),
        ]
    );
    let departments = ok(
        200,
        json!({"data": [{"name": "Sales", "id": "d1"}, {"name": "Ops", "id": "d2"}]}),
    );
    let answers = vec![
        (0, ok(200, json!({"id": "1", "department": "Sales"}))),
        (0, ok(200, json!({"id": "2", "department": "Ops"}))),
        (1, departments.clone()),
    ];
    let read = connector
        .read_list_enriched("hris.employees", &ctx, &cursor, &responses, &answers)
        .expect("reads");
    let groups: Vec<Value> = read
        .records
        .iter()
        .map(|(mapped, _)| mapped["group_ids"].clone())
        .collect();
    assert_eq!(groups, [json!(["d1"]), json!(["d2"])]);

    let ctx = RequestContext {
        id: Some("2".to_owned()),
        ..context()
    };
    assert!(connector.get_enriches("hris.employees"));
    let responses = vec![ok(200, json!({"id": "2", "department": "Ops"}))];
    let plans = connector
        .plan_record_enrichment("hris.employees", &ctx, &responses)
        .expect("plans");
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].request.url, "https://api.acme.test/departments");
    let (mapped, _) = connector
        .read_record_enriched(
            "hris.employees",
            connector::Operation::Get,
            &ctx,
            &responses,
            &[(0, departments)],
        )
        .expect("reads");
    assert_eq!(mapped["group_ids"], json!(["d2"]));
    // A refused read plans no follow-up.
    assert!(
        connector
            .plan_record_enrichment("hris.employees", &ctx, &[ok(404, json!({}))])
            .expect("plans")
            .is_empty()
    );
}

/// The departments' list paged by number, joined whole (`all_pages`): every page is asked for,
/// at the method's largest page size, until the answer says it was the last.
const PAGED_JOIN: &str = r#"
schema_version: 1
meta: { id: acme, label: Acme, categories: [hris], revision: "1" }
auth:
  schemes:
    token: { kind: bearer, token: "{{credentials.token}}" }
http:
  base_url: https://api.acme.test
  allowed_hosts: [api.acme.test]
resources:
  employees:
    list: { http_method: GET, path: /employees, records: data }
    get: { http_method: GET, path: "/employees/{{id}}" }
  org:
    departments:
      http_method: GET
      path: /departments
      records: data
      pagination:
        kind: page
        param: { in: query, name: page }
        start_at: 0
        has_more_expr: "meta.page + 1 < meta.totalPages"
        page_size: { param: { in: query, name: pageSize }, default: 20, max: 500 }
unified:
  hris.employees:
    list:
      routes:
        - use: employees.list
          enrich:
            - &departments
              use: org.departments
              max_items: 100
              all_pages: true
              record_key: department
              key: name
              merge: '{"department_id": id}'
      record_mapping: &mapping '{"id": id, "group_ids": [department_id]}'
    get:
      routes:
        - use: employees.get
          enrich: [*departments]
      record_mapping: *mapping
"#;

#[test]
fn a_join_reading_every_page_asks_for_the_next_until_the_last() {
    let connector = load_connector_from_str("acme.yaml", PAGED_JOIN, None).expect("loads");
    let (ctx, cursor) = (context(), ListCursor::default());
    let responses = vec![ok(
        200,
        json!({"data": [{"id": "1", "department": "Sales"}, {"id": "2", "department": "Ops"}]}),
    )];
    let plans = connector
        .plan_list_enrichment("hris.employees", &ctx, &cursor, &responses)
        .expect("plans");
    assert_eq!(plans.len(), 1);
    let first = &plans[0];
    assert!(first.reads_every_page());
    // The largest page, not the caller's page size (5).
    assert_eq!(
        first.request.query,
        [
            ("pageSize".to_owned(), "500".to_owned()),
            ("page".to_owned(), "0".to_owned())
        ]
    );
    let page0 = ok(
        200,
        json!({"data": [{"name": "Sales", "id": "d1"}], "meta": {"page": 0, "totalPages": 2}}),
    );
    let second = connector
        .plan_next_enrichment("hris.employees", &ctx, Some(&cursor), first, &page0)
        .expect("plans")
        .expect("a second page");
    assert_eq!(second.entry, 0);
    assert_eq!(
        second.request.query,
        [
            ("pageSize".to_owned(), "500".to_owned()),
            ("page".to_owned(), "1".to_owned())
        ]
    );
    let page1 = ok(
        200,
        json!({"data": [{"name": "Ops", "id": "d2"}], "meta": {"page": 1, "totalPages": 2}}),
    );
    assert!(
        connector
            .plan_next_enrichment("hris.employees", &ctx, Some(&cursor), &second, &page1)
            .expect("plans")
            .is_none(),
        "the last page"
    );
    // A refused page asks for no more (reading the page reports it).
    assert!(
        connector
            .plan_next_enrichment(
                "hris.employees",
                &ctx,
                Some(&cursor),
                first,
                &ok(500, json!({}))
            )
            .expect("plans")
            .is_none()
    );
    // Both pages' answers join: the employee whose department is on the second page too.
    let answers = vec![(0, page0.clone()), (0, page1.clone())];
    let read = connector
        .read_list_enriched("hris.employees", &ctx, &cursor, &responses, &answers)
        .expect("reads");
    let groups: Vec<Value> = read
        .records
        .iter()
        .map(|(mapped, _)| mapped["group_ids"].clone())
        .collect();
    assert_eq!(groups, [json!(["d1"]), json!(["d2"])]);

    // A get follows the pages the same way.
    let ctx = RequestContext {
        id: Some("2".to_owned()),
        ..context()
    };
    let responses = vec![ok(200, json!({"id": "2", "department": "Ops"}))];
    let plans = connector
        .plan_record_enrichment("hris.employees", &ctx, &responses)
        .expect("plans");
    let next = connector
        .plan_next_enrichment("hris.employees", &ctx, None, &plans[0], &page0)
        .expect("plans")
        .expect("a second page");
    assert_eq!(next.request.query[1], ("page".to_owned(), "1".to_owned()));
}

#[test]
fn a_join_reading_every_page_needs_a_key_and_a_paged_method() {
    for (from, to, expected) in [
        (
            "              key: name\n",
            "",
            "is required with all_pages",
        ),
        (
            "      pagination:\n        kind: page\n        param: { in: query, name: page }\n        start_at: 0\n        has_more_expr: \"meta.page + 1 < meta.totalPages\"\n        page_size: { param: { in: query, name: pageSize }, default: 20, max: 500 }\n",
            "",
            "has no pagination the vendor pages by",
        ),
    ] {
        let text = PAGED_JOIN.replacen(from, to, 1);
        assert_ne!(text, PAGED_JOIN, "{from}");
        let error = load_connector_from_str("acme.yaml", &text, None).expect_err("refused");
        assert!(error.to_string().contains(expected), "{expected}: {error}");
    }
}
