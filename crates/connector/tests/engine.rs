//! Engine behaviour on a synthetic connector: every pagination kind, route walking, id mapping,
//! auth schemes, error classification and load errors that name the file and the path.

use connector::{
    ErrorAction, ErrorCode, ListCursor, Operation, PageState, RequestBody, RequestContext,
    VendorResponse, load_connector_from_str,
};
use serde_json::{Value, json};

const BASE: &str = r#"
schema_version: 1
meta: { id: acme, label: Acme, categories: [crm], revision: "1" }
connection_fields:
  - { name: api_key, label: API key, type: secret, required: true, schemes: [key] }
  - { name: user, label: User, type: text, schemes: [basic] }
  - { name: password, label: Password, type: secret, schemes: [basic] }
auth:
  default_scheme: key
  schemes:
    key: { kind: api_key, in: header, name: X-Api-Key, value: "{{credentials.api_key}}" }
    basic: { kind: basic, username: "{{account.user}}", password: "{{credentials.password}}" }
    token: { kind: bearer, token: "{{credentials.token}}" }
http:
  base_url: "https://{{account.region | default('us')}}.acme.test/api"
  allowed_hosts: ["*.acme.test"]
errors:
  message_expr: "body.error.message"
  vendor_code_expr: "body.error.code"
  rules:
    - { id: limited, when: "status = 429", code: rate_limited, action: rate_limited }
    - { id: gone, when: "body.error.code = 'DELETED'", code: gone, action: fail }
resources:
  people:
    by_offset:
      http_method: GET
      path: /people
      records: data
      pagination: { kind: offset, param: { in: query, name: skip }, has_more_expr: "has_more", page_size: { param: { in: query, name: limit }, default: 2, max: 2 } }
    by_page:
      http_method: GET
      path: /people/paged
      records: data
      pagination: { kind: page, param: { in: query, name: page }, start_at: 1, page_size: { param: { in: query, name: per_page }, default: 2, max: 2 } }
    by_link:
      http_method: GET
      path: /people/linked
      records: data
      pagination: { kind: link_header, page_size: { default: 2, max: 2 } }
    by_url:
      http_method: GET
      path: /people/query
      records: records
      pagination: { kind: next_url, url_expr: "done ? null : next", page_size: { default: 2, max: 2 } }
    by_cursor:
      http_method: GET
      path: /people/cursor
      records: items
      pagination: { kind: cursor, token_expr: "next", param: { in: query, name: after }, page_size: { param: { in: query, name: limit }, default: 2, max: 2 } }
    by_local:
      http_method: GET
      path: /people/everyone
      records: people
      pagination: { kind: local, sort_key_expr: id, page_size: { default: 2, max: 2 } }
    search:
      http_method: POST
      path: /people/search
      records: results
      pagination:
        kind: keyset
        sort_key_expr: "$number(id)"
        result_cap: 4
        inner: { token_expr: "next", param: { in: body, name: after } }
        page_size: { default: 2, max: 2 }
    get: { http_method: GET, path: "/people/{{id}}" }
  robots:
    list: { http_method: GET, path: /robots, records: data }
    get: { http_method: GET, path: "/robots/{{id}}" }
unified:
  crm.contacts:
    list:
      walk: first
      filters: { email: { type: string } }
      routes:
        - { id: search, when: "$exists(query.email)", use: people.search,
            body_mapping: "{ 'email': query.email, 'after_id': page.after_key, 'size': page.size }" }
        - { id: offset, when: "query.kind = 'offset'", use: people.by_offset }
        - { id: page, when: "query.kind = 'page'", use: people.by_page }
        - { id: link, when: "query.kind = 'link'", use: people.by_link }
        - { id: url, when: "query.kind = 'url'", use: people.by_url }
        - { id: local, when: "query.kind = 'local'", use: people.by_local, record_filter: "$not(active = false)" }
        - { id: cursor, use: people.by_cursor }
      record_mapping: "{ 'id': $string(id), 'first_name': name }"
    get:
      routes:
        - { id: robot, when: "$substringBefore(id, '-') = 'robot'", use: robots.get, id_mapping: "$substringAfter(id, '-')" }
        - { id: person, use: people.get }
      record_mapping: "{ 'id': $string(id), 'first_name': name }"
  crm.users:
    list:
      walk: all
      routes:
        - { id: people, use: people.by_offset }
        - { id: robots, use: robots.list }
      record_mapping: "{ 'id': $string(id), 'name': name }"
"#;

fn context(query: Value) -> RequestContext {
    RequestContext {
        account: json!({"auth_scheme": "key"}),
        query,
        page_size: 2,
        ..RequestContext::default()
    }
}

