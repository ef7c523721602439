//! The Microsoft Dynamics 365 (Dataverse Web API) simulator: OData queries, paging, CRUD,
//! metadata, service protection limits.
//!
//! The simulator's base URL stands for the org URL `https://{org}.crm.dynamics.com`; the API is
//! served under `/api/data/v9.2/` over a deterministically seeded organisation (`seed.rs`):
//! `contacts`, `accounts`, `leads`, `opportunities`, `tasks`, `phonecalls`, `appointments`,
//! `emails`, `annotations` and `systemusers`, with GUID ids, lookups (`_x_value`), option sets,
//! custom `new_` columns and `@odata.etag` row versions.
//!
//! Where the shapes come from (no Dataverse spec is stored):
//! * learn.microsoft.com "Page results using OData" (`Prefer: odata.maxpagesize`, 5000 default
//!   and maximum, `Preference-Applied`, `@odata.nextLink` with a `$skiptoken` paging cookie, no
//!   `$skip`, `$top` not combined with paging) and "Count rows using OData" (`$count=true`,
//!   `@odata.count` capped at 5000, `Microsoft.Dynamics.CRM.totalrecordcount*` annotations).
//! * learn.microsoft.com "Service protection API limits" (429 on the Web API, `Retry-After`,
//!   per-user 5-minute window); the 6000-request limit and error code `0x80072322` and the
//!   error body shape `{"error":{"code","message"}}` with `0x80040217` / `0x80060888` codes are
//!   from working knowledge (vendor-behaviour.md §4).
//!
//! Documented choices where the real API leaves room or is not reproduced:
//! * Text comparisons in `$filter` and `$orderby` are case-insensitive, as with Dataverse's
//!   default SQL collation; `ne` matches nulls.
//! * The service protection window counts every authenticated request per bearer token
//!   (standing in for the user), sliding over 300 s; requests over the limit are refused and
//!   not counted. `x-ms-ratelimit-burst-remaining-xrm-requests` reports what is left. Execution
//!   time and concurrency limits are not simulated.
//! * The 401 body is an OData error with code `0x80072560`; the real service often sends none.
//! * Read-only columns in write bodies are ignored; `ApplicationRequired` is not enforced
//!   (Dataverse enforces neither through the Web API).
//! * `PATCH` to a missing id creates the record (upsert) unless `If-Match` is sent.
//! * Change tracking, `$expand`, `$batch`, the Entra ID token endpoint and webhooks are not
//!   simulated.

mod error;
mod filter;
mod metadata;
mod query;
mod routes;
mod schema;
mod seed;
mod store;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::{Faults, RequestLog, RunningSimulator};

use self::schema::{AttrType, Attribute};
use self::store::{Annotations, Db, Table};

/// What the simulated organisation holds and how it limits callers.
#[derive(Debug, Clone)]
pub struct DynamicsConfig {
    pub seed: u64,
    pub accounts: usize,
    pub contacts: usize,
    pub leads: usize,
    pub opportunities: usize,
    pub tasks: usize,
    pub phonecalls: usize,
    pub appointments: usize,
    pub emails: usize,
    pub annotations: usize,
    pub systemusers: usize,
    /// Accepted `Authorization: Bearer <token>` values.
    pub access_tokens: Vec<String>,
    /// Service protection limit per user (token) per 300 s sliding window.
    pub requests_per_5min: u32,
}

impl Default for DynamicsConfig {
    fn default() -> Self {
        DynamicsConfig {
            seed: 13,
            accounts: 1_500,
            contacts: 5_000,
            leads: 1_500,
            opportunities: 2_000,
            tasks: 1_500,
            phonecalls: 800,
            appointments: 800,
            emails: 800,
            annotations: 1_000,
            systemusers: 30,
            access_tokens: vec!["dynamics-sim-token".to_owned()],
            requests_per_5min: 6000,
        }
    }
}

/// State shared by the handlers. One lock for the data; never held across an await.
pub(crate) struct Shared {
    pub(crate) db: RwLock<Db>,
    /// Drives mutation faults and generated ids, deterministically for a seed.
    pub(crate) rng: Mutex<StdRng>,
    pub(crate) tokens: HashSet<String>,
    pub(crate) limit: u32,
    /// Request instants in the current window, per token.
    pub(crate) windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    pub(crate) faults: Faults,
    pub(crate) log: RequestLog,
    /// Webhooks of record changes (a service endpoint with `WebhookKey` auth).
    pub(crate) webhooks: crate::webhooks::Webhooks,
}

impl Shared {
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Db> {
        self.db.read().expect("dynamics state poisoned")
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Db> {
        self.db.write().expect("dynamics state poisoned")
    }
}

/// Test-side control of a running simulator.
#[derive(Clone)]
pub struct DynamicsHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DynamicsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicsHandle").finish_non_exhaustive()
    }
}

