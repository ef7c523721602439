//! Fixture-driven tests of every connector file: `connectors/*/fixtures/*.json`.
//!
//! Each fixture is one case: a unified operation with its request context, the vendor request
//! the connector must plan, a recorded vendor answer, and what the connector must read from it
//! (mapped records, the next-page cursor, a classified error, a written id or discovered
//! fields). Connectors are tested without any Rust of their own: adding a fixture file adds a
//! case. Every mapped CRM record must also pass the unified model's checks.
//!
//! Fixture shape (JSON):
//! `{"description", "object", "operation": "list|get|create|update|delete|discovery",
//!   "override"?, "context": {"account", "query", "body", "id", "fields", "page_size"},
//!   "cursor"?, "expect_request": {"method", "url", "query"?, "query_absent"?, "body"?,
//!   "headers"?}, "response": {"status", "headers", "body"}, "expect": {"records"?, "next"?,
//!   "error"?, "id"?, "fields"?}}`.
//! `query` lists parameters that must be present with these values (others may be present
//! too); `body` is compared as a subset: every listed key must match, recursively, and arrays
//! must have the same length.

use std::path::{Path, PathBuf};

use connector::{
    DiscoveredField, ListCursor, Operation, PageState, PlannedRequest, ReadError, RequestBody,
    RequestContext, VendorResponse, fields_binding, load_connector_from_file,
};
use serde_json::{Map, Value, json};

fn connectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors")
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(providers) = std::fs::read_dir(connectors_dir()) else {
        return files;
    };
    for provider in providers.flatten() {
        let Ok(entries) = std::fs::read_dir(provider.path().join("fixtures")) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn operation(name: &str) -> Result<Option<Operation>, String> {
    Ok(Some(match name {
        "list" => Operation::List,
        "get" => Operation::Get,
        "create" => Operation::Create,
        "update" => Operation::Update,
        "delete" => Operation::Delete,
        "discovery" => return Ok(None),
        other => return Err(format!("unknown operation `{other}`")),
    }))
}

fn context(fixture: &Value) -> Result<RequestContext, String> {
    let ctx = fixture.get("context").cloned().unwrap_or_else(|| json!({}));
    let fields: Vec<DiscoveredField> = match ctx.get("fields") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => serde_json::from_value(list.clone())
            .map_err(|error| format!("context.fields: {error}"))?,
    };
    Ok(RequestContext {
        account: ctx.get("account").cloned().unwrap_or_else(|| json!({})),
        query: ctx.get("query").cloned().unwrap_or_else(|| json!({})),
        body: ctx.get("body").cloned().filter(|body| !body.is_null()),
        given: ctx.get("given").cloned().filter(|given| !given.is_null()),
        id: ctx.get("id").and_then(Value::as_str).map(str::to_owned),
        fields: fields_binding(&fields),
        page_size: ctx.get("page_size").and_then(Value::as_u64).unwrap_or(100),
    })
}

fn response(fixture: &Value) -> Result<VendorResponse, String> {
    response_at(fixture, "response")?.ok_or_else(|| "missing `response`".to_owned())
}

/// The vendor answer under `key` of a fixture, if it has one.
fn response_at(fixture: &Value, key: &str) -> Result<Option<VendorResponse>, String> {
    let Some(raw) = fixture.get(key) else {
        return Ok(None);
    };
    let status = raw
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|status| u16::try_from(status).ok())
        .ok_or_else(|| format!("`{key}.status` must be a status code"))?;
    let headers = raw
        .get("headers")
        .and_then(Value::as_object)
        .map(|headers| {
            headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.to_ascii_lowercase(),
                        value.as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(VendorResponse::new(
        status,
        headers,
        raw.get("body").cloned().unwrap_or(Value::Null),
    )))
}