fn ok(body: Value) -> VendorResponse {
    VendorResponse::new(200, Vec::new(), body)
}

fn query_of(request: &connector::PlannedRequest) -> Vec<(&str, &str)> {
    request
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn offset_pages_until_the_vendor_says_no_more() {
    let connector = load_connector_from_str("acme.yaml", BASE, None).expect("loads");
    let ctx = context(json!({"kind": "offset"}));
    let first = connector
        .plan_list("crm.contacts", &ctx, &ListCursor::default())
        .expect("plans");
    assert_eq!(first.url, "https://us.acme.test/api/people");
    assert_eq!(query_of(&first), vec![("limit", "2"), ("skip", "0")]);
    let page = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &ListCursor::default(),
            &ok(json!({"data": [{"id": 1}, {"id": 2}], "has_more": true})),
        )
        .expect("reads");
    let next = page.next.expect("more");
    assert_eq!(next.p, PageState::Offset { o: 2 });
    let second = connector
        .plan_list("crm.contacts", &ctx, &next)
        .expect("plans");
    assert_eq!(query_of(&second), vec![("limit", "2"), ("skip", "2")]);
    let last = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &next,
            &ok(json!({"data": [{"id": 3}], "has_more": false})),
        )
        .expect("reads");
    assert_eq!(last.next, None);
}

#[test]
fn page_numbers_advance_while_pages_are_full() {
    let connector = load_connector_from_str("acme.yaml", BASE, None).expect("loads");
    let ctx = context(json!({"kind": "page"}));
    let first = connector
        .plan_list("crm.contacts", &ctx, &ListCursor::default())
        .expect("plans");
    assert_eq!(query_of(&first), vec![("per_page", "2"), ("page", "1")]);
    let page = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &ListCursor::default(),
            &ok(json!({"data": [{"id": 1}, {"id": 2}]})),
        )
        .expect("reads");
    assert_eq!(
        page.next.as_ref().map(|c| c.p.clone()),
        Some(PageState::Page { p: 2 })
    );
    let short = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &page.next.clone().expect("next"),
            &ok(json!({"data": [{"id": 3}]})),
        )
        .expect("reads");
    assert_eq!(short.next, None);
}

#[test]
fn link_headers_and_next_urls_are_followed_as_given() {
    let connector = load_connector_from_str("acme.yaml", BASE, None).expect("loads");
    let ctx = context(json!({"kind": "link"}));
    let mut response = ok(json!({"data": [{"id": 1}, {"id": 2}]}));
    response.headers.push((
        "link".to_owned(),
        r#"<https://us.acme.test/api/people/linked?page=2>; rel="next", <https://us.acme.test/api/people/linked?page=9>; rel="last""#.to_owned(),
    ));
    let page = connector
        .read_list("crm.contacts", &ctx, &ListCursor::default(), &response)
        .expect("reads");
    let next = page.next.expect("a next link");
    let planned = connector
        .plan_list("crm.contacts", &ctx, &next)
        .expect("plans");
    assert_eq!(planned.url, "https://us.acme.test/api/people/linked?page=2");
    assert!(planned.query.is_empty());

    let ctx = context(json!({"kind": "url"}));
    let page = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &ListCursor::default(),
            &ok(json!({"records": [{"id": 1}], "done": false, "next": "/api/people/query/01g-2"})),
        )
        .expect("reads");
    let next = page.next.expect("a next url");
    let planned = connector
        .plan_list("crm.contacts", &ctx, &next)
        .expect("plans");
    assert_eq!(planned.url, "https://us.acme.test/api/people/query/01g-2");
    let done = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &next,
            &ok(json!({"records": [{"id": 2}], "done": true, "next": "x"})),
        )
        .expect("reads");
    assert_eq!(done.next, None);
}

#[test]
fn cursor_tokens_travel_in_the_declared_parameter() {
    let connector = load_connector_from_str("acme.yaml", BASE, None).expect("loads");
    let ctx = context(json!({}));
    let page = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &ListCursor::default(),
            &ok(json!({"items": [{"id": 1, "name": "Ann"}], "next": "tok-2"})),
        )
        .expect("reads");
    assert_eq!(page.records[0].0, json!({"id": "1", "first_name": "Ann"}));
    let next = page.next.expect("next");
    let planned = connector
        .plan_list("crm.contacts", &ctx, &next)
        .expect("plans");
    assert_eq!(query_of(&planned), vec![("limit", "2"), ("after", "tok-2")]);
}

