//! The registry of simulators: one line per vendor, and what every caller needs of an entry.
//!
//! A vendor's simulator implements [`Simulator`] in its module (how to configure it for the demo
//! or for tests, how to build its router, where its faults and request log are) and is listed
//! once in [`REGISTRY`]. What connecting to it takes (the demo connection) and what the
//! cross-vendor test suite may expect of it are data beside its connector,
//! `connectors/<vendor>/simulator.yaml`, read into a [`Wiring`]. The demo, the test helpers,
//! the browser test and the cross-vendor suite iterate the registry, so adding a vendor touches
//! its connector folder, its simulator module and its registry line, nothing else.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    Faults, RequestLog, RunningSimulator, bamboohr, close, dynamics, hibob, hubspot, personio,
    pipedrive, salesforce, zoho,
};

/// Every simulated vendor, in the order the demo connects them.
pub const REGISTRY: &[Entry] = &[
    Entry::of::<hubspot::HubSpot>(),
    Entry::of::<salesforce::Salesforce>(),
    Entry::of::<pipedrive::Pipedrive>(),
    Entry::of::<dynamics::Dynamics>(),
    Entry::of::<zoho::Zoho>(),
    Entry::of::<close::Close>(),
    Entry::of::<bamboohr::BambooHr>(),
    Entry::of::<hibob::HiBob>(),
    Entry::of::<personio::Personio>(),
];

/// How big a simulator starts and whether its limits hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Vendor-sized data (tens of thousands of records) under the vendor's own rate limits: what
    /// `crosswalk demo` shows.
    Demo,
    /// Data enough for several pages of every object, seeded in a few milliseconds, with rate
    /// limits lifted (limits are exercised by tests of their own, which tweak them back).
    Test,
}

/// A vendor simulator as the registry knows it.
pub trait Simulator: 'static {
    /// The connector the simulator stands for (the folder name under `connectors/`).
    const CONNECTOR: &'static str;
    /// The text of `connectors/<vendor>/simulator.yaml` (see [`Wiring`]).
    const WIRING: &'static str;
    /// Its settings.
    type Config: Send + 'static;
    /// Test and demo access to its state while it runs.
    type Handle: Clone + Send + Sync + 'static;

    /// The settings of a profile.
    fn config(profile: Profile) -> Self::Config;
    /// The credential the demo connection presents (`{token}` in the wiring).
    fn token(config: &Self::Config) -> String;
    /// Builds the router over freshly seeded data.
    fn router(config: Self::Config) -> (Router, Self::Handle);
    /// The fault queue the simulator obeys.
    fn faults(handle: &Self::Handle) -> &Faults;
    /// The requests the simulator served.
    fn requests(handle: &Self::Handle) -> &RequestLog;
    /// Ids of the live records of a vendor object (`contacts`, `Contact`, `persons`, …).
    fn ids(handle: &Self::Handle, object: &str) -> Vec<String>;
    /// Terminates an employee as HR would in the vendor's app (HRIS vendors); `false` when
    /// there is no such employee or the vendor has no employees.
    fn terminate(_handle: &Self::Handle, _id: &str) -> bool {
        false
    }
    /// Deletes a record of a vendor object as a user would in the vendor's app; `false` when
    /// there is no such record or the simulator offers no such delete.
    fn delete(_handle: &Self::Handle, _object: &str, _id: &str) -> bool {
        false
    }
}

/// One registered simulator, erased to what the demo and the tests call.
#[derive(Clone, Copy)]
pub struct Entry {
    connector: &'static str,
    wiring: &'static str,
    build: fn(Profile, &Tweaks) -> Built,
}

impl fmt::Debug for Entry {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Entry")
            .field("connector", &self.connector)
            .finish_non_exhaustive()
    }
}

impl Entry {
    /// The registry line of simulator `S`.
    pub const fn of<S: Simulator>() -> Entry {
        Entry {
            connector: S::CONNECTOR,
            wiring: S::WIRING,
            build: build::<S>,
        }
    }

    /// The connector id (`hubspot`).
    pub fn connector(&self) -> &'static str {
        self.connector
    }

    /// The demo connection and the suite's facts of this vendor.
    ///
    /// # Errors
    /// Fails when `simulator.yaml` does not parse, naming the field.
    pub fn wiring(&self) -> Result<Wiring, WiringError> {
        let deserializer = serde_yaml_ng::Deserializer::from_str(self.wiring);
        serde_path_to_error::deserialize(deserializer).map_err(|error| WiringError {
            connector: self.connector,
            path: error.path().to_string(),
            message: error.into_inner().to_string(),
        })
    }

    /// Seeds the simulator for `profile`, `tweaks` applied, and serves it on loopback port 0.
    ///
    /// # Errors
    /// Fails when no loopback port can be bound.
    pub async fn start(&self, profile: Profile, tweaks: &Tweaks) -> std::io::Result<Started> {
        let built = (self.build)(profile, tweaks);
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let simulator = crate::serve(loopback, built.router).await?;
        Ok(Started {
            connector: self.connector,
            simulator,
            token: built.token,
            control: built.control,
        })
    }
}