/// Whether `actual` holds everything `expected` lists (objects by key, arrays item by item).
fn subset(expected: &Value, actual: &Value, path: &str, problems: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                match have.get(key) {
                    Some(found) => subset(value, found, &format!("{path}.{key}"), problems),
                    None if value.is_null() => {}
                    None => problems.push(format!("{path}.{key} is missing")),
                }
            }
        }
        (Value::Array(want), Value::Array(have)) => {
            if want.len() == have.len() {
                for (idx, (w, h)) in want.iter().zip(have).enumerate() {
                    subset(w, h, &format!("{path}[{idx}]"), problems);
                }
            } else {
                problems.push(format!(
                    "{path}: expected {} items, found {}: {actual}",
                    want.len(),
                    have.len()
                ));
            }
        }
        (want, have) if want == have => {}
        (want, have) => problems.push(format!("{path}: expected {want}, found {have}")),
    }
}

fn check_request(expected: &Value, planned: &PlannedRequest, problems: &mut Vec<String>) {
    if let Some(method) = expected.get("method").and_then(Value::as_str)
        && method != planned.http_method.as_str()
    {
        problems.push(format!(
            "request method: expected {method}, planned {}",
            planned.http_method.as_str()
        ));
    }
    match expected.get("url").and_then(Value::as_str) {
        Some(url) if url != planned.url => {
            problems.push(format!(
                "request url: expected {url}, planned {}",
                planned.url
            ));
        }
        Some(_) => {}
        None => problems.push("expect_request.url is required".to_owned()),
    }
    if let Some(Value::Object(query)) = expected.get("query") {
        for (name, want) in query {
            let values: Vec<&str> = planned
                .query
                .iter()
                .filter(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
                .collect();
            let ok = match want {
                Value::String(text) => values == [text.as_str()],
                Value::Array(items) => {
                    items.len() == values.len()
                        && items
                            .iter()
                            .zip(&values)
                            .all(|(w, v)| w.as_str() == Some(*v))
                }
                _ => false,
            };
            if !ok {
                problems.push(format!(
                    "query `{name}`: expected {want}, planned {values:?}"
                ));
            }
        }
    }
    if let Some(Value::Array(absent)) = expected.get("query_absent") {
        for name in absent.iter().filter_map(Value::as_str) {
            if planned.query.iter().any(|(key, _)| key == name) {
                problems.push(format!(
                    "query `{name}` should be absent: {:?}",
                    planned.query
                ));
            }
        }
    }
    if let Some(Value::Object(headers)) = expected.get("headers") {
        for (name, want) in headers {
            let found = planned
                .headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str());
            if found != want.as_str() {
                problems.push(format!(
                    "header `{name}`: expected {want}, planned {found:?}"
                ));
            }
        }
    }
    if let Some(want) = expected.get("body") {
        let have = match &planned.body {
            RequestBody::None => Value::Null,
            RequestBody::Json(value) => value.clone(),
            RequestBody::Form(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|(key, value)| (key.clone(), Value::String(value.clone())))
                    .collect::<Map<String, Value>>(),
            ),
            RequestBody::Raw(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        };
        subset(want, &have, "body", problems);
    }
}

fn check_model(object: &str, record: &Value, problems: &mut Vec<String>) {
    // A deletion listing's records are `{"id": …}`, no unified object.
    if object.ends_with("#deletes") {
        if !record.get("id").is_some_and(Value::is_string) {
            problems.push(format!("a deletion listing's record has no id: {record}"));
        }
        return;
    }
    let Some(("crm", name)) = object.split_once('.') else {
        return;
    };
    let Some(crm) = unified_model::CrmObject::parse(name) else {
        problems.push(format!("`{object}` is not a unified CRM object"));
        return;
    };
    if let Err(error) = unified_model::normalize_record(crm, record.clone()) {
        problems.push(format!(
            "record does not fit the unified model: {error}: {record}"
        ));
    }
}