#[test]
fn keyset_restarts_its_window_before_the_result_cap() {
    let connector = load_connector_from_str("acme.yaml", BASE, None).expect("loads");
    let ctx = context(json!({"email": "a@b.c"}));
    let start = ListCursor::default();
    let first = connector
        .plan_list("crm.contacts", &ctx, &start)
        .expect("plans");
    assert_eq!(
        first.body,
        RequestBody::Json(json!({"email": "a@b.c", "after_id": null, "size": 2}))
    );
    // Window read 2 of a cap of 4: one more page fits.
    let page = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &start,
            &ok(json!({"results": [{"id": "10"}, {"id": "11"}], "next": "2"})),
        )
        .expect("reads");
    let second_cursor = page.next.expect("next");
    assert_eq!(
        second_cursor.p,
        PageState::Keyset {
            a: None,
            t: Some("2".to_owned()),
            n: 2
        }
    );
    let second = connector
        .plan_list("crm.contacts", &ctx, &second_cursor)
        .expect("plans");
    assert_eq!(
        second.body,
        RequestBody::Json(json!({"email": "a@b.c", "after_id": null, "size": 2, "after": "2"}))
    );
    // 4 read: the next page would pass the cap, so the window restarts after the last key.
    let page = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &second_cursor,
            &ok(json!({"results": [{"id": "12"}, {"id": "13"}], "next": "4"})),
        )
        .expect("reads");
    let restart = page.next.expect("next");
    assert_eq!(
        restart.p,
        PageState::Keyset {
            a: Some(json!(13)),
            t: None,
            n: 0
        }
    );
    let third = connector
        .plan_list("crm.contacts", &ctx, &restart)
        .expect("plans");
    assert_eq!(
        third.body,
        RequestBody::Json(json!({"email": "a@b.c", "after_id": 13, "size": 2}))
    );
    let end = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &restart,
            &ok(json!({"results": [{"id": "14"}]})),
        )
        .expect("reads");
    assert_eq!(end.next, None);
}

#[test]
fn walk_all_lists_every_route_in_turn() {
    let connector = load_connector_from_str("acme.yaml", BASE, None).expect("loads");
    let ctx = context(json!({}));
    let page = connector
        .read_list(
            "crm.users",
            &ctx,
            &ListCursor::default(),
            &ok(json!({"data": [{"id": 1}], "has_more": false})),
        )
        .expect("reads");
    let next = page.next.expect("the second route follows");
    assert_eq!(
        next,
        ListCursor {
            r: 1,
            p: PageState::Start
        }
    );
    let planned = connector
        .plan_list("crm.users", &ctx, &next)
        .expect("plans");
    assert_eq!(planned.url, "https://us.acme.test/api/robots");
    let last = connector
        .read_list(
            "crm.users",
            &ctx,
            &next,
            &ok(json!({"data": [{"id": 7, "name": "R2"}]})),
        )
        .expect("reads");
    assert_eq!(last.next, None);
}

#[test]
fn ids_are_mapped_and_escaped_into_paths() {
    let connector = load_connector_from_str("acme.yaml", BASE, None).expect("loads");
    let mut ctx = context(json!({}));
    ctx.id = Some("robot-42".to_owned());
    let planned = connector
        .plan("crm.contacts", Operation::Get, &ctx, &PageState::Start)
        .expect("plans");
    assert_eq!(planned.url, "https://us.acme.test/api/robots/42");
    ctx.id = Some("../admin?x=1".to_owned());
    let planned = connector
        .plan("crm.contacts", Operation::Get, &ctx, &PageState::Start)
        .expect("plans");
    assert_eq!(
        planned.url,
        "https://us.acme.test/api/people/..%2Fadmin%3Fx%3D1"
    );
}

#[test]
fn auth_schemes_place_credentials() {
    let connector = load_connector_from_str("acme.yaml", BASE, None).expect("loads");
    let ctx = context(json!({}));
    let base = connector
        .plan_list("crm.contacts", &ctx, &ListCursor::default())
        .expect("plans");
    let mut request = base.clone();
    connector
        .authenticate("key", &json!({"api_key": "k1"}), &json!({}), &mut request)
        .expect("auth");
    assert!(
        request
            .headers
            .contains(&("X-Api-Key".to_owned(), "k1".to_owned()))
    );
    let mut request = base.clone();
    connector
        .authenticate(
            "basic",
            &json!({"password": "pw"}),
            &json!({"user": "ann"}),
            &mut request,
        )
        .expect("auth");
    assert!(
        request
            .headers
            .contains(&("Authorization".to_owned(), "Basic YW5uOnB3".to_owned()))
    );
    let mut request = base;
    let error = connector
        .authenticate("token", &json!({}), &json!({}), &mut request)
        .expect_err("no token");
    assert!(error.to_string().contains("credentials.token"), "{error}");
    assert!(connector.url_allowed(&url("https://eu.acme.test/v1")));
    assert!(!connector.url_allowed(&url("https://acme.test.evil.com/v1")));
    assert!(
        !connector.url_allowed(&url("http://eu.acme.test/v1")),
        "https only"
    );
}