impl DynamicsHandle {
    /// The webhook service endpoint: `subscribe` with its URL and its key (sent as the `code`
    /// query parameter, `WebhookKey` auth); every create, update and delete of a contact,
    /// account, opportunity or lead through the Web API sends the step's
    /// RemoteExecutionContext.
    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.shared.webhooks
    }

    /// The fault queue the simulator obeys.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The requests the simulator served.
    pub fn requests(&self) -> &RequestLog {
        &self.shared.log
    }

    /// GUIDs of the records of `entity_set` (`contacts`), ascending; empty for unknown sets.
    pub fn ids(&self, entity_set: &str) -> Vec<String> {
        let db = self.shared.read();
        db.table_by_set(entity_set).map_or_else(Vec::new, |idx| {
            db.tables[idx].rows.keys().cloned().collect()
        })
    }

    /// The record as `GET /{entity_set}({id})` shows it without annotations.
    pub fn record(&self, entity_set: &str, id: &str) -> Option<serde_json::Value> {
        let db = self.shared.read();
        let idx = db.table_by_set(entity_set)?;
        let id = id.to_ascii_lowercase();
        db.render(idx, &id, None, &Annotations::default())
            .map(serde_json::Value::Object)
    }

    /// Sets column `name` (its data name, `createdon`) of a record of `entity_set` to `value` as
    /// is, past the checks a write goes through: tests plant values an organisation may hold
    /// that the unified types do not. Returns whether the record exists.
    pub fn plant(&self, entity_set: &str, id: &str, name: &str, value: serde_json::Value) -> bool {
        let mut db = self.shared.write();
        let Some(idx) = db.table_by_set(entity_set) else {
            return false;
        };
        let Some(row) = db.tables[idx].rows.get_mut(&id.to_ascii_lowercase()) else {
            return false;
        };
        row.values.insert(name.to_owned(), value);
        true
    }

    /// Adds (or replaces) a custom column of the table `entity` (logical name, `contact`).
    /// `attribute_type` is an `AttributeType` (`String`, `Memo`, `Integer`, `Decimal`, `Double`,
    /// `Money`, `Boolean`, `DateTime`, `Picklist`; unknown ones become `String`). The column
    /// then shows in `EntityDefinitions` with `IsCustomAttribute: true`, is null on every
    /// record, and is selectable, filterable and writable. Unknown tables are ignored.
    pub fn add_custom_attribute(&self, entity: &str, logical_name: &str, attribute_type: &str) {
        let attr_type = AttrType::parse(attribute_type).unwrap_or_else(|| {
            tracing::warn!(attribute_type, "unknown attribute type, using String");
            AttrType::String
        });
        let attribute = Attribute::custom(logical_name, attr_type);
        let mut db = self.shared.write();
        let Some(idx) = db.table_by_logical(entity) else {
            tracing::warn!(entity, "custom attribute on an unknown table ignored");
            return;
        };
        let table: &mut Table = &mut db.tables[idx];
        table
            .entity
            .attributes
            .retain(|existing| existing.logical_name != logical_name);
        let data_name = attribute.data_name();
        table.entity.attributes.push(attribute);
        for row in table.rows.values_mut() {
            row.values
                .entry(data_name.clone())
                .or_insert(serde_json::Value::Null);
        }
    }
}

/// Builds the simulator's router over a freshly seeded organisation.
pub fn router(config: DynamicsConfig) -> (axum::Router, DynamicsHandle) {
    let tables = schema::entities()
        .into_iter()
        .map(|entity| Table {
            entity,
            rows: std::collections::BTreeMap::new(),
        })
        .collect();
    let mut db = Db::new(tables);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let counts = seed::SeedCounts {
        systemusers: config.systemusers,
        accounts: config.accounts,
        contacts: config.contacts,
        leads: config.leads,
        opportunities: config.opportunities,
        tasks: config.tasks,
        phonecalls: config.phonecalls,
        appointments: config.appointments,
        emails: config.emails,
        annotations: config.annotations,
    };
    seed::seed(&mut db, &mut rng, &counts);
    let shared = Arc::new(Shared {
        db: RwLock::new(db),
        rng: Mutex::new(StdRng::seed_from_u64(config.seed ^ 0x0d7a_5e55_d7a5_e55d)),
        tokens: config.access_tokens.iter().cloned().collect(),
        limit: config.requests_per_5min,
        windows: Mutex::new(HashMap::new()),
        faults: Faults::default(),
        log: RequestLog::default(),
        webhooks: crate::webhooks::Webhooks::default(),
    });
    let router = routes::build(Arc::clone(&shared));
    (router, DynamicsHandle { shared })
}

