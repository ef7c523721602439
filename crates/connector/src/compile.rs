//! Validation and compilation of a typed connector file into a [`Connector`].
//!
//! Every template is parsed and every JSONata field compiled here, once per connector
//! revision; cross-references (`use: contacts.search`, discovery requests, auth scheme names)
//! are checked. Errors name the path inside the file.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use mapping::Expr;

use crate::file::{AuthScheme, ConnectorFile, Method, Pagination, Route};
use crate::load::LoadError;
use crate::template::Template;
use crate::{
    CompiledAuth, CompiledDiscovery, CompiledEnrichment, CompiledErrorRule, CompiledMethod,
    CompiledOperation, CompiledPagination, CompiledRoute, Connector, ConnectorInner,
};

struct Compiler<'a> {
    file: &'a str,
}

impl Compiler<'_> {
    fn error(&self, path: &str, message: impl Into<String>) -> LoadError {
        LoadError::new(self.file, Some(path.to_owned()), None, message)
    }

    fn expr(&self, path: &str, source: &str) -> Result<Expr, LoadError> {
        Expr::compile(source).map_err(|error| self.error(path, format!("invalid JSONata: {error}")))
    }

    /// A record mapping, with its additive `record_mapping_merge` folded in.
    fn record_mapping(
        &self,
        path: &str,
        base: &str,
        merge: Option<&str>,
    ) -> Result<Expr, LoadError> {
        self.expr(&format!("{path}.record_mapping"), base)?;
        let Some(merge) = merge else {
            return self.expr(&format!("{path}.record_mapping"), base);
        };
        self.expr(&format!("{path}.record_mapping_merge"), merge)?;
        let combined = format!(
            "($crosswalk_base := ({base}); $crosswalk_extra := ({merge}); \
             $type($crosswalk_extra) = \"object\" ? $merge([$crosswalk_base, $crosswalk_extra]) : $crosswalk_base)"
        );
        self.expr(&format!("{path}.record_mapping_merge"), &combined)
    }

    fn opt_expr(&self, path: &str, source: Option<&String>) -> Result<Option<Expr>, LoadError> {
        source.map(|source| self.expr(path, source)).transpose()
    }

    fn template(&self, path: &str, source: &str) -> Result<Template, LoadError> {
        let template = Template::parse(source)
            .map_err(|error| self.error(path, format!("invalid template: {error}")))?;
        if let Some(root) = template
            .roots()
            .find(|root| !matches!(*root, "account" | "credentials" | "vars" | "id" | "env"))
        {
            return Err(self.error(
                path,
                format!(
                    "template root `{root}` is unknown (use account, credentials, vars, id or env)"
                ),
            ));
        }
        Ok(template)
    }

    fn templates(
        &self,
        path: &str,
        map: &IndexMap<String, String>,
    ) -> Result<Vec<(String, Template)>, LoadError> {
        map.iter()
            .map(|(name, source)| {
                Ok((
                    name.clone(),
                    self.template(&format!("{path}.{name}"), source)?,
                ))
            })
            .collect()
    }

    fn method(&self, path: &str, method: &Method) -> Result<CompiledMethod, LoadError> {
        let pagination = match &method.pagination {
            Pagination::None => CompiledPagination::None,
            Pagination::Cursor { token_expr, .. } => CompiledPagination::Cursor {
                token: self.expr(&format!("{path}.pagination.token_expr"), token_expr)?,
            },
            Pagination::Keyset {
                sort_key_expr,
                inner,
                has_more_expr,
                ..
            } => CompiledPagination::Keyset {
                has_more: self.opt_expr(
                    &format!("{path}.pagination.has_more_expr"),
                    has_more_expr.as_ref(),
                )?,
                sort_key: self.expr(&format!("{path}.pagination.sort_key_expr"), sort_key_expr)?,
                inner_token: inner
                    .as_ref()
                    .map(|inner| {
                        self.expr(
                            &format!("{path}.pagination.inner.token_expr"),
                            &inner.token_expr,
                        )
                    })
                    .transpose()?,
            },
            Pagination::Offset {
                has_more_expr,
                next_offset_expr,
                ..
            } => CompiledPagination::Offset {
                has_more: self.opt_expr(
                    &format!("{path}.pagination.has_more_expr"),
                    has_more_expr.as_ref(),
                )?,
                next_offset: self.opt_expr(
                    &format!("{path}.pagination.next_offset_expr"),
                    next_offset_expr.as_ref(),
                )?,
            },
            Pagination::Page { has_more_expr, .. } => CompiledPagination::Page {
                has_more: self.opt_expr(
                    &format!("{path}.pagination.has_more_expr"),
                    has_more_expr.as_ref(),
                )?,
            },
            Pagination::LinkHeader { .. } => CompiledPagination::LinkHeader,
            Pagination::NextUrl { url_expr, .. } => CompiledPagination::NextUrl {
                url: self.expr(&format!("{path}.pagination.url_expr"), url_expr)?,
            },
            Pagination::Local {
                sort_key_expr,
                page_size,
            } => {
                if page_size.param.is_some() {
                    return Err(self.error(
                        &format!("{path}.pagination.page_size.param"),
                        "a `local` page size is not sent to the vendor: drop `param`",
                    ));
                }
                CompiledPagination::Local {
                    sort_key: self
                        .expr(&format!("{path}.pagination.sort_key_expr"), sort_key_expr)?,
                }
            }
            Pagination::Windows {
                start_expr,
                end_expr,
                months,
                inner,
                ..
            } => {
                if *months == Some(0) {
                    return Err(self.error(
                        &format!("{path}.pagination.months"),
                        "a window is at least one month",
                    ));
                }
                CompiledPagination::Windows {
                    start: self.expr(&format!("{path}.pagination.start_expr"), start_expr)?,
                    end: self
                        .opt_expr(&format!("{path}.pagination.end_expr"), end_expr.as_ref())?,
                    inner_token: inner
                        .as_ref()
                        .map(|inner| {
                            self.expr(
                                &format!("{path}.pagination.inner.token_expr"),
                                &inner.token_expr,
                            )
                        })
                        .transpose()?,
                }
            }
        };
        if let Some(size) = method.pagination.page_size()
            && (size.default == 0 || size.max == 0 || size.default > size.max)
        {
            return Err(self.error(
                &format!("{path}.pagination.page_size"),
                "`default` and `max` must be positive and `default` ≤ `max`",
            ));
        }
        Ok(CompiledMethod {
            raw: method.clone(),
            path: self.template(&format!("{path}.path"), &method.path)?,
            base_url: method
                .base_url
                .as_ref()
                .map(|base| self.template(&format!("{path}.base_url"), base))
                .transpose()?,
            query: self.templates(&format!("{path}.query"), &method.query)?,
            headers: self.templates(&format!("{path}.headers"), &method.headers)?,
            records: self.opt_expr(&format!("{path}.records"), method.records.as_ref())?,
            record: self.opt_expr(&format!("{path}.record"), method.record.as_ref())?,
            pagination,
        })
    }

    /// A route's `chunk`: a limit is required, and the merge key is compiled.
    fn chunk(
        &self,
        path: &str,
        chunk: Option<&crate::file::Chunk>,
    ) -> Result<Option<crate::CompiledChunk>, LoadError> {
        let Some(chunk) = chunk else {
            return Ok(None);
        };
        if chunk.max_items.is_none() && chunk.max_bytes.is_none() {
            return Err(self.error(path, "set `max_items`, `max_bytes` or both"));
        }
        if chunk.max_items == Some(0) || chunk.max_bytes == Some(0) {
            return Err(self.error(path, "`max_items` and `max_bytes` must be positive"));
        }
        if chunk.separator.as_deref() == Some("") {
            return Err(self.error(&format!("{path}.separator"), "must not be empty"));
        }
        let merge_key = self.expr(
            &format!("{path}.merge_key"),
            chunk.merge_key.as_deref().unwrap_or("id"),
        )?;
        Ok(Some(crate::CompiledChunk {
            raw: chunk.clone(),
            merge_key,
        }))
    }

    fn routes(
        &self,
        path: &str,
        routes: &[Route],
        methods: &HashMap<String, Arc<CompiledMethod>>,
    ) -> Result<Vec<CompiledRoute>, LoadError> {
        if routes.is_empty() {
            return Err(self.error(path, "at least one route is required"));
        }
        let mut seen = Vec::new();
        routes
            .iter()
            .enumerate()
            .map(|(idx, route)| {
                let route_path = format!("{path}[{idx}]");
                let method = methods.get(&route.uses).ok_or_else(|| {
                    self.error(
                        &format!("{route_path}.use"),
                        format!("`{}` names no `resource.method` in `resources`", route.uses),
                    )
                })?;
                let id = route.id.clone().unwrap_or_else(|| route.uses.clone());
                if seen.contains(&id) {
                    return Err(self.error(
                        &format!("{route_path}.id"),
                        format!("route id `{id}` is used twice"),
                    ));
                }
                seen.push(id.clone());
                Ok(CompiledRoute {
                    id,
                    uses: route.uses.clone(),
                    method: Arc::clone(method),
                    when: self.opt_expr(&format!("{route_path}.when"), route.when.as_ref())?,
                    query_mapping: self.opt_expr(
                        &format!("{route_path}.query_mapping"),
                        route.query_mapping.as_ref(),
                    )?,
                    header_mapping: self.opt_expr(
                        &format!("{route_path}.header_mapping"),
                        route.header_mapping.as_ref(),
                    )?,
                    body_mapping: self.opt_expr(
                        &format!("{route_path}.body_mapping"),
                        route.body_mapping.as_ref(),
                    )?,
                    id_mapping: self.opt_expr(
                        &format!("{route_path}.id_mapping"),
                        route.id_mapping.as_ref(),
                    )?,
                    record_filter: self.opt_expr(
                        &format!("{route_path}.record_filter"),
                        route.record_filter.as_ref(),
                    )?,
                    chunk: self.chunk(&format!("{route_path}.chunk"), route.chunk.as_ref())?,
                    enrich: route
                        .enrich
                        .iter()
                        .enumerate()
                        .map(|(idx, enrich)| {
                            self.enrich(&format!("{route_path}.enrich[{idx}]"), enrich, methods)
                        })
                        .collect::<Result<_, _>>()?,
                })
            })
            .collect()
    }

    /// A route's `enrich` entry: its method exists, it takes records in groups of at least one,
    /// and its expressions compile.
    fn enrich(
        &self,
        path: &str,
        enrich: &crate::file::Enrich,
        methods: &HashMap<String, Arc<CompiledMethod>>,
    ) -> Result<crate::CompiledEnrich, LoadError> {
        let method = methods.get(&enrich.uses).ok_or_else(|| {
            self.error(
                &format!("{path}.use"),
                format!(
                    "`{}` names no `resource.method` in `resources`",
                    enrich.uses
                ),
            )
        })?;
        if enrich.max_items == 0 {
            return Err(self.error(&format!("{path}.max_items"), "must be positive"));
        }
        if enrich.all_pages {
            if matches!(
                method.raw.pagination,
                crate::file::Pagination::None | crate::file::Pagination::Local { .. }
            ) {
                return Err(self.error(
                    &format!("{path}.all_pages"),
                    format!(
                        "`{}` has no pagination the vendor pages by (not `none` or `local`)",
                        enrich.uses
                    ),
                ));
            }
            if enrich.key.is_none() {
                return Err(self.error(
                    &format!("{path}.key"),
                    "is required with all_pages (the answers of every page are matched by key)",
                ));
            }
        }
        Ok(crate::CompiledEnrich {
            uses: enrich.uses.clone(),
            method: Arc::clone(method),
            route: Box::new(CompiledRoute {
                id: path.to_owned(),
                uses: enrich.uses.clone(),
                method: Arc::clone(method),
                when: None,
                query_mapping: self.opt_expr(
                    &format!("{path}.query_mapping"),
                    enrich.query_mapping.as_ref(),
                )?,
                header_mapping: None,
                body_mapping: self.opt_expr(
                    &format!("{path}.body_mapping"),
                    enrich.body_mapping.as_ref(),
                )?,
                id_mapping: self
                    .opt_expr(&format!("{path}.id_mapping"), enrich.id_mapping.as_ref())?,
                record_filter: None,
                chunk: None,
                enrich: Vec::new(),
            }),
            max_items: enrich.max_items,
            record_key: self.expr(
                &format!("{path}.record_key"),
                enrich.record_key.as_deref().unwrap_or("id"),
            )?,
            key: match &enrich.key {
                Some(key) => Some(self.expr(&format!("{path}.key"), key)?),
                None if enrich.max_items == 1 => None,
                None => {
                    return Err(self.error(
                        &format!("{path}.key"),
                        "is required unless max_items is 1 (then each answer belongs to the one record it was asked for)",
                    ));
                }
            },
            merge: self.expr(&format!("{path}.merge"), &enrich.merge)?,
            all_pages: enrich.all_pages,
        })
    }
}

