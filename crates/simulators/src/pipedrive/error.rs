//! Pipedrive's error answers: `{success: false, error, error_info, data: null, additional_data: null}`.
//!
//! Each variant is one thing the simulated API rejects; [`ApiError::status`] gives the HTTP
//! status Pipedrive answers with. The 401 and 429 bodies copy Pipedrive's own shape, which adds
//! `errorCode`. Messages copy Pipedrive's wording where it is known, since callers log them.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The `error_info` Pipedrive attaches to most errors.
pub(crate) const ERROR_INFO: &str =
    "Please check developers.pipedrive.com for more information about Pipedrive API.";

/// One rejected request.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("unauthorized access")]
    Unauthorized,
    #[error("Request over limit")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("Unknown method .")]
    UnknownRoute,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} is deleted")]
    Gone(&'static str),
    #[error("{0}")]
    Unprocessable(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) | ApiError::UnknownRoute => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The JSON body Pipedrive sends for this error.
    pub(crate) fn body(&self) -> Value {
        match self {
            ApiError::Unauthorized => json!({
                "success": false,
                "error": "unauthorized access",
                "errorCode": 401,
                "error_info": "Please check developers.pipedrive.com",
            }),
            ApiError::RateLimited { .. } => json!({
                "success": false,
                "error": "Request over limit",
                "errorCode": 429,
                "error_info": "Please check developers.pipedrive.com",
                "data": null,
                "additional_data": null,
            }),
            other => json!({
                "success": false,
                "error": other.to_string(),
                "error_info": ERROR_INFO,
                "data": null,
                "additional_data": null,
            }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after_secs));
        }
        response
    }
}