/// Seeds an organisation and serves it on `addr` (use `127.0.0.1:0` in tests).
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn spawn(
    config: DynamicsConfig,
    addr: SocketAddr,
) -> std::io::Result<(RunningSimulator, DynamicsHandle)> {
    let (router, handle) = router(config);
    let running = crate::serve(addr, router).await?;
    Ok((running, handle))
}

/// The Dynamics 365 simulator's registry line (see [`crate::registry`]).
#[derive(Debug)]
pub struct Dynamics;

impl crate::Simulator for Dynamics {
    const CONNECTOR: &'static str = "dynamics365";
    const WIRING: &'static str = include_str!("../../../../connectors/dynamics365/simulator.yaml");
    type Config = DynamicsConfig;
    type Handle = DynamicsHandle;

    fn config(profile: crate::Profile) -> DynamicsConfig {
        match profile {
            crate::Profile::Demo => DynamicsConfig::default(),
            crate::Profile::Test => DynamicsConfig {
                accounts: 300,
                contacts: 1_200,
                leads: 300,
                opportunities: 300,
                tasks: 200,
                phonecalls: 100,
                appointments: 100,
                emails: 100,
                annotations: 200,
                systemusers: 10,
                requests_per_5min: 1_000_000,
                ..DynamicsConfig::default()
            },
        }
    }

    fn token(config: &DynamicsConfig) -> String {
        config.access_tokens.first().cloned().unwrap_or_default()
    }

    fn router(config: DynamicsConfig) -> (axum::Router, DynamicsHandle) {
        router(config)
    }

    fn faults(handle: &DynamicsHandle) -> &Faults {
        handle.faults()
    }

    fn requests(handle: &DynamicsHandle) -> &RequestLog {
        handle.requests()
    }

    fn ids(handle: &DynamicsHandle, object: &str) -> Vec<String> {
        handle.ids(object)
    }
}

/// Sends the RemoteExecutionContext of one change (`Create`, `Update` or `Delete`) to the
/// webhook service endpoint, its key in the `code` query parameter.
pub(crate) fn emit_change(
    webhooks: &crate::webhooks::Webhooks,
    logical_name: &str,
    id: &str,
    message: &str,
) {
    if !matches!(logical_name, "contact" | "account" | "opportunity" | "lead") {
        return;
    }
    let event = webhooks.next_event();
    let now = chrono::Utc::now();
    let guid = |n: u64| format!("{n:08x}-5e55-4d7a-8000-{event:012x}");
    webhooks.emit(|subscription| {
        let target = if message == "Delete" {
            serde_json::json!({"__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts",
                "Id": id, "KeyAttributes": [], "LogicalName": logical_name, "Name": null, "RowVersion": null})
        } else {
            serde_json::json!({"__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                "Attributes": [{"key": format!("{logical_name}id"), "value": id}],
                "EntityState": null, "FormattedValues": [], "Id": id, "KeyAttributes": [],
                "LogicalName": logical_name, "RelatedEntities": [], "RowVersion": null})
        };
        let body = serde_json::json!({
            "BusinessUnitId": guid(1),
            "CorrelationId": guid(2),
            "Depth": 1,
            "InitiatingUserAzureActiveDirectoryObjectId": guid(3),
            "InitiatingUserId": guid(4),
            "InputParameters": [{"key": "Target", "value": target}],
            "IsExecutingOffline": false,
            "IsInTransaction": false,
            "IsOfflinePlayback": false,
            "IsolationMode": 1,
            "MessageName": message,
            "Mode": 1,
            "OperationCreatedOn": format!("/Date({})/", now.timestamp_millis()),
            "OperationId": guid(5),
            "OrganizationId": guid(6),
            "OrganizationName": "simulated",
            "OutputParameters": [],
            "OwningExtension": {"Id": guid(7), "LogicalName": "sdkmessageprocessingstep", "Name": "Crosswalk webhook", "RowVersion": null},
            "ParentContext": null,
            "PostEntityImages": [],
            "PreEntityImages": [],
            "PrimaryEntityId": id,
            "PrimaryEntityName": logical_name,
            "RequestId": guid(8),
            "SecondaryEntityName": "none",
            "SharedVariables": [],
            "Stage": 40,
            "UserAzureActiveDirectoryObjectId": guid(3),
            "UserId": guid(4),
        })
        .to_string()
        .into_bytes();
        let separator = if subscription.url.contains('?') { '&' } else { '?' };
        let code: String = url::form_urlencoded::byte_serialize(subscription.secret.as_bytes()).collect();
        crate::webhooks::Delivery {
            url: format!("{}{separator}code={code}", subscription.url),
            headers: vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("x-ms-dynamics-organization".to_owned(), "simulated.crm.dynamics.com".to_owned()),
                ("x-ms-dynamics-entity-name".to_owned(), logical_name.to_owned()),
                ("x-ms-dynamics-request-name".to_owned(), message.to_owned()),
            ],
            body,
        }
    });
}
