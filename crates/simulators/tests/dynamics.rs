//! Black-box tests of the Dynamics 365 (Dataverse Web API) simulator over HTTP: nextLink
//! paging (also under inserts and deletes), OData query options, option sets and formatted
//! values, etags, CRUD, metadata, auth, service protection limits, faults and determinism.

use std::collections::{BTreeSet, HashSet};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use simulators::dynamics::{DynamicsConfig, DynamicsHandle, spawn};
use simulators::{Fault, FaultKind, RunningSimulator};

const TOKEN: &str = "dynamics-sim-token";
const API: &str = "/api/data/v9.2";
const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";

struct Sim {
    running: RunningSimulator,
    handle: DynamicsHandle,
    client: reqwest::Client,
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn values(&self) -> Vec<Value> {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        self.body["value"].as_array().expect("value array").clone()
    }

    fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

fn small() -> DynamicsConfig {
    DynamicsConfig {
        accounts: 60,
        contacts: 400,
        leads: 50,
        opportunities: 80,
        tasks: 40,
        phonecalls: 30,
        appointments: 30,
        emails: 30,
        annotations: 40,
        systemusers: 6,
        ..DynamicsConfig::default()
    }
}

async fn start(config: DynamicsConfig) -> Sim {
    let (running, handle) = spawn(config, "127.0.0.1:0".parse().expect("loopback address"))
        .await
        .expect("simulator binds");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("http client");
    Sim {
        running,
        handle,
        client,
    }
}

impl Sim {
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{API}/{path}", self.running.base_url)
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request is answered");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body reads");
        let body = if text.is_empty() || text.starts_with('<') {
            Value::String(text)
        } else {
            serde_json::from_str(&text).expect("body is JSON")
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.url(path)).bearer_auth(TOKEN))
            .await
    }

    async fn get_with(&self, path: &str, prefer: &str) -> Answer {
        self.send(
            self.client
                .get(self.url(path))
                .bearer_auth(TOKEN)
                .header("Prefer", prefer),
        )
        .await
    }

    async fn write(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(TOKEN)
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// Follows `@odata.nextLink` from `path`, resending `prefer`; returns every record and
    /// each page's size.
    async fn walk(&self, path: &str, prefer: &str) -> (Vec<Value>, Vec<usize>) {
        let mut answer = self.get_with(path, prefer).await;
        let mut records = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let page = answer.values();
            sizes.push(page.len());
            records.extend(page);
            let Some(next) = answer.body["@odata.nextLink"].as_str() else {
                return (records, sizes);
            };
            assert!(next.starts_with(&self.running.base_url), "{next}");
            assert!(next.contains("$skiptoken="), "{next}");
            answer = self.get_with(next, prefer).await;
        }
    }
}

fn ids_of(records: &[Value], key: &str) -> Vec<String> {
    records
        .iter()
        .map(|record| record[key].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn next_links_walk_every_record_exactly_once() {
    let sim = start(small()).await;
    let first = sim
        .get_with("contacts?$select=fullname", "odata.maxpagesize=75")
        .await;
    assert_eq!(
        first.header("preference-applied"),
        Some("odata.maxpagesize=75")
    );
    assert_eq!(first.values().len(), 75);
    assert!(
        first.body["@odata.context"]
            .as_str()
            .is_some_and(|context| context.ends_with("/$metadata#contacts(fullname)"))
    );
    let (records, sizes) = sim
        .walk("contacts?$select=fullname", "odata.maxpagesize=75")
        .await;
    assert!(sizes.iter().all(|&size| size <= 75), "{sizes:?}");
    assert_eq!(sizes.len(), 400_usize.div_ceil(75));
    let ids = ids_of(&records, "contactid");
    assert_eq!(
        ids,
        sim.handle.ids("contacts"),
        "ascending GUIDs, each once"
    );
    for record in &records {
        let keys: BTreeSet<&str> = record
            .as_object()
            .expect("record")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["@odata.etag", "fullname", "contactid"])
        );
    }

    let (sorted, _) = sim
        .walk(
            "contacts?$select=lastname,firstname&$orderby=lastname desc,firstname",
            "odata.maxpagesize=33",
        )
        .await;
    let sorted_ids: HashSet<String> = ids_of(&sorted, "contactid").into_iter().collect();
    assert_eq!(sorted.len(), 400);
    assert_eq!(sorted_ids.len(), 400);
    for pair in sorted.windows(2) {
        let key = |record: &Value| record["lastname"].as_str().unwrap_or("").to_lowercase();
        assert!(key(&pair[0]) >= key(&pair[1]), "{pair:?}");
    }
}