/// A `simulator.yaml` that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("`connectors/{connector}/simulator.yaml` at `{path}`: {message}")]
pub struct WiringError {
    connector: &'static str,
    path: String,
    message: String,
}

/// What a router was built with, before it serves.
struct Built {
    router: Router,
    token: String,
    control: Arc<dyn Control>,
}

fn build<S: Simulator>(profile: Profile, tweaks: &Tweaks) -> Built {
    let mut config = S::config(profile);
    tweaks.apply(S::CONNECTOR, &mut config);
    let token = S::token(&config);
    let (router, handle) = S::router(config);
    Built {
        router,
        token,
        control: Arc::new(Typed::<S> {
            handle,
            simulator: PhantomData,
        }),
    }
}

/// What every simulator offers, whatever its vendor.
trait Control: Send + Sync {
    fn faults(&self) -> &Faults;
    fn requests(&self) -> &RequestLog;
    fn ids(&self, object: &str) -> Vec<String>;
    fn terminate(&self, id: &str) -> bool;
    fn delete(&self, object: &str, id: &str) -> bool;
    fn handle(&self) -> &dyn Any;
}

struct Typed<S: Simulator> {
    handle: S::Handle,
    simulator: PhantomData<fn() -> S>,
}

impl<S: Simulator> Control for Typed<S> {
    fn faults(&self) -> &Faults {
        S::faults(&self.handle)
    }

    fn requests(&self) -> &RequestLog {
        S::requests(&self.handle)
    }

    fn ids(&self, object: &str) -> Vec<String> {
        S::ids(&self.handle, object)
    }

    fn terminate(&self, id: &str) -> bool {
        S::terminate(&self.handle, id)
    }

    fn delete(&self, object: &str, id: &str) -> bool {
        S::delete(&self.handle, object, id)
    }

    fn handle(&self) -> &dyn Any {
        &self.handle
    }
}

/// A simulator serving on loopback, with its controls.
pub struct Started {
    /// The connector id (`hubspot`).
    pub connector: &'static str,
    pub simulator: RunningSimulator,
    /// The credential it accepts, for the demo connection.
    pub token: String,
    control: Arc<dyn Control>,
}

impl fmt::Debug for Started {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Started")
            .field("connector", &self.connector)
            .field("simulator", &self.simulator)
            .finish_non_exhaustive()
    }
}

impl Started {
    /// The fault queue the simulator obeys.
    pub fn faults(&self) -> &Faults {
        self.control.faults()
    }

    /// The requests the simulator served.
    pub fn requests(&self) -> &RequestLog {
        self.control.requests()
    }

    /// Ids of the live records of a vendor object (its own name: `Contact`, `persons`, …).
    pub fn ids(&self, object: &str) -> Vec<String> {
        self.control.ids(object)
    }

    /// Terminates an employee at the vendor, as HR would in its app (HRIS vendors).
    pub fn terminate(&self, id: &str) -> bool {
        self.control.terminate(id)
    }

    /// Deletes a record of a vendor object (its own name) at the vendor, as a user would.
    pub fn delete(&self, object: &str, id: &str) -> bool {
        self.control.delete(object, id)
    }

    /// The vendor's own handle, when this is simulator `S` (tests reach vendor controls so).
    pub fn handle<S: Simulator>(&self) -> Option<&S::Handle> {
        self.control.handle().downcast_ref::<S::Handle>()
    }
}

type Tweak = Arc<dyn Fn(&mut dyn Any) + Send + Sync>;

/// Changes to simulators' settings beyond their profile, by simulator (tests tighten a rate
/// limit or add a portal this way).
#[derive(Clone, Default)]
pub struct Tweaks(Vec<(&'static str, Tweak)>);

impl fmt::Debug for Tweaks {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_list()
            .entries(self.0.iter().map(|(connector, _)| connector))
            .finish()
    }
}

impl Tweaks {
    /// Adds a change to simulator `S`'s settings, applied after its profile's.
    #[must_use]
    pub fn with<S: Simulator>(
        mut self,
        tweak: impl Fn(&mut S::Config) + Send + Sync + 'static,
    ) -> Tweaks {
        self.0.push((
            S::CONNECTOR,
            Arc::new(move |config: &mut dyn Any| {
                if let Some(config) = config.downcast_mut::<S::Config>() {
                    tweak(config);
                }
            }),
        ));
        self
    }

    fn apply(&self, connector: &str, config: &mut dyn Any) {
        for (target, tweak) in &self.0 {
            if *target == connector {
                tweak(config);
            }
        }
    }
}

/// `connectors/<vendor>/simulator.yaml`: how the demo connects to the vendor's simulator, and
/// what the cross-vendor test suite may expect of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wiring {
    pub demo: DemoConnection,
    /// The cross-vendor CRM suite's facts; absent for a vendor of another category, which
    /// that suite leaves out.
    #[serde(default)]
    pub suite: Option<SuiteFacts>,
    /// The cross-vendor suite's HRIS facts; absent for a vendor of another category.
    #[serde(default)]
    pub hris_suite: Option<HrisSuiteFacts>,
}

