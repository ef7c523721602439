//! Outbound webhooks (issue 17): `whsec_` secrets and Standard Webhooks signatures, the retry
//! schedule, the address policy, and the delivery job that sends an endpoint's messages.
//!
//! The endpoints, the outbox written with each change or event, the messages and the attempts
//! are the store's (`store::WebhookEndpoint` and its neighbours); the API's routes are the
//! server's. Inbound webhooks (vendors calling us) are not here.

pub mod address;
mod delivery;
pub mod schedule;
pub mod signing;

use chrono::{DateTime, Utc};
use store::{EnvironmentId, NewJob, WebhookEndpoint};

pub use address::AddressPolicy;
pub use delivery::{DeliveryHandler, WebhookSettings};

/// The job kind of deliveries.
pub const DELIVERY_JOB_KIND: &str = "webhook.delivery";

/// How many times a delivery job may fail (a store error) in a row before it stops; its
/// reschedules start the count over.
const DELIVERY_JOB_ATTEMPTS: u32 = 1000;

/// The additional data an endpoint's secret is sealed with: it opens only as a secret of that
/// environment's webhooks.
pub fn secret_aad(environment_id: &EnvironmentId) -> Vec<u8> {
    format!("webhook-secret:{environment_id}").into_bytes()
}

/// The delivery job of an endpoint, due at `run_at`; at most one is live per endpoint.
pub fn delivery_job(endpoint: &WebhookEndpoint, run_at: DateTime<Utc>) -> NewJob {
    NewJob {
        environment_id: endpoint.environment_id.clone(),
        connection_id: None,
        kind: DELIVERY_JOB_KIND.to_owned(),
        key: Some(format!("webhook:{}", endpoint.id)),
        payload: serde_json::json!({"endpoint_id": endpoint.id}),
        run_at,
        max_attempts: DELIVERY_JOB_ATTEMPTS,
    }
}
