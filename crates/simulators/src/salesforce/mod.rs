//! The Salesforce REST API simulator: sObject CRUD, describe, SOQL query paging, limits.
//!
//! It serves `{instance_url}/services/data/vXX.X/…` for versions v50.0 to v62.0 over a
//! deterministically seeded org (see `seed.rs`), answering as Salesforce does: Bearer-token
//! auth with `INVALID_SESSION_ID`, error arrays, `Sforce-Limit-Info` on every API response and
//! 403 `REQUEST_LIMIT_EXCEEDED` past the daily allowance (never 429), SOQL through a real
//! parser (`soql.rs`) and evaluator (`query.rs`), and `nextRecordsUrl` cursors.
//!
//! Documented choices where the real API leaves room:
//! * Picklists are unrestricted: any value is accepted on write.
//! * Empty strings written through the API are stored as null, as Salesforce does; the seed
//!   data still holds a few empty strings so connectors see both.
//! * A query cursor snapshots the matching ids at query time; later batches return the
//!   current values of those records and skip records deleted since (`queryAll` keeps them).
//!   Batches may therefore be smaller than the batch size, as Salesforce allows.
//! * `/deleted` reaches back to midnight UTC 15 days before the call, `/updated` 30 days;
//!   an earlier `start`, or one less than a minute before `end`, is refused with
//!   `INVALID_REPLICATION_DATE`. Both cover up to `min(end, now)`. Tests move the clock these
//!   reaches are judged by ([`SalesforceHandle::advance_replication_clock`]) to stand for a
//!   connection idle for weeks.
//! * Bulk API 2.0 query jobs are simulated in `bulk.rs` (ingest jobs, Bulk API 1.0 and
//!   composite resources are not). The OAuth 2.0 web-server flow
//!   (authorize, token, revoke) is, in `oauth.rs`; tokens it issues are accepted like the
//!   configured static tokens until the internal session timeout passes.

mod bulk;
mod error;
mod ids;
mod oauth;
mod query;
mod routes;
mod schema;
mod seed;
mod soql;
mod store;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::oauth::{AccessStatus, OAuthServer, OAuthSettings};
use crate::{Faults, RequestLog, RunningSimulator};

use self::query::Cursors;
use self::schema::FieldDef;
use self::store::Db;

/// What the simulated org holds and how it limits callers.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    pub seed: u64,
    pub accounts: usize,
    pub contacts: usize,
    pub leads: usize,
    pub opportunities: usize,
    /// Tasks, including calls and emails (`TaskSubtype`).
    pub tasks: usize,
    pub events: usize,
    pub notes: usize,
    /// Users besides the org's Automated Process user, which is always there; the first is
    /// the integration user the API acts as.
    pub users: usize,
    /// Accepted `Authorization: Bearer <token>` values.
    pub access_tokens: Vec<String>,
    /// Counts every API call; `Sforce-Limit-Info` reports it.
    pub daily_api_limit: u64,
    /// The largest query batch served.
    pub max_batch_size: usize,
    /// Connected apps as `(client_id, client_secret)` (consumer key and secret).
    pub oauth_clients: Vec<(String, String)>,
    /// The org's session timeout: OAuth access tokens answer 401 `INVALID_SESSION_ID` after
    /// it. Token responses do not tell it (no `expires_in`), as in Salesforce.
    pub access_token_ttl_secs: u64,
    /// Refresh-token rotation: each refresh returns a new refresh token and retires the old.
    pub rotate_refresh_tokens: bool,
    /// How long a Bulk API 2.0 query job takes from creation to `JobComplete`.
    pub bulk_job_duration_ms: u64,
    /// The most rows of one Bulk API result set (what a missing or larger `maxRecords`
    /// gets).
    pub bulk_max_records: usize,
    /// Bulk API 2.0 query jobs the org may create (`DailyBulkV2QueryJobs`).
    pub daily_bulk_query_jobs: u64,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        SalesforceConfig {
            seed: 7,
            accounts: 2_000,
            contacts: 6_000,
            leads: 2_000,
            opportunities: 3_000,
            tasks: 3_000,
            events: 1_000,
            notes: 1_000,
            users: 40,
            access_tokens: vec!["salesforce-sim-token".to_owned()],
            daily_api_limit: 100_000,
            max_batch_size: 2000,
            oauth_clients: vec![(
                "salesforce-sim-client".to_owned(),
                "salesforce-sim-secret".to_owned(),
            )],
            access_token_ttl_secs: 7200,
            rotate_refresh_tokens: false,
            bulk_job_duration_ms: 2_000,
            bulk_max_records: 50_000,
            daily_bulk_query_jobs: 10_000,
        }
    }
}

