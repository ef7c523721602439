//! The Connect flow: the product asks for a short-lived link (`POST /connect/sessions`), the
//! end user opens the hosted page (`GET /connect?token=…`), picks a provider and either fills
//! the fields its connector declares or goes through OAuth (`/connect/oauth/start` →
//! provider → `/connect/oauth/callback`), and lands back on the product's allow-listed
//! redirect URL with the connection id. Works as a redirect and as a popup (the last page posts
//! a message to its opener). Re-authorising a `needs_reauth` connection uses the same page.
//!
//! A link is single-use: the store marks its session used in the very transaction that makes or
//! re-authorises its connection ([`store::Store::complete_connect_session`]), so of two
//! submits or callbacks on one link exactly one lands, and a re-authorisation link can only
//! ever touch its own connection. A link may start a few OAuth sign-ins
//! ([`MAX_OAUTH_STARTS`]), and creating a link purges the sessions and states that expired
//! more than [`PURGE_GRACE_SECS`] ago. Every page answers with headers that keep it out of
//! frames, caches and `Referer`s and allow only its own nonce-tagged style and script; the
//! messages it shows are ours, chosen by a code in its URL, never text taken from the URL.

use axum::Extension;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use connector::Connector;
use connector::file::{AuthScheme, FieldKind};
use provider_http::credentials::{credentials_aad, oauth_app_aad};
use provider_http::oauth::{self, ClientCredentials, OAuthError, Pkce};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use store::{
    ConnectSession, Connection, ConnectionId, ConnectionStatus, ConnectionUpdate, NewConnection,
    NewEvent, OAuthState, SessionCompletion, StoreError,
};

use super::JsonBody;
use super::environment::check_redirect_url;
use crate::auth::Caller;
use crate::{ApiError, AppState};

/// How long a link token lives when the product does not say.
const DEFAULT_SESSION_SECS: i64 = 30 * 60;
/// The longest a link token may live.
const MAX_SESSION_SECS: i64 = 24 * 60 * 60;
/// How long an OAuth authorization may take.
const STATE_SECS: i64 = 10 * 60;
/// How many OAuth sign-ins one link may start; a user who gives up more often than this needs
/// a new link from the product.
pub const MAX_OAUTH_STARTS: u32 = 10;
/// How long after expiry a session (and its states) is kept, so that a late visit still reads
/// "expired" (or "already used") rather than "unknown"; then creating a link purges it.
pub const PURGE_GRACE_SECS: i64 = 60 * 60;

/// `POST /connect/sessions` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    end_user_id: String,
    redirect_url: String,
    #[serde(default, deserialize_with = "super::not_null")]
    provider: Option<String>,
    #[serde(default, deserialize_with = "super::not_null")]
    connection_id: Option<String>,
    #[serde(default, deserialize_with = "super::not_null")]
    ttl_secs: Option<i64>,
}

