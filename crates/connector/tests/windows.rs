//! Date-window walks (`windows` pagination): a history the vendor answers a month at a time,
//! walked window by window with the vendor's cursor inside each, bounded by the walk's days and
//! resumable from the cursor; and named tokens of an OAuth 2.0 scheme (`tokens`), which the
//! methods naming them send instead of the scheme's own token.

use connector::{ListCursor, PageState, RequestContext, VendorResponse, load_connector_from_str};
use serde_json::{Value, json};

const CONNECTOR: &str = r#"
schema_version: 1
meta: { id: acme, label: Acme, categories: [hris], revision: "1" }
vars: { history_start: "2024-11-15", v2_root: "https://api.acme.test/v2" }
auth:
  schemes:
    creds:
      kind: oauth2
      grant: client_credentials
      token_url: https://api.acme.test/v1/auth
      client: connection
      tokens:
        v2:
          token_url: https://api.acme.test/v2/token
          scopes: ["pay:read"]
          token_prefix: Token
http:
  base_url: https://api.acme.test/v1
  allowed_hosts: [api.acme.test]
resources:
  pay:
    months:
      http_method: GET
      base_url: "{{vars.v2_root}}"
      path: /pay
      token: v2
      records: rows
      pagination:
        kind: windows
        start_expr: vars.history_start
        end_expr: query.until
        inner: { token_expr: next, param: { in: query, name: cursor } }
        page_size: { param: { in: query, name: limit }, default: 2, max: 2 }
    next_month:
      http_method: GET
      path: https://api.acme.test/v2/pay
      token: v2
      records: rows
  people:
    list: { http_method: GET, path: /people, records: data }
unified:
  hris.compensations:
    list:
      routes:
        - use: pay.months
          query_mapping: '{"from": page.window_start, "to": page.window_end}'
          enrich:
            - use: pay.next_month
              max_items: 10
              query_mapping: '{"from": list_page.window_end, "people": $join(records.person, ",")}'
              key: id
              merge: '{"_paid_next": true}'
          # A row is kept in the walk's first window or in the window it starts in.
          record_filter: "effective_from >= $page.window_start or $page.window_start = $page.walk_start"
      record_mapping: >-
        {"id": id, "employee_id": person, "effective_date": effective_from,
         "remote_data": {"window": $page.window_start, "paid_next": _paid_next}}
  hris.employees:
    list:
      routes:
        - use: people.list
      record_mapping: '{"id": id}'
"#;

fn context(until: &str) -> RequestContext {
    RequestContext {
        account: json!({"auth_scheme": "creds"}),
        query: json!({"until": until}),
        page_size: 2,
        ..RequestContext::default()
    }
}

fn ok(body: Value) -> VendorResponse {
    VendorResponse::new(200, Vec::new(), body)
}

fn param<'a>(request: &'a connector::PlannedRequest, name: &str) -> Option<&'a str> {
    request
        .query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[test]
