//! `/connections`: list (a page at a time), read, create (API-key and token schemes) and delete connections.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use connector::file::{AuthScheme, FieldKind};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use store::{Connection, ConnectionId, ConnectionStatus, NewConnection};

use super::JsonBody;
use crate::auth::Caller;
use crate::{ApiError, AppState};
use provider_http::credentials::credentials_aad;

/// The public view of a connection: never its credentials.
pub fn view(connection: &Connection) -> Value {
    json!({
        "id": connection.id.as_str(),
        "provider": connection.provider,
        "status": connection.status.as_str(),
        "auth_scheme": connection.account.get("auth_scheme"),
        "account": connection.account,
        "created_at": connection.created_at,
        "updated_at": connection.updated_at,
    })
}

/// `GET /connections` query: the page to return.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(ListQuery { limit, cursor }): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let page = super::events::page_request(limit.as_deref(), cursor.as_deref())?;
    let connections = state
        .store
        .list_connections_page(&caller.environment_id, &page)
        .await?;
    // A key scoped to connections sees only those (a page may then hold fewer than `limit`;
    // the cursor still walks the environment's list).
    let results: Vec<Value> = connections
        .items
        .iter()
        .filter(|connection| caller.permissions.reaches(&connection.id))
        .map(view)
        .collect();
    let next_cursor = connections.next.as_ref().map(store::Cursor::encode);
    Ok(JsonBody(
        json!({ "results": results, "next_cursor": next_cursor }),
    ))
}

fn parse_id(id: &str) -> Result<ConnectionId, ApiError> {
    ConnectionId::parse(id)
        .map_err(|_| ApiError::not_found(format!("connection `{id}` does not exist")))
}

