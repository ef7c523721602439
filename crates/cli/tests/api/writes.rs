//! Writes whose answer never lies (issue 15): once the vendor has accepted a write the answer
//! is a success carrying the vendor id, with `warnings` for what could not be read back.

use reqwest::{Method, StatusCode};
use serde_json::json;
use simulators::{Fault, FaultKind};

use crate::helpers::spawn_app;

/// An amount no float holds is written at HubSpot (which keeps the exact string): the answer is
/// a success with the new deal's id, never a 500 after the vendor wrote (issue 15).
#[tokio::test]
async fn an_amount_beyond_floats_written_at_hubspot_answers_created_with_the_vendor_id() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let before = app.simulator("hubspot").ids("deals");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/unified/crm/opportunities?connection_id={connection}"),
            Some(json!({"name": "Huge", "amount": {"amount": "100000000000000000000000", "currency": "USD"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let after = app.simulator("hubspot").ids("deals");
    assert_eq!(after.len(), before.len() + 1, "one deal was written");
    let id = body["id"].as_str().expect("the vendor id");
    assert!(after.iter().any(|each| each == id), "{body}");
    assert!(!before.iter().any(|each| each == id), "{body}");
    assert_eq!(
        body["amount"]["amount"], "100000000000000000000000",
        "HubSpot keeps the string: {body}"
    );
    assert!(body.get("warnings").is_none(), "{body}");
}

/// Money is exact end to end where the vendor keeps it exactly: HubSpot stores amounts as the
/// strings it was given, so one beyond a float's seventeen digits comes back digit for digit
/// from the create, a get and a list (issue 15).
#[tokio::test]
async fn hubspot_amounts_come_back_digit_for_digit() {
    let app = spawn_app().await;
    let connection = app.connection("hubspot");
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/crm/opportunities?connection_id={connection}"),
            Some(json!({"name": "Exact", "amount": {"amount": "12345678901234567.89", "currency": "USD"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["amount"]["amount"], "12345678901234567.89",
        "{created}"
    );
    let id = created["id"].as_str().expect("id");
    let (status, record) = app
        .get(&format!(
            "/unified/crm/opportunities/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(
        record["amount"]["amount"], "12345678901234567.89",
        "{record}"
    );
    let (status, page) = app
        .get(&format!(
            "/unified/crm/opportunities?connection_id={connection}&ids={id}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        page["results"][0]["amount"]["amount"], "12345678901234567.89",
        "{page}"
    );

    let (status, company) = app
        .call(
            Method::POST,
            &format!("/unified/crm/companies?connection_id={connection}"),
            Some(json!({"name": "Rich", "annual_revenue": {"amount": "100000000000000000000000.5", "currency": null}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{company}");
    assert_eq!(
        company["annual_revenue"]["amount"], "100000000000000000000000.5",
        "{company}"
    );
}

/// Vendors that hold amounts as JSON numbers answer them in full, never with an exponent that
/// no decimal string allows (Dynamics' `revenue` of 1e23 used to fail the read-back).
#[tokio::test]
async fn numeric_amounts_are_written_out_in_full() {
    let app = spawn_app().await;
    for vendor in ["dynamics365", "salesforce"] {
        let connection = app.connection(vendor);
        let (status, company) = app
            .call(
                Method::POST,
                &format!("/unified/crm/companies?connection_id={connection}"),
                Some(json!({"name": "Rich", "annual_revenue": {"amount": "100000000000000000000000", "currency": "USD"}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{vendor}: {company}");
        assert!(company.get("warnings").is_none(), "{vendor}: {company}");
        assert_eq!(
            company["annual_revenue"]["amount"], "100000000000000000000000",
            "{vendor}: {company}"
        );
    }
}

/// Salesforce creates answer only an id, and the record is read back with a get: when that get
/// fails, the opportunity exists all the same, so the answer is 201 with its id and a warning,
/// not the get's 404 (a caller retrying on an error would create it twice).
#[tokio::test]
async fn a_failed_read_back_after_a_create_answers_created_with_the_id_and_a_warning() {
    let app = spawn_app().await;
    let connection = app.connection("salesforce");
    // The create posts to `…/sobjects/Opportunity` and discovery reads `…/describe`; only the
    // read-back names an opportunity id (`006…`).
    app.simulator("salesforce").faults().push(Fault {
        kind: FaultKind::Status {
            status: 404,
            body: Some(json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])),
        },
        path_prefix: Some("/services/data/v59.0/sobjects/Opportunity/006".to_owned()),
        times: 1,
    });
    let before = app.simulator("salesforce").ids("Opportunity");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/unified/crm/opportunities?connection_id={connection}"),
            Some(json!({"name": "Read back later", "stage_id": "Prospecting", "close_date": "2027-01-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let after = app.simulator("salesforce").ids("Opportunity");
    assert_eq!(after.len(), before.len() + 1, "one opportunity was written");
    let id = body["id"].as_str().expect("the vendor id");
    assert!(after.iter().any(|each| each == id), "{body}");
    assert_eq!(body["remote_id"], id, "{body}");
    let warnings = body["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{body}");
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|text| text.contains("could not be read back")),
        "{body}"
    );

    // The record is there: a get now reads it, with no warnings.
    let (status, record) = app
        .get(&format!(
            "/unified/crm/opportunities/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["name"], "Read back later", "{record}");
    assert!(record.get("warnings").is_none(), "{record}");
}

/// The same after an update whose read-back fails: 200 with the id and a warning.
#[tokio::test]
async fn a_failed_read_back_after_an_update_answers_ok_with_the_id_and_a_warning() {
    let app = spawn_app().await;
    let connection = app.connection("salesforce");
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/unified/crm/opportunities?connection_id={connection}"),
            Some(json!({"name": "Before", "stage_id": "Prospecting", "close_date": "2027-01-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    // The PATCH and the get share a path: the fault takes the second request on it.
    app.simulator("salesforce").faults().push(Fault {
        kind: FaultKind::Delay { millis: 0 },
        path_prefix: Some(format!("/services/data/v59.0/sobjects/Opportunity/{id}")),
        times: 1,
    });
    app.simulator("salesforce").faults().push(Fault {
        kind: FaultKind::Status {
            status: 404,
            body: Some(json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])),
        },
        path_prefix: Some(format!("/services/data/v59.0/sobjects/Opportunity/{id}")),
        times: 1,
    });
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/unified/crm/opportunities/{id}?connection_id={connection}"),
            Some(json!({"name": "After"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], id.as_str(), "{body}");
    assert!(
        body["warnings"].as_array().is_some_and(|w| w.len() == 1),
        "{body}"
    );
    let (_, record) = app
        .get(&format!(
            "/unified/crm/opportunities/{id}?connection_id={connection}"
        ))
        .await;
    assert_eq!(record["name"], "After", "the update was written: {record}");
}

/// Pipedrive's person write carries no title: a PATCH naming it used to answer 200 with
/// `title: null`. It is refused up front, naming the field, and the vendor sees no write; /meta's
/// update schema does not offer it (issue 15).
#[tokio::test]
async fn a_field_the_connector_cannot_write_is_refused_before_the_vendor_is_called() {
    let app = spawn_app().await;
    let connection = app.connection("pipedrive");
    let (_, page) = app
        .get(&format!(
            "/unified/crm/contacts?connection_id={connection}&page_size=1"
        ))
        .await;
    let id = page["results"][0]["id"]
        .as_str()
        .expect("a person")
        .to_owned();
    let writes = || {
        app.simulator("pipedrive")
            .requests()
            .total_matching("PATCH /api/v2/persons")
    };
    let before = writes();
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/unified/crm/contacts/{id}?connection_id={connection}"),
            Some(json!({"title": "Integrator"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "body.title", "{body}");
    assert_eq!(writes(), before, "the vendor saw no write");

    let (status, meta) = app
        .get(&format!(
            "/unified/crm/contacts/meta?connection_id={connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{meta}");
    for schema in ["create_schema", "update_schema"] {
        let properties = meta[schema]["properties"].as_object().expect("properties");
        for dropped in [
            "title",
            "department",
            "lifecycle_stage",
            "lead_source",
            "addresses",
        ] {
            assert!(
                !properties.contains_key(dropped),
                "{schema} offers `{dropped}`: {meta}"
            );
        }
        for carried in [
            "first_name",
            "last_name",
            "email_addresses",
            "custom_fields",
        ] {
            assert!(
                properties.contains_key(carried),
                "{schema} lacks `{carried}`: {meta}"
            );
        }
    }

    // What the schema offers is written.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/unified/crm/contacts/{id}?connection_id={connection}"),
            Some(json!({"first_name": "Ada"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["first_name"], "Ada", "{body}");
}

/// Salesforce requires LastName on contacts and Name, StageName and CloseDate on
/// opportunities: /meta marks the unified fields required, and a create missing one is a 400
/// naming it before any vendor call (it used to be the vendor's 422 naming its own field).
#[tokio::test]
async fn a_create_missing_a_field_the_vendor_requires_is_refused_naming_the_unified_field() {
    let app = spawn_app().await;
    let connection = app.connection("salesforce");
    let creates = |object: &str| {
        app.simulator("salesforce")
            .requests()
            .total_matching(&format!("POST /services/data/v59.0/sobjects/{object}"))
    };
    let before = (creates("Contact"), creates("Opportunity"));
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/unified/crm/contacts?connection_id={connection}"),
            Some(json!({"first_name": "Ada"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "body.last_name", "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/unified/crm/opportunities?connection_id={connection}"),
            Some(json!({"name": "No stage", "close_date": "2027-01-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "body.stage_id", "{body}");
    assert_eq!(
        (creates("Contact"), creates("Opportunity")),
        before,
        "the vendor saw no create"
    );

    for (object, required) in [
        ("contacts", vec!["last_name"]),
        ("opportunities", vec!["name", "stage_id", "close_date"]),
    ] {
        let (status, meta) = app
            .get(&format!(
                "/unified/crm/{object}/meta?connection_id={connection}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{meta}");
        assert_eq!(meta["create_schema"]["required"], json!(required), "{meta}");
        assert!(meta["update_schema"].get("required").is_none(), "{meta}");
    }
}
