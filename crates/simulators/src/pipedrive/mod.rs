//! The Pipedrive simulator: API v1 persons, organizations, deals, leads, notes, activities,
//! users, pipelines, stages and `*Fields` (custom fields keyed by 40-character hashes), the
//! v1 search endpoints, and v2 cursor lists, reads and writes for persons, organizations, deals
//! and activities, over deterministically seeded data.
//!
//! The base URL stands for `https://{company}.pipedrive.com`: paths are `/api/v1/…` and
//! `/api/v2/…` (v1 is also served under `/v1/…`, the spec's `https://api.pipedrive.com/v1`).
//! Auth is an `api_token` query parameter or `x-api-token` header, or an OAuth Bearer token.
//! Answers follow the stored v1 OpenAPI description; where it leaves room, the choices are:
//! * v1 lists send `data: null` for an empty page and cut `limit` above 500 to 500; v2 lists
//!   reject `limit` outside 1..=500 with 400.
//! * Persons, organizations and deals are soft-deleted: still readable with `active_flag:
//!   false` (deals `status: "deleted"`, listed with `status=deleted`), and a write to them
//!   answers 410. Leads, notes and activities answer 404 once deleted.
//! * Unknown body keys are ignored, as Pipedrive does; bad values answer 400, an enum or set
//!   option id that does not exist answers 422. `filter_id` answers 404 (no saved filters).
//! * Activities lists without `user_id` return only the token user's (user 1) activities, as
//!   the spec says; `user_id=0` returns everyone's.
//! * v1 enum custom values are option ids as strings, set values comma-separated id strings.
//! * v2 (its spec is not stored): `{success, data, additional_data: {next_cursor}}`, cursor
//!   an opaque string tied to `sort_by` (`id`, `update_time`, `add_time`) and `sort_direction`,
//!   filters `ids`, `updated_since`/`updated_until` (RFC 3339, until exclusive), `owner_id`,
//!   `org_id`, `person_id` and deals `status`; times RFC 3339; deleted records are left out
//!   (deals: unless `status=deleted`); custom values under `custom_fields`, monetary as
//!   `{value, currency}`, ranges as `{value, until}`, enum as an option id, set as a list.
//! * v2 writes: `POST /api/v2/{entity}`, `PATCH /api/v2/{entity}/{id}` (partial) and
//!   `DELETE /api/v2/{entity}/{id}` for the same four entities, answering 200 with
//!   `{success, data}` (the record in the v2 read shape; delete `data: {id}`). Bodies are
//!   translated to the v1 write shape (`v2write.rs`) and checked by the v1 rules.
//! * Rate limits: see `limits.rs`.
//!
//! Left out: webhooks, OAuth token exchange, `/recents`, `*/collection`, products, files, mail.

mod error;
mod limits;
mod render;
#[allow(
    clippy::result_large_err,
    reason = "handlers answer early with a ready error response"
)]
mod routes;
mod schema;
mod seed;
mod store;
mod v2write;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

use crate::{Faults, RequestLog, RunningSimulator};

use schema::Entity;
use store::Store;

/// Field types `add_custom_field` and `POST /{entity}Fields` accept.
pub(crate) const FIELD_TYPES: &[&str] = &[
    "address",
    "date",
    "daterange",
    "double",
    "enum",
    "monetary",
    "org",
    "people",
    "phone",
    "set",
    "text",
    "time",
    "timerange",
    "user",
    "varchar",
    "varchar_auto",
];

/// What the simulated company holds and how it limits callers.
#[derive(Debug, Clone)]
pub struct PipedriveConfig {
    pub seed: u64,
    pub persons: usize,
    pub organizations: usize,
    pub deals: usize,
    pub leads: usize,
    pub notes: usize,
    /// Calls, meetings, emails, tasks, deadlines and lunches (activity `type`).
    pub activities: usize,
    pub users: usize,
    /// Accepted `api_token` query values and `x-api-token` header values.
    pub api_tokens: Vec<String>,
    /// Accepted OAuth `Authorization: Bearer` values.
    pub access_tokens: Vec<String>,
    /// Requests per token per 2-second window (80: an api_token on the Professional plan).
    pub rate_limit_per_2s: u32,
    /// The window's length: Pipedrive's 2 s, unless a test needs its requests to fall in one
    /// window however slow the machine.
    pub rate_limit_window: std::time::Duration,
}