#[test]
fn errors_are_classified_by_the_first_matching_rule_then_by_status() {
    let connector = load_connector_from_str("acme.yaml", BASE, None).expect("loads");
    let answer = |status: u16, body: Value| VendorResponse::new(status, Vec::new(), body);
    let limited = connector
        .classify(&answer(429, json!({})))
        .expect("an error");
    assert_eq!(
        (limited.code, limited.action),
        (ErrorCode::RateLimited, ErrorAction::RateLimited)
    );
    let gone = connector
        .classify(&answer(
            400,
            json!({"error": {"code": "DELETED", "message": "it is gone"}}),
        ))
        .expect("an error");
    assert_eq!(gone.code, ErrorCode::Gone);
    assert_eq!(gone.rule.as_deref(), Some("gone"));
    assert_eq!(gone.message.as_deref(), Some("it is gone"));
    assert_eq!(gone.vendor_code.as_deref(), Some("DELETED"));
    let missing = connector
        .classify(&answer(404, json!(null)))
        .expect("an error");
    assert_eq!((missing.code, missing.rule), (ErrorCode::NotFound, None));
    assert_eq!(connector.classify(&answer(200, json!({}))), None);
}

#[test]
fn load_errors_name_the_file_and_the_path() {
    let broken = BASE.replace(
        "record_mapping: \"{ 'id': $string(id), 'name': name }\"",
        "record_mapping: \"{ 'id': \"",
    );
    let error = load_connector_from_str("acme.yaml", &broken, None).expect_err("broken JSONata");
    assert_eq!(error.file, "acme.yaml");
    assert_eq!(
        error.path.as_deref(),
        Some("unified.crm.users.list.record_mapping")
    );
    assert!(error.to_string().contains("acme.yaml"), "{error}");

    let unknown = BASE.replace("revision: \"1\"", "revision: \"1\", colour: red");
    let error = load_connector_from_str("acme.yaml", &unknown, None).expect_err("unknown field");
    assert_eq!(error.path.as_deref(), Some("meta.colour"));
    assert!(error.message.contains("colour"), "{error}");

    let bad_route = BASE.replace("use: robots.list", "use: robots.nothing");
    let error = load_connector_from_str("acme.yaml", &bad_route, None).expect_err("bad reference");
    assert_eq!(
        error.path.as_deref(),
        Some("unified.crm.users.list.routes[1].use")
    );

    let error = load_connector_from_str("acme.yaml", "schema_version: 1\nmeta: [", None)
        .expect_err("bad yaml");
    assert!(error.line.is_some(), "{error}");

    let error = load_connector_from_str(
        "acme.yaml",
        &BASE.replace("schema_version: 1", "schema_version: 9"),
        None,
    )
    .expect_err("unknown version");
    assert!(error.message.contains("`9`"), "{error}");

    let override_patch = json!({"http": {"base_url": "http://127.0.0.1:9/api", "allowed_hosts": ["http://127.0.0.1:9"]}});
    let patched = load_connector_from_str("acme.yaml", BASE, Some(&override_patch)).expect("loads");
    assert!(patched.url_allowed(&url("http://127.0.0.1:9/api/x")));
    assert!(
        !patched.url_allowed(&url("http://127.0.0.1:10/api/x")),
        "another port"
    );
    assert!(!patched.url_allowed(&url("https://us.acme.test/")));
}

#[test]
fn keyset_continues_after_a_short_page_when_the_vendor_says_more_follow() {
    let text = BASE.replace(
        "        result_cap: 4\n        inner: { token_expr: \"next\", param: { in: body, name: after } }\n",
        "        has_more_expr: \"done = false\"\n",
    );
    let connector = load_connector_from_str("acme.yaml", &text, None).expect("loads");
    let ctx = context(json!({"email": "a@b.c"}));
    let start = ListCursor::default();
    let short = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &start,
            &ok(json!({"results": [{"id": "10"}], "done": false})),
        )
        .expect("reads");
    assert_eq!(
        short.next.map(|c| c.p),
        Some(PageState::Keyset {
            a: Some(json!(10)),
            t: None,
            n: 0
        })
    );
    let done = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &start,
            &ok(json!({"results": [{"id": "10"}], "done": true})),
        )
        .expect("reads");
    assert_eq!(done.next, None);
    let full = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &start,
            &ok(json!({"results": [{"id": "10"}, {"id": "11"}], "done": true})),
        )
        .expect("reads");
    assert!(full.next.is_some(), "a full page always continues");
}

