//! `/environment/…`: the calling environment's OAuth apps (client id and secret per provider,
//! the allow-list of redirect URLs), the branding of its Connect page, and the limits its
//! mappings are evaluated under.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use connector::file::AuthScheme;
use serde::Deserialize;
use serde_json::json;
use store::{Branding, OAuthApp};

use super::JsonBody;
use crate::auth::Caller;
use crate::{ApiError, AppState};

/// `PUT /environment/oauth-apps/{provider}` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutOAuthApp {
    client_id: String,
    client_secret: String,
    /// The product's pages end users may be sent back to after connecting.
    redirect_uris: Vec<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

impl std::fmt::Debug for PutOAuthApp {
    // The client secret never reaches Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutOAuthApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &super::REDACTED)
            .field("redirect_uris", &self.redirect_uris)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Checks a URL the product wants end users sent back to: http or https only (never
/// `javascript:` or `data:`), no fragment, as [`crate::rules::REDIRECT_URL`] states.
pub fn check_redirect_url(field: &str, url: &str) -> Result<(), ApiError> {
    if crate::rules::is_redirect_url(url) {
        return Ok(());
    }
    Err(ApiError::invalid(
        field,
        format!(
            "`{url}` must be an http or https URL with a host name or IPv4 address, an optional port, path and query of visible ASCII, and no fragment"
        ),
    ))
}

pub async fn put_oauth_app(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(provider): Path<String>,
    JsonBody(body): JsonBody<PutOAuthApp>,
) -> Result<impl IntoResponse, ApiError> {
    let connector = state
        .connectors
        .get(&provider)
        .ok_or_else(|| ApiError::not_found(format!("provider `{provider}` does not exist")))?;
    if !connector
        .file()
        .auth
        .schemes
        .values()
        .any(|scheme| matches!(scheme, AuthScheme::Oauth2 { .. }))
    {
        return Err(ApiError::invalid(
            "provider",
            format!("`{provider}` has no OAuth 2.0 scheme"),
        ));
    }
    if crate::rules::is_blank(&body.client_id) {
        return Err(ApiError::invalid("client_id", "must not be empty"));
    }
    if body.client_secret.is_empty() {
        return Err(ApiError::invalid("client_secret", "must not be empty"));
    }
    if body.redirect_uris.is_empty() {
        return Err(ApiError::invalid(
            "redirect_uris",
            "must list at least one URL",
        ));
    }
    for (idx, url) in body.redirect_uris.iter().enumerate() {
        check_redirect_url(&format!("redirect_uris[{idx}]"), url)?;
    }
    let app = OAuthApp {
        environment_id: caller.environment_id.clone(),
        provider: provider.clone(),
        client_id: body.client_id.trim().to_owned(),
        client_secret: state.keyring.seal(
            body.client_secret.as_bytes(),
            &provider_http::credentials::oauth_app_aad(&caller.environment_id, &provider),
        ),
        redirect_uris: body.redirect_uris,
        scopes: body.scopes,
        updated_at: chrono::Utc::now(),
    };
    state.store.put_oauth_app(&app).await?;
    Ok((StatusCode::OK, JsonBody(app_view(&app))))
}

fn app_view(app: &OAuthApp) -> serde_json::Value {
    json!({
        "provider": app.provider,
        "client_id": app.client_id,
        "redirect_uris": app.redirect_uris,
        "scopes": app.scopes,
        "updated_at": app.updated_at,
    })
}

pub async fn get_oauth_app(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(provider): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let app = state
        .store
        .get_oauth_app(&caller.environment_id, &provider)
        .await
        .map_err(|error| match error {
            store::StoreError::NotFound => {
                ApiError::not_found(format!("no OAuth app for `{provider}`"))
            }
            other => other.into(),
        })?;
    Ok(JsonBody(app_view(&app)))
}

pub async fn put_branding(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(branding): JsonBody<Branding>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(color) = &branding.primary_color
        && !(color.len() == 7
            && color.starts_with('#')
            && color[1..].chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(ApiError::invalid(
            "primary_color",
            "must be a colour such as `#0a7cff`",
        ));
    }
    if let Some(logo) = &branding.logo_url
        && !crate::rules::is_web_url(logo)
    {
        return Err(ApiError::invalid(
            "logo_url",
            "must be an http or https URL with a host name or IPv4 address, an optional port, and a path, query and fragment of visible ASCII",
        ));
    }
    // Each allowed redirect is checked as a redirect URL is when a link is made: http or https
    // only (never `javascript:` or `data:`), no fragment.
    for (idx, url) in branding.allowed_redirect_urls.iter().enumerate() {
        check_redirect_url(&format!("allowed_redirect_urls[{idx}]"), url)?;
    }
    state
        .store
        .set_branding(&caller.environment_id, &branding)
        .await?;
    Ok(JsonBody(
        serde_json::to_value(&branding).unwrap_or_default(),
    ))
}

/// `GET /environment/limits`: every evaluation limit of the environment (those it set and the
/// defaults of the others).
pub async fn get_limits(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let limits = state
        .operations
        .evaluation_limits(&caller.environment_id)
        .await?;
    Ok(JsonBody(limits.to_json()))
}

/// `PUT /environment/limits`: replaces the limits the environment sets (an object of limits;
/// one left out has its default); a bad value is refused naming its field.
pub async fn put_limits(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(document): JsonBody<serde_json::Value>,
) -> Result<impl IntoResponse, ApiError> {
    let limits = state
        .operations
        .set_evaluation_limits(&caller.environment_id, &document)
        .await?;
    Ok(JsonBody(limits.to_json()))
}