#[tokio::test]
async fn paging_survives_inserts_and_deletes() {
    let sim = start(small()).await;
    let before: BTreeSet<String> = sim.handle.ids("contacts").into_iter().collect();
    sim.handle.faults().push(Fault {
        kind: FaultKind::Mutate {
            inserts: 15,
            deletes: 10,
        },
        path_prefix: Some(format!("{API}/contacts")),
        times: 6,
    });
    let (records, _) = sim
        .walk(
            "contacts?$select=fullname&$orderby=createdon desc",
            "odata.maxpagesize=50",
        )
        .await;
    let after: BTreeSet<String> = sim.handle.ids("contacts").into_iter().collect();
    assert_eq!(after.len(), 400 + 6 * 15 - 6 * 10, "all six mutations ran");
    let served = ids_of(&records, "contactid");
    let unique: BTreeSet<String> = served.iter().cloned().collect();
    assert_eq!(unique.len(), served.len(), "no record served twice");
    for id in before.intersection(&after) {
        assert!(
            unique.contains(id),
            "{id} existed throughout but was missed"
        );
    }
}

#[tokio::test]
async fn page_size_defaults_to_and_caps_at_5000() {
    let sim = start(DynamicsConfig {
        contacts: 5_100,
        ..small()
    })
    .await;
    let default = sim.get("contacts?$select=contactid").await;
    assert_eq!(default.values().len(), 5000);
    assert!(default.header("preference-applied").is_none());
    assert!(default.body["@odata.nextLink"].is_string());
    let too_big = sim
        .get_with("contacts?$select=contactid", "odata.maxpagesize=9000")
        .await;
    assert_eq!(too_big.values().len(), 5000);
    let counted = sim
        .get_with(
            "contacts?$select=contactid&$count=true",
            "odata.maxpagesize=10,odata.include-annotations=\"Microsoft.Dynamics.CRM.*\"",
        )
        .await;
    assert_eq!(counted.body["@odata.count"], json!(5000));
    assert_eq!(
        counted.body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"],
        json!(true)
    );
    let top = sim
        .get_with("contacts?$select=contactid&$top=12", "odata.maxpagesize=5")
        .await;
    assert_eq!(top.values().len(), 12, "$top is not combined with paging");
    assert!(top.body.get("@odata.nextLink").is_none());
}

/// Every contact as the handle shows it.
fn all_contacts(sim: &Sim) -> Vec<Value> {
    sim.handle
        .ids("contacts")
        .iter()
        .map(|id| sim.handle.record("contacts", id).expect("record"))
        .collect()
}

async fn filtered(sim: &Sim, filter: &str) -> BTreeSet<String> {
    let answer = sim
        .send(
            sim.client
                .get(sim.url("contacts"))
                .bearer_auth(TOKEN)
                .query(&[("$select", "contactid"), ("$filter", filter)]),
        )
        .await;
    ids_of(&answer.values(), "contactid").into_iter().collect()
}

/// Which records a filter should keep.
type Keep<'a> = Box<dyn Fn(&Value) -> bool + 'a>;