impl Default for PipedriveConfig {
    fn default() -> PipedriveConfig {
        PipedriveConfig {
            seed: 11,
            persons: 5_000,
            organizations: 1_500,
            deals: 2_000,
            leads: 800,
            notes: 1_500,
            activities: 2_500,
            users: 25,
            api_tokens: vec!["pipedrive-sim-token".to_owned()],
            access_tokens: vec!["pipedrive-sim-oauth".to_owned()],
            rate_limit_per_2s: 80,
            rate_limit_window: limits::WINDOW,
        }
    }
}

/// State shared by the handlers. One lock for the data; never held across an await.
pub(crate) struct Shared {
    store: RwLock<Store>,
    limits: limits::RateLimits,
    faults: Faults,
    log: RequestLog,
    api_tokens: Vec<String>,
    access_tokens: Vec<String>,
    /// Webhooks of record changes (`POST /v1/webhooks` subscribes).
    webhooks: crate::webhooks::Webhooks,
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().expect("pipedrive store poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().expect("pipedrive store poisoned")
    }
}

/// Test and demo access to a running simulator's state.
#[derive(Clone)]
pub struct PipedriveHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PipedriveHandle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PipedriveHandle")
            .finish_non_exhaustive()
    }
}

impl PipedriveHandle {
    /// The webhooks (v2, basic auth): `POST /v1/webhooks` subscribes, as `subscribe` does, and
    /// every create, update and delete through the API sends a delivery.
    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.shared.webhooks
    }

    /// The fault queue (mutation faults are honoured by v1 and v2 lists).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Requests served, by `METHOD path`.
    pub fn requests(&self) -> &RequestLog {
        &self.shared.log
    }

    /// Ids of the non-deleted records of `entity` (`persons`, `organizations`, `deals`,
    /// `leads`, `notes`, `activities`, `users`) in creation order; empty for unknown entities.
    pub fn ids(&self, entity: &str) -> Vec<String> {
        let Some(entity) = Entity::parse_plural(entity) else {
            return Vec::new();
        };
        let store = self.shared.read();
        store
            .table(entity)
            .live_rows()
            .map(|row| row.id.clone())
            .collect()
    }

    /// The record as v1 `GET /{entity}/{id}` shows it, deleted ones included.
    pub fn record(&self, entity: &str, id: &str) -> Option<Value> {
        let entity = Entity::parse_plural(entity)?;
        let store = self.shared.read();
        let row = store.table(entity).get(id)?;
        Some(render::RenderCtx::new(&store).v1(entity, row))
    }

    /// Defines a custom field on `entity` (`person`, `organization`, `deal`; `activity` too)
    /// as if created in the app, and returns its 40-character hash key. Enum and set fields get
    /// the options "Option A", "Option B" and "Option C". An unknown entity or field type is
    /// logged and gives an empty key.
    pub fn add_custom_field(&self, entity: &str, name: &str, field_type: &str) -> String {
        let Some(entity) = Entity::parse_singular(entity)
            .or_else(|| Entity::parse_plural(entity))
            .filter(|e| e.has_fields())
        else {
            tracing::warn!(entity, "add_custom_field: unknown pipedrive entity");
            return String::new();
        };
        if !FIELD_TYPES.contains(&field_type) {
            tracing::warn!(field_type, "add_custom_field: unknown pipedrive field type");
            return String::new();
        }
        let options: &[&str] = if matches!(field_type, "enum" | "set") {
            &["Option A", "Option B", "Option C"]
        } else {
            &[]
        };
        self.shared
            .write()
            .add_custom_field(entity, name, field_type, options, store::now())
    }
}

