//! `spawn_app`: the demo wiring (simulators, SQLite store, demo environment and connections) on
//! port 0 in a fresh directory, plus typed helpers to call the API.

use std::collections::BTreeSet;

use cli::demo::{self, Demo, DemoArgs, SimulatorConfigs, SimulatorHandle};
use reqwest::StatusCode;
use serde_json::Value;
use simulators::{dynamics, hubspot, pipedrive, salesforce};

pub struct TestApp {
    pub demo: Demo,
    pub base: String,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
}

/// Simulator settings for tests: the real shapes and sizes, with rate limits lifted (limits
/// are exercised by their own tests).
pub fn simulator_configs() -> SimulatorConfigs {
    SimulatorConfigs {
        hubspot: hubspot::HubSpotConfig {
            rate_limit_per_interval: 1_000_000,
            search_per_second: 1_000_000,
            daily_limit: None,
            ..hubspot::HubSpotConfig::default()
        },
        salesforce: salesforce::SalesforceConfig {
            daily_api_limit: 10_000_000,
            ..salesforce::SalesforceConfig::default()
        },
        pipedrive: pipedrive::PipedriveConfig {
            rate_limit_per_2s: 1_000_000,
            ..pipedrive::PipedriveConfig::default()
        },
        dynamics: dynamics::DynamicsConfig {
            requests_per_5min: 1_000_000,
            ..dynamics::DynamicsConfig::default()
        },
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(simulator_configs()).await
}

pub async fn spawn_app_with(configs: SimulatorConfigs) -> TestApp {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("CROSSWALK_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    let data_dir = tempfile::tempdir().expect("a temp dir");
    let args = DemoArgs {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        data_dir: data_dir.path().to_path_buf(),
        api_key: None,
    };
    let demo = demo::start_with(&args, configs)
        .await
        .expect("the demo starts");
    TestApp {
        base: format!("http://{}", demo.api_addr),
        demo,
        client: reqwest::Client::new(),
        data_dir,
    }
}

/// Every simulated vendor the cross-vendor tests run against.
pub const PROVIDERS: &[&str] = &["hubspot", "salesforce", "pipedrive", "dynamics365"];

/// What the cross-vendor tests need to know of each simulated vendor, kept here so the tests
/// themselves are the same code for every vendor.
pub struct VendorFacts {
    /// Path prefix of the vendor calls a contact listing makes (for mid-walk mutations).
    pub contacts_list_prefix: &'static str,
    /// A contact id the vendor has never issued.
    pub missing_contact_id: &'static str,
    /// A custom field seeded on contacts.
    pub contact_custom_field: &'static str,
    /// Largest page the tests ask for.
    pub page_size: u64,
    /// Unified fields (`object.field`) the vendor has no place for.
    pub unsupported: &'static [&'static str],
}

pub fn facts(provider: &str) -> VendorFacts {
    match provider {
        "hubspot" => VendorFacts {
            contacts_list_prefix: "/crm/v3/objects/contacts",
            missing_contact_id: "999999999",
            contact_custom_field: "loyalty_tier",
            page_size: 100,
            unsupported: &["notes.title"],
        },
        "salesforce" => VendorFacts {
            contacts_list_prefix: "/services/data/v59.0/query",
            missing_contact_id: "003000000000000AAA",
            contact_custom_field: "Loyalty_Tier__c",
            page_size: 1000,
            unsupported: &[],
        },
        "pipedrive" => VendorFacts {
            contacts_list_prefix: "/api/v2/persons",
            missing_contact_id: "987654321",
            contact_custom_field: "annual_spend",
            page_size: 500,
            // Activity priorities are company-defined ids; activities have no direction; a
            // lead is only open or archived.
            unsupported: &[
                "notes.title",
                "tasks.priority",
                "engagements.direction",
                "leads.status",
            ],
        },
        "dynamics365" => VendorFacts {
            contacts_list_prefix: "/api/data/v9.2/contacts",
            missing_contact_id: "00000000-0000-0000-0000-0000000000ff",
            contact_custom_field: "new_loyaltytier",
            page_size: 1000,
            unsupported: &[],
        },
        other => panic!("no test facts for `{other}`"),
    }
}

impl TestApp {
    pub fn connection(&self, provider: &str) -> String {
        self.demo.vendor(provider).connection_id.clone()
    }

    /// Connects one more HubSpot account with a private app token; returns its connection id.
    pub async fn connect_hubspot(&self, token: &str) -> String {
        let (status, created) = self
            .call(
                reqwest::Method::POST,
                "/connections",
                Some(serde_json::json!({"provider": "hubspot", "auth_scheme": "private_app", "fields": {"private_app_token": token}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_str().expect("id").to_owned()
    }

    pub fn simulator(&self, provider: &str) -> &SimulatorHandle {
        &self.demo.vendor(provider).handle
    }

    /// Ids of the contacts the vendor holds now (not deleted).
    pub fn contact_ids(&self, provider: &str) -> BTreeSet<String> {
        match self.simulator(provider) {
            SimulatorHandle::HubSpot(handle) => handle.ids("contacts"),
            SimulatorHandle::Salesforce(handle) => handle.ids("Contact"),
            SimulatorHandle::Pipedrive(handle) => handle.ids("persons"),
            SimulatorHandle::Dynamics(handle) => handle.ids("contacts"),
        }
        .into_iter()
        .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(&self.demo.api_key, method, path, body).await
    }

    pub async fn call_as(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Walks a unified list to its end, returning every record.
    pub async fn walk(
        &self,
        provider: &str,
        object: &str,
        filters: &str,
        page_size: u64,
    ) -> Vec<Value> {
        let connection = self.connection(provider);
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut path = format!(
                "/unified/crm/{object}?connection_id={connection}&page_size={page_size}{filters}"
            );
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let (status, body) = self.get(&path).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "listing {object} on {provider}: {body}"
            );
            assert!(
                body.get("errors").is_none(),
                "records failed to map: {body}"
            );
            records.extend(body["results"].as_array().expect("results").iter().cloned());
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return records,
            }
        }
        panic!("listing {object} on {provider} never ended");
    }
}

/// The remote ids of records, asserting none appears twice.
pub fn unique_ids(records: &[Value]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for record in records {
        let id = record["remote_id"].as_str().expect("remote_id").to_owned();
        assert!(ids.insert(id.clone()), "record `{id}` was returned twice");
    }
    ids
}