#[test]
fn a_param_format_wraps_the_value() {
    let text = BASE.replace(
        "pagination: { kind: link_header, page_size: { default: 2, max: 2 } }",
        "pagination: { kind: link_header, page_size: { param: { in: header, name: Prefer, format: \"odata.maxpagesize={value}\" }, default: 2, max: 2 } }",
    );
    let connector = load_connector_from_str("acme.yaml", &text, None).expect("loads");
    let planned = connector
        .plan_list(
            "crm.contacts",
            &context(json!({"kind": "link"})),
            &ListCursor::default(),
        )
        .expect("plans");
    assert!(
        planned
            .headers
            .contains(&("Prefer".to_owned(), "odata.maxpagesize=2".to_owned())),
        "{:?}",
        planned.headers
    );
}

#[test]
fn a_header_param_replaces_a_default_header_and_follows_next_urls() {
    let text = BASE
        .replace(
            "  allowed_hosts: [\"*.acme.test\"]\n",
            "  allowed_hosts: [\"*.acme.test\"]\n  headers: { Prefer: \"annotations=all\" }\n",
        )
        .replace(
            "pagination: { kind: next_url, url_expr: \"done ? null : next\", page_size: { default: 2, max: 2 } }",
            "pagination: { kind: next_url, url_expr: \"done ? null : next\", page_size: { param: { in: header, name: Prefer, format: \"annotations=all,maxpagesize={value}\" }, default: 2, max: 2 } }",
        );
    let connector = load_connector_from_str("acme.yaml", &text, None).expect("loads");
    let ctx = context(json!({"kind": "url"}));
    let prefer = |request: &connector::PlannedRequest| -> Vec<String> {
        request
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("prefer"))
            .map(|(_, value)| value.clone())
            .collect()
    };
    let first = connector
        .plan_list("crm.contacts", &ctx, &ListCursor::default())
        .expect("plans");
    assert_eq!(prefer(&first), vec!["annotations=all,maxpagesize=2"]);
    let next = ListCursor {
        r: 0,
        p: PageState::Url {
            u: "https://us.acme.test/api/people/query?page=2".to_owned(),
        },
    };
    let second = connector
        .plan_list("crm.contacts", &ctx, &next)
        .expect("plans");
    assert_eq!(second.url, "https://us.acme.test/api/people/query?page=2");
    assert!(second.query.is_empty(), "{:?}", second.query);
    assert_eq!(prefer(&second), vec!["annotations=all,maxpagesize=2"]);
}

#[test]
fn record_filters_skip_records_but_paging_follows_the_whole_vendor_page() {
    let filtered = BASE.replace(
        "{ id: cursor, use: people.by_cursor }",
        "{ id: cursor, use: people.by_cursor, record_filter: \"kind = 'person'\" }",
    );
    let connector = load_connector_from_str("acme.yaml", &filtered, None).expect("loads");
    let ctx = context(json!({}));
    let mixed = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &ListCursor::default(),
            &ok(json!({"items": [{"id": 1, "name": "Ann", "kind": "person"},
                                 {"id": 2, "name": "R2", "kind": "robot"}], "next": "tok-2"})),
        )
        .expect("reads");
    let ids: Vec<&Value> = mixed
        .records
        .iter()
        .map(|(mapped, _)| &mapped["id"])
        .collect();
    assert_eq!(ids, vec![&json!("1")]);
    let next = mixed.next.expect("a full vendor page continues");
    // A page holding no matching record still continues while the vendor gives a token.
    let none_kept = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &next,
            &ok(json!({"items": [{"id": 3, "name": "R3", "kind": "robot"}], "next": "tok-3"})),
        )
        .expect("reads");
    assert!(none_kept.records.is_empty() && none_kept.errors.is_empty());
    assert_eq!(
        none_kept.next,
        Some(ListCursor {
            r: 0,
            p: PageState::Token {
                t: "tok-3".to_owned()
            }
        })
    );

    let on_get = BASE.replace(
        "{ id: person, use: people.get }",
        "{ id: person, use: people.get, record_filter: \"true\" }",
    );
    let error = load_connector_from_str("acme.yaml", &on_get, None).expect_err("list only");
    assert!(
        error.to_string().contains("get.routes[1].record_filter"),
        "{error}"
    );
}

