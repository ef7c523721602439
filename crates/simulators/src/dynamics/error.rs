//! Dataverse's error answers: `{"error": {"code": "0x8004…", "message": "…"}}`.
//!
//! Each variant is one thing the simulated Web API can reject; [`ApiError::status`] and
//! [`ApiError::code`] give what Dataverse answers for it. Messages copy Dataverse's wording
//! (capitalisation included), because connectors and tests match on them. The 401 answer also
//! carries `WWW-Authenticate`, and the 429 answer `Retry-After`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The Entra ID authority a 401 points callers at.
pub(crate) const AUTHORIZATION_URI: &str =
    "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/oauth2/authorize";

/// One rejected request.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{entity} With Id = {id} Does Not Exist")]
    RecordNotFound { entity: String, id: String },
    #[error("Resource not found for the segment '{0}'.")]
    SegmentNotFound(String),
    #[error(
        "Could not find a property named '{property}' on type 'Microsoft.Dynamics.CRM.{entity}'."
    )]
    UnknownProperty { property: String, entity: String },
    #[error("{0}")]
    QuerySyntax(String),
    #[error("The query parameter $skip is not supported")]
    SkipNotSupported,
    #[error("The query parameter {0} is not supported")]
    UnsupportedOption(String),
    #[error(
        "The property '{property}' does not exist on type 'Microsoft.Dynamics.CRM.{entity}'. Make sure to only use property names that are defined by the type."
    )]
    UnknownWriteProperty { property: String, entity: String },
    #[error(
        "Error identified in Payload provided by the user for Entity :'{entity_set}', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ----> InnerException : Microsoft.OData.ODataException: {detail}"
    )]
    Payload { entity_set: String, detail: String },
    #[error(
        "A validation error occurred. The value {value} of '{attribute}' on record of type '{entity}' is outside the valid range. Accepted Values: {accepted}"
    )]
    OptionOutOfRange {
        value: i64,
        attribute: String,
        entity: String,
        accepted: String,
    },
    #[error(
        "A validation error occurred. The length of the '{attribute}' attribute of the '{entity}' entity exceeded the maximum allowed length of '{max}'."
    )]
    TooLong {
        attribute: String,
        entity: String,
        max: usize,
    },
    #[error(
        "A validation error occurred. The value {value} of '{attribute}' on record of type '{entity}' is outside the valid range. Accepted range: {min} to {max}"
    )]
    OutOfRange {
        value: String,
        attribute: String,
        entity: String,
        min: i64,
        max: i64,
    },
    #[error("The version of the existing record doesn't match the RowVersion property provided.")]
    PreconditionFailed,
    #[error("A record with matching key values already exists.")]
    DuplicateKey,
    #[error(
        "The user is not authenticated: the bearer token is missing, expired or not valid for this organization."
    )]
    Unauthenticated,
    #[error("Number of requests exceeded the limit of {limit} over time window of 300 seconds.")]
    TooManyRequests { limit: u32, retry_after_secs: u64 },
    #[error("The HTTP method '{0}' is not allowed for this resource.")]
    MethodNotAllowed(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::RecordNotFound { .. } | ApiError::SegmentNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PreconditionFailed | ApiError::DuplicateKey => {
                StatusCode::PRECONDITION_FAILED
            }
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The hex error code Dataverse sends for this failure.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::RecordNotFound { .. } => "0x80040217",
            ApiError::SegmentNotFound(_) => "0x8006088a",
            ApiError::UnknownProperty { .. }
            | ApiError::QuerySyntax(_)
            | ApiError::SkipNotSupported
            | ApiError::UnsupportedOption(_) => "0x80060888",
            ApiError::UnknownWriteProperty { .. } => "0x80060891",
            ApiError::Payload { .. } => "0x80048d19",
            ApiError::OptionOutOfRange { .. } => "0x8004431a",
            ApiError::TooLong { .. } | ApiError::OutOfRange { .. } => "0x80044331",
            ApiError::PreconditionFailed => "0x80060882",
            ApiError::DuplicateKey => "0x80040237",
            ApiError::Unauthenticated => "0x80072560",
            ApiError::TooManyRequests { .. } => "0x80072322",
            ApiError::MethodNotAllowed(_) => "0x80060889",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code(), "message": self.to_string() } });
        let mut response = (self.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert("odata-version", HeaderValue::from_static("4.0"));
        match &self {
            ApiError::Unauthenticated => {
                let value = format!("Bearer authorization_uri={AUTHORIZATION_URI}");
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert("www-authenticate", value);
                }
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                headers.insert("retry-after", HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}
