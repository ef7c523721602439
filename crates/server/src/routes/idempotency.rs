//! `Idempotency-Key` on writes: the first answer to a write made with a key is kept for a day,
//! and a retry with the same key and the same request gets that answer again instead of writing
//! a second time.
//!
//! A key is scoped to the caller's environment, the connection, the method and the path. The
//! request's fingerprint (a SHA-256 of its query and JSON body) must match the first one's: the
//! same key with another request is a 422 naming the header. A retry while the first request is
//! still running is a 409. Only successes are kept: when the request fails (nothing was written,
//! since a write the vendor accepted always answers a success), the key is released and a retry
//! runs again. A process that dies mid-request holds its key for [`IN_FLIGHT_LEASE`].

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use store::{IdempotencyClaim, IdempotencyScope, StoredAnswer};

use crate::{ApiError, AppState};

/// The request header carrying the caller's key.
pub const HEADER: &str = "idempotency-key";
/// The response header set on a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// The longest key accepted.
const MAX_KEY_LEN: usize = 255;
/// How long a kept answer is replayed.
const ANSWER_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a claim holds its key while its request runs; longer than any request may take
/// (the wait budget is at most two minutes, plus the vendor calls).
pub const IN_FLIGHT_LEASE: Duration = Duration::from_secs(10 * 60);

/// The caller's `Idempotency-Key`, checked: 1 to 255 visible ASCII characters.
///
/// # Errors
/// A 400 naming the header.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "is given more than once",
        ));
    }
    let text = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|text| {
            !text.is_empty()
                && text.len() <= MAX_KEY_LEN
                && text
                    .bytes()
                    .all(|byte| byte.is_ascii_graphic() || byte == b' ')
        })
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )
        })?;
    Ok(Some(text.to_owned()))
}

/// One write made with an idempotency key, between its claim and its answer.
pub struct IdempotentCall {
    state: AppState,
    scope: IdempotencyScope,
    fingerprint: String,
}

/// What a claim decided.
pub enum Claimed {
    /// Run the request, then [`IdempotentCall::finish`] it.
    Run(IdempotentCall),
    /// The first request's answer, to send again ([`replay`] for a JSON answer).
    Replay(StoredAnswer),
}

/// The fingerprint of a request: its query and its JSON body.
fn fingerprint(query: Option<&str>, body: &Value) -> String {
    fingerprint_parts(&[query.unwrap_or("").as_bytes(), body.to_string().as_bytes()])
}

/// The fingerprint of a request made of `parts` (a SHA-256 of each part's length and bytes,
/// so that no two lists of parts share one).
pub fn fingerprint_parts(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Claims `key` for this write of a JSON `body`.
///
/// # Errors
/// 422 when the key was used with another request, 409 while the first request runs.
pub async fn claim(
    state: &AppState,
    scope: IdempotencyScope,
    query: Option<&str>,
    body: &Value,
) -> Result<Claimed, ApiError> {
    claim_fingerprinted(state, scope, fingerprint(query, body)).await
}

/// Claims `key` for the request whose fingerprint is `fingerprint` ([`fingerprint_parts`]).
///
/// # Errors
/// 422 when the key was used with another request, 409 while the first request runs.
pub async fn claim_fingerprinted(
    state: &AppState,
    scope: IdempotencyScope,
    fingerprint: String,
) -> Result<Claimed, ApiError> {
    let now = store::timestamp::now();
    let lease = chrono::Duration::seconds(IN_FLIGHT_LEASE.as_secs().cast_signed());
    match state
        .store
        .claim_idempotency_key(&scope, &fingerprint, now, now + lease)
        .await?
    {
        IdempotencyClaim::Claimed => Ok(Claimed::Run(IdempotentCall {
            state: state.clone(),
            scope,
            fingerprint,
        })),
        IdempotencyClaim::Answered(answer) => Ok(Claimed::Replay(answer)),
        IdempotencyClaim::InFlight => Err(ApiError::Conflict {
            code: "idempotency_key_in_flight",
            detail: "a request with this `Idempotency-Key` is still running; retry once it has answered".to_owned(),
        }),
        IdempotencyClaim::Mismatch => Err(ApiError::Unprocessable {
            code: "idempotency_key_reused",
            field: Some("Idempotency-Key".to_owned()),
            detail: "this `Idempotency-Key` was used with another request (method, path, query or body); use a new key for a new request".to_owned(),
        }),
    }
}

/// A kept JSON answer, sent again.
pub fn replay(answer: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = if answer.body.is_null() {
        status.into_response()
    } else {
        (status, crate::routes::JsonBody(answer.body)).into_response()
    };
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

impl IdempotentCall {
    /// Keeps a success for the retries, or releases the key after a failure. A store failure
    /// here is logged, not answered: the write itself is done.
    pub async fn finish(self, outcome: Result<(StatusCode, &Value), ()>) {
        let result = match outcome {
            Ok((status, body)) => {
                let expires_at = store::timestamp::now()
                    + chrono::Duration::seconds(ANSWER_TTL.as_secs().cast_signed());
                let answer = StoredAnswer {
                    status: status.as_u16(),
                    body: body.clone(),
                };
                self.state
                    .store
                    .complete_idempotency_key(&self.scope, &self.fingerprint, &answer, expires_at)
                    .await
            }
            Err(()) => {
                self.state
                    .store
                    .release_idempotency_key(&self.scope, &self.fingerprint)
                    .await
            }
        };
        if let Err(error) = result {
            tracing::warn!(error = %error, "idempotency key could not be settled");
        }
    }
}