/// The demo's connection to a simulator. In every string, `{url}` stands for the simulator's
/// base URL, `{origin}` for its scheme, host and port (`http://127.0.0.1:41234`, what
/// `http.allowed_hosts` takes) and `{token}` for the credential it accepts.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConnection {
    /// The connector's auth scheme the connection uses.
    pub auth_scheme: String,
    /// Non-secret connection fields.
    #[serde(default)]
    pub account: Map<String, Value>,
    /// Secret connection fields.
    #[serde(default)]
    pub secrets: Map<String, Value>,
    /// Operator override pointing the connector at the simulator (`connector_overrides`).
    #[serde(default)]
    pub connector_override: Value,
}

impl fmt::Debug for DemoConnection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets show by name only, even simulator ones.
        formatter
            .debug_struct("DemoConnection")
            .field("auth_scheme", &self.auth_scheme)
            .field("account", &self.account)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("connector_override", &self.connector_override)
            .finish()
    }
}

impl DemoConnection {
    /// The connection with `{url}`, `{origin}` and `{token}` replaced in every string.
    #[must_use]
    pub fn resolve(&self, url: &str, token: &str) -> DemoConnection {
        let fill = |value: &Value| substitute(value, url, token);
        DemoConnection {
            auth_scheme: self.auth_scheme.clone(),
            account: self
                .account
                .iter()
                .map(|(k, v)| (k.clone(), fill(v)))
                .collect(),
            secrets: self
                .secrets
                .iter()
                .map(|(k, v)| (k.clone(), fill(v)))
                .collect(),
            connector_override: fill(&self.connector_override),
        }
    }
}

/// `value` with `{url}`, `{origin}` and `{token}` replaced in every string, as in a wiring.
pub fn substitute(value: &Value, url: &str, token: &str) -> Value {
    match value {
        Value::String(text) => {
            let origin = url.split_once("://").map_or(url, |(scheme, rest)| {
                let authority = rest.find('/').map_or(rest, |end| &rest[..end]);
                &url[..scheme.len() + 3 + authority.len()]
            });
            Value::String(
                text.replace("{url}", url)
                    .replace("{origin}", origin)
                    .replace("{token}", token),
            )
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute(v, url, token)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, url, token)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What the cross-vendor suite needs to know of a vendor, so that its checks are the same code
/// for every vendor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFacts {
    /// The vendor's object behind unified contacts, as the simulator's `ids` names it.
    pub contacts_object: String,
    /// Path prefix of the vendor calls a contact listing makes (for mid-walk mutations).
    pub contacts_list_prefix: String,
    /// A contact id the vendor has never issued.
    pub missing_contact_id: String,
    /// A custom field seeded on contacts.
    pub contact_custom_field: String,
    /// Largest page the checks ask for.
    pub page_size: u64,
    /// Unified fields (`object.field`) the vendor has no place for.
    #[serde(default)]
    pub unsupported: Vec<String>,
    /// Whether a lead carries the person (last name, company) as in Salesforce, rather than
    /// only a name and an existing contact (`converted_contact_id`) as in HubSpot.
    pub leads_carry_the_person: bool,
}

/// What the cross-vendor suite's HRIS checks need to know of a vendor, so that they are the
/// same code for every HRIS vendor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HrisSuiteFacts {
    /// The vendor's object behind unified employees, as the simulator's `ids` names it.
    pub employees_object: String,
    /// Path prefix of the vendor calls an employee listing makes (for mid-walk mutations and
    /// faults).
    pub employees_list_prefix: String,
    /// An employee id the vendor has never issued.
    pub missing_employee_id: String,
    /// The unified key of a custom field seeded on every employee.
    pub employee_custom_field: String,
    /// Largest page the checks ask for.
    pub page_size: u64,
    /// Whether the vendor keeps job history (past jobs with an end), rather than each
    /// employee's current job only (Personio's v1 API: see its `simulator.yaml`); pay history
    /// too unless `keeps_pay_history` says otherwise.
    pub keeps_history: bool,
    /// Whether the vendor keeps pay history (past pay rates with an end), when it differs from
    /// `keeps_history` (Personio: no job history in v1, pay history from its v2 API).
    #[serde(default)]
    pub keeps_pay_history: Option<bool>,
    /// A day-based time-off policy requests may be written against.
    pub time_off_policy_id: String,
    /// `employment_status_raw` of a terminated employee.
    pub terminated_status_raw: String,
    /// Whether the vendor's groups name their parent group (a department tree).
    #[serde(default)]
    pub groups_have_parents: bool,
    /// Whether the vendor lists one-off payments (bonuses) apart from the pay rates' history.
    #[serde(default)]
    pub bonuses: bool,
    /// Time-off request ids the vendor has never issued, one of each shape its gets take.
    #[serde(default)]
    pub missing_time_off_request_ids: Vec<String>,
    /// Whether the vendor's API gives the company's name (HiBob's gives only its id).
    #[serde(default = "yes")]
    pub companies_named: bool,
    /// How a time-off request counted in hours is written, where the vendor's API takes one.
    #[serde(default)]
    pub hourly_time_off: Option<HourlyTimeOffFacts>,
}

