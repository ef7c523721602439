//! Inbound webhooks (issue 17): the ingress route vendors call, `POST /hooks/{token}`, and the
//! API that makes, shows and removes a connection's ingress.
//!
//! The token in the URL is the only thing the route reads before verifying: its SHA-256 finds
//! the connection's ingress (the token itself is never stored), the connection's effective
//! connector says how to verify (`webhooks.verify`), and a delivery that passes is written to the
//! inbox with its processing job in one transaction before the answer, so a 2xx means it is
//! durable. A refused delivery is answered 401 and leaves nothing in the inbox; it is counted on
//! the ingress and sampled. What a delivery names is read later by the processing job
//! (`operations::InboundHandler`).

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rand::RngCore as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use store::{ConnectionId, NewInboxEntry, StoreError, VerificationFailure, WebhookIngress};

use crate::auth::Caller;
use crate::routes::JsonBody;
use crate::{ApiError, AppState};

/// The additional data an ingress secret is sealed with: it opens only as that connection's.
pub(crate) fn secret_aad(connection_id: &ConnectionId) -> Vec<u8> {
    format!("webhook-ingress:{connection_id}").into_bytes()
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 32 random bytes as 64 hex digits.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A generated ingress secret: 24 random bytes as 48 hex digits (192 bits; short enough for
/// vendors that cap an echoed token at 50 characters).
fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = json!({
        "type": format!("https://crosswalk.dev/problems/{code}"),
        "title": code,
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
        "origin": "gateway",
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// `POST /hooks/{token}`: a vendor's delivery.
pub async fn receive(
    State(state): State<AppState>,
    Path(token): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let unknown = || problem(StatusCode::NOT_FOUND, "not_found", "no such ingress");
    let ingress = match state.store.find_webhook_ingress(&token_hash(&token)).await {
        Ok(ingress) => ingress,
        Err(StoreError::NotFound) => return unknown(),
        Err(error) => return ApiError::from(error).into_response(),
    };
    let effective = match state
        .operations
        .effective_connector(
            &ingress.environment_id,
            &ingress.provider,
            Some(&ingress.connection_id),
        )
        .await
    {
        Ok(effective) => effective,
        Err(error) => return ApiError::from(error).into_response(),
    };
    let Some(hooks) = effective.connector.webhooks() else {
        return unknown();
    };
    let secret = match &ingress.secret {
        Some(sealed) => match state
            .keyring
            .open(sealed, &secret_aad(&ingress.connection_id))
        {
            Ok(plain) => Some(String::from_utf8_lossy(&plain).into_owned()),
            Err(error) => {
                tracing::error!(connection_id = %ingress.connection_id, error = %error, "webhook ingress secret unusable");
                None
            }
        },
        None => None,
    };
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let full_uri = format!("{}{path_and_query}", state.public_url);
    let request = connector::webhook::WebhookRequest {
        method: method.as_str(),
        uri: &full_uri,
        headers: &pairs,
        body: &body,
    };
    let now = store::timestamp::now();
    if let Err(error) = hooks.verify(&request, secret.as_deref(), now.timestamp_millis()) {
        if let Err(store_error) = state
            .store
            .record_webhook_failure(VerificationFailure {
                connection_id: ingress.connection_id.clone(),
                at: now,
                code: error.code().to_owned(),
                detail: error.to_string(),
            })
            .await
        {
            tracing::warn!(connection_id = %ingress.connection_id, error = %store_error, "recording a refused webhook failed");
        }
        return problem(
            StatusCode::UNAUTHORIZED,
            "webhook_unverified",
            &format!("the delivery is refused: {error}"),
        );
    }
    let entry = NewInboxEntry {
        connection_id: ingress.connection_id.clone(),
        environment_id: ingress.environment_id.clone(),
        method: method.as_str().to_owned(),
        uri: full_uri.clone(),
        headers: Value::Array(
            pairs
                .iter()
                .map(|(name, value)| json!([name, value]))
                .collect(),
        ),
        body: body.to_vec(),
        received_at: now,
        job: operations::inbound_job(&ingress.environment_id, &ingress.connection_id),
    };
    match state.store.accept_webhook(entry).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return unknown(),
        Err(error) => return ApiError::from(error).into_response(),
    }
    match hooks.response() {
        Some(answer) => {
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            let content_type = answer
                .content_type
                .clone()
                .unwrap_or_else(|| "text/plain".to_owned());
            (
                status,
                [(header::CONTENT_TYPE, content_type)],
                answer.body.clone().unwrap_or_default(),
            )
                .into_response()
        }
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// The body of `POST /connections/{id}/webhook-ingress`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRequest {
    /// The secret the vendor signs or authenticates with (an app's client secret, say); one is
    /// generated when absent, unless the connector says the vendor makes it (`secret: given`).
    #[serde(default, deserialize_with = "super::not_null")]
    secret: Option<String>,
}

impl std::fmt::Debug for IngressRequest {
    // The secret never reaches Debug output (nor a log that prints the request).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngressRequest")
            .field("secret", &self.secret.as_ref().map(|_| super::REDACTED))
            .finish()
    }
}

fn connection_id(id: &str) -> Result<ConnectionId, ApiError> {
    ConnectionId::parse(id)
        .map_err(|_| ApiError::not_found(format!("connection `{id}` does not exist")))
}

/// How an ingress is shown (never its token or secret).
pub fn ingress_view(ingress: &WebhookIngress, verification: Option<&str>) -> Value {
    json!({
        "verification": verification,
        "created_at": ingress.created_at,
        "last_received_at": ingress.last_received_at,
        "failures": ingress.failures,
        "last_failure_at": ingress.last_failure_at,
        "last_failure": ingress.last_failure,
    })
}

/// `POST /connections/{id}/webhook-ingress`: a new ingress URL (and secret) for the connection;
/// an earlier URL stops working. The token and a generated secret are shown only here.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    // The body is optional: an empty one generates the secret.
    super::OptionalJsonBody(request): super::OptionalJsonBody<IngressRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let connection_id = connection_id(&id)?;
    let connection = state
        .store
        .get_connection(&caller.environment_id, &connection_id)
        .await
        .map_err(|_| ApiError::not_found(format!("connection `{id}` does not exist")))?;
    let effective = state
        .operations
        .effective_connector(
            &caller.environment_id,
            &connection.provider,
            Some(&connection.id),
        )
        .await?;
    let Some(hooks) = effective.connector.webhooks() else {
        return Err(ApiError::Unsupported {
            detail: format!("connector `{}` declares no webhooks", connection.provider),
        });
    };
    if let Some(secret) = &request.secret
        && (secret.is_empty() || secret.len() > 1024)
    {
        return Err(ApiError::BadRequest {
            code: "invalid_body",
            field: Some("secret".to_owned()),
            detail: "a secret has 1 to 1024 characters".to_owned(),
        });
    }
    // A secret the vendor made and showed the customer: a generated one would verify nothing.
    if request.secret.is_none() && hooks.secret_given() {
        return Err(ApiError::BadRequest {
            code: "invalid_body",
            field: Some("secret".to_owned()),
            detail: format!(
                "connector `{}` verifies deliveries with the secret the vendor shows you: give it",
                connection.provider
            ),
        });
    }
    // A vendor that chooses the signing secret gives it with the subscription.
    let generated =
        (request.secret.is_none() && hooks.needs_secret() && !hooks.vendor_chooses_secret())
            .then(random_secret);
    let secret = request.secret.clone().or_else(|| generated.clone());
    let token = random_hex();
    let ingress = state
        .store
        .put_webhook_ingress(WebhookIngress {
            connection_id: connection.id.clone(),
            environment_id: caller.environment_id.clone(),
            provider: connection.provider.clone(),
            token_hash: token_hash(&token),
            secret: secret.as_ref().map(|secret| {
                state
                    .keyring
                    .seal(secret.as_bytes(), &secret_aad(&connection.id))
            }),
            created_at: store::timestamp::now(),
            last_received_at: None,
            failures: 0,
            last_failure_at: None,
            last_failure: None,
        })
        .await?;
    let url = format!("{}/hooks/{token}", state.public_url);
    let subscribed = hooks.subscription().is_some();
    if subscribed {
        // The vendor's subscription to the new URL is made by its job (the one of an earlier
        // URL deleted first).
        crate::subscriptions::subscribe(
            state.store.as_ref(),
            &state.keyring,
            &caller.environment_id,
            &connection.id,
            &url,
            secret.as_deref(),
        )
        .await?;
    }
    if hooks.declared().expected_interval_secs.is_some() {
        crate::upkeep::watch_staleness(
            state.store.as_ref(),
            &caller.environment_id,
            &connection.id,
        )
        .await?;
    }
    let mut view = ingress_view(&ingress, Some(hooks.kind()));
    view["url"] = json!(url);
    if subscribed {
        view["subscription"] = json!({"status": "pending"});
    }
    if let Some(generated) = generated {
        view["secret"] = json!(generated);
    }
    Ok((StatusCode::CREATED, JsonBody(view)))
}

/// `GET /connections/{id}/webhook-ingress`: the ingress, its sampled refusals and its latest
/// deliveries.
pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let connection_id = connection_id(&id)?;
    let missing = || ApiError::not_found(format!("connection `{id}` has no webhook ingress"));
    let ingress = state
        .store
        .get_webhook_ingress(&caller.environment_id, &connection_id)
        .await
        .map_err(|error| match error {
            StoreError::NotFound => missing(),
            other => other.into(),
        })?;
    let verification = state
        .operations
        .effective_connector(
            &caller.environment_id,
            &ingress.provider,
            Some(&connection_id),
        )
        .await
        .ok()
        .and_then(|effective| effective.connector.webhooks().map(|hooks| hooks.kind()));
    let failures = state
        .store
        .list_webhook_failures(&caller.environment_id, &connection_id, 20)
        .await?;
    let deliveries = state
        .store
        .list_webhook_inbox(&caller.environment_id, &connection_id, 20)
        .await?;
    let mut view = ingress_view(&ingress, verification);
    if let Some(subscription) = crate::subscriptions::subscription_view(
        state.store.as_ref(),
        &caller.environment_id,
        &connection_id,
    )
    .await?
    {
        view["subscription"] = subscription;
    }
    view["failure_samples"] = json!(failures);
    view["deliveries"] = json!(
        deliveries
            .iter()
            .map(|entry| json!({
                "id": entry.id,
                "received_at": entry.received_at,
                "status": entry.status,
                "events": entry.events,
                "duplicates": entry.duplicates,
                "error": entry.error,
                "processed_at": entry.processed_at,
            }))
            .collect::<Vec<_>>()
    );
    Ok(JsonBody(view))
}

/// `DELETE /connections/{id}/webhook-ingress`: the URL stops working.
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let connection_id = connection_id(&id)?;
    // Only a connection of the caller's environment has a subscription job to find.
    crate::subscriptions::unsubscribe(&state.operations, &caller.environment_id, &connection_id)
        .await;
    state
        .store
        .delete_webhook_ingress(&caller.environment_id, &connection_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
