//! Errors of the unified model: why a record or write body does not fit its schema.
//!
//! [`ModelError`] is what [`crate::normalize_record`] and [`crate::parse_write_body`] return; it
//! always names the JSON path of the offending field, so a mapping author or API client can find
//! it. [`ValueError`] is the narrower error of parsing one scalar (a timestamp, a decimal...).

/// Why a record or write body was refused.
///
/// Paths use the notation of `serde_path_to_error`: `email_addresses[0].type`, with `.` for the
/// document root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The document is not a JSON object.
    #[error("expected a JSON object, found {found}")]
    NotAnObject {
        /// The JSON type found instead (`array`, `string`...).
        found: &'static str,
    },
    /// A record (or embedded record, such as a pipeline stage) with neither `id` nor `remote_id`.
    #[error("missing field `{path}`")]
    MissingField {
        /// Path of the missing field.
        path: String,
    },
    /// A field the object does not have (usually a typo).
    #[error("unknown field `{path}`")]
    UnknownField {
        /// Path of the unknown field itself.
        path: String,
    },
    /// A field that only Crosswalk or the vendor sets, sent in a write body.
    #[error("field `{path}` is read-only")]
    ReadOnlyField {
        /// Path of the read-only field.
        path: String,
    },
    /// A field whose value has the wrong type or is out of range.
    #[error("invalid value at `{path}`: {reason}")]
    InvalidValue {
        /// Path of the field.
        path: String,
        /// What was wrong, such as "invalid type: string \"ten\", expected u64".
        reason: String,
    },
    /// A write body for an object that is read-only in this version.
    #[error("`{object}` does not accept writes")]
    WritesNotSupported {
        /// The read-only object's slug (`users`).
        object: &'static str,
    },
}

impl ModelError {
    /// Returns the JSON path of the offending field, when the error is about one field.
    pub fn path(&self) -> Option<&str> {
        match self {
            ModelError::UnknownField { path }
            | ModelError::ReadOnlyField { path }
            | ModelError::MissingField { path }
            | ModelError::InvalidValue { path, .. } => Some(path),
            ModelError::NotAnObject { .. } | ModelError::WritesNotSupported { .. } => None,
        }
    }

    /// Turns a deserialization error into a [`ModelError`] naming the field it happened at.
    pub(crate) fn from_serde(error: serde_path_to_error::Error<serde_json::Error>) -> ModelError {
        let path = error.path().to_string();
        let reason = error.inner().to_string();
        // serde's message for an unknown key is "unknown field `x`, expected one of ..." with
        // the whole list of fields; the path already ends in the key, which says it better.
        if let Some(field) = unknown_field_name(&reason) {
            let path = if path == field || path.ends_with(&format!(".{field}")) {
                path
            } else {
                join_path(&path, field)
            };
            return ModelError::UnknownField { path };
        }
        ModelError::InvalidValue { path, reason }
    }
}

/// Extracts `x` from serde's "unknown field `x`, expected ..." message.
fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    let end = rest.find('`')?;
    Some(&rest[..end])
}

/// Appends a key to a `serde_path_to_error` path.
pub(crate) fn join_path(parent: &str, key: &str) -> String {
    if parent == "." || parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Why a scalar value (a timestamp, a decimal, a currency code...) was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// Not an RFC 3339 date-time with an offset.
    #[error("`{0}` is not an RFC 3339 date-time such as `2024-01-31T09:30:00Z`")]
    Timestamp(String),
    /// Not a calendar date.
    #[error("`{0}` is not a date such as `2024-01-31`")]
    Date(String),
    /// Not a plain decimal number.
    #[error("`{0}` is not a decimal string such as `1500.50`")]
    Decimal(String),
    /// Not three upper-case letters.
    #[error("`{0}` is not an ISO 4217 currency code such as `USD`")]
    CurrencyCode(String),
    /// Not a phone number in E.164 form.
    #[error("`{0}` is not an E.164 phone number such as `+14155550100`")]
    E164(String),
    /// A percentage outside 0..=100.
    #[error("`{0}` is not a percentage between 0 and 100")]
    Percentage(f64),
    /// A number, as written, outside 0..=100 where a percentage is expected.
    #[error("`{0}` is not a percentage between 0 and 100")]
    PercentageText(String),
    /// A number with a fractional part, or out of range, where a whole number is expected.
    #[error("`{0}` is not a whole number in range")]
    WholeNumber(f64),
}