impl Compiler<'_> {
    /// One request of a bulk export, compiled as a route without `when`.
    fn step(
        &self,
        path: &str,
        uses: &str,
        query_mapping: Option<&String>,
        body_mapping: Option<&String>,
        methods: &HashMap<String, Arc<CompiledMethod>>,
    ) -> Result<CompiledRoute, LoadError> {
        let method = methods.get(uses).ok_or_else(|| {
            self.error(
                &format!("{path}.use"),
                format!("`{uses}` names no `resource.method` in `resources`"),
            )
        })?;
        Ok(CompiledRoute {
            id: path.to_owned(),
            uses: uses.to_owned(),
            method: Arc::clone(method),
            when: None,
            query_mapping: self.opt_expr(&format!("{path}.query_mapping"), query_mapping)?,
            header_mapping: None,
            body_mapping: self.opt_expr(&format!("{path}.body_mapping"), body_mapping)?,
            id_mapping: None,
            record_filter: None,
            chunk: None,
            enrich: Vec::new(),
        })
    }

    /// A list's `bulk` export: every step names a method, its expressions compile, the page
    /// size bounds hold and the delimiter is one character.
    fn bulk(
        &self,
        path: &str,
        bulk: &crate::file::BulkRead,
        methods: &HashMap<String, Arc<CompiledMethod>>,
    ) -> Result<crate::CompiledBulk, LoadError> {
        let count = match &bulk.count {
            Some(count) => Some((
                self.step(
                    &format!("{path}.count"),
                    &count.uses,
                    count.query_mapping.as_ref(),
                    count.body_mapping.as_ref(),
                    methods,
                )?,
                self.expr(&format!("{path}.count.count_expr"), &count.count_expr)?,
            )),
            None => None,
        };
        let poll = &bulk.poll;
        if poll.initial_delay_ms == 0 || poll.max_delay_ms < poll.initial_delay_ms {
            return Err(self.error(
                &format!("{path}.poll"),
                "`initial_delay_ms` must be positive and at most `max_delay_ms`",
            ));
        }
        let results = &bulk.results;
        let size = &results.page_size;
        if size.default == 0 || size.max == 0 || size.default > size.max {
            return Err(self.error(
                &format!("{path}.results.page_size"),
                "`default` and `max` must be positive and `default` ≤ `max`",
            ));
        }
        let delimiter = match results.delimiter.as_deref() {
            None => b',',
            Some(text) if text.len() == 1 && text.is_ascii() => text.as_bytes()[0],
            Some(_) => {
                return Err(self.error(
                    &format!("{path}.results.delimiter"),
                    "must be one ASCII character",
                ));
            }
        };
        Ok(crate::CompiledBulk {
            raw: bulk.clone(),
            count,
            create: self.step(
                &format!("{path}.create"),
                &bulk.create.uses,
                bulk.create.query_mapping.as_ref(),
                bulk.create.body_mapping.as_ref(),
                methods,
            )?,
            job_id: self.expr(
                &format!("{path}.create.job_id_expr"),
                &bulk.create.job_id_expr,
            )?,
            poll: self.step(&format!("{path}.poll"), &poll.uses, None, None, methods)?,
            done_when: self.expr(&format!("{path}.poll.done_when"), &poll.done_when)?,
            failed_when: self.expr(&format!("{path}.poll.failed_when"), &poll.failed_when)?,
            message: self.opt_expr(
                &format!("{path}.poll.message_expr"),
                poll.message_expr.as_ref(),
            )?,
            results: self.step(
                &format!("{path}.results"),
                &results.uses,
                None,
                None,
                methods,
            )?,
            next_locator: self.expr(
                &format!("{path}.results.next_locator_expr"),
                &results.next_locator_expr,
            )?,
            delimiter,
        })
    }
}