pub async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let connection = state
        .store
        .get_connection(&caller.environment_id, &parse_id(&id)?)
        .await
        .map_err(|_| ApiError::not_found(format!("connection `{id}` does not exist")))?;
    Ok(JsonBody(view(&connection)))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let connection_id = parse_id(&id)?;
    // The vendor's webhook subscription goes first, while the credentials are still there.
    crate::subscriptions::unsubscribe(&state.operations, &caller.environment_id, &connection_id)
        .await;
    state
        .store
        .delete_connection(&caller.environment_id, &connection_id)
        .await
        .map_err(|error| match error {
            store::StoreError::NotFound => {
                ApiError::not_found(format!("connection `{id}` does not exist"))
            }
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /connections` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    provider: String,
    #[serde(default, deserialize_with = "super::not_null")]
    auth_scheme: Option<String>,
    /// Values of the connector's connection fields, secret or not.
    #[serde(default)]
    fields: Map<String, Value>,
}

impl std::fmt::Debug for CreateConnection {
    // Connection fields may be secrets (tokens, keys): only their names reach Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateConnection")
            .field("provider", &self.provider)
            .field("auth_scheme", &self.auth_scheme)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CreateConnection>,
) -> Result<impl IntoResponse, ApiError> {
    // The environment's overrides apply to a new connection as to every later call on it.
    let effective = match state
        .operations
        .effective_connector(&caller.environment_id, &body.provider, None)
        .await
    {
        Ok(effective) => effective,
        Err(operations::OpError::NotFound(_)) => {
            let known: Vec<&str> = state.connectors.ids().collect();
            return Err(ApiError::invalid(
                "provider",
                format!(
                    "unknown provider `{}` (known: {})",
                    body.provider,
                    known.join(", ")
                ),
            ));
        }
        Err(other) => return Err(other.into()),
    };
    let connector = &effective.connector;
    let scheme_name = connector
        .scheme_name(body.auth_scheme.as_deref())
        .ok_or_else(|| {
            let schemes: Vec<&String> = connector.file().auth.schemes.keys().collect();
            ApiError::invalid(
                "auth_scheme",
                format!(
                    "{} (schemes of `{}`: {})",
                    body.auth_scheme
                        .as_deref()
                        .map_or("is required".to_owned(), |s| format!(
                            "`{s}` does not exist"
                        )),
                    body.provider,
                    schemes
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?
        .to_owned();
    let client_credentials = match connector.file().auth.schemes.get(&scheme_name) {
        Some(AuthScheme::Oauth2 {
            grant: connector::file::OAuthGrant::ClientCredentials,
            ..
        }) => true,
        Some(AuthScheme::Oauth2 { .. }) => {
            return Err(ApiError::Unsupported {
                detail: format!(
                    "scheme `{scheme_name}` signs the end user in with OAuth 2.0: such connections are made through the Connect flow (POST /connect/sessions), not with POST /connections"
                ),
            });
        }
        _ => false,
    };
    let declared = &connector.file().connection_fields;
    for name in body.fields.keys() {
        if !declared.iter().any(|field| &field.name == name) {
            return Err(ApiError::invalid(
                format!("fields.{name}"),
                format!("`{}` declares no connection field `{name}`", body.provider),
            ));
        }
    }
    let mut account = Map::new();
    account.insert("auth_scheme".to_owned(), Value::String(scheme_name.clone()));
    let mut secrets = Map::new();
    for field in declared {
        if !field.schemes.is_empty() && !field.schemes.contains(&scheme_name) {
            continue;
        }
        let given = body
            .fields
            .get(&field.name)
            .map(|value| match value {
                Value::String(text) => Ok(text.trim().to_owned()),
                _ => Err(ApiError::invalid(
                    format!("fields.{}", field.name),
                    "must be a string",
                )),
            })
            .transpose()?
            .filter(|text| !text.is_empty())
            .or_else(|| field.default.clone());
        let Some(value) = given else {
            if field.required_for(&scheme_name) {
                return Err(ApiError::invalid(
                    format!("fields.{}", field.name),
                    format!("is required for scheme `{scheme_name}` ({})", field.label),
                ));
            }
            continue;
        };
        validate_field(field, &value)?;
        match field.kind {
            FieldKind::Secret => secrets.insert(field.name.clone(), Value::String(value)),
            _ => account.insert(field.name.clone(), Value::String(value)),
        };
    }
    let mut expires_at = None;
    if client_credentials {
        expires_at = first_client_credentials_token(
            &state,
            &caller.environment_id,
            connector,
            &scheme_name,
            &mut account,
            &mut secrets,
        )
        .await?;
    }
    let id = ConnectionId::generate();
    let credentials = state
        .keyring
        .seal_json(&Value::Object(secrets), &credentials_aad(&id));
    let connection = state
        .store
        .insert_connection(NewConnection {
            id,
            environment_id: caller.environment_id.clone(),
            provider: body.provider.clone(),
            status: ConnectionStatus::Active,
            account: Value::Object(account),
            credentials,
            credentials_expires_at: expires_at,
        })
        .await?;
    tracing::info!(connection_id = %connection.id, provider = %connection.provider, "connection created");
    super::syncs::start_default_syncs_logged(&state, &connection).await;
    Ok((StatusCode::CREATED, JsonBody(view(&connection))))
}

/// Buys a new connection's first token with the client credentials grant, which also checks
/// the credentials: the token goes into `secrets` and what the connector captures from the
/// answer into `account`; returns when the token expires. Credentials the provider turns down
/// are `ApiError::Unprocessable { code: "credentials_refused", .. }` (the caller's input); a
/// token endpoint that fails is `ApiError::Upstream`.
pub(crate) async fn first_client_credentials_token(
    state: &AppState,
    environment_id: &store::EnvironmentId,
    connector: &connector::Connector,
    scheme: &str,
    account: &mut Map<String, Value>,
    secrets: &mut Map<String, Value>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    // The connector's JSONata over the token answer runs in the evaluation pool.
    let limits = state.operations.evaluation_limits(environment_id).await?;
    let offload = state.operations.evaluation_offload(environment_id, &limits);
    let tokens = client_credentials_token(
        state,
        environment_id,
        connector,
        scheme,
        (account, secrets),
        &offload,
    )
    .await?;
    secrets.insert(
        "access_token".to_owned(),
        Value::String(tokens.access_token.clone()),
    );
    let captured = provider_http::oauth::capture_token_response(
        connector,
        scheme,
        &tokens.response,
        Some(&offload),
    )
    .await
    .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?;
    account.extend(captured);
    Ok(tokens.expires_at)
}

/// Obtains a token with the client credentials grant, from the environment's OAuth app.
async fn client_credentials_token(
    state: &AppState,
    environment_id: &store::EnvironmentId,
    connector: &connector::Connector,
    scheme: &str,
    (account, secrets): (&Map<String, Value>, &Map<String, Value>),
    offload: &provider_http::sender::Offload,
) -> Result<provider_http::oauth::TokenSet, ApiError> {
    let provider = connector.id();
    let endpoints = connector
        .oauth2(scheme, &Value::Object(account.clone()))
        .map_err(|error| ApiError::invalid("fields", error.to_string()))?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("`{scheme}` is not an OAuth scheme")))?;
    let from_connection = matches!(endpoints.client, connector::file::ClientSource::Connection);
    let client = match endpoints.client {
        // The connection's own API credentials (required fields, checked above).
        connector::file::ClientSource::Connection => provider_http::credentials::connection_client(
            &Value::Object(account.clone()),
            &Value::Object(secrets.clone()),
        )
        .ok_or_else(|| ApiError::invalid("fields.client_id", "is required with `client_secret`"))?,
        connector::file::ClientSource::Environment => {
            environment_client(state, environment_id, provider).await?
        }
    };
    state
        .oauth
        .clone()
        .with_offload(Some(offload.clone()))
        .client_credentials(connector, scheme, &endpoints, &client, chrono::Utc::now())
        .await
        .map_err(|error| match error {
            // The provider turned the credentials down (400 `invalid_client`, 401, 403):
            // the caller's input, not a gateway failure.
            provider_http::oauth::OAuthError::Refused(answer)
            | provider_http::oauth::OAuthError::InvalidGrant(answer)
                if (400..500).contains(&answer.status) && answer.status != 429 =>
            {
                ApiError::Unprocessable {
                    code: "credentials_refused",
                    field: Some(if from_connection {
                        "fields.client_secret".to_owned()
                    } else {
                        "auth_scheme".to_owned()
                    }),
                    detail: if from_connection {
                        format!(
                            "the provider refused these client credentials (its token endpoint answered {})",
                            answer.status
                        )
                    } else {
                        format!(
                            "the provider refused the environment's OAuth app for `{provider}` (its token endpoint answered {}): check PUT /environment/oauth-apps/{provider}",
                            answer.status
                        )
                    },
                }
            }
            provider_http::oauth::OAuthError::Refused(answer)
            | provider_http::oauth::OAuthError::InvalidGrant(answer) => ApiError::Upstream {
                code: "token_request_refused",
                detail: format!(
                    "the provider's token endpoint failed ({}); try again",
                    answer.status
                ),
            },
            // A well-formed request whose token endpoint the connector (the operator's
            // `allowed_hosts` included) does not let Crosswalk reach: nothing of the body is
            // malformed, so not a 400 (the long Schemathesis run's client-credentials
            // connection in the demo, whose allowed hosts are the simulators').
            provider_http::oauth::OAuthError::Config(detail) => ApiError::Unprocessable {
                code: "token_endpoint_unreachable",
                field: Some("auth_scheme".to_owned()),
                detail,
            },
            other => ApiError::Upstream {
                code: "upstream_unavailable",
                detail: other.to_string(),
            },
        })
}

/// The environment's OAuth app for `provider`, opened.
async fn environment_client(
    state: &AppState,
    environment_id: &store::EnvironmentId,
    provider: &str,
) -> Result<provider_http::oauth::ClientCredentials, ApiError> {
    let app = state
        .store
        .get_oauth_app(environment_id, provider)
        .await
        .map_err(|error| match error {
            // Well-formed, but the environment lacks what the scheme needs (yet).
            store::StoreError::NotFound => ApiError::Conflict {
                code: "oauth_app_missing",
                detail: format!("`auth_scheme` needs the environment's OAuth app for `{provider}` (PUT /environment/oauth-apps/{provider})"),
            },
            other => other.into(),
        })?;
    let secret = state
        .keyring
        .open(
            &app.client_secret,
            &provider_http::credentials::oauth_app_aad(environment_id, provider),
        )
        .map_err(|error| {
            ApiError::Internal(anyhow::anyhow!(
                "cannot open the OAuth client secret: {error}"
            ))
        })?;
    Ok(provider_http::oauth::ClientCredentials {
        client_id: app.client_id.clone(),
        client_secret: String::from_utf8_lossy(&secret).into_owned(),
    })
}

fn validate_field(field: &connector::file::ConnectionField, value: &str) -> Result<(), ApiError> {
    validate_field_value(field, value)
        .map_err(|reason| ApiError::invalid(format!("fields.{}", field.name), reason))
}

/// Checks one connection-field value against its declaration; the error is a reason that
/// reads after the field's name ("must be one of: …").
pub fn validate_field_value(
    field: &connector::file::ConnectionField,
    value: &str,
) -> Result<(), String> {
    match field.kind {
        FieldKind::Select if !field.options.iter().any(|option| option == value) => {
            return Err(format!("must be one of: {}", field.options.join(", ")));
        }
        FieldKind::Url => {
            let parsed =
                url::Url::parse(value).map_err(|error| format!("is not a URL: {error}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err("must be an http or https URL".to_owned());
            }
        }
        _ => {}
    }
    if let Some(pattern) = &field.pattern {
        let regex = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|error| format!("cannot be checked: {error}"))?;
        if !regex.is_match(value) {
            return Err(format!("does not match `{pattern}`"));
        }
    }
    Ok(())
}