#[test]
fn oauth_schemes_render_endpoints_capture_values_and_spot_invalid_grants() {
    let text = BASE.replace(
        "    token: { kind: bearer, token: \"{{credentials.token}}\" }\n",
        "    token: { kind: bearer, token: \"{{credentials.token}}\" }\n    oauth:\n      kind: oauth2\n      grant: authorization_code\n      authorize_url: \"https://{{account.region | default('us')}}.acme.test/authorize\"\n      token_url: \"https://{{account.region | default('us')}}.acme.test/token\"\n      scopes: [\"{{account.region | default('us')}}/.default\", offline]\n      pkce: true\n      capture: { instance_url: instance_url, org: \"$split(id, '/')[-1]\" }\n      invalid_grant_when: \"body.status = 'BAD_REFRESH_TOKEN'\"\n",
    );
    let connector = load_connector_from_str("acme.yaml", &text, None).expect("loads");
    let endpoints = connector
        .oauth2("oauth", &json!({"region": "eu"}))
        .expect("renders")
        .expect("an oauth scheme");
    assert_eq!(
        endpoints.authorize_url.as_deref(),
        Some("https://eu.acme.test/authorize")
    );
    assert_eq!(endpoints.token_url, "https://eu.acme.test/token");
    assert_eq!(
        endpoints.scopes,
        vec!["eu/.default".to_owned(), "offline".to_owned()]
    );
    assert!(endpoints.pkce);
    assert_eq!(endpoints.refresh_before_expiry_secs, 300);
    assert_eq!(connector.oauth2("key", &json!({})).expect("renders"), None);
    let captured = connector
        .capture_token_response(
            "oauth",
            &json!({"instance_url": "https://x.acme.test", "id": "https://login/id/00D/005"}),
        )
        .expect("captures");
    assert_eq!(
        captured.get("instance_url"),
        Some(&json!("https://x.acme.test"))
    );
    assert_eq!(captured.get("org"), Some(&json!("005")));
    let refused = VendorResponse::new(400, Vec::new(), json!({"status": "BAD_REFRESH_TOKEN"}));
    assert!(connector.is_invalid_grant("oauth", &refused));
    let other = VendorResponse::new(400, Vec::new(), json!({"status": "BAD_CLIENT_ID"}));
    assert!(!connector.is_invalid_grant("oauth", &other));
}

#[test]
fn a_custom_header_scheme_sends_every_declared_header() {
    let text = BASE.replace(
        "    token: { kind: bearer, token: \"{{credentials.token}}\" }\n",
        "    token: { kind: bearer, token: \"{{credentials.token}}\" }\n    pair:\n      kind: headers\n      headers: { X-Api-User: \"{{account.user}}\", X-Api-Secret: \"{{credentials.secret}}\" }\n",
    );
    let connector = load_connector_from_str("acme.yaml", &text, None).expect("loads");
    let mut request = connector
        .plan_list("crm.contacts", &context(json!({})), &ListCursor::default())
        .expect("plans");
    connector
        .authenticate(
            "pair",
            &json!({"secret": "s3"}),
            &json!({"user": "ann"}),
            &mut request,
        )
        .expect("auth");
    assert!(
        request
            .headers
            .contains(&("X-Api-User".to_owned(), "ann".to_owned()))
    );
    assert!(
        request
            .headers
            .contains(&("X-Api-Secret".to_owned(), "s3".to_owned()))
    );
    let broken = BASE.replace(
        "    token: { kind: bearer, token: \"{{credentials.token}}\" }\n",
        "    token: { kind: bearer, token: \"{{credentials.token}}\" }\n    pair: { kind: headers, headers: {} }\n",
    );
    let error = load_connector_from_str("acme.yaml", &broken, None).expect_err("no headers");
    assert_eq!(error.path.as_deref(), Some("auth.schemes.pair.headers"));
}

#[test]
fn an_oauth_token_goes_after_the_schemes_token_prefix() {
    let oauth = |prefix: &str| {
        BASE.replace(
            "    token: { kind: bearer, token: \"{{credentials.token}}\" }\n",
            &format!(
                "    token: {{ kind: bearer, token: \"{{{{credentials.token}}}}\" }}\n    oauth:\n      kind: oauth2\n      grant: authorization_code\n      authorize_url: https://acme.test/authorize\n      token_url: https://acme.test/token\n{prefix}"
            ),
        )
    };
    for (declared, header) in [
        ("", "Bearer t1"),
        (
            "      token_prefix: Acme-oauthtoken\n",
            "Acme-oauthtoken t1",
        ),
    ] {
        let connector =
            load_connector_from_str("acme.yaml", &oauth(declared), None).expect("loads");
        let mut request = connector
            .plan_list("crm.contacts", &context(json!({})), &ListCursor::default())
            .expect("plans");
        connector
            .authenticate(
                "oauth",
                &json!({"access_token": "t1"}),
                &json!({}),
                &mut request,
            )
            .expect("auth");
        assert!(
            request
                .headers
                .contains(&("Authorization".to_owned(), header.to_owned())),
            "{:?}",
            request.headers
        );
    }
    let error = load_connector_from_str(
        "acme.yaml",
        &oauth("      token_prefix: \"two words\"\n"),
        None,
    )
    .expect_err("one word");
    assert_eq!(
        error.path.as_deref(),
        Some("auth.schemes.oauth.token_prefix")
    );
}

