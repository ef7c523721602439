//! Bulk exports (a list's `bulk`), on the shipped Salesforce connector: the requests each step
//! plans, the states a poll reads, result pages read as CSV typed from the discovered fields
//! and chained by locator, a row mapping to exactly the unified record the SOQL list gives for
//! the same record, and the load-time checks.

use connector::{
    BulkState, DiscoveredField, RequestBody, RequestContext, VendorResponse, fields_binding,
    load_connector_from_str,
};
use serde_json::{Value, json};

fn salesforce() -> connector::Connector {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../connectors/salesforce/connector.yaml"
    ))
    .expect("the Salesforce connector file");
    load_connector_from_str("salesforce", &text, None).expect("loads")
}

fn field(key: &str, kind: &str) -> DiscoveredField {
    serde_json::from_value(json!({"key": key, "type": kind, "custom": key.ends_with("__c")}))
        .expect("field")
}

fn context() -> RequestContext {
    let fields = [
        ("Id", "string"),
        ("LastName", "string"),
        ("Email", "string"),
        ("MailingCountry", "string"),
        ("Phone", "string"),
        ("CreatedDate", "datetime"),
        ("LastModifiedDate", "datetime"),
        ("LastActivityDate", "date"),
        ("IsDeleted", "boolean"),
        ("Score__c", "number"),
        ("Seats__c", "integer"),
        ("Vip__c", "boolean"),
    ]
    .map(|(key, kind)| field(key, kind));
    RequestContext {
        account: json!({"instance_url": "https://acme.my.salesforce.com"}),
        fields: fields_binding(&fields),
        ..RequestContext::default()
    }
}

fn answer(status: u16, headers: &[(&str, &str)], body: Value) -> VendorResponse {
    VendorResponse::new(
        status,
        headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
        body,
    )
}

#[test]
fn each_step_plans_its_request() {
    let connector = salesforce();
    let ctx = context();
    let base = "https://acme.my.salesforce.com/services/data/v59.0";

    let count = connector
        .plan_bulk_count("crm.contacts", &ctx)
        .expect("plans")
        .expect("a count is declared");
    assert_eq!(count.url, format!("{base}/query"));
    assert!(
        count
            .query
            .contains(&("q".to_owned(), "SELECT COUNT() FROM Contact".to_owned()))
    );
    assert_eq!(
        connector
            .read_bulk_count(
                "crm.contacts",
                &answer(
                    200,
                    &[],
                    json!({"totalSize": 4321, "done": true, "records": []})
                )
            )
            .expect("reads"),
        Some(4321)
    );

    let create = connector
        .plan_bulk_create("crm.contacts", &ctx)
        .expect("plans");
    assert_eq!(create.url, format!("{base}/jobs/query"));
    assert_eq!(create.http_method.as_str(), "POST");
    let RequestBody::Json(body) = &create.body else {
        panic!("a JSON body: {:?}", create.body)
    };
    assert_eq!(body["operation"], "query");
    assert_eq!(
        body["query"],
        "SELECT Id, LastName, Email, MailingCountry, Phone, CreatedDate, LastModifiedDate, \
         LastActivityDate, IsDeleted, Score__c, Seats__c, Vip__c FROM Contact",
        "the discovered columns, without ORDER BY or LIMIT"
    );
    assert_eq!(
        connector
            .read_bulk_create(
                "crm.contacts",
                &answer(
                    200,
                    &[],
                    json!({"id": "750R0000000zxr8IAA", "state": "UploadComplete"})
                )
            )
            .expect("reads"),
        "750R0000000zxr8IAA"
    );
    // Without discovered fields, the static columns.
    let bare = RequestContext {
        fields: fields_binding(&[]),
        ..ctx.clone()
    };
    let RequestBody::Json(body) = connector
        .plan_bulk_create("crm.tasks", &bare)
        .expect("plans")
        .body
    else {
        panic!("a JSON body")
    };
    assert!(
        body["query"]
            .as_str()
            .expect("query")
            .ends_with("FROM Task WHERE TaskSubtype = 'Task'"),
        "{body}"
    );

    let poll = connector
        .plan_bulk_poll("crm.contacts", &ctx, "750R0000000zxr8IAA")
        .expect("plans");
    assert_eq!(poll.url, format!("{base}/jobs/query/750R0000000zxr8IAA"));
    for (state, read) in [
        ("UploadComplete", BulkState::Pending),
        ("InProgress", BulkState::Pending),
        ("JobComplete", BulkState::Done),
        ("Aborted", BulkState::Failed(None)),
    ] {
        assert_eq!(
            connector
                .read_bulk_poll("crm.contacts", &answer(200, &[], json!({"state": state})))
                .expect("reads"),
            read,
            "{state}"
        );
    }
    assert_eq!(
        connector
            .read_bulk_poll(
                "crm.contacts",
                &answer(
                    200,
                    &[],
                    json!({"state": "Failed", "errorMessage": "Query timed out"})
                )
            )
            .expect("reads"),
        BulkState::Failed(Some("Query timed out".to_owned()))
    );
    let gone = connector.read_bulk_poll(
        "crm.contacts",
        &answer(
            404,
            &[],
            json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]),
        ),
    );
    assert!(
        matches!(gone, Err(connector::ReadError::Provider(ref error)) if error.code == connector::ErrorCode::NotFound),
        "{gone:?}"
    );

    let first = connector
        .plan_bulk_results("crm.contacts", &ctx, "750R0000000zxr8IAA", None)
        .expect("plans");
    assert_eq!(
        first.url,
        format!("{base}/jobs/query/750R0000000zxr8IAA/results")
    );
    assert_eq!(first.query, [("maxRecords".to_owned(), "2000".to_owned())]);
    assert!(
        first
            .headers
            .contains(&("Accept".to_owned(), "text/csv".to_owned()))
    );
    let sized = RequestContext {
        page_size: 50_000,
        ..ctx.clone()
    };
    let next = connector
        .plan_bulk_results("crm.contacts", &sized, "750R0000000zxr8IAA", Some("MjAwMA"))
        .expect("plans");
    assert_eq!(
        next.query,
        [
            ("maxRecords".to_owned(), "10000".to_owned()),
            ("locator".to_owned(), "MjAwMA".to_owned())
        ],
        "the page size within the declared maximum, and the locator"
    );
}

