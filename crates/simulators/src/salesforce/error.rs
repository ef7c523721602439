//! Salesforce's error answers: always a JSON array `[{"message","errorCode","fields"?}]`.
//!
//! Each variant is one thing the simulated API can reject; [`ApiError::status`] and
//! [`ApiError::error_code`] give what the real API answers for it. Messages copy Salesforce's
//! wording (including its capitalisation), because connectors and tests match on them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One rejected request.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("The requested resource does not exist")]
    NotFound,
    #[error("Provided external ID field does not exist or is not accessible: {0}")]
    BadIdInPath(String),
    #[error("entity is deleted")]
    EntityIsDeleted,
    #[error("Session expired or invalid")]
    InvalidSession,
    #[error("TotalRequests Limit exceeded.")]
    RequestLimitExceeded,
    #[error("HTTP Method '{method}' not allowed. Allowed are {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    #[error("No such column '{field}' on sobject of type {sobject}")]
    InvalidFieldOnWrite { field: String, sobject: String },
    #[error("Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", .0.join(", "))]
    InvalidFieldForInsertUpdate(Vec<String>),
    #[error("Required fields are missing: [{}]", .0.join(", "))]
    RequiredFieldMissing(Vec<String>),
    #[error("{0}")]
    JsonParser(String),
    #[error("{message}")]
    MalformedId { field: String, message: String },
    #[error("{message}")]
    FieldIntegrity { field: String, message: String },
    #[error("invalid cross reference id")]
    InvalidCrossReference { field: String },
    /// A lookup naming a record in the recycle bin: `400 ENTITY_IS_DELETED` with the field.
    #[error("entity is deleted")]
    ReferenceIsDeleted { field: String },
    #[error("{message}")]
    StringTooLong { field: String, message: String },
    #[error("entity type cannot be {action}: {sobject}")]
    InvalidTypeForOperation {
        action: &'static str,
        sobject: String,
    },
    #[error("{0}")]
    MalformedQuery(String),
    #[error("{0}")]
    InvalidQueryField(String),
    #[error("{0}")]
    InvalidQueryType(String),
    #[error("{0}")]
    InvalidQueryFilterOperator(String),
    #[error("{0}")]
    NumberOutsideValidRange(String),
    #[error("{message}")]
    NumberOutsideRangeOnWrite { field: String, message: String },
    #[error("invalid query locator")]
    InvalidQueryLocator,
    #[error("{0} parameter not specified")]
    MissingArgument(&'static str),
    #[error("{0}")]
    InvalidReplicationDate(String),
    #[error("{0}")]
    InvalidJob(String),
    #[error("The number of query jobs created in the last 24 hours exceeds the limit")]
    ExceededQuota,
    #[error(
        "can only download query results of successfully completed bulk job with status: JOB_COMPLETE. Current status: {0}"
    )]
    JobNotComplete(&'static str),
    #[error("Results must be requested with the API version that created the job ({0})")]
    ApiVersionMismatch(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound | ApiError::BadIdInPath(_) | ApiError::EntityIsDeleted => {
                StatusCode::NOT_FOUND
            }
            ApiError::InvalidSession => StatusCode::UNAUTHORIZED,
            ApiError::RequestLimitExceeded => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::JobNotComplete(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::ApiVersionMismatch(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn error_code(&self) -> &'static str {
        match self {
            ApiError::NotFound | ApiError::BadIdInPath(_) => "NOT_FOUND",
            ApiError::EntityIsDeleted | ApiError::ReferenceIsDeleted { .. } => "ENTITY_IS_DELETED",
            ApiError::InvalidSession => "INVALID_SESSION_ID",
            ApiError::RequestLimitExceeded => "REQUEST_LIMIT_EXCEEDED",
            ApiError::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            ApiError::InvalidFieldOnWrite { .. } | ApiError::InvalidQueryField(_) => {
                "INVALID_FIELD"
            }
            ApiError::InvalidFieldForInsertUpdate(_) => "INVALID_FIELD_FOR_INSERT_UPDATE",
            ApiError::RequiredFieldMissing(_) => "REQUIRED_FIELD_MISSING",
            ApiError::JsonParser(_) => "JSON_PARSER_ERROR",
            ApiError::MalformedId { .. } => "MALFORMED_ID",
            ApiError::FieldIntegrity { .. } => "FIELD_INTEGRITY_EXCEPTION",
            ApiError::InvalidCrossReference { .. } => "INVALID_CROSS_REFERENCE_KEY",
            ApiError::StringTooLong { .. } => "STRING_TOO_LONG",
            ApiError::InvalidTypeForOperation { .. } => "INVALID_TYPE_FOR_OPERATION",
            ApiError::MalformedQuery(_) => "MALFORMED_QUERY",
            ApiError::InvalidQueryType(_) => "INVALID_TYPE",
            ApiError::InvalidQueryFilterOperator(_) => "INVALID_QUERY_FILTER_OPERATOR",
            ApiError::NumberOutsideValidRange(_) | ApiError::NumberOutsideRangeOnWrite { .. } => {
                "NUMBER_OUTSIDE_VALID_RANGE"
            }
            ApiError::InvalidQueryLocator => "INVALID_QUERY_LOCATOR",
            ApiError::MissingArgument(_) => "MISSING_ARGUMENT",
            ApiError::InvalidReplicationDate(_) => "INVALID_REPLICATION_DATE",
            ApiError::InvalidJob(_) | ApiError::ApiVersionMismatch(_) => "INVALIDJOB",
            ApiError::ExceededQuota => "EXCEEDEDQUOTA",
            ApiError::JobNotComplete(_) => "JOB_NOT_COMPLETE",
        }
    }

    /// The `fields` entry: present on record-write errors only, as in Salesforce.
    fn fields(&self) -> Option<Vec<String>> {
        match self {
            ApiError::InvalidFieldOnWrite { .. } | ApiError::JsonParser(_) => Some(Vec::new()),
            ApiError::InvalidFieldForInsertUpdate(fields)
            | ApiError::RequiredFieldMissing(fields) => Some(fields.clone()),
            ApiError::MalformedId { field, .. }
            | ApiError::FieldIntegrity { field, .. }
            | ApiError::InvalidCrossReference { field }
            | ApiError::ReferenceIsDeleted { field }
            | ApiError::StringTooLong { field, .. }
            | ApiError::NumberOutsideRangeOnWrite { field, .. } => Some(vec![field.clone()]),
            _ => None,
        }
    }

    /// The error array body.
    pub(crate) fn body(&self) -> Value {
        let mut entry = json!({ "message": self.to_string(), "errorCode": self.error_code() });
        if let (Some(fields), Value::Object(map)) = (self.fields(), &mut entry) {
            map.insert("fields".into(), json!(fields));
        }
        Value::Array(vec![entry])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}