#[test]
fn a_route_places_headers_from_its_mapping_and_an_error_names_its_field() {
    let text = BASE.replace(
        "        - { id: cursor, use: people.by_cursor }",
        "        - { id: cursor, use: people.by_cursor, header_mapping: \"query.updated_after ? {'If-Modified-Since': query.updated_after, 'X-None': null}\" }",
    )
    .replace(
        "errors:\n",
        "errors:\n  field_expr: \"body.data[0].details.api_name\"\n",
    );
    let connector = load_connector_from_str("acme.yaml", &text, None).expect("loads");
    let request = connector
        .plan_list(
            "crm.contacts",
            &context(json!({"updated_after": "2026-01-01T00:00:00Z"})),
            &ListCursor::default(),
        )
        .expect("plans");
    assert!(
        request.headers.contains(&(
            "If-Modified-Since".to_owned(),
            "2026-01-01T00:00:00Z".to_owned()
        )),
        "{:?}",
        request.headers
    );
    assert!(!request.headers.iter().any(|(name, _)| name == "X-None"));
    let plain = connector
        .plan_list("crm.contacts", &context(json!({})), &ListCursor::default())
        .expect("plans");
    assert!(
        !plain
            .headers
            .iter()
            .any(|(name, _)| name == "If-Modified-Since")
    );
    let refused = connector
        .classify(&VendorResponse::new(
            400,
            Vec::new(),
            json!({"data": [{"code": "INVALID_DATA", "details": {"api_name": "Email"}, "status": "error"}]}),
        ))
        .expect("an error");
    assert_eq!(refused.field.as_deref(), Some("Email"));
}

#[test]
fn remote_data_in_a_write_is_merged_over_the_mapped_body() {
    let text = BASE.replace(
        "  crm.users:\n",
        "  crm.companies:\n    get:\n      routes: [ { use: people.get } ]\n      record_mapping: \"{ 'id': $string(id) }\"\n    create:\n      routes:\n        - { use: people.search, body_mapping: \"{ 'name': body.name, 'nested': { 'keep': 1 } }\" }\n  crm.users:\n",
    );
    let connector = load_connector_from_str("acme.yaml", &text, None).expect("loads");
    let mut ctx = context(json!({}));
    ctx.body =
        Some(json!({"name": "Acme", "remote_data": {"vendor_only": true, "nested": {"extra": 2}}}));
    let planned = connector
        .plan("crm.companies", Operation::Create, &ctx, &PageState::Start)
        .expect("plans");
    assert_eq!(
        planned.body,
        RequestBody::Json(
            json!({"name": "Acme", "nested": {"keep": 1, "extra": 2}, "vendor_only": true})
        )
    );
}

fn url(text: &str) -> url::Url {
    url::Url::parse(text).expect("a url")
}

/// A `feed` deletion listing pages like a list under `deletes_listing(object)`, its window in
/// `query.since`/`query.until`, each entry mapped to `{"id": …}`; bad declarations name their
/// path (issue 16).
#[test]
fn a_deletion_feed_is_planned_and_read_as_a_list() {
    let declared = BASE.replace(
        "  crm.users:\n",
        r#"    deletes:
      kind: feed
      reach_secs: 86400
      out_of_reach_rule: gone
      id_expr: "$string(id)"
      routes:
        - use: people.by_cursor
          query_mapping: "{ 'from': query.since, 'to': query.until }"
  crm.users:
"#,
    );
    let connector = load_connector_from_str("acme.yaml", &declared, None).expect("loads");
    assert!(matches!(
        connector.deletes("crm.contacts"),
        Some(connector::file::Deletes::Feed {
            reach_secs: 86400,
            ..
        })
    ));
    let key = connector::deletes_listing("crm.contacts");
    let ctx = context(json!({"since": "2026-11-01T00:00:00Z", "until": "2026-11-02T00:00:00Z"}));
    let request = connector
        .plan_list(&key, &ctx, &ListCursor::default())
        .expect("planned");
    assert_eq!(
        query_of(&request),
        vec![
            ("from", "2026-11-01T00:00:00Z"),
            ("to", "2026-11-02T00:00:00Z"),
            ("limit", "2"),
        ]
    );
    let page = connector
        .read_list(
            &key,
            &ctx,
            &ListCursor::default(),
            &ok(json!({"items": [{"id": 7, "deletedDate": "x"}, {"id": 9}], "next": "n2"})),
        )
        .expect("read");
    assert_eq!(
        page.records
            .iter()
            .map(|(mapped, _)| mapped.clone())
            .collect::<Vec<_>>(),
        vec![json!({"id": "7"}), json!({"id": "9"})]
    );
    assert!(page.next.is_some());
    assert!(
        !connector.supports(&connector::deletes_listing("crm.users"), Operation::List),
        "no deletes declared, no listing"
    );

    for (broken, path) in [
        (
            declared.replace("reach_secs: 86400", "reach_secs: 0"),
            "unified.crm.contacts.deletes.reach_secs",
        ),
        (
            declared.replace("out_of_reach_rule: gone", "out_of_reach_rule: nope"),
            "unified.crm.contacts.deletes.out_of_reach_rule",
        ),
        (
            declared.replace("use: people.by_cursor\n", "use: people.nothing\n"),
            "unified.crm.contacts.deletes.routes[0].use",
        ),
        (
            BASE.replace(
                "  crm.users:\n    list:\n      walk: all\n      routes:\n        - { id: people, use: people.by_offset }\n        - { id: robots, use: robots.list }\n      record_mapping: \"{ 'id': $string(id), 'name': name }\"\n",
                "  crm.users:\n    deletes: { kind: id_diff }\n",
            ),
            "unified.crm.users.deletes",
        ),
    ] {
        let error = load_connector_from_str("acme.yaml", &broken, None).expect_err(path);
        assert_eq!(error.path.as_deref(), Some(path), "{error}");
    }
}