/// A time-off request in hours on one day, as the cross-vendor suite writes it: `policy_id`,
/// the day and the fields of `request` (`units: HOURS` where the vendor chooses by it), read
/// back in hours with `amount`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HourlyTimeOffFacts {
    /// A time-off policy counted in hours.
    pub policy_id: String,
    /// More fields of the unified request (`units`, `amount`, or the vendor's own in
    /// `remote_data`).
    #[serde(default)]
    pub request: Map<String, Value>,
    /// The amount of hours the request reads back with, as a decimal string.
    pub amount: String,
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_wiring_parses_and_names_its_connector_once() {
        let mut seen = std::collections::BTreeSet::new();
        for entry in REGISTRY {
            assert!(seen.insert(entry.connector()), "{entry:?} registered twice");
            let wiring = entry.wiring().unwrap_or_else(|error| panic!("{error}"));
            if let Some(suite) = wiring.suite {
                assert!(suite.page_size > 0, "{entry:?}");
            }
            if let Some(hris) = wiring.hris_suite {
                assert!(hris.page_size > 0, "{entry:?}");
            }
        }
    }

    #[test]
    fn the_demo_keeps_vendor_sized_data_and_tests_get_small_seeds_without_limits() {
        let demo = <hubspot::HubSpot as Simulator>::config(Profile::Demo);
        let test = <hubspot::HubSpot as Simulator>::config(Profile::Test);
        assert!(demo.contacts > 10_000, "past HubSpot's search cap");
        assert!(test.contacts < demo.contacts / 5);
        assert_eq!(demo.rate_limit_per_interval, 190);
        assert!(test.rate_limit_per_interval >= 1_000_000);
        let demo = <salesforce::Salesforce as Simulator>::config(Profile::Demo);
        let test = <salesforce::Salesforce as Simulator>::config(Profile::Test);
        assert!(test.contacts < demo.contacts && test.daily_api_limit > demo.daily_api_limit);
    }

    #[test]
    fn placeholders_are_filled_in_every_string() {
        let demo: DemoConnection = serde_yaml_ng::from_str(
            "auth_scheme: session\naccount: {instance_url: '{url}'}\nsecrets: {access_token: '{token}'}\nconnector_override: {auth: {urls: ['{url}/token']}}",
        )
        .expect("parses");
        let resolved = demo.resolve("http://127.0.0.1:9", "secret");
        assert_eq!(resolved.account["instance_url"], "http://127.0.0.1:9");
        assert_eq!(resolved.secrets["access_token"], "secret");
        assert_eq!(
            resolved.connector_override["auth"]["urls"][0],
            "http://127.0.0.1:9/token"
        );
    }

    #[tokio::test]
    async fn a_tweak_reaches_only_its_simulator_and_the_handle_downcasts() {
        let tweaks = Tweaks::default().with::<salesforce::Salesforce>(|config| {
            config.access_tokens = vec!["tweaked".to_owned()];
        });
        let salesforce = Entry::of::<salesforce::Salesforce>()
            .start(Profile::Test, &tweaks)
            .await
            .expect("starts");
        assert_eq!(salesforce.token, "tweaked");
        assert!(salesforce.handle::<salesforce::Salesforce>().is_some());
        assert!(salesforce.handle::<hubspot::HubSpot>().is_none());
        let pipedrive = Entry::of::<pipedrive::Pipedrive>()
            .start(Profile::Test, &tweaks)
            .await
            .expect("starts");
        assert_eq!(pipedrive.token, "pipedrive-sim-token");
        assert!(!pipedrive.ids("persons").is_empty());
    }
}