/// State shared by the handlers. One lock for the data; never held across an await.
pub(crate) struct Shared {
    pub(crate) db: RwLock<Db>,
    pub(crate) cursors: Mutex<Cursors>,
    /// Drives mutation faults, deterministically for a seed.
    pub(crate) rng: Mutex<StdRng>,
    pub(crate) tokens: Mutex<HashSet<String>>,
    pub(crate) api_used: AtomicU64,
    /// Seconds added to the clock `/deleted` and `/updated` judge their reach by.
    pub(crate) replication_offset_secs: AtomicU64,
    pub(crate) api_limit: AtomicU64,
    pub(crate) max_batch_size: usize,
    pub(crate) faults: Faults,
    pub(crate) log: RequestLog,
    pub(crate) oauth: OAuthServer,
    pub(crate) bulk: Mutex<bulk::BulkJobs>,
    /// Outbound messages of record changes (workflow rules on create and update).
    pub(crate) webhooks: crate::webhooks::Webhooks,
}

impl Shared {
    /// Whether `token` is a configured static token or a live OAuth access token.
    pub(crate) fn token_accepted(&self, token: &str) -> bool {
        self.tokens
            .lock()
            .expect("token set poisoned")
            .contains(token)
            || matches!(self.oauth.access_status(token), AccessStatus::Valid { .. })
    }