/// The word before a token in `Authorization`: `Bearer` unless the file names one.
fn token_prefix_word(
    compiler: &Compiler<'_>,
    path: &str,
    declared: Option<&str>,
) -> Result<String, LoadError> {
    match declared {
        None => Ok("Bearer".to_owned()),
        Some(prefix) if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(prefix.to_owned())
        }
        Some(_) => Err(compiler.error(path, "must be one word of visible ASCII characters")),
    }
}

impl Pagination {
    /// The page size bounds of a paging kind.
    pub fn page_size(&self) -> Option<&crate::file::PageSize> {
        match self {
            Pagination::None => None,
            Pagination::Cursor { page_size, .. }
            | Pagination::Keyset { page_size, .. }
            | Pagination::Offset { page_size, .. }
            | Pagination::Page { page_size, .. }
            | Pagination::LinkHeader { page_size, .. }
            | Pagination::NextUrl { page_size, .. }
            | Pagination::Local { page_size, .. }
            | Pagination::Windows { page_size, .. } => Some(page_size),
        }
    }
}

/// Validates and compiles a typed connector file.
///
/// # Errors
/// Fails with the path of the first invalid template, JSONata expression or reference.
pub fn compile(file: &str, typed: ConnectorFile) -> Result<Connector, LoadError> {
    let compiler = Compiler { file };
    let id = &typed.meta.id;
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(compiler.error("meta.id", "must be a lowercase slug"));
    }
    if typed.auth.schemes.is_empty() {
        return Err(compiler.error("auth.schemes", "at least one scheme is required"));
    }
    if let Some(default) = &typed.auth.default_scheme
        && !typed.auth.schemes.contains_key(default)
    {
        return Err(compiler.error(
            "auth.default_scheme",
            format!("`{default}` is not a scheme in `auth.schemes`"),
        ));
    }
    for (idx, field) in typed.connection_fields.iter().enumerate() {
        for scheme in &field.schemes {
            if !typed.auth.schemes.contains_key(scheme) {
                return Err(compiler.error(
                    &format!("connection_fields[{idx}].schemes"),
                    format!("`{scheme}` is not a scheme in `auth.schemes`"),
                ));
            }
        }
        for scheme in &field.required_schemes {
            let used = field.schemes.is_empty() || field.schemes.contains(scheme);
            if !typed.auth.schemes.contains_key(scheme) || !used {
                return Err(compiler.error(
                    &format!("connection_fields[{idx}].required_schemes"),
                    format!("`{scheme}` is not a scheme in `auth.schemes` that uses the field"),
                ));
            }
        }
        if let Some(pattern) = &field.pattern
            && regex_is_invalid(pattern)
        {
            return Err(compiler.error(
                &format!("connection_fields[{idx}].pattern"),
                "invalid regular expression",
            ));
        }
    }
    let mut auth = IndexMap::new();
    for (name, scheme) in &typed.auth.schemes {
        let path = format!("auth.schemes.{name}");
        let compiled = match scheme {
            AuthScheme::Bearer { token } => CompiledAuth::Bearer {
                token: compiler.template(&format!("{path}.token"), token)?,
            },
            AuthScheme::ApiKey {
                location,
                name,
                value,
            } => CompiledAuth::ApiKey {
                location: *location,
                name: name.clone(),
                value: compiler.template(&format!("{path}.value"), value)?,
            },
            AuthScheme::Basic { username, password } => CompiledAuth::Basic {
                username: compiler.template(&format!("{path}.username"), username)?,
                password: compiler.template(&format!("{path}.password"), password)?,
            },
            AuthScheme::Headers { headers } => {
                if headers.is_empty() {
                    return Err(compiler.error(
                        &format!("{path}.headers"),
                        "at least one header is required",
                    ));
                }
                CompiledAuth::Headers {
                    headers: compiler.templates(&format!("{path}.headers"), headers)?,
                }
            }
            AuthScheme::Oauth2 {
                token_url,
                authorize_url,
                capture,
                scopes,
                invalid_grant_when,
                token_prefix,
                tokens,
                ..
            } => CompiledAuth::Oauth2 {
                tokens: tokens
                    .iter()
                    .map(|(token, declared)| {
                        let at = format!("{path}.tokens.{token}");
                        Ok((
                            token.clone(),
                            crate::CompiledNamedToken {
                                token_url: compiler
                                    .template(&format!("{at}.token_url"), &declared.token_url)?,
                                scopes: declared
                                    .scopes
                                    .iter()
                                    .enumerate()
                                    .map(|(idx, scope)| {
                                        compiler.template(&format!("{at}.scopes[{idx}]"), scope)
                                    })
                                    .collect::<Result<_, _>>()?,
                                token_prefix: token_prefix_word(
                                    &compiler,
                                    &format!("{at}.token_prefix"),
                                    declared.token_prefix.as_deref(),
                                )?,
                            },
                        ))
                    })
                    .collect::<Result<_, LoadError>>()?,
                token: Template::parse("{{credentials.access_token}}")
                    .map_err(|error| compiler.error(&path, error.to_string()))?,
                token_prefix: token_prefix_word(
                    &compiler,
                    &format!("{path}.token_prefix"),
                    token_prefix.as_deref(),
                )?,
                token_url: compiler.template(&format!("{path}.token_url"), token_url)?,
                authorize_url: authorize_url
                    .as_ref()
                    .map(|url| compiler.template(&format!("{path}.authorize_url"), url))
                    .transpose()?,
                scopes: scopes
                    .iter()
                    .enumerate()
                    .map(|(idx, scope)| compiler.template(&format!("{path}.scopes[{idx}]"), scope))
                    .collect::<Result<_, _>>()?,
                capture: capture
                    .iter()
                    .map(|(key, source)| {
                        Ok((
                            key.clone(),
                            compiler.expr(&format!("{path}.capture.{key}"), source)?,
                        ))
                    })
                    .collect::<Result<_, LoadError>>()?,
                invalid_grant_when: compiler.opt_expr(
                    &format!("{path}.invalid_grant_when"),
                    invalid_grant_when.as_ref(),
                )?,
            },
        };
        auth.insert(name.clone(), compiled);
    }
    let base_url = compiler.template("http.base_url", &typed.http.base_url)?;
    let headers = compiler.templates("http.headers", &typed.http.headers)?;
    if typed.http.allowed_hosts.is_empty() {
        return Err(compiler.error("http.allowed_hosts", "at least one host is required"));
    }
    let mut allowed_hosts = Vec::new();
    for (index, host) in typed.http.allowed_hosts.iter().enumerate() {
        allowed_hosts.push(
            crate::origin::OriginPattern::parse(host)
                .map_err(|why| compiler.error(&format!("http.allowed_hosts[{index}]"), why))?,
        );
    }

    let mut methods = HashMap::new();
    for (resource, resource_methods) in &typed.resources {
        for (name, method) in resource_methods {
            let compiled = compiler.method(&format!("resources.{resource}.{name}"), method)?;
            // A named token must be one an OAuth 2.0 scheme of the file declares.
            if let Some(token) = &method.token {
                let declared = typed.auth.schemes.values().any(|scheme| {
                    matches!(scheme, AuthScheme::Oauth2 { tokens, .. } if tokens.contains_key(token))
                });
                if !declared {
                    return Err(compiler.error(
                        &format!("resources.{resource}.{name}.token"),
                        format!("no OAuth 2.0 scheme in `auth.schemes` declares a token `{token}` (`tokens`)"),
                    ));
                }
            }
            methods.insert(format!("{resource}.{name}"), Arc::new(compiled));
        }
    }

    let errors = &typed.errors;
    let mut error_rules = Vec::new();
    for (idx, rule) in errors.rules.iter().enumerate() {
        if errors.rules[..idx].iter().any(|other| other.id == rule.id) {
            return Err(compiler.error(
                &format!("errors.rules[{idx}].id"),
                format!("rule id `{}` is used twice", rule.id),
            ));
        }
        error_rules.push(CompiledErrorRule {
            rule: rule.clone(),
            when: compiler.expr(&format!("errors.rules[{idx}].when"), &rule.when)?,
        });
    }
    let detect_when = compiler.opt_expr("errors.detect_when", errors.detect_when.as_ref())?;
    let message_expr = compiler.opt_expr("errors.message_expr", errors.message_expr.as_ref())?;
    let vendor_code_expr =
        compiler.opt_expr("errors.vendor_code_expr", errors.vendor_code_expr.as_ref())?;
    let field_expr = compiler.opt_expr("errors.field_expr", errors.field_expr.as_ref())?;

    if let Some(limits) = &typed.rate_limits {
        for (idx, bucket) in limits.buckets.iter().enumerate() {
            if bucket.kind == crate::file::BucketKind::TokenBucket && bucket.refill_tokens.is_none()
            {
                return Err(compiler.error(
                    &format!("rate_limits.buckets[{idx}].refill_tokens"),
                    "a `token_bucket` needs `refill_tokens` (tokens given back every `refill_every_ms`)",
                ));
            }
            if bucket.capacity == 0 || bucket.refill() == 0 || bucket.refill_every_ms == 0 {
                return Err(compiler.error(
                    &format!("rate_limits.buckets[{idx}]"),
                    "`capacity`, `refill_tokens` and `refill_every_ms` must be positive",
                ));
            }
            if bucket.kind == crate::file::BucketKind::SlidingWindow
                && bucket.refill() != bucket.capacity
            {
                return Err(compiler.error(
                    &format!("rate_limits.buckets[{idx}].refill_tokens"),
                    "a `sliding_window` bucket gives back its whole `capacity` per window: leave `refill_tokens` out",
                ));
            }
        }
    }
    if let Some(headers) = typed
        .rate_limits
        .as_ref()
        .and_then(|limits| limits.headers.as_ref())
        && headers.window.is_some()
        && headers.window_unit.is_none()
    {
        return Err(compiler.error(
            "rate_limits.headers.window_unit",
            "a `window` header needs its unit (`seconds` or `milliseconds`)",
        ));
    }
    let daily_quota = typed
        .rate_limits
        .as_ref()
        .map(|limits| {
            compiler.opt_expr(
                "rate_limits.daily_quota_expr",
                limits.daily_quota_expr.as_ref(),
            )
        })
        .transpose()?
        .flatten();

    let mut discovery = HashMap::new();
    for (object, declared) in &typed.discovery {
        let path = format!("discovery.{object}");
        // A discovery request (or its enrichment's): the method it names, and where its
        // answer's records are (its own `records`, else the method's).
        let request = |path: &str, request: &str, records: Option<&String>| {
            let method = methods.get(request).ok_or_else(|| {
                compiler.error(
                    &format!("{path}.request"),
                    format!("`{request}` names no `resource.method` in `resources`"),
                )
            })?;
            let records = match records {
                Some(source) => Some(compiler.expr(&format!("{path}.records"), source)?),
                None => method.records.clone(),
            };
            Ok::<_, LoadError>((method, records))
        };
        let (method, records) = request(&path, &declared.request, declared.records.as_ref())?;
        let enrich = match &declared.enrich {
            None => None,
            Some(enrich) => {
                let path = format!("{path}.enrich");
                let (method, records) = request(&path, &enrich.request, enrich.records.as_ref())?;
                Some(CompiledEnrichment {
                    method: Arc::clone(method),
                    uses: enrich.request.clone(),
                    records,
                    key: compiler.expr(&format!("{path}.key"), &enrich.key)?,
                    field_mapping: compiler
                        .expr(&format!("{path}.field_mapping"), &enrich.field_mapping)?,
                })
            }
        };
        discovery.insert(
            object.clone(),
            CompiledDiscovery {
                method: Arc::clone(method),
                uses: declared.request.clone(),
                records,
                field_mapping: compiler
                    .expr(&format!("{path}.field_mapping"), &declared.field_mapping)?,
                ttl_secs: declared.ttl_secs,
                enrich,
            },
        );
    }

    let mut unified = HashMap::new();
    for (object, ops) in &typed.unified {
        let path = format!("unified.{object}");
        let Some((category, name)) = object.split_once('.') else {
            return Err(compiler.error(
                &path,
                "unified objects are named `<category>.<object>`, as `unified_model::UnifiedObject` lists them",
            ));
        };
        if !typed.meta.categories.iter().any(|c| c == category) {
            return Err(compiler.error(
                &path,
                format!("category `{category}` is not in `meta.categories`"),
            ));
        }
        let Some(unified_object) = unified_model::UnifiedObject::parse(category, name) else {
            let known: Vec<&str> = unified_model::UnifiedObject::of_category(category)
                .map(unified_model::UnifiedObject::slug)
                .collect();
            return Err(compiler.error(
                &path,
                format!(
                    "`{name}` is not a unified object of `{category}` (known: {})",
                    known.join(", ")
                ),
            ));
        };
        for (op_name, write) in [("create", &ops.create), ("update", &ops.update)] {
            if let Some(write) = write {
                check_write_fields(
                    &compiler,
                    &format!("{path}.{op_name}"),
                    unified_object,
                    write,
                    op_name == "create",
                )?;
            }
        }
        let mut compiled = HashMap::new();
        if let Some(list) = &ops.list {
            let filter_patterns = list_filter_patterns(&compiler, &format!("{path}.list"), list)?;
            compiled.insert(
                crate::Operation::List,
                CompiledOperation {
                    routes: compiler.routes(
                        &format!("{path}.list.routes"),
                        &list.routes,
                        &methods,
                    )?,
                    record_mapping: Some(compiler.record_mapping(
                        &format!("{path}.list"),
                        &list.record_mapping,
                        list.record_mapping_merge.as_deref(),
                    )?),
                    returns: crate::file::WriteReturns::Record,
                    id_expr: None,
                    walk: list.walk,
                    bulk: list
                        .bulk
                        .as_ref()
                        .map(|bulk| compiler.bulk(&format!("{path}.list.bulk"), bulk, &methods))
                        .transpose()?,
                    patterns: filter_patterns,
                    type_ids: Vec::new(),
                },
            );
        }
        for (op_name, routes) in [
            ("get", ops.get.as_ref().map(|op| &op.routes)),
            ("create", ops.create.as_ref().map(|op| &op.routes)),
            ("update", ops.update.as_ref().map(|op| &op.routes)),
            ("delete", ops.delete.as_ref().map(|op| &op.routes)),
        ] {
            if let Some(idx) = routes
                .into_iter()
                .flatten()
                .position(|route| route.record_filter.is_some())
            {
                return Err(compiler.error(
                    &format!("{path}.{op_name}.routes[{idx}].record_filter"),
                    "`record_filter` is for list routes only",
                ));
            }
            if op_name != "get"
                && let Some(idx) = routes
                    .into_iter()
                    .flatten()
                    .position(|route| !route.enrich.is_empty())
            {
                return Err(compiler.error(
                    &format!("{path}.{op_name}.routes[{idx}].enrich"),
                    "`enrich` is for list and get routes only",
                ));
            }
            if op_name != "get"
                && let Some(idx) = routes
                    .into_iter()
                    .flatten()
                    .position(|route| route.chunk.is_some())
            {
                return Err(compiler.error(
                    &format!("{path}.{op_name}.routes[{idx}].chunk"),
                    "`chunk` is for list and get routes only",
                ));
            }
        }
        if let Some(get) = &ops.get {
            compiled.insert(
                crate::Operation::Get,
                CompiledOperation {
                    routes: compiler.routes(
                        &format!("{path}.get.routes"),
                        &get.routes,
                        &methods,
                    )?,
                    record_mapping: Some(compiler.record_mapping(
                        &format!("{path}.get"),
                        &get.record_mapping,
                        get.record_mapping_merge.as_deref(),
                    )?),
                    returns: crate::file::WriteReturns::Record,
                    id_expr: None,
                    walk: crate::file::RouteWalk::First,
                    bulk: None,
                    patterns: Vec::new(),
                    type_ids: Vec::new(),
                },
            );
        }
        for (operation, declared, op_name) in [
            (crate::Operation::Create, &ops.create, "create"),
            (crate::Operation::Update, &ops.update, "update"),
        ] {
            if let Some(write) = declared {
                if ops.get.is_none() {
                    return Err(compiler.error(
                        &format!("{path}.{op_name}"),
                        "writes need a `get` operation to map the written record",
                    ));
                }
                compiled.insert(
                    operation,
                    CompiledOperation {
                        routes: compiler.routes(
                            &format!("{path}.{op_name}.routes"),
                            &write.routes,
                            &methods,
                        )?,
                        record_mapping: None,
                        returns: write.returns,
                        id_expr: compiler.opt_expr(
                            &format!("{path}.{op_name}.id_expr"),
                            write.id_expr.as_ref(),
                        )?,
                        walk: crate::file::RouteWalk::First,
                        bulk: None,
                        patterns: write_patterns(write),
                        type_ids: write_type_ids(write),
                    },
                );
            }
        }
        if let Some(delete) = &ops.delete {
            compiled.insert(
                crate::Operation::Delete,
                CompiledOperation {
                    routes: compiler.routes(
                        &format!("{path}.delete.routes"),
                        &delete.routes,
                        &methods,
                    )?,
                    record_mapping: None,
                    returns: crate::file::WriteReturns::Id,
                    id_expr: None,
                    walk: crate::file::RouteWalk::First,
                    bulk: None,
                    patterns: Vec::new(),
                    type_ids: Vec::new(),
                },
            );
        }
        unified.insert(object.clone(), compiled);
        if let Some(listing) = compile_deletes(&compiler, &path, ops, &methods, &typed.errors)? {
            let mut deletes = HashMap::new();
            deletes.insert(crate::Operation::List, listing);
            unified.insert(crate::deletes_listing(object), deletes);
        }
    }

    let webhooks = typed
        .webhooks
        .as_ref()
        .map(|declared| {
            crate::webhook::CompiledWebhooks::compile(declared)
                .map_err(|(path, message)| compiler.error(&path, message))
        })
        .transpose()?;

    Ok(Connector {
        inner: Arc::new(ConnectorInner {
            source: file.to_owned(),
            text: None,
            layers: Vec::new(),
            file: typed,
            base_url,
            headers,
            allowed_hosts,
            auth,
            methods,
            today: compiler.expr("(today)", "$substring($now(), 0, 10)")?,
            detect_when,
            message_expr,
            vendor_code_expr,
            field_expr,
            error_rules,
            daily_quota,
            discovery,
            unified,
            webhooks,
        }),
    })
}