#[test]
fn a_csv_row_maps_to_the_record_the_soql_list_gives() {
    let connector = salesforce();
    let ctx = context();
    let soql = json!({
        "totalSize": 1,
        "done": true,
        "records": [{
            "attributes": {"type": "Contact", "url": "/services/data/v59.0/sobjects/Contact/003A"},
            "Id": "003A",
            "LastName": "Lovelace",
            "Email": null,
            "MailingCountry": "United Kingdom",
            "Phone": "020 7946 0018",
            "CreatedDate": "2024-01-15T10:20:30.000+0000",
            "LastModifiedDate": "2024-02-01T08:00:00.000+0000",
            "LastActivityDate": "2024-01-31",
            "IsDeleted": false,
            "Score__c": 12.5,
            "Seats__c": 40,
            "Vip__c": true
        }]
    });
    let listed = connector
        .read_list(
            "crm.contacts",
            &RequestContext {
                page_size: 200,
                ..ctx.clone()
            },
            &connector::ListCursor::default(),
            &answer(200, &[], soql),
        )
        .expect("the list reads");
    let csv = "\"Id\",\"LastName\",\"Email\",\"MailingCountry\",\"Phone\",\"CreatedDate\",\
               \"LastModifiedDate\",\"LastActivityDate\",\"IsDeleted\",\"Score__c\",\"Seats__c\",\"Vip__c\"\n\
               \"003A\",\"Lovelace\",\"\",\"United Kingdom\",\"020 7946 0018\",\"2024-01-15T10:20:30.000Z\",\
               \"2024-02-01T08:00:00.000Z\",\"2024-01-31\",\"false\",\"12.5\",\"40\",\"true\"\n";
    let page = connector
        .read_bulk_results(
            "crm.contacts",
            &ctx,
            &answer(
                200,
                &[
                    ("sforce-locator", "MjAwMA"),
                    ("sforce-numberofrecords", "1"),
                ],
                json!(csv),
            ),
        )
        .expect("the results read");
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    assert_eq!(page.next_locator.as_deref(), Some("MjAwMA"));
    assert_eq!(page.records.len(), 1);
    assert_eq!(
        page.records[0].0, listed.records[0].0,
        "the same unified record from the bulk row and the SOQL record"
    );
    assert_eq!(
        page.records[0].0["custom_fields"],
        json!({"Score__c": 12.5, "Seats__c": 40, "Vip__c": true})
    );

    let last = connector
        .read_bulk_results(
            "crm.contacts",
            &ctx,
            &answer(200, &[("sforce-locator", "null")], json!(csv)),
        )
        .expect("the results read");
    assert_eq!(last.next_locator, None, "`null` ends the results");
}

#[test]
fn a_bulk_declaration_is_checked_at_load() {
    let base = r#"
schema_version: 1
meta: { id: acme, label: Acme, categories: [crm], revision: "1" }
auth: { schemes: { token: { kind: bearer, token: "{{credentials.token}}" } } }
http: { base_url: https://api.acme.test, allowed_hosts: [api.acme.test] }
resources:
  contacts:
    list: { http_method: GET, path: /contacts, records: results }
    export: { http_method: POST, path: /exports }
    export_job: { http_method: GET, path: "/exports/{{id}}" }
    export_rows: { http_method: GET, path: "/exports/{{id}}/rows" }
unified:
  crm.contacts:
    list:
      routes: [{ use: contacts.list }]
      record_mapping: '{"id": id, "remote_id": id}'
      bulk:
        create: { use: CREATE, job_id_expr: id }
        poll: { use: contacts.export_job, done_when: "done", failed_when: "failed"POLL }
        results:
          use: contacts.export_rows
          locator: { in: query, name: after }
          next_locator_expr: headers.next
          page_size: { param: { in: query, name: limit }, default: 100, max: 1000 }DELIMITER
"#;
    let load = |create: &str, poll: &str, delimiter: &str| {
        let text = base
            .replace("CREATE", create)
            .replace("POLL", poll)
            .replace("DELIMITER", delimiter);
        load_connector_from_str("acme", &text, None)
    };
    let connector = load("contacts.export", "", "").expect("a valid export loads");
    let bulk = connector.bulk_read("crm.contacts").expect("declared");
    assert_eq!(bulk.threshold, 2_000, "the default threshold");
    assert_eq!(bulk.poll.initial_delay_ms, 1_000);
    for (create, poll, delimiter, path) in [
        ("contacts.nope", "", "", "bulk.create.use"),
        ("contacts.export", ", initial_delay_ms: 0", "", "bulk.poll"),
        (
            "contacts.export",
            "",
            "\n          delimiter: ';;'",
            "bulk.results.delimiter",
        ),
    ] {
        let error = load(create, poll, delimiter).expect_err("refused");
        assert!(error.to_string().contains(path), "{path}: {error}");
    }
}
