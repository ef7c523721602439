//! Layered overrides on a synthetic connector: every merge rule of the override contract, every
//! guard rail accepted and refused with its path, layer order, broken JSONata in an override,
//! and provenance.

use connector::{
    ErrorCode, Operation, OverrideError, OverrideLayer, PageState, RequestContext, VendorResponse,
    apply_override, load_connector_from_str, load_connector_with_layers, parse_yaml, provenance,
    provenance_of,
};
use serde_json::{Value, json};

const BASE: &str = r#"
schema_version: 1
meta: { id: acme, label: Acme, categories: [crm], revision: "1" }
vars: { api_version: v1 }
connection_fields:
  - { name: api_key, label: API key, type: secret, required: true }
  - { name: region, label: Region, type: select, options: [us, eu] }
auth:
  schemes:
    key: { kind: api_key, in: header, name: X-Api-Key, value: "{{credentials.api_key}}" }
http:
  base_url: "https://api.acme.test/{{vars.api_version}}"
  allowed_hosts: ["*.acme.test", "api.acme.test"]
  headers: { X-Client: crosswalk }
rate_limits:
  max_concurrency: 10
  buckets:
    - { id: burst, capacity: 100, refill_tokens: 100, refill_every_ms: 10000 }
    - { id: search, capacity: 5, refill_tokens: 5, refill_every_ms: 1000, applies_to: [{ resource: people, method: search }] }
errors:
  message_expr: "body.message"
  rules:
    - { id: limited, when: "status = 429", code: rate_limited, action: rate_limited }
    - { id: missing, when: "status = 404", code: not_found, action: fail }
    - { id: broken, when: "status >= 500", code: upstream_unavailable, action: retry }
resources:
  people:
    list: { http_method: GET, path: /people, records: data }
    search: { http_method: POST, path: /people/search, records: results }
    get: { http_method: GET, path: "/people/{{id}}" }
    fields: { http_method: GET, path: /people/fields, records: fields }
discovery:
  crm.contacts: { request: people.fields, field_mapping: "{ 'key': name }", ttl_secs: 3600 }
unified:
  crm.contacts:
    list:
      filters: { email: { type: string } }
      routes:
        - { id: search, when: "$exists(query.email)", use: people.search }
        - { id: all, use: people.list }
      record_mapping: "{ 'id': $string(id), 'first_name': first }"
    get:
      routes: [{ use: people.get }]
      record_mapping: "{ 'id': $string(id), 'first_name': first }"
"#;

fn base() -> Value {
    parse_yaml("acme.yaml", BASE).expect("base parses")
}

fn applied(patch: Value, layer: OverrideLayer) -> Value {
    let mut document = base();
    apply_override(&mut document, &patch, layer).expect("override applies");
    document
}

fn refused(patch: Value, layer: OverrideLayer) -> OverrideError {
    let mut document = base();
    let before = document.clone();
    let error = apply_override(&mut document, &patch, layer).expect_err("override refused");
    assert_eq!(
        document, before,
        "a refused override leaves the document as it was"
    );
    error
}

