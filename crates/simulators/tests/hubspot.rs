//! Black-box tests of the HubSpot simulator over HTTP: paging, property selection, search,
//! writes and their errors, auth, rate limits, faults and deterministic seeding.

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use simulators::hubspot::{self, HubSpotConfig, HubSpotHandle};
use simulators::{Fault, FaultKind, RunningSimulator};

const TOKEN: &str = "hubspot-sim-token";

fn small() -> HubSpotConfig {
    HubSpotConfig {
        contacts: 230,
        companies: 40,
        deals: 60,
        notes: 30,
        tasks: 20,
        calls: 10,
        meetings: 10,
        emails: 10,
        leads: 25,
        owners: 12,
        rate_limit_per_interval: 100_000,
        search_per_second: 1_000,
        ..HubSpotConfig::default()
    }
}

struct Sim {
    running: RunningSimulator,
    handle: HubSpotHandle,
    client: Client,
}

impl Sim {
    async fn start(config: HubSpotConfig) -> Sim {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
        let (running, handle) = hubspot::spawn(config, addr).await.expect("simulator binds");
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
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request is sent");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request is sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn search(&self, object_type: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            reqwest::Method::POST,
            &format!("/crm/v3/objects/{object_type}/search"),
            body,
        )
        .await
    }

    /// Walks a list endpoint to the end, returning every record.
    async fn walk(&self, path_and_query: &str) -> Vec<Value> {
        let mut records = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(after) => format!("{path_and_query}&after={after}"),
                None => path_and_query.to_owned(),
            };
            let (status, _, body) = self.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            records.extend(body["results"].as_array().expect("results").iter().cloned());
            match body.pointer("/paging/next/after").and_then(Value::as_str) {
                Some(next) => after = Some(next.to_owned()),
                None => return records,
            }
        }
    }
}

fn ids_of(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|record| record["id"].as_str().expect("id is a string").to_owned())
        .collect()
}