/// The deletion listing of an object's `deletes` (feed or archived), compiled as a list whose
/// record mapping gives `{"id": <id_expr>}`; `None` for an id diff or no `deletes`.
fn compile_deletes(
    compiler: &Compiler<'_>,
    path: &str,
    ops: &crate::file::UnifiedObject,
    methods: &HashMap<String, Arc<CompiledMethod>>,
    errors: &crate::file::Errors,
) -> Result<Option<CompiledOperation>, LoadError> {
    let path = format!("{path}.deletes");
    if ops.deletes.is_some() && ops.list.is_none() {
        return Err(compiler.error(&path, "deletes are found by syncs, which need a `list`"));
    }
    let (routes, id_expr, walk) = match &ops.deletes {
        None | Some(crate::file::Deletes::IdDiff) => return Ok(None),
        Some(crate::file::Deletes::Feed {
            routes,
            id_expr,
            walk,
            reach_secs,
            out_of_reach_rule,
        }) => {
            if *reach_secs == 0 {
                return Err(compiler.error(&format!("{path}.reach_secs"), "must be positive"));
            }
            if let Some(rule) = out_of_reach_rule
                && !errors.rules.iter().any(|declared| &declared.id == rule)
            {
                return Err(compiler.error(
                    &format!("{path}.out_of_reach_rule"),
                    format!("`{rule}` names no rule in `errors.rules`"),
                ));
            }
            (routes, id_expr, walk)
        }
        Some(crate::file::Deletes::Archived {
            routes,
            id_expr,
            walk,
        }) => (routes, id_expr, walk),
    };
    compiler.expr(&format!("{path}.id_expr"), id_expr)?;
    Ok(Some(CompiledOperation {
        routes: compiler.routes(&format!("{path}.routes"), routes, methods)?,
        record_mapping: Some(compiler.expr(
            &format!("{path}.id_expr"),
            &format!("{{\"id\": ({id_expr})}}"),
        )?),
        returns: crate::file::WriteReturns::Record,
        id_expr: None,
        walk: *walk,
        bulk: None,
        patterns: Vec::new(),
        type_ids: Vec::new(),
    }))
}