/// Builds the simulator's router over freshly seeded data.
pub fn router(config: PipedriveConfig) -> (axum::Router, PipedriveHandle) {
    let mut seed_rng = StdRng::seed_from_u64(config.seed);
    let mut store = Store::new(StdRng::seed_from_u64(config.seed ^ 0x9d_0c0f_fee0));
    seed::seed(&mut store, &mut seed_rng, &config);
    let shared = Arc::new(Shared {
        store: RwLock::new(store),
        limits: limits::RateLimits::new(config.rate_limit_per_2s, config.rate_limit_window),
        faults: Faults::default(),
        log: RequestLog::default(),
        api_tokens: config.api_tokens.clone(),
        access_tokens: config.access_tokens.clone(),
        webhooks: crate::webhooks::Webhooks::default(),
    });
    let router = routes::build(Arc::clone(&shared));
    (router, PipedriveHandle { shared })
}

/// Seeds a simulator and serves it on `addr` (use `127.0.0.1:0` in tests).
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn spawn(
    config: PipedriveConfig,
    addr: SocketAddr,
) -> std::io::Result<(RunningSimulator, PipedriveHandle)> {
    let (router, handle) = router(config);
    let running = crate::serve(addr, router).await?;
    Ok((running, handle))
}

/// The Pipedrive simulator's registry line (see [`crate::registry`]).
#[derive(Debug)]
pub struct Pipedrive;

impl crate::Simulator for Pipedrive {
    const CONNECTOR: &'static str = "pipedrive";
    const WIRING: &'static str = include_str!("../../../../connectors/pipedrive/simulator.yaml");
    type Config = PipedriveConfig;
    type Handle = PipedriveHandle;

    fn config(profile: crate::Profile) -> PipedriveConfig {
        match profile {
            crate::Profile::Demo => PipedriveConfig::default(),
            crate::Profile::Test => PipedriveConfig {
                persons: 1_200,
                organizations: 300,
                deals: 300,
                leads: 150,
                notes: 200,
                activities: 300,
                users: 10,
                rate_limit_per_2s: 1_000_000,
                ..PipedriveConfig::default()
            },
        }
    }

    fn token(config: &PipedriveConfig) -> String {
        config.api_tokens.first().cloned().unwrap_or_default()
    }

    fn router(config: PipedriveConfig) -> (axum::Router, PipedriveHandle) {
        router(config)
    }

    fn faults(handle: &PipedriveHandle) -> &Faults {
        handle.faults()
    }

    fn requests(handle: &PipedriveHandle) -> &RequestLog {
        handle.requests()
    }

    fn ids(handle: &PipedriveHandle, object: &str) -> Vec<String> {
        handle.ids(object)
    }
}

/// Sends the v2 delivery of one change (`create`, `change` or `delete`) of a person,
/// organization or deal, with the subscription's basic credentials.
pub(crate) fn emit_change(
    webhooks: &crate::webhooks::Webhooks,
    entity: schema::Entity,
    id: &str,
    action: &str,
) {
    use base64::Engine as _;
    if !matches!(
        entity,
        schema::Entity::Person | schema::Entity::Organization | schema::Entity::Deal
    ) {
        return;
    }
    let event = webhooks.next_event();
    webhooks.emit(|subscription| {
        let entity_id = id.parse::<u64>().map_or_else(|_| serde_json::json!(id), |n| serde_json::json!(n));
        let body = serde_json::json!({
            "meta": {
                "action": action,
                "entity": entity.singular(),
                "entity_id": id,
                "id": format!("{:08x}-0000-4000-8000-{event:012x}", event),
                "version": "2.0",
                "company_id": "1",
                "user_id": "1",
                "webhook_id": "1",
                "webhook_owner_id": "1",
                "permitted_user_ids": ["1"],
                "attempt": 1,
                "host": "company.pipedrive.com",
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "change_source": "api",
                "is_bulk_edit": false,
                "type": "general",
            },
            "data": if action == "delete" { serde_json::Value::Null } else { serde_json::json!({"id": entity_id}) },
            "previous": serde_json::Value::Null,
        })
        .to_string()
        .into_bytes();
        let credentials = format!(
            "{}:{}",
            subscription.username.as_deref().unwrap_or_default(),
            subscription.secret
        );
        crate::webhooks::Delivery {
            url: subscription.url.clone(),
            headers: vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                (
                    "Authorization".to_owned(),
                    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials)),
                ),
            ],
            body,
        }
    });
}