fn check_error(expect: &Value, result: Result<(), ReadError>, problems: &mut Vec<String>) -> bool {
    let Some(want) = expect.get("error") else {
        if let Err(error) = result {
            problems.push(format!("unexpected read error: {error}"));
            return true;
        }
        return false;
    };
    match result {
        Ok(()) => problems.push(format!("expected error {want}, the answer was read")),
        Err(ReadError::Provider(error)) => {
            let have = json!({
                "code": error.code.as_str(),
                "action": serde_json::to_value(error.action).unwrap_or(Value::Null),
                "rule": error.rule,
                "vendor_code": error.vendor_code,
                "message": error.message,
                "field": error.field,
            });
            subset(want, &have, "error", problems);
        }
        Err(other) => problems.push(format!("expected error {want}, got {other}")),
    }
    true
}

fn run_case(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|error| error.to_string())?;
    let fixture: Value = serde_json::from_str(&text).map_err(|error| error.to_string())?;
    let connector_file = path
        .parent()
        .and_then(Path::parent)
        .ok_or("fixture outside a connector folder")?
        .join("connector.yaml");
    let connector = load_connector_from_file(&connector_file, fixture.get("override"))
        .map_err(|error| error.to_string())?;
    let object = fixture
        .get("object")
        .and_then(Value::as_str)
        .ok_or("missing `object`")?;
    let op_name = fixture
        .get("operation")
        .and_then(Value::as_str)
        .ok_or("missing `operation`")?;
    let ctx = context(&fixture)?;
    let expected_request = fixture
        .get("expect_request")
        .ok_or("missing `expect_request`")?;
    let response = response(&fixture)?;
    let expect = fixture.get("expect").cloned().unwrap_or_else(|| json!({}));
    let mut problems = Vec::new();

    let Some(op) = operation(op_name)? else {
        let planned = connector
            .plan_discovery(object, &ctx)
            .map_err(|error| format!("plan: {error}"))?
            .ok_or("the connector declares no discovery for this object")?;
        check_request(expected_request, &planned, &mut problems);
        // A discovery's second request (`enrich`) and its answer, when the connector declares
        // one: `expect_enrich_request` and `enrich_response`.
        let planned_enrichment = connector
            .plan_discovery_enrichment(object, &ctx)
            .map_err(|error| format!("plan enrich: {error}"))?;
        match (&planned_enrichment, fixture.get("expect_enrich_request")) {
            (Some(planned), Some(expected)) => check_request(expected, planned, &mut problems),
            (None, None) => {}
            (Some(_), None) => problems.push(
                "the discovery's `enrich` request is not in `expect_enrich_request`".to_owned(),
            ),
            (None, Some(_)) => problems
                .push("`expect_enrich_request` but the connector declares no `enrich`".to_owned()),
        }
        let enrichment = response_at(&fixture, "enrich_response")?;
        match connector.read_discovery(object, &response, enrichment.as_ref()) {
            Ok(fields) => {
                let have = serde_json::to_value(&fields).map_err(|error| error.to_string())?;
                if let Some(want) = expect.get("fields") {
                    subset(want, &have, "fields", &mut problems);
                }
                check_error(&expect, Ok(()), &mut problems);
            }
            Err(error) => {
                check_error(&expect, Err(error), &mut problems);
            }
        }
        return Ok(problems);
    };

    if op == Operation::List {
        let cursor: ListCursor = match fixture.get("cursor") {
            Some(cursor) => serde_json::from_value(cursor.clone())
                .map_err(|error| format!("cursor: {error}"))?,
            None => ListCursor::default(),
        };
        let planned = connector
            .plan_list(object, &ctx, &cursor)
            .map_err(|error| format!("plan: {error}"))?;
        check_request(expected_request, &planned, &mut problems);
        match connector.read_list(object, &ctx, &cursor, &response) {
            Ok(page) => {
                check_error(&expect, Ok(()), &mut problems);
                for error in &page.errors {
                    problems.push(format!(
                        "record {} failed to map: {}",
                        error.index, error.message
                    ));
                }
                let records: Vec<Value> = page
                    .records
                    .iter()
                    .map(|(mapped, _)| mapped.clone())
                    .collect();
                for record in &records {
                    check_model(object, record, &mut problems);
                }
                if let Some(want) = expect.get("records")
                    && want != &Value::Array(records.clone())
                {
                    problems.push(format!(
                        "records differ:\n  expected {want}\n  mapped   {}",
                        Value::Array(records)
                    ));
                }
                if let Some(want) = expect.get("next") {
                    let have =
                        serde_json::to_value(&page.next).map_err(|error| error.to_string())?;
                    if want != &have {
                        problems.push(format!("next: expected {want}, read {have}"));
                    }
                }
            }
            Err(error) => {
                check_error(&expect, Err(error), &mut problems);
            }
        }
        return Ok(problems);
    }

    let planned = connector
        .plan(object, op, &ctx, &PageState::Start)
        .map_err(|error| format!("plan: {error}"))?;
    check_request(expected_request, &planned, &mut problems);
    let reads_record = match op {
        Operation::Get => true,
        Operation::Create | Operation::Update => connector.write_returns_record(object, op),
        _ => false,
    };
    // A write's answer is checked first, with its request in scope, as the server does.
    let refused = matches!(op, Operation::Create | Operation::Update)
        .then(|| connector.check_answer(&response, &ctx).err())
        .flatten();
    if let Some(error) = refused {
        check_error(&expect, Err(error), &mut problems);
    } else if op == Operation::Delete {
        check_error(&expect, connector.read_delete(&response), &mut problems);
    } else if reads_record {
        match connector.read_record(object, op, &ctx, &response) {
            Ok((mapped, _raw)) => {
                check_error(&expect, Ok(()), &mut problems);
                check_model(object, &mapped, &mut problems);
                if let Some(want) = expect.get("records")
                    && want != &json!([mapped])
                {
                    problems.push(format!(
                        "record differs:\n  expected {want}\n  mapped   [{mapped}]"
                    ));
                }
            }
            Err(error) => {
                check_error(&expect, Err(error), &mut problems);
            }
        }
    } else {
        match connector.read_written_id(object, op, &ctx, &response) {
            Ok(id) => {
                check_error(&expect, Ok(()), &mut problems);
                if let Some(want) = expect.get("id")
                    && want.as_str() != Some(id.as_str())
                {
                    problems.push(format!("written id: expected {want}, read {id}"));
                }
            }
            Err(error) => {
                check_error(&expect, Err(error), &mut problems);
            }
        }
    }
    Ok(problems)
}