fn a_walk_goes_month_by_month_with_the_vendors_cursor_inside_each_and_ends_on_its_last_day() {
    let connector = load_connector_from_str("acme.yaml", CONNECTOR, None).expect("loads");
    let ctx = context("2025-02-10");
    let mut cursor = ListCursor::default();
    let mut asked = Vec::new();
    // The vendor's answers, by window: two pages in December, nothing in January.
    let answer = |from: &str, token: Option<&str>| match (from, token) {
        ("2024-11-15", None) => json!({"rows": [
            {"id": "a", "person": "1", "effective_from": "2023-05-01"},
            {"id": "b", "person": "2", "effective_from": "2024-11-20"}]}),
        ("2024-12-01", None) => json!({"rows": [
            {"id": "a", "person": "1", "effective_from": "2023-05-01"},
            {"id": "c", "person": "1", "effective_from": "2024-12-01"}], "next": "p2"}),
        ("2024-12-01", Some("p2")) => json!({"rows": [
            {"id": "b", "person": "2", "effective_from": "2024-11-20"}]}),
        ("2025-01-01", None) => json!({"rows": []}),
        ("2025-02-01", None) => json!({"rows": [
            {"id": "d", "person": "2", "effective_from": "2025-02-03"}]}),
        other => panic!("unexpected request {other:?}"),
    };
    let mut kept = Vec::new();
    for _ in 0..10 {
        let request = connector
            .plan_list("hris.compensations", &ctx, &cursor)
            .expect("plans");
        let from = param(&request, "from").expect("from").to_owned();
        let to = param(&request, "to").expect("to").to_owned();
        let token = param(&request, "cursor").map(str::to_owned);
        assert_eq!(param(&request, "limit"), Some("2"));
        asked.push((from.clone(), to, token.clone()));
        let page = connector
            .read_list(
                "hris.compensations",
                &ctx,
                &cursor,
                &ok(answer(&from, token.as_deref())),
            )
            .expect("reads");
        kept.extend(page.records.iter().map(|(record, _)| {
            (
                record["id"].clone(),
                record["remote_data"]["window"].clone(),
            )
        }));
        // The cursor survives a round trip through its serialised form (the opaque cursor).
        match page.next {
            Some(next) => {
                let text = serde_json::to_string(&next).expect("serialises");
                cursor = serde_json::from_str(&text).expect("deserialises");
            }
            None => break,
        }
    }
    let asked: Vec<(&str, &str, Option<&str>)> = asked
        .iter()
        .map(|(from, to, token)| (from.as_str(), to.as_str(), token.as_deref()))
        .collect();
    assert_eq!(
        asked,
        [
            ("2024-11-15", "2024-11-30", None),
            ("2024-12-01", "2024-12-31", None),
            ("2024-12-01", "2024-12-31", Some("p2")),
            ("2025-01-01", "2025-01-31", None),
            ("2025-02-01", "2025-02-10", None),
        ]
    );
    // Each row once: in the first window, or in the window it starts in.
    assert_eq!(
        kept,
        [
            (json!("a"), json!("2024-11-15")),
            (json!("b"), json!("2024-11-15")),
            (json!("c"), json!("2024-12-01")),
            (json!("d"), json!("2025-02-01")),
        ]
    );
    // The cursor carries the walk's days: resumed on another day, it covers the same ones.
    let resumed = ListCursor {
        r: 0,
        p: PageState::Window {
            w: "2025-02-01".to_owned(),
            s: "2024-11-15".to_owned(),
            e: "2025-02-10".to_owned(),
            t: None,
        },
    };
    let request = connector
        .plan_list("hris.compensations", &context("2030-01-01"), &resumed)
        .expect("plans");
    assert_eq!(param(&request, "to"), Some("2025-02-10"));
}