fn expected(contacts: &[Value], keep: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    contacts
        .iter()
        .filter(|record| keep(record))
        .map(|record| record["contactid"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn filter_operators_and_precedence() {
    let sim = start(small()).await;
    let contacts = all_contacts(&sim);
    let num = |record: &Value, key: &str| record[key].as_f64();
    let text = |record: &Value, key: &str| record[key].as_str().map(str::to_lowercase);

    let cases: Vec<(&str, Keep<'_>)> = vec![
        (
            "statecode eq 0 and leadsourcecode eq 8 or leadsourcecode eq 9",
            Box::new(|r| {
                (num(r, "statecode") == Some(0.0) && num(r, "leadsourcecode") == Some(8.0))
                    || num(r, "leadsourcecode") == Some(9.0)
            }),
        ),
        (
            "statecode eq 0 and (leadsourcecode eq 8 or leadsourcecode eq 9)",
            Box::new(|r| {
                num(r, "statecode") == Some(0.0)
                    && matches!(num(r, "leadsourcecode"), Some(8.0 | 9.0))
            }),
        ),
        (
            "not (statecode eq 0)",
            Box::new(|r| num(r, "statecode") != Some(0.0)),
        ),
        (
            "new_npsscore gt 5 and new_npsscore le 8.5",
            Box::new(|r| num(r, "new_npsscore").is_some_and(|n| n > 5.0 && n <= 8.5)),
        ),
        (
            "new_npsscore eq null",
            Box::new(|r| r["new_npsscore"].is_null()),
        ),
        (
            "new_loyaltytier ne 100000002",
            Box::new(|r| num(r, "new_loyaltytier") != Some(100_000_002.0)),
        ),
        (
            "lastname eq 'O''Brien'",
            Box::new(|r| text(r, "lastname").as_deref() == Some("o'brien")),
        ),
        (
            "contains(fullname,'an') and not startswith(lastname,'m')",
            Box::new(|r| {
                text(r, "fullname").is_some_and(|t| t.contains("an"))
                    && !text(r, "lastname").is_some_and(|t| t.starts_with('m'))
            }),
        ),
        (
            "endswith(emailaddress1,'.example.com') and jobtitle eq ''",
            Box::new(|r| {
                text(r, "emailaddress1").is_some_and(|t| t.ends_with(".example.com"))
                    && text(r, "jobtitle").as_deref() == Some("")
            }),
        ),
        (
            "createdon ge 2026-01-01T00:00:00Z and createdon lt 2026-06-01",
            Box::new(|r| {
                text(r, "createdon")
                    .is_some_and(|t| t.as_str() >= "2026-01-01t" && t.as_str() < "2026-06-01")
            }),
        ),
        (
            "Microsoft.Dynamics.CRM.In(PropertyName='leadsourcecode',PropertyValues=['1','2'])",
            Box::new(|r| matches!(num(r, "leadsourcecode"), Some(1.0 | 2.0))),
        ),
    ];
    for (filter, keep) in &cases {
        let want = expected(&contacts, keep);
        assert!(!want.is_empty(), "{filter} selects something in the seed");
        assert_eq!(filtered(&sim, filter).await, want, "{filter}");
    }

    let account = contacts
        .iter()
        .find_map(|r| r["_parentcustomerid_value"].as_str())
        .expect("a contact with a company")
        .to_owned();
    let by_account = filtered(
        &sim,
        &format!(
            "_parentcustomerid_value eq {}",
            account.to_ascii_uppercase()
        ),
    )
    .await;
    assert_eq!(
        by_account,
        expected(&contacts, |r| r["_parentcustomerid_value"].as_str()
            == Some(account.as_str()))
    );

    for (filter, message) in [
        (
            "nope eq 1",
            "Could not find a property named 'nope' on type 'Microsoft.Dynamics.CRM.contact'.",
        ),
        (
            "firstname eq",
            "Syntax error at position 12 in 'firstname eq'.",
        ),
    ] {
        let answer = sim
            .send(
                sim.client
                    .get(sim.url("contacts"))
                    .bearer_auth(TOKEN)
                    .query(&[("$filter", filter)]),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(answer.error_code(), "0x80060888");
        assert_eq!(answer.body["error"]["message"], json!(message));
    }
}

#[tokio::test]
async fn select_orderby_top_and_no_skip() {
    let sim = start(small()).await;
    let answer = sim
        .get(
            "contacts?$select=lastname,new_npsscore&$orderby=new_npsscore desc,lastname asc&$top=7",
        )
        .await;
    let records = answer.values();
    assert_eq!(records.len(), 7);
    assert!(answer.body.get("@odata.nextLink").is_none());
    let scores: Vec<f64> = records
        .iter()
        .map(|r| r["new_npsscore"].as_f64().expect("top scores are set"))
        .collect();
    assert!(
        scores.windows(2).all(|pair| pair[0] >= pair[1]),
        "{scores:?}"
    );
    assert_eq!(scores[0], 10.0);

    let ascending = sim
        .get("contacts?$select=new_npsscore&$orderby=new_npsscore&$top=3")
        .await;
    assert!(
        ascending.values()[0]["new_npsscore"].is_null(),
        "nulls sort first ascending"
    );

    let unknown = sim.get("contacts?$select=fullname,x").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.error_code(), "0x80060888");
    assert_eq!(
        unknown.body["error"]["message"],
        json!("Could not find a property named 'x' on type 'Microsoft.Dynamics.CRM.contact'.")
    );
    let skip = sim.get("contacts?$skip=10").await;
    assert_eq!(skip.status, StatusCode::BAD_REQUEST);
    assert_eq!(skip.error_code(), "0x80060888");
    let orderby = sim.get("contacts?$orderby=nothing").await;
    assert_eq!(orderby.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn option_sets_lookups_and_formatted_values() {
    let sim = start(small()).await;
    let path = "contacts?$select=statecode,new_loyaltytier,_parentcustomerid_value,createdon&$filter=_parentcustomerid_value ne null and new_loyaltytier ne null&$top=20";
    let plain = sim.get(path).await;
    for record in plain.values() {
        assert!(record.get(format!("statecode@{FORMATTED}")).is_none());
    }
    let prefer = format!("odata.include-annotations=\"{FORMATTED}\"");
    let annotated = sim.get_with(path, &prefer).await;
    assert_eq!(
        annotated.header("preference-applied"),
        Some(prefer.as_str())
    );
    let records = annotated.values();
    assert_eq!(records.len(), 20);
    for record in &records {
        let state = record["statecode"].as_i64().expect("statecode");
        assert_eq!(
            record[format!("statecode@{FORMATTED}")],
            json!(if state == 0 { "Active" } else { "Inactive" })
        );
        let tier = match record["new_loyaltytier"].as_i64().expect("tier") {
            100_000_000 => "Bronze",
            100_000_001 => "Silver",
            100_000_002 => "Gold",
            other => panic!("unexpected tier {other}"),
        };
        assert_eq!(record[format!("new_loyaltytier@{FORMATTED}")], json!(tier));
        let account_id = record["_parentcustomerid_value"].as_str().expect("lookup");
        let account = sim.handle.record("accounts", account_id).expect("account");
        assert_eq!(
            record[format!("_parentcustomerid_value@{FORMATTED}")],
            account["name"]
        );
        assert!(
            record
                .get("_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname")
                .is_none()
        );
    }
    let everything = sim.get_with(path, "odata.include-annotations=\"*\"").await;
    let record = &everything.values()[0];
    assert_eq!(
        record["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        json!("account")
    );
    assert_eq!(
        record["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
        json!("parentcustomerid_account")
    );
    assert!(record[format!("createdon@{FORMATTED}")].is_string());

    let calls = sim
        .get_with(
            "phonecalls?$select=directioncode&$top=30",
            &format!("odata.include-annotations=\"{FORMATTED}\""),
        )
        .await;
    for record in calls.values() {
        let label = if record["directioncode"] == json!(true) {
            "Outgoing"
        } else {
            "Incoming"
        };
        assert_eq!(record[format!("directioncode@{FORMATTED}")], json!(label));
    }
}

#[tokio::test]
async fn crud_statuses_headers_and_etags() {
    let sim = start(small()).await;
    let account_id = sim.handle.ids("accounts")[3].clone();
    let created = sim
        .write(
            reqwest::Method::POST,
            "contacts",
            json!({
                "firstname": "Zoë",
                "lastname": "O'Neil",
                "emailaddress1": "zoe@example.com",
                "new_loyaltytier": 100000001,
                "parentcustomerid_account@odata.bind": format!("/accounts({account_id})"),
            }),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::NO_CONTENT, "{}", created.body);
    let entity_id = created.header("odata-entityid").expect("OData-EntityId");
    let id = entity_id
        .rsplit_once("contacts(")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .expect("url ends with (guid)")
        .to_owned();
    assert!(entity_id.starts_with(&format!("{}{API}/contacts(", sim.running.base_url)));

    let fetched = sim.get(&format!("contacts({id})")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body["fullname"], json!("Zoë O'Neil"));
    assert_eq!(fetched.body["_parentcustomerid_value"], json!(account_id));
    assert_eq!(fetched.body["statecode"], json!(0));
    assert!(
        fetched.body["@odata.context"]
            .as_str()
            .is_some_and(|context| context.ends_with("$metadata#contacts/$entity"))
    );
    let etag = fetched.body["@odata.etag"]
        .as_str()
        .expect("etag")
        .to_owned();
    assert!(etag.starts_with("W/\""));

    let updated = sim
        .write(
            reqwest::Method::PATCH,
            &format!("contacts({id})"),
            json!({ "jobtitle": "CFO" }),
            &[("If-Match", etag.as_str())],
        )
        .await;
    assert_eq!(updated.status, StatusCode::NO_CONTENT, "{}", updated.body);
    let after = sim.handle.record("contacts", &id).expect("record");
    assert_eq!(after["jobtitle"], json!("CFO"));
    assert_ne!(after["@odata.etag"], json!(etag), "etag changes on update");

    let stale = sim
        .write(
            reqwest::Method::PATCH,
            &format!("contacts({id})"),
            json!({ "jobtitle": "CEO" }),
            &[("If-Match", etag.as_str())],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.error_code(), "0x80060882");

    let represented = sim
        .write(
            reqwest::Method::POST,
            "contacts?$select=fullname,leadsourcecode",
            json!({ "lastname": "Solo", "leadsourcecode": 8 }),
            &[("Prefer", "return=representation")],
        )
        .await;
    assert_eq!(represented.status, StatusCode::CREATED);
    assert_eq!(represented.body["fullname"], json!("Solo"));
    assert_eq!(represented.body["leadsourcecode"], json!(8));
    assert_eq!(
        represented.header("preference-applied"),
        Some("return=representation")
    );

    let bad_option = sim
        .write(
            reqwest::Method::POST,
            "contacts",
            json!({ "lastname": "X", "new_loyaltytier": 7 }),
            &[],
        )
        .await;
    assert_eq!(bad_option.status, StatusCode::BAD_REQUEST);
    let bad_property = sim
        .write(reqwest::Method::POST, "contacts", json!({ "nope": 1 }), &[])
        .await;
    assert_eq!(bad_property.status, StatusCode::BAD_REQUEST);
    let missing_target = sim
        .write(
            reqwest::Method::POST,
            "contacts",
            json!({ "lastname": "X", "parentcustomerid_account@odata.bind": "/accounts(00000000-0000-0000-0000-000000000001)" }),
            &[],
        )
        .await;
    assert_eq!(missing_target.status, StatusCode::NOT_FOUND);

    let deleted = sim
        .send(
            sim.client
                .delete(sim.url(&format!("contacts({id})")))
                .bearer_auth(TOKEN),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = sim.get(&format!("contacts({id})")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "0x80040217");
    assert_eq!(
        gone.body["error"]["message"],
        json!(format!("contact With Id = {id} Does Not Exist"))
    );
    assert!(sim.handle.record("contacts", &id).is_none());
}

#[tokio::test]
async fn entity_definitions_list_custom_attributes() {
    let sim = start(small()).await;
    sim.handle
        .add_custom_attribute("contact", "new_favouritecolour", "String");
    let answer = sim
        .get("EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName,AttributeType,IsCustomAttribute,DisplayName,RequiredLevel,IsValidForUpdate,IsValidForCreate")
        .await;
    let attributes = answer.values();
    let find = |name: &str| {
        attributes
            .iter()
            .find(|a| a["LogicalName"] == json!(name))
            .unwrap_or_else(|| panic!("{name} listed"))
            .clone()
    };
    let custom: BTreeSet<&str> = attributes
        .iter()
        .filter(|a| a["IsCustomAttribute"] == json!(true))
        .map(|a| a["LogicalName"].as_str().expect("name"))
        .collect();
    assert_eq!(
        custom,
        BTreeSet::from(["new_favouritecolour", "new_loyaltytier", "new_npsscore"])
    );
    assert_eq!(find("new_loyaltytier")["AttributeType"], json!("Picklist"));
    assert_eq!(find("new_npsscore")["AttributeType"], json!("Decimal"));
    assert_eq!(find("parentcustomerid")["AttributeType"], json!("Customer"));
    assert_eq!(
        find("firstname")["DisplayName"]["UserLocalizedLabel"]["Label"],
        json!("First Name")
    );
    assert_eq!(
        find("lastname")["RequiredLevel"]["Value"],
        json!("ApplicationRequired")
    );
    assert_eq!(find("fullname")["IsValidForCreate"], json!(false));
    assert!(
        find("firstname").get("SchemaName").is_none(),
        "$select applies"
    );

    let picklists = sim
        .get("EntityDefinitions(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)")
        .await;
    let tier = picklists
        .values()
        .into_iter()
        .find(|a| a["LogicalName"] == json!("new_loyaltytier"))
        .expect("tier picklist");
    let options: Vec<(i64, String)> = tier["OptionSet"]["Options"]
        .as_array()
        .expect("options")
        .iter()
        .map(|o| {
            (
                o["Value"].as_i64().expect("value"),
                o["Label"]["UserLocalizedLabel"]["Label"]
                    .as_str()
                    .expect("label")
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        options,
        vec![
            (100_000_000, "Bronze".to_owned()),
            (100_000_001, "Silver".to_owned()),
            (100_000_002, "Gold".to_owned())
        ]
    );

    let filtered = sim
        .get("EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName&$filter=IsCustomAttribute eq true")
        .await;
    assert_eq!(
        ids_of(&filtered.values(), "LogicalName"),
        vec!["new_segment"]
    );

    let id = sim.handle.ids("contacts")[0].clone();
    let set = sim
        .write(
            reqwest::Method::PATCH,
            &format!("contacts({id})"),
            json!({ "new_favouritecolour": "vert" }),
            &[("If-Match", "*")],
        )
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.body);
    let read = sim
        .get(&format!("contacts({id})?$select=new_favouritecolour"))
        .await;
    assert_eq!(read.body["new_favouritecolour"], json!("vert"));

    let csdl = sim.get("$metadata").await;
    let xml = csdl.body.as_str().expect("xml");
    assert!(
        xml.contains(
            "<EntitySet Name=\"contacts\" EntityType=\"Microsoft.Dynamics.CRM.contact\"/>"
        )
    );
    assert!(xml.contains("<Property Name=\"new_favouritecolour\" Type=\"Edm.String\"/>"));

    let unknown = sim
        .get("EntityDefinitions(LogicalName='contact')/Attributes?$select=Nope")
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
}

/// An integer column holds an Int32 within its own `MinValue` and `MaxValue` (the account's
/// `numberofemployees`: 0 to 1,000,000,000): its metadata says so, a value outside is refused
/// as out of range (0x80044331), and one past Int32 as not an `Edm.Int32` (0x80048d19).
#[tokio::test]
async fn integer_columns_keep_their_range() {
    let sim = start(small()).await;
    let employees = sim
        .get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='numberofemployees')")
        .await;
    assert_eq!(employees.status, StatusCode::OK, "{}", employees.body);
    assert_eq!(employees.body["MinValue"], json!(0), "{}", employees.body);
    assert_eq!(
        employees.body["MaxValue"],
        json!(1_000_000_000),
        "{}",
        employees.body
    );
    let id = sim.handle.ids("accounts")[0].clone();
    for (value, code) in [
        (json!(1_000_000_001), "0x80044331"),
        (json!(-1), "0x80044331"),
        (json!(3_000_000_000_i64), "0x80048d19"),
    ] {
        let answer = sim
            .write(
                reqwest::Method::PATCH,
                &format!("accounts({id})"),
                json!({ "numberofemployees": value }),
                &[("If-Match", "*")],
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{value}: {}",
            answer.body
        );
        assert_eq!(
            answer.body["error"]["code"], code,
            "{value}: {}",
            answer.body
        );
    }
    let fits = sim
        .write(
            reqwest::Method::PATCH,
            &format!("accounts({id})"),
            json!({ "numberofemployees": 1_000_000_000 }),
            &[("If-Match", "*")],
        )
        .await;
    assert_eq!(fits.status, StatusCode::NO_CONTENT, "{}", fits.body);
}

#[tokio::test]
async fn missing_or_unknown_tokens_get_401() {
    let sim = start(small()).await;
    for request in [
        sim.client.get(sim.url("contacts")),
        sim.client.get(sim.url("contacts")).bearer_auth("wrong"),
    ] {
        let answer = sim.send(request).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(answer.header("www-authenticate").is_some_and(|value| {
            value.starts_with("Bearer authorization_uri=https://login.microsoftonline.com/")
        }));
        assert!(answer.error_code().starts_with("0x"));
    }
}

#[tokio::test]
async fn service_protection_limit_is_exact() {
    let sim = start(DynamicsConfig {
        requests_per_5min: 5,
        ..small()
    })
    .await;
    for attempt in 0..5 {
        let answer = sim.get("accounts?$top=1").await;
        assert_eq!(answer.status, StatusCode::OK, "request {attempt}");
        assert_eq!(
            answer.header("x-ms-ratelimit-burst-remaining-xrm-requests"),
            Some((4 - attempt).to_string().as_str())
        );
    }
    let refused = sim.get("accounts?$top=1").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.error_code(), "0x80072322");
    assert_eq!(
        refused.body["error"]["message"],
        json!("Number of requests exceeded the limit of 5 over time window of 300 seconds.")
    );
    let unauthenticated = sim.send(sim.client.get(sim.url("accounts"))).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn throttle_and_status_faults() {
    let sim = start(small()).await;
    sim.handle.faults().push(Fault {
        kind: FaultKind::Throttle {
            retry_after_secs: Some(7),
        },
        path_prefix: Some(format!("{API}/leads")),
        times: 1,
    });
    let throttled = sim.get("leads").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.header("retry-after"), Some("7"));
    assert_eq!(throttled.error_code(), "0x80072322");
    assert_eq!(sim.get("leads?$top=1").await.status, StatusCode::OK);
    assert_eq!(
        sim.handle
            .requests()
            .total_matching(&format!("GET {API}/leads")),
        2
    );
}

#[tokio::test]
async fn seeding_is_deterministic() {
    let first = start(small()).await;
    let second = start(small()).await;
    let other = start(DynamicsConfig {
        seed: 99,
        ..small()
    })
    .await;
    for set in [
        "contacts",
        "accounts",
        "leads",
        "opportunities",
        "tasks",
        "phonecalls",
        "appointments",
        "emails",
        "annotations",
        "systemusers",
    ] {
        let ids = first.handle.ids(set);
        assert!(!ids.is_empty(), "{set} seeded");
        assert_eq!(ids, second.handle.ids(set), "{set}");
        assert_ne!(ids, other.handle.ids(set), "{set}");
        let id = &ids[ids.len() / 2];
        assert_eq!(first.handle.record(set, id), second.handle.record(set, id));
    }
    let page_one = first.get("opportunities?$top=5").await.body;
    let page_two = second.get("opportunities?$top=5").await.body;
    let strip = |body: &Value| body["value"].clone();
    assert_eq!(strip(&page_one), strip(&page_two));
}