#[tokio::test]
async fn list_paging_walks_every_id_exactly_once() {
    let sim = Sim::start(small()).await;
    let records = sim.walk("/crm/v3/objects/contacts?limit=7").await;
    let ids = ids_of(&records);
    assert_eq!(ids, sim.handle.ids("contacts"));
    assert_eq!(ids.len(), 230);
    let numeric: Vec<u64> = ids
        .iter()
        .map(|id| id.parse().expect("numeric id"))
        .collect();
    assert!(numeric.windows(2).all(|pair| pair[0] < pair[1]));

    let (_, _, first) = sim.get("/crm/v3/objects/contacts?limit=7").await;
    let link = first["paging"]["next"]["link"].as_str().expect("link");
    assert!(
        link.starts_with("https://api.hubapi.com/crm/v3/objects/contacts?"),
        "{link}"
    );
    let (_, _, last) = sim
        .get(&format!(
            "/crm/v3/objects/contacts?limit=100&after={}",
            numeric[200]
        ))
        .await;
    assert_eq!(last["results"].as_array().map(Vec::len), Some(30));
    assert!(last.get("paging").is_none(), "no paging on the last page");

    let (status, _, body) = sim.get("/crm/v3/objects/contacts?limit=101").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["category"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn only_default_and_requested_properties_come_back_all_as_strings() {
    let sim = Sim::start(small()).await;
    let (_, _, body) = sim.get("/crm/v3/objects/contacts?limit=100").await;
    let defaults: BTreeSet<&str> = [
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ]
    .into();
    for record in body["results"].as_array().expect("results") {
        let keys: BTreeSet<&str> = record["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, defaults);
        assert_eq!(record["archived"], false);
        let created = record["createdAt"].as_str().expect("createdAt");
        assert_eq!(created.len(), 24, "ISO 8601 with milliseconds: {created}");
        assert!(created.ends_with('Z') && created < "2026-11-01");
        assert_eq!(record["properties"]["createdate"].as_str(), Some(created));
        assert_eq!(record["properties"]["hs_object_id"], record["id"]);
    }

    let (_, _, body) = sim
        .get("/crm/v3/objects/contacts?limit=100&properties=phone,nps_score,no_such_prop&properties=hubspot_owner_id")
        .await;
    let mut saw_number = false;
    let mut saw_null = false;
    for record in body["results"].as_array().expect("results") {
        let properties = record["properties"].as_object().expect("properties");
        assert!(properties.contains_key("phone") && properties.contains_key("nps_score"));
        assert!(properties.contains_key("hubspot_owner_id") && properties.contains_key("email"));
        assert!(!properties.contains_key("no_such_prop"));
        for value in properties.values() {
            assert!(value.is_string() || value.is_null(), "{value}");
        }
        match &properties["nps_score"] {
            Value::String(score) => {
                saw_number = true;
                assert!(score.parse::<u32>().is_ok_and(|score| score <= 10));
            }
            _ => saw_null = true,
        }
    }
    assert!(
        saw_number && saw_null,
        "some contacts have an NPS score and some do not"
    );

    let (_, _, deal) = sim.get("/crm/v3/objects/deals?limit=1").await;
    let amount = deal["results"][0]["properties"]["amount"]
        .as_str()
        .expect("amount is a string");
    assert!(amount.parse::<f64>().is_ok());
    let (_, _, company) = sim.get("/crm/v3/objects/companies?limit=1").await;
    assert!(
        company["results"][0]["properties"]
            .get("hs_lastmodifieddate")
            .is_some()
    );
}

#[tokio::test]
async fn search_filters_return_exactly_the_matching_records() {
    let sim = Sim::start(small()).await;
    let records: Vec<Value> = sim
        .handle
        .ids("contacts")
        .iter()
        .map(|id| sim.handle.record("contacts", id).expect("record"))
        .collect();

    // EQ on email, case-insensitively.
    let target = &records[17];
    let email = target["properties"]["email"].as_str().expect("email");
    let (status, body) = sim
        .search(
            "contacts",
            json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email.to_uppercase()}]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["results"][0]["id"], target["id"]);

    // GTE on lastmodifieddate given as epoch milliseconds, sorted by id, paged by offset.
    let mut modified: Vec<&str> = records
        .iter()
        .map(|record| {
            record["properties"]["lastmodifieddate"]
                .as_str()
                .expect("date")
        })
        .collect();
    modified.sort_unstable();
    let cut = modified[150];
    let cut_ms = chrono::DateTime::parse_from_rfc3339(cut)
        .expect("rfc3339")
        .timestamp_millis();
    let expected: Vec<String> = records
        .iter()
        .filter(|record| record["properties"]["lastmodifieddate"].as_str() >= Some(cut))
        .map(|record| record["id"].as_str().expect("id").to_owned())
        .collect();
    let mut seen = Vec::new();
    let mut after = json!(null);
    loop {
        let (status, body) = sim
            .search(
                "contacts",
                json!({
                    "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": cut_ms.to_string()}]}],
                    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                    "properties": ["lastmodifieddate"],
                    "limit": 30,
                    "after": after,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["total"].as_u64(), Some(expected.len() as u64));
        seen.extend(ids_of(body["results"].as_array().expect("results")));
        match body.pointer("/paging/next/after") {
            Some(next) => after = next.clone(),
            None => break,
        }
    }
    assert_eq!(seen, expected);

    // The same window with an ISO operand, sorted descending with the "-prop" shorthand.
    let (_, body) = sim
        .search(
            "contacts",
            json!({
                "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": cut}]}],
                "sorts": ["-hs_object_id"],
                "limit": 200,
            }),
        )
        .await;
    let mut descending = expected.clone();
    descending.reverse();
    assert_eq!(
        ids_of(body["results"].as_array().expect("results")),
        descending
    );

    // IN on ids, ORed with an EQ group; archived-free and deduplicated.
    let wanted: Vec<String> = [3, 9, 27, 81]
        .iter()
        .map(|idx| records[*idx]["id"].as_str().expect("id").to_owned())
        .collect();
    let (_, body) = sim
        .search(
            "contacts",
            json!({
                "filterGroups": [
                    {"filters": [{"propertyName": "hs_object_id", "operator": "IN", "values": wanted}]},
                    {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": wanted[0]}]},
                ],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            }),
        )
        .await;
    assert_eq!(ids_of(body["results"].as_array().expect("results")), wanted);

    // Numeric comparison of ids: "999" < "1100" numerically, not as text.
    let first_id: u64 = records[0]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("numeric");
    let (_, body) = sim
        .search(
            "contacts",
            json!({"filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "LT", "value": (first_id + 10).to_string()}]}]}),
        )
        .await;
    assert_eq!(body["total"], 10);

    // HAS_PROPERTY / NOT_HAS_PROPERTY partition the records.
    let count = |operator: &'static str| {
        let sim = &sim;
        async move {
            let (_, body) = sim
                .search("contacts", json!({"filterGroups": [{"filters": [{"propertyName": "nps_score", "operator": operator}]}]}))
                .await;
            body["total"].as_u64().expect("total")
        }
    };
    assert_eq!(
        count("HAS_PROPERTY").await + count("NOT_HAS_PROPERTY").await,
        230
    );

    // Too many filter groups is a 400.
    let groups: Vec<Value> = (0..6)
        .map(|_| json!({"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}))
        .collect();
    let (status, body) = sim
        .search("contacts", json!({"filterGroups": groups}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["category"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn search_stops_at_ten_thousand_results() {
    let started = std::time::Instant::now();
    let sim = Sim::start(HubSpotConfig::default()).await;
    eprintln!("seeding the default portal took {:?}", started.elapsed());
    assert_eq!(sim.handle.ids("contacts").len(), 12_000);
    let (status, body) = sim
        .search(
            "contacts",
            json!({"limit": 200, "after": "9800", "sorts": ["hs_object_id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 12_000);
    assert_eq!(body["results"].as_array().map(Vec::len), Some(200));
    assert_eq!(body["paging"]["next"]["after"], "10000");
    let (status, body) = sim
        .search(
            "contacts",
            json!({"limit": 200, "after": "10000", "sorts": ["hs_object_id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "error");
    assert_eq!(body["category"], "VALIDATION_ERROR");
    assert!(body["message"].as_str().expect("message").contains("10000"));
    let (status, _) = sim.search("contacts", json!({"limit": 201})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn create_read_update_archive_round_trip() {
    let sim = Sim::start(small()).await;
    let company_id = sim.handle.ids("companies")[0].clone();
    let (status, created) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/contacts",
            json!({
                "properties": {"email": "new.person@example.org", "firstname": "New", "lastname": "Person", "nps_score": 9, "favorite_color": "green"},
                "associations": [{"to": {"id": company_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(
        id.parse::<u64>().expect("numeric")
            > sim.handle.ids("contacts")[228].parse().expect("numeric")
    );
    assert_eq!(created["properties"]["nps_score"], "9");
    assert_eq!(
        created["properties"]["hs_object_id"].as_str(),
        Some(id.as_str())
    );

    let (status, _, read) = sim
        .get(&format!(
            "/crm/v3/objects/contacts/{id}?properties=favorite_color&associations=companies"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["properties"]["favorite_color"], "green");
    assert_eq!(
        read["associations"]["companies"]["results"][0]["id"].as_str(),
        Some(company_id.as_str())
    );
    assert_eq!(
        read["associations"]["companies"]["results"][0]["type"],
        "contact_to_company"
    );
    let (status, _, by_email) = sim
        .get("/crm/v3/objects/contacts/NEW.person@example.org?idProperty=email")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_email["id"].as_str(), Some(id.as_str()));

    let (status, updated) = sim
        .send(
            reqwest::Method::PATCH,
            &format!("/crm/v3/objects/contacts/{id}"),
            json!({"properties": {"jobtitle": "Buyer", "notes_last_updated": 1_700_000_000_000_u64}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["properties"]["jobtitle"], "Buyer");
    assert_eq!(
        updated["properties"]["notes_last_updated"],
        "2023-11-14T22:13:20.000Z"
    );
    assert!(updated["updatedAt"].as_str() >= created["updatedAt"].as_str());
    assert_eq!(
        updated["properties"]["lastmodifieddate"],
        updated["updatedAt"]
    );

    let response = sim
        .client
        .delete(sim.url(&format!("/crm/v3/objects/contacts/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("delete is sent");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _, gone) = sim.get(&format!("/crm/v3/objects/contacts/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(gone["category"], "OBJECT_NOT_FOUND");
    assert!(!sim.handle.ids("contacts").contains(&id));

    let archived = sim
        .walk("/crm/v3/objects/contacts?limit=100&archived=true")
        .await;
    assert_eq!(ids_of(&archived), vec![id.clone()]);
    assert_eq!(archived[0]["archived"], true);
    assert!(archived[0]["archivedAt"].is_string());
    let (_, search) = sim
        .search("contacts", json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "new.person@example.org"}]}]}))
        .await;
    assert_eq!(search["total"], 0, "search never returns archived records");
    let (status, _, _) = sim
        .get(&format!("/crm/v3/objects/contacts/{id}?archived=true"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn validation_conflict_and_not_found_bodies() {
    let sim = Sim::start(small()).await;
    let (status, body) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/contacts",
            json!({"properties": {"foo": "bar"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "error");
    assert_eq!(body["category"], "VALIDATION_ERROR");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .starts_with("Property values were not valid: ")
    );
    assert!(
        body["correlationId"]
            .as_str()
            .is_some_and(|id| id.len() == 36)
    );
    assert_eq!(
        body["errors"][0],
        json!({"message": "Property \"foo\" does not exist", "code": "PROPERTY_DOESNT_EXIST", "context": {"propertyName": ["foo"]}})
    );

    let (status, body) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/contacts",
            json!({"properties": {"customer_health_score": "50"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["code"], "READ_ONLY_VALUE");

    let (status, body) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/contacts",
            json!({"properties": {"favorite_color": "magenta"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["code"], "INVALID_OPTION");

    let existing_id = sim.handle.ids("contacts")[0].clone();
    let existing = sim.handle.record("contacts", &existing_id).expect("record");
    let email = existing["properties"]["email"].as_str().expect("email");
    let (status, body) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/contacts",
            json!({"properties": {"email": email}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["category"], "CONFLICT");
    assert_eq!(
        body["message"],
        format!("Contact already exists. Existing ID: {existing_id}")
    );

    let (status, _, body) = sim.get("/crm/v3/objects/deals/424242424").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["message"],
        "Object not found.  objectId are usually numeric."
    );
    assert_eq!(body["context"], json!({"id": ["424242424"]}));
    assert_eq!(body["category"], "OBJECT_NOT_FOUND");

    let (status, _, body) = sim.get("/crm/v3/objects/widgets").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["category"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn requests_without_a_known_token_get_401() {
    let sim = Sim::start(small()).await;
    for token in [None, Some("wrong-token")] {
        let mut request = sim.client.get(sim.url("/crm/v3/objects/contacts"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request is sent");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.expect("json body");
        assert_eq!(body["status"], "error");
        assert_eq!(body["category"], "INVALID_AUTHENTICATION");
        assert!(
            body["message"]
                .as_str()
                .expect("message")
                .starts_with("Authentication credentials not found.")
        );
        assert!(body["correlationId"].is_string());
    }
}

#[tokio::test]
async fn rate_limits_count_exactly_and_answer_429() {
    let sim = Sim::start(HubSpotConfig {
        search_per_second: 2,
        daily_limit: Some(1_000),
        ..small()
    })
    .await;
    sim.handle.set_rate_limit(5, 60_000);
    for expected_remaining in (0..5).rev() {
        let (status, headers, _) = sim.get("/crm/v3/objects/contacts?limit=1").await;
        assert_eq!(status, StatusCode::OK);
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("x-hubspot-ratelimit-max").as_deref(), Some("5"));
        assert_eq!(
            header("x-hubspot-ratelimit-remaining"),
            Some(expected_remaining.to_string())
        );
        assert_eq!(
            header("x-hubspot-ratelimit-interval-milliseconds").as_deref(),
            Some("60000")
        );
        assert_eq!(header("x-hubspot-ratelimit-daily").as_deref(), Some("1000"));
    }
    let (status, headers, body) = sim.get("/crm/v3/objects/contacts?limit=1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert_eq!(
        body["message"],
        "You have reached your ten_secondly_rolling limit."
    );
    assert_eq!(
        headers
            .get("x-hubspot-ratelimit-remaining")
            .and_then(|v| v.to_str().ok()),
        Some("0")
    );
    assert_eq!(
        headers
            .get("x-hubspot-ratelimit-daily-remaining")
            .and_then(|v| v.to_str().ok()),
        Some("995"),
        "refused requests are not counted"
    );

    sim.handle.set_rate_limit(1_000, 10_000);
    let mut statuses = Vec::new();
    let mut last = Value::Null;
    for _ in 0..3 {
        let (status, body) = sim.search("notes", json!({"limit": 1})).await;
        statuses.push(status);
        last = body;
    }
    assert_eq!(statuses[..2], [StatusCode::OK, StatusCode::OK]);
    assert_eq!(
        statuses[2],
        StatusCode::TOO_MANY_REQUESTS,
        "third search within a second"
    );
    assert_eq!(last["policyName"], "SECONDLY");

    let daily = Sim::start(HubSpotConfig {
        daily_limit: Some(2),
        ..small()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(daily.get("/crm/v3/owners").await.0, StatusCode::OK);
    }
    let (status, _, body) = daily.get("/crm/v3/owners").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["policyName"], "DAILY");
}

#[tokio::test]
async fn throttle_faults_answer_like_hubspot() {
    let sim = Sim::start(small()).await;
    sim.handle.faults().push(Fault {
        kind: FaultKind::Throttle {
            retry_after_secs: Some(3),
        },
        path_prefix: Some("/crm/v3/objects/deals".into()),
        times: 1,
    });
    assert_eq!(sim.get("/crm/v3/objects/contacts").await.0, StatusCode::OK);
    let (status, headers, body) = sim.get("/crm/v3/objects/deals").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("3")
    );
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(sim.get("/crm/v3/objects/deals").await.0, StatusCode::OK);
    assert_eq!(
        sim.handle
            .requests()
            .total_matching("GET /crm/v3/objects/deals"),
        2
    );
}

#[tokio::test]
async fn paging_under_mutation_misses_no_record_that_existed_throughout() {
    let sim = Sim::start(small()).await;
    let before: HashSet<String> = sim.handle.ids("contacts").into_iter().collect();
    sim.handle.faults().push(Fault {
        kind: FaultKind::Mutate {
            inserts: 5,
            deletes: 5,
        },
        path_prefix: Some("/crm/v3/objects/contacts".into()),
        times: 4,
    });
    let seen = ids_of(&sim.walk("/crm/v3/objects/contacts?limit=20").await);
    let after: HashSet<String> = sim.handle.ids("contacts").into_iter().collect();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no record is served twice");
    let survivors: Vec<&String> = before.intersection(&after).collect();
    // Four faults archived five records each, some of them just inserted by an earlier fault.
    assert!((210..230).contains(&survivors.len()), "{}", survivors.len());
    assert_eq!(after.len(), 230, "and inserted five each");
    for id in survivors {
        assert!(
            unique.contains(id),
            "record {id} existed throughout but was missed"
        );
    }
    let inserted: Vec<&String> = after.difference(&before).collect();
    assert!(
        inserted.iter().all(|id| unique.contains(id)),
        "inserts land after the cursor"
    );

    // Search takes mutation faults too.
    sim.handle.faults().push(Fault {
        kind: FaultKind::Mutate {
            inserts: 3,
            deletes: 0,
        },
        path_prefix: Some("/crm/v3/objects/deals/search".into()),
        times: 1,
    });
    let (_, body) = sim.search("deals", json!({"limit": 1})).await;
    assert_eq!(body["total"], 63);
}

#[tokio::test]
async fn the_same_seed_serves_the_same_data() {
    let first = Sim::start(small()).await;
    let second = Sim::start(small()).await;
    let other = Sim::start(HubSpotConfig { seed: 7, ..small() }).await;
    let path = "/crm/v3/objects/contacts?limit=100&properties=phone,city,favorite_color&associations=companies";
    let (_, _, one) = first.get(path).await;
    let (_, _, two) = second.get(path).await;
    let (_, _, three) = other.get(path).await;
    assert_eq!(one, two);
    assert_ne!(one, three);
    let (_, _, deals_one) = first
        .get("/crm/v3/objects/deals?limit=100&properties=closedate,hs_is_closed_won")
        .await;
    let (_, _, deals_two) = second
        .get("/crm/v3/objects/deals?limit=100&properties=closedate,hs_is_closed_won")
        .await;
    assert_eq!(deals_one, deals_two);
}

#[tokio::test]
async fn properties_api_describes_builtin_and_custom_properties() {
    let sim = Sim::start(small()).await;
    let (status, _, body) = sim.get("/crm/v3/properties/contacts").await;
    assert_eq!(status, StatusCode::OK);
    let properties = body["results"].as_array().expect("results");
    let find = |name: &str| {
        properties
            .iter()
            .find(|property| property["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("property {name} is listed"))
    };
    assert_eq!(find("email")["hubspotDefined"], true);
    assert_eq!(find("lifecyclestage")["type"], "enumeration");
    let color = find("favorite_color");
    assert!(
        color.get("hubspotDefined").is_none(),
        "custom properties carry no hubspotDefined"
    );
    assert_eq!(color["options"].as_array().map(Vec::len), Some(6));
    let health = find("customer_health_score");
    assert_eq!(health["modificationMetadata"]["readOnlyValue"], true);
    assert_eq!(health["type"], "number");

    let (status, created) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/properties/companies",
            json!({"name": "renewal_risk", "label": "Renewal risk", "type": "enumeration", "fieldType": "select", "groupName": "companyinformation", "options": [{"label": "Low", "value": "low"}, {"label": "High", "value": "high"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, duplicate) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/properties/companies",
            created.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{duplicate}");
    let company = sim.handle.ids("companies")[0].clone();
    let (status, body) = sim
        .send(
            reqwest::Method::PATCH,
            &format!("/crm/v3/objects/companies/{company}"),
            json!({"properties": {"renewal_risk": "high"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["properties"]["renewal_risk"], "high");

    sim.handle.add_property(
        "deals",
        json!({"name": "partner_code", "label": "Partner code", "type": "string"}),
    );
    let (status, _, body) = sim.get("/crm/v3/properties/deals/partner_code").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], "string");
}

#[tokio::test]
async fn owners_pipelines_and_associations() {
    let sim = Sim::start(small()).await;
    let owners = sim.walk("/crm/v3/owners?limit=5").await;
    assert_eq!(owners.len(), 12);
    let email = owners[3]["email"].as_str().expect("email");
    let (_, _, filtered) = sim.get(&format!("/crm/v3/owners?email={email}")).await;
    assert_eq!(filtered["results"].as_array().map(Vec::len), Some(1));
    let owner_id = owners[3]["id"].as_str().expect("id");
    let (status, _, owner) = sim.get(&format!("/crm/v3/owners/{owner_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(owner["email"], email);

    let (_, _, pipelines) = sim.get("/crm/v3/pipelines/deals").await;
    let pipelines = pipelines["results"].as_array().expect("results").clone();
    assert_eq!(pipelines.len(), 2);
    assert_eq!(pipelines[0]["id"], "default");
    let stages: HashSet<String> = pipelines
        .iter()
        .flat_map(|pipeline| pipeline["stages"].as_array().expect("stages").iter())
        .map(|stage| stage["id"].as_str().expect("stage id").to_owned())
        .collect();
    assert!(stages.contains("closedwon"));
    assert_eq!(
        pipelines[0]["stages"][5]["metadata"],
        json!({"isClosed": "true", "probability": "1.0"})
    );
    for deal in sim.walk("/crm/v3/objects/deals?limit=100").await {
        assert!(stages.contains(deal["properties"]["dealstage"].as_str().expect("stage")));
    }
    let (status, _, stage_list) = sim.get("/crm/v3/pipelines/deals/default/stages").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stage_list["results"].as_array().map(Vec::len), Some(7));

    let with_company = sim
        .walk("/crm/v3/objects/contacts?limit=100&associations=companies")
        .await
        .into_iter()
        .find(|contact| contact.get("associations").is_some())
        .expect("some contact has a company");
    let contact_id = with_company["id"].as_str().expect("id");
    let company_id = with_company["associations"]["companies"]["results"][0]["id"]
        .as_str()
        .expect("company id");
    let (status, _, body) = sim
        .get(&format!(
            "/crm/v4/objects/contacts/{contact_id}/associations/companies"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["results"][0]["toObjectId"].to_string(), company_id);
    let types = body["results"][0]["associationTypes"]
        .as_array()
        .expect("types");
    assert!(types.contains(&json!({"category": "HUBSPOT_DEFINED", "typeId": 279, "label": null})));
}

#[tokio::test]
async fn seeded_data_holds_odd_values() {
    let sim = Sim::start(small()).await;
    let contacts = sim
        .walk("/crm/v3/objects/contacts?limit=100&properties=jobtitle")
        .await;
    let names: Vec<&str> = contacts
        .iter()
        .filter_map(|contact| contact["properties"]["firstname"].as_str())
        .collect();
    assert!(names.contains(&"Zoë") && names.contains(&"雷") && names.contains(&""));
    assert!(names.iter().any(|name| name.contains('🚀')));
    let notes = sim.walk("/crm/v3/objects/notes?limit=100").await;
    let longest = notes
        .iter()
        .filter_map(|note| note["properties"]["hs_note_body"].as_str())
        .map(|body| body.chars().count())
        .max();
    assert_eq!(longest, Some(50_000));
}

#[tokio::test]
async fn a_hundred_concurrent_pagers_each_see_every_record() {
    let sim = std::sync::Arc::new(Sim::start(small()).await);
    let expected = sim.handle.ids("contacts");
    let walkers: Vec<_> = (0..100)
        .map(|_| {
            let sim = sim.clone();
            tokio::spawn(
                async move { ids_of(&sim.walk("/crm/v3/objects/contacts?limit=100").await) },
            )
        })
        .collect();
    for walker in walkers {
        assert_eq!(walker.await.expect("walker finishes"), expected);
    }
    assert_eq!(
        sim.handle
            .requests()
            .total_matching("GET /crm/v3/objects/contacts"),
        300
    );
}

#[tokio::test]
async fn batch_read_returns_found_records_and_reports_missing_ones() {
    let sim = Sim::start(small()).await;
    let ids = sim.handle.ids("deals");
    let (status, body) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/deals/batch/read",
            json!({"inputs": [{"id": ids[0]}, {"id": ids[1]}], "properties": ["deal_currency_code"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "COMPLETE");
    assert_eq!(
        ids_of(body["results"].as_array().expect("results")),
        ids[..2]
    );
    assert!(body["results"][0]["properties"]["deal_currency_code"].is_string());

    let (status, body) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/deals/batch/read",
            json!({"inputs": [{"id": ids[2]}, {"id": "99999999"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(body["errors"][0]["context"]["ids"], json!(["99999999"]));
}

#[tokio::test]
async fn leads_are_seeded_with_contacts_and_need_one_on_create() {
    let sim = Sim::start(small()).await;
    let records = sim
        .walk("/crm/v3/objects/leads?limit=10&properties=hs_lead_name,hs_pipeline_stage&associations=contacts")
        .await;
    assert_eq!(ids_of(&records), sim.handle.ids("leads"));
    assert_eq!(records.len(), 25);
    for lead in &records {
        let contacts = lead["associations"]["contacts"]["results"]
            .as_array()
            .expect("every seeded lead has a contact");
        assert_eq!(contacts[0]["type"], "lead_to_contact", "{lead}");
        let contact_id = contacts[0]["id"].as_str().expect("contact id");
        let contact = sim.handle.record("contacts", contact_id).expect("contact");
        let expected: Vec<&str> = ["firstname", "lastname"]
            .iter()
            .filter_map(|key| contact["properties"][key].as_str())
            .filter(|part| !part.is_empty())
            .collect();
        assert_eq!(lead["properties"]["hs_lead_name"], expected.join(" "));
        assert!(
            lead["properties"]["hs_pipeline_stage"]
                .as_str()
                .is_some_and(|stage| stage.ends_with("-stage-id")),
            "{lead}"
        );
    }

    let (status, _, definitions) = sim.get("/crm/v3/properties/leads").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = definitions["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|definition| definition["name"].as_str())
        .collect();
    for name in [
        "hs_lead_name",
        "hs_lead_type",
        "hs_lead_label",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hubspot_owner_id",
        "hs_createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }

    let contact = sim.handle.ids("contacts")[5].clone();
    let (status, body) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/leads",
            json!({"properties": {"hs_lead_name": "Ada Lovelace"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["category"], "VALIDATION_ERROR");
    let association = json!([{"to": {"id": contact}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 578}]}]);
    let (status, body) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/leads",
            json!({"properties": {"hs_lead_type": "UPSELL"}, "associations": association}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a lead needs a name: {body}"
    );
    let (status, created) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/leads",
            json!({"properties": {"hs_lead_name": "Ada Lovelace", "hs_lead_label": "WARM"},
                "associations": association}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["properties"]["hs_lead_name"], "Ada Lovelace");
    let id = created["id"].as_str().expect("id").to_owned();
    let stored = sim.handle.record("leads", &id).expect("stored");
    assert_eq!(stored["properties"]["hs_pipeline_stage"], "new-stage-id");

    let (status, updated) = sim
        .send(
            reqwest::Method::PATCH,
            &format!("/crm/v3/objects/leads/{id}"),
            json!({"properties": {"hs_pipeline_stage": "qualified-stage-id"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        updated["properties"]["hs_pipeline_stage"],
        "qualified-stage-id"
    );
    let (status, found) = sim
        .search(
            "leads",
            json!({"filterGroups": [{"filters": [
                {"propertyName": "hs_pipeline_stage", "operator": "EQ", "value": "qualified-stage-id"},
                {"propertyName": "hs_object_id", "operator": "EQ", "value": id}]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["total"], 1);
    let (status, _, fetched) = sim
        .get(&format!("/crm/v3/objects/leads/{id}?associations=contacts"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        fetched["associations"]["contacts"]["results"][0]["id"],
        contact.as_str()
    );

    let (status, _) = sim
        .send(
            reqwest::Method::DELETE,
            &format!("/crm/v3/objects/leads/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = sim.get(&format!("/crm/v3/objects/leads/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn get_as(sim: &Sim, token: &str, path: &str) -> (StatusCode, Value) {
    let response = sim
        .client
        .get(sim.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request is sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn property_names(body: &Value) -> BTreeSet<String> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|definition| definition["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn each_portal_has_its_own_custom_properties_values_and_search() {
    let sim = Sim::start(HubSpotConfig {
        custom_properties: vec![hubspot::CustomProperty::new(
            "contacts",
            json!({"name": "golf_handicap", "label": "Golf handicap", "type": "number"}),
        )],
        portals: vec![hubspot::HubSpotPortal {
            access_tokens: vec!["second-portal-token".to_owned()],
            custom_properties: vec![hubspot::CustomProperty::new(
                "contacts",
                json!({"name": "shoe_size", "label": "Shoe size", "type": "string"}),
            )],
        }],
        ..small()
    })
    .await;
    let second = "second-portal-token";

    let (status, first_definitions) = get_as(&sim, TOKEN, "/crm/v3/properties/contacts").await;
    assert_eq!(status, StatusCode::OK);
    let (status, second_definitions) = get_as(&sim, second, "/crm/v3/properties/contacts").await;
    assert_eq!(status, StatusCode::OK);
    let first_names = property_names(&first_definitions);
    let second_names = property_names(&second_definitions);
    assert!(first_names.contains("golf_handicap") && !first_names.contains("shoe_size"));
    assert!(second_names.contains("shoe_size") && !second_names.contains("golf_handicap"));
    assert!(
        first_names.contains("loyalty_tier") && second_names.contains("loyalty_tier"),
        "both keep the seeded custom properties"
    );
    let (status, _) = get_as(&sim, second, "/crm/v3/properties/contacts/golf_handicap").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let path = "/crm/v3/objects/contacts?limit=5&properties=golf_handicap,shoe_size";
    let (_, first_page) = get_as(&sim, TOKEN, path).await;
    let (_, second_page) = get_as(&sim, second, path).await;
    for record in first_page["results"].as_array().expect("results") {
        let id: u64 = record["id"].as_str().expect("id").parse().expect("numeric");
        assert_eq!(
            record["properties"]["golf_handicap"],
            (id % 1000).to_string()
        );
        assert!(record["properties"].get("shoe_size").is_none(), "{record}");
    }
    for record in second_page["results"].as_array().expect("results") {
        let id = record["id"].as_str().expect("id");
        assert_eq!(record["properties"]["shoe_size"], format!("shoe_size-{id}"));
        assert!(
            record["properties"].get("golf_handicap").is_none(),
            "{record}"
        );
    }
    let contact = second_page["results"][0]["id"].as_str().expect("a contact");
    let (_, read) = get_as(
        &sim,
        second,
        &format!("/crm/v3/objects/contacts/{contact}?properties=shoe_size"),
    )
    .await;
    assert_eq!(
        read["properties"]["shoe_size"],
        format!("shoe_size-{contact}")
    );

    let response = sim
        .client
        .post(sim.url("/crm/v3/objects/contacts/search"))
        .bearer_auth(second)
        .json(&json!({"filterGroups": [{"filters": [
            {"propertyName": "shoe_size", "operator": "EQ", "value": format!("shoe_size-{contact}")}]}],
            "properties": ["shoe_size"]}))
        .send()
        .await
        .expect("search is sent");
    let found: Value = response.json().await.expect("json");
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["results"][0]["id"], contact);
    let (_, first_search) = sim
        .search(
            "contacts",
            json!({"filterGroups": [{"filters": [
                {"propertyName": "shoe_size", "operator": "HAS_PROPERTY"}]}]}),
        )
        .await;
    assert_eq!(
        first_search["total"], 0,
        "the primary portal has no shoe sizes"
    );

    let second_handle = sim.handle.portal(1);
    assert_eq!(
        second_handle
            .portal_requests()
            .iter()
            .filter(|request| request.target.starts_with("/crm/v3/properties/contacts"))
            .count(),
        2,
        "each portal logs its own requests"
    );
    assert_eq!(
        second_handle.record("contacts", contact).expect("stored")["properties"]["shoe_size"],
        format!("shoe_size-{contact}")
    );
}

#[tokio::test]
async fn over_long_urls_are_refused_with_414() {
    let sim = Sim::start(HubSpotConfig {
        max_url_bytes: 2_000,
        ..small()
    })
    .await;
    let names: Vec<String> = (0..100)
        .map(|idx| format!("custom_property_{idx:03}"))
        .collect();
    let path = format!(
        "/crm/v3/objects/contacts?limit=5&properties={}",
        names.join(",")
    );
    assert!(path.len() > 2_000);
    let (status, _, _) = sim.get(&path).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    let short = format!(
        "/crm/v3/objects/contacts?limit=5&properties={}",
        names[..50].join(",")
    );
    assert!(short.len() < 2_000);
    let (status, _, _) = sim.get(&short).await;
    assert_eq!(status, StatusCode::OK);
}

/// The v3 associations batch read answers what the objects' list shows under `associations`
/// (the same ids and type labels), and names records without associations in a 207's errors.
#[tokio::test]
async fn associations_batch_read_matches_the_list_and_names_records_without_any() {
    let sim = Sim::start(small()).await;
    let (status, _, listed) = sim
        .get("/crm/v3/objects/contacts?limit=100&associations=companies")
        .await;
    assert_eq!(status, StatusCode::OK);
    let records = listed["results"].as_array().expect("results");
    let linked = records
        .iter()
        .find(|record| record.get("associations").is_some())
        .expect("a contact with a company");
    let id = linked["id"].as_str().expect("id");
    let (status, answer) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/associations/contacts/companies/batch/read",
            json!({"inputs": [{"id": id}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "COMPLETE");
    assert_eq!(answer["results"][0]["from"]["id"], id);
    assert_eq!(
        answer["results"][0]["to"],
        linked["associations"]["companies"]["results"]
    );

    let (status, answer) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/associations/contacts/companies/batch/read",
            json!({"inputs": [{"id": id}, {"id": "999999999"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{answer}");
    assert_eq!(answer["results"].as_array().expect("results").len(), 1);
    assert_eq!(answer["numErrors"], 1);
    assert_eq!(
        answer["errors"][0]["context"]["fromObjectId"][0],
        "999999999"
    );

    let too_many: Vec<Value> = (0..101).map(|n| json!({"id": n.to_string()})).collect();
    let (status, _) = sim
        .send(
            reqwest::Method::POST,
            "/crm/v3/associations/contacts/companies/batch/read",
            json!({"inputs": too_many}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