fn regex_is_invalid(pattern: &str) -> bool {
    regex::Regex::new(pattern).is_err()
}

/// Fields of a write body that follow their own rules and are never listed in `fields`.
const FREE_WRITE_FIELDS: &[&str] = &["custom_fields", "remote_data"];

/// Checks a write operation's `fields` and `required`: each names a field of the object's
/// write schema (other than `custom_fields` and `remote_data`), once; required fields are
/// carried fields, and only creates require.
fn check_write_fields(
    compiler: &Compiler<'_>,
    path: &str,
    object: unified_model::UnifiedObject,
    write: &crate::file::WriteOperation,
    creating: bool,
) -> Result<(), LoadError> {
    let schema = object.write_schema();
    let known: Vec<&str> = schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|properties| {
            properties
                .keys()
                .map(String::as_str)
                .filter(|name| !FREE_WRITE_FIELDS.contains(name))
                .collect()
        })
        .unwrap_or_default();
    let check = |list: &[String], part: &str| -> Result<(), LoadError> {
        for (idx, name) in list.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                return Err(compiler.error(
                    &format!("{path}.{part}[{idx}]"),
                    format!(
                        "`{name}` is not a writable field of `{}` (known: {})",
                        object.key(),
                        known.join(", ")
                    ),
                ));
            }
            if list[..idx].contains(name) {
                return Err(compiler.error(
                    &format!("{path}.{part}[{idx}]"),
                    format!("`{name}` is listed twice"),
                ));
            }
        }
        Ok(())
    };
    if let Some(fields) = &write.fields {
        check(fields, "fields")?;
    }
    check(&write.required, "required")?;
    if !creating && !write.required.is_empty() {
        return Err(compiler.error(&format!("{path}.required"), "only creates require fields"));
    }
    if let Some(fields) = &write.fields
        && let Some((idx, name)) = write
            .required
            .iter()
            .enumerate()
            .find(|(_, name)| !fields.contains(name))
    {
        return Err(compiler.error(
            &format!("{path}.required[{idx}]"),
            format!("`{name}` is required but not in `fields`"),
        ));
    }
    let carried = |name: &str| {
        write
            .fields
            .as_ref()
            .is_none_or(|fields| fields.iter().any(|each| each == name))
    };
    if !creating && !write.required_any.is_empty() {
        return Err(compiler.error(
            &format!("{path}.required_any"),
            "only creates require fields",
        ));
    }
    for (group_idx, group) in write.required_any.iter().enumerate() {
        let group_path = format!("required_any[{group_idx}]");
        if group.is_empty() {
            return Err(compiler.error(
                &format!("{path}.{group_path}"),
                "a group names at least one field",
            ));
        }
        check(group, &group_path)?;
        if let Some((idx, name)) = group.iter().enumerate().find(|(_, name)| !carried(name)) {
            return Err(compiler.error(
                &format!("{path}.{group_path}[{idx}]"),
                format!("`{name}` is required but not in `fields`"),
            ));
        }
    }
    let named = |part: &str, name: &str| -> Result<(), LoadError> {
        if !known.contains(&name) {
            return Err(compiler.error(
                &format!("{path}.{part}.{name}"),
                format!(
                    "`{name}` is not a writable field of `{}` (known: {})",
                    object.key(),
                    known.join(", ")
                ),
            ));
        }
        if !carried(name) {
            return Err(compiler.error(
                &format!("{path}.{part}.{name}"),
                format!("`{name}` is not in `fields`"),
            ));
        }
        Ok(())
    };
    // A field of an object field is named by its path (`amount.currency`): the object field is
    // carried, and the path names a property of the write schema. The property's schema, for
    // the kinds that depend on it.
    let field_at = |part: &str, name: &str| -> Result<serde_json::Value, LoadError> {
        let head = name.split_once('.').map_or(name, |(head, _)| head);
        named(part, head)?;
        unified_model::property_at_mut(&mut schema.clone(), name)
            .map(|property| property.clone())
            .ok_or_else(|| {
                compiler.error(
                    &format!("{path}.{part}.{name}"),
                    format!("`{name}` is not a field of `{}`'s write body", object.key()),
                )
            })
    };
    for (name, values) in &write.values {
        field_at("values", name)?;
        match values {
            crate::file::WriteValues::Listed(values) if values.is_empty() => {
                return Err(
                    compiler.error(&format!("{path}.values.{name}"), "lists at least one value")
                );
            }
            crate::file::WriteValues::Discovered(discovered)
                if discovered.options_of.trim().is_empty() =>
            {
                return Err(compiler.error(
                    &format!("{path}.values.{name}.options_of"),
                    "names the vendor key of a discovered field",
                ));
            }
            crate::file::WriteValues::Discovered(discovered)
                if discovered
                    .option
                    .as_deref()
                    .is_some_and(|key| key.trim().is_empty()) =>
            {
                return Err(compiler.error(
                    &format!("{path}.values.{name}.option"),
                    "names the key of each option holding the value",
                ));
            }
            _ => {}
        }
    }
    for (name, range) in &write.ranges {
        let property = field_at("ranges", name)?;
        let bounds_cross =
            matches!((range.minimum, range.maximum), (Some(low), Some(high)) if low > high);
        let step_not_positive = range.multiple_of.is_some_and(|step| step <= 0.0);
        if (range.minimum.is_none() && range.maximum.is_none() && range.multiple_of.is_none())
            || bounds_cross
            || step_not_positive
        {
            return Err(compiler.error(
                &format!("{path}.ranges.{name}"),
                "gives `minimum`, `maximum`, `multiple_of` or several, the minimum not above the maximum and the step above zero",
            ));
        }
        // A decimal text (money) is bounded in the document by a pattern, which states
        // integer bounds around zero.
        let text = match property.get("type") {
            Some(serde_json::Value::String(kind)) => kind == "string",
            Some(serde_json::Value::Array(kinds)) => kinds.iter().any(|kind| kind == "string"),
            _ => false,
        };
        if text && range.multiple_of.is_some() {
            return Err(compiler.error(
                &format!("{path}.ranges.{name}.multiple_of"),
                "is for number fields: a decimal text's document states no step",
            ));
        }
        let bound = |value: Option<f64>| value.map(|value| value.to_string());
        if text
            && unified_model::decimal_range_pattern(
                bound(range.minimum).as_deref(),
                bound(range.maximum).as_deref(),
            )
            .is_none()
        {
            return Err(compiler.error(
                &format!("{path}.ranges.{name}"),
                "bounds a decimal text: its bounds are integers, the minimum at most 0 and the maximum at least 0",
            ));
        }
    }
    for (name, most) in &write.max_items {
        let property = field_at("max_items", name)?;
        let list = match property.get("type") {
            Some(serde_json::Value::String(kind)) => kind == "array",
            Some(serde_json::Value::Array(kinds)) => kinds.iter().any(|kind| kind == "array"),
            _ => false,
        };
        if !list || *most == 0 {
            return Err(compiler.error(
                &format!("{path}.max_items.{name}"),
                "bounds a list field, with at least one item (a field the vendor cannot hold is left out of `fields`)",
            ));
        }
    }
    for (name, most) in &write.max_length {
        // A text field, or a list of texts (each item), or a text field of an object field.
        let property = field_at("max_length", name)?;
        let takes = |schema: &serde_json::Value, kind: &str| match schema.get("type") {
            Some(serde_json::Value::String(each)) => each == kind,
            Some(serde_json::Value::Array(kinds)) => kinds.iter().any(|each| each == kind),
            _ => false,
        };
        let text = takes(&property, "string")
            || property
                .get("items")
                .is_some_and(|items| takes(items, "string"));
        if !text || *most == 0 {
            return Err(compiler.error(
                &format!("{path}.max_length.{name}"),
                "bounds a text field (or each text of a list field), with at least one character",
            ));
        }
    }
    for (group_idx, group) in write.ordered.iter().enumerate() {
        let group_path = format!("ordered[{group_idx}]");
        if group.len() < 2 {
            return Err(compiler.error(
                &format!("{path}.{group_path}"),
                "a group names at least two fields, earliest first",
            ));
        }
        check(group, &group_path)?;
        for (idx, name) in group.iter().enumerate() {
            let property = field_at(&group_path, name)?;
            if property.get("format").and_then(serde_json::Value::as_str) != Some("date-time") {
                return Err(compiler.error(
                    &format!("{path}.{group_path}[{idx}]"),
                    format!("`{name}` is not a date-time field"),
                ));
            }
        }
    }
    for (name, others) in &write.requires {
        named("requires", name)?;
        let part = format!("requires.{name}");
        check(others, &part)?;
        if others.is_empty() || others.contains(name) {
            return Err(compiler.error(&format!("{path}.{part}"), "names at least one other field"));
        }
        for other in others {
            named(&part, other)?;
        }
    }
    for (name, span) in &write.spans {
        for (part, each) in [("spans", name), ("spans.from", &span.from)] {
            let property = field_at(part, each)?;
            if property.get("format").and_then(serde_json::Value::as_str) != Some("date-time") {
                return Err(compiler.error(
                    &format!("{path}.spans.{name}"),
                    format!("`{each}` is not a date-time field"),
                ));
            }
        }
        if span.from == *name {
            return Err(compiler.error(&format!("{path}.spans.{name}.from"), "names another field"));
        }
    }
    for (name, step) in &write.step_seconds {
        let property = field_at("step_seconds", name)?;
        if property.get("format").and_then(serde_json::Value::as_str) != Some("date-time") {
            return Err(compiler.error(
                &format!("{path}.step_seconds.{name}"),
                format!("`{name}` is not a date-time field"),
            ));
        }
        if *step == 0 {
            return Err(compiler.error(
                &format!("{path}.step_seconds.{name}"),
                "is a step of at least one second",
            ));
        }
    }
    for (name, kind) in &write.one_per {
        let property = field_at("one_per", name)?;
        let list = match property.get("type") {
            Some(serde_json::Value::String(each)) => each == "array",
            Some(serde_json::Value::Array(kinds)) => kinds.iter().any(|each| each == "array"),
            _ => false,
        };
        let item = unified_model::property_at_mut(&mut schema.clone(), &format!("{name}.{kind}"))
            .is_some();
        if !list || !item {
            return Err(compiler.error(
                &format!("{path}.one_per.{name}"),
                "names a list field and the field of its items that gives their kind",
            ));
        }
    }
    check(&write.not_clearable, "not_clearable")?;
    if creating && !write.not_clearable.is_empty() {
        return Err(compiler.error(
            &format!("{path}.not_clearable"),
            "only updates clear fields (a create leaves out what it does not set)",
        ));
    }
    if let Some((idx, name)) = write
        .not_clearable
        .iter()
        .enumerate()
        .find(|(_, name)| !carried(name))
    {
        return Err(compiler.error(
            &format!("{path}.not_clearable[{idx}]"),
            format!("`{name}` is not in `fields`"),
        ));
    }
    for (group_idx, group) in write.exclusive.iter().enumerate() {
        let group_path = format!("exclusive[{group_idx}]");
        if group.len() < 2 {
            return Err(compiler.error(
                &format!("{path}.{group_path}"),
                "a group names at least two fields",
            ));
        }
        check(group, &group_path)?;
        if let Some((idx, name)) = group.iter().enumerate().find(|(_, name)| !carried(name)) {
            return Err(compiler.error(
                &format!("{path}.{group_path}[{idx}]"),
                format!("`{name}` is not in `fields`"),
            ));
        }
        if let Some(name) = group.iter().find(|name| {
            write.exclusive[..group_idx]
                .iter()
                .any(|earlier| earlier.contains(name))
        }) {
            return Err(compiler.error(
                &format!("{path}.{group_path}"),
                format!("`{name}` is in an earlier group too"),
            ));
        }
    }
    for (name, pattern) in &write.patterns {
        // Likewise a text field of an object field, or of each item of a list field
        // (`email_addresses.email_address`).
        field_at("patterns", name)?;
        if let Err(error) = regex::Regex::new(pattern) {
            return Err(compiler.error(
                &format!("{path}.patterns.{name}"),
                format!("invalid regular expression: {error}"),
            ));
        }
    }
    if let Some(types) = &write.types {
        named("types.field", &types.field)?;
        if creating && !types.ids.is_empty() {
            return Err(compiler.error(
                &format!("{path}.types.ids"),
                "only updates tell the record's type by its id (a create's body names it)",
            ));
        }
        for (kind, pattern) in &types.ids {
            if let Err(error) = regex::Regex::new(pattern) {
                return Err(compiler.error(
                    &format!("{path}.types.ids.{kind}"),
                    format!("invalid regular expression: {error}"),
                ));
            }
        }
        if types.only.is_empty() {
            return Err(compiler.error(
                &format!("{path}.types.only"),
                "names at least one field held by some types only",
            ));
        }
        for (name, held) in &types.only {
            named("types.only", name)?;
            if held.is_empty() || *name == types.field {
                return Err(compiler.error(
                    &format!("{path}.types.only.{name}"),
                    "names the types holding another field than the type's (at least one)",
                ));
            }
        }
        for (kind, fields) in &types.requires {
            for (name, others) in fields {
                let part = format!("types.requires.{kind}");
                named(&part, name)?;
                if others.is_empty() || others.contains(name) {
                    return Err(compiler.error(
                        &format!("{path}.{part}.{name}"),
                        "names at least one other field",
                    ));
                }
                for other in others {
                    named(&format!("{part}.{name}"), other)?;
                }
            }
        }
    }
    Ok(())
}