fn ids_of(page: &connector::ListPage) -> Vec<String> {
    page.records
        .iter()
        .map(|(record, _)| record["id"].as_str().expect("id").to_owned())
        .collect()
}

#[test]
fn a_single_answer_is_paged_locally_by_key_and_the_filter_counts_before_the_slice() {
    let connector = load_connector_from_str("acme.yaml", BASE, None).expect("loads");
    let ctx = context(json!({"kind": "local"}));
    let first = connector
        .plan_list("crm.contacts", &ctx, &ListCursor::default())
        .expect("plans");
    assert_eq!(first.url, "https://us.acme.test/api/people/everyone");
    assert!(first.query.is_empty(), "nothing of paging is sent");
    // Keys compare as numbers (2 before 10); a filtered-out record takes no place in a page.
    let answer = |ids: &[(u64, bool)]| {
        ok(
            json!({"people": ids.iter().map(|(id, active)| json!({"id": id, "active": active})).collect::<Vec<_>>()}),
        )
    };
    let page = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &ListCursor::default(),
            &answer(&[(10, true), (1, false), (2, true), (3, true), (11, true)]),
        )
        .expect("reads");
    assert_eq!(ids_of(&page), ["2", "3"]);
    let next = page.next.expect("more");
    assert_eq!(next.p, PageState::Local { a: json!(3) });
    let again = connector
        .plan_list("crm.contacts", &ctx, &next)
        .expect("plans");
    assert_eq!(again.url, first.url);
    assert_eq!(again.query, first.query);
    // Between pages 2 was deleted and 0 and 4 were added: no record present throughout is
    // skipped or repeated.
    let page = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &next,
            &answer(&[(0, true), (3, true), (10, true), (4, true), (11, true)]),
        )
        .expect("reads");
    assert_eq!(ids_of(&page), ["4", "10"]);
    let next = page.next.expect("more");
    let last = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &next,
            &answer(&[(3, true), (4, true), (10, true), (11, true)]),
        )
        .expect("reads");
    assert_eq!(ids_of(&last), ["11"]);
    assert_eq!(last.next, None, "a page that holds the rest is the last");
    // Digit strings compare by value; a record without a key is an item error.
    let strings = connector
        .read_list(
            "crm.contacts",
            &ctx,
            &ListCursor::default(),
            &ok(json!({"people": [{"id": "10"}, {"id": "9"}, {"name": "no key"}]})),
        )
        .expect("reads");
    assert_eq!(ids_of(&strings), ["9", "10"]);
    assert_eq!(strings.next, None);
    assert_eq!(strings.errors.len(), 1, "{:?}", strings.errors);
    assert_eq!(strings.errors[0].index, 2);
    assert_eq!(strings.errors[0].code, connector::RecordError::NO_SORT_KEY);
}

#[test]
fn a_local_page_size_is_never_sent() {
    let broken = BASE.replace(
        "pagination: { kind: local, sort_key_expr: id, page_size: { default: 2, max: 2 } }",
        "pagination: { kind: local, sort_key_expr: id, page_size: { param: { in: query, name: limit }, default: 2, max: 2 } }",
    );
    let error = load_connector_from_str("acme.yaml", &broken, None).expect_err("param refused");
    assert_eq!(
        error.path.as_deref(),
        Some("resources.people.by_local.pagination.page_size.param"),
        "{error}"
    );
}
