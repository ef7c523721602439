//! Black-box tests of the Pipedrive simulator over HTTP: v1 offset paging and v2 cursors,
//! custom fields by hash key, writes and their errors, auth, rate limits, faults and
//! deterministic seeding.

use std::collections::HashSet;
use std::net::SocketAddr;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use simulators::pipedrive::{self, PipedriveConfig, PipedriveHandle};
use simulators::{Fault, FaultKind, RunningSimulator};

const TOKEN: &str = "pipedrive-sim-token";

fn small() -> PipedriveConfig {
    PipedriveConfig {
        persons: 230,
        organizations: 40,
        deals: 70,
        leads: 30,
        notes: 40,
        activities: 90,
        users: 6,
        rate_limit_per_2s: 100_000,
        ..PipedriveConfig::default()
    }
}

struct Sim {
    running: RunningSimulator,
    handle: PipedriveHandle,
    client: Client,
}

impl Sim {
    async fn start(config: PipedriveConfig) -> Sim {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
        let (running, handle) = pipedrive::spawn(config, addr)
            .await
            .expect("simulator binds");
        Sim {
            running,
            handle,
            client: Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url)
    }

    async fn get(&self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let response = self
            .client
            .get(self.url(path))
            .header("x-api-token", TOKEN)
            .send()
            .await
            .expect("request is sent");
        let status = response.status();
        let headers = response.headers().clone();
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn send(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, self.url(path))
            .query(&[("api_token", TOKEN)])
            .json(&body)
            .send()
            .await
            .expect("request is sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Walks a v1 list with `start`/`limit`, returning every id in order.
    async fn walk_v1(&self, path: &str, limit: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let mut start = 0;
        let separator = if path.contains('?') { '&' } else { '?' };
        loop {
            let (status, _, body) = self
                .get(&format!("{path}{separator}start={start}&limit={limit}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["success"], json!(true));
            for item in body["data"].as_array().into_iter().flatten() {
                ids.push(id_text(&item["id"]));
            }
            let pagination = &body["additional_data"]["pagination"];
            if pagination["more_items_in_collection"] != json!(true) {
                assert!(pagination.get("next_start").is_none());
                break;
            }
            start = pagination["next_start"].as_u64().expect("next_start") as usize;
        }
        ids
    }

    /// Walks a v2 list with `cursor`/`limit`, returning every id in order.
    async fn walk_v2(&self, path: &str, limit: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        let separator = if path.contains('?') { '&' } else { '?' };
        loop {
            let mut url = format!("{path}{separator}limit={limit}");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let (status, _, body) = self.get(&url).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let page = body["data"].as_array().expect("v2 data is an array");
            assert!(page.len() <= limit);
            ids.extend(page.iter().map(|item| id_text(&item["id"])));
            match body["additional_data"]["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => {
                    assert!(body["additional_data"]["next_cursor"].is_null());
                    break;
                }
            }
        }
        ids
    }
}

fn id_text(id: &Value) -> String {
    match id {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn assert_unique_and_equal(walked: &[String], expected: &[String], what: &str) {
    let unique: HashSet<&String> = walked.iter().collect();
    assert_eq!(unique.len(), walked.len(), "{what}: an id came twice");
    let mut sorted_walked = walked.to_vec();
    sorted_walked.sort();
    let mut sorted_expected = expected.to_vec();
    sorted_expected.sort();
    assert_eq!(sorted_walked, sorted_expected, "{what}: walked ids differ");
}

#[tokio::test]
async fn v1_offset_paging_walks_every_id_exactly_once() {
    let sim = Sim::start(small()).await;
    for (path, entity) in [
        ("/api/v1/persons", "persons"),
        ("/api/v1/organizations", "organizations"),
        ("/api/v1/deals", "deals"),
        ("/api/v1/leads", "leads"),
        ("/api/v1/notes", "notes"),
        ("/api/v1/activities?user_id=0", "activities"),
        ("/api/v1/users", "users"),
    ] {
        let walked = sim.walk_v1(path, 17).await;
        assert_unique_and_equal(&walked, &sim.handle.ids(entity), path);
    }
    // Leads have UUID ids; the others are integers.
    let lead = &sim.handle.ids("leads")[0];
    assert!(uuid::Uuid::parse_str(lead).is_ok(), "{lead}");
    // A limit above 500 is cut to 500.
    let (_, _, body) = sim.get("/api/v1/persons?limit=1000").await;
    assert_eq!(body["additional_data"]["pagination"]["limit"], json!(500));
    assert_eq!(body["data"].as_array().map(Vec::len), Some(230));
    // Past the end: `data` is null, not an empty array.
    let (status, _, body) = sim.get("/api/v1/persons?start=10000").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["data"].is_null());
    assert_eq!(
        body["additional_data"]["pagination"]["more_items_in_collection"],
        json!(false)
    );
    // Activities without user_id are the token user's only.
    let mine = sim.walk_v1("/api/v1/activities", 100).await;
    assert!(!mine.is_empty() && mine.len() < sim.handle.ids("activities").len());
    for id in &mine {
        let record = sim.handle.record("activities", id).expect("record");
        assert_eq!(record["user_id"], json!(1));
    }
}

#[tokio::test]
async fn v1_lists_filter_and_sort() {
    let sim = Sim::start(small()).await;
    let (_, _, body) = sim
        .get("/api/v1/persons?sort=name%20DESC,id%20ASC&limit=500")
        .await;
    let names: Vec<String> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or("").to_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(names, sorted);
    let (status, _, body) = sim.get("/api/v1/persons?sort=nope%20ASC").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["success"], json!(false));

    let won = sim.walk_v1("/api/v1/deals?status=won", 50).await;
    assert!(!won.is_empty());
    for id in &won {
        assert_eq!(
            sim.handle.record("deals", id).expect("deal")["status"],
            json!("won")
        );
    }
    let (_, _, stage) = sim.get("/api/v1/deals?stage_id=2&limit=500").await;
    for deal in stage["data"].as_array().into_iter().flatten() {
        assert_eq!(deal["stage_id"], json!(2));
    }
    let (_, _, calls) = sim
        .get("/api/v1/activities?user_id=0&type=call,meeting&done=1&limit=500")
        .await;
    for activity in calls["data"].as_array().into_iter().flatten() {
        assert!(["call", "meeting"].contains(&activity["type"].as_str().unwrap_or("")));
        assert_eq!(activity["done"], json!(true));
    }
    let (status, _, body) = sim.get("/api/v1/persons?filter_id=3").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], json!("Filter not found"));
    let (_, _, stages) = sim.get("/api/v1/stages?pipeline_id=2").await;
    assert_eq!(stages["data"].as_array().map(Vec::len), Some(4));
    let (_, _, pipelines) = sim.get("/api/v1/pipelines").await;
    assert_eq!(pipelines["data"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn v2_cursor_paging_walks_every_id_exactly_once() {
    let sim = Sim::start(small()).await;
    for entity in ["persons", "organizations", "deals", "activities"] {
        let walked = sim.walk_v2(&format!("/api/v2/{entity}"), 23).await;
        assert_unique_and_equal(&walked, &sim.handle.ids(entity), entity);
        let by_update = sim
            .walk_v2(
                &format!("/api/v2/{entity}?sort_by=update_time&sort_direction=desc"),
                31,
            )
            .await;
        assert_unique_and_equal(&by_update, &sim.handle.ids(entity), entity);
    }
    let (_, _, page) = sim.get("/api/v2/persons?limit=3").await;
    let person = &page["data"][0];
    assert!(
        person["owner_id"].is_u64(),
        "v2 owner_id is a plain id: {person}"
    );
    assert!(
        person["add_time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T'))
    );
    assert!(person["custom_fields"].is_object());
    assert!(person["emails"].is_array());

    // updated_since keeps only records updated at or after the instant.
    let since = "2026-06-01T00:00:00Z";
    let recent = sim
        .walk_v2(&format!("/api/v2/persons?updated_since={since}"), 50)
        .await;
    let cutoff = "2026-06-01 00:00:00";
    let expected: Vec<String> = sim
        .handle
        .ids("persons")
        .into_iter()
        .filter(|id| {
            let record = sim.handle.record("persons", id).expect("record");
            record["update_time"].as_str().is_some_and(|t| t >= cutoff)
        })
        .collect();
    assert!(!expected.is_empty());
    assert_unique_and_equal(&recent, &expected, "updated_since");

    let (status, _, _) = sim.get("/api/v2/persons?limit=501").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = sim.get("/api/v2/persons?cursor=zz").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let ids = sim.handle.ids("deals");
    let (_, _, picked) = sim
        .get(&format!("/api/v2/deals?ids={},{}", ids[0], ids[3]))
        .await;
    assert_eq!(picked["data"].as_array().map(Vec::len), Some(2));
    let (status, _, _) = sim.get("/api/v2/leads").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn is_hash_key(key: &str) -> bool {
    key.len() == 40
        && key
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[tokio::test]
async fn custom_fields_are_keyed_by_hash_with_companions() {
    let sim = Sim::start(small()).await;
    let (status, _, fields) = sim.get("/api/v1/personFields?limit=500").await;
    assert_eq!(status, StatusCode::OK);
    let fields = fields["data"].as_array().expect("fields").clone();
    let by_name = |name: &str| {
        fields
            .iter()
            .find(|f| f["name"] == json!(name))
            .cloned()
            .unwrap_or_else(|| panic!("field {name}"))
    };
    assert_eq!(by_name("Name")["key"], json!("name"));
    assert_eq!(by_name("Name")["mandatory_flag"], json!(true));
    assert_eq!(by_name("Name")["edit_flag"], json!(false));
    let spend = by_name("Annual spend");
    let spend_key = spend["key"].as_str().expect("key").to_owned();
    assert!(is_hash_key(&spend_key), "{spend_key}");
    assert_eq!(spend["field_type"], json!("monetary"));
    assert_eq!(spend["edit_flag"], json!(true));
    assert_eq!(
        spend["subfields"][0]["key"],
        json!(format!("{spend_key}_currency"))
    );
    let tier = by_name("Tier");
    assert_eq!(tier["field_type"], json!("enum"));
    let options = tier["options"].as_array().expect("options");
    assert_eq!(options.len(), 3);
    assert!(options[0]["id"].is_u64() && options[0]["label"].is_string());
    let tier_key = tier["key"].as_str().expect("key").to_owned();

    // Most seeded records carry the values under the hash keys.
    let ids = sim.handle.ids("persons");
    let with_spend = ids
        .iter()
        .filter_map(|id| sim.handle.record("persons", id))
        .filter(|p| p[&spend_key].is_number())
        .collect::<Vec<_>>();
    assert!(with_spend.len() > ids.len() / 2);
    assert!(
        with_spend
            .iter()
            .all(|p| p[format!("{spend_key}_currency")].is_string())
    );

    // Deals have a daterange with its `_until` companion.
    let (_, _, deal_fields) = sim.get("/api/v1/dealFields?limit=500").await;
    let trial = deal_fields["data"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["field_type"] == json!("daterange"))
        .expect("a daterange field")
        .clone();
    let trial_key = trial["key"].as_str().expect("key");
    let deal = sim
        .handle
        .record("deals", &sim.handle.ids("deals")[5])
        .expect("deal");
    assert!(
        deal.as_object()
            .expect("deal")
            .contains_key(&format!("{trial_key}_until"))
    );
    let (status, _, activity_fields) = sim.get("/api/v1/activityFields").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        activity_fields["data"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );

    // A field added at runtime is listed and writable; its values round-trip.
    let key = sim.handle.add_custom_field("person", "Shoe size", "double");
    assert!(is_hash_key(&key));
    let (_, _, listed) = sim.get("/api/v1/personFields?limit=500").await;
    assert!(
        listed["data"]
            .as_array()
            .expect("fields")
            .iter()
            .any(|f| f["key"] == json!(key))
    );
    let id = &ids[4];
    let option_id = options[1]["id"].clone();
    let (status, body) = sim
        .send(
            Method::PUT,
            &format!("/api/v1/persons/{id}"),
            json!({key.clone(): 44.5, spend_key.clone(): 1200, format!("{spend_key}_currency"): "EUR", tier_key.clone(): option_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][&key], json!(44.5));
    assert_eq!(body["data"][&spend_key], json!(1200));
    assert_eq!(body["data"][format!("{spend_key}_currency")], json!("EUR"));
    assert_eq!(body["data"][&tier_key], json!(option_id.to_string()));
    let (_, _, v2) = sim.get(&format!("/api/v2/persons/{id}")).await;
    assert_eq!(
        v2["data"]["custom_fields"][&spend_key],
        json!({"value": 1200, "currency": "EUR"})
    );
    assert_eq!(v2["data"]["custom_fields"][&key], json!(44.5));

    let (status, body) = sim
        .send(
            Method::PUT,
            &format!("/api/v1/persons/{id}"),
            json!({tier_key: 999_999}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["success"], json!(false));
    let (status, _) = sim
        .send(
            Method::PUT,
            &format!("/api/v1/persons/{id}"),
            json!({key: "not a number"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Creating a field through the API.
    let (status, body) = sim
        .send(
            Method::POST,
            "/api/v1/dealFields",
            json!({"name": "Region", "field_type": "set", "options": [{"label": "EMEA"}, {"label": "APAC"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(is_hash_key(body["data"]["key"].as_str().unwrap_or("")));
    assert_eq!(body["data"]["options"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn crud_round_trip_has_pipedrive_statuses_and_shapes() {
    let sim = Sim::start(small()).await;
    let org_id = sim.handle.ids("organizations")[0].clone();
    let (status, created) = sim
        .send(
            Method::POST,
            "/api/v1/persons",
            json!({"name": "Ada Lovelace", "email": "ada@example.com", "phone": ["+44 20 1234"], "org_id": org_id.parse::<u64>().expect("numeric id"), "visible_to": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let person = &created["data"];
    let id = person["id"].as_u64().expect("numeric id");
    assert_eq!(person["first_name"], json!("Ada"));
    assert_eq!(person["last_name"], json!("Lovelace"));
    assert_eq!(
        person["email"],
        json!([{"label": "work", "value": "ada@example.com", "primary": true}])
    );
    assert_eq!(person["phone"][0]["value"], json!("+44 20 1234"));
    assert_eq!(person["org_id"]["value"].to_string(), org_id);
    assert!(person["org_id"]["name"].is_string());
    assert_eq!(person["owner_id"]["id"], json!(1));
    assert_eq!(person["visible_to"], json!("3"));
    assert_eq!(person["active_flag"], json!(true));
    let add_time = person["add_time"].as_str().expect("add_time");
    assert!(
        chrono::NaiveDateTime::parse_from_str(add_time, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{add_time}"
    );

    let (status, _, read) = sim.get(&format!("/api/v1/persons/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["data"]["name"], json!("Ada Lovelace"));

    let (status, updated) = sim
        .send(
            Method::PUT,
            &format!("/api/v1/persons/{id}"),
            json!({"name": "Ada King", "org_id": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["data"]["last_name"], json!("King"));
    assert!(updated["data"]["org_id"].is_null());

    let (status, deleted) = sim
        .send(Method::DELETE, &format!("/api/v1/persons/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted, json!({"success": true, "data": {"id": id}}));
    let (status, _, gone) = sim.get(&format!("/api/v1/persons/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(gone["data"]["active_flag"], json!(false));
    assert!(!sim.handle.ids("persons").contains(&id.to_string()));
    let (status, body) = sim
        .send(
            Method::PUT,
            &format!("/api/v1/persons/{id}"),
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(body["success"], json!(false));

    // Deals: deleted ones are listed with status=deleted.
    let (status, deal) = sim
        .send(
            Method::POST,
            "/api/v1/deals",
            json!({"title": "Big one", "value": 5000, "currency": "EUR", "stage_id": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    let deal_id = deal["data"]["id"].as_u64().expect("id");
    assert_eq!(deal["data"]["pipeline_id"], json!(2));
    assert_eq!(deal["data"]["status"], json!("open"));
    let (_, won) = sim
        .send(
            Method::PUT,
            &format!("/api/v1/deals/{deal_id}"),
            json!({"status": "won"}),
        )
        .await;
    assert_eq!(won["data"]["status"], json!("won"));
    assert!(won["data"]["won_time"].is_string());
    sim.send(
        Method::DELETE,
        &format!("/api/v1/deals/{deal_id}"),
        json!({}),
    )
    .await;
    let deleted_deals = sim.walk_v1("/api/v1/deals?status=deleted", 100).await;
    assert_eq!(deleted_deals, vec![deal_id.to_string()]);

    // Leads: UUID ids, PATCH updates, hard delete.
    let person_id: u64 = sim.handle.ids("persons")[0].parse().expect("id");
    let (status, lead) = sim
        .send(Method::POST, "/api/v1/leads", json!({"title": "Inbound", "person_id": person_id, "value": {"amount": 300, "currency": "USD"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{lead}");
    let lead_id = lead["data"]["id"].as_str().expect("uuid").to_owned();
    assert!(uuid::Uuid::parse_str(&lead_id).is_ok());
    assert!(
        lead["data"]["add_time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let (status, patched) = sim
        .send(
            Method::PATCH,
            &format!("/api/v1/leads/{lead_id}"),
            json!({"is_archived": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["data"]["is_archived"], json!(true));
    let (status, _) = sim
        .send(Method::PUT, &format!("/api/v1/leads/{lead_id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = sim
        .send(
            Method::DELETE,
            &format!("/api/v1/leads/{lead_id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["id"], json!(lead_id));
    let (status, _, _) = sim.get(&format!("/api/v1/leads/{lead_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Notes answer 200 on create (as the spec says); activities 201.
    let (status, note) = sim
        .send(
            Method::POST,
            "/api/v1/notes",
            json!({"content": "<p>hi</p>", "person_id": person_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{note}");
    assert_eq!(note["data"]["person_id"], json!(person_id));
    let (status, activity) = sim
        .send(Method::POST, "/api/v1/activities", json!({"type": "meeting", "due_date": "2026-12-01", "due_time": "10:30", "person_id": person_id, "done": 1}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{activity}");
    assert_eq!(activity["data"]["subject"], json!("Meeting"));
    assert_eq!(activity["data"]["done"], json!(true));
    assert!(
        activity["data"]["marked_as_done_time"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    // Form bodies work as well as JSON.
    let response = sim
        .client
        .post(sim.url("/api/v1/organizations"))
        .query(&[("api_token", TOKEN)])
        .form(&[("name", "Form Org"), ("visible_to", "7")])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let org: Value = response.json().await.expect("json");
    assert_eq!(org["data"]["name"], json!("Form Org"));
}

#[tokio::test]
async fn errors_have_the_pipedrive_shape() {
    let sim = Sim::start(small()).await;
    let expect_error = |status: StatusCode, body: &Value, wanted: StatusCode| {
        assert_eq!(status, wanted, "{body}");
        assert_eq!(body["success"], json!(false));
        assert!(body["error"].is_string());
        assert!(body["error_info"].is_string());
        assert!(body["data"].is_null());
        assert!(
            body.as_object()
                .expect("object")
                .contains_key("additional_data")
        );
    };
    let (status, _, body) = sim.get("/api/v1/persons/999999").await;
    expect_error(status, &body, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], json!("Person not found"));
    let (status, _, body) = sim.get("/api/v1/persons/abc").await;
    expect_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = sim
        .send(Method::POST, "/api/v1/persons", json!({"email": "x@y.z"}))
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = sim
        .send(
            Method::POST,
            "/api/v1/deals",
            json!({"title": "x", "stage_id": 99}),
        )
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = sim
        .send(Method::POST, "/api/v1/leads", json!({"title": "orphan"}))
        .await;
    expect_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = sim
        .send(Method::POST, "/api/v1/users", json!({"email": "a@b.c"}))
        .await;
    expect_error(status, &body, StatusCode::FORBIDDEN);
    let (status, _, body) = sim.get("/api/v1/nothing-here").await;
    expect_error(status, &body, StatusCode::NOT_FOUND);
    let (status, _, body) = sim.get("/api/v1/persons/search?term=a").await;
    expect_error(status, &body, StatusCode::BAD_REQUEST);
    let response = sim
        .client
        .post(sim.url("/api/v1/persons"))
        .header("x-api-token", TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn missing_or_unknown_tokens_get_401_and_every_auth_form_works() {
    let sim = Sim::start(small()).await;
    let unauthorized = json!({"success": false, "error": "unauthorized access", "errorCode": 401, "error_info": "Please check developers.pipedrive.com"});
    let response = sim
        .client
        .get(sim.url("/api/v1/persons"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.expect("json"), unauthorized);
    let response = sim
        .client
        .get(sim.url("/api/v1/persons?api_token=wrong"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = sim
        .client
        .get(sim.url("/api/v2/persons"))
        .bearer_auth("pipedrive-sim-token")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "an api token is not an OAuth token"
    );
    for request in [
        sim.client
            .get(sim.url("/api/v1/persons?api_token=pipedrive-sim-token")),
        sim.client
            .get(sim.url("/api/v1/persons"))
            .header("x-api-token", TOKEN),
        sim.client
            .get(sim.url("/api/v2/persons"))
            .bearer_auth("pipedrive-sim-oauth"),
        sim.client
            .get(sim.url("/v1/persons"))
            .header("x-api-token", TOKEN),
    ] {
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn rate_limit_headers_count_exactly_and_the_next_request_gets_429() {
    // A window of an hour: the six requests fall in one window however slow the machine.
    let sim = Sim::start(PipedriveConfig {
        rate_limit_per_2s: 5,
        rate_limit_window: std::time::Duration::from_secs(3_600),
        ..small()
    })
    .await;
    for expected_remaining in (0..5).rev() {
        let (status, headers, _) = sim.get("/api/v1/users").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-ratelimit-limit"], "5");
        assert_eq!(
            headers["x-ratelimit-remaining"].to_str().expect("header"),
            expected_remaining.to_string()
        );
        let reset: u64 = headers["x-ratelimit-reset"]
            .to_str()
            .expect("header")
            .parse()
            .expect("number");
        assert!((1..=3_600).contains(&reset), "{reset}");
    }
    let (status, headers, body) = sim.get("/api/v1/users").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["success"], json!(false));
    assert_eq!(body["errorCode"], json!(429));
    assert!(headers.contains_key("retry-after"));
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    // Another token has its own window.
    let response = sim
        .client
        .get(sim.url("/api/v1/users"))
        .bearer_auth("pipedrive-sim-oauth")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn faults_throttle_and_mutate_lists() {
    let sim = Sim::start(small()).await;
    sim.handle.faults().push(Fault {
        kind: FaultKind::Throttle {
            retry_after_secs: Some(3),
        },
        path_prefix: Some("/api/v1/deals".into()),
        times: 1,
    });
    let (status, headers, body) = sim.get("/api/v1/deals").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(body["success"], json!(false));
    let (status, _, _) = sim.get("/api/v1/deals").await;
    assert_eq!(status, StatusCode::OK);

    let before: HashSet<String> = sim.handle.ids("persons").into_iter().collect();
    sim.handle.faults().push(Fault {
        kind: FaultKind::Mutate {
            inserts: 3,
            deletes: 2,
        },
        path_prefix: Some("/api/v1/persons".into()),
        times: 1,
    });
    let walked = sim.walk_v1("/api/v1/persons", 500).await;
    let after: HashSet<String> = sim.handle.ids("persons").into_iter().collect();
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after.difference(&before).count(), 3);
    assert_eq!(before.difference(&after).count(), 2);
    assert_eq!(walked.into_iter().collect::<HashSet<_>>(), after);

    sim.handle.faults().push(Fault {
        kind: FaultKind::Mutate {
            inserts: 2,
            deletes: 0,
        },
        path_prefix: Some("/api/v2/deals".into()),
        times: 1,
    });
    let before = sim.handle.ids("deals").len();
    let walked = sim.walk_v2("/api/v2/deals", 500).await;
    assert_eq!(walked.len(), before + 2);
    assert!(sim.handle.requests().total_matching("GET /api/v2/deals") >= 1);
}

#[tokio::test]
async fn a_capture_keeps_the_requests_served_while_it_is_on() {
    let sim = Sim::start(small()).await;
    sim.get("/api/v1/deals?limit=3").await;
    sim.handle.requests().start_capture();
    let (status, _, _) = sim.get("/api/v2/persons?limit=5&sort_by=id").await;
    assert_eq!(status, StatusCode::OK);
    sim.get("/api/v1/deals").await;
    let kept = sim.handle.requests().stop_capture();
    sim.get("/api/v1/deals?limit=4").await;

    let seen: Vec<(&str, &str)> = kept
        .iter()
        .map(|request| (request.method.as_str(), request.path_and_query.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("GET", "/api/v2/persons?limit=5&sort_by=id"),
            ("GET", "/api/v1/deals")
        ]
    );
    assert!(
        kept[0]
            .headers
            .contains(&("x-api-token".to_owned(), TOKEN.to_owned()))
    );
    // The debug form names the credential header but never shows its value.
    let debug = format!("{:?}", kept[0]);
    assert!(debug.contains("x-api-token"), "{debug}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(sim.handle.requests().stop_capture().is_empty());
}

#[tokio::test]
async fn person_search_by_exact_email() {
    let sim = Sim::start(small()).await;
    let id = sim
        .handle
        .ids("persons")
        .into_iter()
        .find(|id| {
            sim.handle
                .record("persons", id)
                .is_some_and(|p| p["email"][0]["value"].is_string())
        })
        .expect("a person with an email");
    let person = sim.handle.record("persons", &id).expect("record");
    let email = person["email"][0]["value"].as_str().expect("email");
    let (status, _, body) = sim
        .get(&format!(
            "/api/v1/persons/search?term={email}&fields=email&exact_match=true"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["data"]["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["item"]["id"].to_string(), id);
    assert_eq!(items[0]["item"]["type"], json!("person"));
    assert!(
        items[0]["item"]["emails"]
            .as_array()
            .is_some_and(|e| e.contains(&json!(email)))
    );
    assert!(items[0]["result_score"].is_number());
    let (_, _, orgs) = sim.get("/api/v1/organizations/search?term=acme").await;
    assert!(orgs["data"]["items"].is_array());
}

#[tokio::test]
async fn seeding_is_deterministic() {
    let a = Sim::start(small()).await;
    let b = Sim::start(small()).await;
    let c = Sim::start(PipedriveConfig {
        seed: 12,
        ..small()
    })
    .await;
    for entity in [
        "persons",
        "organizations",
        "deals",
        "leads",
        "notes",
        "activities",
        "users",
    ] {
        let ids = a.handle.ids(entity);
        assert_eq!(ids, b.handle.ids(entity), "{entity}");
        for id in ids.iter().take(40) {
            assert_eq!(
                a.handle.record(entity, id),
                b.handle.record(entity, id),
                "{entity} {id}"
            );
        }
    }
    let (_, _, fa) = a.get("/api/v1/dealFields").await;
    let (_, _, fb) = b.get("/api/v1/dealFields").await;
    assert_eq!(fa, fb);
    let person = a.handle.ids("persons")[10].clone();
    assert_ne!(
        a.handle.record("persons", &person),
        c.handle.record("persons", &person)
    );
    // Odd values are present: unicode names, a very long note, an empty custom value.
    let first = a
        .handle
        .record("persons", &a.handle.ids("persons")[0])
        .expect("person");
    assert!(first["name"].as_str().is_some_and(|n| !n.is_ascii()));
    let longest = a
        .handle
        .ids("notes")
        .iter()
        .filter_map(|id| a.handle.record("notes", id))
        .map(|n| n["content"].as_str().map_or(0, str::len))
        .max();
    assert!(longest.is_some_and(|len| len >= 50_000));
    // Seeded times lie before the seed epoch.
    let record = a
        .handle
        .record("deals", &a.handle.ids("deals")[0])
        .expect("deal");
    assert!(
        record["add_time"]
            .as_str()
            .is_some_and(|t| t < "2026-11-01 00:00:00")
    );
}

/// Asserts a Pipedrive error answer with this status.
fn assert_error(status: StatusCode, body: &Value, wanted: StatusCode) {
    assert_eq!(status, wanted, "{body}");
    assert_eq!(body["success"], json!(false), "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(body["error_info"].is_string(), "{body}");
    assert!(body["data"].is_null(), "{body}");
}

/// Creates through `POST /api/v2/{collection}`, checks the answer equals the v2 read, patches
/// with `patch`, deletes, and returns the id and the patched record.
async fn v2_round_trip(sim: &Sim, collection: &str, create: Value, patch: Value) -> (u64, Value) {
    let (status, created) = sim
        .send(Method::POST, &format!("/api/v2/{collection}"), create)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["success"], json!(true));
    let id = created["data"]["id"].as_u64().expect("numeric id");
    assert_eq!(created["data"]["is_deleted"], json!(false));
    assert!(
        created["data"]["add_time"]
            .as_str()
            .expect("time")
            .ends_with('Z')
    );
    let (status, _, read) = sim.get(&format!("/api/v2/{collection}/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["data"], created["data"]);
    let (status, patched) = sim
        .send(Method::PATCH, &format!("/api/v2/{collection}/{id}"), patch)
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["data"]["id"], json!(id));
    let (_, _, reread) = sim.get(&format!("/api/v2/{collection}/{id}")).await;
    assert_eq!(reread["data"], patched["data"]);
    let (status, deleted) = sim
        .send(
            Method::DELETE,
            &format!("/api/v2/{collection}/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted, json!({"success": true, "data": {"id": id}}));
    assert!(!sim.handle.ids(collection).contains(&id.to_string()));
    (id, patched["data"].clone())
}

#[tokio::test]
async fn v2_person_create_patch_delete_round_trip() {
    let sim = Sim::start(small()).await;
    let budget = sim.handle.add_custom_field("person", "Budget", "monetary");
    let tier = sim.handle.add_custom_field("person", "Tier", "enum");
    let org = sim.handle.ids("organizations")[0]
        .parse::<u64>()
        .expect("id");
    let option = sim.get("/api/v1/personFields?limit=500").await.2["data"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["key"] == json!(tier))
        .expect("tier field")["options"][1]["id"]
        .as_u64()
        .expect("option id");
    let create = json!({
        "name": "Ada Lovelace",
        "owner_id": 2,
        "org_id": org,
        "emails": [{"value": "ada@example.com", "primary": true, "label": "work"}],
        "phones": [{"value": "+44 20 1234", "primary": true, "label": "mobile"}],
        "visible_to": 3,
        "custom_fields": {budget.clone(): {"value": 1200.5, "currency": "EUR"}, tier.clone(): option},
    });
    let patch = json!({
        "name": "Ada King",
        "emails": [{"value": "ada@king.example", "primary": true, "label": "home"}],
        "custom_fields": {budget.clone(): {"value": 900, "currency": "GBP"}},
    });
    let (status, created) = sim
        .send(Method::POST, "/api/v2/persons", create.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let data = &created["data"];
    assert_eq!(data["name"], json!("Ada Lovelace"));
    assert_eq!(data["first_name"], json!("Ada"));
    assert_eq!(data["owner_id"], json!(2));
    assert_eq!(data["org_id"], json!(org));
    assert_eq!(
        data["emails"],
        json!([{"value": "ada@example.com", "primary": true, "label": "work"}])
    );
    assert_eq!(data["phones"][0]["label"], json!("mobile"));
    assert_eq!(data["visible_to"], json!(3));
    assert_eq!(
        data["custom_fields"][&budget],
        json!({"value": 1200.5, "currency": "EUR"})
    );
    assert_eq!(data["custom_fields"][&tier], json!(option));
    // v1 sees the same write with flat custom values.
    let v1 = sim
        .handle
        .record("persons", &data["id"].to_string())
        .expect("record");
    assert_eq!(v1[format!("{budget}_currency")], json!("EUR"));

    let (id, patched) = v2_round_trip(&sim, "persons", create, patch).await;
    assert_eq!(patched["name"], json!("Ada King"));
    assert_eq!(patched["last_name"], json!("King"));
    assert_eq!(patched["emails"][0]["value"], json!("ada@king.example"));
    assert_eq!(patched["owner_id"], json!(2), "untouched keys stay");
    assert_eq!(
        patched["custom_fields"][&budget],
        json!({"value": 900, "currency": "GBP"})
    );
    assert_eq!(patched["custom_fields"][&tier], json!(option));
    // Soft-deleted: still readable, and writes answer 410.
    let (status, _, gone) = sim.get(&format!("/api/v2/persons/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(gone["data"]["is_deleted"], json!(true));
    let (status, body) = sim
        .send(
            Method::PATCH,
            &format!("/api/v2/persons/{id}"),
            json!({"name": "x"}),
        )
        .await;
    assert_error(status, &body, StatusCode::GONE);
    let (status, body) = sim
        .send(Method::DELETE, &format!("/api/v2/persons/{id}"), json!({}))
        .await;
    assert_error(status, &body, StatusCode::GONE);
}

#[tokio::test]
async fn v2_organization_create_patch_delete_round_trip() {
    let sim = Sim::start(small()).await;
    let (id, patched) = v2_round_trip(
        &sim,
        "organizations",
        json!({"name": "Analytical Engines Ltd", "owner_id": 3, "label_ids": [1],
               "address": {"value": "1 Main St, London"}}),
        json!({"address": {"value": "2 High St, Leeds"}, "visible_to": 1}),
    )
    .await;
    assert_eq!(patched["name"], json!("Analytical Engines Ltd"));
    assert_eq!(patched["owner_id"], json!(3));
    assert_eq!(patched["label_ids"], json!([1]));
    assert_eq!(patched["address"]["value"], json!("2 High St, Leeds"));
    assert_eq!(patched["visible_to"], json!(1));
    let (status, body) = sim
        .send(
            Method::PATCH,
            &format!("/api/v2/organizations/{id}"),
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::GONE);
}

#[tokio::test]
async fn v2_deal_create_patch_delete_round_trip() {
    let sim = Sim::start(small()).await;
    let person = sim.handle.ids("persons")[0].parse::<u64>().expect("id");
    let size = sim.handle.add_custom_field("deal", "Deal size", "monetary");
    let (id, patched) = v2_round_trip(
        &sim,
        "deals",
        json!({"title": "Engine order", "value": 5000, "currency": "EUR", "owner_id": 2,
               "person_id": person, "stage_id": 2, "expected_close_date": "2030-01-31",
               "custom_fields": {size.clone(): {"value": 10, "currency": "USD"}}}),
        json!({"status": "won", "stage_id": 7, "probability": 90}),
    )
    .await;
    assert_eq!(patched["title"], json!("Engine order"));
    assert_eq!(patched["value"], json!(5000));
    assert_eq!(patched["currency"], json!("EUR"));
    assert_eq!(patched["owner_id"], json!(2));
    assert_eq!(patched["person_id"], json!(person));
    assert_eq!(patched["status"], json!("won"));
    assert_eq!(patched["stage_id"], json!(7));
    assert_eq!(
        patched["pipeline_id"],
        json!(2),
        "the stage decides the pipeline"
    );
    assert!(
        patched["won_time"]
            .as_str()
            .expect("won time")
            .ends_with('Z')
    );
    assert_eq!(patched["expected_close_date"], json!("2030-01-31"));
    assert_eq!(
        patched["custom_fields"][&size],
        json!({"value": 10, "currency": "USD"})
    );
    let (status, _, gone) = sim.get(&format!("/api/v2/deals/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(gone["data"]["status"], json!("deleted"));
    let (status, body) = sim
        .send(
            Method::PATCH,
            &format!("/api/v2/deals/{id}"),
            json!({"title": "x"}),
        )
        .await;
    assert_error(status, &body, StatusCode::GONE);
}

#[tokio::test]
async fn v2_activity_create_patch_delete_round_trip() {
    let sim = Sim::start(small()).await;
    let persons = sim.handle.ids("persons");
    let first = persons[0].parse::<u64>().expect("id");
    let second = persons[1].parse::<u64>().expect("id");
    let deal = sim.handle.ids("deals")[0].parse::<u64>().expect("id");
    let (id, patched) = v2_round_trip(
        &sim,
        "activities",
        json!({"subject": "Kick-off", "type": "meeting", "owner_id": 2, "deal_id": deal,
               "due_date": "2030-02-01", "due_time": "09:30", "duration": "01:00",
               "busy": true, "location": {"value": "Room 1"}, "note": "agenda",
               "participants": [{"person_id": first, "primary": true}]}),
        json!({"done": true, "participants": [{"person_id": second, "primary": true}]}),
    )
    .await;
    assert_eq!(patched["subject"], json!("Kick-off"));
    assert_eq!(patched["type"], json!("meeting"));
    assert_eq!(patched["owner_id"], json!(2));
    assert_eq!(patched["deal_id"], json!(deal));
    assert_eq!(patched["person_id"], json!(second));
    assert_eq!(patched["due_time"], json!("09:30"));
    assert_eq!(patched["busy"], json!(true));
    assert_eq!(patched["done"], json!(true));
    assert!(patched["marked_as_done_time"].is_string());
    assert_eq!(patched["location"], json!({"value": "Room 1"}));
    assert_eq!(patched["note"], json!("agenda"));
    // Activities are removed outright: 404 afterwards.
    let (status, _, body) = sim.get(&format!("/api/v2/activities/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = sim
        .send(
            Method::PATCH,
            &format!("/api/v2/activities/{id}"),
            json!({"done": false}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = sim
        .send(
            Method::DELETE,
            &format!("/api/v2/activities/{id}"),
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn v2_write_errors_have_the_pipedrive_shape() {
    let sim = Sim::start(small()).await;
    let tier = sim.handle.add_custom_field("deal", "Tier", "enum");
    let cases = [
        (
            Method::POST,
            "/api/v2/persons",
            json!({"emails": [{"value": "a@b.c"}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v2/organizations",
            json!({"name": "x", "address": 7}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v2/deals",
            json!({"title": "x", "stage_id": 99}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v2/deals",
            json!({"title": "x", "person_id": 999_999}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v2/deals",
            json!({"title": "x", "custom_fields": []}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v2/deals",
            json!({"title": "x", "custom_fields": {tier.clone(): 1}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v2/activities",
            json!({"type": "picnic"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v2/activities",
            json!({"participants": [{"primary": true}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            "/api/v2/deals/999999",
            json!({"title": "x"}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PATCH,
            "/api/v2/deals/abc",
            json!({"title": "x"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::DELETE,
            "/api/v2/persons/999999",
            json!({}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/api/v2/leads",
            json!({"title": "x"}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, body, wanted) in cases {
        let (status, answer) = sim.send(method.clone(), path, body.clone()).await;
        assert_error(status, &answer, wanted);
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {path} {body}: {answer}"
        );
    }
    // An empty patch keeps the record as it was.
    let id = &sim.handle.ids("persons")[0];
    let (_, _, before) = sim.get(&format!("/api/v2/persons/{id}")).await;
    let (status, after) = sim
        .send(Method::PATCH, &format!("/api/v2/persons/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["data"]["name"], before["data"]["name"]);
    assert_eq!(after["data"]["emails"], before["data"]["emails"]);
}