/// A write's `types.ids`, compiled (checked by [`check_write_fields`]).
fn write_type_ids(write: &crate::file::WriteOperation) -> Vec<(String, regex::Regex)> {
    write
        .types
        .iter()
        .flat_map(|types| types.ids.iter())
        .filter_map(|(kind, pattern)| Some((kind.clone(), regex::Regex::new(pattern).ok()?)))
        .collect()
}

/// A list's filters' `item_pattern`s, compiled: only `string_list` filters take one.
fn list_filter_patterns(
    compiler: &Compiler<'_>,
    path: &str,
    list: &crate::file::ListOperation,
) -> Result<Vec<(String, regex::Regex)>, LoadError> {
    let mut patterns = Vec::new();
    for (name, filter) in &list.filters {
        let Some(pattern) = &filter.item_pattern else {
            continue;
        };
        let at = format!("{path}.filters.{name}.item_pattern");
        if filter.kind != crate::file::FilterKind::StringList {
            return Err(compiler.error(&at, "is for `string_list` filters only"));
        }
        let compiled = regex::Regex::new(pattern)
            .map_err(|error| compiler.error(&at, format!("invalid regular expression: {error}")))?;
        patterns.push((name.clone(), compiled));
    }
    Ok(patterns)
}

/// A write's `patterns`, compiled (checked by [`check_write_fields`]).
fn write_patterns(write: &crate::file::WriteOperation) -> Vec<(String, regex::Regex)> {
    write
        .patterns
        .iter()
        .filter_map(|(name, pattern)| Some((name.clone(), regex::Regex::new(pattern).ok()?)))
        .collect()
}
