//! OAuth 2.0 as a connector declares it: endpoints and scopes rendered for one connection,
//! values captured from token responses, and the signal that a refresh was refused for good.
//!
//! The HTTP exchanges themselves (authorization code, refresh, client credentials) are
//! `provider-http`'s; this module only answers questions about the connector file.

use serde_json::{Map, Value, json};

use mapping::Vars;

use crate::file::{AuthScheme, ClientAuth, ClientSource, OAuthGrant, TokenAnswer};
use crate::runtime::{PlanError, ReadError, VendorResponse};
use crate::template::Escape;
use crate::{CompiledAuth, Connector};

/// Refresh this long before expiry when the connector does not say.
pub const DEFAULT_REFRESH_BEFORE_EXPIRY_SECS: u64 = 300;

/// One OAuth 2.0 scheme, rendered for a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthEndpoints {
    pub grant: OAuthGrant,
    pub authorize_url: Option<String>,
    pub token_url: String,
    pub scopes: Vec<String>,
    pub pkce: bool,
    pub client_auth: ClientAuth,
    /// Refresh this many seconds before the access token expires.
    pub refresh_before_expiry_secs: u64,
    /// Whose client id and secret the token endpoint is given.
    pub client: ClientSource,
    /// Where the token answer holds the token and its lifetime (RFC 6749's names when absent).
    pub token_answer: Option<TokenAnswer>,
}

impl Connector {
    /// The OAuth 2.0 endpoints of `scheme` rendered with the connection's `account` fields;
    /// `None` when the scheme is not OAuth 2.0.
    ///
    /// # Errors
    /// Fails when the scheme does not exist or a template misses a value.
    pub fn oauth2(
        &self,
        scheme: &str,
        account: &Value,
    ) -> Result<Option<OAuthEndpoints>, PlanError> {
        let declared = self
            .inner
            .file
            .auth
            .schemes
            .get(scheme)
            .ok_or_else(|| PlanError::UnknownScheme(scheme.to_owned()))?;
        let (
            AuthScheme::Oauth2 {
                grant,
                pkce,
                refresh_before_expiry_secs,
                client_auth,
                client,
                token_answer,
                ..
            },
            Some(CompiledAuth::Oauth2 {
                authorize_url,
                token_url,
                scopes,
                ..
            }),
        ) = (declared, self.inner.auth.get(scheme))
        else {
            return Ok(None);
        };
        let render = Rendering::new(self, account, format!("auth scheme `{scheme}`"));
        Ok(Some(OAuthEndpoints {
            grant: *grant,
            authorize_url: authorize_url
                .as_ref()
                .map(|url| render.one(url, "authorize_url"))
                .transpose()?,
            token_url: render.one(token_url, "token_url")?,
            scopes: render.all(scopes, "scope")?,
            pkce: *pkce,
            client_auth: *client_auth,
            refresh_before_expiry_secs: refresh_before_expiry_secs
                .unwrap_or(DEFAULT_REFRESH_BEFORE_EXPIRY_SECS),
            client: *client,
            token_answer: token_answer.clone(),
        }))
    }

    /// A further token of `scheme` (`tokens.<name>`) as endpoints for the client credentials
    /// grant, rendered with the connection's `account` fields: the scheme's client (`client`)
    /// at the token's own endpoint, scopes, client authentication and answer paths. `None`
    /// when the scheme is not OAuth 2.0 or declares no such token.
    ///
    /// # Errors
    /// Fails when the scheme does not exist or a template misses a value.
    pub fn named_token(
        &self,
        scheme: &str,
        name: &str,
        account: &Value,
    ) -> Result<Option<OAuthEndpoints>, PlanError> {
        let declared = self
            .inner
            .file
            .auth
            .schemes
            .get(scheme)
            .ok_or_else(|| PlanError::UnknownScheme(scheme.to_owned()))?;
        let (
            AuthScheme::Oauth2 { client, tokens, .. },
            Some(CompiledAuth::Oauth2 {
                tokens: compiled, ..
            }),
        ) = (declared, self.inner.auth.get(scheme))
        else {
            return Ok(None);
        };
        let (Some(raw), Some((_, named))) = (
            tokens.get(name),
            compiled.iter().find(|(declared, _)| declared == name),
        ) else {
            return Ok(None);
        };
        let render = Rendering::new(
            self,
            account,
            format!("auth scheme `{scheme}` token `{name}`"),
        );
        Ok(Some(OAuthEndpoints {
            grant: OAuthGrant::ClientCredentials,
            authorize_url: None,
            token_url: render.one(&named.token_url, "token_url")?,
            scopes: render.all(&named.scopes, "scope")?,
            pkce: false,
            client_auth: raw.client_auth,
            refresh_before_expiry_secs: raw
                .refresh_before_expiry_secs
                .unwrap_or(DEFAULT_REFRESH_BEFORE_EXPIRY_SECS),
            client: *client,
            token_answer: raw.token_answer.clone(),
        }))
    }

    /// The account fields `scheme` captures from a token response body (`instance_url`, …).
    ///
    /// # Errors
    /// Fails when a capture expression fails.
    pub fn capture_token_response(
        &self,
        scheme: &str,
        token_response: &Value,
    ) -> Result<Map<String, Value>, ReadError> {
        let mut captured = Map::new();
        if let Some(CompiledAuth::Oauth2 { capture, .. }) = self.inner.auth.get(scheme) {
            for (key, expr) in capture {
                let value =
                    expr.evaluate(Some(token_response), &Vars::new())
                        .map_err(|source| ReadError::Mapping {
                            what: format!("auth scheme `{scheme}` capture `{key}`"),
                            source,
                        })?;
                if let Some(value) = value.filter(|value| !value.is_null()) {
                    captured.insert(key.clone(), value);
                }
            }
        }
        Ok(captured)
    }

    /// Whether a token endpoint's answer refuses the refresh token for good.
    pub fn is_invalid_grant(&self, scheme: &str, response: &VendorResponse) -> bool {
        if response.status < 400 {
            return false;
        }
        match self.inner.auth.get(scheme) {
            Some(CompiledAuth::Oauth2 {
                invalid_grant_when: Some(expr),
                ..
            }) => {
                let input = json!({"status": response.status, "body": response.body});
                matches!(
                    expr.evaluate(Some(&input), &Vars::new()),
                    Ok(Some(Value::Bool(true)))
                )
            }
            _ => response.body.get("error").and_then(Value::as_str) == Some("invalid_grant"),
        }
    }
}

/// A scheme's (or a named token's) templates rendered for one connection: `account`, the
/// connector's `vars` and no environment, with errors naming `what` and the field.
struct Rendering<'a> {
    connector: &'a Connector,
    scope: Value,
    what: String,
}

impl<'a> Rendering<'a> {
    fn new(connector: &'a Connector, account: &Value, what: String) -> Rendering<'a> {
        Rendering {
            connector,
            scope: json!({"account": account, "vars": connector.inner.file.vars, "env": {}}),
            what,
        }
    }

    fn one(&self, template: &crate::template::Template, field: &str) -> Result<String, PlanError> {
        template
            .render(
                &self.scope,
                &self.connector.inner.file.lookups,
                Escape::None,
            )
            .map_err(|source| PlanError::Template {
                what: format!("{} {field}", self.what),
                source,
            })
    }

    fn all(
        &self,
        templates: &[crate::template::Template],
        field: &str,
    ) -> Result<Vec<String>, PlanError> {
        templates
            .iter()
            .map(|template| self.one(template, field))
            .collect()
    }
}
