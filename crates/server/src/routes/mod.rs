//! Route handlers, one module per resource family.

pub mod api_keys;
pub mod connect;
pub mod connections;
pub mod environment;
pub mod events;
pub mod idempotency;
pub mod inbound;
pub mod meta;
pub mod overrides;
pub mod proxy;
pub mod syncs;
pub mod unified;
pub mod webhooks;

use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::response::IntoResponse;

use crate::ApiError;

/// A JSON body whose rejections answer problem+json naming what was wrong.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge;
        }
        ApiError::BadRequest {
            code: "invalid_body",
            field: Some("body".to_owned()),
            detail: rejection.body_text(),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for JsonBody<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}