/// Loads the phone-number metadata once, outside any mapping's time limit: its first use can
/// take longer than a mapping's 100 ms in unoptimised test builds.
fn warm_up_phone_metadata() {
    let limits = mapping::Limits {
        timeout: std::time::Duration::from_secs(120),
        ..mapping::Limits::default()
    };
    let warm = mapping::Expr::compile("$e164('+14155550100')")
        .and_then(|expr| expr.evaluate_with(None, &mapping::Vars::new(), &limits));
    assert!(warm.is_ok(), "phone metadata failed to load: {warm:?}");
}

#[test]
fn every_connector_fixture_passes() {
    warm_up_phone_metadata();
    let files = fixture_files();
    assert!(
        !files.is_empty(),
        "no fixtures found under connectors/*/fixtures"
    );
    let mut failures = Vec::new();
    for file in &files {
        let label = file
            .strip_prefix(connectors_dir())
            .unwrap_or(file)
            .display()
            .to_string();
        match run_case(file) {
            Ok(problems) if problems.is_empty() => {}
            Ok(problems) => failures.push(format!("{label}:\n    {}", problems.join("\n    "))),
            Err(error) => failures.push(format!("{label}: {error}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_connector_with_unified_objects_has_fixtures() {
    let (connectors, errors) =
        connector::load_connectors_dir(&connectors_dir(), None).expect("connectors/ is listable");
    assert!(errors.is_empty(), "{errors:?}");
    for connector in connectors {
        let dir = connectors_dir().join(connector.id()).join("fixtures");
        let count = std::fs::read_dir(&dir)
            .map(|entries| entries.count())
            .unwrap_or(0);
        assert!(
            count > 0,
            "connector `{}` has no fixtures in {}",
            connector.id(),
            dir.display()
        );
    }
}