fn ids(document: &Value, pointer: &str, key: &str) -> Vec<String> {
    document
        .pointer(pointer)
        .and_then(Value::as_array)
        .expect("a list")
        .iter()
        .map(|item| item[key].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn ctx() -> RequestContext {
    RequestContext {
        account: json!({"auth_scheme": "key"}),
        id: Some("7".to_owned()),
        page_size: 10,
        ..RequestContext::default()
    }
}

// --- merge rules ---------------------------------------------------------------------------

#[test]
fn objects_merge_key_by_key_and_scalars_and_plain_arrays_replace() {
    let document = applied(
        json!({
            "vars": {"tenant": "t1"},
            "http": {"headers": {"X-Extra": "yes"}, "timeout_secs": 5},
            "connection_fields": [{"name": "region", "options": ["eu"]}],
            "unified": {"crm.contacts": {"list": {"record_mapping": "{ 'id': $string(id) }"}}},
        }),
        OverrideLayer::Environment,
    );
    assert_eq!(
        document["vars"],
        json!({"api_version": "v1", "tenant": "t1"})
    );
    assert_eq!(
        document["http"]["headers"],
        json!({"X-Client": "crosswalk", "X-Extra": "yes"})
    );
    assert_eq!(document["http"]["timeout_secs"], json!(5));
    assert_eq!(
        document["unified"]["crm.contacts"]["list"]["record_mapping"],
        json!("{ 'id': $string(id) }")
    );
    // Untouched siblings are inherited.
    assert_eq!(
        ids(&document, "/unified/crm.contacts/list/routes", "id"),
        ["search", "all"]
    );
    // `options` is a plain array: replaced, not appended to.
    assert_eq!(document["connection_fields"][1]["options"], json!(["eu"]));
    assert_eq!(document["connection_fields"][1]["label"], json!("Region"));
}

#[test]
fn null_deletes_a_key() {
    let document = applied(
        json!({
            "http": {"headers": {"X-Client": null}},
            "unified": {"crm.contacts": {"list": {"filters": null}}},
        }),
        OverrideLayer::Environment,
    );
    assert_eq!(document["http"]["headers"], json!({}));
    assert!(
        document["unified"]["crm.contacts"]["list"]
            .get("filters")
            .is_none()
    );
}

#[test]
fn keyed_lists_merge_by_id_insert_before_after_append_and_remove() {
    let document = applied(
        json!({
            "errors": {"rules": [
                {"id": "missing", "action": "ignore"},
                {"id": "teapot", "$before": "missing", "when": "status = 418", "code": "bad_request", "action": "fail"},
                {"id": "gateway", "$after": "limited", "when": "status = 502", "code": "upstream_unavailable", "action": "retry"},
                {"id": "last", "when": "status = 499", "code": "internal", "action": "fail"},
                {"id": "broken", "$remove": true},
            ]},
        }),
        OverrideLayer::Environment,
    );
    assert_eq!(
        ids(&document, "/errors/rules", "id"),
        ["limited", "gateway", "teapot", "missing", "last"]
    );
    let missing = &document["errors"]["rules"][3];
    assert_eq!(missing["action"], json!("ignore"));
    assert_eq!(
        missing["when"],
        json!("status = 404"),
        "merged, not replaced"
    );
    assert!(missing.get("$before").is_none());
    assert!(
        document["errors"]["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .all(|rule| rule
                .as_object()
                .expect("rule")
                .keys()
                .all(|k| !k.starts_with('$'))),
        "directives are stripped"
    );
}

#[test]
fn routes_and_buckets_are_keyed_lists_too() {
    let document = applied(
        json!({
            "unified": {"crm.contacts": {"list": {"routes": [
                {"id": "search", "when": "$exists(query.email) and query.kind != 'all'"},
                {"id": "recent", "$before": "all", "use": "people.list", "when": "query.recent = true"},
            ]}}},
            // The route without an id is keyed by its `use`.
            "rate_limits": {"buckets": [{"id": "burst", "capacity": 50}]},
        }),
        OverrideLayer::Operator,
    );
    assert_eq!(
        ids(&document, "/unified/crm.contacts/list/routes", "id"),
        ["search", "recent", "all"]
    );
    assert_eq!(
        document["unified"]["crm.contacts"]["list"]["routes"][0]["use"],
        json!("people.search")
    );
    assert_eq!(document["rate_limits"]["buckets"][0]["capacity"], json!(50));
    assert_eq!(
        document["rate_limits"]["buckets"][0]["refill_tokens"],
        json!(100)
    );
    assert_eq!(
        ids(&document, "/rate_limits/buckets", "id"),
        ["burst", "search"]
    );

    let document = applied(
        json!({"unified": {"crm.contacts": {"get": {"routes": [
            {"use": "people.get", "id_mapping": "$substringAfter(id, '-')"},
        ]}}}}),
        OverrideLayer::Connection,
    );
    let routes = &document["unified"]["crm.contacts"]["get"]["routes"];
    assert_eq!(routes.as_array().map(Vec::len), Some(1));
    assert_eq!(routes[0]["id_mapping"], json!("$substringAfter(id, '-')"));
}

#[test]
fn connection_fields_are_keyed_by_name() {
    let document = applied(
        json!({"connection_fields": [
            {"name": "api_key", "label": "Secret key"},
            {"name": "subdomain", "$before": "region", "label": "Subdomain", "type": "text"},
            {"name": "region", "$remove": true},
        ]}),
        OverrideLayer::Environment,
    );
    assert_eq!(
        ids(&document, "/connection_fields", "name"),
        ["api_key", "subdomain"]
    );
    assert_eq!(
        document["connection_fields"][0]["label"],
        json!("Secret key")
    );
    assert_eq!(document["connection_fields"][0]["type"], json!("secret"));
}

#[test]
fn keyed_list_directives_must_name_existing_items_and_patches_must_be_objects() {
    let error = refused(
        json!({"errors": {"rules": [{"id": "nope", "$remove": true}]}}),
        OverrideLayer::Operator,
    );
    assert_eq!(error.path, "errors.rules[nope]");
    let error = refused(
        json!({"errors": {"rules": [
            {"id": "x", "$after": "ghost", "when": "true", "code": "internal", "action": "fail"},
        ]}}),
        OverrideLayer::Operator,
    );
    assert_eq!(error.path, "errors.rules[x].$after");
    assert!(error.message.contains("ghost"), "{error}");
    let error = refused(
        json!({"errors": {"rules": [{"id": "limited", "$frobnicate": 1}]}}),
        OverrideLayer::Operator,
    );
    assert_eq!(error.path, "errors.rules[limited].$frobnicate");
    let error = refused(json!(["not", "an", "object"]), OverrideLayer::Operator);
    assert_eq!(error.path, "(root)");
    assert_eq!(applied(Value::Null, OverrideLayer::Connection), base());
}

// --- guard rails: environment --------------------------------------------------------------

#[test]
fn environment_may_not_change_meta_or_schema_version() {
    let error = refused(
        json!({"meta": {"label": "Evil"}}),
        OverrideLayer::Environment,
    );
    assert_eq!(error.path, "meta.label");
    assert!(error.message.contains("`meta`"), "{error}");
    let error = refused(json!({"schema_version": 2}), OverrideLayer::Environment);
    assert_eq!(error.path, "schema_version");
    // The operator may.
    let document = applied(
        json!({"meta": {"label": "Acme EU"}}),
        OverrideLayer::Operator,
    );
    assert_eq!(document["meta"]["label"], json!("Acme EU"));
}

#[test]
fn environment_may_narrow_but_not_widen_allowed_hosts() {
    let document = applied(
        json!({"http": {"allowed_hosts": ["api.acme.test", "*.eu.acme.test"]}}),
        OverrideLayer::Environment,
    );
    assert_eq!(
        document["http"]["allowed_hosts"],
        json!(["api.acme.test", "*.eu.acme.test"])
    );
    let error = refused(
        json!({"http": {"allowed_hosts": ["api.acme.test", "evil.test"]}}),
        OverrideLayer::Environment,
    );
    assert_eq!(error.path, "http.allowed_hosts[1]");
    assert!(error.message.contains("evil.test"), "{error}");
    // A wildcard wider than the base's is a widening too.
    let error = refused(
        json!({"http": {"allowed_hosts": ["*.test"]}}),
        OverrideLayer::Environment,
    );
    assert_eq!(error.path, "http.allowed_hosts[0]");
}

#[test]
fn environment_may_not_widen_hosts_through_base_url() {
    let document = applied(
        json!({"http": {"base_url": "https://eu.acme.test/{{vars.api_version}}"}}),
        OverrideLayer::Environment,
    );
    assert_eq!(
        document["http"]["base_url"],
        json!("https://eu.acme.test/{{vars.api_version}}")
    );
    let error = refused(
        json!({"http": {"base_url": "https://collector.evil.test/v1"}}),
        OverrideLayer::Environment,
    );
    assert_eq!(error.path, "http.base_url");
    assert!(error.message.contains("collector.evil.test"), "{error}");
    // Narrowing hosts so that the base URL's host is no longer allowed is refused as well.
    let error = refused(
        json!({"http": {"allowed_hosts": ["*.eu.acme.test"]}}),
        OverrideLayer::Environment,
    );
    assert_eq!(error.path, "http.base_url");
    // A base URL whose host is a template has no literal host to check here (the runtime
    // checks the rendered host against `allowed_hosts`).
    applied(
        json!({"http": {"base_url": "https://{{account.region}}.acme.test/v1"}}),
        OverrideLayer::Environment,
    );
    // The operator points connectors at simulators.
    let document = applied(
        json!({"http": {"base_url": "http://127.0.0.1:9/v1", "allowed_hosts": ["http://127.0.0.1:9"]}}),
        OverrideLayer::Operator,
    );
    assert_eq!(
        document["http"]["allowed_hosts"],
        json!(["http://127.0.0.1:9"])
    );
}

// --- guard rails: connection ---------------------------------------------------------------

#[test]
fn connection_may_change_vars_unified_discovery_ttl_and_headers() {
    let document = applied(
        json!({
            "vars": {"api_version": "v2"},
            "unified": {"crm.contacts": {"list": {"filters": {"owner": {"type": "string"}}}}},
            "discovery": {"crm.contacts": {"ttl_secs": 900}},
            "http": {"headers": {"X-Tenant": "t1"}},
        }),
        OverrideLayer::Connection,
    );
    assert_eq!(document["vars"]["api_version"], json!("v2"));
    assert_eq!(
        document["discovery"]["crm.contacts"]["ttl_secs"],
        json!(900)
    );
    assert_eq!(
        document["discovery"]["crm.contacts"]["request"],
        json!("people.fields")
    );
}

#[test]
fn connection_may_not_change_anything_else() {
    for (patch, path) in [
        (
            json!({"auth": {"default_scheme": "key"}}),
            "auth.default_scheme",
        ),
        (
            json!({"http": {"base_url": "https://x.acme.test"}}),
            "http.base_url",
        ),
        (
            json!({"http": {"allowed_hosts": ["api.acme.test"]}}),
            "http.allowed_hosts",
        ),
        (
            json!({"discovery": {"crm.contacts": {"request": "people.list"}}}),
            "discovery.crm.contacts.request",
        ),
        (
            json!({"resources": {"people": {"list": {"path": "/x"}}}}),
            "resources.people.list.path",
        ),
        (
            json!({"rate_limits": {"throttled_when": "true"}}),
            "rate_limits.throttled_when",
        ),
        (
            json!({"errors": {"message_expr": "body"}}),
            "errors.message_expr",
        ),
        (json!({"meta": {"label": "x"}}), "meta.label"),
    ] {
        let error = refused(patch, OverrideLayer::Connection);
        assert_eq!(error.path, path, "{error}");
        assert!(error.message.contains("connection overrides"), "{error}");
    }
}

#[test]
fn connection_may_only_tighten_buckets_and_concurrency() {
    let document = applied(
        json!({"rate_limits": {
            "max_concurrency": 2,
            "buckets": [
                {"id": "burst", "capacity": 50, "refill_tokens": 50},
                {"id": "search", "refill_tokens": 10, "refill_every_ms": 2000},
            ],
        }}),
        OverrideLayer::Connection,
    );
    assert_eq!(document["rate_limits"]["max_concurrency"], json!(2));
    assert_eq!(document["rate_limits"]["buckets"][0]["capacity"], json!(50));
    assert_eq!(
        document["rate_limits"]["buckets"][1]["applies_to"],
        json!([{"resource": "people", "method": "search"}])
    );

    let cases = [
        (
            json!({"buckets": [{"id": "burst", "capacity": 200}]}),
            "rate_limits.buckets[burst].capacity",
            "200 exceeds the base's 100",
        ),
        (
            json!({"buckets": [{"id": "burst", "refill_tokens": 101}]}),
            "rate_limits.buckets[burst].refill_tokens",
            "faster",
        ),
        (
            json!({"buckets": [{"id": "search", "refill_every_ms": 999}]}),
            "rate_limits.buckets[search].refill_every_ms",
            "faster",
        ),
        (
            json!({"buckets": [{"id": "search", "refill_tokens": 11, "refill_every_ms": 2000}]}),
            "rate_limits.buckets[search].refill_tokens",
            "faster",
        ),
        (
            json!({"buckets": [{"id": "search", "applies_to": []}]}),
            "rate_limits.buckets[search].applies_to",
            "connection overrides",
        ),
        (
            json!({"buckets": [{"id": "search", "$remove": true}]}),
            "rate_limits.buckets[search].$remove",
            "connection overrides",
        ),
        (
            json!({"buckets": [{"id": "new", "capacity": 1, "refill_tokens": 1, "refill_every_ms": 1}]}),
            "rate_limits.buckets[new]",
            "no bucket `new`",
        ),
        (
            json!({"max_concurrency": 11}),
            "rate_limits.max_concurrency",
            "11 exceeds the base's 10",
        ),
        (
            json!({"max_concurrency": null}),
            "rate_limits.max_concurrency",
            "lower",
        ),
    ];
    for (limits, path, why) in cases {
        let error = refused(json!({"rate_limits": limits}), OverrideLayer::Connection);
        assert_eq!(error.path, path, "{error}");
        assert!(error.message.contains(why), "{error}");
    }
}

/// A sliding window leaves `refill_tokens` out: lowering its capacity or lengthening its window
/// tightens it, shortening the window loosens it.
#[test]
fn connection_may_only_tighten_a_sliding_window() {
    let window = json!({"rate_limits": {"buckets": [
        {"id": "burst", "kind": "sliding_window", "capacity": 100, "refill_tokens": null},
    ]}});
    let mut document = base();
    apply_override(&mut document, &window, OverrideLayer::Environment).expect("applies");
    let tighten = json!({"rate_limits": {"buckets": [
        {"id": "burst", "capacity": 50, "refill_every_ms": 20000},
    ]}});
    let mut tightened = document.clone();
    apply_override(&mut tightened, &tighten, OverrideLayer::Connection).expect("tightens");
    assert_eq!(
        tightened["rate_limits"]["buckets"][0]["capacity"],
        json!(50)
    );
    let loosen = json!({"rate_limits": {"buckets": [{"id": "burst", "refill_every_ms": 5000}]}});
    let error = apply_override(&mut document, &loosen, OverrideLayer::Connection)
        .expect_err("a shorter window is looser");
    assert_eq!(
        error.path, "rate_limits.buckets[burst].refill_every_ms",
        "{error}"
    );
    assert!(error.message.contains("faster"), "{error}");
}

#[test]
fn connection_may_add_error_rules_but_not_change_or_remove_them() {
    let document = applied(
        json!({"errors": {"rules": [
            {"id": "quota", "$before": "limited", "when": "status = 402", "code": "quota_exhausted", "action": "fail"},
        ]}}),
        OverrideLayer::Connection,
    );
    assert_eq!(
        ids(&document, "/errors/rules", "id"),
        ["quota", "limited", "missing", "broken"]
    );
    let error = refused(
        json!({"errors": {"rules": [{"id": "missing", "action": "ignore"}]}}),
        OverrideLayer::Connection,
    );
    assert_eq!(error.path, "errors.rules[missing]");
    let error = refused(
        json!({"errors": {"rules": [{"id": "broken", "$remove": true}]}}),
        OverrideLayer::Connection,
    );
    assert_eq!(error.path, "errors.rules[broken]");
}

// --- loading with layers -------------------------------------------------------------------

#[test]
fn layers_apply_operator_then_environment_then_connection() {
    let operator =
        json!({"vars": {"api_version": "op"}, "http": {"headers": {"X-Layer": "operator"}}});
    let environment = json!({
        "vars": {"api_version": "env"},
        "http": {"headers": {"X-Layer": "environment"}},
        "unified": {"crm.contacts": {"get": {"record_mapping": "{ 'id': $string(id), 'first_name': first, 'tier': tier }"}}},
    });
    let connection = json!({"vars": {"api_version": "conn"}});
    // Given out of order on purpose: the function orders them.
    let connector = load_connector_with_layers(
        "acme.yaml",
        BASE,
        &[
            (OverrideLayer::Connection, &connection),
            (OverrideLayer::Operator, &operator),
            (OverrideLayer::Environment, &environment),
        ],
    )
    .expect("loads");
    let request = connector
        .plan("crm.contacts", Operation::Get, &ctx(), &PageState::Start)
        .expect("plans");
    assert_eq!(request.url, "https://api.acme.test/conn/people/7");
    assert!(
        request
            .headers
            .iter()
            .any(|(name, value)| name == "X-Layer" && value == "environment"),
        "{:?}",
        request.headers
    );
    let (record, _) = connector
        .read_record(
            "crm.contacts",
            Operation::Get,
            &ctx(),
            &VendorResponse::new(
                200,
                Vec::new(),
                json!({"id": 7, "first": "Ada", "tier": "gold"}),
            ),
        )
        .expect("reads");
    assert_eq!(record["tier"], json!("gold"));

    // An environment error rule placed first decides before the base's.
    let environment = json!({"errors": {"rules": [
        {"id": "teapot", "$before": "limited", "when": "status = 429 and body.message = 'tea'", "code": "bad_request", "action": "fail"},
    ]}});
    let connector = load_connector_with_layers(
        "acme.yaml",
        BASE,
        &[(OverrideLayer::Environment, &environment)],
    )
    .expect("loads");
    let error = connector.classify(&VendorResponse::new(
        429,
        Vec::new(),
        json!({"message": "tea"}),
    ));
    assert_eq!(error.map(|e| e.code), Some(ErrorCode::BadRequest));
}

#[test]
fn connection_guard_rails_judge_the_document_after_the_environment() {
    // The environment lowers the burst capacity; a connection may not raise it back.
    let environment = json!({"rate_limits": {"buckets": [{"id": "burst", "capacity": 40}]}});
    let connection = json!({"rate_limits": {"buckets": [{"id": "burst", "capacity": 60}]}});
    let error = load_connector_with_layers(
        "acme.yaml",
        BASE,
        &[
            (OverrideLayer::Environment, &environment),
            (OverrideLayer::Connection, &connection),
        ],
    )
    .expect_err("refused");
    assert_eq!(error.file, "acme.yaml");
    assert_eq!(
        error.path.as_deref(),
        Some("rate_limits.buckets[burst].capacity")
    );
    assert!(error.message.contains("connection override"), "{error}");
    assert!(error.message.contains("40"), "{error}");
}

#[test]
fn broken_jsonata_in_an_environment_override_fails_with_path_code_and_position() {
    let environment =
        json!({"unified": {"crm.contacts": {"list": {"record_mapping": "{ 'id': id["}}}});
    let error = load_connector_with_layers(
        "acme.yaml",
        BASE,
        &[(OverrideLayer::Environment, &environment)],
    )
    .expect_err("broken JSONata");
    assert_eq!(
        error.path.as_deref(),
        Some("unified.crm.contacts.list.record_mapping"),
        "{error}"
    );
    assert!(error.message.contains("`S0203` at position 11"), "{error}");
    let text = error.to_string();
    assert!(
        text.starts_with("acme.yaml: at `unified.crm.contacts.list.record_mapping`"),
        "{text}"
    );
}

#[test]
fn load_connector_from_str_is_the_operator_layer() {
    let patch = json!({"rate_limits": {"buckets": [{"id": "burst", "capacity": 7}]}});
    let connector = load_connector_from_str("acme.yaml", BASE, Some(&patch)).expect("loads");
    let buckets = &connector
        .file()
        .rate_limits
        .as_ref()
        .expect("limits")
        .buckets;
    assert_eq!(buckets.len(), 2, "keyed lists merge by id");
    assert_eq!(buckets[0].capacity, 7);
    assert_eq!(buckets[1].id, "search");
}

// --- provenance ----------------------------------------------------------------------------

#[test]
fn provenance_names_the_layer_that_last_set_each_path() {
    let operator = json!({"http": {"base_url": "http://127.0.0.1:9", "allowed_hosts": ["http://127.0.0.1:9"]}});
    let environment = json!({
        "unified": {"crm.contacts": {"list": {"record_mapping": "{ 'id': id }"}}},
        "vars": {"api_version": "v2", "tenant": "t"},
        "errors": {"rules": [{"id": "teapot", "when": "status = 418", "code": "bad_request", "action": "fail"}]},
    });
    let connection = json!({
        "vars": {"api_version": "v3"},
        "unified": {"crm.contacts": {"list": {"routes": [{"id": "all", "when": "true"}]}}},
    });
    let map = provenance(&[
        (OverrideLayer::Connection, &connection),
        (OverrideLayer::Operator, &operator),
        (OverrideLayer::Environment, &environment),
    ]);
    assert_eq!(map["http.base_url"], "operator");
    assert_eq!(map["http.allowed_hosts"], "operator");
    assert_eq!(
        map["unified.crm.contacts.list.record_mapping"],
        "environment"
    );
    assert_eq!(map["vars.tenant"], "environment");
    assert_eq!(map["vars.api_version"], "connection");
    assert_eq!(
        map["unified.crm.contacts.list.routes[all].when"],
        "connection"
    );
    assert_eq!(map["errors.rules[teapot].when"], "environment");
    assert_eq!(
        provenance_of(&map, "errors.rules[teapot].code"),
        "environment"
    );
    assert_eq!(
        provenance_of(&map, "unified.crm.contacts.get.record_mapping"),
        "base"
    );
    assert_eq!(provenance_of(&map, "meta.id"), "base");

    // A later layer replacing a subtree takes over everything below it.
    let environment = json!({"vars": {"a": 1, "b": 2}});
    let connection = json!({"vars": null});
    let map = provenance(&[
        (OverrideLayer::Environment, &environment),
        (OverrideLayer::Connection, &connection),
    ]);
    assert_eq!(map.get("vars.a"), None);
    assert_eq!(provenance_of(&map, "vars.a"), "connection");
}

#[test]
fn environment_may_tune_an_auth_scheme_but_not_redirect_its_secrets() {
    let document = applied(
        json!({"auth": {"schemes": {"key": {"scopes": ["a", "b"], "refresh_before_expiry_secs": 600}}}}),
        OverrideLayer::Environment,
    );
    assert_eq!(
        document["auth"]["schemes"]["key"]["scopes"],
        json!(["a", "b"])
    );
    for (patch, path) in [
        (
            // The refresh token sent where the access token goes.
            json!({"auth": {"schemes": {"key": {"value": "{{credentials.refresh_token}}"}}}}),
            "auth.schemes.key.value",
        ),
        (
            json!({"auth": {"schemes": {"key": {"token_url": "https://evil.test/token"}}}}),
            "auth.schemes.key.token_url",
        ),
        (
            // A capture could copy a secret of the token answer into the plaintext account.
            json!({"auth": {"schemes": {"key": {"capture": {"leak": "refresh_token"}}}}}),
            "auth.schemes.key.capture.leak",
        ),
        (
            json!({"auth": {"default_scheme": "key"}}),
            "auth.default_scheme",
        ),
        (
            json!({"auth": {"schemes": {"basic": {"kind": "basic"}}}}),
            "auth.schemes.basic.kind",
        ),
    ] {
        let error = refused(patch.clone(), OverrideLayer::Environment);
        assert_eq!(error.path, path, "{patch}: {error:?}");
        assert!(error.message.contains("scopes"), "{error:?}");
    }
}

#[test]
fn environment_may_not_move_the_base_url_to_another_port_or_scheme() {
    for base_url in [
        "https://api.acme.test:8443/v1",
        "http://api.acme.test/v1",
        "https://evil.test\\@api.acme.test/v1",
    ] {
        let error = refused(
            json!({"http": {"base_url": base_url}}),
            OverrideLayer::Environment,
        );
        assert_eq!(error.path, "http.base_url", "{base_url}: {error:?}");
    }
    let document = applied(
        json!({"http": {"base_url": "https://eu.acme.test:443/v2"}}),
        OverrideLayer::Environment,
    );
    assert_eq!(document["http"]["base_url"], "https://eu.acme.test:443/v2");
}