pub async fn create_session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CreateSession>,
) -> Result<impl IntoResponse, ApiError> {
    if crate::rules::is_blank(&body.end_user_id) {
        return Err(ApiError::invalid("end_user_id", "must not be empty"));
    }
    check_redirect_url("redirect_url", &body.redirect_url)?;
    let branding = state.store.get_branding(&caller.environment_id).await?;
    if !branding
        .allowed_redirect_urls
        .iter()
        .any(|allowed| allowed == &body.redirect_url)
    {
        // A well-formed URL the environment's settings do not allow (yet): a conflict with
        // the environment's state, not a malformed request.
        return Err(ApiError::Conflict {
            code: "redirect_url_not_allowed",
            detail: format!(
                "`redirect_url` `{}` is not in the environment's allowed redirect URLs (PUT /environment/branding `allowed_redirect_urls`)",
                body.redirect_url
            ),
        });
    }
    let mut provider = body.provider.clone();
    if let Some(name) = &provider
        && state.connectors.get(name).is_none()
    {
        return Err(ApiError::invalid(
            "provider",
            format!("unknown provider `{name}`"),
        ));
    }
    let connection_id = match &body.connection_id {
        None => None,
        Some(text) => {
            // The connection named is looked up like any other: 404 when the environment has
            // none of that id.
            let missing = || ApiError::not_found(format!("connection `{text}` does not exist"));
            let id = ConnectionId::parse(text).map_err(|_| missing())?;
            let connection = state
                .store
                .get_connection(&caller.environment_id, &id)
                .await
                .map_err(|_| missing())?;
            if provider
                .as_deref()
                .is_some_and(|name| name != connection.provider)
            {
                return Err(ApiError::Conflict {
                    code: "provider_mismatch",
                    detail: format!(
                        "`provider` differs from connection `{text}`'s provider `{}`",
                        connection.provider
                    ),
                });
            }
            provider = Some(connection.provider.clone());
            Some(id)
        }
    };
    let ttl = body.ttl_secs.unwrap_or(DEFAULT_SESSION_SECS);
    if !(1..=MAX_SESSION_SECS).contains(&ttl) {
        return Err(ApiError::invalid(
            "ttl_secs",
            format!("must be from 1 to {MAX_SESSION_SECS}"),
        ));
    }
    let now = Utc::now();
    // Purge on write: sessions (and the OAuth states they start, capped per session) only ever
    // come from here, so the tables stay bounded by what the grace period admits.
    match state
        .store
        .purge_connect_sessions(now - Duration::seconds(PURGE_GRACE_SECS))
        .await
    {
        Ok(purged) if purged.sessions + purged.oauth_states > 0 => tracing::debug!(
            sessions = purged.sessions,
            oauth_states = purged.oauth_states,
            "expired connect sessions purged"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(error = %error, "cannot purge expired connect sessions"),
    }
    let token = oauth::random_token();
    let session = ConnectSession {
        token_hash: oauth::token_hash(&token),
        environment_id: caller.environment_id.clone(),
        end_user_id: body.end_user_id.clone(),
        provider,
        redirect_url: body.redirect_url.clone(),
        connection_id,
        expires_at: now + Duration::seconds(ttl),
        created_at: now,
        consumed_at: None,
        oauth_starts: 0,
    };
    state.store.insert_connect_session(&session).await?;
    let url = format!("{}/connect?token={token}", state.public_url);
    Ok((
        StatusCode::CREATED,
        JsonBody(json!({"token": token, "url": url, "expires_at": session.expires_at})),
    ))
}

/// A page-level error: shown to the end user in plain words.
pub struct PageError {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl PageError {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> PageError {
        PageError {
            status,
            title,
            detail: detail.into(),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> PageError {
        tracing::error!(error = %error, "connect page store error");
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again in a moment.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        page(
            self.status,
            &store::Branding::default(),
            self.title,
            &format!(
                "<p class=\"error\" role=\"alert\">{}</p>",
                escape(&self.detail)
            ),
        )
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("our header values are ASCII without controls")
}

/// The headers of every Connect route (pages, redirects, errors): its URLs carry a bearer link
/// token or an OAuth code, so nothing may be cached, sent on as a `Referer`, framed (no
/// clickjacking of the consent), or sniffed into another type. A handler that renders HTML
/// sets its own `Content-Security-Policy` with its nonce; the rest get the strictest one.
pub async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, header_value("no-store"));
    headers.insert(header::REFERRER_POLICY, header_value("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, header_value("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, header_value("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            header_value(
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            ),
        );
    }
    response
}

/// A fresh nonce for one page's inline style or script.
fn nonce() -> String {
    // URL-safe base64 without padding: all of it is valid in a CSP nonce.
    oauth::random_token()
}

/// An HTML answer under `policy`, a Content-Security-Policy.
fn html(status: StatusCode, policy: &str, body: String) -> Response {
    (
        status,
        [(header::CONTENT_SECURITY_POLICY, header_value(policy))],
        Html(body),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A Connect page in the environment's branding, with its policy: its one inline style by
/// nonce, the logo's origin for images, forms only to us, no script, no frames.
fn page(status: StatusCode, branding: &store::Branding, title: &str, content: &str) -> Response {
    let nonce = nonce();
    // The logo's origin, serialised by the URL parser (scheme, host and port only).
    let logo_origin = branding
        .logo_url
        .as_deref()
        .and_then(|url| url::Url::parse(url).ok())
        .filter(|url| matches!(url.scheme(), "https" | "http"))
        .map(|url| url.origin().ascii_serialization())
        .filter(|origin| origin.starts_with("http"));
    let img_src = logo_origin.as_deref().unwrap_or("'none'");
    let policy = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; img-src {img_src}; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    html(status, &policy, page_html(&nonce, branding, title, content))
}

fn page_html(nonce: &str, branding: &store::Branding, title: &str, content: &str) -> String {
    let color = branding
        .primary_color
        .as_deref()
        .filter(|c| {
            c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit())
        })
        .unwrap_or("#2f6fed");
    let name = escape(
        branding
            .display_name
            .as_deref()
            .unwrap_or("Connect your account"),
    );
    let logo = branding
        .logo_url
        .as_deref()
        .map(|url| format!("<img class=\"logo\" alt=\"\" src=\"{}\">", escape(url)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style nonce="{nonce}">body{{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}}main{{max-width:28rem;margin:3rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 2px 12px #0001}}
h1{{font-size:1.25rem}}.brand{{display:flex;align-items:center;gap:.75rem;color:{color};font-weight:600}}.logo{{height:32px}}
button,.button{{display:block;box-sizing:border-box;width:100%;margin:.5rem 0;padding:.75rem;border:0;border-radius:8px;background:{color};color:#fff;font:inherit;font-size:1rem;text-align:center;text-decoration:none;cursor:pointer}}
label{{display:block;margin-top:.75rem;font-size:.9rem}}.help{{display:block;margin-top:.25rem;color:#5b6472;font-size:.8rem}}input,select{{width:100%;box-sizing:border-box;padding:.5rem;margin-top:.25rem;border:1px solid #c9ced6;border-radius:6px}}
.error{{color:#b3261e}}.provider{{border-top:1px solid #eceef2;padding-top:1rem;margin-top:1rem}}h2{{font-size:.8rem;letter-spacing:.08em;color:#5b6472;margin:1.5rem 0 0}}h3{{font-size:1.1rem}}</style></head>
<body><main><div class="brand">{logo}<span>{name}</span></div><h1>{title}</h1>{content}</main></body></html>"#,
        title = escape(title),
    )
}

/// Loads a live session by its link token.
/// The connector of `provider` as it applies to the session's environment and, when the session
/// re-authorises one, to that connection: the environment's and the connection's overrides
/// apply to Connect as to every other call. `None` when the provider is not loaded or a stored
/// override no longer applies (logged).
async fn session_connector(
    state: &AppState,
    session: &ConnectSession,
    provider: &str,
) -> Option<connector::Connector> {
    match state
        .operations
        .effective_connector(
            &session.environment_id,
            provider,
            session.connection_id.as_ref(),
        )
        .await
    {
        Ok(effective) => Some(effective.connector),
        Err(operations::OpError::NotFound(_)) => None,
        Err(error) => {
            tracing::warn!(provider, error = %error, "no effective connector for Connect");
            None
        }
    }
}

async fn live_session(state: &AppState, token: &str) -> Result<ConnectSession, PageError> {
    let session = match state
        .store
        .get_connect_session(&oauth::token_hash(token))
        .await
    {
        Ok(session) => session,
        Err(StoreError::NotFound) => return Err(unknown_link()),
        Err(other) => return Err(other.into()),
    };
    if session.consumed_at.is_some() {
        return Err(used_link());
    }
    if session.expires_at <= Utc::now() {
        return Err(PageError::new(
            StatusCode::GONE,
            "This link has expired",
            "Connection links only work for a short time. Please go back to the application and start again.",
        ));
    }
    Ok(session)
}

fn unknown_link() -> PageError {
    PageError::new(
        StatusCode::NOT_FOUND,
        "This link does not work",
        "The connection link is unknown. Please go back to the application and start again.",
    )
}

/// The page of a link that already made or re-authorised its connection.
fn used_link() -> PageError {
    PageError::new(
        StatusCode::GONE,
        "This link was already used",
        "Each connection link works once. Please go back to the application and start again.",
    )
}

/// Why the page is shown again, as the code in its URL (`?error=`). The page maps each code to
/// words of ours; anything else there is ignored, so a crafted link cannot put its own text in
/// the page's alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notice {
    WrongProvider,
    UnknownProvider,
    UseSignIn,
    MissingField,
    InvalidField,
    NoSignIn,
    NoOAuthApp,
    SignInUnavailable,
    TooManySignIns,
    WrongCredentials,
}

impl Notice {
    const ALL: [Notice; 10] = [
        Notice::WrongProvider,
        Notice::UnknownProvider,
        Notice::UseSignIn,
        Notice::MissingField,
        Notice::InvalidField,
        Notice::NoSignIn,
        Notice::NoOAuthApp,
        Notice::SignInUnavailable,
        Notice::TooManySignIns,
        Notice::WrongCredentials,
    ];

    fn code(self) -> &'static str {
        match self {
            Notice::WrongProvider => "wrong_provider",
            Notice::UnknownProvider => "unknown_provider",
            Notice::UseSignIn => "use_sign_in",
            Notice::MissingField => "missing_field",
            Notice::InvalidField => "invalid_field",
            Notice::NoSignIn => "no_sign_in",
            Notice::NoOAuthApp => "no_oauth_app",
            Notice::SignInUnavailable => "sign_in_unavailable",
            Notice::TooManySignIns => "too_many_sign_ins",
            Notice::WrongCredentials => "wrong_credentials",
        }
    }

    fn parse(code: &str) -> Option<Notice> {
        Notice::ALL.into_iter().find(|notice| notice.code() == code)
    }

    /// Our words for the notice; `field` is the connector's field it is about, when the URL
    /// named one the page shows.
    fn text(self, field: Option<&connector::file::ConnectionField>) -> String {
        match (self, field) {
            (Notice::WrongProvider, _) => "This link is for another service.".to_owned(),
            (Notice::UnknownProvider, _) => "Please choose one of the services listed.".to_owned(),
            (Notice::UseSignIn, _) => "Please use the sign-in button for this service.".to_owned(),
            (Notice::MissingField, Some(field)) => format!("Please fill in “{}”.", field.label),
            (Notice::MissingField, None) => "Please fill in every required field.".to_owned(),
            (Notice::InvalidField, Some(field)) => {
                let rule = match field.kind {
                    FieldKind::Select => format!("must be one of: {}", field.options.join(", ")),
                    FieldKind::Url => "must be an http or https URL".to_owned(),
                    _ => "is not in the expected format".to_owned(),
                };
                format!("“{}” {rule}.", field.label)
            }
            (Notice::InvalidField, None) => "A value is not in the expected format.".to_owned(),
            (Notice::NoSignIn, _) => "This service cannot be connected with a sign-in.".to_owned(),
            (Notice::NoOAuthApp, _) => "This application has not been set up to sign in to this service yet. Please contact its support.".to_owned(),
            (Notice::SignInUnavailable, _) => "This service cannot be connected right now.".to_owned(),
            (Notice::WrongCredentials, _) => "The service did not accept these credentials. Please check them and try again.".to_owned(),
            (Notice::TooManySignIns, _) => "This link cannot start another sign-in. Please go back to the application and start again.".to_owned(),
        }
    }
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: String,
    /// A [`Notice`] code; anything else is ignored.
    #[serde(default)]
    error: Option<String>,
    /// The provider and the field of the connector a notice is about.
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    field: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let session = live_session(&state, &query.token).await?;
    let branding = state.store.get_branding(&session.environment_id).await?;
    let names: Vec<String> = match &session.provider {
        Some(name) => vec![name.clone()],
        None => state.connectors.ids().map(str::to_owned).collect(),
    };
    let mut providers = Vec::new();
    for name in &names {
        if let Some(connector) = session_connector(&state, &session, name).await {
            providers.push(connector);
        }
    }
    let mut content = String::new();
    if let Some(notice) = query.error.as_deref().and_then(Notice::parse) {
        let field = providers
            .iter()
            .find(|connector| Some(connector.file().meta.id.as_str()) == query.provider.as_deref())
            .and_then(|connector| {
                connector
                    .file()
                    .connection_fields
                    .iter()
                    .find(|field| Some(field.name.as_str()) == query.field.as_deref())
            });
        content.push_str(&format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(&notice.text(field))
        ));
    }
    content.push_str("<p>Choose the service to connect. Your credentials are sent to it securely and stored encrypted.</p>");
    let token = escape(&query.token);
    // Providers grouped by their first category, in the model's order of categories.
    let category_of = |connector: &Connector| -> String {
        connector
            .file()
            .meta
            .categories
            .first()
            .cloned()
            .unwrap_or_default()
    };
    let mut categories: Vec<String> = unified_model::CATEGORIES
        .iter()
        .map(|category| (*category).to_owned())
        .collect();
    for connector in &providers {
        let category = category_of(connector);
        if !categories.contains(&category) {
            categories.push(category);
        }
    }
    let mut grouped: Vec<(&String, Vec<&Connector>)> = Vec::new();
    for category in &categories {
        let members: Vec<&Connector> = providers
            .iter()
            .filter(|connector| &category_of(connector) == category)
            .collect();
        if !members.is_empty() {
            grouped.push((category, members));
        }
    }
    for (category, members) in grouped {
        content.push_str(&format!(
            "<section class=\"category\" data-category=\"{id}\"><h2>{label}</h2>",
            id = escape(category),
            label = escape(&category.to_uppercase())
        ));
        for connector in members {
            let file = connector.file();
            content.push_str(&format!(
                "<section class=\"provider\" data-provider=\"{id}\"><h3>{label}</h3>",
                id = escape(&file.meta.id),
                label = escape(&file.meta.label)
            ));
            for (scheme_name, scheme) in &file.auth.schemes {
                match scheme {
                    AuthScheme::Oauth2 {
                        grant: connector::file::OAuthGrant::AuthorizationCode,
                        ..
                    } => {
                        content.push_str(&format!(
                        "<a class=\"button\" data-scheme=\"{s}\" href=\"/connect/oauth/start?token={token}&amp;provider={p}&amp;scheme={s}\">Sign in with {label}</a>",
                        s = escape(scheme_name),
                        p = escape(&file.meta.id),
                        label = escape(&file.meta.label)
                    ));
                    }
                    // A sign-in by client credentials the end user brings (API credentials made
                    // per account) is a form like a key's; the environment's client needs none.
                    AuthScheme::Oauth2 {
                        client: connector::file::ClientSource::Environment,
                        ..
                    } => {}
                    _ => {
                        content.push_str(&format!(
                        "<form method=\"post\" action=\"/connect/submit\" data-scheme=\"{s}\"><input type=\"hidden\" name=\"token\" value=\"{token}\"><input type=\"hidden\" name=\"provider\" value=\"{p}\"><input type=\"hidden\" name=\"scheme\" value=\"{s}\">",
                        s = escape(scheme_name),
                        p = escape(&file.meta.id)
                    ));
                        for field in file.connection_fields.iter().filter(|field| {
                            field.schemes.is_empty() || field.schemes.contains(scheme_name)
                        }) {
                            // The connector's help text, tied to the input for screen readers.
                            let (described, help) = match &field.description {
                                Some(text) => {
                                    let id = escape(&format!(
                                        "help-{}-{}-{}",
                                        file.meta.id, scheme_name, field.name
                                    ));
                                    (
                                        format!(" aria-describedby=\"{id}\""),
                                        format!(
                                            "<small class=\"help\" id=\"{id}\">{}</small>",
                                            escape(text)
                                        ),
                                    )
                                }
                                None => (String::new(), String::new()),
                            };
                            let input = match field.kind {
                                FieldKind::Select => {
                                    let options: String = field
                                        .options
                                        .iter()
                                        .map(|option| {
                                            format!("<option>{}</option>", escape(option))
                                        })
                                        .collect();
                                    format!(
                                        "<select name=\"{}\"{described}>{options}</select>",
                                        escape(&field.name)
                                    )
                                }
                                kind => format!(
                                    "<input name=\"{}\" type=\"{}\" autocomplete=\"off\"{}{described}>",
                                    escape(&field.name),
                                    match kind {
                                        FieldKind::Secret => "password",
                                        FieldKind::Url => "url",
                                        _ => "text",
                                    },
                                    if field.required_for(scheme_name) {
                                        " required"
                                    } else {
                                        ""
                                    }
                                ),
                            };
                            content.push_str(&format!(
                                "<label>{}{input}</label>{help}",
                                escape(&field.label)
                            ));
                        }
                        content.push_str(&format!(
                            "<button type=\"submit\">Connect with {}</button></form>",
                            escape(&file.meta.label)
                        ));
                    }
                }
            }
            content.push_str("</section>");
        }
        content.push_str("</section>");
    }
    Ok(page(
        StatusCode::OK,
        &branding,
        "Connect your account",
        &content,
    ))
}

/// JSON for an inline script: `<`, `>` and `&` escaped, so no value can close the element.
fn script_json(value: &Value) -> String {
    serde_json::to_string(value)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The last page: back to the product, as a redirect or to a popup's opener.
fn finish_page(session: &ConnectSession, connection: &Connection) -> Response {
    let mut target = match url::Url::parse(&session.redirect_url) {
        Ok(url) => url,
        Err(_) => return (StatusCode::BAD_REQUEST, "invalid redirect URL").into_response(),
    };
    target
        .query_pairs_mut()
        .append_pair("connection_id", connection.id.as_str())
        .append_pair("provider", &connection.provider)
        .append_pair("status", "connected");
    let origin = target.origin().ascii_serialization();
    let message = script_json(
        &json!({"type": "crosswalk.connected", "connection_id": connection.id.as_str(), "provider": connection.provider}),
    );
    let target_json = script_json(&Value::String(target.as_str().to_owned()));
    let origin_json = script_json(&Value::String(origin));
    let nonce = nonce();
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Connected</title></head><body><p>Connected. You can return to the application.</p>
<script nonce="{nonce}">(function(){{var m={message};var t={target_json};if(window.opener&&!window.opener.closed){{window.opener.postMessage(m,{origin_json});window.close();}}else{{window.location.replace(t);}}}})();</script>
<noscript><a href="{href}">Continue</a></noscript></body></html>"#,
        href = escape(target.as_str())
    );
    html(
        StatusCode::OK,
        &format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; form-action 'none'; \
             frame-ancestors 'none'; base-uri 'none'"
        ),
        body,
    )
}

/// Creates the connection of a session, or re-authorises the session's connection, and uses
/// the session up, in one store transaction: a link that was used meanwhile (a second tab, a
/// replayed form, a second sign-in) changes nothing and gets the "already used" page.
async fn save_connection(
    state: &AppState,
    session: &ConnectSession,
    provider: &str,
    account: Map<String, Value>,
    secrets: Value,
    expires_at: Option<chrono::DateTime<Utc>>,
) -> Result<Connection, PageError> {
    let (completion, event) = match &session.connection_id {
        Some(id) => {
            let sealed = state.keyring.seal_json(&secrets, &credentials_aad(id));
            (
                SessionCompletion::Reauthorize {
                    id: id.clone(),
                    update: ConnectionUpdate {
                        status: Some(ConnectionStatus::Active),
                        account: Some(Value::Object(account)),
                        credentials: Some(sealed),
                        credentials_expires_at: Some(expires_at),
                    },
                },
                NewEvent {
                    environment_id: session.environment_id.clone(),
                    connection_id: Some(id.clone()),
                    kind: "connection.reauthorized".to_owned(),
                    payload: json!({"provider": provider, "end_user_id": session.end_user_id}),
                },
            )
        }
        None => {
            let id = ConnectionId::generate();
            let sealed = state.keyring.seal_json(&secrets, &credentials_aad(&id));
            let mut account = account;
            account.insert(
                "end_user_id".to_owned(),
                Value::String(session.end_user_id.clone()),
            );
            let event = NewEvent {
                environment_id: session.environment_id.clone(),
                connection_id: Some(id.clone()),
                kind: "connection.created".to_owned(),
                payload: json!({"provider": provider, "end_user_id": session.end_user_id}),
            };
            (
                SessionCompletion::Create(NewConnection {
                    id,
                    environment_id: session.environment_id.clone(),
                    provider: provider.to_owned(),
                    status: ConnectionStatus::Active,
                    account: Value::Object(account),
                    credentials: sealed,
                    credentials_expires_at: expires_at,
                }),
                event,
            )
        }
    };
    match state
        .store
        .complete_connect_session(&session.token_hash, Utc::now(), completion, event)
        .await
    {
        Ok((connection, _)) => {
            if session.connection_id.is_none() {
                super::syncs::start_default_syncs_logged(state, &connection).await;
            }
            Ok(connection)
        }
        // Used (or expired) since the page checked it: another use won.
        Err(StoreError::Conflict(_) | StoreError::NotFound) => Err(used_link()),
        Err(other) => Err(other.into()),
    }
}

/// Back to the page with one of our notices (and the connector field it is about).
fn back_to_form(token: &str, notice: Notice, field: Option<(&str, &str)>) -> Response {
    let mut target = url::Url::parse("http://page/connect").expect("a literal URL parses");
    {
        let mut pairs = target.query_pairs_mut();
        pairs
            .append_pair("token", token)
            .append_pair("error", notice.code());
        if let Some((provider, name)) = field {
            pairs
                .append_pair("provider", provider)
                .append_pair("field", name);
        }
    }
    let path = format!("/connect?{}", target.query().unwrap_or_default());
    Redirect::to(&path).into_response()
}

/// `POST /connect/submit`: an API-key, token or basic-auth connection from the page's form.
pub async fn submit(
    State(state): State<AppState>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let value = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.clone())
    };
    let token = value("token").unwrap_or_default();
    let session = live_session(&state, &token).await?;
    let provider = value("provider").unwrap_or_default();
    let scheme = value("scheme").unwrap_or_default();
    if session.provider.as_deref().is_some_and(|p| p != provider) {
        return Ok(back_to_form(&token, Notice::WrongProvider, None));
    }
    let Some(connector) = session_connector(&state, &session, &provider).await else {
        return Ok(back_to_form(&token, Notice::UnknownProvider, None));
    };
    if !matches!(
        connector.file().auth.schemes.get(&scheme),
        Some(
            AuthScheme::Bearer { .. }
                | AuthScheme::ApiKey { .. }
                | AuthScheme::Basic { .. }
                | AuthScheme::Headers { .. }
                // The connection's own client credentials: its token is bought on first use.
                | AuthScheme::Oauth2 {
                    grant: connector::file::OAuthGrant::ClientCredentials,
                    client: connector::file::ClientSource::Connection,
                    ..
                }
        )
    ) {
        return Ok(back_to_form(&token, Notice::UseSignIn, None));
    }
    let mut account = Map::new();
    account.insert("auth_scheme".to_owned(), Value::String(scheme.clone()));
    let mut secrets = Map::new();
    for field in connector
        .file()
        .connection_fields
        .iter()
        .filter(|field| field.schemes.is_empty() || field.schemes.contains(&scheme))
    {
        let given = value(&field.name)
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
            .or_else(|| field.default.clone());
        let Some(given) = given else {
            if field.required_for(&scheme) {
                return Ok(back_to_form(
                    &token,
                    Notice::MissingField,
                    Some((&provider, &field.name)),
                ));
            }
            continue;
        };
        if super::connections::validate_field_value(field, &given).is_err() {
            return Ok(back_to_form(
                &token,
                Notice::InvalidField,
                Some((&provider, &field.name)),
            ));
        }
        match field.kind {
            FieldKind::Secret => secrets.insert(field.name.clone(), Value::String(given)),
            _ => account.insert(field.name.clone(), Value::String(given)),
        };
    }
    // Client credentials are checked before the connection is made: their first token is
    // bought now, and a refusal sends the end user back to the form.
    let mut expires_at = None;
    if let Some(AuthScheme::Oauth2 {
        grant: connector::file::OAuthGrant::ClientCredentials,
        ..
    }) = connector.file().auth.schemes.get(&scheme)
    {
        match super::connections::first_client_credentials_token(
            &state,
            &session.environment_id,
            &connector,
            &scheme,
            &mut account,
            &mut secrets,
        )
        .await
        {
            Ok(expiry) => expires_at = expiry,
            Err(crate::ApiError::Unprocessable {
                code: "credentials_refused",
                ..
            }) => return Ok(back_to_form(&token, Notice::WrongCredentials, None)),
            Err(error) => {
                tracing::warn!(provider = %provider, error = ?error, "the connect page could not buy a client-credentials token");
                return Ok(back_to_form(&token, Notice::SignInUnavailable, None));
            }
        }
    }
    let connection = save_connection(
        &state,
        &session,
        &provider,
        account,
        Value::Object(secrets),
        expires_at,
    )
    .await?;
    Ok(finish_page(&session, &connection))
}

#[derive(Deserialize)]
pub struct StartQuery {
    token: String,
    provider: String,
    #[serde(default)]
    scheme: Option<String>,
}

/// `GET /connect/oauth/start`: sends the browser to the provider's authorization page.
pub async fn oauth_start(
    State(state): State<AppState>,
    Query(query): Query<StartQuery>,
) -> Result<Response, PageError> {
    let session = live_session(&state, &query.token).await?;
    if session
        .provider
        .as_deref()
        .is_some_and(|p| p != query.provider)
    {
        return Ok(back_to_form(&query.token, Notice::WrongProvider, None));
    }
    let Some(connector) = session_connector(&state, &session, &query.provider).await else {
        return Ok(back_to_form(&query.token, Notice::UnknownProvider, None));
    };
    let scheme = match &query.scheme {
        Some(scheme) => scheme.clone(),
        None => connector
            .file()
            .auth
            .schemes
            .iter()
            .find(|(_, scheme)| matches!(scheme, AuthScheme::Oauth2 { .. }))
            .map(|(name, _)| name.clone())
            .unwrap_or_default(),
    };
    let account = json!({});
    let endpoints = match connector.oauth2(&scheme, &account) {
        Ok(Some(endpoints)) => endpoints,
        Ok(None) | Err(_) => {
            return Ok(back_to_form(&query.token, Notice::NoSignIn, None));
        }
    };
    let app = match state
        .store
        .get_oauth_app(&session.environment_id, &query.provider)
        .await
    {
        Ok(app) => app,
        Err(StoreError::NotFound) => {
            return Ok(back_to_form(&query.token, Notice::NoOAuthApp, None));
        }
        Err(other) => return Err(other.into()),
    };
    let mut endpoints = endpoints;
    if let Some(scopes) = &app.scopes {
        endpoints.scopes.clone_from(scopes);
    }
    let pkce = endpoints.pkce.then(Pkce::generate);
    let state_token = oauth::random_token();
    let redirect_uri = format!("{}/connect/oauth/callback", state.public_url);
    let now = Utc::now();
    let verifier = pkce.as_ref().map(|pkce| {
        state.keyring.seal(
            pkce.verifier.as_bytes(),
            format!("oauth-state:{}", oauth::token_hash(&state_token)).as_bytes(),
        )
    });
    // Counted on the session and stored in one transaction, so one link can start only
    // `MAX_OAUTH_STARTS` sign-ins, however fast and from however many processes.
    match state
        .store
        .start_oauth(
            &OAuthState {
                state_hash: oauth::token_hash(&state_token),
                environment_id: session.environment_id.clone(),
                provider: query.provider.clone(),
                scheme: scheme.clone(),
                session_token_hash: session.token_hash.clone(),
                code_verifier: verifier,
                redirect_uri: redirect_uri.clone(),
                connection_id: session.connection_id.clone(),
                expires_at: now + Duration::seconds(STATE_SECS),
                created_at: now,
            },
            now,
            MAX_OAUTH_STARTS,
        )
        .await
    {
        Ok(()) => {}
        // Out of starts, or used (or expired) since it was read just above.
        Err(StoreError::Conflict(_)) => {
            live_session(&state, &query.token).await?;
            return Ok(back_to_form(&query.token, Notice::TooManySignIns, None));
        }
        Err(StoreError::NotFound) => {
            live_session(&state, &query.token).await?;
            return Err(unknown_link());
        }
        Err(other) => return Err(other.into()),
    }
    match oauth::authorize_url(
        &endpoints,
        &app.client_id,
        &redirect_uri,
        &state_token,
        pkce.as_ref(),
    ) {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(error) => {
            tracing::error!(provider = %query.provider, error = %error, "cannot build the authorization URL");
            Ok(back_to_form(&query.token, Notice::SignInUnavailable, None))
        }
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

// The session token, the authorisation code and the OAuth state never reach Debug output.
impl std::fmt::Debug for TokenQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenQuery")
            .field("token", &super::REDACTED)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StartQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartQuery")
            .field("token", &super::REDACTED)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CallbackQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackQuery")
            .field("code", &self.code.as_ref().map(|_| super::REDACTED))
            .field("state", &self.state.as_ref().map(|_| super::REDACTED))
            .field("error", &self.error)
            .finish()
    }
}

/// `GET /connect/oauth/callback`: the provider sends the browser back with a code.
pub async fn oauth_callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    let state_token = query.state.clone().unwrap_or_default();
    let refused = || {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The sign-in was already completed, took too long, or did not start here. Please go back to the application and start again.",
        )
    };
    let pending = match state
        .store
        .take_oauth_state(&oauth::token_hash(&state_token))
        .await
    {
        Ok(pending) => pending,
        Err(StoreError::NotFound) => return Err(refused()),
        Err(other) => return Err(other.into()),
    };
    if pending.expires_at <= Utc::now() {
        return Err(refused());
    }
    let session = match state
        .store
        .get_connect_session(&pending.session_token_hash)
        .await
    {
        Ok(session) if session.consumed_at.is_some() => return Err(used_link()),
        Ok(session) if session.expires_at > Utc::now() => session,
        Ok(_) | Err(StoreError::NotFound) => return Err(refused()),
        Err(other) => return Err(other.into()),
    };
    if session.connection_id != pending.connection_id
        || session.environment_id != pending.environment_id
    {
        return Err(refused());
    }
    if let Some(error) = &query.error {
        // The provider's words (`error_description`) are not shown: whoever sends the browser
        // here chooses them. Only the standard code picks one of our sentences.
        let known = [
            "access_denied",
            "invalid_scope",
            "server_error",
            "temporarily_unavailable",
        ]
        .into_iter()
        .find(|code| code == error);
        tracing::info!(provider = %pending.provider, error = known.unwrap_or("other"), "the provider did not grant access");
        let detail = match known {
            Some("access_denied") => "Access was not granted.",
            Some("server_error" | "temporarily_unavailable") => {
                "The service could not complete the sign-in right now."
            }
            _ => "The service did not complete the sign-in.",
        };
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "The service did not grant access",
            format!("{detail} Please go back to the application and try again."),
        ));
    }
    let code = query.code.clone().ok_or_else(refused)?;
    let Some(connector) = session_connector(&state, &session, &pending.provider).await else {
        return Err(refused());
    };
    let connector = &connector;
    let endpoints = connector
        .oauth2(&pending.scheme, &json!({}))
        .ok()
        .flatten()
        .ok_or_else(refused)?;
    let app = state
        .store
        .get_oauth_app(&pending.environment_id, &pending.provider)
        .await?;
    let client_secret = state
        .keyring
        .open(
            &app.client_secret,
            &oauth_app_aad(&pending.environment_id, &pending.provider),
        )
        .map_err(|error| {
            tracing::error!(error = %error, "cannot open the OAuth client secret");
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again in a moment.",
            )
        })?;
    let verifier = match &pending.code_verifier {
        Some(sealed) => Some(
            state
                .keyring
                .open(
                    sealed,
                    format!("oauth-state:{}", pending.state_hash).as_bytes(),
                )
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .map_err(|_| refused())?,
        ),
        None => None,
    };
    let client = ClientCredentials {
        client_id: app.client_id.clone(),
        client_secret: String::from_utf8_lossy(&client_secret).into_owned(),
    };
    // The connector's JSONata over the token answer runs in the evaluation pool, under the
    // environment's cap and limits (their defaults if they cannot be read).
    let limits = state
        .operations
        .evaluation_limits(&pending.environment_id)
        .await
        .unwrap_or_default();
    let offload = state
        .operations
        .evaluation_offload(&pending.environment_id, &limits);
    let tokens = match state
        .oauth
        .clone()
        .with_offload(Some(offload.clone()))
        .exchange_code(
            connector,
            &pending.scheme,
            &endpoints,
            &client,
            &code,
            &pending.redirect_uri,
            verifier.as_deref(),
            Utc::now(),
        )
        .await
    {
        Ok(tokens) => tokens,
        Err(error) => {
            let detail = match &error {
                OAuthError::InvalidGrant(_) | OAuthError::Refused(_) => {
                    "The service refused the sign-in."
                }
                _ => "The service could not be reached.",
            };
            tracing::warn!(provider = %pending.provider, error = %error, "authorization code exchange failed");
            return Err(PageError::new(
                StatusCode::BAD_GATEWAY,
                "This sign-in cannot be completed",
                format!("{detail} Please go back to the application and try again."),
            ));
        }
    };
    let mut account = Map::new();
    account.insert(
        "auth_scheme".to_owned(),
        Value::String(pending.scheme.clone()),
    );
    match provider_http::oauth::capture_token_response(
        connector,
        &pending.scheme,
        &tokens.response,
        Some(&offload),
    )
    .await
    {
        Ok(captured) => account.extend(captured),
        Err(error) => {
            tracing::error!(provider = %pending.provider, error = %error, "token response capture failed");
            return Err(PageError::new(
                StatusCode::BAD_GATEWAY,
                "This sign-in cannot be completed",
                "The service's answer was not understood.",
            ));
        }
    }
    let mut secrets = Map::new();
    secrets.insert(
        "access_token".to_owned(),
        Value::String(tokens.access_token.clone()),
    );
    if let Some(refresh) = &tokens.refresh_token {
        secrets.insert("refresh_token".to_owned(), Value::String(refresh.clone()));
    }
    let connection = save_connection(
        &state,
        &session,
        &pending.provider,
        account,
        Value::Object(secrets),
        tokens.expires_at,
    )
    .await?;
    Ok(finish_page(&session, &connection))
}