#[test]
fn a_walk_ends_today_by_default_and_a_later_start_walks_its_last_day() {
    let today = chrono::Utc::now().date_naive().to_string();
    let connector = load_connector_from_str(
        "acme.yaml",
        &CONNECTOR.replace("        end_expr: query.until\n", ""),
        None,
    )
    .expect("loads");
    let ctx = context("ignored");
    let mut cursor = ListCursor::default();
    let mut last = None;
    for _ in 0..100 {
        let request = connector
            .plan_list("hris.compensations", &ctx, &cursor)
            .expect("plans");
        last = param(&request, "to").map(str::to_owned);
        match connector
            .read_list(
                "hris.compensations",
                &ctx,
                &cursor,
                &ok(json!({"rows": []})),
            )
            .expect("reads")
            .next
        {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(last.as_deref(), Some(today.as_str()), "the walk ends today");

    let later = load_connector_from_str(
        "acme.yaml",
        &CONNECTOR.replace("\"2024-11-15\"", "\"2099-01-01\""),
        None,
    )
    .expect("loads");
    let ctx = context("2025-02-10");
    let request = later
        .plan_list("hris.compensations", &ctx, &ListCursor::default())
        .expect("plans");
    assert_eq!(
        (param(&request, "from"), param(&request, "to")),
        (Some("2025-02-10"), Some("2025-02-10"))
    );
    let page = later
        .read_list(
            "hris.compensations",
            &ctx,
            &ListCursor::default(),
            &ok(json!({"rows": []})),
        )
        .expect("reads");
    assert!(page.next.is_none());

    let error = load_connector_from_str(
        "acme.yaml",
        &CONNECTOR.replace("        inner: {", "        months: 0\n        inner: {"),
        None,
    )
    .expect_err("no empty windows");
    assert_eq!(
        error.path.as_deref(),
        Some("resources.pay.months.pagination.months")
    );
}

#[test]
fn enrichments_of_a_window_see_the_list_page() {
    let connector = load_connector_from_str("acme.yaml", CONNECTOR, None).expect("loads");
    let ctx = context("2025-02-10");
    let cursor = ListCursor::default();
    let answer = ok(json!({"rows": [
        {"id": "a", "person": "1", "effective_from": "2023-05-01"},
        {"id": "b", "person": "2", "effective_from": "2024-11-20"}]}));
    let planned = connector
        .plan_list_enrichment(
            "hris.compensations",
            &ctx,
            &cursor,
            std::slice::from_ref(&answer),
        )
        .expect("plans");
    assert_eq!(planned.len(), 1);
    let request = &planned[0].request;
    assert_eq!(param(request, "from"), Some("2024-11-30"));
    assert_eq!(param(request, "people"), Some("1,2"));
    let page = connector
        .read_list_enriched(
            "hris.compensations",
            &ctx,
            &cursor,
            &[answer],
            &[(0, ok(json!({"rows": [{"id": "a"}]})))],
        )
        .expect("reads");
    let paid: Vec<Value> = page
        .records
        .iter()
        .map(|(record, _)| record["remote_data"]["paid_next"].clone())
        .collect();
    assert_eq!(paid, [json!(true), Value::Null]);
}

#[test]
fn a_method_naming_a_token_sends_it_in_place_of_the_schemes_own() {
    let connector = load_connector_from_str("acme.yaml", CONNECTOR, None).expect("loads");
    let credentials = json!({
        "access_token": "v1-token",
        "tokens": {"v2": {"access_token": "v2-token", "expires_at": null}},
    });
    let ctx = context("2025-02-10");
    let mut pay = connector
        .plan_list("hris.compensations", &ctx, &ListCursor::default())
        .expect("plans");
    connector
        .authenticate("creds", &credentials, &json!({}), &mut pay)
        .expect("auth");
    assert!(
        pay.headers
            .contains(&("Authorization".to_owned(), "Token v2-token".to_owned())),
        "{:?}",
        pay.headers
    );
    // The method's own base URL, a template.
    assert_eq!(pay.url, "https://api.acme.test/v2/pay");
    let mut people = connector
        .plan_list("hris.employees", &ctx, &ListCursor::default())
        .expect("plans");
    connector
        .authenticate("creds", &credentials, &json!({}), &mut people)
        .expect("auth");
    assert!(
        people
            .headers
            .contains(&("Authorization".to_owned(), "Bearer v1-token".to_owned())),
        "{:?}",
        people.headers
    );
    assert_eq!(connector.method_token("pay.months"), Some("v2"));
    assert_eq!(connector.method_token("people.list"), None);
    // Without the named token yet, the request cannot be authenticated (the sender gets one
    // first).
    let mut early = connector
        .plan_list("hris.compensations", &ctx, &ListCursor::default())
        .expect("plans");
    assert!(
        connector
            .authenticate(
                "creds",
                &json!({"access_token": "v1-token"}),
                &json!({}),
                &mut early
            )
            .is_err()
    );
    // The named token's endpoint: the scheme's client, its own URL and scopes.
    let endpoints = connector
        .named_token("creds", "v2", &json!({}))
        .expect("renders")
        .expect("declared");
    assert_eq!(endpoints.token_url, "https://api.acme.test/v2/token");
    assert_eq!(endpoints.scopes, ["pay:read"]);
    assert_eq!(endpoints.client, connector::file::ClientSource::Connection);
    assert!(
        connector
            .named_token("creds", "v3", &json!({}))
            .expect("renders")
            .is_none()
    );
    let error = load_connector_from_str(
        "acme.yaml",
        &CONNECTOR.replace(
            "      token: v2\n      records: rows\n      pagination",
            "      token: v3\n      records: rows\n      pagination",
        ),
        None,
    )
    .expect_err("an undeclared token");
    assert_eq!(error.path.as_deref(), Some("resources.pay.months.token"));
}