    /// The clock `/deleted` and `/updated` judge their reach by.
    pub(crate) fn replication_now(&self) -> chrono::DateTime<chrono::Utc> {
        let offset = self.replication_offset_secs.load(Ordering::SeqCst);
        store::now() + chrono::Duration::seconds(i64::try_from(offset).unwrap_or(i64::MAX / 2))
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Db> {
        self.db.read().expect("salesforce state poisoned")
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Db> {
        self.db.write().expect("salesforce state poisoned")
    }
}

/// Test-side control of a running simulator.
#[derive(Clone)]
pub struct SalesforceHandle {
    shared: Arc<Shared>,
}

impl SalesforceHandle {
    /// The outbound messages: `subscribe` with the endpoint URL (the secret is unused: outbound
    /// messages are not signed), and every create and update of a contact, account,
    /// opportunity or lead through the API sends one.
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

    /// Ids of the live (not deleted) records of `sobject`, ascending; empty for unknown objects.
    pub fn ids(&self, sobject: &str) -> Vec<String> {
        let db = self.shared.read();
        db.table(sobject).map_or_else(Vec::new, |table| {
            (0..table.rows.len())
                .filter(|&idx| table.live(idx))
                .map(|idx| table.rows[idx].id.clone())
                .collect()
        })
    }

    /// The record as `GET /sobjects/{sobject}/{id}` shows it (v59.0 urls), deleted ones included.
    pub fn record(&self, sobject: &str, id: &str) -> Option<serde_json::Value> {
        let db = self.shared.read();
        let table = db.table(sobject)?;
        let idx = table.position(id)?;
        Some(table.record_json(idx, "v59.0", None))
    }

    /// Sets field `field` of the record `id` of `sobject` to `value` as stored data, past the
    /// API's checks, as the vendor could hold it (a date past year 9999 written `+10000-01-01`,
    /// say): text is read as the field's type (a date, a date-time, a number, a boolean) and
    /// kept as text when it does not read; null clears the field. False when the object,
    /// record or field is unknown.
    pub fn plant(&self, sobject: &str, id: &str, field: &str, value: &serde_json::Value) -> bool {
        let mut db = self.shared.write();
        let Some(table_idx) = db.table_index(sobject) else {
            return false;
        };
        let table = &mut db.tables[table_idx];
        let (Some(row_idx), Some(field_idx)) =
            (table.position(id), table.schema.field_index(field))
        else {
            return false;
        };
        let field_type = table.schema.fields[field_idx].field_type;
        let stored = store::Val::planted(value, field_type);
        table.rows[row_idx].set(field_idx, stored);
        true
    }

    /// Moves the clock that `/deleted` and `/updated` judge their reach by `by` into the
    /// future, as if the caller had not asked for that long: a window starting before it is
    /// refused with `INVALID_REPLICATION_DATE`.
    pub fn advance_replication_clock(&self, by: Duration) {
        self.shared
            .replication_offset_secs
            .fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    /// Changes the daily API allowance.
    pub fn set_daily_api_limit(&self, limit: u64) {
        self.shared.api_limit.store(limit, Ordering::SeqCst);
    }

    /// Adds (or replaces) a field of `sobject`, given as a describe `fields[]` entry (at least
    /// `name`; `type` defaults to string). It then shows in describe and is queryable and,
    /// unless the entry says otherwise, writable. Unknown objects are ignored.
    pub fn add_custom_field(&self, sobject: &str, describe_field: serde_json::Value) {
        let Some(field) = FieldDef::from_describe(&describe_field) else {
            tracing::warn!(sobject, "custom field without a name ignored");
            return;
        };
        let mut db = self.shared.write();
        if let Some(idx) = db.table_index(sobject) {
            db.tables[idx].schema.push_field(field);
            db.tables[idx].schema_changed_at = store::now();
        }
    }

    /// Deletes a custom field at the vendor: describe stops listing it and queries naming it
    /// fail with `INVALID_FIELD`.
    pub fn remove_custom_field(&self, sobject: &str, name: &str) {
        let mut db = self.shared.write();
        if let Some(idx) = db.table_index(sobject) {
            db.tables[idx].schema.remove_field(name);
            db.tables[idx].schema_changed_at = store::now();
        }
    }

    /// Invalidates every current access token, static and OAuth-issued: they now answer 401
    /// `INVALID_SESSION_ID`. OAuth refresh tokens keep working.
    pub fn expire_tokens(&self) {
        self.shared
            .tokens
            .lock()
            .expect("token set poisoned")
            .clear();
        self.shared.oauth.expire_access_tokens();
    }

    /// Moves the simulated clock that OAuth session and code expiry follow.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.oauth.advance_clock(by);
    }

    /// Revokes every OAuth refresh token and the access tokens issued from them.
    pub fn revoke_all_refresh_tokens(&self) {
        self.shared.oauth.revoke_all_refresh_tokens();
    }

    /// Token-endpoint requests for the `authorization_code` and `refresh_token` grants,
    /// answered with tokens or refused.
    pub fn token_requests(&self) -> u64 {
        self.shared.oauth.token_requests()
    }

    /// Token-endpoint requests for the `refresh_token` grant.
    pub fn refresh_requests(&self) -> u64 {
        self.shared.oauth.refresh_requests()
    }

    /// Accepts one more access token.
    pub fn add_access_token(&self, token: &str) {
        self.shared
            .tokens
            .lock()
            .expect("token set poisoned")
            .insert(token.to_owned());
    }

    /// Makes the next Bulk API query job created fail (state `Failed`, with `message` as its
    /// `errorMessage`) once its processing time has passed.
    pub fn fail_next_bulk_job(&self, message: &str) {
        self.shared
            .bulk
            .lock()
            .expect("bulk jobs poisoned")
            .fail_next = Some(message.to_owned());
    }

    /// Bulk API query jobs created so far.
    pub fn bulk_jobs_created(&self) -> u64 {
        self.shared.bulk.lock().expect("bulk jobs poisoned").created
    }

    /// API calls counted so far.
    pub fn api_usage(&self) -> u64 {
        self.shared.api_used.load(Ordering::SeqCst)
    }
}

/// Builds the simulator's router over a freshly seeded org.
pub fn router(config: SalesforceConfig) -> (axum::Router, SalesforceHandle) {
    let mut db = Db::new();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let counts = seed::SeedCounts {
        users: config.users,
        accounts: config.accounts,
        contacts: config.contacts,
        opportunities: config.opportunities,
        leads: config.leads,
        tasks: config.tasks,
        events: config.events,
        notes: config.notes,
    };
    seed::seed(&mut db, &mut rng, &counts);
    let shared = Arc::new(Shared {
        db: RwLock::new(db),
        cursors: Mutex::new(Cursors::default()),
        rng: Mutex::new(StdRng::seed_from_u64(config.seed ^ 0x5f0c_e5a1_e5f0_4ce5)),
        tokens: Mutex::new(config.access_tokens.iter().cloned().collect()),
        api_used: AtomicU64::new(0),
        replication_offset_secs: AtomicU64::new(0),
        api_limit: AtomicU64::new(config.daily_api_limit),
        max_batch_size: config.max_batch_size.max(1),
        faults: Faults::default(),
        log: RequestLog::default(),
        oauth: OAuthServer::new(OAuthSettings {
            clients: config.oauth_clients.clone(),
            access_token_ttl: Duration::from_secs(config.access_token_ttl_secs),
            rotate_refresh_tokens: config.rotate_refresh_tokens,
            access_token_prefix: format!("{}!AQ", ids::make_id("00D", 1)),
        }),
        bulk: Mutex::new(bulk::BulkJobs::new(
            config.daily_bulk_query_jobs,
            Duration::from_millis(config.bulk_job_duration_ms),
            config.bulk_max_records,
        )),
        webhooks: crate::webhooks::Webhooks::default(),
    });
    let router = routes::build(Arc::clone(&shared));
    (router, SalesforceHandle { shared })
}

/// Seeds an org and serves it on `addr` (use `127.0.0.1:0` in tests).
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn spawn(
    config: SalesforceConfig,
    addr: SocketAddr,
) -> std::io::Result<(RunningSimulator, SalesforceHandle)> {
    let (router, handle) = router(config);
    let running = crate::serve(addr, router).await?;
    Ok((running, handle))
}

/// The Salesforce simulator's registry line (see [`crate::registry`]).
#[derive(Debug)]
pub struct Salesforce;

impl crate::Simulator for Salesforce {
    const CONNECTOR: &'static str = "salesforce";
    const WIRING: &'static str = include_str!("../../../../connectors/salesforce/simulator.yaml");
    type Config = SalesforceConfig;
    type Handle = SalesforceHandle;

    fn config(profile: crate::Profile) -> SalesforceConfig {
        match profile {
            crate::Profile::Demo => SalesforceConfig::default(),
            crate::Profile::Test => SalesforceConfig {
                accounts: 300,
                contacts: 1_200,
                leads: 300,
                opportunities: 300,
                tasks: 300,
                events: 100,
                notes: 100,
                users: 10,
                daily_api_limit: 10_000_000,
                bulk_job_duration_ms: 0,
                ..SalesforceConfig::default()
            },
        }
    }

    fn token(config: &SalesforceConfig) -> String {
        config.access_tokens.first().cloned().unwrap_or_default()
    }

    fn router(config: SalesforceConfig) -> (axum::Router, SalesforceHandle) {
        router(config)
    }

    fn faults(handle: &SalesforceHandle) -> &Faults {
        handle.faults()
    }

    fn requests(handle: &SalesforceHandle) -> &RequestLog {
        handle.requests()
    }

    fn ids(handle: &SalesforceHandle, object: &str) -> Vec<String> {
        handle.ids(object)
    }
}

/// Sends the outbound message of one created or updated record (SOAP, no signature).
pub(crate) fn emit_outbound_message(webhooks: &crate::webhooks::Webhooks, sobject: &str, id: &str) {
    if !matches!(sobject, "Contact" | "Account" | "Opportunity" | "Lead") {
        return;
    }
    let event = webhooks.next_event();
    let org = ids::make_id("00D", 1);
    let action = ids::make_id("04k", 1);
    let notification = ids::make_id("04l", event);
    let modified = store::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    webhooks.emit(|subscription| {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n\
 <soapenv:Body>\n\
  <notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">\n\
   <OrganizationId>{org}</OrganizationId>\n\
   <ActionId>{action}</ActionId>\n\
   <SessionId xsi:nil=\"true\"/>\n\
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/59.0/{org}</EnterpriseUrl>\n\
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/59.0/{org}</PartnerUrl>\n\
   <Notification>\n\
    <Id>{notification}</Id>\n\
    <sObject xsi:type=\"sf:{sobject}\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\n\
     <sf:Id>{id}</sf:Id>\n\
     <sf:LastModifiedDate>{modified}</sf:LastModifiedDate>\n\
    </sObject>\n\
   </Notification>\n\
  </notifications>\n\
 </soapenv:Body>\n\
</soapenv:Envelope>\n"
        );
        crate::webhooks::Delivery {
            url: subscription.url.clone(),
            headers: vec![
                ("Content-Type".to_owned(), "text/xml; charset=utf-8".to_owned()),
                ("SOAPAction".to_owned(), "\"\"".to_owned()),
            ],
            body: body.into_bytes(),
        }
    });
}
