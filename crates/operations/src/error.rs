//! [`OpError`]: why a unified operation failed, in terms any caller can act on.
//!
//! The variants say what went wrong and whose fault it was (the caller's input, the connection,
//! the vendor, us); they carry no transport notion. The REST API turns each into a status code
//! and a problem+json body, an MCP tool into a tool error, a sync worker into a retry or a stop.

use std::time::Duration;

use connector::ProviderError;
use provider_http::CallError;
use provider_http::credentials::CredentialsError;
use provider_http::oauth::OAuthError;

use crate::override_check::InvalidOverride;

/// Why a unified operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The caller's input is invalid; `field` names the offending part (`body.email`, `cursor`).
    #[error("{detail}")]
    Invalid {
        code: &'static str,
        field: Option<String>,
        detail: String,
    },
    /// The request conflicts with the state of the record it names in one of its fields (an
    /// update's `type` that is not the record's: a record keeps its type); `field` names it.
    #[error("{detail}")]
    Conflict {
        code: &'static str,
        field: String,
        detail: String,
    },
    /// The thing does not exist (or belongs to another environment).
    #[error("{0}")]
    NotFound(String),
    /// The provider does not offer this operation.
    #[error("{0}")]
    Unsupported(String),
    /// The provider no longer accepts the connection's authorization.
    #[error("the connection must be re-authorised")]
    ReauthRequired,
    /// The vendor keeps failing for this connection: calls are refused for a while.
    #[error("the circuit is open for another {retry_after:?}")]
    CircuitOpen { retry_after: Duration },
    /// The vendor budget is exhausted for longer than the caller may wait.
    #[error("the vendor budget is exhausted; retry after {retry_after:?}")]
    Throttled {
        retry_after: Duration,
        provider: Option<ProviderError>,
    },
    /// The provider answered with an error.
    #[error("the provider answered {}", .0.status)]
    Provider(ProviderError),
    /// The provider could not be reached or answered nonsense.
    #[error("{detail}")]
    Upstream { code: &'static str, detail: String },
    /// A mapping stopped at one of the environment's evaluation limits (`U1006`, `D1011` to
    /// `D1017`); `detail` names the limit.
    #[error("{detail}")]
    EvaluationLimit { code: String, detail: String },
    /// A stored override no longer applies to the connector loaded now.
    #[error("{}", .0.describe())]
    OverrideInvalid(Box<InvalidOverride>),
    /// Our own failure.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl OpError {
    /// An invalid input naming `field`.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> OpError {
        OpError::Invalid {
            code: "invalid_request",
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    /// An invalid write body naming `field` (a path under `body`).
    pub fn invalid_body(field: impl Into<String>, detail: impl Into<String>) -> OpError {
        OpError::Invalid {
            code: "invalid_body",
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    /// Wraps any error as our own failure.
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> OpError {
        OpError::Internal(anyhow::Error::new(error))
    }
}

impl From<store::StoreError> for OpError {
    fn from(error: store::StoreError) -> OpError {
        match error {
            store::StoreError::NotFound => OpError::NotFound("not found".to_owned()),
            other => OpError::internal(other),
        }
    }
}

impl From<CredentialsError> for OpError {
    fn from(error: CredentialsError) -> OpError {
        match error {
            CredentialsError::ReauthRequired => OpError::ReauthRequired,
            CredentialsError::NoOAuthApp(provider) => OpError::Invalid {
                code: "oauth_app_missing",
                field: None,
                detail: format!(
                    "the environment has no OAuth app for `{provider}` (PUT /environment/oauth-apps/{provider})"
                ),
            },
            CredentialsError::OAuth(OAuthError::Transport(detail)) => OpError::Upstream {
                code: "upstream_unavailable",
                detail: format!("the token endpoint cannot be reached: {detail}"),
            },
            CredentialsError::OAuth(OAuthError::Refused(answer)) => OpError::Upstream {
                code: "token_refresh_failed",
                detail: format!("the token endpoint refused the refresh ({})", answer.status),
            },
            CredentialsError::OAuth(OAuthError::NoAccessToken) => OpError::Upstream {
                code: "token_refresh_failed",
                detail: "the token endpoint's answer has no access token".to_owned(),
            },
            other => OpError::internal(other),
        }
    }
}

impl From<CallError> for OpError {
    fn from(error: CallError) -> OpError {
        use provider_http::SendError;
        match error {
            CallError::CircuitOpen { retry_after } => OpError::CircuitOpen { retry_after },
            CallError::Throttled {
                retry_after,
                provider,
            } => OpError::Throttled {
                retry_after,
                provider,
            },
            CallError::Credentials(error) => error.into(),
            CallError::Limiter(error) => OpError::internal(error),
            CallError::Send(error) => match error {
                SendError::Timeout(_) => OpError::Upstream {
                    code: "upstream_timeout",
                    detail: error.to_string(),
                },
                SendError::Connect(_) | SendError::TooLarge => OpError::Upstream {
                    code: "upstream_unavailable",
                    detail: error.to_string(),
                },
                SendError::HostNotAllowed(_) | SendError::InvalidUrl(_) => OpError::Invalid {
                    code: "host_not_allowed",
                    field: None,
                    detail: error.to_string(),
                },
                SendError::Auth(_) => OpError::internal(error),
            },
        }
    }
}

/// Whether a mapping error is one of the evaluation limits'.
pub(crate) fn is_limit(error: &connector::mapping::MappingError) -> bool {
    matches!(
        error.code.as_str(),
        "U1006" | "D1011" | "D1012" | "D1013" | "D1014" | "D1015" | "D1016"
    ) || error.code == connector::mapping::REQUEST_BUDGET_CODE
}

impl From<connector::ReadError> for OpError {
    fn from(error: connector::ReadError) -> OpError {
        match error {
            connector::ReadError::Provider(provider) => OpError::Provider(provider),
            connector::ReadError::NotFound(detail) => OpError::NotFound(detail),
            connector::ReadError::Mapping { what, source } if is_limit(&source) => {
                OpError::EvaluationLimit {
                    code: source.code.clone(),
                    detail: format!("{what}: {source}"),
                }
            }
            other => OpError::internal(other),
        }
    }
}

impl From<connector::PlanError> for OpError {
    fn from(error: connector::PlanError) -> OpError {
        match error {
            connector::PlanError::Mapping { what, source } if is_limit(&source) => {
                OpError::EvaluationLimit {
                    code: source.code.clone(),
                    detail: format!("{what}: {source}"),
                }
            }
            // Only the caller's values can make a path segment unsafe (an id of `.` or `..`):
            // the connector's own values are checked when it loads.
            connector::PlanError::Template {
                source: connector::TemplateError::UnsafeSegment(name),
                ..
            } => {
                let field = name.strip_prefix("body.").map_or_else(
                    || name.rsplit('.').next().unwrap_or(&name).to_owned(),
                    |rest| format!("body.{rest}"),
                );
                OpError::invalid(field, "cannot be empty, `.` or `..`")
            }
            // No route takes the caller's request: what the routes choose by is the caller's
            // to fix (a body field, a filter), or, when they choose by the id alone, no record
            // can have that id.
            connector::PlanError::NoRoute {
                object,
                operation,
                inputs,
            } => no_route(&object, operation, &inputs),
            other => OpError::internal(other),
        }
    }
}

/// The error of a request no route of `object.operation` accepts, given what the routes read.
fn no_route(object: &str, operation: &str, inputs: &[String]) -> OpError {
    let listed = inputs
        .iter()
        .map(|input| format!("`{input}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(field) = inputs.iter().find(|input| input.starts_with("body.")) {
        return OpError::invalid_body(
            field.clone(),
            format!("no way to {operation} `{object}` accepts this body; it is chosen by {listed}"),
        );
    }
    if matches!(operation, "get" | "update" | "delete") {
        return OpError::NotFound(format!("`{object}` has no record with this id"));
    }
    match inputs.iter().find_map(|input| input.strip_prefix("query.")) {
        Some(parameter) => OpError::invalid(
            parameter,
            format!(
                "no way to {operation} `{object}` accepts these parameters; it is chosen by {listed}"
            ),
        ),
        None => OpError::Internal(anyhow::anyhow!(
            "no route of `{object}.{operation}` accepts this request"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{OpError, no_route};

    #[test]
    fn a_request_no_route_accepts_is_the_callers_to_fix() {
        let by_body = no_route("crm.engagements", "create", &["body.type".to_owned()]);
        assert!(
            matches!(&by_body, OpError::Invalid { field: Some(field), .. } if field == "body.type"),
            "{by_body:?}"
        );
        let by_id = no_route("crm.engagements", "get", &[]);
        assert!(matches!(by_id, OpError::NotFound(_)), "{by_id:?}");
        let by_filter = no_route("crm.contacts", "list", &["query.ids".to_owned()]);
        assert!(
            matches!(&by_filter, OpError::Invalid { field: Some(field), .. } if field == "ids"),
            "{by_filter:?}"
        );
    }
}
